"""LightGBM text models read as a Forest (models.learned.trees) and scored by
kernels.trees.predict_raw: the same raw scores as ``booster.predict(raw_score=True)``,
bit for bit, on random CSR data and on rows built at the models' own thresholds."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
import scipy.sparse as sp

from basketguard.kernels.trees import ZERO_THRESHOLD, predict_raw
from basketguard.models.learned.trees import Forest, forest_from_model_text
from tests.conftest import JIT_DISABLED

F32 = np.float32
# The NUMBA_DISABLE_JIT pass evaluates the trees in plain Python: fewer rows, rounds,
# probed split nodes and block counts there.
N_ROWS = 200 if JIT_DISABLED else 2000
N_FEATURES = 12
MAX_ROUNDS = 6 if JIT_DISABLED else 10**9
MAX_PROBED_NODES = 25 if JIT_DISABLED else 10**9
BLOCKS = (2,) if JIT_DISABLED else (1, 3, None)


# ------------------------------------------------------------------ data
def csr(rows: list[list[tuple[int, float]]], n_features: int) -> sp.csr_matrix:
    """A float32 CSR from rows of ``(column, value)``, explicit zeros kept."""
    indptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.array([c for r in rows for c, _ in r], np.int32).reshape(-1)
    data = np.array([v for r in rows for _, v in r], F32).reshape(-1)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_features))


def random_data(rng: np.random.Generator, n_rows: int, nan: bool):
    """``(X, y)``: ~40 % of the cells stored (mostly small positive integers, some
    halves, negatives, explicit zeros, huge values, and NaN when ``nan``), rows with
    no entry; the label depends on three columns and noise."""
    stored = rng.random((n_rows, N_FEATURES)) < 0.4
    stored[rng.random(n_rows) < 0.05] = False  # rows without entries
    values = rng.integers(1, 30, (n_rows, N_FEATURES)).astype(np.float64)
    kind = rng.random((n_rows, N_FEATURES))
    values[kind < 0.15] *= -1
    values[(kind >= 0.15) & (kind < 0.25)] += 0.5
    values[(kind >= 0.25) & (kind < 0.32)] = 0.0  # explicit zeros
    values[(kind >= 0.32) & (kind < 0.34)] = 1e30
    values[(kind >= 0.34) & (kind < 0.35)] = -1e30
    if nan:
        values[(kind >= 0.35) & (kind < 0.45)] = np.nan
    rows = [[(int(c), float(values[r, c])) for c in np.flatnonzero(stored[r])]
            for r in range(n_rows)]
    X = csr(rows, N_FEATURES)
    dense = np.nan_to_num(np.where(stored, values, 0.0), posinf=0, neginf=0).clip(-40, 40)
    score = dense[:, 0] - 0.5 * dense[:, 1] + (dense[:, 2] > 3) * 8 + rng.normal(0, 4, n_rows)
    return X, (score > np.median(score)).astype(np.int32)


def probe_rows(forest: Forest, rng: np.random.Generator, nan: bool) -> sp.csr_matrix:
    """Rows at the model's thresholds: for each split, its feature at float32(threshold)
    and the float32 just above and below, its negation and an explicit zero, alone and
    mixed into rows of several features; every feature at huge, infinite, tiny and
    signed-zero values (and NaN); a row without entries."""
    singles: list[tuple[int, float]] = []
    nodes = np.arange(forest.split_feature.shape[0])
    if nodes.shape[0] > MAX_PROBED_NODES:
        nodes = rng.choice(nodes, MAX_PROBED_NODES, replace=False)
    for k in nodes:
        f = int(forest.split_feature[k])
        t = F32(forest.threshold[k])
        for v in (t, np.nextafter(t, F32(np.inf)), np.nextafter(t, F32(-np.inf)), -t, F32(0)):
            singles.append((f, float(v)))
    extremes = [1e30, -1e30, np.inf, -np.inf, float(np.finfo(F32).max), -0.0, 1e-36,
                ZERO_THRESHOLD, -ZERO_THRESHOLD] + ([np.nan] if nan else [])
    singles += [(c, float(v)) for c in range(N_FEATURES) for v in extremes]
    rows: list[list[tuple[int, float]]] = [[]] + [[e] for e in singles]
    for _ in range(len(singles)):
        picks = rng.choice(len(singles), 6)
        row = {singles[i][0]: singles[i][1] for i in picks}  # one value per column
        rows.append(sorted(row.items()))
    return csr(rows, N_FEATURES)


def train(X, y, rounds: int, **params) -> lgb.Booster:
    base = dict(objective="binary", deterministic=True, num_threads=1, verbosity=-1,
                min_data_in_leaf=5, seed=7)
    return lgb.train({**base, **params}, lgb.Dataset(X, y),
                     num_boost_round=min(rounds, MAX_ROUNDS))


def assert_same_scores(booster: lgb.Booster, forest: Forest, X: sp.csr_matrix) -> None:
    want = booster.predict(X, raw_score=True, num_threads=1)
    for nb in BLOCKS:
        got = predict_raw(X.indptr, X.indices, X.data, X.shape[1], forest, n_blocks=nb)
        assert got.dtype == np.float64 and got.shape == want.shape
        # bit for bit: the same doubles compared, the same leaf values added in the
        # same order from 0.0 (LightGBM GBDT::PredictRaw)
        assert np.array_equal(got, want), (nb, np.abs(got - want).max())


# ------------------------------------------------------------------ models
MODELS = [
    pytest.param(dict(num_leaves=2, zero_as_missing=True), 1, False, id="stump-1-round"),
    pytest.param(dict(num_leaves=7, zero_as_missing=True), 10, False, id="7-leaves-zero-missing"),
    pytest.param(dict(num_leaves=31, zero_as_missing=True), 50, False,
                 id="31-leaves-50-rounds-zero-missing"),
    pytest.param(dict(num_leaves=15, zero_as_missing=False), 20, True, id="nan-missing"),
    pytest.param(dict(num_leaves=31, zero_as_missing=False), 30, False, id="no-missing-type"),
    pytest.param(dict(num_leaves=4, zero_as_missing=True, min_data_in_leaf=10**6), 5, False,
                 id="single-leaf-trees"),
    pytest.param(dict(num_leaves=9, zero_as_missing=True, max_bin=7, learning_rate=0.3), 15,
                 True, id="few-bins-nan-zero-missing"),
    # 32 leaves: the largest trees evaluated by bit masks; 48: trees walked from the root
    pytest.param(dict(num_leaves=32, zero_as_missing=True, min_data_in_leaf=2), 8, True,
                 id="32-leaves"),
    pytest.param(dict(num_leaves=48, zero_as_missing=False, min_data_in_leaf=2), 8, True,
                 id="48-leaves-walked"),
]


@pytest.mark.parametrize(("params", "rounds", "nan"), MODELS)
def test_scores_equal_lightgbm(rng, params, rounds, nan):
    X, y = random_data(rng, N_ROWS, nan)
    booster = train(X, y, rounds, **params)
    forest = forest_from_model_text(booster.model_to_string())
    assert forest.n_features == N_FEATURES
    assert forest.node_offsets.shape[0] - 1 == booster.num_trees()
    if params.get("min_data_in_leaf") == 10**6:
        assert forest.split_feature.shape[0] == 0 and forest.leaf_value.shape[0] >= 1
    if params["num_leaves"] > 31:
        assert np.diff(forest.leaf_offsets).max() == params["num_leaves"]
    assert_same_scores(booster, forest, X)
    assert_same_scores(booster, forest, probe_rows(forest, rng, nan))


def _float32_thresholds(text: str) -> str:
    """The model text with every threshold rounded to the nearest float32 (LightGBM's
    own thresholds lie between float32 values, so no float32 input can equal them)."""
    def line_of(line: str) -> str:
        if not line.startswith("threshold="):
            return line
        with np.errstate(over="ignore"):
            values = [repr(float(F32(float(v)))) for v in line[len("threshold="):].split()]
        return "threshold=" + " ".join(values)

    # tree_sizes gives each tree's length in bytes, which the edit changes: LightGBM
    # then reads blocks at the wrong places (and aborts); without it, it scans for them
    lines = [line_of(line) for line in text.split("\n") if not line.startswith("tree_sizes=")]
    return "\n".join(lines)


@pytest.mark.parametrize(("zero_as_missing", "nan"), [(True, False), (False, True)],
                         ids=["zero-missing", "nan-missing"])
def test_values_exactly_at_thresholds(rng, zero_as_missing, nan):
    X, y = random_data(rng, N_ROWS, nan)
    text = train(X, y, 20, num_leaves=15, zero_as_missing=zero_as_missing).model_to_string()
    edited = _float32_thresholds(text)
    booster = lgb.Booster(model_str=edited)  # LightGBM itself scores the edited model
    forest = forest_from_model_text(edited)
    assert np.array_equal(forest.threshold, forest.threshold.astype(F32).astype(np.float64))
    probes = probe_rows(forest, rng, nan)
    on = np.isin(probes.data, forest.threshold.astype(F32))
    assert on.sum() > 50  # many probes sit exactly on a threshold
    assert_same_scores(booster, forest, probes)
    assert_same_scores(booster, forest, X)


def test_missing_types_seen(rng):
    # the models above do exercise all three missing types and both default directions
    seen = set()
    for zero_as_missing, nan in ((True, False), (False, True), (False, False)):
        X, y = random_data(rng, N_ROWS, nan)
        booster = train(X, y, 5, num_leaves=15, zero_as_missing=zero_as_missing)
        seen |= set(forest_from_model_text(booster.model_to_string()).decision_type.tolist())
    assert {(d >> 2) & 3 for d in seen} == {0, 1, 2}
    assert {d & 2 for d in seen} == {0, 2}


def test_single_leaf_tree_layout(rng):
    X, y = random_data(rng, 100, False)
    booster = train(X, y, 3, min_data_in_leaf=10**6)
    forest = forest_from_model_text(booster.model_to_string())
    assert forest.node_offsets.tolist() == [0] * (booster.num_trees() + 1)
    assert forest.leaf_offsets.tolist() == list(range(booster.num_trees() + 1))
    assert forest.leaf_value.tolist() == [booster.get_leaf_output(t, 0)
                                          for t in range(booster.num_trees())]


def test_round_trips_through_lightgbm(rng):
    X, y = random_data(rng, N_ROWS, True)
    text = train(X, y, 8, num_leaves=11).model_to_string()
    again = lgb.Booster(model_str=text).model_to_string()
    a, b = forest_from_model_text(text), forest_from_model_text(again)
    c = forest_from_model_text(text.replace("\n", "\r\n"))
    for x, y_, z in zip(a, b, c, strict=True):
        np.testing.assert_array_equal(x, y_)
        np.testing.assert_array_equal(x, z)


# ------------------------------------------------------------------ errors
@pytest.fixture
def small_text(rng) -> str:
    X, y = random_data(rng, 200, False)
    return train(X, y, 3, num_leaves=4).model_to_string()


def test_multiclass_is_refused(rng):
    X, _ = random_data(rng, 200, False)
    y = rng.integers(0, 3, 200)
    text = train(X, y, 2, objective="multiclass", num_class=3).model_to_string()
    with pytest.raises(ValueError, match="num_class=3.*not multiclass"):
        forest_from_model_text(text)


def test_categorical_splits_are_refused(rng):
    n = 400
    cat = rng.integers(0, 6, n).astype(np.float64)
    X = np.column_stack([cat, rng.normal(size=n)])
    y = np.isin(cat, [1, 4]).astype(np.int32)
    data = lgb.Dataset(X, y, categorical_feature=[0])
    booster = lgb.train(dict(objective="binary", verbosity=-1, num_threads=1, min_data_in_leaf=5,
                             min_data_per_group=5, cat_smooth=1.0), data, num_boost_round=2)
    text = booster.model_to_string()
    assert "num_cat=0" not in text.split("Tree=0")[1].split("Tree=1")[0]
    with pytest.raises(ValueError, match="categorical splits are not supported"):
        forest_from_model_text(text)


def test_linear_trees_are_refused(rng):
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + rng.normal(0, 0.5, 300) > 0).astype(np.int32)
    booster = lgb.train(dict(objective="binary", verbosity=-1, num_threads=1, linear_tree=True),
                        lgb.Dataset(X, y), num_boost_round=2)
    with pytest.raises(ValueError, match="linear trees"):
        forest_from_model_text(booster.model_to_string())


def test_random_forest_is_refused(rng):
    X, y = random_data(rng, 300, False)
    text = train(X, y, 2, boosting="rf", bagging_freq=1, bagging_fraction=0.5).model_to_string()
    with pytest.raises(ValueError, match="average_output"):
        forest_from_model_text(text)


def _first_line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(key + "="))


#: (name, edit of a 3-tree, 4-leaf model text, expected message)
TEXT_ERRORS = [
    ("not a model", lambda s: "hello\nworld\n", "first line must be 'tree'"),
    ("empty text", lambda s: "", "first line must be 'tree'"),
    ("cut short", lambda s: s[:s.index("end of trees")], "no 'end of trees'"),
    ("two trees per iteration",
     lambda s: s.replace("num_tree_per_iteration=1", "num_tree_per_iteration=2"),
     "num_tree_per_iteration=2"),
    ("no max_feature_idx", lambda s: s.replace(_first_line(s, "max_feature_idx") + "\n", ""),
     "no max_feature_idx"),
    ("short threshold list",
     lambda s: s.replace(_first_line(s, "threshold"), "threshold=0.5"),
     "Tree=0: threshold has 1 entries, expected 3"),
    ("trees out of order", lambda s: s.replace("Tree=1\n", "Tree=5\n"), "Tree=5 where Tree=1"),
    ("not a number", lambda s: s.replace(_first_line(s, "leaf_value"), "leaf_value=1 2 x 4"),
     "Tree=0: leaf_value must be a list of numbers"),
    ("no num_leaves", lambda s: s.replace("num_leaves=4\n", "", 1), "Tree=0: no num_leaves"),
    ("split feature beyond max_feature_idx",
     lambda s: s.replace(_first_line(s, "split_feature"), "split_feature=12 0 0"),
     "split_feature 12 is outside"),
    ("categorical decision_type bit",
     lambda s: s.replace(_first_line(s, "decision_type"), "decision_type=7 6 6"),
     "Tree=0: categorical splits are not supported"),
    ("missing type 3",
     lambda s: s.replace(_first_line(s, "decision_type"), "decision_type=12 6 6"),
     "decision_type 12"),
    ("num_cat > 0", lambda s: s.replace("num_cat=0", "num_cat=1", 1), "num_cat > 0"),
    ("child loop",
     lambda s: s.replace(_first_line(s, "left_child"), "left_child=0 -2 -3"), "left_child 0"),
    ("tree_sizes disagree",
     lambda s: s.replace(_first_line(s, "tree_sizes"), "tree_sizes=1 2"),
     "tree_sizes lists 2 trees"),
    ("key twice", lambda s: s.replace("num_cat=0\n", "num_cat=0\nnum_cat=0\n", 1),
     "num_cat appears twice"),
]


@pytest.mark.parametrize(("edit", "match"), [c[1:] for c in TEXT_ERRORS],
                         ids=[c[0] for c in TEXT_ERRORS])
def test_malformed_text_is_refused(small_text, edit, match):
    forest_from_model_text(small_text)
    assert _first_line(small_text, "num_leaves") == "num_leaves=4"
    with pytest.raises(ValueError, match=match):
        forest_from_model_text(edit(small_text))


def test_text_must_be_a_string(small_text):
    with pytest.raises(TypeError, match="str"):
        forest_from_model_text(small_text.encode())
