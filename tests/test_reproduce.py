"""reproduce.py: its configuration, the device mix on the test pool, the run directory's
claim and resume rules, the coverage study's plan (the end-to-end run is in test_reproduce_e2e)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from textrec.errors import InputError
from textrec.evaluation import evaluate
from textrec.language.speech import build_sentence_bank
from textrec.learners.configs import CQLConfig
from textrec.logs.policies import DeviceConfig, DeviceMix
from textrec.report import ACTOR_Q, REPORT_FILES, ROWS
from textrec.reproduce import (
    OFFLINE_ROWS,
    RUN_FILE,
    ReproduceConfig,
    _planned_rows,
    _slug,
    _start,
    check_stage_settings,
    coverage_logs,
    coverage_narrow_logs,
    coverage_variants,
    device_mix,
    narrow_devices,
    reproduce,
    single_device,
)
from textrec.simulator import BatchedSimulator


def test_config_presets_and_stages():
    full = ReproduceConfig()
    assert full.log_sessions == 40000 and full.stage_steps() == (100, 200, 300)
    quick = ReproduceConfig.quick(seed=3, n_seeds=2)
    assert quick.log_sessions < full.log_sessions and quick.offline_steps < full.offline_steps
    assert quick.seeds == (3, 4) and quick.stage_steps() == (20, 40, 60)
    assert ReproduceConfig(online_steps=2).stage_steps() == (1, 2)  # merged, never 0


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("log_sessions", 0, "log_sessions"),
        ("study", "ablation", "study"),
        ("learners", ("cql", "dqn"), "dqn"),
        ("device_stages", (0.0,), "device_stages"),
        ("eval_every", -1, "eval_every"),
        ("eval_utterances", ("templates",), "eval_utterances"),  # the rows' own source
        ("eval_utterances", ("free", "free"), "eval_utterances"),
        ("eval_utterances", ("shouting",), "eval_utterances"),
        ("preset", "medium", "preset"),
    ],
)
def test_config_refuses_bad_values(field, value, match):
    with pytest.raises(InputError, match=match):
        ReproduceConfig(**{field: value})


def test_speech_sources_may_change_on_resume_and_the_preset_names_the_figures():
    config = ReproduceConfig.quick(eval_utterances=("model", "free"), n_seeds=2)
    assert config.settings() == ReproduceConfig.quick().settings()
    assert config.describe("builtin") == (
        "builtin · quick preset · seeds 0, 1 · 300 test sessions per row and seed · "
        "log 4000 sessions"
    )
    assert ReproduceConfig().describe("zappos").startswith("zappos · full preset · seed 0 ·")


def test_q_greedy_rows_only_for_q_learners():
    """Each Q learner adds the row of its other policy (actor or Q-greedy); bc adds none; the
    Q learners of ACTOR_Q are those of the registry that train Q heads."""
    from textrec.learners.offline import QLearner
    from textrec.learners.registry import LEARNERS

    def added(learners):
        rows = _planned_rows(ReproduceConfig(learners=learners, iterative_rounds=0))
        return [
            k for k in rows if k not in OFFLINE_ROWS and k in {v for _, *p in ACTOR_Q for v in p}
        ]

    assert added(("bc",)) == []
    assert added(("bc", "cql")) == ["cql_q"]
    assert added(OFFLINE_ROWS) == ["offpolicy_q", "cql_q", "bcq_actor", "iql_q"]
    q_learners = {a for a in OFFLINE_ROWS if issubclass(LEARNERS[a].learner, QLearner)}
    assert {learner for learner, _, _ in ACTOR_Q} == q_learners
    rows = _planned_rows(ReproduceConfig(learners=("bc",)))
    assert rows[-2:] == ["slot_filler", "oracle"] and "iterative" in rows


def test_device_mix_is_the_documented_family():
    devices = device_mix(["a0", "a1", "a2"])
    assert [d.name for d in devices[:6]] == [
        "slot-noise-0.3",
        "slot-noise-1.5",
        "forget-2",
        "latest-only",
        "eps-0.3",
        "marginal",
    ]
    assert [(d.base, d.noise, d.checkpoint) for d in devices[6:]] == [
        ("agent", 0.5, "a0"),
        ("agent", 1.0, "a1"),
        ("agent", 1.5, "a2"),
    ]
    assert all(d.noise <= 0.1 and d.base != "agent" for d in narrow_devices())


def test_device_mix_serves_round_robin_and_sits_between_its_devices(toy_catalog):
    sim = BatchedSimulator(toy_catalog, "test", build_sentence_bank(toy_catalog.schema))
    good = DeviceConfig("good", "slot-filler", noise=0.0)
    bad = DeviceConfig("bad", "slot-filler", epsilon=1.0)
    mix = DeviceMix([good, bad], toy_catalog)
    mix.reset(5, np.random.default_rng(0))
    assert [r.tolist() for r in mix.rows] == [[0, 2, 4], [1, 3]]

    def sr(devices):
        return evaluate(DeviceMix(devices, toy_catalog), sim, 300, seed=1).sr_at_10.mean

    both, alone_good, alone_bad = sr([good, bad]), sr([good]), sr([bad])
    assert alone_bad < both < alone_good
    assert sr([good, bad]) == both  # same seed, same numbers


def test_run_dir_resume_rules(tmp_path):
    config = ReproduceConfig.quick()
    _start(tmp_path, config, resume=False)
    assert (tmp_path / RUN_FILE).is_file()
    with pytest.raises(InputError, match="--resume"):
        _start(tmp_path, config, resume=False)
    _start(tmp_path, ReproduceConfig.quick(n_seeds=3, study="coverage"), resume=True)
    with pytest.raises(InputError, match="offline_steps"):
        _start(tmp_path, ReproduceConfig.quick(offline_steps=7), resume=True)


def test_run_started_before_the_rewrite_option_resumes_without_it(tmp_path):
    _start(tmp_path, ReproduceConfig.quick(), resume=False)
    run = json.loads((tmp_path / RUN_FILE).read_text())
    del run["settings"]["rewrite"]  # saved before the option existed: heard sentences as said
    (tmp_path / RUN_FILE).write_text(json.dumps(run))
    _start(tmp_path, ReproduceConfig.quick(rewrite=False), resume=True)
    with pytest.raises(InputError, match="rewrite"):
        _start(tmp_path, ReproduceConfig.quick(), resume=True)  # today's default: rewrite


def test_foreign_directory_is_refused_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="not made by textrec"):
        reproduce(ReproduceConfig.quick(catalog=str(tmp_path / "missing")), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_coverage_plan():
    """Logs: the default mix at full size (Table 2's), the narrow mix and the single device at a
    quarter; the size variants and tracking variants only when asked; cql at its own α unless
    α values are listed; bcq among the learners."""
    logs = coverage_logs(ReproduceConfig())
    assert logs == (
        ("default-40k", "default", 40000),
        ("narrow-10k", "narrow", 10000),
        ("single-10k", "single", 10000),
    )
    assert coverage_logs(ReproduceConfig(coverage_sizes=True))[:3] == (
        ("default-40k", "default", 40000),
        ("default-10k", "default", 10000),
        ("default-4k", "default", 4000),
    )
    assert coverage_narrow_logs(ReproduceConfig()) == ("narrow-10k", "single-10k")
    alpha = CQLConfig().alpha
    assert coverage_variants(ReproduceConfig()) == (
        ("bc", "bc", {}),
        ("offpolicy", "offpolicy", {}),
        (f"cql α={alpha:g}", "cql", {"alpha": alpha}),
        ("bcq", "bcq", {}),
        ("iql", "iql", {}),
    )
    variants = coverage_variants(
        ReproduceConfig(coverage_alphas=(0.1, 0.3, 1.0), coverage_tracking=True)
    )
    assert [v[0] for v in coverage_variants(ReproduceConfig(coverage_learners=("iql",)))] == ["iql"]
    labels = [label for label, _, _ in variants]
    assert len(variants) == 2 * 7 and labels[:7] == [
        "bc",
        "offpolicy",
        "cql α=0.1",
        "cql α=0.3",
        "cql α=1",
        "bcq",
        "iql",
    ]
    assert all(o["track_coef"] == 1.0 for _, _, o in variants[7:])
    assert variants[3][2] == {"alpha": 0.3}
    # study options may change on resume: they name their own stages
    study = ReproduceConfig(coverage_sizes=True, coverage_tracking=True, coverage_alphas=(1.0,))
    assert study.settings() == ReproduceConfig().settings()


def test_single_device_is_one_noiseless_sharpened_slot_filler():
    (device,) = single_device()
    assert device.base == "slot-filler" and device.noise == 0.0 and device.epsilon == 0.0
    assert device.memory == 0 and 0 < device.temperature <= 0.01
    assert DeviceConfig.from_json(device.to_json()) == device
    assert "temperature" not in narrow_devices()[0].to_json()  # older manifests stay the same


TINY = {
    "items": 300,
    "online_steps": 4,
    "device_stages": (0.5, 1.0),
    "log_sessions": 120,
    "chunk_sessions": 40,
    "offline_steps": 4,
    "eval_every": 2,
    "eval_sessions": 40,
    "iterative_rounds": 2,
    "iterative_sessions": 40,
    "ope_fqe_steps": 20,
}
"""A run of every stage on a 300-item built-in catalog in well under a minute."""


@pytest.mark.slow
def test_quick_run_end_to_end_then_resume_skips_finished_rows(tmp_path):
    config = ReproduceConfig.quick(**TINY)
    out = tmp_path / "run"
    lines: list[str] = []
    result = reproduce(config, out, progress=False, say=lines.append)
    expected = [k for k, _ in ROWS]  # every row of Table 2
    for name in REPORT_FILES.values():
        if name != "coverage.png":
            assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {*expected, "ope"} and list(result.rows) == expected
    for entry in (results[k] for k in expected):
        for metric in ("sr@10", "sr@20", "sr@30", "ni", "nv"):
            assert set(entry[metric]) == {"mean", "se"} and np.isfinite(entry[metric]["mean"])
    assert results["online"]["training_curve"] and results["slot_filler"]["success_curve"]
    report = (out / "report.md").read_text()
    assert all(label in report for key, label in ROWS if key in expected)
    # + devices, log and each offline learner's OPE stage
    assert sum("running" in line for line in lines) == len(expected) + 2 + len(OFFLINE_ROWS)

    again: list[str] = []
    resumed = reproduce(config, out, resume=True, progress=False, say=again.append)
    stage_lines = [line for line in again if "· " in line]
    assert stage_lines and all("skipped" in line for line in stage_lines)
    assert resumed.rows == result.rows
    calls = json.loads((out / RUN_FILE).read_text())["calls"]
    assert len(calls) == 2 and calls[0]["seconds"] >= calls[1]["seconds"]
    total = sum(c["seconds"] for c in calls)
    assert f"wall time {total:.0f} s over 2 finished call(s)" in (out / "report.md").read_text()

    # a run killed after the bc row: its stage record is gone, its training run is complete
    (out / "seed-0" / "stages" / "bc.json").unlink()
    third: list[str] = []
    rerun = reproduce(config, out, resume=True, progress=False, say=third.append)
    number = f"{['devices', 'log', *expected].index('bc') + 1}/{len(expected) + 2}"
    assert [line for line in third if "running" in line] == [
        f"[reproduce] seed 0 · {number} bc: running"
    ]
    assert rerun.rows["bc"].metrics == result.rows["bc"].metrics
    with pytest.raises(InputError, match="--resume"):
        reproduce(config, out, progress=False, say=third.append)

    # a training row keeps the settings it was made with; made with others, it is refused
    record_path = out / "seed-0" / "stages" / "cql.json"
    record = json.loads(record_path.read_text())
    assert record["settings"]["learner"] == json.loads(json.dumps(asdict(CQLConfig())))
    record["settings"]["learner"]["penalty"] = "logsumexp"  # as a run before the items default
    record_path.write_text(json.dumps(record))
    with pytest.raises(
        InputError, match=r"cql\.json.*learner\.penalty: 'logsumexp' there, 'items' now"
    ):
        reproduce(config, out, resume=True, progress=False, say=third.append)


def test_stage_settings_check():
    path = Path("stages/x.json")
    wanted = {"learner": {"alpha": 0.01, "penalty": "items"}, "steps": 3}
    check_stage_settings(path, {"row": {}}, wanted)  # saved before stages kept settings
    check_stage_settings(path, {"settings": wanted}, None)  # a stage that keeps none
    check_stage_settings(path, {"settings": json.loads(json.dumps(wanted))}, wanted)
    saved = {"learner": {"alpha": 1.0, "penalty": "items"}, "steps": 3, "gone": 1}
    with pytest.raises(InputError) as err:
        check_stage_settings(path, {"settings": saved}, wanted)
    assert str(path) in str(err.value)
    assert "learner.alpha: 1.0 there, 0.01 now" in str(err.value)
    assert "gone: 1 there, None now" in str(err.value) and "steps" not in str(err.value)


def _mean_draw_probability(log_dir):
    """Mean probability of the drawn action (all heads) over the turns whose shown item is the
    device's draw (the oracle sidecar's ``matched`` rows)."""
    from textrec.logs.reader import list_shards, read_oracle

    shards = [read_oracle(p) for p in list_shards(log_dir, "oracle")]
    log_probs = np.concatenate([o.log_probs for o in shards]).sum(axis=1)
    matched = np.concatenate([o.matched for o in shards])
    return float(np.exp(log_probs[matched]).mean())


@pytest.mark.slow
def test_coverage_study_every_seed_every_log_actor_and_q_greedy(tmp_path):
    """The study runs on every seed and combines them across the seeds' means; its logs are the
    default one (Table 2's cells serve), the narrow mix and the near-deterministic single device;
    a Q learner reports its actor and its Q-greedy policy; the report has the table, its targets
    and coverage.png."""
    config = ReproduceConfig.quick(
        **{
            **TINY,
            "learners": ("cql",),
            "iterative_rounds": 0,
            "n_seeds": 2,
            "study": "coverage",
            "coverage_learners": ("bc", "cql"),
        }
    )
    out = tmp_path / "run"
    result = reproduce(config, out, progress=False, say=lambda _: None)
    alpha = f"cql α={CQLConfig().alpha:g}"
    assert [(c.log, c.learner, c.policy) for c in result.coverage] == [
        (log, learner, policy)
        for log in ("default-120", "narrow-30", "single-30")
        for learner, policy in (("bc", ""), (alpha, "actor"), (alpha, "Q-greedy"))
    ]
    assert all(c.n_seeds == 2 for c in result.coverage)
    cell = {(c.log, c.learner, c.policy): c for c in result.coverage}
    # the default log's cql cells are Table 2's cql and cql_q rows, seeds combined
    assert cell[("default-120", alpha, "actor")].sr_at_20 == result.rows["cql"].metrics["sr@20"]
    assert (
        cell[("default-120", alpha, "Q-greedy")].sr_at_10 == result.rows["cql_q"].metrics["sr@10"]
    )
    for seed in (0, 1):
        root = out / f"seed-{seed}"
        assert not (root / "runs" / f"coverage-default-120-{_slug(alpha)}").exists()
        for log in ("narrow-30", "single-30"):
            for stage in (f"coverage-{log}-bc", f"coverage-{log}-{_slug(alpha)}-q"):
                assert (root / "stages" / f"{stage}.json").is_file()
    narrow = [
        json.loads((out / f"seed-{s}" / "stages" / f"coverage-narrow-30-{_slug(alpha)}-q.json")
                   .read_text())["row"]["sr@20"]["mean"]
        for s in (0, 1)
    ]  # fmt: skip
    assert cell[("narrow-30", alpha, "Q-greedy")].sr_at_20.mean == pytest.approx(np.mean(narrow))
    # near-deterministic: the single device draws its action with probability near 1
    single = _mean_draw_probability(out / "seed-0" / "logs" / "coverage-single-30")
    assert (
        single > 0.9 > 0.3 > _mean_draw_probability(out / "seed-0" / "logs" / "coverage-narrow-30")
    )
    assert (out / "coverage.png").is_file()
    report = (out / "report.md").read_text()
    assert "## Coverage study" in report and f"| {alpha} | Q-greedy |" in report
    assert f"| narrow-30: {alpha} ≥ offpolicy" not in report  # offpolicy did not run
    assert f"| single-30: {alpha} ≥ bc on SR@20 |" in report


@pytest.mark.slow
def test_q_greedy_oracle_and_speech_rows_end_to_end(tmp_path):
    """A cql run adds its Q-greedy row (the same agent, its Q heads' argmax) and the oracle row;
    with eval_utterances every policy row is evaluated again with free speech, and the report
    gives the actor / Q-greedy gap and the drops with Kendall τ."""
    from textrec.catalog.build import open_catalog
    from textrec.evaluation import load_policy, make_simulator

    config = ReproduceConfig.quick(
        **{**TINY, "learners": ("cql",), "iterative_rounds": 0, "eval_utterances": ("free",)}
    )
    out = tmp_path / "run"
    result = reproduce(config, out, progress=False, say=lambda _: None)
    assert list(result.rows) == [
        "behaviour_logged", "behaviour_test", "online", "cql", "cql_q", "slot_filler", "oracle",
    ]  # fmt: skip
    cat = open_catalog("builtin", items=TINY["items"], seed=0, progress=False)
    users = make_simulator(cat, "test", "templates", 0)
    q_greedy = evaluate(
        load_policy(out / "seed-0" / "runs" / "cql", cat, heads="q", greedy="values"),
        users,
        TINY["eval_sessions"],
        0,
    )
    assert result.rows["cql_q"].metrics["sr@20"] == q_greedy.sr_at_20  # textrec evaluate's
    assert result.rows["oracle"].metrics["ni"].mean <= result.rows["slot_filler"].metrics["ni"].mean
    assert set(result.speech) == {"free"}
    assert set(result.speech["free"]) == set(result.rows) - {"behaviour_logged"}
    stages = {p.stem for p in (out / "seed-0" / "stages").glob("*@free.json")}
    assert stages == {f"{k}@free" for k in result.speech["free"]}
    # the slot-filler reads structure, not text: free speech changes nothing for it
    assert result.speech["free"]["slot_filler"].metrics == result.rows["slot_filler"].metrics
    report = (out / "report.md").read_text()
    assert "## Actor vs its Q-greedy policy" in report and "| Offline Learning (cql) |" in report
    assert "## Table 2 under other speech" in report and "| templates vs free |" in report
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["speech"]["free"]) == set(result.speech["free"])


@pytest.mark.slow
def test_two_seeds_are_combined_across_their_means(tmp_path):
    config = ReproduceConfig.quick(
        **{**TINY, "learners": ("bc",), "iterative_rounds": 0, "n_seeds": 2}
    )
    result = reproduce(config, tmp_path / "run", progress=False, say=lambda _: None)
    assert sorted(result.per_seed) == [0, 1]
    assert (tmp_path / "run" / "seed-1" / "stages" / "bc.json").is_file()
    for key, row in result.rows.items():
        means = [result.per_seed[s][key].metrics["sr@20"].mean for s in (0, 1)]
        assert row.n_seeds == 2 and row.metrics["sr@20"].mean == pytest.approx(np.mean(means))
    assert result.per_seed[0]["bc"].metrics != result.per_seed[1]["bc"].metrics
    report = (tmp_path / "run" / "report.md").read_text()
    assert "2 seed(s)" in report and "across seeds' means" in report


def test_stages_in_a_pool_write_the_serial_runs_numbers(tmp_path):
    """workers=2 runs two seeds' stages side by side, a seed's rows and the coverage study's cells
    at once; every row and cell is the serial run's (all but its wall time), and each stage is
    said once."""
    settings = {
        **TINY,
        "learners": ("bc",),
        "iterative_rounds": 0,
        "n_seeds": 2,
        "study": "coverage",
        "coverage_learners": ("bc",),
    }
    serial = reproduce(
        ReproduceConfig.quick(**settings), tmp_path / "serial", progress=False, say=lambda _: None
    )
    lines: list[str] = []
    pooled = reproduce(
        ReproduceConfig.quick(**settings, workers=2),
        tmp_path / "pooled",
        progress=False,
        say=lines.append,
    )

    def untimed(rows):
        return {k: replace(r, seconds=0.0) for k, r in rows.items()}

    assert untimed(pooled.rows) == untimed(serial.rows)
    for seed in (0, 1):
        assert untimed(pooled.per_seed[seed]) == untimed(serial.per_seed[seed])
    assert pooled.coverage == serial.coverage and len(pooled.coverage) == 3
    stages = ["devices", "log-default", *_planned_rows(ReproduceConfig(**settings)), "ope-bc"]
    assert "iterative" not in stages and "cql_q" not in stages and "oracle" in stages
    coverage = [f"log-coverage-{n}" for n in ("narrow-30", "single-30")]
    coverage += [f"coverage-{n}-bc" for n in ("narrow-30", "single-30")]
    for seed in (0, 1):  # the study runs on every seed
        said = [line for line in lines if f"seed {seed} ·" in line and line.endswith("running")]
        assert sorted(line.split()[-2].rstrip(":") for line in said) == sorted(stages + coverage)


def test_stages_on_ray_write_the_serial_runs_numbers(tmp_path, ray_cluster):
    """backend='ray' runs a seed's stages as Ray actor jobs on a 2-CPU local cluster (its rows
    side by side once the log is collected): every row is the serial run's (all but its wall
    time); the backend may change on --resume."""
    settings = {**TINY, "learners": ("bc",), "iterative_rounds": 0}
    serial = reproduce(
        ReproduceConfig.quick(**settings), tmp_path / "serial", progress=False, say=lambda _: None
    )
    on_ray = reproduce(
        ReproduceConfig.quick(**settings, workers=2, backend="ray"),
        tmp_path / "ray",
        progress=False,
        say=lambda _: None,
    )

    def untimed(rows):
        return {k: replace(r, seconds=0.0) for k, r in rows.items()}

    assert untimed(on_ray.rows) == untimed(serial.rows) and "bc" in serial.rows
    again = reproduce(
        ReproduceConfig.quick(**settings),
        tmp_path / "ray",
        resume=True,
        progress=False,
        say=lambda _: None,
    )
    assert untimed(again.rows) == untimed(serial.rows)
