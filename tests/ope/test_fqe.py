"""FQE recovers a fixed policy's value on a small tabular MDP (two heads, two steps)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from textrec.errors import InputError
from textrec.learners.configs import CQLConfig
from textrec.ope.fqe import FQEConfig, FQEData, FQELearner, fit_fqe

# Two states then the absorbing one. Head 1 has 2 values, head 2 has 3; the reward is additive:
# R(s, a) = R1[s, a1] + R2[s, a2]. Every session visits s0 then s1 and ends.
R1 = np.array([[-1.0, -2.0], [1.0, 0.0]])
R2 = np.array([[0.0, -0.5, 0.5], [0.2, 0.0, -0.2]])
PI1 = np.array([[0.3, 0.7], [0.6, 0.4]])
PI2 = np.array([[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]])


def _true_values():
    v1 = PI1[1] @ R1[1] + PI2[1] @ R2[1]
    q1 = R1[1][:, None] + R2[1][None, :]
    q0 = R1[0][:, None] + R2[0][None, :] + v1
    return q0, q1, PI1[0] @ R1[0] + PI2[0] @ R2[0] + v1


def _log(n_sessions: int, seed: int) -> FQEData:
    """Sessions of a uniformly random behaviour policy, rows (s0, s1) per session."""
    rng = np.random.default_rng(seed)
    state = np.tile([0, 1], n_sessions)
    a1 = rng.integers(0, 2, 2 * n_sessions)
    a2 = rng.integers(0, 3, 2 * n_sessions)
    return FQEData(
        features=np.eye(2, dtype=np.float32)[state],
        actions=np.stack([a1, 2 + a2], axis=1),
        reward=(R1[state, a1] + R2[state, a2]).astype(np.float32),
        done=state == 1,
        target=np.concatenate([PI1[state], PI2[state]], axis=1).astype(np.float32),
        offsets=np.array([0, 2, 5]),
        feasible=np.array([[a, 2 + b] for a in range(2) for b in range(3)]),  # every combination
    )


def test_fqe_recovers_the_value_of_a_fixed_policy():
    torch.set_num_threads(1)
    data = _log(400, seed=0)
    fit = fit_fqe(data, FQEConfig(steps=1500, target_every=250, hidden=32, lr=3e-3), seed=0)
    q0, q1, v0 = _true_values()
    s0 = np.flatnonzero(data.features[:, 0] == 1)
    s1 = np.flatnonzero(data.features[:, 1] == 1)
    assert fit.v_state[s0].mean() == pytest.approx(v0, abs=0.05)
    a1, a2 = data.actions[:, 0], data.actions[:, 1] - 2
    np.testing.assert_allclose(fit.q_logged[s0], q0[a1[s0], a2[s0]], atol=0.1)
    np.testing.assert_allclose(fit.q_logged[s1], q1[a1[s1], a2[s1]], atol=0.1)


def test_fqe_is_reproducible():
    torch.set_num_threads(1)
    data = _log(50, seed=1)
    config = FQEConfig(steps=60, target_every=20, hidden=8)
    a, b = fit_fqe(data, config, seed=4), fit_fqe(data, config, seed=4)
    np.testing.assert_array_equal(a.v_state, b.v_state)


def test_conservative_fqe_is_below_fqe_where_the_log_is_thin():
    torch.set_num_threads(1)
    data = _log(400, seed=2)
    logged_zero = data.actions[:, 0] == 0
    keep = np.flatnonzero(~logged_zero | (np.arange(len(logged_zero)) % 10 == 0))
    sessions = np.unique(keep // 2)  # sessions whose head-1 choices are mostly value 1
    thin = data.take(sessions)
    config = FQEConfig(steps=800, target_every=200, hidden=32, lr=3e-3)
    plain = fit_fqe(thin, config, seed=0).v_state[thin.features[:, 0] == 1].mean()
    conservative = fit_fqe(thin, replace(config, alpha=1.0), seed=0)
    assert conservative.v_state[thin.features[:, 0] == 1].mean() < plain - 0.1


def test_take_keeps_whole_sessions():
    data = _log(5, seed=3)
    taken = data.take(np.array([4, 0, 4]))
    np.testing.assert_array_equal(taken.done, [False, True] * 3)
    np.testing.assert_array_equal(taken.reward, data.reward[[8, 9, 0, 1, 8, 9]])


def test_negative_alpha_is_refused():
    with pytest.raises(InputError, match="alpha"):
        FQEConfig(alpha=-0.1)


def _constant(net: torch.nn.Module, out: list[float]) -> None:
    """Make ``net`` output ``out`` = ``(b, q_1.., q_V)`` in every state (weights 0, last bias)."""
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.mlp[-1].bias.copy_(torch.tensor(out))


# Two heads of two values; the catalog's items take only (0, 0) and (1, 1) (correlated heads).
# Session A: rows 0 (bootstraps from row 1), 1 (last); session B: row 2 (last).
TINY = FQEData(
    features=np.eye(3, dtype=np.float32),
    actions=np.array([[0, 2], [1, 3], [0, 2]]),
    reward=np.array([-1.0, -2.0, -1.0], dtype=np.float32),
    done=np.array([False, True, True]),
    target=np.array(
        [[0.5, 0.5, 0.5, 0.5], [0.2, 0.8, 0.6, 0.4], [1.0, 0.0, 0.0, 1.0]], dtype=np.float32
    ),
    offsets=np.array([0, 2, 4]),
    feasible=np.array([[0, 2], [1, 3]]),
)
# Online net: b = 0.5, q_1 = (1, 0), q_2 = (0, 2): Q(row 0) = Q(row 2) = 1.5, Q(row 1) = 2.5.
# Frozen net: b = 0.3, q_1 = (0, 1), q_2 = (1, 0): V̄(row 1) = 0.3 + 0.8 · 1 + 0.6 · 1 = 1.7
# (and V̄ = 0.3 ≠ 0 after the last rows, which the absorbing state must ignore).
# Targets y = (−1 + 1.7, −2, −1): Bellman error ((1.5 − 0.7)² + 4.5² + 2.5²) / 3.
BELLMAN = (0.8**2 + 4.5**2 + 2.5**2) / 3
LSE_ITEMS = math.log(math.exp(1.0) + math.exp(2.0))  # over the items (0,0): 1 and (1,1): 2
PENALTIES = {
    # log Σ_items exp Q − Q(logged): logged sums 1, 2, 1
    "items": (3 * LSE_ITEMS - 4.0) / 3,
    # Σ_k log Σ_v exp q_k − q_k(logged), over all four combinations
    "logsumexp": (3 * (math.log(math.e + 1.0) + math.log(1.0 + math.exp(2.0))) - 4.0) / 3,
    # Σ_k E_π q_k − q_k(logged): (0.5 + 1 − 1) + (0.2 + 0.8 − 2) + (1 + 2 − 1)
    "policy": (0.5 - 1.0 + 2.0) / 3,
}


@pytest.mark.parametrize("penalty", list(PENALTIES))
def test_conservative_fqe_loss_by_hand(penalty):
    learner = FQELearner(TINY, FQEConfig(alpha=0.5, penalty=penalty, hidden=4), seed=0)
    _constant(learner.net, [0.5, 1.0, 0.0, 0.0, 2.0])
    _constant(learner.frozen, [0.3, 0.0, 1.0, 1.0, 0.0])
    loss, metrics = learner.loss(torch.arange(3))
    assert metrics["loss/bellman"] == pytest.approx(BELLMAN, rel=1e-6)
    assert metrics["loss/cql"] == pytest.approx(PENALTIES[penalty], rel=1e-6)
    assert loss.item() == pytest.approx(BELLMAN + 0.5 * PENALTIES[penalty], rel=1e-6)


def test_conservative_fqe_defaults_to_the_cql_learners_penalty():
    assert FQEConfig().penalty == CQLConfig().penalty == "items"


def test_the_items_penalty_needs_the_items_and_a_known_form():
    bare = FQEData(**{**vars(TINY), "feasible": None})
    with pytest.raises(InputError, match="feasible"):
        FQELearner(bare, FQEConfig(alpha=0.5), seed=0)
    FQELearner(bare, FQEConfig(alpha=0.5, penalty="logsumexp"), seed=0)  # per head: not needed
    with pytest.raises(InputError, match="penalty"):
        FQEConfig(penalty="joint")
