"""The utterance-generation model: a conditional GRU language model of user feedback.

The paper trains "an utterance generation model" whose input is the attribute value the user
wants and whose output is a sentence asking for it. Here it is a word-level GRU conditioned on
(attribute, value, mode): a learned attribute embedding, a mode embedding and a value embedding
built from the value's own words (the mean of their word embeddings, so values with shared words,
or values never trained on, get sensible conditions) are mixed into one conditioning vector that
sets the initial state and is fed at every step.

**Slot decoding.** The model generates a sentence *frame* in which the value's words are one
``<value>`` token, and the value's catalog spelling is filled in afterwards. This guarantees that
every generated sentence names exactly the requested value, spelled exactly (brand names such as
"Betsey Johnson for The Cool People" are not for a 32-d word model to spell). Decoding is
constrained: ``<eos>`` is forbidden until the slot has been emitted and the slot is forbidden once
it has; the slot is forced at the last position if still missing.

It is trained with teacher forcing on the training phrasings of :mod:`textrec.language.corpus`;
held-out perplexity is measured on phrasings it never saw.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import MODES
from textrec.language.corpus import Corpus, LanguageModel
from textrec.language.encoder import init_parameters, one_thread
from textrec.language.templates import SLOT_ID, clean_value, load_templates
from textrec.language.tokenizer import BOS, EOS, PAD, SPECIALS, UNK, Vocabulary

__all__ = [
    "UtteranceConfig",
    "UtteranceReport",
    "UtteranceModel",
    "train_utterance_model",
    "load_or_train",
    "frame_text",
]

logger = logging.getLogger(__name__)

_ATTACH = frozenset(".,?!;:")


@dataclass(frozen=True)
class UtteranceConfig:
    """Hyperparameters of the utterance model and its training.

    Objective (teacher forcing): minimise ``-(1/T) Σ_t log p(w_t | w_<t, attribute, value, mode)``
    over the training frames ``<bos> w_1 .. w_T <eos>`` (value words replaced by ``<value>``).
    """

    embed_dim: int = 32
    """Word embedding size (the text encoder's, as in the paper)."""
    cond_dim: int = 64
    """Size of the (attribute, value, mode) conditioning vector."""
    hidden_dim: int = 128
    """GRU state size (the text encoder's LSTM size in the paper)."""
    dropout: float = 0.25
    """Dropout on word embeddings and GRU outputs during training."""
    epochs: int = 30
    """Passes over the distinct training frames (each pairs every frame with a random value)."""
    batch_size: int = 64
    """Frames per optimiser step."""
    lr: float = 3e-3
    """Adam learning rate."""
    max_frame_len: int = 20
    """Most tokens a generated frame may have (without ``<eos>``)."""
    held_out_fraction: float = 0.25
    """Share of phrasings held out of training to measure perplexity on unseen wordings."""

    def __post_init__(self) -> None:
        for name in ("embed_dim", "cond_dim", "hidden_dim", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"UtteranceConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"UtteranceConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.lr <= 0:
            raise InputError(f"UtteranceConfig.lr must be > 0, got {self.lr}")
        if self.max_frame_len < 2:
            raise InputError(
                f"UtteranceConfig.max_frame_len must be >= 2, got {self.max_frame_len}"
            )
        if not 0.0 <= self.held_out_fraction < 1.0:
            raise InputError(
                f"UtteranceConfig.held_out_fraction must be in [0, 1), got {self.held_out_fraction}"
            )


@dataclass(frozen=True)
class UtteranceReport:
    """What training measured (perplexities are per token, ``<eos>`` included)."""

    train_perplexity: float
    """Perplexity on the training phrasings."""
    held_out_perplexity: float
    """Perplexity on held-out phrasings (wordings never seen in training)."""
    unigram_held_out_perplexity: float
    """Baseline: a unigram model of the training frames on the held-out ones (add-one smoothed)."""
    n_train_frames: int
    """Distinct (phrasing, attribute, mode) training frames."""
    n_held_out_frames: int
    """Distinct (phrasing, attribute, mode) held-out frames (perplexities: one sentence each)."""
    losses: tuple[float, ...]
    """Mean training loss of each epoch."""
    seconds: float
    """Wall time of training."""


def frame_text(ids: Sequence[int], vocab: Vocabulary) -> str:
    """Turn frame token ids into a template string with ``{value}`` where the slot is.

    Punctuation attaches to the word before it and ``i`` is capitalised, so the frame reads like
    the templates: ``[i, want, <value>, .]`` -> ``"I want {value}."``.
    """
    out: list[str] = []
    for i in ids:
        if i == SLOT_ID:
            word = "{value}"
        elif i < len(SPECIALS):
            continue
        else:
            word = vocab.tokens[i]
            if word == "i" or word.startswith("i'"):
                word = "I" + word[1:]
        if out and word in _ATTACH:
            out[-1] += word
        else:
            out.append(word)
    text = " ".join(out)
    return text[:1].upper() + text[1:]


class UtteranceModel(LanguageModel, nn.Module):
    """Conditional GRU language model over sentence frames (see the module docstring).

    Args:
        config: Sizes (learned state is not kept in it).
        schema: The attributes and values it is conditioned on.
        vocab: The schema's shared vocabulary (``templates.shared_vocabulary``).
    """

    KIND: ClassVar[str] = "textrec.UtteranceModel"
    NAME: ClassVar[str] = "utterance"
    CONFIG: ClassVar[type] = UtteranceConfig
    REPORT: ClassVar[type] = UtteranceReport

    def __init__(self, config: UtteranceConfig, schema: AttributeSchema, vocab: Vocabulary) -> None:
        super().__init__()
        self.config, self.schema, self.vocab = config, schema, vocab
        names = (clean_value(schema.value_name(v)[1]) for v in range(schema.n_values))
        surface = [vocab.encode(name) or [UNK] for name in names]
        width = max(len(s) for s in surface)
        value_words = torch.zeros((schema.n_values, width), dtype=torch.long)
        for v, ids in enumerate(surface):
            value_words[v, : len(ids)] = torch.tensor(ids)
        self.register_buffer("value_words", value_words)
        self.register_buffer(
            "value_attribute", torch.as_tensor(schema.value_attribute, dtype=torch.long)
        )
        self.embed = nn.Embedding(len(vocab), config.embed_dim, padding_idx=PAD)
        self.attribute_embed = nn.Embedding(schema.n_attributes, config.cond_dim)
        self.mode_embed = nn.Embedding(len(MODES), config.cond_dim)
        self.value_proj = nn.Linear(config.embed_dim, config.cond_dim)
        self.init_state = nn.Linear(config.cond_dim, config.hidden_dim)
        self.gru = nn.GRU(config.embed_dim + config.cond_dim, config.hidden_dim, batch_first=True)
        self.out = nn.Linear(config.hidden_dim, len(vocab))

    def condition(self, values: torch.Tensor, modes: torch.Tensor) -> torch.Tensor:
        """``(B, cond_dim)`` conditions of global ``values`` and ``modes`` (both ``(B,)``)."""
        words = self.value_words[values]
        mask = (words != PAD).unsqueeze(-1).float()
        value_vec = (self.embed(words) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        attribute = self.value_attribute[values]
        return torch.tanh(
            self.attribute_embed(attribute) + self.mode_embed(modes) + self.value_proj(value_vec)
        )

    def forward(
        self,
        inputs: torch.Tensor,
        values: torch.Tensor,
        modes: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Next-token logits ``(B, L, |vocab|)`` for ``inputs`` ``(B, L)`` (``<bos>`` first).

        With ``generator`` (training), dropout masks are drawn from it.
        """
        cond = self.condition(values, modes)
        x = self._dropout(self.embed(inputs), generator)
        x = torch.cat([x, cond.unsqueeze(1).expand(-1, x.shape[1], -1)], dim=-1)
        h0 = torch.tanh(self.init_state(cond)).unsqueeze(0)
        y, _ = self.gru(x, h0)
        return self.out(self._dropout(y, generator))

    def _dropout(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        p = self.config.dropout
        if generator is None or p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=generator) >= p
        return x * keep / (1.0 - p)

    def loss(
        self,
        frames: torch.Tensor,
        lengths: torch.Tensor,
        values: torch.Tensor,
        modes: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, int]:
        """Summed cross-entropy over ``frames`` ``(B, L)`` plus ``<eos>``, and the token count."""
        inputs, targets = _teacher_forcing(frames, lengths)
        logits = self(inputs, values, modes, generator)
        ce = F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD, reduction="sum")
        return ce, int((targets != PAD).sum())

    @torch.no_grad()
    def generate_frames(
        self,
        values: np.ndarray | Sequence[int],
        modes: np.ndarray | Sequence[int],
        *,
        seed: int = 0,
        temperature: float = 0.7,
        max_words: int | np.ndarray | Sequence[int] | None = None,
        batch_size: int = 4096,
    ) -> list[str]:
        """Sample one frame (a template string with ``{value}``) per (global value, mode) pair.

        Args:
            values: ``(n,)`` global value indices.
            modes: ``(n,)`` mode indices (``MODES``).
            seed: Seed of the sampling generator: same seed, same frames.
            temperature: Softmax temperature (``> 0``; lower is more conservative).
            max_words: Most words per frame, the slot counting as one (an int or ``(n,)``,
                capped by ``config.max_frame_len``): room left for a long value.
            batch_size: Frames sampled per batch.
        """
        if temperature <= 0:
            raise InputError(f"temperature must be > 0, got {temperature}")
        values_t = torch.as_tensor(np.asarray(values), dtype=torch.long)
        modes_t = torch.as_tensor(np.asarray(modes), dtype=torch.long)
        if values_t.shape != modes_t.shape or values_t.ndim != 1:
            raise InputError(
                f"values {tuple(values_t.shape)} and modes {tuple(modes_t.shape)} "
                "must have the same (n,) shape"
            )
        if len(values_t) and (values_t.min() < 0 or values_t.max() >= self.schema.n_values):
            raise InputError(f"values must be global value indices in [0, {self.schema.n_values})")
        if len(modes_t) and (modes_t.min() < 0 or modes_t.max() >= len(MODES)):
            raise InputError(f"modes must be in [0, {len(MODES)})")
        steps = self.config.max_frame_len
        room = np.asarray(steps if max_words is None else max_words, dtype=np.int64)
        if room.ndim > 1 or (room.ndim == 1 and room.shape != (len(values_t),)):
            raise InputError(f"max_words must be an int or ({len(values_t)},), got {room.shape}")
        limits = torch.from_numpy(np.broadcast_to(room, len(values_t)).copy()).clamp(1, steps)
        was_training = self.training
        self.eval()
        generator = torch.Generator().manual_seed(seed)
        ids: list[list[int]] = []
        with one_thread():
            for start in range(0, len(values_t), batch_size):
                c = slice(start, start + batch_size)
                ids.extend(self._sample(values_t[c], modes_t[c], limits[c], generator, temperature))
        self.train(was_training)
        return [frame_text(f, self.vocab) for f in ids]

    def _sample(
        self,
        values: torch.Tensor,
        modes: torch.Tensor,
        limits: torch.Tensor,
        generator: torch.Generator,
        temperature: float,
    ) -> list[list[int]]:
        """Constrained ancestral sampling of a batch of frames (token ids without ``<eos>``)."""
        n, steps = len(values), self.config.max_frame_len
        cond = self.condition(values, modes)
        h = torch.tanh(self.init_state(cond)).unsqueeze(0)
        token = torch.full((n,), BOS, dtype=torch.long)
        has_slot = torch.zeros(n, dtype=torch.bool)
        done = torch.zeros(n, dtype=torch.bool)
        out = torch.full((n, steps), PAD, dtype=torch.long)
        never = torch.zeros(len(self.vocab), dtype=torch.bool)
        never[[PAD, UNK, BOS]] = True
        for t in range(steps + 1):
            x = torch.cat([self.embed(token), cond], dim=-1).unsqueeze(1)
            y, h = self.gru(x, h)
            logits = self.out(y[:, 0]) / temperature
            banned = never.expand(n, -1).clone()
            banned[:, EOS] = ~has_slot
            banned[:, SLOT_ID] = has_slot
            # at a row's last word position: the slot if still missing, else only <eos>
            forced = torch.ones_like(banned)
            forced[:, SLOT_ID] = has_slot
            forced[:, EOS] = ~has_slot
            banned = torch.where((t >= limits - 1).unsqueeze(1), forced, banned)
            logits = logits.masked_fill(banned, float("-inf"))
            token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)[:, 0]
            token = torch.where(done, torch.full_like(token, EOS), token)
            done |= token == EOS
            has_slot |= token == SLOT_ID
            if t < steps:
                out[:, t] = torch.where(done, torch.full_like(token, PAD), token)
            if bool(done.all()):
                break
        return [[i for i in row if i != PAD] for row in out.tolist()]

    def generate(
        self,
        attribute: str | int,
        value: str,
        n: int,
        *,
        mode: int = 0,
        seed: int = 0,
        temperature: float = 0.7,
    ) -> list[str]:
        """``n`` sentences asking for ``value`` of ``attribute`` in ``mode`` (spelled as the user
        writes it, see :meth:`~textrec.language.templates.PhrasingSet.surface`)."""
        from textrec.language.templates import render

        g = self.schema.value_index(attribute, value)
        attr = self.schema.attributes[int(self.schema.value_attribute[g])]
        frames = self.generate_frames(
            np.full(n, g), np.full(n, mode), seed=seed, temperature=temperature
        )
        surface = load_templates().surface(attr, value)
        return [render(f, attr, surface) for f in frames]

    @torch.no_grad()
    def perplexity(self, corpus: Corpus, batch_size: int = 512) -> float:
        """Per-token perplexity of the frames of ``corpus`` (``<eos>`` included)."""
        was_training = self.training
        self.eval()
        total, count = 0.0, 0
        with one_thread():
            for start in range(0, len(corpus), batch_size):
                s = slice(start, start + batch_size)
                ce, k = self.loss(*_tensors(corpus, s))
                total, count = total + float(ce), count + k
        self.train(was_training)
        return math.exp(total / max(count, 1))

    @classmethod
    def fit(
        cls, corpus: Corpus, config: UtteranceConfig, *, seed: int, progress: bool
    ) -> tuple[UtteranceModel, UtteranceReport]:
        """:func:`train_utterance_model`."""
        return train_utterance_model(corpus, config, seed=seed, progress=progress)


def _teacher_forcing(
    frames: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``<bos> w_1..w_T`` and targets ``w_1..w_T <eos>`` (padded) from frames ``(B, L)``."""
    b, width = frames.shape
    inputs = torch.cat([torch.full((b, 1), BOS, dtype=torch.long), frames], dim=1)
    targets = torch.cat([frames, torch.zeros((b, 1), dtype=torch.long)], dim=1)
    targets[torch.arange(b), lengths] = EOS
    return inputs[:, : width + 1], targets


def _tensors(corpus: Corpus, rows: Any) -> tuple[torch.Tensor, ...]:
    lengths = corpus.frame_lengths[rows]
    width = int(lengths.max()) if len(lengths) else 1
    return (
        torch.as_tensor(corpus.frames[rows, :width], dtype=torch.long),
        torch.as_tensor(lengths, dtype=torch.long),
        torch.as_tensor(corpus.value[rows], dtype=torch.long),
        torch.as_tensor(corpus.mode[rows], dtype=torch.long),
    )


def _frame_groups(corpus: Corpus) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of each run of sentences sharing a (phrasing, attribute, mode) frame."""
    key = (corpus.phrasing * corpus.schema.n_attributes + corpus.attribute) * len(
        MODES
    ) + corpus.mode
    change = np.flatnonzero(np.diff(key)) + 1
    starts = np.concatenate([[0], change]) if len(key) else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.concatenate([starts, [len(key)]]))
    return starts.astype(np.int64), sizes.astype(np.int64)


def _unigram_perplexity(train: Corpus, held: Corpus) -> float:
    """Add-one-smoothed unigram perplexity of the held-out frames (``<eos>`` counted)."""
    n_vocab = len(train.vocab)
    counts = np.ones(n_vocab)

    def tokens(c: Corpus) -> np.ndarray:
        starts, _ = _frame_groups(c)
        ids = [c.frames[i, : c.frame_lengths[i]].tolist() + [EOS] for i in starts]
        return np.array([t for row in ids for t in row], dtype=np.int64)

    np.add.at(counts, tokens(train), 1.0)
    held_tokens = tokens(held)
    logp = np.log(counts / counts.sum())
    return float(np.exp(-logp[held_tokens].mean())) if len(held_tokens) else float("nan")


def train_utterance_model(
    corpus: Corpus, config: UtteranceConfig | None = None, *, seed: int = 0, progress: bool = False
) -> tuple[UtteranceModel, UtteranceReport]:
    """Train the utterance model on ``corpus.train()``; measure perplexity on ``corpus.held()``.

    Each epoch visits every distinct (phrasing, attribute) training frame once, paired with a
    random value of the attribute, so attributes with many values (brands) do not drown the rest.
    Initialisation, value draws, shuffling and dropout all come from generators seeded by ``seed``.
    """
    with one_thread():
        return _train(corpus, config or UtteranceConfig(), seed, progress)


def _train(
    corpus: Corpus, config: UtteranceConfig, seed: int, progress: bool
) -> tuple[UtteranceModel, UtteranceReport]:
    started = time.perf_counter()
    train, held = corpus.train(), corpus.held()
    starts, sizes = _frame_groups(train)
    if len(starts) == 0:
        raise InputError("the corpus has no training sentences")
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    model = UtteranceModel(config, corpus.schema, corpus.vocab)
    init_parameters(model, generator)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses: list[float] = []
    epochs = tqdm(range(config.epochs), desc="utterance model", disable=not progress, leave=False)
    model.train()
    for _ in epochs:
        rows = starts + (rng.random(len(starts)) * sizes).astype(np.int64)
        rows = rows[rng.permutation(len(rows))]
        total, count = 0.0, 0
        for b in range(0, len(rows), config.batch_size):
            ce, k = model.loss(
                *_tensors(train, rows[b : b + config.batch_size]), generator=generator
            )
            optimiser.zero_grad()
            (ce / k).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            total, count = total + float(ce.detach()), count + k
        losses.append(total / count)
        epochs.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    held_starts = _frame_groups(held)[0]
    report = UtteranceReport(
        train_perplexity=model.perplexity(train.subset(starts)),
        held_out_perplexity=model.perplexity(held.subset(held_starts))
        if len(held)
        else float("nan"),
        unigram_held_out_perplexity=_unigram_perplexity(train, held),
        n_train_frames=len(starts),
        n_held_out_frames=len(held_starts),
        losses=tuple(losses),
        seconds=time.perf_counter() - started,
    )
    logger.info(
        "utterance model: held-out perplexity %.2f (unigram %.2f) in %.1fs",
        report.held_out_perplexity,
        report.unigram_held_out_perplexity,
        report.seconds,
    )
    return model, report


load_or_train = UtteranceModel.cached
"""The utterance model for a schema: cached (``<cache>/language/utterance-<key>.pt``), or trained
now and cached (:meth:`~textrec.language.corpus.LanguageModel.cached`)."""
