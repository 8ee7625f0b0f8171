"""Known answers of every assembled offline loss: ``bc``, ``cql`` (the three penalty forms, fixed
and learned temperatures, both actor losses), ``bcq`` and ``iql``, each against independent numpy
code on a tiny batch that bootstraps (some ``dones`` false), with target and online Q heads
holding different values and a non-zero entropy term. The losses' values and their gradients
(in the Q values, the policy logits, the value head and the log-temperatures) are checked, so
that a gradient sent where it must not go fails as surely as a wrong value.

Each check is a plain function of the ``make_recommender`` fixture (the pure-loss checks ignore
it) listed in :data:`CHECKS`: ``test_mutations.py`` runs the same checks with the losses broken
on purpose and requires each breakage to be caught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from textrec.learners.bc import bc_loss
from textrec.learners.bcq import bcq_loss
from textrec.learners.configs import BCQConfig, CQLConfig, IQLConfig
from textrec.learners.cql import cql_loss
from textrec.learners.iql import iql_loss
from textrec.learners.offline import Forward
from textrec.learners.registry import LEARNERS
from textrec.logs.reader import shown_actions

__all__ = ["CHECKS"]

SIZES = (3, 4, 2)
"""Head widths of the pure-loss batch."""
ACTIONS = np.array([[0, 3, 1], [2, -1, 0], [1, 1, -1], [0, 2, 1], [2, 0, 0]])
"""Five logged turns; ``-1``: the item had no value on that head."""
REWARDS = np.array([-1.0, 0.5, -0.25, -1.5, 2.0])
DONES = np.array([False, True, False, False, True])
"""Turns 0, 2 and 3 bootstrap."""
MASK = np.array([True, True, True, False, True])
"""Turn 3 is left out of every mean (its values still exist)."""
GAMMA = 0.9
FEASIBLE = np.array([[0, 3, 1], [2, 0, 0], [1, 1, 0], [0, 2, 1], [1, 2, 1], [2, 3, 0]])
"""The joint actions of the pure-loss batch's "items" (``penalty='items'``): six of the 24
combinations of :data:`SIZES`."""
LOG_TAU = np.log([0.3, 0.15, 0.6])
"""Learned log-temperatures, one per head (different, so that a head mix-up shows)."""


# ---------------------------------------------------------------- numpy references
def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _logsumexp(x: np.ndarray) -> float:
    return float(x.max() + np.log(np.exp(x - x.max()).sum()))


def _masked_mean(x: np.ndarray, mask: np.ndarray) -> float:
    return float(x[mask].mean())


def _logged_q(q: list[np.ndarray], actions: np.ndarray) -> np.ndarray:
    """Joint Q of the logged actions: the sum over heads with a value."""
    return np.array(
        [sum(q[k][i, a] for k, a in enumerate(actions[i]) if a >= 0) for i in range(len(actions))]
    )


def _entropy(logits: np.ndarray) -> np.ndarray:
    lp = _log_softmax(logits)
    return -(np.exp(lp) * lp).sum(-1)


def _reference_cql(
    q,
    tq,
    lg,
    nlg,
    actions,
    rewards,
    dones,
    mask,
    gamma,
    taus,
    alpha,
    penalty,
    target_ratio=None,
    actor_loss="reverse_kl",
    feasible=FEASIBLE,
) -> tuple[float, list[np.ndarray], list[np.ndarray], np.ndarray | None]:
    """The cql loss and its gradients in ``q``, ``lg`` and ``log tau``, written out per turn.
    The actor: Eq. 7, E_pi[tau log pi - Q] (``reverse_kl``), or KL(softmax(Q / tau) || pi)
    (``forward_kl``), whose gradient in the logits is pi - softmax(Q / tau)."""
    n, k_heads = len(actions), len(q)
    n_real = mask.sum()
    y = np.zeros(n)
    for i in range(n):
        v_next = 0.0
        for k in range(k_heads):
            lp = _log_softmax(nlg[k][i])
            v_next += (np.exp(lp) * (tq[k][i] - taus[k] * lp)).sum()
        y[i] = rewards[i] + (0.0 if dones[i] else gamma * v_next)
    q_data = _logged_q(q, actions)
    loss = 0.5 * _masked_mean((q_data - y) ** 2, mask)
    grad_q = [np.zeros_like(x) for x in q]
    grad_lg = [np.zeros_like(x) for x in lg]
    pen = 0.0
    for i in np.flatnonzero(mask):
        if penalty == "items":  # logsumexp over the items' joint actions, one term per state
            joint = np.array([sum(q[k][i, b[k]] for k in range(k_heads)) for b in feasible])
            pen += _logsumexp(joint) - q_data[i]
            weight = np.exp(joint - _logsumexp(joint))
            for k in range(k_heads):
                for b, w in zip(feasible, weight, strict=True):
                    grad_q[k][i, b[k]] += alpha * w / n_real
        for k in range(k_heads):
            a = actions[i, k]
            p = np.exp(_log_softmax(lg[k][i]))
            if a >= 0:
                grad_q[k][i, a] += (q_data[i] - y[i]) / n_real
                if penalty == "logsumexp":
                    pen += _logsumexp(q[k][i]) - q[k][i, a]
                    grad_q[k][i] += alpha * np.exp(_log_softmax(q[k][i])) / n_real
                elif penalty == "policy":
                    pen += (p * q[k][i]).sum() - q[k][i, a]
                    grad_q[k][i] += alpha * p / n_real
                grad_q[k][i, a] -= alpha / n_real
            if actor_loss == "forward_kl":
                log_target = _log_softmax(q[k][i] / taus[k])
                target = np.exp(log_target)
                loss += (target * (log_target - np.log(p))).sum() / n_real
                grad_lg[k][i] = (p - target) / n_real
            else:
                h = q[k][i] - taus[k] * np.log(p)
                loss -= (p * h).sum() / n_real  # the actor
                grad_lg[k][i] = -p * (h - (p * h).sum()) / n_real
    loss += alpha * pen / n_real
    grad_tau = None
    if target_ratio is not None:
        mean_h = np.array([_entropy(lg[k])[mask].mean() for k in range(k_heads)])
        excess = mean_h - target_ratio * np.log([x.shape[-1] for x in lg])
        loss += float((np.log(taus) * excess).sum())
        grad_tau = excess
    return loss, grad_q, grad_lg, grad_tau


# ---------------------------------------------------------------- the tiny batch
def _tensors(seed: int, scale: float = 1.0, grad: bool = False) -> list[torch.Tensor]:
    """One ``(N, V_k)`` float64 tensor per head of :data:`SIZES`."""
    g = np.random.default_rng(seed)
    return [
        torch.tensor(scale * g.normal(size=(len(ACTIONS), v)), requires_grad=grad) for v in SIZES
    ]


def _batch() -> dict[str, Any]:
    return {
        "q": _tensors(0, grad=True),
        "target_next_q": _tensors(1),  # not the online heads' values
        "logits": _tensors(2, 1.5, grad=True),
        "next_logits": _tensors(3, 1.5),
        "actions": torch.tensor(ACTIONS),
        "rewards": torch.tensor(REWARDS),
        "dones": torch.tensor(DONES),
        "mask": torch.tensor(MASK),
    }


def _numpy(tensors: list[torch.Tensor]) -> list[np.ndarray]:
    return [t.detach().numpy() for t in tensors]


def _grads(tensors: list[torch.Tensor]) -> list[np.ndarray]:
    return [np.zeros(t.shape) if t.grad is None else t.grad.numpy() for t in tensors]


def _assert_close(got: Any, want: Any, what: str) -> None:
    np.testing.assert_allclose(
        np.asarray(got, dtype=float), want, rtol=1e-5, atol=1e-8, err_msg=what
    )


# ---------------------------------------------------------------- checks of the pure losses
def _check_cql(penalty: str, auto_tau: bool, actor_loss: str = "reverse_kl") -> None:
    b = _batch()
    cfg = CQLConfig(
        alpha=0.7,
        gamma=GAMMA,
        tau=0.2,
        penalty=penalty,
        auto_tau=auto_tau,
        target_entropy=0.5,
        actor_loss=actor_loss,
    )
    log_tau = torch.tensor(LOG_TAU, requires_grad=True) if auto_tau else None
    loss, parts = cql_loss(**b, cfg=cfg, log_tau=log_tau, feasible=torch.tensor(FEASIBLE))
    loss.backward()
    taus = np.exp(LOG_TAU) if auto_tau else np.full(len(SIZES), 0.2)
    want, grad_q, grad_lg, grad_tau = _reference_cql(
        _numpy(b["q"]),
        _numpy(b["target_next_q"]),
        _numpy(b["logits"]),
        _numpy(b["next_logits"]),
        ACTIONS,
        REWARDS,
        DONES,
        MASK,
        GAMMA,
        taus,
        0.7,
        penalty,
        0.5 if auto_tau else None,
        actor_loss,
    )
    assert float(parts["policy/entropy"]) > 1.0, "the entropy term must not vanish"
    _assert_close(loss.item(), want, "cql loss")
    for k in range(len(SIZES)):
        _assert_close(_grads(b["q"])[k], grad_q[k], f"d loss / d q_{k}")
        _assert_close(_grads(b["logits"])[k], grad_lg[k], f"d loss / d logits_{k}")
    if auto_tau:
        assert log_tau is not None and log_tau.grad is not None
        _assert_close(log_tau.grad.numpy(), grad_tau, "d loss / d log tau")


def check_cql_logsumexp(make_recommender: Callable[..., Any]) -> None:
    """CQL(H)'s logsumexp penalty, fixed temperature."""
    _check_cql("logsumexp", auto_tau=False)


def check_cql_policy(make_recommender: Callable[..., Any]) -> None:
    """The paper's Eq. 6 penalty (E_pi Q - Q(data)), fixed temperature."""
    _check_cql("policy", auto_tau=False)


def check_cql_items(make_recommender: Callable[..., Any]) -> None:
    """CQL(H) over the items' joint actions (``penalty='items'``), fixed temperature."""
    _check_cql("items", auto_tau=False)


def check_cql_auto_tau(make_recommender: Callable[..., Any]) -> None:
    """Learned per-head temperatures: used in target and actor, trained towards the target."""
    _check_cql("logsumexp", auto_tau=True)


def check_cql_forward_kl(make_recommender: Callable[..., Any]) -> None:
    """The distilling actor, KL(softmax(Q_k / tau_k) || pi_k), with the learned temperatures."""
    _check_cql("logsumexp", auto_tau=True, actor_loss="forward_kl")


def check_bc(make_recommender: Callable[..., Any]) -> None:
    """Mean cross-entropy over the kept (turn, head) pairs with a value."""
    b = _batch()
    keep = torch.tensor(MASK & np.array([True, True, False, True, True]))
    loss, _ = bc_loss(b["logits"], b["actions"], keep)
    loss.backward()
    lg = _numpy(b["logits"])
    pairs = [(i, k) for i in np.flatnonzero(keep.numpy()) for k in range(3) if ACTIONS[i, k] >= 0]
    want = -np.mean([_log_softmax(lg[k][i])[ACTIONS[i, k]] for i, k in pairs])
    grad = [np.zeros_like(x) for x in lg]
    for i, k in pairs:
        grad[k][i] += np.exp(_log_softmax(lg[k][i])) / len(pairs)
        grad[k][i, ACTIONS[i, k]] -= 1.0 / len(pairs)
    _assert_close(loss.item(), want, "bc loss")
    for k in range(len(SIZES)):
        _assert_close(_grads(b["logits"])[k], grad[k], f"d loss / d logits_{k}")


def check_bcq(make_recommender: Callable[..., Any]) -> None:
    """Bellman error towards the target heads' value of the allowed online argmax, plus BC."""
    b = _batch()
    next_q = _tensors(4)  # online heads in s': choose a', the target heads value it
    cfg = BCQConfig(gamma=GAMMA, threshold=0.4)
    loss, _ = bcq_loss(
        b["q"], next_q, b["target_next_q"], b["logits"], b["next_logits"], b["actions"],
        b["rewards"], b["dones"], b["mask"], cfg,
    )  # fmt: skip
    loss.backward()
    q, tq, nq = _numpy(b["q"]), _numpy(b["target_next_q"]), _numpy(next_q)
    lg, nlg = _numpy(b["logits"]), _numpy(b["next_logits"])
    n_real = MASK.sum()
    y = np.zeros(len(ACTIONS))
    for i in range(len(ACTIONS)):
        v_next = 0.0
        for k in range(len(SIZES)):
            p = np.exp(_log_softmax(nlg[k][i]))
            allowed = np.flatnonzero(p >= 0.4 * p.max())
            v_next += tq[k][i, allowed[np.argmax(nq[k][i, allowed])]]
        y[i] = REWARDS[i] + (0.0 if DONES[i] else GAMMA * v_next)
    q_data = _logged_q(q, ACTIONS)
    pairs = [(i, k) for i in np.flatnonzero(MASK) for k in range(3) if ACTIONS[i, k] >= 0]
    bc = -np.mean([_log_softmax(lg[k][i])[ACTIONS[i, k]] for i, k in pairs])
    _assert_close(loss.item(), 0.5 * _masked_mean((q_data - y) ** 2, MASK) + bc, "bcq loss")
    for i, k in pairs:
        want = (q_data[i] - y[i]) / n_real
        _assert_close(_grads(b["q"])[k][i, ACTIONS[i, k]], want, f"d loss / d q_{k}[{i}]")


def check_iql(make_recommender: Callable[..., Any]) -> None:
    """Bellman error towards V(s'), expectile regression of V on the target heads' logged value,
    advantage-weighted cloning (weights without gradient)."""
    b = _batch()
    target_q = _tensors(5)
    v = torch.tensor([0.3, -0.8, 1.1, 0.0, -0.2], dtype=torch.float64, requires_grad=True)
    v_next = torch.tensor([0.7, -0.5, 0.2, 0.4, 1.3], dtype=torch.float64)
    cfg = IQLConfig(gamma=GAMMA, expectile=0.7, beta=2.0, max_weight=5.0)
    loss, _ = iql_loss(
        b["q"], target_q, v, v_next, b["logits"], b["actions"], b["rewards"], b["dones"],
        b["mask"], cfg,
    )  # fmt: skip
    loss.backward()
    q, tq, lg = _numpy(b["q"]), _numpy(target_q), _numpy(b["logits"])
    vv, vn = v.detach().numpy(), v_next.numpy()
    n_real = MASK.sum()
    y = REWARDS + GAMMA * ~DONES * vn
    q_data, q_target = _logged_q(q, ACTIONS), _logged_q(tq, ACTIONS)
    u = q_target - vv
    kappa = np.where(u < 0, 0.3, 0.7)
    weight = np.minimum(np.exp(2.0 * u), 5.0)
    log_prob = np.array(
        [
            sum(_log_softmax(lg[k][i])[a] for k, a in enumerate(ACTIONS[i]) if a >= 0)
            for i in range(len(ACTIONS))
        ]
    )
    want = (
        0.5 * _masked_mean((q_data - y) ** 2, MASK)
        + _masked_mean(kappa * u**2, MASK)
        - _masked_mean(weight * log_prob, MASK)
    )
    _assert_close(loss.item(), want, "iql loss")
    _assert_close(v.grad.numpy(), np.where(MASK, -2.0 * kappa * u / n_real, 0.0), "d loss / d V")
    for i in np.flatnonzero(MASK):
        for k, a in enumerate(ACTIONS[i]):
            grad_lg = weight[i] * np.exp(_log_softmax(lg[k][i])) / n_real
            if a >= 0:
                grad_lg[a] -= weight[i] / n_real
                want_q = (q_data[i] - y[i]) / n_real
                _assert_close(_grads(b["q"])[k][i, a], want_q, f"d loss / d q_{k}[{i}]")
            else:
                grad_lg = np.zeros_like(grad_lg)
            _assert_close(_grads(b["logits"])[k][i], grad_lg, f"d loss / d logits_{k}[{i}]")


# ---------------------------------------------------------------- end to end: learner.loss
def _forward(rec: Any) -> Forward:
    """Four logged turns of two dialogues over seven states: dialogue A is s0 -> s1 -> s2 -> s3
    (turns 0-2; turn 2 ends it), dialogue B is s4 -> s5 -> s6 (turns 3-4; turn 4 ends it only
    when ``dones`` says so: here it bootstraps, the log was cut)."""
    g = torch.Generator().manual_seed(7)
    states = torch.randn(7, rec.state_dim, generator=g)
    with torch.no_grad():
        heads = rec.heads(states)
    sizes = rec.catalog.schema.sizes
    actions = torch.stack([torch.randint(0, s, (5,), generator=g) for s in sizes], dim=-1)
    actions[1, 0] = -1
    return Forward(
        states=states,
        before=torch.tensor([0, 1, 2, 4, 5]),
        after=torch.tensor([1, 2, 3, 5, 6]),
        heads=heads,
        actions=actions,
        rewards=torch.tensor([-1.0, -1.0, 3.0, -1.0, -0.5]),
        dones=torch.tensor([False, False, True, False, False]),
        success=torch.tensor([True, True, True, False, False]),
        mask=torch.ones(5, dtype=torch.bool),
    )


def _learner(make_recommender: Callable[..., Any], algo: str, options: dict[str, Any]) -> Any:
    """A learner whose target heads differ from its online Q heads (as after some training)."""
    learner = LEARNERS[algo].build(make_recommender(), {"gamma": GAMMA, **options})
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in learner.extra["target_q"].parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g))
    return learner


def _e2e_inputs(learner: Any, fwd: Forward) -> dict[str, Any]:
    """The networks' outputs in every state, as numpy, read directly from the modules."""
    with torch.no_grad():
        return {
            "q": _numpy(learner.recommender.q(fwd.states)),
            "tq": _numpy(learner.extra["target_q"](fwd.states)),
            "lg": _numpy(fwd.heads.logits),
        }


def _e2e_cql(
    make_recommender: Callable[..., Any], penalty: str, auto_tau: bool, actor_loss: str
) -> None:
    learner = _learner(
        make_recommender,
        "cql",
        {
            "alpha": 0.7,
            "tau": 0.2,
            "penalty": penalty,
            "auto_tau": auto_tau,
            "actor_loss": actor_loss,
        },
    )
    n_heads = learner.recommender.catalog.schema.n_attributes
    log_tau = np.linspace(-2.0, 0.0, n_heads)
    if auto_tau:
        with torch.no_grad():
            learner.extra["temperature"].log_tau.copy_(torch.tensor(log_tau))
    fwd = _forward(learner.recommender)
    loss, _ = learner.loss(fwd)
    x = _e2e_inputs(learner, fwd)
    before, after = fwd.before.numpy(), fwd.after.numpy()
    taus = np.exp(log_tau) if auto_tau else np.full(n_heads, 0.2)
    want, *_ = _reference_cql(
        [q[before] for q in x["q"]],
        [q[after] for q in x["tq"]],
        [lg[before] for lg in x["lg"]],
        [lg[after] for lg in x["lg"]],
        fwd.actions.numpy(),
        fwd.rewards.numpy(),
        fwd.dones.numpy(),
        np.ones(5, dtype=bool),
        GAMMA,
        taus,
        0.7,
        penalty,
        learner.config.target_entropy if auto_tau else None,
        actor_loss,
        np.unique(shown_actions(learner.recommender.catalog), axis=0),
    )
    np.testing.assert_allclose(loss.item(), want, rtol=1e-4, err_msg="cql learner.loss")


def check_cql_learner(make_recommender: Callable[..., Any]) -> None:
    """``CQLLearner.loss`` of a Forward: s_t / s_{t+1} rows, target heads, next policy."""
    _e2e_cql(make_recommender, "policy", auto_tau=False, actor_loss="reverse_kl")


def check_cql_learner_items(make_recommender: Callable[..., Any]) -> None:
    """``CQLLearner.loss`` with the items penalty: the joint actions of its catalog's items."""
    _e2e_cql(make_recommender, "items", auto_tau=False, actor_loss="forward_kl")


def check_cql_learner_auto_tau(make_recommender: Callable[..., Any]) -> None:
    """``CQLLearner.loss`` with its learned temperatures (the extra module's), distilling actor."""
    _e2e_cql(make_recommender, "logsumexp", auto_tau=True, actor_loss="forward_kl")


def check_bcq_learner(make_recommender: Callable[..., Any]) -> None:
    """``BCQLearner.loss``: online heads choose a' in s', target heads value it."""
    learner = _learner(make_recommender, "bcq", {"threshold": 0.2})
    fwd = _forward(learner.recommender)
    loss, parts = learner.loss(fwd)
    x = _e2e_inputs(learner, fwd)
    before, after = fwd.before.numpy(), fwd.after.numpy()
    actions, rewards, dones = fwd.actions.numpy(), fwd.rewards.numpy(), fwd.dones.numpy()
    y = np.zeros(5)
    for i in range(5):
        v_next = 0.0
        for k in range(len(x["q"])):
            p = np.exp(_log_softmax(x["lg"][k][after[i]]))
            allowed = np.flatnonzero(p >= 0.2 * p.max())
            best = allowed[np.argmax(x["q"][k][after[i], allowed])]
            v_next += x["tq"][k][after[i], best]
        y[i] = rewards[i] + (0.0 if dones[i] else GAMMA * v_next)
    q_data = _logged_q([q[before] for q in x["q"]], actions)
    want = 0.5 * np.mean((q_data - y) ** 2)
    np.testing.assert_allclose(parts["loss/bellman"].item(), want, rtol=1e-4, err_msg="bcq")
    np.testing.assert_allclose(parts["q/target"].item(), y.mean(), rtol=1e-4, err_msg="bcq y")


def check_iql_learner(make_recommender: Callable[..., Any]) -> None:
    """``IQLLearner.loss``: V(s') from the value head, the target heads' logged value in s_t."""
    learner = _learner(make_recommender, "iql", {"expectile": 0.7, "beta": 2.0})
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():  # a value head far from its initialisation, as after training
        for p in learner.extra["value"].parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    fwd = _forward(learner.recommender)
    loss, parts = learner.loss(fwd)
    x = _e2e_inputs(learner, fwd)
    with torch.no_grad():
        values = learner.extra["value"](fwd.states).numpy()
    before, after = fwd.before.numpy(), fwd.after.numpy()
    actions, rewards, dones = fwd.actions.numpy(), fwd.rewards.numpy(), fwd.dones.numpy()
    y = rewards + GAMMA * ~dones * values[after]
    q_data = _logged_q([q[before] for q in x["q"]], actions)
    u = _logged_q([q[before] for q in x["tq"]], actions) - values[before]
    weight = np.minimum(np.exp(2.0 * u), learner.config.max_weight)
    log_prob = np.array(
        [
            sum(_log_softmax(x["lg"][k][before[i]])[a] for k, a in enumerate(actions[i]) if a >= 0)
            for i in range(5)
        ]
    )
    want = {
        "loss/bellman": 0.5 * np.mean((q_data - y) ** 2),
        "loss/value": np.mean(np.where(u < 0, 0.3, 0.7) * u**2),
        "loss/actor": -np.mean(weight * log_prob),
    }
    for name, value in want.items():
        np.testing.assert_allclose(parts[name].item(), value, rtol=1e-4, err_msg=name)
    np.testing.assert_allclose(loss.item(), sum(want.values()), rtol=1e-4, err_msg="iql loss")


def check_bc_learner(make_recommender: Callable[..., Any]) -> None:
    """``BCLearner.loss`` with ``successful_only``: only dialogue A's turns are imitated."""
    learner = LEARNERS["bc"].build(make_recommender(), {"successful_only": True})
    fwd = _forward(learner.recommender)
    loss, _ = learner.loss(fwd)
    lg, actions = _numpy(fwd.heads.logits), fwd.actions.numpy()
    pairs = [(i, k) for i in range(3) for k in range(len(lg)) if actions[i, k] >= 0]
    before = fwd.before.numpy()
    want = -np.mean([_log_softmax(lg[k][before[i]])[actions[i, k]] for i, k in pairs])
    np.testing.assert_allclose(loss.item(), want, rtol=1e-5, err_msg="bc learner.loss")


CHECKS: tuple[Callable[[Callable[..., Any]], None], ...] = (
    check_bc,
    check_cql_logsumexp,
    check_cql_policy,
    check_cql_items,
    check_cql_auto_tau,
    check_cql_forward_kl,
    check_bcq,
    check_iql,
    check_bc_learner,
    check_cql_learner,
    check_cql_learner_items,
    check_cql_learner_auto_tau,
    check_bcq_learner,
    check_iql_learner,
)
"""Every known-answer check, in the order the mutation table lists them."""


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_known_answer(check, make_recommender):
    check(make_recommender)
