"""Off-policy evaluation: a target policy's value estimated from the log, scored against the truth.

* :mod:`textrec.ope.policies` — the target policies and their probabilities on the logged dialogue;
* :mod:`textrec.ope.sessions` — the logged sessions, and the only join with the oracle sidecar;
* :mod:`textrec.ope.behaviour` — the behaviour policies cloned from the log, per device and head;
* :mod:`textrec.ope.estimators` — IS, WIS, PDIS, WPDIS, DR (with FQE's or the cql critic's
  ``Q̂``), the direct methods (FQE, CQL) and DualDICE (array maths);
* :mod:`textrec.ope.fqe` — fitted-Q evaluation, factorised over heads, by the shared loop (with
  the ``cql`` learner's conservative penalty: the ``cql`` direct estimator);
* :mod:`textrec.ope.dice` — DualDICE's correction ratios, linear features in closed form;
* :mod:`textrec.ope.offpolicy` — ``estimate(policy, log, catalog) -> Estimate``;
* :mod:`textrec.ope.scoring` — each policy's true value in the simulator, and the scores.
"""

from textrec.ope.estimators import (
    ESTIMATORS,
    DirectCQL,
    DirectFQE,
    DoublyRobust,
    DoublyRobustCQL,
    DualDICE,
    Estimator,
    OffPolicyData,
    PerDecisionIS,
    TrajectoryIS,
    WeightedIS,
    WeightedPDIS,
)
from textrec.ope.offpolicy import Estimate, OffPolicyLog, estimate
from textrec.ope.policies import TargetPolicy, TargetSpec, default_targets

__all__ = [
    "ESTIMATORS",
    "DirectCQL",
    "DirectFQE",
    "DoublyRobust",
    "DoublyRobustCQL",
    "DualDICE",
    "Estimate",
    "Estimator",
    "OffPolicyData",
    "OffPolicyLog",
    "PerDecisionIS",
    "TargetPolicy",
    "TargetSpec",
    "TrajectoryIS",
    "WeightedIS",
    "WeightedPDIS",
    "default_targets",
    "estimate",
]
