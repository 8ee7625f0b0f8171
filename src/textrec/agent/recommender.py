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
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from textrec import __version__
from textrec.agent.policy import (
    PolicyHeads,
    PolicyOutputs,
    QHeads,
    greedy_values,
    masked_q,
    reset_parameters,
    sample_values,
)
from textrec.agent.tracker import Dialogues, StateTracker, latest_requests, slot_features
from textrec.agent.visual import ItemEncoder
from textrec.catalog.catalog import Catalog, Pool
from textrec.catalog.retrieval import Action, Retriever
from textrec.checkpoint import read_checkpoint, write_checkpoint
from textrec.errors import InputError
from textrec.io import atomic_dir, config_from_json, read_json
from textrec.language.encoder import EncoderConfig, PretrainedTextEncoder, TextEncoder
from textrec.language.front import TextFront
from textrec.language.rewrite import Rewriter
from textrec.language.tokenizer import Vocabulary
from textrec.simulator.engine import StepResult

__all__ = [
    "GREEDY_MODES",
    "HEADS",
    "PARAMETER_GROUPS",
    "READOUTS",
    "WEIGHTINGS",
    "Acting",
    "Recognised",
    "TurnStates",
    "RecommenderConfig",
    "Recommender",
    "RecommenderPolicy",
]

GREEDY_MODES = ("probs", "values")
"""How the greedy policy hands its heads to retrieval: the distributions, or each head's argmax."""

HEADS = ("actor", "q")
"""Which heads a policy acts from: the policy heads, or the Q heads (``softmax(Q_k)``)."""

PARAMETER_GROUPS = ("text", "items", "tracker", "actor", "q")
"""The recommender's parts, as :meth:`Recommender.parameter_groups` names them."""

READOUTS = ("tied", "linear")
"""Last layer of the policy and Q heads: scored against the text encoder's value codes, or plain
linear (see :class:`~textrec.agent.policy.ValueReadout`)."""

WEIGHTINGS = ("confidence", "uniform", "asked")
"""How greedy retrieval weighs the heads' terms: by each head's confidence (its largest
probability), all alike, or by the supervised asked head (the slot reader's rule)."""

_FORMAT = "textrec.Recommender"
_CONFIG_FILE = "recommender.json"
_WEIGHTS_FILE = "weights.pt"


@dataclass(frozen=True)
class RecommenderConfig:
    """Sizes of the recommender's networks (how it acts is :class:`Acting`, chosen per policy).

    State tracker input ``x_t = MLP([c_txt(x_t); c_img(a_t)])``; tracker state ``h_t`` =
    ``n_slots`` gated GRU slots; agent state ``s_t = [h_t; f_t]`` with ``f_t`` the slot features
    (:func:`slot_features`; absent when ``slot_features`` is off); policy
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
    rewrite: bool = False
    """Say every sentence the agent hears again in template speech (the lexicon reader's
    :class:`~textrec.language.rewrite.Rewriter`) before its tokeniser, in simulated sessions,
    logs, served conversations and off-policy replays alike (:attr:`Recommender.front`); False:
    the sentence as said. Checkpoints saved without the field load as False."""

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


@dataclass(frozen=True)
class Acting:
    """How a :class:`RecommenderPolicy` chooses: an argument of :meth:`Recommender.policy`."""

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


@dataclass(frozen=True, eq=False)
class TurnStates:
    """Tracker states of a batch of dialogues at their ``N`` real turns (no padding).

    Turn ``i`` (in ``np.nonzero(dialogues.mask)`` order: dialogue by dialogue, turns ascending)
    chose its item in state ``states[before[i]]`` and led to ``states[after[i]]``. The first
    ``B`` rows of ``states`` are each dialogue's state before its first turn; every state is
    stored once, so a head run over ``states`` serves both ``s_t`` and ``s_{t+1}``.
    """

    states: torch.Tensor
    """``(B + N, state_dim)``."""
    before: torch.Tensor
    """``(N,) int64`` row of ``s_t``."""
    after: torch.Tensor
    """``(N,) int64`` row of ``s_{t+1}``."""
    rows: np.ndarray
    """``(N,) int64`` dialogue of each turn."""
    turns: np.ndarray
    """``(N,) int64`` turn index within its dialogue."""


@dataclass(frozen=True)
class Recognised:
    """What ``U`` sentences ask for, as the pretrained text encoder reads them."""

    attribute: np.ndarray
    """``(U,) int64`` attribute index."""
    value: np.ndarray
    """``(U,) int64`` local value index within the attribute (every feedback sentence asks for
    a value, whether as a request, a repeat or through a negation: "not without X")."""


class Recommender(nn.Module):
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

    def agent_states(self, tracked: torch.Tensor, requests: np.ndarray | None) -> torch.Tensor:
        """The agent states ``s = [h; f]`` ``(..., state_dim)`` of tracker states ``h (..., D)``
        whose latest requests are ``requests (..., K)`` (:func:`slot_features`; ``None`` and
        ignored without ``config.slot_features``)."""
        if not self.config.slot_features:
            return tracked
        if requests is None:
            raise InputError("agent_states: slot features need the latest requests")
        features = slot_features(requests, tuple(self.catalog.schema.sizes))
        return torch.cat([tracked, features.to(tracked.dtype)], dim=-1)

    def _requests(
        self, d: Dialogues, codes: torch.Tensor, requests: np.ndarray | None
    ) -> np.ndarray | None:
        """``requests`` if given, else :meth:`heard_requests` when the slot features need them."""
        if requests is not None or not self.config.slot_features:
            return requests
        return self.heard_requests(d, codes.detach())

    # ------------------------------------------------------------------ encoders and tracker
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

        State ``t`` (see :meth:`unroll`) has heard the opening and the sentences after turns
        ``< t``; what they ask for is read by :meth:`recognise` (no simulator labels), or given
        as ``heard`` (``recognise(codes)`` kept by a caller whose codes do not change). The
        request-tracking target of every learner.
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

    def _opened(
        self, d: Dialogues, codes: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Sentence codes with a zero row appended (index -1: no sentence) and the state of each
        dialogue before its first item (after its opening utterance, if any)."""
        if codes is None:
            codes = self.sentence_codes(d)
        codes = torch.cat([codes, torch.zeros(1, self.text.out_dim)])
        b = d.items.shape[0]
        state = self.tracker.initial_state(b)
        opening = torch.as_tensor(d.opening, dtype=torch.long)
        if bool((opening >= 0).any()):
            no_item = self.items(torch.full((b,), -1, dtype=torch.long))
            opened = self.tracker.step(state, codes[opening], no_item)
            state = torch.where((opening >= 0).unsqueeze(1), opened, state)
        return codes, state

    def unroll(
        self,
        dialogues: Dialogues,
        codes: torch.Tensor | None = None,
        requests: np.ndarray | None = None,
    ) -> torch.Tensor:
        """Agent states ``(B, T + 1, state_dim)`` of padded dialogues (:meth:`agent_states`).

        Entry ``t`` is the state in which the item of turn ``t`` is chosen (it has seen turns
        ``< t`` only); entry ``T`` follows the last turn.

        ``codes`` are the :meth:`sentence_codes` of ``dialogues`` and ``requests`` their
        :meth:`heard_requests` when the caller already has them (a frozen text encoder gives the
        same codes for every minibatch of a batch).
        """
        d = dialogues
        if codes is None:
            codes = self.sentence_codes(d)
        requests = self._requests(d, codes, requests)
        codes, state = self._opened(d, codes)
        text = codes[torch.as_tensor(d.feedback, dtype=torch.long)]
        items = self.items(torch.as_tensor(d.items, dtype=torch.long))
        return self.agent_states(self.tracker.unroll(text, items, state), requests)

    def unroll_turns(
        self,
        dialogues: Dialogues,
        codes: torch.Tensor | None = None,
        requests: np.ndarray | None = None,
    ) -> TurnStates:
        """The states of padded dialogues at their real turns only (see :class:`TurnStates`).

        The same states as :meth:`unroll` (up to float rounding), computed over the ``N`` real
        turns instead of ``B * T`` padded ones; ``codes`` and ``requests`` as there.
        """
        d = dialogues
        if codes is None:
            codes = self.sentence_codes(d)
        requests = self._requests(d, codes, requests)
        codes, initial = self._opened(d, codes)
        b = d.items.shape[0]
        rows, turn = np.nonzero(d.mask)
        after = self.tracker.unroll_packed(
            codes[torch.as_tensor(d.feedback[rows, turn], dtype=torch.long)],
            self.items(torch.as_tensor(d.items[rows, turn], dtype=torch.long)),
            initial,
            turn,
            d.n_turns,
        )
        n = len(rows)
        before = np.where(turn == 0, rows, b + np.arange(n) - 1)
        heard = (
            None if requests is None else np.concatenate([requests[:, 0], requests[rows, turn + 1]])
        )
        return TurnStates(
            states=self.agent_states(torch.cat([initial, after]), heard),
            before=torch.as_tensor(before, dtype=torch.long),
            after=torch.arange(b, b + n),
            rows=rows,
            turns=turn,
        )

    def heads(self, states: torch.Tensor) -> PolicyOutputs:
        """Policy value logits per attribute and asked logits in agent ``states``."""
        return self.actor(states)

    def head_logits(self, states: torch.Tensor) -> list[torch.Tensor]:
        """Policy logits per attribute, ``K`` tensors ``(..., V_k)``."""
        return self.actor(states).logits

    # ------------------------------------------------------------------ acting
    def retriever(self, pool: Pool) -> Retriever:
        """The (cached) retriever over ``pool`` of this recommender's catalog."""
        if pool not in self._retrievers:
            self._retrievers[pool] = Retriever(self.catalog, pool)
        return self._retrievers[pool]

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
        fingerprint to directory ``path``."""
        meta = {
            "format": _FORMAT,
            "version": __version__,
            "config": asdict(self.config),
            "acting": asdict(replace(self.acting, sample=False)),
            "text_encoder": asdict(self.language.config),
            "catalog": {
                "name": self.catalog.name,
                "fingerprint": self.catalog.fingerprint,
                "n_items": self.catalog.n_items,
            },
            "vocab": self.vocab.to_json(),
        }
        with atomic_dir(path, "agent") as tmp:
            write_checkpoint(tmp / _WEIGHTS_FILE, _FORMAT, state_dict=self.state_dict())
            (tmp / _CONFIG_FILE).write_text(
                json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, catalog: Catalog) -> Recommender:
        """Load a recommender saved by :meth:`save` for ``catalog`` (the one it was trained on)."""
        root = Path(path)
        meta_path = root / _CONFIG_FILE
        meta = read_json(meta_path)
        if not isinstance(meta, dict):
            raise InputError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
        if meta.get("format") != _FORMAT:
            raise InputError(
                f"{meta_path}: not a saved textrec recommender (format {meta.get('format')!r})"
            )
        missing = [k for k in ("catalog", "config", "text_encoder", "vocab") if k not in meta]
        if missing:
            raise InputError(f"{meta_path}: missing fields {missing}")
        if meta.get("version") != __version__:
            warnings.warn(
                f"{root}: saved by textrec {meta.get('version')}, this is {__version__}",
                stacklevel=2,
            )
        saved = meta["catalog"]
        if not isinstance(saved, dict) or saved.get("fingerprint") != catalog.fingerprint:
            raise InputError(
                f"{root}: trained on catalog {_get(saved, 'name')!r} "
                f"(fingerprint {_get(saved, 'fingerprint')}, "
                f"{_get(saved, 'n_items')} items), cannot load it for catalog {catalog.name!r} "
                f"(fingerprint {catalog.fingerprint}, {catalog.n_items} items)"
            )
        config = meta["config"]
        if isinstance(config, dict):
            config = {k: v for k, v in config.items() if k != "greedy"}  # now Acting's
            # Saved before the slot features: a state of the tracker alone.
            config.setdefault("slot_features", False)
        config = config_from_json(RecommenderConfig, config, f"{meta_path}: field 'config'")
        encoder = config_from_json(
            EncoderConfig, meta["text_encoder"], f"{meta_path}: field 'text_encoder'"
        )
        acting_json = meta.get("acting", {})
        if isinstance(acting_json, dict):
            # Saved before Acting.weights: trained with the asked head, weighed by it.
            acting_json = {"weights": "asked", **acting_json}
        acting = config_from_json(Acting, acting_json, f"{meta_path}: field 'acting'")
        weights_path = root / _WEIGHTS_FILE
        weights = read_checkpoint(weights_path, _FORMAT, ("state_dict",))
        _check_finite(weights["state_dict"], f"{weights_path}: agent {root}")
        try:
            vocab = Vocabulary.from_json(meta["vocab"])
            model = cls(catalog, PretrainedTextEncoder(encoder, catalog.schema, vocab), config)
            model.load_state_dict(weights["state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputError(f"{root}: inconsistent recommender checkpoint: {exc}") from exc
        model.acting = acting  # saved before it was: the default
        return model.eval()


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` of a JSON object, ``None`` for anything else (error messages only)."""
    return obj.get(key) if isinstance(obj, dict) else None


def _check_finite(state: dict[str, Any], source: str) -> None:
    """InputError naming ``source`` and the tensors when a weight is NaN or infinite."""
    bad = [
        k
        for k, v in state.items()
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise InputError(f"{source}: non-finite weights (NaN or inf) in {bad[:3]}{more}")


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
