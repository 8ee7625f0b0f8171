"""Streaming reader: coverage, shuffling, history, episodes, memory, bad shards, other readers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import make_toy_catalog
from tests.logs.conftest import make_rows
from textrec.errors import InputError
from textrec.logs.reader import ExperienceReader, list_shards, read_experience, shown_actions


def _all_rows(log: Path):
    from textrec.logs.schema import ExperienceBatch

    return ExperienceBatch.concat([read_experience(p) for p in list_shards(log)])


def test_transitions_cover_every_row_once_per_epoch(toy_catalog, toy_log):
    rows = _all_rows(toy_log)
    reader = ExperienceReader(toy_log, toy_catalog, batch_size=16, buffer_size=40, read_rows=7)
    for seed in (0, 1):
        seen = Counter()
        sizes = []
        for batch in reader.transitions(np.random.default_rng(seed)):
            sizes.append(len(batch))
            seen.update(zip(batch.session_id.tolist(), batch.turn.tolist(), strict=True))
        assert seen == Counter(zip(rows.session_id.tolist(), rows.turn.tolist(), strict=True))
        assert all(s == 16 for s in sizes[:-1]) and 0 < sizes[-1] <= 16
    # bounded: the buffer never held more than its capacity plus one read and one carried session
    assert reader.peak_buffered < 40 + 7 + 12


def test_shuffling_is_seeded_and_unshuffled_is_file_order(toy_catalog, toy_log):
    reader = ExperienceReader(toy_log, toy_catalog, batch_size=32, buffer_size=64)

    def keys(rng):
        return [
            k
            for b in reader.transitions(rng)
            for k in zip(b.session_id.tolist(), b.turn.tolist(), strict=True)
        ]

    assert keys(np.random.default_rng(5)) == keys(np.random.default_rng(5))
    assert keys(np.random.default_rng(5)) != keys(np.random.default_rng(6))
    rows = _all_rows(toy_log)
    assert keys(None) == list(zip(rows.session_id.tolist(), rows.turn.tolist(), strict=True))


def test_transition_fields_and_history(toy_catalog, toy_log):
    rows = _all_rows(toy_log)
    index = {s: i for i, s in enumerate(toy_catalog.item_ids.tolist())}
    by_key = {
        (s, int(t)): i for i, (s, t) in enumerate(zip(rows.session_id, rows.turn, strict=True))
    }
    actions = shown_actions(toy_catalog)
    reader = ExperienceReader(toy_log, toy_catalog, batch_size=50, history=3, read_rows=5)
    n = 0
    for b in reader.transitions(np.random.default_rng(0)):
        assert b.history_items.shape == (len(b), 3) and b.actions.shape == (len(b), 3)
        for j in range(len(b)):
            sid, t = b.session_id[j], int(b.turn[j])
            r = by_key[(sid, t)]
            assert b.items[j] == index[rows.item_id[r]] and b.feedback[j] == rows.feedback[r]
            np.testing.assert_array_equal(b.actions[j], actions[b.items[j]])
            past = [by_key[(sid, u)] for u in range(max(1, t - 3), t)]
            assert b.history_length[j] == len(past)
            assert b.history_items[j, : len(past)].tolist() == [
                index[rows.item_id[p]] for p in past
            ]
            assert b.history_feedback[j, : len(past)].tolist() == [rows.feedback[p] for p in past]
            assert (b.history_items[j, len(past) :] == -1).all()
            n += 1
    assert n == rows.n_rows


def test_episodes_are_whole_sessions(toy_catalog, toy_log):
    rows = _all_rows(toy_log)
    offsets = rows.check_complete()
    lengths = dict(
        zip(rows.session_id[offsets[:-1]].tolist(), np.diff(offsets).tolist(), strict=True)
    )
    reader = ExperienceReader(toy_log, toy_catalog, batch_size=8, buffer_size=10, read_rows=9)
    seen = []
    for ep in reader.episodes(np.random.default_rng(1)):
        assert ep.items.shape == ep.mask.shape == ep.reward.shape
        assert ep.actions.shape == (*ep.items.shape, 3)
        assert ep.mask.shape[1] == ep.length.max()
        for j in range(len(ep)):
            n = int(ep.length[j])
            assert n == lengths[ep.session_id[j]]
            assert ep.mask[j, :n].all() and not ep.mask[j, n:].any()
            assert ep.turn[j, :n].tolist() == list(range(1, n + 1))
            assert (ep.terminated[j] | ep.truncated[j]).sum() == 1 and (
                ep.terminated[j, n - 1] or ep.truncated[j, n - 1]
            )
            assert (ep.items[j, n:] == -1).all()
        seen.extend(ep.session_id.tolist())
    assert sorted(seen) == sorted(lengths)
    assert reader.peak_buffered < 10 + 9


def test_opening_utterance_is_history_not_action(toy_catalog, tmp_path):
    from dataclasses import replace

    from textrec.logs.writer import write_shard

    exp, _ = make_rows(toy_catalog, 4, max_turns=3)
    offsets = exp.check_complete()
    # prepend a turn-0 opening row to every session
    idx = np.insert(np.arange(exp.n_rows), offsets[:-1], offsets[:-1])
    opened = exp.take(idx)
    is_open = np.zeros(len(idx), bool)
    is_open[offsets[:-1] + np.arange(len(offsets) - 1)] = True
    opened = replace(
        opened,
        turn=np.where(is_open, 0, opened.turn),
        item_id=np.where(is_open, "", opened.item_id),
        feedback=np.where(is_open, "hello, I want boots", opened.feedback),
        terminated=opened.terminated & ~is_open,
        truncated=opened.truncated & ~is_open,
        reward=np.where(is_open, 0, opened.reward),
    )
    write_shard(tmp_path / "experience" / "shard-00000.parquet", opened)
    reader = ExperienceReader(tmp_path, toy_catalog, batch_size=100)
    (b,) = list(reader.transitions())
    assert len(b) == exp.n_rows and (b.turn >= 1).all()
    first = b.turn == 1
    assert (b.history_length[first] == 1).all()
    assert (b.history_items[first, 0] == -1).all()
    assert (b.history_feedback[first, 0] == "hello, I want boots").all()
    (ep,) = list(reader.episodes())
    assert (
        (ep.items[:, 0] == -1).all()
        and (ep.actions[:, 0] == -1).all()
        and (ep.turn[:, 0] == 0).all()
    )


def test_external_readers_read_shards_as_they_are(toy_log):
    import duckdb
    import polars as pl
    import pyarrow.dataset as ds

    rows = _all_rows(toy_log)
    # a temporary file of an unfinished write must be ignored by every reader
    (toy_log / "experience" / ".shard-00009.parquet.k2j4_x.tmp").write_bytes(b"partial")
    table = ds.dataset(toy_log / "experience", format="parquet").to_table()
    assert table.num_rows == rows.n_rows
    assert set(table.column_names) >= {
        "session_id",
        "device_id",
        "turn",
        "item_id",
        "feedback",
        "reward",
    }
    glob = str(toy_log / "experience" / "*.parquet")
    n, n_sessions = duckdb.sql(
        f"select count(*), count(distinct session_id) from read_parquet('{glob}')"
    ).fetchall()[0]
    assert n == rows.n_rows and n_sessions == len(set(rows.session_id.tolist()))
    frame = pl.scan_parquet(glob).group_by("device_id").agg(pl.len()).collect()
    assert frame["len"].sum() == rows.n_rows
    oracle = pl.scan_parquet(str(toy_log / "oracle" / "*.parquet")).collect()
    assert oracle.height == rows.n_rows and oracle["log_probs"].list.len().unique().to_list() == [3]


def _shard(log: Path) -> Path:
    return list_shards(log)[1]


def test_corrupt_shard_is_named(toy_catalog, toy_log):
    path = _shard(toy_log)
    path.write_bytes(b"this is not parquet at all" * 10)
    reader = ExperienceReader(toy_log, toy_catalog)
    with pytest.raises(ValueError, match=f"{path}: not a readable Parquet shard"):
        list(reader.transitions())


def test_truncated_shard_is_named(toy_catalog, toy_log):
    path = _shard(toy_log)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=f"{path}: not a readable Parquet shard"):
        list(ExperienceReader(toy_log, toy_catalog).episodes())


def test_other_schema_version_is_named(toy_catalog, toy_log):
    path = _shard(toy_log)
    table = pq.read_table(path)
    col = table.schema.get_field_index("schema_version")
    table = table.set_column(col, "schema_version", pa.array(np.full(table.num_rows, 2, np.int16)))
    table = table.replace_schema_metadata({b"textrec.schema_version": b"2"})
    pq.write_table(table, path)
    with pytest.raises(ValueError, match=f"{path}: written with schema version 2"):
        list(ExperienceReader(toy_log, toy_catalog).transitions())
    pq.write_table(table.replace_schema_metadata({}), path)  # no footer key: the column still tells
    with pytest.raises(ValueError, match=f"{path}: row 0, column 'schema_version': value 2"):
        list(ExperienceReader(toy_log, toy_catalog).transitions())


def test_missing_columns_are_named(toy_catalog, toy_log):
    path = _shard(toy_log)
    pq.write_table(pq.read_table(path).drop_columns(["feedback"]), path)
    with pytest.raises(ValueError, match=rf"{path}: missing columns \['feedback'\]"):
        list(ExperienceReader(toy_log, toy_catalog).transitions())


def test_unknown_item_ids_are_named(toy_log):
    small = make_toy_catalog(n_items=50)
    with pytest.raises(
        ValueError,
        match=r"shard-0000\d.parquet: row \d+, column 'item_id': 'toy-0\d+' is not an item",
    ):
        list(ExperienceReader(toy_log, small).transitions())


def test_shard_ending_inside_a_session_is_named(toy_catalog, toy_log):
    path = _shard(toy_log)
    table = pq.read_table(path)
    last = np.arange(table.num_rows) == table.num_rows - 1
    for name in ("terminated", "truncated"):
        flags = table.column(name).to_numpy() & ~last
        table = table.set_column(table.schema.get_field_index(name), name, pa.array(flags))
    pq.write_table(table, path)
    with pytest.raises(ValueError, match=f"{path}: the shard ends inside session"):
        list(ExperienceReader(toy_log, toy_catalog, read_rows=5).transitions())


def test_item_index_maps_ids_and_keeps_its_hash_table(toy_catalog):
    """Ids map to catalog indices ("" to -1, unknown ids refused), and the index holds Python
    strings: pandas' default (arrow) string index rebuilds its hash table at every lookup, which
    cost a served session's append 57 ms on UT-Zappos."""
    from textrec.logs.reader import ItemIndex

    index = ItemIndex(toy_catalog)
    ids = np.array(["toy-0003", "", "toy-0000"], dtype=object)
    assert index(ids, "here").tolist() == [3, -1, 0]
    with pytest.raises(InputError, match="'nope' is not an item"):
        index(np.array(["nope"], dtype=object), "here")
    assert index._index.dtype == object
