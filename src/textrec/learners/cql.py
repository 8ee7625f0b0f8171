r"""Conservative multi-head soft actor-critic (``cql``; with ``alpha = 0``, ``offpolicy``).

The paper's offline learner (Eq. 6-7, Algorithm 1). Per attribute head ``k`` a Q head
:math:`Q_k(s, v)`; the joint value of a multi-discrete action is :math:`Q(s, a) = \sum_k Q_k(s,
a_k)`. Policy evaluation regresses it on the soft Bellman target from the target heads,

.. math::
    y = r + \gamma (1 - d)\, \sum_k \mathbb{E}_{v \sim \pi_k(\cdot|s')}
        [\bar Q_k(s', v) - \tau_k \log \pi_k(v|s')],

plus :math:`\alpha` times a conservative penalty averaged over the real logged turns, in one of
two forms (``penalty``):

* ``logsumexp`` (CQL(H)): :math:`\sum_k (\log\sum_v \exp Q_k(s, v) - Q_k(s, a_k))`;
* ``policy`` (the paper's Eq. 6): :math:`\sum_k (\mathbb{E}_{v \sim \pi_k} Q_k(s, v) - Q_k(s,
  a_k))`, the actor's :math:`\pi` held fixed;
* ``items``: CQL(H) over the joint actions of the catalog's items only, :math:`\log\sum_{b \in
  \mathcal{A}} \exp Q(s, b) - Q(s, a)` (``logsumexp`` is the same over every combination of
  head values; :func:`~textrec.learners.functional.item_penalty` says why they differ).

Policy improvement is soft (Eq. 7): :math:`\pi_k \propto \exp(Q_k / \tau_k)`, by minimising
(``actor_loss``) either Eq. 7's :math:`\sum_k \mathbb{E}_{\pi_k}[\tau_k \log \pi_k - Q_k(s,
\cdot)]` (``reverse_kl``) or the forward KL :math:`\sum_k \mathrm{KL}(\mathrm{softmax}(Q_k /
\tau_k) \| \pi_k)` (``forward_kl``: same minimiser, a gradient that does not vanish at a
saturated actor), with :math:`Q` fixed. The
temperatures are one fixed :math:`\tau` for every head, or (``auto_tau``) learned per head as in
SAC-discrete: :math:`\log\tau_k` descends
:math:`\log\tau_k\,(\mathbb{E}_s H(\pi_k(\cdot|s)) - \bar H_k)` towards the target entropy
:math:`\bar H_k = \rho \log V_k` (``target_entropy`` :math:`\rho`). The ``offpolicy`` learner is
this code with :math:`\alpha = 0` (no correction), so that the comparison isolates the
conservative term.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from textrec.agent.recommender import Recommender
from textrec.learners.configs import CQLConfig
from textrec.learners.functional import (
    conservative_penalty,
    distilled_actor_loss,
    feasible_share,
    head_entropies,
    head_values,
    masked_mean,
    soft_actor_loss,
    soft_values,
    td_target,
    temperature_loss,
)
from textrec.learners.offline import Forward, QLearner
from textrec.logs.reader import item_actions

__all__ = ["CQLLearner", "Temperatures", "cql_loss"]


class Temperatures(nn.Module):
    """The learned log-temperature of each attribute head (``cql`` with ``auto_tau``)."""

    def __init__(self, n_heads: int, tau: float) -> None:
        super().__init__()
        self.log_tau = nn.Parameter(torch.full((n_heads,), math.log(tau)))


class CQLLearner(QLearner):
    """Multi-head CQL + soft actor-critic of a :class:`~textrec.agent.Recommender` on logs."""

    name: ClassVar[str] = "cql"
    config: CQLConfig

    def __init__(
        self, recommender: Recommender, config: CQLConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__(recommender, config or CQLConfig(), seed)
        self.feasible = torch.as_tensor(item_actions(recommender.catalog))
        """``(F, K)`` the distinct action vectors of the catalog's items (``penalty='items'``
        and the ``policy/feasible`` metric)."""

    def extra_modules(self) -> dict[str, nn.Module]:
        """The target Q heads and, with ``auto_tau``, the learned temperatures."""
        extra = super().extra_modules()
        if self.config.auto_tau:
            n_heads = self.recommender.catalog.schema.n_attributes
            extra["temperature"] = Temperatures(n_heads, self.config.tau)
        return extra

    def loss(self, fwd: Forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Bellman error + alpha * conservative penalty + soft policy improvement (+ the
        temperatures' loss)."""
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
            self.extra["temperature"].log_tau if self.config.auto_tau else None,
            self.feasible,
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
    log_tau: torch.Tensor | None = None,
    feasible: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The multi-head CQL + soft actor-critic loss of ``N`` logged turns (``K`` heads).

    Args:
        q: ``K`` tensors ``(N, V_k)``, the Q heads in ``s_t`` (with gradient).
        target_next_q: the target heads in ``s_{t+1}``.
        logits: the policy heads in ``s_t`` (with gradient).
        next_logits: the policy heads in ``s_{t+1}`` (detached).
        actions: ``(N, K) int64`` logged values.
        rewards, dones, mask: ``(N,)``.
        cfg: ``alpha``, ``penalty``, ``gamma``, ``tau``, ``target_entropy``, ``actor_loss``.
        log_tau: ``(K,)`` learned log-temperatures (``cfg.auto_tau``): used, detached, in the
            target and the actor, and trained by :func:`temperature_loss` towards
            ``cfg.target_entropy * log V_k``; ``None``: the fixed ``cfg.tau`` for every head.
        feasible: ``(F, K) int64`` the catalog's distinct action vectors: required by
            ``penalty='items'``; given, ``policy/feasible`` reports the share of states whose
            actor's most probable value per head makes one of them (an item it can show).

    Returns:
        The loss and its named parts (``loss/bellman``, ``loss/cql``, ``loss/actor``, ...).
    """
    tau = torch.full((len(q),), cfg.tau) if log_tau is None else log_tau.detach().exp()
    q_data = head_values(q, actions)
    with torch.no_grad():
        v_next = soft_values(target_next_q, next_logits, tau)
        y = td_target(rewards, v_next, dones, cfg.gamma)
    bellman = 0.5 * masked_mean((q_data - y) ** 2, mask)
    penalty = conservative_penalty(cfg.penalty, q, actions, mask, logits=logits, feasible=feasible)
    improve = distilled_actor_loss if cfg.actor_loss == "forward_kl" else soft_actor_loss
    actor = improve(q, logits, tau, mask)
    loss = bellman + cfg.alpha * penalty + actor
    entropies = head_entropies(logits).detach()
    parts = {
        "loss/bellman": bellman,
        "loss/cql": penalty,
        "loss/actor": actor,
        "q/data": masked_mean(q_data, mask),
        "q/target": masked_mean(y, mask),
        "policy/entropy": masked_mean(entropies.sum(-1), mask),
        "policy/bonus": masked_mean((tau * entropies).sum(-1), mask),
    }
    if feasible is not None:
        parts["policy/feasible"] = masked_mean(feasible_share(logits, feasible), mask)
    if log_tau is not None:
        widths = torch.tensor([float(lg.shape[-1]) for lg in logits])
        temperature = temperature_loss(log_tau, logits, cfg.target_entropy * widths.log(), mask)
        loss = loss + temperature
        parts["loss/temperature"] = temperature
        parts.update({f"tau/{k}": t for k, t in enumerate(tau)})
    return loss, parts
