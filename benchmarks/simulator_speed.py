"""Simulator speed: session-turns per second of the batched engine and of retrieval, per batch.

Sessions are played by random attribute values (so most last the full 50 turns); each turn is
timed in three separate parts on the same state:

* ``engine``  ``BatchedSimulator.step`` (judge, reward, user comment, sentence, bookkeeping);
* ``values``  ``Retriever.by_values`` for the random values (what the Gymnasium env does);
* ``probs``   ``Retriever.by_probs`` for random per-attribute distributions (what a learned agent
  or the slot filler does).

A session-turn is one running session taking one step. Target: >= 100,000 session-turns/s for the
engine at batch 1024 on 2 cores (RecSim's interest-evolution env: about 8,700 steps/s).

    .venv/bin/python benchmarks/simulator_speed.py                         # built-in catalog
    .venv/bin/python benchmarks/simulator_speed.py --catalog /work/cache/zappos-full
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from textrec.catalog.build import open_catalog
from textrec.catalog.retrieval import Retriever
from textrec.language.speech import build_sentence_bank
from textrec.simulator import BatchedSimulator


def measure(
    sim: BatchedSimulator, retriever: Retriever, batch: int, seconds: float, seed: int
) -> dict:
    """Play random sessions for about ``seconds``; return session-turns/s of each timed part."""
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sim.catalog.schema.sizes)
    heads = [rng.dirichlet(np.ones(s), size=batch).astype(np.float32) for s in sizes]
    spent = {"engine": 0.0, "values": 0.0, "probs": 0.0, "reset": 0.0}
    turns = steps = resets = 0
    start = time.perf_counter()
    result = None
    while time.perf_counter() - start < seconds:
        if result is None or not result.active.any():
            t = time.perf_counter()
            result = sim.reset(batch, rng)
            spent["reset"] += time.perf_counter() - t
            resets += 1
        rows = np.flatnonzero(result.active)
        excluded = sim.shown[rows]
        values = rng.integers(0, sizes, size=(len(rows), len(sizes)))
        t = time.perf_counter()
        chosen = retriever.by_values(values, excluded)
        spent["values"] += time.perf_counter() - t
        t = time.perf_counter()
        retriever.by_probs([h[rows] for h in heads], excluded)
        spent["probs"] += time.perf_counter() - t
        items = np.full(batch, -1, dtype=np.int64)
        items[rows] = chosen
        t = time.perf_counter()
        result = sim.step(items)
        spent["engine"] += time.perf_counter() - t
        turns += len(rows)
        steps += 1
    rates = {f"{k}_turns_per_s": turns / v for k, v in spent.items() if k != "reset"}
    return {
        "batch": batch,
        "session_turns": turns,
        "steps": steps,
        "resets": resets,
        "reset_s": spent["reset"],
        **rates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--catalog",
        default="builtin",
        help="'builtin', 'zappos' (with --data) or a saved catalog dir.",
    )
    parser.add_argument("--data", default=None, help="UT-Zappos50K folder for --catalog zappos.")
    parser.add_argument("--items", type=int, default=3000, help="Items of the built-in catalog.")
    parser.add_argument(
        "--pool", default="test", choices=["test", "train"], help="Pool of the sessions."
    )
    parser.add_argument("--batches", default="1,64,1024", help="Comma-separated batch sizes.")
    parser.add_argument("--seconds", type=float, default=5.0, help="Time spent per batch size.")
    parser.add_argument(
        "--seed", type=int, default=0, help="Seed of catalog, sessions and actions."
    )
    parser.add_argument("--json", action="store_true", help="Print JSON lines instead of a table.")
    args = parser.parse_args()

    data = Path(args.data) if args.data else None
    catalog = open_catalog(
        args.catalog, data=data, items=args.items, seed=args.seed, progress=False
    )
    bank = build_sentence_bank(catalog.schema, seed=args.seed)
    sim = BatchedSimulator(catalog, args.pool, bank)
    retriever = Retriever(catalog, sim.pool)
    header = (
        f"catalog={catalog.name} items={catalog.n_items} pool={args.pool}({sim.n_pool}) "
        f"values={catalog.schema.n_values} feature_dim={catalog.feature_dim} cpus={os.cpu_count()} "
        f"load={os.getloadavg()[0]:.1f}"
    )
    if not args.json:
        print(header)
        print(f"{'batch':>6} {'engine':>12} {'by_values':>12} {'by_probs':>12}   session-turns/s")
    for batch in (int(b) for b in args.batches.split(",")):
        row = measure(sim, retriever, batch, args.seconds, args.seed)
        if args.json:
            print(json.dumps({"catalog": catalog.name, "pool": args.pool, **row}))
        else:
            rates = (row[f"{k}_turns_per_s"] for k in ("engine", "values", "probs"))
            print(f"{batch:>6} " + " ".join(f"{r:>12,.0f}" for r in rates))


if __name__ == "__main__":
    main()
