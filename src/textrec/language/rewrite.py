"""People's words in the agent's words: a reader's reading said again as a template sentence.

The learned agents read text with the paper's LSTM encoder, pretrained on the template and
paraphrase corpus: a person's own words ("trainers with velcro for my little boy") are mostly
``<unk>`` to it. A :class:`Rewriter` reads the sentence with a better reader (the lexicon reader
by default) and says its first wanted request again in the simulator's template speech ("I want
shoes with hook and loop."), which the encoder was trained on; a sentence the reader does not
understand is passed on as it was. The agent itself is unchanged: feed it ``Rewriter.texts(...)``
in a chat (the conversation's sentences, as ``chat``/``serve`` replay them to the agent's
policy), or simulate with
``Rewriter.bank(bank)``, whose token ids are those of the rewritten sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError
from textrec.language.bank import MODES, SentenceBank
from textrec.language.reader import Reading, load_reader
from textrec.language.templates import PhrasingSet, load_templates, render

__all__ = ["Rewriter"]


class Rewriter:
    """Say each sentence's first wanted request again in template speech.

    Args:
        schema: The catalog's attributes.
        reader: The reader (default: the lexicon reader of ``schema``).
        templates: The template file whose first phrasing per attribute and mode is used
            (default: the packaged ``templates.json``).
    """

    def __init__(
        self,
        schema: AttributeSchema,
        reader: Any = None,
        templates: PhrasingSet | None = None,
    ) -> None:
        self.reader = reader or load_reader(schema, "lexicon")
        if self.reader.schema != schema:
            raise InputError("Rewriter: the reader reads another schema")
        self.schema, self.templates = schema, templates or load_templates()

    def sentence(self, reading: Reading) -> str:
        """The template sentence of ``reading``'s first wanted request (its text if none)."""
        wanted = reading.wanted
        if not wanted:
            return reading.text
        q = wanted[0]
        attr = self.schema.attributes[self.schema.index(q.attribute)]
        frame = self.templates.phrasings(attr, MODES.index(q.mode))[0]
        return render(frame, attr, self.templates.surface(attr, q.value))

    def texts(self, texts: Sequence[str]) -> list[str]:
        """Each sentence rewritten."""
        if isinstance(texts, str):
            raise InputError("Rewriter.texts takes a list of sentences")
        return [self.sentence(r) for r in self.reader.read_batch(list(texts))]

    def bank(self, bank: SentenceBank) -> SentenceBank:
        """``bank`` with the token ids of its rewritten sentences (texts, index, source kept)."""
        if bank.index.shape[0] != self.schema.n_values:
            raise InputError("Rewriter.bank: the bank covers another schema")
        said = self.texts([str(t) for t in bank.texts])
        tokens, lengths = bank.vocab.encode_batch(said, bank.tokens.shape[1])
        return replace(bank, tokens=tokens, lengths=lengths)
