"""Issue 16's probes, one row each, through the real ``textrec`` entry point.

``klass`` is the cause of issue 16 (1-11) a row probes; every row is checked as in
:mod:`tests.test_bad_input` (exit status, the message, no traceback, one line, nothing written by a
failing command, the user's files untouched). Causes 10 (a worker that outlives its parent) and 11
(results that say where they were made) are library behaviour: their rows are the tables below.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from tests.agent.conftest import toy_encoder
from tests.conftest import CTRL_C_IGNORED
from tests.serve.test_cli import _cli
from tests.test_bad_input import (
    _IMAGES,
    CAT,
    LOG,
    OUT_CAT,
    Prepare,
    Probe,
    _edit_json,
    _jpeg,
    _remove,
    _shard,
    _truncate,
    _write,
    _zappos_zip,
    run_probe,
)
from textrec.cli.common import SIGNALLED

__all__ = ["toy_encoder"]  # a fixture, used by the ones below


@dataclass(frozen=True)
class Probe16(Probe):
    """A row of issue 16; ``interrupt`` names a function that raises ``KeyboardInterrupt``
    (Ctrl-C at that point of the command)."""

    interrupt: str | None = None
    swallowed: bool = False
    """The library turns that ``KeyboardInterrupt`` into another error (as numpy may)."""


# ---------------------------------------------------------------------------------------- damage
def _resumable(edit: Callable[[dict], None] = lambda raw: None) -> Prepare:
    """The run's checkpoint as the copied work folder's ``train`` resumes it (its log path), then
    ``edit`` of its raw dict."""

    def prepare(w: Path) -> None:
        path = w / "run" / "checkpoint.pt"
        raw = torch.load(path, weights_only=True)
        meta = json.loads(raw["meta"])
        meta["logs"] = str((w / "log").resolve())
        raw["meta"] = json.dumps(meta, sort_keys=True)
        edit(raw)
        torch.save(raw, path)

    return prepare


def _both(*prepares: Prepare) -> Prepare:
    return lambda w: [p(w) for p in prepares]


def _nan_weights(w: Path) -> None:
    path = w / "run" / "final" / "weights.pt"
    raw = torch.load(path, weights_only=True)
    next(v for v in raw["state_dict"].values() if v.is_floating_point()).fill_(float("nan"))
    torch.save(raw, path)


def _pickled_object(w: Path) -> None:
    """A weights file holding a Python object: a full unpickler would run code to build it."""
    torch.save({"type": "recommender", "ns": argparse.Namespace(a=1)}, w / "run/final/weights.pt")


def _directory(rel: str) -> Prepare:
    def prepare(w: Path) -> None:
        (w / rel).unlink()
        (w / rel).mkdir()

    return prepare


def _iterative_settings(w: Path) -> None:
    """The iterative run's settings as the copied work folder's command gives them."""
    path = w / "it" / "settings.json"
    settings = json.loads(path.read_text())
    settings["logs"] = [str((w / "log").resolve())]
    path.write_text(json.dumps(settings))


def _reward(value: float) -> Callable[[pa.Table], pa.Table]:
    def edit(table: pa.Table) -> pa.Table:
        rewards = table.column("reward").to_numpy().copy()
        rewards[0] = value
        col = table.schema.get_field_index("reward")
        return table.set_column(col, "reward", pa.array(rewards, pa.float32()))

    return edit


def _reward_as_text(table: pa.Table) -> pa.Table:
    col = table.schema.get_field_index("reward")
    return table.set_column(col, "reward", table.column("reward").cast(pa.string()))


_JPEGS = {k: _jpeg() for k in _IMAGES}
_ZAP_BUILD = ("catalog", "build", "--catalog", "zappos", "--data", "{w}/zap", "--out", "{w}/z")
_META_MOVED = "CID,Category,SubCategory\n" + "".join(
    f"{i}-1,Shoes,{'Heels' if i == 1 else 'Flats'}\n" for i in range(4)
)

RUN = ("--logs", "{w}/log", "--out", "{w}/run", "--eval-sessions", "20", "--no-progress")
TRAIN = ("train", "--algo", "bc", *CAT, *RUN, "--steps", "2", "--eval-every", "1")
AGENT = (*CAT, "--policy", "{w}/run/final")
EVALUATE = ("evaluate", *AGENT, "--sessions", "5", "--no-progress")
ITERATIVE = (
    "iterative", "--logs", "{w}/log", "--out", "{w}/it", *CAT, "--rounds", "1",
    "--round-sessions", "10", "--noise", "0.5", "--eval-every", "0", "--eval-sessions", "20",
    "--no-progress",
)  # fmt: skip
PEOPLE = ("--logs", "{w}/people")


def _free_port() -> str:
    """A port nothing listens on now (serve binds it before it loads the agent and the log)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


_FREE_PORT = _free_port()

PROBES: tuple[Probe16, ...] = (
    # 1 -- a file of the user's inside a saved catalog is never deleted with it
    Probe16(
        "build-over-catalog-holding-a-user-file",
        1,
        (*OUT_CAT, "{w}/cat"),
        2,
        r"cat: holds \['thesis\.tex'\], not written by textrec; refusing to replace the catalog",
        _write("cat/thesis.tex", b"years of work"),
    ),
    # 2 -- internal errors that were bad input
    Probe16("huge-items", 2, ("simulate", *CAT, "--items", "9" * 20), 2, r"'--items'"),
    Probe16(
        "manifest-max-turns-text",
        2,
        ("logs", "info", *LOG, "--check"),
        1,
        r"manifest\.json: field 'task': field 'max_turns' must be an integer, got 'abc'",
        _edit_json("log/manifest.json", lambda m: m["task"].update(max_turns="abc")),
    ),
    Probe16(
        "manifest-max-turns-text-no-check",
        2,
        ("logs", "info", *LOG),
        2,
        r"manifest\.json: field 'task': field 'max_turns' must be an integer, got 'abc'",
        _edit_json("log/manifest.json", lambda m: m["task"].update(max_turns="abc")),
    ),
    Probe16(
        "checkpoint-negative-step",
        2,
        TRAIN,
        2,
        r"checkpoint\.pt: malformed learner checkpoint: negative step -5",
        _resumable(lambda raw: raw.update(step=-5)),
    ),
    Probe16(
        "metrics-junk-cell",
        2,
        TRAIN,
        2,
        r"metrics\.csv: row 1, column 'loss': 'abc' is not a number",
        _both(_resumable(), _write("run/metrics.csv", b"step,loss\n1,abc\n")),
    ),
    Probe16(
        "metrics-extra-cells",
        2,
        TRAIN,
        2,
        r"metrics\.csv: row 1: more cells than the header has columns",
        _both(_resumable(), _write("run/metrics.csv", b"step\n1,2,3\n")),
    ),
    Probe16(
        "agent-json-list",
        2,
        EVALUATE,
        2,
        r"recommender\.json: expected a JSON object, got list",
        _write("run/final/recommender.json", b"[]"),
    ),
    *(
        Probe16(
            f"agent-item-dim-text-{command}",
            2,
            (command, *AGENT, *extra),
            2,
            r"recommender\.json: field 'config': field 'item_dim' must be an integer, got 'abc'",
            _edit_json("run/final/recommender.json", lambda m: m["config"].update(item_dim="abc")),
        )
        for command, extra in (
            ("evaluate", ("--sessions", "5")),
            ("chat", ()),
            ("serve", ("--port", _FREE_PORT)),
        )
    ),
    # 3 -- read errors that name the file and the reason
    Probe16(
        "checkpoint-empty",
        3,
        TRAIN,
        2,
        r"checkpoint\.pt: not a textrec checkpoint: an empty file",
        _write("run/checkpoint.pt", b""),
    ),
    Probe16(
        "weights-empty",
        3,
        EVALUATE,
        2,
        r"weights\.pt: not a textrec checkpoint: an empty file",
        _write("run/final/weights.pt", b""),
    ),
    Probe16(
        "weights-text",
        3,
        EVALUATE,
        2,
        r"weights\.pt: not a textrec checkpoint: 6 bytes that are not a torch\.save archive",
        _write("run/final/weights.pt", b"hello\n"),
    ),
    Probe16(
        "weights-refused-pickle",
        3,
        EVALUATE,
        2,
        r"(?s)^(?!.*weights_only).*weights\.pt: refused to load it as a textrec checkpoint: it "
        r"holds Python objects",
        _pickled_object,
    ),
    Probe16(
        "checkpoint-without-recommender-config",
        3,
        TRAIN,
        2,
        r"checkpoint\.pt: cannot restore the learner: learner state lacks fields "
        r"\['recommender_config'\]",
        _resumable(lambda raw: raw["state_dict"].pop("recommender_config")),
    ),
    Probe16(
        "encoder-weights-junk",
        3,
        (*_ZAP_BUILD, "--encoder", "resnet50", "--encoder-weights", "{w}/notes.txt"),
        2,
        r"notes\.txt: not a ResNet-50 weights file: 8 bytes that are not a torch\.save archive",
        _zappos_zip(_JPEGS),
    ),
    Probe16(
        "catalog-without-items",
        3,
        ("catalog", "info", *CAT),
        2,
        r"items\.parquet: missing; a saved catalog holds catalog\.json, items\.parquet",
        _remove("cat/items.parquet"),
    ),
    Probe16(
        "catalog-json-directory",
        3,
        ("catalog", "info", *CAT),
        2,
        r"catalog\.json: a directory, not a JSON file",
        _directory("cat/catalog.json"),
    ),
    Probe16(
        "data-is-a-file",
        3,
        (*_ZAP_BUILD[:5], "{w}/notes.txt", *_ZAP_BUILD[6:]),
        2,
        r"notes\.txt: a file, not a folder; --data names the UT-Zappos50K folder",
    ),
    # 4 -- NaN weights are found when the agent loads, naming it and the file
    Probe16(
        "agent-nan-weights",
        4,
        EVALUATE,
        2,
        r"run/final/weights\.pt: agent \S+/run/final: non-finite weights \(NaN or inf\) in \['",
        _nan_weights,
    ),
    # 5 -- Ctrl-C says what was kept and how to go on
    Probe16(
        "ctrl-c-train",
        5,
        TRAIN,
        130,
        r"interrupted: the checkpoints written so far are kept in \S+/run; run textrec train .* "
        r"to continue from the last one",
        _resumable(),
        interrupt="textrec.learners.run.train_agent",
    ),
    Probe16(
        "ctrl-c-simulate",
        5,
        ("simulate", *CAT),
        130,
        r"interrupted: nothing was saved \(simulate writes no files\); run textrec simulate "
        r"--catalog \S+/cat again",
        interrupt="textrec.evaluation.evaluate",
    ),
    Probe16(
        "ctrl-c-evaluate",
        5,
        EVALUATE,
        130,
        r"interrupted: nothing was saved \(evaluate writes no files\)",
        interrupt="textrec.evaluation.evaluate_on",
    ),
    Probe16(
        "ctrl-c-reproduce",
        5,
        ("reproduce", "--quick", "--out", "{w}/run"),
        130,
        r"interrupted: finished stages are kept in \S+/run; run textrec reproduce --quick --out "
        r"\S+/run --resume to continue",
        interrupt="textrec.reproduce.reproduce",
    ),
    Probe16(
        "ctrl-c-iterative",
        5,
        (*ITERATIVE, "--steps", "2"),
        130,
        r"interrupted: finished rounds, checkpoints and log shards are kept in \S+/it; run "
        r"textrec iterative .* to continue",
        interrupt="textrec.learners.iterative.run_iterative",
    ),
    Probe16(
        "ctrl-c-any-other-command",
        5,
        ("catalog", "info", *CAT),
        130,
        r"^error: interrupted\s*$",
        interrupt="textrec.catalog.build.open_catalog",
    ),
    *(
        Probe16(
            f"ctrl-c-turned-into-another-error-{name}",
            5,
            argv,
            130,
            shown,
            interrupt=target,
            swallowed=True,
        )
        for name, argv, shown, target in (
            (
                "simulate",
                ("simulate", *CAT),
                r"interrupted: nothing was saved \(simulate writes no files\)",
                "textrec.evaluation.evaluate",
            ),
            (
                "any-other-command",
                ("catalog", "info", *CAT),
                r"^error: interrupted\s*$",
                "textrec.catalog.build.open_catalog",
            ),
        )
    ),
    # 6 -- a finished run continued with other settings, or fewer steps, is refused
    Probe16(
        "iterative-other-settings",
        6,
        (*ITERATIVE, "--steps", "3"),
        2,
        r"settings\.json: the run was started with other settings \(steps_per_round\)",
        _iterative_settings,
    ),
    Probe16(
        "iterative-same-settings",
        6,
        (*ITERATIVE, "--steps", "2"),
        0,
        r"round 1/1: done before, skipped",
        _iterative_settings,
    ),
    Probe16(
        "train-fewer-steps-than-the-checkpoint",
        6,
        (*TRAIN[:-4], "--steps", "1", "--eval-every", "1"),
        2,
        r"checkpoint\.pt: the run has 2 updates, more than the 1 asked for",
        _resumable(),
    ),
    # 7 -- logs info --check
    Probe16(
        "check-huge-reward",
        7,
        ("logs", "info", *LOG, "--check"),
        1,
        r"shard-00001\.parquet: row 0, column 'reward': 1e\+30 is outside \[-4, 0\]",
        _shard("experience", 1, _reward(1e30)),
    ),
    Probe16(
        "check-reward-stored-as-text",
        7,
        ("logs", "info", *LOG, "--check"),
        1,
        r"shard-00002\.parquet: column 'reward' is stored as string, not float",
        _shard("experience", 2, _reward_as_text),
    ),
    Probe16(
        "info-catalog-without-check",
        7,
        ("logs", "info", *LOG, *CAT),
        2,
        r"--catalog is what --check checks the item ids against: add --check",
    ),
    Probe16(
        "check-shard-is-a-directory",
        7,
        ("logs", "info", *LOG, "--check"),
        1,
        r"shard-00001\.parquet: a directory, not a Parquet shard",
        _directory("log/experience/shard-00001.parquet"),
    ),
    # 8 -- chat and serve refuse a people's log whose newest shard is damaged
    *(
        Probe16(
            f"{command}-truncated-newest-shard",
            8,
            (command, *CAT, "--policy", "slot-filler", *PEOPLE, *extra),
            2,
            r"shard-00001\.parquet: not a readable Parquet shard .*the log is damaged",
            _truncate("people/experience/shard-00001.parquet", 100),
        )
        for command, extra in (("chat", ()), ("serve", ("--port", _FREE_PORT)))
    ),
    # 9 -- UT-Zappos inputs
    Probe16(
        "meta-contradicts-folders",
        9,
        _ZAP_BUILD,
        2,
        r"meta-data\.csv: row 2 \(line 3\), column 'SubCategory': 'Heels' contradicts the folder "
        r"tree, which files CID '1-1' under 'Flats'",
        _zappos_zip(_JPEGS, _META_MOVED),
    ),
    Probe16(
        "meta-is-a-directory",
        9,
        _ZAP_BUILD,
        2,
        r"meta-data\.csv: not a file",
        _both(_zappos_zip(_JPEGS), lambda w: (w / "zap" / "meta-data.csv").mkdir()),
    ),
)


@pytest.fixture(scope="module")
def assets(tmp_path_factory, toy_catalog, toy_encoder):
    """A saved toy catalog, a collected log, a 2-step bc run, a finished 1-round iterative run
    and a people's log of two sessions."""
    from textrec.io import claim_output_dir
    from textrec.learners.iterative import IterativeConfig, run_iterative
    from textrec.learners.run import TrainSpec, train_agent
    from textrec.logs.append import FinishedSession, SessionLog
    from textrec.logs.collect import collect

    root = tmp_path_factory.mktemp("assets16")
    toy_catalog.save(root / "cat")
    collect(toy_catalog, root / "log", 40, 5, chunk_sessions=10, progress=False)
    spec = TrainSpec(
        algo="bc",
        catalog=toy_catalog,
        out=root / "run",
        logs=root / "log",
        steps=2,
        eval_every=1,
        eval_sessions=20,
        progress=False,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            "textrec.language.encoder.load_or_pretrain", lambda *_, **__: copy.deepcopy(toy_encoder)
        )
        train_agent(spec)
        iterative = {"algo": "cql", "out": root / "it" / "unused", "eval_every": 0}
        run_iterative(
            TrainSpec(**{**spec.__dict__, **iterative, "logs": (root / "log",)}),
            IterativeConfig(rounds=1, steps_per_round=2, sessions_per_round=10, noise=(0.5,)),
            claim_output_dir(root / "it", "iterative"),
        )
    people = SessionLog(root / "people", toy_catalog)
    for n in range(2):
        ids = tuple(toy_catalog.item_ids[[n, n + 1]])
        people.append(FinishedSession(f"p-{n}", "chat", "boots", ids, ("for women", ""), True))
    return root


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe(probe, assets, toy_encoder, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(
        "textrec.language.encoder.load_or_pretrain", lambda *_, **__: copy.deepcopy(toy_encoder)
    )
    if probe.interrupt is not None:

        def ctrl_c(*args, **kwargs):
            if probe.swallowed:
                SIGNALLED.append(signal.SIGINT)  # what textrec.cli.main's handler records
                raise TypeError("Cannot compare structured arrays unless they have a common dtype")
            raise KeyboardInterrupt

        monkeypatch.setattr(probe.interrupt, ctrl_c)
    try:
        run_probe(probe, assets, tmp_path, capsys, monkeypatch)
    finally:
        SIGNALLED.clear()  # no later command may take an error of its own for a Ctrl-C


def test_probe_table_covers_every_cli_cause():
    assert {p.klass for p in PROBES} == set(range(1, 10))


@CTRL_C_IGNORED
def test_a_real_ctrl_c_in_simulate_says_nothing_was_saved(tmp_path, toy_catalog):
    toy_catalog.save(tmp_path / "cat")
    args = ["simulate", "--catalog", str(tmp_path / "cat"), "--sessions", "1000000"]
    proc = _cli(
        *args,
        "--batch-size",
        "16",
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, like a job in a terminal
    )
    try:
        assert proc.stderr.read(1)  # the progress bar is up: the sessions are being played
        os.killpg(proc.pid, signal.SIGINT)
        err = proc.stderr.read()
        assert proc.wait() == 130, err
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # the progress bar may end it without a newline
    assert "interrupted: nothing was saved (simulate writes no files)" in last
    assert last.endswith("again")


# ------------------------------------------------------------------------------- cause 10
@pytest.mark.parametrize("parent_alive", [True, False], ids=["parent-alive", "parent-gone"])
def test_a_worker_ends_itself_when_its_parent_is_gone(tmp_path, parent_alive):
    """The watchdog of :func:`textrec.processes.init_worker` watches the PID its parent passed:
    a worker started after its parent died ends at once instead of waiting for PID 1."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a PID that was a process and is no more
    parent = "os.getppid()" if parent_alive else str(gone.pid)
    code = (
        "import os, time\n"
        "from textrec.processes import init_worker\n"
        f"init_worker({parent})\n"
        "time.sleep(600)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.PIPE)
    try:
        if parent_alive:
            time.sleep(2)
            assert proc.poll() is None, proc.stderr.read()
        else:
            assert proc.wait(timeout=120) == 1
            assert proc.stderr.read() == b""
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------------------- cause 11
def test_the_machine_record_names_code_versions_and_cpu_kernels():
    from textrec.machine import machine_record

    record = machine_record()
    assert set(record.versions) == {"textrec", "python", "torch", "numpy", "pyarrow"}
    assert record.versions["torch"] == torch.__version__
    assert record.cpu_capability == torch.backends.cpu.get_cpu_capability()
    assert record.torch_threads == torch.get_num_threads() and record.cpus >= 1
    assert record.git_commit is None or len(record.git_commit) == 40
    summary = record.summary()
    assert f"torch CPU kernels {record.cpu_capability}" in summary
    assert json.loads(json.dumps(record.to_json())) == record.to_json()


@pytest.mark.parametrize(
    ("seconds", "wall"),
    [
        ((96.2,), "wall time 96 s over 1 finished call(s) (96 s;"),
        ((96.2, 0.4), "wall time 97 s over 2 finished call(s) (96 s + 0 s;"),
    ],
    ids=["one-call", "resumed-after-it-finished"],
)
def test_run_json_keeps_every_call_and_the_report_their_total(tmp_path, seconds, wall):
    from textrec.reproduce import RUN_FILE, ReproduceConfig, _finish_call, _start, run_notes

    config = ReproduceConfig.quick()
    _start(tmp_path, config, resume=False)
    for s in seconds:
        _start(tmp_path, config, resume=True)
        calls = _finish_call(tmp_path, s)
    run = json.loads((tmp_path / RUN_FILE).read_text())
    assert [c["seconds"] for c in run["calls"]] == list(seconds)
    assert all(c["cpu_capability"] and c["versions"]["torch"] for c in run["calls"])
    notes = run_notes(calls)
    assert notes[0].startswith(f"- {wall}")
    assert notes[1].startswith("- made on: ") and "torch CPU kernels" in notes[1]
    assert np.isclose(sum(c["seconds"] for c in calls), sum(seconds))
