"""The behaviour model recovers devices of its family from their logged actions alone."""

from __future__ import annotations

import numpy as np
import torch

from textrec.ope.behaviour import fit_behaviour


def test_cloned_devices_match_their_true_probabilities():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    v, n_patterns, rows = 5, 40, 20000
    patterns = rng.dirichlet(np.ones(v), n_patterns)
    base = patterns[rng.integers(0, n_patterns, rows)]
    device = rng.integers(0, 2, rows)
    # device 0 follows the base mixed with 30% uniform; device 1 a sharpened base (alpha = 2)
    sharp = base**2 / (base**2).sum(axis=1, keepdims=True)
    true = np.where(device[:, None] == 0, 0.7 * base + 0.3 / v, sharp)
    actions = (rng.random(rows)[:, None] > np.cumsum(true, axis=1)).sum(axis=1)[:, None]
    model = fit_behaviour((base.astype(np.float32),), actions, device)
    expected = np.log(true[np.arange(rows), actions[:, 0]])
    assert np.abs(model.log_prob[:, 0] - expected).mean() < 0.05
    assert model.nll[0] < -expected.mean() + 0.01
