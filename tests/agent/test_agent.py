"""The recommender agent: shapes, causality, live acting = unroll, checkpoints, one conversation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import make_toy_catalog
from textrec.agent import Acting, Dialogues, Recommender, StateTracker, sample_values
from textrec.agent.tracker import slot_features
from textrec.evaluation import evaluate
from textrec.learners.batches import SimulatorEpisodes
from textrec.simulator.rollout import play


def random_dialogues(catalog, bank, n: int = 5, turns: int = 7, seed: int = 0) -> Dialogues:
    """Random padded dialogues over the catalog with bank sentences (dictionary-encoded)."""
    rng = np.random.default_rng(seed)
    n_turns = rng.integers(1, turns + 1, n)
    n_turns[0] = turns
    mask = np.arange(turns)[None, :] < n_turns[:, None]
    items = np.where(mask, rng.integers(0, catalog.n_items, (n, turns)), -1)
    feedback = np.where(mask, rng.integers(0, len(bank.texts), (n, turns)), -1)
    return Dialogues(
        items=items,
        feedback=feedback,
        opening=np.full(n, -1),
        n_turns=n_turns,
        tokens=bank.tokens.astype(np.int64),
        lengths=bank.lengths.astype(np.int64),
    )


def test_shapes(make_recommender, toy_catalog, toy_bank):
    rec = make_recommender()
    d = random_dialogues(toy_catalog, toy_bank)
    states = rec.unroll(d)
    assert states.shape == (5, 8, rec.state_dim)
    logits = rec.head_logits(states)
    q = rec.q(states)
    assert [lg.shape[-1] for lg in logits] == list(toy_catalog.schema.sizes)
    assert [x.shape for x in q] == [(5, 8, s) for s in toy_catalog.schema.sizes]
    assert rec.items(torch.tensor([[3, -1]])).shape == (1, 2, rec.config.item_dim)
    values = sample_values([lg[:, 0] for lg in logits], torch.Generator().manual_seed(0))
    assert values.shape == (5, 3) and (values < torch.tensor(toy_catalog.schema.sizes)).all()


def test_no_item_has_its_own_embedding(make_recommender):
    rec = make_recommender()
    with torch.no_grad():
        rec.items.no_item.fill_(7.0)
    out = rec.items(torch.tensor([-1, 0]))
    assert torch.equal(out[0], torch.full((rec.config.item_dim,), 7.0))
    assert not torch.equal(out[1], out[0])


def test_state_at_turn_t_ignores_later_turns(make_recommender, toy_catalog, toy_bank):
    rec = make_recommender()
    d = random_dialogues(toy_catalog, toy_bank, turns=9)
    changed = random_dialogues(toy_catalog, toy_bank, turns=9, seed=1)
    for t in (0, 3, 8):
        mixed = Dialogues(
            items=np.concatenate([d.items[:, :t], changed.items[:, t:]], axis=1),
            feedback=np.concatenate([d.feedback[:, :t], changed.feedback[:, t:]], axis=1),
            opening=d.opening,
            n_turns=np.full(5, 9),
            tokens=d.tokens,
            lengths=d.lengths,
        )
        full = Dialogues(d.items, d.feedback, d.opening, np.full(5, 9), d.tokens, d.lengths)
        a, b = rec.unroll(full), rec.unroll(mixed)
        torch.testing.assert_close(a[:, : t + 1], b[:, : t + 1], rtol=0, atol=0)
        assert not torch.allclose(a[:, t + 1 :], b[:, t + 1 :])


def test_step_by_step_equals_unroll(make_recommender, toy_catalog, toy_bank):
    rec = make_recommender()
    d = random_dialogues(toy_catalog, toy_bank)
    codes = torch.cat([rec.sentence_codes(d), torch.zeros(1, rec.text.out_dim)])
    state = rec.tracker.initial_state(5)
    unrolled = rec.unroll(d)
    for t in range(d.items.shape[1]):
        state = rec.tracker.step(
            state,
            codes[torch.as_tensor(d.feedback[:, t])],
            rec.items(torch.as_tensor(d.items[:, t])),
        )
        tracked = unrolled[:, t + 1, : rec.tracker.state_dim]
        torch.testing.assert_close(state, tracked, rtol=1e-5, atol=1e-6)


def test_opening_utterance_changes_only_its_dialogue(make_recommender, toy_catalog, toy_bank):
    rec = make_recommender()
    d = random_dialogues(toy_catalog, toy_bank)
    opened = Dialogues(
        d.items, d.feedback, np.array([4, -1, -1, -1, -1]), d.n_turns, d.tokens, d.lengths
    )
    a, b = rec.unroll(d), rec.unroll(opened)
    assert not torch.allclose(a[0], b[0])
    torch.testing.assert_close(a[1:], b[1:], rtol=0, atol=0)


def test_live_policy_chooses_what_the_unroll_of_its_dialogues_gives(make_recommender, test_sim):
    """The batch Policy (turn by turn) and the learners' unroll (whole dialogues) agree."""
    rec = make_recommender()
    policy = rec.policy(greedy="values")
    batch = SimulatorEpisodes(test_sim, policy, 16).sample(np.random.default_rng(3))
    with torch.no_grad():
        logits = rec.head_logits(rec.unroll(batch.dialogues)[:, :-1])
    greedy = torch.stack([lg.argmax(-1) for lg in logits], dim=-1).numpy()
    mask = batch.dialogues.mask
    assert mask.sum() > 16
    np.testing.assert_array_equal(greedy[mask], batch.actions[mask])


def test_same_seed_same_weights(make_recommender):
    a, b, c = make_recommender(seed=3), make_recommender(seed=3), make_recommender(seed=4)
    for (name, pa), pb, pc in zip(
        a.named_parameters(), b.parameters(), c.parameters(), strict=True
    ):
        assert torch.equal(pa, pb), name
        if not name.startswith("language.") and pa.dim() >= 2:
            assert not torch.equal(pa, pc), name


def test_checkpoint_round_trip_gives_identical_actions(
    make_recommender, toy_catalog, test_sim, tmp_path
):
    rec = make_recommender(seed=5)
    rec.save(tmp_path / "rec")
    rec.save(tmp_path / "rec")  # replacing is atomic and leaves nothing else behind
    assert [p.name for p in tmp_path.iterdir()] == ["rec"]
    again = Recommender.load(tmp_path / "rec", toy_catalog)
    a = evaluate(rec.policy(), test_sim, 64, seed=1)
    b = evaluate(again.policy(), test_sim, 64, seed=1)
    np.testing.assert_array_equal(a.curve, b.curve)
    assert a.nv.mean == b.nv.mean
    for pa, pb in zip(rec.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    assert again.config == rec.config


def test_loading_with_another_catalog_fails(make_recommender, tmp_path):
    make_recommender().save(tmp_path / "rec")
    other = make_toy_catalog(seed=1)
    with pytest.raises(ValueError, match="fingerprint"):
        Recommender.load(tmp_path / "rec", other)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"feedback": np.zeros((2, 2), dtype=np.int64)}, "feedback has shape"),
        ({"n_turns": np.array([4, 1])}, "n_turns must lie"),
        ({"opening": np.array([9, -1])}, "outside 0..2"),
    ],
)
def test_bad_dialogues_are_rejected(change, match):
    fields = dict(
        items=np.zeros((2, 3), dtype=np.int64),
        feedback=np.zeros((2, 3), dtype=np.int64),
        opening=np.full(2, -1),
        n_turns=np.array([3, 1]),
        tokens=np.ones((3, 4), dtype=np.int64),
        lengths=np.full(3, 4),
    )
    fields.update(change)
    with pytest.raises(ValueError, match=match):
        Dialogues(**fields)


def test_tracker_state_size():
    tracker = StateTracker(text_dim=8, item_dim=4, fuse_hidden=16, n_slots=3, slot_dim=5)
    assert tracker.state_dim == 15
    out = tracker.unroll(torch.zeros(2, 6, 8), torch.zeros(2, 6, 4), tracker.initial_state(2))
    assert out.shape == (2, 7, 15)


def test_unroll_turns_gives_the_padded_unroll_states_at_real_turns(
    make_recommender, toy_catalog, toy_bank
):
    rec = make_recommender()
    d = random_dialogues(toy_catalog, toy_bank, n=6)
    d = Dialogues(
        d.items, d.feedback, np.array([3, -1, 7, -1, -1, 2]), d.n_turns, d.tokens, d.lengths
    )
    padded = rec.unroll(d)
    turns = rec.unroll_turns(d)
    rows, t = np.nonzero(d.mask)
    np.testing.assert_array_equal(turns.rows, rows)
    np.testing.assert_array_equal(turns.turns, t)
    torch.testing.assert_close(turns.states[turns.before], padded[rows, t], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(turns.states[turns.after], padded[rows, t + 1], rtol=1e-5, atol=1e-6)
    assert len(turns.states) == len(rows) + 6  # each state once


def test_compact_keeps_only_the_sentences_said(toy_catalog, toy_bank):
    d = random_dialogues(toy_catalog, toy_bank)
    opening = np.array([5, -1, -1, -1, -1])
    d = Dialogues(d.items, d.feedback, opening, d.n_turns, d.tokens, d.lengths)
    c = d.compact()
    said = np.unique(np.concatenate([d.feedback[d.feedback >= 0], [5]]))
    assert len(c.tokens) == len(said)
    mask = d.feedback >= 0
    np.testing.assert_array_equal(c.tokens[c.feedback[mask]], d.tokens[d.feedback[mask]])
    np.testing.assert_array_equal(c.tokens[c.opening[0]], d.tokens[5])
    assert (c.feedback[~mask] == -1).all() and (c.opening[1:] == -1).all()


class _Turns:
    """Recorder of :func:`play`: each session's shown item ids and the user's answers."""

    def __init__(self, catalog, n: int) -> None:
        self.ids = catalog.item_ids
        self.shown: list[list[str]] = [[] for _ in range(n)]
        self.said: list[list[str]] = [[] for _ in range(n)]

    def record(self, step) -> None:
        for r in step.rows:
            self.shown[r].append(str(self.ids[step.items[r]]))
            self.said[r].append(str(step.after.texts[r]))


@pytest.mark.parametrize("slot_features", [True, False])
def test_a_simulated_conversation_replayed_through_serve_gives_the_same_items(
    slot_features, make_recommender, toy_catalog, test_sim
):
    """The batched simulator policy, stepped with the simulator, and the same policy fed each
    conversation so far from its texts (serve's :class:`~textrec.serve.session.PolicyPicker`)
    make the same agent state (slot features included), so they choose the same item at every
    turn."""
    from textrec.serve.session import Context, PolicyPicker

    rec = make_recommender(seed=2, slot_features=slot_features)
    rec.acting = Acting(greedy="values")  # how both act: gathers and sums, bit for bit
    policy = rec.policy()
    n = 6
    turns = _Turns(toy_catalog, n)
    rng = np.random.default_rng(4)
    result = test_sim.reset(n, rng)
    policy.reset(n, rng)
    play(policy, test_sim, rec.retriever("test"), result, [turns])
    allowed = np.zeros(toy_catalog.n_items, dtype=bool)
    allowed[toy_catalog.pool("test")] = True
    contexts, want = [], []
    for shown, said in zip(turns.shown, turns.said, strict=True):
        for t in range(len(shown)):
            contexts.append(Context("", tuple(shown[:t]), tuple(said[:t]), allowed))
            want.append(shown[t])
    assert len(contexts) > 2 * n
    picker = PolicyPicker(toy_catalog, rec.policy, vocab=rec.vocab)
    assert picker.pick(contexts) == want


def test_slot_features_are_the_same_in_every_place_states_are_made(
    make_recommender, toy_catalog, toy_bank
):
    """``unroll``, ``unroll_turns`` and the step-by-step policy append the same slot features:
    the latest value heard per attribute (opening included) and the asked bits."""
    rec = make_recommender()
    d = random_dialogues(toy_catalog, toy_bank, n=6)
    d = Dialogues(
        d.items, d.feedback, np.array([3, -1, 7, -1, -1, 2]), d.n_turns, d.tokens, d.lengths
    )
    width = rec.tracker.state_dim
    codes = rec.sentence_codes(d)
    heard = rec.heard_requests(d, codes)
    features = slot_features(heard, tuple(toy_catalog.schema.sizes))
    unrolled = rec.unroll(d)
    assert unrolled.shape[-1] == width + toy_catalog.schema.n_values + 3
    torch.testing.assert_close(unrolled[..., width:], features, rtol=0, atol=0)
    turns = rec.unroll_turns(d)
    torch.testing.assert_close(turns.states[: len(d.items), width:], features[:, 0])
    torch.testing.assert_close(
        turns.states[turns.after, width:], features[turns.rows, turns.turns + 1]
    )
    # The opening's request is heard before the first item.
    said = rec.recognise(codes[[3]])
    offset = int(toy_catalog.schema.offsets[said.attribute[0]])
    assert unrolled[0, 0, width + offset + int(said.value[0])] == 1.0
    assert unrolled[1, 0, width:].sum() == 0


def test_without_slot_features_the_state_is_the_tracker_state(make_recommender, toy_catalog):
    rec = make_recommender(slot_features=False)
    assert rec.state_dim == rec.tracker.state_dim
    with_slots = make_recommender()
    schema = toy_catalog.schema
    assert with_slots.state_dim == rec.state_dim + schema.n_values + schema.n_attributes


def test_a_checkpoint_saved_before_the_slot_features_loads_as_it_was(
    make_recommender, toy_catalog, test_sim, tmp_path
):
    """A saved agent whose config has no ``slot_features`` and whose acting has no ``weights``
    (textrec before issue 15) loads with the tracker state alone and the asked-head weighting it
    was trained with, and plays the same sessions."""
    old = make_recommender(seed=5, slot_features=False)
    old.acting = Acting(weights="asked")
    old.save(tmp_path / "old")
    meta_path = tmp_path / "old" / "recommender.json"
    meta = json.loads(meta_path.read_text())
    del meta["config"]["slot_features"], meta["acting"]["weights"]
    meta_path.write_text(json.dumps(meta))
    again = Recommender.load(tmp_path / "old", toy_catalog)
    assert again.config.slot_features is False and again.acting.weights == "asked"
    a = evaluate(old.policy(), test_sim, 64, seed=1)
    b = evaluate(again.policy(), test_sim, 64, seed=1)
    np.testing.assert_array_equal(a.curve, b.curve)
