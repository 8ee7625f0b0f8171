"""``textrec reproduce``: the paper's Table 2 and Figure 4 rebuilt in one command.

A thin front of :func:`textrec.reproduce.reproduce`: the options pick a preset (the full
experiment, or ``--quick``) and override single settings of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from textrec.cli.common import (
    ITEMS_MAX,
    BackendOpt,
    CatalogOpt,
    DataOpt,
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
from textrec.errors import InputError

if TYPE_CHECKING:
    from textrec.metrics import MeanSE
    from textrec.report import RowResult

__all__ = ["reproduce"]


def reproduce(
    out: Path = typer.Option(  # noqa: B008
        ..., "--out", help="Run directory: report.md, results.json, config.json, figures."
    ),
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int | None = typer.Option(
        None, "--items", min=50, max=ITEMS_MAX, help="Items of the built-in catalog (default 3000)."
    ),
    seed: int = SeedOpt,
    seeds: int = typer.Option(
        1, "--seeds", min=1, help="Run seeds seed..seed+N-1; report mean ± s.e. across them."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="A reduced run of a few minutes (smaller log, fewer updates)."
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out, skipping every finished stage."
    ),
    study: str = typer.Option(
        "",
        "--study",
        help="Also run a study: 'coverage' (learners on logs of other coverage, every seed).",
    ),
    log_sessions: int | None = typer.Option(
        None, "--log-sessions", min=1, help="Sessions of the experience log (full: 40000)."
    ),
    online_steps: int | None = typer.Option(
        None, "--online-steps", min=1, help="Updates of the on-policy agent (full: 300)."
    ),
    offline_steps: int | None = typer.Option(
        None, "--offline-steps", min=1, help="Updates of each offline learner (full: 1500)."
    ),
    eval_every: int | None = typer.Option(
        None, "--eval-every", min=0, help="Updates between test-pool evaluations (full: 250)."
    ),
    eval_sessions: int | None = typer.Option(
        None, "--eval-sessions", min=1, help="Test-pool sessions per row (full: 1000)."
    ),
    rounds: int | None = typer.Option(
        None, "--rounds", min=0, help="Rounds of iterative offline training (full: 3; 0: none)."
    ),
    round_sessions: int | None = typer.Option(
        None, "--round-sessions", min=1, help="Sessions collected after each round (full: 10000)."
    ),
    learners: str | None = typer.Option(
        None,
        "--learners",
        help="Comma-separated offline rows to train (default: offpolicy,bc,cql,bcq,iql).",
    ),
    coverage_learners: str | None = typer.Option(
        None,
        "--coverage-learners",
        help="Comma-separated learners of the coverage study (default: bc,offpolicy,cql,bcq,iql).",
    ),
    coverage_alphas: str | None = typer.Option(
        None,
        "--coverage-alphas",
        help="Comma-separated CQL α of the coverage study (default: the cql learner's α).",
    ),
    coverage_sizes: bool = typer.Option(
        False,
        "--coverage-sizes",
        help="Coverage study: also the default mix at a quarter and a tenth of the log size.",
    ),
    coverage_tracking: bool = typer.Option(
        False,
        "--coverage-tracking",
        help="Coverage study: also every learner with request tracking added (track_coef 1).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Processes. Above 1 the stages run side by side: the seeds at once, a seed's rows "
        "once its log is collected; each log is collected by this many. Same numbers as 1.",
    ),
    backend: str = BackendOpt,
    ray_address: str | None = RayAddressOpt,
    utterances: str = TrainingUtterancesOpt,
    eval_utterances: str | None = typer.Option(
        None,
        "--eval-utterances",
        help="Comma-separated sentence sources every row is also evaluated under (e.g. "
        "'model,free'; 'free' = held-out phrasings, never trained on): each row's SR@20 drop and "
        "the Kendall τ between the rankings go into the report.",
    ),
    ope_estimators: str | None = typer.Option(
        None,
        "--ope-estimators",
        help="Comma-separated estimators that rate every offline learner's kept checkpoints from "
        "the log (the first picks the checkpoint reported with OPE; '' for none) (full: "
        "cql,fqe; quick: cql).",
    ),
    ope_fqe_steps: int | None = typer.Option(
        None, "--ope-fqe-steps", min=1, help="Steps of each FQE fit of the OPE stages (full: 1500)."
    ),
    rewrite: bool = typer.Option(
        True,
        "--rewrite/--no-rewrite",
        help="Every trained agent hears each sentence said again in template speech by the "
        "lexicon reader (train --rewrite), or as said.",
    ),
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Rebuild Table 2 and Figure 4: devices -> 40k-session log -> every learner -> test pool."""
    from textrec.report import METRICS, results_json
    from textrec.reproduce import ReproduceConfig
    from textrec.reproduce import reproduce as run

    given = {
        "items": items,
        "log_sessions": log_sessions,
        "online_steps": online_steps,
        "offline_steps": offline_steps,
        "eval_every": eval_every,
        "eval_sessions": eval_sessions,
        "iterative_rounds": rounds,
        "iterative_sessions": round_sessions,
        "learners": _names(learners),
        "coverage_learners": _names(coverage_learners),
        "coverage_alphas": _numbers(coverage_alphas, "--coverage-alphas"),
        "eval_utterances": _names(eval_utterances),
        "ope_estimators": _names(ope_estimators),
        "ope_fqe_steps": ope_fqe_steps,
    }
    settings = {k: v for k, v in given.items() if v is not None}
    settings.update(
        catalog=catalog,
        data=str(data) if data is not None else None,
        seed=seed,
        n_seeds=seeds,
        study=study,
        coverage_sizes=coverage_sizes,
        coverage_tracking=coverage_tracking,
        workers=workers,
        backend=backend,
        ray_address=ray_address,
        utterances=utterances,
        rewrite=rewrite,
    )
    config = ReproduceConfig.quick(**settings) if quick else ReproduceConfig(**settings)
    with stop_on_interrupt(
        f"finished stages are kept in {out}; run {command_line('--resume')} to continue"
    ):
        result = run(
            config,
            out,
            resume=resume,
            progress=progress,
            say=lambda line: typer.echo(line, err=True),
        )
    if json_out:
        print_json(
            {
                "out": str(out),
                "seconds": round(result.seconds, 1),
                "files": [str(p) for p in result.files],
                "results": results_json(result.rows),
                "speech": {s: results_json(rows) for s, rows in result.speech.items()},
            }
        )
        return
    print_table(
        f"Table 2 on {config.catalog} (test pool; {len(config.seeds)} seed(s)); report: "
        f"{Path(out) / 'report.md'}",
        ["row", *METRICS],
        [
            [key, *(f"{entry[m]['mean']:.3f} ±{entry[m]['se']:.3f}" for m in METRICS)]
            for key, entry in results_json(result.rows).items()
        ],
    )
    if result.coverage:
        print_table(
            "Coverage study: test SR@10 / SR@20 (report.md: its targets)",
            ["log", "learner", "policy", "sr@10", "sr@20"],
            [
                [c.log, c.learner, c.policy or "–", _mean_se(c.sr_at_10), _mean_se(c.sr_at_20)]
                for c in result.coverage
            ],
        )
    if result.speech:
        sources = [config.utterances, *result.speech]
        by_source = {config.utterances: result.rows, **result.speech}
        print_table(
            "SR@20 under other speech (report.md: drops and Kendall τ)",
            ["row", *sources],
            [
                [key, *(_sr20(by_source[s].get(key)) for s in sources)]
                for key in result.rows
                if all(key in by_source[s] for s in sources)
            ],
        )


def _sr20(row: RowResult | None) -> str:
    """A row's SR@20 as ``mean ±se``."""
    return "–" if row is None else _mean_se(row.metrics["sr@20"])


def _mean_se(x: MeanSE) -> str:
    """``mean ±se`` with three decimals."""
    return f"{x.mean:.3f} ±{x.se:.3f}"


def _names(text: str | None) -> tuple[str, ...] | None:
    """``"a, b"`` -> ``("a", "b")``; ``None`` stays ``None`` (the preset's value)."""
    return None if text is None else tuple(s.strip() for s in text.split(",") if s.strip())


def _numbers(text: str | None, option: str) -> tuple[float, ...] | None:
    """``"0.1,1"`` -> ``(0.1, 1.0)``; a value that is not a number names the option."""
    names = _names(text)
    if names is None:
        return None
    try:
        return tuple(float(x) for x in names)
    except ValueError:
        raise InputError(f"{option}: not a comma-separated list of numbers: {text!r}") from None
