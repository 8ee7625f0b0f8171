"""The learner registry: ``--algo`` name -> how to build the learner, its config and its batches.

``LEARNERS[name].build(recommender, overrides, seed)`` makes any learner without a branch per
algorithm; :func:`config_fields` lists every learner's config fields with the docstring written
under each (the CLI's learner options are generated from it).
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

from textrec.agent.recommender import Recommender
from textrec.catalog.catalog import Catalog
from textrec.errors import InputError
from textrec.learners.batches import LogDialogues, SimulatorEpisodes
from textrec.learners.bc import BCConfig, BCLearner
from textrec.learners.bcq import BCQConfig, BCQLearner
from textrec.learners.cql import CQLConfig, CQLLearner
from textrec.learners.iql import IQLConfig, IQLLearner
from textrec.learners.loop import BatchSource, Learner
from textrec.learners.online import OnlineConfig, OnlineLearner
from textrec.learners.reader import ReaderConfig, ReaderLearner
from textrec.simulator.engine import BatchedSimulator

__all__ = ["BatchContext", "LearnerSpec", "LEARNERS", "ConfigField", "config_fields"]


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
    return SimulatorEpisodes(
        ctx.train_sim,
        learner.acting_policy(),
        learner.config.n_sessions,
        learner.recommender.front,
    )


def _logged(learner: Any, ctx: BatchContext) -> BatchSource[Any]:
    if ctx.logs is None:
        raise InputError(f"--algo {learner.name} learns from a log: give --logs LOGDIR")
    return LogDialogues(
        ctx.logs, ctx.catalog, learner.recommender.front, learner.config.n_dialogues
    )


@dataclass(frozen=True)
class LearnerSpec:
    """One registered learner."""

    name: str
    """``--algo`` name."""
    learner: Callable[..., Learner[Any]]
    """``learner(recommender, config, seed)``."""
    config: type
    """The learner's frozen config dataclass."""
    summary: str
    """One line for ``--help``."""
    needs_logs: bool = True
    """Learns from an experience log (else from the simulator)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Config values that differ from the dataclass defaults for this name."""

    @property
    def learner_name(self) -> str:
        """The learner class's own name (its checkpoint ``type``; ``cql`` for ``offpolicy``)."""
        return str(self.learner.name)  # type: ignore[attr-defined]

    def make_config(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """The config: the defaults of this name, then ``overrides`` (unknown keys refused)."""
        overrides = dict(overrides or {})
        known = {f.name for f in fields(self.config)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InputError(
                f"--algo {self.name} has no option(s) {unknown}; its options: {sorted(known)}"
            )
        return self.config(**{**self.defaults, **overrides})

    def build(
        self, recommender: Recommender, overrides: Mapping[str, Any] | None = None, seed: int = 0
    ) -> Learner[Any]:
        """A fresh learner of ``recommender``."""
        return self.learner(recommender, self.make_config(overrides), seed=seed)

    def batches(self, learner: Learner[Any], ctx: BatchContext) -> BatchSource[Any]:
        """The learner's batch source: logged dialogues, or episodes played by its policy."""
        return (_logged if self.needs_logs else _simulated)(learner, ctx)


LEARNERS: dict[str, LearnerSpec] = {
    spec.name: spec
    for spec in (
        LearnerSpec(
            "online",
            OnlineLearner,
            OnlineConfig,
            "on-policy PPO against simulated users (the upper bound; no log)",
            needs_logs=False,
        ),
        LearnerSpec("bc", BCLearner, BCConfig, "imitation of the logged actions"),
        LearnerSpec(
            "offpolicy",
            CQLLearner,
            CQLConfig,
            "multi-head soft actor-critic on the log, no correction (cql with alpha 0)",
            defaults={"alpha": 0.0},
        ),
        LearnerSpec(
            "cql",
            CQLLearner,
            CQLConfig,
            "conservative Q-learning + soft actor-critic (the paper's learner)",
        ),
        LearnerSpec("bcq", BCQLearner, BCQConfig, "discrete batch-constrained Q-learning"),
        LearnerSpec("iql", IQLLearner, IQLConfig, "implicit Q-learning, advantage-weighted heads"),
        LearnerSpec(
            "slot-reader",
            ReaderLearner,
            ReaderConfig,
            "supervised slot reader: the heads learn the requests heard, no RL (Table 2's row)",
        ),
    )
}
"""Every learner ``textrec train --algo`` can train, by name."""


@dataclass(frozen=True)
class ConfigField:
    """A learner config field as the CLI offers it."""

    name: str
    """Field name (``--name-with-dashes`` on the command line)."""
    type: type
    """``bool``, ``int``, ``float`` or ``str``."""
    defaults: dict[str, Any]
    """Default per learner that has the field."""
    docs: dict[str, list[str]]
    """The docstring under the field -> the learners whose config documents it so."""

    @property
    def text(self) -> str:
        """The field's docstring; where learners document it differently, each with its names."""
        if len(self.docs) == 1:
            return next(iter(self.docs))
        return " | ".join(f"{', '.join(names)}: {doc}" for doc, names in self.docs.items())


@cache
def _field_docs(cls: type) -> dict[str, str]:
    """The docstring written under each field of dataclass ``cls`` and of its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        try:
            tree = ast.parse(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def config_fields() -> list[ConfigField]:
    """Every learner config field (name, type, docstring, default per learner), sorted by name."""
    table: dict[str, ConfigField] = {}
    for spec in LEARNERS.values():
        docs = _field_docs(spec.config)
        default = spec.make_config()
        for f in fields(spec.config):
            kind = _TYPES.get(f.type if isinstance(f.type, str) else f.type.__name__)
            if kind is None:
                continue
            entry = table.setdefault(f.name, ConfigField(f.name, kind, {}, {}))
            entry.defaults[spec.name] = getattr(default, f.name)
            entry.docs.setdefault(docs.get(f.name, ""), []).append(spec.name)
    return [table[k] for k in sorted(table)]
