"""engine/reid/unicity: segments, point kinds, intervals, findings, shards, Online Retail.

Small histories are built by hand and compared with tests/reference/unicity.py;
the real-data test compares the engine with an independent brute force
(Python sets, Python's own random draws) on UCI Online Retail.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Severity
from basketguard.engine.histories.build import Histories
from basketguard.engine.reid.unicity import (
    POINT_KINDS,
    UnicityCounts,
    build_point_index,
    member_risk,
    unicity,
    unicity_counts,
)
from basketguard.engine.stats import cluster_wilson, wilson
from tests.conftest import REPO
from tests.reference import unicity as nu

UNITS = {"items": 0, "item-day": 1, "item-week": 2, "item-month": 3, "store-day": 1}


def make_hist(lines, n_customers=None, ids=None) -> Histories:
    """Histories from (customer, item, day, store) tuples (customer codes 0..n-1)."""
    lines = sorted(lines, key=lambda t: (t[0], t[2]))
    n = n_customers if n_customers is not None else 1 + max((t[0] for t in lines), default=-1)
    counts = np.bincount([t[0] for t in lines], minlength=n).astype(np.int64)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    col = lambda k: np.array([t[k] for t in lines], np.int32)  # noqa: E731
    n_items = 1 + max((t[1] for t in lines), default=-1)
    n_stores = 1 + max((t[3] for t in lines), default=-1)
    return Histories(
        offsets=offsets, item=col(1), day=col(2), basket=np.zeros(len(lines), np.int32),
        customer_ids=pa.array(ids if ids is not None else [1000 + c for c in range(n)]),
        item_ids=pa.array([f"i{i}" for i in range(n_items)]),
        store=col(3), store_ids=pa.array([f"s{s}" for s in range(n_stores)]))


@st.composite
def histories(draw):
    n = draw(st.integers(1, 6))
    lines = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 3),
                                    st.integers(18_990, 19_050), st.integers(0, 2)),
                          max_size=25))
    return make_hist(lines, n_customers=n)


def _reference(hist, kind, members, p_max, draws, seed):
    unit = UNITS[kind]
    hi = hist.store if kind == "store-day" else hist.item
    sets, _, _ = nu.point_sets(hist.offsets, hi, hist.day, unit)
    rows = nu.smallest(sets, members, p_max, draws, seed)
    return sets, rows, nu.counts([len(sets[m]) for m in members], rows, p_max)


@given(hist=histories(), kind=st.sampled_from(sorted(POINT_KINDS)), p_max=st.integers(1, 5),
       draws=st.integers(1, 4), data=st.data())
def test_unicity_matches_reference(hist, kind, p_max, draws, data):
    members = data.draw(st.lists(st.integers(0, hist.n_customers - 1), unique=True, max_size=6))
    res = unicity(hist, np.array(members, np.int64), points=kind, p_max=p_max, draws=draws,
                  seed=3)
    sets, rows, ref = _reference(hist, kind, members, p_max, draws, 3)
    assert res.smallest.tolist() == rows
    assert res.counts.eligible.tolist() == ref["eligible"]
    assert res.counts.unique.tolist() == ref["unique"]
    assert res.counts.p_unique.tolist() == ref["p_unique"]
    assert res.n_points.tolist() == [len(sets[m]) for m in members]
    for p in range(1, p_max + 1):
        est = res.unicity[p - 1]
        eligible = ref["eligible"][p - 1]
        assert res.excluded(p) == len(members) - eligible
        if eligible:
            assert est.value == pytest.approx(ref["unique"][p - 1] / (eligible * draws))
            assert est.low <= est.value <= est.high
        else:
            assert math.isnan(est.value)
        # per-member risk is the share of that member's draws unique at p
        for j, m in enumerate(members):
            want = (sum(1 for s in rows[j] if s and s <= p) / draws
                    if len(sets[m]) >= p else float("nan"))
            got = res.risk[j, p - 1]
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


@given(hist=histories(), cut=st.integers(0, 6), kind=st.sampled_from(["items", "item-week"]))
def test_shard_counts_merge_to_the_single_run(hist, cut, kind):
    index = build_point_index(hist, kind)
    everyone = np.arange(hist.n_customers)
    whole = unicity(hist, points=kind, p_max=3, draws=3, seed=9, index=index)
    a, _ = unicity_counts(hist, everyone[:cut], index, p_max=3, draws=3, seed=9)
    b, _ = unicity_counts(hist, everyone[cut:][::-1], index, p_max=3, draws=3, seed=9)
    merged = a.merge(b).finalize()
    for name in ("members", "no_points", "eligible", "unique", "unique_sq", "p_unique"):
        assert np.array_equal(getattr(merged.counts, name), getattr(whole.counts, name)), name
    assert merged.table() == whole.table()


def test_merge_refuses_different_settings():
    with pytest.raises(ConfigError, match="cannot merge"):
        UnicityCounts("items", 3, 2, 0).merge(UnicityCounts("items", 3, 2, 1))


def test_segment_by_original_ids_and_errors():
    hist = make_hist([(0, 0, 1, 0), (1, 1, 1, 0), (2, 0, 1, 0), (2, 1, 2, 0)],
                     ids=["a", "b", "c"])
    res = unicity(hist, member_ids=["c", "a"], points="items", p_max=2, draws=2)
    assert res.members.tolist() == [2, 0]
    same = unicity(hist, np.array([2, 0]), points="items", p_max=2, draws=2)
    assert same.smallest.tolist() == res.smallest.tolist()
    with pytest.raises(DataError, match="not customers"):
        unicity(hist, member_ids=["a", "zz"])
    with pytest.raises(DataError, match="more than once"):
        unicity(hist, np.array([1, 1]))
    with pytest.raises(DataError, match="lie in"):
        unicity(hist, np.array([3]))
    with pytest.raises(ConfigError, match="not both"):
        unicity(hist, np.array([0]), member_ids=["a"])


@pytest.mark.parametrize("kwargs, match", [
    ({"points": "item-year"}, "unknown point kind"),
    ({"p_max": 0}, "p_max"), ({"draws": -1}, "draws"), ({"seed": -5}, "seed"),
    ({"confidence": 1.0}, "confidence"),
])
def test_options_are_validated(kwargs, match):
    hist = make_hist([(0, 0, 1, 0)])
    with pytest.raises(ConfigError, match=match):
        unicity(hist, **kwargs)


def test_store_day_needs_stores():
    hist = make_hist([(0, 0, 1, 0)])
    hist.store = None
    with pytest.raises(ConfigError, match="store"):
        unicity(hist, points="store-day")


def test_index_kind_must_match():
    hist = make_hist([(0, 0, 1, 0)])
    with pytest.raises(ConfigError, match="index"):
        unicity(hist, points="items", index=build_point_index(hist, "item-day"))


def test_findings_hold_aggregates_only():
    lines = [(c, c % 3, 19_000 + c % 5, 0) for c in range(40)] + [(c, 7, 19_001, 0)
                                                                  for c in range(0, 40, 2)]
    hist = make_hist(lines, ids=[900_000 + c for c in range(40)])
    res = unicity(hist, points="item-day", p_max=3, draws=4, seed=1)
    found = res.findings(warn=0.05, fail=0.5)
    assert [f.details["p"] for f in found] == [1, 2, 3]
    for f in found:
        assert f.check == "reid.unicity"
        assert f.severity in (Severity.PASS, Severity.WARN, Severity.FAIL)
        text = json.dumps(f.to_dict())
        assert "900000" not in text and "900001" not in text
        assert f.details["eligible"] + f.details["excluded"] == 40
    assert res.findings(ps=[2])[0].severity == Severity.INFO
    with pytest.raises(ConfigError):
        res.findings(ps=[4])


def test_nobody_unique_when_everyone_is_identical():
    lines = [(c, i, 19_000, 0) for c in range(5) for i in range(3)]
    res = unicity(make_hist(lines), points="item-day", p_max=3, draws=5)
    assert res.counts.unique.tolist() == [0, 0, 0]
    assert all(e.value == 0 for e in res.unicity)
    assert res.p_unique.tolist() == [0] * 5


def test_empty_segment_and_members_without_lines():
    hist = make_hist([(0, 0, 1, 0)], n_customers=3)
    res = unicity(hist, points="items", p_max=2, draws=2)
    assert res.counts.members == 3 and res.counts.no_points == 2
    assert res.excluded(1) == 2 and res.unicity[0].value == 1.0
    empty = unicity(hist, np.array([], np.int64), points="items", p_max=2)
    assert empty.counts.members == 0 and math.isnan(empty.unicity[0].value)
    assert empty.findings(warn=0.1)[0].severity == Severity.WARN  # NaN never passes


def test_interval_between_wilson_on_members_and_on_draws():
    # every member's draws agree: the interval is Wilson over members
    est = cluster_wilson(unique=30 * 10, unique_sq=30 * 100, members=100, draws=10)
    ref = wilson(30, 100)
    assert est.value == pytest.approx(0.3)
    assert (est.low, est.high) == pytest.approx((ref.low, ref.high))
    # draws independent of the member (binomial spread): close to Wilson over all draws
    rng = np.random.default_rng(4)
    u = rng.binomial(10, 0.3, 5000)
    est = cluster_wilson(int(u.sum()), int((u * u).sum()), 5000, 10)
    ref = wilson(int(u.sum()), 50_000)
    assert est.high - est.low == pytest.approx(ref.high - ref.low, rel=0.1)
    assert math.isnan(cluster_wilson(0, 0, 0, 10).value)


def test_member_risk_and_median_p():
    smallest = np.array([[1, 2, 0, 2], [0, 0, 0, 3], [0, 0, 0, 0]], np.int8)
    risk, p_unique = member_risk(np.array([5, 3, 1]), smallest, 3)
    assert risk[0].tolist() == [0.25, 0.75, 0.75]
    assert risk[1].tolist() == [0.0, 0.0, 0.25]
    assert risk[2, 0] == 0.0 and np.isnan(risk[2, 1:]).all()
    assert p_unique.tolist() == [2, 0, 0]


# --------------------------------------------------------------- Online Retail

PROJECT = REPO / "examples" / "online_retail.toml"
KINDS = ("item-day", "item-month", "items")


def brute_force(hist, kind, draws, seed):
    """Unicity at p = 1..5 with Python sets and Python's own random draws."""
    import datetime as dt

    rnd = random.Random(seed)
    epoch = dt.date(1970, 1, 1)
    sets = []
    for c in range(hist.n_customers):
        pts = set()
        for i in range(int(hist.offsets[c]), int(hist.offsets[c + 1])):
            item, day = int(hist.item[i]), int(hist.day[i])
            if kind == "items":
                pts.add(item)
            elif kind == "item-day":
                pts.add((item, day))
            else:
                d = epoch + dt.timedelta(days=day)
                pts.add((item, d.year, d.month))
        sets.append(pts)
    holders: dict = {}
    for c, pts in enumerate(sets):
        for x in pts:
            holders.setdefault(x, set()).add(c)
    unique = [0] * 5
    unique_sq = [0] * 5
    eligible = [0] * 5
    for c, pts in enumerate(sets):
        ordered = sorted(pts)
        us = [0] * 5
        for _ in range(draws):
            known = rnd.sample(ordered, min(5, len(ordered)))
            for p in range(1, len(known) + 1):
                if set.intersection(*(holders[x] for x in known[:p])) == {c}:
                    us[p - 1] += 1
        for p in range(1, min(5, len(ordered)) + 1):
            eligible[p - 1] += 1
            unique[p - 1] += us[p - 1]
            unique_sq[p - 1] += us[p - 1] ** 2
    return [cluster_wilson(unique[p], unique_sq[p], eligible[p], draws) for p in range(5)]


@pytest.mark.jit
@pytest.mark.slow
def test_online_retail_agrees_with_brute_force(datasets, cache_dir):
    from basketguard.engine.api import load_histories

    hist = load_histories(PROJECT, cache_dir=cache_dir)
    for kind in KINDS:
        res = unicity(hist, points=kind, p_max=5, draws=10, seed=2015)
        brute = brute_force(hist, kind, draws=3, seed=1)
        for p in range(1, 6):
            a, b = res.unicity[p - 1], brute[p - 1]
            width = max(a.high - a.low, b.high - b.low) / 2
            assert abs(a.value - b.value) <= width, (kind, p, a, b)
        # and exactly the reference on the engine's own draws, for a few members
        sample = np.arange(0, hist.n_customers, 97)
        sub = unicity(hist, sample, points=kind, p_max=5, draws=2, seed=2015)
        sets, _, _ = nu.point_sets(hist.offsets, hist.item, hist.day, UNITS[kind])
        for j, m in enumerate(sample):
            keys = sorted(sets[m])
            for d in range(2):
                known = [keys[i] for i in nu.draw_order(2015, int(m), len(keys),
                                                        min(5, len(keys)), d)]
                p = int(sub.smallest[j, d])
                if p:
                    assert nu.unique(sets, m, known[:p])
                    assert p == 1 or not nu.unique(sets, m, known[:p - 1])
                else:
                    assert not nu.unique(sets, m, known)
