"""Backends: where jobs run (this process, a process pool, Ray) never changes the numbers."""

from __future__ import annotations

import pytest

from textrec.backends import Backend, job_runner
from textrec.errors import InputError
from textrec.evaluation import EvaluationSetup, evaluate, evaluate_on, make_simulator
from textrec.simulator import SlotFillerPolicy


def _offset(k: int) -> int:
    return k


def _job(state: int, x: int) -> int:
    return state + x * x


def _run(backend: Backend) -> dict[object, int]:
    """Jobs 0..4 and, as each of the first two finishes, a follow-up job (reproduce's pattern)."""
    out = {}
    with job_runner(backend, _offset, (100,)) as jobs:
        for x in range(5):
            jobs.submit(x, _job, x)
        for key, value in jobs.completed():
            out[key] = value
            if key in (0, 1):
                jobs.submit(("after", key), _job, 10 + key)
    return out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "spark"}, "--backend must be one of"),
        ({"workers": 0}, "--workers must be >= 1"),
        ({"address": "10.0.0.1:6379"}, "--ray-address needs --backend ray"),
    ],
)
def test_bad_backends_are_refused(kwargs, match):
    with pytest.raises(InputError, match=match):
        Backend(**kwargs)


def test_every_job_runs_once_in_process_and_in_a_pool():
    want = {**{x: 100 + x * x for x in range(5)}, ("after", 0): 200, ("after", 1): 221}
    assert _run(Backend()) == want
    assert _run(Backend("local", workers=2)) == want


def test_every_job_runs_once_on_ray(ray_cluster):
    want = {**{x: 100 + x * x for x in range(5)}, ("after", 0): 200, ("after", 1): 221}
    assert _run(Backend("ray", workers=2)) == want


@pytest.fixture(scope="module")
def serial(toy_catalog):
    """evaluate() in this process: 300 sessions in 5 batches of 64, 3 dialogues recorded."""
    sim = make_simulator(toy_catalog, "test", "templates", seed=4)
    return evaluate(SlotFillerPolicy(toy_catalog), sim, 300, seed=4, batch_size=64, record=3)


def _on(backend: Backend, catalog):
    setup = EvaluationSetup(catalog, "slot-filler", "test", "templates", seed=4)
    return evaluate_on(backend, setup, 300, batch_size=64, record=3)


def _same(result, serial) -> None:
    assert result.to_json() == serial.to_json()  # every metric, the whole curve
    assert result.dialogues == serial.dialogues and len(result.dialogues) == 3


def test_evaluate_on_in_process_and_in_a_pool_is_evaluate(serial, toy_catalog):
    _same(_on(Backend(), toy_catalog), serial)
    _same(_on(Backend("local", workers=2), toy_catalog), serial)


def test_evaluate_on_ray_is_evaluate(serial, toy_catalog, ray_cluster):
    _same(_on(Backend("ray", workers=2), toy_catalog), serial)


def test_iterative_collects_the_same_log_on_ray(ray_cluster, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    import textrec.logs.collect as collecting
    from textrec.catalog.build import open_catalog
    from textrec.learners.iterative import IterativeConfig, run_iterative
    from textrec.learners.run import TrainSpec
    from textrec.logs.collect import collect
    from textrec.logs.policies import default_devices
    from textrec.logs.reader import list_shards

    catalog = open_catalog("builtin", items=300, seed=0, progress=False)
    collect(catalog, tmp_path / "base", 40, 0, default_devices(), chunk_sessions=20, progress=False)
    spec = TrainSpec(
        algo="bc", catalog=catalog, out=tmp_path / "unused", logs=tmp_path / "base", steps=1,
        eval_every=0, eval_sessions=20, seed=0, progress=False,
    )  # fmt: skip
    config = IterativeConfig(
        rounds=2, steps_per_round=2, sessions_per_round=40, noise=(0.5,), chunk_sessions=20
    )

    used: list[Backend] = []
    runner = collecting.job_runner
    monkeypatch.setattr(
        collecting, "job_runner", lambda where, *a: used.append(where) or runner(where, *a)
    )

    def round_log(backend: Backend, name: str) -> list[dict]:
        run_iterative(spec, config, tmp_path / name, backend=backend)
        assert used.pop().name == backend.name  # the new log was collected where asked
        log = tmp_path / name / "round-0" / "log"
        return [row for p in list_shards(log, "experience") for row in pq.read_table(p).to_pylist()]

    local = round_log(Backend(), "local")
    assert len({row["session_id"] for row in local}) == 40
    assert round_log(Backend("ray", workers=2), "ray") == local
