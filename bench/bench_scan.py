"""Benchmark: the signature scan over in-memory histories, side by side.

Every built-in signature scored in one pass, on the same simulated population
in the same run. Contenders, each in its own subprocess (so peak memory is its
own):

- ``basketguard``: :func:`basketguard.kernels.windows.scan_histories` on the
  histories' CSR arrays with the compiled built-in library (what
  ``basketguard scan`` runs after loading): score, peak day, peak mask, event
  date and the report's aggregates.
- ``duckdb``: the same windowed query in SQL on native DuckDB tables (lines,
  the item -> feature table, the item -> baseline-group table), loaded before
  timing; only the query and fetching its result are timed.
- ``polars``: the same query as a lazy plan over in-memory DataFrames.

The peers' query, "written well": join the lines to the small item -> feature
table first; the quantity condition from per-(customer, baseline group) sums
and counts (leave-one-out mean); dedupe to (customer, signature, feature,
day); then, instead of a range self-join, a sweep: with the days of one
(customer, signature, feature) in order, the feature is present on
``[day, min(day + W, next day))``, so the score curve is the running sum of
``+weight`` / ``-weight`` events per (customer, signature), its maximum and
earliest peak day come from one more window, and the peak mask from the spans
that contain the peak day. The event-date estimate is not computed by the
peers (the kernel computes it anyway; it is in the timed pass).

The peers' sweep covers presence features with positive weights, so the
library compared here is the built-in one without its counter-evidence
(negative-weight) and absence features (``peer_library``); those take the
kernel's general path, which ``--full`` times for basketguard alone.

Compared, per (customer, signature) with a positive score: score (tolerance
1e-9), peak day and the peak feature mask. The script exits non-zero with a
mismatch report if any contender disagrees.

Each child loads the histories (from a cache built once), builds its inputs,
warms up on the first customers (JIT, thread pools), then reports the median
(and the best) of ``--repeat`` timed runs, its peak RSS for the whole process and the extra
memory of the timed runs alone (VmHWM reset through ``/proc/self/clear_refs``).

Usage::

    python bench/bench_scan.py                   # default: ~20M lines
    python bench/bench_scan.py --profile smoke   # ~1M lines, quick
    python bench/bench_scan.py --profile large --json out.json
    python bench/bench_scan.py --full           # basketguard alone, the whole library
"""

from __future__ import annotations

import argparse
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
#: Lines per simulated customer at the simulator's defaults (measured: ~87-88).
LINES_PER_CUSTOMER = 88
CONTENDERS = ("basketguard", "duckdb", "polars")
WARM_CUSTOMERS = 500
TOLERANCE = 1e-9


# --------------------------------------------------------------------------- data
def prepare(folder: Path, n_lines: int, seed: int = 1) -> None:
    """Simulate a population of about ``n_lines`` lines and cache its histories."""
    from basketguard.engine.api import load_histories
    from basketguard.models.simulator.run import SimConfig, simulate

    t0 = time.perf_counter()
    result = simulate(SimConfig(customers=max(100, round(n_lines / LINES_PER_CUSTOMER)),
                                seed=seed), folder / "sim")
    t1 = time.perf_counter()
    hist = load_histories(result.paths["project"], cache_dir=folder / "cache")
    meta = {"lines": hist.n_lines, "customers": hist.n_customers, "seed": seed,
            "simulate_s": round(t1 - t0, 1),
            "histories_s": round(time.perf_counter() - t1, 1)}
    (folder / "ready.json").write_text(json.dumps(meta))


def load(folder: Path):
    """Histories (copied into RAM), the compiled built-in library, the project."""
    from basketguard.engine.api import load_histories
    from basketguard.engine.config.project import load_project
    from basketguard.engine.detect.scan import compile_for

    project = load_project(folder / "sim" / "project.toml")
    hist = load_histories(project, cache_dir=folder / "cache")
    for name in ("offsets", "item", "day", "quantity"):
        setattr(hist, name, np.array(getattr(hist, name), copy=True))  # not a mapped file
    full = os.environ.get("BENCH_SCAN_FULL") == "1"
    library, _ = compile_for(project, hist, None if full else peer_library())
    return hist, library


def peer_library():
    """The built-in signatures with only their positive presence features."""
    import dataclasses

    from basketguard.models.signatures.schema import load_library

    out = []
    for sig in load_library():
        feats = tuple(f for f in sig.features if f.weight > 0 and not f.is_absence)
        out.append(dataclasses.replace(sig, features=feats))
    return tuple(out)


def feature_tables(library) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The peers' inputs: item -> feature (with weight, signature, window, ratio and
    baseline group) and item -> baseline group, from the compiled library."""
    t = library.tables
    slot_item = library.slot_item
    n_slots = slot_item.shape[0]
    pair_slot = np.repeat(np.arange(n_slots), np.diff(t.slot_feat_off))
    feat = t.slot_feat.astype(np.int32)
    ifeat = {
        "item": slot_item[pair_slot].astype(np.int32),
        "feat": feat,
        "sig": t.feat_sig[feat].astype(np.int32),
        "bit": np.left_shift(np.uint64(1), t.feat_local[feat].astype(np.uint64)),
        "weight": t.feat_weight[feat].astype(np.float64),
        "win": t.sig_window[t.feat_sig[feat]].astype(np.int32),
        "ratio": t.feat_ratio[feat].astype(np.float64),
        "grp": t.slot_feat_group.astype(np.int32),
    }
    # The same pairs as the resolved features' item lists.
    for g, match in enumerate(library.features):
        got = np.sort(ifeat["item"][feat == g])
        if not np.array_equal(got, np.sort(match.items)):
            raise AssertionError(f"feature {g}: item table differs from library.features")
    grp_slot = np.repeat(np.arange(n_slots), np.diff(t.slot_grp_off))
    igrp = {"item": slot_item[grp_slot].astype(np.int32),
            "grp": t.slot_grp.astype(np.int32)}
    return ifeat, igrp


def line_columns(hist, n_customers: int | None = None) -> dict[str, np.ndarray]:
    """Customer code, item code, day and quantity per line (the first customers only
    when ``n_customers`` is given)."""
    offsets = hist.offsets if n_customers is None else hist.offsets[:n_customers + 1]
    n = int(offsets[-1])
    return {"c": np.repeat(np.arange(offsets.shape[0] - 1, dtype=np.int32), np.diff(offsets)),
            "item": hist.item[:n], "day": hist.day[:n], "q": hist.quantity[:n]}


# ------------------------------------------------------------------- contenders
def setup_basketguard(hist, library):
    from basketguard.kernels.windows import scan_histories

    qty = hist.quantity if library.n_groups else None

    def run(n_customers: int | None = None) -> dict[str, np.ndarray]:
        if n_customers is None:
            off, item, day, q = hist.offsets, hist.item, hist.day, qty
        else:
            off = hist.offsets[:n_customers + 1]
            n = int(off[-1])
            item, day, q = hist.item[:n], hist.day[:n], None if qty is None else qty[:n]
        e = scan_histories(off, item, day, q, library.tables, library.n_groups).entries
        return {"c": e.customer, "sig": e.signature, "score": e.score, "peak": e.peak_day,
                "mask": e.mask}

    return run, {"groups": library.n_groups}


DUCKDB_QUERY = """
WITH hits AS (            -- lines of items that matter, one row per (line, feature)
    SELECT l.c, l.day, l.q, f.feat, f.sig, f.bit, f.weight, f.win, f.ratio, f.grp
    FROM {lines} l JOIN ifeat f ON l.item = f.item
),
gstats AS (               -- quantity sums per (customer, baseline group)
    SELECT l.c, g.grp, sum(l.q::DOUBLE) AS gsum, count(*) AS gcnt
    FROM {lines} l JOIN igrp g ON l.item = g.item
    GROUP BY l.c, g.grp
),
counted AS (              -- counting (customer, signature, feature, day)
    SELECT DISTINCT h.c, h.sig, h.feat, h.bit, h.weight, h.win, h.day
    FROM hits h LEFT JOIN gstats s ON s.c = h.c AND s.grp = h.grp
    WHERE h.grp < 0
       OR h.q::DOUBLE >= h.ratio * (CASE WHEN s.gcnt > 1
                                        THEN (s.gsum - h.q::DOUBLE) / (s.gcnt - 1)
                                        ELSE 1.0 END)
),
spans AS MATERIALIZED (   -- the feature is present on [day, stop)
    SELECT c, sig, bit, weight, day,
           least(day + win, coalesce(lead(day) OVER (PARTITION BY c, sig, feat ORDER BY day),
                                     day + win)) AS stop
    FROM counted
),
deltas AS (
    SELECT c, sig, day, sum(w) AS dw
    FROM (SELECT c, sig, day, weight AS w FROM spans
          UNION ALL
          SELECT c, sig, stop AS day, -weight AS w FROM spans)
    GROUP BY c, sig, day
),
curve AS (
    SELECT c, sig, day,
           sum(dw) OVER (PARTITION BY c, sig ORDER BY day ROWS UNBOUNDED PRECEDING) AS score
    FROM deltas
),
ranked AS (
    SELECT c, sig, day, score, max(score) OVER (PARTITION BY c, sig) AS best FROM curve
),
peaks AS (
    SELECT c, sig, best AS score, min(day) AS peak FROM ranked WHERE score = best
    GROUP BY c, sig, best
)
SELECT p.c, p.sig, p.score, p.peak, bit_or(s.bit) AS mask
FROM peaks p JOIN spans s
  ON s.c = p.c AND s.sig = p.sig AND s.day <= p.peak AND p.peak < s.stop
GROUP BY p.c, p.sig, p.score, p.peak
"""


def setup_duckdb(hist, library):
    import duckdb
    import pyarrow as pa

    ifeat, igrp = feature_tables(library)
    con = duckdb.connect()
    for name, cols in (("ifeat", ifeat), ("igrp", igrp), ("lines", line_columns(hist)),
                       ("lines_warm", line_columns(hist, WARM_CUSTOMERS))):
        con.register("arrow_in", pa.table(cols))
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow_in")
        con.unregister("arrow_in")

    def run(n_customers: int | None = None) -> dict[str, np.ndarray]:
        table = "lines" if n_customers is None else "lines_warm"
        res = con.execute(DUCKDB_QUERY.format(lines=table)).fetchnumpy()
        return {k: np.asarray(v) for k, v in res.items()}

    return run, {"threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}


def polars_query(lines, ifeat, igrp):
    import polars as pl

    gstats = (lines.join(igrp, on="item")
              .group_by("c", "grp")
              .agg(pl.col("q").cast(pl.Float64).sum().alias("gsum"), pl.len().alias("gcnt")))
    q = pl.col("q").cast(pl.Float64)
    usual = (pl.when(pl.col("gcnt") > 1)
             .then((pl.col("gsum") - q) / (pl.col("gcnt") - 1))
             .otherwise(1.0))
    counted = (lines.join(ifeat, on="item")
               .join(gstats, on=["c", "grp"], how="left")
               .filter((pl.col("grp") < 0) | (q >= pl.col("ratio") * usual))
               .select("c", "sig", "feat", "bit", "weight", "win", "day")
               .unique(["c", "sig", "feat", "day"]))
    spans = (counted.sort("c", "sig", "feat", "day")
             .with_columns(pl.min_horizontal(
                 pl.col("day") + pl.col("win"),
                 pl.col("day").shift(-1).over("c", "sig", "feat")
                 .fill_null(pl.col("day") + pl.col("win"))).alias("stop"))
             .select("c", "sig", "bit", "weight", "day", "stop")).cache()
    deltas = pl.concat([
        spans.select("c", "sig", "day", pl.col("weight").alias("dw")),
        spans.select("c", "sig", pl.col("stop").alias("day"), (-pl.col("weight")).alias("dw")),
    ])
    peaks = (deltas.group_by("c", "sig", "day").agg(pl.col("dw").sum())
             .sort("c", "sig", "day")
             .with_columns(pl.col("dw").cum_sum().over("c", "sig").alias("score"))
             .group_by("c", "sig")
             .agg(pl.col("score").max(), pl.col("day").get(pl.col("score").arg_max())
                  .alias("peak")))
    return (peaks.join(spans, on=["c", "sig"])
            .filter((pl.col("day") <= pl.col("peak")) & (pl.col("peak") < pl.col("stop")))
            .group_by("c", "sig", "score", "peak")
            .agg(pl.col("bit").sum().alias("mask")))  # a feature's spans are disjoint


def setup_polars(hist, library):
    import polars as pl

    ifeat, igrp = feature_tables(library)
    frames = {"ifeat": pl.DataFrame(ifeat), "igrp": pl.DataFrame(igrp)}
    full = pl.DataFrame(line_columns(hist))
    warm = pl.DataFrame(line_columns(hist, WARM_CUSTOMERS))

    def run(n_customers: int | None = None) -> dict[str, np.ndarray]:
        lines = full if n_customers is None else warm
        df = polars_query(lines.lazy(), frames["ifeat"].lazy(), frames["igrp"].lazy()).collect()
        return {k: df[k].to_numpy() for k in ("c", "sig", "score", "peak", "mask")}

    return run, {"threads": pl.thread_pool_size()}


SETUPS = {"basketguard": setup_basketguard, "duckdb": setup_duckdb, "polars": setup_polars}


# ------------------------------------------------------------------------ child
def rss_mb(field: str) -> float:
    """VmHWM (peak, per address space) or VmRSS of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def canonical(res: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"c": np.asarray(res["c"], np.int64), "sig": np.asarray(res["sig"], np.int32),
           "score": np.asarray(res["score"], np.float64),
           "peak": np.asarray(res["peak"], np.int32), "mask": np.asarray(res["mask"], np.uint64)}
    order = np.lexsort((out["sig"], out["c"]))
    return {k: v[order] for k, v in out.items()}


def child(name: str, folder: Path, repeat: int) -> None:
    t0 = time.perf_counter()
    hist, library = load(folder)
    run, extra = SETUPS[name](hist, library)
    setup_s = time.perf_counter() - t0
    run(WARM_CUSTOMERS)  # JIT / thread pools / first-touch on the first customers
    run(WARM_CUSTOMERS)
    rss_before = rss_mb("VmRSS")
    reset = reset_peak()
    times = []
    res = None
    for _ in range(repeat):
        res = None
        t0 = time.perf_counter()
        res = run()
        times.append(time.perf_counter() - t0)
    res = canonical(res)
    np.savez(folder / f"result_{name}.npz", **res)
    print(json.dumps({
        "name": name, "seconds": float(np.median(times)), "best_s": min(times),
        "times": [round(t, 4) for t in times],
        "lines": hist.n_lines, "customers": hist.n_customers, "entries": int(res["c"].size),
        "setup_s": round(setup_s, 2), "peak_rss_mb": round(rss_mb("VmHWM"), 1),
        "rss_before_mb": round(rss_before, 1), "hwm_reset": reset, **extra}))


# ------------------------------------------------------------------------ check
def compare(ref: dict[str, np.ndarray], got: dict[str, np.ndarray], name: str) -> list[str]:
    """Mismatch report lines (empty when ``got`` agrees with ``ref``)."""
    keys_r = ref["c"] * 64 + ref["sig"]
    keys_g = got["c"] * 64 + got["sig"]
    only_r = np.setdiff1d(keys_r, keys_g)
    only_g = np.setdiff1d(keys_g, keys_r)
    out = []
    if only_r.size or only_g.size:
        out.append(f"{name}: {only_r.size} (customer, signature) pairs only in basketguard "
                   f"(e.g. {[(int(k // 64), int(k % 64)) for k in only_r[:5]]}), "
                   f"{only_g.size} only in {name} "
                   f"(e.g. {[(int(k // 64), int(k % 64)) for k in only_g[:5]]})")
    _, ir, ig = np.intersect1d(keys_r, keys_g, assume_unique=True, return_indices=True)
    for col in ("score", "peak", "mask"):
        a, b = ref[col][ir], got[col][ig]
        bad = (np.abs(a - b) > TOLERANCE) if col == "score" else (a != b)
        if bad.any():
            i = np.flatnonzero(bad)[:5]
            ex = [(int(ref["c"][ir][j]), int(ref["sig"][ir][j]), a[j].item(), b[j].item())
                  for j in i]
            out.append(f"{name}: {int(bad.sum())} pairs differ in {col} "
                       f"(customer, signature, basketguard, {name}): {ex}")
    return out


# ------------------------------------------------------------------------ main
def machine() -> dict:
    return machine_facts()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", nargs="*", choices=CONTENDERS, default=list(CONTENDERS))
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    ap.add_argument("--full", action="store_true",
                    help="basketguard alone with the whole built-in library (counter-evidence "
                         "and absence features included)")
    ap.add_argument("--child", nargs=2, metavar=("NAME", "FOLDER"), help=argparse.SUPPRESS)
    ap.add_argument("--prepare", nargs=2, metavar=("FOLDER", "LINES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        prepare(Path(args.prepare[0]), int(args.prepare[1]))
        return
    if args.child:
        child(args.child[0], Path(args.child[1]), args.repeat)
        return
    if args.full:
        os.environ["BENCH_SCAN_FULL"] = "1"  # read by the children's load()
        args.only = ["basketguard"]
    load_start = [round(x, 2) for x in os.getloadavg()]  # others' work skews the timings
    folder = OUT / f"scan_{args.profile}"
    if not (folder / "ready.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"simulating ~{PROFILES[args.profile]:,} lines into {folder}...", file=sys.stderr)
        # In a subprocess, so that this process stays small for the children.
        subprocess.run([sys.executable, __file__, "--prepare", str(folder),
                        str(PROFILES[args.profile])], check=True)
    data = json.loads((folder / "ready.json").read_text())
    results = []
    for name in args.only:
        (folder / f"result_{name}.npz").unlink(missing_ok=True)
        proc = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat),
                               "--child", name, str(folder)],
                              capture_output=True, text=True, check=False)
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            raise SystemExit(f"{name} failed")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    n = data["lines"]
    facts = {"machine": machine(), "load_avg_start": load_start, "profile": args.profile, **data}
    print(json.dumps(facts, indent=1))
    bg = next((r for r in results if r["name"] == "basketguard"), None)
    print(f"\n{'contender':<12} {'seconds':>8} {'Mlines/s':>9} {'peak MB':>8} "
          f"{'query MB':>8} {'x bg time':>9}")
    for r in results:
        ratio = f"{r['seconds'] / bg['seconds']:.1f}x" if bg else ""
        r["mlines_per_s"] = round(n / r["seconds"] / 1e6, 1)
        r["query_mb"] = round(r["peak_rss_mb"] - r["rss_before_mb"], 1)
        print(f"{r['name']:<12} {r['seconds']:8.3f} {r['mlines_per_s']:9.1f} "
              f"{r['peak_rss_mb']:8.0f} {r['query_mb']:8.0f} {ratio:>9}")
    print("\nseconds of each timed run: " + "; ".join(
        f"{r['name']} {r['times']}" for r in results))
    problems: list[str] = []
    if bg:
        ref = dict(np.load(folder / "result_basketguard.npz"))
        for r in results:
            if r["name"] != "basketguard":
                got = dict(np.load(folder / f"result_{r['name']}.npz"))
                problems += compare(ref, got, r["name"])
        print(f"results agree ({bg['entries']:,} (customer, signature) pairs with a positive "
              f"score; score, peak day, peak mask): {not problems}")
    if args.json:
        args.json.write_text(json.dumps({**facts, "results": results,
                                         "agree": not problems, "mismatches": problems},
                                        indent=1))
    if problems:
        raise SystemExit("contenders disagree:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
