"""Itemset support kernels (kernels.itemsets) against tests/reference/itemsets.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels import itemsets as ik
from basketguard.kernels.csr import invert as csr_invert
from tests.reference import itemsets as naive


def csr(transactions) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(transactions) + 1, np.int64)
    np.cumsum([len(t) for t in transactions], out=offsets[1:])
    items = np.array([i for t in transactions for i in t], dtype=np.int32).reshape(-1)
    return offsets, items


def lists(offsets, items) -> list[list[int]]:
    return [items[offsets[t]:offsets[t + 1]].tolist() for t in range(offsets.shape[0] - 1)]


def key_of(itemset, n_items) -> int:
    key = 0
    for i in itemset:
        key = key * n_items + i
    return key


@st.composite
def baskets(draw, max_tx=12, max_len=7):
    """Raw transactions (repeats, any order) and n_items; sometimes huge codes."""
    n_items = draw(st.sampled_from([1, 2, 3, 5, 8]) | st.integers(1, 12))
    pool = st.integers(0, n_items - 1)
    if draw(st.booleans()) and n_items > 2:  # a few large codes in a wide coding
        wide = draw(st.integers(n_items, 40_000))
        pool = st.sampled_from(sorted({0, 1, wide - 2, wide - 1}))
        n_items = wide
    tx = draw(st.lists(st.lists(pool, max_size=max_len), max_size=max_tx))
    if tx and draw(st.booleans()):  # repeated transactions make supports >= 2
        tx += draw(st.lists(st.sampled_from(tx), max_size=6))
    return tx, n_items


def normal(tx):
    return csr(naive.normalize(tx))


# ------------------------------------------------------------------ normalize
@given(baskets())
def test_normalize_matches_sorted_set(case):
    tx, _ = case
    offsets, items = ik.normalize_transactions(*csr(tx))
    assert offsets.dtype == np.int64 and items.dtype == np.int32
    assert lists(offsets, items) == naive.normalize(tx)


def test_normalize_long_transaction_uses_sort():
    tx = [list(range(100, 0, -1)) * 2, [3, 3], []]
    assert lists(*ik.normalize_transactions(*csr(tx))) == naive.normalize(tx)


@given(baskets())
def test_invert_lists_transactions_of_each_item(case):
    tx, n = case
    offsets, items = normal(tx)
    tx_off, tx_ids = csr_invert(offsets, items, n)
    norm = naive.normalize(tx)
    for a in {i for t in norm for i in t} | {0, n - 1}:
        assert tx_ids[tx_off[a]:tx_off[a + 1]].tolist() == [t for t, s in enumerate(norm)
                                                           if a in s]


# ---------------------------------------------------------------- violations
def _check_violations(got, tx, n, k, size):
    want = naive.violations(tx, k, size)
    n_bad, involvement, affected = got
    assert n_bad == len(want["itemsets"])
    assert involvement.shape == (n,) and involvement.dtype == np.int64
    assert {i: int(c) for i, c in enumerate(involvement) if c} == want["involvement"]
    assert affected.tolist() == want["affected"]


@given(baskets(), st.integers(1, 5))
def test_item_violations(case, k):
    tx, n = case
    _check_violations(ik.item_violations(*normal(tx), n, k), tx, n, k, 1)


@given(baskets(), st.integers(1, 5))
def test_pair_violations(case, k):
    tx, n = case
    _check_violations(ik.pair_violations(*normal(tx), n, k), tx, n, k, 2)


@given(baskets(max_len=6), st.integers(1, 5), st.integers(1, 4))
def test_itemset_violations_any_size(case, k, size):
    tx, n = case
    if n ** size >= 2**63:
        return
    _check_violations(ik.itemset_violations(*normal(tx), n, k, size), tx, n, k, size)


@given(baskets(), st.integers(1, 4), st.integers(0, 4), st.sampled_from([1, 3, 1 << 24]))
def test_itemset_supports(case, size, below, budget):
    tx, n = case
    keys, counts = ik.itemset_supports(*normal(tx), n, size, below=below, budget=budget)
    want = {s: c for s, c in naive.supports(tx, size).items() if below == 0 or c < below}
    assert keys.tolist() == sorted(key_of(s, n) for s in want)
    assert dict(zip(keys.tolist(), counts.tolist(), strict=True)) == \
        {key_of(s, n): c for s, c in want.items()}
    rows = ik.decode_keys(keys, n, size)
    assert {tuple(r) for r in rows.tolist()} == set(want)


@given(baskets(), st.integers(1, 3), st.data())
def test_mark_transactions(case, size, data):
    tx, n = case
    occurring = sorted(naive.supports(tx, size))
    chosen = data.draw(st.lists(st.sampled_from(occurring), unique=True)) if occurring else []
    # an itemset that occurs nowhere marks nothing
    keys = np.array(sorted({key_of(s, n) for s in chosen}), np.int64)
    flags = ik.mark_transactions(*normal(tx), n, size, keys)
    want = [any(s in set(chosen) for s in naive.supports([t], size)) for t in tx]
    assert flags.tolist() == want


@given(baskets(), st.integers(1, 5))
def test_pair_fast_path_equals_general(case, k):
    tx, n = case
    fast = ik.pair_violations(*normal(tx), n, k)
    general = ik.itemset_violations(*normal(tx), n, k, 2)
    assert fast[0] == general[0]
    np.testing.assert_array_equal(fast[1], general[1])
    np.testing.assert_array_equal(fast[2], general[2])


EDGE_CASES = {
    # name: (transactions, n_items, k, size)
    "empty": ([], 1, 5, 2),
    "no_items": ([[], []], 3, 2, 1),
    "one_transaction": ([[0, 1, 2]], 3, 2, 2),
    "duplicates_count_once": ([[1, 1, 0], [0, 1, 1, 1]], 2, 3, 2),
    "k1_never_violates": ([[0, 1], [1, 2], [0, 2, 3]], 4, 1, 2),
    "all_common": ([[0, 1]] * 5, 2, 5, 2),
    "just_below": ([[0, 1]] * 4 + [[0], [1]], 2, 5, 2),
    "large_codes": ([[0, 99_999], [99_999]], 100_000, 2, 2),
    "triple": ([[0, 1, 2], [0, 1, 2], [0, 1]], 3, 3, 3),
}


@pytest.mark.parametrize("name", EDGE_CASES)
def test_edge_cases(name):
    tx, n, k, size = EDGE_CASES[name]
    if size == 2:
        _check_violations(ik.pair_violations(*normal(tx), n, k), tx, n, k, size)
    _check_violations(ik.itemset_violations(*normal(tx), n, k, size), tx, n, k, size)


def test_k1_has_no_violations_anywhere():
    tx = [[0, 1, 2], [2, 3], [1]]
    for size in (1, 2, 3):
        assert ik.itemset_violations(*normal(tx), 4, 1, size)[0] == 0


BAD_INPUTS = {
    "unsorted": (np.array([0, 2], np.int64), np.array([1, 0], np.int32), ValueError),
    "repeated": (np.array([0, 2], np.int64), np.array([1, 1], np.int32), ValueError),
    "code_too_large": (np.array([0, 1], np.int64), np.array([5], np.int32), ValueError),
    "negative": (np.array([0, 1], np.int64), np.array([-1], np.int32), ValueError),
    "offsets_dtype": (np.array([0, 1], np.int32), np.array([0], np.int32), TypeError),
    "items_dtype": (np.array([0, 1], np.int64), np.array([0], np.int64), TypeError),
    "offsets_end": (np.array([0, 2], np.int64), np.array([0], np.int32), ValueError),
    "offsets_decrease": (np.array([0, 2, 1, 3], np.int64), np.zeros(3, np.int32), ValueError),
}


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_inputs_raise(name):
    offsets, items, exc = BAD_INPUTS[name]
    with pytest.raises(exc):
        ik.pair_violations(offsets, items, 3, 2)


def test_bad_options_raise():
    offsets, items = normal([[0, 1]])
    with pytest.raises(ValueError, match="k must be"):
        ik.pair_violations(offsets, items, 2, 0)
    with pytest.raises(ValueError, match="int64 key"):
        ik.itemset_supports(offsets, items, 2**31 - 1, 3)
    with pytest.raises(ValueError, match="size"):
        ik.itemset_supports(offsets, items, 2, 0)
    with pytest.raises(ValueError, match="ascending"):
        ik.mark_transactions(offsets, items, 2, 1, np.array([1, 0], np.int64))


@pytest.mark.jit
def test_pair_violations_random_larger(rng):
    n = 300
    lens = rng.integers(0, 20, 3000)
    tx = [rng.zipf(1.3, size=ln).clip(1, n).astype(int) - 1 for ln in lens]
    tx = [t.tolist() for t in tx]
    for k in (2, 5):
        _check_violations(ik.pair_violations(*normal(tx), n, k), tx, n, k, 2)
