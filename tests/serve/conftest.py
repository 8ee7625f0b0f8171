"""Fixtures of the serving tests: a reader that understands a few fixed words, pickers."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest

from textrec.catalog import Catalog
from textrec.language.reader import Reading, Request
from textrec.serve.session import slot_filler


class WordReader:
    """Reads "<value>" as a request for it and "no <value>" as a refusal (whole words, any case)."""

    def __init__(self, catalog: Catalog) -> None:
        self.schema = catalog.schema
        self.calls = 0

    def read_batch(self, texts: Sequence[str]) -> list[Reading]:
        self.calls += 1
        out = []
        for text in texts:
            low = text.lower()
            requests = []
            for attr in self.schema.attributes:
                for value in attr.values:
                    name = re.escape(value.lower())
                    g = self.schema.value_index(attr.name, value)
                    if re.search(rf"\bno {name}\b", low):
                        requests.append(Request(attr.name, value, "request", True, 1.0, g))
                    elif re.search(rf"\b{name}\b", low):
                        requests.append(Request(attr.name, value, "request", False, 1.0, g))
            out.append(Reading(text, tuple(requests)))
        return out


@pytest.fixture()
def word_reader(toy_catalog):
    return WordReader(toy_catalog)


@pytest.fixture()
def slot_picker(toy_catalog, word_reader):
    """The slot-filler over the toy catalog, reading with :class:`WordReader`."""
    return slot_filler(toy_catalog, word_reader)


@pytest.fixture(scope="session")
def toy_recommender(toy_catalog):
    """An untrained recommender over the toy catalog (its text encoder briefly pretrained)."""
    from textrec.agent import Recommender
    from textrec.language.corpus import build_corpus
    from textrec.language.encoder import EncoderConfig, pretrain_encoder

    text, _ = pretrain_encoder(build_corpus(toy_catalog.schema), EncoderConfig(steps=60), seed=0)
    return Recommender(toy_catalog, text, seed=0).eval()


def zappos_like(catalog: Catalog, folder) -> tuple[Catalog, list[bytes]]:
    """``catalog`` as if built from a UT-Zappos folder: one 136x102 JPEG per item in the images
    zip under ``folder``; returns it and the photos' bytes."""
    import dataclasses
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    from textrec.catalog.zappos import IMAGES_DIR

    refs = [f"{IMAGES_DIR}/Shoes/Toy/{i}.jpg" for i in range(catalog.n_items)]
    photos = []
    with zipfile.ZipFile(folder / f"{IMAGES_DIR}-q85.zip", "w") as z:
        for i, ref in enumerate(refs):
            out = io.BytesIO()
            Image.new("RGB", (136, 102), (2 * i % 256, 90, 160)).save(out, format="JPEG")
            photos.append(out.getvalue())
            z.writestr(ref, photos[-1])
    provenance = {"source": "zappos", "data": str(folder)}
    refs = np.array(refs, dtype=object)
    return dataclasses.replace(catalog, image_refs=refs, provenance=provenance), photos
