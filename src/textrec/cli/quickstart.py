"""``textrec quickstart``: the main job on the built-in catalog, every stage in data-flow order.

It runs the same subcommands a user would type, one after the other, and prints each one's
report: the catalog (with AttrNet accuracy), the two baselines in the simulator, a small on-policy
agent, a small experience log collected by the behaviour devices (the agent deployed among them)
and that log's behaviour table. Nothing here computes anything of its own. With ``--json`` every
step runs with ``--json`` and the quickstart prints one JSON object holding each step's.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from pathlib import Path
from typing import Any

import typer
from rich.rule import Rule
from rich.text import Text

from textrec.cli.common import ItemsOpt, JsonOpt, ProgressOpt, SeedOpt, console, print_json
from textrec.errors import InputError
from textrec.io import ARTIFACT_MARKER, artifact_kind, claim_output_dir, remove_artifacts

__all__ = ["quickstart", "quickstart_steps"]


def quickstart_steps(
    out: Path,
    items: int,
    seed: int,
    sessions: int,
    steps: int,
    log_sessions: int,
    json_out: bool = False,
    progress: bool = True,
) -> list[tuple[str, list[str]]]:
    """The subcommands the quickstart runs, as ``(title, argv)`` pairs."""
    common = ["--catalog", "builtin", "--items", str(items), "--seed", str(seed)]
    flags = ["--json"] * json_out + ["--no-progress"] * (not progress)
    agent = out / "agent"
    return [
        (title, [*argv, *flags])
        for title, argv in _steps(common, agent, out, sessions, steps, log_sessions)
    ]


def _steps(
    common: list[str], agent: Path, out: Path, sessions: int, steps: int, log_sessions: int
) -> list[tuple[str, list[str]]]:
    return [
        ("1/6 catalog: built-in items, features, AttrNet", ["catalog", "info", *common]),
        (
            "2/6 simulator: random policy on the test pool",
            ["simulate", *common, "--policy", "random", "--sessions", str(sessions)],
        ),
        (
            "3/6 simulator: slot-filler (the bar to beat) on the test pool",
            [
                "simulate",
                *common,
                "--policy",
                "slot-filler",
                "--sessions",
                str(sessions),
                "--show",
                "1",
            ],
        ),
        (
            "4/6 on-policy agent: trained against the simulator, evaluated on the test pool",
            [
                "train",
                "--algo",
                "online",
                *common,
                "--out",
                str(agent),
                "--steps",
                str(steps),
                "--eval-sessions",
                str(sessions),
            ],
        ),
        (
            "5/6 behaviour devices collect an experience log (train pool)",
            [
                "collect",
                *common,
                "--sessions",
                str(log_sessions),
                "--out",
                str(out / "logs"),
                "--agents",
                str(agent / "final"),
                "--chunk-sessions",
                str(max(1, log_sessions // 4)),
            ],
        ),
        (
            "6/6 the log's behaviour table",
            ["logs", "info", str(out / "logs"), "--check", *common[:4]],
        ),
    ]


QUICKSTART_KIND = "quickstart"
"""Artifact kind of the quickstart's ``--out`` directory."""
_OUTPUTS = {"agent": "run", "logs": "log"}
"""What the quickstart writes inside ``--out``, and each one's artifact kind."""
_LEGACY_MARKER = ".textrec-quickstart"
"""The marker file quickstarts made before :data:`textrec.io.ARTIFACT_MARKER` existed."""

OutOpt = typer.Option(
    Path("runs/quickstart"),
    "--out",
    help="Directory for the agent and the log: new, empty, or one a quickstart made (its "
    "agent/ and logs/ are replaced).",
)


def quickstart(
    out: Path = OutOpt,
    items: int = ItemsOpt,
    seed: int = SeedOpt,
    sessions: int = typer.Option(
        500, "--sessions", min=1, help="Simulated test sessions per evaluation."
    ),
    steps: int = typer.Option(60, "--steps", min=1, help="On-policy updates of the small agent."),
    log_sessions: int = typer.Option(
        2000, "--log-sessions", min=1, help="Sessions in the experience log."
    ),
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Run the whole pipeline on the built-in catalog: catalog, baselines, agent, log, table.

    Stops at the first step that fails, with that step's exit status (1 when the log check
    finds damage, 2 for bad input, 130 on Ctrl-C).
    """
    _prepare(out)
    reports: list[dict[str, Any]] = []
    plan = quickstart_steps(out, items, seed, sessions, steps, log_sessions, json_out, progress)
    for title, argv in plan:
        command = shlex.join(["textrec", *argv])
        if not json_out:
            console.print(Rule(Text(title, style="bold")))
            console.print(Text(f"$ {command}", style="dim"), highlight=False)
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed) if json_out else contextlib.nullcontext():
                code = _run_step(argv)
        except InputError as exc:
            raise InputError(f"quickstart step {title!r}: {exc}") from exc
        if code != 0:
            typer.echo(printed.getvalue(), nl=False)
            typer.echo(f"error: quickstart stopped: step {title!r} exited with {code}", err=True)
            raise typer.Exit(code)
        if json_out:
            reports.append(
                {"step": title, "command": command, "result": json.loads(printed.getvalue())}
            )
    if json_out:
        print_json({"out": str(out), "steps": reports})


def _prepare(out: Path) -> None:
    """Claim ``out`` for the quickstart and remove the agent and log a previous one made (a file
    someone put into either stops the quickstart, and nothing is deleted)."""
    if (out / _LEGACY_MARKER).is_file() and artifact_kind(out) is None:
        claim = out / ARTIFACT_MARKER
        claim.write_text(QUICKSTART_KIND + "\n", encoding="utf-8")
    claim_output_dir(out, QUICKSTART_KIND)
    remove_artifacts({out / name: kind for name, kind in _OUTPUTS.items()})


def _run_step(argv: list[str]) -> int:
    """Run one subcommand as ``textrec`` would; its exit status (exceptions propagate)."""
    from textrec.cli import app

    try:
        app(argv, prog_name="textrec", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
