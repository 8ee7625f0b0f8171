"""Shared fixtures: a small hand-made catalog with every edge case (missing, multi-valued)."""

from __future__ import annotations

import signal

import numpy as np
import pytest
import torch

from textrec.catalog import TEST, TRAIN, Attribute, AttributeSchema, Catalog

# textrec's networks are small: one torch thread is as fast as two and immune to a busy second core.
torch.set_num_threads(1)

OPT_IN_SLOW_DIRS = ("tests/logs/", "tests/language/")
"""Where ``slow`` tests run only with ``-m slow`` (a SIGTERM'd collection, Ray, loading MiniLM:
minutes on 2 cores); elsewhere ``slow`` only labels the longer end-to-end tests, which CI runs."""


def pytest_collection_modifyitems(config, items):
    """Skip the opt-in slow tests unless ``-m slow`` asks for them."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        path = str(item.fspath).replace("\\", "/")
        if "slow" in item.keywords and any(d in path for d in OPT_IN_SLOW_DIRS):
            item.add_marker(skip)


CTRL_C_IGNORED = pytest.mark.skipif(
    signal.getsignal(signal.SIGINT) is signal.SIG_IGN,
    reason="this test process ignores SIGINT (started in the background by a shell without job "
    "control), and so does every process it starts: Ctrl-C cannot be simulated here",
)
"""Marks a test that sends SIGINT and expects Python's KeyboardInterrupt."""


def make_toy_catalog(n_items: int = 120, seed: int = 0, feature_dim: int = 8) -> Catalog:
    """A random catalog: 3 attributes (one multi-valued, one with missing labels), 25% test items.

    AttrNet output is simulated as the true label set blurred with noise, so predictions are
    informative but imperfect, as on real data.
    """
    rng = np.random.default_rng(seed)
    schema = AttributeSchema(
        (
            Attribute("category", ("Boots", "Sandals", "Shoes")),
            Attribute("gender", ("Men", "Women", "Boys", "Girls"), multi_valued=True),
            Attribute("toe_style", ("Round Toe", "Pointed Toe", "Open Toe"), label="toe style"),
        )
    )
    k, v = schema.n_attributes, schema.n_values
    labels = np.stack([rng.integers(0, s, n_items) for s in schema.sizes], axis=1).astype(np.int32)
    labels[rng.random(n_items) < 0.1, 2] = -1  # some items lack a toe-style label
    label_sets = np.zeros((n_items, v), dtype=bool)
    for j in range(k):
        has = labels[:, j] >= 0
        label_sets[np.flatnonzero(has), schema.offsets[j] + labels[has, j]] = True
    extra = rng.random(n_items) < 0.15  # a few unisex items: Men;Women
    label_sets[extra, schema.offsets[1] + 0] = True
    label_sets[extra, schema.offsets[1] + 1] = True
    split = np.where(rng.random(n_items) < 0.25, TEST, TRAIN).astype(np.int8)
    features = (label_sets.astype(np.float32) @ rng.normal(size=(v, feature_dim))).astype(
        np.float32
    )
    features += 0.3 * rng.normal(size=features.shape).astype(np.float32)
    noisy = label_sets.astype(np.float32) * 0.7 + 0.3 * rng.random((n_items, v)).astype(np.float32)
    predicted = np.zeros_like(noisy)
    for j in range(k):
        lo, hi = schema.offsets[j], schema.offsets[j + 1]
        predicted[:, lo:hi] = noisy[:, lo:hi] / noisy[:, lo:hi].sum(axis=1, keepdims=True)
    return Catalog(
        name="toy",
        schema=schema,
        item_ids=np.array([f"toy-{i:04d}" for i in range(n_items)], dtype=object),
        labels=labels,
        label_sets=label_sets,
        split=split,
        image_refs=np.array([f"builtin:toy-{i:04d}" for i in range(n_items)], dtype=object),
        features=features,
        predicted=predicted,
        attrnet_accuracy={},
        provenance={"source": "tests.conftest.make_toy_catalog", "seed": seed},
    )


@pytest.fixture(scope="session")
def toy_catalog() -> Catalog:
    """A 120-item random catalog (see :func:`make_toy_catalog`)."""
    return make_toy_catalog()


ZAPPOS_DIR = (
    __import__("pathlib").Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "ut-zap50k"
)
"""The real UT-Zappos50K folder beside the checkout (``../shared/data/ut-zap50k``) or absent."""


@pytest.fixture(scope="session")
def zappos_dir():
    """Path to the real UT-Zappos50K folder; skips the test when it is absent."""
    if not (ZAPPOS_DIR / "image-catalog.csv").is_file():
        pytest.skip(f"UT-Zappos50K data not found at {ZAPPOS_DIR}")
    return ZAPPOS_DIR


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster of 2 CPUs for the session (skipped where Ray is not installed); the
    backends join it instead of starting their own."""
    ray = pytest.importorskip("ray", reason="Ray is the [ray] extra (in the test extra)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
