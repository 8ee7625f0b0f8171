"""The ``textrec`` command: one Typer app with a subcommand per pipeline stage.

The stages' modules (and with them torch, pandas and the models) are imported only when their
command runs or shows its ``--help``: ``textrec --help`` lists them from :data:`COMMANDS`, and
``textrec --help`` and ``textrec version`` import none of them.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import tempfile
import traceback

import typer
from typer.core import TyperCommand, TyperGroup

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

__all__ = ["app", "main", "COMMANDS"]

COMMANDS: dict[str, tuple[str, str]] = {
    "catalog": (
        "textrec.cli.catalog:app",
        "Build item catalogs (built-in or UT-Zappos50K) and describe them.",
    ),
    "collect": (
        "textrec.cli.logs:collect",
        "Collect an experience log: behaviour devices serve simulated users of the train pool.",
    ),
    "logs": ("textrec.cli.logs:app", "Describe, validate, compact and export experience logs."),
    "simulate": (
        "textrec.cli.simulate:simulate",
        "Run a policy against simulated users; print SR@10/20/30, NI and NV (and dialogues).",
    ),
    "interpret": (
        "textrec.cli.interpret:interpret",
        "List every request of each sentence: attribute, value, mode, whether the person rejects "
        "the value ('negated': \"anything but heels\"), and the confidence; sentences read with "
        "too little confidence are reported as not understood.",
    ),
    "train": (
        "textrec.cli.train:train",
        "Train an agent (from a log, or against simulated users); report SR@K, NI, NV.",
    ),
    "quickstart": (
        "textrec.cli.quickstart:quickstart",
        "Run the whole pipeline on the built-in catalog: catalog, baselines, agent, log, table.",
    ),
    "evaluate": (
        "textrec.cli.evaluate:evaluate",
        "Evaluate an agent or a baseline: SR@10/20/30, NI, NV (mean ± s.e.) and success by turn.",
    ),
    "iterative": (
        "textrec.cli.iterative:iterative",
        "Iterative offline training: train on D, deploy noisy copies, collect D', D = D ∪ D'.",
    ),
    "ope": (
        "textrec.cli.ope:ope",
        "Off-policy estimates of target policies from a log, scored against the simulator's truth.",
    ),
    "reproduce": (
        "textrec.cli.reproduce:reproduce",
        "Rebuild Table 2 and Figure 4: devices -> 40k-session log -> every learner -> test pool.",
    ),
    "chat": (
        "textrec.cli.chat:chat",
        "Talk to a recommender in the terminal until you find your shoe; the session is logged.",
    ),
    "serve": (
        "textrec.cli.serve:serve",
        "Serve a web page (and its JSON API) where people find a shoe by saying what to change.",
    ),
}
"""Each stage's command, in data-flow order: ``name -> ("module:attribute", summary)``. The
attribute is a command function or a Typer sub-app; the summary is the first paragraph of its help
(``textrec --help`` shows it without importing the module)."""


def load_command(name: str) -> TyperCommand | TyperGroup:
    """The command ``name`` of :data:`COMMANDS`, built from its module (imported now) exactly as
    ``app.command(name)`` or ``app.add_typer(sub_app, name=name)`` would build it."""
    module, attribute = COMMANDS[name][0].split(":")
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False)
    holder.callback()(lambda: None)  # a group, so that the stage is built as one of its commands
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined,no-any-return]


class _Listed(TyperCommand):
    """A stage's command as ``textrec --help`` lists it; it loads the real one to run."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        return load_command(self.name or "").make_context(info_name, args, parent, **extra)


class _Stages(TyperGroup):
    """The root group: ``version`` plus the stages of :data:`COMMANDS`, imported on use."""

    def list_commands(self, ctx):  # type: ignore[no-untyped-def]
        return [*COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx, name):  # type: ignore[no-untyped-def]
        if name in COMMANDS:
            return _Listed(name=name, callback=None, help=COMMANDS[name][1])
        return super().get_command(ctx, name)


app = typer.Typer(
    cls=_Stages,
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
    ctx: typer.Context,
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
    _debug[0] = debug
    from textrec.cli.common import INVOCATION

    # Every stage computes with torch; 'version' and a stage's --help do not (its help is its
    # options: no reason to spend seconds importing torch to print them).
    if ctx.invoked_subcommand != "version" and "--help" not in INVOCATION:
        import torch

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
    from textrec.cli.common import INVOCATION, SIGNALLED

    args = sys.argv[1:] if argv is None else list(argv)
    INVOCATION[:] = args
    SIGNALLED.clear()
    terminated = _raise_on_sigterm()
    _record_ctrl_c(SIGNALLED)
    try:
        app(args=args, prog_name="textrec", standalone_mode=True)
    except SystemExit as exc:
        if exc.code == EXIT_INTERRUPTED and _silent_interrupt(exc):
            _error_line("terminated" if terminated else "interrupted")
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
        if SIGNALLED:  # Ctrl-C inside a library that turned it into another error (numpy does)
            _error_line("terminated" if terminated else "interrupted")
            sys.exit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED)
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


def _silent_interrupt(exc: SystemExit) -> bool:
    """Whether ``exc`` is Typer's exit 130 for a Ctrl-C no command reported: Typer turns the
    ``KeyboardInterrupt`` into ``Exit(130)`` before :func:`main` sees it, and prints nothing (a
    long command reports it itself, with :func:`textrec.cli.common.stop_on_interrupt`)."""
    typer_exit = exc.__context__
    return typer_exit is not None and isinstance(typer_exit.__cause__, KeyboardInterrupt)


def _raise_on_sigterm() -> list[bool]:
    """Make SIGTERM raise :class:`~textrec.errors.Terminated` in the main thread; the returned
    list holds ``True`` once it did (the exit status is then 143, not Ctrl-C's 130)."""
    seen: list[bool] = []

    def handler(signum: int, frame: object) -> None:
        seen.append(True)
        from textrec.cli.common import SIGNALLED

        SIGNALLED.append(signum)
        raise Terminated

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (main() called from a thread): leave SIGTERM alone
        pass
    return seen


def _record_ctrl_c(signalled: list[int]) -> None:
    """Make Ctrl-C raise ``KeyboardInterrupt`` as always, and note it in ``signalled`` (a library
    may turn the ``KeyboardInterrupt`` into another error: it is still reported as Ctrl-C)."""

    def handler(signum: int, frame: object) -> None:
        signalled.append(signum)
        signal.default_int_handler(signum, frame)

    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # ignored stays ignored
            signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave SIGINT alone
        pass


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
