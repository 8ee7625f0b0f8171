"""The update step every learner shares: one gradient-clipped Adam step.

:func:`adam` and :func:`gradient_step` are the optimiser and its step, set by the fields every
learner's config has (:class:`~textrec.learners.configs.StepConfig`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from textrec.learners.configs import StepConfig

__all__ = ["adam", "gradient_step"]


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
