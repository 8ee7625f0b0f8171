"""What the agent hears: each sentence as the token ids its text encoder reads.

A :class:`TextFront` is the one place where a learned agent turns text into token ids, whatever
brought the text: a simulated user's step, a logged session, a person's conversation served, a
logged decision replayed for off-policy evaluation. Without a rewriter it is the encoder's
vocabulary (``tokens = vocab.encode(text)``). With one (:class:`~textrec.language.rewrite.Rewriter`,
``RecommenderConfig.rewrite``) every sentence is first said again in template speech by the
lexicon reader ("hmm, what I'm really after is velcro" -> "I want hook and loop."), so the
encoder, pretrained on template speech, reads a person's own words as it reads a template:

    tokens(text) = vocab.encode(rewrite(text))   (rewrite = identity without a rewriter)

Each distinct sentence is rewritten and tokenised once (memoised by its text; new sentences are
read together, in one ``read_batch``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.language.rewrite import Rewriter
from textrec.language.tokenizer import Vocabulary, pad_ids

__all__ = ["MEMO_SENTENCES", "TextFront"]

MEMO_SENTENCES = 200_000
"""Sentences a :class:`TextFront` remembers; beyond, it starts a new memo (a server that runs
for weeks hears ever new sentences)."""


class TextFront:
    """Sentences -> token ids of the agent's vocabulary, rewritten first when ``rewriter`` is given.

    Args:
        vocab: The text encoder's vocabulary.
        rewriter: Says each sentence again in template speech before it is tokenised
            (``None``: the sentence as said).
    """

    def __init__(self, vocab: Vocabulary, rewriter: Rewriter | None = None) -> None:
        self.vocab, self.rewriter = vocab, rewriter
        self._memo: dict[str, list[int]] = {}

    @property
    def rewrites(self) -> bool:
        """Whether sentences are said again in template speech before they are tokenised."""
        return self.rewriter is not None

    def said(self, texts: Sequence[str]) -> list[str]:
        """Each sentence as the encoder reads it (rewritten, or as it is)."""
        texts = _sentences(texts)
        return self.rewriter.texts(texts) if self.rewriter is not None else texts

    def ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each sentence; each one not heard before is rewritten (all of them in
        one batch) and tokenised once."""
        texts = _sentences(texts)
        memo = self._memo
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        if new and len(memo) + len(new) > MEMO_SENTENCES:
            memo = self._memo = {}
            new = list(dict.fromkeys(texts))
        if new:
            memo.update(zip(new, (self.vocab.encode(s) for s in self.said(new)), strict=True))
        return [memo[t] for t in texts]

    def encode_batch(
        self, texts: Sequence[str], max_len: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(B, L) int32`` token ids, right-padded, and ``(B,) int32`` lengths; ``L`` is
        ``max_len`` (longer sentences cut) or, by default, the longest sentence's (at least 1)."""
        return pad_ids(self.ids(texts), max_len)

    def heard(
        self, texts: np.ndarray, tokens: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The token ids the agent reads of sentences handed over as ``texts (B,)`` with the
        ``tokens (B, L)`` and ``lengths (B,)`` of the speaker's vocabulary (a simulator step, a
        served conversation): those, or, when rewriting, the rewritten ``texts``' own."""
        if self.rewriter is None:
            return tokens, lengths
        return self.encode_batch([str(t) for t in texts])

    def bank(self, bank: SentenceBank) -> SentenceBank:
        """``bank`` as the agent hears it: the same texts and index, the token ids of
        :meth:`encode_batch` (``bank`` itself without a rewriter)."""
        if self.rewriter is None:
            return bank
        tokens, lengths = self.encode_batch([str(t) for t in bank.texts])
        return replace(bank, tokens=tokens, lengths=lengths, vocab=self.vocab)


def _sentences(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list of str; a single string is refused (it would read letter by letter)."""
    if isinstance(texts, str):
        raise InputError("TextFront takes a list of sentences, got one string")
    return [str(t) for t in texts]
