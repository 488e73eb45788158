"""Resolving signatures against catalogs (engine.signatures): what must and must not match."""

from __future__ import annotations

import copy
import dataclasses
import re
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from basketguard.engine.detect.compile import catalog_view, describe, resolve
from basketguard.engine.errors import ConfigError, SchemaError
from basketguard.kernels import windows as kw
from basketguard.models.signatures.schema import load_library, signature_from_dict
from tests.reference import windows as naive

SIG_PATH = Path("/signatures/test_sig.toml")

# item, name, department, type; 19 is in the catalog but never bought, 99 bought but
# not in the catalog, 20 has no name.
ROWS = [
    (10, "Prenatal Vitamins 60 tabs", "Health", "Prenatal Vitamins"),
    (11, "Folic Acid 400ug", "Health", "Vitamins"),
    (12, "Cocoa Butter Lotion 400ml", "Toiletries", "Body Lotion"),
    (13, "Unscented Body Lotion 400ml", "Toiletries", "Body Lotion"),
    (14, "UNSCENTED lotion 200ml", "toiletries", "body lotion"),
    (15, "Cat Food Chicken", "Pets", "Pet Food"),
    (16, "Kosher Chicken Breast", "Meat", "Chicken"),
    (17, "Kosher Salt 500g", "Grocery", "Seasoning"),
    (18, "Chicken Soup Kosher", "Grocery", "Soup"),
    (19, "Unscented Lotion (never bought)", "Toiletries", "Body Lotion"),
    (20, None, "Toiletries", "Body Lotion"),
]
BOUGHT = [10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 99]
LEVELS = ["department", "type"]


def catalog(string_ids: bool = False, with_names: bool = True, levels=LEVELS) -> pa.Table:
    cols = {"item": [str(r[0]) if string_ids else r[0] for r in ROWS]}
    if with_names:
        cols["name"] = [r[1] for r in ROWS]
    for j, lv in enumerate(LEVELS):
        if lv in levels:
            cols[lv] = [r[2 + j] for r in ROWS]
    return pa.table(cols)


def item_ids(string_ids: bool = False) -> pa.Array:
    ids = sorted(BOUGHT, key=lambda v: str(v) if string_ids else v)
    return pa.array([str(v) for v in ids] if string_ids else ids,
                    pa.string() if string_ids else pa.int64())


def sig(*features, name="test_sig", intercept=-4.0, **top) -> dict:
    doc = {"name": name, "sensitivity": "health", "window_days": 30,
           "link": {"intercept": intercept, "slope": 1.0}, "feature": list(features)}
    doc.update(top)
    return doc


def feat(name="f", weight=1.0, **kw) -> dict:
    return {"name": name, "weight": weight, **kw}


def compile_(*docs, cat=None, ids=None, levels=LEVELS, has_quantity=True):
    ids = item_ids() if ids is None else ids
    sigs = tuple(signature_from_dict(copy.deepcopy(d), str(SIG_PATH), SIG_PATH) for d in docs)
    view = catalog_view(catalog() if cat is None else cat, ids, levels, where="catalog.parquet")
    return resolve(sigs, view, ids, has_quantity), view, ids


def matched(feature: dict, **kw) -> set:
    """Original ids of the items one feature matches."""
    lib, _, ids = compile_(sig(feature), **kw)
    return {ids[int(c)].as_py() for c in lib.features[0].items}


# ------------------------------------------------------------------ must / must not match
MATCH = [
    # (id, feature criteria, must match, must not match)
    ("level-case-insensitive", {"levels": {"type": ["BODY LOTION"]}}, {12, 13, 14, 20},
     {10, 19}),
    ("level-several-values", {"levels": {"type": ["prenatal vitamins", "Vitamins"]}}, {10, 11},
     {12}),
    ("two-levels-and", {"levels": {"department": ["Toiletries"], "type": ["Body Lotion"]}},
     {12, 13, 14, 20}, {15}),
    ("level-value-unknown", {"levels": {"type": ["Lotions"]}}, set(), {12, 13}),
    ("names-regex-case-insensitive", {"names": ["unscented.*lotion"]}, {13, 14}, {12, 19, 20}),
    ("names-any-pattern", {"names": ["^cat food", r"folic\s+acid"]}, {11, 15}, {16}),
    ("names-word-boundary", {"names": [r"\bsalt\b"]}, {17}, {16}),
    ("names-and-levels", {"levels": {"type": ["Body Lotion"]}, "names": ["cocoa"]}, {12},
     {13, 14, 20}),
    ("names-do-not-cross-levels", {"levels": {"type": ["Chicken"]}, "names": ["kosher"]}, {16},
     {17, 18}),
    ("exclude", {"names": ["kosher"], "exclude": ["salt", "^zzz"]}, {16, 18}, {17}),
    ("exclude-case-insensitive", {"names": ["chicken"], "exclude": ["CAT FOOD"]}, {16, 18},
     {15}),
    ("explicit-items", {"items": [15, 99]}, {15, 99}, {16}),
    ("explicit-items-not-bought", {"items": [19, 1234]}, set(), {19}),
    ("explicit-items-or-criteria", {"names": ["folic"], "items": [99]}, {11, 99}, {10}),
]


@pytest.mark.parametrize("criteria, yes, no", [pytest.param(*c[1:], id=c[0]) for c in MATCH])
def test_match(criteria, yes, no):
    got = matched(feat(**criteria))
    assert yes <= got, got
    assert not (no & got), got
    if not yes:
        assert got == set()


def test_string_item_ids():
    f = feat(names=["kosher"], exclude=["salt"], items=["15", "99"])
    assert matched(f, cat=catalog(string_ids=True), ids=item_ids(True)) == {"15", "16", "18", "99"}


@pytest.mark.parametrize("string_ids, items", [(False, ["15"]), (True, [15])])
def test_explicit_items_of_wrong_kind(string_ids, items):
    with pytest.raises(ConfigError, match=r"feature 'f' items: .*list them as") as err:
        compile_(sig(feat(items=items)), cat=catalog(string_ids=string_ids),
                 ids=item_ids(string_ids))
    assert str(SIG_PATH) in str(err.value)


def test_catalog_and_lines_ids_of_different_kinds():
    with pytest.raises(SchemaError, match="catalog.parquet"):
        compile_(sig(feat(items=[15])), cat=catalog(string_ids=True))


def test_unknown_level_with_taxonomy():
    with pytest.raises(ConfigError) as err:
        compile_(sig(feat(levels={"typ": ["Chicken"]}, names=["kosher"])))
    msg = str(err.value)
    assert str(SIG_PATH) in msg and "levels.typ" in msg and "Did you mean 'type'" in msg


def test_unknown_baseline_level():
    with pytest.raises(ConfigError, match="baseline_level") as err:
        compile_(sig(feat(names=["lotion"], larger_than_usual=1.5, baseline_level="kind")))
    assert str(SIG_PATH) in str(err.value)


def test_catalog_without_taxonomy_falls_back_to_names():
    doc = sig(feat("a", levels={"type": ["Chicken"]}, names=["kosher"]),
              feat("b", levels={"type": ["Body Lotion"]}))
    lib, _, ids = compile_(doc, cat=catalog(levels=[]), levels=[])
    got = {ids[int(c)].as_py() for c in lib.features[0].items}
    assert got == {16, 17, 18}  # levels dropped: every "kosher" name
    assert lib.features[0].how == "names"
    assert any("taxonomy levels" in w and "names only" in w for w in lib.warnings), lib.warnings
    assert lib.features[1].items.size == 0
    assert lib.coverage[0].unmatched == ("b",)
    assert not any("matches no item" in w for w in lib.warnings)  # in the coverage table


def test_catalog_without_names_uses_levels():
    lib, _, ids = compile_(sig(feat(levels={"type": ["Chicken"]}, names=["zzz"])),
                           cat=catalog(with_names=False))
    assert {ids[int(c)].as_py() for c in lib.features[0].items} == {16}
    assert any("maps no item names" in w for w in lib.warnings), lib.warnings


def test_no_catalog_only_explicit_items():
    ids = item_ids()
    sigs = (signature_from_dict(sig(feat("a", names=["kosher"]), feat("b", items=[16])),
                                str(SIG_PATH), SIG_PATH),)
    view = catalog_view(None, ids, [])
    lib = resolve(sigs, view, ids, True)
    assert lib.features[0].items.size == 0
    assert [ids[int(c)].as_py() for c in lib.features[1].items] == [16]
    assert lib.coverage[0].matched == ("b",) and lib.coverage[0].unmatched == ("a",)


def test_feature_and_signature_matching_nothing_is_coverage():
    lib, _, _ = compile_(sig(feat("a", names=["zzz"])),
                         sig(feat("b", names=["kosher"]), feat("c", names=["qqq"]), name="other"))
    by = {c.signature: c for c in lib.coverage}
    none, other = by["test_sig"], by["other"]
    assert none.matched == () and none.share == 0.0 and none.reachable_score == 0.0
    assert not none.reachable and "cannot detect" in none.sentence()
    assert other.matched == ("b",) and other.unmatched == ("c",) and other.share == 0.5
    assert other.reachable_score == 1.0  # feat()'s default weight


def test_no_quantity_column_drops_quantity_condition():
    doc = sig(feat(names=["unscented"], larger_than_usual=1.5, baseline_level="type"))
    lib, _, _ = compile_(doc, has_quantity=False)
    assert lib.n_groups == 0 and not lib.features[0].quantity_condition
    assert (lib.tables.slot_feat_group == -1).all() and lib.tables.feat_ratio[0] == 0.0
    assert any("no quantity column" in w and "ignored" in w for w in lib.warnings)


def test_link_flagging_at_score_zero():
    with pytest.raises(ConfigError, match=r"\[link\].*score 0") as err:
        compile_(sig(feat(items=[15]), intercept=0.5))
    assert str(SIG_PATH) in str(err.value)


def test_baseline_groups():
    # baseline "type": the body lotions (case-insensitive value) are one group, including
    # items that match no feature (12, 20); the item without level value is its own group.
    doc = sig(feat("u", names=["unscented"], larger_than_usual=1.5, baseline_level="type"),
              feat("c", names=["cocoa"], larger_than_usual=2.0),
              feat("p", items=[99], larger_than_usual=2.0), feat("k", names=["kosher"]))
    lib, _, ids = compile_(doc)
    t = lib.tables
    assert lib.n_groups == 2
    code = {ids[i].as_py(): i for i in range(len(ids))}
    slot = {it: int(t.item_slot[code[it]]) for it in code}
    assert {it for it, s in slot.items() if s >= 0} == {12, 13, 14, 16, 17, 18, 20, 99}
    groups = {it: {int(g) for g in t.slot_grp[t.slot_grp_off[s]:t.slot_grp_off[s + 1]]}
              for it, s in slot.items() if s >= 0}
    lotion = groups[13]
    assert len(lotion) == 1 and groups[12] == groups[14] == groups[20] == lotion
    assert groups[99] and groups[99] != lotion
    assert groups[16] == groups[17] == set()
    assert t.feat_ratio.tolist() == [1.5, 2.0, 2.0, 0.0]
    # every feature item lies in its own baseline group (the kernel relies on it)
    for s in range(len(lib.slot_item)):
        for j in range(t.slot_feat_off[s], t.slot_feat_off[s + 1]):
            g = int(t.slot_feat_group[j])
            assert g == -1 or g in {int(x) for x in
                                    t.slot_grp[t.slot_grp_off[s]:t.slot_grp_off[s + 1]]}


def test_compiled_tables_score_like_the_reference(rng):
    doc1 = sig(feat("u", 2.0, names=["unscented"], larger_than_usual=1.5, stage_day=-10),
               feat("c", 1.0, names=["cocoa"], stage_day=-5), feat("v", 1.5, levels={
                   "type": ["Prenatal Vitamins", "Vitamins"]}, stage_day=-20),
               min_stage_features=2, event="e")
    doc2 = sig(feat("k", 1.0, names=["kosher"], exclude=["salt"]), feat("p", 3.0, items=[99]),
               feat("l", 0.5, levels={"type": ["body lotion"]}), name="other")
    lib, _, ids = compile_(doc1, doc2)
    customers = [[(int(rng.integers(0, len(ids))), int(rng.integers(0, 40)),
                   float(rng.choice([0.5, 1.0, 2.0, 3.0]))) for _ in range(int(rng.integers(0, 20)))]
                 for _ in range(40)]
    offsets = np.zeros(len(customers) + 1, np.int64)
    np.cumsum([len(c) for c in customers], out=offsets[1:])
    rows = [ln for c in customers for ln in sorted(c, key=lambda r: r[1])]
    item = np.array([r[0] for r in rows], np.int32)
    day = np.array([r[1] for r in rows], np.int32)
    qty = np.array([r[2] for r in rows], np.float32)
    want = naive.scan(offsets, item, day, qty, lib.tables)
    got = kw.scan_histories(offsets, item, day, qty, lib.tables, lib.n_groups, 3)
    assert len(want.entries.customer) > 0
    for part in ("entries", "aggregates"):
        w, g = getattr(want, part), getattr(got, part)
        for name in w._fields:
            np.testing.assert_array_equal(getattr(g, name), getattr(w, name), err_msg=name)


def test_describe():
    lib, view, _ = compile_(sig(feat("u", names=["unscented"]), feat("z", names=["zzz"])))
    rows = describe(lib, view)
    assert [r["feature"] for r in rows] == ["u", "z"]
    assert rows[0]["items"] == 2 and rows[0]["matched_by"] == "names"
    assert sorted(rows[0]["examples"]) == ["UNSCENTED lotion 200ml", "Unscented Body Lotion 400ml"]
    assert rows[1]["items"] == 0 and rows[1]["examples"] == []


# ------------------------------------------------------------------ a large catalog
@pytest.fixture(scope="module")
def big_catalog():
    from basketguard.models.simulator.catalog import build_catalog

    table = build_catalog(100_000, 1).to_arrow().rename_columns(
        ["item", "name", "department", "category", "type", "brand", "private_label", "price"])
    ids = table.column("item").combine_chunks()
    bought = pa.array(np.setdiff1d(ids.to_numpy(), ids.to_numpy()[::7]).astype(np.int64))
    return table, bought


def _reference_feature(feature, concepts: set[str], name) -> bool:
    """A feature's criteria on one item, given the item's concepts (built-ins use concepts)."""
    assert not feature.items and not feature.levels and not feature.names
    if feature.concepts and not concepts & set(feature.concepts):
        return False
    if not set(feature.with_concepts) <= concepts:
        return False
    return not (feature.exclude and name is not None
                and re.search("|".join(feature.exclude), name, re.I))


@pytest.mark.slow
def test_builtin_library_on_100k_catalog(big_catalog, rng):
    from basketguard.models.vocabulary.schema import load_vocabulary
    from tests.reference.concepts import members

    table, bought = big_catalog
    sigs = load_library()
    vocab = load_vocabulary()
    levels = ["department", "category", "type"]
    t0 = time.perf_counter()
    view = catalog_view(table, bought, levels, where="big")
    lib = resolve(sigs, view, bought, True)
    elapsed = time.perf_counter() - t0
    print(f"\nresolved {len(sigs)} signatures / {len(lib.features)} features against "
          f"{table.num_rows:,} catalog items in {elapsed:.3f} s")
    assert not any("no taxonomy" in w for w in lib.warnings)
    # correctness on a sample of rows against the plain reference of the rule:
    # random rows, and rows of item types some feature matches
    hit_codes = np.unique(np.concatenate([m.items for m in lib.features]))
    near = np.flatnonzero(np.isin(view.codes, hit_codes))
    rows = np.union1d(rng.choice(table.num_rows, 600, replace=False),
                      rng.choice(near, min(1200, near.size), replace=False))
    sample = table.take(pa.array(rows)).to_pylist()
    codes = view.codes[rows]
    item_concepts = [members(vocab, r["name"], [r[lv] for lv in levels]) for r in sample]
    g = 0
    hits = 0
    for s in sigs:
        wanted = []
        for f in s.features:
            wanted.append([bool(c >= 0 and _reference_feature(f, ic, r["name"]))
                           for r, c, ic in zip(sample, codes, item_concepts, strict=True)])
        taken = [any(w[i] for w, f in zip(wanted, s.features, strict=True) if not f.fallback)
                 for i in range(len(sample))]
        for f, want_f in zip(s.features, wanted, strict=True):
            items = set(lib.features[g].items.tolist())
            for i, (r, c) in enumerate(zip(sample, codes, strict=True)):
                want = want_f[i] and not (f.fallback and taken[i])
                assert (int(c) in items) == want, (s.name, f.name, r)
                hits += want
            g += 1
    assert hits > 0
    assert sum(1 for m in lib.features if m.items.size) > len(lib.features) // 2


def test_pattern_re2_cannot_run_at_resolve():
    # the loader rejects such patterns; a Signature built in code reaches the matcher
    s = signature_from_dict(sig(feat(names=["lotion"])), str(SIG_PATH), SIG_PATH)
    bad = dataclasses.replace(s, features=(dataclasses.replace(s.features[0],
                                                               names=("lotion(?=x)",)),))
    view = catalog_view(catalog(), item_ids(), LEVELS)
    with pytest.raises(ConfigError, match=r"feature 'f' names: .*RE2") as err:
        resolve((bad,), view, item_ids(), True)
    assert str(SIG_PATH) in str(err.value)


def test_builtin_signatures_fall_back_to_names_on_other_level_names():
    """A catalog whose levels are named differently (department / category, no 'type')
    resolves the built-in library through its concepts, with no warning."""
    import dataclasses

    from basketguard.models.signatures.schema import load_library

    pregnancy = load_library(only=["pregnancy"])[0]
    assert pregnancy.builtin
    table = pa.table({"item": pa.array([1, 2, 3], pa.int64()),
                      "name": ["Everyday Prenatal Vitamins 30pk", "Milk 1L", "Cotton Balls 400ct"],
                      "dept": ["Health", "Dairy", "Health"]})
    ids = pa.array([1, 2, 3], pa.int64())
    view = catalog_view(table, ids, ["dept"])
    lib = resolve((pregnancy,), view, ids, has_quantity=True)
    by_name = {m.feature: m for m in lib.features}
    assert by_name["prenatal_vitamins"].items.tolist() == [0]
    assert by_name["cotton_balls_large"].items.tolist() == [2]
    # concepts ignore level names: nothing to fall back from, nothing to warn about
    assert not any("names only" in w or "taxonomy" in w for w in lib.warnings), lib.warnings
    # as a user file, the same concept features resolve the same way
    user = resolve((dataclasses.replace(pregnancy, builtin=False),), view, ids, has_quantity=True)
    assert [m.items.tolist() for m in user.features] == [m.items.tolist() for m in lib.features]


def test_first_rows_maps_each_item_code_to_its_first_catalog_row():
    table = pa.table({"item": pa.array([3, 1, 3, 9], pa.int64()),
                      "name": ["c first", "a", "c again", "not bought"]})
    ids = pa.array([1, 2, 3], pa.int64())  # codes 0, 1, 2
    view = catalog_view(table, ids, [])
    assert view.first_rows(3).tolist() == [1, -1, 0]
