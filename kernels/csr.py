"""Transpose of a CSR: for every value, the rows that hold it.

A CSR is ``offsets`` (int64, ``n_rows + 1``) over ``values`` (int32 codes in
``[0, n_values)``): row ``r`` holds ``values[offsets[r]:offsets[r + 1]]``,
in any order, possibly repeated. :func:`invert` returns the inverted CSR:
``inv_offsets`` (int64, ``n_values + 1``) over ``holders`` (int32), where value
``v`` owns ``holders[inv_offsets[v]:inv_offsets[v + 1]]``, the distinct rows
holding ``v`` in ascending order (a row holding ``v`` twice is listed once).
Transactions -> transactions of each item, and customers' lines -> customers
of each item, are both this operation.

:func:`invert_tagged` refines rows by a *tag* per value (e.g. the time bucket
of a line): tags are non-decreasing within each row, each distinct
``(row, tag)`` pair holding ``v`` is listed once, ordered by row then tag, and
its tag is returned alongside.

Both are a stable two-pass counting sort (count, then scatter at prefix-sum
cursors) over fixed chunks of about ``2**18`` values (at most 32), parallel
over chunks; chunk boundaries depend only on ``offsets``, so the result never
depends on the number of threads. Repeats are dropped on the fly with a
last-seen stamp per value (the scatter skips the stamps in chunks the count
found free of repeats, e.g. normalized transactions).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from basketguard.kernels.checks import as_1d, check_codes, check_offsets
from basketguard.kernels.threads import run_ranges

_CHUNK_VALUES = 1 << 18
_MAX_CHUNKS = 32


def invert(offsets: np.ndarray, values: np.ndarray,
           n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows holding each value (the transpose of a CSR, repeats dropped).

    Parameters
    ----------
    offsets : numpy.ndarray
        int64 CSR offsets (``n_rows + 1``, from 0, non-decreasing, ending at
        ``len(values)``); ``n_rows < 2**31``.
    values : numpy.ndarray
        int32 codes in ``[0, n_values)``, any order within a row.
    n_values : int
        Number of value codes.

    Returns
    -------
    inv_offsets : numpy.ndarray of int64, shape (n_values + 1,)
        ``inv_offsets[v + 1] - inv_offsets[v]`` is the number of rows holding ``v``.
    holders : numpy.ndarray of int32
        Each value's distinct rows, ascending.
    """
    offsets, values, rb = _prepare(offsets, values, n_values)
    inv_offsets, holders, _ = _transpose(offsets, values, np.empty(0, np.int32), n_values, rb)
    return inv_offsets, holders


def invert_tagged(offsets: np.ndarray, values: np.ndarray, tags: np.ndarray,
                  n_values: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(row, tag)`` pairs holding each value, with their tags.

    Parameters
    ----------
    offsets, values, n_values
        As for :func:`invert`.
    tags : numpy.ndarray
        int32, one per value, non-decreasing within each row.

    Returns
    -------
    inv_offsets : numpy.ndarray of int64, shape (n_values + 1,)
    holders : numpy.ndarray of int32
        Row of each distinct ``(row, tag)`` pair holding the value, ordered by
        row, then tag.
    holder_tags : numpy.ndarray of int32
        Tag of each pair (aligned with ``holders``).

    Raises
    ------
    ValueError
        Also when tags decrease within a row.
    """
    offsets, values, rb = _prepare(offsets, values, n_values)
    tags = as_1d(tags, np.int32, "tags")
    if tags.shape[0] != values.shape[0]:
        raise ValueError("tags must have one entry per value")
    return _transpose(offsets, values, tags, n_values, rb)


def _prepare(offsets, values, n_values):
    offsets = as_1d(offsets, np.int64, "offsets")
    values = as_1d(values, np.int32, "values")
    check_offsets(offsets, values.shape[0])
    check_codes(values, n_values, "values")
    if offsets.shape[0] - 1 >= 2**31:
        raise ValueError("at most 2**31 - 1 rows")
    return offsets, values, row_chunks(offsets)


def row_chunks(offsets: np.ndarray) -> np.ndarray:
    """Row boundaries of fixed chunks of about equal numbers of values.

    Parameters
    ----------
    offsets : numpy.ndarray
        int64 CSR offsets.

    Returns
    -------
    numpy.ndarray
        int64 ``(n_chunks + 1,)`` from 0 to ``n_rows``, non-decreasing;
        ``n_chunks = min(32, max(1, n // 2**18))`` for ``n`` values. A function of
        ``offsets`` alone (never of the number of threads).
    """
    n_rows = offsets.shape[0] - 1
    n = int(offsets[-1])
    n_chunks = min(_MAX_CHUNKS, max(1, n // _CHUNK_VALUES))
    rb = np.searchsorted(offsets, np.arange(n_chunks + 1) * (n // n_chunks), side="left")
    rb = np.maximum.accumulate(np.minimum(rb, n_rows)).astype(np.int64)
    rb[0], rb[-1] = 0, n_rows
    return rb


def _transpose(offsets, values, tags, n_values, rb):
    counts = np.zeros((rb.shape[0] - 1, max(n_values, 1)), np.int64)
    repeats = np.zeros(rb.shape[0] - 1, np.bool_)
    n_chunks = rb.shape[0] - 1
    if not all(run_ranges(_count, n_chunks, offsets, values, tags, rb, counts, repeats,
                          parts=n_chunks)):
        raise ValueError("tags must be non-decreasing within each row")
    cursors, start = _cursors(counts)
    del counts
    holders = np.empty(int(start[-1]), np.int32)
    holder_tags = np.empty(holders.shape[0] if tags.shape[0] else 0, np.int32)
    run_ranges(_scatter, n_chunks, offsets, values, tags, rb, repeats, cursors, holders,
               holder_tags, parts=n_chunks)
    return start[:n_values + 1], holders, holder_tags


@njit(cache=True, nogil=True)
def _count(start, stop, offsets, values, tags, rb, counts, repeats):
    """Distinct (row[, tag]) holders per (chunk, value); False if a tag decreases.

    A stamp ``run`` numbers the runs of equal tag (the rows, untagged) of a
    chunk; ``last[v] == run`` marks a repeat of ``v`` within the run.
    ``repeats[k]`` tells whether chunk ``k`` has any (else the scatter needs no
    stamps).
    """
    tagged = tags.shape[0] > 0
    ok = True
    for k in range(start, stop):
        last = np.full(counts.shape[1], -1, np.int64)
        row = counts[k]
        run = np.int64(0)
        rep = False
        for r in range(rb[k], rb[k + 1]):
            run += 1
            a = offsets[r]
            for i in range(a, offsets[r + 1]):
                if tagged and i > a and tags[i] != tags[i - 1]:
                    if tags[i] < tags[i - 1]:
                        ok = False
                    run += 1
                v = values[i]
                if last[v] != run:
                    last[v] = run
                    row[v] += 1
                else:
                    rep = True
        repeats[k] = rep
    return ok


@njit(cache=True, nogil=True)
def _cursors(counts):
    """Write cursors of the stable counting sort: value-major, chunk-minor prefix sums."""
    n_chunks, n_values = counts.shape
    cursors = np.empty_like(counts)
    start = np.empty(n_values + 1, np.int64)
    pos = 0
    for v in range(n_values):
        start[v] = pos
        for k in range(n_chunks):
            cursors[k, v] = pos
            pos += counts[k, v]
    start[n_values] = pos
    return cursors, start


@njit(cache=True, nogil=True)
def _scatter(start, stop, offsets, values, tags, rb, repeats, cursors, holders, holder_tags):
    """Stable scatter of the distinct holders by value (the same walk as :func:`_count`)."""
    tagged = tags.shape[0] > 0
    for k in range(start, stop):
        cur = cursors[k]
        if not repeats[k]:  # every value is a new holder: no stamps
            for r in range(rb[k], rb[k + 1]):
                for i in range(offsets[r], offsets[r + 1]):
                    v = values[i]
                    pos = cur[v]
                    cur[v] = pos + 1
                    holders[pos] = r
                    if tagged:
                        holder_tags[pos] = tags[i]
            continue
        last = np.full(cursors.shape[1], -1, np.int64)
        run = np.int64(0)
        for r in range(rb[k], rb[k + 1]):
            run += 1
            a = offsets[r]
            for i in range(a, offsets[r + 1]):
                if tagged and i > a and tags[i] != tags[i - 1]:
                    run += 1
                v = values[i]
                if last[v] != run:
                    last[v] = run
                    pos = cur[v]
                    cur[v] = pos + 1
                    holders[pos] = r
                    if tagged:
                        holder_tags[pos] = tags[i]
