"""Plain-Python reference of the customer profiles (kernels.profiles), from its docstring.

Each customer's lines as a list; distinct days through a set (no reliance on
the order of the lines), groups counted in a dict.
"""

from __future__ import annotations

from collections import Counter

NO_DAY = -(2**31)


def customer_profiles(offsets, item, day, item_group, n_groups: int) -> list[dict]:
    """One dict per customer: visits, lines, group_lines (list), first_day, last_day."""
    out = []
    for c in range(len(offsets) - 1):
        rows = range(int(offsets[c]), int(offsets[c + 1]))
        days = [int(day[i]) for i in rows]
        groups = Counter(int(item_group[int(item[i])]) for i in rows)
        out.append({
            "visits": len(set(days)),
            "lines": len(days),
            "group_lines": [groups[g] for g in range(n_groups)],
            "first_day": min(days) if days else NO_DAY,
            "last_day": max(days) if days else NO_DAY,
        })
    return out
