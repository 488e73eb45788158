"""Fault cases: error messages never show customer ids nor a raw row.

A message names the file, the row number, the column and, for columns that
identify nobody (a time, a quantity), the offending value. Customer ids, and
the rest of a row (a customer's attributes included), are never printed: each
case asserts that none of ``conftest.IDS`` (nor the attribute values) appears.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import IDS
from tests.faults.harness import check, run_cli

CUSTOMERS = """
[customers]
source = "customers.csv"
[customers.columns]
customer = "shopper"
attributes = ["postcode", "age"]
"""
#: Attribute values that would identify the customer if a row were echoed.
ATTRIBUTES = ("ZZ9 9ZZ", "93-97")
QUICK = ["--points", "none"]


@pytest.mark.parametrize("row, fragments", [
    pytest.param(f"o5,{IDS[0]},milk,someday,1",
                 ["have a time that cannot be parsed", "column 'at'", "row 6 read",
                  "(value 'someday')"], id="bad_time"),
    pytest.param(f"o5,{IDS[1]},milk,2024-03-04 09:00:00,-1",
                 ["have a quantity <= 0", "column 'qty'", "row 6 read", "(value -1.0)"],
                 id="negative_quantity"),
    pytest.param(f"o5,{IDS[2]},,2024-03-04 09:00:00,1",
                 ["have no item id", "column 'sku'", "row 6 read"], id="null_item"),
])
def test_strict_row_errors_mask_ids(shop, row, fragments):
    with (shop / "lines.csv").open("a") as f:
        f.write(row + "\n")
    check(run_cli(["profile", "shop.toml", "--strict"], shop), code=3,
          first_line=["lines.csv", *fragments], absent=IDS)


def _with_customers(shop: Path, rows: list[str], segment: list[str]) -> None:
    (shop / "customers.csv").write_text("\n".join(["shopper,postcode,age", *rows]) + "\n")
    with (shop / "shop.toml").open("a") as f:
        f.write(CUSTOMERS)
    (shop / "seg.csv").write_text("\n".join(["customer", *segment]) + "\n")


@pytest.mark.parametrize("rows, segment, fragments", [
    pytest.param([f"{IDS[0]},AB1 2CD,30-39", ",ZZ9 9ZZ,93-97"], [IDS[0]],
                 ["customers.csv", "column 'shopper' (customer id) is null", "row 2 "],
                 id="null_customer_id"),
    pytest.param([f"{IDS[0]},ZZ9 9ZZ,93-97", f"{IDS[0]},ZZ9 9ZZ,93-97"], [IDS[0]],
                 ["a customer id appears 2 times in the customers table", "rows 1 and 2"],
                 id="duplicate_customer_id"),
    pytest.param([f"{IDS[0]},ZZ9 9ZZ,93-97"], [IDS[0], IDS[1]],
                 ["1 of 2 segment member(s) are not in the customers table"],
                 id="member_without_attributes"),
    pytest.param([f"{IDS[0]},ZZ9 9ZZ,93-97"], [IDS[0], "cust-unknown"],
                 ["seg.csv", "1 of 2 segment member id(s) are not customers of the base"],
                 id="member_not_in_the_base"),
])
def test_customer_and_segment_errors_mask_ids(shop, rows, segment, fragments):
    _with_customers(shop, rows, segment)
    run = run_cli(["assess", "shop.toml", "--segment", "seg.csv", *QUICK], shop)
    check(run, code=3, first_line=fragments, absent=[*IDS, *ATTRIBUTES, "cust-unknown"])
