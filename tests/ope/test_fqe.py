"""FQE recovers a fixed policy's value on a small tabular MDP (two heads, two steps)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from textrec.errors import InputError
from textrec.ope.fqe import FQEConfig, FQEData, fit_fqe

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
