"""Evaluation metrics (pure functions on hand-made outcomes) and the batched evaluation run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textrec.evaluation import evaluate, rollout
from textrec.language.speech import build_sentence_bank
from textrec.metrics import mean_se, sr_at_k, success_curve, success_within
from textrec.simulator import BatchedSimulator, RandomPolicy, Retriever, SlotFillerPolicy


def test_sr_at_k_and_curve_by_hand():
    turns = np.array([1, 3, 0, 10, 11, 30, 0, 2])  # 0 = never
    assert sr_at_k(turns, 10) == pytest.approx(4 / 8)
    assert sr_at_k(turns, 30) == pytest.approx(6 / 8)
    assert success_within(turns, 2).tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
        False,
        True,
    ]
    curve = success_curve(turns, 50)
    assert curve.shape == (50,)
    assert curve[[0, 1, 2, 9, 10, 29, 49]].tolist() == pytest.approx(
        [1 / 8, 2 / 8, 3 / 8, 4 / 8, 5 / 8, 6 / 8, 6 / 8]
    )
    assert sr_at_k(turns, 10) == curve[9]


def test_mean_se_by_hand():
    m = mean_se(np.array([2.0, 4.0, 6.0, 8.0]))
    assert m.mean == 5.0 and m.se == pytest.approx(np.sqrt(20 / 3) / 2)
    assert mean_se(np.array([3.0])).se == 0.0
    assert str(m) == "5.000 ± 1.291"
    with pytest.raises(ValueError, match="non-empty 1-D"):
        mean_se(np.array([]))


@pytest.fixture(scope="module")
def toy_sim(toy_catalog):
    return BatchedSimulator(toy_catalog, "test", build_sentence_bank(toy_catalog.schema))


def test_evaluate_is_deterministic_and_seed_dependent(toy_sim, toy_catalog):
    a = evaluate(RandomPolicy(toy_catalog), toy_sim, 300, seed=11, batch_size=128)
    b = evaluate(RandomPolicy(toy_catalog), toy_sim, 300, seed=11, batch_size=128)
    c = evaluate(RandomPolicy(toy_catalog), toy_sim, 300, seed=12, batch_size=128)
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()
    assert a.n_sessions == 300 and a.curve.shape == (50,)
    assert a.sr_at_10.mean == pytest.approx(a.curve[9])


def test_result_metrics_and_json(toy_sim, toy_catalog):
    r = evaluate(SlotFillerPolicy(toy_catalog), toy_sim, 200, seed=0)
    metrics = r.metrics()
    assert set(metrics) == {
        "eval/sr@10",
        "eval/sr@20",
        "eval/sr@30",
        "eval/ni",
        "eval/nv",
        "eval/return",
    }
    assert metrics["eval/ni"] == r.ni.mean and 1 <= r.ni.mean <= 50
    obj = json.loads(json.dumps(r.to_json()))
    assert obj["sr@10"]["mean"] == r.sr_at_10.mean and len(obj["success_curve"]) == 50


def test_recorded_dialogues_match_the_outcomes(toy_sim, toy_catalog):
    r = evaluate(SlotFillerPolicy(toy_catalog), toy_sim, 50, seed=0, record=3)
    assert len(r.dialogues) == 3
    for d in r.dialogues:
        assert len(d.items) == len(d.texts) == len(d.rewards)
        assert len(set(d.items)) == len(d.items)
        assert d.success and d.texts[-1] == "" and all(d.texts[:-1])
        assert d.items[-1] != -1 and np.isin(d.items, toy_sim.pool).all()


def test_rollout_outcomes_agree_with_metrics(toy_sim, toy_catalog):
    retriever = Retriever(toy_catalog, "test")
    out, _ = rollout(RandomPolicy(toy_catalog), toy_sim, retriever, 100, np.random.default_rng(0))
    assert out.finished.all()
    np.testing.assert_array_equal(out.ni, np.where(out.success, out.success_turn, 50))
    assert (out.turns == out.ni).all()


def test_bad_arguments(toy_sim, toy_catalog):
    with pytest.raises(ValueError, match="n_sessions must be >= 1"):
        evaluate(RandomPolicy(toy_catalog), toy_sim, 0, seed=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        evaluate(RandomPolicy(toy_catalog), toy_sim, 10, seed=0, batch_size=0)
    with pytest.raises(ValueError, match="same pool"):
        rollout(
            RandomPolicy(toy_catalog),
            toy_sim,
            Retriever(toy_catalog, "train"),
            5,
            np.random.default_rng(0),
        )
