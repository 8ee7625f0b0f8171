"""Streaming reader of the experience log: training batches of transitions or whole episodes.

The reader never loads the whole log. It walks the shards (in a shuffled order when given a
``Generator``), reads each one row group at a time with ``ParquetFile.iter_batches``, stitches the
rows of sessions that straddle two reads, and feeds a bounded shuffling buffer. One call to
:meth:`ExperienceReader.transitions` or :meth:`ExperienceReader.episodes` is one epoch: every
row (or session) comes out exactly once.

Item ids are mapped to catalog indices on the way; an id that is not in the catalog is a
``ValueError`` naming the shard, the row and the id.

**Actions.** The action a learner trains on is the shown item's attribute vector,
:func:`shown_actions`: the item's primary true label (local value index) on each attribute when it
is a labeled train item, and AttrNet's most probable value where the recommender has no label (test
items, missing labels) — the same vector the behaviour policies' oracle log-probabilities score.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from textrec.catalog import TRAIN, Catalog
from textrec.columnar import Columnar
from textrec.errors import InputError
from textrec.logs.schema import (
    EXPERIENCE_SCHEMA,
    ORACLE_SCHEMA,
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    ExperienceBatch,
    OracleBatch,
)
from textrec.logs.writer import EXPERIENCE_DIR, hidden_by_compaction

__all__ = [
    "TransitionBatch",
    "EpisodeBatch",
    "ExperienceReader",
    "list_shards",
    "open_shard",
    "read_experience",
    "read_oracle",
    "LogScan",
    "scan_log",
    "ItemIndex",
    "item_actions",
    "shown_actions",
]


# ---------------------------------------------------------------------------------------- shards
def list_shards(log_dir: str | Path, kind: str = EXPERIENCE_DIR) -> list[Path]:
    """Sorted ``*.parquet`` shards of ``log_dir/<kind>`` (temporary ``.``-names are skipped, and
    so are the shards a pending compaction step hides:
    :func:`~textrec.logs.writer.hidden_by_compaction`).

    ``log_dir`` may also be the shard folder itself.
    """
    root = Path(log_dir)
    folder = root / kind if (root / kind).is_dir() else root
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: log folder not found")
    hidden = hidden_by_compaction(folder.parent)
    return sorted(
        p
        for p in folder.glob("*.parquet")
        if not p.name.startswith((".", "_")) and p.name not in hidden
    )


def open_shard(path: str | Path, schema: pa.Schema = EXPERIENCE_SCHEMA) -> pq.ParquetFile:
    """Open a shard and check its footer: readable, every column of ``schema``, the schema version.

    Raises:
        ValueError: naming the shard, for a corrupt or truncated file, missing columns or a shard
            written under another schema version.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p}: a directory, not a Parquet shard")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: shard not found")
    try:
        pf = pq.ParquetFile(p)
        arrow_schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"{p}: not a readable Parquet shard (corrupt or truncated?): {exc}"
        ) from exc
    missing = [n for n in schema.names if n not in arrow_schema.names]
    if missing:
        raise InputError(f"{p}: missing columns {missing}")
    for want in schema:
        stored = arrow_schema.field(want.name).type
        if _type_kind(stored) != _type_kind(want.type):
            raise InputError(f"{p}: column {want.name!r} is stored as {stored}, not {want.type}")
    meta = arrow_schema.metadata or {}
    if SCHEMA_VERSION_KEY in meta and meta[SCHEMA_VERSION_KEY] != str(SCHEMA_VERSION).encode():
        raise InputError(
            f"{p}: written with schema version "
            f"{meta[SCHEMA_VERSION_KEY].decode(errors='replace')}, "
            f"this textrec reads version {SCHEMA_VERSION}"
        )
    return pf


def _type_kind(t: pa.DataType) -> str:
    """What a column holds, whatever its width: integers, floats, text, booleans or other.

    A shard written by another tool may store ``reward`` as float64 (read as float32), never as
    text (which Arrow would parse).
    """
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list of {_type_kind(t.value_type)}"
    for kind, test in (
        ("integer", pa.types.is_integer),
        ("floating point", pa.types.is_floating),
        ("text", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x)),
        ("boolean", pa.types.is_boolean),
    ):
        if test(t):
            return kind
    return str(t)


def _read_table(path: Path, schema: pa.Schema) -> pa.Table:
    pf = open_shard(path, schema)
    try:
        table = pf.read(columns=schema.names)
        table.validate(full=True)  # e.g. invalid UTF-8 in a string column of a damaged page
        return table
    except (pa.ArrowException, OSError) as exc:
        raise InputError(
            f"{path}: not a readable Parquet shard (corrupt or truncated?): {exc}"
        ) from exc


def read_experience(path: str | Path) -> ExperienceBatch:
    """All rows of one experience shard, validated (errors name the shard)."""
    p = Path(path)
    return ExperienceBatch.from_table(_read_table(p, EXPERIENCE_SCHEMA), str(p))


def read_oracle(path: str | Path) -> OracleBatch:
    """All rows of one oracle shard, validated (errors name the shard)."""
    p = Path(path)
    return OracleBatch.from_table(_read_table(p, ORACLE_SCHEMA), str(p))


# ---------------------------------------------------------------------------------------- scan
@dataclass(frozen=True)
class LogScan:
    """What one pass over a few columns of every shard finds (no row is kept)."""

    n_sessions: int
    n_logged_turns: int
    """Rows that show an item (turn >= 1)."""
    sentences: np.ndarray
    """``(U,) object`` the distinct ``feedback`` texts (``""`` included), in order of appearance."""


def scan_log(shards: Sequence[Path]) -> LogScan:
    """Count sessions and logged turns and list the distinct sentences of ``shards``, reading
    four columns of one shard at a time (errors name the shard)."""
    n_sessions = n_turns = 0
    texts = []
    for path in shards:
        pf = open_shard(path)
        try:
            table = pf.read(columns=["turn", "feedback", "terminated", "truncated"])
            ended = pc.or_(table.column("terminated"), table.column("truncated"))
            n_sessions += int(pc.sum(ended).as_py() or 0)
            n_turns += int(pc.sum(pc.greater(table.column("turn"), 0)).as_py() or 0)
            texts.append(pc.unique(table.column("feedback")).to_numpy(zero_copy_only=False))
        except (pa.ArrowException, OSError) as exc:
            raise InputError(
                f"{path}: not a readable Parquet shard (corrupt or truncated?): {exc}"
            ) from exc
    return LogScan(n_sessions, n_turns, pd.unique(np.concatenate(texts)))


# ---------------------------------------------------------------------------------------- catalog
class ItemIndex:
    """Maps item ids to catalog indices (a hash index built once per catalog).

    The index holds Python strings (``dtype=object``), as the ids looked up do: pandas' default
    (arrow-backed) string index, looked up with object ids, converted itself and rebuilt its hash
    table at every lookup, 57 ms per served session's append on UT-Zappos's 50,025 ids, against
    under a millisecond."""

    def __init__(self, catalog: Catalog) -> None:
        self.name = catalog.name
        self._index = pd.Index(catalog.item_ids, dtype=object)

    def __call__(self, item_ids: np.ndarray, source: str, column: str = "item_id") -> np.ndarray:
        """``(R,) int64`` catalog index of each id; ``""`` (an opening-utterance row) maps to -1.

        Raises:
            ValueError: naming ``source``, the row, ``column`` and the first id not in the catalog.
        """
        out = self._index.get_indexer(pd.Index(item_ids, dtype=object)).astype(np.int64)
        bad = (out < 0) & (item_ids != "")
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{source}: row {row}, column {column!r}: {item_ids[row]!r} is not an item of "
                f"catalog {self.name!r} ({int(bad.sum())} unknown ids in this read)"
            )
        return out


def shown_actions(catalog: Catalog) -> np.ndarray:
    """``(N, K) int64`` the action vector of showing each item (local value index per attribute).

    A labeled train item's action is its primary true label; where the recommender has no label
    (test items, missing labels) it is AttrNet's most probable value of that attribute.
    """
    schema = catalog.schema
    out = np.empty((catalog.n_items, schema.n_attributes), dtype=np.int64)
    known = (catalog.split == TRAIN)[:, None] & (catalog.labels >= 0)
    for k in range(schema.n_attributes):
        lo, hi = int(schema.offsets[k]), int(schema.offsets[k + 1])
        out[:, k] = np.where(
            known[:, k], catalog.labels[:, k], catalog.predicted[:, lo:hi].argmax(axis=1)
        )
    return out


def item_actions(catalog: Catalog) -> np.ndarray:
    """``(F, K) int64`` the distinct rows of :func:`shown_actions`: the joint actions the catalog's
    items can take (the ``cql`` learner's ``items`` penalty runs over them)."""
    return np.unique(shown_actions(catalog), axis=0)


# ---------------------------------------------------------------------------------------- records
@dataclass(frozen=True, eq=False)
class TransitionBatch(Columnar):
    """A batch of ``B`` logged turns with their dialogue history (``H`` turns, ``K`` heads).

    Turn ``t`` of a session: the policy saw the history (items shown at earlier turns and the
    sentences the user said after each), showed ``items`` (action ``actions``), and the user
    answered ``feedback`` with ``reward``. The next state is the history extended by
    ``(items, feedback)``. History rows are left-aligned, oldest first, padded with item -1 and
    ``""``; an opening utterance (turn 0) appears in the history with item -1.

    Shapes:
        ``session_id, device_id, turn, items, feedback, reward, terminated, truncated,
        history_length``: ``(B,)``; ``actions``: ``(B, K)``; ``history_items``,
        ``history_feedback``: ``(B, H)``.
    """

    session_id: np.ndarray
    """``(B,) object`` session id."""
    device_id: np.ndarray
    """``(B,) int32`` device that served the session."""
    turn: np.ndarray
    """``(B,) int16`` turn number (>= 1)."""
    items: np.ndarray
    """``(B,) int64`` catalog index of the shown item."""
    actions: np.ndarray
    """``(B, K) int64`` shown item's action vector (:func:`shown_actions`)."""
    feedback: np.ndarray
    """``(B,) object`` the user's sentence after the item (``""`` on success)."""
    reward: np.ndarray
    """``(B,) float32`` reward."""
    terminated: np.ndarray
    """``(B,) bool`` success at this turn."""
    truncated: np.ndarray
    """``(B,) bool`` turn limit reached at this turn."""
    history_items: np.ndarray
    """``(B, H) int64`` catalog indices shown before this turn, oldest first, -1 padded."""
    history_feedback: np.ndarray
    """``(B, H) object`` the user's sentence after each history item, ``""`` padded."""
    history_length: np.ndarray
    """``(B,) int16`` valid entries of the history (<= H: the most recent ones are kept)."""

    def __len__(self) -> int:
        return len(self.session_id)


@dataclass(frozen=True, eq=False)
class EpisodeBatch(Columnar):
    """A batch of ``B`` whole sessions, right-padded to the longest (``T`` rows, ``K`` heads).

    Row ``j`` of an episode is its ``j``-th logged row, an opening utterance (item -1) included.

    Shapes:
        ``session_id, device_id, length``: ``(B,)``; ``turn, items, feedback, reward, terminated,
        truncated, mask``: ``(B, T)``; ``actions``: ``(B, T, K)``.
    """

    session_id: np.ndarray
    """``(B,) object`` session id."""
    device_id: np.ndarray
    """``(B,) int32`` device that served the session."""
    length: np.ndarray
    """``(B,) int16`` rows of each session."""
    turn: np.ndarray
    """``(B, T) int16`` turn of each row (0 on padding)."""
    items: np.ndarray
    """``(B, T) int64`` catalog index shown (-1 on an opening row and on padding)."""
    actions: np.ndarray
    """``(B, T, K) int64`` action vector of the shown item (-1 on an opening row and on padding)."""
    feedback: np.ndarray
    """``(B, T) object`` the user's sentence after each item (``""`` on padding)."""
    reward: np.ndarray
    """``(B, T) float32`` reward (0 on padding)."""
    terminated: np.ndarray
    """``(B, T) bool`` success at this row."""
    truncated: np.ndarray
    """``(B, T) bool`` turn limit at this row."""
    mask: np.ndarray
    """``(B, T) bool`` real rows (False on padding)."""

    PADDING: ClassVar[dict[str, Any]] = {"items": -1, "actions": -1, "feedback": ""}
    """Padded rows show no item and no sentence (0 elsewhere): ``take`` trims, ``concat`` pads."""

    def __len__(self) -> int:
        return len(self.session_id)


# ---------------------------------------------------------------------------------------- buffer
Rows = TransitionBatch | EpisodeBatch


class _ShuffleBuffer:
    """Bounded shuffling buffer: holds at most ``capacity`` units plus one incoming block."""

    def __init__(
        self, batch_size: int, capacity: int, rng: np.random.Generator | None, drop_last: bool
    ) -> None:
        self.batch_size = batch_size
        self.capacity = capacity
        self.rng = rng
        self.drop_last = drop_last
        self.parts: list[Rows] = []
        self.size = 0
        self.peak = 0

    def add(self, block: Rows) -> Iterator[Rows]:
        """Take in ``block`` and yield the batches that are ready."""
        if len(block) == 0:
            return
        self.parts.append(block)
        self.size += len(block)
        self.peak = max(self.peak, self.size)
        if self.rng is None:
            yield from self._emit(keep=0, final=False)
        elif self.size >= self.capacity:
            yield from self._emit(keep=self.capacity // 2, final=False)

    def flush(self) -> Iterator[Rows]:
        """Yield everything left (the last batch may be short unless ``drop_last``)."""
        yield from self._emit(keep=0, final=True)
        self.parts, self.size = [], 0

    def _emit(self, keep: int, final: bool) -> Iterator[Rows]:
        """Yield full batches while over ``keep`` units remain (the short rest if ``final``)."""
        if not self.parts:
            return
        data = self.parts[0].concat(self.parts) if len(self.parts) > 1 else self.parts[0]  # type: ignore[arg-type]
        order = self.rng.permutation(len(data)) if self.rng is not None else np.arange(len(data))
        n_batches = max(0, len(data) - keep) // self.batch_size
        short = final and not self.drop_last and len(data) > n_batches * self.batch_size
        for b in range(n_batches + int(short)):
            yield data.take(order[b * self.batch_size : (b + 1) * self.batch_size])
        rest = order[n_batches * self.batch_size :]
        self.parts = [data.take(rest)] if len(rest) and not final else []
        self.size = 0 if final else len(rest)


# ---------------------------------------------------------------------------------------- reader
class ExperienceReader:
    """Stream training batches from a log directory in bounded memory.

    Args:
        log_dir: a log directory (``LOGDIR`` with ``experience/``) or a folder of experience shards,
            or several (their shards pooled).
        catalog: the catalog the item ids refer to.
        batch_size: transitions (or episodes) per batch.
        buffer_size: shuffling-buffer capacity in transitions (or episodes); larger mixes better.
        history: turns of dialogue history carried by each transition.
        read_rows: rows read from a shard at a time.
        drop_last: drop the last, short batch of an epoch.

    ``peak_buffered`` is the most units the buffer has held at once (the memory bound at work).
    """

    def __init__(
        self,
        log_dir: str | Path | Sequence[str | Path],
        catalog: Catalog,
        *,
        batch_size: int = 256,
        buffer_size: int = 16384,
        history: int = 50,
        read_rows: int = 8192,
        drop_last: bool = False,
    ) -> None:
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("buffer_size", buffer_size, 1),
            ("history", history, 0),
            ("read_rows", read_rows, 1),
        ):
            if value < low:
                raise InputError(f"ExperienceReader: {name} must be >= {low}, got {value}")
        roots = [log_dir] if isinstance(log_dir, str | Path) else list(log_dir)
        self.shards = [path for root in roots for path in list_shards(root)]
        if not self.shards:
            raise InputError(f"{log_dir}: no experience shards (*.parquet)")
        self.catalog = catalog
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.history = history
        self.read_rows = read_rows
        self.drop_last = drop_last
        self.peak_buffered = 0
        self._actions = shown_actions(catalog)
        self._index = ItemIndex(catalog)

    # ------------------------------------------------------------------ public
    def transitions(self, rng: np.random.Generator | None = None) -> Iterator[TransitionBatch]:
        """One epoch of transitions (each logged turn >= 1 once); shuffled when ``rng`` is given."""
        buffer = _ShuffleBuffer(self.batch_size, self.buffer_size, rng, self.drop_last)
        for rows, items, offsets, _ in self._sessions(rng):
            yield from buffer.add(self._transitions(rows, items, offsets))  # type: ignore[misc]
        yield from buffer.flush()  # type: ignore[misc]
        self.peak_buffered = max(self.peak_buffered, buffer.peak)

    def episodes(self, rng: np.random.Generator | None = None) -> Iterator[EpisodeBatch]:
        """One epoch of whole sessions (each once); shuffled when ``rng`` is given."""
        buffer = _ShuffleBuffer(self.batch_size, self.buffer_size, rng, self.drop_last)
        for rows, items, offsets, _ in self._sessions(rng):
            yield from buffer.add(self._episodes(rows, items, offsets))  # type: ignore[misc]
        yield from buffer.flush()  # type: ignore[misc]
        self.peak_buffered = max(self.peak_buffered, buffer.peak)

    # ------------------------------------------------------------------ internals
    def _sessions(
        self, rng: np.random.Generator | None
    ) -> Iterator[tuple[ExperienceBatch, np.ndarray, np.ndarray, str]]:
        """Blocks of whole sessions: ``(rows, catalog indices, session offsets, shard path)``."""
        order = (
            rng.permutation(len(self.shards)) if rng is not None else np.arange(len(self.shards))
        )
        for i in order.tolist():
            path = self.shards[i]
            source = str(path)
            pf = open_shard(path)
            carry: ExperienceBatch | None = None
            try:
                batches = pf.iter_batches(
                    batch_size=self.read_rows, columns=EXPERIENCE_SCHEMA.names
                )
                for record_batch in batches:
                    rows = ExperienceBatch.from_table(record_batch, source)
                    if carry is not None:
                        rows = ExperienceBatch.concat([carry, rows])
                    done = np.flatnonzero(rows.terminated | rows.truncated)
                    cut = int(done[-1]) + 1 if len(done) else 0
                    carry = rows.take(np.arange(cut, rows.n_rows)) if cut < rows.n_rows else None
                    if cut:
                        yield self._block(rows.take(np.arange(cut)), source)
            except (pa.ArrowException, OSError) as exc:
                raise InputError(
                    f"{source}: not a readable Parquet shard (corrupt or truncated?): {exc}"
                ) from exc
            if carry is not None:
                raise InputError(
                    f"{source}: the shard ends inside session {carry.session_id[0]!r} "
                    f"(no terminated/truncated final row)"
                )

    def _block(
        self, rows: ExperienceBatch, source: str
    ) -> tuple[ExperienceBatch, np.ndarray, np.ndarray, str]:
        offsets = rows.check_complete(source)
        return rows, self._index(rows.item_id, source), offsets, source

    def _transitions(
        self, rows: ExperienceBatch, items: np.ndarray, offsets: np.ndarray
    ) -> TransitionBatch:
        n = rows.n_rows
        lengths = np.diff(offsets)
        start = np.repeat(offsets[:-1], lengths)  # (n,) first row of each row's session
        position = np.arange(n) - start  # rows of the same session before this one
        h = self.history
        hist_len = np.minimum(position, h)
        j = np.arange(h)[None, :]
        src = np.arange(n)[:, None] - hist_len[:, None] + j  # (n, H) left-aligned window
        valid = j < hist_len[:, None]
        src = np.where(valid, src, 0)
        keep = rows.turn > 0  # an opening utterance is history, never an action
        sel = np.flatnonzero(keep)
        return TransitionBatch(
            session_id=rows.session_id[sel],
            device_id=rows.device_id[sel],
            turn=rows.turn[sel],
            items=items[sel],
            actions=self._actions[items[sel]],
            feedback=rows.feedback[sel],
            reward=rows.reward[sel],
            terminated=rows.terminated[sel],
            truncated=rows.truncated[sel],
            history_items=np.where(valid, items[src], -1)[sel],
            history_feedback=np.where(valid, rows.feedback[src], "")[sel].astype(object),
            history_length=hist_len[sel].astype(np.int16),
        )

    def _episodes(
        self, rows: ExperienceBatch, items: np.ndarray, offsets: np.ndarray
    ) -> EpisodeBatch:
        lengths = np.diff(offsets)
        t = int(lengths.max())
        j = np.arange(t)[None, :]
        mask = j < lengths[:, None]
        src = np.where(mask, offsets[:-1, None] + j, 0)
        ep_items = np.where(mask, items[src], -1)
        actions = np.where((ep_items >= 0)[..., None], self._actions[np.maximum(ep_items, 0)], -1)
        return EpisodeBatch(
            session_id=rows.session_id[offsets[:-1]],
            device_id=rows.device_id[offsets[:-1]],
            length=lengths.astype(np.int16),
            turn=np.where(mask, rows.turn[src], 0).astype(np.int16),
            items=ep_items,
            actions=actions,
            feedback=np.where(mask, rows.feedback[src], "").astype(object),
            reward=np.where(mask, rows.reward[src], 0).astype(np.float32),
            terminated=mask & rows.terminated[src],
            truncated=mask & rows.truncated[src],
            mask=mask,
        )
