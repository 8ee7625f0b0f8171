"""Wall time of collect, evaluate and reproduce on each backend, with identical results checked.

Usage: ``python benchmarks/backends.py [--collect 4000] [--evaluate 1000] [--reproduce-seeds 2]
[--cpus 2] [--json]`` from the repository root (needs the ``ray`` extra). On the built-in catalog
(seed 0) it runs, one after the other: ``collect`` of ``--collect`` sessions in this process, in
a local pool of ``--cpus`` processes and on ``--cpus`` Ray actors; ``evaluate`` of the
slot-filler on ``--evaluate`` test-pool sessions in this process and on Ray; and ``reproduce
--quick --seeds N`` serially and on Ray (``--reproduce-seeds 0`` skips it). Ray runs on one local
cluster of ``--cpus`` CPUs started first (its start time is reported apart; the job times include
starting the actors and loading the catalog in each). Torch and BLAS run on one thread here, as
the CLI's default and every worker (other thread counts change training's float sums). Every
backend's result is checked equal to the in-process one: the log's shards table for table, the
evaluation's metrics and curve, every reproduce row (all but its wall time). Exit 1 when any
differs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq


def _timed(fn: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    out = fn()
    return time.perf_counter() - began, out


def _tables(log: Path) -> dict[str, Any]:
    from textrec.logs.reader import list_shards

    return {
        f"{kind}/{p.name}": pq.read_table(p)
        for kind in ("experience", "oracle")
        for p in list_shards(log, kind)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collect", type=int, default=4000, help="Sessions collected.")
    parser.add_argument("--evaluate", type=int, default=1000, help="Sessions evaluated.")
    parser.add_argument("--reproduce-seeds", type=int, default=2, help="0: skip reproduce.")
    parser.add_argument("--cpus", type=int, default=2, help="Pool processes / Ray CPUs.")
    parser.add_argument("--json", action="store_true", help="Print JSON only.")
    args = parser.parse_args()

    import ray
    import torch
    from threadpoolctl import threadpool_limits

    from textrec.backends import Backend
    from textrec.catalog.build import open_catalog
    from textrec.evaluation import EvaluationSetup, evaluate_on
    from textrec.logs.collect import collect
    from textrec.reproduce import ReproduceConfig, reproduce

    torch.set_num_threads(1)  # as the CLI's default --threads-torch 1 and every worker
    threadpool_limits(1)
    catalog = open_catalog("builtin", seed=0, progress=False)
    local, pool = Backend(), Backend("local", args.cpus)
    on_ray = Backend("ray", args.cpus)
    started, _ = _timed(
        lambda: ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    )
    out: dict[str, Any] = {"ray_start_s": round(started, 2), "cpus": args.cpus}
    same: dict[str, bool] = {}
    work = Path(tempfile.mkdtemp(prefix="textrec-backends-"))
    try:
        logs = {}
        for name, where in (("in-process", local), ("pool", pool), ("ray", on_ray)):
            logs[name] = work / f"log-{name}"
            seconds, _ = _timed(
                lambda w=where, d=logs[name]: collect(
                    catalog,
                    d,
                    args.collect,
                    0,
                    workers=w.workers,
                    backend=w.name,
                    chunk_sessions=500,
                    progress=False,
                )
            )
            out[f"collect_{name}_s"] = round(seconds, 2)
        reference = _tables(logs["in-process"])
        same["collect"] = all(_tables(logs[n]) == reference for n in ("pool", "ray"))

        setup = EvaluationSetup(catalog, "slot-filler", seed=0)
        results = {}
        for name, where in (("in-process", local), ("ray", on_ray)):
            seconds, results[name] = _timed(lambda w=where: evaluate_on(w, setup, args.evaluate))
            out[f"evaluate_{name}_s"] = round(seconds, 2)
        same["evaluate"] = results["ray"].to_json() == results["in-process"].to_json()

        if args.reproduce_seeds:
            rows = {}
            for name, extra in (("in-process", {}), ("ray", {"backend": "ray", "workers": 2})):
                config = ReproduceConfig.quick(n_seeds=args.reproduce_seeds, **extra)
                seconds, result = _timed(
                    lambda c=config, n=name: reproduce(
                        c, work / f"reproduce-{n}", progress=False, say=lambda _: None
                    )
                )
                rows[name] = {k: replace(r, seconds=0.0) for k, r in result.rows.items()}
                out[f"reproduce_{name}_s"] = round(seconds, 2)
            same["reproduce"] = rows["ray"] == rows["in-process"]
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    out["identical"] = same
    print(json.dumps(out, indent=None if args.json else 2))
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
