"""Labelled sentences: the generated training set of the learned readers, and the record of any
labelled set (the held-out one too).

:func:`build_training_set` writes sentences the way people talk, from the training phrasings only
(``templates.json``, ``paraphrases.json``, ``train_phrasings.json``) and the lexicon: a frame of an
attribute and mode filled with the value's catalog spelling or one of its everyday phrases
("velcro", "for my wife"), sometimes several requests joined in one sentence, sometimes a value the
person rejects ("no laces", "anything but heels"), and random typos. It never reads the held-out
sentences (``data/heldout/``): :func:`check_training_path` refuses them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import MODES
from textrec.language.lexicon import Lexicon, load_lexicon
from textrec.language.templates import (
    PhrasingSet,
    load_paraphrases,
    load_phrasings,
    load_templates,
    render,
)

__all__ = [
    "HELDOUT_DIR",
    "TRAIN_PHRASINGS_PATH",
    "SentenceSet",
    "check_training_path",
    "load_train_phrasings",
    "build_training_set",
    "add_typo",
]

_DATA = Path(__file__).resolve().parents[1] / "data"
HELDOUT_DIR = _DATA / "heldout"
"""The held-out sentences and free-form phrasings: for measuring and for ``--utterances free``,
never for training."""
TRAIN_PHRASINGS_PATH = _DATA / "train_phrasings.json"
"""Everyday-speech frames used only to train the learned readers."""

_REJECT = ("no {v}", "not {v}", "anything but {v}", "but not {v}", "without {v}", "no {v} please")
_JOIN = (", ", " and ", ", also ", " with ", ", and ", "; ")


@dataclass(frozen=True, eq=False)
class SentenceSet:
    """Sentences and every request each one makes (``N`` sentences, ``V`` values).

    * ``texts``    ``(N,)`` str
    * ``wanted``   ``(N, V) bool``: values the sentence asks for
    * ``rejected`` ``(N, V) bool``: values the sentence says the person does not want
    * ``mode``     ``(N,) int64`` the mode of its first request (index into ``MODES``)
    """

    schema: AttributeSchema
    texts: np.ndarray
    wanted: np.ndarray
    rejected: np.ndarray
    mode: np.ndarray

    def __post_init__(self) -> None:
        n, v = len(self.texts), self.schema.n_values
        for name in ("wanted", "rejected"):
            if getattr(self, name).shape != (n, v):
                raise InputError(f"SentenceSet.{name} must be ({n}, {v})")
        if self.mode.shape != (n,):
            raise InputError(f"SentenceSet.mode must be ({n},)")

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_requests(self) -> np.ndarray:
        """``(N,)`` requests per sentence."""
        return self.wanted.sum(1) + self.rejected.sum(1)

    def subset(self, rows: np.ndarray) -> SentenceSet:
        """The sentences ``rows`` (bool mask or indices) select."""
        return SentenceSet(
            self.schema, self.texts[rows], self.wanted[rows], self.rejected[rows], self.mode[rows]
        )


def check_training_path(path: str | Path) -> Path:
    """``path``, unless it lies in the held-out folder (which training must never read)."""
    p = Path(path).resolve()
    if p == HELDOUT_DIR or HELDOUT_DIR in p.parents:
        raise InputError(f"{path}: held-out data is never used for training")
    return p


def load_train_phrasings(path: str | Path | None = None) -> PhrasingSet:
    """The everyday-speech training frames (``path`` or the packaged ``train_phrasings.json``)."""
    return load_phrasings(check_training_path(path or TRAIN_PHRASINGS_PATH))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def add_typo(word: str, rng: np.random.Generator) -> str:
    """One random slip of the keyboard: a letter dropped, doubled, swapped or replaced."""
    if len(word) < 4 or not word.isalpha():
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    return word[:i] + _LETTERS[int(rng.integers(26))] + word[i + 1 :]


def _typos(text: str, rate: float, rng: np.random.Generator) -> str:
    if rate <= 0:
        return text
    words = text.split(" ")
    hit = rng.random(len(words)) < rate
    return " ".join(add_typo(w, rng) if h else w for w, h in zip(words, hit, strict=True))


class _Speaker:
    """Surfaces and frames of one schema's values, drawn from a seeded generator."""

    def __init__(
        self, schema: AttributeSchema, sets: tuple[PhrasingSet, ...], lexicon: Lexicon
    ) -> None:
        self.schema, self.sets, self.templates = schema, sets, sets[0]
        self.surfaces: list[list[str]] = []
        for attr in schema.attributes:
            entry = lexicon.entry(attr)
            for value in attr.values:
                own = self.templates.surface(attr, value)
                extra = list(entry.values.get(value, ())) if entry else []
                if attr.name == "gender":
                    extra = [p if p.startswith("for ") else f"for {p}" for p in extra]
                    own = f"for {own}"
                self.surfaces.append([own, *extra])

    def surface(self, v: int, rng: np.random.Generator) -> str:
        options = self.surfaces[v]
        if len(options) == 1 or rng.random() < 0.5:
            return options[0]
        return options[int(rng.integers(1, len(options)))]

    def frame(self, k: int, mode: int, rng: np.random.Generator) -> str:
        attr = self.schema.attributes[k]
        pool = [t for s in self.sets for t in s.phrasings(attr, mode)]
        return pool[int(rng.integers(len(pool)))]


def build_training_set(
    schema: AttributeSchema,
    *,
    n: int = 6000,
    seed: int = 0,
    multi_share: float = 0.35,
    reject_share: float = 0.15,
    typo_rate: float = 0.06,
    lexicon: Lexicon | None = None,
    phrasings: tuple[PhrasingSet, ...] | None = None,
) -> SentenceSet:
    """``n`` labelled training sentences for ``schema`` (see the module docstring).

    Args:
        schema: Attributes and values.
        n: Sentences.
        seed: Seed of every choice.
        multi_share: Share of sentences with two or three requests.
        reject_share: Chance that an extra request is a value the person rejects.
        typo_rate: Chance that a word gets a typo.
        lexicon: Everyday phrases of values (default: the packaged lexicon).
        phrasings: Frame files (default: templates, paraphrases, training phrasings).
    """
    if n < 1:
        raise InputError(f"n must be >= 1, got {n}")
    for name, x in (("multi_share", multi_share), ("reject_share", reject_share),
                    ("typo_rate", typo_rate)):  # fmt: skip
        if not 0.0 <= x <= 1.0:
            raise InputError(f"{name} must be in [0, 1], got {x}")
    sets = phrasings or (load_templates(), load_paraphrases(), load_train_phrasings())
    speaker = _Speaker(schema, sets, lexicon or load_lexicon())
    rng = np.random.default_rng(seed)
    texts = np.empty(n, dtype=object)
    wanted = np.zeros((n, schema.n_values), dtype=bool)
    rejected = np.zeros((n, schema.n_values), dtype=bool)
    modes = rng.integers(0, len(MODES), size=n)
    sizes = np.where(rng.random(n) < multi_share, rng.integers(2, 4, size=n), 1)
    sizes = np.minimum(sizes, schema.n_attributes)
    offsets, value_sizes = schema.offsets, np.asarray(schema.sizes)
    for i in range(n):
        attrs = rng.choice(schema.n_attributes, size=int(sizes[i]), replace=False)
        values = offsets[attrs] + rng.integers(0, value_sizes[attrs])
        first = int(attrs[0])
        text = render(speaker.frame(first, int(modes[i]), rng), schema.attributes[first],
                      speaker.surface(int(values[0]), rng))  # fmt: skip
        wanted[i, values[0]] = True
        for v in values[1:]:
            said = speaker.surface(int(v), rng)
            if rng.random() < reject_share:
                said = _REJECT[int(rng.integers(len(_REJECT)))].format(v=said)
                rejected[i, v] = True
            else:
                wanted[i, v] = True
            text = text.rstrip(".?!") + _JOIN[int(rng.integers(len(_JOIN)))] + said
        texts[i] = _typos(text, typo_rate, rng)
    return SentenceSet(schema, texts, wanted, rejected, modes.astype(np.int64))
