"""``textrec interpret``: every request of each feedback sentence, as a reader understands it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from textrec.cli.common import (
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    ProgressOpt,
    SeedOpt,
    print_json,
    print_table,
)
from textrec.errors import InputError

__all__ = ["interpret"]


TextsArg = typer.Argument(
    ..., help='Feedback sentences, e.g. "black leather boots for men, no laces".'
)
ReaderOpt = typer.Option(
    "lexicon",
    "--reader",
    help="'lexicon' (phrases + typo-tolerant matching, default), 'lstm' (the paper's pretrained "
    "text encoder), 'minilm' (needs the 'minilm' extra) or 'lexicon+minilm' (MiniLM where the "
    "lexicon understands nothing).",
)
MinConfidenceOpt = typer.Option(
    0.5,
    "--min-confidence",
    min=0.0,
    max=1.0,
    help="Confidence below which a reading is reported as not understood.",
)
CacheOpt = typer.Option(
    None, "--cache", help="Cache folder (default $TEXTREC_CACHE, else ~/.cache/textrec)."
)


def interpret(
    texts: list[str] = TextsArg,
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    reader: str = ReaderOpt,
    min_confidence: float = MinConfidenceOpt,
    cache: Path | None = CacheOpt,
    seed: int = SeedOpt,
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """List every request of each sentence: attribute, value, mode, whether the person rejects
    the value ('negated': "anything but heels"), and the confidence; sentences read with too
    little confidence are reported as not understood."""
    from textrec.catalog.build import open_catalog
    from textrec.language.reader import READERS, load_reader

    if reader not in READERS:
        raise InputError(f"--reader must be one of {list(READERS)}, got {reader!r}")
    cat = open_catalog(
        catalog,
        data=data,
        items=items,
        seed=seed,
        cache_dir=cache,
        progress=progress and not json_out,
    )
    chosen = load_reader(cat, reader, threshold=min_confidence, seed=seed, cache_dir=cache)
    readings = chosen.read_batch(texts)
    if json_out:
        print_json(
            [
                {
                    "text": r.text,
                    "understood": r.understood,
                    "requests": [asdict(q) for q in r.requests],
                    "doubtful": [asdict(q) for q in r.doubtful],
                }
                for r in readings
            ]
        )
        return
    rows = []
    for r in readings:
        for q in r.requests:
            rows.append(
                [r.text, q.attribute, q.value, q.mode, "yes" if q.negated else "no",
                 f"{q.confidence:.2f}", q.words]
            )  # fmt: skip
        if not r.understood:
            guesses = ", ".join(
                f"{q.attribute}={q.value}? ({q.confidence:.2f})" for q in r.doubtful
            )
            rows.append([r.text, "(not understood)", guesses, "", "", "", ""])
    print_table(
        f"Requests read by the {reader} reader ({cat.name})",
        ["sentence", "attribute", "value", "mode", "negated", "confidence", "words"],
        rows,
    )
