"""Decoy selection (kernels.decoys) against tests/reference/decoys.py."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels.decoys import Selection, allocate, select_stratified
from basketguard.kernels.rng import derive_key
from tests.reference import decoys as naive

U64_MAX = 2**64 - 1
BIG = 2**62  # keys this large make group_keys sort instead of counting


# ------------------------------------------------------------------ allocate
@given(counts=st.lists(st.integers(0, 9) | st.sampled_from([2**40, 2**62]), max_size=8),
       total=st.integers(0, 30) | st.sampled_from([2**61, 2**63 - 1]))
def test_allocate_matches_reference(counts, total):
    if sum(counts) == 0 and total > 0:
        with pytest.raises(ValueError, match="sum to 0"):
            allocate(np.array(counts, np.int64), total)
        return
    got = allocate(np.array(counts, np.int64), total)
    assert got.dtype == np.int64
    assert got.tolist() == naive.allocate(counts, total)
    assert sum(got.tolist()) == total
    s = sum(counts)
    for share, c in zip(got.tolist(), counts, strict=True):
        quota = Fraction(total * c, s) if s else Fraction(0)
        assert quota - 1 < share < quota + 1


ALLOCATE_CASES = {
    # name: (counts, total, expected)
    "empty": ([], 0, []),
    "all_zero_nothing_to_give": ([0, 0], 0, [0, 0]),
    "exact": ([1, 3], 8, [2, 6]),
    "tie_to_lower_index": ([1, 1, 1], 2, [1, 1, 0]),
    "largest_remainder_wins": ([3, 1, 0], 5, [4, 1, 0]),  # 3.75 and 1.25
    "zero_count_gets_nothing": ([0, 1, 0], 3, [0, 3, 0]),
    "more_strata_than_units": ([5, 4, 3, 2, 1], 2, [1, 1, 0, 0, 0]),
    "sum_past_int64": ([2**62, 2**62, 1], 10, [5, 5, 0]),
    "products_past_int64": ([1, 2], 2**62, [1537228672809129301, 3074457345618258603]),
}


@pytest.mark.parametrize("name", ALLOCATE_CASES)
def test_allocate_named_cases(name):
    counts, total, expected = ALLOCATE_CASES[name]
    assert allocate(np.array(counts, np.int64), total).tolist() == expected
    assert naive.allocate(counts, total) == expected


@pytest.mark.parametrize("counts, total, err, match", [
    (np.array([0, 0], np.int64), 1, ValueError, "sum to 0"),
    (np.array([], np.int64), 1, ValueError, "sum to 0"),
    (np.array([1, -1], np.int64), 1, ValueError, ">= 0"),
    (np.array([1], np.int64), -1, ValueError, "total"),
    (np.array([1], np.int64), 2**63, ValueError, "total"),
    (np.array([1], np.int64), 1.5, TypeError, "total must be an integer"),
    (np.array([1], np.int32), 1, TypeError, "counts"),
    (np.array([[1]], np.int64), 1, TypeError, "counts"),
])
def test_allocate_bad_input(counts, total, err, match):
    with pytest.raises(err, match=match):
        allocate(counts, total)


# ------------------------------------------------------------------ selection
@st.composite
def populations(draw, max_n=24):
    """Nested keys (coarsened by floor division or a random parent map), an eligible
    mask, priorities with ties, targets with duplicates and a total."""
    n = draw(st.integers(0, max_n))
    n_levels = draw(st.integers(1, 4))
    pool0 = draw(st.sampled_from([[0, 1, 2, 3, 4, 5], [0, 1, 7, BIG, BIG + 9, 2**63 - 1]]))
    level = draw(st.lists(st.sampled_from(pool0), min_size=n, max_size=n))
    keys = [level]
    for _ in range(n_levels - 1):
        if draw(st.booleans()):
            d = draw(st.integers(2, 3))
            level = [k // d for k in level]
        else:
            parent = {k: draw(st.sampled_from([0, 1, 2, BIG])) for k in sorted(set(level))}
            level = [parent[k] for k in level]
        keys.append(level)
    eligible = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    prio = st.sampled_from([0, 1, 2, U64_MAX]) | st.integers(0, U64_MAX)
    priority = draw(st.lists(prio, min_size=n, max_size=n))
    targets = draw(st.lists(st.integers(0, n - 1), max_size=6)) if n else []
    total = draw(st.integers(0, n + 4)) if targets else 0
    return (np.array(keys, np.int64).reshape(n_levels, n), np.array(eligible, np.bool_),
            np.array(priority, np.uint64), np.array(targets, np.int64), total)


def _check(keys, eligible, priority, targets, total) -> Selection:
    sel = select_stratified(keys, eligible, priority, targets, total)
    assert sel.chosen.dtype == np.int64 and sel.matched_at.dtype == np.int64
    assert sel.matched_at.shape == (keys.shape[0],)
    assert isinstance(sel.shortfall, int)
    ref = naive.select_stratified(keys.tolist(), eligible.tolist(), priority.tolist(),
                                  targets.tolist(), total)
    assert (sel.chosen.tolist(), sel.matched_at.tolist(), sel.shortfall) == ref
    return sel


@given(populations())
def test_select_matches_reference(case):
    _check(*case)


@given(populations())
def test_select_properties(case):
    keys, eligible, priority, targets, total = case
    sel = select_stratified(keys, eligible, priority, targets, total)
    chosen = sel.chosen.tolist()
    assert chosen == sorted(set(chosen))
    assert not set(chosen) & set(targets.tolist())
    assert all(eligible[c] for c in chosen)
    assert len(chosen) + sel.shortfall == total
    assert int(sel.matched_at.sum()) == len(chosen)
    again = select_stratified(keys.copy(), eligible.copy(), priority.copy(), targets.copy(),
                              total)
    assert again.chosen.tolist() == chosen and again.matched_at.tolist() == sel.matched_at.tolist()
    # the level-0 demand of a stratum is met there whenever it has enough candidates
    tset = set(targets.tolist())
    per = {}
    for t in tset:
        per[int(keys[0, t])] = per.get(int(keys[0, t]), 0) + 1
    strata = sorted(per)
    want = dict(zip(strata, naive.allocate([per[k] for k in strata], total), strict=True))
    at_level0 = 0
    for k, d in want.items():
        pool = [i for i in range(keys.shape[1])
                if keys[0, i] == k and eligible[i] and i not in tset]
        got = sum(1 for c in chosen if keys[0, c] == k)
        assert got >= min(d, len(pool))
        at_level0 += min(d, len(pool))
    assert int(sel.matched_at[0]) == at_level0


def _pop(keys, eligible=None, priority=None):
    keys = np.array(keys, np.int64)
    n = keys.shape[1]
    eligible = np.ones(n, np.bool_) if eligible is None else np.array(eligible, np.bool_)
    priority = np.arange(n, dtype=np.uint64) if priority is None else np.array(priority,
                                                                                np.uint64)
    return keys, eligible, priority


SELECT_CASES = {
    # name: (keys rows, eligible, priority, targets, total, (chosen, matched_at, shortfall))
    "nothing_wanted": ([[0, 0, 1]], None, None, [0], 0, ([], [0], 0)),
    "no_customers": ([[], []], None, None, [], 0, ([], [0, 0], 0)),
    "one_customer_the_target": ([[3]], None, None, [0], 1, ([], [0], 1)),
    "one_customer_nothing_wanted": ([[3]], None, None, [], 0, ([], [0], 0)),
    "own_stratum_before_better_priority": ([[0, 1, 0]], None, [5, 0, 9], [0], 1,
                                           ([2], [1], 0)),
    "priority_order_within_stratum": ([[0, 0, 0, 0]], None, [0, 9, 3, 5], [0], 2,
                                      ([2, 3], [2], 0)),
    "priority_ties_by_code": ([[0, 0, 0, 0]], None, [0, 7, 7, 7], [0], 2, ([1, 2], [2], 0)),
    "max_priority_last": ([[0, 0, 0]], None, [0, U64_MAX, U64_MAX - 1], [0], 1,
                          ([2], [1], 0)),
    "duplicate_targets_count_once": ([[0, 0, 0, 1, 1, 1]], None, None, [0, 0, 0, 3], 2,
                                     ([1, 4], [2], 0)),
    "proportional_to_targets": ([[0, 0, 0, 0, 1, 1, 1]], None, None, [0, 1, 4], 3,
                                ([2, 3, 5], [3], 0)),
    "carry_to_coarser_level": ([[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]], None, None, [0], 3,
                               ([1, 2, 3], [1, 2], 0)),
    "carried_demands_add_up": ([[0, 0, 1, 1, 2, 2], [0, 0, 0, 0, 0, 0]],
                               [False, False, False, False, True, True], None, [0, 2], 2,
                               ([4, 5], [0, 2], 0)),
    "carry_skips_chosen": ([[0, 0, 1, 1], [0, 0, 0, 0]], None, [0, 1, 0, 1], [0, 2], 3,
                           ([1, 3], [2, 0], 1)),
    "other_coarse_stratum_not_used": ([[0, 0, 1, 1], [0, 0, 1, 1]], None, None, [0], 2,
                                      ([1], [1, 0], 1)),
    "last_level_shortfall": ([[0, 1, 2], [0, 0, 1], [0, 0, 0]], [False, True, False], None,
                             [0], 3, ([1], [0, 1, 0], 2)),
    "eligible_target_never_chosen": ([[0, 0, 0]], None, [0, 0, 1], [0, 1], 2, ([2], [1], 1)),
    "ineligible_never_chosen": ([[0, 0, 0]], [True, False, True], [0, 0, 1], [0], 2,
                                ([2], [1], 1)),
    "single_level_no_carry": ([[0, 0, 1, 1]], None, None, [0], 3, ([1], [1], 2)),
    "large_keys": ([[BIG, BIG, 2**63 - 1, 2**63 - 1], [BIG, BIG, BIG, BIG]], None, None, [2],
                   2, ([3, 0], [1, 1], 0)),
}


@pytest.mark.parametrize("name", SELECT_CASES)
def test_select_named_cases(name):
    keys, eligible, priority, targets, total, expected = SELECT_CASES[name]
    keys, eligible, priority = _pop(keys, eligible, priority)
    sel = _check(keys, eligible, priority, np.array(targets, np.int64), total)
    chosen, matched_at, shortfall = expected
    assert (sel.chosen.tolist(), sel.matched_at.tolist(), sel.shortfall) == (
        sorted(chosen), matched_at, shortfall)


def _good():
    keys, eligible, priority = _pop([[0, 0, 1, 1], [0, 0, 0, 0]])
    return {"keys": keys, "eligible": eligible, "priority": priority,
            "targets": np.array([0], np.int64), "total": 1}


@pytest.mark.parametrize("change, err, match", [
    ({"keys": np.zeros((2, 4), np.int32)}, TypeError, "keys"),
    ({"keys": [[0, 0, 1, 1]]}, TypeError, "keys"),
    ({"keys": np.zeros(4, np.int64)}, ValueError, "shape"),
    ({"keys": np.zeros((0, 4), np.int64)}, ValueError, "levels >= 1"),
    ({"keys": np.array([[0, 0, -1, 1]], np.int64)}, ValueError, ">= 0"),
    # equal at level 0, different at level 1
    ({"keys": np.array([[0, 0, 1, 1], [0, 1, 0, 0]], np.int64)}, ValueError,
     "customers 0 and 1 share key 0 at level 0"),
    # equal at level 1, different at level 2 (a problem between two level-0 strata)
    ({"keys": np.array([[0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 1, 1]], np.int64)}, ValueError,
     "share key 0 at level 1"),
    ({"keys": np.array([[0, 1, 2, 2], [0, 0, 1, 1], [0, 1, 1, 1]], np.int64)}, ValueError,
     "share key 0 at level 1"),
    ({"eligible": np.ones(4, np.int8)}, TypeError, "eligible"),
    ({"eligible": np.ones(3, np.bool_)}, ValueError, "eligible has 3"),
    ({"priority": np.arange(4, dtype=np.int64)}, TypeError, "priority"),
    ({"priority": np.arange(5, dtype=np.uint64)}, ValueError, "priority has 5"),
    ({"targets": np.array([0], np.int32)}, TypeError, "targets"),
    ({"targets": np.array([4], np.int64)}, ValueError, "targets"),
    ({"targets": np.array([-1], np.int64)}, ValueError, "targets"),
    ({"targets": np.array([], np.int64)}, ValueError, "no targets"),
    ({"total": -1}, ValueError, "total"),
    ({"total": 1.0}, TypeError, "total must be an integer"),
])
def test_select_bad_input(change, err, match):
    args = _good() | change
    with pytest.raises(err, match=match):
        select_stratified(**args)


def test_seeded_priorities_fix_the_choice():
    n = 40
    keys = np.array([[i % 5 for i in range(n)], [i % 5 // 3 for i in range(n)]], np.int64)
    eligible = np.array([i % 7 != 0 for i in range(n)], np.bool_)
    targets = np.array([0, 1, 2, 3, 5, 5], np.int64)

    def priority(seed):
        with np.errstate(over="ignore"):  # the wrap-around is the hash (kernels.rng)
            return np.array([derive_key(seed, c) for c in range(n)], np.uint64)

    a = _check(keys, eligible, priority(11), targets, 12)
    b = select_stratified(keys, eligible, priority(11), targets, 12)
    c = select_stratified(keys, eligible, priority(12), targets, 12)
    assert a.chosen.tolist() == b.chosen.tolist()
    assert a.chosen.tolist() != c.chosen.tolist()


@pytest.mark.jit
def test_larger_random_against_reference(rng):
    n = 1_500
    k0 = rng.integers(0, 120, n)
    keys = np.stack([k0, k0 // 8, k0 // 40, np.zeros(n, np.int64)]).astype(np.int64)
    eligible = rng.random(n) < 0.6
    priority = rng.integers(0, 50, n, dtype=np.uint64)  # many ties
    targets = rng.integers(0, n, 200).astype(np.int64)
    sel = _check(keys, eligible, priority, targets, 700)
    assert sel.matched_at[0] > 0 and sel.matched_at[1:].sum() > 0
