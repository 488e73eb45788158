"""Read the small per-entity roles (catalog, customers, segment, truth) as tables.

Unlike basket lines, these fit in memory as Arrow tables. Mapped
single-column roles are renamed to their canonical names (``item``,
``customer``, ``name``, ...); list roles (taxonomy ``levels``, customer
``attributes`` and ``labels``) keep the user's column names. Id columns are
normalized the same way as in basket lines (integral floats become integers),
and null ids are an error naming the file and column.
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


def read_role(project: Project, role: str) -> pa.Table:
    """Read one role's mapped columns.

    Parameters
    ----------
    project : Project
        The loaded project.
    role : str
        ``catalog``, ``customers``, ``segment`` or ``truth``.

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
            ids = colconv.id_column(col, source.where, c, r)
            if ids.valid is not None and not ids.valid.all():
                row = int(np.flatnonzero(~ids.valid)[0])
                raise DataError(
                    f"{source.where}: column {c!r} ({r} id) is null in {int((~ids.valid).sum())} "
                    f"row(s), the first at row {row}: {table.slice(row, 1).to_pylist()[0]}. "
                    "Every row of this table needs an id."
                )
            col = pa.array(ids.ints) if ids.ints is not None else ids.strings
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
