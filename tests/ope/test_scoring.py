"""The four scores of an estimator against the truth, on hand-made values."""

from __future__ import annotations

import numpy as np
import pytest

from textrec.ope.offpolicy import Estimate
from textrec.ope.scoring import plot_estimates, score


def _est(value: float, low: float, high: float) -> Estimate:
    return Estimate("pdis", value, 0.1, (low, high), None, None, False)


def test_scores():
    truths = np.array([-1.0, -2.0, -4.0])
    # ranks agree except the top two swap; the top pick (-1.5 -> policy 1) loses 1 of range 3
    estimates = [_est(-1.6, -2.0, -1.2), _est(-1.5, -1.7, -1.3), _est(-4.4, -5.0, -3.8)]
    s = score(estimates, truths)
    assert s.relative_error == pytest.approx(np.mean([0.6, 0.25, 0.1]))
    assert s.spearman == pytest.approx(0.5)
    assert s.regret_at_1 == pytest.approx(1.0 / 3.0)
    assert s.coverage == pytest.approx(1.0 / 3.0)  # only policy 2 inside its interval


def test_plot_writes_a_png(tmp_path):
    truths = np.array([-1.0, -2.0])
    rows = {"pdis": [_est(-1.1, -1.3, -0.9), _est(-2.2, -2.5, -1.9)]}
    out = plot_estimates(rows, truths, tmp_path / "ope.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
