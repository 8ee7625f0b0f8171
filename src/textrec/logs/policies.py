"""Behaviour policies: the personalised "device" recommenders whose sessions fill the log.

The paper's log is collected by ``M`` personalised, unknown on-device policies ("Setup"), and in
iterative training by deployed copies of the recommender "injected with Gaussian noise when
choosing actions" ("Model Deployment"). Each device here is a frozen :class:`DeviceConfig` turned
into a :class:`DevicePolicy` that follows the simulator's batch
:class:`~textrec.simulator.policy.Policy` protocol.

A device works in three steps per turn, all batched over its sessions:

1. **Base distribution** ``p_k(· | s)`` per attribute head, from its ``base``:

   * ``"slot-filler"`` — the slot filler of :class:`~textrec.simulator.baselines.SlotFillerPolicy`
     (one-hot on the values the user asked for, ``p(v_k | slots)`` from the train pool elsewhere)
     over the slots it *remembers*: with ``memory = m > 0`` a request older than ``m`` turns is
     forgotten (``memory = 1`` trusts only the latest request);
   * ``"marginal"`` — the same remembered slots, but unknown attributes follow the train pool's
     marginal value frequencies instead of the values consistent with the slots (a weaker guess);
   * ``"agent"`` — a saved :class:`textrec.agent.Recommender` (a copy of the on-policy agent at some
     training stage), loaded from ``checkpoint``.

2. **Personalisation** (the device's own randomness, from its own ``Generator``):
   ``logits_k = log max(p_k, FLOOR) / temperature + noise · ξ``, ``ξ ~ N(0, 1)`` per value, then
   ``π_k = (1 − epsilon) · softmax(logits_k) + epsilon / V_k``. A small ``temperature`` sharpens
   the base towards its argmax (``temperature → 0``: a deterministic device).

3. **Action**: one value per head drawn from ``π_k``; retrieval shows the unseen pool item with
   those values (:meth:`~textrec.catalog.retrieval.Retriever.by_values`).

The oracle sidecar records ``log π_k(a_k | s)`` for the action vector ``a`` *of the shown item*
(:func:`textrec.logs.reader.shown_actions`: its label, AttrNet's argmax where unlabeled), which is
the action learners train on. It is the probability of the sampled values whenever an unseen pool
item has them (the oracle's ``matched`` flag); otherwise it scores the shown item's vector, which
the device did not draw. ``π`` is conditional on the turn's noise draw ``ξ``; since ``ξ`` is
independent of everything else, importance weights built from it stay unbiased on matched rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textrec.catalog import Catalog
from textrec.catalog.retrieval import Action
from textrec.errors import InputError
from textrec.simulator.baselines import SlotFillerPolicy, fill_slots
from textrec.simulator.engine import StepResult
from textrec.simulator.policy import Policy

__all__ = [
    "BASES",
    "FLOOR",
    "DeviceConfig",
    "DevicePolicy",
    "DeviceMix",
    "default_devices",
    "device_rng",
    "load_agent",
]

BASES = ("slot-filler", "marginal", "agent")
"""Base recommenders a device can be built on."""

FLOOR = 1e-4
"""Smallest base probability before the log: a one-hot slot still leaves other values a chance
under noise or ``epsilon``, and no log-probability is ``-inf``."""


@dataclass(frozen=True)
class DeviceConfig:
    """One personalised device: its base recommender and how it deviates from it."""

    name: str
    """Device (behaviour policy) name, recorded in the oracle sidecar, e.g. ``"slot-noise-0.3"``."""
    base: str = "slot-filler"
    """Base recommender: 'slot-filler', 'marginal' or 'agent' (see the module docstring)."""
    noise: float = 0.0
    """Standard deviation of the Gaussian noise added to each head's logits every turn (>= 0)."""
    memory: int = 0
    """Turns a request is remembered by the slot bases; 0 = the whole session (>= 0)."""
    epsilon: float = 0.0
    """Weight of the uniform distribution mixed into each head (in [0, 1])."""
    checkpoint: str = ""
    """Saved agent directory (base 'agent' only)."""
    seed_offset: int = 0
    """Added to the device's RNG key, to give two devices of equal config different draws."""
    temperature: float = 1.0
    """Divides the base log-probabilities before the noise (> 0; 1 = the base as it is, near 0 =
    its argmax with certainty)."""

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("DeviceConfig.name must be a non-empty string")
        if self.base not in BASES:
            raise InputError(f"DeviceConfig.base must be one of {BASES}, got {self.base!r}")
        if not (np.isfinite(self.noise) and self.noise >= 0):
            raise InputError(f"DeviceConfig.noise must be finite and >= 0, got {self.noise}")
        if self.memory < 0:
            raise InputError(f"DeviceConfig.memory must be >= 0, got {self.memory}")
        if not 0.0 <= self.epsilon <= 1.0:
            raise InputError(f"DeviceConfig.epsilon must be in [0, 1], got {self.epsilon}")
        if (self.base == "agent") != bool(self.checkpoint):
            raise InputError(
                f"DeviceConfig.checkpoint must be set exactly for base 'agent' "
                f"(base {self.base!r}, checkpoint {self.checkpoint!r})"
            )
        if self.seed_offset < 0:
            raise InputError(f"DeviceConfig.seed_offset must be >= 0, got {self.seed_offset}")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise InputError(
                f"DeviceConfig.temperature must be finite and > 0, got {self.temperature}"
            )

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (round-trips through :meth:`from_json`); ``temperature`` only where it
        is not 1, so a log collected before the field existed keeps its manifest (and resumes)."""
        out = asdict(self)
        if self.temperature == 1.0:
            del out["temperature"]
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any], source: str = "device") -> DeviceConfig:
        """Parse :meth:`to_json` output; errors name ``source``."""
        try:
            return cls(**obj)
        except TypeError as exc:
            raise InputError(f"{source}: malformed device config {obj!r}: {exc}") from exc


def default_devices(checkpoints: Sequence[str | Path] = ()) -> tuple[DeviceConfig, ...]:
    """The standard family: six heuristic devices, then one noisy agent copy per checkpoint.

    Heuristic devices: the slot filler with little and with much logit noise, one that forgets
    requests older than two turns, one that trusts only the latest request, an epsilon-random mix,
    and the weaker marginal-completion heuristic. Agent copies get noise 0.5, 1.0, 1.5, ... in
    checkpoint order (earlier training stages first, as the caller passes them).
    """
    devices = [
        DeviceConfig("slot-noise-0.3", "slot-filler", noise=0.3),
        DeviceConfig("slot-noise-1.5", "slot-filler", noise=1.5),
        DeviceConfig("forget-2", "slot-filler", noise=0.3, memory=2),
        DeviceConfig("latest-only", "slot-filler", noise=0.3, memory=1),
        DeviceConfig("eps-0.3", "slot-filler", noise=0.3, epsilon=0.3),
        DeviceConfig("marginal", "marginal", noise=0.3),
    ]
    for i, path in enumerate(checkpoints):
        noise = 0.5 * (i + 1)
        devices.append(
            DeviceConfig(f"agent-{i}-noise-{noise:g}", "agent", noise=noise, checkpoint=str(path))
        )
    return tuple(devices)


def device_rng(seed: int, chunk: int, device_id: int, config: DeviceConfig) -> np.random.Generator:
    """The device's generator for a chunk, keyed by ``(seed, chunk, device id, seed_offset)``."""
    return np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(chunk, 1, device_id, config.seed_offset))
    )


class DeviceMix:
    """Behaviour devices serving a batch of sessions together (one
    :class:`~textrec.simulator.policy.Policy`).

    Device ``d`` serves the sessions ``rows[d]`` (:meth:`serve`; :meth:`reset` deals them round
    robin, session ``i`` to device ``i mod M``, as ``collect``'s round-robin assignment does), each
    drawing from its own generator. The action's ``head_probs`` are, row by row, the
    distributions the serving device drew from (the log's behaviour probabilities).
    """

    def __init__(self, devices: Sequence[DeviceConfig], catalog: Catalog) -> None:
        if not devices:
            raise InputError("DeviceMix needs at least one device")
        self.policies = [DevicePolicy(d, catalog) for d in devices]
        self.sizes = np.asarray(catalog.schema.sizes)
        self.rows: list[np.ndarray] = []

    def serve(self, rows: Sequence[np.ndarray], rngs: Sequence[np.random.Generator]) -> None:
        """Give the sessions ``rows[d]`` to device ``d``, drawing from ``rngs[d]``."""
        self.rows = list(rows)
        for policy, mine, rng in zip(self.policies, self.rows, rngs, strict=True):
            if len(mine):
                policy.reset(len(mine), rng)

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Give session ``i`` to device ``i mod M``, each drawing from its own child of ``rng``."""
        m = len(self.policies)
        self.serve([np.arange(d, n_sessions, m) for d in range(m)], rng.spawn(m))

    def act(self, result: StepResult) -> Action:
        """Each device's values ``(B, K)`` and distributions for its own sessions."""
        b = result.n_sessions
        values = np.full((b, len(self.sizes)), -1, dtype=np.int64)
        heads = tuple(np.zeros((b, int(v))) for v in self.sizes)
        for policy, rows in zip(self.policies, self.rows, strict=True):
            if len(rows):
                action = policy.act(result.take(rows))
                values[rows] = action.values
                for head, p in zip(heads, action.head_probs, strict=True):  # type: ignore[arg-type]
                    head[rows] = p
        return Action(values=values, head_probs=heads)


class _SlotMemory:
    """Per-session slots (latest requested local value per attribute) and when each was asked."""

    def __init__(self, catalog: Catalog, memory: int) -> None:
        self.offsets = catalog.schema.offsets
        self.memory = memory
        self.slots = np.full((0, catalog.schema.n_attributes), -1, dtype=np.int64)
        self.asked_at = np.zeros((0, catalog.schema.n_attributes), dtype=np.int64)

    def reset(self, n_sessions: int) -> None:
        self.slots = np.full((n_sessions, self.slots.shape[1]), -1, dtype=np.int64)
        self.asked_at = np.zeros_like(self.slots)

    def update(self, result: StepResult) -> np.ndarray:
        """Take in the previous turn's feedback; return the remembered slots ``(B, K)``."""
        if len(self.slots) != result.n_sessions:
            raise InputError(
                f"device was reset for {len(self.slots)} sessions, "
                f"got a step of {result.n_sessions}"
            )
        rows = fill_slots(self.slots, result, self.offsets)
        self.asked_at[rows, result.feedback_attribute[rows]] = result.turn[rows]
        if self.memory == 0:
            return self.slots
        age = result.turn[:, None] - self.asked_at
        return np.where(age < self.memory, self.slots, -1)


class DevicePolicy:
    """A device's behaviour policy over a batch of its sessions (the simulator's ``Policy``).

    Args:
        config: the device.
        catalog: the catalog (the train pool gives the slot bases their statistics).
        agent: the loaded agent for base ``"agent"`` (any ``Policy`` whose actions carry
            ``head_probs``); built from ``config.checkpoint`` by :func:`load_agent` when omitted.
    """

    def __init__(self, config: DeviceConfig, catalog: Catalog, agent: Policy | None = None) -> None:
        self.config = config
        self.schema = catalog.schema
        self.sizes = np.asarray(catalog.schema.sizes)
        self._rng = np.random.default_rng(0)
        self._agent: Policy | None = None
        self._memory: _SlotMemory | None = None
        if config.base == "agent":
            self._agent = agent if agent is not None else load_agent(config.checkpoint, catalog)
        else:
            self._memory = _SlotMemory(catalog, config.memory)
            train = catalog.pool("train")
            marginal = catalog.label_sets[train].sum(axis=0).astype(np.float64) + 1e-6
            self._marginal = [marginal[lo:hi] / marginal[lo:hi].sum() for lo, hi in self._bounds()]
            self._heads = (  # the slot-filler keeps each slot pattern's heads (its memo)
                SlotFillerPolicy(catalog).head_probs
                if config.base == "slot-filler"
                else self._marginal_heads
            )

    def _bounds(self) -> list[tuple[int, int]]:
        off = self.schema.offsets
        return [(int(off[k]), int(off[k + 1])) for k in range(self.schema.n_attributes)]

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Forget every session; ``rng`` is the device's own generator from now on."""
        self._rng = rng
        if self._agent is not None:
            self._agent.reset(n_sessions, rng)
        else:
            self._memory.reset(n_sessions)  # type: ignore[union-attr]

    def act(self, result: StepResult) -> Action:
        """Sampled values ``(B, K)`` for every session and the distributions they were drawn from.

        Returns:
            ``Action(values=(B, K), head_probs=...)``: ``K`` arrays ``(B, V_k) float64``,
            ``π_k(· | s)`` of each head after noise and mixing (rows sum to 1).
        """
        base = self._base_probs(result)
        cfg, rng = self.config, self._rng
        heads = []
        for k, p in enumerate(base):
            logits = np.log(np.maximum(np.asarray(p, dtype=np.float64), FLOOR)) / cfg.temperature
            if cfg.noise > 0:
                logits = logits + cfg.noise * rng.standard_normal(logits.shape)
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            if cfg.epsilon > 0:
                probs = (1.0 - cfg.epsilon) * probs + cfg.epsilon / self.sizes[k]
            heads.append(probs)
        u = rng.random((result.n_sessions, len(heads)))
        values = np.stack(
            [
                np.minimum((np.cumsum(p, axis=1) < u[:, [k]]).sum(axis=1), p.shape[1] - 1)
                for k, p in enumerate(heads)
            ],
            axis=1,
        )
        return Action(values=values.astype(np.int64), head_probs=tuple(heads))

    def _base_probs(self, result: StepResult) -> tuple[np.ndarray, ...]:
        if self._agent is not None:
            action = self._agent.act(result)
            if action.head_probs is None:
                raise InputError(
                    f"device {self.config.name!r}: the agent from {self.config.checkpoint} chose "
                    "values; a behaviour device needs its per-head probabilities (head_probs)"
                )
            return tuple(np.asarray(p, dtype=np.float64) for p in action.head_probs)
        return self._heads(self._memory.update(result))  # type: ignore[union-attr]

    def _marginal_heads(self, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """One-hot on known slots, the train pool's marginal value frequencies elsewhere."""
        heads = []
        for k, size in enumerate(self.sizes):
            known = slots[:, k] >= 0
            block = np.broadcast_to(self._marginal[k], (len(slots), size)).copy()
            block[known] = 0.0
            block[np.flatnonzero(known), slots[known, k]] = 1.0
            heads.append(block)
        return tuple(heads)


def load_agent(checkpoint: str | Path, catalog: Catalog) -> Policy:
    """Load a saved :class:`textrec.agent.Recommender` as a batch policy giving head distributions.

    The recommender acts greedily through its head distributions (``greedy="probs"``): a device
    needs ``π_k`` to inject noise into ``log π_k`` (the policy's logits up to a per-head constant,
    which the softmax ignores).

    Raises:
        ValueError: naming the checkpoint when it cannot be loaded or was made for another catalog.
    """
    from textrec.agent import Recommender  # torch is only needed for agent devices

    return Recommender.load(checkpoint, catalog).policy(sample=False, greedy="probs")
