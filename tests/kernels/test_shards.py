"""Customer-hash shards against the plain reference (tests/reference/shards.py)."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.io.columns import text_offsets
from basketguard.engine.runner.local import customer_shards
from basketguard.kernels.shards import group_by_shard, int_id_shards, shard_of, text_id_shards
from tests.reference import shards as ref

codes_st = st.lists(st.integers(0, 2**31 - 1), max_size=200)


@given(codes=codes_st, n=st.integers(1, 64), seed=st.integers(-(2**63), 2**64 - 1),
       wide=st.booleans())
def test_shard_of_matches_reference(codes, n, seed, wide):
    a = np.array(codes, np.int64 if wide else np.int32)
    got = shard_of(a, n, seed)
    assert got.dtype == np.int32
    assert got.tolist() == ref.shard_of(codes, n, seed)


@given(n_cust=st.integers(0, 300), n=st.integers(1, 20), seed=st.integers(0, 2**32))
def test_shard_of_is_the_local_runners_partition(n_cust, n, seed):
    """The spill partition and ``customer_shards(by="hash")`` agree code for code."""
    s = shard_of(np.arange(n_cust, dtype=np.int64), n, seed)
    for i, part in enumerate(customer_shards(n_cust, n, seed=seed)):
        assert np.array_equal(np.flatnonzero(s == i), part)


@given(shard=st.lists(st.integers(0, 9), max_size=300), extra=st.integers(0, 5))
def test_group_by_shard_matches_reference(shard, extra):
    n = (max(shard) + 1 if shard else 1) + extra
    order, bounds = group_by_shard(np.array(shard, np.int32), n)
    want_order, want_bounds = ref.group_by_shard(shard, n)
    assert order.tolist() == want_order
    assert bounds.tolist() == want_bounds


def test_extremes_and_errors():
    big = np.array([2**31 - 1, 0, 2**31 - 1], np.int32)  # duplicates, the largest code
    assert shard_of(big, 1).tolist() == [0, 0, 0]
    assert shard_of(big, 7).tolist() == ref.shard_of(big.tolist(), 7)
    assert shard_of(np.empty(0, np.int32), 3).size == 0
    order, bounds = group_by_shard(np.empty(0, np.int32), 4)
    assert order.size == 0 and bounds.tolist() == [0] * 5
    with pytest.raises(ValueError, match="at least 1"):
        shard_of(big, 0)
    with pytest.raises(ValueError, match="int32 or int64"):
        shard_of(big.astype(np.float64), 2)
    with pytest.raises(ValueError, match=r"0\.\.1"):
        group_by_shard(np.array([0, 2], np.int32), 2)


@pytest.mark.jit
def test_shards_are_balanced():
    """Consecutive codes spread evenly: every shard within 5 % of the mean."""
    counts = np.bincount(shard_of(np.arange(1_000_000, dtype=np.int64), 8, 3), minlength=8)
    assert counts.min() > 0.95 * 125_000 and counts.max() < 1.05 * 125_000


@given(ids=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=100), n=st.integers(1, 40),
       seed=st.integers(0, 2**64 - 1))
def test_int_id_shards_match_reference(ids, n, seed):
    got = int_id_shards(np.array(ids, np.int64), n, seed)
    assert got.tolist() == ref.int_id_shards(ids, n, seed)


@given(texts=st.lists(st.text(max_size=6), max_size=60), n=st.integers(1, 40),
       seed=st.integers(0, 2**64 - 1), large=st.booleans(), cut=st.integers(0, 5))
def test_text_id_shards_match_reference(texts, n, seed, large, cut):
    """Through Arrow's own buffers, sliced arrays and large_string included."""
    arr = pa.array(texts, pa.large_string() if large else pa.string())[cut:]
    offsets, data = text_offsets(arr)
    assert text_id_shards(offsets, data, n, seed).tolist() == \
        ref.text_id_shards(texts[cut:], n, seed)
