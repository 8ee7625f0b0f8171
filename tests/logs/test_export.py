"""``textrec logs export``: a log as a Minari dataset and as a d3rlpy dataset file, read back with
h5py, and loaded (and trained on) in each library when it is installed."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from tests.cli_run import run_cli
from textrec.errors import InputError
from textrec.logs.append import FinishedSession, SessionLog
from textrec.logs.export import export_log
from textrec.logs.reader import list_shards, read_experience, shown_actions
from textrec.logs.schema import ExperienceBatch


def _rows(log) -> ExperienceBatch:
    return ExperienceBatch.concat([read_experience(p) for p in list_shards(log)])


@pytest.fixture()
def served_log(tmp_path, toy_catalog):
    """Three served sessions, one with an opening sentence and one abandoned."""
    log = SessionLog(tmp_path / "served", toy_catalog)
    ids = toy_catalog.item_ids[:4].tolist()
    said = ("x", "no laces", "")
    log.append(FinishedSession("a", "web", "boots please", tuple(ids[:3]), said, True))
    log.append(FinishedSession("b", "web", "", tuple(ids[1:3]), ("round toe", ""), True))
    log.append(FinishedSession("c", "chat", "", tuple(ids), ("a", "b", "c", "for men"), False))
    return tmp_path / "served"


def test_minari_export_holds_each_session_as_an_episode(served_log, toy_catalog, tmp_path):
    result = export_log(served_log, toy_catalog, "minari", tmp_path / "m")
    assert (result.episodes, result.steps) == (3, 9)
    actions = shown_actions(toy_catalog)
    meta = json.loads((tmp_path / "m" / "data" / "metadata.json").read_text())
    assert json.loads(meta["action_space"])["nvec"] == list(toy_catalog.schema.sizes)
    assert meta["total_episodes"] == 3 and meta["total_steps"] == 9
    with h5py.File(tmp_path / "m" / "data" / "main_data.hdf5") as h5:
        first = h5["episode_0"]
        said = [s.decode() for s in first["observations"][()]]
        assert said == ["boots please", "x", "no laces", ""]
        np.testing.assert_array_equal(first["actions"][()], actions[:3])
        assert first["terminations"][()].tolist() == [False, False, True]
        last = h5["episode_2"]
        assert [s.decode() for s in last["observations"][()]] == ["", "a", "b", "c", "for men"]
        assert last["truncations"][()].tolist() == [False, False, False, True]
        rows = _rows(served_log)
        np.testing.assert_array_equal(last["rewards"][()], rows.reward[rows.session_id == "c"])


def test_d3rlpy_export_encodes_what_was_said_so_far(served_log, toy_catalog, tmp_path):
    export_log(served_log, toy_catalog, "d3rlpy", tmp_path / "d.h5")
    with h5py.File(tmp_path / "d.h5") as h5:
        vocab = [w.decode() for w in h5["textrec_vocabulary"][()]]
        obs = h5["observations_0"][()]
        assert obs.shape == (3, len(vocab))
        boots, laces = vocab.index("boots"), vocab.index("laces")
        assert obs[:, boots].tolist() == [1, 1, 1] and obs[:, laces].tolist() == [0, 0, 1]
        assert h5["actions_0"][()].ravel().tolist() == [0, 1, 2]
        assert bool(h5["terminated_0"][()]) and not bool(h5["terminated_2"][()])
        assert int(h5["num_episodes"][()]) == 3


def test_refuses_an_existing_output_and_an_unknown_format(served_log, toy_catalog, tmp_path):
    (tmp_path / "mine.h5").write_text("a user's file")
    with pytest.raises(InputError, match="exists"):
        export_log(served_log, toy_catalog, "d3rlpy", tmp_path / "mine.h5")
    assert (tmp_path / "mine.h5").read_text() == "a user's file"
    with pytest.raises(InputError, match="--format"):
        export_log(served_log, toy_catalog, "rlds", tmp_path / "x")


def test_minari_loads_the_export(served_log, toy_catalog, tmp_path):
    minari = pytest.importorskip("minari")
    from gymnasium import spaces

    export_log(served_log, toy_catalog, "minari", tmp_path / "m")
    dataset = minari.MinariDataset(tmp_path / "m" / "data")
    assert isinstance(dataset.observation_space, spaces.Text)
    assert isinstance(dataset.action_space, spaces.MultiDiscrete)
    assert dataset.total_episodes == 3 and dataset.total_steps == 9
    episodes = list(dataset.iterate_episodes())
    assert episodes[0].observations == ["boots please", "x", "no laces", ""]
    assert all(dataset.action_space.contains(a) for e in episodes for a in e.actions)


def test_d3rlpy_loads_and_trains_on_the_export(served_log, toy_catalog, tmp_path):
    d3rlpy = pytest.importorskip("d3rlpy")
    export_log(served_log, toy_catalog, "d3rlpy", tmp_path / "d.h5")
    with (tmp_path / "d.h5").open("rb") as f:
        buffer = d3rlpy.dataset.ReplayBuffer.load(f, d3rlpy.dataset.InfiniteBuffer())
    assert [e.size() for e in buffer.episodes] == [3, 2, 4]
    assert buffer.transition_count == 8  # a timeout's last step has no next state in d3rlpy
    cql = d3rlpy.algos.DiscreteCQLConfig(batch_size=4).create(device="cpu:0")
    cql.fit(
        buffer,
        n_steps=2,
        n_steps_per_epoch=2,
        show_progress=False,
        logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
    )
    assert cql.predict(buffer.episodes[0].observations[:1]).shape == (1,)


def test_cli_export(served_log, toy_catalog, tmp_path, capsys):
    catalog_dir = toy_catalog.save(tmp_path / "catalog")
    argv = ["logs", "export", str(served_log), "--catalog", str(catalog_dir)]
    out = run_cli(capsys, [*argv, "--format", "minari", "--out", str(tmp_path / "m"), "--json"])
    assert out.code == 0, out.err_text
    assert json.loads(out.out)["episodes"] == 3
    bad = run_cli(capsys, [*argv, "--format", "rlds", "--out", str(tmp_path / "r")])
    assert bad.code == 2 and "--format must be one of minari, d3rlpy" in bad.err_text
