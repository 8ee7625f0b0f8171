"""Evaluators the training loop runs: anything callable as ``evaluator(policy) -> metrics``.

:class:`SimulatorEvaluator` scores a policy on simulated sessions with
:func:`textrec.simulator.rollout.evaluate`; the loop prefixes each key with the evaluator's name
(``eval/sr@20``). :class:`BestSelector` rates each evaluated policy (e.g. by an off-policy
estimate) and keeps the best one's weights.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.metrics import EvaluationResult
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.rollout import evaluate

__all__ = ["Evaluator", "SimulatorEvaluator", "BestSelector"]


class Evaluator(Protocol):
    """Scores a policy; the loop prefixes each key with the evaluator's name."""

    def __call__(self, policy: Any) -> dict[str, float]:
        """Metrics of ``policy`` (e.g. ``{"sr@20": 0.9}``)."""
        ...


class SimulatorEvaluator:
    """Scores a policy on ``n_sessions`` simulated sessions (:func:`.rollout.evaluate`).

    Returns ``sr@10``, ``sr@20``, ``sr@30``, ``ni``, ``nv`` and ``return`` means. The same ``seed``
    every time, so successive evaluations of a run meet the same users. :attr:`last` keeps the
    full :class:`EvaluationResult` of the latest call (a run's final figures, without evaluating
    again).

    Args:
        simulator: The users and the pool under evaluation (the test pool for reported figures).
        n_sessions: Sessions per evaluation.
        seed: Evaluation seed.
    """

    def __init__(self, simulator: BatchedSimulator, n_sessions: int, seed: int = 0) -> None:
        self.simulator, self.n_sessions, self.seed = simulator, n_sessions, seed
        self.last: EvaluationResult | None = None

    @cached_property
    def retriever(self) -> Retriever:
        """Retrieval over the simulator's pool, built once for all evaluations."""
        return Retriever(self.simulator.catalog, self.simulator.pool)

    def evaluate(self, policy: Any) -> EvaluationResult:
        """The full evaluation of ``policy`` (also kept as :attr:`last`)."""
        self.last = evaluate(
            policy, self.simulator, self.n_sessions, self.seed, retriever=self.retriever
        )
        return self.last

    def __call__(self, policy: Any) -> dict[str, float]:
        """Evaluate ``policy``; its metric means."""
        return self.evaluate(policy).metrics(prefix="")


class BestSelector:
    """An evaluator that rates each evaluated policy and keeps the best one's weights.

    ``rate(policy) -> float`` (higher is better) is any validation that needs no test users, e.g.
    an off-policy estimate from the log (:func:`textrec.ope.select.ope_rater`). Each call returns
    ``{"value": rate}``; the weights of the :class:`~textrec.agent.recommender.RecommenderPolicy`
    rated highest so far (the first on ties) are kept as :attr:`best_state` (a copy), and
    :func:`textrec.learners.run.train_agent` saves them as ``final/`` instead of the last ones.

    Args:
        rate: scores a policy.
    """

    def __init__(self, rate: Callable[[Any], float]) -> None:
        self.rate = rate
        self.values: list[float] = []
        self.best_state: dict[str, Any] | None = None

    @property
    def best(self) -> int:
        """Index of the best-rated evaluation (-1 before any)."""
        return int(np.argmax(self.values)) if self.values else -1

    def __call__(self, policy: Any) -> dict[str, float]:
        """Rate ``policy``; keep its recommender's weights when it is the best so far."""
        value = float(self.rate(policy))
        if not np.isfinite(value):
            raise InputError(f"BestSelector: the rating is not finite ({value})")
        self.values.append(value)
        if self.best == len(self.values) - 1:
            self.best_state = copy.deepcopy(policy.recommender.state_dict())
        return {"value": value}
