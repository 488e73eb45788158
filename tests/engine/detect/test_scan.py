"""The inference scan end to end (engine.scan) on a small simulated population."""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.detect import scan as scan_mod
from basketguard.engine.detect.scan import ScanResult, scan, scan_histories_with
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.histories.build import Histories
from basketguard.kernels.windows import NO_DAY
from basketguard.models.signatures.schema import load_library
from basketguard.models.simulator.run import SimConfig, simulate

pytestmark = pytest.mark.jit  # 170k lines through the kernel: too slow without the JIT

ENTRY_KEYS = ("customer", "signature", "score", "peak_day", "mask", "event_day", "event_low",
              "event_high")


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    res = simulate(SimConfig(customers=2000, seed=3), out)
    project = load_project(res.paths["project"])
    hist = load_histories(project, cache_dir=out / "c")
    return res, project, hist


@pytest.fixture(scope="module")
def full(population):
    _, project, hist = population
    return scan(project, hist)


def shard(h: Histories, lo: int, hi: int) -> Histories:
    """Customers ``lo .. hi - 1`` of ``h`` as histories of their own."""
    a, b = int(h.offsets[lo]), int(h.offsets[hi])

    def cut(x):
        return None if x is None else x[a:b]

    return Histories(offsets=h.offsets[lo:hi + 1] - a, item=h.item[a:b], day=h.day[a:b],
                     basket=h.basket[a:b], customer_ids=h.customer_ids[lo:hi],
                     item_ids=h.item_ids, quantity=cut(h.quantity), price=cut(h.price),
                     store=cut(h.store), basket_ids=h.basket_ids, store_ids=h.store_ids)


def no_seconds(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "seconds"}


def assert_same_scan(a: ScanResult, b: ScanResult) -> None:
    for k in ENTRY_KEYS:
        assert a.entries[k].dtype == b.entries[k].dtype, k
        np.testing.assert_array_equal(a.entries[k], b.entries[k], err_msg=k)
    for k in a.aggregates:
        np.testing.assert_array_equal(a.aggregates[k], b.aggregates[k], err_msg=k)


def test_scan_finds_something(full):
    assert full.n_customers > 1000 and full.n_lines > 100_000
    s = full.summary()
    flagged = {e["signature"]: e["customers_flagged"] for e in s["signatures"]}
    assert flagged["pregnancy"] > 0
    assert full.as_of == full.last_day


# ------------------------------------------------------------------ summary: aggregates only
SIG_KEYS = {"signature", "title", "sensitivity", "gdpr_art9", "window_days", "threshold",
            "score_threshold", "customers_with_evidence", "customers_flagged", "prevalence",
            "probability_histogram", "score_quantiles_with_evidence", "features",
            "top_products", "top_categories", "event"}


def _walk(node, path=""):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, f"{path}[{i}]")


def test_summary_holds_aggregates_only(full):
    s = full.summary()
    json.loads(json.dumps(s))  # JSON-serializable
    assert set(s) == {"coverage", "customers", "lines", "first_day", "last_day", "as_of",
                      "signatures", "learned",
                      "warnings", "seconds"}
    assert [e["signature"] for e in s["signatures"]] == [g.name for g in full.signatures]
    longest = max(scan_mod.TOP, scan_mod.PROB_BINS, max(len(g.features) for g in full.signatures),
                  len(full.signatures), len(s["warnings"]))
    for path, node in _walk(s):
        if isinstance(node, list):  # nothing per customer: every list is short
            assert len(node) <= longest, path
        if isinstance(node, dict):
            assert not any("customer_id" in str(k) or k == "customer" for k in node), path
    for e in s["signatures"]:
        assert set(e) <= SIG_KEYS
        assert sum(e["probability_histogram"]["counts"]) == full.n_customers
        assert set(e["score_quantiles_with_evidence"]) <= {50, 90, 99, "max"}
        assert all(set(p) == {"product", "category", "flagged_customers"}
                   for p in e["top_products"])
        if "event" in e:
            assert set(e["event"]) == {"name", "flagged_with_estimate", "stage_at_as_of"}
            assert all(isinstance(v, int) for v in e["event"]["stage_at_as_of"].values())


def test_summary_counts_agree_with_scores(full):
    table = full.scores_table()
    sig = np.asarray(table.column("signature").to_pylist(), dtype=object)
    flagged = np.asarray(table.column("flagged").to_pylist())
    plain = {g.name: all(f.weight > 0 and not f.is_absence for f in g.features)
             for g in full.signatures}
    assert any(plain.values()) and not all(plain.values())
    for e in full.summary()["signatures"]:
        mine = sig == e["signature"]
        assert e["customers_with_evidence"] == int(mine.sum())
        assert e["customers_flagged"] == int((mine & flagged).sum())
        for f in e["features"]:
            assert f["flagged_with_feature"] <= e["customers_flagged"]
            # with counter-evidence (or an absence not yet begun) a purchase need not make
            # a positive score, so only plain signatures bound features by evidence
            if plain[e["signature"]]:
                assert f["customers"] <= e["customers_with_evidence"] <= full.n_customers


def test_findings_coverage_then_one_per_signature(full):
    found = full.findings()
    names = [g.name for g in full.signatures]
    assert [f.check for f in found] == ([f"coverage.{n}" for n in names]
                                        + [f"inference.{n}" for n in names])
    problems = {c.signature for c in full.coverage_problems()}
    for f in found[:len(names)]:
        assert (f.severity == "warn") == (f.details["signature"] in problems)


# ------------------------------------------------------------------ per-customer scores
def test_scores_table_columns_and_types(full):
    t = full.scores_table()
    assert t.schema.names == ["customer_id", "signature", "score", "probability", "flagged",
                              "peak_date", "event_date", "event_date_low", "event_date_high",
                              "stage", "top_features"]
    types = dict(zip(t.schema.names, t.schema.types, strict=True))
    assert types["customer_id"] == full.customer_ids.type
    assert types["signature"] == pa.string() and types["stage"] == pa.string()
    assert types["score"] == pa.float64() and types["probability"] == pa.float64()
    assert types["flagged"] == pa.bool_()
    for k in ("peak_date", "event_date", "event_date_low", "event_date_high"):
        assert types[k] == pa.date32()
    assert types["top_features"] == pa.list_(pa.string())
    assert t.num_rows == full.entries["score"].shape[0]
    assert t.column("peak_date").null_count == 0
    ev = t.column("event_date")
    assert ev.null_count == t.column("event_date_low").null_count < t.num_rows
    # low <= event <= high where dated
    rows = [r for r in t.select(["event_date", "event_date_low", "event_date_high"]).to_pylist()
            if r["event_date"] is not None]
    assert all(r["event_date_low"] <= r["event_date"] <= r["event_date_high"] for r in rows)
    # customer ids are the original ids of the entries' customers
    assert t.column("customer_id").to_pylist() == full.customer_ids.take(
        pa.array(full.entries["customer"])).to_pylist()


def test_scores_table_min_probability(full):
    t = full.scores_table(min_probability=0.5)
    assert t.num_rows > 0 and min(t.column("probability").to_pylist()) >= 0.5
    assert t.num_rows == int((full.probability() >= 0.5).sum())


def test_top_features_follow_the_mask(full):
    t = full.scores_table()
    names = {g.name: g for g in full.signatures}
    for i in range(0, t.num_rows, 97):
        g = names[t.column("signature")[i].as_py()]
        mask = int(full.entries["mask"][i])
        tops = t.column("top_features")[i].as_py()
        assert sorted(tops) == sorted(f.name for b, f in enumerate(g.features) if mask >> b & 1)
        weights = [next(f.weight for f in g.features if f.name == n) for n in tops]
        assert weights == sorted(weights, reverse=True)


def test_dense_scores(full):
    d = full.dense_scores("pregnancy")
    s = [g.name for g in full.signatures].index("pregnancy")
    sel = full.entries["signature"] == s
    assert d.shape == (full.n_customers,)
    assert np.count_nonzero(d) == int(sel.sum())
    np.testing.assert_array_equal(d[full.entries["customer"][sel]], full.entries["score"][sel])
    with pytest.raises(ConfigError, match="no signature 'pregnancyy'"):
        full.dense_scores("pregnancyy")


def test_write_scores_atomic(full, tmp_path):
    target = tmp_path / "out" / "scores.parquet"
    target.parent.mkdir()
    target.write_bytes(b"an old file")
    assert full.write_scores(target) == target
    assert sorted(p.name for p in target.parent.iterdir()) == ["scores.parquet"]
    assert pq.read_table(target).equals(full.scores_table())
    full.write_scores(target, min_probability=0.5)  # replaces the file again
    assert sorted(p.name for p in target.parent.iterdir()) == ["scores.parquet"]
    assert pq.read_table(target).equals(full.scores_table(0.5))


def test_write_scores_failure_leaves_no_temp_file(full, tmp_path, monkeypatch):
    target = tmp_path / "scores.parquet"
    target.write_bytes(b"keep me")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scan_mod.pq, "write_table", boom)
    with pytest.raises(KeyboardInterrupt):
        full.write_scores(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]
    assert target.read_bytes() == b"keep me"


# ------------------------------------------------------------------ determinism, shards, order
def test_scan_is_deterministic(population, full):
    _, project, hist = population
    again = scan(project, hist)
    assert_same_scan(full, again)
    assert no_seconds(again.summary()) == no_seconds(full.summary())
    assert again.scores_table().equals(full.scores_table())


def test_blocks_do_not_change_results(population, full):
    _, _, hist = population
    for nb in (1, 3, 64):
        assert_same_scan(full, scan_histories_with(hist, full.library, full.view, n_blocks=nb))


def test_shard_merge_equals_one_scan(population, full):
    _, _, hist = population
    n = hist.n_customers
    for cut in (n // 2, 1, n - 1):
        a = scan_histories_with(shard(hist, 0, cut), full.library, full.view, as_of=full.as_of,
                                horizon=full.horizon)
        b = scan_histories_with(shard(hist, cut, n), full.library, full.view, as_of=full.as_of,
                                horizon=full.horizon)
        merged = a.merge(b)
        assert merged.n_customers == n and merged.n_lines == full.n_lines
        assert (merged.first_day, merged.last_day) == (full.first_day, full.last_day)
        assert_same_scan(merged, full)
        assert no_seconds(merged.summary()) == no_seconds(full.summary())
        assert merged.scores_table().equals(full.scores_table())


def test_merge_needs_one_library(population, full):
    _, project, hist = population
    other = scan(project, shard(hist, 0, 10))
    with pytest.raises(ConfigError, match="share one compiled library"):
        full.merge(other)


def test_shard_merge_default_as_of(population, full):
    _, _, hist = population
    a = scan_histories_with(shard(hist, 0, 1), full.library, full.view, horizon=full.horizon)
    b = scan_histories_with(shard(hist, 1, hist.n_customers), full.library, full.view,
                            horizon=full.horizon)
    assert a.last_day < full.last_day  # precondition of this example
    merged = a.merge(b)
    assert merged.as_of == full.as_of
    assert no_seconds(merged.summary()) == no_seconds(full.summary())


def test_shards_with_their_own_horizons_do_not_merge(population, full):
    _, _, hist = population
    a = scan_histories_with(shard(hist, 0, 1), full.library, full.view)
    b = scan_histories_with(shard(hist, 1, hist.n_customers), full.library, full.view)
    assert a.horizon < b.horizon  # precondition: the first customer's last day is earlier
    with pytest.raises(ConfigError, match="share one horizon"):
        a.merge(b)


def test_shard_merge_with_empty_shard(population, full):
    _, _, hist = population
    n = hist.n_customers
    a = scan_histories_with(shard(hist, 0, n), full.library, full.view, as_of=full.as_of)
    b = scan_histories_with(shard(hist, n, n), full.library, full.view, as_of=full.as_of)
    merged = a.merge(b)
    assert_same_scan(merged, full)
    assert (merged.first_day, merged.last_day) == (full.first_day, full.last_day)


def test_shuffled_lines_give_identical_results(population, full, tmp_path, rng):
    res, _, _ = population
    for name in ("catalog", "customers", "truth", "project"):
        shutil.copy(res.paths[name], tmp_path / res.paths[name].name)
    lines = pq.read_table(res.paths["lines"])
    perm = rng.permutation(lines.num_rows)
    pq.write_table(lines.take(pa.array(perm)), tmp_path / "lines.parquet", row_group_size=20_000)
    project = load_project(tmp_path / "project.toml")
    hist = load_histories(project, cache_dir=tmp_path / "c")
    other = scan(project, hist)
    assert other.customer_ids.equals(full.customer_ids)
    assert other.item_ids.equals(full.item_ids)
    assert_same_scan(other, full)
    assert no_seconds(other.summary()) == no_seconds(full.summary())


# ------------------------------------------------------------------ as_of and stages
def _expected_stage(sig, as_of: int, event: int) -> str | None:
    rel = as_of - event
    for st in sig.stages:
        if st.start <= rel < st.end:
            return st.name
    if rel < min(st.start for st in sig.stages):
        return f"before {sig.stages[0].name}"
    if rel >= max(st.end for st in sig.stages):
        return f"after {sig.stages[-1].name}"
    return None


@pytest.mark.parametrize("as_of", ["2024-06-30", datetime.date(2024, 10, 1), "2025-06-01",
                                   None])
def test_as_of_stage_names(population, as_of):
    _, project, hist = population
    lib = load_library(only=["pregnancy"])
    res = scan(project, hist, lib, as_of=as_of)
    want_day = (scan_mod.date_to_day(as_of) if as_of is not None else res.last_day)
    assert res.as_of == want_day
    sig = lib[0]
    t = res.scores_table()
    dated = 0
    for row in t.select(["event_date", "stage", "flagged"]).to_pylist():
        if row["event_date"] is None:
            assert row["stage"] is None
            continue
        dated += 1
        event = (row["event_date"] - datetime.date(1970, 1, 1)).days
        assert row["stage"] == _expected_stage(sig, want_day, event)
    assert dated > 0
    s = res.summary()
    assert s["as_of"] == scan_mod.day_to_date(want_day).isoformat()
    counts: dict[str, int] = {}
    for row in t.to_pylist():
        if row["flagged"] and row["stage"] is not None:
            counts[row["stage"]] = counts.get(row["stage"], 0) + 1
    assert s["signatures"][0]["event"]["stage_at_as_of"] == counts


def test_as_of_not_a_date(population):
    _, project, hist = population
    with pytest.raises(ConfigError, match="not an ISO date"):
        scan(project, hist, load_library(only=["pregnancy"]), as_of="30/06/2024")


def test_scan_without_lines(population):
    _, project, hist = population
    with pytest.raises(DataError, match="no basket lines"):
        scan(project, shard(hist, 0, 0))


def test_stage_names_without_stages(full):
    sig = next(g for g in full.signatures if not g.stages)
    names = full._stage_names(sig, np.array([0, NO_DAY], np.int32))
    assert names.tolist() == [None, None]


def test_merge_does_not_modify_its_inputs(full):
    # merge returns a fresh result and leaves both inputs unchanged
    before = {k: v.copy() for k, v in full.entries.items()}
    empty_like = dataclasses.replace(full)
    full.merge(empty_like)
    for k, v in before.items():
        np.testing.assert_array_equal(full.entries[k], v)
