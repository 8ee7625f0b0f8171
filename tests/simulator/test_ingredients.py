"""A run's ingredients: each part built once, from the run's catalog, sentence source and seed."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_toy_catalog
from textrec.errors import InputError
from textrec.language import reader
from textrec.language.speech import build_sentence_bank
from textrec.learners.run import TrainSpec
from textrec.simulator.ingredients import Ingredients


def test_the_bank_is_built_once_and_is_the_seeds_bank():
    catalog = make_toy_catalog()
    parts = Ingredients(catalog, "templates", seed=5)
    assert parts.bank is parts.bank
    assert np.array_equal(parts.bank.texts, build_sentence_bank(catalog.schema, seed=5).texts)
    assert not np.array_equal(parts.bank.texts, Ingredients(catalog, seed=6).bank.texts)


def test_users_share_the_bank_but_not_their_sessions():
    parts = Ingredients(make_toy_catalog(), seed=1)
    test, train, again = parts.users("test"), parts.users("train"), parts.users("test")
    assert test is not again and test.bank is train.bank is parts.bank
    assert test.config is parts.task and parts.task.utterances == "templates"
    assert not np.array_equal(test.pool, train.pool)
    test.reset(4, np.random.default_rng(0))
    assert test.n_sessions == 4 and again.n_sessions == 0


def test_a_reader_is_loaded_once_per_kind(monkeypatch):
    loaded = []
    real = reader.load_reader
    monkeypatch.setattr(
        reader, "load_reader", lambda *args, **kw: loaded.append(args[1]) or real(*args, **kw)
    )
    parts = Ingredients(make_toy_catalog())
    assert parts.reader("lexicon") is parts.reader("lexicon")
    assert loaded == ["lexicon"]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda c: Ingredients(c, "novels"), "--utterances"),
        (lambda c: Ingredients(c).users("valid"), "--pool"),
        (lambda c: Ingredients(c).reader("tea-leaves"), "reader"),
    ],
)
def test_bad_settings_are_refused(make, says):
    with pytest.raises(InputError, match=says):
        make(make_toy_catalog())


def test_a_train_spec_refuses_ingredients_of_other_settings(tmp_path):
    catalog = make_toy_catalog()
    parts = Ingredients(catalog, seed=3)
    spec = TrainSpec(algo="online", catalog=catalog, out=tmp_path, seed=3, ingredients=parts)
    assert spec.parts() is parts
    assert TrainSpec(algo="online", catalog=catalog, out=tmp_path, seed=3).parts() is not parts
    with pytest.raises(InputError, match="seed 3"):
        TrainSpec(algo="online", catalog=catalog, out=tmp_path, seed=4, ingredients=parts)
    with pytest.raises(InputError, match="utterances"):
        TrainSpec(
            algo="online",
            catalog=catalog,
            out=tmp_path,
            seed=3,
            utterances="mix",
            ingredients=parts,
        )
