"""The CronWorkflow CRD (issue 9): the columns `kubectl get cronworkflows` shows, and the
rules the API server checks before the operator sees an object."""

import json
from typing import Any

from kubedag.api.crd import build_crds


def cron_workflow_crd() -> dict[str, Any]:
    return build_crds()["cronworkflows.yaml"]


def test_columns_are_schedule_suspend_active_last_and_next_schedule_and_age() -> None:
    version = cron_workflow_crd()["spec"]["versions"][0]
    columns = [column["name"] for column in version["additionalPrinterColumns"]]
    assert columns == ["Schedule", "Suspend", "Active", "Last Schedule", "Next Schedule", "Age"]
    assert cron_workflow_crd()["spec"]["names"]["shortNames"] == ["kdcron"]


def test_the_name_is_limited_to_52_characters_at_the_root() -> None:
    schema = cron_workflow_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    rules = [rule["rule"] for rule in schema["x-kubernetes-validations"]]
    assert rules == ["self.metadata.name.size() <= 52"]


def test_the_inline_workflow_spec_stays_editable_but_keeps_its_other_rules() -> None:
    spec = cron_workflow_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    text = json.dumps(spec["properties"]["workflowSpec"])
    assert "oldSelf" not in text
    assert "a task cannot depend on itself" in text  # the task rules are still there
    rules = [rule["rule"] for rule in spec["x-kubernetes-validations"]]
    assert "has(self.workflowTemplateRef) != has(self.workflowSpec)" in rules


def test_the_crd_stays_far_below_the_api_servers_request_limit() -> None:
    # etcd refuses requests over 1.5 MiB; a CRD is stored as JSON.
    assert len(json.dumps(cron_workflow_crd())) < 1024 * 1024
