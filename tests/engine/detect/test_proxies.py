"""Proxy discovery (engine.detect.proxies) on hand-made groups and counts.

The statistics themselves are tested in test_proxystats.py; here: the table's
columns, order and filters, the choice of non-overlapping proxies, the
generated signature's text (it must parse as TOML and load as a signature,
whatever the catalog's names hold) and the stage days, against plain
references from the docstrings.
"""

from __future__ import annotations

import math
import statistics
import tomllib

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.detect.features import FeatureGroups, _from_members
from basketguard.engine.detect.proxies import (
    choose_proxies,
    proxy_signature,
    proxy_table,
    report_rows,
    stage_days_of,
)
from basketguard.engine.histories.build import Histories
from basketguard.kernels.windows import NO_DAY
from basketguard.models.signatures.schema import signature_from_dict
from tests.reference import proxystats as naive

COLUMNS = ["rank", "group", "kind", "title", "positives_with", "negatives_with", "support",
           "support_pos", "support_neg", "confidence", "lift", "mutual_information",
           "log_odds_ratio", "direction", "p_value", "q_value", "significant",
           "model_contribution"]

N_POS, N_NEG = 40, 400
#: key, title, item codes, positives with, negatives with
GROUPS = [
    ("concept:vitamins", "Prenatal vitamins", [0, 1], 30, 10),
    ("level:type=vitamins", "type = Vitamins", [0, 1, 2], 32, 30),  # holds the concept
    ("item:10", "Brand A vitamins", [0], 25, 5),  # inside the concept
    ("item:13", "Cocoa cream", [3], 20, 8),
    ("level:department=food", "department = Food", [4, 5], 2, 200),  # depleted
    ("item:15", "Never bought", [5], 0, 0),
    ("concept:lotion", "Lotion", [2, 3], 15, 12),  # shares item 3 with item:13
    ("item:12", "Weak", [2], 3, 20),  # enriched, not significant
    ("item:16", "Empty group", [], 4, 0),
]


def groups() -> FeatureGroups:
    return _from_members([g[0] for g in GROUPS], [g[1] for g in GROUPS],
                         [np.array(g[2], np.int64) for g in GROUPS], 7)


def counts() -> np.ndarray:
    return np.array([[g[4] for g in GROUPS], [g[3] for g in GROUPS]], np.int64)


@pytest.fixture
def table() -> pa.Table:
    return proxy_table(groups(), counts(), N_POS, N_NEG, {"concept:vitamins": 0.25,
                                                          "item:13": -0.1})


# ------------------------------------------------------------------ proxy_table
def test_table_columns_and_types(table):
    assert table.column_names == COLUMNS
    assert table.schema.field("rank").type == pa.int32()
    assert table.schema.field("significant").type == pa.bool_()
    assert table.schema.field("direction").type == pa.int8()
    assert table.schema.field("model_contribution").type == pa.float64()


def test_table_rows_and_ranks(table):
    keys = table.column("group").to_pylist()
    assert "item:15" not in keys  # bought by nobody: not in the table
    assert sorted(keys) == sorted(g[0] for g in GROUPS if g[3] + g[4] >= 1)
    assert table.column("rank").to_pylist() == list(range(1, table.num_rows + 1))
    assert table.column("kind").to_pylist() == [k.split(":", 1)[0] for k in keys]
    titles = {g[0]: g[1] for g in GROUPS}
    assert table.column("title").to_pylist() == [titles[k] for k in keys]
    contrib = dict(zip(keys, table.column("model_contribution").to_pylist(), strict=True))
    assert contrib["concept:vitamins"] == 0.25 and contrib["item:13"] == -0.1
    assert contrib["item:10"] is None


def test_table_statistics_match_the_reference(table):
    where = {g[0]: i for i, g in enumerate(GROUPS)}
    ref = naive.association([g[3] for g in GROUPS], [g[4] for g in GROUPS], N_POS, N_NEG)
    rows = table.to_pylist()
    for r in rows:
        i = where[r["group"]]
        assert (r["positives_with"], r["negatives_with"]) == (GROUPS[i][3], GROUPS[i][4])
        for name in ("support", "support_pos", "support_neg", "confidence", "lift",
                     "mutual_information", "p_value"):
            assert math.isclose(r[name], ref[name][i], rel_tol=1e-9, abs_tol=1e-300), name
        assert r["direction"] == ref["direction"][i]
        assert np.sign(r["log_odds_ratio"]) == r["direction"]
        assert r["q_value"] >= r["p_value"]
        assert r["significant"] == (r["q_value"] <= 0.05)


def test_table_order_enriched_first_then_q_then_mi(table):
    rows = table.to_pylist()
    where = {g[0]: i for i, g in enumerate(GROUPS)}
    key = [(r["direction"] != 1, r["q_value"], -r["mutual_information"], where[r["group"]])
           for r in rows]
    assert key == sorted(key)
    assert rows[-1]["group"] == "level:department=food"  # the depleted group last


def test_q_values_are_corrected_over_the_groups_in_the_table(table):
    # The summary reports num_rows groups as "tested"; the Benjamini-Hochberg family
    # is those rows, not also the candidates left out of the table (never bought here).
    want = naive.benjamini_hochberg(table.column("p_value").to_pylist())
    np.testing.assert_allclose(table.column("q_value").to_numpy(), want, rtol=1e-12)


def test_min_customers_and_alpha():
    t = proxy_table(groups(), counts(), N_POS, N_NEG, min_customers=30)
    assert all(r["positives_with"] + r["negatives_with"] >= 30 for r in t.to_pylist())
    strict = proxy_table(groups(), counts(), N_POS, N_NEG, alpha=1e-30)
    assert sum(strict.column("significant").to_pylist()) < sum(
        proxy_table(groups(), counts(), N_POS, N_NEG).column("significant").to_pylist())


def test_report_rows_are_plain_json_values(table):
    rows = report_rows(table, top=3)
    assert len(rows) == 3 and list(rows[0]) == COLUMNS
    assert all(v is None or isinstance(v, str | int | bool) or v == round(v, 6)
               for r in rows for v in r.values())
    t = table.set_column(COLUMNS.index("lift"), "lift",
                         pa.array([math.inf] + [1.0] * (table.num_rows - 1)))
    assert report_rows(t, 1)[0]["lift"] is None


# ------------------------------------------------------------------ choose_proxies
def _overlap(a: set, b: set) -> float:
    return len(a & b) / min(len(a), len(b))


def test_choose_proxies_skips_repeats_of_a_chosen_group(table):
    g = groups()
    members = {k: set(m.tolist()) for k, m in zip(g.keys, g.members(), strict=True)}
    rows = choose_proxies(table, g, top=10)
    keys = [table.column("group")[r].as_py() for r in rows]
    sig = dict(zip(table.column("group").to_pylist(), table.column("significant").to_pylist(),
                   strict=True))
    direction = dict(zip(table.column("group").to_pylist(),
                         table.column("direction").to_pylist(), strict=True))
    assert rows == sorted(rows)  # in table order
    assert all(sig[k] and direction[k] == 1 for k in keys)
    assert "item:16" not in keys  # no items: nothing to put in a signature
    for i, a in enumerate(keys):
        for b in keys[:i]:
            assert _overlap(members[a], members[b]) < 0.5, (a, b)
    # every significant enriched group left out repeats one chosen before it
    for r, k in enumerate(table.column("group").to_pylist()):
        if k in keys or not sig[k] or direction[k] != 1 or not members[k]:
            continue
        assert any(_overlap(members[k], members[c]) >= 0.5
                   for c in keys if table.column("group").to_pylist().index(c) < r), k
    assert "concept:vitamins" in keys and "item:10" not in keys
    assert "level:type=vitamins" not in keys


def test_choose_proxies_overlap_exactly_half_is_a_repeat():
    g = _from_members(["concept:a", "concept:b", "concept:c"], ["A", "B", "C"],
                      [np.array([0, 1]), np.array([1, 2]), np.array([3, 4, 5])], 6)
    c = np.array([[5, 6, 7], [30, 29, 28]])
    t = proxy_table(g, c, N_POS, N_NEG)
    keys = [t.column("group")[r].as_py() for r in choose_proxies(t, g, top=10)]
    assert keys == ["concept:a", "concept:c"]  # b shares 1 of 2 items with a: skipped


def test_choose_proxies_top(table):
    assert len(choose_proxies(table, groups(), top=1)) == 1
    assert choose_proxies(table, groups(), top=0) == []


# ------------------------------------------------------------------ proxy_signature
def _signature_text(table, g, **kw):
    rows = choose_proxies(table, g, top=10)
    args = dict(name="pregnancy_proxies", title="Pregnancy (learned proxies)",
                sensitivity="reproductive", gdpr_art9="health", window_days=280,
                threshold=0.6, intercept=-4.25, slope=0.75, source="labels.csv column 'p'",
                item_ints=True, stage_days={"concept:vitamins": (-140, 30)},
                calibrated_on="labels.csv column 'p', 440 customers")
    return proxy_signature(table, rows, **(args | kw)), rows


def test_proxy_signature_parses_and_loads(table):
    g = groups()
    text, rows = _signature_text(table, g)
    doc = tomllib.loads(text)
    sig = signature_from_dict(doc, "<generated>")
    assert (sig.name, sig.title, sig.sensitivity, sig.gdpr_art9) == (
        "pregnancy_proxies", "Pregnancy (learned proxies)", "reproductive", "health")
    assert sig.window_days == 280 and sig.threshold == 0.6
    assert doc["link"]["intercept"] == -4.25 and doc["link"]["slope"] == 0.75
    assert len(sig.features) == len(rows)
    by_name = {f.name: f for f in sig.features}
    lor = table.column("log_odds_ratio").to_pylist()
    for r in rows:
        key = table.column("group")[r].as_py()
        kind, rest = key.split(":", 1)
        f = next(f for f in sig.features
                 if (kind == "concept" and f.concepts == (rest,))
                 or (kind == "item" and f.items == (int(rest),))
                 or (kind == "level" and f.levels == ((rest.split("=", 1)[0],
                                                       (rest.split("=", 1)[1],)),)))
        assert f.weight == round(min(max(lor[r], 0.05), 20.0), 3)
    assert by_name["concept_vitamins"].stage_day == -140
    assert by_name["concept_vitamins"].stage_spread == 30
    assert len(by_name) == len(rows)  # feature names are distinct


def test_proxy_signature_text_item_ids(table):
    text, _ = _signature_text(table, groups(), item_ints=False)
    sig = signature_from_dict(tomllib.loads(text), "<generated>")
    assert ("13",) in [f.items for f in sig.features]


def _one_group_table(key: str, title: str) -> tuple[pa.Table, FeatureGroups]:
    g = _from_members([key], [title], [np.array([0])], 1)
    return proxy_table(g, np.array([[2], [30]]), N_POS, N_NEG), g


# Catalog names and level values come from the user's files; the detector title and the
# label source from the command line. Whatever they hold, the text must stay valid TOML
# and say the same thing back.
ODD_TEXT = [
    ("a quote and a backslash in a level value", "level:type=size \"xl\" \\ big", "T", "T"),
    ("a newline in a catalog name", "item:3", "Cream 200ml\nname = \"hijack\"", "T"),
    ("a newline in a level value", "level:type=line one\nline two", "Lotion", "T"),
    ("a control character in a level value", "level:type=bad\x01value", "Lotion", "T"),
    ("triple quotes in the title", "concept:a", "A", 'Pregnancy """ learned'),
    ("a backslash in the title", "concept:a", "A", "Pregnancy \\ learned"),
]


@pytest.mark.parametrize("case, key, group_title, title", ODD_TEXT,
                         ids=[c[0] for c in ODD_TEXT])
def test_proxy_signature_survives_odd_text(case, key, group_title, title):
    t, g = _one_group_table(key, group_title)
    rows = choose_proxies(t, g)
    text = proxy_signature(t, rows, name="x_proxies", title=title, sensitivity="health",
                           gdpr_art9="none", window_days=365, threshold=0.5, intercept=-3.0,
                           slope=1.0, source="labels.csv", item_ints=True)
    doc = tomllib.loads(text)
    assert doc["title"] == title and title.lower() in doc["rationale"]
    sig = signature_from_dict(doc, "<generated>")
    assert len(sig.features) == 1
    kind, rest = key.split(":", 1)
    if kind == "level":
        assert sig.features[0].levels == (("type", (rest.split("=", 1)[1],)),)


@given(value=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)
       .filter(lambda s: s.strip()),
       group_title=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20),
       source=st.text(st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_proxy_signature_is_valid_toml_for_any_text(value, group_title, source):
    keys = [f"level:type={value}", f"item:{value}"]
    g = _from_members(keys, [group_title, group_title], [np.array([0]), np.array([1])], 2)
    t = proxy_table(g, np.array([[2, 3], [30, 31]]), N_POS, N_NEG)
    text = proxy_signature(t, [0, 1], name="x_proxies", title="T", sensitivity="health",
                           gdpr_art9="none", window_days=365, threshold=0.5, intercept=-3.0,
                           slope=1.0, source=source, item_ints=False)
    doc = tomllib.loads(text)
    assert doc["sources"] == [f"basketguard learn: {source}"]
    got = {(f.get("items") or [None])[0] for f in doc["feature"]} | {
        v[0] for f in doc["feature"] for v in f.get("levels", {}).values()}
    assert value in got


# ------------------------------------------------------------------ stage_days_of
def _histories(customers: list[list[tuple[int, int]]], n_items: int) -> Histories:
    offsets = np.zeros(len(customers) + 1, np.int64)
    np.cumsum([len(c) for c in customers], out=offsets[1:])
    rows = [ln for c in customers for ln in sorted(c, key=lambda ln: ln[1])]
    item = np.array([r[0] for r in rows], np.int32)
    day = np.array([r[1] for r in rows], np.int32)
    return Histories(offsets=offsets, item=item, day=day, basket=np.zeros(item.size, np.int32),
                     customer_ids=pa.array(range(len(customers)), pa.int64()),
                     item_ids=pa.array(range(n_items), pa.int64()))


def _stage_reference(customers, members, event, window, min_customers):
    out = {}
    for key, items in members.items():
        rel = []
        for lines, e in zip(customers, event, strict=True):
            days = [d for i, d in lines if i in items]
            if e == NO_DAY or not days:
                continue
            r = min(days) - e
            if -window <= r <= 0:
                rel.append(r)
        if len(rel) >= min_customers:
            med = statistics.median(rel)
            mad = statistics.median([abs(r - med) for r in rel])
            out[key] = (int(round(med)), max(7, int(round(1.4826 * mad))))
    return out


@given(st.lists(st.tuples(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 400)),
                                   max_size=6),
                          st.one_of(st.just(NO_DAY), st.integers(0, 400))),
                min_size=1, max_size=30),
       st.integers(10, 300), st.integers(1, 4))
def test_stage_days_match_the_reference(data, window, min_customers):
    customers = [c for c, _ in data]
    event = np.array([e for _, e in data], np.int32)
    keys = ["concept:a", "item:2", "level:t=x"]
    members = {"concept:a": {0, 1}, "item:2": {2}, "level:t=x": {1, 3}}
    g = _from_members(keys, keys, [np.array(sorted(members[k])) for k in keys], 4)
    hist = _histories(customers, 4)
    got = stage_days_of(hist, g, ["item:2", "concept:a", "level:t=x"], event, window,
                        min_customers)
    assert got == _stage_reference(customers, members, event.tolist(), window, min_customers)


def test_stage_days_of_no_keys():
    hist = _histories([[(0, 1)]], 1)
    g = _from_members(["item:0"], ["I"], [np.array([0])], 1)
    assert stage_days_of(hist, g, [], np.array([5], np.int32), 30) == {}
