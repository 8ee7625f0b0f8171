"""The one policy protocol: every recommender of textrec acts through it.

A :class:`Policy` acts on a batch of ``B`` dialogues so far, given as the
:class:`~textrec.simulator.engine.StepResult` of their previous turn::

    result = sim.reset(B, rng)          # turn 0
    policy.reset(B, rng)
    while result.active.any():
        action = policy.act(result)     # an Action in attribute space for all B sessions
        items = retriever.retrieve(action.take(result.active), sim.shown[result.active])
        ...                             # scatter into a (B,) array, -1 for finished sessions
        result = sim.step(items)

(:func:`textrec.simulator.rollout.play` is that loop.) A policy sees only what a deployed
recommender could: the shown item, the user's feedback (as structure, text and token ids) and the
reward. Rows whose ``result.turn == 0`` are fresh sessions (after ``reset`` or an autoreset): a
policy clears its memory of them.

The :class:`~textrec.catalog.retrieval.Action` carries the per-head distributions ``pi_k(. | h)``
(``head_probs``) and, for a policy that draws or takes the argmax, the chosen ``values``;
``action.log_prob(values)`` scores any given action under them (what off-policy evaluation needs).

Implementations: :class:`~textrec.simulator.baselines.RandomPolicy`,
:class:`~textrec.simulator.baselines.SlotFillerPolicy`,
:class:`~textrec.simulator.baselines.ReaderSlotFillerPolicy`, the behaviour devices
(:class:`~textrec.logs.policies.DevicePolicy`, :class:`~textrec.logs.policies.DeviceMix`), OPE's
target policies (:class:`~textrec.ope.policies.TargetPolicy`) and trained agents
(:class:`~textrec.agent.recommender.RecommenderPolicy`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from textrec.catalog.retrieval import Action
from textrec.simulator.engine import StepResult

__all__ = ["Policy"]


@runtime_checkable
class Policy(Protocol):
    """A recommender over a batch of sessions, choosing in attribute space."""

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Forget every session; the next :meth:`act` covers ``n_sessions`` fresh ones.

        ``rng`` is the only source of the policy's own randomness (so an evaluation seed fixes it).
        """

    def act(self, result: StepResult) -> Action:
        """The choice for every session given the previous turn (finished rows are ignored),
        with its per-head distributions (``Action.head_probs``)."""
