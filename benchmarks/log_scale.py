"""A log of a million sessions: collect it, stream it into ``cql``, report memory and throughput.

Usage::

    nice .venv/bin/python benchmarks/log_scale.py --sessions 1000000 --log runs/log1m --steps 200

Collects ``--sessions`` sessions of the heuristic behaviour devices on the built-in catalog with
the ``textrec collect`` machinery (``--workers`` processes, ``--chunk-sessions`` per shard; a log
already complete in ``--log`` is reused, and says so), then trains ``cql`` for ``--steps`` updates
through the training loop on :class:`~textrec.learners.batches.LogDialogues`, which streams a log
larger than its shuffle buffer (``--buffer-dialogues``). Prints one JSON line: collection
sessions/s, the source's set-up time (the one column pass), training steps/s and logged turns/s
(sampling included), and the peak resident memory of this process (collection coordination and
training) and of the collection workers.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000, help="sessions in the log")
    parser.add_argument("--log", required=True, help="log directory (reused when complete)")
    parser.add_argument("--items", type=int, default=3000, help="items of the built-in catalog")
    parser.add_argument("--workers", type=int, default=2, help="collection processes")
    parser.add_argument("--chunk-sessions", type=int, default=10_000, help="sessions per shard")
    parser.add_argument("--steps", type=int, default=200, help="cql updates")
    parser.add_argument(
        "--buffer-dialogues", type=int, default=100_000, help="shuffle buffer of the source"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed")
    args = parser.parse_args()

    from textrec.agent import Recommender
    from textrec.catalog.build import open_catalog
    from textrec.language.encoder import load_or_pretrain
    from textrec.learners.batches import LogDialogues
    from textrec.learners.loop import fitter
    from textrec.learners.registry import LEARNERS
    from textrec.logs.collect import collect
    from textrec.logs.policies import default_devices

    catalog = open_catalog("builtin", items=args.items, seed=args.seed, progress=False)
    collected = collect(
        catalog,
        args.log,
        args.sessions,
        args.seed,
        default_devices(),
        workers=args.workers,
        chunk_sessions=args.chunk_sessions,
        resume=True,
        progress=False,
    )

    encoder = load_or_pretrain(catalog.schema, seed=args.seed, progress=False)
    spec = LEARNERS["cql"]
    learner = spec.build(Recommender(catalog, encoder, seed=args.seed), seed=args.seed)
    began = time.perf_counter()
    source = LogDialogues(
        args.log,
        catalog,
        encoder.vocab,
        learner.config.n_dialogues,
        buffer_dialogues=args.buffer_dialogues,
    )
    set_up = time.perf_counter() - began
    began = time.perf_counter()
    turns, sample_s = 0, 0.0
    for _, metrics in fitter(learner, source, n_steps=args.steps, seed=args.seed, progress=False):
        turns += int(round(metrics["data/turns"] * learner.config.n_dialogues))
        sample_s += metrics["time/sample"]
    trained = time.perf_counter() - began

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    print(
        json.dumps(
            {
                "sessions": source.n_sessions,
                "logged_turns": source.n_logged_turns,
                "streamed": source.streamed,
                "buffer_dialogues": args.buffer_dialogues,
                "collect_sessions_run": collected.sessions_run,
                "collect_seconds": round(collected.seconds, 1),
                "collect_sessions_per_s": round(collected.sessions_per_second, 1)
                if collected.sessions_run
                else None,
                "source_set_up_s": round(set_up, 1),
                "train_steps": args.steps,
                "train_steps_per_s": round(args.steps / trained, 3),
                "train_logged_turns_per_s": round(turns / trained, 1),
                "sample_share": round(sample_s / trained, 3),
                "torch_threads": torch.get_num_threads(),
                "peak_rss_gib": round(own, 2),
                "collect_worker_peak_rss_gib": round(workers, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
