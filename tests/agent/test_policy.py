"""Policy and Q heads: the tied readout scores values against the text encoder's value codes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrec.agent import GREEDY_MODES, Acting, RecommenderConfig
from textrec.agent.policy import PolicyHeads, QHeads, ValueReadout

SIZES = (3, 5, 2)


def test_tied_readout_scores_each_value_by_its_code():
    codes = torch.randn(sum(SIZES), 8)
    readout = ValueReadout(16, SIZES, codes)
    h = torch.randn(4, 16)
    scores = readout(h)
    assert [s.shape for s in scores] == [(4, v) for v in SIZES]
    query = readout.maps[1](h)
    assert torch.allclose(scores[1], query @ codes[3:8].T)  # bias starts at zero


def test_tied_readout_size_does_not_grow_with_the_vocabulary():
    def n_trained(sizes):
        heads = ValueReadout(16, sizes, torch.randn(sum(sizes), 8))
        return sum(p.numel() for p in heads.parameters() if p.requires_grad) - sum(sizes)

    assert n_trained((3, 5)) == n_trained((300, 685))


def test_value_codes_are_not_trained():
    heads = PolicyHeads(12, 16, SIZES, torch.randn(sum(SIZES), 8))
    names = {name for name, _ in heads.named_parameters()}
    assert not any("codes" in name for name in names)
    assert "heads.codes" in heads.state_dict()  # but saved with the weights


def test_untied_readout_is_linear_per_attribute():
    heads = QHeads(12, 16, SIZES)
    assert [q.shape for q in heads(torch.randn(2, 12))] == [(2, v) for v in SIZES]
    assert not heads.readout.tied


def test_codes_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="value_codes must be"):
        ValueReadout(16, SIZES, torch.randn(sum(SIZES) + 1, 8))


def test_unknown_readout_is_refused():
    with pytest.raises(ValueError, match="readout must be one of"):
        RecommenderConfig(readout="pointer")


def test_recommender_readout_is_tied_to_its_text_encoder(make_recommender, toy_encoder):
    tied, linear = make_recommender(), make_recommender(readout="linear")
    assert torch.equal(tied.actor.heads.codes, toy_encoder.value_head.weight)
    assert tied.q.readout.tied and not linear.actor.heads.tied


def test_text_encoder_of_another_schema_is_refused(toy_encoder):
    from textrec.agent import Recommender
    from textrec.catalog.builtin import build_builtin

    other = build_builtin(n_items=60, seed=0)
    with pytest.raises(ValueError, match="pretrained for attributes"):
        Recommender(other, toy_encoder)


def test_recognise_reads_what_the_bank_sentences_ask_for(make_recommender, toy_bank, toy_catalog):
    """The recogniser is the pretrained encoder's heads (held-out value accuracy ~0.98 on toy)."""
    rec = make_recommender()
    ids = toy_bank.index.reshape(toy_bank.index.shape[0], toy_bank.index.shape[1], -1)[..., 0]
    values, modes = np.nonzero(np.ones_like(ids, dtype=bool))  # every mode names the value
    rows = ids[values, modes]
    codes = rec.encode_text(
        torch.as_tensor(toy_bank.tokens[rows], dtype=torch.long),
        torch.as_tensor(toy_bank.lengths[rows], dtype=torch.long),
    )
    heard = rec.recognise(codes)
    schema = toy_catalog.schema
    attribute = schema.value_attribute[values]
    local = values - schema.offsets[attribute]
    assert (heard.attribute == attribute).mean() > 0.9
    assert ((heard.attribute == attribute) & (heard.value == local)).mean() > 0.8


def test_greedy_retrieval_weighs_asked_heads_above_guesses(make_recommender):
    """The slot reader's rule ('asked'): the asked head's probability, guesses at guess_weight."""
    rec = make_recommender(guess_weight=0.2)
    states = torch.randn(5, rec.state_dim)
    asked = torch.sigmoid(rec.heads(states).asked).detach().numpy()
    for greedy in GREEDY_MODES:
        action = rec.act(states, Acting(greedy=greedy, weights="asked"), torch.Generator())
        np.testing.assert_allclose(action.weights, asked + (1 - asked) * 0.2, rtol=1e-6)
    assert rec.act(states, Acting(sample=True), torch.Generator()).weights is None


@pytest.mark.parametrize("heads", ["actor", "q"])
def test_greedy_retrieval_weighs_each_head_by_its_confidence(make_recommender, heads):
    """The default weights come from the distributions acted from (no asked head): each head's
    largest probability; 'uniform' weighs them alike."""
    rec = make_recommender()
    states = torch.randn(5, rec.state_dim)
    logits = rec.q(states) if heads == "q" else rec.heads(states).logits
    top = np.stack([torch.softmax(lg, -1).max(-1).values.detach().numpy() for lg in logits], -1)
    action = rec.act(states, Acting(heads=heads), torch.Generator())
    np.testing.assert_allclose(action.weights, top, rtol=1e-6)
    assert (
        rec.act(states, Acting(heads=heads, weights="uniform"), torch.Generator()).weights is None
    )
    with pytest.raises(ValueError, match="Acting.weights must be one of"):
        Acting(weights="asked-head")


@pytest.mark.parametrize("weight", [0.0, 1.5])
def test_guess_weight_out_of_range_is_refused(weight):
    with pytest.raises(ValueError, match="guess_weight must be in"):
        RecommenderConfig(guess_weight=weight)
