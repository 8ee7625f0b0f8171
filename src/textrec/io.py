"""Atomic file and directory writes, and the rule that textrec never replaces what it did not make.

Every artefact textrec writes (catalogs, feature caches, checkpoints, log shards) goes through
these helpers: the content is written under a temporary name in the same directory and then
renamed into place, which is atomic on POSIX file systems. Files and directories get the
permissions the user's umask gives (not the owner-only ones of :mod:`tempfile`).

Every directory textrec makes for a user holds :data:`ARTIFACT_MARKER`, a one-line file naming
the artifact's kind (``catalog``, ``log``, ``run`` ...). :func:`claim_output_dir` (before long
work) and :func:`atomic_dir` (when replacing) accept only a new path, an empty directory or a
directory of the same kind; a file, a directory textrec did not make, or another kind of artifact
is refused with :class:`~textrec.errors.InputError`.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, TypeVar

from textrec.errors import InputError

ConfigT = TypeVar("ConfigT")

__all__ = [
    "ARTIFACT_MARKER",
    "LEGACY_LAYOUTS",
    "artifact_kind",
    "atomic_dir",
    "atomic_file",
    "check_output_dir",
    "claim_output_dir",
    "remove_artifacts",
    "output_dir",
    "write_json_atomic",
    "read_json",
    "config_from_json",
]

ARTIFACT_MARKER = ".textrec-artifact"
"""File in every directory textrec writes, holding the artifact's kind (``run``, ``log`` ...)."""

LEGACY_LAYOUTS: dict[str, tuple[str, frozenset[str]]] = {
    "catalog": (
        "catalog.json",
        frozenset({"catalog.json", "items.parquet", "features.npy", "predicted.npy"}),
    ),
    "log": ("manifest.json", frozenset({"manifest.json", "experience", "oracle"})),
    "run": ("checkpoint.pt", frozenset({"checkpoint.pt", "metrics.csv", "final"})),
    "agent": ("recommender.json", frozenset({"recommender.json", "weights.pt"})),
}
"""``kind -> (required entry, allowed entries)`` of the artifacts textrec wrote before it marked
them: an unmarked directory holding the required entry and nothing but allowed ones is taken for
that kind (no user's directory looks like that). The allowed entries are also all a directory
that :func:`atomic_dir` replaces may hold."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):
        os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. ``path`` must
    not be a directory (``IsADirectoryError``).
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(21, "is a directory, not a file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _chmod(tmp, 0o666)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def artifact_kind(path: str | os.PathLike[str]) -> str | None:
    """The kind of textrec artifact directory ``path`` holds, ``""`` for an unreadable or empty
    marker, or ``None`` when textrec did not make it (or it is not a directory)."""
    root = Path(path)
    if not root.is_dir():
        return None
    marker = root / ARTIFACT_MARKER
    if marker.is_file():
        try:
            return marker.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""
    try:
        entries = {p.name for p in root.iterdir()}
    except OSError:
        return None
    for kind, (required, allowed) in LEGACY_LAYOUTS.items():
        if required in entries and entries <= allowed:
            return kind
    return None


def check_output_dir(path: str | os.PathLike[str], kind: str, whole: bool = False) -> Path:
    """Check that directory ``path`` may receive a textrec ``kind``, without writing anything.

    Accepted: a path that does not exist yet (its nearest existing parent must be a directory),
    an empty directory, or a directory textrec made for the same ``kind``. Refused with
    :class:`~textrec.errors.InputError`: a file, a non-empty directory textrec did not make, and
    one that holds another kind of artifact. With ``whole`` (the directory is about to be replaced
    as a whole, :func:`atomic_dir`) also one that holds anything but the kind's own entries
    (:data:`LEGACY_LAYOUTS`): a file a user put into a saved catalog is never deleted with it.
    """
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise InputError(
            f"{target}: exists and is not a directory; refusing to replace it with a {kind}"
        )
    if not target.exists():
        parent = target.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{target}: cannot create it, {parent} is not a directory")
        return target
    found = artifact_kind(target)
    if found is not None:
        if found != kind:
            raise InputError(
                f"{target}: holds a textrec {found or 'artifact of unknown kind'}, "
                f"not a {kind}; choose another output directory"
            )
        if whole:
            _refuse_foreign_entries(target, kind)
        return target
    if any(target.iterdir()):
        raise InputError(
            f"{target}: directory is not empty and was not made by textrec; refusing to write "
            f"a {kind} into it (choose a new or empty directory)"
        )
    return target


def _refuse_foreign_entries(target: Path, kind: str) -> None:
    """InputError when ``target`` holds an entry that is not one of ``kind``'s own."""
    own = LEGACY_LAYOUTS[kind][1] | {ARTIFACT_MARKER}
    foreign = sorted(p.name for p in target.iterdir() if p.name not in own)
    if foreign:
        raise InputError(
            f"{target}: holds {foreign}, not written by textrec; refusing to replace the {kind} "
            "and delete them (move them out of it, or choose another output directory)"
        )


ARTIFACT_FILES: dict[str, tuple[str, ...]] = {
    "run": ("checkpoint.pt", "metrics.csv", "final/recommender.json", "final/weights.pt"),
    "log": ("manifest.json", "experience/shard-*.parquet", "oracle/shard-*.parquet"),
}
"""``kind -> files`` (relative, ``*`` within one name) that textrec writes into that artifact,
beside the :data:`ARTIFACT_MARKER` of each of its directories: all :func:`remove_artifacts` may
delete."""


def _written_by_textrec(relative: Path, kind: str) -> bool:
    """``relative`` is a file textrec writes into a ``kind``: one of :data:`ARTIFACT_FILES`, a
    marker, or what an interrupted atomic write left (a hidden name holding ``.tmp``: the temporary
    files of :func:`atomic_file` and folders of :func:`atomic_dir`)."""
    parts = relative.parts
    if parts[-1] == ARTIFACT_MARKER or any(p.startswith(".") and ".tmp" in p for p in parts):
        return True
    for pattern in ARTIFACT_FILES[kind]:
        wanted = pattern.split("/")
        if len(wanted) == len(parts) and all(
            fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted, strict=True)
        ):
            return True
    return False


def remove_artifacts(artifacts: Mapping[Path, str]) -> None:
    """Delete each directory of ``artifacts`` (``path -> kind``: a textrec ``run`` or ``log``)
    and all in it -- only when every file in every one of them is one textrec writes there
    (:data:`ARTIFACT_FILES`).

    Anything else (a file a user put into one of the folders or their subfolders, a link,
    another kind of artifact) is refused with an :class:`InputError` naming it, before anything
    is deleted. A path that does not exist is skipped.
    """
    doomed = [check_output_dir(path, kind) for path, kind in artifacts.items()]
    for target, kind in zip(doomed, artifacts.values(), strict=True):
        if not target.exists():
            continue
        foreign = sorted(
            str(rel)
            for p in target.rglob("*")
            if (rel := p.relative_to(target))
            and (p.is_symlink() or not (p.is_dir() or _written_by_textrec(rel, kind)))
        )
        if foreign:
            more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
            raise InputError(
                f"{target}: holds {foreign[:3]}{more}, not written by textrec; refusing to "
                f"delete the {kind} with them (move them out of it, or choose another output "
                "directory)"
            )
    for target in doomed:
        if target.exists():
            shutil.rmtree(target)


def claim_output_dir(path: str | os.PathLike[str], kind: str, whole: bool = False) -> Path:
    """Check, before long work, that directory ``path`` may receive a textrec ``kind``; claim it.

    Accepted and refused as :func:`check_output_dir` says -- textrec never writes into, replaces
    or deletes what it did not create (``whole``: as for a directory about to be replaced). The
    directory is created and marked; returns it.
    """
    target = check_output_dir(path, kind, whole)
    target.mkdir(parents=True, exist_ok=True)
    if not (target / ARTIFACT_MARKER).is_file():
        _chmod(target, 0o777)
        with atomic_file(target / ARTIFACT_MARKER) as tmp:
            tmp.write_text(kind + "\n", encoding="utf-8")
    return target


@contextlib.contextmanager
def output_dir(
    path: str | os.PathLike[str],
    kind: str,
    disposable: frozenset[str] = frozenset(),
    whole: bool = False,
) -> Iterator[Path]:
    """:func:`claim_output_dir` for the block; if the block fails and the directory was made by
    this call and holds nothing but its marker, empty folders and ``disposable`` files (e.g. a
    manifest listing no work), it is removed again: a failed command leaves nothing behind."""
    created = not Path(path).exists()
    target = claim_output_dir(path, kind, whole)
    try:
        yield target
    except BaseException:
        if created and _only_scaffolding(target, disposable | {ARTIFACT_MARKER}):
            shutil.rmtree(target, ignore_errors=True)
        raise


def _only_scaffolding(root: Path, names: frozenset[str]) -> bool:
    return all(p.is_dir() or p.name in names for p in root.rglob("*"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], kind: str) -> Iterator[Path]:
    """Yield a fresh temporary directory beside ``path``; on success it replaces ``path``.

    ``path`` is checked first (:func:`check_output_dir` with ``whole``): only a new path, an empty
    directory or a directory textrec made for the same ``kind`` holding nothing else is replaced;
    the new directory is marked with ``kind``. An existing ``path`` is moved aside first and
    deleted only after the new directory is in place, so at every moment either the old or the new
    complete directory exists.
    """
    target = check_output_dir(path, kind, whole=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        (tmp / ARTIFACT_MARKER).write_text(kind + "\n", encoding="utf-8")
        _chmod(tmp, 0o777)
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
    """Read JSON from ``path``; :class:`~textrec.errors.InputError` naming the file on bad
    content (not JSON, not UTF-8), ``FileNotFoundError`` when it is missing, ``IsADirectoryError``
    when it is a directory."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(21, "a directory, not a JSON file", str(p))
    if not p.is_file():
        raise FileNotFoundError(2, "file not found", str(p))
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from exc


_JSON_TYPES: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    str: ((str,), "a string"),
}
"""A config field's default type -> (the JSON values it takes, how an error names them)."""


def config_from_json(cls: type[ConfigT], obj: Any, source: str) -> ConfigT:
    """The frozen config dataclass ``cls`` from its JSON form (``asdict``; missing fields take
    their defaults); :class:`~textrec.errors.InputError` naming ``source``, the field and its value
    for anything but a JSON object, an unknown field, a value of another type than the field's
    default (bool, int, float, str) or one the class itself refuses."""
    if not isinstance(obj, Mapping):
        raise InputError(f"{source}: expected a JSON object, got {type(obj).__name__}")
    defaults = {f.name: f.default for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(obj) - set(defaults))
    if unknown:
        raise InputError(f"{source}: unknown fields {unknown}")
    for name, value in obj.items():
        default = defaults[name]
        if default is MISSING or type(default) not in _JSON_TYPES:
            continue
        takes, text = _JSON_TYPES[type(default)]
        if not isinstance(value, takes) or (type(default) is not bool and isinstance(value, bool)):
            raise InputError(f"{source}: field {name!r} must be {text}, got {value!r}")
    try:
        return cls(**obj)
    except (InputError, TypeError) as exc:
        raise InputError(f"{source}: {exc}") from exc
