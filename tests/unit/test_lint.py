"""`kubedag lint`: as kubectl reads the YAML, against the CRD schema and the engine's rules,
every problem of a file at once, each with its path."""

from pathlib import Path

from kubedag.lint import Finding, Severity, lint_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

HEADER = "apiVersion: kubedag.io/v1alpha1\nkind: Workflow\nmetadata: {name: w}\n"


def errors(text: str) -> list[str]:
    return [f"{f.path}: {f.message}" for f in lint_text(text) if f.severity is Severity.ERROR]


def of(text: str, severity: Severity) -> list[Finding]:
    return [finding for finding in lint_text(text) if finding.severity is severity]


def test_every_example_passes_lint_without_warnings() -> None:
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert paths
    for path in paths:
        findings = [f for f in lint_text(path.read_text()) if f.severity is not Severity.NOTE]
        assert findings == [], path


def test_an_output_named_n_is_refused_and_the_warning_says_why() -> None:
    text = HEADER + "spec:\n  tasks:\n  - {name: a, image: x, outputs: [{name: n}]}\n"
    findings = [f for f in lint_text(text) if f.severity is not Severity.NOTE]
    assert [(f.severity, f.path) for f in findings] == [
        (Severity.WARNING, "spec.tasks[0].outputs[0].name"),
        (Severity.ERROR, "spec.tasks[0].outputs[0].name"),
    ]
    assert "n is read as the boolean false" in findings[0].message
    assert findings[1].message == "must be of type string, not boolean"


def test_a_quoted_n_is_a_valid_output_name() -> None:
    text = HEADER + "spec:\n  tasks:\n  - {name: a, image: x, outputs: [{name: 'n'}]}\n"
    assert [f for f in lint_text(text) if f.severity is not Severity.NOTE] == []


def test_an_item_key_n_is_stored_as_false_with_a_warning() -> None:
    text = HEADER + (
        "spec:\n  tasks:\n  - name: a\n    image: x\n"
        "    withItems: [{n: 1}]\n    command: [echo, '{{item.n}}']\n"
    )
    [warning] = of(text, Severity.WARNING)
    assert warning.path == "spec.tasks[0].withItems[0].false"
    assert 'the key n is stored as "false"' in warning.message


def test_a_boolean_word_in_a_boolean_field_is_not_warned_about() -> None:
    text = HEADER + "spec:\n  suspend: yes\n  tasks: [{name: a, image: x}]\n"
    assert of(text, Severity.WARNING) == [] and errors(text) == []


def test_an_unknown_field_is_refused_with_its_path() -> None:
    text = HEADER + ("spec:\n  tasks:\n  - name: a\n    image: x\n    hostNetwork: true\n")
    assert errors(text) == ["spec.tasks[0].hostNetwork: unknown field"]


def test_a_field_of_a_free_form_object_is_not_unknown() -> None:
    text = HEADER + (
        "spec:\n  tasks:\n  - name: a\n    image: x\n"
        "    env: [{name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n"
    )
    assert errors(text) == []


def test_wrong_types_and_limits_are_refused() -> None:
    text = HEADER + (
        "spec:\n  parallelism: '3'\n  shutdown: Later\n  tasks:\n"
        "  - name: Load_Orders\n    image: x\n    retryStrategy: {limit: 101}\n"
        "    resources: {requests: {cpu: 0.5}}\n"
    )
    assert errors(text) == [
        "spec.parallelism: must be of type integer, not string",
        'spec.shutdown: Unsupported value "Later": must be one of "Stop", "Terminate"',
        'spec.tasks[0].name: Invalid value: "Load_Orders": must match '
        "'^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        "spec.tasks[0].resources.requests.cpu: must be an integer or a string, not number",
        "spec.tasks[0].retryStrategy.limit: Invalid value: 101: must be less than or equal to 100",
    ]


def test_every_problem_of_a_file_is_reported_in_one_run() -> None:
    text = (
        HEADER
        + "spec:\n  tasks:\n"
        + "  - {name: a, image: x, dependsOn: [missing], hostNetwork: true}\n"
        + "  - {name: b, image: x, parallelism: 0}\n"
        + "---\n"
        + HEADER.replace("name: w", "name: v")
        + "spec:\n  tasks: [{name: c, image: x, hostPID: true}]\n"
    )
    findings = [(f.document, f.path) for f in lint_text(text) if f.severity is Severity.ERROR]
    # The unknown fields come from the schema, the unknown task names from the engine's
    # rules, which still run although the schema found problems.
    assert ("Workflow w", "spec.tasks[0].hostNetwork") in findings
    assert ("Workflow w", "spec.tasks[0].dependsOn[0]") in findings
    assert ("Workflow w", "spec.tasks[1].parallelism") in findings
    assert ("Workflow v", "spec.tasks[0].hostPID") in findings


def test_duplicate_task_names_are_refused_by_the_schema() -> None:
    text = HEADER + "spec:\n  tasks: [{name: a, image: x}, {name: a, image: y}]\n"
    assert 'spec.tasks[1]: Duplicate value: {"name":"a"}' in errors(text)


def test_a_rule_both_the_api_server_and_the_engine_check_is_reported_once() -> None:
    text = HEADER + "spec:\n  tasks: [{name: a, image: x, templateRef: {name: t}}]\n"
    assert errors(text) == ["spec.tasks[0]: a task needs exactly one of image and templateRef"]


def test_the_engine_checks_a_spec_without_the_fields_the_schema_refused() -> None:
    text = HEADER + "spec:\n  tasks: [{name: a, image: y, dependsOn: [missing]}]\n"
    assert errors(text) == [
        "spec.tasks[0].dependsOn[0]: task 'a' depends on unknown task 'missing'",
        "spec.tasks[0].image: must be of type string, not boolean",
    ]


def test_a_null_field_is_dropped_as_the_api_server_does() -> None:
    text = HEADER + "spec:\n  parallelism: null\n  tasks: [{name: a, image: x, args: ~}]\n"
    assert errors(text) == []


def test_a_task_template_is_checked_and_used_by_the_workflows_of_the_file() -> None:
    template = (
        "apiVersion: kubedag.io/v1alpha1\nkind: TaskTemplate\nmetadata: {name: loader}\n"
        "spec:\n  image: x\n  params: [{name: table}]\n"
    )
    uses = HEADER + "spec:\n  tasks: [{name: a, templateRef: {name: loader}}]\n"
    assert errors(template + "---\n" + uses) == [
        "spec.tasks[0].params: parameter 'table' of the template needs a value"
    ]
    broken = template.replace("image: x", "hostNetwork: true")
    assert errors(broken) == [
        "spec: a TaskTemplate needs an image",
        "spec.hostNetwork: unknown field",
    ]


def test_a_template_not_in_the_file_is_noted() -> None:
    text = HEADER + "spec:\n  tasks: [{name: a, templateRef: {name: elsewhere}}]\n"
    assert [f.message for f in of(text, Severity.NOTE)] == [
        "TaskTemplate 'elsewhere' is not in these files; not checked"
    ]
    assert errors(text) == []


def test_a_document_of_another_kind_is_skipped_with_a_note() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n"
    assert [str(f) for f in lint_text(text)] == ["ConfigMap c: not a kubedag document; skipped"]


def test_a_workflow_needs_the_api_version_and_a_valid_name() -> None:
    text = "kind: Workflow\nmetadata: {name: Not_Valid}\nspec:\n  tasks: [{name: a, image: x}]\n"
    assert [e.split(":")[0] for e in errors(text)] == ["apiVersion", "metadata.name"]


def test_a_document_that_cannot_become_json_is_an_error() -> None:
    text = HEADER + "spec:\n  tasks: [{name: a, image: x}]\n  parallelism: .inf\n"
    assert [f.message for f in of(text, Severity.ERROR)] == [
        "cannot read: inf cannot be sent as JSON (json: unsupported value)"
    ]


def test_each_item_of_a_list_is_checked_as_kubectl_applies_it() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: kubedag.io/v1alpha1\n  kind: Workflow\n  metadata: {name: listed}\n"
        "  spec: {tasks: [{name: a, image: x, outputs: [{name: no}]}]}\n"
    )
    assert [(f.severity, f.document, f.path) for f in lint_text(text)][:2] == [
        (Severity.WARNING, "Workflow listed", "spec.tasks[0].outputs[0].name"),
        (Severity.ERROR, "Workflow listed", "spec.tasks[0].outputs[0].name"),
    ]


def test_quoted_braces_pass_and_bare_jinja_is_refused_by_the_engine() -> None:
    def document(argument: str) -> str:
        return HEADER + f"spec:\n  tasks: [{{name: dbt, image: x, args: [{argument!r}]}}]\n"

    assert errors(document("{{ '{{' }} ref('orders') }}")) == []
    [problem] = errors(document("{{ ref('orders') }}"))
    assert "unknown reference {{ref('orders')}} (for literal braces write {{ '{{' }})" in problem


def test_the_pod_fields_are_checked_against_kubernetes_own_schemas() -> None:
    text = HEADER + (
        "spec:\n"
        "  taskDefaults: {nodeSelector: {pool: 1}}\n"
        "  tasks:\n"
        "  - name: a\n"
        "    image: x\n"
        "    volumes: [{name: d, secret: my-secret}]\n"
        "    podSecurityContext: {runAsNonRot: true}\n"
        "    tolerations: [{key: k, tolerationSeconds: soon}]\n"
        "    initContainers: [{image: busybox}]\n"
        "    imagePullPolicy: Sometimes\n"
    )
    assert sorted(path for path in (e.split(": ")[0] for e in errors(text))) == [
        "spec.taskDefaults.nodeSelector.pool",
        "spec.tasks[0].imagePullPolicy",
        "spec.tasks[0].initContainers[0].name",
        "spec.tasks[0].podSecurityContext.runAsNonRot",
        "spec.tasks[0].tolerations[0].tolerationSeconds",
        "spec.tasks[0].volumes[0].secret",
    ]


def test_an_item_lacking_a_key_the_task_uses_is_an_error_before_the_run() -> None:
    text = HEADER + (
        "spec:\n  tasks:\n  - name: per-table\n    image: busybox:1.36\n"
        "    withItems: [{table: orders, mode: append}, {table: customers}]\n"
        "    command: [sh, -c, 'echo load $0 $1']\n"
        "    args: ['{{item.table}}', '{{item.mode}}']\n"
    )
    assert errors(text) == ["spec.tasks[0].args[1]: item 1 of 'per-table' has no key 'mode'"]


WORKFLOW_TEMPLATE = (
    "apiVersion: kubedag.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: nightly}\n"
    "spec:\n  params: [{name: date}, {name: source, default: orders}]\n"
    "  tasks: [{name: a, image: x, args: ['{{params.date}}', '{{params.source}}']}]\n"
)


def run_of_nightly(params: str) -> str:
    return HEADER + f"spec:\n  workflowTemplateRef: {{name: nightly}}\n  params: {params}\n"


def test_a_workflow_template_is_checked_like_a_workflow_whose_runs_give_its_params() -> None:
    assert errors(WORKFLOW_TEMPLATE) == []
    unknown = WORKFLOW_TEMPLATE.replace("{{params.source}}", "{{params.sourse}}")
    assert len(errors(unknown)) == 1
    assert "sourse" in errors(unknown)[0]
    assert errors(WORKFLOW_TEMPLATE.replace("  tasks: [", "  notTasks: [")) == [
        "spec: a WorkflowTemplate needs tasks",
        "spec.notTasks: unknown field",
    ]


def test_a_run_of_a_workflow_template_in_the_files_is_checked_against_it() -> None:
    assert errors(WORKFLOW_TEMPLATE + "---\n" + run_of_nightly("[{name: date, value: '1'}]")) == []
    assert errors(WORKFLOW_TEMPLATE + "---\n" + run_of_nightly("[{name: day, value: '1'}]")) == [
        "spec.params[0]: WorkflowTemplate 'nightly' has no parameter 'day' "
        "(it declares: 'date', 'source')"
    ]


def test_a_run_of_a_workflow_template_not_in_the_files_is_accepted_with_a_note() -> None:
    text = run_of_nightly("[{name: date, value: '1'}]")
    assert errors(text) == []
    assert [f.message for f in of(text, Severity.NOTE)] == [
        "WorkflowTemplate 'nightly' is not in these files; the run's params and tasks are not "
        "checked"
    ]


def test_a_workflow_with_both_tasks_and_a_template_ref_is_refused() -> None:
    text = run_of_nightly("[]") + "  tasks: [{name: a, image: x}]\n"
    assert "spec: a Workflow needs exactly one of tasks and workflowTemplateRef" in errors(text)


def schedule_document(kind: str, name: str, spec: str) -> str:
    return (
        f"apiVersion: kubedag.io/v1alpha1\nkind: {kind}\nmetadata: {{name: {name}}}\nspec: {spec}\n"
    )


def test_a_cron_workflow_is_checked_for_its_name_length_schedules_and_zone() -> None:
    """The API server refuses a 53-character CronWorkflow name (a CEL rule on metadata);
    the operator refuses what cronsim cannot read and a zone that is not an IANA name."""
    good = (
        "{schedules: ['0 * * * *', '@daily'], timeZone: Etc/GMT+5, workflowTemplateRef: {name: t}}"
    )
    assert errors(schedule_document("CronWorkflow", "a" * 52, good)) == []
    assert errors(schedule_document("CronWorkflow", "a" * 53, good)) == [
        ": a CronWorkflow's name has at most 52 characters (its runs add -YYYYMMDD-HHMMSS)"
    ]
    bad = "{schedules: ['0 * * * *', '*/0 * * * *'], timeZone: utc, workflowTemplateRef: {name: t}}"
    assert errors(schedule_document("CronWorkflow", "nightly", bad)) == [
        "spec.schedules[1]: cron expression '*/0 * * * *': Bad minute",
        "spec.timeZone: unknown time zone 'utc' (an IANA name, e.g. Europe/Berlin)",
    ]


def test_a_backfill_is_checked_for_its_range_and_cadence() -> None:
    rest = "workflowTemplateRef: {name: t}, timeZone: Local"
    text = schedule_document(
        "Backfill",
        "redo",
        "{schedules: ['5-1 * * * *'], start: '2026-11-01T00:00:00', end: '2026-11-02T00:00:00Z', "
        + rest
        + "}",
    )
    assert errors(text) == [
        "spec.schedules[0]: cron expression '5-1 * * * *': Bad minute",
        "spec.start: must be of type date-time (RFC 3339 with a zone offset, e.g. "
        "2026-11-01T00:00:00+01:00): '2026-11-01T00:00:00'",
        "spec.timeZone: unknown time zone 'Local' (an IANA name, e.g. Europe/Berlin)",
    ]
    by_cron = (
        "{cronWorkflowRef: {name: nightly}, "
        "start: '2026-11-01T00:00:00Z', end: '2026-11-02T00:00:00Z'}"
    )
    assert errors(schedule_document("Backfill", "redo", by_cron)) == []
