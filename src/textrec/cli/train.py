"""``textrec train``: train a recommender with one of the learners; evaluate it on the test pool.

Writes into ``--out``: ``checkpoint.pt`` (the learner, for resuming), ``metrics.csv`` (one row per
evaluation) and ``final/`` (the trained :class:`~textrec.agent.Recommender`, loadable with the
catalog it was trained on). Running the same command again resumes from ``checkpoint.pt``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from textrec.cli.common import (
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    SeedOpt,
    print_json,
    print_table,
)
from textrec.errors import InputError

__all__ = ["train", "ALGOS"]

ALGOS = ("online",)
"""Learners ``--algo`` can train."""

_FINAL = "final"


def train(
    algo: str = typer.Option("online", "--algo", help=f"Learner: {', '.join(ALGOS)}."),
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    out: Path = typer.Option(  # noqa: B008
        ..., "--out", help="Run directory: checkpoint, metrics.csv, final/ agent."
    ),
    seed: int = SeedOpt,
    steps: int = typer.Option(
        500, "--steps", min=1, help="Learner updates (a resumed run continues up to it)."
    ),
    eval_every: int = typer.Option(
        100,
        "--eval-every",
        min=0,
        help="Updates between test-pool evaluations and checkpoints (0: only at the end).",
    ),
    eval_sessions: int = typer.Option(
        500,
        "--eval-sessions",
        min=1,
        help="Simulated test-pool sessions per evaluation (the final one included).",
    ),
    sessions: int | None = typer.Option(
        None,
        "--sessions",
        min=1,
        help="Episodes played per update (default: the learner config's n_sessions).",
    ),
    lr: float | None = typer.Option(
        None, "--lr", help="Adam learning rate (default: the learner config's)."
    ),
    track_coef: float | None = typer.Option(
        None,
        "--track-coef",
        min=0.0,
        help="Weight of the request-tracking auxiliary loss (0: pure reward; default: config's).",
    ),
    readout: str = typer.Option(
        "tied",
        "--readout",
        help="Heads' last layer: 'tied' (scored against the text encoder's value codes) or "
        "'linear'.",
    ),
    finetune_text: bool = typer.Option(
        False,
        "--finetune-text/--frozen-text",
        help="Train the pretrained text encoder with the agent, or keep it frozen.",
    ),
    utterances: str = typer.Option(
        "templates",
        "--utterances",
        help="Sentence source of the simulated user: 'templates', 'model' or 'mix'.",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    json_out: bool = JsonOpt,
) -> None:
    """Train an agent against simulated users (train pool); report SR@K, NI, NV on the test pool."""
    if algo not in ALGOS:
        raise InputError(f"unknown --algo {algo!r}; choose one of {list(ALGOS)}")
    from textrec.agent import Recommender, RecommenderConfig
    from textrec.catalog.build import open_catalog
    from textrec.evaluation import evaluate
    from textrec.language.encoder import load_or_pretrain
    from textrec.language.templates import build_sentence_bank
    from textrec.learners.batches import SimulatorEpisodes
    from textrec.learners.evaluators import SimulatorEvaluator
    from textrec.learners.loop import fitter
    from textrec.learners.online import OnlineConfig, OnlineLearner
    from textrec.simulator.engine import BatchedSimulator
    from textrec.simulator.task import TaskConfig

    started = time.perf_counter()
    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    encoder = load_or_pretrain(cat.schema, seed=seed, progress=progress)
    task = TaskConfig(utterances=utterances)
    bank = build_sentence_bank(cat.schema, source=utterances, seed=seed)
    train_sim = BatchedSimulator(cat, "train", bank, task)
    test_sim = BatchedSimulator(cat, "test", bank, task)
    recommender = Recommender(
        cat,
        encoder,
        RecommenderConfig(finetune_text=finetune_text, readout=readout),
        seed=seed,
    )
    overrides = {
        k: v
        for k, v in {"lr": lr, "n_sessions": sessions, "track_coef": track_coef}.items()
        if v is not None
    }
    config = OnlineConfig(**overrides)
    learner = OnlineLearner(recommender, config, seed=seed)
    batches = SimulatorEpisodes(train_sim, learner.acting_policy(), config.n_sessions)
    evaluators = {"eval": SimulatorEvaluator(test_sim, eval_sessions, seed)}
    trained = time.perf_counter()
    last: dict[str, float] = {}
    for _, metrics in fitter(
        learner,
        batches,
        n_steps=steps,
        evaluators=evaluators,
        eval_every=eval_every,
        checkpoint_dir=out,
        seed=seed,
        progress=progress,
    ):
        last = metrics
    trained = time.perf_counter() - trained
    recommender.save(out / _FINAL)
    result = evaluate(learner.policy(), test_sim, eval_sessions, seed)
    report: dict[str, Any] = {
        "algo": algo,
        "catalog": cat.name,
        "out": str(out),
        "agent": str(out / _FINAL),
        "steps": steps,
        "seed": seed,
        "train_seconds": round(trained, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "config": {"learner": asdict(config), "recommender": asdict(recommender.config)},
        "last_update": {k: round(v, 6) for k, v in last.items() if not k.startswith("eval/")},
        "test": result.to_json(),
    }
    if json_out:
        print_json(report)
        return
    rows = [[f"SR@{k}", str(getattr(result, f"sr_at_{k}"))] for k in (10, 20, 30)]
    rows += [["NI", str(result.ni)], ["NV", str(result.nv)]]
    print_table(
        f"{algo} agent on {cat.name} (test pool, {eval_sessions} sessions, seed {seed}); "
        f"{steps} updates in {trained:.0f} s; saved to {out / _FINAL}",
        ["metric", "mean ± s.e."],
        rows,
    )
