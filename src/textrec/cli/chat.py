"""``textrec chat``: find a shoe with a recommender in the terminal; sessions go to a log.

The person describes what they look for (or just presses Enter), is shown an item, says what to
change, and so on until they say it is the one ("that's it", "perfect, thanks") or leave (Ctrl-D,
or Ctrl-C: exit 130). Every reply says what was understood (and what this catalog lacks), what
stands so far, and asks when nothing was understood; "go back" shows the previous item again,
"start over" forgets every request. At start-up the policy's saved test-pool SR@10/20/30 is printed
beside the slot-filler's (:mod:`textrec.serve.quality`), with a warning when it is below. The
session is then appended to ``--logs`` (device ``chat``), in the schema ``textrec collect``
writes plus each turn's dialogue act and what was understood, so that ``textrec train`` can learn
from it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from textrec.cli.common import CatalogOpt, DataOpt, ItemsOpt, ProgressOpt, SeedOpt
from textrec.errors import InputError

if TYPE_CHECKING:
    from textrec.catalog.catalog import Catalog
    from textrec.language.reader import Reader
    from textrec.logs.append import FinishedSession, SessionLog
    from textrec.serve.images import ItemImages
    from textrec.serve.quality import PolicyQuality
    from textrec.serve.session import Conversation, Picker
    from textrec.serve.standing import Understood, Want
    from textrec.simulator.ingredients import Ingredients

__all__ = [
    "chat",
    "PolicyOpt",
    "LogsOpt",
    "OldLogsOpt",
    "ReaderOpt",
    "open_picker",
    "say_quality",
    "served_reader",
]

PolicyOpt = typer.Option(
    ...,
    "--policy",
    help="'slot-filler', or the directory of a saved recommender (or a 'textrec train --out' run "
    "directory) trained on --catalog.",
)
LogsOpt = typer.Option(
    None,
    "--logs",
    help="Experience-log directory the finished sessions are appended to (created when new; "
    "must be a log of people's sessions of the same catalog). Default: nothing is logged.",
)
OldLogsOpt = typer.Option(None, "--log-dir", hidden=True, help="The old spelling of --logs.")
"""``--log-dir``, what ``--logs`` was called before the log directory had one name everywhere."""
ReaderOpt = typer.Option(
    "lexicon",
    "--reader",
    help="How the slot-filler reads sentences: 'lexicon' (phrases and typo-tolerant matching, "
    "no training), 'lstm', 'minilm' or 'lexicon+minilm' (see 'textrec interpret').",
)
ImageOpt = typer.Option(
    "auto",
    "--image",
    help="How to show pictures: 'auto' (the terminal's inline-image protocol when known, else "
    "the picture's location), 'kitty', 'iterm', 'sixel', 'path' or 'none'.",
)

_GREETING = (
    "What are you looking for? Describe it, or press Enter to just look around.\n"
    'Then say what to change about each shoe; say "that\'s the one" when it is, "go back" '
    'for the previous one, "start over" to begin again. Ctrl-D leaves.'
)


def open_picker(
    policy: str,
    catalog: str,
    data: Path | None,
    items: int,
    reader: str,
    seed: int,
    progress: bool,
) -> tuple[Ingredients, Picker]:
    """The ingredients (the catalog, the readers, the users the start-up figures are measured
    on) and the picker that ``--policy`` names."""
    from textrec.catalog.build import open_catalog
    from textrec.serve.session import load_picker
    from textrec.simulator.ingredients import Ingredients

    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    return Ingredients(cat, seed=seed), load_picker(policy, cat, seed=seed, reader=reader)


def chat(
    policy: str = PolicyOpt,
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    log_dir: Path | None = LogsOpt,
    old_log_dir: Path | None = OldLogsOpt,
    reader: str = ReaderOpt,
    image: str = ImageOpt,
    seed: int = SeedOpt,
    progress: bool = ProgressOpt,
    json_out: bool = typer.Option(
        False,
        "--json",
        help="Machine-readable: one JSON object per line (each item shown, then the outcome); "
        "no prompts.",
    ),
) -> None:
    """Talk to a recommender in the terminal until you find your shoe; the session is logged."""
    from textrec.logs.append import SessionLog
    from textrec.serve import terminal
    from textrec.serve.images import ItemImages
    from textrec.serve.quality import policy_quality
    from textrec.serve.session import Conversation

    if image != "auto" and image not in terminal.PROTOCOLS:
        raise InputError(f"--image must be 'auto' or one of {list(terminal.PROTOCOLS)}")
    parts, picker = open_picker(
        policy, catalog, data, items, reader, seed, progress and not json_out
    )
    cat = parts.catalog
    log_dir = log_dir or old_log_dir
    log = SessionLog(log_dir, cat) if log_dir is not None else None
    say_quality(
        policy_quality(policy, parts, served_reader(picker, parts, reader)), policy, json_out
    )
    protocol = terminal.detect(os.environ, sys.stdout.isatty()) if image == "auto" else image
    show = _Shower(cat, ItemImages(cat), "none" if json_out else protocol, json_out)
    read = _line_reader(json_out)
    opening = _ask_opening(read, json_out)
    if opening is None:
        return
    conversation = Conversation(picker, "chat", opening)
    show.reply(conversation)
    try:
        left = _talk(conversation, read, show, json_out)
    except KeyboardInterrupt:
        _save(conversation.finish(found=False), log, json_out, left=True)
        raise
    _save(conversation.finished or conversation.finish(found=False), log, json_out, left)


def served_reader(picker: Picker, parts: Ingredients, reader: str) -> Reader:
    """The reader the served slot-filler reads with: the picker's own, or ``--reader``'s from
    ``parts`` (an agent is served: the slot-filler it is compared with would read with that
    one)."""
    own = getattr(picker, "reader", None)
    return own if own is not None else parts.reader(reader)


def say_quality(quality: PolicyQuality, policy: str, as_json: bool) -> None:
    """Print the policy's figures and the slot-filler's (one JSON ``policy`` event with
    ``as_json``); the warning goes to stderr as well when the policy is below."""
    if as_json:
        record = {
            "event": "policy",
            "policy": policy,
            "sr": None if quality.policy is None else list(quality.policy),
            "slot_filler_sr": list(quality.slot_filler),
            "below_slot_filler": quality.below,
        }
        typer.echo(json.dumps(record))
        return
    from textrec.cli.common import console

    for line in quality.lines(policy):
        console.print(line, style="bold yellow" if line.startswith("warning") else "dim")


def _line_reader(quiet: bool) -> Callable[[str], str | None]:
    """``read(prompt)``: one line from stdin without its newline, None at end of input."""

    def read(prompt: str) -> str | None:
        if not quiet and sys.stdin.isatty():
            try:
                return input(prompt)
            except EOFError:
                return None
        if not quiet:
            typer.echo(prompt, nl=False)
        line = sys.stdin.readline()
        return None if line == "" else line.rstrip("\n")

    return read


def _ask_opening(read: Callable[[str], str | None], quiet: bool) -> str | None:
    """The opening sentence (``""``: none), asked until it is acceptable; None at end of input."""
    from textrec.serve.session import clean_text

    if not quiet:
        typer.echo(_GREETING)
    while True:
        line = read("> ")
        if line is None:
            return None
        try:
            return clean_text(line, what="your description")
        except InputError as exc:
            _tell(str(exc), quiet)


def _talk(
    conversation: Conversation,
    read: Callable[[str], str | None],
    show: _Shower,
    quiet: bool,
) -> bool:
    """Show items and read feedback until the session ends; whether the person left it."""
    show(conversation)
    while True:
        line = read("> ")
        if line is None:
            return True
        try:
            nxt = conversation.say(line)
        except InputError as exc:
            _tell(str(exc), quiet)
            continue
        show.reply(conversation)
        if nxt is None:
            return False
        show(conversation)


def _tell(message: str, quiet: bool) -> None:
    if quiet:
        typer.echo(json.dumps({"event": "error", "detail": message}))
    else:
        typer.echo(f"  ({message})")


class _Shower:
    """Prints the reply, what stands, and each new item: its name, attributes (as a shopper reads
    them) and picture (inline, or where it is); ``--json``: one event per item and reply."""

    def __init__(self, catalog: Catalog, images: ItemImages, protocol: str, as_json: bool) -> None:
        from textrec.serve.session import item_positions

        self.catalog, self.images, self.protocol, self.as_json = catalog, images, protocol, as_json
        self.index = item_positions(catalog)
        self.last = ""

    def reply(self, c: Conversation) -> None:
        """What the recommender says to the last sentence, and what stands now."""
        from textrec.serve.replies import wants_text

        u = c.understood
        if self.as_json:
            record = {
                "event": "reply",
                "reply": c.reply,
                "act": None if u is None else u.act,
                "understood": None if u is None else _understood_json(u),
                "standing": [_want_json(w) for w in c.standing],
            }
            typer.echo(json.dumps(record, ensure_ascii=False))
            return
        from rich.text import Text

        from textrec.cli.common import console

        console.print(Text(c.reply, style="bold cyan"))
        if c.standing and c.finished is None:
            console.print(Text(f"  standing: {wants_text(self.catalog.schema, c.standing)}", "dim"))

    def __call__(self, c: Conversation) -> None:
        """The item on show, unless it was just printed (a sentence that changed nothing)."""
        if c.current == self.last:
            return
        self.last = c.current
        self._item(c.current, c.turn, c.max_turns)

    def _item(self, item_id: str, turn: int, max_turns: int) -> None:
        from textrec.serve.labels import attribute_label, value_label
        from textrec.serve.session import describe
        from textrec.serve.terminal import inline_image

        view = describe(self.catalog, item_id)
        i = self.index[item_id]
        where = self.images.where(i)
        if self.as_json:
            record = {"event": "item", "turn": turn, **asdict(view), "picture": where}
            typer.echo(json.dumps(record, ensure_ascii=False))
            return
        from rich.table import Table

        from textrec.cli.common import console

        schema = self.catalog.schema
        table = Table(
            title=f"Item {turn} of at most {max_turns}: {item_id}",
            show_header=False,
            box=None,
            title_justify="left",
        )
        table.add_column(style="dim")
        table.add_column()
        for name, value in self.catalog.label_text(i).items():
            if value:
                said = ", ".join(value_label(schema, name, v) for v in value.split(";"))
                table.add_row(attribute_label(schema, name), said)
        table.add_row("picture", where)
        console.print()
        console.print(table)
        if self.images.has_pictures and self.protocol not in ("path", "none"):
            sys.stdout.write(inline_image(self.protocol, self.images.picture(i).data))
            sys.stdout.flush()


def _want_json(w: Want) -> dict[str, object]:
    return {"attribute": w.attribute, "value": w.value, "negated": w.negated}


def _understood_json(u: Understood) -> dict[str, object]:
    return {
        "kept": [_want_json(w) for w in u.kept],
        "dropped": [_want_json(w) for w in u.dropped],
        "unsupported": list(u.unsupported),
        "unmet": [_want_json(w) for w in u.unmet],
    }


def _save(finished: FinishedSession, log: SessionLog | None, quiet: bool, left: bool) -> None:
    """Log the finished session and say where it went."""
    path = log.append(finished) if log is not None else None
    if quiet:
        record = {
            "event": "end",
            "found": finished.found,
            "left": left,
            "turns": len(finished.shown),
            "session_id": finished.session_id,
            "logged": None if path is None else str(path),
        }
        typer.echo(json.dumps(record))
        return
    verdict = "Found it, great!" if finished.found else "Session ended without a find."
    where = f"logged as {finished.session_id} in {path}" if path else "not logged"
    n = len(finished.shown)
    typer.echo(f"\n{verdict} ({n} item{'s' if n != 1 else ''} shown; {where})")
