"""What a reader says a sentence asks for: :class:`Request` and :class:`Reading` records and the
:class:`Reader` protocol every reader follows (see :mod:`textrec.language.reader`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import MODES

__all__ = [
    "THRESHOLD",
    "ACTS",
    "Request",
    "Reading",
    "Reader",
    "make_request",
    "split_confident",
    "schema_of",
]

THRESHOLD = 0.5
"""Default confidence below which a reading is *not understood*."""

ACTS = (
    "describe",
    "feedback",
    "accept",
    "go_back",
    "reject_all",
    "restart",
    "off_topic",
    "not_understood",
)
"""Every dialogue act a sentence may be read as (:mod:`textrec.language.acts`)."""


@dataclass(frozen=True)
class Request:
    """One thing a sentence asks for."""

    attribute: str
    """Attribute name, e.g. ``"closure"``."""
    value: str
    """Value in the catalog's spelling, e.g. ``"Hook and Loop"``."""
    mode: str
    """``"request"``, ``"repeat"`` (asked before: "again", "I said") or ``"negate"`` (wanted,
    phrased through a negation: "nothing without velcro")."""
    negated: bool
    """The person does NOT want this value ("anything but heels")."""
    confidence: float
    """How sure the reader is, in ``[0, 1]``."""
    value_index: int
    """Global index of ``value`` on the schema's value axis."""
    words: str = ""
    """The words it was read from (normalised), e.g. ``"velcro"``; ``""`` for whole-sentence
    readers."""


@dataclass(frozen=True)
class Reading:
    """Everything a reader took from one sentence."""

    text: str
    """The sentence as given."""
    requests: tuple[Request, ...]
    """Requests at or above the reader's threshold, in the order they were said."""
    doubtful: tuple[Request, ...] = ()
    """Readings below the threshold: not understood (shown as guesses, never acted on)."""

    @property
    def understood(self) -> bool:
        """At least one request was read with confidence."""
        return bool(self.requests)

    @property
    def wanted(self) -> tuple[Request, ...]:
        """Requests for values the person wants."""
        return tuple(r for r in self.requests if not r.negated)

    @property
    def rejected(self) -> tuple[Request, ...]:
        """Values the person does not want."""
        return tuple(r for r in self.requests if r.negated)


class Reader(Protocol):
    """Anything that reads sentences into :class:`Reading` records over one schema."""

    @property
    def schema(self) -> AttributeSchema:
        """The schema whose values requests name."""

    def read_batch(self, texts: Sequence[str]) -> list[Reading]:
        """One :class:`Reading` per sentence."""


def make_request(
    schema: AttributeSchema, vid: int, mode: int, negated: bool, conf: float, said: str
) -> Request:
    attr, value = schema.value_name(vid)
    return Request(attr, value, MODES[mode], negated, float(conf), int(vid), said)


def split_confident(requests: list[Request], threshold: float) -> tuple[tuple[Request, ...], ...]:
    sure = tuple(r for r in requests if r.confidence >= threshold)
    return sure, tuple(r for r in requests if r.confidence < threshold)


def schema_of(catalog_or_schema: Any) -> AttributeSchema:
    """The schema of a ``Catalog`` (or the ``AttributeSchema`` itself)."""
    if isinstance(catalog_or_schema, AttributeSchema):
        return catalog_or_schema
    schema = getattr(catalog_or_schema, "schema", None)
    if not isinstance(schema, AttributeSchema):
        raise InputError(
            f"expected a Catalog or AttributeSchema, got {type(catalog_or_schema).__name__}"
        )
    return schema
