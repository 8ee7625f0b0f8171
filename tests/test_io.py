"""textrec.io: atomic writes, artifact markers, refusing to replace what textrec did not make."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from textrec.errors import InputError
from textrec.io import (
    ARTIFACT_MARKER,
    artifact_kind,
    atomic_dir,
    atomic_file,
    check_output_dir,
    claim_output_dir,
    read_json,
    remove_artifacts,
    write_json_atomic,
)


def test_claim_new_path_creates_and_marks(tmp_path):
    out = claim_output_dir(tmp_path / "a" / "run", "run")
    assert out.is_dir() and (out / ARTIFACT_MARKER).read_text() == "run\n"
    assert artifact_kind(out) == "run"


def test_claim_accepts_empty_dir_and_same_kind_again(tmp_path):
    (tmp_path / "empty").mkdir()
    claim_output_dir(tmp_path / "empty", "log")
    (tmp_path / "empty" / "manifest.json").write_text("{}")
    assert claim_output_dir(tmp_path / "empty", "log") == tmp_path / "empty"  # a resume


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("file", "exists and is not a directory"),
        ("foreign", "not empty and was not made by textrec"),
        ("other-kind", "holds a textrec catalog, not a run"),
        ("bad-marker", "holds a textrec artifact of unknown kind"),
        ("under-file", "is not a directory"),
    ],
)
def test_claim_refuses_and_leaves_everything_as_it_was(tmp_path, setup, message):
    target = tmp_path / "out"
    if setup == "file":
        target.write_text("precious")
    elif setup == "foreign":
        target.mkdir()
        (target / "thesis.tex").write_text("precious")
    elif setup == "other-kind":
        claim_output_dir(target, "catalog")
    elif setup == "bad-marker":
        target.mkdir()
        (target / ARTIFACT_MARKER).write_bytes(b"\xff\xfe")
    else:
        (tmp_path / "plain").write_text("precious")
        target = tmp_path / "plain" / "out"
    before = sorted(
        (p.relative_to(tmp_path), p.read_bytes() if p.is_file() else b"")
        for p in tmp_path.rglob("*")
    )
    with pytest.raises(InputError, match=message):
        claim_output_dir(target, "run")
    with pytest.raises(InputError, match=message):
        check_output_dir(target, "run")
    after = sorted(
        (p.relative_to(tmp_path), p.read_bytes() if p.is_file() else b"")
        for p in tmp_path.rglob("*")
    )
    assert before == after


def test_legacy_artifacts_without_marker_are_recognised(tmp_path):
    cat = tmp_path / "cat"
    cat.mkdir()
    for name in ("catalog.json", "items.parquet", "features.npy", "predicted.npy"):
        (cat / name).write_text("x")
    assert artifact_kind(cat) == "catalog"
    (cat / "notes.txt").write_text("mine")  # one foreign file: no longer textrec's
    assert artifact_kind(cat) is None
    log = tmp_path / "log"
    (log / "experience").mkdir(parents=True)
    (log / "manifest.json").write_text("{}")
    assert artifact_kind(log) == "log"
    assert artifact_kind(tmp_path / "missing") is None


def test_atomic_dir_replaces_only_its_own_kind(tmp_path):
    target = tmp_path / "cat"
    with atomic_dir(target, "catalog") as tmp:
        (tmp / "features.npy").write_text("one")
    assert artifact_kind(target) == "catalog"
    with atomic_dir(target, "catalog") as tmp:
        (tmp / "predicted.npy").write_text("two")
    assert sorted(p.name for p in target.iterdir()) == [ARTIFACT_MARKER, "predicted.npy"]
    (target / "thesis.tex").write_text("years of work")  # a user's file put into the catalog
    with pytest.raises(InputError, match=r"holds \['thesis.tex'\], not written by textrec"):
        with atomic_dir(target, "catalog"):
            raise AssertionError("never reached: the check comes first")
    assert (target / "thesis.tex").read_text() == "years of work"
    (target / "thesis.tex").unlink()
    with pytest.raises(InputError, match="holds a textrec catalog, not a log"):
        with atomic_dir(target, "log"):
            raise AssertionError("never reached: the check comes first")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("precious")
    with pytest.raises(InputError, match="not made by textrec"):
        with atomic_dir(mine, "catalog"):
            pass
    assert (mine / "data.csv").read_text() == "precious"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_atomic_dir_failure_keeps_the_old_directory(tmp_path):
    target = tmp_path / "cat"
    with atomic_dir(target, "catalog") as tmp:
        (tmp / "catalog.json").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target, "catalog") as tmp:
            (tmp / "catalog.json").write_text("new")
            raise RuntimeError("crash mid-write")
    assert (target / "catalog.json").read_text() == "old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_atomic_file_keeps_old_content_on_error_and_refuses_a_directory(tmp_path):
    path = tmp_path / "f.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_file(path) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash")
    assert read_json(path) == {"a": 1}
    with pytest.raises(IsADirectoryError):
        with atomic_file(tmp_path):
            pass


def test_written_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "f.json", {})
        with atomic_dir(tmp_path / "d", "catalog") as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"a": 1', r"f\.json: not valid JSON \(line 1, column 8\)"),
        (b"\xff\xfe{}", r"f\.json: not a UTF-8 text file"),
    ],
)
def test_read_json_names_the_file(tmp_path, content, message):
    (tmp_path / "f.json").write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_json(tmp_path / "f.json")


def test_read_json_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="file not found"):
        read_json(tmp_path / "nope.json")


def _quickstart_outputs(out: Path) -> dict[Path, str]:
    """A quickstart's previous agent and log, as textrec writes them (markers included)."""
    files = [
        "agent/.textrec-artifact",
        "agent/checkpoint.pt",
        "agent/metrics.csv",
        "agent/final/.textrec-artifact",
        "agent/final/recommender.json",
        "agent/final/weights.pt",
        "agent/.metrics.csv.x1y2.tmp.csv",  # left by an interrupted atomic write
        "logs/.textrec-artifact",
        "logs/manifest.json",
        "logs/experience/shard-00000.parquet",
        "logs/oracle/shard-00000.parquet",
    ]
    for name in files:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text("run\n" if name == "agent/.textrec-artifact" else "x")
    (out / "agent/final/.textrec-artifact").write_text("agent\n")
    (out / "logs/.textrec-artifact").write_text("log\n")
    return {out / "agent": "run", out / "logs": "log"}


def test_remove_artifacts_deletes_what_textrec_wrote(tmp_path):
    outputs = _quickstart_outputs(tmp_path)
    remove_artifacts({**outputs, tmp_path / "missing": "log"})
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra", ["agent/notes.txt", "agent/final/my-weights.pt", "logs/experience/README"]
)
def test_remove_artifacts_keeps_everything_when_a_user_file_is_inside(tmp_path, extra):
    outputs = _quickstart_outputs(tmp_path)
    (tmp_path / extra).write_text("years of work")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(InputError, match=re.escape(str(Path(*Path(extra).parts[1:])))):
        remove_artifacts(outputs)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # neither artifact deleted
    assert (tmp_path / extra).read_text() == "years of work"


def test_remove_artifacts_refuses_a_link(tmp_path):
    outputs = _quickstart_outputs(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "logs" / "experience" / "shard-00001.parquet").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(InputError, match="shard-00001"):
        remove_artifacts(outputs)
    assert (tmp_path / "agent" / "checkpoint.pt").exists()
