"""The simulated user: task, reward, user model, batched engine, Gymnasium wrappers, baselines.

Importing this package registers the Gymnasium environment ``textrec/TextRec-v0``
(:class:`~textrec.simulator.env.TextRecEnv`; its vector entry point is
:class:`~textrec.simulator.vector_env.TextRecVectorEnv`)::

    import gymnasium, textrec.simulator
    env = gymnasium.make("textrec/TextRec-v0", catalog=catalog)
    envs = gymnasium.make_vec("textrec/TextRec-v0", num_envs=1024, catalog=catalog)
"""

from __future__ import annotations

import gymnasium

from textrec.catalog.retrieval import Action, Retriever
from textrec.simulator.baselines import (
    POLICIES,
    PRIVILEGED,
    OracleSlotsPolicy,
    RandomPolicy,
    SlotFillerPolicy,
    make_policy,
)
from textrec.simulator.engine import BatchedSimulator, SessionOutcomes, StepResult
from textrec.simulator.env import TextRecEnv
from textrec.simulator.policy import Policy
from textrec.simulator.task import TaskConfig
from textrec.simulator.vector_env import TextRecVectorEnv

__all__ = [
    "ENV_ID",
    "Action",
    "Retriever",
    "TaskConfig",
    "BatchedSimulator",
    "StepResult",
    "SessionOutcomes",
    "TextRecEnv",
    "TextRecVectorEnv",
    "Policy",
    "RandomPolicy",
    "SlotFillerPolicy",
    "OracleSlotsPolicy",
    "POLICIES",
    "PRIVILEGED",
    "make_policy",
]

ENV_ID = "textrec/TextRec-v0"
"""Gymnasium id of the single-session environment."""

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="textrec.simulator.env:TextRecEnv",
        vector_entry_point="textrec.simulator.vector_env:TextRecVectorEnv",
    )
