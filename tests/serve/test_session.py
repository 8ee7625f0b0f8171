"""Conversations: text checks, "that's it", the slot-filler over people's words, saved agents."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from textrec.errors import InputError
from textrec.serve import session
from textrec.serve.session import (
    Context,
    Conversation,
    PolicyMemory,
    clean_text,
    describe,
    load_picker,
    slot_filler,
)
from textrec.serve.standing import satisfying
from textrec.simulator.task import TaskConfig


@pytest.mark.parametrize(
    "text",
    [
        "that's it",
        "That's it!",
        "perfect",
        "Perfect, thanks!",
        "yes, this one",
        "that\u2019s the one",
        "I'll take it",
        "found it.",
        "perfect thats the one, thanks!",
        "thanks!",
    ],
)
def test_accepting_ends_the_session_with_the_shoe_on_show(slot_picker, text):
    c = Conversation(slot_picker, "chat", opening="boots")
    shown = c.current
    assert c.say(text) is None
    assert c.finished.found and c.finished.shown[-1] == shown and c.understood.act == "accept"


@pytest.mark.parametrize(
    "text", ["perfect but in black", "that's it but with laces", "not perfect", "boots"]
)
def test_feedback_is_not_taken_for_accepting(slot_picker, text):
    c = Conversation(slot_picker, "chat")
    c.say(text)
    assert c.finished is None


def test_clean_text_folds_whitespace_and_refuses_what_is_not_text():
    assert clean_text("  in\tblack \n please ") == "in black please"
    assert clean_text("e\u0301") == "\u00e9"  # NFC
    for bad, why in [
        ("a\x00b", "control"),
        ("a\u202eb", "control"),  # right-to-left override (format character)
        ("\ud800", "Unicode"),  # lone surrogate
        ("x" * 301, "at most 300"),
        (b"bytes", "string"),
        (None, "string"),
    ]:
        with pytest.raises(InputError, match=why):
            clean_text(bad)


def test_slot_filler_follows_requests_and_refusals(toy_catalog, slot_picker):
    schema = toy_catalog.schema
    c = Conversation(slot_picker, "web", opening="sandals")
    labels = toy_catalog.label_sets
    index = {s: i for i, s in enumerate(toy_catalog.item_ids.tolist())}

    def has(item, attribute, value):
        return bool(labels[index[item], schema.value_index(attribute, value)])

    assert has(c.current, "category", "Sandals")
    c.say("for women please")
    assert has(c.current, "category", "Sandals") and has(c.current, "gender", "Women")
    c.say("no open toe")
    assert not has(c.current, "toe_style", "Open Toe")
    assert has(c.current, "gender", "Women")
    assert len(set(c.shown)) == len(c.shown) == 3


def test_slot_filler_reads_each_sentence_once(toy_catalog, word_reader, slot_picker):
    c = Conversation(slot_picker, "web", opening="boots")
    for text in ["for men", "round toe", "for women"]:
        c.say(text)
    # the opening, then one new sentence per turn, each read once: the act reader reads it, the
    # slot-filler's reading of it is remembered (MemoReader)
    assert word_reader.calls == 4


def test_conversation_ends_found_or_at_the_turn_limit(slot_picker):
    c = Conversation(slot_picker, "chat")
    assert c.say("boots") is not None
    assert c.say("Perfect!") is None
    done = c.finished
    assert done.found and done.feedback == ("boots", "") and done.shown == tuple(c.shown)
    with pytest.raises(InputError, match="ended"):
        c.say("more")
    short = Conversation(slot_picker, "chat", task=TaskConfig(max_turns=2))
    short.say("boots")
    assert short.say("sandals") is None
    assert not short.finished.found and short.finished.feedback == ("boots", "sandals")


def test_empty_feedback_is_refused_and_changes_nothing(slot_picker):
    c = Conversation(slot_picker, "chat")
    with pytest.raises(InputError, match="empty"):
        c.say("   ")
    assert c.turn == 1 and c.feedback == [""]


def test_describe_shows_labels_and_refuses_unknown_ids(toy_catalog):
    view = describe(toy_catalog, "toy-0003")
    assert view.item_id == "toy-0003" and "category" in view.attributes
    with pytest.raises(InputError, match="not in catalog"):
        describe(toy_catalog, "../../etc/passwd")


def test_saved_recommender_serves_a_conversation(tmp_path, toy_catalog, toy_recommender):
    from textrec.agent import RecommenderPolicy

    toy_recommender.save(tmp_path / "run" / "final")
    picker = load_picker(str(tmp_path / "run"), toy_catalog)
    assert isinstance(picker.policy, RecommenderPolicy) and picker.reader is None
    c = Conversation(picker, "chat", opening="I need boots")
    for text in ["for women", "with a round toe"]:
        c.say(text)
    assert len(set(c.shown)) == 3
    labels = toy_catalog.label_text(int(np.flatnonzero(toy_catalog.item_ids == c.shown[2])[0]))
    met = [w for w in c.standing if w not in c.understood.unmet]
    assert {("category", "Boots"), ("gender", "Women"), ("toe_style", "Round Toe")} == {
        (w.attribute, w.value) for w in c.standing
    }
    assert all(w.value in labels[w.attribute].split(";") for w in met)
    # the third item: the agent's own choice among the unseen items the requests allow
    excluded = np.isin(toy_catalog.item_ids, c.shown[:2])
    allowed, _ = satisfying(toy_catalog, c.standing, excluded)
    context = Context(c.opening, tuple(c.shown[:2]), tuple(c.feedback[:2]), allowed)
    assert picker.pick([context]) == [c.shown[2]]


def test_load_picker_names_what_it_wants(tmp_path, toy_catalog):
    with pytest.raises(InputError, match="slot-filler"):
        load_picker(str(tmp_path), toy_catalog)


def test_slots_follow_the_last_statement_about_each_value(toy_catalog, slot_picker):
    schema = toy_catalog.schema
    contexts = [
        Context("boots", ("toy-0001",), ("no boots",)),  # asked, then refused: empty
        Context("no boots", ("toy-0001",), ("boots",)),  # refused, then asked: filled
        Context("sandals", ("toy-0001", "toy-0002"), ("no boots", "for men")),
        Context("", (), ()),
    ]
    action = slot_picker.action(contexts)
    known = action.weights == 1.0
    slots = np.where(known, np.stack([p.argmax(axis=1) for p in action.head_probs], axis=1), -1)
    cat, gender = schema.index("category"), schema.index("gender")
    assert slots[0, cat] == -1
    assert slots[1, cat] == schema.local_value_index("category", "Boots")
    assert slots[2, cat] == schema.local_value_index("category", "Sandals")
    assert slots[2, gender] == schema.local_value_index("gender", "Men")
    assert (slots[3] == -1).all()


def test_a_batch_picks_what_each_conversation_picks_alone(toy_catalog, slot_picker):
    contexts = [
        Context("sandals", ("toy-0001",), ("for women",)),
        Context("", ("toy-0005", "toy-0007"), ("no open toe", "boots")),
        Context("for men", (), ()),
    ]
    together = slot_picker.pick(contexts)
    assert together == [slot_picker.pick([c])[0] for c in contexts]
    assert all(item not in c.shown for item, c in zip(together, contexts, strict=True))


def test_a_memory_that_no_longer_fits_its_conversation_is_replayed(
    toy_catalog, slot_picker, monkeypatch
):
    """A conversation whose kept policy memory took in turns it no longer begins with (a turn
    retried with another sentence), or that a rebuilt policy did not make, is replayed from its
    opening: the same action as a conversation without memory."""
    memory = PolicyMemory()
    slot_picker.action([Context("boots", ("toy-0001",), ("for women",), memory=memory)])
    went_on = Context("boots", ("toy-0001", "toy-0002"), ("for women", "in black"))
    assert memory.steps_taken(slot_picker.policy, went_on) == 2  # the opening and one item

    def slots(context: Context) -> np.ndarray:
        action = slot_picker.action([context])
        return np.where(
            action.weights == 1.0, np.stack([p.argmax(1) for p in action.head_probs], 1), -1
        )

    retried = Context("boots", ("toy-0001", "toy-0002"), ("for men", "sandals"))
    assert memory.steps_taken(slot_picker.policy, retried) == 0
    got = slots(dataclasses.replace(retried, memory=memory))
    np.testing.assert_array_equal(got, slots(retried))
    gender = toy_catalog.schema.index("gender")
    assert got[0, gender] == toy_catalog.schema.local_value_index("gender", "Men")

    longer = Context("boots", (*retried.shown, "toy-0003"), (*retried.feedback, "for women"))
    assert memory.steps_taken(slot_picker.policy, longer) == 3
    # the sentence memo is full: a new policy, which no memory of the old one fits
    monkeypatch.setattr(session, "_READ_MEMO", 4)
    slot_picker.action([Context("", ("toy-0004",), ("flats",))])
    assert memory.steps_taken(slot_picker.policy, longer) == 0
    np.testing.assert_array_equal(slots(dataclasses.replace(longer, memory=memory)), slots(longer))


def test_a_conversation_keeps_its_memory_and_picks_as_replayed(toy_catalog, word_reader):
    """A chat steps the policy once per item (the memory kept in the conversation), and shows
    the items a conversation replayed at every pick shows."""
    kept, replayed = slot_filler(toy_catalog, word_reader), slot_filler(toy_catalog, word_reader)
    steps = []
    act = kept.policy.act
    kept.policy.act = lambda result: steps.append(1) or act(result)
    c = Conversation(kept, "chat", opening="boots")
    for text in ["for women", "no boots", "sandals", "for men"]:
        steps.clear()
        c.say(text)
        assert len(steps) == 1
        context = Context(c.opening, tuple(c.shown[:-1]), tuple(c.feedback[:-1]), None)
        assert c.memory.steps_taken(kept.policy, context) == 0  # it took in the last turn too
        excluded = np.isin(toy_catalog.item_ids, c.shown[:-1])
        allowed, _ = satisfying(toy_catalog, c.standing, excluded)
        assert replayed.pick([dataclasses.replace(context, allowed=allowed)]) == [c.current]


def test_an_opening_is_chosen_once_and_then_handed_out(toy_catalog, word_reader):
    """A second session opening as one before (same sentence, same items allowed) gets the
    remembered first item and the policy's memory after it, with no policy step, and goes on as
    a session whose opening the policy chose: the same items as a picker that never remembers."""
    kept, fresh = slot_filler(toy_catalog, word_reader), slot_filler(toy_catalog, word_reader)
    steps = []
    act = kept.policy.act
    kept.policy.act = lambda result: steps.append(1) or act(result)
    first = Conversation(kept, "web", opening="boots for women")
    assert steps
    steps.clear()
    again = Conversation(kept, "web", opening="boots for women")
    assert not steps and again.current == first.current
    assert again.memory.owner is kept.policy and again.memory.opening == "boots for women"
    other = Conversation(kept, "web", opening="sandals")  # another opening: the policy acts
    assert steps
    never = Conversation(fresh, "web", opening="boots for women")
    fresh._openings.clear()
    for text in ["no boots", "for men", "sandals"]:
        steps.clear()
        again.say(text)
        assert len(steps) == 1  # one step: the remembered memory was resumed, not replayed
        never.say(text)
        fresh._openings.clear()
        assert again.shown == never.shown
    assert other.current in toy_catalog.item_ids


@pytest.mark.parametrize("rewrite", [True, False])
def test_saved_rewriting_recommender_serves_free_words_as_template_words(
    tmp_path, toy_catalog, toy_recommender, rewrite
):
    """A saved agent with ``rewrite`` hears a person's own words as their template sentence when
    served; one without hears them as said."""
    import copy

    from textrec.agent import Recommender, RecommenderConfig

    config = RecommenderConfig(rewrite=rewrite)
    rec = Recommender(toy_catalog, copy.deepcopy(toy_recommender.language), config, seed=0)
    rec.save(tmp_path / "run" / "final")
    picker = load_picker(str(tmp_path / "run"), toy_catalog)
    template = Context("Do you have boots?", ("toy-0001",), ("I am looking for shoes for women.",))
    free = Context("Hmm, what I'm really after is bootz", ("toy-0001",), ("for my wife please",))
    heads = picker.action([template, free]).head_probs
    same = all(np.allclose(p[0], p[1], rtol=1e-5, atol=1e-6) for p in heads)
    assert same == rewrite
