"""Simulator speed: session-turns per second of the batched engine and of retrieval, per batch.

Two kinds of play, each turn timed in separate parts on the same state:

1. **random** sessions (random attribute values, so most last the full 50 turns):

   * ``engine``  ``BatchedSimulator.step`` (judge, reward, user comment, sentence, bookkeeping);
   * ``values``  ``Retriever.by_values`` for the random values (what the Gymnasium env does);
   * ``probs``   ``Retriever.by_probs`` for random Dirichlet distributions, new for every session
     and turn (the worst case for retrieval: a dense action never seen before);

2. **slot-filler** sessions (``--policy slot-filler``, the policy of the success-rate checks):
   ``engine``, ``policy`` (``SlotFillerPolicy.act``) and ``retrieval`` (``Retriever.retrieve`` of
   its action), ``engine+retrieval``, the figure of issue 19's targets, and ``step``, all three
   (a whole turn of the slot filler's sessions).

A session-turn is one running session taking one step. Rates are per second of wall time and, in
the JSON, per second of this process's CPU time (``*_cpu``), which a loaded machine distorts less.
Targets at batch 1024 on 2 cores: engine >= 100,000 session-turns/s (RecSim's interest-evolution
env: about 8,700 steps/s); engine + retrieval >= 300,000 built-in, >= 100,000 UT-Zappos.
``--profile`` prints where a step's time goes (cProfile, by own time).

    .venv/bin/python benchmarks/simulator_speed.py                         # built-in catalog
    .venv/bin/python benchmarks/simulator_speed.py --catalog ZDIR --policy slot-filler --profile
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from textrec.catalog.build import open_catalog
from textrec.catalog.retrieval import Retriever
from textrec.language.speech import build_sentence_bank
from textrec.simulator import BatchedSimulator, StepResult
from textrec.simulator.baselines import SlotFillerPolicy


class Clock:
    """Wall and CPU seconds spent per named part."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
        self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu

    def rates(self, turns: int, parts: dict[str, tuple[str, ...]]) -> dict[str, float]:
        """Session-turns per wall and per CPU second of each sum of parts."""
        out = {}
        for label, names in parts.items():
            out[f"{label}_turns_per_s"] = turns / sum(self.wall[n] for n in names)
            out[f"{label}_turns_per_s_cpu"] = turns / sum(self.cpu[n] for n in names)
        return out


Play = tuple[Callable[[], None], Callable[[StepResult, np.ndarray], np.ndarray], dict]
"""``(reset, choose, parts)``: what a kind of play does at a reset, how it chooses the items of
the running sessions ``rows`` (timing its parts), and the sums of parts to report."""


def random_play(
    sim: BatchedSimulator, retriever: Retriever, batch: int, rng: np.random.Generator, clock: Clock
) -> Play:
    """Random values (shown) and random Dirichlet distributions (retrieved, not shown)."""
    sizes = np.asarray(sim.catalog.schema.sizes)

    def choose(result: StepResult, rows: np.ndarray) -> np.ndarray:
        excluded = sim.shown[rows]
        values = rng.integers(0, sizes, size=(len(rows), len(sizes)))
        heads = [rng.dirichlet(np.ones(s), size=len(rows)).astype(np.float32) for s in sizes]
        with clock.part("values"):
            chosen = retriever.by_values(values, excluded)
        with clock.part("probs"):
            retriever.by_probs(heads, excluded)
        return chosen

    parts = {"engine": ("engine",), "values": ("values",), "probs": ("probs",)}
    return lambda: None, choose, parts | {"engine+probs": ("engine", "probs")}


def slot_filler_play(
    sim: BatchedSimulator, retriever: Retriever, batch: int, rng: np.random.Generator, clock: Clock
) -> Play:
    """The slot filler's choices, retrieved."""
    policy = SlotFillerPolicy(sim.catalog)

    def choose(result: StepResult, rows: np.ndarray) -> np.ndarray:
        with clock.part("policy"):
            action = policy.act(result).take(rows)
        with clock.part("retrieval"):
            return retriever.retrieve(action, sim.shown[rows])

    parts = {"engine": ("engine",), "policy": ("policy",), "retrieval": ("retrieval",)}
    parts["engine+retrieval"] = ("engine", "retrieval")
    parts["step"] = ("engine", "policy", "retrieval")
    return lambda: policy.reset(batch, rng), choose, parts


PLAYS = {"random": random_play, "slot-filler": slot_filler_play}


def measure(
    sim: BatchedSimulator, retriever: Retriever, batch: int, seconds: float, seed: int, play: str
) -> dict:
    """Play ``play`` sessions for about ``seconds``; session-turns/s of each timed part."""
    rng = np.random.default_rng(seed)
    clock = Clock()
    reset, choose, parts = PLAYS[play](sim, retriever, batch, rng, clock)
    turns = steps = 0
    start = time.perf_counter()
    result = None
    while time.perf_counter() - start < seconds:
        if result is None or not result.active.any():
            result = sim.reset(batch, rng)
            reset()
        rows = np.flatnonzero(result.active)
        items = np.full(batch, -1, dtype=np.int64)
        items[rows] = choose(result, rows)
        with clock.part("engine"):
            result = sim.step(items)
        turns += len(rows)
        steps += 1
    row = {"play": play, "batch": batch, "session_turns": turns, "steps": steps}
    return row | clock.rates(turns, parts)


def profiled(run: Callable[[], dict], lines: int = 15) -> dict:
    """``run()`` under cProfile; the ``lines`` functions of most own time go to stderr."""
    profile = cProfile.Profile()
    row = profile.runcall(run)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(lines)
    return row


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
    parser.add_argument(
        "--policy",
        default="random",
        choices=["random", "slot-filler"],
        help="Who plays: random values (engine, by_values, by_probs) or the slot filler.",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile each batch (stderr).")
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
    cols = (
        ("engine", "values", "probs", "engine+probs")
        if args.policy == "random"
        else ("engine", "policy", "retrieval", "engine+retrieval", "step")
    )
    if not args.json:
        print(header)
        print(f"{'batch':>6} " + " ".join(f"{c:>16}" for c in cols) + "   session-turns/s (wall)")
    for batch in (int(b) for b in args.batches.split(",")):

        def run(batch: int = batch) -> dict:
            return measure(sim, retriever, batch, args.seconds, args.seed, args.policy)

        row = profiled(run) if args.profile else run()
        if args.json:
            print(json.dumps({"catalog": catalog.name, "pool": args.pool, **row}))
        else:
            print(f"{batch:>6} " + " ".join(f"{row[f'{c}_turns_per_s']:>16,.0f}" for c in cols))


if __name__ == "__main__":
    main()
