"""Customer histories: the engine's working form of basket lines.

A :class:`Histories` is a CSR of each customer's lines sorted by time:
``offsets`` (int64, customers + 1), ``item`` (int32), ``day`` (int32 days since
the epoch), ``basket`` (int32 codes; derived from customer + timestamp when the
source has no basket column), optional ``quantity`` / ``price`` (float32) and
``store`` (int32), plus the dictionaries that map codes back to the original
ids (customers, items, baskets, stores), each sorted ascending.

:func:`build_histories` turns an ingested source into histories in bounded
memory; :func:`load_histories` reads them from the project's cache (Arrow IPC)
or builds and stores them (see ``engine.cache``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from basketguard.engine.config.project import Project
from basketguard.engine.errors import DataError, InternalError
from basketguard.engine.histories.ingest import Ingested, ingest_lines
from basketguard.engine.io.sources import Source
from basketguard.kernels import histories as hk

_EMPTY_F32 = np.empty(0, np.float32)
_EMPTY_I32 = np.empty(0, np.int32)
_IDENTITY = np.empty(0, np.int32)


@dataclass
class Histories:
    """Per-customer, time-sorted basket lines (CSR).

    Attributes
    ----------
    offsets : int64 array, shape (n_customers + 1,)
    item, day, basket : int32 arrays, shape (n_lines,)
    quantity, price : float32 arrays or None
    store : int32 array or None
    customer_ids, item_ids : pyarrow.Array
        Original ids of codes 0..n-1 (ascending).
    basket_ids, store_ids : pyarrow.Array or None
        Original basket / store ids; ``basket_ids`` is None when baskets were
        derived from (customer, timestamp).
    info : dict
        How the histories were built: rows read, dropped rows by reason,
        duplicates, timings, whether the input was already sorted.
    """

    offsets: np.ndarray
    item: np.ndarray
    day: np.ndarray
    basket: np.ndarray
    customer_ids: pa.Array
    item_ids: pa.Array
    quantity: np.ndarray | None = None
    price: np.ndarray | None = None
    store: np.ndarray | None = None
    basket_ids: pa.Array | None = None
    store_ids: pa.Array | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_customers(self) -> int:
        return self.offsets.shape[0] - 1

    @property
    def n_lines(self) -> int:
        return int(self.offsets[-1])

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def customer_lines(self, code: int) -> slice:
        """Slice of the line arrays holding customer ``code``'s history."""
        return slice(int(self.offsets[code]), int(self.offsets[code + 1]))

    def subset(self, customers: np.ndarray) -> Histories:
        """The histories of some customers, in the order given (codes 0..len-1 of the result).

        Parameters
        ----------
        customers : int64 array
            Customer codes of this object (each once for a partition).

        Returns
        -------
        Histories
            Same item (and basket, store) dictionaries; ``customer_ids`` holds the
            chosen customers' ids, so partial results keep their original ids.
        """
        customers = np.asarray(customers, np.int64)
        starts, ends = self.offsets[customers], self.offsets[customers + 1]
        lens = ends - starts
        offsets = np.zeros(customers.size + 1, np.int64)
        np.cumsum(lens, out=offsets[1:])
        idx = (np.repeat(starts - offsets[:-1], lens) + np.arange(offsets[-1])).astype(np.int64)

        def take(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[idx]

        return Histories(offsets=offsets, item=self.item[idx], day=self.day[idx],
                         basket=self.basket[idx],
                         customer_ids=self.customer_ids.take(pa.array(customers, pa.int64())),
                         item_ids=self.item_ids, quantity=take(self.quantity),
                         price=take(self.price), store=take(self.store),
                         basket_ids=self.basket_ids, store_ids=self.store_ids)

    def validate(self) -> None:
        """Check the CSR invariants; raise :class:`InternalError` if broken."""
        o = self.offsets
        if o.dtype != np.int64 or o.ndim != 1 or o.shape[0] < 1 or o[0] != 0:
            raise InternalError("histories: offsets must be int64 starting at 0")
        if np.any(np.diff(o) < 0):
            raise InternalError("histories: offsets must be non-decreasing")
        n = int(o[-1])
        for name in ("item", "day", "basket"):
            a = getattr(self, name)
            if a.dtype != np.int32 or a.shape != (n,):
                raise InternalError(f"histories: {name} must be int32 of length {n}")
        if len(self.customer_ids) != self.n_customers:
            raise InternalError("histories: customer dictionary size differs from offsets")
        if n and (self.item.min() < 0 or self.item.max() >= len(self.item_ids)):
            raise InternalError("histories: item code out of range")


def _empty_like(a: np.ndarray, n: int) -> np.ndarray:
    return np.empty(n if a.shape[0] else 0, a.dtype)


def build_histories(ingested: Ingested, drop_duplicates: bool,
                    progress: Callable[[str], None] | None = None) -> Histories:
    """Build CSR histories from ingested chunks (frees the chunks as it goes).

    Parameters
    ----------
    ingested : Ingested
        Output of :func:`~basketguard.engine.histories.ingest.ingest_lines`.
    drop_duplicates : bool
        Drop exact duplicate lines (they are counted either way).
    progress : callable, optional
        Called with a short phase name.

    Returns
    -------
    Histories
    """
    t0 = time.perf_counter()
    dicts = Dictionaries.finish(ingested.encoders)
    return build_from_chunks(ingested.chunks, dicts, drop_duplicates,
                             rows_read=ingested.rows_read, dropped=ingested.dropped,
                             mapped=_mapped(ingested), progress=progress, t0=t0)


@dataclass
class Dictionaries:
    """The sorted id dictionaries of a build and the first-seen code -> code remaps.

    ``basket_ids`` / ``store_ids`` are ``None`` when the source has no such column
    (their remaps are then empty). A shard's build uses the whole source's
    dictionaries with remaps restricted to its customers and baskets
    (:mod:`basketguard.engine.runner.shards`).
    """

    customer_ids: pa.Array
    cust_remap: np.ndarray
    item_ids: pa.Array
    item_remap: np.ndarray
    basket_ids: pa.Array | None = None
    basket_remap: np.ndarray = field(default_factory=lambda: _IDENTITY)
    store_ids: pa.Array | None = None
    store_remap: np.ndarray = field(default_factory=lambda: _IDENTITY)

    @classmethod
    def finish(cls, encoders: dict) -> Dictionaries:
        """Finish the ingestion's encoders (``IdEncoder.finish`` on each)."""
        customer_ids, cust_remap = encoders["customer"].finish()
        item_ids, item_remap = encoders["item"].finish()
        out = cls(customer_ids, cust_remap, item_ids, item_remap)
        if "basket" in encoders:
            out.basket_ids, out.basket_remap = encoders["basket"].finish()
        if "store" in encoders:
            out.store_ids, out.store_remap = encoders["store"].finish()
        return out


def build_from_chunks(chunks: list, dicts: Dictionaries, drop_duplicates: bool, *,
                      rows_read: int, dropped: dict[str, int], mapped: set[str],
                      progress: Callable[[str], None] | None = None,
                      t0: float | None = None) -> Histories:
    """Build histories from chunks of first-seen codes and finished dictionaries.

    ``chunks`` is emptied as it is consumed. ``mapped`` names the optional
    line columns the source maps (``quantity``, ``price``, ``store``);
    ``rows_read`` and ``dropped`` go to ``info``. Every customer code the
    remap gives must be below ``len(dicts.customer_ids)``.
    """
    t0 = time.perf_counter() if t0 is None else t0
    customer_ids, cust_remap = dicts.customer_ids, dicts.cust_remap
    item_ids, item_remap = dicts.item_ids, dicts.item_remap
    basket_ids, basket_remap = dicts.basket_ids, dicts.basket_remap
    store_ids, store_remap = dicts.store_ids, dicts.store_remap
    n_cust = len(customer_ids)
    n = sum(len(c) for c in chunks)

    stages = _Stages(t0)
    stages.lap("dictionaries")

    # Pass 0 (per chunk, threads): lines per customer partition, sortedness.
    if progress:
        progress("counting")
    shift = hk.partition_shift(n_cust, n)
    n_part = max(1, -(-n_cust // (1 << shift)))
    # Each chunk's customer codes are turned into final codes in place as they
    # are counted: the scatter then needs no second out-of-cache lookup.
    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        counted = list(pool.map(
            lambda ch: hk.count_partitions(ch.cust, cust_remap, ch.t, shift, n_part,
                                           ranks_out=ch.cust), chunks))
    pcounts = np.stack([c[0] for c in counted]) if counted else np.zeros((0, n_part), np.int64)
    input_sorted = hk.chunks_sorted([c[1] for c in counted])
    pstart = np.zeros(n_part + 1, np.int64)
    np.cumsum(pcounts.sum(axis=0), out=pstart[1:])
    cursors = pstart[:-1][None, :] + np.cumsum(pcounts, axis=0) - pcounts
    stages.lap("count")

    # Pass 1 (per chunk, threads): stable scatter into customer partitions.
    if progress:
        progress("grouping by customer")
    first = chunks[0]
    parts = {
        "cust": np.empty(n, np.int32),
        "item": np.empty(n, np.int32),
        "t": np.empty(n, np.int64),
        "qty": _empty_like(first.qty, n),
        "basket": _empty_like(first.basket, n),
        "price": _empty_like(first.price, n),
        "store": _empty_like(first.store, n),
    }

    # One write-position buffer per thread, reused for every chunk it scatters.
    scratch_dest = threading.local()
    longest = max(len(ch) for ch in chunks) if chunks else 0

    def scatter(i: int) -> None:
        ch = chunks[i]
        dest = getattr(scratch_dest, "buf", None)
        if dest is None:
            dest = scratch_dest.buf = np.empty(longest, np.int64)
        hk.scatter_lines(ch.cust, None, ch.item, item_remap, ch.t, ch.qty, ch.basket,
                         basket_remap, ch.price, ch.store, store_remap, shift,
                         cursors[i].copy(), parts, dest=dest)
        chunks[i] = None  # free each chunk once scattered: bounded peak memory

    with ThreadPoolExecutor(max_workers=_workers()) as pool:
        list(pool.map(scatter, range(len(chunks))))
    chunks.clear()
    stages.lap("scatter")

    # Pass 2 (per partition, in cache, parallel): final CSR order.
    offsets, lines = hk.place_partitions(pstart, shift, n_cust, parts, input_sorted)
    # The partition-order customer column is no longer needed: scratch space
    # for the day numbers (touched memory is far cheaper than fresh pages).
    scratch = parts["cust"]
    parts.clear()
    o_item, o_t, o_qty = lines["item"], lines["t"], lines["qty"]
    o_basket, o_price, o_store = lines["basket"], lines["price"], lines["store"]
    del lines
    stages.lap("place")
    t_scatter = time.perf_counter()

    if progress:
        progress("sorting by time")
    resorted, n_times, n_dups = hk.sort_and_scan(offsets, o_t, o_basket, o_item, o_qty,
                                                 o_price, o_store)
    duplicates = int(n_dups.sum())
    stages.lap("sort+scan")
    out = hk.finalize_lines(offsets, o_t, o_basket, o_item, o_qty, o_price, o_store,
                            n_times, n_dups, derive_basket=basket_ids is None,
                            drop_duplicates=drop_duplicates,
                            day_out=scratch)
    del scratch
    del o_t, o_item, o_basket, o_qty, o_price, o_store
    stages.lap("finalize")
    t_end = time.perf_counter()

    dropped = dict(dropped)
    dropped["duplicate"] = duplicates if drop_duplicates else 0
    hist = Histories(
        offsets=out["offsets"],
        item=out["item"],
        day=out["day"],
        basket=out["basket"],
        quantity=out["quantity"] if "quantity" in mapped else None,
        price=out["price"] if "price" in mapped else None,
        store=out["store"] if store_ids is not None else None,
        customer_ids=customer_ids,
        item_ids=item_ids,
        basket_ids=basket_ids,
        store_ids=store_ids,
        info={
            "rows_read": rows_read,
            "dropped": dropped,
            "duplicates_found": duplicates,
            "duplicates_kept": 0 if drop_duplicates else duplicates,
            "input_sorted": input_sorted,
            "customers_reordered": resorted,
            "baskets_derived": basket_ids is None,
            "build_seconds": round(t_end - t0, 4),
            "scatter_seconds": round(t_scatter - t0, 4),
            "stage_seconds": stages.seconds,
        },
    )
    hist.validate()
    return hist


class _Stages:
    """Wall-clock seconds of consecutive build stages (for ``info``)."""

    def __init__(self, start: float) -> None:
        self.last = start
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Close stage ``name``: the time since the previous stage ended."""
        now = time.perf_counter()
        self.seconds[name] = round(now - self.last, 4)
        self.last = now


def _workers() -> int:
    """Threads for the per-chunk passes: ``BASKETGUARD_THREADS`` or the CPU count."""
    env = os.environ.get("BASKETGUARD_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, os.cpu_count() or 1))


def _mapped(ingested: Ingested) -> set[str]:
    spec = ingested.source.spec
    return {r for r in ("quantity", "price", "store") if spec.column(r)}


def check_duplicates(policy, hist: Histories, where: str) -> None:
    """Raise under ``validation.duplicate = "error"`` when ``hist`` found any.

    One message for the in-memory build, each shard and each Dask partition.
    """
    if policy.duplicate == "error" and hist.info["duplicates_found"]:
        raise DataError(
            f"{where}: {hist.info['duplicates_found']} exact duplicate line(s) (every mapped "
            "column equal to another line of the same customer). Remove them at the source, "
            "or set validation.duplicate = \"drop\" or \"keep\" (without --strict)."
        )


def histories_from_project(project: Project, strict: bool = False,
                           progress: Callable[[int, int | None], None] | None = None,
                           source: Source | None = None) -> Histories:
    """Read the project's lines source and build histories (no cache).

    Parameters
    ----------
    project : Project
        The loaded project file.
    strict : bool
        Turn every ``drop`` of the validation policy into ``error``.
    progress : callable, optional
        Called as ``progress(rows_read, total_or_None)``.
    source : Source, optional
        The lines source, if already opened.

    Returns
    -------
    Histories

    Raises
    ------
    DataError
        Duplicates under ``validation.duplicate = "error"``, any validation
        failure under ``strict``, or nothing left to analyse.
    """
    policy = project.validation.strict() if strict else project.validation
    t0 = time.perf_counter()
    ingested = ingest_lines(project.lines, policy, progress=progress, source=source)
    pa.default_memory_pool().release_unused()  # Arrow's cached read buffers
    t_read = time.perf_counter() - t0
    where = ingested.source.where
    hist = build_histories(ingested, drop_duplicates=policy.duplicate == "drop")
    check_duplicates(policy, hist, where)
    hist.info["read_seconds"] = round(t_read, 4)
    hist.info["source"] = where
    return hist
