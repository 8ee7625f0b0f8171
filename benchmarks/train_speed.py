"""Training speed of the offline learners: gradient steps/s and logged turns/s.

Usage::

    .venv/bin/python benchmarks/train_speed.py --logs LOGDIR --catalog builtin
    .venv/bin/python benchmarks/train_speed.py --flat-only

Two measurements:

1. **Each offline learner of the registry on an experience log** (default: a 40,000-session
   built-in log made by ``textrec collect --catalog builtin --sessions 40000``), at its default
   batch (128 logged dialogues), the agent as ``textrec train`` builds it: gradient steps/s and
   logged turns/s (real turns of the batches, padding excluded). Batch assembly is timed apart.
2. **``cql`` on flat random data**, for comparison with d3rlpy's DiscreteCQL (about 115 steps/s on
   this kind of machine): observation 160, 50 actions, batch 256, Q and policy networks of two
   256-unit layers, the same loss as the ``cql`` learner
   (:func:`textrec.learners.cql.cql_loss`); once with one head of 50 values and once with six
   heads of 50 values in all and once with six heads of 50 values each (a multi-discrete
   action), to show what the extra heads cost; beside them the simplest DQN-style CQL step in
   plain PyTorch on the same network, a calibration of the machine at the time of the run.

Every figure is the median of ``--repeats`` timed blocks of ``--steps`` steps after a warm-up.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from textrec.learners.cql import CQLConfig, cql_loss
from textrec.learners.functional import polyak_update


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


def flat_cql(sizes: list[int], steps: int, repeats: int, seed: int) -> Rate:
    """Steps/s of ``cql_loss`` on flat random data (obs 160, heads of ``sizes`` values, batch
    256, two 256-unit layers)."""
    obs, batch, hidden = 160, 256, 256
    torch.manual_seed(seed)
    q_net, actor = _FlatHeads(obs, hidden, sizes), _FlatHeads(obs, hidden, sizes)
    target = copy.deepcopy(q_net).requires_grad_(False)
    params = [*q_net.parameters(), *actor.parameters()]
    optimiser = torch.optim.Adam(params, lr=3e-4)
    cfg = CQLConfig(alpha=1.0)
    g = torch.Generator().manual_seed(seed)
    data = [
        (
            torch.randn(batch, obs, generator=g),
            torch.randn(batch, obs, generator=g),
            torch.stack([torch.randint(0, v, (batch,), generator=g) for v in sizes], dim=-1),
            torch.randn(batch, generator=g),
            torch.rand(batch, generator=g) < 0.1,
        )
        for _ in range(8)
    ]
    mask = torch.ones(batch, dtype=torch.bool)

    def block() -> None:
        for i in range(steps):
            s, s_next, a, r, d = data[i % len(data)]
            logits_all = actor(torch.cat([s, s_next]))  # one pass of the actor for s and s'
            logits = [lg[:batch] for lg in logits_all]
            next_logits = [lg[batch:].detach() for lg in logits_all]
            with torch.no_grad():
                target_next = target(s_next)
            loss, _ = cql_loss(q_net(s), target_next, logits, next_logits, a, r, d, mask, cfg)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            polyak_update(target, q_net, cfg.target_update)

    return _median_rate(block, steps, repeats)


def reference_dqn_cql(steps: int, repeats: int, seed: int) -> Rate:
    """Steps/s of the simplest DQN-style CQL step in plain PyTorch on the same data and network
    (one Q net, max target, logsumexp penalty, Adam): what this machine does at all, now."""
    obs, batch, hidden, values = 160, 256, 256, 50
    torch.manual_seed(seed)
    q_net = _FlatHeads(obs, hidden, [values])
    target = copy.deepcopy(q_net).requires_grad_(False)
    optimiser = torch.optim.Adam(q_net.parameters(), lr=3e-4)
    g = torch.Generator().manual_seed(seed)
    s, s_next = torch.randn(batch, obs, generator=g), torch.randn(batch, obs, generator=g)
    a, r = torch.randint(0, values, (batch, 1), generator=g), torch.randn(batch, generator=g)

    def block() -> None:
        for _ in range(steps):
            q = q_net(s)[0]
            with torch.no_grad():
                y = r + 0.99 * target(s_next)[0].max(-1).values
            qa = q.gather(1, a).squeeze(1)
            loss = 0.5 * ((qa - y) ** 2).mean() + (torch.logsumexp(q, -1) - qa).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    return _median_rate(block, steps, repeats)


def logged(args: argparse.Namespace) -> None:
    """Steps/s and logged turns/s of every offline learner on the log."""
    from textrec.agent import Recommender
    from textrec.catalog.build import open_catalog
    from textrec.language.encoder import load_or_pretrain
    from textrec.learners import LEARNERS
    from textrec.learners.batches import LogDialogues
    from textrec.learners.loop import step_rng

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
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    if not args.flat_only:
        if args.logs is None:
            parser.error("--logs LOGDIR is required unless --flat-only")
        logged(args)
    print("flat cql, obs 160, batch 256, Q and policy nets 2x256 (steps/s, wall and cpu):")
    reference = reference_dqn_cql(args.flat_steps, args.repeats, args.seed)
    print(f"  plain-PyTorch DQN-CQL step    {reference}   (no policy net: this machine, now)")
    one = flat_cql([50], args.flat_steps, args.repeats, args.seed)
    print(f"  1 head of 50 actions          {one}   d3rlpy DiscreteCQL ~115")
    for label, sizes in (
        ("6 heads, 50 values in all", [9, 9, 8, 8, 8, 8]),
        ("6 heads of 50 values each", [50] * 6),
    ):
        rate = flat_cql(sizes, args.flat_steps, args.repeats, args.seed)
        print(f"  {label:<29} {rate}   cost {one.cpu / rate.cpu:.2f}x one head (cpu)")


if __name__ == "__main__":
    main()
