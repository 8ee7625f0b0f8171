"""The paper's text encoder and its pretraining."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from textrec.language import encoder as encoder_module
from textrec.language.encoder import (
    EncoderConfig,
    PretrainedTextEncoder,
    TextEncoder,
    evaluate_encoder,
    init_parameters,
    load_or_pretrain,
    pretrain_encoder,
)


def test_sizes_are_the_papers():
    enc = TextEncoder(vocab_size=50)
    assert enc.embed.embedding_dim == 32
    assert enc.lstm.hidden_size == 128 and enc.lstm.input_size == 32
    assert (enc.linear.in_features, enc.linear.out_features) == (128, 32)
    assert EncoderConfig().lr == 1e-3


def test_forward_shape_and_padding_do_not_matter():
    enc = TextEncoder(vocab_size=20).eval()
    init_parameters(enc, torch.Generator().manual_seed(0))
    tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0], [0, 0, 0, 0, 0]])
    lengths = torch.tensor([3, 2, 0])
    out = enc(tokens, lengths)
    assert out.shape == (3, 32) and out.dtype == torch.float32
    wider = torch.cat([tokens, torch.zeros((3, 4), dtype=torch.long)], dim=1)
    torch.testing.assert_close(enc(wider, lengths), out)
    # only the first `length` words count
    garbage = tokens.clone()
    garbage[0, 3:] = 11
    torch.testing.assert_close(enc(garbage, lengths), out)
    # each sentence is encoded on its own (batching does not mix them)
    torch.testing.assert_close(enc(tokens[:1, :3], lengths[:1]), out[:1])


def test_pretraining_learns_on_unseen_phrasings(toy_encoder, toy_corpus):
    model, report = toy_encoder
    # stated bar for the toy schema (10 values), 300 steps: held-out phrasings only
    assert report.value_accuracy >= 0.9
    assert report.attribute_accuracy >= 0.9
    assert report.paraphrase_value_accuracy >= 0.85
    assert report.negation_accuracy >= 0.75
    assert report.n_held_out == int(toy_corpus.held_out.sum())
    assert report.losses[-1] < 0.5 * report.losses[0]
    # the report's figures are what evaluate_encoder measures on the held-out sentences
    assert evaluate_encoder(model, toy_corpus.held())["value"] == pytest.approx(
        report.value_accuracy
    )


def test_pretraining_is_deterministic(toy_corpus):
    config = EncoderConfig(steps=30)
    a, ra = pretrain_encoder(toy_corpus, config, seed=1)
    b, rb = pretrain_encoder(toy_corpus, config, seed=1)
    _, rc = pretrain_encoder(toy_corpus, config, seed=2)
    assert ra.losses == rb.losses and ra.losses != rc.losses
    for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q)


def test_checkpoint_round_trip(tmp_path, toy_encoder, toy_corpus):
    model, report = toy_encoder
    path = model.save(tmp_path / "enc.pt", report)
    loaded, loaded_report = PretrainedTextEncoder.load(path)
    assert loaded_report == report and loaded.vocab == model.vocab and loaded.schema == model.schema
    tokens, lengths = model.encode_texts(["I want boots.", "Do you have shoes for women?"])
    with torch.no_grad():
        a, b = model(tokens, lengths), loaded(tokens, lengths)
    torch.testing.assert_close(a.code, b.code)
    torch.testing.assert_close(a.value_logits, b.value_logits)


def test_wrong_checkpoint_type(tmp_path, toy_utterance):
    lm, _ = toy_utterance
    path = lm.save(tmp_path / "lm.pt")
    with pytest.raises(ValueError, match="not a textrec.PretrainedTextEncoder checkpoint"):
        PretrainedTextEncoder.load(path)


def test_load_or_pretrain_caches(tmp_path, monkeypatch, toy_corpus):
    config = EncoderConfig(steps=5)
    first = load_or_pretrain(toy_corpus.schema, config=config, cache_dir=tmp_path)
    assert len(list((tmp_path / "language").glob("encoder-*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("pretrained again instead of loading the cache")

    monkeypatch.setattr(encoder_module, "pretrain_encoder", fail)
    second = load_or_pretrain(toy_corpus.schema, config=config, cache_dir=tmp_path)
    for p, q in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    # another config is another model
    monkeypatch.setattr(encoder_module, "pretrain_encoder", pretrain_encoder)
    load_or_pretrain(
        toy_corpus.schema, config=dataclasses.replace(config, steps=6), cache_dir=tmp_path
    )
    assert len(list((tmp_path / "language").glob("encoder-*.pt"))) == 2


def test_value_log_probs_are_normalised(toy_encoder):
    model, _ = toy_encoder
    with torch.no_grad():
        out = model(*model.encode_texts(["I want boots.", "x"]))
    lp = out.value_log_probs(model.value_attribute)
    np.testing.assert_allclose(lp.exp().sum(-1).numpy(), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "EncoderConfig.steps must be >= 1"),
        ({"lr": -1.0}, "EncoderConfig.lr must be > 0"),
        ({"word_dropout": 1.0}, r"EncoderConfig.word_dropout must be in \[0, 1\)"),
        ({"value_share": 1.5}, r"EncoderConfig.value_share must be in \[0, 1\]"),
        ({"held_out_fraction": 1.0}, r"EncoderConfig.held_out_fraction must be in \[0, 1\)"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EncoderConfig(**kwargs)
