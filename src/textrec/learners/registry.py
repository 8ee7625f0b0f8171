"""The learner registry: ``--algo`` name -> the learner class, its config and its batches.

``LEARNERS[name].build(recommender, overrides, seed)`` makes any learner without a branch per
algorithm. Each entry is the torch-free :class:`~textrec.learners.algorithms.Algorithm` of that
name (config, summary, defaults) with its learner class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from textrec.agent.recommender import Recommender
from textrec.catalog.catalog import Catalog
from textrec.errors import InputError
from textrec.learners.algorithms import ALGORITHMS, Algorithm
from textrec.learners.batches import LogDialogues, SimulatorEpisodes
from textrec.learners.bc import BCLearner
from textrec.learners.bcq import BCQLearner
from textrec.learners.cql import CQLLearner
from textrec.learners.iql import IQLLearner
from textrec.learners.loop import BatchSource, Learner
from textrec.learners.online import OnlineLearner
from textrec.learners.reader import ReaderLearner
from textrec.simulator.engine import BatchedSimulator

__all__ = ["BatchContext", "LearnerSpec", "LEARNERS"]


@dataclass(frozen=True, eq=False)
class BatchContext:
    """What a batch source may be built from."""

    catalog: Catalog
    """The catalog being learned."""
    train_sim: BatchedSimulator
    """Simulated users on the train pool (on-policy learners only)."""
    logs: Path | None
    """The experience log (offline learners only)."""


def _simulated(learner: Any, ctx: BatchContext) -> BatchSource[Any]:
    return SimulatorEpisodes(ctx.train_sim, learner.acting_policy(), learner.config.n_sessions)


def _logged(learner: Any, ctx: BatchContext) -> BatchSource[Any]:
    if ctx.logs is None:
        raise InputError(f"--algo {learner.name} learns from a log: give --logs LOGDIR")
    return LogDialogues(
        ctx.logs, ctx.catalog, learner.recommender.front, learner.config.n_dialogues
    )


@dataclass(frozen=True)
class LearnerSpec(Algorithm):
    """One registered learner: its :class:`Algorithm` and the class that learns."""

    learner: Callable[..., Learner[Any]] = field(kw_only=True)
    """``learner(recommender, config, seed)``."""

    @property
    def learner_name(self) -> str:
        """The learner class's own name (its checkpoint ``type``; ``cql`` for ``offpolicy``)."""
        return str(self.learner.name)  # type: ignore[attr-defined]

    def build(
        self, recommender: Recommender, overrides: Mapping[str, Any] | None = None, seed: int = 0
    ) -> Learner[Any]:
        """A fresh learner of ``recommender``."""
        return self.learner(recommender, self.make_config(overrides), seed=seed)

    def batches(self, learner: Learner[Any], ctx: BatchContext) -> BatchSource[Any]:
        """The learner's batch source: logged dialogues, or episodes played by its policy."""
        return (_logged if self.needs_logs else _simulated)(learner, ctx)


_CLASSES: dict[str, Callable[..., Learner[Any]]] = {
    "online": OnlineLearner,
    "bc": BCLearner,
    "offpolicy": CQLLearner,
    "cql": CQLLearner,
    "bcq": BCQLearner,
    "iql": IQLLearner,
    "slot-reader": ReaderLearner,
}

LEARNERS: dict[str, LearnerSpec] = {
    name: LearnerSpec(**{f.name: getattr(a, f.name) for f in fields(a)}, learner=_CLASSES[name])
    for name, a in ALGORITHMS.items()
}
"""Every learner ``textrec train --algo`` can train, by name (the order of :data:`ALGORITHMS`)."""
