"""What a log directory holds (sessions, devices, the behaviour row of Table 2) and if it is sound.

:func:`summarize` reads one shard at a time and keeps only per-session numbers, so it runs on logs
far larger than memory. Its behaviour row uses :mod:`textrec.metrics`' maths on the logged
sessions: a session's success turn is the turn of its ``terminated`` row (0 when it was truncated),
NI is that turn or ``max_turns`` for a failure (the manifest's task, else the default), and NV is
the sum over the session of the oracle sidecar's ``violations`` — the simulator's own count of
shown attributes contradicting earlier requests, recorded at collection. The requested values are
only in the feedback text, so a log without its oracle sidecar (a real device's upload) has no NV.

:func:`check_log` validates a log directory: every shard readable under the current schema, whole
sessions (turns contiguous from the first, exactly one final ``terminated``/``truncated`` row),
session ids unique across shards, item ids in the catalog when one is given, oracle rows matching
the experience rows, and the manifest agreeing with the shards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from textrec.catalog import Catalog
from textrec.errors import InputError
from textrec.io import config_from_json
from textrec.logs.reader import ItemIndex, list_shards, read_experience, read_oracle
from textrec.logs.schema import ExperienceBatch
from textrec.logs.writer import (
    EXPERIENCE_DIR,
    MANIFEST_NAME,
    ORACLE_DIR,
    Manifest,
    read_manifest,
    session_ids,
    shard_chunks,
)
from textrec.metrics import SR_TURNS, MeanSE, mean_se, success_within
from textrec.simulator.task import UTTERANCE_SOURCES, TaskConfig

_SHARD_RE = re.compile(r"^shard-(\d+)\.parquet$")
"""Name of chunk ``c``'s shard (:func:`textrec.logs.writer.shard_name`)."""

__all__ = [
    "SessionTable",
    "DeviceStats",
    "LogSummary",
    "CheckReport",
    "summarize",
    "check_log",
    "session_table",
    "reward_range",
]


@dataclass(frozen=True, eq=False)
class SessionTable:
    """Per-session numbers of some experience rows (``S`` sessions, every field ``(S,)``)."""

    session_id: np.ndarray
    """``(S,) object`` session id."""
    device_id: np.ndarray
    """``(S,) int32`` device."""
    turns: np.ndarray
    """``(S,) int32`` recommendation turns (rows with turn >= 1)."""
    success_turn: np.ndarray
    """``(S,) int32`` turn of success, 0 when the session was truncated."""
    returns: np.ndarray
    """``(S,) float64`` sum of rewards."""


def session_table(rows: ExperienceBatch, source: str = "experience rows") -> SessionTable:
    """Per-session numbers of whole sessions ``rows`` (checked; errors name ``source``)."""
    offsets = rows.check_complete(source)
    starts, last = offsets[:-1], offsets[1:] - 1
    success = rows.terminated[last]
    return SessionTable(
        session_id=rows.session_id[starts],
        device_id=rows.device_id[starts].astype(np.int32),
        turns=rows.turn[last].astype(np.int32),
        success_turn=np.where(success, rows.turn[last], 0).astype(np.int32),
        returns=np.add.reduceat(rows.reward.astype(np.float64), starts)
        if len(starts)
        else np.zeros(0),
    )


@dataclass(frozen=True)
class DeviceStats:
    """Sessions of one device."""

    device_id: int
    """Device id."""
    name: str
    """Device name from the manifest (``device-<id>`` without one)."""
    n_sessions: int
    """Sessions served."""
    success_rate: MeanSE
    """Fraction of sessions that ended in success."""
    ni: MeanSE
    """Number of interactions (failure = max turns)."""


@dataclass(frozen=True)
class LogSummary:
    """What a log directory holds, and the behaviour row of Table 2 over its sessions."""

    log_dir: str
    """The log directory."""
    n_shards: int
    """Experience shards."""
    n_sessions: int
    """Sessions."""
    n_turns: int
    """Recommendation turns (rows with turn >= 1)."""
    devices: tuple[DeviceStats, ...]
    """Per-device numbers, by device id."""
    sr: tuple[tuple[int, MeanSE], ...]
    """``(K, SR@K)`` for K in :data:`textrec.metrics.SR_TURNS`."""
    ni: MeanSE
    """Number of interactions, failure = ``max_turns``."""
    nv: MeanSE | None
    """Number of violations per session (oracle sidecar); None without a complete sidecar."""
    nv_source: str
    """Where NV comes from, or why it is missing."""
    returns: MeanSE
    """Undiscounted return per session."""
    max_turns: int
    """Turn limit used for NI."""
    manifest: Manifest | None
    """The manifest, when the directory has one."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""

        def ms(x: MeanSE | None) -> dict[str, float] | None:
            return None if x is None else {"mean": x.mean, "se": x.se}

        return {
            "log_dir": self.log_dir,
            "n_shards": self.n_shards,
            "n_sessions": self.n_sessions,
            "n_turns": self.n_turns,
            "n_devices": len(self.devices),
            "devices": [
                {
                    "device_id": d.device_id,
                    "name": d.name,
                    "n_sessions": d.n_sessions,
                    "success_rate": ms(d.success_rate),
                    "ni": ms(d.ni),
                }
                for d in self.devices
            ],
            "behaviour": {
                **{f"sr@{k}": ms(v) for k, v in self.sr},
                "ni": ms(self.ni),
                "nv": ms(self.nv),
                "nv_source": self.nv_source,
                "return": ms(self.returns),
                "max_turns": self.max_turns,
            },
            "manifest": None if self.manifest is None else self.manifest.to_json(),
        }


def _optional_manifest(log_dir: Path) -> Manifest | None:
    """The log's manifest (its ``task`` checked to be a ``TaskConfig``), None when it has none."""
    path = log_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    manifest = read_manifest(log_dir)
    config_from_json(TaskConfig, manifest.task, f"{path}: field 'task'")
    return manifest


def _oracle_nv(log_dir: Path, shard: Path, table: SessionTable) -> np.ndarray | None:
    """NV per session of one shard from its oracle sidecar; None when the sidecar is absent."""
    path = log_dir / ORACLE_DIR / shard.name
    if not path.is_file():
        return None
    oracle = read_oracle(path)
    per_session = pd.Series(oracle.violations.astype(np.int64)).groupby(oracle.session_id).sum()
    nv = per_session.reindex(table.session_id)
    if nv.isna().any():
        missing = table.session_id[nv.isna().to_numpy()][0]
        raise InputError(f"{path}: no oracle rows for session {missing!r} of {shard}")
    return nv.to_numpy(dtype=np.float64)


def summarize(log_dir: str | Path) -> LogSummary:
    """Sessions, turns, per-device success and the behaviour row (SR@10/20/30, NI, NV) of a log.

    Raises:
        ValueError: naming the shard, for any unreadable or inconsistent shard.
    """
    root = Path(log_dir)
    manifest = _optional_manifest(root)
    shards = list_shards(root)
    if not shards:
        raise InputError(f"{root}: no experience shards (*.parquet)")
    tables, nvs = [], []
    n_turns = 0
    for shard in shards:
        rows = read_experience(shard)
        table = session_table(rows, str(shard))
        tables.append(table)
        nvs.append(_oracle_nv(root, shard, table))
        n_turns += int((rows.turn >= 1).sum())
    device = np.concatenate([t.device_id for t in tables])
    success_turn = np.concatenate([t.success_turn for t in tables])
    task = manifest.task if manifest is not None else {}
    max_turns = config_from_json(TaskConfig, task, "task").max_turns
    ni = np.where(success_turn > 0, success_turn, max_turns).astype(np.float64)
    missing_nv = sum(len(t.session_id) for t, nv in zip(tables, nvs, strict=True) if nv is None)
    if missing_nv:
        nv, nv_source = None, f"unavailable: no oracle sidecar for {missing_nv} sessions"
    else:
        nv, nv_source = mean_se(np.concatenate(nvs)), "oracle sidecar (simulator violations)"  # type: ignore[arg-type]
    names = [str(d.get("name", "")) for d in manifest.devices] if manifest is not None else []
    devices = []
    for d in np.unique(device).tolist():
        mine = device == d
        devices.append(
            DeviceStats(
                device_id=int(d),
                name=names[d] if d < len(names) else f"device-{d}",
                n_sessions=int(mine.sum()),
                success_rate=mean_se((success_turn[mine] > 0).astype(np.float64)),
                ni=mean_se(ni[mine]),
            )
        )
    return LogSummary(
        log_dir=str(root),
        n_shards=len(shards),
        n_sessions=len(success_turn),
        n_turns=n_turns,
        devices=tuple(devices),
        sr=tuple(
            (k, mean_se(success_within(success_turn, k).astype(np.float64))) for k in SR_TURNS
        ),
        ni=mean_se(ni),
        nv=nv,
        nv_source=nv_source,
        returns=mean_se(np.concatenate([t.returns for t in tables])),
        max_turns=max_turns,
        manifest=manifest,
    )


@dataclass(frozen=True)
class CheckReport:
    """Outcome of :func:`check_log`."""

    log_dir: str
    """The log directory."""
    n_shards: int
    """Experience shards found."""
    n_sessions: int
    """Sessions in the readable shards."""
    n_rows: int
    """Rows in the readable shards."""
    problems: tuple[str, ...]
    """One line per problem found (each names its file)."""
    shards: tuple[Path, ...] = ()
    """The experience shards found."""

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def sound_shards(self) -> list[Path]:
        """The shards of a log without problems.

        Raises:
            InputError: naming every problem, when there is one.
        """
        if self.problems:
            raise InputError("; ".join(self.problems))
        return list(self.shards)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "log_dir": self.log_dir,
            "ok": self.ok,
            "n_shards": self.n_shards,
            "n_sessions": self.n_sessions,
            "n_rows": self.n_rows,
            "problems": list(self.problems),
        }


def reward_range(task: TaskConfig) -> tuple[float, float]:
    """The rewards a log made under ``task`` can hold: a turn's lies in ``[offset, 1 + offset]``
    (distances are in [0, 1]; an opening row's is 0), a failed last turn's adds the penalty."""
    return task.reward_offset + task.failure_penalty, 1.0 + task.reward_offset


def _check_rewards(shard: Path, rows: ExperienceBatch, task: TaskConfig) -> None:
    low, high = reward_range(task)
    slack = 1e-4 * max(1.0, abs(low))  # float32 rounding
    bad = (rows.reward < low - slack) | (rows.reward > high + slack)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{shard}: row {row}, column 'reward': {float(rows.reward[row]):g} is outside "
            f"[{low:g}, {high:g}], the range of the manifest's task"
        )


def _check_shard(
    shard: Path,
    oracle_dir: Path | None,
    index: ItemIndex | None,
    manifest: Manifest | None,
    task: TaskConfig | None,
) -> tuple[ExperienceBatch, np.ndarray]:
    """Read and check one experience shard (and its oracle shard); return rows and session ids."""
    rows = read_experience(shard)
    offsets = rows.check_complete(str(shard))
    if task is not None:
        _check_rewards(shard, rows, task)
    if index is not None:
        index(rows.item_id, str(shard))
    ids = rows.session_id[offsets[:-1]]
    if manifest is not None:
        _check_against_manifest(shard, rows, ids, manifest)
    if oracle_dir is not None:
        path = oracle_dir / shard.name
        if not path.is_file():
            raise InputError(f"{path}: oracle shard missing for {shard}")
        oracle = read_oracle(path)
        if not (
            np.array_equal(oracle.session_id, rows.session_id)
            and np.array_equal(oracle.turn, rows.turn)
        ):
            raise InputError(f"{path}: rows do not match the (session_id, turn) keys of {shard}")
        if index is not None:
            index(oracle.target_id, str(path), column="target_id")
    return rows, ids


def _check_against_manifest(
    shard: Path, rows: ExperienceBatch, ids: np.ndarray, manifest: Manifest
) -> None:
    """Device ids are the manifest's devices; a collected shard holds its chunk's sessions."""
    m = len(manifest.devices)
    if m:
        bad = rows.device_id >= m
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{shard}: row {row}, column 'device_id': {int(rows.device_id[row])} is not one "
                f"of the manifest's {m} devices (0..{m - 1})"
            )
    if manifest.sentences.get("source") not in UTTERANCE_SOURCES:
        return  # not collected from the simulator (e.g. people's sessions): ids are free
    match = _SHARD_RE.match(shard.name)
    chunk = int(match.group(1)) if match else -1
    if not 0 <= chunk < manifest.n_chunks:
        raise InputError(
            f"{shard}: not a chunk of this log (chunks 0..{manifest.n_chunks - 1} by the manifest)"
        )
    expected = session_ids(manifest.seed, chunk, *manifest.chunk_range(chunk))
    if not np.array_equal(ids, expected):
        wrong = [s for s in ids.tolist() if s not in set(expected.tolist())]
        what = (
            f"session {wrong[0]!r} does not belong to chunk {chunk}"
            if wrong
            else (f"holds {len(ids)} of the chunk's {len(expected)} sessions")
        )
        raise InputError(f"{shard}: {what} (seed {manifest.seed})")


def _check_manifest(
    root: Path,
    manifest: Manifest | None,
    catalog: Catalog | None,
    shards: list[Path],
    n_sessions: int | None,
) -> list[str]:
    path = root / MANIFEST_NAME
    if manifest is None:
        return [] if catalog is None else [f"{path}: not found, so the log's catalog is unknown"]
    problems = []
    if catalog is not None and manifest.catalog_fingerprint != catalog.fingerprint:
        problems.append(
            f"{path}: collected on catalog {manifest.catalog_name!r} "
            f"({manifest.catalog_fingerprint}), "
            f"checked against {catalog.name!r} ({catalog.fingerprint})"
        )
    held = {c for p in shards for c in shard_chunks(p.name) or ()}
    lost = [c for c in manifest.chunks_done if c not in held]
    if lost:
        problems.append(
            f"{path}: chunks {lost} are marked done but their experience shards are missing"
        )
    if manifest.complete and n_sessions is not None and n_sessions != manifest.n_sessions:
        problems.append(
            f"{path}: the log is complete with {manifest.n_sessions} sessions, "
            f"shards hold {n_sessions}"
        )
    return problems


def check_log(
    log_dir: str | Path, catalog: Catalog | None = None, *, rows: bool = True
) -> CheckReport:
    """Validate a log directory; every problem found is one line of the report (none raised).

    Checked: the manifest (readable, every field of its type), every shard (readable, every column
    of its type, whole sessions, rewards in the range of the task the manifest records, device ids
    among the manifest's devices, and for a collected log exactly the session ids of its chunk),
    session ids unique across shards, oracle shards matching, and with ``catalog`` item and target
    ids in it and the manifest's fingerprint its own.

    Args:
        log_dir: the log directory.
        catalog: when given, the log must have a manifest, its catalog fingerprint must be
            ``catalog``'s, and item and target ids must be its items.
        rows: read every shard; ``False``: only the checks that read no row (the directory, the
            manifest, the catalog, shards present), what a learner checks before it trains
            (:meth:`CheckReport.sound_shards`).
    """
    root = Path(log_dir)
    try:
        shards = list_shards(root)
    except FileNotFoundError as exc:
        return CheckReport(str(root), 0, 0, 0, (str(exc),))
    problems: list[str] = (
        [] if shards else [f"{root / EXPERIENCE_DIR}: no experience shards (*.parquet)"]
    )
    try:
        manifest = _optional_manifest(root)
    except ValueError as exc:
        problems.append(str(exc))
        manifest = None
    oracle_dir = root / ORACLE_DIR if (root / ORACLE_DIR).is_dir() else None
    index = ItemIndex(catalog) if catalog is not None else None
    task = (  # the rewards' range is known when the manifest records the task
        config_from_json(TaskConfig, manifest.task, "task") if manifest and manifest.task else None
    )
    seen: dict[str, str] = {}
    n_sessions = n_rows = 0
    for shard in shards if rows else ():
        try:
            rows, ids = _check_shard(shard, oracle_dir, index, manifest, task)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        dup = [s for s in ids.tolist() if s in seen]
        if dup:
            problems.append(
                f"{shard}: session {dup[0]!r} also appears in {seen[dup[0]]} ({len(dup)} repeated)"
            )
        seen.update(dict.fromkeys(ids.tolist(), shard.name))
        n_sessions += len(ids)
        n_rows += rows.n_rows
    if oracle_dir is not None and rows:
        extra = sorted({p.name for p in list_shards(root, ORACLE_DIR)} - {p.name for p in shards})
        if extra:
            problems.append(f"{oracle_dir}: oracle shards {extra} have no experience shard")
    problems += _check_manifest(root, manifest, catalog, shards, n_sessions if rows else None)
    return CheckReport(str(root), len(shards), n_sessions, n_rows, tuple(problems), tuple(shards))
