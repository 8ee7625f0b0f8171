"""The CLI's one error policy (textrec.errors, textrec.cli.main), through the real entry point."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

import textrec
from tests.cli_run import run_cli
from tests.conftest import CTRL_C_IGNORED
from textrec.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    InputError,
    Terminated,
)

SRC = Path(textrec.__file__).resolve().parent


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)
    assert issubclass(Terminated, KeyboardInterrupt)


def test_no_module_imports_click():
    """Typer's own error display only: textrec never imports click (a newer Typer drops it)."""
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if re.search(r"^\s*(import click|from click)", p.read_text(encoding="utf-8"), re.M)
    ]
    assert offenders == []


def test_bare_textrec_shows_help_and_exits_2(capsys):
    result = run_cli(capsys, [])
    assert result.code == EXIT_USAGE
    assert "Usage: textrec" in result.out + result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["bogus"], "No such command 'bogus'"),
        (["simulate", "--nope"], "No such option: --nope"),
        (["simulate", "--sessions", "abc"], "'--sessions'"),
        (["simulate", "--seed", "-1"], "'--seed'"),
        (["simulate", "--seed", str(2**32)], "'--seed'"),
        (["catalog", "build", "--catalog", "builtin"], "Missing option '--out'"),
        (["logs", "info"], "Missing argument 'log_dir'"),
        (["collect", "--out"], "Option '--out' requires an argument"),
        (["simulate", "unexpected"], "unexpected extra argument(s) (unexpected)"),
        (["--threads-torch", "0", "version"], "'--threads-torch'"),
    ],
)
def test_usage_errors_are_typers_exit_2_without_traceback(capsys, argv, named):
    result = run_cli(capsys, argv)
    assert result.code == EXIT_USAGE
    assert named in result.err_text
    assert "Traceback" not in result.err


def test_input_error_is_one_line_exit_2(capsys, tmp_path):
    result = run_cli(capsys, ["logs", "info", str(tmp_path / "missing")])
    assert result.code == EXIT_USAGE
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    assert "missing" in result.err


def _crash(*args, **kwargs):
    raise RuntimeError("something textrec did wrong")


def test_internal_error_exit_1_saves_the_traceback(capsys, monkeypatch, tmp_path):
    import tempfile

    import textrec.catalog.build as build

    monkeypatch.setattr(build, "open_catalog", _crash)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    result = run_cli(capsys, ["catalog", "info"])
    assert result.code == EXIT_FAILURE
    match = re.search(r"traceback in (\S+);", result.err)
    assert match, result.err
    saved = Path(match.group(1)).read_text()
    assert "RuntimeError: something textrec did wrong" in saved and "Traceback" in saved
    assert "Traceback" not in result.err
    assert "--debug" in result.err


def test_debug_prints_the_traceback(capsys, monkeypatch):
    import textrec.catalog.build as build

    monkeypatch.setattr(build, "open_catalog", _crash)
    result = run_cli(capsys, ["--debug", "catalog", "info"])
    assert result.code == EXIT_FAILURE
    assert "Traceback" in result.err and "something textrec did wrong" in result.err


@pytest.mark.parametrize(
    ("signum", "code"),
    [
        pytest.param(signal.SIGINT, EXIT_INTERRUPTED, marks=CTRL_C_IGNORED),
        (signal.SIGTERM, EXIT_TERMINATED),
    ],
)
def test_interrupt_and_terminate_exit_codes(capsys, monkeypatch, signum, code):
    import textrec.catalog.build as build

    def stop(*args, **kwargs):
        os.kill(os.getpid(), signum)  # Ctrl-C / kill PID while the command works
        time.sleep(5)
        raise AssertionError("the signal did not stop the command")

    monkeypatch.setattr(build, "open_catalog", stop)
    result = run_cli(capsys, ["catalog", "info"])
    assert result.code == code
    assert "Traceback" not in result.err


def test_os_error_on_a_user_path_is_bad_input(capsys, tmp_path):
    (tmp_path / "plain").write_text("x")
    result = run_cli(capsys, ["logs", "info", str(tmp_path / "plain" / "log")])
    assert result.code == EXIT_USAGE
    assert "Traceback" not in result.err


def _steps(out, *args):
    return [("1/2 fine", ["version"]), ("2/2 broken", ["logs", "info", str(out / "none")])]


def test_quickstart_stops_with_the_failing_steps_code(capsys, monkeypatch, tmp_path):
    from textrec.cli import quickstart

    monkeypatch.setattr(quickstart, "quickstart_steps", _steps)
    result = run_cli(capsys, ["quickstart", "--out", str(tmp_path / "q")])
    assert result.code == EXIT_USAGE
    assert "quickstart step '2/2 broken':" in result.err and "not a log directory" in result.err
    assert textrec.__version__ in result.out


def test_quickstart_propagates_a_failed_check(capsys, monkeypatch, tmp_path):
    from textrec.cli import quickstart

    log = tmp_path / "q" / "logs" / "experience"
    log.mkdir(parents=True)
    (log / "shard-00000.parquet").write_bytes(b"not parquet")

    def steps(out, *args):
        return [("check", ["logs", "info", str(out / "logs"), "--check"])]

    monkeypatch.setattr(quickstart, "quickstart_steps", steps)
    monkeypatch.setattr(quickstart, "_prepare", lambda out: None)
    result = run_cli(capsys, ["quickstart", "--out", str(tmp_path / "q")])
    assert result.code == EXIT_FAILURE
    assert "not a readable Parquet shard" in result.out
    assert "step 'check' exited with 1" in result.err
