"""Read the small per-entity roles (catalog, customers, segment, truth) as tables.

Unlike basket lines, these fit in memory as Arrow tables. Mapped
single-column roles are renamed to their canonical names (``item``,
``customer``, ``name``, ...); list roles (taxonomy ``levels``, customer
``attributes`` and ``labels``) keep the user's column names.

Ids go through the one conversion of basket lines
(:func:`basketguard.engine.io.columns.id_column`: integral floats such as
``17850.0`` become integers) and then, with :func:`conform_ids`, take the kind
of the ids they are matched against (the customer base's): integral text such
as ``"17850"`` or ``"17850.0"`` becomes an integer when the base's ids are
integers (a CSV holds text), integers become text when the base's are text.
A null id, text that is no integer against integer ids, or a fractional
number is an error naming the file, the column and the row number; messages
never show an id or a row's values (they could identify a customer).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.project import Project
from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.io import columns as colconv
from basketguard.engine.io.sources import open_source

_ID_ROLES = ("customer", "item")

#: Text that is an integer, optionally written as an integral float (``17850.0``).
_INTEGRAL_TEXT = r"^\s*-?[0-9]+(\.0*)?\s*$"
_NUMBER_TEXT = r"^\s*-?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?\s*$"


def row_words(row: int, filtered: bool) -> str:
    """``"row 3 (counting data rows from 1, after the filter)"`` for a 0-based row."""
    after = ", after the filter" if filtered else ""
    return f"row {row + 1} (counting data rows from 1{after})"


def conform_ids(col: pa.Array | pa.ChunkedArray, like: pa.DataType | None, where: str,
                column: str, role: str = "customer", filtered: bool = False) -> pa.Array:
    """Normalize an id column and give it the kind of the ids it is matched against.

    Parameters
    ----------
    col : pyarrow.Array or ChunkedArray
        The source column.
    like : pyarrow.DataType or None
        Type of the ids it will be matched against (the customer base's
        ``customer_ids``); None keeps the normalized kind.
    where, column, role : str
        The source's description, the source column and its role, for messages.
    filtered : bool
        The source has a row filter (row numbers count the rows after it).

    Returns
    -------
    pyarrow.Array
        ``int64`` or ``string`` ids, no nulls.

    Raises
    ------
    DataError
        A null id (the message names the file, the column and the first row).
    SchemaError
        The column cannot hold ids, or holds text that is not an integer (or a
        fractional number) while the ids it is matched against are integers.
    """
    ids = colconv.id_column(col, where, column, role)
    if ids.valid is not None and not ids.valid.all():
        row = int(np.flatnonzero(~ids.valid)[0])
        raise DataError(
            f"{where}: column {column!r} ({role} id) is null in {int((~ids.valid).sum())} "
            f"row(s), the first at {row_words(row, filtered)}. Every row of this table needs "
            "an id: fill it in or remove the row."
        )
    if ids.ints is not None:
        out = pa.array(ids.ints, pa.int64())
        if like is not None and not pa.types.is_integer(like):
            out = out.cast(pa.string())
        return out
    if like is None or not pa.types.is_integer(like):
        return ids.strings
    return _integral_text(ids.strings, where, column, role, filtered)


def _integral_text(text: pa.Array, where: str, column: str, role: str,
                   filtered: bool) -> pa.Array:
    """Integer ids from text (``"17850"``, ``"17850.0"``), exactly (no float rounding)."""
    ok = pc.match_substring_regex(text, _INTEGRAL_TEXT).to_numpy(zero_copy_only=False)
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        number = pc.match_substring_regex(text.slice(row, 1), _NUMBER_TEXT)[0].as_py()
        what = ("a fractional number" if number else "text that is not a number")
        raise SchemaError(
            f"{where}: column {column!r} ({role} id) holds {what} at {row_words(row, filtered)} "
            f"({int((~ok).sum())} such row(s)), but the customer base's ids are integers; "
            "give the integer ids of the basket lines (17850 or 17850.0), or map the lines' "
            "customer column as text so that both are text."
        )
    digits = pc.replace_substring_regex(pc.utf8_trim_whitespace(text), r"\.0*$", "")
    try:
        return pc.cast(digits, pa.int64())
    except pa.ArrowInvalid:
        raise SchemaError(
            f"{where}: column {column!r} ({role} id) holds integers beyond 64 bits; ids "
            "must match the basket lines' ids."
        ) from None


def read_role(project: Project, role: str,
              id_types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """Read one role's mapped columns.

    Parameters
    ----------
    project : Project
        The loaded project.
    role : str
        ``catalog``, ``customers``, ``segment`` or ``truth``.
    id_types : dict, optional
        Id role (``customer``, ``item``) -> type of the ids it is matched
        against; those columns take that kind (see :func:`conform_ids`).

    Returns
    -------
    pyarrow.Table
        Canonical single-role columns first, then list-role columns.

    Raises
    ------
    ConfigError
        The project has no such role.
    SourceError, SchemaError, DataError
        The source or a column is unusable, or an id is null.
    """
    spec = project.source(role)
    if spec is None:
        raise ConfigError(
            f"{project.path or 'project'}: no [{role}] table; add one mapping its source "
            "(see docs/project-file.md)."
        )
    source = open_source(spec)
    singles = dict(spec.columns)
    listed = [c for cols in spec.lists.values() for c in cols]
    wanted = list(dict.fromkeys([*singles.values(), *listed]))
    if not wanted:
        wanted = list(source.schema.names)
    purpose = {c: f"{spec.origin} columns.{r}" for r, c in singles.items()}
    source.check_columns(wanted, purpose)
    table = source.read_table(wanted)
    out_names, out_cols = [], []
    for r, c in singles.items():
        col = table.column(c)
        if r in _ID_ROLES:
            col = conform_ids(col, (id_types or {}).get(r), source.where, c, r,
                              filtered=spec.filter is not None)
        out_names.append(r)
        out_cols.append(col)
    for c in listed:
        if c not in out_names:
            out_names.append(c)
            out_cols.append(table.column(c))
    if not out_names:
        return table
    return pa.table(dict(zip(out_names, out_cols, strict=True)))


def catalog_coverage(catalog: pa.Table, item_ids: pa.Array, where: str = "catalog") -> dict:
    """How many of the items bought appear in the catalog.

    Parameters
    ----------
    catalog : pyarrow.Table
        From :func:`read_role` (column ``item``).
    item_ids : pyarrow.Array
        The histories' item dictionary.

    Returns
    -------
    dict
        ``catalog_items``, ``items_in_catalog``, ``items_missing`` (counts only).
    """
    cat = catalog.column("item").combine_chunks()
    if pa.types.is_integer(cat.type) != pa.types.is_integer(item_ids.type):
        raise SchemaError(
            f"{where}: catalog item ids are {cat.type} but basket-line item ids are "
            f"{item_ids.type}; map columns of the same kind (both integers or both text)."
        )
    present = pc.is_in(item_ids, value_set=pc.unique(cat))
    found = int(pc.sum(present).as_py() or 0)
    return {"catalog_items": int(len(pc.unique(cat))), "items_in_catalog": found,
            "items_missing": len(item_ids) - found}
