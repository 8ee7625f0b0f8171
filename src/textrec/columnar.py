"""Column records: dataclasses whose every field is an array with one entry per row (axis 0).

:class:`Columnar` writes ``take`` and ``concat`` once for all of them: the log's experience and
oracle batches, the readers' transition and episode batches, the simulator's step results. A
record of padded sequences (axis 1 is time, a ``length`` field counts each row's real steps) names
its fill values in :attr:`Columnar.PADDING`: ``take`` then trims to the longest row taken and
``concat`` pads to the longest part.

This module imports nothing of textrec, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any, ClassVar, Self

import numpy as np

__all__ = ["Columnar"]


class Columnar:
    """Mixin of a dataclass of equal-length arrays: ``take`` rows, ``concat`` records."""

    PADDING: ClassVar[dict[str, Any] | None] = None
    """``None``: plain rows. Else the record holds padded sequences along axis 1 (every field of
    two or more dimensions) and this maps a field to its fill value (0 when not named)."""

    def _columns(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]

    def take(self, rows: np.ndarray) -> Self:
        """The rows at integer positions (or boolean mask) ``rows``, in that order (a padded
        record cut to the longest of them)."""
        cut = {name: column[rows] for name, column in self._columns().items()}
        if self.PADDING is not None:
            t = int(cut["length"].max(initial=0))
            cut = {name: c[:, :t] if c.ndim >= 2 else c for name, c in cut.items()}
        return type(self)(**cut)

    @classmethod
    def concat(cls, parts: Sequence[Self]) -> Self:
        """All rows of ``parts`` in order (a padded record padded to the longest part)."""
        columns = [p._columns() for p in parts]
        if cls.PADDING is not None:
            t = max(c.shape[1] for part in columns for c in part.values() if c.ndim >= 2)
            columns = [{name: _pad(c, t, cls.PADDING.get(name, 0)) for name, c in part.items()}
                       for part in columns]  # fmt: skip
        return cls(
            **{name: np.concatenate([part[name] for part in columns]) for name in columns[0]}
        )


def _pad(column: np.ndarray, t: int, fill: Any) -> np.ndarray:
    """``column`` padded with ``fill`` to ``t`` along axis 1 (1-D columns unchanged)."""
    if column.ndim < 2 or column.shape[1] >= t:
        return column
    widths = [(0, 0), (0, t - column.shape[1])] + [(0, 0)] * (column.ndim - 2)
    return np.pad(column, widths, constant_values=fill)
