"""OpenLineage for kubedag (issue 10): deterministic run ids (`run_ids`), RunEvents built
from Workflow and Task objects (`events`), their durable delivery through the
openlineage-python client (`delivery`), and the dataset <-> task graph (`graph`)."""
