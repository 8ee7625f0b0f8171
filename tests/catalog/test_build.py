"""open_catalog / build_catalog: sources, cache, saved directories, summary, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from textrec.catalog import Catalog
from textrec.catalog.build import build_catalog, cache_root, open_catalog, summarize
from textrec.cli import app


def test_builtin_is_built_once_then_cached(tmp_path, monkeypatch):
    first = open_catalog("builtin", items=300, seed=1, cache_dir=tmp_path, progress=False)
    (entry,) = (tmp_path / "catalogs").iterdir()
    assert entry.name.startswith("builtin-")
    calls = []
    monkeypatch.setattr("textrec.catalog.build.build_catalog", lambda *a, **k: calls.append(a))
    again = open_catalog("builtin", items=300, seed=1, cache_dir=tmp_path, progress=False)
    assert not calls
    assert again.fingerprint == first.fingerprint
    np.testing.assert_allclose(again.predicted, first.predicted)
    assert again.attrnet_accuracy == first.attrnet_accuracy


def test_cache_root_follows_argument_then_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTREC_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("TEXTREC_CACHE")
    assert cache_root().parts[-2:] == (".cache", "textrec")


def test_saved_directory_and_errors(tmp_path):
    built = build_catalog("builtin", items=200, seed=2, progress=False)
    built.save(tmp_path / "saved")
    assert open_catalog(str(tmp_path / "saved")).fingerprint == built.fingerprint
    with pytest.raises(FileNotFoundError, match="not 'builtin', 'zappos' or the directory"):
        open_catalog(str(tmp_path / "nope"))
    with pytest.raises(ValueError, match="needs --data"):
        open_catalog("zappos", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown catalog source 'imagenet'"):
        build_catalog("imagenet")


def test_summary():
    s = summarize(build_catalog("builtin", items=200, seed=0, progress=False))
    assert (s.n_items, s.n_train, s.n_test, s.feature_dim) == (200, 160, 40, 64)
    assert [a.name for a in s.attributes] == [
        "category",
        "subcategory",
        "heel_height",
        "closure",
        "gender",
        "toe_style",
    ]
    assert [a.n_values for a in s.attributes] == [4, 21, 7, 14, 4, 18]
    assert all(a.attrnet_accuracy is not None for a in s.attributes)
    assert s.attributes[0].coverage == 1.0 and s.attributes[-1].coverage < 1.0


def test_cli_build_then_info(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTREC_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    out = tmp_path / "cat"
    built = runner.invoke(
        app,
        [
            "catalog",
            "build",
            "--catalog",
            "builtin",
            "--items",
            "300",
            "--seed",
            "4",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert built.exit_code == 0, built.output
    info = runner.invoke(app, ["catalog", "info", "--catalog", str(out), "--json"])
    assert info.exit_code == 0, info.output
    a = json.loads(built.stdout[built.stdout.index("{") :])
    b = json.loads(info.stdout[info.stdout.index("{") :])
    assert a == b
    assert b["n_items"] == 300 and b["fingerprint"] == Catalog.load(out).fingerprint
    table = runner.invoke(app, ["catalog", "info", "--items", "300", "--seed", "4"])
    assert table.exit_code == 0
    assert "heel_height" in table.stdout and "AttrNet accuracy" in table.stdout


def test_cli_errors(tmp_path):
    runner = CliRunner()
    result = runner.invoke(
        app, ["catalog", "build", "--catalog", "zappos", "--out", str(tmp_path / "x")]
    )
    assert isinstance(result.exception, ValueError) and "needs --data" in str(result.exception)
    result = runner.invoke(
        app, ["catalog", "build", "--catalog", str(tmp_path), "--out", str(tmp_path / "x")]
    )
    assert isinstance(result.exception, ValueError) and "--catalog must be one of" in str(
        result.exception
    )
    result = runner.invoke(
        app,
        [
            "catalog",
            "build",
            "--catalog",
            "zappos",
            "--data",
            str(tmp_path),
            "--image-size",
            "big",
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert isinstance(result.exception, ValueError) and "--image-size" in str(result.exception)
