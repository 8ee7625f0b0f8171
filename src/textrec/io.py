"""Atomic file and directory writes: a crash mid-write never leaves a half-written result.

Every artefact textrec writes (catalogs, feature caches, checkpoints, log shards) goes through
these helpers: the content is written under a temporary name in the same directory and then
renamed into place, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from textrec.errors import InputError

__all__ = [
    "ARTIFACT_MARKER",
    "atomic_dir",
    "atomic_file",
    "claim_output_dir",
    "write_json_atomic",
    "read_json",
]

ARTIFACT_MARKER = ".textrec-artifact"
"""File in every directory textrec writes, holding the artifact's kind (``run``, ``log`` ...)."""


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; on success it replaces ``path``.

    An existing ``path`` is moved aside first and deleted only after the new directory is in
    place, so at every moment either the old or the new complete directory exists.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read JSON from ``path``, raising ``ValueError`` that names the file on bad content."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: file not found")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc


def claim_output_dir(path: str | os.PathLike[str], kind: str) -> Path:
    """Check, before long work, that directory ``path`` may receive a textrec ``kind``; claim it.

    Accepted: a path that does not exist yet, an empty directory, or a directory textrec made for
    the same ``kind`` (its :data:`ARTIFACT_MARKER` says so; a resumed run writes into it again).
    Refused with :class:`~textrec.errors.InputError`: a file, a non-empty directory textrec did not
    make, and one that holds another kind of artifact -- textrec never writes into, replaces or
    deletes what it did not create. The directory is created and marked; returns it.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(
            f"{target}: exists and is not a directory; refusing to replace it with a {kind}"
        )
    if target.is_dir():
        marker = target / ARTIFACT_MARKER
        if marker.is_file():
            found = marker.read_text(encoding="utf-8").strip()
            if found != kind:
                raise InputError(
                    f"{target}: holds a textrec {found or 'artifact of unknown kind'}, "
                    f"not a {kind}; choose another output directory"
                )
            return target
        if any(target.iterdir()):
            raise InputError(
                f"{target}: directory is not empty and was not made by textrec; refusing to write "
                f"a {kind} into it (choose a new or empty directory)"
            )
    target.mkdir(parents=True, exist_ok=True)
    with atomic_file(target / ARTIFACT_MARKER) as tmp:
        tmp.write_text(kind + "\n", encoding="utf-8")
    return target
