"""Catalogs of items: schema, the item table, builders for the built-in and UT-Zappos50K sources.

The builders (and the torch they need) load on first use: ``from textrec.catalog import
open_catalog`` works, but importing the package for :class:`Catalog` alone stays light.
"""

from importlib import import_module
from typing import Any

from textrec.catalog.catalog import TEST, TRAIN, Catalog, Pool
from textrec.catalog.schema import Attribute, AttributeSchema

_LAZY = {
    "open_catalog": "textrec.catalog.build",
    "build_catalog": "textrec.catalog.build",
    "build_builtin": "textrec.catalog.builtin",
    "render_builtin_image": "textrec.catalog.builtin",
    "read_zappos": "textrec.catalog.zappos",
    "make_encoder": "textrec.catalog.features",
    "extract_features": "textrec.catalog.features",
    "AttrNetConfig": "textrec.catalog.attrnet",
    "with_attrnet": "textrec.catalog.attrnet",
}

__all__ = ["Attribute", "AttributeSchema", "Catalog", "Pool", "TEST", "TRAIN", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'textrec.catalog' has no attribute {name!r}")
