"""The project file: where the data is and how its columns map to roles.

A project file is TOML. Each data role (DESIGN.md "data contracts") is a
table naming a source and the columns that play each canonical role::

    [project]
    name = "online-retail"

    [lines]
    source = "data/lines/*.parquet"    # file, glob, folder; relative to this file
    filter = "Quantity > 0 and not starts_with(InvoiceNo, 'C')"
    [lines.columns]
    customer = "CustomerID"
    item = "StockCode"
    time = "InvoiceDate"

    [validation]
    duplicate = "keep"

    [opt_out]                          # customers who declined personalized mailings
    source = "data/customers.parquet"
    filter = "marketing_opt_out == True"
    [opt_out.columns]
    customer = "CustomerID"

    [policy]                           # the mailing policy (engine.config.policy)
    max_posterior = 0.1

Roles ``opt_out`` (customer ids; a filter picks them out of a customers file)
and ``offer`` (the items a mailing promotes) are optional.

Everything is validated on load into frozen dataclasses; a mistake raises
:class:`~basketguard.engine.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from basketguard.engine.config.policy import Policy, policy_from_dict
from basketguard.engine.config.toml import check_keys, read_toml
from basketguard.engine.errors import ConfigError
from basketguard.engine.io.filters import Filter, parse_filter

#: Source formats the engine reads.
FORMATS = ("parquet", "csv", "ipc", "duckdb", "postgresql")
#: Formats that are databases: a ``table`` or a ``query`` picks the rows.
DATABASES = ("duckdb", "postgresql")
#: How a PostgreSQL ``source`` starts (a libpq connection URI).
PG_SCHEMES = ("postgresql://", "postgres://")

_EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
    ".duckdb": "duckdb",
    ".ddb": "duckdb",
}

#: Canonical roles of each data table: (required single columns, optional single
#: columns, optional list-valued keys).
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "lines": (("customer", "item", "time"), ("basket", "quantity", "price", "store"), ()),
    "catalog": (("item",), ("name",), ("levels",)),
    "customers": (("customer",), (), ("attributes", "labels")),
    "segment": (("customer",), ("offer",), ()),
    "truth": ((), ("customer", "event", "onset_date", "event_date"), ()),
    "opt_out": (("customer",), (), ()),
    "offer": (("item",), (), ()),
}

#: Validation outcomes per reason; ``--strict`` turns every ``drop`` into ``error``.
VALIDATION_REASONS: dict[str, tuple[str, ...]] = {
    "null_id": ("drop", "error"),
    "bad_time": ("drop", "error"),
    "non_positive_quantity": ("drop", "error"),
    "duplicate": ("drop", "keep", "error"),
}

_SOURCE_KEYS = (
    "source",
    "format",
    "columns",
    "filter",
    "types",
    "table",
    "query",
    "partitioning",
    "time_format",
    "time_zone",
    "delimiter",
    "password_file",
    "change_column",
)


def infer_format(location: str) -> str | None:
    """Guess a source format from a path or glob's extension (``None`` if unknown)."""
    name = location.lower()
    if name.startswith(PG_SCHEMES):
        return "postgresql"
    for suffix in (".gz", ".bz2"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return _EXTENSIONS.get(Path(name).suffix)


def _check_time_zone(name: str, origin: str) -> None:
    if name in ("UTC", "Etc/UTC", "Z"):
        return
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        raise ConfigError(
            f"{origin}: time_zone {name!r} is not a known IANA zone; use a name such as "
            "'UTC', 'Europe/London' or 'America/New_York'."
        ) from None


@dataclass(frozen=True)
class ValidationPolicy:
    """What happens to rows that fail validation, reason by reason.

    Parameters
    ----------
    null_id : {"drop", "error"}
        Null customer, item, basket or store ids, and null quantities.
    bad_time : {"drop", "error"}
        Null or unparseable timestamps.
    non_positive_quantity : {"drop", "error"}
        Quantities <= 0 (returns, corrections).
    duplicate : {"drop", "keep", "error"}
        Exact duplicate lines (every mapped column equal). ``keep`` still
        counts them in the profile.
    """

    null_id: str = "drop"
    bad_time: str = "drop"
    non_positive_quantity: str = "drop"
    duplicate: str = "drop"

    def __post_init__(self) -> None:
        for reason, allowed in VALIDATION_REASONS.items():
            value = getattr(self, reason)
            if value not in allowed:
                raise ConfigError(
                    f"validation.{reason} = {value!r} is not one of {', '.join(allowed)}."
                )

    def strict(self) -> ValidationPolicy:
        """The same policy with every ``drop`` turned into ``error``."""
        return replace(
            self,
            **{r: "error" for r in VALIDATION_REASONS if getattr(self, r) == "drop"},
        )


@dataclass(frozen=True)
class DetectionSettings:
    """The ``[detection]`` table: how signatures see this project's catalog.

    Parameters
    ----------
    vocabulary : tuple of Path
        Concept files or folders added to the built-in vocabulary (a concept
        with a built-in name replaces it).
    overrides : Path or None
        Reviewed item -> concept decisions (CSV; ``engine.detect.concepts``).
    min_coverage : float
        Share of a signature's evidence features the catalog must match; below
        it the scan reports a coverage finding.
    coverage_severity : str
        ``"info"``, ``"warn"`` (default) or ``"fail"``: the severity of coverage
        findings, including a signature that cannot reach its threshold.
    origin : str
        Where the table came from, for messages.
    """

    vocabulary: tuple[Path, ...] = ()
    overrides: Path | None = None
    min_coverage: float = 0.5
    coverage_severity: str = "warn"
    origin: str = "[detection]"


def _misread_password(uri: str) -> bool:
    """True if a password in ``uri`` holds a character libpq ends it at (``/``, ``@``).

    libpq takes the user part up to the first ``@`` or ``/``; the engine masks up
    to the last ``@`` (:mod:`basketguard.engine.io.secrets`). Where the two differ,
    libpq would log in with part of the password and print the rest as a host.
    """
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    at = rest.rfind("@")
    if at < 0 or ":" not in rest[:at]:
        return False
    password = rest[:at].split(":", 1)[1]
    return "/" in password or "@" in password


@dataclass(frozen=True)
class SourceSpec:
    """One data role's source and column mapping.

    Parameters
    ----------
    role : str
        ``lines``, ``catalog``, ``customers``, ``segment`` or ``truth``.
    location : str
        The ``source`` value as written (file, glob, folder or database).
    base_dir : Path
        Folder that relative locations are resolved against.
    format : str
        One of :data:`FORMATS`.
    columns : dict
        Canonical role -> source column name (single-column roles).
    lists : dict
        List-valued keys (``levels``, ``attributes``, ``labels``) -> tuple of columns.
    filter : Filter or None
        Row filter, pushed down where the source allows.
    types : dict
        Column -> Arrow type name, used when reading CSV.
    table, query : str or None
        For DuckDB and PostgreSQL sources: a table name (``schema.table`` in
        PostgreSQL) or a SQL query.
    partitioning : str or None
        ``"hive"`` for hive-partitioned folders.
    time_format : str or None
        strptime format for text timestamps that are not ISO 8601.
    time_zone : str
        Zone that naive timestamps are read in before conversion to UTC.
    delimiter : str
        CSV field delimiter.
    password_file : Path or None
        PostgreSQL: a libpq password file (``~/.pgpass`` format) to read the
        password from; otherwise libpq's own rules apply (``PGPASSWORD``,
        ``PGPASSFILE``, ``~/.pgpass``).
    change_column : str or None
        PostgreSQL: a column whose maximum, with the row count, tells the
        cache that the data changed (``docs/warehouses.md``). Tables
        without it use the row count and the newest row version (``xmin``).
    origin : str
        Where this spec came from, for messages (``project.toml [lines]``).
    """

    role: str
    location: str
    base_dir: Path
    format: str
    columns: dict[str, str] = field(default_factory=dict)
    lists: dict[str, tuple[str, ...]] = field(default_factory=dict)
    filter: Filter | None = None
    types: dict[str, str] = field(default_factory=dict)
    table: str | None = None
    query: str | None = None
    partitioning: str | None = None
    time_format: str | None = None
    time_zone: str = "UTC"
    delimiter: str = ","
    password_file: Path | None = None
    change_column: str | None = None
    origin: str = "<project>"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ConfigError(
                f"{self.origin}: format {self.format!r} is not one of {', '.join(FORMATS)}."
            )
        kind = {"duckdb": "DuckDB", "postgresql": "PostgreSQL"}.get(self.format)
        if kind and (self.table is None) == (self.query is None):
            raise ConfigError(
                f"{self.origin}: a {kind} source needs exactly one of `table` or `query`."
            )
        if not kind and (self.table or self.query):
            raise ConfigError(
                f"{self.origin}: `table` and `query` only apply to database sources "
                f"(format = 'duckdb' or 'postgresql'), not {self.format!r}."
            )
        if self.format != "postgresql" and (self.password_file or self.change_column):
            key = "password_file" if self.password_file else "change_column"
            raise ConfigError(
                f"{self.origin}: `{key}` only applies to PostgreSQL sources "
                f"(format = 'postgresql'), not {self.format!r}."
            )
        is_uri = self.location.lower().startswith(PG_SCHEMES)
        if is_uri and self.format != "postgresql":
            raise ConfigError(
                f"{self.origin}: `source` is a PostgreSQL URI but `format` is "
                f"{self.format!r}; remove `format` or set it to 'postgresql'."
            )
        if is_uri and not self.location.startswith(PG_SCHEMES):
            raise ConfigError(
                f"{self.origin}: write the scheme of `source` in lower case "
                "('postgresql://...'); libpq does not read it otherwise."
            )
        if is_uri and _misread_password(self.location):
            raise ConfigError(
                f"{self.origin}: the password in `source` holds '/' or '@', which libpq "
                "reads as the end of the password (and would show the rest in its errors). "
                "Percent-encode them (%2F, %40), or better, keep the password out of the "
                "URI: `password_file`, PGPASSFILE or ~/.pgpass."
            )
        if self.format == "postgresql" and self.partitioning is not None:
            raise ConfigError(
                f"{self.origin}: `partitioning` applies to folders of files, not to a "
                "PostgreSQL source."
            )
        if self.format == "postgresql" and self.password_file is not None:
            try:
                mode = self.password_file.stat().st_mode
            except OSError:
                mode = 0
            if mode & 0o077:
                raise ConfigError(
                    f"{self.origin}: password_file {str(self.password_file)!r} can be read by "
                    f"others (mode {mode & 0o777:04o}); libpq ignores such a file. Make it "
                    f"private: chmod 600 {str(self.password_file)!r}."
                )
        if self.format == "postgresql" and not is_uri:
            raise ConfigError(
                f"{self.origin}: a PostgreSQL `source` is a connection URI such as "
                "'postgresql://analyst@db.example.com:5432/warehouse' (no password in it: "
                "use `password_file`, PGPASSFILE or ~/.pgpass), or 'postgresql://' to take "
                "everything from the PG* environment variables."
            )
        if self.partitioning not in (None, "hive"):
            raise ConfigError(
                f"{self.origin}: partitioning {self.partitioning!r} is not supported; use 'hive'."
            )
        if len(self.delimiter) != 1:
            raise ConfigError(f"{self.origin}: delimiter must be one character.")
        _check_time_zone(self.time_zone, self.origin)
        if self.time_format is not None:
            _check_time_format(self.time_format, self.origin)

    def __repr__(self) -> str:
        # the dataclass repr would show `location` as written, password included
        shown = ", ".join(f"{k}={v!r}" for k, v in self.describe().items())
        return f"SourceSpec({shown}, origin={self.origin!r})"

    @property
    def is_database_server(self) -> bool:
        """True for sources reached over a connection (PostgreSQL), not a path."""
        return self.format == "postgresql"

    @property
    def path(self) -> Path | str:
        """The location resolved against ``base_dir`` (globs unexpanded).

        A PostgreSQL source has no path: its URI, with any password removed,
        stands in its place (a string).
        """
        if self.is_database_server:
            from basketguard.engine.io.secrets import redact_uri

            return redact_uri(self.location)
        p = Path(self.location).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else self.base_dir / p))

    def column(self, role: str) -> str | None:
        """Source column of a canonical role, or ``None`` when unmapped."""
        return self.columns.get(role)

    def describe(self) -> dict[str, Any]:
        """A JSON-able description of everything that shapes what is read."""
        return {
            "role": self.role,
            "location": str(self.path),
            "password_file": str(self.password_file) if self.password_file else None,
            "change_column": self.change_column,
            "format": self.format,
            "columns": dict(sorted(self.columns.items())),
            "lists": {k: list(v) for k, v in sorted(self.lists.items())},
            "filter": self.filter.text if self.filter else None,
            "types": dict(sorted(self.types.items())),
            "table": self.table,
            "query": self.query,
            "partitioning": self.partitioning,
            "time_format": self.time_format,
            "time_zone": self.time_zone,
            "delimiter": self.delimiter,
        }


@dataclass(frozen=True)
class Project:
    """A loaded project file.

    Parameters
    ----------
    name : str
        Project name (for reports).
    path : Path or None
        The project file, when loaded from one.
    sources : dict
        Role -> :class:`SourceSpec` for each role the file defines.
    validation : ValidationPolicy
        Row validation outcomes.
    """

    name: str
    path: Path | None
    sources: dict[str, SourceSpec]
    validation: ValidationPolicy = ValidationPolicy()
    policy: Policy | None = None
    detection: DetectionSettings = field(default_factory=lambda: DetectionSettings())

    @property
    def lines(self) -> SourceSpec:
        """The basket-lines source (always present)."""
        return self.sources["lines"]

    def source(self, role: str) -> SourceSpec | None:
        """The source of a role, or ``None`` if the project does not define it."""
        return self.sources.get(role)

    def input_paths(self) -> list[tuple[str, Path]]:
        """What the project reads: the project file and every role's source.

        Returns
        -------
        list of (str, Path)
            A description (``"the project file"``, ``"the [lines] source"``)
            and the location: a file, a folder, a glob (unexpanded) or a
            DuckDB database file. Outputs must not resolve to any of them
            (see :func:`basketguard.engine.io.output.check_outputs`).
        """
        found = [("the project file", self.path)] if self.path is not None else []
        found += [(f"the [{role}] source", spec.path) for role, spec in self.sources.items()
                  if not spec.is_database_server]
        found += [("a [detection] vocabulary file", p) for p in self.detection.vocabulary]
        if self.detection.overrides is not None:
            found.append(("the [detection] overrides file", self.detection.overrides))
        return found


def _parse_source(role: str, table: Any, base_dir: Path, origin: str) -> SourceSpec:
    where = f"{origin} [{role}]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table with at least `source` and `columns`.")
    check_keys(table, _SOURCE_KEYS, f"{role}.", origin)
    location = _location(table, where)
    fmt = table.get("format") or infer_format(location)
    if fmt is None:
        path = Path(location).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if path.is_dir():
            fmt = _format_of_folder(path)
            if fmt is None:
                raise ConfigError(
                    f"{where}: the source folder {str(path)!r} holds no file with a known "
                    f"extension ({', '.join(sorted(_EXTENSIONS))}); set `format` to one of "
                    f"{', '.join(FORMATS)}."
                )
        elif not path.suffix and not path.exists() and not any(ch in location
                                                               for ch in "*?["):
            raise ConfigError(
                f"{where}: source {str(path)!r} does not exist. Paths are relative to the "
                "project file's folder."
            )
    if fmt is None:
        raise ConfigError(
            f"{where}: cannot tell the format of {location!r} from its name; "
            f"set `format` to one of {', '.join(FORMATS)}."
        )
    required, optional, list_keys = ROLES[role]
    cols = table.get("columns", {})
    if not isinstance(cols, Mapping):
        raise ConfigError(f"{where}: `columns` must be a table of role = \"column name\".")
    check_keys(cols, required + optional + list_keys, f"{role}.columns.", origin)
    columns: dict[str, str] = {}
    lists: dict[str, tuple[str, ...]] = {}
    for key, value in cols.items():
        if role == "catalog" and key == "name" and isinstance(value, list):
            if not value or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(
                    f"{where}: `columns.name` must be a column name or a list of column names "
                    "(joined by spaces into the item name, e.g. [\"brand\", \"description\", "
                    "\"size\"])."
                )
            lists["name"] = tuple(value)
        elif key in list_keys:
            if not isinstance(value, list) or not all(
                isinstance(v, str) and v for v in value
            ):
                raise ConfigError(
                    f"{where}: `columns.{key}` must be a list of column names."
                )
            lists[key] = tuple(value)
        elif not isinstance(value, str) or not value:
            raise ConfigError(f"{where}: `columns.{key}` must be a column name (a string).")
        else:
            columns[key] = value
    for key in required:
        if key not in columns:
            raise ConfigError(
                f"{where}: the {key!r} role is not mapped; add `{key} = \"<column>\"` "
                f"under [{role}.columns]."
            )
    types = table.get("types", {})
    if not isinstance(types, Mapping) or not all(isinstance(v, str) for v in types.values()):
        raise ConfigError(f"{where}: `types` must be a table of column = \"arrow type\".")
    filt = table.get("filter")
    parsed = None
    if filt is not None:
        if not isinstance(filt, str):
            raise ConfigError(f"{where}: `filter` must be a string expression.")
        parsed = parse_filter(filt, origin=f"{where} filter")
    for key in ("table", "query", "partitioning", "time_format", "time_zone", "delimiter",
                "password_file", "change_column"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"{where}: `{key}` must be a string.")
    for key in ("password_file", "change_column"):
        if key in table and not table[key].strip():
            raise ConfigError(f"{where}: `{key}` is empty; remove it or give a value.")
    password_file = None
    if "password_file" in table:
        password_file = Path(table["password_file"]).expanduser()
        password_file = password_file if password_file.is_absolute() else base_dir / password_file
        if not password_file.is_file():
            raise ConfigError(
                f"{where}: password_file {str(password_file)!r} does not exist. It is a libpq "
                "password file (lines of host:port:database:user:password, mode 0600); paths "
                "are relative to the project file's folder."
            )
    return SourceSpec(
        role=role,
        location=location,
        base_dir=base_dir,
        format=fmt,
        columns=columns,
        lists=lists,
        filter=parsed,
        types=dict(types),
        table=table.get("table"),
        query=table.get("query"),
        partitioning=table.get("partitioning"),
        time_format=table.get("time_format"),
        time_zone=table.get("time_zone", "UTC"),
        delimiter=table.get("delimiter", ","),
        password_file=password_file,
        change_column=table.get("change_column"),
        origin=where,
    )


def _location(table: Mapping[str, Any], where: str) -> str:
    """The ``source`` value, which must be one non-empty string."""
    if "source" not in table:
        raise ConfigError(
            f"{where}: no `source`; give a file, glob, folder or DuckDB database, e.g. "
            "source = \"data/lines.parquet\"."
        )
    location = table["source"]
    if isinstance(location, list):
        from basketguard.engine.io.secrets import redact_uri

        names = [redact_uri(str(v)) for v in location]
        suffixes = {Path(n).suffix for n in names}
        example = f"data/*{suffixes.pop()}" if len(suffixes) == 1 else "data/*"
        raise ConfigError(
            f"{where}: `source` is a list ({', '.join(map(repr, names))}); it takes one "
            f"file, glob or folder. For several files use a glob such as {example!r}, or "
            "put them in one folder and give the folder."
        )
    if not isinstance(location, str):
        raise ConfigError(
            f"{where}: `source` must be a string (a file, glob, folder, DuckDB "
            f"database or PostgreSQL URI), not {type(location).__name__} {location!r}."
        )
    if not location.strip():
        raise ConfigError(
            f"{where}: `source` is empty; give a file, glob, folder or DuckDB database."
        )
    return location


def _format_of_folder(path: Path) -> str | None:
    """Format of the first data file below ``path`` (``.``/``_`` names skipped)."""
    for _root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if not name.startswith((".", "_")) and infer_format(name) is not None:
                return infer_format(name)
    return None


#: strptime directives (Python's; Arrow's are a subset, the rest are parsed by Python).
_TIME_DIRECTIVES = set("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")


def _check_time_format(fmt: str, origin: str) -> None:
    """Raise :class:`ConfigError` unless ``fmt`` is a usable strptime format."""
    import datetime as dt
    import re

    directives = re.findall(r"%(.?)", fmt.replace("%%", ""))
    bad = [d for d in directives if d not in _TIME_DIRECTIVES]
    why = None
    if not directives:
        why = "has no % directive (write e.g. '%d/%m/%Y %H:%M' for 31/01/2024 08:30)"
    elif bad:
        why = f"uses %{bad[0] or ' at its end'}, which is not a strptime directive"
    else:
        sample = dt.datetime(2024, 1, 31, 8, 30, 15, tzinfo=dt.UTC)
        try:
            dt.datetime.strptime(sample.strftime(fmt), fmt)
        except ValueError as exc:
            why = f"cannot read back what it writes ({exc})"
    if why:
        raise ConfigError(
            f"{origin}: time_format {fmt!r} {why}. Directives: %Y year, %m month, %d day, "
            "%H hour, %M minute, %S second, %z offset; see Python's strptime."
        )


def project_from_dict(data: Mapping[str, Any], base_dir: Path, origin: str = "<project>",
                      path: Path | None = None) -> Project:
    """Build a :class:`Project` from an already parsed TOML document.

    Parameters
    ----------
    data : mapping
        The parsed document.
    base_dir : Path
        Folder that relative source locations are resolved against.
    origin : str
        Name used in error messages (usually the file path).
    path : Path, optional
        The project file itself.

    Returns
    -------
    Project
    """
    allowed = ("project", "validation", "policy", "detection", *ROLES)
    check_keys(data, allowed, "", origin)
    meta = data.get("project", {})
    if not isinstance(meta, Mapping):
        raise ConfigError(f"{origin}: [project] must be a table.")
    check_keys(meta, ("name", "description"), "project.", origin)
    if "lines" not in data:
        raise ConfigError(
            f"{origin}: no [lines] table; every project maps a basket-lines source "
            "(see README, 'Your own data')."
        )
    sources = {role: _parse_source(role, data[role], base_dir, origin)
               for role in ROLES if role in data}
    val = data.get("validation", {})
    if not isinstance(val, Mapping):
        raise ConfigError(f"{origin}: [validation] must be a table.")
    check_keys(val, tuple(VALIDATION_REASONS), "validation.", origin)
    try:
        policy = ValidationPolicy(**val)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    name = meta.get("name", path.stem if path else "project")
    mailing = policy_from_dict(data["policy"], origin) if "policy" in data else None
    detection = (_parse_detection(data["detection"], base_dir, origin) if "detection" in data
                 else DetectionSettings(origin=f"{origin} [detection]"))
    return Project(name=str(name), path=path, sources=sources, validation=policy,
                   policy=mailing, detection=detection)


def _parse_detection(table: Any, base_dir: Path, origin: str) -> DetectionSettings:
    where = f"{origin} [detection]"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table.")
    check_keys(table, ("vocabulary", "overrides", "min_coverage", "coverage_severity"),
               "detection.", origin)

    def path_of(value: Any, key: str) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: `{key}` must be a file path (a string), not {value!r}.")
        p = Path(value).expanduser()
        return p if p.is_absolute() else base_dir / p

    vocab = table.get("vocabulary", [])
    if isinstance(vocab, str):
        vocab = [vocab]
    if not isinstance(vocab, list):
        raise ConfigError(f"{where}: `vocabulary` must be a concept file or folder, or a list "
                          "of them.")
    files = tuple(path_of(v, "vocabulary") for v in vocab)
    overrides = path_of(table["overrides"], "overrides") if "overrides" in table else None
    share = table.get("min_coverage", 0.5)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise ConfigError(f"{where}: `min_coverage` must be a share between 0 and 1 (of a "
                          f"signature's evidence features the catalog must match), not {share!r}.")
    severity = table.get("coverage_severity", "warn")
    if severity not in ("info", "warn", "fail"):
        raise ConfigError(f"{where}: `coverage_severity` must be 'info', 'warn' or 'fail', "
                          f"not {severity!r}.")
    return DetectionSettings(files, overrides, float(share), severity, where)


def load_project(path: str | Path) -> Project:
    """Load and validate a project file.

    Parameters
    ----------
    path : str or Path
        The TOML project file.

    Returns
    -------
    Project

    Raises
    ------
    ConfigError
        The file is missing, is not valid TOML, or a key is wrong.
    """
    p = Path(path).expanduser()
    try:
        exists, is_dir, is_file = p.exists(), p.is_dir(), p.is_file()
    except OSError as exc:  # e.g. a folder on the way that cannot be searched
        raise ConfigError(f"cannot reach project file {str(p)!r}: {exc.strerror or exc}.") from None
    if is_dir:
        found = sorted(c.name for c in p.glob("*.toml"))
        hint = f" It holds {', '.join(found)}." if found else ""
        raise ConfigError(
            f"project file {str(p)!r} is a folder, not a file.{hint} Pass the path of the "
            "TOML project file itself (see README, 'Your own data')."
        )
    if not exists:
        link = " (a broken symbolic link)" if p.is_symlink() else ""
        raise ConfigError(
            f"project file {str(p)!r} does not exist{link}. Pass the path of a TOML project "
            "file (see README, 'Your own data')."
        )
    if not is_file:
        raise ConfigError(
            f"project file {str(p)!r} is not a regular file (a pipe or a device?); pass the "
            "path of a TOML project file."
        )
    data = read_toml(p, "project file")
    return project_from_dict(data, base_dir=p.resolve().parent, origin=str(p), path=p)
