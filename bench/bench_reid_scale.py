"""Benchmark: ``basketguard assess`` of a large segment, in memory and over shards.

For each size, the dataset of ``bench/bench_scale.py`` (a simulated population
of about ``LINES`` basket lines as a partitioned Parquet dataset; generated if
missing, not timed) and a segment of ``--members`` customers drawn with a fixed
seed among those with purchases are assessed by the whole CLI, each run in its
own process (wall time and its own peak RSS from ``wait4``):

- ``shards``: ``assess --no-inference --memory-limit 16G --shards N`` (attribute
  classes on the 7 simulated attributes, item-day unicity at p = 1..4 with 10
  draws per member);
- ``memory``: the same without ``--shards`` under a budget the histories fit
  (skip it with ``--no-memory`` where they do not).

Each contender runs twice on one cache folder: the first run builds the cache
(the histories, or the shard set), and the second, warm run is the one
reported. The reports of the two contenders must be equal apart from their
timings; the bench stops if they differ.

Usage::

    python bench/bench_reid_scale.py --sizes 100M --members 100000 --shards 4
    python bench/bench_reid_scale.py --sizes 1B --members 1000000 --no-memory --data /big/disk
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from bench_scale import OUT, label, parse_size, prepare, run_child
from machine import machine_facts


def segment(folder: Path, members: int, seed: int = 2026) -> Path:
    """A segment file of ``members`` ids among the customers with purchases."""
    path = folder / f"segment_{members}.parquet"
    if not path.exists():
        ids = ds.dataset(folder / "lines", format="parquet").to_table(
            columns=["customer_id"]).column(0)
        have = np.unique(ids.to_numpy())
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(have, min(members, have.shape[0]), replace=False))
        tmp = path.with_suffix(".tmp")
        pq.write_table(pa.table({"customer": pick}), tmp)
        tmp.replace(path)
    return path


def assess(folder: Path, seg: Path, cache: Path, extra: list[str]) -> dict:
    exe = Path(sys.executable).with_name("basketguard")
    report = cache.with_name(cache.name + "_report.json")
    cmd = [str(exe), "assess", str(folder / "project.toml"), "--segment", str(seg),
           "--no-inference", "--cache-dir", str(cache), "--timings", "--out", str(report),
           *extra]
    runs = [run_child(cmd) for _ in range(2)]
    for r in runs:
        if r["rc"] not in (0, 1, 2):
            raise SystemExit(f"basketguard assess failed ({r['rc']}):\n{r['stderr'][-2000:]}")
    doc = json.loads(report.read_text())
    seconds = doc.pop("seconds")
    return {"cold_seconds": runs[0]["seconds"], "cold_peak_rss_mb": runs[0]["peak_rss_mb"],
            "seconds": runs[1]["seconds"], "peak_rss_mb": runs[1]["peak_rss_mb"],
            "measure_seconds": seconds, "report": doc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100M", help="comma-separated line counts (default 100M)")
    ap.add_argument("--members", type=int, default=100_000, help="segment size (100000)")
    ap.add_argument("--shards", type=int, default=4, help="shards of the sharded run (4)")
    ap.add_argument("--no-memory", action="store_true", help="skip the in-memory run")
    ap.add_argument("--data", type=Path, default=OUT,
                    help=f"folder for the simulated datasets (default {OUT})")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    args = ap.parse_args()
    rows = []
    for n in (parse_size(s) for s in args.sizes.split(",") if s.strip()):
        folder = args.data / label(n)
        data = prepare(folder, n)
        seg = segment(folder, args.members)
        row = {"size": label(n), **data, "members": args.members}
        runs = {"shards": ["--memory-limit", "16G", "--shards", str(args.shards)]}
        if not args.no_memory:
            runs["memory"] = ["--memory-limit", "20G"]
        for name, extra in runs.items():
            cache = folder / f"cache_assess_{name}"
            cache.mkdir(exist_ok=True)
            row[name] = assess(folder, seg, cache, extra)
            r = row[name]
            print(f"{label(n)} {name:<7} warm {r['seconds']:7.1f} s {r['peak_rss_mb'] / 1024:6.2f} "
                  f"GiB (cold {r['cold_seconds']:.1f} s); measures {r['measure_seconds']}",
                  file=sys.stderr)
        if "memory" in row:
            same = row["memory"]["report"] == row["shards"]["report"]
            row["reports_equal"] = same
            if not same:
                raise SystemExit(f"{label(n)}: the sharded report differs from the in-memory one")
            print(f"{label(n)}: the sharded report equals the in-memory report", file=sys.stderr)
        for name in runs:
            row[name]["unicity"] = [f["value"] for f in row[name].pop("report")["findings"]
                                    if f["check"] == "reid.unicity"]
        rows.append(row)
    out = {"machine": machine_facts(), "rows": rows}
    print(json.dumps(out, indent=1))
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1))
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
