"""Build customer histories: CSR of basket lines grouped by customer, time-sorted.

The build is a two-level counting sort by customer over a list of chunks:

1. per chunk (any thread): lines per customer partition (a contiguous range of
   final customer codes, sized to fit in L2), :func:`count_partitions`, which
   can also turn the chunk's codes into final codes in place (the engine does:
   the remap is then looked up once per line, not twice);
2. per chunk: stable scatter into the partitions, first the destinations
   (into a reusable scratch), then one simple put loop per column,
   :func:`scatter_lines`;
3. per partition (on threads, :mod:`basketguard.kernels.threads`), in place and
   in cache: reorder into customer order, :func:`place_partitions`;

followed by a per-customer sort on the line key

    (time, basket, item, quantity, price, store)

which orders each customer's lines by time and puts exact duplicates next to
each other (:func:`sort_segments`; :func:`sort_and_scan` also counts each
customer's distinct times and duplicates while its lines are in cache), and
:func:`finalize_lines` (day numbers, derived baskets and the day range check
in one pass, duplicate removal). Input already sorted by (customer, time)
skips step 3 and its per-customer pass only fixes ties (the fast path).

Input contract (per chunk, all 1-D, same length):

- ``cust`` int32 codes in ``[0, len(cust_remap))``; ``cust_remap`` int32 maps
  them to final customer codes (ranks of the sorted original ids).
- ``item`` int32 codes with ``item_remap`` the same way.
- ``t`` int64 UTC seconds since the epoch.
- optional columns are passed as arrays of length 0 when absent:
  ``qty`` float32, ``basket`` int32, ``price`` float32, ``store`` int32.

Outputs are caller-allocated; ``offsets`` is int64 with one more entry than
customers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from basketguard.kernels.jit import helper
from basketguard.kernels.sorting import sort_keys
from basketguard.kernels.threads import run_ranges

SECONDS_PER_DAY = 86400
#: Times the kernels accept: those whose day number fits int32.
MIN_SECONDS = -(2**31) * SECONDS_PER_DAY
MAX_SECONDS = 2**31 * SECONDS_PER_DAY - 1
_NO_RANKS = np.empty(0, np.int32)
_PARTS = 16  # pieces of the customer range on the threads (histories differ in length)
_RANGE_MESSAGE = ("times must have day numbers within int32 (the engine keeps "
                  "0001-01-01 .. 9999-12-31)")


@njit(cache=True, nogil=True)
def _count_partitions(cust, cust_remap, t, shift, pcounts, edges, ranks_out, write_ranks):
    """Lines per partition (``rank >> shift``) of one chunk, and its sortedness.

    ``edges`` = [first rank, first t, last rank, last t, sorted (1/0)]. With
    ``write_ranks``, each line's rank is also stored in ``ranks_out`` (which may
    be ``cust`` itself). The order check stops at the first line out of order:
    the rest of an unsorted chunk is only counted (no unpredictable branch).
    """
    n = cust.shape[0]
    ok = 1
    prev_c = -1
    prev_t = 0
    i = 0
    while i < n:
        c = cust_remap[cust[i]]
        if write_ranks:
            ranks_out[i] = c
        pcounts[c >> shift] += 1
        ti = t[i]
        bad = i > 0 and (c < prev_c or (c == prev_c and ti < prev_t))
        prev_c = c
        prev_t = ti
        i += 1
        if bad:
            ok = 0
            break
    for j in range(i, n):
        c = cust_remap[cust[j]]
        if write_ranks:
            ranks_out[j] = c
        pcounts[c >> shift] += 1
    if n:
        edges[0] = ranks_out[0] if write_ranks else cust_remap[cust[0]]
        edges[1] = t[0]
        prev_c = ranks_out[n - 1] if write_ranks else cust_remap[cust[n - 1]]
        prev_t = t[n - 1]
    edges[2] = prev_c
    edges[3] = prev_t
    edges[4] = ok


def count_partitions(cust: np.ndarray, cust_remap: np.ndarray, t: np.ndarray, shift: int,
                     n_partitions: int, ranks_out: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Count one chunk's lines per customer partition and check its order.

    Parameters
    ----------
    cust : int32 array
        Chunk customer codes (first-seen).
    cust_remap : int32 array
        First-seen code -> final customer code (rank).
    t : int64 array
        Times.
    shift : int
        A line of final customer ``c`` goes to partition ``c >> shift``.
    n_partitions : int
        Number of partitions.
    ranks_out : int32 array, optional
        Receives each line's final customer code (``cust`` itself is allowed:
        the chunk then holds ranks, and :func:`scatter_lines` is called with
        ``cust_remap=None``, saving it one out-of-cache lookup per line).

    Returns
    -------
    pcounts : int64 array of n_partitions
    edges : int64 array of 5
        ``[first customer, first t, last customer, last t, sorted]``; chunks
        combine into "the whole input is sorted by (customer, t)" through
        :func:`chunks_sorted`.
    """
    if not (cust.shape == t.shape and cust.ndim == 1):
        raise ValueError("cust and t must be 1-D arrays of equal length")
    write = ranks_out is not None
    if write and (ranks_out.dtype != np.int32 or ranks_out.shape != cust.shape):
        raise ValueError("ranks_out must be an int32 array shaped like cust")
    pcounts = np.zeros(n_partitions, np.int64)
    edges = np.array([-1, 0, -1, 0, 1], np.int64)
    _count_partitions(cust, cust_remap, t, np.int64(shift), pcounts, edges,
                      ranks_out if write else _NO_RANKS, write)
    return pcounts, edges


def chunks_sorted(edges: list[np.ndarray]) -> bool:
    """Whether chunks, each sorted by (customer, t), are sorted as a sequence."""
    prev = None
    for e in edges:
        if not e[4]:
            return False
        if e[0] < 0:  # empty chunk
            continue
        if prev is not None and (e[0] < prev[2] or (e[0] == prev[2] and e[1] < prev[3])):
            return False
        prev = e
    return True


@njit(cache=True, nogil=True)
def _destinations(cust, cust_remap, shift, cursor, dest, o_cust):
    """Write position of each line in its partition (``rank >> shift``), stably."""
    for i in range(cust.shape[0]):
        c = cust_remap[cust[i]]
        p = c >> shift
        d = cursor[p]
        cursor[p] = d + 1
        dest[i] = d
        o_cust[d] = c


@njit(cache=True, nogil=True)
def _destinations_ranked(rank, shift, cursor, dest, o_cust):
    """As :func:`_destinations` for codes that already are final ranks."""
    for i in range(rank.shape[0]):
        c = rank[i]
        p = c >> shift
        d = cursor[p]
        cursor[p] = d + 1
        dest[i] = d
        o_cust[d] = c


@njit(cache=True, nogil=True)
def _put(dest, src, out):
    """``out[dest[i]] = src[i]``: one simple loop per column keeps stores independent."""
    for i in range(dest.shape[0]):
        out[dest[i]] = src[i]


@njit(cache=True, nogil=True)
def _put_remap(dest, src, remap, out):
    for i in range(dest.shape[0]):
        out[dest[i]] = remap[src[i]]


def scatter_lines(cust, cust_remap, item, item_remap, t, qty, basket, basket_remap, price,
                  store, store_remap, shift, cursor, out, dest=None) -> None:
    """Scatter one chunk into its customer partitions, stably.

    Parameters
    ----------
    cust, item, t, qty, basket, price, store : arrays
        One chunk (optional columns length 0 when absent).
    cust_remap, item_remap, basket_remap, store_remap : int32 arrays
        First-seen code -> final code for each id column; ``cust_remap`` is
        None when ``cust`` already holds final codes (see
        :func:`count_partitions`).
    shift : int
        Partition of a line: final customer code ``>> shift``.
    cursor : int64 array
        Next write position of each partition for this chunk (advanced in place).
    out : dict
        ``cust``, ``item``, ``t``, ``qty``, ``basket``, ``price``, ``store`` output
        arrays (optional ones length 0 when absent).
    dest : int64 array, optional
        Scratch of at least the chunk's length for the write positions (a
        buffer reused across chunks saves faulting in fresh pages each time).
    """
    n = cust.shape[0]
    for a in (item, t):
        if a.shape[0] != n:
            raise ValueError("chunk columns differ in length")
    for a in (qty, basket, price, store):
        if a.shape[0] not in (0, n):
            raise ValueError("optional chunk columns must be empty or match the chunk length")
    if dest is None:
        dest = np.empty(n, np.int64)
    elif dest.dtype != np.int64 or dest.ndim != 1 or dest.shape[0] < n:
        raise ValueError("dest must be a 1-D int64 array at least as long as the chunk")
    else:
        dest = dest[:n]
    if cust_remap is None:
        _destinations_ranked(cust, np.int64(shift), cursor, dest, out["cust"])
    else:
        _destinations(cust, cust_remap, np.int64(shift), cursor, dest, out["cust"])
    _put_remap(dest, item, item_remap, out["item"])
    _put(dest, t, out["t"])
    if qty.shape[0]:
        _put(dest, qty, out["qty"])
    if basket.shape[0]:
        _put_remap(dest, basket, basket_remap, out["basket"])
    if price.shape[0]:
        _put(dest, price, out["price"])
    if store.shape[0]:
        _put_remap(dest, store, store_remap, out["store"])


@njit(cache=True, nogil=True)
def _place_inplace(lo, ldest, col):
    """Reorder ``col[lo:lo+len(ldest)]`` so that its element j lands at ``ldest[j]``."""
    tmp = col[lo:lo + ldest.shape[0]].copy()
    for j in range(ldest.shape[0]):
        col[ldest[j]] = tmp[j]


@njit(cache=True, nogil=True)
def _place(start, stop, pstart, shift, n_cust, p_cust, p_item, p_t, p_qty, p_basket, p_price, p_store,
           counts):
    """Per partition, in place and in cache: count its customers' lines, then
    reorder the partition's slice of every column into customer order."""
    for p in range(start, stop):
        lo_c = p << shift
        hi_c = min(n_cust, (p + 1) << shift)
        if hi_c <= lo_c:
            continue
        lo = pstart[p]
        hi = pstart[p + 1]
        local = np.zeros(hi_c - lo_c, np.int64)
        for j in range(lo, hi):
            local[p_cust[j] - lo_c] += 1
        pos = lo
        for k in range(hi_c - lo_c):
            cnt = local[k]
            counts[lo_c + k] = cnt
            local[k] = pos
            pos += cnt
        ldest = np.empty(hi - lo, np.int64)
        for j in range(lo, hi):
            k = p_cust[j] - lo_c
            d = local[k]
            local[k] = d + 1
            ldest[j - lo] = d
        _place_inplace(lo, ldest, p_item)
        _place_inplace(lo, ldest, p_t)
        if p_qty.shape[0] > 0:
            _place_inplace(lo, ldest, p_qty)
        if p_basket.shape[0] > 0:
            _place_inplace(lo, ldest, p_basket)
        if p_price.shape[0] > 0:
            _place_inplace(lo, ldest, p_price)
        if p_store.shape[0] > 0:
            _place_inplace(lo, ldest, p_store)


@njit(cache=True, nogil=True)
def _count_sorted(p_cust, counts):
    for j in range(p_cust.shape[0]):
        counts[p_cust[j]] += 1


def place_partitions(pstart: np.ndarray, shift: int, n_cust: int, parts: dict,
                     already_sorted: bool):
    """Turn partitioned lines into the final CSR, grouped by customer, in place.

    Parameters
    ----------
    pstart : int64 array
        Start of each partition in ``parts`` (one more than partitions).
    shift : int
        As in :func:`scatter_lines`.
    n_cust : int
        Number of customers.
    parts : dict
        Partitioned columns from :func:`scatter_lines` (``cust`` included);
        reordered in place (``cust`` is left in partition order: scratch).
    already_sorted : bool
        The input was sorted by (customer, t): ``parts`` already is the final
        order and only the per-customer counts are computed (fast path).

    Returns
    -------
    offsets : int64 array of n_cust + 1
    lines : dict
        ``item``, ``t``, ``qty``, ``basket``, ``price``, ``store`` in CSR order
        (the arrays of ``parts``).
    """
    counts = np.zeros(n_cust, np.int64)
    if already_sorted:
        _count_sorted(parts["cust"], counts)
    elif n_cust:
        run_ranges(_place, pstart.shape[0] - 1, pstart, np.int64(shift), np.int64(n_cust),
                   parts["cust"], parts["item"],
               parts["t"], parts["qty"], parts["basket"], parts["price"], parts["store"],
               counts)
    offsets = np.zeros(n_cust + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, {k: v for k, v in parts.items() if k != "cust"}


def partition_shift(n_cust: int, n_lines: int, target_lines: int = 1 << 15,
                    max_partitions: int = 512) -> int:
    """Shift so that partitions hold about ``target_lines`` lines (fit in L2)."""
    want = min(max_partitions, max(1, n_lines // max(target_lines, 1)))
    per = max(1, -(-max(n_cust, 1) // want))  # customers per partition, rounded up
    return int(per - 1).bit_length()


@helper
def _f_lt(x, y):
    """Total order on floats: NaN after every number, NaN equal to NaN."""
    if np.isnan(x):
        return False
    if np.isnan(y):
        return True
    return x < y


@helper
def _f_eq(x, y):
    return x == y or (np.isnan(x) and np.isnan(y))


@helper
def _rest_less(a, b, qty, price, store):
    """Order of two lines equal on (time, basket, item): (quantity, price, store)."""
    if qty.shape[0] > 0 and not _f_eq(qty[a], qty[b]):
        return _f_lt(qty[a], qty[b])
    if price.shape[0] > 0 and not _f_eq(price[a], price[b]):
        return _f_lt(price[a], price[b])
    if store.shape[0] > 0 and store[a] != store[b]:
        return store[a] < store[b]
    return False


@helper
def _rest_equal(a, b, qty, price, store):
    """Whether two lines equal on (time, basket, item) are equal on the rest."""
    if qty.shape[0] > 0 and not _f_eq(qty[a], qty[b]):
        return False
    if price.shape[0] > 0 and not _f_eq(price[a], price[b]):
        return False
    if store.shape[0] > 0 and store[a] != store[b]:
        return False
    return True


@helper
def _permute(lo, order, a, tmp):
    """``a[lo + k] = a[lo + order[k]]`` for every ``k`` at once (``tmp``: scratch of
    ``a``'s dtype, at least ``len(order)``)."""
    for k in range(order.shape[0]):
        tmp[k] = a[lo + order[k]]
    for k in range(order.shape[0]):
        a[lo + k] = tmp[k]


@helper
def _permute_columns(lo, order, basket, item, qty, price, store, ti, tb, tq, tp, ts):
    """:func:`_permute` of every column but the time (those present)."""
    _permute(lo, order, item, ti)
    if basket.shape[0] > 0:
        _permute(lo, order, basket, tb)
    if qty.shape[0] > 0:
        _permute(lo, order, qty, tq)
    if price.shape[0] > 0:
        _permute(lo, order, price, tp)
    if store.shape[0] > 0:
        _permute(lo, order, store, ts)


@njit(cache=True, nogil=True, inline="always")
def _position_bits(m):
    """Bits that hold a position below ``m`` (at least 1)."""
    bits = np.int64(1)
    while (np.int64(1) << bits) < m:
        bits += 1
    return bits


@njit(cache=True, nogil=True, inline="always")
def _packed_order(keys, m, bits, scratch):
    """Sort ``keys[:m]`` (``value << bits | position``, all distinct) and strip them to
    their positions: the stable order of the values, as a view of ``keys``."""
    order = keys[:m]
    sort_keys(order, scratch)
    mask = (np.int64(1) << bits) - 1
    for k in range(m):
        order[k] &= mask
    return order


@helper
def _time_order(lo, hi, t, keys, scratch):
    """The stable order of ``t[lo:hi]`` (``hi - lo >= 2``), as positions in a view of
    ``keys`` (``keys`` and ``scratch``: int64 scratch of at least ``hi - lo``).

    The times are packed with their positions into distinct int64 keys,
    ``(t - min) << bits | position``, and sorted in place
    (:func:`basketguard.kernels.sorting.sort_keys`). A segment whose time span
    leaves too few bits (times centuries apart in a long history) packs the rank of
    each time among the segment's times instead, which is below ``hi - lo``.

    A helper, not inlined at Numba's level: inlined into ``_sort_all``, the cold compile of
    ``sort_and_scan`` took 4.5-4.8 s against 4.2-4.5 s (4 runs each, interleaved,
    when it still sorted with ``ndarray.sort()``). Against the ``np.argsort`` merge
    sort and insertion sort it replaced, 10M lines in unsorted 100-line segments sort
    and count in 0.18-0.19 s either way, in 20-line segments in 0.18 s instead of
    0.20 s.
    """
    m = hi - lo
    bits = _position_bits(m)
    tmin = t[lo]
    tmax = t[lo]
    for i in range(lo + 1, hi):
        tmin = min(tmin, t[i])
        tmax = max(tmax, t[i])
    if bits < 63 and tmax - tmin < (np.int64(1) << (np.int64(63) - bits)):
        for k in range(m):
            keys[k] = ((t[lo + k] - tmin) << bits) | k
    else:
        if 2 * bits > 63:
            raise ValueError("a customer with more than 2**31 lines spanning centuries")
        for k in range(m):
            keys[k] = t[lo + k]
        sort_keys(keys[:m], scratch)
        for k in range(m):
            x = t[lo + k]
            a = np.int64(0)  # the first position of x among the sorted times
            b = np.int64(m)
            while a < b:
                h = (a + b) >> 1
                if keys[h] < x:
                    a = h + 1
                else:
                    b = h
            scratch[k] = (a << bits) | k
        for k in range(m):
            keys[k] = scratch[k]
    return _packed_order(keys, m, bits, scratch)


@helper
def _sort_run(a, b, item, qty, price, store, keys, scratch, tq, tp, ts):
    """Sort lines a:b (at least two), which share one time and basket, by the rest of
    the line key; return (whether a line moved, adjacent duplicates after the sort).

    The usual run is one basket's lines in till order: its items are sorted as
    packed int64 keys (item, position), which carry the permutation, and lines
    tying on item (rare) are then ordered by (quantity, price, store) on those
    keys; one gather applies it. No check comes first: a basket's items are
    rarely in order, and the comparisons of a check cost about as much as the
    sort. The order is stable, so lines equal on the whole key keep their order.
    """
    r = b - a
    for k in range(r):
        keys[k] = (np.int64(item[a + k]) << 32) | k
    if r <= 48:
        for k in range(1, r):
            v = keys[k]
            p = k
            while p > 0 and keys[p - 1] > v:
                keys[p] = keys[p - 1]
                p -= 1
            keys[p] = v
    else:  # the keys are distinct (their low bits are positions)
        sort_keys(keys[:r], scratch)
    low = np.int64(0xFFFFFFFF)
    rest = qty.shape[0] > 0 or price.shape[0] > 0 or store.shape[0] > 0
    nd = 0
    for k in range(1, r):
        if (keys[k] >> 32) != (keys[k - 1] >> 32):
            continue
        # lines tying on item: insertion on (quantity, price, store), then the count
        if rest:
            v = keys[k]
            p = k
            while (p > 0 and (keys[p - 1] >> 32) == (v >> 32)
                   and _rest_less(a + (v & low), a + (keys[p - 1] & low), qty, price, store)):
                keys[p] = keys[p - 1]
                p -= 1
            keys[p] = v
    for k in range(1, r):
        if (keys[k] >> 32) == (keys[k - 1] >> 32) and (
                not rest or _rest_equal(a + (keys[k] & low), a + (keys[k - 1] & low),
                                        qty, price, store)):
            nd += 1
    moved = False
    for k in range(r):
        if (keys[k] & low) != k:
            moved = True
            break
    if not moved:
        return False, nd
    for k in range(r):
        item[a + k] = np.int32(keys[k] >> 32)
    if qty.shape[0] > 0:
        for k in range(r):
            tq[k] = qty[a + (keys[k] & low)]
        for k in range(r):
            qty[a + k] = tq[k]
    if price.shape[0] > 0:
        for k in range(r):
            tp[k] = price[a + (keys[k] & low)]
        for k in range(r):
            price[a + k] = tp[k]
    if store.shape[0] > 0:
        for k in range(r):
            ts[k] = store[a + (keys[k] & low)]
        for k in range(r):
            store[a + k] = ts[k]
    return True, nd


# _sort_segment is inlined into its one caller: as a dispatcher of its own, Numba
# linked its code into the caller and optimized it again (sort_and_scan 4.5-4.8 s
# to compile against 4.3-4.4 s). _sort_run was inlined too (5.6 -> 5.3 s when the
# inner functions were dispatchers); with them all as helpers (basketguard.kernels.jit)
# it compiles for less as a helper: 3.7-3.9 s against 4.3-4.4 s, 10M lines sorted in
# the same time (bench/bench_sort.py). Not the small comparisons: inlined at every
# call site they cost 2.5 s more.
@njit(cache=True, nogil=True, inline="always")
def _sort_segment(lo, hi, t, basket, item, qty, price, store, keys, scratch, ti, tb, tq, tp,
                  ts, n_baskets, n_dups, c):
    """Sort one customer's lines in place by the line key, and count its distinct
    times and adjacent duplicates (as :func:`_scan_segment`) in the same pass.

    A segment out of time order is sorted on t first (stable, :func:`_time_order`).
    Then each run of equal times (the usual case: one basket's lines) is, when it
    holds several baskets, sorted on the basket (stable, packed keys as in
    :func:`_time_order`), and each run of one (time, basket) is sorted by the rest
    of the key (:func:`_sort_run`) while it is in cache. ``keys`` and ``scratch``
    (int64) and ``ti``, ``tb``, ``tq``, ``tp``, ``ts`` (of the dtypes of item,
    basket, quantity, price and store) are scratch of at least the segment's length
    (the last four only for the columns present). Returns whether any line moved.
    """
    m = hi - lo
    moved = False
    ties = False
    for i in range(lo + 1, hi):
        if t[i] <= t[i - 1]:
            if t[i] < t[i - 1]:
                moved = True
                break
            ties = True
    if not moved and not ties:  # times strictly rising: nothing to sort or count
        n_baskets[c] = m
        n_dups[c] = 0
        return False
    has_b = basket.shape[0] > 0
    if moved:
        order = _time_order(lo, hi, t, keys, scratch)
        _permute(lo, order, t, scratch)
        _permute_columns(lo, order, basket, item, qty, price, store, ti, tb, tq, tp, ts)
    nb = 0
    nd = 0
    a = lo
    while a < hi:
        b = a + 1
        while b < hi and t[b] == t[a]:
            b += 1
        nb += 1
        if b - a > 1:
            if has_b:
                bmin = basket[a]
                several = False
                for k in range(a + 1, b):
                    if basket[k] != bmin:
                        several = True
                    bmin = min(bmin, basket[k])
                if several:  # a time shared by several baskets: order them, stably
                    r = b - a
                    bits = _position_bits(r)
                    for k in range(r):
                        keys[k] = ((np.int64(basket[a + k]) - np.int64(bmin)) << bits) | k
                    order = _packed_order(keys, r, bits, scratch)
                    out_of_order = False
                    for k in range(r):
                        out_of_order |= order[k] != k
                    if out_of_order:
                        moved = True
                        _permute_columns(a, order, basket, item, qty, price, store, ti, tb,
                                         tq, tp, ts)
            x = a
            while x < b:  # each run of one (time, basket)
                y = x + 1
                while y < b and (not has_b or basket[y] == basket[x]):
                    y += 1
                if y - x > 1:
                    run_moved, run_dups = _sort_run(x, y, item, qty, price, store,
                                                    keys, scratch, tq, tp, ts)
                    moved = moved or run_moved
                    nd += run_dups
                x = y
        a = b
    n_baskets[c] = nb
    n_dups[c] = nd
    return moved


@njit(cache=True, nogil=True)
def _sort_all(start, stop, offsets, t, basket, item, qty, price, store, resorted, n_baskets, n_dups):
    """Per customer: sort its lines if needed and, while they are in cache, count
    its distinct times and adjacent duplicates, as :func:`_scan_customers`."""
    longest = 0
    for c in range(start, stop):
        longest = max(longest, offsets[c + 1] - offsets[c])
    keys = np.empty(longest, np.int64)
    scratch = np.empty(longest, np.int64)
    ti = np.empty(longest, item.dtype)
    tb = np.empty(longest if basket.shape[0] > 0 else 0, basket.dtype)
    tq = np.empty(longest if qty.shape[0] > 0 else 0, qty.dtype)
    tp = np.empty(longest if price.shape[0] > 0 else 0, price.dtype)
    ts = np.empty(longest if store.shape[0] > 0 else 0, store.dtype)
    for c in range(start, stop):
        if _sort_segment(offsets[c], offsets[c + 1], t, basket, item, qty, price, store,
                         keys, scratch, ti, tb, tq, tp, ts, n_baskets, n_dups, c):
            resorted[c] = 1


def sort_segments(offsets, t, basket, item, qty, price, store) -> int:
    """Sort each customer's lines by the line key, in place.

    Customers whose lines are already in order are only checked.

    Returns
    -------
    int
        Number of customers whose lines had to be reordered.
    """
    return sort_and_scan(offsets, t, basket, item, qty, price, store)[0]


def sort_and_scan(offsets, t, basket, item, qty, price, store):
    """:func:`sort_segments` and :func:`scan_customers` in one pass over the lines.

    Returns
    -------
    resorted : int
        Number of customers whose lines had to be reordered.
    n_times, n_dups : int64 arrays
        As returned by :func:`scan_customers` on the sorted lines.
    """
    n = max(offsets.shape[0] - 1, 0)
    resorted = np.zeros(n, np.uint8)
    n_times = np.zeros(n, np.int64)
    n_dups = np.zeros(n, np.int64)
    if n:
        run_ranges(_sort_all, n, offsets, t, basket, item, qty, price, store, resorted,
                   n_times, n_dups, parts=_PARTS)
    return int(resorted.sum()), n_times, n_dups


@njit(cache=True, nogil=True)
def _same_line(a, b, t, basket, item, qty, price, store):
    if t[a] != t[b] or item[a] != item[b]:
        return False
    if basket.shape[0] > 0 and basket[a] != basket[b]:
        return False
    return _rest_equal(a, b, qty, price, store)


@njit(cache=True, nogil=True)
def _scan_segment(lo, hi, t, basket, item, qty, price, store, n_baskets, n_dups, c):
    """Distinct times (derived baskets) and adjacent duplicates of lines lo:hi."""
    nb = 0
    nd = 0
    for i in range(lo, hi):
        if i == lo or t[i] != t[i - 1]:
            nb += 1
        elif _same_line(i, i - 1, t, basket, item, qty, price, store):
            nd += 1
    n_baskets[c] = nb
    n_dups[c] = nd


@njit(cache=True, nogil=True)
def _scan_customers(start, stop, offsets, t, basket, item, qty, price, store, n_baskets, n_dups):
    """Per customer: distinct times (derived baskets) and adjacent duplicates."""
    for c in range(start, stop):
        _scan_segment(offsets[c], offsets[c + 1], t, basket, item, qty, price, store,
                      n_baskets, n_dups, c)


@njit(cache=True, nogil=True)
def _derive_baskets(start, stop, offsets, basket_start, t, keep, o_basket):
    """Basket code per kept line: distinct (customer, t), numbered in CSR order."""
    use_keep = keep.shape[0] > 0
    for c in range(start, stop):
        b = basket_start[c] - 1
        for i in range(offsets[c], offsets[c + 1]):
            if i == offsets[c] or t[i] != t[i - 1]:
                b += 1
            if not use_keep or keep[i]:
                o_basket[i] = b


@njit(cache=True, nogil=True)
def _duplicate_mask(start, stop, offsets, t, basket, item, qty, price, store, keep):
    for c in range(start, stop):
        lo = offsets[c]
        for i in range(lo, offsets[c + 1]):
            keep[i] = i == lo or not _same_line(i, i - 1, t, basket, item, qty, price, store)


def scan_customers(offsets, t, basket, item, qty, price, store):
    """Count each customer's distinct purchase times and exact duplicate lines.

    Lines must be sorted per customer by the line key (:func:`sort_segments`).

    Returns
    -------
    n_times : int64 array
        Distinct timestamps per customer (the derived baskets).
    n_dups : int64 array
        Lines equal in every column to the previous line of the customer.
    """
    n = max(offsets.shape[0] - 1, 0)
    n_times = np.zeros(n, np.int64)
    n_dups = np.zeros(n, np.int64)
    if n:
        run_ranges(_scan_customers, n, offsets, t, basket, item, qty, price, store, n_times,
                   n_dups, parts=_PARTS)
    return n_times, n_dups


def finalize_lines(offsets, t, basket, item, qty, price, store, n_times, n_dups,
                   derive_basket: bool, drop_duplicates: bool,
                   day_out: np.ndarray | None = None, basket_out: np.ndarray | None = None):
    """Compute day numbers and basket codes, dropping duplicates if asked.

    Line columns are reused as they are when no line is dropped (no copy).

    Parameters
    ----------
    offsets : int64 array
        CSR offsets of the sorted lines.
    t, basket, item, qty, price, store : arrays
        Sorted line columns (optional ones length 0 when absent; ``basket``
        length 0 when it is to be derived).
    n_times, n_dups : int64 arrays
        From :func:`scan_customers`.
    derive_basket : bool
        Number baskets as the distinct (customer, time) pairs, in CSR order.
    drop_duplicates : bool
        Leave out lines that repeat the previous line exactly.
    day_out, basket_out : int32 arrays, optional
        Scratch buffers of the lines' length to write days and derived
        baskets into (already touched memory is much cheaper than fresh
        pages for arrays of hundreds of MB).

    Returns
    -------
    dict
        ``offsets`` (int64), ``day`` (int32), ``basket`` (int32), ``item`` (int32)
        and ``quantity``, ``price``, ``store`` (length 0 when absent).
    """
    for buf in (day_out, basket_out):
        if buf is not None and (buf.dtype != np.int32 or buf.shape != t.shape):
            raise ValueError("day_out / basket_out must be int32 arrays shaped like t")
    n = max(offsets.shape[0] - 1, 0)
    # One pass per customer (days, derived baskets, range check) when the
    # offsets cover every line, as the engine's always do.
    fused = n > 0 and int(offsets[0]) == 0 and int(offsets[-1]) == t.shape[0]
    if not fused and t.shape[0] and (int(t.min()) < MIN_SECONDS or
                                     int(t.max()) > MAX_SECONDS):
        raise ValueError(_RANGE_MESSAGE)
    total_dups = int(n_dups.sum()) if n else 0
    drop = bool(drop_duplicates) and total_dups > 0
    basket_start = np.zeros(n, np.int64)
    if n:
        np.cumsum(n_times[:-1], out=basket_start[1:])
    keep = np.empty(t.shape[0] if drop else 0, np.bool_)
    if drop:
        run_ranges(_duplicate_mask, n, offsets, t, basket, item, qty, price, store, keep,
                   parts=_PARTS)
    if derive_basket:
        new_basket = basket_out if basket_out is not None else np.empty(t.shape[0], np.int32)
    if fused:
        day = day_out if day_out is not None else np.empty(t.shape[0], np.int32)
        bad = sum(run_ranges(_days_baskets, n, offsets, basket_start, t, derive_basket, day,
                             new_basket if derive_basket else _NO_RANKS, parts=_PARTS))
        if bad:
            raise ValueError(_RANGE_MESSAGE)
    else:
        if derive_basket and n:
            run_ranges(_derive_baskets, n, offsets, basket_start, t, np.empty(0, np.bool_),
                       new_basket, parts=_PARTS)
        day = days_from_seconds(t, day_out)
    if derive_basket:
        basket = new_basket
    cols = {"day": day, "basket": basket, "item": item, "quantity": qty, "price": price,
            "store": store}
    if drop:
        cols = {k: (v[keep] if v.shape[0] else v) for k, v in cols.items()}
        sizes = np.diff(offsets) - n_dups
    else:
        sizes = np.diff(offsets)
    new_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=new_offsets[1:])
    cols["offsets"] = new_offsets
    return cols


@njit(cache=True, nogil=True)
def _days_baskets(start, stop, offsets, basket_start, t, derive, day, o_basket):
    """Per customer, one pass over its times: day numbers, derived basket codes
    (distinct times numbered from ``basket_start``, when ``derive``), and the
    number of times whose day does not fit int32 (returned; the caller raises)."""
    bad = 0
    for c in range(start, stop):
        lo = offsets[c]
        b = basket_start[c] - 1
        for i in range(lo, offsets[c + 1]):
            ti = t[i]
            if ti < MIN_SECONDS or ti > MAX_SECONDS:
                bad += 1  # no day written: it would not fit (the caller raises)
            else:
                day[i] = ti // SECONDS_PER_DAY  # floor division, as in Python
            if derive:
                if i == lo or ti != t[i - 1]:
                    b += 1
                o_basket[i] = b
    return bad


def days_from_seconds(t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Floor of ``t / 86400`` as int32 (days since the epoch), into ``out`` if given."""
    day = out if out is not None else np.empty(t.shape[0], np.int32)
    run_ranges(_days, t.shape[0], t, day)
    return day


@njit(cache=True, nogil=True)
def _days(start, stop, t, out):
    for i in range(start, stop):
        out[i] = t[i] // SECONDS_PER_DAY  # floor division, as in Python
