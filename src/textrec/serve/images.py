"""Item pictures by catalog index: the catalog's own photo, or a drawing of a built-in item.

Images are only ever looked up by an item of the catalog, never by a path a client sends:

* a UT-Zappos catalog reads its ``image_refs`` from the data folder recorded in its provenance
  (the images zip or tree) and serves the JPEG bytes as they are, at their original resolution
  (136x102): no resampling, so nothing is lost or invented;
* the built-in catalog's items are drawn by :func:`~textrec.catalog.builtin.render_builtin_image`
  (shape from category, heel, toe and closure; colour from the item), supersampled to
  :data:`DRAWING_SIZE` so that they stay sharp on high-density screens;
* any other catalog (or a UT-Zappos one whose data folder is gone) has no pictures.

:meth:`ItemImages.file` gives a picture as a file a person can open (the terminal chat prints
it): the image itself in an unpacked data folder, else a copy under the cache folder.
"""

from __future__ import annotations

import functools
import io
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from textrec.catalog.catalog import Catalog
from textrec.io import atomic_file

__all__ = ["DRAWING_SIZE", "ItemImages", "Picture"]

_CACHE_ITEMS = 512
"""Encoded pictures kept in memory."""
DRAWING_SIZE = (544, 408)
"""Pixels of a built-in item's drawing: 4x the 136x102 of a UT-Zappos photo (shown at 2x)."""
_SUPERSAMPLE = 2
"""Drawn at this multiple of :data:`DRAWING_SIZE`, then reduced: smooth edges."""


@dataclass(frozen=True)
class Picture:
    """An encoded image."""

    data: bytes
    """The file's bytes."""
    media_type: str
    """``"image/jpeg"`` or ``"image/png"``."""

    @property
    def suffix(self) -> str:
        """File name suffix of the encoding."""
        return ".jpg" if self.media_type == "image/jpeg" else ".png"


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:80]


def _drawing(catalog: Catalog, index: int) -> Picture:
    from textrec.catalog.builtin import render_builtin_image

    big = (DRAWING_SIZE[0] * _SUPERSAMPLE, DRAWING_SIZE[1] * _SUPERSAMPLE)
    drawn = render_builtin_image(catalog, index, big)
    box = ImageOps.invert(drawn).getbbox()  # what is not white; centred, at the same scale
    if box is not None:
        shoe = drawn.crop(box)
        drawn = Image.new("RGB", big, (255, 255, 255))
        drawn.paste(shoe, ((big[0] - shoe.width) // 2, (big[1] - shoe.height) // 2))
    img = drawn.resize(DRAWING_SIZE, Image.Resampling.BOX)
    out = io.BytesIO()
    img.quantize(64, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    return Picture(out.getvalue(), "image/png")


class ItemImages:
    """Pictures of a catalog's items (thread-safe; recently used ones cached).

    Args:
        catalog: the catalog served.
        cache_dir: where :meth:`file` writes copies (default: ``pictures/`` under
            :func:`~textrec.catalog.build.cache_root`).
    """

    def __init__(self, catalog: Catalog, cache_dir: str | Path | None = None) -> None:
        from textrec.catalog.build import cache_root

        self.catalog = catalog
        self._lock = threading.Lock()
        self._source = None
        provenance = catalog.provenance
        data = provenance.get("data")
        if provenance.get("source") == "zappos" and data and Path(data).is_dir():
            from textrec.catalog.zappos import open_images

            self._source = open_images(data, [str(r) for r in catalog.image_refs])
            _ = self._source.archive  # open the zip (or list the tree) now, not on a request
        self.drawn = provenance.get("source") == "builtin"
        self.cache_dir = cache_root() / "pictures" if cache_dir is None else Path(cache_dir)
        self.picture = functools.lru_cache(maxsize=_CACHE_ITEMS)(self._picture)

    @functools.cached_property
    def _copies(self) -> Path:
        name = _safe_name(self.catalog.name) or "catalog"
        return self.cache_dir / f"{name}-{self.catalog.fingerprint[:12]}"

    @property
    def has_pictures(self) -> bool:
        """The catalog's items have pictures (photos or drawings)."""
        return self._source is not None or self.drawn

    def file(self, index: int) -> Path | None:
        """A file holding item ``index``'s picture (``None`` when the catalog has none).

        A photo in an unpacked data folder is that file; a photo inside the images zip and a
        drawing are written (once, atomically) under :attr:`cache_dir`.
        """
        if self._source is not None and self._source.archive.zip_path is None:
            return self._source.data_dir / self._source.refs[index]
        if not self.has_pictures:
            return None
        picture = self.picture(index)
        stem = _safe_name(str(self.catalog.item_ids[index]))
        path = self._copies / f"{index}-{stem}{picture.suffix}"
        if not path.is_file():
            with atomic_file(path) as tmp:
                tmp.write_bytes(picture.data)
        return path

    def where(self, index: int) -> str:
        """Where a person can open item ``index``'s picture (a file path), or why not."""
        path = self.file(index)
        return "no picture in this catalog" if path is None else str(path)

    def _picture(self, index: int) -> Picture | None:
        if self._source is not None:
            with self._lock:  # one zip handle, shared
                data = self._source.read(index)
            return Picture(data, "image/jpeg")
        return _drawing(self.catalog, index) if self.drawn else None
