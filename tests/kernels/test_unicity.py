"""kernels/invindex and kernels/unicity against tests/reference/unicity.py.

Populations are a few customers with a few time-sorted lines each; points are
items alone or (item, day / week / month) keys. Each kernel is checked exactly
against its plain reference, plus a table of named edge cases.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels import invindex as ix
from basketguard.kernels import unicity as uk
from basketguard.kernels.sorting import RUN
from tests.conftest import JIT_DISABLED
from tests.reference import unicity as nu

UNITS = (ix.UNIT_NONE, ix.UNIT_DAY, ix.UNIT_WEEK, ix.UNIT_MONTH)
#: Day numbers the calendar reference can date (years 1..9999), edges included.
DAY_MIN, DAY_MAX = -719_162, 2_932_896
DAYS = st.one_of(
    st.sampled_from([DAY_MIN, -1, 0, 3, 4, 58, 59, 60, 365, 15_000, DAY_MAX]),
    st.integers(15_000, 15_040),
    st.integers(DAY_MIN, DAY_MAX),
)


@st.composite
def populations(draw, max_customers=7, max_lines=7, n_hi=5):
    """(offsets, hi, day, n_hi): days sorted within each customer."""
    n_cust = draw(st.integers(0, max_customers))
    wide = draw(st.booleans())
    offsets = [0]
    his: list[int] = []
    days: list[int] = []
    template = None
    identical = draw(st.booleans()) and n_cust > 1
    for _ in range(n_cust):
        if identical and template is not None:
            lines = template
        else:
            k = draw(st.integers(0, max_lines))
            lines = sorted(
                (draw(DAYS if wide else st.integers(15_000, 15_040)), draw(st.integers(0, n_hi - 1)))
                for _ in range(k))
            if lines and draw(st.booleans()):  # exact repeats of a line
                lines = sorted(lines + lines[: draw(st.integers(1, len(lines)))])
            template = lines
        his += [h for _, h in lines]
        days += [d for d, _ in lines]
        offsets.append(len(his))
    return (np.array(offsets, np.int64), np.array(his, np.int32), np.array(days, np.int32),
            n_hi)


def _check_index(idx, pop, unit):
    offsets, hi, day, n_hi = pop
    sets, bmin, nb = nu.point_sets(offsets, hi, day, unit)
    inv = nu.index(sets)
    assert (idx.bucket_min, idx.n_buckets) == (bmin, nb)
    assert idx.point_key.tolist() == list(inv)
    assert idx.point_off[0] == 0 and idx.point_off[-1] == idx.holders.shape[0]
    for q, k in enumerate(inv):
        assert idx.holders[idx.point_off[q]:idx.point_off[q + 1]].tolist() == inv[k]
    # hi_off: first point code of every hi
    for h in range(n_hi + 1):
        assert idx.hi_off[h] == sum(1 for k in inv if k // nb < h)
    # bitmap rows mirror the holder lists of exactly the dense points
    for q in range(idx.n_points):
        r = idx.dense_row[q]
        if r >= 0:
            row = idx.bitmaps[r]
            bits = [c for c in range(idx.n_customers) if (int(row[c // 64]) >> (c % 64)) & 1]
            assert bits == inv[int(idx.point_key[q])]
    return sets


@contextlib.contextmanager
def bucket_path(table: bool):
    """Bucket per line from the day table, or computed directly (as for wide spans)."""
    saved = ix._MAX_TABLE
    ix._MAX_TABLE = saved if table else 0
    try:
        yield
    finally:
        ix._MAX_TABLE = saved


@contextlib.contextmanager
def code_path(rank: bool):
    """Member point codes by rank in a key bitmap, or by binary search (huge key spaces)."""
    saved = uk._MAX_RANK_BITS
    uk._MAX_RANK_BITS = saved if rank else -1
    try:
        yield
    finally:
        uk._MAX_RANK_BITS = saved


@given(days=st.lists(DAYS, max_size=30), unit=st.sampled_from(UNITS))
def test_point_keys_match_calendar(days, unit):
    day = np.array(days, np.int32)
    hi = np.zeros_like(day)
    bmin, nb = ix.bucket_range(day, unit)
    assert (bmin, nb) == nu.bucket_range(days, unit)
    keys = ix.point_keys(hi, day, unit, 0, 1)
    assert keys.tolist() == [nu.bucket(d, unit) for d in days]


@given(pop=populations(), unit=st.sampled_from(UNITS),
       ratio=st.sampled_from([0.0, 1.0, 3.0, 1e9]))
@pytest.mark.parametrize("table", [True, False], ids=["day-table", "direct"])
def test_build_index_matches_reference(pop, unit, ratio, table):
    offsets, hi, day, n_hi = pop
    with bucket_path(table):
        idx = ix.build_index(offsets, hi, day, unit, n_hi, dense_ratio=ratio)
    _check_index(idx, pop, unit)
    if ratio == 0:
        assert idx.bitmaps.shape[0] == 0


@given(pop=populations(), unit=st.sampled_from(UNITS), data=st.data())
@pytest.mark.parametrize("rank", [True, False], ids=["rank", "search"])
def test_member_points_match_reference(pop, unit, data, rank):
    offsets, hi, day, n_hi = pop
    n_cust = offsets.shape[0] - 1
    members = data.draw(st.lists(st.integers(0, max(n_cust - 1, 0)), max_size=6)
                        if n_cust else st.just([]))
    idx = ix.build_index(offsets, hi, day, unit, n_hi)
    sets, _, _ = nu.point_sets(offsets, hi, day, unit)
    with code_path(rank):
        mp_off, mp_code = uk.member_points(offsets, hi, day, np.array(members, np.int64), idx)
    assert mp_off.shape == (len(members) + 1,)
    for j, m in enumerate(members):
        got = idx.point_key[mp_code[mp_off[j]:mp_off[j + 1]]].tolist()
        assert got == sorted(sets[m])


@given(pop=populations(), unit=st.sampled_from(UNITS), p_max=st.integers(1, 6),
       draws=st.integers(0, 4), seed=st.sampled_from([0, 1, 2**63 - 1]),
       ratio=st.sampled_from([0.0, 2.0, 1e9]))
def test_unicity_draws_match_reference(pop, unit, p_max, draws, seed, ratio):
    offsets, hi, day, n_hi = pop
    n_cust = offsets.shape[0] - 1
    members = np.arange(n_cust, dtype=np.int64)
    idx = ix.build_index(offsets, hi, day, unit, n_hi, dense_ratio=ratio)
    sets, _, _ = nu.point_sets(offsets, hi, day, unit)
    mp_off, mp_code = uk.member_points(offsets, hi, day, members, idx)
    got = uk.unicity_draws(members, mp_off, mp_code, idx, p_max, draws, seed)
    want = nu.smallest(sets, members, p_max, draws, seed)
    assert got.shape == (n_cust, draws)
    assert got.tolist() == want
    counts = uk.count_unique(np.diff(mp_off), got, p_max)
    ref = nu.counts([len(s) for s in sets], want, p_max)
    assert {k: v.tolist() for k, v in counts.items()} == ref


@given(pop=populations(), p=st.integers(1, 5), draws=st.integers(0, 3), seed=st.integers(0, 9))
def test_known_points_match_reference_draws(pop, p, draws, seed):
    offsets, hi, day, n_hi = pop
    members = np.arange(offsets.shape[0] - 1, dtype=np.int64)
    idx = ix.build_index(offsets, hi, day, ix.UNIT_NONE, n_hi)
    sets, _, _ = nu.point_sets(offsets, hi, day, ix.UNIT_NONE)
    mp_off, mp_code = uk.member_points(offsets, hi, day, members, idx)
    got = uk.known_points(members, mp_off, mp_code, p, draws, seed)
    assert got.shape == (members.shape[0], draws, p)
    for m in members:
        keys = sorted(sets[m])
        for d in range(draws):
            want = [keys[i] for i in nu.draw_order(seed, int(m), len(keys), min(p, len(keys)), d)]
            row = got[m, d]
            assert idx.point_key[row[row >= 0]].tolist() == want
            assert (row[len(want):] == -1).all()


@given(pop=populations(), cut=st.integers(0, 7), unit=st.sampled_from(UNITS))
def test_counts_merge_exactly_across_member_shards(pop, cut, unit):
    offsets, hi, day, n_hi = pop
    members = np.arange(offsets.shape[0] - 1, dtype=np.int64)
    idx = ix.build_index(offsets, hi, day, unit, n_hi)

    def shard(ms):
        mp_off, mp_code = uk.member_points(offsets, hi, day, ms, idx)
        s = uk.unicity_draws(ms, mp_off, mp_code, idx, 4, 3, 11)
        return uk.count_unique(np.diff(mp_off), s, 4)

    whole = shard(members)
    a, b = shard(members[:cut]), shard(members[cut:][::-1].copy())
    for k in whole:
        assert (a[k] + b[k]).tolist() == whole[k].tolist()



@pytest.mark.parametrize("unit", [ix.UNIT_NONE, ix.UNIT_DAY])
@pytest.mark.parametrize("draws", [1, 3])
def test_long_histories_and_many_members_match_reference(rng, unit, draws):
    # members with more lines than one insertion-sorted run of sort_keys, more members than
    # a draw block, and both ways of gathering holder counts (draws * p above and below n)
    n_cust = uk._BLOCK + 60
    lens = rng.integers(0, 6 * RUN, n_cust)
    offsets = np.zeros(n_cust + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    n = int(offsets[-1])
    hi = (rng.zipf(1.5, n).clip(1, 40) - 1).astype(np.int32)
    cust = np.repeat(np.arange(n_cust), lens)
    day = rng.integers(0, 12, n).astype(np.int32)
    order = np.lexsort((day, cust))
    hi, day = hi[order], day[order]
    members = rng.permutation(n_cust).astype(np.int64)
    idx = ix.build_index(offsets, hi, day, unit, 40, dense_ratio=8.0)
    sets, _, _ = nu.point_sets(offsets, hi, day, unit)
    mp_off, mp_code = uk.member_points(offsets, hi, day, members, idx)
    for j, m in enumerate(members):
        assert idx.point_key[mp_code[mp_off[j]:mp_off[j + 1]]].tolist() == sorted(sets[m])
    got = uk.unicity_draws(members, mp_off, mp_code, idx, 4, draws, 7)
    assert got.tolist() == nu.smallest(sets, members, 4, draws, 7)


# ---------------------------------------------------------------- a sharded base


def _sub(offsets, hi, day, custs):
    """The lines of customers ``custs`` (in that order) as their own CSR."""
    lens = [int(offsets[c + 1] - offsets[c]) for c in custs]
    off = np.zeros(len(custs) + 1, np.int64)
    np.cumsum(lens, out=off[1:])
    rows = [i for c in custs for i in range(int(offsets[c]), int(offsets[c + 1]))]
    return off, hi[rows].astype(np.int32), day[rows].astype(np.int32)


def _sharded_smallest(pop, unit, shard_of, members, p_max, draws, seed, ratio, sequential):
    """The kernels of a sharded base: keys per shard, draws by whole-base code, the longest
    prefix per shard index built over the whole span, merged by maximum."""
    offsets, hi, day, n_hi = pop
    n_cust = offsets.shape[0] - 1
    span = ix.bucket_range(day, unit)
    shards = [[c for c in range(n_cust) if shard_of[c] == s] for s in range(max(shard_of, default=0) + 1)]
    keys_of: dict[int, list[int]] = {}
    for custs in shards:
        off, h, d = _sub(offsets, hi, day, custs)
        local = np.array([j for j, c in enumerate(custs) if c in set(members.tolist())], np.int64)
        mp_off, keys = uk.member_keys(off, h, d, local, unit, *span)
        for j, lc in enumerate(local):
            keys_of[custs[lc]] = keys[mp_off[j]:mp_off[j + 1]].tolist()
    n_points = np.array([len(keys_of[int(m)]) for m in members], np.int64)
    mp_off = np.zeros(len(members) + 1, np.int64)
    np.cumsum(n_points, out=mp_off[1:])
    flat = np.array([k for m in members for k in keys_of[int(m)]], np.int64)
    known = uk.known_keys(members, mp_off, flat, p_max, draws, seed)
    longest = np.zeros(known.shape[:2], np.int8)
    for custs in shards:
        off, h, d = _sub(offsets, hi, day, custs)
        idx = ix.build_index(off, h, d, unit, n_hi, dense_ratio=ratio, buckets=span)
        codes = uk.codes_of_keys(known, idx)
        pos = {c: j for j, c in enumerate(custs)}
        me = np.array([pos.get(int(m), -1) for m in members], np.int64)
        if sequential:
            uk.shard_longest(codes, n_points, me, p_max, idx, longest)
        else:
            part = np.zeros_like(longest)
            uk.shard_longest(codes, n_points, me, p_max, idx, part)
            np.maximum(longest, part, out=longest)
    return keys_of, known, uk.smallest_of_longest(longest, n_points, p_max)


@given(pop=populations(), unit=st.sampled_from(UNITS), data=st.data(),
       p_max=st.integers(1, 5), draws=st.integers(0, 3), seed=st.sampled_from([0, 3, 2**63 - 1]),
       ratio=st.sampled_from([0.0, 2.0]), sequential=st.booleans())
def test_sharded_base_matches_reference(pop, unit, data, p_max, draws, seed, ratio, sequential):
    offsets, hi, day, n_hi = pop
    n_cust = offsets.shape[0] - 1
    shard_of = data.draw(st.lists(st.integers(0, 3), min_size=n_cust, max_size=n_cust))
    members = np.array(sorted(data.draw(st.sets(st.integers(0, max(n_cust - 1, 0)),
                                                 max_size=n_cust))) if n_cust else [], np.int64)
    sets, _, _ = nu.point_sets(offsets, hi, day, unit)
    keys_of, known, got = _sharded_smallest(pop, unit, shard_of, members, p_max, draws, seed,
                                            ratio, sequential)
    for m in members:  # the in-memory index's keys, ascending
        assert keys_of[int(m)] == sorted(sets[m])
    for j, m in enumerate(members):  # the reference's draws
        keys = sorted(sets[m])
        for d in range(draws):
            want = [keys[i] for i in nu.draw_order(seed, int(m), len(keys), min(p_max, len(keys)),
                                                   d)]
            assert known[j, d, :len(want)].tolist() == want
            assert (known[j, d, len(want):] == -1).all()
    assert got.tolist() == nu.smallest(sets, members, p_max, draws, seed)


@given(pop=populations(), unit=st.sampled_from(UNITS), extra=st.lists(st.integers(-3, 80)))
def test_codes_of_keys_match_a_lookup(pop, unit, extra):
    offsets, hi, day, n_hi = pop
    idx = ix.build_index(offsets, hi, day, unit, n_hi)
    where = {int(k): q for q, k in enumerate(idx.point_key)}
    keys = np.array(list(where) + extra, np.int64)
    got = uk.codes_of_keys(keys.reshape(1, -1), idx)
    assert got.shape == (1, keys.shape[0])
    assert got[0].tolist() == [where.get(int(k), -1) for k in keys]


def test_build_index_over_a_wider_span_keys_points_alike():
    offsets = np.array([0, 2, 3], np.int64)
    hi, day = np.array([0, 1, 1], np.int32), np.array([10, 12, 11], np.int32)
    own = ix.build_index(offsets, hi, day, ix.UNIT_DAY, 2)
    wide = ix.build_index(offsets, hi, day, ix.UNIT_DAY, 2, buckets=(5, 20))
    assert (wide.bucket_min, wide.n_buckets) == (5, 20)
    assert [(k // 20, k % 20 + 5) for k in wide.point_key] == \
        [(k // own.n_buckets, k % own.n_buckets + own.bucket_min) for k in own.point_key]
    assert wide.holders.tolist() == own.holders.tolist()
    with pytest.raises(ValueError, match="do not cover"):
        ix.build_index(offsets, hi, day, ix.UNIT_DAY, 2, buckets=(11, 5))
    items = ix.build_index(offsets, hi, day, ix.UNIT_NONE, 2, buckets=(5, 20))
    assert (items.bucket_min, items.n_buckets) == (0, 1)


def test_shard_longest_checks_its_shapes():
    idx = ix.build_index(np.array([0, 1], np.int64), np.array([0], np.int32),
                         np.array([0], np.int32), ix.UNIT_NONE, 1)
    with pytest.raises(ValueError, match="same members"):
        uk.shard_longest(np.zeros((2, 1, 1), np.int64), np.ones(1, np.int64),
                         np.zeros(1, np.int64), 1, idx, np.zeros((1, 1), np.int8))


# ------------------------------------------------------------------ named cases


def _run(offsets, hi, day, unit=ix.UNIT_NONE, p_max=3, draws=2, n_hi=4, ratio=32.0):
    offsets, hi, day = (np.array(offsets, np.int64), np.array(hi, np.int32),
                        np.array(day, np.int32))
    idx = ix.build_index(offsets, hi, day, unit, n_hi, dense_ratio=ratio)
    members = np.arange(offsets.shape[0] - 1, dtype=np.int64)
    mp_off, mp_code = uk.member_points(offsets, hi, day, members, idx)
    return idx, np.diff(mp_off), uk.unicity_draws(members, mp_off, mp_code, idx, p_max,
                                                  draws, 5)


def test_empty_population():
    idx, n_points, smallest = _run([0], [], [])
    assert idx.n_points == 0 and idx.holders.shape == (0,) and idx.hi_off.tolist() == [0] * 5
    assert smallest.shape == (0, 2) and n_points.shape == (0,)


def test_customer_without_lines_has_no_points():
    _, n_points, smallest = _run([0, 0, 2], [1, 2], [10, 10])
    assert n_points.tolist() == [0, 2] and smallest.tolist() == [[0, 0], [1, 1]]


def test_one_customer_is_unique_at_p1():
    _, _, smallest = _run([0, 3], [0, 1, 1], [1, 2, 3], unit=ix.UNIT_DAY)
    assert smallest.tolist() == [[1, 1]]


def test_identical_customers_are_never_unique():
    lines = [0, 1, 2]
    _, n_points, smallest = _run([0, 3, 6, 9], lines * 3, [4, 4, 5] * 3, unit=ix.UNIT_DAY)
    assert n_points.tolist() == [3, 3, 3] and not smallest.any()


def test_repeated_lines_are_one_point():
    idx, n_points, _ = _run([0, 4], [2, 2, 2, 3], [7, 7, 7, 7], unit=ix.UNIT_DAY)
    assert n_points.tolist() == [2] and idx.holders.tolist() == [0, 0]


def test_fewer_points_than_p_is_evaluated_at_its_own_size():
    # customer 0 holds {0}; customer 1 holds {0, 1}: 0 is never unique, 1 is at p = 2
    _, n_points, smallest = _run([0, 1, 3], [0, 0, 1], [0, 0, 0], p_max=3)
    assert n_points.tolist() == [1, 2]
    assert smallest[0].tolist() == [0, 0] and set(smallest[1].tolist()) <= {1, 2}
    counts = uk.count_unique(n_points, smallest, 3)
    assert counts["eligible"].tolist() == [2, 1, 0]


def test_superset_customer_prevents_uniqueness():
    # customer 1 holds everything customer 0 holds: 0 is never unique
    _, _, smallest = _run([0, 2, 5], [0, 1, 0, 1, 2], [0] * 5, p_max=3, draws=4)
    assert smallest[0].tolist() == [0, 0, 0, 0] and smallest[1].min() >= 1


@pytest.mark.parametrize("rank", [True, False], ids=["rank", "search"])
def test_member_points_outside_the_index_are_refused(rank):
    # the index only saw customer 0's line: customer 1's point (item 1) is not in it
    hi, day = np.array([0, 1], np.int32), np.zeros(2, np.int32)
    idx = ix.build_index(np.array([0, 1, 1], np.int64), hi[:1], day[:1], ix.UNIT_NONE, 2)
    with code_path(rank), pytest.raises(ValueError, match="not in the index"):
        uk.member_points(np.array([0, 1, 2], np.int64), hi, day, np.array([0, 1]), idx)


def test_days_must_be_sorted_within_customers():
    with pytest.raises(ValueError, match="non-decreasing"):
        ix.build_index(np.array([0, 2], np.int64), np.array([0, 1], np.int32),
                       np.array([5, 4], np.int32), ix.UNIT_DAY, 2)


@pytest.mark.parametrize("kwargs, match", [
    ({"p_max": 0}, "p_max"), ({"p_max": 65}, "p_max"), ({"draws": -1}, "draws"),
    ({"seed": -1}, "seed"), ({"seed": 2**63}, "seed"),
])
def test_unicity_draws_validates_options(kwargs, match):
    offsets, hi, day = np.array([0, 1], np.int64), np.array([0], np.int32), np.zeros(1, np.int32)
    idx = ix.build_index(offsets, hi, day, 0, 1)
    mp_off, mp_code = uk.member_points(offsets, hi, day, np.array([0]), idx)
    args = {"p_max": 2, "draws": 1, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        uk.unicity_draws(np.array([0]), mp_off, mp_code, idx, **args)


def test_build_index_validates_inputs():
    with pytest.raises(ValueError, match="hi codes"):
        ix.build_index(np.array([0, 1], np.int64), np.array([3], np.int32),
                       np.zeros(1, np.int32), 0, 2)
    with pytest.raises(ValueError, match="unit"):
        ix.build_index(np.array([0], np.int64), np.array([], np.int32),
                       np.array([], np.int32), 9, 2)


@pytest.mark.jit
@pytest.mark.skipif(JIT_DISABLED, reason="thread counts only matter compiled")
def test_results_do_not_depend_on_threads(rng):
    n_cust = 3000
    lens = rng.integers(0, 30, n_cust)
    offsets = np.zeros(n_cust + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    n = int(offsets[-1])
    hi = rng.zipf(1.3, n).clip(1, 500).astype(np.int32) - 1
    cust = np.repeat(np.arange(n_cust), lens)
    day = rng.integers(0, 60, n).astype(np.int32)
    day = day[np.lexsort((day, cust))]
    members = rng.choice(n_cust, 400, replace=False).astype(np.int64)
    outs = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            for unit in (ix.UNIT_NONE, ix.UNIT_WEEK):
                idx = ix.build_index(offsets, hi, day, unit, 500)
                mp_off, mp_code = uk.member_points(offsets, hi, day, members, idx)
                outs.append((threads, unit, idx.holders.copy(),
                             uk.unicity_draws(members, mp_off, mp_code, idx, 5, 6, 3)))
    finally:
        numba.set_num_threads(before)
    for t, unit, holders, s in outs:
        ref = next(o for o in outs if o[1] == unit)
        assert (holders == ref[2]).all() and (s == ref[3]).all(), (t, unit)
