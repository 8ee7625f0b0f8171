"""The utterance-generation model: training, slot decoding, checkpoints, banks from the model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from textrec.catalog import Attribute, AttributeSchema
from textrec.language import utterance as utterance_module
from textrec.language.bank import MODES, NEGATE, REQUEST
from textrec.language.speech import build_sentence_bank
from textrec.language.templates import (
    load_templates,
    parse_phrasings,
    split_frame,
)
from textrec.language.tokenizer import UNK, tokenize
from textrec.language.utterance import (
    UtteranceConfig,
    UtteranceModel,
    frame_text,
    load_or_train,
    train_utterance_model,
)


def test_loss_decreases_and_held_out_perplexity_beats_unigram(toy_utterance):
    _, report = toy_utterance
    assert len(report.losses) == 20
    assert report.losses[-1] < 0.6 * report.losses[0]
    assert math.isfinite(report.held_out_perplexity)
    assert report.train_perplexity < report.held_out_perplexity
    assert report.held_out_perplexity < report.unigram_held_out_perplexity
    assert report.n_train_frames > report.n_held_out_frames > 0


def test_generated_frames_hold_exactly_one_slot_and_name_the_value(toy_utterance, toy_corpus):
    model, _ = toy_utterance
    schema = toy_corpus.schema
    values = np.repeat(np.arange(schema.n_values), 3 * 5)
    modes = np.tile(np.repeat(np.arange(3), 5), schema.n_values)
    frames = model.generate_frames(values, modes, seed=0)
    assert len(frames) == len(values)
    distinct = sorted(set(frames))
    # generated frames are valid templates (one {value}, a separate word) of known words
    as_file = {"format": "textrec-phrasings/1", "generic": dict.fromkeys(MODES, distinct)}
    parse_phrasings(as_file, "generated")
    for f in distinct:
        before, after = split_frame(f, "x")
        assert not (set(tokenize(before + after)) - set(model.vocab.tokens))
    sentences = model.generate("gender", "Women", 6, mode=NEGATE, seed=1)
    assert len(sentences) == 6 and all("women" in s.lower() for s in sentences)
    assert sentences == model.generate("gender", "Women", 6, mode=NEGATE, seed=1)
    assert sentences != model.generate("gender", "Women", 6, mode=NEGATE, seed=2)


def test_generation_follows_the_mode(toy_utterance, toy_corpus):
    model, _ = toy_utterance
    n = 40
    negate = model.generate_frames(np.zeros(n, int), np.full(n, NEGATE), seed=0)
    request = model.generate_frames(np.zeros(n, int), np.full(n, REQUEST), seed=0)
    negation_words = {"not", "no", "without", "don't", "nothing", "stop", "nope", "wrong", "isn't",
                      "won't", "can't", "aren't", "lacks", "except", "but", "only"}  # fmt: skip
    share = np.mean([bool(negation_words & set(tokenize(f))) for f in negate])
    share_request = np.mean([bool(negation_words & set(tokenize(f))) for f in request])
    assert share > 0.8 > 0.3 > share_request


def test_max_length_forces_the_slot(toy_corpus):
    model = UtteranceModel(UtteranceConfig(max_frame_len=3), toy_corpus.schema, toy_corpus.vocab)
    frames = model.generate_frames(
        np.arange(10), np.zeros(10, int), seed=0
    )  # untrained: random words
    assert all(
        f.count("{value}") == 1 and len(tokenize(f.replace("{value}", "x"))) <= 3 for f in frames
    )
    # per-row room: a row with room for one word says just the value
    frames = model.generate_frames(np.arange(10), np.zeros(10, int), seed=0, max_words=[1, 2] * 5)
    assert frames[0::2] == ["{value}"] * 5
    assert all(len(tokenize(f.replace("{value}", "x"))) <= 2 for f in frames[1::2])


def test_model_bank_leaves_room_for_long_values(toy_utterance):
    model, _ = toy_utterance
    schema = model.schema
    long_value = AttributeSchema(
        (
            *schema.attributes[:2],
            Attribute("toe_style", ("Round Toe", "Pointed Toe", "Open Toe&#174;")),
        )
    )
    model.schema = long_value  # same sizes, so the trained weights apply
    bank = build_sentence_bank(long_value, source="model", model=model, max_len=9, seed=0)
    model.schema = schema
    assert bank.lengths.max() <= 9
    texts = bank.texts[bank.index[long_value.value_index("toe_style", "Open Toe&#174;")].ravel()]
    assert all("open toe" in t.lower() and "&#174;" not in t for t in texts)


def test_frame_text_reads_like_a_template(toy_corpus):
    v = toy_corpus.vocab
    ids = [v.encode("i")[0], v.encode("want")[0], 4, v.encode(".")[0]]
    assert frame_text(ids, v) == "I want {value}."


def test_training_is_deterministic(toy_corpus):
    config = UtteranceConfig(epochs=2)
    a, ra = train_utterance_model(toy_corpus, config, seed=3)
    b, rb = train_utterance_model(toy_corpus, config, seed=3)
    c, rc = train_utterance_model(toy_corpus, config, seed=4)
    assert ra.losses == rb.losses and ra.losses != rc.losses
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_checkpoint_round_trip(tmp_path, toy_utterance, toy_corpus):
    model, report = toy_utterance
    path = model.save(tmp_path / "lm.pt", report)
    loaded, loaded_report = UtteranceModel.load(path)
    assert loaded_report == report
    assert loaded.vocab == model.vocab and loaded.schema == model.schema
    values, modes = np.arange(10), np.arange(10) % 3
    assert loaded.generate_frames(values, modes, seed=7) == model.generate_frames(
        values, modes, seed=7
    )
    assert loaded.perplexity(toy_corpus.held()) == pytest.approx(
        model.perplexity(toy_corpus.held())
    )
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write left no temporary file


def test_bad_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        UtteranceModel.load(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt: not a textrec checkpoint: 16 bytes that"):
        UtteranceModel.load(junk)
    other = tmp_path / "other.pt"
    torch.save({"type": "something else"}, other)
    with pytest.raises(ValueError, match="other.pt: not a textrec.UtteranceModel checkpoint"):
        UtteranceModel.load(other)


def test_bank_from_the_model_and_mixed(toy_utterance, toy_corpus):
    model, _ = toy_utterance
    schema, templates = toy_corpus.schema, load_templates()
    for source in ("model", "mix"):
        bank = build_sentence_bank(schema, source=source, model=model, n_variants=6, seed=0)
        assert bank.source == source and bank.index.shape == (schema.n_values, len(MODES), 6)
        assert bank.vocab == toy_corpus.vocab
        assert not (bank.tokens == UNK).any()
        for g in range(schema.n_values):
            attr, value = schema.value_name(g)
            surface = templates.surface(attr, value)
            assert all(surface.lower() in t.lower() for t in bank.texts[bank.index[g].ravel()])
    mixed = build_sentence_bank(schema, source="mix", model=model, n_variants=6, seed=0)
    plain = build_sentence_bank(schema, source="templates", n_variants=3, seed=0)
    assert np.array_equal(mixed.texts[mixed.index[:, :, :3]], plain.texts[plain.index])
    again = build_sentence_bank(schema, source="model", model=model, n_variants=6, seed=0)
    model_bank = build_sentence_bank(schema, source="model", model=model, n_variants=6, seed=0)
    assert np.array_equal(again.texts[again.index], model_bank.texts[model_bank.index])


def test_load_or_train_caches(tmp_path, monkeypatch, toy_corpus):
    config = UtteranceConfig(epochs=1)
    first = load_or_train(toy_corpus.schema, config=config, cache_dir=tmp_path)
    assert len(list((tmp_path / "language").glob("utterance-*.pt"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(utterance_module, "train_utterance_model", fail)
    second = load_or_train(toy_corpus.schema, config=config, cache_dir=tmp_path)
    for p, q in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, "UtteranceConfig.epochs must be >= 1"),
        ({"dropout": 1.0}, r"UtteranceConfig.dropout must be in \[0, 1\)"),
        ({"lr": 0.0}, "UtteranceConfig.lr must be > 0"),
        ({"max_frame_len": 1}, "UtteranceConfig.max_frame_len must be >= 2"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UtteranceConfig(**kwargs)


def test_bad_generation_input(toy_utterance):
    model, _ = toy_utterance
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.generate_frames([0], [0], temperature=0.0)
    with pytest.raises(ValueError, match="global value indices"):
        model.generate_frames([99], [0])
    with pytest.raises(ValueError, match="modes must be in"):
        model.generate_frames([0], [3])
    with pytest.raises(ValueError, match="unknown value"):
        model.generate("gender", "Aliens", 1)
