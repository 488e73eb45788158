"""Itemset supports and k^m-anonymity violations over transactions (CSR).

A *transaction* is a set of item codes: one basket, or one member's distinct
items over their history. Transactions come as a CSR: ``offsets`` (int64,
``n_tx + 1``, starting at 0, non-decreasing) and ``items`` (int32 codes in
``[0, n_items)``). :func:`normalize_transactions` sorts each transaction and
drops repeated items; every other kernel requires that normal form (each
transaction strictly ascending) and checks it.

The *support* of an itemset is the number of transactions that contain all of
its items. An itemset ``I`` with ``1 <= |I| <= m`` violates k^m-anonymity when
``0 < support(I) < k`` (Terrovitis, Mamoulis, Kalnis 2008): an observer who
knows ``|I|`` of a member's items could narrow them down to fewer than ``k``
transactions. Itemsets that never occur disclose nothing and do not count.

An itemset of size ``s`` is named by one int64 key, its sorted items written
in base ``n_items``: ``key = ((i_1 * n + i_2) * n + ...) * n + i_s``, so
sorted keys are the itemsets in lexicographic order. This needs
``n_items ** s < 2**63`` (always true for ``s <= 2``); the wrappers check it.

Two paths count supports:

- **pairs** (:func:`pair_violations`, the fast path for ``m = 2``): for each
  item ``a`` (in parallel), walk the transactions containing ``a`` (the
  inverted index, :func:`basketguard.kernels.csr.invert` of the transactions)
  and count each co-occurring ``b > a`` in a dense per-thread
  array; the counts of ``a``'s pairs are then complete, so violations are
  judged at once and never stored. Work is the number of pair occurrences.
- **any size** (:func:`itemset_supports`): for each item ``a``, enumerate the
  combinations of ``s - 1`` later items in ``a``'s transactions as keys, sort
  them and count runs. Items are processed in blocks so the scratch stays
  under a budget; the output (all distinct itemsets, or only those below a
  support) is the memory that remains.

Support counts keyed by itemset add up exactly across shards of transactions
(with one shared item coding); violations do not, since ``support < k`` must
be judged on the merged counts. :func:`mark_transactions` then flags, shard by
shard, the transactions that contain any of the (globally) violating itemsets.
"""

from __future__ import annotations

import numpy as np
from numba import config, get_num_threads, njit, prange

from basketguard.kernels.checks import check_1d, check_codes, check_offsets
from basketguard.kernels.csr import invert

_INSERTION_MAX = 32
_KEY_MAX = 2**63 - 1
_BUDGET = 1 << 24  # keys of scratch per block of items in itemset_supports


# ------------------------------------------------------------------- normal form
@njit(cache=True, nogil=True, parallel=True)
def _sort_unique(offsets, items, work, counts):
    """Sorted distinct items of each transaction at its own offset in ``work``."""
    for t in prange(offsets.shape[0] - 1):
        lo = offsets[t]
        n = offsets[t + 1] - lo
        if n <= _INSERTION_MAX:
            for i in range(n):  # insertion sort: transactions are short
                v = items[lo + i]
                j = i
                while j > 0 and work[lo + j - 1] > v:
                    work[lo + j] = work[lo + j - 1]
                    j -= 1
                work[lo + j] = v
        else:
            work[lo:lo + n] = np.sort(items[lo:lo + n])
        u = 0
        for i in range(n):
            if u == 0 or work[lo + i] != work[lo + u - 1]:
                work[lo + u] = work[lo + i]
                u += 1
        counts[t] = u


@njit(cache=True, nogil=True, parallel=True)
def _compact(offsets, work, new_offsets, out):
    for t in prange(offsets.shape[0] - 1):
        lo = offsets[t]
        nlo = new_offsets[t]
        for i in range(new_offsets[t + 1] - nlo):
            out[nlo + i] = work[lo + i]


@njit(cache=True, nogil=True)
def _is_normal(offsets, items, n_items):
    """True when every transaction is strictly ascending within [0, n_items)."""
    for t in range(offsets.shape[0] - 1):
        prev = -1
        for i in range(offsets[t], offsets[t + 1]):
            v = items[i]
            if v <= prev or v >= n_items:
                return False
            prev = v
    return True


def _check_csr(offsets: np.ndarray, items: np.ndarray) -> None:
    check_1d(offsets, np.int64, "offsets")
    check_1d(items, np.int32, "items")
    check_offsets(offsets, items.shape[0])
    if offsets.shape[0] - 1 >= 2**31:
        raise ValueError("at most 2**31 - 1 transactions")
    check_codes(items, None, "item codes")


def _check_normal(offsets: np.ndarray, items: np.ndarray, n_items: int) -> None:
    _check_csr(offsets, items)
    if n_items < 0:
        raise ValueError("n_items must be >= 0")
    if not _is_normal(offsets, items, n_items):
        raise ValueError("each transaction must be strictly ascending with codes < n_items "
                         "(use normalize_transactions)")


def _check_key(n_items: int, size: int) -> None:
    if size < 1:
        raise ValueError(f"itemset size must be >= 1, got {size}")
    if max(n_items, 1) ** size > _KEY_MAX:
        raise ValueError(f"itemsets of {size} items out of {n_items} do not fit an int64 key "
                         f"(n_items ** size must be < 2**63): use a smaller m")


def normalize_transactions(offsets: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each transaction and drop repeated items.

    Parameters
    ----------
    offsets : numpy.ndarray of int64, shape (n_tx + 1,)
        CSR offsets, starting at 0, non-decreasing.
    items : numpy.ndarray of int32, shape (offsets[-1],)
        Item codes (>= 0), in any order, possibly repeated within a transaction.

    Returns
    -------
    offsets : numpy.ndarray of int64, shape (n_tx + 1,)
    items : numpy.ndarray of int32
        Each transaction's distinct items, ascending.
    """
    _check_csr(offsets, items)
    n_tx = offsets.shape[0] - 1
    work = np.empty_like(items)
    counts = np.empty(n_tx, np.int64)
    _sort_unique(offsets, items, work, counts)
    new_offsets = np.zeros(n_tx + 1, np.int64)
    np.cumsum(counts, out=new_offsets[1:])
    if new_offsets[-1] == items.shape[0]:
        return new_offsets, work
    out = np.empty(new_offsets[-1], np.int32)
    _compact(offsets, work, new_offsets, out)
    return new_offsets, out


# --------------------------------------------------------------- inverted index
def _index(offsets, items, n_items, index):
    """The transactions of each item: ``index`` when given, else their CSR transpose."""
    if index is None:
        return invert(offsets, items, n_items)
    tx_offsets, tx_ids = index
    if tx_offsets.shape != (n_items + 1,) or tx_ids.shape != items.shape:
        raise ValueError("index does not match the transactions")
    return tx_offsets, tx_ids


# --------------------------------------------------------------- single items
@njit(cache=True, nogil=True, parallel=True)
def _mark_items(offsets, items, support, k, flags):
    for t in prange(offsets.shape[0] - 1):
        for i in range(offsets[t], offsets[t + 1]):
            if support[items[i]] < k:
                flags[t] = True
                break


def item_violations(offsets: np.ndarray, items: np.ndarray, n_items: int,
                    k: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Single items with ``0 < support < k``.

    Parameters
    ----------
    offsets, items : numpy.ndarray
        Normalized transactions.
    n_items : int
        Number of item codes.
    k : int
        Anonymity threshold (>= 1).

    Returns
    -------
    n_violating : int
        Number of violating items.
    involvement : numpy.ndarray of int64, shape (n_items,)
        1 for each violating item, else 0.
    affected : numpy.ndarray of bool, shape (n_tx,)
        Transactions holding a violating item.
    """
    _check_normal(offsets, items, n_items)
    _check_k(k)
    support = np.bincount(items, minlength=n_items).astype(np.int64)
    bad = (support > 0) & (support < k)
    flags = np.zeros(offsets.shape[0] - 1, np.bool_)
    _mark_items(offsets, items, support, k, flags)
    return int(bad.sum()), bad.astype(np.int64), flags


def _check_k(k: int) -> None:
    if int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k}")


# ---------------------------------------------------------------------- pairs
@njit(cache=True, nogil=True, parallel=True)
def _pair_violations(offsets, items, tx_offsets, tx_ids, k, n_threads, n_violating,
                     involvement, affected, count, touched):
    """Per-item pass over the inverted index; thread ``w`` takes items a = w mod T.

    Each thread owns row ``w`` of every output and scratch array (no shared
    writes); the caller sums or ORs the rows.
    """
    n_items = tx_offsets.shape[0] - 1
    for w in prange(n_threads):
        cnt = count[w]
        seen = touched[w]
        inv = involvement[w]
        aff = affected[w]
        nv = 0
        for a in range(w, n_items, n_threads):
            nt = 0
            for p in range(tx_offsets[a], tx_offsets[a + 1]):
                t = tx_ids[p]
                q = offsets[t + 1] - 1
                while q >= offsets[t] and items[q] > a:
                    b = items[q]
                    if cnt[b] == 0:
                        seen[nt] = b
                        nt += 1
                    cnt[b] += 1
                    q -= 1
            bad = 0
            for i in range(nt):
                b = seen[i]
                if cnt[b] < k:
                    bad += 1
                    inv[b] += 1
            if bad > 0:
                inv[a] += bad
                nv += bad
                for p in range(tx_offsets[a], tx_offsets[a + 1]):
                    t = tx_ids[p]
                    if aff[t]:
                        continue
                    q = offsets[t + 1] - 1
                    while q >= offsets[t] and items[q] > a:
                        if cnt[items[q]] < k:
                            aff[t] = True
                            break
                        q -= 1
            for i in range(nt):
                cnt[seen[i]] = 0
        n_violating[w] = nv


def _threads() -> int:
    return 1 if config.DISABLE_JIT else max(1, get_num_threads())


def pair_violations(offsets: np.ndarray, items: np.ndarray, n_items: int, k: int,
                    index: tuple[np.ndarray, np.ndarray] | None = None,
                    ) -> tuple[int, np.ndarray, np.ndarray]:
    """Pairs of items with ``0 < support < k`` (fast path, nothing stored per pair).

    Parameters
    ----------
    offsets, items : numpy.ndarray
        Normalized transactions.
    n_items : int
        Number of item codes.
    k : int
        Anonymity threshold (>= 1).
    index : (tx_offsets, tx_ids), optional
        Output of :func:`basketguard.kernels.csr.invert`, when the caller has it.

    Returns
    -------
    n_violating : int
        Number of violating pairs.
    involvement : numpy.ndarray of int64, shape (n_items,)
        Number of violating pairs each item belongs to.
    affected : numpy.ndarray of bool, shape (n_tx,)
        Transactions holding a violating pair.

    Notes
    -----
    Scratch per thread: two int32 and one int64 array of ``n_items`` and a
    bool array of ``n_tx`` (so ``T * n_tx`` bytes for the affected flags).
    """
    _check_normal(offsets, items, n_items)
    _check_k(k)
    tx_offsets, tx_ids = _index(offsets, items, n_items, index)
    n_tx = offsets.shape[0] - 1
    n_threads = max(1, min(_threads(), n_items))
    n_violating = np.zeros(n_threads, np.int64)
    involvement = np.zeros((n_threads, n_items), np.int64)
    affected = np.zeros((n_threads, n_tx), np.bool_)
    count = np.zeros((n_threads, n_items), np.int32)
    touched = np.empty((n_threads, n_items), np.int32)
    if n_items:
        _pair_violations(offsets, items, tx_offsets, tx_ids, k, n_threads, n_violating,
                         involvement, affected, count, touched)
    return int(n_violating.sum()), involvement.sum(axis=0), affected.any(axis=0)


# ------------------------------------------------------------------ any size
@njit(cache=True, nogil=True)
def _choose(r, q):
    c = 1
    for i in range(q):
        c = c * (r - i) // (i + 1)
    return c


@njit(cache=True, nogil=True, parallel=True)
def _bounds(offsets, items, tx_offsets, tx_ids, q, out):
    """Number of (q)-combinations of later items over each item's transactions."""
    for a in prange(tx_offsets.shape[0] - 1):
        total = 0
        for p in range(tx_offsets[a], tx_offsets[a + 1]):
            t = tx_ids[p]
            pos = np.searchsorted(items[offsets[t]:offsets[t + 1]], a)
            total += _choose(offsets[t + 1] - offsets[t] - pos - 1, q)
        out[a] = total


@njit(cache=True, nogil=True, parallel=True)
def _count_block(offsets, items, tx_offsets, tx_ids, n_items, q, a_lo, start, below,
                 keys, counts, n_out):
    """Keys of ``a`` + q later items for a in a block, sorted and run-counted in place.

    Item ``a`` owns ``keys[start[i]:start[i + 1]]`` (i = a - a_lo); its distinct
    keys (those with count < ``below`` when ``below > 0``) are left at the front.
    """
    for i in prange(start.shape[0] - 1):
        a = a_lo + i
        w = start[i]
        idx = np.empty(max(q, 1), np.int64)
        for p in range(tx_offsets[a], tx_offsets[a + 1]):
            t = tx_ids[p]
            hi = offsets[t + 1]
            first = offsets[t] + np.searchsorted(items[offsets[t]:hi], a) + 1
            r = hi - first
            if r < q:
                continue
            for j in range(q):
                idx[j] = j
            while True:
                key = np.int64(a)
                for j in range(q):
                    key = key * n_items + items[first + idx[j]]
                keys[w] = key
                w += 1
                j = q - 1
                while j >= 0 and idx[j] == j + r - q:
                    j -= 1
                if j < 0:
                    break
                idx[j] += 1
                for jj in range(j + 1, q):
                    idx[jj] = idx[jj - 1] + 1
        lo = start[i]
        keys[lo:w].sort()
        u = 0
        run = 0
        for x in range(lo, w):
            run += 1
            if x + 1 == w or keys[x + 1] != keys[x]:
                if below <= 0 or run < below:
                    keys[lo + u] = keys[x]
                    counts[lo + u] = run
                    u += 1
                run = 0
        n_out[i] = u


@njit(cache=True, nogil=True)
def _gather(start, n_out, keys, counts, out_keys, out_counts):
    w = 0
    for i in range(n_out.shape[0]):
        for x in range(start[i], start[i] + n_out[i]):
            out_keys[w] = keys[x]
            out_counts[w] = counts[x]
            w += 1


def itemset_supports(offsets: np.ndarray, items: np.ndarray, n_items: int, size: int,
                     below: int = 0, index: tuple[np.ndarray, np.ndarray] | None = None,
                     budget: int = _BUDGET) -> tuple[np.ndarray, np.ndarray]:
    """Support of every occurring itemset of one size.

    Parameters
    ----------
    offsets, items : numpy.ndarray
        Normalized transactions.
    n_items : int
        Number of item codes; ``n_items ** size`` must be < 2**63.
    size : int
        Itemset size (>= 1).
    below : int
        When > 0, keep only itemsets with support < ``below`` (violations of
        ``k = below``); 0 keeps all.
    index : (tx_offsets, tx_ids), optional
        Output of :func:`basketguard.kernels.csr.invert`, when the caller has it.
    budget : int
        Scratch keys per block of items (a single item may exceed it).

    Returns
    -------
    keys : numpy.ndarray of int64
        Itemset keys (see the module docstring), ascending.
    counts : numpy.ndarray of int64
        Their supports (>= 1).
    """
    _check_normal(offsets, items, n_items)
    _check_key(n_items, size)
    if below < 0:
        raise ValueError("below must be >= 0")
    tx_offsets, tx_ids = _index(offsets, items, n_items, index)
    if size == 1:
        support = np.diff(tx_offsets)
        keep = (support > 0) & ((support < below) if below > 0 else True)
        keys = np.flatnonzero(keep).astype(np.int64)
        return keys, support[keys].astype(np.int64)
    q = size - 1
    bound = np.empty(n_items, np.int64)
    _bounds(offsets, items, tx_offsets, tx_ids, q, bound)
    out_keys, out_counts = [], []
    a = 0
    while a < n_items:
        # Block of items whose combinations fit the budget (at least one item).
        cum = np.cumsum(bound[a:])
        b = a + max(1, int(np.searchsorted(cum, budget, side="right")))
        start = np.zeros(b - a + 1, np.int64)
        np.cumsum(bound[a:b], out=start[1:])
        keys = np.empty(start[-1], np.int64)
        counts = np.empty(start[-1], np.int64)
        n_out = np.empty(b - a, np.int64)
        _count_block(offsets, items, tx_offsets, tx_ids, n_items, q, a, start, below,
                     keys, counts, n_out)
        bk = np.empty(n_out.sum(), np.int64)
        bc = np.empty(n_out.sum(), np.int64)
        _gather(start, n_out, keys, counts, bk, bc)
        out_keys.append(bk)
        out_counts.append(bc)
        a = b
    if not out_keys:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(out_keys), np.concatenate(out_counts)


@njit(cache=True, nogil=True, parallel=True)
def _mark_sets(offsets, items, n_items, size, keys, flags):
    """Flag transactions holding any itemset of ``keys`` (binary search per combination)."""
    for t in prange(offsets.shape[0] - 1):
        lo = offsets[t]
        r = offsets[t + 1] - lo
        if r < size or keys.shape[0] == 0:
            continue
        idx = np.empty(size, np.int64)
        for j in range(size):
            idx[j] = j
        while True:
            key = np.int64(0)
            for j in range(size):
                key = key * n_items + items[lo + idx[j]]
            x = np.searchsorted(keys, key)
            if x < keys.shape[0] and keys[x] == key:
                flags[t] = True
                break
            j = size - 1
            while j >= 0 and idx[j] == j + r - size:
                j -= 1
            if j < 0:
                break
            idx[j] += 1
            for jj in range(j + 1, size):
                idx[jj] = idx[jj - 1] + 1


def mark_transactions(offsets: np.ndarray, items: np.ndarray, n_items: int, size: int,
                      keys: np.ndarray) -> np.ndarray:
    """Transactions that contain at least one of the given itemsets.

    Parameters
    ----------
    offsets, items : numpy.ndarray
        Normalized transactions.
    n_items : int
        Number of item codes (the key base).
    size : int
        Size of the itemsets in ``keys``.
    keys : numpy.ndarray of int64
        Itemset keys, ascending (e.g. the violating itemsets of merged counts).

    Returns
    -------
    numpy.ndarray of bool, shape (n_tx,)
    """
    _check_normal(offsets, items, n_items)
    _check_key(n_items, size)
    check_1d(keys, np.int64, "keys")
    if keys.shape[0] > 1 and np.any(np.diff(keys) <= 0):
        raise ValueError("keys must be strictly ascending")
    flags = np.zeros(offsets.shape[0] - 1, np.bool_)
    _mark_sets(offsets, items, n_items, size, keys, flags)
    return flags


def decode_keys(keys: np.ndarray, n_items: int, size: int) -> np.ndarray:
    """Itemsets of the given keys as rows of item codes.

    Parameters
    ----------
    keys : numpy.ndarray of int64
        Itemset keys of one size.
    n_items : int
        The key base.
    size : int
        Itemset size.

    Returns
    -------
    numpy.ndarray of int32, shape (len(keys), size)
        Each row ascending.
    """
    _check_key(n_items, size)
    rest = np.asarray(keys, np.int64).copy()
    out = np.empty((rest.shape[0], size), np.int32)
    for j in range(size - 1, -1, -1):
        out[:, j] = rest % max(n_items, 1)
        rest //= max(n_items, 1)
    return out


def itemset_violations(offsets: np.ndarray, items: np.ndarray, n_items: int, k: int,
                       size: int, index: tuple[np.ndarray, np.ndarray] | None = None,
                       ) -> tuple[int, np.ndarray, np.ndarray]:
    """Itemsets of one size with ``0 < support < k`` (general path).

    Same outputs as :func:`pair_violations`; stores the violating itemsets
    (16 bytes each) while it runs.

    Parameters
    ----------
    offsets, items : numpy.ndarray
        Normalized transactions.
    n_items : int
        Number of item codes; ``n_items ** size`` must be < 2**63.
    k : int
        Anonymity threshold (>= 1).
    size : int
        Itemset size (>= 1).
    index : (tx_offsets, tx_ids), optional
        Output of :func:`basketguard.kernels.csr.invert`.

    Returns
    -------
    n_violating : int
    involvement : numpy.ndarray of int64, shape (n_items,)
    affected : numpy.ndarray of bool, shape (n_tx,)
    """
    _check_k(k)
    keys, _ = itemset_supports(offsets, items, n_items, size, below=k, index=index)
    rows = decode_keys(keys, n_items, size)
    involvement = np.bincount(rows.ravel(), minlength=n_items).astype(np.int64)
    affected = mark_transactions(offsets, items, n_items, size, keys)
    return int(keys.shape[0]), involvement, affected
