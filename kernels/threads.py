"""Run a ``nogil`` kernel over index ranges on a pool of threads.

This is the project's replacement for ``@njit(parallel=True)`` + ``prange``.
Numba's parfors cost compile time: the parallel passes type a loop body twice
and outline it into a gufunc, and the body's callees are compiled once more
for the loop index typed ``uint64``. Measured on the cold demo (2 vCPU, Numba
0.68), the parallel kernels' compiles were 52 s with parfors against 33 s with
the same loops serial. A plain ``@njit(nogil=True)`` kernel over
``range(lo, hi)`` compiles once, and :func:`run_ranges` runs it on threads
that release the GIL, which gives the same use of the cores.

Contract of a kernel: ``kernel(lo, hi, *args)`` handles indices ``lo <= i < hi``
and writes only outputs owned by those indices (as a ``prange`` body must),
so the result does not depend on how the range is split or on thread timing.

Threads follow ``numba.get_num_threads()`` (``NUMBA_NUM_THREADS``, or
``numba.set_num_threads``). Under ``NUMBA_DISABLE_JIT=1`` the kernel is plain
Python, so the range runs in one call on the calling thread.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numba
import numpy as np
from numba import config

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_retired: list[ThreadPoolExecutor] = []


def n_threads() -> int:
    """Threads a kernel may use: ``numba.get_num_threads()``, 1 without the JIT."""
    return 1 if config.DISABLE_JIT else max(1, int(numba.get_num_threads()))


def _executor(n: int) -> ThreadPoolExecutor:
    """One process-wide pool, replaced by a larger one when more threads are asked for.

    A replaced pool is kept, not shut down: a caller on another thread may have
    taken it a moment before and still be submitting to it (a shut-down pool
    refuses new work). It only grows with the thread count, so at most a few
    idle pools are ever kept.
    """
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _retired.append(_pool)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="basketguard-kernel")
            _pool_size = n
        return _pool


def split(n: int, parts: int) -> np.ndarray:
    """``parts + 1`` int64 bounds cutting ``range(n)`` into near-equal pieces."""
    parts = max(1, min(int(parts), max(int(n), 1)))
    return (np.arange(parts + 1, dtype=np.int64) * np.int64(n)) // np.int64(parts)


def run_ranges(kernel, n: int, *args, parts: int | None = None) -> list:
    """Call ``kernel(lo, hi, *args)`` over pieces of ``range(n)`` on the threads.

    Parameters
    ----------
    kernel : numba dispatcher
        A ``@njit(nogil=True)`` function of ``(lo, hi, *args)``.
    n : int
        Size of the index range.
    *args
        Passed to every call unchanged (typed once, so the kernel compiles once).
    parts : int, optional
        Number of pieces; default one per thread (the static schedule of
        ``prange``). More pieces balance uneven work; the result is the same.

    Returns
    -------
    list
        The kernel's return values, in range order.
    """
    threads = n_threads()
    if parts is None:
        parts = threads
    if n <= 0:
        return []
    bounds = split(n, 1 if threads == 1 else parts)
    if bounds.shape[0] == 2:
        return [kernel(np.int64(0), np.int64(n), *args)]
    calls = [(np.int64(bounds[k]), np.int64(bounds[k + 1])) for k in range(bounds.shape[0] - 1)]
    pool = _executor(threads)
    # a kernel not compiled yet compiles once: Numba's dispatcher looks again under
    # its compiler lock, so the other threads find it compiled
    try:
        futures = [pool.submit(kernel, lo, hi, *args) for lo, hi in calls]
        wait(futures)  # nothing writes into the outputs after this returns
    except BaseException:
        _discard(pool)
        raise
    return [f.result() for f in futures]


def _discard(pool: ThreadPoolExecutor) -> None:
    """Shut a pool down after an interrupt (Ctrl-C) in :func:`run_ranges`.

    A KeyboardInterrupt can land in ``submit`` while it starts a worker thread, after
    the thread runs but before ``concurrent.futures`` registers it for the wake-up at
    interpreter exit; the exit then waits on that idle thread forever (``basketguard
    synth`` hung after "interrupted" in about one run in three). ``shutdown`` wakes
    every worker of the pool through its queue, registered or not; kernels already
    running finish, queued ones are cancelled, and the next call starts a new pool.
    """
    global _pool, _pool_size
    with _lock:
        if _pool is pool:
            _pool = None
            _pool_size = 0
    pool.shutdown(wait=False, cancel_futures=True)
