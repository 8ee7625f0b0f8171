"""Shared learner maths against hand-computed numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from textrec.agent.policy import masked_q
from textrec.agent.tracker import latest_requests
from textrec.learners.functional import (
    clipped_surrogate,
    cql_penalty,
    discounted_returns,
    distilled_actor_loss,
    expectile_loss,
    feasible_share,
    gae,
    head_values,
    item_penalty,
    masked_mean,
    multi_head_entropy,
    multi_head_log_prob,
    normalise,
    policy_penalty,
    polyak_update,
    request_tracking_loss,
    row_numbers,
    soft_actor_loss,
    soft_values,
    td_target,
    temperature_loss,
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


def test_item_penalty_is_the_logsumexp_over_the_items_joint_actions():
    rng = np.random.default_rng(2)
    q = [rng.normal(size=(3, 3)), rng.normal(size=(3, 4))]
    feasible = np.array([[0, 0], [0, 1], [1, 2], [2, 3]])
    actions = np.array([[0, 1], [2, -1], [1, 2]])
    ref = 0.0
    for i in range(3):
        joint = np.array([q[0][i, b[0]] + q[1][i, b[1]] for b in feasible])
        logged = sum(q[k][i, a] for k, a in enumerate(actions[i]) if a >= 0)
        ref += np.log(np.exp(joint).sum()) - logged
    padded_q = [torch.tensor(np.concatenate([x, 50 + x])) for x in q]
    mask = torch.tensor([True] * 3 + [False] * 3)
    got = item_penalty(
        padded_q, torch.tensor(np.concatenate([actions, actions])), torch.tensor(feasible), mask
    )
    np.testing.assert_allclose(got.item(), ref / 3, rtol=1e-6)
    # over every combination of the head values it is the per-head (product) form
    every = torch.cartesian_prod(torch.arange(3), torch.arange(4))
    q_t, a_t = [torch.tensor(x) for x in q], torch.tensor([[0, 1], [2, 3], [1, 2]])
    torch.testing.assert_close(
        item_penalty(q_t, a_t, every, torch.ones(3, dtype=torch.bool)),
        cql_penalty(q_t, a_t, torch.ones(3, dtype=torch.bool)),
    )


@pytest.mark.parametrize("spread", [1.0, 200.0])
def test_item_penalty_sums_a_large_head_out_by_groups_exactly(spread):
    """A head of 40 values beside 2 x 3 combinations of the others (4 · 6 <= 60 items: the
    grouped path): value and gradient equal the logsumexp over the items one by one (float64),
    also when one head's values spread over 200 (beyond float32's exp range)."""
    rng = np.random.default_rng(4)
    every = np.array([(a, b, c) for a in range(2) for b in range(3) for c in range(40)])
    feasible = torch.tensor(every[np.sort(rng.choice(len(every), 60, replace=False))])
    actions = feasible[torch.tensor([0, 7, 59, 31, 12])]
    mask = torch.tensor([True, True, True, True, False])
    q32 = [rng.normal(size=(5, v)).astype(np.float32) for v in (2, 3, 40)]
    q32[2] *= np.float32(spread)

    def by_items(q):
        joint = sum(q[k][:, feasible[:, k]] for k in range(3))  # (5, F): Q of each item
        logged = sum(q[k].gather(1, actions[:, k : k + 1]).squeeze(1) for k in range(3))
        return ((torch.logsumexp(joint, dim=-1) - logged) * mask).sum() / mask.sum()

    got_q = [torch.tensor(x, requires_grad=True) for x in q32]
    ref_q = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in q32]
    got, ref = item_penalty(got_q, actions, feasible, mask), by_items(ref_q)
    got.backward()
    ref.backward()
    assert got.item() == pytest.approx(ref.item(), rel=1e-5)
    for g, r in zip(got_q, ref_q, strict=True):
        np.testing.assert_allclose(g.grad.numpy(), r.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_item_penalty_has_no_pull_between_a_category_and_its_subcategories():
    """Items: (category, subcategory) with subcategories 0-1 in category 0 and 2-4 in 1.
    Moving c from category 0 to its subcategories changes no item's joint Q, so neither the
    items penalty nor its gradient; the per-head form's gradient pulls Q_category towards the
    logged categories' log-frequency (here: category 0 up), a pull the Bellman error (which sees
    only the joint Q of logged items) can only hand on to the subcategories."""
    feasible = torch.tensor([[0, 0], [0, 1], [1, 2], [1, 3], [1, 4]])
    actions = torch.tensor([[0, 0], [0, 1], [0, 0], [1, 3]])  # category 0 logged 3 times in 4
    mask = torch.ones(4, dtype=torch.bool)
    rng = np.random.default_rng(3)
    base = [torch.tensor(rng.normal(scale=0.1, size=(4, v))) for v in (2, 5)]
    shift = torch.tensor([[0.7, 0.0]]), torch.tensor([[-0.7, -0.7, 0.0, 0.0, 0.0]])
    moved = [base[0] + shift[0], base[1] + shift[1]]
    torch.testing.assert_close(
        item_penalty(moved, actions, feasible, mask), item_penalty(base, actions, feasible, mask)
    )
    # the gradient along the move (category 0 up, its subcategories down) is zero for the
    # items penalty and not for the per-head logsumexp
    along = []
    for penalty in (
        lambda q: item_penalty(q, actions, feasible, mask),
        lambda q: cql_penalty(q, actions, mask),
    ):
        q = [x.clone().requires_grad_(True) for x in base]
        penalty(q).backward()
        along.append(float((q[0].grad * shift[0]).sum() + (q[1].grad * shift[1]).sum()))
    assert abs(along[0]) < 1e-9
    assert abs(along[1]) > 0.05


def test_feasible_share_says_whether_each_states_best_values_make_an_item():
    feasible = torch.tensor([[0, 0], [1, 2]])
    logits = [
        torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]),
        torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]),
    ]
    np.testing.assert_array_equal(feasible_share(logits, feasible).numpy(), [1.0, 1.0, 0.0])


def test_feasible_share_equals_the_rowwise_comparison():
    """Against the definition (each state's best row compared with every feasible row), on
    states that are and are not feasible, two axes of states, feasible rows holding -1."""
    gen = torch.Generator().manual_seed(4)
    sizes = [3, 7, 5]
    feasible = torch.stack([torch.randint(-1, n, (40,), generator=gen) for n in sizes], -1)
    feasible[:10] = feasible[:10].clamp_min(0)
    logits = [torch.randn(2, 30, n, generator=gen) for n in sizes]
    for k in range(3):  # the first 10 states of each row prefer a feasible action
        logits[k][:, :10] = 0.0
        logits[k][:, torch.arange(10), feasible[:10, k]] = 5.0
    best = torch.stack([lg.argmax(-1) for lg in logits], -1)
    brute = (best.unsqueeze(-2) == feasible).all(-1).any(-1).float()
    assert 20 <= int(brute.sum()) < 60
    got = feasible_share(logits, feasible)
    assert got.shape == (2, 30)
    np.testing.assert_array_equal(got.numpy(), brute.numpy())


@pytest.mark.parametrize("scale", [1, 2**40], ids=["mixed radix", "overflow: ranks"])
def test_row_numbers_are_equal_exactly_for_equal_rows(scale):
    gen = torch.Generator().manual_seed(5)
    rows = torch.randint(-1, 3, (200, 3), generator=gen) * scale
    number = row_numbers(rows)
    same_number = number[:, None] == number[None, :]
    same_row = (rows[:, None, :] == rows[None, :, :]).all(-1)
    assert torch.equal(same_number, same_row)


def test_latest_requests_keeps_the_last_request_per_attribute():
    # sentences: 0 asks attribute 0 = 2, 1 asks attribute 1 = 1, 2 asks attribute 0 = 4,
    # 3 asks attribute 1 = 0.
    attribute, value = np.array([0, 1, 0, 1]), np.array([2, 1, 4, 0])
    said = np.array([[-1, 0, 1, 3, 2], [1, -1, -1, -1, -1]])
    out = latest_requests(said, attribute, value, 2)
    assert out.shape == (2, 5, 2)
    assert out[0].tolist() == [[-1, -1], [2, -1], [2, 1], [2, 0], [4, 0]]
    assert out[1].tolist() == [[-1, 1]] * 5


def test_head_values_sum_the_chosen_q_and_skip_missing_heads():
    rng = np.random.default_rng(2)
    q = [rng.normal(size=(3, 4)), rng.normal(size=(3, 2))]
    actions = np.array([[1, 0], [3, -1], [0, 1]])
    ref = [q[0][0, 1] + q[1][0, 0], q[0][1, 3], q[0][2, 0] + q[1][2, 1]]
    got = head_values([torch.tensor(x) for x in q], torch.tensor(actions))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)


def test_soft_values_are_the_policy_expectation_of_q_minus_tau_log_pi():
    rng = np.random.default_rng(3)
    q = [rng.normal(size=(5, 4)), rng.normal(size=(5, 3))]
    logits = [rng.normal(size=(5, 4)), rng.normal(size=(5, 3))]
    tau = 0.3
    ref = np.zeros(5)
    for qk, lk in zip(q, logits, strict=True):
        logp = _log_softmax(lk)
        ref += (np.exp(logp) * (qk - tau * logp)).sum(-1)
    got = soft_values([torch.tensor(x) for x in q], [torch.tensor(x) for x in logits], tau)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)
    # with pi = softmax(Q / tau) the soft value is tau * logsumexp(Q / tau) per head
    best = soft_values(
        [torch.tensor(x) for x in q], [torch.tensor(x / tau) for x in q], tau
    ).numpy()
    lse = sum(tau * np.log(np.exp(x / tau).sum(-1)) for x in q)
    np.testing.assert_allclose(best, lse, rtol=1e-6)


def test_expectile_one_half_is_the_mean_and_higher_expectiles_lie_above_it():
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.exponential(size=200))

    def minimiser(expectile: float) -> float:
        v = torch.zeros((), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([v], max_iter=100, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = expectile_loss(x - v, expectile).mean()
            loss.backward()
            return loss

        opt.step(closure)
        return float(v.detach())

    np.testing.assert_allclose(minimiser(0.5), float(x.mean()), rtol=1e-6)
    # first-order condition of the 0.9-expectile e: 0.9 * sum(x - e)+ = 0.1 * sum(e - x)+
    e = minimiser(0.9)
    xs = x.numpy()
    above, below = np.clip(xs - e, 0, None).sum(), np.clip(e - xs, 0, None).sum()
    np.testing.assert_allclose(0.9 * above, 0.1 * below, rtol=1e-4)
    assert e > xs.mean()


def test_request_tracking_loss_matches_numpy():
    rng = np.random.default_rng(5)
    logits = [rng.normal(size=(4, 3)), rng.normal(size=(4, 2))]
    asked = rng.normal(size=(4, 2))
    requests = np.array([[2, -1], [-1, -1], [0, 1], [1, 0]])
    mask = np.array([True, True, True, False])
    ce, n = 0.0, 0
    for i in range(4):
        for k in range(2):
            if mask[i] and requests[i, k] >= 0:
                ce -= _log_softmax(logits[k][i])[requests[i, k]]
                n += 1
    target = (requests >= 0).astype(float)
    p = 1 / (1 + np.exp(-asked))
    bce = -(target * np.log(p) + (1 - target) * np.log(1 - p)).mean(-1)
    ref = ce / n + bce[mask].mean()
    got = request_tracking_loss(
        [torch.tensor(x) for x in logits],
        torch.tensor(asked),
        torch.tensor(requests),
        torch.tensor(mask),
    )
    np.testing.assert_allclose(got.item(), ref, rtol=1e-6)


def test_masked_q_keeps_values_near_the_most_probable_one():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.25, 0.25, 0.25, 0.25]]))
    q = torch.tensor([[0.0, 1.0, 2.0, 3.0], [4.0, 3.0, 2.0, 1.0]])
    out = masked_q(q, logits, 0.4)  # keeps p >= 0.2 in row 0, everything in row 1
    assert torch.isinf(out[0, 2:]).all() and torch.equal(out[0, :2], q[0, :2])
    assert torch.equal(out[1], q[1])
    assert out.argmax(-1).tolist() == [1, 0]


def test_discounted_returns_match_the_backward_recursion():
    """Row 0 holds two episodes (a done mid-row), row 1 one episode then padding, row 2 one that
    was cut (no done): G_t = r_t + gamma (1 - d_t) G_{t+1}, zero on padding."""
    rewards = np.array([[-1.0, 2.0, -0.5, 3.0], [0.5, -1.0, 9.0, 9.0], [-1.0, -1.0, -1.0, -1.0]])
    dones = np.array([[False, True, False, True], [False, True, False, False], [False] * 4])
    mask = np.array([[True] * 4, [True, True, False, False], [True] * 4])
    for gamma in (0.9, 0.0, 1.0):
        ref = np.zeros_like(rewards)
        for b in range(3):
            running = 0.0
            for t in range(3, -1, -1):
                if mask[b, t]:
                    running = rewards[b, t] + gamma * (0.0 if dones[b, t] else running)
                    ref[b, t] = running
        got = discounted_returns(
            torch.tensor(rewards), torch.tensor(dones), torch.tensor(mask), gamma
        )
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6, err_msg=f"gamma {gamma}")


def test_policy_penalty_is_the_policy_q_minus_the_logged_q_and_trains_q_only():
    rng = np.random.default_rng(6)
    q = [rng.normal(size=(3, 4)), rng.normal(size=(3, 2))]
    logits = [rng.normal(size=(3, 4)), rng.normal(size=(3, 2))]
    actions = np.array([[1, 0], [3, -1], [0, 1]])
    mask = np.array([True, True, False])
    ref = 0.0
    for i in range(2):
        for k in range(2):
            if actions[i, k] >= 0:
                p = np.exp(_log_softmax(logits[k][i]))
                ref += (p * q[k][i]).sum() - q[k][i, actions[i, k]]
    lg = [torch.tensor(x, requires_grad=True) for x in logits]
    got = policy_penalty(
        [torch.tensor(x) for x in q], lg, torch.tensor(actions), torch.tensor(mask)
    )
    np.testing.assert_allclose(got.item(), ref / 2, rtol=1e-6)
    assert not got.requires_grad  # pi is held fixed: no gradient reaches the policy logits
    # pi = the logged value's point mass: no penalty
    point = [torch.tensor(np.where(np.arange(4) == 1, 50.0, 0.0)).expand(1, 4)]
    zero = policy_penalty(
        [torch.tensor(q[0][:1])], point, torch.tensor([[1]]), torch.ones(1, dtype=torch.bool)
    )
    assert abs(zero.item()) < 1e-12


def test_soft_values_take_one_temperature_per_head():
    rng = np.random.default_rng(7)
    q = [rng.normal(size=(4, 3)), rng.normal(size=(4, 5))]
    logits = [rng.normal(size=(4, 3)), rng.normal(size=(4, 5))]
    taus = [0.1, 0.7]
    ref = sum(
        (np.exp(_log_softmax(lk)) * (qk - t * _log_softmax(lk))).sum(-1)
        for qk, lk, t in zip(q, logits, taus, strict=True)
    )
    got = soft_values(
        [torch.tensor(x) for x in q], [torch.tensor(x) for x in logits], torch.tensor(taus)
    )
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)


def test_temperature_rises_below_the_target_entropy_and_falls_above_it():
    """A sharp head 0 (entropy ~0) and a uniform head 1 (entropy log 4), both targets at half of
    log V_k: one gradient step raises tau_0 and lowers tau_1; the gradient is the entropy minus
    its target."""
    logits = [torch.tensor([[20.0, 0.0]] * 3), torch.zeros(3, 4)]
    target = 0.5 * torch.log(torch.tensor([2.0, 4.0]))
    log_tau = torch.zeros(2, requires_grad=True)
    mask = torch.tensor([True, True, False])
    temperature_loss(log_tau, logits, target, mask).backward()
    entropy0 = -(torch.softmax(logits[0][0], -1) * torch.log_softmax(logits[0][0], -1)).sum()
    expected = torch.stack([entropy0, torch.log(torch.tensor(4.0))]) - target
    torch.testing.assert_close(log_tau.grad, expected)
    assert log_tau.grad[0] < 0 < log_tau.grad[1]  # descent: tau_0 up, tau_1 down


def test_the_distilling_actor_moves_a_saturated_head_that_eq7_leaves_stuck():
    """A one-hot actor on the value the critic ranks last: Eq. 7's gradient in the logits is
    ~0 (saturated softmax), the forward KL's is pi - softmax(Q / tau), of size ~1, and it pushes
    the logit of the critic's best value up. Both losses are minimised at pi = softmax(Q / tau)
    (the forward KL is 0 there and its gradient vanishes)."""
    q = [torch.tensor([[1.0, 0.0, -1.0]])]
    tau, mask = 0.5, torch.tensor([True])
    grads = {}
    for name, loss_fn in (("eq7", soft_actor_loss), ("kl", distilled_actor_loss)):
        logits = [torch.tensor([[-30.0, -30.0, 30.0]], requires_grad=True)]
        loss_fn(q, logits, tau, mask).backward()
        grads[name] = logits[0].grad[0]
    target = torch.softmax(q[0][0] / tau, -1)
    assert grads["eq7"].abs().max() < 1e-10
    torch.testing.assert_close(grads["kl"], torch.tensor([0.0, 0.0, 1.0]) - target)
    assert grads["kl"][0] < 0  # descent raises the best value's logit
    at_optimum = [torch.log(target).unsqueeze(0).requires_grad_(True)]
    kl = distilled_actor_loss(q, at_optimum, tau, mask)
    kl.backward()
    assert abs(kl.item()) < 1e-6 and at_optimum[0].grad.abs().max() < 1e-6
    eq7 = [torch.log(target).unsqueeze(0).requires_grad_(True)]
    soft_actor_loss(q, eq7, tau, mask).backward()
    assert eq7[0].grad.abs().max() < 1e-6


def test_conservative_penalty_is_the_named_form_and_refuses_missing_inputs():
    from textrec.errors import InputError
    from textrec.learners.functional import (
        conservative_penalty,
        cql_penalty,
        item_penalty,
        policy_penalty,
    )

    g = torch.Generator().manual_seed(0)
    q = [torch.randn(5, 3, generator=g), torch.randn(5, 4, generator=g)]
    logits = [torch.randn(5, 3, generator=g), torch.randn(5, 4, generator=g)]
    actions = torch.tensor([[0, 1], [2, 3], [1, -1], [0, 0], [2, 2]])
    feasible = torch.tensor([[0, 1], [2, 3], [1, 0], [0, 0], [2, 2]])
    mask = torch.tensor([True, True, True, False, True])
    kw = {"logits": logits, "feasible": feasible}
    assert torch.equal(
        conservative_penalty("items", q, actions, mask, **kw),
        item_penalty(q, actions, feasible, mask),
    )
    assert torch.equal(
        conservative_penalty("policy", q, actions, mask, **kw),
        policy_penalty(q, logits, actions, mask),
    )
    assert torch.equal(
        conservative_penalty("logsumexp", q, actions, mask, **kw), cql_penalty(q, actions, mask)
    )
    with pytest.raises(InputError, match="feasible"):
        conservative_penalty("items", q, actions, mask, logits=logits)
    with pytest.raises(InputError, match="logits"):
        conservative_penalty("policy", q, actions, mask, feasible=feasible)
    with pytest.raises(InputError, match="'joint'"):
        conservative_penalty("joint", q, actions, mask, **kw)
