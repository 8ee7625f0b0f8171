"""The recommender agent: text encoder + item encoder + state tracker + policy and Q heads.

Paper, "Model Details": the textual encoder reads the user's sentence, the visual encoder the shown
item; their concatenation goes through an MLP into a multi-slot state tracker, and the policy gives
one categorical distribution per attribute. Retrieval
(:class:`~textrec.catalog.retrieval.Retriever`) turns the attribute-space choice into the best
unseen item.

A :class:`Recommender` is used three ways:

* over padded dialogues by learners (:meth:`Recommender.unroll`),
* turn by turn on a batch of sessions, as a simulator ``Policy``
  (:meth:`Recommender.policy`; how it acts -- greedy or sampling, from the actor or from the Q
  heads -- is an argument, :class:`Acting`): simulated sessions in evaluation and learning, and
  people's conversations in ``chat`` and ``serve`` (:class:`textrec.serve.session.PolicyPicker`
  replays them to it).

It is saved as one directory (:meth:`Recommender.save`): weights, config, vocabulary and the
fingerprint of the catalog it was trained on; loading it with another catalog is an error.

The class is put together from its jobs, one module each: the networks and their parameter groups
(here), reading text (:mod:`~textrec.agent.reading`), unrolling the tracker over dialogues
(:mod:`~textrec.agent.unroll`), choosing in agent states (:mod:`~textrec.agent.acting`) and the
saved directory (:mod:`~textrec.agent.saved`); its sizes are :mod:`~textrec.agent.config`'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from textrec.agent.acting import Acting, Choosing
from textrec.agent.config import PARAMETER_GROUPS, RecommenderConfig
from textrec.agent.policy import PolicyHeads, PolicyOutputs, QHeads, reset_parameters
from textrec.agent.saved import load_recommender, save_recommender
from textrec.agent.tracker import StateTracker
from textrec.agent.unroll import Unrolling
from textrec.agent.visual import ItemEncoder
from textrec.catalog.catalog import Catalog
from textrec.catalog.retrieval import Action, Retriever
from textrec.errors import InputError
from textrec.language.encoder import PretrainedTextEncoder, TextEncoder
from textrec.language.front import TextFront
from textrec.language.rewrite import Rewriter
from textrec.simulator.engine import StepResult
from textrec.simulator.policy import Memory

__all__ = ["Recommender", "RecommenderPolicy"]


class Recommender(Unrolling, Choosing, nn.Module):
    """The agent's networks over one catalog.

    Args:
        catalog: The items; their features and ``value_probs`` feed the item encoder.
        text: The pretrained text encoder of ``catalog``'s schema. Its :class:`TextEncoder` is used
            in place (trainable only when ``config.finetune_text``); its value head supplies the
            value codes of the tied readout.
        config: Sizes and acting mode.
        seed: Seed of the initial weights of every network but the text encoder.
    """

    def __init__(
        self,
        catalog: Catalog,
        text: PretrainedTextEncoder,
        config: RecommenderConfig | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.config = config or RecommenderConfig()
        cfg, schema = self.config, catalog.schema
        if text.schema.to_json() != schema.to_json():
            raise InputError(
                f"the text encoder was pretrained for attributes {list(text.schema.names)}, "
                f"catalog {catalog.name!r} has {list(schema.names)} (or other values)"
            )
        self.catalog, self.vocab = catalog, text.vocab
        self.front = TextFront(text.vocab, Rewriter(schema) if cfg.rewrite else None)
        """Turns every sentence the agent hears into token ids (:mod:`textrec.language.front`)."""
        # The encoder reads the sentences (trained only when fine-tuned); its pretraining heads,
        # frozen, say what a sentence asks for (:meth:`recognise`), the teacher of the learners'
        # request tracking.
        self.language = text.requires_grad_(False)
        self.language.encoder.requires_grad_(cfg.finetune_text)
        codes = text.value_head.weight.detach() if cfg.readout == "tied" else None
        self.items = ItemEncoder(catalog, cfg.item_hidden, cfg.item_dim)
        self.tracker = StateTracker(
            self.text.out_dim, cfg.item_dim, cfg.fuse_hidden, cfg.n_slots, cfg.slot_dim
        )
        self.actor = PolicyHeads(self.state_dim, cfg.policy_hidden, schema.sizes, codes)
        self.q = QHeads(self.state_dim, cfg.q_hidden, schema.sizes, codes)
        generator = torch.Generator().manual_seed(seed)
        for module in (self.items, self.tracker, self.actor, self.q):
            reset_parameters(module, generator)
        self._retrievers: dict[str, Retriever] = {}
        self.acting = Acting()
        """How :meth:`policy` acts unless told otherwise: as the learner that trained the
        recommender evaluates it (saved with it; a bcq agent acts from its masked Q heads)."""

    @property
    def text(self) -> TextEncoder:
        """The sentence encoder (embedding -> LSTM -> linear) of :attr:`language`."""
        return self.language.encoder

    @property
    def state_dim(self) -> int:
        """Size of the agent state every head reads: the tracker state, then (with
        ``config.slot_features``) ``sum_k V_k + K`` slot features."""
        schema = self.catalog.schema
        slots = schema.n_values + schema.n_attributes if self.config.slot_features else 0
        return self.tracker.state_dim + slots

    def heads(self, states: torch.Tensor) -> PolicyOutputs:
        """Policy value logits per attribute and asked logits in agent ``states``."""
        return self.actor(states)

    def head_logits(self, states: torch.Tensor) -> list[torch.Tensor]:
        """Policy logits per attribute, ``K`` tensors ``(..., V_k)``."""
        return self.actor(states).logits

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by part (:data:`PARAMETER_GROUPS`); 'text' is empty when frozen."""
        parts = {
            "text": self.text,
            "items": self.items,
            "tracker": self.tracker,
            "actor": self.actor,
            "q": self.q,
        }
        return {
            name: [p for p in part.parameters() if p.requires_grad] for name, part in parts.items()
        }

    def parameters_of(self, *groups: str) -> list[nn.Parameter]:
        """The trainable parameters of ``groups`` (names of :data:`PARAMETER_GROUPS`)."""
        unknown = [g for g in groups if g not in PARAMETER_GROUPS]
        if unknown:
            raise InputError(f"unknown parameter groups {unknown}; known: {PARAMETER_GROUPS}")
        table = self.parameter_groups()
        return [p for g in groups for p in table[g]]

    def policy(
        self,
        sample: bool = False,
        *,
        heads: str | None = None,
        greedy: str | None = None,
        threshold: float | None = None,
        weights: str | None = None,
    ) -> RecommenderPolicy:
        """This recommender as a simulator batch ``Policy`` acting as :class:`Acting` says; an
        option not given is :attr:`acting`'s."""
        given = {"heads": heads, "greedy": greedy, "threshold": threshold, "weights": weights}
        chosen = {k: v for k, v in given.items() if v is not None}
        return RecommenderPolicy(self, replace(self.acting, sample=sample, **chosen))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write weights, config, how it acts (:attr:`acting`), vocabulary and catalog
        fingerprint to directory ``path`` (:func:`~textrec.agent.saved.save_recommender`)."""
        return save_recommender(self, path)

    @classmethod
    def load(cls, path: str | Path, catalog: Catalog) -> Recommender:
        """Load a recommender saved by :meth:`save` for ``catalog`` (the one it was trained on)."""
        return load_recommender(cls, path, catalog)


class RecommenderPolicy:
    """A :class:`Recommender` playing a batch of simulated sessions (a
    :class:`~textrec.simulator.policy.Policy`).

    Each :meth:`act` feeds the previous turn (shown item and the user's sentence) into the tracker
    of every session that took it, then chooses for all sessions as ``acting`` says: greedily, or
    (``Acting.sample``) one value per head drawn from the heads (``Action.values``; the
    exploration of on-policy learning). Rows with ``turn == 0`` start afresh (hearing an
    opening sentence, if given, with no item, as :meth:`Recommender.unroll` does).

    With ``RecommenderConfig.slot_features`` each session also keeps the latest value asked for
    per attribute, read by :meth:`Recommender.recognise` from the sentences of the rows that
    stepped, so the heads read the same agent state :meth:`Recommender.unroll` gives the same
    dialogue.

    Sentence codes are memoised by the step's sentence id until the next :meth:`reset` (the weights
    do not change within a batch of sessions), so each distinct sentence is encoded once.
    The sentences are heard through :attr:`Recommender.front` (rewritten from the step's texts
    with ``RecommenderConfig.rewrite``, else the step's token ids).
    """

    def __init__(self, recommender: Recommender, acting: Acting | None = None) -> None:
        self.recommender = recommender
        self.acting = acting or Acting()
        self._state = recommender.tracker.initial_state(0)
        self._heard = self._no_requests(0)
        self._generator = torch.Generator()

    @property
    def front(self) -> TextFront:
        """How this policy hears the users' sentences (its recommender's
        :attr:`~Recommender.front`): what a batch of its sessions must record for the learner to
        read what it read."""
        return self.recommender.front
        self._forget_codes()

    def _no_requests(self, n_sessions: int) -> np.ndarray:
        """``(n_sessions, K)`` latest requests of sessions that have heard nothing (``-1``)."""
        return np.full((n_sessions, self.recommender.catalog.schema.n_attributes), -1, np.int64)

    def _forget_codes(self) -> None:
        self._code_row = np.full(0, -1, dtype=np.int64)  # sentence id -> row of _codes, -1 unknown
        self._codes = torch.zeros(0, self.recommender.text.out_dim)

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Forget all sessions; sampling draws from a generator seeded by ``rng``."""
        self._state = self.recommender.tracker.initial_state(n_sessions).detach().clone()
        self._heard = self._no_requests(n_sessions)
        self._generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        self._forget_codes()

    def memory(self) -> Memory:
        """``((B, D) tracker states, (B, K) latest requests)`` of the sessions now
        (:class:`~textrec.simulator.policy.Resumable`)."""
        return (self._state.detach().numpy().copy(), self._heard.copy())

    def resume(self, memory: Memory, rng: np.random.Generator) -> None:
        """Go on with the sessions of ``memory``; the sentence codes memoised so far are kept
        (the recommender's weights must not have changed since)."""
        state, heard = memory
        rec = self.recommender
        want = (rec.tracker.state_dim, rec.catalog.schema.n_attributes)
        if state.ndim != 2 or heard.shape != (len(state), want[1]) or state.shape[1] != want[0]:
            raise InputError(
                f"RecommenderPolicy.resume: memory must be (B, {want[0]}) states and (B, "
                f"{want[1]}) requests, got {state.shape} and {heard.shape}"
            )
        self._state = torch.as_tensor(state, dtype=torch.float32).clone()
        self._heard = heard.astype(np.int64, copy=True)
        self._generator = torch.Generator().manual_seed(int(rng.integers(2**62)))

    def _sentence_codes(self, result: StepResult, rows: np.ndarray) -> torch.Tensor:
        """Codes ``(len(rows), text_dim)`` of the sentences of ``rows``; encodes only new ones."""
        ids = result.sentence[rows]
        heard = self.recommender.front.heard  # the step's tokens, or its texts' rewritten
        if (ids < 0).any():  # text without a sentence id: encode as given
            tokens, lengths = heard(result.texts[rows], result.tokens[rows], result.lengths[rows])
            return self.recommender.encode_text(
                torch.as_tensor(tokens, dtype=torch.long),
                torch.as_tensor(lengths, dtype=torch.long),
            )
        if ids.max() >= len(self._code_row):
            grown = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
            grown[: len(self._code_row)] = self._code_row
            self._code_row = grown
        uniq, first = np.unique(ids, return_index=True)
        new = self._code_row[uniq] < 0
        if new.any():
            src = rows[first[new]]
            tokens, lengths = heard(result.texts[src], result.tokens[src], result.lengths[src])
            codes = self.recommender.encode_text(
                torch.as_tensor(tokens, dtype=torch.long),
                torch.as_tensor(lengths, dtype=torch.long),
            )
            self._code_row[uniq[new]] = np.arange(len(self._codes), len(self._codes) + len(src))
            self._codes = torch.cat([self._codes, codes])
        return self._codes[torch.as_tensor(self._code_row[ids])]

    @torch.no_grad()
    def act(self, result: StepResult) -> Action:
        """Update the sessions that took the last step, then choose for every session."""
        rec = self.recommender
        if len(self._state) != result.n_sessions:
            raise InputError(
                f"RecommenderPolicy was reset for {len(self._state)} sessions, "
                f"got a step of {result.n_sessions}"
            )
        fresh = result.turn == 0
        self._state[torch.as_tensor(fresh)] = rec.tracker.initial_state(int(fresh.sum()))
        self._heard[fresh] = -1
        # A turn-0 sentence is an opening (a person's, served): heard with no item (as unroll).
        opening = fresh & (result.lengths > 0)
        rows = np.flatnonzero((result.stepped | opening) & result.active)
        if rows.size:
            items = rec.items(torch.as_tensor(result.items[rows], dtype=torch.long))
            said = result.lengths[rows] > 0
            # No sentence after an item reads as the zero code, as in :meth:`Recommender.unroll`.
            codes = self._sentence_codes(result, rows) * torch.as_tensor(said).unsqueeze(1)
            self._state[rows] = rec.tracker.step(self._state[rows], codes, items)
            if rec.config.slot_features:
                heard = rec.recognise(codes[torch.as_tensor(said)])
                self._heard[rows[said], heard.attribute] = heard.value
        states = rec.agent_states(self._state, self._heard)
        return rec.act(states, self.acting, self._generator)
