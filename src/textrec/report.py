"""The paper's Table 2 and Figure 4 rebuilt from measured rows, the paper's numbers beside ours.

A :class:`RowResult` is one row of Table 2: SR@10/20/30, NI and NV as mean ± standard error (over
sessions for one seed; over seeds' means when several seeds ran, see :func:`combine_seeds`), the
success-by-turn curve and, for learned rows, the training curve (test SR@20 against updates).
:func:`write_report` turns the rows of a ``textrec reproduce`` run into

* ``report.md`` — Table 2 (:data:`ROWS` order) with the paper's UT-Zappos50K numbers beside ours,
  the quality targets met or missed (:func:`target_checks`), and the coverage study when it ran;
* ``results.json`` — one entry per row under its stable key (``sr@10`` ... as ``{mean, se}``);
* ``config.json`` — everything the run was configured with;
* ``training_curves.png`` (Figure 4), ``success_by_turn.png`` and ``coverage.png``.

Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

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
    "PAPER_TABLE2",
    "PaperRow",
    "RowResult",
    "CurvePoint",
    "TargetCheck",
    "CoverageCell",
    "combine_seeds",
    "table2_markdown",
    "coverage_markdown",
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
    ("bc", "Imitation Learning"),
    ("cql", "Offline Learning (cql)"),
    ("bcq", "BCQ"),
    ("iql", "IQL"),
    ("iterative", "Iterative Offline"),
    ("slot-reader", "Supervised slot reader (no RL)"),
    ("slot_filler", "Slot-filler"),
)
"""``(stable key, label)`` of Table 2's rows, in the table's order."""


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
            "training_curve": [
                {"step": p.step, "sr@20": p.sr_at_20, "label": p.label} for p in self.training_curve
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
                training_curve=tuple(
                    CurvePoint(int(p["step"]), float(p["sr@20"]), str(p.get("label", "")))
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
    point by point (training curves where the seeds share their steps).
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
    success = (
        tuple(float(x) for x in np.mean(curves, axis=0))
        if curves[0] and all(len(c) == len(curves[0]) for c in curves)
        else ()
    )
    steps = [tuple(p.step for p in r.training_curve) for r in rows]
    training: tuple[CurvePoint, ...] = ()
    if steps[0] and all(s == steps[0] for s in steps):
        sr = np.mean([[p.sr_at_20 for p in r.training_curve] for r in rows], axis=0)
        training = tuple(
            CurvePoint(p.step, float(x), p.label)
            for p, x in zip(rows[0].training_curve, sr, strict=True)
        )
    return RowResult(
        key=rows[0].key,
        metrics=metrics,
        n_sessions=rows[0].n_sessions,
        n_seeds=len(rows),
        success_curve=success,
        training_curve=training,
        seconds=sum(r.seconds for r in rows),
        note=rows[0].note,
    )


# ------------------------------------------------------------------------------------------ tables
def _label(key: str) -> str:
    return dict(ROWS).get(key, key)


def _cell(x: MeanSE, digits: int) -> str:
    return f"{x.mean:.{digits}f} ± {x.se:.{digits}f}"


def table2_markdown(rows: Mapping[str, RowResult]) -> str:
    """Table 2 as a markdown table: our SR@10/20/30, NI, NV (mean ± s.e.), then the paper's.

    Rows follow :data:`ROWS`; a row that did not run is left out; ``–`` where the paper has no row.
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
        lines.append("| " + " | ".join([label, *ours, *paper]) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CoverageCell:
    """One cell of the coverage study: a learner variant trained on one log, test SR@20."""

    log: str
    """Log name, e.g. ``"default-40k"``."""
    learner: str
    """Learner variant, e.g. ``"cql α=0.3"`` or ``"bc, tracking on"``."""
    sr_at_20: MeanSE
    """Test-pool SR@20 of its last checkpoint."""


def coverage_markdown(cells: Sequence[CoverageCell]) -> str:
    """Test SR@20 per learner variant (rows) per log (columns), as a markdown table."""
    logs = list(dict.fromkeys(c.log for c in cells))
    learners = list(dict.fromkeys(c.learner for c in cells))
    value = {(c.log, c.learner): c.sr_at_20 for c in cells}
    lines = ["| learner | " + " | ".join(logs) + " |", "|" + "---|" * (len(logs) + 1)]
    for learner in learners:
        got = [_cell(value[(g, learner)], 3) if (g, learner) in value else "–" for g in logs]
        lines.append(f"| {learner} | " + " | ".join(got) + " |")
    return "\n".join(lines) + "\n"


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
_LEARNED = ("online", "offpolicy", "bc", "cql", "bcq", "iql", "iterative")


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


def _finish_rates(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    """Labels, a [0, 1] rate axis, a light grid and (when anything is drawn) the legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)


def _save(fig: Any, path: Path) -> Path:
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def plot_training_curves(rows: Mapping[str, RowResult], path: str | Path) -> Path:
    """Figure 4: test SR@20 against training updates, one line per learned row (iterative: one
    marker per round), horizontal lines for the rows that do not train (behaviour, slot-filler)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for key, label in ROWS:
        row = rows.get(key)
        if row is None:
            continue
        if row.training_curve:
            steps = [p.step for p in row.training_curve]
            sr = [p.sr_at_20 for p in row.training_curve]
            marker = "s" if key == "iterative" else "o"
            ax.plot(
                steps, sr, marker=marker, markersize=4 if key != "iterative" else 6, label=label
            )
        elif key in ("behaviour_test", "slot_filler"):
            ax.axhline(
                row.metrics["sr@20"].mean,
                linestyle="--",
                linewidth=1,
                label=label,
                color="grey" if key == "behaviour_test" else "black",
            )
    _finish_rates(
        ax,
        "training updates (iterative: cumulative over rounds)",
        "test-pool SR@20",
        "Training curves (Figure 4)",
    )
    return _save(fig, Path(path))


def plot_success_by_turn(rows: Mapping[str, RowResult], path: str | Path) -> Path:
    """SR@t against turn t for every row that has a success curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for key, label in ROWS:
        row = rows.get(key)
        if row is not None and row.success_curve:
            turns = np.arange(1, len(row.success_curve) + 1)
            ax.plot(turns, row.success_curve, label=label, linewidth=1.2)
    for k in SR_TURNS:
        ax.axvline(k, color="grey", linewidth=0.5, linestyle=":")
    _finish_rates(ax, "turn t", "SR@t (test pool)", "Success by turn")
    return _save(fig, Path(path))


def plot_coverage(cells: Sequence[CoverageCell], path: str | Path) -> Path:
    """Grouped bars: test SR@20 (± s.e.) of each learner variant on each log."""
    plt = _pyplot()
    logs = list(dict.fromkeys(c.log for c in cells))
    learners = list(dict.fromkeys(c.learner for c in cells))
    value = {(c.log, c.learner): c.sr_at_20 for c in cells}
    width = 0.8 / max(len(learners), 1)
    fig, ax = plt.subplots(figsize=(max(7.5, 1.6 * len(logs) + 2), 4.5))
    x = np.arange(len(logs))
    for i, learner in enumerate(learners):
        got = [value.get((g, learner)) for g in logs]
        ax.bar(
            x + (i - (len(learners) - 1) / 2) * width,
            [v.mean if v else np.nan for v in got],
            width,
            yerr=[v.se if v else 0.0 for v in got],
            label=learner,
        )
    ax.set_xticks(x, logs)
    ax.set_ylabel("test-pool SR@20")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=6, ncol=2, loc="lower right")
    ax.set_title("Coverage study: which learner gains from which log")
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
    notes: Sequence[str] = (),
) -> list[Path]:
    """Write report.md, results.json, config.json and the plots into ``out``; return their paths.

    Args:
        out: the run directory (exists).
        rows: measured rows by key (seeds already combined).
        config: the run's configuration (saved as config.json, summarised in report.md).
        title: the report's heading.
        coverage: the coverage study's cells (coverage table and coverage.png when given).
        notes: extra lines for report.md (device mix, timings, ...).
    """
    root = Path(out)
    names = REPORT_FILES
    paths = [
        plot_training_curves(rows, root / names["curves"]),
        plot_success_by_turn(rows, root / names["by_turn"]),
    ]
    if coverage:
        paths.append(plot_coverage(coverage, root / names["coverage"]))
    write_json_atomic(root / names["results"], results_json(rows))
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
    checks = target_checks(rows)
    if checks:
        text += ["\n## Targets\n", "| target | met | numbers |", "|---|---|---|"]
        text += [f"| {c.claim} | {'yes' if c.met else 'no'} | {c.detail} |" for c in checks]
    text += [
        "\n## Figures\n",
        f"- `{names['curves']}`: test SR@20 against training updates per learner (Figure 4; "
        "iterative: one point per round).",
        f"- `{names['by_turn']}`: SR@t against turn t for every evaluated row.",
    ]
    if coverage:
        text += [
            f"- `{names['coverage']}`: the coverage study below.",
            "\n## Coverage study (test SR@20)\n",
            coverage_markdown(coverage),
        ]
    if notes:
        text += ["\n## Run\n", *notes]
    with atomic_file(root / names["report"]) as tmp:
        tmp.write_text("\n".join(text) + "\n", encoding="utf-8")
    return [root / names["report"], *paths]
