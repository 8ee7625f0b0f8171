"""Batch sources: logged dialogues as the log holds them, reproducible draws, refused logs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import make_toy_catalog
from textrec.errors import InputError
from textrec.learners.batches import LogDialogues, SimulatorEpisodes
from textrec.logs.reader import list_shards, read_experience, shown_actions
from textrec.logs.schema import ExperienceBatch


@pytest.fixture()
def source(toy_log, toy_catalog, toy_encoder) -> LogDialogues:
    return LogDialogues(toy_log, toy_catalog, toy_encoder.vocab, 16)


def _rows(log) -> ExperienceBatch:
    return ExperienceBatch.concat([read_experience(p) for p in list_shards(log)])


def test_batches_hold_the_logged_dialogues(source, toy_log, toy_catalog, toy_encoder):
    rows = _rows(toy_log)
    assert source.n_sessions == len(set(rows.session_id.tolist())) == 60
    assert source.n_logged_turns == int((rows.turn > 0).sum())
    batch = source.sample(np.random.default_rng(0))
    d, vocab = batch.dialogues, toy_encoder.vocab
    offsets = rows.session_offsets()
    sessions = {
        tuple(rows.item_id[a:b]): (rows.feedback[a:b], rows.reward[a:b], rows.terminated[a:b])
        for a, b in zip(offsets[:-1], offsets[1:], strict=True)
    }
    actions = shown_actions(toy_catalog)
    for i in range(len(d.items)):
        n = int(d.n_turns[i])
        assert (d.items[i, n:] == -1).all() and not d.mask[i, n:].any()
        shown = tuple(toy_catalog.item_ids[d.items[i, :n]].tolist())
        feedback, reward, terminated = sessions[shown]
        np.testing.assert_array_equal(batch.rewards[i, :n], reward)
        np.testing.assert_array_equal(batch.terminated[i, :n], terminated)
        np.testing.assert_array_equal(batch.actions[i, :n], actions[d.items[i, :n]])
        for t in range(n):
            row = d.feedback[i, t]
            if feedback[t] == "":
                assert row == -1
            else:
                assert d.tokens[row, : d.lengths[row]].tolist() == vocab.encode(feedback[t])


def test_each_distinct_sentence_is_tokenised_once(source, toy_log):
    said = {s for s in _rows(toy_log).feedback.tolist() if s}
    assert len(source.tokens) == len(said)
    pairs = {tuple(t[:n]) for t, n in zip(source.tokens, source.lengths, strict=True)}
    assert len(pairs) == len(said)


def test_same_generator_same_batch(source):
    a = source.sample(np.random.default_rng(5))
    b = source.sample(np.random.default_rng(5))
    c = source.sample(np.random.default_rng(6))
    np.testing.assert_array_equal(a.dialogues.items, b.dialogues.items)
    np.testing.assert_array_equal(a.rewards, b.rewards)
    assert not np.array_equal(a.dialogues.items[:, 0], c.dialogues.items[:, 0])


def test_needs_no_oracle_sidecar(toy_log, toy_catalog, toy_encoder, tmp_path):
    copy = shutil.copytree(toy_log, tmp_path / "log")
    shutil.rmtree(copy / "oracle")
    batch = LogDialogues(copy, toy_catalog, toy_encoder.vocab, 4).sample(np.random.default_rng(0))
    assert batch.n_turns > 0


def test_refuses_a_log_of_another_catalog(toy_log, toy_encoder, toy_catalog):
    other = make_toy_catalog(seed=1)
    with pytest.raises(InputError) as err:
        LogDialogues(toy_log, other, toy_encoder.vocab)
    message = str(err.value)
    assert "manifest.json" in message
    assert toy_catalog.fingerprint in message and other.fingerprint in message


def test_missing_and_damaged_logs_name_the_file(toy_log, toy_catalog, toy_encoder, tmp_path):
    with pytest.raises(InputError, match="nowhere"):
        LogDialogues(tmp_path / "nowhere", toy_catalog, toy_encoder.vocab)
    copy = shutil.copytree(toy_log, tmp_path / "log")
    (copy / "manifest.json").unlink()
    with pytest.raises(InputError, match="manifest.json"):
        LogDialogues(copy, toy_catalog, toy_encoder.vocab)
    damaged = shutil.copytree(toy_log, tmp_path / "damaged")
    shard = list_shards(damaged)[1]
    shard.write_bytes(shard.read_bytes()[:200])
    with pytest.raises(InputError, match=shard.name):
        LogDialogues(damaged, toy_catalog, toy_encoder.vocab)
    with pytest.raises(InputError, match="n_dialogues"):
        LogDialogues(toy_log, toy_catalog, toy_encoder.vocab, 0)


def test_simulator_episodes_keep_only_the_sentences_said(make_recommender, train_sim):
    rec = make_recommender()
    batch = SimulatorEpisodes(train_sim, rec.policy(sample=True), 8).sample(
        np.random.default_rng(0)
    )
    d = batch.dialogues
    used = np.unique(d.feedback[d.feedback >= 0])
    np.testing.assert_array_equal(used, np.arange(len(d.tokens)))
