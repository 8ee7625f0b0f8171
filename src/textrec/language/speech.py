"""The simulated user's sentences: the sentence bank of every source (templates, the utterance
model, both, or the held-out free-form phrasings).

``build_sentence_bank`` renders, once per simulator, every sentence the user can say for every
(value, mode, variant). It sits above the phrasings, the utterance model and the held-out
phrasings (data -> models -> sentence sources); the model is imported only when a source needs it,
so a template bank costs no PyTorch import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from textrec.catalog.schema import Attribute, AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import MODES, SentenceBank
from textrec.language.templates import (
    PhrasingSet,
    load_templates,
    render,
    shared_vocabulary,
    split_frame,
)
from textrec.language.tokenizer import Vocabulary

if TYPE_CHECKING:
    from textrec.language.utterance import UtteranceModel

__all__ = ["SOURCES", "build_sentence_bank"]

SOURCES = ("templates", "model", "mix", "free")
"""Where a bank's sentences come from: the template file, the utterance model, half each, or the
held-out free-form phrasings (words no reader or agent trains on)."""


def build_sentence_bank(
    schema: AttributeSchema,
    *,
    source: str = "templates",
    n_variants: int = 8,
    seed: int = 0,
    max_len: int = 24,
    model: UtteranceModel | None = None,
    templates: PhrasingSet | None = None,
    temperature: float = 0.7,
) -> SentenceBank:
    """Render every sentence the simulated user can say, for every (global value, mode, variant).

    Args:
        schema: The catalog's attributes; every value of every attribute gets sentences.
        source: ``"templates"`` (the template file), ``"model"`` (the utterance model),
            ``"mix"`` (the first ``ceil(J/2)`` variants from templates, the rest from the model)
            or ``"free"`` (the held-out free-form frames, each value said in one of its everyday
            names: "for my wife", "velcro", "navy"; see :mod:`textrec.language.heldout`).
        n_variants: Variants ``J`` per (value, mode). Template variants cycle through the
            attribute+mode's templates in a per-value order drawn from ``seed``, so the ``J``
            variants are distinct whenever there are at least ``J`` templates.
        seed: Seed of the template order and of the model's sampling.
        max_len: Token columns of the bank; a longer sentence raises ``ValueError``.
        model: Utterance model for ``"model"``/``"mix"``; ``None`` loads (or trains and caches)
            the default one for ``schema`` (see :func:`textrec.language.utterance.load_or_train`).
        templates: Template file to use instead of the packaged one.
        temperature: Sampling temperature of the model. At 0.7 (default) about a third of the
            built-in schema's model sentences are new wordings, mostly fluent; at 1.0 60% are new
            but many garbled; at 0.3 the model mostly replays its training phrasings.

    Returns:
        A :class:`SentenceBank` whose vocabulary is :func:`shared_vocabulary` of ``schema``.
    """
    if source not in SOURCES:
        raise InputError(f"source must be one of {list(SOURCES)}, got {source!r}")
    if n_variants < 1:
        raise InputError(f"n_variants must be >= 1, got {n_variants}")
    if max_len < 1:
        raise InputError(f"max_len must be >= 1, got {max_len}")
    if source == "mix" and n_variants < 2:
        raise InputError(f"n_variants must be >= 2 for source 'mix', got {n_variants}")
    templates = templates or load_templates()
    vocab = shared_vocabulary(schema, templates)
    rng = np.random.default_rng(seed)
    if source == "free":
        return _free_bank(schema, vocab, n_variants, rng, max_len)
    n_template = {"templates": n_variants, "model": 0, "mix": (n_variants + 1) // 2}[source]

    frames: dict[str, int] = {}
    frame_of = np.zeros((schema.n_values, len(MODES), n_variants), dtype=np.int64)
    for k, attr in enumerate(schema.attributes):
        lo, hi = int(schema.offsets[k]), int(schema.offsets[k + 1])
        for mode in range(len(MODES)):
            if n_template:
                frame_of[lo:hi, mode, :n_template] = _template_frames(
                    templates.phrasings(attr, mode), attr, hi - lo, n_template, rng, frames
                )
    if n_template < n_variants:
        room = [
            max_len + 1 - len(vocab.encode(templates.surface(*schema.value_name(v))))
            for v in range(schema.n_values)
        ]
        _model_frames(
            schema, model, frame_of, n_template, np.array(room), seed, temperature, frames
        )
    return _render_bank(schema, templates, vocab, frames, frame_of, max_len, source)


def _intern(frames: dict[str, int], frame: str) -> int:
    return frames.setdefault(frame, len(frames))


def _template_frames(
    phrasings: Sequence[str],
    attr: Attribute,
    n_values: int,
    n: int,
    rng: np.random.Generator,
    frames: dict[str, int],
) -> np.ndarray:
    """``(n_values, n)`` frame ids: each value cycles through the phrasings in its own order."""
    ids = np.array([_intern(frames, "{value}".join(split_frame(t, attr))) for t in phrasings])
    order = np.argsort(rng.random((n_values, len(ids))), axis=1)
    return ids[order[:, np.arange(n) % len(ids)]]


def _model_frames(
    schema: AttributeSchema,
    model: UtteranceModel | None,
    frame_of: np.ndarray,
    start: int,
    room: np.ndarray,
    seed: int,
    temperature: float,
    frames: dict[str, int],
) -> None:
    """Fill variants ``start:`` of ``frame_of`` with model frames of at most ``room[v]`` words."""
    from textrec.language.utterance import load_or_train  # the model's module imports this one

    if model is None:
        model = load_or_train(schema)
    elif model.schema != schema:
        raise InputError("the utterance model was trained for another schema")
    n = frame_of.shape[2] - start
    values = np.repeat(np.arange(schema.n_values), len(MODES) * n)
    modes = np.tile(np.repeat(np.arange(len(MODES)), n), schema.n_values)
    generated = model.generate_frames(
        values, modes, seed=seed, temperature=temperature, max_words=room[values]
    )
    ids = np.array([_intern(frames, f) for f in generated], dtype=np.int64)
    frame_of[:, :, start:] = ids.reshape(schema.n_values, len(MODES), n)


def _free_bank(
    schema: AttributeSchema,
    vocab: Vocabulary,
    n_variants: int,
    rng: np.random.Generator,
    max_len: int,
) -> SentenceBank:
    """Held-out free-form frames, each variant with one of the value's everyday names.

    The vocabulary stays the schema's shared one: words no model was trained on are ``<unk>``
    to the agent's text encoder, as a person's own words would be.
    """
    from textrec.language.heldout import load_free_phrasings

    free = load_free_phrasings()
    texts: dict[str, int] = {}
    index = np.zeros((schema.n_values, len(MODES), n_variants), dtype=np.int32)
    for k, attr in enumerate(schema.attributes):
        for j, value in enumerate(attr.values):
            v = int(schema.offsets[k]) + j
            names = free.surfaces_of(attr.name, value)
            for mode in range(len(MODES)):
                frames = free.phrasings.phrasings(attr, mode)
                order = rng.permutation(len(frames))[np.arange(n_variants) % len(frames)]
                said = rng.integers(0, len(names), size=n_variants)
                for i in range(n_variants):
                    text = render(frames[order[i]], attr, names[said[i]])
                    index[v, mode, i] = texts.setdefault(text, len(texts))
    out = np.empty(len(texts), dtype=object)
    out[:] = list(texts)
    tokens, lengths = vocab.encode_batch(list(texts), max_len + 1)
    if (lengths > max_len).any():
        long = out[int(np.argmax(lengths))]
        raise InputError(f"sentence {long!r} has more than max_len={max_len} tokens; raise max_len")
    return SentenceBank(
        texts=out,
        tokens=tokens[:, :max_len],
        lengths=lengths,
        index=index,
        vocab=vocab,
        source="free",
    )


def _render_bank(
    schema: AttributeSchema,
    templates: PhrasingSet,
    vocab: Vocabulary,
    frames: dict[str, int],
    frame_of: np.ndarray,
    max_len: int,
    source: str,
) -> SentenceBank:
    """Render each distinct (frame, value) pair once; ``index`` points at them."""
    n_values = schema.n_values
    frame_list = list(frames)
    pieces = [tuple(vocab.encode(p) for p in f.split("{value}")) for f in frame_list]
    surfaces = [templates.surface(*schema.value_name(v)) for v in range(n_values)]
    value_ids = [vocab.encode(s) for s in surfaces]
    values = np.broadcast_to(np.arange(n_values)[:, None, None], frame_of.shape)
    keys, inverse = np.unique(frame_of * n_values + values, return_inverse=True)
    texts = np.empty(len(keys), dtype=object)
    tokens = np.zeros((len(keys), max_len), dtype=np.int32)
    lengths = np.zeros(len(keys), dtype=np.int32)
    for s, key in enumerate(keys.tolist()):
        f, v = divmod(key, n_values)
        before, after = frame_list[f].split("{value}")
        text = before + surfaces[v] + after
        texts[s] = text[:1].upper() + text[1:]
        ids = pieces[f][0] + value_ids[v] + pieces[f][1]
        if len(ids) > max_len:
            raise InputError(
                f"sentence {texts[s]!r} has {len(ids)} tokens, more than max_len={max_len}; "
                "raise max_len"
            )
        tokens[s, : len(ids)] = ids
        lengths[s] = len(ids)
    index = inverse.reshape(frame_of.shape).astype(np.int32)
    return SentenceBank(
        texts=texts, tokens=tokens, lengths=lengths, index=index, vocab=vocab, source=source
    )
