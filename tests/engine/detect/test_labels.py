"""Targets of a training run (engine.detect.labels): label files, the project's
``[customers]`` labels, anchor purchases and a signature's flags.

The data is a small hand-made shop (:func:`write_shop`): 300 customers, 40
items, a catalog whose first three items are a pregnancy test, prenatal
vitamins and a cocoa-butter cream, and 60 "pregnant" customers who buy them
before their due date (two due after the data ends). Every error case asserts
that the message names the file (or the project's table) and the column or
concept at fault.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.labels import (
    Target,
    parse_anchor_rules,
    target_from_anchors,
    target_from_flags,
    target_from_labels,
)
from basketguard.engine.detect.learn import learning_context
from basketguard.engine.errors import ConfigError, DataError, SchemaError, SourceError
from basketguard.kernels.windows import NO_DAY

START = datetime.date(2024, 1, 1)
EPOCH = datetime.date(1970, 1, 1)
#: Item ids of the pregnancy products in the shop's catalog.
TEST_KIT, VITAMINS, COCOA = 1, 2, 3
NAMED = {
    TEST_KIT: ("Clearblue Digital Pregnancy Test 2pk", "Health", "Pregnancy", "Pregnancy Tests"),
    VITAMINS: ("Pregnacare Prenatal Vitamins 60ct", "Health", "Vitamins", "Prenatal Vitamins"),
    COCOA: ("Palmers Cocoa Butter Stretch Mark Cream", "Beauty", "Skin Care", "Body Cream"),
    4: ("Whole Milk 1L", "Fresh", "Dairy", "Milk"),
}
PROJECT = """[project]
name = "tiny-shop"
[lines]
source = "lines.parquet"
[lines.columns]
customer = "customer_id"
item = "item_id"
time = "ts"
quantity = "quantity"
[catalog]
source = "{catalog}"
[catalog.columns]
item = "item_id"
name = "name"
levels = ["department", "category", "type"]
[customers]
source = "customers.parquet"
[customers.columns]
customer = "customer_id"
labels = ["pregnant", "due", "score", "note", "flag01"]
"""


def day_of(d: datetime.date) -> int:
    return (d - EPOCH).days


def write_shop(base: Path, n_customers: int = 300, n_pregnant: int = 60, seed: int = 5,
               catalog: str = "catalog.parquet") -> tuple[Path, dict[int, datetime.date]]:
    """The shop's files under ``base``; returns the project file and the due dates.

    Customers ``1001..``; the first ``n_pregnant`` buy the pregnancy test 120 days
    before their due date, the vitamins at 90 and 60, the cream at 30 (all on or
    before the last day); the last two of them are due after the data ends. One
    customer in six of the others buys a pregnancy test, nothing else of the three.
    """
    rng = np.random.default_rng(seed)
    rows = [NAMED.get(i, (f"Generic Pantry Item {i}", "Pantry", f"Aisle {i % 4}",
                          f"Shelf {i % 8}")) for i in range(1, 41)]
    pq.write_table(pa.table({
        "item_id": pa.array(range(1, 41), pa.int64()),
        "name": [r[0] for r in rows], "department": [r[1] for r in rows],
        "category": [r[2] for r in rows], "type": [r[3] for r in rows]}), base / catalog)
    ids = np.arange(1001, 1001 + n_customers)
    due: dict[int, datetime.date] = {}
    cust, item, ts = [], [], []
    for k, c in enumerate(ids):
        days = rng.integers(0, 360, 25)
        items = rng.integers(4, 41, 25)
        if k < n_pregnant:
            e = int(rng.integers(150, 340)) if k < n_pregnant - 2 else 400
            due[int(c)] = START + datetime.timedelta(days=e)
            ev = min(e, 359)
            days = np.r_[days, [ev - 120, ev - 90, ev - 60, ev - 30]]
            items = np.r_[items, [TEST_KIT, VITAMINS, VITAMINS, COCOA]]
        elif k % 6 == 0:
            days = np.r_[days, [int(rng.integers(0, 360))]]
            items = np.r_[items, [TEST_KIT]]
        for d, i in zip(days.tolist(), items.tolist(), strict=True):
            cust.append(int(c))
            item.append(int(i))
            ts.append(datetime.datetime(2024, 1, 1, 10) + datetime.timedelta(days=d))
    pq.write_table(pa.table({
        "customer_id": pa.array(cust, pa.int64()), "item_id": pa.array(item, pa.int64()),
        "ts": pa.array(ts, pa.timestamp("s")),
        "quantity": pa.array(rng.integers(1, 4, len(cust)).astype(np.float64))}),
        base / "lines.parquet")
    preg = np.isin(ids, list(due))
    pq.write_table(pa.table({
        "customer_id": ids, "pregnant": preg,
        "due": pa.array([due.get(int(c)) for c in ids], pa.date32()),
        "score": rng.random(ids.size), "note": ["maybe"] * ids.size,
        "flag01": preg.astype(np.int64)}), base / "customers.parquet")
    path = base / "project.toml"
    path.write_text(PROJECT.format(catalog=catalog))
    return path, due


def load_shop(base: Path, **kw):
    """(project, histories, due dates) of a shop written under ``base``."""
    path, due = write_shop(base, **kw)
    project = load_project(path)
    return project, load_histories(project, cache_dir=base / "cache"), due


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    base = tmp_path_factory.mktemp("shop")
    project, hist, due = load_shop(base)
    return base, project, hist, due


@pytest.fixture(scope="module")
def ctx(shop):
    _, project, hist, _ = shop
    return learning_context(project, hist)


def code_of(hist, customer_id: int) -> int:
    return int(np.flatnonzero(hist.customer_ids.to_numpy() == customer_id)[0])


def write_labels(base: Path, name: str, columns: dict, fmt: str = "parquet") -> str:
    path = base / f"{name}.{fmt}"
    table = pa.table(columns)
    if fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return str(path)


# ------------------------------------------------------------------ the project's labels
def test_project_labels_with_event_dates(shop):
    _, project, hist, due = shop
    t = target_from_labels(hist, project=project, label_column="pregnant", date_column="due")
    assert t.mode == "labels" and t.n_pos == len(due) and t.n_neg == hist.n_customers - len(due)
    last = int(hist.day.max())
    for c, d in due.items():
        k = code_of(hist, c)
        assert t.label[k] == 1
        assert t.ref[k] == min(day_of(d), last)  # clipped to the data's last day
        assert t.event_day[k] == day_of(d)
    assert t.counts["event_dates_after_data"] == 2 and t.counts["event_dates_before_data"] == 0
    assert any("after the last basket line" in w for w in t.warnings)
    assert "[customers]" in t.source and "'pregnant'" in t.source
    assert not t.drop.any() and t.drop.size == hist.n_items
    json.dumps(t.summary())


def test_negatives_reference_days_are_drawn_from_the_positives(shop):
    _, project, hist, _ = shop
    kw = dict(project=project, label_column="pregnant", date_column="due")
    t = target_from_labels(hist, seed=1, **kw)
    pos_refs = set(t.ref[t.label == 1].tolist())
    neg_refs = t.ref[t.label == 0]
    assert set(neg_refs.tolist()) <= pos_refs
    assert len(set(neg_refs.tolist())) > 10  # drawn, not one day for all
    assert (t.event_day[t.label == 0] == NO_DAY).all()
    again = target_from_labels(hist, seed=1, **kw)
    np.testing.assert_array_equal(again.ref, t.ref)  # deterministic by seed
    other = target_from_labels(hist, seed=2, **kw)
    assert not np.array_equal(other.ref, t.ref)
    np.testing.assert_array_equal(other.ref[t.label == 1], t.ref[t.label == 1])


def test_without_dates_every_reference_day_is_the_as_of_day(shop):
    _, project, hist, _ = shop
    t = target_from_labels(hist, project=project, label_column="flag01")
    assert (t.ref == int(hist.day.max())).all() and t.event_day is None
    t = target_from_labels(hist, project=project, label_column="pregnant", as_of=19800)
    assert (t.ref == 19800).all()


def test_integer_and_boolean_labels_agree(shop):
    _, project, hist, _ = shop
    a = target_from_labels(hist, project=project, label_column="pregnant")
    b = target_from_labels(hist, project=project, label_column="flag01")
    np.testing.assert_array_equal(a.label, b.label)


@pytest.mark.parametrize("column, message", [
    ("score", "label column 'score' holds 0."),
    ("note", "label column 'note' holds 'maybe' at row 1"),
    ("due", "label column 'due' is of type date32"),
], ids=["probabilities", "text", "a date column"])
def test_project_label_column_of_the_wrong_type(shop, column, message):
    _, project, hist, _ = shop
    with pytest.raises(SchemaError) as err:
        target_from_labels(hist, project=project, label_column=column)
    assert message in str(err.value)
    assert "project.toml [customers]" in str(err.value)


def test_project_label_column_not_listed(shop):
    _, project, hist, _ = shop
    with pytest.raises(ConfigError) as err:
        target_from_labels(hist, project=project, label_column="pregnnt")
    msg = str(err.value)
    assert "'pregnnt' is not a label column of [customers]" in msg
    assert "Did you mean 'pregnant'?" in msg and "project.toml" in msg


def test_project_date_column_not_listed(shop):
    _, project, hist, _ = shop
    with pytest.raises(ConfigError, match="event-date column 'born'"):
        target_from_labels(hist, project=project, label_column="pregnant", date_column="born")


def test_no_file_and_no_customers_table(tmp_path):
    path, _ = write_shop(tmp_path, n_customers=20, n_pregnant=4)
    path.write_text(path.read_text().split("[customers]")[0])
    project = load_project(path)
    hist = load_histories(project, cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match=r"no \[customers\] table"):
        target_from_labels(hist, project=project, label_column="pregnant")


# ------------------------------------------------------------------ label files
def _ids(hist, n=None):
    ids = hist.customer_ids.to_numpy()
    return ids if n is None else ids[:n]


def test_label_file_csv_text_labels(shop):
    base, _, hist, _ = shop
    ids = _ids(hist, 6)
    path = write_labels(base, "text_labels", {
        "customer_id": ids, "flag": ["yes", "No", " TRUE ", "f", "1", None]}, "csv")
    t = target_from_labels(hist, path=path, label_column="flag")
    assert [int(t.label[code_of(hist, c)]) for c in ids] == [1, 0, 1, 0, 1, -1]
    assert t.counts["null_labels"] == 1 and t.counts["rows"] == 6
    assert (t.label[6:] == -1).all()  # not listed: left out


def test_label_file_text_ids_match_integer_customers(shop):
    base, _, hist, _ = shop
    ids = _ids(hist, 4)
    path = write_labels(base, "text_ids", {"customer_id": [str(i) for i in ids],
                                           "label": [1, 0, 1, 0]})
    t = target_from_labels(hist, path=path)
    assert t.n_pos == 2 and t.n_neg == 2


def test_unlisted_negative_makes_a_positives_only_file_usable(shop):
    base, _, hist, _ = shop
    path = write_labels(base, "registry", {"customer_id": _ids(hist, 5), "label": [True] * 5})
    with pytest.raises(DataError) as err:
        target_from_labels(hist, path=path)
    assert "registry.parquet" in str(err.value) and "'label'" in str(err.value)
    assert "single class" in str(err.value) and "--unlisted-negative" in str(err.value)
    t = target_from_labels(hist, path=path, unlisted_negative=True)
    assert t.n_pos == 5 and t.n_neg == hist.n_customers - 5


def test_ids_not_in_the_histories_are_counted_and_warned(shop):
    base, _, hist, _ = shop
    path = write_labels(base, "strangers", {
        "customer_id": np.r_[_ids(hist, 4), [10**9, 10**9 + 1, 10**9 + 2]],
        "label": [1, 0, 1, 0, 1, 1, 0]})
    t = target_from_labels(hist, path=path)
    assert t.counts["ids_not_in_histories"] == 3
    assert t.n_pos == 2 and t.n_neg == 2
    assert any("strangers.parquet" in w and "3 ids are not customers" in w for w in t.warnings)


def test_a_customer_listed_twice_with_one_label_is_counted(shop):
    base, _, hist, _ = shop
    ids = _ids(hist, 3)
    path = write_labels(base, "twice", {"customer_id": np.r_[ids, ids[:1]],
                                        "label": [1, 0, 0, 1]})
    t = target_from_labels(hist, path=path)
    assert t.counts["duplicate_ids"] == 1 and t.n_pos == 1 and t.n_neg == 2


def test_event_dates_before_and_after_the_data(shop):
    base, _, hist, _ = shop
    ids = _ids(hist, 8)
    first, last = int(hist.day.min()), int(hist.day.max())
    dates = [datetime.date(2019, 5, 1), EPOCH + datetime.timedelta(days=first - 1),
             datetime.date(2031, 1, 1), EPOCH + datetime.timedelta(days=last + 1),
             datetime.date(2024, 6, 1), EPOCH + datetime.timedelta(days=first), None, None]
    path = write_labels(base, "dated", {"customer_id": ids, "label": [1] * 7 + [0],
                                        "due": pa.array(dates, pa.date32())})
    t = target_from_labels(hist, path=path, date_column="due", unlisted_negative=True)
    lab = [int(t.label[code_of(hist, c)]) for c in ids]
    ref = [int(t.ref[code_of(hist, c)]) for c in ids]
    assert lab == [-1, -1, 1, 1, 1, 1, 1, 0]  # events before every purchase: left out
    assert ref[2:6] == [last, last, day_of(datetime.date(2024, 6, 1)), first]
    assert ref[6] == last  # no date: the as-of day
    assert t.counts["event_dates_before_data"] == 2
    assert t.counts["event_dates_after_data"] == 2
    assert t.counts["positives_without_date"] == 1
    assert sum("dated.parquet" in w for w in t.warnings) == 3
    assert t.event_day[code_of(hist, ids[2])] == day_of(datetime.date(2031, 1, 1))


def test_event_dates_as_iso_text_and_timestamps_agree(shop):
    base, _, hist, _ = shop
    ids = _ids(hist, 3)
    text = write_labels(base, "iso", {"customer_id": ids, "label": [1, 1, 0],
                                      "due": ["2024-05-01", "2024-07-02T10:00:00", None]},
                        "csv")
    stamp = write_labels(base, "stamp", {
        "customer_id": ids, "label": [1, 1, 0],
        "due": pa.array([datetime.datetime(2024, 5, 1, 23), datetime.datetime(2024, 7, 2), None],
                        pa.timestamp("ms"))})
    a = target_from_labels(hist, path=text, date_column="due")
    b = target_from_labels(hist, path=stamp, date_column="due")
    np.testing.assert_array_equal(a.ref, b.ref)
    assert a.ref[code_of(hist, ids[0])] == day_of(datetime.date(2024, 5, 1))


def _case_file(base, name, hist):
    ids = _ids(hist)
    cases = {
        "no positives": ({"customer_id": ids[:10], "label": [0] * 10}, "parquet"),
        "all unknown ids": ({"customer_id": [10**9, 10**9 + 1], "label": [1, 0]}, "parquet"),
        "float 0.3": ({"customer_id": ids[:3], "label": [1.0, 0.3, 0.0]}, "parquet"),
        "integer 2": ({"customer_id": ids[:3], "label": [1, 2, 0]}, "parquet"),
        "text maybe": ({"customer_id": ids[:3], "label": ["yes", "maybe", "no"]}, "csv"),
        "a date column": ({"customer_id": ids[:3],
                           "label": pa.array([START] * 3, pa.date32())}, "parquet"),
        "missing column": ({"customer_id": ids[:3], "labels": [1, 0, 1]}, "parquet"),
        "missing id column": ({"customer": ids[:3], "label": [1, 0, 1]}, "parquet"),
        "both classes": ({"customer_id": np.r_[ids[:3], ids[:1]], "label": [1, 0, 0, 0]},
                         "parquet"),
        "text ids that are not numbers": ({"customer_id": ["C1", "C2"], "label": [1, 0]},
                                          "parquet"),
    }
    columns, fmt = cases[name]
    return write_labels(base, name.replace(" ", "_"), columns, fmt)


LABEL_ERRORS = [
    # case, error, fragments of the message (besides the file's name)
    ("no positives", DataError, ["column 'label'", "no positive customers"]),
    ("all unknown ids", DataError, ["none of the 2 ids", "customer of the basket lines"]),
    ("float 0.3", SchemaError, ["label column 'label' holds 0.3 at row 2",
                                "not labels: threshold them"]),
    ("integer 2", SchemaError, ["label column 'label' holds 2 at row 2"]),
    ("text maybe", SchemaError, ["label column 'label' holds 'maybe' at row 2"]),
    ("a date column", SchemaError, ["label column 'label' is of type date32"]),
    ("missing column", SchemaError, ["no column 'label'", "Did you mean 'labels'?",
                                     "--label-column"]),
    ("missing id column", SchemaError, ["no column 'customer_id'", "--id-column"]),
    ("both classes", DataError, ["1 customers are listed both as positive and as negative"]),
    ("text ids that are not numbers", SchemaError, ["column 'customer_id'", "not a number"]),
]


@pytest.mark.parametrize("case, error, fragments", LABEL_ERRORS, ids=[c[0] for c in LABEL_ERRORS])
def test_label_file_errors_name_the_file_and_column(shop, case, error, fragments):
    base, _, hist, _ = shop
    path = _case_file(base, case, hist)
    with pytest.raises(error) as err:
        target_from_labels(hist, path=path)
    msg = str(err.value)
    assert Path(path).name in msg, msg
    for f in fragments:
        assert f in msg, msg


def test_missing_label_file_is_a_source_error(shop):
    base, _, hist, _ = shop
    with pytest.raises(SourceError) as err:
        target_from_labels(hist, path=str(base / "no_such_labels.parquet"))
    assert "no_such_labels.parquet" in str(err.value) and "does not exist" in str(err.value)


def test_label_file_of_an_unknown_format(shop):
    base, _, hist, _ = shop
    (base / "labels.xlsx").write_text("x")
    with pytest.raises(ConfigError, match=r"labels\.xlsx.*\.parquet, \.csv or \.arrow"):
        target_from_labels(hist, path=str(base / "labels.xlsx"))


def test_unreadable_event_dates_name_the_column(shop):
    base, _, hist, _ = shop
    for name, due in (("bad_text_dates", ["soon", "2024-01-02"]), ("int_dates", [1, 2])):
        path = write_labels(base, name, {"customer_id": _ids(hist, 2), "label": [1, 0],
                                         "due": due})
        with pytest.raises(SchemaError) as err:
            target_from_labels(hist, path=path, date_column="due")
        assert f"{name}.parquet" in str(err.value)
        assert "event-date column 'due'" in str(err.value)


# ------------------------------------------------------------------ anchors
def _bought(hist, item_codes: set[int], as_of: int) -> np.ndarray:
    """Per customer: bought one of ``item_codes`` on or before ``as_of`` (plain loop)."""
    out = np.zeros(hist.n_customers, bool)
    for c in range(hist.n_customers):
        for i in range(int(hist.offsets[c]), int(hist.offsets[c + 1])):
            if int(hist.item[i]) in item_codes and int(hist.day[i]) <= as_of:
                out[c] = True
    return out


def _codes(hist, item_ids) -> set[int]:
    ids = hist.item_ids.to_numpy()
    return {int(np.flatnonzero(ids == i)[0]) for i in item_ids}


@pytest.mark.parametrize("rules", [["pregnancy_test+prenatal_vitamins"],
                                   ["prenatal_vitamins", "cocoa_butter_lotion"],
                                   ["pregnancy_test"]], ids=lambda r: " or ".join(r))
def test_anchor_buyers_are_the_positives(shop, ctx, rules):
    _, _, hist, _ = shop
    parsed = parse_anchor_rules(rules)
    t = target_from_anchors(hist, ctx.candidates, parsed, ctx.vocabulary_names)
    last = int(hist.day.max())
    item_of = {"pregnancy_test": TEST_KIT, "prenatal_vitamins": VITAMINS,
               "cocoa_butter_lotion": COCOA}
    bought = {c: _bought(hist, _codes(hist, [item_of[c]]), last) for c in item_of}
    want = np.zeros(hist.n_customers, bool)
    for r in parsed:
        want |= np.all([bought[c] for c in r], axis=0)
    np.testing.assert_array_equal(t.label, want.astype(np.int8))
    concepts = {c for r in parsed for c in r}
    assert t.drop_keys == {f"concept:{c}" for c in concepts}
    assert set(np.flatnonzero(t.drop).tolist()) == _codes(hist, [item_of[c] for c in concepts])
    assert t.anchors == parsed and t.mode == "anchors" and (t.ref == last).all()
    assert t.counts["anchor_items"] == len(concepts)
    assert sum(t.counts[f"rule_{i + 1}_customers"] for i in range(len(parsed))) >= t.n_pos


def test_anchors_respect_the_as_of_day(shop, ctx):
    _, _, hist, _ = shop
    as_of = day_of(datetime.date(2024, 4, 1))
    t = target_from_anchors(hist, ctx.candidates, [["prenatal_vitamins"]],
                            ctx.vocabulary_names, as_of)
    np.testing.assert_array_equal(t.label, _bought(hist, _codes(hist, [VITAMINS]), as_of))
    assert (t.ref == as_of).all()


ANCHOR_ERRORS = [
    ("unknown concept", [["pregnancy_tset"]], None, ConfigError,
     ["anchor concept 'pregnancy_tset' is not a concept", "Did you mean 'pregnancy_test'?"]),
    ("unknown second concept", [["pregnancy_test", "prenatal_vitamin"]], None, ConfigError,
     ["'prenatal_vitamin'", "Did you mean 'prenatal_vitamins'?"]),
    ("no items in this catalog", [["nicotine_replacement"]], None, ConfigError,
     ["anchor concept 'nicotine_replacement' matches no item"]),
    ("bought by nobody yet", [["pregnancy_test"]], "before", DataError,
     ["anchors pregnancy_test", "no customer bought the anchors"]),
]


@pytest.mark.parametrize("case, rules, as_of, error, fragments", ANCHOR_ERRORS,
                         ids=[c[0] for c in ANCHOR_ERRORS])
def test_anchor_errors_name_the_concept(shop, ctx, case, rules, as_of, error, fragments):
    _, _, hist, _ = shop
    day = int(hist.day.min()) - 1 if as_of == "before" else None
    with pytest.raises(error) as err:
        target_from_anchors(hist, ctx.candidates, rules, ctx.vocabulary_names, day)
    for f in fragments:
        assert f in str(err.value), str(err.value)


ANCHOR_RULES = [
    ("one concept", ["a"], [["a"]]),
    ("two concepts", ["a+b"], [["a", "b"]]),
    ("spaces around", [" a + b "], [["a", "b"]]),
    ("several rules", ["a+b", "c"], [["a", "b"], ["c"]]),
    ("empty rule", [""], None),
    ("blank rule", ["  "], None),
    ("empty part", ["a++b"], None),
    ("trailing plus", ["a+"], None),
    ("only a plus", [" + "], None),
]


@pytest.mark.parametrize("case, rules, want", ANCHOR_RULES, ids=[c[0] for c in ANCHOR_RULES])
def test_parse_anchor_rules(case, rules, want):
    if want is None:
        with pytest.raises(ConfigError, match="write concepts joined by"):
            parse_anchor_rules(rules)
    else:
        assert parse_anchor_rules(rules) == want


# ------------------------------------------------------------------ flags
def test_flags_target(shop):
    _, _, hist, _ = shop
    flagged = np.zeros(hist.n_customers, bool)
    flagged[[3, 5, 8]] = True
    t = target_from_flags(hist, flagged, np.array([0, 2]), "pregnancy")
    assert t.mode == "flags" and t.n_pos == 3 and t.n_neg == hist.n_customers - 3
    assert np.flatnonzero(t.drop).tolist() == [0, 2]
    assert "'pregnancy'" in t.source and t.counts["signature_items"] == 2
    with pytest.raises(DataError, match="signature 'pregnancy' flags no customer"):
        target_from_flags(hist, np.zeros(hist.n_customers, bool), np.array([0]), "pregnancy")
    with pytest.raises(DataError, match="single class"):
        target_from_flags(hist, np.ones(hist.n_customers, bool), np.array([0]), "pregnancy")


def test_target_check_names_the_source():
    t = Target("labels", np.array([0, 0, -1], np.int8), np.zeros(3, np.int32),
               np.zeros(2, np.uint8), "labels.csv column 'pregnant'")
    with pytest.raises(DataError, match="labels.csv column 'pregnant': no positive"):
        t.check()
