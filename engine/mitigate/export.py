"""Writing the amended segment: the mailing list as the plan changed it.

The file holds the recipients' customer ids, sorted by id, so that nothing in
it (not the order, not a column) tells a target from a decoy: a list that did
would undo the decoys for whoever reads it. When the plan generalized the
exported attributes, their exported (generalized) values travel with each id.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from basketguard.engine.io.output import atomic_path
from basketguard.engine.mitigate.plan import Plan
from basketguard.engine.mitigate.verify import MailingContext


def amended_table(plan: Plan, ctx: MailingContext) -> pa.Table:
    """The amended segment as a table: ``customer`` and the exported attributes.

    Attributes are included when the policy names exported attributes or the
    plan generalized some; values are the exported (generalized) ones.
    """
    ids = ctx.hist.customer_ids.take(pa.array(np.asarray(plan.recipients, np.int64)))
    ids = pc.take(ids, pc.sort_indices(ids))
    cols: dict[str, pa.Array] = {"customer": ids}
    exported = ctx.policy.attributes
    if ctx.customers is not None and (exported or plan.hierarchies):
        names = list(exported) if exported else [c for c in ctx.customers.column_names
                                                 if c != "customer"]
        cust_ids = ctx.customers.column("customer")
        cust_ids = cust_ids.combine_chunks() if isinstance(cust_ids, pa.ChunkedArray) else cust_ids
        want = ids if ids.type == cust_ids.type else ids.cast(cust_ids.type)
        rows = pc.index_in(want, value_set=cust_ids)
        for name in names:
            col = ctx.customers.column(name).take(rows)
            mapping = (plan.hierarchies or {}).get(name)
            if mapping is not None:
                default = mapping.get("*")
                text = [None if v is None else mapping.get(str(v), default)
                        for v in col.to_pylist()]
                col = pa.array(text, pa.string())
            cols[name] = col
    return pa.table(cols)


def write_amended_segment(plan: Plan, ctx: MailingContext, path: str | Path) -> Path:
    """Write :func:`amended_table` to Parquet atomically (temp file, then rename)."""
    target = Path(path)
    table = amended_table(plan, ctx)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp)
    return target
