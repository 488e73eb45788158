"""Customer profiles (kernels.profiles) against tests/reference/profiles.py."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels.profiles import NO_DAY, Profiles, customer_profiles
from tests.reference import profiles as naive

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def _csr(rows: list[list[tuple[int, int]]]):
    """(item, day) lines per customer -> offsets, item, day."""
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    item = np.array([i for r in rows for i, _ in r], np.int32)
    day = np.array([d for r in rows for _, d in r], np.int32)
    return offsets, item, day


@st.composite
def histories(draw, max_customers=7, max_lines=8):
    """Sorted histories over a few items and days (extremes included), with a grouping."""
    n_items = draw(st.integers(1, 6))
    n_groups = draw(st.integers(0, 4))
    item_group = draw(st.lists(st.integers(-1, n_groups - 1), min_size=n_items,
                               max_size=n_items))
    days = st.sampled_from([I32_MIN, I32_MIN + 1, -3, 0, 1, 2, 40, I32_MAX])
    lines = st.lists(st.tuples(st.integers(0, n_items - 1), days), max_size=max_lines)
    rows = draw(st.lists(lines, max_size=max_customers))
    rows = [sorted(r, key=lambda line: line[1]) for r in rows]
    return (*_csr(rows), np.array(item_group, np.int32), n_groups)


def _as_dicts(p: Profiles) -> list[dict]:
    return [{"visits": int(p.visits[c]), "lines": int(p.lines[c]),
             "group_lines": p.group_lines[c].tolist(), "first_day": int(p.first_day[c]),
             "last_day": int(p.last_day[c])} for c in range(p.visits.shape[0])]


def _check(offsets, item, day, item_group, n_groups) -> Profiles:
    p = customer_profiles(offsets, item, day, item_group, n_groups)
    n = offsets.shape[0] - 1
    assert p.visits.dtype == np.int32 and p.lines.dtype == np.int64
    assert p.group_lines.dtype == np.int32 and p.group_lines.shape == (n, n_groups)
    assert p.first_day.dtype == np.int32 and p.last_day.dtype == np.int32
    assert _as_dicts(p) == naive.customer_profiles(offsets, item, day, item_group, n_groups)
    return p


@given(histories())
def test_matches_reference(case):
    p = _check(*case)
    offsets, item, _, item_group, _ = case
    assert np.all(p.visits <= p.lines)
    grouped = int((item_group[item] >= 0).sum()) if item.size else 0
    assert int(p.group_lines.sum()) == grouped


# ------------------------------------------------------------------ named cases
CASES = {
    # name: (rows of (item, day), item_group, n_groups, expected (visits, lines,
    #        group_lines, first_day, last_day) per customer)
    "no_customers": ([], [0], 1, []),
    "customer_without_lines": ([[]], [0], 1, [(0, 0, [0], NO_DAY, NO_DAY)]),
    "one_line": ([[(0, 5)]], [0], 1, [(1, 1, [1], 5, 5)]),
    "same_day_twice": ([[(0, 5), (0, 5)]], [0], 1, [(1, 2, [2], 5, 5)]),
    "ungrouped_item_counts_in_lines_only": ([[(0, 1), (1, 2)]], [-1, 0], 1,
                                            [(2, 2, [1], 1, 2)]),
    "no_groups": ([[(0, 1), (1, 1)]], [-1, -1], 0, [(1, 2, [], 1, 1)]),
    "empty_between_full": ([[(1, 3)], [], [(0, 4), (1, 9)]], [1, 0], 2,
                           [(1, 1, [1, 0], 3, 3), (0, 0, [0, 0], NO_DAY, NO_DAY),
                            (2, 2, [1, 1], 4, 9)]),
    "extreme_days": ([[(0, I32_MIN + 1), (0, I32_MAX)]], [0], 1,
                     [(2, 2, [2], I32_MIN + 1, I32_MAX)]),
    # a real day equal to the sentinel: only ``lines`` tells the two apart
    "day_equal_to_sentinel": ([[(0, I32_MIN)]], [0], 1, [(1, 1, [1], NO_DAY, NO_DAY)]),
    "item_group_longer_than_used": ([[(0, 0)]], [0, 1, 2], 3, [(1, 1, [1, 0, 0], 0, 0)]),
}


@pytest.mark.parametrize("name", CASES)
def test_named_cases(name):
    rows, groups, n_groups, expected = CASES[name]
    p = _check(*_csr(rows), np.array(groups, np.int32), n_groups)
    got = [(int(p.visits[c]), int(p.lines[c]), p.group_lines[c].tolist(), int(p.first_day[c]),
            int(p.last_day[c])) for c in range(len(rows))]
    assert got == expected


def _good():
    return (*_csr([[(0, 1), (1, 2)], [(1, 3)]]), np.array([0, -1], np.int32), 1)


@pytest.mark.parametrize("change, err, match", [
    ({"offsets": np.array([0, 2, 3], np.int32)}, TypeError, "offsets"),
    ({"item": np.array([0, 1, 1], np.int64)}, TypeError, "item"),
    ({"day": np.array([1.0, 2.0, 3.0])}, TypeError, "day"),
    ({"item_group": np.array([0, -1], np.int64)}, TypeError, "item_group"),
    ({"day": np.array([1, 2], np.int32)}, ValueError, "day has 2 lines"),
    ({"offsets": np.array([0, 2, 4], np.int64)}, ValueError, "end at 3"),
    ({"offsets": np.array([0, 3, 2, 3], np.int64)}, ValueError, "non-decreasing"),
    ({"offsets": np.array([1, 2, 3], np.int64)}, ValueError, "start at 0"),
    ({"n_groups": -1}, ValueError, "n_groups"),
    ({"item_group": np.array([1, -1], np.int32)}, ValueError, r"item_group\[0\] = 1"),
    ({"item_group": np.array([0, -2], np.int32)}, ValueError, r"item_group\[1\] = -2"),
    ({"item": np.array([0, 1, 2], np.int32)}, ValueError, r"item\[2\] = 2 \(customer 1\)"),
    ({"item": np.array([0, -1, 0], np.int32)}, ValueError, r"item\[1\] = -1 \(customer 0\)"),
    ({"day": np.array([2, 1, 3], np.int32)}, ValueError, "days of customer 0 decrease"),
])
def test_bad_input(change, err, match):
    names = ("offsets", "item", "day", "item_group", "n_groups")
    args = dict(zip(names, _good(), strict=True)) | change
    with pytest.raises(err, match=match):
        customer_profiles(*(args[k] for k in names))


def test_days_may_decrease_across_customers():
    p = _check(*_csr([[(0, 9)], [(0, 1)]]), np.array([0], np.int32), 1)
    assert p.first_day.tolist() == [9, 1]


def test_non_contiguous_inputs():
    offsets, item, day = _csr([[(0, 1), (1, 1), (1, 4)], [(0, 2)]])
    wide = np.zeros(2 * item.size, np.int32)
    wide[::2] = item
    p = customer_profiles(offsets, wide[::2], day, np.array([0, 1], np.int32), 2)
    assert p.group_lines.tolist() == [[1, 2], [1, 0]]


@pytest.mark.jit
@pytest.mark.parametrize("threads", [1, 2])
def test_larger_random_against_reference(rng, threads):
    n_cust, n_items, n_groups = 3_000, 200, 7
    lens = rng.integers(0, 40, n_cust)
    lens[rng.random(n_cust) < 0.1] = 0
    rows = [sorted(zip(rng.integers(0, n_items, k).tolist(),
                       rng.integers(-50, 50, k).tolist(), strict=True),
                   key=lambda line: line[1]) for k in lens]
    item_group = rng.integers(-1, n_groups, n_items).astype(np.int32)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        _check(*_csr(rows), item_group, n_groups)
    finally:
        numba.set_num_threads(before)
