"""Raw scores of a forest of numerical decision trees (LightGBM's) over CSR rows.

Input contract
--------------
- Rows: the CSR ``indptr`` (integers, ``n_rows + 1``, from 0, non-decreasing,
  ending at ``nnz``; int32 is widened to int64), ``indices`` (integers, ``nnz``,
  each in ``[0, n_features)``, stored as int32), ``data`` float32 (``nnz``).
  Within a row the entries may come in any order; a column given twice takes
  the value stored last (as LightGBM's predictor does). A column absent from a
  row has the value 0.0; NaN is a value.
- Forest (:class:`Forest`, checked by :func:`check_forest`): ``T`` trees laid
  end to end. Tree ``t`` owns the internal nodes ``node_offsets[t] ..
  node_offsets[t + 1] - 1`` and the leaves ``leaf_offsets[t] ..
  leaf_offsets[t + 1] - 1``, one leaf more than internal nodes (a tree of one
  leaf has no node). Within a tree, nodes and leaves are numbered from 0; the
  root is node 0; a child ``c >= 0`` is the internal node ``c``, and ``c < 0``
  the leaf ``~c`` (``-c - 1``). Every internal child has a larger number than
  its parent (LightGBM numbers nodes in the order it creates them), and every
  node but the root and every leaf has exactly one parent, so each tree is a
  proper binary tree and every walk ends.
- ``decision_type`` int8 bit flags (LightGBM ``include/LightGBM/tree.h``):
  bit 0 categorical (refused: only numerical splits are evaluated), bit 1
  *default left*, bits 2-3 the *missing type* (0 None, 1 Zero, 2 NaN; 3 is
  refused); no higher bit.

Decision at a node (LightGBM's ``Tree::NumericalDecision``)
-----------------------------------------------------------
``fval`` is the row's value of ``split_feature`` as a float64 (the float32
converted exactly). If ``fval`` is NaN and the missing type is not NaN, ``fval``
becomes 0.0. The walk then goes to the *default* child (left when default
left, else right) if the missing type is Zero and ``-Z <= fval <= Z``, with
``Z = float64(float32(1e-35))`` (LightGBM's ``kZeroThreshold = 1e-35f``), or if
the missing type is NaN and ``fval`` is NaN; otherwise left when
``fval <= threshold`` (float64), else right.

A row's raw score is the sum of the leaf values it reaches, taken in float64 in
tree order starting from 0.0, as LightGBM's ``GBDT::PredictRaw`` adds them: the
result is the same double, not merely close.

Algorithm
---------
The decision is evaluated in float32, exactly: ``data`` is float32, so
``fval <= threshold`` holds exactly when ``data <= low``, with ``low`` the
largest float32 not above the threshold (``-inf`` for a threshold below every
finite float32, the largest finite float32 for one above them all, NaN for NaN);
``Z`` is a float32; and a NaN that reads 0.0 under missing type None goes left exactly when
``0.0 <= threshold``. Each node's decision is thus: a *special* value (NaN, or
under missing type Zero a value in ``[-Z, Z]``) goes to the node's special side
(default side, or for a NaN under missing type None the side of 0.0), any other
value left when ``data <= low``. Twice as many float32 as float64 lanes fit a
vector register.

Rows are cut into contiguous blocks run in ``prange``. A block takes its rows 64
at a time (*lanes*) into its own dense float32 buffer, ``n_features x 64``, so
that the 64 values of one column are contiguous: the rows' entries are written
in, every tree is evaluated for the 64 lanes, and the entries are written back
to zero (256 bytes of scratch per feature per running block).

- A tree of at most 32 leaves is evaluated by bit masks (QuickScorer, Lucchese
  et al., SIGIR 2015): its leaves are numbered left to right (in order), a
  node's left subtree holds a contiguous range of them, and each node that
  sends a row right clears that range from the row's 32-bit mask; the leaf the
  row reaches is the lowest bit left. Every node is evaluated for every lane
  without a data-dependent branch, which vectorizes; a walk from the root
  instead stalls on each node's load and mispredicted branch (measured 5x
  slower, in float64, on 200 trees of LightGBM's default 31 leaves).
- A larger tree is walked from the root, one lane at a time.

Each lane adds its trees' leaf values in tree order. A row's score is written by
its block only, from its own entries only, so the result does not depend on the
number of blocks or threads.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from basketguard.kernels.checks import check_offsets

__all__ = ["DEFAULT_LEFT", "MISSING_NAN", "MISSING_NONE", "MISSING_ZERO", "ZERO_THRESHOLD",
           "Forest", "check_forest", "predict_raw"]

#: ``decision_type`` bit 0: a categorical split (not supported).
_CATEGORICAL = 1
#: ``decision_type`` bit 1: missing values go to the left child.
DEFAULT_LEFT = 2
#: Missing types, ``(decision_type >> 2) & 3``.
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
#: LightGBM's ``kZeroThreshold`` (``1e-35f``) as the double it compares against.
ZERO_THRESHOLD = float(np.float32(1e-35))


class Forest(NamedTuple):
    """Trees laid end to end, as :func:`predict_raw` reads them (module docstring).

    ``n_trees = len(node_offsets) - 1``; ``N = node_offsets[-1]`` internal nodes,
    ``L = leaf_offsets[-1]`` leaves; child numbers are local to their tree.
    """

    n_features: int  #: columns the trees may split on (LightGBM ``max_feature_idx + 1``)
    node_offsets: np.ndarray  #: int64 (T + 1,), each tree's first internal node
    leaf_offsets: np.ndarray  #: int64 (T + 1,), each tree's first leaf
    split_feature: np.ndarray  #: int32 (N,), in ``[0, n_features)``
    threshold: np.ndarray  #: float64 (N,), go left when ``fval <= threshold``
    decision_type: np.ndarray  #: int8 (N,), bit flags (module docstring)
    left_child: np.ndarray  #: int32 (N,), ``>= 0`` internal node, ``< 0`` leaf ``~c``
    right_child: np.ndarray  #: int32 (N,)
    leaf_value: np.ndarray  #: float64 (L,)


_DTYPES = (None, np.int64, np.int64, np.int32, np.float64, np.int8, np.int32, np.int32,
           np.float64)


class _Tables(NamedTuple):
    """What the kernel reads of a forest (:func:`_tables`): per node the feature, the
    float32 ``low`` bound and the special side (module docstring, Algorithm), the
    children, the bits its right turn clears; per in-order leaf position the leaf."""

    node_offsets: np.ndarray  # int64 (T + 1,)
    leaf_offsets: np.ndarray  # int64 (T + 1,)
    feature: np.ndarray  # int32 (N,)
    low: np.ndarray  # float32 (N,), the largest float32 <= threshold
    special_left: np.ndarray  # bool (N,), where a special value goes
    zero_missing: np.ndarray  # bool (N,), missing type Zero: [-Z, Z] is special
    left_child: np.ndarray  # int32 (N,)
    right_child: np.ndarray  # int32 (N,)
    clear: np.ndarray  # uint32 (N,), all bits but the node's left subtree's leaves
    leaf_at: np.ndarray  # int32 (L,), the leaf at each in-order position
    leaf_value: np.ndarray  # float64 (L,)


#: Rows evaluated together by a block (the lanes of its buffer).
_LANES = 64
#: Trees of at most this many leaves are evaluated by bit masks.
_MASK_LEAVES = 32
_ALL = np.uint32(0xFFFFFFFF)
_Z32 = np.float32(ZERO_THRESHOLD)
#: Bit positions of the de Bruijn sequence 0x077CB531 (see :func:`_low_bit`).
_DEBRUIJN = np.array([0, 1, 28, 2, 29, 14, 24, 3, 30, 22, 20, 15, 25, 17, 4, 8,
                      31, 27, 13, 23, 21, 19, 16, 7, 26, 12, 18, 6, 11, 5, 10, 9], np.int64)


# ----------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _leaf_bits(node_offsets, left_child, right_child, leaf_offsets, clear, leaf_at):
    """In-order leaf positions of each tree of at most 32 leaves into ``leaf_at``, and
    into ``clear`` each node's mask without its left subtree's positions. Children have
    larger numbers than their parents: leaf counts go bottom-up, positions top-down."""
    n_max = 1
    for t in range(node_offsets.shape[0] - 1):
        n_max = max(n_max, node_offsets[t + 1] - node_offsets[t])
    below = np.zeros(n_max, np.int64)
    first = np.zeros(n_max, np.int64)
    for t in range(node_offsets.shape[0] - 1):
        nb = node_offsets[t]
        lb = leaf_offsets[t]
        n = node_offsets[t + 1] - nb
        if n + 1 > _MASK_LEAVES:
            continue
        leaf_at[lb] = 0  # a tree of one leaf
        for k in range(n - 1, -1, -1):
            lc = left_child[nb + k]
            rc = right_child[nb + k]
            below[k] = (1 if lc < 0 else below[lc]) + (1 if rc < 0 else below[rc])
        for k in range(n):  # first[0] stays 0: the root's leaves start the order
            lc = left_child[nb + k]
            rc = right_child[nb + k]
            n_left = 1 if lc < 0 else below[lc]
            p = first[k]
            if lc < 0:
                leaf_at[lb + p] = ~lc
            else:
                first[lc] = p
            if rc < 0:
                leaf_at[lb + p + n_left] = ~rc
            else:
                first[rc] = p + n_left
            clear[nb + k] = np.uint32(0xFFFFFFFF ^ (((1 << n_left) - 1) << p))


@njit(cache=True, nogil=True)
def _goes_left(v, low, special_left, zero_missing):
    """LightGBM's numerical decision on the float32 ``v`` (module docstring, Algorithm)."""
    special = (v != v) | (zero_missing & (v >= -_Z32) & (v <= _Z32))
    return (special & special_left) | ((not special) & (v <= low))


@njit(cache=True, nogil=True)
def _low_bit(v):
    """Index of the lowest set bit of ``v`` (``0 < v < 2**32``; a de Bruijn multiply
    whose product stays below 2**59)."""
    b = np.int64(v & (~v + np.uint32(1)))
    return _DEBRUIJN[((b * 0x077CB531) & 0xFFFFFFFF) >> 27]


@njit(cache=True, nogil=True)
def _predict_block(r_lo, r_hi, indptr, indices, data, n_features, tab, out):
    """Raw scores of rows ``r_lo .. r_hi - 1`` into ``out``, 64 lanes at a time."""
    buf = np.zeros((n_features, _LANES), np.float32)
    masks = np.empty(_LANES, np.uint32)
    sums = np.empty(_LANES, np.float64)
    n_trees = tab.node_offsets.shape[0] - 1
    feature, low, special_left, zero_missing = (tab.feature, tab.low, tab.special_left,
                                                tab.zero_missing)
    for g in range(r_lo, r_hi, _LANES):
        m = min(_LANES, r_hi - g)
        for j in range(m):
            for i in range(indptr[g + j], indptr[g + j + 1]):
                buf[indices[i], j] = data[i]
            sums[j] = 0.0
        for t in range(n_trees):
            nb = tab.node_offsets[t]
            ne = tab.node_offsets[t + 1]
            lb = tab.leaf_offsets[t]
            if ne - nb < _MASK_LEAVES:
                for j in range(_LANES):
                    masks[j] = _ALL
                for k in range(nb, ne):
                    col = buf[feature[k]]
                    lo_k, sl_k, zm_k, cl_k = low[k], special_left[k], zero_missing[k], tab.clear[k]
                    for j in range(_LANES):  # every lane, so that the loop vectorizes
                        masks[j] &= _ALL if _goes_left(col[j], lo_k, sl_k, zm_k) else cl_k
                for j in range(m):
                    sums[j] += tab.leaf_value[lb + tab.leaf_at[lb + _low_bit(masks[j])]]
            else:
                for j in range(m):
                    node = np.int64(0)
                    while node >= 0:
                        k = nb + node
                        if _goes_left(buf[feature[k], j], low[k], special_left[k],
                                      zero_missing[k]):
                            node = np.int64(tab.left_child[k])
                        else:
                            node = np.int64(tab.right_child[k])
                    sums[j] += tab.leaf_value[lb + ~node]
        for j in range(m):
            out[g + j] = sums[j]
            for i in range(indptr[g + j], indptr[g + j + 1]):
                buf[indices[i], j] = 0.0


@njit(cache=True, nogil=True, parallel=True)
def _predict(bounds, indptr, indices, data, n_features, tab, out):
    """Row blocks in parallel, each writing its own rows of ``out``."""
    for b in prange(bounds.shape[0] - 1):
        _predict_block(bounds[b], bounds[b + 1], indptr, indices, data, n_features, tab, out)


def _tables(f: Forest) -> _Tables:
    """The kernel's view of a checked forest (module docstring, Algorithm)."""
    with np.errstate(over="ignore"):  # a threshold beyond the float32 range: +-inf, then
        low = f.threshold.astype(np.float32)
    above = low.astype(np.float64) > f.threshold  # rounded up: one float32 down
    low[above] = np.nextafter(low[above], np.float32(-np.inf))
    missing = (f.decision_type >> 2) & 3
    default_left = (f.decision_type & DEFAULT_LEFT) != 0
    special_left = np.where(missing == MISSING_NONE, 0.0 <= f.threshold, default_left)
    clear = np.full(f.split_feature.shape[0], _ALL, np.uint32)
    leaf_at = np.zeros(f.leaf_value.shape[0], np.int32)
    _leaf_bits(f.node_offsets, f.left_child, f.right_child, f.leaf_offsets, clear, leaf_at)
    return _Tables(f.node_offsets, f.leaf_offsets, f.split_feature, low, special_left,
                   missing == MISSING_ZERO, f.left_child, f.right_child, clear, leaf_at,
                   f.leaf_value)


# ----------------------------------------------------------------------- checks
def _first(bad: np.ndarray) -> int:
    return int(np.flatnonzero(bad)[0])


def check_forest(forest: Forest) -> Forest:
    """``forest`` checked against the module's contract, its arrays C-contiguous.

    Parameters
    ----------
    forest : Forest
        Arrays of the exact dtypes of :class:`Forest` (no conversion is made).

    Returns
    -------
    Forest
        The same trees, ``n_features`` a Python int.

    Raises
    ------
    TypeError
        ``forest`` is not a :class:`Forest`.
    ValueError
        A field of the wrong dtype, dimension or length (named), offsets that are
        not CSR offsets, a split on a feature outside ``[0, n_features)``, a
        categorical or unknown ``decision_type``, or trees that are not proper
        binary trees in LightGBM's node order (the message names the tree and node).
    """
    if not isinstance(forest, Forest):
        raise TypeError(f"forest must be a Forest, not {type(forest).__name__}")
    n_features = operator.index(forest.n_features)
    if n_features < 0:
        raise ValueError(f"forest.n_features must be >= 0, got {n_features}")
    arrays = []
    for name, arr, dtype in zip(Forest._fields[1:], forest[1:], _DTYPES[1:], strict=True):
        if not isinstance(arr, np.ndarray) or arr.ndim != 1 or arr.dtype != dtype:
            got = (f"a {arr.ndim}-D {arr.dtype} array" if isinstance(arr, np.ndarray)
                   else type(arr).__name__)
            raise ValueError(f"forest.{name}: expected a 1-D {np.dtype(dtype)} array, got {got}")
        arrays.append(np.ascontiguousarray(arr))
    f = Forest(n_features, *arrays)
    n_nodes, n_leaves = f.split_feature.shape[0], f.leaf_value.shape[0]
    for name in ("threshold", "decision_type", "left_child", "right_child"):
        if getattr(f, name).shape[0] != n_nodes:
            raise ValueError(f"forest.{name} must have one entry per internal node "
                             f"({n_nodes}, the length of split_feature)")
    check_offsets(f.node_offsets, n_nodes, "forest.node_offsets")
    check_offsets(f.leaf_offsets, n_leaves, "forest.leaf_offsets")
    if f.leaf_offsets.shape[0] != f.node_offsets.shape[0]:
        raise ValueError("forest.node_offsets and forest.leaf_offsets must have the same "
                         "length (n_trees + 1)")
    tree_nodes = np.diff(f.node_offsets)
    tree_leaves = np.diff(f.leaf_offsets)
    bad = tree_leaves != tree_nodes + 1
    if bad.any():
        t = _first(bad)
        raise ValueError(f"forest: tree {t} has {tree_leaves[t]} leaves and {tree_nodes[t]} "
                         "internal nodes; a tree has one leaf more than internal nodes")
    tree = np.repeat(np.arange(tree_nodes.shape[0]), tree_nodes)
    local = np.arange(n_nodes) - f.node_offsets[tree]

    def where(k: int) -> str:
        return f"forest: tree {tree[k]}, node {local[k]}"

    bad = (f.split_feature < 0) | (f.split_feature >= n_features)
    if bad.any():
        k = _first(bad)
        raise ValueError(f"{where(k)}: split_feature {f.split_feature[k]} is outside "
                         f"[0, {n_features}) (n_features)")
    dt = f.decision_type
    bad = (dt & _CATEGORICAL) != 0
    if bad.any():
        raise ValueError(f"{where(_first(bad))}: categorical splits are not supported "
                         "(decision_type bit 0); train with numerical features only")
    bad = (dt < 0) | (dt > 15) | (((dt >> 2) & 3) == 3)
    if bad.any():
        k = _first(bad)
        raise ValueError(f"{where(k)}: decision_type {dt[k]} is not a known combination of "
                         "default_left (bit 1) and missing type 0, 1 or 2 (bits 2-3)")
    parents = np.zeros(n_nodes, np.int64)
    leaf_parents = np.zeros(n_leaves, np.int64)
    for side, child in (("left", f.left_child), ("right", f.right_child)):
        inner = child >= 0
        bad = (inner & ((child <= local) | (child >= tree_nodes[tree]))
               | ~inner & (~child >= tree_leaves[tree]))
        if bad.any():
            k = _first(bad)
            raise ValueError(f"{where(k)}: {side}_child {child[k]} is neither a later node of "
                             f"the tree (< {tree_nodes[tree[k]]}) nor one of its "
                             f"{tree_leaves[tree[k]]} leaves (~leaf)")
        np.add.at(parents, (f.node_offsets[tree] + child)[inner], 1)
        np.add.at(leaf_parents, (f.leaf_offsets[tree] + ~child)[~inner], 1)
    root = np.zeros(n_nodes, bool)
    root[f.node_offsets[:-1][tree_nodes > 0]] = True
    bad = parents != np.where(root, 0, 1)
    if bad.any():
        k = _first(bad)
        raise ValueError(f"{where(k)} is the child of {parents[k]} nodes; every node but the "
                         "root must have exactly one parent")
    lonely = np.repeat(tree_nodes == 0, tree_leaves)  # the leaf of a one-leaf tree
    bad = leaf_parents != np.where(lonely, 0, 1)
    if bad.any():
        j = _first(bad)
        t = int(np.searchsorted(f.leaf_offsets, j, side="right")) - 1
        raise ValueError(f"forest: tree {t}, leaf {j - f.leaf_offsets[t]} is the child of "
                         f"{leaf_parents[j]} nodes; every leaf of a tree with nodes must have "
                         "exactly one parent")
    return f


def _index_array(a, name: str, dtype) -> np.ndarray:
    """``a`` as a contiguous 1-d array of ``dtype``, from any integer array."""
    a = np.asarray(a)
    if a.ndim != 1 or (a.dtype.kind not in "iu" and a.size):
        raise ValueError(f"{name} must be a 1-d integer array, got a {a.ndim}-D {a.dtype} array")
    return np.ascontiguousarray(a, dtype)


def predict_raw(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n_features: int,
                forest: Forest, n_blocks: int | None = None) -> np.ndarray:
    """Raw score (the sum of the leaf values reached) of every CSR row.

    Parameters
    ----------
    indptr : numpy.ndarray
        Integer row offsets, ``n_rows + 1`` (module docstring); int32 is widened.
    indices : numpy.ndarray
        Integer column of each entry, in ``[0, n_features)``.
    data : numpy.ndarray
        float32 value of each entry (explicit zeros and NaN allowed).
    n_features : int
        Number of columns of the matrix; must equal ``forest.n_features``, as
        LightGBM's prediction checks the shape of its input.
    forest : Forest
        The trees (:func:`check_forest`).
    n_blocks : int, optional
        Number of row blocks run in parallel (default: 8 per Numba thread). The
        result does not depend on it.

    Returns
    -------
    numpy.ndarray
        float64 (n_rows,): equal, bit for bit, to LightGBM's
        ``predict(X, raw_score=True)`` of the model the forest was read from.

    Raises
    ------
    TypeError
        ``data`` is not a float32 array; ``forest`` is not a :class:`Forest`.
    ValueError
        A CSR that is not one (lengths, offsets), a column outside
        ``[0, n_features)``, ``n_features`` different from the forest's, a
        forest that breaks the contract (:func:`check_forest`).
    """
    f = check_forest(forest)
    n_features = operator.index(n_features)
    if n_features != f.n_features:
        raise ValueError(f"the matrix has {n_features} columns but the forest was trained on "
                         f"{f.n_features}")
    if not isinstance(data, np.ndarray) or data.ndim != 1 or data.dtype != np.float32:
        got = (f"a {data.ndim}-D {data.dtype} array" if isinstance(data, np.ndarray)
               else type(data).__name__)
        # float64 values would have to be rounded to float32 first: another model input
        raise TypeError(f"data must be a 1-D float32 array, got {got}")
    data = np.ascontiguousarray(data)
    indices = np.asarray(indices)
    if indices.shape != data.shape:
        raise ValueError(f"indices and data must have the same length, got {indices.shape} "
                         f"and {data.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= n_features):
        raise ValueError(f"indices must lie in [0, {n_features}) (n_features)")
    indices = _index_array(indices, "indices", np.int32)  # in range: the cast is exact
    indptr = _index_array(indptr, "indptr", np.int64)
    check_offsets(indptr, data.shape[0], "indptr")
    n_rows = indptr.shape[0] - 1
    out = np.zeros(n_rows, np.float64)
    if n_rows == 0:
        return out
    if n_blocks is None:
        n_blocks = 8 * numba.get_num_threads()
    n_blocks = min(max(operator.index(n_blocks), 1), n_rows)
    # block boundaries on whole groups of lanes where there are enough rows
    cuts = np.linspace(0, n_rows, n_blocks + 1)
    if n_rows >= n_blocks * _LANES:
        cuts = np.round(cuts / _LANES) * _LANES
    bounds = np.unique(np.clip(cuts.astype(np.int64), 0, n_rows))
    bounds[-1] = n_rows
    _predict(bounds, indptr, indices, data, np.int64(n_features), _tables(f), out)
    return out
