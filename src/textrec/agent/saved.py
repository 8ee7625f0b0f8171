"""A recommender saved as one directory: ``recommender.json`` (config, how it acts, the text
encoder's config, vocabulary, the catalog's name and fingerprint, the textrec version) and
``weights.pt`` (every weight). Loading it for another catalog is an error; directories saved by
older versions (before the slot features, before ``Acting.weights``) load as they acted then.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

import torch
from torch import nn

from textrec import __version__
from textrec.agent.acting import Acting
from textrec.agent.config import RecommenderConfig
from textrec.catalog.catalog import Catalog
from textrec.checkpoint import read_checkpoint, write_checkpoint
from textrec.errors import InputError
from textrec.io import atomic_dir, config_from_json, read_json
from textrec.language.encoder import EncoderConfig, PretrainedTextEncoder
from textrec.language.tokenizer import Vocabulary

__all__ = ["Saveable", "save_recommender", "load_recommender"]

_FORMAT = "textrec.Recommender"
_CONFIG_FILE = "recommender.json"
_WEIGHTS_FILE = "weights.pt"

M = TypeVar("M", bound=nn.Module)


class Saveable(Protocol):
    """What :func:`save_recommender` reads of a :class:`~textrec.agent.recommender.Recommender`."""

    config: RecommenderConfig
    acting: Acting
    language: PretrainedTextEncoder
    catalog: Catalog
    vocab: Vocabulary

    def state_dict(self) -> dict[str, Any]: ...


def save_recommender(rec: Saveable, path: str | Path) -> Path:
    """Write ``rec``'s weights, config, how it acts (``rec.acting``), vocabulary and catalog
    fingerprint to directory ``path``."""
    meta = {
        "format": _FORMAT,
        "version": __version__,
        "config": asdict(rec.config),
        "acting": asdict(replace(rec.acting, sample=False)),
        "text_encoder": asdict(rec.language.config),
        "catalog": {
            "name": rec.catalog.name,
            "fingerprint": rec.catalog.fingerprint,
            "n_items": rec.catalog.n_items,
        },
        "vocab": rec.vocab.to_json(),
    }
    with atomic_dir(path, "agent") as tmp:
        write_checkpoint(tmp / _WEIGHTS_FILE, _FORMAT, state_dict=rec.state_dict())
        (tmp / _CONFIG_FILE).write_text(
            json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
    return Path(path)


def load_recommender(cls: type[M], path: str | Path, catalog: Catalog) -> M:
    """Load a recommender of class ``cls`` saved by :func:`save_recommender` for ``catalog`` (the
    one it was trained on)."""
    root = Path(path)
    meta_path = root / _CONFIG_FILE
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise InputError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != _FORMAT:
        raise InputError(
            f"{meta_path}: not a saved textrec recommender (format {meta.get('format')!r})"
        )
    missing = [k for k in ("catalog", "config", "text_encoder", "vocab") if k not in meta]
    if missing:
        raise InputError(f"{meta_path}: missing fields {missing}")
    if meta.get("version") != __version__:
        warnings.warn(
            f"{root}: saved by textrec {meta.get('version')}, this is {__version__}",
            stacklevel=3,  # the caller of Recommender.load
        )
    saved = meta["catalog"]
    if not isinstance(saved, dict) or saved.get("fingerprint") != catalog.fingerprint:
        raise InputError(
            f"{root}: trained on catalog {_get(saved, 'name')!r} "
            f"(fingerprint {_get(saved, 'fingerprint')}, "
            f"{_get(saved, 'n_items')} items), cannot load it for catalog {catalog.name!r} "
            f"(fingerprint {catalog.fingerprint}, {catalog.n_items} items)"
        )
    config = RecommenderConfig.from_saved(meta["config"], f"{meta_path}: field 'config'")
    encoder = config_from_json(
        EncoderConfig, meta["text_encoder"], f"{meta_path}: field 'text_encoder'"
    )
    acting_json = meta.get("acting", {})
    if isinstance(acting_json, dict):
        # Saved before Acting.weights: trained with the asked head, weighed by it.
        acting_json = {"weights": "asked", **acting_json}
    acting = config_from_json(Acting, acting_json, f"{meta_path}: field 'acting'")
    weights_path = root / _WEIGHTS_FILE
    weights = read_checkpoint(weights_path, _FORMAT, ("state_dict",))
    _check_finite(weights["state_dict"], f"{weights_path}: agent {root}")
    try:
        vocab = Vocabulary.from_json(meta["vocab"])
        model = cls(catalog, PretrainedTextEncoder(encoder, catalog.schema, vocab), config)
        model.load_state_dict(weights["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{root}: inconsistent recommender checkpoint: {exc}") from exc
    model.acting = acting  # saved before it was: the default
    return model.eval()


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` of a JSON object, ``None`` for anything else (error messages only)."""
    return obj.get(key) if isinstance(obj, dict) else None


def _check_finite(state: dict[str, Any], source: str) -> None:
    """InputError naming ``source`` and the tensors when a weight is NaN or infinite."""
    bad = [
        k
        for k, v in state.items()
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise InputError(f"{source}: non-finite weights (NaN or inf) in {bad[:3]}{more}")
