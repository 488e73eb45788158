"""Benchmark: purchase unicity of a segment against the whole base, side by side.

Contenders, each in its own subprocess, on the same population in the same run:

- ``basketguard``: build the point -> customers index from the histories arrays
  (CSR + bitmaps), the members' points, the draws and the galloping,
  early-stopping intersections (``build_point_index`` + ``unicity_counts``).
- ``duckdb``: a rarest-first semi-join formulation in SQL on the same lines
  (customer, item, day) and the same known points per (member, draw): distinct
  (customer, point) pairs, point frequencies, the rarest known point of each
  draw, its holders as candidates, semi-joined against the other known points;
  a draw is unique when no candidate other than the member holds all ``p``.

The known points come from basketguard's draws (``kernels.unicity.known_points``,
computed before the contenders and not timed), so the two must agree exactly on
which (member, draw) pairs are unique at ``p``; a digest is compared. Each
child warms up first (JIT, DuckDB's first query), then reports the median
(and the best) of ``--repeat`` timings. Times exclude loading the lines (both
get them in memory).

Population (as bench_histories' log): ``lines / 20`` customers with Pareto
activity, 50,000 items with Zipf(1.1) popularity, uniform times over 2023.

Usage::

    python bench/bench_unicity.py                       # 1M customers, 20M lines, 100k members
    python bench/bench_unicity.py --profile smoke       # 2M lines, quick
    python bench/bench_unicity.py --points items item-day --draws 1
    python bench/bench_unicity.py --online-retail       # docs table (needs ../shared)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from machine import machine_facts

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
#: (lines, members)
PROFILES = {"smoke": (2_000_000, 10_000), "default": (20_000_000, 100_000),
            "large": (50_000_000, 250_000)}
CONTENDERS = ("basketguard", "duckdb")


# --------------------------------------------------------------------------- data
def generate(path: Path, n_lines: int, n_members: int, seed: int = 1) -> None:
    """Customer-sorted lines (offsets, item, day) and a random member sample."""
    rng = np.random.default_rng(seed)
    n_cust = max(1, n_lines // 20)
    n_items = 50_000
    activity = rng.pareto(1.5, n_cust) + 1.0
    cust = rng.choice(n_cust, size=n_lines, p=activity / activity.sum())
    item_pop = 1.0 / np.arange(1, n_items + 1) ** 1.1
    item = rng.choice(n_items, size=n_lines, p=item_pop / item_pop.sum()).astype(np.int32)
    day = (19_358 + rng.integers(0, 365, n_lines)).astype(np.int32)  # 2023
    order = np.lexsort((day, cust))
    offsets = np.zeros(n_cust + 1, np.int64)
    np.cumsum(np.bincount(cust, minlength=n_cust), out=offsets[1:])
    members = np.sort(rng.choice(n_cust, size=min(n_members, n_cust), replace=False))
    np.savez(path, offsets=offsets, item=item[order], day=day[order], n_items=n_items,
             members=members.astype(np.int64))


def histories(data: dict):
    import pyarrow as pa

    from basketguard.engine.histories.build import Histories

    n = data["offsets"].shape[0] - 1
    return Histories(offsets=data["offsets"], item=data["item"], day=data["day"],
                     basket=np.zeros(0, np.int32), customer_ids=pa.array(np.arange(n)),
                     item_ids=pa.array(np.arange(int(data["n_items"]))))


def prepare_known(path: Path, data: dict, points: str, p: int, draws: int, seed: int) -> None:
    """The draws' known points as keys, for the peer (basketguard's own draws)."""
    from basketguard.engine.reid.unicity import build_point_index
    from basketguard.kernels.unicity import known_points, member_points

    hist = histories(data)
    index = build_point_index(hist, points)
    members = data["members"]
    mp_off, mp_code = member_points(hist.offsets, hist.item, hist.day, members, index.arrays)
    known = known_points(members, mp_off, mp_code, p, draws, seed)
    full = (known >= 0).all(axis=2)  # members with at least p points
    m_idx, d_idx = np.nonzero(full)
    keys = index.arrays.point_key[known[m_idx, d_idx]]  # (pairs, p)
    np.savez(path, m=members[m_idx], d=d_idx.astype(np.int32), keys=keys,
             bucket_min=index.arrays.bucket_min, n_buckets=index.arrays.n_buckets)


def digest(unique_pairs: np.ndarray, eligible_pairs: int) -> str:
    """Digest of the sorted (member, draw) pairs unique at p."""
    pairs = np.unique(np.asarray(unique_pairs, np.int64).reshape(-1, 2), axis=0)
    return hashlib.sha256(pairs.tobytes() + str(eligible_pairs).encode()).hexdigest()[:16]


# ------------------------------------------------------------------- contenders
def run_basketguard(data: dict, known: dict, points: str, p: int, draws: int, seed: int):
    from basketguard.engine.reid.unicity import build_point_index, unicity_counts

    hist = histories(data)
    t0 = time.perf_counter()
    index = build_point_index(hist, points)
    t1 = time.perf_counter()
    counts, arrays = unicity_counts(hist, data["members"], index, p_max=p, draws=draws,
                                    seed=seed)
    t2 = time.perf_counter()
    s = arrays["smallest"]
    ok = (arrays["n_points"] >= p)[:, None] & (s != 0) & (s <= p)
    m_idx, d_idx = np.nonzero(ok)
    pairs = np.stack([arrays["members"][m_idx], d_idx], axis=1)
    return pairs, int(counts.eligible[p - 1]) * draws, {
        "index_s": round(t1 - t0, 4), "query_s": round(t2 - t1, 4),
        "index_points": index.n_points, "dense_points": int(index.arrays.bitmaps.shape[0]),
        "unicity": round(int(counts.unique[p - 1]) / max(1, int(counts.eligible[p - 1]) * draws),
                         4)}


def run_duckdb(data: dict, known: dict, points: str, p: int, draws: int, seed: int, con=None):
    import duckdb
    import pyarrow as pa

    if con is None:
        con = duckdb.connect()
        n = data["offsets"].shape[0] - 1
        cust = np.repeat(np.arange(n, dtype=np.int32), np.diff(data["offsets"]))
        con.register("lines_arrow", pa.table({"c": cust, "item": data["item"],
                                              "day": data["day"]}))
        con.execute("CREATE TABLE lines AS SELECT * FROM lines_arrow")
        kt = pa.table({"m": known["m"], "d": known["d"],
                       **{f"k{j}": known["keys"][:, j] for j in range(p)}})
        con.register("known_arrow", kt)
        con.execute("CREATE TABLE known_wide AS SELECT * FROM known_arrow")
        con.execute("CREATE TABLE known AS " + " UNION ALL ".join(
            f"SELECT m, d, {j} AS j, k{j} AS key FROM known_wide" for j in range(p)))
        return con
    nb, bmin = int(known["n_buckets"]), int(known["bucket_min"])
    unit = {"items": None, "item-day": "day"}[points]
    key = "item::BIGINT" if unit is None else f"item::BIGINT * {nb} + (day - {bmin})"
    res = con.sql(f"""
        WITH pts AS (SELECT DISTINCT c, {key} AS key FROM lines),
        freq AS (SELECT key, count(*) AS n FROM pts GROUP BY key),
        rare AS (SELECT k.m, k.d, arg_min(k.key, f.n) AS rkey
                 FROM known k JOIN freq f USING (key) GROUP BY k.m, k.d),
        cand AS (SELECT r.m, r.d, pts.c FROM rare r JOIN pts ON pts.key = r.rkey
                 WHERE pts.c <> r.m),
        hits AS (SELECT cand.m, cand.d FROM cand
                 JOIN known k ON k.m = cand.m AND k.d = cand.d
                 SEMI JOIN pts ON pts.c = cand.c AND pts.key = k.key
                 GROUP BY cand.m, cand.d, cand.c HAVING count(*) = {p})
        SELECT k.m, k.d FROM known_wide k ANTI JOIN hits h ON h.m = k.m AND h.d = k.d
    """).fetchnumpy()
    pairs = np.stack([np.asarray(res["m"], np.int64), np.asarray(res["d"], np.int64)], axis=1)
    return pairs, int(known["m"].shape[0]), {}


def child(name: str, data_path: Path, known_path: Path, points: str, p: int, draws: int,
          seed: int, repeat: int) -> None:
    data = dict(np.load(data_path))
    known = dict(np.load(known_path))
    if name == "duckdb":
        con = run_duckdb(data, known, points, p, draws, seed)
        run = lambda: run_duckdb(data, known, points, p, draws, seed, con=con)  # noqa: E731
    else:
        run = lambda: run_basketguard(data, known, points, p, draws, seed)  # noqa: E731
    if name == "basketguard":
        run()  # warm-up: JIT and first touch of memory (DuckDB warms up on table creation)
    times, runs = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pairs, eligible, extra = run()
        times.append(time.perf_counter() - t0)
        runs.append(extra)
    # the phases of the median run
    median_extra = runs[int(np.argsort(times)[(len(times) - 1) // 2])]
    print(json.dumps({"name": name, "seconds": float(np.median(times)), "best_s": min(times),
                      "times": [round(t, 4) for t in times], "digest": digest(pairs, eligible),
                      "unique_pairs": int(pairs.shape[0]), "eligible_pairs": eligible,
                      **median_extra}))


# ------------------------------------------------------------------------ main
def machine() -> dict:
    return machine_facts()


def online_retail_table(draws: int, seed: int) -> None:
    """Markdown table of unicity at p = 1..5 on UCI Online Retail (docs/unicity.md)."""
    from basketguard.engine.api import load_histories
    from basketguard.engine.reid.unicity import unicity

    hist = load_histories(HERE.parent / "examples" / "online_retail.toml")
    kinds = ("item-day", "item-month", "items")
    res = {k: unicity(hist, points=k, p_max=5, draws=draws, seed=seed) for k in kinds}
    print(f"{hist.n_customers} customers, {hist.n_lines} lines; every customer is a member; "
          f"{draws} draws per member, seed {seed}; 95% intervals over members.\n")
    print("| p | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for p in range(1, 6):
        cells = []
        for k in kinds:
            e = res[k].unicity[p - 1]
            cells.append(f"{e.value:.1%} [{e.low:.1%}, {e.high:.1%}] "
                         f"(n={int(res[k].counts.eligible[p - 1])})")
        print(f"| {p} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--points", nargs="*", choices=("items", "item-day"),
                    default=["items", "item-day"])
    ap.add_argument("--p", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2015)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--peer-repeat", type=int, default=1,
                    help="timed runs of the peer (DuckDB takes minutes at the default size)")
    ap.add_argument("--only", nargs="*", choices=CONTENDERS, default=list(CONTENDERS))
    ap.add_argument("--online-retail", action="store_true",
                    help="print the Online Retail table of docs/unicity.md and exit")
    ap.add_argument("--json", type=Path, metavar="OUT", help="also write the results here")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.online_retail:
        online_retail_table(draws=10, seed=args.seed)
        return
    if args.child:
        name, data_path, known_path, points = args.child
        child(name, Path(data_path), Path(known_path), points, args.p, args.draws, args.seed,
              args.repeat)
        return
    OUT.mkdir(exist_ok=True)
    n_lines, n_members = PROFILES[args.profile]
    data_path = OUT / f"unicity_{args.profile}.npz"
    if not data_path.exists():
        print(f"generating {data_path.name} ({n_lines:,} lines)...", file=sys.stderr)
        generate(data_path, n_lines, n_members)
    data = dict(np.load(data_path))
    print(json.dumps({"machine": machine(), "customers": int(data["offsets"].shape[0] - 1),
                      "lines": int(data["offsets"][-1]), "members": int(data["members"].size),
                      "p": args.p, "draws": args.draws}, indent=1))
    ok = True
    every = []
    for points in args.points:
        known_path = OUT / f"unicity_{args.profile}_{points}_known.npz"
        prepare_known(known_path, data, points, args.p, args.draws, args.seed)
        results = []
        for name in args.only:
            proc = subprocess.run(
                [sys.executable, __file__, "--p", str(args.p), "--draws", str(args.draws),
                 "--seed", str(args.seed),
                 "--repeat", str(args.repeat if name == "basketguard" else args.peer_repeat),
                 "--child", name, str(data_path), str(known_path), points],
                capture_output=True, text=True, check=False)
            if proc.returncode:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"{name} failed")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        bg = next((r for r in results if r["name"] == "basketguard"), None)
        print(f"\npoints={points} p={args.p} draws={args.draws}")
        print(f"{'contender':<12} {'seconds':>8} {'unique':>9} {'eligible':>9} {'vs bg':>8}")
        for r in results:
            ratio = f"{r['seconds'] / bg['seconds']:.1f}x" if bg else ""
            print(f"{r['name']:<12} {r['seconds']:8.3f} {r['unique_pairs']:9d} "
                  f"{r['eligible_pairs']:9d} {ratio:>8}")
        if bg:
            print(f"basketguard phases: index {bg['index_s']}s ({bg['index_points']:,} points, "
                  f"{bg['dense_points']} bitmaps), members+draws+intersections {bg['query_s']}s, "
                  f"unicity {bg['unicity']:.2%}")
        same = len({r["digest"] for r in results}) == 1
        print("results identical:", same)
        ok &= same
        every += [{**r, "points": points} for r in results]
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine(), "customers": int(data["offsets"].shape[0] - 1),
            "lines": int(data["offsets"][-1]), "members": int(data["members"].size),
            "p": args.p, "draws": args.draws, "results": every, "agree": ok}, indent=1) + "\n")
    if not ok:
        raise SystemExit("contenders disagree")


if __name__ == "__main__":
    main()
