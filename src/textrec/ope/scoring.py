"""Estimators scored against the simulator's truth: true values, four scores, a figure.

The truth of a target policy is its mean return per session when it runs in the simulator on the
log's users: the log's pool, task and sentence source (from its manifest), through
:func:`textrec.evaluation.evaluate`. Over ``P`` policies with true values ``v_p``, an estimator's
estimates ``v̂_p`` and intervals ``[l_p, u_p]`` score:

* relative error: ``mean_p |v̂_p − v_p| / |v_p|``;
* Spearman ρ: the rank correlation of ``v̂`` and ``v`` (ties get average ranks);
* normalised regret@1: ``(max_p v_p − v_{argmax v̂}) / (max_p v_p − min_p v_p)``, the share of the
  true range lost by deploying the estimator's top pick;
* coverage: the fraction of policies whose truth lies in the interval.

The truths of several policies are independent jobs: :func:`true_values` runs them on a
:class:`~textrec.backends.Backend` (this process, a process pool or Ray), each seeded by itself,
so the numbers are the same whichever runs them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textrec.backends import Backend, JobRunner, job_runner
from textrec.catalog import Catalog
from textrec.evaluation import evaluate
from textrec.io import atomic_file
from textrec.logs.writer import read_manifest
from textrec.ope.offpolicy import Estimate
from textrec.ope.policies import TargetPolicy, TargetSpec
from textrec.ope.sessions import log_bank
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.task import TaskConfig

__all__ = ["Score", "true_value", "true_values", "rank_scores", "score", "plot_estimates"]


def true_value(
    spec: TargetSpec, log_dir: str | Path, catalog: Catalog, n_sessions: int, seed: int
) -> tuple[float, float]:
    """Mean return and its standard error: ``spec``'s :class:`TargetPolicy` (the object OPE
    replays) run on ``n_sessions`` of the log's users (pool, task and sentence bank)."""
    manifest = read_manifest(log_dir)
    task = TaskConfig(**manifest.task)
    simulator = BatchedSimulator(catalog, manifest.pool, log_bank(log_dir, catalog), task)
    returns = evaluate(TargetPolicy(spec, catalog), simulator, n_sessions, seed).returns
    return returns.mean, returns.se


def _catalog(catalog: Catalog) -> Catalog:
    """A truth worker's state: the catalog."""
    return catalog


def _truth(
    catalog: Catalog, spec: TargetSpec, log_dir: str, n_sessions: int, seed: int
) -> tuple[float, float]:
    """:func:`true_value` as a :mod:`textrec.backends` job."""
    return true_value(spec, log_dir, catalog, n_sessions, seed)


class TruthJobs:
    """The true values of target policies, running on ``backend`` while the caller does other
    work (the estimates); :meth:`results` waits for them. Use as a context manager (from
    :func:`true_values`)."""

    def __init__(self, jobs: JobRunner, n: int) -> None:
        self._jobs, self._n = jobs, n

    def results(self) -> list[tuple[float, float]]:
        """``(mean, s.e.)`` per policy, in the order given."""
        done = dict(self._jobs.completed())
        return [done[i] for i in range(self._n)]


@contextlib.contextmanager
def true_values(
    specs: Sequence[TargetSpec],
    log_dir: str | Path,
    catalog: Catalog,
    n_sessions: int,
    seed: int,
    backend: Backend | None = None,
) -> Iterator[TruthJobs]:
    """:func:`true_value` of every policy of ``specs``, one job each on ``backend`` (default:
    in this process, run when :meth:`TruthJobs.results` is called); with Ray or a pool the jobs
    start at once. Same numbers on every backend (each job is seeded by ``seed`` alone)."""
    backend = backend or Backend()
    if not backend.in_process:  # no more workers than jobs
        workers = max(1, min(backend.workers, len(specs)))
        backend = Backend(backend.name, workers, backend.address)
    with job_runner(backend, _catalog, (catalog,), catalog) as jobs:
        for i, spec in enumerate(specs):
            jobs.submit(i, _truth, spec, str(log_dir), n_sessions, seed)
        yield TruthJobs(jobs, len(specs))


@dataclass(frozen=True)
class Score:
    """One estimator's scores over the target policies."""

    estimator: str
    """Row name."""
    relative_error: float
    """Mean ``|v̂ − v| / |v|``."""
    spearman: float
    """Rank correlation of estimates and truths."""
    regret_at_1: float
    """Normalised regret of the top pick."""
    coverage: float
    """Fraction of truths inside the 95 % interval."""
    privileged: bool
    """A reference row that read the oracle sidecar."""


def rank_scores(estimates: np.ndarray, truths: np.ndarray) -> tuple[float, float, float]:
    """``(relative error, Spearman ρ, normalised regret@1)`` of point ``estimates`` against
    ``truths`` (see the module docstring; ρ is NaN when either side is constant, regret 0 when
    every truth is equal)."""
    est = np.asarray(estimates, dtype=np.float64)
    v = np.asarray(truths, dtype=np.float64)
    span = v.max() - v.min()
    return (
        float(np.mean(np.abs(est - v) / np.abs(v))),
        float(pd.Series(est).rank().corr(pd.Series(v).rank())),
        float((v.max() - v[int(np.argmax(est))]) / span) if span > 0 else 0.0,
    )


def score(estimates: Sequence[Estimate], truths: np.ndarray) -> Score:
    """Score one estimator's ``estimates`` (one per policy, in ``truths``' order)."""
    v = np.asarray(truths, dtype=np.float64)
    low = np.array([e.interval[0] for e in estimates])
    high = np.array([e.interval[1] for e in estimates])
    relative, spearman, regret = rank_scores(np.array([e.value for e in estimates]), v)
    return Score(
        estimator=estimates[0].estimator,
        relative_error=relative,
        spearman=spearman,
        regret_at_1=regret,
        coverage=float(np.mean((low <= v) & (v <= high))),
        privileged=estimates[0].privileged,
    )


def plot_estimates(
    rows: dict[str, Sequence[Estimate]], truths: np.ndarray, path: str | Path
) -> Path:
    """``ope.png``: estimate (with its interval) against truth, one panel per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    cols = min(4, len(names))
    n_rows = -(-len(names) // cols)
    fig, axes = plt.subplots(n_rows, cols, figsize=(3.2 * cols, 3.0 * n_rows), squeeze=False)
    lo, hi = float(np.min(truths)), float(np.max(truths))
    pad = 0.1 * (hi - lo or 1.0)
    for ax, name in zip(axes.flat, names, strict=False):
        est = rows[name]
        y = np.array([e.value for e in est])
        err = np.array([[e.value - e.interval[0], e.interval[1] - e.value] for e in est]).T
        ax.errorbar(truths, y, yerr=np.maximum(err, 0), fmt="o", ms=3, capsize=2)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(lo - 3 * pad, hi + 3 * pad)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("true value", fontsize=8)
        ax.set_ylabel("estimate", fontsize=8)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    out = Path(path)
    with atomic_file(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
