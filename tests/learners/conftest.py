"""The learner tests share the agent tests' fixtures (bank, encoder, simulators, recommender)."""

from tests.agent.conftest import make_recommender, test_sim, toy_bank, toy_encoder, train_sim

__all__ = ["make_recommender", "test_sim", "toy_bank", "toy_encoder", "train_sim"]
