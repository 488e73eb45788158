"""Plain reference for the forest's raw scores (kernels.trees), from its docstring.

Each row becomes a Python dict ``column -> float`` (entries in storage order, so
a repeated column keeps its last value; an absent column reads 0.0); each tree
is walked from its root with the decision written out as the docstring states
it, on Python floats (IEEE doubles), and the leaf values are added in tree order
from 0.0. No numba, no dense buffer, no row blocks.
"""

from __future__ import annotations

import math

import numpy as np

#: LightGBM's kZeroThreshold, 1e-35f, as a double.
ZERO = float(np.float32(1e-35))


def _goes_left(fval: float, threshold: float, decision_type: int) -> bool:
    default_left = bool(decision_type & 2)
    missing = (decision_type >> 2) & 3
    if math.isnan(fval) and missing != 2:
        fval = 0.0
    if missing == 1 and -ZERO <= fval <= ZERO:
        return default_left
    if missing == 2 and math.isnan(fval):
        return default_left
    return fval <= threshold


def tree_value(forest, t: int, row: dict[int, float]) -> float:
    """The leaf value tree ``t`` of ``forest`` gives ``row``."""
    first_node = int(forest.node_offsets[t])
    first_leaf = int(forest.leaf_offsets[t])
    if int(forest.node_offsets[t + 1]) == first_node:
        return float(forest.leaf_value[first_leaf])
    node = 0
    while node >= 0:
        k = first_node + node
        fval = row.get(int(forest.split_feature[k]), 0.0)
        if _goes_left(fval, float(forest.threshold[k]), int(forest.decision_type[k])):
            node = int(forest.left_child[k])
        else:
            node = int(forest.right_child[k])
    return float(forest.leaf_value[first_leaf - node - 1])


def predict_raw(indptr, indices, data, forest) -> list[float]:
    """One raw score per row: the sum of its trees' leaf values, in tree order."""
    out = []
    for r in range(len(indptr) - 1):
        row: dict[int, float] = {}
        for i in range(int(indptr[r]), int(indptr[r + 1])):
            row[int(indices[i])] = float(data[i])
        total = 0.0
        for t in range(len(forest.node_offsets) - 1):
            total += tree_value(forest, t, row)
        out.append(total)
    return out
