"""Findings: estimates, Wilson intervals, severities, JSON form."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.findings import Estimate, Finding, Severity, judge, wilson


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


@pytest.mark.parametrize("value, warn, fail, expected", [
    (0.1, None, None, Severity.INFO),
    (0.1, 0.2, 0.5, Severity.PASS),
    (0.2, 0.2, 0.5, Severity.WARN),
    (0.5, 0.2, 0.5, Severity.FAIL),
    (0.9, None, 0.5, Severity.FAIL),
    (float("nan"), 0.2, 0.5, Severity.WARN),  # nothing measured never passes
])
def test_judge(value, warn, fail, expected):
    assert judge(value, warn, fail) == expected


def test_finding_json_is_safe():
    f = Finding("reid.x", "metric", Estimate(float("inf")), 0.5, Severity.FAIL, "why",
                {"n": 3})
    doc = json.loads(json.dumps(f.to_dict()))
    assert doc["value"] is None and doc["severity"] == "fail" and doc["details"] == {"n": 3}
    g = Finding("reid.y", "m", wilson(1, 4)).to_dict()
    assert g["interval"][0] < g["value"] < g["interval"][1] and g["severity"] == "info"
