"""The one training loop every learner shares: sample, update, evaluate, log, checkpoint, resume.

``fitter(learner, batches, ...)`` yields ``(step, metrics)`` after each update; ``fit`` is
``list(fitter(...))``. The loop owns what is the same for every learner:

* **sampling**: ``batches.sample(rng)`` with a generator derived from ``(seed, step)``, so a run
  resumed from a checkpoint draws exactly the batches the uninterrupted run would have drawn; a
  source whose batches follow a stream (:class:`Positioned`) is first told the run's seed and
  the steps already taken;
* **timing**: ``time/sample`` and ``time/update`` (seconds) in every step's metrics;
* **evaluation**: every ``eval_every`` steps and at the last step each evaluator scores
  ``learner.policy()``; its metrics are namespaced by the evaluator's name (``eval/sr@20``);
* **logging**: at each evaluation one CSV row (step, means of the training metrics since the
  previous row, evaluation metrics) goes to ``checkpoint_dir/metrics.csv``, rewritten atomically;
* **checkpoints**: at each evaluation ``checkpoint_dir/checkpoint.pt`` is replaced atomically by
  ``{type, config (JSON), meta (JSON), state_dict, version, step, seed, pending}``
  (:func:`textrec.checkpoint.write_checkpoint`); a later call with the same
  ``checkpoint_dir`` resumes from it (same learner type, config, seed and ``meta`` required).
  Between evaluations the checkpoint is also replaced whenever ``checkpoint_seconds`` have passed
  since the last one, so a killed run loses minutes, not the updates since its last evaluation
  (an on-policy update on UT-Zappos takes ~30 s: 250 of them between evaluations are two hours).
  Such a checkpoint keeps what the next metrics row needs (``pending``: the step of the last row,
  the wall time so far and the training metrics of every step since that row), so a resumed run
  writes the same ``metrics.csv`` rows as the uninterrupted one, however often it was saved.

A learner is anything with the small :class:`Learner` protocol; a batch source anything with
``sample(rng)`` (:mod:`textrec.learners.batches`); an evaluator anything callable on a policy
(:mod:`textrec.learners.evaluators`). None knows about the others beyond the batch type they agree
on.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import numpy as np
from tqdm.auto import tqdm

from textrec.checkpoint import read_checkpoint, write_checkpoint
from textrec.errors import InputError
from textrec.io import atomic_file
from textrec.learners.evaluators import Evaluator

__all__ = [
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "Learner",
    "BatchSource",
    "Positioned",
    "Checkpoint",
    "Pending",
    "fitter",
    "fit",
    "save_checkpoint",
    "load_checkpoint",
    "step_rng",
    "read_rows",
    "check_resume",
]

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
"""File name of the learner checkpoint inside a run directory."""
METRICS_NAME = "metrics.csv"
"""File name of the metrics table inside a run directory."""

BatchT = TypeVar("BatchT", contravariant=True)
BatchT_co = TypeVar("BatchT_co", covariant=True)


class Learner(Protocol[BatchT]):
    """What the loop needs of a learner (every learner is flat and implements only this)."""

    name: ClassVar[str]
    """Registry name, stored as the checkpoint's ``type``."""
    config: Any
    """The learner's frozen hyperparameter dataclass."""

    def update(self, batch: BatchT) -> dict[str, float]:
        """One learning step on ``batch``; returns namespaced scalars (``loss/actor``, ...)."""
        ...

    def policy(self) -> Any:
        """The current greedy policy, in the simulator's batch ``Policy`` protocol."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything learned (networks, optimisers, random generators, counters)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        ...


class BatchSource(Protocol[BatchT_co]):
    """Anything that hands out training batches: a log reader, a replay buffer, a simulator."""

    def sample(self, rng: np.random.Generator) -> BatchT_co:
        """Draw the next batch using only ``rng`` for randomness."""
        ...


@runtime_checkable
class Positioned(Protocol):
    """A batch source whose batches follow a stream (e.g. a log streamed through a buffer)."""

    def position(self, seed: int, step: int) -> None:
        """Continue the stream of a run seeded with ``seed`` after ``step`` batches."""
        ...


def step_rng(seed: int, step: int) -> np.random.Generator:
    """The generator of loop step ``step`` of a run seeded with ``seed`` (independent per step)."""
    return np.random.default_rng(np.random.SeedSequence([seed, step]))


@dataclass(frozen=True)
class Checkpoint:
    """A saved learner: what :func:`load_checkpoint` returns."""

    type: str
    """Learner registry name."""
    config: dict[str, Any]
    """The learner config as JSON-ready fields."""
    state_dict: dict[str, Any]
    """The learner's :meth:`Learner.state_dict`."""
    version: str
    """textrec version that wrote it."""
    step: int
    """Loop steps done."""
    seed: int
    """The loop's seed."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What else a resumed run must share (e.g. the algorithm, the catalog's fingerprint)."""
    pending: Pending | None = None
    """For a checkpoint saved between metrics rows: what the next row needs; ``None`` for one
    saved with its row (and for every checkpoint of textrec before this field)."""


@dataclass(frozen=True)
class Pending:
    """The loop's state between two metrics rows, kept in a checkpoint saved between them."""

    row_step: int
    """Step of the last metrics row written (0: none yet)."""
    wall: float
    """Wall seconds of the run up to the checkpoint (resumed parts included)."""
    metrics: dict[str, list[float]]
    """Each training metric of every step since that row, in step order."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (as stored in the checkpoint)."""
        return {"row_step": self.row_step, "wall": self.wall, "metrics": self.metrics}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Pending:
        """Read what :meth:`to_json` wrote; ``TypeError``/``ValueError``/``KeyError`` if
        malformed."""
        metrics = {str(k): [float(x) for x in v] for k, v in dict(raw["metrics"]).items()}
        return cls(int(raw["row_step"]), float(raw["wall"]), metrics)


_FIELDS = ("config", "meta", "state_dict", "step", "seed")


def _config_json(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config), default=str))


def _meta_json(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    return json.loads(json.dumps(dict(meta or {}), default=str, sort_keys=True))


def save_checkpoint(
    path: str | Path,
    learner: Learner[Any],
    step: int,
    seed: int,
    meta: Mapping[str, Any] | None = None,
    pending: Pending | None = None,
) -> Path:
    """Write ``learner`` to the single file ``path`` atomically (with JSON ``meta``, and the
    loop's ``pending`` row when saved between metrics rows)."""
    return write_checkpoint(
        path,
        learner.name,
        config=json.dumps(_config_json(learner.config), sort_keys=True),
        meta=json.dumps(_meta_json(meta), sort_keys=True),
        state_dict=learner.state_dict(),
        step=step,
        seed=seed,
        pending=None if pending is None else json.dumps(pending.to_json()),
    )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; warns when another version wrote it.

    Raises ``FileNotFoundError`` / :class:`InputError` naming the file.
    """
    raw = read_checkpoint(path, None, _FIELDS)
    try:
        ckpt = Checkpoint(
            type=str(raw["type"]),
            config=json.loads(raw["config"]),
            state_dict=raw["state_dict"],
            version=str(raw["version"]),
            step=int(raw["step"]),
            seed=int(raw["seed"]),
            meta=json.loads(raw["meta"]),
            pending=None
            if raw.get("pending") is None
            else Pending.from_json(json.loads(raw["pending"])),
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise InputError(f"{path}: malformed learner checkpoint: {exc}") from exc
    bad = [f"negative {k} {v}" for k, v in (("step", ckpt.step), ("seed", ckpt.seed)) if v < 0]
    if ckpt.pending is not None and not 0 <= ckpt.pending.row_step < ckpt.step:
        bad.append(f"pending row at step {ckpt.pending.row_step}, not before step {ckpt.step}")
    if bad:
        raise InputError(f"{path}: malformed learner checkpoint: {', '.join(bad)}")
    return ckpt


def check_resume(
    run_dir: str | Path,
    name: str,
    config: Any,
    seed: int,
    meta: Mapping[str, Any] | None = None,
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Checkpoint | None:
    """The checkpoint of ``run_dir`` if a run of learner ``name`` with ``config``, ``seed`` and
    ``meta`` may resume from it; ``None`` when there is none. ``upgrade`` reads the saved ``meta``
    as this version writes it (settings added since, at the value the older run had), so a
    checkpoint of an older textrec resumes where nothing it did has changed.

    Raises :class:`InputError` naming the checkpoint file and both values when it was made by
    another learner, config, seed or ``meta`` (another algorithm, catalog, log ...).
    """
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    ckpt = load_checkpoint(path)
    wanted = _meta_json(meta)
    saved = ckpt.meta if upgrade is None else _meta_json(upgrade(dict(ckpt.meta)))
    for key in sorted(set(wanted) | set(saved)):
        if saved.get(key) != wanted.get(key):
            raise InputError(
                f"{path}: saved with {key} {saved.get(key)!r}, this run has "
                f"{key} {wanted.get(key)!r}; use another output directory"
            )
    if ckpt.type != name:
        raise InputError(f"{path}: holds a {ckpt.type!r} learner, cannot resume a {name!r} one")
    if ckpt.config != _config_json(config):
        raise InputError(
            f"{path}: saved config {ckpt.config} differs from this run's {_config_json(config)}"
        )
    if ckpt.seed != seed:
        raise InputError(f"{path}: saved with seed {ckpt.seed}, this run has seed {seed}")
    _rows_of(Path(run_dir), ckpt)  # a damaged metrics table is refused before long work
    return ckpt


def _rows_of(run_dir: Path, ckpt: Checkpoint) -> list[dict[str, Any]]:
    """The ``metrics.csv`` rows up to the checkpoint's last row (its step, or its pending
    row's step); the last must be that step's (none when a pending checkpoint precedes every
    row)."""
    step = ckpt.step if ckpt.pending is None else ckpt.pending.row_step
    metrics = run_dir / METRICS_NAME
    rows = [r for r in read_rows(metrics) if int(r["step"]) <= step]
    if step == 0 and not rows:
        return rows
    if not rows or int(rows[-1]["step"]) != step or "time/wall" not in rows[-1]:
        raise InputError(
            f"{metrics}: no row (with time/wall) for step {step} of {run_dir / CHECKPOINT_NAME}; "
            "it is not the metrics table of this run (use another output directory)"
        )
    return rows


def _resume(
    learner: Learner[Any],
    run_dir: Path,
    seed: int,
    meta: Mapping[str, Any] | None,
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None,
) -> tuple[Checkpoint | None, list[dict[str, Any]]]:
    """Load ``run_dir``'s checkpoint into ``learner``; return it and the metric rows up to it."""
    ckpt = check_resume(run_dir, learner.name, learner.config, seed, meta, upgrade)
    if ckpt is None:
        return None, []
    path = run_dir / CHECKPOINT_NAME
    try:
        learner.load_state_dict(ckpt.state_dict)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise InputError(f"{path}: cannot restore the learner: {exc}") from exc
    logger.info("resumed %s from %s at step %d", learner.name, path, ckpt.step)
    return ckpt, _rows_of(run_dir, ckpt)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.csv`` (empty cells left out); ``[]`` when it does not exist.

    Raises :class:`InputError` naming the file when it is not a readable metrics table.
    """
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = [{k: v for k, v in row.items() if v != ""} for row in reader]
            if "step" not in (reader.fieldnames or []):
                raise InputError(f"{path}: not a readable metrics table: no 'step' column")
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable metrics table: {exc}") from exc
    for n, row in enumerate(rows, start=1):
        if None in row:
            raise InputError(f"{path}: row {n}: more cells than the header has columns")
        for column, value in row.items():
            try:
                number = float(value)
            except ValueError:
                raise InputError(
                    f"{path}: row {n}, column {column!r}: {value!r} is not a number"
                ) from None
            if column == "step" and (not number.is_integer() or number < 0):
                raise InputError(f"{path}: row {n}, column 'step': {value!r} is not a step number")
        if "step" not in row:
            raise InputError(f"{path}: row {n}, column 'step': empty")
    return rows


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    columns = ["step"] + sorted({k for r in rows for k in r} - {"step"})
    with atomic_file(path, suffix=".csv") as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _evaluate(learner: Learner[Any], evaluators: Mapping[str, Evaluator]) -> dict[str, float]:
    out: dict[str, float] = {}
    if not evaluators:
        return out
    start = time.perf_counter()
    policy = learner.policy()
    for name, evaluator in evaluators.items():
        out.update({f"{name}/{k}": float(v) for k, v in evaluator(policy).items()})
    out["time/eval"] = time.perf_counter() - start
    return out


def fitter(
    learner: Learner[BatchT],
    batches: BatchSource[BatchT],
    *,
    n_steps: int,
    evaluators: Mapping[str, Evaluator] | None = None,
    eval_every: int = 0,
    checkpoint_dir: str | Path | None = None,
    seed: int = 0,
    meta: Mapping[str, Any] | None = None,
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    checkpoint_seconds: float | None = 600.0,
    progress: bool = True,
    window: int = 20,
) -> Iterator[tuple[int, dict[str, float]]]:
    """Train ``learner`` on batches from ``batches`` for ``n_steps`` updates, yielding after each.

    Args:
        learner: Any :class:`Learner`.
        batches: Any :class:`BatchSource` of the learner's batch type.
        n_steps: Total updates of the run (a resumed run continues up to this number).
        evaluators: Name -> evaluator; run every ``eval_every`` steps and after the last step.
        eval_every: Steps between evaluations / CSV rows (0: after the last only); a checkpoint
            is saved with each row.
        checkpoint_dir: Run directory for ``checkpoint.pt`` and ``metrics.csv``; resumes from its
            checkpoint when there is one. ``None``: nothing is written.
        seed: Seed of the per-step batch generators (:func:`step_rng`).
        meta: JSON-ready facts stored in the checkpoint that a resumed run must share (the
            algorithm's name, the catalog's and log's fingerprints, ...).
        upgrade: reads an older checkpoint's ``meta`` as this version writes it
            (:func:`check_resume`).
        checkpoint_seconds: Also save the checkpoint after a step that ends at least this many
            seconds after the last save, between rows (``None``: with the rows only).
        progress: Show a progress bar with rolling means of the metrics.
        window: Steps in the progress bar's rolling means.

    Yields:
        ``(step, metrics)``: the update's metrics plus ``time/*`` (and the evaluators' metrics on
        evaluation steps).
    """
    if n_steps < 1:
        raise InputError(f"n_steps must be >= 1, got {n_steps}")
    if eval_every < 0:
        raise InputError(f"eval_every must be >= 0, got {eval_every}")
    if checkpoint_seconds is not None and not checkpoint_seconds >= 0:
        raise InputError(f"checkpoint_seconds must be >= 0 or None, got {checkpoint_seconds}")
    evaluators = dict(evaluators or {})
    run_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    ckpt, rows = _resume(learner, run_dir, seed, meta, upgrade) if run_dir else (None, [])
    start = 0 if ckpt is None else ckpt.step
    if isinstance(batches, Positioned):
        batches.position(seed, start)
    rolling: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
    since_row: dict[str, list[float]] = defaultdict(list)
    wall = float(rows[-1]["time/wall"]) if rows else 0.0
    if ckpt is not None and ckpt.pending is not None:
        since_row.update({k: list(v) for k, v in ckpt.pending.metrics.items()})
        wall = ckpt.pending.wall
    began = time.perf_counter() - wall
    saved = time.perf_counter()
    bar = tqdm(
        total=n_steps, initial=start, disable=not progress, desc=learner.name, dynamic_ncols=True
    )
    try:
        for step in range(start + 1, n_steps + 1):
            t0 = time.perf_counter()
            batch = batches.sample(step_rng(seed, step))
            t1 = time.perf_counter()
            metrics = dict(learner.update(batch))
            metrics["time/sample"] = t1 - t0
            metrics["time/update"] = time.perf_counter() - t1
            for k, v in metrics.items():
                rolling[k].append(v)
                since_row[k].append(v)
            if step == n_steps or (eval_every and step % eval_every == 0):
                metrics.update(_evaluate(learner, evaluators))
                row: dict[str, Any] = {"step": step, "time/wall": time.perf_counter() - began}
                row.update({k: float(np.mean(v)) for k, v in since_row.items()})
                row.update(
                    {
                        k: v
                        for k, v in metrics.items()
                        if k.split("/")[0] in evaluators or k == "time/eval"
                    }
                )
                rows.append(row)
                since_row.clear()
                if run_dir is not None:
                    _write_rows(run_dir / METRICS_NAME, rows)
                    save_checkpoint(run_dir / CHECKPOINT_NAME, learner, step, seed, meta)
                    saved = time.perf_counter()
            elif (
                run_dir is not None
                and checkpoint_seconds is not None
                and time.perf_counter() - saved >= checkpoint_seconds
            ):
                pending = Pending(
                    row_step=int(rows[-1]["step"]) if rows else 0,
                    wall=time.perf_counter() - began,
                    metrics={k: list(v) for k, v in since_row.items()},
                )
                save_checkpoint(run_dir / CHECKPOINT_NAME, learner, step, seed, meta, pending)
                saved = time.perf_counter()
            bar.update(1)
            bar.set_postfix(_postfix(rolling, metrics, evaluators), refresh=False)
            yield step, metrics
    finally:
        bar.close()


_SHOWN = ("loss", "rollout")
"""Namespaces of the training metrics shown (as rolling means) on the progress bar."""


def _postfix(
    rolling: Mapping[str, deque[float]],
    metrics: Mapping[str, float],
    evaluators: Mapping[str, Evaluator],
) -> dict[str, str]:
    shown = {k: float(np.mean(v)) for k, v in rolling.items() if k.split("/")[0] in _SHOWN}
    shown.update({k: v for k, v in metrics.items() if k.split("/")[0] in evaluators})
    return {k: f"{v:.3g}" for k, v in shown.items() if math.isfinite(v)}


def fit(
    learner: Learner[BatchT], batches: BatchSource[BatchT], **kwargs: Any
) -> list[tuple[int, dict[str, float]]]:
    """Run :func:`fitter` to the end and return every ``(step, metrics)``."""
    return list(fitter(learner, batches, **kwargs))
