"""Pre-rendered feedback sentences, so the batched simulator picks text with array indexing.

Every sentence the simulated user can say is rendered (and tokenised) once, when the simulator is
built: ``index[v, m, j]`` is the id of variant ``j`` of a sentence in mode ``m`` asking for global
value ``v``. A step then draws ``j`` for all sessions at once and gathers texts and token ids —
no Python loop per session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textrec.errors import InputError
from textrec.language.tokenizer import Vocabulary

__all__ = ["MODES", "REQUEST", "REPEAT", "NEGATE", "SentenceBank"]

REQUEST, REPEAT, NEGATE = 0, 1, 2
MODES = ("request", "repeat", "negate")
"""Feedback habits seen in the paper's Table 1: ask for a value ("I want boots"), ask again for one
asked before, possibly in other words ("I am looking for shoes for women" after "Please provide
some shoes for women"), and ask through a negation ("I do not need the shoes without flat")."""


@dataclass(frozen=True, eq=False)
class SentenceBank:
    """Pre-rendered sentences and their token ids.

    Shapes (``S`` sentences, ``L`` max tokens, ``V`` values, ``M = len(MODES)``, ``J`` variants):

    * ``texts``   ``(S,)`` str
    * ``tokens``  ``(S, L) int32`` right-padded with ``<pad>`` (0)
    * ``lengths`` ``(S,) int32``
    * ``index``   ``(V, M, J) int32`` sentence id per (value, mode, variant)
    """

    texts: np.ndarray
    tokens: np.ndarray
    lengths: np.ndarray
    index: np.ndarray
    vocab: Vocabulary
    source: str = "templates"
    """What made the sentences: ``"templates"``, ``"model"`` or ``"mix"``."""

    def __post_init__(self) -> None:
        s = len(self.texts)
        if self.tokens.shape[0] != s or self.lengths.shape != (s,):
            raise InputError(
                f"SentenceBank: tokens {self.tokens.shape} / lengths {self.lengths.shape} "
                f"do not match {s} texts"
            )
        if self.index.ndim != 3 or self.index.shape[1] != len(MODES):
            raise InputError(
                f"SentenceBank: index must be (V, {len(MODES)}, J), got {self.index.shape}"
            )
        if self.index.size and (self.index.min() < 0 or self.index.max() >= s):
            raise InputError("SentenceBank: index refers to sentences that do not exist")

    @property
    def n_variants(self) -> int:
        """Variants ``J`` per (value, mode)."""
        return int(self.index.shape[2])

    def sample(self, values: np.ndarray, modes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One sentence id per session: ``values``, ``modes`` and the result are ``(B,)`` ints."""
        variant = rng.integers(0, self.n_variants, size=len(values))
        return self.index[values, modes, variant]
