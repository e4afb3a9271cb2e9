"""The short version of `make chaos` (tests/chaos): one round, every kind of fault once at
a random moment, and every invariant checked on the objects afterwards."""

from __future__ import annotations

import os
import random

from tests.chaos.control_plane import ControlPlane
from tests.chaos.harness import ChaosRound
from tests.chaos.policies import install_policies
from tests.e2e.cluster import Kubectl
from tests.e2e.operator_process import OperatorProcess


def test_a_run_keeps_every_invariant_through_one_round_of_each_fault(
    kubectl: Kubectl, operator: OperatorProcess
) -> None:
    # Replay a failure with KUBEDAG_CHAOS_SEED=<seed> (or `make chaos SEED=<seed> ROUNDS=1`).
    seed = int(os.environ.get("KUBEDAG_CHAOS_SEED") or random.randrange(1, 10**6))
    print(f"chaos seed {seed}")
    install_policies(kubectl)
    try:
        result = ChaosRound(
            kubectl=kubectl,
            operator=operator,
            control_plane=ControlPlane.of_local_cluster(),
            seed=seed,
            workflows=1,
            fault_count=4,
        ).run()
    finally:
        # The tests after this one get an operator that was not started mid-fault.
        operator.stop()
        operator.start()
    assert not result.violations, "\n".join(
        [f"seed {seed}, namespace {result.namespace}, faults:", *result.injected, "violations:"]
        + [str(violation) for violation in result.violations]
    )
