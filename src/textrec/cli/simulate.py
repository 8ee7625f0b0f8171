"""``textrec simulate``: run a policy against simulated users and show the dialogues (SR@K, NI, NV).

``--policy`` means what it means for ``textrec evaluate``: a baseline name or a saved agent."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.text import Text

from textrec.cli.common import (
    POLICY_HELP,
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    ProgressOpt,
    SeedOpt,
    command_line,
    console,
    print_json,
    print_table,
    stop_on_interrupt,
)
from textrec.metrics import SR_TURNS, Dialogue, EvaluationResult

if TYPE_CHECKING:
    from textrec.catalog.catalog import Catalog

__all__ = ["simulate"]


def simulate(
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    policy: str = typer.Option("slot-filler", "--policy", help=POLICY_HELP),
    sessions: int = typer.Option(1000, "--sessions", min=1, help="Number of simulated sessions."),
    seed: int = SeedOpt,
    json_out: bool = JsonOpt,
    show: int = typer.Option(
        0, "--show", min=0, help="Print this many sample dialogues turn by turn."
    ),
    pool: str = typer.Option(
        "test",
        "--pool",
        help="Items shown and targets drawn from: 'test' "
        "(unlabeled, AttrNet predictions) or 'train' (labeled).",
    ),
    utterances: str = typer.Option(
        "templates",
        "--utterances",
        help="Sentence source of the simulated user: 'templates', 'model' (utterance LM), 'mix' "
        "(half each) or 'free' (held-out free-form phrasings in everyday words).",
    ),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="Sessions simulated at once."),
    progress: bool = ProgressOpt,
) -> None:
    """Run a policy against simulated users; print SR@10/20/30, NI and NV (and dialogues)."""
    from textrec.catalog.build import open_catalog
    from textrec.evaluation import evaluate, load_policy, make_simulator

    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    simulator = make_simulator(cat, pool, utterances, seed)
    with stop_on_interrupt(
        f"nothing was saved (simulate writes no files); run {command_line()} again"
    ):
        result = evaluate(
            load_policy(policy, cat, simulator),
            simulator,
            sessions,
            seed,
            batch_size=batch_size,
            record=show,
            progress=progress and sessions > batch_size,
        )
    if json_out:
        print_json(
            {
                "catalog": cat.name,
                "policy": policy,
                "pool": pool,
                "utterances": utterances,
                **result.to_json(),
                "dialogues": [_dialogue_json(d, cat) for d in result.dialogues],
            }
        )
        return
    _print_result(result, f"{policy} on {cat.name} ({pool} pool, {len(simulator.pool)} items)")
    for i, dialogue in enumerate(result.dialogues):
        _print_dialogue(i, dialogue, cat)


def _print_result(result: EvaluationResult, title: str) -> None:
    rows = [[f"SR@{k}", str(getattr(result, f"sr_at_{k}"))] for k in SR_TURNS]
    rows += [["NI", str(result.ni)], ["NV", str(result.nv)], ["return", str(result.returns)]]
    header = f"{title}: {result.n_sessions} sessions, seed {result.seed}"
    console.print(Text(header), highlight=False)
    print_table("Simulator evaluation", ["metric", "mean ± s.e."], rows)


def _item(cat: Catalog, item: int) -> str:
    labels = ", ".join(f"{k}={v or '?'}" for k, v in cat.label_text(item).items())
    return f"{cat.item_ids[item]} ({labels})"


def _print_dialogue(i: int, d: Dialogue, cat: Catalog) -> None:
    console.print(
        Text.assemble("\n", (f"Dialogue {i + 1}", "bold"), f" — target {_item(cat, d.target)}"),
        highlight=False,
    )
    for t, (item, text, reward) in enumerate(
        zip(d.items, d.texts, d.rewards, strict=True), start=1
    ):
        said = Text("found it!", style="green") if not text else Text(f"“{text}”")
        line = Text(f"  {t:>2}. {_item(cat, item)} r={reward:+.3f} → ")
        console.print(line.append_text(said), highlight=False)
    if not d.success:
        console.print(Text("  no success", style="red"))


def _dialogue_json(d: Dialogue, cat: Catalog) -> dict[str, Any]:
    return {
        "target": str(cat.item_ids[d.target]),
        "success": d.success,
        "turns": [
            {
                "item": str(cat.item_ids[item]),
                "attributes": cat.label_text(item),
                "text": text,
                "reward": round(reward, 6),
            }
            for item, text, reward in zip(d.items, d.texts, d.rewards, strict=True)
        ],
    }
