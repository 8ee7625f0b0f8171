"""The lexicon reader: every request of a sentence, in people's own words, on both schemas."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textrec.catalog import Attribute, AttributeSchema
from textrec.catalog.builtin import BUILTIN_SCHEMA
from textrec.language.reader import (
    FallbackReader,
    LexiconReader,
    Reading,
    load_reader,
    read,
    read_batch,
)

ZAPPOS_LIKE = AttributeSchema(
    (
        BUILTIN_SCHEMA.attributes[0],
        BUILTIN_SCHEMA.attributes[1],
        Attribute(
            "brand",
            (
                "ASICS",
                "ASICS Kids",
                "Dr. Martens",
                "Keen",
                "Keen Kids",
                "Levi's&#174; Shoes",
                "Nike",
                "Nike Kids",
                "See by Chloe",
                "Timberland",
                "UGG",
                "adidas",
                "Born",
            ),
        ),  # fmt: skip
        Attribute("colour", ("black", "white", "grey", "brown", "beige", "red", "pink", "blue")),
    )
)


@pytest.fixture(scope="module")
def builtin() -> LexiconReader:
    return LexiconReader(BUILTIN_SCHEMA)


@pytest.fixture(scope="module")
def zappos() -> LexiconReader:
    return LexiconReader(ZAPPOS_LIKE)


def _got(reading: Reading) -> set[tuple[str, str, bool]]:
    return {(r.attribute, r.value, r.negated) for r in reading.requests}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # synonyms and everyday words
        (
            "I'd like trainers with velcro",
            {
                ("subcategory", "Sneakers and Athletic Shoes", False),
                ("closure", "Hook and Loop", False),
            },
        ),
        ("flip flops please", {("category", "Sandals", False)}),
        ("some booties", {("subcategory", "Ankle", False)}),
        ("wellies for the rain", {("category", "Boots", False)}),
        # indirect references
        ("it's for my little boy", {("gender", "Boys", False)}),
        ("a present for my wife", {("gender", "Women", False)}),
        ("something for my daughter", {("gender", "Girls", False)}),
        # numbers and units
        ("five inches or more", {("heel_height", "5in & over", False)}),
        ("less than an inch", {("heel_height", "Under 1in", False)}),
        ("a 2.5 inch heel", {("heel_height", "2in - 2 3/4in", False)}),
        ("at least 4 inches high", {("heel_height", "4in - 4 3/4in", False)}),
        ("about 8 cm", {("heel_height", "3in - 3 3/4in", False)}),
        ("I want 1in - 1 3/4in.", {("heel_height", "1in - 1 3/4in", False)}),
        # several attributes in one sentence
        (
            "black leather boots for men, no laces",
            {("category", "Boots", False), ("gender", "Men", False), ("closure", "Lace up", True)},
        ),
        # negation and contrast
        ("anything but heels", {("subcategory", "Heels", True)}),
        ("not so pointy", {("toe_style", "Pointed Toe", True)}),
        ("not heels but flats", {("subcategory", "Heels", True), ("subcategory", "Flats", False)}),
        (
            "I don't want heels or laces",
            {("subcategory", "Heels", True), ("closure", "Lace up", True)},
        ),
        ("pointy toes, no thanks", {("toe_style", "Pointed Toe", True)}),
        # template speech: a negation of the value's absence still asks for it
        ("I do not need the shoes without round toe", {("toe_style", "Round Toe", False)}),
        ("Nothing but sandals, please.", {("category", "Sandals", False)}),
        ("These are not boots, show me some.", {("category", "Boots", False)}),
        ("No heels other than 2in - 2 3/4in, please.", {("heel_height", "2in - 2 3/4in", False)}),
        ("Do not show me heels that are not flat.", {("heel_height", "Flat", False)}),
        # spelling mistakes
        ("snekers for my wfie", {("subcategory", "Sneakers and Athletic Shoes", False)}),
        ("hook and lopp", {("closure", "Hook and Loop", False)}),
    ],
)
def test_builtin_phenomena(builtin, text, expected):
    assert _got(builtin.read(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I want navy ones, or burgundy", {("colour", "blue", False), ("colour", "red", False)}),
        ("Something by timberlnd", {("brand", "Timberland", False)}),
        (
            "NIKE trainers",
            {("brand", "Nike", False), ("subcategory", "Sneakers and Athletic Shoes", False)},
        ),
        ("nike for my son", {("brand", "Nike Kids", False)}),
        ("asics kids", {("brand", "ASICS Kids", False)}),
        ("dr. martens", {("brand", "Dr. Martens", False)}),
        ("levis", {("brand", "Levi's&#174; Shoes", False)}),
        ("addidas", {("brand", "adidas", False)}),
        ("keen sandals", {("brand", "Keen", False), ("category", "Sandals", False)}),
        ("Let me see some with ASICS.", {("brand", "ASICS", False)}),
        ("no black please, maybe grey", {("colour", "black", True), ("colour", "grey", False)}),
        ("for my wife", set()),  # no gender in this schema: nothing to say
    ],
)
def test_zappos_phenomena(zappos, text, expected):
    assert _got(zappos.read(text)) == expected


def test_common_word_brands_need_a_brand_cue(zappos):
    doubt = zappos.read("I'm keen on boots")
    assert _got(doubt) == {("category", "Boots", False)}
    assert [r.value for r in doubt.doubtful] == ["Keen"]
    assert _got(zappos.read("Something from Born")) == {("brand", "Born", False)}


def test_modes(builtin):
    again = builtin.read("Again, I want boots.").requests
    assert [r.mode for r in again] == ["repeat"]
    negate = builtin.read("I don't want shoes without velcro").requests
    assert [(r.mode, r.negated) for r in negate] == [("negate", False)]
    plain = builtin.read("boots please").requests
    assert [r.mode for r in plain] == ["request"]


def test_not_understood_is_empty_never_a_guess(builtin):
    for text in ("", "hello there", "what's the weather like?", "!!!", "[/oops] nice"):
        r = builtin.read(text)
        assert not r.understood and r.requests == ()
    assert read("hello there", BUILTIN_SCHEMA) == []


def test_request_fields(builtin):
    (r,) = builtin.read("Do you have velcro?").requests
    assert r.value_index == BUILTIN_SCHEMA.value_index("closure", "Hook and Loop")
    assert 0.5 <= r.confidence <= 1.0 and r.words == "velcro"


def test_fuzzy_confidence_below_exact(builtin):
    (exact,) = builtin.read("sneakers").requests
    (typo,) = builtin.read("snekaers").requests
    assert typo.value == exact.value and typo.confidence < exact.confidence


def test_threshold_moves_readings_to_doubtful():
    strict = LexiconReader(BUILTIN_SCHEMA, threshold=0.9)
    r = strict.read("snekaers with velcro")
    assert [q.value for q in r.requests] == ["Hook and Loop"]
    assert [q.value for q in r.doubtful] == ["Sneakers and Athletic Shoes"]
    with pytest.raises(ValueError, match="threshold"):
        LexiconReader(BUILTIN_SCHEMA, threshold=2.0)


def test_unknown_schema_falls_back_to_value_names():
    schema = AttributeSchema((Attribute("material", ("Leather", "Suede", "Canvas")),))
    reader = LexiconReader(schema)
    assert _got(reader.read("Suede would be nice, not canvas")) == {
        ("material", "Suede", False),
        ("material", "Canvas", True),
    }


def test_batch_api_and_errors():
    out = read_batch(["boots", "velcro"], BUILTIN_SCHEMA)
    assert [r.requests[0].value for r in out] == ["Boots", "Hook and Loop"]
    with pytest.raises(ValueError, match="list of sentences"):
        read_batch("boots", BUILTIN_SCHEMA)
    with pytest.raises(ValueError, match="reader must be one of"):
        load_reader(BUILTIN_SCHEMA, "gpt")
    with pytest.raises(ValueError, match="one sentence"):
        read(["boots"], BUILTIN_SCHEMA)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Catalog or AttributeSchema"):
        read("boots", object())


def test_fallback_reader_asks_the_second_only_when_the_first_fails():
    first = LexiconReader(BUILTIN_SCHEMA)

    class Second:
        schema = BUILTIN_SCHEMA
        seen: list[str] = []

        def read_batch(self, texts):
            self.seen.extend(texts)
            return [first.read("boots") for _ in texts]

    second = Second()
    both = FallbackReader(first, second)
    out = both.read_batch(["velcro", "gibberish words"])
    assert second.seen == ["gibberish words"]
    assert [r.requests[0].value for r in out] == ["Hook and Loop", "Boots"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_never_crashes_and_stays_in_the_schema(text):
    for reader, schema in ((_BUILTIN, BUILTIN_SCHEMA), (_ZAPPOS, ZAPPOS_LIKE)):
        r = reader.read(text)
        for q in (*r.requests, *r.doubtful):
            assert schema.value_name(q.value_index) == (q.attribute, q.value)
            assert 0.0 <= q.confidence <= 1.0 and q.mode in ("request", "repeat", "negate")


_BUILTIN = LexiconReader(BUILTIN_SCHEMA)
_ZAPPOS = LexiconReader(ZAPPOS_LIKE)


def test_cli_interpret_lists_every_request(tmp_path, capsys):
    import json

    from typer.testing import CliRunner

    from tests.conftest import make_toy_catalog
    from textrec.cli import app

    folder = make_toy_catalog().save(tmp_path / "toy")
    options = ["interpret", "--catalog", str(folder), "--cache", str(tmp_path)]
    texts = ["round toe boots for my wife", "hello", "[/oops] boots"]
    result = CliRunner().invoke(app, [*options, "--json", *texts])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [o["understood"] for o in out] == [True, False, True]
    assert {(q["attribute"], q["value"]) for q in out[0]["requests"]} == {
        ("toe_style", "Round Toe"),
        ("category", "Boots"),
        ("gender", "Women"),
    }
    table = CliRunner().invoke(app, [*options, *texts], env={"COLUMNS": "250"})
    assert table.exit_code == 0, table.output
    assert "[/oops] boots" in table.output and "(not understood)" in table.output
    from textrec.cli import main

    for argv, message in (
        ([*options, "--reader", "gpt", "boots"], "--reader must be one of"),
        (options, "Missing argument"),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
