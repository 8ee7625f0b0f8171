"""People's sessions appended to an experience log: rows, rewards, atomicity, the manifest."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest

from textrec.errors import InputError
from textrec.language.speech import build_sentence_bank
from textrec.logs import ExperienceReader, check_log, read_manifest
from textrec.logs.append import PEOPLE, FinishedSession, SessionLog, session_rows
from textrec.logs.reader import list_shards, read_experience
from textrec.logs.writer import write_manifest, write_shard
from textrec.simulator import BatchedSimulator
from textrec.simulator.task import TaskConfig


def _session(catalog, found=True, opening="", n=4, sid="chat-1", device="chat"):
    ids = catalog.item_ids[catalog.pool("all")[:n]].tolist()
    feedback = [f"sentence {i}" for i in range(n)]
    if found:
        feedback[-1] = ""
    return FinishedSession(sid, device, opening, tuple(ids), tuple(feedback), found)


def test_found_session_is_scored_as_the_simulator_scores_its_target(toy_catalog):
    session = _session(toy_catalog, found=True, n=5)
    rows = session_rows(session, toy_catalog, device_id=0)
    index = {s: i for i, s in enumerate(toy_catalog.item_ids.tolist())}
    items = np.array([index[s] for s in session.shown])
    bank = build_sentence_bank(toy_catalog.schema)
    target = items[-1:]
    if not (toy_catalog.labels[target] >= 0).any():
        pytest.skip("the accepted toy item has no label")
    sim = BatchedSimulator(toy_catalog, "all", bank)
    sim.reset(1, np.random.default_rng(0), targets=target)
    expected = [float(sim.step(items[t : t + 1]).reward[0]) for t in range(len(items))]
    np.testing.assert_allclose(rows.reward, expected, atol=1e-6)
    assert rows.terminated.tolist() == [False] * 4 + [True]
    assert not rows.truncated.any()
    assert rows.feedback[-1] == "" and rows.turn.tolist() == [1, 2, 3, 4, 5]


def test_abandoned_session_is_a_failure_with_the_full_turn_cost(toy_catalog):
    task = TaskConfig()
    rows = session_rows(_session(toy_catalog, found=False, n=3), toy_catalog, 2, task)
    offset, penalty = task.reward_offset, task.failure_penalty
    np.testing.assert_allclose(rows.reward, [offset, offset, offset + penalty])
    assert rows.truncated.tolist() == [False, False, True] and not rows.terminated.any()
    assert (rows.device_id == 2).all()


def test_opening_sentence_is_a_turn_zero_row(toy_catalog):
    rows = session_rows(_session(toy_catalog, opening="boots for women"), toy_catalog, 0)
    assert rows.turn.tolist()[:2] == [0, 1]
    assert rows.item_id[0] == "" and rows.feedback[0] == "boots for women"
    assert rows.reward[0] == 0 and not rows.terminated[0]
    rows.check_complete()


def test_bad_sessions_are_refused(toy_catalog):
    with pytest.raises(InputError, match="'nope' is not an item of catalog"):
        session_rows(FinishedSession("s", "chat", "", ("nope",), ("",), True), toy_catalog, 0)
    with pytest.raises(InputError, match="accepted"):
        FinishedSession("s", "chat", "", ("toy-0001",), ("more",), True)
    with pytest.raises(InputError, match="feedback entries"):
        FinishedSession("s", "chat", "", ("toy-0001",), (), False)
    with pytest.raises(InputError, match="no item"):
        FinishedSession("s", "chat", "", (), (), False)


def test_appended_sessions_form_a_valid_log_learners_can_read(tmp_path, toy_catalog):
    log = SessionLog(tmp_path / "log", toy_catalog)
    log.append(_session(toy_catalog, sid="chat-a", opening="sandals"))
    log.append(_session(toy_catalog, found=False, sid="web-b", device="web"))
    report = check_log(tmp_path / "log", toy_catalog)
    assert report.ok, report.problems
    assert report.n_sessions == 2
    manifest = read_manifest(tmp_path / "log")
    assert manifest.sentences["source"] == PEOPLE
    assert [d["name"] for d in manifest.devices] == ["chat", "web"]
    assert manifest.complete and manifest.n_sessions == 2
    episodes = list(ExperienceReader(tmp_path / "log", toy_catalog, batch_size=8).episodes())
    assert sum(len(e.session_id) for e in episodes) == 2
    web = read_experience(list_shards(tmp_path / "log")[1])
    assert (web.device_id == 1).all()


def test_silent_session_is_not_logged(tmp_path, toy_catalog):
    log = SessionLog(tmp_path / "log", toy_catalog)
    silent = FinishedSession("s", "web", "", ("toy-0001",), ("",), False)
    assert log.append(silent) is None
    assert log.n_sessions() == 0


def test_a_kill_between_shard_and_manifest_loses_nothing(tmp_path, toy_catalog):
    log = SessionLog(tmp_path / "log", toy_catalog)
    log.append(_session(toy_catalog, sid="chat-a"))
    before = read_manifest(tmp_path / "log")
    # The next session's shard is in place but the process died before the manifest was updated.
    rows = session_rows(_session(toy_catalog, sid="chat-b"), toy_catalog, 0)
    write_shard(tmp_path / "log" / "experience" / "shard-00001.parquet", rows)
    write_manifest(tmp_path / "log", replace(before, n_sessions=2))  # as append leaves it
    assert check_log(tmp_path / "log", toy_catalog).ok
    log.append(_session(toy_catalog, sid="chat-c"))
    manifest = read_manifest(tmp_path / "log")
    assert manifest.chunks_done == (0, 1, 2) and manifest.n_sessions == 3
    report = check_log(tmp_path / "log", toy_catalog)
    assert report.ok and report.n_sessions == 3


def test_a_kill_before_the_shard_is_written_reuses_its_number(tmp_path, toy_catalog):
    log = SessionLog(tmp_path / "log", toy_catalog)
    log.append(_session(toy_catalog, sid="chat-a"))
    announced = replace(read_manifest(tmp_path / "log"), n_sessions=2)  # shard 1 never written
    write_manifest(tmp_path / "log", announced)
    assert check_log(tmp_path / "log", toy_catalog).ok
    path = log.append(_session(toy_catalog, sid="chat-b"))
    assert path.name == "shard-00001.parquet"
    manifest = read_manifest(tmp_path / "log")
    assert manifest.chunks_done == (0, 1) and manifest.complete
    assert check_log(tmp_path / "log", toy_catalog).ok and log.n_sessions() == 2


def test_concurrent_appends_each_get_their_own_shard(tmp_path, toy_catalog):
    log = SessionLog(tmp_path / "log", toy_catalog)
    threads = [
        threading.Thread(target=log.append, args=(_session(toy_catalog, sid=f"web-{i}"),))
        for i in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = check_log(tmp_path / "log", toy_catalog)
    assert report.ok, report.problems
    assert report.n_sessions == 12


def test_refuses_a_collected_log_and_another_catalog(tmp_path, toy_catalog):
    from tests.conftest import make_toy_catalog
    from textrec.logs.collect import collect

    collect(toy_catalog, tmp_path / "sim", 4, seed=0, chunk_sessions=4, progress=False)
    with pytest.raises(InputError, match="collected"):
        SessionLog(tmp_path / "sim", toy_catalog)
    SessionLog(tmp_path / "people", toy_catalog).append(_session(toy_catalog))
    with pytest.raises(InputError, match="log of catalog"):
        SessionLog(tmp_path / "people", make_toy_catalog(seed=1))
