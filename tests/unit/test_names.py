import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.names import job_labels, job_name, node_hash, shorten, task_object_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def test_names_keep_the_readable_join_and_add_a_hash_of_the_pair() -> None:
    assert task_object_name("etl", "load") == f"etl-load-{node_hash('etl', 'load')}"
    assert job_name("etl", "load", 2) == f"{task_object_name('etl', 'load')}-2"


def test_workflow_and_task_names_that_join_the_same_way_get_different_names() -> None:
    # etl + daily-load and etl-daily + load both join to etl-daily-load.
    assert task_object_name("etl", "daily-load") != task_object_name("etl-daily", "load")
    assert job_name("etl", "daily-load", 1) != job_name("etl-daily", "load", 1)
    assert task_object_name("etl", "daily-load").startswith("etl-daily-load-")
    assert task_object_name("etl-daily", "load").startswith("etl-daily-load-")


def test_a_task_name_ending_in_digits_is_not_taken_for_another_tasks_attempt() -> None:
    # Without the hash, task `load-1`'s Task object would be the name of Job 1 of `load`.
    assert task_object_name("etl", "load-1") != job_name("etl", "load", 1)


def test_names_are_stable() -> None:
    assert task_object_name("etl", "daily-load") == task_object_name("etl", "daily-load")
    assert job_name("etl", "daily-load", 3) == job_name("etl", "daily-load", 3)
    # The scheme itself is part of the contract: a new operator version must find the
    # objects an older one created.
    assert node_hash("etl", "daily-load") == "8xvdqm7v4m"


def test_long_names_fit_a_dns_label_and_stay_distinct() -> None:
    workflow = "a-very-long-workflow-name-that-goes-on-and-on-for-a-while"
    first = job_name(workflow, "extract-orders-from-the-replica", 1)
    second = job_name(workflow, "extract-orders-from-the-replica-2", 1)
    assert len(first) <= 63 and len(second) <= 63
    assert first != second
    assert first == job_name(workflow, "extract-orders-from-the-replica", 1)


def test_the_longest_names_fit_a_label_value() -> None:
    workflow = "w" * 253  # a Workflow's name may be a 253-character DNS subdomain
    node = "t" * 50 + "-9999"  # the longest task name and the last fan-out item
    name = job_name(workflow, node, 9999)
    assert len(name) <= 63
    assert DNS_LABEL.match(name)


def test_a_cut_name_keeps_the_node_name_when_it_can() -> None:
    workflow = "nightly-warehouse-refresh-for-the-finance-and-sales-teams"
    assert "-extract-orders-" in task_object_name(workflow, "extract-orders")


def test_a_cut_never_leaves_a_dash_or_dot_before_a_dash() -> None:
    name = task_object_name("a" * 22 + ".-" + "b" * 30, "c" * 20 + "-" + "d" * 30)
    assert "--" not in name and ".-" not in name and "-." not in name
    assert DNS_SUBDOMAIN.match(name)


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


# Dash-joined words over a two-letter alphabet: valid names whose joins often coincide
# (`a-b` + `a` and `a` + `b-a`), long ones included.
_word = st.text(alphabet="ab", min_size=1, max_size=6)
_node = st.lists(_word, min_size=1, max_size=8).map("-".join)
_workflow = st.lists(_word, min_size=1, max_size=14).map("-".join) | st.lists(
    _node, min_size=1, max_size=3
).map(".".join)
_pairs = st.lists(st.tuples(_workflow, _node), min_size=2, max_size=30, unique=True)


@settings(max_examples=150, deadline=None)
@given(_pairs)
def test_different_workflow_and_node_pairs_never_share_a_task_or_job_name(
    pairs: list[tuple[str, str]],
) -> None:
    tasks = {task_object_name(workflow, node) for workflow, node in pairs}
    assert len(tasks) == len(pairs)
    jobs = {job_name(workflow, node, attempt) for workflow, node in pairs for attempt in (1, 2, 12)}
    assert len(jobs) == 3 * len(pairs)
    for name in jobs:
        assert len(name) <= 63
        assert DNS_SUBDOMAIN.match(name)
