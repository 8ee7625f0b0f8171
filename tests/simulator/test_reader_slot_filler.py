"""The slot-filler that reads the user's text with a reader (as a chat with a person would)."""

from __future__ import annotations

import numpy as np

from textrec.evaluation import evaluate
from textrec.language.speech import build_sentence_bank
from textrec.simulator import BatchedSimulator, Policy, SlotFillerPolicy, make_policy
from textrec.simulator.baselines import ReaderSlotFillerPolicy
from textrec.simulator.task import TaskConfig


def test_reader_policy_follows_the_protocol(toy_catalog):
    p = make_policy("reader", toy_catalog)
    assert isinstance(p, ReaderSlotFillerPolicy) and isinstance(p, Policy)


def test_on_template_speech_it_matches_the_structured_slot_filler(toy_catalog):
    bank = build_sentence_bank(toy_catalog.schema)
    sim = BatchedSimulator(toy_catalog, "train", bank)
    structured = evaluate(SlotFillerPolicy(toy_catalog), sim, 300, seed=0)
    read = evaluate(ReaderSlotFillerPolicy(toy_catalog), sim, 300, seed=0)
    assert abs(read.sr_at_10.mean - structured.sr_at_10.mean) <= 0.05


def test_free_speech_is_understood(toy_catalog):
    bank = build_sentence_bank(toy_catalog.schema, source="free", seed=0)
    sim = BatchedSimulator(toy_catalog, "train", bank, TaskConfig(utterances="free"))
    random = evaluate(make_policy("random", toy_catalog), sim, 300, seed=0)
    read = evaluate(ReaderSlotFillerPolicy(toy_catalog), sim, 300, seed=0)
    assert read.sr_at_10.mean > random.sr_at_10.mean + 0.2


def test_rejected_values_empty_their_slot(toy_catalog):
    p = ReaderSlotFillerPolicy(toy_catalog)
    p.reset(1, np.random.default_rng(0))
    p._learn(np.array([0, 1]), np.array(["boots for my wife", "anything but boots"], dtype=object))
    boots = toy_catalog.schema.value_index("category", "Boots")
    assert p._wants[0, 0] == boots and p._rejects[1, 0] == boots
    assert p._wants[1].tolist() == [-1, -1, -1]
