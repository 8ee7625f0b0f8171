"""Build a catalog from a source, open one by name (with an on-disk cache), and summarise one.

* :func:`build_catalog` builds ``"builtin"`` (synthetic, shipped) or ``"zappos"`` (UT-Zappos50K from
  ``data``): items and labels, image features (cached by content, see
  :mod:`textrec.catalog.features`), then AttrNet's predictions.
* :func:`open_catalog` is what every stage calls with ``--catalog``: ``"builtin"`` and ``"zappos"``
  are built once and cached under ``cache_dir`` (default ``$TEXTREC_CACHE``, else
  ``~/.cache/textrec``), keyed by the build arguments, the data content and the code version;
  any other string is the directory of a saved catalog.

Cache layout: ``<cache>/catalogs/<name>-<key>/`` (a saved catalog) and ``<cache>/features/<key>/``
(image features, shared by every catalog built from the same images and encoder).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
from functools import cache
from pathlib import Path
from typing import Any

from textrec.catalog import attrnet, builtin, features, zappos
from textrec.catalog.attrnet import AttrNetConfig, with_attrnet
from textrec.catalog.builtin import build_builtin
from textrec.catalog.catalog import (
    CATALOG_KIND,
    FORMAT_VERSION,
    TEST,
    TRAIN,
    Catalog,
    uninformed_predictions,
)
from textrec.catalog.features import extract_features, make_encoder
from textrec.catalog.zappos import data_fingerprint, read_zappos
from textrec.errors import InputError
from textrec.io import artifact_kind

__all__ = [
    "CATALOG_KIND",
    "SOURCES",
    "CACHE_ENV",
    "cache_root",
    "code_version",
    "build_catalog",
    "open_catalog",
    "AttributeSummary",
    "CatalogSummary",
    "summarize",
]

logger = logging.getLogger(__name__)

SOURCES = ("builtin", "zappos")
"""Catalog sources :func:`build_catalog` knows."""
CACHE_ENV = "TEXTREC_CACHE"
"""Environment variable naming the cache folder."""


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else ``$TEXTREC_CACHE``, else ``~/.cache/textrec``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "textrec"


@cache
def code_version() -> str:
    """Hash of the code that decides a built catalog's content (part of the cache key)."""
    h = hashlib.sha256(f"format {FORMAT_VERSION}".encode())
    for module in (builtin, zappos, features, attrnet):
        h.update(Path(module.__file__ or "").read_bytes())
    return h.hexdigest()[:12]


def build_catalog(
    source: str,
    *,
    data: str | Path | None = None,
    items: int = 3000,
    seed: int = 0,
    encoder: str = "efficientnet-lite0",
    image_size: tuple[int, int] | None = None,
    encoder_weights: str | Path | None = None,
    feature_cache: str | Path | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> Catalog:
    """Build a catalog with features and AttrNet predictions.

    Args:
        source: ``"builtin"`` or ``"zappos"``.
        data: UT-Zappos50K folder (``"zappos"`` only).
        items: number of built-in items (``"builtin"`` only).
        seed: seed of the generator (builtin), the train/test split and AttrNet.
        encoder: image encoder (``"zappos"``; see :data:`textrec.catalog.features.ENCODERS`).
        image_size: encoder input ``(height, width)``; ``None`` takes the encoder's default.
        encoder_weights: weights file of encoders that need one (``resnet50``).
        feature_cache: folder of the feature cache; default ``<cache_root()>/features``.
        threads: torch CPU threads for image encoding (``None``: torch's default).
        progress: show progress bars (on stderr).

    Raises:
        ValueError: unknown source, ``data`` missing for ``"zappos"``, or bad data (see
            :func:`textrec.catalog.zappos.read_zappos`).
    """
    start = time.perf_counter()
    if source == "builtin":
        catalog = build_builtin(n_items=items, seed=seed)
    elif source == "zappos":
        if data is None:
            raise InputError(
                "catalog 'zappos' needs --data: the UT-Zappos50K folder (images zip or tree)"
            )
        enc = make_encoder(encoder, image_size=image_size, weights=encoder_weights)  # fails fast
        found = read_zappos(data, seed=seed, progress=progress)
        cache_dir = Path(feature_cache) if feature_cache is not None else cache_root() / "features"
        feats = extract_features(
            found.images, enc, cache_dir=cache_dir, threads=threads, progress=progress
        )
        catalog = Catalog(
            name="zappos",
            schema=found.schema,
            item_ids=found.item_ids,
            labels=found.labels,
            label_sets=found.label_sets,
            split=found.split,
            image_refs=found.image_refs,
            features=feats,
            predicted=uninformed_predictions(found.schema, len(found.item_ids)),
            provenance={
                **found.provenance,
                "encoder": enc.name,
                "encoder_fingerprint": enc.fingerprint,
                "image_size": list(enc.image_size),
            },
        )
    else:
        raise InputError(f"unknown catalog source {source!r}; choose one of {list(SOURCES)}")
    catalog = with_attrnet(catalog, AttrNetConfig(seed=seed), progress=progress)
    seconds = round(time.perf_counter() - start, 1)
    logger.info("built catalog %s (%d items) in %.1f s", catalog.name, catalog.n_items, seconds)
    return _with_provenance(catalog, build_seconds=seconds, code_version=code_version())


def _with_provenance(catalog: Catalog, **extra: Any) -> Catalog:
    return dataclasses.replace(catalog, provenance={**catalog.provenance, **extra})


def open_catalog(
    spec: str,
    *,
    data: str | Path | None = None,
    items: int = 3000,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Catalog:
    """Open a catalog: ``"builtin"``, ``"zappos"`` (built once, then cached) or a saved directory.

    Args:
        spec: ``"builtin"``, ``"zappos"`` or the directory of a saved catalog.
        data: UT-Zappos50K folder, for ``"zappos"``.
        items: built-in catalog size.
        seed: seed of the build (builtin items, split, AttrNet).
        cache_dir: cache folder (see :func:`cache_root`).
        progress: show progress bars while building.

    Raises:
        ValueError: ``"zappos"`` without ``data``, or a damaged saved catalog.
        FileNotFoundError: ``spec`` is neither a source nor an existing directory.
    """
    root = cache_root(cache_dir)
    if spec == "builtin":
        key = hashlib.sha256(f"builtin|{items}|{seed}|{code_version()}".encode()).hexdigest()[:16]
    elif spec == "zappos":
        if data is None:
            raise InputError(
                "catalog 'zappos' needs --data: the UT-Zappos50K folder (images zip or tree)"
            )
        key = hashlib.sha256(
            f"zappos|{data_fingerprint(data)}|{seed}|{code_version()}".encode()
        ).hexdigest()[:16]
    else:
        path = Path(spec)
        if not path.is_dir():
            raise FileNotFoundError(
                2, "not 'builtin', 'zappos' or the directory of a saved catalog", spec
            )
        kind = artifact_kind(path)
        if not (path / "catalog.json").is_file() and kind != CATALOG_KIND:
            what = f"it holds a textrec {kind}" if kind else "no catalog.json"
            raise InputError(f"{path}: not a saved catalog ({what})")
        return Catalog.load(path)
    target = root / "catalogs" / f"{spec}-{key}"
    if (target / "catalog.json").is_file():
        logger.info("catalog %s loaded from cache %s", spec, target)
        return Catalog.load(target)
    catalog = build_catalog(
        spec, data=data, items=items, seed=seed, feature_cache=root / "features", progress=progress
    )
    catalog.save(target)
    return catalog


@dataclasses.dataclass(frozen=True)
class AttributeSummary:
    """One attribute of a catalog, as ``textrec catalog info`` shows it."""

    name: str
    """Attribute name."""
    n_values: int
    """Vocabulary size."""
    multi_valued: bool
    """Whether items may hold several values."""
    coverage: float
    """Fraction of items with a label."""
    attrnet_accuracy: float | None
    """AttrNet top-1 accuracy on held-out labeled items (``None`` if not measured)."""


@dataclasses.dataclass(frozen=True)
class CatalogSummary:
    """What ``textrec catalog info`` reports."""

    name: str
    """Catalog name."""
    n_items: int
    """Number of items."""
    n_train: int
    """Items in the train (labeled) split."""
    n_test: int
    """Items in the test (unlabeled) split."""
    feature_dim: int
    """Image feature dimension."""
    encoder: str
    """Image encoder (with input size) or ``builtin-synthetic``."""
    fingerprint: str
    """Content fingerprint of the catalog."""
    attributes: tuple[AttributeSummary, ...]
    """Per-attribute vocabulary, coverage and AttrNet accuracy."""
    build_seconds: float | None
    """Wall time of the build, when recorded."""


def summarize(catalog: Catalog) -> CatalogSummary:
    """Counts, vocabularies, label coverage and AttrNet accuracy of a catalog."""
    prov = catalog.provenance
    encoder = str(prov.get("encoder", "unknown"))
    if "image_size" in prov:
        h, w = prov["image_size"]
        encoder = f"{encoder} ({w}x{h})"
    coverage = (catalog.labels >= 0).mean(axis=0)
    attrs = tuple(
        AttributeSummary(
            name=a.name,
            n_values=a.size,
            multi_valued=a.multi_valued,
            coverage=round(float(coverage[k]), 4),
            attrnet_accuracy=(
                round(float(catalog.attrnet_accuracy[a.name]), 4)
                if a.name in catalog.attrnet_accuracy
                else None
            ),
        )
        for k, a in enumerate(catalog.schema.attributes)
    )
    seconds = prov.get("build_seconds")
    return CatalogSummary(
        name=catalog.name,
        n_items=catalog.n_items,
        n_train=int((catalog.split == TRAIN).sum()),
        n_test=int((catalog.split == TEST).sum()),
        feature_dim=catalog.feature_dim,
        encoder=encoder,
        fingerprint=catalog.fingerprint,
        attributes=attrs,
        build_seconds=None if seconds is None else float(seconds),
    )
