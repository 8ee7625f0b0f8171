"""How a recommender chooses in a batch of agent states: :class:`Acting` (which heads, greedy or
sampled, how retrieval weighs the heads) and :class:`Choosing`, the part of
:class:`~textrec.agent.recommender.Recommender` that turns states into an
:class:`~textrec.catalog.retrieval.Action`.

In state ``s`` the heads give per attribute ``k`` logits ``l_k`` (the policy heads', or
``Q_k(s, .)`` of the Q heads, masked as discrete BCQ's with ``threshold``) and distributions
``p_k = softmax(l_k)``. Sampling draws ``v_k ~ p_k``; greedy hands retrieval either the
distributions or ``argmax_v l_k(v)``, each head weighed by ``w_k`` (:data:`WEIGHTINGS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from textrec.agent.config import RecommenderConfig
from textrec.agent.policy import PolicyOutputs, QHeads, greedy_values, masked_q, sample_values
from textrec.catalog.catalog import Catalog, Pool
from textrec.catalog.retrieval import Action, Retriever
from textrec.errors import InputError

__all__ = ["GREEDY_MODES", "HEADS", "WEIGHTINGS", "Acting", "Choosing"]

GREEDY_MODES = ("probs", "values")
"""How the greedy policy hands its heads to retrieval: the distributions, or each head's argmax."""

HEADS = ("actor", "q")
"""Which heads a policy acts from: the policy heads, or the Q heads (``softmax(Q_k)``)."""

WEIGHTINGS = ("confidence", "uniform", "asked")
"""How greedy retrieval weighs the heads' terms: by each head's confidence (its largest
probability), all alike, or by the supervised asked head (the slot reader's rule)."""


@dataclass(frozen=True)
class Acting:
    """How a :class:`~textrec.agent.recommender.RecommenderPolicy` chooses: an argument of
    :meth:`~textrec.agent.recommender.Recommender.policy`."""

    sample: bool = False
    """Draw one value per head from its distribution (exploration) instead of acting greedily."""
    heads: str = "actor"
    """Distributions from the policy heads ('actor') or ``softmax(Q_k)`` of the Q heads ('q')."""
    greedy: str = "probs"
    """Greedy retrieval by the head distributions ('probs') or by each head's argmax ('values');
    both weigh head ``k`` as ``weights`` says."""
    threshold: float = 0.0
    """With 'q' heads: values whose policy-head probability is below ``threshold`` times the
    head's largest are never chosen (discrete BCQ's mask; 0: no mask)."""
    weights: str = "confidence"
    """Greedy retrieval's weight ``w_k`` of head ``k`` (see :data:`WEIGHTINGS`): 'confidence'
    ``w_k = max_v p_k(v)`` of the distribution acted from, 'uniform' ``w_k = 1``, 'asked' the
    supervised asked head (``RecommenderConfig.guess_weight``; the slot reader's row only)."""

    def __post_init__(self) -> None:
        if self.weights not in WEIGHTINGS:
            raise InputError(f"Acting.weights must be one of {WEIGHTINGS}, got {self.weights!r}")
        if self.heads not in HEADS:
            raise InputError(f"Acting.heads must be one of {HEADS}, got {self.heads!r}")
        if self.greedy not in GREEDY_MODES:
            raise InputError(f"Acting.greedy must be one of {GREEDY_MODES}, got {self.greedy!r}")
        if not 0.0 <= self.threshold < 1.0:
            raise InputError(f"Acting.threshold must be in [0, 1), got {self.threshold}")
        if self.threshold > 0 and self.heads != "q":
            raise InputError("Acting.threshold masks Q heads; it needs heads='q'")


class Choosing:
    """The acting part of a :class:`~textrec.agent.recommender.Recommender`: the choice in a
    batch of agent states, and the retrievers it is made over."""

    catalog: Catalog
    config: RecommenderConfig
    q: QHeads
    heads: Callable[[torch.Tensor], PolicyOutputs]
    _retrievers: dict[str, Retriever]

    def retriever(self, pool: Pool) -> Retriever:
        """The (cached) retriever over ``pool`` of this recommender's catalog."""
        if pool not in self._retrievers:
            self._retrievers[pool] = Retriever(self.catalog, pool)
        return self._retrievers[pool]

    @torch.no_grad()
    def acting_logits(self, states: torch.Tensor, acting: Acting) -> list[torch.Tensor]:
        """The logits ``acting`` chooses from in ``states``: policy logits or (masked) Q values."""
        out = self.heads(states)
        if acting.heads == "actor":
            return out.logits
        q = self.q(states)
        if acting.threshold <= 0:
            return q
        return [masked_q(qk, lg, acting.threshold) for qk, lg in zip(q, out.logits, strict=True)]

    @torch.no_grad()
    def act(self, states: torch.Tensor, acting: Acting, generator: torch.Generator) -> Action:
        """The choice in ``states (B, state_dim)`` as ``acting`` says (draws from ``generator``)."""
        logits = self.acting_logits(states, acting)
        probs = tuple(torch.softmax(lg, dim=-1).numpy() for lg in logits)
        if acting.sample:
            return Action(values=sample_values(logits, generator).numpy(), head_probs=probs)
        weights = self.head_weights(states, probs, acting.weights)
        if acting.greedy == "values":
            return Action(values=greedy_values(logits).numpy(), head_probs=probs, weights=weights)
        return Action(head_probs=probs, weights=weights)

    @torch.no_grad()
    def head_weights(
        self, states: torch.Tensor, probs: Sequence[np.ndarray], weighting: str
    ) -> np.ndarray | None:
        r"""Greedy retrieval's ``(B, K)`` head weights ``w_k`` (``None``: all 1), as ``weighting``
        (:data:`WEIGHTINGS`) says, from the distributions ``probs`` acted from in ``states``.

        'confidence': :math:`w_k = \max_v p_k(v)`, a head the policy is sure of outranks one
        it spreads (a quantity the learner's own loss shapes); 'uniform': ``None``; 'asked':
        :math:`a_k + (1 - a_k) g` with :math:`a_k` the asked head's probability and ``g`` the
        config's ``guess_weight`` (the supervised slot reader's rule).
        """
        if weighting == "uniform":
            return None
        if weighting == "confidence":
            return np.stack([p.max(axis=-1) for p in probs], axis=-1).astype(np.float32)
        asked = torch.sigmoid(self.heads(states).asked)
        return (asked + (1.0 - asked) * self.config.guess_weight).numpy()
