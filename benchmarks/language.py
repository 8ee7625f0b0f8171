"""Language side: utterance-model perplexity, samples, encoder accuracy on unseen phrasings.

Usage::

    .venv/bin/python benchmarks/language.py --schema builtin
    .venv/bin/python benchmarks/language.py --schema zappos --data ../shared/data/ut-zap50k --minilm

``builtin`` is the paper's six attributes (official UT-Zappos50K vocabularies); ``zappos`` the
real-image catalog's category, subcategory, brand (685) and colour, read from the folder's
``image-catalog.csv`` (no images needed). Prints, with the wall time of each stage: corpus and
bank sizes; the utterance model's per-token perplexity on held-out phrasings (with a unigram
baseline) and sample sentences; the LSTM encoder's top-1 accuracy on held-out phrasings (all, and
paraphrases only); with ``--minilm`` the same for frozen all-MiniLM-L6-v2 + linear heads.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from textrec.catalog import Attribute, AttributeSchema
from textrec.catalog.builtin import BUILTIN_SCHEMA
from textrec.catalog.zappos import COLOUR_NAMES, OFFICIAL_VOCABULARIES
from textrec.language.bank import MODES
from textrec.language.corpus import build_corpus
from textrec.language.encoder import EncoderConfig, pretrain_encoder
from textrec.language.interpret import LSTMInterpreter, MiniLMInterpreter, evaluate_interpreter
from textrec.language.speech import build_sentence_bank
from textrec.language.utterance import UtteranceConfig, train_utterance_model


def zappos_schema(data: Path) -> AttributeSchema:
    """The real-image catalog's schema from ``image-catalog.csv`` (values in textrec's order)."""
    with open(data / "image-catalog.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    found = {c: {r[c] for r in rows} for c in ("Category", "SubCategory", "Brand")}

    def ordered(published: tuple[str, ...], seen: set[str]) -> tuple[str, ...]:
        return tuple(v for v in published if v in seen) + tuple(sorted(seen - set(published)))

    return AttributeSchema(
        (
            Attribute("category", ordered(OFFICIAL_VOCABULARIES["category"], found["Category"])),
            Attribute(
                "subcategory", ordered(OFFICIAL_VOCABULARIES["subcategory"], found["SubCategory"])
            ),
            Attribute("brand", tuple(sorted(found["Brand"]))),
            Attribute("colour", COLOUR_NAMES),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--schema", choices=("builtin", "zappos"), default="builtin", help="Which schema."
    )
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data/ut-zap50k"), help="UT-Zappos folder."
    )
    parser.add_argument(
        "--encoder-steps", type=int, default=EncoderConfig().steps, help="Encoder steps."
    )
    parser.add_argument(
        "--minilm", action="store_true", help="Also measure frozen MiniLM + linear heads."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of every model.")
    parser.add_argument(
        "--json", action="store_true", help="Print one JSON object instead of text."
    )
    args = parser.parse_args()
    schema = BUILTIN_SCHEMA if args.schema == "builtin" else zappos_schema(args.data)
    out: dict[str, object] = {"schema": args.schema, "n_values": schema.n_values}

    t = time.perf_counter()
    corpus = build_corpus(schema)
    out["corpus"] = {"sentences": len(corpus), "held_out": int(corpus.held_out.sum()),
                     "phrasings": len(corpus.phrasings), "vocab": len(corpus.vocab),
                     "seconds": time.perf_counter() - t}  # fmt: skip
    t = time.perf_counter()
    bank = build_sentence_bank(schema, n_variants=8, seed=args.seed)
    out["bank_templates"] = {"sentences": len(bank.texts), "seconds": time.perf_counter() - t}

    lm, lm_report = train_utterance_model(corpus, UtteranceConfig(), seed=args.seed)
    out["utterance"] = {k: v for k, v in vars(lm_report).items() if k != "losses"}
    t = time.perf_counter()
    model_bank = build_sentence_bank(schema, source="model", model=lm, n_variants=8, seed=args.seed)
    seconds = time.perf_counter() - t
    used = model_bank.texts[model_bank.index.ravel()]
    known = {t.lower(): bool(p) for t, p in zip(corpus.texts, corpus.paraphrase, strict=True)}
    names = {None: "novel", False: "template", True: "paraphrase"}
    kind = np.array([names[known.get(t.lower())] for t in used])
    shares = {f"share_{k}": float(np.mean(kind == k)) for k in ("template", "paraphrase", "novel")}
    out["bank_model"] = {"sentences": len(model_bank.texts), "seconds": seconds, **shares}
    rng = np.random.default_rng(args.seed)
    samples = []
    for v in rng.choice(schema.n_values, size=4, replace=False):
        for m in range(len(MODES)):
            attr, value = schema.value_name(int(v))
            for text in model_bank.texts[model_bank.index[v, m, :2]]:
                samples.append(f"[{attr}={value}, {MODES[m]}] {text}")
    out["samples"] = samples

    config = EncoderConfig(steps=args.encoder_steps)
    encoder, enc_report = pretrain_encoder(corpus, config, seed=args.seed)
    out["lstm"] = {k: v for k, v in vars(enc_report).items() if k != "losses"}
    out["lstm_eval"] = evaluate_interpreter(LSTMInterpreter(encoder), corpus.held())
    if args.minilm:
        t = time.perf_counter()
        heads = MiniLMInterpreter.fit(corpus, seed=args.seed)
        fit_seconds = time.perf_counter() - t
        minilm = evaluate_interpreter(heads, corpus.held())
        out["minilm_eval"] = {**minilm, "fit_seconds": fit_seconds}

    if args.json:
        print(json.dumps(out, indent=2, default=float))
        return
    for key, value in out.items():
        if key == "samples":
            print("samples (utterance model, source='model' bank):")
            for s in value:  # type: ignore[union-attr]
                print("   ", s)
        else:
            print(f"{key}: {json.dumps(value, default=float)}")


if __name__ == "__main__":
    main()
