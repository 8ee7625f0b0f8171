"""Dialogue acts (textrec.language.acts) and the misreadings issue 17 listed."""

from __future__ import annotations

import pytest

from textrec.catalog import Attribute, AttributeSchema
from textrec.catalog.builtin import BUILTIN_SCHEMA
from textrec.language.acts import ActReader, Shift, act_labels, score_act, wider_schema
from textrec.language.heldout import ACTS_PATH, load_act_lines


@pytest.fixture(scope="module")
def reader():
    return ActReader(BUILTIN_SCHEMA)


@pytest.fixture(scope="module")
def brand_reader():
    """A catalog with brand and colour but no heel, gender or closure (UT-Zappos without
    meta-data.csv)."""
    schema = AttributeSchema(
        (
            Attribute("category", ("Boots", "Sandals", "Shoes", "Slippers")),
            Attribute("brand", ("Clarks", "Nike", "Skechers")),
            Attribute("colour", ("black", "white", "brown")),
        )
    )
    return ActReader(schema)


def _read(reader, text, opening=False):
    return reader.read_batch([text], opening=opening)[0]


def _requests(reading):
    return {(r.attribute, r.value, r.negated) for r in reading.requests}


@pytest.mark.parametrize(
    ("text", "act"),
    [
        ("that's the one", "accept"),
        ("perfect, thanks", "accept"),
        ("yes this one", "accept"),
        ("perfect thats the one, thanks!", "accept"),
        ("thanks!", "accept"),
        ("no wait go back, the previous one was it", "go_back"),
        ("none of these", "reject_all"),
        ("not this one", "reject_all"),
        ("start over", "restart"),
        ("hello?", "off_topic"),
        ("what's the weather like today", "off_topic"),
        ("something comfortable", "not_understood"),
        ("perfect but with a zip", "feedback"),
    ],
)
def test_each_act_is_read(reader, text, act):
    assert _read(reader, text).act == act


def test_an_opening_sentence_describes(reader):
    assert _read(reader, "ankle boots", opening=True).act == "describe"
    assert _read(reader, "ankle boots").act == "feedback"


def test_restart_keeps_what_it_asks_for(reader):
    r = _read(reader, "start over, I want sandals now")
    assert r.act == "restart" and _requests(r) == {("category", "Sandals", False)}


def test_go_back_takes_no_request_from_its_description_of_the_earlier_item(reader):
    r = _read(reader, "return to the previous boots")
    assert r.act == "go_back" and r.requests == ()


def test_buckle_not_velcro_wants_buckle_and_refuses_velcro(reader):
    assert _requests(_read(reader, "buckle not velcro")) == {
        ("closure", "Buckle", False),
        ("closure", "Hook and Loop", True),
    }


@pytest.mark.parametrize("text", ["boots that stop mid calf", "boots that stop at mid-calf"])
def test_stop_is_no_negator_after_that(reader, text):
    assert ("subcategory", "Mid-Calf", False) in _requests(_read(reader, text))


def test_my_lil_boy_is_boys_only(reader):
    assert _requests(_read(reader, "for my lil boy")) == {("gender", "Boys", False)}


def test_wife_says_does_not_ask_for_women(reader):
    r = _read(reader, "wife says these look too pointy")
    assert _requests(r) == {("toe_style", "Pointed Toe", True)}
    assert ("gender", "Women", False) in _requests(_read(reader, "for my wife"))


def test_relative_that_is_not_the_shown_item(reader):
    assert ("closure", "Lace up", True) in _requests(_read(reader, "ankle boots that don't lace"))


@pytest.mark.parametrize(
    ("text", "shift"),
    [
        ("a bit higher heel", Shift("heel_height", 1, True)),
        ("lower the heel a touch", Shift("heel_height", -1, True)),
        ("higher heels please", Shift("heel_height", 1, False)),
        ("the heel is too high", Shift("heel_height", -1, False)),
        ("a little lower", Shift("heel_height", -1, True)),
    ],
)
def test_comparatives_over_heel_height(reader, text, shift):
    r = _read(reader, text)
    assert r.act == "feedback" and r.shifts == (shift,)
    assert all(q.attribute != "heel_height" and q.value != "Heels" for q in r.requests)


def test_or_more_and_or_less_are_ranges(reader):
    more = _read(reader, "4 inches or more")
    assert _requests(more) == {
        ("heel_height", "4in - 4 3/4in", False),
        ("heel_height", "5in & over", False),
    }
    assert {q.value for q in _read(reader, "2 inches or less").requests} == {
        "Flat",
        "Under 1in",
        "1in - 1 3/4in",
        "2in - 2 3/4in",
    }
    assert _read(reader, "3 inch heels").shifts == ()  # a height, no range, no comparative
    assert {q.value for q in _read(reader, "3 inch heels").requests} >= {"3in - 3 3/4in"}


def test_a_different_brand_or_colour_refuses_the_shown_value(brand_reader):
    assert _read(brand_reader, "a different brand").different == ("brand",)
    assert _read(brand_reader, "same style but another colour").different == ("colour",)
    assert _read(brand_reader, "not this brand").act == "feedback"


def test_words_for_attributes_the_catalog_lacks_are_named(reader, brand_reader):
    assert _read(reader, "in black please").missing == ("colour",)
    assert _read(reader, "do you have Nike").missing == ("brand",)
    assert _read(reader, "a different colour").missing == ("colour",)
    r = _read(brand_reader, "a man's boot with a heel and laces")
    assert set(r.missing) == {"gender", "heel_height", "closure"}
    assert _read(reader, "ankle boots for women").missing == ()


def test_wider_schema_adds_what_the_lexicon_knows():
    names = wider_schema(BUILTIN_SCHEMA).names
    assert names[: BUILTIN_SCHEMA.n_attributes] == BUILTIN_SCHEMA.names
    assert names[BUILTIN_SCHEMA.n_attributes :] == ("colour",)


def test_the_heldout_act_file_parses_and_scores(reader):
    lines = [ln for ln in load_act_lines(ACTS_PATH) if ln.schema == "builtin"]
    groups = {ln.group for ln in lines}
    assert {"accept", "go_back", "reject_all", "restart", "off_topic", "scope"} <= groups
    assert all(sum(ln.group == g for ln in lines) >= 15 for g in groups - {"comparative"})
    line = next(ln for ln in lines if ln.text == "4 inches or more")
    reading = _read(reader, line.text)
    assert act_labels(reading) == line.labels and score_act(line.act, line.labels, reading)
    assert not score_act(
        line.act, line.labels, _read(reader, "4 inches")
    )  # one bin is not the range
