"""The benchmark suite: every workload beside its peers, in one run, in one report.

Runs each workload's script (``bench/bench_*.py``) in its own process, on the
same data for basketguard and its peers in that run; each script checks that
every contender gives the same result and says so in its JSON. The suite
gathers those into one report:

- ``bench/out/suite-<profile>.json``: every figure, the machine facts (CPU,
  cores, memory, library versions, load before and after) and each script's
  own JSON;
- ``bench/out/suite-<profile>.md``: one table, a row per workload, with the
  peers' times as ratios, the target and whether it is met, and the change
  against the reference figures of ``bench/baseline.json``;
- ``bench/out/suite-<profile>.svg``: the speed-up over the fastest peer of
  each workload (log scale).

With ``--readme`` the table replaces the performance section of ``README.md``
(between ``<!-- bench:begin -->`` and ``<!-- bench:end -->``).

Exit status: 0 when every workload ran and every contender agreed; 1 when a
workload failed or contenders disagreed (its log is in
``bench/out/suite-<profile>/``). Unmet targets are reported, not failed: a
benchmark is a measurement.

Usage::

    python bench/suite.py                        # default profile (~20M lines)
    python bench/suite.py --profile smoke        # every workload, small, a few minutes
    python bench/suite.py --only scan classes    # some workloads
    python bench/suite.py --readme               # and regenerate README's section
    python bench/suite.py --render out.json      # the Markdown and SVG again from a JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
PROFILES = ("smoke", "default", "large")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
#: peers in the order of the table's columns; any other peer goes to "other"
PEER_COLUMNS = ("duckdb", "polars")
PEER_NAMES = {"duckdb": "DuckDB", "polars": "Polars", "pyfim": "pyfim FP-growth",
              "pandas": "pandas.read_sql", "psycopg": "psycopg COPY",
              "lightgbm": "LightGBM predict"}


# ----------------------------------------------------------------------- rows
@dataclasses.dataclass
class Row:
    """One line of the table: basketguard's median seconds and its peers'.

    ``peers`` maps a peer to its median seconds on the same data and the same
    work. ``target`` is the text of the goal, ``met`` whether it is met (None:
    no target). ``baseline_s`` is the reference figure of ``bench/baseline.json``
    (default profile only).
    """

    key: str
    workload: str
    seconds: float
    peers: dict[str, float] = dataclasses.field(default_factory=dict)
    rate: str = ""
    target: str = ""
    met: bool | None = None
    agree: bool | None = None
    note: str = ""
    baseline_s: float | None = None

    def ratio(self, peer: str) -> float:
        """How many times basketguard's time the peer took (> 1: basketguard is faster)."""
        return self.peers[peer] / self.seconds

    def best_peer(self) -> str | None:
        """The fastest peer, or None."""
        return min(self.peers, key=self.peers.get) if self.peers else None


def _by_name(results: list[dict], **match) -> dict[str, dict]:
    return {r["name"]: r for r in results if all(r.get(k) == v for k, v in match.items())}


def _mrate(count: float, seconds: float, unit: str) -> str:
    rate = count / seconds
    if rate >= 1e9:
        return f"{rate / 1e9:.2f}G {unit}/s"
    return f"{rate / 1e6:.1f}M {unit}/s"


def _target(row: Row, *, rate: tuple[float, float] | None = None,
            ratios: dict[str, float] | None = None, max_s: float | None = None) -> Row:
    """Fill the target text and whether it is met: a throughput (count, minimum per
    second), minimum ratios against peers, a maximum number of seconds."""
    parts, ok = [], []
    if rate is not None:
        count, minimum = rate
        parts.append(f">= {minimum / 1e6:g}M/s")
        ok.append(count / row.seconds >= minimum)
    for peer, minimum in (ratios or {}).items():
        parts.append(f">= {minimum:g}x {PEER_NAMES.get(peer, peer)}")
        ok.append(peer in row.peers and row.ratio(peer) >= minimum)
    if max_s is not None:
        parts.append(f"< {max_s:.3g} s")
        ok.append(row.seconds < max_s)
    row.target = ", ".join(parts)
    row.met = all(ok) if ok else None
    return row


def rows_histories(doc: dict) -> list[Row]:
    res = _by_name(doc["results"])
    bg, n = res["basketguard"], doc["lines"]
    row = Row("histories", f"histories build, {n / 1e6:g}M-line {doc['order']}-ordered log, "
              "from Parquet", bg["seconds"],
              {p: res[p]["seconds"] for p in PEER_COLUMNS if p in res},
              _mrate(n, bg["seconds"], "lines"), agree=doc["agree"])
    if "read-only" in res:
        row.note = f"Parquet read alone {res['read-only']['seconds']:.2f} s"
    return [_target(row, rate=(n, 30e6), ratios={"duckdb": 5, "polars": 3})]


def rows_scan(doc: dict) -> list[Row]:
    res = _by_name(doc["results"])
    bg, n = res["basketguard"], doc["lines"]
    row = Row("scan", f"signature scan, {n / 1e6:.1f}M lines, in memory", bg["seconds"],
              {p: res[p]["seconds"] for p in PEER_COLUMNS if p in res},
              _mrate(n, bg["seconds"], "lines"), agree=doc["agree"])
    return [_target(row, rate=(n, 300e6))]


def rows_unicity(doc: dict) -> list[Row]:
    rows = []
    for points in ("item-day", "items"):
        res = _by_name(doc["results"], points=points)
        if "basketguard" not in res:
            continue
        bg = res["basketguard"]
        digests = {r["digest"] for r in res.values()}
        row = Row(f"unicity-{points}", f"unicity, {points} points, p = {doc['p']}, "
                  f"{doc['members'] / 1e3:g}k members vs {doc['customers'] / 1e6:g}M customers",
                  bg["seconds"], {p: res[p]["seconds"] for p in ("duckdb",) if p in res},
                  agree=len(digests) == 1)
        if "index_s" in bg:
            row.note = f"index {bg['index_s']} s"
        if points == "item-day":
            rows.append(_target(row, ratios={"duckdb": 30}, max_s=0.2))
        else:
            rows.append(row)
    return rows


def rows_classes(doc: dict) -> list[Row]:
    rows = []
    for inp, title in (("arrow", "from Arrow strings (encoding included)"),
                       ("codes", "from codes")):
        res = _by_name(doc["results"], input=inp)
        bg = res["basketguard"]
        row = Row(f"classes-{inp}", f"attribute classes, {doc['customers'] / 1e6:g}M x "
                  f"{doc['attributes']}, {title}", bg["seconds"],
                  {p: res[p]["seconds"] for p in PEER_COLUMNS if p in res},
                  _mrate(doc["customers"], bg["seconds"], "rows"),
                  agree=all(r["equal"] for r in res.values()))
        rows.append(_target(row, ratios={"duckdb": 5, "polars": 3}) if inp == "arrow" else row)
    return rows


def rows_kmanonymity(doc: dict) -> list[Row]:
    res = _by_name(doc["results"])
    bg = res["basketguard"]
    row = Row("kmanonymity", f"k^m, {doc['data']}, k = {doc['k']}, m = {doc['m']}",
              bg["seconds"], {p: res[p]["seconds"] for p in ("duckdb", "pyfim") if p in res},
              agree=doc["agree"])
    if "pyfim" not in res:
        row.note = "pyfim not installed (pip install -e '.[bench]')"
    return [row]


def rows_learn(doc: dict) -> list[Row]:
    m = doc["margins"]
    rows = [Row("learn-margins", f"learned detector margins, {m['rows'] / 1e3:g}k customers "
                f"x {m['features']} features, {m['trees']} trees", m["basketguard_s"],
                {"lightgbm": m["lightgbm_s"]}, _mrate(m["rows"], m["basketguard_s"], "rows"),
                agree=m["equal"], note=f"LightGBM given a {m['lightgbm_input']} matrix")]
    row = Row("learn-score", f"learned scoring end to end, {doc['customers'] / 1e3:g}k "
              f"customers, {doc['lines'] / 1e6:.1f}M lines", doc["score_s"],
              rate=_mrate(doc["lines"], doc["score_s"], "lines"),
              note="groups, features and margins; target scaled from < 5 s per 1M customers")
    rows.append(_target(row, max_s=5.0 * doc["customers"] / 1e6))
    if "duckdb_support_s" in doc:
        rows.append(Row("learn-support", f"proxy statistics support pass, "
                        f"{doc['candidate_groups']:,} groups", doc["support_pass_s"],
                        {"duckdb": doc["duckdb_support_s"]}, agree=doc["duckdb_equal"]))
    return rows


def rows_synth(doc: dict) -> list[Row]:
    row = Row("synth", f"simulator, {doc['customers'] / 1e3:g}k customers to Parquet",
              doc["seconds"], rate=_mrate(doc["lines"], doc["seconds"], "lines"),
              note=f"{doc['lines']:,} lines, no natural peer")
    return [row]


def rows_recommend(doc: dict) -> list[Row]:
    rows = []
    for i, r in enumerate(doc["rows"]):
        # no peer to agree with; whether the plan meets the policy is the plan's result
        # (with item-day unicity it does not: unicity binds, docs/mitigation.md)
        row = Row(f"recommend-{i}", f"recommendation, {doc['members'] / 1e3:g}k members of "
                  f"{doc['customers'] / 1e6:g}M customers, {r['policy']}", r["median_s"],
                  note=f"no natural peer; plan verified: {'yes' if r['verified'] else 'no'}, "
                       f"{r['decoys']:,} decoys, {r['suppressed']:,} suppressed")
        rows.append(_target(row, max_s=10.0) if doc["profile"] == "default" else row)
    return rows


def rows_postgres(doc: dict) -> list[Row]:
    res, peers = doc["results"], doc["peers"]
    pg = res["bg-postgres"]
    row = Row("postgres", f"PostgreSQL into histories, {doc['lines'] / 1e6:.1f}M lines",
              pg["seconds"], {"pandas": res[peers["pandas"]]["seconds"],
                              "psycopg": res[peers["psycopg"]]["seconds"]},
              _mrate(doc["lines"], pg["seconds"], "lines"),
              agree=doc["checks"]["sums_equal"] and doc["checks"]["digests_equal"],
              note=f"peers: {peers['pandas']}, {peers['psycopg']}")
    return [_target(row, ratios={"pandas": 5, "psycopg": 1})]


def rows_startup(doc: dict) -> list[Row]:
    rows = []
    for r in doc["results"]:
        key = "startup-" + r["name"].replace(", ", "-").replace(" ", "-").lower()
        rows.append(Row(key, f"start-up: {r['name']} (to first output)", r["first_output_s"],
                        note=f"exit after {r['seconds']:.2f} s"))
    row = Row("cold-jit", "cold JIT compile of the demo's kernels", doc["cold_jit_s"],
              note="demo with an empty Numba cache minus with a warm one")
    rows.append(_target(row, max_s=20.0))
    return rows


# ------------------------------------------------------------------ workloads
def _postgres_missing() -> str | None:
    """Why the PostgreSQL workload cannot run here, or None."""
    try:
        import adbc_driver_postgresql  # noqa: F401
        import pandas  # noqa: F401
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} not installed (pip install -e '.[bench,postgresql]')"
    sys.path.insert(0, str(REPO))
    try:
        from tests.pgserver import PgServer
    finally:
        sys.path.remove(str(REPO))
    if PgServer.find_bin() is None:
        return "no PostgreSQL server binaries (Debian's postgresql package)"
    return None


def _shared_missing() -> str | None:
    folder = REPO.parent / "shared" / "datasets"
    return None if folder.is_dir() else f"{folder} not found"


@dataclasses.dataclass(frozen=True)
class Workload:
    """A bench script, its arguments for a profile, and how to read its JSON."""

    key: str
    script: str
    args: Callable[[str, Path], list[str]]
    rows: Callable[[dict], list[Row]]
    missing: Callable[[], str | None] = lambda: None
    #: the script writes its JSON itself to this name under bench/out (else --json)
    writes: Callable[[str], str] | None = None


def _json(profile: str, out: Path) -> list[str]:
    return ["--profile", profile, "--json", str(out)]


WORKLOADS = (
    Workload("histories", "bench_histories.py", _json, rows_histories),
    Workload("scan", "bench_scan.py", _json, rows_scan),
    Workload("unicity", "bench_unicity.py", _json, rows_unicity),
    Workload("classes", "bench_classes.py", _json, rows_classes),
    Workload("kmanonymity", "bench_kmanonymity.py", _json, rows_kmanonymity,
             missing=_shared_missing),
    Workload("learn", "bench_learn.py",
             lambda p, out: ["--profile", p, "--data", str(OUT / "learn"), "--out", str(out)],
             rows_learn),
    Workload("synth", "bench_synth.py", _json, rows_synth),
    Workload("recommend", "bench_recommend.py", lambda p, out: ["--profile", p],
             rows_recommend, writes=lambda p: f"recommend_{p}.json"),
    Workload("postgres", "bench_postgres.py", lambda p, out: ["--profile", p], rows_postgres,
             missing=_postgres_missing, writes=lambda p: f"postgres_{p}.json"),
    Workload("startup", "bench_startup.py", lambda p, out: ["--json", str(out)], rows_startup),
)
KEYS = tuple(w.key for w in WORKLOADS)


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_workload(w: Workload, profile: str, logs: Path) -> tuple[dict | None, str]:
    """Run one script; its JSON document, or None and why not."""
    why = w.missing()
    if why:
        return None, f"skipped: {why}"
    out = logs / f"{w.key}.json"
    out.unlink(missing_ok=True)
    log = logs / f"{w.key}.log"
    argv = [sys.executable, str(HERE / w.script), *w.args(profile, out)]
    started = time.time()
    with log.open("w") as fh:
        fh.write("$ " + " ".join(argv) + "\n")
        fh.flush()
        code = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                              check=False).returncode
    if w.writes is not None:
        written = OUT / w.writes(profile)
        if written.exists() and written.stat().st_mtime >= started:
            shutil.copyfile(written, out)
    if code:
        return None, f"failed (exit {code}; log: {_shown(log)})"
    if not out.exists():
        return None, f"wrote no results (log: {_shown(log)})"
    return json.loads(out.read_text()), "ok"


def rows_of(documents: dict[str, dict], ref: dict[str, float]
            ) -> tuple[list[Row], dict[str, str]]:
    """The rows of each workload's document, with their reference times, and the
    workloads whose contenders disagree."""
    by_key = {w.key: w for w in WORKLOADS}
    rows, failed = [], {}
    for key, doc in documents.items():
        got = by_key[key].rows(doc)
        for r in got:
            r.baseline_s = ref.get(r.key)
        rows += got
        differ = [r.key for r in got if r.agree is False]
        if differ:
            failed[key] = "results differ: " + ", ".join(differ)
    return rows, failed


# --------------------------------------------------------------------- report
def _seconds(s: float) -> str:
    if s < 0.1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:#.3g} s" if s < 10 else f"{s:.1f} s"


def _ratio(r: float) -> str:
    if r >= 100:
        return f"{r:.0f}x"
    return f"{r:.1f}x" if r >= 1 else f"{r:.2f}x"


def markdown(report: dict) -> str:
    """The table: one row per workload, peers as ratios of basketguard's time."""
    rows = [Row(**r) for r in report["rows"]]
    m = report["machine"]
    lines = [
        f"Profile `{report['profile']}`, {report['date']}: {m['cpus']} cores ({m['cpu']}), "
        f"{m['memory_gib']} GiB, Python {m['python']}, NumPy {m['numpy']}, Numba {m['numba']}, "
        f"pyarrow {m['pyarrow']}, DuckDB {m['duckdb']}, Polars {m['polars']}; load average "
        f"{m['load_avg'][0]} before, {report['load_avg_after'][0]} after. Times are medians "
        "of 3 runs (a peer that takes minutes runs once); a ratio is the peer's time over "
        "basketguard's (above 1x: basketguard is faster). Every contender's result was "
        "checked equal to basketguard's. *vs reference*: basketguard's time in "
        f"{report.get('reference', 'bench/baseline.json')}, and how many times as fast "
        "it is now.",
        "",
        "| workload | basketguard | DuckDB | Polars | other peer | target | met | "
        "vs reference |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bg = _seconds(r.seconds) + (f" ({r.rate})" if r.rate else "")
        if r.note:
            bg += f"; {r.note}"
        cells = [_ratio(r.ratio(p)) if p in r.peers else "-" for p in PEER_COLUMNS]
        other = [f"{PEER_NAMES.get(p, p)} {_ratio(r.ratio(p))}" for p in r.peers
                 if p not in PEER_COLUMNS]
        met = {True: "yes", False: "**no**", None: "-"}[r.met]
        if r.agree is False:
            met += " (results differ)"
        ref = "-"
        if r.baseline_s:
            change = r.baseline_s / r.seconds
            ref = f"{_seconds(r.baseline_s)} -> {_ratio(change)} as fast"
            if change < 0.95:
                ref += " (**slower**)"
        lines.append(f"| {r.workload} | {bg} | {' | '.join(cells)} | "
                     f"{'; '.join(other) or '-'} | {r.target or '-'} | {met} | {ref} |")
    for key, why in report["skipped"].items():
        lines.append(f"| {key} | {why} | - | - | - | - | - | - |")
    return "\n".join(lines) + "\n"


def svg(report: dict) -> str:
    """Speed-up of basketguard over the fastest peer of each workload, log scale."""
    from basketguard.engine.report.charts import bar_chart

    bars = []
    for r in (Row(**r) for r in report["rows"]):
        peer = r.best_peer()
        if peer is None:
            continue
        ratio = r.ratio(peer)
        bars.append((r.workload, math.log10(max(ratio, 1.0)) + 0.05,
                     f"{_ratio(ratio)} {PEER_NAMES.get(peer, peer)}"))
    m = report["machine"]
    title = (f"basketguard vs the fastest peer, profile {report['profile']} "
             f"({m['cpus']} cores, {m['memory_gib']} GiB)")
    chart = bar_chart("bench", title, "Peer time over basketguard time, log scale; "
                      "bars start at 1x.", bars, width=980, label_width=520)
    return chart.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1) + "\n"


def splice_readme(readme: str, table: str, command: str) -> str:
    """README with the text between the bench markers replaced by ``table``."""
    if BEGIN not in readme or END not in readme or readme.index(BEGIN) > readme.index(END):
        raise ValueError(f"README.md has no {BEGIN} ... {END} section to replace")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    body = (f"{BEGIN}\n<!-- generated by `{command}`; edit bench/suite.py, not this -->\n"
            f"{table}{END}")
    return head + body + tail


def baseline(profile: str, reference: Path | None = None) -> dict[str, float]:
    """Reference seconds of each row key: basketguard's medians in an earlier run's
    JSON (``--reference``; say, the code before a change, on this machine), else
    ``bench/baseline.json`` for this profile."""
    if reference is not None:
        doc = json.loads(reference.read_text())
        return {r["key"]: r["seconds"] for r in doc["rows"]}
    path = HERE / "baseline.json"
    doc = json.loads(path.read_text())
    return {k: v for k, v in doc.get(profile, {}).items() if not k.startswith("_")}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, keeping the
    mode of the file it replaces (0644 for a new one; the temporary file is 0600)."""
    from basketguard.engine.io.output import write_text_atomic

    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    write_text_atomic(path, text)
    path.chmod(mode)


#: where ``--readme`` keeps the run the README's section was generated from
DOCS_JSON = REPO / "docs" / "bench-suite.json"
DOCS_SVG = REPO / "docs" / "img" / "bench-suite.svg"


def readme_section(report: dict) -> str:
    """The table and the chart, as README's performance section shows them."""
    return (markdown(report) + f"\n![speed-up over the fastest peer, log scale]"
            f"({DOCS_SVG.relative_to(REPO).as_posix()})\n\nEvery figure of this run, with "
            f"each script's own output: [{DOCS_JSON.relative_to(REPO).as_posix()}]"
            f"({DOCS_JSON.relative_to(REPO).as_posix()}).\n")


def render(report: dict, stem: Path, readme: bool, command: str) -> None:
    """Write the Markdown and the SVG beside the JSON; with ``readme``, README's
    section, and the JSON and SVG it refers to under ``docs/``."""
    table = markdown(report)
    write_atomic(stem.with_suffix(".md"), f"# Benchmark suite, profile {report['profile']}\n\n"
                 + table + f"\n![speed-up over the fastest peer]({stem.name}.svg)\n")
    chart = svg(report)
    write_atomic(stem.with_suffix(".svg"), chart)
    if readme:
        write_atomic(DOCS_JSON, json.dumps(report, indent=1) + "\n")
        write_atomic(DOCS_SVG, chart)
        path = REPO / "README.md"
        write_atomic(path, splice_readme(path.read_text(), readme_section(report), command))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--only", nargs="*", choices=KEYS, default=list(KEYS), metavar="WORKLOAD",
                    help=f"workloads to run (default: all of {', '.join(KEYS)})")
    ap.add_argument("--readme", action="store_true",
                    help="replace README.md's performance section with the table")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="write the Markdown and SVG of an earlier run's JSON, run nothing")
    ap.add_argument("--reference", type=Path, metavar="JSON",
                    help="compare with basketguard's times in an earlier run's JSON "
                         "(default: bench/baseline.json)")
    ap.add_argument("--out", type=Path, metavar="STEM",
                    help="write STEM.json, .md, .svg and the logs in STEM/ "
                         "(default: bench/out/suite-PROFILE)")
    args = ap.parse_args(argv)
    command = "make bench" if args.profile == "default" else \
        f"python bench/suite.py --profile {args.profile}"
    if args.render:
        report = json.loads(args.render.read_text())
        if args.reference:
            report["reference"] = str(args.reference)
        if "documents" in report:  # the rows again from each script's output
            rows, failed = rows_of(report["documents"], baseline(
                report["profile"], args.reference))
            report["rows"] = [dataclasses.asdict(r) for r in rows]
            report["failed"] = {**{k: v for k, v in report["failed"].items()
                                   if not v.startswith("results differ")}, **failed}
            report["skipped"] = {**{k: v for k, v in report["skipped"].items()
                                    if not v.startswith("results differ")}, **failed}
            write_atomic(args.render, json.dumps(report, indent=1) + "\n")
        elif args.reference:
            ref = baseline(report["profile"], args.reference)
            for r in report["rows"]:
                r["baseline_s"] = ref.get(r["key"])
            write_atomic(args.render, json.dumps(report, indent=1) + "\n")
        render(report, args.render.with_suffix(""), args.readme and not report.get("failed"),
               command)
        return 1 if report.get("failed") else 0
    sys.path.insert(0, str(HERE))
    from machine import machine_facts

    stem = (args.out.resolve() if args.out else OUT / f"suite-{args.profile}")
    logs = stem
    logs.mkdir(parents=True, exist_ok=True)
    facts = machine_facts("lightgbm")
    ref = baseline(args.profile, args.reference)
    rows: list[Row] = []
    docs, skipped, failed = {}, {}, {}
    chosen = [w for w in WORKLOADS if w.key in args.only]
    t_all = time.perf_counter()
    for i, w in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {w.key} ...", end=" ", flush=True)
        t0 = time.perf_counter()
        doc, status = run_workload(w, args.profile, logs)
        took = time.perf_counter() - t0
        if doc is None:
            (skipped if status.startswith("skipped") else failed)[w.key] = status
            print(f"{status} ({took:.0f} s)", flush=True)
            continue
        docs[w.key] = doc
        got, differ = rows_of({w.key: doc}, ref)
        rows += got
        failed.update(differ)
        print(f"{differ[w.key] if differ else 'ok'} ({took:.0f} s)", flush=True)
    report = {"profile": args.profile, "date": time.strftime("%Y-%m-%d"),
              "reference": str(args.reference) if args.reference else "bench/baseline.json",
              "machine": facts, "load_avg_after": [round(x, 2) for x in os.getloadavg()],
              "seconds": round(time.perf_counter() - t_all, 1),
              "rows": [dataclasses.asdict(r) for r in rows],
              "skipped": {**skipped, **failed}, "failed": failed, "documents": docs}
    write_atomic(stem.with_suffix(".json"), json.dumps(report, indent=1) + "\n")
    render(report, stem, args.readme and not failed, command)
    print(markdown(report))
    print(f"wrote {stem}.json, .md, .svg"
          + ("; README.md's performance section" if args.readme and not failed else ""))
    if failed:
        print("failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
