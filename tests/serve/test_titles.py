"""Items in words: titles, labels and the page's hints use only what the catalog has."""

from __future__ import annotations

import pytest

from textrec.catalog.builtin import build_builtin
from textrec.serve.titles import CatalogWords


@pytest.fixture(scope="module")
def words():
    return CatalogWords(build_builtin(n_items=60, seed=0))


def test_a_title_reads_who_what_then_the_other_values(words):
    stored = {
        "category": "Boots",
        "subcategory": "Ankle",
        "heel_height": "2in - 2 3/4in",
        "closure": "Lace up;Zipper",
        "gender": "Women",
        "toe_style": "Almond",
    }
    title = "Women's ankle boots, heel 2 to 3 inches, lace-up & zipper, almond toe"
    assert words.title(stored) == title
    men = {"category": "Shoes", "subcategory": "Oxfords", "gender": "Men;Women", "toe_style": ""}
    assert words.title(men) == "Men's & women's oxfords"
    kids = {"category": "Sandals", "subcategory": "Flat", "gender": "Boys", "heel_height": "Flat"}
    assert words.title(kids) == "Boys' flat sandals, flat"


def test_item_labels_name_every_known_value_in_words(words):
    catalog = words.catalog
    for i in range(catalog.n_items):
        item = words.item(i)
        stored = catalog.label_text(i)
        assert len(item.labels) == sum(1 for v in stored.values() if v)
        assert all(v and ";" not in v for v in item.labels.values())
        assert item.title[0].isupper() and ";" not in item.title
    assert words.item(2).labels["closure"] == "pull-on, zipper"


def test_hints_only_suggest_values_of_the_catalog(words, toy_catalog):
    schema = words.schema
    said = {words.value(a.name, v) for a in schema.attributes for v in a.values}
    hint = words.feedback_hint.removeprefix("e.g. ")
    parts = [p.removeprefix("not ") for p in hint.split(", ")]
    assert len(parts) == 2 and set(parts) <= said
    assert words.describe_hint.startswith("e.g. ")
    toy = CatalogWords(toy_catalog)  # no closure, no heel: neither is suggested
    assert "lace" not in toy.feedback_hint and "heel" not in toy.feedback_hint
    assert "colour" not in words.feedback_hint + words.describe_hint


def test_a_brand_keeps_its_own_spelling():
    from types import SimpleNamespace

    from textrec.catalog import Attribute, AttributeSchema

    schema = AttributeSchema(
        (
            Attribute("category", ("Boots", "Shoes")),
            Attribute("subcategory", ("Ankle", "Oxfords")),
            Attribute("brand", tuple(f"Brand{i:02d}" for i in range(40)) + ("Frye",)),
            Attribute("colour", ("black", "brown")),
        )
    )
    words = CatalogWords(SimpleNamespace(schema=schema))
    stored = {"category": "Boots", "subcategory": "Ankle", "brand": "Frye", "colour": "brown"}
    assert words.title(stored) == "Ankle boots by Frye, brown"
    assert words.value("brand", "Frye") == "Frye"
