"""The DAG rules: pure functions with no I/O and no Kubernetes client. Given the same spec
and the same observed state they always give the same answer, so a restarted operator
recomputes and carries on where it stopped."""
