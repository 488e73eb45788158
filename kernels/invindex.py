"""Point -> customers inverted index over customer histories (CSR plus bitmaps).

A *point* is what an adversary may know about one purchase: an item alone, or
an item (or store) together with the day, week or month it was bought. Each
point is one int64 key::

    key = hi * n_buckets + (bucket(day, unit) - bucket_min)

where ``hi`` is the item (or store) code and the time bucket is

- ``UNIT_NONE`` (0): no time, ``n_buckets = 1`` (items alone);
- ``UNIT_DAY`` (1): the day number (days since 1970-01-01);
- ``UNIT_WEEK`` (2): ``(day + 3) // 7``, weeks running Monday to Sunday (the
  same partition of days as ISO 8601 weeks; 1970-01-05 was a Monday);
- ``UNIT_MONTH`` (3): calendar months since 1970-01 (proleptic Gregorian).

``bucket_min`` and ``n_buckets`` span the buckets present in the lines, so
keys are dense per ``hi`` and sort by (hi, bucket).

The index holds, for every distinct point of the population, the ascending
distinct codes of the customers whose history contains it (``holders``,
CSR by ``point_off``), the sorted point keys (``point_key``; a point's *code*
is its rank), ``hi_off`` (first point code of each ``hi``, so a key is found
by a short binary search) and, for *dense* points held by at least
``n_customers / dense_ratio`` customers, a bitmap row over customers (never
more bytes than the point's holder list). It is built with a two-pass LSD
sort: the distinct (customer, bucket) pairs of each ``hi`` come from the CSR
transpose of :mod:`basketguard.kernels.csr` (tagged by bucket when there is
time; customers ascending), then each ``hi``'s pairs are stably sorted by
bucket; neither pass depends on the number of threads.

Input contract: ``offsets`` int64 (customers + 1), non-decreasing from 0;
``hi`` int32 codes in ``[0, n_hi)``; ``day`` int32 days since the epoch, both
of length ``offsets[-1]``; a customer's lines are contiguous.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from basketguard.kernels.checks import as_1d, check_codes, check_offsets
from basketguard.kernels.csr import invert, invert_tagged
from basketguard.kernels.threads import run_ranges

UNIT_NONE, UNIT_DAY, UNIT_WEEK, UNIT_MONTH = 0, 1, 2, 3


class PointIndex(NamedTuple):
    """Inverted index of points (see the module docstring)."""

    unit: int
    bucket_min: int
    n_buckets: int
    point_key: np.ndarray  # int64, (n_points,), ascending
    point_off: np.ndarray  # int64, (n_points + 1,)
    holders: np.ndarray  # int32, ascending distinct customers per point
    hi_off: np.ndarray  # int64, (n_hi + 1,)
    dense_row: np.ndarray  # int32, (n_points,), bitmap row or -1
    bitmaps: np.ndarray  # uint64, (n_dense, ceil(n_customers / 64))
    n_customers: int

    @property
    def n_points(self) -> int:
        return self.point_key.shape[0]


# --------------------------------------------------------------------------- buckets


@njit(cache=True, nogil=True, inline="always")
def time_bucket(day, unit):
    """Time bucket of a day number under a time unit (see the module docstring).

    Months use Hinnant's ``civil_from_days`` (proleptic Gregorian calendar).

    Parameters
    ----------
    day : int
        Days since 1970-01-01.
    unit : int
        ``UNIT_NONE``, ``UNIT_DAY``, ``UNIT_WEEK`` or ``UNIT_MONTH``.

    Returns
    -------
    int
        ``0`` for ``UNIT_NONE``; otherwise the day, week or month number.
    """
    d = np.int64(day)
    if unit == 0:
        return np.int64(0)
    if unit == 1:
        return d
    if unit == 2:
        return (d + 3) // 7
    z = d + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return (year - 1970) * 12 + month - 1


def bucket_range(day: np.ndarray, unit: int) -> tuple[int, int]:
    """First bucket and number of buckets spanned by ``day``.

    Parameters
    ----------
    day : numpy.ndarray
        int32 day numbers.
    unit : int
        ``UNIT_NONE``, ``UNIT_DAY``, ``UNIT_WEEK`` or ``UNIT_MONTH``.

    Returns
    -------
    (int, int)
        ``(bucket_min, n_buckets)``; ``(0, 1)`` when ``day`` is empty or
        ``unit`` is ``UNIT_NONE``.
    """
    _check_unit(unit)
    day = as_1d(day, np.int32, "day")
    if unit == UNIT_NONE or day.shape[0] == 0:
        return 0, 1
    # every unit's bucket is non-decreasing in the day: the span is that of the extreme days
    lo, hi = int(time_bucket(int(day.min()), unit)), int(time_bucket(int(day.max()), unit))
    return lo, hi - lo + 1


@njit(cache=True, nogil=True)
def _point_keys(lo, up, hi, day, unit, bmin, nb, out):
    """Key of every line (see the module docstring)."""
    for i in range(lo, up):
        out[i] = np.int64(hi[i]) * nb + (time_bucket(day[i], unit) - bmin)


def point_keys(hi: np.ndarray, day: np.ndarray, unit: int, bucket_min: int,
               n_buckets: int) -> np.ndarray:
    """Point key of every line.

    Parameters
    ----------
    hi, day : numpy.ndarray
        int32 item (or store) codes and day numbers, same length.
    unit : int
        Time unit of the points.
    bucket_min, n_buckets : int
        From :func:`bucket_range`; every line's bucket must lie in the span.

    Returns
    -------
    numpy.ndarray
        int64 keys, one per line.
    """
    _check_unit(unit)
    hi = as_1d(hi, np.int32, "hi")
    day = as_1d(day, np.int32, "day")
    if hi.shape != day.shape:
        raise ValueError("hi and day must have the same length")
    out = np.empty(hi.shape[0], np.int64)
    run_ranges(_point_keys, hi.shape[0], hi, day, unit, np.int64(bucket_min),
               np.int64(n_buckets), out)
    return out


# ----------------------------------------------------------------------- the index


def build_index(offsets: np.ndarray, hi: np.ndarray, day: np.ndarray, unit: int,
                n_hi: int, dense_ratio: float = 32.0,
                buckets: tuple[int, int] | None = None) -> PointIndex:
    """Build the point -> customers index of a population.

    Parameters
    ----------
    offsets : numpy.ndarray
        int64 CSR offsets of the customers' lines (customers + 1).
    hi, day : numpy.ndarray
        int32 item (or store) codes in ``[0, n_hi)`` and day numbers per line;
        days non-decreasing within each customer (histories are time-sorted).
    unit : int
        Time unit of the points (``UNIT_NONE`` for items alone).
    n_hi : int
        Number of item (or store) codes.
    dense_ratio : float
        Points held by at least ``n_customers / dense_ratio`` customers also
        get a bitmap row; ``0`` turns bitmaps off. At 32 a bitmap is never
        larger than the holder list it shadows.
    buckets : (int, int), optional
        ``(bucket_min, n_buckets)`` of the key space, when it must be wider than
        this population's own span (:func:`bucket_range`): the shards of one
        customer base share the whole base's span, so a point has the same key
        in every shard's index. Every line's bucket must lie in it.

    Returns
    -------
    PointIndex
    """
    _check_unit(unit)
    offsets = as_1d(offsets, np.int64, "offsets")
    hi = as_1d(hi, np.int32, "hi")
    day = as_1d(day, np.int32, "day")
    check_offsets(offsets, hi.shape[0])
    if day.shape != hi.shape:
        raise ValueError("hi and day must have the same length")
    check_codes(hi, n_hi, "hi codes")
    n_cust = offsets.shape[0] - 1
    n = hi.shape[0]
    if dense_ratio < 0:
        raise ValueError("dense_ratio must be >= 0")
    bmin, nb = bucket_range(day, unit)
    if buckets is not None:
        own_min, own_n = bmin, nb
        bmin, nb = int(buckets[0]), int(buckets[1])
        if unit == UNIT_NONE:
            bmin, nb = 0, 1
        elif nb < 1 or (n and (own_min < bmin or own_min + own_n > bmin + nb)):
            raise ValueError(f"buckets {tuple(buckets)} do not cover the lines' buckets "
                             f"{own_min}..{own_min + own_n - 1}")

    # pass 1: distinct (customer, point) pairs per hi, customers ascending
    if nb == 1:
        start, holders = invert(offsets, hi, n_hi)
    else:
        if unit == UNIT_DAY:
            # a day's bucket is the day: tag by the days themselves and shift the (far
            # fewer) pair tags afterwards, rather than writing a tag for every line
            tags, shift = day, bmin
        else:
            dmin, btab = _bucket_table(day, unit, bmin)
            tags, shift = np.empty(n, np.int32), 0
            run_ranges(_line_buckets, day.shape[0], day, dmin, btab, unit, bmin, tags)
        try:
            start, holders, bucket = invert_tagged(offsets, hi, tags, n_hi)
        except ValueError as err:  # the inputs are checked above: only the tag order is left
            raise ValueError("days must be non-decreasing within each customer's lines") from err
        del tags
        if shift:
            bucket -= np.int32(shift)
    n_pairs = int(start[-1])

    # pass 2: per hi, order by (bucket, customer); one point per distinct bucket
    if nb == 1:
        present = np.flatnonzero(np.diff(start) > 0)
        point_key = present.astype(np.int64)
        point_off = np.append(start[present], n_pairs).astype(np.int64)
        hi_off = np.searchsorted(point_key, np.arange(n_hi + 1, dtype=np.int64)).astype(np.int64)
    else:
        npts = np.zeros(max(n_hi, 1), np.int64)
        run_ranges(_sort_groups, _SLICES, start, holders, bucket, nb, np.int64(_SLICES), npts)
        hi_off = np.zeros(max(n_hi, 1) + 1, np.int64)
        np.cumsum(npts, out=hi_off[1:])
        hi_off = hi_off[:n_hi + 1]
        n_points = int(hi_off[-1]) if n_hi else 0
        point_key = np.empty(n_points, np.int64)
        point_off = np.empty(n_points + 1, np.int64)
        point_off[n_points] = n_pairs
        run_ranges(_write_points, _SLICES, start, bucket, hi_off, nb, np.int64(_SLICES),
                   point_key, point_off)
        del bucket
    lens = np.diff(point_off)
    if dense_ratio > 0 and point_key.shape[0]:
        dense = np.flatnonzero(lens * dense_ratio >= n_cust).astype(np.int64)
    else:
        dense = np.empty(0, np.int64)
    dense_row = np.full(point_key.shape[0], -1, np.int32)
    dense_row[dense] = np.arange(dense.shape[0], dtype=np.int32)
    bitmaps = np.zeros((dense.shape[0], (n_cust + 63) // 64), np.uint64)
    run_ranges(_fill_bitmaps, dense.shape[0], dense, point_off, holders, bitmaps)
    return PointIndex(unit, bmin, nb, point_key, point_off, holders, hi_off, dense_row,
                      bitmaps, n_cust)


_SLICES = 64
_MAX_TABLE = 1 << 22


def _bucket_table(day: np.ndarray, unit: int, bmin: int) -> tuple[int, np.ndarray]:
    """``bucket - bmin`` of every day in the span of ``day`` (empty: compute per line)."""
    if unit == UNIT_NONE or day.shape[0] == 0:
        return 0, np.empty(0, np.int32)
    dmin, dmax = int(day.min()), int(day.max())
    if dmax - dmin >= min(_MAX_TABLE, 4 * day.shape[0] + 4096):  # no larger than the lines
        return dmin, np.empty(0, np.int32)
    tab = np.empty(dmax - dmin + 1, np.int32)
    _fill_table(dmin, unit, bmin, tab)
    return dmin, tab


@njit(cache=True, nogil=True)
def _fill_table(dmin, unit, bmin, tab):
    for j in range(tab.shape[0]):
        tab[j] = time_bucket(dmin + j, unit) - bmin


@njit(cache=True, nogil=True, inline="always")
def _lo(d, dmin, btab, unit, bmin):
    """Bucket of day ``d`` relative to ``bmin`` (table lookup when the span is small)."""
    if btab.shape[0] > 0:
        return np.int64(btab[np.int64(d) - dmin])
    return time_bucket(d, unit) - bmin


@njit(cache=True, nogil=True)
def _line_buckets(lo, up, day, dmin, btab, unit, bmin, out):
    """Bucket of every line relative to ``bmin`` (the tags of the pair inversion)."""
    for i in range(lo, up):
        out[i] = _lo(day[i], dmin, btab, unit, bmin)


@njit(cache=True, nogil=True)
def _sort_groups(lo, up, start, holders, bucket, nb, n_slices, npts):
    """Within each hi, stable-sort pairs by bucket; count distinct buckets.

    Small groups: insertion sort on (bucket, customer); large ones: a counting
    sort over the buckets. Slices take every ``n_slices``-th hi so that the
    few very popular items spread over threads.
    """
    for s in range(lo, up):
        for h in range(s, start.shape[0] - 1, n_slices):
            a = start[h]
            e = start[h + 1]
            ln = e - a
            if ln == 0:
                continue
            if ln <= 32 or ln * 4 < nb:
                for i in range(a + 1, e):
                    bc = bucket[i]
                    cc = holders[i]
                    j = i - 1
                    while j >= a and (bucket[j] > bc or (bucket[j] == bc and holders[j] > cc)):
                        bucket[j + 1] = bucket[j]
                        holders[j + 1] = holders[j]
                        j -= 1
                    bucket[j + 1] = bc
                    holders[j + 1] = cc
            else:
                cnt = np.zeros(nb + 1, np.int64)
                for i in range(a, e):
                    cnt[bucket[i] + 1] += 1
                for b in range(nb):
                    cnt[b + 1] += cnt[b]
                tb = bucket[a:e].copy()
                tc = holders[a:e].copy()
                for i in range(ln):
                    pos = a + cnt[tb[i]]
                    cnt[tb[i]] += 1
                    bucket[pos] = tb[i]
                    holders[pos] = tc[i]
            n = 1
            for i in range(a + 1, e):
                if bucket[i] != bucket[i - 1]:
                    n += 1
            npts[h] = n


@njit(cache=True, nogil=True)
def _write_points(lo, up, start, bucket, hi_off, nb, n_slices, point_key, point_off):
    """Point keys and holder offsets of every hi's sorted pairs."""
    for s in range(lo, up):
        for h in range(s, start.shape[0] - 1, n_slices):
            pt = hi_off[h]
            for i in range(start[h], start[h + 1]):
                if i == start[h] or bucket[i] != bucket[i - 1]:
                    point_key[pt] = np.int64(h) * nb + bucket[i]
                    point_off[pt] = i
                    pt += 1


@njit(cache=True, nogil=True)
def _fill_bitmaps(lo, up, dense, point_off, holders, bitmaps):
    """One bitmap row per dense point."""
    for r in range(lo, up):
        q = dense[r]
        row = bitmaps[r]
        for j in range(point_off[q], point_off[q + 1]):
            c = holders[j]
            row[c >> 6] |= np.uint64(1) << np.uint64(c & 63)


# -------------------------------------------------------------------------- helpers


def _check_unit(unit: int) -> None:
    if unit not in (UNIT_NONE, UNIT_DAY, UNIT_WEEK, UNIT_MONTH):
        raise ValueError(f"unknown time unit {unit!r}")
