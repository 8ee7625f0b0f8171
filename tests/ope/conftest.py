"""A small real experience log (with its oracle sidecar) on the toy catalog, for the OPE tests."""

from __future__ import annotations

import pytest

from textrec.logs.collect import collect


@pytest.fixture(scope="session")
def toy_log(toy_catalog, tmp_path_factory):
    """60 sessions by the default heuristic devices (seed 3)."""
    out = tmp_path_factory.mktemp("ope") / "log"
    collect(toy_catalog, out, n_sessions=60, seed=3, chunk_sessions=30, progress=False)
    return out
