"""Plain-Python references for attribute classes (kernels.classes, engine.classes).

Dicts of tuples and loops only; the fast code is compared with these exactly
(floats with a relative tolerance where sums are reordered).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence


def tuples(columns: Sequence[Sequence[int]], n: int) -> list[tuple]:
    """Each record's tuple of codes (``n`` records; ``()`` when no columns)."""
    return [tuple(int(col[i]) for col in columns) for i in range(n)]


def classify(columns: Sequence[Sequence[int]], n: int) -> tuple[list[int], list[int], list[tuple]]:
    """Class id per record (ids in lexicographic order of tuples), sizes, tuples."""
    recs = tuples(columns, n)
    distinct = sorted(set(recs))
    index = {t: j for j, t in enumerate(distinct)}
    counts = Counter(recs)
    return [index[t] for t in recs], [counts[t] for t in distinct], distinct


def size_histogram(sizes: Sequence[int]) -> tuple[list[int], list[int]]:
    c = Counter(int(s) for s in sizes if s > 0)
    values = sorted(c)
    return values, [c[v] for v in values]


def diversity(class_of: Sequence[int], n_classes: int, sensitive: Sequence[int]):
    """Distinct l and entropy l per class."""
    per: dict[int, Counter] = defaultdict(Counter)
    for c, s in zip(class_of, sensitive, strict=True):
        per[int(c)][int(s)] += 1
    distinct, entropy = [], []
    for c in range(n_classes):
        cnt = per.get(c, Counter())
        total = sum(cnt.values())
        distinct.append(len(cnt))
        h = -sum(v / total * math.log(v / total) for v in cnt.values()) if total else 0.0
        entropy.append(math.exp(h) if total else 0.0)
    return distinct, entropy


def risk_measures(member_class_sizes: Sequence[int], k: int) -> dict:
    """ARX-style measures from the class size ``k_i`` of each record i.

    prosecutor = max 1/k_i; average = mean over records of 1/k_i; small =
    share of records with k_i < k; uniques = share with k_i == 1.
    """
    n = len(member_class_sizes)
    if n == 0:
        return {"prosecutor": math.nan, "average": math.nan, "small_share": math.nan,
                "unique_share": math.nan, "min_k": 0}
    inv = [1.0 / s for s in member_class_sizes]
    return {
        "prosecutor": max(inv),
        "average": sum(inv) / n,
        "small_share": sum(1 for s in member_class_sizes if s < k) / n,
        "unique_share": sum(1 for s in member_class_sizes if s == 1) / n,
        "min_k": min(member_class_sizes),
    }


def kmap(population: list[tuple], members: Sequence[int]) -> tuple[list[int], list[int]]:
    """For each member (index into ``population``): class size within the
    members and within the whole population."""
    pop = Counter(population)
    seg = Counter(population[i] for i in members)
    return [seg[population[i]] for i in members], [pop[population[i]] for i in members]
