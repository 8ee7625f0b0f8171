"""The held-out set is never trained on; the training set; the free-form sentence bank."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from textrec.catalog.builtin import BUILTIN_SCHEMA
from textrec.language.bank import MODES
from textrec.language.corpus import build_corpus
from textrec.language.heldout import (
    FREE_PATH,
    SENTENCES_PATH,
    heldout_sentences,
    load_free_phrasings,
    load_heldout_lines,
)
from textrec.language.lexicon import phrase_key
from textrec.language.speech import build_sentence_bank
from textrec.language.templates import load_phrasings
from textrec.language.trainset import (
    HELDOUT_DIR,
    add_typo,
    build_training_set,
    check_training_path,
    load_train_phrasings,
)

from .conftest import SIX

LANGUAGE = Path(__file__).resolve().parents[2] / "src" / "textrec" / "language"
BATCH_B = SENTENCES_PATH.with_name("sentences_b.txt")
BATCH_C = SENTENCES_PATH.with_name("sentences_c.txt")


def _heldout_texts() -> set[str]:
    lines = load_heldout_lines() + load_heldout_lines(BATCH_B) + load_heldout_lines(BATCH_C)
    return {phrase_key(line.text) for line in lines}


def test_training_code_cannot_load_the_held_out_folder():
    for path in (FREE_PATH, SENTENCES_PATH, HELDOUT_DIR / "anything.json"):
        with pytest.raises(ValueError, match="never used for training"):
            check_training_path(path)
        with pytest.raises(ValueError, match="never used for training"):
            load_train_phrasings(path)


def test_no_training_module_imports_the_held_out_loader():
    """Only measurement and the 'free' sentence source may import textrec.language.heldout."""
    allowed = {"heldout.py", "speech.py"}
    for path in LANGUAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }
        if "textrec.language.heldout" in names:
            assert path.name in allowed, f"{path.name} imports the held-out loader"


def test_held_out_sentences_share_no_sentence_with_any_training_text():
    held = _heldout_texts()
    training = build_training_set(BUILTIN_SCHEMA, n=3000, seed=0)
    assert not held & {phrase_key(t) for t in training.texts}
    corpus = build_corpus(BUILTIN_SCHEMA)
    assert not held & {phrase_key(t) for t in corpus.texts}


def test_free_bank_shares_no_sentence_or_frame_with_training():
    free = load_free_phrasings().phrasings
    train_frames = set()
    for phr in (load_phrasings(Path(LANGUAGE.parent / "data" / n)) for n in
                ("templates.json", "paraphrases.json", "train_phrasings.json")):  # fmt: skip
        for a in BUILTIN_SCHEMA.attributes:
            for m in range(len(MODES)):
                train_frames |= {phrase_key(t) for t in phr.phrasings(a, m)}
    for a in BUILTIN_SCHEMA.attributes:
        for m in range(len(MODES)):
            assert not {phrase_key(t) for t in free.phrasings(a, m)} & train_frames
    bank = build_sentence_bank(BUILTIN_SCHEMA, source="free", seed=0)
    corpus = build_corpus(BUILTIN_SCHEMA)
    training = build_training_set(BUILTIN_SCHEMA, n=3000, seed=0)
    seen = {phrase_key(t) for t in corpus.texts} | {phrase_key(t) for t in training.texts}
    assert not {phrase_key(t) for t in bank.texts} & seen


def test_free_bank_shape_names_every_value_and_is_seeded():
    bank = build_sentence_bank(SIX, source="free", n_variants=6, seed=1)
    assert bank.source == "free" and bank.index.shape == (SIX.n_values, len(MODES), 6)
    assert bank.index.min() >= 0 and bank.index.max() < len(bank.texts)
    again = build_sentence_bank(SIX, source="free", n_variants=6, seed=1)
    assert (again.index == bank.index).all() and list(again.texts) == list(bank.texts)
    other = build_sentence_bank(SIX, source="free", n_variants=6, seed=2)
    assert list(other.texts[other.index.ravel()]) != list(bank.texts[bank.index.ravel()])
    wife = bank.texts[bank.index[SIX.value_index("gender", "Women")].ravel()]
    assert any("wife" in t or "mum" in t or "lady" in t for t in wife)
    decoded = [bank.vocab.decode(bank.tokens[i, : bank.lengths[i]]) for i in range(3)]
    assert all(decoded)


def test_heldout_sentences_keep_what_the_schema_has():
    full = heldout_sentences(BUILTIN_SCHEMA, "builtin")
    assert len(full) == sum(1 for line in load_heldout_lines() if line.schema == "builtin")
    small = heldout_sentences(SIX, "builtin")
    assert 0 < len(small) < len(full)
    assert (small.n_requests >= 2).any() and (small.rejected.any(1)).any()
    with pytest.raises(ValueError, match="which must be one of"):
        heldout_sentences(SIX, "paper")


def test_bad_heldout_lines_are_named(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("builtin | boots\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected"):
        load_heldout_lines(bad)
    bad.write_text("paper | boots | category=Boots\n")
    with pytest.raises(ValueError, match="schema must be one of"):
        load_heldout_lines(bad)
    bad.write_text("builtin | boots | category\n")
    with pytest.raises(ValueError, match="is not attribute=value"):
        load_heldout_lines(bad)


def test_training_set_is_seeded_labelled_and_varied():
    a = build_training_set(SIX, n=400, seed=3)
    b = build_training_set(SIX, n=400, seed=3)
    assert list(a.texts) == list(b.texts) and (a.wanted == b.wanted).all()
    assert (a.n_requests >= 1).all() and (a.n_requests >= 2).mean() > 0.2
    assert a.rejected.any(1).mean() > 0.03
    assert len(set(a.texts)) > 350
    with pytest.raises(ValueError, match="multi_share"):
        build_training_set(SIX, n=10, multi_share=2.0)


def test_add_typo_changes_one_letter_or_so():
    rng = np.random.default_rng(0)
    for word in ("sneakers", "velcro", "burgundy"):
        typo = add_typo(word, rng)
        assert typo != word and abs(len(typo) - len(word)) <= 1 and typo[0] == word[0]
    assert add_typo("a", rng) == "a" and add_typo("3in", rng) == "3in"


def test_cli_simulate_speaks_free_and_the_reader_policy_reads_it(tmp_path):
    import json

    from typer.testing import CliRunner

    from tests.conftest import make_toy_catalog
    from textrec.cli import app

    folder = make_toy_catalog().save(tmp_path / "toy")
    options = ["simulate", "--catalog", str(folder), "--sessions", "60", "--pool", "train"]
    result = CliRunner().invoke(
        app, [*options, "--utterances", "free", "--policy", "reader", "--show", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["utterances"] == "free" and out["policy"] == "reader"
    said = [t["text"] for t in out["dialogues"][0]["turns"] if t["text"]]
    free = {phrase_key(t) for t in build_sentence_bank(make_toy_catalog().schema,
                                                       source="free", seed=0).texts}  # fmt: skip
    assert said and all(phrase_key(t) in free for t in said)
