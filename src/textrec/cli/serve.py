"""``textrec serve``: the recommender as a web page and a JSON API (FastAPI + uvicorn).

At start-up it prints the policy's saved test-pool SR@10/20/30 beside the slot-filler's
(a warning when below). Finished sessions are appended to ``--logs`` (device ``web``) as they
end; see :mod:`textrec.serve.app` for the API and its limits, ``docs/serving.md`` for a
walk-through.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path

import typer

from textrec.cli.chat import (
    LogsOpt,
    OldLogsOpt,
    PolicyOpt,
    ReaderOpt,
    open_picker,
    say_quality,
    served_reader,
)
from textrec.cli.common import CatalogOpt, DataOpt, ItemsOpt, JsonOpt, ProgressOpt, SeedOpt
from textrec.errors import InputError

__all__ = ["serve"]


def serve(
    policy: str = PolicyOpt,
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    host: str = typer.Option(
        "127.0.0.1",
        "--host",
        help="Address to listen on. The default serves this machine only; the server has no "
        "authentication and no TLS: put a proxy in front of it to serve others.",
    ),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    log_dir: Path | None = LogsOpt,
    old_log_dir: Path | None = OldLogsOpt,
    reader: str = ReaderOpt,
    max_sessions: int = typer.Option(
        1000, "--max-sessions", min=1, help="Sessions held at once (the longest idle is evicted)."
    ),
    idle_minutes: float = typer.Option(
        30.0, "--idle-minutes", min=0.01, help="Inactivity after which a session expires."
    ),
    seed: int = SeedOpt,
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Serve a web page (and its JSON API) where people find a shoe by saying what to change."""
    import uvicorn

    from textrec.logs.append import SessionLog
    from textrec.serve.app import ServeConfig, Service, create_app
    from textrec.serve.quality import policy_quality

    config = ServeConfig(max_sessions=max_sessions, idle_seconds=idle_minutes * 60.0)
    sock = _listen(host, port)  # before the slow loading: a port in use fails at once
    parts, picker = open_picker(
        policy, catalog, data, items, reader, seed, progress and not json_out
    )
    cat = parts.catalog
    log_dir = log_dir or old_log_dir
    log = SessionLog(log_dir, cat) if log_dir is not None else None
    quality = policy_quality(policy, parts, served_reader(picker, parts, reader))
    service = Service(picker, log, config, policy_name=policy)
    shown_host = f"[{host}]" if ":" in host else host
    info = {
        "url": f"http://{shown_host}:{port}/",
        "api": f"http://{shown_host}:{port}/docs",
        "catalog": cat.name,
        "n_items": cat.n_items,
        "policy": policy,
        "log_dir": None if log_dir is None else str(log_dir),
        "max_sessions": max_sessions,
        "idle_minutes": idle_minutes,
        "policy_sr": None if quality.policy is None else list(quality.policy),
        "slot_filler_sr": list(quality.slot_filler),
        "below_slot_filler": quality.below,
    }
    if json_out:
        typer.echo(json.dumps(info))
    else:
        say_quality(quality, policy, as_json=False)
        typer.echo(f"Serving {cat.name} ({cat.n_items} items) with {policy} at {info['url']}")
        typer.echo(f"API documentation: {info['api']}; logging to: {info['log_dir'] or 'nowhere'}")
        if not _loopback(host):
            typer.echo("warning: listening beyond this machine, without authentication or TLS")
    server = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        limit_concurrency=4 * max_sessions,
        timeout_graceful_shutdown=5,
        timeout_keep_alive=65,  # > a pause between turns: idle connections stay usable
    )
    uvicorn.Server(server).run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (a port in use or a bad address is bad input: exit 2)."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = info[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise InputError(f"--host {host} --port {port}: cannot listen there ({exc})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
