from kubedag.names import job_labels, job_name, shorten, task_object_name


def test_short_names_are_kept_as_they_are() -> None:
    assert task_object_name("etl", "load") == "etl-load"
    assert job_name("etl", "load", 2) == "etl-load-2"


def test_long_names_fit_a_dns_label_and_stay_distinct() -> None:
    workflow = "a-very-long-workflow-name-that-goes-on-and-on-for-a-while"
    first = job_name(workflow, "extract-orders-from-the-replica", 1)
    second = job_name(workflow, "extract-orders-from-the-replica-2", 1)
    assert len(first) <= 63 and len(second) <= 63
    assert first != second
    assert first == job_name(workflow, "extract-orders-from-the-replica", 1)


def test_shorten_never_ends_with_a_dash_before_the_hash() -> None:
    shortened = shorten("x" * 40 + "-" * 30, 50)
    assert len(shortened) <= 50
    assert "--" not in shortened[-10:]


def test_job_labels_carry_workflow_task_and_attempt() -> None:
    assert job_labels("etl", "load", 3) == {
        "kubedag.io/workflow": "etl",
        "kubedag.io/task": "load",
        "kubedag.io/attempt": "3",
    }
