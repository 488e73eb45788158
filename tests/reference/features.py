"""Plain reference for the learning features (kernels.features), from its docstring.

Each customer's counted lines (``drop[item] == 0`` and ``day <= ref``) as a
Python list of ``(item, day, quantity)``; windows by the direct comparison
``ref - w < day <= ref``; distinct days through a set; first and last days by
``min`` and ``max`` (no reliance on the order of the lines); a group's lines
gathered by scanning every counted line for its membership. No numba, no
stamps, no buckets, no bitmaps, no prefix sums.

Quantities are summed in float64 in the order of the lines, as the kernel's
docstring documents, so that the float32 values match bit for bit. Python
integers never overflow, so ``ref - day + 1`` is exact here whatever the days.
"""

from __future__ import annotations

import numpy as np

NO_DAY = -(2**31)


def layout(n_windows: int) -> tuple[int, int]:
    """``(n_global, n_stats)``: 4 + W global columns, W + 4 columns per group."""
    return 4 + n_windows, n_windows + 4


def groups_of(item_offsets, item_groups) -> list[set[int]]:
    """The set of groups of each item code."""
    return [{int(g) for g in item_groups[int(item_offsets[i]):int(item_offsets[i + 1])]}
            for i in range(len(item_offsets) - 1)]


def _lines(offsets, item, day, quantity, c) -> list[tuple[int, int, float]]:
    rows = range(int(offsets[c]), int(offsets[c + 1]))
    has_q = quantity is not None and len(quantity) > 0
    return [(int(item[i]), int(day[i]), float(quantity[i]) if has_q else 1.0) for i in rows]


def _counted(lines, r, drop) -> list[tuple[int, int, float]]:
    return [(it, d, q) for it, d, q in lines if drop[it] == 0 and d <= r]


def _f32(x) -> float:
    return float(np.float32(x))


def customer_features(offsets, item, day, quantity, ref, item_offsets, item_groups,
                      n_groups: int, drop, windows) -> list[dict[int, float]]:
    """One dict per customer: column index -> stored value (float32, as a Python float)."""
    member = groups_of(item_offsets, item_groups)
    windows = [int(w) for w in windows]
    n_glob, n_st = layout(len(windows))
    drop = [int(x) for x in drop]
    out = []
    for c in range(len(offsets) - 1):
        r = int(ref[c])
        lines = _counted(_lines(offsets, item, day, quantity, c), r, drop)
        row: dict[int, float] = {}
        if lines:
            days = [d for _, d, _ in lines]
            stats = [len(lines), len(set(days)), r - min(days) + 1, r - max(days) + 1]
            stats += [sum(1 for d in days if r - w < d <= r) for w in windows]
            for k, v in enumerate(stats):
                row[k] = _f32(v)
        for g in range(n_groups):
            mine = [(d, q) for it, d, q in lines if g in member[it]]
            if not mine:
                continue
            days = [d for d, _ in mine]
            total = 0.0
            for _, q in mine:
                total += q
            stats = [sum(1 for d in days if r - w < d <= r) for w in windows]
            stats += [len(mine), total, r - min(days) + 1, r - max(days) + 1]
            for k, v in enumerate(stats):
                row[n_glob + g * n_st + k] = _f32(v)
        out.append(row)
    return out


def group_support(offsets, item, day, ref, item_offsets, item_groups, n_groups: int, label,
                  drop) -> list[list[int]]:
    """``[negatives, positives]``: per group, the distinct customers of that label with a
    counted line of an item in the group."""
    member = groups_of(item_offsets, item_groups)
    drop = [int(x) for x in drop]
    holders: list[list[set[int]]] = [[set() for _ in range(n_groups)] for _ in range(2)]
    for c in range(len(offsets) - 1):
        lab = int(label[c])
        if lab not in (0, 1):
            continue
        for it, _, _ in _counted(_lines(offsets, item, day, None, c), int(ref[c]), drop):
            for g in member[it]:
                holders[lab][g].add(c)
    return [[len(s) for s in holders[lab]] for lab in range(2)]


def first_days(offsets, item, day, item_offsets, item_groups, n_groups: int) -> list[list[int]]:
    """Per customer and group, the smallest day of any line of an item in it, or NO_DAY."""
    member = groups_of(item_offsets, item_groups)
    out = []
    for c in range(len(offsets) - 1):
        days: dict[int, list[int]] = {}
        for it, d, _ in _lines(offsets, item, day, None, c):
            for g in member[it]:
                days.setdefault(g, []).append(d)
        out.append([min(days[g]) if g in days else NO_DAY for g in range(n_groups)])
    return out
