"""Iterative offline training (paper, "Iterative Offline Training"): learn, deploy, collect, repeat.

Round ``r = 0 .. K−1`` (``K = rounds``):

1. the offline learner (``cql`` by default) trains ``steps_per_round`` updates on ``D`` — the base
   logs plus every log the earlier rounds collected — starting from the agent of round ``r − 1``
   (``TrainSpec.init``), so that after round ``r`` the agent has had ``(r + 1) · steps_per_round``
   updates (the budget of one offline row when ``steps_per_round = steps / K``);
2. its agent's final evaluation (the entry point's: the test pool unless ``spec.eval_pool`` says
   otherwise) is one point of the curve (Figure 4);
3. unless it is the last round, noisy copies of it are deployed as new devices (paper, "Model
   Deployment": "the policies used to collect data are injected with Gaussian noise when choosing
   actions" — here ``logits_k + noise · ξ``, ``ξ ~ N(0, 1)``, one device per ``noise`` value, see
   :mod:`textrec.logs.policies`), they collect ``D′`` of ``sessions_per_round`` sessions on the
   train pool, and ``D = D ∪ D′``.

The learner's own state beyond the recommender (optimiser moments, target networks) starts afresh
each round. Training goes through the learner entry point
(:func:`textrec.learners.run.train_agent`) and collection through
:func:`textrec.logs.collect.collect`; nothing of either is re-implemented here. Each round's
result is saved atomically as it finishes (``round-r/result.json``); the training runs checkpoint
and the collections write complete shards, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from textrec.backends import Backend
from textrec.errors import InputError
from textrec.io import read_json, write_json_atomic
from textrec.logs.policies import DeviceConfig
from textrec.metrics import MeanSE

__all__ = [
    "IterativeConfig",
    "RoundResult",
    "deployed_devices",
    "round_seed",
    "run_iterative",
]


@dataclass(frozen=True)
class IterativeConfig:
    """Rounds of learn -> deploy -> collect (paper, "Iterative Offline Training")."""

    rounds: int = 3
    """Training rounds ``K`` (``K − 1`` collections between them)."""
    steps_per_round: int = 500
    """Learner updates per round (each round starts from the previous round's agent)."""
    sessions_per_round: int = 10000
    """Sessions the deployed copies collect after each round but the last."""
    noise: tuple[float, ...] = (0.5, 1.0, 1.5)
    """Logit-noise standard deviation of each deployed copy (one device per value)."""
    chunk_sessions: int = 1000
    """Sessions per shard of the collected logs."""

    def __post_init__(self) -> None:
        for name in ("rounds", "steps_per_round", "sessions_per_round", "chunk_sessions"):
            if getattr(self, name) < 1:
                raise InputError(f"IterativeConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.noise or not all(np.isfinite(n) and n >= 0 for n in self.noise):
            raise InputError(f"IterativeConfig.noise must be non-empty and >= 0, got {self.noise}")


@dataclass(frozen=True)
class RoundResult:
    """One round: the agent after it and its test-pool evaluation."""

    round: int
    """Round index (0-based)."""
    steps: int
    """Learner updates done after this round (cumulative)."""
    n_logs: int
    """Logs the learner trained on in this round (base logs included)."""
    agent_dir: Path
    """The agent after this round (its run's ``final/``)."""
    test: dict[str, Any]
    """Its test-pool evaluation (:meth:`EvaluationResult.to_json`)."""

    @property
    def sr_at_20(self) -> float:
        """Test-pool SR@20 after the round."""
        return float(self.test["sr@20"]["mean"])

    def evaluation(self) -> dict[str, MeanSE]:
        """The evaluation's SR@K, NI, NV as mean ± s.e."""
        keys = ("sr@10", "sr@20", "sr@30", "ni", "nv")
        return {k: MeanSE(float(self.test[k]["mean"]), float(self.test[k]["se"])) for k in keys}

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {**asdict(self), "agent_dir": str(self.agent_dir)}


def deployed_devices(
    agent_dir: str | Path, round_index: int, noise: Sequence[float]
) -> tuple[DeviceConfig, ...]:
    """Noisy copies of the agent in ``agent_dir``, one device per noise level."""
    return tuple(
        DeviceConfig(
            f"round-{round_index}-noise-{n:g}", "agent", noise=float(n), checkpoint=str(agent_dir)
        )
        for n in noise
    )


def round_seed(seed: int, round_index: int) -> int:
    """Collection seed of the log collected after round ``round_index`` (distinct from ``seed``,
    so its session ids differ from the base log's)."""
    return int(np.random.SeedSequence(seed, spawn_key=(round_index + 1,)).generate_state(1)[0])


SETTINGS_FILE = "settings.json"
"""What an iterative run was started with; a run continued in the same directory must match."""


def _settings(spec: Any, config: IterativeConfig, logs: Sequence[Path]) -> dict[str, Any]:
    """The settings finished rounds depend on, as they read back from JSON (all but ``rounds``,
    which a continued run may raise, ``progress``, and ``ingredients``, made of the settings)."""
    skip = {"catalog", "out", "logs", "steps", "init", "progress", "ingredients"}
    train = {f.name: getattr(spec, f.name) for f in fields(spec) if f.name not in skip}
    settings = {
        **{k: v for k, v in asdict(config).items() if k != "rounds"},
        **train,
        "catalog": f"{spec.catalog.name} (fingerprint {spec.catalog.fingerprint})",
        "logs": [str(p.resolve()) for p in logs],
        "init": None if spec.init is None else str(Path(spec.init).resolve()),
    }
    return dict(json.loads(json.dumps(settings, default=_plain)))


def _plain(obj: Any) -> Any:
    return asdict(obj) if is_dataclass(obj) else dict(obj) if isinstance(obj, Mapping) else str(obj)


def _check_settings(path: Path, settings: dict[str, Any]) -> None:
    """Write ``settings`` to ``path`` on a new run; refuse to continue a run made with others."""
    if path.is_file():
        saved = read_json(path)
        if not isinstance(saved, dict):
            raise InputError(f"{path}: expected a JSON object, got {type(saved).__name__}")
        differ = sorted(
            k for k in settings.keys() | saved.keys() if saved.get(k) != settings.get(k)
        )
        if differ:
            raise InputError(
                f"{path}: the run was started with other settings ({', '.join(differ)}); "
                "continue it with the same options (only --rounds may change) or choose another "
                "--out"
            )
        return
    write_json_atomic(path, settings)


def run_iterative(
    spec: Any,
    config: IterativeConfig,
    out: str | Path,
    *,
    backend: Backend = Backend(),  # noqa: B008 -- a frozen dataclass, immutable
    say: Callable[[str], None] = lambda _: None,
) -> list[RoundResult]:
    """Run ``config.rounds`` rounds of iterative offline training into ``out``.

    Args:
        spec: the learner's :class:`textrec.learners.run.TrainSpec` for round 0 (its ``logs`` are
            the base logs ``D``; ``out``, ``steps``, ``logs`` and ``init`` are set per round).
        config: rounds, updates, sessions and noise of the deployed copies.
        out: directory of the run: ``round-r/run`` (the round's training run, its agent in
            ``final/``), ``round-r/log`` (what its copies collected), ``round-r/result.json``.
        backend: where each new log is collected: this process, a local pool or Ray actors
            (:class:`~textrec.backends.Backend`; the same log whichever runs it).
        say: receives one progress line per round.

    Returns:
        The rounds' results, in order.
    """
    from textrec.learners.run import train_agent
    from textrec.logs.collect import collect

    if spec.logs is None:
        raise InputError("iterative training needs at least one base log")
    root = Path(out)
    logs = [Path(spec.logs)] if isinstance(spec.logs, str | Path) else [Path(p) for p in spec.logs]
    _check_settings(root / SETTINGS_FILE, _settings(spec, config, logs))
    spec = replace(spec, ingredients=spec.parts())  # every round's run shares them
    results: list[RoundResult] = []
    for r in range(config.rounds):
        saved = root / f"round-{r}" / "result.json"
        if saved.is_file():
            obj = read_json(saved)
            result = RoundResult(**{**obj, "agent_dir": Path(obj["agent_dir"])})
            say(f"[iterative] round {r + 1}/{config.rounds}: done before, skipped")
        else:
            init = results[-1].agent_dir if results else spec.init
            run = replace(
                spec,
                logs=tuple(logs),
                out=root / f"round-{r}" / "run",
                steps=config.steps_per_round,
                init=init,
            )
            trained = train_agent(run)  # its final evaluation: spec's pool, sessions and seed
            steps = (r + 1) * config.steps_per_round
            result = RoundResult(
                r, steps, len(logs), Path(trained.agent_dir), trained.test.to_json()
            )
            write_json_atomic(saved, result.to_json())
            say(
                f"[iterative] round {r + 1}/{config.rounds}: {result.steps} updates on "
                f"{len(logs)} log(s), test SR@20 {result.sr_at_20:.3f}"
            )
        results.append(result)
        if r == config.rounds - 1:
            break
        new_log = root / f"round-{r}" / "log"
        collect(
            spec.catalog,
            new_log,
            config.sessions_per_round,
            round_seed(spec.seed, r),
            deployed_devices(result.agent_dir, r, config.noise),
            task=spec.ingredients.task,
            workers=backend.workers,
            backend=backend.name,
            ray_address=backend.address,
            chunk_sessions=min(config.chunk_sessions, config.sessions_per_round),
            resume=True,
            progress=spec.progress,
        )
        logs.append(new_log)
    return results
