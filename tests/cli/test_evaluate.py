"""``textrec evaluate`` through the console entry point (its error policy included): baselines,
saved agents, bad --policy."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tests.conftest import make_toy_catalog
from textrec.agent import Recommender
from textrec.cli import main
from textrec.language.corpus import build_corpus
from textrec.language.encoder import EncoderConfig, pretrain_encoder


@pytest.fixture(scope="module")
def toy_dir(toy_catalog, tmp_path_factory):
    return str(toy_catalog.save(tmp_path_factory.mktemp("eval-cli") / "toy"))


@pytest.fixture(scope="module")
def run_dir(toy_catalog, tmp_path_factory):
    """A train-like run directory holding an (untrained) recommender as final/."""
    encoder, _ = pretrain_encoder(build_corpus(toy_catalog.schema), EncoderConfig(steps=30), seed=0)
    run = tmp_path_factory.mktemp("eval-run")
    Recommender(toy_catalog, encoder, seed=0).save(run / "final")
    return run


@dataclass(frozen=True)
class Ran:
    exit_code: int
    output: str
    error: str


@pytest.fixture()
def _evaluate(capsys):
    """``_evaluate(*args)``: ``textrec evaluate --no-progress ARGS``; exit code, stdout, stderr."""

    def run(*args: str) -> Ran:
        try:
            main(["evaluate", "--no-progress", *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def test_baseline_json_shape_and_same_seed_same_numbers(toy_dir, _evaluate):
    args = ["--catalog", toy_dir, "--policy", "slot-filler", "--sessions", "80", "--json"]
    first = _evaluate(*args)
    assert first.exit_code == 0, first.output
    out = json.loads(first.output)
    assert out["policy"] == "slot-filler" and out["pool"] == "test" and out["n_sessions"] == 80
    for key in ("sr@10", "sr@20", "sr@30", "ni", "nv", "return"):
        assert set(out[key]) == {"mean", "se"}
    curve = out["success_curve"]
    assert len(curve) == 50 and curve == sorted(curve)
    assert curve[9] == pytest.approx(out["sr@10"]["mean"])
    assert json.loads(_evaluate(*args).output) == out
    other = json.loads(_evaluate(*args[:-1], "--seed", "1", "--json").output)
    assert other != out


def test_agent_dir_and_its_run_dir_give_the_same_numbers(toy_dir, run_dir, _evaluate):
    common = ["--catalog", toy_dir, "--sessions", "40", "--json"]
    by_run = _evaluate("--policy", str(run_dir), *common)
    by_final = _evaluate("--policy", str(run_dir / "final"), *common)
    assert by_run.exit_code == 0, by_run.output
    assert json.loads(by_run.output)["sr@30"] == json.loads(by_final.output)["sr@30"]
    table = _evaluate("--policy", str(run_dir), "--catalog", toy_dir, "--sessions", "40")
    assert table.exit_code == 0 and "SR@20" in table.output and "Success by turn" in table.output


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_bad_policy_path_exits_2_naming_it(toy_dir, tmp_path, kind, _evaluate):
    path = tmp_path / "nothing-here"
    if kind == "empty":
        path.mkdir()
    result = _evaluate("--policy", str(path), "--catalog", toy_dir)
    assert result.exit_code == 2
    assert "nothing-here" in result.error and result.output == ""


def test_agent_of_another_catalog_is_refused(run_dir, tmp_path, _evaluate):
    other = str(make_toy_catalog(n_items=90, seed=5).save(tmp_path / "other"))
    result = _evaluate("--policy", str(run_dir), "--catalog", other)
    assert result.exit_code == 2 and "cannot load it for catalog" in result.error


def test_bad_pool_exits_2(toy_dir, _evaluate):
    result = _evaluate("--policy", "random", "--catalog", toy_dir, "--pool", "valid")
    assert result.exit_code == 2 and "--pool" in result.error


def test_acting_options_reach_the_agent_and_are_checked(toy_dir, run_dir, _evaluate):
    common = ["--policy", str(run_dir), "--catalog", toy_dir, "--sessions", "30", "--json"]
    as_bcq = _evaluate(*common, "--heads", "q", "--greedy", "values", "--threshold", "0.3")
    assert as_bcq.exit_code == 0, as_bcq.error
    assert json.loads(as_bcq.output)["n_sessions"] == 30
    no_q = _evaluate(*common, "--threshold", "0.3")
    assert no_q.exit_code == 2 and "threshold" in no_q.error
    baseline = _evaluate("--policy", "random", "--catalog", toy_dir, "--heads", "q")
    assert baseline.exit_code == 2 and "baseline" in baseline.error


def test_oracle_slots_is_a_policy_of_evaluate_and_beats_the_slot_filler(toy_dir, _evaluate):
    common = ["--catalog", toy_dir, "--sessions", "80", "--json"]
    oracle = _evaluate("--policy", "oracle-slots", *common)
    assert oracle.exit_code == 0, oracle.error
    slot = json.loads(_evaluate("--policy", "slot-filler", *common).output)
    assert json.loads(oracle.output)["ni"]["mean"] < slot["ni"]["mean"] - 1.0


def test_actor_heads_of_a_bcq_agent_drop_its_q_mask(toy_catalog, toy_dir, run_dir, _evaluate):
    """A bcq agent is saved acting from masked Q heads; --heads actor evaluates its policy heads
    (the mask applies to Q heads only) instead of refusing the saved threshold."""
    from textrec.agent.acting import Acting

    rec = Recommender.load(run_dir / "final", toy_catalog)
    rec.acting = Acting(heads="q", greedy="values", threshold=0.3)
    bcq_like = run_dir.parent / "bcq-like"
    rec.save(bcq_like)
    common = ["--policy", str(bcq_like), "--catalog", toy_dir, "--sessions", "30", "--json"]
    actor = _evaluate(*common, "--heads", "actor")
    assert actor.exit_code == 0, actor.error
    same = _evaluate(
        "--policy", str(run_dir), *common[2:], "--heads", "actor", "--greedy", "values"
    )
    assert json.loads(actor.output)["sr@20"] == json.loads(same.output)["sr@20"]
