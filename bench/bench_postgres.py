"""Benchmark: PostgreSQL basket lines into histories, side by side with what users do.

Simulator lines (customer, item, time, basket, quantity) are written as
Parquet and loaded into a throw-away PostgreSQL server (``tests/pgserver.py``;
ADBC bulk ingest, then ``VACUUM ANALYZE``; not timed). Contenders, each in its
own subprocess (so peak RSS is its own), on the same rows in the same run:

1. ``bg-postgres``: ``load_histories(use_cache=False)`` of a project whose
   ``[lines]`` is the PostgreSQL table: connect, stream Arrow batches through
   ADBC, validate, encode, build the histories.
2. ``bg-parquet``: the same on the Parquet file (the ratio to it is reported).
3. ``pandas``: ``pandas.read_sql`` of the same columns through SQLAlchemy and
   psycopg, to a DataFrame only (less work than histories: favours the peer).
   Variants: NumPy dtypes (``pandas``), ``dtype_backend="pyarrow"``
   (``pandas-arrow``), and ``chunksize`` over a server-side cursor, then
   ``concat`` (``pandas-chunks``). The fastest is the peer.
4. ``psycopg COPY``: ``COPY (SELECT ...) TO STDOUT`` through ``cursor.copy()``
   into a buffer, then to an Arrow table: ``FORMAT csv`` parsed by
   ``pyarrow.csv`` (``copy-csv``), or ``FORMAT binary`` viewed as a NumPy
   record array (``copy-binary``: fixed-width NOT NULL columns only, checked).
   The fastest is the peer.
5. ``adbc``: ``cursor.execute(sql); cursor.fetch_arrow_table()`` with the
   engine's batch size: the floor of our own path (how much of it is the driver).

The variants of 3 and 4 are raced once each on the quarter-size table (one
process per family); the winner of each is then measured at full size (``--all-variants`` measures them
all at full size instead). Contender 1 (and 2) also run on the quarter table:
streaming means peak RSS minus the histories' own bytes stays about constant.
The cache fingerprint of the full table (``Source.fingerprint()`` of the opened
source, whatever rule the engine uses: row count and row versions) is timed in
the ``bg-postgres`` child once its own measurements are taken.

Checks: 1 and 2 give identical histories (digest of every array) at both sizes;
every contender gives the rows, sum of customer ids and exact sum of quantities
(as float32) of the Parquet file. Each child warms up on a 100k-line table
(1/40 of the lines when smaller),
then runs up to ``--repeat`` times, another run only while it fits in
``--budget`` seconds (by profile: a slow peer runs once); best and median are
reported, with the client's and the server's CPU seconds per run (the server's
from the postmaster's reaped children). ``pandas-adbc`` (``read_sql`` over an
ADBC connection) is measured for reference, outside the peers. Results go to
``bench/out/postgres_<profile>.json`` and ``.md``.

Needs the PostgreSQL server binaries (Debian's ``postgresql`` package, as the
tests do) and ``pip install -e '.[bench,postgresql]'``.

Usage::

    python bench/bench_postgres.py                   # default: ~10M lines
    python bench/bench_postgres.py --profile smoke   # ~1M lines, quick
    python bench/bench_postgres.py --lines 3000000   # or --customers N
    python bench/bench_postgres.py --cprofile bg-postgres   # where its time goes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import machine_facts

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
PROFILES = {"smoke": 1_000_000, "default": 10_000_000, "large": 40_000_000}
#: Seconds of timed runs per contender (another run only while it fits).
BUDGETS = {"smoke": 5.0, "default": 40.0, "large": 120.0}
LINES_PER_CUSTOMER = 92  # simulator defaults (bench_histories.generate_synth)
#: Lines of the warm-up table: 100k, or 1/40 of a smaller population.
WARM_LINES, WARM_SHARE = 100_000, 40
COLUMNS = ("customer_id", "item_id", "ts", "basket_id", "quantity")
SELECT = "SELECT " + ", ".join(COLUMNS) + " FROM {table}"
TABLES = {"full": "lines", "quarter": "lines_quarter", "warm": "lines_warm"}
PEER_FAMILIES = {
    "pandas": ("pandas", "pandas-arrow", "pandas-chunks"),
    "psycopg": ("copy-csv", "copy-binary"),
}
#: Measured for reference, outside the brief's peers: pandas over an ADBC connection.
EXTRAS = ("pandas-adbc",)
CONTENDERS = ("bg-postgres", "bg-parquet", *PEER_FAMILIES["pandas"], *PEER_FAMILIES["psycopg"],
              "adbc", *EXTRAS)
PANDAS_CHUNK = 250_000
#: How each contender reads, for the report.
HOW = {
    "bg-postgres": "load_histories(use_cache=False), [lines] = the PostgreSQL table",
    "bg-parquet": "load_histories(use_cache=False), [lines] = the Parquet file",
    "pandas": "pd.read_sql(sql, sqlalchemy engine) (postgresql+psycopg), NumPy dtypes",
    "pandas-arrow": "pd.read_sql(sql, engine, dtype_backend='pyarrow')",
    "pandas-chunks": f"pd.read_sql(sql, connection with stream_results=True, "
                     f"chunksize={PANDAS_CHUNK:_}) then pd.concat",
    "pandas-adbc": "pd.read_sql(sql, ADBC connection): not the brief's SQLAlchemy + psycopg",
    "copy-csv": "psycopg cursor.copy('COPY (sql) TO STDOUT (FORMAT csv)') into a bytearray, "
                "pyarrow.csv.read_csv with the column types",
    "copy-binary": "psycopg cursor.copy('... (FORMAT binary)') into a bytearray, viewed as a "
                   "NumPy record array (fixed-width NOT NULL columns)",
    "adbc": "ADBC cursor.execute(sql); fetch_arrow_table() (the engine's batch size hint)",
}
#: What each contender makes, for the table.
MAKES = {"bg-postgres": "histories", "bg-parquet": "histories", "pandas": "DataFrame",
         "pandas-arrow": "DataFrame (pyarrow dtypes)", "pandas-chunks": "DataFrame",
         "pandas-adbc": "DataFrame",
         "copy-csv": "Arrow table", "copy-binary": "Arrow table", "adbc": "Arrow table"}


# --------------------------------------------------------------------------- data
def generate(base: Path, customers: int, seed: int = 1) -> None:
    """Simulator lines of ``customers`` shoppers: full, first quarter, warm-up rows.

    Written as ``<base>.parquet``, ``<base>_quarter.parquet`` and
    ``<base>_warm.parquet`` with the five mapped columns only.
    """
    import pyarrow.parquet as pq

    from basketguard.models.simulator.run import SimConfig, simulate

    with tempfile.TemporaryDirectory(dir=base.parent) as tmp:
        result = simulate(SimConfig(customers=customers, seed=seed), Path(tmp) / "sim")
        table = pq.read_table(result.paths["lines"], columns=list(COLUMNS))
    n = table.num_rows
    for suffix, part in (("_warm", table.slice(0, min(WARM_LINES, n // WARM_SHARE))),
                         ("_quarter", table.slice(0, n // 4)), ("", table)):
        path = data_path(base, suffix)
        tmp_path = path.with_suffix(".tmp")
        pq.write_table(part, tmp_path, row_group_size=1 << 20)
        os.replace(tmp_path, path)


def data_path(base: Path, suffix: str) -> Path:
    return base.with_name(base.name + suffix + ".parquet")


def reference(path: Path) -> dict:
    """Rows, sum of customer ids and exact sum of quantities of a Parquet file."""
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["customer_id", "quantity"])
    return checks(t["customer_id"].to_numpy(), t["quantity"].to_numpy())


def checks(customer: np.ndarray, quantity: np.ndarray, counts: np.ndarray | None = None) -> dict:
    """What every contender must agree on (``counts``: lines per customer id)."""
    customer = np.asarray(customer, np.int64)
    if counts is None:
        rows, cust_sum = int(customer.shape[0]), int(customer.sum())
    else:
        rows, cust_sum = int(counts.sum()), int(np.dot(customer, counts))
    # float32 as the table holds it (pandas gives float64 from the text protocol)
    qty = math.fsum(np.asarray(quantity).astype(np.float32).astype(np.float64).tolist())
    return {"rows": rows, "sum_customer": cust_sum, "sum_quantity": qty}


def load_tables(server, base: Path) -> dict:
    """Load the three Parquet files into PostgreSQL; seconds per table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    took = {}
    for size, table in TABLES.items():
        t0 = time.perf_counter()
        f = pq.ParquetFile(data_path(base, "" if size == "full" else f"_{size}"))
        # streamed, so that this process stays small for the children
        server.load_arrow(table, pa.RecordBatchReader.from_batches(
            f.schema_arrow, f.iter_batches(batch_size=1 << 20)))
        server.execute(f"VACUUM ANALYZE {table}")
        took[table] = round(time.perf_counter() - t0, 2)
    return took


def write_projects(folder: Path, server, base: Path) -> dict:
    """Project files for the engine: PostgreSQL (password in a passfile) and Parquet."""
    from tests.pgserver import DATABASE

    role = "bg_reader"
    passfile = folder / "pgpass"
    passfile.write_text(f"127.0.0.1:{server.port}:{DATABASE}:{role}:{server.roles[role]}\n")
    passfile.chmod(0o600)
    mapping = ("[lines.columns]\n"
               'customer = "customer_id"\nitem = "item_id"\ntime = "ts"\n'
               'basket = "basket_id"\nquantity = "quantity"\n'
               # the peers keep repeated lines, so keep them here too (they are counted)
               '[validation]\nduplicate = "keep"\n')
    projects: dict = {"postgres": {}, "parquet": {}}
    for size, table in TABLES.items():
        pg = folder / f"postgres_{size}.toml"
        pg.write_text("[lines]\n"
                      f'source = "{server.uri(role, password=False)}"\n'
                      f'format = "postgresql"\ntable = "{table}"\n'
                      f'password_file = "{passfile}"\n' + mapping)
        pq_ = folder / f"parquet_{size}.toml"
        pq_.write_text("[lines]\n"
                       f'source = "{data_path(base, "" if size == "full" else f"_{size}")}"\n'
                       + mapping)
        projects["postgres"][size], projects["parquet"][size] = str(pg), str(pq_)
    return projects


# ------------------------------------------------------------------- contenders
def histories_digest(h) -> str:
    """Digest of every array of the histories (codes, days, quantities, dictionaries)."""
    d = hashlib.sha256()
    for a in (h.offsets, h.item, h.day, h.basket, h.quantity,
              h.customer_ids.to_numpy(zero_copy_only=False),
              h.item_ids.to_numpy(zero_copy_only=False)):
        d.update(str(a.dtype).encode())
        d.update(np.ascontiguousarray(a).tobytes())
    return d.hexdigest()[:16]


def histories_bytes(h) -> int:
    """Bytes the histories hold: their line arrays, offsets and id dictionaries."""
    arrays = [h.offsets, h.item, h.day, h.basket, h.quantity, h.price, h.store]
    own = sum(a.nbytes for a in arrays if a is not None)
    return own + sum(a.nbytes for a in (h.customer_ids, h.item_ids, h.basket_ids, h.store_ids)
                     if a is not None)


def _histories(project: str):
    from basketguard.engine.api import load_histories

    return load_histories(project, use_cache=False)


def run_bg_postgres(ctx: dict, size: str):
    return _histories(ctx["projects"]["postgres"][size])


def run_bg_parquet(ctx: dict, size: str):
    return _histories(ctx["projects"]["parquet"][size])


def _sqlalchemy_engine(uri: str):
    import sqlalchemy as sa

    return sa.create_engine(uri.replace("postgresql://", "postgresql+psycopg://", 1))


def _read_sql(ctx: dict, size: str, **kwargs):
    import pandas as pd

    engine = _sqlalchemy_engine(ctx["uri"])
    try:
        return pd.read_sql(SELECT.format(table=TABLES[size]), engine, **kwargs)
    finally:
        engine.dispose()


def run_pandas(ctx: dict, size: str):
    return _read_sql(ctx, size)


def run_pandas_arrow(ctx: dict, size: str):
    return _read_sql(ctx, size, dtype_backend="pyarrow")


def run_pandas_chunks(ctx: dict, size: str):
    import pandas as pd

    engine = _sqlalchemy_engine(ctx["uri"])
    try:
        # stream_results: a server-side cursor, so only one chunk of rows is in Python
        with engine.connect() as con:
            con = con.execution_options(stream_results=True, max_row_buffer=PANDAS_CHUNK)
            frames = pd.read_sql(SELECT.format(table=TABLES[size]), con,
                                 chunksize=PANDAS_CHUNK)
            return pd.concat(frames, ignore_index=True)
    finally:
        engine.dispose()


def run_pandas_adbc(ctx: dict, size: str):
    import adbc_driver_postgresql.dbapi as dbapi
    import pandas as pd

    with dbapi.connect(ctx["uri"]) as con:
        return pd.read_sql(SELECT.format(table=TABLES[size]), con)


def _copy_out(uri: str, sql: str, fmt: str) -> bytearray:
    import psycopg

    buf = bytearray()
    with psycopg.connect(uri) as con, con.cursor() as cur:
        # libpq hands COPY data over one row at a time; += on a bytearray is the
        # cheapest way to collect it (b"".join of the memoryviews is 3x slower)
        with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT {fmt})") as copy:
            for data in copy:
                buf += data
    return buf


def run_copy_csv(ctx: dict, size: str):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buf = _copy_out(ctx["uri"], SELECT.format(table=TABLES[size]), "csv")
    types = {"customer_id": pa.int64(), "item_id": pa.int32(),
             "ts": pa.timestamp("us", tz="UTC"), "basket_id": pa.int64(),
             "quantity": pa.float32()}
    return pacsv.read_csv(pa.py_buffer(buf),
                          read_options=pacsv.ReadOptions(column_names=list(COLUMNS),
                                                         block_size=8 << 20),
                          convert_options=pacsv.ConvertOptions(column_types=types))


#: One row of binary COPY for the five columns: field count, then (length, value) each.
_BINARY_ROW = np.dtype([("fields", ">i2"),
                        ("l0", ">i4"), ("customer_id", ">i8"), ("l1", ">i4"), ("item_id", ">i4"),
                        ("l2", ">i4"), ("ts", ">i8"), ("l3", ">i4"), ("basket_id", ">i8"),
                        ("l4", ">i4"), ("quantity", ">f4")])
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00"
_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


def run_copy_binary(ctx: dict, size: str):
    import pyarrow as pa

    buf = _copy_out(ctx["uri"], SELECT.format(table=TABLES[size]), "binary")
    head = 19 + int.from_bytes(buf[15:19], "big")  # signature, flags, extension length
    n, rest = divmod(len(buf) - head - 2, _BINARY_ROW.itemsize)
    if buf[:11] != _BINARY_HEADER or rest or buf[-2:] != b"\xff\xff":
        raise RuntimeError("binary COPY: unexpected layout")
    rows = np.frombuffer(buf, _BINARY_ROW, count=n, offset=head)
    widths = {"l0": 8, "l1": 4, "l2": 8, "l3": 8, "l4": 4}
    if (rows["fields"] != 5).any() or any((rows[k] != w).any() for k, w in widths.items()):
        raise RuntimeError("binary COPY: a NULL or a wider field (this fast path needs "
                           "fixed-width NOT NULL columns)")
    return pa.table({
        "customer_id": rows["customer_id"].astype(np.int64),
        "item_id": rows["item_id"].astype(np.int32),
        "ts": pa.array(rows["ts"].astype(np.int64) + _PG_EPOCH_US, pa.timestamp("us", tz="UTC")),
        "basket_id": rows["basket_id"].astype(np.int64),
        "quantity": rows["quantity"].astype(np.float32),
    })


def run_adbc(ctx: dict, size: str):
    import adbc_driver_postgresql.dbapi as dbapi

    from basketguard.engine.io.postgres import BATCH_BYTES

    with dbapi.connect(ctx["uri"]) as con, con.cursor() as cur:
        cur.adbc_statement.set_options(
            **{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
        cur.execute(SELECT.format(table=TABLES[size]))
        return cur.fetch_arrow_table()


RUNNERS = {"bg-postgres": run_bg_postgres, "bg-parquet": run_bg_parquet,
           "pandas": run_pandas, "pandas-arrow": run_pandas_arrow,
           "pandas-chunks": run_pandas_chunks, "pandas-adbc": run_pandas_adbc,
           "copy-csv": run_copy_csv, "copy-binary": run_copy_binary, "adbc": run_adbc}


def summarize(name: str, result) -> dict:
    """Checks (and, for histories, digest and sizes) of one contender's result."""
    if name.startswith("bg-"):
        counts = np.diff(result.offsets)
        out = checks(result.customer_ids.to_numpy(), result.quantity, counts)
        info = result.info
        out.update(digest=histories_digest(result), histories_mb=histories_bytes(result) / 2**20,
                   read_s=info["read_seconds"], build_s=info["build_seconds"],
                   dropped=sum(info["dropped"].values()))
        return out
    return checks(result["customer_id"].to_numpy(), result["quantity"].to_numpy())


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: its own address space only)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def server_cpu(pid: int | None) -> float:
    """CPU seconds of the server's finished processes (backends the postmaster reaped)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime, cstime


def child_cprofile(name: str, size: str, ctx: dict) -> None:
    """One profiled run after the warm-up: the top functions by own time, on stderr."""
    import cProfile
    import pstats

    RUNNERS[name](ctx, "warm")
    prof = cProfile.Profile()
    prof.runcall(RUNNERS[name], ctx, size)
    path = OUT / f"postgres_{name}.prof"
    prof.dump_stats(path)
    pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    print(f"profile written to {path}", file=sys.stderr)


def child(name: str, size: str, ctx: dict, repeat: int, budget: float) -> None:
    """Warm up, then time up to ``repeat`` runs within ``budget``; print the result as JSON."""
    runner = RUNNERS[name]
    runner(ctx, "warm")  # imports, JIT, first connection, first-touch memory
    base_rss = peak_rss_mb()
    times: list[float] = []
    result = None
    cpu0 = cpu_seconds()
    server0 = server_cpu(ctx["server_pid"])
    # another run only while it would fit in the budget (a slow peer runs once)
    while len(times) < repeat and (not times or sum(times) + times[-1] <= budget):
        result = None  # free the previous result: one at a time
        t0 = time.perf_counter()
        result = runner(ctx, size)
        times.append(time.perf_counter() - t0)
    cpu = (cpu_seconds() - cpu0) / len(times)
    time.sleep(0.05)  # for the postmaster to reap the last backend
    server = (server_cpu(ctx["server_pid"]) - server0) / len(times)
    out = {"name": name, "size": size, "seconds": min(times),
           "median_s": statistics.median(times), "runs": len(times),
           "client_cpu_s": round(cpu, 2), "server_cpu_s": round(server, 2),
           "peak_rss_mb": round(peak_rss_mb(), 1),
           "rss_before_mb": round(base_rss, 1), **summarize(name, result)}
    if name == "bg-postgres" and size == "full":  # after the measurements above
        result = None
        out["fingerprint"] = time_fingerprint(ctx, repeat)
    print(json.dumps(out))


def child_race(family: str, size: str, ctx: dict) -> None:
    """One run of each variant of a peer family, after its own warm-up, in one process.

    Only the times choose the peer, so the variants share a process (their peak
    RSS is not their own here: the winner's is measured in its own child).
    """
    out = []
    for name in PEER_FAMILIES[family]:
        RUNNERS[name](ctx, "warm")
        t0 = time.perf_counter()
        result = RUNNERS[name](ctx, size)
        seconds = time.perf_counter() - t0
        out.append({"name": name, "size": size, "seconds": seconds, "runs": 1,
                    **summarize(name, result)})
        result = None
    print(json.dumps(out))


def time_fingerprint(ctx: dict, repeat: int) -> dict:
    """Time ``Source.fingerprint()`` of the full table, and a bare connection for scale."""
    from basketguard.engine.config.project import load_project
    from basketguard.engine.io.postgres import connect
    from basketguard.engine.io.sources import open_source

    spec = load_project(ctx["projects"]["postgres"]["full"]).lines
    source = open_source(spec)
    source.fingerprint()  # warm-up
    whole, bare = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        facts = source.fingerprint()
        whole.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with connect(spec):  # what fingerprint() pays before its queries
            pass
        bare.append(time.perf_counter() - t0)
    return {"fingerprint_s": min(whole), "fingerprint_median_s": statistics.median(whole),
            "connect_s": statistics.median(bare), "rule": facts[1], "rows": facts[2]}


# ------------------------------------------------------------------------ main
def run_child(args, spec: Path, name: str, size: str, repeat: int | None = None,
              extra: tuple[str, ...] = ()) -> dict:
    cmd = [sys.executable, __file__, "--repeat", str(repeat or args.repeat), "--budget",
           str(args.budget), *extra, "--child", name, size, str(spec)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
    print(f"  {name} ({size}): {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    if proc.returncode:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"{name} ({size}) failed")
    if "--child-cprofile" in extra:
        print(proc.stderr, file=sys.stderr)
        return {}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def code_state() -> dict:
    """The commit measured, and the engine files changed in the work tree since."""
    def git(*cmd: str) -> str:
        done = subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=REPO,
                              check=False)
        return done.stdout if done.returncode == 0 else ""

    # porcelain lines are "XY path": two status letters (or spaces), a space, the path
    changed = [line[3:] for line in git("status", "--porcelain", "--", "engine",
                                        "kernels").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or None, "changed": changed}


def mlines(r: dict) -> float:
    return r["rows"] / r["seconds"] / 1e6


def markdown(report: dict) -> str:
    m, res, code = report["machine"], report["results"], report["code"]
    lines_n = report["lines"]
    pg = res["bg-postgres"]
    out = [f"# PostgreSQL -> histories ({report['profile']}: {lines_n:,} lines, "
           f"{report['customers']:,} customers)", "",
           f"Machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, load average "
           f"{m['load_avg']} at start and {report['load_avg_end']} at end; Python "
           f"{m['python']}, PostgreSQL {report['server_version']}, numpy {m['numpy']}, "
           f"numba {m['numba']}, pyarrow {m['pyarrow']}, adbc-driver-postgresql "
           f"{m['adbc_driver_postgresql']}, pandas {m['pandas']}, SQLAlchemy {m['sqlalchemy']}, "
           f"psycopg {m['psycopg']}. Server on loopback, settings of tests/pgserver.py; table "
           f"{report['table_mb']} MB; Parquet {report['parquet_mb']} MB. Code: commit "
           f"{code['commit']}"
           + (f", with work-tree changes to {', '.join(code['changed'])}" if code["changed"]
              else "") + ".", "",
           "| # | contender | makes | best s | median s | runs | M lines/s | peak RSS MB "
           "| client CPU s/run | server CPU s/run | bg-postgres is |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [("1", "bg-postgres"), ("2", "bg-parquet"), ("3", report["peers"]["pandas"]),
            ("4", report["peers"]["psycopg"]), ("5", "adbc")]
    rows += [("ref.", name) for name in EXTRAS]
    for num, name in rows:
        r = res[name]
        ratio = r["seconds"] / pg["seconds"]
        said = "-" if name == "bg-postgres" else (
            f"{ratio:.2f}x faster" if ratio >= 1 else f"{1 / ratio:.2f}x slower")
        out.append(f"| {num} | {name} | {MAKES[name]} | {r['seconds']:.2f} | "
                   f"{r['median_s']:.2f} | {r['runs']} | {mlines(r):.2f} | "
                   f"{r['peak_rss_mb']:.0f} | {r['client_cpu_s']:.2f} | "
                   f"{r['server_cpu_s']:.2f} | {said} |")
    ratios = report["ratios"]
    out += ["", f"- bg-postgres vs pandas ({report['peers']['pandas']}): "
            f"**{ratios['vs_pandas']:.2f}x** faster (target >= 5x)",
            f"- bg-postgres vs psycopg COPY ({report['peers']['psycopg']}): "
            f"**{ratios['vs_psycopg_copy']:.2f}x** (target >= 1x)",
            f"- bg-postgres time / bg-parquet time: **{ratios['pg_over_parquet']:.2f}x**",
            f"- bg-postgres time / ADBC fetch time: **{ratios['pg_over_adbc']:.2f}x** "
            f"(bg-postgres read+encode {pg['read_s']:.2f} s, build {pg['build_s']:.2f} s)",
            f"- Results: histories digests equal (1 = 2, both sizes): "
            f"{report['checks']['digests_equal']}; rows, sum of customer ids and sum of "
            f"quantities equal to the Parquet file for every contender: "
            f"{report['checks']['sums_equal']}.", "",
            (f"Variant race (one run each on the quarter table, {report['quarter_lines']:,} "
             "lines" if report["race_size"] == "quarter" else
             f"Variants (each on the full table, {lines_n:,} lines")
            + "; the fastest of each family is the peer):", "",
            "| variant | seconds | M lines/s | peak RSS MB |", "|---|---:|---:|---:|"]
    for r in report["race"]:
        rss = f"{r['peak_rss_mb']:.0f}" if "peak_rss_mb" in r else "(shared process)"
        out.append(f"| {r['name']} | {r['seconds']:.2f} | {mlines(r):.2f} | {rss} |")
    out += ["", "Bounded memory, MB (\"libs\": peak RSS after the warm-up, before the "
            "timed runs; \"working\": peak - libs - histories):", "",
            "| contender | lines | histories | peak RSS | peak - histories | libs | working "
            "| bg-postgres - bg-parquet peak |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["memory"]:
        gap = r.get("pg_minus_parquet_mb")
        out.append(f"| {r['name']} | {r['rows']:,} | {r['histories_mb']:.0f} | "
                   f"{r['peak_rss_mb']:.0f} | {r['peak_minus_histories_mb']:.0f} | "
                   f"{r['rss_before_mb']:.0f} | {r['working_mb']:.0f} | "
                   f"{'' if gap is None else f'{gap:.0f}'} |")
    grow = report["memory_growth"]
    out += ["", "Peak RSS - histories grows by "
            f"{grow['bg-postgres']:.0f} bytes per line from the quarter to the full table for "
            f"bg-postgres, {grow['bg-parquet']:.0f} for bg-parquet (a PostgreSQL stream that "
            "kept nothing would grow as Parquet does).", ""]
    out += ["Contenders:", ""] + [f"- `{name}`: {HOW[name]}" for name in
                                  dict.fromkeys([n for _, n in rows] + [r["name"] for r in
                                                                        report["race"]])]
    fp = report["fingerprint"]
    out += ["", f"Cache fingerprint of the full table ({fp['rule']}, {fp['rows']:,} rows): "
            f"`Source.fingerprint()` {fp['fingerprint_s']:.3f} s best, "
            f"{fp['fingerprint_median_s']:.3f} s median, of which connecting (a new "
            f"connection each time) {fp['connect_s']:.3f} s; "
            f"{fp['fingerprint_s'] / pg['seconds']:.0%} of bg-postgres' full read.", "",
            "Loading (ADBC ingest + VACUUM ANALYZE, not timed as a contender): "
            + ", ".join(f"{t} {s:.1f} s" for t, s in report["load_s"].items()) + ".", ""]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="default")
    sizes = ap.add_mutually_exclusive_group()
    sizes.add_argument("--lines", type=int, help="about this many lines (overrides --profile)")
    sizes.add_argument("--customers", type=int, help="this many simulated customers")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget", type=float,
                    help="seconds of timed runs per contender: another run only while it "
                         f"fits (default by profile: {BUDGETS})")
    ap.add_argument("--all-variants", action="store_true",
                    help="measure every pandas / psycopg variant at full size (no race)")
    ap.add_argument("--cprofile", choices=CONTENDERS, metavar="NAME",
                    help="only profile this contender at full size (cProfile, by own time)")
    ap.add_argument("--child", nargs=3, metavar=("NAME", "SIZE", "SPEC"), help=argparse.SUPPRESS)
    ap.add_argument("--child-cprofile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--generate", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.budget is None:
        args.budget = BUDGETS[args.profile]
    if args.generate:
        generate(Path(args.generate[0]), int(args.generate[1]))
        return
    if args.child:
        ctx = json.loads(Path(args.child[2]).read_text())
        name, size = args.child[:2]
        if name.startswith("race:"):
            child_race(name[len("race:"):], size, ctx)
        elif args.child_cprofile:
            child_cprofile(name, size, ctx)
        else:
            child(name, size, ctx, args.repeat, args.budget)
        return

    OUT.mkdir(exist_ok=True)
    customers = args.customers or max(100, (args.lines or PROFILES[args.profile])
                                      // LINES_PER_CUSTOMER)
    tag = args.profile if not (args.lines or args.customers) else f"c{customers}"
    base = OUT / f"pg_lines_c{customers}"
    if not data_path(base, "").exists():
        print(f"generating {customers:,} customers of simulator lines...", file=sys.stderr)
        # in a subprocess, so that this process stays small
        subprocess.run([sys.executable, __file__, "--generate", str(base), str(customers)],
                       check=True, cwd=REPO)
    ref = {size: reference(data_path(base, "" if size == "full" else f"_{size}"))
           for size in ("full", "quarter")}
    facts = machine_facts("pandas", "sqlalchemy", "psycopg", "adbc_driver_postgresql")
    measured = measure(args, base, ref["full"]["rows"])
    if measured is None:  # --cprofile
        return
    report = assemble(measured, ref, facts, tag, customers, base)
    text = markdown(report)
    (OUT / f"postgres_{tag}.json").write_text(json.dumps(report, indent=1) + "\n")
    (OUT / f"postgres_{tag}.md").write_text(text)
    print(text)
    checks_ = report["checks"]
    if not (checks_["sums_equal"] and checks_["digests_equal"]):
        raise SystemExit("contenders disagree: " + "; ".join(checks_["disagree"])
                         + f"; reference {ref}")


def measure(args, base: Path, n_lines: int) -> dict | None:
    """Start the server, load the tables and run every contender's child."""
    sys.path.insert(0, str(REPO))
    from tests.pgserver import PgServer

    with tempfile.TemporaryDirectory(prefix="bench-pg-") as tmp, PgServer() as server:
        print(f"loading {n_lines:,} lines into PostgreSQL...", file=sys.stderr)
        load_s = load_tables(server, base)
        folder = Path(tmp)
        spec = folder / "spec.json"
        spec.write_text(json.dumps({"uri": server.uri("bg_reader"), "server_pid": server.pid,
                                    "projects": write_projects(folder, server, base)}))
        spec.chmod(0o600)
        version = server.query("SELECT current_setting('server_version')").column(0)[0].as_py()
        table_mb = server.query(f"SELECT pg_table_size('{TABLES['full']}')"
                                ).column(0)[0].as_py() / 2**20
        if args.cprofile:
            run_child(args, spec, args.cprofile, "full", extra=("--child-cprofile",))
            return None
        res: dict = {}
        race: list[dict] = []
        peers = {}
        race_size = "full" if args.all_variants else "quarter"
        for family, variants in PEER_FAMILIES.items():
            if args.all_variants:  # each in its own child, with its own peak RSS
                tried = [run_child(args, spec, v, race_size) for v in variants]
            else:
                tried = run_child(args, spec, f"race:{family}", race_size)
            race += tried
            peers[family] = min(tried, key=lambda r: r["seconds"])["name"]
            if args.all_variants:
                res.update({r["name"]: r for r in tried})
            else:
                res[peers[family]] = run_child(args, spec, peers[family], "full")
        for name in ("bg-postgres", "bg-parquet", "adbc", *EXTRAS):
            res[name] = run_child(args, spec, name, "full")
        quarter = {name: run_child(args, spec, name, "quarter")
                   for name in ("bg-postgres", "bg-parquet")}
    return {"results": res, "race": race, "race_size": race_size, "peers": peers,
            "quarter": quarter, "fingerprint": res["bg-postgres"].pop("fingerprint"),
            "load_s": load_s,
            "server_version": version, "table_mb": round(table_mb, 1)}


def assemble(measured: dict, ref: dict, facts: dict, tag: str, customers: int,
             base: Path) -> dict:
    """The report: results, checks against the Parquet file, memory, ratios."""
    res, quarter, peers = measured["results"], measured["quarter"], measured["peers"]
    keys = ("rows", "sum_customer", "sum_quantity")
    every = [*res.values(), *measured["race"], *quarter.values()]
    disagree = [f"{r['name']} ({r['size']}): {[r[k] for k in keys]}" for r in every
                if {k: r[k] for k in keys} != {k: ref[r["size"]][k] for k in keys}]
    digests_equal = (res["bg-postgres"]["digest"] == res["bg-parquet"]["digest"] and
                     quarter["bg-postgres"]["digest"] == quarter["bg-parquet"]["digest"])
    pg = res["bg-postgres"]
    memory = []
    for r in (pg, quarter["bg-postgres"], res["bg-parquet"], quarter["bg-parquet"]):
        row = {k: r[k] for k in ("name", "rows", "histories_mb", "peak_rss_mb", "rss_before_mb")}
        row["peak_minus_histories_mb"] = r["peak_rss_mb"] - r["histories_mb"]
        row["working_mb"] = r["peak_rss_mb"] - r["rss_before_mb"] - r["histories_mb"]
        if r["name"] == "bg-postgres":
            other = res["bg-parquet"] if r is pg else quarter["bg-parquet"]
            row["pg_minus_parquet_mb"] = r["peak_rss_mb"] - other["peak_rss_mb"]
        memory.append(row)
    small = {r["name"]: r for r in memory[1::2]}
    growth = {r["name"]: (r["peak_minus_histories_mb"] - small[r["name"]][
        "peak_minus_histories_mb"]) * 2**20 / (r["rows"] - small[r["name"]]["rows"])
        for r in memory[0::2]}
    return {
        "profile": tag, "lines": ref["full"]["rows"], "customers": customers,
        "quarter_lines": ref["quarter"]["rows"], "machine": facts,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "parquet_mb": round(data_path(base, "").stat().st_size / 2**20, 1),
        "code": code_state(),
        **measured, "memory": memory, "memory_growth": growth,
        "ratios": {"vs_pandas": res[peers["pandas"]]["seconds"] / pg["seconds"],
                   "vs_psycopg_copy": res[peers["psycopg"]]["seconds"] / pg["seconds"],
                   "pg_over_parquet": pg["seconds"] / res["bg-parquet"]["seconds"],
                   "pg_over_adbc": pg["seconds"] / res["adbc"]["seconds"]},
        "checks": {"digests_equal": digests_equal, "sums_equal": not disagree,
                   "disagree": disagree, "reference": ref},
    }


if __name__ == "__main__":
    main()
