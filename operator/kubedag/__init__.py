"""kubedag: Kubernetes-native data orchestration. A Workflow is a DAG of tasks; every task
runs as a Kubernetes Job the moment its dependencies have succeeded."""

__version__ = "0.1.0"
