"""Counter-based random numbers and sampling primitives for the simulator.

Every draw is ``splitmix64`` (Steele, Lea, Flood 2014) of a per-customer key,
a stream number and a counter that names the draw, so a draw never depends on
chunking or thread scheduling. Sampling: inverse-CDF picks, Vose alias tables
(Vose 1991), and a small-mean Poisson by inversion.

Input contract: keys and counters are integers; cumulative tables are float64,
non-decreasing and end at 1.0; alias tables come from :func:`build_alias`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

# --------------------------------------------------------------------------
# counter-based random numbers


@njit(cache=True, nogil=True)
def _mix(z):
    """splitmix64 finaliser (Steele, Lea, Flood 2014) on a uint64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _customer_key(seed, customer):
    """Per-customer key: hash of the seed and the customer id."""
    s = _mix(np.uint64(seed) ^ np.uint64(0x6A09E667F3BCC909))
    return _mix(s + np.uint64(customer) * np.uint64(0x9E3779B97F4A7C15))


@njit(cache=True, nogil=True)
def _draw(key, stream, counter):
    """64 random bits for draw ``counter`` of ``stream`` (splitmix64 at that index)."""
    idx = (np.uint64(stream) << np.uint64(40)) | np.uint64(counter)
    return _mix(key + idx * np.uint64(0x9E3779B97F4A7C15))


@njit(cache=True, nogil=True)
def _unif(h):
    """Uniform float64 in [0, 1) from the top 53 bits."""
    # via int64: a signed conversion is one instruction, an unsigned one is not
    return float(np.int64(h >> np.uint64(11))) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _normal(key, stream, counter):
    """Standard normal by Box-Muller from two draws ``2 counter`` and ``2 counter + 1``."""
    u1 = _unif(_draw(key, stream, 2 * counter))
    u2 = _unif(_draw(key, stream, 2 * counter + 1))
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True, nogil=True, inline="always")
def _cdf_pick(cdf, u):
    """First index whose cumulative value exceeds ``u`` (binary search)."""
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
def _alias_pick(alias_thr, alias_idx, h):
    """Item from a Vose alias table: high 32 bits pick the column, low 32 the side
    (``alias_thr`` scaled to integers, see :func:`_alias_thresholds`)."""
    n = np.uint64(alias_thr.shape[0])
    col = np.int64(((h >> np.uint64(32)) * n) >> np.uint64(32))
    if np.int64(h & np.uint64(0xFFFFFFFF)) < alias_thr[col]:
        return col
    return np.int64(alias_idx[col])


@njit(cache=True, nogil=True)
def _poisson(lam, u):
    """Poisson(lam) by inversion of one uniform (sequential search; lam <= 200)."""
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


# --------------------------------------------------------------------------
# customers


def _check_seed(seed: int, first_customer: int, n_customers: int) -> None:
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must lie in [0, 2**63), got {seed}")
    if first_customer < 0 or n_customers < 0:
        raise ValueError("first_customer and n_customers must be >= 0")
    if first_customer + n_customers >= 2**40:
        raise ValueError("customer ids must stay below 2**40")


def _check_cdf(name: str, cdf: np.ndarray, shape: tuple[int, ...]) -> None:
    if cdf.shape != shape or cdf.shape[-1] == 0:
        raise ValueError(f"{name} must have shape {shape}, got {cdf.shape}")
    if np.any(np.diff(cdf, axis=-1) < 0) or np.any(np.abs(cdf[..., -1] - 1.0) > 1e-9):
        raise ValueError(f"{name} must be non-decreasing along its last axis and end at 1.0")
