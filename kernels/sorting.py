"""An in-place sort of a 1-D array with caller-given scratch, for other kernels to call.

:func:`sort_keys` is a bottom-up merge sort: insertion sort of runs of
:data:`RUN` elements, then merges of doubling width back and forth between the
array and the scratch. It is stable, O(n log n) in every case, and allocates
nothing.

Why not ``ndarray.sort()`` inside the kernels: Numba's quicksort compiles in
0.8-0.9 s on the 2-vCPU machine of ``docs/benchmarks.md`` (its partition,
insertion sort and recursion are each a function of their own), this one in
0.3-0.4 s; and it ran as fast or faster on every size measured (best of 3,
random int64 keys; ``ndarray.sort()`` / this sort; ``bench/bench_sort.py``):

=================  =====================  ==============
segments           ``ndarray.sort()``     ``sort_keys``
=================  =====================  ==============
250,000 x 40       0.225 s                0.186 s
100,000 x 100      0.248 s                0.224 s
10,000 x 1,000     0.338 s                0.321 s
10 x 1,000,000     0.669 s                0.665 s
=================  =====================  ==============
"""

from __future__ import annotations

from numba import njit

#: Length of the runs sorted by insertion before the merges.
RUN = 16


@njit(cache=True, nogil=True)
def sort_keys(a, scratch):
    """Sort ``a`` in place, ascending (stable); ``scratch``: same dtype and layout, at
    least ``a.shape[0]`` long, overwritten.

    Meant for integer keys (in the project, int64); floats would need NaN handling
    that this comparison (``<``) does not give.
    """
    n = a.shape[0]
    for lo in range(0, n, RUN):
        hi = min(lo + RUN, n)
        for i in range(lo + 1, hi):
            v = a[i]
            j = i
            while j > lo and a[j - 1] > v:
                a[j] = a[j - 1]
                j -= 1
            a[j] = v
    if n <= RUN:
        return
    src = a
    dst = scratch[:n]
    in_scratch = False
    width = RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if src[j] < src[i]:  # the left element first on ties: stable
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        in_scratch = not in_scratch
        width *= 2
    if in_scratch:
        for k in range(n):
            a[k] = src[k]
