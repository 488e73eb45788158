"""The local runner: every shardable measure over customer shards of any count and
any partition gives the in-memory result (scan, unicity, itemsets, attribute classes)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan, scan_histories_with
from basketguard.engine.errors import ConfigError
from basketguard.engine.histories.transactions import transactions_from_histories
from basketguard.engine.io.tables import read_role
from basketguard.engine.reid.attributes import encode_attributes
from basketguard.engine.reid.classes import AttributeClassCounts
from basketguard.engine.reid.kmanonymity import count_itemsets
from basketguard.engine.reid.unicity import build_point_index, unicity_counts
from basketguard.engine.runner.local import customer_shards, run_histories, run_shards
from basketguard.engine.runner.partial import Partial, merge_all
from basketguard.models.simulator.run import SimConfig, simulate

SHARDINGS = [(1, "hash"), (2, "hash"), (3, "range"), (7, "hash"), (16, "range")]


# ------------------------------------------------------------------ partitions
@given(st.integers(0, 300), st.integers(1, 20), st.sampled_from(["hash", "range"]),
       st.integers(0, 2**32))
def test_shards_hold_every_customer_once(n, k, by, seed):
    shards = customer_shards(n, k, by=by, seed=seed)
    assert len(shards) == k
    assert all(np.all(np.diff(s) > 0) for s in shards)
    assert np.array_equal(np.sort(np.concatenate(shards)), np.arange(n))


def test_shards_are_deterministic_and_seeded():
    a = customer_shards(1000, 4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, customer_shards(1000, 4, seed=1),
                                                     strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, customer_shards(1000, 4, seed=2),
                                                         strict=True))
    sizes = [len(s) for s in a]
    assert min(sizes) > 200  # a hash spreads customers evenly


def test_shards_of_given_codes():
    codes = np.array([10, 3, 7, 42], np.int64)
    got = customer_shards(codes, 2, by="range")
    assert [s.tolist() for s in got] == [[10, 3], [7, 42]]


@pytest.mark.parametrize("bad, match", [
    (dict(n_shards=0), "at least 1"), (dict(n_shards=2, by="round-robin"), "unknown shard"),
])
def test_bad_partitions_are_config_errors(bad, match):
    with pytest.raises(ConfigError, match=match):
        customer_shards(10, **bad)


def test_merge_all_checks_kind_and_key():
    class Count:
        def __init__(self, n, key="a"):
            self.n, self.key = n, key

        @property
        def merge_key(self):
            return self.key

        def merge(self, other):
            return Count(self.n + other.n, self.key)

        def finalize(self):
            return self.n

    assert isinstance(Count(1), Partial)
    assert merge_all([Count(1), Count(2), Count(3)]).finalize() == 6
    with pytest.raises(ConfigError, match="nothing to merge"):
        merge_all([])
    with pytest.raises(ConfigError, match="different parameters"):
        merge_all([Count(1), Count(2, "b")])
    with pytest.raises(ConfigError, match="of one kind"):
        merge_all([Count(1), 5])
    with pytest.raises(ConfigError, match="no shards"):
        run_shards(lambda codes: Count(len(codes)), [])
    assert run_shards(lambda codes: Count(len(codes)), customer_shards(10, 30)).finalize() == 10


# ---------------------------------------------------------------- the measures
@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("runner")
    res = simulate(SimConfig(customers=1200, seed=11), out / "data")
    project = load_project(res.paths["project"])
    return project, load_histories(project, use_cache=False)


def _no_seconds(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k != "seconds"}


def _sorted_scores(table: pa.Table) -> pa.Table:
    return table.sort_by([("customer_id", "ascending"), ("signature", "ascending")])


@pytest.mark.jit
@pytest.mark.parametrize("n_shards, by", SHARDINGS)
def test_scan_over_shards_is_the_scan(population, n_shards, by):
    project, hist = population
    full = scan(project, hist)
    merged = run_histories(lambda h: scan_histories_with(h, full.library, full.view,
                                                         horizon=full.horizon), hist,
                           n_shards, by=by).finalize()
    assert _no_seconds(merged.summary()) == _no_seconds(full.summary())
    assert _sorted_scores(merged.scores_table()).equals(_sorted_scores(full.scores_table()))
    assert [f.to_dict() for f in merged.findings()] == [f.to_dict() for f in full.findings()]


@pytest.mark.jit
@pytest.mark.parametrize("n_shards, by", SHARDINGS)
def test_unicity_over_member_shards_is_the_unicity(population, n_shards, by):
    _, hist = population
    index = build_point_index(hist, "item-day")
    members = np.arange(0, hist.n_customers, 3, dtype=np.int64)
    whole, _ = unicity_counts(hist, members, index, p_max=3, draws=4, seed=9)
    merged = run_shards(lambda codes: unicity_counts(hist, codes, index, p_max=3, draws=4,
                                                     seed=9)[0],
                        customer_shards(members, n_shards, by=by))
    for name in ("eligible", "unique", "unique_sq", "p_unique"):
        assert np.array_equal(getattr(merged, name), getattr(whole, name)), name
    assert (merged.members, merged.no_points) == (whole.members, whole.no_points)
    assert [e.to_dict() for e in merged.finalize().unicity] == \
        [e.to_dict() for e in whole.finalize().unicity]


@pytest.mark.jit
@pytest.mark.parametrize("n_shards, by", SHARDINGS)
def test_itemsets_over_shards_are_the_itemsets(population, n_shards, by):
    _, hist = population
    whole = count_itemsets(transactions_from_histories(hist, "members"), 2)
    merged = run_histories(lambda h: count_itemsets(transactions_from_histories(h, "members"),
                                                    2), hist, n_shards, by=by)
    assert merged.n_transactions == whole.n_transactions
    for a, b in zip(merged.keys + merged.counts, whole.keys + whole.counts, strict=True):
        assert np.array_equal(a, b)
    assert merged.finalize(k=5).n_violating == whole.finalize(k=5).n_violating


@pytest.mark.parametrize("n_shards, by", SHARDINGS)
def test_attribute_classes_over_shards_are_the_classes(population, n_shards, by):
    project, _ = population
    customers = read_role(project, "customers")
    codes = encode_attributes(customers)
    whole = AttributeClassCounts.of(codes)
    merged = run_shards(lambda rows: AttributeClassCounts.of(codes, rows),
                        customer_shards(customers.num_rows, n_shards, by=by))
    assert merged.records == whole.records == customers.num_rows
    assert np.array_equal(merged.counts.codes, whole.counts.codes)
    assert np.array_equal(merged.counts.counts, whole.counts.counts)
    assert merged.finalize() == whole.finalize()
    other = AttributeClassCounts.of(encode_attributes(customers, codes.names[:1]))
    with pytest.raises(ConfigError):
        merge_all([whole, other])
