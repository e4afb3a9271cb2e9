"""`python -m kubedag.cli ...`"""

from kubedag.cli import console_main

console_main()
