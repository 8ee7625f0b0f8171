"""The recommender's network sizes: :class:`RecommenderConfig` (how it acts is
:class:`~textrec.agent.acting.Acting`, chosen per policy)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from textrec.errors import InputError
from textrec.io import config_from_json

__all__ = ["PARAMETER_GROUPS", "READOUTS", "RecommenderConfig"]

PARAMETER_GROUPS = ("text", "items", "tracker", "actor", "q")
"""The recommender's parts, as :meth:`Recommender.parameter_groups` names them."""

READOUTS = ("tied", "linear")
"""Last layer of the policy and Q heads: scored against the text encoder's value codes, or plain
linear (see :class:`~textrec.agent.policy.ValueReadout`)."""


@dataclass(frozen=True)
class RecommenderConfig:
    """Sizes of the recommender's networks (how it acts is
    :class:`~textrec.agent.acting.Acting`, chosen per policy).

    State tracker input ``x_t = MLP([c_txt(x_t); c_img(a_t)])``; tracker state ``h_t`` =
    ``n_slots`` gated GRU slots; agent state ``s_t = [h_t; f_t]`` with ``f_t`` the slot features
    (:func:`~textrec.agent.tracker.slot_features`; absent when ``slot_features`` is off); policy
    ``pi_k(. | s_t) = softmax(W_k MLP(s_t))`` per attribute ``k`` (paper, "Recommender" and
    "Implementation Details": policy MLP 128, Q MLP 32).
    """

    item_hidden: int = 64
    """Hidden units of the item MLP (image features + attribute probabilities -> embedding)."""
    item_dim: int = 32
    """Size of the item embedding (as the text code: 32)."""
    fuse_hidden: int = 128
    """Units of the MLP that fuses the sentence and item embeddings each turn."""
    n_slots: int = 4
    """Memory slots of the state tracker."""
    slot_dim: int = 32
    """Size of each slot; the state has ``n_slots * slot_dim`` units."""
    policy_hidden: int = 128
    """Units of each of the policy MLP's two layers (paper: 128)."""
    q_hidden: int = 32
    """Units of each attribute's Q MLP (paper: 32)."""
    finetune_text: bool = False
    """Train the pretrained text encoder with the agent (False: frozen)."""
    readout: str = "tied"
    """Heads' last layer: 'tied' scores each value against the code the pretrained text encoder
    recognises it by (one query map per attribute, whatever its number of values); 'linear' has
    one learned output row per value."""
    guess_weight: float = 0.1
    """With ``Acting.weights='asked'``, greedy retrieval weighs head ``k``'s term by
    ``a_k + (1 - a_k) * guess_weight``, ``a_k`` the asked head's probability that the user asked
    for attribute ``k`` (the slot reader's rule). 1: all heads alike."""
    slot_features: bool = True
    """Append the slot features (what the frozen text reader heard asked for, per attribute: a
    one-hot of the latest value and an "asked yet" bit) to the tracker state that every head
    reads. Representation, not supervision. Checkpoints saved without the field load as False."""
    rewrite: bool = True
    """Say every sentence the agent hears again in template speech (the lexicon reader's
    :class:`~textrec.language.rewrite.Rewriter`) before its tokeniser, in simulated sessions,
    logs, served conversations and off-policy replays alike (:attr:`Recommender.front`); False:
    the sentence as said. The default since the full-budget built-in Table 2 with and without it
    (three seeds, docs/reproduce.md): heard as said, the learned rows lose 0.19–0.53 SR@20 when
    the users speak the held-out free phrasings; with the rewrite no row loses more than 0.009.
    Checkpoints saved without the field load as False (what they were trained with)."""

    @classmethod
    def from_saved(cls, obj: Any, source: str) -> RecommenderConfig:
        """The config as an older textrec wrote it (a saved agent's ``config``, a training
        checkpoint's ``recommender``), read as this version understands it: fields added since
        take the value the old run had (no slot features, no rewrite; ``greedy`` moved to
        :class:`~textrec.agent.acting.Acting`), the rest their defaults. :class:`InputError`
        naming ``source`` for anything else than such a JSON object."""
        if isinstance(obj, Mapping):
            obj = {k: v for k, v in obj.items() if k != "greedy"}  # now Acting's
            obj.setdefault("slot_features", False)  # saved before the slot features
            obj.setdefault("rewrite", False)  # saved before the rewrite
        return config_from_json(cls, obj, source)

    def __post_init__(self) -> None:
        for name in (
            "item_hidden",
            "item_dim",
            "fuse_hidden",
            "n_slots",
            "slot_dim",
            "policy_hidden",
            "q_hidden",
        ):
            if getattr(self, name) < 1:
                raise InputError(
                    f"RecommenderConfig.{name} must be >= 1, got {getattr(self, name)}"
                )
        if not 0.0 < self.guess_weight <= 1.0:
            raise InputError(
                f"RecommenderConfig.guess_weight must be in (0, 1], got {self.guess_weight}"
            )
        if self.readout not in READOUTS:
            raise InputError(
                f"RecommenderConfig.readout must be one of {READOUTS}, got {self.readout!r}"
            )
