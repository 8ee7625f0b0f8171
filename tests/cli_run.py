"""Run the real ``textrec`` entry point in-process, as the console script does (for tests)."""

from __future__ import annotations

import signal
from dataclasses import dataclass

import pytest

from textrec.cli import main


@dataclass(frozen=True)
class Outcome:
    """What one ``textrec`` invocation did."""

    code: int
    """Exit status."""
    out: str
    """Standard output."""
    err: str
    """Standard error."""

    @property
    def err_text(self) -> str:
        """stderr with Rich's box drawing removed and whitespace folded (for message matching)."""
        drawn = "".join(" " if "\u2500" <= c <= "\u257f" else c for c in self.err)
        return " ".join(drawn.split())


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Outcome:
    """``textrec ARGV`` through :func:`textrec.cli.main`; its exit status and output."""
    sigterm, sigint = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    capsys.readouterr()
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        signal.signal(signal.SIGTERM, sigterm)
        signal.signal(signal.SIGINT, sigint)
        from textrec import cli

        cli._debug[0] = False
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)
