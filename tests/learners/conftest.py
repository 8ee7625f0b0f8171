"""The learner tests share the agent tests' fixtures (bank, encoder, simulators, recommender) and
add a small experience log of the toy catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agent.conftest import make_recommender, test_sim, toy_bank, toy_encoder, train_sim
from textrec.logs.collect import collect
from textrec.logs.policies import default_devices

__all__ = ["make_recommender", "test_sim", "toy_bank", "toy_encoder", "train_sim", "toy_log"]


@pytest.fixture(scope="session")
def toy_log(toy_catalog, toy_bank, tmp_path_factory) -> Path:
    """60 sessions of the six heuristic devices on the toy catalog, in three shards."""
    out = tmp_path_factory.mktemp("learners") / "log"
    collect(
        toy_catalog, out, 60, 0, default_devices(), chunk_sessions=20, progress=False, bank=toy_bank
    )
    return out
