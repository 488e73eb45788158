"""Sources: every format and layout gives the same lines; only the needed columns
are read; every failure names the file, the key and what to do."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather  # noqa: F401  (pa.feather)
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import project_from_dict
from basketguard.engine.errors import (
    BasketguardError,
    ConfigError,
    DataError,
    InternalError,
    SchemaError,
    SourceError,
)
from basketguard.engine.histories import ingest
from basketguard.engine.io import sources
from basketguard.engine.io.sources import open_source

COLUMNS = {"customer": "customer_id", "item": "item_id", "time": "ts", "quantity": "qty"}

#: Eight lines of three customers in two countries; `extra` is never mapped.
TABLE = pa.table({
    "customer_id": ["u1", "u1", "u2", "u2", "u3", "u3", "u1", "u2"],
    "item_id": ["a", "b", "a", "c", "b", "b", "c", "a"],
    "ts": pa.array([dt.datetime(2024, 1, d, 10) for d in (1, 1, 2, 3, 4, 5, 6, 7)],
                   pa.timestamp("s")),
    "qty": pa.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 5.0, 2.0]),
    "country": ["FR", "FR", "DE", "DE", "FR", "UK", "FR", "DE"],
    "extra": [0, 1, 2, 3, 4, 5, 6, 7],
})


def _project(base: Path, lines: dict, **other):
    table = {"columns": dict(COLUMNS)}
    table.update(lines)
    return project_from_dict({"lines": table, **other}, base_dir=base, origin="shop.toml")


def _canonical(hist) -> list[tuple]:
    """Lines as (customer id, item id, day, quantity), order-free."""
    out = []
    for code, cust in enumerate(hist.customer_ids.to_pylist()):
        lines = hist.customer_lines(code)
        for item, day, qty in zip(hist.item[lines], hist.day[lines], hist.quantity[lines],
                                  strict=True):
            out.append((str(cust), hist.item_ids[int(item)].as_py(), int(day), float(qty)))
    return sorted(out)


def _write_csv(table: pa.Table, path: Path, compress: bool = False) -> None:
    if compress:
        with pa.CompressedOutputStream(str(path), "gzip") as out:
            pacsv.write_csv(table, out)
    else:
        pacsv.write_csv(table, path)


def _write_duckdb(table: pa.Table, path: Path, name: str = "lines") -> None:
    con = duckdb.connect(str(path))
    try:
        con.register("arrow_lines", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM arrow_lines")
    finally:
        con.close()


def _layout(kind: str, base: Path) -> dict:
    """Write TABLE in one layout; returns the [lines] keys that read it."""
    if kind == "parquet":
        pq.write_table(TABLE, base / "lines.parquet")
        return {"source": "lines.parquet"}
    if kind == "csv":
        _write_csv(TABLE, base / "lines.csv")
        return {"source": "lines.csv"}
    if kind == "csv_gz":
        _write_csv(TABLE, base / "lines.csv.gz", compress=True)
        return {"source": "lines.csv.gz"}
    if kind == "tsv":
        pacsv.write_csv(TABLE, base / "lines.tsv", pacsv.WriteOptions(delimiter="\t"))
        return {"source": "lines.tsv", "delimiter": "\t"}
    if kind == "ipc":
        with pa.OSFile(str(base / "lines.arrow"), "wb") as sink, \
                pa.ipc.new_file(sink, TABLE.schema) as writer:
            writer.write_table(TABLE, max_chunksize=3)
        return {"source": "lines.arrow"}
    if kind == "glob_parquet":
        (base / "parts").mkdir()
        for k, (start, stop) in enumerate([(0, 3), (3, 3), (3, 8)]):  # one part is empty
            pq.write_table(TABLE.slice(start, stop - start), base / "parts" / f"part-{k}.parquet")
        return {"source": "parts/part-*.parquet"}
    if kind == "glob_csv":
        (base / "parts").mkdir()
        _write_csv(TABLE.slice(0, 4), base / "parts" / "a.csv")
        _write_csv(TABLE.slice(4), base / "parts" / "b.csv.gz", compress=True)
        return {"source": "parts/*.csv*", "format": "csv"}
    if kind == "hive":
        pq.write_to_dataset(TABLE, base / "lines", partition_cols=["country"])
        return {"source": "lines", "partitioning": "hive"}
    if kind == "duckdb_table":
        _write_duckdb(TABLE, base / "shop.duckdb")
        return {"source": "shop.duckdb", "table": "lines"}
    if kind == "duckdb_query":
        _write_duckdb(TABLE, base / "shop.duckdb")
        return {"source": "shop.duckdb",
                "query": "SELECT l.* FROM lines AS l WHERE l.extra >= 0"}
    raise AssertionError(kind)


LAYOUTS = ["parquet", "csv", "csv_gz", "tsv", "ipc", "glob_parquet", "glob_csv", "hive",
           "duckdb_table", "duckdb_query"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("reference")
    hist = load_histories(_project(base, _layout("parquet", base)), use_cache=False)
    return _canonical(hist)


@pytest.mark.parametrize("kind", LAYOUTS)
def test_every_layout_reads_the_same_lines(tmp_path, reference, kind):
    hist = load_histories(_project(tmp_path, _layout(kind, tmp_path)), use_cache=False)
    assert _canonical(hist) == reference
    assert hist.info["rows_read"] == TABLE.num_rows


@pytest.mark.parametrize(
    ("kind", "text", "expected_rows"),
    [
        pytest.param("hive", "country == 'FR'", 4, id="hive_partition_column"),
        pytest.param("hive", "country in ['DE', 'UK']", 4, id="hive_partition_in"),
        pytest.param("hive", "country == 'NL'", 0, id="hive_partition_none"),
        pytest.param("parquet", "country == 'FR' and qty > 1", 3, id="parquet"),
        pytest.param("csv", "country == 'FR' and qty > 1", 3, id="csv"),
        pytest.param("ipc", "country != 'FR'", 4, id="ipc"),
        pytest.param("glob_parquet", "extra >= 3", 5, id="glob"),
        pytest.param("duckdb_table", "country == 'FR' and qty > 1", 3, id="duckdb_table"),
        pytest.param("duckdb_query", "col('country') == 'UK'", 1, id="duckdb_query"),
    ],
)
def test_filter_is_applied_in_every_layout(tmp_path, kind, text, expected_rows):
    lines = _layout(kind, tmp_path)
    source = open_source(_project(tmp_path, {**lines, "filter": text}).lines)
    table = source.read_table(["customer_id", "qty"])
    assert table.num_rows == expected_rows
    assert table.column_names == ["customer_id", "qty"]


def test_hive_partition_column_is_in_the_schema(tmp_path):
    source = open_source(_project(tmp_path, _layout("hive", tmp_path)).lines)
    assert "country" in source.schema.names
    assert len(source.files) == 3


def test_hidden_and_underscore_files_are_skipped_in_folders(tmp_path):
    lines = _layout("hive", tmp_path)
    (tmp_path / "lines" / "_SUCCESS").write_text("")
    (tmp_path / "lines" / ".crc").write_text("junk")
    source = open_source(_project(tmp_path, lines).lines)
    assert all(not f.name.startswith(("_", ".")) for f in source.files)
    assert source.read_table(["customer_id"]).num_rows == TABLE.num_rows


class _SpyFragment:
    """Wraps a pyarrow Fragment (one file) and records what its scan asked for."""

    def __init__(self, inner, calls: list) -> None:
        self._inner = inner
        self._calls = calls

    def scanner(self, **kwargs):
        self._calls.append(kwargs)
        return self._inner.scanner(**kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _SpyDataset:
    """Wraps a pyarrow Dataset; the source scans it file by file, each scan recorded."""

    def __init__(self, inner, calls: list) -> None:
        self._inner, self._calls = inner, calls

    def get_fragments(self, **kwargs):
        return [_SpyFragment(f, self._calls) for f in self._inner.get_fragments(**kwargs)]

    def __getattr__(self, name):
        return getattr(self._inner, name)


@pytest.fixture
def scans(monkeypatch) -> list:
    calls: list = []
    real = sources.open_source

    def spying_open(spec):
        src = real(spec)
        if src._dataset is not None:
            src._dataset = _SpyDataset(src._dataset, calls)
        return src

    monkeypatch.setattr(ingest, "open_source", spying_open)
    return calls


@pytest.mark.parametrize("kind", ["parquet", "csv", "ipc", "hive"])
def test_only_mapped_columns_are_read_and_the_filter_is_pushed_down(tmp_path, scans, kind):
    project = _project(tmp_path, {**_layout(kind, tmp_path), "filter": "country == 'FR'"})
    hist = load_histories(project, use_cache=False)
    assert hist.n_lines == 4
    (call,) = scans
    assert sorted(call["columns"]) == sorted(COLUMNS.values())  # not country, not extra
    assert call["filter"] is not None
    assert "country" in str(call["filter"])


@pytest.mark.parametrize("kind", ["duckdb_table", "duckdb_query"])
def test_duckdb_selects_only_mapped_columns_with_the_filter_as_where(tmp_path, monkeypatch,
                                                                     kind):
    seen: list[str] = []
    real = sources._duckdb_reader

    def spy(con, sql, batch_rows):
        seen.append(sql)
        return real(con, sql, batch_rows)

    monkeypatch.setattr(sources, "_duckdb_reader", spy)
    project = _project(tmp_path, {**_layout(kind, tmp_path), "filter": "country == 'FR'"})
    assert load_histories(project, use_cache=False).n_lines == 4
    sql = seen[-1]
    select = sql.split(" FROM ", 1)[0]
    assert select == 'SELECT "customer_id", "item_id", "ts", "qty"'
    assert sql.endswith("""WHERE ("country" = 'FR')""")


def test_parquet_row_groups_filter_correctly(tmp_path, scans):
    # 40 row groups of 5 rows, sorted by qty: the statistics of all but the last
    # groups exclude `qty >= 195`, so a pushed-down scan can skip them.
    n = 200
    table = pa.table({
        "customer_id": [f"u{k % 7}" for k in range(n)],
        "item_id": [f"i{k % 11}" for k in range(n)],
        "ts": pa.array([dt.datetime(2024, 1, 1) + dt.timedelta(hours=k) for k in range(n)],
                       pa.timestamp("s")),
        "qty": pa.array(np.arange(n, dtype=np.float64)),
    })
    pq.write_table(table, tmp_path / "rg.parquet", row_group_size=5)
    assert pq.ParquetFile(tmp_path / "rg.parquet").metadata.num_row_groups == 40
    project = _project(tmp_path, {"source": "rg.parquet", "filter": "qty >= 195"})
    hist = load_histories(project, use_cache=False)
    assert hist.n_lines == 5
    assert sorted(hist.quantity.tolist()) == [195.0, 196.0, 197.0, 198.0, 199.0]
    assert hist.info["rows_read"] == 5  # rows after the filter
    assert str(scans[0]["filter"]) == "(qty >= 195)"


def test_csv_ids_stay_text(tmp_path):
    (tmp_path / "lines.csv").write_text(
        "customer_id,item_id,ts,qty\n007,0042,2024-01-01,1\n7,42,2024-01-02,1\n")
    hist = load_histories(_project(tmp_path, {"source": "lines.csv"}), use_cache=False)
    assert hist.customer_ids.to_pylist() == ["007", "7"]
    assert hist.item_ids.to_pylist() == ["0042", "42"]


def test_csv_types_override(tmp_path):
    (tmp_path / "lines.csv").write_text(
        "customer_id,item_id,ts,qty\n17850.0,a,2024-01-01,1\n17851.0,b,2024-01-02,1\n")
    project = _project(tmp_path, {"source": "lines.csv", "types": {"customer_id": "float64"}})
    hist = load_histories(project, use_cache=False)
    assert hist.customer_ids.to_pylist() == [17850, 17851]


def test_fingerprint_lists_every_file(tmp_path):
    source = open_source(_project(tmp_path, _layout("glob_parquet", tmp_path)).lines)
    prints = source.fingerprint()
    assert [Path(p).name for p, _, _ in prints] == ["part-0.parquet", "part-1.parquet",
                                                    "part-2.parquet"]
    assert all(size > 0 and mtime > 0 for _, size, mtime in prints)


# --- failures ---------------------------------------------------------------------------


def _bad_source(base: Path, case: str) -> dict:
    """Write a broken source; returns the [lines] keys (and maybe columns) for it."""
    pq.write_table(TABLE, base / "lines.parquet")
    if case == "missing_file_close_name":
        return {"source": "line.parquet"}
    if case == "missing_file_no_close_name":
        return {"source": "x.pq"}
    if case == "missing_folder":
        return {"source": "nowhere/lines.parquet"}
    if case == "glob_no_match":
        return {"source": "parts/*.parquet"}
    if case == "empty_file":
        (base / "empty.csv").write_bytes(b"")
        return {"source": "empty.csv"}
    if case == "empty_folder":
        (base / "folder" / "_tmp").mkdir(parents=True)
        (base / "folder" / "_SUCCESS").write_text("")
        return {"source": "folder", "format": "parquet"}
    if case == "not_parquet":
        (base / "fake.parquet").write_text("customer_id,item_id\n")
        return {"source": "fake.parquet"}
    if case == "missing_column":
        return {"source": "lines.parquet", "columns": {**COLUMNS, "customer": "custmer_id"}}
    if case == "filter_column_missing":
        return {"source": "lines.parquet", "filter": "contry == 'FR'"}
    if case == "filter_type_mismatch":
        return {"source": "lines.parquet", "filter": "country == 1"}
    if case == "bool_id":
        pq.write_table(TABLE.append_column("flag", pa.array([True, False] * 4)),
                       base / "lines.parquet")
        return {"source": "lines.parquet", "columns": {**COLUMNS, "customer": "flag"}}
    if case == "fractional_id":
        pq.write_table(TABLE.append_column("score", pa.array([0.5] * 8)), base / "lines.parquet")
        return {"source": "lines.parquet", "columns": {**COLUMNS, "item": "score"}}
    if case == "integral_float_id_is_fine":  # must NOT fail: 1.0 is the id 1
        return {"source": "lines.parquet", "columns": {**COLUMNS, "item": "qty"}}
    if case == "text_quantity_parquet":
        return {"source": "lines.parquet", "columns": {**COLUMNS, "quantity": "country"}}
    if case == "text_quantity_csv":
        (base / "q.csv").write_text("customer_id,item_id,ts,qty\nu1,a,2024-01-01,one\n")
        return {"source": "q.csv"}
    if case == "int_time":
        return {"source": "lines.parquet", "columns": {**COLUMNS, "time": "extra"}}
    if case == "bad_type_name":
        (base / "lines.csv").write_text("customer_id,item_id,ts,qty\nu1,a,2024-01-01,1\n")
        return {"source": "lines.csv", "types": {"qty": "numeric"}}
    if case == "duckdb_missing_db":
        return {"source": "nope.duckdb", "table": "lines"}
    if case == "duckdb_missing_table":
        _write_duckdb(TABLE, base / "shop.duckdb")
        return {"source": "shop.duckdb", "table": "line"}
    if case == "duckdb_bad_query":
        _write_duckdb(TABLE, base / "shop.duckdb")
        return {"source": "shop.duckdb", "query": "SELEC * FROM lines"}
    if case == "duckdb_not_a_database":
        (base / "shop.duckdb").write_text("not a database")
        return {"source": "shop.duckdb", "table": "lines"}
    if case == "header_only":
        (base / "h.csv").write_text("customer_id,item_id,ts,qty\n")
        return {"source": "h.csv"}
    raise AssertionError(case)


#: (id, error class or None for a case that must NOT fail, parts the message must
#: contain, parts it must NOT contain).
FAILURES = [
    ("missing_file_close_name", SourceError,
     ["line.parquet", "does not exist", "Did you mean 'lines.parquet'?", "relative"], []),
    ("missing_file_no_close_name", SourceError, ["x.pq", "does not exist"],
     ["Did you mean"]),
    ("missing_folder", SourceError, ["nowhere", "does not exist"], ["Did you mean"]),
    ("glob_no_match", SourceError, ["parts/*.parquet", "matches no file"], []),
    ("empty_file", SourceError, ["empty.csv", "is empty (0 bytes)"], []),
    ("empty_folder", SourceError, ["folder", "holds no data files"], []),
    ("not_parquet", SourceError,
     ["fake.parquet", "as Parquet", "damaged or truncated", "`format`"], []),
    ("missing_column", SchemaError,
     ["column 'custmer_id'", "shop.toml [lines] columns.customer",
      "The closest name is 'customer_id'",
      "Available columns: customer_id, item_id, ts, qty, country, extra"], []),
    ("filter_column_missing", SchemaError,
     ["column 'contry'", "shop.toml [lines] filter", "The closest name is 'country'"], []),
    ("filter_type_mismatch", SourceError, ["lines.parquet", "fix the filter"], []),
    ("bool_id", SchemaError, ["column 'flag'", "type bool", "customer id"], []),
    ("fractional_id", SchemaError, ["column 'score'", "item id", "non-integral", "0.5"], []),
    ("integral_float_id_is_fine", None, [], []),
    ("text_quantity_parquet", SchemaError, ["column 'country'", "quantity", "numeric"], []),
    ("text_quantity_csv", SourceError, ["q.csv", "'one'"], []),
    ("int_time", SchemaError, ["column 'extra'", "cannot serve as the time"], []),
    ("bad_type_name", ConfigError, ["types.qty = 'numeric'", "not an Arrow type"], []),
    ("duckdb_missing_db", SourceError, ["nope.duckdb", "does not exist"], []),
    ("duckdb_missing_table", SourceError,
     ["table 'line'", "Did you mean 'lines'?", "Tables: lines"], []),
    ("duckdb_bad_query", SourceError, ["DuckDB cannot run the query"], []),
    ("duckdb_not_a_database", SourceError, ["cannot open DuckDB database", "shop.duckdb"], []),
    ("header_only", DataError, ["no basket line is left", "0 row(s) read"], []),
]


@pytest.mark.parametrize(("case", "error", "parts", "absent"),
                         [pytest.param(*c, id=c[0]) for c in FAILURES])
def test_source_failures_are_clear(tmp_path, case, error, parts, absent):
    lines = _bad_source(tmp_path, case)
    columns = lines.pop("columns", COLUMNS)
    if error is None:
        load_histories(_project(tmp_path, {**lines, "columns": columns}), use_cache=False)
        return
    with pytest.raises(error) as info:
        project = _project(tmp_path, {**lines, "columns": columns})
        load_histories(project, use_cache=False)
    message = str(info.value)
    assert message.startswith("shop.toml [lines]")
    for part in parts:
        assert part in message
    for part in absent:
        assert part not in message


def _mixed_id_files(base: Path, text_first: bool) -> dict:
    ints = pa.table({"customer_id": [1, 2], "item_id": ["a", "b"],
                     "ts": pa.array([dt.datetime(2024, 1, 1)] * 2, pa.timestamp("s")),
                     "qty": [1.0, 1.0]})
    texts = ints.set_column(0, "customer_id", pa.array(["x", "y"]))
    (base / "parts").mkdir()
    pq.write_table(texts if text_first else ints, base / "parts" / "a.parquet")
    pq.write_table(ints if text_first else texts, base / "parts" / "b.parquet")
    return {"source": "parts/*.parquet"}


def test_mixed_int_and_text_ids_across_files_are_an_error(tmp_path):
    with pytest.raises(BasketguardError) as info:
        load_histories(_project(tmp_path, _mixed_id_files(tmp_path, text_first=False)),
                       use_cache=False)
    assert "a.parquet" in str(info.value) and "b.parquet" in str(info.value)


def test_mixed_ids_message_names_the_column(tmp_path):
    with pytest.raises(BasketguardError, match="customer_id"):
        load_histories(_project(tmp_path, _mixed_id_files(tmp_path, text_first=False)),
                       use_cache=False)


def test_mixed_ids_with_text_first_are_also_an_error(tmp_path):
    # The first file's schema would win silently; the files must agree instead.
    with pytest.raises(BasketguardError, match="customer_id"):
        load_histories(_project(tmp_path, _mixed_id_files(tmp_path, text_first=True)),
                       use_cache=False)


def test_gzip_csv_is_really_compressed(tmp_path):
    _layout("csv_gz", tmp_path)
    with gzip.open(tmp_path / "lines.csv.gz", "rt") as fh:
        assert fh.readline().startswith('"customer_id"')


# --- the files read are the files resolved (issue 14) -------------------------------------


def _folder_with(base: Path, link: str | None = None) -> dict:
    """TABLE in folder/a/lines.parquet; ``link`` adds a symbolic link (name -> target)."""
    (base / "folder" / "a").mkdir(parents=True)
    pq.write_table(TABLE, base / "folder" / "a" / "lines.parquet")
    if link == "loop":
        (base / "folder" / "a" / "back").symlink_to("..")
    elif link == "same_file":
        (base / "folder" / "copy.parquet").symlink_to("a/lines.parquet")
    elif link == "same_folder":
        (base / "folder" / "b").symlink_to("a")
    elif link == "broken":
        (base / "folder" / "gone.parquet").symlink_to("nowhere.parquet")
    elif link == "outside":  # a linked folder outside the source is read, once
        (base / "more").mkdir()
        pq.write_table(TABLE.slice(0, 3), base / "more" / "part.parquet")
        (base / "folder" / "more").symlink_to(base / "more")
    return {"source": "folder"}


@pytest.mark.parametrize("link, parts", [
    pytest.param("loop", ["folder/a/back' is a symbolic link to", "a folder it is inside of",
                          "Remove the link"], id="link_loop"),
    pytest.param("same_file", ["reaches the same file twice", "copy.parquet",
                               "counted twice"], id="link_to_a_file_twice"),
    pytest.param("same_folder", ["reaches the same file twice", "folder/b'"],
                 id="link_to_a_folder_twice"),
    pytest.param("broken", ["gone.parquet", "broken symbolic link", "nowhere.parquet"],
                 id="broken_link"),
])
def test_links_that_would_read_a_file_twice_or_lose_one_are_errors(tmp_path, link, parts):
    lines = _folder_with(tmp_path, link)
    with pytest.raises(SourceError) as info:
        open_source(_project(tmp_path, lines).lines)
    for part in parts:
        assert part in str(info.value)


def test_a_glob_through_a_link_loop_is_an_error(tmp_path):
    _folder_with(tmp_path, "loop")  # `**` follows the loop some 40 levels deep
    with pytest.raises(SourceError, match="reaches the same file twice"):
        open_source(_project(tmp_path, {"source": "folder/**/*.parquet"}).lines)


def test_a_linked_folder_is_read_once_and_fingerprinted(tmp_path):
    source = open_source(_project(tmp_path, _folder_with(tmp_path, "outside")).lines)
    assert [f.relative_to(tmp_path).as_posix() for f in source.files] == [
        "folder/a/lines.parquet", "folder/more/part.parquet"]
    assert source.read_table(["customer_id"]).num_rows == TABLE.num_rows + 3
    assert len(source.fingerprint()) == 2


@pytest.mark.parametrize("kind", ["parquet", "glob_parquet", "glob_csv", "hive"])
def test_the_dataset_reads_exactly_the_fingerprinted_files(tmp_path, kind):
    lines = _layout(kind, tmp_path)
    if kind == "hive":  # junk pyarrow's own discovery would skip or read differently
        (tmp_path / "lines" / "_temporary" / "country=XX").mkdir(parents=True)
        pq.write_table(TABLE, tmp_path / "lines" / "_temporary" / "country=XX" / "p.parquet")
    source = open_source(_project(tmp_path, lines).lines)
    assert list(source._dataset.files) == [str(f) for f in source.files]
    assert [p for p, _, _ in source.fingerprint()] == [str(f.resolve()) for f in source.files]
    assert source.read_table(["customer_id"]).num_rows == TABLE.num_rows


def test_hive_partitions_start_at_the_source_folder(tmp_path):
    # A `key=value` folder above the source must not become a partition column.
    base = tmp_path / "year=2024"
    base.mkdir()
    source = open_source(_project(base, _layout("hive", base)).lines)
    assert "year" not in source.schema.names
    assert "country" in source.schema.names


def test_a_fingerprint_of_other_files_than_the_reader_reads_is_a_bug(tmp_path):
    source = open_source(_project(tmp_path, _layout("glob_parquet", tmp_path)).lines)
    source.files = source.files[:-1]
    with pytest.raises(InternalError):
        source.fingerprint()


# --- damaged files are named as such ------------------------------------------------------


def _damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "truncate":
        path.write_bytes(bytes(data[: len(data) // 2]))
    else:
        for k in range(len(data) // 2, len(data) // 2 + 64):
            data[k] ^= 0x5A
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("kind, how", [
    pytest.param(k, h, id=f"{k}_{h}") for k in ("parquet", "ipc", "csv_gz")
    for h in ("truncate", "corrupt")
])
def test_damaged_files_are_named_damaged_or_truncated(tmp_path, kind, how):
    big = pa.concat_tables([TABLE] * 500)
    lines = {"parquet": lambda: pq.write_table(big, tmp_path / "l.parquet"),
             "ipc": lambda: pa.feather.write_feather(big, tmp_path / "l.arrow"),
             "csv_gz": lambda: _write_csv(big, tmp_path / "l.csv.gz", compress=True)}
    lines[kind]()
    name = {"parquet": "l.parquet", "ipc": "l.arrow", "csv_gz": "l.csv.gz"}[kind]
    _damage(tmp_path / name, how)
    with pytest.raises(SourceError) as info:
        load_histories(_project(tmp_path, {"source": name}), use_cache=False)
    message = str(info.value)
    assert f"{tmp_path / name}' cannot be read as" in message
    assert "damaged or truncated" in message and "again from its origin" in message
    assert message.isprintable()


def test_a_damaged_file_among_many_is_the_one_named(tmp_path):
    _layout("glob_parquet", tmp_path)
    _damage(tmp_path / "parts" / "part-2.parquet", "corrupt")
    with pytest.raises(SourceError, match="part-2.parquet' cannot be read as Parquet"):
        load_histories(_project(tmp_path, {"source": "parts/*.parquet"}), use_cache=False)


@pytest.mark.parametrize("row, parts, absent", [
    pytest.param("u9,a,2024-01-09,one", ["column 'qty'", "line 3", "the value 'one'",
                                         "types.qty"], ["#3"], id="bad_number"),
    pytest.param("u9,a", ["line 3 has 2 fields where the header has 4", "`delimiter`"],
                 ["u9"], id="short_row"),
    pytest.param("secret-id,a,2024-01-09,1", ["column 'customer_id'", "line 3",
                                              "is not int64"], ["secret-id"],
                 id="id_value_never_shown"),
])
def test_csv_errors_name_the_column_and_line(tmp_path, row, parts, absent):
    (tmp_path / "l.csv").write_text(f"customer_id,item_id,ts,qty\n7,a,2024-01-01,1\n{row}\n")
    types = {"customer_id": "int64"} if "secret" in row else {}
    with pytest.raises(SourceError) as info:
        load_histories(_project(tmp_path, {"source": "l.csv", "types": types}),
                       use_cache=False)
    for part in parts:
        assert part in str(info.value)
    for part in absent:
        assert part not in str(info.value)


def test_csv_that_is_not_utf8_says_so(tmp_path):
    (tmp_path / "l.csv").write_bytes(b"customer_id,item_id,ts,qty\nu1,caf\xe9,2024-01-01,1\n")
    with pytest.raises(SourceError, match="column 'item_id' holds text that is not UTF-8"):
        load_histories(_project(tmp_path, {"source": "l.csv"}), use_cache=False)


@pytest.mark.parametrize("n_parts, seed", [(1, 0), (3, 0), (4, 2**64 - 1)])
@pytest.mark.parametrize("column", ["customer_id", "extra"])
def test_duckdb_partitions_split_the_rows_in_the_query(tmp_path, n_parts, seed, column):
    """The partitions of a database source are disjoint, cover every row, and put null ids
    in partition 0; the filter still applies."""
    from basketguard.engine.config.project import SourceSpec

    table = TABLE.append_column("maybe", pa.array([None if i % 3 == 0 else f"c{i % 4}"
                                                   for i in range(TABLE.num_rows)]))
    _write_duckdb(table, tmp_path / "shop.duckdb")
    spec = SourceSpec(role="lines", location=str(tmp_path / "shop.duckdb"), base_dir=tmp_path,
                      format="duckdb", table="lines", origin="shop.toml [lines]")
    source = open_source(spec)
    assert source.splits_in_sql
    cols = list(dict.fromkeys([column, "maybe", "extra"]))
    whole = sorted(map(str, source.read_table(cols).to_pylist()))
    for key in (column, "maybe"):
        parts = [pa.Table.from_batches(list(source.batches(cols, partition=(key, p, n_parts,
                                                                            seed))),
                                       schema=source.read_table(cols).schema)
                 for p in range(n_parts)]
        assert sorted(str(r) for t in parts for r in t.to_pylist()) == whole
        for p, t in enumerate(parts):
            if p:
                assert t.column(key).null_count == 0
        ids = [set(t.column(key).drop_null().to_pylist()) for t in parts]
        assert sum(len(s) for s in ids) == len(set().union(*ids))  # an id in one part only
    pq.write_table(table, tmp_path / "x.parquet")
    files = open_source(SourceSpec(role="lines", location=str(tmp_path / "x.parquet"),
                                   base_dir=tmp_path, format="parquet", origin="o"))
    assert not files.splits_in_sql
    with pytest.raises(ValueError, match="database source"):
        list(files.batches(cols, partition=(column, 0, 2, 0)))


@pytest.mark.parametrize("kind", ["duckdb_table", "duckdb_query"])
def test_a_partition_of_a_database_source_is_selected_by_the_database(tmp_path, monkeypatch,
                                                                      kind):
    """Reading one partition of a database source never hashes rows in Python (the query
    keeps them), and the partitions hold every line once."""
    proj = _project(tmp_path, _layout(kind, tmp_path))

    def boom(*_a, **_k):
        raise AssertionError("a database source was split in Python")

    monkeypatch.setattr(ingest, "customer_partition", boom)
    policy = proj.validation
    got = []
    for p in range(3):
        state, chunks = ingest.stream_lines(proj.lines, policy, partition=(p, 3, 9))
        got += [len(c) for c in chunks]
    assert sum(got) == TABLE.num_rows
