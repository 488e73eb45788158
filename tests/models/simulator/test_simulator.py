"""The shopper simulator end to end: files, determinism, truth against lines."""

from __future__ import annotations

import datetime
import hashlib
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.errors import ConfigError
from basketguard.kernels.sim.customers import NO_EVENT
from basketguard.models.simulator.catalog import GROUPS, MIN_ITEMS, build_catalog
from basketguard.models.simulator.events import PROGRAMS
from basketguard.models.simulator.run import (
    CONFOUNDERS,
    EVENTS,
    SimConfig,
    prepare,
    simulate,
)

# tiny populations: the suite also runs as plain Python (NUMBA_DISABLE_JIT=1)
SMALL = dict(customers=24, days=60, items=MIN_ITEMS, visits_per_week=1.5, event_rate=20.0,
             chunk_customers=10, row_group_size=500)
FILES = ("lines", "catalog", "customers", "truth")


def _digests(result):
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in result.paths.items()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    return simulate(SimConfig(seed=7, **SMALL), out)


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("change, message", [
    (dict(customers=-1), "customers: -1 is out of range"),
    (dict(customers=2.5), "customers: 2.5 is not an integer"),
    (dict(customers=True), "customers: True is not an integer"),
    (dict(seed=-3), "seed: -3"),
    (dict(days=0), "days: 0"),
    (dict(items=MIN_ITEMS - 1), f"items: {MIN_ITEMS - 1}"),
    (dict(stores=0), "stores: 0"),
    (dict(events=("pregnancy", "lottery_win")), "unknown event name.*'lottery_win'.*allowed"),
    (dict(leakage=1.5), r"leakage: 1.5 is out of range; allowed: \[0.0, 1.0\]"),
    (dict(leakage=-0.1), "leakage: -0.1"),
    (dict(fav_share=2.0), "fav_share: 2.0"),
    (dict(signal_strength=-1.0), "signal_strength: -1.0"),
    (dict(event_rate=float("nan")), "event_rate: nan"),
    (dict(visits_per_week=0.0), r"visits_per_week: 0.0 is out of range; allowed: \(0.0"),
    (dict(basket_mean=0.5), "basket_mean: 0.5"),
    (dict(row_group_size=0), "row_group_size: 0"),
    (dict(chunk_customers=0), "chunk_customers: 0"),
    (dict(compression="brotli2"), "compression: 'brotli2'.*allowed"),
    (dict(start="2024-01-01"), "start: '2024-01-01' is not a date"),
    (dict(confounders="yes"), "confounders: 'yes' is not a bool"),
], ids=lambda v: str(v)[:40] if isinstance(v, dict) else None)
def test_config_rejects_bad_values(change, message):
    with pytest.raises(ConfigError, match=message):
        SimConfig(**change)


def test_config_normalises_events():
    assert SimConfig(events="incontinence,pregnancy").events == ("pregnancy", "incontinence")
    assert SimConfig(events=()).events == ()
    assert SimConfig().events == EVENTS


def test_catalog_has_the_sensitive_products():
    cat = build_catalog(MIN_ITEMS, 0)
    types = set(cat.type)
    for t in ("Pregnancy Tests", "Prenatal Vitamins", "Calcium", "Magnesium", "Zinc",
              "Body Lotion", "Bar Soap", "Cotton Balls", "Hand Sanitizer", "Washcloths",
              "Nappy Sacks", "Diapers", "Infant Formula", "Baby Wipes", "Glucose Meters",
              "Test Strips", "Nicotine Patches", "Incontinence Pads", "Contraceptives",
              "Condoms", "Kosher Foods", "Halal Foods", "Beer", "Red Wine", "Vodka"):
        assert t in types, t
    for g in GROUPS:
        if g != "premium":  # the smallest catalog has no premium brand tier
            assert cat.group_items[g].size > 0, g
    assert set(cat.group_items["lotion_unscented_large"]) <= set(cat.group_items["lotion_unscented"])
    assert cat.private_label.sum() == MIN_ITEMS  # smallest catalog: private label only
    big = build_catalog(20_000, 0)
    assert big.n_items == 20_000 and len(set(big.name)) == 20_000
    assert np.all(big.twin[~big.private_label] >= 0)
    assert np.all(big.private_label[big.twin[~big.private_label]])


# ------------------------------------------------------------------- files


def test_files_schema_and_ids(small):
    lines = pq.read_table(small.paths["lines"])
    assert lines.schema.field("customer_id").type == pa.int64()
    assert lines.schema.field("item_id").type == pa.int32()
    assert lines.schema.field("basket_id").type == pa.int64()
    ts_type = lines.schema.field("ts").type
    # Parquet has no second unit: the file stores whole seconds as TIMESTAMP(MILLIS, UTC)
    assert pa.types.is_timestamp(ts_type) and ts_type.tz == "UTC"
    assert lines.schema.field("quantity").type == pa.float32()
    assert lines.schema.field("price").type == pa.float32()
    assert lines.schema.field("store_id").type == pa.int32()
    customers = pq.read_table(small.paths["customers"])
    catalog = pq.read_table(small.paths["catalog"])
    truth = pq.read_table(small.paths["truth"])
    assert customers.column_names == ["customer_id", "age_band", "income_band",
                                      "postcode_prefix", "household_size", "children",
                                      "marital_status", "gender"]
    assert truth.schema.field("onset_date").type == pa.date32()
    assert truth.schema.field("event_date").type == pa.date32()
    assert catalog.schema.field("item_id").type == pa.int32()
    assert lines.num_rows == small.lines > 0
    assert customers.num_rows == small.customers == SMALL["customers"]
    assert catalog.num_rows == small.items
    assert truth.num_rows == small.truth_rows > 0

    cust_ids = customers["customer_id"].to_numpy()
    np.testing.assert_array_equal(cust_ids, np.arange(SMALL["customers"]))
    assert set(lines["customer_id"].to_numpy()) <= set(cust_ids)
    assert set(truth["customer_id"].to_numpy()) <= set(cust_ids)
    assert set(lines["item_id"].to_numpy()) <= set(catalog["item_id"].to_numpy())
    assert np.all(lines["quantity"].to_numpy() > 0)
    ts = lines["ts"].cast(pa.int64()).to_numpy() // 1000
    assert np.all(ts % 1 == 0)
    assert set(truth["event"].to_pylist()) <= set(EVENTS) | set(CONFOUNDERS)
    # only pregnancy has an event date (the due date, 280 days after onset)
    rows = truth.to_pylist()
    for r in rows:
        if r["event"] == "pregnancy":
            assert r["event_date"] - r["onset_date"] == datetime.timedelta(days=280)
        else:
            assert r["event_date"] is None
    md = pq.ParquetFile(small.paths["lines"]).metadata
    assert all(md.row_group(i).num_rows == SMALL["row_group_size"]
               for i in range(md.num_row_groups - 1))
    assert not list(small.out_dir.glob(".*tmp*"))


def test_project_file_loads(small):
    from basketguard.engine.config.project import load_project

    project = load_project(small.paths["project"])
    assert project.sources["lines"].columns["customer"] == "customer_id"
    assert project.sources["catalog"].lists["levels"] == ("department", "category", "type")
    assert (small.out_dir / project.sources["truth"].location).is_file()


def test_zero_customers(tmp_path):
    calls = []
    res = simulate(SimConfig(customers=0, items=MIN_ITEMS), tmp_path,
                   progress=lambda d, t: calls.append((d, t)))
    assert res.lines == 0 and res.truth_rows == 0
    assert pq.read_table(res.paths["lines"]).num_rows == 0
    assert pq.read_table(res.paths["lines"]).schema.field("item_id").type == pa.int32()
    assert calls == [(0, 0)]


# ------------------------------------------------------------- determinism


def test_same_seed_same_bytes_across_chunk_sizes(small, tmp_path):
    again = simulate(SimConfig(seed=7, **(SMALL | dict(chunk_customers=7))), tmp_path)
    assert _digests(again) == _digests(small)


def test_different_seed_different_files(small, tmp_path):
    other = simulate(SimConfig(seed=8, **SMALL), tmp_path)
    d1, d2 = _digests(small), _digests(other)
    for k in ("lines", "customers", "catalog"):
        assert d1[k] != d2[k]


def test_progress_reports_chunks(tmp_path):
    calls = []
    simulate(SimConfig(customers=25, days=10, items=MIN_ITEMS, chunk_customers=10), tmp_path,
             progress=lambda d, t: calls.append((d, t)))
    assert calls == [(10, 25), (20, 25), (25, 25)]


# ------------------------------------------------------- truth against lines


def _visits(lines_tbl, n_days):
    cust = lines_tbl["customer_id"].to_numpy()
    day = lines_tbl["basket_id"].to_numpy() - cust * n_days
    return cust, day, lines_tbl["item_id"].to_numpy()


def test_planted_events_buy_stage_products_in_stage_windows(tmp_path):
    """With every stage certain (strength saturates the probabilities) and no
    leakage, every visit inside a buying window holds an item of the stage's
    group, and no visit inside a suppress window holds one of its group."""
    cfg = SimConfig(seed=3, signal_strength=1e6, confounder_strength=1e6, leakage=0.0,
                    **(SMALL | dict(customers=30, event_rate=40.0)))
    res = simulate(cfg, tmp_path)
    model = prepare(cfg)
    onset = model.customers(0, cfg.customers).onset
    cust, day, item = _visits(pq.read_table(res.paths["lines"]), cfg.days)
    checked = 0
    for r, prog in enumerate(PROGRAMS):
        for c in np.nonzero(onset[:, r] != NO_EVENT)[0]:
            mine = cust == c
            for s in prog.stages:
                group = set(model.catalog.group_items[s.group].tolist())
                if not group:
                    continue
                for d in np.unique(day[mine]):
                    rel = int(d) - int(onset[c, r])
                    active = rel >= s.start and (
                        (rel - s.start) % s.period < s.end - s.start if s.period else
                        rel < s.end)
                    if not active:
                        continue
                    basket = set(item[mine & (day == d)].tolist())
                    if s.suppress:
                        # stage purchases of other programs may still bring the group in
                        other_buys = any(
                            st.group == s.group or
                            group & set(model.catalog.group_items[st.group].tolist())
                            for p2 in PROGRAMS for st in p2.stages if not st.suppress)
                        assert other_buys or not (basket & group)
                    else:
                        assert basket & group, (prog.name, s.group, c, d)
                        checked += 1
    assert checked > 20


def test_customers_without_programs_follow_the_base_process(tmp_path):
    params = SMALL | dict(customers=40, event_rate=1.0)
    with_events = simulate(SimConfig(seed=5, **params), tmp_path / "a")
    without = simulate(SimConfig(seed=5, events=(), confounders=False, **params), tmp_path / "b")
    truth = pq.read_table(with_events.paths["truth"])
    planted = set(truth["customer_id"].to_pylist())
    assert 0 < len(planted) < params["customers"]
    assert pq.read_table(without.paths["truth"]).num_rows == 0
    a = pq.read_table(with_events.paths["lines"]).to_pylist()
    b = pq.read_table(without.paths["lines"]).to_pylist()
    clean_a = [r for r in a if r["customer_id"] not in planted]
    clean_b = [r for r in b if r["customer_id"] not in planted]
    assert clean_a == clean_b and clean_a
    assert (pq.read_table(with_events.paths["customers"])
            .equals(pq.read_table(without.paths["customers"])))


def test_signal_strength_zero_leaves_no_event_trace(tmp_path):
    """Events planted at strength 0 buy nothing extra (suppression still applies)."""
    cfg = SimConfig(seed=9, signal_strength=0.0, confounders=False,
                    events=("incontinence",), **(SMALL | dict(event_rate=60.0)))
    res = simulate(cfg, tmp_path)
    truth = pq.read_table(res.paths["truth"])
    assert truth.num_rows > 0
    base = simulate(SimConfig(seed=9, events=(), confounders=False,
                              **(SMALL | dict(event_rate=60.0))), tmp_path / "base")
    assert (pq.read_table(res.paths["lines"]).equals(pq.read_table(base.paths["lines"])))


# --------------------------------------------------------- population shape


@pytest.mark.jit
def test_event_customers_buy_stage_products_far_more_often(tmp_path):
    cfg = SimConfig(customers=20_000, seed=11, days=365)
    res = simulate(cfg, tmp_path)
    model = prepare(cfg)
    truth = pq.read_table(res.paths["truth"]).to_pylist()
    cust, day, item = _visits(pq.read_table(res.paths["lines"]), cfg.days)
    lotion = np.isin(item, model.catalog.group_items["lotion_unscented_large"])
    pregnant = {r["customer_id"]: (r["onset_date"] - cfg.start).days
                for r in truth if r["event"] == "pregnancy"}
    assert len(pregnant) > 50
    in_window = np.array([c in pregnant and 84 <= d - pregnant[c] < 147
                          for c, d in zip(cust[lotion], day[lotion], strict=True)])
    # share of these lotion lines bought by pregnant customers in their window, against
    # the share of all lines that are pregnant customers' lines in that window
    onset = np.array([pregnant.get(c, -10**6) for c in cust])
    share_lines = ((day - onset >= 84) & (day - onset < 147)).mean()
    assert in_window.mean() > 10 * share_lines
    # demographics are correlated, not independent
    customers = pq.read_table(res.paths["customers"]).to_pylist()
    young = [c for c in customers if c["age_band"] == "18-24"]
    old = [c for c in customers if c["age_band"] == "65+"]
    assert (np.mean([c["marital_status"] == "single" for c in young])
            > 3 * np.mean([c["marital_status"] == "single" for c in old]))
    # pregnancy only among women of child-bearing age
    by_id = {c["customer_id"]: c for c in customers}
    assert all(by_id[c]["gender"] != "male" for c in pregnant)
    assert all(by_id[c]["age_band"] in ("18-24", "25-34", "35-44", "45-54") for c in pregnant)


@pytest.mark.jit
def test_default_population_is_in_the_range_of_real_data(tmp_path):
    res = simulate(SimConfig(customers=5_000, seed=1), tmp_path)
    lines = pq.read_table(res.paths["lines"], columns=["customer_id", "basket_id"])
    baskets = lines.group_by("basket_id").aggregate([("customer_id", "count")])
    sizes = baskets["customer_id_count"].to_numpy()
    assert 8 <= sizes.mean() <= 13  # retail.dat: 10.3
    per_customer = lines.num_rows / np.unique(lines["customer_id"].to_numpy()).shape[0]
    assert 40 <= per_customer <= 250  # Online Retail: 91.7 lines per customer
    assert not math.isnan(per_customer)


def test_cli_synth(tmp_path, capsys):
    from basketguard.engine.cli.main import main

    rc = main(["synth", "--customers", "12", "--days", "30", "--items", str(MIN_ITEMS),
               "--seed", "4", "--events", "pregnancy,diabetes_onset", "--out", str(tmp_path)])
    assert rc == ExitCode.OK
    assert "12 customers" in capsys.readouterr().out
    for name in FILES:
        assert (tmp_path / f"{name}.parquet").is_file()
    assert (tmp_path / "project.toml").is_file()
    rc = main(["synth", "--customers", "-5", "--out", str(tmp_path)])
    assert rc == ExitCode.ERROR
    assert "customers: -5" in capsys.readouterr().err
    rc = main(["synth", "--events", "pregnancy,moon_landing", "--out", str(tmp_path)])
    assert rc == ExitCode.ERROR
    assert "moon_landing" in capsys.readouterr().err
    rc = main(["synth", "--start", "2024-13-01", "--out", str(tmp_path)])
    assert rc == ExitCode.ERROR
    assert "--start" in capsys.readouterr().err
