"""Per-customer learning features, group support and first purchase days.

Input contract
--------------
- Histories: ``offsets`` int64 (C + 1, from 0, non-decreasing, ending at L),
  ``item`` int32 (L) item codes in ``[0, n_items)``, ``day`` int32 (L, days
  since the epoch), each customer's lines sorted by day (ties in any order);
  ``quantity`` float32 (L), or empty (or None): every line's quantity is then 1.0.
- Feature groups (a product concept, a taxonomy node, a single frequent item):
  the CSR ``item_offsets`` int64 (n_items + 1) over ``item_groups`` int32; the
  groups of item code ``i`` are ``item_groups[item_offsets[i]:item_offsets[i + 1]]``,
  distinct, in any order, each in ``[0, n_groups)``; an item may be in no group
  or in many.
- ``drop`` uint8 (n_items): an item with ``drop[i] != 0`` is removed from
  everything, global statistics included (anchor products taken out of the
  features).
- ``ref`` int32 (C): each customer's reference day. A line *counts* when
  ``drop[item] == 0`` and ``day <= ref[c]``: no purchase after the reference
  day ever reaches a feature or a support count (the no-leakage guarantee).
- ``windows`` (W,) integers, strictly ascending, each in ``[1, 2**31)``; a
  counted line is in window ``w`` when ``ref - w < day <= ref``.
- ``label`` int8 (C): 1 positive, 0 negative, -1 ignored.

Differences of days are taken in int64, so ``ref - day + 1`` never overflows
even for days at the int32 limits.

Feature matrix (:func:`customer_features`)
------------------------------------------
A CSR matrix of shape ``(C, n_global(W) + n_groups * n_stats(W))``:

- columns ``0 .. n_global(W) - 1``, the *global block*, stored only for a
  customer with at least one counted line: :data:`GLOBAL_STATS` (number of
  counted lines, distinct days among them, ``ref - first counted day + 1``,
  ``ref - last counted day + 1``), then the counted lines in each window;
- group ``g`` occupies columns ``n_global(W) + g * n_stats(W)`` onwards, all
  ``n_stats(W)`` values stored (explicit zeros included) only when the customer
  has a counted line of an item in ``g``: the counted lines of ``g`` in each
  window, then :data:`GROUP_STATS` (its counted lines, the sum of their
  quantities, ``ref - first day + 1``, ``ref - last day + 1``).

Every stored recency is ``>= 1``, so a 0 always means "no such purchase" (the
models run LightGBM with ``zero_as_missing``). :func:`feature_columns` names
the columns. Rows are canonical (column indices strictly ascending); values
are the float32 of the integer counts and recencies (exact up to 2**24; a
recency of decades is ~10**4), and of the quantity sums taken in float64 in
the order of the lines.

Algorithm
---------
Customers are cut into contiguous blocks of similar line counts
(:func:`basketguard.kernels.windows.block_bounds`), run in ``prange``; each
block owns its scratch arrays of size ``n_groups``, and only the groups a
customer touches are looked at, so a pass costs O(lines x groups per item +
entries), never O(C x G):

- counting (the features' first pass, the support): a stamp per group holds
  the last customer that touched it, and one per item skips an item's repeats;
- filling (the features' second pass, after a prefix sum of the counts): the
  touched groups are marked in a two-level bitmap and read back in ascending
  order, which resets their scratch; this replaced a per-customer sort of the
  touched groups that took half the fill time.

Each row is written by one block only; support counts are per block and summed
serially. No result depends on the number of blocks or threads.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from basketguard.kernels.checks import check_offsets
from basketguard.kernels.windows import NO_DAY, block_bounds

__all__ = ["GLOBAL_STATS", "GROUP_STATS", "NO_DAY", "FeatureMatrix", "customer_features",
           "feature_columns", "first_days", "group_support", "n_global", "n_stats"]

#: The global block's first columns (then ``lines_{w}d`` for each window).
GLOBAL_STATS = ("lines", "active_days", "since_first", "since_last")
#: A group's last columns (after ``lines_{w}d`` for each window).
GROUP_STATS = ("lines", "quantity", "since_first", "since_last")

_INT32_MAX = 2**31 - 1
#: Bit positions of the de Bruijn sequence 0x077CB531 (see :func:`_low_bit`).
_DEBRUIJN = np.array([0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8,
                      31, 27, 13, 23, 21, 19, 16, 7, 26, 12, 18, 6, 11, 5, 10, 9], np.int64)
#: "No first day yet": above any day, so ``min`` takes the first one.
_FAR = np.int64(1) << np.int64(62)


def n_global(n_windows: int) -> int:
    """Number of global columns for ``n_windows`` windows: ``4 + W``."""
    return len(GLOBAL_STATS) + operator.index(n_windows)


def n_stats(n_windows: int) -> int:
    """Number of columns of each group for ``n_windows`` windows: ``W + 4``."""
    return operator.index(n_windows) + len(GROUP_STATS)


def feature_columns(windows) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of the global columns and of each group's columns, in column order.

    Parameters
    ----------
    windows : sequence of int
        The windows, in days (as given to :func:`customer_features`).

    Returns
    -------
    global_names : tuple of str
        ``n_global(W)`` names: :data:`GLOBAL_STATS`, then ``"lines_{w}d"``.
    group_stat_names : tuple of str
        ``n_stats(W)`` names: ``"lines_{w}d"``, then :data:`GROUP_STATS`; group
        ``g``'s column ``k`` is ``n_global(W) + g * n_stats(W) + k``.
    """
    by_window = tuple(f"lines_{int(w)}d" for w in windows)
    return GLOBAL_STATS + by_window, by_window + GROUP_STATS


class FeatureMatrix(NamedTuple):
    """CSR feature matrix (one row per customer; unpacks as ``indptr, indices, data``).

    ``indptr`` int64 (C + 1), ``indices`` int32 column indices (strictly
    ascending within a row), ``data`` float32 values.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray


class _Lines(NamedTuple):
    """Histories and reference days as the kernels read them (``quantity`` may be empty)."""

    offsets: np.ndarray
    item: np.ndarray
    day: np.ndarray
    quantity: np.ndarray
    ref: np.ndarray


class _Groups(NamedTuple):
    """Feature groups of each item code and the dropped items."""

    item_offsets: np.ndarray
    item_groups: np.ndarray
    drop: np.ndarray


# ----------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _count_block(c_lo, c_hi, lines, groups, n_groups, n_glob, n_st, nnz):
    """Entries of the rows ``c_lo .. c_hi - 1`` into ``nnz``; returns the first customer
    whose days decrease, or -1."""
    offsets, item, day, ref = lines.offsets, lines.item, lines.day, lines.ref
    item_offsets, item_groups, drop = groups.item_offsets, groups.item_groups, groups.drop
    stamp = np.full(max(n_groups, 1), -1, np.int64)
    seen = np.full(drop.shape[0], -1, np.int64)  # an item's repeats touch no new group
    bad = -1
    for c in range(c_lo, c_hi):
        lo = offsets[c]
        hi = offsets[c + 1]
        r = ref[c]
        counted = False
        nt = 0
        prev = day[lo] if hi > lo else 0
        for i in range(lo, hi):
            d = day[i]
            if d < prev and bad < 0:
                bad = c
            prev = d
            it = item[i]
            if d > r or drop[it] != 0:
                continue
            counted = True
            if seen[it] == c:
                continue
            seen[it] = c
            for j in range(item_offsets[it], item_offsets[it + 1]):
                g = item_groups[j]
                nt += stamp[g] != c
                stamp[g] = c
        nnz[c] = (n_glob if counted else 0) + nt * n_st
    return bad


@njit(cache=True, nogil=True, inline="always")
def _low_bit(v):
    """Index of the lowest set bit of ``v`` (``0 < v < 2**32``, a de Bruijn multiply; the
    product stays below 2**59, so int64 never overflows, in Python either)."""
    b = v & -v
    return _DEBRUIJN[((b * 0x077CB531) & 0xFFFFFFFF) >> 27]


@njit(cache=True, nogil=True)
def _fill_block(c_lo, c_hi, lines, groups, n_groups, windows, indptr, indices, data):
    """Fill the rows ``c_lo .. c_hi - 1``.

    A counted line of age ``a = ref - day`` falls in bucket ``k``, the number of windows
    ``<= a``; a window's count is the prefix sum of the buckets up to it. The groups a
    customer touches are marked in a two-level bitmap (32 groups a word, 32 words a
    summary word) and read back in ascending order, which resets them: no sort, no
    per-customer clearing, no branch on "first line of the group" in the line loop.
    """
    offsets, item, day, quantity, ref = (lines.offsets, lines.item, lines.day, lines.quantity,
                                         lines.ref)
    item_offsets, item_groups, drop = groups.item_offsets, groups.item_groups, groups.drop
    n_win = windows.shape[0]
    nb = n_win + 1
    n_glob = 4 + n_win
    n_st = n_win + 4
    has_q = quantity.shape[0] > 0
    size = max(n_groups, 1)
    bucket = np.zeros(size * nb, np.int64)
    qsum = np.zeros(size, np.float64)
    first = np.full(size, _FAR, np.int64)
    last = np.zeros(size, np.int64)
    bits = np.zeros((size >> 5) + 1, np.int64)
    summary = np.zeros((size >> 10) + 1, np.int64)
    gbucket = np.zeros(nb, np.int64)
    for c in range(c_lo, c_hi):
        r = np.int64(ref[c])
        n_lines = 0
        n_days = 0
        f_day = np.int64(0)
        l_day = np.int64(0)
        g_lo = np.int64(size)
        g_hi = np.int64(0)
        for k in range(nb):
            gbucket[k] = 0
        for i in range(offsets[c], offsets[c + 1]):
            d = np.int64(day[i])
            it = item[i]
            if d > r or drop[it] != 0:
                continue
            a = r - d
            k = 0
            for x in range(n_win):
                k += windows[x] <= a
            if n_lines == 0:
                f_day = d
            n_days += n_lines == 0 or d != l_day
            l_day = d
            n_lines += 1
            gbucket[k] += 1
            q = np.float64(quantity[i]) if has_q else 1.0
            for j in range(item_offsets[it], item_offsets[it + 1]):
                g = np.int64(item_groups[j])
                bits[g >> 5] |= np.int64(1) << (g & 31)
                summary[g >> 10] |= np.int64(1) << ((g >> 5) & 31)
                g_lo = min(g_lo, g)
                g_hi = max(g_hi, g)
                bucket[g * nb + k] += 1
                qsum[g] += q
                first[g] = min(first[g], d)
                last[g] = d
        if n_lines == 0:
            continue
        p = indptr[c]
        for x in range(n_glob):
            indices[p + x] = x
        data[p] = np.float32(n_lines)
        data[p + 1] = np.float32(n_days)
        data[p + 2] = np.float32(r - f_day + 1)
        data[p + 3] = np.float32(r - l_day + 1)
        cum = 0
        for k in range(n_win):
            cum += gbucket[k]
            data[p + 4 + k] = np.float32(cum)
        p += n_glob
        for s in range(g_lo >> 10, (g_hi >> 10) + 1):
            vs = summary[s]
            summary[s] = 0
            while vs != 0:
                w = (s << 5) + _low_bit(vs)
                vs &= vs - 1
                vw = bits[w]
                bits[w] = 0
                while vw != 0:
                    g = (w << 5) + _low_bit(vw)
                    vw &= vw - 1
                    col = n_glob + g * n_st
                    for x in range(n_st):
                        indices[p + x] = col + x
                    cum = 0
                    for k in range(n_win):
                        cum += bucket[g * nb + k]
                        bucket[g * nb + k] = 0
                        data[p + k] = np.float32(cum)
                    cum += bucket[g * nb + n_win]
                    bucket[g * nb + n_win] = 0
                    data[p + n_win] = np.float32(cum)
                    data[p + n_win + 1] = np.float32(qsum[g])
                    data[p + n_win + 2] = np.float32(r - first[g] + 1)
                    data[p + n_win + 3] = np.float32(r - last[g] + 1)
                    qsum[g] = 0.0
                    first[g] = _FAR
                    p += n_st


@njit(cache=True, nogil=True, parallel=True)
def _count_entries(bounds, lines, groups, n_groups, n_glob, n_st, nnz, bad):
    """Blocks in parallel; ``bad[b]``: the first customer of block ``b`` with decreasing days."""
    for b in prange(bounds.shape[0] - 1):
        bad[b] = _count_block(bounds[b], bounds[b + 1], lines, groups, n_groups, n_glob, n_st,
                              nnz)


@njit(cache=True, nogil=True, parallel=True)
def _fill_rows(bounds, lines, groups, n_groups, windows, indptr, indices, data):
    """Blocks in parallel, each writing its own rows."""
    for b in prange(bounds.shape[0] - 1):
        _fill_block(bounds[b], bounds[b + 1], lines, groups, n_groups, windows, indptr,
                    indices, data)


@njit(cache=True, nogil=True)
def _support_block(c_lo, c_hi, lines, groups, label, n_groups, counts):
    """Distinct customers per (label, group) of rows ``c_lo .. c_hi - 1`` into ``counts``
    (2, n_groups); a stamp per group holds the last customer counted in it, one per item
    skips the repeats of an item (repeat purchases are most lines of real histories)."""
    offsets, item, day, ref = lines.offsets, lines.item, lines.day, lines.ref
    item_offsets, item_groups, drop = groups.item_offsets, groups.item_groups, groups.drop
    stamp = np.full(max(n_groups, 1), -1, np.int64)
    seen = np.full(drop.shape[0], -1, np.int64)
    for c in range(c_lo, c_hi):
        lab = label[c]
        if lab < 0:
            continue
        row = counts[lab]
        r = ref[c]
        for i in range(offsets[c], offsets[c + 1]):
            if day[i] > r:
                continue
            it = item[i]
            if drop[it] != 0 or seen[it] == c:
                continue
            seen[it] = c
            for j in range(item_offsets[it], item_offsets[it + 1]):
                g = item_groups[j]
                if stamp[g] != c:
                    stamp[g] = c
                    row[g] += 1


@njit(cache=True, nogil=True, parallel=True)
def _support(bounds, lines, groups, label, n_groups, counts):
    """Blocks in parallel; block ``b`` counts into ``counts[b]``."""
    for b in prange(bounds.shape[0] - 1):
        _support_block(bounds[b], bounds[b + 1], lines, groups, label, n_groups, counts[b])


@njit(cache=True, nogil=True)
def _first_block(c_lo, c_hi, offsets, item, day, item_offsets, item_groups, out):
    """Rows ``c_lo .. c_hi - 1`` of ``out`` (pre-filled with NO_DAY): the smallest day per
    group, kept in int64 scratch first (NO_DAY is itself a day, so it cannot mark "none")."""
    n_groups = out.shape[1]
    first = np.full(max(n_groups, 1), _FAR, np.int64)
    for c in range(c_lo, c_hi):
        for i in range(offsets[c], offsets[c + 1]):
            d = np.int64(day[i])
            it = item[i]
            for j in range(item_offsets[it], item_offsets[it + 1]):
                g = item_groups[j]
                first[g] = min(first[g], d)
        for g in range(n_groups):
            if first[g] != _FAR:
                out[c, g] = first[g]
                first[g] = _FAR


@njit(cache=True, nogil=True, parallel=True)
def _first_days(bounds, offsets, item, day, item_offsets, item_groups, out):
    """Blocks in parallel, each writing its own rows."""
    for b in prange(bounds.shape[0] - 1):
        _first_block(bounds[b], bounds[b + 1], offsets, item, day, item_offsets, item_groups,
                     out)


# ----------------------------------------------------------------------- checks
def _array(a, dtype, name: str, length: int | None = None) -> np.ndarray:
    """``a`` as a contiguous 1-d array of ``dtype`` (only lossless conversions)."""
    a = np.asarray(a)
    dtype = np.dtype(dtype)
    if a.ndim != 1:
        raise ValueError(f"{name} must be a 1-d {dtype.name} array, got shape {a.shape}")
    if a.dtype != dtype:
        if a.size and not np.can_cast(a.dtype, dtype, "safe"):
            raise ValueError(f"{name} must be a 1-d {dtype.name} array, got {a.dtype}")
        a = a.astype(dtype)
    if length is not None and a.shape[0] != length:
        raise ValueError(f"{name} must have {length} entries, got {a.shape[0]}")
    return np.ascontiguousarray(a)


def _histories(offsets, item, day) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    offsets = _array(offsets, np.int64, "offsets")
    item = _array(item, np.int32, "item")
    day = _array(day, np.int32, "day", item.shape[0])
    check_offsets(offsets, item.shape[0])
    if offsets.shape[0] - 1 > _INT32_MAX:
        raise ValueError(f"at most {_INT32_MAX} customers")
    return offsets, item, day


def _item_groups(item_offsets, item_groups, n_groups,
                 n_items: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    n_groups = operator.index(n_groups)
    if n_groups < 0:
        raise ValueError(f"n_groups must be >= 0, got {n_groups}")
    item_offsets = _array(item_offsets, np.int64, "item_offsets",
                          None if n_items is None else n_items + 1)
    item_groups = _array(item_groups, np.int32, "item_groups")
    check_offsets(item_offsets, item_groups.shape[0], "item_offsets")
    if item_groups.size:
        out = (item_groups < 0) | (item_groups >= n_groups)
        if out.any():
            j = int(np.flatnonzero(out)[0])
            it = int(np.searchsorted(item_offsets, j, side="right")) - 1
            raise ValueError(f"item_groups[{j}] = {int(item_groups[j])} (item {it}): group "
                             f"ids must lie in [0, n_groups = {n_groups})")
        owner = np.repeat(np.arange(item_offsets.shape[0] - 1, dtype=np.int64),
                          np.diff(item_offsets))
        key = np.sort(owner * n_groups + item_groups)
        if np.any(key[1:] == key[:-1]):
            k = int(key[1:][key[1:] == key[:-1]][0])
            raise ValueError(f"item {k // n_groups} lists group {k % n_groups} twice: an "
                             "item's groups must be distinct")
    return item_offsets, item_groups, n_groups


def _check_items(item: np.ndarray, n_items: int) -> None:
    if item.size and (item.min() < 0 or item.max() >= n_items):
        i = int(np.flatnonzero((item < 0) | (item >= n_items))[0])
        raise ValueError(f"item[{i}] = {int(item[i])} is not an item code: drop and "
                         f"item_offsets describe {n_items} items")


def _lines_and_groups(offsets, item, day, quantity, ref, item_offsets, item_groups,
                      n_groups, drop) -> tuple[_Lines, _Groups, int]:
    offsets, item, day = _histories(offsets, item, day)
    n_cust = offsets.shape[0] - 1
    if quantity is None or np.asarray(quantity).size == 0:
        quantity = np.empty(0, np.float32)
    else:
        quantity = _array(quantity, np.float32, "quantity", item.shape[0])
    ref = _array(ref, np.int32, "ref", n_cust)
    drop = _array(drop, np.uint8, "drop")
    n_items = drop.shape[0]
    item_offsets, item_groups, n_groups = _item_groups(item_offsets, item_groups, n_groups,
                                                       n_items)
    _check_items(item, n_items)
    return (_Lines(offsets, item, day, quantity, ref),
            _Groups(item_offsets, item_groups, drop), n_groups)


def _windows(windows) -> np.ndarray:
    w = np.asarray(windows)
    if w.ndim != 1 or (w.size and w.dtype.kind not in "iu"):
        raise ValueError(f"windows must be a 1-d sequence of integers, got {windows!r}")
    if w.size and (w.min() < 1 or w.max() > _INT32_MAX):
        raise ValueError(f"windows must lie in [1, {_INT32_MAX}] days, got {w.tolist()}")
    if np.any(np.diff(w) <= 0):
        raise ValueError(f"windows must be strictly ascending, got {w.tolist()}")
    return np.ascontiguousarray(w, np.int32)


def _bounds(offsets: np.ndarray, n_blocks: int | None) -> np.ndarray:
    if n_blocks is None:
        n_blocks = 8 * numba.get_num_threads()
    n_blocks = operator.index(n_blocks)
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
    return block_bounds(offsets, n_blocks)


# ----------------------------------------------------------------------- public
def customer_features(offsets, item, day, quantity, ref, item_offsets, item_groups,
                      n_groups: int, drop, windows, n_blocks: int | None = None
                      ) -> FeatureMatrix:
    """Global and per-group purchase features of every customer up to its reference day.

    Parameters
    ----------
    offsets : numpy.ndarray of int64, shape (C + 1,)
        History offsets: customer ``c`` owns lines ``offsets[c]:offsets[c + 1]``.
    item : numpy.ndarray of int32, shape (L,)
        Item code of each line, in ``[0, n_items)``.
    day : numpy.ndarray of int32, shape (L,)
        Day of each line, non-decreasing within each customer.
    quantity : numpy.ndarray of float32, shape (L,), or empty / None
        Quantity of each line; empty or None: 1.0 each.
    ref : numpy.ndarray of int32, shape (C,)
        Reference day of each customer: only lines on or before it count.
    item_offsets : numpy.ndarray of int64, shape (n_items + 1,)
        CSR offsets of the groups of each item code over ``item_groups``.
    item_groups : numpy.ndarray of int32
        Group ids in ``[0, n_groups)``, distinct within an item.
    n_groups : int
        Number of feature groups G.
    drop : numpy.ndarray of uint8, shape (n_items,)
        Nonzero for items whose lines are ignored entirely.
    windows : sequence of int, shape (W,)
        Window lengths in days, strictly ascending, each >= 1.
    n_blocks : int, optional
        Number of customer blocks (default: 8 per Numba thread); the result
        never depends on it.

    Returns
    -------
    FeatureMatrix
        ``(indptr, indices, data)`` of the CSR matrix of shape
        ``(C, n_global(W) + n_groups * n_stats(W))`` laid out as the module
        docstring describes; ``indptr`` int64, ``indices`` int32 (strictly
        ascending within each row), ``data`` float32.

    Raises
    ------
    ValueError
        An array of the wrong dtype, dimension or length (named); offsets that
        are not a CSR over the lines; windows not strictly ascending or < 1;
        group ids outside ``[0, n_groups)`` or repeated for an item; item codes
        outside ``[0, n_items)``; a customer whose days decrease; more columns
        than int32 indices hold.
    """
    lines, groups, n_groups = _lines_and_groups(offsets, item, day, quantity, ref,
                                                item_offsets, item_groups, n_groups, drop)
    windows = _windows(windows)
    n_win = windows.shape[0]
    n_glob, n_st = n_global(n_win), n_stats(n_win)
    if n_glob + n_groups * n_st - 1 > _INT32_MAX:
        raise ValueError(f"{n_groups} groups x {n_st} statistics: more columns than int32 "
                         "indices hold")
    n_cust = lines.offsets.shape[0] - 1
    bounds = _bounds(lines.offsets, n_blocks)
    nb = bounds.shape[0] - 1
    nnz = np.zeros(n_cust, np.int64)
    bad = np.full(max(nb, 1), -1, np.int64)
    if nb > 0:
        _count_entries(bounds, lines, groups, np.int64(n_groups), np.int64(n_glob),
                       np.int64(n_st), nnz, bad)
    if (bad >= 0).any():
        c = int(bad[bad >= 0].min())
        raise ValueError(f"the days of customer {c} decrease: each customer's lines must be "
                         "sorted by day")
    indptr = np.zeros(n_cust + 1, np.int64)
    np.cumsum(nnz, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), np.int32)
    data = np.empty(int(indptr[-1]), np.float32)
    if indices.shape[0]:
        _fill_rows(bounds, lines, groups, np.int64(n_groups), windows, indptr, indices, data)
    return FeatureMatrix(indptr, indices, data)


def group_support(offsets, item, day, ref, item_offsets, item_groups, n_groups: int, label,
                  drop, n_blocks: int | None = None) -> np.ndarray:
    """Number of positive and of negative customers with a counted line in each group.

    Parameters
    ----------
    offsets, item, day : numpy.ndarray
        Histories (see the module docstring); the order of the lines does not matter.
    ref : numpy.ndarray of int32, shape (C,)
        Reference day of each customer: only lines on or before it count.
    item_offsets, item_groups : numpy.ndarray
        CSR of the groups of each item code (int64 offsets, int32 group ids).
    n_groups : int
        Number of groups G.
    label : numpy.ndarray of int8, shape (C,)
        1 positive, 0 negative, -1 ignored (all 0: customers per group).
    drop : numpy.ndarray of uint8, shape (n_items,)
        Nonzero for items whose lines are ignored.
    n_blocks : int, optional
        Number of customer blocks (default: 8 per Numba thread); the result
        never depends on it.

    Returns
    -------
    numpy.ndarray of int64, shape (2, n_groups)
        ``out[1, g]``: distinct positive customers with at least one counted
        line of an item in ``g``; ``out[0, g]``: the same over negatives.

    Raises
    ------
    ValueError
        As :func:`customer_features` (except the order of days); labels
        outside {-1, 0, 1}.
    """
    lines, groups, n_groups = _lines_and_groups(offsets, item, day, None, ref, item_offsets,
                                                item_groups, n_groups, drop)
    n_cust = lines.offsets.shape[0] - 1
    label = _array(label, np.int8, "label", n_cust)
    if label.size and (label.min() < -1 or label.max() > 1):
        c = int(np.flatnonzero((label < -1) | (label > 1))[0])
        raise ValueError(f"label[{c}] = {int(label[c])}: labels are 1 (positive), 0 "
                         "(negative) or -1 (ignored)")
    bounds = _bounds(lines.offsets, n_blocks)
    nb = bounds.shape[0] - 1
    counts = np.zeros((max(nb, 1), 2, n_groups), np.int64)
    if nb > 0 and n_groups > 0:
        _support(bounds, lines, groups, label, np.int64(n_groups), counts)
    out = np.zeros((2, n_groups), np.int64)
    for b in range(counts.shape[0]):  # serial merge (integers: any order gives the same)
        out += counts[b]
    return out


def first_days(offsets, item, day, item_offsets, item_groups, n_groups: int) -> np.ndarray:
    """First day each customer bought an item of each group (all lines: no ref, no drop).

    Parameters
    ----------
    offsets, item, day : numpy.ndarray
        Histories (see the module docstring); the order of the lines does not
        matter (the smallest day is taken).
    item_offsets, item_groups : numpy.ndarray
        CSR of the groups of each item code (int64 offsets over ``n_items + 1``,
        int32 group ids); item codes must lie in ``[0, n_items)``.
    n_groups : int
        Number of groups G (small here: e.g. anchor concepts).

    Returns
    -------
    numpy.ndarray of int32, shape (C, n_groups)
        The smallest day of a line of an item in the group, :data:`NO_DAY`
        when none (``NO_DAY`` is itself a representable day: a line on day
        ``-2**31`` reads as never).

    Raises
    ------
    ValueError
        An array of the wrong dtype, dimension or length; offsets that are not
        a CSR; group ids outside ``[0, n_groups)`` or repeated for an item;
        item codes outside ``[0, n_items)``.
    """
    offsets, item, day = _histories(offsets, item, day)
    item_offsets, item_groups, n_groups = _item_groups(item_offsets, item_groups, n_groups,
                                                       None)
    _check_items(item, item_offsets.shape[0] - 1)
    n_cust = offsets.shape[0] - 1
    out = np.full((n_cust, n_groups), NO_DAY, np.int32)
    if n_cust and n_groups and item.shape[0]:
        _first_days(_bounds(offsets, None), offsets, item, day, item_offsets, item_groups, out)
    return out
