"""The fault plan: a pure function of the seed, so `make chaos SEED=n` replays a round."""

from __future__ import annotations

import random

from tests.chaos.faults import KINDS, STATUS_REFUSAL, plan_faults
from tests.chaos.policies import REFUSALS


def test_the_same_seed_plans_the_same_faults() -> None:
    first = plan_faults(random.Random(7), window=12, count=6)
    again = plan_faults(random.Random(7), window=12, count=6)
    assert first == again
    assert first != plan_faults(random.Random(8), window=12, count=6)


def test_every_kind_is_planned_once_when_there_are_enough_faults() -> None:
    for seed in range(50):
        plan = plan_faults(random.Random(seed), window=12, count=len(KINDS))
        assert sorted(fault.kind for fault in plan) == sorted(KINDS)


def test_faults_fall_inside_the_window_in_time_order() -> None:
    plan = plan_faults(random.Random(3), window=5, count=10)
    assert [fault.at for fault in plan] == sorted(fault.at for fault in plan)
    assert all(0 <= fault.at <= 5 for fault in plan)


def test_only_the_kinds_asked_for_are_planned() -> None:
    plan = plan_faults(random.Random(1), window=12, count=5, kinds=(STATUS_REFUSAL,))
    assert {fault.kind for fault in plan} == {STATUS_REFUSAL}
    assert {fault.variant for fault in plan} <= set(REFUSALS)
