"""Behaviour devices: configs, distributions, memory, determinism, agent copies."""

from __future__ import annotations

import numpy as np
import pytest

from textrec.language.speech import build_sentence_bank
from textrec.logs.policies import (
    FLOOR,
    DeviceConfig,
    DevicePolicy,
    _SlotMemory,
    default_devices,
    device_rng,
)
from textrec.simulator.baselines import SlotFillerPolicy
from textrec.simulator.engine import BatchedSimulator
from textrec.simulator.policy import Policy


@pytest.fixture(scope="module")
def sim(toy_catalog):
    return BatchedSimulator(toy_catalog, "train", build_sentence_bank(toy_catalog.schema, seed=0))


def _played(sim, n_turns: int, n: int = 64, seed: int = 0):
    """StepResults of ``n_turns`` turns of random items (sessions that finish stay finished)."""
    rng = np.random.default_rng(seed)
    result = sim.reset(n, rng)
    out = [result]
    for _ in range(n_turns):
        if not result.active.any():
            break
        items = np.full(n, -1)
        for i in np.flatnonzero(result.active):
            unseen = sim.pool[~sim.shown[i]]
            items[i] = rng.choice(unseen)
        result = sim.step(items)
        out.append(result)
    return out


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "name must be a non-empty"),
        ({"name": "a", "base": "oracle"}, "base must be one of"),
        ({"name": "a", "noise": -1.0}, "noise must be finite and >= 0, got -1.0"),
        ({"name": "a", "memory": -2}, "memory must be >= 0, got -2"),
        ({"name": "a", "epsilon": 1.5}, r"epsilon must be in \[0, 1\], got 1.5"),
        ({"name": "a", "base": "agent"}, "checkpoint must be set exactly for base 'agent'"),
        ({"name": "a", "checkpoint": "x"}, "checkpoint must be set exactly"),
        ({"name": "a", "temperature": 0.0}, "temperature must be finite and > 0, got 0.0"),
    ],
)
def test_device_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=f"DeviceConfig.{match}"):
        DeviceConfig(**kwargs)


def test_default_family_and_json_round_trip():
    devices = default_devices(["/ckpt/a", "/ckpt/b"])
    assert len(devices) == 8 and len({d.name for d in devices}) == 8
    assert [d.noise for d in devices if d.base == "agent"] == [0.5, 1.0]
    for d in devices:
        assert DeviceConfig.from_json(d.to_json()) == d
    with pytest.raises(ValueError, match="malformed device config"):
        DeviceConfig.from_json({"name": "x", "colour": "red"})


def test_devices_follow_the_policy_protocol_and_give_distributions(toy_catalog, sim):
    results = _played(sim, 4)
    sizes = toy_catalog.schema.sizes
    for config in default_devices():
        device = DevicePolicy(config, toy_catalog)
        assert isinstance(device, Policy)
        device.reset(64, device_rng(0, 0, 0, config))
        for result in results:
            action = device.act(result)
            heads = action.head_probs
            assert action.values.shape == (64, 3)
            assert ((action.values >= 0) & (action.values < np.asarray(sizes))).all()
            for p, size in zip(heads, sizes, strict=True):
                assert p.shape == (64, size) and (p > 0).all()
                np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_same_generator_same_actions(toy_catalog, sim):
    results = _played(sim, 3)
    config = DeviceConfig("d", noise=1.0, epsilon=0.2)

    def run(seed):
        device = DevicePolicy(config, toy_catalog)
        device.reset(64, np.random.default_rng(seed))
        return [device.act(r).values for r in results]

    assert all((a == b).all() for a, b in zip(run(1), run(1), strict=True))
    assert any((a != b).any() for a, b in zip(run(1), run(2), strict=True))


def test_noise_free_device_samples_the_slot_filler_and_epsilon_one_is_uniform(toy_catalog, sim):
    results = _played(sim, 3)
    plain = DevicePolicy(DeviceConfig("plain"), toy_catalog)
    plain.reset(64, np.random.default_rng(0))
    base = SlotFillerPolicy(toy_catalog)
    base.reset(64, np.random.default_rng(0))
    for r in results:
        expected = [
            np.maximum(q, FLOOR) / np.maximum(q, FLOOR).sum(axis=1, keepdims=True)
            for q in base.act(r).head_probs
        ]
        heads = plain.act(r).head_probs
        for p, q in zip(heads, expected, strict=True):
            np.testing.assert_allclose(p, q, rtol=1e-5)
    uniform = DevicePolicy(DeviceConfig("u", noise=2.0, epsilon=1.0), toy_catalog)
    uniform.reset(64, np.random.default_rng(0))
    heads = uniform.act(results[-1]).head_probs
    for p, size in zip(heads, toy_catalog.schema.sizes, strict=True):
        np.testing.assert_allclose(p, 1.0 / size)


def test_memory_forgets_old_requests(toy_catalog, sim):
    results = _played(sim, 6)
    full, latest = _SlotMemory(toy_catalog, 0), _SlotMemory(toy_catalog, 1)
    full.reset(64)
    latest.reset(64)
    for r in results:
        all_slots, recent = full.update(r), latest.update(r)
        asked_now = r.feedback_value >= 0
        # memory 1: only the attribute asked about in the last turn is known
        assert ((recent >= 0).sum(axis=1) == asked_now).all()
        known = recent >= 0
        assert (recent[known] == all_slots[known]).all()
    assert (full.update(results[-1]) >= 0).sum() > (latest.update(results[-1]) >= 0).sum()


def test_a_step_result_takes_every_field(sim):
    result = _played(sim, 2)[-1]
    rows = np.array([3, 0, 7])
    sub = result.take(rows)
    assert sub.n_sessions == 3
    np.testing.assert_array_equal(sub.tokens, result.tokens[rows])
    np.testing.assert_array_equal(sub.texts, result.texts[rows])


def test_agent_copies_are_devices(toy_catalog, tmp_path):
    torch = pytest.importorskip("torch")
    from textrec.agent import Recommender, RecommenderConfig
    from textrec.language.encoder import EncoderConfig, PretrainedTextEncoder
    from textrec.logs.collect import collect
    from textrec.logs.info import summarize

    bank = build_sentence_bank(toy_catalog.schema, seed=0)
    torch.manual_seed(0)
    text = PretrainedTextEncoder(EncoderConfig(), toy_catalog.schema, bank.vocab)
    agent = Recommender(toy_catalog, text, RecommenderConfig())
    checkpoint = agent.save(tmp_path / "agent-stage-0")
    devices = default_devices([checkpoint])
    assert devices[-1].base == "agent"
    result = collect(
        toy_catalog, tmp_path / "log", 28, 1, devices, chunk_sessions=14, progress=False, bank=bank
    )
    assert result.n_sessions == 28
    summary = summarize(tmp_path / "log")
    assert [d.name for d in summary.devices][-1] == devices[-1].name
    assert summary.devices[-1].n_sessions == 4


def test_temperature_sharpens_the_base_distribution(toy_catalog, sim):
    """``temperature`` T divides the base log-probabilities: π_k ∝ max(p_k, FLOOR)^(1/T), so a
    small T draws the slot-filler's likeliest value with near certainty; T = 1 is the base as it
    is, and leaves the device's JSON (a log's manifest) as it was before the field existed."""
    results = _played(sim, 3)
    t = 0.25
    sharp = DevicePolicy(DeviceConfig("sharp", temperature=t), toy_catalog)
    sharp.reset(64, np.random.default_rng(0))
    base = SlotFillerPolicy(toy_catalog)
    base.reset(64, np.random.default_rng(0))
    for r in results:
        for p, q in zip(sharp.act(r).head_probs, base.act(r).head_probs, strict=True):
            expected = np.maximum(q, FLOOR) ** (1 / t)
            np.testing.assert_allclose(p, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5)
    greedy = DevicePolicy(DeviceConfig("greedy", temperature=0.01), toy_catalog)
    greedy.reset(64, np.random.default_rng(0))
    plain = DevicePolicy(DeviceConfig("plain"), toy_catalog)
    plain.reset(64, np.random.default_rng(0))
    for p, q in zip(
        greedy.act(results[0]).head_probs, plain.act(results[0]).head_probs, strict=True
    ):
        assert (p.argmax(axis=1) == q.argmax(axis=1)).all()
        assert (p.max(axis=1) > 0.95).all() and (q.max(axis=1) < 0.9).any()
    assert "temperature" not in DeviceConfig("d").to_json()
    assert DeviceConfig.from_json(DeviceConfig("d", temperature=t).to_json()).temperature == t
