"""The one checkpoint file format of textrec: a ``torch.save`` dict ``{type, version, **fields}``.

Learner checkpoints (:mod:`textrec.learners.loop`), the language models
(:mod:`textrec.language.corpus`) and the recommender's weights (:meth:`Recommender.save`) all go
through :func:`write_checkpoint` (atomic) and :func:`read_checkpoint` (every error names the file).
Fields hold tensors (``state_dict``) and JSON-ready values; loading uses ``weights_only=True``, so a
checkpoint can hold no code.

This module imports nothing of textrec beyond :mod:`textrec.io` and :mod:`textrec.errors`, so
every layer may use it.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from textrec import __version__
from textrec.errors import InputError
from textrec.io import atomic_file

__all__ = ["write_checkpoint", "read_checkpoint", "load_tensors"]


def write_checkpoint(path: str | Path, kind: str, **fields: Any) -> Path:
    """Write one atomic checkpoint file ``{"type": kind, "version", **fields}`` (``torch.save``)."""
    import torch  # here, so that importing this module costs nothing where torch is not needed

    with atomic_file(path, suffix=".pt") as tmp:
        torch.save({"type": kind, "version": __version__, **fields}, tmp)
    return Path(path)


def read_checkpoint(
    path: str | Path, kind: str | None, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`write_checkpoint`.

    Args:
        path: The file.
        kind: Its expected ``type`` (``None``: any type; the caller checks it).
        required: Fields it must hold besides ``type`` and ``version``.

    Raises:
        FileNotFoundError: naming the file when it is absent.
        InputError: naming the file when it is unreadable, of another type or lacks a field.

    Warns when another textrec version wrote it.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    raw = load_tensors(p, "textrec checkpoint")
    if not isinstance(raw, dict) or "type" not in raw:
        found = type(raw).__name__
        raise InputError(f"{p}: not a textrec checkpoint (holds a {found} without a type)")
    if kind is not None and raw["type"] != kind:
        raise InputError(f"{p}: not a {kind} checkpoint (type {raw['type']!r})")
    missing = [k for k in ("version", *required) if k not in raw]
    if missing:
        raise InputError(f"{p}: checkpoint lacks fields {missing}")
    if raw["version"] != __version__:
        warnings.warn(
            f"{p}: written by textrec {raw['version']}, this is {__version__}", stacklevel=2
        )
    return raw


def load_tensors(path: Path, what: str) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain values only, never code.

    Raises :class:`InputError` naming ``path`` and the reason when it is not a ``torch.save`` file
    (empty, text, junk bytes) or holds Python objects the weights-only loader refuses. torch's
    advice to load such a file with ``weights_only=False`` is never passed on: that would run
    whatever code the file holds.
    """
    import torch

    if not zipfile.is_zipfile(path):
        size = path.stat().st_size
        why = "an empty file" if size == 0 else f"{size} bytes that are not a torch.save archive"
        raise InputError(f"{path}: not a {what}: {why}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(
            r"WeightsUnpickler error: (.+?)(?:\.\s|\s+Check the documentation|\n|$)", str(exc)
        )  # its first sentence: what it refused (never torch's advice on how to load it anyway)
        detail = f" ({found.group(1).strip()})" if found else ""
        raise InputError(
            f"{path}: refused to load it as a {what}: it holds Python objects, not only tensors "
            f"and plain values{detail}; loading those could run code"
        ) from exc
    except Exception as exc:  # torch raises many types on a damaged archive
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(
            f"{path}: not a readable {what}: {type(exc).__name__}: {reason}".rstrip(": ")
        ) from exc
