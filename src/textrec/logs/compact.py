"""Compact a served-session log: one Parquet file per session into a few shards, crash-safe.

``textrec chat`` and ``textrec serve`` append each finished session as its own shard
(:mod:`textrec.logs.append`), so a day of traffic is thousands of small files. :func:`compact`
merges runs of consecutive listed chunks into shards of up to ``shard_sessions`` sessions, named by
their chunk range (:func:`~textrec.logs.writer.range_shard_name`), in the experience folder and,
where the log has one, the oracle sidecar folder alike. The manifest does not change: every
chunk stays listed, now held by a range shard.

**Crash safety.** Each merged shard is written under a hidden name, then a journal
(:class:`~textrec.logs.writer.CompactJournal`) names it and the shards it replaces; the oracle
shard is renamed into place, then the experience shard (the commit), then the replaced shards
are deleted and the journal removed. Readers list shards through the journal
(:func:`~textrec.logs.reader.list_shards`): before the commit they see the small shards only,
after it the merged one only, so a log killed at any moment reads whole, loses nothing and passes
``textrec logs info --check``; the next ``compact`` finishes or undoes the pending step first.

Sessions appended while a compaction runs are safe: only chunks listed in the manifest when it
starts are merged, and appends take new chunk numbers. Two compactions of one log exclude each
other (an ``flock``). A collected (simulated) log is refused: its shards are already one chunk of
``chunk_sessions`` sessions each, and ``collect --resume`` checks them chunk by chunk.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm.auto import tqdm

from textrec.errors import InputError
from textrec.logs.append import PEOPLE
from textrec.logs.reader import list_shards, read_experience, read_oracle
from textrec.logs.schema import ExperienceBatch, OracleBatch
from textrec.logs.writer import (
    COMPACT_JOURNAL,
    EXPERIENCE_DIR,
    MANIFEST_NAME,
    ORACLE_DIR,
    CompactJournal,
    range_shard_name,
    read_manifest,
    shard_name,
    write_shard,
)

__all__ = ["CompactResult", "compact"]

_LOCK_NAME = ".compact.lock"


@dataclass(frozen=True)
class CompactResult:
    """What a compaction did."""

    log_dir: str
    shards_before: int
    """Experience shards before."""
    shards_after: int
    """Experience shards after."""
    merged: int
    """Shards written by this call."""
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


def compact(
    log_dir: str | Path, shard_sessions: int = 10_000, progress: bool = False
) -> CompactResult:
    """Merge the one-session shards of the served-session log ``log_dir`` into range shards.

    Args:
        log_dir: A log written by ``textrec chat``/``serve`` (``--log-dir``).
        shard_sessions: Sessions per merged shard at most (>= 2).
        progress: Show a progress bar over the shards written.

    Raises:
        InputError: naming the path when ``log_dir`` is not a people's log, or naming the shard
            when one is damaged (nothing is merged from a damaged run, nothing is deleted).
        FileNotFoundError: naming the path when the directory or its manifest is missing.
    """
    if shard_sessions < 2:
        raise InputError(f"shard_sessions must be >= 2, got {shard_sessions}")
    began = time.perf_counter()
    root = Path(log_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: log directory not found")
    manifest = read_manifest(root)
    if manifest.sentences.get("source") != PEOPLE:
        raise InputError(
            f"{root / MANIFEST_NAME}: a collected log (its shards are chunks of "
            f"{manifest.chunk_sessions} sessions); compact merges the one-session shards of a "
            "log written by textrec chat/serve"
        )
    with _locked(root):
        _finish_pending(root)
        before = list_shards(root)
        merged = 0
        runs = _runs(root, manifest.chunks_done, shard_sessions // manifest.chunk_sessions)
        for run in tqdm(runs, desc="compact", unit="shard", disable=not progress):
            _merge(root, run)
            merged += 1
        after = list_shards(root)
    return CompactResult(str(root), len(before), len(after), merged, time.perf_counter() - began)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with (root / _LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(f"{root}: another compaction of this log is running") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _folders(root: Path) -> list[Path]:
    """The shard folders of ``root``: oracle first (renamed before the committing experience)."""
    return [root / kind for kind in (ORACLE_DIR, EXPERIENCE_DIR) if (root / kind).is_dir()]


def _finish_pending(root: Path) -> None:
    """Complete a committed step a killed compaction left, or undo an uncommitted one."""
    journal = CompactJournal.read(root)
    if journal is None:
        return
    if journal.committed(root):
        gone = journal.replaces
    else:
        gone = (journal.shard, f".{journal.shard}")
    for folder in _folders(root):
        for name in gone:
            (folder / name).unlink(missing_ok=True)
    (root / COMPACT_JOURNAL).unlink()


def _runs(root: Path, chunks: tuple[int, ...], per_shard: int) -> list[list[int]]:
    """Runs of consecutive listed chunks that each have their own shard, ``per_shard`` at most
    (runs of one chunk are left as they are)."""
    own = {p.name for p in list_shards(root)}
    runs: list[list[int]] = []
    current: list[int] = []
    for chunk in chunks:
        if shard_name(chunk) not in own:
            current = []
            continue
        if not current or chunk != current[-1] + 1 or len(current) == per_shard:
            current = []
            runs.append(current)
        current.append(chunk)
    return [run for run in runs if len(run) > 1]


def _merge(root: Path, run: list[int]) -> None:
    """One crash-safe step: the shards of chunks ``run`` become one range shard."""
    name = range_shard_name(run[0], run[-1])
    small = tuple(shard_name(c) for c in run)
    folders = _folders(root)
    for folder in folders:
        parts = [folder / n for n in small]
        if folder.name == ORACLE_DIR:
            if not all(p.is_file() for p in parts):
                raise InputError(f"{folder}: oracle shards missing for chunks {run[0]}..{run[-1]}")
            write_shard(folder / f".{name}", OracleBatch.concat([read_oracle(p) for p in parts]))
        else:
            rows = ExperienceBatch.concat([read_experience(p) for p in parts])
            write_shard(folder / f".{name}", rows)
    CompactJournal(name, small).write(root)
    for folder in folders:  # the experience folder last: its rename commits the step
        os.replace(folder / f".{name}", folder / name)
    for folder in folders:
        for n in small:
            (folder / n).unlink()
    (root / COMPACT_JOURNAL).unlink()
