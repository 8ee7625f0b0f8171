"""The errors textrec raises about what a user gave it, and how the CLI reports every error.

One policy, written once (applied by :func:`textrec.cli.main`):

* :class:`InputError` (bad input: a malformed file, an unknown value, an output path that is not
  textrec's to replace) and the operating-system errors about a path a user named
  (``FileNotFoundError``, ``FileExistsError``, ``PermissionError``, ``IsADirectoryError``,
  ``NotADirectoryError``) end with one line on stderr and exit status 2;
* anything else is an internal error: one line on stderr naming the file the traceback went to
  (``--debug`` prints it instead), exit status 1;
* Ctrl-C exits 130 and SIGTERM 143 (a long command first says what it kept and how to go on);
  Typer's own usage errors (unknown option, bad value) are shown the Typer way and exit 2.

``InputError`` is a ``ValueError``, so library callers that catch ``ValueError`` keep working.
"""

from __future__ import annotations

__all__ = [
    "InputError",
    "USER_OS_ERRORS",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "Terminated",
]

EXIT_OK = 0
EXIT_FAILURE = 1
"""An internal error, or a ``--check`` that found damage."""
EXIT_USAGE = 2
"""Bad input: usage, arguments, files."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT)."""
EXIT_TERMINATED = 143
"""SIGTERM (128 + SIGTERM), e.g. ``kill PID`` or a scheduler stopping the job."""


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so a terminated command stops as cleanly as on
    Ctrl-C (finally blocks run, workers are stopped, what is finished is kept)."""


class InputError(ValueError):
    """Something a user supplied is wrong; the message names the file, row, field and value."""


USER_OS_ERRORS: tuple[type[OSError], ...] = (
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)
"""Operating-system errors about a path the user named: reported as bad input (exit 2)."""
