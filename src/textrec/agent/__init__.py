"""The recommender agent: item and text encoders, multi-slot state tracker, policy and Q heads, and
:class:`Recommender`, which turns a dialogue so far into the next item."""

from textrec.agent.acting import GREEDY_MODES, HEADS, Acting
from textrec.agent.config import PARAMETER_GROUPS, READOUTS, RecommenderConfig
from textrec.agent.policy import (
    PolicyHeads,
    QHeads,
    ValueHead,
    greedy_values,
    masked_q,
    reset_parameters,
    sample_values,
)
from textrec.agent.recommender import Recommender, RecommenderPolicy
from textrec.agent.tracker import Dialogues, StateTracker
from textrec.agent.visual import ItemEncoder, item_table

__all__ = [
    "GREEDY_MODES",
    "HEADS",
    "PARAMETER_GROUPS",
    "READOUTS",
    "Acting",
    "Dialogues",
    "ItemEncoder",
    "PolicyHeads",
    "QHeads",
    "Recommender",
    "RecommenderConfig",
    "RecommenderPolicy",
    "StateTracker",
    "ValueHead",
    "greedy_values",
    "item_table",
    "masked_q",
    "reset_parameters",
    "sample_values",
]
