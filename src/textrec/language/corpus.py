"""The labelled text corpus the utterance model and the text encoder learn from.

Every phrasing of ``templates.json`` and ``paraphrases.json`` that applies to an attribute of the
schema is rendered with every value of that attribute; each sentence is labelled with its
attribute, global value and mode (the paper: "we derive several sentence templates ... and
generate sentences by filling these templates with attribute values. With the attribute labels
... we also pretrain the textual encoder under a cross-entropy loss").

The split is by *phrasing*, not by sentence: a deterministic hash of the phrasing text puts about
``held_out_fraction`` of the phrasings aside, so held-out perplexity and encoder accuracy measure
how models do on wordings they never saw (with values they did see).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from textrec import __version__
from textrec.catalog.schema import AttributeSchema
from textrec.checkpoint import read_checkpoint, write_checkpoint
from textrec.errors import InputError
from textrec.language.bank import MODES
from textrec.language.templates import (
    SLOT_ID,
    PhrasingSet,
    load_paraphrases,
    load_templates,
    shared_vocabulary,
    split_frame,
)
from textrec.language.tokenizer import Vocabulary

logger = logging.getLogger(__name__)

__all__ = [
    "Corpus",
    "build_corpus",
    "held_out_phrasings",
    "resolve_cache_dir",
    "corpus_fingerprint",
    "write_checkpoint",
    "read_checkpoint",
    "LanguageModel",
]


@dataclass(frozen=True, eq=False)
class Corpus:
    """Rendered, tokenised, labelled sentences.

    Shapes (``N`` sentences, ``L`` = ``max_len`` token columns, ``P`` distinct phrasings):

    * ``texts``        ``(N,)`` str
    * ``tokens``       ``(N, L) int32`` sentence ids, right-padded with ``<pad>``
    * ``lengths``      ``(N,) int32``
    * ``frames``       ``(N, L) int32`` the same sentence with the value's words replaced by one
      ``<value>`` id (``SLOT_ID``): what the utterance model generates
    * ``frame_lengths`` ``(N,) int32``
    * ``attribute``    ``(N,) int64`` attribute index ``k``
    * ``value``        ``(N,) int64`` global value index
    * ``mode``         ``(N,) int64`` index into ``MODES``
    * ``phrasing``     ``(N,) int64`` index into ``phrasings``
    * ``held_out``     ``(N,) bool`` the sentence's phrasing is held out of training
    * ``paraphrase``   ``(N,) bool`` the phrasing comes from the paraphrase file, not the templates
    """

    schema: AttributeSchema
    vocab: Vocabulary
    phrasings: tuple[str, ...]
    """Distinct phrasing texts (with ``{value}`` / ``{attribute}`` placeholders)."""
    texts: np.ndarray
    tokens: np.ndarray
    lengths: np.ndarray
    frames: np.ndarray
    frame_lengths: np.ndarray
    attribute: np.ndarray
    value: np.ndarray
    mode: np.ndarray
    phrasing: np.ndarray
    held_out: np.ndarray
    paraphrase: np.ndarray
    _fields: ClassVar[tuple[str, ...]] = (
        "texts", "tokens", "lengths", "frames", "frame_lengths", "attribute", "value", "mode",
        "phrasing", "held_out", "paraphrase",
    )  # fmt: skip

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def max_len(self) -> int:
        """Token columns ``L``."""
        return int(self.tokens.shape[1])

    def subset(self, mask: np.ndarray) -> Corpus:
        """The sentences where ``mask`` (``(N,)`` bool or an index array) selects."""
        arrays = {name: getattr(self, name)[mask] for name in self._fields}
        return Corpus(schema=self.schema, vocab=self.vocab, phrasings=self.phrasings, **arrays)

    def train(self) -> Corpus:
        """Sentences of training phrasings."""
        return self.subset(~self.held_out)

    def held(self) -> Corpus:
        """Sentences of held-out phrasings (never seen in training)."""
        return self.subset(self.held_out)


def _unit_hash(text: str) -> float:
    return int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:12], 16) / 16**12


def held_out_phrasings(
    schema: AttributeSchema, sets: tuple[PhrasingSet, ...], fraction: float
) -> dict[str, bool]:
    """Which phrasing texts are held out: those whose text hash falls below ``fraction``.

    The choice depends only on the text, so a phrasing is held out for every attribute at once.
    Where that would leave an (attribute, mode) without training phrasings, its phrasing with the
    largest hash is kept for training.
    """
    verdict: dict[str, bool] = {}
    for attr in schema.attributes:
        for mode in range(len(MODES)):
            group = [t for s in sets for t in s.phrasings(attr, mode)]
            for t in group:
                verdict.setdefault(t, _unit_hash(t) < fraction)
            if all(verdict[t] for t in group):
                verdict[max(group, key=_unit_hash)] = False
    return verdict


def build_corpus(
    schema: AttributeSchema,
    *,
    templates: PhrasingSet | None = None,
    paraphrases: PhrasingSet | None = None,
    held_out_fraction: float = 0.25,
    max_len: int = 32,
) -> Corpus:
    """Render every phrasing of every attribute with every value, labelled and split.

    Args:
        schema: Attributes and values to render.
        templates: Template file (default: the packaged ``templates.json``).
        paraphrases: Paraphrase file (default: the packaged ``paraphrases.json``).
        held_out_fraction: Share of phrasings (by text hash) held out of training, in ``[0, 1)``.
        max_len: Token columns; a longer sentence raises ``ValueError``.

    Returns:
        The :class:`Corpus`, with the schema's shared vocabulary.
    """
    if not 0.0 <= held_out_fraction < 1.0:
        raise InputError(f"held_out_fraction must be in [0, 1), got {held_out_fraction}")
    if max_len < 2:
        raise InputError(f"max_len must be >= 2, got {max_len}")
    templates = templates or load_templates()
    paraphrases = paraphrases or load_paraphrases()
    vocab = shared_vocabulary(schema, templates, paraphrases)
    held = held_out_phrasings(schema, (templates, paraphrases), held_out_fraction)
    slot = [SLOT_ID]
    phrasing_id: dict[str, int] = {}
    rows: list[tuple[str, list[int], list[int], int, int, int, int, bool]] = []
    for k, attr in enumerate(schema.attributes):
        surfaces = [templates.surface(attr, v) for v in attr.values]
        value_ids = [vocab.encode(s) for s in surfaces]
        offset = int(schema.offsets[k])
        for mode in range(len(MODES)):
            from_templates = templates.phrasings(attr, mode)
            extra = [t for t in paraphrases.phrasings(attr, mode) if t not in from_templates]
            for t in (*from_templates, *extra):
                p = phrasing_id.setdefault(t, len(phrasing_id))
                before, after = split_frame(t, attr)
                ids_before, ids_after = vocab.encode(before), vocab.encode(after)
                frame = ids_before + slot + ids_after
                is_para = t not in from_templates
                for j, (surface, ids) in enumerate(zip(surfaces, value_ids, strict=True)):
                    text = before + surface + after
                    text = text[:1].upper() + text[1:]
                    sentence = ids_before + ids + ids_after
                    rows.append((text, sentence, frame, k, offset + j, mode, p, is_para))
    return _pack(schema, vocab, tuple(phrasing_id), held, rows, max_len)


def _pack(
    schema: AttributeSchema,
    vocab: Vocabulary,
    phrasings: tuple[str, ...],
    held: dict[str, bool],
    rows: list[tuple[str, list[int], list[int], int, int, int, int, bool]],
    max_len: int,
) -> Corpus:
    n = len(rows)
    tokens = np.zeros((n, max_len), dtype=np.int32)
    frames = np.zeros((n, max_len), dtype=np.int32)
    lengths = np.zeros(n, dtype=np.int32)
    frame_lengths = np.zeros(n, dtype=np.int32)
    for i, (text, ids, frame, *_rest) in enumerate(rows):
        if len(ids) > max_len:
            raise InputError(
                f"corpus sentence {text!r} has {len(ids)} tokens, more than max_len={max_len}"
            )
        tokens[i, : len(ids)] = ids
        frames[i, : len(frame)] = frame
        lengths[i], frame_lengths[i] = len(ids), len(frame)
    texts = np.empty(n, dtype=object)
    texts[:] = [r[0] for r in rows]
    labels = np.array([r[3:7] for r in rows], dtype=np.int64).reshape(n, 4)
    phrasing_held = np.array([held[p] for p in phrasings], dtype=bool)
    return Corpus(
        schema=schema,
        vocab=vocab,
        phrasings=phrasings,
        texts=texts,
        tokens=tokens,
        lengths=lengths,
        frames=frames,
        frame_lengths=frame_lengths,
        attribute=labels[:, 0],
        value=labels[:, 1],
        mode=labels[:, 2],
        phrasing=labels[:, 3],
        held_out=phrasing_held[labels[:, 3]],
        paraphrase=np.array([r[7] for r in rows], dtype=bool),
    )


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """Where trained language models are cached: ``cache_dir``, else ``$TEXTREC_CACHE``, else
    ``~/.cache/textrec``; models go to its ``language/`` folder."""
    if cache_dir is not None:
        root = Path(cache_dir)
    elif os.environ.get("TEXTREC_CACHE"):
        root = Path(os.environ["TEXTREC_CACHE"])
    else:
        root = Path.home() / ".cache" / "textrec"
    return root / "language"


def corpus_fingerprint(
    schema: AttributeSchema,
    templates: PhrasingSet | None = None,
    paraphrases: PhrasingSet | None = None,
    **settings: Any,
) -> str:
    """Hex digest of everything a model trained on the corpus depends on: the schema, the phrasing
    files' content and ``settings`` (configs, seed); used as the cache key of trained models."""
    sets = (templates or load_templates(), paraphrases or load_paraphrases())
    payload = {
        "schema": schema.to_json(),
        "phrasings": [[s.generic, s.generic_use, [asdict(a) for a in s.attributes]] for s in sets],
        "settings": settings,
        "version": __version__,
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:20]


class LanguageModel(ABC):
    """The skeleton of the models trained on the corpus (the text encoder, the utterance model).

    A subclass is an ``nn.Module`` built as ``cls(config, schema, vocab)``; it names its
    checkpoint type :attr:`KIND`, its cache file :attr:`NAME`, its config and report dataclasses,
    and trains in :meth:`fit`. The checkpoint (config, schema, vocabulary, report, weights), its
    loading and the cache are written here once.
    """

    KIND: ClassVar[str]
    """Checkpoint ``type``."""
    NAME: ClassVar[str]
    """Cache file prefix: ``<cache>/language/<NAME>-<key>.pt``."""
    CONFIG: ClassVar[type]
    """The config dataclass (sizes, optimisation, ``held_out_fraction``)."""
    REPORT: ClassVar[type]
    """The training report dataclass."""
    FIELDS: ClassVar[tuple[str, ...]] = ("config", "schema", "vocab", "report", "state_dict")
    """What a checkpoint holds."""

    config: Any
    schema: AttributeSchema
    vocab: Vocabulary

    @classmethod
    @abstractmethod
    def fit(cls, corpus: Corpus, config: Any, *, seed: int, progress: bool) -> tuple[Any, Any]:
        """Train on ``corpus.train()``, measure on ``corpus.held()``: ``(model, report)``."""

    def save(self, path: str | Path, report: Any = None) -> Path:
        """Write config, schema, vocabulary, weights (and the report) to one atomic file."""
        return write_checkpoint(
            path,
            self.KIND,
            config=json.dumps(asdict(self.config)),
            schema=json.dumps(self.schema.to_json()),
            vocab=json.dumps(self.vocab.to_json()),
            report=json.dumps(asdict(report) if report is not None else None),
            state_dict=self.state_dict(),  # type: ignore[attr-defined]
        )

    @classmethod
    def load(cls, path: str | Path) -> tuple[Any, Any]:
        """Read a model written by :meth:`save` (in eval mode), and its report (``None`` when
        saved without). Raises ``ValueError`` naming the file when config and weights do not fit
        together."""
        raw = read_checkpoint(path, cls.KIND, cls.FIELDS)
        try:
            schema = AttributeSchema.from_json(json.loads(raw["schema"]), source=str(path))
            vocab = Vocabulary.from_json(json.loads(raw["vocab"]))
            model = cls(cls.CONFIG(**json.loads(raw["config"])), schema, vocab)  # type: ignore[call-arg]
            model.load_state_dict(raw["state_dict"])
            report = json.loads(raw["report"])
        except (TypeError, KeyError, RuntimeError, ValueError) as exc:
            raise InputError(f"{path}: inconsistent {cls.KIND} checkpoint: {exc}") from exc
        if report is not None:  # JSON lists back to the report's tuples
            report = cls.REPORT(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in report.items()}
            )
        return model.eval(), report

    @classmethod
    def cached(
        cls,
        schema: AttributeSchema,
        *,
        config: Any = None,
        seed: int = 0,
        cache_dir: str | Path | None = None,
        progress: bool = False,
    ) -> Any:
        """The model for ``schema``: loaded from the cache, or trained now and cached.

        The cache file is ``<cache>/language/<NAME>-<key>.pt`` (see :func:`resolve_cache_dir`);
        the key hashes the schema, the phrasing files, the config and the seed, so a change to any
        of them trains a new model. Training holds out ``config.held_out_fraction`` of the
        phrasings.
        """
        config = config or cls.CONFIG()
        key = corpus_fingerprint(schema, kind=cls.KIND, config=asdict(config), seed=seed)
        path = resolve_cache_dir(cache_dir) / f"{cls.NAME}-{key}.pt"
        if path.is_file():
            return cls.load(path)[0]
        corpus = build_corpus(schema, held_out_fraction=config.held_out_fraction)
        model, report = cls.fit(corpus, config, seed=seed, progress=progress)
        model.save(path, report)
        logger.info("cached %s at %s", cls.NAME, path)
        return model
