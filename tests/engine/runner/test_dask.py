"""Dask: a local cluster of two worker processes gives the single-machine results,
also when a worker is killed mid-run; workers return partials, never lines."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.cli.main import main
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan, scan_distributed
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.runner.dask import connect, read_partitions

distributed = pytest.importorskip("distributed")

# Workers run compiled kernels from the cache the parent filled; without the JIT
# the kernels are tested elsewhere, and these would only be slow.
pytestmark = pytest.mark.jit


@pytest.fixture(scope="module")
def cluster():
    with connect("local:2", threads_per_worker=1, memory_limit="2GB") as c:
        yield c


def _same_scan(got, full) -> None:
    assert got.summary() == full.summary()
    assert got.scores_table().equals(full.scores_table())
    assert got.customer_ids.to_pylist() == full.customer_ids.to_pylist()
    for k, v in full.entries.items():
        assert np.array_equal(got.entries[k], v), k
    for a, b in zip(got.learned, full.learned, strict=True):
        assert np.array_equal(a.scores, b.scores)


@pytest.mark.parametrize("n_parts, seed", [(1, 0), (2, 0), (3, 7), (5, 2**63)])
def test_scan_on_two_workers_is_the_single_machine_scan(cluster, population, n_parts, seed):
    project, hist, _ = population
    parts = read_partitions(cluster, project.path, n_parts, seed=seed)
    try:
        assert parts.info["lines"] == hist.n_lines
        assert parts.info["customers"] == hist.n_customers
        assert parts.info["dropped"] == hist.info["dropped"]
        assert parts.info["rows_read"] == hist.info["rows_read"]
        assert parts.item_ids.equals(hist.item_ids)
        _same_scan(scan_distributed(project, parts), scan(project, hist))
    finally:
        parts.release()


def test_a_database_source_is_split_in_its_query(cluster, population, tmp_path):
    """A DuckDB source: each partition's query keeps its own customers (the database's
    hash), so each row is read once over all partitions; the scan is the single machine's."""
    import duckdb

    project, hist, _ = population
    folder = project.path.parent
    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    con.execute(f"CREATE TABLE lines AS SELECT * FROM read_parquet('{folder / 'lines.parquet'}')")
    con.close()
    text = project.path.read_text().replace('source = "lines.parquet"',
                                            f'source = "{tmp_path / "shop.duckdb"}"\n'
                                            'table = "lines"', 1)
    for name in ("catalog", "customers", "truth"):
        text = text.replace(f'source = "{name}.parquet"', f'source = "{folder / name}.parquet"')
    (tmp_path / "db.toml").write_text(text)
    db = load_project(tmp_path / "db.toml")
    parts = read_partitions(cluster, db.path, 3, seed=5)
    try:
        assert parts.info["rows_read"] == hist.info["rows_read"]  # each row read once in all
        assert parts.info["lines"] == hist.n_lines
        assert 0 < min(parts.info["partition_lines"])
        _same_scan(scan_distributed(db, parts), scan(project, hist))
    finally:
        parts.release()


def test_learned_scoring_on_two_workers(cluster, population, detectors):
    project, hist, _ = population
    parts = read_partitions(cluster, project.path, 3)
    try:
        got = scan_distributed(project, parts, detectors=detectors, as_of="2024-09-01")
        _same_scan(got, scan(project, hist, detectors=detectors, as_of="2024-09-01"))
    finally:
        parts.release()


@pytest.mark.parametrize("n_parts", [2, 3])
def test_assess_on_two_workers_is_the_single_machine_assess(cluster, population, n_parts):
    """Classes, unicity (two point kinds), l-diversity and k^m over Dask partitions."""
    from basketguard.engine.reid.assess import (
        AssessOptions,
        ShardBase,
        assess,
        assess_sharded,
        segment_members,
    )

    project, hist, _ = population
    opts = AssessOptions(points=("item-day", "items"), p_max=3, draws=3, seed=2,
                         item_lists=True, sensitive_signature="new_baby")
    members, info = segment_members(project, hist, signature="pregnancy")
    want = assess(project, hist, members, opts, info).to_dict()
    parts = read_partitions(cluster, project.path, n_parts, seed=n_parts)
    try:
        base = ShardBase.of_partitions(project, parts)
        assert assess_sharded(project, base, opts, signature="pregnancy").to_dict() == want
        with pytest.raises(ConfigError, match="store-day"):
            assess_sharded(project, base, AssessOptions(points=("store-day",), attributes=()),
                           signature="pregnancy")
    finally:
        parts.release()


def test_partials_not_lines_come_back(cluster, population):
    """What a partition task returns is sized by customers and entries, not by lines."""
    from basketguard.engine.detect.scan import _scan_partition

    project, hist, _ = population
    parts = read_partitions(cluster, project.path, 2)
    try:
        library_hist = hist
        from basketguard.engine.detect.scan import compile_for

        library, view = compile_for(project, library_hist)
        raw = parts.map(_scan_partition, library, view, None, parts.last_day, None, None)
        for r in raw:
            assert set(r) == {"customer_ids", "n_customers", "n_lines", "first_day",
                              "last_day", "entries", "aggregates", "learned"}
            for v in r["entries"].values():
                assert len(v) < r["n_lines"]  # one per (customer, signature) with evidence
    finally:
        parts.release()


def test_a_killed_worker_gives_the_same_result(population):
    """The partitions live on the workers; one worker process is killed between reading
    and scoring, losing what it held. Dask recomputes it elsewhere: same result."""
    project, hist, _ = population
    want = scan(project, hist)
    with connect("local:2", threads_per_worker=1, memory_limit="2GB") as c:
        parts = read_partitions(c, project.path, 4)
        live = [f for f in parts.futures if f is not None]
        distributed.wait(live)
        held = c.client.who_has(live)
        pids = c.client.run(os.getpid)
        victim = next(iter(held.values()))[0]
        os.kill(pids[victim], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while victim in c.client.scheduler_info(n_workers=-1)["workers"] and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        assert victim not in c.client.scheduler_info(n_workers=-1)["workers"]
        _same_scan(scan_distributed(project, parts), want)
        parts.release()


def test_cli_scan_on_dask_prints_the_same_report(population, tmp_path, capsys):
    project, _, _ = population
    path = str(project.path)
    assert main(["scan", path, "--json", "--cache-dir", str(tmp_path)]) == 0
    whole = capsys.readouterr().out
    assert main(["scan", path, "--json", "--cache-dir", str(tmp_path), "--scheduler", "local:2",
                 "--partitions", "3"]) == 0
    assert capsys.readouterr().out == whole


def test_errors_on_workers_reach_the_client(cluster, tmp_path):
    """A bad row under an error policy, raised on a worker, is the same DataError here."""
    pq.write_table(pa.table({"c": [1, 2, None], "i": [5, 6, 7],
                             "t": pa.array([0, 86400, 3], pa.timestamp("s"))}),
                   tmp_path / "lines.parquet")
    (tmp_path / "p.toml").write_text(
        '[lines]\nsource = "lines.parquet"\n[lines.columns]\ncustomer = "c"\nitem = "i"\n'
        'time = "t"\n[validation]\nnull_id = "error"\n')
    with pytest.raises(DataError, match="have no customer id"):
        read_partitions(cluster, tmp_path / "p.toml", 2)
    (tmp_path / "p.toml").write_text(
        '[lines]\nsource = "lines.parquet"\nfilter = "c > 100"\n[lines.columns]\n'
        'customer = "c"\nitem = "i"\ntime = "t"\n')
    with pytest.raises(DataError, match="no basket line is left"):
        read_partitions(cluster, tmp_path / "p.toml", 2)


def test_text_customer_ids(cluster, tmp_path):
    """Text ids hash by their bytes on every worker alike: the same as one machine."""
    rng = np.random.default_rng(3)
    n = 4000
    cust = [f"shopper-{k}" for k in rng.integers(0, 300, n)]
    pq.write_table(pa.table({"c": cust, "i": rng.integers(0, 50, n),
                             "t": pa.array(rng.integers(0, 86400 * 200, n), pa.timestamp("s"))}),
                   tmp_path / "lines.parquet")
    (tmp_path / "p.toml").write_text(
        '[lines]\nsource = "lines.parquet"\n[lines.columns]\ncustomer = "c"\nitem = "i"\n'
        'time = "t"\n')
    project = load_project(tmp_path / "p.toml")
    from basketguard.engine.api import load_histories

    hist = load_histories(project, use_cache=False)
    parts = read_partitions(cluster, project.path, 3)
    try:
        assert parts.info["customers"] == hist.n_customers
        _same_scan(scan_distributed(project, parts), scan(project, hist))
    finally:
        parts.release()


@pytest.mark.parametrize("address, match", [("local:0", "local:N"), ("local:two", "local:N")])
def test_bad_scheduler(address, match):
    with pytest.raises(ConfigError, match=match):
        connect(address)
