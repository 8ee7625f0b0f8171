"""The shared loop: update count, evaluation schedule, metrics CSV, checkpoints and resuming."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from textrec.errors import InputError
from textrec.learners.loop import (
    CHECKPOINT_NAME,
    METRICS_NAME,
    Pending,
    fit,
    fitter,
    load_checkpoint,
    save_checkpoint,
)


@dataclass(frozen=True)
class MeanConfig:
    """Config of the toy learner."""

    lr: float = 0.1
    """Step size towards each batch."""


class MeanLearner:
    """Tracks a running mean of the batches: enough state to tell a resumed run from a fresh one."""

    name: ClassVar[str] = "mean"

    def __init__(self, config: MeanConfig | None = None) -> None:
        self.config = config or MeanConfig()
        self.w = torch.zeros(3)
        self.n_updates = 0

    def update(self, batch: torch.Tensor) -> dict[str, float]:
        self.n_updates += 1
        self.w += self.config.lr * (batch - self.w)
        return {"loss/fit": float(((batch - self.w) ** 2).sum())}

    def policy(self) -> torch.Tensor:
        return self.w.clone()

    def state_dict(self) -> dict[str, Any]:
        return {"w": self.w.clone(), "n_updates": self.n_updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.w = state["w"].clone()
        self.n_updates = int(state["n_updates"])


class NormalBatches:
    def sample(self, rng: np.random.Generator) -> torch.Tensor:
        return torch.as_tensor(rng.normal(size=3), dtype=torch.float32)


def norm_evaluator(policy: torch.Tensor) -> dict[str, float]:
    return {"norm": float(policy.norm())}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_fit_updates_n_times_and_evaluates_on_schedule(tmp_path):
    learner = MeanLearner()
    out = fit(
        learner,
        NormalBatches(),
        n_steps=10,
        evaluators={"eval": norm_evaluator},
        eval_every=4,
        checkpoint_dir=tmp_path,
        progress=False,
    )
    assert learner.n_updates == 10
    assert [s for s, _ in out] == list(range(1, 11))
    assert [s for s, m in out if "eval/norm" in m] == [4, 8, 10]
    assert all({"time/sample", "time/update", "loss/fit"} <= set(m) for _, m in out)
    rows = read_csv(tmp_path / METRICS_NAME)
    assert [int(r["step"]) for r in rows] == [4, 8, 10]
    assert float(rows[-1]["eval/norm"]) == pytest.approx(float(learner.w.norm()))
    # the CSV's training columns are the means of the steps since the previous row
    expected = np.mean([m["loss/fit"] for s, m in out if 5 <= s <= 8])
    assert float(rows[1]["loss/fit"]) == pytest.approx(expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME, METRICS_NAME]


def _run(learner, tmp_path, stop=None, **kwargs):
    """``fitter`` on the toy learner, seed 3, 12 steps, evaluated every 4; stopped after the
    step ``stop`` (None: to the end)."""
    run = fitter(
        learner,
        NormalBatches(),
        n_steps=12,
        evaluators={"eval": norm_evaluator},
        eval_every=4,
        checkpoint_dir=tmp_path,
        seed=3,
        progress=False,
        **kwargs,
    )
    steps = [s for s, _ in itertools.islice(run, stop)]
    run.close()
    return steps


def test_resume_continues_exactly_where_the_checkpoint_left(tmp_path):
    straight = MeanLearner()
    fit(straight, NormalBatches(), n_steps=12, eval_every=4, seed=3, progress=False)

    # interrupted after step 6: the checkpoint (saved with the rows only) holds step 4
    _run(MeanLearner(), tmp_path, stop=6, checkpoint_seconds=None)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME).step == 4

    resumed = MeanLearner()
    assert _run(resumed, tmp_path) == list(range(5, 13))
    assert resumed.n_updates == 12
    torch.testing.assert_close(resumed.w, straight.w, rtol=0, atol=0)
    assert [int(r["step"]) for r in read_csv(tmp_path / METRICS_NAME)] == [4, 8, 12]


def _without_times(rows):
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


@pytest.mark.parametrize("stop", [2, 6])
def test_a_checkpoint_between_rows_resumes_as_if_never_stopped(tmp_path, stop):
    """With ``checkpoint_seconds=0`` the checkpoint is saved after every step: a run killed
    after step ``stop`` (before its first row, or between rows 4 and 8) resumes at ``stop + 1``
    and ends with the same weights and the same metrics rows as the uninterrupted run (the
    row after the stop averages the steps before and after it)."""
    straight = MeanLearner()
    _run(straight, tmp_path / "straight")
    first = MeanLearner()
    _run(first, tmp_path / "killed", stop=stop, checkpoint_seconds=0)
    ckpt = load_checkpoint(tmp_path / "killed" / CHECKPOINT_NAME)
    assert ckpt.step == stop
    assert ckpt.pending is not None and ckpt.pending.row_step == 4 * (stop // 4)
    assert len(ckpt.pending.metrics["loss/fit"]) == stop % 4

    resumed = MeanLearner()
    assert _run(resumed, tmp_path / "killed") == list(range(stop + 1, 13))
    torch.testing.assert_close(resumed.w, straight.w, rtol=0, atol=0)
    assert _without_times(read_csv(tmp_path / "killed" / METRICS_NAME)) == _without_times(
        read_csv(tmp_path / "straight" / METRICS_NAME)
    )


def test_checkpoints_between_rows_follow_the_clock(tmp_path, monkeypatch):
    """A checkpoint is saved between rows only once ``checkpoint_seconds`` have passed since
    the last save (here the clock moves 1 s per reading: every few steps, not every one)."""
    clock = itertools.count()
    monkeypatch.setattr("textrec.learners.loop.time.perf_counter", lambda: float(next(clock)))
    saves = []
    real = save_checkpoint

    def spy(path, learner, step, *args):
        saves.append(step)
        return real(path, learner, step, *args)

    monkeypatch.setattr("textrec.learners.loop.save_checkpoint", spy)
    _run(MeanLearner(), tmp_path, checkpoint_seconds=None)
    assert saves == [4, 8, 12]
    saves.clear()
    _run(MeanLearner(), tmp_path / "clock", checkpoint_seconds=10)
    between = sorted(set(saves) - {4, 8, 12})
    assert {4, 8, 12} <= set(saves) and between and len(between) < 9  # not after every step


def test_a_pending_row_that_does_not_precede_its_step_is_refused(tmp_path):
    learner = MeanLearner()
    pending = Pending(row_step=5, wall=1.0, metrics={"loss/fit": [0.5]})
    save_checkpoint(tmp_path / CHECKPOINT_NAME, learner, 5, 3, None, pending)
    with pytest.raises(InputError, match="pending row at step 5, not before step 5"):
        load_checkpoint(tmp_path / CHECKPOINT_NAME)


@pytest.mark.parametrize(
    ("learner", "seed", "match"),
    [
        (MeanLearner(MeanConfig(lr=0.5)), 0, "differs from this run"),
        (MeanLearner(), 1, "seed 0, this run has seed 1"),
    ],
)
def test_resume_refuses_another_run(tmp_path, learner, seed, match):
    fit(MeanLearner(), NormalBatches(), n_steps=2, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match=match):
        fit(learner, NormalBatches(), n_steps=4, checkpoint_dir=tmp_path, seed=seed, progress=False)


def test_resume_refuses_another_learner_type(tmp_path):
    fit(MeanLearner(), NormalBatches(), n_steps=2, checkpoint_dir=tmp_path, progress=False)

    class Other(MeanLearner):
        name = "other"

    with pytest.raises(ValueError, match="holds a 'mean' learner"):
        fit(Other(), NormalBatches(), n_steps=4, checkpoint_dir=tmp_path, progress=False)


def test_checkpoint_file_round_trip_and_version_warning(tmp_path, monkeypatch):
    learner = MeanLearner(MeanConfig(lr=0.25))
    fit(learner, NormalBatches(), n_steps=3, progress=False)
    path = save_checkpoint(tmp_path / "ckpt.pt", learner, step=3, seed=7)
    ckpt = load_checkpoint(path)
    assert (ckpt.type, ckpt.config, ckpt.step, ckpt.seed) == ("mean", {"lr": 0.25}, 3, 7)
    torch.testing.assert_close(ckpt.state_dict["w"], learner.w)
    monkeypatch.setattr("textrec.checkpoint.__version__", "0.0.0-other")
    with pytest.warns(UserWarning, match="written by textrec"):
        load_checkpoint(path)


def test_bad_arguments_are_errors(tmp_path):
    with pytest.raises(ValueError, match="n_steps must be >= 1"):
        fit(MeanLearner(), NormalBatches(), n_steps=0)
    (tmp_path / "broken.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a textrec checkpoint: 16 bytes that are not a"):
        load_checkpoint(tmp_path / "broken.pt")
