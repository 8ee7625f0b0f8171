"""Read UT-Zappos50K in its official layout: items, labels, the paper's split, image access.

Layout (``data_dir``):

* images, either the folder tree
  ``ut-zap50k-images/<Category>/<SubCategory>/<Brand>/<PID>.<CID>.jpg`` or the images zip
  (``ut-zap50k-images*.zip``, same paths inside), read in place with :mod:`zipfile`;
* optionally ``ut-zap50k-data/meta-data.csv`` (or ``meta-data.csv``) with the columns
  ``CID, Category, SubCategory, HeelHeight, Insole, Closure, Gender, Material, ToeStyle``; optional
  fields may be empty and one field may hold several values separated by ``;``.

The item id (``CID``) is the file stem with ``.`` replaced by ``-`` (``100627.72.jpg`` ->
``100627-72``), as in ``meta-data.csv``. Items are ordered by image path.

Folder names become values with HTML entities decoded (the brand folder ``Levi's&#174; Shoes`` is
the brand ``Levi's® Shoes``).

Attributes. With ``meta-data.csv``: the paper's six, category, subcategory, heel_height, closure,
gender, toe_style (vocabularies: the published lists in :data:`OFFICIAL_VOCABULARIES`, then any
other value found in the data, sorted). Without it: category, subcategory and brand from the
folder tree, and a colour named from the pixels.

Colour naming (:func:`name_colours`), vectorised over a batch of images decoded at half size
(68x51; JPEG DCT scaling, so decoding is cheap):

1. Background: the per-channel median of the one-pixel image border (white on UT-Zappos). A pixel
   is background when every channel is within :data:`BACKGROUND_TOLERANCE` of it.
2. Palette match: every RGB colour, quantised to 32 levels per channel, is mapped once to the
   nearest of a few anchor colours per name in CIELAB (CIE76 distance); the names are
   :data:`COLOUR_NAMES`. Each pixel is looked up in that 32x32x32 table.
3. The item's colour is the name with the most foreground pixels (ties: the earlier name). An
   image with no foreground pixel gets the name of its background.

Split: the paper's random 40,020 / 10,005 train/test split (:func:`paper_split`), seeded, and
proportional (20% test) on other item counts.
"""

from __future__ import annotations

import difflib
import hashlib
import html
import io
import logging
import os
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from textrec.catalog.catalog import TEST, TRAIN
from textrec.catalog.features import images_to_array
from textrec.catalog.schema import Attribute, AttributeSchema
from textrec.errors import InputError

__all__ = [
    "OFFICIAL_VOCABULARIES",
    "SUBCATEGORY_CATEGORY",
    "PAPER_ATTRIBUTES",
    "META_COLUMNS",
    "COLOUR_NAMES",
    "BACKGROUND_TOLERANCE",
    "IMAGES_DIR",
    "paper_split",
    "name_colours",
    "ZapposImages",
    "ZapposItems",
    "find_meta_data",
    "open_images",
    "list_images",
    "data_fingerprint",
    "read_zappos",
]

logger = logging.getLogger(__name__)

IMAGES_DIR = "ut-zap50k-images"
"""Name of the official image folder (and the root folder inside the images zip)."""

SUBCATEGORY_CATEGORY: dict[str, str] = {
    "Ankle": "Boots",
    "Knee High": "Boots",
    "Mid-Calf": "Boots",
    "Over the Knee": "Boots",
    "Prewalker Boots": "Boots",
    "Athletic": "Sandals",
    "Flat": "Sandals",
    "Heel": "Sandals",
    "Boat Shoes": "Shoes",
    "Clogs and Mules": "Shoes",
    "Crib Shoes": "Shoes",
    "Firstwalker": "Shoes",
    "Flats": "Shoes",
    "Heels": "Shoes",
    "Loafers": "Shoes",
    "Oxfords": "Shoes",
    "Prewalker": "Shoes",
    "Sneakers and Athletic Shoes": "Shoes",
    "Boot": "Slippers",
    "Slipper Flats": "Slippers",
    "Slipper Heels": "Slippers",
}
"""The 21 official subcategories and the category each belongs to."""

OFFICIAL_VOCABULARIES: dict[str, tuple[str, ...]] = {
    "category": ("Boots", "Sandals", "Shoes", "Slippers"),
    "subcategory": tuple(SUBCATEGORY_CATEGORY),
    "heel_height": (
        "Flat",
        "Under 1in",
        "1in - 1 3/4in",
        "2in - 2 3/4in",
        "3in - 3 3/4in",
        "4in - 4 3/4in",
        "5in & over",
    ),
    "closure": (
        "Lace up",
        "Slip-On",
        "Pull-on",
        "Buckle",
        "Zipper",
        "Hook and Loop",
        "Ankle Strap",
        "Ankle Wrap",
        "Sling Back",
        "Elastic Gore",
        "Bungee",
        "Toggle",
        "Button Loop",
        "Monk Strap",
    ),
    "gender": ("Men", "Women", "Boys", "Girls"),
    "toe_style": (
        "Round Toe",
        "Pointed Toe",
        "Square Toe",
        "Open Toe",
        "Closed Toe",
        "Peep Toe",
        "Almond",
        "Wide Toe Box",
        "Capped Toe",
        "Wingtip",
        "Moc Toe",
        "Algonquin",
        "Medallion",
        "Bicycle Toe",
        "Snub Toe",
        "Bump Toe",
        "Snip Toe",
        "Center Seam",
    ),
}
"""The published value lists of the paper's six attributes (PROVENANCE.md of the shared data)."""

PAPER_ATTRIBUTES: tuple[tuple[str, str, bool], ...] = (
    ("category", "category", False),
    ("subcategory", "subcategory", False),
    ("heel_height", "heel height", False),
    ("closure", "closure", True),
    ("gender", "gender", True),
    ("toe_style", "toe style", True),
)
"""``(name, label, multi_valued)`` of the paper's six attributes, in schema order."""

META_COLUMNS: dict[str, str | None] = {
    "CID": None,
    "Category": "category",
    "SubCategory": "subcategory",
    "HeelHeight": "heel_height",
    "Insole": None,
    "Closure": "closure",
    "Gender": "gender",
    "Material": None,
    "ToeStyle": "toe_style",
}
"""Columns of the official ``meta-data.csv`` -> the attribute they fill (``None``: not used)."""

COLOUR_NAMES: tuple[str, ...] = (
    "black",
    "white",
    "grey",
    "brown",
    "beige",
    "red",
    "pink",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
)
"""Colour vocabulary of the pixel-derived ``colour`` attribute."""

_COLOUR_ANCHORS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "black": ((20, 20, 20), (45, 42, 42)),
    "white": ((248, 248, 248), (232, 232, 228), (222, 222, 222)),
    "grey": ((128, 128, 128), (175, 175, 175), (85, 85, 90)),
    "brown": ((100, 65, 40), (140, 95, 55), (70, 45, 30), (165, 115, 70)),
    "beige": ((215, 195, 165), (230, 215, 190), (195, 170, 130)),
    "red": ((190, 30, 35), (135, 25, 35), (220, 60, 60)),
    "pink": ((240, 170, 190), (225, 100, 150), (245, 200, 210)),
    "orange": ((240, 130, 40), (210, 100, 40)),
    "yellow": ((240, 215, 60), (215, 185, 60), (250, 235, 130)),
    "green": ((60, 135, 70), (105, 120, 60), (40, 80, 50), (140, 190, 110)),
    "blue": ((40, 80, 170), (30, 40, 80), (110, 155, 210), (60, 110, 150)),
    "purple": ((115, 60, 145), (75, 40, 90), (170, 120, 190)),
}
"""sRGB anchor colours of each name (dark, mid and light shades; white includes the light shading
of white shoes, so that light grey only starts below about 200)."""

BACKGROUND_TOLERANCE = 12
"""Max per-channel difference (0-255) from the border colour for a pixel to count as background."""

COLOUR_SIZE: tuple[int, int] = (51, 68)
"""``(height, width)`` images are decoded at for colour naming (half the native 102x136)."""

_N_TEST_PAPER, _N_PAPER = 10_005, 50_025


def paper_split(n_items: int, seed: int) -> np.ndarray:
    """The paper's random train/test split: ``(N,) int8`` of TRAIN / TEST.

    ``round(N * 10005 / 50025)`` items (exactly 10,005 of 50,025) are drawn as test items with
    ``np.random.default_rng(seed)``; the rest are train items.
    """
    if n_items < 2:
        raise InputError(f"n_items must be >= 2 to split, got {n_items}")
    n_test = int(round(n_items * _N_TEST_PAPER / _N_PAPER))
    split = np.full(n_items, TRAIN, dtype=np.int8)
    split[np.random.default_rng(seed).permutation(n_items)[:n_test]] = TEST
    return split


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of ``(..., 3)`` sRGB values in 0-255."""
    c = rgb / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    return np.stack(
        [
            116.0 * f[..., 1] - 16.0,
            500.0 * (f[..., 0] - f[..., 1]),
            200.0 * (f[..., 1] - f[..., 2]),
        ],
        -1,
    )


@cache
def _colour_table() -> np.ndarray:
    """``(32**3,) uint8``: colour-name index of each 5-bit-per-channel RGB cell (cell centres)."""
    anchors = [(i, rgb) for i, name in enumerate(COLOUR_NAMES) for rgb in _COLOUR_ANCHORS[name]]
    anchor_name = np.array([i for i, _ in anchors])
    anchor_lab = _srgb_to_lab(np.array([rgb for _, rgb in anchors], dtype=np.float64))
    levels = np.arange(32) * 8.0 + 4.0
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    dist = ((_srgb_to_lab(grid)[:, None, :] - anchor_lab[None, :, :]) ** 2).sum(-1)
    return anchor_name[dist.argmin(1)].astype(np.uint8)


def _colour_index(pixels: np.ndarray) -> np.ndarray:
    """Colour-name index of each ``(..., 3) uint8`` pixel (table lookup)."""
    q = (pixels >> 3).astype(np.int32)
    return _colour_table()[(q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]]


def name_colours(images: np.ndarray) -> np.ndarray:
    """Dominant non-background colour of each image: ``(B, H, W, 3) uint8`` -> ``(B,)`` index.

    The index is into :data:`COLOUR_NAMES`; see the module docstring for the method.
    """
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise InputError(f"images must be (B, H, W, 3) uint8, got {images.shape} {images.dtype}")
    b, k = images.shape[0], len(COLOUR_NAMES)
    if b == 0:
        return np.zeros(0, dtype=np.int64)
    border = np.concatenate(
        [images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1
    )
    background = np.median(border, axis=1).astype(np.int16)  # (B, 3)
    diff = np.abs(images.astype(np.int16) - background[:, None, None, :]).max(axis=-1)
    foreground = diff > BACKGROUND_TOLERANCE  # (B, H, W)
    names = _colour_index(images).astype(np.int64) + (np.arange(b) * k)[:, None, None]
    counts = np.bincount(names[foreground], minlength=b * k).reshape(b, k)
    empty = counts.sum(axis=1) == 0
    out = counts.argmax(axis=1)
    out[empty] = _colour_index(background[empty].astype(np.uint8))
    return out


# ---------------------------------------------------------------------------------------- images
def _decode(data: bytes, where: str, size: tuple[int, int] | None) -> np.ndarray:
    """Decode JPEG bytes to ``(H, W, 3) uint8``; ``size`` asks the decoder for a reduced draft."""
    try:
        img = Image.open(io.BytesIO(data))
        if size is not None:
            img.draft("RGB", (size[1], size[0]))
        return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{where}: image does not decode ({exc})") from exc


class _Archive:
    """Encoded image bytes by reference: members of the images zip or files under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        tree = data_dir / IMAGES_DIR
        zips = sorted(data_dir.glob(f"{IMAGES_DIR}*.zip"))
        self.zip_path: Path | None = None
        self._zip: zipfile.ZipFile | None = None
        if tree.is_dir():
            self.refs = self._list_tree(tree)
        elif len(zips) == 1:
            self.zip_path = zips[0]
            try:
                self._zip = zipfile.ZipFile(self.zip_path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise InputError(f"{self.zip_path}: not a readable zip file ({exc})") from exc
            self.refs = sorted(
                n
                for n in self._zip.namelist()
                if not n.endswith("/") and n.lower().endswith((".jpg", ".jpeg"))
            )
            unsafe = [r for r in self.refs if _unsafe_member(r)]
            if unsafe:
                raise InputError(
                    f"{self.zip_path}: member {unsafe[0]!r} is an absolute path or climbs out "
                    f"with '..' ({len(unsafe)} such members); refusing the archive"
                )
        elif len(zips) > 1:
            raise InputError(f"{data_dir}: several image zips {[z.name for z in zips]}; keep one")
        else:
            raise FileNotFoundError(
                f"{data_dir}: no UT-Zappos50K images "
                f"(expected folder {IMAGES_DIR}/ or {IMAGES_DIR}*.zip)"
            )
        if not self.refs:
            raise InputError(f"{self.where('')}: no .jpg images found")

    def _list_tree(self, tree: Path) -> list[str]:
        refs = []
        for root, _dirs, files in os.walk(tree):
            rel = Path(root).relative_to(self.data_dir).as_posix()
            refs.extend(f"{rel}/{f}" for f in files if f.lower().endswith((".jpg", ".jpeg")))
        return sorted(refs)

    def where(self, ref: str) -> str:
        """How an error names the image ``ref``."""
        if self.zip_path is not None:
            return f"{self.zip_path}: member {ref!r}" if ref else str(self.zip_path)
        return str(self.data_dir / ref) if ref else str(self.data_dir / IMAGES_DIR)

    def read(self, ref: str) -> bytes:
        """Encoded bytes of one image."""
        try:
            if self._zip is not None:
                return self._zip.read(ref)
            return (self.data_dir / ref).read_bytes()
        except (KeyError, OSError, zipfile.BadZipFile) as exc:
            raise InputError(f"{self.where(ref)}: cannot read image ({exc})") from exc


def _unsafe_member(name: str) -> bool:
    """A zip member name that is absolute, has a drive or backslashes, or climbs with ``..``."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts or "\\" in name


def _hash_image(h: Any, data: bytes) -> None:
    """Add one image's encoded bytes (length-prefixed) to a running hash."""
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


class ZapposImages:
    """The images of a UT-Zappos50K item list, by position (an ``ImageSource`` for the encoders).

    Args:
        data_dir: the UT-Zappos50K folder.
        refs: ``(N,)`` image paths as in :attr:`ZapposItems.image_refs`.
        archive: the already opened zip or folder (opened on first use when ``None``).
        content_hash: hash of all images' bytes, when already known (computed on first use).
    """

    def __init__(
        self,
        data_dir: Path,
        refs: Sequence[str],
        *,
        archive: _Archive | None = None,
        content_hash: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.refs = list(refs)
        self._archive = archive
        self._content_hash = content_hash

    @property
    def archive(self) -> _Archive:
        """The zip or folder the images are read from (opened once)."""
        if self._archive is None:
            self._archive = _Archive(self.data_dir)
        return self._archive

    def __len__(self) -> int:
        return len(self.refs)

    def read(self, index: int) -> bytes:
        """Encoded bytes of image ``index``."""
        return self.archive.read(self.refs[index])

    @property
    def content_hash(self) -> str:
        """SHA-256 over (length, bytes) of every image, in order."""
        if self._content_hash is None:
            h = hashlib.sha256()
            for i in range(len(self.refs)):
                _hash_image(h, self.read(i))
            self._content_hash = h.hexdigest()
        return self._content_hash

    def load(self, indices: Sequence[int], size: tuple[int, int] | None = None) -> list[np.ndarray]:
        """Decoded ``(H, W, 3) uint8`` images; ``size`` asks for a reduced draft of ~that size."""
        return [_decode(self.read(i), self.archive.where(self.refs[i]), size) for i in indices]


@dataclass(frozen=True, eq=False)
class ZapposItems:
    """UT-Zappos50K items before features: labels, split and where each image lives.

    Shapes (``N`` items, ``K`` attributes, ``V`` values): ``item_ids (N,)`` str,
    ``labels (N, K) int32`` (-1 missing), ``label_sets (N, V) bool``, ``split (N,) int8``,
    ``image_refs (N,)`` str (path inside ``data_dir`` or inside the zip).
    """

    schema: AttributeSchema
    item_ids: np.ndarray
    labels: np.ndarray
    label_sets: np.ndarray
    split: np.ndarray
    image_refs: np.ndarray
    images: ZapposImages
    """Access to the encoded and decoded images."""
    provenance: Mapping[str, Any]
    """Source, data path, whether ``meta-data.csv`` was used, seed."""


def find_meta_data(data_dir: str | Path) -> Path | None:
    """``ut-zap50k-data/meta-data.csv`` or ``meta-data.csv`` in ``data_dir``, if present."""
    root = Path(data_dir)
    for candidate in (root / "ut-zap50k-data" / "meta-data.csv", root / "meta-data.csv"):
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise InputError(f"{candidate}: not a file (the labels' CSV file goes by this name)")
    return None


def _data_folder(data_dir: str | Path) -> Path:
    """``data_dir`` as a path; an error naming it when it is a file or missing."""
    root = Path(data_dir)
    if root.exists() and not root.is_dir():
        raise InputError(
            f"{root}: a file, not a folder; --data names the UT-Zappos50K folder (holding "
            f"{IMAGES_DIR}*.zip or {IMAGES_DIR}/)"
        )
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: UT-Zappos50K folder not found")
    return root


def open_images(data_dir: str | Path, refs: Sequence[str]) -> ZapposImages:
    """Image access for catalog ``image_refs`` (e.g. to serve item images)."""
    return ZapposImages(_data_folder(data_dir), list(refs))


def list_images(data_dir: str | Path) -> list[str]:
    """References of all images in ``data_dir`` (zip members or tree paths), sorted."""
    return list(_Archive(Path(data_dir)).refs)


def data_fingerprint(data_dir: str | Path) -> str:
    """Content hash of a UT-Zappos50K folder: images (zip file or tree) and ``meta-data.csv``."""
    root = _data_folder(data_dir)
    archive = _Archive(root)
    h = hashlib.sha256()
    if archive.zip_path is not None:
        with archive.zip_path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 23), b""):
                h.update(block)
    else:
        for ref in archive.refs:
            data = archive.read(ref)
            h.update(f"{ref}\n{len(data)}\n".encode())
            h.update(data)
    meta = find_meta_data(root)
    if meta is not None:
        h.update(meta.read_bytes())
    return h.hexdigest()[:20]


# ---------------------------------------------------------------------------------------- reading
def _folder_name(part: str) -> str:
    """A folder name as a value: HTML entities decoded (``Levi's&#174; Shoes`` -> ``Levi's® Shoes``)
    and ``;``, the catalog's multi-value separator, replaced by ``,``."""
    return html.unescape(part).replace(";", ",")


def _parse_ref(ref: str, where: str) -> tuple[str, str, str, str]:
    """``(cid, category, subcategory, brand)`` of ``<Category>/<SubCategory>/<Brand>/<file>``."""
    parts = ref.split("/")
    if len(parts) < 4:
        raise InputError(
            f"{where}: expected <Category>/<SubCategory>/<Brand>/<file>.jpg, got {ref!r}"
        )
    stem = parts[-1].rsplit(".", 1)[0]
    return (
        stem.replace(".", "-"),
        _folder_name(parts[-4]),
        _folder_name(parts[-3]),
        _folder_name(parts[-2]),
    )


def _vocabulary(published: Sequence[str], found: Iterable[str]) -> tuple[str, ...]:
    """Published values in order, then values found in the data that are not published, sorted."""
    extra = sorted(set(found) - set(published))
    return tuple(published) + tuple(extra)


def _encode_single(
    columns: Mapping[str, np.ndarray], names: Sequence[str], vocabs: Sequence[Sequence[str]]
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and label sets of single-valued, always-present string columns."""
    n = len(next(iter(columns.values())))
    sizes = [len(v) for v in vocabs]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    labels = np.empty((n, len(names)), dtype=np.int32)
    label_sets = np.zeros((n, int(offsets[-1])), dtype=bool)
    for k, name in enumerate(names):
        labels[:, k] = pd.Categorical(columns[name], categories=list(vocabs[k])).codes
        label_sets[np.arange(n), offsets[k] + labels[:, k]] = True
    return labels, label_sets


def _row(index: int) -> str:
    """How an error names data row ``index`` (0-based) of a CSV file with a header line."""
    return f"row {index + 1} (line {index + 2})"


def _read_meta(path: Path) -> pd.DataFrame:
    """Read and check ``meta-data.csv``: known columns, required fields present, unique CIDs."""
    try:
        df = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[], skipinitialspace=True
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise InputError(f"{path}: cannot parse CSV ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    unknown = [c for c in df.columns if c not in META_COLUMNS]
    if unknown:
        raise InputError(
            f"{path}: unknown column(s) {unknown}; expected a subset of {list(META_COLUMNS)}"
        )
    for required in ("CID", "Category", "SubCategory"):
        if required not in df.columns:
            raise InputError(f"{path}: missing column {required!r}")
        empty = np.flatnonzero(df[required].str.strip().to_numpy() == "")
        if len(empty):
            raise InputError(f"{path}: {_row(int(empty[0]))}, column {required!r}: empty value")
    df = df.apply(lambda col: col.str.strip())
    dup = df["CID"].duplicated(keep="first").to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise InputError(f"{path}: {_row(row)}, column 'CID': duplicate CID {df['CID'].iat[row]!r}")
    return df


def _check_values(path: Path, df: pd.DataFrame, column: str, published: Sequence[str]) -> None:
    """Every value of ``column`` is a published one: a typo is an error, never a new value."""
    values = df[column].str.split(";").explode().str.strip()
    bad = values[(values != "") & ~values.isin(list(published))]
    if len(bad):
        row, value = int(bad.index[0]), str(bad.iloc[0])
        close = difflib.get_close_matches(value, list(published), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {list(published)}"
        raise InputError(
            f"{path}: {_row(row)}, column {column!r}: unknown value {value!r} "
            f"({bad.index.nunique()} rows with unknown values){hint}"
        )


def _check_agrees(path: Path, df: pd.DataFrame, column: str, folders: np.ndarray) -> None:
    """Each row's ``column`` is the folder its image is filed under (``folders``, row-aligned)."""
    bad = np.flatnonzero(df[column].to_numpy(dtype=object) != folders)
    if len(bad):
        r = int(bad[0])
        raise InputError(
            f"{path}: {_row(r)}, column {column!r}: {df[column].iat[r]!r} contradicts the folder "
            f"tree, which files CID {df['CID'].iat[r]!r} under {folders[r]!r} ({len(bad)} such "
            "rows); the images or the CSV are not UT-Zappos50K's own"
        )


def _meta_labels(
    path: Path, df: pd.DataFrame, cids: np.ndarray, folder_labels: Mapping[str, np.ndarray]
) -> tuple[AttributeSchema, np.ndarray, np.ndarray]:
    """The paper's six attributes from ``meta-data.csv`` rows, aligned to the image items."""
    n = len(cids)
    position = pd.Index(cids).get_indexer(df["CID"].to_numpy())
    orphan = np.flatnonzero(position < 0)
    if len(orphan):
        r = int(orphan[0])
        raise InputError(f"{path}: {_row(r)}, column 'CID': {df['CID'].iat[r]!r} has no image")
    covered = np.zeros(n, dtype=bool)
    covered[position] = True
    if not covered.all():
        logger.warning(
            "%s: %d images have no row; their labels come from the folder tree only",
            path,
            int((~covered).sum()),
        )
    attrs, blocks, primaries = [], [], []
    for name, label, multi in PAPER_ATTRIBUTES:
        column = next((c for c, a in META_COLUMNS.items() if a == name), None)
        cells = np.full(n, "", dtype=object)
        if name in folder_labels:
            cells[:] = folder_labels[name]
        if column in df.columns:
            _check_values(path, df, column, OFFICIAL_VOCABULARIES[name])
            if name in folder_labels:
                _check_agrees(path, df, column, folder_labels[name][position])
            cells[position] = df[column].to_numpy(dtype=object)
        values = pd.Series(cells).str.split(";").explode().str.strip()
        values = values[values != ""]
        vocab = _vocabulary(OFFICIAL_VOCABULARIES[name], values.unique().tolist())
        rows = values.index.to_numpy()
        codes = pd.Categorical(values.to_numpy(), categories=list(vocab)).codes
        several = np.bincount(rows, minlength=n) > 1
        attrs.append(Attribute(name, vocab, label=label, multi_valued=multi or bool(several.any())))
        block = np.zeros((n, len(vocab)), dtype=bool)
        block[rows, codes] = True
        primary = np.full(n, -1, dtype=np.int32)
        first = ~pd.Series(rows).duplicated().to_numpy()
        primary[rows[first]] = codes[first]
        blocks.append(block)
        primaries.append(primary)
    return (
        AttributeSchema(tuple(attrs)),
        np.stack(primaries, axis=1),
        np.concatenate(blocks, axis=1),
    )


def _scan_images(
    archive: _Archive, refs: Sequence[str], progress: bool, batch_size: int = 512
) -> tuple[str, np.ndarray]:
    """One pass over the images: content hash, decode check and colour name of each."""
    h = hashlib.sha256()
    colours = np.empty(len(refs), dtype=np.int64)
    bar = tqdm(total=len(refs), desc="images (check, colour)", unit="img", disable=not progress)
    with bar:
        for start in range(0, len(refs), batch_size):
            decoded = []
            for ref in refs[start : start + batch_size]:
                data = archive.read(ref)
                _hash_image(h, data)
                decoded.append(_decode(data, archive.where(ref), COLOUR_SIZE))
            colours[start : start + len(decoded)] = name_colours(
                images_to_array(decoded, COLOUR_SIZE)
            )
            bar.update(len(decoded))
    return h.hexdigest(), colours


def read_zappos(
    data_dir: str | Path,
    *,
    seed: int = 0,
    subset: Sequence[str] | None = None,
    progress: bool = True,
) -> ZapposItems:
    """Read UT-Zappos50K from ``data_dir`` (layout in the module docstring).

    Args:
        data_dir: folder holding the images (tree or zip) and optionally ``meta-data.csv``.
        seed: seed of the train/test split.
        subset: only these images, as paths below ``ut-zap50k-images/`` (the ``path`` column of
            ``image-catalog.csv``) or full image references; ``None`` reads all.
        progress: show a progress bar over the image pass.

    Returns:
        The items in image-path order, with labels, the paper's split and image access.

    Raises:
        FileNotFoundError: ``data_dir`` or its images are missing.
        ValueError: a malformed path, an image that does not decode, duplicate CIDs, an unknown
            ``meta-data.csv`` column, a row whose CID has no image, or a ``subset`` path that
            is not in the data; the message names the file, row and column.
    """
    root = _data_folder(data_dir)
    archive = _Archive(root)
    refs = archive.refs
    if subset is not None:
        by_short = {r.split(f"{IMAGES_DIR}/", 1)[-1]: r for r in refs}
        chosen = []
        for s in subset:
            ref = by_short.get(s.split(f"{IMAGES_DIR}/", 1)[-1])
            if ref is None:
                raise InputError(f"{archive.where('')}: subset image {s!r} not found")
            chosen.append(ref)
        refs = sorted(set(chosen))
    parsed = [_parse_ref(r, archive.where(r)) for r in refs]
    cids = np.array([p[0] for p in parsed], dtype=object)
    dup = pd.Index(cids).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(cids == cids[i])[0])
        raise InputError(f"{archive.where(refs[i])}: CID {cids[i]!r} also used by {refs[first]!r}")
    folder = {
        "category": np.array([p[1] for p in parsed], dtype=object),
        "subcategory": np.array([p[2] for p in parsed], dtype=object),
        "brand": np.array([p[3] for p in parsed], dtype=object),
    }
    meta_path = find_meta_data(root)
    meta = None if meta_path is None else _read_meta(meta_path)  # check before the long pass
    content_hash, colours = _scan_images(archive, refs, progress)
    images = ZapposImages(root, refs, archive=archive, content_hash=content_hash)
    if meta_path is not None and meta is not None:
        folder_six = {k: folder[k] for k in ("category", "subcategory")}
        schema, labels, label_sets = _meta_labels(meta_path, meta, cids, folder_six)
    else:
        folder["colour"] = np.array(COLOUR_NAMES, dtype=object)[colours]
        vocabs = [
            _vocabulary(OFFICIAL_VOCABULARIES["category"], folder["category"]),
            _vocabulary(OFFICIAL_VOCABULARIES["subcategory"], folder["subcategory"]),
            tuple(sorted(set(folder["brand"]))),
            COLOUR_NAMES,
        ]
        names = ["category", "subcategory", "brand", "colour"]
        labels, label_sets = _encode_single(folder, names, vocabs)
        schema = AttributeSchema(
            tuple(Attribute(n, tuple(v)) for n, v in zip(names, vocabs, strict=True))
        )
    return ZapposItems(
        schema=schema,
        item_ids=cids,
        labels=labels,
        label_sets=label_sets,
        split=paper_split(len(refs), seed),
        image_refs=np.array(refs, dtype=object),
        images=images,
        provenance={
            "source": "zappos",
            "data": str(root.resolve()),
            "images": archive.where(""),
            "meta_data": None if meta_path is None else str(meta_path),
            "colour": "derived from pixels" if meta_path is None else None,
            "seed": seed,
            "content_hash": content_hash[:20],
        },
    )
