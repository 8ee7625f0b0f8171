"""Schemas shaped like textrec's catalogs: the paper's six attributes, and the real-image four."""

from __future__ import annotations

import pytest

from textrec.catalog import Attribute, AttributeSchema

SIX = AttributeSchema(
    (
        Attribute("category", ("Boots", "Sandals", "Shoes", "Slippers")),
        Attribute(
            "subcategory",
            ("Ankle", "Knee High", "Flat", "Heels", "Oxfords", "Sneakers and Athletic Shoes"),
        ),
        Attribute(
            "heel_height", ("Flat", "Under 1in", "1in - 1 3/4in", "5in & over"), label="heel height"
        ),
        Attribute(
            "closure",
            ("Lace up", "Slip-On", "Pull-on", "Buckle", "Elastic Gore"),
            multi_valued=True,
        ),
        Attribute("gender", ("Men", "Women", "Boys", "Girls"), multi_valued=True),
        Attribute(
            "toe_style", ("Round Toe", "Pointed Toe", "Capped Toe", "Medallion"), label="toe style"
        ),
    )
)
"""The paper's six attributes with a few values each (as in the built-in catalog)."""


def real_like(n_brands: int = 685) -> AttributeSchema:
    """The real-image catalog's attributes (category, subcategory, brand, colour) at full size."""
    return AttributeSchema(
        (
            Attribute("category", ("Boots", "Sandals", "Shoes", "Slippers")),
            Attribute(
                "subcategory", ("Ankle", "Mid-Calf", "Flat", "Heels", "Loafers", "Clogs and Mules")
            ),
            Attribute("brand", tuple(f"Maker {i} & Co" for i in range(n_brands))),
            Attribute("colour", ("Black", "Brown", "White", "Red", "Blue", "Beige")),
        )
    )


@pytest.fixture(scope="session")
def six_schema() -> AttributeSchema:
    """See :data:`SIX`."""
    return SIX


@pytest.fixture(scope="session")
def toy_corpus():
    """The labelled corpus of the toy catalog's schema (category, gender, toe style)."""
    from tests.conftest import make_toy_catalog
    from textrec.language.corpus import build_corpus

    return build_corpus(make_toy_catalog().schema)


@pytest.fixture(scope="session")
def toy_encoder(toy_corpus):
    """A text encoder pretrained briefly (300 steps) on :func:`toy_corpus`, and its report."""
    from textrec.language.encoder import EncoderConfig, pretrain_encoder

    return pretrain_encoder(toy_corpus, EncoderConfig(steps=300), seed=0)


@pytest.fixture(scope="session")
def toy_utterance(toy_corpus):
    """An utterance model trained for 20 epochs on :func:`toy_corpus`, and its report."""
    from textrec.language.utterance import UtteranceConfig, train_utterance_model

    return train_utterance_model(toy_corpus, UtteranceConfig(epochs=20), seed=0)
