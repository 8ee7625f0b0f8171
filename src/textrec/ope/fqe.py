"""Fitted-Q evaluation (FQE), factorised over the attribute heads, trained by the shared fitter.

FQE (Le, Voloshin & Yue 2019) fits ``Q^π`` of a fixed target policy ``π`` by regression on the
logged transitions to the Bellman target of the previous fit::

    Q(s_t, a_t)  ←  r_t + (1 − d_t) · V̄(s_{t+1}),      V̄(s) = E_{a ~ π(·|s)} Q̄(s, a)

with ``d_t = 1`` on a session's last row. **Absorbing state**: a session that ends — the user
found the item (``terminated``) or the turn limit hit (``truncated``; the turn is part of the state,
so the limit is a property of the state, not a cut) — moves to an absorbing state with reward 0
forever and value 0, whatever the policy; its target is ``r_t`` alone. ``γ = 1``: the value is the
expected return per session, the quantity the simulator's truth measures.

**Factorised over heads**: the action is one value per attribute, so ``Q`` is additive::

    Q(s, a) = b(s) + Σ_k q_k(s, a_k),        V(s) = b(s) + Σ_k Σ_v π_k(v | s) · q_k(s, v)

one network pass gives ``b`` and every ``q_k(s, ·)``; the expectation over the ``Π_k V_k`` joint
actions is exact and costs one dot product per head. The state features are what the reader
slot-filler knows after the logged dialogue — its per-head distributions (one-hot on requested
values), which heads are known, the turn — and are the same for every target policy.

The target network ``Q̄`` is the online one copied every ``target_every`` updates, so ``steps /
target_every`` Bellman backups are done in one run of :func:`textrec.learners.loop.fit` (the
shared loop: its per-step generators, timing and metrics).

**Conservative FQE** (``alpha > 0``: the ``cql`` learner's critic as the paper's "reward
corrector") adds the ``cql`` learner's conservative penalty to the regression, in the form the
learner uses (``penalty``; its default is the default of
:attr:`textrec.learners.configs.CQLConfig.penalty`, so the two cannot drift)::

    loss = mean_t (Q(s_t, a_t) − y_t)²  +  alpha · mean_t P(s_t, a_t)

    items      P = log Σ_{b ∈ A} exp Q(s_t, b) − Q(s_t, a_t)                (the learner's default)
    logsumexp  P = Σ_k [ log Σ_v exp q_k(s_t, v) − q_k(s_t, a_tk) ]            (paper Eq. 6, CQL(H))
    policy     P = Σ_k [ Σ_v π_k(v | s_t) q_k(s_t, v) − q_k(s_t, a_tk) ]      (π: the target policy)

with ``A`` the distinct action vectors of the catalog's items (``FQEData.feasible``) and
``Q(s, b) = b(s) + Σ_k q_k(s, b_k)`` (``b(s)`` cancels in every form). ``items`` is
:func:`textrec.learners.functional.item_penalty`, ``logsumexp``
:func:`~textrec.learners.functional.cql_penalty` (the same logsumexp over *every* combination of
head values, which factorises per head), ``policy``
:func:`~textrec.learners.functional.policy_penalty`. The penalty pushes down the values of
actions the log did not choose at a state and up the logged ones; over the items only, it cannot
lift a head-value combination no item has (``item_penalty``'s docstring says why the per-head form
does). The Bellman target stays the *target* policy's expectation (no entropy bonus: the quantity
estimated is the plain return), so ``E_π Q̂`` is a conservative estimate of ``π``'s value.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from textrec.agent.policy import reset_parameters
from textrec.errors import InputError
from textrec.learners.configs import PENALTIES, CQLConfig
from textrec.learners.functional import conservative_penalty
from textrec.learners.loop import fit

__all__ = ["FQEConfig", "FQEData", "FQEFit", "FQELearner", "fit_fqe"]


@dataclass(frozen=True)
class FQEConfig:
    """FQE's hyperparameters."""

    steps: int = 3000
    """Gradient steps."""
    target_every: int = 100
    """Steps between copies of the online network into the target network (one backup each)."""
    batch_size: int = 512
    """Transitions per step."""
    hidden: int = 128
    """Width of the two hidden layers."""
    lr: float = 1e-3
    """Adam learning rate."""
    alpha: float = 0.0
    """Weight of the conservative (cql) penalty; 0: plain FQE."""
    penalty: str = CQLConfig().penalty
    """Form of the conservative penalty (see the module docstring): the ``cql`` learner's
    default; 'items' needs :attr:`FQEData.feasible`."""

    def __post_init__(self) -> None:
        for name in ("steps", "target_every", "batch_size", "hidden"):
            if getattr(self, name) < 1:
                raise InputError(f"FQEConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise InputError(f"FQEConfig.alpha must be finite and >= 0, got {self.alpha}")
        if self.penalty not in PENALTIES:
            raise InputError(
                f"FQEConfig.penalty must be one of {list(PENALTIES)}, got {self.penalty!r}"
            )


@dataclass(frozen=True, eq=False)
class FQEData:
    """The logged transitions FQE regresses on (``R`` decision rows, row-major by session).

    Row ``r``'s next state is row ``r + 1`` unless ``done[r]``.
    """

    features: np.ndarray
    """``(R, F) float32`` state features at each row."""
    actions: np.ndarray
    """``(R, K) int64`` logged action, as global value indices (``offsets[k] + a_k``)."""
    reward: np.ndarray
    """``(R,) float32``."""
    done: np.ndarray
    """``(R,) bool`` the session's last row (absorbing afterwards)."""
    target: np.ndarray
    """``(R, V) float32`` the target policy's ``π_k(· | s)``, heads side by side."""
    offsets: np.ndarray
    """``(K + 1,) int`` where each head's values start in ``V`` (the last entry is ``V``)."""
    feasible: np.ndarray | None = None
    """``(F, K) int64`` the distinct action vectors of the catalog's items, as global value
    indices like ``actions``: the joint actions of the ``items`` penalty (``None``: not known)."""

    def take(self, sessions: np.ndarray) -> FQEData:
        """The rows of the sessions ``sessions`` (indices, repeats allowed), in that order."""
        first = np.flatnonzero(np.r_[True, self.done[:-1]])
        stop = np.r_[first[1:], len(self.done)]
        rows = np.concatenate([np.arange(first[i], stop[i]) for i in sessions])
        return FQEData(
            features=self.features[rows],
            actions=self.actions[rows],
            reward=self.reward[rows],
            done=self.done[rows],
            target=self.target[rows],
            offsets=self.offsets,
            feasible=self.feasible,
        )


@dataclass(frozen=True, eq=False)
class FQEFit:
    """A fitted ``Q^π`` read out on every row."""

    q_logged: np.ndarray
    """``(R,) float64``: ``Q̂(s_t, a_t)`` of the logged action."""
    v_state: np.ndarray
    """``(R,) float64``: ``V̂(s_t) = E_π Q̂(s_t, ·)``."""
    loss: float
    """Mean squared Bellman error over the last ``target_every`` steps."""


class _QNet(nn.Module):
    """``features -> MLP -> (b, q_1..q_K)``; :meth:`values` gives ``Q(s, a)`` and ``V(s)``."""

    def __init__(self, n_features: int, n_values: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1 + n_values),
        )

    def values(
        self, features: torch.Tensor, actions: torch.Tensor, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``Q(s, a)`` of ``actions (B, K)`` (global indices), ``V(s)`` under ``target (B, V)``,
        and the per-value terms ``q (B, V)``."""
        out = self.mlp(features)
        b, q = out[:, 0], out[:, 1:]
        return b + q.gather(1, actions).sum(dim=1), b + (q * target).sum(dim=1), q


class _Rows:
    """Batch source for the fitter: uniformly drawn row indices."""

    def __init__(self, n_rows: int, batch_size: int) -> None:
        self.n_rows, self.batch_size = n_rows, batch_size

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.n_rows, size=self.batch_size)


class FQELearner:
    """FQE as a :class:`textrec.learners.loop.Learner` over row indices of :class:`FQEData`."""

    name: ClassVar[str] = "fqe"

    def __init__(self, data: FQEData, config: FQEConfig, seed: int) -> None:
        self.config = config
        self.data = data
        self._t = {
            "features": torch.as_tensor(data.features),
            "actions": torch.as_tensor(data.actions),
            "reward": torch.as_tensor(data.reward, dtype=torch.float32),
            "live": torch.as_tensor(~data.done, dtype=torch.float32),
            "target": torch.as_tensor(data.target),
            "local": torch.as_tensor(data.actions - np.asarray(data.offsets)[:-1]),
        }
        self._bounds = list(zip(data.offsets[:-1], data.offsets[1:], strict=True))
        if config.alpha > 0 and config.penalty == "items":
            if data.feasible is None:
                raise InputError("FQE: penalty 'items' needs FQEData.feasible (the items' actions)")
            self._t["feasible"] = torch.as_tensor(data.feasible - np.asarray(data.offsets)[:-1])
        self.net = _QNet(data.features.shape[1], data.target.shape[1], config.hidden)
        reset_parameters(self.net, torch.Generator().manual_seed(seed))
        self.frozen = copy.deepcopy(self.net).requires_grad_(False)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr)
        self.updates = 0

    def loss(self, rows: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The regression loss of the rows ``rows`` towards the frozen network's Bellman target,
        plus ``alpha`` times the conservative penalty (the module docstring's maths)."""
        t = self._t
        nxt = torch.clamp(rows + 1, max=len(t["reward"]) - 1)
        with torch.no_grad():
            _, v_next, _ = self.frozen.values(
                t["features"][nxt], t["actions"][nxt], t["target"][nxt]
            )
            y = t["reward"][rows] + t["live"][rows] * v_next
        q, _, terms = self.net.values(t["features"][rows], t["actions"][rows], t["target"][rows])
        bellman = torch.mean((q - y) ** 2)
        metrics = {"loss/bellman": float(bellman.detach())}
        if self.config.alpha == 0:
            return bellman, metrics
        heads = [terms[:, lo:hi] for lo, hi in self._bounds]
        logits = (
            None  # the target policy's, as log-probabilities: only the 'policy' form reads them
        )
        if self.config.penalty == "policy":
            log_pi = t["target"][rows].clamp_min(1e-30).log()
            logits = [log_pi[:, lo:hi] for lo, hi in self._bounds]
        penalty = conservative_penalty(
            self.config.penalty,
            heads,
            t["local"][rows],
            torch.ones(len(rows), dtype=torch.bool),
            logits=logits,
            feasible=t.get("feasible"),
        )
        metrics["loss/cql"] = float(penalty.detach())
        return bellman + self.config.alpha * penalty, metrics

    def update(self, batch: np.ndarray) -> dict[str, float]:
        """One step on :meth:`loss` of the rows ``batch``; the target network follows every
        ``target_every`` steps."""
        loss, metrics = self.loss(torch.as_tensor(batch))
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.updates += 1
        if self.updates % self.config.target_every == 0:
            self.frozen.load_state_dict(self.net.state_dict())
        return metrics

    def policy(self) -> Any:
        """FQE values a fixed policy and learns none: the target distributions it evaluates."""
        return self.data.target

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimiser and the update counter."""
        return {
            "net": self.net.state_dict(),
            "frozen": self.frozen.state_dict(),
            "opt": self.opt.state_dict(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.net.load_state_dict(state["net"])
        self.frozen.load_state_dict(state["frozen"])
        self.opt.load_state_dict(state["opt"])
        self.updates = int(state["updates"])

    @torch.no_grad()
    def read_out(self) -> tuple[np.ndarray, np.ndarray]:
        """``Q̂(s_t, a_t)`` and ``V̂(s_t)`` on every row."""
        t = self._t
        q, v, _ = self.net.values(t["features"], t["actions"], t["target"])
        return q.double().numpy(), v.double().numpy()


def fit_fqe(data: FQEData, config: FQEConfig = FQEConfig(), seed: int = 0) -> FQEFit:
    """Fit ``Q^π`` on ``data`` with the shared loop; read it out on every row."""
    learner = FQELearner(data, config, seed)
    steps = fit(
        learner,
        _Rows(len(data.reward), config.batch_size),
        n_steps=config.steps,
        seed=seed,
        progress=False,
    )
    tail = [m["loss/bellman"] for _, m in steps[-config.target_every :]]
    q, v = learner.read_out()
    return FQEFit(q_logged=q, v_state=v, loss=float(np.mean(tail)))
