"""What a person talks to is what ``evaluate`` scored (issue 14): the same conversations through
serve's adapter (:class:`~textrec.serve.session.PolicyPicker`) and through the evaluation's
rollout (:func:`~textrec.simulator.rollout.play`) give the same actions and the same items, for
the slot-filler, the reader slot-filler and a (briefly pretrained, otherwise untrained) agent.

Items that tie in retrieval score (same labels) are told apart by float rounding, which depends
on the batch the scores were computed in: there the two items must score the same."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from textrec.catalog.builtin import build_builtin
from textrec.catalog.retrieval import DEFAULT_EPS, Action, Retriever
from textrec.evaluation import load_policy, make_simulator
from textrec.serve.session import Context, PolicyMemory, PolicyPicker, load_picker
from textrec.simulator.baselines import SlotFillerPolicy
from textrec.simulator.rollout import Step, play


class _Said:
    """Each turn's shown items, sentences and structured feedback, ``(B, T)``, and the actions."""

    def __init__(self) -> None:
        self.items: list[np.ndarray] = []
        self.texts: list[np.ndarray] = []
        self.structure: list[np.ndarray] = []
        self.actions: list[Action] = []

    def record(self, step: Step) -> None:
        after = step.after
        self.items.append(step.items.copy())
        self.actions.append(step.action)
        self.texts.append(np.where(step.items >= 0, after.texts, "").astype(object))
        said = (after.feedback_attribute, after.feedback_value, after.feedback_mode)
        self.structure.append(np.stack(said, axis=-1))


def _score(catalog, action: Action, item: int) -> float:
    """``sum_k w_k log(pi_k @ p_k(.|item))`` in float64 (the retriever's score, one row)."""
    probs = np.clip(catalog.value_probs[item], DEFAULT_EPS, 1.0).astype(np.float64)
    off = catalog.schema.offsets
    weights = np.ones((1, len(action.head_probs))) if action.weights is None else action.weights
    return sum(
        float(weights[0, k]) * np.log(float(h[0] @ probs[off[k] : off[k + 1]]))
        for k, h in enumerate(action.head_probs)
    )


@pytest.fixture(scope="module")
def catalog():
    return build_builtin(n_items=1500, seed=0, feature_dim=8)


@pytest.fixture(scope="module")
def agent_dir(catalog, tmp_path_factory):
    """A saved agent: its text encoder briefly pretrained, the rest randomly initialised."""
    from textrec.agent import Recommender
    from textrec.language.corpus import build_corpus
    from textrec.language.encoder import EncoderConfig, pretrain_encoder

    text, _ = pretrain_encoder(build_corpus(catalog.schema), EncoderConfig(steps=60), seed=0)
    return Recommender(catalog, text, seed=0).eval().save(tmp_path_factory.mktemp("agent") / "a")


def _served_and_evaluated(which: str, catalog, agent_dir) -> tuple[PolicyPicker, object]:
    """Serve's picker and evaluate's policy for ``which``."""
    if which == "slot-filler":  # the structured slot-filler: served on a simulator's structure
        picker = PolicyPicker(catalog, functools.partial(SlotFillerPolicy, catalog))
        return picker, load_policy("slot-filler", catalog)
    if which == "reader":  # what `serve --policy slot-filler` serves
        return load_picker("slot-filler", catalog), load_policy("reader", catalog)
    return load_picker(str(agent_dir), catalog), load_policy(str(agent_dir), catalog)


def _played(which: str, catalog, policy) -> tuple[list[list[Context]], list[list[str]], list]:
    """Simulated test-pool sessions played by ``policy`` through :func:`play`: per session, the
    :class:`Context` before each of its turns, the item it showed and the action it took."""
    sessions = 24 if which != "agent" else 8
    sim = make_simulator(catalog, "test", seed=0)
    rng = np.random.default_rng(7)
    result = sim.reset(sessions, rng)
    policy.reset(sessions, rng)
    said = _Said()
    play(policy, sim, Retriever(catalog, "test"), result, [said])
    items, texts = np.stack(said.items, axis=1), np.stack(said.texts, axis=1)
    structure = np.stack(said.structure, axis=1)
    assert any(texts[:, 0] != "")

    pool = np.zeros(catalog.n_items, dtype=bool)
    pool[catalog.pool("test")] = True
    ids = catalog.item_ids
    contexts, shown, evaluated = [], [], []
    for s in range(len(items)):
        turns = int((items[s] >= 0).sum())
        told = tuple(tuple(int(x) for x in f) for f in structure[s, :turns])
        prior = tuple(str(i) for i in ids[items[s, :turns]])
        contexts.append(
            [Context("", prior[:t], tuple(texts[s, :t]), pool, told[:t]) for t in range(turns)]
        )
        shown.append(list(prior))
        evaluated.append([said.actions[t].take(np.array([s])) for t in range(turns)])
    return contexts, shown, evaluated


def _rows(action: Action) -> list[Action]:
    return [action.take(np.array([i])) for i in range(action.n_sessions)]


def _same_actions(which: str, got: list[Action], want: list[Action]) -> None:
    """The same weights and head distributions, row for row (an agent's up to float rounding:
    its floats depend, in the last bits, on the batch)."""
    for here, there in zip(got, want, strict=True):
        pairs = zip(here.head_probs, there.head_probs, strict=True)
        for a, b in [(here.weights, there.weights), *pairs]:
            if which != "agent":
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def _same_items(which: str, catalog, served: list[str], shown: list[str], evaluated) -> None:
    """The served items are the shown ones, but for items that tie in score."""
    index = {item: i for i, item in enumerate(catalog.item_ids.tolist())}
    ties = [i for i, (a, b) in enumerate(zip(served, shown, strict=True)) if a != b]
    assert len(ties) < len(served) // 4
    for i in ties:
        got, want = (_score(catalog, evaluated[i], index[x]) for x in (served[i], shown[i]))
        tolerance = 1e-5 if which != "agent" else 1e-3
        assert abs(got - want) < tolerance, (i, served[i], shown[i], got, want)


@pytest.mark.parametrize("which", ["slot-filler", "reader", "agent"])
def test_serve_picks_the_items_the_evaluated_policy_showed(which, catalog, agent_dir):
    """Every conversation replayed from its opening, all turns of all sessions in one batch."""
    picker, policy = _served_and_evaluated(which, catalog, agent_dir)
    assert type(picker.policy) is type(policy)
    talks, shown, evaluated = _played(which, catalog, policy)
    contexts = [c for talk in talks for c in talk]
    assert len(contexts) > len(talks)
    evaluated = [a for actions in evaluated for a in actions]
    _same_actions(which, _rows(picker.action(contexts)), evaluated)
    shown = [x for items in shown for x in items]
    _same_items(which, catalog, picker.pick(contexts), shown, evaluated)


@pytest.mark.parametrize("which", ["slot-filler", "reader", "agent"])
def test_served_turn_by_turn_the_policy_takes_one_step_per_pick(which, catalog, agent_dir):
    """As a server serves them: the sessions' turns in batches, each conversation's policy memory
    kept between its picks (``Context.memory``). Each pick steps the policy once (no replay), and
    the actions and items are those of the replay and of the evaluation's rollout."""
    picker, policy = _served_and_evaluated(which, catalog, agent_dir)
    talks, shown, evaluated = _played(which, catalog, policy)
    replay, _ = _served_and_evaluated(which, catalog, agent_dir)
    steps, actions = [], []
    act, action = picker.policy.act, picker.action
    picker.policy.act = lambda result: steps.append(result.turn.copy()) or act(result)
    picker.action = lambda contexts: actions.append(action(contexts)) or actions[-1]
    memories = [PolicyMemory() for _ in talks]
    replayed, served, order = [], [], []
    for t in range(max(map(len, talks))):
        going = [s for s, talk in enumerate(talks) if len(talk) > t]
        steps.clear()
        served += picker.pick([dataclasses.replace(talks[s][t], memory=memories[s]) for s in going])
        assert len(steps) == 1 and (steps[0] == t).all()  # one step: turn t of every session
        replayed += _rows(replay.action([talks[s][t] for s in going]))
        order += [(s, t) for s in going]
    evaluated = [evaluated[s][t] for s, t in order]
    actions = [row for a in actions for row in _rows(a)]
    _same_actions(which, actions, replayed)
    _same_actions(which, actions, evaluated)
    _same_items(which, catalog, served, [shown[s][t] for s, t in order], evaluated)


def test_an_agent_served_hears_the_opening_as_its_learners_do(catalog, agent_dir):
    """Through the adapter, an opening sentence and feedback reach the agent's state as
    :meth:`Recommender.unroll` (the learners' path) builds it."""
    import torch

    from textrec.agent.tracker import Dialogues

    picker = load_picker(str(agent_dir), catalog)
    rec = picker.policy.recommender
    ids = catalog.item_ids
    talk = [
        ("I want boots", (1, 2), ("for women", "in red")),
        ("", (3,), ("in black",)),
        ("", (4, 5), ("", "with laces")),  # an item shown with nothing said about it
        ("sandals please", (), ()),
    ]
    contexts = [Context(o, tuple(str(ids[i]) for i in sh), fb) for o, sh, fb in talk]
    served = picker.action(contexts)
    for row, (c, (_, shown, _)) in enumerate(zip(contexts, talk, strict=True)):
        texts = [c.opening, *c.feedback]
        tokens, lengths = rec.front.encode_batch(texts, 16)  # as the agent hears them
        said = lengths > 0
        d = Dialogues(
            items=np.array([shown], dtype=np.int64).reshape(1, len(shown)),
            feedback=np.where(said[1:], np.arange(1, len(texts)), -1)[None, :],
            opening=np.array([0 if said[0] else -1]),
            n_turns=np.array([len(c.shown)]),
            tokens=tokens.astype(np.int64),
            lengths=lengths.astype(np.int64),
        )
        want = rec.act(rec.unroll(d)[:, -1], rec.acting, torch.Generator())
        for got, exp in zip(served.take(np.array([row])).head_probs, want.head_probs, strict=True):
            np.testing.assert_allclose(got, exp, rtol=0, atol=2e-6)
    opened = picker.action([Context("sandals please", (), ())]).head_probs
    silent = picker.action([Context("", (), ())]).head_probs
    assert any(not np.allclose(a, b) for a, b in zip(opened, silent, strict=True))
