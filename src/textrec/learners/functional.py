"""Shared learner maths as pure functions: multi-head log-probabilities and entropy, GAE, TD
targets, discounted returns, Polyak averaging, the per-head CQL penalties, the soft actor and its
temperatures.

A multi-discrete action is one value per attribute head, ``a = (a_1, ..., a_K)``; the policy
factorises as ``pi(a | s) = prod_k pi_k(a_k | s)``. Logits and Q values are lists of ``K`` tensors,
head ``k`` of width ``V_k``. A logged action may lack a value for a head (``-1``: the shown item
has no label for that attribute); such heads are left out of sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from textrec.errors import InputError

__all__ = [
    "head_log_probs",
    "multi_head_log_prob",
    "head_entropies",
    "multi_head_entropy",
    "masked_mean",
    "normalise",
    "gae",
    "clipped_surrogate",
    "td_target",
    "discounted_returns",
    "polyak_update",
    "cql_penalty",
    "policy_penalty",
    "item_penalty",
    "conservative_penalty",
    "feasible_share",
    "row_numbers",
    "head_values",
    "request_tracking_loss",
    "soft_values",
    "distilled_actor_loss",
    "soft_actor_loss",
    "temperature_loss",
    "expectile_loss",
]


def head_log_probs(logits: Sequence[torch.Tensor], actions: torch.Tensor) -> torch.Tensor:
    r"""Per-head log-probabilities :math:`\log\pi_k(a_k|s)`; ``0`` where ``a_k = -1``.

    Args:
        logits: ``K`` tensors ``(..., V_k)``.
        actions: ``(..., K) int64`` local value per head; ``-1`` heads are skipped.

    Returns:
        ``(..., K)``.
    """
    out = []
    for k, lg in enumerate(logits):
        a = actions[..., k]
        logp = torch.log_softmax(lg, dim=-1).gather(-1, a.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        out.append(torch.where(a >= 0, logp, torch.zeros_like(logp)))
    return torch.stack(out, dim=-1)


def multi_head_log_prob(logits: Sequence[torch.Tensor], actions: torch.Tensor) -> torch.Tensor:
    r"""Log-probability ``(...)`` of a multi-head action, :math:`\sum_k \log\pi_k(a_k|s)`.

    Heads whose action is ``-1`` are skipped (see :func:`head_log_probs`).
    """
    return head_log_probs(logits, actions).sum(dim=-1)


def head_entropies(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""Entropy of each head, :math:`H(\pi_k) = -\sum_v \pi_k(v) \log\pi_k(v)`; ``(..., K)``."""
    out = []
    for lg in logits:
        logp = torch.log_softmax(lg, dim=-1)
        out.append(-(logp.exp() * logp).sum(dim=-1))
    return torch.stack(out, dim=-1)


def multi_head_entropy(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""Entropy of the factorised policy, :math:`H(\pi) = \sum_k H(\pi_k)`; ``(...)``."""
    return head_entropies(logits).sum(dim=-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` (same shape, bool) is true."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


def normalise(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``(x - mean) / (std + eps)`` with statistics over ``mask``; masked-out entries become 0."""
    mean = masked_mean(x, mask)
    std = masked_mean((x - mean) ** 2, mask).sqrt()
    return torch.where(mask, (x - mean) / (std + eps), torch.zeros_like(x))


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    mask: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Generalised advantage estimation over padded episodes.

    :math:`\delta_t = r_t + \gamma (1 - d_t) V(s_{t+1}) - V(s_t)`,
    :math:`A_t = \delta_t + \gamma \lambda (1 - d_t) A_{t+1}`; returns :math:`R_t = A_t + V(s_t)`.

    Args:
        rewards: ``(B, T)``.
        values: ``(B, T + 1)`` state values ``V(s_0) .. V(s_T)``.
        dones: ``(B, T) bool``: the episode ended at turn ``t`` (no bootstrap past it).
        mask: ``(B, T) bool``: turn ``t`` happened.
        gamma: discount factor.
        lam: GAE's :math:`\lambda` (1 = Monte-Carlo returns minus a baseline, 0 = one-step TD).

    Returns:
        ``(advantages, returns)``, both ``(B, T)``, zero where ``mask`` is false.
    """
    not_done = (~dones).to(rewards.dtype)
    m = mask.to(rewards.dtype)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        delta = rewards[:, t] + gamma * not_done[:, t] * values[:, t + 1] - values[:, t]
        running = (delta + gamma * lam * not_done[:, t] * running) * m[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values[:, :-1]) * m


def clipped_surrogate(
    log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor, clip: float
) -> torch.Tensor:
    r"""PPO's clipped objective per sample (to be maximised).

    :math:`\min(\rho A, \mathrm{clip}(\rho, 1-\epsilon, 1+\epsilon) A)` with
    :math:`\rho = \exp(\log\pi - \log\pi_{old})`; at :math:`\rho = 1` its gradient is the plain
    policy gradient :math:`A \nabla\log\pi`.
    """
    ratio = torch.exp(log_probs - old_log_probs)
    return torch.minimum(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages)


def td_target(
    rewards: torch.Tensor, next_values: torch.Tensor, dones: torch.Tensor, gamma: float
) -> torch.Tensor:
    r"""One-step target :math:`y = r + \gamma (1 - d) V(s')`; all inputs share one shape."""
    return rewards + gamma * (~dones).to(rewards.dtype) * next_values


def discounted_returns(
    rewards: torch.Tensor, dones: torch.Tensor, mask: torch.Tensor, gamma: float
) -> torch.Tensor:
    r"""Monte-Carlo return-to-go of logged dialogues, :math:`G_t = \sum_{j \ge t} \gamma^{j-t}
    r_j` summed up to the end of ``t``'s episode (the first ``j \ge t`` with :math:`d_j`).

    Vectorised: :math:`G_{bt} = \sum_j W_{btj} r_{bj}` with :math:`W_{btj} = \gamma^{j-t}` where
    :math:`j \ge t` and no episode ends in :math:`[t, j)` (equal counts of ends before ``t`` and
    before ``j``), else 0. Same recursion as :math:`G_t = r_t + \gamma (1 - d_t) G_{t+1}`.

    Args:
        rewards: ``(B, T)``.
        dones: ``(B, T) bool``: an episode ended at turn ``t``.
        mask: ``(B, T) bool``: turn ``t`` happened (padding's rewards are left out).
        gamma: discount factor.

    Returns:
        ``(B, T)``, zero where ``mask`` is false.
    """
    t = rewards.shape[-1]
    lag = torch.arange(t).unsqueeze(0) - torch.arange(t).unsqueeze(1)  # [t, j] = j - t
    d = dones.to(torch.int64)
    ends_before = torch.cumsum(d, dim=-1) - d
    same_episode = ends_before.unsqueeze(-1) == ends_before.unsqueeze(-2)  # (B, t, j)
    discount = torch.tensor(gamma, dtype=rewards.dtype) ** lag.clamp_min(0).to(rewards.dtype)
    weights = torch.where((lag >= 0) & same_episode, discount, torch.zeros_like(discount))
    r = torch.where(mask, rewards, torch.zeros_like(rewards))
    returns = (weights * r.unsqueeze(-2)).sum(dim=-1)
    return torch.where(mask, returns, torch.zeros_like(returns))


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    r"""In place, :math:`\theta' \leftarrow (1 - \tau)\,\theta' + \tau\,\theta` (target, source)."""
    for t, s in zip(target.parameters(), source.parameters(), strict=True):
        t.lerp_(s, tau)


def cql_penalty(
    q_values: Sequence[torch.Tensor], actions: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    r"""Per-head conservative penalty (paper Eq. 6, one term per attribute head).

    :math:`\frac{1}{N}\sum_i \sum_k \big[\log\sum_v \exp Q_k(s_i, v) - Q_k(s_i, a_{ik})\big]`
    averaged over the ``N`` real states of ``mask`` only (padding does not dilute it), skipping
    heads whose logged value is ``-1``. ``q_values``: ``K`` tensors ``(..., V_k)``; ``actions``:
    ``(..., K) int64``; ``mask``: ``(...) bool``.
    """
    total = torch.zeros(actions.shape[:-1], dtype=q_values[0].dtype, device=actions.device)
    for k, q in enumerate(q_values):
        a = actions[..., k]
        data_q = q.gather(-1, a.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        term = torch.logsumexp(q, dim=-1) - data_q
        total = total + torch.where(a >= 0, term, torch.zeros_like(term))
    return masked_mean(total, mask)


def policy_penalty(
    q_values: Sequence[torch.Tensor],
    logits: Sequence[torch.Tensor],
    actions: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    r"""Per-head conservative penalty in the paper's Eq. 6 form, the policy's Q minus the data's.

    :math:`\frac{1}{N}\sum_i \sum_k \big[\mathbb{E}_{v \sim \pi_k(\cdot|s_i)} Q_k(s_i, v) -
    Q_k(s_i, a_{ik})\big]`, averaged over the real states of ``mask``, heads with logged value
    ``-1`` skipped. :math:`\pi` is held fixed (``logits`` detached here): Eq. 6 evaluates the
    current policy, so the penalty trains the Q heads only (the actor follows through its own
    loss). Unlike the logsumexp form it can be negative (where :math:`\pi` prefers the logged
    values) and is zero when :math:`\pi_k` is the logged value's point mass.
    """
    total = torch.zeros(actions.shape[:-1], dtype=q_values[0].dtype, device=actions.device)
    for k, (q, lg) in enumerate(zip(q_values, logits, strict=True)):
        a = actions[..., k]
        data_q = q.gather(-1, a.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        policy_q = (torch.softmax(lg.detach(), dim=-1) * q).sum(dim=-1)
        term = policy_q - data_q
        total = total + torch.where(a >= 0, term, torch.zeros_like(term))
    return masked_mean(total, mask)


def item_penalty(
    q_values: Sequence[torch.Tensor],
    actions: torch.Tensor,
    feasible: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    r"""CQL(H)'s penalty over the joint actions the catalog can take, not the product of the heads.

    :math:`\frac{1}{N}\sum_i \big[\log\sum_{b \in \mathcal{A}} \exp Q(s_i, b) - Q(s_i, a_i)\big]`
    with :math:`Q(s, b) = \sum_k Q_k(s, b_k)` and :math:`\mathcal{A}` the distinct action vectors
    of the catalog's items (``feasible``), averaged over the real states of ``mask``; heads with
    logged value ``-1`` are left out of :math:`Q(s_i, a_i)` as in :func:`head_values`.

    Over the full product of the heads the joint logsumexp factorises, :math:`\log\sum_b
    \exp\sum_k Q_k(b_k) = \sum_k \log\sum_v \exp Q_k(v)`: that is :func:`cql_penalty`, whose
    head ``k`` term is a cross-entropy that pulls :math:`Q_k` towards the log-frequency of the
    logged values of head ``k`` alone. Correlated heads (a subcategory fixes its category) let
    the Bellman error, which sees only the sums of real actions, hand that pull on to another
    head: raising :math:`Q_{\text{category}}(\text{Shoes})` by ``c`` is undone by lowering the
    logged shoe subcategories by ``c``, which lifts the never-logged pairs (Shoes with a slipper
    subcategory) above every real item. Over real items only, moving ``c`` from one head to a
    value of another that always comes with it leaves every term unchanged, so the penalty has
    no such pull.

    Args:
        q_values: ``K`` tensors ``(N, V_k)``.
        actions: ``(N, K) int64`` logged values (``-1``: none).
        feasible: ``(F, K) int64`` the catalog's distinct action vectors (values ``>= 0``).
        mask: ``(N,) bool`` real states.
    """
    log_sum = _item_logsumexp(list(q_values), feasible)
    return masked_mean(log_sum - head_values(q_values, actions), mask)


def _item_logsumexp(q_values: list[torch.Tensor], feasible: torch.Tensor) -> torch.Tensor:
    r""":math:`\log\sum_{b \in \mathcal{A}} \exp Q(s, b)`, ``(...)``, over the ``F`` rows of
    ``feasible``, with :math:`Q(s, b) = \sum_k Q_k(s, b_k)` for every ``b`` at once by a matmul:
    ``[Q_1 .. Q_K] (..., Σ V_k)`` times the items' one-hot codes ``(F, Σ V_k)`` (a matmul's
    backward is one too, where indexing's scatters, ~5x slower), ``N·F·Σ_k V_k`` operations.

    When one head ``h`` holds most of the values and the others few combinations
    (:math:`4 \prod_{k \ne h} V_k \le F`: UT-Zappos' brand, 685 of 722 values, beside
    4 × 21 × 12 combinations of the others), head ``h`` is summed out first inside the ``G``
    groups of items that agree on the other heads ``r_g``:

    .. math::
        \log\sum_{g} \exp\Big[\sum_{k \ne h} Q_k(s, r_{gk}) + m + \log\sum_{v:\,(r_g, v)
        \in \mathcal{A}} \exp\big(Q_h(s, v) - m\big)\Big],\qquad m = \max_v Q_h(s, v),

    the same number with ``N·G·Σ_k V_k`` operations (UT-Zappos: ``G`` = 276 against ``F`` =
    10,543, ~10x faster a step with the backward). Its exponentials are in float64, so a group
    is lost to underflow only ~700 below the row's best value of head ``h``.
    """
    sizes = [q.shape[-1] for q in q_values]
    h = max(range(len(sizes)), key=sizes.__getitem__)
    rest = [k for k in range(len(sizes)) if k != h]
    strides = [1]
    for k in rest:
        strides.append(strides[-1] * sizes[k])
    if 4 * strides[-1] > len(feasible):  # few items per combination of the other heads: flat
        codes = torch.cat(
            [nn.functional.one_hot(feasible[:, k], v) for k, v in enumerate(sizes)], dim=-1
        ).to(q_values[0].dtype)
        return torch.logsumexp(torch.cat(q_values, dim=-1) @ codes.T, dim=-1)  # (..., F)
    key = sum(feasible[:, k] * stride for k, stride in zip(rest, strides, strict=False))
    groups, member = torch.unique(key, return_inverse=True)  # (G,), (F,)
    incidence = torch.zeros(sizes[h], len(groups), dtype=torch.float64, device=feasible.device)
    incidence[feasible[:, h], member] = 1.0
    top = q_values[h].detach().amax(dim=-1, keepdim=True)
    joint = torch.log((q_values[h] - top).double().exp() @ incidence).to(top.dtype) + top
    if rest:
        codes = torch.cat(
            [
                nn.functional.one_hot(
                    torch.div(groups, stride, rounding_mode="floor") % sizes[k], sizes[k]
                )
                for k, stride in zip(rest, strides, strict=False)
            ],
            dim=-1,
        ).to(q_values[0].dtype)
        joint = joint + torch.cat([q_values[k] for k in rest], dim=-1) @ codes.T  # (..., G)
    return torch.logsumexp(joint, dim=-1)


def conservative_penalty(
    form: str,
    q_values: Sequence[torch.Tensor],
    actions: torch.Tensor,
    mask: torch.Tensor,
    *,
    logits: Sequence[torch.Tensor] | None = None,
    feasible: torch.Tensor | None = None,
) -> torch.Tensor:
    """The conservative penalty in the form ``form`` (:attr:`~textrec.learners.configs.CQLConfig
    .penalty`): ``'items'`` :func:`item_penalty` over ``feasible`` ``(F, K)``, ``'policy'``
    :func:`policy_penalty` under the policy of ``logits``, ``'logsumexp'`` :func:`cql_penalty`.
    The one choice of form for the ``cql`` learner and the ``cql`` critic of off-policy
    evaluation; :class:`InputError` when the form's input is missing or the form unknown."""
    if form == "items":
        if feasible is None:
            raise InputError("penalty 'items' needs the catalog's item action vectors (feasible)")
        return item_penalty(q_values, actions, feasible, mask)
    if form == "policy":
        if logits is None:
            raise InputError("penalty 'policy' needs the policy's logits")
        return policy_penalty(q_values, logits, actions, mask)
    if form == "logsumexp":
        return cql_penalty(q_values, actions, mask)
    raise InputError(f"unknown penalty form {form!r}; choose 'items', 'policy' or 'logsumexp'")


def row_numbers(rows: torch.Tensor) -> torch.Tensor:
    """``(M,) int64`` numbers of the rows of ``rows`` ``(M, K)`` (integers >= -1), equal exactly
    for equal rows: each row's values (shifted by one) read in mixed radix, or, where that number
    would overflow int64, the row's rank among the distinct rows (a sort)."""
    shifted = rows + 1
    radix = [int(r) + 1 for r in shifted.amax(dim=0)]
    if math.prod(radix) >= 2**63:
        return torch.unique(shifted, dim=0, return_inverse=True)[1]
    strides = torch.tensor([math.prod(radix[:k]) for k in range(len(radix))])
    return (shifted * strides).sum(dim=-1)


def feasible_share(logits: Sequence[torch.Tensor], feasible: torch.Tensor) -> torch.Tensor:
    r"""Whether each state's most probable value per head, :math:`(\arg\max_v \pi_k(v|s))_k`,
    is one of the ``feasible`` ``(F, K)`` action vectors (an item the catalog has); ``(N,)``
    float 0/1. A factorised actor can prefer a combination no item has (Shoes with a slipper
    subcategory): retrieval then finds no item that matches its heads."""
    best = torch.stack([lg.detach().argmax(dim=-1) for lg in logits], dim=-1)  # (..., K)
    rows = best.reshape(-1, best.shape[-1])
    # one number per row, then one membership test (not the (N, F, K) comparison, which took
    # 0.8 s of a 1.4 s UT-Zappos step)
    number = row_numbers(torch.cat([rows, feasible.to(rows.dtype)]))
    found = torch.isin(number[: len(rows)], number[len(rows) :])
    return found.reshape(best.shape[:-1]).to(logits[0].dtype)


def head_values(q_values: Sequence[torch.Tensor], actions: torch.Tensor) -> torch.Tensor:
    r"""Joint :math:`Q(s, a) = \sum_k Q_k(s, a_k)` ``(...)``, heads with ``a_k = -1`` left out."""
    total = torch.zeros(actions.shape[:-1], dtype=q_values[0].dtype, device=actions.device)
    for k, q in enumerate(q_values):
        a = actions[..., k]
        qa = q.gather(-1, a.clamp_min(0).unsqueeze(-1)).squeeze(-1)
        total = total + torch.where(a >= 0, qa, torch.zeros_like(qa))
    return total


def soft_values(
    q_values: Sequence[torch.Tensor],
    logits: Sequence[torch.Tensor],
    tau: float | torch.Tensor,
) -> torch.Tensor:
    r"""Soft state value of a factorised policy, :math:`V(s) = \sum_k \mathbb{E}_{v \sim \pi_k}
    [Q_k(s, v) - \tau_k \log\pi_k(v|s)]` with :math:`\pi_k = \mathrm{softmax}` of
    ``logits[k]``; ``(...)``. ``tau``: one temperature for every head, or ``(K,)`` one per head."""
    taus = tau if isinstance(tau, torch.Tensor) else torch.full((len(logits),), float(tau))
    total = torch.zeros(q_values[0].shape[:-1], dtype=q_values[0].dtype)
    for k, (q, lg) in enumerate(zip(q_values, logits, strict=True)):
        logp = torch.log_softmax(lg, dim=-1)
        total = total + (logp.exp() * (q - taus[k] * logp)).sum(dim=-1)
    return total


def soft_actor_loss(
    q_values: Sequence[torch.Tensor],
    logits: Sequence[torch.Tensor],
    tau: float | torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    r"""Soft policy improvement (paper Eq. 7) per head, the critic held fixed:
    :math:`\frac{1}{N}\sum_i \sum_k \mathbb{E}_{v \sim \pi_k}[\tau_k \log\pi_k(v|s_i) -
    Q_k(s_i, v)]`, minimised by :math:`\pi_k \propto \exp(Q_k / \tau_k)`.

    ``q_values`` are detached here: the actor's gradient reaches the policy heads only, never
    the Q heads. ``tau`` as in :func:`soft_values` (detach a learned one before passing it).
    """
    return -masked_mean(soft_values([q.detach() for q in q_values], logits, tau), mask)


def distilled_actor_loss(
    q_values: Sequence[torch.Tensor],
    logits: Sequence[torch.Tensor],
    tau: float | torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    r"""Soft policy improvement by distillation: the forward KL from the soft-greedy policy of
    the critic to the actor, per head, the critic held fixed,

    .. math::
        \frac{1}{N}\sum_i \sum_k \mathrm{KL}\big(p_k(\cdot|s_i)\,\|\,\pi_k(\cdot|s_i)\big)
        = \frac{1}{N}\sum_i \sum_k \sum_v p_k(v|s_i)\,[\log p_k(v|s_i) - \log\pi_k(v|s_i)],
        \qquad p_k = \mathrm{softmax}(Q_k / \tau_k).

    Same minimiser as :func:`soft_actor_loss` (Eq. 7, which is :math:`\tau_k\,\mathrm{KL}(\pi_k
    \| p_k)` up to a term free of :math:`\pi`): :math:`\pi_k = p_k`. The gradient in head
    ``k``'s logits is :math:`\pi_k - p_k`, which does not vanish where :math:`\pi_k` is
    saturated (one-hot) on a value the critic does not prefer; Eq. 7's gradient,
    :math:`\pi_k \odot (\tau_k \log\pi_k - Q_k - \mathbb{E}_{\pi_k}[\tau_k\log\pi_k - Q_k])`, does
    (every term is multiplied by :math:`\pi_k(v) \approx 0` or by a centred value
    :math:`\approx 0`), so an actor that collapsed early stays on its early choice.

    ``q_values`` are detached here: the gradient reaches the policy heads only. ``tau`` as in
    :func:`soft_values` (detach a learned one before passing it).
    """
    taus = tau if isinstance(tau, torch.Tensor) else torch.full((len(logits),), float(tau))
    total = torch.zeros(logits[0].shape[:-1], dtype=logits[0].dtype)
    for k, (q, lg) in enumerate(zip(q_values, logits, strict=True)):
        log_target = torch.log_softmax(q.detach() / taus[k], dim=-1)
        logp = torch.log_softmax(lg, dim=-1)
        total = total + (log_target.exp() * (log_target - logp)).sum(dim=-1)
    return masked_mean(total, mask)


def temperature_loss(
    log_tau: torch.Tensor,
    logits: Sequence[torch.Tensor],
    target_entropy: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    r"""SAC-discrete's temperature objective (Christodoulou 2019), one temperature per head.

    :math:`\sum_k \log\tau_k \,\big(\frac{1}{N}\sum_i H(\pi_k(\cdot|s_i)) - \bar H_k\big)`
    with the entropies detached: a gradient step raises :math:`\tau_k` while head ``k``'s mean
    entropy is below its target :math:`\bar H_k` and lowers it while above (the gradient in
    :math:`\log\tau_k` is the entropy's excess over its target, so the step does not scale with
    :math:`\tau_k`).

    Args:
        log_tau: ``(K,)`` the learned log-temperatures (with gradient).
        logits: ``K`` tensors ``(N, V_k)``, the policy heads in the logged states.
        target_entropy: ``(K,)`` target entropy per head (nats).
        mask: ``(N,) bool`` real states.
    """
    entropy = head_entropies([lg.detach() for lg in logits])
    mean_entropy = torch.stack([masked_mean(entropy[..., k], mask) for k in range(len(logits))])
    return (log_tau * (mean_entropy - target_entropy)).sum()


def expectile_loss(diff: torch.Tensor, expectile: float) -> torch.Tensor:
    r"""IQL's asymmetric square :math:`|\kappa - \mathbb{1}(u < 0)|\,u^2` per element, ``u = diff``.

    Minimising its mean over ``V`` in ``u = x - V`` gives the ``expectile`` of ``x``; at 0.5 the
    mean (with weight 0.5).
    """
    weight = torch.where(diff < 0, 1.0 - expectile, expectile)
    return weight * diff**2


def request_tracking_loss(
    logits: Sequence[torch.Tensor],
    asked_logits: torch.Tensor,
    requests: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    r"""The request-tracking auxiliary loss shared by every learner.

    Cross-entropy of each policy head on the latest value asked for on its attribute,
    :math:`-\log\pi_k(u_{tk}|s_t)`, averaged over the (state, head) pairs with a request, plus
    the binary cross-entropy of the asked logits on "attribute ``k`` was asked for", averaged over
    the states of ``mask``.

    Args:
        logits: ``K`` tensors ``(..., V_k)``, the policy heads.
        asked_logits: ``(..., K)``.
        requests: ``(..., K) int64`` latest requested local value (``-1``: none yet).
        mask: ``(...) bool`` real states.
    """
    heard = (requests >= 0) & mask.unsqueeze(-1)
    track = -(head_log_probs(logits, requests) * heard).sum() / heard.sum().clamp_min(1)
    asked_bce = nn.functional.binary_cross_entropy_with_logits(
        asked_logits, (requests >= 0).to(asked_logits.dtype), reduction="none"
    )
    return track + masked_mean(asked_bce.mean(-1), mask)
