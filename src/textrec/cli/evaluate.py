"""``textrec evaluate``: score a trained agent or a baseline in the simulator (Table 2's columns).

``--policy`` is a saved agent (``textrec train``'s ``OUT/final``, or the run directory holding it)
or a baseline name. The report gives SR@10/20/30, NI and NV as mean ± standard error over the
sessions, and the success-by-turn curve (SR@t for every turn t).
"""

from __future__ import annotations

from pathlib import Path

import typer

from textrec.cli.common import (
    POLICY_HELP,
    BackendOpt,
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    ProgressOpt,
    RayAddressOpt,
    SeedOpt,
    command_line,
    print_json,
    print_table,
    stop_on_interrupt,
)
from textrec.metrics import SR_TURNS, EvaluationResult

__all__ = ["evaluate", "CURVE_TURNS", "result_rows"]

CURVE_TURNS = (1, 2, 3, 5, 10, 15, 20, 30, 40, 50)
"""Turns of the success-by-turn curve shown in the table (the JSON has every turn)."""


def result_rows(result: EvaluationResult) -> list[list[str]]:
    """``[metric, mean ± s.e.]`` rows: SR@10/20/30, NI, NV, return."""
    rows = [[f"SR@{k}", str(getattr(result, f"sr_at_{k}"))] for k in SR_TURNS]
    return rows + [["NI", str(result.ni)], ["NV", str(result.nv)], ["return", str(result.returns)]]


def evaluate(
    policy: str = typer.Option(..., "--policy", help=POLICY_HELP),
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    sessions: int = typer.Option(1000, "--sessions", min=1, help="Simulated sessions."),
    pool: str = typer.Option(
        "test",
        "--pool",
        help="Targets and shown items from: 'test' (unlabeled items, AttrNet's predictions) "
        "or 'train' (labeled).",
    ),
    utterances: str = typer.Option(
        "templates",
        "--utterances",
        help="Sentence source of the simulated user: 'templates', 'model', 'mix' or 'free' "
        "(held-out free-form phrasings).",
    ),
    heads: str | None = typer.Option(
        None,
        "--heads",
        help="A saved agent acts from its policy heads ('actor') or from its Q heads ('q'; "
        "with --greedy values: the Q-greedy policy, argmax of each Q head, as reproduce's "
        "Q-greedy rows). Options not given: as the agent was evaluated when trained (saved with "
        "it; a bcq agent: q heads, argmax values, its threshold; --heads actor drops the mask).",
    ),
    greedy: str | None = typer.Option(
        None, "--greedy", help="Retrieval by the head distributions ('probs') or argmax ('values')."
    ),
    threshold: float | None = typer.Option(
        None, "--threshold", help="With --heads q: BCQ's mask (values below it x the best)."
    ),
    weights: str | None = typer.Option(
        None,
        "--weights",
        help="Greedy retrieval's head weights: 'confidence' (each head's largest probability), "
        "'uniform' or 'asked' (the slot reader's asked head).",
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Session batches (1,024 sessions each) evaluated at once."
    ),
    backend: str = BackendOpt,
    ray_address: str | None = RayAddressOpt,
    seed: int = SeedOpt,
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Evaluate an agent or a baseline: SR@10/20/30, NI, NV (mean ± s.e.) and success by turn."""
    from textrec.backends import Backend
    from textrec.catalog.build import open_catalog
    from textrec.evaluation import EvaluationSetup, evaluate_on

    where = Backend(backend, workers, ray_address)
    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    acting = {
        k: v
        for k, v in {
            "heads": heads,
            "greedy": greedy,
            "threshold": threshold,
            "weights": weights,
        }.items()
        if v is not None
    }
    setup = EvaluationSetup(cat, str(policy), pool, utterances, seed, acting)
    with stop_on_interrupt(
        f"nothing was saved (evaluate writes no files); run {command_line()} again"
    ):
        result = evaluate_on(where, setup, sessions, progress=progress)
    if json_out:
        print_json(
            {
                "policy": policy,
                "catalog": cat.name,
                "pool": pool,
                "utterances": utterances,
                **result.to_json(),
            }
        )
        return
    print_table(
        f"{policy} on {cat.name} ({pool} pool, {len(cat.pool(pool))} items, {sessions} sessions, "
        f"seed {seed})",
        ["metric", "mean ± s.e."],
        result_rows(result),
    )
    turns = [t for t in CURVE_TURNS if t <= len(result.curve)]
    print_table(
        "Success by turn",
        ["turn t", "SR@t (sessions done by turn t)"],
        [[t, f"{result.curve[t - 1]:.3f}"] for t in turns],
    )
