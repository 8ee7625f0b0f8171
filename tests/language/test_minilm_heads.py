"""The MiniLM heads' skeleton (training, checkpoint) with a stand-in for the MiniLM embedding.

The real embedding needs the optional 'minilm' extra (``tests/language/test_minilm.py``); here a
bag-of-characters embedding stands in, so the shared training loop and checkpoint always run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from textrec.language.interpret import MiniLMConfig, MiniLMHeads, MiniLMInterpreter
from textrec.language.multilabel import MultiLabelConfig, MultiLabelMiniLM
from textrec.language.trainset import build_training_set


def _characters(texts, batch_size: int = 128) -> torch.Tensor:
    out = np.zeros((len(texts), MiniLMHeads.dim), dtype=np.float32)
    for i, text in enumerate(texts):
        np.add.at(out[i], [ord(c) % MiniLMHeads.dim for c in text.lower()], 1.0)
    return torch.as_tensor(out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9))


@pytest.fixture(autouse=True)
def _no_minilm(monkeypatch):
    monkeypatch.setattr(MiniLMHeads, "embed", staticmethod(_characters))


def test_interpreter_heads_learn_save_and_load(toy_corpus, tmp_path):
    config = MiniLMConfig(steps=60, max_sentences=400)
    model = MiniLMInterpreter.fit(toy_corpus, config, seed=0)
    again = MiniLMInterpreter.fit(toy_corpus, config, seed=0)
    for p, q in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(p, q)  # same seed, same heads
    texts = toy_corpus.texts[:50].tolist()
    right = model.predict(texts).value_log_probs.argmax(1) == toy_corpus.value[:50]
    assert right.mean() > 0.3  # far above chance over the toy schema's values
    loaded = MiniLMInterpreter.load(model.save(tmp_path / "heads.pt"))
    np.testing.assert_array_equal(
        loaded.predict(texts).value_log_probs, model.predict(texts).value_log_probs
    )
    with pytest.raises(ValueError, match="not a textrec.MultiLabelMiniLM checkpoint"):
        MultiLabelMiniLM.load(tmp_path / "heads.pt")


def test_multilabel_heads_learn_save_and_load(toy_corpus, tmp_path):
    data = build_training_set(toy_corpus.schema, n=400, seed=0)
    config = dataclasses.replace(MultiLabelConfig(), n_sentences=400, steps=60)
    model = MultiLabelMiniLM.fit(data, config, seed=0)
    texts = data.texts[:20].tolist()
    loaded = MultiLabelMiniLM.load(model.save(tmp_path / "multi.pt"))
    assert loaded.config == config and loaded.read_batch(texts) == model.read_batch(texts)
