"""``estimate`` on a real (small) log: the oracle sidecar is read only for the privileged rows."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from textrec.errors import InputError
from textrec.logs.reader import item_actions, list_shards, read_oracle
from textrec.ope import (
    DirectCQL,
    DirectFQE,
    DoublyRobust,
    DoublyRobustCQL,
    DualDICE,
    OffPolicyLog,
    PerDecisionIS,
    TargetSpec,
    TrajectoryIS,
    WeightedIS,
    estimate,
)
from textrec.ope.behaviour import BehaviourConfig
from textrec.ope.fqe import FQEConfig
from textrec.ope.policies import decision_mask
from textrec.ope.sessions import oracle_log_probs

SPEC = TargetSpec("sf-eps-0.3", epsilon=0.3)
QUICK = {"behaviour": BehaviourConfig(steps=20), "fqe": FQEConfig(steps=20, target_every=10)}


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def test_estimators_never_read_the_oracle_sidecar(toy_catalog, toy_log, tmp_path):
    blind = tmp_path / "log"
    shutil.copytree(toy_log, blind)
    shutil.rmtree(blind / "oracle")  # what a real device uploads
    log = OffPolicyLog(blind, toy_catalog, **QUICK)
    estimators = (TrajectoryIS(), WeightedIS(), PerDecisionIS(), DoublyRobust(), DirectFQE())
    for est in (*estimators, DirectCQL(), DualDICE()):
        e = estimate(SPEC, log, estimator=est, n_boot=20)
        assert np.isfinite(e.value) and not e.privileged
        assert e.interval[0] <= e.interval[1]
    with pytest.raises(InputError, match="oracle"):
        estimate(SPEC, log, estimator=PerDecisionIS(behaviour="oracle"), n_boot=20)


def test_the_privileged_reference_joins_the_oracle_rows_by_key(toy_catalog, toy_log, tmp_path):
    shuffled = tmp_path / "log"
    shutil.copytree(toy_log, shuffled)
    for path in list_shards(shuffled, "oracle"):  # same rows, reversed order
        table = pq.read_table(path)
        pq.write_table(table.take(np.arange(table.num_rows)[::-1]), path)
    log = OffPolicyLog(shuffled, toy_catalog, **QUICK)
    e = estimate(SPEC, log, estimator=PerDecisionIS(behaviour="oracle"), n_boot=20)
    assert e.privileged and e.estimator == "pdis[oracle]"
    oracle = [read_oracle(p) for p in list_shards(toy_log, "oracle")]
    by_key = {
        (s, int(t)): lp
        for o in oracle
        for s, t, lp in zip(o.session_id, o.turn, o.log_probs, strict=True)
    }
    eps = log.episodes
    decide = decision_mask(eps)
    sessions = np.broadcast_to(eps.session_id[:, None], decide.shape)[decide]
    keys = zip(sessions, eps.turn[decide], strict=True)
    expected = np.stack([by_key[(s, int(t))] for s, t in keys])
    np.testing.assert_allclose(oracle_log_probs(shuffled, eps), expected)


def test_same_seed_same_estimate(toy_catalog, toy_log):
    a = estimate(SPEC, OffPolicyLog(toy_log, toy_catalog, **QUICK), estimator=DoublyRobust())
    b = estimate(SPEC, OffPolicyLog(toy_log, toy_catalog, **QUICK), estimator=DoublyRobust())
    assert a == b


def test_random_policy_replays_to_uniform_probabilities(toy_catalog, toy_log):
    log = OffPolicyLog(toy_log, toy_catalog, **QUICK)
    replayed = log.replay(TargetSpec("random", epsilon=1.0))
    sizes = np.asarray(toy_catalog.schema.sizes)
    np.testing.assert_allclose(
        replayed.log_prob, np.broadcast_to(-np.log(sizes), replayed.log_prob.shape), rtol=1e-6
    )


def test_refits_give_the_direct_estimators_a_nonzero_interval(toy_catalog, toy_log):
    log = OffPolicyLog(toy_log, toy_catalog, **QUICK)
    for est in (DirectFQE(), DirectCQL()):
        fixed = estimate(SPEC, log, estimator=est, n_boot=20)
        refit = estimate(SPEC, log, estimator=est, n_boot=20, refits=3)
        assert refit.value == fixed.value  # the point estimate is the full-log fit's
        assert fixed.interval[1] - fixed.interval[0] < 1e-6  # every session starts in one state
        assert refit.stderr > 0
        assert refit.interval == pytest.approx(
            (refit.value - 1.96 * refit.stderr, refit.value + 1.96 * refit.stderr)
        )
        np.testing.assert_allclose(
            log.refit_values(SPEC, est.model, 3), log.refit_values(SPEC, est.model, 3)
        )
    with pytest.raises(InputError, match="refits"):
        estimate(SPEC, log, estimator=DirectFQE(), refits=1)


def test_cql_and_fqe_are_different_fits(toy_catalog, toy_log):
    log = OffPolicyLog(toy_log, toy_catalog, cql_alpha=1.0, **QUICK)
    assert not np.allclose(log.fqe(SPEC, "cql").v_state, log.fqe(SPEC, "fqe").v_state)


def test_the_cql_critic_penalises_over_the_catalogs_items_by_default(toy_catalog, toy_log):
    log = OffPolicyLog(toy_log, toy_catalog, cql_alpha=1.0, **QUICK)
    assert log.cql_config.penalty == "items"
    offsets = np.asarray(toy_catalog.schema.offsets)
    feasible = log._fqe_data(SPEC).feasible
    np.testing.assert_array_equal(feasible, item_actions(toy_catalog) + offsets[:-1])
    per_head = OffPolicyLog(toy_log, toy_catalog, cql_alpha=1.0, cql_penalty="logsumexp", **QUICK)
    assert not np.allclose(log.fqe(SPEC, "cql").v_state, per_head.fqe(SPEC, "cql").v_state)


def test_doubly_robust_cql_reads_the_cql_fit(toy_catalog, toy_log):
    log = OffPolicyLog(toy_log, toy_catalog, cql_alpha=1.0, **QUICK)
    data = log.data(SPEC, DoublyRobustCQL())
    fit = log.fqe(SPEC, "cql")
    np.testing.assert_array_equal(data.q_logged[log.decide], fit.q_logged)
    np.testing.assert_array_equal(data.v_state[log.decide], fit.v_state)
    log_w = data.log_weights(None)
    w, w_prev = np.exp(log_w), np.exp(np.pad(log_w[:, :-1], ((0, 0), (1, 0))))
    by_hand = (w * (data.reward - data.q_logged) + w_prev * data.v_state).sum(axis=1).mean()
    e = estimate(SPEC, log, estimator=DoublyRobustCQL(), n_boot=5)
    assert (e.estimator, e.value) == ("dr-cql", pytest.approx(by_hand))
    assert e.value != pytest.approx(estimate(SPEC, log, estimator=DoublyRobust(), n_boot=5).value)
