"""Open a role's source and stream its mapped columns as Arrow record batches.

Files (Parquet, CSV plain or compressed, Arrow IPC; single files, globs and
hive-partitioned folders) go through :mod:`pyarrow.dataset`, reading only the
columns that are needed and pushing the row filter down (Parquet row groups
are pruned by their statistics). DuckDB tables and queries run in DuckDB with
the filter rendered as a ``WHERE`` clause and come back as Arrow.

Every failure names the project key, the file and what to do.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from basketguard.engine.config.project import SourceSpec
from basketguard.engine.config.toml import closest_match, did_you_mean
from basketguard.engine.errors import ConfigError, SchemaError, SourceError
from basketguard.engine.io.filters import quote_ident

#: Rows per record batch handed to the engine.
BATCH_ROWS = 1 << 20

_GLOB_CHARS = set("*?[")

#: Roles whose CSV columns are read as text unless `types` says otherwise, so
#: that per-block type inference can never change an id's type mid-file.
_CSV_TEXT_ROLES = ("customer", "item", "basket", "store", "time")
_CSV_FLOAT_ROLES = ("quantity", "price")


def _arrow_type(name: str, origin: str, column: str) -> pa.DataType:
    aliases = {"str": "string", "text": "string", "int": "int64", "float": "float64",
               "double": "float64", "timestamp": "timestamp[s]", "date": "date32"}
    name = aliases.get(name, name)
    try:
        if name.startswith("timestamp["):
            return pa.timestamp(name[len("timestamp["):-1])
        return pa.type_for_alias(name)
    except (ValueError, KeyError):
        raise ConfigError(
            f"{origin}: types.{column} = {name!r} is not an Arrow type name "
            "(use e.g. string, int64, float64, timestamp[s], date32)."
        ) from None


@dataclass
class Source:
    """An opened source: its schema, its files and a way to stream batches.

    Use :func:`open_source` to make one.
    """

    spec: SourceSpec
    schema: pa.Schema
    files: list[Path]
    _dataset: Any = None

    @property
    def where(self) -> str:
        """Human-readable name of the source for messages."""
        if self.spec.format == "duckdb":
            what = f"table {self.spec.table!r}" if self.spec.table else "query"
            return f"{self.spec.origin} ({self.spec.path}, {what})"
        if len(self.files) == 1:
            return f"{self.spec.origin} ({self.files[0]})"
        return f"{self.spec.origin} ({self.spec.path}, {len(self.files)} files)"

    def check_columns(self, needed: list[str], purpose: dict[str, str] | None = None) -> None:
        """Raise :class:`SchemaError` if a needed column is absent.

        Parameters
        ----------
        needed : list of str
            Source column names.
        purpose : dict, optional
            Column -> the key that asked for it, for the message.
        """
        names = self.schema.names
        for col in needed:
            if col not in names:
                close = closest_match(col, names, cutoff=0.4)
                hint = f" The closest name is {close!r}." if close else ""
                why = f" (mapped by {purpose[col]})" if purpose and col in purpose else ""
                raise SchemaError(
                    f"{self.where}: column {col!r}{why} is not in the source.{hint} "
                    f"Available columns: {', '.join(names)}. Fix the mapping in the project file."
                )

    def check_consistent(self, columns: list[str]) -> None:
        """Raise :class:`SchemaError` if files disagree on a column's type.

        A multi-file dataset takes its schema from the first file, so a
        column that is integer in one file and text in another would fail
        (or silently change) in the middle of a scan; this names both files.
        """
        if self._dataset is None or len(self.files) < 2 or self.spec.format == "csv":
            return
        seen: dict[str, tuple[pa.DataType, str]] = {}
        for frag in self._dataset.get_fragments():
            schema = frag.physical_schema
            for col in columns:
                if col not in schema.names:
                    if self.spec.partitioning == "hive":
                        continue  # partition keys live in the path, not the file
                    raise SchemaError(
                        f"{self.spec.origin}: column {col!r} is missing from {frag.path} "
                        f"(it has: {', '.join(schema.names)}). Every file must have the "
                        "mapped columns."
                    )
                typ = schema.field(col).type
                if col in seen and not _compatible(seen[col][0], typ):
                    raise SchemaError(
                        f"{self.spec.origin}: column {col!r} is {seen[col][0]} in "
                        f"{seen[col][1]} but {typ} in {frag.path}; make the files agree "
                        "(ids must be all integers or all text)."
                    )
                seen.setdefault(col, (typ, frag.path))

    def fingerprint(self) -> list[list[Any]]:
        """(path, size, modification time) of every file the source reads."""
        out = []
        for f in self.files:
            st = f.stat()
            out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
        return out

    def row_count_hint(self) -> int | None:
        """Rows in the source before filtering, when cheap to know (Parquet)."""
        if self._dataset is not None and self.spec.format == "parquet":
            try:
                return sum(frag.metadata.num_rows for frag in self._dataset.get_fragments())
            except (pa.ArrowException, OSError, AttributeError):
                return None
        return None

    def batches(self, columns: list[str], batch_rows: int = BATCH_ROWS,
                apply_filter: bool = True) -> Iterator[pa.RecordBatch]:
        """Stream ``columns`` (filter applied) as record batches.

        Parameters
        ----------
        columns : list of str
            Columns to read, in this order.
        batch_rows : int
            Upper bound on rows per batch.
        apply_filter : bool
            Apply the spec's filter (pushed down where possible).

        Yields
        ------
        pyarrow.RecordBatch
        """
        self.check_columns(columns)
        filt = self.spec.filter if apply_filter else None
        if filt is not None:
            self.check_columns(list(filt.columns),
                               {c: f"{self.spec.origin} filter" for c in filt.columns})
        if self.spec.format == "duckdb":
            yield from self._duckdb_batches(columns, batch_rows, filt)
            return
        expr = filt.to_arrow(self.schema) if filt is not None else None
        try:
            # Bounded read-ahead: a few batches in flight, not dozens, so that
            # peak memory stays near one batch beyond what the engine keeps.
            scanner = self._dataset.scanner(columns=columns, filter=expr,
                                            batch_size=batch_rows, use_threads=True,
                                            batch_readahead=1, fragment_readahead=1)
            for batch in scanner.to_batches():
                if batch.num_rows:
                    yield batch
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise SourceError(
                f"{self.where}: reading failed: {exc}. If a column's type is wrong for CSV, "
                f"set it under [{self.spec.role}.types]; if the filter compares a column "
                "with a value of another type, fix the filter."
            ) from None
        except OSError as exc:
            raise SourceError(f"{self.where}: reading failed: {exc}.") from None

    def read_table(self, columns: list[str]) -> pa.Table:
        """Read ``columns`` (filter applied) into one table."""
        batches = list(self.batches(columns))
        if not batches:
            return pa.table({c: pa.array([], self.schema.field(c).type) for c in columns})
        return pa.Table.from_batches(batches)

    def _duckdb_sql(self, columns: list[str], filt) -> str:
        base = (f"SELECT * FROM {quote_ident(self.spec.table)}" if self.spec.table
                else self.spec.query)
        cols = ", ".join(quote_ident(c) for c in columns)
        where = f" WHERE {filt.to_sql()}" if filt is not None else ""
        return f"SELECT {cols} FROM ({base}) AS basketguard_source{where}"

    def _duckdb_batches(self, columns, batch_rows, filt):
        import duckdb

        sql = self._duckdb_sql(columns, filt)
        con = _duckdb_connect(self.spec, self.files[0])
        try:
            reader = _duckdb_reader(con, sql, batch_rows)
            for batch in reader:
                if batch.num_rows:
                    yield batch
        except duckdb.Error as exc:
            raise SourceError(f"{self.where}: DuckDB failed: {exc}.") from None
        finally:
            con.close()


def _kind(t: pa.DataType) -> str:
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_dictionary(t):
        return _kind(t.value_type)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    return str(t)


def _compatible(a: pa.DataType, b: pa.DataType) -> bool:
    return _kind(a) == _kind(b)


def _duckdb_connect(spec: SourceSpec, path: Path):
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise SourceError(
            f"{spec.origin}: cannot open DuckDB database {str(path)!r}: {exc}."
        ) from None


def _duckdb_reader(con, sql: str, batch_rows: int):
    rel = con.sql(sql)
    if hasattr(rel, "to_arrow_reader"):
        return rel.to_arrow_reader(batch_rows)
    return rel.fetch_arrow_reader(batch_rows)  # duckdb < 1.4


def _resolve_files(spec: SourceSpec) -> tuple[list[Path], str | Path | list[str]]:
    path = spec.path
    text = str(path)
    if any(ch in _GLOB_CHARS for ch in spec.location):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        if not files:
            raise SourceError(
                f"{spec.origin}: source {spec.location!r} (resolved to {text!r}) matches no file. "
                "Check the pattern and the folder it is relative to (the project file's folder)."
            )
        return files, [str(f) for f in files]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*")
                       if p.is_file() and not p.name.startswith((".", "_")))
        if not files:
            raise SourceError(f"{spec.origin}: source folder {text!r} holds no data files.")
        return files, text
    if not path.exists():
        parent = path.parent
        hint = ""
        if parent.is_dir():
            hint = did_you_mean(path.name, os.listdir(parent))
        raise SourceError(
            f"{spec.origin}: source file {text!r} does not exist.{hint} Paths are relative "
            "to the project file's folder."
        )
    if path.stat().st_size == 0:
        raise SourceError(f"{spec.origin}: source file {text!r} is empty (0 bytes).")
    return [path], text


def _file_format(spec: SourceSpec):
    import pyarrow.csv as pacsv
    import pyarrow.dataset as ds

    if spec.format == "parquet":
        return ds.ParquetFileFormat()
    if spec.format == "ipc":
        return ds.IpcFileFormat()
    column_types = {}
    for role in _CSV_TEXT_ROLES:
        col = spec.column(role)
        if col is not None:
            column_types[col] = pa.string()
    for role in _CSV_FLOAT_ROLES:
        col = spec.column(role)
        if col is not None:
            column_types[col] = pa.float64()
    for col, name in spec.types.items():
        column_types[col] = _arrow_type(name, spec.origin, col)
    return ds.CsvFileFormat(
        parse_options=pacsv.ParseOptions(delimiter=spec.delimiter),
        convert_options=pacsv.ConvertOptions(column_types=column_types,
                                             strings_can_be_null=True),
        read_options=pacsv.ReadOptions(block_size=8 << 20),
    )


def open_source(spec: SourceSpec) -> Source:
    """Open a role's source without reading its rows.

    Parameters
    ----------
    spec : SourceSpec
        The role's source and mapping from the project file.

    Returns
    -------
    Source

    Raises
    ------
    SourceError
        The file is missing or empty, a glob matches nothing, or the file
        is not in the declared format.
    """
    if spec.format == "duckdb":
        path = spec.path
        if not path.is_file():
            raise SourceError(f"{spec.origin}: DuckDB database {str(path)!r} does not exist.")
        con = _duckdb_connect(spec, path)
        try:
            import duckdb

            if spec.table is not None:
                tables = [r[0] for r in con.sql(
                    "SELECT table_name FROM information_schema.tables").fetchall()]
                if spec.table not in tables:
                    hint = did_you_mean(spec.table, tables, cutoff=0.4)
                    raise SourceError(
                        f"{spec.origin}: table {spec.table!r} is not in {str(path)!r}.{hint} "
                        f"Tables: {', '.join(tables) or '(none)'}."
                    )
            base = (f"SELECT * FROM {quote_ident(spec.table)}" if spec.table else spec.query)
            try:
                schema = _duckdb_reader(con, f"SELECT * FROM ({base}) AS q LIMIT 0", 1).schema
            except duckdb.Error as exc:
                raise SourceError(f"{spec.origin}: DuckDB cannot run the query: {exc}.") from None
        finally:
            con.close()
        return Source(spec=spec, schema=schema, files=[path])

    import pyarrow.dataset as ds

    files, target = _resolve_files(spec)
    try:
        dataset = ds.dataset(target, format=_file_format(spec),
                             partitioning="hive" if spec.partitioning == "hive" else None)
        schema = dataset.schema
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        raise SourceError(
            f"{spec.origin}: cannot read {spec.location!r} as {spec.format}: {exc}. "
            "Check the file and the `format` key."
        ) from None
    return Source(spec=spec, schema=schema, files=files, _dataset=dataset)
