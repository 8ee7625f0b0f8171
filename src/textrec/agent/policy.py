"""Multi-discrete policy heads, factorised Q heads and a state-value head over the tracker state.

The action is one value per attribute (the paper's multi-discrete action space): the policy gives a
categorical distribution ``pi_k(. | s)`` per attribute ``k``. Q-based learners use one small MLP per
attribute giving ``Q_k(s, v)`` for each of its values; actor-critic learners use a state value.
Every head returns a list of ``K`` tensors, head ``k`` of width ``V_k`` (the attribute's
vocabulary).

A head's last layer is a :class:`ValueReadout`: either a plain linear map to ``V_k`` outputs, or
(``value_codes`` given) a *tied* readout that scores value ``v`` by the dot product of a learned
query with the value's code ``e_v`` — the row of the pretrained text encoder's value head that
recognises ``v`` in a sentence. The tied readout has the same few parameters for 4 values or 685
brands, and "ask for the value the user named" is one map for all values instead of one row per
value to learn from reward.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from textrec.errors import InputError

__all__ = [
    "ValueReadout",
    "PolicyOutputs",
    "PolicyHeads",
    "QHeads",
    "ValueHead",
    "sample_values",
    "greedy_values",
    "masked_q",
    "reset_parameters",
]


@torch.no_grad()
def reset_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every parameter of ``module`` from ``generator`` (no global seed is touched).

    Matrices (linear and GRU weights, slot keys and initial slots) ~ U(±1/sqrt(fan_in)) with
    ``fan_in`` their second dimension, as PyTorch's defaults; vectors (biases, the "no item"
    embedding) start at zero.
    """
    for p in module.parameters():
        if p.dim() >= 2:
            bound = 1.0 / p.shape[1] ** 0.5
            p.uniform_(-bound, bound, generator=generator)
        else:
            p.zero_()


class ValueReadout(nn.Module):
    """Last layer of a head: ``h (..., hidden) -> K`` score tensors ``(..., V_k)``.

    Untied (``value_codes=None``): one linear map per attribute. Tied: per attribute a linear
    query ``q_k = W_k h`` (``code_dim`` units) scored against the codes of the attribute's values,
    ``score_k(v) = q_k . e_v + b_v``; the codes ``e`` (``(V, code_dim)`` over the schema's global
    value axis) are a buffer, not trained, and ``b`` starts at zero.
    """

    def __init__(
        self, hidden: int, sizes: Sequence[int], value_codes: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        self.sizes = tuple(int(v) for v in sizes)
        if value_codes is None:
            self.maps = nn.ModuleList(nn.Linear(hidden, size) for size in self.sizes)
            return
        if value_codes.dim() != 2 or value_codes.shape[0] != sum(self.sizes):
            raise InputError(
                f"value_codes must be (n_values={sum(self.sizes)}, code_dim), "
                f"got {tuple(value_codes.shape)}"
            )
        code_dim = value_codes.shape[1]
        self.maps = nn.ModuleList(nn.Linear(hidden, code_dim, bias=False) for _ in self.sizes)
        self.register_buffer("codes", value_codes.detach().clone())
        self.bias = nn.Parameter(torch.zeros(sum(self.sizes)))

    @property
    def tied(self) -> bool:
        """Whether values are scored against their codes."""
        return hasattr(self, "codes")

    def forward(self, h: torch.Tensor) -> list[torch.Tensor]:
        """``h (..., hidden)`` -> ``K`` tensors ``(..., V_k)``."""
        return self.per_attribute([h] * len(self.sizes))

    def per_attribute(self, hs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Attribute ``k`` read from ``hs[k] (..., hidden)``: ``K`` tensors ``(..., V_k)``."""
        if not self.tied:
            return [m(h) for m, h in zip(self.maps, hs, strict=True)]
        codes, bias = self.codes.split(self.sizes), self.bias.split(self.sizes)
        return [m(h) @ e.T + b for m, h, e, b in zip(self.maps, hs, codes, bias, strict=True)]


@dataclass(frozen=True)
class PolicyOutputs:
    """What the policy says in a batch of states."""

    logits: list[torch.Tensor]
    """``K`` tensors ``(..., V_k)``: one categorical head per attribute."""
    asked: torch.Tensor
    """``(..., K)`` logits of "the user has asked for a value of attribute ``k``"."""


class PolicyHeads(nn.Module):
    """``state -> MLP(hidden, hidden) -> one softmax head per attribute`` (returns logits).

    Beside the value heads, the trunk feeds ``K`` *asked* logits: whether the user has asked for
    a value of attribute ``k`` so far. Only request tracking trains them (the ``slot-reader``
    learner), and only its retrieval (``Acting.weights='asked'``) reads them, to weigh a head the
    user constrained above one that is the agent's guess.
    """

    def __init__(
        self,
        state_dim: int,
        hidden: int,
        sizes: Sequence[int],
        value_codes: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.heads = ValueReadout(hidden, sizes, value_codes)
        self.asked_logits = nn.Linear(hidden, len(sizes))

    def forward(self, state: torch.Tensor) -> PolicyOutputs:
        """``state (..., state_dim)`` -> value logits and asked logits (one pass of the trunk)."""
        h = self.trunk(state)
        return PolicyOutputs(self.heads(h), self.asked_logits(h))


class QHeads(nn.Module):
    """Per attribute ``k`` an MLP ``state -> hidden -> V_k``: ``Q_k(s, v)`` for each value ``v``.

    The hidden layer is per attribute; the readout to values is a :class:`ValueReadout` (tied to
    the value codes when they are given).
    """

    def __init__(
        self,
        state_dim: int,
        hidden: int,
        sizes: Sequence[int],
        value_codes: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(
            nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU()) for _ in sizes
        )
        self.readout = ValueReadout(hidden, sizes, value_codes)

    def forward(self, state: torch.Tensor) -> list[torch.Tensor]:
        """``state (..., state_dim)`` -> ``K`` Q-value tensors ``(..., V_k)``."""
        return self.readout.per_attribute([h(state) for h in self.hidden])


class ValueHead(nn.Module):
    """``state -> hidden -> 1``: the state value ``V(s)`` of an actor-critic learner."""

    def __init__(self, state_dim: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """``state (..., state_dim)`` -> ``(...)``."""
        return self.mlp(state).squeeze(-1)


def sample_values(logits: Sequence[torch.Tensor], generator: torch.Generator) -> torch.Tensor:
    """Draw one value per head: ``K`` logits ``(B, V_k)`` -> ``(B, K) int64`` local values."""
    draws = [torch.multinomial(torch.softmax(lg, dim=-1), 1, generator=generator) for lg in logits]
    return torch.cat(draws, dim=-1)


def greedy_values(logits: Sequence[torch.Tensor]) -> torch.Tensor:
    """Most probable value per head: ``K`` logits ``(B, V_k)`` -> ``(B, K) int64``."""
    return torch.stack([lg.argmax(dim=-1) for lg in logits], dim=-1)


def masked_q(q: torch.Tensor, logits: torch.Tensor, threshold: float) -> torch.Tensor:
    r"""Discrete BCQ's mask: ``q`` where :math:`\pi(v|s) \ge` ``threshold`` :math:`\max_u \pi(u|s)`
    (``pi = softmax(logits)``, the behaviour-cloned head), ``-inf`` elsewhere; ``(..., V)``.

    The most probable value always passes, so every row keeps at least one value.
    """
    log_p = torch.log_softmax(logits, dim=-1)
    keep = log_p >= log_p.max(dim=-1, keepdim=True).values + math.log(threshold)
    return q.masked_fill(~keep, float("-inf"))
