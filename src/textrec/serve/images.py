"""Item pictures by catalog index: the catalog's own image, or a generated placeholder.

Images are only ever looked up by an item of the catalog, never by a path a client sends: a
UT-Zappos catalog reads its ``image_refs`` from the data folder recorded in its provenance (the
images zip or tree); the built-in catalog has no pictures, and gets a small generated PNG that
names the item and its attributes instead (:func:`placeholder_png`).
"""

from __future__ import annotations

import functools
import io
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

from textrec.catalog.catalog import Catalog

__all__ = ["Picture", "ItemImages", "placeholder_png"]

_CACHE_ITEMS = 512
"""Encoded pictures kept in memory."""


@dataclass(frozen=True)
class Picture:
    """An encoded image."""

    data: bytes
    """The file's bytes."""
    media_type: str
    """``"image/jpeg"`` or ``"image/png"``."""
    placeholder: bool
    """Generated (the catalog has no picture of the item)."""


def placeholder_png(title: str, lines: list[str], size: tuple[int, int] = (320, 240)) -> bytes:
    """A plain PNG with ``title`` and ``lines`` of text, for items without a picture."""
    img = Image.new("RGB", size, (236, 239, 243))
    draw = ImageDraw.Draw(img)
    draw.rectangle((6, 6, size[0] - 7, size[1] - 7), outline=(150, 160, 175), width=2)
    draw.text((18, 16), "no picture", fill=(120, 128, 140))
    draw.text((18, 38), title, fill=(20, 24, 32))
    for i, line in enumerate(lines[:9]):
        draw.text((18, 64 + 18 * i), line[:48], fill=(50, 56, 70))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


class ItemImages:
    """Pictures of a catalog's items (thread-safe; recently used ones cached)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._source = None
        data = catalog.provenance.get("data")
        if catalog.provenance.get("source") == "zappos" and data and Path(data).is_dir():
            from textrec.catalog.zappos import open_images

            self._source = open_images(data, [str(r) for r in catalog.image_refs])
            _ = self._source.archive  # open the zip (or list the tree) now, not on a request
        self.picture = functools.lru_cache(maxsize=_CACHE_ITEMS)(self._picture)

    @property
    def has_pictures(self) -> bool:
        """The catalog's items have real pictures (else placeholders)."""
        return self._source is not None

    def where(self, index: int) -> str:
        """Where item ``index``'s picture is read from (a file, or a zip and its member)."""
        if self._source is None:
            return "no picture (generated placeholder)"
        return self._source.archive.where(self._source.refs[index])

    def _picture(self, index: int) -> Picture:
        if self._source is not None:
            with self._lock:  # one zip handle, shared
                data = self._source.read(index)
            return Picture(data, "image/jpeg", placeholder=False)
        text = self.catalog.label_text(index)
        attrs = self.catalog.schema.attributes
        lines = [f"{a.label}: {text[a.name]}" for a in attrs if text[a.name]]
        return Picture(placeholder_png(str(self.catalog.item_ids[index]), lines), "image/png", True)
