"""Human-readable attribute and value names (textrec.serve.labels)."""

from __future__ import annotations

import pytest

from textrec.catalog.builtin import BUILTIN_SCHEMA
from textrec.errors import InputError
from textrec.serve.labels import attribute_label, value_label


@pytest.mark.parametrize(
    ("attribute", "value", "label"),
    [
        ("heel_height", "Flat", "flat"),
        ("heel_height", "Under 1in", "under 1 inch"),
        ("heel_height", "1in - 1 3/4in", "1 to 2 inches"),
        ("heel_height", "2in - 2 3/4in", "2 to 3 inches"),
        ("heel_height", "5in & over", "5 inches or more"),
        ("closure", "Lace up", "lace-up"),
        ("closure", "Slip-On", "slip-on"),
        ("closure", "Hook and Loop", "hook and loop (velcro)"),
        ("gender", "Women", "women"),
        ("subcategory", "Mid-Calf", "mid-calf"),
        ("toe_style", "Round Toe", "round toe"),
    ],
)
def test_values_are_named_as_a_shopper_reads_them(attribute, value, label):
    assert value_label(BUILTIN_SCHEMA, attribute, value) == label


def test_brands_keep_their_spelling():
    from textrec.catalog import Attribute, AttributeSchema

    schema = AttributeSchema((Attribute("brand", ("Dr. Martens", "UGG")),))
    assert value_label(schema, "brand", "Dr. Martens") == "Dr. Martens"


def test_attribute_labels_come_from_the_schema():
    assert attribute_label(BUILTIN_SCHEMA, "heel_height") == "heel height"
    assert attribute_label(BUILTIN_SCHEMA, "toe_style") == "toe style"


def test_unknown_attribute_or_value_is_an_input_error():
    with pytest.raises(InputError, match="colour"):
        attribute_label(BUILTIN_SCHEMA, "colour")
    with pytest.raises(InputError, match="Lace up;Slip-On"):
        value_label(BUILTIN_SCHEMA, "closure", "Lace up;Slip-On")  # the caller splits on ";"
