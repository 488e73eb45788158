"""Association of feature groups with a label, with false-discovery control.

:func:`association` takes the customers with each of ``G`` feature groups (an
item, a concept, a taxonomy node) among the positives and the negatives of a
label, and returns supports, confidence, lift, mutual information, Fisher exact
p-values and Benjamini-Hochberg q-values, vectorized over groups. :func:`rank`
orders groups for a proxy table; :func:`significant` applies a false-discovery rate.

The Fisher tails are not ``scipy.stats.hypergeom``'s: Boost, under it, computes
the pmf by prime factorisation for populations of 171 to 104,729, at a cost
linear in the population (30 s for 50,000 groups of 50,000 customers), and to
only 1e-7 relative at 1e9. Here the pmf is Loader's saddle-point form (C. Loader,
"Fast and accurate computation of binomial probabilities", 2000) and the tail
R's ``phyper`` series, summed away from the mean: within 1e-12 of exact sums at any size.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from decimal import Decimal

import numpy as np

#: Keys of the dict :func:`association` returns (float64 arrays but ``direction``: int8).
FIELDS = ("support", "support_pos", "support_neg", "confidence", "lift", "mutual_information",
          "p_enriched", "p_depleted", "p_value", "direction", "q_value")

_EPS = np.finfo(np.float64).eps
_LN_2PI = math.log(2 * math.pi)
_BLOCK_CELLS = 1 << 18  # terms computed at once in a tail sum (2 MB a temporary)


#: Stirling's error log(n!) - log(sqrt(2 pi n) (n/e)^n) for n = 0..15, in Decimal's 28
#: digits (0 at n = 0, never used).
_STIRLERR_SMALL = np.array([0.0] + [
    float(Decimal(math.factorial(n)).ln() - (n + Decimal(0.5)) * Decimal(n).ln() + n
          - Decimal(2 * math.pi).ln() / 2) for n in range(1, 16)])


def _stirlerr(n: np.ndarray) -> np.ndarray:
    """Stirling's error for integer-valued ``n >= 1``: table to 15, series above (Loader)."""
    out = np.empty_like(n)
    small = n <= 15
    out[small] = _STIRLERR_SMALL[n[small].astype(np.int64)]
    m = n[~small]
    m2 = m * m
    out[~small] = (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / 1188 / m2) / m2) / m2) / m2) / m
    return out


def _bd0(x: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Deviance term ``x log(x / mu) + mu - x`` without cancellation near ``x = mu`` (Loader)."""
    out = np.empty_like(x)
    near = np.abs(x - mu) < 0.1 * (x + mu)
    xn, mn = x[near], mu[near]
    v = (xn - mn) / (xn + mn)
    v2 = v * v
    # (x - mu) v + 2 x sum_j v^(2j+1) / (2j+1): |v| < 0.1, so 9 terms reach 1e-18
    series = np.full_like(v, 1 / 19)
    for j in range(8, 0, -1):
        series = series * v2 + 1 / (2 * j + 1)
    out[near] = (xn - mn) * v + 2 * xn * v * v2 * series
    xf, mf = x[~near], mu[~near]
    out[~near] = xf * np.log(xf / mf) + mf - xf
    return out


def _log_binom(x: np.ndarray, n: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """log of the Binomial(n, p) pmf at x, for 0 <= x <= n, n >= 1, 0 < p < 1 (R dbinom_raw)."""
    out = np.empty_like(x)
    zero, full = x == 0, x == n
    mid = ~(zero | full)
    # log q from the smaller of p and q, the one known to full relative precision
    out[zero] = n[zero] * np.where(p < 0.5, np.log1p(-p), np.log(q))[zero]
    out[full] = n[full] * np.where(q < 0.5, np.log1p(-q), np.log(p))[full]
    xm, nm, pm, qm = x[mid], n[mid], p[mid], q[mid]
    lc = (_stirlerr(nm) - _stirlerr(xm) - _stirlerr(nm - xm)
          - _bd0(xm, nm * pm) - _bd0(nm - xm, nm * qm))
    # log((n - x) / n), not R's log1p(-x / n): that loses digits when x is near n
    out[mid] = lc - 0.5 * (_LN_2PI + np.log(xm) + np.log((nm - xm) / nm))
    return out


def _hyper_pmf(x: np.ndarray, red: int, black: int, draws: np.ndarray) -> np.ndarray:
    """Hypergeometric pmf of ``x`` red among ``draws`` (0 < draws < red + black), R dhyper."""
    n, full = red + black, np.ones_like(x)
    p, q = draws / n, (n - draws) / n
    return np.exp(_log_binom(x, red * full, p, q) + _log_binom(draws - x, black * full, p, q)
                  - _log_binom(draws, n * full, p, q))


def _lower_sum(x: np.ndarray, red: int, black: int, draws: np.ndarray) -> np.ndarray:
    """``P(X <= x) / P(X = x)`` for x at or below the mean (R pdhyper), all groups at once.

    Terms fall from x down; a group stops at a term below ``eps`` of its sum. The loop
    runs over blocks of terms, doubling from 8 to 1024 a group, :data:`_BLOCK_CELLS` at most.
    """
    total = np.ones_like(x)
    idx = np.flatnonzero(x > 0)
    # pmf(y - 1) / pmf(y) = y (black - draws + y) / ((y - draws - 1) (y - red - 1)): 0 at the
    # bottom of the support (y = 0 or y = draws - black), so terms below it are 0.
    xi, c1, c2 = x[idx], black - draws[idx], draws[idx] + 1
    term, acc = np.ones_like(xi), np.zeros_like(xi)
    block = 4
    while idx.size:
        block = min(2 * block, 1024, max(8, _BLOCK_CELLS // idx.size))
        y = xi[:, None] - np.arange(block, dtype=np.float64)
        ratio = (c1[:, None] + y) * y
        ratio /= (y - c2[:, None]) * (y - (red + 1))
        np.cumprod(ratio, axis=1, out=ratio)
        acc += term * ratio.sum(axis=1)
        term, xi = term * ratio[:, -1], xi - block
        done = (xi <= 0) | (term < _EPS * (1 + acc))
        total[idx[done]] += acc[done]
        idx, xi, c1, c2, term, acc = (v[~done] for v in (idx, xi, c1, c2, term, acc))
    return total


def _fisher_tails(a: np.ndarray, k: np.ndarray, n_pos: int, n_neg: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``P(X >= a)`` and ``P(X <= a)`` for X ~ Hypergeometric(N, n_pos, k).

    The tail away from the mean is summed (relative precision kept however small);
    the other is ``1 - tail + pmf(a)``, about a half or more (the median of X is
    within one of its mean), so the subtraction loses nothing.
    """
    n = n_pos + n_neg
    enr, dep = np.ones_like(a), np.ones_like(a)
    inner = (k > 0) & (k < n)  # k = 0 or N: X is constant, both tails 1
    below = inner & (a * n <= k * n_pos)
    # Above the mean, X >= a is "negatives <= k - a": the same sum, classes swapped.
    for side, swap in ((below, False), (inner & ~below, True)):
        ai, ki = a[side], k[side]
        pmf = _hyper_pmf(ai, n_pos, n_neg, ki)
        if swap:
            tail = pmf * _lower_sum(ki - ai, n_neg, n_pos, ki)
            enr[side], dep[side] = tail, 1 - tail + pmf
        else:
            tail = pmf * _lower_sum(ai, n_pos, n_neg, ki)
            dep[side], enr[side] = tail, 1 - tail + pmf
    return np.clip(enr, 0, 1), np.clip(dep, 0, 1)


def _counts(values: object, name: str, limit: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D array of integer counts, "
                         f"not {arr.dtype} of shape {arr.shape}")
    for bad, what in ((arr < 0, "is negative"), (arr > limit, f"exceeds its class total {limit}")):
        if bad.any():
            g = int(np.argmax(bad))
            raise ValueError(f"{name}[{g}] = {arr[g]} {what} (customers with group {g})")
    return arr.astype(np.int64)


def mutual_information(a: np.ndarray, b: np.ndarray, n_pos: int, n_neg: int) -> np.ndarray:
    """Mutual information in bits between having a group and the label, per group.

    ``a``, ``b`` (float arrays): positives and negatives with the group; the
    2x2 table is ``a, b, n_pos - a, n_neg - b``, 0 log 0 = 0, rounding below 0
    clamped. No validation: :func:`association` validates.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    n = n_pos + n_neg
    k = a + b
    mi = np.zeros_like(a)
    for cell, row, col in ((a, k, n_pos), (b, k, n_neg),
                           (n_pos - a, n - k, n_pos), (n_neg - b, n - k, n_neg)):
        has = cell > 0  # then its row is positive too
        mi[has] += cell[has] / n * np.log2(cell[has] / row[has] * (n / col))
    return np.maximum(mi, 0.0)


def association(pos: object, neg: object, n_pos: int, n_neg: int) -> dict[str, np.ndarray]:
    """Association statistics of every group with a binary label.

    Parameters
    ----------
    pos, neg : int array (G,)
        Positive and negative customers with each group (``a`` and ``b``).
    n_pos, n_neg : int
        Positive and negative customers in all; ``N = n_pos + n_neg <= 2**53``.

    Returns
    -------
    dict of str to numpy.ndarray
        Arrays of shape (G,) under the keys of :data:`FIELDS`, with ``k = a + b``:
        ``support`` ``k / N``, ``support_pos`` ``a / n_pos``, ``support_neg``
        ``b / n_neg``; ``confidence`` ``a / k`` and ``lift`` ``confidence / (n_pos / N)``
        (NaN when ``k = 0``); ``mutual_information`` in bits between having the
        group and the label (table ``a, b, n_pos - a, n_neg - b``, 0 log 0 = 0,
        rounding below 0 clamped); ``p_enriched`` ``P(X >= a)`` and ``p_depleted``
        ``P(X <= a)`` for X ~ Hypergeometric(N, n_pos, k) (one-sided Fisher exact);
        ``p_value`` ``min(1, 2 min(p_enriched, p_depleted))``; ``direction`` (int8)
        the sign of ``a / n_pos - b / n_neg``; ``q_value`` the
        :func:`benjamini_hochberg` adjustment of ``p_value`` over the G groups.

    Raises
    ------
    ValueError
        Shapes differ, a count is negative or above its class total, or a class is empty.
    """
    n_pos, n_neg = operator.index(n_pos), operator.index(n_neg)
    for total, what, name in ((n_pos, "positives", "n_pos"), (n_neg, "negatives", "n_neg")):
        if total <= 0:
            raise ValueError(f"the label has no {what} ({name} = {total}): association "
                             f"with a label needs customers of both classes")
    if n_pos + n_neg > 2**53:  # counts stay exact in float64
        raise ValueError(f"n_pos + n_neg = {n_pos + n_neg} is above 2**53 customers")
    a_int, b_int = _counts(pos, "pos", n_pos), _counts(neg, "neg", n_neg)
    if a_int.shape != b_int.shape:
        raise ValueError(f"pos and neg need a count per group: {a_int.shape} != {b_int.shape}")
    n = n_pos + n_neg
    a, b = a_int.astype(np.float64), b_int.astype(np.float64)
    k = a + b
    confidence = np.divide(a, k, out=np.full_like(a, np.nan), where=k > 0)
    mi = mutual_information(a, b, n_pos, n_neg)
    # Most groups are bought by few customers: the same tables recur, computed once each.
    # (complex numbers sort by real part, then imaginary: exact, both are below 2**53)
    _, first, inverse = np.unique(a + 1j * k, return_index=True, return_inverse=True)
    p_enriched, p_depleted = (p[inverse] for p in _fisher_tails(a[first], k[first], n_pos, n_neg))
    p_value = np.minimum(1.0, 2 * np.minimum(p_enriched, p_depleted))
    # exact: a / n_pos against b / n_neg by cross products, in Python ints if int64 overflows
    wide = object if n_pos * n_neg >= 2**63 else np.int64
    cross = a_int.astype(wide) * n_neg - b_int.astype(wide) * n_pos
    direction = np.sign(cross).astype(np.int8)
    return {
        "support": k / n, "support_pos": a / n_pos, "support_neg": b / n_neg,
        "confidence": confidence, "lift": confidence / (n_pos / n),
        "mutual_information": mi,
        "p_enriched": p_enriched, "p_depleted": p_depleted, "p_value": p_value,
        "direction": direction, "q_value": benjamini_hochberg(p_value),
    }


def benjamini_hochberg(p: object) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (q-values), in the input order.

    Parameters
    ----------
    p : float array (G,)
        p-values in [0, 1].

    Returns
    -------
    numpy.ndarray
        float64 (G,): with ``p_(1) <= ... <= p_(G)`` sorted,
        ``q_(i) = min(1, min over j >= i of p_(j) G / j)``; tied p-values get one q.
    """
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"p must be a 1-D array of p-values, not of shape {arr.shape}")
    bad = ~((arr >= 0) & (arr <= 1))  # NaN too
    if bad.any():
        g = int(np.argmax(bad))
        raise ValueError(f"p[{g}] = {arr[g]} is not a p-value in [0, 1]")
    order = np.argsort(arr, kind="stable")
    scaled = arr[order] * (arr.size / np.arange(1, arr.size + 1))  # G / j >= 1: q >= p exactly
    q = np.empty_like(arr)
    q[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return q


def rank(stats: Mapping[str, np.ndarray], top: int | None = None,
         min_support: float = 0.0) -> np.ndarray:
    """Order of the groups in a ranked proxy table.

    Parameters
    ----------
    stats : mapping of str to array
        :func:`association` output (or the same arrays subset alike); uses
        ``direction``, ``q_value``, ``mutual_information`` and ``support``.
    top : int, optional
        Keep only the first ``top`` groups.
    min_support : float
        Leave out groups with ``support`` below this.

    Returns
    -------
    numpy.ndarray
        int64 positions into the arrays: enriched groups (``direction == 1``)
        first, then the others; within each, ascending ``q_value``, then
        descending ``mutual_information``, then ascending position.
    """
    if top is not None and top < 0:
        raise ValueError(f"top must be None or a count >= 0, not {top}")
    keep = np.flatnonzero(np.asarray(stats["support"]) >= min_support)
    order = np.lexsort((keep, -np.asarray(stats["mutual_information"])[keep],
                        np.asarray(stats["q_value"])[keep],
                        np.asarray(stats["direction"])[keep] != 1))
    return keep[order][:top].astype(np.int64)


def significant(stats: Mapping[str, np.ndarray], alpha: float = 0.05) -> np.ndarray:
    """Groups significant at false-discovery rate ``alpha``.

    Parameters
    ----------
    stats : mapping of str to array
        :func:`association` output; uses ``q_value``.
    alpha : float
        False-discovery rate in [0, 1].

    Returns
    -------
    numpy.ndarray
        bool (G,): ``q_value <= alpha``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be a false-discovery rate in [0, 1], not {alpha}")
    return np.asarray(stats["q_value"]) <= alpha
