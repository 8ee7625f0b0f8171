"""DualDICE on the small tabular MDP of the FQE test, where the answer is known exactly."""

from __future__ import annotations

import numpy as np
import pytest

from tests.ope.test_fqe import PI1, PI2, R1, R2, _true_values
from textrec.errors import InputError
from textrec.ope import DualDICE
from textrec.ope.dice import dualdice_ratios


def _joint(state: np.ndarray) -> np.ndarray:
    """``(B, 12)``: ``π(a1, a2 | s)`` on the one-hot (s, a1, a2) features."""
    out = np.zeros((len(state), 12))
    for i, s in enumerate(state):
        out[i, 6 * s : 6 * s + 6] = np.outer(PI1[s], PI2[s]).ravel()
    return out


def _log(n_sessions: int, seed: int, skew: float = 0.5):
    """Sessions (s0, s1) of a behaviour policy choosing head 1's value 0 with prob. ``skew``."""
    rng = np.random.default_rng(seed)
    state = np.tile([0, 1], n_sessions)
    a1 = (rng.random(2 * n_sessions) > skew).astype(int)
    a2 = rng.integers(0, 3, 2 * n_sessions)
    phi = np.eye(12)[6 * state + 3 * a1 + a2]
    done = state == 1
    nxt = np.where(done[:, None], 0.0, _joint(np.ones_like(state)))  # s0 -> s1 -> end
    reward = R1[state, a1] + R2[state, a2]
    return phi, nxt, _joint(np.zeros(n_sessions, dtype=int)), reward, state, a1, a2


@pytest.mark.parametrize("skew", [0.5, 0.9])
def test_dualdice_recovers_the_value_and_the_visitation_ratio(skew):
    phi, nxt, start, reward, state, a1, a2 = _log(300, seed=0, skew=skew)
    zeta = dualdice_ratios(phi, nxt, start, ridge=1e-10)
    # deterministic rewards and transitions: the certainty-equivalent value is the true one
    assert (zeta * reward).sum() / 300 == pytest.approx(_true_values()[2], abs=1e-6)
    # and ζ is π's visits per session over the log's: π(a|s0) · N / count(s0, a)
    s0 = state == 0
    counts = np.zeros((2, 3))
    np.add.at(counts, (a1[s0], a2[s0]), 1)
    expected = np.outer(PI1[0], PI2[0])[a1[s0], a2[s0]] * 300 / counts[a1[s0], a2[s0]]
    np.testing.assert_allclose(zeta[s0], expected, rtol=1e-6)


def test_dualdice_is_not_the_behaviour_value():
    # the logged (behaviour) mean return differs from π's: DICE corrects for it
    phi, nxt, start, reward, *_ = _log(300, seed=1, skew=0.9)
    assert abs(reward.sum() / 300 - _true_values()[2]) > 0.3
    zeta = dualdice_ratios(phi, nxt, start, ridge=1e-10)
    assert (zeta * reward).sum() / 300 == pytest.approx(_true_values()[2], abs=1e-6)


def test_bad_ridge_is_refused():
    with pytest.raises(InputError, match="ridge"):
        DualDICE(ridge=-1.0)
