"""Association statistics and false-discovery control (engine.detect.proxystats).

The truth is the plain reference (``tests.reference.proxystats``: exact Fisher
sums with ``math.comb``, MI cell by cell, textbook Benjamini-Hochberg) on
hypothesis tables, small and huge; ``scipy.stats`` on named cases, including
tails too long for the exact reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import fisher_exact, hypergeom

from basketguard.engine.detect.proxystats import (
    FIELDS,
    association,
    benjamini_hochberg,
    rank,
    significant,
)
from tests.reference import proxystats as naive

#: Relative tolerance against the exact reference: float64 rounding of sums and logs.
RTOL = 1e-11
#: p-values below this may be subnormal (or 0) in either.
TINY = 1e-300


@st.composite
def small_tables(draw, max_total: int = 30):
    """Tables with both classes up to ``max_total``; each group plain, empty, full or a corner."""
    n_pos = draw(st.integers(1, max_total))
    n_neg = draw(st.integers(1, max_total))
    shapes = st.sampled_from(["any", "any", "empty", "full", "no_pos", "no_neg", "all_pos"])
    pos, neg = [], []
    for shape in draw(st.lists(shapes, min_size=1, max_size=8)):
        a = draw(st.integers(0, n_pos))
        b = draw(st.integers(0, n_neg))
        a, b = {"any": (a, b), "empty": (0, 0), "full": (n_pos, n_neg), "no_pos": (0, b),
                "no_neg": (a, 0), "all_pos": (n_pos, b)}[shape]
        pos.append(a)
        neg.append(b)
    return pos, neg, n_pos, n_neg


#: Class totals from 1 to far past int64 cross products (10**13 * 10**13).
TOTALS = st.one_of(st.integers(1, 5), st.integers(10**6, 10**13),
                   st.sampled_from([2**31 - 1, 2**31, 2**40, 10**13]))


@st.composite
def huge_tables(draw):
    """Tiny or huge totals; every group in the low corner (a, b <= 30) or the high one."""
    n_pos, n_neg = draw(TOTALS), draw(TOTALS)
    pos, neg = [], []
    for high in draw(st.lists(st.booleans(), min_size=1, max_size=6)):
        da = draw(st.integers(0, min(n_pos, 30)))
        db = draw(st.integers(0, min(n_neg, 30)))
        # one corner for both counts keeps min(k, N - k) small, so math.comb stays cheap
        pos.append(n_pos - da if high else da)
        neg.append(n_neg - db if high else db)
    return pos, neg, n_pos, n_neg


def check_against_reference(pos, neg, n_pos, n_neg) -> None:
    got = association(np.array(pos, np.int64), np.array(neg, np.int64), n_pos, n_neg)
    want = naive.association(pos, neg, n_pos, n_neg)
    assert set(got) == set(FIELDS)
    for name in FIELDS:
        g, w = got[name], np.array(want[name])
        assert g.shape == (len(pos),), name
        if name == "direction":
            assert g.dtype == np.int8
            np.testing.assert_array_equal(g, w)
        elif name == "mutual_information":
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=name)
        else:
            assert g.dtype == np.float64, name
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=TINY, err_msg=name)


@given(small_tables())
def test_small_tables_match_the_reference(table):
    check_against_reference(*table)


@given(small_tables(max_total=1500).filter(lambda t: len(t[0]) <= 3))
def test_medium_tables_match_the_reference(table):
    # tails of up to ~100 terms: several blocks of the vectorized sum
    check_against_reference(*table)


@given(huge_tables())
def test_huge_and_tiny_totals_match_the_reference(table):
    check_against_reference(*table)


@given(small_tables(max_total=80))
def test_tails_are_scipy_hypergeom(table):
    pos, neg, n_pos, n_neg = table
    a, k = np.array(pos), np.array(pos) + np.array(neg)
    got = association(np.array(pos), np.array(neg), n_pos, n_neg)
    n = n_pos + n_neg
    np.testing.assert_allclose(got["p_enriched"], hypergeom.sf(a - 1, n, n_pos, k), rtol=1e-9)
    np.testing.assert_allclose(got["p_depleted"], hypergeom.cdf(a, n, n_pos, k), rtol=1e-9)


#: (name, a, b, n_pos, n_neg): tables checked against scipy.stats.fisher_exact.
FISHER_CASES = [
    ("tea tasting", 3, 1, 4, 4),
    ("a = 0", 0, 5, 10, 10),
    ("a = k", 7, 0, 10, 10),
    ("k = 0", 0, 0, 10, 10),
    ("k = N", 10, 12, 10, 12),
    ("one positive, has it", 1, 3, 1, 20),
    ("one positive, lacks it", 0, 3, 1, 20),
    ("depleted", 1, 40, 50, 50),
    ("tiny p", 100, 0, 100, 10_000),
    ("rare group, big population", 3, 2, 10**6, 10**7),
    ("bulk at the mean (thousands of terms)", 250_000, 250_000, 500_000, 500_000),
    ("bulk off the mean", 251_000, 249_000, 500_000, 500_000),
    ("common group, skewed label", 30_500, 469_500, 60_000, 940_000),
]


@pytest.mark.parametrize("a, b, n_pos, n_neg", [c[1:] for c in FISHER_CASES],
                         ids=[c[0] for c in FISHER_CASES])
def test_one_sided_p_values_are_fisher_exact(a, b, n_pos, n_neg):
    table = [[a, b], [n_pos - a, n_neg - b]]  # rows: has / lacks; columns: positive / negative
    got = association([a], [b], n_pos, n_neg)
    greater = fisher_exact(table, alternative="greater").pvalue
    less = fisher_exact(table, alternative="less").pvalue
    # scipy's Boost pmf is good to ~1e-10 relative at a million customers
    assert got["p_enriched"][0] == pytest.approx(greater, rel=1e-8)
    assert got["p_depleted"][0] == pytest.approx(less, rel=1e-8)
    assert got["p_value"][0] == pytest.approx(min(1.0, 2 * min(greater, less)), rel=1e-8)


def test_same_tables_get_the_same_statistics():
    pos, neg = np.array([2, 0, 2, 5, 2]), np.array([3, 0, 3, 1, 3])
    got = association(pos, neg, 10, 10)
    for name in FIELDS:
        np.testing.assert_array_equal(got[name][[0, 2, 4]], got[name][[0, 0, 0]])


def test_no_groups():
    got = association(np.array([], np.int64), np.array([], np.int64), 3, 4)
    assert all(got[name].shape == (0,) for name in FIELDS)
    assert benjamini_hochberg([]).shape == (0,)
    assert rank(got).shape == (0,)


#: (name, p, q): Benjamini-Hochberg by hand.
BH_CASES = [
    # sorted 0.005 0.01 0.03 0.04 0.5 -> x5/rank 0.025 0.025 0.05 0.05 0.5: already monotone
    ("textbook", [0.01, 0.04, 0.03, 0.005, 0.5], [0.025, 0.05, 0.05, 0.025, 0.5]),
    # 0.02 x3/1, x3/2, x3/3: the step-up minimum gives all three the last one
    ("ties", [0.02, 0.02, 0.02], [0.02, 0.02, 0.02]),
    # 0.4 x3 = 1.2 > 0.45 x3/2 = 0.675: the minimum over j >= i pulls the first down
    ("step-up", [0.4, 0.45, 1.0], [0.675, 0.675, 1.0]),
    ("one", [0.3], [0.3]),
    ("ones and zeros", [1.0, 0.0, 1.0], [1.0, 0.0, 1.0]),
]


@pytest.mark.parametrize("p, q", [c[1:] for c in BH_CASES], ids=[c[0] for c in BH_CASES])
def test_benjamini_hochberg_by_hand(p, q):
    np.testing.assert_allclose(benjamini_hochberg(np.array(p)), q, rtol=1e-15)


P_VALUES = st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
                    max_size=40)


@given(P_VALUES, st.randoms(use_true_random=False))
def test_benjamini_hochberg_properties(p, rnd):
    q = benjamini_hochberg(p)
    p_arr = np.array(p, np.float64)
    np.testing.assert_allclose(q, naive.benjamini_hochberg(p), rtol=1e-15)
    assert np.all(q >= p_arr) and np.all(q <= 1)
    by_p = np.argsort(p_arr, kind="stable")
    assert np.all(np.diff(q[by_p]) >= 0)  # q is monotone in p
    same = p_arr[:, None] == p_arr[None, :]
    assert np.all(q[:, None] == q[None, :], where=same)  # tied p, one q
    perm = list(range(len(p)))
    rnd.shuffle(perm)
    np.testing.assert_array_equal(benjamini_hochberg(p_arr[perm]), q[perm])


def test_rank_by_hand():
    stats = {"direction": np.array([1, -1, 1, 1, 0, 1], np.int8),
             "q_value": np.array([0.01, 0.001, 0.01, 0.2, 0.5, 0.01]),
             "mutual_information": np.array([0.1, 0.5, 0.3, 0.9, 0.0, 0.1]),
             "support": np.array([0.1, 0.2, 0.3, 0.05, 0.5, 0.1])}
    # enriched 2 (q .01, MI .3), 0 and 5 (q .01, MI .1: by index), 3 (q .2); then 1, 4 by q
    np.testing.assert_array_equal(rank(stats), [2, 0, 5, 3, 1, 4])
    np.testing.assert_array_equal(rank(stats, top=3), [2, 0, 5])
    np.testing.assert_array_equal(rank(stats, min_support=0.1), [2, 0, 5, 1, 4])
    np.testing.assert_array_equal(rank(stats, top=0), [])
    assert rank(stats).dtype == np.int64


@given(small_tables(), st.one_of(st.none(), st.integers(0, 10)), st.sampled_from([0.0, 0.1, 0.5]))
def test_rank_matches_the_reference(table, top, min_support):
    got = association(*table)
    want = naive.rank({name: list(got[name]) for name in FIELDS}, top, min_support)
    np.testing.assert_array_equal(rank(got, top=top, min_support=min_support), want)


def test_significant():
    stats = {"q_value": np.array([0.01, 0.05, 0.050001, 1.0])}
    np.testing.assert_array_equal(significant(stats), [True, True, False, False])
    np.testing.assert_array_equal(significant(stats, alpha=0.0), [False] * 4)
    np.testing.assert_array_equal(significant(stats, alpha=1.0), [True] * 4)


#: (name, pos, neg, n_pos, n_neg, message): inputs association refuses.
BAD_INPUTS = [
    ("no positives", [0], [1], 0, 5, "the label has no positives"),
    ("negative total", [0], [1], -1, 5, "the label has no positives"),
    ("no negatives", [1], [0], 5, 0, "the label has no negatives"),
    ("mismatched shapes", [1, 2], [1], 5, 5, r"a count per group: \(2,\) != \(1,\)"),
    ("negative count", [1, -1], [1, 1], 5, 5, r"pos\[1\] = -1 is negative"),
    ("positives above total", [6], [1], 5, 5, r"pos\[0\] = 6 exceeds its class total 5"),
    ("negatives above total", [1], [9], 5, 8, r"neg\[0\] = 9 exceeds its class total 8"),
    ("2-D counts", [[1]], [[1]], 5, 5, "1-D"),
    ("float counts", [1.0], [1.0], 5, 5, "integer counts"),
    ("beyond float64", [1], [1], 2**53, 1, "2\\*\\*53"),
]


@pytest.mark.parametrize("pos, neg, n_pos, n_neg, message", [c[1:] for c in BAD_INPUTS],
                         ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs(pos, neg, n_pos, n_neg, message):
    with pytest.raises(ValueError, match=message):
        association(np.array(pos), np.array(neg), n_pos, n_neg)


@pytest.mark.parametrize("p, message", [([0.5, 1.5], r"p\[1\] = 1.5"), ([math.nan], "p-value"),
                                        ([[0.1]], "1-D"), ([-0.1], "p-value")])
def test_bad_p_values(p, message):
    with pytest.raises(ValueError, match=message):
        benjamini_hochberg(p)


def test_bad_options():
    stats = association([1], [1], 2, 2)
    with pytest.raises(ValueError, match="top"):
        rank(stats, top=-1)
    with pytest.raises(ValueError, match="alpha"):
        significant(stats, alpha=1.5)
