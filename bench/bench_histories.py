"""Benchmark: build customer histories from a Parquet file, side by side.

Contenders, each in its own subprocess (so peak memory is its own), on the
same file in the same run:

- ``basketguard``: read + validate + encode + build (``histories_from_project``,
  no cache): CSR offsets, item codes, day numbers, quantities.
- ``duckdb``: the same arrays with SQL (dense_rank for codes, ORDER BY customer,
  time, item, quantity), fetched as NumPy, offsets from the customer codes.
- ``polars``: the same with a lazy scan, rank("dense") and sort.
- ``read-only``: pyarrow reading the same columns, the floor for any reader.

All three builders must produce identical arrays (a digest is compared).
Each child warms up first (JIT, file cache), then reports the median (and
the best) of ``--repeat`` timings and its peak RSS.

Usage::

    python bench/bench_histories.py                  # default: 20M lines
    python bench/bench_histories.py --profile smoke  # 1M lines, quick
    python bench/bench_histories.py --order customer # input already sorted (fast path)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from machine import machine_facts

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PROFILES = {"smoke": 1_000_000, "default": 20_000_000, "large": 50_000_000}
CONTENDERS = ("read-only", "basketguard", "duckdb", "polars")


# --------------------------------------------------------------------------- data
def generate(path: Path, n_lines: int, order: str, seed: int = 1) -> None:
    """A transaction log: ~20 lines per customer, Zipf items, a year of times.

    ``order="time"`` writes it as a warehouse log (time order, customers
    interleaved); ``order="customer"`` sorts it by (customer, time).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    n_cust = max(1, n_lines // 20)
    n_items = 50_000
    # Loyalty-card style ids: 9 digits, spread over a range 4x the customers.
    ids = np.sort(rng.choice(4 * n_cust, size=n_cust, replace=False)).astype(np.int64)
    ids += 100_000_000
    activity = rng.pareto(1.5, n_cust) + 1.0
    cust = rng.choice(n_cust, size=n_lines, p=activity / activity.sum())
    item_pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    items = rng.choice(n_items, size=n_lines, p=item_pop / item_pop.sum()).astype(np.int32)
    start = 1_672_531_200  # 2023-01-01
    t = start + rng.integers(0, 365 * 86400, n_lines)
    order_idx = np.lexsort((t, cust)) if order == "customer" else np.argsort(t, kind="stable")
    qty = rng.integers(1, 4, n_lines).astype(np.float32)
    table = pa.table({
        "customer_id": ids[cust[order_idx]],
        "item_id": items[order_idx],
        "ts": pa.array((t[order_idx] * 1_000_000).astype("datetime64[us]"),
                       pa.timestamp("us", tz="UTC")),
        "quantity": qty[order_idx],
    })
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, row_group_size=1 << 20, compression="snappy")
    os.replace(tmp, path)


def generate_synth(path: Path, n_lines: int, seed: int = 1) -> None:
    """A simulator population of about ``n_lines`` lines (customer order)."""
    import shutil
    import tempfile

    from basketguard.models.simulator.run import SimConfig, simulate

    customers = max(100, int(n_lines / 92))  # ~92 lines per customer at defaults
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        result = simulate(SimConfig(customers=customers, seed=seed), tmp)
        # Keep the four columns the peers read, under the names used here.
        import pyarrow.parquet as pq

        table = pq.read_table(result.paths["lines"],
                              columns=["customer_id", "item_id", "ts", "quantity"])
        pq.write_table(table, path.with_suffix(".tmp"), row_group_size=1 << 20)
        shutil.move(path.with_suffix(".tmp"), path)


def project_file(data: Path) -> Path:
    path = data.with_suffix(".toml")
    path.write_text(
        "[lines]\n"
        f'source = "{data.name}"\n'
        "[lines.columns]\n"
        'customer = "customer_id"\nitem = "item_id"\ntime = "ts"\nquantity = "quantity"\n'
        # The peers keep repeated lines, so keep them here too (they are counted).
        '[validation]\nduplicate = "keep"\n'
    )
    return path


# ------------------------------------------------------------------- contenders
def digest(offsets, item, day, qty) -> str:
    h = hashlib.sha256()
    for a in (offsets, item, day, qty):
        h.update(np.ascontiguousarray(a).astype(np.int64 if a.dtype.kind in "iu" else
                                              np.float64).tobytes())
    return h.hexdigest()[:16]


def run_basketguard(data: Path):
    from basketguard.engine.config.project import load_project
    from basketguard.engine.histories.build import histories_from_project

    project = load_project(project_file(data))
    h = histories_from_project(project)
    return (h.offsets, h.item, h.day, h.quantity), {
        "read_s": h.info["read_seconds"], "build_s": h.info["build_seconds"],
        "input_sorted": h.info["input_sorted"],
        "final_mb": round(sum(a.nbytes for a in (h.offsets, h.item, h.day, h.basket,
                                                 h.quantity)) / 2**20, 1),
    }


def run_duckdb(data: Path):
    import duckdb

    con = duckdb.connect()
    res = con.sql(f"""
        SELECT (dense_rank() OVER (ORDER BY customer_id) - 1)::INTEGER AS c,
               (dense_rank() OVER (ORDER BY item_id) - 1)::INTEGER AS i,
               floor(epoch(ts) / 86400)::INTEGER AS day,
               quantity
        FROM read_parquet('{data}')
        ORDER BY customer_id, ts, item_id, quantity
    """).fetchnumpy()
    c = np.asarray(res["c"])
    counts = np.bincount(c, minlength=int(c.max()) + 1 if c.size else 0)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return (offsets, np.asarray(res["i"]), np.asarray(res["day"]),
            np.asarray(res["quantity"])), {}


def run_polars(data: Path):
    import polars as pl

    df = (
        pl.scan_parquet(data)
        .with_columns(
            (pl.col("customer_id").rank("dense") - 1).cast(pl.Int32).alias("c"),
            (pl.col("item_id").rank("dense") - 1).cast(pl.Int32).alias("i"),
            (pl.col("ts").dt.epoch("s") // 86400).cast(pl.Int32).alias("day"),
        )
        .sort(["customer_id", "ts", "item_id", "quantity"])
        .select("c", "i", "day", "quantity")
        .collect()
    )
    c = df["c"].to_numpy()
    counts = np.bincount(c, minlength=int(c.max()) + 1 if c.size else 0)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return (offsets, df["i"].to_numpy(), df["day"].to_numpy(), df["quantity"].to_numpy()), {}


def run_read_only(data: Path):
    import pyarrow.parquet as pq

    t = pq.read_table(data, columns=["customer_id", "item_id", "ts", "quantity"])
    return None, {"rows": t.num_rows}


RUNNERS = {"basketguard": run_basketguard, "duckdb": run_duckdb, "polars": run_polars,
           "read-only": run_read_only}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: per address space, so a
    child does not inherit its parent's peak the way ru_maxrss does)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, data: Path, warm: Path, repeat: int) -> None:
    runner = RUNNERS[name]
    runner(warm)  # JIT / imports / first-touch warm-up on a small file
    base_rss = peak_rss_mb()
    times = []
    extra: dict = {}
    arrays = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        arrays, extra = runner(data)
        times.append(time.perf_counter() - t0)
        if _ < repeat - 1:
            arrays = None
    out = {"name": name, "seconds": float(np.median(times)), "best_s": min(times),
           "times": [round(t, 4) for t in times], "peak_rss_mb": round(peak_rss_mb(), 1),
           "rss_before_mb": round(base_rss, 1), **extra}
    if arrays is not None:
        out["digest"] = digest(*arrays)
    print(json.dumps(out))


# ------------------------------------------------------------------------ main
def machine() -> dict:
    return machine_facts()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--order", choices=("time", "customer"), default="time",
                    help="row order of the generated log (customer = fast path)")
    ap.add_argument("--source", choices=("log", "synth"), default="log",
                    help="log: a time-ordered transaction log generated here; "
                         "synth: the shopper simulator's lines (customer order)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=CONTENDERS, default=list(CONTENDERS))
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    ap.add_argument("--child", nargs=3, metavar=("NAME", "DATA", "WARM"), help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.generate:
        path, size, source, order = args.generate
        if source == "synth":
            generate_synth(Path(path), int(size))
        else:
            generate(Path(path), int(size), order)
        return
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.repeat)
        return
    OUT.mkdir(exist_ok=True)
    n = PROFILES[args.profile]
    tag = "synth" if args.source == "synth" else args.order
    data = OUT / f"lines_{args.profile}_{tag}.parquet"
    warm = OUT / f"lines_warm_{tag}.parquet"
    for path, size in ((data, n), (warm, 100_000)):
        if not path.exists():
            print(f"generating {path.name} ({size:,} lines)...", file=sys.stderr)
            # In a subprocess, so that this process stays small for the children.
            subprocess.run([sys.executable, __file__, "--generate", str(path), str(size),
                            args.source, args.order], check=True)
    import pyarrow.parquet as pq

    n = pq.ParquetFile(data).metadata.num_rows
    results = []
    for name in args.only:
        proc = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat),
                               "--child", name, str(data), str(warm)],
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"{name} failed")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    digests = {r["digest"] for r in results if "digest" in r}
    bg = next((r for r in results if r["name"] == "basketguard"), None)
    print(json.dumps({"machine": machine(), "lines": n, "source": args.source,
                      "order": "customer" if args.source == "synth" else args.order,
                      "file_mb": round(data.stat().st_size / 2**20, 1)}, indent=1))
    print(f"\n{'contender':<12} {'seconds':>8} {'Mlines/s':>9} {'peak MB':>8} {'vs bg':>7}")
    for r in results:
        ratio = f"{r['seconds'] / bg['seconds']:.2f}x" if bg else ""
        print(f"{r['name']:<12} {r['seconds']:8.3f} {n / r['seconds'] / 1e6:9.1f} "
              f"{r['peak_rss_mb']:8.0f} {ratio:>7}")
    if bg:
        print(f"\nbasketguard phases: read+encode {bg['read_s']}s, build {bg['build_s']}s, "
              f"input_sorted={bg['input_sorted']}, final histories {bg['final_mb']} MB, "
              f"peak/final = {bg['peak_rss_mb'] / bg['final_mb']:.2f} "
              f"(interpreter + libraries {bg['rss_before_mb']:.0f} MB included)")
    print("results identical across builders:", len(digests) == 1)
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine(), "lines": n, "source": args.source, "order": args.order,
            "results": results, "agree": len(digests) == 1}, indent=1) + "\n")
    if len(digests) > 1:
        raise SystemExit("builders disagree: " + ", ".join(
            f"{r['name']}={r.get('digest')}" for r in results))


if __name__ == "__main__":
    main()
