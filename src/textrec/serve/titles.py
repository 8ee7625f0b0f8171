"""Items in words, as a shop shows them: a one-line title and each value named for a shopper.

The names of attributes and values come from :mod:`textrec.serve.labels`; this module puts them
together. A title reads who the shoe is for, what it is, then its other values in schema order:
``"Women's ankle boots, heel 2 to 3 inches, zipper, round toe"`` (multi-valued values joined
with ``&``). A subcategory that is not a
noun of its own (``Ankle``, ``Flat``) takes its category's (``ankle boots``, ``flat sandals``).

Example:
    >>> from textrec.catalog.builtin import build_builtin
    >>> words = CatalogWords(build_builtin(n_items=60, seed=0))
    >>> words.item(2).title
    "Men's ankle boots, heel under 1 inch, pull-on & zipper, almond toe"
    >>> words.feedback_hint
    'e.g. not slip-on, pointed toe'

"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from textrec.catalog.catalog import Catalog
from textrec.serve.labels import attribute_label, value_label

__all__ = ["CatalogWords", "ItemWords"]

WHO, WHAT, KIND, BRAND = "gender", "subcategory", "category", "brand"
"""Attributes a title starts with: who it is for, what it is (subcategory, else category), and
by whom ("Ankle boots by Frye")."""
_HINT_VALUES = 30
"""Attributes with more values than this (brands) are left out of the example sentences."""
_CACHE_ITEMS = 4096


@dataclass(frozen=True)
class ItemWords:
    """An item in words."""

    title: str
    """One line: ``"Women's ankle boots, heel 2 to 3 inches, zipper"``."""
    labels: dict[str, str]
    """Attribute label -> its value(s) in words (``"lace-up, slip-on"``); missing ones left out."""


def _possessive(word: str) -> str:
    return f"{word}'" if word.endswith("s") else f"{word}'s"


class CatalogWords:
    """Titles and labels of a catalog's items, and example sentences that only use its values."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.schema = catalog.schema
        self.item = functools.lru_cache(maxsize=_CACHE_ITEMS)(self._item)

    def attribute(self, name: str) -> str:
        """An attribute's label (``"heel height"``)."""
        return attribute_label(self.schema, name)

    def value(self, name: str, value: str) -> str:
        """A value in words (``"lace-up"``; a brand as it writes itself)."""
        return value_label(self.schema, name, value)

    def _values(self, stored: dict[str, str]) -> dict[str, list[str]]:
        """Attribute name -> its values in words, from ``;``-joined stored values."""
        return {
            name: [self.value(name, v) for v in text.split(";")]
            for name, text in stored.items()
            if text
        }

    def title(self, stored: dict[str, str]) -> str:
        """The title of an item whose values (attribute name -> ``;``-joined) are ``stored``."""
        words = self._values(stored)
        head = []
        if WHO in words:
            head.append(" & ".join(_possessive(w) for w in words[WHO]))
        what = words.get(WHAT, words.get(KIND, ["shoes"]))[0]
        kind = words.get(KIND, [""])[0]
        if kind and not what.endswith("s") and kind.rstrip("s") not in what:
            what = f"{what} {kind}"  # "ankle" -> "ankle boots"
        head.append(what)
        if BRAND in words:
            head.append(f"by {' & '.join(words[BRAND])}")
        rest = [
            " & ".join(self._phrase(name, w) for w in words[name])
            for name in self.schema.names
            if name in words and name not in (WHO, WHAT, KIND, BRAND)
        ]
        line = ", ".join([" ".join(head), *rest])
        return line[:1].upper() + line[1:]

    def _phrase(self, name: str, value: str) -> str:
        """A value as a title reads it: ``heel 2 to 3 inches``, ``almond toe``, ``zipper``."""
        noun, *rest = self.attribute(name).split()
        if any(c.isdigit() for c in value):
            return f"{noun} {value}"
        return f"{value} {noun}" if rest == ["style"] and noun not in value else value

    def _item(self, index: int) -> ItemWords:
        stored = self.catalog.label_text(index)
        labels = {
            self.attribute(name): ", ".join(values) for name, values in self._values(stored).items()
        }
        return ItemWords(self.title(stored), labels)

    @functools.cached_property
    def _common(self) -> list[list[str]]:
        """Per attribute, its values from the most to the least common (labelled items)."""
        out = []
        for k, attr in enumerate(self.schema.attributes):
            known = self.catalog.labels[:, k]
            counts = np.bincount(known[known >= 0], minlength=len(attr.values))
            out.append([attr.values[i] for i in np.argsort(-counts, kind="stable")])
        return out

    @property
    def describe_hint(self) -> str:
        """An opening sentence from the most common values: ``"e.g. women's sneakers"``."""
        names = self.schema.names
        stored = {n: self._common[k][0] for k, n in enumerate(names) if n in (WHO, WHAT, KIND)}
        return f"e.g. {self.title(stored).lower()}" if stored else "e.g. something comfortable"

    @property
    def feedback_hint(self) -> str:
        """A feedback sentence: refuse the commonest value of one attribute, ask for another's
        runner-up (``"e.g. not lace-up, pointed toe"``); only values the catalog has."""
        names = self.schema.names
        order = [k for k, n in enumerate(names) if n not in (WHO, WHAT, KIND)]
        order += [k for k, n in enumerate(names) if n in (WHAT, KIND)]
        order = [
            k
            for k in order
            if 1 < len(self._common[k]) <= _HINT_VALUES
            and not any(c.isdigit() for v in self._common[k][:2] for c in v)
        ]
        parts = []
        if order:
            parts.append(f"not {self.value(names[order[0]], self._common[order[0]][0])}")
        if len(order) > 1:
            parts.append(self.value(names[order[1]], self._common[order[1]][1]))
        return f"e.g. {', '.join(parts)}" if parts else "e.g. something else"
