"""The text side of a recommender: sentence codes and what the sentences ask for.

:class:`Reading` is the part of :class:`~textrec.agent.recommender.Recommender` that encodes
sentences with the pretrained text encoder (``c = enc(tokens)``, frozen unless
``RecommenderConfig.finetune_text``) and recognises, with the encoder's frozen pretraining heads,
the value each sentence asks for (:class:`Recognised`), from which the latest request per attribute
follows (:meth:`Reading.heard_requests`, the request-tracking target and the slot features).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from textrec.agent.config import RecommenderConfig
from textrec.agent.tracker import Dialogues, latest_requests
from textrec.catalog.catalog import Catalog
from textrec.language.encoder import PretrainedTextEncoder, TextEncoder

__all__ = ["Recognised", "Reading"]


@dataclass(frozen=True)
class Recognised:
    """What ``U`` sentences ask for, as the pretrained text encoder reads them."""

    attribute: np.ndarray
    """``(U,) int64`` attribute index."""
    value: np.ndarray
    """``(U,) int64`` local value index within the attribute (every feedback sentence asks for
    a value, whether as a request, a repeat or through a negation: "not without X")."""


class Reading:
    """The text-reading part of a :class:`~textrec.agent.recommender.Recommender`."""

    catalog: Catalog
    config: RecommenderConfig
    language: PretrainedTextEncoder
    text: TextEncoder

    def encode_text(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Sentence codes ``(U, text_dim)`` of ``tokens (U, L)`` with ``lengths (U,)``."""
        if tokens.shape[0] == 0:
            return torch.zeros(0, self.text.out_dim)
        width = max(int(lengths.max()), 1)
        tokens = tokens[:, :width]
        if self.config.finetune_text:
            return self.text(tokens, lengths)
        with torch.no_grad():
            return self.text(tokens, lengths)

    @torch.no_grad()
    def recognise(self, codes: torch.Tensor) -> Recognised:
        """What each sentence code ``(U, text_dim)`` asks for, by the text encoder's heads.

        The value is the argmax of ``log p(attribute(v)) + log p(v)`` over the global value axis
        (as :func:`textrec.language.interpret`), its attribute the one it belongs to.
        """
        out = self.language.read(codes)
        value = out.value_log_probs(self.language.value_attribute).argmax(-1).numpy()
        schema = self.catalog.schema
        attribute = schema.value_attribute[value]
        return Recognised(attribute, value - schema.offsets[attribute])

    def heard_requests(
        self, dialogues: Dialogues, codes: torch.Tensor, heard: Recognised | None = None
    ) -> np.ndarray:
        """``(B, T + 1, K)`` latest value asked for per attribute before each state (``-1``: none).

        State ``t`` (see :meth:`~textrec.agent.unroll.Unrolling.unroll`) has heard the opening and
        the sentences after turns ``< t``; what they ask for is read by :meth:`recognise` (no
        simulator labels), or given as ``heard`` (``recognise(codes)`` kept by a caller whose
        codes do not change). The request-tracking target of every learner.
        """
        said = np.concatenate([dialogues.opening[:, None], dialogues.feedback], axis=1)
        if heard is None:
            heard = self.recognise(codes)
        return latest_requests(said, heard.attribute, heard.value, self.catalog.schema.n_attributes)

    def sentence_codes(self, dialogues: Dialogues) -> torch.Tensor:
        """Codes ``(U, text_dim)`` of the dialogues' sentence table."""
        return self.encode_text(
            torch.as_tensor(dialogues.tokens, dtype=torch.long),
            torch.as_tensor(dialogues.lengths, dtype=torch.long),
        )
