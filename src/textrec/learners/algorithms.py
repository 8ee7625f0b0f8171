"""The learners ``textrec train --algo`` offers, by name, and their options, without torch.

:data:`ALGORITHMS` gives each name its config class, its one-line summary, whether it learns from
a log and the config values that differ for that name; :func:`config_fields` lists every config
field with the docstring written under it (the CLI's learner options are generated from it). The
learner classes that go with the names are :data:`textrec.learners.registry.LEARNERS`.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from textrec.errors import InputError
from textrec.learners.configs import (
    BCConfig,
    BCQConfig,
    CQLConfig,
    IQLConfig,
    OnlineConfig,
    ReaderConfig,
)

__all__ = ["Algorithm", "ALGORITHMS", "ConfigField", "config_fields"]


@dataclass(frozen=True)
class Algorithm:
    """One ``--algo`` name: its config and how it learns."""

    name: str
    """``--algo`` name."""
    config: type
    """The learner's frozen config dataclass."""
    summary: str
    """One line for ``--help``."""
    needs_logs: bool = True
    """Learns from an experience log (else from the simulator)."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Config values that differ from the dataclass defaults for this name."""

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


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "online",
            OnlineConfig,
            "on-policy PPO against simulated users (the upper bound; no log)",
            needs_logs=False,
        ),
        Algorithm("bc", BCConfig, "imitation of the logged actions"),
        Algorithm(
            "offpolicy",
            CQLConfig,
            "multi-head soft actor-critic on the log, no correction (cql with alpha 0)",
            defaults={"alpha": 0.0},
        ),
        Algorithm(
            "cql", CQLConfig, "conservative Q-learning + soft actor-critic (the paper's learner)"
        ),
        Algorithm("bcq", BCQConfig, "discrete batch-constrained Q-learning"),
        Algorithm("iql", IQLConfig, "implicit Q-learning, advantage-weighted heads"),
        Algorithm(
            "slot-reader",
            ReaderConfig,
            "supervised slot reader: the heads learn the requests heard, no RL (Table 2's row)",
        ),
    )
}
"""Every ``--algo`` name, in the order ``--help`` lists them."""


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
    for algo in ALGORITHMS.values():
        docs = _field_docs(algo.config)
        default = algo.make_config()
        for f in fields(algo.config):
            kind = _TYPES.get(f.type if isinstance(f.type, str) else f.type.__name__)
            if kind is None:
                continue
            entry = table.setdefault(f.name, ConfigField(f.name, kind, {}, {}))
            entry.defaults[algo.name] = getattr(default, f.name)
            entry.docs.setdefault(docs.get(f.name, ""), []).append(algo.name)
    return [table[k] for k in sorted(table)]
