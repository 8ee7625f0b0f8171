"""The library entry point that trains an agent with any registered learner: :func:`train_agent`.

``textrec train`` and ``textrec reproduce`` both call it. It claims the run directory before any
work (:func:`textrec.io.claim_output_dir`, kind ``"run"``), takes the run's ingredients (the
pretrained text encoder, the sentence bank and the simulated users:
:class:`~textrec.simulator.ingredients.Ingredients`, given by the caller or built from the spec),
builds the recommender on that encoder, the learner from the registry and its batch source (the
experience log, or simulated episodes for ``online``), trains with the shared
:func:`~textrec.learners.loop.fitter` (evaluating on simulated users of ``eval_pool``), and saves
the trained recommender as ``OUT/final/`` (with ``snapshots``, also the recommender of every
evaluation as ``OUT/checkpoints/step-N/``: the candidates a model selection chooses among).
Running it again on the same ``out`` resumes from ``OUT/checkpoint.pt``; a checkpoint made with
another algorithm, catalog, log, recommender or learner config is refused, naming the file and
both values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from textrec.agent.config import RecommenderConfig
from textrec.agent.recommender import Recommender
from textrec.catalog.catalog import Catalog
from textrec.errors import InputError
from textrec.io import claim_output_dir
from textrec.learners.evaluators import BestSelector, SimulatorEvaluator
from textrec.learners.loop import CHECKPOINT_NAME, METRICS_NAME, check_resume, fitter, read_rows
from textrec.learners.registry import LEARNERS, BatchContext
from textrec.logs.info import check_log
from textrec.metrics import EvaluationResult
from textrec.simulator.ingredients import Ingredients

__all__ = [
    "TrainSpec",
    "TrainResult",
    "train_agent",
    "FINAL",
    "SNAPSHOTS",
    "snapshot_dir",
    "EVAL_POOLS",
]

FINAL = "final"
"""Name of the trained recommender's directory inside the run directory."""
SNAPSHOTS = "checkpoints"
"""Directory of the recommenders kept at every evaluation (``TrainSpec.snapshots``)."""

EVAL_POOLS = ("test", "train")
"""Pools the run's evaluations may use: the test pool (reported figures) or the train pool (a
validation of settings that never looks at the test pool)."""


@dataclass(frozen=True)
class TrainSpec:
    """Everything one training run depends on."""

    algo: str
    """Learner name (a key of :data:`textrec.learners.registry.LEARNERS`)."""
    catalog: Catalog
    """The catalog to learn on (the log's, for offline learners)."""
    out: Path
    """Run directory: ``checkpoint.pt``, ``metrics.csv``, ``final/``."""
    logs: Path | tuple[Path, ...] | None = None
    """Experience log directory, or several pooled (required by offline learners, refused by
    ``online``)."""
    steps: int = 500
    """Learner updates (a resumed run continues up to it)."""
    eval_every: int = 100
    """Updates between evaluations and checkpoints (0: only at the end)."""
    eval_sessions: int = 500
    """Simulated sessions per evaluation (the final one included)."""
    seed: int = 0
    """Seed of the weights, the batches, the text encoder and the evaluation users."""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """Learner config fields that differ from the learner's defaults."""
    recommender: RecommenderConfig = field(default_factory=RecommenderConfig)
    """The agent's network sizes and readout."""
    utterances: str = "templates"
    """Sentence source of the simulated users of the evaluations: templates, model or mix."""
    eval_pool: str = "test"
    """Pool of the evaluation users: 'test' (reported figures) or 'train' (validation)."""
    progress: bool = True
    """Show progress bars."""
    init: Path | None = None
    """Saved recommender whose weights the run starts from (iterative offline rounds)."""
    select: BestSelector | None = None
    """Rates the policy at every evaluation; ``final/`` gets the weights it rated best (logged
    as ``select/value``) instead of the last ones. ``None``: the last ones."""
    ingredients: Ingredients | None = None
    """The run's parts, built by the caller from the same ``catalog``, ``utterances`` and
    ``seed`` (shared by the runs of ``iterative`` and ``reproduce``); ``None``: built by
    :func:`train_agent` (:meth:`parts`)."""
    snapshots: bool = False
    """Also save the recommender of every evaluation (:func:`snapshot_dir`), as it acted then."""

    def __post_init__(self) -> None:
        if self.algo not in LEARNERS:
            raise InputError(f"unknown algo {self.algo!r}; choose one of {list(LEARNERS)}")
        spec = LEARNERS[self.algo]
        if spec.needs_logs and self.logs is None:
            raise InputError(f"--algo {self.algo} learns from a log: give --logs LOGDIR")
        if not spec.needs_logs and self.logs is not None:
            raise InputError(f"--algo {self.algo} learns from simulated users; drop --logs")
        if self.eval_pool not in EVAL_POOLS:
            raise InputError(f"eval_pool must be one of {EVAL_POOLS}, got {self.eval_pool!r}")
        for name, low in (("steps", 1), ("eval_every", 0), ("eval_sessions", 1)):
            if getattr(self, name) < low:
                raise InputError(f"{name} must be >= {low}, got {getattr(self, name)}")
        given = self.ingredients
        if given is not None and (given.catalog, given.utterances, given.seed) != (
            self.catalog,
            self.utterances,
            self.seed,
        ):
            raise InputError(
                f"TrainSpec: the ingredients were built for catalog {given.catalog.name!r}, "
                f"utterances {given.utterances!r}, seed {given.seed}; the run is on "
                f"{self.catalog.name!r}, {self.utterances!r}, seed {self.seed}"
            )

    def parts(self) -> Ingredients:
        """:attr:`ingredients`, or new ones of this spec's catalog, utterances and seed."""
        return self.ingredients or Ingredients(
            self.catalog, self.utterances, self.seed, self.progress
        )


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_agent` returns."""

    algo: str
    """Learner name."""
    agent_dir: Path
    """The trained :class:`Recommender` (``Recommender.load(agent_dir, catalog)``)."""
    curve: list[dict[str, float]]
    """One row per evaluation: ``step``, ``eval/sr@10``, ``eval/sr@20``, ... and the means of the
    training metrics since the previous row."""
    test: EvaluationResult
    """The final evaluation (on ``eval_pool``)."""
    train_seconds: float
    """Wall time of the training loop, resumed parts included."""
    config: dict[str, Any]
    """``{"learner": ..., "recommender": ...}`` as JSON-ready dicts."""
    last_update: dict[str, float]
    """Training metrics of the last update of this call (empty when nothing was left to do)."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "algo": self.algo,
            "agent": str(self.agent_dir),
            "train_seconds": round(self.train_seconds, 1),
            "config": self.config,
            "last_update": {k: round(v, 6) for k, v in self.last_update.items()},
            "curve": self.curve,
            "test": self.test.to_json(),
        }


def train_agent(spec: TrainSpec) -> TrainResult:
    """Train (or resume) one agent as ``spec`` says; evaluate it; save it to ``out/final``."""
    from textrec.simulator.task import check_training_source

    learner_spec = LEARNERS[spec.algo]
    config = learner_spec.make_config(spec.overrides)  # bad options fail before any work
    check_training_source(spec.utterances, "training")
    cat = spec.catalog
    meta = {
        "algo": spec.algo,
        "catalog": f"{cat.name} (fingerprint {cat.fingerprint})",
        "logs": _resolved(spec.logs),
        "init": None if spec.init is None else str(Path(spec.init).resolve()),
        "recommender": asdict(spec.recommender),
        "utterances": spec.utterances,
        "eval_pool": spec.eval_pool,
        "eval_sessions": spec.eval_sessions,
    }
    out = claim_output_dir(spec.out, "run")
    # The cheap refusals first: another run's checkpoint, a log of another catalog.
    done = check_resume(
        out, learner_spec.learner_name, config, spec.seed, meta, upgrade=_meta_as_now
    )
    if done is not None and done.step > spec.steps:
        raise InputError(
            f"{out / CHECKPOINT_NAME}: the run has {done.step} updates, more than the {spec.steps} "
            f"asked for; train to {done.step} or more steps to go on from it, or choose another "
            "output directory"
        )
    for log in () if spec.logs is None else _as_tuple(spec.logs):
        check_log(log, cat, rows=False).sound_shards()
    parts = spec.parts()
    recommender = Recommender(cat, parts.text_encoder(), spec.recommender, seed=spec.seed)
    if spec.init is not None:
        recommender.load_state_dict(Recommender.load(spec.init, cat).state_dict())
    learner = learner_spec.learner(recommender, config, seed=spec.seed)
    ctx = BatchContext(
        catalog=cat,
        train_sim=parts.users("train"),
        logs=spec.logs,
    )
    batches = learner_spec.batches(learner, ctx)
    evaluator = SimulatorEvaluator(parts.users(spec.eval_pool), spec.eval_sessions, spec.seed)
    last: dict[str, float] = {}
    started = time.perf_counter()
    for step, metrics in fitter(
        learner,
        batches,
        n_steps=spec.steps,
        evaluators={"eval": evaluator, **({"select": spec.select} if spec.select else {})},
        eval_every=spec.eval_every,
        checkpoint_dir=out,
        seed=spec.seed,
        meta=meta,
        upgrade=_meta_as_now,
        progress=spec.progress,
    ):
        last = metrics
        if spec.snapshots and "time/eval" in metrics:  # an evaluation step: keep what it scored
            recommender.acting = learner.policy().acting
            recommender.save(snapshot_dir(out, step))
    recommender.acting = learner.policy().acting  # saved: the agent acts as it was evaluated
    chosen = spec.select is not None and spec.select.best_state is not None
    if chosen:
        recommender.load_state_dict(spec.select.best_state)  # type: ignore[union-attr,arg-type]
    agent_dir = recommender.save(out / FINAL)
    final = (None if chosen else evaluator.last) or evaluator.evaluate(learner.policy())
    curve = [{k: float(v) for k, v in row.items()} for row in read_rows(out / METRICS_NAME)]
    wall = curve[-1]["time/wall"] if curve else time.perf_counter() - started
    return TrainResult(
        algo=spec.algo,
        agent_dir=agent_dir,
        curve=curve,
        test=final,
        train_seconds=wall,
        config={"learner": asdict(config), "recommender": asdict(spec.recommender)},
        last_update={k: v for k, v in last.items() if not k.startswith("eval/")},
    )


def _meta_as_now(saved: dict[str, Any]) -> dict[str, Any]:
    """A training checkpoint's meta as :func:`train_agent` writes it now: its ``recommender``
    read by :meth:`RecommenderConfig.from_saved` (a field added since, such as ``rewrite``, at
    the value the older run had), anything else as saved."""
    try:
        recommender = RecommenderConfig.from_saved(saved.get("recommender"), "checkpoint meta")
    except InputError:
        return saved  # not a config at all: compared as saved, and the refusal names both
    return {**saved, "recommender": asdict(recommender)}


def snapshot_dir(run_dir: str | Path, step: int) -> Path:
    """Where a run with ``snapshots`` keeps the recommender it evaluated after ``step`` updates."""
    return Path(run_dir) / SNAPSHOTS / f"step-{step}"


def _as_tuple(logs: Path | tuple[Path, ...]) -> tuple[Path, ...]:
    return (logs,) if isinstance(logs, str | Path) else tuple(logs)


def _resolved(logs: Path | tuple[Path, ...] | None) -> str | list[str] | None:
    """The log path(s) as stored in the checkpoint's meta (absolute)."""
    if logs is None or isinstance(logs, str | Path):
        return None if logs is None else str(Path(logs).resolve())
    return [str(Path(p).resolve()) for p in logs]
