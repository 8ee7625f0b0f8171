"""``reproduce``'s OPE section: each offline learner's checkpoints rated from the log, scored
against the truth the simulator knows.

Model selection is what off-policy evaluation is for in practice: without simulated users, the
checkpoint to report is the one an estimator rates best. An offline learner of ``reproduce`` keeps
the recommender of every evaluation (:attr:`textrec.learners.run.TrainSpec.snapshots`:
``runs/<learner>/checkpoints/step-N``), and per learner and seed :func:`rate_checkpoints` gives
every kept checkpoint ``c``

* each estimator's value ``v̂_e(c)`` from the seed's log (:func:`textrec.ope.select.ope_ratings`:
  the agent's stochastic head policy, the policy the estimators value; fits seeded by the seed);
* the truth ``v(c)`` that value is of: the same stochastic head policy's mean return on
  ``eval_sessions`` sessions of the log's users (:func:`textrec.ope.scoring.true_value`);
* the figures the run reports for ``c``: its evaluation's test SR@20 and return (``metrics.csv``:
  the agent acting as its learner evaluated it, on the test pool, the sessions every row uses).

An estimator's **pick** is ``argmax_c v̂_e(c)``, the **true best** ``argmax_c SR@20(c)``, the
**last** the checkpoint Table 2 reports (ties: the earliest). The section reports each pick's
test SR@20 beside the true best's and the last's, and what deploying the *selecting* estimator's
pick costs (the first of ``ope_estimators``, fixed before any truth is seen):
``SR@20(best) − SR@20(pick)``. Per estimator it scores ``v̂_e`` against ``v`` over a learner's
checkpoints — relative error, Spearman ρ, normalised regret@1
(:func:`textrec.ope.scoring.rank_scores`) — averaged over the learners and seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textrec.catalog import Catalog
from textrec.errors import InputError
from textrec.evaluation import load_policy
from textrec.learners.loop import METRICS_NAME, read_rows
from textrec.learners.run import snapshot_dir
from textrec.ope.estimators import ESTIMATORS
from textrec.ope.fqe import FQEConfig
from textrec.ope.offpolicy import OffPolicyLog
from textrec.ope.policies import TargetSpec
from textrec.ope.scoring import rank_scores, true_value
from textrec.ope.select import ope_ratings

__all__ = [
    "RatedCheckpoint",
    "LearnerRatings",
    "check_estimators",
    "ope_stage",
    "rate_checkpoints",
    "estimator_summary",
    "ope_markdown",
    "ope_json",
]


def ope_stage(learner: str) -> str:
    """Name of the stage (and record) that rates ``learner``'s checkpoints."""
    return f"ope-{learner}"


def check_estimators(names: Sequence[str]) -> None:
    """Refuse names that are not estimators of :data:`textrec.ope.ESTIMATORS`, or repeated ones."""
    unknown = [n for n in names if n not in ESTIMATORS]
    if unknown or len(set(names)) != len(names):
        raise InputError(
            f"reproduce: ope_estimators must be distinct names among {list(ESTIMATORS)}, got "
            f"{list(names)}"
        )


@dataclass(frozen=True)
class RatedCheckpoint:
    """One kept checkpoint of a learner: its reported figures, its truth, its estimates."""

    step: int
    """Updates when it was kept."""
    sr_at_20: float
    """Its evaluation's test SR@20 (what the run reports for it)."""
    test_return: float
    """Its evaluation's mean test return."""
    truth: float
    """Mean return of its stochastic head policy on the log's users (what the estimates are of)."""
    truth_se: float
    """Standard error of ``truth``."""
    estimates: Mapping[str, float]
    """Each estimator's value of its stochastic head policy, from the log alone."""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "step": self.step,
            "sr@20": self.sr_at_20,
            "return": self.test_return,
            "truth": self.truth,
            "truth_se": self.truth_se,
            "estimates": dict(self.estimates),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RatedCheckpoint:
        """Read :meth:`to_json`'s form."""
        return cls(
            int(raw["step"]),
            float(raw["sr@20"]),
            float(raw["return"]),
            float(raw["truth"]),
            float(raw["truth_se"]),
            {k: float(v) for k, v in raw["estimates"].items()},
        )


@dataclass(frozen=True)
class LearnerRatings:
    """A learner's kept checkpoints in one seed, rated (in step order)."""

    learner: str
    """The learner (``--algo`` name)."""
    seed: int
    """The seed."""
    checkpoints: tuple[RatedCheckpoint, ...]
    """The kept checkpoints, by step."""
    missing: tuple[int, ...] = ()
    """Evaluation steps with no kept checkpoint (a run trained before checkpoints were kept)."""

    def pick(self, estimator: str) -> RatedCheckpoint:
        """The checkpoint ``estimator`` rates highest (the earliest on ties)."""
        return self.checkpoints[int(np.argmax([c.estimates[estimator] for c in self.checkpoints]))]

    @property
    def best(self) -> RatedCheckpoint:
        """The checkpoint with the highest test SR@20 (the earliest on ties)."""
        return self.checkpoints[int(np.argmax([c.sr_at_20 for c in self.checkpoints]))]

    @property
    def last(self) -> RatedCheckpoint:
        """The last checkpoint (Table 2's)."""
        return self.checkpoints[-1]

    def scores(self, estimator: str) -> tuple[float, float, float]:
        """``(relative error, Spearman ρ, regret@1)`` of ``estimator`` over the checkpoints."""
        return rank_scores(
            np.array([c.estimates[estimator] for c in self.checkpoints]),
            np.array([c.truth for c in self.checkpoints]),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "learner": self.learner,
            "seed": self.seed,
            "checkpoints": [c.to_json() for c in self.checkpoints],
            "missing": list(self.missing),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> LearnerRatings:
        """Read :meth:`to_json`'s form."""
        return cls(
            str(raw["learner"]),
            int(raw["seed"]),
            tuple(RatedCheckpoint.from_json(c) for c in raw["checkpoints"]),
            tuple(int(s) for s in raw.get("missing", ())),
        )


def rate_checkpoints(
    learner: str,
    run_dir: str | Path,
    log_dir: str | Path,
    catalog: Catalog,
    estimators: Sequence[str],
    *,
    fqe_steps: int,
    eval_sessions: int,
    seed: int,
) -> LearnerRatings:
    """Rate every checkpoint the run in ``run_dir`` kept (see the module docstring).

    Args:
        learner: the learner's name (a label).
        run_dir: its training run (``metrics.csv``, ``checkpoints/step-N``).
        log_dir: the log it was trained on (the estimators read it; its users give the truth).
        catalog: the log's catalog.
        estimators: estimator names (:data:`textrec.ope.ESTIMATORS`).
        fqe_steps: gradient steps of each FQE / conservative FQE fit.
        eval_sessions: sessions of each checkpoint's truth.
        seed: seeds the fits, the bootstrap and the truth's sessions.
    """
    check_estimators(estimators)
    rows = [r for r in read_rows(Path(run_dir) / METRICS_NAME) if r.get("eval/sr@20") is not None]
    log = OffPolicyLog(log_dir, catalog, seed=seed, fqe=FQEConfig(steps=fqe_steps))
    rate = ope_ratings(log, [ESTIMATORS[name]() for name in estimators], seed=seed)
    rated, missing = [], []
    for row in rows:
        step = int(row["step"])
        kept = snapshot_dir(run_dir, step)
        if not kept.is_dir():
            missing.append(step)
            continue
        truth, truth_se = true_value(
            TargetSpec(f"{learner}@{step}", base=str(kept)), log_dir, catalog, eval_sessions, seed
        )
        rated.append(
            RatedCheckpoint(
                step,
                float(row["eval/sr@20"]),
                float(row["eval/return"]),
                truth,
                truth_se,
                rate(load_policy(kept, catalog)),
            )
        )
    return LearnerRatings(learner, seed, tuple(rated), tuple(missing))


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _num(x: float, fmt: str = ".2f") -> str:
    return format(x, fmt) if np.isfinite(x) else "—"


def estimator_summary(ratings: Sequence[LearnerRatings], estimator: str) -> dict[str, float]:
    """``estimator``'s scores over every rated learner and seed (means; Spearman over those where
    it is defined) and its picks' mean SR@20 lost against the true best and gained over the
    last."""
    rated = [r for r in ratings if r.checkpoints]
    scores = [r.scores(estimator) for r in rated]
    return {
        "relative_error": _mean([s[0] for s in scores]),
        "spearman": _mean([s[1] for s in scores]),
        "regret_at_1": _mean([s[2] for s in scores]),
        "sr_lost_vs_best": _mean([r.best.sr_at_20 - r.pick(estimator).sr_at_20 for r in rated]),
        "sr_gained_vs_last": _mean([r.pick(estimator).sr_at_20 - r.last.sr_at_20 for r in rated]),
        "picks_best": _mean([float(r.pick(estimator).step == r.best.step) for r in rated]),
    }


def ope_json(ratings: Sequence[LearnerRatings], estimators: Sequence[str]) -> dict[str, Any]:
    """results.json's ``"ope"``: the settings, every learner's rated checkpoints with each
    estimator's pick, the true best and the last, and each estimator's summary."""
    return {
        "estimators": list(estimators),
        "select_by": estimators[0],
        "learners": [
            {
                **r.to_json(),
                "picks": {e: r.pick(e).step for e in estimators} if r.checkpoints else {},
                "best": r.best.step if r.checkpoints else None,
                "last": r.last.step if r.checkpoints else None,
            }
            for r in ratings
        ],
        "summary": {e: estimator_summary(ratings, e) for e in estimators},
    }


def ope_markdown(
    ratings: Sequence[LearnerRatings], estimators: Sequence[str], fqe_steps: int
) -> list[str]:
    """report.md's OPE section (lines): per learner and seed the checkpoint each estimator picks
    against the true best and the last; per estimator its scores over the checkpoints."""
    select = estimators[0]
    rated = [r for r in ratings if r.checkpoints]
    lines = [
        "\n## Choosing the checkpoint by off-policy evaluation\n",
        "Each offline learner kept its recommender at every evaluation; each estimator rates "
        "every kept checkpoint from the log alone (its stochastic head policy; FQE fits of "
        f"{fqe_steps} steps). The checkpoint reported with OPE is the one `{select}` rates "
        "highest; its cost is the test SR@20 lost against the true best checkpoint (the "
        "highest test SR@20). Cells: step, test SR@20.\n",
        "| learner | seed | checkpoints | last | true best | "
        + " | ".join(f"`{e}` pick" for e in estimators)
        + f" | cost of `{select}` |",
        "|---|---|---|---|---|" + "---|" * len(estimators) + "---|",
    ]

    def cell(c: RatedCheckpoint) -> str:
        return f"{c.step}: {c.sr_at_20:.3f}"

    for r in ratings:
        if not r.checkpoints:
            lines.append(
                f"| {r.learner} | {r.seed} | none kept | — | — | "
                + "— | " * len(estimators)
                + "— |"
            )
            continue
        picks = " | ".join(cell(r.pick(e)) for e in estimators)
        cost = r.best.sr_at_20 - r.pick(select).sr_at_20
        lines.append(
            f"| {r.learner} | {r.seed} | {len(r.checkpoints)} | {cell(r.last)} | "
            f"{cell(r.best)} | {picks} | {cost:.3f} |"
        )
    missing = [
        f"{r.learner} (seed {r.seed}): steps {list(r.missing)}" for r in ratings if r.missing
    ]
    if missing:
        lines.append(
            "\nEvaluations with no kept checkpoint (trained before checkpoints were kept): "
            + "; ".join(missing)
        )
    lines += [
        "\nPer estimator, over each learner's checkpoints (mean over "
        f"{len(rated)} learner × seed runs): its values against the truth they are of (the "
        "stochastic head policy's return on the log's users), and its picks' test SR@20 against "
        "the true best and the last. Goal: Spearman ρ ≥ 0.9, regret@1 ≤ 0.05, relative error "
        "≤ 10 %.\n",
        "| estimator | rel. error | Spearman ρ | regret@1 | SR@20 lost vs best | "
        "SR@20 gained vs last | picks the best |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in estimators:
        s = estimator_summary(ratings, e)
        lines.append(
            f"| {e} | {_num(s['relative_error'], '.3f')} | {_num(s['spearman'])} | "
            f"{_num(s['regret_at_1'])} | {_num(s['sr_lost_vs_best'], '.3f')} | "
            f"{_num(s['sr_gained_vs_last'], '+.3f')} | {_num(s['picks_best'])} |"
        )
    return lines
