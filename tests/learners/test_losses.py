"""Each offline loss on a tiny problem with a known answer (fixed states: only the heads learn)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrec.agent import Acting
from textrec.learners.offline import Forward
from textrec.learners.registry import LEARNERS


def _forward(rec, states: torch.Tensor, actions: torch.Tensor, rewards=None, dones=None) -> Forward:
    """A pass over ``N`` one-turn dialogues: turn ``i`` goes from state ``i`` to state ``N + i``."""
    n = len(actions)
    return Forward(
        states=states,
        before=torch.arange(n),
        after=torch.arange(n, 2 * n),
        heads=rec.heads(states),
        actions=actions,
        rewards=torch.zeros(n) if rewards is None else rewards,
        dones=torch.ones(n, dtype=torch.bool) if dones is None else dones,
        success=torch.ones(n, dtype=torch.bool),
        mask=torch.ones(n, dtype=torch.bool),
    )


def _train(learner, make_fwd, steps: int) -> None:
    for _ in range(steps):
        loss, _ = learner.loss(make_fwd())
        learner.optimiser.zero_grad()
        loss.backward()
        learner.optimiser.step()
        learner.after_step()


@pytest.fixture()
def states(make_recommender) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(80, make_recommender().state_dim, generator=g)


def _behaviour(states: torch.Tensor, sizes) -> torch.Tensor:
    """A deterministic behaviour policy: head k's value is a function of the state's signs."""
    n = len(states) // 2
    cols = [(states[:n, k] > 0).long() + (states[:n, k + 3] > 0).long() for k in range(len(sizes))]
    return torch.stack([c % s for c, s in zip(cols, sizes, strict=True)], dim=-1)


def test_bc_recovers_a_deterministic_behaviour_policy(make_recommender, states):
    rec = make_recommender(readout="linear")
    learner = LEARNERS["bc"].build(rec, {"lr": 1e-2})
    actions = _behaviour(states, rec.catalog.schema.sizes)
    _train(learner, lambda: _forward(rec, states, actions), 300)
    with torch.no_grad():
        chosen = torch.stack([lg.argmax(-1) for lg in rec.heads(states[:40]).logits], dim=-1)
    assert torch.equal(chosen, actions)


def _gap(algo: str, alpha: float, make_recommender, states) -> torch.Tensor:
    """Per head and state: Q of the logged value minus the largest Q of the other values."""
    rec = make_recommender(readout="linear")
    learner = LEARNERS[algo].build(rec, {"lr": 2e-2, "alpha": alpha})
    sizes = rec.catalog.schema.sizes
    actions = torch.zeros(40, len(sizes), dtype=torch.long)  # value 0 logged on every head
    _train(learner, lambda: _forward(rec, states, actions), 120)
    with torch.no_grad():
        q = rec.q(states[:40])
    return torch.stack([qk[:, 0] - qk[:, 1:].max(-1).values for qk in q], dim=-1)


def test_cql_pushes_q_of_unlogged_values_below_logged_ones(make_recommender, states):
    conservative = _gap("cql", 1.0, make_recommender, states)
    plain = _gap("offpolicy", 0.0, make_recommender, states)
    assert (conservative > 0).all()
    assert conservative.mean() > plain.mean() + 0.5


def test_cql_bellman_target_reaches_the_discounted_soft_return(make_recommender, states):
    """One logged turn, reward 1, then a terminal turn: Q(s, a) -> 1 at the first state."""
    rec = make_recommender(readout="linear")
    learner = LEARNERS["offpolicy"].build(rec, {"lr": 2e-2})
    k = rec.catalog.schema.n_attributes
    actions = torch.zeros(40, k, dtype=torch.long)
    rewards = torch.ones(40)
    _train(learner, lambda: _forward(rec, states, actions, rewards), 150)
    with torch.no_grad():
        q = sum(qk[:, 0] for qk in rec.q(states[:40]))
    torch.testing.assert_close(q, torch.ones(40), atol=0.05, rtol=0)


def test_bcq_never_picks_a_masked_value(make_recommender, states):
    rec = make_recommender()
    with torch.no_grad():  # sharp policy heads, and Q heads that disagree with them
        for p in [*rec.q.parameters(), *rec.actor.parameters()]:
            p.mul_(30.0)
    acting = Acting(heads="q", threshold=0.5, greedy="values")
    chosen = rec.act(states, acting, torch.Generator()).values
    with torch.no_grad():
        probs = [torch.softmax(lg, -1).numpy() for lg in rec.heads(states).logits]
        q_argmax = [qk.argmax(-1).numpy() for qk in rec.q(states)]
    rows = np.arange(len(states))
    for k, p in enumerate(probs):
        assert (p[rows, chosen[:, k]] >= 0.5 * p.max(-1) - 1e-6).all()
    assert any((chosen[:, k] != q_argmax[k]).any() for k in range(len(probs)))  # mask bites


def test_iql_value_at_expectile_one_half_is_the_mean_return(make_recommender, states):
    """With expectile 0.5 the value head regresses the mean of the (target) logged Q."""
    rec = make_recommender(readout="linear")
    learner = LEARNERS["iql"].build(rec, {"lr": 2e-2, "expectile": 0.5, "target_update": 1.0})
    k = rec.catalog.schema.n_attributes
    g = torch.Generator().manual_seed(1)
    actions = torch.stack(
        [torch.randint(0, s, (40,), generator=g) for s in rec.catalog.schema.sizes], dim=-1
    )
    rewards = torch.rand(40, generator=g)
    same = states[:1].expand(80, -1)  # one state: V must be the mean over its logged actions
    _train(learner, lambda: _forward(rec, same, actions, rewards), 200)
    with torch.no_grad():
        q = rec.q(same[:40])
        q_data = sum(q[j].gather(-1, actions[:, j : j + 1]).squeeze(-1) for j in range(k))
        v = learner.extra["value"](same[:1])
    torch.testing.assert_close(v, q_data.mean().reshape(1), atol=0.03, rtol=0)
