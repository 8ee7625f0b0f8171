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

import warnings
from pathlib import Path
from typing import Any

from textrec import __version__
from textrec.errors import InputError
from textrec.io import atomic_file

__all__ = ["write_checkpoint", "read_checkpoint"]


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
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: checkpoint not found")
    try:
        raw = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's weights-only unpickler raises many types on bad bytes
        raise InputError(f"{p}: not a readable textrec checkpoint: {exc}") from exc
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
