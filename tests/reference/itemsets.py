"""Plain references for k^m-anonymity (kernels.itemsets, engine.kmanonymity).

Brute force: every combination of every transaction's distinct items counted
in a :class:`collections.Counter`; no numba, no inverted index, no keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations


def supports(transactions: Sequence[Sequence[int]], size: int) -> Counter:
    """Support of every occurring itemset of ``size`` items (sorted tuples)."""
    out: Counter = Counter()
    for t in transactions:
        out.update(combinations(sorted(set(t)), size))
    return out


def violations(transactions: Sequence[Sequence[int]], k: int, size: int) -> dict:
    """Itemsets of ``size`` with 0 < support < k, who is involved, who is affected."""
    sup = supports(transactions, size)
    bad = {s: c for s, c in sup.items() if c < k}
    involvement: Counter = Counter()
    for s in bad:
        involvement.update(s)
    affected = [any(s in bad for s in combinations(sorted(set(t)), size))
                for t in transactions]
    return {"itemsets": bad, "involvement": dict(involvement), "affected": affected}


def km_anonymity(transactions: Sequence[Sequence[int]], k: int, m: int) -> dict:
    """Violations of sizes 1..m: counts per size, affected transactions, involvement."""
    by_size, involvement = [], Counter()
    affected = [False] * len(transactions)
    for size in range(1, m + 1):
        v = violations(transactions, k, size)
        by_size.append(len(v["itemsets"]))
        involvement.update(v["involvement"])
        affected = [a or b for a, b in zip(affected, v["affected"], strict=True)]
    return {"by_size": by_size, "affected": sum(affected), "involvement": dict(involvement)}


def normalize(transactions: Sequence[Sequence[int]]) -> list[list[int]]:
    """Each transaction's distinct items, ascending."""
    return [sorted(set(t)) for t in transactions]
