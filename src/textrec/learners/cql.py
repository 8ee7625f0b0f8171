r"""Conservative multi-head soft actor-critic (``cql``; with ``alpha = 0``, ``offpolicy``).

The paper's offline learner (Eq. 6-7, Algorithm 1). Per attribute head ``k`` a Q head
:math:`Q_k(s, v)`; the joint value of a multi-discrete action is :math:`Q(s, a) = \sum_k Q_k(s,
a_k)`. Policy evaluation regresses it on the soft Bellman target from the target heads,

.. math::
    y = r + \gamma (1 - d)\, \sum_k \mathbb{E}_{v \sim \pi_k(\cdot|s')}
        [\bar Q_k(s', v) - \tau \log \pi_k(v|s')],

plus the conservative penalty :math:`\alpha \sum_k (\log\sum_v \exp Q_k(s, v) - Q_k(s, a_k))`
averaged over the real logged turns; policy improvement is soft (Eq. 7):
:math:`\pi_k \propto \exp(Q_k / \tau)`, by minimising
:math:`\sum_k \mathbb{E}_{\pi_k}[\tau \log \pi_k - Q_k(s, \cdot)]`. The ``offpolicy`` learner is
this code with :math:`\alpha = 0` (no correction), so that the comparison isolates the
conservative term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from textrec.agent.recommender import Recommender
from textrec.learners.functional import (
    cql_penalty,
    head_values,
    masked_mean,
    multi_head_entropy,
    soft_values,
    td_target,
)
from textrec.learners.offline import Forward, QConfig, QLearner

__all__ = ["CQLConfig", "CQLLearner", "cql_loss"]


@dataclass(frozen=True)
class CQLConfig(QConfig):
    """Conservative soft actor-critic over the attribute heads."""

    alpha: float = 0.01
    """Weight of the conservative penalty (0: plain off-policy soft actor-critic). 0.01: the best
    of {0.01, 0.1, 1} on the validation pool (train-pool users), see docs/learners/offline.md."""
    tau: float = 0.05
    """Entropy temperature of the soft policy and of the soft Bellman target."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_positive("alpha")
        self.check_positive("tau", strict=True)


class CQLLearner(QLearner):
    """Multi-head CQL + soft actor-critic of a :class:`~textrec.agent.Recommender` on logs."""

    name: ClassVar[str] = "cql"
    config: CQLConfig

    def __init__(
        self, recommender: Recommender, config: CQLConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__(recommender, config or CQLConfig(), seed)

    def loss(self, fwd: Forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Bellman error + alpha * conservative penalty + soft policy improvement."""
        q, _ = self.q_values(fwd)
        return cql_loss(
            q,
            self.target_q(fwd, fwd.after),
            fwd.logits,
            fwd.next_logits,
            fwd.actions,
            fwd.rewards,
            fwd.dones,
            fwd.mask,
            self.config,
        )


def cql_loss(
    q: list[torch.Tensor],
    target_next_q: list[torch.Tensor],
    logits: list[torch.Tensor],
    next_logits: list[torch.Tensor],
    actions: torch.Tensor,
    rewards: torch.Tensor,
    dones: torch.Tensor,
    mask: torch.Tensor,
    cfg: CQLConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The multi-head CQL + soft actor-critic loss of ``N`` logged turns (``K`` heads).

    Args:
        q: ``K`` tensors ``(N, V_k)``, the Q heads in ``s_t`` (with gradient).
        target_next_q: the target heads in ``s_{t+1}``.
        logits: the policy heads in ``s_t`` (with gradient).
        next_logits: the policy heads in ``s_{t+1}`` (detached).
        actions: ``(N, K) int64`` logged values.
        rewards, dones, mask: ``(N,)``.
        cfg: ``alpha``, ``gamma``, ``tau``.

    Returns:
        The loss and its named parts (``loss/bellman``, ``loss/cql``, ``loss/actor``, ...).
    """
    q_data = head_values(q, actions)
    with torch.no_grad():
        v_next = soft_values(target_next_q, next_logits, cfg.tau)
        y = td_target(rewards, v_next, dones, cfg.gamma)
    bellman = 0.5 * masked_mean((q_data - y) ** 2, mask)
    penalty = cql_penalty(q, actions, mask)
    actor = -masked_mean(soft_values([qk.detach() for qk in q], logits, cfg.tau), mask)
    loss = bellman + cfg.alpha * penalty + actor
    return loss, {
        "loss/bellman": bellman,
        "loss/cql": penalty,
        "loss/actor": actor,
        "q/data": masked_mean(q_data, mask),
        "q/target": masked_mean(y, mask),
        "policy/entropy": masked_mean(multi_head_entropy(logits), mask),
    }
