"""Evaluation in the simulator: SR@K, NI, NV (mean ± s.e.) and the success-by-turn curve.

The metrics and their records live in :mod:`textrec.metrics`, the rollout and :func:`evaluate` in
:mod:`textrec.simulator.rollout` (the learners evaluate through them while training); this module
names the policy and the users to evaluate (:func:`load_policy`, :func:`make_simulator`) and
offers :func:`evaluate` and :func:`rollout` beside them. :func:`evaluate_on` runs an evaluation's
session batches on a :class:`~textrec.backends.Backend` (this process, a process pool or Ray):
each batch is seeded by itself, so the numbers are :func:`evaluate`'s whichever backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from textrec.backends import Backend, job_runner
from textrec.catalog import Catalog
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.metrics import Dialogue, EvaluationResult
from textrec.simulator.baselines import POLICIES, make_policy
from textrec.simulator.engine import BatchedSimulator, SessionOutcomes
from textrec.simulator.ingredients import POOLS, Ingredients
from textrec.simulator.policy import Policy
from textrec.simulator.rollout import evaluate, evaluation_batches, rollout, summarise

__all__ = [
    "rollout",
    "evaluate",
    "evaluate_on",
    "EvaluationSetup",
    "load_policy",
    "make_simulator",
    "POOLS",
]


def make_simulator(
    catalog: Catalog, pool: str = "test", utterances: str = "templates", seed: int = 0
) -> BatchedSimulator:
    """Simulated users of ``catalog``'s ``pool`` speaking sentences from ``utterances``: the
    :meth:`~textrec.simulator.ingredients.Ingredients.users` of those settings (the sentence bank
    drawn with ``seed``, the same bank ``textrec train`` and ``collect`` use)."""
    return Ingredients(catalog, utterances, seed).users(pool)


def load_policy(
    spec: str | Path, catalog: Catalog, users: BatchedSimulator | None = None, **acting: Any
) -> Policy:
    """The greedy policy named by ``spec``: a baseline name or a saved recommender.

    Args:
        spec: a baseline of :data:`~textrec.simulator.baselines.POLICIES` (``"slot-filler"``,
            ``"random"``, ``"reader"``, the privileged ``"oracle-slots"``); or the directory of a
            saved :class:`~textrec.agent.Recommender` (``textrec train``'s ``OUT/final``), or a
            train run directory holding one as ``final/``.
        catalog: the catalog the recommender was trained on (checked by its fingerprint).
        users: the simulated users the policy will play (``"oracle-slots"`` reads their targets).
        acting: how a recommender acts (``Recommender.policy``'s ``heads``, ``greedy``,
            ``threshold``); an option not given is the saved agent's own (as the learner that
            trained it evaluated it: a ``bcq`` agent its masked Q heads, the others their actor
            heads with retrieval by their distributions), except that ``heads="actor"`` drops a
            saved BCQ mask (``threshold`` 0 unless given: the mask applies to Q heads only).

    Raises:
        InputError: naming ``spec`` when it is neither a baseline nor a saved recommender.
    """
    if str(spec) in POLICIES:
        if acting:
            raise InputError(
                f"--policy {spec}: a baseline takes no acting options {sorted(acting)}"
            )
        return make_policy(str(spec), catalog, users)
    path = Path(spec)
    if not path.is_dir():
        raise InputError(
            f"unknown policy {str(spec)!r}: not one of {sorted(POLICIES)} and not a directory "
            "(give a saved agent, e.g. a train run's final/)"
        )
    from textrec.agent import Recommender

    agent_dir = path / "final" if (path / "final").is_dir() else path
    if acting.get("heads") == "actor":
        acting = {"threshold": 0.0, **acting}
    return Recommender.load(agent_dir, catalog).policy(**acting)


@dataclass(frozen=True)
class EvaluationSetup:
    """What an evaluation worker builds its policy and users from (pickled once per worker)."""

    catalog: Catalog
    policy: str
    """A baseline name or a saved agent's directory (every worker must see it)."""
    pool: str = "test"
    utterances: str = "templates"
    seed: int = 0
    acting: dict[str, Any] = field(default_factory=dict)


class _EvaluationWorker:
    """One worker's policy, simulated users and retrieval, reused across batches."""

    def __init__(self, setup: EvaluationSetup) -> None:
        self.simulator = make_simulator(setup.catalog, setup.pool, setup.utterances, setup.seed)
        self.policy = load_policy(setup.policy, setup.catalog, self.simulator, **setup.acting)
        self.retriever = Retriever(setup.catalog, self.simulator.pool)


def _run_batch(
    worker: _EvaluationWorker, size: int, seed: np.random.SeedSequence, record: int
) -> tuple[SessionOutcomes, tuple[Dialogue, ...]]:
    """One batch of sessions (a :mod:`textrec.backends` task)."""
    rng = np.random.default_rng(seed)
    return rollout(worker.policy, worker.simulator, worker.retriever, size, rng, record)


def evaluate_on(
    backend: Backend,
    setup: EvaluationSetup,
    n_sessions: int,
    *,
    batch_size: int = 1024,
    record: int = 0,
    progress: bool = False,
) -> EvaluationResult:
    """:func:`evaluate` of ``setup``'s policy, its batches run on ``backend``; same numbers.

    The policy is loaded here first, so a bad ``setup`` fails before any worker starts.
    """
    batches = evaluation_batches(n_sessions, setup.seed, batch_size)
    here = _EvaluationWorker(setup)
    if len(batches) == 1 and backend.name == "local":
        backend = Backend()  # one batch: no pool to start
    else:  # no more workers than batches
        backend = Backend(backend.name, min(backend.workers, len(batches)), backend.address)
    parts: dict[int, tuple[SessionOutcomes, tuple[Dialogue, ...]]] = {}
    with job_runner(backend, _EvaluationWorker, (setup,), here) as jobs:
        for c, (size, seed) in enumerate(batches):
            jobs.submit(c, _run_batch, size, seed, record if c == 0 else 0)
        bar = tqdm(total=len(batches), desc="evaluate", unit="batch", disable=not progress)
        with bar:
            for c, part in jobs.completed():
                parts[c] = part
                bar.update()
    outcomes = [parts[c][0] for c in range(len(batches))]
    return summarise(outcomes, parts[0][1], here.simulator.config.max_turns, setup.seed)
