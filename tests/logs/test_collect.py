"""Collection: chunks, shards, manifest, determinism, crash and resume, backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import pytest

from textrec.catalog.retrieval import Retriever
from textrec.language.speech import build_sentence_bank
from textrec.logs.collect import _ChunkRunner, _Setup, collect, session_ids
from textrec.logs.info import check_log, summarize
from textrec.logs.policies import default_devices
from textrec.logs.reader import list_shards, read_experience, shown_actions
from textrec.logs.writer import read_manifest
from textrec.simulator.task import TaskConfig

N, CHUNK = 96, 24


@pytest.fixture(scope="module")
def bank(toy_catalog):
    return build_sentence_bank(toy_catalog.schema, seed=0)


def _collect(catalog, bank, out, **kw):
    args = {"n_sessions": N, "seed": 5, "chunk_sessions": CHUNK, "progress": False, "bank": bank}
    return collect(catalog, out, **{**args, **kw})


def _tables(log: Path) -> dict[str, list]:
    """Every shard's table as Python lists, keyed by kind/name (for exact comparisons)."""
    out = {}
    for kind in ("experience", "oracle"):
        for p in list_shards(log, kind):
            out[f"{kind}/{p.name}"] = pq.read_table(p).to_pylist()
    return out


@pytest.fixture(scope="module")
def reference(toy_catalog, bank, tmp_path_factory):
    """An uninterrupted collection."""
    log = tmp_path_factory.mktemp("ref") / "log"
    result = _collect(toy_catalog, bank, log)
    return log, result


def test_collection_writes_valid_chunks_and_manifest(toy_catalog, reference):
    log, result = reference
    assert result.n_sessions == N and result.chunks_run == 4 and result.chunks_skipped == 0
    assert result.sessions_per_second > 0
    manifest = read_manifest(log)
    assert manifest.complete and manifest.chunks_done == (0, 1, 2, 3) and manifest.pool == "train"
    assert manifest.catalog_fingerprint == toy_catalog.fingerprint
    assert [d["name"] for d in manifest.devices] == [d.name for d in default_devices()]
    report = check_log(log, toy_catalog)
    assert report.ok, report.problems
    assert report.n_sessions == N
    rows = [read_experience(p) for p in list_shards(log)]
    sessions = np.concatenate([r.session_id[r.check_complete()[:-1]] for r in rows])
    assert len(set(sessions.tolist())) == N
    # round-robin devices over the global session number, train-pool items only
    global_number = np.array([int(s.split("-")[-1]) for s in sessions])
    devices = np.concatenate([r.device_id[r.check_complete()[:-1]] for r in rows])
    np.testing.assert_array_equal(devices, global_number % len(default_devices()))
    index = {s: i for i, s in enumerate(toy_catalog.item_ids.tolist())}
    shown = np.array([index[i] for r in rows for i in r.item_id.tolist()])
    assert set(shown.tolist()) <= set(toy_catalog.pool("train").tolist())


def test_chunk_rows_agree_with_the_simulator(toy_catalog, bank, tmp_path):
    devices = default_devices()
    setup = _Setup(toy_catalog, bank, TaskConfig(), devices, 3, "round-robin", tmp_path)
    runner = _ChunkRunner(setup)
    experience, oracle = runner.rollout(7, 70, 130)
    outcomes = runner.sim.outcomes()
    offsets = experience.check_complete()
    np.testing.assert_array_equal(experience.session_id[offsets[:-1]], session_ids(3, 7, 70, 130))
    np.testing.assert_array_equal(np.diff(offsets), outcomes.turns)
    np.testing.assert_array_equal(experience.terminated[offsets[1:] - 1], outcomes.success)
    np.testing.assert_allclose(
        np.add.reduceat(experience.reward.astype(float), offsets[:-1]), outcomes.returns, rtol=1e-5
    )
    np.testing.assert_array_equal(
        np.add.reduceat(oracle.violations.astype(int), offsets[:-1]), outcomes.nv
    )
    np.testing.assert_array_equal(
        oracle.target_id[offsets[:-1]], toy_catalog.item_ids[outcomes.targets]
    )
    assert (experience.feedback[experience.terminated] == "").all()
    assert (experience.feedback[~experience.terminated] != "").all()
    assert np.isfinite(oracle.log_probs).all() and (oracle.log_probs <= 0).all()
    assert oracle.matched.mean() > 0.5
    # the logged action is the shown item's action vector; matched rows have log-probs of the draw
    actions = shown_actions(toy_catalog)
    index = {s: i for i, s in enumerate(toy_catalog.item_ids.tolist())}
    assert actions[[index[i] for i in experience.item_id.tolist()]].shape == (experience.n_rows, 3)
    assert set(oracle.policy.tolist()) == {d.name for d in devices}


def test_same_seed_same_log_different_seed_different(toy_catalog, bank, reference, tmp_path):
    log, _ = reference
    again = tmp_path / "again"
    _collect(toy_catalog, bank, again)
    assert _tables(again) == _tables(log)
    other = tmp_path / "other"
    _collect(toy_catalog, bank, other, seed=6)
    assert _tables(other) != _tables(log)


def test_process_pool_gives_the_same_log(toy_catalog, bank, reference, tmp_path):
    log, _ = reference
    pooled = tmp_path / "pooled"
    result = _collect(toy_catalog, bank, pooled, workers=2)
    assert result.chunks_run == 4
    assert _tables(pooled) == _tables(log)


def test_crash_after_k_chunks_then_resume_loses_and_duplicates_nothing(
    toy_catalog, bank, reference, tmp_path, monkeypatch
):
    log, _ = reference
    out = tmp_path / "crashed"
    from textrec.logs import collect as collect_module

    real = collect_module.write_chunk

    def crash_on_chunk_2(log_dir, chunk, experience, oracle):
        if chunk == 2:
            raise RuntimeError("power cut")
        return real(log_dir, chunk, experience, oracle)

    monkeypatch.setattr(collect_module, "write_chunk", crash_on_chunk_2)
    with pytest.raises(RuntimeError, match="power cut"):
        _collect(toy_catalog, bank, out)
    assert read_manifest(out).chunks_done == (0, 1)
    assert [p.name for p in list_shards(out)] == ["shard-00000.parquet", "shard-00001.parquet"]
    monkeypatch.setattr(collect_module, "write_chunk", real)
    with pytest.raises(ValueError, match="already holds a log; pass --resume"):
        _collect(toy_catalog, bank, out)
    result = _collect(toy_catalog, bank, out, resume=True)
    assert (result.chunks_skipped, result.chunks_run, result.n_sessions) == (2, 2, N)
    assert _tables(out) == _tables(log)
    assert check_log(out, toy_catalog).ok


def test_killed_process_mid_write_then_resume(toy_catalog, bank, reference, tmp_path):
    """A collection killed by SIGKILL while writing chunk 2 leaves complete shards only."""
    log, _ = reference
    out = tmp_path / "killed"
    catalog_dir = toy_catalog.save(tmp_path / "catalog")
    script = textwrap.dedent(
        f"""
        import os, signal
        import textrec.logs.writer as writer
        from textrec.catalog import Catalog
        from textrec.language.speech import build_sentence_bank
        from textrec.logs.collect import collect

        real = writer.pq.write_table

        def write_then_die(table, where, **kw):
            if "experience" in str(where) and "shard-00002" in str(where):
                with open(where, "wb") as f:
                    f.write(b"PAR1 half a shard")
                os.kill(os.getpid(), signal.SIGKILL)
            return real(table, where, **kw)

        writer.pq.write_table = write_then_die
        cat = Catalog.load({str(catalog_dir)!r})
        bank = build_sentence_bank(cat.schema, seed=0)
        collect(cat, {str(out)!r}, {N}, 5, chunk_sessions={CHUNK}, progress=False, bank=bank)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert read_manifest(out).chunks_done == (0, 1)
    leftovers = [p.name for p in (out / "experience").iterdir() if p.name.startswith(".")]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")
    assert [p.name for p in list_shards(out)] == ["shard-00000.parquet", "shard-00001.parquet"]
    assert (out / "oracle" / "shard-00002.parquet").exists()  # the oracle shard is written first
    assert check_log(out, toy_catalog).problems == (
        f"{out / 'oracle'}: oracle shards ['shard-00002.parquet'] have no experience shard",
    )
    result = _collect(toy_catalog, bank, out, resume=True)
    assert (result.chunks_skipped, result.chunks_run) == (2, 2)
    assert not [p for p in (out / "experience").iterdir() if p.name.startswith(".")]
    assert _tables(out) == _tables(log)


def test_resume_redoes_a_corrupt_chunk_and_refuses_other_settings(
    toy_catalog, bank, reference, tmp_path
):
    log, _ = reference
    out = tmp_path / "corrupt"
    _collect(toy_catalog, bank, out)
    (out / "experience" / "shard-00001.parquet").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="other settings \\(seed\\)"):
        _collect(toy_catalog, bank, out, seed=9, resume=True)
    with pytest.raises(ValueError, match="other settings \\(chunk_sessions\\)"):
        _collect(toy_catalog, bank, out, chunk_sessions=10, resume=True)
    result = _collect(toy_catalog, bank, out, resume=True)
    assert (result.chunks_skipped, result.chunks_run) == (3, 1)
    assert _tables(out) == _tables(log)


def test_devices_differ_measurably(reference):
    log, _ = reference
    summary = summarize(log)
    ni = {d.name: d.ni for d in summary.devices}
    best, worst = ni["slot-noise-0.3"], ni["latest-only"]
    assert worst.mean - best.mean > 3 * np.hypot(worst.se, best.se)


def test_bad_arguments(toy_catalog, bank, tmp_path):
    with pytest.raises(ValueError, match="backend must be one of"):
        _collect(toy_catalog, bank, tmp_path / "a", backend="spark")
    with pytest.raises(ValueError, match="device names must be unique"):
        _collect(toy_catalog, bank, tmp_path / "b", devices=default_devices()[:1] * 2)
    with pytest.raises(ValueError, match="n_sessions must be >= 1"):
        _collect(toy_catalog, bank, tmp_path / "c", n_sessions=0)


def test_ray_backend_without_ray_is_a_clear_error(toy_catalog, bank, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # ``import ray`` fails even where it is installed
    with pytest.raises(ValueError, match=r"backend 'ray' needs Ray.*textrec\[ray\]"):
        _collect(toy_catalog, bank, tmp_path / "ray", backend="ray")


def test_ray_backend_gives_the_same_log(toy_catalog, bank, reference, tmp_path, ray_cluster):
    log, _ = reference
    result = _collect(toy_catalog, bank, tmp_path / "ray", backend="ray", workers=2)
    assert result.chunks_run == 4
    assert _tables(tmp_path / "ray") == _tables(log)
    assert ray_cluster.is_initialized()  # joined the cluster it found, did not shut it down


def test_ray_data_reads_the_log_as_it_is(reference, ray_cluster):
    """A log's shards are plain Parquet that ``ray.data.read_parquet`` reads row for row."""
    ray_data = pytest.importorskip("ray.data", reason="ray.data needs Ray's data dependencies")
    log, _ = reference
    for kind in ("experience", "oracle"):
        shards = [str(p) for p in list_shards(log, kind)]
        got = ray_data.read_parquet(shards, filesystem=pa_fs.LocalFileSystem()).to_pandas()
        want = pa.concat_tables([pq.read_table(p) for p in shards]).to_pandas()
        assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0
        key = ["session_id", "turn"]
        pd.testing.assert_frame_equal(
            got.sort_values(key).reset_index(drop=True),
            want.sort_values(key).reset_index(drop=True),
            check_dtype=False,  # the same strings, as pandas' pyarrow-backed string dtype
        )


def test_retriever_pool_is_the_train_pool(toy_catalog, bank, tmp_path):
    setup = _Setup(toy_catalog, bank, TaskConfig(), default_devices(), 0, "random", tmp_path)
    runner = _ChunkRunner(setup)
    assert np.array_equal(runner.retriever.pool, Retriever(toy_catalog, "train").pool)
    experience, _ = runner.rollout(0, 0, 60)
    assert len(np.unique(experience.device_id)) > 1
    assert os.listdir(tmp_path) == []  # rollout alone writes nothing
