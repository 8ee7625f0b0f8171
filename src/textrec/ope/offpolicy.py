"""One interface: ``estimate(policy, log, catalog) -> Estimate``, the same for every estimator.

An :class:`OffPolicyLog` is a log directory prepared once for any number of target policies and
estimators: its sessions, the behaviour model cloned from them (fitted on first use), and per target
policy its replayed distributions and its FQE fit (each computed on first use and kept). The oracle
sidecar is read only when an estimator with ``behaviour="oracle"`` (a privileged reference row)
asks for it.

Intervals come from a bootstrap over sessions: ``n_boot`` replicates, each drawing ``N`` sessions
with replacement from a ``numpy`` ``Generator`` seeded with ``seed``; ``stderr`` is the
replicates' standard deviation and ``interval`` their 2.5 % and 97.5 % quantiles.

The direct estimators (``fqe``, ``cql``) hold ``Q̂`` fixed in that bootstrap, which leaves out the
fit's own variance. With ``refits = M > 0`` their ``stderr`` is instead the standard deviation of
``M`` estimates, each from a fit on ``N`` sessions drawn with replacement (generator
``(seed, m)``, network seed ``seed + m``), and the interval is ``value ± 1.96 · stderr`` (a
normal interval: ``M`` is small, as each refit costs a whole fit).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from textrec.catalog import Catalog
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.learners.configs import CQLConfig
from textrec.logs.reader import item_actions
from textrec.ope.behaviour import BehaviourConfig, BehaviourModel, fit_behaviour
from textrec.ope.dice import dice_features, dualdice_ratios
from textrec.ope.estimators import (
    DirectFQE,
    DualDICE,
    Estimator,
    OffPolicyData,
    PerDecisionIS,
    WeightDiagnostics,
    weight_diagnostics,
)
from textrec.ope.fqe import FQEConfig, FQEData, FQEFit, fit_fqe
from textrec.ope.policies import Replay, TargetPolicy, TargetSpec, decision_mask, replay
from textrec.ope.sessions import load_sessions, log_bank, oracle_log_probs
from textrec.simulator.policy import Policy

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
        fqe: FQE's settings (``alpha`` and ``penalty`` are ignored: FQE is unpenalised).
        cql_alpha: the weight of the conservative penalty of the ``cql`` critic (the ``cql`` and
            ``dr-cql`` estimators; default: the ``cql`` learner's).
        cql_penalty: its form (default: the ``cql`` learner's, ``items``: over the joint actions
            of the catalog's items, :func:`textrec.logs.reader.item_actions`).
    """

    def __init__(
        self,
        log_dir: str | Path,
        catalog: Catalog,
        *,
        seed: int = 0,
        behaviour: BehaviourConfig | None = None,
        fqe: FQEConfig | None = None,
        cql_alpha: float = CQLConfig().alpha,
        cql_penalty: str = CQLConfig().penalty,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.catalog = catalog
        self.seed = seed
        self.behaviour_config = behaviour or BehaviourConfig()
        self.fqe_config = replace(fqe or FQEConfig(), alpha=0.0)
        self.cql_config = replace(self.fqe_config, alpha=cql_alpha, penalty=cql_penalty)
        self.episodes = load_sessions(log_dir, catalog)
        self.decide = decision_mask(self.episodes)
        self.actions = self.episodes.actions[self.decide]
        session = np.nonzero(self.decide)[0]
        self.done = np.append(session[1:] != session[:-1], True)
        self._replays: dict[TargetSpec, Replay] = {}
        self._fits: dict[tuple[TargetSpec, str], FQEFit] = {}
        self._refits: dict[tuple[TargetSpec, str, int], np.ndarray] = {}
        self._behaviour: BehaviourModel | None = None
        self._oracle: np.ndarray | None = None
        self._bank: SentenceBank | None = None

    @property
    def n_sessions(self) -> int:
        """Sessions in the log."""
        return len(self.episodes)

    def replay(self, spec: TargetSpec, base: Policy | None = None) -> Replay:
        """``spec``'s distributions on every logged decision (cached by ``spec``); ``base``: the
        base policy object to draw from instead of the one ``spec.base`` names."""
        if spec not in self._replays:
            if self._bank is None:
                self._bank = log_bank(self.log_dir, self.catalog)
            policy = TargetPolicy(spec, self.catalog, base)
            self._replays[spec] = replay(policy, self.episodes, self._bank)
        return self._replays[spec]

    def release(self, spec: TargetSpec) -> None:
        """Drop what was kept for ``spec`` (its replay and FQE fit), e.g. once it is scored."""
        if spec != BASE:
            self._replays.pop(spec, None)
        for key in [k for k in (*self._fits, *self._refits) if k[0] == spec]:
            self._fits.pop(key, None)  # type: ignore[call-overload]
            self._refits.pop(key, None)  # type: ignore[call-overload]

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

    def _config(self, model: str) -> FQEConfig:
        if model not in ("fqe", "cql"):
            raise InputError(f"unknown model {model!r}: 'fqe' or 'cql'")
        return self.fqe_config if model == "fqe" else self.cql_config

    def fqe(self, spec: TargetSpec, model: str = "fqe") -> FQEFit:
        """``Q̂^π`` of ``spec`` by FQE (``model="fqe"``) or conservative FQE (``"cql"``), fitted
        on first use."""
        key = (spec, model)
        if key not in self._fits:
            self._fits[key] = fit_fqe(self._fqe_data(spec), self._config(model), self.seed)
        return self._fits[key]

    def refit_values(self, spec: TargetSpec, model: str, refits: int) -> np.ndarray:
        """``(refits,)`` direct estimates ``mean_i V̂(s_i0)``, each from a fit on resampled
        sessions (see the module docstring)."""
        key = (spec, model, refits)
        if key not in self._refits:
            data, n = self._fqe_data(spec), self.n_sessions
            out = []
            for m in range(refits):
                drawn = np.random.default_rng([self.seed, m]).integers(0, n, size=n)
                sample = data.take(drawn)
                fit = fit_fqe(sample, self._config(model), self.seed + m + 1)
                out.append(fit.v_state[np.r_[True, sample.done[:-1]]].mean())
            self._refits[key] = np.asarray(out)
        return self._refits[key]

    def _state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The reader slot-filler's heads ``(R, V)``, which heads are known ``(R, K)`` and the
        turn scaled to [0, 1] ``(R,)``: what FQE and DICE see of a state."""
        heads = self.replay(BASE).heads
        known = np.stack([h.max(axis=1) > 1 - 1e-6 for h in heads], axis=1)
        turn = self.episodes.turn[self.decide].astype(np.float32)
        return np.concatenate(heads, axis=1), known, turn / max(turn.max(), 1)

    @functools.cached_property
    def _fqe_rows(self) -> FQEData:
        """What FQE regresses on that no target policy changes (built once; ``target`` is
        filled per policy by :meth:`_fqe_data`)."""
        base, known, turn = self._state()
        features = np.concatenate(
            [base, known, turn[:, None], known.mean(axis=1, keepdims=True)], axis=1
        ).astype(np.float32)
        offsets = np.asarray(self.catalog.schema.offsets)
        return FQEData(
            features=features,
            actions=(self.actions + offsets[:-1]).astype(np.int64),
            reward=self.episodes.reward[self.decide].astype(np.float32),
            done=self.done,
            target=np.empty((len(self.done), 0), dtype=np.float32),
            offsets=offsets,
            feasible=item_actions(self.catalog) + offsets[:-1],
        )

    def _fqe_data(self, spec: TargetSpec) -> FQEData:
        return replace(self._fqe_rows, target=np.concatenate(self.replay(spec).heads, axis=1))

    def dice_ratios(self, spec: TargetSpec, ridge: float) -> np.ndarray:
        """``(R,)`` DualDICE's correction ratios of ``spec`` (:mod:`textrec.ope.dice`)."""
        base, known, turn = self._state()
        offsets = np.asarray(self.catalog.schema.offsets)
        target = np.concatenate(self.replay(spec).heads, axis=1)
        logged, expected = dice_features(
            base, known, turn, self.actions + offsets[:-1], target, offsets
        )
        nxt = np.roll(expected, -1, axis=0) * ~self.done[:, None]
        first = np.r_[True, self.done[:-1]]
        return dualdice_ratios(logged, nxt, expected[first], ridge)

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
            fit = self.fqe(spec, estimator.model)
            q_logged, v_state = np.zeros(shape), np.zeros(shape)
            q_logged[self.decide] = fit.q_logged
            v_state[self.decide] = fit.v_state
        ratio = None
        if isinstance(estimator, DualDICE):
            ratio = np.zeros(shape)
            ratio[self.decide] = self.dice_ratios(spec, estimator.ridge)
        return OffPolicyData(reward, log_ratio, q_logged, v_state, ratio)


def estimate(
    policy: TargetSpec,
    log: OffPolicyLog | str | Path,
    catalog: Catalog | None = None,
    estimator: Estimator | None = None,
    *,
    seed: int = 0,
    n_boot: int = 200,
    refits: int = 0,
) -> Estimate:
    """``estimator``'s value of ``policy`` on ``log``, with a session-bootstrap interval.

    Args:
        policy: the target policy.
        log: a prepared :class:`OffPolicyLog`, or a log directory (then ``catalog`` is needed).
        catalog: the log's catalog when ``log`` is a directory.
        estimator: the estimator (per-decision IS when not given).
        seed: seeds the bootstrap (and FQE when ``log`` is a directory).
        n_boot: bootstrap replicates (>= 2).
        refits: refits on resampled sessions for the direct estimators' interval (0: the session
            bootstrap with ``Q̂`` fixed; else >= 2).
    """
    if n_boot < 2:
        raise InputError(f"estimate: n_boot must be >= 2, got {n_boot}")
    if refits < 0 or refits == 1:
        raise InputError(f"estimate: refits must be 0 or >= 2, got {refits}")
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
    stderr = float(boot.std(ddof=1))
    low, high = np.quantile(boot, [0.025, 0.975])
    if refits and isinstance(estimator, DirectFQE):
        stderr = float(log.refit_values(policy, estimator.model, refits).std(ddof=1))
        low, high = point - 1.96 * stderr, point + 1.96 * stderr
    return Estimate(
        estimator=estimator.label,
        value=point,
        stderr=stderr,
        interval=(float(low), float(high)),
        diagnostics=weight_diagnostics(data, estimator.clip) if estimator.uses_weights else None,
        fit_loss=log.fqe(policy, estimator.model).loss if estimator.uses_model else None,
        privileged=estimator.uses_weights and estimator.behaviour == "oracle",
    )
