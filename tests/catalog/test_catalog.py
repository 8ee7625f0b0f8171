"""Catalog container: save/load round trip, validation errors, derived views."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.conftest import make_toy_catalog
from textrec.catalog import TEST, TRAIN, Catalog


def test_save_load_round_trip(tmp_path, toy_catalog):
    toy_catalog.save(tmp_path / "cat")
    again = Catalog.load(tmp_path / "cat")
    assert again.fingerprint == toy_catalog.fingerprint
    np.testing.assert_array_equal(again.labels, toy_catalog.labels)
    np.testing.assert_array_equal(again.label_sets, toy_catalog.label_sets)
    np.testing.assert_array_equal(again.split, toy_catalog.split)
    np.testing.assert_allclose(again.predicted, toy_catalog.predicted)
    assert again.schema == toy_catalog.schema


def test_save_replaces_atomically_and_leaves_no_temp(tmp_path, toy_catalog):
    toy_catalog.save(tmp_path / "cat")
    make_toy_catalog(seed=1).save(tmp_path / "cat")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat"]
    assert Catalog.load(tmp_path / "cat").fingerprint == make_toy_catalog(seed=1).fingerprint


def test_value_probs_use_labels_for_train_and_attrnet_for_test(toy_catalog):
    c = toy_catalog
    probs = c.value_probs
    train = np.flatnonzero((c.split == TRAIN) & (c.labels[:, 0] >= 0))[0]
    test = np.flatnonzero(c.split == TEST)[0]
    lo, hi = c.schema.offsets[0], c.schema.offsets[1]
    np.testing.assert_array_equal(probs[train, lo:hi], c.label_sets[train, lo:hi])
    np.testing.assert_allclose(probs[test], c.predicted[test])
    missing = np.flatnonzero((c.split == TRAIN) & (c.labels[:, 2] < 0))[0]
    lo, hi = c.schema.offsets[2], c.schema.offsets[3]
    np.testing.assert_allclose(probs[missing, lo:hi], c.predicted[missing, lo:hi])


def test_pools_partition_items(toy_catalog):
    train, test = toy_catalog.pool("train"), toy_catalog.pool("test")
    assert len(train) + len(test) == toy_catalog.n_items
    assert not set(train) & set(test)
    with pytest.raises(ValueError, match="unknown pool"):
        toy_catalog.pool("valid")  # type: ignore[arg-type]


def test_bad_label_index_names_row_and_column(toy_catalog):
    labels = toy_catalog.labels.copy()
    labels[3, 1] = 9
    with pytest.raises(ValueError, match=r"row 3 .*'gender'.*outside vocabulary"):
        dataclasses.replace(toy_catalog, labels=labels)


def test_load_rejects_unknown_value(tmp_path, toy_catalog):
    import pyarrow.parquet as pq

    toy_catalog.save(tmp_path / "cat")
    table = pq.read_table(tmp_path / "cat" / "items.parquet").to_pandas()
    table.loc[5, "category"] = "Spaceboots"
    table.to_parquet(tmp_path / "cat" / "items.parquet")
    with pytest.raises(
        ValueError, match=r"items.parquet: row 5, column 'category': unknown value 'Spaceboots'"
    ):
        Catalog.load(tmp_path / "cat")


def test_load_missing_directory():
    with pytest.raises(FileNotFoundError, match="catalog directory not found"):
        Catalog.load("/nonexistent/catalog")
