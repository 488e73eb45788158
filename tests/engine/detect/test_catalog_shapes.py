"""Detection does not depend on how a catalog names its levels and values, and a catalog
where a signature cannot see its evidence says so (never a silent zero)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan
from basketguard.engine.report.text import scan_text
from basketguard.models.simulator.run import SimConfig, simulate

pytestmark = pytest.mark.jit  # simulated populations through the kernel

#: Level values as another retailer might write them (upper case, other words).
RENAMED = {"Prenatal Vitamins": "Prenatal", "Pregnancy Tests": "Tests - Pregnancy",
           "Nappy Sacks": "Diaper Bags", "Infant Formula": "Formula - Baby",
           "Kosher Foods": "Jewish Foods", "Halal Foods": "World Foods - Halal",
           "Nicotine Patches": "NRT", "Body Lotion": "Skin Care"}


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    res = simulate(SimConfig(customers=3000, seed=5), out)
    return out, load_project(res.paths["project"])


def _project(out, catalog_file, levels, extra=""):
    text = (out / "project.toml").read_text()
    text = text.replace('source = "catalog.parquet"', f'source = "{catalog_file}"')
    text = text.replace('levels = ["department", "category", "type"]',
                        f"levels = {json.dumps(levels)}")
    p = out / f"project_{catalog_file.split('.')[0]}.toml"
    p.write_text(text + extra)
    return load_project(p)


def _flagged(project, cache):
    hist = load_histories(project, cache_dir=cache)
    res = scan(project, hist)
    return res, {s["signature"]: (s["customers_with_evidence"], s["customers_flagged"])
                 for s in res.summary()["signatures"]}


def test_renamed_levels_and_values_detect_the_same(population, tmp_path):
    out, project = population
    _, base = _flagged(project, tmp_path / "c")
    cat = pq.read_table(out / "catalog.parquet")
    new = {"item_id": cat["item_id"], "name": cat["name"]}
    for old, lv in zip(["department", "category", "type"], ["dept", "aisle", "subclass"],
                       strict=True):
        vals = [RENAMED.get(v, v).upper() for v in cat[old].to_pylist()]
        new[lv] = pa.array(vals)
    pq.write_table(pa.table(new), out / "renamed.parquet")
    other = _project(out, "renamed.parquet", ["dept", "aisle", "subclass"])
    _, got = _flagged(other, tmp_path / "c2")
    assert got == base
    assert sum(v[1] for v in base.values()) > 0  # the comparison is not of zeros


def test_names_less_catalog_is_reported_not_silent(population, tmp_path):
    out, _ = population
    cat = pq.read_table(out / "catalog.parquet")
    # an upper-case taxonomy, no product names, and no nicotine or kosher categories
    keep = pc.invert(pc.is_in(cat["type"], pa.array(["Nicotine Patches", "Nicotine Gum",
                                                      "Nicotine Lozenges"])))
    cat = cat.filter(keep)
    t = pa.table({"item_id": cat["item_id"],
                  "dept": pc.utf8_upper(cat["department"]),
                  "sub": pc.utf8_upper(cat["type"])})
    pq.write_table(t, out / "nonames.parquet")
    text = (out / "project.toml").read_text().replace('name = "name"\n', "")
    p = out / "project_nonames.toml"
    p.write_text(text.replace('source = "catalog.parquet"', 'source = "nonames.parquet"')
                 .replace('levels = ["department", "category", "type"]',
                          'levels = ["dept", "sub"]'))
    project = load_project(p)
    res, _ = _flagged(project, tmp_path / "c3")
    cov = {c.signature: c for c in res.library.coverage}
    smoking = cov["smoking_cessation"]
    assert not smoking.reachable
    assert smoking.matched and "nicotine_patches" in smoking.unmatched
    problems = {c.signature for c in res.coverage_problems()}
    assert "smoking_cessation" in problems
    summary = res.summary()
    msg = {f["signature"]: f["message"] for f in summary["coverage"]["findings"]}
    assert msg["smoking_cessation"].startswith("cannot detect quitting smoking")
    assert "on this catalog: 2 of 6 features match anything" in msg["smoking_cessation"]
    text = scan_text(summary)
    assert text.startswith("Coverage:")
    assert "cannot detect quitting smoking" in text
    assert len(text.splitlines()) <= 45  # one screen
    found = {f.check: f for f in res.findings()}
    assert found["coverage.smoking_cessation"].severity == "warn"
    assert "best reachable probability" in found["coverage.smoking_cessation"].explanation


def test_coverage_severity_and_share_from_the_project(population, tmp_path):
    out, _ = population
    project = _project(out, "catalog.parquet", ["department", "category", "type"],
                       "\n[detection]\nmin_coverage = 1.0\ncoverage_severity = \"fail\"\n")
    res, _ = _flagged(project, tmp_path / "c4")
    partial = [c for c in res.library.coverage if c.share < 1.0]
    found = {f.check: f for f in res.findings()}
    for c in res.library.coverage:
        want = "fail" if (c.share < 1.0 or not c.reachable) else "pass"
        assert found[f"coverage.{c.signature}"].severity == want
    assert partial or all(c.share == 1.0 for c in res.library.coverage)


def test_default_scan_fits_one_screen(population, tmp_path):
    out, project = population
    cmd = [sys.executable, "-m", "basketguard.engine.cli.main", "scan",
           str(project.path), "--cache-dir", str(tmp_path / "c5")]
    got = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    assert len(lines) <= 45 and max(len(x) for x in lines) <= 200
    assert not any("matches no item" in x for x in lines)


def test_scan_json_puts_coverage_first(population, tmp_path):
    out, project = population
    hist = load_histories(project, cache_dir=tmp_path / "c6")
    summary = scan(project, hist).summary()
    assert next(iter(summary)) == "coverage"
    cov = summary["coverage"]
    assert {c["signature"] for c in cov["signatures"]} == {
        s["signature"] for s in summary["signatures"]}
    for c in cov["signatures"]:
        assert 0 <= c["share"] <= 1 and np.isfinite(c["best_probability"])
