"""The text encoder of the paper, and its pretraining on the labelled corpus.

Paper ("Multimodal Encoder", "Implementation Details"): the user's query is encoded "by word
embedding, a LSTM, and a linear layer" with sizes 32, 128 and 32, optimised by Adam with learning
rate 0.001, and "with the attribute labels in the training data, we also pretrain the textual
encoder under a cross-entropy loss". :class:`TextEncoder` is exactly that network; pretraining
adds three linear heads on its 32-d output: which attribute the sentence is about, which (global)
value it asks for, and in which mode (request / repeat / negate). The agent takes the pretrained
:class:`TextEncoder` (``PretrainedTextEncoder.encoder``) and the shared vocabulary.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import MODES, NEGATE
from textrec.language.corpus import Corpus, LanguageModel
from textrec.language.tokenizer import PAD, UNK, Vocabulary

__all__ = [
    "EncoderConfig",
    "EncoderReport",
    "EncoderOutputs",
    "TextEncoder",
    "PretrainedTextEncoder",
    "init_parameters",
    "one_thread",
    "pretrain_encoder",
    "evaluate_encoder",
    "load_or_pretrain",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderConfig:
    """Text encoder sizes and pretraining settings.

    Pretraining objective: ``CE(attribute) + CE(value) + CE(mode)`` of three linear heads on the
    32-d sentence code, over the corpus's training phrasings (paper, "Interaction with Users").
    """

    embed_dim: int = 32
    """Word embedding size (paper: 32)."""
    hidden_dim: int = 128
    """LSTM size (paper: 128)."""
    out_dim: int = 32
    """Size of the linear output layer, the sentence code (paper: 32)."""
    lr: float = 1e-3
    """Adam learning rate (paper: 0.001)."""
    steps: int = 1500
    """Optimiser steps (about 24 passes over the built-in catalog's training sentences)."""
    batch_size: int = 64
    """Sentences per optimiser step, drawn with replacement (see ``value_share``)."""
    value_share: float = 0.5
    """Attribute ``k`` gets a share of each batch proportional to ``n_values_k ** value_share``:
    0 gives every attribute the same share, 1 every value (brands, with hundreds of values,
    need more sentences than a four-valued category)."""
    word_dropout: float = 0.1
    """Probability of replacing a word by ``<unk>`` during pretraining (robustness to new words)."""
    held_out_fraction: float = 0.25
    """Share of phrasings held out of pretraining, on which accuracy is measured."""

    def __post_init__(self) -> None:
        for name in ("embed_dim", "hidden_dim", "out_dim", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"EncoderConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"EncoderConfig.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.value_share <= 1.0:
            raise InputError(f"EncoderConfig.value_share must be in [0, 1], got {self.value_share}")
        if not 0.0 <= self.word_dropout < 1.0:
            raise InputError(
                f"EncoderConfig.word_dropout must be in [0, 1), got {self.word_dropout}"
            )
        if not 0.0 <= self.held_out_fraction < 1.0:
            raise InputError(
                f"EncoderConfig.held_out_fraction must be in [0, 1), got {self.held_out_fraction}"
            )


@dataclass(frozen=True)
class EncoderReport:
    """Pretraining measurements; accuracies are top-1 on sentences of held-out phrasings."""

    attribute_accuracy: float
    """Attribute head right."""
    value_accuracy: float
    """Joint attribute+value prediction right (the value the sentence asks for)."""
    mode_accuracy: float
    """Mode head right (request / repeat / negate)."""
    negation_accuracy: float
    """Negated-or-not right (mode == negate vs the rest)."""
    paraphrase_value_accuracy: float
    """Value accuracy on held-out phrasings from the paraphrase file only."""
    value_accuracy_by_attribute: tuple[float, ...]
    """Value accuracy per attribute, in schema order."""
    train_value_accuracy: float
    """Value accuracy on the training phrasings (to compare with the held-out figure)."""
    n_train: int
    """Training sentences."""
    n_held_out: int
    """Held-out sentences."""
    losses: tuple[float, ...]
    """Mean pretraining loss of each run of 100 steps."""
    seconds: float
    """Wall time of pretraining."""


@dataclass(frozen=True)
class EncoderOutputs:
    """Head outputs for a batch of ``B`` sentences (``K`` attributes, ``V`` values)."""

    code: torch.Tensor
    """``(B, out_dim)`` sentence code of the text encoder."""
    attribute_logits: torch.Tensor
    """``(B, K)``."""
    value_logits: torch.Tensor
    """``(B, V)`` over the schema's global value axis."""
    mode_logits: torch.Tensor
    """``(B, len(MODES))``."""

    def value_log_probs(self, value_attribute: torch.Tensor) -> torch.Tensor:
        """``(B, V)`` joint ``log p(attribute(v)) + log p(v)``, renormalised over ``v``."""
        joint = F.log_softmax(self.attribute_logits, -1)[:, value_attribute]
        joint = joint + F.log_softmax(self.value_logits, -1)
        return joint - torch.logsumexp(joint, dim=-1, keepdim=True)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one PyTorch intra-op thread, then restore the previous setting.

    The language models are small recurrent nets on short batches: threads only add overhead
    (measured on the 2-core dev machine while other jobs ran: 14 ms per encoder step with one
    thread, 350 ms with two).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every parameter of ``module`` from ``generator`` (no global seed is touched).

    Embeddings ~ N(0, 1) (padding row zero), linear and recurrent weights ~ U(±1/sqrt(fan_in))
    as PyTorch's defaults, biases zero.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Embedding):
                m.weight.normal_(0.0, 1.0, generator=generator)
                if m.padding_idx is not None:
                    m.weight[m.padding_idx].zero_()
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                m.weight.uniform_(-bound, bound, generator=generator)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.RNNBase):
                bound = 1.0 / math.sqrt(m.hidden_size)
                for p in m.parameters():
                    p.uniform_(-bound, bound, generator=generator)


class TextEncoder(nn.Module):
    """Word embedding (32) -> LSTM (128) -> linear (32): the paper's textual encoder.

    Args:
        vocab_size: Size of the shared vocabulary (``<pad>`` = 0 is a zero, untrained embedding).
        embed_dim: Word embedding size.
        hidden_dim: LSTM state size.
        out_dim: Output (sentence code) size.
    """

    def __init__(
        self, vocab_size: int, embed_dim: int = 32, hidden_dim: int = 128, out_dim: int = 32
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.linear = nn.Linear(hidden_dim, out_dim)

    @property
    def out_dim(self) -> int:
        """Size of the sentence code."""
        return self.linear.out_features

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Encode ``tokens`` ``(B, L) long`` (right-padded), ``lengths`` ``(B,)``: ``(B, out_dim)``.

        The code is the linear map of the LSTM's last state at each sentence's own last word; an
        empty sentence is read as one ``<pad>`` word.
        """
        x = self.embed(tokens)
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)
        return self.linear(h[-1])


class PretrainedTextEncoder(LanguageModel, nn.Module):
    """A :class:`TextEncoder` with its pretraining heads, schema and vocabulary.

    Args:
        config: Sizes.
        schema: Attributes and values the heads predict.
        vocab: The schema's shared vocabulary.
    """

    KIND: ClassVar[str] = "textrec.PretrainedTextEncoder"
    NAME: ClassVar[str] = "encoder"
    CONFIG: ClassVar[type] = EncoderConfig
    REPORT: ClassVar[type] = EncoderReport

    def __init__(self, config: EncoderConfig, schema: AttributeSchema, vocab: Vocabulary) -> None:
        super().__init__()
        self.config, self.schema, self.vocab = config, schema, vocab
        self.encoder = TextEncoder(len(vocab), config.embed_dim, config.hidden_dim, config.out_dim)
        self.attribute_head = nn.Linear(config.out_dim, schema.n_attributes)
        self.value_head = nn.Linear(config.out_dim, schema.n_values)
        self.mode_head = nn.Linear(config.out_dim, len(MODES))
        self.register_buffer(
            "value_attribute", torch.as_tensor(schema.value_attribute, dtype=torch.long)
        )

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> EncoderOutputs:
        """Heads on the code of ``tokens`` ``(B, L)`` with ``lengths`` ``(B,)``."""
        return self.read(self.encoder(tokens, lengths))

    def read(self, code: torch.Tensor) -> EncoderOutputs:
        """The heads on sentence codes ``(B, out_dim)`` already computed."""
        return EncoderOutputs(
            code, self.attribute_head(code), self.value_head(code), self.mode_head(code)
        )

    def encode_texts(
        self, texts: list[str], max_len: int = 32
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids ``(B, max_len) long`` and lengths ``(B,)`` of ``texts`` (shared vocabulary)."""
        tokens, lengths = self.vocab.encode_batch(texts, max_len)
        return torch.as_tensor(tokens, dtype=torch.long), torch.as_tensor(lengths, dtype=torch.long)

    @classmethod
    def fit(
        cls, corpus: Corpus, config: EncoderConfig, *, seed: int, progress: bool
    ) -> tuple[PretrainedTextEncoder, EncoderReport]:
        """:func:`pretrain_encoder`."""
        return pretrain_encoder(corpus, config, seed=seed, progress=progress)


def _batch(corpus: Corpus, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = corpus.lengths[rows]
    width = max(int(lengths.max()), 1) if len(lengths) else 1
    return (
        torch.as_tensor(corpus.tokens[rows, :width], dtype=torch.long),
        torch.as_tensor(lengths, dtype=torch.long),
    )


@torch.no_grad()
def _predict(model: PretrainedTextEncoder, corpus: Corpus, batch_size: int = 1024) -> np.ndarray:
    """``(N, 3)`` predicted (attribute, global value, mode) of every sentence of ``corpus``."""
    was_training = model.training
    model.eval()
    out = np.zeros((len(corpus), 3), dtype=np.int64)
    for start in range(0, len(corpus), batch_size):
        rows = np.arange(start, min(start + batch_size, len(corpus)))
        o = model(*_batch(corpus, rows))
        out[rows, 0] = o.attribute_logits.argmax(-1).numpy()
        out[rows, 1] = o.value_log_probs(model.value_attribute).argmax(-1).numpy()
        out[rows, 2] = o.mode_logits.argmax(-1).numpy()
    model.train(was_training)
    return out


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def evaluate_encoder(model: PretrainedTextEncoder, corpus: Corpus) -> dict[str, float]:
    """Top-1 accuracies on ``corpus``.

    Keys: ``attribute``, ``value``, ``mode``, ``negation``, ``paraphrase_value``, ``value/<name>``.
    """
    pred = _predict(model, corpus)
    right_value = pred[:, 1] == corpus.value
    return {
        "attribute": _mean(pred[:, 0] == corpus.attribute),
        "value": _mean(right_value),
        "mode": _mean(pred[:, 2] == corpus.mode),
        "negation": _mean((pred[:, 2] == NEGATE) == (corpus.mode == NEGATE)),
        "paraphrase_value": _mean(right_value[corpus.paraphrase]),
        **{
            f"value/{n}": _mean(right_value[corpus.attribute == k])
            for k, n in enumerate(corpus.schema.names)
        },
    }


def pretrain_encoder(
    corpus: Corpus, config: EncoderConfig | None = None, *, seed: int = 0, progress: bool = False
) -> tuple[PretrainedTextEncoder, EncoderReport]:
    """Pretrain the text encoder and its heads on ``corpus.train()``; evaluate on ``corpus.held()``.

    Batches are drawn so attribute ``k`` gets a share ``∝ n_values_k ** value_share`` (see
    :class:`EncoderConfig`); initialisation, sampling and word dropout come from generators
    seeded by ``seed``.

    Returns:
        The pretrained model (its ``.encoder`` is the agent's :class:`TextEncoder`) and the report.
    """
    with one_thread():
        return _pretrain(corpus, config or EncoderConfig(), seed, progress)


def _pretrain(
    corpus: Corpus, config: EncoderConfig, seed: int, progress: bool
) -> tuple[PretrainedTextEncoder, EncoderReport]:
    started = time.perf_counter()
    train, held = corpus.train(), corpus.held()
    if len(train) == 0:
        raise InputError("the corpus has no training sentences")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    model = PretrainedTextEncoder(config, corpus.schema, corpus.vocab)
    init_parameters(model, generator)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    per_attribute = np.bincount(train.attribute, minlength=corpus.schema.n_attributes)
    share = np.asarray(corpus.schema.sizes, dtype=np.float64) ** config.value_share
    weights = (share / np.maximum(per_attribute, 1))[train.attribute]
    cumulative = np.cumsum(weights / weights.sum())
    losses: list[float] = []
    window: list[float] = []
    model.train()
    for step in tqdm(range(config.steps), desc="text encoder", disable=not progress, leave=False):
        batch = np.searchsorted(
            cumulative, rng.random(config.batch_size) * cumulative[-1], side="right"
        )
        batch = np.minimum(batch, len(train) - 1)
        tokens, lengths = _batch(train, batch)
        drop = torch.rand(tokens.shape, generator=generator) < config.word_dropout
        tokens = tokens.masked_fill(drop & (tokens != PAD), UNK)
        out = model(tokens, lengths)
        loss = (
            F.cross_entropy(out.attribute_logits, torch.as_tensor(train.attribute[batch]))
            + F.cross_entropy(out.value_logits, torch.as_tensor(train.value[batch]))
            + F.cross_entropy(out.mode_logits, torch.as_tensor(train.mode[batch]))
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        window.append(float(loss.detach()))
        if len(window) == 100 or step == config.steps - 1:
            losses.append(float(np.mean(window)))
            window.clear()
    model.eval()
    acc = evaluate_encoder(model, held)
    train_acc = evaluate_encoder(model, train.subset(rng.permutation(len(train))[:5000]))
    report = EncoderReport(
        attribute_accuracy=acc["attribute"],
        value_accuracy=acc["value"],
        mode_accuracy=acc["mode"],
        negation_accuracy=acc["negation"],
        paraphrase_value_accuracy=acc["paraphrase_value"],
        value_accuracy_by_attribute=tuple(acc[f"value/{n}"] for n in corpus.schema.names),
        train_value_accuracy=train_acc["value"],
        n_train=len(train),
        n_held_out=len(held),
        losses=tuple(losses),
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "text encoder: held-out value accuracy %.3f in %.1fs", report.value_accuracy, report.seconds
    )
    return model, report


load_or_pretrain = PretrainedTextEncoder.cached
"""The pretrained text encoder for a schema: cached (``<cache>/language/encoder-<key>.pt``), or
pretrained now and cached (:meth:`~textrec.language.corpus.LanguageModel.cached`)."""
