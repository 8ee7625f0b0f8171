"""``train_agent`` with a selector keeps the weights it rated best; ``--select ope:...``."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.learners.test_run import _fails, _spec, _train_args
from textrec.agent import Recommender
from textrec.errors import InputError
from textrec.learners.evaluators import BestSelector
from textrec.learners.run import train_agent
from textrec.ope import DirectFQE, OffPolicyLog
from textrec.ope.fqe import FQEConfig
from textrec.ope.select import ope_rater


@pytest.fixture()
def fast_encoder(monkeypatch, toy_encoder):
    monkeypatch.setattr(
        "textrec.language.encoder.load_or_pretrain",
        lambda schema, **_: copy.deepcopy(toy_encoder),
    )


def _weights(path, catalog):
    return Recommender.load(path, catalog).state_dict()


def _same(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_the_first_checkpoint_rated_best_is_saved(fast_encoder, toy_catalog, toy_log, tmp_path):
    torch.set_num_threads(1)
    ratings = iter([1.0, 0.0])  # the step-2 policy is rated above the step-4 one
    select = BestSelector(lambda policy: next(ratings))
    result = train_agent(_spec(toy_catalog, toy_log, tmp_path / "a", select=select))
    assert [r["select/value"] for r in result.curve] == [1.0, 0.0] and select.best == 0
    short = train_agent(_spec(toy_catalog, toy_log, tmp_path / "b", steps=2))
    last = train_agent(_spec(toy_catalog, toy_log, tmp_path / "c"))
    chosen = _weights(result.agent_dir, toy_catalog)
    assert _same(chosen, _weights(short.agent_dir, toy_catalog))  # the step-2 weights
    assert not _same(chosen, _weights(last.agent_dir, toy_catalog))
    # the reported figures are the chosen agent's, evaluated again
    assert result.test.sr_at_20.mean == pytest.approx(short.test.sr_at_20.mean)


def test_an_ope_estimator_rates_the_run(fast_encoder, toy_catalog, toy_log, tmp_path):
    torch.set_num_threads(1)
    log = OffPolicyLog(toy_log, toy_catalog, fqe=FQEConfig(steps=20, target_every=10))
    select = BestSelector(ope_rater(log, DirectFQE()))
    result = train_agent(_spec(toy_catalog, toy_log, tmp_path / "ope", select=select))
    values = [r["select/value"] for r in result.curve]
    assert len(values) == 2 and values == select.values
    assert _same(_weights(result.agent_dir, toy_catalog), select.best_state)


def test_a_non_finite_rating_is_refused():
    with pytest.raises(InputError, match="not finite"):
        BestSelector(lambda policy: float("nan"))(object())


@pytest.mark.parametrize("select", ["ope:nope", "sim:fqe", "fqe"])
def test_cli_refuses_a_bad_select(capsys, toy_catalog, toy_log, tmp_path, select):
    toy_dir = str(toy_catalog.save(tmp_path / "toy"))
    argv = _train_args(toy_dir, toy_log, tmp_path / "run") + ["--select", select]
    err = _fails(capsys, argv)
    assert "--select" in err and "ope:ESTIMATOR" in err
