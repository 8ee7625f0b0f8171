"""The paper's Table 2 and Figure 4 rebuilt from measured rows, the paper's numbers beside ours.

A :class:`RowResult` is one row of Table 2: SR@10/20/30, NI and NV as mean ± standard error (over
sessions for one seed; over seeds' means when several seeds ran, see :func:`combine_seeds`), the
success-by-turn curve and, for learned rows, the training curve (test SR@20 against updates).
:func:`write_report` turns the rows of a ``textrec reproduce`` run into

* ``report.md`` — Table 2 (:data:`ROWS` order) with the paper's UT-Zappos50K numbers beside ours,
  the quality targets met or missed (:func:`target_checks`), each Q learner's actor beside its
  Q-greedy policy (:func:`actor_q_markdown`), the rows under other speech
  (:func:`speech_markdown`) when measured, and the coverage study when it ran;
* ``results.json`` — one entry per row under its stable key (``sr@10`` ... as ``{mean, se}``);
* ``config.json`` — everything the run was configured with;
* ``training_curves.png`` (Figure 4), ``success_by_turn.png`` and ``coverage.png``.

Plots use matplotlib's Agg backend (no display needed). Every plot draws a learner in the one
colour :func:`row_colour` gives it (a learner's other policy, e.g. its Q-greedy one, dashed in the
same colour), shades ± one standard error across seeds where several ran, and names the run
(catalog, preset, seeds, sessions) in its title.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textrec.errors import InputError
from textrec.io import atomic_file, write_json_atomic
from textrec.metrics import SR_TURNS, EvaluationResult, MeanSE, mean_se

__all__ = [
    "METRICS",
    "REPORT_FILES",
    "ROWS",
    "ACTOR_Q",
    "PRIVILEGED_ROWS",
    "ROW_COLOURS",
    "row_colour",
    "PAPER_TABLE2",
    "PaperRow",
    "RowResult",
    "CurvePoint",
    "TargetCheck",
    "CoverageCell",
    "combine_seeds",
    "table2_markdown",
    "coverage_markdown",
    "coverage_targets",
    "own_policy",
    "COVERAGE_MARGIN",
    "actor_q_markdown",
    "speech_markdown",
    "kendall_tau",
    "results_json",
    "target_checks",
    "plot_training_curves",
    "plot_success_by_turn",
    "plot_coverage",
    "write_report",
]

METRICS = (*(f"sr@{k}" for k in SR_TURNS), "ni", "nv")
"""Table 2's columns, as keys of :attr:`RowResult.metrics` and of ``results.json``."""

ROWS: tuple[tuple[str, str], ...] = (
    ("behaviour_logged", "Behaviour (logged, as the paper defines it)"),
    ("behaviour_test", "Behaviour devices on the test pool"),
    ("online", "On-policy"),
    ("offpolicy", "Off-policy"),
    ("offpolicy_q", "Off-policy: its Q-greedy policy"),
    ("bc", "Imitation Learning"),
    ("cql", "Offline Learning (cql)"),
    ("cql_q", "Offline Learning (cql): its Q-greedy policy"),
    ("bcq", "BCQ"),
    ("bcq_actor", "BCQ: its actor (the behaviour-cloned heads)"),
    ("iql", "IQL"),
    ("iql_q", "IQL: its Q-greedy policy"),
    ("iterative", "Iterative Offline"),
    ("slot-reader", "Supervised slot reader (no RL)"),
    ("slot_filler", "Slot-filler"),
    ("oracle", "Oracle: told every desired value at turn 0"),
)
"""``(stable key, label)`` of Table 2's rows, in the table's order."""

ACTOR_Q: tuple[tuple[str, str, str], ...] = (
    ("offpolicy", "offpolicy", "offpolicy_q"),
    ("cql", "cql", "cql_q"),
    ("bcq", "bcq_actor", "bcq"),
    ("iql", "iql", "iql_q"),
)
"""``(learner, actor row, Q-greedy row)`` of every Q learner: the same trained agent acting from
its policy heads and from the argmax of its Q heads. The learner's own row is the policy its
learner evaluates (the actor; for ``bcq`` its masked Q-greedy policy), the other is added."""

PRIVILEGED_ROWS: dict[str, str] = {
    "slot_filler": "reads the user's requests as structure, not as text",
    "oracle": "is told every desired value of the target at turn 0 (a ceiling, no recommender)",
}
"""Reference rows that know more than a deployed text recommender could (``†`` in Table 2)."""

ROW_COLOURS: dict[str, str] = {
    "behaviour_logged": "#7f7f7f",
    "behaviour_test": "#7f7f7f",
    "online": "#1f77b4",
    "offpolicy": "#ff7f0e",
    "bc": "#2ca02c",
    "cql": "#d62728",
    "bcq": "#9467bd",
    "iql": "#8c564b",
    "iterative": "#e377c2",
    "reader": "#17becf",
    "slot_filler": "#000000",
    "oracle": "#bcbd22",
}
"""One colour per learner (and reference row), the same in every plot."""
_SPARE_COLOURS = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")
_VIEW_OF = {view: learner for learner, *views in ACTOR_Q for view in views if view != learner}


def row_learner(key: str) -> str:
    """The learner a row or coverage variant belongs to: ``"cql_q"`` and ``"cql α=1, tracking
    off"`` -> ``"cql"``."""
    key = _VIEW_OF.get(key, key)
    return key.replace(",", " ").split()[0] if key.strip() else key


def row_colour(key: str) -> str:
    """The colour of a row's learner (:data:`ROW_COLOURS`); a learner not listed gets a fixed
    spare colour chosen by a stable hash of its name."""
    learner = row_learner(key)
    if learner in ROW_COLOURS:
        return ROW_COLOURS[learner]
    return _SPARE_COLOURS[zlib.crc32(learner.encode()) % len(_SPARE_COLOURS)]


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's Table 2 (UT-Zappos50K, 100 test sessions)."""

    sr_at_10: float
    """SR@10 (the paper gives percentages without standard errors)."""
    sr_at_20: float
    """SR@20."""
    sr_at_30: float
    """SR@30."""
    ni: MeanSE
    """NI ± s.e."""
    nv: MeanSE
    """NV ± s.e."""

    def cells(self) -> list[str]:
        """The row's cells as the paper prints them: ``71%``, ``13.88 ± 1.58``."""
        srs = [f"{round(100 * x)}%" for x in (self.sr_at_10, self.sr_at_20, self.sr_at_30)]
        return [
            *srs,
            f"{self.ni.mean:.2f} ± {self.ni.se:.2f}",
            f"{self.nv.mean:.2f} ± {self.nv.se:.2f}",
        ]


PAPER_TABLE2: dict[str, PaperRow] = {
    "behaviour_logged": PaperRow(0.71, 0.81, 0.84, MeanSE(13.88, 1.58), MeanSE(25.96, 5.32)),
    "online": PaperRow(0.84, 0.90, 0.91, MeanSE(9.91, 1.24), MeanSE(9.35, 1.87)),
    "offpolicy": PaperRow(0.59, 0.74, 0.78, MeanSE(16.69, 1.72), MeanSE(39.92, 6.93)),
    "bc": PaperRow(0.69, 0.82, 0.85, MeanSE(12.91, 1.49), MeanSE(19.00, 3.82)),
    "cql": PaperRow(0.72, 0.87, 0.91, MeanSE(10.71, 1.21), MeanSE(13.08, 2.78)),
    "iterative": PaperRow(0.78, 0.87, 0.91, MeanSE(10.31, 1.25), MeanSE(10.53, 2.52)),
}
"""The paper's Table 2 ("Comparison of different methods on a simulator derived from
UT-Zappos50K"), keyed like :data:`ROWS`; it has no BCQ, IQL, test-pool behaviour or slot-filler
row. Its Iterative row is the best point of the iterative run; ours is the last round."""


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation during training: test-pool SR@20 after ``step`` updates."""

    step: int
    """Updates done (for iterative: cumulative over the rounds)."""
    sr_at_20: float
    """Test-pool SR@20 at that point."""
    label: str = ""
    """What the point is, e.g. ``"round 2"`` (iterative); empty for plain evaluations."""
    se: float = 0.0
    """Standard error of ``sr_at_20`` across seeds (0 for one seed)."""


@dataclass(frozen=True)
class RowResult:
    """One row of Table 2, measured."""

    key: str
    """Stable key (:data:`ROWS`)."""
    metrics: Mapping[str, MeanSE]
    """``sr@10``, ``sr@20``, ``sr@30``, ``ni``, ``nv`` -> mean ± s.e."""
    n_sessions: int
    """Sessions behind each seed's numbers."""
    n_seeds: int = 1
    """Seeds combined (> 1: mean ± s.e. across the seeds' means)."""
    success_curve: tuple[float, ...] = ()
    """SR@t for t = 1..max turns (empty when not measured, e.g. the logged behaviour row)."""
    success_curve_se: tuple[float, ...] = ()
    """Standard error of each point of ``success_curve`` across seeds (empty for one seed)."""
    training_curve: tuple[CurvePoint, ...] = ()
    """Test SR@20 against updates (learned rows only)."""
    seconds: float = 0.0
    """Wall time of the stage that produced the row (summed over seeds)."""
    note: str = ""
    """What the row is, in a few words (shown under the table)."""

    def __post_init__(self) -> None:
        missing = [m for m in METRICS if m not in self.metrics]
        if missing:
            raise InputError(f"row {self.key!r}: metrics missing {missing}")

    @classmethod
    def from_evaluation(cls, key: str, result: EvaluationResult, **extra: Any) -> RowResult:
        """The row of a simulator evaluation (its curve included)."""
        metrics = {f"sr@{k}": getattr(result, f"sr_at_{k}") for k in SR_TURNS}
        metrics.update(ni=result.ni, nv=result.nv)
        curve = tuple(round(float(x), 6) for x in result.curve)
        return cls(key, metrics, result.n_sessions, success_curve=curve, **extra)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_json`)."""
        return {
            "key": self.key,
            **{m: {"mean": self.metrics[m].mean, "se": self.metrics[m].se} for m in METRICS},
            "n_sessions": self.n_sessions,
            "n_seeds": self.n_seeds,
            "success_curve": list(self.success_curve),
            "success_curve_se": list(self.success_curve_se),
            "training_curve": [
                {"step": p.step, "sr@20": p.sr_at_20, "label": p.label, "se": p.se}
                for p in self.training_curve
            ],
            "seconds": round(self.seconds, 1),
            "note": self.note,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = "row") -> RowResult:
        """Parse :meth:`to_json` output; errors name ``source``."""
        try:
            return cls(
                key=obj["key"],
                metrics={m: MeanSE(float(obj[m]["mean"]), float(obj[m]["se"])) for m in METRICS},
                n_sessions=int(obj["n_sessions"]),
                n_seeds=int(obj["n_seeds"]),
                success_curve=tuple(float(x) for x in obj["success_curve"]),
                success_curve_se=tuple(float(x) for x in obj.get("success_curve_se", ())),
                training_curve=tuple(
                    CurvePoint(
                        int(p["step"]),
                        float(p["sr@20"]),
                        str(p.get("label", "")),
                        float(p.get("se", 0.0)),
                    )
                    for p in obj["training_curve"]
                ),
                seconds=float(obj.get("seconds", 0.0)),
                note=str(obj.get("note", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: malformed row result: {exc!r}") from exc


def combine_seeds(rows: Sequence[RowResult]) -> RowResult:
    """One row from the same row of several seeds: mean ± s.e. **across the seeds' means**.

    With one seed the row is returned as it is (its s.e. is over sessions). Curves are averaged
    point by point (a training curve at the steps every seed measured), each point with its
    standard error across the seeds (:func:`_mean_se_columns`).
    """
    if not rows:
        raise InputError("combine_seeds needs at least one row")
    keys = {r.key for r in rows}
    if len(keys) != 1:
        raise InputError(f"combine_seeds: rows of different keys {sorted(keys)}")
    if len(rows) == 1:
        return rows[0]
    metrics = {m: mean_se(np.array([r.metrics[m].mean for r in rows])) for m in METRICS}
    curves = [r.success_curve for r in rows]
    success: tuple[float, ...] = ()
    success_se: tuple[float, ...] = ()
    if curves[0] and all(len(c) == len(curves[0]) for c in curves):
        success, success_se = _mean_se_columns(curves)
    # a resumed run can lack a seed's early points (its rows before an older checkpoint): the
    # curve keeps the steps every seed measured, rather than no curve at all
    shared = set.intersection(*({p.step for p in r.training_curve} for r in rows))
    kept = [[p for p in r.training_curve if p.step in shared] for r in rows]
    training: tuple[CurvePoint, ...] = ()
    if kept[0]:
        sr, se = _mean_se_columns([[p.sr_at_20 for p in points] for points in kept])
        training = tuple(
            CurvePoint(p.step, x, p.label, e) for p, x, e in zip(kept[0], sr, se, strict=True)
        )
    return RowResult(
        key=rows[0].key,
        metrics=metrics,
        n_sessions=rows[0].n_sessions,
        n_seeds=len(rows),
        success_curve=success,
        success_curve_se=success_se,
        training_curve=training,
        seconds=sum(r.seconds for r in rows),
        note=rows[0].note,
    )


def _mean_se_columns(samples: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
    """Column-wise mean and standard error of ``n`` equally long samples (one per seed):
    ``mean_j = Σ_i x_ij / n``, ``se_j = sqrt(Σ_i (x_ij − mean_j)² / (n − 1)) / sqrt(n)``."""
    x = np.asarray(samples, dtype=np.float64)
    se = x.std(axis=0, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else np.zeros(x.shape[1])
    return tuple(float(v) for v in x.mean(axis=0)), tuple(float(v) for v in se)


# ------------------------------------------------------------------------------------------ tables
def _label(key: str) -> str:
    return dict(ROWS).get(key, key)


def _cell(x: MeanSE, digits: int) -> str:
    return f"{x.mean:.{digits}f} ± {x.se:.{digits}f}"


def table2_markdown(rows: Mapping[str, RowResult]) -> str:
    """Table 2 as a markdown table: our SR@10/20/30, NI, NV (mean ± s.e.), then the paper's.

    Rows follow :data:`ROWS`; a row that did not run is left out; ``–`` where the paper has no row;
    a privileged reference row (:data:`PRIVILEGED_ROWS`) is marked ``†`` and explained below.
    """
    header = [
        "method",
        *(f"SR@{k}" for k in SR_TURNS),
        "NI ± s.e.",
        "NV ± s.e.",
        *(f"paper SR@{k}" for k in SR_TURNS),
        "paper NI",
        "paper NV",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label in ROWS:
        if key not in rows:
            continue
        row = rows[key]
        ours = [_cell(row.metrics[f"sr@{k}"], 3) for k in SR_TURNS]
        ours += [_cell(row.metrics["ni"], 2), _cell(row.metrics["nv"], 2)]
        paper = PAPER_TABLE2[key].cells() if key in PAPER_TABLE2 else ["–"] * 5
        name = f"{label} †" if key in PRIVILEGED_ROWS else label
        lines.append("| " + " | ".join([name, *ours, *paper]) + " |")
    marked = [k for k in PRIVILEGED_ROWS if k in rows]
    if marked:
        lines.append("")
        lines += [f"† privileged: {_label(k)} {PRIVILEGED_ROWS[k]}." for k in marked]
    return "\n".join(lines) + "\n"


ACTOR_Q_TARGET = 0.02
"""The issue's target: a Q learner's actor within 2 points SR@20 of its own Q-greedy policy."""


def actor_q_markdown(rows: Mapping[str, RowResult]) -> str:
    """Each Q learner's actor beside its Q-greedy policy (:data:`ACTOR_Q`): SR@20 of each, the
    gap ``actor − Q-greedy`` and whether ``|gap| ≤`` :data:`ACTOR_Q_TARGET`. Empty when no
    learner has both rows."""
    lines = []
    for learner, actor, q in ACTOR_Q:
        if actor in rows and q in rows:
            a, b = rows[actor].metrics["sr@20"], rows[q].metrics["sr@20"]
            gap = a.mean - b.mean
            met = "yes" if abs(gap) <= ACTOR_Q_TARGET else "no"
            lines.append(
                f"| {_label(learner)} | {_cell(a, 3)} | {_cell(b, 3)} | {gap:+.3f} | {met} |"
            )
    if not lines:
        return ""
    head = [
        "| learner | actor SR@20 | Q-greedy SR@20 | actor − Q-greedy | within 0.02 |",
        "|---|---|---|---|---|",
    ]
    return "\n".join(head + lines) + "\n"


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's τ_b between two scorings of the same ``n`` items (the agreement of their rankings).

    Over the ``n(n−1)/2`` pairs ``i < j``: ``C`` concordant (``sign(x_i − x_j) = sign(y_i − y_j) ≠
    0``), ``D`` discordant (opposite signs), ``T_x`` tied in ``x`` only, ``T_y`` tied in ``y``
    only; ``τ_b = (C − D) / sqrt((C + D + T_x)(C + D + T_y))`` (scipy's ``kendalltau`` default).
    1: the same ranking, −1: reversed; ``nan`` when either side is constant or ``n < 2``.

    Example:
        >>> kendall_tau([1, 2, 3, 4, 5], [3, 4, 1, 2, 5])
        0.2
    """
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InputError(f"kendall_tau needs two equally long 1-D samples, got {a.shape} {b.shape}")
    i, j = np.triu_indices(len(a), k=1)
    sx, sy = np.sign(a[i] - a[j]), np.sign(b[i] - b[j])
    both = sx * sy
    c, d = int((both > 0).sum()), int((both < 0).sum())
    tx, ty = int(((sx == 0) & (sy != 0)).sum()), int(((sy == 0) & (sx != 0)).sum())
    denominator = np.sqrt(float(c + d + tx) * float(c + d + ty))
    return float((c - d) / denominator) if denominator > 0 else float("nan")


SPEECH_DROP_TARGET = 0.03
"""The issue's target: a row loses at most 3 points SR@20 under held-out free speech."""
SPEECH_TAU_TARGET = 0.8
"""The issue's target: Kendall τ ≥ 0.8 between the rankings of the rows under each speech."""


def speech_markdown(by_source: Mapping[str, Mapping[str, RowResult]]) -> str:
    """Table 2's SR@20 under each sentence source, each row's drop from the first source, and
    Kendall τ (:func:`kendall_tau`) between the sources' rankings of the rows they share.

    Args:
        by_source: ``{source: rows}``, the first source the training one (e.g. ``templates``),
            then those the rows were evaluated under as well (``model``, ``free``).
    """
    sources = list(by_source)
    if len(sources) < 2:
        return ""
    base = sources[0]
    shared = set.intersection(*(set(by_source[s]) for s in sources))
    keys = [k for k, _ in ROWS if k in shared] + sorted(shared - set(dict(ROWS)))
    header = ["row", f"{base} SR@20"]
    for s in sources[1:]:
        header += [f"{s} SR@20", f"drop ({s})"]
    if "free" in sources[1:]:
        header.append(f"free drop ≤ {SPEECH_DROP_TARGET:g}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    sr = {s: {k: by_source[s][k].metrics["sr@20"] for k in keys} for s in sources}
    for k in keys:
        cells = [_label(k), _cell(sr[base][k], 3)]
        for s in sources[1:]:
            cells += [_cell(sr[s][k], 3), f"{sr[base][k].mean - sr[s][k].mean:+.3f}"]
        if "free" in sources[1:]:
            drop = sr[base][k].mean - sr["free"][k].mean
            cells.append("yes" if drop <= SPEECH_DROP_TARGET else "no")
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Kendall τ_b between the rankings of these {len(keys)} rows by SR@20:",
        "",
        f"| sources | τ_b | ≥ {SPEECH_TAU_TARGET:g} |",
        "|---|---|---|",
    ]
    for n, s in enumerate(sources):
        for t in sources[n + 1 :]:
            tau = kendall_tau([sr[s][k].mean for k in keys], [sr[t][k].mean for k in keys])
            met = "yes" if tau >= SPEECH_TAU_TARGET else "no"
            lines.append(f"| {s} vs {t} | {tau:.3f} | {met} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CoverageCell:
    """One cell of the coverage study: one policy of a learner variant trained on one log, test
    SR@10 and SR@20 (mean ± s.e. across seeds' means; over sessions with one seed)."""

    log: str
    """Log name, e.g. ``"narrow-10k"``."""
    learner: str
    """Learner variant, e.g. ``"cql α=0.3"`` or ``"bc, tracking on"``."""
    policy: str
    """How its agent acts: ``"actor"`` or ``"Q-greedy"`` (a Q learner, :data:`ACTOR_Q`), ``""``
    for a learner with one policy."""
    sr_at_10: MeanSE
    """Test-pool SR@10 of its last checkpoint."""
    sr_at_20: MeanSE
    """Test-pool SR@20 of its last checkpoint."""
    n_seeds: int = 1
    """Seeds combined."""

    @property
    def name(self) -> str:
        """The learner variant and its policy, e.g. ``"cql α=1 · Q-greedy"``."""
        return f"{self.learner} · {self.policy}" if self.policy else self.learner


def coverage_markdown(cells: Sequence[CoverageCell]) -> str:
    """Test SR@10 and SR@20 per learner variant and policy (rows) per log (two columns each), as a
    markdown table; ``–`` where a cell did not run."""
    logs = list(dict.fromkeys(c.log for c in cells))
    names = list(dict.fromkeys((c.learner, c.policy) for c in cells))
    value = {(c.log, c.learner, c.policy): c for c in cells}
    head = " | ".join(f"{g} SR@10 | {g} SR@20" for g in logs)
    lines = [f"| learner | policy | {head} |", "|" + "---|" * (2 * len(logs) + 2)]
    for learner, policy in names:
        got = []
        for g in logs:
            c = value.get((g, learner, policy))
            got += [_cell(c.sr_at_10, 3), _cell(c.sr_at_20, 3)] if c else ["–", "–"]
        lines.append(f"| {learner} | {policy or '–'} | " + " | ".join(got) + " |")
    return "\n".join(lines) + "\n"


COVERAGE_MARGIN = 0.05
"""The coverage study's target: cql ≥ offpolicy + this on SR@20 on the narrow logs (the paper:
Offline > Off-policy by 0.13 under distribution shift)."""


def own_policy(learner: str) -> str:
    """The policy a learner's own row evaluates (:data:`ACTOR_Q`): ``"actor"`` or ``"Q-greedy"``
    for a Q learner (bcq: its masked Q-greedy one), ``""`` for a learner with one policy;
    ``learner`` may be a variant (``"cql α=1"``)."""
    algo = row_learner(learner)
    for q_learner, actor, _ in ACTOR_Q:
        if q_learner == algo:
            return "actor" if actor == algo else "Q-greedy"
    return ""


def coverage_targets(cells: Sequence[CoverageCell], narrow: Sequence[str]) -> list[TargetCheck]:
    """The coverage study's targets on each learner's own policy (:data:`ACTOR_Q`: the actor,
    bcq's masked Q-greedy), each cql variant against the learners it must beat:
    ``cql ≥ offpolicy +`` :data:`COVERAGE_MARGIN` on SR@20 on each log in ``narrow``, and
    ``cql ≥ bc`` on SR@20 on every log. Only pairs whose cells both ran are checked."""
    value = {(c.log, c.learner): c for c in cells if c.policy == own_policy(c.learner)}
    logs = list(dict.fromkeys(c.log for c in cells))
    cqls = [v for v in dict.fromkeys(c.learner for c in cells) if row_learner(v) == "cql"]
    checks = []
    for log in logs:
        for cql in cqls:
            pairs = [("bc", 0.0)] + ([("offpolicy", COVERAGE_MARGIN)] if log in narrow else [])
            for other, margin in pairs:
                x, y = value.get((log, cql)), value.get((log, other))
                if x is None or y is None:
                    continue
                gain = f" + {margin:g}" if margin else ""
                checks.append(
                    TargetCheck(
                        f"{log}: {cql} ≥ {other}{gain} on SR@20",
                        x.sr_at_20.mean >= y.sr_at_20.mean + margin,
                        f"{cql} {_cell(x.sr_at_20, 3)} vs {other} {_cell(y.sr_at_20, 3)} "
                        f"({x.sr_at_20.mean - y.sr_at_20.mean:+.3f})",
                    )
                )
    return checks


def results_json(rows: Mapping[str, RowResult]) -> dict[str, Any]:
    """``{key: {label, sr@10: {mean, se}, ..., nv, n_sessions, n_seeds, curves}}`` in ROWS order."""
    ordered = [k for k, _ in ROWS if k in rows] + sorted(set(rows) - set(dict(ROWS)))
    return {k: {"label": _label(k), **rows[k].to_json()} for k in ordered}


@dataclass(frozen=True)
class TargetCheck:
    """One of the issue's quality targets, checked on the measured rows."""

    claim: str
    """What should hold, e.g. ``"Offline > Imitation on SR@20"``."""
    met: bool
    """Whether the means satisfy it."""
    detail: str
    """The numbers compared."""


_TARGETS: tuple[tuple[str, str, str, str, str, float], ...] = (
    ("Offline (cql) > Imitation (bc) on SR@20", "cql", "bc", "sr@20", ">", 0.0),
    ("Imitation (bc) > Off-policy on SR@20", "bc", "offpolicy", "sr@20", ">", 0.0),
    (
        "Offline (cql) ≥ Behaviour devices (test pool) on SR@20",
        "cql",
        "behaviour_test",
        "sr@20",
        ">=",
        0.0,
    ),
    (
        "Offline (cql) NV < Behaviour devices (test pool) NV",
        "cql",
        "behaviour_test",
        "nv",
        "<",
        0.0,
    ),
    ("Iterative within 0.02 of On-policy on SR@20", "iterative", "online", "sr@20", ">=", -0.02),
    ("Offline (cql) within 0.03 of On-policy on SR@10", "cql", "online", "sr@10", ">=", -0.03),
)
"""``(claim, row a, row b, metric, op, margin)``: the claim holds when ``a − b op margin``."""
_LEARNED = (
    "online",
    "offpolicy",
    "offpolicy_q",
    "bc",
    "cql",
    "cql_q",
    "bcq",
    "bcq_actor",
    "iql",
    "iql_q",
    "iterative",
)


def target_checks(rows: Mapping[str, RowResult]) -> list[TargetCheck]:
    """The paper's ordering and textrec's targets (issue 8), each met or missed on the means.

    Only claims whose rows all ran are checked. Means are compared; the detail gives the standard
    errors, so that a "met" inside the noise reads as such.
    """
    checks = []
    for claim, a, b, metric, op, margin in _TARGETS:
        if a not in rows or b not in rows:
            continue
        x, y = rows[a].metrics[metric], rows[b].metrics[metric]
        diff = x.mean - y.mean
        met = {">": diff > margin, ">=": diff >= margin, "<": diff < margin}[op]
        detail = f"{_label(a)} {_cell(x, 3)} vs {_label(b)} {_cell(y, 3)}"
        checks.append(TargetCheck(claim, bool(met), detail))
    learned = [k for k in _LEARNED if k in rows]
    if learned and "slot_filler" in rows:
        best = max(learned, key=lambda k: rows[k].metrics["sr@10"].mean)
        x, y = rows[best].metrics["sr@10"], rows["slot_filler"].metrics["sr@10"]
        checks.append(
            TargetCheck(
                "Best learned policy > Slot-filler on SR@10",
                x.mean > y.mean,
                f"best: {_label(best)} {_cell(x, 3)} vs Slot-filler {_cell(y, 3)}",
            )
        )
    return checks


# ------------------------------------------------------------------------------------------- plots
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _finish_rates(ax: Any, xlabel: str, ylabel: str, title: str, outside: bool = False) -> None:
    """Labels, a [0, 1] rate axis, a light grid and (when anything is drawn) the legend, in the
    lower right corner or (``outside``) right of the axes."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        where = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)} if outside else {}
        ax.legend(fontsize=7, **({"loc": "lower right"} | where))
    ax.set_title(title, fontsize=10)


def _save(fig: Any, path: Path) -> Path:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _style(key: str) -> dict[str, Any]:
    """Line colour and style of a row: its learner's colour; a learner's other policy (e.g. its
    Q-greedy one) dashed, the test-pool behaviour dotted."""
    style = "--" if key in _VIEW_OF else ":" if key == "behaviour_test" else "-"
    return {"color": row_colour(key), "linestyle": style}


def _title(name: str, context: str) -> str:
    return f"{name}\n{context}" if context else name


def _spread(rows: Mapping[str, RowResult]) -> str:
    """What the shaded band is: ± one s.e. across the seeds, or nothing with one seed."""
    n = max((r.n_seeds for r in rows.values()), default=1)
    return f"± 1 s.e. across {n} seeds shaded" if n > 1 else "one seed: no s.e. band"


def _band(ax: Any, x: Sequence[float], y: Sequence[float], se: Sequence[float], key: str) -> None:
    """Shade ``y ± se`` (one standard error across seeds) in the row's colour, when measured."""
    if len(se) == len(y) and any(e > 0 for e in se):
        lo, hi = np.asarray(y) - np.asarray(se), np.asarray(y) + np.asarray(se)
        ax.fill_between(x, lo, hi, color=row_colour(key), alpha=0.15, linewidth=0)


_REFERENCES = ("behaviour_test", "slot_filler", "oracle")
"""Rows drawn as horizontal lines in the training-curve panels (they do not train)."""


def plot_training_curves(
    rows: Mapping[str, RowResult], path: str | Path, context: str = ""
) -> Path:
    """Figure 4: test SR@20 against training, ± one s.e. across seeds shaded.

    Two panels, because their x axes count different things: the on-policy agent's PPO updates
    against the simulated users (left), and the offline learners' gradient steps on the log
    (right; iterative: cumulative over its rounds, one marker per round). The rows that do not
    train (behaviour devices, slot-filler, oracle) are horizontal lines in both.
    """
    plt = _pyplot()
    fig, (online_ax, offline_ax) = plt.subplots(
        1,
        2,
        figsize=(12, 4.8),
        sharey=True,
        gridspec_kw={"width_ratios": [1, 2]},
        constrained_layout=True,
    )
    for key, label in ROWS:
        row = rows.get(key)
        if row is None:
            continue
        if row.training_curve:
            ax = online_ax if key == "online" else offline_ax
            steps = [p.step for p in row.training_curve]
            sr = [p.sr_at_20 for p in row.training_curve]
            marker = "s" if key == "iterative" else "o"
            ax.plot(steps, sr, marker=marker, markersize=4, label=label, **_style(key))
            _band(ax, steps, sr, [p.se for p in row.training_curve], key)
        elif key in _REFERENCES:
            for ax in (online_ax, offline_ax):
                ax.axhline(
                    row.metrics["sr@20"].mean,
                    linestyle=":" if key == "behaviour_test" else "-.",
                    linewidth=1,
                    label=label,
                    color=row_colour(key),
                )
    _finish_rates(
        online_ax,
        "on-policy PPO updates (against simulated users)",
        "test-pool SR@20",
        "On-policy",
    )
    _finish_rates(
        offline_ax,
        "offline gradient steps on the log (iterative: cumulative over rounds)",
        "",
        "Offline learners",
        outside=True,  # inside, the legend hid the lowest curves' last points
    )
    fig.suptitle(_title(f"Training curves (Figure 4), {_spread(rows)}", context), fontsize=11)
    return _save(fig, Path(path))


def plot_success_by_turn(
    rows: Mapping[str, RowResult], path: str | Path, context: str = ""
) -> Path:
    """SR@t against turn t for every row that has a success curve (± one s.e. across seeds)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for key, label in ROWS:
        row = rows.get(key)
        if row is not None and row.success_curve:
            turns = np.arange(1, len(row.success_curve) + 1)
            ax.plot(turns, row.success_curve, label=label, linewidth=1.2, **_style(key))
            _band(ax, turns, row.success_curve, row.success_curve_se, key)
    for k in SR_TURNS:
        ax.axvline(k, color="grey", linewidth=0.5, linestyle=":")
    _finish_rates(
        ax,
        "turn t",
        "SR@t (test pool)",
        _title(f"Success by turn, {_spread(rows)}", context),
        outside=True,
    )
    return _save(fig, Path(path))


_HATCHES = ("", "//", "..", "xx", "\\\\", "oo", "--", "++")


def plot_coverage(cells: Sequence[CoverageCell], path: str | Path, context: str = "") -> Path:
    """Grouped bars: test SR@20 (± one s.e. across seeds) of each learner variant's policies on
    each log; a bar has its learner's colour (:func:`row_colour`), the second and later bars of one
    learner (its Q-greedy policy, other α, tracking on) differ by hatching."""
    plt = _pyplot()
    logs = list(dict.fromkeys(c.log for c in cells))
    names = list(dict.fromkeys(c.name for c in cells))
    value = {(c.log, c.name): c.sr_at_20 for c in cells}
    n_seeds = max((c.n_seeds for c in cells), default=1)
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(7.5, 0.35 * len(names) * len(logs) + 3), 4.5))
    x = np.arange(len(logs))
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        got = [value.get((g, name)) for g in logs]
        variant = seen.setdefault(row_learner(name), 0)
        seen[row_learner(name)] = variant + 1
        ax.bar(
            x + (i - (len(names) - 1) / 2) * width,
            [v.mean if v else np.nan for v in got],
            width,
            yerr=[v.se if v else 0.0 for v in got],
            label=name,
            color=row_colour(name),
            hatch=_HATCHES[variant % len(_HATCHES)],
            edgecolor="white",
        )
    ax.set_xticks(x, logs)
    spread = f"± 1 s.e. across {n_seeds} seeds" if n_seeds > 1 else "± 1 s.e. over sessions"
    ax.set_ylabel(f"test-pool SR@20 ({spread})")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(_title("Coverage study: which learner gains from which log", context), fontsize=10)
    return _save(fig, Path(path))


# -------------------------------------------------------------------------------------- the report
REPORT_FILES = {
    "report": "report.md",
    "results": "results.json",
    "config": "config.json",
    "curves": "training_curves.png",
    "by_turn": "success_by_turn.png",
    "coverage": "coverage.png",
}
"""The files :func:`write_report` writes (``coverage.png`` only when the study ran)."""


def write_report(
    out: str | Path,
    rows: Mapping[str, RowResult],
    config: Mapping[str, Any],
    *,
    title: str = "textrec reproduce",
    coverage: Sequence[CoverageCell] = (),
    coverage_narrow: Sequence[str] = (),
    notes: Sequence[str] = (),
    speech: Mapping[str, Mapping[str, RowResult]] | None = None,
    context: str = "",
    sections: Sequence[str] = (),
    extra_results: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write report.md, results.json, config.json and the plots into ``out``; return their paths.

    Args:
        out: the run directory (exists).
        rows: measured rows by key (seeds already combined).
        config: the run's configuration (saved as config.json, summarised in report.md).
        title: the report's heading.
        coverage: the coverage study's cells (coverage table, its targets
            (:func:`coverage_targets`) and coverage.png when given).
        coverage_narrow: the coverage logs of narrow behaviour (their cql ≥ offpolicy target).
        notes: extra lines for report.md (device mix, timings, ...).
        speech: the rows evaluated again under other sentence sources, ``{source: rows}``
            (``rows`` above are the training source's); their table (:func:`speech_markdown`)
            goes into report.md and their numbers into results.json under ``"speech"``.
        context: what the run was (catalog, preset, seeds, sessions), in every figure's title.
        sections: further report.md lines (their own headings), after the tables.
        extra_results: further top-level keys of results.json.
    """
    root = Path(out)
    names = REPORT_FILES
    paths = [
        plot_training_curves(rows, root / names["curves"], context),
        plot_success_by_turn(rows, root / names["by_turn"], context),
    ]
    if coverage:
        paths.append(plot_coverage(coverage, root / names["coverage"], context))
    results = results_json(rows)
    if speech:
        results["speech"] = {source: results_json(r) for source, r in speech.items()}
    results.update(extra_results or {})
    write_json_atomic(root / names["results"], results)
    write_json_atomic(root / names["config"], dict(config))
    paths += [root / names["results"], root / names["config"]]
    n_seeds = max((r.n_seeds for r in rows.values()), default=1)
    spread = "across seeds' means" if n_seeds > 1 else "over sessions"
    text = [
        f"# {title}\n",
        f"Test pool unless said; {n_seeds} seed(s); ± is the standard error {spread}. "
        "The paper's numbers (UT-Zappos50K, 100 sessions) are beside ours.\n",
        "## Table 2\n",
        table2_markdown(rows),
    ]
    text += [f"- **{_label(k)}**: {r.note}" for k, r in rows.items() if r.note]
    pairs = actor_q_markdown(rows)
    if pairs:
        text += [
            "\n## Actor vs its Q-greedy policy\n",
            "Each Q learner's trained agent acting from its policy heads (the actor) and from the "
            "argmax of its Q heads (Q-greedy), the same test sessions; the target is a gap of at "
            f"most {ACTOR_Q_TARGET:g} SR@20.\n",
            pairs,
        ]
    checks = target_checks(rows)
    if checks:
        text += ["\n## Targets\n", "| target | met | numbers |", "|---|---|---|"]
        text += [f"| {c.claim} | {'yes' if c.met else 'no'} | {c.detail} |" for c in checks]
    if speech:
        base = str(config.get("utterances", "templates"))
        text += [
            "\n## Table 2 under other speech (test SR@20)\n",
            f"Every row's policy, trained on `{base}` logs and users, evaluated again with the "
            f"simulated users speaking `{'`, `'.join(speech)}` (`free`: held-out phrasings, never "
            "trained on); drop = "
            f"{base} − other.\n",
            speech_markdown({base: rows, **speech}),
        ]
    text += list(sections)
    text += [
        "\n## Figures\n",
        f"- `{names['curves']}`: test SR@20 against training (Figure 4) in two panels: the "
        "on-policy agent's PPO updates against simulated users, and the offline learners' "
        "gradient steps on the log (iterative: one point per round, cumulative steps).",
        f"- `{names['by_turn']}`: SR@t against turn t for every evaluated row.",
        "- One colour per learner in every figure (a Q learner's other policy dashed in its "
        "colour); shaded: ± one standard error across seeds (none with one seed).",
    ]
    if coverage:
        text += [
            f"- `{names['coverage']}`: the coverage study below.",
            "\n## Coverage study (test SR@10 and SR@20)\n",
            "Each learner trained on each log with the offline budget, evaluated like Table 2's "
            f"rows; ± is the standard error {spread}. A Q learner's two policies: its actor and "
            "the argmax of its Q heads (Q-greedy); bcq's own policy is its masked Q-greedy one.\n",
            coverage_markdown(coverage),
        ]
        checks = coverage_targets(coverage, coverage_narrow)
        if checks:
            text += ["\n### Coverage targets\n", "| target | met | numbers |", "|---|---|---|"]
            text += [f"| {c.claim} | {'yes' if c.met else 'no'} | {c.detail} |" for c in checks]
    if notes:
        text += ["\n## Run\n", *notes]
    with atomic_file(root / names["report"]) as tmp:
        tmp.write_text("\n".join(text) + "\n", encoding="utf-8")
    return [root / names["report"], *paths]
