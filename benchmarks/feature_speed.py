"""Image-feature speed and the input-size trade-off on UT-Zappos50K.

Speed: decode + encode images/s per input size, on ``--threads`` CPU threads (target >= 100 img/s
on 2 cores at the default size). Probe (``--probe N``): features of a seeded random sample of N
images at each size, AttrNet trained on a seeded 80% of it, top-1 accuracy per attribute on the
other 20%.

    .venv/bin/python benchmarks/feature_speed.py --data ../shared/data/ut-zap50k
    .venv/bin/python benchmarks/feature_speed.py --data ../shared/data/ut-zap50k \
        --probe 6000 --cache /tmp/feat
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from textrec.catalog.attrnet import AttrNetConfig, fit_attrnet, top1_accuracy
from textrec.catalog.features import extract_features, make_encoder
from textrec.catalog.zappos import list_images, open_images, read_zappos


def _size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", required=True, help="UT-Zappos50K folder (images zip or tree).")
    parser.add_argument("--encoder", default="efficientnet-lite0", help="Encoder name.")
    parser.add_argument(
        "--sizes", default="102x136,224x224", help="Comma-separated HxW input sizes."
    )
    parser.add_argument("--images", type=int, default=512, help="Images timed per size.")
    parser.add_argument("--batch-size", type=int, default=64, help="Images per forward pass.")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    parser.add_argument(
        "--probe", type=int, default=0, help="Sample size of the accuracy probe (0: skip)."
    )
    parser.add_argument("--cache", default=None, help="Feature cache folder for the probe.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the samples and of AttrNet.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [_size(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(args.seed)

    probe = read_zappos(args.data, seed=args.seed, progress=False) if args.probe else None
    full_refs = np.array(list_images(args.data), dtype=object)
    timed = open_images(
        args.data, full_refs[rng.choice(len(full_refs), args.images, replace=False)].tolist()
    )
    print(
        f"threads={args.threads} encoder={args.encoder} images={args.images} "
        f"batch={args.batch_size}"
    )
    for size in sizes:
        encoder = make_encoder(args.encoder, image_size=size)
        encoder.encode(timed.load(range(min(args.batch_size, len(timed)))))  # warm-up
        start = time.perf_counter()
        for b in range(0, len(timed), args.batch_size):
            encoder.encode(timed.load(range(b, min(b + args.batch_size, len(timed)))))
        rate = len(timed) / (time.perf_counter() - start)
        print(f"size {size[1]}x{size[0]}: {rate:.1f} img/s (decode + encode)")

    if probe is None:
        return
    pick = np.sort(rng.choice(len(probe.item_ids), args.probe, replace=False))
    images = open_images(args.data, probe.image_refs[pick].tolist())
    labels, sets = probe.labels[pick], probe.label_sets[pick]
    trainable = rng.random(len(pick)) < 0.8
    for size in sizes:
        start = time.perf_counter()
        feats = extract_features(
            images, make_encoder(args.encoder, image_size=size), cache_dir=args.cache
        )
        took = time.perf_counter() - start
        result = fit_attrnet(
            feats, labels, sets, trainable, probe.schema, AttrNetConfig(seed=args.seed)
        )
        acc = top1_accuracy(
            result.predicted[~trainable], labels[~trainable], sets[~trainable], probe.schema
        )
        shown = ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
        print(f"probe {size[1]}x{size[0]} n={len(pick)} (features {took:.0f}s): {shown}")


if __name__ == "__main__":
    main()
