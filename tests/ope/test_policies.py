"""Target policies through the one policy protocol: names, saved agents, replay = what acts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrec.agent import Recommender
from textrec.errors import InputError
from textrec.language.corpus import build_corpus
from textrec.language.encoder import EncoderConfig, pretrain_encoder
from textrec.ope.policies import TargetPolicy, TargetSpec, parse_target, replay
from textrec.ope.scoring import true_value
from textrec.ope.sessions import load_sessions, log_bank
from textrec.simulator.engine import BatchedSimulator


@pytest.fixture(scope="module")
def agent_dir(toy_catalog, tmp_path_factory):
    """An (untrained) saved recommender of the toy catalog, as ``textrec train`` leaves it."""
    torch.set_num_threads(1)
    encoder, _ = pretrain_encoder(build_corpus(toy_catalog.schema), EncoderConfig(steps=30), seed=0)
    run = tmp_path_factory.mktemp("ope-agent")
    Recommender(toy_catalog, encoder, seed=0).save(run / "final")
    return run


def test_names_parse_to_specs(agent_dir):
    assert parse_target("sf") == TargetSpec("sf")
    assert parse_target("sf-eps-0.3").epsilon == 0.3
    assert parse_target("sf-temp-2").temperature == 2.0
    assert parse_target(str(agent_dir)).base == str(agent_dir)
    variant = parse_target(f"{agent_dir}@eps-0.2")
    assert (variant.base, variant.epsilon) == (str(agent_dir), 0.2)
    for bad in ("greedy", "sf@eps-0.1", f"{agent_dir}@eps-2", f"{agent_dir}@warm"):
        with pytest.raises(InputError, match="unknown target policy"):
            parse_target(bad)
    with pytest.raises(InputError, match="structured feedback"):
        parse_target("slot-filler")


def test_replay_gives_the_probabilities_the_policy_acted_with(toy_catalog, toy_log, agent_dir):
    """A saved agent replayed on a log it played itself: Action.log_prob of what it chose."""
    torch.set_num_threads(1)
    bank = log_bank(toy_log, toy_catalog)
    agent = TargetSpec("agent", base=str(agent_dir), epsilon=0.1)
    for spec in (agent, TargetSpec("sf", epsilon=0.2)):
        policy = TargetPolicy(spec, toy_catalog)
        episodes = load_sessions(toy_log, toy_catalog)
        replayed = replay(policy, episodes, bank)
        assert np.isfinite(replayed.log_prob).all() and (replayed.log_prob <= 0).all()
        for h in replayed.heads:
            np.testing.assert_allclose(h.sum(axis=1), 1.0, rtol=1e-5)
        # the first decision of every session: no dialogue yet, the policy's fresh-state heads
        fresh = policy.act(_fresh(len(episodes), toy_catalog, bank))
        first = np.r_[0, np.cumsum((episodes.mask & (episodes.items >= 0)).sum(axis=1))[:-1]]
        np.testing.assert_allclose(
            replayed.log_prob[first], fresh.log_prob(episodes.actions[:, 0]), rtol=1e-5
        )


def _fresh(n, catalog, bank):
    sim = BatchedSimulator(catalog, "train", bank)
    return sim.reset(n, np.random.default_rng(0))


def test_the_truth_runs_the_same_object(toy_catalog, toy_log, agent_dir):
    """The truth of an agent target: its TargetPolicy played on the log's users."""
    torch.set_num_threads(1)
    spec = TargetSpec("agent", base=str(agent_dir))
    mean, se = true_value(spec, toy_log, toy_catalog, n_sessions=16, seed=0)
    assert np.isfinite(mean) and mean < 0 and se > 0
    assert (mean, se) == true_value(spec, toy_log, toy_catalog, n_sessions=16, seed=0)
