"""A ``textrec collect`` stopped mid-way (Ctrl-C, SIGTERM, SIGKILL), then resumed: nothing lost,
nothing duplicated, no worker left behind, and the log is the one an uninterrupted run makes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import CTRL_C_IGNORED
from textrec.logs.collect import collect
from textrec.logs.info import check_log
from textrec.logs.reader import list_shards

N, CHUNK = 1600, 40
TEXTREC = [sys.executable, "-c", "from textrec.cli import main; main()"]


def _tables(log: Path) -> dict[str, list]:
    return {
        f"{kind}/{p.name}": pq.read_table(p).to_pylist()
        for kind in ("experience", "oracle")
        for p in list_shards(log, kind)
    }


def _chunks_done(log: Path) -> int:
    try:
        return len(json.loads((log / "manifest.json").read_text())["chunks_done"])
    except (OSError, ValueError, KeyError):
        return 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def saved(toy_catalog, tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupt")
    toy_catalog.save(root / "cat")
    reference = root / "reference"
    collect(toy_catalog, reference, N, 3, chunk_sessions=CHUNK, progress=False)
    return root, _tables(reference)


@pytest.mark.parametrize(
    ("signum", "code"),
    [
        # Opt-in (-m slow) since 2026-12-06: in 1 of about 40 runs, all inside a whole-suite run
        # after the Ray tests, the parent did not exit within the test's slack after Ctrl-C to the
        # group (hang suspected in ProcessPoolExecutor's shutdown after its workers are
        # terminated; not yet reproduced alone: 6/6 passed). SIGKILL below and the in-process
        # Ctrl-C probes of tests/test_bad_input_issue16.py still run by default.
        pytest.param(signal.SIGINT, 130, id="ctrl-c", marks=[CTRL_C_IGNORED, pytest.mark.slow]),
        pytest.param(signal.SIGTERM, 143, id="sigterm", marks=pytest.mark.slow),
        pytest.param(signal.SIGKILL, -signal.SIGKILL, id="sigkill"),
    ],
)
def test_stop_mid_collect_then_resume(toy_catalog, saved, tmp_path, signum, code):
    root, reference = saved
    out = tmp_path / "log"
    args = [
        "collect", "--catalog", str(root / "cat"), "--sessions", str(N), "--chunk-sessions",
        str(CHUNK), "--seed", "3", "--out", str(out), "--no-progress",
    ]  # fmt: skip
    # PYTHONFAULTHANDLER: a parent that does not exit is sent SIGABRT, which makes Python print
    # every thread's stack to stderr before it dies, so a hang reports where it hung.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [*TEXTREC, *args, "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
    )
    try:
        started = time.monotonic()
        while _chunks_done(out) < 2 and proc.poll() is None and time.monotonic() < started + 600:
            time.sleep(0.05)
        assert proc.poll() is None, "collection ended before it could be stopped"
        # Every wait below scales with how fast this machine ran the first two chunks (a loaded
        # machine is slow at everything), with a floor; none is a race against a fixed clock.
        slack = max(60.0, 20 * (time.monotonic() - started))
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)  # a terminal's Ctrl-C reaches the whole group
        else:
            os.kill(proc.pid, signum)  # only the parent: its workers must stop by themselves
        try:
            _, err = proc.communicate(timeout=slack)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, err = proc.communicate(timeout=60)
            pytest.fail(f"collect did not exit {slack:.0f} s after the signal; its threads:\n{err}")
        assert proc.returncode == code, err
        assert "Traceback" not in err
        if signum != signal.SIGKILL:
            assert "--resume" in err and str(out) in err
        stopped = time.monotonic() + slack
        while _group_alive(proc.pid) and time.monotonic() < stopped:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "a collection worker outlived its parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a failed test leaves no worker behind
    done = _chunks_done(out)
    assert 2 <= done < N // CHUNK
    resumed = subprocess.run(
        [*TEXTREC, *args, "--resume", "--json"], env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)["collect"]
    assert report["chunks_skipped"] >= done
    assert report["chunks_skipped"] + report["chunks_run"] == N // CHUNK
    assert _tables(out) == reference  # no loss, no duplicate, same rows
    assert check_log(out, toy_catalog).ok
