"""``textrec chat`` driven through stdin, and its exits (found, Ctrl-D, Ctrl-C, bad options)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.conftest import CTRL_C_IGNORED
from textrec.cli import app, main
from textrec.logs import check_log
from textrec.logs.reader import list_shards, read_experience


@pytest.fixture(scope="module")
def saved(tmp_path_factory, toy_catalog, toy_recommender):
    """A saved toy catalog and recommender, as ``--catalog`` and ``--policy`` take them."""
    root = tmp_path_factory.mktemp("chat")
    toy_catalog.save(root / "catalog")
    toy_recommender.save(root / "agent")
    return str(root / "catalog"), str(root / "agent")


def _chat(saved, log_dir, lines, *extra):
    catalog, policy = saved
    args = ["chat", "--catalog", catalog, "--policy", policy, "--json", *extra]
    if log_dir is not None:
        args += ["--log-dir", str(log_dir)]
    return CliRunner().invoke(app, args, input="".join(f"{x}\n" for x in lines))


def _events(result):
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_chat_until_found_is_logged(tmp_path, saved, toy_catalog):
    result = _chat(saved, tmp_path / "log", ["boots for women", "with a round toe", "that's it"])
    assert result.exit_code == 0, result.output
    events = _events(result)
    items = [e for e in events if e["event"] == "item"]
    assert [e["turn"] for e in items] == [1, 2]
    assert all("category" in e["attributes"] for e in items)
    end = events[-1]
    assert end["event"] == "end" and end["found"] and not end["left"]
    (rows,) = [read_experience(p) for p in list_shards(tmp_path / "log")]
    assert rows.feedback.tolist() == ["boots for women", "with a round toe", ""]
    assert rows.item_id.tolist()[1:] == [e["item_id"] for e in items]
    assert rows.terminated[-1]
    assert check_log(tmp_path / "log", toy_catalog).ok


def test_end_of_input_leaves_and_logs_an_abandoned_session(tmp_path, saved):
    result = _chat(saved, tmp_path / "log", ["", "sandals"])
    assert result.exit_code == 0, result.output
    end = _events(result)[-1]
    assert end["left"] and not end["found"] and end["turns"] == 2
    (rows,) = [read_experience(p) for p in list_shards(tmp_path / "log")]
    assert rows.truncated[-1] and rows.feedback.tolist() == ["sandals", ""]


def test_bad_lines_are_refused_and_the_chat_goes_on(tmp_path, saved):
    result = _chat(saved, None, ["", "in\x00black", "x" * 400, "", "sandals", "perfect"])
    assert result.exit_code == 0, result.output
    events = _events(result)
    errors = [e["detail"] for e in events if e["event"] == "error"]
    assert len(errors) == 3
    assert "control" in errors[0] and "at most 300" in errors[1] and "empty" in errors[2]
    assert events[-1]["found"] and events[-1]["logged"] is None


def test_the_prompted_chat_shows_attributes_and_where_the_picture_is(saved):
    catalog, policy = saved
    result = CliRunner().invoke(
        app, ["chat", "--catalog", catalog, "--policy", policy], input="boots\nperfect\n"
    )
    assert result.exit_code == 0, result.output
    assert "What are you looking for?" in result.stdout
    assert "Item 1 of at most 50" in result.stdout and "picture" in result.stdout
    assert "Found it" in result.stdout


def _cli(*args, **kwargs):
    code = "from textrec.cli import main; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, text=True, **kwargs)


@CTRL_C_IGNORED  # the chat inherits an ignored SIGINT: Ctrl-C cannot be simulated then
def test_ctrl_c_logs_the_session_and_exits_130(tmp_path, saved):
    catalog, policy = saved
    proc = _cli(
        "chat",
        "--catalog",
        catalog,
        "--policy",
        policy,
        "--json",
        "--log-dir",
        str(tmp_path / "log"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write("boots\nfor women\n")
    proc.stdin.flush()
    shown = 0
    while shown < 2:  # wait until the second item is on show
        shown += json.loads(proc.stdout.readline())["event"] == "item"
    proc.send_signal(signal.SIGINT)
    # Wait with stdin still open: closing it first (as communicate() does) races the signal, and
    # a chat that reads end-of-input before its Ctrl-C is handled ends normally, exit 0.
    proc.wait(timeout=120)
    out, err = proc.communicate()
    assert proc.returncode == 130, err
    end = json.loads(out.splitlines()[-1])
    assert end["event"] == "end" and end["left"] and end["logged"]
    (rows,) = [read_experience(p) for p in list_shards(tmp_path / "log")]
    assert rows.feedback.tolist() == ["boots", "for women", ""] and rows.truncated[-1]


def test_bad_options_exit_2_with_one_line(tmp_path, saved, capsys):
    catalog, policy = saved
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    for extra, why in [
        (["--policy", str(tmp_path)], "saved recommender"),
        (["--policy", policy, "--image", "bogus"], "--image"),
        (["--policy", policy, "--log-dir", str(tmp_path / "foreign")], "not empty"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            main(["chat", "--catalog", catalog, *extra])
        err = capsys.readouterr().err
        assert exit_.value.code == 2, (extra, err)
        assert why in err and len(err.strip().splitlines()) == 1


def test_serve_refuses_a_port_in_use(saved, capsys):
    import socket

    catalog, policy = saved
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            main(["serve", "--catalog", catalog, "--policy", policy, "--port", str(port)])
    assert exit_.value.code == 2
    assert "cannot listen" in capsys.readouterr().err
