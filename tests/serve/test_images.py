"""Item pictures: UT-Zappos photos served byte for byte, built-in items drawn, files to open."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from textrec.catalog.builtin import build_builtin
from textrec.serve.images import DRAWING_SIZE, ItemImages

from .conftest import zappos_like


@pytest.fixture(scope="module")
def builtin():
    return build_builtin(n_items=60, seed=0)


@pytest.fixture()
def zipped(tmp_path, toy_catalog):
    """The toy catalog as if built from a UT-Zappos folder whose images are in the zip."""
    return zappos_like(toy_catalog, tmp_path)


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


def test_the_image_route_serves_drawings_of_builtin_items(builtin):
    from fastapi.testclient import TestClient

    from textrec.serve.app import Service, create_app
    from textrec.serve.session import load_picker

    service = Service(load_picker("slot-filler", builtin, seed=0))
    with TestClient(create_app(service)) as client:
        item = client.post("/api/sessions", json={}).json()["item"]
        assert item["has_picture"] and item["picture"] == "drawing"
        r = client.get(item["image_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(r.content)).size == DRAWING_SIZE
