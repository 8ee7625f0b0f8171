"""UT-Zappos50K reader: official layout (tree, zip), meta-data.csv, colours, split, errors."""

from __future__ import annotations

import html
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from textrec.catalog import TEST, TRAIN, Catalog
from textrec.catalog.zappos import (
    COLOUR_NAMES,
    OFFICIAL_VOCABULARIES,
    name_colours,
    open_images,
    paper_split,
    read_zappos,
)
from textrec.cli import app

COLOURS = {
    "black": (25, 25, 28),
    "white": (238, 238, 236),
    "grey": (128, 128, 130),
    "brown": (110, 70, 40),
    "beige": (215, 195, 160),
    "red": (200, 25, 30),
    "pink": (240, 160, 185),
    "orange": (240, 130, 35),
    "yellow": (245, 215, 50),
    "green": (50, 140, 60),
    "blue": (35, 70, 180),
    "purple": (110, 50, 140),
}

# (path below ut-zap50k-images/, colour) of a tiny dataset in the official layout
ITEMS = sorted(
    [
        ("Boots/Ankle/Frye/100.1.jpg", "brown"),
        ("Boots/Knee High/Frye/101.2.jpg", "black"),
        ("Shoes/Oxfords/Clarks/102.3.jpg", "brown"),
        ("Shoes/Heels/Nine West/103.4.jpg", "red"),
        ("Shoes/Sneakers and Athletic Shoes/Nike/104.5.jpg", "white"),
        ("Shoes/Sneakers and Athletic Shoes/Nike/105.6.jpg", "blue"),
        ("Sandals/Flat/Teva/106.7.jpg", "green"),
        ("Slippers/Slipper Flats/UGG/107.8.jpg", "pink"),
        ("Shoes/Oxfords/Levi's&#174; Shoes/108.9.jpg", "grey"),
    ]
)

META = """CID,Category,SubCategory,HeelHeight,Insole,Closure,Gender,Material,ToeStyle
100-1,Boots,Ankle,1in - 1 3/4in,Padded,Lace up;Zipper,Women,Leather,Round Toe
101-2,Boots,Knee High,,,Zipper,Women,Leather,
102-3,Shoes,Oxfords,Under 1in,,Lace up,Men,Leather,Capped Toe;Wingtip
103-4,Shoes,Heels,3in - 3 3/4in,,Slip-On,Women,Satin,Pointed Toe
104-5,Shoes,Sneakers and Athletic Shoes,Flat,,Lace up,Men;Women,Mesh,Round Toe
105-6,Shoes,Sneakers and Athletic Shoes,Flat,,Hook and Loop,Boys,Mesh,Round Toe
106-7,Sandals,Flat,Flat,,Buckle;Ankle Strap,Women,,Open Toe
107-8,Slippers,Slipper Flats,,,Slip-On,Girls,Fleece,
108-9,Shoes,Oxfords,Flat,,Lace up,Men,,Round Toe
"""


def _shoe_jpeg(rgb: tuple[int, int, int]) -> bytes:
    img = Image.new("RGB", (136, 102), (255, 255, 255))
    ImageDraw.Draw(img).polygon(
        [(15, 80), (20, 35), (60, 40), (125, 70), (120, 85), (15, 85)], fill=rgb
    )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def make_dataset(
    root: Path,
    *,
    layout: str = "tree",
    meta: str | None = META,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Write the tiny dataset under ``root`` as a folder tree or a (stored) zip, with ``meta``."""
    root.mkdir(parents=True, exist_ok=True)
    files = {f"ut-zap50k-images/{p}": _shoe_jpeg(COLOURS[c]) for p, c in ITEMS}
    files.update(extra or {})
    if layout == "tree":
        for name, data in files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
    else:
        with zipfile.ZipFile(
            root / "ut-zap50k-images-square.zip", "w", compression=zipfile.ZIP_STORED
        ) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    if meta is not None:
        (root / "ut-zap50k-data").mkdir(exist_ok=True)
        (root / "ut-zap50k-data" / "meta-data.csv").write_text(meta)
    return root


def _values(items, row: int, attr: str) -> set[str]:
    k = items.schema.index(attr)
    lo = items.schema.offsets[k]
    vals = items.schema.attributes[k].values
    return {
        vals[i] for i in np.flatnonzero(items.label_sets[row, lo : items.schema.offsets[k + 1]])
    }


@pytest.mark.parametrize("layout", ["tree", "zip"])
def test_meta_data_gives_the_papers_six_attributes(tmp_path, layout):
    items = read_zappos(make_dataset(tmp_path, layout=layout), progress=False)
    assert items.schema.names == (
        "category",
        "subcategory",
        "heel_height",
        "closure",
        "gender",
        "toe_style",
    )
    assert list(items.item_ids) == [p.rsplit("/", 1)[1][:-4].replace(".", "-") for p, _ in ITEMS]
    row = {cid: i for i, cid in enumerate(items.item_ids)}
    assert _values(items, row["100-1"], "closure") == {"Lace up", "Zipper"}
    primary = items.labels[row["100-1"], items.schema.index("closure")]
    assert items.schema.attributes[items.schema.index("closure")].values[primary] == "Lace up"
    assert (
        items.labels[row["101-2"], items.schema.index("heel_height")] == -1
    )  # empty field = missing
    assert items.labels[row["101-2"], items.schema.index("toe_style")] == -1
    assert _values(items, row["102-3"], "toe_style") == {"Capped Toe", "Wingtip"}
    assert _values(items, row["104-5"], "gender") == {"Men", "Women"}
    assert _values(items, row["103-4"], "heel_height") == {"3in - 3 3/4in"}
    closure = items.schema.attributes[items.schema.index("closure")]
    assert (
        closure.values[: len(OFFICIAL_VOCABULARIES["closure"])] == OFFICIAL_VOCABULARIES["closure"]
    )
    assert closure.values == OFFICIAL_VOCABULARIES["closure"]  # no value beyond the published
    assert (
        closure.multi_valued
        and not items.schema.attributes[items.schema.index("heel_height")].multi_valued
    )
    assert items.schema.attributes[1].values == OFFICIAL_VOCABULARIES["subcategory"]


def test_tree_and_zip_agree(tmp_path):
    tree = read_zappos(make_dataset(tmp_path / "t", layout="tree"), progress=False)
    zipped = read_zappos(make_dataset(tmp_path / "z", layout="zip"), progress=False)
    np.testing.assert_array_equal(tree.label_sets, zipped.label_sets)
    np.testing.assert_array_equal(tree.split, zipped.split)
    assert tree.images.content_hash == zipped.images.content_hash
    assert list(tree.image_refs) == list(zipped.image_refs)
    assert open_images(tmp_path / "z", zipped.image_refs).read(0) == open_images(
        tmp_path / "t", tree.image_refs
    ).read(0)


def test_without_meta_data_uses_folders_and_pixel_colour(tmp_path):
    items = read_zappos(make_dataset(tmp_path, layout="zip", meta=None), progress=False)
    assert items.schema.names == ("category", "subcategory", "brand", "colour")
    assert items.schema.attributes[3].values == COLOUR_NAMES
    text = [
        dict(
            zip(
                items.schema.names,
                (items.schema.attributes[k].values[i] for k, i in enumerate(row)),
                strict=True,
            )
        )
        for row in items.labels
    ]
    assert [t["colour"] for t in text] == [c for _, c in ITEMS]
    assert [t["brand"] for t in text] == [p.split("/")[2].replace("&#174;", "®") for p, _ in ITEMS]
    assert [t["subcategory"] for t in text] == [p.split("/")[1] for p, _ in ITEMS]
    assert (items.labels >= 0).all()


def test_name_colours_on_solid_shoes_on_white():
    batch = np.stack(
        [np.asarray(Image.open(io.BytesIO(_shoe_jpeg(rgb)))) for rgb in COLOURS.values()]
    )
    assert [COLOUR_NAMES[i] for i in name_colours(batch)] == list(COLOURS)
    # a mostly-black shoe with a small white logo is still black; an all-background image is white
    img = np.full((1, 102, 136, 3), 255, np.uint8)
    img[0, 30:90, 10:120] = (20, 20, 20)
    img[0, 50:55, 50:60] = (250, 250, 250)
    assert COLOUR_NAMES[name_colours(img)[0]] == "black"
    assert COLOUR_NAMES[name_colours(np.full((1, 20, 20, 3), 255, np.uint8))[0]] == "white"
    with pytest.raises(ValueError, match="uint8"):
        name_colours(np.zeros((1, 4, 4, 3), np.float32))


def test_paper_split_sizes_and_seed():
    split = paper_split(50025, seed=0)
    assert (split == TRAIN).sum() == 40020 and (split == TEST).sum() == 10005
    assert (paper_split(1000, 3) == TEST).sum() == 200
    np.testing.assert_array_equal(paper_split(1000, 3), paper_split(1000, 3))
    assert not np.array_equal(paper_split(1000, 3), paper_split(1000, 4))


def test_undecodable_image_names_the_member(tmp_path):
    bad = {"ut-zap50k-images/Shoes/Flats/Acme/999.9.jpg": b"not a jpeg at all"}
    make_dataset(tmp_path, layout="zip", extra=bad)
    with pytest.raises(
        ValueError, match=r"member 'ut-zap50k-images/Shoes/Flats/Acme/999\.9\.jpg'.*does not decode"
    ):
        read_zappos(tmp_path, progress=False)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (META.replace("ToeStyle", "ToeShape"), r"unknown column\(s\) \['ToeShape'\]"),
        (
            META + "555-5,Shoes,Flats,,,,,,\n",
            r"row 10 \(line 11\), column 'CID': '555-5' has no image",
        ),
        (
            META + "100-1,Boots,Ankle,,,,,,\n",
            r"row 10 \(line 11\), column 'CID': duplicate CID '100-1'",
        ),
        (
            META.replace("102-3,Shoes,Oxfords", "102-3,Shoes,"),
            r"row 3 \(line 4\), column 'SubCategory': empty value",
        ),
        ("CID,Category\n100-1,Boots\n", r"missing column 'SubCategory'"),
        (
            META.replace("Slip-On,Women,Satin", "Slip-on,Women,Satin"),
            r"row 4 \(line 5\), column 'Closure': unknown value 'Slip-on' .*did you mean 'Slip-On'",
        ),
        (
            META.replace("Capped Toe;Wingtip", "Capped Toe;Velcro"),
            r"row 3 \(line 4\), column 'ToeStyle': unknown value 'Velcro'",
        ),
    ],
)
def test_bad_meta_data_is_named(tmp_path, meta, message):
    make_dataset(tmp_path, meta=meta)
    with pytest.raises(ValueError, match=message) as err:
        read_zappos(tmp_path, progress=False)
    assert "meta-data.csv" in str(err.value)


def test_layout_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="folder not found"):
        read_zappos(tmp_path / "nothing", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no UT-Zappos50K images"):
        read_zappos(tmp_path / "empty", progress=False)
    make_dataset(
        tmp_path / "flat", extra={"ut-zap50k-images/loose.jpg": _shoe_jpeg((0, 0, 0))}, meta=None
    )
    with pytest.raises(ValueError, match="expected <Category>/<SubCategory>/<Brand>/<file>.jpg"):
        read_zappos(tmp_path / "flat", progress=False)
    make_dataset(tmp_path / "sub", meta=None)
    with pytest.raises(ValueError, match="subset image 'Shoes/Flats/None/1.2.jpg' not found"):
        read_zappos(tmp_path / "sub", subset=["Shoes/Flats/None/1.2.jpg"], progress=False)


def test_cli_builds_a_zappos_catalog(tmp_path):
    data = make_dataset(tmp_path / "data", layout="zip", meta=None)
    out = tmp_path / "cat"
    result = CliRunner().invoke(
        app,
        [
            "catalog",
            "build",
            "--catalog",
            "zappos",
            "--data",
            str(data),
            "--out",
            str(out),
            "--feature-cache",
            str(tmp_path / "feat"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["n_items"] == len(ITEMS) and summary["feature_dim"] == 1280
    assert [a["name"] for a in summary["attributes"]][:2] == ["category", "subcategory"]
    cat = Catalog.load(out)  # round trip, including the brand "Levi's® Shoes"
    assert "Levi's® Shoes" in cat.schema.attributes[cat.schema.index("brand")].values
    assert cat.provenance["encoder"] == "efficientnet-lite0"
    assert cat.image_refs[0].startswith("ut-zap50k-images/")


# ------------------------------------------------------------------------------- real data
def test_real_stratified_sample(zappos_dir):
    sample = pd.read_csv(zappos_dir / "stratified-sample.csv")
    items = read_zappos(zappos_dir, subset=sample["path"].tolist(), progress=False)
    expected = sample.set_index("CID").loc[list(items.item_ids)]
    names = items.schema.names
    assert names == ("category", "subcategory", "brand", "colour")
    for k, column in enumerate(("Category", "SubCategory", "Brand")):
        got = np.array(items.schema.attributes[k].values, dtype=object)[items.labels[:, k]]
        folder_names = [html.unescape(v) for v in expected[column]]  # "Levi&#174;" -> "Levi®"
        np.testing.assert_array_equal(got, np.array(folder_names, dtype=object))
    colours = pd.Series(np.array(COLOUR_NAMES)[items.labels[:, 3]]).value_counts(normalize=True)
    assert colours.index[0] == "black"  # the commonest shoe colour in UT-Zappos
    assert colours[["black", "grey", "brown", "white", "beige"]].sum() > 0.6
    assert len(colours) >= 10
    assert len(items.item_ids) == len(sample) and (items.split == TEST).sum() == round(
        len(sample) * 0.2
    )


@pytest.mark.parametrize(
    "member", ["../outside/Shoes/Flats/Acme/9.9.jpg", "/abs/Shoes/Flats/Acme/9.9.jpg"]
)
def test_zip_member_outside_the_archive_is_refused(tmp_path, member):
    make_dataset(tmp_path, layout="zip", meta=None, extra={member: _shoe_jpeg((0, 0, 0))})
    with pytest.raises(ValueError, match=r"member '.*9\.9\.jpg' is an absolute path or climbs"):
        read_zappos(tmp_path, progress=False)
