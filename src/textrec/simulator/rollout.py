"""The one rollout: a policy, simulated users and item retrieval, session batches run to the end.

:func:`play` is the loop every rollout of textrec goes through: each turn the policy acts on every
session (:class:`~textrec.simulator.policy.Policy`), the sessions still running are shown the
item retrieval picks for their action, the users answer, and each *recorder* sees the turn
(:class:`Step`). What a caller keeps is a recorder's job: the evaluation's recorded dialogues
(:class:`DialogueRecorder`), the on-policy learner's episodes
(:class:`textrec.learners.batches.SimulatorEpisodes`) and the log's rows
(:mod:`textrec.logs.collect`).

:func:`evaluate` runs ``n_sessions`` sessions in batches, deterministically under ``seed``, and
reduces them to the metrics of :mod:`textrec.metrics`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from textrec.catalog.retrieval import Action, Retriever
from textrec.errors import InputError
from textrec.metrics import (
    SR_TURNS,
    Dialogue,
    EvaluationResult,
    mean_se,
    success_curve,
    success_within,
)
from textrec.simulator.engine import BatchedSimulator, SessionOutcomes, StepResult
from textrec.simulator.policy import Policy

__all__ = [
    "Step",
    "Recorder",
    "DialogueRecorder",
    "play",
    "rollout",
    "evaluate",
    "evaluation_batches",
    "summarise",
]


@dataclass(frozen=True, eq=False)
class Step:
    """One turn of a batch of ``B`` sessions, as a recorder sees it."""

    before: StepResult
    """What the policy saw (the previous turn's result; turn 0 after a reset)."""
    rows: np.ndarray
    """``(R,) int64`` the sessions that took this turn (still running before it)."""
    action: Action
    """The policy's action for every session (only ``rows`` were shown an item)."""
    items: np.ndarray
    """``(B,) int64`` the item shown to each session, ``-1`` where none was."""
    after: StepResult
    """What the turn produced."""


class Recorder(Protocol):
    """Keeps what it needs of each turn of :func:`play`."""

    def record(self, step: Step) -> None:
        """See one turn."""


def play(
    policy: Policy,
    simulator: BatchedSimulator,
    retriever: Retriever,
    result: StepResult,
    recorders: Sequence[Recorder] = (),
) -> SessionOutcomes:
    """Run the sessions of ``result`` (the simulator and the policy just reset) to the end.

    Args:
        policy: the recommender; it acts on every session each turn.
        simulator: the users; its pool must be the retriever's.
        retriever: turns the actions of the running sessions into items.
        result: the simulator's reset (turn 0).
        recorders: each sees every turn, in order.

    Returns:
        The sessions' outcomes.
    """
    if not np.array_equal(simulator.pool, retriever.pool):
        raise InputError("rollout: the simulator and the retriever must use the same pool")
    n_sessions = len(result.active)
    while result.active.any():
        rows = np.flatnonzero(result.active)
        action = policy.act(result)
        items = np.full(n_sessions, -1, dtype=np.int64)
        items[rows] = retriever.retrieve(action.take(rows), simulator.shown[rows])
        step = Step(result, rows, action, items, simulator.step(items))
        for recorder in recorders:
            recorder.record(step)
        result = step.after
    return simulator.outcomes()


class DialogueRecorder:
    """Records the first ``n`` sessions turn by turn (the evaluation's sample dialogues)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.steps: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def record(self, step: Step) -> None:
        """Keep the item, the sentence and the reward of the first ``n`` sessions."""
        if self.n:
            after = step.after
            self.steps.append(
                (after.items[: self.n], after.texts[: self.n], after.reward[: self.n])
            )

    def dialogues(self, outcomes: SessionOutcomes) -> tuple[Dialogue, ...]:
        """The recorded sessions, each with its target and whether it succeeded."""
        out = []
        for i in range(self.n):
            taken = [
                (int(it[i]), str(tx[i]), float(rw[i])) for it, tx, rw in self.steps if it[i] >= 0
            ]
            out.append(
                Dialogue(
                    target=int(outcomes.targets[i]),
                    items=tuple(t[0] for t in taken),
                    texts=tuple(t[1] for t in taken),
                    rewards=tuple(t[2] for t in taken),
                    success=bool(outcomes.success[i]),
                )
            )
        return tuple(out)


def rollout(
    policy: Policy,
    simulator: BatchedSimulator,
    retriever: Retriever,
    n_sessions: int,
    rng: np.random.Generator,
    record: int = 0,
) -> tuple[SessionOutcomes, tuple[Dialogue, ...]]:
    """Run ``n_sessions`` fresh sessions to the end, all at once (:func:`play`).

    Args:
        policy: the recommender.
        simulator: the users; its pool must be the retriever's.
        retriever: turns the policy's actions into items.
        n_sessions: batch size.
        rng: drives targets, the users and the policy.
        record: how many of the first sessions to record as :class:`Dialogue`.

    Returns:
        The sessions' outcomes and the recorded dialogues.
    """
    result = simulator.reset(n_sessions, rng)
    policy.reset(n_sessions, rng)
    recorder = DialogueRecorder(min(record, n_sessions))
    outcomes = play(policy, simulator, retriever, result, [recorder])
    return outcomes, recorder.dialogues(outcomes)


def evaluate(
    policy: Policy,
    simulator: BatchedSimulator,
    n_sessions: int,
    seed: int,
    *,
    batch_size: int = 1024,
    retriever: Retriever | None = None,
    record: int = 0,
    progress: bool = False,
) -> EvaluationResult:
    """Evaluate ``policy`` on ``n_sessions`` simulated sessions; same seed, same numbers.

    Sessions run in batches of ``batch_size``; batch ``c`` draws from the ``c``-th child of
    ``SeedSequence(seed)``.

    Args:
        policy: the recommender.
        simulator: the users and the pool under evaluation.
        n_sessions: sessions to run (>= 1).
        seed: evaluation seed.
        batch_size: sessions per batch.
        retriever: item retrieval over the simulator's pool (built when not given).
        record: how many of the first sessions to keep as dialogues.
        progress: show a progress bar over batches.
    """
    batches = evaluation_batches(n_sessions, seed, batch_size)
    retriever = retriever or Retriever(simulator.catalog, simulator.pool)
    parts, dialogues = [], ()
    for c, (size, child) in enumerate(
        tqdm(batches, desc="evaluate", unit="batch", disable=not progress)
    ):
        outcomes, recorded = rollout(
            policy,
            simulator,
            retriever,
            size,
            np.random.default_rng(child),
            record=record if c == 0 else 0,
        )
        parts.append(outcomes)
        dialogues = dialogues or recorded
    return summarise(parts, dialogues, simulator.config.max_turns, seed)


def evaluation_batches(
    n_sessions: int, seed: int, batch_size: int = 1024
) -> list[tuple[int, np.random.SeedSequence]]:
    """:func:`evaluate`'s batches: ``(sessions, seed)`` of each, batch ``c`` seeded by the
    ``c``-th child of ``SeedSequence(seed)`` (independent: any worker may run any batch)."""
    if n_sessions < 1:
        raise InputError(f"n_sessions must be >= 1, got {n_sessions}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    sizes = [min(batch_size, n_sessions - lo) for lo in range(0, n_sessions, batch_size)]
    return list(zip(sizes, np.random.SeedSequence(seed).spawn(len(sizes)), strict=True))


def summarise(
    parts: Sequence[SessionOutcomes],
    dialogues: tuple[Dialogue, ...],
    max_turns: int,
    seed: int,
) -> EvaluationResult:
    """The evaluation of the batches' outcomes ``parts`` (in batch order)."""
    success_turn = np.concatenate([o.success_turn for o in parts])
    sr = {k: mean_se(success_within(success_turn, k).astype(np.float64)) for k in SR_TURNS}
    return EvaluationResult(
        sr_at_10=sr[10],
        sr_at_20=sr[20],
        sr_at_30=sr[30],
        ni=mean_se(np.concatenate([o.ni for o in parts])),
        nv=mean_se(np.concatenate([o.nv for o in parts])),
        returns=mean_se(np.concatenate([o.returns for o in parts])),
        curve=success_curve(success_turn, max_turns),
        n_sessions=len(success_turn),
        seed=seed,
        dialogues=dialogues,
    )
