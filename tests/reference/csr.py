"""Plain reference of the CSR transpose (kernels/csr), from its docstring.

Rows as Python lists, holders collected in sets and sorted at the end; no
counting sort, no chunks, no stamps.
"""

from __future__ import annotations


def rows_of(offsets, values) -> list[list[int]]:
    """The CSR as one list of values per row."""
    return [[int(v) for v in values[offsets[r]:offsets[r + 1]]] for r in range(len(offsets) - 1)]


def invert(offsets, values, n_values: int) -> list[list[int]]:
    """For each value, the ascending distinct rows that hold it."""
    holders: list[set[int]] = [set() for _ in range(n_values)]
    for r, row in enumerate(rows_of(offsets, values)):
        for v in row:
            holders[v].add(r)
    return [sorted(h) for h in holders]


def invert_tagged(offsets, values, tags, n_values: int) -> list[list[tuple[int, int]]]:
    """For each value, its distinct (row, tag) pairs ordered by row, then tag."""
    pairs: list[set[tuple[int, int]]] = [set() for _ in range(n_values)]
    for r in range(len(offsets) - 1):
        for i in range(offsets[r], offsets[r + 1]):
            pairs[int(values[i])].add((r, int(tags[i])))
    return [sorted(p) for p in pairs]
