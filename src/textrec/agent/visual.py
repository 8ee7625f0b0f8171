"""Visual side of the recommender: a shown item's image features and attribute probabilities.

The paper encodes a candidate image with ResNet and then AttrNet; textrec computes both once per
catalog (``Catalog.features`` and ``Catalog.predicted``), so the agent only projects the cached row
of the shown item with a small MLP. The attribute part is ``Catalog.value_probs``, what a
recommender may know of an item: the true labels of labeled (train) items, AttrNet's predictions
for unlabeled (test) ones. Feeding AttrNet's output for every item instead (the same input
distribution on both pools) did worse on the test pool in a measurement (docs/learners/online.md).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from textrec.catalog.catalog import Catalog

__all__ = ["ItemEncoder", "item_table"]


def item_table(catalog: Catalog) -> np.ndarray:
    """``(N, D + V) float32``: standardised image features next to ``value_probs`` for every item.

    Features are standardised per dimension with the catalog's own mean and standard deviation
    (over all items: image features are known for unlabeled items too), so the MLP sees inputs of
    unit scale whatever the image encoder.
    """
    feats = catalog.features
    mean = feats.mean(axis=0, dtype=np.float64)
    std = feats.std(axis=0, dtype=np.float64)
    scale = np.where(std > 1e-8, std, 1.0)
    standard = (feats - mean.astype(np.float32)) / scale.astype(np.float32)
    return np.concatenate([standard, catalog.value_probs], axis=1).astype(np.float32)


class ItemEncoder(nn.Module):
    """Embed shown items: ``item_table(catalog)[item] -> Linear -> ReLU -> Linear``.

    Index ``-1`` means "no item" (a turn with text only, such as a user's opening utterance) and
    maps to a learned embedding.
    """

    def __init__(self, catalog: Catalog, hidden: int, out_dim: int) -> None:
        super().__init__()
        table = torch.from_numpy(item_table(catalog))
        # Derived from the catalog, whose fingerprint a checkpoint records: not saved as weights.
        self.register_buffer("table", table, persistent=False)
        self.mlp = nn.Sequential(
            nn.Linear(table.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
        )
        self.no_item = nn.Parameter(torch.zeros(out_dim))
        self.out_dim = out_dim

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        """Embed catalog indices ``items`` (any shape, ``-1``: no item) -> ``(*shape, out_dim)``."""
        shown = (items >= 0).unsqueeze(-1)
        embedded = self.mlp(self.table[items.clamp_min(0)])
        return torch.where(shown, embedded, self.no_item)
