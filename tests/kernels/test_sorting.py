"""sort_keys (the kernels' merge sort) against Python's ``sorted``."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels.sorting import RUN, sort_keys

I64 = np.iinfo(np.int64)
#: Values with many ties and both extremes of int64.
VALUES = st.one_of(st.sampled_from([I64.min, I64.min + 1, -1, 0, 1, I64.max - 1, I64.max]),
                   st.integers(-3, 3), st.integers(I64.min, I64.max))
#: Lengths at the run and merge boundaries, and some larger.
LENGTHS = st.one_of(st.sampled_from([0, 1, 2, RUN - 1, RUN, RUN + 1, 2 * RUN, 2 * RUN + 1,
                                     4 * RUN - 1, 4 * RUN + 3]),
                    st.integers(0, 700))


@st.composite
def arrays(draw):
    n = draw(LENGTHS)
    return np.array(draw(st.lists(VALUES, min_size=n, max_size=n)), dtype=np.int64)


@given(arrays(), st.integers(0, 5))
def test_sort_keys_matches_sorted(a, spare):
    want = sorted(a.tolist())
    scratch = np.full(a.shape[0] + spare, 12345, np.int64)
    sort_keys(a, scratch)
    assert a.tolist() == want


@given(arrays())
def test_sort_keys_of_a_view_leaves_the_rest(a):
    """Sorting a slice of a larger buffer (as the kernels do) touches only the slice."""
    buf = np.concatenate([np.array([7, -7], np.int64), a, np.array([9], np.int64)])
    scratch = np.empty(buf.shape[0], np.int64)
    sort_keys(buf[2:2 + a.shape[0]], scratch[:a.shape[0]])
    assert buf[:2].tolist() == [7, -7] and buf[-1] == 9
    assert buf[2:2 + a.shape[0]].tolist() == sorted(a.tolist())


def test_sort_keys_large_random_and_presorted():
    rng = np.random.default_rng(3)
    for a in (rng.integers(I64.min, I64.max, 100_003, dtype=np.int64, endpoint=True),
              np.arange(50_000, dtype=np.int64), np.arange(50_000, dtype=np.int64)[::-1].copy(),
              rng.integers(0, 4, 40_000).astype(np.int64)):
        want = np.sort(a)
        sort_keys(a, np.empty_like(a))
        np.testing.assert_array_equal(a, want)
