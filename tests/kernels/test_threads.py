"""run_ranges: every index handled once, results in range order, errors raised."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from basketguard.kernels.threads import run_ranges, split


@njit(cache=True, nogil=True)
def _square_into(lo, hi, x, out):
    for i in range(lo, hi):
        out[i] += x[i] * x[i]
    return hi - lo


@njit(cache=True, nogil=True)
def _fails(lo, hi, x):
    for i in range(lo, hi):
        if x[i] < 0:
            raise ValueError("negative")
    return 0


@given(n=st.integers(0, 300), parts=st.one_of(st.none(), st.integers(1, 40)))
def test_run_ranges_covers_each_index_once(n, parts):
    x = np.arange(n, dtype=np.int64) - 7
    out = np.zeros(n, np.int64)
    sizes = run_ranges(_square_into, n, x, out, parts=parts)
    assert np.array_equal(out, x * x)
    assert sum(sizes) == n
    assert all(s >= 0 for s in sizes)


@given(n=st.integers(0, 1000), parts=st.integers(1, 64))
def test_split_is_a_partition(n, parts):
    b = split(n, parts)
    assert b[0] == 0 and b[-1] == n
    assert (np.diff(b) >= 0).all()
    d = np.diff(b)
    assert d.max() - d.min() <= 1


def test_run_ranges_raises_the_kernels_error():
    x = np.ones(100, np.int64)
    x[97] = -1
    with pytest.raises(ValueError, match="negative"):
        run_ranges(_fails, 100, x, parts=4)


def test_a_replaced_pool_still_takes_work():
    """A caller that took the pool just before another thread asked for more threads
    can still submit to it (it used to be shut down under the caller)."""
    from basketguard.kernels import threads

    before = threads._executor(1)
    grown = threads._executor(threads._pool_size + 1)
    assert grown is not before
    assert before.submit(lambda: 7).result() == 7
    assert threads._executor(1) is grown  # the larger pool serves smaller asks
