"""A conversation people trust (issue 17): acts, memory across turns, replies that say what was
understood, on the built-in catalog with the lexicon reader."""

from __future__ import annotations

import json

import pytest

from textrec.catalog.builtin import build_builtin
from textrec.language.reader import load_reader
from textrec.serve.session import Conversation, item_positions, slot_filler
from textrec.serve.standing import Want


@pytest.fixture(scope="module")
def catalog():
    return build_builtin(n_items=1500, seed=0, feature_dim=8)


@pytest.fixture()
def picker(catalog):
    return slot_filler(catalog, load_reader(catalog, "lexicon"))


def _labels(catalog, item):
    text = catalog.label_text(item_positions(catalog)[item])
    return {a: set(v.split(";")) - {""} for a, v in text.items()}


def _meets(catalog, item, wants):
    """The item meets every refusal, and one of the values asked for on each attribute."""
    labels = _labels(catalog, item)
    refused = all(w.value not in labels[w.attribute] for w in wants if w.negated)
    asked = {w.attribute for w in wants if not w.negated}
    return refused and all(
        any(w.value in labels[a] for w in wants if w.attribute == a and not w.negated)
        for a in asked
    )


def test_accepting_keeps_the_shoe_and_go_back_shows_the_previous_one(picker):
    c = Conversation(picker, "web", opening="ankle boots for women")
    first = c.current
    c.say("with a zip")
    assert c.current != first
    c.say("no wait go back, the previous one was it")
    assert c.current == first and c.understood.act == "go_back"
    assert c.say("perfect thats the one, thanks!") is None
    assert c.finished.found and c.finished.shown[-1] == first


@pytest.mark.parametrize("text", ["hello?", "what's the weather like today", "something comfy"])
def test_nothing_understood_shows_no_new_item_and_asks(picker, text):
    c = Conversation(picker, "chat", opening="sandals")
    shown = c.current
    c.say(text)
    assert c.current == shown and c.turn == 1
    assert c.understood.act in ("off_topic", "not_understood")
    assert "Tell me about" in c.reply and "So far: sandals" in c.reply


def test_words_the_catalog_lacks_are_said_not_dropped_silently(picker):
    c = Conversation(picker, "chat", opening="boots")
    shown = c.current
    c.say("in black please")
    assert c.understood.unsupported == ("this catalog has no colour",)
    assert "This catalog has no colour" in c.reply and c.current == shown
    c.say("for women, from Nike")
    assert c.understood.unsupported == ("this catalog has no brand",)
    assert c.current != shown and "Understood: women" in c.reply


def test_requests_stand_until_changed(catalog, picker):
    c = Conversation(picker, "web", opening="pointed toe heels for women")
    c.say("4 inches or more")
    c.say("no ankle strap")
    c.say("not that pointy")  # retracts the pointed toe, keeps the heel height
    standing = set(c.standing)
    assert Want("toe_style", "Pointed Toe", True) in standing
    assert Want("toe_style", "Pointed Toe", False) not in standing
    assert Want("heel_height", "4in - 4 3/4in", False) in standing
    assert Want("closure", "Ankle Strap", True) in standing
    met = [w for w in c.standing if w not in c.understood.unmet]
    assert _meets(catalog, c.current, met)
    c.say("for men")
    assert Want("gender", "Women", False) not in c.standing
    assert Want("gender", "Women", False) in c.understood.dropped


def test_comparatives_follow_the_item_on_show(catalog, picker):
    c = Conversation(picker, "chat", opening="heels for women, 2 inches")
    heel = catalog.schema.attributes[catalog.schema.index("heel_height")].values
    shown = _labels(catalog, c.current)["heel_height"]
    c.say("a bit higher heel")
    asked = [w.value for w in c.standing if w.attribute == "heel_height"]
    assert asked == [heel[max(heel.index(v) for v in shown) + 1]]
    assert _labels(catalog, c.current)["heel_height"] & set(asked)


def test_a_different_value_refuses_the_shown_one(catalog, picker):
    c = Conversation(picker, "chat", opening="boots for women")
    closure = _labels(catalog, c.current)["closure"]
    c.say("a different closure")
    assert c.understood.act == "feedback"
    assert {w.value for w in c.standing if w.negated} == closure
    assert not _labels(catalog, c.current)["closure"] & closure


def test_restart_clears_the_standing_requests(picker):
    c = Conversation(picker, "chat", opening="boots for women")
    c.say("start over, I want sandals now")
    assert c.understood.act == "restart"
    assert c.standing == (Want("category", "Sandals", False),)
    assert {w.value for w in c.understood.dropped} == {"Boots", "Women"}


def test_what_cannot_be_met_is_said(catalog, picker):
    c = Conversation(picker, "chat", opening="crib shoes")
    c.say("5 inch heels")  # no crib shoe has one
    assert c.understood.unmet
    assert "No shoe left also has" in c.reply


def test_the_log_record_holds_acts_and_what_was_understood(picker):
    c = Conversation(picker, "web", opening="boots")
    c.say("hello?")
    c.say("for women")
    c.say("thanks!")
    done = c.finished
    assert done.opening_act == "describe" and json.loads(done.opening_understood)["kept"]
    assert done.acts == ("feedback", "accept")
    assert json.loads(done.understood[0])["kept"] == ["gender=Women"]


def test_ending_found_after_a_sentence_not_understood_logs_cleanly(picker):
    c = Conversation(picker, "web", opening="boots")
    c.say("hello?")
    done = c.finish(found=True)  # the page's "This is it" after an unanswered sentence
    assert done.feedback == ("",) and done.acts == ("accept",)
