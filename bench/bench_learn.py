"""Throughput of learning: features, proxy statistics, training and scoring.

Workloads (targets of the learned-detector issue, on this 2-core machine):

- **features**: the feature matrix of 100 groups x 8 statistics for every
  customer (``engine.detect.features.feature_matrix``); target < 30 s for 1M
  customers over 100M lines;
- **proxy statistics**: one support pass over every candidate group (each item,
  concept and taxonomy node) among positives and negatives, then Fisher exact
  p-values, Benjamini-Hochberg q-values and mutual information
  (``support`` + ``proxystats.association``); target < 5 s for 50k items x 1M
  customers. The peer is DuckDB counting the same distinct (group, customer)
  pairs per class from the same arrays (a join of lines to the item->group
  table, then ``count(DISTINCT customer)`` per group and class);
- **training**: ``learn`` end to end (support, in-fold column choice, 5-fold
  cross-validation, calibration, the final booster, proxies and the generated
  signature) on 200k customers; target < 60 s;
- **scoring**: a saved detector loaded back and scored on every customer
  (``score_learned``: groups rebuilt, features, the forest kernel); target < 5 s
  for 1M customers;
- **margins**: the forest kernel alone (``kernels.trees.predict_raw`` through
  ``LearnedDetector.score``) against LightGBM's ``Booster.predict(raw_score=True)``
  on the same feature rows, given the faster of a CSR matrix and a dense float32
  array; the margins must be equal, bit for bit.

The population is the simulator's ``hard`` profile (about 100 lines a customer
a year) with ``--items`` catalog items, generated once under ``--data``
(generation is not timed); labels are its planted pregnancies.

Usage::

    python bench/bench_learn.py                      # 1M customers, 50k items
    python bench/bench_learn.py --profile smoke      # 20k customers, quick
    python bench/bench_learn.py --customers 100000 --train-customers 50000 --items 5000
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see engine/cli/main.py

import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import machine_facts  # noqa: E402

from basketguard.engine.api import load_histories  # noqa: E402
from basketguard.engine.config.project import load_project  # noqa: E402
from basketguard.engine.detect import proxystats  # noqa: E402
from basketguard.engine.detect.features import (  # noqa: E402
    FeatureSpec,
    feature_matrix,
    groups_from_keys,
    select_groups,
    support,
)
from basketguard.engine.detect.labels import Target  # noqa: E402
from basketguard.engine.detect.learn import (  # noqa: E402
    LearnOptions,
    learn,
    learning_context,
    load_detector,
    score_learned,
)
from basketguard.models.simulator.run import SimConfig, simulate  # noqa: E402


def timed(fn, repeat: int = 3):
    """Median seconds of ``repeat`` calls and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def pregnancy_target(hist, project_dir: Path) -> Target:
    truth = pq.read_table(project_dir / "truth.parquet")
    mask = np.asarray(truth.column("event").to_pylist(), object) == "pregnancy"
    pos = truth.column("customer_id").to_numpy()[mask]
    ids = np.asarray(hist.customer_ids.to_numpy(zero_copy_only=False))
    label = np.isin(ids, pos).astype(np.int8)
    last = int(hist.day.max())
    return Target("labels", label, np.full(hist.n_customers, last, np.int32),
                  np.zeros(hist.n_items, np.uint8), "simulator truth (pregnancy)")


def duckdb_support(hist, groups, label: np.ndarray):
    """The peer: distinct customers per (group, class) in DuckDB, on tables loaded first.

    Returns a function running the query (timed) and giving the same (2, G) counts.
    """
    import duckdb

    cust = np.repeat(np.arange(hist.n_customers, dtype=np.int32), np.diff(hist.offsets))
    lines = pa.table({"c": cust, "i": hist.item, "y": label[cust]})
    gi = np.repeat(np.arange(groups.item_offsets.size - 1, dtype=np.int32),
                   np.diff(groups.item_offsets))
    ig = pa.table({"i": gi, "g": groups.item_groups})
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    for name, table in (("lines", lines), ("ig", ig)):
        con.register("arrow_in", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow_in")
        con.unregister("arrow_in")

    def run() -> np.ndarray:
        got = con.execute("""
            SELECT g, y, count(*) AS n FROM (
                SELECT DISTINCT ig.g, lines.c, lines.y FROM lines JOIN ig USING (i)
            ) GROUP BY g, y""").fetchnumpy()
        out = np.zeros((2, groups.n_groups), np.int64)
        out[got["y"].astype(np.int64), got["g"].astype(np.int64)] = got["n"]
        return out

    return run


#: (customers, training customers, catalog items); ``large`` is the issue's size
PROFILES = {"smoke": (20_000, 10_000, 2_000), "default": (200_000, 50_000, 20_000),
            "large": (1_000_000, 200_000, 50_000)}


def scored_features(det, hist, ctx):
    """The feature rows ``score_learned`` gives the detector (groups rebuilt by key)."""
    meta = det.feature_spec_
    groups, _ = groups_from_keys(list(meta["groups"]), ctx.view, hist.item_ids, ctx.concepts)
    ref = np.full(hist.n_customers, int(hist.day.max()), np.int32)
    return feature_matrix(hist, groups, ref, np.zeros(hist.n_items, np.uint8),
                          FeatureSpec.from_dict(meta["spec"]).windows)


def lightgbm_margins(det, X):
    """The peer of the forest kernel: LightGBM's own ``predict(raw_score=True)``.

    Returns a function for the faster of the two inputs a LightGBM user would
    pass: the CSR matrix as it is, or a dense float32 array (built before
    timing; only when it takes under 2 GiB), and the name of that input.
    """
    threads = det.num_threads

    def csr():
        return np.asarray(det.booster_.predict(X, raw_score=True, num_threads=threads))

    options = {"csr": csr}
    if X.shape[0] * X.shape[1] * 4 < 2 * 2**30:
        dense = X.astype(np.float32).toarray()
        # LightGBM reads a sparse matrix's absent entries as 0.0, a dense NaN as missing
        options["dense"] = lambda: np.asarray(det.booster_.predict(
            dense, raw_score=True, num_threads=threads))
    times = {}
    for name, fn in options.items():
        fn()  # warm-up
        times[name] = timed(fn, repeat=1)[0]
    best = min(times, key=times.get)
    return options[best], best, times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=PROFILES,
                    help="customers, training customers and items together (overrides them)")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--train-customers", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=Path("/tmp/basketguard-bench-learn"))
    ap.add_argument("--no-peer", action="store_true", help="skip the DuckDB peer")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    if args.profile:
        args.customers, args.train_customers, args.items = PROFILES[args.profile]
    folder = args.data / f"hard-{args.customers}-{args.items}-seed{args.seed}"
    if not (folder / "project.toml").exists():
        print(f"generating {args.customers:,} customers ...", file=sys.stderr)
        simulate(SimConfig(customers=args.customers, seed=args.seed, items=args.items), folder)
    project = load_project(folder / "project.toml")
    hist = load_histories(project, cache_dir=args.data / "cache")
    print(f"{hist.n_customers:,} customers, {hist.n_lines:,} lines, {hist.n_items:,} items",
          file=sys.stderr)
    ctx = learning_context(project, hist)
    target = pregnancy_target(hist, folder)
    figures: dict = {"customers": hist.n_customers, "lines": hist.n_lines,
                     "items": hist.n_items, "candidate_groups": ctx.candidates.n_groups,
                     "positives": target.n_pos}

    # proxy statistics: support over every candidate group, then the statistics
    support(hist, ctx.candidates, target.label, target.ref, target.drop)  # JIT warm-up

    def proxy_stats():
        c = support(hist, ctx.candidates, target.label, target.ref, target.drop)
        return c, proxystats.association(c[1], c[0], target.n_pos, target.n_neg)

    sec, (counts, _) = timed(proxy_stats)
    figures["proxy_statistics_s"] = sec
    s_sup, _ = timed(lambda: support(hist, ctx.candidates, target.label, target.ref,
                                     target.drop))
    figures["support_pass_s"] = s_sup
    if not args.no_peer:
        run = duckdb_support(hist, ctx.candidates, target.label)
        sec, peer = timed(run, repeat=1)
        figures["duckdb_support_s"] = sec
        figures["duckdb_equal"] = bool(np.array_equal(peer, counts))
        figures["support_ratio_duckdb"] = sec / s_sup
        del run

    # features of 100 groups for every customer
    spec = FeatureSpec()
    groups = select_groups(ctx.candidates, counts, spec, target.n_pos, target.n_neg)
    feature_matrix(hist.subset(np.arange(min(1000, hist.n_customers))), groups,
                   target.ref[:1000], target.drop, spec.windows)  # JIT warm-up
    sec, X = timed(lambda: feature_matrix(hist, groups, target.ref, target.drop,
                                          spec.windows))
    figures["features_s"] = sec
    figures["feature_entries"] = int(X.nnz)
    del X

    # training on a subset of customers
    n_train = min(args.train_customers, hist.n_customers)
    sub = hist.subset(np.arange(n_train))
    sub.info = dict(hist.info)
    tsub = Target("labels", target.label[:n_train].copy(), target.ref[:n_train].copy(),
                  target.drop, target.source)
    opts = LearnOptions(name="pregnancy_bench", title="pregnancy", sensitivity="reproductive",
                        threads=2)
    t = time.perf_counter()
    res = learn(sub, ctx, tsub, opts)
    figures["train_s"] = time.perf_counter() - t
    figures["train_customers"] = n_train
    figures["train_stages_s"] = {k: round(v, 3) for k, v in res.seconds.items()}
    figures["cv_roc_auc"] = res.detector.metrics_["roc_auc"]["value"]
    model_dir = res.save(args.data / "models" / "pregnancy_bench", replace=True)

    # scoring every customer with the saved detector
    det = load_detector(model_dir)
    score_learned(det, sub, ctx.view, ctx.concepts)  # warm-up

    def score():
        return score_learned(load_detector(model_dir), hist, ctx.view, ctx.concepts)

    sec, scored = timed(score)
    figures["score_s"] = sec

    # the forest kernel alone against LightGBM's predict, on the same feature rows
    det = load_detector(model_dir)
    X = scored_features(det, hist, ctx)
    det.score(X[:1000])  # warm-up: JIT, the forest read from the model text
    sec, ours = timed(lambda: det.score(X))
    peer, peer_input, peer_times = lightgbm_margins(det, X)
    peer_s, theirs = timed(peer)
    figures["margins"] = {"rows": X.shape[0], "features": X.shape[1],
                          "trees": det.booster_.num_trees(), "basketguard_s": sec,
                          "lightgbm_s": peer_s, "lightgbm_input": peer_input,
                          "lightgbm_first_s": peer_times,
                          "equal": bool(np.array_equal(ours, theirs))}
    figures["machine"] = machine_facts("lightgbm")
    lps = hist.n_lines / figures["features_s"]
    print(json.dumps(figures, indent=2))
    print(f"features: {figures['features_s']:.2f} s ({lps / 1e6:.1f}M lines/s); proxy "
          f"statistics: {figures['proxy_statistics_s']:.2f} s (support pass "
          f"{figures['support_pass_s']:.2f} s; DuckDB "
          f"{figures.get('duckdb_support_s', float('nan')):.2f} s); training on "
          f"{n_train:,}: {figures['train_s']:.1f} s; scoring {hist.n_customers:,}: "
          f"{figures['score_s']:.2f} s; margins of {X.shape[0]:,} rows "
          f"{figures['margins']['basketguard_s']:.3f} s against LightGBM predict "
          f"({peer_input}) {figures['margins']['lightgbm_s']:.3f} s, equal: "
          f"{figures['margins']['equal']}", file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
