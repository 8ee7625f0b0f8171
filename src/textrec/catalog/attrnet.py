"""AttrNet: a small MLP that predicts every attribute of an item from its image features.

The paper pretrains it on the labeled (train-split) items; textrec uses its output as
``Catalog.predicted``, ``P(item has value)`` on the schema's global value axis, for retrieval over
unlabeled items and for the reward's attribute term.

Per attribute ``k`` with value block ``b_k`` of the network's logits ``z``:

* single-valued: softmax head, loss ``-log softmax(z[b_k])[y_k]``;
* multi-valued: sigmoid multi-label head, loss ``mean_v BCE(sigmoid(z[b_k, v]), 1[v in Y_k])``;

items without a label for ``k`` contribute nothing to that attribute's loss. The training loss is
the mean over attributes of each attribute's mean over its labeled items.

A seeded 10% of the labeled items is held out: early stopping watches its loss, and the reported
per-attribute accuracy is measured on it (top-1: the argmax value is the label, or is one of the
labels of a multi-valued attribute).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from textrec.catalog.catalog import TRAIN, Catalog
from textrec.catalog.features import torch_threads
from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError

__all__ = ["AttrNetConfig", "AttrNetResult", "fit_attrnet", "top1_accuracy", "with_attrnet"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttrNetConfig:
    """Hyperparameters of AttrNet and its training."""

    hidden: int = 256
    """Width of the hidden layer."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 1e-3
    """Adam weight decay (L2). With ``lr``, chosen on UT-Zappos (held-out category / subcategory /
    brand / colour): lr 3e-3, wd 1e-4 gave 0.929 / 0.802 / 0.262 / 0.723 (stopped at epoch 2);
    lr 1e-3, wd 1e-3 gave 0.941 / 0.816 / 0.328 / 0.765."""
    batch_size: int = 128
    """Items per gradient step."""
    max_epochs: int = 200
    """Upper bound on passes over the training items."""
    patience: int = 10
    """Stop after this many epochs without a lower held-out loss (the best epoch is kept)."""
    holdout_fraction: float = 0.1
    """Fraction of labeled items held out for early stopping and the accuracy report."""
    seed: int = 0
    """Seed of the held-out draw, weight init and batch order."""
    threads: int = 1
    """torch CPU threads while training (restored afterwards). The matrices are small, so thread
    hand-off costs more than it saves: 20 epochs on the built-in catalog took 4.7 s on 1 thread and
    61 s on 2 threads of a loaded 2-core machine."""

    def __post_init__(self) -> None:
        for name in ("hidden", "batch_size", "max_epochs", "patience", "threads"):
            if getattr(self, name) < 1:
                raise InputError(f"AttrNetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise InputError(f"AttrNetConfig.lr must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise InputError(f"AttrNetConfig.weight_decay must be >= 0, got {self.weight_decay}")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise InputError(
                f"AttrNetConfig.holdout_fraction must be in (0, 1), got {self.holdout_fraction}"
            )


@dataclass(frozen=True, eq=False)
class AttrNetResult:
    """What fitting AttrNet produced."""

    predicted: np.ndarray
    """``(N, V) float32`` probability that each item has each value."""
    accuracy: dict[str, float]
    """Top-1 accuracy per attribute on the held-out labeled items."""
    epochs: int
    """Epochs run (including the patience epochs after the best one)."""
    best_epoch: int
    """Epoch whose weights were kept (1-based)."""


class _Heads:
    """Index bookkeeping shared by the loss and the output: which blocks are softmax or sigmoid."""

    def __init__(self, schema: AttributeSchema) -> None:
        self.schema = schema
        self.blocks = [
            (int(schema.offsets[k]), int(schema.offsets[k + 1])) for k in range(schema.n_attributes)
        ]
        self.multi = [a.multi_valued for a in schema.attributes]

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
        """Mean over attributes of each attribute's mean loss over its labeled rows."""
        parts = []
        for k, (lo, hi) in enumerate(self.blocks):
            has = labels[:, k] >= 0
            if not bool(has.any()):
                continue
            z = logits[has, lo:hi]
            if self.multi[k]:
                parts.append(F.binary_cross_entropy_with_logits(z, sets[has, lo:hi]))
            else:
                parts.append(F.cross_entropy(z, labels[has, k].long()))
        return torch.stack(parts).mean()

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax per single-valued block, sigmoid for multi-valued blocks."""
        out = torch.empty_like(logits)
        for k, (lo, hi) in enumerate(self.blocks):
            z = logits[:, lo:hi]
            out[:, lo:hi] = torch.sigmoid(z) if self.multi[k] else torch.softmax(z, dim=1)
        return out


def _mlp(d_in: int, hidden: int, d_out: int, gen: torch.Generator) -> nn.Module:
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))
    for layer in (net[0], net[2]):
        bound = 1.0 / np.sqrt(layer.in_features)
        with torch.no_grad():
            layer.weight.uniform_(-bound, bound, generator=gen)
            layer.bias.uniform_(-bound, bound, generator=gen)
    return net


def top1_accuracy(
    probs: np.ndarray, labels: np.ndarray, label_sets: np.ndarray, schema: AttributeSchema
) -> dict[str, float]:
    """Per attribute, over items with a label: fraction whose most probable value is a true value.

    Args:
        probs: ``(N, V)`` predicted probabilities.
        labels: ``(N, K)`` primary labels, -1 missing (such items are skipped for that attribute).
        label_sets: ``(N, V) bool`` all true values.
        schema: the attribute schema.
    """
    out = {}
    for k, attr in enumerate(schema.attributes):
        lo, hi = int(schema.offsets[k]), int(schema.offsets[k + 1])
        has = labels[:, k] >= 0
        if not has.any():
            continue
        top = probs[has, lo:hi].argmax(axis=1)
        out[attr.name] = float(label_sets[has, lo:hi][np.arange(int(has.sum())), top].mean())
    return out


def fit_attrnet(
    features: np.ndarray,
    labels: np.ndarray,
    label_sets: np.ndarray,
    trainable: np.ndarray,
    schema: AttributeSchema,
    config: AttrNetConfig = AttrNetConfig(),
    *,
    progress: bool = False,
) -> AttrNetResult:
    """Train AttrNet on the ``trainable`` items and predict every item.

    Args:
        features: ``(N, D) float32`` image features.
        labels: ``(N, K) int32`` primary labels, -1 missing.
        label_sets: ``(N, V) bool`` all true values.
        trainable: ``(N,) bool`` items whose labels may be used (the train split).
        schema: attribute schema (which heads are multi-valued).
        config: hyperparameters.
        progress: show a progress bar over epochs.

    Raises:
        ValueError: fewer than 2 trainable items with any label.
    """
    with torch_threads(config.threads):
        return _fit(features, labels, label_sets, trainable, schema, config, progress)


def _fit(
    features: np.ndarray,
    labels: np.ndarray,
    label_sets: np.ndarray,
    trainable: np.ndarray,
    schema: AttributeSchema,
    config: AttrNetConfig,
    progress: bool,
) -> AttrNetResult:
    n = len(features)
    labeled = np.flatnonzero(trainable & (labels >= 0).any(axis=1))
    if len(labeled) < 2:
        raise InputError(
            f"AttrNet needs at least 2 labeled train items (fit + held out), got {len(labeled)}"
        )
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(labeled)
    n_hold = min(len(order) - 1, max(1, int(round(config.holdout_fraction * len(order)))))
    hold, fit = np.sort(order[:n_hold]), np.sort(order[n_hold:])

    x_all = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    mean = x_all[fit].mean(dim=0)
    std = x_all[fit].std(dim=0).clamp_min(1e-6)
    x_all = (x_all - mean) / std
    y_all = torch.from_numpy(labels.astype(np.int64))
    s_all = torch.from_numpy(label_sets.astype(np.float32))
    heads = _Heads(schema)
    net = _mlp(features.shape[1], config.hidden, schema.n_values, gen)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    fit_t = torch.from_numpy(fit)
    hold_t = torch.from_numpy(hold)

    best_loss, best_epoch, epoch = float("inf"), 0, 0
    best_state = {k: v.clone() for k, v in net.state_dict().items()}
    bar = tqdm(range(1, config.max_epochs + 1), desc="AttrNet", unit="epoch", disable=not progress)
    for epoch in bar:
        net.train()
        perm = fit_t[torch.randperm(len(fit_t), generator=gen)]
        for b in range(0, len(perm), config.batch_size):
            idx = perm[b : b + config.batch_size]
            loss = heads.loss(net(x_all[idx]), y_all[idx], s_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            hold_loss = float(heads.loss(net(x_all[hold_t]), y_all[hold_t], s_all[hold_t]))
        bar.set_postfix(holdout_loss=f"{hold_loss:.3f}")
        if hold_loss < best_loss - 1e-5:
            best_loss, best_epoch = hold_loss, epoch
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        elif epoch - best_epoch >= config.patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    with torch.no_grad():
        predicted = (
            torch.cat([heads.probs(net(x_all[b : b + 4096])) for b in range(0, n, 4096)])
            .numpy()
            .astype(np.float32)
        )
    accuracy = top1_accuracy(predicted[hold], labels[hold], label_sets[hold], schema)
    logger.info("AttrNet: best epoch %d of %d, held-out accuracy %s", best_epoch, epoch, accuracy)
    return AttrNetResult(
        predicted=predicted, accuracy=accuracy, epochs=epoch, best_epoch=best_epoch
    )


def with_attrnet(
    catalog: Catalog, config: AttrNetConfig = AttrNetConfig(), *, progress: bool = False
) -> Catalog:
    """``catalog`` with ``predicted`` and ``attrnet_accuracy`` from AttrNet (train split)."""
    result = fit_attrnet(
        catalog.features,
        catalog.labels,
        catalog.label_sets,
        catalog.split == TRAIN,
        catalog.schema,
        config,
        progress=progress,
    )
    provenance = {
        **catalog.provenance,
        "attrnet": {
            **dataclasses.asdict(config),
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
        },
    }
    return dataclasses.replace(
        catalog, predicted=result.predicted, attrnet_accuracy=result.accuracy, provenance=provenance
    )
