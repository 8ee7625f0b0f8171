"""Item retrieval: turn a recommender's choice in attribute space into the best unseen pool item.

A recommender acts in attribute space (DESIGN.md "Actions"): one categorical distribution
``pi_k`` per attribute, or one chosen value per attribute. Retrieval shows the unseen pool item
most likely to have the chosen values::

    score(item) = sum_k log sum_v pi_k(v) * p_k(v | item)

with ``p_k(. | item)`` from :attr:`Catalog.value_probs`: the true label set for a labeled item (so
a multi-valued item matches any of its values) and AttrNet's predicted distribution for an
unlabeled one, clipped below at ``eps`` so one confident mistake does not veto an item. A chosen
value (one-hot ``pi_k``) turns the inner sum into a lookup, so :meth:`Retriever.by_values` is a
gather and a sum; :meth:`Retriever.by_probs` is one matrix product per attribute. Both are batched
over sessions and exact when an item matches the chosen values. Ties go to the earliest pool
position, so retrieval is deterministic. Optional per-attribute weights ``w_k`` scale the terms
(``score = sum_k w_k log ...``), so that a policy can rank what it knows above what it guesses.

Scoring by AttrNet's distribution rather than its argmax labels matters: on UT-Zappos matching the
argmax labels instead drops the slot filler's SR@30 from 0.79 to 0.49 on the test pool (issue 3
reported 0.86 to 0.53 with another AttrNet).

Speed, without changing the chosen item:

* **Distinct actions are scored once.** Sessions of a batch often make the same choice (every
  session of the slot filler starts from the same empty slots; later ones share slot patterns), so
  the scores are computed once per distinct action row, not once per session.
* **Candidates kept across calls.** A session's action repeats from turn to turn once its slots
  are filled, so each distinct action's top candidates and bound (below) are kept (by the
  action's bytes, up to ``_CACHED`` actions, in one array store gathered for a batch at once)
  and later calls with the same action only check the session's exclusions. (Only when every
  action of a batch is new and distinct, as random actions are, is every session scored densely
  instead.)
* **Top candidates, then the session's own exclusions.** For each distinct action the
  ``_TOP`` best items are kept, ordered by (score, pool position), with the score of the best item
  left out (the *bound*). A session shows its first candidate it has not seen; that is exactly
  the dense rule's item whenever the candidate's score is strictly above the bound (every item
  left out scores at most the bound). Otherwise (a session that has seen every candidate, or a tie
  at the bound) the session is scored densely, as before. Exact: the same item as the dense
  ``argmax`` over the unseen items, ties to the earliest pool position (up to the float rounding
  of a matrix product, which may differ in the last bit with the number of rows multiplied at
  once; gathers and sums, as in :meth:`Retriever.by_values`, are bit for bit).
* **A new action's candidates by bounds, where its product is wide.** A soft head on an
  attribute with many values (UT-Zappos's 685 brands; the slot filler's guess of an unnamed
  brand) costs a ``V_k``-deep product per item, about 1 ms per action over 10,005 items. Each
  item keeps its :data:`_MASS` likeliest values of such an attribute and the sum of the rest
  (:func:`_top_mass`), which bound the term from both sides (:func:`_mass_bounds`); the other
  terms are exact. Only the items whose upper bound reaches the ``(_TOP+1)``-th best lower bound
  are scored exactly; every other item scores below the ``(_TOP+1)``-th best score, so the
  candidates and the bound are the dense ones (:meth:`Retriever._bounded_top` gives the
  argument, with a margin for float32 rounding, :meth:`Retriever._slack`; UT-Zappos, slot
  filler: retrieval 1.35x, benchmarks/README.md). An action named value by value (one-hot heads,
  thin products) is scored densely as before: gathers over the pool cost about what bounds would
  (measured: bounding every soft term, or lists of items per named value, were slower). An
  attribute split by :class:`_SparseTerm` (a pool with labeled items) keeps that path.
* **Few values per item: gathers, not a product.** Where an attribute's items have few values
  above ``eps`` (labeled items), ``pi_k @ p_k(.|item)`` is summed over those values, once per
  distinct pattern of them; in a pool that mixes labeled and predicted items (a server's whole
  catalog) the labeled items take that path and only the predicted ones the product, over their
  own columns (:class:`_SparseTerm`; UT-Zappos, 40,020 labeled of 50,025 items: the 685-brand
  term of one action 5.1 -> 1.3 ms).
* **One BLAS thread.** The products are thin (``V_k`` deep); OpenBLAS's own threads cost far more
  than they give on them (1024 x 9 x 600: 4.8 ms with two threads, 0.12 ms with one, on a loaded
  2-core machine), and they fight the process pools for the cores.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from threadpoolctl import ThreadpoolController

from textrec.catalog.catalog import Catalog, Pool
from textrec.catalog.schema import AttributeSchema
from textrec.errors import InputError

__all__ = ["Action", "Retriever", "resolve_pool", "DEFAULT_EPS"]

DEFAULT_EPS = 1e-6
"""Lower clip of ``p_k(v | item)``: a value AttrNet rules out still costs only ``log(1e-6)``."""

_CHUNK_ELEMENTS = 1 << 22
"""Score matrices are built for at most this many (action, item) pairs at a time (16 MiB)."""

_TOP = 64
"""Candidates kept per distinct action; a session is scored densely only when it has seen all of
them (more than 64 turns) or its first unseen one ties the bound."""

_GATHER = 16
"""About how many values of a matrix product one gathered value costs (a gather, a multiply
and an add per item, against the product's vectorised multiply-adds): the split of
:class:`_SparseTerm` weighs its gathers by it."""

_MASS = 4
"""Largest values kept per item of a wide attribute (more than ``_GATHER * _MASS`` values) to
bound a soft head's term without its product (:meth:`Retriever._pruned_top`)."""

_PRUNED = 8
"""An action whose bounds leave more than ``1/_PRUNED`` of the pool to score exactly is scored
densely instead."""

_ULP = float(np.finfo(np.float32).eps) / 2
"""Unit roundoff of float32 (``2^-24``): the margin of the bounds is counted in it."""

_CACHED = 4096
"""Distinct actions whose candidates are kept across calls (then the store starts afresh): about
15 MB on UT-Zappos (an action's bytes and its candidates, 3.1 MB of them in one array)."""


@cache
def _blas() -> ThreadpoolController:
    """The process's thread pools (found once; limiting them per call then costs microseconds)."""
    return ThreadpoolController()


def _distinct_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """``(first, inverse, keys)``: the first row of each distinct row of ``columns`` side by side
    (bit for bit), each row's distinct index, and each distinct row's bytes."""
    raw = [np.ascontiguousarray(c).reshape(len(c), -1).view(np.uint8) for c in columns]
    key = np.ascontiguousarray(np.concatenate(raw, axis=1))
    rows = key.view(np.dtype((np.void, key.shape[1]))).reshape(-1)
    distinct, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    raw_keys, width = distinct.tobytes(), key.shape[1]
    keys = [raw_keys[lo : lo + width] for lo in range(0, len(raw_keys), width)]
    return first, inverse.reshape(-1), keys


def resolve_pool(catalog: Catalog, pool: Pool | Sequence[int] | np.ndarray) -> np.ndarray:
    """Catalog indices of a pool: a name (``"train"``, ``"test"``, ``"all"``) or explicit indices.

    Raises:
        ValueError: when the pool is empty, holds an index outside the catalog or repeats one.
    """
    if isinstance(pool, str):
        idx = catalog.pool(pool)  # type: ignore[arg-type]
        name = repr(pool)
    else:
        idx = np.asarray(pool)
        name = f"of {idx.size} given indices"
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise InputError(
                f"pool must be a 1-D array of item indices, got shape {idx.shape} {idx.dtype}"
            )
        if idx.size and (idx.min() < 0 or idx.max() >= catalog.n_items):
            bad = int(idx[(idx < 0) | (idx >= catalog.n_items)][0])
            raise InputError(
                f"pool index {bad} outside catalog {catalog.name!r} of {catalog.n_items} items"
            )
        if len(np.unique(idx)) != idx.size:
            raise InputError("pool indices must be unique")
    if idx.size == 0:
        raise InputError(f"pool {name} of catalog {catalog.name!r} is empty")
    return idx.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Action:
    """A recommender's choice for a batch of ``B`` sessions, in attribute space.

    At least one of the two is set:

    * ``values``     ``(B, K) int`` one local value index per attribute (``-1``: no preference).
    * ``head_probs`` ``K`` arrays ``(B, V_k)``: one non-negative weight vector per attribute
      (need not be normalised; only ratios within a row matter).

    With both, ``values`` is the choice (retrieval shows the item with those values) and
    ``head_probs`` the distributions they were drawn from (:meth:`log_prob` scores them).

    ``weights`` (optional, ``(B, K)``, non-negative) scales each attribute's term of the score,
    e.g. to let values the user asked for outrank guesses (see :class:`Retriever`).
    """

    values: np.ndarray | None = None
    """``(B, K)`` chosen local value per attribute, ``-1`` for "any value"."""
    head_probs: tuple[np.ndarray, ...] | None = None
    """Per-attribute distributions ``pi_k``, each ``(B, V_k)``."""
    weights: np.ndarray | None = None
    """``(B, K)`` weight of each attribute's log-term; ``None`` = all 1."""

    def __post_init__(self) -> None:
        if self.values is None and self.head_probs is None:
            raise InputError("Action needs 'values', 'head_probs' or both")
        if self.values is not None and self.head_probs is not None:
            b = [len(p) for p in self.head_probs]
            if len(self.head_probs) != self.values.shape[1] or set(b) != {len(self.values)}:
                raise InputError(
                    f"Action: values {self.values.shape} and head_probs "
                    f"{[p.shape for p in self.head_probs]} disagree on sessions or attributes"
                )

    @property
    def n_sessions(self) -> int:
        """Batch size ``B``."""
        return len(self.values) if self.values is not None else len(self.head_probs[0])  # type: ignore[index]

    def take(self, rows: np.ndarray) -> Action:
        """The same choice restricted to the sessions ``rows`` (indices or boolean mask)."""
        weights = None if self.weights is None else self.weights[rows]
        values = None if self.values is None else self.values[rows]
        heads = None if self.head_probs is None else tuple(p[rows] for p in self.head_probs)
        return Action(values=values, head_probs=heads, weights=weights)

    def log_prob(self, values: np.ndarray) -> np.ndarray:
        """``(B, K) float64``: ``log pi_k(values[:, k])``, each head normalised to sum 1.

        Raises:
            InputError: the action has no ``head_probs``, or ``values`` is not ``(B, K)``.
        """
        if self.head_probs is None:
            raise InputError("Action.log_prob needs head_probs; this action has values only")
        values = np.asarray(values)
        if values.shape != (self.n_sessions, len(self.head_probs)):
            raise InputError(
                f"Action.log_prob: values must be {(self.n_sessions, len(self.head_probs))}, "
                f"got {values.shape}"
            )
        rows = np.arange(len(values))
        with np.errstate(divide="ignore"):
            return np.stack(
                [
                    np.log(np.asarray(p[rows, values[:, k]], dtype=np.float64))
                    - np.log(np.asarray(p, dtype=np.float64).sum(axis=1))
                    for k, p in enumerate(self.head_probs)
                ],
                axis=1,
            )


@dataclass(frozen=True, eq=False)
class _SparseTerm:
    """One attribute's ``p_k(.|item)`` as ``eps`` plus each item's few values above it, stored
    once per distinct pattern of those values; items with many values above ``eps`` (AttrNet's
    predictions in a pool that also holds labeled items) stay dense.

    Clipped at ``eps``, ``p(v|item) = eps + x_v`` with ``x_v > 0`` for only a few values of each
    item (one for a labeled item with one value), so ``pi @ p(.|item) = eps * sum(pi) +
    sum_j pi[idx_j] * x_j``: ``m`` gathers instead of a product over all ``V_k`` values. Items
    with the same values and excesses share a pattern (a labeled pool has about one pattern per
    value), so the sum and its logarithm are taken per pattern and gathered to the items. The
    items with more than ``m`` values above ``eps`` (``dense``) are scored by the matrix product
    ``pi @ p(.|item)`` over their columns only: on UT-Zappos's whole catalog (40,020 labeled and
    10,005 predicted items) the brand term's product shrinks from 50,025 to 10,005 columns.
    Exact up to float rounding (the same sums, in another order).
    """

    idx: np.ndarray
    """``(m, U) int64`` value of each pattern's ``j``-th largest excess."""
    excess: np.ndarray
    """``(m, U) float32`` ``p(v|item) - eps`` there (0 where the pattern has fewer values)."""
    pattern: np.ndarray
    """``(P,) int64`` pattern of each pool item; a dense item's is ``U`` + its dense index."""
    dense_t: np.ndarray | None = None
    """``(V, P_d) float32`` the clipped ``p(.|item)`` of the dense items (None: none), in pool
    order, contiguous for the product."""

    @classmethod
    def of(cls, probs: np.ndarray, eps: float) -> _SparseTerm | None:
        """The sparse form of clipped ``probs (P, V)``; ``None`` when it would not be cheaper.

        Every item sparse when no item has more than half of the values above ``eps``; else
        the items with at most ``m`` such values sparse and the rest dense, ``m`` the count that
        makes ``_GATHER * m * P_s + V * P_d`` least (a gathered value costs about
        :data:`_GATHER` values of the product), when that is under half of the product over
        every item, ``V * P`` (else None: all dense). A pool of predicted items alone stays
        dense; a server's whole catalog splits (UT-Zappos: ``m = 1``, its labeled items)."""
        excess = probs - np.float32(eps)
        n_p, n_v = probs.shape
        count = np.count_nonzero(excess > 0, axis=1)
        m = int(count.max(initial=0))
        if m == 0:
            return None
        if 2 * m <= n_v:
            return cls(*cls._patterns(excess, m))
        options = [c for c in np.unique(count).tolist() if 0 < _GATHER * c <= n_v]
        costs = [
            _GATHER * c * int((count <= c).sum()) + n_v * int((count > c).sum()) for c in options
        ]
        if not options or 2 * min(costs) >= n_v * n_p:
            return None
        m = options[int(np.argmin(costs))]
        dense = count > m
        idx, top, pattern = cls._patterns(excess[~dense], m)
        full = np.empty(n_p, dtype=np.int64)
        full[~dense] = pattern
        full[dense] = idx.shape[1] + np.arange(int(dense.sum()))
        return cls(idx, top, full, np.ascontiguousarray(probs[dense].T))

    @staticmethod
    def _patterns(excess: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(idx, excess, pattern)`` of items with at most ``m`` values above ``eps``."""
        idx = np.sort(np.argpartition(-excess, m - 1, axis=1)[:, :m], axis=1)
        top = np.take_along_axis(excess, idx, 1)
        keys = np.concatenate([idx, top.view(np.int32).astype(np.int64)], axis=1)
        unique, pattern = np.unique(keys, axis=0, return_inverse=True)
        return (
            np.ascontiguousarray(unique[:, :m].T),
            np.ascontiguousarray(unique[:, m:].astype(np.int32).view(np.float32).T),
            pattern.reshape(-1),
        )

    def log_product(self, head: np.ndarray, eps: float) -> np.ndarray:
        """``log(head (b, V) @ p (V, P))``."""
        n_u = self.idx.shape[1]
        n_d = 0 if self.dense_t is None else self.dense_t.shape[1]
        per = np.empty((len(head), n_u + n_d), dtype=np.float32)
        per[:, :n_u] = (np.float32(eps) * head.sum(axis=1, dtype=np.float32))[:, None]
        for idx, excess in zip(self.idx, self.excess, strict=True):
            gathered = np.take(head, idx, axis=1)
            gathered *= excess
            per[:, :n_u] += gathered
        if n_d:
            per[:, n_u:] = np.matmul(head, self.dense_t)
        return np.take(np.log(per, out=per), self.pattern, axis=1)


def _top_mass(probs_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(idx, value, rest)`` of clipped ``probs_t (V, P)``: each item's :data:`_MASS` largest
    values ``(m, P)``, their ``p(v|item)`` and the sum of the others ``(P,)`` (summed in float64,
    so that it is a sum of positives, not a difference, to float32's precision)."""
    idx = np.argpartition(-probs_t, _MASS - 1, axis=0)[:_MASS]
    value = np.take_along_axis(probs_t, idx, axis=0)
    others = probs_t.astype(np.float64)
    np.put_along_axis(others, idx, 0.0, axis=0)
    return idx, value, others.sum(axis=0).astype(np.float32)


def _mass_bounds(
    mass: tuple[np.ndarray, np.ndarray, np.ndarray], head: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(lb, ub)`` ``(b, P)`` of ``log(pi_k @ p_k(.|item))`` from each item's largest values.

    With ``S`` the item's :data:`_MASS` likeliest values, ``a = sum_{v in S} pi(v) p(v)`` and
    ``R = sum_{v not in S} p(v)`` (``mass``, :func:`_top_mass`), the rest of the product lies
    between ``min pi * R`` and ``max pi * R``, and the whole is at least ``eps * sum pi``
    (``p`` is clipped at ``eps``)::

        log max(a + min pi R, eps sum pi) <= log(pi @ p) <= log(a + max pi R)
    """
    idx, value, rest = mass
    a = np.take(head, idx[0], axis=1)
    a *= value[0]
    for j in range(1, len(idx)):
        more = np.take(head, idx[j], axis=1)
        more *= value[j]
        a += more
    hi = a + head.max(axis=1, keepdims=True) * rest
    lo = a + head.min(axis=1, keepdims=True) * rest
    floor = np.float32(eps) * head.sum(axis=1, dtype=np.float32, keepdims=True)
    return np.log(np.maximum(lo, floor, out=lo), out=lo), np.log(hi, out=hi)


class Retriever:
    """Best unseen pool item for a batch of attribute-space choices.

    Args:
        catalog: the item catalog.
        pool: the items that may be shown (name or catalog indices); position ``j`` of
            ``excluded`` masks refers to ``pool[j]``.
        eps: lower clip of ``p_k(v | item)`` (see :data:`DEFAULT_EPS`).

    Example:
        >>> r = Retriever(catalog, "test")                                   # doctest: +SKIP
        >>> seen = np.zeros((1, len(r.pool)), bool)                          # doctest: +SKIP
        >>> items = r.by_values(np.array([[0, 1, 2]]), seen)                  # doctest: +SKIP
    """

    def __init__(
        self,
        catalog: Catalog,
        pool: Pool | Sequence[int] | np.ndarray = "test",
        eps: float = DEFAULT_EPS,
    ) -> None:
        if not 0.0 < eps < 1.0:
            raise InputError(f"Retriever: eps must be in (0, 1), got {eps}")
        self.catalog = catalog
        self.schema: AttributeSchema = catalog.schema
        self.pool = resolve_pool(catalog, pool)
        self.eps = eps
        probs = np.clip(catalog.value_probs[self.pool], eps, 1.0).astype(np.float32)  # (P, V)
        offsets = self.schema.offsets
        self._probs_t = [  # per attribute (V_k, P), contiguous for the matrix product
            np.ascontiguousarray(probs[:, offsets[k] : offsets[k + 1]].T)
            for k in range(self.schema.n_attributes)
        ]
        self._sparse = [  # the few values above eps per item, where that is cheaper
            _SparseTerm.of(probs[:, offsets[k] : offsets[k + 1]], eps)
            for k in range(self.schema.n_attributes)
        ]
        self._mass = [  # a wide dense attribute's largest values per item, and the rest's sum
            _top_mass(p) if len(p) > _GATHER * _MASS and sparse is None else None
            for p, sparse in zip(self._probs_t, self._sparse, strict=True)
        ]
        self._rows = [  # and its (P, V_k): an item's values side by side (UT-Zappos: 27 MB)
            None if m is None else np.ascontiguousarray(p.T)
            for m, p in zip(self._mass, self._probs_t, strict=True)
        ]
        log_t = np.zeros((self.schema.n_values + 1, len(self.pool)), dtype=np.float32)
        log_t[:-1] = np.log(probs).T  # last row: "no preference", adds 0 to every item
        self._log_t = log_t
        self._slot: dict[bytes, int] = {}
        """Row of :attr:`_store` of each action seen before (by its bytes)."""
        self._store = (np.empty((0, 0), np.int64), np.empty((0, 0), np.float32), np.empty(0))
        """Top candidates ``(_CACHED, _TOP)``, their scores and bound ``(_CACHED,)`` of those
        actions, side by side (a batch's are gathered at once)."""

    @property
    def n_pool(self) -> int:
        """Pool size ``P``."""
        return len(self.pool)

    # ------------------------------------------------------------------ public API
    def retrieve(self, action: Action, excluded: np.ndarray) -> np.ndarray:
        """Dispatch an :class:`Action` to :meth:`by_values` or :meth:`by_probs`."""
        if action.values is not None:
            return self.by_values(action.values, excluded, action.weights)
        return self.by_probs(action.head_probs, excluded, action.weights)  # type: ignore[arg-type]

    def by_values(
        self, values: np.ndarray, excluded: np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """Best unseen item for one chosen value per attribute.

        ``score(item) = sum_k w_k log p_k(values[k] | item)``; ``-1`` (no preference) adds 0.

        Args:
            values: ``(B, K)`` local value indices, ``-1`` for "any value".
            excluded: ``(B, P)`` bool, True for pool positions that may not be shown (already seen).
            weights: optional ``(B, K)`` non-negative ``w_k`` (default 1).

        Returns:
            ``(B,) int64`` catalog indices.
        """
        values = np.asarray(values)
        b = self._check_excluded(excluded)
        k = self.schema.n_attributes
        if values.shape != (b, k) or not np.issubdtype(values.dtype, np.integer):
            raise InputError(
                f"by_values: values must be ({b}, {k}) ints, got {values.shape} {values.dtype}"
            )
        sizes = np.asarray(self.schema.sizes)
        bad = (values < -1) | (values >= sizes)
        if bad.any():
            row, col = map(int, np.argwhere(bad)[0])
            raise InputError(
                f"by_values: row {row}, attribute {self.schema.names[col]!r}: value "
                f"{int(values[row, col])} outside [-1, {sizes[col]})"
            )
        w = self._check_weights(weights, b)
        rows = np.where(values >= 0, self.schema.offsets[:-1] + values, self.schema.n_values)
        first, inverse, keys = _distinct_rows(rows, *(() if w is None else (w,)))
        rows, w = rows[first], None if w is None else w[first]

        def score(d: np.ndarray) -> np.ndarray:
            return self._sum((self._log_t[rows[d, j]] for j in range(k)), w, d)

        return self._select(score, [b"v" + key for key in keys], inverse, excluded)

    def by_probs(
        self,
        head_probs: Sequence[np.ndarray],
        excluded: np.ndarray,
        weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Best unseen item for one distribution per attribute.

        ``score(item) = sum_k w_k log (pi_k @ p_k(. | item))`` — one matrix product per
        attribute (a gather for rows whose head is one-hot).

        Args:
            head_probs: ``K`` arrays ``(B, V_k)``, non-negative, each row with a positive sum.
            excluded: ``(B, P)`` bool, True for pool positions that may not be shown.
            weights: optional ``(B, K)`` non-negative ``w_k`` (default 1).

        Returns:
            ``(B,) int64`` catalog indices.
        """
        b = self._check_excluded(excluded)
        heads = self._check_heads(head_probs, b)
        w = self._check_weights(weights, b)
        first, inverse, keys = _distinct_rows(*heads, *(() if w is None else (w,)))
        heads, w = [h[first] for h in heads], None if w is None else w[first]

        def score(d: np.ndarray) -> np.ndarray:
            return self._sum((self._head_term(k, h[d]) for k, h in enumerate(heads)), w, d)

        def top(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return self._pruned_top([h[d] for h in heads], None if w is None else w[d], score, d)

        return self._select(score, [b"p" + key for key in keys], inverse, excluded, top)

    # ------------------------------------------------------------------ helpers
    def _head_term(self, k: int, head: np.ndarray) -> np.ndarray:
        """``log(pi_k @ p_k(.|item))`` ``(b, P)``: a gather for one-hot rows, else a product."""
        single = np.count_nonzero(head, axis=1) == 1
        if not single.any():
            return self._log_product(k, head)
        v = head.argmax(axis=1)
        term = self._log_t[self.schema.offsets[k] + v]  # one gather for every row
        scale = head[np.arange(len(head)), v]
        rows = np.flatnonzero(single & (scale != 1))  # log(c * p(v)) = log p(v) + log c
        if rows.size:
            term[rows] += np.log(scale[rows])[:, None]
        if not single.all():
            rows = np.flatnonzero(~single)
            term[rows] = self._log_product(k, head[rows])
        return term

    def _log_product(self, k: int, head: np.ndarray) -> np.ndarray:
        """``log(pi_k @ p_k(.|item))`` ``(b, P)``, from the sparse form when ``k`` has one."""
        sparse = self._sparse[k]
        if sparse is not None:
            return sparse.log_product(head, self.eps)
        product = np.matmul(head, self._probs_t[k])
        return np.log(product, out=product)

    @staticmethod
    def _sum(terms: Iterator[np.ndarray], w: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
        """``sum_k w_k term_k`` over the attribute terms ``(b, P)`` of the action ``rows``, in
        attribute order (each term is a fresh array, weighted and summed in place)."""
        scores: np.ndarray | None = None
        for j, term in enumerate(terms):
            if w is not None:
                term *= w[rows, j : j + 1]
            if scores is None:
                scores = term
            else:
                scores += term
        return scores  # type: ignore[return-value]

    def _select(
        self,
        score: Callable[[np.ndarray], np.ndarray],
        keys: list[bytes],
        inverse: np.ndarray,
        excluded: np.ndarray,
        top: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """Best unseen item of each session, its action ``inverse[s]`` (bytes ``keys[a]``) scored
        by ``score(rows)`` (``(len(rows), P)``): the first unseen of the action's top candidates
        (kept from an earlier call when the same action came before; a new action's found by
        ``top(rows)``, default :meth:`_top` of the dense scores) when it beats the bound,
        else the dense ``argmax`` (see the module docstring). When every action is new and
        distinct (random actions, never seen again), finding candidates would cost more than it
        saves: dense for all."""
        if top is None:

            def top(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                return self._top(score(d))

        slot = np.fromiter((self._slot.get(key, -1) for key in keys), np.int64, len(keys))
        new = np.flatnonzero(slot < 0)
        step = max(1, _CHUNK_ELEMENTS // self.n_pool)
        if len(new) == len(inverse):
            out = np.empty(len(inverse), dtype=np.int64)
            with _blas().limit(limits=1, user_api="blas"):
                for lo in range(0, len(inverse), step):
                    rows = np.arange(lo, min(len(inverse), lo + step))
                    out[rows] = self._best(self._scores(score, inverse[rows]), excluded[rows], rows)
            return out
        n_top = min(_TOP, self.n_pool)
        if len(self._slot) + len(new) > _CACHED or self._store[0].shape[1] != n_top:
            self._slot.clear()  # start afresh: this batch's actions are all new again
            size = max(_CACHED, len(keys))
            self._store = (
                np.empty((size, n_top), np.int64),
                np.empty((size, n_top), np.float32),
                np.empty(size, np.float32),
            )
            new = np.arange(len(keys))
        slot[new] = len(self._slot) + np.arange(len(new))
        self._slot.update(zip([keys[i] for i in new], slot[new].tolist(), strict=True))
        with _blas().limit(limits=1, user_api="blas"):
            for lo in range(0, len(new), step):
                d = new[lo : lo + step]
                for kept, found in zip(self._store, top(d), strict=True):
                    kept[slot[d]] = found
            cand, cand_score, bound = (kept[slot] for kept in self._store)
            sessions = np.arange(len(inverse))
            seen = np.take_along_axis(excluded, cand[inverse], axis=1)
            j = np.argmin(seen, axis=1)  # first unseen candidate (0 when all are seen)
            first = cand_score[inverse, j]
            ok = ~seen[sessions, j] & (first > bound[inverse])
            out = self.pool[cand[inverse, j]]
            rest = np.flatnonzero(~ok)
            if rest.size:  # seen every candidate, or a tie at the bound: the dense rule
                out[rest] = self._best(self._scores(score, inverse[rest]), excluded[rest], rest)
        return out

    @staticmethod
    def _scores(score: Callable[[np.ndarray], np.ndarray], actions: np.ndarray) -> np.ndarray:
        """``score(actions)``, each distinct action scored once."""
        distinct, local = np.unique(actions, return_inverse=True)
        if len(distinct) == len(actions):
            return score(actions)
        return score(distinct)[local.reshape(-1)]

    @staticmethod
    def _top(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The :data:`_TOP` best pool positions of each row by (score desc, position asc), their
        scores and the bound: the best score left out (``-inf`` when none is)."""
        n, p = scores.shape
        top = min(_TOP, p)
        if top == p:
            idx = np.broadcast_to(np.arange(p), (n, p))
            bound = np.full(n, -np.inf, dtype=np.float32)
        else:
            part = np.argpartition(-scores, top, axis=1)
            idx = part[:, :top]
            bound = np.take_along_axis(scores, part[:, top : top + 1], axis=1).reshape(-1)
        s = np.take_along_axis(scores, idx, axis=1)
        order = np.lexsort((idx, -s), axis=-1)
        return np.take_along_axis(idx, order, 1), np.take_along_axis(s, order, 1), bound

    def _pruned_top(
        self,
        heads: list[np.ndarray],
        w: np.ndarray | None,
        score: Callable[[np.ndarray], np.ndarray],
        d: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_top` of the actions ``d`` (their ``heads`` and weights ``w``): an action with a
        soft head on a wide attribute (:data:`_MASS`) by bounds (:meth:`_bounded_top`), the others
        (gathers and thin products only) from their dense scores ``score``."""
        n, p = len(heads[0]), self.n_pool
        top = min(_TOP, p)
        bounded = np.zeros(n, dtype=bool)
        for k, mass in enumerate(self._mass):
            if mass is not None and top < p:
                bounded |= np.count_nonzero(heads[k], axis=1) > 1
        idx = np.empty((n, top), dtype=np.int64)
        s = np.empty((n, top), dtype=np.float32)
        bound = np.empty(n, dtype=np.float32)
        rows = np.flatnonzero(bounded)
        step = max(1, _CHUNK_ELEMENTS // (p * (len(heads) + 2)))
        for part in (rows[lo : lo + step] for lo in range(0, rows.size, step)):
            found = self._bounded_top([h[part] for h in heads], None if w is None else w[part])
            ok, dense = part[~found[3]], part[found[3]]
            idx[ok], s[ok], bound[ok] = found[:3]
            bounded[dense] = False
        rows = np.flatnonzero(~bounded)
        if rows.size:
            idx[rows], s[rows], bound[rows] = self._top(score(d[rows]))
        return idx, s, bound

    def _bounded_top(
        self, heads: list[np.ndarray], w: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(idx, scores, bound, dense)``: :meth:`_top` of the actions ``heads`` (weights
        ``w``) that bounds settle, and which actions they leave to the dense scores (``dense``,
        ``(b,) bool``; the first three hold the others' rows in order).

        Each term of a wide attribute under a soft head is bounded (:func:`_mass_bounds`), every
        other term is exact (the gathers and thin products of :meth:`_head_term`), so each item
        has ``lb <= score <= ub`` (each side with a margin ``slack``, :meth:`_slack`, covering
        float32 rounding). ``thr``, the ``(_TOP+1)``-th largest ``lb``, is at most ``t``, the
        ``(_TOP+1)``-th largest score (the ``_TOP+1`` items with ``lb >= thr`` score at least
        that). Only the items with ``ub >= thr`` are scored exactly; every other item scores below
        ``thr <= t``, so the ``_TOP+1`` best of the scored items are the ``_TOP+1`` best of the
        pool, ``t`` and the items strictly above it included: the dense :meth:`_top` (candidates,
        scores, bound ``t``) when scores are distinct; with ties at ``t`` another choice among the
        tied, which :meth:`_select` never accepts (it takes a candidate only strictly above the
        bound). An action whose bounds leave more than ``1/_PRUNED`` of the pool is ``dense``."""
        n, p = len(heads[0]), self.n_pool
        top = min(_TOP, p)
        weight = np.ones((n, len(heads)), np.float32) if w is None else w
        terms: list[np.ndarray] = []  # each attribute's weighted term (a wide one's soft rows: lb)
        soft_rows: list[np.ndarray] = []
        lb = ub = np.zeros((n, p), dtype=np.float32)
        for k, h in enumerate(heads):
            soft = np.flatnonzero(np.count_nonzero(h, axis=1) > 1)
            if self._mass[k] is None or soft.size == 0:
                term = self._head_term(k, h)
                if w is not None:
                    term *= w[:, k : k + 1]
                terms.append(term)
                soft_rows.append(soft[:0])
                lb, ub = lb + term, ub + term
                continue
            term = np.empty((n, p), dtype=np.float32)
            one = np.flatnonzero(np.count_nonzero(h, axis=1) == 1)
            if one.size:
                term[one] = self._head_term(k, h[one])
            upper = term.copy()
            term[soft], upper[soft] = _mass_bounds(self._mass[k], h[soft], self.eps)  # type: ignore[arg-type]
            if w is not None:
                term *= w[:, k : k + 1]
                upper *= w[:, k : k + 1]
            terms.append(term)
            soft_rows.append(soft)
            lb, ub = lb + term, ub + upper
        thr = np.partition(lb, p - top - 1, axis=1)[:, p - top - 1]
        keep = ub >= (thr - 2 * self._slack(heads, weight))[:, None]
        count = keep.sum(axis=1)
        dense = (count * _PRUNED > p) | (count <= top)  # the latter only if a bound failed
        r, items = np.nonzero(keep & ~dense[:, None])
        exact = np.empty(0, dtype=np.float32)
        for k, (term, soft) in enumerate(zip(terms, soft_rows, strict=True)):
            at = term[r, items]
            if soft.size:  # the exact term where the head is soft
                pair = np.flatnonzero(np.isin(r, soft))
                at[pair] = self._log_dot(k, heads[k], r[pair], items[pair])
                if w is not None:
                    at[pair] *= w[r[pair], k]
            if k == 0:
                exact = at
            else:
                exact += at
        order = np.lexsort((items, -exact, r))
        items, exact = items[order], exact[order]
        kept = count[~dense]
        at = (np.cumsum(kept) - kept)[:, None] + np.arange(top + 1)
        return items[at[:, :top]], exact[at[:, :top]], exact[at[:, top]], dense

    def _log_dot(self, k: int, head: np.ndarray, r: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``(n,)`` ``log(head[r] @ p_k(.|items))`` pair by pair (another summation order than
        the dense product: equal up to float rounding)."""
        out = np.empty(len(r), dtype=np.float32)
        step = max(1, _CHUNK_ELEMENTS // head.shape[1])
        for lo in range(0, len(r), step):
            at = slice(lo, lo + step)
            product = head[r[at]] * self._rows[k][items[at]]  # type: ignore[index]
            out[at] = np.log(product.sum(axis=1))
        return out

    def _slack(self, heads: list[np.ndarray], weight: np.ndarray) -> np.ndarray:
        """``(b,)``: at most how far float32 rounding moves a computed score, or a computed
        bound of :meth:`_pruned_top`, from its true value.

        Every term ``log(pi_k @ p_k(.|item))`` and every bound of it lies within
        ``T_k = |log eps| + |log sum pi_k| + 1`` of 0 (``p`` is clipped to ``[eps, 1]``); a float32
        sum of ``V_k`` products errs by at most ``V_k u`` relative (``u = 2^-24``), and a log,
        product or sum adds ``u`` relative, so ``sum_k w_k u (2 V_k + 4 + (K + 4) T_k)`` bounds the
        error of the weighted sum over ``K`` attributes; twice that is returned."""
        err = np.zeros(len(weight), dtype=np.float64)
        n_k = len(heads)
        for k, h in enumerate(heads):
            lsum = np.abs(np.log(h.sum(axis=1, dtype=np.float64)))
            t_k = abs(np.log(self.eps)) + lsum + 1
            err += weight[:, k] * _ULP * (2 * h.shape[1] + 4 + (n_k + 4) * t_k)
        return (2 * err).astype(np.float32)

    def _best(self, scores: np.ndarray, excluded: np.ndarray, sessions: np.ndarray) -> np.ndarray:
        """Dense rule: ``argmax`` of ``scores`` over the unseen items of ``sessions``."""
        np.putmask(scores, excluded, -np.inf)
        pos = scores.argmax(axis=1)
        full = excluded[np.arange(len(pos)), pos]
        if full.any():
            row = int(sessions[np.flatnonzero(full)[0]])
            raise InputError(f"session {row} has already seen all {self.n_pool} items of the pool")
        return self.pool[pos]

    def _check_excluded(self, excluded: np.ndarray) -> int:
        if (
            not isinstance(excluded, np.ndarray)
            or excluded.dtype != bool
            or excluded.ndim != 2
            or excluded.shape[1] != self.n_pool
        ):
            shape = getattr(excluded, "shape", None)
            raise InputError(
                f"excluded must be a (B, {self.n_pool}) bool array over the pool, got {shape}"
            )
        return int(excluded.shape[0])

    def _check_weights(self, weights: np.ndarray | None, b: int) -> np.ndarray | None:
        if weights is None:
            return None
        w = np.asarray(weights, dtype=np.float32)
        if w.shape != (b, self.schema.n_attributes) or not np.isfinite(w).all() or (w < 0).any():
            raise InputError(
                f"weights must be a finite non-negative ({b}, {self.schema.n_attributes}) array, "
                f"got shape {w.shape}"
            )
        return w

    def _check_heads(self, head_probs: Sequence[np.ndarray], b: int) -> list[np.ndarray]:
        if len(head_probs) != self.schema.n_attributes:
            raise InputError(
                f"by_probs: expected {self.schema.n_attributes} heads "
                f"({', '.join(self.schema.names)}), got {len(head_probs)}"
            )
        heads = []
        for name, size, p in zip(self.schema.names, self.schema.sizes, head_probs, strict=True):
            p = np.asarray(p, dtype=np.float32)
            if p.shape != (b, size):
                raise InputError(f"by_probs: head {name!r} must be ({b}, {size}), got {p.shape}")
            if not np.isfinite(p).all() or (p < 0).any() or (p.sum(axis=1) <= 0).any():
                raise InputError(
                    f"by_probs: head {name!r} must be finite, non-negative, with positive row sums"
                )
            heads.append(p)
        return heads
