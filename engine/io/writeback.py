"""Write results back as a table in the project's database, atomically.

The database is the one the ``[lines]`` source reads: a PostgreSQL server
(through ADBC) or a DuckDB file. A result (findings, per-customer scores,
the amended segment) is loaded into a fresh table under a temporary name in
the target's schema, and then, in the same transaction, the old table (only
with ``replace``) is dropped and the new one renamed into place. Readers see
the old table or the new one, never a half-written one; a failure at any
point rolls everything back and leaves the old table as it was.

A target that exists is refused unless ``replace`` is given, and a target
that may be one of the project's own sources is always refused: a table any
database source of the project reads (by name, whatever server or file it
names: refusing too much is safe, replacing a source is not), and any table
whose name appears in a source's ``query``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import pyarrow as pa

from basketguard.engine.config.project import DATABASES, Project, SourceSpec
from basketguard.engine.errors import ConfigError, OutputError, SourceError
from basketguard.engine.io.filters import quote_ident


@dataclass(frozen=True)
class TableTarget:
    """A table to write in the project's database.

    Parameters
    ----------
    database : SourceSpec
        The ``[lines]`` source: its connection (PostgreSQL) or file (DuckDB).
    name : str
        ``table`` or ``schema.table``.
    option : str
        The option that named it, for messages (``--findings-table``).
    protected : tuple of str
        The project's source tables (never overwritten).
    queries : tuple of str
        The project's source queries (a table named in one is never overwritten).
    """

    database: SourceSpec
    name: str
    option: str
    protected: tuple[str, ...] = ()
    queries: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.option} {self.name!r} ({self.database.path})"


def table_target(project: Project, name: str, option: str) -> TableTarget:
    """The target ``name`` in the database of the project's ``[lines]`` source.

    Raises
    ------
    ConfigError
        The lines source is a file, or the name is not ``table`` or ``schema.table``.
    """
    lines = project.lines
    if lines.format not in DATABASES:
        raise ConfigError(
            f"{option} {name!r}: results are written back to the database the [lines] source "
            f"reads (format 'postgresql' or 'duckdb'), and {lines.origin} is a "
            f"{lines.format} file; write a file instead (--out, --scores).")
    parts = name.split(".")
    if not name.strip() or len(parts) > 2 or not all(p.strip() for p in parts):
        raise ConfigError(f"{option} {name!r}: give a table name, `table` or `schema.table`.")
    databases = [s for s in project.sources.values() if s.format in DATABASES]
    tables = tuple(s.table for s in databases if s.table)
    queries = tuple(s.query for s in databases if s.query)
    return TableTarget(lines, name, option, tables, queries)


def _normalized(table: pa.Table) -> pa.Table:
    """Columns as plain types both databases take (no dictionaries, no null type)."""
    def plain(col):
        t = col.type
        if pa.types.is_dictionary(t):
            return col.cast(t.value_type)
        if pa.types.is_null(t) or pa.types.is_large_string(t):
            return col.cast(pa.string())
        return col

    return pa.table([plain(c) for c in table.columns], names=table.column_names)


def check_target(target: TableTarget, replace: bool) -> None:
    """Refuse early (before any work) a target that exists without ``replace``."""
    if target.database.format == "postgresql":
        _pg_write(target, None, replace)
    else:
        _duckdb_write(target, None, replace)


def write_table(target: TableTarget, table: pa.Table, replace: bool = False) -> int:
    """Write ``table`` as ``target``, atomically; returns the rows written.

    Parameters
    ----------
    target : TableTarget
    table : pyarrow.Table
    replace : bool
        Replace an existing table of that name (else it is an error).

    Raises
    ------
    OutputError
        The table exists and ``replace`` is not given, the target is a
        source table of the project, or the database refused the write
        (nothing is changed then).
    SourceError
        The database cannot be reached or refuses the login.
    """
    table = _normalized(table)
    if target.database.format == "postgresql":
        _pg_write(target, table, replace)
    else:
        _duckdb_write(target, table, replace)
    return table.num_rows


def _source_of(target: TableTarget) -> str | None:
    """What makes ``target`` possibly a source of the project, or None.

    A table name matches a source table in any schema when either has none,
    and case-insensitively (DuckDB and unquoted PostgreSQL names fold case);
    a name that appears as a word in a source query matches too.
    """
    schema, _, name = target.name.lower().rpartition(".")
    for p in target.protected:
        p_schema, _, p_name = p.lower().rpartition(".")
        if p_name == name and (p_schema == schema or not p_schema or not schema):
            return f"the project reads table {p!r}"
    word = re.compile(r"(?<![\w$])" + re.escape(name) + r"(?![\w$])", re.I)
    for q in target.queries:
        if word.search(q):
            return f"a source query of the project names {name!r}"
    return None


def _refuse_existing(target: TableTarget, exists: bool, replace: bool) -> None:
    why = _source_of(target)
    if why:
        raise OutputError(
            f"{target.where}: that may be a source table of this project ({why}); write the "
            "results to another table.")
    if exists and not replace:
        raise OutputError(
            f"{target.where}: the table exists; pass --replace to replace it (atomically), or "
            "name another table.")


def _pg_write(target: TableTarget, table: pa.Table | None, replace: bool) -> None:
    from basketguard.engine.io import postgres

    spec = target.database
    uri = postgres.connection_uri(spec)
    errors = postgres.driver_errors()
    schema, name = postgres.split_table(target.name)
    with postgres.connect(spec, read_only=False) as con, con.cursor() as cur:
        try:
            cur.execute("SELECT to_regclass($1)::oid::bigint",
                        parameters=(postgres.qualified(target.name),))
            oid = cur.fetchall()[0][0]
            protected = []
            for p in target.protected:
                cur.execute("SELECT to_regclass($1)::oid::bigint",
                            parameters=(postgres.qualified(p),))
                protected.append(cur.fetchall()[0][0])
            if oid is not None and oid in protected:
                raise OutputError(
                    f"{target.where}: that is a source table of this project; write the "
                    "results to another table.")
            _refuse_existing(target, oid is not None, replace)
            if table is None:
                _pg_may_write(cur, target, schema, oid)
                con.rollback()
                return
            tmp = f"{name[:40]}__basketguard_{secrets.token_hex(4)}"
            kwargs = {"db_schema_name": schema} if schema else {}
            cur.adbc_ingest(tmp, table, mode="create", **kwargs)
            if oid is not None:
                cur.execute(f"DROP TABLE {postgres.qualified(target.name)}")
            tmp_q = (quote_ident(schema) + "." if schema else "") + quote_ident(tmp)
            cur.execute(f"ALTER TABLE {tmp_q} RENAME TO {quote_ident(name)}")
            con.commit()
        except errors as exc:
            try:
                con.rollback()
            except errors:
                pass
            err = postgres.failure(exc, spec, uri, f"writing {target.option} {target.name!r}")
            raise OutputError(f"{err} Nothing was written.") from None


def _pg_may_write(cur, target: TableTarget, schema: str | None, oid: int | None) -> None:
    """Refuse early a write this role may not do: CREATE on the schema, and owning
    (or being a member of the owner of) a table it replaces."""
    cur.execute("SELECT current_user::text, coalesce($1::text, current_schema())::text, "
                "has_schema_privilege(coalesce($1::text, current_schema()), 'CREATE')",
                parameters=(schema,))
    role, schema_name, may_create = cur.fetchall()[0]
    if not may_create:
        raise OutputError(
            f"{target.where}: permission denied: role {role!r} may not create tables in "
            f"schema {schema_name!r}, and write-back fills a new table there. Grant it "
            f"(GRANT USAGE, CREATE ON SCHEMA {quote_ident(schema_name)} TO "
            f"{quote_ident(role)}) or write to a schema it owns; docs/warehouses.md. "
            "Nothing was written.")
    if oid is not None:
        cur.execute("SELECT pg_has_role(relowner, 'USAGE'), relowner::regrole::text "
                    "FROM pg_class WHERE oid = $1::bigint::oid", parameters=(oid,))
        owns, owner = cur.fetchall()[0]
        if not owns:
            raise OutputError(
                f"{target.where}: permission denied: the table belongs to role {owner!r}, and "
                f"only its owner may replace it; role {role!r} is not a member of it. "
                "Nothing was written.")


def _duckdb_write(target: TableTarget, table: pa.Table | None, replace: bool) -> None:
    import duckdb

    path = str(target.database.path)
    try:
        con = duckdb.connect(path)
    except duckdb.Error as exc:
        raise SourceError(f"{target.where}: cannot open the DuckDB database for writing: "
                          f"{exc}. Another process may hold it open.") from None
    schema, _, name = target.name.rpartition(".")
    qual = (quote_ident(schema) + "." if schema else "") + quote_ident(name)
    try:
        con.execute("BEGIN TRANSACTION")
        # fetchall: DuckDB 2 refuses the next statement while a result is unfinished
        found = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE lower(table_name) = lower(?) AND "
            "(lower(schema_name) = lower(?) OR (? = '' AND schema_name = current_schema()))",
            [name, schema, schema]).fetchall()[0][0]
        _refuse_existing(target, bool(found), replace)
        if table is None:
            con.execute("ROLLBACK")
            return
        tmp = f"{name[:40]}__basketguard_{secrets.token_hex(4)}"
        tmp_q = (quote_ident(schema) + "." if schema else "") + quote_ident(tmp)
        con.register("basketguard_result", table)
        con.execute(f"CREATE TABLE {tmp_q} AS SELECT * FROM basketguard_result")
        con.unregister("basketguard_result")
        if found:
            con.execute(f"DROP TABLE {qual}")
        con.execute(f"ALTER TABLE {tmp_q} RENAME TO {quote_ident(name)}")
        con.execute("COMMIT")
    except duckdb.Error as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise OutputError(f"{target.where}: DuckDB refused the write ({exc}); nothing was "
                          "written.") from None
    except OutputError:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
