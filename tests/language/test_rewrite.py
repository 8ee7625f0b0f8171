"""People's words said again in template speech for the agent's encoder."""

from __future__ import annotations

import numpy as np
import pytest

from textrec.catalog.builtin import BUILTIN_SCHEMA
from textrec.language.reader import LexiconReader
from textrec.language.rewrite import Rewriter
from textrec.language.speech import build_sentence_bank
from textrec.language.templates import load_templates, render


@pytest.fixture(scope="module")
def rewriter() -> Rewriter:
    return Rewriter(BUILTIN_SCHEMA)


def test_first_wanted_request_in_template_speech(rewriter):
    closure = BUILTIN_SCHEMA.attributes[BUILTIN_SCHEMA.index("closure")]
    expected = render(load_templates().phrasings(closure, 0)[0], closure, "hook and loop")
    assert rewriter.texts(["no laces, velcro please"]) == [expected]
    again = rewriter.texts(["didn't I say velcro?"])[0]
    assert "hook and loop" in again and again != expected  # a repeat stays a repeat


def test_not_understood_passes_unchanged(rewriter):
    assert rewriter.texts(["hello there", "anything but heels"]) == [
        "hello there",
        "anything but heels",
    ]
    with pytest.raises(ValueError, match="list of sentences"):
        rewriter.texts("boots")


def test_bank_keeps_texts_and_index_and_encodes_rewritten_sentences(rewriter):
    bank = build_sentence_bank(BUILTIN_SCHEMA, source="free", seed=0, n_variants=2)
    out = rewriter.bank(bank)
    assert list(out.texts) == list(bank.texts) and (out.index == bank.index).all()
    assert out.source == "free" and out.tokens.shape == bank.tokens.shape
    unk = 1
    assert (out.tokens == unk).mean() < (bank.tokens == unk).mean()
    first = rewriter.texts([str(bank.texts[0])])[0]
    np.testing.assert_array_equal(
        out.tokens[0, : out.lengths[0]], bank.vocab.encode(first)[: out.tokens.shape[1]]
    )


def test_reader_must_read_the_schema():
    other = LexiconReader(BUILTIN_SCHEMA.__class__(BUILTIN_SCHEMA.attributes[:2]))
    with pytest.raises(ValueError, match="another schema"):
        Rewriter(BUILTIN_SCHEMA, reader=other)
