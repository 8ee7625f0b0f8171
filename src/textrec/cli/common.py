"""Options and output helpers shared by every subcommand (one source for each option's help)."""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from textrec.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

__all__ = [
    "INVOCATION",
    "ITEMS_MAX",
    "SIGNALLED",
    "SEED_MAX",
    "command_line",
    "stop_on_interrupt",
    "CatalogOpt",
    "DataOpt",
    "ItemsOpt",
    "SeedOpt",
    "JsonOpt",
    "ProgressOpt",
    "POLICY_HELP",
    "TrainingUtterancesOpt",
    "console",
    "print_json",
    "print_table",
]

console = Console(stderr=False, highlight=False)
"""stdout console. Never give it user- or data-supplied text as markup: wrap it in ``Text`` (as
:func:`print_table` does) or pass ``markup=False``; catalog values and sentences may hold ``[``."""

CatalogOpt = typer.Option(
    "builtin",
    "--catalog",
    help="Catalog: 'builtin' (ships with textrec), 'zappos' (UT-Zappos50K, needs --data) "
    "or the directory of a catalog saved by 'textrec catalog build'.",
)
DataOpt = typer.Option(
    None, "--data", help="UT-Zappos50K folder (the images zip or tree, optional meta-data.csv)."
)
ITEMS_MAX = 1_000_000
"""Most items of a built-in catalog (beyond, its arrays would not fit a laptop's memory)."""
ItemsOpt = typer.Option(
    3000, "--items", min=50, max=ITEMS_MAX, help="Number of items of the built-in catalog."
)
SEED_MAX = 2**32 - 1
"""Largest seed: numpy's ``SeedSequence`` and torch take any non-negative integer, but a seed is
also written into ids and files, so textrec keeps it to 32 bits."""
BackendOpt = typer.Option(
    "local",
    "--backend",
    help="Where the independent jobs run: 'local' (this process, or a process pool with "
    "--workers) or 'ray' (--workers Ray actors; needs textrec[ray]). Same seed, same numbers.",
)
RayAddressOpt = typer.Option(
    None,
    "--ray-address",
    help="With --backend ray: the cluster to join (default: RAY_ADDRESS, else a local one).",
)
SeedOpt = typer.Option(
    0,
    "--seed",
    min=0,
    max=SEED_MAX,
    help="Random seed (0 to 2**32-1): same seed, same numbers on the same machine.",
)
JsonOpt = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")
ProgressOpt = typer.Option(True, "--progress/--no-progress", help="Show progress bars.")
POLICY_HELP = (
    "What acts: 'random', 'slot-filler', 'reader' (the slot-filler reading the user's text), "
    "'oracle-slots' (privileged ceiling: the slot-filler told the target's values at turn 0) or a "
    "saved agent (a 'textrec train --out' run directory or its final/)."
)
"""Help of ``--policy`` wherever a policy is evaluated (``simulate``, ``evaluate``)."""
TrainingUtterancesOpt = typer.Option(
    "templates",
    "--utterances",
    help="Sentence source of the simulated users: 'templates', 'model' or 'mix' ('free', the "
    "held-out phrasings, is for evaluation only).",
)


INVOCATION: list[str] = []
"""The arguments of the running ``textrec`` command (set by :func:`textrec.cli.main`)."""

SIGNALLED: list[int] = []
"""SIGINT / SIGTERM received by the running command (recorded by :func:`textrec.cli.main`)."""


def command_line(extra: str = "") -> str:
    """The running command as a shell line (``extra`` appended unless already there)."""
    args = list(INVOCATION)
    if extra and extra not in args:
        args.append(extra)
    return " ".join(["textrec", *(shlex.quote(a) for a in args)])


@contextlib.contextmanager
def stop_on_interrupt(hint: str) -> Iterator[None]:
    """On Ctrl-C inside the block: print ``interrupted: <hint>`` on stderr and exit 130 (143 and
    ``terminated: <hint>`` on SIGTERM).

    ``hint`` says what was kept and how to go on (e.g. the command to resume with). An error
    raised after Ctrl-C or SIGTERM arrived counts as the signal: a library may turn the
    ``KeyboardInterrupt`` into another error (numpy's comparison of structured arrays does).
    """
    try:
        yield
    except KeyboardInterrupt as exc:
        term = isinstance(exc, Terminated)
    except Exception:
        if not SIGNALLED:
            raise
        term = SIGNALLED[-1] == signal.SIGTERM
    else:
        return
    typer.echo(f"{'terminated' if term else 'interrupted'}: {hint}", err=True)
    raise typer.Exit(EXIT_TERMINATED if term else EXIT_INTERRUPTED) from None


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (no colour, no wrapping)."""
    typer.echo(json.dumps(obj, indent=2, sort_keys=False, default=_default))


def _default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


WORD_MAX = 24
"""Longest word :func:`print_table` keeps whole when the terminal is narrow."""


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a rich table with ``columns`` and ``rows``, every cell and the title shown literally
    (``str`` of it, never parsed as markup; pass a ``rich.text.Text`` for styled cells).

    A narrow terminal wraps cells between words, never inside one: every column is at least as
    wide as its longest word (up to :data:`WORD_MAX` characters; a longer word, e.g. a path, may
    fold), so a number such as ``0.850 ±0.012`` may go onto two lines at its space but is never
    split; a column of one word per cell (names, numbers) is never wrapped at all. A terminal
    too narrow even for that gets the table row by row, one ``column  value`` line each."""
    cells = [[x if isinstance(x, Text) else Text(str(x)) for x in r] for r in rows]
    table = _table(title, columns, cells)
    unbounded = console.options.update(width=10**6)  # a measurement is capped at the width
    if Measurement.get(console, unbounded, table).minimum > console.width:
        table = Table(title=Text(str(title)), show_header=False)
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for n, r in enumerate(cells):
            if n:
                table.add_section()
            for c, x in zip(columns, r, strict=True):
                table.add_row(Text(str(c)), x)
    console.print(table)


def _table(title: str, columns: list[str], cells: list[list[Text]]) -> Table:
    """:func:`print_table`'s table: each column at least as wide as its longest word."""
    table = Table(title=Text(str(title)))
    for j, c in enumerate(columns):
        column = [Text(str(c)), *(r[j] for r in cells)]
        single_words = all(len(x.plain.split()) <= 1 for x in column)
        longest = max((len(w) for x in column for w in x.plain.split()), default=0)
        table.add_column(
            Text(str(c)), overflow="fold", no_wrap=single_words, min_width=min(longest, WORD_MAX)
        )
    for r in cells:
        table.add_row(*r)
    return table
