"""Recommenders that need no learning, each a :class:`~textrec.simulator.policy.Policy`.

* :class:`RandomPolicy`: a uniformly random value per attribute.
* :class:`SlotFillerPolicy`: remembers the latest value the user asked for per attribute and
  fills the other attributes with what the train pool makes most likely given those values.
* :class:`ReaderSlotFillerPolicy` (``"reader"``): the same, reading the user's text with a
  reader instead of the structured feedback (what a chat with a person has).
* :class:`OracleSlotsPolicy` (``"oracle-slots"``): the slot-filler told every desired value of the
  target at turn 0 — a ceiling, not a recommender (:data:`PRIVILEGED`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from textrec.catalog.catalog import Catalog
from textrec.catalog.retrieval import Action
from textrec.errors import InputError
from textrec.simulator.engine import BatchedSimulator, StepResult
from textrec.simulator.policy import Memory, Policy

__all__ = [
    "RandomPolicy",
    "SlotFillerPolicy",
    "ReaderSlotFillerPolicy",
    "OracleSlotsPolicy",
    "POLICIES",
    "PRIVILEGED",
    "make_policy",
    "fill_slots",
]


def fill_slots(slots: np.ndarray, result: StepResult, offsets: np.ndarray) -> np.ndarray:
    """Update the per-session slots ``(B, K)`` in place from a step's structured feedback.

    Sessions starting afresh (``turn == 0``) are emptied; a session whose user asked for a value
    gets it in that attribute's slot (local index). Returns the rows that got a value.
    """
    slots[result.turn == 0] = -1
    rows = np.flatnonzero(result.feedback_value >= 0)
    attr = result.feedback_attribute[rows]
    slots[rows, attr] = result.feedback_value[rows] - offsets[attr]
    return rows


class RandomPolicy:
    """A uniformly random value for every attribute: the floor any recommender must clear."""

    def __init__(self, catalog: Catalog) -> None:
        self.sizes = np.asarray(catalog.schema.sizes)
        self._rng = np.random.default_rng(0)

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Start over; draw from ``rng`` from now on."""
        self._rng = rng

    def act(self, result: StepResult) -> Action:
        """Uniform values, ``(B, K)``, with the uniform heads they were drawn from."""
        b = result.n_sessions
        heads = tuple(np.broadcast_to(np.float32(1.0 / v), (b, int(v))) for v in self.sizes)
        return Action(
            values=self._rng.integers(0, self.sizes, size=(b, len(self.sizes))), head_probs=heads
        )


class SlotFillerPolicy:
    """Slot filling with train-pool statistics: the bar every learned recommender must beat.

    Per session it keeps the latest value the user asked for on each attribute (the *slots*, from
    the structured feedback). Each turn it asks retrieval (:meth:`Retriever.by_probs`) for

    * a slot's value with certainty: a one-hot head with weight 1, and
    * for an unfilled attribute ``k``, its value distribution among the train-pool items that
      have every slot value, ``p(v_k | slots)`` (counted on unique label rows, smoothed towards the
      marginal with pseudo-count ``smoothing`` so that an unseen combination falls back to it),
      as a guess with weight ``guess_weight``.

    The best unseen item then has the known values and the most frequent consistent values of the
    rest. The small guess weight ranks known values first: with the retriever's clip ``eps = 1e-6``
    an item lacking a known value loses ``log(1e6) ≈ 13.8``, while the guesses of up to five
    unfilled attributes cost a labeled item at most ``5 · 0.1 · 21 ≈ 10.5`` (``p ≥ 1/N_train²``,
    ``N_train ≤ 40,000``), so on a pool of fully labeled items it never shows one that contradicts
    a request while an unseen consistent one (at least the target) is left.

    Args:
        catalog: the catalog; its train pool (labeled items) gives the value statistics.
        smoothing: pseudo-count of the marginal added to the conditional counts (> 0).
        guess_weight: weight of an unfilled attribute's term in the retrieval score, in (0, 1].
    """

    def __init__(self, catalog: Catalog, smoothing: float = 1.0, guess_weight: float = 0.1) -> None:
        if not smoothing > 0:
            raise InputError(f"SlotFillerPolicy: smoothing must be > 0, got {smoothing}")
        if not 0 < guess_weight <= 1:
            raise InputError(
                f"SlotFillerPolicy: guess_weight must be in (0, 1], got {guess_weight}"
            )
        train = catalog.pool("train")
        if train.size == 0:
            raise InputError(
                f"SlotFillerPolicy: catalog {catalog.name!r} has no labeled train items"
            )
        self.schema = catalog.schema
        self.smoothing = float(smoothing)
        self.guess_weight = float(guess_weight)
        self._offsets = self.schema.offsets
        self._blocks = list(zip(self._offsets[:-1], self._offsets[1:], strict=True))
        rows, counts = _unique_rows(catalog.label_sets[train])  # (U, V)
        # (V+1, ceil(U/8)) bits: which label rows hold each value; row V is all set (an unfilled
        # slot). Bit-packed, so that agreeing with several slots is a cheap AND of byte rows.
        holders = np.vstack([rows.T, np.ones((1, len(rows)), dtype=bool)])
        self._holders = np.packbits(holders, axis=1)
        # The label rows as a sparse (row, value) list in row order, with each row's start.
        self._row_of, self._value_of = np.nonzero(rows)
        self._start = np.searchsorted(self._row_of, np.arange(len(rows) + 1))
        self._counts = counts.astype(np.float64)
        marginal = np.bincount(self._value_of, self._counts[self._row_of], self.schema.n_values)
        self._prior = np.concatenate(
            [_normalise(marginal[lo:hi] + 1e-6) for lo, hi in self._blocks]
        )
        self._slots = np.full((0, self.schema.n_attributes), -1, dtype=np.int64)
        self._sizes = np.asarray(self.schema.sizes, dtype=np.int64)
        capacity = max(_MEMO_BYTES // (4 * self.schema.n_values), 1)
        self._memo = _HeadMemo(self._pattern_heads, self._sizes, self._sizes, capacity)

    def reset(self, n_sessions: int, rng: np.random.Generator) -> None:
        """Empty every slot (the policy is deterministic; ``rng`` is unused)."""
        self._slots = np.full((n_sessions, self.schema.n_attributes), -1, dtype=np.int64)

    def memory(self) -> Memory:
        """``((B, K) slots,)``: all a slot-filler remembers of its sessions
        (:class:`~textrec.simulator.policy.Resumable`)."""
        return (self._slots.copy(),)

    def resume(self, memory: Memory, rng: np.random.Generator) -> None:
        """Go on with the sessions whose slots are ``memory`` (the policy is deterministic)."""
        (slots,) = memory
        if slots.ndim != 2 or slots.shape[1] != self.schema.n_attributes:
            raise InputError(
                f"{type(self).__name__}.resume: slots must be (B, {self.schema.n_attributes}), "
                f"got {slots.shape}"
            )
        self._slots = slots.astype(np.int64, copy=True)

    def act(self, result: StepResult) -> Action:
        """Fill the slots from the feedback; ask for the slots plus the likeliest completion."""
        if len(self._slots) != result.n_sessions:
            raise InputError(
                f"SlotFillerPolicy was reset for {len(self._slots)} sessions, "
                f"got a step of {result.n_sessions}"
            )
        fill_slots(self._slots, result, self._offsets)
        weights = np.where(self._slots >= 0, 1.0, self.guess_weight).astype(np.float32)
        return Action(head_probs=self.head_probs(self._slots), weights=weights)

    def head_probs(self, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per-attribute distributions for sessions with the given slots.

        Sessions share slot patterns, within a step and from one step to the next (a slot
        changes only when its user asks for another value), so each pattern's heads are worked
        out once (:meth:`_pattern_heads`) and kept for the patterns met last (:class:`_HeadMemo`).

        Args:
            slots: ``(B, K)`` known local values, ``-1`` where unknown.

        Returns:
            ``K`` arrays ``(B, V_k) float32``: one-hot on known values, else ``p(v_k | slots)``.

        Raises:
            InputError: ``slots`` is not ``(B, K)`` or holds a value outside ``[-1, V_k)``.
        """
        slots = np.asarray(slots)
        if slots.ndim != 2 or slots.shape[1] != len(self._sizes):
            raise InputError(
                f"{type(self).__name__}.head_probs: slots must be (B, {len(self._sizes)}), "
                f"got {slots.shape}"
            )
        if ((slots < -1) | (slots >= self._sizes)).any():
            raise InputError(
                f"{type(self).__name__}.head_probs: slots must hold -1 or a local value below "
                f"the attribute sizes {self._sizes.tolist()}"
            )
        return self._memo(slots.astype(np.int64, copy=False))

    def _pattern_heads(self, patterns: np.ndarray) -> list[np.ndarray]:
        """``K`` arrays ``(Q, V_k) float32`` for ``Q`` slot patterns, each row worked out on its
        own: one-hot on a known value, else the smoothed conditional
        ``(n(v, slots) + smoothing * prior_v) / sum_v' (n(v', slots) + smoothing * prior_v')``."""
        counts = self._consistent_counts(patterns)
        heads = []
        for k, (lo, hi) in enumerate(self._blocks):
            block = _normalise(counts[:, lo:hi] + self.smoothing * self._prior[lo:hi])
            known = np.flatnonzero(patterns[:, k] >= 0)
            block[known] = 0.0
            block[known, patterns[known, k]] = 1.0
            heads.append(block.astype(np.float32))
        return heads

    def _consistent_counts(self, patterns: np.ndarray) -> np.ndarray:
        """``(Q, V)``: per slot pattern, how many train items with every slot value have each value.

        Sparse: the (pattern, label row) pairs that agree are few once a slot is filled, so each
        pair is expanded to its row's values and counted with one ``bincount``.
        """
        n_q, n_v = len(patterns), self.schema.n_values
        cond = np.where(patterns >= 0, self._offsets[:-1] + patterns, n_v)  # (Q, K)
        agree = self._holders[cond[:, 0]]  # (Q, U/8) bits
        for k in range(1, self.schema.n_attributes):
            agree &= self._holders[cond[:, k]]
        qb, ub = np.nonzero(agree)  # bytes with at least one agreeing row
        hit, bit = np.nonzero(np.unpackbits(agree[qb, ub][:, None], axis=1))
        q, u = qb[hit], ub[hit] * 8 + bit  # packbits is big-endian: bit 0 is the first row
        size = self._start[u + 1] - self._start[u]  # values held by each agreeing row
        first = np.cumsum(size) - size
        at = np.repeat(self._start[u] - first, size) + np.arange(int(size.sum()))
        key = np.repeat(q, size) * n_v + self._value_of[at]
        flat = np.bincount(key, np.repeat(self._counts[u], size), minlength=n_q * n_v)
        return flat.reshape(n_q, n_v)


class ReaderSlotFillerPolicy(SlotFillerPolicy):
    """The slot-filler reading the user's *text* with a reader, as in a chat with a person.

    Where :class:`SlotFillerPolicy` takes the simulator's structured feedback, this one reads
    each sentence with ``reader`` (default: the lexicon reader of
    :mod:`textrec.language.reader`): every value it is sure the user wants fills that attribute's
    slot, a value the user rejects empties the slot holding it; a sentence it does not understand
    changes nothing. Each distinct sentence is read once (memoised by sentence id).
    """

    def __init__(self, catalog: Catalog, reader: Any = None, **kwargs: Any) -> None:
        super().__init__(catalog, **kwargs)
        if reader is None:
            from textrec.language.reader import load_reader

            reader = load_reader(catalog.schema, "lexicon")
        self.reader = reader
        k = self.schema.n_attributes
        self._wants = np.full((0, k), -1, dtype=np.int64)  # sentence id -> local value per slot
        self._rejects = np.full((0, k), -1, dtype=np.int64)
        self._known = np.zeros(0, dtype=bool)

    def _learn(self, ids: np.ndarray, texts: np.ndarray) -> None:
        """Read the sentences ``ids`` not read yet."""
        if len(ids) and ids.max() >= len(self._known):
            grow = int(ids.max()) + 1 - len(self._known)
            k = self.schema.n_attributes
            self._wants = np.vstack([self._wants, np.full((grow, k), -1, dtype=np.int64)])
            self._rejects = np.vstack([self._rejects, np.full((grow, k), -1, dtype=np.int64)])
            self._known = np.append(self._known, np.zeros(grow, dtype=bool))
        uniq, first = np.unique(ids, return_index=True)
        new = ~self._known[uniq]
        if not new.any():
            return
        readings = self.reader.read_batch([str(t) for t in texts[first[new]]])
        for sid, reading in zip(uniq[new], readings, strict=True):
            for q in reading.requests:
                a = int(self.schema.value_attribute[q.value_index])
                table = self._rejects if q.negated else self._wants
                table[sid, a] = q.value_index - self._offsets[a]
            self._known[sid] = True

    def act(self, result: StepResult) -> Action:
        """Fill the slots from what the reader understands of the text; then as the slot-filler."""
        if len(self._slots) != result.n_sessions:
            raise InputError(
                f"ReaderSlotFillerPolicy was reset for {len(self._slots)} sessions, "
                f"got a step of {result.n_sessions}"
            )
        self._slots[result.turn == 0] = -1
        rows = np.flatnonzero(result.sentence >= 0)
        if rows.size:
            ids = result.sentence[rows]
            self._learn(ids, result.texts[rows])
            slots = self._slots[rows]
            slots = np.where(slots == self._rejects[ids], -1, slots)
            self._slots[rows] = np.where(self._wants[ids] >= 0, self._wants[ids], slots)
        weights = np.where(self._slots >= 0, 1.0, self.guess_weight).astype(np.float32)
        return Action(head_probs=self.head_probs(self._slots), weights=weights)


class OracleSlotsPolicy(SlotFillerPolicy):
    """The privileged ceiling "Oracle: told every desired value at turn 0".

    The slot-filler whose slots are the target's labels (the simulator's desired values,
    :attr:`BatchedSimulator.desired`) from the first turn of every session: each labeled attribute
    is a one-hot head with weight 1, an attribute the target has no label on is guessed as the
    slot-filler guesses, ``p(v_k | slots)`` with weight ``guess_weight``. Whatever the user says
    afterwards adds nothing (every request names a desired value, already in its slot), so the
    policy acts on what no dialogue has told it yet: the gap between it and the slot-filler is the
    value of the information the user gives one wrong attribute per turn. It reads the users'
    hidden targets, so it is no recommender a device could run; it bounds what reading the
    requests can gain on this retrieval (items of the test pool are retrieved through AttrNet's
    predicted labels, so even it does not always succeed at turn 1).

    Args:
        catalog: the catalog (its train pool gives the guesses' statistics).
        users: the simulated users it is evaluated against (their targets are read at turn 0).
        kwargs: :class:`SlotFillerPolicy`'s ``smoothing`` and ``guess_weight``.
    """

    def __init__(self, catalog: Catalog, users: BatchedSimulator, **kwargs: Any) -> None:
        if users.catalog is not catalog and users.catalog.fingerprint != catalog.fingerprint:
            raise InputError(
                f"OracleSlotsPolicy: the users play catalog {users.catalog.name!r}, "
                f"not {catalog.name!r}"
            )
        super().__init__(catalog, **kwargs)
        self.users = users

    def act(self, result: StepResult) -> Action:
        """At a session's turn 0 fill its slots with the target's labels; then as the slot-filler
        with those slots."""
        if len(self._slots) != result.n_sessions or self.users.n_sessions != result.n_sessions:
            raise InputError(
                f"OracleSlotsPolicy was reset for {len(self._slots)} sessions and its users hold "
                f"{self.users.n_sessions}, got a step of {result.n_sessions}"
            )
        fresh = np.flatnonzero(result.turn == 0)
        if fresh.size:
            self._slots[fresh] = self.users.desired[fresh]
        weights = np.where(self._slots >= 0, 1.0, self.guess_weight).astype(np.float32)
        return Action(head_probs=self.head_probs(self._slots), weights=weights)


_MEMO_BYTES = 16 << 20
"""Bytes of float32 head rows a slot-filler keeps for the slot patterns it met last (``V`` values
a pattern): about 5,800 patterns on UT-Zappos (722 values), 61,000 on the built-in catalog (68)."""


class _HeadMemo:
    """The heads of the slot patterns met last, so that each pattern is worked out once.

    A pattern (one row of slots, ``s_k`` in ``[-1, V_k)``) is keyed by its mixed-radix code
    ``sum_k (s_k + 1) r_k``, ``r_k = prod_{j<k} (V_j + 1)``, one int64, or by its bytes where such
    codes could overflow. Row ``i`` of the slab holds the heads of the pattern ``key[i]``; a
    sorted copy of the keys finds a call's distinct patterns with ``searchsorted``, and only the
    patterns not held reach ``fn``. When the slab holds ``capacity`` patterns, the rows used
    longest ago make room (never one the current call uses: a call with more distinct patterns
    than ``capacity`` grows the slab, which then keeps that many). ``fn`` must work out each row on
    its own, so that a kept row equals the row a fresh call would give.

    Args:
        fn: ``(Q, K) patterns -> arrays (Q, W_h) float32``, row by row.
        sizes: ``(K,)`` the attribute sizes ``V_k``.
        widths: the widths ``W_h`` of the arrays ``fn`` gives.
        capacity: patterns kept between calls (> 0).
    """

    def __init__(
        self,
        fn: Callable[[np.ndarray], list[np.ndarray]],
        sizes: np.ndarray,
        widths: np.ndarray,
        capacity: int,
    ) -> None:
        self.fn = fn
        self.capacity = capacity
        wide = float(np.prod(sizes.astype(np.float64) + 1)) >= 2.0**62
        self.radix = None if wide else np.cumprod(np.r_[1, sizes[:-1] + 1]).astype(np.int64)
        self.key = self.codes(np.zeros((0, len(sizes)), dtype=np.int64))  # pattern of each row
        self.used = np.zeros(0, dtype=np.int64)  # the call that last used each row
        self.slab = [np.zeros((0, int(w)), dtype=np.float32) for w in widths]
        self.sorted_key, self.sorted_row = self.key, np.zeros(0, dtype=np.int64)
        self.calls = 0

    def codes(self, slots: np.ndarray) -> np.ndarray:
        """``(B,)`` one key per row of ``slots`` (int64 codes, or ``|V`` bytes when wide)."""
        if self.radix is not None:
            return (slots + 1) @ self.radix
        rows = np.ascontiguousarray(slots)
        return rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).reshape(-1)

    def __call__(self, slots: np.ndarray) -> tuple[np.ndarray, ...]:
        """``fn(slots)``, from the kept rows where they are held."""
        self.calls += 1
        unique, first, inverse = np.unique(
            self.codes(slots), return_index=True, return_inverse=True
        )
        rows = np.full(len(unique), -1, dtype=np.int64)
        if len(self.sorted_key):
            pos = np.minimum(np.searchsorted(self.sorted_key, unique), len(self.sorted_key) - 1)
            hit = self.sorted_key[pos] == unique
            rows[hit] = self.sorted_row[pos[hit]]
            self.used[rows[hit]] = self.calls
        miss = np.flatnonzero(rows < 0)
        if miss.size:
            rows[miss] = self._store(unique[miss], self.fn(slots[first[miss]]))
        take = rows[inverse.reshape(-1)]
        return tuple(np.take(block, take, axis=0) for block in self.slab)

    def _store(self, keys: np.ndarray, heads: list[np.ndarray]) -> np.ndarray:
        """Keep ``heads`` of the new patterns ``keys``; the slab rows they went to."""
        n, filled = len(keys), len(self.key)
        stale = np.flatnonzero(self.used < self.calls)
        evict = min(n, max(n - (self.capacity - filled), 0), len(stale))
        victims = stale[np.argsort(self.used[stale], kind="stable")[:evict]]
        rows = np.concatenate([victims, np.arange(filled, filled + n - evict)])
        if n > evict:
            self.key = np.concatenate([self.key, keys[: n - evict]])
            self.used = np.concatenate([self.used, np.zeros(n - evict, dtype=np.int64)])
            if len(self.key) > len(self.slab[0]):  # room for twice the rows, up to capacity
                grown = max(len(self.key), min(2 * len(self.slab[0]), self.capacity))
                slab = [np.zeros((grown, b.shape[1]), dtype=np.float32) for b in self.slab]
                for new, old in zip(slab, self.slab, strict=True):
                    new[: len(old)] = old
                self.slab = slab
        self.key[rows] = keys
        self.used[rows] = self.calls
        for block, head in zip(self.slab, heads, strict=True):
            block[rows] = head
        self.sorted_row = np.argsort(self.key, kind="stable")
        self.sorted_key = self.key[self.sorted_row]
        return rows


def _unique_rows(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of a boolean ``(N, V)`` matrix in lexicographic order, and how often
    each occurs: ``np.unique(labels, axis=0, return_counts=True)``, found on the rows packed to
    bytes (big-endian bits keep the order), one key per row instead of one field per column."""
    packed = np.packbits(labels, axis=1)
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1]))).reshape(-1)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    return labels[first], counts


def _normalise(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to sum to 1."""
    return x / x.sum(axis=-1, keepdims=True)


POLICIES: dict[str, Callable[..., Policy]] = {
    "random": RandomPolicy,
    "slot-filler": SlotFillerPolicy,
    "reader": ReaderSlotFillerPolicy,
    "oracle-slots": OracleSlotsPolicy,
}
"""Name -> constructor of the policies that need no learning (the CLI's ``--policy``); those in
:data:`READS_USERS` take the simulated users as their second argument."""

READS_USERS = frozenset({"oracle-slots"})
"""Policies built with the simulated users they play (they read the users' hidden targets)."""

PRIVILEGED: dict[str, str] = {
    "slot-filler": "reads the user's requests as structure, not as text",
    "oracle-slots": "is told the target's values at turn 0",
}
"""Reference policies that know more than a deployed text recommender could, and what."""


def make_policy(name: str, catalog: Catalog, users: BatchedSimulator | None = None) -> Policy:
    """Build the policy called ``name`` for ``catalog``.

    Args:
        name: a key of :data:`POLICIES`.
        catalog: the catalog.
        users: the simulated users the policy will play (needed by :data:`READS_USERS`).

    Raises:
        InputError: an unknown name, or a policy of :data:`READS_USERS` without ``users``.
    """
    if name not in POLICIES:
        raise InputError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")
    if name in READS_USERS:
        if users is None:
            raise InputError(
                f"policy {name!r} reads the simulated users' targets: build it with its users"
            )
        return POLICIES[name](catalog, users)
    return POLICIES[name](catalog)
