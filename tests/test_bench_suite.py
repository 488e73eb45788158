"""The benchmark suite (``bench/suite.py``, ``basketguard bench``): how a run becomes a
report, and one real workload end to end.

The figures themselves are measurements and never asserted here (``bench/``, not
the tests, is where speed is judged). What is tested: a script's JSON becomes the
right rows; a target is met or not by its definition; a slower row than its
reference and a disagreement between contenders are flagged; a failing or
silent script fails the run; README's section is replaced and nothing else; the
chart is valid SVG; the command refuses clearly outside a checkout; and the
``classes`` workload, run for real at the smoke size, agrees with its peers.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from basketguard.engine.cli import bench as bench_cli
from basketguard.engine.cli.main import main

REPO = Path(__file__).resolve().parent.parent


def _suite():
    spec = importlib.util.spec_from_file_location("bench_suite", REPO / "bench" / "suite.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_suite"] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


suite = _suite()
MACHINE = {"cpus": 2, "cpu": "test CPU", "memory_gib": 23.5, "python": "3.11.7",
           "numpy": "2", "numba": "0.6", "pyarrow": "26", "duckdb": "2", "polars": "2",
           "load_avg": [0.1, 0.1, 0.1]}


def histories_doc(bg: float, duck: float, polars: float, agree: bool = True) -> dict:
    return {"lines": 20_000_000, "order": "time", "agree": agree, "results": [
        {"name": "read-only", "seconds": 0.85}, {"name": "basketguard", "seconds": bg},
        {"name": "duckdb", "seconds": duck}, {"name": "polars", "seconds": polars}]}


def report_of(rows, skipped=None) -> dict:
    import dataclasses

    return {"profile": "default", "date": "2026-12-02", "machine": MACHINE,
            "load_avg_after": [0.2, 0.1, 0.1], "rows": [dataclasses.asdict(r) for r in rows],
            "skipped": skipped or {}}


# ----------------------------------------------------------------------- targets
def test_histories_target_needs_rate_and_both_ratios():
    (row,) = suite.rows_histories(histories_doc(0.6, 3.1, 1.9))
    assert row.rate == "33.3M lines/s"
    assert row.target == ">= 30M/s, >= 5x DuckDB, >= 3x Polars"
    assert row.met is True
    assert row.note == "Parquet read alone 0.85 s"
    (slow,) = suite.rows_histories(histories_doc(0.7, 3.1, 1.9))  # 28.6M lines/s
    assert slow.met is False
    (few,) = suite.rows_histories(histories_doc(0.6, 2.9, 1.9))  # 4.8x DuckDB
    assert few.met is False


def test_a_missing_peer_cannot_meet_a_ratio_target():
    doc = histories_doc(0.5, 3.0, 2.0)
    doc["results"] = [r for r in doc["results"] if r["name"] != "polars"]
    (row,) = suite.rows_histories(doc)
    assert "polars" not in row.peers
    assert row.met is False


def test_unicity_rows_per_points_and_digest_agreement():
    doc = {"p": 4, "members": 100_000, "customers": 1_000_000, "results": [
        {"name": "basketguard", "points": "item-day", "seconds": 0.15, "digest": "a",
         "index_s": 0.05},
        {"name": "duckdb", "points": "item-day", "seconds": 4.6, "digest": "a"},
        {"name": "basketguard", "points": "items", "seconds": 0.2, "digest": "b"},
        {"name": "duckdb", "points": "items", "seconds": 150.0, "digest": "c"}]}
    day, items = suite.rows_unicity(doc)
    assert (day.key, day.met, day.agree) == ("unicity-item-day", True, True)
    assert day.target == ">= 30x DuckDB, < 0.2 s"
    assert items.met is None and items.agree is False  # the digests differ


def test_time_bound_is_strict():
    row = suite._target(suite.Row("x", "x", 0.2), max_s=0.2)
    assert row.met is False
    assert suite._target(suite.Row("x", "x", 0.199), max_s=0.2).met is True


def test_startup_rows_and_cold_jit_bound():
    doc = {"cold_jit_s": 21.0, "results": [
        {"name": "help", "first_output_s": 0.9, "seconds": 1.0},
        {"name": "scan, warm JIT", "first_output_s": 2.0, "seconds": 2.5}]}
    rows = suite.rows_startup(doc)
    assert [r.key for r in rows] == ["startup-help", "startup-scan-warm-jit", "cold-jit"]
    assert rows[-1].met is False


# ------------------------------------------------------------------------ report
def test_markdown_flags_slower_rows_and_disagreement():
    fast, = suite.rows_histories(histories_doc(0.9, 7.0, 14.0))
    fast.baseline_s = 1.8
    slow, = suite.rows_histories(histories_doc(2.0, 7.0, 14.0, agree=False))
    slow.baseline_s = 1.8
    text = suite.markdown(report_of([fast, slow], {"postgres": "skipped: no server"}))
    lines = text.splitlines()
    table = [ln for ln in lines if ln.startswith("| histories")]
    assert "7.8x" in table[0] and "15.6x" in table[0]  # DuckDB and Polars over 0.9 s
    assert "1.80 s -> 2.0x as fast" in table[0] and "slower" not in table[0]
    assert "(**slower**)" in table[1] and "(results differ)" in table[1]
    assert lines[-1].startswith("| postgres | skipped: no server |")
    assert "2 cores (test CPU), 23.5 GiB" in lines[0]


def test_svg_is_valid_and_has_one_bar_per_row_with_a_peer():
    rows = [*suite.rows_histories(histories_doc(0.9, 7.0, 14.0)),
            suite.Row("synth", "simulator", 1.0)]  # no peer: no bar
    doc = suite.svg(report_of(rows))
    root = ET.fromstring(doc)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    rects = root.findall(".//{http://www.w3.org/2000/svg}rect")
    assert len(rects) == 1
    assert "7.8x DuckDB" in doc  # the fastest peer


def test_splice_readme_replaces_only_the_section():
    readme = "# T\n\nintro\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\n\nafter\n"
    out = suite.splice_readme(readme, "| new |\n", "make bench")
    assert out.startswith("# T\n\nintro\n<!-- bench:begin -->\n")
    assert "old table" not in out and "| new |\n<!-- bench:end -->\n\nafter\n" in out
    assert suite.splice_readme(out, "| new |\n", "make bench") == out  # idempotent
    with pytest.raises(ValueError, match="bench:begin"):
        suite.splice_readme("# no markers\n", "x", "make bench")


def test_readme_section_is_the_committed_run():
    """README's performance section is generated: it equals the render of the run kept
    in docs/bench-suite.json (regenerate both with `make bench`)."""
    report = json.loads(suite.DOCS_JSON.read_text())
    readme = (REPO / "README.md").read_text()
    assert suite.splice_readme(readme, suite.readme_section(report), "make bench") == readme
    assert suite.DOCS_SVG.read_text() == suite.svg(report)


# ---------------------------------------------------------------------- running
def _workload(tmp_path: Path, body: str, **kw):
    script = tmp_path / "fake_bench.py"
    script.write_text(body)
    return suite.Workload("fake", str(script), lambda p, out: ["--json", str(out)],
                          lambda doc: [], **kw)


def test_run_workload_reads_the_json(tmp_path):
    w = _workload(tmp_path, "import json, sys\n"
                  "open(sys.argv[2], 'w').write(json.dumps({'ok': 1}))\n")
    doc, status = suite.run_workload(w, "smoke", tmp_path)
    assert (doc, status) == ({"ok": 1}, "ok")


def test_run_workload_failure_and_silence_are_failures(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "REPO", tmp_path)
    w = _workload(tmp_path, "print('boom'); raise SystemExit(3)\n")
    doc, status = suite.run_workload(w, "smoke", tmp_path)
    assert doc is None and status == "failed (exit 3; log: fake.log)"
    assert "boom" in (tmp_path / "fake.log").read_text()
    w = _workload(tmp_path, "pass\n")
    assert suite.run_workload(w, "smoke", tmp_path) == (None, "wrote no results (log: fake.log)")


def test_run_workload_skips_when_something_is_missing(tmp_path):
    w = _workload(tmp_path, "raise SystemExit(1)\n", missing=lambda: "no server")
    assert suite.run_workload(w, "smoke", tmp_path) == (None, "skipped: no server")


def test_cli_refuses_outside_a_checkout(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_cli, "suite_path", lambda: tmp_path / "bench" / "suite.py")
    assert main(["bench", "--profile", "smoke"]) == 3
    err = capsys.readouterr().err
    assert "source checkout" in err and str(tmp_path / "bench" / "suite.py") in err


def test_cli_render_writes_markdown_and_svg(tmp_path):
    rows = suite.rows_histories(histories_doc(0.9, 7.0, 14.0))
    path = tmp_path / "run.json"
    path.write_text(json.dumps(report_of(rows)))
    assert main(["bench", "--render", str(path)]) == 0
    assert "| histories build" in (tmp_path / "run.md").read_text()
    ET.fromstring((tmp_path / "run.svg").read_text())


@pytest.mark.jit
@pytest.mark.slow
def test_classes_workload_for_real(tmp_path):
    """The smoke classes workload: basketguard, DuckDB and Polars give equal class sizes."""
    out = tmp_path / "classes.json"
    subprocess.run([sys.executable, str(REPO / "bench" / "bench_classes.py"), "--profile",
                    "smoke", "--repeat", "1", "--json", str(out)], check=True,
                   capture_output=True)
    doc = json.loads(out.read_text())
    rows = suite.rows_classes(doc)
    assert [r.key for r in rows] == ["classes-arrow", "classes-codes"]
    assert all(r.agree for r in rows)
    assert set(rows[0].peers) == {"duckdb", "polars"}


def test_render_against_an_earlier_run(tmp_path):
    """--reference compares each row with basketguard's time in another run's JSON."""
    before = report_of(suite.rows_histories(histories_doc(2.0, 7.0, 14.0)))
    now = report_of(suite.rows_histories(histories_doc(1.0, 7.0, 14.0)))
    (tmp_path / "before.json").write_text(json.dumps(before))
    (tmp_path / "now.json").write_text(json.dumps(now))
    assert main(["bench", "--render", str(tmp_path / "now.json"),
                 "--reference", str(tmp_path / "before.json")]) == 0
    doc = json.loads((tmp_path / "now.json").read_text())
    assert doc["rows"][0]["baseline_s"] == 2.0
    text = (tmp_path / "now.md").read_text()
    assert "2.00 s -> 2.0x as fast" in text and "before.json" in text
