"""Retrieval: exact and soft matches, exclusion, weights, by_values == by_probs, pruning."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import make_toy_catalog
from tests.simulator.hand import make_hand_catalog
from textrec.catalog import retrieval
from textrec.catalog.retrieval import Action, Retriever, resolve_pool


def one_hot(values: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    return [np.eye(size, dtype=np.float32)[values[:, k]] for k, size in enumerate(sizes)]


def reference_scores(retriever: Retriever, heads: list[np.ndarray], row: int) -> np.ndarray:
    """``Σ_k log Σ_v π_k(v) p_k(v | item)`` for every pool item, with plain loops."""
    c = retriever.catalog
    probs = np.clip(c.value_probs[retriever.pool], retriever.eps, 1.0)
    out = np.zeros(len(retriever.pool))
    for j in range(len(retriever.pool)):
        for k, (lo, hi) in enumerate(zip(c.schema.offsets[:-1], c.schema.offsets[1:], strict=True)):
            out[j] += np.log(sum(heads[k][row, v] * probs[j, lo + v] for v in range(hi - lo)))
    return out


def test_exact_match_found_when_one_exists(toy_catalog):
    r = Retriever(toy_catalog, "train")
    labels = toy_catalog.labels[r.pool]
    full = (labels >= 0).all(axis=1)
    values = labels[full]
    items = r.by_values(values, np.zeros((len(values), r.n_pool), dtype=bool))
    g = toy_catalog.schema.offsets[:-1] + values
    assert toy_catalog.label_sets[items[:, None], g].all()


def test_multi_valued_item_matches_any_of_its_values():
    c = make_hand_catalog()
    r = Retriever(c, "all")
    excluded = np.zeros((1, r.n_pool), dtype=bool)
    excluded[0, 0] = True  # the only red boot for women except item 3 (men;women)
    assert r.by_values(np.array([[0, 0, 1]]), excluded).tolist() == [3]


def test_soft_match_follows_attrnet_probability():
    """Test items are scored by AttrNet: item 4's gender is 50/50, item 5 is surely women."""
    c = make_hand_catalog()
    r = Retriever(c, "test")
    none = np.zeros((1, 2), dtype=bool)
    assert r.by_values(np.array([[-1, 1, 1]]), none).tolist() == [5]  # shoe for women
    assert r.by_values(np.array([[-1, 1, 0]]), none).tolist() == [4]  # shoe for men: 0.5 beats eps


def test_never_repeats_and_raises_when_the_pool_is_exhausted(toy_catalog):
    r = Retriever(toy_catalog, "test")
    rng = np.random.default_rng(0)
    values = np.stack([rng.integers(0, s, 3) for s in toy_catalog.schema.sizes], axis=1)
    excluded = np.zeros((3, r.n_pool), dtype=bool)
    shown = []
    for _ in range(r.n_pool):
        items = r.by_values(values, excluded)
        excluded[np.arange(3), np.searchsorted(r.pool, items)] = True
        shown.append(items)
    shown = np.stack(shown, axis=1)
    for row in shown:
        assert sorted(row.tolist()) == sorted(r.pool.tolist())
    with pytest.raises(ValueError, match="session 0 has already seen all"):
        r.by_values(values, excluded)


@pytest.mark.parametrize("with_weights", [False, True])
def test_by_values_equals_by_probs_with_one_hot_heads(toy_catalog, with_weights):
    rng = np.random.default_rng(3)
    for pool in ("train", "test"):
        r = Retriever(toy_catalog, pool)
        values = np.stack([rng.integers(0, s, 64) for s in toy_catalog.schema.sizes], axis=1)
        excluded = rng.random((64, r.n_pool)) < 0.3
        weights = rng.random((64, 3)).astype(np.float32) if with_weights else None
        heads = one_hot(values, toy_catalog.schema.sizes)
        np.testing.assert_array_equal(
            r.by_values(values, excluded, weights), r.by_probs(heads, excluded, weights)
        )
        action = Action(values=values, weights=weights)
        np.testing.assert_array_equal(
            r.retrieve(action, excluded), r.by_values(values, excluded, weights)
        )


def test_by_probs_maximises_the_documented_score(toy_catalog):
    rng = np.random.default_rng(5)
    r = Retriever(toy_catalog, "test")
    heads = [rng.dirichlet(np.ones(s), size=4).astype(np.float32) for s in toy_catalog.schema.sizes]
    heads[1][2] = [0, 0, 0.3, 0]  # one-hot rows (any scale) take the gather path
    heads[0][1] = [0, 1, 0]
    excluded = np.zeros((4, r.n_pool), dtype=bool)
    excluded[:, :3] = True
    items = r.by_probs(heads, excluded)
    for row in range(4):
        ref = reference_scores(r, heads, row)
        ref[:3] = -np.inf
        assert items[row] == r.pool[int(np.argmax(ref))]


def test_weights_rank_known_values_first():
    """Red (weight 1) against boot + women guesses (weight 0.1 each)."""
    c = make_hand_catalog()
    r = Retriever(c, np.array([1, 2]))  # blue boot women, red shoe men
    heads = [np.array([[1.0, 0, 0]]), np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])]
    none = np.zeros((1, 2), dtype=bool)
    assert r.by_probs(heads, none).tolist() == [1]  # unweighted: two matches beat one
    assert r.by_probs(heads, none, np.array([[1.0, 0.1, 0.1]])).tolist() == [2]


def test_no_preference_and_ties_go_to_the_earliest_pool_position(toy_catalog):
    r = Retriever(toy_catalog, "train")
    excluded = np.zeros((2, r.n_pool), dtype=bool)
    excluded[1, :5] = True
    items = r.by_values(np.full((2, 3), -1), excluded)
    assert items.tolist() == [r.pool[0], r.pool[5]]


def test_action_take_and_validation():
    values = np.arange(6).reshape(2, 3)
    a = Action(values=values, weights=np.ones((2, 3)))
    assert a.take(np.array([1])).values.tolist() == [[3, 4, 5]] and a.n_sessions == 2
    heads = Action(head_probs=(np.ones((2, 3)), np.ones((2, 2))))
    assert heads.take(np.array([True, False])).head_probs[1].shape == (1, 2)
    with pytest.raises(ValueError, match="or both"):
        Action()
    with pytest.raises(ValueError, match="disagree"):
        Action(values=values, head_probs=(np.ones((2, 3)),))


def test_action_log_prob_scores_the_normalised_heads():
    heads = (np.array([[1.0, 3.0], [2.0, 2.0]]), np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]))
    a = Action(values=np.array([[1, 2], [0, 0]]), head_probs=heads)
    got = a.log_prob(np.array([[1, 2], [0, 1]]))
    want = [[np.log(0.75), np.log(0.5)], [np.log(0.5), -np.inf]]
    np.testing.assert_allclose(got, want)
    assert a.take(np.array([1])).log_prob(np.array([[1, 0]])).tolist() == [[np.log(0.5), 0.0]]
    with pytest.raises(ValueError, match="values only"):
        Action(values=np.zeros((1, 2), dtype=int)).log_prob(np.zeros((1, 2), dtype=int))


def test_bad_input(toy_catalog):
    r = Retriever(toy_catalog, "test")
    ok = np.zeros((1, r.n_pool), dtype=bool)
    with pytest.raises(ValueError, match=r"values must be \(1, 3\) ints"):
        r.by_values(np.zeros((1, 2), dtype=int), ok)
    with pytest.raises(ValueError, match=r"row 0, attribute 'gender': value 4 outside \[-1, 4\)"):
        r.by_values(np.array([[0, 4, 0]]), ok)
    with pytest.raises(ValueError, match="excluded must be a"):
        r.by_values(np.zeros((1, 3), dtype=int), np.zeros((1, r.n_pool + 1), dtype=bool))
    with pytest.raises(ValueError, match="excluded must be a"):
        r.by_values(np.zeros((1, 3), dtype=int), np.zeros((1, r.n_pool), dtype=int))
    with pytest.raises(ValueError, match="expected 3 heads"):
        r.by_probs([np.ones((1, 3))], ok)
    with pytest.raises(ValueError, match=r"head 'gender' must be \(1, 4\)"):
        r.by_probs([np.ones((1, 3)), np.ones((1, 3)), np.ones((1, 3))], ok)
    with pytest.raises(ValueError, match="positive row sums"):
        r.by_probs([np.ones((1, 3)), np.zeros((1, 4)), np.ones((1, 3))], ok)
    with pytest.raises(ValueError, match="weights must be a finite non-negative"):
        r.by_values(np.zeros((1, 3), dtype=int), ok, weights=-np.ones((1, 3)))
    with pytest.raises(ValueError, match="eps must be in"):
        Retriever(toy_catalog, "test", eps=0.0)


def test_only_a_split_that_pays_is_made(toy_catalog):
    """A few values per attribute (the toy's 3-4) cost less as the product than as gathers: the
    mixed pool stays dense by default, and an AttrNet pool (every item with many values) stays
    dense however gathers are weighed."""
    assert all(s is None for s in Retriever(toy_catalog, "all")._sparse)
    assert all(s is None for s in Retriever(toy_catalog, "test")._sparse)


def test_resolve_pool():
    c = make_toy_catalog()
    np.testing.assert_array_equal(resolve_pool(c, "test"), c.pool("test"))
    assert resolve_pool(c, [3, 1]).tolist() == [3, 1]
    with pytest.raises(ValueError, match="pool index 500 outside catalog 'toy'"):
        resolve_pool(c, [1, 500])
    with pytest.raises(ValueError, match="unique"):
        resolve_pool(c, [1, 1])
    with pytest.raises(ValueError, match="unknown pool"):
        resolve_pool(c, "valid")  # type: ignore[arg-type]


@pytest.mark.parametrize("pool", ["train", "test", "all"])
def test_sparse_and_dense_products_give_the_documented_score(toy_catalog, pool, monkeypatch):
    """A labeled pool's few values per item take the sparse (per-pattern) path, an AttrNet pool
    the dense product, a pool of both (``all``) the sparse path for its labeled items and the
    product for the others (split however few the values, here); all reach the reference score
    of every item."""
    rng = np.random.default_rng(7)
    monkeypatch.setattr(retrieval, "_GATHER", 1)
    r = Retriever(toy_catalog, pool)
    assert any(s is not None for s in r._sparse) == (pool != "test")
    if pool == "all":  # the labeled items sparse, the predicted ones dense
        assert any(s is not None and s.dense_t is not None for s in r._sparse)
    heads = [rng.dirichlet(np.ones(s), size=5).astype(np.float32) for s in toy_catalog.schema.sizes]
    heads[0][3] = np.eye(len(heads[0][3]), dtype=np.float32)[1]  # a one-hot row among soft rows
    for k in range(len(heads)):
        term = r._head_term(k, heads[k])
        lo, hi = toy_catalog.schema.offsets[k], toy_catalog.schema.offsets[k + 1]
        probs = np.clip(toy_catalog.value_probs[r.pool, lo:hi], r.eps, 1.0).astype(np.float64)
        np.testing.assert_allclose(term, np.log(heads[k] @ probs.T), rtol=1e-5, atol=1e-5)
    items = r.by_probs(heads, np.zeros((5, r.n_pool), dtype=bool))
    for row in range(5):
        ref = reference_scores(r, heads, row)
        assert ref[np.flatnonzero(r.pool == items[row])[0]] == pytest.approx(ref.max(), abs=1e-5)


def documented_scores(
    retriever: Retriever, heads: list[np.ndarray | None], weights: np.ndarray | None
) -> np.ndarray:
    """``(B, P)`` ``sum_k w_k log(pi_k @ clip(p_k))`` in float64, straight from the docstring; a
    head of ``None`` (no preference) adds nothing."""
    c = retriever.catalog
    probs = np.clip(c.value_probs[retriever.pool], retriever.eps, 1.0).astype(np.float64)
    out = np.zeros((len(weights if weights is not None else heads[0]), retriever.n_pool))
    for k, (lo, hi) in enumerate(zip(c.schema.offsets[:-1], c.schema.offsets[1:], strict=True)):
        if heads[k] is None:
            continue
        term = np.log(heads[k].astype(np.float64) @ probs[:, lo:hi].T)
        out += term if weights is None else weights[:, k : k + 1] * term
    return out


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31 - 1),
    top=st.integers(1, 6),
    pool=st.sampled_from(["train", "test", "all"]),
    soft=st.booleans(),
    weighted=st.booleans(),
)
def test_pruned_retrieval_returns_the_dense_rules_item(
    toy_catalog, monkeypatch, seed, top, pool, soft, weighted
):
    """Sessions sharing a few actions take the pruned path, with ``_TOP`` made small so that the
    top candidates, their bound and the dense fallback are all exercised: every item is a best
    unseen item by the documented score (float64). One value per attribute (gathers and sums, the
    same float32 arithmetic whatever the batch): exactly the dense rule's item, ties to the
    earliest position (the labeled train pool makes many exact ties). Soft heads: the matrix
    product's rounding depends on the batch, so near-ties are compared within 1e-5."""
    monkeypatch.setattr(retrieval, "_TOP", top)
    monkeypatch.setattr(retrieval, "_GATHER", 1)  # the toy's few values: split "all" anyway
    rng = np.random.default_rng(seed)
    r = Retriever(toy_catalog, pool)
    sizes = toy_catalog.schema.sizes
    n_actions, b = int(rng.integers(1, 5)), int(rng.integers(10, 30))
    values = np.stack([rng.integers(0, s, n_actions) for s in sizes], axis=1)
    values[:, int(rng.integers(0, len(sizes)))] = -1  # one attribute without preference
    if soft:  # coarse distributions (near-ties between items); one-hot heads name a value
        action_heads = [rng.integers(0, 3, (n_actions, s)).astype(np.float32) for s in sizes]
        for k, h in enumerate(action_heads):
            h[h.sum(axis=1) == 0, 0] = 1.0
            named = rng.random(n_actions) < 0.5
            h[named] = 2.0 * np.eye(sizes[k], dtype=np.float32)[np.maximum(values[named, k], 0)]
    else:
        action_heads = [
            None if values[0, k] < 0 else np.eye(s, dtype=np.float32)[values[:, k]]
            for k, s in enumerate(sizes)
        ]
    action_w = rng.choice([0.5, 1.0, 2.0], (n_actions, len(sizes))).astype(np.float32)
    which = rng.integers(0, n_actions, b)
    heads = [None if h is None else h[which] for h in action_heads]
    weights = action_w[which] if weighted else None
    for _ in range(2):  # the second call finds the actions' candidates kept from the first
        excluded = rng.random((b, r.n_pool)) < rng.random((b, 1))  # none to nearly all seen
        excluded[np.arange(b), rng.integers(0, r.n_pool, b)] = False
        check_best_unseen(r, values[which], heads, weights, excluded, soft, weighted)


def check_best_unseen(r, values, heads, weights, excluded, soft, weighted) -> None:
    """The retriever's items for ``excluded`` are best unseen items by the documented score;
    by values, exactly the dense rule's items."""
    b, sizes = len(excluded), r.schema.sizes
    if soft:
        got = r.by_probs(heads, excluded, weights)
    else:
        got = r.by_values(values, excluded, weights)
        rows = np.where(values >= 0, r.schema.offsets[:-1] + values, -1)
        terms = (r._log_t[rows[:, k]] for k in range(len(sizes)))
        dense = r._best(r._sum(terms, weights, np.arange(b)), excluded, np.arange(b))
        np.testing.assert_array_equal(got, dense)
    ref = documented_scores(r, heads, weights if weighted else np.ones((b, len(sizes))))
    ref[excluded] = -np.inf
    at = np.argmax(r.pool[None, :] == got[:, None], axis=1)
    np.testing.assert_allclose(ref[np.arange(b), at], ref.max(axis=1), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("head_kind", ["uniform", "ones", "dirichlet", "sparse"])
def test_mass_bounds_hold_with_their_rounding_margin(toy_catalog, head_kind):
    """``_mass_bounds`` bracket the computed term, the product's or the pairwise dot's, once the
    rounding margin ``_slack`` is added: a uniform head makes the upper bound exact in real
    arithmetic, so without the margin the computed product exceeds it for many items (this test
    goes red with ``_ULP = 0``)."""
    rng = np.random.default_rng(3)
    r = Retriever(toy_catalog, "test")
    n_v, n_p = 685, 4000
    probs_t = np.clip(rng.dirichlet(np.full(n_v, 0.05), size=n_p).astype(np.float32), r.eps, 1.0)
    probs_t = np.ascontiguousarray(probs_t.T)
    head = {
        "uniform": np.full((2, n_v), 1.0 / n_v, dtype=np.float32),
        "ones": np.ones((2, n_v), dtype=np.float32),
        "dirichlet": rng.dirichlet(np.ones(n_v), size=2).astype(np.float32),
        "sparse": rng.dirichlet(np.ones(n_v), size=2).astype(np.float32)
        * (rng.random((2, n_v)) < 0.05),
    }[head_kind]
    head[:, 0] += np.float32(head_kind == "sparse")  # a positive row sum
    lb, ub = retrieval._mass_bounds(retrieval._top_mass(probs_t), head, r.eps)
    slack = r._slack([head], np.ones((2, 1), dtype=np.float32))[:, None]
    truth = np.log(head.astype(np.float64) @ probs_t.astype(np.float64))
    products = (np.log(head @ probs_t), np.log((head[:, None, :] * probs_t.T).sum(axis=2)))
    for computed in (truth, *products):
        assert (computed <= ub + slack).all()
        assert (computed >= lb - slack).all()


def wide_retriever(catalog, pool, monkeypatch, mass: int = 1, settle: bool = True) -> Retriever:
    """A retriever whose every attribute counts as wide (``_GATHER = 1``, ``_MASS = mass``), so
    that soft heads on the toy's few values take the bounded path, which must settle them."""
    monkeypatch.setattr(retrieval, "_GATHER", 1)
    monkeypatch.setattr(retrieval, "_MASS", mass)
    monkeypatch.setattr(retrieval, "_PRUNED", 0)  # bounds however many items they leave
    r = Retriever(catalog, pool)
    assert all(m is not None for m in r._mass)
    if not settle:
        return r
    bounded_top = r._bounded_top

    def settled(*args):  # every action the bounds settle: none left to the dense scores
        found = bounded_top(*args)
        assert not found[3].any()
        return found

    monkeypatch.setattr(r, "_bounded_top", settled)
    return r


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31 - 1),
    top=st.integers(1, 6),
    mass=st.integers(1, 2),
    weighted=st.booleans(),
)
def test_bounded_candidates_are_the_dense_ones(toy_catalog, monkeypatch, seed, top, mass, weighted):
    """New actions with soft heads on wide attributes (Dirichlet heads, some rows one-hot,
    weights with zeros) take the bounded path: their candidates strictly above the bound, in
    order, and the bound are the dense ``_top``'s (up to the product's rounding: scores within
    1e-5), and sessions that have seen from none to nearly all items get a best unseen item by
    the documented score."""
    monkeypatch.setattr(retrieval, "_TOP", top)
    r = wide_retriever(toy_catalog, "test", monkeypatch, mass)
    rng = np.random.default_rng(seed)
    sizes = toy_catalog.schema.sizes
    n = int(rng.integers(1, 8))
    heads = [rng.dirichlet(np.full(s, 0.3), size=n).astype(np.float32) for s in sizes]
    for k, h in enumerate(heads):  # some rows name a value (scaled one-hot)
        named = rng.random(n) < 0.3
        h[named] = (
            rng.choice([1.0, 2.0])
            * np.eye(sizes[k], dtype=np.float32)[rng.integers(0, sizes[k], int(named.sum()))]
        )
    w = rng.choice([0.0, 0.1, 1.0, 3.0], (n, len(sizes))).astype(np.float32) if weighted else None
    d = np.arange(n)

    def score(rows):
        return r._sum((r._head_term(k, h[rows]) for k, h in enumerate(heads)), w, rows)

    idx, s, bound = r._pruned_top(heads, w, score, d)
    ref_idx, ref_s, ref_bound = r._top(score(d))
    np.testing.assert_allclose(bound, ref_bound, rtol=1e-5, atol=1e-5)
    for row in range(n):
        clear = ref_s[row] > ref_bound[row] + 1e-5  # clear of the bound by more than rounding
        assert set(ref_idx[row][clear]) <= set(idx[row][s[row] > bound[row]])
        np.testing.assert_allclose(s[row], ref_s[row], rtol=1e-5, atol=1e-5)
    b = 3 * n
    which = rng.integers(0, n, b)
    excluded = rng.random((b, r.n_pool)) < rng.random((b, 1))
    excluded[np.arange(b), rng.integers(0, r.n_pool, b)] = False
    session_w = None if w is None else w[which]
    got = r.by_probs([h[which] for h in heads], excluded, session_w)
    ref = documented_scores(
        r, [h[which] for h in heads], session_w if weighted else np.ones((b, len(sizes)))
    )
    ref[excluded] = -np.inf
    at = np.argmax(r.pool[None, :] == got[:, None], axis=1)
    np.testing.assert_allclose(ref[np.arange(b), at], ref.max(axis=1), rtol=1e-6, atol=1e-5)


def test_a_bound_too_small_would_change_the_items(toy_catalog, monkeypatch):
    """The bounded path is only as exact as its bounds: with an upper bound too small for some
    items (halfway to the lower bound) it drops items that belong among the candidates (what
    the test above catches)."""
    monkeypatch.setattr(retrieval, "_TOP", 3)
    r = wide_retriever(toy_catalog, "test", monkeypatch, settle=False)
    rng = np.random.default_rng(0)
    heads = [rng.dirichlet(np.ones(s), size=20).astype(np.float32) for s in r.schema.sizes]
    d = np.arange(20)

    def score(rows):
        return r._sum((r._head_term(k, h[rows]) for k, h in enumerate(heads)), None, rows)

    def above_bound(found):  # the candidates _select may accept, by row
        return [tuple(i[sc > b]) for i, sc, b in zip(*found, strict=True)]

    ref = above_bound(r._top(score(d)))
    assert any(len(row) for row in ref)
    assert above_bound(r._pruned_top(heads, None, score, d)) == ref
    true_bounds = retrieval._mass_bounds
    monkeypatch.setattr(
        retrieval, "_mass_bounds", lambda *a: (lambda lo, up: (lo, (lo + up) / 2))(*true_bounds(*a))
    )
    assert above_bound(r._pruned_top(heads, None, score, d)) != ref
