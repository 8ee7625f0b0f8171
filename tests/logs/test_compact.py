"""``textrec logs compact``: one-session shards merged into range shards, sidecar alike, and a
compaction killed at any step leaves a whole, checkable log that the next one completes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.cli_run import run_cli
from tests.logs.conftest import make_log, make_rows
from textrec.errors import InputError
from textrec.logs import check_log
from textrec.logs.append import PEOPLE, FinishedSession, SessionLog
from textrec.logs.compact import compact
from textrec.logs.reader import list_shards, read_experience, read_oracle
from textrec.logs.schema import ExperienceBatch, OracleBatch
from textrec.logs.writer import COMPACT_JOURNAL, ORACLE_DIR, Manifest, write_chunk, write_manifest


def _served_log(catalog, root: Path, n: int = 7) -> Path:
    """A served-session log of ``n`` one-session shards, with an oracle sidecar."""
    for c in range(n):
        exp, ora = make_rows(catalog, 1, seed=c, prefix=f"web-{c}")
        write_chunk(root, c, exp, ora)
    write_manifest(
        root,
        Manifest(
            catalog_name=catalog.name,
            catalog_fingerprint=catalog.fingerprint,
            seed=0,
            n_sessions=n,
            chunk_sessions=1,
            pool="all",
            devices=tuple({"name": f"d{i}", "source": PEOPLE} for i in range(3)),
            sentences={"source": PEOPLE},
            chunks_done=tuple(range(n)),
        ),
    )
    return root


def _rows(root: Path) -> tuple[ExperienceBatch, OracleBatch]:
    return (
        ExperienceBatch.concat([read_experience(p) for p in list_shards(root)]),
        OracleBatch.concat([read_oracle(p) for p in list_shards(root, ORACLE_DIR)]),
    )


def _same(a: tuple[ExperienceBatch, OracleBatch], b: tuple[ExperienceBatch, OracleBatch]) -> None:
    """The same rows, in the same order, in both folders."""
    (exp_a, ora_a), (exp_b, ora_b) = a, b
    for x, y in ((exp_a, exp_b), (ora_a, ora_b)):
        np.testing.assert_array_equal(x.session_id, y.session_id)
        np.testing.assert_array_equal(x.turn, y.turn)
    np.testing.assert_array_equal(exp_a.reward, exp_b.reward)
    np.testing.assert_array_equal(ora_a.log_probs, ora_b.log_probs)


def test_compacts_runs_of_sessions_into_range_shards_with_their_sidecar(tmp_path, toy_catalog):
    root = _served_log(toy_catalog, tmp_path / "log")
    before = _rows(root)
    result = compact(root, shard_sessions=3)
    names = [p.name for p in list_shards(root)]
    assert names == [
        "shard-00000-00002.parquet",
        "shard-00003-00005.parquet",
        "shard-00006.parquet",
    ]
    assert [p.name for p in list_shards(root, ORACLE_DIR)] == names
    assert (result.shards_before, result.shards_after, result.merged) == (7, 3, 2)
    assert sorted(p.name for p in (root / "experience").iterdir()) == names  # nothing left over
    _same(_rows(root), before)
    report = check_log(root, toy_catalog)
    assert report.ok, report.problems
    assert report.n_sessions == 7
    assert compact(root, shard_sessions=3).merged == 0  # already compact


class _Killed(Exception):
    """The process dies here."""


class _KillAt:
    """Counts file operations; the ``k``-th raises :class:`_Killed` instead of running."""

    def __init__(self, k: int) -> None:
        self.k, self.count = k, 0

    def __call__(self, real):
        def op(*args, **kwargs):
            self.count += 1
            if self.count == self.k:
                raise _Killed
            return real(*args, **kwargs)

        return op


def test_a_compaction_killed_at_any_step_loses_nothing(tmp_path, toy_catalog, monkeypatch):
    """Kill the k-th file operation (rename or delete) of a compaction, for every k: the log
    checks clean with the same rows; the next compaction completes it."""
    pristine = _served_log(toy_catalog, tmp_path / "pristine")
    before = _rows(pristine)
    real_replace, real_unlink = os.replace, Path.unlink
    k = 0
    while True:
        k += 1
        root = tmp_path / f"log-{k}"
        shutil.copytree(pristine, root)
        dies = _KillAt(k)
        monkeypatch.setattr(os, "replace", dies(real_replace))
        monkeypatch.setattr(Path, "unlink", dies(real_unlink))
        try:
            compact(root, shard_sessions=4)
            killed = False
        except _Killed:
            killed = True
        monkeypatch.setattr(os, "replace", real_replace)
        monkeypatch.setattr(Path, "unlink", real_unlink)
        report = check_log(root, toy_catalog)
        assert report.ok, (k, report.problems)
        assert report.n_sessions == 7
        _same(_rows(root), before)
        compact(root, shard_sessions=4)
        assert [p.name for p in list_shards(root)] == [
            "shard-00000-00003.parquet",
            "shard-00004-00006.parquet",
        ]
        assert not (root / COMPACT_JOURNAL).exists()
        _same(_rows(root), before)
        if not killed:
            break
    assert k > 10  # every write, rename and delete of both steps was a kill point


def test_a_served_log_takes_new_sessions_after_compaction(tmp_path, toy_catalog):
    log = SessionLog(tmp_path / "log", toy_catalog)
    ids = toy_catalog.item_ids[:3].tolist()
    for i in range(4):
        log.append(FinishedSession(f"chat-{i}", "chat", "", tuple(ids), ("a", "b", ""), True))
    compact(tmp_path / "log")
    log.append(FinishedSession("chat-4", "chat", "", tuple(ids), ("a", "b", ""), True))
    assert [p.name for p in list_shards(tmp_path / "log")] == [
        "shard-00000-00003.parquet",
        "shard-00004.parquet",
    ]
    report = check_log(tmp_path / "log", toy_catalog)
    assert report.ok and report.n_sessions == 5


def test_refuses_a_collected_log_and_a_damaged_shard(tmp_path, toy_catalog):
    with pytest.raises(InputError, match="collected log"):
        compact(make_log(toy_catalog, tmp_path / "collected"))
    root = _served_log(toy_catalog, tmp_path / "log")
    shard = list_shards(root)[2]
    shard.write_bytes(shard.read_bytes()[:100])
    with pytest.raises(InputError, match=shard.name):
        compact(root)
    assert len(list_shards(root)) == 7  # nothing merged, nothing deleted
    with pytest.raises(InputError, match="shard_sessions"):
        compact(root, shard_sessions=1)


def test_cli_compacts_then_info_check_passes(tmp_path, toy_catalog, capsys):
    root = _served_log(toy_catalog, tmp_path / "log")
    out = run_cli(capsys, ["logs", "compact", str(root), "--shard-sessions", "4", "--json"])
    assert out.code == 0, out.err_text
    assert json.loads(out.out)["shards_after"] == 2
    catalog_dir = toy_catalog.save(tmp_path / "catalog")
    out = run_cli(capsys, ["logs", "info", str(root), "--check", "--catalog", str(catalog_dir)])
    assert out.code == 0 and "check passed: 2 shards, 7 sessions" in out.out
    bad = run_cli(capsys, ["logs", "compact", str(make_log(toy_catalog, tmp_path / "collected"))])
    assert bad.code == 2 and "collected log" in bad.err_text
