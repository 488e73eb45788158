"""The learned detector (models.learned.detector): calibration, folds, training,
serialization and determinism, on small synthetic problems.

LightGBM runs with one thread and 20 rounds: the contract under test (the same
data, parameters and thread count give the same bytes) holds for any count,
and one thread keeps the file fast on a loaded machine.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import ConfigError, DataError
from basketguard.models.detector import check_detector
from basketguard.models.learned.detector import (
    FORMAT,
    META_FILE,
    MODEL_FILE,
    LearnedDetector,
    fit_logistic,
    folds_of,
)
from tests.reference import metrics as naive

N_FEATURES = 6
NAMES = [f"f{i}" for i in range(N_FEATURES)]
SPEC = {"made_by": "tests/models/learned/test_detector.py"}

METRIC_KEYS = {"customers", "positives", "negatives", "base_rate", "folds", "roc_auc", "pr_auc",
               "roc_auc_per_fold", "precision_at_recall_0.5", "flagged_out_of_fold"}


def problem(seed: int = 7, n: int = 700) -> tuple[np.ndarray, np.ndarray]:
    """Features with signal in the first two columns; about 15 % positives."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, N_FEATURES))
    margin = 3.0 * X[:, 0] + 1.5 * X[:, 1] - 3.3 + 0.4 * rng.normal(size=n)
    return X, (margin > 0).astype(np.int8)


def make(**kw) -> LearnedDetector:
    params = dict(rounds=20, n_folds=3, num_threads=1, random_state=3)
    return LearnedDetector("synthetic_event", "Synthetic event", "health", **(params | kw))


class Recorder:
    """A ``features`` callback that returns fixed columns and records the train masks."""

    def __init__(self, X) -> None:
        self.X = X
        self.masks: list[np.ndarray | None] = []

    def __call__(self, train):
        self.masks.append(None if train is None else np.array(train, copy=True))
        return self.X, list(NAMES), dict(SPEC)


@pytest.fixture(scope="module")
def data():
    return problem()


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    rec = Recorder(X)
    det = make().fit(rec, y, fingerprint="abc123")
    return det, rec


# ------------------------------------------------------------------------ fit_logistic
@pytest.mark.parametrize("a, b", [(-1.5, 2.0), (0.0, 0.5), (-4.0, 1.0), (2.0, -1.0)])
def test_fit_logistic_recovers_known_parameters(a, b):
    rng = np.random.default_rng(20261129)
    x = rng.normal(1.0, 2.0, 200_000)
    y = rng.random(x.size) < 1.0 / (1.0 + np.exp(-(a + b * x)))
    ha, hb = fit_logistic(x, y)
    assert abs(ha - a) < 0.05 and abs(hb - b) < 0.05, (ha, hb)


@pytest.mark.parametrize("x, y", [
    ([0.0] * 50 + [1.0] * 50, [0] * 50 + [1] * 50),  # separated at one cut
    ([-3.0, -1.0, 2.0, 5.0], [0, 0, 1, 1]),
    ([1e6, -1e6], [1, 0]),
], ids=["step", "four points", "two far points"])
def test_fit_logistic_stays_finite_on_separable_data(x, y):
    a, b = fit_logistic(np.array(x), np.array(y))
    assert math.isfinite(a) and math.isfinite(b) and b > 0


@pytest.mark.parametrize("x, y, want_slope", [
    ([1.0] * 10, [0, 1] * 5, 0.0),  # no spread: no slope
    ([1.0, 2.0, 3.0], [1, 1, 1], None),  # one class
    ([], [], 0.0),
], ids=["constant score", "one class", "empty"])
def test_fit_logistic_degenerate_inputs_are_finite(x, y, want_slope):
    a, b = fit_logistic(np.array(x), np.array(y))
    assert math.isfinite(a) and math.isfinite(b)
    if want_slope is not None:
        assert b == want_slope


# ------------------------------------------------------------------------ folds_of
@given(st.lists(st.booleans(), min_size=0, max_size=60), st.integers(2, 7),
       st.integers(0, 2**32 - 1))
def test_folds_are_stratified_and_deterministic(labels, k, seed):
    y = np.array(labels, bool)
    f = folds_of(y, k, seed)
    assert f.shape == y.shape and f.dtype == np.int32
    assert ((f >= 0) & (f < k)).all()
    for cls in (True, False):
        per = np.bincount(f[y == cls], minlength=k)
        assert per.max() - per.min() <= 1  # dealt round-robin within each class
    np.testing.assert_array_equal(f, folds_of(y, k, seed))


def test_folds_change_with_the_seed():
    y = np.zeros(200, bool)
    y[::5] = True
    assert not np.array_equal(folds_of(y, 5, 0), folds_of(y, 5, 1))


# ------------------------------------------------------------------------ fit
def test_fit_finds_the_signal(fitted, data):
    det, _ = fitted
    X, y = data
    m = det.metrics_
    assert set(m) == METRIC_KEYS
    assert m["customers"] == y.size and m["positives"] == int(y.sum())
    assert m["negatives"] == int((y == 0).sum()) and m["folds"] == 3
    assert math.isclose(m["base_rate"], y.mean())
    assert m["roc_auc"]["value"] > 0.8
    assert m["roc_auc"]["low"] <= m["roc_auc"]["value"] <= m["roc_auc"]["high"]
    assert m["pr_auc"]["low"] <= m["pr_auc"]["value"] <= m["pr_auc"]["high"]
    assert len(m["roc_auc_per_fold"]) == 3 and min(m["roc_auc_per_fold"]) > 0.7
    # the metrics are those of the out-of-fold margins
    assert math.isclose(m["roc_auc"]["value"], naive.auc(det.oof_, y), abs_tol=1e-6)
    assert det.feature_names_ == NAMES and det.feature_spec_ == SPEC
    assert det.fingerprint_ == "abc123"
    assert det.slope_ > 0
    assert m["flagged_out_of_fold"] == int((det.probability(det.oof_) >= det.threshold).sum())
    json.dumps(m)  # plain JSON: no numpy scalars, no NaN


def test_the_callback_never_sees_a_folds_test_rows(fitted, data):
    """Honest CV: each fold's column choice may use only the other folds' labels."""
    det, rec = fitted
    _, y = data
    folds = folds_of(y, det.n_folds, det.random_state)
    assert len(rec.masks) == det.n_folds + 1 and rec.masks[-1] is None
    for k, train in enumerate(rec.masks[:-1]):
        assert train.dtype == bool and train.shape == y.shape
        np.testing.assert_array_equal(train, folds != k)
    held_out = np.sum([~m for m in rec.masks[:-1]], axis=0)
    np.testing.assert_array_equal(held_out, np.ones(y.size))  # each row tested exactly once


def test_fit_accepts_a_sparse_matrix(data):
    X, y = data
    Xs = sp.csr_matrix(np.where(X > 0.5, X, 0.0).astype(np.float32))
    det = make().fit(lambda train: (Xs, list(NAMES), {}), y)
    assert det.score(Xs).shape == (y.size,)
    assert det.metrics_["roc_auc"]["value"] > 0.7


@pytest.mark.parametrize("n_pos, n_neg", [(2, 100), (100, 2), (0, 50)],
                         ids=["two positives", "two negatives", "no positives"])
def test_fit_needs_a_few_of_each_class(n_pos, n_neg):
    y = np.r_[np.ones(n_pos), np.zeros(n_neg)].astype(np.int8)
    X = np.random.default_rng(0).random((y.size, N_FEATURES))
    with pytest.raises(DataError, match="at least 3 of each"):
        make().fit(lambda train: (X, list(NAMES), {}), y)


def test_fit_refuses_features_that_disagree_with_their_names(data):
    X, y = data
    with pytest.raises(ValueError, match="disagrees"):
        make().fit(lambda train: (X, NAMES[:-1], {}), y)


# ------------------------------------------------------------------------ scoring
def test_detector_contract(fitted):
    det, _ = fitted
    assert check_detector(det) == []
    assert math.isclose(float(det.probability(det.score_threshold)), det.threshold,
                        rel_tol=1e-12)
    p = det.probability(np.linspace(-50, 50, 101))
    assert np.all(np.diff(p) >= 0) and p.min() >= 0 and p.max() <= 1
    assert np.isfinite(det.probability(np.array([-1e308, 1e308]))).all()


def test_score_checks_the_width(fitted, data):
    det, _ = fitted
    X, _ = data
    with pytest.raises(DataError, match=f"expects {N_FEATURES} feature columns, got 5"):
        det.score(X[:, :5])
    assert det.score(X[:0]).shape == (0,)


def test_contributions_add_up_to_the_margin(fitted, data):
    det, _ = fitted
    X, _ = data
    c = det.contributions(X[:50])
    assert c.shape == (50, N_FEATURES + 1)
    np.testing.assert_allclose(c.sum(axis=1), det.score(X[:50]), rtol=1e-9, atol=1e-9)
    assert det.importance().shape == (N_FEATURES,)
    assert det.importance()[:2].sum() > det.importance()[2:].sum()  # the signal columns


# ------------------------------------------------------------------------ serialization
def _reload(det: LearnedDetector, origin: str = "saved detector") -> LearnedDetector:
    files = det.to_files()
    return LearnedDetector.from_files(files[MODEL_FILE].decode(), json.loads(files[META_FILE]),
                                      origin)


def test_round_trip_gives_identical_predictions(fitted, data):
    det, _ = fitted
    X, _ = data
    back = _reload(det)
    assert np.array_equal(back.score(X), det.score(X))
    assert np.array_equal(back.probability(back.score(X)), det.probability(det.score(X)))
    assert back.score_threshold == det.score_threshold
    assert back.feature_names_ == det.feature_names_ and back.feature_spec_ == det.feature_spec_
    assert back.metrics_ == json.loads(json.dumps(det.metrics_))
    assert back.fingerprint_ == det.fingerprint_
    assert check_detector(back) == []
    assert back.to_files() == det.to_files()  # and the saved form is stable


def test_metadata_layout(fitted):
    det, _ = fitted
    meta = json.loads(det.to_files()[META_FILE])
    assert meta["format"] == FORMAT and meta["kind"] == "learned"
    assert {"name", "title", "sensitivity", "gdpr_art9", "threshold", "link", "parameters",
            "features", "feature_spec", "training_fingerprint", "metrics",
            "versions"} <= set(meta)
    assert set(meta["versions"]) == {"lightgbm", "numpy", "python"}
    assert meta["parameters"]["num_threads"] == 1 and meta["parameters"]["random_state"] == 3


def test_same_data_seed_and_threads_give_the_same_bytes(fitted, data):
    det, _ = fitted
    X, y = data
    again = make().fit(Recorder(X), y, fingerprint="abc123")
    a, b = det.to_files(), again.to_files()
    assert a[MODEL_FILE] == b[MODEL_FILE]
    assert a[META_FILE] == b[META_FILE]


def test_another_seed_gives_another_model(fitted, data):
    det, _ = fitted
    X, y = data
    other = make(random_state=4).fit(Recorder(X), y, fingerprint="abc123")
    assert other.to_files()[MODEL_FILE] != det.to_files()[MODEL_FILE]
    assert not np.array_equal(other.oof_, det.oof_)


def _meta(det: LearnedDetector) -> dict:
    return json.loads(det.to_files()[META_FILE])


def _drop(key):
    def change(m):
        del m[key]
    return change


def _set(path, value):
    def change(m):
        node = m
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return change


DAMAGED_META = [
    ("no format", _drop("format")),
    ("a future format", _set(["format"], FORMAT + 1)),
    ("another kind", _set(["kind"], "signature")),
    ("no name", _drop("name")),
    ("no link", _drop("link")),
    ("a link that is not a number", _set(["link", "slope"], "steep")),
    ("a null intercept", _set(["link", "intercept"], None)),
    ("an unknown parameter", _set(["parameters", "depth"], 3)),
    ("parameters as a list", _set(["parameters"], [1, 2])),
    ("no feature names", _drop("features")),
    ("a feature spec that is a number", _set(["feature_spec"], 3)),
    ("a threshold that is text", _set(["threshold"], "high")),
    ("one feature name too many", lambda m: m["features"].append("extra")),
]


@pytest.mark.parametrize("name, change", DAMAGED_META, ids=[c[0] for c in DAMAGED_META])
def test_damaged_metadata_is_a_config_error_naming_the_origin(fitted, name, change):
    det, _ = fitted
    meta = _meta(det)
    change(meta)
    with pytest.raises(ConfigError, match="detectors/synthetic"):
        LearnedDetector.from_files(det.to_files()[MODEL_FILE].decode(), meta,
                                   "detectors/synthetic")


# Values the constructor accepts but check() refuses: the message must still say which
# saved detector is wrong (a scan may load several).
INVALID_META = [
    ("a sensitivity out of the list", _set(["sensitivity"], "curiosity")),
    ("a threshold of 1", _set(["threshold"], 1.0)),
    ("a name with capitals", _set(["name"], "Pregnancy")),
    ("zero rounds", _set(["parameters", "rounds"], 0)),
]


@pytest.mark.parametrize("name, change", INVALID_META, ids=[c[0] for c in INVALID_META])
def test_invalid_metadata_values_name_the_origin(fitted, name, change):
    det, _ = fitted
    meta = _meta(det)
    change(meta)
    with pytest.raises(ConfigError) as err:
        LearnedDetector.from_files(det.to_files()[MODEL_FILE].decode(), meta,
                                   "detectors/synthetic")
    assert "detectors/synthetic" in str(err.value)


@pytest.mark.parametrize("meta", [[1, 2], "detector", None, 3],
                         ids=["a list", "a string", "null", "a number"])
def test_metadata_that_is_not_a_json_object_is_a_config_error(fitted, meta):
    det, _ = fitted
    with pytest.raises(ConfigError, match="detectors/synthetic"):
        LearnedDetector.from_files(det.to_files()[MODEL_FILE].decode(), meta,
                                   "detectors/synthetic")


@pytest.mark.parametrize("cut", ["empty", "garbage", "truncated"])
def test_damaged_model_text_is_a_config_error_naming_the_origin(fitted, cut, capfd):
    det, _ = fitted
    text = det.to_files()[MODEL_FILE].decode()
    bad = {"empty": "", "garbage": "this is not a model\n", "truncated": text[:400]}[cut]
    with pytest.raises(ConfigError, match="detectors/synthetic: the model text cannot be read"):
        LearnedDetector.from_files(bad, _meta(det), "detectors/synthetic")
    capfd.readouterr()  # LightGBM prints its own [Fatal] line


# ------------------------------------------------------------------------ parameters
BAD_PARAMS = [
    ("name with a dash", dict(name="my-event"), "must be of the form"),
    ("name starting with a digit", dict(name="1event"), "must be of the form"),
    ("unknown sensitivity", dict(sensitivity="gossip"), "sensitivity 'gossip'"),
    ("unknown gdpr_art9", dict(gdpr_art9="maybe"), "gdpr_art9 'maybe'"),
    ("threshold 0", dict(threshold=0.0), "threshold 0.0"),
    ("threshold 1", dict(threshold=1.0), "threshold 1.0"),
    ("zero rounds", dict(rounds=0), "rounds"),
    ("one fold", dict(n_folds=1), "n_folds"),
    ("no threads", dict(num_threads=0), "num_threads"),
]


@pytest.mark.parametrize("name, kw, message", BAD_PARAMS, ids=[c[0] for c in BAD_PARAMS])
def test_check_refuses_parameters_out_of_range(name, kw, message):
    det = LearnedDetector(**(dict(name="synthetic_event", title="T", sensitivity="health") | kw))
    with pytest.raises(ConfigError, match=message):
        det.check()


def test_init_only_stores_parameters():
    det = LearnedDetector("x", "X", "nonsense", rounds=-1)  # validated by check(), in fit
    assert det.rounds == -1 and not hasattr(det, "booster_")
    with pytest.raises(ConfigError):
        det.fit(lambda train: (np.zeros((10, 1)), ["a"], {}), np.r_[np.ones(5), np.zeros(5)])


def test_sparse_scores_are_lightgbm_margins_bit_for_bit(fitted, data):
    # score() evaluates the forest with kernels/trees.py for CSR input
    det, _ = fitted
    X, _ = data
    Xs = sp.csr_matrix(np.where(X > 0.5, X, 0.0).astype(np.float32))
    got = det.score(Xs)
    want = det.booster_.predict(Xs, raw_score=True, num_threads=1)
    assert np.array_equal(got, want)
