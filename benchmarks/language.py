"""Language side: the readers side by side on the held-out sentences, and the models behind them.

Usage::

    .venv/bin/python benchmarks/language.py --schema builtin --part readers
    .venv/bin/python benchmarks/language.py --schema zappos --data ../shared/data/ut-zap50k
    .venv/bin/python benchmarks/language.py --schema zappos --part models --minilm
    .venv/bin/python benchmarks/language.py --part acts --data ../shared/data/ut-zap50k

``--part readers`` (default) scores each reader (``--readers``, default all of
``textrec.language.reader.READERS``) on the hand-written held-out sentences (batch A; B, written
after the reader was corrected on A; C, written after its last correction, never used to change
it: the honest measure), on the ``free`` sentence bank (held-out free-form
phrasings, one request each) and on the ``templates`` bank: single-request sentences read
exactly, multi-attribute sentences fully right, accuracy per attribute. ``--part acts`` scores
the dialogue-act reader (:mod:`textrec.language.acts`) on ``acts.txt`` (batch A, the reader was
corrected on it) and ``acts_b.txt`` (batch B, written after its last correction): per group, the
share of sentences with the right act and exactly the labelled requests (``zappos`` lines need
``--data``; they are skipped without it). ``--part models``:

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
from textrec.language.acts import ActReader, act_labels, score_act
from textrec.language.bank import MODES
from textrec.language.corpus import build_corpus
from textrec.language.encoder import EncoderConfig, pretrain_encoder
from textrec.language.heldout import ACTS_PATH, SENTENCES_PATH, heldout_sentences, load_act_lines
from textrec.language.interpret import LSTMInterpreter, MiniLMInterpreter, evaluate_interpreter
from textrec.language.reader import READERS, evaluate_reader, load_reader
from textrec.language.speech import build_sentence_bank
from textrec.language.trainset import SentenceSet
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


def bank_sentences(schema: AttributeSchema, source: str, limit: int, seed: int) -> SentenceSet:
    """Up to ``limit`` distinct sentences of a sentence bank, each labelled with its one value."""
    bank = build_sentence_bank(schema, source=source, n_variants=8, seed=seed)
    value = np.broadcast_to(np.arange(schema.n_values)[:, None, None], bank.index.shape)
    ids, first = np.unique(bank.index.ravel(), return_index=True)
    rows = np.random.default_rng(seed).permutation(len(ids))[:limit]
    ids, labels = ids[rows], value.ravel()[first[rows]]
    wanted = np.zeros((len(ids), schema.n_values), dtype=bool)
    wanted[np.arange(len(ids)), labels] = True
    modes = np.zeros(len(ids), dtype=np.int64)
    return SentenceSet(schema, bank.texts[ids], wanted, np.zeros_like(wanted), modes)


def reader_table(args: argparse.Namespace, schema: AttributeSchema) -> list[dict[str, object]]:
    """One row per (reader, sentence set)."""
    sets = {
        "held-out A": heldout_sentences(schema, args.schema),
        "held-out B": heldout_sentences(
            schema, args.schema, SENTENCES_PATH.with_name("sentences_b.txt")
        ),
        "held-out C": heldout_sentences(
            schema, args.schema, SENTENCES_PATH.with_name("sentences_c.txt")
        ),
        "free bank": bank_sentences(schema, "free", args.bank_sentences, args.seed),
        "template bank": bank_sentences(schema, "templates", args.bank_sentences, args.seed),
    }
    rows = []
    for kind in args.readers.split(","):
        started = time.perf_counter()
        reader = load_reader(schema, kind, seed=args.seed, cache_dir=args.cache)
        load_seconds = time.perf_counter() - started
        for name, data in sets.items():
            sc = evaluate_reader(reader, data)
            rows.append({"reader": kind, "set": name, "n": sc.n, "single_exact": sc.single_exact,
                         "single_found": sc.single_found, "multi_exact": sc.multi_exact,
                         "nothing_right": sc.nothing_right, "per_attribute": sc.per_attribute,
                         "seconds": sc.seconds, "load_seconds": load_seconds})  # fmt: skip
    return rows


def act_table(args: argparse.Namespace) -> list[dict[str, object]]:
    """One row per (batch, group): sentences, share right, and the ones read wrong."""
    schemas = {"builtin": BUILTIN_SCHEMA}
    if (args.data / "image-catalog.csv").is_file():
        schemas["zappos"] = zappos_schema(args.data)
    readers = {name: ActReader(s) for name, s in schemas.items()}
    rows = []
    for batch, path in (("A", ACTS_PATH), ("B", ACTS_PATH.with_name("acts_b.txt"))):
        if not path.is_file():
            continue
        lines = [ln for ln in load_act_lines(path) if ln.schema in readers]
        groups: dict[str, list[tuple[bool, str]]] = {}
        for ln in lines:
            reading = readers[ln.schema].read_batch([ln.text])[0]
            right = score_act(ln.act, ln.labels, reading)
            wrong = "" if right else f"{ln.text!r} -> {reading.act} {sorted(act_labels(reading))}"
            groups.setdefault(ln.group, []).append((right, wrong))
        for group, got in groups.items():
            rows.append({"batch": batch, "group": group, "n": len(got),
                         "right": float(np.mean([r for r, _ in got])),
                         "wrong": [w for r, w in got if not r]})  # fmt: skip
    return rows


def print_reader_table(rows: list[dict[str, object]]) -> None:
    """The table: one line per reader and set."""
    print(f"{'reader':<15} {'set':<14} {'n':>5} {'single':>7} {'found':>6} {'multi':>6} "
          f"{'none':>5}  per attribute (exact)")  # fmt: skip
    for r in rows:
        attrs = " ".join(f"{k}={v:.2f}" for k, v in r["per_attribute"].items())  # type: ignore[union-attr]
        print(f"{r['reader']:<15} {r['set']:<14} {r['n']:>5} {r['single_exact']:>7.3f} "
              f"{r['single_found']:>6.3f} {r['multi_exact']:>6.3f} {r['nothing_right']:>5.2f}  "
              f"{attrs}")  # fmt: skip


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
        "--part", choices=("readers", "models", "acts"), default="readers", help="What to measure."
    )
    parser.add_argument(
        "--readers", default=",".join(READERS), help="Comma-separated readers to compare."
    )
    parser.add_argument(
        "--bank-sentences", type=int, default=1000, help="Bank sentences scored per source."
    )
    parser.add_argument("--cache", type=Path, default=None, help="Model cache folder.")
    parser.add_argument(
        "--json", action="store_true", help="Print one JSON object instead of text."
    )
    args = parser.parse_args()
    if args.part == "acts":
        rows = act_table(args)
        if args.json:
            print(json.dumps(rows, indent=2))
            return
        for r in rows:
            print(f"batch {r['batch']} {r['group']:<15} n={r['n']:>3} right={r['right']:.3f}")
            for w in r["wrong"]:  # type: ignore[attr-defined]
                print(f"    {w}")
        return
    schema = BUILTIN_SCHEMA if args.schema == "builtin" else zappos_schema(args.data)
    if args.part == "readers":
        rows = reader_table(args, schema)
        if args.json:
            print(json.dumps(rows, indent=2, default=float))
        else:
            print_reader_table(rows)
        return
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
