"""Catalogs of items: schema, the item table, builders for the built-in and UT-Zappos50K sources."""

from textrec.catalog.catalog import TEST, TRAIN, Catalog, Pool
from textrec.catalog.schema import Attribute, AttributeSchema

__all__ = ["Attribute", "AttributeSchema", "Catalog", "Pool", "TEST", "TRAIN"]
