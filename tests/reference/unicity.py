"""Plain-Python references for the unicity kernels (kernels/invindex, kernels/unicity).

Dates with :mod:`datetime`, point sets with ``set``, holders with ``dict``, the
uniqueness test as "no other customer's set is a superset". The draws use the
same splitmix64 stream as the kernel (``tests.reference.rng``), so results can
be compared exactly.
"""

from __future__ import annotations

import datetime as dt

from tests.reference.rng import customer_key, draw

EPOCH = dt.date(1970, 1, 1)


def bucket(day: int, unit: int) -> int:
    """Time bucket of a day number: none, day, Monday-Sunday week, calendar month."""
    if unit == 0:
        return 0
    if unit == 1:
        return day
    if unit == 2:
        monday = EPOCH + dt.timedelta(days=day) - dt.timedelta(
            days=(EPOCH + dt.timedelta(days=day)).weekday())
        return (monday - dt.date(1970, 1, 5)).days // 7 + 1
    date = EPOCH + dt.timedelta(days=day)
    return (date.year - 1970) * 12 + date.month - 1


def bucket_range(days, unit: int) -> tuple[int, int]:
    if unit == 0 or not len(days):
        return 0, 1
    bs = [bucket(int(d), unit) for d in days]
    return min(bs), max(bs) - min(bs) + 1


def point_sets(offsets, hi, day, unit: int) -> tuple[list[set[int]], int, int]:
    """Each customer's set of point keys, plus ``(bucket_min, n_buckets)``."""
    bmin, nb = bucket_range(day, unit)
    sets = []
    for c in range(len(offsets) - 1):
        sets.append({int(hi[i]) * nb + bucket(int(day[i]), unit) - bmin
                     for i in range(int(offsets[c]), int(offsets[c + 1]))})
    return sets, bmin, nb


def index(sets: list[set[int]]) -> dict[int, list[int]]:
    """Point key -> ascending customers holding it."""
    inv: dict[int, list[int]] = {}
    for c, s in enumerate(sets):
        for k in s:
            inv.setdefault(k, []).append(c)
    return dict(sorted(inv.items()))


def draw_order(seed: int, member: int, n: int, p: int, d: int) -> list[int]:
    """Positions (into the member's ascending keys) of the first ``p`` points of draw ``d``."""
    key = customer_key(seed, member)
    perm = list(range(n))
    for j in range(p):
        h = draw(key, d, j)
        r = j + (((h >> 32) * (n - j)) >> 32)
        perm[j], perm[r] = perm[r], perm[j]
    return perm[:p]


def unique(sets: list[set[int]], me: int, known: list[int]) -> bool:
    """No customer other than ``me`` holds every known point."""
    k = set(known)
    return not any(k <= s for c, s in enumerate(sets) if c != me)


def smallest(sets, members, p_max: int, draws: int, seed: int) -> list[list[int]]:
    """Smallest p unique per (member, draw) by trying p = 1, 2, ... (0: never)."""
    out = []
    for m in members:
        keys = sorted(sets[m])
        big_p = min(len(keys), p_max)
        row = []
        for d in range(draws):
            if big_p == 0:
                row.append(0)
                continue
            known = [keys[i] for i in draw_order(seed, int(m), len(keys), big_p, d)]
            row.append(next((p for p in range(1, big_p + 1) if unique(sets, m, known[:p])), 0))
        out.append(row)
    return out


def counts(n_points, rows, p_max: int) -> dict[str, list[int]]:
    """Per-p eligible members, unique draws and squared unique draws; median smallest p."""
    out = {"eligible": [0] * p_max, "unique": [0] * p_max, "unique_sq": [0] * p_max,
           "p_unique": [0] * (p_max + 1)}
    for n, row in zip(n_points, rows, strict=True):
        if n == 0:
            continue
        at = 0
        for p in range(1, min(n, p_max) + 1):
            u = sum(1 for s in row if s and s <= p)
            out["eligible"][p - 1] += 1
            out["unique"][p - 1] += u
            out["unique_sq"][p - 1] += u * u
            if not at and row and 2 * u >= len(row):
                at = p
        out["p_unique"][at] += 1
    return out
