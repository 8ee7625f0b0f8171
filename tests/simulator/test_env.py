"""Gymnasium wrappers: check_env, registration, seeding, termination, the vector env's autoreset."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

from tests.simulator.hand import make_hand_bank, make_hand_catalog
from textrec.language.speech import build_sentence_bank
from textrec.simulator import ENV_ID, TaskConfig, TextRecEnv, TextRecVectorEnv


@pytest.fixture(scope="module")
def bank(toy_catalog):
    return build_sentence_bank(toy_catalog.schema)


def test_check_env_passes_without_warnings(toy_catalog, bank):
    env = gymnasium.make(ENV_ID, catalog=toy_catalog, bank=bank).unwrapped  # has a spec
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)


def test_registered_and_made_through_gymnasium(toy_catalog, bank):
    env = gymnasium.make(ENV_ID, catalog=toy_catalog, bank=bank, render_mode="ansi")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert obs["text"] == "" and info["turn"] == 0 and not obs["features"].any()
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs) and info["turn"] == 1
    assert isinstance(reward, float) and np.isin(info["item"], env.unwrapped.simulator.pool)
    np.testing.assert_array_equal(obs["features"], toy_catalog.features[info["item"]])
    assert env.render().startswith("turn 1: shown toy-")


def rollout(env: TextRecEnv, seed: int) -> list:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = [obs["text"]]
    done = False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((obs["text"], reward, info["item"]))
        done = terminated or truncated
    return trace


def test_same_seed_same_episode(toy_catalog, bank):
    env = TextRecEnv(toy_catalog, bank=bank)
    assert rollout(env, 3) == rollout(env, 3)
    assert rollout(env, 3) != rollout(env, 4)


def test_terminated_is_success_and_truncated_is_the_turn_limit():
    c = make_hand_catalog()
    env = TextRecEnv(c, pool="all", bank=make_hand_bank(), config=TaskConfig(max_turns=1))
    env.reset(seed=0, options={"target": 0})
    _, reward, terminated, truncated, info = env.step(np.array([0, 0, 1]))  # red boot women
    assert terminated and not truncated and reward == pytest.approx(0.0) and info["item"] == 0
    with pytest.raises(ValueError, match="episode has ended"):
        env.step(np.array([0, 0, 1]))
    env.reset(seed=0, options={"target": 0})
    _, reward, terminated, truncated, info = env.step(np.array([1, 1, 1]))  # blue shoe women
    assert truncated and not terminated and reward < -2 and info["feedback_attribute"] >= 0
    with pytest.raises(ValueError, match="not in MultiDiscrete"):
        env.reset(seed=0)
        env.step(np.array([5, 0, 0]))


def test_vector_env_batches_sessions_and_autoresets_next_step(toy_catalog, bank):
    envs = gymnasium.make_vec(ENV_ID, num_envs=16, catalog=toy_catalog, bank=bank)
    assert isinstance(envs.unwrapped, TextRecVectorEnv)
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    obs, info = envs.reset(seed=0)
    assert envs.observation_space.contains(obs) and (info["turn"] == 0).all()
    envs.action_space.seed(0)
    ended = np.zeros(16, dtype=bool)
    for _ in range(60):
        obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
        assert envs.observation_space.contains(obs)
        restarted = ended
        assert (info["turn"][restarted] == 0).all() and (reward[restarted] == 0).all()
        assert all(obs["text"][i] == "" for i in np.flatnonzero(restarted))
        assert not (terminated | truncated)[restarted].any()
        assert (info["turn"][~restarted] >= 1).all()
        ended = terminated | truncated
    assert reward.dtype == np.float32 and terminated.shape == (16,)


def test_vector_env_same_seed_same_run(toy_catalog, bank):
    def run(seed: int) -> np.ndarray:
        envs = TextRecVectorEnv(toy_catalog, num_envs=8, bank=bank)
        envs.reset(seed=seed)
        envs.action_space.seed(seed)
        return np.stack([envs.step(envs.action_space.sample())[1] for _ in range(20)])

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_vector_env_bad_input(toy_catalog, bank):
    envs = TextRecVectorEnv(toy_catalog, num_envs=4, bank=bank)
    with pytest.raises(ValueError, match="call reset"):
        envs.step(np.zeros((4, 3), dtype=int))
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="are not in"):
        envs.step(np.zeros((3, 3), dtype=int))
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        TextRecVectorEnv(toy_catalog, num_envs=0, bank=bank)
