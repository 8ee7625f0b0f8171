"""Export an experience log for the users of Minari and d3rlpy (``textrec logs export``).

Both formats are written with h5py and NumPy only (neither library is needed to export); the
log is streamed in order by :class:`~textrec.logs.reader.ExperienceReader`, one block of
sessions at a time. One episode per logged session; step ``t`` is the ``t``-th item shown.

* ``minari``: a Minari dataset directory, ``OUT/data/metadata.json`` + ``OUT/data/main_data.hdf5``
  (Minari's HDF5 storage layout), read with ``minari.MinariDataset(OUT / "data")`` (or placed at
  ``$MINARI_DATASETS_PATH/textrec/<catalog>-v0`` for ``minari.load_dataset``). Observations are a
  ``Text`` space: ``observations[t]`` is what the user said before item ``t`` was shown (the
  opening sentence, then the feedback on item ``t - 1``; ``""`` for nothing), and
  ``observations[T]`` the feedback on the last item. Actions are a ``MultiDiscrete`` space, one
  value per attribute: the shown item's attribute vector, as textrec's learners train on it
  (:func:`~textrec.logs.reader.shown_actions`).
* ``d3rlpy``: one file in d3rlpy's dataset format (version 2.1), read with
  ``d3rlpy.dataset.ReplayBuffer.load(f, d3rlpy.dataset.InfiniteBuffer())``. d3rlpy has no text and
  no multi-discrete actions, so observations are encoded vectors -- the bag of words of
  everything the user said so far, over the log's own vocabulary (stored beside, as
  ``textrec_vocabulary``) -- and the action is the shown item's catalog index (a discrete action
  over the catalog's items; its attribute vector is ``shown_actions(catalog)[item]``).
  Episodes that hit the turn limit are timeouts (``terminated`` false), as d3rlpy expects.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textrec.catalog.catalog import Catalog
from textrec.errors import InputError
from textrec.io import atomic_dir, atomic_file
from textrec.language.tokenizer import Vocabulary
from textrec.logs.reader import ExperienceReader, list_shards, scan_log

__all__ = ["FORMATS", "ExportResult", "export_log"]

FORMATS = ("minari", "d3rlpy")
"""Formats of ``textrec logs export --format``."""

MINARI_VERSION = "0.5.0"
"""Minari dataset version written in the metadata (the HDF5 layout of Minari 0.5)."""

D3RLPY_VERSION = "2.1"
"""d3rlpy dataset file version written."""

_BLOCK = 1024
"""Sessions encoded at a time."""


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote."""

    format: str
    out: str
    episodes: int
    steps: int
    seconds: float

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class _Episodes:
    """A block of sessions as episodes: ``B`` sessions, at most ``T`` shown items each."""

    said: np.ndarray
    """``(B, T+1) int64`` row of the log's sentence list said before each item, then after the
    last (``-1``: nothing, also on padding)."""
    items: np.ndarray
    """``(B, T) int64`` catalog index shown (``-1`` on padding)."""
    actions: np.ndarray
    """``(B, T, K) int64`` the shown item's attribute vector."""
    rewards: np.ndarray
    """``(B, T) float32``."""
    terminated: np.ndarray
    """``(B, T) bool``."""
    truncated: np.ndarray
    """``(B, T) bool``."""
    n_steps: np.ndarray
    """``(B,) int64`` shown items per session."""


def _episodes(log_dir: Path, catalog: Catalog, sentences: pd.Index) -> Iterator[_Episodes]:
    """The log's sessions in order, a block at a time, with the opening row folded in."""
    reader = ExperienceReader(log_dir, catalog, batch_size=_BLOCK, buffer_size=_BLOCK)
    for ep in reader.episodes():
        opened = (ep.items[:, 0] < 0).astype(np.int64)
        n = ep.length.astype(np.int64) - opened
        t = int(n.max())
        mask = np.arange(t)[None, :] < n[:, None]
        src = np.where(mask, opened[:, None] + np.arange(t)[None, :], 0)

        def turns(a: np.ndarray, src: np.ndarray = src) -> np.ndarray:
            return np.take_along_axis(a, src, axis=1)

        code = sentences.get_indexer(ep.feedback.ravel()).reshape(ep.feedback.shape)
        first = np.where(opened > 0, code[:, 0], -1)
        said = np.concatenate([first[:, None], np.where(mask, turns(code), -1)], axis=1)
        src3 = np.broadcast_to(src[..., None], (*src.shape, ep.actions.shape[2]))
        yield _Episodes(
            said=said,
            items=np.where(mask, turns(ep.items), -1),
            actions=np.take_along_axis(ep.actions, src3, axis=1),
            rewards=np.where(mask, turns(ep.reward), 0.0).astype(np.float32),
            terminated=mask & turns(ep.terminated),
            truncated=mask & turns(ep.truncated),
            n_steps=n,
        )


def export_log(log_dir: str | Path, catalog: Catalog, fmt: str, out: str | Path) -> ExportResult:
    """Export log ``log_dir`` (collected on ``catalog``) as ``fmt`` to ``out`` (atomically).

    Raises:
        InputError: an unknown format, an ``out`` that exists (d3rlpy) or holds something else
            (minari), h5py missing, or a damaged log (naming the shard).
    """
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    try:
        import h5py
    except ImportError:
        raise InputError("exporting needs h5py: pip install 'textrec[export]'") from None
    began = time.perf_counter()
    root = Path(log_dir)
    scan = scan_log(list_shards(root))
    texts = pd.Index(scan.sentences)
    blocks = _episodes(root, catalog, texts)
    if fmt == "minari":
        with atomic_dir(out, "minari-dataset") as tmp:
            (tmp / "data").mkdir()
            with h5py.File(tmp / "data" / "main_data.hdf5", "w", track_order=True) as h5:
                episodes, steps = _write_minari(h5, blocks, texts)
            _minari_metadata(tmp / "data", catalog, scan.sentences, episodes, steps)
    else:
        target = Path(out)
        if target.exists():
            raise InputError(f"{target}: exists; choose a new --out file")
        vocab = Vocabulary.build(scan.sentences.tolist())
        with atomic_file(target, suffix=".h5") as tmp, h5py.File(tmp, "w") as h5:
            episodes, steps = _write_d3rlpy(h5, blocks, _bags(scan.sentences, vocab))
            h5.create_dataset("textrec_vocabulary", data=list(vocab.tokens))
    return ExportResult(fmt, str(out), episodes, steps, time.perf_counter() - began)


def _write_minari(h5: object, blocks: Iterator[_Episodes], texts: pd.Index) -> tuple[int, int]:
    """One ``episode_{i}`` group per session, as Minari's HDF5 storage writes it."""
    import h5py

    strings = np.append(texts.to_numpy(dtype=object), "")  # row -1: nothing said
    string = h5py.string_dtype(encoding="utf-8")
    episodes = steps = 0
    for block in blocks:
        for b, n in enumerate(block.n_steps.tolist()):  # the format is one group per episode
            group = h5.create_group(f"episode_{episodes}")  # type: ignore[attr-defined]
            group.attrs["id"] = episodes
            group.attrs["total_steps"] = n
            group.create_dataset("observations", data=strings[block.said[b, : n + 1]], dtype=string)
            group.create_dataset("actions", data=block.actions[b, :n])
            group.create_dataset("rewards", data=block.rewards[b, :n])
            group.create_dataset("terminations", data=block.terminated[b, :n])
            group.create_dataset("truncations", data=block.truncated[b, :n])
            episodes += 1
            steps += n
    return episodes, steps


def _minari_metadata(
    data: Path, catalog: Catalog, sentences: np.ndarray, episodes: int, steps: int
) -> None:
    lengths = [len(s) for s in sentences.tolist()]
    charset = "".join(sorted(set("".join(sentences.tolist())))) or " "
    schema = catalog.schema
    metadata = {
        "dataset_id": f"textrec/{catalog.name}-v0",
        "minari_version": MINARI_VERSION,
        "data_format": "hdf5",
        "jpeg_encoding": False,
        "total_episodes": episodes,
        "total_steps": steps,
        "observation_space": json.dumps(
            {
                "type": "Text",
                "max_length": max(max(lengths, default=1), 1),
                "min_length": 0,
                "charset": charset,
            }
        ),
        "action_space": json.dumps(
            {
                "type": "MultiDiscrete",
                "dtype": "int64",
                "nvec": [int(s) for s in schema.sizes],
                "start": [0] * schema.n_attributes,
            }
        ),
        "algorithm_name": "textrec behaviour devices",
        "author": ["textrec"],
        "code_permalink": "",
        "textrec_catalog_fingerprint": catalog.fingerprint,
        "textrec_attributes": [a.name for a in schema.attributes],
    }
    (data / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")


def _bags(sentences: np.ndarray, vocab: Vocabulary) -> np.ndarray:
    """``(U+1, V) float32`` bag of words of each distinct sentence; row ``-1`` (nothing) zeros."""
    ids = [vocab.encode(str(s)) for s in sentences.tolist()]  # once per distinct sentence
    lengths = [len(i) for i in ids]
    words = np.fromiter((w for i in ids for w in i), dtype=np.int64, count=sum(lengths))
    bags = np.zeros((len(ids) + 1, len(vocab)), dtype=np.float32)
    np.add.at(bags, (np.repeat(np.arange(len(ids)), lengths), words), 1.0)
    return bags


def _write_d3rlpy(h5: object, blocks: Iterator[_Episodes], bags: np.ndarray) -> tuple[int, int]:
    """d3rlpy's ``dump`` layout: ``columns``, ``num_episodes``, ``<column>_<i>`` and ``version``."""
    columns = ("observations", "actions", "rewards", "terminated")
    write = h5.create_dataset  # type: ignore[attr-defined]
    episodes = steps = 0
    for block in blocks:
        state = np.cumsum(bags[block.said[:, :-1]], axis=1)  # (B, T, V): all said so far
        for b, n in enumerate(block.n_steps.tolist()):  # the format is one entry per episode
            write(f"observations_{episodes}", data=state[b, :n])
            write(f"actions_{episodes}", data=block.items[b, :n, None].astype(np.int32))
            write(f"rewards_{episodes}", data=block.rewards[b, :n, None])
            write(f"terminated_{episodes}", data=bool(block.terminated[b, n - 1]))
            episodes += 1
            steps += n
    write("columns", data=list(columns))
    write("num_episodes", data=episodes)
    write("version", data=D3RLPY_VERSION)
    return episodes, steps
