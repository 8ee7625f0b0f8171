"""Load benchmark of ``textrec serve``: many concurrent people on loopback, latency per turn.

Starts ``textrec serve`` on a free loopback port (its own process, logging to a temporary
directory), then plays ``--sessions`` concurrent sessions through the JSON API with one asyncio
HTTP client: they arrive uniformly within ``--arrive`` seconds (a burst: 200 within 1 s), each
opens with a sentence, says up to ``--turns`` feedback sentences (each answered
with the next item: one *turn*), pausing a random think time in ``[0, 2 * --think]`` seconds
between turns as people do, and ends the session (found, or not). It stops by itself when every
session is done or after ``--time-limit`` seconds, then stops the server, checks the log
(``check_log``: every finished session present and whole) and prints latency percentiles per
request kind and the error count.

Loopback only: the server is started here, on 127.0.0.1. Example (the figures in docs/serving.md):

    python benchmarks/serve_load.py --catalog builtin --sessions 200 --arrive 1 --think 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from textrec.catalog.build import open_catalog
from textrec.logs import check_log

_KINDS = ("create", "turn", "end")
_PHRASES = (
    "I would like {v}",
    "show me something {v}",
    "in {v} please",
    "maybe {v}?",
    "hmm, more {v}",
    "not {v}",
)


@dataclass
class Tally:
    """Latencies (seconds) per request kind, errors, sessions finished."""

    latency: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in _KINDS})
    errors: dict[str, int] = field(default_factory=dict)
    sessions_done: int = 0
    sessions_created: int = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(args: argparse.Namespace, log_dir: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    cmd = [sys.executable, "-c", "from textrec.cli import main; main()", "serve"]
    cmd += ["--catalog", args.catalog, "--policy", args.policy, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--logs", str(log_dir), "--json", "--seed", str(args.seed)]
    cmd += ["--max-sessions", str(max(1000, 2 * args.sessions))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"textrec serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("textrec serve did not start within 600 s")


class _Connection:
    """One keep-alive HTTP/1.1 connection to the server (a person's browser holds one too).

    A plain asyncio client: the benchmark's own cost per request stays small next to the server's,
    which a pooled general-purpose client with hundreds of connections does not achieve.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        data = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await reader.readexactly(length)
        return status, json.loads(payload) if payload else {}

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()


async def _timed(tally: Tally, kind: str, conn: _Connection, path: str, body: dict) -> dict | None:
    started = time.perf_counter()
    try:
        status, answer = await conn.request("POST", path, body)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.error(f"{kind}: {type(exc).__name__}")
        return None
    tally.latency[kind].append(time.perf_counter() - started)
    if status >= 400:
        tally.error(f"{kind}: HTTP {status}")
        return None
    return answer


async def _session(
    conn: _Connection,
    tally: Tally,
    rng: np.random.Generator,
    values: list[str],
    args: argparse.Namespace,
) -> None:
    def sentence() -> str:
        return str(rng.choice(_PHRASES)).format(v=str(rng.choice(values)).lower())

    await asyncio.sleep(float(rng.uniform(0, args.arrive)))  # a burst: all within --arrive s
    s = await _timed(tally, "create", conn, "/api/sessions", {"text": sentence()})
    if s is None:
        return
    sid = s["session_id"]
    tally.sessions_created += 1  # logged once it ends (it has an opening sentence)
    n_turns = int(rng.integers(1, args.turns + 1))
    for _ in range(n_turns):
        await asyncio.sleep(float(rng.uniform(0, 2 * args.think)))
        path = f"/api/sessions/{sid}/feedback"
        s = await _timed(tally, "turn", conn, path, {"text": sentence()})
        if s is None:
            return
        if s["finished"]:
            break
    if not s["finished"]:
        found = bool(rng.random() < 0.5)
        path = f"/api/sessions/{sid}/end"
        if await _timed(tally, "end", conn, path, {"found": found}) is None:
            return
    tally.sessions_done += 1


async def _drive(
    url: str, values: list[str], args: argparse.Namespace
) -> tuple[Tally, float, dict]:
    tally = Tally()
    host, port = url.removeprefix("http://").split(":")
    conns = [_Connection(host, int(port)) for _ in range(args.sessions)]
    rngs = [np.random.default_rng([args.seed, i]) for i in range(args.sessions)]
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(_session(c, tally, r, values, args))
        for c, r in zip(conns, rngs, strict=True)
    ]
    _, pending = await asyncio.wait(tasks, timeout=args.time_limit)
    for task in pending:
        task.cancel()
    if pending:
        tally.error(f"stopped at the {args.time_limit:.0f} s limit")
    elapsed = time.perf_counter() - started
    for c in conns:
        c.close()
    health = httpx.get(f"{url}/api/health", timeout=10).json()
    return tally, elapsed, health


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentiles(x: list[float]) -> dict[str, float | int]:
    if not x:
        return {"n": 0}
    ms = np.asarray(x) * 1000.0
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"n": len(x), "p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": float(ms.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", default="builtin", help="builtin or a saved catalog dir")
    parser.add_argument("--policy", default="slot-filler", help="policy (as textrec serve)")
    parser.add_argument("--sessions", type=int, default=200, help="concurrent sessions")
    parser.add_argument("--turns", type=int, default=10, help="most feedback turns per session")
    parser.add_argument("--think", type=float, default=1.0, help="mean think time (s) per turn")
    parser.add_argument(
        "--arrive", type=float, default=1.0, help="sessions arrive uniformly within (s)"
    )
    parser.add_argument("--time-limit", type=float, default=300.0, help="stop after (s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated people")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args()
    if min(args.sessions, args.turns) < 1 or min(args.think, args.arrive) < 0:
        parser.error("--sessions and --turns must be >= 1, --think and --arrive >= 0")
    if args.time_limit <= 0:
        parser.error("--time-limit must be > 0")
    catalog = open_catalog(args.catalog, progress=False)
    values = sorted({v for a in catalog.schema.attributes for v in a.values})
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "log"
        proc, url = _start_server(args, log_dir)
        try:
            cpu = _cpu_seconds(proc.pid)
            tally, elapsed, health = asyncio.run(_drive(url, values, args))
            cpu = _cpu_seconds(proc.pid) - cpu
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        report = check_log(log_dir, catalog)
    n_turns = len(tally.latency["turn"])
    result = {
        "catalog": catalog.name,
        "n_items": catalog.n_items,
        "policy": args.policy,
        "sessions": args.sessions,
        "max_turns": args.turns,
        "think_s": args.think,
        "arrive_s": args.arrive,
        "seconds": elapsed,
        "turns": n_turns,
        "turns_per_s": n_turns / elapsed,
        "latency": {k: _percentiles(v) for k, v in tally.latency.items()},
        "mean_batch": health["picks"] / max(health["batches"], 1),
        "server_cpu_s": cpu,
        "server_cpu_ms_per_request": 1000 * cpu / max(sum(map(len, tally.latency.values())), 1),
        "load_average": os.getloadavg(),
        "errors": tally.errors,
        "n_errors": sum(tally.errors.values()),
        "sessions_done": tally.sessions_done,
        # every session created opened with a sentence, so each is logged: the finished ones as
        # they end, any other (cut short by an error or the time limit) as abandoned at shutdown
        "log_sessions": report.n_sessions,
        "log_expected": tally.sessions_created,
        "log_ok": report.ok and report.n_sessions == tally.sessions_created,
        "log_problems": list(report.problems),
    }
    if args.json:
        print(json.dumps(result, indent=2, default=float))
        return
    print(
        f"{args.sessions} sessions on {catalog.name} ({catalog.n_items} items), {args.policy}, "
        f"arriving within {args.arrive} s, think {args.think} s: "
        f"{n_turns} turns in {elapsed:.1f} s ({n_turns / elapsed:.1f}/s), "
        f"{result['mean_batch']:.1f} picks per batch; server CPU {cpu:.1f} s "
        f"({result['server_cpu_ms_per_request']:.1f} ms per request); "
        f"machine load average {os.getloadavg()[0]:.1f}"
    )
    for kind, stats in result["latency"].items():
        if stats["n"]:
            print(
                f"  {kind:<6} n={stats['n']:<5} p50 {stats['p50_ms']:7.1f} ms  "
                f"p95 {stats['p95_ms']:7.1f} ms  p99 {stats['p99_ms']:7.1f} ms  "
                f"max {stats['max_ms']:7.1f} ms"
            )
    print(f"  errors: {result['n_errors']} {tally.errors or ''}")
    verdict = "ok" if result["log_ok"] else "FAILED: " + "; ".join(report.problems)
    print(
        f"  log: {report.n_sessions} sessions (expected {tally.sessions_created}), check {verdict}"
    )


if __name__ == "__main__":
    main()
