"""Content cover (engine.mitigate.content): what an offer announces, its mix, fillers, suppression."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.detect.compile import catalog_view, resolve
from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.findings import Severity
from basketguard.engine.histories.build import Histories
from basketguard.engine.mitigate import content as C
from basketguard.engine.mitigate import offer as O
from basketguard.models.signatures.schema import signature_from_dict

# ---------------------------------------------------------------------- a tiny shop
# item, name, department, type. 50 has no taxonomy; 99 is bought but not in the catalog;
# 60, 61 and 62 are in the catalog but nobody bought them.
ROWS = [
    (10, "Newborn Diapers 40pk", "Baby", "Diapers"),
    (11, "Baby Wipes 4pk", "Baby", "Baby Wipes"),
    (12, "First Infant Formula 800g", "Baby", "Infant Formula"),
    (13, "Pregnancy Test 2pk", "Health", "Pregnancy Tests"),
    (20, "Gala Apples", "Produce", "Apples"),
    (21, "Braeburn Apples", "Produce", "Apples"),
    (22, "Bananas", "Produce", "Bananas"),
    (30, "Penne Pasta 500g", "Pantry", "Pasta"),
    (31, "Basmati Rice 1kg", "Pantry", "Rice"),
    (32, "Baked Beans", "Pantry", "Tins"),
    (40, "Electric Lawn Mower", "Home", "Garden"),
    (41, "Washing-Up Liquid", "household", "Cleaning"),
    (50, "Mystery Item", None, None),
    (60, "Never Bought Diapers", "Baby", "Diapers"),
    (61, "Cloth Nappy", "Baby", "Cloth Nappies"),
    (62, "Garden Hose", "Garden", "Hoses"),
]
LEVELS = ["department", "type"]
# purchases per item (lines); 99 is not in the catalog
BOUGHT = {10: 2, 11: 2, 12: 1, 13: 1, 20: 30, 21: 20, 22: 40, 30: 25, 31: 15, 32: 10,
          40: 3, 41: 12, 50: 4, 99: 5}


def catalog(string_ids: bool = False) -> pa.Table:
    return pa.table({"item": [str(r[0]) if string_ids else r[0] for r in ROWS],
                     "name": [r[1] for r in ROWS],
                     "department": [r[2] for r in ROWS], "type": [r[3] for r in ROWS]})


def histories(string_ids: bool = False) -> Histories:
    """Three customers sharing the lines of BOUGHT round-robin, one line a day."""
    ids = sorted(BOUGHT, key=lambda v: str(v) if string_ids else v)
    code = {v: i for i, v in enumerate(ids)}
    lines = [(n % 3, code[v]) for v in ids for n in range(BOUGHT[v])]
    lines.sort(key=lambda cl: cl[0])
    cust = np.array([c for c, _ in lines])
    offsets = np.zeros(4, np.int64)
    np.cumsum(np.bincount(cust, minlength=3), out=offsets[1:])
    n = len(lines)
    item_ids = pa.array([str(v) for v in ids] if string_ids else ids,
                        pa.string() if string_ids else pa.int64())
    return Histories(offsets=offsets, item=np.array([i for _, i in lines], np.int32),
                     day=np.arange(n, dtype=np.int32), basket=np.arange(n, dtype=np.int32),
                     customer_ids=pa.array([1, 2, 3], pa.int64()), item_ids=item_ids)


def sig(name, sensitivity, intercept, *features):
    return {"name": name, "sensitivity": sensitivity, "window_days": 60,
            "link": {"intercept": intercept, "slope": 1.0},
            "feature": [{"name": f, "weight": w, "levels": {"type": [t]}}
                        for f, w, t in features]}


# score thresholds: baby_test 4.0 (threshold 0.5: (0 + 4) / 1), preg_test 5.0
SIGS = [sig("baby_test", "family", -4.0, ("diapers", 2.0, "Diapers"),
            ("wipes", 1.0, "Baby Wipes"), ("formula", 3.0, "Infant Formula")),
        sig("preg_test", "reproductive", -5.0, ("pregnancy_test", 3.0, "Pregnancy Tests"))]


class Shop:
    def __init__(self, string_ids: bool = False):
        self.hist = histories(string_ids)
        self.view = catalog_view(catalog(string_ids), self.hist.item_ids, LEVELS,
                                 where="catalog.parquet")
        sigs = tuple(signature_from_dict(copy.deepcopy(d), f"{d['name']}.toml") for d in SIGS)
        self.lib = resolve(sigs, self.view, self.hist.item_ids, False)

    def offer(self, entries, **kw) -> O.Offer:
        return O.read_offer(entries, self.hist, self.view, self.lib, **kw)

    def ids(self, codes) -> list:
        return self.hist.item_ids.take(pa.array(np.asarray(codes, np.int64))).to_pylist()


@pytest.fixture(scope="module")
def shop() -> Shop:
    return Shop()


def jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, allow_nan=False))


# ------------------------------------------------------------------------ read_offer
OFFERS = [
    # (id, entries, item ids it must give, groups' levels)
    ("item-ids", [20, 30], {20, 30}, []),
    ("integral-text", ["20", " 30.0 "], {20, 30}, []),
    ("duplicates", [20, 20, "20"], {20}, []),
    ("category-type", ["category:Diapers"], {10}, [["type"]]),  # 60 is never bought
    ("category-case-insensitive", ["CATEGORY:baby"], {10, 11, 12}, [["department"]]),
    ("category-lowercase-value", ["category:HOUSEHOLD"], {41}, [["department"]]),
    ("feature", ["feature:baby_test.wipes", 20], {11, 20}, [[]]),
    ("category-two-levels", ["category:garden"], {40}, [["department", "type"]]),
]


@pytest.mark.parametrize("entries, want, levels", [pytest.param(*c[1:], id=c[0]) for c in OFFERS])
def test_read_offer_entries(shop, entries, want, levels):
    offer = shop.offer(entries)
    assert set(shop.ids(offer.codes)) == want
    assert offer.codes.dtype == np.int32 and np.all(np.diff(offer.codes) > 0)
    assert [g["levels"] for g in offer.groups] == levels
    assert jsonable(offer.to_dict())["items"] == len(want)


def test_category_entry_says_which_level_matched(shop):
    (group,) = shop.offer(["category:diapers"]).groups
    assert group == {"entry": "category:diapers", "kind": "category", "levels": ["type"],
                     "catalog_items": 2, "items": 1}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "arrow"])
def test_read_offer_files(shop, tmp_path, fmt):
    table = pa.table({"sku": ["20", "category:Bananas", "feature:preg_test.pregnancy_test"]})
    path = tmp_path / f"offer.{fmt}"
    {"csv": pacsv.write_csv, "parquet": pq.write_table, "arrow": feather.write_feather}[fmt](
        table, path)
    offer = O.read_offer(path, shop.hist, shop.view, shop.lib, column="sku")
    assert set(shop.ids(offer.codes)) == {13, 20, 22}
    assert str(path) in offer.source and offer.entries == 3 and offer.item_entries == 1


def test_read_offer_integer_parquet_column(shop, tmp_path):
    path = tmp_path / "offer.parquet"
    pq.write_table(pa.table({"item": pa.array([30, 31], pa.int32())}), path)
    assert shop.ids(O.read_offer(path, shop.hist, shop.view).codes) == [30, 31]


def _csv(tmp_path: Path, lines: list[str], header: str = "item") -> Path:
    path = tmp_path / "offer.csv"
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


ERRORS = [
    # (id, entries or csv lines, error, message fragments)
    ("unknown-item", [20, 77], DataError, ["offer:", "77", "entry 2"]),
    ("unknown-item-file", ("file", ["20", "21", "221"]), DataError,
     ["offer.csv", "221", "row 3 (counting data rows from 1)", "Did you mean"]),
    ("unknown-category", ["category:Dipers"], DataError,
     ["entry 1", "'Dipers'", "Did you mean 'category:Diapers'?"]),
    ("unknown-category-file", ("file", ["20", "category:Banana"]), DataError,
     ["offer.csv", "row 2", "Did you mean 'category:Bananas'?"]),
    ("unknown-feature", ["feature:baby_test.wipe"], ConfigError,
     ["entry 1", "no feature 'wipe'", "Did you mean 'wipes'?", "diapers, wipes, formula"]),
    ("unknown-signature", ["feature:baby.wipes"], ConfigError,
     ["no signature 'baby'", "Did you mean 'baby_test'?"]),
    ("unknown-feature-file", ("file", ["feature:preg_test.pregnancy"]), ConfigError,
     ["offer.csv", "row 1", "Did you mean 'pregnancy_test'?"]),
    ("wrong-kind-text", [20, "apples"], SchemaError,
     ["entry 2", "not an integer item id", "integers", "Did you mean 'category:Apples'"]),
    ("wrong-kind-file", ("file", ["20", "21", "Gala Apples"]), SchemaError,
     ["offer.csv", "row 3", "It is the name of item 20"]),
    ("empty-list", [], DataError, ["offer: the offer is empty", "has no entries"]),
    ("empty-file", ("file", []), DataError, ["offer.csv", "the offer is empty"]),
    ("empty-entry", ("file", ["20", '""', "21"]), DataError, ["row 2", "is empty"]),
    ("not-an-id", [20, 1.5], ConfigError, ["every entry must be"]),
]


@pytest.mark.parametrize("entries, error, parts", [pytest.param(*c[1:], id=c[0]) for c in ERRORS])
def test_read_offer_errors(shop, tmp_path, entries, error, parts):
    source = _csv(tmp_path, entries[1]) if isinstance(entries, tuple) else entries
    with pytest.raises(error) as info:
        O.read_offer(source, shop.hist, shop.view, shop.lib)
    for p in parts:
        assert p in str(info.value), str(info.value)


def test_offer_of_never_bought_items_is_empty(shop):
    with pytest.raises(DataError, match="the offer is empty: it names no item bought"):
        shop.offer(["category:Cloth Nappies"])


def test_feature_entry_needs_a_library(shop):
    with pytest.raises(ConfigError, match="needs the signature library"):
        O.read_offer(["feature:baby_test.wipes"], shop.hist, shop.view)


def test_category_entry_needs_a_taxonomy(shop):
    bare = catalog_view(catalog().select(["item", "name"]), shop.hist.item_ids, [])
    with pytest.raises(ConfigError, match="needs a catalog with taxonomy levels"):
        O.read_offer(["category:Baby"], shop.hist, bare)


def test_missing_column_and_format(shop, tmp_path):
    with pytest.raises(SchemaError, match="no column 'item'.*Did you mean 'items'"):
        O.read_offer(_csv(tmp_path, ["20"], header="items"), shop.hist, shop.view)
    bad = tmp_path / "offer.xlsx"
    bad.write_text("x")
    with pytest.raises(ConfigError, match="use a .parquet, .csv or .arrow file"):
        O.read_offer(bad, shop.hist, shop.view)


def test_text_item_ids():
    shop = Shop(string_ids=True)
    assert shop.ids(shop.offer([20, "30"]).codes) == ["20", "30"]  # integers become text
    assert shop.ids(shop.offer(["category:Apples"]).codes) == ["20", "21"]
    with pytest.raises(DataError, match="whose ids are text"):
        shop.offer(["20.0"])  # text ids are matched as written


# ------------------------------------------------------------------- offer signals
def test_baby_coupon_offer_announces_new_baby(shop):
    signals = C.offer_signals(shop.offer([10, 11, 12]), shop.lib, shop.view, shop.hist.item_ids)
    baby, preg = signals.signatures
    assert signals.announces == ("baby_test",)
    assert baby.verdict == "announces" and preg.verdict == "silent" and preg.finding is None
    assert [(f.feature, f.items, f.examples) for f in baby.features] == [
        ("diapers", 1, ("Newborn Diapers 40pk",)), ("wipes", 1, ("Baby Wipes 4pk",)),
        ("formula", 1, ("First Infant Formula 800g",))]
    assert baby.matched_weight == 6.0 and baby.score_threshold == pytest.approx(4.0)
    f = baby.finding
    assert f.check == "content.signals.baby_test" and f.severity == Severity.FAIL
    assert f.details["sensitivity"] == "family"
    assert "household" in f.explanation and signals.severity == Severity.FAIL
    d = jsonable(signals.to_dict())
    assert d["announces"] == ["baby_test"] and d["signatures"][0]["severity"] == "fail"
    assert "observer who knows the targeting" in d["note"]


SEVERITIES = [
    # (id, offer, severity of baby_test or None when silent)
    ("weights-below-threshold", [10, 11, 20], Severity.WARN),  # 2 + 1 < 4
    ("weights-reach-threshold-exactly", [11, 12], Severity.FAIL),  # 1 + 3 == 4: the scan flags
    ("generic-offer", [20, 30], None),
    ("lawn-mower-next-to-diapers", [10, 40], Severity.WARN),
]


@pytest.mark.parametrize("offer, severity", [pytest.param(*c[1:], id=c[0]) for c in SEVERITIES])
def test_signal_severity(shop, offer, severity):
    baby = C.offer_signals(shop.offer(offer), shop.lib).signatures[0]
    assert (baby.finding.severity if baby.finding else None) == severity
    assert baby.reaches_threshold == (severity == Severity.FAIL)


def test_generic_offer_announces_nothing(shop):
    signals = C.offer_signals(shop.offer(["category:Apples", 30]), shop.lib, shop.view)
    assert signals.announces == () and signals.findings() == []
    assert signals.severity == Severity.PASS
    assert all(s.verdict == "silent" and s.matched_weight == 0 for s in signals.signatures)


def test_examples_without_names_show_ids(shop):
    (f,) = C.offer_signals(shop.offer([13]), shop.lib, None, shop.hist.item_ids).signatures[1].features
    assert f.examples == ("13",)


# ------------------------------------------------------------------------- the mixes
def test_category_mix_and_generic_mix(shop):
    mix = C.category_mix(shop.offer([10, 20, 50, 99]), shop.view, shop.hist.n_items)
    assert mix.level == "department"
    # sorted case-insensitively; "household" keeps its spelling; "(none)" last
    assert mix.values == ("Baby", "Garden", "Health", "Home", "household", "Pantry", "Produce",
                          "(none)")
    assert dict(zip(mix.values, mix.counts.tolist(), strict=True))["(none)"] == 2  # 50 and 99
    gen = C.generic_mix(shop.hist, shop.view)
    assert gen.counts.sum() == sum(BOUGHT.values())
    assert dict(zip(gen.values, gen.counts.tolist(), strict=True)) == {
        "Baby": 5, "Garden": 0, "Health": 1, "Home": 3, "household": 12, "Pantry": 50, "Produce": 90,
        "(none)": 9}
    by_type = C.generic_mix(shop.hist, shop.view, level="type")
    assert "Apples" in by_type.values and by_type.level == "type"
    with pytest.raises(ConfigError, match="no taxonomy level 'typ'.*Did you mean 'type'"):
        C.generic_mix(shop.hist, shop.view, level="typ")
    assert jsonable(mix.to_dict())["shares"][0] == {"value": "Baby", "count": 1.0, "share": 0.25}


def js_reference(p: list[float], q: list[float]) -> float:
    """JS divergence from its definition: (KL(P||M) + KL(Q||M)) / 2, M = (P + Q) / 2, log2."""
    sp, sq = sum(p), sum(q)
    p, q = [x / sp for x in p], [x / sq for x in q]
    m = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def kl(x):
        return sum(a * math.log2(a / b) for a, b in zip(x, m, strict=True) if a > 0)

    return (kl(p) + kl(q)) / 2


counts = st.integers(1, 8).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 1000), min_size=n, max_size=n).filter(any),
    st.lists(st.integers(0, 1000), min_size=n, max_size=n).filter(any)))


@given(counts)
def test_js_divergence_properties(pq_counts):
    p, q = (np.array(c, np.float64) for c in pq_counts)
    d = C.mix_divergence(p, q)
    assert 0.0 <= d <= 1.0
    assert d == C.mix_divergence(q, p)  # exactly symmetric
    same = all(a * q.sum() == b * p.sum() for a, b in zip(p, q, strict=True))
    assert (d == 0.0) == same
    assert C.mix_divergence(p, p * 3) == 0.0
    assert d == pytest.approx(js_reference(list(p), list(q)), abs=1e-12)


def test_js_divergence_extremes():
    assert C.mix_divergence(np.array([1.0, 0.0]), np.array([0.0, 5.0])) == 1.0
    assert C.mix_divergence(np.array([1.0]), np.array([2.0])) == 0.0
    for bad in ([0.0, 0.0], [-1.0, 2.0], [1.0]):
        with pytest.raises(ValueError):
            C.mix_divergence(np.array(bad), np.array([1.0, 1.0]))


# ---------------------------------------------------------------------- decoy offers
def test_decoy_offers_tiny(shop):
    offer = shop.offer([10])
    d = C.decoy_offers(offer, shop.hist, shop.view, shop.lib, n_max=10, target_divergence=0.0)
    fillers = set(shop.ids(d.fillers))
    assert not fillers & {10, 11, 12, 13, 60}  # sensitive, in the offer, or never bought
    assert not fillers & {99}  # not in the catalog: cannot be checked
    # first: the largest deficit is Produce (90 of 170 lines), its most bought item is 22
    assert shop.ids(d.fillers[:1]) == [22]
    assert d.divergence_after < d.divergence_before
    assert d.fillers.size <= 10 and d.stop in ("n_max", "no filler left")
    assert d.excluded_sensitive == 4  # 10, 11, 12, 13 (60 is never bought: no item code)
    assert sum(d.fillers_by_value.values()) == d.fillers.size
    out = jsonable(d.to_dict())
    assert out["note"] == C.CONTENT_COVER_NOTE
    assert "not what an observer who knows the targeting can infer" in out["note"]
    assert out["filler_items"] == shop.ids(d.fillers) and out["offer_items"] == 1
    assert set(d.codes.tolist()) == set(offer.codes.tolist()) | set(d.fillers.tolist())


def test_decoy_offers_stops_at_target_or_n_max(shop):
    offer = shop.offer([10, 11])
    d = C.decoy_offers(offer, shop.hist, shop.view, shop.lib, target_divergence=0.5)
    assert d.stop == "target" and d.divergence_after <= 0.5 < d.divergence_before
    assert d.warnings == ()
    d0 = C.decoy_offers(offer, shop.hist, shop.view, shop.lib, n_max=0)
    assert d0.fillers.size == 0 and d0.stop == "n_max" and d0.warnings
    default = C.decoy_offers(offer, shop.hist, shop.view, shop.lib, target_divergence=0.0)
    assert default.n_max == 8 and default.fillers.size <= 8
    done = C.decoy_offers(offer, shop.hist, shop.view, shop.lib, target_divergence=1.0)
    assert done.fillers.size == 0 and done.stop == "target"


def test_decoy_offers_rejects_bad_options(shop):
    offer = shop.offer([10])
    with pytest.raises(ConfigError, match=r"\(1.5\) must be in \[0, 1\]"):
        C.decoy_offers(offer, shop.hist, shop.view, shop.lib, target_divergence=1.5)
    with pytest.raises(ConfigError, match=r"n_max \(-1\) must be >= 0"):
        C.decoy_offers(offer, shop.hist, shop.view, shop.lib, n_max=-1)
    with pytest.raises(DataError, match="offer is empty"):
        C.decoy_offers(np.zeros(0, np.int32), shop.hist, shop.view, shop.lib)


def test_decoy_offers_deterministic(shop):
    offer = shop.offer(["category:Baby"])
    runs = [C.decoy_offers(offer, shop.hist, shop.view, shop.lib, seed=s, target_divergence=0)
            for s in (0, 0, 1)]
    assert runs[0].to_dict() == runs[1].to_dict()
    assert np.array_equal(runs[0].fillers, runs[1].fillers)
    assert runs[2].seed == 1


# ----------------------------------------------------------------------- suppression
def test_suppress_offer_items(shop):
    offer = shop.offer([10, 13, 20])
    s = C.suppress_offer_items(offer, shop.lib, ["reproductive"], shop.view)
    assert shop.ids(s.codes) == [10, 20] and shop.ids(s.removed) == [13]
    assert [(f.signature, f.feature, f.examples) for f in s.features] == [
        ("preg_test", "pregnancy_test", ("Pregnancy Test 2pk",))]
    every = C.suppress_offer_items(offer, shop.lib)
    assert shop.ids(every.codes) == [20] and every.sensitivities == ("family", "reproductive")
    d = jsonable(every.to_dict())
    assert d["removed_items"] == 2 and d["kept_items"] == 1 and not d["empty"]
    assert {f["feature"] for f in d["features"]} == {"diapers", "pregnancy_test"}
    assert C.suppress_offer_items(shop.offer([10]), shop.lib).to_dict()["empty"]
    with pytest.raises(ConfigError, match="unknown sensitivity class 'reproduktive'.*Did you"):
        C.suppress_offer_items(offer, shop.lib, ["reproduktive"])


# ------------------------------------------------------------------- the simulator
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """What ``basketguard synth --customers 1000 --seed 3`` writes (through the simulator
    itself, so that these tests do not depend on the CLI)."""
    from basketguard.engine.api import load_histories
    from basketguard.engine.config.project import load_project
    from basketguard.engine.detect.scan import compile_for
    from basketguard.models.simulator.run import SimConfig, simulate

    out = tmp_path_factory.mktemp("synth")
    project = load_project(simulate(SimConfig(customers=1000, seed=3), out).paths["project"])
    hist = load_histories(project, use_cache=False)
    lib, view = compile_for(project, hist)
    return out, hist, view, lib


def _sim_offer(sim, entries):
    _, hist, view, lib = sim
    return O.read_offer(entries, hist, view, lib)


def test_sim_baby_coupon_offer(sim):
    _, hist, view, lib = sim
    offer = _sim_offer(sim, ["category:Diapers", "category:Baby Wipes", "category:Infant Formula"])
    signals = C.offer_signals(offer, lib, view, hist.item_ids)
    by_name = {s.signature: s for s in signals.signatures}
    assert "new_baby" in signals.announces
    nb = by_name["new_baby"]
    # fails exactly when the offer's matched weights alone reach the score threshold
    assert nb.reaches_threshold == (nb.matched_weight >= nb.score_threshold)
    assert nb.finding.severity == (Severity.FAIL if nb.reaches_threshold else Severity.WARN)
    assert by_name["new_baby"].finding.details["sensitivity"] == "family"
    assert {f.feature for f in by_name["new_baby"].features} >= {"baby_wipes",
                                                                 "first_infant_formula"}
    with_sacks = C.offer_signals(_sim_offer(sim, ["category:Nappy Sacks"]), lib)
    assert {"new_baby", "pregnancy"} <= set(with_sacks.announces)
    jsonable(signals.to_dict())


def test_sim_generic_offer(sim):
    _, hist, view, lib = sim
    cat = pq.read_table(sim[0] / "catalog.parquet")
    pasta = cat.filter(pc.and_(pc.equal(cat["type"], "Pasta"),
                               pc.invert(pc.equal(cat["brand"], "Everyday"))))
    offer = _sim_offer(sim, ["category:Apples", *pasta["item_id"].to_pylist()[:4]])
    assert C.offer_signals(offer, lib).announces == ()
    # value-brand pasta is a (weak) financial-distress signal: not a generic offer
    value = cat.filter(pc.and_(pc.equal(cat["type"], "Pasta"), pc.equal(cat["brand"], "Everyday")))
    assert "financial_distress" in C.offer_signals(
        _sim_offer(sim, value["item_id"].to_pylist()[:1]), lib).announces


def test_sim_decoy_offers(sim):
    _, hist, view, lib = sim
    offer = _sim_offer(sim, ["category:Diapers", "category:Baby Wipes"])
    d = C.decoy_offers(offer, hist, view, lib)
    sensitive = np.unique(np.concatenate([m.items for m in lib.features]))
    assert not np.isin(d.fillers, sensitive).any()
    assert not np.isin(d.fillers, offer.codes).any()
    assert d.divergence_after < d.divergence_before
    assert C.offer_signals(d.fillers, lib).announces == ()
    assert d.fillers.size <= 4 * offer.codes.size
    again = C.decoy_offers(offer, hist, view, lib)
    assert again.to_dict() == d.to_dict()
    assert jsonable(d.to_dict())["note"] == C.CONTENT_COVER_NOTE
    # fillers do not hide what the offer announces: its signals are unchanged
    combined = C.offer_signals(d.codes, lib)
    assert "new_baby" in combined.announces


def test_sim_offer_file_errors(sim, tmp_path):
    _, hist, view, lib = sim
    path = _csv(tmp_path, ["4281", "category:Diapres", "4308"])
    with pytest.raises(DataError) as info:
        O.read_offer(path, hist, view, lib)
    assert "offer.csv" in str(info.value) and "row 2" in str(info.value)
    assert "Did you mean 'category:Diapers'?" in str(info.value)


def test_sim_same_inputs_same_results(sim):
    _, hist, view, lib = sim
    entries = ["category:Diapers", "feature:pregnancy.prenatal_vitamins", "category:Apples"]

    def run():
        offer = _sim_offer(sim, entries)
        return (offer.to_dict(), C.offer_signals(offer, lib, view, hist.item_ids).to_dict(),
                C.decoy_offers(offer, hist, view, lib, n_max=50).to_dict(),
                C.suppress_offer_items(offer, lib, ["reproductive"], view).to_dict())

    first, second = run(), run()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first[1]["severity"] == "warn"  # announced, but below either threshold alone
    assert {"new_baby", "pregnancy"} <= set(first[1]["announces"])
    assert first[3]["removed_items"] > 0
