"""Attribute classes of a segment (engine.classes) against tests/reference/classes.py."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.findings import Severity
from basketguard.engine.reid.attributes import encode_attributes, load_hierarchies, member_rows
from basketguard.engine.reid.classes import ClassPolicy, assess_classes, classes_from_project
from basketguard.engine.reid.uniqueness import Histogram, population_uniqueness
from tests.reference import classes as naive


def _customers(**cols) -> pa.Table:
    n = len(next(iter(cols.values())))
    return pa.table({"customer": pa.array(range(100, 100 + n), pa.int64()), **cols})


@st.composite
def populations(draw):
    n = draw(st.integers(1, 30))
    age = draw(st.lists(st.sampled_from(["18-24", "25-34", None]), min_size=n, max_size=n))
    kids = draw(st.lists(st.sampled_from([0, 1, 2]), min_size=n, max_size=n))
    sex = draw(st.lists(st.sampled_from(["f", "m"]), min_size=n, max_size=n))
    table = _customers(age=pa.array(age, pa.string()), kids=pa.array(kids, pa.int64()),
                       sex=pa.array(sex))
    members = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n))
    sens = draw(st.lists(st.sampled_from(["a", "b", None]), min_size=n, max_size=n))
    return table, members, sens


@given(populations(), st.integers(1, 4), st.integers(1, 3))
def test_measures_match_naive(data, k, l):  # noqa: E741
    table, members, sens = data
    ids = [100 + m for m in members]
    distinct_members = list(dict.fromkeys(members))
    sens_members = [sens[m] for m in distinct_members]
    res = assess_classes(table, pa.array(ids, pa.int64()),
                         sensitive=pa.array(sens_members, pa.string()),
                         policy=ClassPolicy(k=k, l=l))
    recs = list(zip(*(table.column(c).to_pylist() for c in ("age", "kids", "sex")), strict=True))
    seg_k, pop_k = naive.kmap(recs, distinct_members)
    for summary, sizes in ((res.segment, seg_k), (res.population, pop_k)):
        ref = naive.risk_measures(sizes, k)
        assert summary.records == len(distinct_members)
        assert summary.min_k == ref["min_k"]
        assert summary.prosecutor == pytest.approx(ref["prosecutor"])
        assert summary.average == pytest.approx(ref["average"])
        assert summary.small_share == pytest.approx(ref["small_share"])
        assert summary.unique_records / summary.records == pytest.approx(ref["unique_share"])
        assert summary.classes == len({recs[m] for m in distinct_members})
    # average risk within the segment = classes / records (ARX)
    assert res.segment.average == pytest.approx(res.segment.classes / res.segment.records)
    # l-diversity within the segment's classes
    seg_tuples = list(dict.fromkeys(recs[m] for m in distinct_members))
    index = {t: j for j, t in enumerate(seg_tuples)}
    distinct, entropy = naive.diversity([index[recs[m]] for m in distinct_members],
                                        len(seg_tuples), [hash(s) for s in sens_members])
    d = res.diversity
    assert d.min_distinct == min(distinct)
    assert d.min_entropy == pytest.approx(min(entropy))
    assert d.classes_below == sum(1 for x in distinct if x < l)
    for f in res.findings():
        json.dumps(f.to_dict())


def test_nulls_are_a_value_of_their_own():
    t = _customers(a=pa.array([None, None, "x", "x"]))
    res = assess_classes(t, [100, 101, 102, 103], policy=ClassPolicy(k=2))
    assert res.segment.classes == 2 and res.segment.min_k == 2
    codes = encode_attributes(t)
    assert codes.cards == (2,) and None in codes.labels[0]


def test_kmap_is_against_the_whole_customer_base():
    t = _customers(a=pa.array(["x", "x", "x", "y", "y"]))
    res = assess_classes(t, [100, 103], policy=ClassPolicy(k=2))
    # within the segment both are unique; in the customer base classes of 3 and 2
    assert res.segment.min_k == 1 and res.segment.prosecutor == 1.0
    assert res.population.min_k == 2
    assert res.population.average == pytest.approx((1 / 3 + 1 / 2) / 2)
    sev = {f.check: f.severity for f in res.findings()}
    assert sev["reid.k_anonymity.prosecutor"] == Severity.FAIL
    assert sev["reid.k_map.prosecutor"] == Severity.PASS
    assert sev["reid.k_map.small_classes"] == Severity.PASS
    assert sev["reid.k_map.average"] == Severity.INFO


def test_hierarchies_generalize_and_star_default(tmp_path):
    t = _customers(age=pa.array(["18-24", "25-34", "35-44", "65+"]),
                   kids=pa.array([1, 2, 3, 0]))
    path = tmp_path / "h.toml"
    path.write_text('[hierarchies.age]\n"18-24" = "18-34"\n"25-34" = "18-34"\n"*" = "35+"\n'
                    '[hierarchies.kids]\n"0" = "none"\n"*" = "some"\n')
    h = load_hierarchies(path)
    assert h["kids"] == {"0": "none", "*": "some"}
    res = assess_classes(t, [100, 101, 102, 103], hierarchies=h, policy=ClassPolicy(k=2))
    # (18-34, some) x2, (35+, some), (35+, none)
    assert res.segment.classes == 3 and res.segment.min_k == 1
    assert res.generalized == ("age", "kids")
    res2 = assess_classes(t, [100, 101], attributes=["age"],
                          hierarchies={"age": {"18-24": "a", "25-34": "a", "*": "b"}},
                          policy=ClassPolicy(k=2))
    assert res2.segment.min_k == 2


def test_hierarchy_must_cover_every_value():
    t = _customers(age=pa.array(["18-24", "25-34"]))
    with pytest.raises(ConfigError, match="'25-34'"):
        assess_classes(t, [100], hierarchies={"age": {"18-24": "young"}})


@pytest.mark.parametrize("kwargs, match", [
    ({"attributes": ["age", "postcode"]}, r"'postcode'.*available: age, kids"),
    ({"hierarchies": {"kids": {"*": "x"}}, "attributes": ["age"]}, r"'kids'.*exported: age"),
    ({"attributes": ["age", "age"]}, "twice"),
])
def test_config_errors_name_the_attribute(kwargs, match):
    t = _customers(age=pa.array(["a"]), kids=pa.array([1]))
    with pytest.raises(ConfigError, match=match):
        assess_classes(t, [100], **kwargs)


def test_data_errors():
    t = _customers(a=pa.array(["x", "y", "z"]))
    with pytest.raises(DataError, match="empty"):
        assess_classes(t, pa.array([], pa.int64()))
    with pytest.raises(DataError, match=r"2 of 3 segment member\(s\) are not in the customers"):
        assess_classes(t, [100, 7, 8])
    dup = pa.table({"customer": [1, 1], "a": ["x", "y"]})
    with pytest.raises(DataError, match="appears 2 times"):
        member_rows(dup.column("customer"), pa.array([1]))
    with pytest.raises(SchemaError, match="same kind"):
        assess_classes(t, pa.array(["100"]))
    with pytest.raises(DataError, match="one value per member"):
        assess_classes(t, [100, 101], sensitive=np.array([1, 2, 3]))
    with pytest.raises(ConfigError, match="sampling_fraction"):
        ClassPolicy(sampling_fraction=0.0)


def test_repeated_members_count_once_and_findings_hold_no_ids():
    t = _customers(a=pa.array(["x", "y", "y"]))
    res = assess_classes(t, [101, 101, 102, 100], sensitive="a",
                         policy=ClassPolicy(k=2, sampling_fraction=0.5))
    assert res.segment.records == 3
    text = json.dumps([f.to_dict() for f in res.findings()])
    for cid in ("100", "101", "102"):
        assert cid not in text
    assert res.uniqueness.sample_uniques == 1  # 'x' is unique in the customer base
    ref = population_uniqueness(Histogram.of([1, 2], [1, 1]), 0.5)
    assert res.uniqueness.uniques == ref.uniques
    checks = [f.check for f in res.findings()]
    assert checks[-2:] == ["reid.l_diversity", "reid.population_uniqueness"]
    assert res.diversity.min_distinct == 1  # the sensitive column is the attribute itself


def test_chunked_and_dictionary_columns():
    a = pa.chunked_array([pa.array(["x", None]), pa.array([], pa.string()),
                          pa.array(["x"]).dictionary_encode().dictionary_decode()])
    t = pa.table({"customer": pa.chunked_array([[5, 6], [], [7]]), "a": a})
    res = assess_classes(t, [5, 7])
    assert res.segment.min_k == 2 and math.isclose(res.population.average, 0.5)


@pytest.mark.jit
def test_from_simulated_project(tmp_path):
    from basketguard.engine.config.project import load_project
    from basketguard.models.simulator.run import SimConfig, simulate

    sim = simulate(SimConfig(customers=400, seed=5), tmp_path)
    ids = pq.read_table(sim.paths["customers"], columns=["customer_id"]).column(0)
    pq.write_table(pa.table({"customer_id": ids.take(pa.array(range(0, 400, 4)))}),
                   tmp_path / "segment.parquet")
    proj = sim.paths["project"]
    proj.write_text(proj.read_text() + '\n[segment]\nsource = "segment.parquet"\n'
                    '[segment.columns]\ncustomer = "customer_id"\n')
    res = classes_from_project(load_project(proj), attributes=["age_band", "gender"],
                               policy=ClassPolicy(k=3, sampling_fraction=0.01))
    assert res.segment.records == 100 and res.customers == 400
    assert res.population.min_k >= res.segment.min_k
    assert res.uniqueness is not None and res.uniqueness.dankar_model in (
        "none", "pitman", "zayatz")
    full = classes_from_project(load_project(proj))
    assert full.attributes == ("age_band", "income_band", "postcode_prefix", "household_size",
                               "children", "marital_status", "gender")
    # a segment CSV holds text: its ids take the customers table's kind (as in the lines)
    (tmp_path / "segment.csv").write_text(
        "customer_id\n" + "\n".join(f"{i}.0" for i in ids.take(pa.array(range(0, 400, 4)))
                                     .to_pylist()) + "\n")
    proj.write_text(proj.read_text().replace('"segment.parquet"', '"segment.csv"'))
    from_csv = classes_from_project(load_project(proj), attributes=["age_band", "gender"],
                                    policy=ClassPolicy(k=3, sampling_fraction=0.01))
    assert from_csv.segment == res.segment and from_csv.population == res.population
