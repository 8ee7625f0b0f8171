"""Learners: one shared training loop (:mod:`textrec.learners.loop`), shared maths
(:mod:`textrec.learners.functional`), and one module per learner holding only its loss
(:mod:`textrec.learners.online`: PPO against the simulator)."""

from textrec.learners.loop import (
    BatchSource,
    Checkpoint,
    EpisodeBatch,
    Evaluator,
    Learner,
    SimulatorEpisodes,
    SimulatorEvaluator,
    fit,
    fitter,
    load_checkpoint,
    save_checkpoint,
)
from textrec.learners.online import OnlineConfig, OnlineLearner

__all__ = [
    "BatchSource",
    "Checkpoint",
    "EpisodeBatch",
    "Evaluator",
    "Learner",
    "OnlineConfig",
    "OnlineLearner",
    "SimulatorEpisodes",
    "SimulatorEvaluator",
    "fit",
    "fitter",
    "load_checkpoint",
    "save_checkpoint",
]
