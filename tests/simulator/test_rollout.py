"""The one rollout: evaluation, on-policy episodes and log collection are recorders of ``play``."""

from __future__ import annotations

import numpy as np
import pytest

from textrec.catalog.retrieval import Retriever
from textrec.language.speech import build_sentence_bank
from textrec.learners.batches import SimulatorEpisodes
from textrec.simulator import BatchedSimulator, RandomPolicy, SlotFillerPolicy
from textrec.simulator.rollout import DialogueRecorder, Step, play, rollout


@pytest.fixture
def sim(toy_catalog):
    return BatchedSimulator(toy_catalog, "train", build_sentence_bank(toy_catalog.schema))


class _Turns:
    """Counts the turns each session took and checks what a recorder is shown."""

    def __init__(self, n: int) -> None:
        self.turns = np.zeros(n, dtype=np.int64)

    def record(self, step: Step) -> None:
        assert step.before.active[step.rows].all() and (step.items[step.rows] >= 0).all()
        assert (np.delete(step.items, step.rows) == -1).all()
        np.testing.assert_array_equal(step.after.items, step.items)
        self.turns[step.rows] += 1


def test_every_recorder_sees_every_turn(toy_catalog, sim):
    policy = SlotFillerPolicy(toy_catalog)
    rng = np.random.default_rng(3)
    result = sim.reset(40, rng)
    policy.reset(40, rng)
    turns, dialogues = _Turns(40), DialogueRecorder(5)
    outcomes = play(policy, sim, Retriever(toy_catalog, "train"), result, [turns, dialogues])
    ended = np.where(outcomes.success_turn > 0, outcomes.success_turn, sim.config.max_turns)
    np.testing.assert_array_equal(turns.turns, ended)
    recorded = dialogues.dialogues(outcomes)
    assert [len(d.items) for d in recorded] == turns.turns[:5].tolist()


def test_evaluation_and_on_policy_episodes_are_the_same_sessions(toy_catalog, sim):
    """A values policy, one seed: the evaluation's dialogues are the episodes a learner gets."""
    retriever = Retriever(toy_catalog, "train")
    outcomes, dialogues = rollout(
        RandomPolicy(toy_catalog), sim, retriever, 12, np.random.default_rng(7), record=12
    )
    batch = SimulatorEpisodes(sim, RandomPolicy(toy_catalog), 12).sample(np.random.default_rng(7))
    items = batch.dialogues.items
    for i, dialogue in enumerate(dialogues):
        assert tuple(items[i, : batch.dialogues.n_turns[i]].tolist()) == dialogue.items
        assert batch.terminated[i].any() == dialogue.success
    np.testing.assert_array_equal(batch.terminated.any(axis=1), outcomes.success)
