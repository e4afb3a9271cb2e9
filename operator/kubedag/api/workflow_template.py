"""The WorkflowTemplate resource: a whole Workflow spec, kept under a name, that Workflows
run with `spec.workflowTemplateRef` (issue 9; Argo Workflows' WorkflowTemplate)."""

from __future__ import annotations

from kubedag.api.common import ApiModel
from kubedag.api.workflow import WorkflowSpec


class WorkflowTemplateSpec(WorkflowSpec):
    """The spec of a Workflow, with its params' defaults. Editable at any time: the
    immutability rules of a Workflow's spec are left out of its CRD (kubedag.api.crd),
    and a run keeps the version it started with (status.storedWorkflowTemplate)."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": {
            "x-kubernetes-validations": [
                {"rule": "has(self.tasks)", "message": "a WorkflowTemplate needs tasks"},
                {
                    "rule": "!has(self.workflowTemplateRef)",
                    "message": "a WorkflowTemplate cannot run another WorkflowTemplate",
                },
                {
                    "rule": "!has(self.dataInterval)",
                    "message": "a WorkflowTemplate has no data interval: each run gets its own "
                    "(from a CronWorkflow, a Backfill or the run's spec.dataInterval)",
                },
            ]
        }
    }
