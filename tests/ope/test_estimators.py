"""IS, WIS, PDIS, DR (with FQE's and the cql critic's Q̂) and FQE's direct value against
hand-computed values on a two-step toy log."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from textrec.ope.estimators import (
    DirectFQE,
    DoublyRobust,
    DoublyRobustCQL,
    OffPolicyData,
    PerDecisionIS,
    TrajectoryIS,
    WeightedIS,
    WeightedPDIS,
    weight_diagnostics,
)

ONE = np.ones((1, 2))


@pytest.fixture()
def toy() -> OffPolicyData:
    """Session A takes two decisions; session B succeeds at its first and is absorbed after.

    A: rewards (-1, -2), ratios (2, 1/2), so w = (2, 1), return -3.
    B: reward 1 then the absorbing row (reward 0, ratio 1), ratio 1/2, so w = (1/2, 1/2), return 1.
    Q̂ and V̂ of the logged rows: A (-2.5, -1.5) and (-3, -2); B (0.5, ·) and (0.8, ·).
    """
    return OffPolicyData(
        reward=np.array([[-1.0, -2.0], [1.0, 0.0]]),
        log_ratio=np.log(np.array([[2.0, 0.5], [0.5, 1.0]])),
        q_logged=np.array([[-2.5, -1.5], [0.5, 0.0]]),
        v_state=np.array([[-3.0, -2.0], [0.8, 0.0]]),
    )


def test_trajectory_is(toy):
    # (1 * -3 + 0.5 * 1) / 2
    assert TrajectoryIS().values(toy, ONE)[0] == pytest.approx(-1.25)


def test_weighted_is(toy):
    # (1 * -3 + 0.5 * 1) / (1 + 0.5)
    assert WeightedIS().values(toy, ONE)[0] == pytest.approx(-2.5 / 1.5)


def test_per_decision_is(toy):
    # ((2 * -1 + 1 * -2) + 0.5 * 1) / 2
    assert PerDecisionIS().values(toy, ONE)[0] == pytest.approx(-1.75)


def test_weighted_per_decision_is(toy):
    # turn 0: (2 * -1 + 0.5 * 1) / (2 + 0.5); turn 1, B absorbed but counted: (1 * -2 + 0) / 1.5
    assert WeightedPDIS().values(toy, ONE)[0] == pytest.approx(-1.5 / 2.5 - 2.0 / 1.5)


def test_doubly_robust(toy):
    # A: 2(-1 + 2.5) - 3 = 0 ; 1(-2 + 1.5) + 2(-2) = -4.5.  B: 0.5(1 - 0.5) + 0.8 = 1.05 ; 0.
    assert DoublyRobust().values(toy, ONE)[0] == pytest.approx((-4.5 + 1.05) / 2)


def test_doubly_robust_with_the_cql_critic(toy):
    # the conservative fit's (lower) Q̂ and V̂: A (-3, -2) and (-3.5, -2.5); B (0.4, ·), (0.6, ·).
    # A: 2(-1 + 3) - 3.5 = 0.5 ; 1(-2 + 2) + 2(-2.5) = -5.  B: 0.5(1 - 0.4) + 0.6 = 0.9 ; 0.
    cql = replace(
        toy,
        q_logged=np.array([[-3.0, -2.0], [0.4, 0.0]]),
        v_state=np.array([[-3.5, -2.5], [0.6, 0.0]]),
    )
    assert DoublyRobustCQL().values(cql, ONE)[0] == pytest.approx((0.5 - 5.0 + 0.9) / 2)
    assert (DoublyRobustCQL.model, DoublyRobust.model) == ("cql", "fqe")


def test_direct_fqe(toy):
    assert DirectFQE().values(toy, ONE)[0] == pytest.approx((-3.0 + 0.8) / 2)


def test_resampling_weights_count_sessions(toy):
    """A bootstrap replicate drawing session B twice is the estimate on (B, B)."""
    c = np.array([[0.0, 2.0]])
    assert TrajectoryIS().values(toy, c)[0] == pytest.approx(0.5)
    assert WeightedIS().values(toy, c)[0] == pytest.approx(1.0)


def test_clip_caps_weights_and_is_reported(toy):
    clipped = PerDecisionIS(clip=0.0)  # weights at most 1
    # A: (1 * -1 + 1 * -2), B: 0.5 * 1
    assert clipped.values(toy, ONE)[0] == pytest.approx((-3.0 + 0.5) / 2)
    assert clipped.label == "pdis(clip 0)"
    assert weight_diagnostics(toy, clip=0.0).clipped == pytest.approx(0.5)


def test_diagnostics(toy):
    d = weight_diagnostics(toy)
    # session weights 1 and 0.5
    assert d.ess == pytest.approx(1.5**2 / 1.25)
    assert d.max_share == pytest.approx(1 / 1.5)
    assert d.log_weight_min == pytest.approx(np.log(0.5))


def test_log_space_weights_do_not_underflow():
    """50 turns x 6 heads of small ratios: weights near exp(-900) still normalise exactly."""
    rng = np.random.default_rng(0)
    n, t, k = 40, 50, 6
    per_head = np.log(rng.uniform(0.04, 0.06, (n, t, k)))  # ratio ~ 1/20 on every head
    data = OffPolicyData(reward=rng.normal(-1.0, 1.0, (n, t)), log_ratio=per_head.sum(axis=2))
    log_w = data.log_ratio.sum(axis=1)
    assert log_w.max() < -800  # exp() of these is 0.0 in float64
    w = np.exp(log_w - log_w.max())
    expected = (w * data.reward.sum(axis=1)).sum() / w.sum()
    value = WeightedIS().values(data, np.ones((1, n)))[0]
    assert np.isfinite(value) and value == pytest.approx(expected)
    cum = np.cumsum(data.log_ratio, axis=1)
    w_t = np.exp(cum - cum.max(axis=0))
    per_turn = ((w_t * data.reward).sum(axis=0) / w_t.sum(axis=0)).sum()
    assert WeightedPDIS().values(data, np.ones((1, n)))[0] == pytest.approx(per_turn)
    d = weight_diagnostics(data)
    assert np.isfinite(d.ess) and d.ess == pytest.approx(w.sum() ** 2 / (w**2).sum())


def test_behaviour_must_be_known():
    from textrec.errors import InputError

    with pytest.raises(InputError, match="behaviour"):
        PerDecisionIS(behaviour="guessed")
    assert PerDecisionIS(behaviour="oracle").label == "pdis[oracle]"
    assert DirectFQE(behaviour="oracle").label == "fqe"
