"""The kernels' sort (``basketguard.kernels.sorting.sort_keys``) beside Numba's own, and
the histories' per-customer sort on inputs out of order (run on demand, never a test).

    .venv/bin/python bench/bench_sort.py            # default sizes
    .venv/bin/python bench/bench_sort.py --quick    # a tenth of the data

Three parts, each contender on the same data in the same process:

1. **Segments sorted inside a kernel.** Random int64 keys cut into equal segments
   (40, 100, 1,000 keys, and 1M), each sorted in place by one ``@njit`` loop:
   ``ndarray.sort()`` (Numba's quicksort, what a kernel writer reaches for) against
   ``sort_keys`` with scratch. The results are checked equal; best of ``--repeat``.
2. **Cold compile** of each, in a fresh process with an empty ``NUMBA_CACHE_DIR``
   (process CPU seconds of the first call, after Numba itself is warm).
3. **``sort_and_scan``** (``basketguard.kernels.histories``) on 10M lines out of
   order: unsorted 100-line and 20-line customers, 20-line customers on 4 times with
   3 baskets each (several baskets a time), and a time-ordered log of 10-line
   baskets (the common case). Median of ``--repeat`` on fresh copies. No peer: it
   is the figure to compare across commits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from machine import machine_facts
from numba import njit

from basketguard.kernels import histories as hk
from basketguard.kernels.sorting import sort_keys


@njit(nogil=True)
def _numba_sort(x, off):
    for s in range(off.shape[0] - 1):
        x[off[s]:off[s + 1]].sort()


@njit(nogil=True)
def _sort_keys(x, off, scratch):
    for s in range(off.shape[0] - 1):
        sort_keys(x[off[s]:off[s + 1]], scratch)


def segments(total: int, repeat: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for seg in (40, 100, 1000, 1_000_000):
        n_seg = max(1, total // seg)
        x0 = rng.integers(0, 1 << 40, seg * n_seg).astype(np.int64)
        off = np.arange(n_seg + 1, dtype=np.int64) * seg
        scratch = np.empty(seg, np.int64)
        small = off[:2]
        _numba_sort(x0[:seg].copy(), small)
        _sort_keys(x0[:seg].copy(), small, scratch)
        best = {}
        out = {}
        for name in ("ndarray.sort", "sort_keys"):
            times = []
            for _ in range(repeat):
                x = x0.copy()
                t0 = time.perf_counter()
                if name == "sort_keys":
                    _sort_keys(x, off, scratch)
                else:
                    _numba_sort(x, off)
                times.append(time.perf_counter() - t0)
            best[name] = min(times)
            out[name] = x
        assert np.array_equal(out["ndarray.sort"], out["sort_keys"])
        rows.append({"segment": seg, "segments": n_seg, **{k: round(v, 4) for k, v in best.items()}})
    return rows


_COMPILE = """
import os, sys, time
import numpy as np
from numba import njit
@njit
def warm(x):
    return x + 1
warm(1)
a = np.arange(40, dtype=np.int64)[::-1].copy()
if sys.argv[1] == "sort_keys":
    from basketguard.kernels.sorting import sort_keys
    t0 = time.process_time()
    sort_keys(a, np.empty_like(a))
else:
    @njit(cache=False)
    def qs(a):
        a.sort()
    t0 = time.process_time()
    qs(a)
print(time.process_time() - t0)
"""


def compile_times(repeat: int) -> dict:
    out = {}
    for name in ("ndarray.sort", "sort_keys"):
        times = []
        for _ in range(repeat):
            env = dict(os.environ, NUMBA_CACHE_DIR=tempfile.mkdtemp(prefix="bench-sort-"))
            res = subprocess.run([sys.executable, "-c", _COMPILE, name], env=env,
                                 capture_output=True, text=True, check=True)
            times.append(float(res.stdout.strip()))
        out[name] = round(float(np.median(times)), 3)
    return out


def histories(total: int, repeat: int) -> list[dict]:
    rng = np.random.default_rng(1)
    rows = []
    cases = (("unsorted, 100-line customers", 100, None, 1),
             ("unsorted, 20-line customers", 20, None, 1),
             ("20-line customers on 4 times, 3 baskets each", 20, 4, 3),
             ("time-ordered, 10-line baskets", 100, "sorted", 1))
    for label, per, times, baskets in cases:
        n_c = total // per
        n = n_c * per
        off = np.arange(n_c + 1, dtype=np.int64) * per
        if times == "sorted":
            t = np.repeat(np.arange(n // 10, dtype=np.int64) * 3600, 10)
            basket = np.repeat(np.arange(n // 10, dtype=np.int32), 10)
        else:
            t = rng.integers(0, times or 10**7, n).astype(np.int64)
            basket = rng.integers(0, baskets, n).astype(np.int32)
        item = rng.integers(0, 50_000, n).astype(np.int32)
        ones = np.ones(n, np.float32)
        store = np.zeros(n, np.int32)

        columns = (t, basket, item, ones, ones, store)
        hk.sort_and_scan(off[:3], *(c[:off[2]].copy() for c in columns))
        secs = []
        for _ in range(repeat):
            c = [a.copy() for a in columns]
            t0 = time.perf_counter()
            hk.sort_and_scan(off, *c)
            secs.append(time.perf_counter() - t0)
        rows.append({"input": label, "lines": n, "seconds": round(float(np.median(secs)), 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tenth of the data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="OUT", help="also write the results here")
    args = ap.parse_args()
    total = 1_000_000 if args.quick else 10_000_000
    result = {"machine": machine_facts(), "segments": segments(total, args.repeat),
              "compile_s": compile_times(args.repeat),
              "sort_and_scan": histories(total, args.repeat)}
    print(f"segments x keys        ndarray.sort   sort_keys   (best of {args.repeat})")
    for r in result["segments"]:
        print(f"{r['segments']:>9,} x {r['segment']:<9,} {r['ndarray.sort']:>10.3f} s "
              f"{r['sort_keys']:>9.3f} s")
    c = result["compile_s"]
    print(f"cold compile           {c['ndarray.sort']:>10.2f} s {c['sort_keys']:>9.2f} s")
    print(f"sort_and_scan (median of {args.repeat})")
    for r in result["sort_and_scan"]:
        print(f"  {r['input']:<48} {r['lines']:>11,} lines {r['seconds']:.3f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
