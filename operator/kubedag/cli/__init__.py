"""The `kubedag` command (package: app.py declares the verbs; runs.py, schedules.py,
views.py, graph.py do the work). `main(argv) -> int` is the console script's entry point,
for `kubedag` and for the kubectl plugin `kubectl-kubedag`."""

from __future__ import annotations

from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from kubedag.cli.app import main as run

    return run(argv)


def console_main() -> None:
    """The console scripts' entry point: exits with main's code."""
    raise SystemExit(main())
