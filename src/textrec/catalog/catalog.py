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
from tokenize import TokenError
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.io import atomic_dir, read_json

__all__ = [
    "TRAIN",
    "TEST",
    "Pool",
    "Catalog",
    "CATALOG_KIND",
    "FORMAT_VERSION",
    "FINGERPRINT_SCHEME",
    "NPY_ERRORS",
    "uninformed_predictions",
]

TRAIN = 0
TEST = 1
Pool = Literal["train", "test", "all"]
FORMAT_VERSION = 1
MULTI_SEP = ";"
CATALOG_KIND = "catalog"
"""Artifact kind of a saved catalog directory (:func:`textrec.io.claim_output_dir`)."""
FINGERPRINT_SCHEME = 2
"""What :attr:`Catalog.fingerprint` hashes: 1 = ids, labels, split, features (catalogs saved
before AttrNet's output was covered); 2 = those, the label sets, AttrNet's predictions and the
schema."""
PROB_TOLERANCE = 1e-3
"""How far a single-valued attribute's predicted probabilities may sum from 1."""


def uninformed_predictions(schema: AttributeSchema, n_items: int) -> np.ndarray:
    """``(N, V) float32`` what is known of unlabeled items before AttrNet runs: nothing.

    Each single-valued attribute is uniform over its values; each value of a multi-valued one has
    probability 0.5. Builders put this in ``predicted`` until :func:`~textrec.catalog.attrnet.
    with_attrnet` replaces it.
    """
    per_value = np.concatenate(
        [np.full(a.size, 0.5 if a.multi_valued else 1.0 / a.size) for a in schema.attributes]
    )
    return np.broadcast_to(per_value.astype(np.float32), (n_items, schema.n_values)).copy()


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
    """``(N,)`` where each item's image lives (a path in the data source, or ``builtin:<id>``)."""
    features: np.ndarray
    """``(N, D) float32`` visual features."""
    predicted: np.ndarray
    """``(N, V) float32`` AttrNet probability that the item has each value."""
    attrnet_accuracy: Mapping[str, float] = field(default_factory=dict)
    """Per-attribute AttrNet accuracy on held-out labeled items."""
    provenance: Mapping[str, Any] = field(default_factory=dict)
    """How the catalog was made: source, data path, encoder, seed, build time."""
    fingerprint_scheme: int = FINGERPRINT_SCHEME
    """Which content :attr:`fingerprint` hashes (:data:`FINGERPRINT_SCHEME`); 1 only for catalogs
    loaded from files saved under scheme 1, so their fingerprint stays the one logs and agents
    recorded."""

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
                f"{source}: row {row} (item {self.item_ids[row]}), column "
                f"{self.schema.names[col]!r}: value index {int(self.labels[row, col])} outside "
                f"vocabulary of size {sizes[col]}"
            )
        if not np.isin(self.split, (TRAIN, TEST)).all():
            raise InputError(
                f"{source}: field 'split' holds values other than {TRAIN} (train) / {TEST} (test)"
            )
        if self.features.shape[1] == 0:
            raise InputError(f"{source}: field 'features' is empty (0 dimensions per item)")
        if not np.issubdtype(self.features.dtype, np.floating):
            raise InputError(
                f"{source}: field 'features' has dtype {self.features.dtype}, expected float32"
            )
        if not np.isfinite(self.features).all():
            row = int(np.argwhere(~np.isfinite(self.features))[0, 0])
            raise InputError(
                f"{source}: row {row} (item {self.item_ids[row]}): non-finite image feature"
            )
        self._validate_labels(source)
        self._validate_predicted(source)

    def _validate_labels(self, source: str) -> None:
        """Each primary label is one of the item's label set; a label set implies a primary."""
        if self.label_sets.dtype != np.bool_:
            raise InputError(
                f"{source}: field 'label_sets' has dtype {self.label_sets.dtype}, expected bool"
            )
        has_set = np.logical_or.reduceat(self.label_sets, self.schema.offsets[:-1], axis=1)
        rows = np.arange(len(self.labels))[:, None]
        primary = np.asarray(self.schema.offsets[:-1])[None, :] + np.maximum(self.labels, 0)
        in_set = self.label_sets[rows, primary]
        bad = (self.labels >= 0) & ~in_set | (self.labels < 0) & has_set
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise InputError(
                f"{source}: row {row} (item {self.item_ids[row]}), column "
                f"{self.schema.names[col]!r}: primary label {int(self.labels[row, col])} "
                "disagrees with the item's label set"
            )

    def _validate_predicted(self, source: str) -> None:
        """AttrNet output: finite probabilities in [0, 1]; a single-valued block sums to 1."""
        p = self.predicted
        if not np.issubdtype(p.dtype, np.floating):
            raise InputError(f"{source}: field 'predicted' has dtype {p.dtype}, expected float32")
        bad = ~(np.isfinite(p) & (p >= 0.0) & (p <= 1.0))
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            attr, value = self.schema.value_name(col)
            raise InputError(
                f"{source}: row {row} (item {self.item_ids[row]}), field 'predicted', "
                f"{attr}={value!r}: {float(p[row, col])!r} is not a probability in [0, 1]"
            )
        for k, attr in enumerate(self.schema.attributes):
            if attr.multi_valued:
                continue
            lo, hi = int(self.schema.offsets[k]), int(self.schema.offsets[k + 1])
            total = p[:, lo:hi].sum(axis=1, dtype=np.float64)
            off = np.abs(total - 1.0) > PROB_TOLERANCE
            if off.any():
                row = int(np.flatnonzero(off)[0])
                raise InputError(
                    f"{source}: row {row} (item {self.item_ids[row]}), field 'predicted', "
                    f"attribute {attr.name!r}: probabilities sum to {total[row]:.4f}, not 1 "
                    f"({int(off.sum())} items)"
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
        """Content hash (logs and checkpoints record it): ids, labels, split and features, and
        under scheme 2 also the label sets, AttrNet's predictions and the schema."""
        h = hashlib.sha256()
        h.update("\n".join(map(str, self.item_ids.tolist())).encode())
        arrays = [self.labels, self.split, self.features]
        if self.fingerprint_scheme >= 2:
            arrays += [self.label_sets, self.predicted.astype(np.float32)]
        for arr in arrays:
            h.update(np.ascontiguousarray(arr).tobytes())
        if self.fingerprint_scheme >= 2:
            h.update(json.dumps(self.schema.to_json(), sort_keys=True).encode())
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
        with atomic_dir(target, CATALOG_KIND) as tmp:
            pq.write_table(pa.table({**cols, **primary}), tmp / "items.parquet")
            np.save(tmp / "features.npy", np.ascontiguousarray(self.features, dtype=np.float32))
            np.save(tmp / "predicted.npy", np.ascontiguousarray(self.predicted, dtype=np.float32))
            meta = {
                "format_version": FORMAT_VERSION,
                "name": self.name,
                "n_items": self.n_items,
                "feature_dim": self.feature_dim,
                "fingerprint": self.fingerprint,
                "fingerprint_scheme": self.fingerprint_scheme,
                "schema": self.schema.to_json(),
                "attrnet_accuracy": dict(self.attrnet_accuracy),
                "provenance": dict(self.provenance),
            }
            (tmp / "catalog.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        return target

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """Load a catalog saved by :meth:`save`, validating every file (errors name it).

        Checked: ``catalog.json`` (its fields and types), the items table (columns, every value
        in its attribute's vocabulary, the split), the arrays (readable, shapes, finite features,
        AttrNet probabilities in range and normalised) and the content fingerprint.
        """
        root = Path(path)
        if not root.is_dir():
            raise FileNotFoundError(2, "catalog directory not found", str(root))
        meta_path = root / "catalog.json"
        meta = read_json(meta_path)
        if not isinstance(meta, dict):
            raise InputError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
        if meta.get("format_version") != FORMAT_VERSION:
            raise InputError(
                f"{meta_path}: format_version {meta.get('format_version')!r}, "
                f"expected {FORMAT_VERSION}"
            )
        for key, kind in _META_FIELDS.items():
            if key not in meta:
                raise InputError(f"{meta_path}: missing field {key!r}")
            if not isinstance(meta[key], kind):
                raise InputError(
                    f"{meta_path}: field {key!r} must be a {_type_names(kind)}, "
                    f"got {type(meta[key]).__name__} {meta[key]!r}"
                )
        scheme = meta.get("fingerprint_scheme", 1)
        if scheme not in (1, FINGERPRINT_SCHEME):
            raise InputError(
                f"{meta_path}: field 'fingerprint_scheme' is {scheme!r}, expected 1 or "
                f"{FINGERPRINT_SCHEME}"
            )
        schema = AttributeSchema.from_json(meta["schema"], source=f"{meta_path}: field 'schema'")
        table_path = root / "items.parquet"
        if not table_path.is_file():
            raise InputError(
                f"{table_path}: {'not a file' if table_path.exists() else 'missing'}; a saved "
                "catalog holds catalog.json, items.parquet, features.npy and predicted.npy"
            )
        try:
            df = pq.read_table(table_path).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"{table_path}: cannot read items table: {exc}") from exc
        required = ["item_id", "split", "image_ref", *schema.names]
        missing = [c for c in required if c not in df.columns]
        if missing:
            raise InputError(f"{table_path}: missing columns {missing}")
        labels, label_sets = _read_labels(df, schema, table_path)
        split_text = _text_column(df, "split", table_path)
        bad = ~np.isin(split_text, ("train", "test"))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{table_path}: row {row}, column 'split': value {str(split_text[row])!r} is not "
                "train/test"
            )
        catalog = cls(
            name=meta["name"],
            schema=schema,
            item_ids=_text_column(df, "item_id", table_path).astype(object),
            labels=labels,
            label_sets=label_sets,
            split=np.where(split_text == "train", TRAIN, TEST).astype(np.int8),
            image_refs=_text_column(df, "image_ref", table_path).astype(object),
            features=_read_array(root / "features.npy"),
            predicted=_read_array(root / "predicted.npy"),
            attrnet_accuracy=meta.get("attrnet_accuracy") or {},
            provenance=meta.get("provenance") or {},
            fingerprint_scheme=int(scheme),
        )
        if catalog.fingerprint != meta["fingerprint"]:
            raise InputError(
                f"{meta_path}: content fingerprint {catalog.fingerprint} does not match the "
                f"recorded {meta['fingerprint']!r} (a file of the catalog was changed)"
            )
        return catalog


NPY_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    EOFError,
    SyntaxError,
    TokenError,
    MemoryError,
)
"""What ``np.load`` raises on a damaged ``.npy`` file (its header is parsed as a Python literal,
so a flipped byte can be a ``SyntaxError``; a huge declared shape a ``MemoryError``)."""

_META_FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "fingerprint": str,
    "schema": dict,
    "attrnet_accuracy": dict,
    "provenance": dict,
}
"""Fields ``catalog.json`` must hold, and their JSON types."""


def _type_names(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", dict: "JSON object", int: "integer", list: "list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _text_column(df: Any, name: str, source: Path) -> np.ndarray:
    """Column ``name`` as ``str`` values; every cell must be a string."""
    values = df[name].to_numpy(dtype=object)
    bad = np.array([not isinstance(v, str) for v in values.tolist()], dtype=bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"{source}: row {row}, column {name!r}: {values[row]!r} is not text")
    return values.astype(str)


def _read_labels(df: Any, schema: AttributeSchema, source: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, label_sets)`` from the items table's attribute columns (values checked)."""
    n = len(df)
    labels = np.full((n, schema.n_attributes), -1, dtype=np.int32)
    label_sets = np.zeros((n, schema.n_values), dtype=bool)
    for k, attr in enumerate(schema.attributes):
        lookup = {v: i for i, v in enumerate(attr.values)}
        lo = int(schema.offsets[k])
        cells = df[attr.name].to_numpy(dtype=object)
        for row, cell in enumerate(cells.tolist()):
            if cell is None or cell == "":
                continue
            if not isinstance(cell, str):
                raise InputError(f"{source}: row {row}, column {attr.name!r}: {cell!r} is not text")
            for j, value in enumerate(cell.split(MULTI_SEP)):
                if value not in lookup:
                    raise InputError(
                        f"{source}: row {row}, column {attr.name!r}: unknown value {value!r} "
                        f"(not in the attribute's vocabulary {list(attr.values)})"
                    )
                label_sets[row, lo + lookup[value]] = True
                if j == 0:
                    labels[row, k] = lookup[value]
        primary_col = f"{attr.name}__primary"
        if primary_col in df.columns:
            primary = df[primary_col].to_numpy()
            if not np.issubdtype(primary.dtype, np.integer):
                raise InputError(
                    f"{source}: column {primary_col!r} holds {primary.dtype} values, "
                    "expected integers"
                )
            labels[:, k] = primary
    return labels, label_sets


def _read_array(path: Path) -> np.ndarray:
    """A saved ``.npy`` array (never pickled objects); errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(2, "catalog array missing", str(path))
    try:
        return np.load(path, allow_pickle=False)
    except NPY_ERRORS as exc:
        raise InputError(f"{path}: cannot read array: {exc}") from exc
