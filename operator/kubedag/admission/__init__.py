"""The validating admission webhook the operator serves (issue 12): the engine's rules at
`kubectl apply` time, with the words of `kubedag lint` and of the operator's InvalidSpec.

- review.py: the decision for one AdmissionReview (pure);
- certificates.py: the self-signed authority and serving certificate (pure);
- tls.py: keeps the certificate current (Secret, caBundle, or cert-manager's files);
- server.py: the HTTPS endpoint (aiohttp);
- settings.py: what the chart sets in the operator's environment.
"""
