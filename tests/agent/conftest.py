"""Fixtures for the agent and learner tests: the toy catalog's sentence bank, a quickly pretrained
text encoder, simulators on both pools and a recommender factory."""

from __future__ import annotations

import copy

import pytest

from textrec.agent import Recommender, RecommenderConfig
from textrec.catalog import Catalog
from textrec.language.bank import SentenceBank
from textrec.language.corpus import build_corpus
from textrec.language.encoder import EncoderConfig, PretrainedTextEncoder, pretrain_encoder
from textrec.language.speech import build_sentence_bank
from textrec.simulator import BatchedSimulator


@pytest.fixture(scope="session")
def toy_bank(toy_catalog: Catalog) -> SentenceBank:
    """Template sentences for the toy catalog's values."""
    return build_sentence_bank(toy_catalog.schema)


@pytest.fixture(scope="session")
def toy_encoder(toy_catalog: Catalog) -> PretrainedTextEncoder:
    """A text encoder pretrained briefly on the toy corpus (held-out value accuracy ~0.98)."""
    model, _ = pretrain_encoder(build_corpus(toy_catalog.schema), EncoderConfig(steps=150), seed=0)
    return model


@pytest.fixture()
def make_recommender(toy_catalog, toy_encoder):
    """``make_recommender(seed=0, **config)``: a fresh recommender with its own encoder copy."""

    def make(seed: int = 0, catalog: Catalog | None = None, **config) -> Recommender:
        encoder = copy.deepcopy(toy_encoder)
        return Recommender(
            catalog or toy_catalog,
            encoder,
            RecommenderConfig(**config),
            seed=seed,
        )

    return make


@pytest.fixture()
def train_sim(toy_catalog, toy_bank) -> BatchedSimulator:
    """Simulated users on the toy train pool."""
    return BatchedSimulator(toy_catalog, "train", toy_bank)


@pytest.fixture()
def test_sim(toy_catalog, toy_bank) -> BatchedSimulator:
    """Simulated users on the toy test pool."""
    return BatchedSimulator(toy_catalog, "test", toy_bank)
