"""Benchmark: the whole-CLI scan from a partitioned Parquet dataset, 10M to 1B lines.

For each size, a simulated population of about ``LINES`` basket lines (about
88 lines per customer over a year; generation is not timed) is written as a
partitioned Parquet dataset: a folder ``lines/`` of files of about 20M rows,
mapped by a ``project.toml`` whose ``[lines] source`` is that folder. Then, each
in its own process, so peak memory is its own:

- ``basketguard``: ``basketguard scan PROJECT --no-cache --memory-limit 16G``
  (every built-in signature; above the budget the lines go to customer-hash
  shards on disk, docs/scale.md). Timed end to end: start-up, Parquet decode,
  histories (or shards), scoring and the report.
- ``duckdb``: the signature query of ``bench/bench_scan.py`` (the built-in
  signatures' positive presence features) over ``read_parquet('lines/*.parquet')``
  with ``memory_limit='16GB'`` and a temporary folder, so it spills to disk on
  its own, its result materialized as a table; the item -> feature tables are
  built from the compiled library first. Timed as a whole process like
  basketguard (``seconds``); the query alone is ``query_seconds``.

Wall time and peak RSS (``ru_maxrss`` of the child, from ``wait4``) are
reported per size, with a least-squares fit of ``log(seconds)`` on
``log(lines)`` (exponent 1 is linear growth).

The basketguard run scores the whole library (counter-evidence and absence
features included); the DuckDB query the positive presence features only, so
DuckDB does less work than basketguard here. ``bench/bench_scan.py`` checks the
two agree on the shared part, at 20M lines in memory.

Usage::

    python bench/bench_scale.py --sizes 10M,100M              # data in bench/out/scale
    python bench/bench_scale.py --sizes 10M,100M,300M,1B --data /big/disk --json out.json
    python bench/bench_scale.py --sizes 10M --only basketguard
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from machine import machine_facts

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "scale"
LINES_PER_CUSTOMER = 88
ROWS_PER_FILE = 20_000_000
MEMORY_LIMIT = "16G"
CONTENDERS = ("basketguard", "duckdb")


def parse_size(text: str) -> int:
    """``10M`` -> 10_000_000; ``1B`` / ``1G`` -> 1_000_000_000; plain integers too."""
    text = text.strip().upper()
    for suffix, mult in (("K", 10**3), ("M", 10**6), ("B", 10**9), ("G", 10**9)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * mult)
    return int(text)


def label(n: int) -> str:
    return f"{n / 1e9:g}B" if n >= 10**9 else f"{n / 1e6:g}M"


# --------------------------------------------------------------------------- data
def prepare(folder: Path, n_lines: int, seed: int = 1) -> dict:
    """Simulate about ``n_lines`` lines into ``folder`` as a partitioned dataset."""
    ready = folder / "ready.json"
    if ready.exists():
        return json.loads(ready.read_text())
    import pyarrow.parquet as pq

    from basketguard.models.simulator.run import SimConfig, simulate

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    customers = max(100, round(n_lines / LINES_PER_CUSTOMER))
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"\r  simulating {label(n_lines)}: {done:,}/{total:,} customers",
              end="", file=sys.stderr, flush=True)

    result = simulate(SimConfig(customers=customers, seed=seed), folder, progress=progress)
    print(file=sys.stderr)
    # Split the one lines file into a folder of ~ROWS_PER_FILE-row files, row
    # group by row group (memory stays at one row group).
    single = Path(result.paths["lines"])
    parts = folder / "lines"
    parts.mkdir()
    src = pq.ParquetFile(single)
    writer = None
    rows_in_file = n_files = 0
    for g in range(src.metadata.num_row_groups):
        table = src.read_row_group(g)
        if writer is None or rows_in_file >= ROWS_PER_FILE:
            if writer is not None:
                writer.close()
            writer = pq.ParquetWriter(parts / f"part-{n_files:05d}.parquet", table.schema,
                                      compression="zstd")
            n_files += 1
            rows_in_file = 0
        writer.write_table(table)
        rows_in_file += table.num_rows
    if writer is not None:
        writer.close()
    single.unlink()
    project = folder / "project.toml"
    text = project.read_text().replace('source = "lines.parquet"', 'source = "lines"', 1)
    project.write_text(text)
    facts = {"lines": result.lines, "customers": customers, "files": n_files,
             "parquet_bytes": sum(p.stat().st_size for p in parts.iterdir()),
             "generate_seconds": round(time.perf_counter() - t0, 1)}
    ready.write_text(json.dumps(facts))
    return facts


# ------------------------------------------------------------------- contenders
def run_child(cmd: list[str]) -> dict:
    """Run ``cmd``: wall seconds, its own peak RSS (MB, ``ru_maxrss`` from ``wait4``), the
    return code, and the ends of its output (kept in temporary files, not pipes)."""
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"seconds": round(seconds, 2), "peak_rss_mb": round(usage.ru_maxrss / 1024),
                "rc": proc.returncode, "stdout": out.read(), "stderr": err.read()[-4000:]}


def measure_basketguard(folder: Path) -> dict:
    exe = Path(sys.executable).with_name("basketguard")
    report = folder / "report_basketguard.json"
    cmd = [str(exe), "scan", str(folder / "project.toml"), "--no-cache",
           "--memory-limit", MEMORY_LIMIT, "--timings", "--out", str(report)]
    res = run_child(cmd)
    if res["rc"]:
        raise SystemExit(f"basketguard scan failed ({res['rc']}):\n{res['stderr'][-2000:]}")
    doc = json.loads(report.read_text())
    res["report_seconds"] = doc.get("seconds")
    res["flagged"] = {s["signature"]: s["customers_flagged"] for s in doc["signatures"]}
    return res


def duckdb_child(folder: Path) -> None:
    """In a child process: the bench's scan query over the Parquet files."""
    from types import SimpleNamespace

    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from bench_scan import DUCKDB_QUERY, feature_tables, peer_library

    from basketguard.engine.config.project import load_project
    from basketguard.engine.detect.scan import compile_for

    project = load_project(folder / "project.toml")
    # The library compiled against the catalog's items as codes 0..n-1 (what
    # compile_for reads of histories: the item dictionary and whether there are
    # quantities), mapped back to the item ids that the Parquet files hold.
    ids = pq.read_table(folder / "catalog.parquet", columns=["item_id"]).column(0).combine_chunks()
    items = SimpleNamespace(item_ids=ids, quantity=np.zeros(1, np.float32), info={})
    library, _ = compile_for(project, items, peer_library())
    ifeat, igrp = feature_tables(library)
    ids = ids.to_numpy(zero_copy_only=False)
    ifeat["item"] = ids[ifeat["item"]]
    igrp["item"] = ids[igrp["item"]]
    con = duckdb.connect()
    tmp = folder / "duckdb_tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    con.execute(f"SET memory_limit='{MEMORY_LIMIT}B'")
    con.execute(f"SET temp_directory='{tmp}'")
    con.execute("SET preserve_insertion_order=false")
    for name, cols in (("ifeat", ifeat), ("igrp", igrp)):
        con.register("arrow_in", pa.table(cols))
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow_in")
        con.unregister("arrow_in")
    glob = str(folder / "lines" / "*.parquet")
    con.execute(f"""CREATE VIEW lines AS
        SELECT customer_id AS c, item_id AS item,
               (epoch_ms(ts) // 86400000)::INTEGER AS day, quantity AS q
        FROM read_parquet('{glob}')""")
    t0 = time.perf_counter()
    # Materialized in full (every column of every (customer, signature) row), as
    # the kernel's entries are; a bare count(*) would let the planner skip work.
    con.execute(f"CREATE TABLE res AS {DUCKDB_QUERY.format(lines='lines')}")
    n = con.execute("SELECT count(*) FROM res").fetchone()[0]
    seconds = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"query_seconds": round(seconds, 2), "entries": n,
                      "threads": con.execute("SELECT current_setting('threads')").fetchone()[0]}))


def measure_duckdb(folder: Path) -> dict:
    res = run_child([sys.executable, __file__, "--duckdb-child", str(folder)])
    if res["rc"]:
        raise SystemExit(f"duckdb failed ({res['rc']}):\n{res['stderr'][-2000:]}")
    res.update(json.loads(res["stdout"].strip().splitlines()[-1]))
    return res


# ------------------------------------------------------------------------ main
def fit(points: list[tuple[int, float]]) -> float | None:
    """Exponent b of seconds ~ a * lines**b (least squares on logs)."""
    if len(points) < 2:
        return None
    import numpy as np

    logs = np.log(np.asarray(points, dtype=np.float64))
    return round(float(np.polyfit(logs[:, 0], logs[:, 1], 1)[0]), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10M,100M", help="comma-separated line counts "
                    "(10M, 300M, 1B, ...; default 10M,100M)")
    ap.add_argument("--data", type=Path, default=OUT,
                    help=f"folder for the simulated datasets (default {OUT})")
    ap.add_argument("--only", nargs="*", choices=CONTENDERS, default=list(CONTENDERS))
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    ap.add_argument("--prepare-only", action="store_true", help="generate the data and stop")
    ap.add_argument("--duckdb-child", metavar="FOLDER", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.duckdb_child:
        duckdb_child(Path(args.duckdb_child))
        return
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    rows = []
    for n in sizes:
        folder = args.data / label(n)
        data = prepare(folder, n)
        print(f"{label(n)}: {data['lines']:,} lines, {data['customers']:,} customers, "
              f"{data['files']} files, {data['parquet_bytes'] / 1e9:.2f} GB", file=sys.stderr)
        if args.prepare_only:
            continue
        row = {"size": label(n), **data, "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
        for name in args.only:
            res = measure_basketguard(folder) if name == "basketguard" \
                else measure_duckdb(folder)
            res.pop("stdout")
            res["stderr_tail"] = res.pop("stderr")[-400:]
            row[name] = res
            print(f"  {name:<12} {row[name]['seconds']:8.1f} s  "
                  f"{row[name]['peak_rss_mb'] / 1024:6.2f} GiB peak", file=sys.stderr)
        rows.append(row)
    if args.prepare_only:
        return
    facts = {"machine": machine_facts(), "memory_limit": MEMORY_LIMIT}
    print(f"\n{'lines':>6} {'customers':>11} {'bg s':>7} {'bg GiB':>7} {'Mlines/s':>9} "
          f"{'duckdb s':>9} {'duckdb GiB':>10} {'ratio':>6}")
    for r in rows:
        bg, dk = r.get("basketguard"), r.get("duckdb")
        line = f"{r['size']:>6} {r['customers']:>11,}"
        line += (f" {bg['seconds']:7.1f} {bg['peak_rss_mb'] / 1024:7.2f} "
                 f"{r['lines'] / bg['seconds'] / 1e6:9.1f}") if bg else " " * 26
        if dk:
            line += f" {dk['seconds']:9.1f} {dk['peak_rss_mb'] / 1024:10.2f}"
            if bg:
                line += f" {dk['seconds'] / bg['seconds']:5.1f}x"
        print(line)
    growth = {name: fit([(r["lines"], r[name]["seconds"]) for r in rows if name in r])
              for name in args.only}
    print(f"\nfitted growth, seconds ~ lines^b: {growth}")
    print(json.dumps(facts, indent=1))
    if args.json:
        tmp = args.json.with_suffix(".tmp")
        tmp.write_text(json.dumps({**facts, "rows": rows, "growth": growth}, indent=1))
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
