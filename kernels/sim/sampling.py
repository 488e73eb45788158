"""Sampling primitives of the simulator: stream numbers, inverse-CDF picks, alias tables, Poisson.

The random bits come from the counter-based generator of
:mod:`basketguard.kernels.rng`; this module turns uniforms into categories
(inverse-CDF picks, Vose alias tables, Vose 1991) and counts (Poisson by
inversion), and names the simulator's streams.

Input contract: cumulative tables are float64, non-decreasing and end at 1.0
(:func:`check_cdf`); alias tables come from :func:`build_alias` and are
compared as :func:`alias_thresholds`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from basketguard.kernels.rng import check_seed

# Stream numbers of the simulator (the ``stream`` of :func:`basketguard.kernels.rng.draw`):
# one per kind of draw, so that adding a draw of one kind never shifts the draws of
# another (a customer without events buys exactly the same lines whether or not
# events are enabled for the population).
S_DEMO = 1  #: demographics, counters 0..6
S_BEHAVIOUR = 2  #: visit rate, basket size, activity window, store, loyalty, repertoire
S_PROGRAM = 3  #: program membership ``2 r`` and onset ``2 r + 1``
S_VISIT_GAP = 4  #: geometric gap ``step`` between candidate visit days
S_VISIT_ACCEPT = 5  #: weekday thinning of candidate day ``day``
S_VISIT = 6  #: basket size and time (``4 day + 0..3``), other store (``4 n_days + day``, ...)
S_STAGE = 7  #: does stage ``s`` fire on ``day`` (``(day << 8) | s``)
S_STAGE_ITEM = 8  #: stage product picks
S_ITEM = 9  #: base line source and retries
S_FAV = 10  #: favourite ``f`` of the repertoire
S_PL = 11  #: private-label switch of item ``it``
S_LINE = 12  #: base line quantity and promotion
S_BRAND = 13  #: usual product of group ``g``
S_STAGE_LINE = 14  #: stage line quantity and promotion
S_ITEM_ANY = 15  #: catalog-wide base item pick


@njit(cache=True, nogil=True, inline="always")
def cdf_pick(cdf, u):
    """First index ``i`` with ``cdf[i] > u``, the last index if none (binary search).

    Parameters
    ----------
    cdf : numpy.ndarray
        float64 ``(n,)``, ``n >= 1``, non-decreasing.
    u : float
        Uniform in ``[0, 1)``.

    Returns
    -------
    int
    """
    lo = 0
    hi = cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, nogil=True, inline="always")
def alias_pick(alias_thr, alias_idx, h):
    """Index drawn from a Vose alias table with 64 random bits.

    Column ``col = ((h >> 32) * n) >> 32`` (the high 32 bits scaled to
    ``[0, n)``); it is kept when the low 32 bits are below ``alias_thr[col]``,
    otherwise ``alias_idx[col]`` is taken.

    Parameters
    ----------
    alias_thr : numpy.ndarray
        int64 ``(n,)`` thresholds in ``[0, 2**32]`` (:func:`alias_thresholds`).
    alias_idx : numpy.ndarray
        int32 ``(n,)`` aliases (:func:`build_alias`).
    h : numpy.uint64
        Random bits (:func:`basketguard.kernels.rng.draw`).

    Returns
    -------
    int
    """
    n = np.uint64(alias_thr.shape[0])
    col = np.int64(((h >> np.uint64(32)) * n) >> np.uint64(32))
    if np.int64(h & np.uint64(0xFFFFFFFF)) < alias_thr[col]:
        return col
    return np.int64(alias_idx[col])


@njit(cache=True, nogil=True)
def poisson(lam, u):
    """Poisson(``lam``) by inversion of one uniform: the smallest ``k`` with ``F(k) >= u``.

    ``F`` is the Poisson CDF, computed by sequential search in float64 with the
    term recurrence ``p_0 = exp(-lam)``, ``p_k = p_(k-1) * lam / k`` and the
    running sum ``F(k) = F(k-1) + p_k``; the search stops at ``k = 1000``
    (reached only if rounding keeps the sum below ``u``). Exact inversion up to
    the rounding of that sum (within ``2e-13`` of the true CDF for
    ``lam <= 200``, against an ``lgamma``/``fsum`` computation).

    Parameters
    ----------
    lam : float
        Mean, ``0 <= lam <= 200`` (``exp(-lam)`` must not underflow).
    u : float
        Uniform in ``[0, 1)``.

    Returns
    -------
    int
    """
    p = math.exp(-lam)
    s = p
    k = 0
    while u > s and k < 1000:
        k += 1
        p = p * lam / k
        s += p
    return k


# --------------------------------------------------------------------------
# alias table


class AliasTable(NamedTuple):
    """Vose alias table: draw column ``i`` uniformly, keep it if a uniform is
    below ``threshold[i]``, else take ``alias[i]``."""

    threshold: np.ndarray
    alias: np.ndarray


def build_alias(weights: np.ndarray) -> AliasTable:
    """Build a Vose alias table for sampling indices proportionally to ``weights``.

    Parameters
    ----------
    weights : numpy.ndarray
        float64, shape ``(n,)``, ``n >= 1``, finite, non-negative, positive sum.

    Returns
    -------
    AliasTable
        ``threshold`` (float64, ``(n,)``) and ``alias`` (int32, ``(n,)``).
        Deterministic: the same weights always give the same table.
    """
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] == 0:
        raise ValueError(f"weights must be a non-empty 1-d array, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and sum to a positive value")
    thr = np.empty(w.shape[0], dtype=np.float64)
    alias = np.empty(w.shape[0], dtype=np.int32)
    _build_alias(w, thr, alias)
    return AliasTable(thr, alias)


@njit(cache=True, nogil=True)
def _build_alias(w, thr, alias):
    """Vose (1991) alias method; stacks are filled in index order for determinism."""
    n = w.shape[0]
    total = 0.0
    for i in range(n):
        total += w[i]
    scaled = np.empty(n, dtype=np.float64)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        scaled[i] = w[i] * n / total
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        g = large[nl]
        thr[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            small[ns] = g
            ns += 1
        else:
            large[nl] = g
            nl += 1
    for k in range(nl):
        thr[large[k]] = 1.0
        alias[large[k]] = large[k]
    for k in range(ns):
        thr[small[k]] = 1.0
        alias[small[k]] = small[k]


def alias_thresholds(threshold: np.ndarray) -> np.ndarray:
    """Alias thresholds as int64 ``floor(threshold * 2**32)`` in ``[0, 2**32]``.

    Parameters
    ----------
    threshold : numpy.ndarray
        float64 ``AliasTable.threshold``.

    Returns
    -------
    numpy.ndarray
        int64, compared with 32 random bits by :func:`alias_pick`.
    """
    return np.floor(np.asarray(threshold, np.float64) * 4294967296.0).astype(np.int64)


# --------------------------------------------------------------------------
# input checks


def check_customers(seed: int, first_customer: int, n_customers: int) -> None:
    """Raise ``ValueError`` unless the seed and the customer ids are in range.

    Parameters
    ----------
    seed : int
        ``0 <= seed < 2**63``.
    first_customer, n_customers : int
        Non-negative; ids ``first_customer + i`` stay below ``2**40``.
    """
    check_seed(seed)
    if first_customer < 0 or n_customers < 0:
        raise ValueError("first_customer and n_customers must be >= 0")
    if first_customer + n_customers >= 2**40:
        raise ValueError("customer ids must stay below 2**40")


def check_cdf(name: str, cdf: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``cdf`` has ``shape`` and is a cumulative table.

    Parameters
    ----------
    name : str
        Argument name, for the message.
    cdf : numpy.ndarray
        Non-empty last axis, non-decreasing along it, ending at 1.0 (within 1e-9).
    shape : tuple of int
        Expected shape.
    """
    if cdf.shape != shape or cdf.shape[-1] == 0:
        raise ValueError(f"{name} must have shape {shape}, got {cdf.shape}")
    if np.any(np.diff(cdf, axis=-1) < 0) or np.any(np.abs(cdf[..., -1] - 1.0) > 1e-9):
        raise ValueError(f"{name} must be non-decreasing along its last axis and end at 1.0")
