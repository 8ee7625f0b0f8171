"""Multi-discrete policy heads, factorised Q heads and a state-value head over the tracker state.

The action is one value per attribute (the paper's multi-discrete action space): the policy gives a
categorical distribution ``pi_k(. | s)`` per attribute ``k``. Q-based learners use one small MLP per
attribute giving ``Q_k(s, v)`` for each of its values; actor-critic learners use a state value.
Every head returns a list of ``K`` tensors, head ``k`` of width ``V_k`` (the attribute's
vocabulary).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "PolicyHeads",
    "QHeads",
    "ValueHead",
    "sample_values",
    "greedy_values",
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


class PolicyHeads(nn.Module):
    """``state -> MLP(hidden, hidden) -> one softmax head per attribute`` (returns logits)."""

    def __init__(self, state_dim: int, hidden: int, sizes: Sequence[int]) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.heads = nn.ModuleList(nn.Linear(hidden, size) for size in sizes)

    def forward(self, state: torch.Tensor) -> list[torch.Tensor]:
        """``state (..., state_dim)`` -> ``K`` logit tensors ``(..., V_k)``."""
        h = self.trunk(state)
        return [head(h) for head in self.heads]


class QHeads(nn.Module):
    """Per attribute ``k`` an MLP ``state -> hidden -> V_k``: ``Q_k(s, v)`` for each value ``v``."""

    def __init__(self, state_dim: int, hidden: int, sizes: Sequence[int]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(state_dim, hidden), nn.ReLU(), nn.Linear(hidden, size))
            for size in sizes
        )

    def forward(self, state: torch.Tensor) -> list[torch.Tensor]:
        """``state (..., state_dim)`` -> ``K`` Q-value tensors ``(..., V_k)``."""
        return [head(state) for head in self.heads]


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
