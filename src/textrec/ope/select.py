"""Model selection by off-policy evaluation: rate a training run's policies from the log alone.

:func:`ope_rater` turns an estimator into the ``rate(policy)`` of a
:class:`~textrec.learners.evaluators.BestSelector`, so ``textrec train --select ope:ESTIMATOR``
keeps the checkpoint the estimator rates best — validation without simulated users. The policy
rated is the agent's *stochastic head policy* (one value drawn per head from its distributions,
:class:`~textrec.ope.policies.TargetPolicy` at temperature 1), the one the estimators value; the
run's own evaluations act greedily. :func:`ope_ratings` rates with several estimators at once
(one replay of the policy for all of them): ``reproduce``'s OPE section rates every kept
checkpoint of a learner so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count

from textrec.ope.estimators import Estimator
from textrec.ope.offpolicy import OffPolicyLog, estimate
from textrec.ope.policies import TargetSpec
from textrec.simulator.policy import Policy

__all__ = ["ope_rater", "ope_ratings"]


def ope_ratings(
    log: OffPolicyLog, estimators: Sequence[Estimator], *, seed: int = 0, n_boot: int = 2
) -> Callable[[Policy], dict[str, float]]:
    """``rate(policy)``: ``{label: value}``, each estimator's value of ``policy``'s stochastic
    head policy on ``log``.

    Each call replays the policy as it is now, once for all estimators (a fresh target name,
    released after), so a learner's policy object can be rated again after more updates.
    """
    calls = count()

    def rate(policy: Policy) -> dict[str, float]:
        spec = TargetSpec(f"candidate-{next(calls)}")
        log.replay(spec, base=policy)
        try:
            return {
                e.label: estimate(spec, log, estimator=e, seed=seed, n_boot=n_boot).value
                for e in estimators
            }
        finally:
            log.release(spec)

    return rate


def ope_rater(
    log: OffPolicyLog, estimator: Estimator, *, seed: int = 0, n_boot: int = 2
) -> Callable[[Policy], float]:
    """``rate(policy)``: ``estimator``'s value of ``policy``'s stochastic head policy on ``log``
    (:func:`ope_ratings` with the one estimator)."""
    ratings = ope_ratings(log, [estimator], seed=seed, n_boot=n_boot)
    return lambda policy: ratings(policy)[estimator.label]
