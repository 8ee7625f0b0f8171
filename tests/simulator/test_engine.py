"""Batched engine: hand-worked sessions, truncation, determinism, bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.conftest import make_toy_catalog
from tests.simulator.hand import (
    BLUE,
    BOOT,
    RED,
    WOMEN,
    make_hand_bank,
    make_hand_catalog,
)
from textrec.language.bank import NEGATE, REPEAT, REQUEST
from textrec.language.speech import build_sentence_bank
from textrec.simulator import BatchedSimulator, TaskConfig

HALF_SQRT2 = 0.5 * np.sqrt(2.0)


def hand_sim(config: TaskConfig | None = None, extra: int = 0) -> BatchedSimulator:
    catalog = make_hand_catalog(extra_blue_boots=extra)
    return BatchedSimulator(catalog, "all", make_hand_bank(), config or TaskConfig())


def test_hand_worked_session():
    """Target 0 (red boot women); shown 1, 5, 4, 3. Every number below is worked by hand."""
    sim = hand_sim(TaskConfig(repeat_prob=1.0, negate_prob=0.0))
    first = sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    assert first.turn.tolist() == [0] and first.active.tolist() == [True]
    assert first.texts.tolist() == [""] and first.items.tolist() == [-1]

    # Turn 1: blue boot women. Only the colour is wrong: d_f = ½√2, d_g = 1/3.
    r1 = sim.step(np.array([1]))
    assert r1.reward[0] == pytest.approx(-0.5 * HALF_SQRT2 - 0.5 / 3, abs=1e-6)
    assert (r1.feedback_attribute[0], r1.feedback_value[0], r1.feedback_mode[0]) == (
        0,
        RED,
        REQUEST,
    )
    assert r1.texts[0] == "request red" and r1.violations[0] == 0
    assert r1.tokens[0, : r1.lengths[0]].tolist() == make_hand_bank().vocab.encode("request red")

    # Turn 2: blue shoe women (features (0,0,2,0), unit (0,0,1,0)). Colour and type wrong; the
    # colour was asked for before: one violation, and with repeat_prob=1 the user repeats it.
    r2 = sim.step(np.array([5]))
    assert r2.reward[0] == pytest.approx(-0.5 * HALF_SQRT2 - 0.5 * 2 / 3, abs=1e-6)
    assert (r2.feedback_attribute[0], r2.feedback_mode[0], r2.violations[0]) == (0, REPEAT, 1)
    assert r2.texts[0] == "repeat red"

    # Turn 3: green shoe, gender missing: all three desired values missing.
    r3 = sim.step(np.array([4]))
    assert r3.reward[0] == pytest.approx(-0.5 * HALF_SQRT2 - 0.5, abs=1e-6)
    assert r3.violations[0] == 1 and r3.feedback_attribute[0] == 0

    # Turn 4: red boot men;women matches through its second gender: success.
    d_f = 0.5 * np.linalg.norm(np.array([1, 1]) / np.sqrt(2) - np.array([1, 0]))
    r4 = sim.step(np.array([3]))
    assert r4.terminated.tolist() == [True] and r4.truncated.tolist() == [False]
    assert r4.active.tolist() == [False]
    assert r4.reward[0] == pytest.approx(-0.5 * d_f, abs=1e-6)
    assert (r4.feedback_attribute[0], r4.sentence[0], r4.texts[0]) == (-1, -1, "")
    assert r4.tokens[0].tolist() == [0] * r4.tokens.shape[1] and r4.violations[0] == 0

    out = sim.outcomes()
    assert out.success.tolist() == [True] and out.success_turn.tolist() == [4]
    assert out.ni.tolist() == [4] and out.nv.tolist() == [2] and out.turns.tolist() == [4]
    expected = sum(float(r.reward[0]) for r in (r1, r2, r3, r4))
    assert out.returns[0] == pytest.approx(expected) and out.returns[0] == pytest.approx(
        1.7480 - 4.0,
        abs=1e-4,  # four turns, each offset by -1
    )


def test_showing_the_target_itself_gives_the_best_reward_zero():
    sim = hand_sim()
    sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    assert sim.step(np.array([0])).reward[0] == pytest.approx(0.0)


def test_without_repeat_habit_the_comment_is_uniform_over_wrong_attributes():
    sim = hand_sim(TaskConfig(repeat_prob=0.0, negate_prob=0.0))
    picks = []
    for seed in range(200):
        sim.reset(1, np.random.default_rng(seed), targets=np.array([0]))
        sim.step(np.array([1]))  # asks for red
        r = sim.step(np.array([5]))  # colour (asked before) and type wrong
        picks.append(int(r.feedback_attribute[0]))
        mode = int(r.feedback_mode[0])
        assert mode == (REPEAT if picks[-1] == 0 else REQUEST)
    assert set(picks) == {0, 1} and 60 < picks.count(0) < 140


def test_negation_habit():
    sim = hand_sim(TaskConfig(negate_prob=1.0))
    sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    r = sim.step(np.array([1]))
    assert r.feedback_mode[0] == NEGATE and r.texts[0] == "negate red"


def test_truncation_at_fifty_turns_adds_the_penalty():
    """Target 0 is the only red item; 50 blue boots (same features as each other) are shown."""
    sim = hand_sim(TaskConfig(), extra=60)
    sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    blue_boots = [1] + list(range(6, 66))
    base = -0.5 * HALF_SQRT2 - 0.5 / 3  # item 1's features differ from the target's
    rewards, violations = [], []
    for t in range(50):
        r = sim.step(np.array([blue_boots[t]]))
        rewards.append(float(r.reward[0]))
        violations.append(int(r.violations[0]))
        assert r.truncated[0] == (t == 49) and not r.terminated[0]
    assert rewards[:49] == pytest.approx([base] * 49, abs=1e-6)
    assert rewards[49] == pytest.approx(base - 3.0, abs=1e-6)
    assert violations == [0] + [1] * 49  # red asked at turn 1, missed at every later turn
    out = sim.outcomes()
    assert out.finished.tolist() == [True] and out.success.tolist() == [False]
    assert out.success_turn.tolist() == [0] and out.ni.tolist() == [50] and out.nv.tolist() == [49]
    assert out.returns[0] == pytest.approx(50 * base - 3.0, abs=1e-4)
    with pytest.raises(ValueError, match="session 0 has finished"):
        sim.step(np.array([blue_boots[50]]))
    with pytest.raises(ValueError, match="every session has finished"):
        sim.step(np.array([-1]))


def test_custom_max_turns_and_penalty():
    sim = hand_sim(TaskConfig(max_turns=2, failure_penalty=-1.0))
    sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    sim.step(np.array([1]))
    r = sim.step(np.array([5]))
    assert r.truncated[0] and r.reward[0] == pytest.approx(-0.5 * HALF_SQRT2 - 0.5 * 2 / 3 - 1.0)
    assert sim.outcomes().ni.tolist() == [2]


def test_batch_sessions_are_independent_and_finished_ones_are_skipped():
    sim = hand_sim(TaskConfig(repeat_prob=1.0, negate_prob=0.0))
    sim.reset(3, np.random.default_rng(0), targets=np.array([0, 1, 0]))
    r = sim.step(np.array([0, 0, 1]))  # session 0 succeeds at once
    assert r.terminated.tolist() == [True, False, False]
    assert r.active.tolist() == [False, True, True]
    assert r.feedback_value[1] == BLUE and r.feedback_value[2] == RED
    r = sim.step(np.array([-1, 1, 3]))
    assert r.items.tolist() == [-1, 1, 3] and r.stepped.tolist() == [False, True, True]
    assert r.reward[0] == 0 and r.texts[0] == "" and r.turn.tolist() == [1, 2, 2]
    out = sim.outcomes()
    assert out.success_turn.tolist() == [1, 2, 2] and out.ni.tolist() == [1, 2, 2]
    assert out.finished.all()


def test_targets_are_pool_items_with_labels_and_stay_private():
    catalog = make_toy_catalog()
    bank = build_sentence_bank(catalog.schema)
    sim = BatchedSimulator(catalog, "test", bank)
    sim.reset(500, np.random.default_rng(1))
    targets = sim.targets
    assert np.isin(targets, catalog.pool("test")).all()
    np.testing.assert_array_equal(sim.desired, catalog.labels[targets])
    assert len(np.unique(targets)) > 10
    targets[:] = -5  # a copy: the engine's state is untouched
    assert (sim.targets >= 0).all()
    with pytest.raises(ValueError, match="read-only"):
        sim.shown[0, 0] = True


def run_random(sim: BatchedSimulator, seed: int, n: int = 64) -> tuple[list, np.ndarray]:
    """Random unseen pool items until every session ends; returns texts and outcomes' NI."""
    rng = np.random.default_rng(seed)
    result = sim.reset(n, rng)
    texts = []
    while result.active.any():
        noise = rng.random(sim.shown.shape)
        noise[sim.shown] = -1
        items = np.where(result.active, sim.pool[noise.argmax(axis=1)], -1)
        result = sim.step(items)
        texts.append(result.texts.tolist())
    return texts, np.stack([sim.outcomes().ni, sim.outcomes().nv, sim.outcomes().targets])


def test_same_seed_same_sessions():
    catalog = make_toy_catalog()
    sim = BatchedSimulator(catalog, "train", build_sentence_bank(catalog.schema))
    texts_a, out_a = run_random(sim, 7)
    texts_b, out_b = run_random(sim, 7)
    texts_c, out_c = run_random(sim, 8)
    assert texts_a == texts_b
    np.testing.assert_array_equal(out_a, out_b)
    assert not np.array_equal(out_a, out_c)


def test_reset_sessions_restarts_only_the_given_rows():
    sim = hand_sim()
    sim.reset(2, np.random.default_rng(0), targets=np.array([0, 0]))
    sim.step(np.array([1, 1]))
    sim.reset_sessions(np.array([False, True]), targets=np.array([1]))
    assert sim.targets.tolist() == [0, 1]
    assert sim.shown.sum(axis=1).tolist() == [1, 0]
    assert sim.outcomes().turns.tolist() == [1, 0]
    r = sim.step(np.array([3, 1]))  # session 1 may be shown item 1 again: it is a new session
    assert r.terminated.tolist() == [True, True]


@pytest.mark.parametrize(
    ("items", "match"),
    [
        (np.array([1, 2]), r"items must be \(1,\)"),
        (np.array([1.0]), "integer catalog indices"),
        (np.array([-1]), "session 0 is still running and needs an item"),
        (np.array([99]), "outside the catalog of 6 items"),
    ],
)
def test_bad_items(items, match):
    sim = hand_sim()
    sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    with pytest.raises(ValueError, match=match):
        sim.step(items)


def test_item_shown_twice_or_outside_pool():
    catalog = make_hand_catalog()
    sim = BatchedSimulator(catalog, np.array([0, 1, 2]), make_hand_bank())
    sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    with pytest.raises(ValueError, match=r"item 3 \(hand-3\) is not in the pool"):
        sim.step(np.array([3]))
    sim.step(np.array([1]))
    with pytest.raises(ValueError, match=r"item 1 \(hand-1\) was already shown"):
        sim.step(np.array([1]))


def test_bad_setup():
    catalog = make_hand_catalog()
    bank = make_hand_bank()
    with pytest.raises(ValueError, match="call reset"):
        BatchedSimulator(catalog, "all", bank).step(np.array([0]))
    with pytest.raises(ValueError, match="n_sessions must be >= 1"):
        BatchedSimulator(catalog, "all", bank).reset(0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="numpy.random.Generator"):
        BatchedSimulator(catalog, "all", bank).reset(1, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sentence bank covers 10 values"):
        BatchedSimulator(catalog, "all", build_sentence_bank(make_toy_catalog().schema))
    with pytest.raises(ValueError, match="differs from TaskConfig.utterances 'mix'"):
        BatchedSimulator(catalog, "all", bank, TaskConfig(utterances="mix"))
    with pytest.raises(ValueError, match="pool of 0 given indices of catalog 'hand' is empty"):
        BatchedSimulator(catalog, np.array([], dtype=int), bank)
    with pytest.raises(ValueError, match="target 4 is not a pool item"):
        BatchedSimulator(catalog, np.array([0, 1]), bank).reset(
            1, np.random.default_rng(0), targets=np.array([4])
        )
    unlabeled = dataclasses.replace(
        catalog,
        labels=np.full_like(catalog.labels, -1),
        label_sets=np.zeros_like(catalog.label_sets),
    )
    with pytest.raises(ValueError, match="no item of the pool .* has any label"):
        BatchedSimulator(unlabeled, "all", bank)


def test_targets_without_some_labels_only_desire_what_they_have():
    """Item 4 (green shoe, no gender) as target: any green shoe succeeds, whatever its gender."""
    sim = hand_sim()
    sim.reset(1, np.random.default_rng(0), targets=np.array([4]))
    assert sim.desired.tolist() == [[2, 1, -1]]
    r = sim.step(np.array([5]))  # blue shoe: colour wrong only -> d_g = 1/2
    assert r.feedback_attribute[0] == 0
    d_f = 0.5 * np.sqrt(2.0)
    assert r.reward[0] == pytest.approx(-0.5 * d_f - 0.5 * 0.5, abs=1e-6)
    assert WOMEN not in r.feedback_value and BOOT not in r.feedback_value


def test_literal_paper_reward_with_zero_offset():
    sim = hand_sim(TaskConfig(reward_offset=0.0))
    sim.reset(1, np.random.default_rng(0), targets=np.array([0]))
    assert sim.step(np.array([0])).reward[0] == pytest.approx(1.0)
