"""Log summaries (behaviour row), log checks, ``textrec logs info`` and ``textrec collect``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tests.conftest import make_toy_catalog
from tests.logs.conftest import make_rows
from textrec.cli import app
from textrec.errors import InputError
from textrec.logs.info import check_log, summarize
from textrec.logs.reader import list_shards, read_experience, read_oracle
from textrec.logs.schema import ExperienceBatch, OracleBatch
from textrec.logs.writer import read_manifest, write_chunk
from textrec.metrics import mean_se


def _all(log):
    exp = ExperienceBatch.concat([read_experience(p) for p in list_shards(log)])
    ora = OracleBatch.concat([read_oracle(p) for p in list_shards(log, "oracle")])
    return exp, ora


def test_summary_matches_a_direct_computation(toy_log):
    exp, ora = _all(toy_log)
    offsets = exp.check_complete()
    last = offsets[1:] - 1
    success_turn = np.where(exp.terminated[last], exp.turn[last], 0)
    summary = summarize(toy_log)
    assert (summary.n_sessions, summary.n_shards, summary.n_turns) == (60, 3, exp.n_rows)
    assert [d.device_id for d in summary.devices] == [0, 1, 2]
    assert sum(d.n_sessions for d in summary.devices) == 60
    sr = dict(summary.sr)
    for k in (10, 20, 30):
        assert sr[k].mean == pytest.approx(((success_turn >= 1) & (success_turn <= k)).mean())
    ni = np.where(success_turn > 0, success_turn, 50)
    assert summary.ni == mean_se(ni.astype(float))
    nv = np.add.reduceat(ora.violations.astype(float), offsets[:-1])
    assert summary.nv == mean_se(nv)
    assert summary.nv_source.startswith("oracle")
    d0 = exp.device_id[offsets[:-1]] == 0
    assert summary.devices[0].success_rate.mean == pytest.approx((success_turn[d0] > 0).mean())


def test_summary_without_oracle_has_no_nv(toy_log):
    shutil.rmtree(toy_log / "oracle")
    summary = summarize(toy_log)
    assert summary.nv is None and "no oracle sidecar for 60 sessions" in summary.nv_source
    assert summary.to_json()["behaviour"]["nv"] is None


def test_check_passes_on_a_sound_log(toy_catalog, toy_log):
    report = check_log(toy_log, toy_catalog)
    assert report.ok and (report.n_shards, report.n_sessions) == (3, 60)


def test_check_reports_each_problem_naming_the_file(toy_catalog, toy_log):
    shards = list_shards(toy_log)
    shards[0].write_bytes(b"not parquet")
    exp, ora = make_rows(
        toy_catalog, 5, seed=1, prefix="9-00001"
    )  # sessions that shard 1 already has
    write_chunk(toy_log, 7, exp, ora)
    table = pq.read_table(toy_log / "oracle" / "shard-00002.parquet")
    pq.write_table(table.slice(1), toy_log / "oracle" / "shard-00002.parquet")
    other = make_toy_catalog(seed=3)
    report = check_log(toy_log, other)
    text = "\n".join(report.problems)
    assert not report.ok
    assert f"{shards[0]}: not a readable Parquet shard" in text
    assert (
        "shard-00007.parquet: session '9-00001-00000' also appears in shard-00001.parquet" in text
    )
    assert "oracle/shard-00002.parquet: rows do not match" in text
    assert "manifest.json: collected on catalog 'toy'" in text
    assert "manifest.json: the log is complete with 60 sessions, shards hold" in text


def test_check_finds_unknown_items_and_missing_shards(toy_log):
    small = make_toy_catalog(n_items=40)
    (toy_log / "experience" / "shard-00001.parquet").unlink()
    report = check_log(toy_log, small)
    text = "\n".join(report.problems)
    assert "column 'item_id'" in text and "is not an item of catalog 'toy'" in text
    assert "chunks [1] are marked done but their experience shards are missing" in text
    assert "oracle shards ['shard-00001.parquet'] have no experience shard" in text


def test_the_checks_that_read_no_row_are_the_learners_preflight(toy_catalog, toy_log):
    shards = list_shards(toy_log)
    shards[0].write_bytes(b"not parquet")  # found only by reading rows
    quick = check_log(toy_log, toy_catalog, rows=False)
    assert quick.ok and quick.sound_shards() == shards
    assert not check_log(toy_log, toy_catalog).ok
    with pytest.raises(InputError, match="manifest.json: collected on catalog 'toy'"):
        check_log(toy_log, make_toy_catalog(seed=3), rows=False).sound_shards()
    (toy_log / "manifest.json").unlink()
    assert check_log(toy_log, rows=False).ok  # no catalog to check: the manifest may be absent
    with pytest.raises(InputError, match="manifest.json: not found"):
        check_log(toy_log, toy_catalog, rows=False).sound_shards()


def test_cli_info_json_and_table(toy_log):
    runner = CliRunner()
    res = runner.invoke(app, ["logs", "info", str(toy_log), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["summary"]["n_sessions"] == 60 and out["summary"]["n_devices"] == 3
    assert set(out["summary"]["behaviour"]) >= {"sr@10", "sr@20", "sr@30", "ni", "nv"}
    res = runner.invoke(app, ["logs", "info", str(toy_log)])
    assert res.exit_code == 0 and "SR@10" in res.output and "NV" in res.output


def test_cli_info_check(toy_log, toy_catalog, tmp_path):
    runner = CliRunner()
    catalog_dir = toy_catalog.save(tmp_path / "catalog")
    res = runner.invoke(
        app, ["logs", "info", str(toy_log), "--check", "--catalog", str(catalog_dir), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["check"]["ok"] is True
    (toy_log / "experience" / "shard-00002.parquet").write_bytes(b"\x00" * 10)
    res = runner.invoke(app, ["logs", "info", str(toy_log), "--check", "--json"])
    assert res.exit_code == 1
    problems = json.loads(res.output)["check"]["problems"]
    assert "shard-00002.parquet: not a readable Parquet shard" in problems[0]
    assert problems[1].endswith("the log is complete with 60 sessions, shards hold 40")


def test_cli_collect_then_resume(toy_catalog, tmp_path):
    runner = CliRunner()
    catalog_dir = toy_catalog.save(tmp_path / "catalog")
    out = tmp_path / "log"
    args = ["collect", "--catalog", str(catalog_dir), "--sessions", "40", "--chunk-sessions", "20"]
    args += ["--out", str(out), "--seed", "2", "--no-progress", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert result["collect"]["n_sessions"] == 40 and result["collect"]["sessions_per_second"] > 0
    assert result["summary"]["n_devices"] == 6
    assert read_manifest(out).complete
    res = runner.invoke(app, [*args, "--resume"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["collect"]["chunks_skipped"] == 2
