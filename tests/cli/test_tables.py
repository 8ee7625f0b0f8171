"""The terminal tables (``print_table``) never split a number, however narrow the terminal."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from textrec.cli import common


@pytest.mark.parametrize("width", [50, 66, 80, 200])
def test_no_number_is_split_in_a_narrow_terminal(monkeypatch, width):
    out = io.StringIO()
    monkeypatch.setattr(common, "console", Console(file=out, width=width, color_system=None))
    cells = ["0.850 ±0.012", "0.922 ±0.009", "0.965 ±0.006", "5.74 ±0.12", "10.47 ±0.31"]
    rows = [[key, *cells] for key in ("behaviour_logged", "offpolicy_q", "oracle")]
    common.print_table(
        "Table 2 on builtin (test pool; 1 seed(s))", ["row", "sr@10", "sr@20", "sr@30", "ni", "nv"],
        rows,
    )  # fmt: skip
    numbers = re.findall(r"(?<![\w@.±])±?\d[\d.]*", out.getvalue())
    whole = {w for c in cells for w in c.split()}
    assert numbers and set(numbers) <= whole | {"2", "1"}, out.getvalue()  # title's "Table 2"
    assert all(numbers.count(w) >= 3 for w in whole), out.getvalue()  # each cell shown whole
    for key in ("behaviour_logged", "offpolicy_q"):
        assert key in out.getvalue()
