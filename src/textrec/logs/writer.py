"""Atomic shard writer and the log manifest.

Every shard is written under a temporary name in its folder and renamed into place
(:func:`textrec.io.atomic_file`), so a reader — or a resumed collection — only ever sees complete
shards. Temporary names start with ``.`` (``pyarrow.dataset`` skips them) and end with ``.tmp``, so
``*.parquet`` globs do not match them either (DuckDB's glob does match hidden files).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from textrec import __version__
from textrec.errors import InputError
from textrec.io import atomic_file, read_json, write_json_atomic
from textrec.logs.schema import SCHEMA_VERSION, ExperienceBatch, OracleBatch, with_dialogue

__all__ = [
    "EXPERIENCE_DIR",
    "ORACLE_DIR",
    "MANIFEST_NAME",
    "MANIFEST_FIELDS",
    "ROW_GROUP_SIZE",
    "Manifest",
    "session_ids",
    "shard_name",
    "range_shard_name",
    "shard_chunks",
    "shard_paths",
    "COMPACT_JOURNAL",
    "CompactJournal",
    "hidden_by_compaction",
    "write_shard",
    "write_chunk",
    "write_manifest",
    "read_manifest",
]

EXPERIENCE_DIR = "experience"
"""Folder (inside a log directory) of the experience shards."""
ORACLE_DIR = "oracle"
"""Folder (inside a log directory) of the oracle sidecar shards."""
MANIFEST_NAME = "manifest.json"
"""File name of the manifest inside a log directory."""
ROW_GROUP_SIZE = 16384
"""Rows per Parquet row group: the unit the streaming reader loads at a time."""


def session_ids(seed: int, chunk: int, start: int, stop: int) -> np.ndarray:
    """``(stop-start,) object`` ids ``"<seed>-<chunk>-<global session>"`` (unique in a log)."""
    numbers = np.char.zfill(np.arange(start, stop).astype(str), 7)
    return np.char.add(f"{seed}-{chunk:05d}-", numbers).astype(object)


def shard_name(chunk: int) -> str:
    """File name of chunk ``chunk``'s shard, e.g. ``shard-00012.parquet``."""
    if chunk < 0:
        raise InputError(f"chunk must be >= 0, got {chunk}")
    return f"shard-{chunk:05d}.parquet"


def range_shard_name(first: int, last: int) -> str:
    """Name of the shard compacted from chunks ``first..last``: ``shard-00000-00199.parquet``."""
    return f"shard-{first:05d}-{last:05d}.parquet"


_SHARD_RE = re.compile(r"^shard-(\d+)(?:-(\d+))?\.parquet$")


def shard_chunks(name: str) -> range | None:
    """The chunks a shard named ``name`` holds (one, or a compacted range); None: not a shard."""
    match = _SHARD_RE.match(name)
    if match is None:
        return None
    first = int(match.group(1))
    return range(first, int(match.group(2) or first) + 1)


COMPACT_JOURNAL = ".compact.json"
"""A compaction's journal in the log directory (:mod:`textrec.logs.compact`), while it runs."""


@dataclass(frozen=True)
class CompactJournal:
    """One compaction step: shard ``shard`` (in each shard folder) replaces shards ``replaces``.

    The step is committed once ``shard`` is visible in the experience folder: before, ``shard``
    does not count (it may be half-renamed); after, ``replaces`` do not (they may be undeleted).
    """

    shard: str
    replaces: tuple[str, ...]

    @classmethod
    def read(cls, log_dir: Path) -> CompactJournal | None:
        """The journal of ``log_dir``, or None when no compaction step is pending."""
        path = log_dir / COMPACT_JOURNAL
        if not path.is_file():
            return None
        obj = read_json(path)
        try:
            return cls(str(obj["shard"]), tuple(str(n) for n in obj["replaces"]))
        except (KeyError, TypeError) as exc:
            raise InputError(f"{path}: not a compaction journal ({exc})") from exc

    def write(self, log_dir: Path) -> None:
        write_json_atomic(log_dir / COMPACT_JOURNAL, asdict(self))

    def committed(self, log_dir: Path) -> bool:
        return (log_dir / EXPERIENCE_DIR / self.shard).is_file()


def hidden_by_compaction(log_dir: Path) -> frozenset[str]:
    """Shard names a pending compaction step hides from readers (its uncommitted shard, or the
    shards its committed shard replaced), so a log reads whole at every moment of a compaction."""
    journal = CompactJournal.read(log_dir)
    if journal is None:
        return frozenset()
    return frozenset(journal.replaces if journal.committed(log_dir) else (journal.shard,))


def shard_paths(log_dir: str | Path, chunk: int) -> tuple[Path, Path]:
    """``(experience shard, oracle shard)`` paths of chunk ``chunk`` in ``log_dir``."""
    root = Path(log_dir)
    name = shard_name(chunk)
    return root / EXPERIENCE_DIR / name, root / ORACLE_DIR / name


def write_shard(
    path: str | Path,
    rows: ExperienceBatch | OracleBatch,
    row_group_size: int = ROW_GROUP_SIZE,
    dialogue: tuple[Sequence[str], Sequence[str]] | None = None,
) -> Path:
    """Validate ``rows`` and write them to the Parquet file ``path`` atomically.

    Experience rows must hold whole sessions, contiguous and in turn order (checked). On any error
    no file appears at ``path`` and no temporary file is left behind. ``dialogue``: the optional
    ``(act, understood)`` columns of a people's log (:data:`~textrec.logs.schema.DIALOGUE_FIELDS`).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    target = Path(path)
    rows.validate(str(target))
    if isinstance(rows, ExperienceBatch):
        rows.check_complete(str(target))
    table = rows.to_table()
    if dialogue is not None:
        table = with_dialogue(table, *dialogue)
    with atomic_file(target) as tmp:
        pq.write_table(table, tmp, row_group_size=row_group_size, compression="zstd")
    return target


def write_chunk(
    log_dir: str | Path, chunk: int, experience: ExperienceBatch, oracle: OracleBatch
) -> tuple[Path, Path]:
    """Write one chunk's experience and oracle shards (the oracle first).

    The two must hold the same ``(session_id, turn)`` keys in the same order.
    """
    exp_path, ora_path = shard_paths(log_dir, chunk)
    if experience.n_rows != oracle.n_rows or not (
        (experience.session_id == oracle.session_id).all()
        and (experience.turn == oracle.turn).all()
    ):
        raise InputError(
            f"{exp_path}: oracle rows do not have the keys (session_id, turn) of the "
            "experience rows"
        )
    write_shard(ora_path, oracle)
    write_shard(exp_path, experience)
    return exp_path, ora_path


@dataclass(frozen=True)
class Manifest:
    """What a log directory holds and how it was collected (``LOGDIR/manifest.json``)."""

    catalog_name: str
    """Name of the catalog the item ids refer to."""
    catalog_fingerprint: str
    """:attr:`textrec.catalog.Catalog.fingerprint` of that catalog."""
    seed: int
    """Seed of the collection; chunk ``c`` draws from ``(seed, c)``."""
    n_sessions: int
    """Sessions the collection is to hold when complete."""
    chunk_sessions: int
    """Sessions per chunk (the last chunk may hold fewer)."""
    pool: str = "train"
    """Pool the targets and shown items come from."""
    devices: tuple[Mapping[str, Any], ...] = ()
    """Each device's config as JSON (``DeviceConfig.to_json``), in device-id order."""
    task: Mapping[str, Any] = field(default_factory=dict)
    """The simulator's ``TaskConfig`` as JSON."""
    sentences: Mapping[str, Any] = field(default_factory=dict)
    """How the users' sentence bank was made (source, seed, size)."""
    assignment: str = "round-robin"
    """How sessions were given to devices ('round-robin' or 'random')."""
    chunks_done: tuple[int, ...] = ()
    """Chunks whose two shards are written, ascending."""
    schema_version: int = SCHEMA_VERSION
    """Row schema version of the shards."""
    textrec_version: str = __version__
    """textrec version that started the collection."""

    def __post_init__(self) -> None:
        if self.n_sessions < 1:
            raise InputError(f"Manifest.n_sessions must be >= 1, got {self.n_sessions}")
        if self.chunk_sessions < 1:
            raise InputError(f"Manifest.chunk_sessions must be >= 1, got {self.chunk_sessions}")
        bad = [c for c in self.chunks_done if not 0 <= c < self.n_chunks]
        if bad:
            raise InputError(
                f"Manifest.chunks_done holds chunks {bad} outside 0..{self.n_chunks - 1}"
            )
        object.__setattr__(self, "chunks_done", tuple(sorted(set(self.chunks_done))))
        object.__setattr__(self, "devices", tuple(dict(d) for d in self.devices))

    @property
    def n_chunks(self) -> int:
        """Number of chunks of a complete collection."""
        return -(-self.n_sessions // self.chunk_sessions)

    @property
    def complete(self) -> bool:
        """Whether every chunk is done."""
        return len(self.chunks_done) == self.n_chunks

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        """Half-open range ``[start, stop)`` of global session numbers in chunk ``chunk``."""
        if not 0 <= chunk < self.n_chunks:
            raise InputError(f"chunk {chunk} outside 0..{self.n_chunks - 1}")
        start = chunk * self.chunk_sessions
        return start, min(start + self.chunk_sessions, self.n_sessions)

    def with_chunks(self, chunks: tuple[int, ...]) -> Manifest:
        """A copy with ``chunks`` added to :attr:`chunks_done`."""
        return replace(self, chunks_done=tuple(sorted(set(self.chunks_done) | set(chunks))))

    def settings(self) -> dict[str, Any]:
        """The fields that must agree for a collection to resume (all but progress and version)."""
        out = self.to_json()
        for key in ("chunks_done", "textrec_version"):
            out.pop(key)
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_json`)."""
        out = asdict(self)
        out["devices"] = [dict(d) for d in self.devices]
        out["chunks_done"] = list(self.chunks_done)
        out["task"] = dict(self.task)
        out["sentences"] = dict(self.sentences)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], source: str = "manifest") -> Manifest:
        """Parse :meth:`to_json` output; errors name ``source``, the field and its value.

        Every field is type-checked (:data:`MANIFEST_FIELDS`): a mistyped field is an
        :class:`~textrec.errors.InputError`, never a crash further on.
        """
        if not isinstance(obj, Mapping):
            raise InputError(f"{source}: expected a JSON object, got {type(obj).__name__}")
        unknown = sorted(set(obj) - set(MANIFEST_FIELDS))
        if unknown:
            raise InputError(f"{source}: unknown fields {unknown}")
        version = obj.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise InputError(
                f"{source}: schema_version {version!r}, this textrec reads version {SCHEMA_VERSION}"
            )
        for name, (kind, required) in MANIFEST_FIELDS.items():
            if name not in obj:
                if required:
                    raise InputError(f"{source}: missing field {name!r}")
                continue
            value = obj[name]
            if not _is_a(value, kind):
                raise InputError(
                    f"{source}: field {name!r} must be {_KIND_TEXT[kind]}, got {value!r}"
                )
        try:
            return cls(
                **{
                    **obj,
                    "devices": tuple(obj.get("devices", ())),
                    "chunks_done": tuple(obj.get("chunks_done", ())),
                }
            )
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from exc


MANIFEST_FIELDS: dict[str, tuple[str, bool]] = {
    "catalog_name": ("str", True),
    "catalog_fingerprint": ("str", True),
    "seed": ("int", True),
    "n_sessions": ("int", True),
    "chunk_sessions": ("int", True),
    "pool": ("str", False),
    "devices": ("objects", False),
    "task": ("object", False),
    "sentences": ("object", False),
    "assignment": ("str", False),
    "chunks_done": ("ints", False),
    "schema_version": ("int", False),
    "textrec_version": ("str", False),
}
"""``manifest.json`` field -> (JSON type, required)."""

_KIND_TEXT = {
    "str": "a string",
    "int": "an integer",
    "object": "a JSON object",
    "objects": "a list of JSON objects",
    "ints": "a list of integers",
}


def _is_a(value: Any, kind: str) -> bool:
    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if kind == "str":
        return isinstance(value, str)
    if kind == "int":
        return is_int(value)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "objects":
        return isinstance(value, list) and all(isinstance(v, dict) for v in value)
    return isinstance(value, list) and all(is_int(v) for v in value)


def write_manifest(log_dir: str | Path, manifest: Manifest) -> Path:
    """Write ``manifest`` to ``log_dir/manifest.json`` atomically."""
    path = Path(log_dir) / MANIFEST_NAME
    write_json_atomic(path, manifest.to_json())
    return path


def read_manifest(log_dir: str | Path) -> Manifest:
    """Read ``log_dir/manifest.json`` (``ValueError`` naming it when malformed)."""
    path = Path(log_dir) / MANIFEST_NAME
    return Manifest.from_json(read_json(path), source=str(path))
