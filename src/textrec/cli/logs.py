"""``textrec collect`` (devices fill a log), ``textrec logs info`` (describe, check) and
``textrec logs compact`` / ``export`` (merge a served log's shards; Minari and d3rlpy files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from textrec.cli.common import (
    SEED_MAX,
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
from textrec.errors import InputError
from textrec.logs.info import LogSummary
from textrec.metrics import MeanSE

__all__ = ["app", "collect"]

app = typer.Typer(
    help="Describe, validate, compact and export experience logs.", no_args_is_help=True
)


def collect(
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    sessions: int = typer.Option(40000, "--sessions", min=1, help="Sessions of the complete log."),
    out: Path = typer.Option(..., "--out", help="Log directory to write (empty, unless --resume)."),  # noqa: B008
    seed: int = SeedOpt,
    workers: int = typer.Option(
        1, "--workers", min=1, help="Chunks collected at once (processes or Ray actors)."
    ),
    backend: str = BackendOpt,
    ray_address: str | None = RayAddressOpt,
    chunk_sessions: int = typer.Option(
        1000, "--chunk-sessions", min=1, help="Sessions per chunk (one shard each)."
    ),
    assignment: str = typer.Option(
        "round-robin",
        "--assignment",
        help="Device of each session: 'round-robin' or 'random' (seeded).",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the log in --out, skipping its complete chunks."
    ),
    agents: list[Path] = typer.Option(  # noqa: B008
        [],
        "--agents",
        help="Saved agent directory to deploy as a noisy device "
        "(repeat, earliest training stage first).",
    ),
    utterances: str = TrainingUtterancesOpt,
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Collect an experience log: behaviour devices serve simulated users of the train pool.

    A collection stopped by Ctrl-C (exit 130), a crash or a kill keeps every finished chunk;
    the same command with --resume collects only the rest, and the log is the one an
    uninterrupted run makes.
    """
    from textrec.backends import Backend
    from textrec.catalog.build import open_catalog
    from textrec.io import check_output_dir
    from textrec.logs.collect import ASSIGNMENTS, LOG_KIND
    from textrec.logs.collect import collect as run_collect
    from textrec.logs.info import summarize
    from textrec.logs.policies import default_devices
    from textrec.simulator.task import UTTERANCE_SOURCES, TaskConfig

    for option, value, allowed in (
        ("--assignment", assignment, ASSIGNMENTS),
        ("--utterances", utterances, UTTERANCE_SOURCES),
    ):
        if value not in allowed:
            raise InputError(f"{option} must be one of {list(allowed)}, got {value!r}")
    Backend(backend, workers, ray_address)  # checked before the catalog is opened
    for agent in agents:
        if not agent.is_dir():
            raise InputError(f"--agents {agent}: not a saved agent directory")
    check_output_dir(out, LOG_KIND)  # before the catalog is opened (it may take long to build)
    devices = default_devices(agents)
    task = TaskConfig(utterances=utterances)
    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    hint = f"the finished chunks are saved in {out}; continue with: {command_line('--resume')}"
    with stop_on_interrupt(hint):
        result = run_collect(
            cat,
            out,
            sessions,
            seed,
            devices,
            task=task,
            workers=workers,
            backend=backend,
            ray_address=ray_address,
            chunk_sessions=chunk_sessions,
            assignment=assignment,
            resume=resume,
            progress=progress,
        )
    summary = summarize(out)
    if json_out:
        print_json({"collect": result.to_json(), "summary": summary.to_json()})
        return
    print_table(
        f"collect into {out}",
        ["sessions", "chunks run", "chunks skipped", "turns", "seconds", "sessions/s"],
        [
            [
                result.n_sessions,
                result.chunks_run,
                result.chunks_skipped,
                result.rows_run,
                f"{result.seconds:.1f}",
                f"{result.sessions_per_second:.1f}",
            ]
        ],
    )
    _print_summary(summary)


def _ms(x: MeanSE | None) -> str:
    return "n/a" if x is None else f"{x.mean:.3f} ± {x.se:.3f}"


def _print_summary(summary: LogSummary) -> None:
    print_table(
        f"{summary.log_dir}: {summary.n_sessions} sessions, {summary.n_turns} turns, "
        f"{len(summary.devices)} devices, {summary.n_shards} shards",
        ["device", "name", "sessions", "success rate", "NI"],
        [
            [d.device_id, d.name, d.n_sessions, _ms(d.success_rate), _ms(d.ni)]
            for d in summary.devices
        ],
    )
    print_table(
        f"Behaviour (all logged sessions; NV: {summary.nv_source})",
        [*(f"SR@{k}" for k, _ in summary.sr), "NI", "NV", "return"],
        [
            [
                *(_ms(v) for _, v in summary.sr),
                _ms(summary.ni),
                _ms(summary.nv),
                _ms(summary.returns),
            ]
        ],
    )


@app.command("info")
def info(
    log_dir: Path = typer.Argument(  # noqa: B008
        ..., help="Log directory (holding experience/ and manifest.json)."
    ),
    check: bool = typer.Option(
        False,
        "--check",
        help="Validate every shard, session and (with --catalog) item id; exit 1 on any problem.",
    ),
    catalog: str | None = typer.Option(
        None,
        "--catalog",
        help="Catalog the item ids must belong to (with --check): "
        "'builtin', 'zappos' or a saved catalog dir.",
    ),
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    seed: int = typer.Option(
        0,
        "--seed",
        min=0,
        max=SEED_MAX,
        help="Seed of the built-in catalog given by --catalog builtin.",
    ),
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Sessions, turns, devices, behaviour row (SR@10/20/30, NI, NV); --check validates the log.

    Exit status: 0 when the log is sound, 1 when --check finds damage (each problem is listed,
    naming its file), 2 when LOG_DIR is not a directory.
    """
    from textrec.logs.info import check_log, summarize

    if not log_dir.is_dir():
        raise InputError(f"{log_dir}: not a log directory (no such directory)")
    if catalog is not None and not check:
        raise InputError("--catalog is what --check checks the item ids against: add --check")
    out: dict[str, Any] = {}
    if check:
        cat = None
        if catalog is not None:
            from textrec.catalog.build import open_catalog

            cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
        report = check_log(log_dir, cat)
        out["check"] = report.to_json()
        if not report.ok:
            if json_out:
                print_json(out)
            else:  # whole lines, never cut to a table's width: each names its file
                typer.echo(f"check failed: {log_dir}: {len(report.problems)} problems")
                for problem in report.problems:
                    typer.echo(f"  {problem}")
            raise typer.Exit(1)
    summary = summarize(log_dir)
    if json_out:
        print_json({**out, "summary": summary.to_json()})
        return
    if check:
        typer.echo(
            f"check passed: {out['check']['n_shards']} shards, "
            f"{out['check']['n_sessions']} sessions, "
            f"{out['check']['n_rows']} rows"
        )
    _print_summary(summary)


@app.command("compact")
def compact(
    log_dir: Path = typer.Argument(  # noqa: B008
        ..., help="A log written by textrec chat/serve --log-dir (one shard per session)."
    ),
    shard_sessions: int = typer.Option(
        10_000, "--shard-sessions", min=2, help="Sessions per merged shard at most."
    ),
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Merge a served-session log's one-session shards into a few shards, crash-safe.

    A compaction killed at any moment leaves a log that reads whole and passes `logs info
    --check`; the next `logs compact` completes it. Exit status 2 for a collected log or a
    damaged shard (nothing is merged or deleted).
    """
    from textrec.logs.compact import compact as run

    result = run(log_dir, shard_sessions, progress and not json_out)
    if json_out:
        print_json(result.to_json())
        return
    typer.echo(
        f"{result.log_dir}: {result.shards_before} shards -> {result.shards_after} "
        f"({result.merged} written) in {result.seconds:.1f} s"
    )


@app.command("export")
def export(
    log_dir: Path = typer.Argument(..., help="Log directory to export."),  # noqa: B008
    fmt: str = typer.Option(..., "--format", help="'minari' (a dataset dir) or 'd3rlpy' (a file)."),
    out: Path = typer.Option(..., "--out", help="Where to write (new)."),  # noqa: B008
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    seed: int = typer.Option(
        0, "--seed", min=0, max=SEED_MAX, help="Seed of the built-in catalog given by --catalog."
    ),
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Write the log for Minari or d3rlpy users (neither library is needed to export).

    minari: Text observations (what the user said), MultiDiscrete actions (the shown item's
    attribute values); d3rlpy: bag-of-words observations, the shown item as a discrete action.
    """
    from textrec.catalog.build import open_catalog
    from textrec.logs.export import export_log
    from textrec.logs.info import check_log

    cat = open_catalog(
        catalog, data=data, items=items, seed=seed, progress=progress and not json_out
    )
    check_log(log_dir, cat, rows=False).sound_shards()  # the manifest's catalog must be this one
    result = export_log(log_dir, cat, fmt, out)
    if json_out:
        print_json(result.to_json())
        return
    typer.echo(
        f"{result.out}: {result.episodes} episodes, {result.steps} steps ({result.format}) "
        f"in {result.seconds:.1f} s"
    )
