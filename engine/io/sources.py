"""Open a role's source and stream its mapped columns as Arrow record batches.

Files (Parquet, CSV plain or compressed, Arrow IPC; single files, globs and
hive-partitioned folders) go through :mod:`pyarrow.dataset`, reading only the
columns that are needed and pushing the row filter down (Parquet row groups
are pruned by their statistics). DuckDB tables and queries run in DuckDB with
the filter rendered as a ``WHERE`` clause and come back as Arrow; PostgreSQL
tables and queries the same way through ADBC (:mod:`basketguard.engine.io.postgres`).

The engine resolves the list of files itself and builds the dataset from that
explicit list, so the files it fingerprints are exactly the files it reads
(pyarrow never re-discovers a folder). Folders are walked following symbolic
links; names starting with ``.`` or ``_`` (files and folders) are skipped. A
link back into a folder being walked (a loop), or one file reached by two
paths, is an error naming the link: reading it would count lines twice.

Every failure names the project key, the file and what to do; a damaged or
truncated file is named as such, and a CSV column by its name.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from basketguard.engine.config.project import SourceSpec
from basketguard.engine.config.toml import closest_match, did_you_mean
from basketguard.engine.errors import ConfigError, InternalError, SchemaError, SourceError
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

#: pyarrow's wrapping of a message, removed so that what remains is the cause.
_NOISE = (
    re.compile(r"Error creating dataset\. Could not read schema from '[^']*'\. "
               r"Is this a '\w+' file\?: "),
    re.compile(r"Could not open [\w ]+ input source '[^']*': "),
    re.compile(r"^(Invalid|IOError|Invalid argument|Type error|NotImplemented): "),
)
_CSV_COLUMN = re.compile(r"In CSV column #(\d+): ")
_CSV_ROW = re.compile(r"Row #(\d+): ")
_CSV_FIELDS = re.compile(r"Expected (\d+) columns, got (\d+)")
_CSV_VALUE = re.compile(r"CSV conversion error to ([\w\[\], ]+): invalid value '(.*)'")
_FORMAT_NAMES = {"parquet": "Parquet", "csv": "CSV", "ipc": "Arrow IPC (Feather)"}
_DAMAGE = ("compress", "inflate", "gzip", "zlib", "bz2", "snappy", "lz4", "zstd", "corrupt",
           "truncated", "end of stream", "end of file", "magic bytes", "thrift",
           "flatbuffer", "not an arrow file", "invalid ipc", "out of bounds", "footer")


def _plain_detail(exc: BaseException) -> str:
    """pyarrow's message without its wrapping, printable and short."""
    text = str(exc).strip()
    for pattern in _NOISE:
        text = pattern.sub("", text)
    text = "".join(ch if ch.isprintable() else "?" for ch in text).strip().rstrip(".")
    return text if len(text) <= 240 else text[:237] + "..."


def _csv_header(path: Path, delimiter: str) -> list[str]:
    """Column names on the first line of a CSV file (plain or compressed)."""
    import csv

    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            head = stream.read(1 << 16)
    except (pa.ArrowException, OSError):
        return []
    lines = head.decode("utf-8", errors="replace").splitlines()
    return next(csv.reader(lines[:1], delimiter=delimiter), []) if lines else []


def _csv_failure(spec: SourceSpec, name: str, detail: str, file: Path | None) -> str | None:
    """A CSV parse or conversion error in words, or None if it is neither."""
    row = _CSV_ROW.search(detail)
    line = f"line {row.group(1)}" if row else "a line"
    fields = _CSV_FIELDS.search(detail)
    if fields:
        return (f"{name}: {line} has {fields.group(2)} fields where the header has "
                f"{fields.group(1)}. The file is truncated or damaged, or its delimiter is "
                f"not {spec.delimiter!r} (set `delimiter`), or a quote is not closed.")
    col = _CSV_COLUMN.search(detail)
    header = _csv_header(file, spec.delimiter) if file is not None and col else []
    index = int(col.group(1)) if col else -1
    column = (f"column {header[index]!r}" if 0 <= index < len(header)
              else f"column {index + 1}" if col else "a column")
    if "invalid UTF8" in detail:
        return (f"{name}: {column} holds text that is not UTF-8 ({line}). The file is "
                "damaged, or in another encoding: convert it to UTF-8 (e.g. "
                "`iconv -f latin1 -t utf-8`).")
    value = _CSV_VALUE.search(detail)
    if value:
        key = header[index] if 0 <= index < len(header) else None
        ids = {spec.column(r) for r in ("customer", "item", "basket", "store")}
        shown = "a value" if key in ids else f"the value {value.group(2)!r}"
        fix = (f"set types.{key} under [{spec.role}] to the column's real type, or "
               if key else "")
        return (f"{name}: {column}, {line}: {shown} is not {value.group(1)}; {fix}fix the "
                "row.")
    return None


def _read_failure(spec: SourceSpec, exc: BaseException, files: list[Path],
                  file: str | Path | None) -> SourceError:
    """The :class:`SourceError` for an Arrow error while opening or reading ``file``.

    ``file`` is the file being read, when known; otherwise it is looked for in
    the message (pyarrow quotes it), else the only file of the source.
    """
    if isinstance(exc, MemoryError):
        raise exc
    detail = _plain_detail(exc)
    if file is None:
        named = [f for f in files if str(f) in str(exc)]
        file = named[0] if named else (files[0] if len(files) == 1 else None)
    path = Path(file) if file is not None else None
    name = f"{spec.origin}: {str(path)!r}" if path is not None else \
        f"{spec.origin}: source {spec.location!r}"
    fmt = _FORMAT_NAMES.get(spec.format, spec.format)
    if spec.format == "csv":
        said = _csv_failure(spec, name, detail, path)
        if said is not None:
            return SourceError(said)
    lowered = detail.lower()
    damaged = any(word in lowered for word in _DAMAGE) or (
        spec.format != "csv" and not isinstance(exc, (pa.ArrowTypeError,
                                                      pa.ArrowNotImplementedError)))
    if damaged:
        return SourceError(
            f"{name} cannot be read as {fmt}: the file is damaged or truncated ({detail}). "
            "Copy or export it again from its origin (an interrupted copy or write leaves "
            "such a file); if it is in another format, set `format`."
        )
    return SourceError(
        f"{name}: reading failed: {detail}. If a column's type is wrong for CSV, set it "
        f"under [{spec.role}.types]; if the filter compares a column with a value of "
        "another type, fix the filter."
    )


@dataclass
class Source:
    """An opened source: its schema, its files and a way to stream batches.

    Use :func:`open_source` to make one.
    """

    spec: SourceSpec
    schema: pa.Schema
    files: list[Path]
    _dataset: Any = None
    _pg: Any = None
    #: Why :meth:`fingerprint` returned None (the source is read anew each run).
    uncached_reason: str | None = None

    @property
    def where(self) -> str:
        """Human-readable name of the source for messages."""
        if self.spec.format in ("duckdb", "postgresql"):
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
            try:
                schema = frag.physical_schema
            except (pa.ArrowException, OSError) as exc:
                raise _read_failure(self.spec, exc, self.files, frag.path) from None
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

    def fingerprint(self) -> list[list[Any]] | None:
        """(path, size, modification time) of every file the source reads.

        The list is the dataset's own list of files, which is built from
        :attr:`files` and nothing else (pyarrow discovers nothing). For
        PostgreSQL, what the server reports about the data
        (:func:`~basketguard.engine.io.postgres.pg_fingerprint`), or None when
        it cannot tell a change (:attr:`uncached_reason` says why).
        """
        if self._pg is not None:
            from basketguard.engine.io.postgres import pg_fingerprint

            facts, rule = pg_fingerprint(self.spec, self._pg)
            self.uncached_reason = None if facts is not None else rule
            return facts
        if self._dataset is not None and list(self._dataset.files) != [str(f) for f in self.files]:
            raise InternalError(
                f"{self.where}: the dataset reads other files than the engine resolved."
            )
        out = []
        for f in self.files:
            st = f.stat()
            out.append([str(f.resolve()), st.st_size, st.st_mtime_ns])
        return out

    def row_count_hint(self) -> int | None:
        """Rows in the source before filtering, when cheap to know (Parquet; a
        PostgreSQL table's planner estimate)."""
        if self._pg is not None:
            return self._pg.row_estimate  # read when the source was opened
        if self._dataset is not None and self.spec.format == "parquet":
            try:
                return sum(frag.metadata.num_rows for frag in self._dataset.get_fragments())
            except (pa.ArrowException, OSError, AttributeError):
                return None
        return None

    @property
    def splits_in_sql(self) -> bool:
        """A database source: :meth:`batches` can keep one customer-hash partition in
        its query (``partition``) rather than sending every row."""
        return self.spec.format == "duckdb" or self._pg is not None

    def batches(self, columns: list[str], batch_rows: int = BATCH_ROWS,
                apply_filter: bool = True,
                partition: tuple[str, int, int, int] | None = None
                ) -> Iterator[pa.RecordBatch]:
        """Stream ``columns`` (filter applied) as record batches.

        Parameters
        ----------
        columns : list of str
            Columns to read, in this order.
        batch_rows : int
            Upper bound on rows per batch.
        apply_filter : bool
            Apply the spec's filter (pushed down where possible).
        partition : (column, part, n_parts, seed), optional
            Database sources only (:attr:`splits_in_sql`): keep the rows whose
            ``column`` hashes to partition ``part`` of ``n_parts`` in the query
            itself (:func:`partition_predicate`; a null id is in partition 0).

        Yields
        ------
        pyarrow.RecordBatch
        """
        self.check_columns(columns)
        filt = self.spec.filter if apply_filter else None
        if filt is not None:
            self.check_columns(list(filt.columns),
                               {c: f"{self.spec.origin} filter" for c in filt.columns})
        if partition is not None and not self.splits_in_sql:
            raise ValueError("only a database source splits partitions in its query")
        if self.spec.format == "duckdb":
            yield from self._duckdb_batches(columns, batch_rows, filt, partition)
            return
        if self._pg is not None:
            from basketguard.engine.io.postgres import pg_batches

            yield from pg_batches(self.spec, self._pg, columns, filt, batch_rows,
                                  partition=partition)
            return
        expr = filt.to_arrow(self.schema) if filt is not None else None
        current = None
        try:
            # One file at a time, in order, so that a failure names its file.
            # Bounded read-ahead: a few batches in flight, not dozens, so that
            # peak memory stays near one batch beyond what the engine keeps.
            for frag in self._dataset.get_fragments(filter=expr):
                current = frag.path
                scanner = frag.scanner(schema=self._dataset.schema, columns=columns,
                                       filter=expr, batch_size=batch_rows, use_threads=True,
                                       batch_readahead=1)
                for batch in scanner.to_batches():
                    if batch.num_rows:
                        yield batch
        except (pa.ArrowException, OSError) as exc:
            raise _read_failure(self.spec, exc, self.files, current) from None

    def read_table(self, columns: list[str]) -> pa.Table:
        """Read ``columns`` (filter applied) into one table."""
        batches = list(self.batches(columns))
        if not batches:
            return pa.table({c: pa.array([], self.schema.field(c).type) for c in columns})
        return pa.Table.from_batches(batches)

    def _duckdb_sql(self, columns: list[str], filt, partition=None) -> str:
        base = (f"SELECT * FROM {quote_ident(self.spec.table)}" if self.spec.table
                else self.spec.query)
        cols = ", ".join(quote_ident(c) for c in columns)
        where = f" WHERE {filt.to_sql()}" if filt is not None else ""
        sql = f"SELECT {cols} FROM ({base}) AS basketguard_source{where}"
        return in_partition(sql, columns, "duckdb", partition)

    def _duckdb_batches(self, columns, batch_rows, filt, partition=None):
        import duckdb

        sql = self._duckdb_sql(columns, filt, partition)
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


def partition_predicate(dialect: str, column: str, part: int, n_parts: int, seed: int) -> str:
    """SQL that is true for the rows whose ``column`` hashes to partition ``part``.

    DuckDB: ``hash(column, seed) % n_parts``; PostgreSQL:
    ``hashtextextended(column::text, seed)`` modulo ``n_parts`` (made
    non-negative). A null id is in partition 0, so the partitions' drop
    counters add up to the whole source's. Any split works: the partial results
    merge exactly whatever the partition of a customer, so the database's own
    hash replaces the engine's and no row leaves the database for another
    partition.
    """
    if not 0 <= part < n_parts:
        raise ValueError(f"partition {part} is not in 0..{n_parts - 1}")
    c = quote_ident(column)
    if dialect == "duckdb":
        h = f"hash({c}, {int(seed) % 2**64}::UBIGINT) % {n_parts}"
    elif dialect == "postgresql":
        h = (f"mod(mod(hashtextextended({c}::text, {int(seed) % 2**63}), {n_parts}) + "
             f"{n_parts}, {n_parts})")
    else:
        raise ValueError(f"no partition predicate for {dialect!r}")
    return f"(CASE WHEN {c} IS NULL THEN 0 ELSE {h} END) = {part}"


def in_partition(sql: str, columns: list[str], dialect: str,
                 partition: tuple[str, int, int, int] | None) -> str:
    """``sql`` (selecting ``columns``) restricted to one partition (unchanged for None)."""
    if partition is None:
        return sql
    column, part, n_parts, seed = partition
    if column not in columns:
        raise ValueError(f"the partition column {column!r} is not read")
    cols = ", ".join(quote_ident(c) for c in columns)
    return (f"SELECT {cols} FROM ({sql}) AS basketguard_part WHERE "
            f"{partition_predicate(dialect, column, part, n_parts, seed)}")


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


def _same_file_error(spec: SourceSpec, first: Path, second: Path) -> SourceError:
    return SourceError(
        f"{spec.origin}: source {spec.location!r} reaches the same file twice: {str(first)!r} "
        f"and {str(second)!r} (through a symbolic link); its lines would be counted twice. "
        "Remove the link, or narrow `source` to a glob that reaches each file once."
    )


def _check_distinct(files: list[Path], spec: SourceSpec) -> None:
    """Raise :class:`SourceError` if two of ``files`` are one file (links)."""
    seen: dict[str, Path] = {}
    for f in files:
        real = os.path.realpath(f)
        if real in seen:
            raise _same_file_error(spec, seen[real], f)
        seen[real] = f


def _walk_folder(root: Path, spec: SourceSpec) -> list[Path]:
    """Data files below ``root``: links followed, ``.``/``_`` names skipped, loops refused."""
    files: list[Path] = []
    seen: dict[str, Path] = {}  # real path -> the path it was first reached by

    def visit(folder: Path, inside: tuple[str, ...]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            raise SourceError(
                f"{spec.origin}: cannot list folder {str(folder)!r} of source "
                f"{spec.location!r}: {exc.strerror or exc}. Check that the folder is readable."
            ) from None
        for entry in entries:
            if entry.name.startswith((".", "_")):
                continue  # hidden files, _SUCCESS markers, _temporary folders
            path = Path(entry.path)
            real = os.path.realpath(path)
            if entry.is_dir():
                if real in inside:
                    raise SourceError(
                        f"{spec.origin}: {str(path)!r} is a symbolic link to "
                        f"{real!r}, a folder it is inside of: the source folder "
                        f"{str(root)!r} would be read over and over. Remove the link "
                        "(or point `source` at a folder without it)."
                    )
                if real in seen:
                    raise _same_file_error(spec, seen[real], path)
                seen[real] = path
                visit(path, (*inside, real))
            elif entry.is_file():
                if real in seen:
                    raise _same_file_error(spec, seen[real], path)
                seen[real] = path
                files.append(path)
            elif entry.is_symlink():
                raise SourceError(
                    f"{spec.origin}: {str(path)!r} in the source folder is a broken symbolic "
                    f"link (to {os.readlink(path)!r}); its data would be missing. Restore the "
                    "file it points to or remove the link."
                )

    real_root = os.path.realpath(root)
    seen[real_root] = root
    visit(root, (real_root,))
    return sorted(files)


def _glob_base(pattern: str) -> str:
    """The folder part of a glob before its first wildcard (hive partitions start there)."""
    parts = Path(pattern).parts
    literal = []
    for part in parts:
        if any(ch in _GLOB_CHARS for ch in part):
            break
        literal.append(part)
    return str(Path(*literal)) if literal else "."


def _resolve_files(spec: SourceSpec) -> tuple[list[Path], str | None]:
    """The exact files a file source reads, and the folder hive partitions start in."""
    path = spec.path
    text = str(path)
    if any(ch in _GLOB_CHARS for ch in spec.location):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        if not files:
            raise SourceError(
                f"{spec.origin}: source {spec.location!r} (resolved to {text!r}) matches no file. "
                "Check the pattern and the folder it is relative to (the project file's folder)."
            )
        _check_distinct(files, spec)
        return files, _glob_base(text)
    if path.is_dir():
        files = _walk_folder(path, spec)
        if not files:
            raise SourceError(
                f"{spec.origin}: source folder {text!r} holds no data files (names starting "
                "with '.' or '_' are skipped). Check the folder, or point `source` at the files."
            )
        return files, text
    if path.is_symlink() and not path.exists():
        raise SourceError(
            f"{spec.origin}: source {text!r} is a broken symbolic link (to "
            f"{os.readlink(path)!r}). Restore the file it points to or fix `source`."
        )
    if not path.exists():
        parent = path.parent
        if parent.is_dir():
            hint = did_you_mean(path.name, os.listdir(parent))
            what = f"source file {text!r} does not exist.{hint}"
        else:
            what = (f"source file {text!r} does not exist (its folder {str(parent)!r} does "
                    "not exist either).")
        raise SourceError(
            f"{spec.origin}: {what} Paths are relative to the project file's folder."
        )
    if not path.is_file():
        raise SourceError(
            f"{spec.origin}: source {text!r} is not a regular file (a pipe or a device?); "
            "give a file, a glob or a folder."
        )
    if path.stat().st_size == 0:
        raise SourceError(f"{spec.origin}: source file {text!r} is empty (0 bytes).")
    return [path], None


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
    if spec.format == "postgresql":
        from basketguard.engine.io.postgres import open_pg

        schema, info = open_pg(spec)
        return Source(spec=spec, schema=schema, files=[], _pg=info)
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

    files, base = _resolve_files(spec)
    hive = spec.partitioning == "hive"
    try:
        # The explicit list, never the folder: pyarrow must not discover files
        # (it would follow a link loop, or read what the fingerprint missed).
        dataset = ds.dataset([str(f) for f in files], format=_file_format(spec),
                             partitioning="hive" if hive else None,
                             partition_base_dir=base if hive else None)
        schema = dataset.schema
    except (pa.ArrowException, OSError) as exc:
        raise _read_failure(spec, exc, files, None) from None
    return Source(spec=spec, schema=schema, files=files, _dataset=dataset)
