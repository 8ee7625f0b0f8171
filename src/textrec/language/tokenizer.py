"""Word tokenizer and vocabulary of the simulator, the utterance model and the text encoder."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from textrec.errors import InputError

__all__ = ["PAD", "UNK", "BOS", "EOS", "SPECIALS", "tokenize", "pad_ids", "Vocabulary"]

PAD, UNK, BOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")

# Words keep inner hyphens, slashes, apostrophes, dots and ampersands ("slip-on", "3/4in", "don't").
_TOKEN = re.compile(r"[a-z0-9]+(?:[-/'.&][a-z0-9]+)*|&|[^\sa-z0-9]")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words and punctuation.

    Example:
        >>> tokenize("Shoes with 1in - 1 3/4in heels? I'd like Slip-On.")
        ['shoes', 'with', '1in', '-', '1', '3/4in', 'heels', '?', "i'd", 'like', 'slip-on', '.']
    """
    return _TOKEN.findall(text.lower())


def pad_ids(
    ids: Sequence[Sequence[int]], width: int | None = None, dtype: type = np.int32
) -> tuple[np.ndarray, np.ndarray]:
    """Token id lists as a right-padded ``(B, width)`` table (``<pad>`` = 0; longer lists cut)
    and their ``(B,)`` lengths; ``width`` defaults to the longest list's (at least 1).

    Example:
        >>> pad_ids([[5, 6, 7], [8]], 2)[0].tolist()
        [[5, 6], [8, 0]]
    """
    lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
    longest = int(lengths.max(initial=0))
    width = max(longest, 1) if width is None else width
    words = np.fromiter((w for i in ids for w in i), dtype=np.int64, count=int(lengths.sum()))
    table = np.zeros((len(ids), max(longest, width)), dtype=dtype)
    table[np.arange(table.shape[1])[None, :] < lengths[:, None]] = words  # row-major = list order
    return table[:, :width], np.minimum(lengths, width).astype(dtype)


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id map; ids 0..3 are ``<pad> <unk> <bos> <eos>``."""

    tokens: tuple[str, ...]
    _ids: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise InputError(f"Vocabulary must start with {SPECIALS}")
        if len(set(self.tokens)) != len(self.tokens):
            raise InputError("Vocabulary tokens must be unique")
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> Vocabulary:
        """Vocabulary of every token seen at least ``min_count`` times, in first-seen order."""
        counts: Counter[str] = Counter()
        order: dict[str, None] = {}
        for text in texts:
            for tok in tokenize(text):
                counts[tok] += 1
                order.setdefault(tok, None)
        return cls(
            SPECIALS + tuple(t for t in order if counts[t] >= min_count and t not in SPECIALS)
        )

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Token ids of ``text`` (unknown words map to ``<unk>``)."""
        ids = [self._ids.get(t, UNK) for t in tokenize(text)]
        return ([BOS] if add_bos else []) + ids + ([EOS] if add_eos else [])

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """``(B, max_len) int32`` ids, right-padded (truncated), and ``(B,) int32`` lengths."""
        return pad_ids([self.encode(text) for text in texts], max_len)

    def decode(self, ids: Iterable[int]) -> str:
        """Join the tokens of ``ids``, skipping specials."""
        return " ".join(self.tokens[i] for i in ids if i >= len(SPECIALS))

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Vocabulary:
        """Inverse of :meth:`to_json`."""
        return cls(tuple(obj["tokens"]))
