"""Property-based tests (hypothesis) of the parsers and loaders: whatever bytes or values they are
given, they either return something valid or raise textrec's InputError naming the file -- never
another exception, never a silent wrong result."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import make_toy_catalog
from textrec.catalog import Catalog
from textrec.catalog.zappos import OFFICIAL_VOCABULARIES, _check_values, _read_meta
from textrec.errors import InputError
from textrec.logs.reader import read_experience
from textrec.logs.writer import Manifest

_DEEP = int(os.environ.get("TEXTREC_PROPERTY_EXAMPLES", "0"))
SETTINGS = settings(
    max_examples=_DEEP or 40,  # TEXTREC_PROPERTY_EXAMPLES=400: a deeper, randomised search
    derandomize=not _DEEP,  # the suite itself draws the same examples on every run
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ACCEPTED = (InputError, FileNotFoundError)
"""What a loader may raise on bad input (both end as exit 2 with the file named)."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def saved_catalog(tmp_path_factory):
    root = tmp_path_factory.mktemp("props")
    make_toy_catalog(n_items=40, seed=1).save(root / "cat")
    return root / "cat"


def _damage(data: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    """``data`` truncated at ``cut`` (fraction of 1000) with some bytes XOR-ed."""
    out = bytearray(data[: max(0, len(data) * cut // 1000)])
    for pos, bits in flips:
        if out:
            out[pos % len(out)] ^= bits
    return bytes(out)


damage = st.tuples(
    st.integers(0, 1000),
    st.lists(st.tuples(st.integers(0, 2**20), st.integers(1, 255)), max_size=6),
)


@SETTINGS
@given(
    which=st.sampled_from(["catalog.json", "items.parquet", "features.npy", "predicted.npy"]),
    how=damage,
)
def test_a_damaged_catalog_file_is_refused_or_loads_valid(saved_catalog, tmp_path, which, how):
    work = tmp_path / f"c{abs(hash((which, str(how))))}"
    shutil.copytree(saved_catalog, work)
    original = (work / which).read_bytes()
    damaged = _damage(original, *how)
    (work / which).write_bytes(damaged)
    try:
        catalog = Catalog.load(work)
    except ACCEPTED as exc:
        assert str(work) in str(exc) or which in str(exc)
        return
    finally:
        shutil.rmtree(work)
    # it loaded: then it is exactly the saved content (the fingerprint guards every array)
    assert catalog.fingerprint == Catalog.load(saved_catalog).fingerprint


@SETTINGS
@given(
    meta=st.dictionaries(
        st.sampled_from(
            [
                "name",
                "fingerprint",
                "schema",
                "format_version",
                "attrnet_accuracy",
                "provenance",
                "extra",
            ]
        ),
        json_values,
        max_size=7,
    )
)
def test_any_catalog_json_is_refused_or_valid(saved_catalog, tmp_path, meta):
    work = tmp_path / "c"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(saved_catalog, work)
    good = json.loads((work / "catalog.json").read_text())
    (work / "catalog.json").write_text(json.dumps({**good, **meta}))
    try:
        Catalog.load(work)
    except ACCEPTED as exc:
        assert "catalog.json" in str(exc) or str(work) in str(exc)


@SETTINGS
@given(
    n=st.integers(2, 40),
    seed=st.integers(0, 2**32 - 1),
    dim=st.integers(1, 6),
)
def test_catalog_round_trip(tmp_path, n, seed, dim):
    catalog = make_toy_catalog(n_items=n, seed=seed % 1000, feature_dim=dim)
    path = tmp_path / f"rt-{n}-{seed}-{dim}"
    loaded = Catalog.load(catalog.save(path))
    assert loaded.fingerprint == catalog.fingerprint
    np.testing.assert_array_equal(loaded.predicted, catalog.predicted)
    np.testing.assert_array_equal(loaded.label_sets, catalog.label_sets)
    shutil.rmtree(path)


@SETTINGS
@given(
    p=st.floats(allow_nan=True, allow_infinity=True, width=32),
    row=st.integers(0, 39),
    col=st.integers(0, 9),
)
def test_any_bad_prediction_is_refused_with_its_row(saved_catalog, tmp_path, p, row, col):
    catalog = Catalog.load(saved_catalog)
    predicted = catalog.predicted.copy()
    old = float(predicted[row, col])
    assume(not np.isclose(old, p, atol=1e-4))
    predicted[row, col] = p
    single = not catalog.schema.attributes[int(catalog.schema.value_attribute[col])].multi_valued
    valid = np.isfinite(p) and 0.0 <= p <= 1.0 and not single
    import dataclasses

    if valid:
        changed = dataclasses.replace(catalog, predicted=predicted)
        assert changed.fingerprint != catalog.fingerprint  # the predictions are fingerprinted
    else:
        with pytest.raises(InputError, match=rf"row {row} "):
            dataclasses.replace(catalog, predicted=predicted)


_CLOSURE = OFFICIAL_VOCABULARIES["closure"]
cells = st.lists(
    st.sampled_from(_CLOSURE) | st.text(string.ascii_letters + " -", max_size=10),
    min_size=0,
    max_size=3,
).map(";".join)


@SETTINGS
@given(rows=st.lists(cells, min_size=1, max_size=12))
def test_meta_data_values_are_published_or_named(tmp_path, rows):
    path = tmp_path / "meta-data.csv"
    lines = ["CID,Category,SubCategory,Closure"]
    lines += [f"{i}-1,Shoes,Flats,{c}" for i, c in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n")
    df = _read_meta(path)
    unknown = [
        i
        for i, c in enumerate(df["Closure"])
        for v in c.split(";")
        if v.strip() and v.strip() not in _CLOSURE
    ]
    if unknown:
        with pytest.raises(InputError, match=rf"row {unknown[0] + 1} \(line {unknown[0] + 2}\)"):
            _check_values(path, df, "Closure", _CLOSURE)
    else:
        _check_values(path, df, "Closure", _CLOSURE)


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_csv_text_parses_or_is_named(tmp_path, text):
    path = tmp_path / "meta-data.csv"
    path.write_text(text)
    try:
        df = _read_meta(path)
    except InputError as exc:
        assert "meta-data.csv" in str(exc)
        return
    assert {"CID", "Category", "SubCategory"} <= set(df.columns)


@pytest.fixture(scope="module")
def shard(toy_catalog, tmp_path_factory):
    from textrec.logs.collect import collect

    log = tmp_path_factory.mktemp("shard") / "log"
    collect(toy_catalog, log, 12, 2, chunk_sessions=12, progress=False)
    return log / "experience" / "shard-00000.parquet"


@SETTINGS
@given(how=damage)
def test_a_damaged_shard_is_refused_naming_it(shard, tmp_path, how):
    original = shard.read_bytes()
    damaged = _damage(original, *how)
    path = tmp_path / "shard-00000.parquet"
    path.write_bytes(damaged)
    try:
        rows = read_experience(path)
    except InputError as exc:
        assert str(path) in str(exc)
        return
    rows.check_complete(str(path))  # whatever reads is whole and valid


@SETTINGS
@given(
    obj=json_values
    | st.dictionaries(
        st.sampled_from(list(Manifest.__dataclass_fields__)), json_values, max_size=13
    )
)
def test_any_manifest_json_is_refused_or_valid(obj):
    try:
        manifest = Manifest.from_json(obj, source="m.json")
    except InputError as exc:
        assert str(exc).startswith("m.json: ")
        return
    assert Manifest.from_json(manifest.to_json(), source="again") == manifest


@SETTINGS
@given(
    obj=st.dictionaries(
        st.sampled_from(list(Manifest.__dataclass_fields__)), json_values, max_size=13
    )
)
def test_check_log_reports_any_manifest_never_raises(shard, tmp_path, obj):
    from textrec.logs.info import check_log

    log = tmp_path / "log"
    shutil.rmtree(log, ignore_errors=True)
    shutil.copytree(shard.parent.parent, log)
    (log / "manifest.json").write_text(json.dumps(obj))
    report = check_log(log)
    assert all(isinstance(p, str) and p for p in report.problems)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/textrec-pwned",))


@SETTINGS
@given(how=damage)
def test_a_damaged_checkpoint_is_refused_and_never_runs_code(tmp_path, how):
    from textrec.learners.loop import load_checkpoint

    buf = io.BytesIO()
    payload = {
        "type": "online",
        "config": "{}",
        "state_dict": {"w": torch.zeros(3)},
        "version": "0",
        "step": 1,
        "seed": 0,
    }
    torch.save(payload, buf)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(_damage(buf.getvalue(), *how))
    try:
        load_checkpoint(path)
    except InputError as exc:
        assert str(path) in str(exc)
    except UserWarning:
        pass


def test_pickled_code_in_a_checkpoint_is_never_executed(tmp_path):
    from textrec.learners.loop import load_checkpoint

    marker = Path("/tmp/textrec-pwned")
    marker.unlink(missing_ok=True)
    path = tmp_path / "checkpoint.pt"
    torch.save({"type": _Boom()}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(InputError, match="checkpoint.pt: refused to load it as a textrec"):
        load_checkpoint(path)
    assert not marker.exists()


@SETTINGS
@given(text=st.text(max_size=60))
def test_any_text_is_printed_literally(text, capsys):
    from textrec.cli.common import console, print_table

    assume(text.isprintable() and text.strip())
    with console.capture() as cap:
        print_table(text, ["sentence"], [[text]])
    shown = "".join(cap.get().split())
    assert "".join(text.split()) in shown.replace("│", "").replace("┃", "")


@SETTINGS
@given(texts=st.lists(st.text(max_size=40), min_size=1, max_size=4))
def test_any_feedback_text_is_interpreted(toy_interpreter, texts):
    from textrec.language.interpret import interpret_batch

    results = interpret_batch(texts, make_toy_catalog().schema, interpreter=toy_interpreter)
    assert [r.text for r in results] == texts
    assert all(0.0 <= r.confidence <= 1.0 for r in results)


@pytest.fixture(scope="module")
def toy_interpreter():
    from textrec.language.corpus import build_corpus
    from textrec.language.encoder import EncoderConfig, pretrain_encoder
    from textrec.language.interpret import LSTMInterpreter

    encoder, _ = pretrain_encoder(
        build_corpus(make_toy_catalog().schema), EncoderConfig(steps=30), seed=0
    )
    return LSTMInterpreter(encoder)
