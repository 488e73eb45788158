"""Plain-Python reference for engine.detect.proxystats, written from the definitions.

Per group, with ``a`` positives and ``b`` negatives holding it, ``k = a + b`` and
``N = n_pos + n_neg``: shares as exact :class:`~fractions.Fraction` values, the
one-sided Fisher exact p-values as exact sums of hypergeometric pmf terms
``C(n_pos, x) C(n_neg, k - x) / C(N, k)`` (:func:`math.comb`), the mutual
information cell by cell with :func:`math.log2`, and Benjamini-Hochberg by its
textbook definition, one loop inside another. Slow on purpose: small tables,
or huge totals with ``min(k, N - k)`` small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction


def fisher_tails(a: int, b: int, n_pos: int, n_neg: int) -> tuple[Fraction, Fraction]:
    """``P(X >= a)`` and ``P(X <= a)`` for X ~ Hypergeometric(N, n_pos successes, k draws)."""
    k = a + b
    low, high = max(0, k - n_neg), min(k, n_pos)  # the support of X
    weight = {x: math.comb(n_pos, x) * math.comb(n_neg, k - x) for x in range(low, high + 1)}
    whole = math.comb(n_pos + n_neg, k)
    assert sum(weight.values()) == whole  # Vandermonde: the pmf sums to 1
    enriched = sum(w for x, w in weight.items() if x >= a)
    depleted = sum(w for x, w in weight.items() if x <= a)
    return Fraction(enriched, whole), Fraction(depleted, whole)


def mutual_information(a: int, b: int, n_pos: int, n_neg: int) -> float:
    """Bits shared by "has the group" and the label, from the 2x2 table; 0 log 0 = 0."""
    n = n_pos + n_neg
    k = a + b
    table = {("has", "pos"): a, ("has", "neg"): b,
             ("lacks", "pos"): n_pos - a, ("lacks", "neg"): n_neg - b}
    row = {"has": k, "lacks": n - k}
    col = {"pos": n_pos, "neg": n_neg}
    mi = 0.0
    for (r, c), cell in table.items():
        if cell:
            mi += cell / n * math.log2(cell * n / (row[r] * col[c]))
    return mi


def benjamini_hochberg(p: Sequence[float]) -> list[float]:
    """q_(i) = min(1, min over j >= i of p_(j) G / j), p sorted ascending (ties by position)."""
    g = len(p)
    order = sorted(range(g), key=lambda i: (p[i], i))
    q = [0.0] * g
    for i in range(1, g + 1):
        best = 1.0
        for j in range(i, g + 1):
            best = min(best, p[order[j - 1]] * g / j)
        q[order[i - 1]] = best
    return q


def association(pos: Sequence[int], neg: Sequence[int], n_pos: int, n_neg: int
                ) -> dict[str, list]:
    """Every statistic of every group, as lists under the names of the engine's dict."""
    n = n_pos + n_neg
    out: dict[str, list] = {name: [] for name in (
        "support", "support_pos", "support_neg", "confidence", "lift", "mutual_information",
        "p_enriched", "p_depleted", "p_value", "direction")}
    for a, b in zip(pos, neg, strict=True):
        a, b = int(a), int(b)
        k = a + b
        out["support"].append(float(Fraction(k, n)))
        out["support_pos"].append(float(Fraction(a, n_pos)))
        out["support_neg"].append(float(Fraction(b, n_neg)))
        if k:
            confidence = Fraction(a, k)
            out["confidence"].append(float(confidence))
            out["lift"].append(float(confidence / Fraction(n_pos, n)))
        else:
            out["confidence"].append(math.nan)
            out["lift"].append(math.nan)
        out["mutual_information"].append(mutual_information(a, b, n_pos, n_neg))
        enriched, depleted = fisher_tails(a, b, n_pos, n_neg)
        out["p_enriched"].append(float(enriched))
        out["p_depleted"].append(float(depleted))
        out["p_value"].append(float(min(Fraction(1), 2 * min(enriched, depleted))))
        share_pos, share_neg = Fraction(a, n_pos), Fraction(b, n_neg)
        out["direction"].append((share_pos > share_neg) - (share_pos < share_neg))
    out["q_value"] = benjamini_hochberg(out["p_value"])
    return out


def rank(stats: dict[str, Sequence], top: int | None = None, min_support: float = 0.0
         ) -> list[int]:
    """Groups with support >= min_support: enriched first, then q up, MI down, index up."""
    kept = [i for i in range(len(stats["support"])) if stats["support"][i] >= min_support]
    kept.sort(key=lambda i: (stats["direction"][i] != 1, stats["q_value"][i],
                             -stats["mutual_information"][i], i))
    return kept if top is None else kept[:top]
