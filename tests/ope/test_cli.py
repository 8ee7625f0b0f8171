"""``textrec ope`` through the console entry point: the report, the files, bad input."""

from __future__ import annotations

import json

import pytest

from tests.cli_run import run_cli


@pytest.fixture(scope="module")
def toy_dir(toy_catalog, tmp_path_factory):
    return str(toy_catalog.save(tmp_path_factory.mktemp("ope-cli") / "toy"))


def _args(toy_log, toy_dir, *extra):
    return [
        "ope", "--logs", str(toy_log), "--catalog", toy_dir, "--sessions", "20", "--boot", "10",
        "--fqe-steps", "20", "--no-progress", *extra,
    ]  # fmt: skip


def test_ope_reports_every_estimator(capsys, toy_log, toy_dir, tmp_path):
    ran = run_cli(capsys, _args(toy_log, toy_dir, "--policies", "sf,random", "--json", "--out",
                                str(tmp_path / "out"), "--cql-penalty", "logsumexp",
                                "--fqe-target-every", "5"))  # fmt: skip
    assert ran.code == 0, ran.err
    result = json.loads(ran.out)
    names = [s["estimator"] for s in result["scores"]]
    assert names[:8] == ["is", "wis", "pdis", "wpdis", "dr", "dr-cql", "fqe", "cql"]
    assert {"is[oracle]", "pdis[oracle]", "dr-cql[oracle]"} <= set(names)
    assert [p["policy"] for p in result["policies"]] == ["sf", "random"]
    assert result["cql_critic"] == {"alpha": 0.01, "penalty": "logsumexp"}
    assert result["fqe"] == {"steps": 20, "target_every": 5}
    assert result["policies"][0]["estimates"]["pdis[oracle]"]["privileged"] is True
    assert (tmp_path / "out" / "ope.png").stat().st_size > 0
    assert json.loads((tmp_path / "out" / "ope.json").read_text())["scores"] == result["scores"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--policies", "sf,greedy"], "unknown target policy 'greedy'"),
     (["--policies", "sf-eps-2"], "unknown target policy 'sf-eps-2'"),
     (["--cql-penalty", "joint"], "FQEConfig.penalty must be one of")],
)  # fmt: skip
def test_bad_policy_is_one_line_exit_2(capsys, toy_log, toy_dir, extra, message):
    ran = run_cli(capsys, _args(toy_log, toy_dir, *extra))
    assert ran.code == 2
    assert message in ran.err_text
    assert "Traceback" not in ran.err


def test_missing_log_exit_2(capsys, toy_dir, tmp_path):
    ran = run_cli(capsys, _args(tmp_path / "nope", toy_dir))
    assert ran.code == 2
    assert "nope" in ran.err_text and "Traceback" not in ran.err


def test_truth_runs_on_ray_give_the_local_numbers(capsys, toy_log, toy_dir, ray_cluster):
    """``--backend ray``: each target policy's truth is a Ray task on the local 2-CPU cluster;
    the same seed gives the numbers of the in-process run, truths and estimates alike."""
    runs = {}
    for where in (["--backend", "local"], ["--backend", "ray", "--workers", "2"]):
        ran = run_cli(capsys, _args(toy_log, toy_dir, "--policies", "sf,sf-eps-0.5,random",
                                    "--json", *where))  # fmt: skip
        assert ran.code == 0, ran.err
        runs[where[1]] = json.loads(ran.out)
    truths = [p["truth"] for p in runs["local"]["policies"]]
    assert len(set(truths)) == 3  # three policies, three different truths
    assert runs["ray"] == runs["local"]
