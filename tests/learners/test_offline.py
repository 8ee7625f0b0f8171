"""Every offline learner of the registry: conformance on a toy log, what each update trains, the
config checks, and the acting mode of its greedy policy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tests.conftest import make_toy_catalog
from tests.learners.conformance import check_learner
from textrec.agent import Recommender, RecommenderConfig
from textrec.errors import InputError
from textrec.evaluation import evaluate
from textrec.learners import offline
from textrec.learners.batches import LogDialogues
from textrec.learners.loop import METRICS_NAME, fit, read_rows
from textrec.learners.registry import LEARNERS
from textrec.logs.collect import collect
from textrec.logs.policies import default_devices
from textrec.simulator import BatchedSimulator
from textrec.simulator.baselines import RandomPolicy

OFFLINE = [name for name, spec in LEARNERS.items() if spec.needs_logs]


def test_the_registry_has_every_learner_of_the_issue():
    assert set(LEARNERS) == {"online", "bc", "offpolicy", "cql", "bcq", "iql", "slot-reader"}
    assert OFFLINE == ["bc", "offpolicy", "cql", "bcq", "iql", "slot-reader"]


def test_offpolicy_is_cql_without_the_penalty():
    off, cql = LEARNERS["offpolicy"], LEARNERS["cql"]
    assert off.learner is cql.learner and off.config is cql.config
    assert off.make_config().alpha == 0.0 and cql.make_config().alpha > 0
    assert off.make_config({"alpha": 0.5}) == cql.make_config({"alpha": 0.5})


@pytest.mark.parametrize("algo", OFFLINE)
def test_conformance(algo, make_recommender, toy_log, toy_catalog, test_sim, tmp_path):
    spec = LEARNERS[algo]
    check_learner(
        lambda seed: spec.build(make_recommender(seed=seed), {"n_dialogues": 6}, seed=seed),
        lambda learner: LogDialogues(toy_log, toy_catalog, learner.recommender.vocab, 6),
        test_sim,
        tmp_path,
    )


def test_conformance_with_learned_temperatures_and_the_policy_penalty(
    make_recommender, toy_log, toy_catalog, test_sim, tmp_path
):
    """The temperatures are learned state: checkpointed, restored, resumed bit for bit."""
    options = {"n_dialogues": 6, "auto_tau": True, "penalty": "policy", "lr": 0.05}
    check_learner(
        lambda seed: LEARNERS["cql"].build(make_recommender(seed=seed), options, seed=seed),
        lambda learner: LogDialogues(toy_log, toy_catalog, learner.recommender.vocab, 6),
        test_sim,
        tmp_path,
    )
    learner = LEARNERS["cql"].build(make_recommender(), options)
    before = learner.state_dict()["extra"]["temperature.log_tau"].clone()
    torch.testing.assert_close(before, torch.full((3,), float(np.log(0.05))))
    learner.update(
        LogDialogues(toy_log, toy_catalog, learner.recommender.vocab, 6).sample(
            np.random.default_rng(0)
        )
    )
    after = learner.state_dict()["extra"]["temperature.log_tau"]
    assert not torch.equal(before, after)
    other = LEARNERS["cql"].build(make_recommender(), options)
    other.load_state_dict(learner.state_dict())
    torch.testing.assert_close(other.extra["temperature"].log_tau.detach(), after)


@pytest.mark.parametrize("algo", ["offpolicy", "bcq", "iql"])
def test_metrics_csv_logs_the_logged_return_beside_q(
    algo, make_recommender, toy_log, toy_catalog, tmp_path
):
    """``q/return`` is the mean over the batch's logged turns of the discounted return-to-go (a
    loop over turns here), next to ``q/data`` in every row of ``metrics.csv``."""
    learner = LEARNERS[algo].build(make_recommender(), {"n_dialogues": 8, "gamma": 0.8})
    source = LogDialogues(toy_log, toy_catalog, learner.recommender.vocab, 8)
    batch = source.sample(np.random.default_rng(0))
    returns = []
    for b, n in enumerate(batch.dialogues.n_turns):
        running, row = 0.0, []
        for t in range(n - 1, -1, -1):
            running = batch.rewards[b, t] + 0.8 * (0.0 if batch.dones[b, t] else running)
            row.append(running)
        returns += row
    assert learner.update(batch)["q/return"] == pytest.approx(np.mean(returns), rel=1e-5)
    fit(learner, source, n_steps=2, eval_every=1, checkpoint_dir=tmp_path, progress=False)
    rows = read_rows(tmp_path / METRICS_NAME)
    assert len(rows) == 2 and all({"q/data", "q/return"} <= set(r) for r in rows)


@pytest.mark.parametrize(
    ("algo", "finetune_text"), [(a, False) for a in OFFLINE] + [("bc", True), ("cql", True)]
)
def test_one_large_step_moves_every_trained_group(
    algo, finetune_text, make_recommender, toy_log, toy_catalog
):
    rec = make_recommender(finetune_text=finetune_text)
    learner = LEARNERS[algo].build(rec, {"lr": 0.05, "n_dialogues": 16})
    groups = rec.parameter_groups()
    before = {g: [p.detach().clone() for p in ps] for g, ps in groups.items()}
    batch = LogDialogues(toy_log, toy_catalog, rec.vocab, 16).sample(np.random.default_rng(0))
    learner.update(batch)
    moved = {
        g
        for g, ps in groups.items()
        if any(not torch.equal(a, p) for a, p in zip(before[g], ps, strict=True))
    }
    expected = set(learner.groups) - (set() if finetune_text else {"text"})
    assert moved == expected


@pytest.mark.parametrize(
    ("algo", "field", "value", "match"),
    [
        ("bc", "lr", 0.0, "lr must be > 0"),
        ("bc", "n_dialogues", 0, "n_dialogues must be >= 1"),
        ("cql", "alpha", -1.0, "alpha must be >= 0"),
        ("cql", "gamma", 1.5, r"gamma must be in \[0, 1\]"),
        ("cql", "tau", 0.0, "tau must be > 0"),
        (
            "cql",
            "penalty",
            "lse",
            r"penalty must be one of \['logsumexp', 'policy', 'items'\], got 'lse'",
        ),
        ("cql", "target_entropy", 1.0, r"target_entropy must be in \(0, 1\)"),
        (
            "offpolicy",
            "actor_loss",
            "kl",
            r"actor_loss must be one of \['reverse_kl', 'forward_kl'\], got 'kl'",
        ),
        ("offpolicy", "target_update", 0.0, "target_update must be in"),
        ("bcq", "threshold", 1.0, r"threshold must be in \(0, 1\)"),
        ("iql", "expectile", 0.0, "expectile must be in"),
        ("iql", "max_weight", 0.0, "max_weight must be > 0"),
    ],
)
def test_bad_config_is_refused(algo, field, value, match):
    with pytest.raises(InputError, match=match):
        LEARNERS[algo].make_config({field: value})


def test_unknown_option_names_the_learner_and_its_options():
    with pytest.raises(InputError, match=r"--algo bc has no option\(s\) \['alpha'\]"):
        LEARNERS["bc"].make_config({"alpha": 1.0})


def test_bcq_acts_from_its_masked_q_heads(make_recommender):
    learner = LEARNERS["bcq"].build(make_recommender(), {"threshold": 0.4})
    policy = learner.policy()
    assert policy.acting.heads == "q" and policy.acting.threshold == 0.4
    assert LEARNERS["cql"].build(make_recommender()).policy().acting.heads == "actor"


@pytest.mark.parametrize("algo", ["cql", "bc"])
def test_policy_heads_skip_the_backward_of_the_last_states(
    algo, make_recommender, toy_log, toy_catalog, monkeypatch
):
    """The policy heads run with gradient only on the states that chose a turn; the loss and every
    gradient equal those of one pass with gradient over all states (the dialogues' last states
    only feed the detached bootstrap)."""
    batch = LogDialogues(toy_log, toy_catalog, make_recommender().vocab, 8).sample(
        np.random.default_rng(0)
    )

    def loss_and_grads(learner) -> tuple[float, list[torch.Tensor]]:
        fwd = learner.forward(batch)
        loss, _ = learner.loss(fwd)
        track = offline.tracking_loss(fwd)
        learner.optimiser.zero_grad()
        (loss + track).backward()
        return float((loss + track).detach()), [
            torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in learner.trained
        ]

    rows = []
    rec = make_recommender()
    heads = rec.heads
    rec.heads = lambda states: rows.append((len(states), torch.is_grad_enabled())) or heads(states)
    ours = loss_and_grads(LEARNERS[algo].build(rec, {"n_dialogues": 8}))
    (live, grad), (last, no_grad) = rows
    assert grad and not no_grad and last == 8 and live == int(batch.dialogues.n_turns.sum())
    monkeypatch.setattr(offline, "acting_heads", lambda rec, states, before: rec.heads(states))
    full = loss_and_grads(LEARNERS[algo].build(make_recommender(), {"n_dialogues": 8}))
    assert ours[0] == pytest.approx(full[0], rel=1e-6)
    for a, b in zip(ours[1], full[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("algo", [a for a in OFFLINE if a != "slot-reader"])
def test_without_tracking_the_learners_loss_alone_trains_the_policy(
    algo, make_recommender, toy_log, toy_catalog, monkeypatch
):
    """At the default ``track_coef = 0`` the request-tracking loss is never computed, so the
    policy heads' gradient is the learner's loss's; with ``track_coef > 0`` it is."""
    assert LEARNERS[algo].make_config().track_coef == 0.0
    batch = LogDialogues(toy_log, toy_catalog, make_recommender().vocab, 8).sample(
        np.random.default_rng(0)
    )
    calls = []
    tracking = offline.request_tracking_loss
    monkeypatch.setattr(
        offline, "request_tracking_loss", lambda *a: calls.append(1) or tracking(*a)
    )
    metrics = LEARNERS[algo].build(make_recommender(), {"n_dialogues": 8}).update(batch)
    assert not calls and "loss/track" not in metrics
    metrics = (
        LEARNERS[algo]
        .build(make_recommender(), {"n_dialogues": 8, "track_coef": 1.0})
        .update(batch)
    )
    assert calls and metrics["loss/track"] > 0


def test_the_slot_reader_and_bc_train_different_heads(make_recommender, toy_log, toy_catalog):
    """The slot reader's heads learn the requests heard, bc's the logged actions: from the same
    weights and batch, one step moves the policy heads differently, and only the reader's moves
    the asked head (no RL learner trains it)."""
    batch = LogDialogues(toy_log, toy_catalog, make_recommender().vocab, 16).sample(
        np.random.default_rng(0)
    )
    moved = {}
    for algo in ("slot-reader", "bc", "cql"):
        rec = make_recommender()
        before = {n: p.detach().clone() for n, p in rec.actor.named_parameters()}
        LEARNERS[algo].build(rec, {"n_dialogues": 16, "lr": 0.01}).update(batch)
        moved[algo] = {n: p.detach() - before[n] for n, p in rec.actor.named_parameters()}
    for name, step in moved["bc"].items():
        if name.startswith("asked_logits"):
            assert not step.any() and not moved["cql"][name].any()
            assert moved["slot-reader"][name].abs().sum() > 0
        else:
            assert not torch.allclose(step, moved["slot-reader"][name]), name


def test_the_slot_reader_weighs_retrieval_by_its_asked_head(make_recommender):
    assert LEARNERS["slot-reader"].build(make_recommender()).policy().acting.weights == "asked"
    assert LEARNERS["cql"].build(make_recommender()).policy().acting.weights == "confidence"


def test_cql_with_slot_features_learns_from_rewards_on_a_toy_catalog(
    toy_encoder, toy_bank, tmp_path
):
    """Bar: after 80 updates of 32 logged dialogues (300 sessions of the six heuristic devices,
    toy catalog of 600 items), with request tracking off, cql (α = 1) beats the random policy on
    SR@10 of 200 test-pool sessions by >= 0.05 with its actor and by >= 0.4 acting greedily from
    its Q heads. When written, seeds 0 / 1 / 2 of the agent and the loop gave actor 0.455 / 0.420 /
    0.405 and Q-greedy 0.935 / 0.925 / 0.935 against random 0.360 (this test: seed 0); after 200
    updates, seed 0: actor 0.595, Q-greedy 0.980. These are the paper's Eq. 7 actor
    (``reverse_kl``), pinned here; with the default distilling actor (``forward_kl``) at this
    budget (lr 1e-3, 80 updates) seeds 0 / 1 / 2 gave actor 0.450 / 0.295 / 0.425 and Q-greedy
    0.905 / 0.730 / 0.875 -- too few updates for either actor; test_learning.py tests the
    distilling actor at lr 3e-3. The per-head logsumexp penalty these figures were measured with
    is pinned too."""
    catalog = make_toy_catalog(n_items=600)
    log = tmp_path / "log"
    collect(
        catalog, log, 300, 0, default_devices(), chunk_sessions=100, progress=False, bank=toy_bank
    )
    test = BatchedSimulator(catalog, "test", toy_bank)
    rec = Recommender(catalog, copy.deepcopy(toy_encoder), RecommenderConfig(), seed=0)
    assert rec.config.slot_features
    options = {"n_dialogues": 32, "alpha": 1.0, "actor_loss": "reverse_kl", "penalty": "logsumexp"}
    learner = LEARNERS["cql"].build(rec, options, seed=0)
    fit(learner, LogDialogues(log, catalog, rec.vocab, 32), n_steps=80, progress=False, seed=0)
    chance = evaluate(RandomPolicy(catalog), test, 200, seed=0).sr_at_10.mean
    actor = evaluate(learner.policy(), test, 200, seed=0).sr_at_10.mean
    q_greedy = evaluate(rec.policy(heads="q"), test, 200, seed=0).sr_at_10.mean
    assert actor >= chance + 0.05 and q_greedy >= chance + 0.4, (chance, actor, q_greedy)
