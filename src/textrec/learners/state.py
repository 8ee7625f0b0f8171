"""The checkpointed state of a learner of a :class:`~textrec.agent.Recommender`, written once.

A learner's :meth:`state_dict` is the recommender (with its config, so that a checkpoint of
another agent is refused), the learner's own networks, its optimiser, its generator and its
update count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from textrec.agent.recommender import Recommender
from textrec.errors import InputError

__all__ = ["learner_state", "load_learner_state"]


_STATE_FIELDS = (
    "recommender_config",
    "recommender",
    "extra",
    "optimiser",
    "generator",
    "n_updates",
)
"""The keys of :func:`learner_state`."""


def learner_state(
    recommender: Recommender,
    extra: nn.Module,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
    n_updates: int,
) -> dict[str, Any]:
    """Everything a learner has learned, as a ``torch.save``-able dict."""
    return {
        "recommender_config": asdict(recommender.config),
        "recommender": recommender.state_dict(),
        "extra": extra.state_dict(),
        "optimiser": optimiser.state_dict(),
        "generator": generator.get_state(),
        "n_updates": n_updates,
    }


def load_learner_state(
    state: Mapping[str, Any],
    recommender: Recommender,
    extra: nn.Module,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
) -> int:
    """Restore :func:`learner_state` in place; returns the update count.

    Raises :class:`InputError` when the state was saved for a recommender of another config.
    """
    missing = [k for k in _STATE_FIELDS if k not in state]
    if missing:
        raise InputError(f"learner state lacks fields {missing}")
    if state["recommender_config"] != asdict(recommender.config):
        raise InputError(
            f"saved recommender config {state['recommender_config']} differs from this "
            f"learner's {asdict(recommender.config)}"
        )
    recommender.load_state_dict(state["recommender"])
    extra.load_state_dict(state["extra"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    return int(state["n_updates"])
