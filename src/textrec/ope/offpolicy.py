"""One interface: ``estimate(policy, log, catalog) -> Estimate``, the same for every estimator.

An :class:`OffPolicyLog` is a log directory prepared once for any number of target policies and
estimators: its sessions, the behaviour model cloned from them (fitted on first use), and per target
policy its replayed distributions and its FQE fit (each computed on first use and kept). The oracle
sidecar is read only when an estimator with ``behaviour="oracle"`` (a privileged reference row)
asks for it.

Intervals come from a bootstrap over sessions: ``n_boot`` replicates, each drawing ``N`` sessions
with replacement from a ``numpy`` ``Generator`` seeded with ``seed``; ``stderr`` is the
replicates' standard deviation and ``interval`` their 2.5 % and 97.5 % quantiles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textrec.catalog import Catalog
from textrec.errors import InputError
from textrec.ope.behaviour import BehaviourConfig, BehaviourModel, fit_behaviour
from textrec.ope.estimators import (
    Estimator,
    OffPolicyData,
    PerDecisionIS,
    WeightDiagnostics,
    weight_diagnostics,
)
from textrec.ope.fqe import FQEConfig, FQEData, FQEFit, fit_fqe
from textrec.ope.policies import Replay, TargetPolicy, TargetSpec, decision_mask, replay
from textrec.ope.sessions import load_sessions, oracle_log_probs

__all__ = ["Estimate", "OffPolicyLog", "estimate"]

BASE = TargetSpec("sf")
"""The reader slot-filler itself: its distributions are the behaviour model's and FQE's features."""


@dataclass(frozen=True)
class Estimate:
    """An estimator's value of a target policy on a log."""

    estimator: str
    """The estimator's row name (``[oracle]`` marks a privileged reference row)."""
    value: float
    """Point estimate of the expected return per session."""
    stderr: float
    """Bootstrap standard error."""
    interval: tuple[float, float]
    """95 % bootstrap percentile interval."""
    diagnostics: WeightDiagnostics | None
    """Importance-weight diagnostics (``None`` for the direct method)."""
    fit_loss: float | None
    """FQE's final mean squared Bellman error (estimators that use ``Q̂``)."""
    privileged: bool
    """Read the oracle sidecar (no real log allows it)."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (diagnostics as a nested object or ``None``)."""
        out = asdict(self)
        out["interval"] = list(self.interval)
        return out


class OffPolicyLog:
    """A log prepared for off-policy evaluation (see the module docstring).

    Args:
        log_dir: the log directory.
        catalog: its catalog.
        seed: seeds FQE's networks and batches.
        behaviour: the behaviour model's fitting settings.
        fqe: FQE's settings.
    """

    def __init__(
        self,
        log_dir: str | Path,
        catalog: Catalog,
        *,
        seed: int = 0,
        behaviour: BehaviourConfig | None = None,
        fqe: FQEConfig | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.catalog = catalog
        self.seed = seed
        self.behaviour_config = behaviour or BehaviourConfig()
        self.fqe_config = fqe or FQEConfig()
        self.episodes = load_sessions(log_dir, catalog)
        self.decide = decision_mask(self.episodes)
        self.actions = self.episodes.actions[self.decide]
        session = np.nonzero(self.decide)[0]
        self.done = np.append(session[1:] != session[:-1], True)
        self._replays: dict[TargetSpec, Replay] = {}
        self._fits: dict[TargetSpec, FQEFit] = {}
        self._behaviour: BehaviourModel | None = None
        self._oracle: np.ndarray | None = None

    @property
    def n_sessions(self) -> int:
        """Sessions in the log."""
        return len(self.episodes)

    def replay(self, spec: TargetSpec) -> Replay:
        """``spec``'s distributions on every logged decision (cached)."""
        if spec not in self._replays:
            self._replays[spec] = replay(TargetPolicy(spec, self.catalog), self.episodes)
        return self._replays[spec]

    def release(self, spec: TargetSpec) -> None:
        """Drop what was kept for ``spec`` (its replay and FQE fit), e.g. once it is scored."""
        if spec != BASE:
            self._replays.pop(spec, None)
        self._fits.pop(spec, None)

    @property
    def behaviour(self) -> BehaviourModel:
        """The behaviour model cloned from the log (fitted on first use)."""
        if self._behaviour is None:
            self._behaviour = fit_behaviour(
                self.replay(BASE).heads,
                self.actions,
                np.broadcast_to(self.episodes.device_id[:, None], self.decide.shape)[self.decide],
                self.behaviour_config,
            )
        return self._behaviour

    def oracle_log_prob(self) -> np.ndarray:
        """PRIVILEGED: the true behaviour log-probabilities, ``(R, K)`` (read on first use)."""
        if self._oracle is None:
            self._oracle = oracle_log_probs(self.log_dir, self.episodes)
        return self._oracle

    def fqe(self, spec: TargetSpec) -> FQEFit:
        """FQE's ``Q̂^π`` of ``spec`` (fitted on first use)."""
        if spec not in self._fits:
            self._fits[spec] = fit_fqe(self._fqe_data(spec), self.fqe_config, self.seed)
        return self._fits[spec]

    def _fqe_data(self, spec: TargetSpec) -> FQEData:
        base = np.concatenate(self.replay(BASE).heads, axis=1)
        known = np.stack([h.max(axis=1) > 1 - 1e-6 for h in self.replay(BASE).heads], axis=1)
        turn = self.episodes.turn[self.decide].astype(np.float32)
        features = np.concatenate(
            [base, known, (turn / max(turn.max(), 1))[:, None], known.mean(axis=1, keepdims=True)],
            axis=1,
        ).astype(np.float32)
        offsets = np.asarray(self.catalog.schema.offsets[:-1])
        return FQEData(
            features=features,
            actions=(self.actions + offsets).astype(np.int64),
            reward=self.episodes.reward[self.decide].astype(np.float32),
            done=self.done,
            target=np.concatenate(self.replay(spec).heads, axis=1),
        )

    def data(self, spec: TargetSpec, estimator: Estimator) -> OffPolicyData:
        """What ``estimator`` reads about ``spec`` on this log."""
        shape = self.decide.shape
        reward = np.zeros(shape)
        reward[self.decide] = self.episodes.reward[self.decide]
        log_ratio = np.zeros(shape)
        if estimator.uses_weights:
            behaviour = (
                self.oracle_log_prob()
                if estimator.behaviour == "oracle"
                else self.behaviour.log_prob
            )
            log_ratio[self.decide] = (self.replay(spec).log_prob - behaviour).sum(axis=1)
        q_logged = v_state = None
        if estimator.uses_model:
            fit = self.fqe(spec)
            q_logged, v_state = np.zeros(shape), np.zeros(shape)
            q_logged[self.decide] = fit.q_logged
            v_state[self.decide] = fit.v_state
        return OffPolicyData(reward, log_ratio, q_logged, v_state)


def estimate(
    policy: TargetSpec,
    log: OffPolicyLog | str | Path,
    catalog: Catalog | None = None,
    estimator: Estimator | None = None,
    *,
    seed: int = 0,
    n_boot: int = 200,
) -> Estimate:
    """``estimator``'s value of ``policy`` on ``log``, with a session-bootstrap interval.

    Args:
        policy: the target policy.
        log: a prepared :class:`OffPolicyLog`, or a log directory (then ``catalog`` is needed).
        catalog: the log's catalog when ``log`` is a directory.
        estimator: the estimator (per-decision IS when not given).
        seed: seeds the bootstrap (and FQE when ``log`` is a directory).
        n_boot: bootstrap replicates (>= 2).
    """
    if n_boot < 2:
        raise InputError(f"estimate: n_boot must be >= 2, got {n_boot}")
    if not isinstance(log, OffPolicyLog):
        if catalog is None:
            raise InputError(f"estimate: a log directory ({log}) needs its catalog")
        log = OffPolicyLog(log, catalog, seed=seed)
    estimator = estimator or PerDecisionIS()
    data = log.data(policy, estimator)
    n = log.n_sessions
    point = float(estimator.values(data, np.ones((1, n)))[0])
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(np.float64)
    boot = estimator.values(data, counts)
    low, high = np.quantile(boot, [0.025, 0.975])
    return Estimate(
        estimator=estimator.label,
        value=point,
        stderr=float(boot.std(ddof=1)),
        interval=(float(low), float(high)),
        diagnostics=weight_diagnostics(data, estimator.clip) if estimator.uses_weights else None,
        fit_loss=log.fqe(policy).loss if estimator.uses_model else None,
        privileged=estimator.uses_weights and estimator.behaviour == "oracle",
    )
