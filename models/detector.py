"""The detector interface: what every detector of a sensitive inference tells the engine.

Two kinds of detectors map customer histories to per-customer scores:
*signatures* (declarative product evidence in a time window, shipped as TOML:
:mod:`basketguard.models.signatures`) and *learned* detectors (LightGBM on
windowed concept and taxonomy features; ``models/learned/``). The
engine scans, reports, gates and mitigates through this interface only, so a
learned detector slots in wherever a signature does:

- ``name`` (unique, ``[a-z][a-z0-9_]*``), ``title``;
- ``kind``: ``"signature"`` or ``"learned"``;
- ``sensitivity``: one of :data:`SENSITIVITIES`; ``gdpr_art9``: one of :data:`GDPR_ART9`;
- ``threshold``: the probability from which a customer counts as flagged;
- ``probability(score)``: the calibrated probability of a score (vectorized);
- ``score_threshold``: the score at which the probability reaches ``threshold``.

:func:`check_detector` validates any object against this contract.
"""

from __future__ import annotations

import math
import re
from typing import Protocol, runtime_checkable

import numpy as np

#: Sensitivity classes a detector may declare.
SENSITIVITIES: dict[str, str] = {
    "health": "physical or mental health condition",
    "reproductive": "pregnancy, fertility or reproductive health",
    "religion": "religious or philosophical belief",
    "sex_life": "sex life or sexual orientation",
    "addiction": "addiction or substance use",
    "financial": "financial vulnerability",
    "family": "family or household life event",
}

#: GDPR Article 9(1) special categories ("none" where Article 9 does not apply).
GDPR_ART9: dict[str, str] = {
    "health": "data concerning health",
    "religious_beliefs": "religious or philosophical beliefs",
    "sex_life": "data concerning a person's sex life or sexual orientation",
    "none": "not a special category under Art. 9",
}

#: Kinds of detectors.
KINDS = ("signature", "learned")

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@runtime_checkable
class Detector(Protocol):
    """A detector of one sensitive inference (see the module docstring)."""

    name: str
    title: str
    sensitivity: str
    gdpr_art9: str
    threshold: float

    @property
    def kind(self) -> str: ...

    @property
    def score_threshold(self) -> float: ...

    def probability(self, score: np.ndarray | float) -> np.ndarray: ...


def check_detector(detector: object) -> list[str]:
    """Everything that keeps ``detector`` from honouring the contract (empty when it does).

    Parameters
    ----------
    detector : object
        A signature, a learned detector, or anything claiming to be one.

    Returns
    -------
    list of str
        One line per problem, naming the attribute.
    """
    if not isinstance(detector, Detector):
        missing = [a for a in ("name", "title", "sensitivity", "gdpr_art9", "threshold", "kind",
                               "score_threshold", "probability") if not hasattr(detector, a)]
        return [f"not a detector: missing {', '.join(missing)}"]
    d = detector
    problems = []
    if not isinstance(d.name, str) or not NAME_PATTERN.match(d.name):
        problems.append(f"name {d.name!r} is not of the form [a-z][a-z0-9_]*")
    if d.kind not in KINDS:
        problems.append(f"kind {d.kind!r} is not one of {', '.join(KINDS)}")
    if d.sensitivity not in SENSITIVITIES:
        problems.append(f"sensitivity {d.sensitivity!r} is not one of {', '.join(SENSITIVITIES)}")
    if d.gdpr_art9 not in GDPR_ART9:
        problems.append(f"gdpr_art9 {d.gdpr_art9!r} is not one of {', '.join(GDPR_ART9)}")
    if not (isinstance(d.threshold, float | int) and 0.0 < d.threshold < 1.0):
        problems.append(f"threshold {d.threshold!r} is not a probability in (0, 1)")
        return problems
    t = float(d.score_threshold)
    scores = np.array([t - 1.0, t, t + 1.0, t + 30.0])
    p = np.asarray(d.probability(scores), float)
    if p.shape != scores.shape or not np.all((p >= 0.0) & (p <= 1.0)):
        problems.append("probability() must map scores to probabilities in [0, 1], elementwise")
    elif np.any(np.diff(p) < 0):
        problems.append("probability() must not decrease as the score grows")
    elif not math.isclose(float(p[1]), d.threshold, rel_tol=1e-9, abs_tol=1e-12):
        problems.append(f"probability(score_threshold) = {p[1]:.6g}, not the threshold "
                        f"{d.threshold}")
    return problems
