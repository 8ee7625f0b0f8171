"""Feedback phrasings as data, and the shared vocabulary.

The simulated user speaks in the habits of the paper's Table 1: it asks for a value ("I want
boots"), asks again for a value asked before ("I am looking for shoes for women" after "Please
provide some shoes for women") and asks through a negation ("I do not need the shoes without
flat"). The phrasings live in ``textrec/data/templates.json`` (what the simulator says) and
``textrec/data/paraphrases.json`` (extra phrasings the utterance model and the text encoder also
learn from). A phrasing holds ``{value}`` exactly once and may hold ``{attribute}`` (the attribute's
label). Files have the same layout::

    {"format": "textrec-phrasings/1",
     "generic_use": "fallback" | "always",
     "generic": {"request": [...], "repeat": [...], "negate": [...]},
     "attributes": {"gender": {"aliases": [...], "case": "lower" | "keep",
                               "request": [...], "repeat": [...], "negate": [...]}}}

Attribute keys and aliases match a schema's attribute names ignoring case and punctuation
(``heel_height`` = ``HeelHeight``), so catalogs with other attributes still get the generic
phrasings. With ``generic_use = "fallback"`` an attribute's own list replaces the generic one for
that mode; with ``"always"`` both are used.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textrec.catalog.schema import Attribute, AttributeSchema
from textrec.errors import InputError
from textrec.io import read_json
from textrec.language.bank import MODES
from textrec.language.tokenizer import SPECIALS, Vocabulary, tokenize

__all__ = [
    "VALUE_SLOT",
    "SLOT_ID",
    "TEMPLATES_PATH",
    "PARAPHRASES_PATH",
    "AttributePhrasings",
    "PhrasingSet",
    "parse_phrasings",
    "load_phrasings",
    "load_templates",
    "load_paraphrases",
    "render",
    "clean_value",
    "split_frame",
    "shared_vocabulary",
]

VALUE_SLOT = "<value>"
"""Token standing for the value in a sentence frame (what the utterance model generates)."""
SLOT_ID = len(SPECIALS)
"""Id of :data:`VALUE_SLOT` in every shared vocabulary (4, right after the specials)."""

_DATA = Path(__file__).resolve().parents[1] / "data"
TEMPLATES_PATH = _DATA / "templates.json"
"""The simulator's feedback templates (Table 1 style)."""
PARAPHRASES_PATH = _DATA / "paraphrases.json"
"""Extra hand-written phrasings used only as training text for the utterance model and encoder."""

_FORMAT = "textrec-phrasings/1"
_CASES = ("lower", "keep")
_GENERIC_USES = ("fallback", "always")
_MARKS = re.compile("[\u00ae\u2122\u00a9]")  # ® ™ ©
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# A placeholder stands on its own (after start/space/quote/bracket, before end/space/punctuation)
# so the tokens of a rendered sentence are exactly frame tokens + value tokens.
_BOUNDARY = r"(?:^|(?<=[\s(\"])){%s}(?=$|[\s,?!;:)\"]|\.(?:$|\s))"


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class AttributePhrasings:
    """The phrasings a file gives one attribute."""

    key: str
    """Attribute name as written in the file, e.g. ``"heel_height"``."""
    aliases: tuple[str, ...]
    """Other attribute names this entry serves, e.g. ``("heelheight",)``."""
    case: str
    """``"lower"``: values are written in lower case (``"round toe"``); ``"keep"``: as they are."""
    modes: tuple[tuple[str, ...], ...]
    """Phrasings per mode, in ``MODES`` order (empty: use the generic list)."""


@dataclass(frozen=True)
class PhrasingSet:
    """A validated phrasing file (see the module docstring for its layout)."""

    source: str
    """The file it came from (named in error messages)."""
    generic: tuple[tuple[str, ...], ...]
    """Phrasings for any attribute, per mode."""
    generic_use: str
    """``"fallback"`` (generic only where an attribute has no list of its own) or ``"always"``."""
    attributes: tuple[AttributePhrasings, ...]
    """Attribute-specific entries."""
    _by_key: Mapping[str, AttributePhrasings] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_key: dict[str, AttributePhrasings] = {}
        for entry in self.attributes:
            for name in (entry.key, *entry.aliases):
                norm = _normalise(name)
                if by_key.get(norm, entry) is not entry:
                    raise InputError(
                        f"{self.source}: attributes.{entry.key}: name {name!r} is already "
                        f"used by attributes.{by_key[norm].key}"
                    )
                by_key[norm] = entry
        object.__setattr__(self, "_by_key", by_key)

    def entry(self, attribute: Attribute | str) -> AttributePhrasings | None:
        """The entry serving ``attribute`` (matched by name, then label), or ``None``."""
        names = [attribute] if isinstance(attribute, str) else [attribute.name, attribute.label]
        for name in names:
            found = self._by_key.get(_normalise(name))
            if found is not None:
                return found
        return None

    def phrasings(self, attribute: Attribute | str, mode: int) -> tuple[str, ...]:
        """Phrasings of ``attribute`` in ``mode`` (attribute-specific, generic, or both)."""
        entry = self.entry(attribute)
        own = entry.modes[mode] if entry is not None else ()
        if self.generic_use == "always":
            return own + tuple(t for t in self.generic[mode] if t not in own)
        return own or self.generic[mode]

    def case(self, attribute: Attribute | str) -> str:
        """How ``attribute``'s values are written (``"lower"`` unless its entry says ``"keep"``)."""
        entry = self.entry(attribute)
        return entry.case if entry is not None else "lower"

    def surface(self, attribute: Attribute | str, value: str) -> str:
        """How the user writes ``value``: ``"Round Toe"`` -> ``"round toe"``, brands as they are.

        HTML entities and trademark signs of catalog data are dropped first (:func:`clean_value`).
        """
        value = clean_value(value)
        return value.lower() if self.case(attribute) == "lower" else value


def clean_value(value: str) -> str:
    """A catalog value as a person would type it: ``"Levi's&#174; Kids"`` -> ``"Levi's Kids"``."""
    return " ".join(_MARKS.sub(" ", html.unescape(value)).split())


def _phrase_list(obj: Any, where: str) -> tuple[str, ...]:
    if not isinstance(obj, list) or not obj:
        raise InputError(f"{where}: must be a non-empty list of phrasings")
    out = []
    for i, text in enumerate(obj):
        _check_phrasing(text, f"{where}[{i}]")
        out.append(text)
    if len(set(out)) != len(out):
        dup = sorted({t for t in out if out.count(t) > 1})
        raise InputError(f"{where}: duplicate phrasings {dup}")
    return tuple(out)


def _check_phrasing(text: Any, where: str) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{where}: must be a non-empty string, got {text!r}")
    names = _PLACEHOLDER.findall(text)
    bad = sorted({n for n in names if n not in ("value", "attribute")})
    if bad:
        raise InputError(
            f"{where}: unknown placeholder(s) {bad} in {text!r}; use {{value}} and {{attribute}}"
        )
    if names.count("value") != 1:
        raise InputError(f"{where}: {text!r} must contain {{value}} exactly once")
    if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
        raise InputError(f"{where}: stray brace in {text!r}")
    for name in set(names):
        if len(re.findall(_BOUNDARY % name, text)) != names.count(name):
            raise InputError(
                f"{where}: {{{name}}} in {text!r} must be a separate word "
                "(space or start before it; space, end or punctuation after it)"
            )


def _mode_lists(obj: Mapping[str, Any], where: str, required: bool) -> tuple[tuple[str, ...], ...]:
    unknown = sorted(set(obj) - set(MODES) - {"aliases", "case"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; modes are {list(MODES)}")
    out = []
    for mode in MODES:
        if mode in obj:
            out.append(_phrase_list(obj[mode], f"{where}.{mode}"))
        elif required:
            raise InputError(f"{where}: missing mode {mode!r}")
        else:
            out.append(())
    return tuple(out)


def _attribute_entry(key: str, obj: Any, where: str) -> AttributePhrasings:
    if not isinstance(obj, dict):
        raise InputError(f"{where}: must be an object with modes {list(MODES)}")
    aliases = obj.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise InputError(f"{where}.aliases: must be a list of non-empty strings, got {aliases!r}")
    case = obj.get("case", "lower")
    if case not in _CASES:
        raise InputError(f"{where}.case: must be one of {list(_CASES)}, got {case!r}")
    modes = _mode_lists(obj, where, required=False)
    if not any(modes):
        raise InputError(f"{where}: gives no phrasings for any mode of {list(MODES)}")
    return AttributePhrasings(key=key, aliases=tuple(aliases), case=case, modes=modes)


def parse_phrasings(obj: Any, source: str) -> PhrasingSet:
    """Validate the parsed JSON ``obj`` of a phrasing file; errors name ``source`` and the key."""
    if not isinstance(obj, dict):
        raise InputError(f"{source}: top level must be a JSON object")
    if obj.get("format") != _FORMAT:
        raise InputError(f"{source}: format must be {_FORMAT!r}, got {obj.get('format')!r}")
    generic_use = obj.get("generic_use", "fallback")
    if generic_use not in _GENERIC_USES:
        raise InputError(
            f"{source}: generic_use must be one of {list(_GENERIC_USES)}, got {generic_use!r}"
        )
    if not isinstance(obj.get("generic"), dict):
        raise InputError(f"{source}: generic: missing or not an object with modes {list(MODES)}")
    generic = _mode_lists(obj["generic"], f"{source}: generic", required=True)
    attrs = obj.get("attributes", {})
    if not isinstance(attrs, dict):
        raise InputError(f"{source}: attributes must be an object keyed by attribute name")
    entries = tuple(_attribute_entry(k, v, f"{source}: attributes.{k}") for k, v in attrs.items())
    return PhrasingSet(source=source, generic=generic, generic_use=generic_use, attributes=entries)


@functools.lru_cache(maxsize=16)
def load_phrasings(path: str | Path) -> PhrasingSet:
    """Read and validate a phrasing file (cached per path; the result is immutable)."""
    return parse_phrasings(read_json(path), str(path))


def load_templates(path: str | Path | None = None) -> PhrasingSet:
    """The simulator's templates: ``path`` or the packaged ``templates.json``."""
    return load_phrasings(Path(path) if path is not None else TEMPLATES_PATH)


def load_paraphrases(path: str | Path | None = None) -> PhrasingSet:
    """The extra training phrasings: ``path`` or the packaged ``paraphrases.json``."""
    return load_phrasings(Path(path) if path is not None else PARAPHRASES_PATH)


def _label(attribute: Attribute | str) -> str:
    return attribute.label if isinstance(attribute, Attribute) else attribute.replace("_", " ")


def split_frame(template: str, attribute: Attribute | str) -> tuple[str, str]:
    """Fill ``{attribute}`` and split ``template`` around ``{value}``: ``(before, after)``."""
    before, after = template.replace("{attribute}", _label(attribute)).split("{value}")
    return before, after


def render(template: str, attribute: Attribute | str, value: str) -> str:
    """Fill a template: ``render("Please provide some shoes for {value}.", gender, "women")``.

    ``value`` is written as given (see :meth:`PhrasingSet.surface` for the user's spelling);
    ``{attribute}`` becomes the attribute's label and the first letter is capitalised.

    Example:
        >>> render("The {attribute} I want is {value}.", "toe_style", "round toe")
        'The toe style I want is round toe.'
    """
    before, after = split_frame(template, attribute)
    text = before + value + after
    return text[:1].upper() + text[1:]


def shared_vocabulary(
    schema: AttributeSchema,
    templates: PhrasingSet | None = None,
    paraphrases: PhrasingSet | None = None,
) -> Vocabulary:
    """The one vocabulary of the simulator, the utterance model and the text encoder for ``schema``.

    It holds every word of the full corpus (every template and paraphrase of every attribute of
    the schema, rendered with every value) plus :data:`VALUE_SLOT`, in a fixed order, so the same
    schema and phrasing files always give the same ids. Built from the phrasings' words and the
    values' words, which is the same set as the rendered corpus's (placeholders are separate words).
    """
    sets = (templates or load_templates(), paraphrases or load_paraphrases())
    words: dict[str, None] = {}
    for attr in schema.attributes:
        for phr in sets:
            for mode in range(len(MODES)):
                for template in phr.phrasings(attr, mode):
                    for piece in split_frame(template, attr):
                        words.update(dict.fromkeys(tokenize(piece)))
        for value in attr.values:
            words.update(dict.fromkeys(tokenize(sets[0].surface(attr, value))))
    return Vocabulary(SPECIALS + (VALUE_SLOT,) + tuple(w for w in words if w not in SPECIALS))
