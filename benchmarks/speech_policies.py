"""Policies under template speech and free-form speech, side by side (SR@10/20/30, NI, NV).

Usage::

    .venv/bin/python benchmarks/speech_policies.py --catalog builtin --sessions 1000 --seed 0
    .venv/bin/python benchmarks/speech_policies.py --catalog builtin --agent RUN/final

Rows: the slot-filler (reads the simulator's structured feedback), the reader slot-filler (reads
the TEXT with the lexicon reader, as a chat with a person does) and, with ``--agent``, a saved
learned agent reading the text with its own LSTM encoder, and the same agent fed the lexicon
reader's rewriting of each sentence (:class:`textrec.language.rewrite.Rewriter`). Columns: the
simulated user speaks from the ``templates`` or from the held-out ``free`` phrasings.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from textrec.catalog.build import open_catalog
from textrec.evaluation import evaluate
from textrec.language.rewrite import Rewriter
from textrec.language.speech import build_sentence_bank
from textrec.simulator.baselines import make_policy
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.task import TaskConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default="builtin", help="'builtin' or a catalog folder.")
    parser.add_argument("--agent", type=Path, default=None, help="A saved recommender folder.")
    parser.add_argument("--sessions", type=int, default=1000, help="Test-pool sessions.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of sessions and banks.")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    args = parser.parse_args()
    cat = open_catalog(args.catalog, seed=args.seed, progress=False)
    policies = {"slot-filler (structured)": lambda: make_policy("slot-filler", cat),
                "reader slot-filler (text)": lambda: make_policy("reader", cat)}  # fmt: skip
    agent = None
    if args.agent is not None:
        from textrec.agent import Recommender

        agent = Recommender.load(args.agent, cat)
        policies["agent (its LSTM)"] = agent.policy
        policies["agent + lexicon rewrite"] = agent.policy
    rewriter = Rewriter(cat.schema)
    rows = []
    for source in ("templates", "free"):
        bank = build_sentence_bank(cat.schema, source=source, seed=args.seed)
        for name, make in policies.items():
            used = rewriter.bank(bank) if "rewrite" in name else bank
            sim = BatchedSimulator(cat, "test", used, TaskConfig(utterances=source))
            result = evaluate(make(), sim, args.sessions, args.seed)
            stats = {k: v for k, v in result.to_json().items() if k != "success_curve"}
            rows.append({"policy": name, "utterances": source, **stats})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{cat.name}: test pool, {args.sessions} sessions, seed {args.seed}")
    for r in rows:
        m = {k: r[k] for k in ("sr@10", "sr@20", "sr@30", "ni", "nv")}
        cells = "  ".join(f"{k}={v['mean']:.3f}±{v['se']:.3f}" for k, v in m.items())
        print(f"{r['policy']:<28} {r['utterances']:<10} {cells}")


if __name__ == "__main__":
    main()
