"""Learners: one shared training loop (:mod:`~textrec.learners.loop`), batch sources
(:mod:`~textrec.learners.batches`), evaluators (:mod:`~textrec.learners.evaluators`), the checkpoint
format (:mod:`~textrec.learners.checkpoint`), shared maths (:mod:`~textrec.learners.functional`),
one module per learner holding its config, loss and update, the registry :data:`LEARNERS` and the
library entry point :func:`train_agent` (:mod:`~textrec.learners.run`).

Names are imported lazily (PEP 562): :mod:`textrec.learners.checkpoint` is used by the language
models and the agent, which the learners themselves import.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BatchSource": "loop",
    "Checkpoint": "loop",
    "Learner": "loop",
    "fit": "loop",
    "fitter": "loop",
    "load_checkpoint": "loop",
    "save_checkpoint": "loop",
    "DialogueBatch": "batches",
    "LogDialogues": "batches",
    "SimulatorEpisodes": "batches",
    "Evaluator": "evaluators",
    "SimulatorEvaluator": "evaluators",
    "OnlineConfig": "online",
    "OnlineLearner": "online",
    "BCConfig": "bc",
    "BCLearner": "bc",
    "CQLConfig": "cql",
    "CQLLearner": "cql",
    "BCQConfig": "bcq",
    "BCQLearner": "bcq",
    "IQLConfig": "iql",
    "IQLLearner": "iql",
    "LEARNERS": "registry",
    "LearnerSpec": "registry",
    "TrainSpec": "run",
    "TrainResult": "run",
    "train_agent": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'textrec.learners' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"textrec.learners.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
