"""Checks every learner must pass (run by each learner's test module).

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

from textrec.evaluation import evaluate
from textrec.learners.loop import CHECKPOINT_NAME, BatchSource, Learner, fit, load_checkpoint
from textrec.simulator import BatchedSimulator

__all__ = ["check_learner"]


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


def check_learner(
    make_learner: Callable[[int], Learner[Any]],
    make_batches: Callable[[Learner[Any]], BatchSource[Any]],
    simulator: BatchedSimulator,
    tmp_path: Path,
    n_steps: int = 2,
) -> None:
    """Fit calls update n times; same seed, same metrics; checkpoint and config round trip;
    reload acts the same; the greedy policy answers the simulator's protocol per session."""
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
