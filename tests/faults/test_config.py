"""Fault cases: the project file and its mapping."""

from __future__ import annotations

import pytest

from tests.faults.harness import check, run_cli


@pytest.mark.parametrize("edit, fragments", [
    pytest.param(lambda t: t.replace('item = "sku"', 'item = "skus"'),
                 ["lines.csv", "'skus'", "closest name is 'sku'"], id="wrong_column"),
    pytest.param(lambda t: t.replace("[lines.columns]", "[lines.colums]"),
                 ["shop.toml", "Did you mean 'columns'?"], id="misspelled_table"),
    pytest.param(lambda t: t + "\n[[[", ["shop.toml", "not valid TOML"], id="not_toml"),
    pytest.param(lambda t: t.replace('source = "lines.csv"', 'source = "line.csv"'),
                 ["line.csv' does not exist", "Did you mean 'lines.csv'?"], id="missing_source"),
])
def test_project_mistakes_name_the_key(shop, edit, fragments):
    p = shop / "shop.toml"
    p.write_text(edit(p.read_text()))
    check(run_cli(["profile", "shop.toml"], shop), code=3, first_line=fragments)


def test_missing_project_file(shop):
    check(run_cli(["scan", "nope.toml"], shop), code=3, first_line=["nope.toml", "does not exist"])


def test_time_format_matching_no_row_is_named(shop):
    p = shop / "shop.toml"
    p.write_text(p.read_text().replace('source = "lines.csv"',
                                       'source = "lines.csv"\ntime_format = "%d/%m/%Y %H:%M"'))
    check(run_cli(["profile", "shop.toml"], shop), code=3,
          first_line=["no basket line is left", "bad_time: 5",
                      "no time matched time_format '%d/%m/%Y %H:%M'"])
