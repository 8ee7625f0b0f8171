"""The behaviour policies, estimated from the log: a cloned model of each device, per head.

The devices that filled the log are unknown; only their ids are logged. Importance sampling needs
``π_β,k(a_k | h_t)``, so it is *estimated*: per device ``d`` and head ``k`` a small conditional
model over the values, fitted by maximum likelihood on the device's logged actions, entirely in
log space. Its feature is the reader slot-filler's own distribution ``p_k(v | h_t)`` (from
:func:`~textrec.ope.policies.replay`), which every heuristic device perturbs::

    z_v         = α_{d,k,s} · log max(p_k(v), FLOOR) + β_{d,k,v}
    log π̂(v)   = logaddexp( log(1 − ε_{d,k}) + log_softmax(z)_v ,  log ε_{d,k} − log V_k )

with ``s`` = whether the user has named a value of attribute ``k`` (``p_k`` one-hot), ``α`` a
sharpness (noise flattens, ``α < 1``), ``β`` a per-value bias (a device completing with the
marginal instead of the conditional), ``ε = sigmoid(η)`` a uniform mixture (an epsilon-random
device). A device that is none of these is fitted as well as this family allows; the privileged
reference rows (the oracle's true log-probabilities) show what that costs.

The model's per-head log-likelihood on the log is reported as a diagnostic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from textrec.logs.policies import FLOOR

__all__ = ["BehaviourConfig", "BehaviourModel", "fit_behaviour"]


@dataclass(frozen=True)
class BehaviourConfig:
    """How the behaviour model is fitted (full-batch Adam on the log's negative log-likelihood)."""

    steps: int = 300
    """Full-batch Adam steps."""
    lr: float = 0.05
    """Adam learning rate."""


@dataclass(frozen=True, eq=False)
class BehaviourModel:
    """The fitted behaviour log-probabilities of the logged actions (``R`` rows, ``K`` heads)."""

    log_prob: np.ndarray
    """``(R, K) float64``: ``log π̂_β,k(a_k | h_t)`` of each logged action."""
    nll: np.ndarray
    """``(K,)``: mean negative log-likelihood per head on the log."""


def fit_behaviour(
    base: tuple[np.ndarray, ...],
    actions: np.ndarray,
    devices: np.ndarray,
    config: BehaviourConfig = BehaviourConfig(),
) -> BehaviourModel:
    """Fit the per-device, per-head behaviour model.

    Args:
        base: ``K`` arrays ``(R, V_k)``: the reader slot-filler's ``p_k(· | h_t)`` per decision row.
        actions: ``(R, K)`` logged local values.
        devices: ``(R,)`` device id of each row.
        config: optimiser settings.
    """
    _, dev = np.unique(devices, return_inverse=True)
    dev = dev.reshape(-1)
    n_dev = int(dev.max()) + 1 if len(dev) else 0
    out, nll = [], []
    for k, p in enumerate(base):
        # Sufficient statistics: rows share few (device, distribution, action) triples.
        _, pattern = np.unique(p, axis=0, return_inverse=True)
        triples = np.stack([dev, pattern.reshape(-1), actions[:, k]], axis=1)
        unique, first, inverse, counts = np.unique(
            triples, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
        logp = torch.as_tensor(np.log(np.maximum(p[first], FLOOR)), dtype=torch.float32)
        known = (logp.max(dim=1).values > -1e-6).long()
        dev_t = torch.as_tensor(unique[:, 0])
        a = torch.as_tensor(unique[:, 2])[:, None]
        weight = torch.as_tensor(counts / counts.sum(), dtype=torch.float32)
        v = logp.shape[1]
        alpha = torch.ones(n_dev, 2, requires_grad=True)
        beta = torch.zeros(n_dev, v, requires_grad=True)
        eta = torch.full((n_dev,), -3.0, requires_grad=True)
        params = (alpha, beta, eta)
        opt = torch.optim.Adam(params, lr=config.lr)
        for _ in range(config.steps):
            opt.zero_grad()
            loss = -(weight * _log_probs(params, logp, known, dev_t).gather(1, a)[:, 0]).sum()
            loss.backward()
            opt.step()
        with torch.no_grad():
            chosen = _log_probs(params, logp, known, dev_t).gather(1, a)[:, 0].double().numpy()
        out.append(chosen[inverse.reshape(-1)])
        nll.append(float(-(counts * chosen).sum() / counts.sum()))
    return BehaviourModel(log_prob=np.stack(out, axis=1), nll=np.asarray(nll))


def _log_probs(
    params: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    logp: torch.Tensor,
    known: torch.Tensor,
    dev: torch.Tensor,
) -> torch.Tensor:
    """``(R, V)`` model log-probabilities (the module docstring's formula)."""
    alpha, beta, eta = params
    z = alpha[dev, known][:, None] * logp + beta[dev]
    eps = torch.sigmoid(eta[dev])[:, None]
    return torch.logaddexp(
        torch.log1p(-eps) + torch.log_softmax(z, dim=1), torch.log(eps) - np.log(logp.shape[1])
    )
