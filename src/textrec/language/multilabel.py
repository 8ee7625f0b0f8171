"""A learned reader of every request: frozen MiniLM sentence embeddings with one "wanted" and one
"rejected" sigmoid per value, trained on the generated training set
(:func:`textrec.language.trainset.build_training_set`), never on the held-out sentences.

Objective: binary cross-entropy of ``wanted (N, V)`` and ``rejected (N, V)`` against
``sigmoid(W x + b)`` on the 384-d embeddings ``x``; a value is read when its probability is at
least ``threshold`` (the request's confidence), otherwise not at all.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.corpus import (
    corpus_fingerprint,
    resolve_cache_dir,
)
from textrec.language.interpret import MiniLMHeads
from textrec.language.lexicon import LEXICON_PATH
from textrec.language.reading import THRESHOLD, Reading, Request, split_confident
from textrec.language.trainset import TRAIN_PHRASINGS_PATH, SentenceSet, build_training_set

__all__ = ["MultiLabelConfig", "MultiLabelMiniLM", "load_multilabel_reader"]


@dataclass(frozen=True)
class MultiLabelConfig:
    """Training set size and the heads' optimisation."""

    n_sentences: int = 6000
    """Generated training sentences."""
    steps: int = 600
    """Adam steps."""
    batch_size: int = 256
    """Sentences per step."""
    lr: float = 1e-2
    """Adam learning rate."""

    def __post_init__(self) -> None:
        for name in ("n_sentences", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"MultiLabelConfig.{name} must be >= 1")
        if self.lr <= 0:
            raise InputError(f"MultiLabelConfig.lr must be > 0, got {self.lr}")


class MultiLabelMiniLM(MiniLMHeads):
    """Linear "wanted" and "rejected" heads over frozen all-MiniLM-L6-v2 embeddings."""

    KIND: ClassVar[str] = "textrec.MultiLabelMiniLM"
    CONFIG: ClassVar[type] = MultiLabelConfig

    def __init__(
        self, config: MultiLabelConfig, schema: AttributeSchema, threshold: float = THRESHOLD
    ) -> None:
        super().__init__(config, schema)
        self.threshold = threshold
        self.heads = nn.Linear(self.dim, 2 * schema.n_values)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(B, 2, V)`` logits: wanted, rejected."""
        return self.heads(embeddings).view(len(embeddings), 2, self.schema.n_values)

    @classmethod
    def fit(
        cls, data: SentenceSet, config: MultiLabelConfig | None = None, *, seed: int = 0
    ) -> MultiLabelMiniLM:
        """Train the heads on ``data`` (seeded by ``seed``)."""
        config = config or MultiLabelConfig()
        x = cls.embed(data.texts.tolist())
        y = torch.as_tensor(np.stack([data.wanted, data.rejected], 1), dtype=torch.float32)
        model = cls(config, data.schema)
        generator = torch.Generator().manual_seed(seed)
        return model.train_heads(
            len(x),
            lambda rows: F.binary_cross_entropy_with_logits(model(x[rows]), y[rows]),
            generator,
        )

    @torch.no_grad()
    def read_batch(self, texts: Sequence[str]) -> list[Reading]:
        """Every value whose wanted or rejected probability reaches ``threshold / 2`` is read;
        at or above ``threshold`` it is a request, below it doubtful."""
        texts = list(texts)
        if not texts:
            return []
        probs = torch.sigmoid(self(self.embed(texts))).numpy()
        out = []
        for text, p in zip(texts, probs, strict=True):
            found = []
            for negated in (False, True):
                for v in np.flatnonzero(p[int(negated)] >= self.threshold / 2):
                    attr, value = self.schema.value_name(int(v))
                    conf = float(p[int(negated), v])
                    found.append(Request(attr, value, "request", negated, conf, int(v)))
            found.sort(key=lambda r: -r.confidence)
            sure, doubtful = split_confident(found, self.threshold)
            out.append(Reading(text, sure, doubtful))
        return out


@functools.lru_cache(maxsize=4)
def load_multilabel_reader(
    schema: AttributeSchema, seed: int = 0, cache_dir: str | None = None
) -> MultiLabelMiniLM:
    """The multi-label MiniLM reader of ``schema``: cached on disk, or trained now and cached."""
    config = MultiLabelConfig()
    data_files = [LEXICON_PATH.read_bytes(), TRAIN_PHRASINGS_PATH.read_bytes()]
    digest = hashlib.sha256(b"".join(data_files)).hexdigest()
    key = corpus_fingerprint(
        schema, kind=MultiLabelMiniLM.KIND, config=asdict(config), seed=seed, data=digest
    )
    path = resolve_cache_dir(cache_dir) / f"multilabel-{key}.pt"
    if path.is_file():
        return MultiLabelMiniLM.load(path)
    data = build_training_set(schema, n=config.n_sentences, seed=seed)
    model = MultiLabelMiniLM.fit(data, config, seed=seed)
    model.save(path)
    return model
