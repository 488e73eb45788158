"""Resolving the signature library against a large names-only catalog.

The catalog is the Instacart product names (49,688 real US grocery products),
repeated with a pack-size suffix up to ``--items`` rows and with no taxonomy
(the hardest case: every concept must be found by its name patterns). Timed,
median of ``--repeat`` runs after one warm-up:

- ``library, first call in the process``: one run, cold (every pattern is
  analysed once for the literal prefilter, then cached);
- ``library, first call, pattern analysis cached``: the same with the analysis
  read from the cache folder, as the first scan of a new catalog does once any
  catalog was resolved with these concepts;
- ``concepts``: the catalog resolved to every built-in concept;
- ``library``: the whole built-in library compiled against the catalog
  (concepts, then every feature, the kernel tables), as a scan does it;
- ``cached``: the same with the concept resolution read from the cache;
- with ``--signatures DIR``: that library compiled the same way (e.g. an older
  library written with per-feature patterns, for comparison).

Usage::

    python bench/bench_concepts.py [--items 100000] [--repeat 5] [--signatures DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "datasets" / "instacart_products.csv.gz"


def catalog(n_items: int) -> pa.Table:
    names = pacsv.read_csv(DATA).column("product_name").combine_chunks()
    parts, k = [], 0
    while sum(len(p) for p in parts) < n_items:
        parts.append(names if k == 0 else pc.binary_join_element_wise(
            names, pa.scalar(f"{k + 1}pk"), " "))
        k += 1
    all_names = pa.concat_arrays(parts)[:n_items]
    return pa.table({"item": pa.array(range(n_items), pa.int64()), "name": all_names})


def first_time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--signatures", metavar="DIR",
                    help="also time this signature folder (built-in library left out)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "bench"))
    from machine import machine_facts

    from basketguard.engine.detect.compile import catalog_view, resolve
    from basketguard.engine.detect.concepts import resolve_cached, resolve_concepts
    from basketguard.models.signatures.schema import load_library
    from basketguard.models.vocabulary.schema import load_vocabulary

    cat = catalog(args.items)
    ids = cat.column("item").combine_chunks()
    view = catalog_view(cat, ids, [])
    vocab = load_vocabulary()
    lib = load_library()
    rows = {}

    def library():
        ct = resolve_concepts(vocab, view.names, {}, view.n_rows)
        return resolve(lib, view, ids, True, ct)

    # the first call of a process also analyses every pattern once (the prefilter's cache)
    rows["library, first call in the process"] = first_time(library)
    from basketguard.engine.detect import prefilter

    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "analysis.json"
        prefilter.save_requirements(saved, [p for c in vocab.concepts for p in c.names])
        prefilter._KNOWN.clear()
        prefilter.analyse.cache_clear()

        def fresh():
            prefilter.load_requirements(saved)  # what a new catalog's first scan reads
            return library()

        rows["library, first call, pattern analysis cached"] = first_time(fresh)
    rows["concepts"] = median_time(lambda: resolve_concepts(vocab, view.names, {}, view.n_rows),
                                   args.repeat)

    rows["library"] = median_time(library, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        def cached():
            ct, _ = resolve_cached(vocab, view.names, {}, view.n_rows, cache_dir=Path(tmp))
            return resolve(lib, view, ids, True, ct)

        rows["cached"] = median_time(cached, args.repeat)
    if args.signatures:
        # read as built-in files: their level names are not this catalog's
        other = tuple(replace(s, builtin=True)
                      for s in load_library([args.signatures], builtin=False))
        rows[f"library {args.signatures}"] = median_time(
            lambda: resolve(other, view, ids, True), args.repeat)
    members = resolve_concepts(vocab, view.names, {}, view.n_rows)
    print(f"# {args.items:,} names-only items, {len(vocab.concepts)} concepts, "
          f"{sum(len(s.features) for s in lib)} features; "
          f"{sum(int(v.size) for v in members.rows.values()):,} item-concept matches")
    print(f"# {machine_facts()}")
    for k, v in rows.items():
        print(f"{k:<40} {v:8.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
