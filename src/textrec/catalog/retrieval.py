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
  action's bytes, up to ``_CACHED`` actions) and later calls with the same action only check the
  session's exclusions. (Only when every action of a batch is new and distinct, as random
  actions are, is every session scored densely instead.)
* **Top candidates, then the session's own exclusions.** For each distinct action the
  ``_TOP`` best items are kept, ordered by (score, pool position), with the score of the best item
  left out (the *bound*). A session shows its first candidate it has not seen; that is exactly
  the dense rule's item whenever the candidate's score is strictly above the bound (every item
  left out scores at most the bound). Otherwise (a session that has seen every candidate, or a tie
  at the bound) the session is scored densely, as before. Exact: the same item as the dense
  ``argmax`` over the unseen items, ties to the earliest pool position (up to the float rounding
  of a matrix product, which may differ in the last bit with the number of rows multiplied at
  once; gathers and sums, as in :meth:`Retriever.by_values`, are bit for bit).
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

_CACHED = 4096
"""Distinct actions whose candidates are kept across calls (then the store starts afresh): about
15 MB on UT-Zappos (an action's bytes and its candidates)."""


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
    return first, inverse.reshape(-1), [d.tobytes() for d in distinct]


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
        log_t = np.zeros((self.schema.n_values + 1, len(self.pool)), dtype=np.float32)
        log_t[:-1] = np.log(probs).T  # last row: "no preference", adds 0 to every item
        self._log_t = log_t
        self._candidates: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        """Top candidates, their scores and bound per action seen before (by its bytes)."""

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

        return self._select(score, [b"p" + key for key in keys], inverse, excluded)

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
    ) -> np.ndarray:
        """Best unseen item of each session, its action ``inverse[s]`` (bytes ``keys[a]``) scored
        by ``score(rows)`` (``(len(rows), P)``): the first unseen of the action's top candidates
        (kept from an earlier call when the same action came before) when it beats the bound,
        else the dense ``argmax`` (see the module docstring). When every action is new and
        distinct (random actions, never seen again), finding candidates would cost more than it
        saves: dense for all."""
        known = [self._candidates.get(key) for key in keys]
        new = np.array([i for i, c in enumerate(known) if c is None], dtype=np.int64)
        step = max(1, _CHUNK_ELEMENTS // self.n_pool)
        if len(new) == len(inverse):
            out = np.empty(len(inverse), dtype=np.int64)
            with _blas().limit(limits=1, user_api="blas"):
                for lo in range(0, len(inverse), step):
                    rows = np.arange(lo, min(len(inverse), lo + step))
                    out[rows] = self._best(self._scores(score, inverse[rows]), excluded[rows], rows)
            return out
        if len(self._candidates) + len(new) > _CACHED:
            self._candidates.clear()
        with _blas().limit(limits=1, user_api="blas"):
            for lo in range(0, len(new), step):
                d = new[lo : lo + step]
                for i, found in zip(d, zip(*self._top(score(d)), strict=True), strict=True):
                    self._candidates[keys[i]] = known[i] = found
            cand, cand_score, bound = (np.stack(x) for x in zip(*known, strict=True))
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
