"""Write-back of results (:mod:`basketguard.engine.io.writeback`) to a real PostgreSQL
server and real DuckDB files: what is written comes back row for row; an existing table
is refused without ``replace`` and swapped in one transaction with it; a source table is
never a target; a swap that fails after the new table is filled leaves the old table as
it was and no temporary table behind; a role that may not create tables, a locked DuckDB
file and a lines source that is a file are clear errors.

PostgreSQL tables are named ``t_wh_io_*`` in the session's shared server (dropped at the
end of the module); every DuckDB database is a file of the test's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from basketguard.engine.config.project import Project, project_from_dict
from basketguard.engine.errors import ConfigError, OutputError, SourceError
from basketguard.engine.io.writeback import check_target, table_target, write_table

PREFIX = "t_wh_io_"
#: Where the temporary table of a write has its name (``<name>__basketguard_<hex>``).
TEMP_MARK = "__basketguard_"
OPTION = "--findings-table"
COLUMNS = {"customer": "customer_id", "item": "item_id", "time": "ts"}


#: A little of every type a result holds, and the ones ``_normalized`` converts
#: (dictionary, null type, large string), with nulls and an empty list.
EVERY_TYPE = pa.table({
    "k": pa.array([1, 2, 3], pa.int64()),
    "i32": pa.array([1, None, -7], pa.int32()),
    "i8": pa.array([1, None, -3], pa.int8()),
    "f64": pa.array([0.1, None, float("inf")]),
    "f32": pa.array([0.1, 2.5, None], pa.float32()),
    "text": pa.array(["a", None, "ü'\"\\,{}"]),
    "large": pa.array(["x", "y", None], pa.large_string()),
    "dict": pa.array(["p", "q", None]).dictionary_encode(),
    "nothing": pa.nulls(3),
    "flag": pa.array([True, None, False]),
    "day": pa.array([dt.date(2024, 1, 1), None, dt.date(1999, 12, 31)], pa.date32()),
    "at": pa.array([dt.datetime(2024, 1, 1, 8, 30, tzinfo=dt.UTC), None,
                    dt.datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=dt.UTC)],
                   pa.timestamp("ms", "UTC")),
    "names": pa.array([["a", "b"], [], None], pa.list_(pa.string())),
})
#: A table as files and streams give it: chunks, one of them empty, and slices.
CHUNKED = pa.concat_tables([EVERY_TYPE.slice(0, 1), EVERY_TYPE.slice(1, 0),
                            EVERY_TYPE.slice(1, 2)])
OLD = pa.table({"k": [1, 2], "old": ["kept", "as it was"]})
NEW = pa.table({"k": [7, 8, 9], "new": [0.5, 1.5, 2.5]})
SOURCE_ROWS = pa.table({
    "customer_id": pa.array([1, 1, 2], pa.int64()),
    "item_id": pa.array([10, 11, 10], pa.int32()),
    "ts": pa.array([dt.datetime(2024, 3, d, tzinfo=dt.UTC) for d in (1, 2, 3)],
                   pa.timestamp("us", "UTC")),
})
CATALOG_ROWS = pa.table({"item_id": pa.array([10, 11], pa.int32()), "name": ["milk", "tea"]})


def _plain(t: pa.DataType) -> pa.DataType:
    """The type a written column is stored as: no dictionary, no null type, no large string."""
    if pa.types.is_dictionary(t):
        return _plain(t.value_type)
    if pa.types.is_null(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_list(t):
        return pa.list_(_plain(t.value_type))
    return t


def compatible(read: pa.DataType, written: pa.DataType) -> bool:
    """Whether a column read back holds what was written, without loss.

    Integers may come back wider (PostgreSQL has no one-byte integer); timestamps
    in another unit or zone name (the instants are compared with the values);
    list field names and driver metadata are ignored.
    """
    want = _plain(written)
    if pa.types.is_integer(want):
        return (pa.types.is_signed_integer(read) == pa.types.is_signed_integer(want)
                and pa.types.is_integer(read) and read.bit_width >= want.bit_width)
    if pa.types.is_timestamp(want):
        return pa.types.is_timestamp(read) and (read.tz is None) == (want.tz is None)
    if pa.types.is_list(want):
        return pa.types.is_list(read) and compatible(read.value_type, want.value_type)
    return read.equals(want, check_metadata=False)


def assert_same_rows(got: pa.Table | None, want: pa.Table, keys: list[str]) -> None:
    """``got`` holds ``want``'s rows (in any order), column for column, type-compatible."""
    assert got is not None, "the table is missing"
    assert got.column_names == want.column_names
    for name in want.column_names:
        read, written = got.schema.field(name).type, want.schema.field(name).type
        assert compatible(read, written), f"{name}: wrote {written}, read back {read}"

    def rows(t: pa.Table) -> list[dict]:
        return sorted(t.to_pylist(), key=lambda r: [(r[k] is None, r[k]) for k in keys])

    expected = rows(want)
    assert len({tuple(r[k] for k in keys) for r in expected}) == len(expected), \
        f"{keys} do not identify the rows"
    assert rows(got) == expected


def quoted(name: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


class Warehouse:
    """A database that a project's [lines] source reads, seen from the test's side."""

    kind = ""
    schema = ""

    def __init__(self, project: Project) -> None:
        self.project = project

    def write(self, name: str, table: pa.Table, replace: bool = False) -> int:
        return write_table(table_target(self.project, name, OPTION), table, replace)

    def check(self, name: str, replace: bool = False) -> None:
        check_target(table_target(self.project, name, OPTION), replace)

    def read(self, name: str) -> pa.Table | None:
        raise NotImplementedError

    def make(self, name: str, table: pa.Table) -> None:
        raise NotImplementedError

    def execute(self, sql: str) -> None:
        raise NotImplementedError

    def leftovers(self) -> list[str]:
        raise NotImplementedError


class Postgres(Warehouse):
    kind = "postgresql"
    schema = "public"

    def __init__(self, project: Project, server) -> None:
        super().__init__(project)
        self.server = server

    def read(self, name):
        found = self.server.query(f"SELECT to_regclass('{quoted(name)}')::text AS t")
        if found.column("t")[0].as_py() is None:
            return None
        return self.server.query(f"SELECT * FROM {quoted(name)}")

    def make(self, name, table):
        self.server.load_arrow(name, table, role="bg_writer")

    def execute(self, sql):
        self.server.execute(sql, role="bg_writer")

    def leftovers(self):
        got = self.server.query(
            "SELECT schemaname || '.' || tablename AS t FROM pg_tables WHERE "
            f"strpos(tablename, '{TEMP_MARK}') > 0 AND tablename LIKE 't\\_wh\\_%'")
        return got.column("t").to_pylist()


class DuckDB(Warehouse):
    kind = "duckdb"
    schema = "main"

    def __init__(self, project: Project, path: Path) -> None:
        super().__init__(project)
        self.path = path

    def read(self, name):
        with duckdb.connect(str(self.path), read_only=True) as con:
            schema, _, table = name.rpartition(".")
            found = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND "
                                "schema_name = ?", [table, schema or "main"]).fetchall()
            if not found[0][0]:
                return None
            return con.sql(f"SELECT * FROM {quoted(name)}").to_arrow_table()

    def make(self, name, table):
        with duckdb.connect(str(self.path)) as con:
            con.register("new_rows", table)
            con.execute(f"CREATE TABLE {quoted(name)} AS SELECT * FROM new_rows")

    def execute(self, sql):
        with duckdb.connect(str(self.path)) as con:
            con.execute(sql)

    def leftovers(self):
        with duckdb.connect(str(self.path), read_only=True) as con:
            got = con.execute("SELECT schema_name || '.' || table_name FROM duckdb_tables() "
                              "WHERE contains(table_name, ?)", [TEMP_MARK]).fetchall()
        return [r[0] for r in got]


def unique(tag: str) -> str:
    return f"{PREFIX}{tag}_{uuid.uuid4().hex[:8]}"


def _lines_and_catalog(lines: dict, catalog: dict, base: Path) -> Project:
    return project_from_dict({
        "project": {"name": "writeback"},
        "lines": {**lines, "columns": dict(COLUMNS)},
        "catalog": {**catalog, "columns": {"item": "item_id", "name": "name"}},
    }, base_dir=base, origin="wh.toml")


@pytest.fixture(scope="module")
def pg_sources(pg_server):
    """The shared server with this module's source tables (owned by bg_admin) and a
    schema of bg_writer's; every ``t_wh_io_`` table is dropped at the end."""
    pg_server.load_arrow(f"{PREFIX}lines", SOURCE_ROWS)
    pg_server.load_arrow(f"{PREFIX}catalog", CATALOG_ROWS)
    pg_server.execute(f"CREATE SCHEMA {PREFIX}s AUTHORIZATION bg_writer")
    yield pg_server
    pg_server.execute(f"DROP SCHEMA {PREFIX}s CASCADE")
    names = pg_server.query("SELECT quote_ident(tablename) AS t FROM pg_tables WHERE "
                            "schemaname = 'public' AND tablename LIKE 't\\_wh\\_io\\_%'")
    for name in names.column("t").to_pylist():
        pg_server.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


def postgres_warehouse(server, tmp_path: Path, role: str = "bg_writer") -> Postgres:
    # The catalog is named with its schema: a bare target name must still match it.
    uri = server.uri(role)
    project = _lines_and_catalog(
        {"format": "postgresql", "source": uri, "table": f"{PREFIX}lines"},
        {"format": "postgresql", "source": uri, "table": f"public.{PREFIX}catalog"}, tmp_path)
    return Postgres(project, server)


def duckdb_warehouse(tmp_path: Path) -> DuckDB:
    path = tmp_path / "wh.duckdb"
    project = _lines_and_catalog({"source": "wh.duckdb", "table": f"{PREFIX}lines"},
                                 {"source": "wh.duckdb", "table": f"{PREFIX}catalog"}, tmp_path)
    wh = DuckDB(project, path)
    wh.make(f"{PREFIX}lines", SOURCE_ROWS)
    wh.make(f"{PREFIX}catalog", CATALOG_ROWS)
    return wh


def _warehouse(request, tmp_path: Path) -> Warehouse:
    if request.param == "postgresql":
        return postgres_warehouse(request.getfixturevalue("pg_sources"), tmp_path)
    return duckdb_warehouse(tmp_path)


@pytest.fixture(params=["postgresql", "duckdb"])
def warehouse(request, tmp_path) -> Warehouse:
    """Either database, for what is refused before anything is written."""
    return _warehouse(request, tmp_path)


@pytest.fixture(params=["postgresql", "duckdb"])
def writing(request, tmp_path) -> Warehouse:
    """Either database, for writes that must succeed."""
    return _warehouse(request, tmp_path)


@pytest.fixture
def pg(pg_sources, tmp_path) -> Postgres:
    return postgres_warehouse(pg_sources, tmp_path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- what is written comes back ---------------------------------------------------------


@pytest.mark.parametrize("table", [EVERY_TYPE, CHUNKED, EVERY_TYPE.slice(0, 0)],
                         ids=["every-type", "chunked-with-empty-chunk", "no-rows"])
def test_a_result_comes_back_row_for_row(writing, table):
    name = unique("rows")
    assert writing.write(name, table) == table.num_rows
    assert_same_rows(writing.read(name), table, keys=["k"])
    assert writing.leftovers() == []


def test_a_missing_target_is_not_created_by_the_check(warehouse):
    name = unique("checked")
    warehouse.check(name)
    warehouse.check(name, replace=True)
    assert warehouse.read(name) is None


def test_an_existing_table_is_refused_without_replace(warehouse):
    name = unique("exists")
    warehouse.make(name, OLD)
    for attempt in (lambda: warehouse.check(name), lambda: warehouse.write(name, NEW)):
        with pytest.raises(OutputError) as err:
            attempt()
        text = str(err.value)
        assert f"{OPTION} {name!r}" in text and "--replace" in text and "exists" in text
    assert_same_rows(warehouse.read(name), OLD, keys=["k"])
    assert warehouse.leftovers() == []


def test_replace_swaps_in_the_new_table(writing):
    name = unique("swap")
    writing.make(name, OLD)
    writing.check(name, replace=True)
    assert writing.write(name, NEW, replace=True) == 3
    assert_same_rows(writing.read(name), NEW, keys=["k"])
    assert writing.leftovers() == []


def test_a_table_in_another_schema(writing):
    schema = f"{PREFIX}s"
    if writing.kind == "duckdb":
        writing.execute(f"CREATE SCHEMA {schema}")
    name = f"{schema}.{unique('res')}"
    writing.write(name, OLD)
    with pytest.raises(OutputError, match="--replace"):
        writing.write(name, NEW)
    writing.write(name, NEW, replace=True)
    assert_same_rows(writing.read(name), NEW, keys=["k"])
    assert writing.read(name.split(".", 1)[1]) is None  # not in the default schema
    assert writing.leftovers() == []


def test_a_missing_schema_is_a_clear_error(writing):
    with pytest.raises(OutputError) as err:
        writing.write(f"{PREFIX}nosuch.res", NEW)
    text = str(err.value)
    assert f"{PREFIX}nosuch" in text and "does not exist" in text
    assert "nothing was written" in text.lower()
    assert writing.leftovers() == []


# --- what is never written ------------------------------------------------------------


def _source_name(kind: str, which: str) -> str:
    schema = "public" if kind == "postgresql" else "main"
    return {"lines": f"{PREFIX}lines", "schema.lines": f"{schema}.{PREFIX}lines",
            "catalog": f"{PREFIX}catalog", "schema.catalog": f"{schema}.{PREFIX}catalog",
            # a bare source name matches that table in any schema (refused to be safe)
            "other-schema.lines": f"{PREFIX}s.{PREFIX}lines"}[which]


@pytest.mark.parametrize("which, replace", [
    ("lines", False), ("schema.lines", True), ("catalog", True),
    ("schema.catalog", True), ("other-schema.lines", True)])
def test_a_source_table_is_never_a_target(warehouse, which, replace):
    name = _source_name(warehouse.kind, which)
    for attempt in (lambda: warehouse.check(name, replace),
                    lambda: warehouse.write(name, NEW, replace)):
        with pytest.raises(OutputError) as err:
            attempt()
        assert f"{OPTION} {name!r}" in str(err.value)
        assert "source table of this project" in str(err.value)
    assert_same_rows(warehouse.read(f"{PREFIX}lines"), SOURCE_ROWS, keys=["ts"])
    assert_same_rows(warehouse.read(f"{PREFIX}catalog"), CATALOG_ROWS, keys=["item_id"])
    assert warehouse.leftovers() == []


def test_results_need_a_database_lines_source(tmp_path):
    project = project_from_dict({"lines": {"source": "lines.parquet", "columns": COLUMNS}},
                                base_dir=tmp_path, origin="files.toml")
    with pytest.raises(ConfigError) as err:
        table_target(project, "findings", OPTION)
    text = str(err.value)
    assert "--findings-table 'findings'" in text and "files.toml [lines]" in text
    assert "parquet file" in text and "--out, --scores" in text


@pytest.mark.parametrize("name", ["", " ", "a.b.c", ".t", "t.", "a..b", "s. "])
def test_a_target_is_table_or_schema_dot_table(tmp_path, name):
    wh = duckdb_warehouse(tmp_path)
    with pytest.raises(ConfigError, match="give a table name, `table` or `schema.table`"):
        table_target(wh.project, name, OPTION)


def test_a_role_without_create_writes_nothing(pg_sources, tmp_path):
    reader = postgres_warehouse(pg_sources, tmp_path, role="bg_reader")
    name = unique("denied")
    with pytest.raises(OutputError) as err:
        reader.write(name, NEW)
    text = str(err.value)
    assert "permission denied" in text and "CREATE on the schema" in text
    assert f"{name!r}" in text and "Nothing was written." in text
    assert pg_sources.roles["bg_reader"] not in text
    assert reader.read(name) is None
    assert reader.leftovers() == []


# --- a swap that fails changes nothing ---------------------------------------------------


@pytest.mark.parametrize("blocker", ["dependent-view", "not-the-owner"])
def test_a_failed_postgresql_swap_keeps_the_old_table(pg, blocker):
    # Both fail at DROP TABLE, after the new rows are in the temporary table.
    name = unique("keep")
    if blocker == "dependent-view":
        pg.make(name, OLD)
        pg.execute(f"CREATE VIEW {name}_v AS SELECT * FROM {name}")
        cause = "other objects depend on it"
    else:
        pg.server.load_arrow(name, OLD)  # owned by bg_admin: bg_writer may not drop it
        cause = "must be owner"
    with pytest.raises(OutputError) as err:
        pg.write(name, NEW, replace=True)
    assert cause in str(err.value) and "Nothing was written." in str(err.value)
    assert_same_rows(pg.read(name), OLD, keys=["k"])
    if blocker == "dependent-view":
        assert_same_rows(pg.read(f"{name}_v"), OLD, keys=["k"])
    assert pg.leftovers() == []


def test_a_failed_duckdb_swap_keeps_the_old_table(tmp_path):
    # DuckDB drops a table with views on it; a foreign key to it blocks the DROP TABLE.
    wh = duckdb_warehouse(tmp_path)
    name, child = unique("keep"), unique("child")
    wh.execute(f"CREATE TABLE {name} (k BIGINT PRIMARY KEY, old VARCHAR)")
    wh.execute(f"INSERT INTO {name} VALUES (1, 'kept'), (2, 'as it was')")
    wh.execute(f"CREATE TABLE {child} (k BIGINT REFERENCES {name} (k))")
    with pytest.raises(OutputError) as err:
        wh.write(name, NEW, replace=True)
    assert child in str(err.value) and "nothing was written" in str(err.value)
    assert wh.read(name).to_pylist() == OLD.to_pylist()
    assert wh.leftovers() == []


def test_readers_see_the_old_table_until_the_swap_commits(pg, monkeypatch):
    import adbc_driver_manager
    from adbc_driver_manager import dbapi

    name = unique("readers")
    pg.make(name, OLD)
    seen: dict[str, object] = {}
    execute = dbapi.Cursor.execute

    def blocked_read() -> str:
        with pg.server.connect() as con, con.cursor() as cur:
            cur.execute("SET lock_timeout = '200ms'")
            try:
                cur.execute(f"SELECT count(*) FROM {name}")
            except adbc_driver_manager.Error as exc:
                return str(exc)
            return f"read {cur.fetchall()}"

    def spy(self, operation, parameters=None):
        if isinstance(operation, str) and operation.startswith("DROP TABLE"):
            seen["before drop"] = (pg.read(name), pg.leftovers())
        elif isinstance(operation, str) and " RENAME TO " in operation:
            seen["dropped, not committed"] = blocked_read()
        return execute(self, operation, parameters)

    monkeypatch.setattr(dbapi.Cursor, "execute", spy)
    pg.write(name, NEW, replace=True)
    monkeypatch.undo()
    before, temps = seen["before drop"]
    assert_same_rows(before, OLD, keys=["k"])  # the new rows are filled, not visible
    assert temps == []  # the temporary table is not visible outside the transaction
    assert "lock timeout" in seen["dropped, not committed"]  # a reader waits: no gap
    assert_same_rows(pg.read(name), NEW, keys=["k"])


# --- DuckDB files ----------------------------------------------------------------------


def test_duckdb_refusals_leave_the_file_as_it_was(tmp_path):
    # The check opens the file for writing (to hold it from the start): it writes nothing.
    wh = duckdb_warehouse(tmp_path)
    name = unique("exists")
    wh.make(name, OLD)
    before = sha256(wh.path)
    wh.check(unique("new"))
    for target, replace in ((name, False), (f"{PREFIX}lines", True)):
        with pytest.raises(OutputError):
            wh.write(target, NEW, replace)
    assert sha256(wh.path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wh.duckdb"]  # no .wal left


_HOLD = ("import duckdb, sys\n"
         "con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == 'ro')\n"
         "print('open', flush=True)\n"
         "sys.stdin.read()\n")


@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_a_duckdb_file_another_process_holds_is_a_clear_error(tmp_path, mode):
    wh = duckdb_warehouse(tmp_path)
    with subprocess.Popen([sys.executable, "-c", _HOLD, str(wh.path), mode],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(SourceError) as err:
            wh.check(unique("locked"))
        holder.stdin.close()
    text = str(err.value)
    assert f"{OPTION} '{PREFIX}locked_" in text and str(wh.path) in text
    assert "lock" in text and "Another process may hold it open." in text


def test_a_duckdb_file_open_read_only_in_this_process_is_a_clear_error(tmp_path):
    wh = duckdb_warehouse(tmp_path)
    with duckdb.connect(str(wh.path), read_only=True):
        with pytest.raises(SourceError) as err:
            wh.check(unique("held"))
    text = str(err.value)
    assert str(wh.path) in text and "cannot open the DuckDB database for writing" in text


def test_duckdb_names_match_whatever_their_case(tmp_path):
    wh = duckdb_warehouse(tmp_path)
    name = unique("case")
    wh.make(name.upper(), OLD)
    with pytest.raises(OutputError, match="the table exists; pass --replace"):
        wh.write(name, NEW)
    wh.write(name, NEW, replace=True)
    assert_same_rows(wh.read(name), NEW, keys=["k"])
    with pytest.raises(OutputError, match="source table of this project"):
        wh.write(f"{PREFIX}LINES", NEW, replace=True)


# --- sources the protection does not see (bugs) -----------------------------------------


@pytest.mark.parametrize("kind", ["postgresql", "duckdb"])
def test_a_table_a_query_source_reads_is_never_a_target(request, tmp_path, kind):
    data = unique("queried")
    if kind == "postgresql":
        server = request.getfixturevalue("pg_sources")
        server.load_arrow(data, SOURCE_ROWS, role="bg_writer")
        spec = {"format": "postgresql", "source": server.uri("bg_writer")}
        wh = Postgres(None, server)
    else:
        spec = {"source": "wh.duckdb"}
        wh = duckdb_warehouse(tmp_path)
        wh.make(data, SOURCE_ROWS)
    wh.project = _lines_and_catalog({**spec, "query": f"SELECT * FROM {data}"},
                                    {**spec, "table": f"{PREFIX}catalog"}, tmp_path)
    try:
        with pytest.raises(OutputError, match="source table"):
            wh.write(data, NEW, replace=True)
    finally:
        got = wh.read(data)
    assert_same_rows(got, SOURCE_ROWS, keys=["ts"])


@pytest.mark.parametrize("kind", ["postgresql", "duckdb"])
def test_a_source_in_the_same_database_spelled_otherwise_is_never_a_target(request, tmp_path,
                                                                           kind):
    catalog = unique("catalog")
    if kind == "postgresql":
        server = request.getfixturevalue("pg_sources")
        server.load_arrow(catalog, CATALOG_ROWS, role="bg_writer")
        lines = {"format": "postgresql", "source": server.uri("bg_writer")}
        other = {"format": "postgresql", "source": server.uri("bg_reader")}
        wh: Warehouse = Postgres(None, server)
    else:
        wh = duckdb_warehouse(tmp_path)
        wh.make(catalog, CATALOG_ROWS)
        lines, other = {"source": "wh.duckdb"}, {"source": str(tmp_path / "wh.duckdb")}
    wh.project = _lines_and_catalog({**lines, "table": f"{PREFIX}lines"},
                                    {**other, "table": catalog}, tmp_path)
    try:
        with pytest.raises(OutputError, match="source table"):
            wh.write(catalog, NEW, replace=True)
    finally:
        got = wh.read(catalog)
    assert_same_rows(got, CATALOG_ROWS, keys=["item_id"])
