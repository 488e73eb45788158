"""Fault cases: the data sources (issue 14).

Every case breaks a source the way the world does (a link loop, a truncated
copy, a wrong type, an empty export) and runs ``basketguard profile`` in a
subprocess: an error is exit 3 with a one-paragraph message that names the
file, column or key and what to do; a source that is fine at its limits
(unicode names, ids at the int64 limits) gives the right counts.
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from tests.faults.conftest import IDS
from tests.faults.harness import check, run_cli

#: The lines mapping of the synthetic project, for sources rebuilt from it.
SYNTH_LINES = """[lines]
source = "{source}"
{extra}
[lines.columns]
customer = "customer_id"
item = "item_id"
time = "ts"
basket = "basket_id"
quantity = "quantity"
"""


def _project(folder: Path, source: str, extra: str = "", tail: str = "") -> str:
    (folder / "p.toml").write_text(SYNTH_LINES.format(source=source, extra=extra) + tail)
    return "p.toml"


def _synth_lines(folder: Path, rows: int = 20_000) -> pa.Table:
    return pq.read_table(folder / "synth" / "lines.parquet").slice(0, rows)


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncated":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:  # 64 bytes flipped in the middle, as a bad disk or transfer leaves them
        for k in range(len(data) // 2, len(data) // 2 + 64):
            data[k] ^= 0x5A
        path.write_bytes(bytes(data))


def _write(fmt: str, table: pa.Table, path: Path) -> None:
    if fmt == "parquet":
        pq.write_table(table, path)
    elif fmt == "ipc":
        feather.write_feather(table, path)
    elif fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        raw = path.with_suffix("")
        pacsv.write_csv(table, raw)
        with gzip.open(path, "wb") as out:
            out.write(raw.read_bytes())
        raw.unlink()


# --- damaged files of every format ----------------------------------------------------------

DAMAGED = [
    # (format, file name, how, what the first line must say)
    ("parquet", "l.parquet", "truncated", ["l.parquet' cannot be read as Parquet",
                                           "damaged or truncated"]),
    ("parquet", "l.parquet", "corrupted", ["l.parquet' cannot be read as Parquet",
                                           "damaged or truncated", "again from its origin"]),
    ("ipc", "l.arrow", "truncated", ["l.arrow' cannot be read as Arrow IPC (Feather)",
                                     "damaged or truncated"]),
    ("ipc", "l.arrow", "corrupted", ["l.arrow' cannot be read as Arrow IPC (Feather)",
                                     "damaged or truncated"]),
    ("csv_gz", "l.csv.gz", "truncated", ["l.csv.gz' cannot be read as CSV",
                                         "damaged or truncated"]),
    ("csv_gz", "l.csv.gz", "corrupted", ["l.csv.gz' cannot be read as CSV",
                                         "damaged or truncated"]),
    ("csv", "l.csv", "truncated", ["l.csv': line", "fields where the header has 7",
                                   "truncated or damaged"]),
    ("csv", "l.csv", "corrupted", ["l.csv': line", "truncated or damaged"]),
]


@pytest.mark.parametrize("fmt, name, how, fragments", [
    pytest.param(*case, id=f"{case[0]}_{case[2]}") for case in DAMAGED])
def test_damaged_files_are_named_with_what_to_do(synth, fmt, name, how, fragments):
    _write(fmt, _synth_lines(synth), synth / name)
    _damage(synth / name, how)
    run = run_cli(["profile", _project(synth, name)], synth)
    check(run, code=3, first_line=fragments)
    assert run.first_line.isprintable()  # no raw bytes of the damaged file echoed


# --- sources that read too much, or mislead ----------------------------------------------------


def _loop_folder(folder: Path) -> None:
    (folder / "d" / "a").mkdir(parents=True)
    shutil.copy(folder / "synth" / "lines.parquet", folder / "d" / "a")
    (folder / "d" / "a" / "back").symlink_to("..")


KEEP = '\n[validation]\nduplicate = "keep"\n'

SYNTH_CASES: list = [
    # The reader used to follow d/a/back -> .. some 41 times: every count 41x, exit 0.
    pytest.param(_loop_folder, ("d", "", KEEP),
                 ["d/a/back' is a symbolic link to", "a folder it is inside of",
                  "Remove the link"], id="symlink_loop_folder"),
    pytest.param(_loop_folder, ("d/**/*.parquet", "", KEEP),
                 ["reaches the same file twice", "through a symbolic link"],
                 id="symlink_loop_glob"),
    pytest.param(lambda f: (f / "d").mkdir(), ("d", 'format = "parquet"', ""),
                 ["source folder", "holds no data files"], id="empty_folder"),
    pytest.param(lambda f: pq.write_table(_synth_lines(f).slice(0, 0), f / "e.parquet"),
                 ("e.parquet", "", ""), ["no basket line is left", "0 row(s) read"],
                 id="parquet_without_rows"),
    pytest.param(lambda f: None, ("synth/lines.parquet", 'filter = "quantity > 1e9"', ""),
                 ["no basket line is left", "filter"], id="empty_after_filter"),
    pytest.param(lambda f: (f / "x.duckdb").write_text("not a database"),
                 ("x.duckdb", 'table = "lines"', ""),
                 ["cannot open DuckDB database", "x.duckdb"], id="duckdb_not_a_database"),
    pytest.param(lambda f: None, ("synth/lines.parquet", 'time_format = "%d/%m/%Q"', ""),
                 ["time_format '%d/%m/%Q'", "%Q, which is not a strptime directive"],
                 id="invalid_time_format"),
]


@pytest.mark.parametrize("setup, project, fragments", SYNTH_CASES)
def test_source_faults(synth, setup: Callable[[Path], None], project, fragments):
    setup(synth)
    check(run_cli(["profile", _project(synth, *project)], synth), code=3,
          first_line=fragments)


def _wrong_types(folder: Path, column: str, values: pa.Array) -> str:
    table = _synth_lines(folder, 100)
    table = table.set_column(table.schema.get_field_index(column), column, values)
    pq.write_table(table, folder / "w.parquet")
    return _project(folder, "w.parquet")


@pytest.mark.parametrize("column, values, fragments", [
    pytest.param("ts", pa.array(range(100)), ["column 'ts'", "cannot serve as the time"],
                 id="time_is_an_integer"),
    pytest.param("quantity", pa.array(["many"] * 100), ["column 'quantity'", "numeric"],
                 id="quantity_is_text"),
    pytest.param("item_id", pa.array([True, False] * 50), ["column 'item_id'", "type bool"],
                 id="id_is_boolean"),
    # Numbers written plainly, never as np.float64(2.5).
    pytest.param("item_id", pa.array([2.5] * 100), ["column 'item_id'", "such as 2.5 "],
                 id="id_is_fractional"),
])
def test_wrong_column_types(synth, column, values, fragments):
    run = run_cli(["profile", _wrong_types(synth, column, values)], synth)
    check(run, code=3, first_line=fragments, absent=["np.float64", "np.int64"])


# --- the shop project: messages that misled -----------------------------------------------


@pytest.mark.parametrize("edit, fragments", [
    pytest.param(lambda f: (f / "shop.toml").write_text(
        (f / "shop.toml").read_text().replace('"lines.csv"', '["lines.csv", "b.csv"]')),
        ["`source` is a list ('lines.csv', 'b.csv')", "a glob such as"], id="list_source"),
    pytest.param(lambda f: (f / "lines.csv").write_text(""),
                 ["lines.csv' is empty (0 bytes)"], id="empty_file"),
    pytest.param(lambda f: (f / "lines.csv").write_text("order,shopper,sku,at,qty\n"),
                 ["no basket line is left", "0 row(s) read"], id="header_only"),
    pytest.param(lambda f: (f / "lines.csv").write_text(
        (f / "lines.csv").read_text() + "o9,cust-x,milk,2024-03-09 12:00:00,lots\n"),
        ["column 'qty'", "line 7", "the value 'lots'"], id="csv_column_by_name"),
])
def test_shop_faults(shop, edit, fragments):
    edit(shop)
    check(run_cli(["profile", "shop.toml"], shop), code=3, first_line=fragments,
          absent=list(IDS))


@pytest.mark.parametrize("make, fragments", [
    pytest.param(lambda f: (f / "p.toml").mkdir(), ["'p.toml' is a folder, not a file"],
                 id="project_is_a_folder"),
    pytest.param(lambda f: (f / "p.toml").write_bytes(b"\xff\xfe[lines]\x00"),
                 ["p.toml: not a UTF-8 text file"], id="project_not_decodable"),
    # (a pipe is covered in tests/engine/config: the harness's snapshot would block on it)
])
def test_unreadable_project_file(tmp_path, make, fragments):
    make(tmp_path)
    check(run_cli(["profile", "p.toml"], tmp_path), code=3, first_line=fragments)


# --- sources at their limits read right ------------------------------------------------------


def _lines_at_limits(folder: Path, path: Path, customer: str) -> None:
    top, bottom = 2**63 - 1, -(2**63)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        customer: pa.array([top, top, bottom, bottom, 0], pa.int64()),
        "item_id": pa.array([bottom, top, top, 1, bottom], pa.int64()),
        "basket_id": pa.array([top, top, bottom, bottom, 7], pa.int64()),
        "ts": pa.array([dt.datetime(2024, 1, d) for d in (1, 1, 2, 2, 3)], pa.timestamp("s")),
        "quantity": pa.array([1.0] * 5),
    }), path)


@pytest.mark.parametrize("where, customer", [
    pytest.param("l.parquet", "customer_id", id="ids_at_int64_limits"),
    pytest.param("données/ß/l.parquet", "客户", id="unicode_path_and_column"),
])
def test_sources_at_their_limits_are_read_right(tmp_path, where, customer):
    _lines_at_limits(tmp_path, tmp_path / where, customer)
    text = SYNTH_LINES.format(source=where, extra="").replace('"customer_id"', f'"{customer}"')
    (tmp_path / "p.toml").write_text(text)
    run = run_cli(["profile", "p.toml"], tmp_path)
    check(run, code=0)
    counts = {ln.split()[0]: ln.split()[1] for ln in run.stdout.splitlines()[2:6]}
    assert counts == {"lines": "5", "customers": "3", "items": "3", "baskets": "3"}, run.stdout
    if customer != "customer_id":  # a unicode column is also named right when it is missing
        (tmp_path / "p.toml").write_text(text.replace(f'"{customer}"', '"客"'))
        check(run_cli(["profile", "p.toml"], tmp_path), code=3,
              first_line=["données/ß/l.parquet", "column '客'", "closest name is '客户'"])
