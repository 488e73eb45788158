"""Build customer histories: CSR of basket lines grouped by customer, time-sorted.

The build is a counting sort by customer (count, prefix sum, scatter) over a
list of chunks, followed by a per-customer sort on the line key

    (time, basket, item, quantity, price, store)

which orders each customer's lines by time and puts exact duplicates next to
each other. Input that is already sorted by (customer, time) scatters
sequentially and its per-customer pass only checks order (the fast path).

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
from numba import njit, prange

SECONDS_PER_DAY = 86400
#: Times the kernels accept: those whose day number fits int32.
MIN_SECONDS = -(2**31) * SECONDS_PER_DAY
MAX_SECONDS = 2**31 * SECONDS_PER_DAY - 1

#: Duplicate policy codes passed to :func:`finalize_lines`.
DUP_KEEP, DUP_DROP = 0, 1


@njit(cache=True, nogil=True)
def _count_partitions(cust, cust_remap, t, shift, pcounts, edges):
    """Lines per partition (``rank >> shift``) of one chunk, and its sortedness.

    ``edges`` = [first rank, first t, last rank, last t, sorted (1/0)].
    """
    ok = 1
    prev_c = -1
    prev_t = 0
    for i in range(cust.shape[0]):
        c = cust_remap[cust[i]]
        pcounts[c >> shift] += 1
        ti = t[i]
        if i > 0 and (c < prev_c or (c == prev_c and ti < prev_t)):
            ok = 0
        prev_c = c
        prev_t = ti
    if cust.shape[0]:
        edges[0] = cust_remap[cust[0]]
        edges[1] = t[0]
    edges[2] = prev_c
    edges[3] = prev_t
    edges[4] = ok


def count_partitions(cust: np.ndarray, cust_remap: np.ndarray, t: np.ndarray, shift: int,
                     n_partitions: int) -> tuple[np.ndarray, np.ndarray]:
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
    pcounts = np.zeros(n_partitions, np.int64)
    edges = np.array([-1, 0, -1, 0, 1], np.int64)
    _count_partitions(cust, cust_remap, t, np.int64(shift), pcounts, edges)
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
def _scatter(cust, cust_remap, item, item_remap, t, qty, basket, basket_remap, price, store,
             store_remap, shift, cursor, o_cust, o_item, o_t, o_qty, o_basket, o_price,
             o_store):
    """Stable scatter of one chunk into partitions (``rank >> shift``)."""
    has_q = qty.shape[0] > 0
    has_b = basket.shape[0] > 0
    has_p = price.shape[0] > 0
    has_s = store.shape[0] > 0
    for i in range(cust.shape[0]):
        c = cust_remap[cust[i]]
        p = c >> shift
        d = cursor[p]
        cursor[p] = d + 1
        o_cust[d] = c
        o_item[d] = item_remap[item[i]]
        o_t[d] = t[i]
        if has_q:
            o_qty[d] = qty[i]
        if has_b:
            o_basket[d] = basket_remap[basket[i]]
        if has_p:
            o_price[d] = price[i]
        if has_s:
            o_store[d] = store_remap[store[i]]


def scatter_lines(cust, cust_remap, item, item_remap, t, qty, basket, basket_remap, price,
                  store, store_remap, shift, cursor, out) -> None:
    """Scatter one chunk into its customer partitions, stably.

    Parameters
    ----------
    cust, item, t, qty, basket, price, store : arrays
        One chunk (optional columns length 0 when absent).
    cust_remap, item_remap, basket_remap, store_remap : int32 arrays
        First-seen code -> final code for each id column.
    shift : int
        Partition of a line: final customer code ``>> shift``.
    cursor : int64 array
        Next write position of each partition for this chunk (advanced in place).
    out : dict
        ``cust``, ``item``, ``t``, ``qty``, ``basket``, ``price``, ``store`` output
        arrays (optional ones length 0 when absent).
    """
    n = cust.shape[0]
    for a in (item, t):
        if a.shape[0] != n:
            raise ValueError("chunk columns differ in length")
    for a in (qty, basket, price, store):
        if a.shape[0] not in (0, n):
            raise ValueError("optional chunk columns must be empty or match the chunk length")
    _scatter(cust, cust_remap, item, item_remap, t, qty, basket, basket_remap, price, store,
             store_remap, np.int64(shift), cursor, out["cust"], out["item"], out["t"],
             out["qty"], out["basket"], out["price"], out["store"])


@njit(cache=True, nogil=True, parallel=True)
def _place(pstart, shift, n_cust, p_cust, p_item, p_t, p_qty, p_basket, p_price, p_store,
           counts, o_item, o_t, o_qty, o_basket, o_price, o_store):
    """Per partition (in cache): count its customers' lines, then scatter them."""
    n_part = pstart.shape[0] - 1
    has_q = p_qty.shape[0] > 0
    has_b = p_basket.shape[0] > 0
    has_p = p_price.shape[0] > 0
    has_s = p_store.shape[0] > 0
    for p in prange(n_part):
        lo_c = p << shift
        hi_c = min(n_cust, (p + 1) << shift)
        if hi_c <= lo_c:
            continue
        local = np.zeros(hi_c - lo_c, np.int64)
        for j in range(pstart[p], pstart[p + 1]):
            local[p_cust[j] - lo_c] += 1
        pos = pstart[p]
        for k in range(hi_c - lo_c):
            cnt = local[k]
            counts[lo_c + k] = cnt
            local[k] = pos
            pos += cnt
        for j in range(pstart[p], pstart[p + 1]):
            k = p_cust[j] - lo_c
            d = local[k]
            local[k] = d + 1
            o_item[d] = p_item[j]
            o_t[d] = p_t[j]
            if has_q:
                o_qty[d] = p_qty[j]
            if has_b:
                o_basket[d] = p_basket[j]
            if has_p:
                o_price[d] = p_price[j]
            if has_s:
                o_store[d] = p_store[j]


@njit(cache=True, nogil=True)
def _count_sorted(p_cust, counts):
    for j in range(p_cust.shape[0]):
        counts[p_cust[j]] += 1


def place_partitions(pstart: np.ndarray, shift: int, n_cust: int, parts: dict,
                     already_sorted: bool):
    """Turn partitioned lines into the final CSR, grouped by customer.

    Parameters
    ----------
    pstart : int64 array
        Start of each partition in ``parts`` (one more than partitions).
    shift : int
        As in :func:`scatter_lines`.
    n_cust : int
        Number of customers.
    parts : dict
        Partitioned columns from :func:`scatter_lines` (``cust`` included).
    already_sorted : bool
        The input was sorted by (customer, t): ``parts`` already is the final
        order and only the per-customer counts are computed (fast path).

    Returns
    -------
    offsets : int64 array of n_cust + 1
    lines : dict
        ``item``, ``t``, ``qty``, ``basket``, ``price``, ``store`` in CSR order.
    """
    counts = np.zeros(n_cust, np.int64)
    if already_sorted:
        _count_sorted(parts["cust"], counts)
        lines = {k: v for k, v in parts.items() if k != "cust"}
    else:
        lines = {k: np.empty_like(v) for k, v in parts.items() if k != "cust"}
        if n_cust:
            _place(pstart, np.int64(shift), np.int64(n_cust), parts["cust"], parts["item"],
                   parts["t"], parts["qty"], parts["basket"], parts["price"], parts["store"],
                   counts, lines["item"], lines["t"], lines["qty"], lines["basket"],
                   lines["price"], lines["store"])
    offsets = np.zeros(n_cust + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, lines


def partition_shift(n_cust: int, n_lines: int, target_lines: int = 1 << 15,
                    max_partitions: int = 512) -> int:
    """Shift so that partitions hold about ``target_lines`` lines (fit in L2)."""
    want = min(max_partitions, max(1, n_lines // max(target_lines, 1)))
    per = max(1, -(-max(n_cust, 1) // want))  # customers per partition, rounded up
    return int(per - 1).bit_length()


@njit(cache=True, nogil=True)
def _f_lt(x, y):
    """Total order on floats: NaN after every number, NaN equal to NaN."""
    if np.isnan(x):
        return False
    if np.isnan(y):
        return True
    return x < y


@njit(cache=True, nogil=True)
def _f_eq(x, y):
    return x == y or (np.isnan(x) and np.isnan(y))


@njit(cache=True, nogil=True)
def _less(a, b, t, basket, item, qty, price, store):
    """Line-key order: (t, basket, item, qty, price, store)."""
    if t[a] != t[b]:
        return t[a] < t[b]
    if basket.shape[0] > 0 and basket[a] != basket[b]:
        return basket[a] < basket[b]
    if item[a] != item[b]:
        return item[a] < item[b]
    if qty.shape[0] > 0 and not _f_eq(qty[a], qty[b]):
        return _f_lt(qty[a], qty[b])
    if price.shape[0] > 0 and not _f_eq(price[a], price[b]):
        return _f_lt(price[a], price[b])
    if store.shape[0] > 0 and store[a] != store[b]:
        return store[a] < store[b]
    return False


@njit(cache=True, nogil=True)
def _segment_sorted(lo, hi, t, basket, item, qty, price, store):
    for i in range(lo + 1, hi):
        if _less(i, i - 1, t, basket, item, qty, price, store):
            return False
    return True


@njit(cache=True, nogil=True)
def _permute(lo, order, a):
    tmp = a[lo:lo + order.shape[0]].copy()
    for k in range(order.shape[0]):
        a[lo + k] = tmp[order[k]]


@njit(cache=True, nogil=True)
def _sort_segment(lo, hi, t, basket, item, qty, price, store):
    """Sort one customer's lines in place: merge sort on t, insertion on ties."""
    m = hi - lo
    order = np.argsort(t[lo:hi], kind="mergesort")
    _permute(lo, order, t)
    _permute(lo, order, item)
    if basket.shape[0] > 0:
        _permute(lo, order, basket)
    if qty.shape[0] > 0:
        _permute(lo, order, qty)
    if price.shape[0] > 0:
        _permute(lo, order, price)
    if store.shape[0] > 0:
        _permute(lo, order, store)
    # Ties on t: insertion sort by the remaining key columns (runs are short).
    i = 0
    while i < m:
        j = i + 1
        while j < m and t[lo + j] == t[lo + i]:
            j += 1
        for k in range(lo + i + 1, lo + j):
            p = k
            while p > lo + i and _less(p, p - 1, t, basket, item, qty, price, store):
                _swap(p, p - 1, t, basket, item, qty, price, store)
                p -= 1
        i = j


@njit(cache=True, nogil=True)
def _swap(a, b, t, basket, item, qty, price, store):
    t[a], t[b] = t[b], t[a]
    item[a], item[b] = item[b], item[a]
    if basket.shape[0] > 0:
        basket[a], basket[b] = basket[b], basket[a]
    if qty.shape[0] > 0:
        qty[a], qty[b] = qty[b], qty[a]
    if price.shape[0] > 0:
        price[a], price[b] = price[b], price[a]
    if store.shape[0] > 0:
        store[a], store[b] = store[b], store[a]


@njit(cache=True, nogil=True, parallel=True)
def _sort_all(offsets, t, basket, item, qty, price, store, resorted):
    n = offsets.shape[0] - 1
    for c in prange(n):
        lo = offsets[c]
        hi = offsets[c + 1]
        if hi - lo > 1 and not _segment_sorted(lo, hi, t, basket, item, qty, price, store):
            _sort_segment(lo, hi, t, basket, item, qty, price, store)
            resorted[c] = 1


def sort_segments(offsets, t, basket, item, qty, price, store) -> int:
    """Sort each customer's lines by the line key, in place.

    Customers whose lines are already in order are only checked.

    Returns
    -------
    int
        Number of customers whose lines had to be reordered.
    """
    resorted = np.zeros(max(offsets.shape[0] - 1, 0), np.uint8)
    if resorted.shape[0]:
        _sort_all(offsets, t, basket, item, qty, price, store, resorted)
    return int(resorted.sum())


@njit(cache=True, nogil=True)
def _same_line(a, b, t, basket, item, qty, price, store):
    if t[a] != t[b] or item[a] != item[b]:
        return False
    if basket.shape[0] > 0 and basket[a] != basket[b]:
        return False
    if qty.shape[0] > 0 and not _f_eq(qty[a], qty[b]):
        return False
    if price.shape[0] > 0 and not _f_eq(price[a], price[b]):
        return False
    if store.shape[0] > 0 and store[a] != store[b]:
        return False
    return True


@njit(cache=True, nogil=True, parallel=True)
def _scan_customers(offsets, t, basket, item, qty, price, store, n_baskets, n_dups):
    """Per customer: distinct times (derived baskets) and adjacent duplicates."""
    n = offsets.shape[0] - 1
    for c in prange(n):
        lo = offsets[c]
        hi = offsets[c + 1]
        nb = 0
        nd = 0
        for i in range(lo, hi):
            if i == lo or t[i] != t[i - 1]:
                nb += 1
            elif _same_line(i, i - 1, t, basket, item, qty, price, store):
                nd += 1
        n_baskets[c] = nb
        n_dups[c] = nd


@njit(cache=True, nogil=True, parallel=True)
def _finalize(offsets, new_offsets, basket_start, t, basket, item, qty, price, store,
              derive_basket, drop_dups, o_day, o_basket, o_item, o_qty, o_price, o_store):
    n = offsets.shape[0] - 1
    for c in prange(n):
        lo = offsets[c]
        hi = offsets[c + 1]
        w = new_offsets[c]
        b = basket_start[c] - 1
        for i in range(lo, hi):
            first_t = i == lo or t[i] != t[i - 1]
            if first_t:
                b += 1
            elif drop_dups and _same_line(i, i - 1, t, basket, item, qty, price, store):
                continue
            o_day[w] = np.int32(t[i] // 86400)  # floor division, as in Python
            o_item[w] = item[i]
            if derive_basket:
                o_basket[w] = b
            else:
                o_basket[w] = basket[i]
            if qty.shape[0] > 0:
                o_qty[w] = qty[i]
            if price.shape[0] > 0:
                o_price[w] = price[i]
            if store.shape[0] > 0:
                o_store[w] = store[i]
            w += 1


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
        _scan_customers(offsets, t, basket, item, qty, price, store, n_times, n_dups)
    return n_times, n_dups


def finalize_lines(offsets, t, basket, item, qty, price, store, n_times, n_dups,
                   derive_basket: bool, drop_duplicates: bool):
    """Compute day numbers and basket codes, dropping duplicates if asked.

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

    Returns
    -------
    dict
        ``offsets`` (int64), ``day`` (int32), ``basket`` (int32), ``item`` (int32)
        and ``quantity``, ``price``, ``store`` (length 0 when absent).
    """
    if t.shape[0] and (int(t.min()) < MIN_SECONDS or int(t.max()) > MAX_SECONDS):
        raise ValueError("times must have day numbers within int32 (the engine keeps "
                         "0001-01-01 .. 9999-12-31)")
    n = max(offsets.shape[0] - 1, 0)
    sizes = np.diff(offsets) - (n_dups if drop_duplicates else 0)
    new_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=new_offsets[1:])
    basket_start = np.zeros(n, np.int64)
    if n:
        np.cumsum(n_times[:-1], out=basket_start[1:])
    total = int(new_offsets[-1])
    o_day = np.empty(total, np.int32)
    o_basket = np.empty(total, np.int32)
    o_item = np.empty(total, np.int32)
    o_qty = np.empty(total if qty.shape[0] else 0, np.float32)
    o_price = np.empty(total if price.shape[0] else 0, np.float32)
    o_store = np.empty(total if store.shape[0] else 0, np.int32)
    if n:
        _finalize(offsets, new_offsets, basket_start, t, basket, item, qty, price, store,
                  bool(derive_basket), bool(drop_duplicates),
                  o_day, o_basket, o_item, o_qty, o_price, o_store)
    return {"offsets": new_offsets, "day": o_day, "basket": o_basket, "item": o_item,
            "quantity": o_qty, "price": o_price, "store": o_store}


def days_from_seconds(t: np.ndarray) -> np.ndarray:
    """Floor of ``t / 86400`` as int32 (days since the epoch)."""
    return np.floor_divide(t, SECONDS_PER_DAY).astype(np.int32)
