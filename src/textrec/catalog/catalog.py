"""The item catalog: ids, true attribute labels, split, images, visual features, AttrNet output.

Array conventions (``N`` items, ``K`` attributes, ``V`` values on the schema's global value axis,
``D`` feature dimensions):

* ``labels``      ``(N, K) int32``  primary true value of each attribute as a *local* index into
  that attribute's vocabulary, ``-1`` where the item has no label.
* ``label_sets``  ``(N, V) bool``   every true value (multi-valued fields set several bits).
* ``split``       ``(N,) int8``     :data:`TRAIN` (labeled) or :data:`TEST` (treated as unlabeled).
* ``features``    ``(N, D) float32`` image features.
* ``predicted``   ``(N, V) float32`` AttrNet's probability that the item has each value.

True labels of test items are kept, but only the simulator's judge may read them; what a
recommender may know about an item is :attr:`Catalog.value_probs`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.io import atomic_dir, read_json

__all__ = ["TRAIN", "TEST", "Pool", "Catalog", "FORMAT_VERSION"]

TRAIN = 0
TEST = 1
Pool = Literal["train", "test", "all"]
FORMAT_VERSION = 1
MULTI_SEP = ";"


@dataclass(frozen=True, eq=False)
class Catalog:
    """Items with attributes, split, image references, features and AttrNet predictions."""

    name: str
    """Short catalog name, e.g. ``"builtin"`` or ``"zappos"``."""
    schema: AttributeSchema
    item_ids: np.ndarray
    """``(N,)`` unique item ids (str)."""
    labels: np.ndarray
    """``(N, K) int32`` primary true value (local index), -1 = missing."""
    label_sets: np.ndarray
    """``(N, V) bool`` all true values."""
    split: np.ndarray
    """``(N,) int8`` TRAIN / TEST."""
    image_refs: np.ndarray
    """``(N,)`` where each item's image lives (a path inside the data source, or ``builtin:<id>``)."""
    features: np.ndarray
    """``(N, D) float32`` visual features."""
    predicted: np.ndarray
    """``(N, V) float32`` AttrNet probability that the item has each value."""
    attrnet_accuracy: Mapping[str, float] = field(default_factory=dict)
    """Per-attribute AttrNet accuracy on held-out labeled items."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """How the catalog was made: source, data path, encoder, seed, build time."""

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ validation
    def validate(self, source: str = "catalog") -> None:
        """Check shapes, dtypes and value ranges; raise ``ValueError`` naming the field."""
        n, k, v = len(self.item_ids), self.schema.n_attributes, self.schema.n_values
        expect = {
            "labels": (n, k),
            "label_sets": (n, v),
            "split": (n,),
            "image_refs": (n,),
            "predicted": (n, v),
        }
        for name, shape in expect.items():
            got = getattr(self, name).shape
            if got != shape:
                raise InputError(f"{source}: field {name!r} has shape {got}, expected {shape}")
        if self.features.ndim != 2 or self.features.shape[0] != n:
            raise InputError(
                f"{source}: field 'features' has shape {self.features.shape}, expected ({n}, D)"
            )
        if n == 0:
            raise InputError(f"{source}: catalog has no items")
        if len(set(self.item_ids.tolist())) != n:
            raise InputError(f"{source}: item ids are not unique")
        sizes = np.asarray(self.schema.sizes)
        bad = (self.labels < -1) | (self.labels >= sizes[None, :])
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise InputError(
                f"{source}: row {row} (item {self.item_ids[row]}), column {self.schema.names[col]!r}: "
                f"value index {int(self.labels[row, col])} outside vocabulary of size {sizes[col]}"
            )
        if not np.isin(self.split, (TRAIN, TEST)).all():
            raise InputError(
                f"{source}: field 'split' holds values other than {TRAIN} (train) / {TEST} (test)"
            )
        if not np.isfinite(self.features).all():
            row = int(np.argwhere(~np.isfinite(self.features))[0, 0])
            raise InputError(
                f"{source}: row {row} (item {self.item_ids[row]}): non-finite image feature"
            )

    # ------------------------------------------------------------------ derived views
    @property
    def n_items(self) -> int:
        """Number of items ``N``."""
        return len(self.item_ids)

    @property
    def feature_dim(self) -> int:
        """Feature dimension ``D``."""
        return int(self.features.shape[1])

    def pool(self, which: Pool) -> np.ndarray:
        """Item indices of a pool: ``"train"`` (labeled), ``"test"`` (unlabeled) or ``"all"``."""
        if which == "all":
            return np.arange(self.n_items)
        if which not in ("train", "test"):
            raise InputError(f"unknown pool {which!r}; choose 'train', 'test' or 'all'")
        return np.flatnonzero(self.split == (TRAIN if which == "train" else TEST))

    @cached_property
    def value_probs(self) -> np.ndarray:
        """``(N, V) float32``: what a recommender may know of each item.

        ``p_k(v | item)``: the true label set for a train item that has a label for attribute
        ``k``; AttrNet's prediction for test items and for missing labels.
        """
        out = self.predicted.astype(np.float32, copy=True)
        known = (self.split == TRAIN)[:, None] & (self.labels >= 0)  # (N, K)
        known_v = known[:, self.schema.value_attribute]  # (N, V)
        out[known_v] = self.label_sets[known_v]
        return out

    @cached_property
    def unit_features(self) -> np.ndarray:
        """``(N, D) float32`` features scaled to unit L2 norm (used by the reward)."""
        norm = np.linalg.norm(self.features, axis=1, keepdims=True)
        return (self.features / np.maximum(norm, 1e-12)).astype(np.float32)

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of ids, labels, split and features (checkpoints record it)."""
        h = hashlib.sha256()
        h.update("\n".join(map(str, self.item_ids.tolist())).encode())
        for arr in (self.labels, self.split, self.features):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    def label_text(self, index: int) -> dict[str, str]:
        """Attribute name -> true value(s) of one item (``;``-joined), ``""`` when missing."""
        out: dict[str, str] = {}
        for k, attr in enumerate(self.schema.attributes):
            lo = int(self.schema.offsets[k])
            vals = np.flatnonzero(self.label_sets[index, lo : lo + attr.size])
            out[attr.name] = MULTI_SEP.join(attr.values[i] for i in vals)
        return out

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the catalog to directory ``path`` atomically (Parquet table + .npy arrays)."""
        target = Path(path)
        cols: dict[str, Any] = {
            "item_id": self.item_ids.astype(str),
            "split": np.where(self.split == TRAIN, "train", "test"),
            "image_ref": self.image_refs.astype(str),
        }
        texts = [self.label_text(i) for i in range(self.n_items)]
        for attr in self.schema.attributes:
            cols[attr.name] = [t[attr.name] for t in texts]
        primary = {
            f"{a.name}__primary": self.labels[:, k] for k, a in enumerate(self.schema.attributes)
        }
        with atomic_dir(target) as tmp:
            pq.write_table(pa.table({**cols, **primary}), tmp / "items.parquet")
            np.save(tmp / "features.npy", np.ascontiguousarray(self.features, dtype=np.float32))
            np.save(tmp / "predicted.npy", np.ascontiguousarray(self.predicted, dtype=np.float32))
            meta = {
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "n_items": self.n_items,
                "feature_dim": self.feature_dim,
                "fingerprint": self.fingerprint,
                "schema": self.schema.to_json(),
                "attrnet_accuracy": dict(self.attrnet_accuracy),
                "provenance": dict(self.provenance),
            }
            (tmp / "catalog.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """Load a catalog saved by :meth:`save`, validating shapes and vocabularies."""
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: catalog directory not found")
        meta_path = root / "catalog.json"
        meta = read_json(meta_path)
        if meta.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{meta_path}: format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}"
            )
        schema = AttributeSchema.from_json(meta["schema"], source=str(meta_path))
        table_path = root / "items.parquet"
        try:
            df = pq.read_table(table_path).to_pandas()
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"{table_path}: cannot read items table: {exc}") from exc
        required = ["item_id", "split", "image_ref", *schema.names]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise InputError(f"{table_path}: missing columns {missing}")
        n = len(df)
        labels = np.full((n, schema.n_attributes), -1, dtype=np.int32)
        label_sets = np.zeros((n, schema.n_values), dtype=bool)
        for k, attr in enumerate(schema.attributes):
            lookup = {v: i for i, v in enumerate(attr.values)}
            lo = int(schema.offsets[k])
            for row, cell in enumerate(df[attr.name].tolist()):
                if not cell:
                    continue
                for j, value in enumerate(str(cell).split(MULTI_SEP)):
                    if value not in lookup:
                        raise InputError(
                            f"{table_path}: row {row}, column {attr.name!r}: unknown value {value!r}"
                        )
                    label_sets[row, lo + lookup[value]] = True
                    if j == 0:
                        labels[row, k] = lookup[value]
            primary_col = f"{attr.name}__primary"
            if primary_col in df.columns:
                labels[:, k] = df[primary_col].to_numpy(dtype=np.int32)
        split_text = df["split"].to_numpy(dtype=str)
        bad = ~np.isin(split_text, ("train", "test"))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{table_path}: row {row}, column 'split': value {split_text[row]!r} is not train/test"
            )

        def _array(name: str) -> np.ndarray:
            p = root / name
            try:
                return np.load(p, allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InputError(f"{p}: cannot read array: {exc}") from exc

        catalog = cls(
            name=str(meta["name"]),
            schema=schema,
            item_ids=df["item_id"].to_numpy(dtype=object),
            labels=labels,
            label_sets=label_sets,
            split=np.where(split_text == "train", TRAIN, TEST).astype(np.int8),
            image_refs=df["image_ref"].to_numpy(dtype=object),
            features=_array("features.npy"),
            predicted=_array("predicted.npy"),
            attrnet_accuracy=meta.get("attrnet_accuracy", {}),
            provenance=meta.get("provenance", {}),
        )
        if catalog.fingerprint != meta.get("fingerprint"):
            raise InputError(
                f"{root}: content fingerprint {catalog.fingerprint} does not match catalog.json"
            )
        return catalog
