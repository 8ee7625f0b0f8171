"""Human-readable names of attributes and values, as a shopper reads them.

The catalog keeps the data source's spelling ("Lace up", "2in - 2 3/4in", "Women"); a page or a
chat shows "lace-up", "2 to 3 inches", "women". A multi-valued stored value ("Lace up;Slip-On")
is split by the caller on ``;`` and each part named on its own.

Example:
    >>> from textrec.catalog.builtin import BUILTIN_SCHEMA
    >>> attribute_label(BUILTIN_SCHEMA, "heel_height"), value_label(BUILTIN_SCHEMA, "heel_height",
    ...     "2in - 2 3/4in")
    ('heel height', '2 to 3 inches')
    >>> value_label(BUILTIN_SCHEMA, "closure", "Lace up"), value_label(BUILTIN_SCHEMA, "gender",
    ...     "Women")
    ('lace-up', 'women')
"""

from __future__ import annotations

import re

from textrec.catalog.schema import AttributeSchema

__all__ = ["attribute_label", "value_label"]

_SPECIAL = {
    "lace up": "lace-up",
    "5in & over": "5 inches or more",
    "under 1in": "under 1 inch",
    "hook and loop": "hook and loop (velcro)",
}
_BIN = re.compile(r"^(\d+)in - \1 3/4in$")
_INCHES = re.compile(r"(\d+(?:\.\d+)?)\s*in\b")


def attribute_label(schema: AttributeSchema, attribute: str) -> str:
    """What ``attribute`` is called ("heel height", "toe style"); InputError when unknown."""
    return schema.attributes[schema.index(attribute)].label


def value_label(schema: AttributeSchema, attribute: str, value: str) -> str:
    """What ``value`` of ``attribute`` is called ("lace-up", "2 to 3 inches", "women"; brands
    as spelt).

    Raises:
        InputError: ``attribute`` is not in ``schema`` or ``value`` is not one of its values.
    """
    schema.local_value_index(attribute, value)
    if attribute == "brand":
        return value  # a name: "Dr. Martens", "UGG"
    low = value.strip().lower()
    if low in _SPECIAL:
        return _SPECIAL[low]
    heel_bin = _BIN.match(low)
    if heel_bin:
        start = int(heel_bin.group(1))
        return f"{start} to {start + 1} inches"
    return _INCHES.sub(r"\1 inches", low)
