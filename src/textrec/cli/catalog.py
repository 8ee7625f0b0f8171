"""``textrec catalog``: build a catalog and describe one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer
from rich.text import Text

from textrec.catalog import Catalog
from textrec.cli.common import (
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    ProgressOpt,
    SeedOpt,
    command_line,
    console,
    print_json,
    print_table,
    stop_on_interrupt,
)
from textrec.errors import InputError
from textrec.io import output_dir

__all__ = ["app"]

app = typer.Typer(
    help="Build item catalogs (built-in or UT-Zappos50K) and describe them.", no_args_is_help=True
)


def _size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        h, w = (int(x) for x in text.lower().split("x"))
        if min(h, w) < 32:
            raise ValueError
    except ValueError:
        raise InputError(
            f"--image-size must look like 102x136 (height x width, each >= 32), got {text!r}"
        ) from None
    return h, w


def _show(catalog: Catalog, as_json: bool) -> None:
    from textrec.catalog.build import summarize

    summary = summarize(catalog)
    if as_json:
        print_json(dataclasses.asdict(summary))
        return
    print_table(
        f"catalog {summary.name}",
        ["items", "train", "test", "feature dim", "encoder", "fingerprint", "build s"],
        [
            [
                summary.n_items,
                summary.n_train,
                summary.n_test,
                summary.feature_dim,
                summary.encoder,
                summary.fingerprint,
                "-" if summary.build_seconds is None else summary.build_seconds,
            ]
        ],
    )
    print_table(
        "attributes",
        ["attribute", "values", "multi-valued", "label coverage", "AttrNet accuracy"],
        [
            [
                a.name,
                a.n_values,
                "yes" if a.multi_valued else "no",
                f"{a.coverage:.1%}",
                "-" if a.attrnet_accuracy is None else f"{a.attrnet_accuracy:.3f}",
            ]
            for a in summary.attributes
        ],
    )


SourceOpt = typer.Option(..., "--catalog", help="Source to build: 'builtin' or 'zappos'.")
OutOpt = typer.Option(
    ...,
    "--out",
    help="Directory to save the catalog to: new, empty, or a catalog textrec saved (replaced "
    "atomically). Anything else is refused before the build starts.",
)
EncoderOpt = typer.Option(
    "efficientnet-lite0",
    "--encoder",
    help="Image encoder for UT-Zappos50K: 'efficientnet-lite0' (packaged ImageNet weights) "
    "or 'resnet50' (needs --encoder-weights).",
)
ImageSizeOpt = typer.Option(
    None, "--image-size", help="Encoder input size HxW, e.g. 102x136 (default: the encoder's own)."
)
WeightsOpt = typer.Option(
    None,
    "--encoder-weights",
    help="Weights file of encoders that need one (resnet50: torchvision state_dict).",
)
ThreadsOpt = typer.Option(
    None,
    "--threads",
    min=1,
    help="torch CPU threads for image encoding (default: one per core; 1 is faster when "
    "other processes keep a core busy).",
)
FeatureCacheOpt = typer.Option(
    None,
    "--feature-cache",
    help="Feature cache folder (default: <TEXTREC_CACHE or ~/.cache/textrec>/features).",
)


@app.command()
def build(
    catalog: str = SourceOpt,
    out: Path = OutOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    seed: int = SeedOpt,
    encoder: str = EncoderOpt,
    image_size: str | None = ImageSizeOpt,
    encoder_weights: Path | None = WeightsOpt,
    feature_cache: Path | None = FeatureCacheOpt,
    threads: int | None = ThreadsOpt,
    progress: bool = ProgressOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build a catalog (items, labels, split, image features, AttrNet) and save it to --out.

    Ctrl-C (exit 130) keeps the image features encoded so far in the feature cache: the same
    command goes on from there.
    """
    from textrec.catalog.build import CATALOG_KIND, SOURCES, build_catalog

    if catalog not in SOURCES:
        raise InputError(f"--catalog must be one of {list(SOURCES)} to build, got {catalog!r}")
    size = _size(image_size)
    with (
        output_dir(out, CATALOG_KIND, whole=True),
        stop_on_interrupt(
            f"nothing was saved to {out}; finished image features are cached, run "
            f"{command_line()} again to go on"
        ),
    ):
        built = build_catalog(
            catalog,
            data=data,
            items=items,
            seed=seed,
            encoder=encoder,
            image_size=size,
            encoder_weights=encoder_weights,
            feature_cache=feature_cache,
            threads=threads,
            progress=progress,
        )
        built.save(out)
    if not as_json:
        console.print(Text(f"saved to {out}"))
    _show(built, as_json)


@app.command()
def info(
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    seed: int = SeedOpt,
    progress: bool = ProgressOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Describe a catalog: items per split, attributes, label coverage, AttrNet accuracy."""
    from textrec.catalog.build import open_catalog

    _show(open_catalog(catalog, data=data, items=items, seed=seed, progress=progress), as_json)
