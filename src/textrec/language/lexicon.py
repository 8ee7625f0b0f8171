"""What people call attribute values: the lexicon file and its phrase index over a schema.

``textrec/data/lexicon.json`` lists, per attribute, the everyday words for each value ("trainers",
"velcro", "for my wife", "navy"), the heel-height bins numbers fall into, and the cue words of
negation and repetition. :func:`load_lexicon` validates it; :func:`phrase_index` turns it into the
lookup table of one schema: normalised phrase -> the global values it names, with how sure a match
is (an explicit phrase, the value's own name, or a singular/plural variant of either).

Text is compared after :func:`normalise` and :func:`words`: accents folded, lower case,
apostrophes dropped inside words ("men's" -> "mens"), ``&`` read as "and", hyphens and slashes
split words. This module is data only: no model, no reader.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textrec.catalog.schema import Attribute, AttributeSchema
from textrec.errors import InputError
from textrec.io import read_json
from textrec.language.templates import clean_value

__all__ = [
    "LEXICON_PATH",
    "EXPLICIT",
    "NAME",
    "VARIANT",
    "WEAK",
    "Word",
    "Measure",
    "AttributeLexicon",
    "Lexicon",
    "PhraseIndex",
    "normalise",
    "words",
    "phrase_key",
    "attribute_nouns",
    "load_lexicon",
    "phrase_index",
]

LEXICON_PATH = Path(__file__).resolve().parents[1] / "data" / "lexicon.json"
"""The packaged lexicon."""

_FORMAT = "textrec-lexicon/1"

EXPLICIT, NAME, VARIANT, WEAK = 3, 2, 1, 0
"""How a phrase came to name a value, strongest first: listed in the lexicon, the value's own
catalog name, a singular/plural variant of either, or a weak phrase ("shoes") that counts only
when the sentence names nothing else."""

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u201c": '"', "\u201d": '"'})
_ABBREV = re.compile(r"\b([a-z]{1,2})\.(?=\s*[a-z0-9])")
_KEEP_DOT = frozenset(
    "no ok it me us so go up in on to do be my is am an as at by of or oh hi we he".split()
)
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|[.,;:!?()\[\]]|&|\"")
_BOUNDARY = frozenset(".,;:!?()[]")


def normalise(text: str) -> str:
    """Accents folded, typographic quotes made plain, trademark signs dropped; case kept.

    The result has one character per character of the folded text, so offsets into it and into
    its lower-case form agree (the reader uses the case to tell a brand from a common word).
    """
    folded = unicodedata.normalize("NFKD", clean_value(text) if "&#" in text else text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return folded.translate(_QUOTES)


@dataclass(frozen=True)
class Word:
    """One token of a sentence after normalisation."""

    text: str
    """Lower case, apostrophes removed (``"mens"``); ``"and"`` for ``&``; punctuation as is."""
    start: int
    """Offset in the normalised sentence."""
    end: int
    """End offset (exclusive)."""

    @property
    def boundary(self) -> bool:
        """Punctuation that ends a clause (no phrase runs across it)."""
        return self.text in _BOUNDARY


def _drop_abbreviation_dots(low: str) -> str:
    """``"dr. martens"`` -> ``"dr  martens"`` (same length), keeping full stops after words."""
    return _ABBREV.sub(lambda m: m.group(0) if m.group(1) in _KEEP_DOT else m.group(1) + " ", low)


def words(text: str) -> list[Word]:
    """Tokens of ``normalise(text)`` in lower case (offsets into the normalised text)."""
    low = _drop_abbreviation_dots(normalise(text).lower())
    out = []
    for m in _TOKEN.finditer(low):
        tok = m.group(0)
        tok = "and" if tok == "&" else tok.replace("'", "")
        if tok == '"':
            continue
        out.append(Word(tok, m.start(), m.end()))
    return out


def phrase_key(text: str) -> str:
    """The lookup key of a phrase: its words joined by single spaces, punctuation dropped."""
    return " ".join(w.text for w in words(text) if not w.boundary)


@dataclass(frozen=True)
class Measure:
    """Numbers that name values: heel heights in inches fall into ``[low, high)`` bins."""

    unit_words: tuple[str, ...]
    """Words that make a number a measurement ("inch", "cm", ...)."""
    bins: tuple[tuple[str, float, float], ...]
    """``(value, low, high)`` per bin, in inches."""

    def value_for(self, inches: float) -> str | None:
        """The bin holding ``inches``, or ``None``."""
        for value, low, high in self.bins:
            if low <= inches < high:
                return value
        return None


@dataclass(frozen=True, eq=False)
class AttributeLexicon:
    """The lexicon's entry for one attribute."""

    key: str
    aliases: tuple[str, ...]
    values: Mapping[str, tuple[str, ...]]
    """Explicit phrases per value (catalog spelling)."""
    weak: Mapping[str, tuple[str, ...]]
    """Weak phrases per value."""
    no_name: frozenset[str]
    """Values whose own name is too ambiguous to match ("Heel" of sandals vs any heel)."""
    measure: Measure | None
    kids_suffix: str
    """For brands: the suffix of a brand's children's line ("Kids")."""
    common_words: frozenset[str]
    """For brands: names that are also ordinary words ("Keen", "Born"): they count only when
    capitalised or next to a brand cue ("by", "from")."""
    parent: tuple[str, Mapping[str, str]] | None = None
    """``(attribute, {value: parent value})``: the category each style belongs to."""


@dataclass(frozen=True, eq=False)
class Lexicon:
    """A validated lexicon file (see the module docstring)."""

    source: str
    attributes: tuple[AttributeLexicon, ...]
    kids_cues: frozenset[str]
    brand_cues: frozenset[str]
    negators: frozenset[str]
    after_negators: frozenset[str]
    not_negators: frozenset[str]
    demonstratives: frozenset[str]
    repeat_cues: frozenset[str]
    fillers: frozenset[str]
    exception_cues: frozenset[str]
    relative_cues: frozenset[str]
    scope_breakers: frozenset[str]
    common_words: frozenset[str]
    reporting_verbs: frozenset[str]
    """Words after a person that make them a speaker, not whom the shoes are for ("wife says")."""
    accept_cues: frozenset[str]
    go_back_cues: frozenset[str]
    reject_cues: frozenset[str]
    restart_cues: frozenset[str]
    greeting_cues: frozenset[str]
    question_starts: frozenset[str]
    """Cue words of the dialogue acts (:mod:`textrec.language.acts`)."""
    higher_words: frozenset[str]
    lower_words: frozenset[str]
    small_cues: frozenset[str]
    different_cues: frozenset[str]
    """Comparatives over ordered attributes ("a bit higher") and "a different brand"."""

    def entry(self, attribute: Attribute) -> AttributeLexicon | None:
        """The entry serving ``attribute`` (by name, label or alias, ignoring case and
        punctuation), or ``None``."""
        wanted = {_squash(attribute.name), _squash(attribute.label)}
        for e in self.attributes:
            if wanted & {_squash(e.key), *(_squash(a) for a in e.aliases)}:
                return e
        return None


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _strings(obj: Any, where: str) -> tuple[str, ...]:
    if not isinstance(obj, list) or not all(isinstance(s, str) and s.strip() for s in obj):
        raise InputError(f"{where}: must be a list of non-empty strings")
    return tuple(obj)


def _keys(obj: Any, where: str) -> frozenset[str]:
    return frozenset(phrase_key(s) for s in _strings(obj, where))


def _measure(obj: Any, where: str) -> Measure:
    if not isinstance(obj, dict) or not isinstance(obj.get("bins"), dict):
        raise InputError(f"{where}: must be an object with 'unit_words' and 'bins'")
    bins = []
    for value, pair in obj["bins"].items():
        ok = isinstance(pair, list) and len(pair) == 2
        if not ok or not all(isinstance(x, int | float) for x in pair) or pair[0] >= pair[1]:
            raise InputError(f"{where}.bins.{value}: must be [low, high) with low < high")
        bins.append((value, float(pair[0]), float(pair[1])))
    units = tuple(u.lower() for u in _strings(obj.get("unit_words"), f"{where}.unit_words"))
    return Measure(units, tuple(bins))


def _attribute(key: str, obj: Any, where: str) -> AttributeLexicon:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: must be an object")
    unknown = sorted(
        set(obj)
        - {"aliases", "values", "measure", "kids_suffix", "common_words", "no_name", "parent"}
    )
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}")
    values: dict[str, tuple[str, ...]] = {}
    weak: dict[str, tuple[str, ...]] = {}
    raw = obj.get("values", {})
    if not isinstance(raw, dict):
        raise InputError(f"{where}.values: must be an object keyed by value")
    seen: dict[str, str] = {}
    for value, phrases in raw.items():
        if isinstance(phrases, dict):
            values[value] = _strings(phrases.get("phrases", []), f"{where}.values.{value}")
            weak[value] = _strings(phrases.get("weak"), f"{where}.{value}.weak")
        else:
            values[value] = _strings(phrases, f"{where}.values.{value}")
        for p in (*values[value], *weak.get(value, ())):
            k = phrase_key(p)
            if not k:
                raise InputError(f"{where}.values.{value}: phrase {p!r} has no words")
            if seen.setdefault(k, value) != value:
                raise InputError(
                    f"{where}.values: phrase {p!r} names both {seen[k]!r} and {value!r}"
                )
    parent = obj.get("parent")
    if parent is not None:
        ok = isinstance(parent, dict) and isinstance(parent.get("values"), dict)
        if not ok or not isinstance(parent.get("attribute"), str):
            raise InputError(f"{where}.parent: must be {{'attribute': name, 'values': {{...}}}}")
        parent = (parent["attribute"], dict(parent["values"]))
    return AttributeLexicon(
        parent=parent,
        key=key,
        aliases=_strings(obj.get("aliases", []), f"{where}.aliases"),
        values=values,
        weak=weak,
        no_name=frozenset(_strings(obj.get("no_name", []), f"{where}.no_name")),
        measure=_measure(obj["measure"], f"{where}.measure") if "measure" in obj else None,
        kids_suffix=str(obj.get("kids_suffix", "")),
        common_words=_keys(obj.get("common_words", []), f"{where}.common_words"),
    )


_CUE_LISTS = (
    "kids_cues",
    "brand_cues",
    "negators",
    "after_negators",
    "not_negators",
    "demonstratives",
    "repeat_cues",
    "fillers",
    "exception_cues",
    "relative_cues",
    "scope_breakers",
    "common_words",
    "reporting_verbs",
    "accept_cues",
    "go_back_cues",
    "reject_cues",
    "restart_cues",
    "greeting_cues",
    "question_starts",
    "higher_words",
    "lower_words",
    "small_cues",
    "different_cues",
)


def parse_lexicon(obj: Any, source: str) -> Lexicon:
    """Validate the parsed JSON ``obj`` of a lexicon file; errors name ``source`` and the key."""
    if not isinstance(obj, dict):
        raise InputError(f"{source}: top level must be a JSON object")
    if obj.get("format") != _FORMAT:
        raise InputError(f"{source}: format must be {_FORMAT!r}, got {obj.get('format')!r}")
    attrs = obj.get("attributes")
    if not isinstance(attrs, dict) or not attrs:
        raise InputError(f"{source}: attributes must be a non-empty object")
    entries = tuple(_attribute(k, v, f"{source}: attributes.{k}") for k, v in attrs.items())
    cues = {name: _keys(obj.get(name, []), f"{source}: {name}") for name in _CUE_LISTS}
    return Lexicon(source=source, attributes=entries, **cues)


@functools.lru_cache(maxsize=4)
def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Read and validate a lexicon (default: the packaged one); cached per path."""
    p = Path(path) if path is not None else LEXICON_PATH
    return parse_lexicon(read_json(p), str(p))


@dataclass(frozen=True, eq=False)
class PhraseIndex:
    """The phrases naming a schema's values.

    ``phrases[key]`` is ``(strength, global value ids)``: the strongest way ``key`` names values
    (:data:`EXPLICIT` .. :data:`WEAK`); several ids only when the lexicon lists one phrase under
    values of different attributes.
    """

    schema: AttributeSchema
    phrases: Mapping[str, tuple[int, tuple[int, ...]]]
    max_words: int
    """Longest phrase, in words."""
    brand_bases: Mapping[str, tuple[int, int]]
    """Brand phrase key -> (adult line id, children's line id) where a brand has both."""
    common_brand_keys: frozenset[str]
    """Keys of brands that are ordinary words."""
    measures: tuple[tuple[Measure, int], ...]
    """``(measure, attribute index)`` for each measured attribute of the schema."""
    parents: Mapping[int, tuple[int, frozenset[str]]]
    """Value id -> (its parent value's id, the single words that name the parent): "ankle
    boots" says the category Boots as well as the style Ankle."""
    nouns: tuple[frozenset[str], ...]
    """Per attribute, the words that name the attribute itself ("heel", "heels" for heel
    height): such a word is no value of another attribute when the clause gives this one's."""


def _variants(key: str) -> list[str]:
    head, _, last = key.rpartition(" ")
    prefix = head + " " if head else ""
    out = [prefix + last + "s"]
    if last.endswith("s") and len(last) > 3 and not last.endswith("ss"):
        out.append(prefix + last[:-1])
    return out


def _brand_keys(name: str, suffix: str) -> list[str]:
    """Keys a brand is called by: its name, without the children's suffix, without 'by X',
    without trailing 'shoes' / 'footwear' / 'collection', or run together."""
    key = phrase_key(name)
    out = [key]
    base = key
    if suffix and base.endswith(" " + suffix.lower()):
        base = base[: -len(suffix) - 1]
    base = re.sub(r" by .*$", "", base)
    base = re.sub(r" (shoes|footwear|collection|usa)$", "", base)
    if base and base != key:
        out.append(base)
    squashed = key.replace(" ", "")
    if squashed != key and len(squashed) >= 5:
        out.append(squashed)
    return out


def phrase_index(schema: AttributeSchema, lexicon: Lexicon | None = None) -> PhraseIndex:
    """Every phrase naming a value of ``schema`` (see :class:`PhraseIndex`)."""
    return _phrase_index(schema, lexicon or load_lexicon())


class _Claims:
    """Phrase -> values, keeping the strongest claim; equal claims from two values of one
    attribute make the phrase ambiguous (dropped), from different attributes name both."""

    def __init__(self) -> None:
        self.best: dict[str, tuple[int, set[int], set[int]]] = {}

    def add(self, key: str, strength: int, vid: int, k: int) -> None:
        if not key:
            return
        have = self.best.get(key)
        if have is None or strength > have[0]:
            self.best[key] = (strength, {vid}, {k})
        elif strength == have[0] and vid not in have[1] and have[0] >= 0:
            if k in have[2] and strength != EXPLICIT:
                self.best[key] = (-1, set(), set())
            else:
                have[1].add(vid)
                have[2].add(k)

    def phrases(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        return {k: (s, tuple(sorted(ids))) for k, (s, ids, _) in self.best.items() if s >= 0}


def _index_values(
    attr: Attribute,
    entry: AttributeLexicon | None,
    names: Mapping[str, int],
    k: int,
    claims: _Claims,
    common_words: frozenset[str],
) -> None:
    """An attribute's explicit, weak and own-name phrases, and their singular/plural variants
    (never a common word, never of a "no ..." phrase)."""
    for value, vid in names.items():
        explicit = [phrase_key(p) for p in (entry.values.get(value, ()) if entry else ())]
        weak = {phrase_key(p) for p in (entry.weak.get(value, ()) if entry else ())}
        own = [phrase_key(clean_value(value))]
        if (entry and value in entry.no_name) or own[0] in weak:
            own = []
        for key in explicit:
            claims.add(key, EXPLICIT, vid, k)
        for key in weak:
            claims.add(key, WEAK, vid, k)
        for key in own:
            claims.add(key, NAME, vid, k)
        for key in explicit + own:
            if key.split()[0] in ("no", "without", "not"):
                continue
            for v in _variants(key):
                if v not in common_words and v not in weak:
                    claims.add(v, VARIANT, vid, k)


def _parents(
    schema: AttributeSchema, lexicon: Lexicon, phrases: Mapping[str, tuple[int, tuple[int, ...]]]
) -> dict[int, tuple[int, frozenset[str]]]:
    words_of: dict[int, set[str]] = {}
    for key, (strength, ids) in phrases.items():
        if strength != WEAK and " " not in key:
            for v in ids:
                words_of.setdefault(v, set()).add(key)
    out = {}
    for k, attr in enumerate(schema.attributes):
        entry = lexicon.entry(attr)
        if entry is None or entry.parent is None or entry.parent[0] not in schema.names:
            continue
        pk = schema.index(entry.parent[0])
        for value, parent in entry.parent[1].items():
            if value in attr.values and parent in schema.attributes[pk].values:
                pv = schema.value_index(pk, parent)
                out[schema.value_index(k, value)] = (pv, frozenset(words_of.get(pv, ())))
    return out


def attribute_nouns(attr: Attribute, entry: AttributeLexicon | None) -> frozenset[str]:
    """The words naming ``attr`` itself ("heel height", "heels", "colour", "color")."""
    names = {phrase_key(attr.name.replace("_", " ")), phrase_key(attr.label)}
    names |= {phrase_key(a) for a in (entry.aliases if entry else ())}
    return frozenset(names | {v for n in names for v in _variants(n)})


@functools.lru_cache(maxsize=8)
def _phrase_index(schema: AttributeSchema, lexicon: Lexicon) -> PhraseIndex:
    claims = _Claims()
    brand_bases: dict[str, tuple[int, int]] = {}
    common: set[str] = set()
    measures = []
    for k, attr in enumerate(schema.attributes):
        entry = lexicon.entry(attr)
        if entry is not None and entry.measure is not None:
            measures.append((entry.measure, k))
        names = {v: int(schema.offsets[k]) + j for j, v in enumerate(attr.values)}
        if entry is not None and entry.kids_suffix:
            words_ = frozenset(
                p for e in lexicon.attributes for ps in e.values.values() for p in ps
            )
            _index_brands(
                attr, entry, names, k, claims, brand_bases, common, lexicon.common_words, words_
            )
        else:
            _index_values(attr, entry, names, k, claims, lexicon.common_words)
    phrases = claims.phrases()
    return PhraseIndex(
        parents=_parents(schema, lexicon, phrases),
        schema=schema,
        phrases=phrases,
        max_words=max(len(k.split()) for k in phrases) if phrases else 1,
        brand_bases=brand_bases,
        common_brand_keys=frozenset(common),
        measures=tuple(measures),
        nouns=tuple(attribute_nouns(a, lexicon.entry(a)) for a in schema.attributes),
    )


def _short_form(
    key: str, owners: set[str], brands: tuple[str, ...], suffix: str
) -> tuple[str, str | None] | None:
    """The brand a short form names, with its children's line where it has one: the only owner;
    "sperry" (only Sperry Kids's base) -> Sperry Top-Sider, the one adult brand starting so;
    "asics" (ASICS and ASICS Kids) -> ASICS; ``None`` when ambiguous."""
    kids = [v for v in owners if phrase_key(clean_value(v)).endswith(" " + suffix)]
    adults = [v for v in owners if v not in kids]
    family = [v for v in brands if phrase_key(clean_value(v)).startswith(key + " ")]
    family = [v for v in family if v not in kids]
    if len(owners) == 1 and kids and len(family) == 1:
        return family[0], kids[0]
    if len(owners) == 1:
        return next(iter(owners)), None
    if len(kids) == 1 and len(adults) == 1:
        return adults[0], kids[0]
    return None


def _index_brands(
    attr: Attribute,
    entry: AttributeLexicon,
    names: Mapping[str, int],
    k: int,
    claims: _Claims,
    brand_bases: dict[str, tuple[int, int]],
    common: set[str],
    common_words: frozenset[str],
    phrase_words: frozenset[str],
) -> None:
    """Brands: the full name is explicit; shorter forms count where only one brand has them, or
    name a brand's adult line while its children's line is kept in ``brand_bases``."""
    suffix = entry.kids_suffix.lower()
    taken = common_words | {w for e in phrase_words for w in e.split()}
    short: dict[str, set[str]] = {}
    for value in attr.values:
        for i, key in enumerate(_brand_keys(clean_value(value), suffix)):
            if i == 0:
                claims.add(key, EXPLICIT, names[value], k)
            else:
                short.setdefault(key, set()).add(value)
    full = {phrase_key(clean_value(v)): v for v in attr.values}
    for key, owners in short.items():
        if key in full or key in taken or len(key) < 3:
            continue
        line = _short_form(key, owners, attr.values, suffix)
        if line is not None:
            claims.add(key, NAME, names[line[0]], k)
            if line[1] is not None:
                brand_bases[key] = (names[line[0]], names[line[1]])
    for key, value in full.items():
        kid_key = f"{key} {suffix}"
        if kid_key in full and key not in brand_bases:
            brand_bases[key] = (names[value], names[full[kid_key]])
    for key in list(short) + list(full):
        if key in entry.common_words:
            common.add(key)
    for key, (strength, ids, _) in list(claims.best.items()):
        if strength >= NAME and len(ids) == 1 and next(iter(ids)) in set(names.values()):
            claims.add(key + "s", VARIANT, next(iter(ids)), k)  # "uggs", "timberlands"
            if key in brand_bases:
                brand_bases[key + "s"] = brand_bases[key]
