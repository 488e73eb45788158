"""Benchmark: attribute classes (class size of every customer), side by side.

The data is the shopper simulator's customers (7 quasi-identifiers: age band,
income band, postcode prefix, household size, children, marital status,
gender), drawn with ``draw_customers`` only (no basket lines). Every contender
computes, for each customer, the size of its equivalence class over the 7
attributes, in the same process and on the same data, and the results are
compared for equality.

Two inputs, two pairs of contenders:

- **codes**: the attributes as int32 dictionary codes (what the engine holds
  after encoding). ``basketguard`` = ``classify`` + gather of the sizes;
  DuckDB and Polars group by the 7 int32 columns.
- **arrow**: the attributes as an Arrow table of strings and integers (what a
  reader returns). ``basketguard`` = ``encode_attributes`` (pyarrow
  dictionary encoding) + ``classify`` + gather; DuckDB and Polars group by
  the original columns.

Peers: DuckDB ``count(*) OVER (PARTITION BY a1..a7)`` (a hash GROUP BY that
returns one value per row; a row id puts the answer back in input order) and
Polars ``group_by(a1..a7).len()`` joined back to the rows (left join keeps row
order). Each contender is warmed up once (JIT, imports), then the median of
``--repeat`` runs is reported (and the best).

Usage::

    python bench/bench_classes.py                  # 1M customers
    python bench/bench_classes.py --profile smoke  # 100k, quick
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from machine import machine_facts

PROFILES = {"smoke": 100_000, "default": 1_000_000, "large": 10_000_000}
ATTRS = ("age_band", "income_band", "postcode_prefix", "household_size", "children",
         "marital_status", "gender")


def customers_table(n: int, seed: int = 1) -> pa.Table:
    from basketguard.models.simulator.population import (
                AGE_BANDS,
                GENDERS,
                INCOME_BANDS,
                MARITAL,
                POSTCODES,
            )
    from basketguard.models.simulator.run import SimConfig, prepare

    c = prepare(SimConfig(customers=n, seed=seed)).customers(0, n)

    def labels(codes, names):
        return pa.array(np.asarray(names, dtype=object)).take(pa.array(codes.astype(np.int32)))

    return pa.table({
        "customer": pa.array(np.arange(n, dtype=np.int64)),
        "age_band": labels(c.age, AGE_BANDS), "income_band": labels(c.income, INCOME_BANDS),
        "postcode_prefix": labels(c.postcode, POSTCODES),
        "household_size": pa.array(c.household), "children": pa.array(c.children),
        "marital_status": labels(c.marital, MARITAL), "gender": labels(c.gender, GENDERS),
    })


# ------------------------------------------------------------------- contenders
def bg_codes(codes, cards):
    from basketguard.kernels.classes import classify

    cl = classify(codes, cards)
    return cl.sizes[cl.class_of]


def bg_arrow(table):
    from basketguard.engine.reid.attributes import encode_attributes
    from basketguard.kernels.classes import classify

    enc = encode_attributes(table, ATTRS)
    cl = classify(list(enc.codes), list(enc.cards))
    return cl.sizes[cl.class_of]


def duckdb_sizes(table):
    import duckdb

    con = duckdb.connect()
    con.register("t", table)
    cols = ", ".join(c for c in table.column_names if c != "rid")
    res = con.sql(f"SELECT rid, count(*) OVER (PARTITION BY {cols}) AS n FROM t").fetchnumpy()
    out = np.empty(table.num_rows, np.int64)
    out[np.asarray(res["rid"])] = np.asarray(res["n"])
    con.close()
    return out


def polars_sizes(table):
    import polars as pl

    df = pl.from_arrow(table)
    cols = [c for c in df.columns if c != "rid"]
    sizes = df.group_by(cols).len()
    return df.join(sizes, on=cols, how="left", nulls_equal=True)["len"].to_numpy()


def timed(fn, *args, repeat: int):
    """Median seconds of ``repeat`` calls after a warm-up, every time, and the result."""
    fn(*args)  # warm-up
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), times, np.asarray(out, np.int64)


def machine() -> dict:
    return machine_facts()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    args = ap.parse_args()
    n = PROFILES[args.profile]
    table = customers_table(n)
    from basketguard.engine.reid.attributes import encode_attributes

    enc = encode_attributes(table, ATTRS)
    codes, cards = list(enc.codes), list(enc.cards)
    rid = pa.array(np.arange(n, dtype=np.int64))
    raw = table.select(list(ATTRS)).append_column("rid", rid)
    coded = pa.table({**{a: pa.array(c) for a, c in zip(ATTRS, codes, strict=True)},
                      "rid": rid})
    runs = [
        ("codes", "basketguard", bg_codes, (codes, cards)),
        ("codes", "duckdb", duckdb_sizes, (coded,)),
        ("codes", "polars", polars_sizes, (coded,)),
        ("arrow", "basketguard", bg_arrow, (table,)),
        ("arrow", "duckdb", duckdb_sizes, (raw,)),
        ("arrow", "polars", polars_sizes, (raw,)),
    ]
    results, ref = [], None
    for inp, name, fn, fargs in runs:
        sec, times, out = timed(fn, *fargs, repeat=args.repeat)
        ref = out if ref is None else ref
        results.append({"input": inp, "name": name, "seconds": sec, "best_s": min(times),
                        "times": [round(t, 5) for t in times],
                        "equal": bool(np.array_equal(out, ref))})
    facts = {"machine": machine(), "customers": n, "attributes": len(ATTRS),
             "cards": cards, "classes": int(round(float((1.0 / ref).sum())))}
    print(json.dumps(facts, indent=1))
    if args.json:
        args.json.write_text(json.dumps({**facts, "results": results, "agree": all(
            r["equal"] for r in results)}, indent=1) + "\n")
    print(f"\n{'input':<6} {'contender':<12} {'ms':>8} {'Mrows/s':>8} {'vs bg':>7}  equal")
    for r in results:
        bg = next(x for x in results if x["input"] == r["input"] and x["name"] == "basketguard")
        print(f"{r['input']:<6} {r['name']:<12} {r['seconds'] * 1e3:8.1f} "
              f"{n / r['seconds'] / 1e6:8.1f} {r['seconds'] / bg['seconds']:6.1f}x  {r['equal']}")
    if not all(r["equal"] for r in results):
        raise SystemExit("contenders disagree on the class sizes")


if __name__ == "__main__":
    main()
