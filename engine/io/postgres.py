"""PostgreSQL sources through ADBC: streamed Arrow batches, fingerprints, clear errors.

A source is ``format = "postgresql"`` with a libpq URI as ``source`` and a
``table`` (``schema.table`` or ``table``) or a ``query``. The engine asks for
the mapped columns only, with the project filter rendered as a PostgreSQL
``WHERE`` clause, and reads the answer as a stream of Arrow record batches
(the driver uses ``COPY ... (FORMAT binary)``; a batch is about
:data:`BATCH_BYTES`), so memory beyond the histories stays at a few batches
whatever the table's size.

Connections: the URI as written (host, port, database, user), the usual
``PG*`` environment variables for what it leaves out (``postgresql://`` takes
everything from them), and the password from ``password_file``, else libpq's
own rules (``PGPASSWORD``, ``PGPASSFILE``, ``~/.pgpass``). Sessions that read
are read-only and run in UTC (naive timestamps compare as the Arrow filter
does). No message carries the password: every driver message is scrubbed
(:mod:`basketguard.engine.io.secrets`).

Types: ``numeric`` and ``money`` columns are read as ``float8`` and types the
driver has no plain Arrow type for (``uuid``, ``json``, ``inet``, ...) as
``text``, cast in the query. A table is read directly (``FROM schema.table``),
so a role granted SELECT on the mapped columns only can read it.

The fingerprint of a table is its row count and its newest row version
(``max(xmin)``), or with ``change_column`` the count and that column's
maximum; ``docs/warehouses.md`` gives the rule and its limits. A query
without ``change_column`` (and a view) is not cached.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from basketguard.engine.config.project import SourceSpec
from basketguard.engine.config.toml import did_you_mean
from basketguard.engine.errors import ConfigError, SchemaError, SourceError
from basketguard.engine.io.filters import quote_ident
from basketguard.engine.io.secrets import redact_uri, scrub

#: Bytes per record batch the driver aims at (its ``batch_size_hint_bytes``).
BATCH_BYTES = 16 << 20

_INSTALL = ("install the PostgreSQL driver: pip install 'basketguard[postgresql]' "
            "(adbc-driver-postgresql)")
_WAIT = re.compile(r"^(?:[A-Z_]+: )?(?:\[libpq\] )?")
_QUERY_WAS = re.compile(r"\s*Query was: .*$", re.S)


def dbapi():
    """The ADBC PostgreSQL DB-API module, or a :class:`ConfigError` saying how to install it."""
    try:
        import adbc_driver_postgresql.dbapi as module
    except ImportError:
        raise ConfigError(f"PostgreSQL sources need the ADBC driver: {_INSTALL}.") from None
    return module


def driver_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a driver call can raise (DB-API errors and Arrow stream errors)."""
    import adbc_driver_manager

    return (adbc_driver_manager.Error, pa.ArrowException, OSError)


def connection_uri(spec: SourceSpec) -> str:
    """The URI libpq connects with: ``source``, plus ``passfile`` from ``password_file``."""
    uri = spec.location
    if spec.password_file is not None:
        from urllib.parse import quote

        sep = "&" if "?" in uri else "?"
        uri = f"{uri}{sep}passfile={quote(str(spec.password_file), safe='/')}"
    return uri


def server_name(spec: SourceSpec) -> str:
    """The source's URI without its password, for messages."""
    return redact_uri(spec.location)


def split_table(name: str) -> tuple[str | None, str]:
    """``schema.table`` or ``table`` as (schema or None, table)."""
    schema, dot, table = name.rpartition(".")
    return (schema or None) if dot else None, table


def qualified(name: str) -> str:
    """A ``schema.table`` name quoted as a SQL identifier."""
    schema, table = split_table(name)
    return (quote_ident(schema) + "." if schema else "") + quote_ident(table)


def _detail(exc: BaseException, uri: str) -> str:
    """The driver's message, scrubbed of secrets, without its wrapping, on one line."""
    text = _QUERY_WAS.sub("", str(exc)).strip()
    text = _WAIT.sub("", text)
    for noise in ("Failed to connect: ", "Failed to prepare query: ", "Failed to execute query: ",
                  "could not begin COPY: "):
        text = text.replace(noise, "")
    text = re.sub(r"\s+", " ", text).replace("ERROR: ", "").replace("FATAL: ", "")
    text = scrub(text, uri).strip().rstrip(".")
    return text if len(text) <= 300 else text[:297] + "..."


def failure(exc: BaseException, spec: SourceSpec, uri: str, doing: str) -> SourceError:
    """A :class:`SourceError` for a driver error while ``doing`` something, without secrets.

    Parameters
    ----------
    exc : BaseException
        What the driver raised.
    spec : SourceSpec
        The source (its origin and URI name the place).
    uri : str
        The URI connected with (its secrets are scrubbed from the message).
    doing : str
        ``"connecting"``, ``"reading"``, ... for the message.
    """
    detail = _detail(exc, uri)
    lowered = detail.lower()
    state = getattr(exc, "sqlstate", None) or ""
    where = f"{spec.origin} ({server_name(spec)})"
    if "connection refused" in lowered or "could not translate host name" in lowered \
            or "timeout expired" in lowered or "no route to host" in lowered:
        return SourceError(
            f"{where}: cannot reach the PostgreSQL server ({detail}). Check that it runs and "
            "accepts TCP connections, and the host and port in `source` (or PGHOST, PGPORT).")
    if "password authentication failed" in lowered or "no password supplied" in lowered \
            or state in ("28P01", "28000") or "authentication failed" in lowered:
        return SourceError(
            f"{where}: the server refused the login ({detail}). Check the user in `source` "
            "(or PGUSER) and its password in `password_file`, PGPASSFILE, ~/.pgpass or "
            "PGPASSWORD; the password is never shown.")
    if re.search(r'database "[^"]*" does not exist', detail):
        return SourceError(
            f"{where}: {detail}. Check the database name in `source` (or PGDATABASE).")
    if state == "42501" or "permission denied" in lowered:
        return SourceError(
            f"{where}: permission denied while {doing} ({detail}). The connecting role needs "
            "CONNECT on the database, USAGE on the schema and SELECT on the table (and CREATE "
            "on the schema to write results back); docs/warehouses.md lists the grants.")
    lost = ("server closed the connection" in lowered or "terminating connection" in lowered
            or ("connection" in lowered and any(w in lowered for w in ("lost", "closed", "reset"))))
    if state.startswith(("08", "57P")) or lost:
        return SourceError(
            f"{where}: the connection to the server was lost while {doing} ({detail}). "
            "Nothing was kept or written; run the command again when the server is back.")
    return SourceError(f"{where}: PostgreSQL failed while {doing}: {detail}.")


@contextmanager
def connect(spec: SourceSpec, *, read_only: bool = True):
    """An ADBC connection to the source's server, closed on exit.

    A reading session runs each statement in its own read-only transaction
    (autocommit, ``default_transaction_read_only``: a query source cannot
    change the database, not even a sequence); a writing session has one
    transaction that the caller commits. Every session runs in UTC. Errors
    become a :class:`SourceError` without secrets.
    """
    module = dbapi()
    errors = driver_errors()
    uri = connection_uri(spec)
    try:
        con = module.connect(uri, autocommit=read_only)
    except errors as exc:
        raise failure(exc, spec, uri, "connecting") from None
    try:
        with con.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            if read_only:
                cur.execute("SET default_transaction_read_only = on")
        yield con
    except errors as exc:
        raise failure(exc, spec, uri, "reading") from None
    finally:
        try:
            con.close()
        except errors:
            pass  # the connection is gone already (a server stopped mid-read)


@dataclass
class PgInfo:
    """What :func:`open_pg` learned of a source: column types and the base query."""

    source: str
    pg_types: dict[str, str] = field(default_factory=dict)
    casts: dict[str, str] = field(default_factory=dict)
    relkind: str | None = None
    schema: pa.Schema | None = None
    #: The planner's row estimate of a table (None for a query or when never analyzed).
    row_estimate: int | None = None


def _from(spec: SourceSpec) -> str:
    """What a ``FROM`` reads: the table itself, or the query as a subquery."""
    if spec.table is not None:
        return qualified(spec.table)
    query = spec.query.strip()
    while query.endswith(";"):  # a query pasted from psql
        query = query[:-1].rstrip()
    return f"({query})"


def _tables(cur) -> list[str]:
    cur.execute("SELECT CASE WHEN table_schema = 'public' THEN table_name ELSE "
                "table_schema || '.' || table_name END FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
    return [r[0] for r in cur.fetchall()]


def open_pg(spec: SourceSpec) -> tuple[pa.Schema, PgInfo]:
    """Check that the table or query can be read and return its Arrow schema.

    Returns
    -------
    (pyarrow.Schema, PgInfo)
        The schema the engine sees (``numeric`` as float64, driver-opaque
        types as text) and what reading needs.

    Raises
    ------
    SourceError
        The server cannot be reached, refuses the login, the table does not
        exist, the role may not read it, or the query fails.
    """
    uri = connection_uri(spec)
    errors = driver_errors()
    with connect(spec) as con, con.cursor() as cur:
        relkind = estimate = None
        names = None
        if spec.table is not None:
            cur.execute("SELECT c.relkind::text, c.reltuples::bigint FROM pg_class c WHERE "
                        "c.oid = to_regclass($1)", parameters=(qualified(spec.table),))
            row = cur.fetchall()
            if not row:
                tables = _tables(cur)
                hint = did_you_mean(spec.table, tables, cutoff=0.4)
                shown = ", ".join(tables[:20]) + (" ..." if len(tables) > 20 else "")
                raise SourceError(
                    f"{spec.origin} ({server_name(spec)}): table {spec.table!r} does not exist "
                    f"or is not visible to this role.{hint} Tables: {shown or '(none)'}.")
            relkind, estimate = row[0]
            # the columns this role may read (all of them, or those granted one by one)
            cur.execute("SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass($1) "
                        "AND attnum > 0 AND NOT attisdropped AND "
                        "has_column_privilege(attrelid, attnum, 'SELECT') ORDER BY attnum",
                        parameters=(qualified(spec.table),))
            names = [r[0] for r in cur.fetchall()]
            if not names:
                cur.execute("SELECT current_user::text")
                role = cur.fetchall()[0][0]
                raise SourceError(
                    f"{spec.origin} ({server_name(spec)}): permission denied: role {role!r} "
                    f"may not read any column of table {spec.table!r}. The connecting role "
                    "needs CONNECT on the database, USAGE on the schema and SELECT on the "
                    f"table: GRANT SELECT ON {qualified(spec.table)} TO {quote_ident(role)}; "
                    "docs/warehouses.md lists the grants.")
        source = _from(spec)
        cols = ", ".join(quote_ident(n) for n in names) if names is not None else "*"
        try:
            cur.execute(f"SELECT {cols} FROM {source} AS basketguard_probe LIMIT 0")
            probe = cur.fetch_arrow_table().schema
        except errors as exc:
            what = f"table {spec.table!r}" if spec.table else "the query"
            raise failure(exc, spec, uri, f"opening {what}") from None
    fields, pg_types, casts = [], {}, {}
    for f in probe:
        meta = f.metadata or {}
        typname = (meta.get(b"POSTGRESQL:type") or b"").decode()
        pg_types[f.name] = typname
        if typname in ("numeric", "money"):
            casts[f.name] = "numeric::float8"
            f = pa.field(f.name, pa.float64())
        elif isinstance(f.type, pa.BaseExtensionType) or pa.types.is_null(f.type):
            casts[f.name] = "text"
            f = pa.field(f.name, pa.string())
        fields.append(pa.field(f.name, f.type))
    schema = pa.schema(fields)
    estimate = int(estimate) if estimate is not None and estimate >= 0 else None
    return schema, PgInfo(source=source, pg_types=pg_types, casts=casts, relkind=relkind,
                          schema=schema, row_estimate=estimate)


def select_sql(info: PgInfo, columns: list[str], filt, schema: pa.Schema | None = None) -> str:
    """The query that reads ``columns`` of the source, with the filter as ``WHERE``."""
    def one(c: str) -> str:
        cast = info.casts.get(c)
        return f"{quote_ident(c)}::{cast} AS {quote_ident(c)}" if cast else quote_ident(c)

    if filt is None:
        return f"SELECT {', '.join(map(one, columns))} FROM {info.source} AS basketguard_source"
    # the filter sees the columns as the engine does (a uuid as text, numeric as double)
    needed = list(dict.fromkeys([*columns, *filt.columns]))
    inner = f"SELECT {', '.join(map(one, needed))} FROM {info.source} AS basketguard_source"
    return (f"SELECT {', '.join(map(quote_ident, columns))} FROM ({inner}) AS basketguard_rows "
            f"WHERE {filt.to_sql('postgresql', schema)}")


def pg_batches(spec: SourceSpec, info: PgInfo, columns: list[str], filt,
               batch_rows: int, partition: tuple[str, int, int, int] | None = None
               ) -> Iterator[pa.RecordBatch]:
    """Stream ``columns`` of the source (filter applied) as record batches; with
    ``partition``, one customer-hash partition of them, selected in the query
    (:func:`basketguard.engine.io.sources.partition_predicate`).

    Batches are at most ``batch_rows`` rows (the driver's are about
    :data:`BATCH_BYTES`). A lost connection or a failing query mid-stream is
    a :class:`SourceError`; what was read so far is dropped by the caller.
    """
    uri = connection_uri(spec)
    errors = driver_errors()
    from basketguard.engine.io.sources import in_partition

    sql = in_partition(select_sql(info, columns, filt, info.schema), columns, "postgresql",
                       partition)
    with connect(spec) as con, con.cursor() as cur:
        try:
            cur.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(BATCH_BYTES)})
            cur.execute(sql)
            reader = cur.fetch_record_batch()
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    part = batch.slice(start, batch_rows)
                    if part.num_rows:
                        yield pa.RecordBatch.from_arrays(part.columns, names=columns)
        except errors as exc:
            raise failure(exc, spec, uri, "reading") from None


def pg_fingerprint(spec: SourceSpec, info: PgInfo) -> tuple[list[Any] | None, str]:
    """What the server reports about the data, for the cache key.

    Returns
    -------
    (list or None, str)
        The facts (database, server address and port, row count, newest row
        version or ``change_column`` maximum), or None when the source cannot
        be fingerprinted; and the rule used (or why none applies).
    """
    uri = connection_uri(spec)
    errors = driver_errors()
    if spec.change_column is None and (spec.query is not None or info.relkind not in
                                       ("r", "p", "m")):
        what = "a query" if spec.query is not None else "a view"
        return None, (f"{what} has no row versions to fingerprint; set `change_column` to "
                      "a column whose maximum grows with new data, or read with --no-cache")
    with connect(spec) as con, con.cursor() as cur:
        try:
            cur.execute("SELECT current_database()::text, coalesce(inet_server_addr()::text, "
                        "'socket'), current_setting('port')")
            server = [str(v) for v in cur.fetchall()[0]]
            if spec.change_column is not None:
                if spec.change_column not in info.pg_types:
                    raise SchemaError(
                        f"{spec.origin}: change_column {spec.change_column!r} is not a column "
                        f"of the source (it has: {', '.join(info.pg_types)}).")
                rule = f"count and max({spec.change_column})"
                cur.execute(f"SELECT count(*), max({quote_ident(spec.change_column)})::text "
                            f"FROM {info.source} AS basketguard_source")
            else:
                # the sum sees an update whose transaction began before, and committed
                # after, the newest one (the max alone would not move)
                rule = "count, max(xmin) and sum(xmin)"
                cur.execute("SELECT count(*), max(xmin::text::bigint)::text || ':' || "
                            "coalesce(sum(xmin::text::bigint), 0)::text "
                            f"FROM {qualified(spec.table)}")
            count, newest = cur.fetchall()[0]
        except errors as exc:
            if getattr(exc, "sqlstate", None) == "42501":
                return None, ("this role may not read the table's row versions (xmin); set "
                              "`change_column`, or grant SELECT on the whole table")
            raise failure(exc, spec, uri, "fingerprinting the source") from None
    return [server, rule, int(count), newest], rule
