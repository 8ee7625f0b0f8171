"""``textrec interpret``: read feedback sentences with the pretrained text encoder."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from textrec.cli.common import (
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    SeedOpt,
    print_json,
    print_table,
)

__all__ = ["interpret"]


TextsArg = typer.Argument(
    ..., help='Feedback sentences, e.g. "Please provide some shoes for women".'
)
BackendOpt = typer.Option(
    "lstm",
    "--backend",
    help="'lstm' (the paper's pretrained text encoder) or 'minilm' (needs the 'minilm' extra).",
)
TopKOpt = typer.Option(3, "--top-k", min=1, help="Readings listed per sentence.")
CacheOpt = typer.Option(
    None, "--cache", help="Cache folder (default $TEXTREC_CACHE, else ~/.cache/textrec)."
)


def interpret(
    texts: list[str] = TextsArg,
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    backend: str = BackendOpt,
    top_k: int = TopKOpt,
    cache: Path | None = CacheOpt,
    seed: int = SeedOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Say which attribute and value each sentence asks for, how sure, and whether it is negated."""
    from textrec.catalog.build import open_catalog
    from textrec.language.interpret import interpret_batch

    cat = open_catalog(
        catalog, data=data, items=items, seed=seed, cache_dir=cache, progress=not json_out
    )
    results = interpret_batch(texts, cat, backend=backend, seed=seed, cache_dir=cache, top_k=top_k)
    if json_out:
        print_json([asdict(r) for r in results])
        return
    rows = [
        [
            r.text,
            r.attribute,
            r.value,
            f"{r.confidence:.2f}",
            r.mode,
            "yes" if r.negated else "no",
            ", ".join(f"{a.attribute}={a.value} ({a.probability:.2f})" for a in r.alternatives[1:]),
        ]
        for r in results
    ]
    print_table(
        f"Feedback read by the {backend} encoder ({cat.name})",
        ["sentence", "attribute", "value", "confidence", "mode", "negated", "also"],
        rows,
    )
