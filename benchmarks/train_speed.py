"""Training speed of the offline learners: gradient steps/s and logged turns/s.

Usage::

    .venv/bin/python benchmarks/train_speed.py --logs LOGDIR --catalog builtin
    .venv/bin/python benchmarks/train_speed.py --flat-only [--threads N] [--compare d3rlpy]

Measurements:

1. **Each offline learner of the registry on an experience log** (default: a 40,000-session
   built-in log made by ``textrec collect --catalog builtin --sessions 40000``), at its default
   batch (128 logged dialogues), the agent as ``textrec train`` builds it: gradient steps/s and
   logged turns/s (real turns of the batches, padding excluded). Batch assembly is timed apart.
2. **``cql`` on flat random data**: observation 160, batch 256, Q and policy networks of two
   256-unit layers, the ``cql`` learner's loss (:func:`textrec.learners.cql.cql_loss`), sampling
   from 100,000 random transitions included; with one head of 50 values, six heads of 50 values in
   all and six heads of 50 values each (what the extra heads cost), each with its FLOPs per step
   (``torch.utils.flop_counter``) and achieved GFLOP/s.
3. ``--compare d3rlpy``: **side by side with d3rlpy** in this process, at the same thread count,
   on the same random transitions (50 actions): d3rlpy's ``DiscreteCQL`` trained through its
   ``fit()`` as its users run it, and textrec's critic-only CQL (the same maths: DoubleDQN target,
   Huber TD error, conservative term, alpha 1, Adam, 2x256 Q net, batch 256), interleaved blocks.
   The last line is JSON: ``{"textrec_steps_per_s": ..., "d3rlpy_steps_per_s": ..., "ratio": ...}``.
   d3rlpy 2.8.1 pins ``gymnasium==1.0.0``, older than textrec needs, so it goes in a venv of its
   own: ``pip install -e '.[test,bench]' && pip install --no-deps d3rlpy==2.8.1`` (the ``bench``
   extra is d3rlpy's other dependencies; d3rlpy runs on the newer Gymnasium).

Every figure is the median of ``--repeats`` timed blocks of ``--steps`` (``--flat-steps``) steps
after a warm-up, at ``--threads`` torch threads (default: torch's, one per core).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from textrec.learners.configs import CQLConfig
from textrec.learners.cql import cql_loss
from textrec.learners.functional import cql_penalty, head_values, polyak_update, td_target


@dataclass(frozen=True)
class Rate:
    """Steps per second of wall time and per second of this process's CPU time."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.1f} (cpu {self.cpu:.1f})"


def _median_rate(run_block, steps: int, repeats: int) -> Rate:
    """Median of ``repeats`` timings of ``run_block()`` (``steps`` steps each), in steps/s.

    CPU time is reported beside wall time: on a shared machine (other processes on the cores) the
    wall figure understates what the code does per core.
    """
    run_block()  # warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run_block()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return Rate(steps / statistics.median(walls), steps / statistics.median(cpus))


class _FlatHeads(nn.Module):
    """``obs -> 256 -> 256 -> one head per entry of sizes`` (one linear layer for all heads)."""

    def __init__(self, obs: int, hidden: int, sizes: list[int]) -> None:
        super().__init__()
        self.sizes = sizes
        self.net = nn.Sequential(
            nn.Linear(obs, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, sum(sizes)),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.net(x).split(self.sizes, dim=-1))


@dataclass(frozen=True)
class FlatData:
    """Random transitions (obs 160, heads of ``sizes`` values), as NumPy arrays."""

    obs: np.ndarray
    next_obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminals: np.ndarray

    @classmethod
    def random(cls, sizes: list[int], n: int, seed: int) -> FlatData:
        rng = np.random.default_rng(seed)
        obs = rng.standard_normal((n + 1, OBS)).astype(np.float32)
        return cls(
            obs[:-1],
            obs[1:],
            np.stack([rng.integers(0, v, n) for v in sizes], axis=1),
            rng.standard_normal(n).astype(np.float32),
            (np.arange(1, n + 1) % EPISODE == 0),
        )

    def sampler(self, seed: int) -> Callable[[], tuple[torch.Tensor, ...]]:
        """Draws a batch of ``BATCH`` transitions with replacement (sampling is timed too)."""
        g = torch.Generator().manual_seed(seed)
        t = [torch.from_numpy(a) for a in (self.obs, self.next_obs, self.actions, self.rewards)]
        d = torch.from_numpy(self.terminals)

        def sample() -> tuple[torch.Tensor, ...]:
            i = torch.randint(0, len(d), (BATCH,), generator=g)
            return (*(x[i] for x in t), d[i])

        return sample


OBS, BATCH, HIDDEN, EPISODE = 160, 256, 256, 50
"""Observation size, batch, hidden units (two layers), logged steps per episode."""


def flat_cql_step(sizes: list[int], data: FlatData, seed: int) -> Callable[[], None]:
    """One step of textrec's ``cql`` (critic + soft actor, :func:`textrec.learners.cql.cql_loss`)
    on flat data: Q and policy nets of two 256-unit layers. The actor runs with gradient on ``s``
    only; its ``s'`` pass (the bootstrap's policy) runs without, as the learner does."""
    torch.manual_seed(seed)
    q_net, actor = _FlatHeads(OBS, HIDDEN, sizes), _FlatHeads(OBS, HIDDEN, sizes)
    target = copy.deepcopy(q_net).requires_grad_(False)
    optimiser = torch.optim.Adam([*q_net.parameters(), *actor.parameters()], lr=3e-4)
    cfg = CQLConfig(alpha=1.0)
    sample = data.sampler(seed)
    mask = torch.ones(BATCH, dtype=torch.bool)

    def step() -> None:
        s, s_next, a, r, d = sample()
        with torch.no_grad():
            target_next, next_logits = target(s_next), actor(s_next)
        loss, _ = cql_loss(q_net(s), target_next, actor(s), next_logits, a, r, d, mask, cfg)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        polyak_update(target, q_net, cfg.target_update)

    return step


def critic_cql_step(data: FlatData, seed: int, alpha: float = 1.0) -> Callable[[], None]:
    """textrec's critic-only CQL, d3rlpy ``DiscreteCQL``'s maths: Huber TD error on the DoubleDQN
    target (online net picks the next action, target net values it) plus ``alpha`` times the
    conservative term, Adam, hard target copy every 8,000 steps; textrec's functional pieces
    (:func:`head_values`, :func:`cql_penalty`, :func:`td_target`). The Q net runs once on ``s``
    (d3rlpy runs it twice) and without gradient on ``s'``."""
    torch.manual_seed(seed)
    sizes = [int(data.actions.max()) + 1]
    q_net = _FlatHeads(OBS, HIDDEN, sizes)
    target = copy.deepcopy(q_net).requires_grad_(False)
    optimiser = torch.optim.Adam(q_net.parameters(), lr=6.25e-5)
    sample = data.sampler(seed)
    mask = torch.ones(BATCH, dtype=torch.bool)
    steps = 0

    def step() -> None:
        nonlocal steps
        s, s_next, a, r, d = sample()
        q = q_net(s)
        with torch.no_grad():
            best = q_net(s_next)[0].argmax(-1, keepdim=True)
            y = td_target(r, target(s_next)[0].gather(-1, best).squeeze(-1), d, 0.99)
        td = nn.functional.huber_loss(head_values(q, a), y)
        loss = td + alpha * cql_penalty(q, a, mask)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        steps += 1
        if steps % 8000 == 0:
            polyak_update(target, q_net, 1.0)

    return step


def d3rlpy_fit(data: FlatData, steps: int, seed: int) -> Callable[[], None]:
    """d3rlpy's ``DiscreteCQL`` trained through ``fit()`` on the same transitions, as its users run
    it (its own sampler, no logging to disk, no progress bar); same network, batch and alpha."""
    import d3rlpy
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    d3rlpy.seed(seed)
    dataset = d3rlpy.dataset.MDPDataset(
        observations=np.concatenate([data.obs, data.next_obs[-1:]]),
        actions=np.concatenate([data.actions[:, 0], data.actions[-1:, 0]]),
        rewards=np.concatenate([data.rewards, data.rewards[-1:]]),
        terminals=np.concatenate([data.terminals, [True]]).astype(np.float32),
        action_space=d3rlpy.ActionSpace.DISCRETE,
    )
    algo = d3rlpy.algos.DiscreteCQLConfig(
        batch_size=BATCH,
        encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=[HIDDEN, HIDDEN]),
        alpha=1.0,
    ).create(device=False)
    noop = d3rlpy.logging.NoopAdapterFactory()

    def block() -> None:
        algo.fit(
            dataset,
            n_steps=steps,
            n_steps_per_epoch=steps,
            show_progress=False,
            logger_adapter=noop,
        )

    return block


def steps_of(step: Callable[[], None], steps: int) -> Callable[[], None]:
    """A block of ``steps`` calls of ``step``."""

    def block() -> None:
        for _ in range(steps):
            step()

    return block


def flops_per_step(step: Callable[[], None]) -> float:
    """FLOPs of one call of ``step`` (``torch.utils.flop_counter``: matrix products and their
    gradients)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def compare_d3rlpy(args: argparse.Namespace) -> dict[str, float]:
    """Interleaved blocks of textrec's critic-only CQL and d3rlpy's ``DiscreteCQL.fit()`` on the
    same random data: steps/s of each (median over ``--repeats`` blocks) and the ratio."""
    data = FlatData.random([50], 100_000, args.seed)
    ours = steps_of(critic_cql_step(data, args.seed), args.flat_steps)
    theirs = d3rlpy_fit(data, args.flat_steps, args.seed)
    ours(), theirs()  # warm-up (d3rlpy builds its networks here)
    walls: dict[str, list[float]] = {"textrec": [], "d3rlpy": []}
    cpus: dict[str, list[float]] = {"textrec": [], "d3rlpy": []}
    for _ in range(args.repeats):
        for name, block in (("textrec", ours), ("d3rlpy", theirs)):
            wall, cpu = time.perf_counter(), time.process_time()
            block()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    rate = {
        k: Rate(
            args.flat_steps / statistics.median(walls[k]),
            args.flat_steps / statistics.median(cpus[k]),
        )
        for k in walls
    }
    flops = flops_per_step(critic_cql_step(data, args.seed))
    print(
        f"critic-only CQL, obs {OBS}, 50 actions, batch {BATCH}, Q net 2x{HIDDEN}, sampling "
        f"included, steps/s: textrec {rate['textrec']} ({flops / 1e6:.0f} MFLOP/step, "
        f"{rate['textrec'].wall * flops / 1e9:.1f} GFLOP/s), d3rlpy DiscreteCQL fit() "
        f"{rate['d3rlpy']}"
    )
    return {
        "textrec_steps_per_s": rate["textrec"].wall,
        "d3rlpy_steps_per_s": rate["d3rlpy"].wall,
        "ratio": rate["textrec"].wall / rate["d3rlpy"].wall,
        "ratio_cpu": rate["textrec"].cpu / rate["d3rlpy"].cpu,
        "threads": torch.get_num_threads(),
    }


def actor_critic(args: argparse.Namespace) -> None:
    """textrec's full ``cql`` step on flat data: steps/s, FLOPs per step, GFLOP/s; one head of 50
    values against six heads (50 values in all, and 50 values each)."""
    print(f"cql (critic + soft actor), obs {OBS}, batch {BATCH}, Q and policy nets 2x{HIDDEN}:")
    one = None
    for label, sizes in (
        ("1 head of 50 values", [50]),
        ("6 heads, 50 values in all", [9, 9, 8, 8, 8, 8]),
        ("6 heads of 50 values each", [50] * 6),
    ):
        data = FlatData.random(sizes, 100_000, args.seed)
        rate = _median_rate(
            steps_of(flat_cql_step(sizes, data, args.seed), args.flat_steps),
            args.flat_steps,
            args.repeats,
        )
        flops = flops_per_step(flat_cql_step(sizes, data, args.seed))
        one = one or rate
        print(
            f"  {label:<26} {rate}  {flops / 1e6:.0f} MFLOP/step, "
            f"{rate.wall * flops / 1e9:.1f} GFLOP/s, {one.cpu / rate.cpu:.2f}x one head (cpu)"
        )


def logged(args: argparse.Namespace) -> None:
    """Steps/s and logged turns/s of every offline learner on the log."""
    from textrec.agent import Recommender
    from textrec.catalog.build import open_catalog
    from textrec.language.encoder import load_or_pretrain
    from textrec.learners.batches import LogDialogues
    from textrec.learners.loop import step_rng
    from textrec.learners.registry import LEARNERS

    catalog = open_catalog(
        args.catalog, data=args.data, items=args.items, seed=args.seed, progress=False
    )
    encoder = load_or_pretrain(catalog.schema, seed=args.seed)
    began = time.perf_counter()
    source = LogDialogues(args.logs, catalog, encoder.vocab)
    loaded = time.perf_counter() - began
    print(
        f"log {args.logs}: {source.n_sessions} sessions, {source.n_logged_turns} logged turns, "
        f"{len(source.tokens)} distinct sentences; loaded and tokenised in {loaded:.1f} s"
    )
    header = ("learner", "batch", "steps/s (cpu)", "turns/s (cpu)", "sample ms")
    print(f"{header[0]:<10} {header[1]:>6} {header[2]:>16} {header[3]:>14} {header[4]:>10}")
    for name, spec in LEARNERS.items():
        if not spec.needs_logs:
            continue
        learner = spec.build(Recommender(catalog, encoder, seed=args.seed), seed=args.seed)
        source.n_dialogues = learner.config.n_dialogues
        batches = [source.sample(step_rng(args.seed, i)) for i in range(args.steps)]
        turns = sum(b.n_turns for b in batches)

        def block(learner=learner, batches=batches) -> None:
            for b in batches:
                learner.update(b)

        rate = _median_rate(block, args.steps, args.repeats)
        began = time.perf_counter()
        for i in range(args.steps):
            source.sample(step_rng(args.seed, i))
        sample_ms = 1000 * (time.perf_counter() - began) / args.steps
        per_step = turns / args.steps
        print(
            f"{name:<10} {source.n_dialogues:>6} {str(rate):>16} "
            f"{f'{rate.wall * per_step:.0f} ({rate.cpu * per_step:.0f})':>14} {sample_ms:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", default=None, help="experience log directory (LOGDIR)")
    parser.add_argument("--catalog", default="builtin", help="catalog of the log")
    parser.add_argument("--data", default=None, help="UT-Zappos50K folder for --catalog zappos")
    parser.add_argument("--items", type=int, default=3000, help="items of the built-in catalog")
    parser.add_argument("--steps", type=int, default=20, help="steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks (median reported)")
    parser.add_argument("--flat-steps", type=int, default=200, help="steps per flat block")
    parser.add_argument("--flat-only", action="store_true", help="only the flat benchmark")
    parser.add_argument("--seed", type=int, default=0, help="seed")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch threads (all: cores)"
    )
    parser.add_argument(
        "--compare",
        choices=["d3rlpy"],
        default=None,
        help="also train d3rlpy's DiscreteCQL (the [bench] extra) beside textrec's critic-only "
        "CQL; the last line is then the JSON of both rates and their ratio",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if not args.flat_only:
        if args.logs is None:
            parser.error("--logs LOGDIR is required unless --flat-only")
        logged(args)
    actor_critic(args)
    if args.compare == "d3rlpy":
        print(json.dumps(compare_d3rlpy(args)))


if __name__ == "__main__":
    main()
