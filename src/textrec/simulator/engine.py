"""The batched session engine: thousands of simulated users at once, all with array operations.

:class:`BatchedSimulator` plays the task of :mod:`textrec.simulator.task` for ``B`` sessions in
parallel. The recommender side (which item to show) is not here: a policy chooses in attribute
space and :class:`~textrec.catalog.retrieval.Retriever` picks the item; the engine judges it,
computes the reward, chooses the user's comment and keeps the books::

    sim = BatchedSimulator(catalog, "test", bank)
    result = sim.reset(1024, np.random.default_rng(0))       # turn 0: no feedback yet
    while result.active.any():
        items = ...                                          # (B,) catalog indices, -1 for finished
        result = sim.step(items)
    outcomes = sim.outcomes()                                # success turn, NI, NV, return

What a policy may see is the :class:`StepResult` (the shown item, the user's feedback as
structure, text and token ids, the reward) and :attr:`BatchedSimulator.shown`. The targets and the
desired values are oracle facts, exposed only for the logs' oracle sidecar and for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from textrec.catalog.catalog import Catalog, Pool
from textrec.catalog.retrieval import resolve_pool
from textrec.columnar import Columnar
from textrec.errors import InputError
from textrec.language.bank import SentenceBank
from textrec.simulator.reward import (
    add_failure_penalty,
    attribute_distance,
    feature_distance,
    turn_reward,
)
from textrec.simulator.task import TaskConfig, target_candidates
from textrec.simulator.user import choose_attribute, choose_mode, has_values

__all__ = ["StepResult", "SessionOutcomes", "BatchedSimulator"]


@dataclass(frozen=True, eq=False)
class StepResult(Columnar):
    """What one turn produced for ``B`` sessions; after :meth:`BatchedSimulator.reset` it is turn 0.

    Sessions that did not take this step (finished earlier) hold ``-1`` / ``0`` / ``""``.
    Shapes (``L`` = the sentence bank's token length):

    * ``turn`` ``(B,) int32``; ``items`` ``(B,) int64``; ``reward`` ``(B,) float32``
    * ``terminated``, ``truncated``, ``active`` ``(B,) bool``
    * ``feedback_attribute``, ``feedback_value``, ``feedback_mode``, ``sentence`` ``(B,) int64``
    * ``texts`` ``(B,) object`` (str); ``tokens`` ``(B, L) int32``; ``lengths`` ``(B,) int32``
    * ``violations`` ``(B,) int32``
    """

    turn: np.ndarray
    """Turns each session has taken so far (this step included)."""
    items: np.ndarray
    """Catalog index of the item shown at this step; -1 where the session did not take it."""
    reward: np.ndarray
    """Reward of this step (failure penalty included at the last failed turn); 0 where not taken."""
    terminated: np.ndarray
    """The shown item had every desired value: the session succeeded at this step."""
    truncated: np.ndarray
    """The session failed its last allowed turn at this step."""
    active: np.ndarray
    """The session is still running after this step and needs an item at the next call."""
    feedback_attribute: np.ndarray
    """Attribute the user commented on; -1 on success or when the step was not taken."""
    feedback_value: np.ndarray
    """Global index of the value the user asked for; -1 when there is no comment."""
    feedback_mode: np.ndarray
    """``REQUEST`` / ``REPEAT`` / ``NEGATE`` (:mod:`textrec.language.bank`); -1 if no comment."""
    sentence: np.ndarray
    """Sentence id in the bank; -1 when there is no comment."""
    texts: np.ndarray
    """The user's sentence; ``""`` when there is no comment."""
    tokens: np.ndarray
    """Token ids of the sentence, right-padded with ``<pad>``."""
    lengths: np.ndarray
    """Number of tokens of each sentence."""
    violations: np.ndarray
    """Desired values asked for at an earlier turn that the shown item lacks (summed into NV)."""

    @property
    def n_sessions(self) -> int:
        """Batch size ``B``."""
        return len(self.items)

    @property
    def stepped(self) -> np.ndarray:
        """``(B,) bool`` sessions that took this step."""
        return self.items >= 0


@dataclass(frozen=True, eq=False)
class SessionOutcomes:
    """Per-session bookkeeping (``(B,)`` arrays); final once ``finished`` is all True."""

    targets: np.ndarray
    """Catalog index of each target item (oracle)."""
    finished: np.ndarray
    """The session has ended (success or truncation)."""
    success: np.ndarray
    """The session succeeded."""
    success_turn: np.ndarray
    """Turn of success (1-based); 0 when the session has not succeeded."""
    turns: np.ndarray
    """Turns taken."""
    ni: np.ndarray
    """Number of interactions: the success turn, or ``max_turns`` for a failure."""
    nv: np.ndarray
    """Number of violations: sum over turns of :attr:`StepResult.violations`."""
    returns: np.ndarray
    """Sum of rewards (float64)."""


class BatchedSimulator:
    """Simulated users for a batch of sessions over one item pool.

    Args:
        catalog: the items; true labels judge success.
        pool: the items that may be shown and that targets are drawn from (name or catalog indices).
        bank: the sentences the users say; its value axis must be the catalog schema's.
        config: the task rules and user habits.
    """

    def __init__(
        self,
        catalog: Catalog,
        pool: Pool | Sequence[int] | np.ndarray,
        bank: SentenceBank,
        config: TaskConfig | None = None,
    ) -> None:
        self.catalog = catalog
        self.pool = resolve_pool(catalog, pool)
        self.bank = bank
        self.config = config or TaskConfig()
        schema = catalog.schema
        if bank.index.shape[0] != schema.n_values:
            raise InputError(
                f"sentence bank covers {bank.index.shape[0]} values, catalog {catalog.name!r} "
                f"has {schema.n_values}: build the bank from this catalog's schema"
            )
        if bank.source != self.config.utterances:
            raise InputError(
                f"sentence bank source {bank.source!r} differs from TaskConfig.utterances "
                f"{self.config.utterances!r}"
            )
        self._candidates = target_candidates(catalog, self.pool)
        self._pos = np.full(catalog.n_items, -1, dtype=np.int64)
        self._pos[self.pool] = np.arange(len(self.pool))
        self._label_sets_ext = np.hstack(
            [catalog.label_sets, np.ones((catalog.n_items, 1), dtype=bool)]
        )
        self._unit = catalog.unit_features
        # One extra "no sentence" entry at the end, so sentence id -1 gathers "" / padding / 0.
        self._texts = np.append(np.asarray(bank.texts, dtype=object), "")
        self._tokens = np.vstack(
            [bank.tokens, np.zeros((1, bank.tokens.shape[1]), dtype=bank.tokens.dtype)]
        )
        self._lengths = np.append(bank.lengths, 0).astype(np.int32)
        self._n = 0
        self._rng: np.random.Generator | None = None

    # ------------------------------------------------------------------ views
    @property
    def n_sessions(self) -> int:
        """Number of sessions of the current batch (0 before :meth:`reset`)."""
        return self._n

    @property
    def n_pool(self) -> int:
        """Pool size ``P``."""
        return len(self.pool)

    @property
    def shown(self) -> np.ndarray:
        """``(B, P) bool`` read-only: pool positions already shown in each session."""
        self._require_reset()
        view = self._shown.view()
        view.flags.writeable = False
        return view

    @property
    def active(self) -> np.ndarray:
        """``(B,) bool`` sessions still running."""
        self._require_reset()
        return self._active.copy()

    @property
    def targets(self) -> np.ndarray:
        """``(B,)`` catalog index of each session's target. Oracle only: logs' sidecar and tests."""
        self._require_reset()
        return self._targets.copy()

    @property
    def desired(self) -> np.ndarray:
        """``(B, K)`` desired local values, -1 = not desired. Oracle only: sidecar and tests."""
        self._require_reset()
        return self._desired.copy()

    # ------------------------------------------------------------------ episode control
    def reset(
        self, n_sessions: int, rng: np.random.Generator, targets: np.ndarray | None = None
    ) -> StepResult:
        """Start ``n_sessions`` new sessions; targets drawn uniformly from the pool's labeled items.

        Args:
            n_sessions: batch size ``B`` (>= 1).
            rng: source of every random choice of these sessions (targets, comments, sentences).
            targets: optional ``(B,)`` catalog indices of the targets (pool items with a label).

        Returns:
            The turn-0 :class:`StepResult`: every session active, no item shown, no feedback.
        """
        if not isinstance(rng, np.random.Generator):
            raise InputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        if int(n_sessions) < 1:
            raise InputError(f"n_sessions must be >= 1, got {n_sessions}")
        n = int(n_sessions)
        if targets is not None:  # validate before touching the state
            targets = self._check_targets(targets, n)
        k = self.catalog.schema.n_attributes
        self._n, self._rng = n, rng
        self._targets = np.zeros(n, dtype=np.int64)
        self._target_unit = np.zeros((n, self._unit.shape[1]), dtype=self._unit.dtype)
        self._desired = np.full((n, k), -1, dtype=np.int64)
        self._desired_ext = np.zeros((n, k), dtype=np.int64)
        self._requested = np.full((n, k), -1, dtype=np.int64)
        self._shown = np.zeros((n, self.n_pool), dtype=bool)
        self._turn = np.zeros(n, dtype=np.int32)
        self._success_turn = np.zeros(n, dtype=np.int32)
        self._nv = np.zeros(n, dtype=np.int32)
        self._returns = np.zeros(n, dtype=np.float64)
        self._active = np.zeros(n, dtype=bool)
        self.reset_sessions(np.arange(n), targets)
        return self.blank_result()

    def reset_sessions(self, rows: np.ndarray, targets: np.ndarray | None = None) -> None:
        """Restart sessions ``rows`` (indices or ``(B,)`` mask) with new targets; others continue.

        Used by the vector environment's autoreset; draws targets from the generator given to
        :meth:`reset`.
        """
        self._require_reset()
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64)
        if targets is None:
            rng = cast(np.random.Generator, self._rng)
            targets = self._candidates[rng.integers(0, len(self._candidates), size=len(rows))]
        targets = self._check_targets(targets, len(rows))
        desired = self.catalog.labels[targets].astype(np.int64)
        self._targets[rows] = targets
        self._target_unit[rows] = self._unit[targets]
        self._desired[rows] = desired
        self._desired_ext[rows] = np.where(
            desired >= 0, self.catalog.schema.offsets[:-1] + desired, self.catalog.schema.n_values
        )
        self._requested[rows] = -1
        self._shown[rows] = False
        self._turn[rows] = 0
        self._success_turn[rows] = 0
        self._nv[rows] = 0
        self._returns[rows] = 0.0
        self._active[rows] = True

    def step(self, items: np.ndarray) -> StepResult:
        """Show one item per running session and let each user react.

        Args:
            items: ``(B,)`` catalog indices: an unseen pool item for every running session,
                a negative number (e.g. -1) for every finished one.

        Raises:
            ValueError: on a wrong shape, a missing item, an item for a finished session, an item
                outside the catalog or the pool, or an item already shown in that session.
        """
        r, it, pos = self._check_items(items)
        cfg, rng = self.config, cast(np.random.Generator, self._rng)  # set by reset, checked above
        has = has_values(
            self._label_sets_ext, it, self._desired_ext[r]
        )  # (n, K); undesired count as had
        wrong = ~has
        success = ~wrong.any(axis=1)
        turn = self._turn[r] + 1
        truncated = ~success & (turn >= cfg.max_turns)
        target_unit = self._target_unit if len(r) == self._n else self._target_unit[r]
        d_f = feature_distance(self._unit[it], target_unit)
        d_g = attribute_distance(wrong, self._desired[r] >= 0)
        reward = add_failure_penalty(
            turn_reward(d_f, d_g, cfg.reward_lambda, cfg.reward_offset),
            truncated,
            cfg.failure_penalty,
        )
        asked = self._requested[r] >= 0
        violations = (wrong & asked).sum(axis=1).astype(np.int32)

        attribute = choose_attribute(wrong, asked, cfg.repeat_prob, rng)
        f = np.flatnonzero(attribute >= 0)  # failed turns: the user comments
        fr, fa = r[f], attribute[f]
        value = self._desired_ext[fr, fa]
        mode = choose_mode(asked[f, fa], cfg.negate_prob, rng)
        sentence = self.bank.sample(value, mode, rng)

        self._shown[r, pos] = True
        self._requested[fr, fa] = self._desired[fr, fa]
        self._turn[r] = turn
        self._nv[r] += violations
        self._returns[r] += reward
        self._success_turn[r[success]] = turn[success]
        self._active[r] = ~(success | truncated)

        out = self._blank_fields()
        out["items"][r] = it
        out["reward"][r] = reward
        out["terminated"][r] = success
        out["truncated"][r] = truncated
        out["violations"][r] = violations
        out["feedback_attribute"][fr] = fa
        out["feedback_value"][fr] = value
        out["feedback_mode"][fr] = mode
        out["sentence"][fr] = sentence
        return self._result(out)

    def outcomes(self) -> SessionOutcomes:
        """Per-session success turn, NI, NV and return (final once every session has finished)."""
        self._require_reset()
        success = self._success_turn > 0
        return SessionOutcomes(
            targets=self._targets.copy(),
            finished=~self._active,
            success=success,
            success_turn=self._success_turn.copy(),
            turns=self._turn.copy(),
            ni=np.where(success, self._success_turn, self.config.max_turns).astype(np.int32),
            nv=self._nv.copy(),
            returns=self._returns.copy(),
        )

    # ------------------------------------------------------------------ helpers
    def _require_reset(self) -> None:
        if self._n == 0:
            raise InputError("the simulator has no sessions yet: call reset(n_sessions, rng) first")

    def _check_targets(self, targets: np.ndarray, n: int) -> np.ndarray:
        targets = np.asarray(targets)
        if targets.shape != (n,) or (n and not np.issubdtype(targets.dtype, np.integer)):
            raise InputError(
                f"targets must be ({n},) catalog indices, got {targets.shape} {targets.dtype}"
            )
        ok = np.isin(targets, self._candidates)
        if not ok.all():
            bad = int(targets[~ok][0])
            raise InputError(
                f"target {bad} is not a pool item with at least one label "
                f"(catalog {self.catalog.name!r}, pool of {self.n_pool} items)"
            )
        return targets.astype(np.int64)

    def _check_items(self, items: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Validate a step's items; return running rows, their items and pool positions."""
        self._require_reset()
        items = np.asarray(items)
        if items.shape != (self._n,) or not np.issubdtype(items.dtype, np.integer):
            raise InputError(
                f"items must be ({self._n},) integer catalog indices, "
                f"got {items.shape} {items.dtype}"
            )
        given = items >= 0
        missing = np.flatnonzero(self._active & ~given)
        if missing.size:
            i = int(missing[0])
            raise InputError(f"session {i} is still running and needs an item, got {int(items[i])}")
        extra = np.flatnonzero(~self._active & given)
        if extra.size:
            i = int(extra[0])
            raise InputError(
                f"session {i} has finished; pass -1 instead of item {int(items[i])} (or reset)"
            )
        r = np.flatnonzero(self._active)
        if r.size == 0:
            raise InputError("every session has finished: call reset() to start new ones")
        it = items[r].astype(np.int64)
        outside = it >= self.catalog.n_items
        if outside.any():
            j = int(np.flatnonzero(outside)[0])
            raise InputError(
                f"session {int(r[j])}: item {int(it[j])} outside the catalog "
                f"of {self.catalog.n_items} items"
            )
        pos = self._pos[it]
        if (pos < 0).any():
            j = int(np.flatnonzero(pos < 0)[0])
            raise InputError(
                f"session {int(r[j])}: item {int(it[j])} ({self.catalog.item_ids[it[j]]}) "
                "is not in the pool"
            )
        seen = self._shown[r, pos]
        if seen.any():
            j = int(np.flatnonzero(seen)[0])
            raise InputError(
                f"session {int(r[j])}: item {int(it[j])} ({self.catalog.item_ids[it[j]]}) "
                "was already shown in this session"
            )
        return r, it, pos

    def _blank_fields(self) -> dict[str, np.ndarray]:
        """Per-session fields of a step nobody took: no item, no reward, no comment."""
        n = self._n
        return {
            "items": np.full(n, -1, dtype=np.int64),
            "reward": np.zeros(n, dtype=np.float32),
            "terminated": np.zeros(n, dtype=bool),
            "truncated": np.zeros(n, dtype=bool),
            "violations": np.zeros(n, dtype=np.int32),
            "feedback_attribute": np.full(n, -1, dtype=np.int64),
            "feedback_value": np.full(n, -1, dtype=np.int64),
            "feedback_mode": np.full(n, -1, dtype=np.int64),
            "sentence": np.full(n, -1, dtype=np.int64),
        }

    def blank_result(self) -> StepResult:
        """The :class:`StepResult` of a step no session takes (what :meth:`reset` returns)."""
        self._require_reset()
        return self._result(self._blank_fields())

    def _result(self, fields: dict[str, np.ndarray]) -> StepResult:
        sentence = fields["sentence"]
        return StepResult(
            turn=self._turn.copy(),
            active=self._active.copy(),
            texts=self._texts[sentence],
            tokens=self._tokens[sentence],
            lengths=self._lengths[sentence],
            **fields,
        )
