"""Feedback templates, the shared vocabulary and the sentence bank."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from textrec.catalog import Attribute, AttributeSchema
from textrec.language import MODES, NEGATE, REQUEST, VALUE_SLOT, tokenize
from textrec.language.speech import build_sentence_bank
from textrec.language.templates import (
    load_phrasings,
    load_templates,
    render,
    shared_vocabulary,
)
from textrec.language.tokenizer import UNK

from .conftest import real_like


def _contains(seq: list[int], sub: list[int]) -> bool:
    return any(seq[i : i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


def test_packaged_files_give_every_attribute_enough_phrasings(six_schema):
    templates = load_templates()
    for attr in (*six_schema.attributes, Attribute("brand", ("X",)), Attribute("colour", ("Red",))):
        for mode in range(len(MODES)):
            assert len(templates.phrasings(attr, mode)) >= 8, (attr.name, MODES[mode])


def test_attribute_specific_phrasing_and_surface_forms():
    templates = load_templates()
    gender = Attribute("gender", ("Men", "Women"))
    assert "Please provide some shoes for {value}." in templates.phrasings(gender, REQUEST)
    assert templates.surface(gender, "Women") == "women"
    assert templates.surface(Attribute("toe_style", ("Round Toe",)), "Round Toe") == "round toe"
    assert templates.surface(Attribute("heel_height", ("x",)), "1in - 1 3/4in") == "1in - 1 3/4in"
    assert templates.surface(Attribute("brand", ("ALDO",)), "ALDO") == "ALDO"
    # names match ignoring case and punctuation, aliases too
    assert templates.entry("HeelHeight").key == "heel_height"
    assert templates.entry("color").key == "colour"


def test_unknown_attribute_falls_back_to_generic_phrasings():
    templates = load_templates()
    material = Attribute("material", ("Leather", "Suede"))
    assert templates.phrasings(material, REQUEST) == templates.generic[REQUEST]
    assert render(templates.phrasings(material, REQUEST)[7], material, "suede") == (
        "I would like shoes whose material is suede."
    )


def test_render_fills_attribute_label_and_capitalises():
    gender = Attribute("gender", ("Women",))
    assert render("{value}, please.", gender, "women") == "Women, please."
    assert (
        render(
            "The {attribute} I want is {value}.",
            Attribute("toe_style", ("a",), label="toe style"),
            "round toe",
        )
        == "The toe style I want is round toe."
    )


def test_bank_reaches_every_value_and_every_sentence_names_its_value(six_schema):
    bank = build_sentence_bank(six_schema, n_variants=8, seed=0)
    templates = load_templates()
    v = six_schema.n_values
    assert bank.index.shape == (v, len(MODES), 8)
    assert bank.vocab == shared_vocabulary(six_schema)
    assert bank.vocab.tokens[4] == VALUE_SLOT
    assert not (bank.tokens == UNK).any()
    for g in range(v):
        name, value = six_schema.value_name(g)
        surface = templates.surface(name, value)
        want = bank.vocab.encode(surface)
        for s in np.unique(bank.index[g]):
            assert surface in bank.texts[s]
            ids = bank.tokens[s, : bank.lengths[s]].tolist()
            assert _contains(ids, want), (bank.texts[s], surface)
            assert ids == bank.vocab.encode(bank.texts[s])
        # enough templates for every attribute: the 8 variants of a (value, mode) are distinct
        for m in range(len(MODES)):
            assert len(set(bank.texts[bank.index[g, m]])) == 8


def test_modes_use_different_words(six_schema):
    bank = build_sentence_bank(six_schema, seed=0)
    for g in range(six_schema.n_values):
        by_mode = [set(bank.texts[bank.index[g, m]]) for m in range(len(MODES))]
        assert (
            not (by_mode[0] & by_mode[1])
            and not (by_mode[0] & by_mode[2])
            and not (by_mode[1] & by_mode[2])
        )
    negations = {"not", "no", "without", "don't", "nothing", "stop", "wrong"}
    negate_texts = bank.texts[bank.index[:, NEGATE].ravel()]
    assert all(negations & set(tokenize(t)) for t in negate_texts)


def test_bank_is_deterministic_under_seed(six_schema):
    a = build_sentence_bank(six_schema, seed=3)
    b = build_sentence_bank(six_schema, seed=3)
    c = build_sentence_bank(six_schema, seed=4)
    assert np.array_equal(a.index, b.index) and list(a.texts) == list(b.texts)
    assert np.array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.texts[a.index], c.texts[c.index])
    rng1, rng2 = np.random.default_rng(0), np.random.default_rng(0)
    values = np.arange(six_schema.n_values)
    modes = values % len(MODES)
    assert np.array_equal(a.sample(values, modes, rng1), b.sample(values, modes, rng2))


def test_fewer_templates_than_variants_cycle(six_schema):
    bank = build_sentence_bank(six_schema, n_variants=25, seed=0)
    first = bank.index[0, REQUEST]
    n = len(load_templates().phrasings(six_schema.attributes[0], REQUEST))
    assert len(set(first.tolist())) == n
    assert np.array_equal(first[:n], first[n : 2 * n])


def test_real_sized_schema_builds_fast():
    schema = real_like(685)
    build_sentence_bank(schema)  # warm the file cache
    start = time.perf_counter()
    bank = build_sentence_bank(schema, n_variants=8)
    elapsed = time.perf_counter() - start
    assert bank.index.shape == (schema.n_values, 3, 8)
    assert elapsed < 1.0, f"build_sentence_bank took {elapsed:.2f}s for {schema.n_values} values"
    brand = schema.value_index("brand", "Maker 17 & Co")
    assert all("Maker 17 & Co" in t for t in bank.texts[bank.index[brand].ravel()])


def test_too_long_sentence_is_an_error(six_schema):
    with pytest.raises(ValueError, match="more than max_len=5"):
        build_sentence_bank(six_schema, max_len=5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"source": "magic"}, "source must be one of"),
        ({"n_variants": 0}, "n_variants must be >= 1"),
        ({"source": "mix", "n_variants": 1}, "n_variants must be >= 2"),
    ],
)
def test_bank_rejects_bad_arguments(six_schema, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_sentence_bank(six_schema, **kwargs)


def _valid() -> dict:
    return {
        "format": "textrec-phrasings/1",
        "generic": {
            "request": ["I want {value}."],
            "repeat": ["Again {value}."],
            "negate": ["No {value}?"],
        },
        "attributes": {"gender": {"request": ["Shoes for {value}."]}},
    }


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: d.update(format="other"), r"format must be 'textrec-phrasings/1'"),
        (lambda d: d["generic"].pop("negate"), r"generic: missing mode 'negate'"),
        (lambda d: d["generic"].update(request=[]), r"generic\.request: must be a non-empty list"),
        (
            lambda d: d["generic"].update(request=["I want shoes."]),
            r"generic\.request\[0\].*exactly once",
        ),
        (lambda d: d["generic"].update(request=["{value} {value}"]), r"exactly once"),
        (
            lambda d: d["generic"].update(request=["I want {colour} {value}"]),
            r"unknown placeholder.*colour",
        ),
        (
            lambda d: d["generic"].update(request=["I want {value}s."]),
            r"generic\.request\[0\].*separate word",
        ),
        (lambda d: d["attributes"]["gender"].update(case="upper"), r"attributes\.gender\.case"),
        (
            lambda d: d["attributes"]["gender"].update(plead=["x {value}"]),
            r"attributes\.gender: unknown key",
        ),
        (
            lambda d: d["attributes"].update(sex={"aliases": ["Gender"], "request": ["a {value}"]}),
            r"name 'Gender' is already used by attributes\.gender",
        ),
        (lambda d: d["generic"].update(repeat=["a {value}", "a {value}"]), r"duplicate phrasings"),
    ],
)
def test_bad_template_file_names_file_and_key(tmp_path, mutate, match):
    obj = _valid()
    mutate(obj)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ValueError, match=match) as info:
        load_phrasings(path)
    assert str(path) in str(info.value)


def test_custom_template_file_is_used(tmp_path, six_schema):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(_valid()))
    bank = build_sentence_bank(six_schema, templates=load_phrasings(path), n_variants=2)
    women = six_schema.value_index("gender", "Women")
    assert set(bank.texts[bank.index[women, REQUEST]]) == {"Shoes for women."}
    assert set(bank.texts[bank.index[0, NEGATE]]) == {"No boots?"}


def test_not_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{ not json")
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        load_phrasings(path)


def test_schema_with_odd_values_renders(six_schema):
    schema = AttributeSchema((Attribute("heel_height", ("5in & over", "1in - 1 3/4in")),))
    bank = build_sentence_bank(schema, n_variants=3)
    assert any("5in & over" in t for t in bank.texts)
    assert not (bank.tokens == UNK).any()


def test_package_exports_resolve():
    import textrec.language as language

    for name in language.__all__:
        assert getattr(language, name) is not None, name
    with pytest.raises(AttributeError):
        language.no_such_name  # noqa: B018
