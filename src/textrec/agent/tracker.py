"""Multi-slot recurrent state tracker and the padded dialogue record it reads.

Each turn the tracker fuses the embedding of the user's sentence with the embedding of the item it
answers (an MLP over their concatenation) and writes it into ``S`` memory slots, each a GRU cell
with its own weights whose update gate decides how much of the slot the turn overwrites. The state
is the concatenation of the slots. The state before turn ``t`` depends only on the dialogue before
``t``: the tracker runs step by step in a live session and over padded logged dialogues in a
learner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from textrec.errors import InputError

__all__ = ["Dialogues", "StateTracker", "latest_requests", "slot_features"]


@dataclass(frozen=True, eq=False)
class Dialogues:
    """A batch of dialogues, padded to ``T`` turns, with their sentences dictionary-encoded.

    Turn ``t`` shows item ``items[b, t]`` and the user answers with sentence ``feedback[b, t]``
    (``-1``: no answer, the user was satisfied, or the turn is padding). Sentences are stored
    once in ``tokens`` (``U`` unique sentences), so a learner encodes each distinct sentence once
    per batch.

    Shapes (``B`` dialogues, ``T`` turns, ``U`` sentences, ``L`` tokens):

    * ``items``     ``(B, T) int64`` catalog index of the shown item, ``-1`` after the end
    * ``feedback``  ``(B, T) int64`` row of ``tokens`` said after ``items[b, t]``, ``-1`` none
    * ``opening``   ``(B,) int64`` row of ``tokens`` said before the first item, ``-1`` none
    * ``n_turns``   ``(B,) int64`` number of shown items
    * ``tokens``    ``(U, L) int64`` token ids, right-padded with ``<pad>``
    * ``lengths``   ``(U,) int64`` tokens per sentence (>= 1)
    """

    items: np.ndarray
    feedback: np.ndarray
    opening: np.ndarray
    n_turns: np.ndarray
    tokens: np.ndarray
    lengths: np.ndarray

    def __post_init__(self) -> None:
        b, t = self.items.shape
        if self.feedback.shape != (b, t):
            raise InputError(
                f"Dialogues: feedback has shape {self.feedback.shape}, expected {(b, t)}"
            )
        if self.opening.shape != (b,) or self.n_turns.shape != (b,):
            raise InputError(
                f"Dialogues: opening {self.opening.shape} and n_turns {self.n_turns.shape} "
                f"must be ({b},)"
            )
        u = self.tokens.shape[0]
        if self.tokens.ndim != 2 or self.lengths.shape != (u,):
            raise InputError(
                f"Dialogues: tokens {self.tokens.shape} / lengths {self.lengths.shape} mismatch"
            )
        for name in ("feedback", "opening"):
            ids = getattr(self, name)
            if ids.size and (ids.min() < -1 or ids.max() >= u):
                raise InputError(
                    f"Dialogues: field {name!r} refers to sentences outside 0..{u - 1}"
                )
        if self.n_turns.size and (self.n_turns.min() < 0 or self.n_turns.max() > t):
            raise InputError(
                f"Dialogues: n_turns must lie in 0..{t}, "
                f"got {self.n_turns.min()}..{self.n_turns.max()}"
            )

    @property
    def mask(self) -> np.ndarray:
        """``(B, T) bool``: turn ``t`` happened in dialogue ``b``."""
        return np.arange(self.items.shape[1])[None, :] < self.n_turns[:, None]

    def compact(self) -> Dialogues:
        """The same dialogues with a sentence table holding only the sentences said in them."""
        said_fb, said_op = self.feedback >= 0, self.opening >= 0
        n_fb = int(said_fb.sum())
        used, inverse = np.unique(
            np.concatenate([self.feedback[said_fb], self.opening[said_op]]), return_inverse=True
        )
        feedback = np.full(self.feedback.shape, -1, dtype=np.int64)
        feedback[said_fb] = inverse[:n_fb]
        opening = np.full(self.opening.shape, -1, dtype=np.int64)
        opening[said_op] = inverse[n_fb:]
        return Dialogues(
            self.items, feedback, opening, self.n_turns, self.tokens[used], self.lengths[used]
        )

    def take(self, rows: np.ndarray) -> Dialogues:
        """The dialogues ``rows``, cut to their longest one (sharing the sentence table)."""
        t = int(self.n_turns[rows].max(initial=0))
        return Dialogues(
            self.items[rows, :t],
            self.feedback[rows, :t],
            self.opening[rows],
            self.n_turns[rows],
            self.tokens,
            self.lengths,
        )


class StateTracker(nn.Module):
    """``S`` memory slots, each a GRU cell with its own weights, fed the fused turn embedding.

    Each turn ``x_t = MLP([text; item])`` is read by every slot ``s``:
    ``h_s <- GRUCell_s(x_t, h_s)``, whose update gate decides per unit how much of the slot the turn
    overwrites. The slots run as one GRU whose recurrent weights are masked block-diagonal (slot
    ``s`` reads only itself), so a whole dialogue is one fused ``torch.gru`` call; the state is the
    concatenation of the slots, ``(S * slot_dim,)``.
    """

    def __init__(
        self, text_dim: int, item_dim: int, fuse_hidden: int, n_slots: int, slot_dim: int
    ) -> None:
        super().__init__()
        self.n_slots, self.slot_dim = n_slots, slot_dim
        self.fuse = nn.Sequential(
            nn.Linear(text_dim + item_dim, fuse_hidden),
            nn.ReLU(),
            nn.Linear(fuse_hidden, fuse_hidden),
            nn.ReLU(),
        )
        h = n_slots * slot_dim
        self.weight_ih = nn.Parameter(torch.zeros(3 * h, fuse_hidden))
        self.weight_hh = nn.Parameter(torch.zeros(3 * h, h))
        self.bias_ih = nn.Parameter(torch.zeros(3 * h))
        self.bias_hh = nn.Parameter(torch.zeros(3 * h))
        self.initial = nn.Parameter(torch.zeros(n_slots, slot_dim))
        block = torch.block_diag(*[torch.ones(slot_dim, slot_dim)] * n_slots).repeat(
            3, 1
        )  # gates r, z, n
        self.register_buffer("block", block, persistent=False)

    @property
    def state_dim(self) -> int:
        """Size of the state ``S * slot_dim``."""
        return self.n_slots * self.slot_dim

    def initial_state(self, n: int) -> torch.Tensor:
        """``(n, state_dim)`` state before anything was said or shown."""
        return self.initial.reshape(1, -1).expand(n, -1)

    def _params(self) -> list[torch.Tensor]:
        return [self.weight_ih, self.weight_hh * self.block, self.bias_ih, self.bias_hh]

    def step(self, state: torch.Tensor, text: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        """One turn: ``state (B, state_dim)``, ``text (B, text_dim)``, ``item (B, item_dim)``."""
        x = self.fuse(torch.cat([text, item], dim=-1))
        return torch.gru_cell(x, state, *self._params())

    def unroll_packed(
        self,
        text: torch.Tensor,
        items: torch.Tensor,
        initial: torch.Tensor,
        turn: np.ndarray,
        n_turns: np.ndarray,
    ) -> torch.Tensor:
        """Run over the real turns only: ``N`` turns given flat, in dialogue-major order.

        Args:
            text: ``(N, text_dim)`` sentence code of each turn.
            items: ``(N, item_dim)`` shown-item embedding of each turn.
            initial: ``(B, state_dim)`` state before turn 0 of each dialogue.
            turn: ``(N,) int64`` turn index of each row within its dialogue (0, 1, ...).
            n_turns: ``(B,) int64`` turns per dialogue (``sum == N``; rows are ordered dialogue by
                dialogue, turns ascending, as ``np.nonzero(mask)`` gives them).

        Returns:
            ``(N, state_dim)`` the state after each turn (same order): the same numbers as
            :meth:`unroll`, at a cost that grows with the real turns, not the padding.
        """
        n_turns = np.asarray(n_turns, dtype=np.int64)
        if text.shape[0] == 0:
            return initial.new_zeros(0, self.state_dim)
        live = np.flatnonzero(n_turns > 0)
        order = live[np.argsort(-n_turns[live], kind="stable")]  # dialogues, longest first
        rank = np.empty(len(n_turns), dtype=np.int64)
        rank[order] = np.arange(len(order))
        batch_sizes = (n_turns[order][None, :] > np.arange(int(n_turns.max()))[:, None]).sum(1)
        offsets = np.concatenate([[0], np.cumsum(batch_sizes)[:-1]])
        dialogue = np.repeat(np.arange(len(n_turns)), n_turns)
        position = torch.as_tensor(offsets[turn] + rank[dialogue])  # packed row of each turn
        x = self.fuse(torch.cat([text, items], dim=-1))
        packed = torch.empty_like(x).index_copy(0, position, x)
        w_ih, w_hh, b_ih, b_hh = self._params()
        # The GRU recurrence written out over the packed rows: the input gates of all turns in
        # one product, then per time step only the dialogues still running (the first rows of
        # the longest-first order). ``split`` hands each step its rows with a backward that is
        # one concatenation, where torch's packed GRU accumulates a full-size gradient per step.
        gates_x = nn.functional.linear(packed, w_ih, b_ih)
        h = initial[torch.as_tensor(order)]
        outs = []
        for gx in gates_x.split(batch_sizes.tolist()):
            prev = h[: gx.shape[0]]
            gh = nn.functional.linear(prev, w_hh, b_hh)
            x_r, x_z, x_n = gx.chunk(3, dim=1)
            h_r, h_z, h_n = gh.chunk(3, dim=1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
            h = n + z * (prev - n)  # (1 - z) * n + z * prev, as torch.gru
            outs.append(h)
        out = torch.cat(outs)
        return out[position]

    def unroll(
        self, text: torch.Tensor, items: torch.Tensor, initial: torch.Tensor
    ) -> torch.Tensor:
        """Run over ``T`` turns of ``text (B, T, text_dim)`` and ``items (B, T, item_dim)``.

        ``initial (B, state_dim)`` is the state before turn 0. Returns ``(B, T + 1, state_dim)``:
        entry ``t`` is the state before turn ``t`` (after turns ``< t``), entry ``T`` the state
        after the last turn. The GRU is causal, so the states of a dialogue's real turns do not
        depend on the padding after them.
        """
        if text.shape[1] == 0:
            return initial.unsqueeze(1)
        x = self.fuse(torch.cat([text, items], dim=-1))
        h0 = initial.unsqueeze(0).contiguous()
        # torch.gru(input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
        # batch_first): one fused call for the whole dialogue.
        out, _ = torch.gru(
            x,
            h0,
            self._params(),
            True,
            1,
            0.0,
            self.training,
            False,
            True,
        )
        return torch.cat([initial.unsqueeze(1), out], dim=1)


def latest_requests(
    said: np.ndarray,
    attribute: np.ndarray,
    value: np.ndarray,
    n_attributes: int,
) -> np.ndarray:
    """For each state, the latest value the user asked for on each attribute (``-1``: none yet).

    Args:
        said: ``(B, S) int64`` sentence row said at each position, in dialogue order (``-1``:
            nothing); state ``t`` has heard positions ``<= t``.
        attribute, value: per sentence row ``(U,)``: the attribute and local value it asks for.
        n_attributes: ``K``.

    Returns:
        ``(B, S, K) int64``.

    Example:
        >>> said = np.array([[0, -1, 1, 2]])
        >>> latest_requests(said, np.array([1, 0, 1]), np.array([3, 2, 5]), 2)[0].tolist()
        [[-1, 3], [-1, 3], [2, 3], [2, 5]]
    """
    heard = said >= 0
    rows = np.where(heard, said, 0)
    values = value[rows]
    position = np.arange(said.shape[1])
    out = np.full((*said.shape, n_attributes), -1, dtype=np.int64)
    for k in range(n_attributes):
        last = np.maximum.accumulate(np.where(heard & (attribute[rows] == k), position, -1), 1)
        out[..., k] = np.where(last >= 0, np.take_along_axis(values, last.clip(0), 1), -1)
    return out


def slot_features(requests: np.ndarray, sizes: tuple[int, ...]) -> torch.Tensor:
    """The explicit slot features of states whose latest requests are ``requests``.

    For each attribute ``k`` (``V_k = sizes[k]`` values), a one-hot of the latest value asked for
    (all zeros when none), then ``K`` "asked yet" bits:
    ``f = [onehot(u_1); ...; onehot(u_K); 1(u_1 >= 0); ...; 1(u_K >= 0)]``.

    Args:
        requests: ``(..., K) int64`` latest requested local value per attribute (``-1``: none),
            as :func:`latest_requests` gives them.
        sizes: ``V_k`` per attribute.

    Returns:
        ``(..., sum_k V_k + K) float32``.

    Example:
        >>> slot_features(np.array([[1, -1]]), (2, 3)).tolist()
        [[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]]
    """
    requests = np.asarray(requests, dtype=np.int64)
    n_attributes, n_values = len(sizes), int(sum(sizes))
    if requests.shape[-1:] != (n_attributes,):
        raise InputError(f"slot_features: requests {requests.shape} do not end in {n_attributes}")
    if (requests >= np.asarray(sizes)).any() or (requests < -1).any():
        raise InputError("slot_features: a requested value lies outside its attribute")
    flat = requests.reshape(-1, n_attributes)
    out = np.zeros((len(flat), n_values + n_attributes), dtype=np.float32)
    heard = flat >= 0
    rows, k = np.nonzero(heard)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    out[rows, offsets[k] + flat[rows, k]] = 1.0
    out[:, n_values:] = heard
    return torch.from_numpy(out.reshape(*requests.shape[:-1], n_values + n_attributes))
