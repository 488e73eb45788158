"""A mailing's inference risk (engine/mitigate/inference.py) against tests/reference/mailing.py."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.findings import Severity
from basketguard.engine.mitigate.inference import (
    COVER_NOTE,
    DecoySchedule,
    EventProbabilities,
    inference_findings,
    mailing_risk,
    probabilities_from_table,
)
from basketguard.models.signatures.schema import load_library
from tests.reference import mailing as ref


def _probs(p):
    p = np.asarray(p, np.float64).reshape(1, -1)
    return EventProbabilities(("pregnancy",), ("reproductive",), p, (0.5,), "test")


def _close(a, b):
    if isinstance(b, float) and (math.isnan(b) or math.isinf(b)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@st.composite
def mailings(draw):
    n = draw(st.integers(1, 30))
    p = draw(st.lists(st.one_of(st.sampled_from([0.0, 1.0, 0.5]),
                                st.floats(0, 1, allow_nan=False)), min_size=n, max_size=n))
    recipients = sorted(draw(st.sets(st.integers(0, n - 1))))
    decoys = sorted(draw(st.sets(st.sampled_from(recipients)))) if recipients else []
    return p, recipients, decoys


@given(mailings())
def test_single_mailing_matches_reference(case):
    p, recipients, decoys = case
    risks = mailing_risk(_probs(p), np.array(recipients, np.int64),
                         decoys=np.array(decoys, np.int64), mailings=3)
    r = risks[0]
    want = ref.risk(p, ref.weights(len(p), set(recipients), set(), 0.0, 1))
    assert r.recipients == len(recipients)
    assert _close(r.posterior.value, want["posterior"])
    assert _close(r.base_rate, want["base"])
    assert _close(r.q1, want["q1"]) and _close(r.q0, want["q0"])
    assert _close(r.epsilon, want["epsilon"])
    if recipients:
        assert r.posterior.low <= r.posterior.value <= r.posterior.high
    # a fixed decoy set: every repeated mailing says what the first said
    for c in r.composition:
        assert _close(c.fixed_posterior, r.posterior.value)
        assert _close(c.fixed_epsilon, r.epsilon)


@given(mailings(), st.integers(1, 6), st.data())
def test_fresh_decoys_match_reference(case, t_max, data):
    p, recipients, decoys = case
    n = len(p)
    pool = sorted(set(range(n)) - (set(recipients) - set(decoys)))
    if not decoys or not pool:
        return
    d = len(decoys)
    sched = DecoySchedule(d, len(pool), np.array([sum(p[i] for i in pool)]))
    r = mailing_risk(_probs(p), np.array(recipients), decoys=np.array(decoys),
                     schedule=sched, mailings=t_max)[0]
    targets = set(recipients) - set(decoys)
    rate = d / len(pool)
    for c in r.composition:
        want = ref.risk(p, ref.weights(n, targets, set(pool), rate, c.mailings))
        assert _close(c.fresh_posterior, want["posterior"])
        assert _close(c.fresh_epsilon, want["epsilon"])


def test_named_cases():
    # nobody receives: no posterior, nothing distinguishes
    r = mailing_risk(_probs([0.2, 0.4]), np.empty(0, np.int64))[0]
    assert math.isnan(r.posterior.value) and math.isnan(r.epsilon) and r.recipients == 0
    # one customer who is certain, mailed alone: the observer is certain too
    r = mailing_risk(_probs([1.0, 0.0, 0.0, 0.0]), np.array([0]))[0]
    assert r.posterior.value == 1.0 and r.lift == 4.0 and math.isinf(r.epsilon)
    # everyone receives: the posterior is the base rate, epsilon 0
    r = mailing_risk(_probs([0.1, 0.3, 0.5]), np.arange(3))[0]
    assert math.isclose(r.posterior.value, 0.3) and math.isclose(r.epsilon, 0.0, abs_tol=1e-12)
    # 1 certain target plus 9 decoys with p = 0 gives posterior 0.1 (the DESIGN bound)
    p = [1.0] + [0.0] * 99
    r = mailing_risk(_probs(p), np.arange(10), decoys=np.arange(1, 10))[0]
    assert math.isclose(r.posterior.value, 0.1)


def test_fresh_decoys_wear_off_fixed_do_not():
    p = [0.9] * 10 + [0.01] * 990
    sched = DecoySchedule(90, 990, np.array([9.9]))
    r = mailing_risk(_probs(p), np.arange(100), decoys=np.arange(10, 100), schedule=sched,
                     mailings=6)[0]
    fresh = [c.fresh_posterior for c in r.composition]
    assert all(b > a for a, b in zip(fresh, fresh[1:], strict=False))
    assert fresh[-1] > 0.85
    assert all(math.isclose(c.fixed_posterior, r.posterior.value) for c in r.composition)


def test_bad_input():
    with pytest.raises(DataError, match="twice"):
        mailing_risk(_probs([0.1, 0.2]), np.array([0, 0]))
    with pytest.raises(DataError, match="lie in"):
        mailing_risk(_probs([0.1, 0.2]), np.array([2]))
    with pytest.raises(DataError, match="decoy"):
        mailing_risk(_probs([0.1, 0.2]), np.array([0]), decoys=np.array([1]))
    with pytest.raises(ConfigError, match="mailings"):
        mailing_risk(_probs([0.1]), np.array([0]), mailings=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        _probs([0.1, 1.5])


def test_findings_judge_against_the_policy_class():
    pol = policy_from_dict({"max_posterior": 0.5, "max_posterior_by": {"reproductive": 0.1},
                            "max_epsilon": 1.0})
    risks = mailing_risk(_probs([0.9, 0.9, 0.0, 0.0, 0.0, 0.0]), np.array([0, 1]))
    fs = {f.check: f for f in inference_findings(risks, pol)}
    post = fs["inference.posterior.pregnancy"]
    assert post.severity == Severity.FAIL and post.threshold.limit == 0.1
    assert fs["inference.epsilon.pregnancy"].severity == Severity.FAIL
    assert "base rate" in post.explanation
    none = {f.check: f for f in inference_findings(risks, None)}
    assert none["inference.posterior.pregnancy"].severity == Severity.INFO
    assert "only decoy recipients, randomized targeting or suppression" in COVER_NOTE


def test_probabilities_from_tables():
    lib = load_library(only=["pregnancy", "new_baby"])
    base = pa.array([10, 20, 30], pa.int64())
    t = pa.table({"customer_id": [20, 10], "signature": ["pregnancy", "pregnancy"],
                  "probability": [0.8, 0.3]})
    probs = probabilities_from_table(t, base, "s.parquet", signatures=lib)
    floor = float(lib[[s.name for s in lib].index("pregnancy")].probability(0.0))
    assert probs.names == ("pregnancy",) and probs.sensitivity == ("reproductive",)
    assert probs.prob[0].tolist() == [0.3, 0.8, pytest.approx(floor)]
    labels = pa.table({"customer_id": ["30"], "signature": ["new_baby"]})
    lp = probabilities_from_table(labels, base, "l.csv", signatures=lib, kind="labels")
    assert lp.prob[0].tolist() == [0.0, 0.0, 1.0]
    with pytest.raises(SchemaError, match="no column 'probability'"):
        probabilities_from_table(labels, base, "l.csv", signatures=lib)
    with pytest.raises(DataError, match="not in the base"):
        probabilities_from_table(pa.table({"customer_id": [99], "signature": ["pregnancy"],
                                           "probability": [0.5]}), base, "s", signatures=lib)
    with pytest.raises(DataError, match="outside"):
        probabilities_from_table(pa.table({"customer_id": [10], "signature": ["pregnancy"],
                                           "probability": [1.5]}), base, "s", signatures=lib)
    with pytest.raises(DataError, match="not detectors"):
        probabilities_from_table(pa.table({"customer_id": [10], "signature": ["lottery"],
                                           "probability": [0.5]}), base, "s", signatures=lib)
    with pytest.raises(DataError, match="twice"):
        probabilities_from_table(pa.table({"customer_id": [10, 10],
                                           "signature": ["pregnancy"] * 2,
                                           "probability": [0.5, 0.4]}), base, "s",
                                 signatures=lib)
