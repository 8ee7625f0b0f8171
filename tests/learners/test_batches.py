"""Batch sources: logged dialogues as the log holds them, in memory or streamed, reproducible and
resumable draws, refused logs."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.conftest import make_toy_catalog
from tests.learners.conformance import check_resume_after_kill
from textrec.errors import InputError
from textrec.learners.batches import LogDialogues, SimulatorEpisodes
from textrec.learners.registry import LEARNERS
from textrec.logs.reader import list_shards, read_experience, shown_actions
from textrec.logs.schema import ExperienceBatch


@pytest.fixture()
def source(toy_log, toy_catalog, toy_encoder) -> LogDialogues:
    return LogDialogues(toy_log, toy_catalog, toy_encoder.vocab, 16)


def _rows(log) -> ExperienceBatch:
    return ExperienceBatch.concat([read_experience(p) for p in list_shards(log)])


@pytest.fixture()
def streamed(toy_log, toy_catalog, toy_encoder) -> LogDialogues:
    """The toy log (60 sessions) streamed through a 20-dialogue buffer, 8 per batch."""
    return LogDialogues(toy_log, toy_catalog, toy_encoder.vocab, 8, buffer_dialogues=20)


def _shown(batch, catalog) -> list[tuple[str, ...]]:
    """Each dialogue of ``batch`` as the tuple of item ids it showed."""
    d = batch.dialogues
    return [tuple(catalog.item_ids[d.items[i, :n]].tolist()) for i, n in enumerate(d.n_turns)]


@pytest.mark.parametrize("streaming", [False, True])
def test_batches_hold_the_logged_dialogues(
    streaming, source, streamed, toy_log, toy_catalog, toy_encoder
):
    source = streamed if streaming else source
    assert source.streamed == streaming
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


@pytest.mark.parametrize("streaming", [False, True])
def test_each_distinct_sentence_is_tokenised_once(streaming, source, streamed, toy_log):
    source = streamed if streaming else source
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


def _draws(source, toy_catalog, seed: int, start: int, n: int) -> list[tuple[str, ...]]:
    """The dialogues of ``n`` batches from step ``start`` of a run seeded with ``seed``."""
    source.position(seed, start)
    rng = np.random.default_rng(0)  # a streamed log draws from the run's seed, not from rng
    return [s for _ in range(n) for s in _shown(source.sample(rng), toy_catalog)]


def test_a_streamed_epoch_draws_every_session_once_then_reshuffles(streamed, toy_catalog):
    per_epoch = 60 // 8  # the short last batch is dropped
    two = _draws(streamed, toy_catalog, 3, 0, 2 * per_epoch)
    first, second = two[: 8 * per_epoch], two[8 * per_epoch :]
    assert len(set(first)) == len(set(second)) == 56
    assert first != second
    assert _draws(streamed, toy_catalog, 3, 0, 3) == first[:24]  # same seed, same stream
    assert _draws(streamed, toy_catalog, 4, 0, 3) != first[:24]


def test_a_streamed_log_resumes_where_it_stopped(streamed, toy_catalog):
    whole = _draws(streamed, toy_catalog, 3, 0, 12)
    for start in (4, 7, 9):  # mid-epoch, at the epoch boundary, in the second epoch
        assert _draws(streamed, toy_catalog, 3, start, 12 - start) == whole[8 * start :]


def test_a_killed_and_resumed_run_on_a_streamed_log_equals_the_whole_run(
    make_recommender, toy_log, toy_catalog, tmp_path
):
    spec = LEARNERS["cql"]
    check_resume_after_kill(
        lambda seed: spec.build(make_recommender(seed=seed), {"n_dialogues": 8}, seed=seed),
        lambda learner: LogDialogues(
            toy_log, toy_catalog, learner.recommender.vocab, 8, buffer_dialogues=20
        ),
        tmp_path,
        n_steps=10,  # killed after step 9: the second epoch, two batches in
    )


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
    with pytest.raises(InputError, match="buffer_dialogues"):
        LogDialogues(toy_log, toy_catalog, toy_encoder.vocab, 8, buffer_dialogues=4)


def test_simulator_episodes_keep_only_the_sentences_said(make_recommender, train_sim):
    rec = make_recommender()
    batch = SimulatorEpisodes(train_sim, rec.policy(sample=True), 8).sample(
        np.random.default_rng(0)
    )
    d = batch.dialogues
    used = np.unique(d.feedback[d.feedback >= 0])
    np.testing.assert_array_equal(used, np.arange(len(d.tokens)))


@pytest.mark.parametrize("buffer", [100, 20], ids=["in-memory", "streamed"])
def test_logged_sentences_are_heard_through_the_agents_front(
    toy_log, toy_catalog, toy_encoder, buffer
):
    """With a rewriting front every logged sentence reaches the table as its template rewrite;
    the sessions drawn are the same."""
    from textrec.language.front import TextFront
    from textrec.language.rewrite import Rewriter

    vocab = toy_encoder.vocab
    front = TextFront(vocab, Rewriter(toy_catalog.schema))
    heard = LogDialogues(toy_log, toy_catalog, front, 8, buffer_dialogues=buffer)
    plain = LogDialogues(toy_log, toy_catalog, vocab, 8, buffer_dialogues=buffer)
    said = sorted({str(t) for t in _rows(toy_log).feedback if t})
    rewritten = {vocab.decode(vocab.encode(s)) for s in front.said(said)}
    as_said = {vocab.decode(vocab.encode(s)) for s in said}

    def table(src):
        return {vocab.decode(src.tokens[u, : src.lengths[u]]) for u in range(len(src.lengths))}

    assert table(heard) == rewritten and table(plain) == as_said and rewritten != as_said
    a, b = heard.sample(np.random.default_rng(4)), plain.sample(np.random.default_rng(4))
    np.testing.assert_array_equal(a.dialogues.items, b.dialogues.items)
    np.testing.assert_array_equal(a.actions, b.actions)
    np.testing.assert_array_equal(a.rewards, b.rewards)
