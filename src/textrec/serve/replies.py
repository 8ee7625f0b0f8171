"""What the recommender says back: every reply states what was understood, what was dropped, what
the catalog lacks and which standing requests the item on show could not satisfy.

Example:
    >>> from textrec.catalog.builtin import BUILTIN_SCHEMA
    >>> u = Understood("feedback", kept=(Want("gender", "Women", False),
    ...     Want("closure", "Lace up", True)), unsupported=("this catalog has no colour",))
    >>> reply(BUILTIN_SCHEMA, u, ())
    'Understood: women · not: lace-up closure. This catalog has no colour. Here is one.'
"""

from __future__ import annotations

from collections.abc import Sequence

from textrec.catalog.schema import AttributeSchema
from textrec.serve.labels import attribute_label, value_label
from textrec.serve.standing import Understood, Want

__all__ = ["want_label", "wants_text", "reply", "unsupported"]

_PLAIN = frozenset({"category", "subcategory", "gender"})
"""Attributes whose values name themselves ("boots", "women"); others say the attribute."""
_LACKS = "this catalog has no "


def want_label(schema: AttributeSchema, want: Want) -> str:
    """A request as a shopper reads it: ``"women"``, ``"heel height 2 to 3 inches"``,
    ``"not: lace-up closure"``, ``"round toe"``."""
    value = value_label(schema, want.attribute, want.value)
    attr = attribute_label(schema, want.attribute)
    if want.attribute in _PLAIN or set(attr.split()) & set(value.split()):
        said = value
    else:
        said = f"{value} {attr}" if " " not in attr else f"{attr} {value}"
    return f"not: {said}" if want.negated else said


def wants_text(schema: AttributeSchema, wants: Sequence[Want]) -> str:
    """Requests joined with `` · ``; the values asked for on one attribute with ``or``, the
    attribute named once."""
    parts: list[str] = []
    asked: dict[str, list[str]] = {}
    for w in wants:
        if w.negated:
            parts.append(want_label(schema, w))
            continue
        if w.attribute not in asked:
            asked[w.attribute] = [want_label(schema, w)]
            parts.append(w.attribute)
        else:  # "heel height 4 to 5 inches or 5 inches or more"
            asked[w.attribute].append(value_label(schema, w.attribute, w.value))
    return " · ".join(" or ".join(asked[p]) if p in asked else p for p in parts)


def unsupported(missing: Sequence[str]) -> tuple[str, ...]:
    """``"this catalog has no colour"`` per attribute the catalog lacks."""
    return tuple(_LACKS + name.replace("_", " ") for name in missing)


_ASK = "Tell me about the {attrs} you want."
_OFF_TOPIC = "I can only help you find shoes."


def reply(
    schema: AttributeSchema,
    understood: Understood,
    notes: Sequence[str],
    *,
    new_item: bool = True,
    standing: Sequence[Want] = (),
) -> str:
    """The recommender's words for one turn (never empty).

    Args:
        schema: the catalog's attributes (for names).
        understood: what was taken from the sentence.
        notes: extra remarks ("this heel height is already the highest").
        new_item: an item is shown for this sentence (else the reply asks).
        standing: every request standing now (said back when nothing new was understood).
    """
    u = understood
    out: list[str] = []
    if u.act == "accept":
        return "Great choice: this pair is the one. Thank you!"
    if u.act == "go_back":
        if not new_item:
            return "There is no earlier one."
        lacks = f" It does not have {wants_text(schema, u.unmet)}." if u.unmet else ""
        return f"Here it is again.{lacks}"
    if u.act == "restart":
        out.append("Starting over: your earlier requests are forgotten.")
    if u.act == "reject_all":
        out.append("None of these, then.")
    if u.act == "off_topic":
        out.append(_OFF_TOPIC)
    if u.act == "not_understood":
        out.append("Sorry, I did not understand that.")
    if u.kept:
        out.append(f"Understood: {wants_text(schema, u.kept)}.")
    if u.dropped:
        out.append(f"No longer: {wants_text(schema, u.dropped)}.")
    if u.unsupported:
        lacks = [s.removeprefix(_LACKS) for s in u.unsupported]
        names = ", ".join(lacks[:-1]) + (" or " if len(lacks) > 1 else "") + lacks[-1]
        out.append(_sentence(_LACKS + names))
    out += [_sentence(s) for s in notes]
    if u.unmet:
        out.append(f"No shoe left also has {wants_text(schema, u.unmet)}; here is the closest.")
    elif new_item:
        out.append("Here is something else." if u.act == "reject_all" else "Here is one.")
    if not new_item:
        attrs = ", ".join(a.label for a in schema.attributes)
        out.append(_ASK.format(attrs=attrs))
        if standing:
            out.append(f"So far: {wants_text(schema, standing)}.")
    return " ".join(out)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
