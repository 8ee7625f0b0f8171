"""``train_agent`` end to end on the toy log, resuming, and the refusals of ``textrec train``."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import make_toy_catalog
from textrec.agent import Recommender, RecommenderConfig
from textrec.cli import main
from textrec.errors import InputError
from textrec.learners.run import SNAPSHOTS, TrainSpec, snapshot_dir, train_agent


@pytest.fixture()
def fast_encoder(monkeypatch, toy_encoder):
    """train_agent's text encoder is the briefly pretrained toy one (no pretraining in tests)."""
    monkeypatch.setattr(
        "textrec.language.encoder.load_or_pretrain",
        lambda schema, **_: copy.deepcopy(toy_encoder),
    )


def _spec(toy_catalog, toy_log, out, **kw) -> TrainSpec:
    base = dict(
        algo="bc",
        catalog=toy_catalog,
        out=out,
        logs=toy_log,
        steps=4,
        eval_every=2,
        eval_sessions=24,
        overrides={"n_dialogues": 6},
        progress=False,
    )
    return TrainSpec(**{**base, **kw})


def test_train_agent_end_to_end_and_resume(fast_encoder, toy_catalog, toy_log, tmp_path):
    out = tmp_path / "run"
    result = train_agent(_spec(toy_catalog, toy_log, out))
    assert [int(r["step"]) for r in result.curve] == [2, 4]
    assert result.curve[-1]["eval/sr@20"] == pytest.approx(result.test.sr_at_20.mean)
    assert result.config["learner"]["n_dialogues"] == 6
    assert json.loads(json.dumps(result.to_json()))["algo"] == "bc"
    Recommender.load(result.agent_dir, toy_catalog)  # the saved agent loads on its catalog

    longer = train_agent(_spec(toy_catalog, toy_log, out, steps=6))
    assert [int(r["step"]) for r in longer.curve] == [2, 4, 6]
    assert longer.curve[:2] == result.curve
    again = train_agent(_spec(toy_catalog, toy_log, out, steps=6))  # nothing left to do
    assert again.curve == longer.curve and again.last_update == {}
    assert again.test.sr_at_20.mean == longer.test.sr_at_20.mean


def test_snapshots_keep_the_recommender_of_every_evaluation(
    fast_encoder, toy_catalog, toy_log, tmp_path
):
    """Each snapshot is the agent that evaluation scored: evaluated again, the same figures."""
    from textrec.evaluation import evaluate, load_policy, make_simulator

    out = tmp_path / "run"
    result = train_agent(_spec(toy_catalog, toy_log, out, algo="bcq", snapshots=True))
    assert sorted(p.name for p in (out / SNAPSHOTS).iterdir()) == ["step-2", "step-4"]
    sim = make_simulator(toy_catalog, "test", "templates", 0)
    for row in result.curve:
        policy = load_policy(snapshot_dir(out, int(row["step"])), toy_catalog)
        assert policy.acting.heads == "q"  # saved acting as the learner evaluated it
        assert evaluate(policy, sim, 24, 0).sr_at_20.mean == pytest.approx(row["eval/sr@20"])
    assert not (tmp_path / "plain").exists()
    train_agent(_spec(toy_catalog, toy_log, tmp_path / "plain"))
    assert not (tmp_path / "plain" / SNAPSHOTS).exists()


def test_saved_agent_acts_as_its_learner_evaluated_it(fast_encoder, toy_catalog, toy_log, tmp_path):
    """A bcq agent is evaluated from its masked Q heads; saved and loaded, it acts so by itself
    (``evaluate --policy DIR`` needs no acting options) and the evaluation is the same."""
    from textrec.evaluation import evaluate, load_policy, make_simulator

    result = train_agent(_spec(toy_catalog, toy_log, tmp_path / "bcq", algo="bcq"))
    loaded = Recommender.load(result.agent_dir, toy_catalog)
    assert (loaded.acting.heads, loaded.acting.greedy) == ("q", "values")
    assert loaded.acting.threshold > 0
    policy = load_policy(result.agent_dir, toy_catalog)
    assert policy.acting == loaded.acting and not policy.acting.sample
    sim = make_simulator(toy_catalog, "test", "templates", 0)
    again = evaluate(policy, sim, 24, 0)
    assert again.sr_at_20.mean == result.test.sr_at_20.mean
    assert load_policy(
        result.agent_dir, toy_catalog, heads="actor", threshold=0.0
    ).acting.heads == ("actor")
    bc = Recommender.load(
        train_agent(_spec(toy_catalog, toy_log, tmp_path / "bc")).agent_dir, toy_catalog
    )
    assert bc.acting.heads == "actor" and bc.acting.greedy == "probs"


def test_resume_with_another_algo_or_log_is_refused(fast_encoder, toy_catalog, toy_log, tmp_path):
    out = tmp_path / "run"
    train_agent(_spec(toy_catalog, toy_log, out, steps=2))
    with pytest.raises(InputError) as err:
        train_agent(_spec(toy_catalog, toy_log, out, algo="iql"))
    assert "checkpoint.pt" in str(err.value) and "'bc'" in str(err.value)
    assert "'iql'" in str(err.value)
    with pytest.raises(InputError, match="config"):
        train_agent(_spec(toy_catalog, toy_log, out, overrides={"n_dialogues": 7}))


def _edit_saved_recommender(checkpoint, edit) -> None:
    """Rewrite the ``recommender`` the checkpoint's meta holds, as an older textrec wrote it."""
    from textrec.checkpoint import read_checkpoint, write_checkpoint

    raw = read_checkpoint(checkpoint, None)
    meta = json.loads(raw["meta"])
    edit(meta["recommender"])
    raw["meta"] = json.dumps(meta, sort_keys=True)
    write_checkpoint(
        checkpoint, raw.pop("type"), **{k: v for k, v in raw.items() if k != "version"}
    )


def test_a_checkpoint_from_before_a_new_setting_resumes(
    fast_encoder, toy_catalog, toy_log, tmp_path
):
    """A run checkpointed by a textrec without ``RecommenderConfig.rewrite`` heard sentences as
    said: it resumes as such (``rewrite=False``), and is refused with today's default (rewrite),
    naming the setting; one whose saved recommender differs in a setting it had is refused too."""
    out = tmp_path / "run"
    as_said = RecommenderConfig(rewrite=False)
    first = train_agent(_spec(toy_catalog, toy_log, out, steps=2, recommender=as_said))
    _edit_saved_recommender(out / "checkpoint.pt", lambda rec: rec.pop("rewrite"))
    with pytest.raises(InputError, match="saved with recommender .*'rewrite': False"):
        train_agent(_spec(toy_catalog, toy_log, out))
    longer = train_agent(_spec(toy_catalog, toy_log, out, recommender=as_said))
    assert [int(r["step"]) for r in longer.curve] == [2, 4]
    assert longer.curve[:1] == first.curve
    _edit_saved_recommender(out / "checkpoint.pt", lambda rec: rec.update(guess_weight=0.5))
    with pytest.raises(InputError, match="saved with recommender .*'guess_weight': 0.5"):
        train_agent(_spec(toy_catalog, toy_log, out, steps=6, recommender=as_said))


def test_spec_refuses_missing_or_needless_logs(toy_catalog, toy_log, tmp_path):
    with pytest.raises(InputError, match="give --logs"):
        _spec(toy_catalog, None, tmp_path, algo="cql")
    with pytest.raises(InputError, match="drop --logs"):
        _spec(toy_catalog, toy_log, tmp_path, algo="online")
    with pytest.raises(InputError, match="unknown algo"):
        _spec(toy_catalog, toy_log, tmp_path, algo="dqn")
    with pytest.raises(InputError, match="eval_pool"):
        _spec(toy_catalog, toy_log, tmp_path, eval_pool="validation")


# ------------------------------------------------------------------ the CLI's bad-input rows
@pytest.fixture(scope="module")
def toy_dir(toy_catalog, tmp_path_factory):
    return str(toy_catalog.save(tmp_path_factory.mktemp("cli") / "toy"))


def _fails(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def _train_args(toy_dir, logs, out, algo="bc"):
    return ["train", "--algo", algo, "--catalog", toy_dir, "--logs", str(logs), "--out", str(out)]


def test_cli_refuses_out_that_is_a_file(capsys, toy_dir, toy_log, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert str(target) in _fails(capsys, _train_args(toy_dir, toy_log, target))


def test_cli_refuses_a_log_of_another_catalog(capsys, toy_log, tmp_path):
    other = str(make_toy_catalog(seed=3).save(tmp_path / "other"))
    err = _fails(capsys, _train_args(other, toy_log, tmp_path / "run"))
    assert "manifest.json" in err and "collected on catalog" in err


def test_cli_refuses_missing_and_damaged_logs(capsys, toy_dir, toy_log, tmp_path):
    missing = tmp_path / "no-log"
    assert str(missing) in _fails(capsys, _train_args(toy_dir, missing, tmp_path / "r1"))
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "manifest.json").write_text("{not json")
    assert "manifest.json" in _fails(capsys, _train_args(toy_dir, damaged, tmp_path / "r2"))


def test_cli_refuses_resume_with_another_algo(
    capsys, fast_encoder, toy_dir, toy_catalog, toy_log, tmp_path
):
    out = tmp_path / "run"
    catalog = type(toy_catalog).load(toy_dir)
    train_agent(_spec(catalog, toy_log, out, steps=2, overrides={}))
    err = _fails(capsys, _train_args(toy_dir, toy_log, out, algo="cql"))
    assert str(out / "checkpoint.pt") in err and "'bc'" in err and "'cql'" in err


def test_cli_refuses_an_option_the_learner_lacks(capsys, toy_dir, toy_log, tmp_path):
    err = _fails(capsys, [*_train_args(toy_dir, toy_log, tmp_path / "r"), "--alpha", "1"])
    assert "--algo bc has no option(s) ['alpha']" in err


def test_learner_options_are_generated_from_the_config_docstrings():
    from textrec.learners.algorithms import config_fields

    table = {f.name: f for f in config_fields()}
    assert table["alpha"].text.startswith("Weight of the conservative penalty")
    assert table["alpha"].defaults == {"offpolicy": 0.0, "cql": 0.01}
    assert table["expectile"].defaults == {"iql": 0.7}
    assert set(table["lr"].defaults) == {
        "online",
        "bc",
        "offpolicy",
        "cql",
        "bcq",
        "iql",
        "slot-reader",
    }
    assert table["successful_only"].type is bool


def test_train_help_lists_every_learner_option(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # room for the longest option names
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--alpha", "--tau", "--threshold", "--expectile", "--successful-only", "--logs"):
        assert flag in text


@pytest.mark.parametrize(
    ("name", "content"),
    [("checkpoint.pt", b"not a checkpoint"), ("metrics.csv", b"garbage\n\x00\x01")],
)
def test_damaged_run_files_are_named(fast_encoder, toy_catalog, toy_log, tmp_path, name, content):
    out = tmp_path / "run"
    train_agent(_spec(toy_catalog, toy_log, out, steps=2))
    (out / name).write_bytes(content)
    with pytest.raises(InputError, match=name):
        train_agent(_spec(toy_catalog, toy_log, out, steps=4))
