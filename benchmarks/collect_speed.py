"""Collection throughput of ``textrec.logs.collect``, with simulation and writing timed apart.

Usage::

    .venv/bin/python benchmarks/collect_speed.py --catalog builtin --sessions 4000 --workers 1 2

Prints, per worker count, the wall time and sessions/s of a whole ``collect`` call (process start-up
included), and for one chunk the time spent simulating (devices + retrieval + users) against the
time spent writing its two shards.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from textrec.catalog.build import open_catalog
from textrec.language.speech import build_sentence_bank
from textrec.logs.collect import _ChunkRunner, _Setup, collect
from textrec.logs.policies import default_devices
from textrec.logs.writer import write_chunk
from textrec.simulator.task import TaskConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalog", default="builtin", help="catalog spec (builtin, zappos, a saved dir)"
    )
    parser.add_argument("--data", default=None, help="UT-Zappos50K folder for --catalog zappos")
    parser.add_argument("--items", type=int, default=3000, help="items of the built-in catalog")
    parser.add_argument("--sessions", type=int, default=4000, help="sessions per collect call")
    parser.add_argument("--chunk-sessions", type=int, default=1000, help="sessions per chunk")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed")
    args = parser.parse_args()

    catalog = open_catalog(
        args.catalog, data=args.data, items=args.items, seed=args.seed, progress=False
    )
    bank = build_sentence_bank(catalog.schema, seed=args.seed)
    devices = default_devices()
    print(
        f"catalog {catalog.name}: {catalog.n_items} items, "
        f"train pool {len(catalog.pool('train'))}, "
        f"{len(devices)} devices, chunk {args.chunk_sessions} sessions"
    )

    with tempfile.TemporaryDirectory() as tmp:
        runner = _ChunkRunner(
            _Setup(catalog, bank, TaskConfig(), devices, args.seed, "round-robin", Path(tmp))
        )
        runner.rollout(0, 0, args.chunk_sessions)  # warm the devices' slot-pattern caches
        began = time.perf_counter()
        experience, oracle = runner.rollout(1, args.chunk_sessions, 2 * args.chunk_sessions)
        simulated = time.perf_counter() - began
        began = time.perf_counter()
        write_chunk(tmp, 1, experience, oracle)
        written = time.perf_counter() - began
        print(
            f"one chunk: simulate {simulated:.2f} s "
            f"({args.chunk_sessions / simulated:.0f} sessions/s, "
            f"{experience.n_rows} turns), write both shards {written:.3f} s"
        )

    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp:
            result = collect(
                catalog,
                Path(tmp) / "log",
                args.sessions,
                args.seed,
                devices,
                bank=bank,
                workers=workers,
                chunk_sessions=args.chunk_sessions,
                progress=False,
            )
        print(
            f"collect workers={workers}: {result.sessions_run} sessions, "
            f"{result.rows_run} turns in "
            f"{result.seconds:.1f} s = {result.sessions_per_second:.0f} sessions/s"
        )


if __name__ == "__main__":
    main()
