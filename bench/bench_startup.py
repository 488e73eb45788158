"""Start-up: how long a user waits for the first output, and the cold JIT compile.

Every figure is a whole process, started the way a user starts it
(``.venv/bin/basketguard ...``), timed from ``exec`` to its first byte of
output and to its exit; the median of ``--repeat`` runs is reported.

- ``help``: ``basketguard --help`` (imports only; no kernel is compiled).
- ``scan, warm JIT``: ``basketguard scan`` of a small simulated project whose
  histories are in the cache and whose kernels are in Numba's cache: what a
  user sees on the second run.
- ``scan, cold JIT``: the same scan with an empty Numba cache
  (``NUMBA_CACHE_DIR`` pointing at a new folder for each run): the first run
  after an install, the histories still cached.
- ``demo, cold JIT`` and ``demo, warm JIT``: ``basketguard demo`` (simulate,
  scan, assess, recommend, verify, the gate and its reports) with an empty and
  with a filled Numba cache. Their difference is the compile time of every
  kernel the demo runs (``cold_jit_s``); the issue's bound is 20 s.

Usage::

    python bench/bench_startup.py                    # 3 runs of each
    python bench/bench_startup.py --repeat 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_facts

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CLI = Path(sys.executable).with_name("basketguard")


def timed_process(argv: list[str], env: dict | None = None,
                  cwd: Path | None = None) -> tuple[float, float, int]:
    """Seconds to the first byte on stdout or stderr, seconds to exit, and the exit code."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd)
    first = None
    streams = [proc.stdout, proc.stderr]
    while streams:
        ready, _, _ = select.select(streams, [], [])
        for s in ready:
            chunk = os.read(s.fileno(), 65536)
            if not chunk:
                streams.remove(s)
            elif first is None:
                first = time.perf_counter() - t0
    code = proc.wait()
    total = time.perf_counter() - t0
    return (total if first is None else first), total, code


def measure(name: str, argv: list[str], repeat: int, *, cold: bool = False,
            cwd: Path | None = None, clean=None) -> dict:
    """Median first-output and total seconds of ``repeat`` runs of ``argv``."""
    firsts, totals = [], []
    for _ in range(repeat):
        env = dict(os.environ)
        tmp = None
        if cold:
            tmp = tempfile.mkdtemp(prefix="bench-numba-")
            env["NUMBA_CACHE_DIR"] = tmp
        if clean:
            clean()
        try:
            first, total, code = timed_process(argv, env=env, cwd=cwd)
        finally:
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
        if code not in (0, 1, 2):  # 1 and 2: a finding, not a failure of the run
            raise SystemExit(f"{name}: {' '.join(argv)} exited {code}")
        firsts.append(first)
        totals.append(total)
    return {"name": name, "first_output_s": float(np.median(firsts)),
            "seconds": float(np.median(totals)), "times": [round(t, 3) for t in totals],
            "first_times": [round(t, 3) for t in firsts]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--customers", type=int, default=5000,
                    help="simulated customers of the scanned project")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    args = ap.parse_args()
    if not CLI.exists():
        raise SystemExit(f"{CLI}: not found (install the project: make install)")
    OUT.mkdir(exist_ok=True)
    work = OUT / "startup"
    project = work / f"pop{args.customers}" / "project.toml"
    cache = work / "cache"
    if not project.exists():
        print(f"simulating {args.customers:,} customers...", file=sys.stderr)
        subprocess.run([str(CLI), "synth", "--customers", str(args.customers), "--seed", "1",
                        "--out", str(project.parent)], check=True, stdout=subprocess.DEVNULL)
    scan = [str(CLI), "scan", str(project), "--cache-dir", str(cache)]
    timed_process(scan)  # fills the histories cache and Numba's own cache
    demo_out = work / "demo-out"

    def clean_demo() -> None:
        shutil.rmtree(demo_out, ignore_errors=True)

    demo = [str(CLI), "demo", "--out", str(demo_out)]
    timed_process(demo)  # warms Numba's cache for the demo's kernels
    clean_demo()
    results = [
        measure("help", [str(CLI), "--help"], args.repeat),
        measure("scan, warm JIT", scan, args.repeat),
        measure("scan, cold JIT", scan, args.repeat, cold=True),
        measure("demo, warm JIT", demo, args.repeat, clean=clean_demo),
        measure("demo, cold JIT", demo, args.repeat, cold=True, clean=clean_demo),
    ]
    clean_demo()
    by = {r["name"]: r for r in results}
    cold_jit = by["demo, cold JIT"]["seconds"] - by["demo, warm JIT"]["seconds"]
    scan_jit = by["scan, cold JIT"]["seconds"] - by["scan, warm JIT"]["seconds"]
    out = {"machine": machine_facts(), "customers": args.customers, "results": results,
           "cold_jit_s": round(cold_jit, 2), "scan_jit_s": round(scan_jit, 2)}
    print(f"{'command':<18} {'first output s':>14} {'total s':>8}")
    for r in results:
        print(f"{r['name']:<18} {r['first_output_s']:14.2f} {r['seconds']:8.2f}")
    print(f"cold JIT compile of the demo's kernels: {cold_jit:.1f} s (bound 20 s); "
          f"of the scan's: {scan_jit:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
