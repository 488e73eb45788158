"""The detector interface: every built-in signature honours it, and the check
catches what breaks it (named cases, including what must not pass)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest

from basketguard.models.detector import Detector, check_detector
from basketguard.models.signatures.schema import load_library


@dataclass
class LogisticDetector:
    """A stand-in for a learned detector: a logistic score, nothing else."""

    name: str = "learned_pregnancy"
    title: str = "Pregnancy (learned)"
    sensitivity: str = "reproductive"
    gdpr_art9: str = "health"
    threshold: float = 0.5
    slope: float = 2.0
    kind: str = field(default="learned")

    @property
    def score_threshold(self) -> float:
        return 0.0

    def probability(self, score):
        return 1.0 / (1.0 + np.exp(-self.slope * np.asarray(score, float)))


def test_every_builtin_signature_is_a_detector():
    library = load_library()
    assert len(library) >= 10
    for sig in library:
        assert isinstance(sig, Detector)
        assert sig.kind == "signature"
        assert check_detector(sig) == [], sig.name


def test_a_learned_detector_fits_the_same_interface():
    assert check_detector(LogisticDetector()) == []


@pytest.mark.parametrize("change, problem", [
    pytest.param(dict(name="Bad Name"), "name", id="bad_name"),
    pytest.param(dict(kind="oracle"), "kind", id="unknown_kind"),
    pytest.param(dict(sensitivity="hobbies"), "sensitivity", id="unknown_sensitivity"),
    pytest.param(dict(gdpr_art9="politics"), "gdpr_art9", id="unknown_art9"),
    pytest.param(dict(threshold=1.0), "threshold", id="threshold_not_a_probability"),
    pytest.param(dict(slope=-1.0), "decrease", id="probability_falls_with_score"),
])
def test_check_names_each_broken_promise(change, problem):
    problems = check_detector(LogisticDetector(**change))
    assert len(problems) == 1 and problem in problems[0]


def test_something_else_is_not_a_detector():
    assert check_detector(object())[0].startswith("not a detector: missing name")
