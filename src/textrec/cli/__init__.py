"""The ``textrec`` command: one Typer app with a subcommand per pipeline stage."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import traceback

import typer

from textrec import __version__
from textrec.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    USER_OS_ERRORS,
    InputError,
    Terminated,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="textrec",
    help="Text-based interactive recommendation learned offline: "
    "catalog -> simulator -> logs -> learners.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


_debug = [False]
"""Set by the root ``--debug`` option: print internal tracebacks instead of saving them."""


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
    debug: bool = typer.Option(
        False, "--debug", help="On an internal error print the traceback instead of saving it."
    ),
    threads: int = typer.Option(
        1,
        "--threads-torch",
        min=1,
        help="PyTorch CPU threads. textrec's networks are small and latency-bound: 1 thread is as "
        "fast as 2 on an idle machine and avoids a 100x slow-down when other processes share the "
        "cores.",
    ),
) -> None:
    import torch

    _debug[0] = debug
    torch.set_num_threads(threads)
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@app.command()
def version() -> None:
    """Print the textrec version."""
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``textrec`` console script; applies the one error policy.

    See :mod:`textrec.errors`: bad input -> one line on stderr, exit 2; internal error -> one line
    naming the file that holds the traceback (``--debug``: the traceback itself), exit 1; Ctrl-C ->
    exit 130; Typer's usage errors are shown by Typer, exit 2. A command that finds damage (a
    ``--check``) raises ``typer.Exit(1)``.
    """
    from textrec.cli.common import INVOCATION

    args = sys.argv[1:] if argv is None else list(argv)
    INVOCATION[:] = args
    terminated = _raise_on_sigterm()
    try:
        app(args=args, prog_name="textrec", standalone_mode=True)
    except SystemExit as exc:
        if terminated and exc.code == EXIT_INTERRUPTED:
            sys.exit(EXIT_TERMINATED)
        raise
    except KeyboardInterrupt:
        _error_line("interrupted")
        sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
    except InputError as exc:
        _error_line(str(exc))
        sys.exit(EXIT_USAGE)
    except USER_OS_ERRORS as exc:
        _error_line(_os_error_text(exc))
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # noqa: BLE001 -- the policy's last resort: report, never a bare crash
        if _debug[0]:
            traceback.print_exc()
            _error_line(f"internal error: {type(exc).__name__}: {exc}")
        else:
            where = _save_traceback(exc)
            _error_line(
                f"internal error: {type(exc).__name__}: {exc} (traceback in {where}; "
                "run again with --debug to print it)"
            )
        sys.exit(EXIT_FAILURE)


def _raise_on_sigterm() -> list[bool]:
    """Make SIGTERM raise :class:`~textrec.errors.Terminated` in the main thread; the returned
    list holds ``True`` once it did (the exit status is then 143, not Ctrl-C's 130)."""
    seen: list[bool] = []

    def handler(signum: int, frame: object) -> None:
        seen.append(True)
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (main() called from a thread): leave SIGTERM alone
        pass
    return seen


def _error_line(message: str) -> None:
    """Print ``error: message`` on stderr as one line (newlines folded, no markup)."""
    one_line = " ".join(str(message).split()) or "unknown error"
    print(f"error: {one_line}", file=sys.stderr, flush=True)


def _os_error_text(exc: OSError) -> str:
    """``PATH: reason`` for an OSError about a path (Python's own text names the path already)."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc)


def _save_traceback(exc: BaseException) -> str:
    """Write the traceback of ``exc`` to a fresh file under the temp dir; return its path."""
    text = "".join(traceback.format_exception(exc))
    try:
        fd, name = tempfile.mkstemp(prefix="textrec-crash-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"textrec {__version__}\nargv: {sys.argv!r}\n\n{text}")
        return name
    except OSError:  # nowhere to write: print it rather than lose it
        print(text, file=sys.stderr)
        return "stderr"


# Each stage owns its own CLI module; they attach themselves here, in data-flow order.
from textrec.cli import catalog as _catalog  # noqa: E402

app.add_typer(_catalog.app, name="catalog")
from textrec.cli import logs as _logs  # noqa: E402

app.command("collect")(_logs.collect)
app.add_typer(_logs.app, name="logs")
from textrec.cli import simulate as _simulate  # noqa: E402

app.command("simulate")(_simulate.simulate)
from textrec.cli import interpret as _interpret  # noqa: E402

app.command("interpret")(_interpret.interpret)
from textrec.cli import train as _train  # noqa: E402

app.command("train")(_train.train)
from textrec.cli import quickstart as _quickstart  # noqa: E402

app.command("quickstart")(_quickstart.quickstart)
from textrec.cli import evaluate as _evaluate  # noqa: E402

app.command("evaluate")(_evaluate.evaluate)
from textrec.cli import iterative as _iterative  # noqa: E402

app.command("iterative")(_iterative.iterative)
from textrec.cli import ope as _ope  # noqa: E402

app.command("ope")(_ope.ope)
from textrec.cli import reproduce as _reproduce  # noqa: E402

app.command("reproduce")(_reproduce.reproduce)
from textrec.cli import chat as _chat  # noqa: E402

app.command("chat")(_chat.chat)
from textrec.cli import serve as _serve  # noqa: E402

app.command("serve")(_serve.serve)
