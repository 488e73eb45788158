"""Text reports are views of the JSON documents: rendering a document read back
from its JSON gives the same text, and the text names what the document holds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from basketguard.engine.api import load_histories, profile_project
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan
from basketguard.engine.reid.assess import AssessOptions, assess
from basketguard.engine.report.json import dumps
from basketguard.engine.report.text import assess_text, profile_text, scan_text
from basketguard.models.simulator.run import SimConfig, simulate

pytestmark = pytest.mark.jit


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    res = simulate(SimConfig(customers=800, seed=3), out / "data")
    project = load_project(res.paths["project"])
    hist = load_histories(project, use_cache=False)
    assessed = assess(project, hist, np.arange(0, hist.n_customers, 5),
                      AssessOptions(points=("items",), p_max=2))
    return {"profile": profile_project(project, hist), "scan": scan(project, hist).summary(),
            "assess": assessed.to_dict()}


@pytest.mark.parametrize("kind, render", [("profile", profile_text), ("scan", scan_text),
                                          ("assess", assess_text)])
def test_text_renders_the_json_document(docs, kind, render):
    doc = docs[kind]
    again = json.loads(dumps(doc))
    assert render(again) == render(doc)
    assert dumps(doc).endswith("}\n")


def test_texts_name_their_contents(docs):
    assert f"customers         {docs['profile']['customers']:,}" in profile_text(docs["profile"])
    scan_out = scan_text(docs["scan"])
    for entry in docs["scan"]["signatures"]:
        assert entry["signature"] in scan_out
    assess_out = assess_text(docs["assess"])
    assert f"Overall: {docs['assess']['severity'].upper()}" in assess_out
    for f in docs["assess"]["findings"]:
        assert f["check"] in assess_out


def test_assess_text_shows_null_values_as_a_dash():
    doc = {"segment": {"members": 0, "customer_base": 3}, "severity": "warn", "skipped": [],
           "findings": [{"check": "reid.x", "metric": "m", "value": None,
                         "interval": [0.1, None], "threshold": 0.5, "severity": "warn",
                         "explanation": "nothing measured"}]}
    text = assess_text(doc)
    assert "WARN  reid.x" in text and " - (threshold 0.5)" in text
