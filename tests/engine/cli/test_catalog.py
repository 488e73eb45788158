"""``basketguard catalog map`` and ``catalog concepts`` on the real Instacart catalog."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

CLI = [sys.executable, "-m", "basketguard.engine.cli.main"]


def run(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=False)


@pytest.fixture
def project(tmp_path, datasets):
    (tmp_path / "lines.csv").write_text("customer,item,time\n1,1,2020-01-01T00:00:00\n")
    (tmp_path / "mine.toml").write_text(
        "[[concept]]\nname = \"house_brand_formula\"\nnames = ['\\bmy formula\\b']\n")
    (tmp_path / "overrides.csv").write_text(
        "item,pattern,concept,action,note\n"
        "4920,,infant_formula,include,an include forces membership (item 4920 is grapes)\n"
        ",\\bkombucha\\b,beer,exclude,\n"
        "99999999,,beer,include,\n")
    p = tmp_path / "p.toml"
    p.write_text(f"""
[lines]
source = "lines.csv"
[lines.columns]
customer = "customer"
item = "item"
time = "time"

[catalog]
source = "{datasets / 'instacart_products.csv.gz'}"
format = "csv"
[catalog.columns]
item = "product_id"
name = "product_name"
levels = ["department", "aisle"]

[detection]
vocabulary = "mine.toml"
overrides = "overrides.csv"
""")
    return p


def test_map_writes_every_match_with_its_reason(project, tmp_path):
    out = tmp_path / "map.csv"
    got = run("catalog", "map", project, "--out", out)
    assert got.returncode == 0, got.stderr
    table = pacsv.read_csv(out)
    assert table.column_names == ["item", "name", "department", "aisle", "concept",
                                  "matched_by"]
    rows = table.to_pylist()
    by = {}
    for r in rows:
        by.setdefault(r["concept"], []).append(r)
    assert all(r["matched_by"] for r in rows)
    assert len(by["pregnancy_test"]) >= 5
    assert any("name pattern" in r["matched_by"] for r in by["pregnancy_test"])
    assert any(r["matched_by"].startswith("included concept") for r in by["alcohol"])
    formula = {r["item"]: r for r in by["infant_formula"]}
    assert "override line 2" in formula[4920]["matched_by"]
    assert not any("kombucha" in r["name"].lower() for r in by["beer"])
    # the summary: counts, unmatched concepts with candidates, notes naming file and line
    assert "Concepts that match nothing here" in got.stdout
    assert "tobacco" in got.stdout
    assert f"{tmp_path / 'overrides.csv'}:4" in got.stdout
    assert "house_brand_formula" in got.stdout and "used by no signature" in got.stdout


def test_map_json_and_parquet(project, tmp_path):
    out = tmp_path / "map.parquet"
    got = run("catalog", "map", project, "--out", out, "--json")
    assert got.returncode == 0, got.stderr
    doc = json.loads(got.stdout)
    assert doc["items"] == 49_688 and doc["pairs"] == pq.read_table(out).num_rows
    assert doc["concepts"]["tobacco"] == 0 and "tobacco" in doc["unmatched"]


def test_bad_override_is_an_error_naming_file_and_line(project, tmp_path):
    (tmp_path / "overrides.csv").write_text("item,concept,action\n1,no_such_concept,include\n")
    got = run("catalog", "map", project)
    assert got.returncode == 3
    assert f"{tmp_path / 'overrides.csv'}:2: unknown concept 'no_such_concept'" in got.stderr


def test_map_refuses_to_overwrite_an_input(project, tmp_path):
    got = run("catalog", "map", project, "--out", tmp_path / "overrides.csv")
    assert got.returncode == 3 and "overrides" in got.stderr


def test_concepts_lists_the_vocabulary(tmp_path):
    got = run("catalog", "concepts")
    assert got.returncode == 0
    assert "pregnancy_test" in got.stdout and "nicotine_replacement" in got.stdout
    doc = json.loads(run("catalog", "concepts", "--json").stdout)
    names = {c["name"] for c in doc["concepts"]}
    assert {"diapers", "infant_formula", "kosher", "beer"} <= names


def test_signatures_checks_concept_names(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text('name = "x"\nsensitivity = "health"\nwindow_days = 30\n[link]\n'
                 'intercept = -3.0\nslope = 1.0\n[[feature]]\nname = "a"\nweight = 1.0\n'
                 'concepts = ["pregnancy_tset"]\n')
    got = run("signatures", "--signatures", p)
    assert got.returncode == 3
    assert f"{p}: feature 'a' concepts: unknown concept 'pregnancy_tset'" in got.stderr
    assert "Did you mean 'pregnancy_test'" in got.stderr
