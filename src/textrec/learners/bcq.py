r"""Discrete batch-constrained Q-learning over the attribute heads (``bcq``; Fujimoto et al. 2019).

The policy heads are a behaviour clone :math:`G_k` (cross-entropy on the logged values); per
head only values with :math:`G_k(v|s) \ge \theta \max_u G_k(u|s)` may be chosen. The Q heads
learn :math:`Q(s, a) = \sum_k Q_k(s, a_k)` towards
:math:`y = r + \gamma (1 - d) \sum_k \bar Q_k(s', a'_k)`, with :math:`a'_k` the allowed value of
largest :math:`Q_k(s', \cdot)` (chosen by the online heads, valued by the target heads). The
policy acts by that same masked argmax (``Recommender.policy(heads="q", threshold=θ)``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from textrec.agent.policy import masked_q
from textrec.agent.recommender import Recommender
from textrec.learners.bc import bc_loss
from textrec.learners.configs import BCQConfig
from textrec.learners.functional import head_values, masked_mean, td_target
from textrec.learners.offline import Forward, QLearner

__all__ = ["BCQLearner", "bcq_loss"]


class BCQLearner(QLearner):
    """Discrete multi-head BCQ of a :class:`~textrec.agent.Recommender` on logs."""

    name: ClassVar[str] = "bcq"
    config: BCQConfig

    def __init__(
        self, recommender: Recommender, config: BCQConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__(recommender, config or BCQConfig(), seed)

    def acting(self) -> dict[str, Any]:
        """The masked argmax of the Q heads."""
        return {"heads": "q", "threshold": self.config.threshold, "greedy": "values"}

    def loss(self, fwd: Forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Bellman error of the masked greedy target + behaviour cloning of the policy heads."""
        q, q_next = self.q_values(fwd)
        return bcq_loss(
            q,
            q_next,
            self.target_q(fwd, fwd.after),
            fwd.logits,
            fwd.next_logits,
            fwd.actions,
            fwd.rewards,
            fwd.dones,
            fwd.mask,
            self.config,
        )


def bcq_loss(
    q: list[torch.Tensor],
    next_q: list[torch.Tensor],
    target_next_q: list[torch.Tensor],
    logits: list[torch.Tensor],
    next_logits: list[torch.Tensor],
    actions: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    mask: torch.Tensor,
    cfg: BCQConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""Discrete multi-head BCQ's loss on ``N`` logged turns: the Bellman error
    :math:`\tfrac12 \mathbb{E}[(Q(s, a) - y)^2]`, :math:`y = r + \gamma (1 - d) \sum_k \bar
    Q_k(s', a'_k)` with :math:`a'_k` the allowed value (:func:`masked_q`) of largest online
    :math:`Q_k(s', \cdot)`, plus the behaviour cloning of the policy heads (:func:`bc_loss`).

    Args:
        q: ``K`` tensors ``(N, V_k)``, the Q heads in ``s_t`` (with gradient).
        next_q: the online Q heads in ``s_{t+1}`` (detached; they choose :math:`a'`).
        target_next_q: the target heads in ``s_{t+1}`` (they value :math:`a'`).
        logits: the policy heads in ``s_t`` (with gradient).
        next_logits: the policy heads in ``s_{t+1}`` (detached; the allowed values).
        actions: ``(N, K) int64`` logged values.
        rewards, dones, mask: ``(N,)``.
        cfg: ``gamma``, ``threshold``.
    """
    q_data = head_values(q, actions)
    with torch.no_grad():
        allowed = [
            masked_q(qk, lg, cfg.threshold).argmax(-1)
            for qk, lg in zip(next_q, next_logits, strict=True)
        ]
        v_next = head_values(target_next_q, torch.stack(allowed, dim=-1))
        y = td_target(rewards, v_next, dones, cfg.gamma)
    bellman = 0.5 * masked_mean((q_data - y) ** 2, mask)
    bc, _ = bc_loss(logits, actions, mask)
    return bellman + bc, {
        "loss/bellman": bellman,
        "loss/bc": bc,
        "q/data": masked_mean(q_data, mask),
        "q/target": masked_mean(y, mask),
    }
