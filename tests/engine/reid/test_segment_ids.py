"""Segment ids: normalized as the basket lines' ids, matched without echoing ids;
an empty segment is one informational finding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.errors import DataError, SchemaError, SourceError
from basketguard.engine.findings import Severity
from basketguard.engine.io.tables import conform_ids
from basketguard.engine.reid.assess import AssessOptions, assess, segment_members

BIG = 2**53 + 1  # not representable as float64: must stay exact


@pytest.mark.parametrize("col, like, expected", [
    pytest.param(pa.array(["17850.0", "13047", " 12583.00 ", "-4."]), pa.int64(),
                 [17850, 13047, 12583, -4], id="integral_text_to_int"),
    pytest.param(pa.array([str(BIG), f"{BIG}.0"]), pa.int64(), [BIG, BIG], id="exact_big"),
    pytest.param(pa.array([17850.0, 3.0]), pa.int64(), [17850, 3], id="integral_floats"),
    pytest.param(pa.array([17850.0, 3.0]), None, [17850, 3], id="floats_keep_kind"),
    pytest.param(pa.array([7, 8], pa.int32()), pa.string(), ["7", "8"], id="int_to_text"),
    pytest.param(pa.array(["a", "b"]), pa.string(), ["a", "b"], id="text_stays_text"),
    pytest.param(pa.array(["17850.0"]), pa.string(), ["17850.0"], id="text_base_keeps_text"),
    pytest.param(pa.array(["x", "17850"]).dictionary_encode(), pa.string(), ["x", "17850"],
                 id="dictionary"),
])
def test_conform_ids(col, like, expected):
    out = conform_ids(col, like, "seg.csv", "customer")
    assert out.to_pylist() == expected
    assert out.null_count == 0


@pytest.mark.parametrize("col, error, fragments", [
    pytest.param(pa.array(["17850", "C17850"]), SchemaError,
                 ["seg.csv", "'customer'", "text that is not a number", "row 2 "], id="text"),
    pytest.param(pa.array(["17850", "1.5"]), SchemaError, ["a fractional number", "row 2 "],
                 id="fractional_text"),
    pytest.param(pa.array(["1", str(2**64)]), SchemaError, ["beyond 64 bits"], id="overflow"),
    pytest.param(pa.array(["17850", None, None]), DataError,
                 ["seg.csv", "null in 2 row(s)", "row 2 (counting data rows from 1)"],
                 id="null"),
])
def test_conform_errors_name_the_row_not_the_value(col, error, fragments):
    with pytest.raises(error) as info:
        conform_ids(col, pa.int64(), "seg.csv", "customer")
    message = str(info.value)
    for frag in fragments:
        assert frag in message
    for value in ("C17850", "1.5", str(2**64)):
        assert value not in message


def test_null_row_counts_after_the_filter():
    with pytest.raises(DataError, match=r"row 1 \(counting data rows from 1, after the filter"):
        conform_ids(pa.array([None], pa.int64()), None, "t", "customer", filtered=True)


@pytest.fixture(scope="module")
def retail(tmp_path_factory):
    """Basket lines with float-text customer ids read as numbers (like Online Retail)."""
    out = tmp_path_factory.mktemp("retail")
    (out / "lines.csv").write_text(
        "inv,sku,at,qty,cust\n"
        "1,a,2024-01-01 10:00:00,1,17850.0\n1,b,2024-01-01 10:00:00,1,17850.0\n"
        "2,a,2024-01-02 10:00:00,1,13047.0\n3,c,2024-01-03 10:00:00,2,12583.0\n")
    (out / "p.toml").write_text(
        '[lines]\nsource = "lines.csv"\ntypes = { cust = "float64" }\n[lines.columns]\n'
        'customer = "cust"\nitem = "sku"\ntime = "at"\nbasket = "inv"\nquantity = "qty"\n')
    project = load_project(out / "p.toml")
    return out, project, load_histories(project, use_cache=False)


def test_segment_files_of_every_kind_match(retail, monkeypatch):
    out, project, hist = retail
    monkeypatch.chdir(out)
    Path("a.csv").write_text("customer\n17850.0\n13047.0\n17850.0\n")
    pq.write_table(pa.table({"id": pa.array([17850.0, 13047.0])}), "b.parquet")
    pq.write_table(pa.table({"customer": pa.array(["17850", "13047"])}), "c.parquet")
    want = sorted(hist.customer_ids.to_pylist().index(i) for i in (17850, 13047))
    for path, column in (("a.csv", "customer"), ("b.parquet", "id"), ("c.parquet", "customer")):
        codes, info = segment_members(project, hist, segment_file=path, segment_column=column)
        assert codes.tolist() == want and info["members"] == 2


def test_segment_errors(retail, monkeypatch):
    out, project, hist = retail
    monkeypatch.chdir(out)
    Path("d.csv").write_text("client\n17850.0\n")
    with pytest.raises(SchemaError, match="--segment-column NAME"):
        segment_members(project, hist, segment_file="d.csv")
    with pytest.raises(SourceError, match="relative to the working directory"):
        segment_members(project, hist, segment_file="nope.csv")
    Path("e.csv").write_text("customer\n17850.0\n55555.0\n")
    with pytest.raises(DataError, match="1 of 2 segment member id") as info:
        segment_members(project, hist, segment_file="e.csv")
    assert "55555" not in str(info.value)


def test_empty_segment_is_one_info_finding(retail, monkeypatch):
    out, project, hist = retail
    monkeypatch.chdir(out)
    Path("empty.csv").write_text("customer\n")
    codes, info = segment_members(project, hist, segment_file="empty.csv")
    assert codes.size == 0 and info["members"] == 0
    result = assess(project, hist, codes, AssessOptions(), info)
    assert result.severity == Severity.PASS
    [finding] = result.findings
    assert finding.check == "reid.segment" and finding.severity == Severity.INFO
    assert finding.estimate.value == 0
    assert "nobody is targeted" in finding.explanation
    assert "has no rows" in finding.explanation
    assert len(result.skipped) == 3
    assert result.to_dict()["segment"] == {"source": "file empty.csv", "members": 0,
                                           "customer_base": hist.n_customers}
    assert assess(project, hist, np.empty(0, np.int64), AssessOptions()).findings[0].check \
        == "reid.segment"


def test_python_api_takes_the_segment_column(retail, monkeypatch):
    from basketguard.engine import api

    out, project, _ = retail
    monkeypatch.chdir(out)
    Path("f.csv").write_text("client\n17850.0\n13047.0\n")
    result = api.assess(project, segment_file="f.csv", segment_column="client",
                        options=AssessOptions(attributes=(), points=("items",), p_max=1),
                        use_cache=False)
    assert result.to_dict()["segment"]["members"] == 2
