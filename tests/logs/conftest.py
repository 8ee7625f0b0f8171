"""Hand-made experience logs (no simulator) for the schema, writer, reader and info tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from textrec.catalog import Catalog
from textrec.logs.schema import ExperienceBatch, OracleBatch
from textrec.logs.writer import Manifest, write_chunk, write_manifest


def make_rows(
    catalog: Catalog,
    n_sessions: int,
    seed: int = 0,
    prefix: str = "s",
    max_turns: int = 12,
    device_base: int = 0,
) -> tuple[ExperienceBatch, OracleBatch]:
    """Random whole sessions: lengths 1..max_turns, 70% end in success, the rest are truncated."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, max_turns + 1, n_sessions)
    success = rng.random(n_sessions) < 0.7
    n = int(lengths.sum())
    sess = np.repeat(np.arange(n_sessions), lengths)
    start = np.repeat(np.cumsum(lengths) - lengths, lengths)
    turn = np.arange(n) - start + 1
    last = turn == lengths[sess]
    terminated = last & success[sess]
    truncated = last & ~success[sess]
    items = rng.integers(0, catalog.n_items, n)
    feedback = np.array([f"I want value {v}" for v in rng.integers(0, 9, n)], dtype=object)
    feedback[terminated] = ""
    session_id = np.array([f"{prefix}-{i:05d}" for i in sess], dtype=object)
    device = (sess % 3 + device_base).astype(np.int32)
    exp = ExperienceBatch(
        session_id=session_id,
        device_id=device,
        turn=turn,
        item_id=catalog.item_ids[items],
        feedback=feedback,
        reward=rng.random(n).astype(np.float32) - 3.0 * truncated,
        terminated=terminated,
        truncated=truncated,
    )
    k = catalog.schema.n_attributes
    oracle = OracleBatch(
        session_id=session_id,
        turn=turn,
        device_id=device,
        target_id=catalog.item_ids[rng.integers(0, catalog.n_items, n_sessions)][sess],
        log_probs=-rng.random((n, k)).astype(np.float32),
        policy=np.array([f"device-{d}" for d in device], dtype=object),
        feedback_value=np.where(terminated, -1, rng.integers(0, catalog.schema.n_values, n)),
        feedback_mode=np.where(terminated, -1, rng.integers(0, 3, n)),
        violations=rng.integers(0, 2, n),
        matched=rng.random(n) < 0.9,
    )
    return exp, oracle


def make_log(catalog: Catalog, root: Path, n_chunks: int = 3, sessions_per_chunk: int = 20) -> Path:
    """A log directory of ``n_chunks`` chunks with a manifest."""
    for c in range(n_chunks):
        exp, ora = make_rows(catalog, sessions_per_chunk, seed=c, prefix=f"9-{c:05d}")
        write_chunk(root, c, exp, ora)
    manifest = Manifest(
        catalog_name=catalog.name,
        catalog_fingerprint=catalog.fingerprint,
        seed=9,
        n_sessions=n_chunks * sessions_per_chunk,
        chunk_sessions=sessions_per_chunk,
        chunks_done=tuple(range(n_chunks)),
    )
    write_manifest(root, manifest)
    return root


@pytest.fixture()
def toy_log(toy_catalog: Catalog, tmp_path: Path) -> Path:
    """A 3-chunk, 60-session hand-made log of the toy catalog."""
    return make_log(toy_catalog, tmp_path / "log")
