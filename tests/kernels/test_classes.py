"""Attribute classes (kernels.classes) against tests/reference/classes.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels.classes import (
    ClassCounts,
    class_counts,
    classify,
    composite_key,
    diversity,
    group_keys,
    merge_class_counts,
    radix_argsort,
    size_histogram,
    subset_sizes,
)
from tests.reference import classes as naive


@st.composite
def tables(draw, max_rows=40, max_cols=4, max_card=5):
    """Code columns with their cardinalities (some wide, to force densifying)."""
    k = draw(st.integers(0, max_cols))
    n = draw(st.integers(0, max_rows))
    cards = [draw(st.one_of(st.integers(1, max_card), st.sampled_from([2**31 - 1, 2**20])))
             for _ in range(k)]
    cols = []
    for card in cards:
        # draw from a few values near both ends so that classes repeat
        pool = sorted({0, card - 1, min(1, card - 1), card // 2})
        cols.append(np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)),
                             dtype=np.int32))
    return cols, cards, n


def _check_classes(cols, cards, n, method):
    cl = classify(cols, cards, n=n, method=method)
    ref_of, ref_sizes, _ = naive.classify(cols, n)
    assert cl.class_of.dtype == np.int32 and cl.sizes.dtype == np.int64
    assert cl.class_of.tolist() == ref_of
    assert cl.sizes.tolist() == ref_sizes
    assert np.all(np.diff(cl.keys) > 0)
    return cl


@pytest.mark.parametrize("method", ["auto", "direct", "radix"])
@given(data=tables())
def test_classify_matches_naive(data, method):
    cols, cards, n = data
    if method == "direct" and np.prod([float(c) for c in cards]) > 1e7:
        return  # a direct table over the full key range would not fit
    _check_classes(cols, cards, n, method)


@given(data=tables(), rows=st.lists(st.integers(0, 10**6), max_size=30), k=st.integers(1, 4))
def test_kmap_and_risk_measures(data, rows, k):
    cols, cards, n = data
    if n == 0:
        return
    rows = np.array([r % n for r in rows], np.int64)
    cl = classify(cols, cards, n=n)
    seg = subset_sizes(cl.class_of, rows, cl.n_classes)
    member_seg = seg[cl.class_of[rows]]
    member_pop = cl.sizes[cl.class_of[rows]]
    ref_seg, ref_pop = naive.kmap(naive.tuples(cols, n), rows.tolist())
    assert member_seg.tolist() == ref_seg
    assert member_pop.tolist() == ref_pop
    assert int(seg.sum()) == rows.size


@given(data=tables(max_card=3), values=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_diversity_matches_naive(data, values, seed):
    cols, cards, n = data
    sens = np.random.default_rng(seed).integers(0, values, n).astype(np.int32)
    cl = classify(cols, cards, n=n)
    distinct, entropy = diversity(cl.class_of, cl.n_classes, sens, values)
    ref_d, ref_e = naive.diversity(cl.class_of.tolist(), cl.n_classes, sens.tolist())
    assert distinct.tolist() == ref_d
    np.testing.assert_allclose(entropy, ref_e, rtol=1e-12)
    assert np.all(entropy <= distinct + 1e-9) and np.all(entropy >= (distinct > 0) - 1e-9)


@given(sizes=st.lists(st.integers(0, 9), max_size=30))
def test_size_histogram(sizes):
    values, counts = size_histogram(np.array(sizes, np.int64))
    assert (values.tolist(), counts.tolist()) == naive.size_histogram(sizes)


@given(keys=st.lists(st.integers(0, 2**62 - 1) | st.integers(0, 5), max_size=40))
def test_radix_argsort_is_stable_argsort(keys):
    key = np.array(keys, np.int64)
    bound = int(key.max()) + 1 if key.size else 1
    assert radix_argsort(key, bound).tolist() == np.argsort(key, kind="stable").tolist()


@given(data=tables(), cuts=st.lists(st.integers(0, 40), max_size=4), rev=st.booleans())
def test_merge_of_shards_is_exact(data, cuts, rev):
    cols, cards, n = data
    edges = sorted({0, n, *[min(c, n) for c in cuts]})
    parts = [class_counts([c[a:b] for c in cols], cards, n=b - a)
             for a, b in zip(edges[:-1], edges[1:], strict=True)]
    if rev:
        parts = parts[::-1]
    merged = merge_class_counts(parts, cards)
    whole = class_counts(cols, cards, n=n)
    assert merged.codes.tolist() == whole.codes.tolist()
    assert merged.counts.tolist() == whole.counts.tolist()
    _, ref_sizes, ref_tuples = naive.classify(cols, n)
    assert [tuple(r) for r in whole.codes.tolist()] == ref_tuples
    assert whole.counts.tolist() == ref_sizes


# ------------------------------------------------------------------ named cases
def _i32(*v):
    return np.array(v, np.int32)


CASES = {
    # name: (columns, cards, n, expected class_of, expected sizes)
    "empty": ([_i32(), _i32()], [3, 4], 0, [], []),
    "no_columns": ([], [], 3, [0, 0, 0], [3]),
    "one_record": ([_i32(2)], [3], 1, [0], [1]),
    "all_same": ([_i32(1, 1, 1), _i32(0, 0, 0)], [2, 1], 3, [0, 0, 0], [3]),
    "all_distinct": ([_i32(2, 1, 0)], [3], 3, [2, 1, 0], [1, 1, 1]),
    "lexicographic": ([_i32(1, 0, 1, 0), _i32(0, 1, 0, 0)], [2, 2], 4, [2, 1, 2, 0], [1, 1, 2]),
    "extreme_cards": ([_i32(2**31 - 2, 0, 2**31 - 2)] * 3, [2**31 - 1] * 3, 3, [1, 0, 1],
                      [1, 2]),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("method", ["auto", "radix"])
def test_named_cases(name, method):
    cols, cards, n, of, sizes = CASES[name]
    cl = classify(cols, cards, n=n, method=method)
    assert cl.class_of.tolist() == of
    assert cl.sizes.tolist() == sizes


def test_composite_key_densifies_wide_tuples():
    cols = [_i32(5, 5, 7), _i32(2**31 - 2, 1, 2**31 - 2), _i32(3, 3, 3)]
    key, bound = composite_key(cols, [2**31 - 1] * 3)
    assert bound <= 2**62 and key.max() < bound
    assert key[0] != key[1] != key[2] and key[1] < key[0] < key[2]


@pytest.mark.parametrize("bad, err", [
    (([_i32(0, 3)], [3]), ValueError),              # code == card
    (([_i32(-1)], [3]), ValueError),                # negative code
    (([np.array([0], np.int64)], [3]), TypeError),  # wrong dtype
    (([_i32(0), _i32(0, 1)], [2, 2]), ValueError),  # lengths differ
    (([_i32(0)], [0]), ValueError),                 # cardinality 0
    (([_i32(0)], [2, 2]), ValueError),              # cards do not match columns
])
def test_bad_input(bad, err):
    with pytest.raises(err):
        classify(*bad)


def test_group_keys_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        group_keys(np.zeros(2, np.int64), 1, method="hash")


def test_merge_nothing():
    m = merge_class_counts([], [3, 4])
    assert m.codes.shape == (0, 2) and m.counts.size == 0
    with pytest.raises(ValueError):
        merge_class_counts([ClassCounts(np.zeros((1, 1), np.int32), np.ones(1, np.int64))],
                           [3, 4])


def test_larger_random_matches_numpy(rng):
    n = 20_000
    cards = [6, 5, 60, 6, 5, 5, 3]
    cols = [rng.integers(0, c, n).astype(np.int32) for c in cards]
    cl = classify(cols, cards)
    stacked = np.stack(cols, axis=1)
    uniq, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    assert cl.class_of.tolist() == inverse.ravel().tolist()
    assert cl.sizes.tolist() == counts.tolist()
    assert class_counts(cols, cards).codes.tolist() == uniq.tolist()


def test_bad_code_message_names_the_first_bad_column():
    # the one-pass key (no densifying) reports like the column-by-column one
    with pytest.raises(ValueError, match=r"column 1: 2 code\(s\) outside \[0, 2\)"):
        classify([_i32(0, 1, 0), _i32(0, 2, 5)], [2, 2])
    with pytest.raises(ValueError, match=r"column 0: 1 code\(s\) outside \[0, 3\)"):
        composite_key([_i32(-1, 0), _i32(7, 0)], [3, 2])


def test_one_pass_key_matches_column_by_column(rng):
    cards = [6, 5, 216, 8, 5, 5, 3]
    cols = [rng.integers(0, c, 5000).astype(np.int32) for c in cards]
    key, bound = composite_key(cols, cards)
    ref = np.zeros(5000, np.int64)
    for col, card in zip(cols, cards, strict=True):
        ref = ref * card + col
    assert bound == int(np.prod(cards)) and np.array_equal(key, ref)
    # non-contiguous columns are accepted
    wide = [np.repeat(c, 2)[::2] for c in cols]
    assert np.array_equal(composite_key(wide, cards)[0], ref)


@given(st.integers(1, 20), st.integers(0, 2**32 - 1))
def test_one_pass_key_of_any_number_of_columns(k, seed):
    """The one-pass key of 1 to 20 columns is the column-by-column mixed-radix key."""
    rng = np.random.default_rng(seed)
    cards = [int(c) for c in rng.integers(1, 8, k)]
    cols = [rng.integers(0, c, 50).astype(np.int32) for c in cards]
    key, bound = composite_key(cols, cards)
    ref = np.zeros(50, np.int64)
    for col, card in zip(cols, cards, strict=True):
        ref = ref * card + col
    assert bound == int(np.prod(cards, dtype=object)) and np.array_equal(key, ref)
    bad = [c.copy() for c in cols]
    bad[-1][3] = cards[-1]
    with pytest.raises(ValueError, match=f"column {k - 1}: 1 code"):
        composite_key(bad, cards)
