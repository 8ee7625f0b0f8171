"""reproduce's OPE section: picks, true best and last over rated checkpoints (by hand), its report
lines and results.json keys, and the OPE stage end to end (each estimate is the estimator's own
rating of the kept checkpoint, each truth the simulator's)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.test_reproduce import TINY
from textrec.errors import InputError
from textrec.reproduce import ReproduceConfig, reproduce
from textrec.reproduce_ope import (
    LearnerRatings,
    RatedCheckpoint,
    estimator_summary,
    ope_json,
    ope_markdown,
)


def _ckpt(step, sr, truth, cql, fqe):
    return RatedCheckpoint(step, sr, -truth, truth, 0.1, {"cql": cql, "fqe": fqe})


@pytest.fixture()
def rated() -> LearnerRatings:
    """Four checkpoints: test SR@20 best at step 100 (tied with 150: the earlier counts); cql
    ranks them as the truth does, fqe rates the last one highest."""
    return LearnerRatings(
        "cql",
        0,
        (
            _ckpt(50, 0.40, -8.0, -7.0, -9.0),
            _ckpt(100, 0.80, -2.0, -2.2, -3.0),
            _ckpt(150, 0.80, -4.0, -4.4, -2.5),
            _ckpt(300, 0.70, -3.0, -3.3, -1.0),
        ),
    )


def test_picks_best_and_last_by_hand(rated):
    assert rated.pick("cql").step == 100 and rated.pick("fqe").step == 300
    assert rated.best.step == 100  # ties: the earliest
    assert rated.last.step == 300
    relative, spearman, regret = rated.scores("cql")
    assert relative == pytest.approx(np.mean([1 / 8, 0.2 / 2, 0.4 / 4, 0.3 / 3]))
    assert spearman == pytest.approx(1.0) and regret == 0.0
    # fqe's pick (truth -3) in a range of 6 from the best (-2): regret 1/6; ranks 1,2,3,4 vs 1,4,2,3
    _, spearman, regret = rated.scores("fqe")
    assert regret == pytest.approx(1 / 6) and spearman == pytest.approx(0.4)


def test_summary_json_and_markdown(rated):
    empty = LearnerRatings("bc", 0, (), missing=(50, 100))
    summary = estimator_summary([rated, empty], "fqe")
    assert summary["sr_lost_vs_best"] == pytest.approx(0.1)  # 0.80 - 0.70
    assert summary["picks_best"] == 0.0 and summary["sr_gained_vs_last"] == 0.0
    saved = json.loads(json.dumps(ope_json([rated, empty], ("cql", "fqe"))))
    assert saved["select_by"] == "cql" and saved["estimators"] == ["cql", "fqe"]
    first = saved["learners"][0]
    assert (first["picks"], first["best"], first["last"]) == ({"cql": 100, "fqe": 300}, 100, 300)
    assert LearnerRatings.from_json(first) == rated
    assert saved["learners"][1]["missing"] == [50, 100] and saved["learners"][1]["picks"] == {}
    text = "\n".join(ope_markdown([rated, empty], ("cql", "fqe"), 1500))
    assert "## Choosing the checkpoint by off-policy evaluation" in text
    assert "| cql | 0 | 4 | 300: 0.700 | 100: 0.800 | 100: 0.800 | 300: 0.700 | 0.000 |" in text
    assert "| bc | 0 | none kept |" in text and "bc (seed 0): steps [50, 100]" in text
    assert "| fqe | 0.417 | 0.40 | 0.17 | 0.100 | +0.000 | 0.00 |" in text
    assert "| cql | 0.106 | 1.00 | 0.00 | 0.000 | +0.100 | 1.00 |" in text


def test_config_names_estimators_and_they_may_change_on_resume():
    assert ReproduceConfig().ope_estimators == ("cql", "fqe")
    assert ReproduceConfig.quick().ope_estimators == ("cql",)
    assert ReproduceConfig(ope_estimators=()).settings() == ReproduceConfig().settings()
    for bad in (("cql", "cql"), ("fqe", "magic")):
        with pytest.raises(InputError, match="ope_estimators"):
            ReproduceConfig(ope_estimators=bad)
    with pytest.raises(InputError, match="ope_fqe_steps"):
        ReproduceConfig(ope_fqe_steps=0)


@pytest.mark.slow
def test_ope_stage_rates_every_kept_checkpoint_end_to_end(tmp_path):
    from textrec.catalog.build import open_catalog
    from textrec.evaluation import load_policy
    from textrec.learners.run import snapshot_dir
    from textrec.ope import DirectCQL, DirectFQE, OffPolicyLog, TargetSpec
    from textrec.ope.fqe import FQEConfig
    from textrec.ope.scoring import true_value
    from textrec.ope.select import ope_rater

    torch.set_num_threads(1)
    settings = {**TINY, "learners": ("bc",), "iterative_rounds": 0}
    config = ReproduceConfig.quick(**settings, ope_estimators=("fqe", "cql"))
    out = tmp_path / "run"
    lines: list[str] = []
    result = reproduce(config, out, progress=False, say=lines.append)
    seed_dir = out / "seed-0"
    record = json.loads((seed_dir / "stages" / "ope-bc.json").read_text())["ope"]
    assert [c["step"] for c in record["checkpoints"]] == [2, 4] and record["missing"] == []
    last = record["checkpoints"][-1]
    assert last["sr@20"] == pytest.approx(result.rows["bc"].metrics["sr@20"].mean)  # Table 2's

    cat = open_catalog("builtin", items=TINY["items"], seed=0, progress=False)
    log_dir = seed_dir / "logs" / "default"
    log = OffPolicyLog(log_dir, cat, seed=0, fqe=FQEConfig(steps=TINY["ope_fqe_steps"]))
    kept = snapshot_dir(seed_dir / "runs" / "bc", 2)
    first = record["checkpoints"][0]
    for est in (DirectFQE(), DirectCQL()):
        assert first["estimates"][est.label] == pytest.approx(
            ope_rater(log, est)(load_policy(kept, cat))
        )
    truth = true_value(TargetSpec("x", base=str(kept)), log_dir, cat, TINY["eval_sessions"], 0)
    assert (first["truth"], first["truth_se"]) == pytest.approx(truth)

    saved = json.loads((out / "results.json").read_text())["ope"]
    assert saved["select_by"] == "fqe" and saved["learners"][0]["learner"] == "bc"
    report = (out / "report.md").read_text()
    assert "## Choosing the checkpoint by off-policy evaluation" in report
    assert "| bc | 0 | 2 |" in report and "| ope-bc |" in report
    assert sum("ope-bc: running" in line for line in lines) == 1

    again: list[str] = []
    reproduce(config, out, resume=True, progress=False, say=again.append)
    assert any("ope-bc: done before, skipped" in line for line in again)
    assert not any("running" in line for line in again)
