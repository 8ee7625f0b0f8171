"""Imitation learning (``bc``): the paper's "Imitation Learning" row.

Each policy head is trained by cross-entropy on the value the logged action took on its attribute,
in every state of every logged dialogue (or of the successful ones only, as the paper's IL row),
plus the shared request-tracking loss. The Q heads are not used.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from textrec.agent.recommender import Recommender
from textrec.learners.configs import BCConfig
from textrec.learners.functional import head_log_probs
from textrec.learners.offline import Forward, OfflineLearner

__all__ = ["BCLearner", "bc_loss"]


class BCLearner(OfflineLearner):
    """Behaviour cloning of a :class:`~textrec.agent.Recommender` on logged dialogues."""

    name: ClassVar[str] = "bc"

    def __init__(
        self, recommender: Recommender, config: BCConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__(recommender, config or BCConfig(), seed)

    def loss(self, fwd: Forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Mean cross-entropy of the heads on the logged values (of the dialogues imitated)."""
        keep = fwd.mask & fwd.success if self.config.successful_only else fwd.mask
        return bc_loss(fwd.logits, fwd.actions, keep)


def bc_loss(
    logits: list[torch.Tensor], actions: torch.Tensor, keep: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""Mean cross-entropy :math:`-\log\pi_k(a_{ik}|s_i)` over the (turn, head) pairs of the kept
    turns whose logged value is not ``-1``.

    Args:
        logits: ``K`` tensors ``(N, V_k)``, the policy heads in ``s_t``.
        actions: ``(N, K) int64`` logged values.
        keep: ``(N,) bool`` the turns imitated.
    """
    valid = (actions >= 0) & keep.unsqueeze(-1)
    ce = -(head_log_probs(logits, actions) * valid).sum() / valid.sum().clamp_min(1)
    return ce, {"loss/bc": ce}
