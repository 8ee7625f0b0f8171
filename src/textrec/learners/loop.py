"""The one training loop every learner shares: sample, update, evaluate, log, checkpoint, resume.

``fitter(learner, batches, ...)`` yields ``(step, metrics)`` after each update; ``fit`` is
``list(fitter(...))``. The loop owns what is the same for every learner:

* **sampling**: ``batches.sample(rng)`` with a generator derived from ``(seed, step)``, so a run
  resumed from a checkpoint draws exactly the batches the uninterrupted run would have drawn;
* **timing**: ``time/sample`` and ``time/update`` (seconds) in every step's metrics;
* **evaluation**: every ``eval_every`` steps and at the last step each evaluator scores
  ``learner.policy()``; its metrics are namespaced by the evaluator's name (``eval/sr@20``);
* **logging**: at each evaluation one CSV row (step, means of the training metrics since the
  previous row, evaluation metrics) goes to ``checkpoint_dir/metrics.csv``, rewritten atomically;
* **checkpoints**: at each evaluation ``checkpoint_dir/checkpoint.pt`` is replaced atomically by
  ``{type, config (JSON), state_dict, version, step, seed}``; a later call with the same
  ``checkpoint_dir`` resumes from it (same learner type and config required).

A learner is anything with the small :class:`Learner` protocol; a batch source anything with
``sample(rng)``. Neither knows about the other beyond the batch type they agree on. The batch
pipeline of episode-based learners is here too: :class:`EpisodeBatch` (whole padded dialogues with
actions and rewards) and :class:`SimulatorEpisodes`, which plays fresh simulated sessions with a
sampling policy; :class:`SimulatorEvaluator` scores a policy with
:func:`textrec.evaluation.evaluate`.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
import warnings
from collections import defaultdict, deque
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from textrec import __version__
from textrec.agent.tracker import Dialogues
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.evaluation import evaluate
from textrec.io import atomic_file
from textrec.simulator.baselines import Policy
from textrec.simulator.engine import BatchedSimulator

__all__ = [
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "Learner",
    "BatchSource",
    "Evaluator",
    "Checkpoint",
    "EpisodeBatch",
    "SimulatorEpisodes",
    "SimulatorEvaluator",
    "fitter",
    "fit",
    "save_checkpoint",
    "load_checkpoint",
    "step_rng",
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


class Evaluator(Protocol):
    """Scores a policy; the loop prefixes each key with the evaluator's name."""

    def __call__(self, policy: Any) -> dict[str, float]:
        """Metrics of ``policy`` (e.g. ``{"sr@20": 0.9}``)."""
        ...


@dataclass(frozen=True, eq=False)
class EpisodeBatch:
    """Whole episodes: the dialogues, the action chosen at each turn and what it earned.

    Shapes (``B`` episodes, ``T`` turns, ``K`` attribute heads); turns past an episode's end are
    padding (``dialogues.mask`` false):

    * ``actions``    ``(B, T, K) int64`` value chosen per head at turn ``t`` (``-1``: none)
    * ``rewards``    ``(B, T) float32``
    * ``terminated`` ``(B, T) bool`` the item of turn ``t`` was the one the user wanted
    * ``truncated``  ``(B, T) bool`` turn ``t`` was the last allowed and failed
    """

    dialogues: Dialogues
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def __post_init__(self) -> None:
        b, t = self.dialogues.items.shape
        for name in ("rewards", "terminated", "truncated"):
            if getattr(self, name).shape != (b, t):
                raise InputError(
                    f"EpisodeBatch: {name} has shape {getattr(self, name).shape}, expected {(b, t)}"
                )
        if self.actions.shape[:2] != (b, t) or self.actions.ndim != 3:
            raise InputError(
                f"EpisodeBatch: actions has shape {self.actions.shape}, expected ({b}, {t}, K)"
            )

    @property
    def dones(self) -> np.ndarray:
        """``(B, T) bool``: the episode ended at turn ``t`` (success or turn limit)."""
        return self.terminated | self.truncated


class SimulatorEpisodes:
    """A batch source of fresh episodes: ``n_sessions`` simulated sessions played to the end.

    The policy must choose values (``Action.values``, e.g. ``Recommender.policy(sample=True)``):
    they are the recorded actions, and :meth:`Retriever.by_values` shows the best unseen item with
    them. All randomness (targets, users, the policy's draws) comes from the ``rng`` of
    :meth:`sample`.

    Args:
        simulator: The users and the pool episodes are played on.
        policy: The acting policy (reads the learner's current weights at every call).
        n_sessions: Episodes per batch.
    """

    def __init__(self, simulator: BatchedSimulator, policy: Policy, n_sessions: int) -> None:
        if n_sessions < 1:
            raise InputError(f"n_sessions must be >= 1, got {n_sessions}")
        self.simulator, self.policy, self.n_sessions = simulator, policy, n_sessions
        self.retriever = Retriever(simulator.catalog, simulator.pool)

    def sample(self, rng: np.random.Generator) -> EpisodeBatch:
        """Play ``n_sessions`` new sessions to the end and return them as one batch."""
        sim, b = self.simulator, self.n_sessions
        t_max, k = sim.config.max_turns, sim.catalog.schema.n_attributes
        items = np.full((b, t_max), -1, dtype=np.int64)
        sentence = np.full((b, t_max), -1, dtype=np.int64)
        actions = np.full((b, t_max, k), -1, dtype=np.int64)
        rewards = np.zeros((b, t_max), dtype=np.float32)
        terminated = np.zeros((b, t_max), dtype=bool)
        truncated = np.zeros((b, t_max), dtype=bool)
        result = sim.reset(b, rng)
        self.policy.reset(b, rng)
        t = 0
        while result.active.any():
            rows = np.flatnonzero(result.active)
            action = self.policy.act(result)
            if action.values is None:
                raise InputError(
                    "SimulatorEpisodes needs a policy that chooses values (Action.values)"
                )
            chosen = action.values[rows]
            shown = np.full(b, -1, dtype=np.int64)
            shown[rows] = self.retriever.by_values(chosen, sim.shown[rows])
            result = sim.step(shown)
            items[rows, t], actions[rows, t] = shown[rows], chosen
            sentence[rows, t], rewards[rows, t] = result.sentence[rows], result.reward[rows]
            terminated[rows, t], truncated[rows, t] = (
                result.terminated[rows],
                result.truncated[rows],
            )
            t += 1
        said = sentence >= 0
        used, inverse = np.unique(sentence[said], return_inverse=True)
        feedback = np.full_like(sentence, -1)
        feedback[said] = inverse
        dialogues = Dialogues(
            items=items[:, :t],
            feedback=feedback[:, :t],
            opening=np.full(b, -1, dtype=np.int64),
            n_turns=(items >= 0).sum(axis=1),
            tokens=sim.bank.tokens[used].astype(np.int64),
            lengths=sim.bank.lengths[used].astype(np.int64),
        )
        return EpisodeBatch(
            dialogues, actions[:, :t], rewards[:, :t], terminated[:, :t], truncated[:, :t]
        )


@dataclass(frozen=True, eq=False)
class SimulatorEvaluator:
    """Scores a policy on ``n_sessions`` simulated sessions (:func:`textrec.evaluation.evaluate`).

    Returns ``sr@10``, ``sr@20``, ``sr@30``, ``ni``, ``nv`` and ``return`` means (the loop adds the
    evaluator's name as prefix: ``eval/sr@20``). The same ``seed`` every time, so successive
    evaluations of a run meet the same users.
    """

    simulator: BatchedSimulator
    """The users and the pool under evaluation (the test pool for reported figures)."""
    n_sessions: int
    """Sessions per evaluation."""
    seed: int = 0
    """Evaluation seed."""

    @cached_property
    def retriever(self) -> Retriever:
        """Retrieval over the simulator's pool, built once for all evaluations."""
        return Retriever(self.simulator.catalog, self.simulator.pool)

    def __call__(self, policy: Any) -> dict[str, float]:
        """Evaluate ``policy``."""
        result = evaluate(
            policy, self.simulator, self.n_sessions, self.seed, retriever=self.retriever
        )
        return result.metrics(prefix="")


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


def _config_json(config: Any) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(config), default=str))


def save_checkpoint(path: str | Path, learner: Learner[Any], step: int, seed: int) -> Path:
    """Write ``learner`` to the single file ``path`` atomically."""
    payload = {
        "type": learner.name,
        "config": json.dumps(_config_json(learner.config), sort_keys=True),
        "state_dict": learner.state_dict(),
        "version": __version__,
        "step": step,
        "seed": seed,
    }
    with atomic_file(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; warns when another version wrote it."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's weights-only unpickler raises many types on bad bytes
        raise InputError(f"{p}: not a readable textrec checkpoint: {exc}") from exc
    if not isinstance(raw, dict):
        raise InputError(f"{p}: not a textrec checkpoint (holds a {type(raw).__name__})")
    missing = [
        k for k in ("type", "config", "state_dict", "version", "step", "seed") if k not in raw
    ]
    if missing:
        raise InputError(f"{p}: checkpoint lacks fields {missing}")
    if raw["version"] != __version__:
        warnings.warn(
            f"{p}: written by textrec {raw['version']}, this is {__version__}", stacklevel=2
        )
    return Checkpoint(
        type=str(raw["type"]),
        config=json.loads(raw["config"]),
        state_dict=raw["state_dict"],
        version=str(raw["version"]),
        step=int(raw["step"]),
        seed=int(raw["seed"]),
    )


def _resume(learner: Learner[Any], run_dir: Path, seed: int) -> tuple[int, list[dict[str, Any]]]:
    """Load ``run_dir``'s checkpoint into ``learner``; return its step and metric rows up to it."""
    path = run_dir / CHECKPOINT_NAME
    if not path.is_file():
        return 0, []
    ckpt = load_checkpoint(path)
    if ckpt.type != learner.name:
        raise InputError(
            f"{path}: holds a {ckpt.type!r} learner, cannot resume a {learner.name!r} one"
        )
    if ckpt.config != _config_json(learner.config):
        raise InputError(
            f"{path}: saved config {ckpt.config} differs from this run's "
            f"{_config_json(learner.config)}"
        )
    if ckpt.seed != seed:
        raise InputError(f"{path}: saved with seed {ckpt.seed}, this run has seed {seed}")
    learner.load_state_dict(ckpt.state_dict)
    rows = [r for r in _read_rows(run_dir / METRICS_NAME) if int(r["step"]) <= ckpt.step]
    logger.info("resumed %s from %s at step %d", learner.name, path, ckpt.step)
    return ckpt.step, rows


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


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
    progress: bool = True,
    window: int = 20,
) -> Iterator[tuple[int, dict[str, float]]]:
    """Train ``learner`` on batches from ``batches`` for ``n_steps`` updates, yielding after each.

    Args:
        learner: Any :class:`Learner`.
        batches: Any :class:`BatchSource` of the learner's batch type.
        n_steps: Total updates of the run (a resumed run continues up to this number).
        evaluators: Name -> evaluator; run every ``eval_every`` steps and after the last step.
        eval_every: Steps between evaluations / CSV rows / checkpoints (0: after the last only).
        checkpoint_dir: Run directory for ``checkpoint.pt`` and ``metrics.csv``; resumes from its
            checkpoint when there is one. ``None``: nothing is written.
        seed: Seed of the per-step batch generators (:func:`step_rng`).
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
    evaluators = dict(evaluators or {})
    run_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
    start, rows = _resume(learner, run_dir, seed) if run_dir is not None else (0, [])
    rolling: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))
    since_row: dict[str, list[float]] = defaultdict(list)
    began = time.perf_counter() - (float(rows[-1]["time/wall"]) if rows else 0.0)
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
                    save_checkpoint(run_dir / CHECKPOINT_NAME, learner, step, seed)
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
