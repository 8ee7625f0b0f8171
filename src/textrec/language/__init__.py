"""Language: tokenizer, phrasings, lexicon, sentence bank, utterance model, text encoder, readers.

The tokenizer, phrasings and bank import without PyTorch; the other parts (the lexicon reader, the
utterance model, the text encoder, the learned interpreters) are loaded on first use of their
names, so the simulator stays light. Read people's own words with :func:`read` /
:func:`load_reader` (``Request`` and ``Reading`` records).
"""

from __future__ import annotations

import importlib
from typing import Any

from textrec.language.bank import MODES, NEGATE, REPEAT, REQUEST, SentenceBank
from textrec.language.speech import SOURCES, build_sentence_bank
from textrec.language.templates import (
    VALUE_SLOT,
    PhrasingSet,
    load_paraphrases,
    load_templates,
    render,
    shared_vocabulary,
)
from textrec.language.tokenizer import Vocabulary, tokenize

_LAZY = {
    "Corpus": "textrec.language.corpus",
    "build_corpus": "textrec.language.corpus",
    "UtteranceConfig": "textrec.language.utterance",
    "UtteranceModel": "textrec.language.utterance",
    "train_utterance_model": "textrec.language.utterance",
    "load_or_train": "textrec.language.utterance",
    "TextEncoder": "textrec.language.encoder",
    "EncoderConfig": "textrec.language.encoder",
    "PretrainedTextEncoder": "textrec.language.encoder",
    "pretrain_encoder": "textrec.language.encoder",
    "load_or_pretrain": "textrec.language.encoder",
    "Interpretation": "textrec.language.interpret",
    "interpret": "textrec.language.interpret",
    "interpret_batch": "textrec.language.interpret",
    "load_interpreter": "textrec.language.interpret",
    "Rewriter": "textrec.language.rewrite",
    "Request": "textrec.language.reader",
    "Reading": "textrec.language.reader",
    "Reader": "textrec.language.reader",
    "LexiconReader": "textrec.language.reader",
    "READERS": "textrec.language.reader",
    "load_reader": "textrec.language.reader",
    "read": "textrec.language.reader",
    "read_batch": "textrec.language.reader",
}

__all__ = [
    "MODES",
    "REQUEST",
    "REPEAT",
    "NEGATE",
    "SOURCES",
    "VALUE_SLOT",
    "SentenceBank",
    "PhrasingSet",
    "Vocabulary",
    "tokenize",
    "render",
    "load_templates",
    "load_paraphrases",
    "shared_vocabulary",
    "build_sentence_bank",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'textrec.language' has no attribute {name!r}")
