"""``textrec reproduce``: the paper's experiment (Table 2, Figure 4) rebuilt on one catalog.

For each seed ``s`` in ``seed .. seed + n_seeds − 1``, in ``OUT/seed-<s>/``:

1. **devices** — the on-policy agent trains against the simulated users of the train pool; copies
   saved at :attr:`ReproduceConfig.device_stages` of its training become behaviour devices. Its
   last checkpoint is the *On-policy* row.
2. **log** — the device mix (:func:`device_mix`: six heuristic devices and the agent copies, each
   with its own logit noise) collects ``log_sessions`` sessions on the train pool.
3. **rows** — each row of Table 2 (:data:`textrec.report.ROWS`, built from :func:`row_specs`) is
   measured on the **test pool** with the same ``eval_sessions`` sessions and seed: the logged
   behaviour (as the paper defines it: every logged session), the same devices serving the test
   pool, the on-policy agent, every offline learner trained on the log for ``offline_steps``
   updates (its last checkpoint, never a best test point) and, for each Q learner, the same agent
   acting from its other heads (:data:`textrec.report.ACTOR_Q`: actor beside Q-greedy),
   iterative offline training, the slot-filler and the privileged oracle.
4. **speech** (``eval_utterances``) — every row that is a policy evaluated again with the users
   speaking another sentence source (``model``, the held-out ``free``); nothing trains on them.
5. **ope** (``ope_estimators``) — per offline learner, every checkpoint it kept (one per
   evaluation) rated by each estimator from the log, against its truth
   (:mod:`textrec.reproduce_ope`: the checkpoint OPE would report, and what that costs).

Then the seeds' rows are combined (mean ± s.e. across the seeds' means) and
:func:`textrec.report.write_report` writes ``report.md``, ``results.json``, ``config.json`` and the
figures into ``OUT``. With ``study="coverage"`` the coverage study's logs and cells are stages of
every seed too (:func:`run_coverage_study` reads them and combines the seeds like the rows).

Every stage saves its result atomically as soon as it finishes (``stages/<name>.json``); training
runs checkpoint as they go, and collection writes complete shards. ``resume=True`` therefore
continues a killed run without redoing a finished stage. The catalog is the base ``seed``'s for
every seed (it is the environment, not the learner); each seed's agents read with a text encoder
pretrained with that seed (cached), so the spread across seeds includes the encoder's.

Each stage names the one stage whose record it reads (:class:`_Stage`), so with ``workers > 1``
or ``backend='ray'`` they run as jobs (:mod:`textrec.backends`: a process pool or Ray actors) as
soon as that record exists — the seeds' devices at once, then each seed's log, then its rows and
cells — writing the same records as the serial run (with Ray, every node must see ``out``).
"""

from __future__ import annotations

import csv
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from textrec.backends import Backend, job_runner
from textrec.catalog import Catalog
from textrec.errors import InputError
from textrec.evaluation import evaluate, load_policy
from textrec.io import claim_output_dir, read_json, write_json_atomic
from textrec.logs.policies import DeviceConfig, DeviceMix, default_devices
from textrec.machine import MachineRecord, machine_record
from textrec.metrics import EvaluationResult, MeanSE
from textrec.report import (
    ACTOR_Q,
    ROWS,
    CoverageCell,
    CurvePoint,
    RowResult,
    combine_seeds,
    own_policy,
    write_report,
)
from textrec.reproduce_ope import (
    LearnerRatings,
    check_estimators,
    ope_json,
    ope_markdown,
    ope_stage,
    rate_checkpoints,
)
from textrec.simulator.baselines import make_policy
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.ingredients import Ingredients
from textrec.simulator.policy import Policy
from textrec.simulator.task import UTTERANCE_SOURCES, check_training_source

__all__ = [
    "ReproduceConfig",
    "Trained",
    "device_mix",
    "narrow_devices",
    "read_curve",
    "ReproduceResult",
    "RowSpec",
    "row_specs",
    "POLICY_VIEWS",
    "PRESETS",
    "coverage_logs",
    "coverage_narrow_logs",
    "coverage_variants",
    "single_device",
    "COVERAGE_MIXES",
    "reproduce",
    "run_coverage_study",
    "STUDIES",
]

log = logging.getLogger(__name__)

STUDIES = ("", "coverage")
"""Extra studies ``reproduce`` can run: none, or ``"coverage"``."""
OFFLINE_ROWS = ("offpolicy", "bc", "cql", "bcq", "iql", "slot-reader")
"""Table 2's rows learned from the log alone, by their ``--algo`` names."""
POLICY_VIEWS: dict[str, dict[str, Any]] = {
    "actor": {"heads": "actor", "greedy": "probs", "threshold": 0.0},
    "q": {"heads": "q", "greedy": "values"},
}
"""How a Q learner's agent acts for the actor and the Q-greedy rows (``Recommender.policy``'s
options): its policy heads, retrieval by their distributions; or each Q head's argmax (a ``bcq``
agent keeps its saved mask)."""
_POLICY_NAMES = {"actor": "actor", "q": "Q-greedy"}
"""Each of :data:`POLICY_VIEWS` as the coverage table names it."""
PRESETS = ("full", "quick")
"""The presets of :class:`ReproduceConfig` (named in every figure's title)."""


@dataclass(frozen=True)
class ReproduceConfig:
    """What ``textrec reproduce`` runs. Two presets: the full experiment and ``quick()``."""

    catalog: str = "builtin"
    """Catalog spec: 'builtin', 'zappos' or a saved catalog directory."""
    data: str | None = None
    """UT-Zappos50K folder (catalog 'zappos' only)."""
    items: int = 3000
    """Items of the built-in catalog."""
    seed: int = 0
    """First seed; the catalog uses it for every seed."""
    n_seeds: int = 1
    """Seeds run: seed, seed + 1, ... (rows combined across them)."""
    utterances: str = "templates"
    """Sentence source of the simulated users."""
    online_steps: int = 300
    """Updates of the on-policy agent (the On-policy row and the agent devices)."""
    device_stages: tuple[float, ...] = (1 / 3, 2 / 3, 1.0)
    """Fractions of the on-policy training at which an agent copy becomes a device."""
    log_sessions: int = 40000
    """Sessions of the experience log (the paper's 40,000)."""
    chunk_sessions: int = 1000
    """Sessions per log shard."""
    offline_steps: int = 1500
    """Updates of every offline learner (the iterative rounds share this budget)."""
    eval_every: int = 250
    """Updates between test-pool evaluations of the training curves."""
    eval_sessions: int = 1000
    """Test-pool sessions of every row's evaluation (the same sessions for every row)."""
    learners: tuple[str, ...] = OFFLINE_ROWS
    """Offline rows to train (``--algo`` names)."""
    iterative_rounds: int = 3
    """Rounds of iterative offline training (0: no Iterative row)."""
    iterative_sessions: int = 10000
    """Sessions the deployed copies collect after each round but the last."""
    iterative_noise: tuple[float, ...] = (0.5, 1.0, 1.5)
    """Logit-noise standard deviations of the deployed copies (one device each)."""
    study: str = ""
    """'' or 'coverage' (:func:`run_coverage_study`, every seed, combined like the rows)."""
    coverage_learners: tuple[str, ...] = ("bc", "offpolicy", "cql", "bcq", "iql")
    """Learners of the coverage study (``cql`` once per ``coverage_alphas`` value)."""
    coverage_alphas: tuple[float, ...] = ()
    """CQL α values of the coverage study (besides α = 0, the offpolicy learner); empty: the cql
    learner's default α only (its cell on the default log is then Table 2's cql row)."""
    coverage_sizes: bool = False
    """Also the default mix at a quarter and a tenth of ``log_sessions`` (two more logs)."""
    coverage_tracking: bool = False
    """Also every variant with request tracking added (``track_coef = 1``, the learners' loss
    before issue 15)."""
    eval_utterances: tuple[str, ...] = ()
    """Sentence sources every row that is a policy is evaluated under as well (e.g. ``("model",
    "free")``); only evaluated, never trained on."""
    ope_estimators: tuple[str, ...] = ("cql", "fqe")
    """Estimators that rate every offline learner's checkpoints (:mod:`textrec.reproduce_ope`);
    the first picks the checkpoint reported with OPE. Empty: no OPE stages."""
    ope_fqe_steps: int = 1500
    """Gradient steps of each FQE / conservative FQE fit of the OPE stages."""
    rewrite: bool = True
    """Every trained agent hears each sentence said again in template speech by the lexicon
    reader (``RecommenderConfig.rewrite``), in training and evaluation alike."""
    preset: str = "full"
    """Which preset the settings started from ('full' or 'quick'; a label for the figures)."""
    workers: int = 1
    """Processes: above 1, the stages run in a pool of this many (a seed's rows at once, the
    seeds side by side), and each log is collected by this many."""
    backend: str = "local"
    """Where the stages run (:mod:`textrec.backends`): 'local' (this process, or a pool of
    ``workers`` processes) or 'ray' (``workers`` Ray actors; each log is still collected by a
    local pool on its actor's node)."""
    ray_address: str | None = None
    """With ``backend='ray'``: the cluster (``None``: ``RAY_ADDRESS``, else a new local one)."""

    def describe(self, catalog: str) -> str:
        """One line naming the run (every figure's title): catalog, preset, seeds, sessions."""
        seeds = ", ".join(map(str, self.seeds))
        return (
            f"{catalog} · {self.preset} preset · seed{'s' if self.n_seeds > 1 else ''} {seeds} · "
            f"{self.eval_sessions} test sessions per row and seed · "
            f"log {self.log_sessions} sessions"
        )

    def __post_init__(self) -> None:
        positive = (
            "items",
            "n_seeds",
            "online_steps",
            "log_sessions",
            "chunk_sessions",
            "offline_steps",
            "eval_sessions",
            "workers",
            "ope_fqe_steps",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"reproduce: {name} must be >= 1, got {getattr(self, name)}")
        if self.eval_every < 0 or self.iterative_rounds < 0 or self.iterative_sessions < 1:
            raise InputError(
                "reproduce: eval_every and iterative_rounds must be >= 0 and "
                "iterative_sessions >= 1"
            )
        self.where()  # checks backend, workers and ray_address
        check_training_source(self.utterances, "reproduce (it trains and collects logs)")
        if not self.device_stages or not all(0 < f <= 1 for f in self.device_stages):
            raise InputError(
                f"reproduce: device_stages must be fractions in (0, 1], got {self.device_stages}"
            )
        if self.study not in STUDIES:
            raise InputError(f"reproduce: study must be one of {STUDIES}, got {self.study!r}")
        unknown = sorted((set(self.learners) | set(self.coverage_learners)) - set(OFFLINE_ROWS))
        if unknown:
            raise InputError(f"reproduce: unknown learners {unknown}; choose from {OFFLINE_ROWS}")
        others = [u for u in UTTERANCE_SOURCES if u != self.utterances]
        bad = [u for u in self.eval_utterances if u not in others]
        if bad or len(set(self.eval_utterances)) != len(self.eval_utterances):
            raise InputError(
                f"reproduce: eval_utterances must be distinct sources among {others} (the rows "
                f"are trained and evaluated on {self.utterances!r} already), got "
                f"{list(self.eval_utterances)}"
            )
        check_estimators(self.ope_estimators)
        if self.preset not in PRESETS:
            raise InputError(f"reproduce: preset must be one of {PRESETS}, got {self.preset!r}")

    @classmethod
    def quick(cls, **overrides: Any) -> ReproduceConfig:
        """A reduced run of a few minutes on 2 cores (the README's main command)."""
        small = {
            "online_steps": 60,
            "log_sessions": 4000,
            "chunk_sessions": 500,
            "offline_steps": 200,
            "eval_every": 50,
            "eval_sessions": 300,
            "iterative_rounds": 2,
            "iterative_sessions": 1000,
            "iterative_noise": (0.5, 1.0),
            "ope_estimators": ("cql",),
            "ope_fqe_steps": 500,
            "preset": "quick",
        }
        return cls(**{**small, **overrides})

    def where(self) -> Backend:
        """Where the stages run."""
        return Backend(self.backend, self.workers, self.ray_address)

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds run."""
        return tuple(range(self.seed, self.seed + self.n_seeds))

    def stage_steps(self) -> tuple[int, ...]:
        """On-policy updates at which the agent copies are taken (increasing, last = all)."""
        steps = sorted({max(1, round(f * self.online_steps)) for f in self.device_stages})
        return tuple(steps)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues: all but the seeds, the study
        and the other sentence sources (which may grow), the offline rows and study variants to
        run (a stage does not depend on the others), the preset's name and the processes."""
        out = self.to_json()
        for name in (
            "n_seeds",
            "study",
            "eval_utterances",
            "preset",
            "learners",
            "coverage_learners",
            "coverage_alphas",
            "coverage_sizes",
            "coverage_tracking",
            "ope_estimators",
            "ope_fqe_steps",
            "workers",
            "backend",
            "ray_address",
        ):
            out.pop(name)
        return out


# --------------------------------------------------------------------------------------- devices
def device_mix(agent_dirs: Sequence[str | Path]) -> tuple[DeviceConfig, ...]:
    """The behaviour devices of the log, fixed before any learner is compared.

    :func:`textrec.logs.policies.default_devices`: six heuristic devices (the slot-filler with
    little and much logit noise, two that forget requests, an epsilon-random one and a
    marginal-completion one) and one noisy copy of the on-policy agent per training stage
    (noise 0.5, 1.0, 1.5 ... in stage order). Why it is plausible: docs/reproduce.md.
    """
    return default_devices(agent_dirs)


def narrow_devices() -> tuple[DeviceConfig, ...]:
    """The coverage study's narrow mix: three low-noise, suboptimal heuristic devices."""
    return (
        DeviceConfig("narrow-forget-2", "slot-filler", noise=0.1, memory=2),
        DeviceConfig("narrow-latest-only", "slot-filler", noise=0.1, memory=1),
        DeviceConfig("narrow-marginal", "marginal", noise=0.1),
    )


SINGLE_TEMPERATURE = 0.01
"""Temperature of the single device (:func:`single_device`)."""


def single_device() -> tuple[DeviceConfig, ...]:
    """The coverage study's near-deterministic log: one device, the slot-filler without noise,
    its base distribution sharpened to its argmax (``temperature`` :data:`SINGLE_TEMPERATURE`:
    ``π_k ∝ p_k^100``; only values of (nearly) equal base probability still share the draw).
    Measured on a 300-session log of the 3000-item built-in catalog: the drawn action's
    probability averages 0.974 over the turns whose shown item is the draw (per head ≥ 0.990;
    0.899 at temperature 0.05).

    Why this one: the best heuristic behaviour (full memory, the values asked for, the likeliest
    completion), so imitation has a good policy to copy, but each state shows one action per
    head — the least coverage a log can have, where a Q learner without a conservative term
    meets unseen actions everywhere (the paper's distribution-shift argument at its extreme).
    """
    return (
        DeviceConfig(
            "single-slot-greedy", "slot-filler", noise=0.0, temperature=SINGLE_TEMPERATURE
        ),
    )


# ----------------------------------------------------------------------------------------- stages
@dataclass(frozen=True)
class Trained:
    """A finished training run."""

    agent_dir: Path
    """The saved recommender."""
    curve: tuple[CurvePoint, ...]
    """Test SR@20 at each evaluation of the run."""
    seconds: float
    """Wall time of the training."""
    test: EvaluationResult | None = None
    """The run's final test-pool evaluation (``eval_sessions`` sessions, this seed)."""


def read_curve(run_dir: str | Path, offset: int = 0, label: str = "") -> tuple[CurvePoint, ...]:
    """The training curve of a run directory: ``eval/sr@20`` of each row of its metrics.csv."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return ()
    with path.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r.get("eval/sr@20")]
    return tuple(CurvePoint(int(r["step"]) + offset, float(r["eval/sr@20"]), label) for r in rows)


@dataclass
class _Context:
    """What every stage of one seed shares (built once per seed)."""

    config: ReproduceConfig
    catalog: Catalog
    seed: int
    root: Path
    say: Callable[[str], None]
    progress: bool
    done: dict[str, RowResult] = field(default_factory=dict)

    parts: dict[str, Ingredients] = field(default_factory=dict)
    speakers: dict[str, BatchedSimulator] = field(default_factory=dict)

    def ingredients(self, utterances: str | None = None) -> Ingredients:
        """This seed's ingredients with users speaking ``utterances`` (default: the run's
        source), built when a stage first needs them and shared by the later ones."""
        source = utterances or self.config.utterances
        if source not in self.parts:
            self.parts[source] = Ingredients(self.catalog, source, self.seed, self.progress)
        return self.parts[source]

    def users(self, utterances: str | None = None) -> BatchedSimulator:
        """The simulated users of the test pool speaking ``utterances`` (default: the run's
        source), built when a stage first evaluates with them."""
        source = utterances or self.config.utterances
        if source not in self.speakers:
            self.speakers[source] = self.ingredients(source).users("test")
        return self.speakers[source]

    @property
    def test_sim(self) -> BatchedSimulator:
        """The simulated users of the test pool speaking the run's sentence source."""
        return self.users()

    def evaluate(self, policy: Policy, users: BatchedSimulator | None = None) -> EvaluationResult:
        """The row evaluation: the test pool (``users``, default :attr:`test_sim`),
        ``eval_sessions`` sessions, this seed."""
        return evaluate(policy, users or self.test_sim, self.config.eval_sessions, self.seed)


def _stage_path(root: Path, name: str) -> Path:
    return root / "stages" / f"{name}.json"


def _run_stage(
    ctx: _Context,
    name: str,
    number: str,
    work: Callable[[], dict[str, Any]],
    announce: bool = True,
    settings: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run ``work`` unless its result is saved; save it atomically; print one progress line
    (none for a saved result read by a later stage: ``announce=False``).

    ``settings()``: what the stage's work depends on beyond its name (a training's learner and
    recommender configs), kept in its record; a saved record made with other settings is
    refused (:func:`check_stage_settings`), so a resumed run never reports a row that the
    current defaults would not make."""
    path = _stage_path(ctx.root, name)
    prefix = f"[reproduce] seed {ctx.seed} · {number} {name}"
    wanted = None if settings is None else json_ready(settings())
    if path.is_file():
        record = dict(read_json(path))
        check_stage_settings(path, record, wanted)
        if announce:
            ctx.say(f"{prefix}: done before, skipped")
        return record
    ctx.say(f"{prefix}: running")
    began = time.perf_counter()
    result = work()
    if wanted is not None:
        result["settings"] = wanted
    result["seconds"] = round(time.perf_counter() - began, 1)
    write_json_atomic(path, result)
    row = result.get("row")
    score = f" — SR@20 {row['sr@20']['mean']:.3f}" if row else ""
    ctx.say(f"{prefix}: finished in {result['seconds']:.0f} s{score}")
    return result


def json_ready(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples as lists, keys as strings)."""
    import json

    return json.loads(json.dumps(obj))


def _flat(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested JSON objects as ``{"a.b": value}``."""
    if not isinstance(obj, dict):
        return {prefix: obj}
    out: dict[str, Any] = {}
    for key, value in obj.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def check_stage_settings(
    path: Path, record: Mapping[str, Any], wanted: Mapping[str, Any] | None
) -> None:
    """Refuse the saved stage record ``path`` when it was made with other settings than
    ``wanted`` (both JSON-ready), naming each differing setting with both values. A record
    saved before stages kept their settings, or a stage that keeps none, is not checked."""
    saved = record.get("settings")
    if wanted is None or saved is None:
        return
    old, new = _flat(saved), _flat(wanted)
    differ = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if differ:
        shown = "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in differ[:6])
        more = f" and {len(differ) - 6} more" if len(differ) > 6 else ""
        raise InputError(
            f"{path}: this stage was made with other settings ({shown}{more}); resume with the "
            "options it was made with, or move this record (and the records of the stages "
            "made from it) out of stages/ to make it again"
        )


def _as_record(work: Callable[[], RowResult]) -> dict[str, Any]:
    """A stage record holding the row ``work`` measures."""
    return {"row": work().to_json()}


def _row_stage(
    ctx: _Context,
    key: str,
    number: str,
    work: Callable[[], RowResult],
    settings: Callable[[], dict[str, Any]] | None = None,
) -> RowResult:
    result = _run_stage(ctx, key, number, partial(_as_record, work), settings=settings)
    row = RowResult.from_json(result["row"], source=str(_stage_path(ctx.root, key)))
    row = replace(row, seconds=float(result.get("seconds", 0.0)))
    ctx.done[key] = row
    return row


# --------------------------------------------------------------------------------------- training
def _spec(
    ctx: _Context,
    algo: str,
    run_dir: Path,
    steps: int,
    log: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """The learner entry point's :class:`~textrec.learners.run.TrainSpec` for this seed."""
    from textrec.agent.recommender import RecommenderConfig
    from textrec.learners.run import TrainSpec

    return TrainSpec(
        algo=algo,
        catalog=ctx.catalog,
        logs=log,
        out=run_dir,
        steps=steps,
        eval_every=ctx.config.eval_every,
        eval_sessions=ctx.config.eval_sessions,
        seed=ctx.seed,
        overrides=dict(overrides or {}),
        recommender=RecommenderConfig(rewrite=ctx.config.rewrite),
        utterances=ctx.config.utterances,
        progress=ctx.progress,
        ingredients=ctx.ingredients(),
    )


def training_settings(spec: Any) -> dict[str, Any]:
    """What a training stage's result depends on beyond its name: the learner, its full config
    (defaults included, so a changed default is seen), the recommender's, the updates and
    the evaluation."""
    from textrec.learners.registry import LEARNERS

    return {
        "algo": spec.algo,
        "learner": asdict(LEARNERS[spec.algo].make_config(spec.overrides)),
        "recommender": asdict(spec.recommender),
        "steps": spec.steps,
        "eval_sessions": spec.eval_sessions,
        "utterances": spec.utterances,
    }


def _train(spec: Any) -> Trained:
    """Train (or resume) the run ``spec`` describes; the saved agent and its curve."""
    from textrec.learners.run import train_agent

    began = time.perf_counter()
    result = train_agent(spec)
    seconds = time.perf_counter() - began
    return Trained(Path(result.agent_dir), read_curve(spec.out), seconds, result.test)


def _iterative(ctx: _Context, log_dir: Path) -> tuple[Any, Any]:
    """The iterative row's :class:`~textrec.learners.iterative.IterativeConfig` and the spec of
    its rounds' ``cql`` training."""
    from textrec.learners.iterative import IterativeConfig

    cfg = ctx.config
    config = IterativeConfig(
        rounds=cfg.iterative_rounds,
        steps_per_round=max(1, cfg.offline_steps // cfg.iterative_rounds),
        sessions_per_round=cfg.iterative_sessions,
        noise=cfg.iterative_noise,
        chunk_sessions=cfg.chunk_sessions,
    )
    run_dir = ctx.root / "runs" / "iterative"
    return config, _spec(ctx, "cql", run_dir, config.steps_per_round, log_dir)


def _iterative_settings(ctx: _Context, log_dir: Path) -> dict[str, Any]:
    config, spec = _iterative(ctx, log_dir)
    return {**training_settings(spec), "iterative": asdict(config)}


def _iterative_row(ctx: _Context, log_dir: Path) -> RowResult:
    """Iterative offline training from the default log; the row is its **last** round."""
    from textrec.learners.iterative import run_iterative

    cfg = ctx.config
    config, spec = _iterative(ctx, log_dir)
    rounds = run_iterative(
        spec,
        config,
        spec.out,
        backend=Backend("local", cfg.workers),
        say=ctx.say,
    )
    last = rounds[-1]  # evaluated like every row: test pool, eval_sessions, this seed
    curve = tuple(CurvePoint(r.steps, r.sr_at_20, f"round {r.round + 1}") for r in rounds)
    return RowResult(
        "iterative",
        last.evaluation(),
        int(last.test["n_sessions"]),
        success_curve=tuple(float(x) for x in last.test["success_curve"]),
        training_curve=curve,
        note=f"cql, {config.rounds} rounds of {config.steps_per_round} updates; after each round "
        f"but the last {len(config.noise)} noisy copies (noise {', '.join(map(str, config.noise))})"
        f" collect {config.sessions_per_round} sessions; last round reported",
    )


def _view_row(
    ctx: _Context, key: str, run_dir: Path, acting: Mapping[str, Any], whose: str
) -> RowResult:
    """Row ``key``: the agent saved in ``run_dir`` (``whose`` agent, for the note) acting as
    ``acting`` says (:data:`POLICY_VIEWS`), evaluated like every row."""
    heads = "its policy heads" if acting["heads"] == "actor" else "the argmax of its Q heads"
    policy = load_policy(run_dir, ctx.catalog, ctx.test_sim, **acting)
    return RowResult.from_evaluation(
        key, ctx.evaluate(policy), note=f"{whose}'s agent acting from {heads}"
    )


def _agent_row(ctx: _Context, key: str, trained: Trained, note: str) -> RowResult:
    """The row of a trained agent: its final test-pool evaluation (made now when not given)."""
    result = trained.test or ctx.evaluate(load_policy(trained.agent_dir, ctx.catalog))
    return RowResult.from_evaluation(key, result, training_curve=trained.curve, note=note)


# ---------------------------------------------------------------------------------------- one seed
def _devices(ctx: _Context, number: str, announce: bool = True) -> list[Path]:
    """Stage 1: train the on-policy agent, saving a copy at each device stage."""
    import shutil

    def run() -> dict[str, Any]:
        agents = []
        for i, steps in enumerate(ctx.config.stage_steps()):
            dest = ctx.root / "devices" / f"agent-{i}"
            if not dest.is_dir():
                trained = _train(_spec(ctx, "online", ctx.root / "runs" / "online", steps))
                tmp = dest.with_name(dest.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(trained.agent_dir, tmp)
                tmp.rename(dest)
            agents.append(str(dest))
        return {"agents": agents, "steps": list(ctx.config.stage_steps())}

    return [Path(p) for p in _run_stage(ctx, "devices", number, run, announce)["agents"]]


def _collect(
    ctx: _Context,
    name: str,
    number: str,
    devices: Sequence[DeviceConfig],
    n_sessions: int,
    announce: bool = True,
) -> Path:
    """Collect (or finish collecting) a log of the devices on the train pool."""
    from textrec.logs.collect import collect

    log_dir = ctx.root / "logs" / name

    def run() -> dict[str, Any]:
        result = collect(
            ctx.catalog,
            log_dir,
            n_sessions,
            ctx.seed,
            devices,
            task=ctx.ingredients().task,
            workers=ctx.config.workers,
            chunk_sessions=min(ctx.config.chunk_sessions, n_sessions),
            resume=True,
            progress=ctx.progress,
        )
        return {"log_dir": str(log_dir), "collect": result.to_json()}

    return Path(_run_stage(ctx, f"log-{name}", number, run, announce)["log_dir"])


def _logged_row(log_dir: Path) -> RowResult:
    from textrec.logs.info import summarize

    summary = summarize(log_dir)
    nv = summary.nv if summary.nv is not None else MeanSE(float("nan"), float("nan"))
    metrics = {f"sr@{k}": v for k, v in summary.sr}
    metrics.update(ni=summary.ni, nv=nv)
    return RowResult(
        "behaviour_logged",
        metrics,
        summary.n_sessions,
        note=f"every logged session of the {len(summary.devices)} devices (train pool), "
        f"as the paper reports its Behaviour row; NV from {summary.nv_source}",
    )


@dataclass(frozen=True)
class _Stage:
    """One stage of a seed: its name (its record's), the stage it reads, and its work."""

    name: str
    needs: str | None
    """The stage whose record this one reads (``None``: none); it may run once that is done."""
    run: Callable[[], object]


@dataclass(frozen=True)
class RowSpec:
    """One row of Table 2 in one seed: what measures it, and the policy it evaluates."""

    key: str
    """The row's key (:data:`textrec.report.ROWS`); also its stage's name."""
    needs: str
    """The stage whose record the row reads: the log, or the training row it evaluates again."""
    measure: Callable[[], RowResult]
    """Train (or read the training) and evaluate on the run's test users: the row."""
    policy: Callable[[BatchedSimulator], Policy] | None = None
    """The row's policy for given test users, once ``measure`` ran (evaluated under other
    speech); ``None`` for a row that is no policy (the logged sessions)."""
    settings: Callable[[], dict[str, Any]] | None = None
    """What the row's training depends on (:func:`training_settings`), kept in its record and
    checked on resume; ``None``: not checked."""


def _views(config: ReproduceConfig) -> dict[str, tuple[str, dict[str, Any]]]:
    """``{row: (learner, acting)}``: each Q learner's added row (:data:`textrec.report.ACTOR_Q`),
    the learner's agent acting as :data:`POLICY_VIEWS` says (the actor or the Q-greedy view,
    whichever is not the learner's own row)."""
    out = {}
    for learner, actor, q in ACTOR_Q:
        if learner in config.learners:
            view = actor if q == learner else q
            out[view] = (learner, POLICY_VIEWS["actor" if view == actor else "q"])
    return out


def row_specs(
    ctx: _Context, agents: Callable[[], list[Path]], log_dir: Callable[[], Path]
) -> list[RowSpec]:
    """Table 2's rows this seed runs (:func:`_planned_rows`), in table order.

    ``agents()`` and ``log_dir()`` read (or make) the on-policy agent's copies and the log.
    """
    config, catalog, root = ctx.config, ctx.catalog, ctx.root

    def saved(run_dir: Path, **acting: Any) -> Callable[[BatchedSimulator], Policy]:
        return lambda users: load_policy(run_dir, catalog, users, **acting)

    def offline_spec(algo: str) -> Any:
        return _spec(ctx, algo, root / "runs" / algo, config.offline_steps, log_dir())

    def offline(algo: str) -> RowResult:
        # snapshots: the OPE stage's candidates
        run = replace(offline_spec(algo), snapshots=bool(config.ope_estimators))
        note = f"trained on the log only, {config.offline_steps} updates, last checkpoint"
        return _agent_row(ctx, algo, _train(run), note)

    def online() -> RowResult:
        trained = Trained(agents()[-1], read_curve(root / "runs" / "online"), 0.0)
        note = f"PPO against the simulator, {config.online_steps} updates"
        return _agent_row(ctx, "online", trained, note)

    def behaviour(users: BatchedSimulator) -> Policy:
        return DeviceMix(device_mix(agents()), catalog)

    def behaviour_test() -> RowResult:
        return RowResult.from_evaluation(
            "behaviour_test",
            ctx.evaluate(behaviour(ctx.test_sim)),
            note=f"the same {len(device_mix(agents()))} devices (round-robin) serving the test "
            "pool",
        )

    def baseline(name: str) -> Callable[[BatchedSimulator], Policy]:
        return partial(make_policy, name, catalog)

    def reference(key: str, name: str, note: str) -> RowResult:
        return RowResult.from_evaluation(key, ctx.evaluate(baseline(name)(ctx.test_sim)), note=note)

    def iterative_agent(users: BatchedSimulator) -> Policy:
        last = root / "runs" / "iterative" / f"round-{config.iterative_rounds - 1}"
        return load_policy(read_json(last / "result.json")["agent_dir"], catalog, users)

    specs = {
        "behaviour_logged": RowSpec("behaviour_logged", LOG_STAGE, lambda: _logged_row(log_dir())),
        "behaviour_test": RowSpec("behaviour_test", LOG_STAGE, behaviour_test, behaviour),
        "online": RowSpec(
            "online", LOG_STAGE, online, lambda users: load_policy(agents()[-1], catalog, users)
        ),
        **{
            algo: RowSpec(
                algo,
                LOG_STAGE,
                partial(offline, algo),
                saved(root / "runs" / algo),
                lambda algo=algo: training_settings(offline_spec(algo)),
            )
            for algo in OFFLINE_ROWS
        },
        **{
            key: RowSpec(
                key,
                learner,
                partial(_view_row, ctx, key, root / "runs" / learner, acting, f"the {learner} row"),
                saved(root / "runs" / learner, **acting),
            )
            for key, (learner, acting) in _views(config).items()
        },
        "iterative": RowSpec(
            "iterative",
            LOG_STAGE,
            lambda: _iterative_row(ctx, log_dir()),
            iterative_agent,
            lambda: _iterative_settings(ctx, log_dir()),
        ),
        "slot_filler": RowSpec(
            "slot_filler",
            LOG_STAGE,
            partial(
                reference,
                "slot_filler",
                "slot-filler",
                "the non-learned bar: the values the user asked for (read as structure, not "
                "text), train-pool statistics for the rest",
            ),
            baseline("slot-filler"),
        ),
        "oracle": RowSpec(
            "oracle",
            LOG_STAGE,
            partial(
                reference,
                "oracle",
                "oracle-slots",
                "privileged ceiling: the slot-filler whose slots hold the target's labels from "
                "turn 0",
            ),
            baseline("oracle-slots"),
        ),
    }
    return [specs[key] for key in _planned_rows(config)]


def _seed_stages(ctx: _Context) -> list[_Stage]:
    """Every stage of one seed, in order: ``devices``, the log, Table 2's rows (:func:`row_specs`),
    each row under the other sentence sources (``eval_utterances``) and (``study="coverage"``)
    the coverage study's logs and cells.

    Each stage reads what it needs from the stage it names in ``needs`` (its saved record once it
    ran), so the stages after the log may run in any order or at once.
    """
    config = ctx.config
    planned = _planned_rows(config)
    n = len(planned) + 2

    def number(name: str) -> str:
        order = ["devices", "log", *planned]
        return f"{order.index(name) + 1}/{n}"

    def agents(announce: bool = False) -> list[Path]:
        return _devices(ctx, number("devices"), announce)

    def log_dir(announce: bool = False) -> Path:
        mix = device_mix(agents())
        return _collect(ctx, "default", number("log"), mix, config.log_sessions, announce)

    specs = row_specs(ctx, agents, log_dir)
    stages = [
        _Stage("devices", None, partial(agents, True)),
        _Stage(LOG_STAGE, "devices", partial(log_dir, True)),
        *[
            _Stage(
                row.key,
                row.needs,
                partial(_row_stage, ctx, row.key, number(row.key), row.measure, row.settings),
            )
            for row in specs
        ],
    ]
    spoken = [
        (source, row.key, row.policy)
        for source in config.eval_utterances
        for row in specs
        if row.policy is not None
    ]
    for i, (source, key, policy) in enumerate(spoken):
        name = speech_stage(key, source)
        work = partial(_speech_row, ctx, key, policy, source)
        where = f"s{i + 1}/{len(spoken)}"
        stages.append(_Stage(name, key, partial(_row_stage, ctx, name, where, work)))
    learners = [k for k in planned if k in OFFLINE_ROWS] if config.ope_estimators else []
    for i, learner in enumerate(learners):
        work = partial(_ope_record, ctx, learner, log_dir)
        where = f"o{i + 1}/{len(learners)}"
        stages.append(
            _Stage(
                ope_stage(learner),
                learner,
                partial(_run_stage, ctx, ope_stage(learner), where, work),
            )
        )
    if config.study == "coverage":
        stages += _coverage_stages(ctx, agents, log_dir)
    return stages


def _ope_record(ctx: _Context, learner: str, log_dir: Callable[[], Path]) -> dict[str, Any]:
    """The OPE stage of ``learner``: its kept checkpoints rated (:mod:`textrec.reproduce_ope`)."""
    cfg = ctx.config
    ratings = rate_checkpoints(
        learner,
        ctx.root / "runs" / learner,
        log_dir(),
        ctx.catalog,
        cfg.ope_estimators,
        fqe_steps=cfg.ope_fqe_steps,
        eval_sessions=cfg.eval_sessions,
        seed=ctx.seed,
    )
    return {"ope": ratings.to_json()}


def _ope_ratings(root: Path, config: ReproduceConfig) -> list[LearnerRatings]:
    """Every seed's finished OPE stages, learner by learner."""
    paths = [
        _stage_path(root / f"seed-{s}", ope_stage(k)) for k in config.learners for s in config.seeds
    ]
    return [LearnerRatings.from_json(read_json(p)["ope"]) for p in paths if p.is_file()]


def speech_stage(key: str, source: str) -> str:
    """Name of the stage (and record) of row ``key`` evaluated with users speaking ``source``."""
    return f"{key}@{source}"


def _speech_row(
    ctx: _Context, key: str, policy: Callable[[BatchedSimulator], Policy], source: str
) -> RowResult:
    """Row ``key``'s policy on the test pool with the users speaking ``source`` (the row's
    sessions and seed)."""
    users = ctx.users(source)
    return RowResult.from_evaluation(
        key, ctx.evaluate(policy(users), users), note=f"users speaking {source!r}"
    )


LOG_STAGE = "log-default"
"""Name of the stage (and record) of a seed's experience log."""


def _planned_rows(config: ReproduceConfig) -> list[str]:
    """Table 2's rows this config runs, in table order: every row but the offline learners not
    in ``learners`` (and their actor / Q-greedy rows), and iterative without rounds."""
    views = {view for _, *pair in ACTOR_Q for view in pair} - set(OFFLINE_ROWS)
    return [
        k
        for k, _ in ROWS
        if k not in OFFLINE_ROWS or k in config.learners
        if k not in views or k in _views(config)
        if k != "iterative" or config.iterative_rounds > 0
    ]


def _seed_context(
    config: ReproduceConfig,
    catalog: Catalog,
    seed: int,
    root: Path,
    say: Callable[[str], None],
    progress: bool,
) -> _Context:
    return _Context(config, catalog, seed, root / f"seed-{seed}", say, progress)


def _run_seed(ctx: _Context) -> dict[str, RowResult]:
    """Run (or read) every stage of the seed in order; its rows."""
    for stage in _seed_stages(ctx):
        stage.run()
    return dict(ctx.done)


# --------------------------------------------------------------------------- stages in processes
_LONGEST_FIRST = ("iterative", "offpolicy", "cql", "bcq", "iql", "bc")
"""The rows started first in a pool (the longest in the full built-in run: iterative collects two
logs and trains three rounds; the Q learners train Q heads beside the actor); the evaluations
of the other rows fill in after them."""


def _silent(line: str) -> None:
    """A ``say`` that drops the line."""


def _run_stages_in_pool(
    config: ReproduceConfig,
    root: Path,
    plans: Mapping[int, Sequence[_Stage]],
    say: Callable[[str], None],
) -> None:
    """Run the seeds' stages (``plans``) in ``config.workers`` processes, each as soon as the
    stage it reads is done: every seed's devices at once, its log when they are done, then its
    rows (longest first) and coverage cells as workers come free.

    A worker writes each stage's record as the serial run would (each stage is seeded by itself
    and reads only saved records, so the records are the same numbers in any order); the lines it
    said are said here when its stage is done. The first error stops the pool.
    """
    after: dict[tuple[int, str | None], list[str]] = {}
    for seed, plan in plans.items():
        for stage in plan:
            after.setdefault((seed, stage.needs), []).append(stage.name)
    for names in after.values():
        names.sort(key=lambda k: _LONGEST_FIRST.index(k) if k in _LONGEST_FIRST else 99)
    with job_runner(config.where(), _StageWorker, (config, str(root))) as jobs:
        for seed in plans:
            for name in after.get((seed, None), []):
                jobs.submit((seed, name), _stage_job, seed, name)
        for (seed, name), said in jobs.completed():
            for line in said:
                say(line)
            for nxt in after.get((seed, name), []):
                jobs.submit((seed, nxt), _stage_job, seed, nxt)


class _StageWorker:
    """A stage worker's config, run directory, catalog and seed contexts (one per worker)."""

    def __init__(self, config: ReproduceConfig, root: str) -> None:
        from textrec.catalog.build import open_catalog

        self.config, self.root = config, Path(root)
        self.catalog = open_catalog(
            config.catalog, data=config.data, items=config.items, seed=config.seed, progress=False
        )
        self.contexts: dict[int, _Context] = {}


def _stage_job(worker: _StageWorker, seed: int, name: str) -> list[str]:
    """Run stage ``name`` of ``seed`` in ``worker`` (a :mod:`textrec.backends` task); the lines
    it said."""
    lines: list[str] = []
    if seed not in worker.contexts:
        worker.contexts[seed] = _seed_context(
            worker.config, worker.catalog, seed, worker.root, _silent, False
        )
    ctx = worker.contexts[seed]
    ctx.say = lines.append
    try:
        next(stage for stage in _seed_stages(ctx) if stage.name == name).run()
    finally:
        ctx.say = _silent
    return lines


# ------------------------------------------------------------------------------- coverage study
def _sessions_name(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


COVERAGE_MIXES: dict[str, Callable[[], tuple[DeviceConfig, ...]]] = {
    "narrow": narrow_devices,
    "single": single_device,
}
"""The coverage study's logs besides the default mix, by name (each at a quarter of the log)."""


def coverage_logs(config: ReproduceConfig) -> tuple[tuple[str, str, int], ...]:
    """``(name, mix, sessions)`` of the coverage study's logs: the default mix at the full
    ``log_sessions`` (Table 2's log), with ``coverage_sizes`` also at a quarter and a tenth of it,
    then each of :data:`COVERAGE_MIXES` (the narrow mix, :func:`narrow_devices`, and the
    near-deterministic single device, :func:`single_device`) at a quarter (10k / 40k)."""
    full = config.log_sessions
    quarter = max(1, full // 4)
    sizes = (full, quarter, max(1, full // 10)) if config.coverage_sizes else (full,)
    logs = [(f"default-{_sessions_name(n)}", "default", n) for n in sizes]
    logs += [(f"{mix}-{_sessions_name(quarter)}", mix, quarter) for mix in COVERAGE_MIXES]
    return tuple(logs)


def coverage_variants(config: ReproduceConfig) -> tuple[tuple[str, str, dict[str, Any]], ...]:
    """``(label, algo, overrides)``: each of ``coverage_learners`` (``cql`` at each of
    ``coverage_alphas``, by default its own α; ``offpolicy`` is α = 0) at the learners' defaults,
    and with ``coverage_tracking`` each again with request tracking added (``track_coef = 1``,
    the learners' loss before issue 15)."""
    from textrec.learners.registry import LEARNERS

    alphas = config.coverage_alphas or (LEARNERS["cql"].make_config({}).alpha,)
    base: list[tuple[str, str, dict[str, Any]]] = []
    for algo in config.coverage_learners:
        if algo == "cql":
            base += [(f"cql α={a:g}", "cql", {"alpha": float(a)}) for a in alphas]
        else:
            base.append((algo, algo, {}))
    if not config.coverage_tracking:
        return tuple(base)
    on = [(f"{label}, tracking on", algo, {**o, "track_coef": 1.0}) for label, algo, o in base]
    return tuple(base + on)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text.replace("α=", "alpha"))


@dataclass(frozen=True)
class _Cell:
    """One coverage cell: a learner variant trained on one log, and the policies it reports."""

    log: str
    label: str
    algo: str
    overrides: dict[str, Any]
    stage: str
    """The training's stage (its record is the learner's own policy's row): Table 2's row where
    the cell is that very training (the default log, default config)."""
    views: tuple[tuple[str, str, str, dict[str, Any]], ...]
    """``(policy, stage, row key, acting)`` of each policy the cell reports: the learner's own
    (:func:`~textrec.report.own_policy`; ``acting`` empty: its training's record) and, for a Q
    learner (:data:`ACTOR_Q`), the other view (``"actor"`` or ``"Q-greedy"``,
    :data:`POLICY_VIEWS`), evaluated by its own stage: Table 2's view row for a Table 2 cell,
    else the training's stage with ``-actor`` or ``-q`` added."""


def _cell_views(algo: str, stage: str) -> tuple[tuple[str, str, str, dict[str, Any]], ...]:
    own = own_policy(algo)
    mine = (own, stage, algo, {})
    if not own:
        return (mine,)
    _, actor, q = next(pair for pair in ACTOR_Q if pair[0] == algo)
    view, acting = (q, "q") if own == "actor" else (actor, "actor")
    view_stage = view if stage == algo else f"{stage}-{acting}"
    return mine, (_POLICY_NAMES[acting], view_stage, view, POLICY_VIEWS[acting])


def _coverage_cells(config: ReproduceConfig) -> list[_Cell]:
    """Every cell of the coverage study, logs in :func:`coverage_logs` order."""
    cells = []
    for name, mix, n_sessions in coverage_logs(config):
        default = n_sessions == config.log_sessions and mix == "default"
        for label, algo, overrides in coverage_variants(config):
            stage = f"coverage-{name}-{_slug(label)}"
            if default and _is_default(algo, overrides):
                stage = algo  # the very training of Table 2's row: its stage record serves
            cells.append(_Cell(name, label, algo, overrides, stage, _cell_views(algo, stage)))
    return cells


def _coverage_stages(
    ctx: _Context, agents: Callable[[], list[Path]], default_log: Callable[[], Path]
) -> list[_Stage]:
    """The coverage study's stages: each log but the default one, then each cell's training and
    the evaluation of its other view (a Q learner's actor or Q-greedy policy).

    A cell that is Table 2's row (default log and config) is that row's stage, and its other
    view Table 2's view row, when the rows run; otherwise they run here under the rows' names
    (their records then serve the rows too).
    """
    cfg = ctx.config
    logs = {name: (mix, n) for name, mix, n in coverage_logs(cfg)}
    default = next(
        name for name, (mix, n) in logs.items() if mix == "default" and n == cfg.log_sessions
    )
    rows = set(_planned_rows(cfg))
    cells = _coverage_cells(cfg)
    trainings = [c for c in cells if c.stage not in rows]  # the rest are rows
    views = [(c, v) for c in cells for v in c.views[1:] if v[1] not in rows]
    total = len(logs) - 1 + len(trainings) + len(views)
    stages: list[_Stage] = []
    log_stage = {default: LOG_STAGE}
    log_dirs: dict[str, Callable[[], Path]] = {default: default_log}
    for name, (mix, n_sessions) in logs.items():
        if name == default:
            continue
        number = f"c{len(stages) + 1}/{total}"

        def collect_log(
            name: str = name,
            mix: str = mix,
            n: int = n_sessions,
            number: str = number,
            announce: bool = False,
        ) -> Path:
            devices = device_mix(agents()) if mix == "default" else COVERAGE_MIXES[mix]()
            return _collect(ctx, f"coverage-{name}", number, devices, n, announce)

        log_stage[name] = f"log-coverage-{name}"
        log_dirs[name] = collect_log
        stages.append(_Stage(log_stage[name], "devices", partial(collect_log, announce=True)))
    for cell in trainings:
        number = f"c{len(stages) + 1}/{total}"
        log_dir = log_dirs[cell.log]
        run = partial(_coverage_run, ctx, cell.algo, cell.stage, log_dir, cell.overrides)
        settings = partial(_coverage_settings, ctx, cell.algo, cell.stage, log_dir, cell.overrides)
        work = partial(_run_stage, ctx, cell.stage, number, run, settings=settings)
        stages.append(_Stage(cell.stage, log_stage[cell.log], work))
    for cell, (_, stage, key, acting) in views:
        number = f"c{len(stages) + 1}/{total}"
        whose = f"the {cell.label} cell on the {cell.log} log"
        work = partial(_view_row, ctx, key, ctx.root / "runs" / cell.stage, acting, whose)
        run = partial(_as_record, work)
        stages.append(_Stage(stage, cell.stage, partial(_run_stage, ctx, stage, number, run)))
    return stages


def run_coverage_study(root: Path, config: ReproduceConfig) -> list[CoverageCell]:
    """Test SR@10 and SR@20 of each policy of each learner variant trained on each coverage log,
    every seed's record combined (mean ± s.e. across the seeds' means, :func:`combine_seeds`)."""
    out = []
    for cell in _coverage_cells(config):
        for policy, stage, _, _ in cell.views:
            row = combine_seeds(
                [
                    RowResult.from_json(read_json(_stage_path(root / f"seed-{s}", stage))["row"])
                    for s in config.seeds
                ]
            )
            out.append(
                CoverageCell(
                    cell.log,
                    cell.label,
                    policy,
                    row.metrics["sr@10"],
                    row.metrics["sr@20"],
                    row.n_seeds,
                )
            )
    return out


def coverage_narrow_logs(config: ReproduceConfig) -> tuple[str, ...]:
    """The coverage logs of narrow behaviour (every one but the default mix's)."""
    return tuple(name for name, mix, _ in coverage_logs(config) if mix != "default")


def _is_default(algo: str, overrides: Mapping[str, Any]) -> bool:
    """Whether ``overrides`` leave ``algo``'s config at its defaults (the Table 2 row's)."""
    from textrec.learners.registry import LEARNERS

    spec = LEARNERS[algo]
    return bool(spec.make_config(overrides) == spec.make_config({}))


def _coverage_spec(
    ctx: _Context, algo: str, slug: str, log_dir: Callable[[], Path], overrides: dict[str, Any]
) -> Any:
    run_dir = ctx.root / "runs" / slug
    return _spec(ctx, algo, run_dir, ctx.config.offline_steps, log_dir(), overrides)


def _coverage_settings(
    ctx: _Context, algo: str, slug: str, log_dir: Callable[[], Path], overrides: dict[str, Any]
) -> dict[str, Any]:
    return training_settings(_coverage_spec(ctx, algo, slug, log_dir, overrides))


def _coverage_run(
    ctx: _Context, algo: str, slug: str, log_dir: Callable[[], Path], overrides: dict[str, Any]
) -> dict[str, Any]:
    trained = _train(_coverage_spec(ctx, algo, slug, log_dir, overrides))
    return {"row": _agent_row(ctx, algo, trained, "").to_json()}


# ------------------------------------------------------------------------------------ the run
@dataclass(frozen=True)
class ReproduceResult:
    """What :func:`reproduce` measured and wrote."""

    rows: dict[str, RowResult]
    """Table 2's rows, seeds combined."""
    speech: dict[str, dict[str, RowResult]]
    """``{source: rows}``: the rows evaluated with the users speaking each of
    ``eval_utterances`` (seeds combined; empty without)."""
    per_seed: dict[int, dict[str, RowResult]]
    """Each seed's rows."""
    coverage: tuple[CoverageCell, ...]
    """The coverage study's cells (empty unless it ran)."""
    files: tuple[Path, ...]
    """The files written into the run directory."""
    seconds: float
    """Wall time of this call."""


RUN_FILE = "run.json"
"""The run's settings, written first (a resumed run must match them), and one record per finished
call: its wall time and the machine it ran on (:func:`textrec.machine.machine_record`)."""


_ADDED_SETTINGS = {"rewrite": False}
"""Settings added since the first runs, with the value an older run (saved without) had."""


def _start(root: Path, config: ReproduceConfig, resume: bool) -> None:
    path = root / RUN_FILE
    if path.is_file():
        if not resume:
            raise InputError(
                f"{root}: already holds a reproduce run; pass --resume to continue it "
                "or choose another --out"
            )
        saved = read_json(path).get("settings", {})
        new = json_settings(config)
        saved = {**_ADDED_SETTINGS, **saved}  # a run started before a setting existed
        differ = sorted(k for k in new if saved.get(k) != new[k])  # the binding settings
        if differ:
            raise InputError(
                f"{path}: the run was started with other settings ({', '.join(differ)}); "
                "resume with the same options (only --seeds, --study, --learners, --coverage-*, "
                "--workers, --backend and --ray-address may change)"
            )
        return
    write_json_atomic(path, {"settings": json_settings(config), "calls": []})


def _finish_call(root: Path, seconds: float) -> list[dict[str, Any]]:
    """Add this call (wall time, machine) to ``run.json``; every finished call's record."""
    path = root / RUN_FILE
    run = read_json(path)
    calls = [*run.get("calls", []), {"seconds": round(seconds, 1), **machine_record().to_json()}]
    write_json_atomic(path, {**run, "calls": calls})
    return calls


def run_notes(calls: Sequence[Mapping[str, Any]]) -> list[str]:
    """Report lines on the wall time over every finished call and the machines they ran on."""
    times = " + ".join(f"{c['seconds']:.0f} s" for c in calls)
    total = sum(c["seconds"] for c in calls)
    lines = [
        f"- wall time {total:.0f} s over {len(calls)} finished call(s) ({times}; an interrupted "
        "call is not counted, its finished stages are in the table below)"
    ]
    machines = dict.fromkeys(
        MachineRecord(**{k: v for k, v in c.items() if k != "seconds"}).summary() for c in calls
    )
    lines += [f"- made on: {m}" for m in machines]
    lines.append(
        "- learned rows depend on torch's CPU kernels: the same seed gives the same numbers on "
        "the same kind of CPU, other (equally valid) numbers on another"
    )
    return lines


def _modified(path: Path) -> float:
    return path.stat().st_mtime


def json_settings(config: ReproduceConfig) -> dict[str, Any]:
    """:meth:`ReproduceConfig.settings` as it reads back from JSON (tuples as lists)."""
    return dict(json_ready(config.settings()))


def reproduce(
    config: ReproduceConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> ReproduceResult:
    """Run the experiment into ``out`` (see the module docstring); write the report.

    Args:
        config: what to run.
        out: the run directory (claimed as a ``reproduce`` artifact before any work).
        resume: continue the run in ``out``, skipping every finished stage.
        progress: show progress bars of the long stages.
        say: receives one line per stage.

    Raises:
        InputError: ``out`` is not a new/empty directory or a reproduce run; it holds a run and
            ``resume`` is false; or the run there has other settings.
    """
    from textrec.catalog.build import open_catalog

    began = time.perf_counter()
    root = claim_output_dir(out, "reproduce")
    _start(root, config, resume)
    catalog = open_catalog(
        config.catalog,
        data=config.data,
        items=config.items,
        seed=config.seed,
        progress=progress,
    )
    quiet = not config.where().in_process  # workers save every stage first: the pass below reads
    contexts = {
        s: _seed_context(config, catalog, s, root, _silent if quiet else say, progress)
        for s in config.seeds
    }
    if quiet:
        _run_stages_in_pool(config, root, {s: _seed_stages(c) for s, c in contexts.items()}, say)
    per_seed = {s: _run_seed(c) for s, c in contexts.items()}
    rows = {
        key: combine_seeds([per_seed[s][key] for s in config.seeds])
        for key, _ in ROWS
        if all(key in per_seed[s] for s in config.seeds)
    }
    speech = {
        source: {
            key: combine_seeds([per_seed[s][speech_stage(key, source)] for s in config.seeds])
            for key in rows
            if all(speech_stage(key, source) in per_seed[s] for s in config.seeds)
        }
        for source in config.eval_utterances
    }
    coverage = run_coverage_study(root, config) if config.study == "coverage" else []
    ratings = _ope_ratings(root, config) if config.ope_estimators else []
    seconds = time.perf_counter() - began
    devices = device_mix([f"agent-{i}" for i in range(len(config.stage_steps()))])
    notes = [
        f"- catalog: {catalog.name} ({catalog.n_items} items); seeds {list(config.seeds)}",
        *run_notes(_finish_call(root, seconds)),
        f"- devices ({len(devices)}): "
        + ", ".join(f"{d.name} ({d.base}, noise {d.noise:g})" for d in devices)
        + f"; agent copies after {list(config.stage_steps())} on-policy updates",
        f"- log: {config.log_sessions} sessions (train pool); offline learners: "
        f"{config.offline_steps} updates each; every row: {config.eval_sessions} test-pool "
        "sessions, the same for every row",
    ]
    notes += ["", "| seed | stage | seconds |", "|---|---|---|"]
    notes += [
        f"| {s} | {path.stem} | {read_json(path).get('seconds', 0):.0f} |"
        for s in config.seeds
        for path in sorted((root / f"seed-{s}" / "stages").glob("*.json"), key=_modified)
    ]
    files = write_report(
        root,
        rows,
        {
            **config.to_json(),
            "catalog_name": catalog.name,
            "catalog_fingerprint": catalog.fingerprint,
        },
        title=f"textrec reproduce on {catalog.name}",
        coverage=coverage,
        coverage_narrow=coverage_narrow_logs(config),
        notes=notes,
        speech=speech,
        context=config.describe(catalog.name),
        sections=ope_markdown(ratings, config.ope_estimators, config.ope_fqe_steps)
        if ratings
        else (),
        extra_results={"ope": ope_json(ratings, config.ope_estimators)} if ratings else None,
    )
    say(f"[reproduce] report written to {root / 'report.md'} ({seconds:.0f} s)")
    return ReproduceResult(rows, speech, per_seed, tuple(coverage), tuple(files), seconds)
