"""Read what a person asks for: every request of a sentence, in their own words.

A :class:`Reader` turns a sentence into a :class:`Reading`: the :class:`Request` records it is
sure of (attribute, value, mode, negated, confidence) and, apart, the ``doubtful`` ones below its
confidence threshold, which are *not understood*, never given as an answer.

``negated`` means the person does **not** want the value ("anything but heels", "no laces",
"not so pointy"). A request phrased through a negation of its absence ("I don't want shoes
without laces", "nothing but boots", "these aren't boots") wants the value: ``negated`` is
``False`` and ``mode`` is ``"negate"``, the simulator's reading of its template speech.

Readers (``READERS``):

* ``"lexicon"`` (:class:`LexiconReader`): the phrases of ``textrec/data/lexicon.json`` matched
  exactly and, for misspelt words, by edit distance (``rapidfuzz``); numbers with units read as
  heel heights; negation by counting negators in each request's clause; no training.
* ``"lstm"`` / ``"minilm"`` (:class:`ModelReader`): a learned interpreter of
  :mod:`textrec.language.interpret` (one request per sentence, its top value), trained on the
  template and paraphrase corpus.
* ``"minilm-multi"`` (:class:`~textrec.language.multilabel.MultiLabelMiniLM`): frozen MiniLM
  with a wanted and a rejected sigmoid per value, trained on the generated training set.
* ``"lexicon+minilm"`` (:class:`FallbackReader`): the lexicon, and ``minilm-multi`` for
  sentences the lexicon does not understand.

Example:
    >>> from textrec.catalog.builtin import BUILTIN_SCHEMA
    >>> [(r.attribute, r.value, r.negated) for r in read("trainers with velcro", BUILTIN_SCHEMA)]
    [('subcategory', 'Sneakers and Athletic Shoes', False), ('closure', 'Hook and Loop', False)]
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import NEGATE, REPEAT, REQUEST
from textrec.language.lexicon import (
    EXPLICIT,
    NAME,
    VARIANT,
    WEAK,
    Lexicon,
    Measure,
    PhraseIndex,
    Word,
    load_lexicon,
    normalise,
    phrase_index,
    words,
)
from textrec.language.reading import (
    THRESHOLD,
    Reader,
    Reading,
    Request,
    make_request,
    schema_of,
    split_confident,
)

__all__ = [
    "READERS",
    "THRESHOLD",
    "Request",
    "Reading",
    "Reader",
    "LexiconReader",
    "ModelReader",
    "FallbackReader",
    "load_reader",
    "measurements",
    "read",
    "read_batch",
    "ReaderScores",
    "evaluate_reader",
]

READERS = ("lexicon", "lstm", "minilm", "minilm-multi", "lexicon+minilm")
"""Readers :func:`load_reader` makes (see the module docstring)."""


_CONFIDENCE = {EXPLICIT: 0.95, NAME: 0.93, VARIANT: 0.9, WEAK: 0.7}
_FUZZY = {1: 0.8, 2: 0.65}
_COMMON_BRAND = 0.4
_AMBIGUOUS = 0.4
_MEASURE = 0.9


# --------------------------------------------------------------------------- the lexicon reader
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "a": 1, "an": 1, "half": 0.5, "a half": 0.5,
    "half an": 0.5, "half a": 0.5, "a quarter": 0.25, "quarter of an": 0.25,
}  # fmt: skip
_NUM = (
    r"(?P<{g}>\d+(?:\.\d+)?(?:\s*(?:\d/\d|[½¼¾]))?|\d/\d|[½¼¾]|half an?|a half|a quarter|"
    r"quarter of an|zero|one|two|three|four|five|six|seven|eight|nine|ten|an?)"
    r"(?P<{g}_half>\s+and\s+a\s+half)?"
)
_UNIT = r"\s*-?\s*(?P<{g}_unit>inches|inch|in\b|\"|cm|centimet(?:re|er)s?|mm)"
_ABOVE = (
    r"at least|minimum of|minimum|min|over|above|more than|higher than|taller than|greater than|"
    r"bigger than|no less than|upwards of|not less than|not under"
)
_BELOW = (
    r"under|below|less than|lower than|shorter than|smaller than|at most|no more than|"
    r"not more than|no higher than|not over|maximum of|maximum|max|up to|no taller than|not above"
)
_AFTER_ABOVE = (
    r"or more|or higher|or above|or taller|or over|and up|and above|and over|& over|plus|\+"
)
_AFTER_BELOW = r"or less|or lower|or under|or below|and under|and below|max|maximum|tops|at most"
_QUANTITY = re.compile(
    rf"(?:(?P<neg>nothing|no|not|none)\s+)?(?:(?P<cmp>{_ABOVE}|{_BELOW})\s+)?"
    r"(?:(?:about|around|roughly|approximately|approx|like|~)\s+)?"
    + _NUM.format(g="a")
    + rf"(?:{_UNIT.format(g='a')})?"
    + r"(?:\s*(?:-|–|to|and)\s*"
    + _NUM.format(g="b")
    + rf")?(?:{_UNIT.format(g='b')})"
    + rf"(?:(?:\s+(?:of\s+)?heels?)?\s+(?P<after>{_AFTER_ABOVE}|{_AFTER_BELOW}))?"
)
_STRICT_ABOVE = ("over", "above", "more than", "higher than", "taller than", "greater than")
_HEEL_NUMBER = re.compile(r"(?P<a>\d+(?:\.\d+)?)\s*-?\s*(?:heel|heels)\b")
_FRACTIONS = {"½": 0.5, "¼": 0.25, "¾": 0.75}


def _number(text: str, half: str | None) -> float:
    text = text.strip()
    if text in _NUMBER_WORDS:
        out = float(_NUMBER_WORDS[text])
    else:
        out = 0.0
        for part in text.split():
            if "/" in part:
                num, den = part.split("/")
                out += int(num) / int(den)
            elif part[-1] in _FRACTIONS:
                out += (float(part[:-1]) if len(part) > 1 else 0.0) + _FRACTIONS[part[-1]]
            else:
                out += float(part)
    return out + (0.5 if half else 0.0)


def _inches(value: float, unit: str | None) -> float:
    unit = (unit or "in").lower()
    if unit == "mm":
        return value / 25.4
    if unit.startswith("c"):
        return value / 2.54
    return value


def measurements(measure: Measure, low: str) -> list[tuple[int, int, str, int]]:
    """``(start, end, value, side)`` of every measurement in the lower-case sentence ``low``:
    ``side`` is 1 for a lower bound ("4 inches or more", "at least 3in"), -1 for an upper bound
    ("under an inch", "2 inches or less") and 0 for a plain height or a range's start."""
    out = []
    for m in _QUANTITY.finditer(low):
        unit = m.group("b_unit") or m.group("a_unit")
        lo = _inches(_number(m.group("a"), m.group("a_half")), m.group("a_unit") or unit)
        side = 0
        if m.group("b"):
            inches = lo  # a range: the bin where it starts
        else:
            cmp_ = m.group("cmp") or ""
            after = m.group("after") or ""
            below = bool(re.fullmatch(_BELOW, cmp_) or re.fullmatch(_AFTER_BELOW, after))
            strict_below = cmp_ in ("under", "below", "less than", "lower than", "shorter than")
            strict_above = cmp_ in _STRICT_ABOVE
            if m.group("neg") and cmp_:  # "nothing higher than 2 inches": at most 2
                below, strict_below, strict_above = not below, strict_above, False
            inches = lo - 0.01 if below and strict_below else lo
            if strict_above and not below:
                inches = lo + 0.01
            side = -1 if below else 1 if (cmp_ or after) else 0
        value = measure.value_for(max(inches, 0.0))
        if value is not None:
            out.append((m.start(), m.end(), value, side))
    for m in _HEEL_NUMBER.finditer(low):
        if not any(s <= m.start() < e for s, e, *_ in out):
            value = measure.value_for(float(m.group("a")))
            if value is not None:
                out.append((m.start(), m.end(), value, 0))
    return out


@dataclass(frozen=True)
class _Span:
    start: int
    """First word (index into the sentence's non-punctuation words)."""
    end: int
    """One past the last word."""
    values: tuple[int, ...]
    confidence: float
    weak: bool = False


def _phrase_at(words_: Sequence[str], i: int, n: int) -> str:
    return " ".join(words_[i : i + n])


class LexiconReader:
    """Phrases of the lexicon matched in the sentence, exactly or within a small edit distance.

    Args:
        schema: The catalog's attributes; only its values are ever returned.
        lexicon: Phrases and cue words (default: the packaged ``lexicon.json``).
        threshold: Confidence below which a request is doubtful (not understood).
        known_words: Words that are never corrected as typos (default: the lexicon's common
            words, every phrase word, and the words of the template and paraphrase files).
    """

    def __init__(
        self,
        schema: AttributeSchema,
        lexicon: Lexicon | None = None,
        threshold: float = THRESHOLD,
        known_words: frozenset[str] | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be in [0, 1], got {threshold}")
        self._schema = schema
        self.lexicon = lexicon or load_lexicon()
        self.index: PhraseIndex = phrase_index(schema, self.lexicon)
        self.threshold = threshold
        self.known = known_words if known_words is not None else _known_words(self.lexicon)
        self.known = self.known | {w for k in self.index.phrases for w in k.split()}
        fuzzy = [k for k, (s, _) in self.index.phrases.items() if len(k) >= 5 and s > VARIANT]
        self._fuzzy_keys = fuzzy
        self._nouns = frozenset(
            k.split()[-1]
            for k, (_, ids) in self.index.phrases.items()
            if self.schema.names[int(self.schema.value_attribute[ids[0]])]
            in ("category", "subcategory")
        ) | {"shoes", "shoe", "ones", "pair", "pairs"}
        self._category_words = {
            k: ids[0]
            for k, (strength, ids) in self.index.phrases.items()
            if strength > WEAK
            and " " not in k
            and len(ids) == 1
            and self.schema.names[int(self.schema.value_attribute[ids[0]])] == "category"
        }
        self._subjects = frozenset().union(*self.index.nouns) | self._nouns | {"have", "has"}
        self._max_cue = max(len(c.split()) for c in self.lexicon.negators)

    @property
    def schema(self) -> AttributeSchema:
        """The schema read into."""
        return self._schema

    def read(self, text: str) -> Reading:
        """The :class:`Reading` of one sentence."""
        if not isinstance(text, str):
            raise InputError(f"a sentence must be a str, got {type(text).__name__}")
        return self._read(text)

    def read_batch(self, texts: Sequence[str]) -> list[Reading]:
        """One :class:`Reading` per sentence."""
        if isinstance(texts, str):
            raise InputError("read_batch takes a list of sentences; use read() for one")
        return [self.read(t) for t in texts]

    # ------------------------------------------------------------------ matching
    def _read(self, text: str) -> Reading:
        toks = words(text)
        folded = normalise(text)
        content = [i for i, w in enumerate(toks) if not w.boundary]
        texts_ = [toks[i].text for i in content]
        taken = np.zeros(len(content), dtype=bool)
        spans = self._measures(toks, content, taken, folded.lower())
        spans += self._exact(texts_, toks, content, taken)
        spans += self._fuzzy(texts_, taken)
        spans = [self._with_parent(s, texts_) for s in spans]
        if any(not s.weak for s in spans):
            spans = [s for s in spans if not s.weak]
        spans = self._brands(spans, texts_, toks, content, folded)
        spans = self._attribute_nouns(spans, texts_, toks, content)
        spans = self._speakers(spans, texts_)
        spans.sort(key=lambda s: s.start)
        requests = self._polarity(spans, toks, content, texts_)
        sure, doubtful = split_confident(_merge(requests), self.threshold)
        return Reading(text=text, requests=sure, doubtful=doubtful)

    def _measures(
        self, toks: list[Word], content: list[int], taken: np.ndarray, low: str
    ) -> list[_Span]:
        out = []
        for measure, k in self.index.measures:
            attr = self.schema.attributes[k]
            for start, end, value, _ in measurements(measure, low):
                if value not in attr.values:
                    continue
                inside = [j for j, i in enumerate(content) if start <= toks[i].start < end]
                if not inside or taken[inside].any():
                    continue
                taken[inside] = True
                vid = self.schema.value_index(k, value)
                out.append(_Span(inside[0], inside[-1] + 1, (vid,), _MEASURE))
        return out

    def _exact(
        self, texts_: list[str], toks: list[Word], content: list[int], taken: np.ndarray
    ) -> list[_Span]:
        out = []
        n_words = len(texts_)
        for n in range(min(self.index.max_words, n_words), 0, -1):
            for i in range(n_words - n + 1):
                if taken[i : i + n].any() or _crosses(toks, content, i, n):
                    continue
                hit = self.index.phrases.get(_phrase_at(texts_, i, n))
                if hit is None:
                    continue
                strength, ids = hit
                taken[i : i + n] = True
                out.append(_Span(i, i + n, ids, _CONFIDENCE[strength], strength == WEAK))
        return out

    def _with_parent(self, s: _Span, texts_: list[str]) -> _Span:
        """Add the category a phrase also says: "ankle boots" asks for Boots as well as Ankle,
        "chelsea boots" for Boots as well as the elastic-gore closure."""
        said = set(texts_[s.start : s.end])
        extra = []
        for v in s.values:
            parent = self.index.parents.get(v)
            if parent is not None and parent[1] & said and parent[0] not in s.values:
                extra.append(parent[0])
        attrs = {int(self.schema.value_attribute[v]) for v in s.values}
        if not extra and len(said) > 1 and not any(v in self.index.parents for v in s.values):
            named = {self._category_words[w] for w in said if w in self._category_words}
            extra = [c for c in named if int(self.schema.value_attribute[c]) not in attrs]
        return replace(s, values=s.values + tuple(sorted(extra))) if extra else s

    def _fuzzy(self, texts_: list[str], taken: np.ndarray) -> list[_Span]:
        """Misspelt phrases: unknown words within 1 edit (2 for 8+ letters) of a phrase."""
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        queries: list[tuple[int, int, str]] = []
        for n in (3, 2, 1):
            for i in range(len(texts_) - n + 1):
                if taken[i : i + n].any():
                    continue
                grams = texts_[i : i + n]
                if all(g in self.known or g.isdigit() for g in grams):
                    continue
                q = " ".join(grams)
                if len(q) >= 5:
                    queries.append((i, n, q))
        if not queries or not self._fuzzy_keys:
            return []
        dist = process.cdist(
            [q for *_, q in queries], self._fuzzy_keys, scorer=OSA.distance, score_cutoff=2
        )
        out = []
        for (i, n, q), row in zip(queries, dist, strict=True):
            if taken[i : i + n].any():
                continue
            found = self._closest(q, n, row)
            if found is not None:
                taken[i : i + n] = True
                out.append(_Span(i, i + n, found[0], found[1]))
        return out

    def _closest(self, q: str, n: int, row: np.ndarray) -> tuple[tuple[int, ...], float] | None:
        """The values of the phrase closest to ``q`` (edit distance, then similarity), if close
        enough: 1 edit for phrases under 7 letters, 2 from 7, the words it knows spelt right;
        a doubtful guess when different values are equally close."""
        from rapidfuzz import fuzz

        d = int(row.min())
        if d == 0 or d > 2:
            return None
        words_ = q.split()
        keys = [
            k
            for k in (self._fuzzy_keys[t] for t in np.flatnonzero(row == d))
            if (d == 1 or len(k) >= 7)
            and k[0] == q[0]
            and len(k.split()) == n
            and all(a == b for a, b in zip(words_, k.split(), strict=True) if a in self.known)
        ]
        if not keys:
            return None
        ratios = np.array([fuzz.ratio(q, k) for k in keys])
        best = [k for k, r in zip(keys, ratios, strict=True) if r == ratios.max()]
        if d == 2 and ratios.max() < 75:
            return None
        readings = {self.index.phrases[k][1] for k in best}
        if len(readings) > 1:  # equally close to different values: a guess, not understood
            return min(readings), _AMBIGUOUS
        return readings.pop(), _FUZZY[d]

    def _brands(
        self,
        spans: list[_Span],
        texts_: list[str],
        toks: list[Word],
        content: list[int],
        folded: str,
    ) -> list[_Span]:
        """Children's lines where the sentence speaks of children; brands that are ordinary
        words ("keen", "born") only when capitalised or next to a brand cue."""
        idx = self.index
        if not idx.brand_bases and not idx.common_brand_keys:
            return spans
        kids = bool(self.lexicon.kids_cues & _grams(texts_, 2))
        out = []
        for s in spans:
            key = _phrase_at(texts_, s.start, s.end - s.start)
            if kids and key in idx.brand_bases:
                s = replace(s, values=(idx.brand_bases[key][1],))
            if key in idx.common_brand_keys and not self._looks_like_brand(
                s, texts_, toks, content, folded
            ):
                s = replace(s, confidence=min(s.confidence, _COMMON_BRAND))
            out.append(s)
        return out

    def _looks_like_brand(
        self, s: _Span, texts_: list[str], toks: list[Word], content: list[int], folded: str
    ) -> bool:
        first = toks[content[s.start]]
        pos = content[s.start]
        sentence_start = pos == 0 or toks[pos - 1].text in ".!?"
        if folded[first.start].isupper() and not sentence_start:
            return True
        before = _grams(texts_[max(0, s.start - 2) : s.start], 2)
        after = set(texts_[s.end : s.end + 1])
        return bool(self.lexicon.brand_cues & (before | after) or after & self._nouns)

    def _attribute_nouns(
        self, spans: list[_Span], texts_: list[str], toks: list[Word], content: list[int]
    ) -> list[_Span]:
        """Drop a span whose words name another attribute the sentence gives a value of, close
        by or pointed at: "heels" in "no heels other than 2in" or "this heel is wrong, it should
        be flat" is the heel-height noun, not the style Heels. Kept right after a value of a third
        attribute ("pointed toe heels, 3 inches") and far from the value ("heels that aren't too
        high, maybe 2 inches")."""
        schema, nouns = self.schema, self.index.nouns
        attrs = [{int(schema.value_attribute[v]) for v in s.values} for s in spans]
        clause = [_clause_start(toks, content, s.start) for s in spans]
        keep = []
        for i, s in enumerate(spans):
            key = _phrase_at(texts_, s.start, s.end - s.start)
            named = {k for k in range(schema.n_attributes) if key in nouns[k]} - attrs[i]
            given = {k for j in range(len(spans)) if j != i for k in attrs[j]}
            before = {k for j, o in enumerate(spans) if o.end == s.start for k in attrs[j]}
            near = {
                k
                for j, o in enumerate(spans)
                if j != i
                and clause[j] == clause[i]
                and min(abs(o.start - s.end), abs(s.start - o.end)) <= 3
                for k in attrs[j]
            }
            pointed = s.start > 0 and texts_[s.start - 1] in _POINTERS
            if not named & given or (before and not before & named):
                keep.append(s)
            elif not named & near and not pointed:
                keep.append(s)
        return keep

    def _speakers(self, spans: list[_Span], texts_: list[str]) -> list[_Span]:
        """Drop a person who speaks rather than wears: "wife" in "my wife says these are too
        pointy" asks for nothing (a reporting verb follows the gender phrase)."""
        gender = {k for k, name in enumerate(self.schema.names) if name == "gender"}
        verbs = self.lexicon.reporting_verbs
        return [
            s
            for s in spans
            if not (
                {int(self.schema.value_attribute[v]) for v in s.values} <= gender
                and _grams(texts_[s.end : s.end + 2], 2) & verbs
            )
        ]

    # ------------------------------------------------------------------ negation and mode
    def _polarity(
        self, spans: list[_Span], toks: list[Word], content: list[int], texts_: list[str]
    ) -> list[Request]:
        lex = self.lexicon
        repeat = bool(lex.repeat_cues & _grams(texts_, 3))
        out = []
        prev_end, prev_negated, prev_count, prev_clause = 0, False, 0, -1
        for s in spans:
            clause = _clause_start(toks, content, s.start)
            same = prev_clause == clause
            gap = texts_[max(prev_end, clause) if same else clause : s.start]
            head = {" ".join(gap[:n]) for n in (1, 2, 3) if len(gap) >= n}
            negators, cancelled = _count_negators(gap, lex, self._subjects, relative=same)
            negators += _after_negation(texts_, s.end, lex)
            if same and gap and all(g in lex.fillers for g in gap):
                negators, cancelled, negated = prev_count, 0, prev_negated
            elif same and prev_negated and head & lex.exception_cues:
                negators, negated = prev_count + 1, False  # "no heels other than flat"
            elif same and prev_negated and head & lex.relative_cues:
                negators += prev_count  # "no heels that are not flat", "no boots without zips"
                negated = negators % 2 == 1
            else:
                negated = negators % 2 == 1
            mode = (
                REPEAT if repeat else NEGATE if (negators + cancelled and not negated) else REQUEST
            )
            said = _phrase_at(texts_, s.start, s.end - s.start)
            for vid in s.values:
                out.append(make_request(self.schema, vid, mode, negated, s.confidence, said))
            prev_end, prev_negated, prev_count, prev_clause = s.end, negated, negators, clause
        return out


def _grams(seq: Sequence[str], n: int) -> set[str]:
    return {" ".join(seq[i : i + k]) for k in range(1, n + 1) for i in range(len(seq) - k + 1)}


def _crosses(toks: list[Word], content: list[int], i: int, n: int) -> bool:
    """Whether words ``i .. i+n-1`` have punctuation between them."""
    return content[i + n - 1] - content[i] != n - 1


def _clause_start(toks: list[Word], content: list[int], i: int) -> int:
    """Index (into content words) of the first word of the clause holding word ``i``."""
    pos = content[i]
    while pos > 0 and not toks[pos - 1].boundary:
        pos -= 1
    return next(j for j, c in enumerate(content) if c >= pos)


_CANCEL_AFTER = frozenset({"is", "are", "isnt", "arent", "doesnt", "dont", "not", "one", "ones"})
_ADJACENT_ONLY = frozenset({"too", "less"})
_POINTERS = frozenset({"this", "that", "these", "those", "the", "wrong", "its", "their"})
_BUT_CONTRAST = frozenset({"but"})


def _cue_at(gap: list[str], j: int, cues: frozenset[str]) -> int:
    """Length in words of the longest cue of ``cues`` starting at ``gap[j]`` (0: none)."""
    for n in range(min(4, len(gap) - j), 0, -1):
        if " ".join(gap[j : j + n]) in cues:
            return n
    return 0


def _count_negators(
    gap: list[str], lex: Lexicon, subjects: frozenset[str], relative: bool = False
) -> tuple[int, int]:
    """Negators in ``gap`` (the words between a request and the previous one or its clause
    start), and how many of them only say the shown item lacks the value ("these are not X").
    ``relative``: the gap follows a request of the same clause, so its "that" is a relative
    pronoun ("boots that don't lace"), never the shown item."""
    # "but" that is not "anything but", or "so" / "because", starts a new thought
    for j in range(len(gap) - 1, -1, -1):
        contrast = gap[j] in _BUT_CONTRAST and (j == 0 or f"{gap[j - 1]} but" not in lex.negators)
        adverb = j > 0 and gap[j - 1] in ("not", "too", "no")  # "not so pointy"
        if contrast or (gap[j] in lex.scope_breakers and not adverb):
            gap = gap[j + 1 :]
            break
    count, cancelled, j = 0, 0, 0
    while j < len(gap):
        skip = _cue_at(gap, j, lex.not_negators)
        if skip > 1 or (skip == 1 and gap[j] not in lex.negators):
            j += skip
            continue
        n = _cue_at(gap, j, lex.negators)
        if n == 1 and gap[j] == "but":
            n = 0
        if n and gap[j] in _ADJACENT_ONLY and j + n != len(gap):
            n = 0  # "too" / "less" negate only the word right after them
        if n:
            if not relative and _about_shown_item(gap, j, lex, subjects):
                cancelled += 1
            else:
                count += 1
        elif gap[j] == "than" and "other" in gap[:j]:
            count += 1  # "no other style than ankle"
        j += max(n, 1)
    return count, cancelled


def _about_shown_item(gap: list[str], j: int, lex: Lexicon, subjects: frozenset[str]) -> bool:
    """``gap[j]`` negates a sentence about the shown item: "these are not", "this one doesn't",
    "that heel isn't" (``subjects``: words that may stand between, as "heel")."""
    if gap[j] not in ("not", "isnt", "arent", "doesnt", "dont", "dosnt"):
        return False
    if j > 3:
        return False
    for n in (2, 1):
        if " ".join(gap[:n]) in lex.demonstratives and n <= j:
            return all(w in _CANCEL_AFTER or w in subjects for w in gap[n:j])
    return False


def _after_negation(texts_: list[str], end: int, lex: Lexicon) -> int:
    """1 when the words right after a request reject it ("heels are a no", "no thanks")."""
    tail = texts_[end : end + 4]
    grams = _grams(tail, 4)
    return 1 if lex.after_negators & grams and not (set(tail[:1]) & {"and", "or"}) else 0


def _merge(requests: list[Request]) -> list[Request]:
    """One request per value, the most confident; a value both asked for and rejected ("running
    shoes, not tennis shoes", two names of one value) is asked for."""
    best: dict[int, Request] = {}
    for r in requests:
        have = best.get(r.value_index)
        if (
            have is None
            or (have.negated and not r.negated)
            or (have.negated == r.negated and r.confidence > have.confidence)
        ):
            best[r.value_index] = r
    return [r for r in requests if best[r.value_index] is r]


@functools.lru_cache(maxsize=2)
def _known_words(lexicon: Lexicon) -> frozenset[str]:
    """Words never taken for typos: the lexicon's common words and cue words, and every word of
    the packaged template and paraphrase files."""
    from textrec.language.templates import load_paraphrases, load_templates

    out = set(lexicon.common_words)
    for cues in (lexicon.negators, lexicon.repeat_cues, lexicon.fillers, lexicon.after_negators):
        out.update(w for c in cues for w in c.split())
    for phr in (load_templates(), load_paraphrases()):
        texts = [t for mode in phr.generic for t in mode]
        texts += [t for a in phr.attributes for mode in a.modes for t in mode]
        for t in texts:
            out.update(w.text for w in words(t.replace("{value}", " ").replace("{attribute}", " ")))
    return frozenset(out)


# --------------------------------------------------------------------------- learned readers
class ModelReader:
    """A learned interpreter (``"lstm"`` or ``"minilm"``) as a reader: one request per sentence,
    its most probable value, doubtful below ``threshold``; ``negated`` is never set (the
    interpreters learnt the simulator's reading, where every mode names a wanted value)."""

    def __init__(self, interpreter: Any, threshold: float = THRESHOLD) -> None:
        self.interpreter, self.threshold = interpreter, threshold

    @property
    def schema(self) -> AttributeSchema:
        """The interpreter's schema."""
        return self.interpreter.schema

    def read_batch(self, texts: Sequence[str]) -> list[Reading]:
        """One reading per sentence (one batched forward pass)."""
        texts = list(texts)
        if not texts:
            return []
        pred = self.interpreter.predict(texts)
        best = pred.value_log_probs.argmax(1)
        conf = np.exp(pred.value_log_probs[np.arange(len(texts)), best])
        modes = pred.mode_probs.argmax(1)
        out = []
        for text, v, c, m in zip(texts, best, conf, modes, strict=True):
            r = make_request(self.schema, int(v), int(m), False, float(c), "")
            sure, doubtful = split_confident([r], self.threshold)
            out.append(Reading(text, sure, doubtful))
        return out


@dataclass
class FallbackReader:
    """``first``'s reading where it understands the sentence, else ``second``'s."""

    first: Any
    second: Any
    _schema: AttributeSchema = field(init=False)

    def __post_init__(self) -> None:
        if self.first.schema != self.second.schema:
            raise InputError("FallbackReader: the two readers read different schemas")
        self._schema = self.first.schema

    @property
    def schema(self) -> AttributeSchema:
        """The readers' schema."""
        return self._schema

    def read_batch(self, texts: Sequence[str]) -> list[Reading]:
        """``first`` on every sentence, ``second`` on those ``first`` does not understand."""
        out = self.first.read_batch(texts)
        missing = [i for i, r in enumerate(out) if not r.understood]
        if missing:
            for i, r in zip(
                missing, self.second.read_batch([texts[i] for i in missing]), strict=True
            ):
                out[i] = r if r.understood else out[i]
        return out


def load_reader(
    catalog_or_schema: Any,
    kind: str = "lexicon",
    *,
    threshold: float = THRESHOLD,
    seed: int = 0,
    cache_dir: Any = None,
) -> Reader:
    """The reader ``kind`` (one of :data:`READERS`) for a catalog or schema.

    The learned kinds load their interpreter from the cache (or train and cache it, see
    :func:`textrec.language.interpret.load_interpreter`).
    """
    if kind not in READERS:
        raise InputError(f"reader must be one of {list(READERS)}, got {kind!r}")
    schema = schema_of(catalog_or_schema)
    if kind == "lexicon":
        return _lexicon_reader(schema, threshold)
    from textrec.language.interpret import load_interpreter

    if kind in ("lstm", "minilm"):
        interp = load_interpreter(schema, kind, seed=seed, cache_dir=cache_dir)
        return ModelReader(interp, threshold)
    from textrec.language.multilabel import load_multilabel_reader

    multi = load_multilabel_reader(schema, seed, None if cache_dir is None else str(cache_dir))
    multi.threshold = threshold
    if kind == "lexicon+minilm":
        return FallbackReader(_lexicon_reader(schema, threshold), multi)
    return multi


@functools.lru_cache(maxsize=8)
def _lexicon_reader(schema: AttributeSchema, threshold: float) -> LexiconReader:
    return LexiconReader(schema, threshold=threshold)


def read_batch(
    texts: Sequence[str], catalog_or_schema: Any, reader: str = "lexicon", **kw: Any
) -> list[Reading]:
    """The readings of several sentences (keywords as :func:`load_reader`)."""
    if isinstance(texts, str):
        raise InputError("read_batch takes a list of sentences; use read() for one")
    return load_reader(catalog_or_schema, reader, **kw).read_batch(list(texts))


def read(text: str, catalog_or_schema: Any, reader: str = "lexicon", **kw: Any) -> list[Request]:
    """Every request of one sentence that the reader is sure of (empty: not understood).

    Keywords as :func:`load_reader`. Use :func:`read_batch` for the doubtful readings too.
    """
    if not isinstance(text, str):
        raise InputError(f"read takes one sentence (str), got {type(text).__name__}")
    return list(read_batch([text], catalog_or_schema, reader, **kw)[0].requests)


@dataclass(frozen=True)
class ReaderScores:
    """How well a reader reads a labelled set (``nan`` where the set has no such sentence)."""

    n: int
    """Sentences."""
    single_exact: float
    """Sentences with one request: share read exactly (that request and nothing else)."""
    single_found: float
    """Sentences with one request: share where the request is among those read."""
    multi_exact: float
    """Sentences with two or more requests: share read fully right (all, nothing else)."""
    nothing_right: float
    """Sentences asking for nothing the schema has: share read as asking for nothing."""
    per_attribute: dict[str, float]
    """Per attribute, over the sentences with a request for it: share whose requests for that
    attribute (values and whether rejected) are exactly right."""
    not_understood: float
    """Share of sentences with a request that were read as asking for nothing."""
    seconds: float
    """Wall time of reading the set."""


def evaluate_reader(reader: Reader, sentences: Any, batch_size: int = 256) -> ReaderScores:
    """Score ``reader`` on a labelled :class:`~textrec.language.trainset.SentenceSet`."""
    import time

    schema = reader.schema
    if sentences.schema != schema:
        raise InputError("evaluate_reader: the sentences are labelled for another schema")
    started = time.perf_counter()
    n, v = len(sentences), schema.n_values
    got_w = np.zeros((n, v), dtype=bool)
    got_r = np.zeros((n, v), dtype=bool)
    texts = sentences.texts.tolist()
    for lo in range(0, n, batch_size):
        for i, reading in enumerate(reader.read_batch(texts[lo : lo + batch_size]), start=lo):
            for q in reading.requests:
                (got_r if q.negated else got_w)[i, q.value_index] = True
    seconds = time.perf_counter() - started
    right = (got_w == sentences.wanted) & (got_r == sentences.rejected)  # (N, V)
    size = sentences.n_requests
    exact = right.all(1)
    gold_any = sentences.wanted | sentences.rejected
    found = (got_w & sentences.wanted | got_r & sentences.rejected).any(1)

    def share(x: np.ndarray, mask: np.ndarray) -> float:
        return float(x[mask].mean()) if mask.any() else float("nan")

    per_attribute = {}
    for k, name in enumerate(schema.names):
        lo, hi = int(schema.offsets[k]), int(schema.offsets[k + 1])
        asked = gold_any[:, lo:hi].any(1)
        if asked.any():
            per_attribute[name] = share(right[:, lo:hi].all(1), asked)
    return ReaderScores(
        n=n,
        single_exact=share(exact, size == 1),
        single_found=share(found, size == 1),
        multi_exact=share(exact, size >= 2),
        nothing_right=share(exact, size == 0),
        per_attribute=per_attribute,
        not_understood=share(~(got_w | got_r).any(1), size > 0),
        seconds=seconds,
    )
