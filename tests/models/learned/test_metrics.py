"""Ranking metrics with intervals (models.learned.metrics) against tests/reference/metrics.py.

Hypothesis draws scores from a handful of values (so ties are common) or from
any finite floats, with labels of either class; named cases cover all scores
equal, one positive, one negative, no positives, perfect and inverted rankings
and recalls whose product with the positive count is not exact in binary.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from basketguard.models.learned.metrics import (
    Interval,
    average_precision,
    precision_at_recall,
    roc_auc,
)
from tests.reference import metrics as naive

RTOL = 1e-12


@st.composite
def scored(draw, min_size: int = 1, max_size: int = 40):
    """(scores, labels): few distinct scores (ties) or any finite floats; labels either class."""
    n = draw(st.integers(min_size, max_size))
    values = draw(st.one_of(
        st.lists(st.sampled_from([-1.0, 0.0, 0.25, 0.5, 3.0]), min_size=n, max_size=n),
        st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
                 min_size=n, max_size=n),
        st.lists(st.integers(-3, 3).map(float), min_size=n, max_size=n)))
    labels = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return np.array(values, np.float64), np.array(labels, bool)


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-15)


def _check_interval(iv: Interval) -> None:
    assert isinstance(iv, Interval)
    if math.isnan(iv.value):
        assert math.isnan(iv.low) and math.isnan(iv.high)
        return
    assert 0.0 <= iv.low <= iv.value <= iv.high <= 1.0, iv


# ------------------------------------------------------------------ against the reference
@given(scored())
def test_roc_auc_matches_the_pair_count(case):
    scores, labels = case
    iv = roc_auc(scores, labels)
    assert _close(iv.value, naive.auc(scores, labels))
    _check_interval(iv)


@given(scored(min_size=4))
def test_roc_auc_interval_is_delong_on_the_logit_scale(case):
    scores, labels = case
    assume(labels.sum() >= 2 and (~labels).sum() >= 2)
    a = naive.auc(scores, labels)
    assume(0.0 < a < 1.0)
    iv = roc_auc(scores, labels)
    low, high = naive.auc_interval(scores, labels)
    assert math.isclose(iv.low, low, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(iv.high, high, rel_tol=1e-9, abs_tol=1e-12)


@given(scored())
def test_average_precision_matches_the_tie_group_mean(case):
    scores, labels = case
    iv = average_precision(scores, labels)
    assert _close(iv.value, naive.average_precision(scores, labels))
    _check_interval(iv)
    ap = naive.average_precision(scores, labels)
    if 0.0 < ap < 1.0:
        low, high = naive.ap_interval(scores, labels)
        assert math.isclose(iv.low, low, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(iv.high, high, rel_tol=1e-9, abs_tol=1e-12)


@given(scored(), st.one_of(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0]),
                           st.floats(0.0, 1.0)))
def test_precision_at_recall_matches_the_threshold_walk(case, recall):
    scores, labels = case
    assert _close(precision_at_recall(scores, labels, recall),
                  naive.precision_at_recall(scores, labels, recall))


@given(scored())
def test_metrics_do_not_depend_on_row_order(case):
    scores, labels = case
    perm = np.random.default_rng(len(scores)).permutation(len(scores))
    for f in (roc_auc, average_precision):
        a, b = f(scores, labels), f(scores[perm], labels[perm])
        assert _close(a.value, b.value) and _close(a.low, b.low) and _close(a.high, b.high)
    assert _close(precision_at_recall(scores, labels), precision_at_recall(scores[perm],
                                                                           labels[perm]))


@given(scored(min_size=2))
def test_roc_auc_of_negated_scores_is_the_complement(case):
    scores, labels = case
    assume(labels.any() and not labels.all())
    assert math.isclose(roc_auc(-scores, labels).value, 1.0 - roc_auc(scores, labels).value,
                        abs_tol=1e-12)


# ------------------------------------------------------------------ named edge cases
Y5 = [True, False, True, False, False]

EDGE = [
    # name, scores, labels, auc, ap, precision at recall 0.5
    ("all scores equal", [2.0] * 5, Y5, 0.5, 0.4, 0.4),
    ("perfect ranking", [5, 4, 3, 2, 1], [1, 1, 0, 0, 0], 1.0, 1.0, 1.0),
    ("inverted ranking", [1, 2, 3, 4, 5], [1, 1, 0, 0, 0], 0.0, (1 / 4 + 2 / 5) / 2, 1 / 4),
    ("one positive on top", [9, 1, 1, 1], [1, 0, 0, 0], 1.0, 1.0, 1.0),
    ("one positive tied with all", [1, 1, 1, 1], [1, 0, 0, 0], 0.5, 0.25, 0.25),
    ("one negative", [3, 2, 1], [1, 1, 0], 1.0, 1.0, 1.0),
    ("a tie across classes", [3, 2, 2, 1], [1, 1, 0, 0], 0.875, (1 + 2 / 3) / 2, 1.0),
    ("positives tied at the bottom", [3, 1, 1], [0, 1, 1], 0.0, 2 / 3, 2 / 3),
    ("one row, positive", [0.3], [1], math.nan, 1.0, 1.0),
    ("one row, negative", [0.3], [0], math.nan, math.nan, math.nan),
    ("no positives", [1, 2, 3], [0, 0, 0], math.nan, math.nan, math.nan),
    ("no negatives", [1, 2, 3], [1, 1, 1], math.nan, 1.0, 1.0),
    ("negative zero ties zero", [0.0, -0.0, 1.0], [1, 0, 0], 0.25, 1 / 3, 1 / 3),
]


@pytest.mark.parametrize("name, scores, labels, auc, ap, p50", EDGE, ids=[e[0] for e in EDGE])
def test_edge_cases(name, scores, labels, auc, ap, p50):
    s, y = np.array(scores, np.float64), np.array(labels, bool)
    a, p = roc_auc(s, y), average_precision(s, y)
    assert _close(a.value, auc) and _close(a.value, naive.auc(s, y))
    assert _close(p.value, ap) and _close(p.value, naive.average_precision(s, y))
    assert _close(precision_at_recall(s, y, 0.5), p50)
    _check_interval(a)
    _check_interval(p)


def test_intervals_collapse_at_the_bounds():
    iv = roc_auc(np.array([2.0, 1.0]), np.array([True, False]))
    assert (iv.value, iv.low, iv.high) == (1.0, 1.0, 1.0)
    iv = average_precision(np.array([2.0, 1.0]), np.array([True, False]))
    assert (iv.value, iv.low, iv.high) == (1.0, 1.0, 1.0)


def test_interval_to_dict_rounds_and_maps_nan_to_none():
    assert Interval(0.12345678, 0.1, 0.2).to_dict() == {"value": 0.123457, "low": 0.1,
                                                        "high": 0.2}
    nan = float("nan")
    assert Interval(nan, nan, nan).to_dict() == {"value": None, "low": None, "high": None}


@pytest.mark.parametrize("recall, m", [(0.07, 100), (0.14, 100), (0.57, 100), (0.7, 10)],
                         ids=lambda v: str(v))
def test_precision_at_recall_reaches_a_recall_not_exact_in_binary(recall, m):
    # 2m distinct scores, positives at ranks 1, 3, 5, ...: the k-th positive is flagged at
    # rank 2k - 1 with precision k / (2k - 1) and recall k / m. The first k with
    # k / m >= recall must be taken: 0.07 * 100 is 7.000000000000001 in binary, yet 7 of
    # 100 positives is a recall of 0.07 (7 / 100 == 0.07). 0.57 and 0.7 are controls.
    n = 2 * m
    scores = np.arange(n, 0, -1, dtype=np.float64)
    labels = np.zeros(n, bool)
    labels[::2] = True
    want = naive.precision_at_recall(scores, labels, recall)
    k = math.ceil(round(recall * m, 9))
    assert want == k / (2 * k - 1)
    assert precision_at_recall(scores, labels, recall) == want


@pytest.mark.parametrize("f", [roc_auc, average_precision, precision_at_recall])
def test_shape_mismatch_is_refused(f):
    with pytest.raises(ValueError, match="1-d arrays of one length"):
        f(np.zeros(3), np.zeros(2, bool))
    with pytest.raises(ValueError, match="1-d arrays of one length"):
        f(np.zeros((2, 2)), np.zeros((2, 2), bool))
