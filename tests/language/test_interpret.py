"""Reading feedback sentences: hand-written sentences, the batch API, the CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_toy_catalog
from textrec.language import interpret as interpret_module
from textrec.language.interpret import (
    LSTMInterpreter,
    evaluate_interpreter,
    interpret,
    interpret_batch,
    load_interpreter,
)


@pytest.fixture(scope="module")
def toy_interpreter(toy_encoder):
    return LSTMInterpreter(toy_encoder[0])


@pytest.mark.parametrize(
    ("text", "attribute", "value", "negated"),
    [
        ("Please provide some shoes for women", "gender", "Women", False),
        ("I do not need the shoes without round toe", "toe_style", "Round Toe", True),
        ("show me some boots!", "category", "Boots", False),
        ("Do you have sandals?", "category", "Sandals", False),
        ("Nothing without a pointed toe, please.", "toe_style", "Pointed Toe", True),
        ("I'm shopping for girls", "gender", "Girls", False),
    ],
)
def test_hand_written_sentences(toy_interpreter, text, attribute, value, negated):
    schema = toy_interpreter.schema
    r = interpret(text, schema, interpreter=toy_interpreter)
    assert (r.attribute, r.value, r.negated) == (attribute, value, negated)
    assert r.value_index == schema.value_index(attribute, value)
    assert 0.5 < r.confidence <= 1.0
    assert r.alternatives[0].value == value and len(r.alternatives) == 3
    assert (
        r.alternatives[0].probability
        >= r.alternatives[1].probability
        >= r.alternatives[2].probability
    )


def test_batch_matches_single_and_accepts_a_catalog(toy_interpreter):
    catalog = make_toy_catalog()
    texts = ["I want boots.", "Again, shoes for men please.", "no open toe? I need open toe"]
    batch = interpret_batch(texts, catalog, interpreter=toy_interpreter, top_k=2)
    assert [b.text for b in batch] == texts
    assert all(len(b.alternatives) == 2 for b in batch)
    one = interpret(texts[1], catalog, interpreter=toy_interpreter, top_k=2)
    assert one.value == batch[1].value and one.confidence == pytest.approx(
        batch[1].confidence, rel=1e-5
    )
    assert batch[1].mode == "repeat"
    assert interpret_batch([], catalog, interpreter=toy_interpreter) == []


def test_unknown_words_still_get_an_answer(toy_interpreter):
    r = interpret("zzz qqq", toy_interpreter.schema, interpreter=toy_interpreter)
    assert r.value in {v for a in toy_interpreter.schema.attributes for v in a.values}
    assert 0.0 < r.confidence <= 1.0


def test_evaluate_interpreter_matches_encoder_report(toy_interpreter, toy_encoder, toy_corpus):
    acc = evaluate_interpreter(toy_interpreter, toy_corpus.held())
    assert acc["value"] == pytest.approx(toy_encoder[1].value_accuracy)
    assert acc["negation"] == pytest.approx(toy_encoder[1].negation_accuracy)


def test_bad_calls(toy_interpreter, six_schema):
    schema = toy_interpreter.schema
    with pytest.raises(ValueError, match="takes a list of sentences"):
        interpret_batch("I want boots", schema, interpreter=toy_interpreter)
    with pytest.raises(ValueError, match="takes one sentence"):
        interpret(["I want boots"], schema, interpreter=toy_interpreter)
    with pytest.raises(ValueError, match="trained for another schema"):
        interpret("I want boots", six_schema, interpreter=toy_interpreter)
    with pytest.raises(ValueError, match="backend must be one of"):
        load_interpreter(schema, "bert")
    with pytest.raises(ValueError, match="expected a Catalog or AttributeSchema"):
        interpret("I want boots", 42, interpreter=toy_interpreter)
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        interpret("I want boots", schema, interpreter=toy_interpreter, top_k=0)


def test_load_interpreter_uses_the_cached_encoder(tmp_path, monkeypatch, toy_encoder):
    model, report = toy_encoder
    calls = []

    def fake_load_or_pretrain(schema, *, seed, cache_dir):
        calls.append((seed, cache_dir))
        return model

    monkeypatch.setattr(interpret_module, "load_or_pretrain", fake_load_or_pretrain)
    interpret_module._cached_interpreter.cache_clear()
    a = load_interpreter(model.schema, seed=4, cache_dir=tmp_path)
    b = load_interpreter(model.schema, seed=4, cache_dir=tmp_path)
    assert a is b and calls == [(4, str(tmp_path))]  # kept in memory after the first load
    interpret_module._cached_interpreter.cache_clear()


def test_cli_interpret_with_the_lstm_reader(tmp_path, monkeypatch, toy_encoder):
    from typer.testing import CliRunner

    from textrec.cli import app

    folder = make_toy_catalog().save(tmp_path / "toy")
    monkeypatch.setattr(interpret_module, "load_or_pretrain", lambda schema, **kw: toy_encoder[0])
    interpret_module._cached_interpreter.cache_clear()
    options = ["interpret", "--catalog", str(folder), "--cache", str(tmp_path), "--reader", "lstm"]
    sentences = ["Please provide some shoes for women", "I do not need the shoes without boots"]
    result = CliRunner().invoke(app, [*options, "--json", *sentences])
    interpret_module._cached_interpreter.cache_clear()
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [o["requests"][0]["value"] for o in out] == ["Women", "Boots"]
    assert [o["requests"][0]["mode"] for o in out] == ["request", "negate"]
    assert not any(o["requests"][0]["negated"] for o in out)  # the simulator's reading
