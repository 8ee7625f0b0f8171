"""Collect an experience log: behaviour devices serving simulated users of the train pool.

The sessions are split into independent chunks. Chunk ``c`` (global sessions
``[c·chunk_sessions, (c+1)·chunk_sessions)``) draws everything from ``(seed, c)``: the simulator
(targets, the users' comments and sentences) from ``SeedSequence(seed, spawn_key=(c, 0))`` and
each device from its own key (:func:`~textrec.logs.policies.device_rng`). A chunk therefore gives
the same rows whichever worker runs it, in whichever order, in a first run or a resumed one.

Each session is served by one device: round-robin over the global session number by default, or
a seeded draw per chunk. A chunk runs all its sessions at once in one
:class:`~textrec.simulator.engine.BatchedSimulator` on the **train pool** (collection happens on
training users), writes its experience shard and its oracle shard atomically, and then the
collecting process adds it to ``manifest.json`` (also atomically). A killed collection therefore
leaves only complete shards, and ``resume=True`` skips every chunk whose two shards exist and are
valid, redoing the rest.

Backends (:mod:`textrec.backends`): ``workers=1`` runs chunks in this process; ``workers=W`` in a
local process pool; ``backend="ray"`` on W Ray actors of the cluster at ``ray_address`` (or
``RAY_ADDRESS``, or a new local one) — every node must see ``out_dir`` (a shared file system),
since each chunk writes its own shard.

Failures and interruptions. Every argument, the devices (agents loaded) and the backend are
checked before anything is written, and the log directory is claimed
(:func:`textrec.io.claim_output_dir`, kind ``log``), so a collection that fails at start leaves
nothing in the way of a retry (a manifest with no chunk done is simply started afresh). The
manifest and the progress bar advance as each chunk finishes, whichever worker ran it. Pool
workers ignore Ctrl-C (the parent handles it) and exit by themselves when the parent dies, so no
orphan keeps writing shards; on Ctrl-C or an error the parent terminates them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from textrec.backends import BACKENDS, Backend, import_ray, job_runner
from textrec.catalog import Catalog
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.io import output_dir
from textrec.language.bank import SentenceBank
from textrec.logs.policies import (
    DeviceConfig,
    DeviceMix,
    default_devices,
    device_rng,
)
from textrec.logs.reader import read_experience, read_oracle, shown_actions
from textrec.logs.schema import ExperienceBatch, OracleBatch
from textrec.logs.writer import (
    EXPERIENCE_DIR,
    MANIFEST_NAME,
    ORACLE_DIR,
    Manifest,
    read_manifest,
    session_ids,
    shard_paths,
    write_chunk,
    write_manifest,
)
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.rollout import Step, play
from textrec.simulator.task import TaskConfig, check_training_source

__all__ = [
    "LOG_KIND",
    "ASSIGNMENTS",
    "BACKENDS",
    "ChunkSummary",
    "CollectResult",
    "collect",
    "check_chunk",
    "session_ids",
]

log = logging.getLogger(__name__)

LOG_KIND = "log"
"""Artifact kind of a log directory (:func:`textrec.io.claim_output_dir`)."""
_TINY = float(np.finfo(np.float32).tiny)
"""Probabilities below this (underflow under extreme noise) are logged as log(_TINY) ≈ -87."""
ASSIGNMENTS = ("round-robin", "random")
"""How sessions are given to devices: global session number modulo M, or a seeded draw per chunk."""


@dataclass(frozen=True)
class ChunkSummary:
    """What one chunk produced."""

    chunk: int
    """Chunk id."""
    n_sessions: int
    """Sessions of the chunk."""
    n_rows: int
    """Turns logged."""
    n_success: int
    """Sessions that ended in success."""
    seconds: float
    """Wall time of the chunk (simulation and writing)."""


@dataclass(frozen=True)
class CollectResult:
    """Outcome of :func:`collect`."""

    log_dir: Path
    """The log directory."""
    n_sessions: int
    """Sessions the log holds now."""
    chunks_run: int
    """Chunks collected by this call."""
    chunks_skipped: int
    """Chunks found complete and valid (resume) and not run again."""
    sessions_run: int
    """Sessions collected by this call."""
    rows_run: int
    """Turns logged by this call."""
    seconds: float
    """Wall time of this call."""

    @property
    def sessions_per_second(self) -> float:
        """Collection throughput of this call."""
        return self.sessions_run / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["log_dir"] = str(self.log_dir)
        out["sessions_per_second"] = round(self.sessions_per_second, 2)
        return out


# ---------------------------------------------------------------------------------------- chunks
@dataclass(frozen=True, eq=False)
class _Setup:
    """Everything a worker needs to run chunks (pickled once per worker)."""

    catalog: Catalog
    bank: SentenceBank
    task: TaskConfig
    devices: tuple[DeviceConfig, ...]
    seed: int
    assignment: str
    log_dir: Path


@contextlib.contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch with ``n`` intra-op threads inside the block (0: leave it alone), then restore.

    Agent devices run small batches (a chunk's sessions of one device); torch's thread pool spins
    on such batches, and with other processes on the cores one LSTM call took 290 ms on 2 threads
    against 0.5 ms on 1 (measured, 2 busy cores).
    """
    if n == 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _ChunkRunner:
    """Runs chunks: one simulator, one retriever and one policy per device, reused across chunks."""

    def __init__(self, setup: _Setup) -> None:
        self.setup = setup
        catalog = setup.catalog
        self.sim = BatchedSimulator(catalog, "train", setup.bank, setup.task)
        self.retriever = Retriever(catalog, "train")
        self.mix = DeviceMix(setup.devices, catalog)
        self.actions = shown_actions(catalog)

    def run(self, chunk: int, start: int, stop: int) -> ChunkSummary:
        """Collect global sessions ``[start, stop)`` as chunk ``chunk`` and write its two shards."""
        began = time.perf_counter()
        with _torch_threads(1 if any(d.base == "agent" for d in self.setup.devices) else 0):
            experience, oracle = self.rollout(chunk, start, stop)
        write_chunk(self.setup.log_dir, chunk, experience, oracle)
        return ChunkSummary(
            chunk=chunk,
            n_sessions=stop - start,
            n_rows=experience.n_rows,
            n_success=int(experience.terminated.sum()),
            seconds=time.perf_counter() - began,
        )

    def _devices_of(self, chunk: int, start: int, stop: int) -> np.ndarray:
        m = len(self.setup.devices)
        if self.setup.assignment == "round-robin":
            return np.arange(start, stop) % m
        rng = np.random.default_rng(np.random.SeedSequence(self.setup.seed, spawn_key=(chunk, 2)))
        return rng.integers(0, m, stop - start)

    def rollout(self, chunk: int, start: int, stop: int) -> tuple[ExperienceBatch, OracleBatch]:
        """Run the chunk's sessions to the end; return their rows, session-major, in turn order."""
        setup, sim = self.setup, self.sim
        b, k, t_max = stop - start, setup.catalog.schema.n_attributes, setup.task.max_turns
        device = self._devices_of(chunk, start, stop)
        result = sim.reset(
            b, np.random.default_rng(np.random.SeedSequence(setup.seed, spawn_key=(chunk, 0)))
        )
        self.mix.serve(
            [np.flatnonzero(device == d) for d in range(len(setup.devices))],
            [device_rng(setup.seed, chunk, d, config) for d, config in enumerate(setup.devices)],
        )
        rec = _Recorder(b, k, t_max, self.actions)
        outcomes = play(self.mix, sim, self.retriever, result, [rec])
        ids = session_ids(setup.seed, chunk, start, stop)
        names = np.array([d.name for d in setup.devices], dtype=object)
        return rec.rows(
            ids, device, setup.catalog.item_ids, setup.catalog.item_ids[outcomes.targets], names
        )


class _Recorder:
    """Recorder of :func:`~textrec.simulator.rollout.play`: per-turn buffers ``(T, B)`` of one
    chunk, flattened session-major at the end.

    Args:
        b, k, t_max: sessions, attributes, turn limit.
        actions: ``(N, K)`` action vector of each catalog item (:func:`shown_actions`).
    """

    def __init__(self, b: int, k: int, t_max: int, actions: np.ndarray) -> None:
        self.actions = actions
        shape = (t_max, b)
        self.taken = np.zeros(shape, dtype=bool)
        self.items = np.zeros(shape, dtype=np.int64)
        self.reward = np.zeros(shape, dtype=np.float32)
        self.terminated = np.zeros(shape, dtype=bool)
        self.truncated = np.zeros(shape, dtype=bool)
        self.texts = np.full(shape, "", dtype=object)
        self.value = np.full(shape, -1, dtype=np.int32)
        self.mode = np.full(shape, -1, dtype=np.int8)
        self.violations = np.zeros(shape, dtype=np.int16)
        self.matched = np.zeros(shape, dtype=bool)
        self.log_probs = np.zeros((t_max, b, k), dtype=np.float32)

    def record(self, step: Step) -> None:
        """Record the turn taken by the sessions ``step.rows`` (at 0-based turn ``turn``); the
        shown item's log-probabilities under the devices' distributions (``action.log_prob``)."""
        active, result, values = step.rows, step.after, step.action.values
        shown = self.actions[np.maximum(step.items, 0)]  # (B, K) action vector of the shown item
        log_probs = np.maximum(step.action.log_prob(shown), np.log(_TINY))
        matched = (shown == values).all(axis=1)
        t = step.before.turn[active]
        self.taken[t, active] = True
        self.items[t, active] = result.items[active]
        self.reward[t, active] = result.reward[active]
        self.terminated[t, active] = result.terminated[active]
        self.truncated[t, active] = result.truncated[active]
        self.texts[t, active] = result.texts[active]
        self.value[t, active] = result.feedback_value[active]
        self.mode[t, active] = result.feedback_mode[active]
        self.violations[t, active] = result.violations[active]
        self.matched[t, active] = matched[active]
        self.log_probs[t, active] = log_probs[active]

    def rows(
        self,
        ids: np.ndarray,
        device: np.ndarray,
        item_ids: np.ndarray,
        target_ids: np.ndarray,
        names: np.ndarray,
    ) -> tuple[ExperienceBatch, OracleBatch]:
        """The recorded rows, session-major and in turn order."""
        sess, t = np.nonzero(self.taken.T)  # C order over (B, T): session-major, turns ascending
        experience = ExperienceBatch(
            session_id=ids[sess],
            device_id=device[sess],
            turn=t + 1,
            item_id=item_ids[self.items[t, sess]],
            feedback=self.texts[t, sess],
            reward=self.reward[t, sess],
            terminated=self.terminated[t, sess],
            truncated=self.truncated[t, sess],
        )
        oracle = OracleBatch(
            session_id=experience.session_id,
            turn=experience.turn,
            device_id=experience.device_id,
            target_id=target_ids[sess],
            log_probs=self.log_probs[t, sess],
            policy=names[device[sess]],
            feedback_value=self.value[t, sess],
            feedback_mode=self.mode[t, sess],
            violations=self.violations[t, sess],
            matched=self.matched[t, sess],
        )
        return experience, oracle


# ---------------------------------------------------------------------------------------- backends
def _run_chunk(runner: _ChunkRunner, chunk: int, start: int, stop: int) -> ChunkSummary:
    """One chunk on a worker's runner (a :mod:`textrec.backends` task)."""
    return runner.run(chunk, start, stop)


# ---------------------------------------------------------------------------------------- resume
def check_chunk(log_dir: str | Path, manifest: Manifest, chunk: int) -> str | None:
    """Why chunk ``chunk`` of ``log_dir`` is not complete and valid, or ``None`` when it is.

    Complete and valid: both shards exist and read under the current schema, the experience rows
    hold exactly the chunk's sessions, each whole, and the oracle rows have the same keys.
    """
    exp_path, ora_path = shard_paths(log_dir, chunk)
    if not exp_path.is_file() or not ora_path.is_file():
        return f"chunk {chunk}: shard missing"
    try:
        experience, oracle = read_experience(exp_path), read_oracle(ora_path)
        offsets = experience.check_complete(str(exp_path))
    except ValueError as exc:
        return str(exc)
    start, stop = manifest.chunk_range(chunk)
    got = experience.session_id[offsets[:-1]]
    if not np.array_equal(got, session_ids(manifest.seed, chunk, start, stop)):
        return f"{exp_path}: holds {len(got)} sessions, not the {stop - start} of chunk {chunk}"
    if not (
        np.array_equal(oracle.session_id, experience.session_id)
        and np.array_equal(oracle.turn, experience.turn)
    ):
        return f"{ora_path}: rows do not match the experience shard's (session_id, turn)"
    return None


def _remove_stale_temporaries(log_dir: Path) -> None:
    """Delete temporary shard files a killed collection left behind (single-writer assumption)."""
    for kind in (EXPERIENCE_DIR, ORACLE_DIR):
        for tmp in (log_dir / kind).glob(".shard-*.tmp"):
            log.info("removing temporary file %s of an interrupted write", tmp)
            tmp.unlink(missing_ok=True)


def _start_or_resume(log_dir: Path, fresh: Manifest, resume: bool) -> tuple[Manifest, list[int]]:
    """The manifest to continue from and the chunks that are done and valid.

    A log with no shard yet (a collection that failed or was stopped before its first chunk) is
    started afresh, with or without ``resume`` and whatever settings it had.
    """
    leftovers = [
        p for kind in (EXPERIENCE_DIR, ORACLE_DIR) for p in (log_dir / kind).glob("*.parquet")
    ]
    if not leftovers:
        _remove_stale_temporaries(log_dir)
        write_manifest(log_dir, fresh)
        return fresh, []
    if not (log_dir / MANIFEST_NAME).is_file():
        raise InputError(
            f"{log_dir}: holds shards but no {MANIFEST_NAME}; choose an empty --out directory"
        )
    if not resume:
        raise InputError(
            f"{log_dir}: already holds a log; pass --resume to continue it or choose another --out"
        )
    existing = read_manifest(log_dir)
    old, new = existing.settings(), fresh.settings()
    differ = sorted(key for key in new if old.get(key) != new[key])
    if differ:
        raise InputError(
            f"{log_dir / MANIFEST_NAME}: the log was collected with other settings "
            f"({', '.join(differ)}); "
            "resume with the same catalog, seed, sessions, chunk size, devices and task"
        )
    _remove_stale_temporaries(log_dir)
    done = []
    for chunk in range(existing.n_chunks):
        problem = check_chunk(log_dir, existing, chunk)
        if problem is None:
            done.append(chunk)
        elif chunk in existing.chunks_done or shard_paths(log_dir, chunk)[0].exists():
            log.warning("chunk %d will be collected again: %s", chunk, problem)
    manifest = Manifest(**{**asdict(existing), "chunks_done": tuple(done)})
    write_manifest(log_dir, manifest)
    return manifest, done


# ---------------------------------------------------------------------------------------- collect
def collect(
    catalog: Catalog,
    out_dir: str | Path,
    n_sessions: int,
    seed: int,
    devices: Sequence[DeviceConfig] | None = None,
    *,
    task: TaskConfig | None = None,
    bank: SentenceBank | None = None,
    workers: int = 1,
    backend: str = "local",
    ray_address: str | None = None,
    chunk_sessions: int = 1000,
    assignment: str = "round-robin",
    resume: bool = False,
    progress: bool = True,
) -> CollectResult:
    """Collect ``n_sessions`` sessions of the behaviour ``devices`` into the log dir ``out_dir``.

    Args:
        catalog: the catalog; targets and shown items come from its train pool.
        out_dir: the log directory (created; must be empty unless ``resume``).
        n_sessions: sessions of the complete log (>= 1).
        seed: collection seed; chunk ``c`` draws from ``(seed, c)``.
        devices: the behaviour devices (:func:`~textrec.logs.policies.default_devices` when None).
        task: the task rules (``TaskConfig()`` when None).
        bank: the users' sentences; built from ``task.utterances`` with ``seed`` when None.
        workers: chunks run at once (process pool, or Ray actors).
        backend: ``"local"`` or ``"ray"`` (needs the ``ray`` extra).
        ray_address: the Ray cluster (``backend="ray"``); ``None``: ``RAY_ADDRESS`` or a local one.
        chunk_sessions: sessions per chunk, i.e. per shard.
        assignment: ``"round-robin"`` or ``"random"`` device per session.
        resume: continue the log in ``out_dir``: skip chunks whose shards are complete and valid.
        progress: show a progress bar.

    Returns:
        A :class:`CollectResult` (throughput of this call included).

    Raises:
        InputError: a bad argument or device, Ray missing for ``backend="ray"``, ``out_dir``
            not a new/empty directory or a log (checked before anything is written), or an
            existing log without ``resume`` or with other settings.
    """
    for name, value in (
        ("n_sessions", n_sessions),
        ("workers", workers),
        ("chunk_sessions", chunk_sessions),
    ):
        if value < 1:
            raise InputError(f"collect: {name} must be >= 1, got {value}")
    if assignment not in ASSIGNMENTS:
        raise InputError(f"collect: assignment must be one of {ASSIGNMENTS}, got {assignment!r}")
    devices = tuple(devices) if devices is not None else default_devices()
    if not devices:
        raise InputError("collect: needs at least one device")
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise InputError(f"collect: device names must be unique, got {names}")
    task = task or TaskConfig()
    check_training_source(task.utterances, "a log collected with it")
    sentences: dict[str, Any] = {"source": task.utterances, "given": bank is not None}
    if bank is None:
        from textrec.language.speech import build_sentence_bank

        bank = build_sentence_bank(catalog.schema, source=task.utterances, seed=seed)
        sentences["seed"] = seed
    sentences["n_sentences"] = len(bank.texts)
    log_dir = Path(out_dir)
    fresh = Manifest(
        catalog_name=catalog.name,
        catalog_fingerprint=catalog.fingerprint,
        seed=seed,
        n_sessions=n_sessions,
        chunk_sessions=chunk_sessions,
        pool="train",
        devices=tuple(d.to_json() for d in devices),
        task=asdict(task),
        sentences=sentences,
        assignment=assignment,
    )
    began = time.perf_counter()
    setup = _Setup(catalog, bank, task, devices, seed, assignment, log_dir)
    where = Backend(backend, workers, ray_address)
    if where.name == "ray":
        import_ray()
    runner = _ChunkRunner(setup)  # loads every device: a bad agent fails before anything is written
    with output_dir(log_dir, LOG_KIND, frozenset({MANIFEST_NAME})):
        return _collect_chunks(setup, runner, fresh, resume, where, progress, began)


def _collect_chunks(
    setup: _Setup,
    runner: _ChunkRunner,
    fresh: Manifest,
    resume: bool,
    where: Backend,
    progress: bool,
    began: float,
) -> CollectResult:
    """Start or resume the log in ``setup.log_dir`` and run its missing chunks."""
    log_dir = setup.log_dir
    manifest, done = _start_or_resume(log_dir, fresh, resume)
    jobs = [(c, *manifest.chunk_range(c)) for c in range(manifest.n_chunks) if c not in set(done)]
    if not jobs or (where.name == "local" and len(jobs) == 1):
        where = Backend()  # nothing to share out: no pool or cluster to start
    else:  # no more workers than chunks
        where = Backend(where.name, max(1, min(where.workers, len(jobs))), where.address)
    sessions_run = rows_run = 0
    bar = tqdm(
        total=sum(stop - start for _, start, stop in jobs),
        desc="collect",
        unit="session",
        disable=not progress,
    )
    with bar, job_runner(where, _ChunkRunner, (setup,), runner) as jobs_run:
        for job in jobs:
            jobs_run.submit(job[0], _run_chunk, *job)
        for _, summary in jobs_run.completed():
            manifest = manifest.with_chunks((summary.chunk,))
            write_manifest(log_dir, manifest)
            sessions_run += summary.n_sessions
            rows_run += summary.n_rows
            bar.update(summary.n_sessions)
            bar.set_postfix(chunks=f"{len(manifest.chunks_done)}/{manifest.n_chunks}")
    seconds = time.perf_counter() - began
    n_done = sum(
        manifest.chunk_range(c)[1] - manifest.chunk_range(c)[0] for c in manifest.chunks_done
    )
    log.info(
        "collected %d sessions in %.1f s (%d workers, pid %d)",
        sessions_run,
        seconds,
        where.workers,
        os.getpid(),
    )
    return CollectResult(
        log_dir=log_dir,
        n_sessions=n_done,
        chunks_run=len(jobs),
        chunks_skipped=len(done),
        sessions_run=sessions_run,
        rows_run=rows_run,
        seconds=seconds,
    )
