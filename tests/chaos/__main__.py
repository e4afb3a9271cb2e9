"""`make chaos`: randomized chaos rounds against the local control plane.

    python -m tests.chaos [--rounds 20] [--seed N]

Round i runs with seed N+i, so `--seed <a round's seed> --rounds 1` replays that round's
DAGs and fault plan. Exits 1 when any invariant was violated.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

from tests.chaos.control_plane import ControlPlane
from tests.chaos.harness import ChaosRound, Totals
from tests.chaos.policies import install_policies
from tests.e2e.cluster import ROOT, Kubectl, cluster_env, install_crds
from tests.e2e.cluster import operator_env as with_operator_defaults
from tests.e2e.operator_process import OperatorProcess


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--workflows", type=int, default=2, help="runs per round")
    parser.add_argument("--faults", type=int, default=4, help="faults per round")
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=ROOT / ".local" / "chaos",
        help="operator log and the snapshots of rounds with violations",
    )
    arguments = parser.parse_args(argv)
    seed = arguments.seed if arguments.seed is not None else random.randrange(1, 10**6)
    print(f"chaos: seed {seed}, {arguments.rounds} rounds (replay: make chaos SEED={seed})")

    began = time.monotonic()
    kubectl = Kubectl(cluster_env())
    install_crds(kubectl)
    install_policies(kubectl)
    control_plane = ControlPlane.of_local_cluster()
    if control_plane is None:
        print("chaos: not a hack/cluster.sh cluster; the API server will not be restarted")
    artifacts = arguments.artifacts / str(seed)
    artifacts.mkdir(parents=True, exist_ok=True)
    operator = OperatorProcess(with_operator_defaults(kubectl.env), artifacts / "operator.log")
    operator.start()
    totals = Totals()
    try:
        for index in range(arguments.rounds):
            result = ChaosRound(
                kubectl=kubectl,
                operator=operator,
                control_plane=control_plane,
                seed=seed + index,
                workflows=arguments.workflows,
                fault_count=arguments.faults,
                artifacts=artifacts,
            ).run()
            totals.add(result)
            verdict = "ok" if not result.violations else f"{len(result.violations)} VIOLATIONS"
            print(
                f"round {index + 1}/{arguments.rounds} seed {result.seed}: {verdict} "
                f"({result.seconds:.0f}s; runs {result.figures.runs}, "
                f"attempts {result.figures.attempts}, Jobs {result.figures.jobs}, "
                f"Pods {result.figures.pods})"
            )
            for violation in result.violations:
                print(f"  VIOLATION {violation}")
            for finding in result.kubernetes:
                print(f"  KUBERNETES {finding}")
            if result.snapshot_path:
                print(f"  objects: {result.snapshot_path}; namespace {result.namespace} kept")
            if result.violations:
                # A fresh operator for the next round, so one round's failure (an operator
                # that serves nothing after a bad start) does not fail every round after it.
                operator.stop()
                operator.start()
    finally:
        operator.stop()
    print(f"chaos: seed {seed}, wall time {time.monotonic() - began:.0f}s")
    print(totals.report())
    print(f"operator log: {operator.log_path}")
    return 1 if totals.violations else 0


if __name__ == "__main__":
    sys.exit(main())
