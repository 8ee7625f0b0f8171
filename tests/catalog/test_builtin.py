"""Built-in catalog: determinism, split, vocabularies, correlations, AttrNet band, drawing."""

from __future__ import annotations

import numpy as np
import pytest

from textrec.catalog import TEST, TRAIN
from textrec.catalog.attrnet import with_attrnet
from textrec.catalog.builtin import BUILTIN_SCHEMA, build_builtin, render_builtin_image
from textrec.catalog.zappos import OFFICIAL_VOCABULARIES, SUBCATEGORY_CATEGORY


@pytest.fixture(scope="module")
def built():
    """The default built-in catalog with AttrNet predictions."""
    return with_attrnet(build_builtin())


@pytest.fixture(scope="module")
def large():
    """A large catalog (no AttrNet) for checking value statistics."""
    return build_builtin(n_items=20000, seed=5, feature_dim=8)


def _column(catalog, name):
    """Primary value text per item ('' when missing)."""
    k = catalog.schema.index(name)
    vals = np.array(catalog.schema.attributes[k].values + ("",), dtype=object)
    return vals[catalog.labels[:, k]]


def _has(catalog, name, value):
    return catalog.label_sets[:, catalog.schema.value_index(name, value)]


def test_same_seed_same_catalog_other_seed_differs():
    a, b = build_builtin(n_items=400, seed=3), build_builtin(n_items=400, seed=3)
    assert a.fingerprint == b.fingerprint
    assert build_builtin(n_items=400, seed=4).fingerprint != a.fingerprint
    pa, pb = with_attrnet(a), with_attrnet(b)
    np.testing.assert_array_equal(pa.predicted, pb.predicted)
    assert pa.attrnet_accuracy == pb.attrnet_accuracy


def test_split_sizes():
    assert np.bincount(build_builtin(n_items=3000).split).tolist() == [2400, 600]
    paper = build_builtin(n_items=50025, feature_dim=8)
    assert (paper.split == TRAIN).sum() == 40020 and (paper.split == TEST).sum() == 10005


def test_schema_uses_the_official_vocabularies(built):
    assert built.schema == BUILTIN_SCHEMA
    assert built.schema.names == tuple(OFFICIAL_VOCABULARIES)
    for attr in built.schema.attributes:
        assert attr.values == OFFICIAL_VOCABULARIES[attr.name]
    sub = _column(built, "subcategory")
    assert set(sub) == set(SUBCATEGORY_CATEGORY)  # every subcategory occurs in 3,000 items
    assert all(built.image_refs[i] == f"builtin:{built.item_ids[i]}" for i in range(5))


def test_labels_are_consistent_and_partly_missing(large):
    cat, sub = _column(large, "category"), _column(large, "subcategory")
    assert all(SUBCATEGORY_CATEGORY[s] == c for s, c in zip(sub, cat, strict=True))
    coverage = (large.labels >= 0).mean(axis=0)
    assert coverage[0] == coverage[1] == 1.0
    assert 0.80 < coverage[large.schema.index("toe_style")] < 0.90
    assert 0.88 < coverage[large.schema.index("heel_height")] < 0.96
    k = large.schema.index("closure")
    lo, hi = large.schema.offsets[k], large.schema.offsets[k + 1]
    assert 0.05 < (large.label_sets[:, lo:hi].sum(1) > 1).mean() < 0.25  # e.g. "Lace up;Zipper"
    gender = large.label_sets[:, large.schema.offsets[large.schema.index("gender")] :][:, :4]
    assert (gender[:, 0] & gender[:, 1]).any() and (gender[:, 2] & gender[:, 3]).any()


def test_correlations_hold(large):
    sub, heel = _column(large, "subcategory"), _column(large, "heel_height")
    babies = np.isin(sub, ["Crib Shoes", "Firstwalker", "Prewalker", "Prewalker Boots"]) & (
        heel != ""
    )
    assert set(heel[babies]) <= {"Flat", "Under 1in"}
    heels = (sub == "Heels") & (heel != "")
    assert set(heel[heels]) <= {"2in - 2 3/4in", "3in - 3 3/4in", "4in - 4 3/4in", "5in & over"}
    assert set(_column(large, "gender")[sub == "Heels"]) <= {"Women", ""}
    boots = _column(large, "category") == "Boots"
    assert _has(large, "toe_style", "Open Toe")[boots].mean() < 0.01
    sandals = (_column(large, "category") == "Sandals") & (
        large.labels[:, large.schema.index("toe_style")] >= 0
    )
    assert _has(large, "toe_style", "Open Toe")[sandals].mean() > 0.6
    strap_or_buckle = _has(large, "closure", "Ankle Strap") | _has(large, "closure", "Buckle")
    assert strap_or_buckle[sandals].mean() > 0.4
    oxfords = (sub == "Oxfords") & (large.labels[:, large.schema.index("closure")] >= 0)
    assert _has(large, "closure", "Lace up")[oxfords].mean() > 0.85
    men = _column(large, "gender") == "Men"
    tall = np.isin(heel, ["3in - 3 3/4in", "4in - 4 3/4in", "5in & over"])
    assert tall[men].mean() < 0.02 < tall[_column(large, "gender") == "Women"].mean()
    assert (_column(large, "gender")[sub == "Oxfords"] == "Men").mean() > 0.5


def test_attrnet_learns_but_not_perfectly(built):
    acc = built.attrnet_accuracy
    assert set(acc) == set(built.schema.names)
    assert all(0.6 <= a <= 0.98 for a in acc.values()), acc
    assert acc["category"] > acc["gender"]  # category is the most visible attribute
    test = built.pool("test")
    sub = built.schema.index("subcategory")
    lo, hi = built.schema.offsets[sub], built.schema.offsets[sub + 1]
    majority = np.bincount(built.labels[test, sub]).max() / len(test)
    hits = (built.predicted[test, lo:hi].argmax(1) == built.labels[test, sub]).mean()
    assert hits > majority + 0.3
    np.testing.assert_allclose(built.predicted[:, lo:hi].sum(1), 1.0, rtol=1e-5)


def test_render_is_deterministic_and_follows_attributes(built):
    a = render_builtin_image(built, 0)
    assert a.size == (136, 102) and a.mode == "RGB"
    assert a.tobytes() == render_builtin_image(built, 0).tobytes()
    pix = np.asarray(a)
    assert (pix.min(axis=2) < 200).mean() > 0.05  # something is drawn
    big = render_builtin_image(built, 0, size=(272, 204))
    assert big.size == (272, 204)
    sub = _column(built, "subcategory")
    knee, flats = np.flatnonzero(sub == "Knee High")[0], np.flatnonzero(sub == "Flats")[0]
    drawn_rows = [
        np.flatnonzero((np.asarray(render_builtin_image(built, i)).min(2) < 230).any(1))
        for i in (knee, flats)
    ]
    assert (
        drawn_rows[0].min() < drawn_rows[1].min() - 30
    )  # a knee-high boot is much taller than a flat
    with pytest.raises(ValueError, match="index"):
        render_builtin_image(built, built.n_items)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_items must be >= 50"):
        build_builtin(n_items=10)
    with pytest.raises(ValueError, match="feature_dim"):
        build_builtin(feature_dim=2)
