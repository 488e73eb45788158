"""k^m-anonymity (engine.kmanonymity) and transaction loaders (engine.transactions).

Against tests/reference/itemsets.py on small random data, exact merges across
shards, and pinned figures on retail.dat and groceries.csv (k = 5, m = 2),
checked against an independent brute force over the raw files.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from itertools import combinations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import ConfigError, DataError, SourceError
from basketguard.engine.findings import Severity
from basketguard.engine.histories.build import Histories
from basketguard.engine.histories.transactions import (
    Transactions,
    read_transactions,
    transactions_from_histories,
)
from basketguard.engine.reid.kmanonymity import (
    CHECK,
    affected_transactions,
    count_itemsets,
    km_anonymity,
    km_anonymity_from_counts,
)
from basketguard.engine.runner.partial import merge_all
from tests.reference import itemsets as naive


def make_tx(raw, n_items, unit="baskets") -> Transactions:
    offsets = np.zeros(len(raw) + 1, np.int64)
    np.cumsum([len(t) for t in raw], out=offsets[1:])
    items = np.array([i for t in raw for i in t], np.int32).reshape(-1)
    names = np.array([f"item{i}" for i in range(n_items)])
    return Transactions.from_csr(offsets, items, names, unit)


@st.composite
def transactions(draw, max_tx=12, max_len=6):
    n_items = draw(st.integers(1, 8))
    raw = draw(st.lists(st.lists(st.integers(0, n_items - 1), max_size=max_len),
                        max_size=max_tx))
    if raw and draw(st.booleans()):
        raw += draw(st.lists(st.sampled_from(raw), max_size=6))
    return raw, n_items


def involvement_of(result) -> dict[int, int]:
    return {i: int(c) for i, c in enumerate(result.involvement) if c}


# --------------------------------------------------------------- against naive
@given(transactions(), st.integers(1, 6), st.integers(1, 3))
def test_km_anonymity_matches_naive(case, k, m):
    raw, n = case
    got = km_anonymity(make_tx(raw, n), k, m)
    want = naive.km_anonymity(raw, k, m)
    assert list(got.n_violating) == want["by_size"]
    assert got.n_affected == want["affected"]
    assert involvement_of(got) == want["involvement"]
    assert got.n_transactions == len(raw)


@given(transactions(), st.integers(1, 6), st.integers(1, 3), st.data())
def test_sharded_counts_merge_to_the_whole(case, k, m, data):
    raw, n = case
    whole = make_tx(raw, n)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=3)))
    bounds = [0, *cuts, len(raw)]
    shards = [whole.take(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    merged = merge_all(count_itemsets(s, m) for s in shards)
    n_aff = sum(affected_transactions(s, merged, k) for s in shards)
    got = km_anonymity_from_counts(merged, k, n_affected=n_aff)
    want = km_anonymity(whole, k, m)
    assert got.n_violating == want.n_violating
    assert got.n_affected == want.n_affected
    np.testing.assert_array_equal(got.involvement, want.involvement)
    assert got.n_transactions == want.n_transactions
    # the merged counts are the whole's counts
    direct = count_itemsets(whole, m)
    for s in range(m):
        np.testing.assert_array_equal(merged.keys[s], direct.keys[s])
        np.testing.assert_array_equal(merged.counts[s], direct.counts[s])


def test_violations_do_not_add_across_shards():
    # {0, 1} occurs 3 times in each shard: a violation of k = 5 in each,
    # none in the whole (support 6).
    raw = [[0, 1]] * 6
    whole = make_tx(raw, 2)
    halves = [whole.take(0, 3), whole.take(3, 6)]
    assert [km_anonymity(h, 5, 2).total_violating for h in halves] == [3, 3]
    merged = merge_all(count_itemsets(h, 2) for h in halves)
    assert km_anonymity_from_counts(merged, 5).total_violating == 0
    assert km_anonymity(whole, 5, 2).total_violating == 0


CASES = {
    # name: (transactions, n_items, k, m, by_size, affected)
    "empty": ([], 3, 5, 2, [0, 0], 0),
    "one_transaction": ([[0, 1, 2]], 3, 2, 2, [3, 3], 1),
    "duplicates_count_once": ([[0, 0, 1], [1, 0, 0]], 2, 3, 2, [2, 1], 2),
    "m1": ([[0, 1], [0, 2], [0]], 3, 2, 1, [2], 2),
    "k1_no_violation": ([[0, 1], [2]], 3, 1, 3, [0, 0, 0], 0),
    "never_occurring_pairs_do_not_count": ([[0], [1]] * 5, 2, 5, 2, [0, 0], 0),
    "blank_transactions": ([[], [0], []], 1, 2, 2, [1, 0], 1),
}


@pytest.mark.parametrize("name", CASES)
def test_named_cases(name):
    raw, n, k, m, by_size, affected = CASES[name]
    got = km_anonymity(make_tx(raw, n), k, m)
    assert list(got.n_violating) == by_size
    assert got.n_affected == affected


def test_options_are_validated():
    tx = make_tx([[0, 1]], 2)
    for k, m in ((0, 2), (5, 0), (2.5, 2)):
        with pytest.raises(ConfigError):
            km_anonymity(tx, k, m)


def test_merge_rejects_other_codings():
    a = count_itemsets(make_tx([[0, 1]], 2), 2)
    b = count_itemsets(Transactions.from_csr(np.array([0, 1], np.int64),
                                             np.array([0], np.int32), np.array(["x", "y"])), 2)
    with pytest.raises(DataError, match="item coding"):
        a.merge(b)
    with pytest.raises(DataError, match="m="):
        a.merge(count_itemsets(make_tx([[0]], 2), 1))
    with pytest.raises(ConfigError, match="nothing to merge"):
        merge_all([])


# -------------------------------------------------------------------- findings
def test_findings_are_aggregates_with_item_names():
    tx = make_tx([[0, 1]] * 5 + [[0, 2]], 3, unit="members")
    result = km_anonymity(tx, 5, 2)
    assert result.n_violating == (1, 1) and result.n_affected == 1
    assert result.top_items() == [("item2", 2), ("item0", 1)]
    (finding,) = result.findings(warn=0.1, fail=0.5)
    assert finding.check == CHECK
    assert finding.severity == Severity.WARN
    assert finding.estimate.value == pytest.approx(1 / 6)
    assert "1 of 6 members" in finding.explanation and "item2 (2)" in finding.explanation
    d = json.loads(json.dumps(finding.to_dict()))
    assert d["details"]["violating_by_size"] == {"1": 1, "2": 1}
    assert d["details"]["top_items"][0] == {"item": "item2", "itemsets": 2}
    assert result.findings()[0].severity == Severity.INFO


def test_findings_of_empty_export_warn_when_judged():
    result = km_anonymity(make_tx([], 1), 5, 2)
    assert np.isnan(result.share_affected.value)
    assert result.findings(warn=0.1)[0].severity == Severity.WARN
    merged = km_anonymity_from_counts(count_itemsets(make_tx([[0]], 1), 2), 5)
    assert merged.n_affected is None
    assert "an unknown number" in merged.findings()[0].explanation


# ------------------------------------------------------------------- loaders
def test_read_dat_and_gz(tmp_path):
    text = f"3 1 3\n\n{2**62}\n"
    (tmp_path / "a.dat").write_text(text)
    (tmp_path / "b.dat.gz").write_bytes(gzip.compress(text.encode()))
    for name in ("a.dat", "b.dat.gz"):
        tx = read_transactions(tmp_path / name)
        assert tx.item_names.tolist() == [1, 3, 2**62]
        assert tx.as_lists() == [[1, 3], [], [2**62]]
        assert tx.unit == "baskets" and tx.source.endswith(name)


def test_read_csv_strips_names_and_honours_quotes(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text('milk,cream cheese \r\n"a, b",milk\n\n  soda\n')
    tx = read_transactions(path, unit="members")
    assert tx.as_lists() == [["cream cheese", "milk"], ["a, b", "milk"], [], ["soda"]]
    assert tx.unit == "members"


BAD_FILES = {
    # name: (file name, content, message fragment)
    "bad_token": ("x.dat", "1 2\n3 x4\n", "line 2: token 2 is not an integer"),
    "overflow": ("x.dat", f"1\n{2**64}\n", "line 2"),
    "empty_name": ("x.csv", "a,b\na,,b\n", "line 2: empty item name"),
    "trailing_comma": ("x.csv", "a,\n", "line 1: empty item name"),
    "spanning_quote": ("x.csv", 'a\n"b\nc"\n', "spans lines"),
    "unknown_suffix": ("x.parquet", "1\n", "cannot tell the transaction format"),
    "not_utf8": ("x.dat", b"1 2\n\xff\n", "line 2: not UTF-8"),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_name_file_and_line(tmp_path, name):
    fname, content, fragment = BAD_FILES[name]
    path = tmp_path / fname
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SourceError, match=fragment) as err:
        read_transactions(path)
    assert str(path) in str(err.value)


def test_missing_file_and_bad_options(tmp_path):
    with pytest.raises(SourceError, match="no such file"):
        read_transactions(tmp_path / "nope.dat")
    (tmp_path / "a.txt").write_text("1\n")
    with pytest.raises(SourceError, match="unknown transaction format"):
        read_transactions(tmp_path / "a.txt", format="xml")
    with pytest.raises(SourceError, match="unit"):
        read_transactions(tmp_path / "a.txt", unit="people")
    assert read_transactions(tmp_path / "a.txt", format="csv").item_names.tolist() == ["1"]


def _histories(lines):
    """Histories from (customer, basket, item) lines, customers 0..n-1."""
    lines = sorted(lines, key=lambda x: x[0])
    n_cust = max((c for c, _, _ in lines), default=-1) + 1
    offsets = np.zeros(n_cust + 1, np.int64)
    np.cumsum(np.bincount([c for c, _, _ in lines], minlength=n_cust), out=offsets[1:])
    item = np.array([i for _, _, i in lines], np.int32)
    return Histories(offsets=offsets, item=item, day=np.zeros(len(lines), np.int32),
                     basket=np.array([b for _, b, _ in lines], np.int32),
                     customer_ids=pa.array(range(100, 100 + n_cust)),
                     item_ids=pa.array([10, 20, 30, 40]))


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 3)),
                max_size=15))
def test_transactions_from_histories(lines):
    h = _histories(lines)
    members = transactions_from_histories(h, "members")
    want_m = [sorted({10 * (i + 1) for c, _, i in lines if c == cust})
              for cust in range(h.n_customers)]
    assert members.as_lists() == want_m and members.unit == "members"
    baskets = transactions_from_histories(h, "baskets")
    keys = sorted({(c, b) for c, b, _ in lines})
    want_b = [sorted({10 * (i + 1) for c, b, i in lines if (c, b) == key}) for key in keys]
    assert baskets.as_lists() == want_b and baskets.unit == "baskets"
    with pytest.raises(SourceError, match="unit"):
        transactions_from_histories(h, "stores")


# ----------------------------------------------------------------- real data
#: k = 5, m = 2; brute-force figures (Counter over combinations of the raw files).
PINNED = {
    "retail.dat.gz": dict(n=88_162, items=16_470, by_size=(5_482, 3_410_846),
                          affected=75_536, top=[(38, 6_278), (32, 6_148), (41, 5_829)]),
    "groceries.csv": dict(n=9_835, items=169, by_size=(5, 4_854), affected=2_286,
                          top=[("female sanitary products", 84), ("dental care", 83),
                               ("cleaner", 82)]),
}


def brute_force(rows: list[set], k: int) -> tuple[int, int, int]:
    c1: Counter = Counter()
    c2: Counter = Counter()
    for s in rows:
        ordered = sorted(s)
        c1.update(ordered)
        c2.update(combinations(ordered, 2))
    bad1 = {x for x, c in c1.items() if c < k}
    bad2 = {x for x, c in c2.items() if c < k}
    affected = sum(1 for s in rows
                   if s & bad1 or any(p in bad2 for p in combinations(sorted(s), 2)))
    return len(bad1), len(bad2), affected


def raw_rows(path) -> list[set]:
    if path.name.endswith(".gz"):
        return [{int(x) for x in line.split()}
                for line in gzip.open(path, "rt").read().splitlines()]
    return [{f.strip() for f in line.split(",")} for line in path.read_text().splitlines()]


@pytest.mark.jit
@pytest.mark.parametrize("name", PINNED)
def test_pinned_real_data(datasets, name):
    pin = PINNED[name]
    tx = read_transactions(datasets / name)
    assert (tx.n_transactions, tx.n_items) == (pin["n"], pin["items"])
    result = km_anonymity(tx, 5, 2)
    assert result.n_violating == pin["by_size"]
    assert result.n_affected == pin["affected"]
    assert result.top_items(3) == pin["top"]
    assert not any(name.endswith(" ") for name in tx.item_names.tolist() if isinstance(name, str))


@pytest.mark.jit
@pytest.mark.slow
@pytest.mark.parametrize("name", PINNED)
def test_pinned_figures_equal_brute_force(datasets, name):
    pin = PINNED[name]
    n1, n2, affected = brute_force(raw_rows(datasets / name), 5)
    assert (n1, n2) == pin["by_size"] and affected == pin["affected"]


@pytest.mark.jit
def test_groceries_sharded_equals_whole(datasets):
    tx = read_transactions(datasets / "groceries.csv")
    shards = [tx.take(a, min(a + 3000, len(tx))) for a in range(0, len(tx), 3000)]
    merged = merge_all(count_itemsets(s, 2) for s in shards)
    n_aff = sum(affected_transactions(s, merged, 5) for s in shards)
    got = km_anonymity_from_counts(merged, 5, n_affected=n_aff)
    assert got.n_violating == PINNED["groceries.csv"]["by_size"]
    assert got.n_affected == PINNED["groceries.csv"]["affected"]
    # m = 3 takes the general path; it must agree with brute force too
    assert list(km_anonymity(tx, 5, 3).n_violating) == \
        naive.km_anonymity([list(s) for s in raw_rows(datasets / "groceries.csv")], 5,
                           3)["by_size"]


def test_too_large_m_is_a_config_error():
    tx = make_tx([[0, 1, 2]], 3)
    big = Transactions(tx.offsets, tx.items, np.arange(3_000_000), "baskets")
    with pytest.raises(ConfigError, match="too large"):
        km_anonymity(big, 5, 3)
    with pytest.raises(ConfigError, match="too large"):
        count_itemsets(big, 3)
