"""Iterative offline training on a tiny built-in catalog: rounds, deployed copies, pooled logs,
the curve, resume."""

from __future__ import annotations

import pytest

from textrec.catalog.build import open_catalog
from textrec.errors import InputError
from textrec.learners.iterative import (
    IterativeConfig,
    deployed_devices,
    round_seed,
    run_iterative,
)
from textrec.learners.loop import CHECKPOINT_NAME, load_checkpoint
from textrec.learners.run import TrainSpec
from textrec.logs.collect import collect
from textrec.logs.policies import default_devices
from textrec.logs.writer import read_manifest


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    catalog = open_catalog("builtin", items=300, seed=0, progress=False)
    log = tmp_path_factory.mktemp("iter") / "base-log"
    collect(catalog, log, 60, 0, default_devices(), chunk_sessions=30, progress=False)
    return catalog, log


def test_config_refuses_bad_values():
    with pytest.raises(InputError, match="rounds"):
        IterativeConfig(rounds=0)
    with pytest.raises(InputError, match="noise"):
        IterativeConfig(noise=())


def test_deployed_copies_and_round_seeds():
    devices = deployed_devices("/agents/r0", 0, (0.5, 1.0))
    assert [(d.name, d.base, d.noise, d.checkpoint) for d in devices] == [
        ("round-0-noise-0.5", "agent", 0.5, "/agents/r0"),
        ("round-0-noise-1", "agent", 1.0, "/agents/r0"),
    ]
    seeds = {round_seed(0, r) for r in range(3)} | {round_seed(1, 0)}
    assert len(seeds) == 4 and 0 not in seeds


def test_two_rounds_deploy_collect_pool_and_resume(tiny, tmp_path):
    catalog, log = tiny
    spec = TrainSpec(
        algo="bc",
        catalog=catalog,
        out=tmp_path / "unused",
        logs=log,
        steps=1,
        eval_every=0,
        eval_sessions=30,
        seed=0,
        progress=False,
    )
    config = IterativeConfig(rounds=2, steps_per_round=3, sessions_per_round=40, noise=(0.5, 1.0))
    lines: list[str] = []
    rounds = run_iterative(spec, config, tmp_path / "it", say=lines.append)
    assert [r.round for r in rounds] == [0, 1]
    assert [r.steps for r in rounds] == [3, 6] and [r.n_logs for r in rounds] == [1, 2]
    assert all(0.0 <= r.sr_at_20 <= 1.0 and r.test["n_sessions"] == 30 for r in rounds)
    new_log = read_manifest(tmp_path / "it" / "round-0" / "log")
    assert new_log.n_sessions == 40
    assert [d["name"] for d in new_log.devices] == ["round-0-noise-0.5", "round-0-noise-1"]
    assert new_log.devices[0]["checkpoint"] == str(rounds[0].agent_dir)
    assert not (tmp_path / "it" / "round-1" / "log").exists()  # no collection after the last
    meta = [
        load_checkpoint(tmp_path / "it" / f"round-{r}" / "run" / CHECKPOINT_NAME).meta
        for r in (0, 1)
    ]
    assert meta[0]["init"] is None and meta[1]["init"] == str(rounds[0].agent_dir.resolve())
    assert meta[1]["logs"] == [str(log.resolve()), str((tmp_path / "it/round-0/log").resolve())]
    again: list[str] = []
    assert run_iterative(spec, config, tmp_path / "it", say=again.append) == rounds
    assert all("skipped" in line for line in again) and len(again) == 2
