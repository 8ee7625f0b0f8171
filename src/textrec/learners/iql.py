r"""Discrete factorised implicit Q-learning (``iql``; Kostrikov et al. 2022).

A state-value head :math:`V(s)` learns an upper expectile of the target heads' logged value
:math:`\bar Q(s, a) = \sum_k \bar Q_k(s, a_k)` (never querying an unlogged action); the Q heads
regress :math:`r + \gamma (1 - d) V(s')`; the policy heads are advantage-weighted cross-entropy on
the logged values, weight :math:`\min(\exp(\beta (\bar Q(s, a) - V(s))), w_{max})` per turn for
every head.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from textrec.agent.policy import ValueHead, reset_parameters
from textrec.agent.recommender import Recommender
from textrec.learners.configs import IQLConfig
from textrec.learners.functional import (
    expectile_loss,
    head_values,
    masked_mean,
    multi_head_log_prob,
    td_target,
)
from textrec.learners.offline import Forward, QLearner

__all__ = ["IQLLearner", "iql_loss"]


class IQLLearner(QLearner):
    """Factorised discrete IQL of a :class:`~textrec.agent.Recommender` on logs."""

    name: ClassVar[str] = "iql"
    config: IQLConfig

    def __init__(
        self, recommender: Recommender, config: IQLConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__(recommender, config or IQLConfig(), seed)

    def extra_modules(self) -> dict[str, nn.Module]:
        """Target Q heads and the state-value head."""
        value = ValueHead(self.recommender.state_dim, self.config.value_hidden)
        reset_parameters(value, self.generator)
        return {**super().extra_modules(), "value": value}

    def loss(self, fwd: Forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Bellman error towards V(s') + expectile loss of V + advantage-weighted cloning."""
        q, _ = self.q_values(fwd)
        values = self.extra["value"](fwd.states.detach())
        return iql_loss(
            q,
            self.target_q(fwd, fwd.before),
            values[fwd.before],
            values[fwd.after].detach(),
            fwd.logits,
            fwd.actions,
            fwd.rewards,
            fwd.dones,
            fwd.mask,
            self.config,
        )


def iql_loss(
    q: list[torch.Tensor],
    target_q: list[torch.Tensor],
    v: torch.Tensor,
    v_next: torch.Tensor,
    logits: list[torch.Tensor],
    actions: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    mask: torch.Tensor,
    cfg: IQLConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""Factorised discrete IQL's loss on ``N`` logged turns, the sum of

    * the Bellman error :math:`\tfrac12 \mathbb{E}[(Q(s, a) - (r + \gamma (1 - d) V(s')))^2]`;
    * the expectile regression :math:`\mathbb{E}[|\kappa - \mathbb{1}(u < 0)|\,u^2]`,
      :math:`u = \bar Q(s, a) - V(s)`;
    * the advantage-weighted cloning :math:`-\mathbb{E}[w \sum_k \log\pi_k(a_k|s)]`,
      :math:`w = \min(\exp(\beta (\bar Q(s, a) - V(s))), w_{max})` (no gradient through `w`).

    Args:
        q: ``K`` tensors ``(N, V_k)``, the Q heads in ``s_t`` (with gradient).
        target_q: the target heads in ``s_t`` (no gradient).
        v: ``(N,)`` the value head in ``s_t`` (with gradient).
        v_next: ``(N,)`` the value head in ``s_{t+1}`` (detached).
        logits: the policy heads in ``s_t`` (with gradient).
        actions: ``(N, K) int64`` logged values.
        rewards, dones, mask: ``(N,)``.
        cfg: ``gamma``, ``expectile``, ``beta``, ``max_weight``.
    """
    q_data = head_values(q, actions)
    with torch.no_grad():
        q_target = head_values(target_q, actions)
        y = td_target(rewards, v_next, dones, cfg.gamma)
    value_loss = masked_mean(expectile_loss(q_target - v, cfg.expectile), mask)
    bellman = 0.5 * masked_mean((q_data - y) ** 2, mask)
    weight = torch.exp(cfg.beta * (q_target - v.detach())).clamp(max=cfg.max_weight)
    log_prob = multi_head_log_prob(logits, actions)
    actor = -masked_mean(weight * log_prob, mask)
    return bellman + value_loss + actor, {
        "loss/bellman": bellman,
        "loss/value": value_loss,
        "loss/actor": actor,
        "q/data": masked_mean(q_data, mask),
        "value/mean": masked_mean(v, mask),
        "policy/weight": masked_mean(weight, mask),
    }
