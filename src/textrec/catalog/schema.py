"""Attribute schema: the ordered attributes of a catalog and each one's value vocabulary.

Value indices are global across attributes: attribute ``k`` owns the half-open range
``offsets[k]:offsets[k+1]`` of a concatenated value axis of length ``n_values``. Every
per-value matrix in textrec (true label sets, AttrNet probabilities, policy heads) uses that axis.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from textrec.errors import InputError

__all__ = ["Attribute", "AttributeSchema"]


@dataclass(frozen=True)
class Attribute:
    """One attribute (e.g. ``toe_style``) and its value vocabulary."""

    name: str
    """Attribute name as used in the CLI and in logs, e.g. ``"heel_height"``."""
    values: tuple[str, ...]
    """Ordered value vocabulary, e.g. ``("Flat", "Under 1in", ...)``."""
    label: str = ""
    """Human-readable name, e.g. ``"heel height"``; defaults to the name with spaces."""
    multi_valued: bool = False
    """Whether one item may hold several values of this attribute at once."""

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("Attribute.name must be a non-empty string")
        if len(self.values) == 0:
            raise InputError(f"Attribute {self.name!r}: values must not be empty")
        if len(set(self.values)) != len(self.values):
            dup = sorted({v for v in self.values if self.values.count(v) > 1})
            raise InputError(f"Attribute {self.name!r}: duplicate values {dup}")
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))

    @property
    def size(self) -> int:
        """Number of values in the vocabulary."""
        return len(self.values)


@dataclass(frozen=True)
class AttributeSchema:
    """Ordered attributes of a catalog.

    Example:
        >>> gender = Attribute("gender", ("Men", "Women"))
        >>> s = AttributeSchema((gender, Attribute("toe", ("Round", "Open"))))
        >>> s.n_attributes, s.n_values, s.offsets.tolist()
        (2, 4, [0, 2, 4])
        >>> s.value_index("toe", "Open")
        3
    """

    attributes: tuple[Attribute, ...]
    _lookup: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.attributes) == 0:
            raise InputError("AttributeSchema needs at least one attribute")
        names = [a.name for a in self.attributes]
        if len(set(names)) != len(names):
            raise InputError(f"AttributeSchema: duplicate attribute names in {names}")
        object.__setattr__(self, "_lookup", {n: i for i, n in enumerate(names)})

    @property
    def names(self) -> tuple[str, ...]:
        """Attribute names in order."""
        return tuple(a.name for a in self.attributes)

    @property
    def n_attributes(self) -> int:
        """Number of attributes ``K``."""
        return len(self.attributes)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Vocabulary size of each attribute."""
        return tuple(a.size for a in self.attributes)

    @cached_property
    def offsets(self) -> np.ndarray:
        """``(K+1,)`` start of each attribute's block on the global value axis."""
        return np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)

    @property
    def n_values(self) -> int:
        """Total number of values over all attributes ``V``."""
        return int(self.offsets[-1])

    @cached_property
    def value_attribute(self) -> np.ndarray:
        """``(V,)`` attribute index of each global value index."""
        return np.repeat(np.arange(self.n_attributes), self.sizes)

    def index(self, name: str) -> int:
        """Position of the attribute called ``name``."""
        try:
            return self._lookup[name]
        except KeyError:
            raise InputError(f"unknown attribute {name!r}; known: {list(self.names)}") from None

    def local_value_index(self, attribute: str | int, value: str) -> int:
        """Index of ``value`` inside its attribute's vocabulary."""
        k = attribute if isinstance(attribute, int) else self.index(attribute)
        attr = self.attributes[k]
        try:
            return attr.values.index(value)
        except ValueError:
            raise InputError(
                f"unknown value {value!r} for attribute {attr.name!r}; known: {list(attr.values)}"
            ) from None

    def value_index(self, attribute: str | int, value: str) -> int:
        """Global index of ``value`` of ``attribute`` on the concatenated value axis."""
        k = attribute if isinstance(attribute, int) else self.index(attribute)
        return int(self.offsets[k]) + self.local_value_index(k, value)

    def value_name(self, global_index: int) -> tuple[str, str]:
        """``(attribute name, value)`` for a global value index."""
        k = int(self.value_attribute[global_index])
        attr = self.attributes[k]
        return attr.name, attr.values[global_index - int(self.offsets[k])]

    def to_json(self) -> dict[str, Any]:
        """JSON-ready description (round-trips through :meth:`from_json`)."""
        return {
            "attributes": [
                {
                    "name": a.name,
                    "label": a.label,
                    "multi_valued": a.multi_valued,
                    "values": list(a.values),
                }
                for a in self.attributes
            ]
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = "schema") -> AttributeSchema:
        """Build a schema from :meth:`to_json` output; errors name ``source`` and the field."""
        attrs = obj.get("attributes") if isinstance(obj, Mapping) else None
        if not isinstance(attrs, list):
            raise InputError(f"{source}: expected an object with a list 'attributes'")
        out = []
        for i, a in enumerate(attrs):
            where = f"{source}: attribute {i}"
            if not isinstance(a, Mapping):
                raise InputError(f"{where}: expected an object, got {type(a).__name__}")
            for key, kind in (("name", str), ("values", list)):
                if not isinstance(a.get(key), kind):
                    raise InputError(
                        f"{where}: field {key!r} must be a {kind.__name__}, got {a.get(key)!r}"
                    )
            if not all(isinstance(v, str) for v in a["values"]):
                raise InputError(f"{where}: field 'values' must hold strings only")
            if not isinstance(a.get("label", ""), str) or not isinstance(
                a.get("multi_valued", False), bool
            ):
                raise InputError(f"{where}: 'label' must be a string and 'multi_valued' a bool")
            try:
                out.append(
                    Attribute(
                        name=a["name"],
                        values=tuple(a["values"]),
                        label=a.get("label", ""),
                        multi_valued=a.get("multi_valued", False),
                    )
                )
            except InputError as exc:
                raise InputError(f"{where}: {exc}") from exc
        try:
            return cls(tuple(out))
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from exc
