"""Item pictures: UT-Zappos photos served byte for byte, built-in items drawn, files to open."""

from __future__ import annotations

import dataclasses
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from textrec.catalog.builtin import build_builtin
from textrec.catalog.zappos import IMAGES_DIR
from textrec.serve.images import DRAWING_SIZE, ItemImages


@pytest.fixture(scope="module")
def builtin():
    return build_builtin(n_items=60, seed=0)


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (136, 102), colour).save(out, format="JPEG", quality=85)
    return out.getvalue()


@pytest.fixture()
def zipped(tmp_path, toy_catalog):
    """The toy catalog as if built from a UT-Zappos folder whose images are in the zip."""
    refs = [f"{IMAGES_DIR}/Shoes/Toy/{i}.jpg" for i in range(toy_catalog.n_items)]
    photos = [_jpeg((2 * i % 256, 90, 160)) for i in range(toy_catalog.n_items)]
    with zipfile.ZipFile(tmp_path / f"{IMAGES_DIR}-q85.zip", "w") as z:
        for ref, data in zip(refs, photos, strict=True):
            z.writestr(ref, data)
    catalog = dataclasses.replace(
        toy_catalog,
        image_refs=np.array(refs, dtype=object),
        provenance={"source": "zappos", "data": str(tmp_path)},
    )
    return catalog, photos


def test_photos_are_served_as_stored_at_their_resolution(zipped, tmp_path):
    catalog, photos = zipped
    images = ItemImages(catalog, cache_dir=tmp_path / "cache")
    assert images.has_pictures and not images.drawn
    picture = images.picture(7)
    assert picture.media_type == "image/jpeg" and picture.data == photos[7]  # no re-encoding
    assert Image.open(io.BytesIO(picture.data)).size == (136, 102)
    # In the terminal: a file that opens, not a path inside a zip.
    path = images.file(7)
    assert path.is_file() and path.read_bytes() == photos[7] and path.suffix == ".jpg"
    assert images.where(7) == str(path) and ".zip" not in images.where(7)


def test_builtin_items_are_drawn_from_their_attributes(builtin, tmp_path):
    images = ItemImages(builtin, cache_dir=tmp_path)
    assert images.has_pictures and images.drawn
    a, b = images.picture(0), images.picture(1)
    assert a.media_type == "image/png" and a.data.startswith(b"\x89PNG")
    drawn = Image.open(io.BytesIO(a.data)).convert("RGB")
    assert drawn.size == DRAWING_SIZE
    ink = (np.asarray(drawn).min(axis=2) < 200).mean()
    assert 0.03 < ink < 0.8  # a shoe, not an empty or a filled frame
    assert a.data != b.data  # item 0 (heels) and item 1 (sandals) look different
    again = ItemImages(builtin, cache_dir=tmp_path / "other").picture(0)
    assert again.data == a.data  # deterministic
    path = images.file(0)
    assert path.read_bytes() == a.data and images.file(0) == path


def test_a_catalog_without_pictures_says_so(toy_catalog, tmp_path):
    images = ItemImages(toy_catalog, cache_dir=tmp_path)
    assert not images.has_pictures and images.picture(0) is None and images.file(0) is None
    assert images.where(0) == "no picture in this catalog"
    assert not any(tmp_path.iterdir())
