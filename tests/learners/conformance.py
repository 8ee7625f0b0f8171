"""Checks every registered learner must pass (run by each learner's test module).

``check_learner`` takes factories so that one suite serves learners with different batch sources:
``make_learner(seed)`` builds a fresh learner, ``make_batches(learner)`` its batch source, and
``simulator`` is where greedy policies are compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from textrec.evaluation import evaluate
from textrec.learners.loop import (
    CHECKPOINT_NAME,
    BatchSource,
    Learner,
    fit,
    fitter,
    load_checkpoint,
)
from textrec.simulator import BatchedSimulator

__all__ = ["check_learner", "check_resume_after_kill"]


class _Counting:
    """Delegates to a learner and counts ``update`` calls."""

    def __init__(self, learner: Learner[Any]) -> None:
        self.inner, self.calls = learner, 0
        self.name, self.config = learner.name, learner.config

    def update(self, batch: Any) -> dict[str, float]:
        self.calls += 1
        return self.inner.update(batch)

    def policy(self) -> Any:
        return self.inner.policy()

    def state_dict(self) -> dict[str, Any]:
        return self.inner.state_dict()

    def load_state_dict(self, state: Any) -> None:
        self.inner.load_state_dict(state)


def _training_metrics(out: list[tuple[int, dict[str, float]]]) -> list[dict[str, float]]:
    return [{k: v for k, v in m.items() if not k.startswith("time/")} for _, m in out]


def _tensors(state: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state dict, by dotted path."""
    if isinstance(state, torch.Tensor):
        return {prefix: state.detach().clone()}
    if isinstance(state, dict):
        out: dict[str, torch.Tensor] = {}
        for k, v in state.items():
            out.update(_tensors(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(state, (list, tuple)):
        out = {}
        for i, v in enumerate(state):
            out.update(_tensors(v, f"{prefix}.{i}"))
        return out
    return {}


def _weights(learner: Learner[Any]) -> dict[str, torch.Tensor]:
    return {
        k: v
        for k, v in _tensors(learner.state_dict()).items()
        if not k.startswith(("optimiser", "generator")) and v.is_floating_point()
    }


def check_resume_after_kill(
    make_learner: Callable[[int], Learner[Any]],
    make_batches: Callable[[Learner[Any]], BatchSource[Any]],
    tmp_path: Path,
    n_steps: int = 3,
) -> None:
    """A run killed after a checkpoint and resumed ends exactly where the uninterrupted run does."""

    def run(learner: Learner[Any], folder: str) -> Any:
        return fitter(
            learner,
            make_batches(learner),
            n_steps=n_steps,
            eval_every=1,
            checkpoint_dir=tmp_path / folder,
            seed=1,
            progress=False,
        )

    whole = make_learner(0)
    out = list(run(whole, "whole"))
    killed = run(make_learner(0), "killed")
    for _ in range(n_steps - 1):
        next(killed)
    killed.close()  # the process dies here; the checkpoint of step n_steps - 1 is on disk
    resumed = make_learner(0)
    rest = list(run(resumed, "killed"))
    assert [s for s, _ in rest] == [n_steps]
    assert _training_metrics(rest) == _training_metrics(out[-1:])
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def check_learner(
    make_learner: Callable[[int], Learner[Any]],
    make_batches: Callable[[Learner[Any]], BatchSource[Any]],
    simulator: BatchedSimulator,
    tmp_path: Path,
    n_steps: int = 2,
) -> None:
    """One update moves the weights; fit calls update n times; same seed, same metrics;
    checkpoint and config round trip; reload acts the same; the greedy policy answers the
    simulator's protocol per session; a killed and resumed run equals the uninterrupted one."""
    probe = make_learner(0)
    before = _weights(probe)
    probe.update(make_batches(probe).sample(np.random.default_rng(0)))
    after = _weights(probe)
    assert any(not torch.equal(before[k], after[k]) for k in before), "an update must learn"

    counting = _Counting(make_learner(0))
    out = fit(
        counting,
        make_batches(counting.inner),
        n_steps=n_steps,
        checkpoint_dir=tmp_path,
        seed=1,
        progress=False,
    )
    assert counting.calls == n_steps
    assert all(set(m) >= {"time/sample", "time/update"} for _, m in out)

    again = make_learner(0)
    assert _training_metrics(
        fit(again, make_batches(again), n_steps=n_steps, seed=1, progress=False)
    ) == _training_metrics(out), "same seed must give identical training metrics"

    ckpt = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert ckpt.type == counting.name and ckpt.step == n_steps
    assert ckpt.config == asdict(counting.config)
    reloaded = make_learner(1)
    reloaded.load_state_dict(ckpt.state_dict)
    a = evaluate(counting.policy(), simulator, 32, seed=2)
    b = evaluate(reloaded.policy(), simulator, 32, seed=2)
    np.testing.assert_array_equal(a.curve, b.curve)
    assert a.nv.mean == b.nv.mean

    result = simulator.reset(8, np.random.default_rng(0))
    policy = counting.policy()
    policy.reset(8, np.random.default_rng(0))
    action = policy.act(result)
    assert action.n_sessions == 8
    if action.head_probs is not None:
        assert [p.shape for p in action.head_probs] == [
            (8, s) for s in simulator.catalog.schema.sizes
        ]
    else:
        assert action.values.shape == (8, simulator.catalog.schema.n_attributes)

    check_resume_after_kill(make_learner, make_batches, tmp_path / "resume")
