"""The tracker over whole dialogues: the agent state before every turn of a batch of dialogues.

:class:`Unrolling` is the part of :class:`~textrec.agent.recommender.Recommender` that runs the
state tracker over padded dialogues, ``h_{t+1} = tracker(h_t, c_txt(x_t), c_img(a_t))`` from the
state after the opening sentence, and appends the slot features of what was heard,
``s_t = [h_t; f_t]`` (:meth:`Unrolling.agent_states`). :meth:`Unrolling.unroll` gives every
padded state ``(B, T + 1)``; :meth:`Unrolling.unroll_turns` the states at the real turns only
(:class:`TurnStates`), the learners' pass. The turn-by-turn form is
:class:`~textrec.agent.recommender.RecommenderPolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from textrec.agent.reading import Reading
from textrec.agent.tracker import Dialogues, StateTracker, slot_features
from textrec.agent.visual import ItemEncoder
from textrec.errors import InputError

__all__ = ["TurnStates", "Unrolling"]


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


class Unrolling(Reading):
    """The dialogue-unrolling part of a :class:`~textrec.agent.recommender.Recommender`."""

    tracker: StateTracker
    items: ItemEncoder

    def agent_states(self, tracked: torch.Tensor, requests: np.ndarray | None) -> torch.Tensor:
        """The agent states ``s = [h; f]`` ``(..., state_dim)`` of tracker states ``h (..., D)``
        whose latest requests are ``requests (..., K)``
        (:func:`~textrec.agent.tracker.slot_features`; ``None`` and ignored without
        ``config.slot_features``)."""
        if not self.config.slot_features:
            return tracked
        if requests is None:
            raise InputError("agent_states: slot features need the latest requests")
        features = slot_features(requests, tuple(self.catalog.schema.sizes))
        return torch.cat([tracked, features.to(tracked.dtype)], dim=-1)

    def _requests(
        self, d: Dialogues, codes: torch.Tensor, requests: np.ndarray | None
    ) -> np.ndarray | None:
        """``requests`` if given, else :meth:`~textrec.agent.reading.Reading.heard_requests` when
        the slot features need them."""
        if requests is not None or not self.config.slot_features:
            return requests
        return self.heard_requests(d, codes.detach())

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
