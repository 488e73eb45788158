"""Throughput of ``basketguard synth`` (run on demand, never a test).

    .venv/bin/python bench/bench_synth.py --profile default

Profiles: ``smoke`` (20k customers), ``default`` (200k customers, ~20M lines),
``large`` (1M customers over a year, ~100M lines). The JIT is warmed up first
(and its cache filled) on a tiny population. Prints lines/s, wall seconds of
generation + writing, peak RSS and the machine. Also times the kernels alone
(no Parquet) so the split between generation and encoding is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numba

from basketguard.models.simulator.run import SimConfig, prepare, simulate

PROFILES = {"smoke": 20_000, "default": 200_000, "large": 1_000_000}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--compression", default="snappy")
    parser.add_argument("--out", default=None, help="output folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the output")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    args = parser.parse_args(argv)
    n = PROFILES[args.profile]
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-synth-"))

    print(f"machine: {os.cpu_count()} cpus, {_cpu_model()}, numba threads "
          f"{numba.get_num_threads()}, python {platform.python_version()}")
    t = time.perf_counter()
    simulate(SimConfig(customers=200, seed=1), out / "warmup")
    print(f"warm-up (JIT compile or cache load): {time.perf_counter() - t:.1f} s")

    cfg = SimConfig(customers=n, seed=1, compression=args.compression)
    model = prepare(cfg)
    t = time.perf_counter()
    kernel_lines = 0
    for first in range(0, min(n, 200_000), cfg.chunk_customers):
        cust = model.customers(first, min(cfg.chunk_customers, n - first))
        kernel_lines += model.lines(first, cust).item.shape[0]
    dt = time.perf_counter() - t
    print(f"kernels only ({min(n, 200_000):,} customers): {kernel_lines:,} lines in {dt:.2f} s "
          f"= {kernel_lines / dt / 1e6:.2f} M lines/s")

    t = time.perf_counter()
    res = simulate(cfg, out / "pop")
    dt = time.perf_counter() - t
    size = sum(p.stat().st_size for p in res.paths.values()) / 2**20
    print(f"profile {args.profile}: {n:,} customers, {res.lines:,} lines, "
          f"{res.truth_rows:,} truth rows, {size:,.0f} MiB written ({args.compression})")
    print(f"  total {dt:.2f} s = {res.lines / dt / 1e6:.2f} M lines/s "
          f"(generation and Parquet writing overlapped)")
    print(f"  peak RSS {_peak_rss_mib():,.0f} MiB")
    if res.lines:
        print(f"  100M lines at this rate: {1e8 / (res.lines / dt):.0f} s")
    if args.json:
        args.json.write_text(json.dumps({
            "profile": args.profile, "customers": n, "lines": res.lines,
            "seconds": dt, "written_mib": round(size, 1), "peak_rss_mib": round(_peak_rss_mib()),
            "kernel_lines": kernel_lines, "cpus": os.cpu_count(), "cpu": _cpu_model(),
            "numba_threads": numba.get_num_threads()}, indent=1) + "\n")
    if not args.keep and args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
