"""The rollout: a policy, simulated users and item retrieval, session batches run to the end.

:func:`evaluate` runs ``n_sessions`` sessions in batches, deterministically under ``seed``, and
reduces them to the metrics of :mod:`textrec.metrics`.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.metrics import (
    SR_TURNS,
    Dialogue,
    EvaluationResult,
    mean_se,
    success_curve,
    success_within,
)
from textrec.simulator.baselines import Policy
from textrec.simulator.engine import BatchedSimulator, SessionOutcomes

__all__ = ["rollout", "evaluate"]


def rollout(
    policy: Policy,
    simulator: BatchedSimulator,
    retriever: Retriever,
    n_sessions: int,
    rng: np.random.Generator,
    record: int = 0,
) -> tuple[SessionOutcomes, tuple[Dialogue, ...]]:
    """Run ``n_sessions`` sessions to the end, all at once.

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
    if not np.array_equal(simulator.pool, retriever.pool):
        raise InputError("rollout: the simulator and the retriever must use the same pool")
    result = simulator.reset(n_sessions, rng)
    policy.reset(n_sessions, rng)
    record = min(record, n_sessions)
    steps = []
    while result.active.any():
        rows = np.flatnonzero(result.active)
        action = policy.act(result).take(rows)
        items = np.full(n_sessions, -1, dtype=np.int64)
        items[rows] = retriever.retrieve(action, simulator.shown[rows])
        result = simulator.step(items)
        if record:
            steps.append((result.items[:record], result.texts[:record], result.reward[:record]))
    outcomes = simulator.outcomes()
    dialogues = []
    for i in range(record):
        taken = [(int(it[i]), str(tx[i]), float(rw[i])) for it, tx, rw in steps if it[i] >= 0]
        dialogues.append(
            Dialogue(
                target=int(outcomes.targets[i]),
                items=tuple(t[0] for t in taken),
                texts=tuple(t[1] for t in taken),
                rewards=tuple(t[2] for t in taken),
                success=bool(outcomes.success[i]),
            )
        )
    return outcomes, tuple(dialogues)


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
    if n_sessions < 1:
        raise InputError(f"n_sessions must be >= 1, got {n_sessions}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    retriever = retriever or Retriever(simulator.catalog, simulator.pool)
    sizes = [min(batch_size, n_sessions - lo) for lo in range(0, n_sessions, batch_size)]
    children = np.random.SeedSequence(seed).spawn(len(sizes))
    parts, dialogues = [], ()
    for c, size in enumerate(tqdm(sizes, desc="evaluate", unit="batch", disable=not progress)):
        outcomes, recorded = rollout(
            policy,
            simulator,
            retriever,
            size,
            np.random.default_rng(children[c]),
            record=record if c == 0 else 0,
        )
        parts.append(outcomes)
        dialogues = dialogues or recorded
    success_turn = np.concatenate([o.success_turn for o in parts])
    sr = {k: mean_se(success_within(success_turn, k).astype(np.float64)) for k in SR_TURNS}
    return EvaluationResult(
        sr_at_10=sr[10],
        sr_at_20=sr[20],
        sr_at_30=sr[30],
        ni=mean_se(np.concatenate([o.ni for o in parts])),
        nv=mean_se(np.concatenate([o.nv for o in parts])),
        returns=mean_se(np.concatenate([o.returns for o in parts])),
        curve=success_curve(success_turn, simulator.config.max_turns),
        n_sessions=n_sessions,
        seed=seed,
        dialogues=dialogues,
    )
