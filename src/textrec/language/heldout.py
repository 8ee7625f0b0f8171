"""The held-out set: hand-written sentences for measuring readers, and the free-form phrasings the
simulated user speaks with ``--utterances free``.

Both live in ``textrec/data/heldout/`` and are written in words and sentence frames that no
training file uses. Nothing that trains reads this folder
(:func:`textrec.language.trainset.check_training_path` refuses it); only measurement
(``benchmarks/language.py``), the ``free`` sentence bank and tests load it.

``sentences.txt`` holds one sentence per line: ``SCHEMA | sentence | labels`` with ``SCHEMA``
``builtin`` or ``zappos`` and labels ``attribute=value`` (wanted) or ``attribute!=value``
(rejected) separated by ``;``. ``free.json`` is a phrasing file (``textrec-phrasings/1``) with an
extra ``surfaces`` object: per attribute and value, the everyday ways a person names it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.io import read_json
from textrec.language.bank import REQUEST
from textrec.language.reading import ACTS
from textrec.language.templates import PhrasingSet, parse_phrasings
from textrec.language.trainset import HELDOUT_DIR, SentenceSet

__all__ = [
    "SENTENCES_PATH",
    "FREE_PATH",
    "HeldOutLine",
    "FreePhrasings",
    "load_heldout_lines",
    "heldout_sentences",
    "load_free_phrasings",
    "ACTS_PATH",
    "ActLine",
    "load_act_lines",
]

SENTENCES_PATH = HELDOUT_DIR / "sentences.txt"
ACTS_PATH = HELDOUT_DIR / "acts.txt"
"""Dialogue acts, batch A (the act reader was corrected on it); ``acts_b.txt``: batch B, written
after the last correction, never used to change the reader."""
FREE_PATH = HELDOUT_DIR / "free.json"
SCHEMAS = ("builtin", "zappos")


@dataclass(frozen=True)
class HeldOutLine:
    """One labelled line of ``sentences.txt``."""

    schema: str
    """``"builtin"`` or ``"zappos"``."""
    text: str
    labels: tuple[tuple[str, str, bool], ...]
    """``(attribute, value, negated)`` per request."""


def _labels(field: str, where: str) -> tuple[tuple[str, str, bool], ...]:
    out = []
    for part in (p.strip() for p in field.split(";")):
        if not part:
            continue
        negated = "!=" in part
        attr, sep, value = part.partition("!=" if negated else "=")
        if not sep or not attr.strip() or not value.strip():
            raise InputError(f"{where}: label {part!r} is not attribute=value or attribute!=value")
        out.append((attr.strip(), value.strip(), negated))
    return tuple(out)


def _rows(path: str | Path, layout: str) -> Iterator[tuple[str, list[str]]]:
    """``(where, fields)`` of every line of a ``|``-separated held-out file laid out as
    ``layout`` (e.g. ``"SCHEMA | sentence | labels"``): comments and blank lines skipped, the
    field count, the schema and a non-empty sentence checked."""
    n = len(layout.split("|"))
    with open(path, encoding="utf-8") as f:
        for no, raw in enumerate(f, start=1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{path}:{no}"
            fields = [p.strip() for p in line.split("|")]
            if len(fields) != n:
                raise InputError(f"{where}: expected '{layout}', got {line!r}")
            if fields[0] not in SCHEMAS:
                raise InputError(
                    f"{where}: schema must be one of {list(SCHEMAS)}, got {fields[0]!r}"
                )
            if not fields[-2]:
                raise InputError(f"{where}: empty sentence")
            yield where, fields


@functools.lru_cache(maxsize=2)
def load_heldout_lines(path: str | Path = SENTENCES_PATH) -> tuple[HeldOutLine, ...]:
    """Every labelled line of a held-out sentence file (comments and blank lines skipped)."""
    return tuple(
        HeldOutLine(schema, text, _labels(labels, where))
        for where, (schema, text, labels) in _rows(path, "SCHEMA | sentence | labels")
    )


def heldout_sentences(
    schema: AttributeSchema, which: str, path: str | Path = SENTENCES_PATH
) -> SentenceSet:
    """The held-out sentences written for ``which`` (``"builtin"`` / ``"zappos"``) whose every
    label is a value of ``schema`` (others are left out: a smaller schema keeps fewer)."""
    if which not in SCHEMAS:
        raise InputError(f"which must be one of {list(SCHEMAS)}, got {which!r}")
    kept = []
    for line in load_heldout_lines(path):
        if line.schema != which:
            continue
        try:
            ids = [(schema.value_index(a, v), neg) for a, v, neg in line.labels]
        except InputError:
            continue
        kept.append((line.text, ids))
    n = len(kept)
    wanted = np.zeros((n, schema.n_values), dtype=bool)
    rejected = np.zeros((n, schema.n_values), dtype=bool)
    texts = np.empty(n, dtype=object)
    for i, (text, ids) in enumerate(kept):
        texts[i] = text
        for v, neg in ids:
            (rejected if neg else wanted)[i, v] = True
    return SentenceSet(schema, texts, wanted, rejected, np.full(n, REQUEST, dtype=np.int64))


@dataclass(frozen=True)
class ActLine:
    """One labelled line of ``acts.txt``: ``SCHEMA | GROUP | ACT | sentence | labels``."""

    schema: str
    group: str
    """What the line tests (``accept``, ``comparative``, ``scope``, ...): scored per group."""
    act: str
    text: str
    labels: frozenset[str]
    """``attribute=value``, ``attribute!=value``, ``attribute:higher`` (``lower``, ``a bit
    higher``, ``a bit lower``, ``different``), ``missing:attribute``."""


@functools.lru_cache(maxsize=4)
def load_act_lines(path: str | Path = ACTS_PATH) -> tuple[ActLine, ...]:
    """Every labelled line of a dialogue-act file (comments and blank lines skipped)."""
    lines = []
    for where, fields in _rows(path, "SCHEMA | GROUP | ACT | sentence | labels"):
        schema, group, act, text, labels = fields
        if act not in ACTS:
            raise InputError(f"{where}: act must be one of {list(ACTS)}, got {act!r}")
        if not group:
            raise InputError(f"{where}: empty group")
        kept = frozenset(" ".join(p.split()) for p in labels.split(";") if p.strip())
        lines.append(ActLine(schema, group, act, text, kept))
    return tuple(lines)


@dataclass(frozen=True, eq=False)
class FreePhrasings:
    """The free-form frames and the everyday names of values."""

    phrasings: PhrasingSet
    surfaces: Mapping[str, Mapping[str, tuple[str, ...]]]
    """Attribute key (as in the file) -> value -> ways to say it."""

    def surfaces_of(self, attribute: str, value: str) -> tuple[str, ...]:
        """How a person names ``value`` of ``attribute`` (its catalog spelling when the file
        gives nothing)."""
        found = self.surfaces.get(attribute, {}).get(value)
        return found or (self.phrasings.surface(attribute, value),)


@functools.lru_cache(maxsize=2)
def load_free_phrasings(path: str | Path = FREE_PATH) -> FreePhrasings:
    """Read and validate the free-form phrasing file."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise InputError(f"{path}: top level must be a JSON object")
    raw = dict(raw)
    surfaces = raw.pop("surfaces", {})

    def names(s: object) -> bool:
        return isinstance(s, list) and bool(s) and all(isinstance(x, str) for x in s)

    ok = isinstance(surfaces, dict) and all(
        isinstance(vs, dict) and all(names(s) for s in vs.values()) for vs in surfaces.values()
    )
    if not ok:
        raise InputError(f"{path}: surfaces must map attribute -> value -> list of strings")
    return FreePhrasings(
        phrasings=parse_phrasings(raw, str(path)),
        surfaces={a: {v: tuple(s) for v, s in vs.items()} for a, vs in surfaces.items()},
    )
