"""The built-in concepts against the blind labelled Instacart sample (docs/labelling.md):
precision and recall >= 0.95 for every labelled concept, and docs/concepts.md shows the
current figures."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO

#: Recall is held for every concept with at least this many labelled positives.
MIN_POSITIVES = 1


def _bench():
    spec = importlib.util.spec_from_file_location("concept_accuracy",
                                                  REPO / "bench" / "concept_accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def result():
    return _bench().measure()


def test_every_labelled_concept_exists(result):
    assert not [c for c, m in result["concepts"].items() if m.get("missing")]
    assert result["rows"] >= 400


def test_precision_and_recall(result):
    low = {}
    for c, m in result["concepts"].items():
        if m["predicted"] and m["precision"] < 0.95:
            low[c] = ("precision", m["precision"], m["false_positives"])
        if m["labelled"] >= MIN_POSITIVES and m["recall"] < 0.95:
            low[c] = ("recall", m["recall"], m["false_negatives"])
    assert not low, low


def test_docs_show_the_current_figures(result):
    doc = (REPO / "docs" / "concepts.md").read_text()
    bench = _bench()
    assert bench.markdown(result) in doc, "run `python bench/concept_accuracy.py --write`"
