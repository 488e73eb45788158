"""Stream a basket-lines source into validated, encoded NumPy chunks.

Each record batch is converted (``engine.columns``), validated row by row
against the project's :class:`ValidationPolicy` and encoded (``engine.encoding``).
Rows that fail validation are dropped and counted under a named reason, or
stop the run with a :class:`DataError` when the policy (or ``--strict``) says
so. The message names the row number, the column and, for a time or a
quantity, the offending value; never an id nor the rest of the row (they could
identify a customer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from basketguard.engine.config.project import SourceSpec, ValidationPolicy
from basketguard.engine.errors import DataError
from basketguard.engine.io import columns as colconv
from basketguard.engine.io.encoding import IdEncoder
from basketguard.engine.io.sources import BATCH_ROWS, Source, open_source
from basketguard.kernels.shards import int_id_shards, text_id_shards

#: Single-column roles of basket lines, in the order they are read.
LINE_ROLES = ("customer", "item", "time", "basket", "quantity", "price", "store")
ID_ROLES = ("customer", "item", "basket", "store")

#: Drop reasons in the order a row is charged to them (a row counts once).
REASONS = (
    "null_customer",
    "null_item",
    "null_basket",
    "null_store",
    "null_time",
    "bad_time",
    "null_quantity",
    "non_positive_quantity",
)
_POLICY_OF = {
    "null_customer": "null_id",
    "null_item": "null_id",
    "null_basket": "null_id",
    "null_store": "null_id",
    "null_quantity": "null_id",
    "null_time": "bad_time",
    "bad_time": "bad_time",
    "non_positive_quantity": "non_positive_quantity",
}
_EXPLAIN = {
    "null_customer": "have no customer id",
    "null_item": "have no item id",
    "null_basket": "have no basket id",
    "null_store": "have no store id",
    "null_time": "have no time",
    "bad_time": "have a time that cannot be parsed",
    "null_quantity": "have no quantity",
    "non_positive_quantity": "have a quantity <= 0 (returns or corrections)",
}

_EMPTY_F32 = np.empty(0, np.float32)
_F32_MAX = float(np.finfo(np.float32).max)
_EMPTY_I32 = np.empty(0, np.int32)


@dataclass
class Chunk:
    """One batch of validated lines; optional columns are length 0 when absent."""

    cust: np.ndarray  # int32 first-seen codes
    item: np.ndarray  # int32 first-seen codes
    t: np.ndarray  # int64 UTC seconds
    qty: np.ndarray = field(default_factory=lambda: _EMPTY_F32)
    basket: np.ndarray = field(default_factory=lambda: _EMPTY_I32)
    price: np.ndarray = field(default_factory=lambda: _EMPTY_F32)
    store: np.ndarray = field(default_factory=lambda: _EMPTY_I32)

    def __len__(self) -> int:
        return self.cust.shape[0]


@dataclass
class Ingested:
    """Everything read from a lines source, ready for the histories build."""

    source: Source
    chunks: list[Chunk]
    encoders: dict[str, IdEncoder]
    rows_read: int
    dropped: dict[str, int]

    @property
    def lines(self) -> int:
        return sum(len(c) for c in self.chunks)


#: Reasons whose offending value is shown in the message: times and quantities
#: identify nobody. Ids, and the rest of the row, are never shown.
_SHOW_VALUE = ("bad_time", "null_quantity", "non_positive_quantity")


def _fail(reason: str, count: int, rows: np.ndarray, batch: pa.RecordBatch, offset: int,
          source: Source, column: str) -> DataError:
    """The error for rows failing an ``error`` policy: the row number, the column and,
    for a time or quantity, the offending value; never an id or the whole row."""
    first = int(rows[0])
    shown = ""
    if reason in _SHOW_VALUE and column in batch.schema.names:
        value = batch.column(column)[first].as_py()
        if value is not None:
            shown = f" (value {value!r})"
    key = _POLICY_OF[reason]
    filt = ", after the filter" if source.spec.filter is not None else ""
    return DataError(
        f"{source.where}: {count} row(s) in this batch {_EXPLAIN[reason]} (column {column!r}); "
        f"the first is row {offset + first + 1} read (counting from 1{filt}){shown}. "
        f"Fix the source, exclude them with a `filter`, or set validation.{key} = \"drop\" "
        "(without --strict) to drop and count them."
    )


def _quantities_all_fine(qty: np.ndarray, valid: np.ndarray | None) -> bool:
    """Whether every quantity of a batch is present, finite, within float32 and
    > 0 (the usual case): then neither quantity mask can drop a row and both
    are skipped. NaN fails both comparisons, so it takes the full check."""
    if valid is not None and not valid.all():
        return False
    return bool((qty > 0).all() and (qty <= _F32_MAX).all())


def ingest_lines(spec: SourceSpec, policy: ValidationPolicy,
                 progress: Callable[[int, int | None], None] | None = None,
                 batch_rows: int = BATCH_ROWS, source: Source | None = None) -> Ingested:
    """Read, validate and encode a basket-lines source, keeping every chunk in memory.

    :func:`stream_lines` does the reading; this collects its chunks.

    Parameters
    ----------
    spec : SourceSpec
        The ``lines`` role of the project.
    policy : ValidationPolicy
        What to do with rows that fail validation.
    progress : callable, optional
        Called as ``progress(rows_read, total_rows_or_None)`` after each batch.
    batch_rows : int
        Rows per record batch.
    source : Source, optional
        ``spec`` already opened (saves discovering the files twice).

    Returns
    -------
    Ingested

    Raises
    ------
    SourceError, SchemaError
        The source or a mapped column is unusable.
    DataError
        A row fails validation under an ``error`` policy, or no line is left.
    """
    state, chunks = stream_lines(spec, policy, progress, batch_rows, source)
    state.chunks = list(chunks)
    if not state.chunks:
        raise nothing_left(state)
    return state


def stream_lines(spec: SourceSpec, policy: ValidationPolicy,
                 progress: Callable[[int, int | None], None] | None = None,
                 batch_rows: int = BATCH_ROWS, source: Source | None = None,
                 partition: tuple[int, int, int] | None = None,
                 ) -> tuple[Ingested, Iterator[Chunk]]:
    """Read, validate and encode a basket-lines source one record batch at a time.

    Parameters are those of :func:`ingest_lines`, and ``partition``: ``(part,
    n_parts, seed)`` keeps only the rows whose customer id hashes to ``part``
    (:func:`customer_partition`; a database source selects them in its query
    with the database's own hash, :func:`basketguard.engine.io.sources.partition_predicate`),
    as a worker reading one customer-hash
    partition does; rows without a customer id count in partition 0, so the
    partitions' counters add up to the whole source's (row numbers in messages
    are then counted within the partition). The columns are checked before this
    returns; the rows are read as the iterator is consumed.

    Returns
    -------
    (Ingested, iterator of Chunk)
        The ``Ingested`` holds the encoders and the counters (``rows_read``,
        ``dropped``), which fill as the iterator runs; its ``chunks`` list is
        left empty (the caller keeps or spills the chunks). Empty chunks are
        not yielded; when none is, :func:`nothing_left` gives the error.
    """
    source = source if source is not None else open_source(spec)
    mapped = {role: spec.column(role) for role in LINE_ROLES if spec.column(role)}
    purpose = {col: f"{spec.origin} columns.{role}" for role, col in mapped.items()}
    source.check_columns(list(mapped.values()), purpose)
    read_cols = list(dict.fromkeys(mapped.values()))
    source.check_consistent(read_cols)
    encoders = {role: IdEncoder(role, mapped[role]) for role in ID_ROLES if role in mapped}
    state = Ingested(source=source, chunks=[], encoders=encoders, rows_read=0,
                     dropped=dict.fromkeys(REASONS, 0))
    return state, _chunks(state, mapped, read_cols, policy, progress, batch_rows, partition)


def customer_partition(col: colconv.IdColumn, n_parts: int, seed: int) -> np.ndarray:
    """Customer-hash partition of each row from its original id (not a per-process code):
    :func:`~basketguard.kernels.shards.int_id_shards` or
    :func:`~basketguard.kernels.shards.text_id_shards`; a null id is in partition 0."""
    if col.ints is not None:
        part = int_id_shards(col.ints, n_parts, seed)
    else:
        part = text_id_shards(*colconv.text_offsets(col.strings), n_parts, seed)
    if col.valid is not None:
        part[~col.valid] = 0
    return part


def _chunks(state: Ingested, mapped: dict[str, str], read_cols: list[str],
            policy: ValidationPolicy, progress, batch_rows: int,
            partition: tuple[int, int, int] | None = None) -> Iterator[Chunk]:
    source, encoders, dropped = state.source, state.encoders, state.dropped
    spec = source.spec
    total_hint = source.row_count_hint() if progress is not None else None
    rows_read = 0
    where = source.where
    in_sql = partition is not None and source.splits_in_sql
    for batch in source.batches(read_cols, batch_rows=batch_rows,
                                partition=(mapped["customer"], *partition) if in_sql else None):
        if partition is not None and not in_sql:
            part, n_parts, seed = partition
            cust = colconv.id_column(batch.column(read_cols.index(mapped["customer"])), where,
                                     mapped["customer"], "customer")
            mine = customer_partition(cust, n_parts, seed) == part
            if not mine.all():
                batch = batch.filter(pa.array(mine))
        n = batch.num_rows
        col = {role: batch.column(read_cols.index(c)) for role, c in mapped.items()}
        ids = {role: colconv.id_column(col[role], where, mapped[role], role) for role in encoders}
        t, tstatus = colconv.time_seconds(col["time"], where, mapped["time"],
                                          spec.time_format, spec.time_zone)
        qty = qvalid = price = None
        if "quantity" in col:
            qty, qvalid = colconv.numbers(col["quantity"], where, mapped["quantity"], "quantity")
        if "price" in col:
            price, _ = colconv.numbers(col["price"], where, mapped["price"], "price")
        ok_masks = {
            "null_customer": ids["customer"].valid,
            "null_item": ids["item"].valid,
            "null_basket": ids["basket"].valid if "basket" in ids else None,
            "null_store": ids["store"].valid if "store" in ids else None,
            "null_time": tstatus != colconv.TIME_NULL if tstatus.any() else None,
            "bad_time": tstatus != colconv.TIME_BAD if tstatus.any() else None,
            "null_quantity": None,
            "non_positive_quantity": None,
        }
        if qty is not None and not _quantities_all_fine(qty, qvalid):
            # NaN, infinite or float32-overflowing quantities cannot be ordered or
            # summed: they count as missing, not as non-positive.
            usable = np.isfinite(qty) & (np.abs(qty) <= _F32_MAX)
            ok_masks["null_quantity"] = usable if qvalid is None else (qvalid & usable)
            ok_masks["non_positive_quantity"] = (qty > 0) | ~usable
        keep = np.ones(n, bool)
        for reason in REASONS:
            ok = ok_masks[reason]
            if ok is None:
                continue
            newly = keep & ~ok
            count = int(newly.sum())
            if count:
                if getattr(policy, _POLICY_OF[reason]) == "error":
                    role = reason.split("_", 1)[1] if reason.startswith("null_") else (
                        "time" if reason == "bad_time" else "quantity")
                    raise _fail(reason, count, np.flatnonzero(newly), batch, rows_read,
                                source, mapped.get(role, role))
                dropped[reason] += count
                keep &= ok
        all_kept = bool(keep.all())

        def sel(a, _keep=keep, _all=all_kept):
            return a if _all else a[_keep]

        def sel_ids(c: colconv.IdColumn, _keep=keep, _all=all_kept) -> colconv.IdColumn:
            if _all:
                return c
            if c.ints is not None:
                return colconv.IdColumn(c.ints[_keep], None, None)
            return colconv.IdColumn(None, c.strings.filter(pa.array(_keep)), None)

        chunk = Chunk(
            cust=encoders["customer"].encode(sel_ids(ids["customer"]), where),
            item=encoders["item"].encode(sel_ids(ids["item"]), where),
            t=sel(t),
        )
        # copies, never views: a view of a float32 column keeps its whole record batch
        # alive until the build (one allocation per batch in the PostgreSQL driver)
        if qty is not None:
            chunk.qty = sel(qty).astype(np.float32, copy=True)
        if price is not None:
            with np.errstate(over="ignore"):  # prices beyond float32 become inf
                chunk.price = sel(price).astype(np.float32, copy=True)
        if "basket" in encoders:
            chunk.basket = encoders["basket"].encode(sel_ids(ids["basket"]), where)
        if "store" in encoders:
            chunk.store = encoders["store"].encode(sel_ids(ids["store"]), where)
        rows_read += n
        state.rows_read = rows_read
        if len(chunk):
            yield chunk
        if progress is not None:
            progress(rows_read, total_hint)


def nothing_left(state: Ingested) -> DataError:
    """The error when reading ended with no line left (every row dropped, or none read)."""
    spec, dropped, rows_read = state.source.spec, state.dropped, state.rows_read
    reasons = ", ".join(f"{k}: {v}" for k, v in dropped.items() if v) or "none"
    filt = f" with filter {spec.filter.text!r}" if spec.filter else ""
    if spec.time_format and dropped.get("bad_time", 0) == rows_read - sum(
            v for k, v in dropped.items() if k != "bad_time"):
        reasons += (f"; no time matched time_format {spec.time_format!r}: check it against "
                    "the source's times")
    return DataError(
        f"{state.source.where}: no basket line is left to analyse: {rows_read} row(s) "
        f"read{filt}, dropped by validation: {reasons}. Check the filter, the column mapping "
        "and the source."
    )
