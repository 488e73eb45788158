"""The optimizer and its verification (engine/mitigate/plan.py, verify.py).

Properties on small synthetic bases (hypothesis) and an end-to-end plan on the
simulator: after the recommended decoys the posterior is under the limit,
suppression never raises a risk measure, decoys avoid targets and opt-outs, a
seed fixes the plan, and verification measures again (a corrupted plan fails).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.detect.compile import catalog_view
from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Severity
from basketguard.engine.histories.build import Histories
from basketguard.engine.mitigate.inference import EventProbabilities
from basketguard.engine.mitigate.plan import RecommendOptions, recommend
from basketguard.engine.mitigate.verify import MailingContext, measure


def _base(rng: np.random.Generator, n: int, opt_out_share: float = 0.0):
    """A small base: histories, one event's probabilities, customers with two attributes."""
    lines = rng.integers(1, 6, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lines, out=offsets[1:])
    total = int(offsets[-1])
    item = rng.integers(0, 12, total).astype(np.int32)
    day = np.concatenate([np.sort(rng.integers(19_000, 19_060, c)) for c in lines]).astype(np.int32)
    hist = Histories(offsets=offsets, item=item, day=day, basket=np.zeros(total, np.int32),
                     customer_ids=pa.array(np.arange(n, dtype=np.int64) + 500),
                     item_ids=pa.array(np.arange(12, dtype=np.int64)))
    p = np.where(rng.random(n) < 0.1, rng.uniform(0.5, 1.0, n), rng.uniform(0.0, 0.04, n))
    probs = EventProbabilities(("pregnancy",), ("reproductive",), p.reshape(1, -1), (0.5,), "t")
    customers = pa.table({"customer": pa.array(np.arange(n, dtype=np.int64) + 500),
                          "age_band": pa.array(rng.choice(["18-24", "25-34", "35-44"], n)),
                          "region": pa.array(rng.choice(["north", "south"], n))})
    opt = np.flatnonzero(rng.random(n) < opt_out_share).astype(np.int64)
    return hist, probs, customers, opt


def _ctx(hist, probs, customers, opt, policy, seed=0):
    view = catalog_view(None, hist.item_ids, [])
    return MailingContext(hist, probs, policy, customers, view, None,
                          opt if opt is not None else None, 3, seed, 4)


@st.composite
def cases(draw):
    seed = draw(st.integers(0, 2**32))
    n = draw(st.integers(30, 250))
    rho = draw(st.sampled_from([0.05, 0.1, 0.2, 0.4]))
    share = draw(st.sampled_from([0.0, 0.1, 0.3]))
    return seed, n, rho, share


@settings(max_examples=25)
@given(cases())
def test_decoys_bring_the_posterior_under_rho(case):
    seed, n, rho, share = case
    rng = np.random.default_rng(seed)
    hist, probs, customers, opt = _base(rng, n, share)
    pol = policy_from_dict({"max_posterior": rho, "decoy_max_probability": 0.04})
    ctx = _ctx(hist, probs, customers, opt, pol, seed % 1000)
    p = probs.prob[0]
    members = np.flatnonzero(p >= 0.5)[:12]
    if members.size == 0:
        return
    plan = recommend(ctx, members, options=RecommendOptions(suppress=False))
    dec = plan.decoys
    # decoys: never targets, never opted out, never high-probability customers
    assert not np.isin(dec, members).any()
    assert not np.isin(dec, opt).any()
    assert (p[dec] < max(0.04, p.mean())).all()
    assert not np.isin(plan.recipients, opt).any()
    if plan.recipients.size == 0:  # every member opted out: nobody to mail
        assert np.isin(members, opt).all() and dec.size == 0
        return
    post = plan.after.value("inference.posterior.pregnancy")
    pool_ok = (~np.isin(np.arange(n), np.r_[members, opt]) & (p < max(0.04, p.mean()))).sum()
    if plan.verified:
        assert post <= rho * (1 + 1e-12)
        # the fewest: the shortest prefix of the decoy sequence, so even dropping the
        # decoy that lowers the posterior most (the smallest p) breaks the limit
        if dec.size:
            fewer = np.setdiff1d(plan.recipients, dec[np.argmin(p[dec])])
            assert p[fewer].mean() > rho * (1 + 1e-12)
    else:  # only when the pool ran out
        assert dec.size == pool_ok or plan.binding
    assert (np.union1d(np.setdiff1d(members, opt), dec) == plan.recipients).all()


@settings(max_examples=25)
@given(cases(), st.booleans(), st.sampled_from(["population", "segment"]))
def test_suppression_never_raises_a_measure(case, with_unicity, scope):
    seed, n, rho, _ = case
    rng = np.random.default_rng(seed)
    hist, probs, customers, opt = _base(rng, n)
    extra = {"max_unicity": 0.3, "unicity_p": 2, "unicity_points": "items"} \
        if with_unicity else {}
    pol = policy_from_dict({"max_posterior": rho, "max_epsilon": 1.0, "min_k": 2,
                            "k_scope": scope, "costs": {"lost_target": 0.01}, **extra})
    ctx = _ctx(hist, probs, customers, None, pol)
    members = np.flatnonzero(rng.random(n) < 0.3)
    if members.size < 2:
        return
    plan = recommend(ctx, members, options=RecommendOptions(decoys=False, generalize=False))
    assert np.isin(plan.recipients, members).all() and plan.decoys.size == 0
    for f in plan.after.findings:
        b = next(x for x in plan.before.findings if x.check == f.check)
        if f.check == "mailing.audience" or math.isnan(f.estimate.value):
            continue
        worse = f.estimate.value < b.estimate.value if f.threshold.direction == "min" \
            else f.estimate.value > b.estimate.value
        assert not worse or math.isclose(f.estimate.value, b.estimate.value), f.check


def test_same_seed_same_plan_and_other_seed_other_decoys(rng):
    hist, probs, customers, opt = _base(rng, 400)
    pol = policy_from_dict({"max_posterior": 0.1})
    members = np.flatnonzero(probs.prob[0] >= 0.5)
    a = recommend(_ctx(hist, probs, customers, opt, pol, 5), members)
    b = recommend(_ctx(hist, probs, customers, opt, pol, 5), members)
    c = recommend(_ctx(hist, probs, customers, opt, pol, 6), members)
    assert (a.recipients == b.recipients).all() and a.to_dict() == b.to_dict()
    assert not np.array_equal(a.decoys, c.decoys)


def test_verification_measures_again(rng):
    hist, probs, customers, opt = _base(rng, 400)
    pol = policy_from_dict({"max_posterior": 0.1, "min_audience": 20})
    members = np.flatnonzero(probs.prob[0] >= 0.5)
    ctx = _ctx(hist, probs, customers, opt, pol)
    plan = recommend(ctx, members)
    assert plan.verified and plan.before.severity == Severity.FAIL
    # corrupt the plan: send the mailing without its decoys; measuring again fails
    corrupt = np.setdiff1d(plan.recipients, plan.decoys)
    again = measure(ctx, corrupt, members=members)
    assert not again.passes
    assert again.value("inference.posterior.pregnancy") > 0.1
    # the recorded verification is the measurement of the amended mailing itself
    same = measure(ctx, plan.recipients, members=members)
    assert same.value("inference.posterior.pregnancy") == \
        plan.after.value("inference.posterior.pregnancy")


def test_infeasible_policy_names_the_binding_check(rng):
    hist, probs, customers, opt = _base(rng, 120)
    pol = policy_from_dict({"max_posterior": 0.001})
    members = np.flatnonzero(probs.prob[0] >= 0.5)
    plan = recommend(_ctx(hist, probs, customers, opt, pol), members,
                     options=RecommendOptions(suppress=False))
    assert not plan.verified
    assert [b["check"] for b in plan.binding] == ["inference.posterior.pregnancy"]
    assert plan.to_dict()["verified"] is False


def test_policy_errors(rng):
    hist, probs, customers, opt = _base(rng, 60)
    with pytest.raises(ConfigError, match="sets no check"):
        recommend(_ctx(hist, probs, customers, opt, policy_from_dict({})), np.array([0]))
    pol = policy_from_dict({"require_opt_out": True})
    with pytest.raises(ConfigError, match="no opt-out list"):
        recommend(_ctx(hist, probs, customers, None, pol), np.array([0]))


def test_opted_out_members_are_removed_and_counted(rng):
    hist, probs, customers, _ = _base(rng, 300)
    members = np.flatnonzero(probs.prob[0] >= 0.5)
    opt = members[:3]
    pol = policy_from_dict({"max_posterior": 0.2, "require_opt_out": True})
    plan = recommend(_ctx(hist, probs, customers, opt, pol), members)
    assert plan.actions["opted_out_members_removed"] == 3
    assert not np.isin(plan.recipients, opt).any()
    before = {f.check: f for f in plan.before.findings}
    assert before["mailing.opt_out"].severity == Severity.FAIL
    assert {f.check: f for f in plan.after.findings}["mailing.opt_out"].estimate.value == 0


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from basketguard.engine.api import load_histories
    from basketguard.engine.config.project import load_project
    from basketguard.models.simulator.run import SimConfig, simulate

    out = tmp_path_factory.mktemp("sim")
    res = simulate(SimConfig(customers=3000, seed=13), out / "data")
    project = load_project(res.paths["project"])
    return project, load_histories(project, use_cache=False)


@pytest.mark.slow
def test_plan_on_the_simulator(sim, tmp_path: Path):
    from basketguard.engine.mitigate.export import write_amended_segment
    from basketguard.engine.mitigate.inputs import mailing_context
    from basketguard.engine.reid.assess import segment_members

    project, hist = sim
    pol = policy_from_dict({"max_posterior": 0.1, "min_k": 3, "k_scope": "segment",
                            "attributes": ["age_band", "income_band"], "min_audience": 50})
    ctx = mailing_context(project, hist, pol)
    members, info = segment_members(project, hist, signature="pregnancy")
    plan = recommend(ctx, members, segment_info=info)
    doc = plan.to_dict()
    assert plan.verified, doc["binding"]
    assert doc["actions"]["decoys_added"] > 0
    assert plan.after.value("inference.posterior.pregnancy") <= 0.1
    assert plan.before.value("inference.posterior.pregnancy") > 0.1
    path = write_amended_segment(plan, ctx, tmp_path / "amended.parquet")
    t = pq.read_table(path)
    assert t.column_names[0] == "customer" and t.num_rows == plan.recipients.size
    ids = t.column("customer").to_pylist()
    assert ids == sorted(ids)  # nothing in the order tells a decoy from a target
    assert set(t.column_names) == {"customer", "age_band", "income_band"}


def test_the_demo_policy_is_the_example_file():
    from basketguard.engine.cli.demo import DEMO_POLICY
    from basketguard.engine.config.policy import load_policy
    from tests.conftest import REPO

    example = load_policy(REPO / "examples" / "policies" / "demo.toml")
    assert example.to_dict() == policy_from_dict(DEMO_POLICY).to_dict()


@pytest.mark.slow
def test_the_python_api_recommends(sim, tmp_path: Path):
    from basketguard.engine.api import recommend as api_recommend
    from tests.conftest import REPO

    project, _ = sim
    plan = api_recommend(project, policy=REPO / "examples" / "policies" / "demo.toml",
                         segment_signature="pregnancy", use_cache=False)
    doc = plan.to_dict()
    assert doc["verified"] is plan.verified
    assert doc["segment"]["source"].startswith("customers flagged")
