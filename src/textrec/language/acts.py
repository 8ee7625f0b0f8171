"""Dialogue acts: what a sentence does in a conversation, beside the values it asks for.

An :class:`ActReader` reads each sentence into an :class:`ActReading`: its act (:data:`ACTS`),
the requests of the catalog's reader (with heel ranges such as "4 inches or more" widened to
every value they cover), comparatives over ordered attributes ("a bit higher heel": a
:class:`Shift` relative to the item on show), "a different brand" (anything but the shown
item's value) and the attributes the sentence names that the catalog lacks ("in black" on a
catalog without colour).

A weak phrase ("shoes", read as the category only when nothing else is named) asks for nothing
after the opening sentence. Acts, decided in this order:

* ``restart`` ("start over", "forget everything"): requests said with it start the new search;
* ``go_back`` ("no wait go back, the previous one was it");
* ``feedback`` (``describe`` for an opening sentence): something was understood, or the sentence
  names an attribute the catalog lacks (the reply says so);
* ``reject_all`` ("none of these", "nope"), then ``accept`` ("that's the one", "thanks!"): only
  when nothing else was understood, so "perfect but lower" is feedback;
* ``off_topic`` (a greeting, a question with no shoe word, or no word the lexicon knows) and
  otherwise ``not_understood`` (about shoes, but nothing this catalog can act on).

Cue words live in ``textrec/data/lexicon.json`` (``accept_cues``, ``go_back_cues``, ...); the
measurements are :func:`textrec.language.reader.measurements`, the attribute nouns those of the
phrase index: nothing is matched twice.

Example:
    >>> from textrec.catalog.builtin import BUILTIN_SCHEMA
    >>> reader = ActReader(BUILTIN_SCHEMA)
    >>> [r.act for r in reader.read_batch(["perfect thats the one, thanks!", "go back", "hello?"])]
    ['accept', 'go_back', 'off_topic']
    >>> reader.read_batch(["a bit higher heel"])[0].shifts
    (Shift(attribute='heel_height', direction=1, small=True),)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from textrec.catalog.schema import Attribute, AttributeSchema
from textrec.errors import InputError
from textrec.language.lexicon import WEAK, attribute_nouns, normalise, words
from textrec.language.reader import (
    LexiconReader,
    Reader,
    _grams,
    load_reader,
    measurements,
)
from textrec.language.reading import ACTS, Request, make_request

__all__ = ["ACTS", "Shift", "ActReading", "ActReader", "wider_schema", "act_labels", "score_act"]


@dataclass(frozen=True)
class Shift:
    """A comparative over an ordered attribute, relative to the item on show."""

    attribute: str
    """Attribute name, e.g. ``"heel_height"``."""
    direction: int
    """``1``: higher, ``-1``: lower."""
    small: bool
    """"a bit", "a touch", "slightly": the next value only."""


@dataclass(frozen=True)
class ActReading:
    """What one sentence does and asks for."""

    text: str
    act: str
    """One of :data:`ACTS`."""
    requests: tuple[Request, ...] = ()
    """Values asked for or refused (ranges widened to every value they cover)."""
    shifts: tuple[Shift, ...] = ()
    """Comparatives ("a bit higher heel")."""
    different: tuple[str, ...] = ()
    """Attributes whose shown value is refused ("a different brand")."""
    missing: tuple[str, ...] = ()
    """Attributes named that the catalog lacks (``"colour"``, ``"brand"``), in lexicon order."""

    @property
    def understood(self) -> bool:
        """Something the catalog can act on was read."""
        return bool(self.requests or self.shifts or self.different)


def wider_schema(schema: AttributeSchema) -> AttributeSchema:
    """``schema`` and every attribute the lexicon has words for that it lacks (the paper's six,
    with the published vocabularies, and colour): what a sentence may name beyond the catalog."""
    from textrec.catalog.zappos import COLOUR_NAMES, OFFICIAL_VOCABULARIES, PAPER_ATTRIBUTES

    extra = [
        Attribute(name, OFFICIAL_VOCABULARIES[name], label)
        for name, label, _ in PAPER_ATTRIBUTES
        if name not in schema.names
    ]
    if "colour" not in schema.names:
        extra.append(Attribute("colour", COLOUR_NAMES))
    return AttributeSchema((*schema.attributes, *extra))


class ActReader:
    """Reads dialogue acts over one schema.

    Args:
        schema: the catalog's attributes.
        reader: what reads the requests (default: the lexicon reader of ``schema``); its readings
            are kept as they are, except heel ranges, widened, and values of an ordered attribute
            that a comparative sentence names ("taller heel" is no height).
    """

    def __init__(self, schema: AttributeSchema, reader: Reader | None = None) -> None:
        self.schema = schema
        self.reader = reader if reader is not None else load_reader(schema, "lexicon")
        if self.reader.schema != schema:
            raise InputError("ActReader: the reader reads another schema")
        self.lexicon_reader = _lexicon(schema)
        self.wider = _lexicon(wider_schema(schema))
        self.lexicon = self.lexicon_reader.lexicon
        index = self.lexicon_reader.index
        self.ordered = {k: m for m, k in index.measures}
        """Attribute position -> its measure (the attributes with an order)."""
        self.nouns = {
            e.key: attribute_nouns(Attribute(e.key, ("",)), e) for e in self.lexicon.attributes
        }
        for k, name in enumerate(schema.names):
            self.nouns[name] = self.nouns.get(name, frozenset()) | index.nouns[k]
        said = {w for key in self.wider.index.phrases for w in key.split()}
        said |= {w for ns in self.nouns.values() for n in ns for w in n.split()}
        plain = self.lexicon.common_words | self.lexicon.question_starts | self.lexicon.fillers
        self.shoe_words = frozenset(said - plain - self.lexicon.demonstratives)
        """Words that make a sentence about shoes (a question without one is off topic)."""

    def read_batch(self, texts: Sequence[str], opening: bool = False) -> list[ActReading]:
        """One :class:`ActReading` per sentence (``opening``: said before the first item)."""
        if isinstance(texts, str):
            raise InputError("read_batch takes a list of sentences")
        readings = self.reader.read_batch(list(texts))
        wider = self.wider.read_batch(list(texts))
        return [
            self._act(t, r.requests, w.requests, opening)
            for t, r, w in zip(texts, readings, wider, strict=True)
        ]

    def _act(
        self, text: str, requests: tuple[Request, ...], wider: tuple[Request, ...], opening: bool
    ) -> ActReading:
        lex = self.lexicon
        toks = [w.text for w in words(text) if not w.boundary]
        said = _grams(toks, 4)
        if not opening:  # "shoes" in "smart shoes for work" changes no category asked for
            phrases = self.lexicon_reader.index.phrases
            requests = tuple(r for r in requests if phrases.get(r.words, (None,))[0] != WEAK)
        shifts = self._shifts(text, toks, said, requests)
        if shifts:
            nouns = {n for k in self.ordered for n in self.nouns[self.schema.names[k]]}
            cue = lex.higher_words | lex.lower_words | nouns
            requests = tuple(
                r
                for r in requests
                if int(self.schema.index(r.attribute)) not in self.ordered
                and not set(r.words.split()) & cue
            )
        requests = self._ranges(text, requests)
        different, named = self._different(toks)
        missing = self._missing(toks, text, wider, named)
        kept = ActReading(text, "", requests, shifts, different, missing)
        if said & lex.restart_cues:
            act = "restart"
        elif said & lex.go_back_cues:  # what it says describes the earlier item
            return ActReading(text, "go_back")
        elif kept.understood or missing:
            act = "describe" if opening else "feedback"
        elif said & lex.reject_cues:
            act = "reject_all"
        elif said & lex.accept_cues:  # "not perfect" turns it down
            act = "reject_all" if said & lex.negators else "accept"
        elif self._off_topic(toks, said, text):
            act = "off_topic"
        else:
            act = "not_understood"
        return ActReading(text, act, requests, shifts, different, missing)

    def _shifts(
        self, text: str, toks: list[str], said: set[str], requests: tuple[Request, ...]
    ) -> tuple[Shift, ...]:
        """ "higher heel", "lower the heel a touch", "heel's too low", and "a little lower" when
        the catalog has one ordered attribute and the sentence asks for nothing else."""
        lex = self.lexicon
        up, down = bool(said & lex.higher_words), bool(said & lex.lower_words)
        if up == down or any(self._measured(k, text) for k in self.ordered):
            return ()
        out = []
        for k in self.ordered:
            name = self.schema.names[k]
            about = said & self.nouns[name]
            others = [
                r for r in requests if r.attribute != name and r.words not in self.nouns[name]
            ]
            if about or (len(self.ordered) == 1 and not others):
                out.append(Shift(name, 1 if up else -1, bool(said & lex.small_cues)))
        return tuple(out)

    def _measured(self, k: int, text: str) -> list[tuple[int, int, str, int]]:
        return measurements(self.ordered[k], normalise(text).lower())

    def _ranges(self, text: str, requests: tuple[Request, ...]) -> tuple[Request, ...]:
        """Requests of a bounded measurement ("4 inches or more") widened to every value of the
        bound's side, in order."""
        out = list(requests)
        for k in self.ordered:
            attr = self.schema.attributes[k]
            for _, _, value, side in self._measured(k, text):
                if side == 0:
                    continue
                at = next(
                    (i for i, r in enumerate(out) if r.attribute == attr.name and r.value == value),
                    None,
                )
                if at is None:
                    continue
                r, i = out[at], attr.values.index(value)
                span = range(i, attr.size) if side > 0 else range(0, i + 1)
                wide = [
                    make_request(
                        self.schema,
                        self.schema.value_index(k, attr.values[j]),
                        0,
                        r.negated,
                        r.confidence,
                        r.words,
                    )
                    for j in span
                ]
                out[at : at + 1] = [w if w.value != value else r for w in wide]
        return tuple(out)

    def _different(self, toks: list[str]) -> tuple[tuple[str, ...], set[str]]:
        """Attributes of the catalog said with "different", "another", "not this" (and every
        attribute so named, in or out of the catalog)."""
        named = set()
        for i in range(len(toks)):
            for n in (3, 2, 1):
                if " ".join(toks[i : i + n]) not in self.lexicon.different_cues:
                    continue
                near = _grams(toks[i + n : i + n + 3], 2)
                named |= {a for a, ns in self.nouns.items() if near & ns}
                break
        return tuple(a for a in self.schema.names if a in named), named

    def _missing(
        self, toks: list[str], text: str, wider: tuple[Request, ...], named: set[str]
    ) -> tuple[str, ...]:
        """Attributes the catalog lacks that the sentence names: a value of one ("black"), the
        attribute itself ("with a heel", "another colour"), or, for brands when the catalog
        has none, an unknown capitalised word or one after "by" / "from" ("do you have Nike")."""
        have = set(self.schema.names)
        taken = {w for r in wider for w in r.words.split()}
        said = _grams([t for t in toks if t not in taken], 2)
        out = {r.attribute for r in wider} | named
        out |= {a for a, nouns in self.nouns.items() if a not in have and said & nouns}
        if "brand" not in have and self._brand_like(toks, text, wider):
            out.add("brand")
        order = [e.key for e in self.lexicon.attributes] + list(self.wider.schema.names)
        return tuple(dict.fromkeys(a for a in order if a in out and a not in have))

    def _brand_like(self, toks: list[str], text: str, wider: tuple[Request, ...]) -> bool:
        taken = {w for r in wider for w in r.words.split()}
        known = self.lexicon_reader.known
        folded = normalise(text)
        starts = [w.start for w in words(text) if not w.boundary]
        for j, w in enumerate(toks):
            if w in known or w in taken or not w.isalpha() or len(w) < 3:
                continue
            if folded[starts[j]].isupper() or (j > 0 and toks[j - 1] in self.lexicon.brand_cues):
                return True
        return False

    def _off_topic(self, toks: list[str], said: set[str], text: str) -> bool:
        """A greeting, a question with no shoe word, or no word the lexicon knows."""
        lex = self.lexicon
        if said & lex.greeting_cues:
            return True
        if not set(toks) & self.lexicon_reader.known:
            return True
        question = text.rstrip().endswith("?") or bool(_grams(toks[:3], 3) & lex.question_starts)
        return question and not set(toks) & self.shoe_words


@functools.lru_cache(maxsize=8)
def _lexicon(schema: AttributeSchema) -> LexiconReader:
    return LexiconReader(schema)


def act_labels(reading: ActReading) -> frozenset[str]:
    """The labels of an :class:`~textrec.language.acts.ActReading`, in ``acts.txt``'s notation."""
    out = {f"{r.attribute}{'!=' if r.negated else '='}{r.value}" for r in reading.requests}
    for s in reading.shifts:
        way = "higher" if s.direction > 0 else "lower"
        out.add(f"{s.attribute}:{'a bit ' if s.small else ''}{way}")
    out |= {f"{a}:different" for a in reading.different}
    out |= {f"missing:{a}" for a in reading.missing}
    return frozenset(out)


def score_act(act: str, labels: frozenset[str], reading: ActReading) -> bool:
    """``reading`` has the labelled ``act`` and exactly the ``labels`` (:func:`act_labels`'
    notation); a category that is the parent of a labelled subcategory ("ankle boots": Boots)
    may be read as well."""
    from textrec.catalog.zappos import SUBCATEGORY_CATEGORY

    got = act_labels(reading)
    parents = {
        f"category={SUBCATEGORY_CATEGORY[lab.split('=', 1)[1]]}"
        for lab in labels
        if lab.startswith("subcategory=") and lab.split("=", 1)[1] in SUBCATEGORY_CATEGORY
    }
    return reading.act == act and got - (parents - labels) == labels
