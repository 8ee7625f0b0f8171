"""The labelled corpus: labels, frames, the phrasing split, and the shared vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from textrec.catalog import Attribute, AttributeSchema
from textrec.language.bank import MODES
from textrec.language.corpus import build_corpus, corpus_fingerprint, resolve_cache_dir
from textrec.language.speech import build_sentence_bank
from textrec.language.templates import SLOT_ID, load_templates
from textrec.language.tokenizer import UNK


def test_every_sentence_is_labelled_with_the_value_it_names(six_schema):
    corpus = build_corpus(six_schema)
    templates = load_templates()
    assert len(corpus) == len(corpus.tokens) == len(corpus.value)
    for i in range(0, len(corpus), 7):
        attr, value = six_schema.value_name(int(corpus.value[i]))
        assert six_schema.index(attr) == corpus.attribute[i]
        assert templates.surface(attr, value).lower() in corpus.texts[i].lower()
        ids = corpus.tokens[i, : corpus.lengths[i]].tolist()
        assert ids == corpus.vocab.encode(corpus.texts[i])
        # the frame is the sentence with the value's words replaced by one slot
        frame = corpus.frames[i, : corpus.frame_lengths[i]].tolist()
        cut = frame.index(SLOT_ID)
        value_ids = corpus.vocab.encode(templates.surface(attr, value))
        assert frame[:cut] + value_ids + frame[cut + 1 :] == ids
    assert not (corpus.tokens == UNK).any()
    assert set(np.unique(corpus.mode)) == set(range(len(MODES)))
    assert set(np.unique(corpus.value)) == set(range(six_schema.n_values))


def test_split_is_by_phrasing_and_deterministic(six_schema):
    a, b = build_corpus(six_schema), build_corpus(six_schema)
    assert np.array_equal(a.held_out, b.held_out) and a.phrasings == b.phrasings
    train_p = set(a.phrasing[~a.held_out].tolist())
    held_p = set(a.phrasing[a.held_out].tolist())
    assert train_p and held_p and not (train_p & held_p)
    assert 0.1 < len(held_p) / len(a.phrasings) < 0.4
    # held-out wordings are not seen in training, with any value
    assert not set(a.texts[a.held_out]) & set(a.texts[~a.held_out])
    # both files contribute to both sides
    assert a.paraphrase[a.held_out].any() and (~a.paraphrase[a.held_out]).any()
    for k in range(six_schema.n_attributes):
        for m in range(len(MODES)):
            assert ((a.attribute == k) & (a.mode == m) & ~a.held_out).any()


def test_every_group_keeps_a_training_phrasing_even_when_all_would_be_held_out(six_schema):
    corpus = build_corpus(six_schema, held_out_fraction=0.999)
    for k in range(six_schema.n_attributes):
        for m in range(len(MODES)):
            assert ((corpus.attribute == k) & (corpus.mode == m) & ~corpus.held_out).any()
    assert not build_corpus(six_schema, held_out_fraction=0.0).held_out.any()


def test_corpus_and_bank_share_one_vocabulary(six_schema, toy_corpus):
    corpus = build_corpus(six_schema)
    assert corpus.vocab == build_sentence_bank(six_schema).vocab
    assert corpus.vocab.tokens[SLOT_ID] == "<value>"
    # every word of the bank is in the corpus vocabulary, none unknown
    bank = build_sentence_bank(six_schema, seed=5)
    assert not (bank.tokens == UNK).any()
    assert toy_corpus.vocab != corpus.vocab  # another schema, another vocabulary


def test_subsets_keep_shapes(toy_corpus):
    train, held = toy_corpus.train(), toy_corpus.held()
    assert len(train) + len(held) == len(toy_corpus)
    assert train.tokens.shape[1] == toy_corpus.max_len
    assert not train.held_out.any() and held.held_out.all()


def test_fingerprint_and_cache_dir(monkeypatch, tmp_path, six_schema):
    other = AttributeSchema((Attribute("gender", ("Men", "Women")),))
    base = corpus_fingerprint(six_schema, seed=0)
    assert base == corpus_fingerprint(six_schema, seed=0)
    assert base != corpus_fingerprint(six_schema, seed=1)
    assert base != corpus_fingerprint(other, seed=0)
    monkeypatch.setenv("TEXTREC_CACHE", str(tmp_path))
    assert resolve_cache_dir() == tmp_path / "language"
    assert resolve_cache_dir(tmp_path / "x") == tmp_path / "x" / "language"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"held_out_fraction": 1.0}, "held_out_fraction must be in"),
        ({"held_out_fraction": -0.1}, "held_out_fraction must be in"),
        ({"max_len": 1}, "max_len must be >= 2"),
        ({"max_len": 4}, "more than max_len=4"),
    ],
)
def test_bad_corpus_arguments(six_schema, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_corpus(six_schema, **kwargs)
