"""The built-in catalog: synthetic shoes with UT-Zappos50K's six attributes, generated from a seed.

It ships with textrec, needs no download and holds no third-party data. Items carry the paper's
attributes (category, subcategory, heel height, closure, gender, toe style) with the official
vocabularies, drawn per subcategory from hand-written profiles that mimic the real catalog:

* subcategory shares follow the square root of the real counts, floored at 8 so that rare ones
  appear; the category is the subcategory's parent;
* heel heights depend on the subcategory (heels 2in and up, baby shoes flat) and are lower for men
  and boys; closure and toe style depend on the subcategory (oxfords lace up, boots are rarely
  open-toed, sandals mostly open toe with ankle straps or buckles);
* gender is skewed per subcategory; some adult items are unisex (``Men;Women``) and some kids'
  items ``Boys;Girls``; closures (``Lace up;Zipper``) and toe styles are sometimes two-valued;
* optional labels are sometimes missing (heel 8%, closure 6%, gender 2%, toe style 15%).

Visual features (``feature_dim``, default 64) are a noisy sum of per-value embeddings, each
attribute with its own visibility (category clearest, gender faintest), plus a nuisance colour and
Gaussian noise, so AttrNet learns attributes imperfectly (held-out accuracy about 0.6 to 0.95).

:func:`render_builtin_image` draws an item: a side view shaped by category, subcategory, heel
height and toe style, filled with the item's colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from textrec.catalog.catalog import Catalog, uninformed_predictions
from textrec.catalog.schema import Attribute, AttributeSchema
from textrec.catalog.zappos import (
    COLOUR_NAMES,
    OFFICIAL_VOCABULARIES,
    PAPER_ATTRIBUTES,
    SUBCATEGORY_CATEGORY,
    paper_split,
)
from textrec.errors import InputError

__all__ = ["BUILTIN_SCHEMA", "GENERATOR_VERSION", "build_builtin", "render_builtin_image"]

GENERATOR_VERSION = 1
"""Bump when the generated items change (part of the on-disk cache key)."""

BUILTIN_SCHEMA = AttributeSchema(
    tuple(
        Attribute(name, OFFICIAL_VOCABULARIES[name], label, multi)
        for name, label, multi in PAPER_ATTRIBUTES
    )
)
"""The paper's six attributes with the official UT-Zappos50K vocabularies."""

_GENDER_CODE = {"M": "Men", "W": "Women", "B": "Boys", "G": "Girls"}
_HEELS = OFFICIAL_VOCABULARIES["heel_height"]


@dataclass(frozen=True)
class _Profile:
    """How items of one subcategory look: real count and value weights per attribute."""

    count: int
    """Items of this subcategory in UT-Zappos50K."""
    gender: dict[str, float]
    """Weights over ``M``/``W``/``B``/``G``."""
    heel: dict[int, float]
    """Weights over heel-height indices (0 Flat ... 6 5in & over)."""
    closure: dict[str, float]
    """Weights over closures."""
    toe: dict[str, float]
    """Weights over toe styles."""
    unisex: float = 0.05
    """Probability that an adult item is for men and women."""


_PROFILES: dict[str, _Profile] = {
    "Ankle": _Profile(
        5855,
        {"M": 3, "W": 6, "B": 0.5, "G": 0.5},
        {0: 1, 1: 3, 2: 4, 3: 3, 4: 2, 5: 1},
        {"Zipper": 4, "Lace up": 3, "Pull-on": 3, "Elastic Gore": 2, "Buckle": 1},
        {
            "Round Toe": 6,
            "Almond": 2,
            "Pointed Toe": 2,
            "Square Toe": 1,
            "Capped Toe": 1,
            "Moc Toe": 1,
            "Wide Toe Box": 0.5,
        },
    ),
    "Knee High": _Profile(
        2202,
        {"M": 0.3, "W": 9, "G": 1},
        {0: 1, 1: 2, 2: 3, 3: 3, 4: 3, 5: 1},
        {"Zipper": 5, "Pull-on": 4, "Buckle": 1, "Lace up": 1},
        {"Round Toe": 6, "Almond": 2, "Pointed Toe": 2, "Square Toe": 1},
    ),
    "Mid-Calf": _Profile(
        4724,
        {"M": 3, "W": 6, "B": 1, "G": 1},
        {0: 2, 1: 3, 2: 4, 3: 2, 4: 1},
        {"Pull-on": 4, "Zipper": 4, "Lace up": 3, "Buckle": 1},
        {
            "Round Toe": 6,
            "Square Toe": 2,
            "Pointed Toe": 1,
            "Capped Toe": 1,
            "Snip Toe": 1,
            "Moc Toe": 1,
        },
    ),
    "Over the Knee": _Profile(
        49,
        {"W": 1},
        {1: 1, 2: 2, 3: 2, 4: 3, 5: 2, 6: 1},
        {"Zipper": 3, "Pull-on": 3, "Lace up": 1},
        {"Round Toe": 3, "Almond": 2, "Pointed Toe": 3},
    ),
    "Prewalker Boots": _Profile(
        2,
        {"B": 1, "G": 1},
        {0: 1},
        {"Hook and Loop": 3, "Pull-on": 2, "Lace up": 1, "Slip-On": 1},
        {"Round Toe": 1},
    ),
    "Athletic": _Profile(
        14,
        {"M": 2, "W": 2, "B": 1, "G": 1},
        {0: 3, 1: 2},
        {"Hook and Loop": 4, "Buckle": 2, "Slip-On": 1, "Bungee": 1},
        {"Open Toe": 5, "Closed Toe": 2, "Round Toe": 1},
        unisex=0.15,
    ),
    "Flat": _Profile(
        5601,
        {"M": 1, "W": 6, "B": 0.5, "G": 1},
        {0: 5, 1: 4, 2: 1},
        {
            "Slip-On": 4,
            "Ankle Strap": 3,
            "Buckle": 3,
            "Sling Back": 2,
            "Hook and Loop": 1,
            "Toggle": 0.5,
            "Button Loop": 0.5,
        },
        {"Open Toe": 8, "Peep Toe": 1, "Round Toe": 1},
    ),
    "Heel": _Profile(
        126,
        {"W": 1},
        {3: 2, 4: 3, 5: 3, 6: 2},
        {
            "Ankle Strap": 5,
            "Buckle": 3,
            "Sling Back": 3,
            "Slip-On": 2,
            "Ankle Wrap": 2,
            "Zipper": 1,
        },
        {"Open Toe": 6, "Peep Toe": 3, "Pointed Toe": 0.5},
    ),
    "Boat Shoes": _Profile(
        629,
        {"M": 6, "W": 3, "B": 0.5, "G": 0.3},
        {0: 2, 1: 5, 2: 1},
        {"Lace up": 7, "Slip-On": 2},
        {"Moc Toe": 6, "Round Toe": 3},
        unisex=0.15,
    ),
    "Clogs and Mules": _Profile(
        1427,
        {"M": 2, "W": 5, "B": 0.5, "G": 0.5},
        {0: 1, 1: 2, 2: 3, 3: 3, 4: 1},
        {"Slip-On": 8, "Buckle": 1, "Sling Back": 1},
        {"Round Toe": 6, "Closed Toe": 2, "Square Toe": 1, "Peep Toe": 1},
        unisex=0.15,
    ),
    "Crib Shoes": _Profile(
        23,
        {"B": 1, "G": 1},
        {0: 1},
        {"Hook and Loop": 3, "Slip-On": 3, "Elastic Gore": 1, "Button Loop": 1},
        {"Round Toe": 5, "Closed Toe": 1},
    ),
    "Firstwalker": _Profile(
        369,
        {"B": 1, "G": 1},
        {0: 3, 1: 1},
        {"Hook and Loop": 5, "Lace up": 2, "Buckle": 1, "Slip-On": 1},
        {"Round Toe": 5, "Closed Toe": 1, "Bump Toe": 1},
    ),
    "Flats": _Profile(
        3994,
        {"W": 8, "G": 1.5},
        {0: 6, 1: 4},
        {"Slip-On": 7, "Ankle Strap": 1, "Buckle": 1, "Elastic Gore": 0.5},
        {
            "Round Toe": 5,
            "Pointed Toe": 2,
            "Almond": 2,
            "Square Toe": 1,
            "Peep Toe": 0.5,
            "Snub Toe": 0.3,
        },
    ),
    "Heels": _Profile(
        5703,
        {"W": 1},
        {3: 3, 4: 4, 5: 3, 6: 2},
        {"Slip-On": 6, "Ankle Strap": 3, "Sling Back": 2, "Buckle": 1},
        {"Pointed Toe": 4, "Round Toe": 3, "Almond": 3, "Peep Toe": 2, "Square Toe": 0.5},
    ),
    "Loafers": _Profile(
        2875,
        {"M": 6, "W": 4, "B": 0.3, "G": 0.3},
        {0: 2, 1: 5, 2: 2},
        {"Slip-On": 9, "Monk Strap": 0.5},
        {"Moc Toe": 4, "Round Toe": 4, "Square Toe": 1, "Bicycle Toe": 1, "Algonquin": 1},
    ),
    "Oxfords": _Profile(
        2044,
        {"M": 7, "W": 3, "B": 0.5, "G": 0.3},
        {0: 1, 1: 5, 2: 3},
        {"Lace up": 9, "Monk Strap": 1},
        {
            "Capped Toe": 4,
            "Wingtip": 3,
            "Round Toe": 3,
            "Medallion": 1,
            "Bicycle Toe": 1,
            "Center Seam": 0.5,
            "Square Toe": 0.5,
        },
    ),
    "Prewalker": _Profile(
        249,
        {"B": 1, "G": 1},
        {0: 1},
        {"Hook and Loop": 3, "Slip-On": 3, "Lace up": 1, "Elastic Gore": 1},
        {"Round Toe": 5, "Closed Toe": 1},
    ),
    "Sneakers and Athletic Shoes": _Profile(
        12856,
        {"M": 5, "W": 5, "B": 1.5, "G": 1.5},
        {0: 2, 1: 6, 2: 2},
        {"Lace up": 8, "Hook and Loop": 2, "Slip-On": 1, "Bungee": 1},
        {"Round Toe": 6, "Bump Toe": 2, "Closed Toe": 1, "Wide Toe Box": 1},
        unisex=0.15,
    ),
    "Boot": _Profile(
        14,
        {"M": 3, "W": 5, "B": 1, "G": 1},
        {0: 4, 1: 2},
        {"Pull-on": 3, "Slip-On": 3},
        {"Round Toe": 1},
        unisex=0.15,
    ),
    "Slipper Flats": _Profile(
        1259,
        {"M": 4, "W": 5, "B": 1, "G": 1},
        {0: 5, 1: 3},
        {"Slip-On": 8, "Hook and Loop": 1},
        {"Round Toe": 4, "Closed Toe": 1, "Moc Toe": 1, "Open Toe": 1},
        unisex=0.15,
    ),
    "Slipper Heels": _Profile(
        10,
        {"W": 1},
        {2: 2, 3: 2, 4: 1},
        {"Slip-On": 1},
        {"Round Toe": 2, "Open Toe": 1, "Peep Toe": 1},
    ),
}

_MISSING = {"heel_height": 0.08, "closure": 0.06, "gender": 0.02, "toe_style": 0.15}
"""Probability that an optional label is missing."""
_SECOND = {"closure": 0.15, "toe_style": 0.10}
"""Probability of a second value for multi-valued attributes (gender has its own rule)."""
_VISIBILITY = {
    "category": 1.0,
    "subcategory": 0.8,
    "heel_height": 0.8,
    "closure": 0.95,
    "gender": 0.5,
    "toe_style": 1.0,
}
"""Scale of each attribute's embedding in the features: how visible it is in the image."""
_NOISE = 3.0
"""Standard deviation of the per-dimension feature noise."""
_COLOUR_VISIBILITY = 0.9
"""Scale of the nuisance colour embedding."""
_COLOUR_RGB = np.array(
    [
        (30, 30, 30),
        (240, 240, 236),
        (140, 140, 140),
        (120, 75, 40),
        (215, 195, 160),
        (190, 35, 40),
        (235, 150, 175),
        (235, 125, 40),
        (235, 205, 60),
        (60, 130, 70),
        (45, 85, 170),
        (115, 60, 145),
    ],
    dtype=np.uint8,
)
"""Drawing colour of each of :data:`COLOUR_NAMES`."""


def _weights(subcats: tuple[str, ...], values: tuple[str, ...], pick: str) -> np.ndarray:
    """``(S, V)`` row-normalised weights of one attribute's values per subcategory."""
    out = np.zeros((len(subcats), len(values)))
    for s, name in enumerate(subcats):
        spec = getattr(_PROFILES[name], pick)
        for key, w in spec.items():
            out[s, key if isinstance(key, int) else values.index(_GENDER_CODE.get(key, key))] = w
    return out / out.sum(axis=1, keepdims=True)


def _draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``(N, V)`` probabilities."""
    u = rng.random(len(probs))[:, None]
    return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def _draw_second(
    probs: np.ndarray, first: np.ndarray, p_second: float, rng: np.random.Generator
) -> np.ndarray:
    """A value other than ``first`` with probability ``p_second`` (where one exists), else -1."""
    rest = probs.copy()
    rest[np.arange(len(first)), first] = 0.0
    total = rest.sum(axis=1)
    want = (rng.random(len(first)) < p_second) & (total > 0)
    second = _draw(rest / np.maximum(total, 1e-12)[:, None], rng)
    return np.where(want, second, -1)


def _latent_colours(n_items: int, seed: int) -> np.ndarray:
    """``(N,)`` index into :data:`COLOUR_NAMES` of each item's (unlabeled) colour."""
    prior = np.array([8, 3, 4, 6, 3, 2, 1.5, 0.7, 0.5, 0.7, 2, 0.8])
    return np.random.default_rng([seed, 0xC0]).choice(
        len(COLOUR_NAMES), size=n_items, p=prior / prior.sum()
    )


def _sample_values(
    n_items: int, rng: np.random.Generator
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per attribute: ``(first, second)`` true local value indices (second -1 when single)."""
    subcats = OFFICIAL_VOCABULARIES["subcategory"]
    share = np.maximum(np.sqrt([_PROFILES[s].count for s in subcats]), 8.0)
    sub = rng.choice(len(subcats), size=n_items, p=share / share.sum())
    cats = OFFICIAL_VOCABULARIES["category"]
    cat = np.array([cats.index(SUBCATEGORY_CATEGORY[s]) for s in subcats])[sub]
    none = np.full(n_items, -1)

    gender = _draw(_weights(subcats, OFFICIAL_VOCABULARIES["gender"], "gender")[sub], rng)
    adult = gender < 2  # Men / Women
    unisex = np.array([_PROFILES[s].unisex for s in subcats])[sub]
    pair = rng.random(n_items) < np.where(adult, unisex, 0.3)
    gender2 = np.where(pair, gender ^ 1, -1)  # Men<->Women, Boys<->Girls

    heel_p = _weights(subcats, _HEELS, "heel")[sub]
    male = (gender == 0) | (gender == 2)
    heel_p[male, 3:] *= 0.05  # men's and boys' shoes rarely have 2in+ heels
    heel = _draw(heel_p / heel_p.sum(axis=1, keepdims=True), rng)

    out = {
        "category": (cat, none),
        "subcategory": (sub, none),
        "heel_height": (heel, none),
        "gender": (gender, gender2),
    }
    for name, pick in (("closure", "closure"), ("toe_style", "toe")):
        p = _weights(subcats, OFFICIAL_VOCABULARIES[name], pick)[sub]
        first = _draw(p, rng)
        out[name] = (first, _draw_second(p, first, _SECOND[name], rng))
    return out


def build_builtin(n_items: int = 3000, seed: int = 0, feature_dim: int = 64) -> Catalog:
    """Generate the built-in catalog (before AttrNet: ``predicted`` is uninformed).

    Args:
        n_items: number of items (>= 50).
        seed: everything (values, missing labels, features, split) follows from it.
        feature_dim: dimension of the synthetic visual features (>= 8).

    Returns:
        A catalog named ``"builtin"`` with the paper's 80/20 split.
    """
    if n_items < 50:
        raise InputError(f"n_items must be >= 50, got {n_items}")
    if feature_dim < 8:
        raise InputError(f"feature_dim must be >= 8, got {feature_dim}")
    rng = np.random.default_rng(seed)
    schema = BUILTIN_SCHEMA
    values = _sample_values(n_items, rng)
    rows = np.arange(n_items)
    true_sets = np.zeros((n_items, schema.n_values), dtype=bool)
    labels = np.empty((n_items, schema.n_attributes), dtype=np.int32)
    for k, attr in enumerate(schema.attributes):
        first, second = values[attr.name]
        lo = int(schema.offsets[k])
        true_sets[rows, lo + first] = True
        two = second >= 0
        true_sets[rows[two], lo + second[two]] = True
        labels[:, k] = first

    colour = _latent_colours(n_items, seed)
    visibility = np.repeat([_VISIBILITY[a.name] for a in schema.attributes], schema.sizes)  # (V,)
    value_emb = rng.normal(size=(schema.n_values, feature_dim)) * visibility[:, None]
    colour_emb = rng.normal(size=(len(COLOUR_NAMES), feature_dim)) * _COLOUR_VISIBILITY
    counts = np.stack(
        [true_sets[:, schema.value_attribute == k].sum(1) for k in range(schema.n_attributes)], 1
    )
    weights = (
        true_sets / counts[:, schema.value_attribute]
    )  # split each attribute's weight over its values
    features = (
        weights @ value_emb + colour_emb[colour] + _NOISE * rng.normal(size=(n_items, feature_dim))
    )

    label_sets = true_sets.copy()
    for name, p in _MISSING.items():
        k = schema.index(name)
        gone = rng.random(n_items) < p
        labels[gone, k] = -1
        label_sets[np.ix_(gone, np.arange(schema.offsets[k], schema.offsets[k + 1]))] = False

    item_ids = np.array([f"builtin-{i:05d}" for i in range(n_items)], dtype=object)
    return Catalog(
        name="builtin",
        schema=schema,
        item_ids=item_ids,
        labels=labels,
        label_sets=label_sets,
        split=paper_split(n_items, seed),
        image_refs=np.array([f"builtin:{i}" for i in item_ids], dtype=object),
        features=features.astype(np.float32),
        predicted=uninformed_predictions(schema, n_items),
        provenance={
            "source": "builtin",
            "seed": seed,
            "n_items": n_items,
            "feature_dim": feature_dim,
            "generator_version": GENERATOR_VERSION,
            "encoder": "builtin-synthetic",
        },
    )


# ------------------------------------------------------------------------------------------ drawing
_BASE = (136, 102)
_HEEL_PX = (0, 3, 6, 10, 14, 18, 23)
"""Heel height in pixels (on the 136x102 canvas) of each heel-height value."""
_SHAFT_TOP = {
    "Ankle": 38,
    "Mid-Calf": 22,
    "Knee High": 8,
    "Over the Knee": 2,
    "Prewalker Boots": 44,
    "Boot": 40,
}
"""Top of the boot shaft (y on the 136x102 canvas) per boot-like subcategory."""


def _item_values(catalog: Catalog, index: int) -> dict[str, str]:
    """Primary value of each attribute: the label, else AttrNet's most probable value."""
    out = {}
    for k, attr in enumerate(catalog.schema.attributes):
        lo, hi = int(catalog.schema.offsets[k]), int(catalog.schema.offsets[k + 1])
        local = int(catalog.labels[index, k])
        out[attr.name] = attr.values[
            local if local >= 0 else int(catalog.predicted[index, lo:hi].argmax())
        ]
    return out


class _Canvas:
    """Draws in the coordinates of the 136x102 base canvas, scaled to the requested size."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.image = Image.new("RGB", size, (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.sx, self.sy = size[0] / _BASE[0], size[1] / _BASE[1]

    def pts(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Base-canvas points scaled to the image."""
        return [(x * self.sx, y * self.sy) for x, y in points]

    def line(self, points: list[tuple[float, float]], fill: tuple[int, ...], width: float) -> None:
        """A polyline ``width`` base pixels wide."""
        self.draw.line(self.pts(points), fill=fill, width=max(1, round(width * self.sy)))


_GROUND = 88.0
_SOLE = (60, 60, 60)


def _draw_sole(c: _Canvas, heel: int, tip_x: float) -> None:
    """Sole from the heel seat down to the ball of the foot and on to the toe, plus the heel."""
    back_y = _GROUND - heel
    c.line([(22, back_y), (82, _GROUND), (tip_x, _GROUND - 2)], _SOLE, 3)
    if heel:
        w = 9 if heel < 14 else 4  # high heels are thin
        c.draw.polygon(
            c.pts([(22, back_y), (25 + w, back_y), (22 + w, _GROUND), (23, _GROUND)]), fill=_SOLE
        )


def _draw_sandal(
    c: _Canvas, v: dict[str, str], heel: int, rgb: tuple[int, ...], edge: tuple[int, ...]
) -> None:
    """Straps over the foot; an ankle strap when the closure has one."""
    back_y = _GROUND - heel
    for x0 in (40, 62, 86, 106):
        y0 = back_y + (_GROUND - back_y) * min(1.0, (x0 - 22) / 60) - 2
        c.line([(x0 - 6, y0), (x0 + 4, y0 - 16)], rgb, 5)
    if v["closure"] in ("Ankle Strap", "Ankle Wrap"):
        c.line([(20, back_y - 18), (44, back_y - 20)], edge, 3)


def _draw_upper(
    c: _Canvas,
    v: dict[str, str],
    heel: int,
    tip_x: float,
    rgb: tuple[int, ...],
    edge: tuple[int, ...],
) -> float | None:
    """Closed upper shaped by toe style and shaft height; returns the shaft top (boots) or None."""
    back_y, toe, sub = _GROUND - heel, v["toe_style"], v["subcategory"]
    top = _SHAFT_TOP.get(sub) if v["category"] in ("Boots", "Slippers") else None
    body = [(22, back_y), (82, _GROUND - 1), (tip_x, _GROUND - 2)]
    if toe == "Square Toe":
        body += [(tip_x, _GROUND - 16)]
    elif toe in ("Pointed Toe", "Snip Toe"):
        body += [(tip_x - 12, _GROUND - 10)]
    else:
        body += [(tip_x - 2, _GROUND - 12), (tip_x - 10, _GROUND - 17)]
    body += [(70, _GROUND - 24)]
    body += [(55, top), (20, top)] if top is not None else [(45, back_y - 20), (24, back_y - 24)]
    c.draw.polygon(c.pts(body), fill=rgb, outline=edge)
    if toe in ("Open Toe", "Peep Toe"):
        r = 7 if toe == "Open Toe" else 4
        c.draw.ellipse(
            c.pts([(tip_x - 2 * r - 2, _GROUND - 4 - 2 * r), (tip_x - 2, _GROUND - 4)]),
            fill="white",
        )
    if v["category"] == "Slippers":  # a cushioned collar
        c.line([(24, back_y - 24 if top is None else top), (60, _GROUND - 24)], (235, 235, 225), 5)
    return top


def _draw_closure(
    c: _Canvas, closure: str, top: float | None, heel: int, edge: tuple[int, ...]
) -> None:
    """Laces, a zipper along the shaft, or a buckle/strap."""
    if closure == "Lace up":
        for i in range(4):
            x = 52 + 6 * i
            c.line([(x, _GROUND - 26 + 2 * i), (x + 6, _GROUND - 20 + 2 * i)], edge, 1)
    elif closure == "Zipper" and top is not None:
        c.line([(28, top + 4), (28, _GROUND - heel - 4)], edge, 2)
    elif closure in ("Buckle", "Monk Strap", "Hook and Loop"):
        c.draw.rectangle(
            c.pts([(54, _GROUND - 24), (62, _GROUND - 18)]),
            outline=edge,
            width=max(1, round(2 * c.sx)),
        )


def render_builtin_image(
    catalog: Catalog, index: int, size: tuple[int, int] = _BASE
) -> Image.Image:
    """Draw item ``index`` of a built-in catalog, a side view on white, ``size = (width, height)``.

    Shape from category/subcategory (boot shaft height, sandal straps, slipper collar), heel
    height, toe style and closure; fill colour from the item's latent colour. Deterministic.
    """
    if not 0 <= index < catalog.n_items:
        raise InputError(f"index {index} outside 0..{catalog.n_items - 1}")
    if len(size) != 2 or min(size) < 16:
        raise InputError(f"size must be (width, height) with both >= 16, got {size!r}")
    v = _item_values(catalog, index)
    seed = int(catalog.provenance.get("seed", 0))
    rgb = tuple(int(x) for x in _COLOUR_RGB[_latent_colours(catalog.n_items, seed)[index]])
    edge = tuple(max(0, x - 70) for x in rgb)
    heel = _HEEL_PX[_HEELS.index(v["heel_height"])]
    tip_x = 130.0 if v["toe_style"] in ("Pointed Toe", "Snip Toe", "Almond") else 122.0
    c = _Canvas(size)
    _draw_sole(c, heel, tip_x)
    if v["category"] == "Sandals":
        _draw_sandal(c, v, heel, rgb, edge)
    else:
        top = _draw_upper(c, v, heel, tip_x, rgb, edge)
        _draw_closure(c, v["closure"], top, heel, edge)
    return c.image
