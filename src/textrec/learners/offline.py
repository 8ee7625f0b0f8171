"""What every offline learner shares: its base config, one forward pass over logged dialogues, the
optional request-tracking auxiliary loss, the optimiser step and the checkpointed state.

An offline learner (``bc``, ``cql``/``offpolicy``, ``bcq``, ``iql``) subclasses
:class:`OfflineLearner` and supplies only its loss (:meth:`OfflineLearner.loss`), the parameter
groups it trains, any extra networks (target heads, a value head), what to do after each step
(target averaging) and how its policy acts. Per update:

1. the recommender's tracker runs once over the batch's real turns (a packed sequence, no
   padding; :meth:`Recommender.unroll_turns`), the agent states append the slot features of what
   the frozen reader heard (``RecommenderConfig.slot_features``), and each head network runs
   once over all the states (a loss takes ``s_t`` and ``s_{t+1}`` out of the same pass; the
   policy heads with gradient only where a turn was chosen, :func:`acting_heads`);
2. the learner's loss is minimised by one Adam step with gradient-norm clipping. The learner's
   loss alone decides the policy: the request-tracking loss
   (:func:`~textrec.learners.functional.request_tracking_loss`), which trains the policy heads to
   name the latest requested value, is added only when ``track_coef > 0`` (default 0; the
   ``reader`` learner is that loss alone, the "Supervised slot reader (no RL)" row).
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from textrec.agent.policy import PolicyOutputs
from textrec.agent.reading import Recognised
from textrec.agent.recommender import Recommender, RecommenderPolicy
from textrec.agent.tracker import Dialogues
from textrec.errors import InputError
from textrec.learners.batches import DialogueBatch
from textrec.learners.configs import OfflineConfig, QConfig
from textrec.learners.functional import (
    discounted_returns,
    masked_mean,
    polyak_update,
    request_tracking_loss,
)
from textrec.learners.state import learner_state, load_learner_state
from textrec.learners.step import adam, gradient_step

__all__ = [
    "OfflineLearner",
    "QLearner",
    "Forward",
    "acting_heads",
    "tracking_loss",
]


@dataclass(frozen=True, eq=False)
class Forward:
    """One forward pass over a batch, flat over its ``N`` real turns: everything a loss reads.

    ``states`` holds every tracker state of the batch once (``B`` initial states, then the state
    after each turn; :class:`~textrec.agent.unroll.TurnStates`); a head network run once
    over ``states`` serves ``s_t`` (rows ``before``) and ``s_{t+1}`` (rows ``after``).
    """

    states: torch.Tensor
    """``(B + N, D)`` tracker states."""
    before: torch.Tensor
    """``(N,) int64`` row of ``states`` that chose turn ``i``'s item (``s_t``)."""
    after: torch.Tensor
    """``(N,) int64`` row of the state turn ``i`` led to (``s_{t+1}``)."""
    heads: PolicyOutputs
    """Policy logits and asked logits in every row of ``states``."""
    actions: torch.Tensor
    """``(N, K) int64`` logged action (``-1``: head without a value)."""
    rewards: torch.Tensor
    """``(N,)``."""
    dones: torch.Tensor
    """``(N,) bool`` the dialogue ended at this turn (no bootstrap past it)."""
    success: torch.Tensor
    """``(N,) bool`` the turn belongs to a dialogue that found its target."""
    mask: torch.Tensor
    """``(N,) bool``, all true (the masked functions of :mod:`textrec.learners.functional` read
    it; padding never reaches a loss)."""
    requests: torch.Tensor | None = None
    """``(N, K) int64`` latest value asked for per attribute in ``s_t``, as the frozen reader
    heard it (``-1``: none yet): the request-tracking target (``None`` in hand-built passes of
    learners that do not read it)."""

    @property
    def logits(self) -> list[torch.Tensor]:
        """Policy logits ``(N, V_k)`` in ``s_t`` (the states that chose the logged actions)."""
        return [lg[self.before] for lg in self.heads.logits]

    @property
    def next_logits(self) -> list[torch.Tensor]:
        """Policy logits ``(N, V_k)`` in ``s_{t+1}``, detached (the bootstrap's policy)."""
        return [lg[self.after].detach() for lg in self.heads.logits]


def tracking_loss(fwd: Forward) -> torch.Tensor:
    """The request-tracking loss of a pass: its policy heads in ``s_t`` on the requests heard."""
    if fwd.requests is None:
        raise InputError("request tracking needs a pass with its requests (Forward.requests)")
    return request_tracking_loss(fwd.logits, fwd.heads.asked[fwd.before], fwd.requests, fwd.mask)


def acting_heads(
    recommender: Recommender, states: torch.Tensor, before: torch.Tensor
) -> PolicyOutputs:
    """The policy heads in every row of ``states``, with gradient only in the rows that chose a
    logged turn (``before``).

    The other rows, each dialogue's state after its last turn, serve only the bootstrap's policy
    (:attr:`Forward.next_logits`, detached): run with gradient they would add a backward pass over
    ``B`` rows whose gradient is zero. Same values and gradients as one pass over every row.
    """
    chose = torch.zeros(len(states), dtype=torch.bool)
    chose[before] = True
    live = recommender.heads(states[chose])
    with torch.no_grad():
        last = recommender.heads(states[~chose])

    def merge(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = a.new_empty((len(states), *a.shape[1:]))
        out[chose] = a
        out[~chose] = b
        return out

    logits = [merge(a, b) for a, b in zip(live.logits, last.logits, strict=True)]
    return PolicyOutputs(logits=logits, asked=merge(live.asked, last.asked))


class OfflineLearner(ABC):
    """Base of the offline learners of a :class:`Recommender` on :class:`DialogueBatch` of logs.

    Subclasses set :attr:`name` and :attr:`groups` and implement :meth:`loss`; they may add
    networks in :meth:`extra_modules`, act after each step in :meth:`after_step` and choose how
    their policy acts in :meth:`acting`.

    Args:
        recommender: The agent to train (its weights change in place).
        config: Hyperparameters (an :class:`OfflineConfig` subclass).
        seed: Seed of the extra networks' initialisation.
    """

    name: ClassVar[str]
    groups: ClassVar[tuple[str, ...]] = ("text", "items", "tracker", "actor")
    """Parameter groups of the recommender this learner trains (see
    :meth:`Recommender.parameter_groups`)."""

    def __init__(self, recommender: Recommender, config: OfflineConfig, seed: int = 0) -> None:
        self.config = config
        self.recommender = recommender
        self.generator = torch.Generator().manual_seed(seed)
        self.extra = nn.ModuleDict(self.extra_modules())
        self.trained = recommender.parameters_of(*self.groups) + [
            p for p in self.extra.parameters() if p.requires_grad
        ]
        self.optimiser = adam(self.trained, config)
        self.n_updates = 0
        self._table: np.ndarray | None = None
        self._table_codes: tuple[torch.Tensor, Recognised | None] = (torch.zeros(0), None)

    # ------------------------------------------------------------------ for subclasses
    def extra_modules(self) -> dict[str, nn.Module]:
        """Networks of the learner beside the recommender (target heads, value heads)."""
        return {}

    @abstractmethod
    def loss(self, fwd: Forward) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The learner's loss on one forward pass and its named parts (``loss/...``)."""

    def acting(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`Recommender.policy` for the evaluated (greedy) policy;
        default: the policy heads, retrieval by their distributions."""
        return {}

    def after_step(self) -> None:  # noqa: B027 -- an optional hook, not an abstract method
        """Called after each optimiser step (e.g. target-network averaging); default: nothing."""

    # ------------------------------------------------------------------ Learner protocol
    def policy(self) -> RecommenderPolicy:
        """The greedy policy of the current recommender, acting as :meth:`acting` says."""
        return self.recommender.policy(**self.acting())

    def _codes(self, d: Dialogues) -> tuple[torch.Tensor, Recognised | None]:
        """Sentence codes of ``d``'s table and, with a frozen encoder, what they ask for (read
        once per table: a :class:`~textrec.learners.batches.LogDialogues` source hands out one
        table for the whole run, so neither is computed again)."""
        rec = self.recommender
        if rec.config.finetune_text:
            return rec.sentence_codes(d), None
        if self._table is not d.tokens:
            codes = rec.sentence_codes(d)
            self._table, self._table_codes = d.tokens, (codes, rec.recognise(codes))
        return self._table_codes

    def forward(self, batch: DialogueBatch) -> Forward:
        """One pass of the tracker and the policy heads over ``batch``'s real turns."""
        rec = self.recommender
        d = batch.dialogues.compact() if rec.config.finetune_text else batch.dialogues
        codes, heard = self._codes(d)
        requests = rec.heard_requests(d, codes.detach(), heard)
        turns = rec.unroll_turns(d, codes, requests)
        rows, t = turns.rows, turns.turns
        success = batch.terminated.any(axis=1)[rows]
        fwd = Forward(
            states=turns.states,
            before=turns.before,
            after=turns.after,
            heads=acting_heads(rec, turns.states, turns.before),
            actions=torch.as_tensor(batch.actions[rows, t]),
            rewards=torch.as_tensor(batch.rewards[rows, t]),
            dones=torch.as_tensor(batch.dones[rows, t]),
            success=torch.as_tensor(success),
            mask=torch.ones(len(rows), dtype=torch.bool),
            requests=torch.as_tensor(requests[rows, t]),
        )
        return fwd

    def update(self, batch: DialogueBatch) -> dict[str, float]:
        """One gradient step of the learner's loss (plus ``track_coef`` times request tracking,
        when positive) on ``batch``."""
        cfg = self.config
        fwd = self.forward(batch)
        loss, parts = self.loss(fwd)
        if cfg.track_coef > 0:
            track = tracking_loss(fwd)
            loss = loss + cfg.track_coef * track
            parts = {**parts, "loss/track": track}
        gradient_step(self.optimiser, loss, self.trained, cfg)
        self.after_step()
        self.n_updates += 1
        metrics = {k: float(v.detach()) for k, v in parts.items()}
        metrics["data/success"] = float(batch.terminated.any(axis=1).mean())
        metrics["data/turns"] = float(batch.dialogues.n_turns.mean())
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Recommender (and its config), extra networks, optimiser, generator, update count."""
        return learner_state(
            self.recommender, self.extra, self.optimiser, self.generator, self.n_updates
        )

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (of a learner whose recommender has the same config)."""
        self.n_updates = load_learner_state(
            state, self.recommender, self.extra, self.optimiser, self.generator
        )


class QLearner(OfflineLearner):
    """An offline learner that also trains the recommender's Q heads against a target copy.

    :meth:`q_values` runs the Q heads once over every state of a pass; the target heads
    (``extra["target_q"]``, a frozen copy Polyak-averaged after each step) read detached states.
    """

    groups: ClassVar[tuple[str, ...]] = ("text", "items", "tracker", "actor", "q")
    config: QConfig

    def extra_modules(self) -> dict[str, nn.Module]:
        """The target Q heads: a frozen copy of the recommender's."""
        return {"target_q": copy.deepcopy(self.recommender.q).requires_grad_(False)}

    def q_values(self, fwd: Forward) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """``(Q_k(s_t, .), Q_k(s_{t+1}, .) detached)``, ``K`` tensors ``(N, V_k)`` each, from one
        pass of the Q heads."""
        q_all = self.recommender.q(fwd.states)
        return [q[fwd.before] for q in q_all], [q[fwd.after].detach() for q in q_all]

    def update(self, batch: DialogueBatch) -> dict[str, float]:
        r"""One step (:meth:`OfflineLearner.update`); its metrics add ``q/return``, the mean over
        the batch's logged turns of their discounted return-to-go
        :math:`G_t = \sum_{j \ge t} \gamma^{j-t} r_j` (:func:`discounted_returns`), beside
        ``q/data``, the mean of :math:`Q(s_t, a_t)` over the same turns: the value the critic
        estimates, measured on the log, so that overestimation shows in ``metrics.csv``."""
        metrics = super().update(batch)
        mask = torch.as_tensor(batch.dialogues.mask)
        returns = discounted_returns(
            torch.as_tensor(batch.rewards), torch.as_tensor(batch.dones), mask, self.config.gamma
        )
        metrics["q/return"] = float(masked_mean(returns, mask))
        return metrics

    @torch.no_grad()
    def target_q(self, fwd: Forward, rows: torch.Tensor) -> list[torch.Tensor]:
        """Target heads' ``Q_k`` at ``states[rows]``."""
        return self.extra["target_q"](fwd.states[rows].detach())

    def after_step(self) -> None:
        """Polyak-average the target Q heads towards the recommender's."""
        polyak_update(self.extra["target_q"], self.recommender.q, self.config.target_update)
