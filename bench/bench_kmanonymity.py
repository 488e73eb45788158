"""Benchmark: k^m-anonymity violations (k = 5, m = 2) on a basket file, side by side.

Contenders, in one process, on the same parsed transactions in the same run:

- ``basketguard``: :func:`~basketguard.engine.reid.kmanonymity.km_anonymity` from the
  raw CSR (normalize, inverted index, single items, the per-item pair pass);
  it also counts the affected transactions and item involvement.
- ``pyfim``: Borgelt's FP-growth (``fim.fpgrowth``, C) enumerating every
  itemset of 1..m items with absolute support >= 1, then counting those with
  support < k. Skipped with a message when pyfim is not installed
  (``pip install pyfim``; it builds from source).
- ``duckdb``: a self-join of (transaction, item) on the transaction with
  ``a.item < b.item``, grouped by pair, ``HAVING count(*) < k`` (m = 2 only).

Every contender's violation counts per size must be equal; the script exits
non-zero otherwise. Each contender runs once to warm up (JIT, imports), then
reports its median of ``--repeat`` (and the best).

Usage::

    python bench/bench_kmanonymity.py                   # retail.dat, k = 5, m = 2
    python bench/bench_kmanonymity.py --profile smoke   # groceries.csv
    python bench/bench_kmanonymity.py --profile large   # BMS-WebView-2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from machine import machine_facts

from basketguard.engine.histories.transactions import Transactions, read_transactions
from basketguard.engine.reid.kmanonymity import km_anonymity

HERE = Path(__file__).resolve().parent
DATASETS = HERE.parent.parent / "shared" / "datasets"
PROFILES = {"smoke": "groceries.csv", "default": "retail.dat.gz",
            "large": "bms_webview2.txt.gz"}


def run_basketguard(tx: Transactions, k: int, m: int) -> tuple[list[int], dict]:
    fresh = Transactions.from_csr(tx.offsets, tx.items, tx.item_names, tx.unit)
    result = km_anonymity(fresh, k, m)
    return list(result.n_violating), {"affected": result.n_affected}


def run_pyfim(lists: list[list[int]], k: int, m: int) -> tuple[list[int], dict]:
    import fim

    t0 = time.perf_counter()
    found = fim.fpgrowth(lists, target="s", supp=-1, zmin=1, zmax=m, report="a")
    enum_s = time.perf_counter() - t0
    by_size = [0] * m
    for itemset, support in found:
        if support < k:
            by_size[len(itemset) - 1] += 1
    return by_size, {"itemsets_enumerated": len(found), "fpgrowth_only_s": round(enum_s, 3)}


def run_duckdb(tx: Transactions, k: int, m: int) -> tuple[list[int], dict]:
    import duckdb

    if m != 2:
        raise ValueError("the DuckDB contender covers m = 2 only")
    tid = np.repeat(np.arange(tx.n_transactions, dtype=np.int32), np.diff(tx.offsets))
    con = duckdb.connect()
    con.register("t_np", {"t": tid, "i": tx.items})
    con.execute("CREATE TEMP TABLE t AS SELECT DISTINCT t, i FROM t_np")
    singles = con.execute(
        "SELECT count(*) FROM (SELECT i FROM t GROUP BY i HAVING count(*) < ?)", [k]
    ).fetchone()[0]
    pairs = con.execute(
        "SELECT count(*) FROM (SELECT a.i, b.i FROM t a JOIN t b ON a.t = b.t AND a.i < b.i "
        "GROUP BY a.i, b.i HAVING count(*) < ?)", [k]
    ).fetchone()[0]
    con.close()
    return [int(singles), int(pairs)], {}


def timed(fn, repeat: int, *args) -> tuple[float, list[int], dict]:
    """Median seconds of ``repeat`` runs after a warm-up, the result, and extras
    (with every time and the best)."""
    fn(*args)  # warm-up: JIT, imports, caches
    times, out, extra = [], None, {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        out, extra = fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out, {**extra, "best_s": round(min(times), 5),
                                          "times": [round(t, 5) for t in times]}


def machine() -> dict:
    facts = machine_facts()
    try:
        import fim

        facts["pyfim"] = getattr(fim, "__version__", None) or fim.__doc__.split("version")[1] \
            .split()[0]
    except ImportError:
        facts["pyfim"] = None
    return facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--data", type=Path, help="a basket file (overrides --profile)")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("-m", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    ap.add_argument("--only", nargs="*", choices=("basketguard", "pyfim", "duckdb"),
                    default=["basketguard", "pyfim", "duckdb"])
    args = ap.parse_args()
    data = args.data or DATASETS / PROFILES[args.profile]
    if not data.exists():
        raise SystemExit(f"{data}: not found (the shared datasets folder is needed)")
    t0 = time.perf_counter()
    tx = read_transactions(data)
    read_s = time.perf_counter() - t0
    lists = [row.tolist() for row in np.split(tx.items, tx.offsets[1:-1])] \
        if tx.n_transactions else []
    print(json.dumps({"machine": machine(), "data": data.name,
                      "transactions": tx.n_transactions, "items": tx.n_items,
                      "item_occurrences": int(tx.offsets[-1]), "k": args.k, "m": args.m,
                      "read_s": round(read_s, 3)}, indent=1))

    results = {}
    for name in args.only:
        if name == "pyfim":
            try:
                import fim  # noqa: F401
            except ImportError:
                print("pyfim: not installed, skipped (pip install pyfim)", file=sys.stderr)
                continue
            results[name] = timed(run_pyfim, args.repeat, lists, args.k, args.m)
        elif name == "duckdb":
            if args.m != 2:
                print("duckdb: m != 2, skipped", file=sys.stderr)
                continue
            results[name] = timed(run_duckdb, args.repeat, tx, args.k, args.m)
        else:
            results[name] = timed(run_basketguard, args.repeat, tx, args.k, args.m)

    base = results.get("basketguard")
    print(f"\n{'contender':<12} {'seconds':>8} {'vs bg':>7}  violating itemsets by size")
    for name, (sec, by_size, extra) in results.items():
        ratio = f"{sec / base[0]:.1f}x" if base else ""
        more = "  " + json.dumps(extra) if extra else ""
        print(f"{name:<12} {sec:8.3f} {ratio:>7}  {by_size}{more}")
    counts = {tuple(r[1]) for r in results.values()}
    print("results identical across contenders:", len(counts) == 1)
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine(), "data": data.name, "transactions": tx.n_transactions,
            "k": args.k, "m": args.m, "agree": len(counts) == 1,
            "results": [{"name": name, "seconds": sec, "violations": by_size, **extra}
                        for name, (sec, by_size, extra) in results.items()]},
            indent=1) + "\n")
    if len(counts) > 1:
        raise SystemExit("contenders disagree: " + ", ".join(
            f"{n}={r[1]}" for n, r in results.items()))


if __name__ == "__main__":
    main()
