"""What a shopper asked for so far: standing requests, how each sentence changes them, and the
items that satisfy them.

A request stands until the shopper changes or retracts it (:func:`update`): asking for a value of
an attribute replaces the values asked for before on it ("women" after "men"), refusing a value
retracts a request for it, and a comparative ("a bit higher heel") or "a different brand" is
resolved against the item on show. :func:`satisfying` marks the items that satisfy every standing
request the catalog can satisfy, the newest requests first; the ones no unseen item can satisfy
together with the newer ones are ``unmet`` (the reply says so).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from textrec.catalog.catalog import Catalog
from textrec.catalog.schema import AttributeSchema
from textrec.language.acts import ActReading

__all__ = ["Want", "Understood", "Change", "prepare", "update", "satisfying"]


@dataclass(frozen=True)
class Want:
    """A request of the shopper that stands until changed or retracted ("women", "no laces")."""

    attribute: str
    """Attribute name, e.g. ``"closure"``."""
    value: str
    """Value in the catalog's spelling, e.g. ``"Lace up"``."""
    negated: bool
    """The shopper does NOT want this value."""


@dataclass(frozen=True)
class Understood:
    """What the recommender took from one sentence (the reply says it back)."""

    act: str
    """``describe`` (opening), ``feedback``, ``accept``, ``go_back``, ``reject_all``,
    ``restart``, ``off_topic`` or ``not_understood``."""
    kept: tuple[Want, ...] = ()
    """Requests read from the sentence and kept."""
    dropped: tuple[Want, ...] = ()
    """Standing requests the sentence retracted or changed."""
    unsupported: tuple[str, ...] = ()
    """What the catalog lacks ("this catalog has no colour")."""
    unmet: tuple[Want, ...] = ()
    """Standing requests the item on show could not satisfy."""


@dataclass(frozen=True)
class Change:
    """The standing requests after one sentence, and what changed."""

    standing: tuple[Want, ...]
    kept: tuple[Want, ...]
    dropped: tuple[Want, ...]
    notes: tuple[str, ...]
    """Comparatives that could not be resolved ("the heel is already the highest")."""


def update(
    schema: AttributeSchema,
    standing: tuple[Want, ...],
    reading: ActReading,
    shown: dict[str, str],
) -> Change:
    """The standing requests after ``reading``.

    Args:
        schema: the catalog's attributes (value order gives comparatives their meaning).
        standing: the requests standing before, oldest first.
        reading: the sentence's act and requests.
        shown: the item on show, attribute name -> its values ``;``-joined (``""``: none), as
            :meth:`~textrec.catalog.catalog.Catalog.label_text` gives them.
    """
    before = () if reading.act == "restart" else standing
    new = [Want(r.attribute, r.value, r.negated) for r in reading.requests]
    notes = []
    for s in reading.shifts:
        attr = schema.attributes[schema.index(s.attribute)]
        values = [v for v in shown.get(s.attribute, "").split(";") if v]
        if not values:
            values = [w.value for w in before if w.attribute == s.attribute and not w.negated]
        if not values:
            notes.append(f"I do not know the {attr.label} of this one, so not how to change it")
            continue
        at = [attr.values.index(v) for v in values]
        i = max(at) if s.direction > 0 else min(at)
        if s.direction > 0:
            target = range(i + 1, min(i + 2, attr.size) if s.small else attr.size)
        else:
            target = range(max(i - 1, 0) if s.small else 0, i)
        if not target:
            edge = "highest" if s.direction > 0 else "lowest"
            notes.append(f"this {attr.label} is already the {edge}")
        new += [Want(s.attribute, attr.values[j], False) for j in target]
    for name in reading.different:
        new += [Want(name, v, True) for v in shown.get(name, "").split(";") if v]
    new = list(dict.fromkeys(new))
    asked = {w.attribute for w in new if not w.negated}
    about = {(w.attribute, w.value) for w in new}
    dropped = tuple(
        w
        for w in before
        if (w.attribute, w.value) in about or (w.attribute in asked and not w.negated)
    )
    dropped = tuple(w for w in dropped if w not in new)
    kept_before = tuple(w for w in before if w not in dropped and w not in new)
    if reading.act == "restart":
        dropped = standing
    return Change((*kept_before, *new), tuple(new), dropped, tuple(notes))


@functools.lru_cache(maxsize=4)
def _holders(catalog: Catalog) -> np.ndarray:
    """``(V, N)`` which items hold each value: the catalog's label sets by value, each value's
    row contiguous (a request reads ``N`` adjacent bytes, not a column strided by ``V``)."""
    return np.ascontiguousarray(catalog.label_sets.T)


def prepare(catalog: Catalog) -> None:
    """Build now what :func:`satisfying` reads of ``catalog`` (a server at start-up: not by the
    first sessions, several threads at once)."""
    _holders(catalog)


def satisfying(
    catalog: Catalog, standing: tuple[Want, ...], excluded: np.ndarray
) -> tuple[np.ndarray, tuple[Want, ...]]:
    """``(N,)`` items not ``excluded`` that satisfy the standing requests, and the requests left
    unmet.

    The values asked for on one attribute are alternatives (an item needs one of them); each
    refused value is a request of its own. Requests are met newest first: one that no remaining
    item satisfies together with the newer ones is unmet. An item without a value of an attribute
    satisfies no request for one, and every refusal of one.
    """
    schema = catalog.schema
    allowed = ~excluded
    if not standing:
        return allowed, ()
    merged: dict[object, list[Want]] = {}
    for w in standing:
        merged.setdefault(w if w.negated else w.attribute, []).append(w)
    order = sorted(merged, key=lambda k: max(standing.index(w) for w in merged[k]), reverse=True)
    unmet: list[Want] = []
    for key in order:
        wants = merged[key]
        cols = [schema.value_index(w.attribute, w.value) for w in wants]
        has = _holders(catalog)[cols].any(axis=0)
        ok = allowed & (~has if wants[0].negated else has)
        if ok.any():
            allowed = ok
        else:
            unmet += wants
    return allowed, tuple(w for w in standing if w in unmet)
