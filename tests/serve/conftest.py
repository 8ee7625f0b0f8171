"""Fixtures of the serving tests: a reader that understands a few fixed words, pickers."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from textrec.catalog import Catalog
from textrec.serve.session import SlotFillerPicker, Wish


class WordReader:
    """Reads "<value>" as a wish for it and "no <value>" as a refusal (whole words, any case)."""

    def __init__(self, catalog: Catalog) -> None:
        self.schema = catalog.schema
        self.calls = 0

    def read_batch(self, texts: Sequence[str]) -> list[list[Wish]]:
        self.calls += 1
        out = []
        for text in texts:
            low = text.lower()
            wishes = []
            for k, attr in enumerate(self.schema.attributes):
                for v, value in enumerate(attr.values):
                    name = re.escape(value.lower())
                    if re.search(rf"\bno {name}\b", low):
                        wishes.append(Wish(k, v, negated=True))
                    elif re.search(rf"\b{name}\b", low):
                        wishes.append(Wish(k, v))
            out.append(wishes)
        return out


@pytest.fixture()
def word_reader(toy_catalog):
    return WordReader(toy_catalog)


@pytest.fixture()
def slot_picker(toy_catalog, word_reader):
    """The slot-filler over the toy catalog, reading with :class:`WordReader`."""
    return SlotFillerPicker(toy_catalog, word_reader)


@pytest.fixture(scope="session")
def toy_recommender(toy_catalog):
    """An untrained recommender over the toy catalog (its text encoder briefly pretrained)."""
    from textrec.agent import Recommender
    from textrec.language.corpus import build_corpus
    from textrec.language.encoder import EncoderConfig, pretrain_encoder

    text, _ = pretrain_encoder(build_corpus(toy_catalog.schema), EncoderConfig(steps=60), seed=0)
    return Recommender(toy_catalog, text, seed=0).eval()
