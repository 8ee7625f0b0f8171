"""The experience-log schema: one row per turn, as a device would upload it, and the oracle sidecar.

A log directory holds two Parquet datasets with the same row keys ``(session_id, turn)``::

    LOGDIR/manifest.json     schema version, catalog fingerprint, devices, seed, chunks done
    LOGDIR/experience/shard-00000.parquet
    LOGDIR/oracle/shard-00000.parquet

**Experience rows** (:class:`ExperienceBatch`) are what learners train on. They hold no
behaviour probabilities and no policy identity beyond the device id: learners are
behaviour-agnostic. The action a learner trains on is the shown item's attribute vector, looked up
in the catalog by ``item_id``.

* ``turn`` counts shown items from 1. Turn ``t`` shows ``item_id`` and records the user's reaction:
  ``feedback`` (the sentence said after seeing the item; ``""`` on success), ``reward``,
  ``terminated`` (the item was the one the user wanted) and ``truncated`` (the turn limit was
  reached without success).
* The simulated user says nothing before the first item is shown (the engine's ``reset`` has no
  opening utterance), so there is no turn-0 row. A logger whose sessions do start with an utterance
  (a real chat) logs it as a row with ``turn = 0``, ``item_id = ""`` and ``reward = 0``: the reader
  then hands it to learners as the first history entry, never as an action.
* Within a shard the rows of a session are contiguous and in turn order, and a session's last row is
  its only row with ``terminated`` or ``truncated`` set.

**Oracle rows** (:class:`OracleBatch`) hold what no device would upload: the session's target item,
the behaviour policy's true per-head log-probabilities of the action shown, the policy's name, the
attribute value the user's feedback asked for, the number of attributes of the shown item that
contradict earlier requests (the simulator's own count, summed per session for NV) and whether
the shown item carries exactly the values the policy drew. They are used
only to score off-policy estimators and to report the behaviour row of Table 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa

from textrec.errors import InputError

__all__ = [
    "SCHEMA_VERSION",
    "EXPERIENCE_SCHEMA",
    "ORACLE_SCHEMA",
    "SCHEMA_VERSION_KEY",
    "ExperienceBatch",
    "OracleBatch",
    "DIALOGUE_FIELDS",
    "with_dialogue",
]

SCHEMA_VERSION = 1
"""Version of both row schemas; stored in every row and in each shard's key-value metadata."""

SCHEMA_VERSION_KEY = b"textrec.schema_version"
"""Parquet key-value metadata key holding the schema version (read from the footer without data)."""

EXPERIENCE_SCHEMA = pa.schema(
    [
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("device_id", pa.int32(), nullable=False),
        pa.field("turn", pa.int16(), nullable=False),
        pa.field("item_id", pa.string(), nullable=False),
        pa.field("feedback", pa.string(), nullable=False),
        pa.field("reward", pa.float32(), nullable=False),
        pa.field("terminated", pa.bool_(), nullable=False),
        pa.field("truncated", pa.bool_(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
    ],
    metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()},
)
"""Arrow schema of an experience shard."""

DIALOGUE_FIELDS = (
    pa.field("act", pa.string(), nullable=False),
    pa.field("understood", pa.string(), nullable=False),
)
"""Optional experience columns of a people's log (``textrec chat`` / ``serve``), per row: the
dialogue act of the row's sentence (:data:`textrec.language.acts.ACTS`, ``""``: none said) and
what was understood from it (JSON with ``kept``, ``dropped`` and ``unsupported`` lists). Shards
written before them, and simulated logs, have none; readers select :data:`EXPERIENCE_SCHEMA`'s
columns and ignore them."""

ORACLE_SCHEMA = pa.schema(
    [
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("turn", pa.int16(), nullable=False),
        pa.field("device_id", pa.int32(), nullable=False),
        pa.field("target_id", pa.string(), nullable=False),
        pa.field("log_probs", pa.list_(pa.float32()), nullable=False),
        pa.field("policy", pa.string(), nullable=False),
        pa.field("feedback_value", pa.int32(), nullable=False),
        pa.field("feedback_mode", pa.int8(), nullable=False),
        pa.field("violations", pa.int16(), nullable=False),
        pa.field("matched", pa.bool_(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
    ],
    metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()},
)
"""Arrow schema of an oracle shard."""


def with_dialogue(table: pa.Table, act: Sequence[str], understood: Sequence[str]) -> pa.Table:
    """An experience ``table`` with the :data:`DIALOGUE_FIELDS` columns (one entry per row)."""
    _check_lengths(
        "dialogue columns", {"rows": np.empty(table.num_rows), "act": act, "understood": understood}
    )
    for field, values in zip(DIALOGUE_FIELDS, (act, understood), strict=True):
        table = table.append_column(field, pa.array(list(values), pa.string()))
    return table


def _check_lengths(name: str, arrays: dict[str, np.ndarray]) -> int:
    n = {k: len(v) for k, v in arrays.items()}
    sizes = set(n.values())
    if len(sizes) > 1:
        raise InputError(f"{name}: columns have different lengths {n}")
    return sizes.pop() if sizes else 0


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_schema_version(table: pa.Table, source: str) -> None:
    versions = table.column("schema_version").to_numpy()
    bad = versions != SCHEMA_VERSION
    if bad.any():
        row = _first_bad(bad)
        raise InputError(
            f"{source}: row {row}, column 'schema_version': value {int(versions[row])}, "
            f"this textrec reads version {SCHEMA_VERSION}"
        )


def _conform(table: pa.Table, schema: pa.Schema, source: str) -> pa.Table:
    """``table`` with the columns of ``schema``, cast to its types; errors name ``source``."""
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise InputError(f"{source}: missing columns {missing}")
    table = table.select(schema.names)
    for name in schema.names:
        nulls = table.column(name).null_count
        if nulls:
            raise InputError(f"{source}: column {name!r} holds {nulls} null values")
    try:
        return table.cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InputError(f"{source}: columns of the wrong type: {exc}") from exc


def _strings(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


@dataclass(frozen=True, eq=False)
class ExperienceBatch:
    """Rows of the experience log (``R`` rows, one per turn).

    Shapes: every field is ``(R,)``.
    """

    session_id: np.ndarray
    """``(R,) object`` globally unique session id, e.g. ``"7-00003-00012"`` (seed-chunk-session)."""
    device_id: np.ndarray
    """``(R,) int32`` device that served the session (>= 0)."""
    turn: np.ndarray
    """``(R,) int16`` turn number, 1 for the first shown item (0 only for an opening utterance)."""
    item_id: np.ndarray
    """``(R,) object`` catalog id of the shown item (``""`` only on a turn-0 opening row)."""
    feedback: np.ndarray
    """``(R,) object`` the user's sentence after seeing the item; ``""`` on success."""
    reward: np.ndarray
    """``(R,) float32`` reward of the turn (finite)."""
    terminated: np.ndarray
    """``(R,) bool`` the shown item was the target (success)."""
    truncated: np.ndarray
    """``(R,) bool`` the turn limit was reached without success."""

    def __post_init__(self) -> None:
        casts = {
            "session_id": object,
            "device_id": np.int32,
            "turn": np.int16,
            "item_id": object,
            "feedback": object,
            "reward": np.float32,
            "terminated": np.bool_,
            "truncated": np.bool_,
        }
        for name, dtype in casts.items():
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype).reshape(-1))

    @property
    def n_rows(self) -> int:
        """Number of rows ``R``."""
        return len(self.session_id)

    def validate(self, source: str = "experience rows") -> None:
        """Raise ``ValueError`` naming ``source``, the row, the column and the value of a bad cell.

        Checks: equal column lengths, non-empty session ids, device ids >= 0, turns >= 0, finite
        rewards, a non-empty item id on every turn >= 1, not both ``terminated`` and ``truncated``,
        empty feedback on success.
        """
        cols = {f.name: getattr(self, f.name) for f in fields(self)}
        _check_lengths(source, cols)
        checks: Sequence[tuple[str, np.ndarray, str]] = (
            ("session_id", self.session_id == "", "must be a non-empty string"),
            ("device_id", self.device_id < 0, "must be >= 0"),
            ("turn", self.turn < 0, "must be >= 0"),
            ("reward", ~np.isfinite(self.reward), "must be finite"),
            ("item_id", (self.turn > 0) & (self.item_id == ""), "must name the shown item"),
            (
                "truncated",
                self.terminated & self.truncated,
                "cannot be set together with 'terminated'",
            ),
            ("feedback", self.terminated & (self.feedback != ""), "must be empty on success"),
        )
        for column, bad, why in checks:
            if bad.any():
                row = _first_bad(bad)
                raise InputError(
                    f"{source}: row {row}, column {column!r}: value {cols[column][row]!r} {why}"
                )

    def session_offsets(self, source: str = "experience rows") -> np.ndarray:
        """``(S+1,) int64`` row offsets of the ``S`` sessions: session ``i`` is ``[o[i], o[i+1])``.

        Raises ``ValueError`` naming ``source`` and the row when a session's rows are not contiguous
        or its turns do not count up by one.
        """
        n = self.n_rows
        change = np.ones(n, dtype=bool)
        change[1:] = self.session_id[1:] != self.session_id[:-1]
        starts = np.flatnonzero(change)
        if len(starts) != len(set(self.session_id[starts].tolist())):
            firsts: dict[str, int] = {}
            for row in starts.tolist():
                sid = self.session_id[row]
                if sid in firsts:
                    raise InputError(
                        f"{source}: row {row}: rows of session {sid!r} are not contiguous "
                        f"(it also starts at row {firsts[sid]})"
                    )
                firsts[sid] = row
        step_ok = np.ones(n, dtype=bool)
        step_ok[1:] = self.turn[1:].astype(np.int32) == self.turn[:-1].astype(np.int32) + 1
        bad = ~step_ok & ~change
        if bad.any():
            row = _first_bad(bad)
            raise InputError(
                f"{source}: row {row}, column 'turn': session {self.session_id[row]!r} goes from "
                f"turn {int(self.turn[row - 1])} to {int(self.turn[row])}; turns must go up by one"
            )
        return np.append(starts, n).astype(np.int64)

    def check_complete(self, source: str = "experience rows") -> np.ndarray:
        """Check that every session is whole; return its ``(S+1,)`` row offsets.

        A whole session starts at turn 1 (or 0 for an opening utterance), its turns count up by one,
        and its last row, and no other, has ``terminated`` or ``truncated`` set. Errors name
        ``source``, the session and the row.
        """
        offsets = self.session_offsets(source)
        starts, last = offsets[:-1], offsets[1:] - 1
        first_turn = self.turn[starts]
        bad_start = first_turn > 1
        if bad_start.any():
            row = int(starts[_first_bad(bad_start)])
            raise InputError(
                f"{source}: row {row}: session {self.session_id[row]!r} starts at turn "
                f"{int(self.turn[row])}, expected 1 (or 0 for an opening utterance)"
            )
        done = self.terminated | self.truncated
        is_last = np.zeros(self.n_rows, dtype=bool)
        is_last[last] = True
        bad = done != is_last
        if bad.any():
            row = _first_bad(bad)
            what = (
                "ends before its last row" if done[row] else "has no terminated/truncated final row"
            )
            raise InputError(f"{source}: row {row}: session {self.session_id[row]!r} {what}")
        return offsets

    def to_table(self) -> pa.Table:
        """The rows as an Arrow table of :data:`EXPERIENCE_SCHEMA` (validated first)."""
        self.validate()
        return pa.table(
            {
                "session_id": pa.array(self.session_id, pa.string()),
                "device_id": pa.array(self.device_id, pa.int32()),
                "turn": pa.array(self.turn, pa.int16()),
                "item_id": pa.array(self.item_id, pa.string()),
                "feedback": pa.array(self.feedback, pa.string()),
                "reward": pa.array(self.reward, pa.float32()),
                "terminated": pa.array(self.terminated, pa.bool_()),
                "truncated": pa.array(self.truncated, pa.bool_()),
                "schema_version": pa.array(
                    np.full(self.n_rows, SCHEMA_VERSION, np.int16), pa.int16()
                ),
            },
            schema=EXPERIENCE_SCHEMA,
        )

    @classmethod
    def from_table(
        cls, table: pa.Table | pa.RecordBatch, source: str = "experience rows"
    ) -> ExperienceBatch:
        """Rows from an Arrow table; errors name ``source`` (a shard path) and the column."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        table = _conform(table, EXPERIENCE_SCHEMA, source)
        _check_schema_version(table, source)
        batch = cls(
            session_id=_strings(table.column("session_id")),
            device_id=table.column("device_id").to_numpy(),
            turn=table.column("turn").to_numpy(),
            item_id=_strings(table.column("item_id")),
            feedback=_strings(table.column("feedback")),
            reward=table.column("reward").to_numpy(),
            terminated=table.column("terminated").to_numpy(),
            truncated=table.column("truncated").to_numpy(),
        )
        batch.validate(source)
        return batch

    @classmethod
    def concat(cls, batches: Sequence[ExperienceBatch]) -> ExperienceBatch:
        """All rows of ``batches`` in order."""
        return cls(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)}
        )

    def take(self, rows: np.ndarray) -> ExperienceBatch:
        """The rows at integer positions (or boolean mask) ``rows``."""
        return type(self)(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})


@dataclass(frozen=True, eq=False)
class OracleBatch:
    """Oracle sidecar rows (``R`` rows, ``K`` attribute heads), keyed like the experience rows.

    Shapes: ``log_probs`` is ``(R, K)``; every other field is ``(R,)``.
    """

    session_id: np.ndarray
    """``(R,) object`` session id, as in the experience row."""
    turn: np.ndarray
    """``(R,) int16`` turn, as in the experience row."""
    device_id: np.ndarray
    """``(R,) int32`` device, as in the experience row."""
    target_id: np.ndarray
    """``(R,) object`` catalog id of the session's target item."""
    log_probs: np.ndarray
    """``(R, K) float32`` log π_β(a_k | s_t) of the shown item's value on each attribute head."""
    policy: np.ndarray
    """``(R,) object`` name of the device's behaviour policy (e.g. ``"slotfill-noise-0.5"``)."""
    feedback_value: np.ndarray
    """``(R,) int32`` global value index the feedback asked for; -1 on success."""
    feedback_mode: np.ndarray
    """``(R,) int8`` feedback mode (``textrec.language.bank.MODES``); -1 on success."""
    violations: np.ndarray
    """``(R,) int16`` shown item's attributes contradicting earlier requests (simulator's count)."""
    matched: np.ndarray
    """``(R,) bool`` the shown item's action vector is the one the policy drew (so ``log_probs``
    is the log-probability of the draw); False when no unseen item had the drawn values."""

    def __post_init__(self) -> None:
        casts = {
            "session_id": object,
            "turn": np.int16,
            "device_id": np.int32,
            "target_id": object,
            "policy": object,
            "feedback_value": np.int32,
            "feedback_mode": np.int8,
            "violations": np.int16,
            "matched": np.bool_,
        }
        for name, dtype in casts.items():
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype).reshape(-1))
        log_probs = np.asarray(self.log_probs, dtype=np.float32)
        if log_probs.ndim != 2:
            raise InputError(
                f"OracleBatch: field 'log_probs' must be (R, K), got shape {log_probs.shape}"
            )
        object.__setattr__(self, "log_probs", log_probs)

    @property
    def n_rows(self) -> int:
        """Number of rows ``R``."""
        return len(self.session_id)

    def validate(self, source: str = "oracle rows") -> None:
        """Raise ``ValueError`` naming ``source``, the row and the column of the first bad cell.

        Checks: equal lengths, non-empty session and target ids, turns >= 0, log-probabilities
        finite and <= 0, violations >= 0.
        """
        cols = {f.name: getattr(self, f.name) for f in fields(self)}
        _check_lengths(source, cols)
        checks: Sequence[tuple[str, np.ndarray, str]] = (
            ("session_id", self.session_id == "", "must be a non-empty string"),
            ("target_id", self.target_id == "", "must be a non-empty string"),
            ("turn", self.turn < 0, "must be >= 0"),
            (
                "log_probs",
                ~(np.isfinite(self.log_probs) & (self.log_probs <= 0)).all(axis=1),
                "must be finite and <= 0",
            ),
            ("violations", self.violations < 0, "must be >= 0"),
        )
        for column, bad, why in checks:
            if bad.any():
                row = _first_bad(bad)
                raise InputError(
                    f"{source}: row {row}, column {column!r}: value {cols[column][row]!r} {why}"
                )

    def to_table(self) -> pa.Table:
        """The rows as an Arrow table of :data:`ORACLE_SCHEMA` (validated first)."""
        self.validate()
        r, k = self.log_probs.shape
        flat = pa.array(self.log_probs.reshape(-1), pa.float32())
        offsets = pa.array(np.arange(r + 1, dtype=np.int32) * k)
        return pa.table(
            {
                "session_id": pa.array(self.session_id, pa.string()),
                "turn": pa.array(self.turn, pa.int16()),
                "device_id": pa.array(self.device_id, pa.int32()),
                "target_id": pa.array(self.target_id, pa.string()),
                "log_probs": pa.ListArray.from_arrays(offsets, flat),
                "policy": pa.array(self.policy, pa.string()),
                "feedback_value": pa.array(self.feedback_value, pa.int32()),
                "feedback_mode": pa.array(self.feedback_mode, pa.int8()),
                "violations": pa.array(self.violations, pa.int16()),
                "matched": pa.array(self.matched, pa.bool_()),
                "schema_version": pa.array(np.full(r, SCHEMA_VERSION, np.int16), pa.int16()),
            },
            schema=ORACLE_SCHEMA,
        )

    @classmethod
    def from_table(
        cls, table: pa.Table | pa.RecordBatch, source: str = "oracle rows"
    ) -> OracleBatch:
        """Rows from an Arrow table; errors name ``source`` (a shard path) and the column."""
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        table = _conform(table, ORACLE_SCHEMA, source)
        _check_schema_version(table, source)
        lists = table.column("log_probs").combine_chunks()
        lengths = lists.value_lengths().to_numpy(zero_copy_only=False)
        n_heads = int(lengths[0]) if len(lengths) else 0
        if len(lengths) and (lengths != n_heads).any():
            row = _first_bad(lengths != n_heads)
            raise InputError(
                f"{source}: row {row}, column 'log_probs': {int(lengths[row])} heads, "
                f"row 0 has {n_heads}"
            )
        batch = cls(
            session_id=_strings(table.column("session_id")),
            turn=table.column("turn").to_numpy(),
            device_id=table.column("device_id").to_numpy(),
            target_id=_strings(table.column("target_id")),
            log_probs=lists.flatten().to_numpy().reshape(len(lengths), n_heads),
            policy=_strings(table.column("policy")),
            feedback_value=table.column("feedback_value").to_numpy(),
            feedback_mode=table.column("feedback_mode").to_numpy(),
            violations=table.column("violations").to_numpy(),
            matched=table.column("matched").to_numpy(),
        )
        batch.validate(source)
        return batch

    @classmethod
    def concat(cls, batches: Sequence[OracleBatch]) -> OracleBatch:
        """All rows of ``batches`` in order."""
        return cls(
            **{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(cls)}
        )

    def take(self, rows: np.ndarray) -> OracleBatch:
        """The rows at integer positions (or boolean mask) ``rows``."""
        return type(self)(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})
