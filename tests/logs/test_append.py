"""People's sessions appended to an experience log: rows, rewards, atomicity, the manifest."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pyarrow.parquet as pq
import pytest

from textrec.errors import InputError
from textrec.language.speech import build_sentence_bank
from textrec.logs import ExperienceReader, check_log, read_manifest
from textrec.logs.append import PEOPLE, FinishedSession, SessionLog, session_rows
from textrec.logs.reader import list_shards, read_experience
from textrec.logs.schema import ExperienceBatch
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


def test_a_batch_of_sessions_is_one_shard_that_reads_whole(tmp_path, toy_catalog):
    """Sessions appended together are one shard holding their chunks (named as compaction
    names merged shards), with the rows, devices and dialogue columns separate appends give."""
    batch = [
        replace(
            _session(toy_catalog, sid="web-a", device="web"), acts=("feedback",) * 3 + ("accept",)
        ),
        _session(toy_catalog, found=False, opening="boots", sid="chat-b"),
        FinishedSession("web-silent", "web", "", ("toy-0001",), ("",), False),  # not logged
        _session(toy_catalog, sid="web-c", device="web", n=2),
    ]
    log = SessionLog(tmp_path / "log", toy_catalog)
    path = log.append_many(batch)
    assert path.name == "shard-00000-00002.parquet"
    assert [p.name for p in list_shards(tmp_path / "log")] == [path.name]
    one_by_one = SessionLog(tmp_path / "single", toy_catalog)
    for session in batch:
        one_by_one.append(session)
    assert len(list_shards(tmp_path / "single")) == 3
    for root in ("log", "single"):
        report = check_log(tmp_path / root, toy_catalog)
        assert report.ok and report.n_sessions == 3, report.problems
    together = read_experience(path)
    apart = ExperienceBatch.concat([read_experience(p) for p in list_shards(tmp_path / "single")])
    for name in ("session_id", "device_id", "turn", "item_id", "feedback", "reward"):
        np.testing.assert_array_equal(getattr(together, name), getattr(apart, name))
    acts = pq.read_table(path, columns=["act"]).column("act").to_pylist()
    assert acts[:4] == ["feedback", "feedback", "feedback", "accept"] and set(acts[4:]) == {""}
    assert read_manifest(tmp_path / "log").chunks_done == (0, 1, 2)
    assert log.append(_session(toy_catalog, sid="chat-d")).name == "shard-00003.parquet"
    assert log.n_sessions() == 4 and check_log(tmp_path / "log", toy_catalog).ok


@pytest.mark.parametrize("killed", ["writing the shard", "listing the shard"])
def test_a_batch_killed_mid_append_loses_no_listed_session(
    tmp_path, toy_catalog, monkeypatch, killed
):
    """A kill while a batch's shard is written leaves the log as it was (its chunks reused by
    the next append); a kill after it was written, before it was listed, leaves it for the next
    append to list. The log checks clean at every point and no session appears twice."""
    from textrec.logs import append

    log = SessionLog(tmp_path / "log", toy_catalog)
    log.append(_session(toy_catalog, sid="chat-a"))
    batch = [_session(toy_catalog, sid=f"web-{i}", device="web") for i in range(3)]
    manifests = []
    real_shard, real_manifest = append.write_shard, append.write_manifest

    def interrupted_shard(path, rows, **kw):
        raise KeyboardInterrupt

    def interrupted_listing(root, manifest):
        manifests.append(manifest)
        if len(manifests) == 2:  # after the announcement and the shard
            raise KeyboardInterrupt
        real_manifest(root, manifest)

    if killed == "writing the shard":
        monkeypatch.setattr(append, "write_shard", interrupted_shard)
    else:
        monkeypatch.setattr(append, "write_manifest", interrupted_listing)
    with pytest.raises(KeyboardInterrupt):
        log.append_many(batch)
    monkeypatch.setattr(append, "write_shard", real_shard)
    monkeypatch.setattr(append, "write_manifest", real_manifest)
    report = check_log(tmp_path / "log", toy_catalog)
    assert report.ok, report.problems
    path = log.append_many([_session(toy_catalog, sid="chat-z")])
    manifest = read_manifest(tmp_path / "log")
    shards = list_shards(tmp_path / "log")
    ids = {str(i) for p in shards for i in read_experience(p).session_id}
    if killed == "writing the shard":  # nothing of the batch: its chunk numbers reused
        assert path.name == "shard-00001.parquet" and manifest.chunks_done == (0, 1)
        assert ids == {"chat-a", "chat-z"}
    else:  # the batch's shard was whole: listed by the next append
        assert path.name == "shard-00004.parquet" and manifest.chunks_done == (0, 1, 2, 3, 4)
        assert ids == {"chat-a", "web-0", "web-1", "web-2", "chat-z"}
    report = check_log(tmp_path / "log", toy_catalog)
    assert report.ok and report.n_sessions == len(ids) and manifest.complete


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
