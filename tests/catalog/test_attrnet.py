"""AttrNet: config validation, heads, missing labels, determinism, held-out accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_toy_catalog
from textrec.catalog import TRAIN
from textrec.catalog.attrnet import AttrNetConfig, fit_attrnet, top1_accuracy, with_attrnet


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hidden", 0),
        ("lr", 0.0),
        ("weight_decay", -1.0),
        ("holdout_fraction", 1.0),
        ("patience", 0),
        ("threads", 0),
        ("batch_size", 0),
        ("max_epochs", 0),
    ],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"AttrNetConfig.{field}"):
        AttrNetConfig(**{field: value})


def test_heads_and_determinism():
    toy = make_toy_catalog(n_items=400, seed=2)
    a, b = with_attrnet(toy), with_attrnet(toy)
    np.testing.assert_array_equal(a.predicted, b.predicted)
    s = toy.schema
    for k, attr in enumerate(s.attributes):
        block = a.predicted[:, s.offsets[k] : s.offsets[k + 1]]
        assert ((block >= 0) & (block <= 1)).all()
        if attr.multi_valued:  # sigmoid head: unisex items may be likely for two values at once
            assert not np.allclose(block.sum(1), 1.0)
        else:
            np.testing.assert_allclose(block.sum(1), 1.0, rtol=1e-5)
    assert a.provenance["attrnet"]["best_epoch"] >= 1
    other = with_attrnet(toy, AttrNetConfig(seed=1))
    assert not np.array_equal(other.predicted, a.predicted)


def test_missing_labels_and_test_items_are_not_trained_on():
    toy = make_toy_catalog(n_items=400, seed=3)
    features = toy.features.copy()
    labels, sets = toy.labels.copy(), toy.label_sets.copy()
    trainable = toy.split == TRAIN
    base = fit_attrnet(features, labels, sets, trainable, toy.schema)
    # scrambling labels that AttrNet must ignore (test items; missing toe-style) changes nothing
    scrambled_sets = sets.copy()
    scrambled_sets[~trainable] = ~scrambled_sets[~trainable]
    scrambled_labels = labels.copy()
    scrambled_labels[~trainable] = 0
    missing = labels[:, 2] < 0
    lo, hi = toy.schema.offsets[2], toy.schema.offsets[3]
    scrambled_sets[np.ix_(missing, np.arange(lo, hi))] = True
    again = fit_attrnet(features, scrambled_labels, scrambled_sets, trainable, toy.schema)
    np.testing.assert_array_equal(base.predicted, again.predicted)


def test_accuracy_is_measured_on_held_out_items_and_beats_chance():
    toy = make_toy_catalog(n_items=600, seed=4)
    result = fit_attrnet(toy.features, toy.labels, toy.label_sets, toy.split == TRAIN, toy.schema)
    assert set(result.accuracy) == {"category", "gender", "toe_style"}
    assert result.accuracy["category"] > 0.6  # 3 classes, informative features
    test = toy.pool("test")
    acc = top1_accuracy(result.predicted[test], toy.labels[test], toy.label_sets[test], toy.schema)
    assert acc["category"] > 0.6


def test_top1_accuracy_counts_any_true_value_of_multi_valued_attributes():
    toy = make_toy_catalog(n_items=50)
    probs = toy.label_sets.astype(np.float32)
    acc = top1_accuracy(probs, toy.labels, toy.label_sets, toy.schema)
    assert acc == {"category": 1.0, "gender": 1.0, "toe_style": 1.0}


def test_too_few_labeled_items():
    toy = make_toy_catalog(n_items=50)
    with pytest.raises(ValueError, match="at least 2 labeled train items"):
        fit_attrnet(toy.features, toy.labels, toy.label_sets, np.zeros(50, bool), toy.schema)
