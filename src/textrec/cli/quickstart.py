"""``textrec quickstart``: the main job on the built-in catalog, every stage in data-flow order.

It runs the same subcommands a user would type, one after the other, and prints each one's
report: the catalog (with AttrNet accuracy), the two baselines in the simulator, a small on-policy
agent, a small experience log collected by the behaviour devices (the agent deployed among them)
and that log's behaviour table. Nothing here computes anything of its own.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.rule import Rule

from textrec.cli.common import ItemsOpt, SeedOpt, console
from textrec.errors import InputError

__all__ = ["quickstart", "quickstart_steps"]


def quickstart_steps(
    out: Path, items: int, seed: int, sessions: int, train_steps: int, log_sessions: int
) -> list[tuple[str, list[str]]]:
    """The subcommands the quickstart runs, as ``(title, argv)`` pairs."""
    common = ["--catalog", "builtin", "--items", str(items), "--seed", str(seed)]
    agent = out / "agent"
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
                str(train_steps),
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


def quickstart(
    out: Path = typer.Option(
        Path("runs/quickstart"), "--out", help="Directory for the agent and the log (replaced)."
    ),  # noqa: B008
    items: int = ItemsOpt,
    seed: int = SeedOpt,
    sessions: int = typer.Option(
        500, "--sessions", min=1, help="Simulated test sessions per evaluation."
    ),
    train_steps: int = typer.Option(
        60, "--train-steps", min=1, help="On-policy updates of the small agent."
    ),
    log_sessions: int = typer.Option(
        2000, "--log-sessions", min=1, help="Sessions in the experience log."
    ),
) -> None:
    """Run the whole pipeline on the built-in catalog: catalog, baselines, agent, log, behaviour table."""
    import shutil

    from textrec.cli import app

    marker = out / ".textrec-quickstart"
    if out.exists() and any(out.iterdir()):
        if not marker.exists():
            raise InputError(
                f"{out}: directory exists and was not made by quickstart; choose another --out"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    marker.touch()
    for title, argv in quickstart_steps(out, items, seed, sessions, train_steps, log_sessions):
        console.print(Rule(f"[bold]{title}"))
        console.print(f"[dim]$ textrec {' '.join(argv)}[/dim]", highlight=False)
        app(argv, standalone_mode=False)
