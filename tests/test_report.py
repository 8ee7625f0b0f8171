"""report.py: Table 2 formatting with the paper's numbers, results.json keys, seed combination,
target checks and the files write_report produces."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from textrec import report as report_module
from textrec.errors import InputError
from textrec.metrics import MeanSE
from textrec.report import (
    ACTOR_Q,
    METRICS,
    PAPER_TABLE2,
    PRIVILEGED_ROWS,
    ROWS,
    CoverageCell,
    CurvePoint,
    RowResult,
    actor_q_markdown,
    combine_seeds,
    coverage_markdown,
    coverage_targets,
    kendall_tau,
    own_policy,
    plot_coverage,
    plot_success_by_turn,
    plot_training_curves,
    results_json,
    row_colour,
    speech_markdown,
    table2_markdown,
    target_checks,
    write_report,
)


def row(
    key: str, sr20: float, *, nv: float = 10.0, sr10: float | None = None, **extra
) -> RowResult:
    metrics = {
        "sr@10": MeanSE(sr20 - 0.1 if sr10 is None else sr10, 0.01),
        "sr@20": MeanSE(sr20, 0.01),
        "sr@30": MeanSE(min(sr20 + 0.05, 1.0), 0.01),
        "ni": MeanSE(12.5, 0.4),
        "nv": MeanSE(nv, 0.5),
    }
    return RowResult(key, metrics, n_sessions=100, **extra)


def all_rows() -> dict[str, RowResult]:
    values = dict(zip([k for k, _ in ROWS], np.linspace(0.5, 0.95, len(ROWS)), strict=True))
    return {k: row(k, float(v)) for k, v in values.items()}


def test_table2_rows_in_order_with_the_papers_numbers():
    text = table2_markdown(all_rows())
    lines = [line for line in text.strip().splitlines() if line.startswith("|")]
    assert len(lines) == 2 + len(ROWS)
    labels = [line.split("|")[1].strip().removesuffix(" †") for line in lines[2:]]
    assert labels == [label for _, label in ROWS]
    behaviour = lines[2]
    assert "71%" in behaviour and "81%" in behaviour and "13.88 ± 1.58" in behaviour
    assert "25.96 ± 5.32" in behaviour
    online = next(line for line in lines if line.startswith("| On-policy |"))
    assert "84%" in online and "9.91 ± 1.24" in online
    bcq = next(line for line in lines if line.startswith("| BCQ |"))
    assert bcq.count("–") == 5  # the paper has no BCQ row
    assert "0.500 ± 0.010" in behaviour and "12.50 ± 0.40" in behaviour  # ours, formatted


def test_table2_leaves_out_rows_that_did_not_run():
    text = table2_markdown({"cql": row("cql", 0.8)})
    assert "Offline Learning (cql)" in text and "Imitation" not in text


def test_paper_table_is_the_papers():
    assert set(PAPER_TABLE2) == {
        "behaviour_logged",
        "online",
        "offpolicy",
        "bc",
        "cql",
        "iterative",
    }
    cql = PAPER_TABLE2["cql"]
    assert (cql.sr_at_10, cql.sr_at_20, cql.sr_at_30) == (0.72, 0.87, 0.91)
    assert PAPER_TABLE2["offpolicy"].nv == MeanSE(39.92, 6.93)


def test_results_json_has_the_stable_keys_and_round_trips():
    rows = all_rows()
    out = results_json(rows)
    assert list(out) == [
        "behaviour_logged",
        "behaviour_test",
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
        "slot-reader",
        "slot_filler",
        "oracle",
    ]
    for entry in out.values():
        for metric in METRICS:
            assert set(entry[metric]) == {"mean", "se"}
    again = RowResult.from_json(json.loads(json.dumps(out["cql"])))
    assert again == rows["cql"]
    with pytest.raises(InputError, match="malformed"):
        RowResult.from_json({"key": "cql"}, source="x.json")


def test_row_needs_every_metric():
    with pytest.raises(InputError, match="missing"):
        RowResult("cql", {"sr@10": MeanSE(0.5, 0.1)}, n_sessions=10)


def test_combine_seeds_is_mean_and_se_across_seed_means():
    curve = (CurvePoint(10, 0.5), CurvePoint(20, 0.7))
    a = row("cql", 0.80, training_curve=curve, success_curve=(0.2, 0.4))
    b = row(
        "cql",
        0.90,
        training_curve=(CurvePoint(10, 0.7), CurvePoint(20, 0.9)),
        success_curve=(0.4, 0.6),
    )
    c = combine_seeds([a, b])
    assert c.n_seeds == 2
    assert c.metrics["sr@20"].mean == pytest.approx(0.85)
    assert c.metrics["sr@20"].se == pytest.approx(np.std([0.8, 0.9], ddof=1) / np.sqrt(2))
    assert c.success_curve == pytest.approx((0.3, 0.5))
    assert [p.sr_at_20 for p in c.training_curve] == pytest.approx([0.6, 0.8])
    se = np.std([0.2, 0.4], ddof=1) / np.sqrt(2)  # every point: two seeds 0.2 apart
    assert c.success_curve_se == pytest.approx((se, se))
    assert [p.se for p in c.training_curve] == pytest.approx([se, se])
    assert RowResult.from_json(json.loads(json.dumps(c.to_json()))) == c
    assert combine_seeds([a]) is a
    with pytest.raises(InputError, match="different keys"):
        combine_seeds([a, row("bc", 0.5)])


def test_combined_training_curve_keeps_the_steps_every_seed_measured():
    # seed 1 resumed from a late checkpoint: its curve lacks the early points
    a = row(
        "online",
        0.1,
        training_curve=(CurvePoint(100, 0.2), CurvePoint(250, 0.4), CurvePoint(300, 0.5)),
    )
    b = row("online", 0.1, training_curve=(CurvePoint(250, 0.6), CurvePoint(300, 0.7)))
    c = combine_seeds([a, b])
    assert [p.step for p in c.training_curve] == [250, 300]
    assert [p.sr_at_20 for p in c.training_curve] == pytest.approx([0.5, 0.6])
    assert combine_seeds([a, row("online", 0.1)]).training_curve == ()


def test_target_checks_met_and_missed():
    rows = {
        "cql": row("cql", 0.85, nv=8.0, sr10=0.70),
        "bc": row("bc", 0.80),
        "offpolicy": row("offpolicy", 0.82),
        "behaviour_test": row("behaviour_test", 0.84, nv=12.0),
        "online": row("online", 0.90, sr10=0.72),
        "iterative": row("iterative", 0.87),
        "slot_filler": row("slot_filler", 0.91, sr10=0.80),
    }
    got = {c.claim: c.met for c in target_checks(rows)}
    assert got["Offline (cql) > Imitation (bc) on SR@20"] is True
    assert got["Imitation (bc) > Off-policy on SR@20"] is False
    assert got["Offline (cql) ≥ Behaviour devices (test pool) on SR@20"] is True
    assert got["Offline (cql) NV < Behaviour devices (test pool) NV"] is True
    assert got["Iterative within 0.02 of On-policy on SR@20"] is False
    assert got["Offline (cql) within 0.03 of On-policy on SR@10"] is True
    assert got["Best learned policy > Slot-filler on SR@10"] is False
    assert target_checks({"cql": rows["cql"]}) == []  # nothing to compare with


def test_write_report_writes_every_file(tmp_path):
    rows = all_rows()
    rows["cql"] = row("cql", 0.8, training_curve=(CurvePoint(0, 0.1), CurvePoint(50, 0.8)))
    rows["iterative"] = row(
        "iterative",
        0.85,
        training_curve=(CurvePoint(25, 0.6, "round 1"), CurvePoint(50, 0.85, "round 2")),
    )
    cells = [
        CoverageCell("default-4k", "bc", "", MeanSE(0.6, 0.02), MeanSE(0.7, 0.02)),
        CoverageCell("default-4k", "cql α=1", "actor", MeanSE(0.5, 0.02), MeanSE(0.6, 0.02)),
        CoverageCell("narrow-10k", "bc", "", MeanSE(0.4, 0.02), MeanSE(0.5, 0.02)),
    ]
    paths = write_report(tmp_path, rows, {"seed": 0, "quick": True}, coverage=cells, notes=["- hi"])
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "report.md",
            "results.json",
            "config.json",
            "training_curves.png",
            "success_by_turn.png",
            "coverage.png",
        ]
    )
    for name in ("training_curves.png", "success_by_turn.png", "coverage.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.md").read_text()
    assert "## Table 2" in report and "## Targets" in report and "Coverage study" in report
    assert json.loads((tmp_path / "config.json").read_text()) == {"seed": 0, "quick": True}
    assert set(json.loads((tmp_path / "results.json").read_text())) == set(rows)


def test_coverage_table_marks_missing_cells():
    cells = [
        CoverageCell("a", "bc", "", MeanSE(0.5, 0.03), MeanSE(0.7, 0.02)),
        CoverageCell("b", "cql", "actor", MeanSE(0.4, 0.02), MeanSE(0.6, 0.01)),
        CoverageCell("b", "cql", "Q-greedy", MeanSE(0.3, 0.02), MeanSE(0.5, 0.01)),
    ]
    lines = coverage_markdown(cells).strip().splitlines()
    assert lines[0] == "| learner | policy | a SR@10 | a SR@20 | b SR@10 | b SR@20 |"
    assert lines[2] == "| bc | – | 0.500 ± 0.030 | 0.700 ± 0.020 | – | – |"
    assert lines[3] == "| cql | actor | – | – | 0.400 ± 0.020 | 0.600 ± 0.010 |"
    assert lines[4] == "| cql | Q-greedy | – | – | 0.300 ± 0.020 | 0.500 ± 0.010 |"


def test_coverage_targets_compare_each_learners_own_policy():
    """cql ≥ offpolicy + 0.05 on the narrow logs only, cql ≥ bc on every log, each on the
    learner's own policy (the actor; a better Q-greedy policy does not count)."""

    def cell(log, learner, policy, sr20):
        return CoverageCell(log, learner, policy, MeanSE(0.0, 0.0), MeanSE(sr20, 0.01))

    cells = [
        cell("default", "bc", "", 0.80),
        cell("default", "offpolicy", "actor", 0.79),
        cell("default", "cql α=1", "actor", 0.80),
        cell("narrow", "bc", "", 0.70),
        cell("narrow", "offpolicy", "actor", 0.60),
        cell("narrow", "offpolicy", "Q-greedy", 0.20),
        cell("narrow", "cql α=1", "actor", 0.64),
        cell("narrow", "cql α=1", "Q-greedy", 0.90),
    ]
    checks = {c.claim: c for c in coverage_targets(cells, ["narrow"])}
    assert list(checks) == [
        "default: cql α=1 ≥ bc on SR@20",
        "narrow: cql α=1 ≥ bc on SR@20",
        "narrow: cql α=1 ≥ offpolicy + 0.05 on SR@20",
    ]
    assert checks["default: cql α=1 ≥ bc on SR@20"].met  # equal counts
    assert not checks["narrow: cql α=1 ≥ bc on SR@20"].met
    offpolicy = checks["narrow: cql α=1 ≥ offpolicy + 0.05 on SR@20"]
    assert not offpolicy.met and "(+0.040)" in offpolicy.detail
    assert coverage_targets(cells[:3], []) == coverage_targets(cells[:3], ["narrow"])
    assert own_policy("bcq") == "Q-greedy" and own_policy("cql α=1") == "actor"
    assert own_policy("bc") == ""


def test_privileged_rows_are_marked_and_explained():
    text = table2_markdown(all_rows())
    assert set(PRIVILEGED_ROWS) == {"slot_filler", "oracle"}
    assert "| Slot-filler † |" in text
    assert "| Oracle: told every desired value at turn 0 † |" in text
    assert "| Offline Learning (cql) |" in text  # a learner is not marked
    assert "† privileged: Oracle: told every desired value at turn 0 is told" in text
    assert "†" not in table2_markdown({"cql": row("cql", 0.8)})


def test_actor_beside_q_greedy_for_every_q_learner():
    rows = {
        "cql": row("cql", 0.80),
        "cql_q": row("cql_q", 0.50),
        "bcq": row("bcq", 0.85),  # bcq's own row is its masked Q-greedy policy
        "bcq_actor": row("bcq_actor", 0.84),
        "iql": row("iql", 0.7),  # no Q-greedy row: not reported
        "bc": row("bc", 0.8),
    }
    lines = actor_q_markdown(rows).strip().splitlines()
    assert lines[2] == "| Offline Learning (cql) | 0.800 ± 0.010 | 0.500 ± 0.010 | +0.300 | no |"
    assert lines[3] == "| BCQ | 0.840 ± 0.010 | 0.850 ± 0.010 | -0.010 | yes |"
    assert len(lines) == 4
    assert actor_q_markdown({"bc": rows["bc"]}) == ""
    assert {learner for learner, _, _ in ACTOR_Q} == {"offpolicy", "cql", "bcq", "iql"}


@pytest.mark.parametrize(
    ("x", "y", "tau"),
    [
        ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5], 1.0),
        ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4, 5], [3, 4, 1, 2, 5], 0.2),  # 6 concordant, 4 discordant pairs
        ([1, 2, 2, 3], [1, 2, 3, 4], 5 / np.sqrt(30)),  # tau-b: a tie in x (scipy: 0.91287)
        ([0.9, 0.8, 0.7], [0.5, 0.6, 0.4], 1 / 3),
    ],
)
def test_kendall_tau_known_values(x, y, tau):
    assert kendall_tau(x, y) == pytest.approx(tau)
    assert kendall_tau(y, x) == pytest.approx(tau)  # symmetric


def test_kendall_tau_undefined_and_bad_input():
    assert np.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))  # one side constant
    assert np.isnan(kendall_tau([1], [2]))
    with pytest.raises(InputError, match="equally long"):
        kendall_tau([1, 2], [1, 2, 3])


def test_speech_table_gives_each_rows_drop_and_the_rankings_tau():
    base = {"cql": row("cql", 0.90), "bc": row("bc", 0.80), "online": row("online", 0.85)}
    model = {"cql": row("cql", 0.88), "bc": row("bc", 0.79), "online": row("online", 0.84)}
    free = {"cql": row("cql", 0.20), "bc": row("bc", 0.78), "online": row("online", 0.30)}
    text = speech_markdown({"templates": base, "model": model, "free": free})
    assert "| Offline Learning (cql) | 0.900 ± 0.010 | 0.880 ± 0.010 | +0.020 | " in text
    assert "0.200 ± 0.010 | +0.700 | no |" in text  # cql under free speech: 70 points lost
    bc = "| Imitation Learning | 0.800 ± 0.010 | 0.790 ± 0.010 | +0.010 | 0.780 ± 0.010 | +0.020 |"
    assert f"{bc} yes |" in text
    assert "| templates vs model | 1.000 | yes |" in text
    assert "| templates vs free | -1.000 | no |" in text  # cql > online > bc, reversed
    assert speech_markdown({"templates": base}) == ""


def test_every_plot_draws_a_learner_in_its_one_colour(tmp_path, monkeypatch):
    """training_curves, success_by_turn and coverage take a learner's colour from one map; a Q
    learner's Q-greedy row is its colour dashed; the titles name the run; on-policy updates and
    offline steps are on separate axes."""
    figures = []
    monkeypatch.setattr(report_module, "_save", lambda fig, path: figures.append(fig) or path)
    rows = {
        "online": row("online", 0.9, training_curve=(CurvePoint(10, 0.5), CurvePoint(20, 0.9))),
        "cql": row(
            "cql",
            0.8,
            training_curve=(CurvePoint(100, 0.6, "", 0.02), CurvePoint(200, 0.8, "", 0.03)),
            success_curve=(0.1, 0.5, 0.8),
            success_curve_se=(0.01, 0.02, 0.03),
        ),
        "cql_q": row("cql_q", 0.5, success_curve=(0.1, 0.2, 0.5)),
        "bc": row("bc", 0.7, success_curve=(0.1, 0.3, 0.7)),
    }
    context = "builtin · quick preset · seeds 0, 1 · 300 test sessions"
    plot_training_curves(rows, tmp_path / "a.png", context)
    plot_success_by_turn(rows, tmp_path / "b.png", context)
    se = MeanSE(0.3, 0.02)  # SR@10, not drawn
    cells = [
        CoverageCell("narrow", "cql α=1", "actor", se, MeanSE(0.6, 0.02)),
        CoverageCell("narrow", "cql α=1", "Q-greedy", se, MeanSE(0.4, 0.02)),
        CoverageCell("narrow", "bc, tracking off", "", se, MeanSE(0.5, 0.02)),
    ]
    plot_coverage(cells, tmp_path / "c.png", context)
    curves, by_turn, coverage = figures

    def lines(ax):
        return {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}

    online_ax, offline_ax = curves.axes
    assert list(lines(online_ax)) == ["On-policy"]  # never beside offline gradient steps
    assert "Offline Learning (cql)" in lines(offline_ax) and "On-policy" not in lines(offline_ax)
    assert "PPO updates" in online_ax.get_xlabel() and "offline" in offline_ax.get_xlabel()
    assert len(offline_ax.collections) == 1  # the cql band (its s.e. across seeds)
    turn = lines(by_turn.axes[0])
    cql = row_colour("cql")
    assert lines(offline_ax)["Offline Learning (cql)"].get_color() == cql
    assert turn["Offline Learning (cql)"].get_color() == cql
    assert turn["Offline Learning (cql): its Q-greedy policy"].get_color() == cql
    assert turn["Offline Learning (cql): its Q-greedy policy"].get_linestyle() == "--"
    assert turn["Imitation Learning"].get_color() == row_colour("bc") != cql
    assert lines(online_ax)["On-policy"].get_color() == row_colour("online")
    bars = {c.get_label(): c for c in coverage.axes[0].containers}
    to_hex = __import__("matplotlib.colors", fromlist=["to_hex"]).to_hex
    assert to_hex(bars["cql α=1 · actor"].patches[0].get_facecolor()) == cql
    q_bar = bars["cql α=1 · Q-greedy"].patches[0]
    assert to_hex(q_bar.get_facecolor()) == cql and q_bar.get_hatch()  # its colour, hatched
    assert to_hex(bars["bc, tracking off"].patches[0].get_facecolor()) == row_colour("bc")
    assert len({row_colour(k) for k in ("online", "offpolicy", "bc", "cql", "bcq", "iql")}) == 6
    for fig in figures:
        title = fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title()
        assert context in title
    assert "one seed: no s.e. band" in curves._suptitle.get_text()
    plot_success_by_turn({"bc": replace(rows["bc"], n_seeds=3)}, tmp_path / "d.png", context)
    assert "± 1 s.e. across 3 seeds" in figures[-1].axes[0].get_title()
