"""Off-policy estimators: the maths, as pure functions of per-session arrays.

Notation: ``N`` logged sessions, ``T`` rows (right-padded), ``K`` heads. At decision row ``t`` of
session ``i`` the per-decision log importance ratio is a sum over heads (a product of ratios, in log
space)::

    ρ_it = Σ_k [ log π_k(a_itk | h_it) − log π_β,k(a_itk | h_it) ]

and the cumulative log-weight is ``L_it = Σ_{u ≤ t} ρ_iu`` (``L_i = L_{i,T−1}``, the session's).

**Sessions that end early** (success, or the turn limit) enter an absorbing state: reward 0 and
ratio 1 (``ρ = 0``) on every padded row, whatever the policy. So ``L_it`` stays at its last value
after the end, and per-decision sums over padded rows add nothing. This is what makes sessions of
different lengths comparable in the per-decision estimators.

Every estimator is a frozen dataclass whose :meth:`values` maps resampling weights ``c (B, N)``
(row ``b``: how often each session is drawn in bootstrap replicate ``b``; all ones for the point
estimate) to ``B`` estimates, so the point estimate and the session bootstrap are one vectorised
computation. Weights are exponentiated only after shifting by their maximum where the estimator is
self-normalised, so nothing underflows to ``0/0`` however long the product. ``clip`` (optional)
caps every cumulative log-weight at ``clip`` (weights at ``e^clip``); the fraction of sessions it
touches is reported.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from textrec.errors import InputError

__all__ = [
    "OffPolicyData",
    "WeightDiagnostics",
    "weight_diagnostics",
    "Estimator",
    "TrajectoryIS",
    "WeightedIS",
    "PerDecisionIS",
    "WeightedPDIS",
    "DoublyRobust",
    "DoublyRobustCQL",
    "DirectFQE",
    "DirectCQL",
    "DualDICE",
    "ESTIMATORS",
]


@dataclass(frozen=True, eq=False)
class OffPolicyData:
    """What an estimator reads about a target policy on a log (``(N, T)`` arrays).

    Off decision rows (padding after a session's end) ``reward``, ``log_ratio``, ``q_logged`` and
    ``v_state`` are 0: the absorbing state.
    """

    reward: np.ndarray
    """``(N, T) float64`` logged rewards."""
    log_ratio: np.ndarray
    """``(N, T) float64`` per-decision log ratios ``ρ_it`` (summed over heads)."""
    q_logged: np.ndarray | None = None
    """``(N, T) float64`` a model's ``Q̂(s_it, a_it)`` (direct and doubly robust only)."""
    v_state: np.ndarray | None = None
    """``(N, T) float64`` the model's ``V̂(s_it) = E_π Q̂(s_it, ·)``."""
    ratio: np.ndarray | None = None
    """``(N, T) float64`` DICE's correction ratios ``ζ(s_it, a_it)`` (DICE only)."""

    def log_weights(self, clip: float | None) -> np.ndarray:
        """``(N, T)`` cumulative log-weights ``L_it``, capped at ``clip`` when given."""
        cum = np.cumsum(self.log_ratio, axis=1)
        return cum if clip is None else np.minimum(cum, clip)


@dataclass(frozen=True)
class WeightDiagnostics:
    """How usable a set of importance weights is."""

    ess: float
    """Effective sample size of the session weights, ``(Σ w)² / Σ w²`` (computed in log space)."""
    ess_fraction: float
    """``ess / N``."""
    max_share: float
    """Largest session weight over their sum (1: one session carries the estimate)."""
    log_weight_max: float
    """Largest session log-weight ``L_i``."""
    log_weight_min: float
    """Smallest session log-weight ``L_i``."""
    clipped: float
    """Fraction of sessions whose log-weight ever exceeded the clip (0 without one)."""


def weight_diagnostics(data: OffPolicyData, clip: float | None = None) -> WeightDiagnostics:
    """Diagnostics of the session weights ``w_i = exp(L_i)`` (after clipping)."""
    raw = np.cumsum(data.log_ratio, axis=1)
    final = data.log_weights(clip)[:, -1]
    shifted = np.exp(final - final.max())
    ess = float(shifted.sum() ** 2 / (shifted**2).sum())
    return WeightDiagnostics(
        ess=ess,
        ess_fraction=ess / len(final),
        max_share=float(shifted.max() / shifted.sum()),
        log_weight_max=float(final.max()),
        log_weight_min=float(final.min()),
        clipped=0.0 if clip is None else float((raw > clip).any(axis=1).mean()),
    )


@dataclass(frozen=True)
class Estimator(ABC):
    """Base of the estimators: a name, where the behaviour probabilities come from, a clip.

    ``behaviour = "estimated"`` uses the behaviour model cloned from the log
    (:mod:`textrec.ope.behaviour`); ``"oracle"`` the oracle sidecar's true log-probabilities — a
    *privileged* reference no real log allows.
    """

    behaviour: str = "estimated"
    """'estimated' or 'oracle' (privileged)."""
    clip: float | None = None
    """Cap on cumulative log-weights (``None``: no cap)."""

    name: ClassVar[str] = ""
    uses_weights: ClassVar[bool] = True
    """Reads importance weights (so ``behaviour`` matters)."""
    uses_model: ClassVar[bool] = False
    """Reads a fitted ``Q̂``."""
    uses_ratio: ClassVar[bool] = False
    """Reads DICE's correction ratios."""
    model: ClassVar[str] = "fqe"
    """Which ``Q̂``: ``"fqe"`` (plain FQE) or ``"cql"`` (conservative FQE, the cql critic)."""
    evaluates: ClassVar[str] = "the stochastic head policy π"

    def __post_init__(self) -> None:
        if self.behaviour not in ("estimated", "oracle"):
            raise InputError(
                f"{self.name}: behaviour must be 'estimated' or 'oracle', got {self.behaviour!r}"
            )

    @property
    def label(self) -> str:
        """Row name: ``name``, with ``[oracle]`` on privileged rows and the clip when set."""
        out = self.name
        if self.uses_weights and self.behaviour == "oracle":
            out += "[oracle]"
        return out if self.clip is None else f"{out}(clip {self.clip:g})"

    @abstractmethod
    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        """``(B,)`` estimates under session multiplicities ``c (B, N)``."""


@dataclass(frozen=True)
class TrajectoryIS(Estimator):
    """Trajectory importance sampling: ``V = (1/N) Σ_i w_i G_i``.

    ``w_i = exp(L_i)`` the session's product of ratios over turns and heads, ``G_i = Σ_t r_it``.
    Unbiased when the behaviour probabilities are right; variance grows with the product's length.
    """

    name: ClassVar[str] = "is"

    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        w = np.exp(data.log_weights(self.clip)[:, -1])
        return (c @ (w * data.reward.sum(axis=1))) / c.sum(axis=1)


@dataclass(frozen=True)
class WeightedIS(Estimator):
    """Weighted (self-normalised) trajectory IS: ``V = Σ_i w_i G_i / Σ_i w_i``.

    Biased but consistent; bounded by the logged returns. Computed with ``w_i / max_j w_j``
    (``exp(L_i − max L)``), so it never underflows.
    """

    name: ClassVar[str] = "wis"

    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        log_w = data.log_weights(self.clip)[:, -1]
        w = np.exp(log_w - log_w.max())
        return (c @ (w * data.reward.sum(axis=1))) / (c @ w)


@dataclass(frozen=True)
class PerDecisionIS(Estimator):
    """Per-decision IS: ``V = (1/N) Σ_i Σ_t w_it r_it``, ``w_it = exp(L_it)``.

    A reward is weighted only by the decisions before and at it (Precup et al. 2000). Absorbing
    rows add ``w · 0``.
    """

    name: ClassVar[str] = "pdis"

    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        w = np.exp(data.log_weights(self.clip))
        return (c @ (w * data.reward).sum(axis=1)) / c.sum(axis=1)


@dataclass(frozen=True)
class WeightedPDIS(Estimator):
    """Weighted per-decision IS: ``V = Σ_t Σ_i w_it r_it / Σ_i w_it``.

    Each turn's rewards are self-normalised by that turn's weights. The normaliser at turn ``t``
    counts every session, those already absorbed included (their weight frozen, their reward 0):
    dropping them would make ending early invisible to the estimate. Shifted per turn by the
    largest weight, so it never underflows.
    """

    name: ClassVar[str] = "wpdis"

    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        log_w = data.log_weights(self.clip)
        w = np.exp(log_w - log_w.max(axis=0, keepdims=True))
        return ((c @ (w * data.reward)) / (c @ w)).sum(axis=1)


@dataclass(frozen=True)
class DoublyRobust(Estimator):
    """Per-decision doubly robust (Jiang & Li 2016), with FQE's ``Q̂`` as the model::

        V = (1/N) Σ_i Σ_t [ w_it (r_it − Q̂(s_it, a_it)) + w_i,t−1 V̂(s_it) ],   w_i,−1 = 1

    Unbiased if either the weights or ``Q̂`` are right; absorbing rows (``Q̂ = V̂ = r = 0``) add 0.
    """

    name: ClassVar[str] = "dr"
    uses_model: ClassVar[bool] = True

    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        log_w = data.log_weights(self.clip)
        w = np.exp(log_w)
        w_prev = np.exp(np.pad(log_w[:, :-1], ((0, 0), (1, 0))))
        terms = w * (data.reward - data.q_logged) + w_prev * data.v_state  # type: ignore[operator]
        return (c @ terms.sum(axis=1)) / c.sum(axis=1)


@dataclass(frozen=True)
class DoublyRobustCQL(DoublyRobust):
    """Per-decision doubly robust with the ``cql`` critic's ``Q̂`` as the model (conservative FQE,
    the ``cql`` direct estimator's fit) instead of FQE's — the same sum::

        V = (1/N) Σ_i Σ_t [ w_it (r_it − Q̂_cql(s_it, a_it)) + w_i,t−1 V̂_cql(s_it) ]
    """

    name: ClassVar[str] = "dr-cql"
    model: ClassVar[str] = "cql"


@dataclass(frozen=True)
class DirectFQE(Estimator):
    """Direct method: FQE's value of the first state, ``V = (1/N) Σ_i V̂(s_i0)``.

    No importance weights. Resampling sessions with ``Q̂`` held fixed leaves out the fit's own
    variance (on logs whose sessions all start in one state the interval is zero wide), so
    :func:`~textrec.ope.offpolicy.estimate` takes its interval from refits on resampled sessions
    when asked (``refits``).
    """

    name: ClassVar[str] = "fqe"
    uses_weights: ClassVar[bool] = False
    uses_model: ClassVar[bool] = True

    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        return (c @ data.v_state[:, 0]) / c.sum(axis=1)  # type: ignore[index]


@dataclass(frozen=True)
class DirectCQL(DirectFQE):
    """Direct method with the ``cql`` critic (the paper's reward corrector): ``(1/N) Σ_i V̂(s_i0)``
    with ``V̂(s) = E_π Q̂(s, ·)`` of conservative FQE (:mod:`textrec.ope.fqe`, ``alpha > 0``),
    factorised over heads like FQE, its penalty the ``cql`` learner's (by default over the joint
    actions of the catalog's items: ``α · mean_t [log Σ_{b ∈ A} exp Q̂(s_t, b) − Q̂(s_t, a_t)]``)."""

    name: ClassVar[str] = "cql"
    model: ClassVar[str] = "cql"


@dataclass(frozen=True)
class DualDICE(Estimator):
    """DualDICE, behaviour-agnostic: ``V = (1/N) Σ_i Σ_t ζ(s_it, a_it) r_it``.

    ``ζ`` is the correction ratio ``d^π / d^D`` solved in closed form by linear DualDICE on the
    logged transitions (:func:`textrec.ope.dice.dualdice_ratios`, where the maths is: the
    episodic Bellman flow ``Âᵀη = b̂`` with ``ζ = φᵀη``, ridge ``λ``). It reads no behaviour
    probabilities, only ``π``'s distributions on the logged states. Its interval holds ``ζ``
    fixed.
    """

    ridge: float = 1e-6
    """Ridge ``λ`` of the least-squares solve."""

    name: ClassVar[str] = "dualdice"
    uses_weights: ClassVar[bool] = False
    uses_ratio: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (np.isfinite(self.ridge) and self.ridge >= 0):
            raise InputError(f"DualDICE.ridge must be finite and >= 0, got {self.ridge}")

    def values(self, data: OffPolicyData, c: np.ndarray) -> np.ndarray:
        if data.ratio is None:
            raise InputError("DualDICE needs the correction ratios (OffPolicyData.ratio)")
        return (c @ (data.ratio * data.reward).sum(axis=1)) / c.sum(axis=1)


ESTIMATORS: dict[str, type[Estimator]] = {
    e.name: e
    for e in (
        TrajectoryIS,
        WeightedIS,
        PerDecisionIS,
        WeightedPDIS,
        DoublyRobust,
        DoublyRobustCQL,
        DirectFQE,
        DirectCQL,
        DualDICE,
    )
}
"""Name -> estimator class."""
