"""Shared learner maths against hand-computed numpy references."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from textrec.learners.functional import (
    clipped_surrogate,
    cql_penalty,
    gae,
    latest_requests,
    masked_mean,
    multi_head_entropy,
    multi_head_log_prob,
    normalise,
    polyak_update,
    td_target,
)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def test_multi_head_log_prob_sums_heads_and_skips_missing():
    rng = np.random.default_rng(0)
    logits = [rng.normal(size=(4, 3)), rng.normal(size=(4, 5))]
    actions = np.array([[0, 4], [2, -1], [-1, 1], [1, 0]])
    ref = np.zeros(4)
    for k, lg in enumerate(logits):
        lp = _log_softmax(lg)
        for i, a in enumerate(actions[:, k]):
            ref[i] += lp[i, a] if a >= 0 else 0.0
    got = multi_head_log_prob([torch.tensor(lg) for lg in logits], torch.tensor(actions))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)


def test_multi_head_entropy_is_the_sum_of_head_entropies():
    logits = [torch.zeros(2, 4), torch.tensor([[0.0, 100.0], [0.0, 0.0]])]
    np.testing.assert_allclose(
        multi_head_entropy(logits).numpy(), [np.log(4), np.log(4) + np.log(2)], rtol=1e-6
    )


def test_gae_matches_a_hand_recursion():
    rewards = np.array([[1.0, 0.5, 2.0, 0.0], [0.3, -1.0, 0.0, 0.0]])
    values = np.array([[0.2, 0.4, 0.1, 0.7, 0.9], [0.5, 0.6, 0.3, 0.2, 0.1]])
    dones = np.array([[False, False, True, False], [False, True, False, False]])
    mask = np.array([[True, True, True, False], [True, True, False, False]])
    gamma, lam = 0.9, 0.8
    ref = np.zeros_like(rewards)
    for b in range(2):
        running = 0.0
        for t in range(3, -1, -1):
            if not mask[b, t]:
                running = 0.0
                continue
            nd = 0.0 if dones[b, t] else 1.0
            delta = rewards[b, t] + gamma * nd * values[b, t + 1] - values[b, t]
            running = delta + gamma * lam * nd * running
            ref[b, t] = running
    adv, ret = gae(
        torch.tensor(rewards),
        torch.tensor(values),
        torch.tensor(dones),
        torch.tensor(mask),
        gamma,
        lam,
    )
    np.testing.assert_allclose(adv.numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(ret.numpy(), (ref + values[:, :-1]) * mask, rtol=1e-6)


def test_gae_with_lambda_one_is_the_discounted_return_minus_the_baseline():
    rewards = torch.tensor([[1.0, 2.0, 3.0]])
    values = torch.tensor([[0.5, 0.1, 0.2, 9.0]])
    dones = torch.tensor([[False, False, True]])
    adv, ret = gae(rewards, values, dones, torch.ones(1, 3, dtype=torch.bool), 0.5, 1.0)
    np.testing.assert_allclose(ret.numpy(), [[1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3.0]], rtol=1e-6)


def test_masked_mean_and_normalise_ignore_masked_entries():
    x = torch.tensor([1.0, 3.0, 100.0])
    mask = torch.tensor([True, True, False])
    assert masked_mean(x, mask).item() == 2.0
    np.testing.assert_allclose(normalise(x, mask).numpy(), [-1.0, 1.0, 0.0], rtol=1e-6)


def test_clipped_surrogate_is_pessimistic():
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0])
    ratio = torch.tensor([1.5, 0.5, 1.5, 0.5])
    got = clipped_surrogate(ratio.log(), torch.zeros(4), adv, clip=0.2)
    np.testing.assert_allclose(got.numpy(), [1.2, 0.5, -1.5, -0.8], rtol=1e-6)


def test_td_target():
    got = td_target(
        torch.tensor([1.0, 1.0]), torch.tensor([2.0, 2.0]), torch.tensor([False, True]), 0.5
    )
    np.testing.assert_allclose(got.numpy(), [2.0, 1.0])


def test_polyak_update_moves_the_target_by_tau():
    source, target = nn.Linear(2, 2), nn.Linear(2, 2)
    before = [p.detach().clone() for p in target.parameters()]
    polyak_update(target, source, 0.25)
    for t, b, s in zip(target.parameters(), before, source.parameters(), strict=True):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * s)


def test_cql_penalty_per_head():
    rng = np.random.default_rng(1)
    q = [rng.normal(size=(3, 4)), rng.normal(size=(3, 2))]
    actions = np.array([[1, 0], [3, -1], [0, 1]])
    ref = 0.0
    for i in range(3):
        for k in range(2):
            if actions[i, k] >= 0:
                ref += np.log(np.exp(q[k][i]).sum()) - q[k][i, actions[i, k]]
    # three padding states after the real ones: they must neither add nor dilute
    padded_q = [torch.tensor(np.concatenate([x, 50 + x])) for x in q]
    padded_a = torch.tensor(np.concatenate([actions, actions]))
    mask = torch.tensor([True] * 3 + [False] * 3)
    got = cql_penalty(padded_q, padded_a, mask)
    np.testing.assert_allclose(got.item(), ref / 3, rtol=1e-6)


def test_latest_requests_keeps_the_last_request_per_attribute():
    # sentences: 0 asks attribute 0 = 2, 1 asks attribute 1 = 1, 2 asks attribute 0 = 4,
    # 3 asks attribute 1 = 0.
    attribute, value = np.array([0, 1, 0, 1]), np.array([2, 1, 4, 0])
    said = np.array([[-1, 0, 1, 3, 2], [1, -1, -1, -1, -1]])
    out = latest_requests(said, attribute, value, 2)
    assert out.shape == (2, 5, 2)
    assert out[0].tolist() == [[-1, -1], [2, -1], [2, 1], [2, 0], [4, 0]]
    assert out[1].tolist() == [[-1, 1]] * 5
