"""Out-of-core shards: every shard is the in-memory build's subset of its customers,
and a scan over any shard count and customer-hash seed is the in-memory scan."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketguard.engine import api
from basketguard.engine.cli.main import main
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan, scan_shards
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.histories import ingest
from basketguard.engine.histories.build import histories_from_project
from basketguard.engine.runner import shards as sh
from basketguard.engine.runner.shards import (
    PEAK_BYTES_PER_LINE,
    SHARD_BYTES_PER_LINE,
    build_shards,
    parse_memory,
    shard_histories,
    shards_needed,
)
from tests.engine.histories.test_build import project as oracle_project
from tests.engine.histories.test_build import sources, write_source


def _ids(a: pa.Array) -> list:
    return a.to_pylist()


def _same_as_subset(full, part) -> None:
    """``part`` is ``full.subset`` of its customers, baskets compared by id."""
    pos = {v: i for i, v in enumerate(_ids(full.customer_ids))}
    codes = np.array([pos[v] for v in _ids(part.customer_ids)], np.int64)
    assert np.all(np.diff(codes) > 0)  # ascending ids, as a whole build numbers them
    sub = full.subset(codes)
    assert np.array_equal(sub.offsets, part.offsets)
    for name in ("item", "day", "quantity", "price", "store"):
        a, b = getattr(sub, name), getattr(part, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    assert _ids(sub.item_ids) == _ids(part.item_ids)
    if full.basket_ids is None:  # derived baskets: the same grouping of lines
        assert part.basket_ids is None
        assert np.array_equal(np.unique(sub.basket, return_inverse=True)[1],
                              np.unique(part.basket, return_inverse=True)[1])
    else:
        assert _ids(full.basket_ids.take(pa.array(sub.basket))) == \
            _ids(part.basket_ids.take(pa.array(part.basket)))


@settings(max_examples=40)
@given(case=sources(max_rows=16), n_shards=st.integers(1, 5), seed=st.integers(0, 2**64 - 1),
       duplicate=st.sampled_from(["drop", "keep"]), lazy=st.booleans())
def test_shards_are_subsets_of_the_whole_build(tmp_path_factory, case, n_shards, seed,
                                               duplicate, lazy):
    rows, cfg = case
    tmp = tmp_path_factory.mktemp("src")
    write_source(tmp, rows, cfg)
    proj = oracle_project(tmp, cfg, duplicate)
    try:
        full = histories_from_project(proj)
    except DataError as exc:
        with pytest.raises(DataError, match="no basket line is left"):
            build_shards(proj, n_shards, tmp / "shards", "k", seed=seed, temporary=True,
                         lazy=lazy)
        assert "no basket line is left" in str(exc)
        assert not list((tmp / "shards").iterdir())  # no spill left behind
        return
    got = build_shards(proj, n_shards, tmp / "shards", "k", seed=seed, temporary=True,
                       lazy=lazy)
    try:
        # a lazy set knows the horizon before any shard is built
        days = full.day
        assert (got.first_day, got.last_day) == (int(days.min()), int(days.max()))
        parts = list(got)
        assert 1 <= len(parts) <= n_shards  # a shard no customer hashes to is not stored
        assert all(p.n_customers for p in parts)
        for part in parts:
            _same_as_subset(full, part)
        assert sorted(v for p in parts for v in _ids(p.customer_ids)) == \
            sorted(_ids(full.customer_ids))
        assert got.n_lines == full.n_lines and got.n_customers == full.n_customers
        assert got.info["dropped"] == full.info["dropped"]
        assert got.info["rows_read"] == full.info["rows_read"]
        assert got.info["duplicates_found"] == full.info["duplicates_found"]
        assert sum(got.info["shard_lines"]) == full.n_lines
    finally:
        got.close()
    assert not (tmp / "shards").exists() or not list((tmp / "shards").iterdir())


# ------------------------------------------------------------------ the scan
def _same_scan(got, full) -> None:
    assert got.summary() == full.summary()
    assert got.scores_table().equals(full.scores_table())
    assert [f.to_dict() for f in got.findings()] == [f.to_dict() for f in full.findings()]
    for k, v in full.entries.items():
        assert np.array_equal(got.entries[k], v), k
    assert _ids(got.customer_ids) == _ids(full.customer_ids)
    assert len(got.learned) == len(full.learned)
    for a, b in zip(got.learned, full.learned, strict=True):
        assert np.array_equal(a.scores, b.scores)
        assert (a.coverage, a.empty_groups, a.notes) == (b.coverage, b.empty_groups, b.notes)


@settings(max_examples=8)
@given(n_shards=st.integers(1, 9), seed=st.integers(0, 2**64 - 1), lazy=st.booleans())
def test_scan_over_shards_is_the_in_memory_scan(population, n_shards, seed, lazy):
    project, hist, out = population
    full = scan(project, hist)
    got_set = shard_histories(project, n_shards=n_shards, seed=seed, use_cache=False,
                              cache_dir=out / "cache", lazy=lazy)
    try:
        _same_scan(scan_shards(project, got_set), full)
        if lazy:  # each shard went from its build to the scan: nothing was written
            assert [p.name for p in got_set.folder.iterdir() if p.name != "concepts"] == []
            assert got_set.n_lines == hist.n_lines
            with pytest.raises(RuntimeError, match="taken once"):
                got_set.load(0)
    finally:
        got_set.close()


def test_a_lazy_cached_set_is_stored_as_it_is_scanned(population, tmp_path, monkeypatch):
    """A lazily built set in the cache stores each shard as the scan takes it and writes
    its manifest after the last one; the next run reads it back."""
    project, hist, _ = population
    full = scan(project, hist)
    first = shard_histories(project, n_shards=3, cache_dir=tmp_path, lazy=True)
    assert first.info["cache"] == "stored"
    assert not list(tmp_path.glob("*.shards.json"))  # not complete yet
    _same_scan(scan_shards(project, first), full)
    assert len(list(tmp_path.glob("*.shards.json"))) == 1
    assert not [p for p in tmp_path.iterdir() if "spill" in p.name]
    first.close()
    monkeypatch.setattr(sh, "stream_lines", lambda *a, **k: pytest.fail("read again"))
    again = shard_histories(project, cache_dir=tmp_path, n_shards=3, lazy=True)
    assert again.info["cache"] == "hit" and again.info["lines"] == hist.n_lines
    _same_scan(scan_shards(project, again), full)


def test_a_damaged_spill_is_an_error_naming_it(population, tmp_path):
    """A spill file cut short while a lazy set waits to build it is a clear error."""
    project, _, _ = population
    got = shard_histories(project, n_shards=2, use_cache=False, cache_dir=tmp_path, lazy=True)
    try:
        spill = next(p for p in got.folder.iterdir() if "spill" in p.name)
        victim = spill / "0.item"
        victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
        with pytest.raises(DataError, match=r"spill of shard 1 .* damaged.*Run again"):
            got.take(0)
    finally:
        got.close()
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_lazy_scan_leaves_nothing(population, tmp_path):
    project, _, _ = population
    got = shard_histories(project, n_shards=3, cache_dir=tmp_path, lazy=True)
    assert [p for p in tmp_path.iterdir() if "spill" in p.name]
    got.take(0)  # stored in the cache, but the set is not complete
    assert len([p for p in tmp_path.iterdir() if p.is_dir() and "shard" in p.name]) == 1
    got.close()
    assert list(tmp_path.iterdir()) == []
    # a set nobody closes takes its spill with it when it goes
    got = shard_histories(project, n_shards=3, use_cache=False, cache_dir=tmp_path, lazy=True)
    spill = [p for p in got.folder.iterdir() if "spill" in p.name]
    assert spill
    del got
    import gc

    gc.collect()
    assert not spill[0].exists()


@pytest.mark.parametrize("as_of", [None, "2024-06-01"])
def test_learned_scoring_over_shards_is_in_memory(population, detectors, as_of):
    project, hist, out = population
    full = scan(project, hist, as_of=as_of, detectors=detectors)
    got_set = shard_histories(project, n_shards=3, use_cache=False, cache_dir=out / "cache")
    try:
        _same_scan(scan_shards(project, got_set, as_of=as_of, detectors=detectors), full)
    finally:
        got_set.close()


def test_a_budget_smaller_than_the_data_still_completes(population):
    """The budget decides the shard count; the result is the in-memory one."""
    project, hist, out = population
    budget = hist.n_lines * PEAK_BYTES_PER_LINE // 3
    got_set = shard_histories(project, memory_limit=budget, use_cache=False,
                              cache_dir=out / "cache")
    assert got_set is not None and len(got_set) >= 3
    try:
        lines = got_set.info["shard_lines"]
        assert sum(lines) / len(lines) * SHARD_BYTES_PER_LINE <= budget
        _same_scan(scan_shards(project, got_set), scan(project, hist))
    finally:
        got_set.close()
    assert shard_histories(project, memory_limit=10 * budget, use_cache=False,
                           cache_dir=out / "cache") is None  # fits: in memory
    assert api.scan(project, memory_limit=budget, use_cache=False,
                    cache_dir=out / "cache").summary() == scan(project, hist).summary()


def test_the_cache_holds_the_shards(population, tmp_path, monkeypatch):
    project, hist, _ = population
    first = shard_histories(project, n_shards=4, cache_dir=tmp_path)
    assert first.info["cache"] == "stored"
    want = scan_shards(project, first).summary()

    def no_reading(*a, **k):
        raise AssertionError("the source was read again")

    monkeypatch.setattr(sh, "stream_lines", no_reading)
    again = shard_histories(project, n_shards=2, cache_dir=tmp_path)  # any count is reused
    assert again.info["cache"] == "hit" and len(again) == 4
    assert scan_shards(project, again).summary() == want
    assert not [p for p in tmp_path.iterdir() if "spill" in p.name]

    # a damaged shard: a clear error naming it, and the next run rebuilds
    victim = tmp_path / again.keys[2] / "lines.arrow"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"shard 3 of 4 .*Run again"):
        scan_shards(project, again)
    monkeypatch.undo()
    rebuilt = shard_histories(project, n_shards=2, cache_dir=tmp_path)
    assert rebuilt.info["cache"] == "stored" and len(rebuilt) == 2
    assert scan_shards(project, rebuilt).summary() == want


def test_an_interrupted_build_leaves_nothing(population, tmp_path):
    project, _, _ = population
    calls = []

    def stop(rows, total):
        calls.append(rows)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shard_histories(project, n_shards=3, cache_dir=tmp_path, progress=stop)
    assert calls
    assert list(tmp_path.iterdir()) == []

    def stop_building(message):
        if message.startswith("building shard 2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shard_histories(project, n_shards=3, cache_dir=tmp_path, stage=stop_building)
    assert list(tmp_path.iterdir()) == []  # shard 1, already stored, is removed too


def test_duplicates_under_an_error_policy(tmp_path):
    """``validation.duplicate = "error"`` stops a sharded build as it stops a whole one."""
    lines = pa.table({"c": [1, 1, 2], "i": [5, 5, 6],
                      "t": pa.array([0, 0, 86400], pa.timestamp("s"))})
    import pyarrow.parquet as pq

    pq.write_table(lines, tmp_path / "lines.parquet")
    (tmp_path / "p.toml").write_text(
        '[lines]\nsource = "lines.parquet"\n[lines.columns]\ncustomer = "c"\nitem = "i"\n'
        'time = "t"\n[validation]\nduplicate = "error"\n')
    proj = load_project(tmp_path / "p.toml")
    with pytest.raises(DataError, match="exact duplicate"):
        histories_from_project(proj)
    with pytest.raises(DataError, match="exact duplicate"):
        shard_histories(proj, n_shards=2, cache_dir=tmp_path / "c")
    assert list((tmp_path / "c").iterdir()) == []  # no spill, no shard, no manifest


def test_cli_scan_out_of_core_prints_the_same_report(population, tmp_path, capsys):
    project, hist, _ = population
    budget = str(hist.n_lines * PEAK_BYTES_PER_LINE // 3)  # bytes: three shards or more
    path = str(project.path)
    assert main(["scan", path, "--json", "--cache-dir", str(tmp_path / "a")]) == 0
    whole = capsys.readouterr().out
    assert main(["scan", path, "--json", "--shards", "3", "--cache-dir",
                 str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out == whole
    assert main(["scan", path, "--json", "--no-cache", "--memory-limit", budget,
                 "--cache-dir", str(tmp_path / "c")]) == 0
    assert capsys.readouterr().out == whole
    assert (tmp_path / "c").is_dir()  # where the temporary shards went
    assert [p for p in (tmp_path / "c").iterdir() if p.name.startswith(".shards-")] == []
    assert json.loads(whole)["signatures"]


# ------------------------------------------------------------------ budgets
@pytest.mark.parametrize("text, want", [
    ("123", 123), ("16G", 16 << 30), ("800M", 800 << 20), ("1.5g", 3 << 29),
    ("64KiB", 64 << 10), ("2gb", 2 << 30), (" 7 ", 7),
])
def test_parse_memory(text, want):
    assert parse_memory(text) == want


@pytest.mark.parametrize("text", ["", "0", "-1G", "12x", "G", "1.2.3M"])
def test_parse_memory_refuses(text):
    with pytest.raises(ConfigError, match="--memory-limit: .* not a memory size"):
        parse_memory(text)


def test_shards_needed():
    assert shards_needed(None, 1) == 1
    assert shards_needed(0, 1) == 1
    assert shards_needed(1000, 1000 * PEAK_BYTES_PER_LINE) == 1
    n = shards_needed(10**9, 16 << 30)
    assert n >= 4
    assert 10**9 // n * SHARD_BYTES_PER_LINE <= 16 << 30
    with pytest.raises(ConfigError, match=r"of 1 GiB is too small .* about 2.46 GiB"):
        shards_needed(10**9, 1 << 30)


def test_default_memory_limit(monkeypatch):
    monkeypatch.setenv("BASKETGUARD_MEMORY_LIMIT", "3G")
    assert sh.default_memory_limit() == 3 << 30
    monkeypatch.setenv("BASKETGUARD_MEMORY_LIMIT", "lots")
    with pytest.raises(ConfigError, match="BASKETGUARD_MEMORY_LIMIT"):
        sh.default_memory_limit()
    monkeypatch.delenv("BASKETGUARD_MEMORY_LIMIT")
    assert 0 < sh.default_memory_limit() <= max(sh.machine_memory(), 4 << 30)


def test_stream_lines_counts_as_it_reads(population):
    project, hist, _ = population
    state, chunks = ingest.stream_lines(project.lines, project.validation)
    assert state.rows_read == 0 and state.chunks == []
    n = sum(len(c) for c in chunks)
    assert state.rows_read == hist.info["rows_read"] and n >= hist.n_lines
