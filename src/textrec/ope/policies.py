"""The policies off-policy evaluation values, and their probabilities on the logged dialogue.

OPE needs ``π_k(a_k | h_t)`` for every logged turn ``t`` and head ``k``: the probability the target
policy gives the logged action's value after the logged dialogue ``h_t`` so far. Every policy of
textrec gives it through the one policy protocol (:class:`~textrec.simulator.policy.Policy`): its
``act`` returns an :class:`~textrec.catalog.retrieval.Action` whose ``head_probs`` are the per-head
distributions and whose :meth:`~textrec.catalog.retrieval.Action.log_prob` scores the logged
action. No policy class knows about OPE.

A :class:`TargetSpec` names a *stochastic head policy* built on a **base** policy (any ``Policy``:
the reader slot-filler :class:`~textrec.simulator.baselines.ReaderSlotFillerPolicy`, which reads
the user's sentences as a deployed recommender must, or a saved agent, a
:class:`~textrec.agent.recommender.RecommenderPolicy`) that gives per-head distributions
``p_k(· | h)``::

    q_k(v) ∝ max(p_k(v), FLOOR) ** (1 / temperature)
    π_k(v) = (1 − epsilon) · q_k(v) + epsilon / V_k

and it *acts* (:class:`TargetPolicy`, itself a ``Policy``) by drawing one value per head from
``π_k`` (retrieval then shows the unseen item with those values, as the behaviour devices do).
``epsilon = 1`` is the uniformly random policy; a saved agent at ``temperature = 1`` and
``epsilon = 0`` is the agent acting with ``sample=True``. The truth it is scored against is this
same ``TargetPolicy`` run in the simulator, so estimate and truth are of one object.

:func:`replay` runs any ``Policy`` over the logged sessions turn by turn, batched over all
sessions: at row ``j`` it hands the policy a :class:`~textrec.simulator.engine.StepResult` holding
row ``j − 1``'s shown item, reward and sentence — its text, and the token ids of the log's sentence
bank (what a saved agent encodes) — with ``turn = 0`` at a session's first row, so the policy sees
exactly the dialogue a device saw. The log carries no structured feedback: those fields are
``-1``, so a policy that needs them (the structured slot-filler) is refused as a target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textrec.catalog import Catalog
from textrec.catalog.retrieval import Action
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.logs.policies import FLOOR
from textrec.logs.reader import EpisodeBatch
from textrec.simulator.baselines import ReaderSlotFillerPolicy
from textrec.simulator.engine import StepResult
from textrec.simulator.policy import Policy

__all__ = [
    "READER",
    "TargetSpec",
    "TargetPolicy",
    "Replay",
    "replay",
    "decision_mask",
    "default_targets",
    "parse_target",
]

READER = "reader"
"""Base policy name of the reader slot-filler (every other base is a saved agent's directory)."""


@dataclass(frozen=True)
class TargetSpec:
    """A target policy: a base policy, sharpened or flattened per head."""

    name: str
    """Row name in reports, e.g. ``"sf-eps-0.3"`` or an agent's directory."""
    epsilon: float = 0.0
    """Weight of the uniform distribution mixed into each head, in [0, 1] (1: random policy)."""
    temperature: float = 1.0
    """Temperature of the base distribution (> 0; < 1 sharpens towards its argmax)."""
    base: str = READER
    """``"reader"`` (the reader slot-filler) or the directory of a saved agent (``textrec train
    --out`` or its ``final/``), loaded as :func:`textrec.evaluation.load_policy` does."""

    def __post_init__(self) -> None:
        if not self.name:
            raise InputError("TargetSpec.name must be a non-empty string")
        if not 0.0 <= self.epsilon <= 1.0:
            raise InputError(f"TargetSpec {self.name!r}: epsilon must be in [0, 1]")
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise InputError(f"TargetSpec {self.name!r}: temperature must be finite and > 0")
        if self.base != READER and not Path(self.base).is_dir():
            raise InputError(
                f"TargetSpec {self.name!r}: base must be {READER!r} or a saved agent's directory, "
                f"got {self.base!r}"
            )

    def heads(self, base: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """``π_k`` from the base distributions ``p_k`` (``K`` arrays ``(B, V_k)``, each row
        normalised first), float64."""
        out = []
        for p in base:
            p = np.asarray(p, dtype=np.float64)
            p = p / p.sum(axis=1, keepdims=True)
            logits = np.log(np.maximum(p, FLOOR)) / self.temperature
            logits -= logits.max(axis=1, keepdims=True)
            q = np.exp(logits)
            q /= q.sum(axis=1, keepdims=True)
            out.append((1.0 - self.epsilon) * q + self.epsilon / q.shape[1])
        return tuple(out)

    def base_policy(self, catalog: Catalog) -> Policy:
        """The base ``Policy`` this target draws from."""
        if self.base == READER:
            return ReaderSlotFillerPolicy(catalog)
        from textrec.evaluation import load_policy

        return load_policy(self.base, catalog)


def default_targets() -> tuple[TargetSpec, ...]:
    """Twelve target policies from sharp to random: temperature and epsilon ladders."""
    specs = [TargetSpec("sf-temp-0.5", temperature=0.5), TargetSpec("sf")]
    specs += [TargetSpec(f"sf-temp-{t:g}", temperature=t) for t in (2.0, 4.0)]
    specs += [TargetSpec(f"sf-eps-{e:g}", epsilon=e) for e in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)]
    return (*specs, TargetSpec("random", epsilon=1.0))


def parse_target(name: str) -> TargetSpec:
    """The target named ``name``.

    ``"sf"`` (or ``"reader"``), ``"random"``, ``"sf-eps-E"``, ``"sf-temp-T"``: the reader
    slot-filler and its variants; a directory: a saved agent drawing from its heads, optionally
    followed by ``@eps-E`` or ``@temp-T`` (``runs/cql@eps-0.2``).

    Raises:
        InputError: naming ``name`` when it is none of these.
    """
    if name in ("sf", READER):
        return TargetSpec(name)
    if name == "random":
        return TargetSpec(name, epsilon=1.0)
    if name == "slot-filler":
        raise InputError(
            "target policy 'slot-filler' reads the simulator's structured feedback, which a log "
            "does not hold; give 'sf' (the slot-filler reading the user's text) instead"
        )
    base, at, variant = name.partition("@")
    if Path(base).is_dir():
        return _variant(name, base, variant) if at else TargetSpec(name, base=base)
    if not at and name.startswith("sf-"):
        return _variant(name, READER, name[len("sf-") :])
    raise _unknown(name)


def _variant(name: str, base: str, text: str) -> TargetSpec:
    """``base`` with the variant ``text`` (``eps-E`` or ``temp-T``), named ``name``."""
    for prefix, field in (("eps-", "epsilon"), ("temp-", "temperature")):
        if text.startswith(prefix):
            try:
                return TargetSpec(name, base=base, **{field: float(text[len(prefix) :])})
            except (ValueError, InputError):
                break
    raise _unknown(name)


def _unknown(name: str) -> InputError:
    return InputError(
        f"unknown target policy {name!r}: give 'sf', 'random', 'sf-eps-E' (E in [0, 1]), "
        "'sf-temp-T' (T > 0), or a saved agent's directory (optionally DIR@eps-E or DIR@temp-T)"
    )


class TargetPolicy:
    """A :class:`TargetSpec` acting in the simulator (a simulator ``Policy``).

    ``base`` (optional) is the base policy object itself, e.g. a learner's current policy during
    training; by default the one ``spec.base`` names is loaded.
    """

    def __init__(self, spec: TargetSpec, catalog: Catalog, base: Policy | None = None) -> None:
        self.spec = spec
        self.base = spec.base_policy(catalog) if base is None else base
        self._rng = np.random.default_rng(0)

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Forget every session; draw from ``rng`` from now on."""
        self.base.reset(n_sessions, rng)
        self._rng = rng

    def act(self, result: StepResult) -> Action:
        """One value per head drawn from ``π_k``; the ``π_k`` are the action's ``head_probs``."""
        heads = self.spec.heads(self.base.act(result).head_probs)  # type: ignore[arg-type]
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
    """``K`` arrays ``(R, V_k) float32``: ``π_k(· | h_t)``, each row normalised."""
    log_prob: np.ndarray
    """``(R, K) float64``: ``log π_k(a_k | h_t)`` of the logged action (``Action.log_prob``)."""


def decision_mask(episodes: EpisodeBatch) -> np.ndarray:
    """``(N, T) bool``: rows where the policy chose an item (real rows with a shown item)."""
    return episodes.mask & (episodes.items >= 0)


def replay(policy: Policy, episodes: EpisodeBatch, bank: SentenceBank) -> Replay:
    """``policy``'s distributions on every logged decision of ``episodes``, batched over sessions.

    The policy is reset for all ``N`` sessions (with a fixed generator) and stepped once per row
    position ``j``; rows past a session's end are computed and dropped. Each distinct logged
    sentence gets one id and the token ids of ``bank``'s vocabulary (the log's sentence bank), as
    the simulator hands them to a policy.
    """
    n, t_max = episodes.mask.shape
    texts, sentence = np.unique(episodes.feedback.astype(str), return_inverse=True)
    sentence = np.where(episodes.feedback == "", -1, sentence.reshape(n, t_max)).astype(np.int64)
    tokens, lengths = bank.vocab.encode_batch(texts.tolist(), bank.tokens.shape[1])
    policy.reset(n, np.random.default_rng(0))
    decide = decision_mask(episodes)
    none = np.full(n, -1, dtype=np.int64)
    per_row: list[tuple[tuple[np.ndarray, ...], np.ndarray]] = []
    for j in range(t_max):
        prev = j - 1
        ids = sentence[:, prev] if j else none
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
            sentence=ids,
            texts=episodes.feedback[:, prev] if j else np.full(n, "", dtype=object),
            tokens=np.where(ids[:, None] >= 0, tokens[np.maximum(ids, 0)], 0).astype(np.int32),
            lengths=np.where(ids >= 0, lengths[np.maximum(ids, 0)], 0).astype(np.int32),
            violations=np.zeros(n, dtype=np.int32),
        )
        action = policy.act(result).take(decide[:, j])
        if action.head_probs is None:
            raise InputError(f"{type(policy).__name__} gives no head_probs; OPE needs them")
        heads = tuple(
            (np.asarray(h, np.float64) / np.asarray(h, np.float64).sum(axis=1, keepdims=True))
            for h in action.head_probs
        )
        log_prob = action.log_prob(episodes.actions[decide[:, j], j])
        per_row.append((tuple(h.astype(np.float32) for h in heads), log_prob))
    # rows were gathered column by column; reorder to row-major (session, row)
    col_major = np.argwhere(decide.T)  # (R, 2): (row j, session i), j-major
    order = np.lexsort((col_major[:, 0], col_major[:, 1]))
    k_heads = len(per_row[0][0])
    heads_all = tuple(np.concatenate([r[0][k] for r in per_row])[order] for k in range(k_heads))
    return Replay(heads=heads_all, log_prob=np.concatenate([r[1] for r in per_row])[order])
