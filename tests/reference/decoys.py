"""Plain-Python reference of the decoy selection (kernels.decoys), from its docstring.

Dicts keyed by the stratum keys and ``sorted()`` candidate lists rebuilt for
every stratum at every level; no dense ids, no single walk over a global order.
"""

from __future__ import annotations

from fractions import Fraction


def allocate(counts, total: int) -> list[int]:
    """Hamilton's method with exact fractions: floor of each quota, then the
    leftover units to the largest fractional parts, lower index first on ties."""
    counts = [int(c) for c in counts]
    s = sum(counts)
    if s == 0:
        if total > 0:
            raise ValueError("nothing to allocate over")
        return [0] * len(counts)
    quotas = [Fraction(total * c, s) for c in counts]
    shares = [q.numerator // q.denominator for q in quotas]
    fractional = [q - f for q, f in zip(quotas, shares, strict=True)]
    ranked = sorted(range(len(counts)), key=lambda i: (-fractional[i], i))
    for i in ranked[:total - sum(shares)]:
        shares[i] += 1
    return shares


def select_stratified(keys, eligible, priority, targets, total: int):
    """(sorted chosen codes, chosen per level, shortfall)."""
    n_levels = len(keys)
    n = len(eligible)
    tset = {int(t) for t in targets}
    per_stratum: dict[int, int] = {}
    for t in tset:
        k = int(keys[0][t])
        per_stratum[k] = per_stratum.get(k, 0) + 1
    strata = sorted(per_stratum)
    shares = allocate([per_stratum[k] for k in strata], total)
    demand = dict(zip(strata, shares, strict=True))
    chosen: set[int] = set()
    matched = []
    for lv in range(n_levels):
        got = 0
        left: dict[int, int] = {}
        for k in sorted(demand):
            want = demand[k]
            pool = sorted((int(priority[i]), i) for i in range(n)
                          if eligible[i] and i not in tset and i not in chosen
                          and int(keys[lv][i]) == k)
            take = [i for _, i in pool[:want]]
            chosen.update(take)
            got += len(take)
            if want > len(take):
                left[k] = want - len(take)
        matched.append(got)
        if lv + 1 < n_levels:
            # a stratum's key one level up: that of any member (a target is one)
            up: dict[int, int] = {}
            for k, d in left.items():
                member = next(i for i in range(n) if int(keys[lv][i]) == k)
                parent = int(keys[lv + 1][member])
                up[parent] = up.get(parent, 0) + d
            demand = up
        else:
            demand = left
    return sorted(chosen), matched, sum(demand.values())
