"""What a person talks to is what ``evaluate --policy reader`` scored (issue 14): the same
conversations through serve's picker and through the evaluation's rollout give the same items.

Items that tie in retrieval score (same labels) are told apart by float rounding, which depends
on the batch the scores were computed in: there the two items must score the same."""

from __future__ import annotations

import numpy as np

from textrec.catalog.builtin import build_builtin
from textrec.catalog.retrieval import DEFAULT_EPS, Action, Retriever
from textrec.evaluation import load_policy, make_simulator
from textrec.serve.session import Context, load_picker
from textrec.simulator.rollout import Step, play


class _Said:
    """Each turn's shown items and sentences, ``(B, T)``, and the policy's actions."""

    def __init__(self) -> None:
        self.items: list[np.ndarray] = []
        self.texts: list[np.ndarray] = []
        self.actions: list[Action] = []

    def record(self, step: Step) -> None:
        self.items.append(step.items.copy())
        self.actions.append(step.action)
        self.texts.append(np.where(step.items >= 0, step.after.texts, "").astype(object))


def _score(catalog, action: Action, item: int) -> float:
    """``sum_k w_k log(pi_k @ p_k(.|item))`` in float64 (the retriever's score, one row)."""
    probs = np.clip(catalog.value_probs[item], DEFAULT_EPS, 1.0).astype(np.float64)
    off = catalog.schema.offsets
    return sum(
        float(action.weights[0, k]) * np.log(float(h[0] @ probs[off[k] : off[k + 1]]))
        for k, h in enumerate(action.head_probs)
    )


def test_serve_picks_the_items_the_evaluated_policy_showed():
    catalog = build_builtin(n_items=1500, seed=0, feature_dim=8)
    policy = load_policy("reader", catalog)
    picker = load_picker("slot-filler", catalog)
    assert type(picker.policy) is type(policy)

    sim = make_simulator(catalog, "test", seed=0)
    rng = np.random.default_rng(7)
    result = sim.reset(24, rng)
    policy.reset(24, rng)
    said = _Said()
    play(policy, sim, Retriever(catalog, "test"), result, [said])
    items, texts = np.stack(said.items, axis=1), np.stack(said.texts, axis=1)

    pool = np.zeros(catalog.n_items, dtype=bool)
    pool[catalog.pool("test")] = True
    ids = catalog.item_ids
    contexts, shown, evaluated = [], [], []
    for s in range(len(items)):
        turns = int((items[s] >= 0).sum())
        for t in range(turns):
            prior = tuple(str(i) for i in ids[items[s, :t]])
            contexts.append(Context("", prior, tuple(texts[s, :t]), pool))
            shown.append(str(ids[items[s, t]]))
            evaluated.append(said.actions[t].take(np.array([s])))
    assert len(contexts) > 24 and any(texts[:, 0] != "")

    served_action = picker.action(contexts)
    for i, action in enumerate(evaluated):
        here = served_action.take(np.array([i]))
        np.testing.assert_array_equal(here.weights, action.weights)
        for got, want in zip(here.head_probs, action.head_probs, strict=True):
            np.testing.assert_array_equal(got, want)

    served = picker.pick(contexts)
    index = {item: i for i, item in enumerate(ids.tolist())}
    ties = [i for i, (a, b) in enumerate(zip(served, shown, strict=True)) if a != b]
    assert len(ties) < len(contexts) // 4
    for i in ties:
        got, want = (_score(catalog, evaluated[i], index[x]) for x in (served[i], shown[i]))
        assert abs(got - want) < 1e-5, (i, served[i], shown[i], got, want)
