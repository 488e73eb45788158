"""Findings: estimates, Wilson intervals, thresholds and severities, JSON form."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.findings import Estimate, Finding, Severity, Threshold, judge, worst
from basketguard.engine.stats import cluster_wilson, wilson


def test_wilson_hand_checked():
    # 95 % Wilson interval of 8/10 (z = 1.959964): 0.490 .. 0.943
    e = wilson(8, 10)
    assert e.value == 0.8
    assert e.low == pytest.approx(0.4902, abs=1e-4)
    assert e.high == pytest.approx(0.9433, abs=1e-4)
    assert e.method == "wilson" and e.confidence == 0.95


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_contains_the_share(k, n):
    k = min(k, n)
    e = wilson(k, n)
    assert 0.0 <= e.low <= e.value <= e.high <= 1.0


def test_wilson_edges_and_errors():
    assert math.isnan(wilson(0, 0).value) and wilson(0, 0).exact
    assert wilson(0, 5).low == 0.0 and wilson(5, 5).high == 1.0
    with pytest.raises(ValueError):
        wilson(6, 5)


def test_estimate_needs_both_bounds_in_order():
    with pytest.raises(ValueError):
        Estimate(0.5, low=0.1)
    with pytest.raises(ValueError):
        Estimate(0.5, low=0.6, high=0.4)


# A level is a limit the policy still allows: at the level passes, strictly beyond it
# warns / fails; "min" thresholds are judged the other way round.
@pytest.mark.parametrize("value, warn, fail, direction, expected", [
    pytest.param(0.1, None, None, "max", Severity.INFO, id="no_levels_info"),
    pytest.param(0.1, 0.2, 0.5, "max", Severity.PASS, id="below_warn_passes"),
    pytest.param(0.2, 0.2, 0.5, "max", Severity.PASS, id="at_warn_passes"),
    pytest.param(0.2 + 1e-9, 0.2, 0.5, "max", Severity.WARN, id="just_above_warn_warns"),
    pytest.param(0.5, 0.2, 0.5, "max", Severity.WARN, id="at_fail_warns"),
    pytest.param(0.51, 0.2, 0.5, "max", Severity.FAIL, id="above_fail_fails"),
    pytest.param(0.9, None, 0.5, "max", Severity.FAIL, id="fail_only"),
    pytest.param(0.3, 0.2, None, "max", Severity.WARN, id="warn_only"),
    pytest.param(0.0, 0.0, None, "max", Severity.PASS, id="zero_level_allows_zero"),
    pytest.param(1e-9, 0.0, None, "max", Severity.WARN, id="zero_level_warns_on_any"),
    pytest.param(1 / 5, None, 1 / 5, "max", Severity.PASS, id="one_over_k_at_k"),
    pytest.param(0.1 + 0.2, None, 0.3, "max", Severity.PASS, id="rounding_is_at_level"),
    pytest.param(float("nan"), 0.2, 0.5, "max", Severity.WARN, id="nan_never_passes"),
    pytest.param(100, 200, 50, "min", Severity.WARN, id="min_below_warn"),
    pytest.param(49, 200, 50, "min", Severity.FAIL, id="min_below_fail"),
    pytest.param(50, None, 50, "min", Severity.PASS, id="min_at_fail_passes"),
    pytest.param(float("nan"), None, 50, "min", Severity.WARN, id="min_nan_warns"),
])
def test_judge(value, warn, fail, direction, expected):
    assert judge(value, Threshold(warn, fail, direction)) == expected


def test_judge_without_threshold_is_info():
    assert judge(0.7, None) == Severity.INFO


@pytest.mark.parametrize("bad", [
    dict(direction="up"), dict(warn=float("nan")), dict(fail=float("inf")),
    dict(warn=0.6, fail=0.5), dict(warn=40, fail=50, direction="min"),
])
def test_threshold_rejects_bad_levels(bad):
    with pytest.raises(ValueError):
        Threshold(**bad)


def test_worst_orders_severities():
    assert worst([]) == Severity.PASS
    assert worst([Severity.INFO, Severity.INFO]) == Severity.PASS
    assert worst([Severity.PASS, Severity.WARN, Severity.INFO]) == Severity.WARN
    assert worst([Severity.WARN, Severity.FAIL, Severity.PASS]) == Severity.FAIL


def test_judged_finding_carries_its_levels():
    f = Finding.judged("reid.x", "m", Estimate(0.6), Threshold(0.1, 0.5))
    assert f.severity == Severity.FAIL
    d = f.to_dict()
    assert d["threshold"] == 0.5 and d["levels"] == {"warn": 0.1, "fail": 0.5,
                                                     "direction": "max"}
    assert Finding.judged("reid.y", "m", Estimate(0.6), None).to_dict()["levels"] is None


@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 50), st.integers(1, 20))
def test_cluster_wilson_contains_the_share(u, extra, members, draws):
    unique = min(u, members * draws)
    sq = min(unique * draws, unique * unique + extra)
    e = cluster_wilson(unique, max(sq, (unique * unique + members - 1) // members), members,
                       draws)
    assert 0.0 <= e.low <= e.value <= e.high <= 1.0


def test_finding_json_is_safe():
    f = Finding("reid.x", "metric", Estimate(float("inf")), Threshold(fail=0.5), Severity.FAIL,
                "why", {"n": 3})
    doc = json.loads(json.dumps(f.to_dict()))
    assert doc["value"] is None and doc["severity"] == "fail" and doc["details"] == {"n": 3}
    g = Finding("reid.y", "m", wilson(1, 4)).to_dict()
    assert g["interval"][0] < g["value"] < g["interval"][1] and g["severity"] == "info"
