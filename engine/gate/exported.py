"""What a segment file's attribute columns say about the generalization it carries.

A segment written by ``basketguard recommend --out`` holds, next to each id,
the *exported* values of the policy's attributes (age bands widened,
postcodes truncated). Those are what travel with the list, so the gate
counts attribute classes on them, not on the customers table's raw values:
:func:`carried_hierarchies` reads them back as a hierarchy (raw value ->
exported value) that :func:`~basketguard.engine.mitigate.verify.measure` applies
to the whole customer base. Raw values no member carries keep their own
value, which can only make classes smaller (the conservative side).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from basketguard.engine.config.project import SourceSpec, infer_format
from basketguard.engine.errors import DataError
from basketguard.engine.io import columns as colconv
from basketguard.engine.io.sources import open_source
from basketguard.engine.io.tables import conform_ids
from basketguard.engine.mitigate.verify import MailingContext


def _key(v: Any) -> str:
    """A value as hierarchies spell it (``reid.attributes`` matches on this text)."""
    return v if isinstance(v, str) else str(v)


def carried_hierarchies(path: str, column: str, ctx: MailingContext,
                        ) -> tuple[dict[str, dict[str, str]] | None, list[str]]:
    """The generalization a segment file's attribute columns carry.

    Parameters
    ----------
    path : str
        The segment file (relative to the working directory), already read
        for its ids (:func:`basketguard.engine.reid.assess.segment_members`).
    column : str
        Its id column.
    ctx : MailingContext
        For the customers table, the policy's exported attributes and the ids' kind.

    Returns
    -------
    (dict or None, list of str)
        Attribute -> raw value -> exported value for every exported attribute
        whose values in the file differ from the customers table's (None when
        none does), and notes for the report.

    Raises
    ------
    DataError
        A raw value is exported as two different values (the file's column is
        not a generalization of the customers table's), or a member has no row
        in the customers table.
    """
    if ctx.customers is None:
        return None, []
    fmt = infer_format(path)
    if fmt is None or fmt == "duckdb":
        return None, []
    attrs = ctx.policy.attributes
    names = list(attrs) if attrs is not None else [c for c in ctx.customers.column_names
                                                   if c != "customer"]
    spec = SourceSpec(role="segment", location=str(Path(path).expanduser().resolve()),
                      base_dir=Path.cwd(), format=fmt, columns={"customer": column},
                      origin=f"segment file {path}")
    source = open_source(spec)
    carried = [a for a in names if a in source.schema.names and a != column]
    if not carried:
        return None, []
    table = source.read_table([column, *carried])
    if table.num_rows == 0:
        return None, []
    ids = conform_ids(table.column(column), ctx.hist.customer_ids.type, source.where, column)
    cust_ids = colconv.as_array(ctx.customers.column("customer"))
    rows = pc.index_in(ids, value_set=cust_ids)
    if rows.null_count:
        raise DataError(f"{source.where}: {rows.null_count} member(s) have no row in the "
                        "customers table, so their exported attributes cannot be checked; add "
                        "them to the customers table or drop them from the segment.")
    out: dict[str, dict[str, str]] = {}
    for name in carried:
        raw = colconv.as_array(ctx.customers.column(name))
        given = colconv.as_array(table.column(name)).to_pylist()
        mapping: dict[str, str] = {}
        changed = False
        for r, g in zip(raw.take(rows).to_pylist(), given, strict=True):
            if r is None:
                continue  # nulls are a class of their own, never generalized
            k, v = _key(r), "*" if g is None else _key(g)
            if mapping.setdefault(k, v) != v:
                raise DataError(
                    f"{source.where}: column {name!r} exports one raw value of the customers "
                    "table as two different values, so it is not a generalization of it (a "
                    "value is exported the same way for every customer); write the segment "
                    "with `basketguard recommend --out` or drop the column.")
            changed |= k != v
        if not changed:
            continue
        for v in pc.unique(raw).to_pylist():
            if v is not None:
                mapping.setdefault(_key(v), _key(v))
        out[name] = mapping
    if not out:
        return None, []
    note = (f"The segment file carries exported values of {', '.join(sorted(out))}: attribute "
            "classes are counted on those values, as they travel with the list.")
    return out, [note]

