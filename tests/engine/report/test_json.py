"""Reports are strict JSON: finite numbers or null, known types only, the same bytes
for the same document; a result that breaks this is a bug named by its path."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan
from basketguard.engine.errors import InternalError
from basketguard.engine.findings import Estimate, Finding, Threshold
from basketguard.engine.reid.assess import AssessResult
from basketguard.engine.report.json import check, dumps
from basketguard.models.signatures.schema import (
    INTERCEPT_MAX,
    SLOPE_RANGE,
    WEIGHT_RANGE,
    signature_from_dict,
)


def _strict_loads(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in a report")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("doc, where", [
    pytest.param({"a": float("nan")}, "$.a", id="nan"),
    pytest.param({"a": [1.0, {"b": float("inf")}]}, "$.a[1].b", id="inf-nested"),
    pytest.param([-math.inf], "$[0]", id="minus-inf"),
    pytest.param({"x": np.float64("nan")}, "$.x", id="numpy-nan"),
    pytest.param({"n": np.int64(3)}, "$.n", id="numpy-int"),
    pytest.param({"n": np.float32(0.5)}, "$.n", id="numpy-float32"),
    pytest.param({"p": Path("a.csv")}, "$.p", id="path"),
    pytest.param({"s": {1, 2}}, "$.s", id="set"),
    pytest.param({(1, 2): 3}, "(1, 2)", id="tuple-key"),
    pytest.param({1.5: 3}, "1.5", id="float-key"),
])
def test_what_is_not_strict_json_is_a_bug_named_by_its_path(doc, where):
    with pytest.raises(InternalError) as err:
        dumps(doc)
    assert where in str(err.value)


def test_strict_documents_render_the_same_bytes():
    doc = {"b": None, "a": [True, False, 0, -1, 2**70, 1.5, 1e-300, "é"], "k": {50: 1.0},
           "t": (1, 2), "f": np.float64(0.25)}
    text = dumps(doc)
    assert text == dumps(doc) and text.endswith("}\n")
    assert list(_strict_loads(text)) == ["b", "a", "k", "t", "f"]  # keys in result order
    assert _strict_loads(text)["k"] == {"50": 1.0}
    assert text.isascii()
    check(doc)


def test_assess_report_holds_null_for_what_could_not_be_measured():
    finding = Finding.judged(check="reid.x", metric="m", estimate=Estimate(float("nan")),
                             threshold=Threshold(fail=0.5), explanation="nothing measured",
                             details={"risk": float("nan"), "sizes": [1.0, float("inf")]})
    result = AssessResult({"members": 0}, [finding], {"x": 1.25})
    doc = result.to_dict()
    assert doc["findings"][0]["value"] is None
    assert doc["findings"][0]["details"] == {"risk": None, "sizes": [1.0, None]}
    assert doc["seconds"] == {}
    assert result.to_dict(timings=True)["seconds"] == {"x": 1.25}
    _strict_loads(dumps(doc))


ROWS = """basket,customer,item,time
b1,c1,i1,2024-03-01 10:00:00
b1,c1,i2,2024-03-01 10:00:00
b2,c2,i1,2024-03-02 11:00:00
b3,c3,i3,2024-03-05 09:00:00
"""


@pytest.mark.parametrize("intercept, slope, weight, threshold", [
    pytest.param(-INTERCEPT_MAX, SLOPE_RANGE[0], WEIGHT_RANGE[1], 0.5, id="flattest-link"),
    pytest.param(-INTERCEPT_MAX, SLOPE_RANGE[1], WEIGHT_RANGE[0], 1e-20, id="steepest-link"),
    pytest.param(-INTERCEPT_MAX, SLOPE_RANGE[1], WEIGHT_RANGE[1], 1 - 2**-53,
                 id="threshold-near-one"),
])
def test_scan_report_of_signatures_at_the_bounds_is_strict_json(tmp_path, intercept, slope,
                                                                weight, threshold):
    (tmp_path / "lines.csv").write_text(ROWS)
    (tmp_path / "p.toml").write_text(
        '[project]\nname = "p"\n[lines]\nsource = "lines.csv"\n[lines.columns]\n'
        'basket = "basket"\ncustomer = "customer"\nitem = "item"\ntime = "time"\n')
    project = load_project(tmp_path / "p.toml")
    sig = signature_from_dict({
        "name": "edge", "sensitivity": "health", "window_days": 30, "threshold": threshold,
        "link": {"intercept": intercept, "slope": slope},
        "feature": [{"name": f"f{i}", "weight": weight, "items": [f"i{i}"]} for i in (1, 2, 3)],
    })
    summary = scan(project, load_histories(project, use_cache=False), (sig,)).summary()
    text = dumps(summary)
    entry = _strict_loads(text)["signatures"][0]
    assert math.isfinite(entry["score_threshold"])
    assert entry["customers_with_evidence"] == 3
