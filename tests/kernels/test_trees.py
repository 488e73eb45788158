"""Raw scores of a forest over CSR rows (kernels.trees) against tests/reference/trees.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels import trees as kt
from basketguard.kernels.trees import Forest
from tests.reference import trees as naive

BLOCKS = (1, 2, 7, None)
F32 = np.float32
ZERO = float(F32(1e-35))
NAN = math.nan
INF = math.inf


# ------------------------------------------------------------------ builders
def forest_of(n_features: int, trees: list[dict]) -> Forest:
    """A Forest from plain trees: ``split_feature``, ``threshold``, ``decision_type``,
    ``left`` and ``right`` (one entry per internal node) and ``leaf_value``."""
    def cat(key, dtype):
        return np.array([x for t in trees for x in t.get(key, [])], dtype).reshape(-1)

    nodes = np.zeros(len(trees) + 1, np.int64)
    leaves = np.zeros(len(trees) + 1, np.int64)
    np.cumsum([len(t.get("left", [])) for t in trees], out=nodes[1:])
    np.cumsum([len(t["leaf_value"]) for t in trees], out=leaves[1:])
    return Forest(n_features=n_features, node_offsets=nodes, leaf_offsets=leaves,
                  split_feature=cat("split_feature", np.int32),
                  threshold=cat("threshold", np.float64),
                  decision_type=cat("decision_type", np.int8),
                  left_child=cat("left", np.int32), right_child=cat("right", np.int32),
                  leaf_value=cat("leaf_value", np.float64))


def stump(threshold: float, decision_type: int, feature: int = 0, left: float = 1.0,
          right: float = 2.0) -> dict:
    """One split: ``left`` when the row goes left, ``right`` otherwise."""
    return {"split_feature": [feature], "threshold": [threshold],
            "decision_type": [decision_type], "left": [-1], "right": [-2],
            "leaf_value": [left, right]}


def csr_of(rows: list[list[tuple[int, float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, data)`` from rows of ``(column, value)`` in storage order."""
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.array([c for r in rows for c, _ in r], np.int32).reshape(-1)
    data = np.array([v for r in rows for _, v in r], np.float32).reshape(-1)
    return indptr, indices, data


def check(forest: Forest, rows, blocks=BLOCKS) -> list[float]:
    """Same scores as the reference, as the same float64 array for every block count."""
    indptr, indices, data = csr_of(rows) if isinstance(rows, list) else rows
    want = naive.predict_raw(indptr, indices, data, forest)
    first = None
    for nb in blocks:
        got = kt.predict_raw(indptr, indices, data, forest.n_features, forest, n_blocks=nb)
        assert got.dtype == np.float64 and got.shape == (indptr.shape[0] - 1,)
        assert got.tolist() == want, f"n_blocks={nb}"
        if first is None:
            first = got
        np.testing.assert_array_equal(got, first, err_msg=f"n_blocks={nb}")
    return want


# ---------------------------------------------------------------- strategies
#: Thresholds at and around the values below, float64 values that no float32 has
#: (0.1, 1e-35, one ulp either side of 1.0), the double of a float32 (float32(0.1),
#: 1e-35f), beyond the float32 range, infinite and NaN (LightGBM writes no NaN, but the
#: decision is defined for it).
THRESHOLDS = [-2.5, -1.0, -ZERO, 0.0, ZERO, 1e-35, 0.1, float(F32(0.1)), 0.5, 1.0, 1.5, 2.0,
              3.0, 1e30, 1.0000000000000002, 0.9999999999999999, 1e300, -1e300, INF, -INF, NAN]
#: float32 values: signed zeros, NaN, the zero band of missing type Zero and its edges,
#: the thresholds themselves, huge and infinite values.
VALUES = [0.0, -0.0, NAN, 1e-36, -1e-36, ZERO, -ZERO, float(np.nextafter(F32(ZERO), F32(1))),
          float(np.nextafter(F32(-ZERO), F32(-1))), 0.1, 0.5, 1.0, 1.5, 2.0, 3.0, -1.0, -2.5,
          1e30, -1e30, INF, -INF, float(np.finfo(F32).max)]
#: default_left (bit 1) with missing type None, Zero and NaN (bits 2-3).
DECISIONS = [0, 2, 4, 6, 8, 10]
LEAF_VALUES = (st.floats(-1e3, 1e3, allow_nan=False)
               | st.sampled_from([0.1, -0.3, 1e-17, 1e16, -1e16, 0.0]))


@st.composite
def trees(draw, n_features: int, max_leaves: int = 8) -> dict:
    """A tree grown as LightGBM grows one: split a leaf into a new node whose children
    are that leaf and a new one (in either order)."""
    # up to 8 leaves mostly; 31 to 34 leaves either side of the bit-mask limit (32)
    sizes = st.integers(1, max_leaves) | st.integers(31, 34)
    n_leaves = draw(sizes) if n_features else 1
    left: list[int] = []
    right: list[int] = []
    holder: dict[int, tuple[int, int] | None] = {0: None}  # leaf -> (node, side) above it
    for new in range(1, n_leaves):
        old = draw(st.integers(0, new - 1))
        k = len(left)
        swap = draw(st.booleans())
        left.append(~new if swap else ~old)
        right.append(~old if swap else ~new)
        if holder[old] is not None:
            node, side = holder[old]
            (left if side == 0 else right)[node] = k
        holder[old] = (k, 1 if swap else 0)
        holder[new] = (k, 0 if swap else 1)
    m = n_leaves - 1
    return {
        "split_feature": draw(st.lists(st.integers(0, max(n_features - 1, 0)),
                                       min_size=m, max_size=m)),
        "threshold": draw(st.lists(st.sampled_from(THRESHOLDS), min_size=m, max_size=m)),
        "decision_type": draw(st.lists(st.sampled_from(DECISIONS), min_size=m, max_size=m)),
        "left": left, "right": right,
        "leaf_value": draw(st.lists(LEAF_VALUES, min_size=n_leaves, max_size=n_leaves)),
    }


@st.composite
def forests(draw, max_trees: int = 5) -> Forest:
    n_features = draw(st.integers(0, 6))
    return forest_of(n_features, draw(st.lists(trees(n_features), max_size=max_trees)))


@st.composite
def rows_for(draw, n_features: int, max_rows: int = 8) -> list[list[tuple[int, float]]]:
    """Rows of entries in any order, a column possibly repeated, explicit zeros and NaN."""
    if n_features == 0:
        return draw(st.lists(st.just([]), max_size=max_rows))
    entry = st.tuples(st.integers(0, n_features - 1), st.sampled_from(VALUES))
    return draw(st.lists(st.lists(entry, max_size=2 * n_features), max_size=max_rows))


@st.composite
def cases(draw):
    forest = draw(forests())
    return forest, draw(rows_for(forest.n_features))


# --------------------------------------------------------------- property tests
@given(cases())
def test_predict_raw_matches_reference(case):
    forest, rows = case
    check(forest, rows)


@given(cases(), st.integers(2, 40))
def test_many_rows_in_lane_groups(case, copies):
    # more rows than a group of lanes (64): full and partial groups, blocks cut at groups
    forest, rows = case
    check(forest, rows * copies, blocks=(1, 2, 3, None))


@given(cases())
def test_scores_do_not_depend_on_other_rows(case):
    forest, rows = case
    whole = check(forest, rows, blocks=(3,))
    for r, row in enumerate(rows):
        assert check(forest, [row], blocks=(1,)) == [whole[r]]


# ------------------------------------------------------------- named edge cases
TINY_ABOVE = float(np.nextafter(F32(ZERO), F32(1)))
TINY_BELOW = float(np.nextafter(F32(-ZERO), F32(-1)))

#: (name, threshold, decision_type, row, expected): a stump on column 0 giving 1.0
#: to the left and 2.0 to the right. decision_type: 0/2 None, 4/6 Zero, 8/10 NaN,
#: +2 default left.
STUMP_CASES = [
    ("absent column reads 0.0", 0.5, 0, [], 1.0),
    ("absent column reads 0.0, above the threshold", -0.5, 0, [], 2.0),
    ("value equal to the threshold goes left", 2.0, 0, [(0, 2.0)], 1.0),
    ("float32(0.1) is above the double 0.1", 0.1, 0, [(0, 0.1)], 2.0),
    ("float32(0.1) equals its own double", float(F32(0.1)), 0, [(0, 0.1)], 1.0),
    ("1.0 below a threshold one ulp above it", 1.0000000000000002, 0, [(0, 1.0)], 1.0),
    ("1.0 above a threshold one ulp below it", 0.9999999999999999, 0, [(0, 1.0)], 2.0),
    ("largest float32 below a threshold beyond float32", 1e300, 0,
     [(0, float(np.finfo(F32).max))], 1.0),
    ("+inf above a threshold beyond float32", 1e300, 0, [(0, INF)], 2.0),
    ("lowest float32 above a threshold below float32", -1e300, 0,
     [(0, -float(np.finfo(F32).max))], 2.0),
    ("-inf below a threshold below float32", -1e300, 0, [(0, -INF)], 1.0),
    ("+inf at an infinite threshold", INF, 0, [(0, INF)], 1.0),
    ("NaN threshold: values go right", NAN, 0, [(0, -1.0)], 2.0),
    ("NaN threshold: NaN reads 0.0 and goes right", NAN, 2, [(0, NAN)], 2.0),
    ("NaN threshold: missing Zero still takes the default", NAN, 6, [], 1.0),
    ("+inf goes right", 1e30, 0, [(0, INF)], 2.0),
    ("-inf goes left", -1e30, 0, [(0, -INF)], 1.0),
    ("huge float32 goes right of 1e30", 1e30, 0, [(0, float(np.finfo(F32).max))], 2.0),
    ("negative value goes left", -1.0, 0, [(0, -2.5)], 1.0),
    ("NaN, missing None: read as 0.0 (left)", 0.5, 0, [(0, NAN)], 1.0),
    ("NaN, missing None: read as 0.0 (right), default_left ignored", -0.5, 2, [(0, NAN)], 2.0),
    ("NaN, missing NaN, default left", -0.5, 10, [(0, NAN)], 1.0),
    ("NaN, missing NaN, default right", 5.0, 8, [(0, NAN)], 2.0),
    ("zero, missing NaN: compared", -0.5, 10, [(0, 0.0)], 2.0),
    ("absent, missing NaN: compared as 0.0", 0.5, 8, [], 1.0),
    ("explicit zero, missing Zero, default right", 0.5, 4, [(0, 0.0)], 2.0),
    ("absent, missing Zero, default left", -0.5, 6, [], 1.0),
    ("absent, missing Zero, default right", 0.5, 4, [], 2.0),
    ("NaN, missing Zero: read as 0.0, so missing", 0.5, 4, [(0, NAN)], 2.0),
    ("-0.0, missing Zero: missing", 0.5, 4, [(0, -0.0)], 2.0),
    ("1e-36, missing Zero: missing", 0.5, 4, [(0, 1e-36)], 2.0),
    ("+1e-35f, missing Zero: missing (closed band)", 0.5, 4, [(0, ZERO)], 2.0),
    ("-1e-35f, missing Zero: missing (closed band)", -0.5, 6, [(0, -ZERO)], 1.0),
    ("just above 1e-35f, missing Zero: a value", 0.5, 4, [(0, TINY_ABOVE)], 1.0),
    ("just below -1e-35f, missing Zero: a value", -0.5, 6, [(0, TINY_BELOW)], 2.0),
    ("1e-36, missing None: a value", 0.0, 0, [(0, 1e-36)], 2.0),
    ("repeated column: the last value wins (right)", 0.5, 0, [(0, 0.0), (0, 1.0)], 2.0),
    ("repeated column: the last value wins (left)", 0.5, 0, [(0, 1.0), (0, 0.0)], 1.0),
    ("other columns do not matter", 0.5, 0, [(2, 9.0), (1, NAN)], 1.0),
]


@pytest.mark.parametrize(("threshold", "decision_type", "row", "expected"),
                         [c[1:] for c in STUMP_CASES], ids=[c[0] for c in STUMP_CASES])
def test_stump_decisions(threshold, decision_type, row, expected):
    forest = forest_of(3, [stump(threshold, decision_type)])
    assert check(forest, [row]) == [expected]


def test_leaf_values_are_added_in_tree_order_from_zero():
    # ((0 + 1e16) +- 1) - 1e16 is 0.0 in float64 (1e16 +- 1 rounds to 1e16); other orders give +-1
    forest = forest_of(1, [{"leaf_value": [1e16]}, stump(0.5, 0, left=1.0, right=-1.0),
                           {"leaf_value": [-1e16]}])
    assert check(forest, [[], [(0, 1.0)]]) == [0.0, 0.0]


def test_single_leaf_trees_add_their_values():
    forest = forest_of(0, [{"leaf_value": [0.25]}, {"leaf_value": [-1.5]}])
    assert check(forest, [[], []]) == [-1.25, -1.25]


def test_no_trees_score_zero():
    forest = forest_of(2, [])
    assert check(forest, [[(0, 1.0)], []]) == [0.0, 0.0]


def test_no_rows():
    forest = forest_of(2, [stump(0.5, 6)])
    got = kt.predict_raw(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32),
                         2, forest)
    assert got.dtype == np.float64 and got.shape == (0,)


def test_one_row_without_entries():
    forest = forest_of(2, [stump(0.5, 0), stump(-0.5, 0, left=10.0, right=20.0)])
    assert check(forest, [[]]) == [21.0]


def test_deeper_tree_walks_to_each_leaf():
    # root: x0 <= 1 ? node 1 : node 2; node 1: x1 <= 1 ? leaf 0 : leaf 2; node 2: x1 <= 1 ?
    # leaf 1 : leaf 3 (LightGBM numbering: node 2 split leaf 1, node 1 split leaf 0)
    tree = {"split_feature": [0, 1, 1], "threshold": [1.0, 1.0, 1.0], "decision_type": [0, 0, 0],
            "left": [1, -1, -2], "right": [2, -3, -4], "leaf_value": [10.0, 20.0, 30.0, 40.0]}
    forest = forest_of(2, [tree])
    rows = [[], [(1, 2.0)], [(0, 2.0)], [(0, 2.0), (1, 2.0)]]
    assert check(forest, rows) == [10.0, 30.0, 20.0, 40.0]


def test_scipy_int32_indptr_and_unsorted_rows():
    forest = forest_of(3, [stump(0.5, 0, feature=2)])
    indptr = np.array([0, 2, 3], np.int32)
    indices = np.array([2, 0, 1], np.int64)
    data = np.array([1.0, 0.0, 1.0], np.float32)
    got = kt.predict_raw(indptr, indices, data, 3, forest)
    assert got.tolist() == [2.0, 1.0]


@pytest.mark.parametrize("n_leaves", [31, 32, 33, 80])
def test_trees_either_side_of_the_bit_mask_limit(rng, n_leaves):
    # trees of up to 32 leaves are evaluated by bit masks, larger ones walked
    n_features = 5
    left: list[int] = []
    right: list[int] = []
    holder: dict[int, tuple[int, int] | None] = {0: None}
    for new in range(1, n_leaves):  # grown as LightGBM grows trees, at random leaves
        old = int(rng.integers(new))
        k = len(left)
        left.append(~old)
        right.append(~new)
        if holder[old] is not None:
            node, side = holder[old]
            (left if side == 0 else right)[node] = k
        holder[old], holder[new] = (k, 0), (k, 1)
    m = n_leaves - 1
    tree = {"split_feature": rng.integers(0, n_features, m).tolist(),
            "threshold": rng.choice(THRESHOLDS, m).tolist(),
            "decision_type": rng.choice(DECISIONS, m).tolist(), "left": left, "right": right,
            "leaf_value": rng.normal(size=n_leaves).tolist()}
    forest = forest_of(n_features, [tree, stump(0.5, 6), tree])
    n_rows = 150
    rows = [[(int(c), float(rng.choice(VALUES))) for c in rng.integers(0, n_features, 4)]
            for _ in range(n_rows)]
    check(forest, rows, blocks=(1, 3))
    leaves = {naive.tree_value(forest, 0, dict(r)) for r in rows}
    assert len(leaves) > 3  # the rows reach many leaves


@pytest.mark.jit
def test_many_rows_and_blocks(rng):
    n_features = 30
    trees_ = []
    for t in range(40):
        tree = stump(float(rng.integers(0, 5)), int(rng.choice(DECISIONS)),
                     feature=int(rng.integers(n_features)), left=float(rng.normal()),
                     right=float(rng.normal()))
        trees_.append(tree if t % 7 else {"leaf_value": [float(rng.normal())]})
    forest = forest_of(n_features, trees_)
    n_rows = 5_000
    lens = rng.integers(0, 12, n_rows)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(lens, out=indptr[1:])
    indices = rng.integers(0, n_features, int(indptr[-1])).astype(np.int32)
    data = rng.integers(-1, 6, int(indptr[-1])).astype(np.float32)
    data[rng.random(data.shape[0]) < 0.05] = np.nan
    check(forest, (indptr, indices, data), blocks=(1, 2, 7, None, n_rows, 10 * n_rows))


# ------------------------------------------------------------------- errors
def _stump_forest() -> Forest:
    return forest_of(2, [stump(0.5, 0)])


CSR_ERRORS = [
    ("n_features differs from the forest's", dict(n_features=3), ValueError, "trained on 2"),
    ("column outside [0, n_features)", dict(indices=np.array([2], np.int32)), ValueError,
     "indices must lie"),
    ("negative column", dict(indices=np.array([-1], np.int32)), ValueError, "indices must lie"),
    ("float64 data", dict(data=np.array([1.0])), TypeError, "float32"),
    ("indices and data of different lengths", dict(indices=np.array([0, 1], np.int32)),
     ValueError, "same length"),
    ("indptr not ending at nnz", dict(indptr=np.array([0, 2], np.int64)), ValueError, "indptr"),
    ("float indptr", dict(indptr=np.array([0.0, 1.0])), ValueError, "integer"),
    ("not a Forest", dict(forest=tuple(_stump_forest())), TypeError, "Forest"),
]


@pytest.mark.parametrize(("change", "error", "match"), [c[1:] for c in CSR_ERRORS],
                         ids=[c[0] for c in CSR_ERRORS])
def test_predict_raw_rejects(change, error, match):
    args = dict(indptr=np.array([0, 1], np.int64), indices=np.array([1], np.int32),
                data=np.array([1.0], np.float32), n_features=2, forest=_stump_forest())
    args.update(change)
    with pytest.raises(error, match=match):
        kt.predict_raw(**args)


def _two_level() -> dict:
    return {"split_feature": [0, 1], "threshold": [0.5, 0.5], "decision_type": [0, 0],
            "left": [1, -1], "right": [-2, -3], "leaf_value": [1.0, 2.0, 3.0]}


FOREST_ERRORS = [
    ("categorical split", lambda f: f._replace(decision_type=np.array([1, 0], np.int8)),
     "categorical splits are not supported"),
    ("missing type 3", lambda f: f._replace(decision_type=np.array([12, 0], np.int8)),
     "decision_type 12"),
    ("unknown high bit", lambda f: f._replace(decision_type=np.array([16, 0], np.int8)),
     "decision_type 16"),
    ("child pointing back to its parent",
     lambda f: f._replace(left_child=np.array([1, 0], np.int32)), "left_child 0"),
    ("child beyond the tree's nodes",
     lambda f: f._replace(right_child=np.array([2, -3], np.int32)), "right_child 2"),
    ("leaf beyond the tree's leaves",
     lambda f: f._replace(right_child=np.array([-4, -3], np.int32)), "right_child -4"),
    ("leaf reached twice, another never",
     lambda f: f._replace(right_child=np.array([-2, -2], np.int32)), "leaf 1 is the child of 2"),
    ("node without a parent",
     lambda f: f._replace(left_child=np.array([-1, -2], np.int32),
                          right_child=np.array([-3, -1], np.int32)), "node 1 is the child of 0"),
    ("split on a feature outside the forest",
     lambda f: f._replace(split_feature=np.array([0, 2], np.int32)), "split_feature 2"),
    ("one leaf too many", lambda f: f._replace(leaf_value=np.zeros(4),
                                               leaf_offsets=np.array([0, 4], np.int64)),
     "4 leaves and 2 internal nodes"),
    ("threshold of the wrong dtype",
     lambda f: f._replace(threshold=f.threshold.astype(np.float32)), "forest.threshold"),
    ("a list instead of an array",
     lambda f: f._replace(left_child=[1, -1]), "forest.left_child"),
    ("threshold missing for a node", lambda f: f._replace(threshold=np.array([0.5])),
     "one entry per internal node"),
    ("offsets of different lengths",
     lambda f: f._replace(leaf_offsets=np.array([0, 0, 3], np.int64)), "same length"),
    ("negative n_features", lambda f: f._replace(n_features=-1), "n_features"),
]


@pytest.mark.parametrize(("change", "match"), [c[1:] for c in FOREST_ERRORS],
                         ids=[c[0] for c in FOREST_ERRORS])
def test_check_forest_rejects(change, match):
    good = forest_of(2, [_two_level()])
    kt.check_forest(good)
    with pytest.raises(ValueError, match=match):
        kt.check_forest(change(good))


def test_check_forest_names_the_tree():
    bad = _two_level()
    bad["decision_type"] = [0, 1]
    forest = forest_of(2, [stump(0.5, 0), {"leaf_value": [1.0]}, bad])
    with pytest.raises(ValueError, match="tree 2, node 1"):
        kt.check_forest(forest)
