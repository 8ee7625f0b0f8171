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


def test_predictions_are_validated_and_fingerprinted(toy_catalog):
    bad = toy_catalog.predicted.copy()
    bad[7, 0] = np.nan
    with pytest.raises(ValueError, match=r"row 7 .*field 'predicted', category='Boots'"):
        dataclasses.replace(toy_catalog, predicted=bad)
    unnormalised = toy_catalog.predicted.copy()
    unnormalised[:, :3] *= 0.5
    with pytest.raises(ValueError, match=r"attribute 'category': probabilities sum to 0\.5000"):
        dataclasses.replace(toy_catalog, predicted=unnormalised)
    swapped = dataclasses.replace(toy_catalog, predicted=toy_catalog.predicted[::-1].copy())
    assert swapped.fingerprint != toy_catalog.fingerprint


def test_empty_features_and_inconsistent_labels_are_refused(toy_catalog):
    with pytest.raises(ValueError, match="field 'features' is empty"):
        dataclasses.replace(toy_catalog, features=toy_catalog.features[:, :0])
    sets = toy_catalog.label_sets.copy()
    sets[0, : toy_catalog.schema.sizes[0]] = False  # item 0 loses its category label set
    with pytest.raises(ValueError, match=r"row 0 .*'category': primary label .* disagrees"):
        dataclasses.replace(toy_catalog, label_sets=sets)


def test_a_catalog_saved_before_scheme_2_keeps_its_fingerprint(tmp_path, toy_catalog):
    """Logs and agents recorded the old fingerprint: a scheme-1 catalog still loads as itself."""
    import json

    path = toy_catalog.save(tmp_path / "old")
    legacy = dataclasses.replace(toy_catalog, fingerprint_scheme=1)
    meta = json.loads((path / "catalog.json").read_text())
    del meta["fingerprint_scheme"]
    meta["fingerprint"] = legacy.fingerprint
    (path / "catalog.json").write_text(json.dumps(meta))
    (path / ".textrec-artifact").unlink()  # made before markers, too
    loaded = Catalog.load(path)
    assert loaded.fingerprint == legacy.fingerprint != toy_catalog.fingerprint
    assert loaded.fingerprint_scheme == 1
    loaded.save(path)  # an unmarked catalog of textrec's layout may be replaced
    assert Catalog.load(path).fingerprint == legacy.fingerprint


def test_save_refuses_a_directory_it_did_not_make(tmp_path, toy_catalog):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(ValueError, match="not made by textrec"):
        toy_catalog.save(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"
