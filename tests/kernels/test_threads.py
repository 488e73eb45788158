"""run_ranges: every index handled once, results in range order, errors raised."""

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numba import njit

from basketguard.kernels import threads as threads_mod
from basketguard.kernels.threads import n_threads, run_ranges, split


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



@pytest.mark.skipif(n_threads() < 2, reason="needs the thread pool")
def test_interrupt_while_starting_a_worker_leaves_no_thread_waiting(monkeypatch):
    """Ctrl-C inside ``submit``, after a worker thread starts but before
    ``concurrent.futures`` registers it for the wake-up at exit: the pool is shut
    down, so that thread ends (it used to wait on the queue forever, and the
    interpreter's exit waited on it: ``basketguard synth`` hung after
    "interrupted"); the next call runs on a new pool."""
    monkeypatch.setattr(threads_mod, "_pool", None)  # the call makes a pool with no thread
    monkeypatch.setattr(threads_mod, "_pool_size", 0)
    before = set(threading.enumerate())
    start = threading.Thread.start

    def start_then_interrupt(self):
        start(self)
        monkeypatch.setattr(threading.Thread, "start", start)
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start_then_interrupt)
    x = np.arange(100, dtype=np.int64)
    with pytest.raises(KeyboardInterrupt):
        run_ranges(_square_into, 100, x, np.zeros(100, np.int64), parts=4)
    started = [t for t in threading.enumerate() if t not in before]
    assert started
    for t in started:
        t.join(timeout=30)
        assert not t.is_alive()
    out = np.zeros(100, np.int64)
    run_ranges(_square_into, 100, x, out, parts=4)
    assert np.array_equal(out, x * x)
