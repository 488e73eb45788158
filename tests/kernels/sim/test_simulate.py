"""Simulator kernels against their plain-Python references (tests/reference/simulate.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from basketguard.kernels.sim.customers import NO_EVENT, draw_customers
from basketguard.kernels.sim.lines import simulate_lines
from basketguard.kernels.sim.sampling import build_alias, poisson
from tests.reference import simulate as naive


def _cdf(rng, *shape):
    w = rng.random(shape) + 0.05
    w[rng.random(shape) < 0.2] = 0.0  # zero-probability categories happen in real tables
    w[..., -1] += 0.1
    c = np.cumsum(w / w.sum(axis=-1, keepdims=True), axis=-1)
    c[..., -1] = 1.0
    return c


def customer_tables(rng, n_days, n_prog, visit_median=1.0):
    a, g, m, ch, e, i, p = (int(x) for x in rng.integers(1, 4, 7))
    return dict(
        n_days=n_days,
        age_cdf=_cdf(rng, a), gender_cdf=_cdf(rng, a, g), marital_cdf=_cdf(rng, a, m),
        partnered=rng.integers(0, 2, m).astype(np.int8), children_cdf=_cdf(rng, a, m, ch),
        extra_adults_cdf=_cdf(rng, a, e), income_cdf=_cdf(rng, a, 2, i),
        postcode_cdf=_cdf(rng, i, p), pl_by_income=rng.random(i),
        visit_median=visit_median, visit_sigma=float(rng.random()),
        basket_median=float(1 + 8 * rng.random()), basket_sigma=0.4,
        join_rate=float(rng.random()), churn_rate=float(rng.random()),
        leakage=float(rng.random()), n_stores=int(rng.integers(1, 5)),
        stray_store_rate=0.3,
        prog_prob=rng.random((n_prog, a, g)), prog_income_mult=rng.random((n_prog, i)) * 2,
        prog_children_mult=rng.random((n_prog, 2)) * 2,
        prog_onset_lo=rng.integers(-60, n_days, n_prog).astype(np.int32),
        prog_onset_hi=None, prog_exclusive=np.array(
            [int(rng.integers(-1, r)) if r else -1 for r in range(n_prog)], np.int32),
    ) | {"prog_onset_hi": None}


def _with_hi(kw, rng):
    lo = kw["prog_onset_lo"]
    kw["prog_onset_hi"] = (lo + rng.integers(1, 90, lo.shape[0])).astype(np.int32)
    return kw


def line_tables(rng, n_days, n_prog, n_items):
    n_groups = int(rng.integers(1, 5))
    group_items, group_cum, off = [], [], [0]
    for _ in range(n_groups):
        k = int(rng.integers(1, min(n_items, 4) + 1))
        items = rng.choice(n_items, k, replace=False).astype(np.int32)
        w = rng.random(k) + 0.1
        cum = np.cumsum(w / w.sum())
        cum[-1] = 1.0
        group_items.append(items)
        group_cum.append(cum)
        off.append(off[-1] + k)
    mask = np.zeros(n_items, np.uint64)
    for gi, items in enumerate(group_items):
        mask[items] |= np.uint64(1) << np.uint64(gi)
    n_stage_per = rng.integers(0, 4, n_prog)
    n_stage = int(n_stage_per.sum())
    start = rng.integers(-30, 30, n_stage)
    twin = np.where(rng.random(n_items) < 0.3, rng.integers(0, n_items, n_items), -1)
    alias = build_alias(rng.random(n_items) + 0.01)
    hours = _cdf(rng, 24)
    return dict(
        n_days=n_days, start_day=19723, start_weekday=int(rng.integers(0, 7)),
        dow_weight=rng.random(7) + 0.5, hour_cdf=hours,
        alias_thr=alias.threshold, alias_idx=alias.alias,
        item_price=np.round(rng.random(n_items) * 20, 2), item_by_weight=rng.integers(0, 2, n_items),
        item_twin=twin.astype(np.int32), item_mask=mask,
        group_off=np.asarray(off, np.int32), group_items=np.concatenate(group_items),
        group_cum=np.concatenate(group_cum),
        prog_stage_off=np.concatenate([[0], np.cumsum(n_stage_per)]).astype(np.int32),
        stage_start=start.astype(np.int32),
        stage_end=(start + rng.integers(1, 60, n_stage)).astype(np.int32),
        stage_period=np.where(rng.random(n_stage) < 0.3, 70, 0).astype(np.int32),
        stage_group=rng.integers(0, n_groups, n_stage).astype(np.int32),
        stage_prob=rng.random(n_stage), stage_qty=1.0 + rng.random(n_stage),
        stage_suppress=(rng.random(n_stage) < 0.3).astype(np.int8),
        fav_share=float(rng.random()), brand_loyalty=float(rng.random()),
        promo_rate=0.2, promo_discount=0.25, other_store_rate=0.3,
        n_stores=int(rng.integers(1, 4)), max_basket=int(rng.integers(1, 30)),
    )


def _population(seed, n_cust, n_days, n_prog, n_items, visit_median=1.0, first=0):
    rng = np.random.default_rng(seed)
    ckw = _with_hi(customer_tables(rng, n_days, n_prog, visit_median), rng)
    lkw = line_tables(rng, n_days, n_prog, n_items)
    lkw["n_stores"] = ckw["n_stores"]
    cust = draw_customers(seed, first, n_cust, **ckw)
    return ckw, lkw, cust


def _assert_customers_match(cust, ref):
    for name in cust._fields:
        got = getattr(cust, name)
        want = np.asarray(ref[name], dtype=got.dtype).reshape(got.shape)
        np.testing.assert_array_equal(got, want, err_msg=name)


def _assert_lines_match(lines, rows, first=0):
    want = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    got = [lines.customer, lines.item, lines.basket, lines.ts, lines.quantity, lines.price,
           lines.store]
    names = ("customer", "item", "basket", "ts", "quantity", "price", "store")
    for k, (name, col) in enumerate(zip(names, got, strict=True)):
        np.testing.assert_array_equal(col, want[:, k].astype(col.dtype), err_msg=name)
    n = lines.offsets.shape[0] - 1
    counts = np.bincount(lines.customer - first, minlength=n)
    np.testing.assert_array_equal(np.diff(lines.offsets), counts[:n])


# ------------------------------------------------------------------- alias


@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=60),
       st.integers(0, 5))
def test_build_alias_matches_reference_and_preserves_weights(weights, n_zero_extra):
    w = np.asarray(weights + [0.0] * n_zero_extra)
    if w.sum() <= 0:
        w[0] = 1.0
    got = build_alias(w)
    thr, alias = naive.build_alias(w)
    np.testing.assert_array_equal(got.threshold, thr)
    np.testing.assert_array_equal(got.alias, alias)
    n = w.shape[0]
    mass = got.threshold / n
    np.add.at(mass, got.alias, (1.0 - got.threshold) / n)
    np.testing.assert_allclose(mass, w / w.sum(), atol=1e-9)


@pytest.mark.parametrize("weights, message", [
    ([], "non-empty"),
    ([[1.0, 2.0]], "non-empty 1-d"),
    ([1.0, -1.0], "non-negative"),
    ([0.0, 0.0], "positive"),
    ([1.0, np.nan], "finite"),
], ids=["empty", "2d", "negative", "all-zero", "nan"])
def test_build_alias_rejects(weights, message):
    with pytest.raises(ValueError, match=message):
        build_alias(np.asarray(weights, dtype=np.float64))


# ----------------------------------------------------------------- Poisson


@given(st.floats(0.0, 200.0) | st.sampled_from([0.0, 1e-300, 0.5, 199.0, 200.0]),
       st.integers(0, 2**53 - 1))
def test_poisson_inverts_the_cdf(lam, bits):
    u = bits / 2.0**53  # a uniform exactly as the kernels make them
    got = poisson(lam, u)
    try:
        want = naive.poisson(lam, u)
    except naive.NearBoundary:
        reject()
    assert got == want


@pytest.mark.parametrize("lam, u, k", [(0.0, 0.0, 0), (0.0, 1 - 2**-53, 0), (1.0, 0.0, 0),
                                       (1.0, 0.5, 1), (3.0, 0.9, 5)])
def test_poisson_known_quantiles(lam, u, k):
    # P(X <= 0) = 0.368 for lam = 1; P(X <= 4) = 0.815, P(X <= 5) = 0.916 for lam = 3
    assert poisson(lam, u) == k == naive.poisson(lam, u)


# --------------------------------------------------------------- customers


@given(st.integers(0, 2**63 - 1), st.integers(0, 6), st.integers(1, 400), st.integers(0, 3),
       st.integers(0, 10**6))
def test_draw_customers_matches_reference(seed, n_cust, n_days, n_prog, first):
    rng = np.random.default_rng(seed % 1000)
    kw = _with_hi(customer_tables(rng, n_days, n_prog), rng)
    got = draw_customers(seed, first, n_cust, **kw)
    ref = naive.draw_customers(seed, first, n_cust, **kw)
    _assert_customers_match(got, ref)
    assert np.all((got.onset == NO_EVENT)
                  | ((got.onset >= kw["prog_onset_lo"]) & (got.onset < kw["prog_onset_hi"])))
    assert np.all(got.active_from < got.active_to)


def test_draw_customers_is_chunk_independent():
    rng = np.random.default_rng(3)
    kw = _with_hi(customer_tables(rng, 100, 3), rng)
    whole = draw_customers(11, 5, 9, **kw)
    parts = [draw_customers(11, 5, 4, **kw), draw_customers(11, 9, 5, **kw)]
    for name in whole._fields:
        np.testing.assert_array_equal(
            getattr(whole, name), np.concatenate([getattr(p, name) for p in parts]))


@pytest.mark.parametrize("change, message", [
    (dict(n_days=0), "n_days"),
    (dict(n_stores=0), "n_stores"),
    (dict(extra_adults_cdf=np.full((1, 2), 0.5)), "extra_adults_cdf"),
    (dict(pl_by_income=np.ones(9)), "pl_by_income"),
    (dict(prog_onset_hi=np.array([-100], np.int32)), "prog_onset_hi"),
    (dict(prog_exclusive=np.array([0], np.int32)), "earlier program"),
], ids=["no-days", "no-stores", "cdf-wrong-shape", "income-table-shape", "empty-onset-window",
        "self-exclusive"])
def test_draw_customers_rejects(change, message):
    rng = np.random.default_rng(1)
    kw = _with_hi(customer_tables(rng, 50, 1), rng)
    kw.update(change)
    with pytest.raises(ValueError, match=message):
        draw_customers(1, 0, 3, **kw)


@pytest.mark.parametrize("seed, first", [(-1, 0), (2**63, 0), (0, -1)],
                         ids=["negative-seed", "seed-too-large", "negative-first"])
def test_draw_customers_rejects_ids(seed, first):
    rng = np.random.default_rng(0)
    kw = _with_hi(customer_tables(rng, 50, 1), rng)
    with pytest.raises(ValueError):
        draw_customers(seed, first, 2, **kw)


# ------------------------------------------------------------------- lines


@given(st.integers(0, 2**63 - 1), st.integers(0, 4), st.integers(1, 60), st.integers(0, 3),
       st.integers(1, 30), st.floats(0.05, 10.0))
def test_simulate_lines_matches_reference(seed, n_cust, n_days, n_prog, n_items, visit_median):
    ckw, lkw, cust = _population(seed, n_cust, n_days, n_prog, n_items, visit_median)
    got = simulate_lines(seed, 0, cust, **lkw)
    try:
        rows = naive.simulate_lines(seed, 0, cust, **lkw)
    except naive.NearBoundary:
        reject()  # a uniform on a CDF step: independent roundings may differ (never seen)
    _assert_lines_match(got, rows)


def _reference_case(seed, n_cust, n_days, n_prog, n_items, visit_median=2.0, first=0,
                    **line_changes):
    ckw, lkw, cust = _population(seed, n_cust, n_days, n_prog, n_items, visit_median, first)
    lkw.update(line_changes)
    got = simulate_lines(seed, first, cust, **lkw)
    _assert_lines_match(got, naive.simulate_lines(seed, first, cust, **lkw), first)
    return got, cust, lkw


@pytest.mark.parametrize("args, changes", [
    ((1, 0, 30, 2, 5), {}),
    ((2, 1, 30, 2, 5), {}),
    ((3, 1, 1, 1, 1), {}),
    ((4, 2, 40, 2, 1), {}),
    ((5, 2, 20, 0, 8), {}),
    ((6, 3, 40, 3, 6), dict(fav_share=1.0, brand_loyalty=1.0)),
    ((7, 3, 40, 3, 6), dict(fav_share=0.0, brand_loyalty=0.0, promo_rate=1.0)),
    ((8, 2, 30, 2, 10), dict(max_basket=1)),
    ((9, 2, 30, 2, 10), dict(n_stores=1, other_store_rate=1.0)),
], ids=["zero-customers", "one-customer", "one-day", "one-item", "no-programs",
        "all-favourites", "no-favourites-all-promo", "one-line-baskets", "one-store"])
def test_simulate_lines_edge_cases(args, changes):
    _reference_case(*args, **changes)


def test_simulate_lines_daily_visitors_take_the_every_day_path():
    got, cust, lkw = _reference_case(12, 2, 20, 1, 5, visit_median=50.0)
    assert np.all(cust.visit_rate == 1.0)
    days = (got.basket - got.customer * lkw["n_days"])
    assert np.unique(got.basket).shape[0] > 10
    assert days.min() >= 0 and days.max() < lkw["n_days"]


def test_simulate_lines_invariants():
    got, cust, lkw = _reference_case(21, 4, 60, 3, 12, visit_median=3.0, first=1000)
    assert np.all(got.quantity > 0)
    assert np.all(np.diff(got.customer) >= 0)
    for i in range(4):
        sl = slice(got.offsets[i], got.offsets[i + 1])
        assert np.all(got.customer[sl] == 1000 + i)
        assert np.all(np.diff(got.ts[sl]) >= 0)
        # one basket per visit day, no repeated item inside a basket
        _, first_idx = np.unique(got.basket[sl], return_index=True)
        pairs = got.basket[sl].astype(np.int64) * 100 + got.item[sl]
        assert np.unique(pairs).shape[0] == pairs.shape[0] or lkw["item_price"].shape[0] < 16
    day = got.ts // 86400 - lkw["start_day"]
    np.testing.assert_array_equal(got.basket, got.customer * lkw["n_days"] + day)


def test_simulate_lines_is_chunk_independent():
    ckw, lkw, _ = _population(5, 0, 50, 2, 10, 2.0)
    whole = simulate_lines(5, 100, draw_customers(5, 100, 7, **ckw), **lkw)
    a = simulate_lines(5, 100, draw_customers(5, 100, 3, **ckw), **lkw)
    b = simulate_lines(5, 103, draw_customers(5, 103, 4, **ckw), **lkw)
    for name in ("customer", "item", "basket", "ts", "quantity", "price", "store"):
        np.testing.assert_array_equal(
            getattr(whole, name), np.concatenate([getattr(a, name), getattr(b, name)]))


@pytest.mark.parametrize("change, message", [
    (dict(n_days=0), "n_days"),
    (dict(max_basket=0), "max_basket"),
    (dict(stage_prob="over"), "stage_prob"),
    (dict(dow_weight=np.ones(6)), "dow_weight"),
    (dict(item_twin=np.zeros(3, np.int32)), "item_twin"),
    (dict(hour_cdf=np.linspace(0, 0.9, 24)), "hour_cdf"),
], ids=["no-days", "empty-baskets", "probability-above-1", "six-weekdays", "twin-shape",
        "hours-not-ending-at-1"])
def test_simulate_lines_rejects(change, message):
    ckw, lkw, cust = _population(0, 2, 20, 2, 6)
    if change.get("stage_prob") == "over":
        change = dict(stage_prob=lkw["stage_prob"] + 2.0)
        if change["stage_prob"].shape[0] == 0:
            pytest.skip("no stages drawn")
    lkw.update(change)
    with pytest.raises(ValueError, match=message):
        simulate_lines(0, 0, cust, **lkw)
