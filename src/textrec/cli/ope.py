"""``textrec ope``: every estimator's value of a ladder of target policies, scored against truth.

For each target policy (``--policies``, default the twelve of
:func:`textrec.ope.policies.default_targets`, from a sharpened slot-filler to the random policy) it
runs the policy in the simulator on the log's users (the truth, ``--sessions`` sessions: one job
per policy, in this process, or on ``--workers`` Ray actors (``--backend ray``) or pool processes
while the estimates are computed here; same numbers) and asks every estimator for its value
from the log alone; the privileged reference rows (``[oracle]``) use the oracle sidecar's true
behaviour probabilities. Per estimator it reports relative error,
Spearman ρ, normalised regret@1 and interval coverage; ``--out DIR`` also writes ``ope.png``
(estimate against truth, one panel per estimator) and ``ope.json``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from textrec.cli.common import (
    BackendOpt,
    CatalogOpt,
    DataOpt,
    ItemsOpt,
    JsonOpt,
    ProgressOpt,
    RayAddressOpt,
    SeedOpt,
    print_json,
    print_table,
)

__all__ = ["ope"]

LogsOpt = typer.Option(..., "--logs", help="The experience log directory.")
OutOpt = typer.Option(None, "--out", help="Write ope.png and ope.json here.")


def ope(
    logs: Path = LogsOpt,
    catalog: str = CatalogOpt,
    data: Path | None = DataOpt,
    items: int = ItemsOpt,
    policies: str = typer.Option(
        "",
        "--policies",
        help="Target policies, comma-separated: 'sf', 'random', 'sf-eps-E', 'sf-temp-T', or a "
        "saved agent's directory (drawing from its heads; DIR@eps-E, DIR@temp-T for variants) "
        "(default: twelve from sf-temp-0.5 to random).",
    ),
    sessions: int = typer.Option(
        2000, "--sessions", min=2, help="Simulated sessions per policy for its true value."
    ),
    boot: int = typer.Option(200, "--boot", min=2, help="Bootstrap replicates per estimate."),
    fqe_steps: int = typer.Option(3000, "--fqe-steps", min=1, help="FQE gradient steps."),
    fqe_target_every: int = typer.Option(
        100,
        "--fqe-target-every",
        min=1,
        help="FQE steps between target-network copies (fqe-steps / this = Bellman backups).",
    ),
    cql_alpha: float | None = typer.Option(
        None,
        "--cql-alpha",
        min=0.0,
        help="Weight of the conservative penalty of the 'cql' and 'dr-cql' estimators' critic "
        "(default: the cql learner's).",
    ),
    cql_penalty: str | None = typer.Option(
        None,
        "--cql-penalty",
        help="Form of that penalty: 'items' (over the catalog's items), 'logsumexp' (per head) or "
        "'policy' (default: the cql learner's, items).",
    ),
    refits: int = typer.Option(
        0,
        "--refits",
        min=0,
        help="Refits of the direct estimators (fqe, cql) on resampled sessions for their "
        "intervals (0: session bootstrap with the fit held fixed; else >= 2).",
    ),
    out: Path | None = OutOpt,
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Truth runs (one per target policy) at once: local processes, or Ray actors.",
    ),
    backend: str = BackendOpt,
    ray_address: str | None = RayAddressOpt,
    seed: int = SeedOpt,
    progress: bool = ProgressOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Off-policy estimates of target policies from a log, scored against the simulator's truth."""
    import numpy as np
    from tqdm.auto import tqdm

    from textrec.backends import Backend
    from textrec.catalog.build import open_catalog
    from textrec.io import write_json_atomic
    from textrec.ope import ESTIMATORS, OffPolicyLog, default_targets, estimate
    from textrec.ope.fqe import FQEConfig
    from textrec.ope.policies import parse_target
    from textrec.ope.scoring import plot_estimates, score, true_values

    where = Backend(backend, workers, ray_address)
    specs = (
        [parse_target(p.strip()) for p in policies.split(",") if p.strip()]
        if policies
        else list(default_targets())
    )
    cat = open_catalog(catalog, data=data, items=items, seed=seed, progress=progress)
    cql = {  # None: the cql learner's default
        name: value
        for name, value in (("cql_alpha", cql_alpha), ("cql_penalty", cql_penalty))
        if value is not None
    }
    log = OffPolicyLog(
        logs, cat, seed=seed, fqe=FQEConfig(steps=fqe_steps, target_every=fqe_target_every), **cql
    )
    estimators = [cls() for cls in ESTIMATORS.values()] + [
        cls(behaviour="oracle") for cls in ESTIMATORS.values() if cls.uses_weights
    ]
    rows = {e.label: [] for e in estimators}
    with true_values(specs, logs, cat, sessions, seed, where) as truth_jobs:
        for spec in tqdm(specs, desc="ope", unit="policy", disable=not progress):
            for est in estimators:
                rows[est.label].append(
                    estimate(spec, log, estimator=est, seed=seed, n_boot=boot, refits=refits)
                )
            log.release(spec)
        truths = truth_jobs.results()
    truth = np.array([mean for mean, _ in truths])
    scores = [score(rows[e.label], truth) for e in estimators]
    result = {
        "log": str(logs),
        "catalog": cat.name,
        "sessions_logged": log.n_sessions,
        "refits": refits,
        "fqe": {"steps": log.fqe_config.steps, "target_every": log.fqe_config.target_every},
        "cql_critic": {"alpha": log.cql_config.alpha, "penalty": log.cql_config.penalty},
        "behaviour_nll": log.behaviour.nll.tolist(),
        "policies": [
            {
                "policy": spec.name,
                "truth": t[0],
                "truth_se": t[1],
                "estimates": {name: r[i].to_json() for name, r in rows.items()},
            }
            for i, (spec, t) in enumerate(zip(specs, truths, strict=True))
        ],
        "scores": [vars(s) for s in scores],
    }
    if out is not None:
        plot_estimates(rows, truth, Path(out) / "ope.png")
        write_json_atomic(Path(out) / "ope.json", result)
    if json_out:
        print_json(result)
        return
    print_table(
        f"Estimators on {logs} ({log.n_sessions} sessions, {len(specs)} policies, seed {seed})",
        ["estimator", "rel. error", "Spearman ρ", "regret@1", "coverage", "privileged"],
        [
            [
                s.estimator,
                f"{s.relative_error:.3g}",
                f"{s.spearman:.2f}",
                f"{s.regret_at_1:.2f}",
                f"{s.coverage:.2f}",
                "yes" if s.privileged else "",
            ]
            for s in scores
        ],
    )
    print_table(
        "Values (mean return per session)",
        ["policy", "truth ± s.e.", *rows],
        [
            [spec.name, f"{t[0]:.3f} ± {t[1]:.3f}", *(f"{r[i].value:.3g}" for r in rows.values())]
            for i, (spec, t) in enumerate(zip(specs, truths, strict=True))
        ],
    )
