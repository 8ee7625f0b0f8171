"""``textrec iterative``: iterative offline training from a log (learn -> deploy -> collect).

A thin front of :func:`textrec.learners.iterative.run_iterative`; ``--out`` receives ``round-r/``
per round (``run/``: the round's training run, its agent in ``run/final``; ``log/``: what its noisy
copies collected; ``result.json``) and ``rounds.json``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from textrec.cli.common import (
    BackendOpt,
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    ProgressOpt,
    RayAddressOpt,
    SeedOpt,
    TrainingUtterancesOpt,
    command_line,
    print_json,
    print_table,
    stop_on_interrupt,
)

__all__ = ["iterative"]


def iterative(
    logs: list[Path] = typer.Option(  # noqa: B008
        ..., "--logs", help="Base experience log D (repeat for several)."
    ),
    out: Path = typer.Option(..., "--out", help="Run directory (round-r/ per round)."),  # noqa: B008
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    seed: int = SeedOpt,
    algo: str = typer.Option("cql", "--algo", help="Offline learner trained in every round."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Training rounds K."),
    steps: int = typer.Option(
        500, "--steps", min=1, help="Learner updates per round (cumulative run)."
    ),
    round_sessions: int = typer.Option(
        10000, "--round-sessions", min=1, help="Sessions the deployed copies collect each round."
    ),
    noise: list[float] = typer.Option(  # noqa: B008
        [0.5, 1.0, 1.5], "--noise", help="Logit-noise s.d. of one deployed copy (repeat)."
    ),
    eval_every: int = typer.Option(
        100, "--eval-every", min=0, help="Updates between test-pool evaluations."
    ),
    eval_sessions: int = typer.Option(
        500, "--eval-sessions", min=1, help="Test-pool sessions per evaluation."
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Chunks collected at once (processes or Ray actors)."
    ),
    backend: str = BackendOpt,
    ray_address: str | None = RayAddressOpt,
    utterances: str = TrainingUtterancesOpt,
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Iterative offline training: train on D, deploy noisy copies, collect D', D = D ∪ D'."""
    from textrec.backends import Backend
    from textrec.catalog.build import open_catalog
    from textrec.errors import InputError
    from textrec.io import claim_output_dir, write_json_atomic
    from textrec.learners.iterative import IterativeConfig, run_iterative
    from textrec.learners.run import TrainSpec

    where = Backend(backend, workers, ray_address)  # checked before anything is read
    config = IterativeConfig(
        rounds=rounds,
        steps_per_round=steps,
        sessions_per_round=round_sessions,
        noise=tuple(noise),
    )
    for log in logs:  # before claiming --out: nothing is written for a mistyped log
        if not (log / "manifest.json").is_file():
            raise InputError(f"--logs {log}: not an experience log (no manifest.json)")
    root = claim_output_dir(out, "iterative")
    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    spec = TrainSpec(
        algo=algo,
        catalog=cat,
        logs=tuple(logs),
        out=root / "round-0" / "run",
        steps=steps,
        eval_every=eval_every,
        eval_sessions=eval_sessions,
        seed=seed,
        overrides={},
        utterances=utterances,
        progress=progress,
    )
    with stop_on_interrupt(
        f"finished rounds, checkpoints and log shards are kept in {out}; run {command_line()} "
        "to continue"
    ):
        results = run_iterative(
            spec,
            config,
            root,
            backend=where,
            say=lambda line: typer.echo(line, err=True),
        )
    report = {"out": str(root), "algo": algo, "rounds": [r.to_json() for r in results]}
    write_json_atomic(root / "rounds.json", report)
    if json_out:
        print_json(report)
        return
    print_table(
        f"iterative {algo} on {cat.name} (test pool, {eval_sessions} sessions, seed {seed})",
        ["round", "updates", "logs", "SR@10", "SR@20", "SR@30", "NI", "NV"],
        [
            [
                r.round + 1,
                r.steps,
                r.n_logs,
                *(str(v) for v in r.evaluation().values()),
            ]
            for r in results
        ],
    )
