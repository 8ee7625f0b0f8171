"""``textrec train --algo bc`` on simulated sessions together with people's served sessions,
whose log carries the optional dialogue columns (act, understood)."""

from __future__ import annotations

import copy
import json

import pyarrow.parquet as pq
import pytest

from textrec.agent import Recommender
from textrec.learners.run import TrainSpec, train_agent
from textrec.logs import check_log
from textrec.logs.append import FinishedSession, SessionLog
from textrec.logs.reader import list_shards, read_experience


@pytest.fixture()
def people_log(tmp_path, toy_catalog):
    """Three served sessions (found, abandoned, with an opening), with their dialogue acts."""
    log = SessionLog(tmp_path / "people", toy_catalog)
    ids = toy_catalog.item_ids.tolist()
    said = json.dumps({"kept": ["gender=Women"], "dropped": [], "unsupported": []})
    sessions = [
        FinishedSession("web-a", "web", "", tuple(ids[:3]), ("for women", "hello?", ""), True,
                        ("feedback", "off_topic", "accept"), (said, "", "")),
        FinishedSession("web-b", "web", "boots", tuple(ids[3:5]), ("no boots", "go back"), False,
                        ("feedback", "go_back"), (said, ""), "describe", said),
        FinishedSession("chat-c", "chat", "", tuple(ids[5:7]), ("sandals", ""), True),
    ]  # fmt: skip
    for s in sessions:
        log.append(s)
    return log.root


def test_people_log_has_dialogue_columns_and_checks_clean(people_log, toy_catalog):
    assert check_log(people_log, toy_catalog).ok
    shards = list_shards(people_log)
    tables = [pq.read_table(p) for p in shards]
    first = tables[0].to_pydict()
    assert first["act"] == ["feedback", "off_topic", "accept"]
    assert json.loads(first["understood"][0])["kept"] == ["gender=Women"]
    assert tables[1].to_pydict()["act"] == ["describe", "feedback", "go_back"]
    assert "act" not in tables[2].column_names  # a session without acts: the old schema
    assert read_experience(shards[0]).feedback.tolist() == ["for women", "hello?", ""]


def test_bc_trains_on_simulated_and_served_sessions_together(
    monkeypatch, toy_encoder, toy_catalog, toy_log, people_log, tmp_path
):
    monkeypatch.setattr(
        "textrec.language.encoder.load_or_pretrain",
        lambda schema, **_: copy.deepcopy(toy_encoder),
    )
    spec = TrainSpec(
        algo="bc",
        catalog=toy_catalog,
        out=tmp_path / "run",
        logs=(toy_log, people_log),
        steps=4,
        eval_every=2,
        eval_sessions=24,
        overrides={"n_dialogues": 6},
        progress=False,
    )
    result = train_agent(spec)
    assert [int(r["step"]) for r in result.curve] == [2, 4]
    assert all(v == v for v in result.last_update.values())  # finite losses, no NaN
    Recommender.load(result.agent_dir, toy_catalog)
