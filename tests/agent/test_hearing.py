"""What the agent hears: with ``RecommenderConfig.rewrite`` a person's own words reach the agent as
the template sentence the lexicon reader says them in, on every path (acting, logs, episodes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from textrec.agent import Recommender
from textrec.language.front import TextFront
from textrec.language.rewrite import Rewriter
from textrec.language.speech import build_sentence_bank
from textrec.learners.batches import SimulatorEpisodes
from textrec.simulator import BatchedSimulator
from textrec.simulator.engine import StepResult
from textrec.simulator.task import TaskConfig

# The same three requests (boots; for women; a pointed toe) in template and in free words.
TEMPLATE = ["Do you have boots?", "I am looking for shoes for women.", "Show me more boots."]
FREE = [
    "Hmm, what I'm really after is some boots",
    "something for my wife please",
    "Honestly bootz would do",
]


def step(turn: int, items: list[int], texts: list[str], vocab) -> StepResult:
    """Turn ``turn`` of ``len(texts)`` sessions: ``items`` shown, ``texts`` said (new ids)."""
    b = len(texts)
    tokens, lengths = vocab.encode_batch(texts, 12)
    said = lengths > 0
    return StepResult(
        turn=np.full(b, turn, dtype=np.int32),
        items=np.asarray(items, dtype=np.int64),
        reward=np.zeros(b, dtype=np.float32),
        terminated=np.zeros(b, dtype=bool),
        truncated=np.zeros(b, dtype=bool),
        active=np.ones(b, dtype=bool),
        feedback_attribute=np.full(b, -1, dtype=np.int64),
        feedback_value=np.full(b, -1, dtype=np.int64),
        feedback_mode=np.full(b, -1, dtype=np.int64),
        sentence=np.where(said, np.arange(b) + b * turn, -1).astype(np.int64),
        texts=np.array(texts, dtype=object),
        tokens=tokens,
        lengths=lengths,
        violations=np.zeros(b, dtype=np.int32),
    )


def hear_both(rec: Recommender) -> list[tuple[np.ndarray, ...]]:
    """Head distributions at every turn of two sessions shown the same items, session 0 told
    :data:`TEMPLATE`, session 1 :data:`FREE`."""
    policy = rec.policy()
    policy.reset(2, np.random.default_rng(0))
    out = [policy.act(step(0, [-1, -1], ["", ""], rec.vocab)).head_probs]
    for t, (template, free) in enumerate(zip(TEMPLATE, FREE, strict=True)):
        out.append(policy.act(step(t + 1, [5 + t, 5 + t], [template, free], rec.vocab)).head_probs)
    return out


def test_the_two_phrasings_say_the_same_template_sentences(toy_catalog):
    rewriter = Rewriter(toy_catalog.schema)
    assert rewriter.texts(TEMPLATE) == rewriter.texts(FREE)
    assert rewriter.texts(FREE) != FREE


def test_rewriting_agent_acts_alike_on_template_and_free_words(make_recommender):
    heads = hear_both(make_recommender(rewrite=True))
    for turn in heads[1:]:
        for p in turn:
            np.testing.assert_allclose(p[0], p[1], rtol=1e-5, atol=1e-6)  # row order in a batch


def test_without_rewriting_the_free_words_change_what_it_does(make_recommender):
    heads = hear_both(make_recommender(rewrite=False))
    assert any(
        not np.allclose(p[0], p[1], rtol=1e-5, atol=1e-4) for turn in heads[1:] for p in turn
    )


def test_rewriting_is_saved_and_old_checkpoints_hear_as_before(
    make_recommender, toy_catalog, tmp_path
):
    rec = make_recommender(rewrite=True)
    rec.save(tmp_path / "a")
    loaded = Recommender.load(tmp_path / "a", toy_catalog)
    assert loaded.config.rewrite and loaded.front.rewrites
    meta_path = tmp_path / "a" / "recommender.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["rewrite"]  # saved before the field existed
    meta_path.write_text(json.dumps(meta))
    old = Recommender.load(tmp_path / "a", toy_catalog)
    assert not old.config.rewrite and not old.front.rewrites


def test_front_without_rewriter_is_the_vocabulary(toy_encoder):
    front = TextFront(toy_encoder.vocab)
    texts = ["I want boots.", "", "hmm, bootz for my wife"]
    tokens, lengths = front.encode_batch(texts, 9)
    want_tokens, want_lengths = toy_encoder.vocab.encode_batch(texts, 9)
    np.testing.assert_array_equal(tokens, want_tokens)
    np.testing.assert_array_equal(lengths, want_lengths)


def test_front_rewrites_each_distinct_sentence_once(toy_catalog, toy_encoder):
    rewriter = Rewriter(toy_catalog.schema)
    read = []
    reader = rewriter.reader
    rewriter.reader = type(
        "Counting",
        (),
        {"read_batch": lambda self, t: read.append(list(t)) or reader.read_batch(t)},
    )()
    front = TextFront(toy_encoder.vocab, rewriter)
    first = front.ids(FREE + FREE[:1])
    again = front.ids(FREE[::-1] + TEMPLATE[:1])
    assert read == [FREE, TEMPLATE[:1]]  # new sentences only, each once, in one batch
    assert first[0] == again[-1] == toy_encoder.vocab.encode("I want boots.")
    with pytest.raises(ValueError, match="list of sentences"):
        front.ids("boots")


def test_sessions_in_free_words_unroll_as_template_words(make_recommender, toy_catalog):
    """On-policy learning's batches (``SimulatorEpisodes``) hold the rewritten sentences, the acting
    policy's own hearing unless told otherwise: the learner's update reads what the policy read."""
    rec = make_recommender(rewrite=True)
    free = build_sentence_bank(toy_catalog.schema, source="free", seed=0)
    sim = BatchedSimulator(toy_catalog, "train", free, TaskConfig(utterances="free"))
    batch = SimulatorEpisodes(sim, rec.policy(sample=True), 6).sample(np.random.default_rng(0))
    as_said = TextFront(rec.vocab)  # told to record the sentences as said
    plain = SimulatorEpisodes(sim, rec.policy(sample=True), 6, as_said)
    plain = plain.sample(np.random.default_rng(0))
    rewritten = Rewriter(toy_catalog.schema).texts([str(t) for t in free.texts])
    heard = {rec.vocab.decode(rec.vocab.encode(s)) for s in rewritten}

    def table(d):
        return {rec.vocab.decode(d.tokens[u, : d.lengths[u]]) for u in range(len(d.lengths))}

    d = batch.dialogues
    assert table(d) and table(d) <= heard
    assert not table(plain.dialogues) <= heard
    with torch.no_grad():
        assert torch.isfinite(rec.unroll(d)).all()
