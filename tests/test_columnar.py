"""Column records: ``take`` and ``concat`` written once (plain rows and padded sequences)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from textrec.columnar import Columnar


@dataclass(frozen=True, eq=False)
class _Plain(Columnar):
    ids: np.ndarray
    pairs: np.ndarray


@dataclass(frozen=True, eq=False)
class _Padded(Columnar):
    length: np.ndarray
    steps: np.ndarray
    words: np.ndarray

    PADDING: ClassVar[dict[str, Any]] = {"steps": -1, "words": ""}


def test_take_and_concat_of_plain_rows():
    rows = _Plain(np.array([10, 11, 12]), np.array([[0, 1], [2, 3], [4, 5]]))
    taken = rows.take(np.array([2, 0]))
    assert taken.ids.tolist() == [12, 10] and taken.pairs.tolist() == [[4, 5], [0, 1]]
    assert rows.take(np.array([False, True, False])).ids.tolist() == [11]
    both = _Plain.concat([taken, rows])
    assert both.ids.tolist() == [12, 10, 10, 11, 12] and both.pairs.shape == (5, 2)


def test_padded_rows_are_cut_to_the_longest_taken_and_padded_to_the_longest_part():
    long = _Padded(
        np.array([3, 1]),
        np.array([[1, 2, 3], [4, -1, -1]]),
        np.array([["a", "b", "c"], ["d", "", ""]]),
    )
    short = long.take(np.array([1]))
    assert short.steps.tolist() == [[4]] and short.words.tolist() == [["d"]]
    both = _Padded.concat([short, long])
    assert both.length.tolist() == [1, 3, 1]
    assert both.steps.tolist() == [[4, -1, -1], [1, 2, 3], [4, -1, -1]]
    assert both.words[0].tolist() == ["d", "", ""]
