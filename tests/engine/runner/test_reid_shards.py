"""Re-identification over shards: unicity, attribute classes, k^m and the whole ``assess``
over any shard count and customer-hash seed equal the in-memory run."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketguard.engine.cli.main import main
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.reid.assess import (
    AssessOptions,
    ShardBase,
    assess,
    assess_sharded,
    segment_members,
)
from basketguard.engine.reid.unicity import POINT_KINDS, unicity, unicity_sharded
from basketguard.engine.runner.local import customer_shards
from basketguard.engine.runner.shards import build_shards
from basketguard.kernels.windows import day_range


def _subset_runner(hist, n_shards: int, seed: int):
    """``run_parts`` over in-memory shards (``Histories.subset``), shard after shard."""
    parts = [hist.subset(c) for c in customer_shards(hist.n_customers, n_shards, seed=seed)
             if len(c)]

    def run(fn, *args, state=None):
        if state is None:
            return [fn(h, *args) for h in parts]
        for h in parts:
            state = fn(h, *args, state)
        return state

    return run


def _days(hist) -> dict:
    lo, hi = (int(d) for d in day_range(hist.day))
    return {"first_day": lo, "last_day": hi}


def _same_unicity(a, b) -> None:
    for name in ("eligible", "unique", "unique_sq", "p_unique"):
        assert np.array_equal(getattr(a.counts, name), getattr(b.counts, name)), name
    assert (a.counts.members, a.counts.no_points) == (b.counts.members, b.counts.no_points)
    assert np.array_equal(a.members, b.members)
    assert np.array_equal(a.smallest, b.smallest)
    assert np.array_equal(a.risk, b.risk, equal_nan=True)
    assert [e.to_dict() for e in a.unicity] == [e.to_dict() for e in b.unicity]


@settings(max_examples=12, deadline=None)
@given(n_shards=st.integers(1, 6), seed=st.integers(0, 2**64 - 1),
       kind=st.sampled_from(sorted(POINT_KINDS)), sequential=st.booleans(),
       pick=st.integers(0, 2**32 - 1), share=st.sampled_from([0.0, 0.05, 0.4, 1.0]))
def test_unicity_over_shards_equals_in_memory(population, n_shards, seed, kind, sequential, pick,
                                              share):
    _, hist, _ = population
    rng = np.random.default_rng(pick)
    members = np.sort(rng.choice(hist.n_customers, int(share * hist.n_customers), replace=False))
    want = unicity(hist, members, points=kind, p_max=4, draws=3, seed=pick)
    ids = hist.customer_ids.take(pa.array(members, pa.int64()))
    run = _subset_runner(hist, n_shards, seed)
    if not sequential:
        inner = run

        def run(fn, *args, state=None):
            return inner(fn, *args)
    got = unicity_sharded(run, ids, **_days(hist), points=kind, p_max=4, draws=3, seed=pick,
                          sequential=sequential)
    _same_unicity(got, want)


def test_unicity_over_shards_refuses_members_outside_the_base(population):
    _, hist, _ = population
    ids = pa.concat_arrays([hist.customer_ids.slice(0, 3), pa.array([-12345], pa.int64())])
    with pytest.raises(DataError, match="1 member id"):
        unicity_sharded(_subset_runner(hist, 2, 0), ids, **_days(hist), points="items")
    with pytest.raises(ConfigError, match="unknown point kind"):
        unicity_sharded(_subset_runner(hist, 2, 0), ids, **_days(hist), points="item-year")


OPTIONS = AssessOptions(points=("item-day", "items", "store-day"), p_max=3, draws=4, seed=5,
                        item_lists=True, sensitive_signature="new_baby")


@pytest.fixture(scope="module")
def stored(population, tmp_path_factory):
    """The population as 3 stored shards (hash seed 7)."""
    project, _, _ = population
    tmp = tmp_path_factory.mktemp("reid-shards")
    shards = build_shards(project, 3, tmp, "reid", seed=7, temporary=True)
    yield shards
    shards.close()


@pytest.mark.jit
def test_assess_over_stored_shards_equals_in_memory(population, stored):
    project, hist, _ = population
    members, info = segment_members(project, hist, signature="pregnancy")
    assert members.size  # the fixture's seed flags some
    want = assess(project, hist, members, OPTIONS, info).to_dict()
    got = assess_sharded(project, ShardBase.of_shards(project, stored), OPTIONS,
                         signature="pregnancy").to_dict()
    assert got == want
    checks = {f["check"] for f in got["findings"]}
    assert {"reid.k_map.prosecutor", "reid.l_diversity", "reid.unicity",
            "reid.km_anonymity"} <= checks


@pytest.mark.parametrize("n_shards", [1, 4])
def test_assess_of_a_segment_file_over_shards(population, tmp_path, n_shards):
    project, hist, _ = population
    rng = np.random.default_rng(n_shards)
    codes = np.sort(rng.choice(hist.n_customers, hist.n_customers // 3, replace=False))
    ids = hist.customer_ids.take(pa.array(codes, pa.int64()))
    seg = tmp_path / "seg.parquet"
    # repeated and unordered ids are one segment
    pq.write_table(pa.table({"cid": pa.concat_arrays([ids[::-1], ids[:5]])}), seg)
    opts = AssessOptions(points=("item-week",), p_max=2, draws=2, item_lists=True, km_m=1)
    want = assess(project, hist, codes, opts, {"source": f"file {seg}"}).to_dict()
    shards = build_shards(project, n_shards, tmp_path / "sh", "seg", seed=n_shards,
                          temporary=True)
    try:
        got = assess_sharded(project, ShardBase.of_shards(project, shards), opts,
                             segment_file=str(seg), segment_column="cid").to_dict()
    finally:
        shards.close()
    want["segment"]["members"] = len(codes)
    assert got == want


def test_assess_over_shards_errors_and_empty_segments(population, stored, tmp_path):
    project, hist, _ = population
    base = ShardBase.of_shards(project, stored)
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"customer": pa.array([int(hist.customer_ids[0].as_py()), -7],
                                                  pa.int64())}), bad)
    with pytest.raises(DataError, match="1 of 2 segment member id"):
        assess_sharded(project, base, OPTIONS, segment_file=str(bad))
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"customer": pa.array([], pa.int64())}), empty)
    res = assess_sharded(project, base, OPTIONS, segment_file=str(empty))
    assert res.severity.value == "pass"
    assert [f.check for f in res.findings] == ["reid.segment"]
    assert res.segment["customer_base"] == hist.n_customers


@pytest.mark.jit
def test_cli_assess_over_shards_prints_the_same_report(population, tmp_path, capsys):
    project, _, _ = population
    path = str(project.path)
    common = ["assess", path, "--json", "--cache-dir", str(tmp_path), "--segment-signature",
              "pregnancy", "--no-inference", "--item-lists", "--points", "item-day,items"]
    first = main(common)
    whole = capsys.readouterr().out
    assert main([*common, "--shards", "3"]) == first
    assert capsys.readouterr().out == whole
    assert json.loads(whole)["segment"]["members"] > 0
    # the mailing's inference needs the histories in memory: refused, never a pass
    assert main(["assess", path, "--cache-dir", str(tmp_path), "--segment-signature",
                 "pregnancy", "--shards", "3"]) == 3
    assert "--no-inference" in capsys.readouterr().err
