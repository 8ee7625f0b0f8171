"""Atomic shard writing and the manifest."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.logs.conftest import make_rows
from textrec.logs.reader import read_experience, read_oracle
from textrec.logs.writer import (
    Manifest,
    read_manifest,
    shard_paths,
    write_chunk,
    write_manifest,
    write_shard,
)


def test_write_chunk_round_trip(toy_catalog, tmp_path):
    exp, ora = make_rows(toy_catalog, 8)
    exp_path, ora_path = write_chunk(tmp_path, 4, exp, ora)
    assert exp_path == tmp_path / "experience" / "shard-00004.parquet"
    assert ora_path == tmp_path / "oracle" / "shard-00004.parquet"
    np.testing.assert_array_equal(read_experience(exp_path).item_id, exp.item_id)
    np.testing.assert_array_equal(read_oracle(ora_path).log_probs, ora.log_probs)


def test_failed_write_leaves_no_file_and_no_temp(toy_catalog, tmp_path, monkeypatch):
    exp, _ = make_rows(toy_catalog, 8)
    path = tmp_path / "experience" / "shard-00000.parquet"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("textrec.logs.writer.pq.write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        write_shard(path, exp)
    assert list(path.parent.iterdir()) == []


def test_invalid_rows_are_not_written(toy_catalog, tmp_path):
    exp, ora = make_rows(toy_catalog, 4)
    reward = exp.reward.copy()
    reward[2] = np.inf
    with pytest.raises(ValueError, match=r"shard-00000.parquet: row 2, column 'reward'"):
        write_chunk(tmp_path, 0, replace(exp, reward=reward), ora)
    assert not any(p.is_file() for p in tmp_path.rglob("*") if p.parent.name == "experience")


def test_oracle_keys_must_match(toy_catalog, tmp_path):
    exp, ora = make_rows(toy_catalog, 4)
    turn = ora.turn.copy()
    turn[0] += 1
    with pytest.raises(ValueError, match="keys"):
        write_chunk(tmp_path, 0, exp, replace(ora, turn=turn))
    assert not shard_paths(tmp_path, 0)[0].exists()


def test_manifest_round_trip_and_errors(tmp_path):
    m = Manifest(
        catalog_name="toy",
        catalog_fingerprint="abc",
        seed=3,
        n_sessions=25,
        chunk_sessions=10,
        devices=({"name": "d0"},),
        task={"max_turns": 50},
        chunks_done=(2, 0),
    )
    assert m.n_chunks == 3 and m.chunk_range(2) == (20, 25) and m.chunks_done == (0, 2)
    write_manifest(tmp_path, m)
    back = read_manifest(tmp_path)
    assert back == m
    assert back.with_chunks((1,)).complete
    with pytest.raises(ValueError, match="chunks_done holds chunks"):
        replace(m, chunks_done=(3,))
    (tmp_path / "manifest.json").write_text('{"schema_version": 99, "seed": 1}')
    with pytest.raises(ValueError, match="manifest.json: schema_version 99"):
        read_manifest(tmp_path)
