"""Evaluation in the simulator: SR@K, NI, NV (mean ± s.e.) and the success-by-turn curve.

The metrics are pure array functions of per-session outcomes (paper, "Offline Interactive
Recommendation"; definitions in :mod:`textrec.simulator.task`). With ``S`` sessions and
``t_i`` the success turn of session ``i`` (0 when it never succeeds):

* ``SR@K = (1/S) Σ_i 1[1 ≤ t_i ≤ K]``
* ``NI = (1/S) Σ_i (t_i if t_i > 0 else max_turns)``
* ``NV = (1/S) Σ_i Σ_turns violations``
* each reported as mean ± standard error ``s / √S`` (``s`` the sample standard deviation).

:func:`evaluate` runs ``n_sessions`` sessions in batches, deterministically under ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from textrec.catalog import Catalog
from textrec.catalog.retrieval import Retriever
from textrec.errors import InputError
from textrec.simulator.baselines import POLICIES, Policy, make_policy
from textrec.simulator.engine import BatchedSimulator, SessionOutcomes
from textrec.simulator.task import UTTERANCE_SOURCES, TaskConfig

__all__ = [
    "MeanSE",
    "Dialogue",
    "EvaluationResult",
    "mean_se",
    "success_within",
    "sr_at_k",
    "success_curve",
    "rollout",
    "evaluate",
    "load_policy",
    "make_simulator",
    "POOLS",
    "SR_TURNS",
]

SR_TURNS = (10, 20, 30)
"""The K of the SR@K columns of the paper's Table 2."""
POOLS = ("test", "train")
"""Item pools a policy can be evaluated on: 'test' (unlabeled items, AttrNet's predictions) or
'train' (labeled items)."""


@dataclass(frozen=True)
class MeanSE:
    """A mean and its standard error."""

    mean: float
    """Sample mean."""
    se: float
    """Standard error of the mean, ``std(ddof=1) / sqrt(n)`` (0 for fewer than 2 samples)."""

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.se:.3f}"


def mean_se(x: np.ndarray) -> MeanSE:
    """Mean ± standard error of a 1-D sample.

    ``mean = Σx / n``, ``se = sqrt(Σ(x − mean)² / (n − 1)) / sqrt(n)``.

    Example:
        >>> mean_se(np.array([1.0, 2.0, 3.0]))
        MeanSE(mean=2.0, se=0.5773502691896258)
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise InputError(f"mean_se needs a non-empty 1-D sample, got shape {x.shape}")
    se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0
    return MeanSE(float(x.mean()), se)


def success_within(success_turn: np.ndarray, k: int) -> np.ndarray:
    """``1[1 ≤ t_i ≤ k]`` per session: ``(S,) bool`` (``t_i`` = 0 means never)."""
    t = np.asarray(success_turn)
    return (t >= 1) & (t <= k)


def sr_at_k(success_turn: np.ndarray, k: int) -> float:
    """``SR@k = (1/S) Σ_i 1[1 ≤ t_i ≤ k]``: fraction of sessions successful within ``k`` turns.

    Example:
        >>> sr_at_k(np.array([3, 0, 12, 10]), 10)
        0.5
    """
    return float(success_within(success_turn, k).mean())


def success_curve(success_turn: np.ndarray, max_turns: int) -> np.ndarray:
    """``(max_turns,)``: entry ``t − 1`` is SR@t, the fraction of sessions done by turn ``t``.

    Example:
        >>> success_curve(np.array([1, 3, 0, 3]), 4).tolist()
        [0.25, 0.25, 0.75, 0.75]
    """
    t = np.asarray(success_turn)
    hits = np.bincount(t[(t >= 1) & (t <= max_turns)], minlength=max_turns + 1)[1:]
    return np.cumsum(hits) / max(len(t), 1)


@dataclass(frozen=True)
class Dialogue:
    """One recorded session, turn by turn (``T`` turns)."""

    target: int
    """Catalog index of the target (oracle)."""
    items: tuple[int, ...]
    """Catalog index of the item shown at each turn."""
    texts: tuple[str, ...]
    """The user's sentence after each turn (``""`` on success)."""
    rewards: tuple[float, ...]
    """Reward of each turn."""
    success: bool
    """Whether the last turn succeeded."""


@dataclass(frozen=True)
class EvaluationResult:
    """Simulator evaluation of one policy over ``n_sessions`` sessions (Table 2's columns)."""

    sr_at_10: MeanSE
    """Fraction of sessions successful within 10 turns."""
    sr_at_20: MeanSE
    """Fraction of sessions successful within 20 turns."""
    sr_at_30: MeanSE
    """Fraction of sessions successful within 30 turns."""
    ni: MeanSE
    """Number of interactions (failure = max turns)."""
    nv: MeanSE
    """Number of violated earlier requests per session."""
    returns: MeanSE
    """Undiscounted return per session."""
    curve: np.ndarray
    """``(max_turns,)`` success rate by turn."""
    n_sessions: int
    """Sessions evaluated."""
    seed: int
    """Seed of the evaluation."""
    dialogues: tuple[Dialogue, ...] = field(default=())
    """The first sessions, recorded turn by turn when asked for."""

    def metrics(self, prefix: str = "eval/") -> dict[str, float]:
        """Flat namespaced means, e.g. ``{"eval/sr@10": 0.71, "eval/ni": 13.9, ...}``."""
        out = {f"{prefix}sr@{k}": getattr(self, f"sr_at_{k}").mean for k in SR_TURNS}
        out.update(
            {
                f"{prefix}ni": self.ni.mean,
                f"{prefix}nv": self.nv.mean,
                f"{prefix}return": self.returns.mean,
            }
        )
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (means, standard errors, curve)."""
        stats = {
            name: {"mean": m.mean, "se": m.se}
            for name, m in (
                *((f"sr@{k}", getattr(self, f"sr_at_{k}")) for k in SR_TURNS),
                ("ni", self.ni),
                ("nv", self.nv),
                ("return", self.returns),
            )
        }
        return {
            "n_sessions": self.n_sessions,
            "seed": self.seed,
            **stats,
            "success_curve": [round(float(x), 6) for x in self.curve],
        }


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


def make_simulator(
    catalog: Catalog, pool: str = "test", utterances: str = "templates", seed: int = 0
) -> BatchedSimulator:
    """Simulated users of ``catalog``'s ``pool`` speaking sentences from ``utterances``.

    The sentence bank is built with ``seed`` (the same bank ``textrec train`` and ``collect`` use).
    """
    if pool not in POOLS:
        raise InputError(f"pool must be one of {list(POOLS)}, got {pool!r}")
    if utterances not in UTTERANCE_SOURCES:
        raise InputError(f"utterances must be one of {list(UTTERANCE_SOURCES)}, got {utterances!r}")
    from textrec.language.speech import build_sentence_bank

    bank = build_sentence_bank(catalog.schema, source=utterances, seed=seed)
    return BatchedSimulator(catalog, pool, bank, TaskConfig(utterances=utterances))


def load_policy(spec: str | Path, catalog: Catalog, **acting: Any) -> Policy:
    """The greedy policy named by ``spec``: a baseline name or a saved recommender.

    Args:
        spec: ``"slot-filler"`` or ``"random"``; or the directory of a saved
            :class:`~textrec.agent.Recommender` (``textrec train``'s ``OUT/final``), or a train run
            directory holding one as ``final/``.
        catalog: the catalog the recommender was trained on (checked by its fingerprint).
        acting: how a recommender acts (``Recommender.policy``'s ``heads``, ``greedy``,
            ``threshold``); an option not given is the saved agent's own (as the learner that
            trained it evaluated it: a ``bcq`` agent its masked Q heads, the others their actor
            heads with retrieval by their distributions).

    Raises:
        InputError: naming ``spec`` when it is neither a baseline nor a saved recommender.
    """
    if str(spec) in POLICIES:
        if acting:
            raise InputError(
                f"--policy {spec}: a baseline takes no acting options {sorted(acting)}"
            )
        return make_policy(str(spec), catalog)
    path = Path(spec)
    if not path.is_dir():
        raise InputError(
            f"--policy {str(spec)!r}: not one of {sorted(POLICIES)} and not a directory "
            "(give a saved agent, e.g. a train run's final/)"
        )
    from textrec.agent import Recommender

    agent_dir = path / "final" if (path / "final").is_dir() else path
    return Recommender.load(agent_dir, catalog).policy(**acting)
