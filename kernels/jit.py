"""How kernels' inner functions are compiled: :func:`helper`.

A function that only other kernels call (never Python) does not need to be a
Numba dispatcher of its own. A dispatcher compiles each signature into a library
of its own, with a wrapper for Python callers and one for C callers, optimizes and
generates machine code for it, and writes it to the cache; the caller then links
that library in and optimizes it again. :func:`helper` registers the function with
``numba.extending.register_jitable`` instead: Numba compiles it, without the two
wrappers, as part of typing each caller, and the caller's cache entry holds its
code. From Python (and under ``NUMBA_DISABLE_JIT=1``) it stays the plain function.

Measured on the 2-vCPU machine of ``docs/benchmarks.md``, in fresh processes with
an empty ``NUMBA_CACHE_DIR``: 20 small loops called from one kernel compile in
1.00-1.08 s as helpers against 1.50-1.62 s as ``@njit(cache=True)`` dispatchers;
``sort_and_scan`` (histories) in 3.7-3.9 s with its seven inner functions as
helpers against 4.3-4.4 s.

Keep ``@njit(cache=True, nogil=True)`` for what Python calls (the kernels run
through :func:`basketguard.kernels.threads.run_ranges`, and the functions tests
call directly, such as ``sorting.sort_keys``): a helper called from Python runs as
Python.
"""

from __future__ import annotations

from numba.extending import register_jitable


def helper(fn=None, *, inline: str = "never"):
    """Register ``fn`` as an inner function of kernels (see the module docstring).

    ``inline="always"`` inlines it at Numba's level into every caller, as
    ``@njit(inline="always")`` does; the default leaves inlining to LLVM.
    Use as ``@helper`` or ``@helper(inline="always")``.
    """
    def register(f):
        return register_jitable(inline=inline, no_cfunc_wrapper=True)(f)

    return register if fn is None else register(fn)
