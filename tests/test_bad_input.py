"""Malformed and hostile inputs, one row each, through the real ``textrec`` entry point.

Each row names the class of issue 10 it probes (1 exit codes, 2 usage errors, 3 user files,
4 markup, 5 validation of what is loaded, 6 failed or interrupted runs, 7 errors that name
nothing), the command, the exit status it must end with and what stderr (or stdout, for a
``--check``) must name. Every row also asserts that no traceback is printed, that the user's
own files are untouched, and that a failing command wrote nothing at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli_run import run_cli
from tests.conftest import make_toy_catalog
from textrec.catalog import Attribute, AttributeSchema, Catalog

Prepare = Callable[[Path], None]


@dataclass(frozen=True)
class Probe:
    """One malformed input or fault."""

    name: str
    klass: int
    """Class of issue 10 (1-7)."""
    argv: tuple[str, ...]
    """``textrec`` arguments; ``{w}`` is the work folder."""
    code: int
    """Expected exit status."""
    names: str
    """Regex the (box-free) stderr, or stdout, must match."""
    prepare: Prepare | None = None
    """Damage done to the work folder before the command."""


# ---------------------------------------------------------------------------------------- damage
def _edit_json(rel: str, edit: Callable[[dict], object]) -> Prepare:
    def prepare(w: Path) -> None:
        path = w / rel
        obj = json.loads(path.read_text())
        edit(obj)  # in place
        path.write_text(json.dumps(obj))

    return prepare


def _write(rel: str, data: bytes) -> Prepare:
    return lambda w: (w / rel).write_bytes(data)


def _truncate(rel: str, keep: int = 60) -> Prepare:
    return lambda w: (w / rel).write_bytes((w / rel).read_bytes()[:keep])


def _array(rel: str, edit: Callable[[np.ndarray], np.ndarray]) -> Prepare:
    def prepare(w: Path) -> None:
        arr = np.load(w / rel)
        np.save(w / rel, edit(arr.copy()))

    return prepare


def _set(index: tuple, value: float) -> Callable[[np.ndarray], np.ndarray]:
    def edit(a: np.ndarray) -> np.ndarray:
        a[index] = value
        return a

    return edit


def _items(edit: Callable[[object], object]) -> Prepare:
    def prepare(w: Path) -> None:
        path = w / "cat" / "items.parquet"
        df = pq.read_table(path).to_pandas()
        edited = edit(df)
        df = df if edited is None else edited
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)

    return prepare


def _cell(column: str, row: int, value: object) -> Prepare:
    def edit(df):
        df.loc[row, column] = value

    return _items(edit)


def _shard(kind: str, chunk: int, edit: Callable[[object], object]) -> Prepare:
    def prepare(w: Path) -> None:
        path = w / "log" / kind / f"shard-{chunk:05d}.parquet"
        table = pq.read_table(path)
        pq.write_table(edit(table), path)

    return prepare


def _device_99(table):
    ids = np.asarray(table.column("device_id").to_numpy()).copy()
    ids[0] = 99
    col = table.schema.get_field_index("device_id")
    return table.set_column(col, table.schema.field(col), pa.array(ids, pa.int32()))


def _copy_chunk(src: int, dst: int) -> Prepare:
    def prepare(w: Path) -> None:
        for kind in ("experience", "oracle"):
            shutil.copy(
                w / "log" / kind / f"shard-{src:05d}.parquet",
                w / "log" / kind / f"shard-{dst:05d}.parquet",
            )

    return prepare


def _remove(rel: str) -> Prepare:
    return lambda w: (w / rel).unlink()


def _failed_start(w: Path) -> None:
    """What a collection that failed before its first chunk leaves: marker and manifest."""
    (w / "half").mkdir()
    (w / "half" / ".textrec-artifact").write_text("log\n")
    shutil.copy(w / "log" / "manifest.json", w / "half" / "manifest.json")


def _no_ray(w: Path) -> None:
    sys.modules["ray"] = None  # type: ignore[assignment]  # removed again by the test


def _zappos_zip(members: dict[str, bytes], meta: str | None = None) -> Prepare:
    def prepare(w: Path) -> None:
        import zipfile

        data = w / "zap"
        data.mkdir()
        with zipfile.ZipFile(data / "ut-zap50k-images.zip", "w") as z:
            for name, blob in members.items():
                z.writestr(name, blob)
        if meta is not None:
            (data / "meta-data.csv").write_text(meta)

    return prepare


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (136, 102), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


_IMAGES = {f"ut-zap50k-images/Shoes/Flats/Acme/{i}.1.jpg": b"" for i in range(4)}
_META = "CID,Category,SubCategory,Closure\n" + "".join(
    f"{i}-1,Shoes,Flats,{'Lace-up' if i == 2 else 'Lace up'}\n" for i in range(4)
)

CAT = ("--catalog", "{w}/cat")
LOG = ("{w}/log",)
OUT_CAT = ("catalog", "build", "--catalog", "builtin", "--items", "50", "--out")
COLLECT = ("collect", *CAT, "--sessions", "20", "--chunk-sessions", "10", "--no-progress")

PROBES: tuple[Probe, ...] = (
    # 1 -- exit codes
    Probe("check-clean-log", 1, ("logs", "info", *LOG, "--check"), 0, r"check passed"),
    Probe(
        "check-garbage-shard",
        1,
        ("logs", "info", *LOG, "--check"),
        1,
        r"shard-00001\.parquet: not a readable Parquet shard",
        _write("log/experience/shard-00001.parquet", b"garbage"),
    ),
    Probe(
        "check-lost-shard",
        1,
        ("logs", "info", *LOG, "--check", "--json"),
        1,
        r"chunks \[2\] are marked done but their experience shards are missing",
        lambda w: [(w / "log" / k / "shard-00002.parquet").unlink() for k in ("experience",)],
    ),
    Probe("info-missing-log", 1, ("logs", "info", "{w}/nolog"), 2, r"nolog: not a log directory"),
    Probe("version", 1, ("version",), 0, r"\d+\.\d+"),
    Probe("check-with-catalog", 1, ("logs", "info", *LOG, "--check", *CAT), 0, r"check passed"),
    Probe("info-json", 1, ("logs", "info", *LOG, "--json"), 0, r'"n_sessions": 40'),
    Probe("catalog-info-json", 1, ("catalog", "info", *CAT, "--json"), 0, r'"n_items": 120'),
    Probe(
        "check-json-damaged",
        1,
        ("logs", "info", *LOG, "--check", "--json"),
        1,
        r'"ok": false',
        _remove("log/oracle/shard-00000.parquet"),
    ),
    # 2 -- usage errors (Typer's display, exit 2)
    Probe("unknown-command", 2, ("colect",), 2, r"No such command 'colect'"),
    Probe("unknown-option", 2, ("simulate", "--polcy", "random"), 2, r"No such option: --polcy"),
    Probe("bad-int", 2, ("simulate", "--sessions", "abc"), 2, r"'--sessions'"),
    Probe("negative-seed", 2, ("simulate", "--seed", "-3"), 2, r"'--seed'.*greater than"),
    Probe("huge-seed", 2, ("collect", "--seed", str(2**32), "--out", "x"), 2, r"'--seed'"),
    Probe("info-seed", 2, ("logs", "info", *LOG, "--seed", "-1"), 2, r"'--seed'"),
    Probe("few-items", 2, ("catalog", "info", "--items", "3"), 2, r"'--items'"),
    Probe("zero-workers", 2, (*COLLECT, "--workers", "0", "--out", "{w}/n"), 2, r"'--workers'"),
    Probe("zero-batch", 2, ("simulate", *CAT, "--batch-size", "0"), 2, r"'--batch-size'"),
    Probe("negative-show", 2, ("simulate", *CAT, "--show", "-1"), 2, r"'--show'"),
    Probe("missing-out", 2, ("catalog", "build", "--catalog", "builtin"), 2, r"'--out'"),
    Probe("option-no-value", 2, ("collect", "--out"), 2, r"'--out' requires an argument"),
    Probe("extra-argument", 2, ("version", "extra"), 2, r"unexpected extra argument"),
    Probe("bare-group", 2, ("logs",), 2, r"Usage: textrec logs"),
    Probe("bad-policy", 2, ("simulate", *CAT, "--policy", "best"), 2, r"unknown policy 'best'"),
    Probe("bad-pool", 2, ("simulate", *CAT, "--pool", "dev"), 2, r"--pool must be one of"),
    Probe("bad-source", 2, (*OUT_CAT[:2], "--catalog", "x", "--out", "o"), 2, r"--catalog must"),
    Probe("bad-size", 2, (*OUT_CAT, "{w}/o", "--image-size", "9x9"), 2, r"--image-size"),
    Probe("bad-backend", 2, (*COLLECT, "--backend", "spark", "--out", "{w}/n"), 2, r"--backend"),
    Probe("bad-assign", 2, (*COLLECT, "--assignment", "x", "--out", "{w}/n"), 2, r"--assignment"),
    Probe("bad-utter", 2, (*COLLECT, "--utterances", "x", "--out", "{w}/n"), 2, r"--utterances"),
    # 3 -- never destroy a user's files; output paths checked before long work
    Probe("build-into-user-dir", 3, (*OUT_CAT, "{w}/mine"), 2, r"mine: directory is not empty"),
    Probe("build-onto-user-file", 3, (*OUT_CAT, "{w}/notes.txt"), 2, r"is not a directory"),
    Probe("build-onto-log", 3, (*OUT_CAT, "{w}/log"), 2, r"holds a textrec log, not a catalog"),
    Probe("build-under-file", 3, (*OUT_CAT, "{w}/notes.txt/c"), 2, r"notes\.txt is not a dir"),
    Probe("build-replaces-catalog", 3, (*OUT_CAT, "{w}/cat"), 0, r"AttrNet"),
    Probe("collect-into-user-dir", 3, (*COLLECT, "--out", "{w}/mine"), 2, r"not made by textrec"),
    Probe("collect-onto-file", 3, (*COLLECT, "--out", "{w}/notes.txt"), 2, r"not a directory"),
    Probe("collect-onto-catalog", 3, (*COLLECT, "--out", "{w}/cat"), 2, r"holds a textrec cata"),
    Probe("collect-over-log", 3, (*COLLECT, "--out", "{w}/log"), 2, r"pass --resume"),
    Probe("collect-new", 3, (*COLLECT, "--out", "{w}/new"), 0, r""),
    Probe("quickstart-user-dir", 3, ("quickstart", "--out", "{w}/mine"), 2, r"not made by"),
    Probe("quickstart-catalog", 3, ("quickstart", "--out", "{w}/cat"), 2, r"holds a textrec cat"),
    # 4 -- markup: user and data text is printed literally
    Probe("markup-policy", 4, ("simulate", *CAT, "--policy", "[/x]"), 2, r"'\[/x\]'"),
    Probe("markup-command", 4, ("[bold]x",), 2, r"No such command '\[bold\]x'"),
    Probe("markup-catalog-values", 4, ("catalog", "info", "--catalog", "{w}/bra"), 0, r""),
    Probe(
        "markup-dialogue",
        4,
        ("simulate", "--catalog", "{w}/bra", "--sessions", "4", "--show", "2"),
        0,
        r"",
    ),
    Probe(
        "markup-collect-path",
        4,
        (
            "collect",
            "--catalog",
            "{w}/bra",
            "--sessions",
            "8",
            "--chunk-sessions",
            "4",
            "--no-progress",
            "--out",
            "{w}/[/log]",
        ),
        0,
        r"",
    ),
    Probe("markup-missing-catalog", 4, ("simulate", "--catalog", "[red]c"), 2, r"\[red\]c"),
    # 5 -- what is loaded is validated, naming the file
    Probe(
        "predicted-nan",
        5,
        ("catalog", "info", *CAT),
        2,
        r"row 3 .*field 'predicted'.*nan is not a probability",
        _array("cat/predicted.npy", _set((3, 1), np.nan)),
    ),
    Probe(
        "predicted-above-1",
        5,
        ("catalog", "info", *CAT),
        2,
        r"field 'predicted'.*not a probability in \[0, 1\]",
        _array("cat/predicted.npy", _set((0, 0), 1.5)),
    ),
    Probe(
        "predicted-not-normalised",
        5,
        ("catalog", "info", *CAT),
        2,
        r"attribute 'category': probabilities sum to",
        _array("cat/predicted.npy", lambda a: a * 0.5),
    ),
    Probe(
        "predicted-swapped",
        5,
        ("simulate", *CAT),
        2,
        r"catalog\.json: content fingerprint .* does not match",
        _array("cat/predicted.npy", lambda a: a[::-1].copy()),
    ),
    Probe(
        "features-nan",
        5,
        ("catalog", "info", *CAT),
        2,
        r"row 5 .*non-finite image feature",
        _array("cat/features.npy", _set((5, 0), np.inf)),
    ),
    Probe(
        "features-empty",
        5,
        ("catalog", "info", *CAT),
        2,
        r"field 'features' is empty",
        _array("cat/features.npy", lambda a: a[:, :0].copy()),
    ),
    Probe(
        "features-truncated",
        5,
        ("catalog", "info", *CAT),
        2,
        r"features\.npy: cannot read array",
        _truncate("cat/features.npy"),
    ),
    Probe(
        "features-pickled",
        5,
        ("catalog", "info", *CAT),
        2,
        r"features\.npy: cannot read array",
        lambda w: np.save(w / "cat/features.npy", np.array([{"x": 1}], dtype=object)),
    ),
    Probe(
        "predicted-missing",
        5,
        ("catalog", "info", *CAT),
        2,
        r"predicted\.npy",
        _remove("cat/predicted.npy"),
    ),
    Probe(
        "value-typo",
        5,
        ("catalog", "info", *CAT),
        2,
        r"items\.parquet: row 4, column 'category': unknown value 'Bots'",
        _cell("category", 4, "Bots"),
    ),
    Probe(
        "split-typo",
        5,
        ("catalog", "info", *CAT),
        2,
        r"row 2, column 'split': value 'dev'",
        _cell("split", 2, "dev"),
    ),
    Probe(
        "items-column-missing",
        5,
        ("catalog", "info", *CAT),
        2,
        r"items\.parquet: missing columns \['gender'\]",
        _items(lambda df: df.drop(columns=["gender"])),
    ),
    Probe(
        "items-garbage",
        5,
        ("catalog", "info", *CAT),
        2,
        r"items\.parquet: cannot read items table",
        _write("cat/items.parquet", b"PAR1 not really"),
    ),
    Probe(
        "catalog-json-truncated",
        5,
        ("catalog", "info", *CAT),
        2,
        r"catalog\.json: not valid JSON \(line",
        _truncate("cat/catalog.json", 40),
    ),
    Probe(
        "catalog-json-binary",
        5,
        ("catalog", "info", *CAT),
        2,
        r"catalog\.json: not a UTF-8 text file",
        _write("cat/catalog.json", b"\xff\xfe\x00{"),
    ),
    Probe(
        "catalog-json-list",
        5,
        ("catalog", "info", *CAT),
        2,
        r"catalog\.json: expected a JSON object",
        _write("cat/catalog.json", b"[1, 2]"),
    ),
    Probe(
        "catalog-format",
        5,
        ("catalog", "info", *CAT),
        2,
        r"format_version 9",
        _edit_json("cat/catalog.json", lambda m: m.update(format_version=9)),
    ),
    Probe(
        "catalog-name-type",
        5,
        ("catalog", "info", *CAT),
        2,
        r"field 'name' must be a string",
        _edit_json("cat/catalog.json", lambda m: m.update(name=7)),
    ),
    Probe(
        "schema-values-type",
        5,
        ("catalog", "info", *CAT),
        2,
        r"field 'schema': attribute 0: field 'values' must be a list",
        _edit_json("cat/catalog.json", lambda m: m["schema"]["attributes"][0].update(values=3)),
    ),
    Probe(
        "schema-duplicate-value",
        5,
        ("catalog", "info", *CAT),
        2,
        r"attribute 0: Attribute 'category': duplicate values \['Boots'\]",
        _edit_json(
            "cat/catalog.json",
            lambda m: m["schema"]["attributes"][0].update(values=["Boots", "Boots", "Shoes"]),
        ),
    ),
    Probe(
        "manifest-mistyped",
        5,
        ("logs", "info", *LOG, "--check"),
        1,
        r"manifest\.json: field 'n_sessions' must be an integer, got 'forty'",
        _edit_json("log/manifest.json", lambda m: m.update(n_sessions="forty")),
    ),
    Probe(
        "manifest-mistyped-no-check",
        5,
        ("logs", "info", *LOG),
        2,
        r"manifest\.json: field 'devices' must be a list of JSON objects",
        _edit_json("log/manifest.json", lambda m: m.update(devices="six")),
    ),
    Probe(
        "manifest-unknown-field",
        5,
        ("logs", "info", *LOG, "--check"),
        1,
        r"manifest\.json: unknown fields \['sesions'\]",
        _edit_json("log/manifest.json", lambda m: m.update(sesions=3)),
    ),
    Probe(
        "manifest-chunk-range",
        5,
        ("logs", "info", *LOG, "--check"),
        1,
        r"manifest\.json: Manifest\.chunks_done holds chunks \[17\]",
        _edit_json("log/manifest.json", lambda m: m.update(chunks_done=[0, 17])),
    ),
    Probe(
        "device-not-in-manifest",
        5,
        ("logs", "info", *LOG, "--check"),
        1,
        r"shard-00001\.parquet: row 0, column 'device_id': 99 is not one of the manifest's 6",
        _shard("experience", 1, _device_99),
    ),
    Probe(
        "session-of-another-chunk",
        5,
        ("logs", "info", *LOG, "--check"),
        1,
        r"shard-00003\.parquet: session '5-00000-0000000' does not belong to chunk 3",
        _copy_chunk(0, 3),
    ),
    Probe(
        "oracle-missing",
        5,
        ("logs", "info", *LOG, "--check"),
        1,
        r"oracle/shard-00002\.parquet: oracle shard missing",
        _remove("log/oracle/shard-00002.parquet"),
    ),
    Probe(
        "shard-truncated-no-check",
        5,
        ("logs", "info", *LOG),
        2,
        r"shard-00000\.parquet: not a readable Parquet shard",
        _truncate("log/experience/shard-00000.parquet", 100),
    ),
    Probe(
        "check-other-catalog",
        5,
        ("logs", "info", *LOG, "--check", "--catalog", "{w}/bra"),
        1,
        r"collected on catalog 'toy' .* checked against",
    ),
    Probe(
        "zip-member-climbs",
        5,
        ("catalog", "build", "--catalog", "zappos", "--data", "{w}/zap", "--out", "{w}/z"),
        2,
        r"member '\.\./evil/Shoes/Flats/Acme/9\.1\.jpg' is an absolute path or climbs",
        _zappos_zip({**_IMAGES, "../evil/Shoes/Flats/Acme/9.1.jpg": b""}),
    ),
    Probe(
        "meta-typo",
        5,
        ("catalog", "build", "--catalog", "zappos", "--data", "{w}/zap", "--out", "{w}/z"),
        2,
        r"meta-data\.csv: row 3 \(line 4\), column 'Closure': unknown value 'Lace-up'.*'Lace up'",
        _zappos_zip({k: _jpeg() for k in _IMAGES}, _META),
    ),
    # 6 -- failed and interrupted runs leave nothing in the way of a retry
    Probe(
        "collect-missing-agent",
        6,
        (*COLLECT, "--agents", "{w}/no-agent", "--out", "{w}/n"),
        2,
        r"--agents .*no-agent: not a saved agent",
    ),
    Probe(
        "collect-agent-is-catalog",
        6,
        (*COLLECT, "--agents", "{w}/cat", "--out", "{w}/n"),
        2,
        r"cat/recommender\.json: file not found",
    ),
    Probe(
        "collect-no-ray",
        6,
        (*COLLECT, "--backend", "ray", "--out", "{w}/n"),
        2,
        r"needs Ray",
        _no_ray,
    ),
    Probe("collect-after-failed-start", 6, (*COLLECT, "--out", "{w}/half"), 0, r"", _failed_start),
    Probe(
        "collect-resume-complete",
        6,
        (
            "collect",
            *CAT,
            "--sessions",
            "40",
            "--chunk-sessions",
            "10",
            "--seed",
            "5",
            "--no-progress",
            "--out",
            "{w}/log",
            "--resume",
        ),
        0,
        r"",
    ),
    Probe(
        "collect-resume-other-seed",
        6,
        (*COLLECT, "--seed", "9", "--out", "{w}/log", "--resume"),
        2,
        r"collected with other settings \(.*seed",
    ),
    Probe("collect-resume-new-dir", 6, (*COLLECT, "--out", "{w}/fresh", "--resume"), 0, r""),
    Probe(
        "collect-shards-without-manifest",
        6,
        (*COLLECT, "--out", "{w}/log", "--resume"),
        2,
        r"holds shards but no manifest\.json",
        _remove("log/manifest.json"),
    ),
    # 7 -- errors name the file, field, option
    Probe(
        "catalog-json-no-schema",
        7,
        ("catalog", "info", *CAT),
        2,
        r"catalog\.json: missing field 'schema'",
        _edit_json("cat/catalog.json", lambda m: m.pop("schema")),
    ),
    Probe(
        "manifest-no-seed",
        7,
        ("logs", "info", *LOG),
        2,
        r"manifest\.json: missing field 'seed'",
        _edit_json("log/manifest.json", lambda m: m.pop("seed")),
    ),
    Probe(
        "log-as-catalog",
        7,
        ("simulate", "--catalog", "{w}/log"),
        2,
        r"log: not a saved catalog \(it holds a textrec log\)",
    ),
    Probe("seed-named", 7, ("simulate", "--seed", "x"), 2, r"'--seed'"),
    Probe("zappos-needs-data", 7, ("catalog", "info", "--catalog", "zappos"), 2, r"needs --data"),
    Probe(
        "zappos-data-missing",
        7,
        ("catalog", "build", "--catalog", "zappos", "--data", "{w}/none", "--out", "{w}/z"),
        2,
        r"none: UT-Zappos50K folder not found",
    ),
    Probe(
        "unknown-encoder",
        7,
        (*OUT_CAT[:3], "zappos", "--data", "{w}/none", "--encoder", "vit", "--out", "{w}/z"),
        2,
        r"unknown encoder 'vit'",
    ),
    Probe(
        "resnet-without-weights",
        7,
        (*OUT_CAT[:3], "zappos", "--data", "{w}/none", "--encoder", "resnet50", "--out", "{w}/z"),
        2,
        r"--encoder-weights",
    ),
)


# ---------------------------------------------------------------------------------------- setup
def _bracket_catalog() -> Catalog:
    """The toy catalog with Rich markup in values and ids (``[/x]``, ``[bold red]``)."""
    toy = make_toy_catalog(n_items=60, seed=3)
    attrs = tuple(
        dataclasses.replace(a, values=tuple(f"[bold red]{v}[/]" for v in a.values))
        if k == 0
        else dataclasses.replace(a, values=tuple(f"{v} [/x]" for v in a.values))
        for k, a in enumerate(toy.schema.attributes)
    )
    return dataclasses.replace(
        toy,
        name="[/bra]",
        schema=AttributeSchema(attrs),
        item_ids=np.array([f"[/i{i}]" for i in range(toy.n_items)], dtype=object),
    )


@pytest.fixture(scope="module")
def assets(tmp_path_factory, toy_catalog):
    """A saved toy catalog, a small collected log of it, and a catalog full of markup."""
    from textrec.logs.collect import collect

    root = tmp_path_factory.mktemp("assets")
    toy_catalog.save(root / "cat")
    collect(toy_catalog, root / "log", 40, 5, chunk_sessions=10, progress=False)
    _bracket_catalog().save(root / "bra")
    assert isinstance(Attribute, type)
    return root


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "/"
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
def test_probe(probe, assets, tmp_path, capsys, monkeypatch):
    run_probe(probe, assets, tmp_path, capsys, monkeypatch)


def run_probe(probe: Probe, assets: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """Run ``probe`` on a copy of ``assets`` and check everything the module docstring says."""
    w = tmp_path / "w"
    shutil.copytree(assets, w)
    (w / "mine").mkdir()
    (w / "mine" / "thesis.tex").write_text("years of work")
    (w / "notes.txt").write_text("precious")
    monkeypatch.setenv("TEXTREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "ray", sys.modules.get("ray"))
    if sys.modules["ray"] is None:
        del sys.modules["ray"]
    if probe.prepare is not None:
        probe.prepare(w)
    before = _snapshot(w)
    result = run_cli(capsys, [a.replace("{w}", str(w)) for a in probe.argv])
    shown = result.err_text + " " + " ".join(result.out.split())
    assert result.code == probe.code, shown
    assert re.search(probe.names, shown), shown
    assert "Traceback" not in result.err + result.out
    if probe.code != 0 and result.err.startswith("error:"):
        assert result.err.count("\n") == 1, result.err  # one line
    assert (w / "mine" / "thesis.tex").read_text() == "years of work"
    assert (w / "notes.txt").read_text() == "precious"
    after = _snapshot(w)
    if probe.code == 0:
        lost = [p for p in before if p not in after and not p.startswith(("cat/", "log/"))]
        assert not lost
    else:
        assert after == before  # a refused or failed command writes nothing


def test_markup_is_printed_literally(assets, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEXTREC_CACHE", str(tmp_path / "cache"))
    result = run_cli(
        capsys, ["simulate", "--catalog", str(assets / "bra"), "--sessions", "2", "--show", "1"]
    )
    assert result.code == 0, result.err
    assert "[/i" in result.out and "[bold red]" in result.out and "[/bra]" in result.out


def test_probe_table_covers_every_class():
    counts = {k: sum(p.klass == k for p in PROBES) for k in range(1, 8)}
    assert all(n >= 3 for n in counts.values()), counts
