"""Append people's finished sessions to an experience log, one append per batch of sessions.

The terminal chat and the web server log what a person did in the schema of
:mod:`textrec.logs.schema`, so that ``textrec train`` and every log tool read it like a collected
log. Each session is one chunk of the manifest (``chunk_sessions = 1``); an append writes a batch
of ``n`` finished sessions (the chat: one; the server: every session that ended while the
previous batch was written) as one experience shard holding chunks ``c .. c+n-1``
(``shard-NNNNN.parquet`` for one, ``shard-NNNNN-MMMMM.parquet`` for several, the names
``textrec logs compact`` gives merged shards), written atomically by
:func:`~textrec.logs.writer.write_shard`. The manifest is rewritten (atomically) first to announce
the batch's chunks and then, once the shard is in place, to list them: a process killed at any
moment loses at most the batch it was writing (whose sessions nobody was told were logged),
never a finished one, and never leaves a half-written shard or a log that fails ``textrec logs
info --check``; the next append lists a batch whose shard was written, or reuses its chunk
numbers. Writers take an
exclusive ``flock`` on ``LOGDIR/.append.lock``, so several servers may share one log directory.

**Rows of a session** (:func:`session_rows`): an opening sentence, when the person said one before
the first item, is a ``turn = 0`` row; then one row per shown item with the sentence said about it.

* A session the person ended by accepting an item (``found``) is scored as the simulator would
  have scored it with that item as the target (:mod:`textrec.simulator.task`): per turn
  ``r = 1 - (1-λ)·d_f - λ·d_g + offset`` against the accepted item, whose last row is
  ``terminated`` with empty feedback and reward ``1 + offset``.
* Sessions that record them (``textrec chat`` and ``serve`` do) add the optional ``act`` and
  ``understood`` columns (:data:`~textrec.logs.schema.DIALOGUE_FIELDS`): the dialogue act of each
  row's sentence and what was understood from it; learners read the log as before.
* A session left without accepting anything (quit, "start over", expiry) has no known target: each
  of its turns is scored as the farthest possible item (``d_f = d_g = 1``, so ``r = offset``) and
  its last row is ``truncated`` with ``failure_penalty`` added, as a failure in the simulator.

A people's log has no oracle sidecar (nobody knows the behaviour probabilities or the target of
an abandoned session); its manifest says ``sentences.source = "people"`` and names one device per
front end (``chat``, ``web``), with ``chunk_sessions = 1`` (one session per chunk).
"""

from __future__ import annotations

import contextlib
import fcntl
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from textrec.catalog.catalog import Catalog
from textrec.errors import InputError
from textrec.io import claim_output_dir
from textrec.logs.reader import ItemIndex, list_shards, read_experience
from textrec.logs.schema import ExperienceBatch
from textrec.logs.writer import (
    EXPERIENCE_DIR,
    MANIFEST_NAME,
    Manifest,
    range_shard_name,
    read_manifest,
    shard_chunks,
    shard_name,
    write_manifest,
    write_shard,
)
from textrec.simulator.reward import (
    add_failure_penalty,
    attribute_distance,
    feature_distance,
    turn_reward,
)
from textrec.simulator.task import TaskConfig

__all__ = [
    "PEOPLE",
    "FinishedSession",
    "SessionLog",
    "new_session_id",
    "session_rows",
    "session_dialogue",
]

PEOPLE = "people"
"""``manifest.sentences["source"]`` of a log written by people (chat, web)."""

_LOCK_NAME = ".append.lock"


def new_session_id(device: str) -> str:
    """A fresh log session id, e.g. ``"chat-20261201T112300-3f2a9c1b5e7d"`` (UTC time + random)."""
    return f"{device}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(6)}"


@dataclass(frozen=True)
class FinishedSession:
    """One person's finished session, as the log records it (``T`` shown items)."""

    session_id: str
    """Log session id (:func:`new_session_id`; never the web session's secret token)."""
    device: str
    """Front end that served it: ``"chat"`` or ``"web"``."""
    opening: str
    """What the person said before the first item (``""``: nothing)."""
    shown: tuple[str, ...]
    """``(T,)`` catalog ids of the items shown, in order."""
    feedback: tuple[str, ...]
    """``(T,)`` the sentence said after each item; ``""`` where the person said nothing."""
    found: bool
    """The person accepted the last shown item."""
    acts: tuple[str, ...] = ()
    """``(T,)`` the dialogue act of each feedback sentence (``""``: none said), or ``()`` when
    not recorded (:data:`textrec.language.acts.ACTS`)."""
    understood: tuple[str, ...] = ()
    """``(T,)`` what was understood from each feedback sentence (JSON: ``kept``, ``dropped``,
    ``unsupported``; ``""``: nothing said), or ``()`` when not recorded."""
    opening_act: str = ""
    """The act of the opening sentence (``""``: none or not recorded)."""
    opening_understood: str = ""
    """What was understood from the opening sentence."""

    def __post_init__(self) -> None:
        if not self.session_id:
            raise InputError("FinishedSession.session_id must be a non-empty string")
        if not self.device:
            raise InputError("FinishedSession.device must be a non-empty string")
        if not self.shown:
            raise InputError(f"session {self.session_id!r}: no item was shown")
        if len(self.shown) != len(self.feedback):
            raise InputError(
                f"session {self.session_id!r}: {len(self.shown)} shown items but "
                f"{len(self.feedback)} feedback entries"
            )
        for name in ("acts", "understood"):
            if getattr(self, name) and len(getattr(self, name)) != len(self.shown):
                raise InputError(
                    f"session {self.session_id!r}: {len(self.shown)} shown items but "
                    f"{len(getattr(self, name))} {name} entries"
                )
        if self.found and self.feedback[-1]:
            raise InputError(
                f"session {self.session_id!r}: the accepted (last) item has feedback "
                f"{self.feedback[-1]!r}; a success row has none"
            )

    @property
    def said_anything(self) -> bool:
        """The person spoke or accepted an item (a session with neither teaches nothing)."""
        return self.found or bool(self.opening) or any(self.feedback)


def session_rows(
    session: FinishedSession,
    catalog: Catalog,
    device_id: int,
    task: TaskConfig | None = None,
    index: ItemIndex | None = None,
) -> ExperienceBatch:
    """The experience rows of one finished session (rewards as in the module docstring).

    ``index`` is ``ItemIndex(catalog)`` when the caller keeps one (it is built otherwise).

    Raises:
        InputError: an item id that is not in ``catalog``.
    """
    task = task or TaskConfig()
    index = index or ItemIndex(catalog)
    shown = np.array(session.shown, dtype=object)
    items = index(shown, f"session {session.session_id!r}", column="shown")
    n = len(items)
    if session.found:
        target = items[-1]
        unit = catalog.unit_features
        d_f = feature_distance(unit[items], np.broadcast_to(unit[target], (n, unit.shape[1])))
        desired = catalog.labels[target].astype(np.int64)  # (K,) local, -1 = not desired
        wanted = desired >= 0
        cols = catalog.schema.offsets[:-1] + np.maximum(desired, 0)
        missed = ~catalog.label_sets[items][:, cols]  # (T, K)
        d_g = attribute_distance(missed, np.broadcast_to(wanted, missed.shape))
        reward = turn_reward(d_f, d_g, task.reward_lambda, task.reward_offset)
        reward[-1] = 1.0 + task.reward_offset  # the accepted item is its own target
    else:
        ones = np.ones(n, dtype=np.float32)
        reward = turn_reward(ones, ones, task.reward_lambda, task.reward_offset)
    last = np.arange(n) == n - 1
    terminated = last & session.found
    truncated = last & (not session.found)
    reward = add_failure_penalty(reward, truncated, task.failure_penalty)
    opening = 1 if session.opening else 0
    return ExperienceBatch(
        session_id=np.full(n + opening, session.session_id, dtype=object),
        device_id=np.full(n + opening, device_id, dtype=np.int32),
        turn=np.arange(1 - opening, n + 1),
        item_id=np.array([""] * opening + list(session.shown), dtype=object),
        feedback=np.array([session.opening] * opening + list(session.feedback), dtype=object),
        reward=np.concatenate([np.zeros(opening, np.float32), reward]),
        terminated=np.concatenate([np.zeros(opening, bool), terminated]),
        truncated=np.concatenate([np.zeros(opening, bool), truncated]),
    )


def session_dialogue(session: FinishedSession) -> tuple[list[str], list[str]] | None:
    """The ``(act, understood)`` log columns of a session, one entry per row of
    :func:`session_rows` (None when the session did not record them)."""
    if not session.acts:
        return None
    understood = session.understood or ("",) * len(session.acts)
    if not session.opening:
        return list(session.acts), list(understood)
    return [session.opening_act, *session.acts], [session.opening_understood, *understood]


def _dialogue(
    sessions: Sequence[FinishedSession], parts: Sequence[ExperienceBatch]
) -> tuple[list[str], list[str]] | None:
    """The ``(act, understood)`` columns of ``sessions`` (rows ``parts``) in one shard: each
    session's :func:`session_dialogue`, empty strings for a session that recorded none (None
    when none did)."""
    said = [session_dialogue(s) for s in sessions]
    if all(d is None for d in said):
        return None
    acts: list[str] = []
    understood: list[str] = []
    for d, rows in zip(said, parts, strict=True):
        a, u = d or ([""] * len(rows.turn), [""] * len(rows.turn))
        acts += a
        understood += u
    return acts, understood


class SessionLog:
    """An experience-log directory that people's sessions are appended to.

    Args:
        log_dir: the directory (created and claimed as a ``log`` when new). An existing log must be
            a people's log of the same catalog; a collected (simulated) log is refused.
        catalog: the catalog the item ids belong to.
        task: the reward rules (``TaskConfig()`` when None).
    """

    def __init__(self, log_dir: str | Path, catalog: Catalog, task: TaskConfig | None = None):
        self.root = claim_output_dir(log_dir, "log")
        self.catalog = catalog
        self.task = task or TaskConfig()
        self._index = ItemIndex(catalog)
        _ = catalog.unit_features  # computed now (seconds on 50k items), not at the first append
        with self._locked():
            manifest = self._manifest()
            if manifest is not None:
                self._check(manifest)
                self._check_newest_shards(manifest)

    # ------------------------------------------------------------------ public API
    def append(self, session: FinishedSession) -> Path | None:
        """Write ``session`` as the next shard and list it in the manifest; return the shard.

        A session in which the person neither spoke nor accepted an item is not logged (None).
        """
        return self.append_many([session])

    def append_many(self, sessions: Sequence[FinishedSession]) -> Path | None:
        """Write ``sessions`` as the next chunks, in one shard, and list them in the manifest
        (one append: all of them or, when it fails or is killed, none); return the shard.

        Sessions in which the person neither spoke nor accepted an item are not logged (None
        when no session is left).
        """
        sessions = [s for s in sessions if s.said_anything]
        if not sessions:
            return None
        with self._locked():
            manifest = self._manifest()
            if manifest is not None:
                self._check(manifest)
            names = [str(d.get("name", "")) for d in manifest.devices] if manifest else []
            names += [d for d in dict.fromkeys(s.device for s in sessions) if d not in names]
            parts = [
                session_rows(s, self.catalog, names.index(s.device), self.task, self._index)
                for s in sessions
            ]
            done, chunk = self._resume(manifest)
            last = chunk + len(sessions) - 1
            path = self._batch_path(range(chunk, last + 1))
            # Announce the sessions (the log is incomplete until their shard is listed), write
            # the shard, list them: a kill between any two steps leaves a log that checks clean.
            write_manifest(self.root, self._updated(manifest, names, last + 1, done))
            write_shard(path, ExperienceBatch.concat(parts), dialogue=_dialogue(sessions, parts))
            listed = (*done, *range(chunk, last + 1))
            write_manifest(self.root, self._updated(manifest, names, last + 1, listed))
        return path

    def n_sessions(self) -> int:
        """Sessions logged so far (listed in the manifest)."""
        with self._locked():
            manifest = self._manifest()
        return 0 if manifest is None else len(manifest.chunks_done)

    # ------------------------------------------------------------------ helpers
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.root / _LOCK_NAME).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _manifest(self) -> Manifest | None:
        return read_manifest(self.root) if (self.root / MANIFEST_NAME).is_file() else None

    def _check(self, manifest: Manifest) -> None:
        path = self.root / MANIFEST_NAME
        if manifest.sentences.get("source") != PEOPLE:
            raise InputError(
                f"{path}: a collected (simulated) log; people's sessions go to a log of their "
                "own: choose another --logs"
            )
        if manifest.catalog_fingerprint != self.catalog.fingerprint:
            raise InputError(
                f"{path}: log of catalog {manifest.catalog_name!r} "
                f"({manifest.catalog_fingerprint}), not of {self.catalog.name!r} "
                f"({self.catalog.fingerprint})"
            )

    @property
    def _experience(self) -> Path:
        return self.root / EXPERIENCE_DIR

    def _batch_path(self, chunks: range) -> Path:
        """The shard an append of the sessions ``chunks`` writes (a compacted shard's name for
        several)."""
        first, last = chunks[0], chunks[-1]
        return self._experience / (
            shard_name(first) if first == last else range_shard_name(first, last)
        )

    def _check_newest_shards(self, manifest: Manifest) -> None:
        """Refuse a log whose newest shards are damaged (e.g. truncated by a full disk or a copy):
        new sessions are never added to, nor listed beside, a shard that cannot be read."""
        newest = {manifest.n_sessions - 1, *manifest.chunks_done[-1:]}
        if not self._experience.is_dir():
            return
        for path in list_shards(self._experience):
            held = shard_chunks(path.name)
            if held is None or not newest.intersection(held):
                continue
            try:
                read_experience(path)
            except ValueError as exc:
                raise InputError(
                    f"{exc}; the log is damaged (textrec logs info --check lists it): move the "
                    "shard out of the log, or choose another --log-dir"
                ) from exc

    def _resume(self, manifest: Manifest | None) -> tuple[tuple[int, ...], int]:
        """The chunks done and the next chunk's number, without listing the shards.

        Appends are serialised, so a killed one left at most its own batch, the chunks announced
        after the last one listed, unlisted: listed now when their shard was written, else their
        numbers are reused.
        """
        if manifest is None:
            return (), 0
        done = manifest.chunks_done
        pending = range(done[-1] + 1 if done else 0, manifest.n_sessions)
        if not pending:
            return done, manifest.n_sessions
        if self._batch_path(pending).is_file():
            return (*done, *pending), manifest.n_sessions
        return done, pending.start

    def _updated(
        self,
        manifest: Manifest | None,
        devices: Sequence[str],
        n_sessions: int,
        chunks: tuple[int, ...],
    ) -> Manifest:
        """The manifest of ``n_sessions`` sessions, ``chunks`` of them written and listed."""
        entries = [{"name": name, "source": PEOPLE} for name in devices]
        if manifest is None:
            return Manifest(
                catalog_name=self.catalog.name,
                catalog_fingerprint=self.catalog.fingerprint,
                seed=0,
                n_sessions=n_sessions,
                chunk_sessions=1,
                pool="all",
                devices=tuple(entries),
                task=asdict(self.task),
                sentences={"source": PEOPLE},
                chunks_done=chunks,
            )
        return replace(manifest, n_sessions=n_sessions, devices=tuple(entries), chunks_done=chunks)
