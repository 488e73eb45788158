"""Purchase profile of every customer: visits, lines, lines per item group, first and last day.

Input contract
--------------
- The histories CSR (:class:`basketguard.engine.histories.build.Histories`):
  ``offsets`` int64 (n_customers + 1, starting at 0, non-decreasing, ending at
  ``len(item)``), ``item`` int32 item codes and ``day`` int32 day numbers of the
  same length. Each customer's lines are sorted by time, so ``day`` is
  non-decreasing within a customer: the build sorts every customer's lines on
  the time first and takes ``day = floor(t / 86400)``, which keeps that order.
  Distinct days are counted as the runs of equal days, which relies on it; the
  kernel checks it on the way (one comparison a line) and the wrapper raises
  ``ValueError`` naming the first customer whose days decrease.
- ``item_group`` int32, one entry per item code (``n_items >= max(item) + 1``):
  the item's group in ``[0, n_groups)`` (e.g. its department), or ``-1`` for an
  item without one; ``n_groups >= 0``.

Outputs
-------
A :class:`Profiles` with one row per customer. A line of an item whose group is
``-1`` counts in ``lines`` but in no column of ``group_lines``. A customer with
no lines has ``visits == lines == 0``, an all-zero ``group_lines`` row and
:data:`NO_DAY` as first and last day; test ``lines == 0`` rather than the
sentinel, since ``NO_DAY`` (``-2**31``) is itself a representable day number.

The loop runs over pieces of the customer range on threads
(:mod:`basketguard.kernels.threads`): each customer's row is written by one
thread only, so results do not depend on the number of threads.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from basketguard.kernels.checks import check_1d, check_offsets
from basketguard.kernels.threads import run_ranges
from basketguard.kernels.windows import NO_DAY

__all__ = ["NO_DAY", "Profiles", "customer_profiles"]

#: Status bits of the per-customer check (see :func:`_profiles`).
_DAYS_DECREASE = 1
_ITEM_OUT_OF_RANGE = 2
#: ``visits`` and ``group_lines`` are int32: a customer must have fewer lines.
_MAX_LINES = 2**31 - 1


class Profiles(NamedTuple):
    """Purchase profile of each customer (one row per customer code).

    ``visits`` (int32): number of distinct days with a purchase;
    ``lines`` (int64): number of lines;
    ``group_lines`` (int32, (n_customers, n_groups)): lines per item group
    (lines of items without a group are in no column);
    ``first_day``, ``last_day`` (int32): first and last purchase day,
    :data:`NO_DAY` for a customer without lines.
    """

    visits: np.ndarray
    lines: np.ndarray
    group_lines: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray


_PARTS = 8  # pieces of the customer range on the threads (histories differ in length)


@njit(cache=True, nogil=True)
def _profiles(start, stop, offsets, item, day, item_group, visits, lines, group_lines,
              first_day, last_day, status):
    """Customers ``start:stop``; ``status[c]`` gets the bits of broken contracts."""
    n_items = item_group.shape[0]
    for c in range(start, stop):
        lo = offsets[c]
        hi = offsets[c + 1]
        lines[c] = hi - lo
        if hi == lo:
            continue
        row = group_lines[c]
        bad = 0
        v = 1
        prev = day[lo]
        for i in range(lo, hi):
            d = day[i]
            v += d != prev
            if d < prev:
                bad |= _DAYS_DECREASE
            prev = d
            it = item[i]
            if it < 0 or it >= n_items:
                bad |= _ITEM_OUT_OF_RANGE
                continue
            g = item_group[it]
            if g >= 0:
                row[g] += 1
        visits[c] = v
        first_day[c] = day[lo]
        last_day[c] = day[hi - 1]
        status[c] = bad


def _check_groups(item_group: np.ndarray, n_groups: int) -> int:
    n_groups = int(n_groups)
    if n_groups < 0:
        raise ValueError(f"n_groups must be >= 0, got {n_groups}")
    if item_group.size and (item_group.min() < -1 or item_group.max() >= n_groups):
        bad = int(np.flatnonzero((item_group < -1) | (item_group >= n_groups))[0])
        raise ValueError(f"item_group[{bad}] = {int(item_group[bad])}: groups must lie in "
                         f"[0, {n_groups}) or be -1 (no group)")
    return n_groups


def _raise_status(status: np.ndarray, offsets: np.ndarray, item: np.ndarray,
                  n_items: int) -> None:
    bad_item = np.flatnonzero(status & _ITEM_OUT_OF_RANGE)
    if bad_item.size:
        c = int(bad_item[0])
        seg = item[offsets[c]:offsets[c + 1]]
        i = int(offsets[c]) + int(np.flatnonzero((seg < 0) | (seg >= n_items))[0])
        raise ValueError(f"item[{i}] = {int(item[i])} (customer {c}) is not an item code: "
                         f"item_group has {n_items} entries")
    c = int(np.flatnonzero(status & _DAYS_DECREASE)[0])
    raise ValueError(f"the days of customer {c} decrease: each customer's lines must be "
                     "sorted by time (as engine.histories builds them)")


def customer_profiles(offsets: np.ndarray, item: np.ndarray, day: np.ndarray,
                      item_group: np.ndarray, n_groups: int) -> Profiles:
    """Visits, lines, lines per group and first / last day of every customer.

    Parameters
    ----------
    offsets : numpy.ndarray of int64, shape (n_customers + 1,)
        History offsets: customer ``c`` owns lines ``offsets[c]:offsets[c + 1]``.
    item : numpy.ndarray of int32, shape (n_lines,)
        Item code of each line, in ``[0, len(item_group))``.
    day : numpy.ndarray of int32, shape (n_lines,)
        Day number of each line, non-decreasing within each customer.
    item_group : numpy.ndarray of int32, shape (n_items,)
        Group of each item code in ``[0, n_groups)``, ``-1`` for none.
    n_groups : int
        Number of groups (``>= 0``).

    Returns
    -------
    Profiles
        ``visits`` int32, ``lines`` int64, ``group_lines`` int32
        (n_customers, n_groups), ``first_day`` and ``last_day`` int32
        (:data:`NO_DAY` for customers without lines).

    Raises
    ------
    TypeError
        An array is not 1-d of its exact dtype.
    ValueError
        ``day`` and ``item`` differ in length; ``offsets`` are not CSR offsets
        over the lines; ``n_groups < 0``; a group outside ``[-1, n_groups)``;
        an item code outside ``[0, len(item_group))``; a customer's days
        decrease; a customer has ``2**31`` lines or more.
    """
    check_1d(offsets, np.int64, "offsets")
    check_1d(item, np.int32, "item")
    check_1d(day, np.int32, "day")
    check_1d(item_group, np.int32, "item_group")
    if day.shape != item.shape:
        raise ValueError(f"day has {day.shape[0]} lines but item has {item.shape[0]}")
    check_offsets(offsets, item.shape[0])
    n_groups = _check_groups(item_group, n_groups)
    if item.shape[0] > _MAX_LINES and np.diff(offsets).max() > _MAX_LINES:
        raise ValueError(f"a customer has more than {_MAX_LINES} lines (int32 counts)")
    offsets, item, day, item_group = (np.ascontiguousarray(a)
                                      for a in (offsets, item, day, item_group))
    n = offsets.shape[0] - 1
    visits = np.zeros(n, np.int32)
    lines = np.empty(n, np.int64)
    group_lines = np.zeros((n, n_groups), np.int32)
    first_day = np.full(n, NO_DAY, np.int32)
    last_day = np.full(n, NO_DAY, np.int32)
    status = np.zeros(n, np.uint8)
    if n:
        run_ranges(_profiles, n, offsets, item, day, item_group, visits, lines, group_lines,
                   first_day, last_day, status, parts=_PARTS)
        if status.any():
            _raise_status(status, offsets, item, item_group.shape[0])
    return Profiles(visits, lines, group_lines, first_day, last_day)
