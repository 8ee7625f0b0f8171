"""The policies off-policy evaluation values, and their probabilities on the logged dialogue.

OPE needs ``π_k(a_k | h_t)`` for every logged turn ``t`` and head ``k``: the probability the target
policy gives the logged action's value after the logged dialogue ``h_t`` so far. This module is
the one adapter between the existing policy classes and OPE (until the policies share one
protocol that gives per-head log-probabilities of a given action, which replaces it).

A :class:`TargetPolicy` is a *stochastic head policy* built on a base recommender that gives
per-head distributions ``p_k(· | h)`` (the reader slot-filler,
:class:`~textrec.simulator.baselines.ReaderSlotFillerPolicy`, which reads the user's sentences as
a deployed recommender must: the log holds text, not the simulator's structured feedback)::

    q_k(v) ∝ max(p_k(v), FLOOR) ** (1 / temperature)
    π_k(v) = (1 − epsilon) · q_k(v) + epsilon / V_k

and it *acts* by drawing one value per head from ``π_k`` (retrieval then shows the unseen item
with those values, as the behaviour devices do). ``epsilon = 1`` is the uniformly random policy.
The truth it is scored against is this same stochastic policy run in the simulator.

:func:`replay` runs the base recommender over the logged sessions turn by turn, batched over all
sessions: at row ``j`` it hands the policy a :class:`~textrec.simulator.engine.StepResult` holding
row ``j − 1``'s shown item and sentence (``turn = 0`` at a session's first row), so the policy
sees exactly the dialogue a device saw. The log carries no structured feedback: those fields are
``-1``, and a policy that needs them sees a user who never comments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from textrec.catalog import Catalog
from textrec.catalog.retrieval import Action
from textrec.errors import InputError
from textrec.logs.policies import FLOOR
from textrec.logs.reader import EpisodeBatch
from textrec.simulator.baselines import ReaderSlotFillerPolicy
from textrec.simulator.engine import StepResult

__all__ = [
    "TargetSpec",
    "TargetPolicy",
    "Replay",
    "replay",
    "decision_mask",
    "default_targets",
    "parse_target",
]


@dataclass(frozen=True)
class TargetSpec:
    """A target policy: how far it is sharpened or flattened from the reader slot-filler."""

    name: str
    """Row name in reports, e.g. ``"sf-eps-0.3"``."""
    epsilon: float = 0.0
    """Weight of the uniform distribution mixed into each head, in [0, 1] (1: random policy)."""
    temperature: float = 1.0
    """Temperature of the base distribution (> 0; < 1 sharpens towards its argmax)."""

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("TargetSpec.name must be a non-empty string")
        if not 0.0 <= self.epsilon <= 1.0:
            raise InputError(f"TargetSpec {self.name!r}: epsilon must be in [0, 1]")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise InputError(f"TargetSpec {self.name!r}: temperature must be finite and > 0")

    def heads(self, base: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """``π_k`` from the base distributions ``p_k`` (``K`` arrays ``(B, V_k)``), float64."""
        out = []
        for p in base:
            logits = np.log(np.maximum(np.asarray(p, dtype=np.float64), FLOOR)) / self.temperature
            logits -= logits.max(axis=1, keepdims=True)
            q = np.exp(logits)
            q /= q.sum(axis=1, keepdims=True)
            out.append((1.0 - self.epsilon) * q + self.epsilon / q.shape[1])
        return tuple(out)


def default_targets() -> tuple[TargetSpec, ...]:
    """Twelve target policies from sharp to random: temperature and epsilon ladders."""
    specs = [TargetSpec("sf-temp-0.5", temperature=0.5), TargetSpec("sf")]
    specs += [TargetSpec(f"sf-temp-{t:g}", temperature=t) for t in (2.0, 4.0)]
    specs += [TargetSpec(f"sf-eps-{e:g}", epsilon=e) for e in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)]
    return (*specs, TargetSpec("random", epsilon=1.0))


def parse_target(name: str) -> TargetSpec:
    """The target named ``"sf"``, ``"random"``, ``"sf-eps-E"`` or ``"sf-temp-T"``.

    Raises:
        InputError: naming ``name`` when it is none of these.
    """
    if name == "sf":
        return TargetSpec(name)
    if name == "random":
        return TargetSpec(name, epsilon=1.0)
    for prefix, field in (("sf-eps-", "epsilon"), ("sf-temp-", "temperature")):
        if name.startswith(prefix):
            try:
                return TargetSpec(name, **{field: float(name[len(prefix) :])})
            except ValueError:
                break
    raise InputError(
        f"unknown target policy {name!r}: give 'sf', 'random', 'sf-eps-E' (E in [0, 1]) "
        "or 'sf-temp-T' (T > 0)"
    )


class TargetPolicy:
    """A :class:`TargetSpec` acting in the simulator (a simulator ``Policy``)."""

    def __init__(self, spec: TargetSpec, catalog: Catalog) -> None:
        self.spec = spec
        self.base = ReaderSlotFillerPolicy(catalog)
        self._rng = np.random.default_rng(0)

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Forget every session; draw from ``rng`` from now on."""
        self.base.reset(n_sessions, rng)
        self._rng = rng

    def head_probs(self, result: StepResult) -> tuple[np.ndarray, ...]:
        """``π_k(· | h)`` after taking in ``result`` (``K`` arrays ``(B, V_k)`` float64)."""
        return self.spec.heads(self.base.act(result).head_probs)  # type: ignore[arg-type]

    def act(self, result: StepResult) -> Action:
        """One value per head drawn from ``π_k`` (the action's ``head_probs``)."""
        heads = self.head_probs(result)
        u = self._rng.random((result.n_sessions, len(heads)))
        values = [
            np.minimum((np.cumsum(p, axis=1) < u[:, [k]]).sum(axis=1), p.shape[1] - 1)
            for k, p in enumerate(heads)
        ]
        return Action(values=np.stack(values, axis=1).astype(np.int64), head_probs=heads)


@dataclass(frozen=True, eq=False)
class Replay:
    """A policy's distributions at every logged decision (``R`` decision rows, ``K`` heads).

    Decision rows are the episodes' real rows with a shown item, in row-major ``(session, row)``
    order (``EpisodeBatch.mask & items >= 0``).
    """

    heads: tuple[np.ndarray, ...]
    """``K`` arrays ``(R, V_k) float32``: ``π_k(· | h_t)``."""
    log_prob: np.ndarray
    """``(R, K) float64``: ``log π_k(a_k | h_t)`` of the logged action."""


def decision_mask(episodes: EpisodeBatch) -> np.ndarray:
    """``(N, T) bool``: rows where the policy chose an item (real rows with a shown item)."""
    return episodes.mask & (episodes.items >= 0)


def replay(policy: TargetPolicy, episodes: EpisodeBatch) -> Replay:
    """``policy``'s distributions on every logged decision of ``episodes``, batched over sessions.

    The policy is reset for all ``N`` sessions (with a fixed generator: the distributions are
    deterministic) and stepped once per row position ``j``; rows past a session's end are
    computed and dropped.
    """
    n, t_max = episodes.mask.shape
    _, sentence = np.unique(episodes.feedback.astype(str), return_inverse=True)
    sentence = sentence.reshape(n, t_max)
    sentence = np.where(episodes.feedback == "", -1, sentence).astype(np.int64)
    policy.reset(n, np.random.default_rng(0))
    decide = decision_mask(episodes)
    none = np.full(n, -1, dtype=np.int64)
    per_row: list[tuple[np.ndarray, ...]] = []
    for j in range(t_max):
        prev = j - 1
        texts_j = episodes.feedback[:, prev] if j else np.full(n, "", dtype=object)
        result = StepResult(
            turn=np.full(n, j, dtype=np.int32),
            items=episodes.items[:, prev] if j else none,
            reward=episodes.reward[:, prev] if j else np.zeros(n, np.float32),
            terminated=np.zeros(n, dtype=bool),
            truncated=np.zeros(n, dtype=bool),
            active=episodes.mask[:, j],
            feedback_attribute=none,
            feedback_value=none,
            feedback_mode=none,
            sentence=sentence[:, prev] if j else none,
            texts=texts_j,
            tokens=np.zeros((n, 1), dtype=np.int32),
            lengths=np.zeros(n, dtype=np.int32),
            violations=np.zeros(n, dtype=np.int32),
        )
        heads = policy.head_probs(result)
        per_row.append(tuple(h[decide[:, j]].astype(np.float32) for h in heads))
    # rows were gathered column by column; reorder to row-major (session, row)
    col_major = np.argwhere(decide.T)  # (R, 2): (row j, session i), j-major
    order = np.lexsort((col_major[:, 0], col_major[:, 1]))
    heads = tuple(np.concatenate([r[k] for r in per_row])[order] for k in range(len(per_row[0])))
    actions = episodes.actions[decide]  # (R, K), row-major
    rows = np.arange(len(actions))
    log_prob = np.stack(
        [np.log(h[rows, actions[:, k]].astype(np.float64)) for k, h in enumerate(heads)], axis=1
    )
    return Replay(heads=heads, log_prob=log_prob)
