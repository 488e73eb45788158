"""Fault cases: segments given to ``basketguard assess``.

Segment ids go through the same normalization as the basket lines' ids (a CSV
written like the source data, ``17850.0``, matches integer customers); ids of
another kind, fractional ids and null ids are clear errors naming the file and
the row; an empty segment is a finding (nobody is targeted), not an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import IDS
from tests.faults.harness import check, run_cli

ROOT = Path(__file__).resolve().parents[2]
ONLINE_RETAIL = ROOT / "examples" / "online_retail.toml"
ONLINE_RETAIL_DATA = ROOT.parent / "shared" / "datasets" / "online_retail.csv.gz"

#: A small project written like the Online Retail export: CustomerID as float text.
RETAIL_LINES = "\n".join([
    "InvoiceNo,StockCode,InvoiceDate,Quantity,CustomerID",
    "536365,85123A,2010-12-01 08:26:00,6,17850.0",
    "536365,71053,2010-12-01 08:26:00,6,17850.0",
    "536366,22633,2010-12-01 08:28:00,6,13047.0",
    "536367,84879,2010-12-01 08:34:00,32,12583.0",
]) + "\n"
RETAIL = """[project]
name = "retail"
[lines]
source = "retail.csv"
types = { CustomerID = "float64" }
[lines.columns]
customer = "CustomerID"
item = "StockCode"
time = "InvoiceDate"
basket = "InvoiceNo"
quantity = "Quantity"
"""
QUICK = ["--points", "items", "--p", "1", "--draws", "2", "--unicity-warn", "none",
         "--unicity-fail", "none"]  # measured, not judged: exit 0 whatever the share


@pytest.fixture
def retail(tmp_path: Path) -> Path:
    (tmp_path / "retail.csv").write_text(RETAIL_LINES)
    (tmp_path / "retail.toml").write_text(RETAIL)
    return tmp_path


def _assess(folder: Path, project: str, segment_text: str | None, *extra: str,
            name: str = "seg.csv"):
    if segment_text is not None:
        (folder / name).write_text(segment_text)
    args = ["assess", project, *QUICK, *extra]
    if segment_text is not None:
        args += ["--segment", name]
    return run_cli(args, folder)


@pytest.mark.skipif(not ONLINE_RETAIL_DATA.is_file(), reason="Online Retail data not present")
def test_online_retail_segment_written_like_the_source(tmp_path):
    (tmp_path / "seg.csv").write_text("customer\n17850.0\n13047.0\n17850.0\n")
    run = run_cli(["assess", ONLINE_RETAIL, "--segment", "seg.csv", *QUICK], tmp_path)
    check(run, code=0)
    assert "Segment: 2 members (file seg.csv)" in run.stdout


@pytest.mark.parametrize("segment", [
    pytest.param("customer\n17850.0\n13047.0\n", id="float_text"),
    pytest.param("customer\n17850\n 13047.00\n", id="integer_and_padded_text"),
])
def test_integral_text_ids_match_integer_customers(retail, segment):
    run = _assess(retail, "retail.toml", segment)
    check(run, code=0)
    assert "Segment: 2 members" in run.stdout


@pytest.mark.parametrize("segment, fragments", [
    pytest.param("customer\n17850.0\nC-17850\n",
                 ["seg.csv", "'customer'", "text that is not a number", "row 2 ",
                  "ids are integers"], id="text_against_integers"),
    pytest.param("customer\n17850.0\n13047.5\n",
                 ["seg.csv", "'customer'", "a fractional number", "row 2 "],
                 id="fractional"),
    pytest.param("customer,note\n17850.0,a\n,b\n13047.0,c\n",
                 ["seg.csv", "'customer'", "null in 1 row(s)", "row 2 "], id="null_id"),
    pytest.param("customer\n17850.0\n99999.0\n",
                 ["seg.csv", "1 of 2 segment member id(s) are not customers of the base"],
                 id="unknown_member"),
])
def test_bad_segment_ids_are_clear_errors(retail, segment, fragments):
    run = _assess(retail, "retail.toml", segment)
    check(run, code=3, first_line=fragments, absent=["13047.5", "99999", "C-17850"])


def test_segment_column_other_than_customer(retail):
    segment = "client\n17850.0\n13047.0\n"
    check(_assess(retail, "retail.toml", segment), code=3,
          first_line=["seg.csv", "no column 'customer'", "Columns: client",
                      "--segment-column NAME"])
    run = _assess(retail, "retail.toml", segment, "--segment-column", "client")
    check(run, code=0)
    assert "Segment: 2 members" in run.stdout


def test_segment_column_needs_a_segment_file(retail):
    check(run_cli(["assess", "retail.toml", "--segment-column", "client"], retail), code=3,
          first_line=["--segment-column", "--segment FILE"])


@pytest.mark.parametrize("fixture, project, ids", [
    pytest.param("shop", "shop.toml", IDS[:2], id="text_ids"),
    pytest.param("retail", "retail.toml", ("17850", "13047"), id="integer_ids"),
])
def test_headerless_segment_file_does_not_echo_ids(request, fixture, project, ids):
    folder = request.getfixturevalue(fixture)
    run = _assess(folder, project, f"{ids[0]}\n{ids[1]}\n")
    check(run, code=3, first_line=["seg.csv", "<a customer id>", "looks like data",
                                   "--segment-column"], absent=ids)


def test_segment_path_is_relative_to_the_working_directory(shop):
    (shop / "sub").mkdir()
    (shop / "sub" / "shop.toml").write_text((shop / "shop.toml").read_text().replace(
        'source = "lines.csv"', 'source = "../lines.csv"'))
    (shop / "sub" / "seg.csv").write_text(f"customer\n{IDS[0]}\n")  # next to the project
    run = run_cli(["assess", "sub/shop.toml", "--segment", "seg.csv", *QUICK], shop)
    check(run, code=3, first_line=["segment file 'seg.csv'", str(shop / "seg.csv"),
                                   "relative to the working directory"])
    run = run_cli(["assess", "sub/shop.toml", "--segment", "sub/seg.csv", *QUICK], shop)
    check(run, code=0)


def test_empty_flagged_segment_is_a_finding(shop):
    # nobody in the shop buys kosher food: the mailing targets nobody
    run = run_cli(["assess", "shop.toml", "--segment-signature", "kosher_diet", *QUICK], shop)
    check(run, code=0, absent=IDS)
    assert "INFO  reid.segment" in run.stdout
    assert "The segment is empty: nobody is targeted" in run.stdout
    assert "kosher_diet' flags no customer" in run.stdout


def test_empty_segment_file_is_a_finding(shop):
    run = _assess(shop, "shop.toml", "customer\n", "--json")
    check(run, code=0)
    assert '"members": 0' in run.stdout and "nobody is targeted" in run.stdout
    assert "segment file seg.csv has no rows" in run.stdout


def test_zero_byte_segment_file_is_an_error(shop):
    check(_assess(shop, "shop.toml", ""), code=3, first_line=["seg.csv", "empty (0 bytes)"])
