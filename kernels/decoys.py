"""Stratified selection of decoy recipients.

Decoys are customers added to a targeted mailing so that receiving it says
less about the recipient; they are drawn to look like the targets: from the
targets' own strata first, then from coarser and coarser strata.

Input contract
--------------
- ``keys`` int64, shape ``(L, n)`` with ``L >= 1``: the stratum key of each of
  the ``n`` customers (codes ``0 .. n - 1``) at ``L`` levels, level 0 the
  finest. Keys are non-negative (e.g. :func:`basketguard.kernels.classes.composite_key`)
  and **nested**: two customers with equal keys at level ``l`` have equal keys
  at level ``l + 1``. The wrapper checks both over all customers.
- ``eligible`` bool ``(n,)``: who may be a decoy. Codes listed in ``targets``
  are never chosen, eligible or not.
- ``priority`` uint64 ``(n,)``: the order of candidates within a stratum,
  ascending ``(priority, code)``; the engine fills it from the counter-based
  hash of :mod:`basketguard.kernels.rng`, so a seed fixes the choice.
- ``targets`` int64 codes in ``[0, n)``, duplicates allowed (each distinct
  target counts once); ``total >= 0`` decoys wanted (``total > 0`` needs at
  least one target).

Algorithm
---------
1. **Demand.** The targets' level-0 strata, in ascending key order, receive
   ``total`` by :func:`allocate` in proportion to their number of distinct
   targets (largest remainders, Hamilton's method).
2. **Levels.** For ``l = 0 .. L - 1``: every stratum with outstanding demand
   ``d`` takes the first ``d`` not-yet-chosen candidates (eligible, not
   targets) with its key at level ``l``, in ascending ``(priority, code)``
   order; what it cannot fill is carried to its key at level ``l + 1``, where
   the demands of strata that merge add up. The demand left after level
   ``L - 1`` is the shortfall.

Strata are processed in ascending key order, but as the strata of one level
are disjoint the result does not depend on that order. So one walk over the
candidates sorted once by ``(priority, code)`` serves every level: a candidate
is taken when its stratum still has demand. Cost: one grouping of the level-0
keys (:func:`basketguard.kernels.classes.group_keys`), one ``argsort`` of the
candidates' priorities and at most ``L`` linear walks, all other work on the
``m`` level-0 strata, never ``O(n L m)``.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np
from numba import njit

from basketguard.kernels.checks import check_1d, check_codes
from basketguard.kernels.classes import group_keys

__all__ = ["Selection", "allocate", "select_stratified"]

_INT64_LIMIT = 2**63


class Selection(NamedTuple):
    """Chosen decoys.

    ``chosen`` (int64): the customer codes, ascending; ``matched_at`` (int64,
    ``(L,)``): how many of them were found at each level (the sum is
    ``len(chosen)``); ``shortfall`` (int): requested decoys that could not be
    found, ``len(chosen) + shortfall == total``.
    """

    chosen: np.ndarray
    matched_at: np.ndarray
    shortfall: int


# ----------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _class_firsts(keys, class_of, first):
    """``first[c]`` = first customer of level-0 class ``c`` (preset to -1); returns the
    first customer whose keys at some level differ from its class's first one, else -1."""
    for i in range(class_of.shape[0]):
        c = class_of[i]
        j = first[c]
        if j < 0:
            first[c] = i
            continue
        for lv in range(1, keys.shape[0]):
            if keys[lv, i] != keys[lv, j]:
                return i
    return -1


@njit(cache=True, nogil=True)
def _fill_level(order, class_of, stratum, demand, chosen):
    """Walk candidates in ``order``; take each whose stratum (``stratum[class_of[c]]``)
    still has demand. Returns the number taken."""
    remaining = 0
    for s in range(demand.shape[0]):
        remaining += demand[s]
    taken = 0
    for j in range(order.shape[0]):
        if remaining == 0:
            break
        c = order[j]
        if chosen[c]:
            continue
        s = stratum[class_of[c]]
        if demand[s] > 0:
            demand[s] -= 1
            chosen[c] = True
            taken += 1
            remaining -= 1
    return taken


@njit(cache=True, nogil=True)
def _carry(parent, demand, out):
    """``out[parent[s]] += demand[s]``: unfilled demand moves to the coarser stratum."""
    for s in range(demand.shape[0]):
        out[parent[s]] += demand[s]


# ---------------------------------------------------------------------- wrappers
def _check_total(total) -> int:
    try:
        total = operator.index(total)
    except TypeError:
        raise TypeError(f"total must be an integer, got {total!r}") from None
    if not 0 <= total < _INT64_LIMIT:
        raise ValueError(f"total must lie in [0, 2**63), got {total}")
    return total


def allocate(counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over strata in proportion to ``counts`` (largest remainders).

    Stratum ``i`` first gets ``floor(total * counts[i] / S)`` with
    ``S = sum(counts)``; the units left over go one each to the strata with the
    largest remainders ``total * counts[i] mod S``, ties to the lower index
    (Hamilton's method). All arithmetic is exact on integers.

    Parameters
    ----------
    counts : numpy.ndarray of int64, shape (s,)
        Non-negative weights (e.g. targets per stratum).
    total : int
        Units to split, ``0 <= total < 2**63``.

    Returns
    -------
    numpy.ndarray of int64, shape (s,)
        The shares; they sum to ``total``, and a stratum with count 0 gets 0.

    Raises
    ------
    TypeError
        ``counts`` is not a 1-d int64 array, or ``total`` is not an integer.
    ValueError
        A negative count or total, or ``total > 0`` with ``sum(counts) == 0``.
    """
    check_1d(counts, np.int64, "counts")
    total = _check_total(total)
    s = counts.shape[0]
    if s and int(counts.min()) < 0:
        raise ValueError("counts must be >= 0")
    # Python integers (object arrays) when the sum or the products could pass 2**63.
    wide = s and int(counts.max()) * s >= _INT64_LIMIT
    work = counts.astype(object) if wide else counts
    denom = int(work.sum()) if s else 0
    if denom == 0:
        if total > 0:
            raise ValueError(f"cannot allocate {total} over strata whose counts sum to 0")
        return np.zeros(s, np.int64)
    if total * denom >= _INT64_LIMIT:
        work = counts.astype(object)
    scaled = work * total
    quota, rem = scaled // denom, scaled % denom  # (np.divmod has no object loop)
    quota = quota.astype(np.int64)
    left = total - int(quota.sum())
    quota[np.argsort(-rem, kind="stable")[:left]] += 1
    return quota


def _raise_not_nested(keys: np.ndarray, i: int, j: int, lv: int) -> None:
    raise ValueError(
        f"keys are not nested: customers {j} and {i} share key {int(keys[lv, i])} at level "
        f"{lv} but have keys {int(keys[lv + 1, j])} and {int(keys[lv + 1, i])} at level "
        f"{lv + 1} (a coarser level must merge whole strata)")


def _strata(keys: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Level-0 classes, each class's stratum id at every level, and each stratum's parent
    (``parents[l][s]``: the level ``l + 1`` stratum that level-``l`` stratum ``s`` is in).

    Stratum ids are dense ranks of the keys, so ascending id is ascending key.
    Raises ``ValueError`` unless the keys are nested (see the module contract).
    """
    n_levels, n = keys.shape
    bound = int(keys[0].max()) + 1 if n else 1
    cl = group_keys(keys[0], bound)
    first = np.full(cl.n_classes, -1, np.int64)
    bad = int(_class_firsts(keys, cl.class_of, first))
    if bad >= 0:
        j = int(first[cl.class_of[bad]])
        lv = int(np.flatnonzero(keys[:, bad] != keys[:, j])[0]) - 1
        _raise_not_nested(keys, bad, j, lv)
    table = keys[:, first]  # (L, m): the keys of each level-0 class
    stratum = [np.unique(table[lv], return_inverse=True)[1].astype(np.int64).ravel()
               for lv in range(n_levels)]
    parents = []
    for lv in range(n_levels - 1):
        parent = np.zeros(_n_strata(stratum[lv]), np.int64)
        parent[stratum[lv]] = stratum[lv + 1]
        wrong = np.flatnonzero(parent[stratum[lv]] != stratum[lv + 1])
        if wrong.size:
            c = int(wrong[0])
            other = np.flatnonzero((stratum[lv] == stratum[lv][c])
                                   & (stratum[lv + 1] != stratum[lv + 1][c]))[0]
            _raise_not_nested(keys, int(first[c]), int(first[other]), lv)
        parents.append(parent)
    return cl.class_of, stratum, parents


def _n_strata(stratum: np.ndarray) -> int:
    return int(stratum.max()) + 1 if stratum.size else 0


def _check_selection_inputs(keys, eligible, priority, targets) -> int:
    if not isinstance(keys, np.ndarray) or keys.dtype != np.int64:
        raise TypeError("keys must be an int64 array of shape (levels, customers)")
    if keys.ndim != 2 or keys.shape[0] < 1:
        raise ValueError(f"keys must have shape (levels >= 1, customers), got {keys.shape}")
    n = keys.shape[1]
    if n and int(keys.min()) < 0:
        raise ValueError("keys must be >= 0")
    check_1d(eligible, np.bool_, "eligible")
    check_1d(priority, np.uint64, "priority")
    check_1d(targets, np.int64, "targets")
    for name, a in (("eligible", eligible), ("priority", priority)):
        if a.shape[0] != n:
            raise ValueError(f"{name} has {a.shape[0]} entries but keys has {n} customers")
    check_codes(targets, n, "targets")
    return n


def _by_priority(codes: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """``codes`` (ascending) reordered by ascending ``(priority, code)``."""
    pr = priority[codes]
    order = np.argsort(pr)
    ranked = pr[order]
    if ranked.size > 1 and np.any(ranked[1:] == ranked[:-1]):
        order = np.argsort(pr, kind="stable")  # ties: keep the code order
    return codes[order]


def select_stratified(keys: np.ndarray, eligible: np.ndarray, priority: np.ndarray,
                      targets: np.ndarray, total: int) -> Selection:
    """Choose ``total`` decoys that match the targets' strata, finest level first.

    Parameters
    ----------
    keys : numpy.ndarray of int64, shape (L, n)
        Non-negative, nested stratum keys, level 0 the finest (module contract).
    eligible : numpy.ndarray of bool, shape (n,)
        Customers who may be chosen.
    priority : numpy.ndarray of uint64, shape (n,)
        Candidates are taken in ascending ``(priority, code)`` order.
    targets : numpy.ndarray of int64
        Codes of the targeted customers (duplicates count once); never chosen.
    total : int
        Number of decoys wanted (``>= 0``).

    Returns
    -------
    Selection
        ``chosen`` codes ascending, ``matched_at`` per level, ``shortfall``.

    Raises
    ------
    TypeError
        An array of the wrong dtype, or ``total`` not an integer.
    ValueError
        Wrong shapes; negative keys; keys not nested; a target outside
        ``[0, n)``; ``total < 0``; ``total > 0`` without targets.
    """
    n = _check_selection_inputs(keys, eligible, priority, targets)
    total = _check_total(total)
    n_levels = keys.shape[0]
    distinct = np.unique(targets)
    if total > 0 and distinct.size == 0:
        raise ValueError(f"{total} decoys requested but there are no targets to match")
    keys = np.ascontiguousarray(keys)
    class_of, stratum, parents = _strata(keys)
    per_class = np.bincount(class_of[distinct], minlength=stratum[0].shape[0]).astype(np.int64)
    demand = np.zeros(per_class.shape[0], np.int64)
    present = np.flatnonzero(per_class)
    demand[present] = allocate(per_class[present], total)

    candidate = eligible.copy()
    candidate[distinct] = False
    order = _by_priority(np.flatnonzero(candidate).astype(np.int64), priority)
    chosen = np.zeros(n, np.bool_)
    matched_at = np.zeros(n_levels, np.int64)
    for lv in range(n_levels):
        if lv > 0:
            coarser = np.zeros(_n_strata(stratum[lv]), np.int64)
            _carry(parents[lv - 1], demand, coarser)
            demand = coarser
        if demand.any():
            matched_at[lv] = _fill_level(order, class_of, stratum[lv], demand, chosen)
    return Selection(np.flatnonzero(chosen).astype(np.int64), matched_at, int(demand.sum()))
