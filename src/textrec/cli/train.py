"""``textrec train``: train a recommender with any registered learner; evaluate it on the test pool.

A thin wrapper of :func:`textrec.learners.run.train_agent`. ``--algo`` names a learner of
:data:`textrec.learners.algorithms.ALGORITHMS`; offline learners read ``--logs LOGDIR``
(``online`` plays simulated users instead). The learner options (``--lr``, ``--alpha``, ...) are
generated from the fields of the learners' config dataclasses (:mod:`textrec.learners.configs`,
torch-free, so that ``--help`` loads no torch), each documented by the docstring under its field;
an option a learner does not have is refused.

Writes into ``--out``: ``checkpoint.pt`` (the learner, for resuming), ``metrics.csv`` (one row per
evaluation) and ``final/`` (the trained :class:`~textrec.agent.Recommender`, loadable with the
catalog it was trained on). Running the same command again resumes from ``checkpoint.pt``.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

import typer

from textrec.cli.common import (
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    ProgressOpt,
    SeedOpt,
    TrainingUtterancesOpt,
    command_line,
    print_json,
    print_table,
    stop_on_interrupt,
)
from textrec.learners.algorithms import ALGORITHMS, config_fields

__all__ = ["train"]

_FIELDS = config_fields()


def _train(
    algo: str = typer.Option(
        "online",
        "--algo",
        help="Learner: "
        + "; ".join(f"'{name}': {spec.summary}" for name, spec in ALGORITHMS.items())
        + ".",
    ),
    logs: Path | None = typer.Option(  # noqa: B008
        None,
        "--logs",
        help="Experience log directory (made by 'textrec collect'); required by every learner "
        "but 'online'.",
    ),
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    out: Path = typer.Option(  # noqa: B008
        ..., "--out", help="Run directory: checkpoint, metrics.csv, final/ agent."
    ),
    seed: int = SeedOpt,
    steps: int = typer.Option(
        500, "--steps", min=1, help="Learner updates (a resumed run continues up to it)."
    ),
    eval_every: int = typer.Option(
        100,
        "--eval-every",
        min=0,
        help="Updates between evaluations and checkpoints (0: only at the end).",
    ),
    eval_sessions: int = typer.Option(
        500,
        "--eval-sessions",
        min=1,
        help="Simulated sessions per evaluation (the final one included).",
    ),
    eval_pool: str = typer.Option(
        "test",
        "--eval-pool",
        help="Users of the evaluations: 'test' (reported figures) or 'train' (validation, for "
        "choosing settings without looking at the test pool).",
    ),
    readout: str = typer.Option(
        "tied",
        "--readout",
        help="Heads' last layer: 'tied' (scored against the text encoder's value codes) or "
        "'linear'.",
    ),
    finetune_text: bool = typer.Option(
        False,
        "--finetune-text/--frozen-text",
        help="Train the pretrained text encoder with the agent, or keep it frozen.",
    ),
    slot_features: bool = typer.Option(
        True,
        "--slot-features/--no-slot-features",
        help="Append what the frozen text reader heard asked for (per attribute: the latest "
        "value, one-hot, and an asked bit) to the state every head reads, or leave it out.",
    ),
    rewrite: bool = typer.Option(
        True,
        "--rewrite/--no-rewrite",
        help="Say every sentence the agent hears again in template speech (the lexicon "
        "reader's rewrite) before its tokeniser, in training, evaluation and serving alike "
        "(saved with the agent), or read it as said.",
    ),
    utterances: str = TrainingUtterancesOpt,
    select: str = typer.Option(
        "",
        "--select",
        help="Keep the checkpoint rated best instead of the last: 'ope:ESTIMATOR' rates each "
        "evaluated policy off-policy from --logs (e.g. 'ope:fqe'; no simulated users).",
    ),
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
    **learner_options: Any,
) -> None:
    """Train an agent (from a log, or against simulated users); report SR@K, NI, NV."""
    from textrec.agent import RecommenderConfig
    from textrec.catalog.build import open_catalog
    from textrec.errors import InputError
    from textrec.learners.run import TrainSpec, train_agent

    if algo not in ALGORITHMS:
        raise InputError(f"unknown --algo {algo!r}; choose one of {list(ALGORITHMS)}")
    overrides = {k: v for k, v in learner_options.items() if v is not None}
    ALGORITHMS[algo].make_config(overrides)  # refuse a foreign option before loading anything
    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    selector = _selector(select, logs, cat, seed) if select else None
    spec = TrainSpec(
        algo=algo,
        catalog=cat,
        out=out,
        logs=logs,
        steps=steps,
        eval_every=eval_every,
        eval_sessions=eval_sessions,
        seed=seed,
        overrides=overrides,
        recommender=RecommenderConfig(
            finetune_text=finetune_text,
            readout=readout,
            slot_features=slot_features,
            rewrite=rewrite,
        ),
        utterances=utterances,
        eval_pool=eval_pool,
        progress=progress,
        select=selector,
    )
    with stop_on_interrupt(
        f"the checkpoints written so far are kept in {out}; run {command_line()} to continue "
        "from the last one"
    ):
        result = train_agent(spec)
    test = result.test
    if json_out:
        report = {"catalog": cat.name, "out": str(out), "steps": steps, "seed": seed}
        report.update(result.to_json())
        print_json(report)
        return
    rows = [[f"SR@{k}", str(getattr(test, f"sr_at_{k}"))] for k in (10, 20, 30)]
    rows += [["NI", str(test.ni)], ["NV", str(test.nv)]]
    print_table(
        f"{algo} agent on {cat.name} ({eval_pool} pool, {eval_sessions} sessions, seed {seed}); "
        f"{steps} updates in {result.train_seconds:.0f} s; saved to {result.agent_dir}",
        ["metric", "mean ± s.e."],
        rows,
    )


def _selector(select: str, logs: Path | None, catalog: Any, seed: int) -> Any:
    """The :class:`BestSelector` that ``--select ope:ESTIMATOR`` names."""
    from textrec.errors import InputError
    from textrec.learners.evaluators import BestSelector
    from textrec.ope import ESTIMATORS, OffPolicyLog
    from textrec.ope.select import ope_rater

    kind, _, name = select.partition(":")
    if kind != "ope" or name not in ESTIMATORS:
        raise InputError(
            f"--select {select!r}: give 'ope:ESTIMATOR' with ESTIMATOR one of {list(ESTIMATORS)}"
        )
    if logs is None:
        raise InputError("--select ope:... estimates from a log: give --logs LOGDIR")
    log = OffPolicyLog(logs, catalog, seed=seed)
    return BestSelector(ope_rater(log, ESTIMATORS[name](), seed=seed))


def _learner_option(f: Any) -> inspect.Parameter:
    """A ``--name`` option of a learner config field (help: the field's docstring)."""
    flag = "--" + f.name.replace("_", "-")
    defaults = "; ".join(f"{algo} {value}" for algo, value in f.defaults.items())
    decls = [f"{flag}/--no-{flag[2:]}"] if f.type is bool else [flag]
    option = typer.Option(None, *decls, help=f"{f.text} (default: {defaults})")
    return inspect.Parameter(
        f.name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=f.type | None
    )


def _with_learner_options(func: Any) -> Any:
    """``func`` with its ``**learner_options`` replaced by one option per config field."""
    sig = inspect.signature(func)
    hints = typing.get_type_hints(func)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    params = [p.replace(kind=p.KEYWORD_ONLY, annotation=hints[p.name]) for p in params] + [
        _learner_option(f) for f in _FIELDS
    ]

    def train(**kwargs: Any) -> None:
        known = {p.name for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD}
        func(
            **{k: v for k, v in kwargs.items() if k in known},
            **{k: v for k, v in kwargs.items() if k not in known},
        )

    train.__doc__ = func.__doc__
    train.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    train.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return train


train = _with_learner_options(_train)
"""The ``train`` command (see :func:`_train`), with the learner options generated."""
