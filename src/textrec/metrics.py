"""The evaluation metrics and their records: SR@K, NI, NV as mean ± standard error.

The metrics are pure array functions of per-session outcomes (paper, "Offline Interactive
Recommendation"; definitions in :mod:`textrec.simulator.task`). With ``S`` sessions and
``t_i`` the success turn of session ``i`` (0 when it never succeeds):

* ``SR@K = (1/S) Σ_i 1[1 ≤ t_i ≤ K]``
* ``NI = (1/S) Σ_i (t_i if t_i > 0 else max_turns)``
* ``NV = (1/S) Σ_i Σ_turns violations``
* each reported as mean ± standard error ``s / √S`` (``s`` the sample standard deviation).

This module imports nothing of textrec beyond :mod:`textrec.errors`, so every layer may use it
(the simulator's rollout, the logs' behaviour row, the learners' evaluators, the report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textrec.errors import InputError

__all__ = [
    "MeanSE",
    "Dialogue",
    "EvaluationResult",
    "mean_se",
    "success_within",
    "sr_at_k",
    "success_curve",
    "SR_TURNS",
]

SR_TURNS = (10, 20, 30)
"""The K of the SR@K columns of the paper's Table 2."""


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
