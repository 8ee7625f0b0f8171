"""report.py: Table 2 formatting with the paper's numbers, results.json keys, seed combination,
target checks and the files write_report produces."""

from __future__ import annotations

import json

import numpy as np
import pytest

from textrec.errors import InputError
from textrec.metrics import MeanSE
from textrec.report import (
    METRICS,
    PAPER_TABLE2,
    ROWS,
    CoverageCell,
    CurvePoint,
    RowResult,
    combine_seeds,
    coverage_markdown,
    results_json,
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
    lines = text.strip().splitlines()
    assert len(lines) == 2 + len(ROWS)
    labels = [line.split("|")[1].strip() for line in lines[2:]]
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
        "bc",
        "cql",
        "bcq",
        "iql",
        "iterative",
        "slot_filler",
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
    assert combine_seeds([a]) is a
    with pytest.raises(InputError, match="different keys"):
        combine_seeds([a, row("bc", 0.5)])


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
        CoverageCell("default-4k", "bc", MeanSE(0.7, 0.02)),
        CoverageCell("default-4k", "cql α=1", MeanSE(0.6, 0.02)),
        CoverageCell("narrow-10k", "bc", MeanSE(0.5, 0.02)),
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
        CoverageCell("a", "bc", MeanSE(0.7, 0.02)),
        CoverageCell("b", "cql", MeanSE(0.6, 0.01)),
    ]
    lines = coverage_markdown(cells).strip().splitlines()
    assert lines[0] == "| learner | a | b |"
    assert lines[2] == "| bc | 0.700 ± 0.020 | – |"
    assert lines[3] == "| cql | – | 0.600 ± 0.010 |"
