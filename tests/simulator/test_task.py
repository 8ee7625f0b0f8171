"""Task configuration, reward maths and the user's choices, as pure functions."""

from __future__ import annotations

import numpy as np
import pytest

from tests.simulator.hand import make_hand_catalog
from textrec.language.bank import NEGATE, REPEAT, REQUEST
from textrec.simulator import TaskConfig
from textrec.simulator.reward import (
    add_failure_penalty,
    attribute_distance,
    feature_distance,
    turn_reward,
)
from textrec.simulator.task import target_candidates
from textrec.simulator.user import choose_attribute, choose_mode, has_values


def test_defaults_are_the_papers():
    c = TaskConfig()
    assert (c.max_turns, c.failure_penalty, c.reward_lambda) == (50, -3.0, 0.5)
    assert c.utterances == "templates"


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("max_turns", 0, "max_turns must be >= 1, got 0"),
        ("failure_penalty", 1.0, "failure_penalty must be finite and <= 0, got 1.0"),
        ("failure_penalty", float("nan"), "failure_penalty"),
        ("reward_lambda", 1.5, r"reward_lambda must be in \[0, 1\], got 1.5"),
        ("repeat_prob", -0.1, "repeat_prob"),
        ("negate_prob", 2.0, "negate_prob"),
        ("utterances", "llm", "utterances must be one of"),
    ],
)
def test_config_rejects_bad_values(field, value, match):
    with pytest.raises(ValueError, match=match):
        TaskConfig(**{field: value})


def test_feature_distance_is_half_the_unit_distance():
    a = np.array([[1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    b = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(
        feature_distance(a, b), [0.0, 1.0, 0.5 * np.sqrt(0.36 + 0.04)], atol=1e-6
    )


def test_attribute_distance_is_normalised_by_the_desired_count():
    missed = np.array(
        [[True, False, True, True], [False, False, False, False], [True, True, True, True]]
    )
    desired = np.array([[True, True, True, False], [True, True, True, True], [False] * 4])
    np.testing.assert_allclose(attribute_distance(missed, desired), [2 / 3, 0.0, 0.0])


def test_turn_reward_and_penalty():
    r = turn_reward(np.array([0.0, 1.0, 0.2]), np.array([0.0, 1.0, 0.5]), 0.5)
    np.testing.assert_allclose(r, [1.0, 0.0, 0.65], atol=1e-6)
    np.testing.assert_allclose(turn_reward(np.array([0.4]), np.array([1.0]), 0.0), [0.6], atol=1e-6)
    out = add_failure_penalty(r, np.array([False, True, True]), -3.0)
    np.testing.assert_allclose(out, [1.0, -3.0, -2.35], atol=1e-6)


def test_has_values_uses_true_label_sets_and_ignores_undesired():
    c = make_hand_catalog()
    ext = np.hstack([c.label_sets, np.ones((c.n_items, 1), dtype=bool)])
    wanted = np.array(
        [[0, 3, 6], [0, 3, 6], [2, 4, 7]]
    )  # red boot women x2; green shoe, any gender
    has = has_values(ext, np.array([3, 4, 4]), wanted)
    assert has.tolist() == [[True, True, True], [False, False, False], [True, True, True]]


def test_choose_attribute_is_uniform_and_prefers_repeats():
    rng = np.random.default_rng(0)
    n = 30000
    wrong = np.ones((n, 3), dtype=bool)
    asked = np.zeros((n, 3), dtype=bool)
    freq = np.bincount(choose_attribute(wrong, asked, 0.5, rng), minlength=3) / n
    np.testing.assert_allclose(freq, [1 / 3] * 3, atol=0.015)
    asked[:, 2] = True
    freq = np.bincount(choose_attribute(wrong, asked, 0.5, rng), minlength=3) / n
    np.testing.assert_allclose(freq, [1 / 6, 1 / 6, 2 / 3], atol=0.015)
    assert (choose_attribute(wrong, asked, 1.0, rng) == 2).all()
    right = np.zeros((2, 3), dtype=bool)
    right[1, 1] = True
    assert choose_attribute(right, np.zeros((2, 3), dtype=bool), 0.5, rng).tolist() == [-1, 1]


def test_choose_mode():
    rng = np.random.default_rng(0)
    asked = np.array([True, False] * 5000)
    modes = choose_mode(asked, 0.0, rng)
    assert modes.tolist() == [REPEAT, REQUEST] * 5000
    modes = choose_mode(asked, 0.2, rng)
    assert abs((modes == NEGATE).mean() - 0.2) < 0.02


def test_target_candidates_need_a_label():
    c = make_hand_catalog()
    assert target_candidates(c, np.arange(6)).tolist() == [0, 1, 2, 3, 4, 5]


def test_held_out_speech_is_refused_for_training_and_logs():
    from textrec.simulator.task import check_training_source

    check_training_source("templates", "training")  # accepted
    with pytest.raises(ValueError, match="held-out.*evaluation only"):
        check_training_source("free", "training")
