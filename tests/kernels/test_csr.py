"""CSR transpose (kernels/csr) against tests/reference/csr.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels import csr
from tests.reference import csr as naive


@st.composite
def csrs(draw, tagged=False):
    """Rows of values (repeats, any order), n_values, and per-row sorted tags."""
    n_values = draw(st.integers(0, 9))
    pool = st.integers(0, max(n_values - 1, 0))
    rows = draw(st.lists(st.lists(pool, max_size=8 if n_values else 0), max_size=10))
    offsets = np.zeros(len(rows) + 1, np.int64)
    np.cumsum([len(r) for r in rows], out=offsets[1:])
    values = np.array([v for r in rows for v in r], np.int32).reshape(-1)
    if not tagged:
        return offsets, values, n_values
    tags = np.array([t for r in rows for t in sorted(draw(st.lists(
        st.integers(-3, 3), min_size=len(r), max_size=len(r))))], np.int32).reshape(-1)
    return offsets, values, tags, n_values


def _lists(inv_offsets, arr):
    return [arr[inv_offsets[v]:inv_offsets[v + 1]].tolist() for v in range(len(inv_offsets) - 1)]


@given(csrs())
def test_invert_matches_reference(case):
    offsets, values, n = case
    inv_offsets, holders = csr.invert(offsets, values, n)
    assert inv_offsets.dtype == np.int64 and holders.dtype == np.int32
    assert inv_offsets.shape == (n + 1,) and inv_offsets[0] == 0
    assert _lists(inv_offsets, holders) == naive.invert(offsets, values, n)


@given(csrs(tagged=True))
def test_invert_tagged_matches_reference(case):
    offsets, values, tags, n = case
    inv_offsets, holders, holder_tags = csr.invert_tagged(offsets, values, tags, n)
    got = [list(zip(h, t, strict=True)) for h, t in zip(_lists(inv_offsets, holders),
                                                         _lists(inv_offsets, holder_tags),
                                                         strict=True)]
    assert got == naive.invert_tagged(offsets, values, tags, n)


@pytest.mark.jit
def test_invert_over_many_chunks(rng):
    # more than 2**18 values: several chunks, each counted and scattered by a thread
    n_rows, n = 60_000, 500
    lens = rng.integers(0, 30, n_rows)
    offsets = np.zeros(n_rows + 1, np.int64)
    np.cumsum(lens, out=offsets[1:])
    values = rng.zipf(1.5, int(offsets[-1])).clip(1, n).astype(np.int32) - 1
    tags = np.concatenate([np.sort(rng.integers(0, 5, k)) for k in lens]).astype(np.int32)
    assert csr.row_chunks(offsets).shape[0] > 3
    inv_offsets, holders = csr.invert(offsets, values, n)
    assert _lists(inv_offsets, holders) == naive.invert(offsets, values, n)
    inv_offsets, holders, holder_tags = csr.invert_tagged(offsets, values, tags, n)
    got = [list(zip(h, t, strict=True)) for h, t in zip(_lists(inv_offsets, holders),
                                                         _lists(inv_offsets, holder_tags),
                                                         strict=True)]
    assert got == naive.invert_tagged(offsets, values, tags, n)


def test_row_chunks_cover_the_rows():
    offsets = np.arange(0, 3 * (1 << 18) + 1, 1000, dtype=np.int64)
    offsets[-1] = 3 * (1 << 18)
    rb = csr.row_chunks(offsets)
    assert rb[0] == 0 and rb[-1] == offsets.shape[0] - 1 and np.all(np.diff(rb) >= 0)
    assert csr.row_chunks(np.zeros(1, np.int64)).tolist() == [0, 0]


@pytest.mark.parametrize("offsets, values, n, match", [
    ([0, 2], [0], 1, "end at 1"),
    ([0, 2, 1], [0], 1, "end at|non-decreasing"),
    ([0, 1], [3], 2, r"values must lie in \[0, 2\)"),
    ([0, 1], [-1], 2, "values must lie"),
    ([0, 1], [0.5], 2, "int32"),
], ids=["short-values", "decreasing", "code-too-large", "negative", "float-values"])
def test_invert_rejects(offsets, values, n, match):
    with pytest.raises(ValueError, match=match):
        csr.invert(np.asarray(offsets), np.asarray(values), n)


def test_invert_tagged_rejects_decreasing_tags():
    offsets, values = np.array([0, 2], np.int64), np.array([0, 1], np.int32)
    with pytest.raises(ValueError, match="non-decreasing"):
        csr.invert_tagged(offsets, values, np.array([2, 1], np.int32), 2)
    with pytest.raises(ValueError, match="one entry per value"):
        csr.invert_tagged(offsets, values, np.array([1], np.int32), 2)
