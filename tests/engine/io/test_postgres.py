"""PostgreSQL sources (ADBC) against a real server: what is read, filters, connections,
errors without secrets, fingerprints and the cache.

Every read is compared with the same rows read from a Parquet file through a file
source, and every filter with its Arrow rendering (the named cases and the random
trees of ``tests/engine/io/test_filters.py``). The tests share the session's server
(``pg_server``) and name their objects ``t_pgio_*``; the tests that kill a server run
one of their own.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
import threading
import time
import traceback
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import SourceSpec, infer_format, project_from_dict
from basketguard.engine.errors import BasketguardError, ConfigError, SchemaError, SourceError
from basketguard.engine.io import postgres, sources
from basketguard.engine.io.filters import parse_filter
from basketguard.engine.io.sources import open_source
from tests.engine.io.test_filters import _TREE, CASES, _tables, _unwrap
from tests.engine.io.test_filters import TABLE as FILTER_TABLE
from tests.pgserver import PgServer, _free_port

UTC = dt.UTC
ORIGIN = "shop.toml [lines]"
#: A wrong password that must not show anywhere either.
WRONG = "Wr0ng-" + secrets.token_hex(8)

T_TYPES = "t_pgio_types"
T_EMPTY = "t_pgio_empty"
T_MANY = "t_pgio_many"
T_FILTERS = "t_pgio_filters"
T_HYP = "t_pgio_hyp"
SCHEMA = "T_pgio Schema"
ODD = 'Odd "Name" T'


def _ts(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


#: One column per PostgreSQL type the engine reads, each with a null; loaded with
#: ADBC ingest, then `num`, `num2` made numeric on the server (see `tables`).
TYPES = pa.table({
    "rid": pa.array(range(6), pa.int64()),
    "i8": pa.array([1, -(2**62), None, 0, 2**62, 7], pa.int64()),
    "i4": pa.array([1, -(2**31), None, 2**31 - 1, 0, 5], pa.int32()),
    "txt": pa.array(["a", "it's", None, "ünï 🛒", "", 'q"uote']),
    "tstz": pa.array([_ts(2024, 1, 1, 8), _ts(1969, 12, 31, 23, 59, 59, 999999), None,
                      _ts(2024, 2, 29, 12, 34, 56, 123456), _ts(2000, 1, 1),
                      _ts(2038, 1, 19, 3, 14, 8)], pa.timestamp("us", "UTC")),
    "ts": pa.array([dt.datetime(2024, 1, 1, 8), dt.datetime(1969, 12, 31, 23, 59, 59, 1),
                    None, dt.datetime(2024, 2, 29, 12, 34, 56, 123456),
                    dt.datetime(2000, 1, 1), dt.datetime(2038, 1, 19, 3, 14, 8)],
                   pa.timestamp("us")),
    "d": pa.array([dt.date(2024, 1, 1), dt.date(1900, 1, 1), None, dt.date(2024, 2, 29),
                   dt.date(2000, 1, 1), dt.date(9999, 12, 31)], pa.date32()),
    "b": pa.array([True, False, None, True, False, True]),
    "f8": pa.array([0.5, -1e300, None, 3.25, 0.0, 1e-300], pa.float64()),
    "f4": pa.array([0.5, -1.25, None, 3.5, 0.0, 2.0**60], pa.float32()),
    "num": pa.array([1.25, -0.5, None, 12345.125, 0.0, 1e15], pa.float64()),
    "num2": pa.array([1.25, -0.5, None, 12345.125, 0.0, 999999.999], pa.float64()),
})
#: The PostgreSQL type of each column of TYPES on the server.
PG_TYPES = {"rid": "int8", "i8": "int8", "i4": "int4", "txt": "text", "tstz": "timestamptz",
            "ts": "timestamp", "d": "date", "b": "bool", "f8": "float8", "f4": "float4",
            "num": "numeric", "num2": "numeric"}
UUIDS = ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None, "00000000-0000-0000-0000-000000000000",
         "ffffffff-ffff-ffff-ffff-ffffffffffff", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12",
         "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a13"]

#: Many rows, for many batches.
N_MANY = 8_000
MANY = pa.table({
    "k": pa.array(range(N_MANY), pa.int64()),
    "label": pa.array([None if i % 97 == 0 else f"label-{i}" for i in range(N_MANY)]),
    "v": pa.array([i * 0.25 for i in range(N_MANY)], pa.float64()),
})

#: The quoted-identifier table: upper case, space and double quote in names.
ODD_ROWS = pa.table({
    "With Space": pa.array([1, 2, None, 4], pa.int64()),
    'qu"ote': pa.array(["x", None, "y", "x"]),
    "UPPER": pa.array([True, False, True, None]),
    "lower": pa.array([10, 20, 30, 40], pa.int64()),
})


# --- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def pg(pg_server):
    """The session server with this module's tables (dropped at the end)."""
    server = pg_server
    extra = TYPES.append_column("u", pa.array(UUIDS)).append_column(
        "m", pa.array([None if u is None else rid + 0.5 for rid, u in enumerate(UUIDS)]))
    server.load_arrow(T_TYPES, extra)
    # one rewrite in place (no UPDATE), so the rows stay in the order written
    server.execute(f"ALTER TABLE {T_TYPES} ALTER COLUMN num TYPE numeric USING num::numeric, "
                   "ALTER COLUMN num2 TYPE numeric(12, 3) USING num2::numeric(12, 3), "
                   "ALTER COLUMN u TYPE uuid USING u::uuid, "
                   "ALTER COLUMN m TYPE money USING m::numeric::money")
    server.execute(f"CREATE TABLE {T_EMPTY} (LIKE {T_TYPES})")
    server.load_arrow(T_MANY, MANY)
    server.load_arrow(T_FILTERS, FILTER_TABLE)
    server.execute(f'CREATE SCHEMA "{SCHEMA}"')
    server.execute(f'CREATE TABLE "{SCHEMA}"."{ODD.replace(chr(34), chr(34) * 2)}" '
                   '("With Space" int8, "qu""ote" text, "UPPER" bool, lower int8)')
    with server.connect() as conn, conn.cursor() as cur:
        cur.adbc_ingest(ODD, ODD_ROWS, mode="append", db_schema_name=SCHEMA)
    server.execute(f'GRANT USAGE ON SCHEMA "{SCHEMA}" TO bg_reader')
    server.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{SCHEMA}" TO bg_reader')
    yield server
    server.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')
    for name in (T_TYPES, T_EMPTY, T_MANY, T_FILTERS, T_HYP):
        server.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


@pytest.fixture
def fresh(pg):
    """A fresh table name in the shared server, dropped (with its views) after the test."""
    name = f"t_pgio_{secrets.token_hex(5)}"
    yield name
    pg.execute(f"DROP MATERIALIZED VIEW IF EXISTS {name}_mv")
    pg.execute(f"DROP TABLE IF EXISTS {name} CASCADE")


def _spec(uri: str, **kw) -> SourceSpec:
    if "table" not in kw and "query" not in kw:
        kw["table"] = T_TYPES
    return SourceSpec(role="lines", location=uri, base_dir=Path("."), format="postgresql",
                      origin=ORIGIN, **kw)


def _parquet(tmp_path: Path, table: pa.Table, **kw):
    """A file source of ``table`` (several row groups), opened."""
    path = tmp_path / f"rows-{secrets.token_hex(3)}.parquet"
    pq.write_table(table, path, row_group_size=4)
    return open_source(SourceSpec(role="lines", location=str(path), base_dir=tmp_path,
                                  format="parquet", origin=ORIGIN, **kw))


def _rows(table: pa.Table) -> list[dict]:
    """Rows as dicts, NaN shown as a string (NaN never equals itself)."""
    return [{k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
            for r in table.to_pylist()]


def _same(got: pa.Table, want: pa.Table) -> None:
    assert got.schema == want.schema
    assert _rows(got) == _rows(want)


def _secrets_of(server: PgServer) -> list[str]:
    return [*server.roles.values(), WRONG]


def _assert_clean(texts, secret_list) -> None:
    for text in texts:
        for secret in secret_list:
            assert secret not in text, f"a password shows in: {text!r}"


# --- 1. reading -------------------------------------------------------------------------

READ_COLUMNS = list(TYPES.schema.names)


def test_server_holds_the_intended_types(pg):
    got = pg.query("SELECT column_name::text AS c, udt_name::text AS t FROM "
                   f"information_schema.columns WHERE table_name = '{T_TYPES}'").to_pylist()
    types = {r["c"]: r["t"] for r in got}
    assert {c: types[c] for c in PG_TYPES} == PG_TYPES
    assert types["u"] == "uuid"


@pytest.mark.parametrize(
    "columns",
    [
        pytest.param(READ_COLUMNS, id="all_types"),
        pytest.param(["txt", "rid"], id="two_reordered"),
        pytest.param(["num2"], id="numeric_with_scale"),
        pytest.param(["tstz", "ts", "d"], id="times"),
    ],
)
def test_table_reads_as_the_same_rows_as_parquet(pg, tmp_path, columns):
    source = open_source(_spec(pg.uri("bg_reader")))
    got = source.read_table(columns)
    _same(got, _parquet(tmp_path, TYPES).read_table(columns))
    _same(got, TYPES.select(columns))  # and both are the rows as written
    assert source.schema.field("num") == pa.field("num", pa.float64())


def test_query_reads_as_the_same_rows_as_parquet(pg, tmp_path):
    spec = _spec(pg.uri("bg_reader"), table=None,
                 query=f"SELECT rid, txt, num, d FROM {T_TYPES} WHERE rid % 2 = 0")
    got = open_source(spec).read_table(["d", "num", "rid"])
    want = _parquet(tmp_path, TYPES, filter=parse_filter("rid in [0, 2, 4]"))
    _same(got, want.read_table(["d", "num", "rid"]))


def test_only_the_mapped_columns_are_read(pg):
    # `boom` fails when evaluated: reading anything but it never evaluates it.
    spec = _spec(pg.uri("bg_reader"), table=None,
                 query=f"SELECT rid, txt, 1 / (rid - rid) AS boom FROM {T_TYPES}")
    source = open_source(spec)
    assert source.schema.names == ["rid", "txt", "boom"]
    batches = list(source.batches(["txt"]))
    assert [b.schema.names for b in batches] == [["txt"]] * len(batches)
    assert pa.Table.from_batches(batches).column("txt").to_pylist() == TYPES["txt"].to_pylist()
    sql = postgres.select_sql(source._pg, ["txt"], None)
    assert '"boom"' not in sql and '"rid"' not in sql


def test_numeric_of_a_query_expression_is_float64(pg):
    spec = _spec(pg.uri("bg_reader"), table=None,
                 query=f"SELECT sum(num) AS total, NULL AS nothing FROM {T_TYPES}")
    source = open_source(spec)
    assert source.schema.field("total").type == pa.float64()
    assert source.schema.field("nothing").type == pa.string()
    got = source.read_table(["total", "nothing"]).to_pylist()
    assert got == [{"total": 1.25 - 0.5 + 12345.125 + 1e15, "nothing": None}]


def test_uuid_column_is_read_as_text(pg):
    source = open_source(_spec(pg.uri("bg_reader")))
    assert source.schema.field("u").type == pa.string()
    assert source.read_table(["u"]).column("u").to_pylist() == UUIDS


def test_money_column_is_read_in_currency_units(pg):
    # the driver gives money as int64 cents; the engine casts it through numeric
    source = open_source(_spec(pg.uri("bg_reader")))
    assert source.schema.field("m").type == pa.float64()
    want = [None if u is None else rid + 0.5 for rid, u in enumerate(UUIDS)]
    assert source.read_table(["m"]).column("m").to_pylist() == want


def test_empty_table_gives_no_batches_and_an_empty_table_with_the_schema(pg, tmp_path):
    source = open_source(_spec(pg.uri("bg_reader"), table=T_EMPTY))
    assert list(source.batches(READ_COLUMNS)) == []
    got = source.read_table(READ_COLUMNS)
    _same(got, _parquet(tmp_path, TYPES.slice(0, 0)).read_table(READ_COLUMNS))


def test_filter_that_matches_nothing_gives_an_empty_table_with_the_schema(pg, tmp_path):
    spec = _spec(pg.uri("bg_reader"), filter=parse_filter("rid > 100"))
    got = open_source(spec).read_table(["rid", "tstz", "num"])
    assert got.num_rows == 0
    assert got.schema == TYPES.select(["rid", "tstz", "num"]).schema


@pytest.mark.parametrize(
    "table",
    [
        pytest.param(f"{SCHEMA}.{ODD}", id="schema_dot_table"),
        pytest.param(f"public.{T_FILTERS}", id="public_dot_table"),
    ],
)
def test_schema_qualified_and_quoted_names(pg, tmp_path, table):
    source = open_source(_spec(pg.uri("bg_reader"), table=table))
    want = ODD_ROWS if table.startswith(SCHEMA) else FILTER_TABLE
    columns = list(reversed(want.schema.names))
    _same(source.read_table(columns), _parquet(tmp_path, want).read_table(columns))


def test_quoted_column_names_in_a_filter(pg, tmp_path):
    text = "col('With Space') >= 1 and col('qu\"ote') == 'x' or UPPER == False"
    spec = _spec(pg.uri("bg_reader"), table=f"{SCHEMA}.{ODD}", filter=parse_filter(text))
    want = _parquet(tmp_path, ODD_ROWS, filter=parse_filter(text))
    got = open_source(spec).read_table(["lower"])
    _same(got, want.read_table(["lower"]))
    assert got.column("lower").to_pylist() == [10, 20, 40]


def test_table_name_case_is_kept(pg):
    with pytest.raises(SourceError) as info:
        open_source(_spec(pg.uri("bg_reader"), table=f"{SCHEMA}.odd \"name\" t"))
    assert f"Did you mean '{SCHEMA}.{ODD}'?" in str(info.value)


@pytest.mark.parametrize("batch_rows", [777, 1 << 20])
def test_many_batches_concatenate_to_the_parquet_rows(pg, tmp_path, monkeypatch, batch_rows):
    monkeypatch.setattr(postgres, "BATCH_BYTES", 4 << 10)
    source = open_source(_spec(pg.uri("bg_reader"), table=T_MANY))
    batches = list(source.batches(["v", "label", "k"], batch_rows=batch_rows))
    assert len(batches) > 10  # small driver batches
    assert all(0 < b.num_rows <= batch_rows for b in batches)
    got = pa.Table.from_batches(batches)
    _same(got.sort_by("k"), _parquet(tmp_path, MANY).read_table(["v", "label", "k"]))


def test_batch_rows_slices_the_driver_batches(pg):
    source = open_source(_spec(pg.uri("bg_reader")))
    batches = list(source.batches(["rid", "txt"], batch_rows=4))
    assert [b.num_rows for b in batches] == [4, 2]
    _same(pa.Table.from_batches(batches), TYPES.select(["rid", "txt"]))


def test_stopping_early_releases_the_connection(pg):
    app = f"t_pgio_{secrets.token_hex(4)}"  # libpq reports it: this test's sessions only

    def sessions() -> int:
        got = pg.query(f"SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = "
                       f"'{app}'")
        return got.column("n")[0].as_py()

    source = open_source(_spec(f"{pg.uri('bg_reader')}?application_name={app}", table=T_MANY))
    stream = source.batches(["k"], batch_rows=100)
    assert next(stream).num_rows == 100
    assert sessions() == 1
    stream.close()
    deadline = time.monotonic() + 5
    while sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sessions() == 0


def test_row_count_hint(pg, fresh):
    # autovacuum off: it must not analyze the table behind the test's back
    pg.execute(f"CREATE TABLE {fresh} (k int8, label text, v float8) "
               "WITH (autovacuum_enabled = false)")
    with pg.connect() as conn, conn.cursor() as cur:
        cur.adbc_ingest(fresh, MANY.slice(0, 500), mode="append")
    source = open_source(_spec(pg.uri("bg_reader"), table=fresh))
    assert source.row_count_hint() is None  # never analyzed: the planner does not know
    pg.execute(f"ANALYZE {fresh}")
    assert source.row_count_hint() is None  # read once, when the source was opened
    assert open_source(source.spec).row_count_hint() == 500
    query = open_source(_spec(pg.uri("bg_reader"), table=None, query=f"SELECT * FROM {fresh}"))
    assert query.row_count_hint() is None


def test_role_with_column_grants_reads_its_columns(pg, fresh):
    pg.execute(f"CREATE TABLE {fresh} (rid int8, secret text)")
    pg.execute(f"INSERT INTO {fresh} VALUES (1, 'hidden')")
    pg.execute(f"REVOKE SELECT ON {fresh} FROM bg_reader")
    pg.execute(f"GRANT SELECT (rid) ON {fresh} TO bg_reader")
    source = open_source(_spec(pg.uri("bg_reader"), table=fresh))
    assert source.read_table(["rid"]).column("rid").to_pylist() == [1]


def test_query_with_trailing_semicolon(pg):
    spec = _spec(pg.uri("bg_reader"), table=None, query=f"SELECT rid FROM {T_TYPES};\n")
    assert open_source(spec).read_table(["rid"]).num_rows == 6


def test_reading_session_is_read_only(pg):
    spec = _spec(pg.uri("bg_reader"), table=None,
                 query="SELECT current_setting('transaction_read_only') AS ro")
    assert open_source(spec).read_table(["ro"]).column("ro").to_pylist() == ["on"]


def test_reading_session_is_in_utc_whatever_the_client_zone(pg, monkeypatch, tmp_path):
    monkeypatch.setenv("PGTZ", "Asia/Tokyo")  # libpq sends it as the session zone
    spec = _spec(pg.uri("bg_reader"), table=None,
                 query="SELECT current_setting('TimeZone') AS tz")
    assert open_source(spec).read_table(["tz"]).column("tz").to_pylist() == ["UTC"]
    # naive literals against zoned columns, dates against timestamps: as Arrow compares
    for case in ("timestamp", "date_vs_timestamp_column", "timestamp_vs_naive_column",
                 "timestamp_offset_le"):
        text, expected = next((c[1], c[2]) for c in CASES if c[0] == case)
        spec = _spec(pg.uri("bg_reader"), table=T_FILTERS, filter=parse_filter(text))
        got = open_source(spec).read_table(["rid"]).column("rid").to_pylist()
        assert sorted(got) == expected, case
    _same(open_source(_spec(pg.uri("bg_reader"))).read_table(["tstz", "ts"]),
          TYPES.select(["tstz", "ts"]))


# --- 2. filters -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reader(pg):
    """One bg_reader connection for the direct SQL checks."""
    with pg.connect("bg_reader") as conn:
        yield conn


def _pg_rows(conn, table: str, text: str) -> list[int]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT rid FROM {table} WHERE {parse_filter(text).to_sql('postgresql')}")
        return sorted(r[0] for r in cur.fetchall())


# NaN: PostgreSQL orders NaN above every number (NaN > 5 is true), like DuckDB; the
# named case `nan_order` carries test_filters' xfail mark. No other case differs.
@pytest.mark.parametrize(("text", "expected"), _unwrap(CASES))
def test_postgresql_rendering_agrees_on_named_cases(reader, text, expected):
    assert _pg_rows(reader, T_FILTERS, text) == expected


@pytest.mark.parametrize(("text", "expected"), _unwrap(CASES))
def test_filtered_postgresql_source_agrees_on_named_cases(pg, text, expected):
    spec = _spec(pg.uri("bg_reader"), table=T_FILTERS, filter=parse_filter(text))
    got = open_source(spec).read_table(["rid"])
    assert sorted(got.column("rid").to_pylist()) == expected


@pytest.fixture(scope="module")
def admin(pg):
    """One bg_admin connection (autocommit) for the random tables."""
    with pg.connect() as conn:
        yield conn


@settings(max_examples=min(30, settings().max_examples))
@given(table=_tables(), text=_TREE)
def test_random_filters_agree_between_arrow_and_postgresql(admin, table, text):
    f = parse_filter(text)
    arrow = sorted(ds.dataset(table).to_table(columns=["rid"], filter=f.to_arrow())["rid"]
                   .to_pylist())
    with admin.cursor() as cur:
        cur.adbc_ingest(T_HYP, table, mode="replace")
    assert _pg_rows(admin, T_HYP, text) == arrow, (text, f.to_sql("postgresql"))


def test_text_order_follows_arrow_under_a_linguistic_collation(pg, fresh, tmp_path):
    rows = pa.table({"rid": pa.array(range(4), pa.int64()), "s": ["a", "B", "b", "A"]})
    pg.execute(f'CREATE TABLE {fresh} (rid int8, s text COLLATE "en-x-icu")')
    with pg.connect() as conn, conn.cursor() as cur:
        cur.adbc_ingest(fresh, rows, mode="append")
    text = "s < 'B'"
    want = _parquet(tmp_path, rows, filter=parse_filter(text)).read_table(["rid"])
    spec = _spec(pg.uri("bg_reader"), table=fresh, filter=parse_filter(text))
    got = open_source(spec).read_table(["rid"])
    assert sorted(got.column("rid").to_pylist()) == want.column("rid").to_pylist() == [3]


# --- 3. connections ---------------------------------------------------------------------


def test_uri_with_password(pg):
    source = open_source(_spec(pg.uri("bg_reader")))
    assert source.read_table(["rid"]).num_rows == 6
    assert pg.roles["bg_reader"] not in source.where


@pytest.mark.parametrize("role", ["bg_reader", "bg_writer"])
def test_empty_uri_takes_everything_from_pg_variables(pg, monkeypatch, role):
    for key, value in pg.env(role).items():
        monkeypatch.setenv(key, value)
    spec = _spec("postgresql://", filter=parse_filter("rid < 2"))
    source = open_source(spec)
    _same(source.read_table(["rid", "txt"]), TYPES.select(["rid", "txt"]).slice(0, 2))
    assert source.fingerprint() is not None


def _pgpass(folder: Path, server: PgServer, password: str | None = None,
            mode: int = 0o600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pg pass"
    path.write_text(f"127.0.0.1:{server.port}:basketguard:bg_reader:"
                    f"{password or server.roles['bg_reader']}\n")
    path.chmod(mode)
    return path


@pytest.fixture
def no_ambient_password(monkeypatch, tmp_path):
    """No PGPASSWORD, and PGPASSFILE pointing at nothing: only password_file can help."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))


@pytest.mark.usefixtures("no_ambient_password")
def test_password_file(pg, tmp_path):
    uri = pg.uri("bg_reader", password=False)
    with pytest.raises(SourceError, match="refused the login"):
        open_source(_spec(uri))
    # a folder with a space, & and = (the file's path goes into the URI's query)
    path = _pgpass(tmp_path / "a b&c=d", pg)
    source = open_source(_spec(uri, password_file=path))
    assert source.read_table(["rid"]).num_rows == 6
    assert source.fingerprint() is not None


@pytest.mark.usefixtures("no_ambient_password")
def test_password_file_of_a_project_file(pg, tmp_path):
    _pgpass(tmp_path / "secrets", pg)
    lines = {"source": pg.uri("bg_reader", password=False), "table": T_FILTERS,
             "password_file": "secrets/pg pass",
             "columns": {"customer": "s", "item": "x", "time": "tz"}}
    project = project_from_dict({"lines": lines}, base_dir=tmp_path, origin="shop.toml")
    spec = project.lines
    assert spec.format == "postgresql"
    assert spec.password_file == tmp_path / "secrets" / "pg pass"
    assert open_source(spec).read_table(["rid"]).num_rows == 6


def test_missing_password_file_is_a_config_error_naming_the_key(pg, tmp_path):
    lines = {"source": pg.uri("bg_reader", password=False), "table": T_TYPES,
             "password_file": "nowhere/pgpass",
             "columns": {"customer": "txt", "item": "rid", "time": "tstz"}}
    with pytest.raises(ConfigError) as info:
        project_from_dict({"lines": lines}, base_dir=tmp_path, origin="shop.toml")
    message = str(info.value)
    assert "shop.toml [lines]" in message
    assert "password_file" in message
    assert str(tmp_path / "nowhere" / "pgpass") in message


@pytest.mark.usefixtures("no_ambient_password")
def test_wrong_password_in_password_file(pg, tmp_path, capfd):
    path = _pgpass(tmp_path, pg, password=WRONG)
    with pytest.raises(SourceError) as info:
        open_source(_spec(pg.uri("bg_reader", password=False), password_file=path))
    assert "refused the login" in str(info.value)
    out, err = capfd.readouterr()
    _assert_clean([str(info.value), out, err], _secrets_of(pg))


@pytest.mark.usefixtures("no_ambient_password")
def test_password_file_readable_by_others_is_named(pg, tmp_path, capfd):
    # libpq would ignore such a file (with a WARNING of its own on stderr) and then
    # report only `no password supplied`: the project check names the mode first
    path = _pgpass(tmp_path, pg, mode=0o644)
    with pytest.raises(ConfigError) as info:
        open_source(_spec(pg.uri("bg_reader", password=False), password_file=path))
    out, err = capfd.readouterr()
    assert "0644" in str(info.value) and "chmod 600" in str(info.value)
    assert err == ""


def test_postgres_scheme_is_inferred():
    assert infer_format("postgresql://h/db") == infer_format("postgres://h/db") == "postgresql"


def test_postgres_scheme_connects(pg):
    uri = pg.uri("bg_reader").replace("postgresql://", "postgres://")
    assert open_source(_spec(uri)).read_table(["rid"]).num_rows == 6


def test_upper_case_scheme_is_refused(pg):
    # libpq reads only a lower-case scheme (`missing "=" after ...` otherwise)
    uri = pg.uri("bg_reader").replace("postgresql://", "POSTGRESQL://")
    with pytest.raises(ConfigError, match="lower case"):
        _spec(uri)


# --- 4. errors, never with a password ---------------------------------------------------


def _refused(pg):
    return _spec(f"postgresql://bg_reader:{pg.roles['bg_reader']}@127.0.0.1:{_free_port()}"
                 "/basketguard"), None


def _uri_with(pg, password: str, db: str = "basketguard", user: str = "bg_reader") -> str:
    return f"postgresql://{user}:{urllib.parse.quote(password, safe='')}@127.0.0.1:{pg.port}/{db}"


#: (id, build(server) -> (spec, columns read or None), error class, parts of the message).
ERRORS = [
    ("connection_refused", _refused, SourceError,
     ["shop.toml [lines]", "cannot reach the PostgreSQL server", "Connection refused",
      "PGHOST, PGPORT"]),
    ("wrong_password", lambda pg: (_spec(_uri_with(pg, WRONG)), None), SourceError,
     ["refused the login", "password authentication failed", "the password is never shown"]),
    ("unknown_role", lambda pg: (_spec(_uri_with(pg, WRONG, user="t_pgio_nobody")), None),
     SourceError, ["refused the login", "t_pgio_nobody"]),
    ("password_in_query_wrong", lambda pg: (_spec(
        f"postgresql://bg_reader@127.0.0.1:{pg.port}/basketguard?password={WRONG}"), None),
     SourceError, ["refused the login", "password=***"]),
    ("unknown_database", lambda pg: (_spec(pg.uri("bg_reader", db="t_pgio_nodb")), None),
     SourceError, ['database "t_pgio_nodb" does not exist', "PGDATABASE"]),
    ("missing_table", lambda pg: (_spec(pg.uri("bg_reader"), table="t_pgio_typse"), None),
     SourceError, ["table 't_pgio_typse' does not exist", "Did you mean 't_pgio_types'?",
                   T_FILTERS]),
    ("missing_schema", lambda pg: (_spec(pg.uri("bg_reader"), table="nosuch.t_pgio_types"),
                                   None),
     SourceError, ["'nosuch.t_pgio_types' does not exist", "Did you mean"]),
    ("missing_column", lambda pg: (_spec(pg.uri("bg_reader")), ["rid", "txtt"]), SchemaError,
     ["column 'txtt'", "closest name is 'txt'", "Available columns: rid"]),
    ("missing_filter_column", lambda pg: (_spec(pg.uri("bg_reader"),
                                                filter=parse_filter("qty > 0")), ["rid"]),
     SchemaError, ["column 'qty'", "filter"]),
    ("no_select", lambda pg: (_spec(pg.uri("bg_nosel")), None), SourceError,
     ["permission denied", "t_pgio_types", "SELECT on the table", "USAGE on the schema",
      "CONNECT on the database"]),
    ("no_select_query", lambda pg: (_spec(pg.uri("bg_nosel"), table=None,
                                          query=f"SELECT * FROM {T_TYPES}"), None),
     SourceError, ["permission denied", "SELECT on the table"]),
    ("query_syntax_error", lambda pg: (_spec(pg.uri("bg_reader"), table=None,
                                             query="SELEC rid FROM t_pgio_types"), None),
     SourceError, ["PostgreSQL failed while opening the query", "syntax error"]),
    ("query_unknown_column", lambda pg: (_spec(pg.uri("bg_reader"), table=None,
                                               query=f"SELECT nope FROM {T_TYPES}"), None),
     SourceError, ['column "nope" does not exist']),
    ("query_fails_mid_read", lambda pg: (_spec(
        pg.uri("bg_reader"), table=None,
        query=f"SELECT rid, 1 / (rid - 3) AS r FROM {T_TYPES}"), ["r"]),
     SourceError, ["PostgreSQL failed", "division by zero"]),
    ("filter_text_vs_number", lambda pg: (_spec(pg.uri("bg_reader"),
                                                filter=parse_filter("txt > 1")), ["rid"]),
     SourceError, ["PostgreSQL failed while reading", "operator does not exist: text > integer"]),
    ("filter_number_vs_text", lambda pg: (_spec(pg.uri("bg_reader"),
                                                filter=parse_filter("rid == 'abc'")), ["rid"]),
     SourceError, ["invalid input syntax for type bigint"]),
    ("change_column_missing", lambda pg: (_spec(pg.uri("bg_reader"), change_column="tsz"),
                                          "fingerprint"),
     SchemaError, ["change_column 'tsz' is not a column", "tstz"]),
]


@pytest.mark.parametrize(("build", "error", "parts"),
                         [pytest.param(*c[1:], id=c[0]) for c in ERRORS])
def test_errors_are_clear_and_carry_no_password(pg, capfd, caplog, build, error, parts):
    caplog.set_level(logging.DEBUG)
    spec, columns = build(pg)
    with pytest.raises(BasketguardError) as info:
        source = open_source(spec)
        if columns == "fingerprint":
            source.fingerprint()
        elif columns is not None:
            source.read_table(columns)
        else:
            pytest.fail("opening did not fail")
    exc = info.value
    assert type(exc) is error, str(exc)
    message = str(exc)
    for part in parts:
        assert part in message, message
    assert message.startswith(ORIGIN)
    assert "\n" not in message
    assert exc.__cause__ is None
    out, err = capfd.readouterr()
    texts = [message, repr(exc), "".join(traceback.format_exception(exc)), str(spec.path),
             str(spec.describe()), out, err, caplog.text]
    _assert_clean(texts, _secrets_of(pg))


def test_missing_relation_named_database_is_not_a_missing_database(pg):
    spec = _spec(pg.uri("bg_reader"), table=None, query="SELECT * FROM t_pgio_database_stats")
    with pytest.raises(SourceError) as info:
        open_source(spec)
    assert "PGDATABASE" not in str(info.value)


@pytest.fixture
def odd_role(pg):
    """A login role whose password has `#` and `?`, characters libpq takes unencoded."""
    name, password = "t_pgio_odd", f"Se#cr?t{secrets.token_hex(4)}"
    pg.execute(f"DROP ROLE IF EXISTS {name}")
    pg.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
    pg.execute(f"GRANT CONNECT ON DATABASE basketguard TO {name}")
    pg.execute(f"GRANT USAGE ON SCHEMA public TO {name}")
    yield name, password
    pg.execute(f"DROP OWNED BY {name}")
    pg.execute(f"DROP ROLE {name}")


def test_percent_encoded_special_password_connects_and_never_shows(pg, odd_role):
    name, password = odd_role
    spec = _spec(_uri_with(pg, password, user=name), table="t_pgio_missing")
    with pytest.raises(SourceError) as info:
        open_source(spec)  # the login works; the table is not visible to the role
    assert "does not exist or is not visible" in str(info.value)
    encoded = urllib.parse.quote(password, safe="")
    _assert_clean([str(info.value), str(spec.path), str(spec.describe())], [password, encoded])


def test_unencoded_special_password_never_shows(pg, odd_role):
    name, password = odd_role
    uri = f"postgresql://{name}:{password}@127.0.0.1:{pg.port}/basketguard"
    spec = _spec(uri, table="t_pgio_missing")
    with pytest.raises(SourceError) as info:
        open_source(spec)
    assert "does not exist or is not visible" in str(info.value)  # libpq logged in
    tail = password.rsplit("?", 1)[1]  # t + 8 hex digits: cannot show by chance
    _assert_clean([str(info.value), str(spec.path), str(spec.describe())], [password, tail])


def test_driver_message_quoting_a_query_password_is_scrubbed(pg):
    password = f"Pw+{secrets.token_hex(4)}%zz"
    spec = _spec(f"postgresql://bg_reader@127.0.0.1:{pg.port}/basketguard?password={password}")
    with pytest.raises(SourceError) as info:
        open_source(spec)
    assert "percent-encoded" in str(info.value)
    assert password not in str(info.value)


def _drain(stream, out: dict) -> None:
    try:
        out["rows"] = sum(b.num_rows for b in stream)
    except BaseException as exc:  # handed to the test thread
        out["error"] = exc


@pytest.mark.usefixtures("pg_server")  # skipped (or failed under CI) as the others
def test_server_killed_mid_read(monkeypatch, capfd):
    monkeypatch.setattr(postgres, "BATCH_BYTES", 64 << 10)
    n = 300_000
    rows = pa.table({"k": pa.array(range(n), pa.int64()),
                     "s": pa.array([f"row-{i}" for i in range(n)])})
    server = PgServer()
    try:
        server.start()
        server.load_arrow("t_pgio_big", rows)
        server.execute("CHECKPOINT")  # the table survives the kill
        spec = _spec(server.uri("bg_reader"), table="t_pgio_big")
        source = open_source(spec)
        stream = source.batches(["k", "s"])
        first = next(stream)
        assert 0 < first.num_rows < n
        server.kill()
        out: dict = {}
        worker = threading.Thread(target=_drain, args=(stream, out), daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive(), "reading hung after the server died"
        error = out.get("error")
        assert isinstance(error, SourceError), out
        message = str(error)
        assert "connection to the server was lost while reading" in message
        assert "Nothing was kept" in message
        # the server is gone: opening again cannot reach it
        with pytest.raises(SourceError, match="cannot reach the PostgreSQL server"):
            open_source(spec)
        capfd_out, capfd_err = capfd.readouterr()
        _assert_clean([message, capfd_out, capfd_err], list(server.roles.values()))
        server.restart()
        again = open_source(_spec(server.uri("bg_reader"), table="t_pgio_big"))
        assert again.read_table(["k"]).num_rows == n
    finally:
        server.stop()


# --- 5. fingerprints and the cache ------------------------------------------------------

FP_ROWS = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "v": ["a", "b", "c"],
    "loaded_at": pa.array([_ts(2024, 1, 1), _ts(2024, 1, 2), _ts(2024, 1, 3)],
                          pa.timestamp("us", "UTC")),
})


def test_table_fingerprint_changes_with_every_write(pg, fresh):
    pg.load_arrow(fresh, FP_ROWS)
    source = open_source(_spec(pg.uri("bg_reader"), table=fresh))
    first = source.fingerprint()
    assert source.uncached_reason is None
    assert first == source.fingerprint() == open_source(source.spec).fingerprint()
    assert first[1] == "count, max(xmin) and sum(xmin)" and first[2] == 3
    pg.execute(f"INSERT INTO {fresh} VALUES (4, 'd', '2024-01-04')")
    inserted = source.fingerprint()
    assert inserted != first and inserted[2] == 4
    pg.execute(f"DELETE FROM {fresh} WHERE id = 4")
    assert source.fingerprint() == first  # the very rows of `first` again: a valid hit
    seen = [first, inserted]
    for sql in (f"UPDATE {fresh} SET v = 'z' WHERE id = 2",
                f"DELETE FROM {fresh} WHERE id = 3",
                f"INSERT INTO {fresh} VALUES (3, 'c', '2024-01-03')",  # the rows before, anew
                f"UPDATE {fresh} SET v = v",  # same values, new row versions
                f"TRUNCATE {fresh}"):
        pg.execute(sql)
        now = source.fingerprint()
        assert now not in seen, sql
        seen.append(now)
    assert [fp[2] for fp in seen] == [3, 4, 3, 2, 3, 3, 0]


def test_fingerprint_does_not_hold_the_password(pg, fresh):
    pg.load_arrow(fresh, FP_ROWS)
    source = open_source(_spec(pg.uri("bg_reader"), table=fresh))
    _assert_clean([repr(source.fingerprint())], _secrets_of(pg))


def test_table_fingerprint_sees_a_transaction_that_commits_late(pg, fresh):
    pg.load_arrow(fresh, FP_ROWS)
    source = open_source(_spec(pg.uri("bg_reader"), table=fresh))
    with pg.connect(autocommit=False) as early, pg.connect(autocommit=False) as late:
        with early.cursor() as cur:
            cur.execute(f"UPDATE {fresh} SET v = 'early' WHERE id = 1")
        with late.cursor() as cur:
            cur.execute(f"UPDATE {fresh} SET v = 'late' WHERE id = 2")
        late.commit()
        before = source.fingerprint()
        early.commit()
    assert pg.query(f"SELECT v FROM {fresh} WHERE id = 1").column("v")[0].as_py() == "early"
    assert source.fingerprint() != before


def test_query_without_change_column_is_not_fingerprinted(pg, fresh):
    pg.load_arrow(fresh, FP_ROWS)
    source = open_source(_spec(pg.uri("bg_reader"), table=None, query=f"SELECT * FROM {fresh}"))
    assert source.fingerprint() is None
    assert "a query has no row versions" in source.uncached_reason
    assert "change_column" in source.uncached_reason and "--no-cache" in source.uncached_reason


def test_query_with_change_column_is_count_and_max(pg, fresh):
    pg.load_arrow(fresh, FP_ROWS)
    spec = _spec(pg.uri("bg_reader"), table=None, change_column="loaded_at",
                 query=f"SELECT id, loaded_at FROM {fresh} WHERE id > 1")
    source = open_source(spec)
    first = source.fingerprint()
    assert source.uncached_reason is None
    assert first[1:3] == ["count and max(loaded_at)", 2]
    assert first[3].startswith("2024-01-03 00:00:00")
    assert source.fingerprint() == first
    pg.execute(f"INSERT INTO {fresh} VALUES (9, 'n', '2024-02-01')")
    after = source.fingerprint()
    assert after[2:] != first[2:] and after[2] == 3 and after[3].startswith("2024-02-01")


@pytest.mark.parametrize("kind", ["VIEW", "MATERIALIZED VIEW"])
def test_views(pg, fresh, kind):
    pg.load_arrow(fresh, FP_ROWS)
    name = f"{fresh}_mv" if kind.startswith("MAT") else f"{fresh}_v"
    pg.execute(f"CREATE {kind} {name} AS SELECT * FROM {fresh}")
    pg.execute(f"GRANT SELECT ON {name} TO bg_reader")
    source = open_source(_spec(pg.uri("bg_reader"), table=name))
    assert source.read_table(["id"]).num_rows == 3
    facts = source.fingerprint()
    if kind == "VIEW":
        assert facts is None
        assert "a view has no row versions" in source.uncached_reason
        with_column = open_source(replace(source.spec, change_column="loaded_at"))
        assert with_column.fingerprint()[1:3] == ["count and max(loaded_at)", 3]
    else:
        assert facts[1:3] == ["count, max(xmin) and sum(xmin)", 3]
        pg.execute(f"INSERT INTO {fresh} VALUES (4, 'd', '2024-01-04')")
        assert source.fingerprint() == facts  # a materialized view holds its rows
        pg.execute(f"REFRESH MATERIALIZED VIEW {name}")
        assert source.fingerprint()[2] == 4


@pytest.mark.parametrize("as_query", [False, True], ids=["table", "query"])
def test_change_column_not_a_column_is_a_schema_error(pg, fresh, as_query):
    pg.load_arrow(fresh, FP_ROWS)
    kw = {"table": None, "query": f"SELECT id, v FROM {fresh}"} if as_query else {"table": fresh}
    source = open_source(_spec(pg.uri("bg_reader"), change_column="loaded", **kw))
    with pytest.raises(SchemaError) as info:
        source.fingerprint()
    message = str(info.value)
    assert message.startswith(ORIGIN)
    assert "change_column 'loaded' is not a column" in message
    assert "id, v" in message


LINES = pa.table({
    "customer_id": ["u1", "u1", "u2", "u2", "u3", "u3", "u1", "u2"],
    "item_id": ["a", "b", "a", "c", "b", "b", "c", "a"],
    "ts": pa.array([_ts(2024, 1, d, 10) for d in (1, 1, 2, 3, 4, 5, 6, 7)],
                   pa.timestamp("us", "UTC")),
    "qty": pa.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0, 5.0, 2.0]),
})
LINE_COLUMNS = {"customer": "customer_id", "item": "item_id", "time": "ts", "quantity": "qty"}


def _lines_project(base: Path, **lines):
    return project_from_dict({"lines": {"columns": dict(LINE_COLUMNS), **lines}},
                             base_dir=base, origin="shop.toml")


def _canonical(hist) -> list[tuple]:
    out = []
    for code, cust in enumerate(hist.customer_ids.to_pylist()):
        lines = hist.customer_lines(code)
        for item, day, qty in zip(hist.item[lines], hist.day[lines], hist.quantity[lines],
                                  strict=True):
            out.append((str(cust), hist.item_ids[int(item)].as_py(), int(day), float(qty)))
    return sorted(out)


def test_load_histories_caches_a_table_until_it_changes(pg, fresh, tmp_path):
    pg.load_arrow(fresh, LINES)
    cache_dir = tmp_path / "cache"
    project = _lines_project(tmp_path, source=pg.uri("bg_reader"), table=fresh)
    first = load_histories(project, cache_dir=cache_dir)
    assert first.info["cache"] == "stored"
    pq.write_table(LINES, tmp_path / "lines.parquet")
    from_file = load_histories(_lines_project(tmp_path, source="lines.parquet"),
                               use_cache=False)
    assert _canonical(first) == _canonical(from_file)
    second = load_histories(project, cache_dir=cache_dir)
    assert second.info["cache"] == "hit"
    assert _canonical(second) == _canonical(first)
    pg.execute(f"INSERT INTO {fresh} VALUES ('u3', 'c', '2024-01-09 10:00+00', 1.0)")
    third = load_histories(project, cache_dir=cache_dir)
    assert third.info["cache"] == "stored"
    assert third.n_lines == first.n_lines + 1
    assert load_histories(project, cache_dir=cache_dir).info["cache"] == "hit"
    stored = b"".join(p.read_bytes() for p in cache_dir.rglob("*") if p.is_file())
    assert stored
    for secret in _secrets_of(pg):
        assert secret.encode() not in stored


def test_load_histories_reads_a_query_every_time(pg, fresh, tmp_path):
    pg.load_arrow(fresh, LINES)
    cache_dir = tmp_path / "cache"
    project = _lines_project(tmp_path, source=pg.uri("bg_reader"),
                             query=f"SELECT * FROM {fresh} WHERE qty < 5")
    for _ in range(2):
        hist = load_histories(project, cache_dir=cache_dir)
        assert hist.info["cache"].startswith("off: a query has no row versions")
        assert hist.n_lines == 7
    assert not cache_dir.exists() or not any(p.is_file() for p in cache_dir.rglob("*"))
    with_column = _lines_project(tmp_path, source=pg.uri("bg_reader"), change_column="ts",
                                 query=f"SELECT * FROM {fresh} WHERE qty < 5")
    assert load_histories(with_column, cache_dir=cache_dir).info["cache"] == "stored"
    assert load_histories(with_column, cache_dir=cache_dir).info["cache"] == "hit"


def test_uuid_customer_ids_load(pg, fresh, tmp_path):
    pg.execute(f"CREATE TABLE {fresh} (c uuid, item_id text, ts timestamptz)")
    pg.execute(f"INSERT INTO {fresh} VALUES ('{UUIDS[0]}', 'a', '2024-01-01'), "
               f"('{UUIDS[2]}', 'b', '2024-01-02')")
    project = project_from_dict({"lines": {
        "source": pg.uri("bg_reader"), "table": fresh,
        "columns": {"customer": "c", "item": "item_id", "time": "ts"}}},
        base_dir=tmp_path, origin="shop.toml")
    hist = load_histories(project, use_cache=False)
    assert sorted(hist.customer_ids.to_pylist()) == sorted([UUIDS[0], UUIDS[2]])


@pytest.mark.parametrize("n_parts, seed", [(1, 0), (3, 0), (4, 2**64 - 1)])
@pytest.mark.parametrize("column", ["i8", "txt", "u"])
def test_partitions_split_the_rows_in_the_query(pg, n_parts, seed, column):
    """Customer-hash partitions of a PostgreSQL source: disjoint, every row once, null ids
    in partition 0, each selected by the server (the SQL carries the predicate)."""
    spec = _spec(pg.uri("bg_reader"), filter=parse_filter("rid >= 0"))
    source = open_source(spec)
    assert source.splits_in_sql
    cols = list(dict.fromkeys([column, "rid"]))
    whole = source.read_table(cols)
    parts = [pa.Table.from_batches(list(source.batches(cols, partition=(column, p, n_parts,
                                                                        seed))),
                                   schema=whole.schema) for p in range(n_parts)]
    assert sorted(r for t in parts for r in t.column("rid").to_pylist()) == \
        sorted(whole.column("rid").to_pylist())
    for p, t in enumerate(parts):
        if p:
            assert t.column(column).null_count == 0
    ids = [set(t.column(column).drop_null().to_pylist()) for t in parts]
    assert sum(len(s) for s in ids) == len(set().union(*ids))
    sql = sources.in_partition(postgres.select_sql(source._pg, cols, spec.filter), cols,
                               "postgresql", (column, n_parts - 1, n_parts, seed))
    assert "hashtextextended" in sql
