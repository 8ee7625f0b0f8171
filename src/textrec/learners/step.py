"""The update step every learner shares: its settings and one gradient-clipped Adam step.

:class:`StepConfig` holds the fields every learner's config has (the offline learners' through
:class:`~textrec.learners.offline.OfflineConfig`, the on-policy learner's directly) and the checks
of a config's values; :func:`adam` and :func:`gradient_step` are the optimiser and its step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from textrec.errors import InputError

__all__ = ["StepConfig", "adam", "gradient_step"]


@dataclass(frozen=True)
class StepConfig:
    """Settings of the update step of every learner (a learner's config extends it)."""

    lr: float = 1e-3
    """Adam learning rate."""
    track_coef: float = 0.0
    """Weight of the request-tracking auxiliary loss, which trains the policy heads to name the
    latest requested value (0, the default: none, the learner's own loss decides the policy)."""
    max_grad_norm: float = 10.0
    """Gradient norm clip per step."""

    def __post_init__(self) -> None:
        self.check_positive("lr", "max_grad_norm", strict=True)
        self.check_positive("track_coef")

    def check_unit(self, *keys: str, closed: bool = True) -> None:
        """Raise unless each field of ``keys`` lies in [0, 1] (``closed``) or (0, 1)."""
        for key in keys:
            v = getattr(self, key)
            ok = 0.0 <= v <= 1.0 if closed else 0.0 < v < 1.0
            if not ok:
                span = "[0, 1]" if closed else "(0, 1)"
                raise InputError(f"{type(self).__name__}.{key} must be in {span}, got {v}")

    def check_positive(self, *keys: str, strict: bool = False) -> None:
        """Raise unless each field of ``keys`` is >= 0 (``strict``: > 0)."""
        for key in keys:
            v = getattr(self, key)
            if not (v > 0 if strict else v >= 0):
                bound = "> 0" if strict else ">= 0"
                raise InputError(f"{type(self).__name__}.{key} must be {bound}, got {v}")

    def check_count(self, *keys: str) -> None:
        """Raise unless each (integer) field of ``keys`` is >= 1."""
        for key in keys:
            if getattr(self, key) < 1:
                raise InputError(
                    f"{type(self).__name__}.{key} must be >= 1, got {getattr(self, key)}"
                )


def adam(params: Sequence[nn.Parameter], config: StepConfig) -> torch.optim.Adam:
    """The optimiser of a learner: Adam over the parameters it trains, at ``config.lr``."""
    return torch.optim.Adam(params, lr=config.lr)


def gradient_step(
    optimiser: torch.optim.Optimizer,
    loss: torch.Tensor,
    params: Sequence[nn.Parameter],
    config: StepConfig,
) -> None:
    """One step down ``loss``: gradients of ``params``, their norm clipped to
    ``config.max_grad_norm``, then the optimiser's update."""
    optimiser.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(params, config.max_grad_norm)
    optimiser.step()
