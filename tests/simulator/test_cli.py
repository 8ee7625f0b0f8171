"""``textrec simulate`` through Typer's CliRunner on a saved toy catalog."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from textrec.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def toy_dir(toy_catalog, tmp_path_factory):
    return str(toy_catalog.save(tmp_path_factory.mktemp("cli") / "toy"))


def test_json_output(toy_dir):
    args = [
        "simulate",
        "--catalog",
        toy_dir,
        "--policy",
        "slot-filler",
        "--sessions",
        "60",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["policy"] == "slot-filler" and out["pool"] == "test" and out["n_sessions"] == 60
    assert out["sr@30"]["mean"] == 1.0 and 1 <= out["ni"]["mean"] <= 10
    again = json.loads(runner.invoke(app, args).output)
    assert again == out  # same seed, same numbers


def test_table_and_dialogues(toy_dir):
    args = [
        "simulate",
        "--catalog",
        toy_dir,
        "--policy",
        "random",
        "--sessions",
        "30",
        "--pool",
        "train",
        "--show",
        "2",
        "--seed",
        "3",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for text in (
        "SR@10",
        "SR@20",
        "SR@30",
        "NI",
        "NV",
        "Dialogue 1",
        "Dialogue 2",
        "random on toy",
    ):
        assert text in result.output
    assert "Dialogue 3" not in result.output and " 1. toy-" in result.output


def test_json_dialogues(toy_dir):
    args = ["simulate", "--catalog", toy_dir, "--sessions", "5", "--show", "1", "--json"]
    out = json.loads(runner.invoke(app, args).output)
    (dialogue,) = out["dialogues"]
    assert dialogue["turns"][-1]["text"] == "" and dialogue["target"].startswith("toy-")
    assert set(dialogue["turns"][0]["attributes"]) == {"category", "gender", "toe_style"}


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--policy", "oracle"], "unknown policy 'oracle'"),
        (["--pool", "all"], "--pool must be one of"),
        (["--utterances", "llm"], "--utterances must be one of"),
    ],
)
def test_bad_input_is_one_clear_error(toy_dir, extra, match):
    result = runner.invoke(app, ["simulate", "--catalog", toy_dir, *extra])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError) and match in str(result.exception)


@pytest.mark.parametrize(
    "extra", [["--sessions", "0"], ["--show", "-1"], ["--batch-size", "0"], ["--seed", "-1"]]
)
def test_out_of_range_numbers_are_usage_errors(toy_dir, extra):
    result = runner.invoke(app, ["simulate", "--catalog", toy_dir, *extra])
    assert result.exit_code == 2
    assert f"'{extra[0]}'" in result.output


def test_empty_pool_is_one_clear_error(toy_catalog, tmp_path):
    all_train = dataclasses.replace(toy_catalog, split=np.zeros_like(toy_catalog.split))
    path = str(all_train.save(tmp_path / "train-only"))
    result = runner.invoke(app, ["simulate", "--catalog", path, "--pool", "test"])
    assert isinstance(result.exception, ValueError)
    assert "pool 'test' of catalog 'toy' is empty" in str(result.exception)
