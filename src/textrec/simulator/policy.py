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

A policy that is also :class:`Resumable` lets a caller take each session's memory out after a
step and put it back later, with other sessions' (a server between a person's turns): a turn then
costs the policy one step instead of a replay of the whole conversation. The slot-fillers and
trained agents are resumable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from textrec.catalog.retrieval import Action
from textrec.simulator.engine import StepResult

__all__ = ["Memory", "Policy", "Resumable", "memory_rows", "stack_memories"]


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


Memory = tuple[np.ndarray, ...]
"""What a policy remembers of ``B`` sessions: arrays with ``B`` rows each (row ``i``: session
``i``), e.g. a slot-filler's ``(B, K)`` slots, an agent's ``(B, D)`` tracker states and ``(B, K)``
latest requests."""


@runtime_checkable
class Resumable(Protocol):
    """A :class:`Policy` whose per-session memory can be taken out and put back."""

    def memory(self) -> Memory:
        """A copy of what the policy remembers of each of its sessions now (after the last
        :meth:`~Policy.act`)."""

    def resume(self, memory: Memory, rng: np.random.Generator) -> None:
        """As :meth:`~Policy.reset` for ``B = len(memory[0])`` sessions, except that session ``i``
        goes on from ``memory``'s row ``i`` (a row whose next step has ``turn == 0`` starts
        afresh, whatever it holds). What the policy learned of the sentences themselves (its
        readings by sentence id) is kept: the caller keeps the ids, and the policy's weights,
        unchanged between the steps it resumes."""


def memory_rows(memory: Memory, rows: np.ndarray) -> Memory:
    """The memory of the sessions ``rows`` (an index array), in that order (copies)."""
    return tuple(part[rows] for part in memory)


def stack_memories(memories: Sequence[Memory]) -> Memory:
    """The memories of several batches of sessions as one batch, in order."""
    return tuple(np.concatenate(parts) for parts in zip(*memories, strict=True))
