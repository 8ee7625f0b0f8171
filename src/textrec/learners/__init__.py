"""Learners: one shared training loop (:mod:`~textrec.learners.loop`), batch sources
(:mod:`~textrec.learners.batches`), evaluators (:mod:`~textrec.learners.evaluators`), shared maths
(:mod:`~textrec.learners.functional`), one module per learner holding its config, loss and update,
the registry :data:`LEARNERS` and the library entry point :func:`train_agent`
(:mod:`~textrec.learners.run`). The checkpoint format is :mod:`textrec.checkpoint`, below every
layer.
"""

from __future__ import annotations

from textrec.learners.batches import DialogueBatch, LogDialogues, SimulatorEpisodes
from textrec.learners.bc import BCConfig, BCLearner
from textrec.learners.bcq import BCQConfig, BCQLearner
from textrec.learners.cql import CQLConfig, CQLLearner
from textrec.learners.evaluators import Evaluator, SimulatorEvaluator
from textrec.learners.iql import IQLConfig, IQLLearner
from textrec.learners.loop import (
    BatchSource,
    Checkpoint,
    Learner,
    fit,
    fitter,
    load_checkpoint,
    save_checkpoint,
)
from textrec.learners.online import OnlineConfig, OnlineLearner
from textrec.learners.reader import ReaderConfig, ReaderLearner
from textrec.learners.registry import LEARNERS, LearnerSpec
from textrec.learners.run import TrainResult, TrainSpec, train_agent

__all__ = [
    "BCConfig",
    "BCLearner",
    "BCQConfig",
    "BCQLearner",
    "BatchSource",
    "CQLConfig",
    "CQLLearner",
    "Checkpoint",
    "DialogueBatch",
    "Evaluator",
    "IQLConfig",
    "IQLLearner",
    "LEARNERS",
    "Learner",
    "LearnerSpec",
    "LogDialogues",
    "OnlineConfig",
    "OnlineLearner",
    "ReaderConfig",
    "ReaderLearner",
    "SimulatorEpisodes",
    "SimulatorEvaluator",
    "TrainResult",
    "TrainSpec",
    "fit",
    "fitter",
    "load_checkpoint",
    "save_checkpoint",
    "train_agent",
]
