"""Distributed runs on Dask (``dask.distributed``): customer-hash partitions read on workers.

``--scheduler ADDRESS`` connects to an existing cluster; ``--scheduler local:N``
starts a local cluster of N worker processes for the run. Either way:

1. Each of ``P`` tasks reads the project's lines source on a worker, keeps the
   rows whose customer id hashes to its partition
   (:func:`~basketguard.engine.histories.ingest.customer_partition`), and
   builds that partition's histories there. The histories stay on the worker
   (a Dask future); the client receives only facts: line and customer
   counts, drop counters, the day range and the partition's item ids.
2. The client unions the item ids into the whole source's item dictionary,
   which every partition adopts on its worker (item codes renumbered), so
   that one compiled library serves them all.
3. A measure's task runs on each partition where it lives and returns a
   partial (aggregates and per-customer results); the client merges them
   exactly (:mod:`basketguard.engine.runner.partial`).

No raw line ever travels to the client. Tasks are pure functions of their
inputs, so when a worker dies Dask recomputes what it held on another one
and the result does not change. Workers must see the project file and its
sources at the same paths as the client (a shared or synchronised file
system, or object storage in the project's ``source``), as with any Dask
read of a Parquet dataset.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.errors import ConfigError, DataError, SourceError

#: Partitions per worker when the count is not given.
PARTS_PER_WORKER = 1


def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - an install without the dask extra
        raise ConfigError("--scheduler needs Dask: pip install 'basketguard[dask]' (dask and "
                          "distributed)") from None
    return distributed


@dataclass
class Cluster:
    """A Dask client, and the local cluster it started (closed with it)."""

    client: Any
    local: Any = None

    @property
    def n_workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def close(self) -> None:
        self.client.close()
        if self.local is not None:
            self.local.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def connect(scheduler: str, *, memory_limit: int | str | None = None,
            threads_per_worker: int | None = None) -> Cluster:
    """A client of ``scheduler``: ``local:N`` starts N local worker processes.

    Parameters
    ----------
    scheduler : str
        ``local:N`` or a scheduler address (``tcp://host:8786``).
    memory_limit : int or str, optional
        Per worker of a local cluster (bytes or ``"4GB"``; Dask's ``auto``
        splits the machine's memory). An existing cluster keeps its own.
    threads_per_worker : int, optional
        Of a local cluster (default: the cores divided among the workers).

    Raises
    ------
    ConfigError
        A malformed ``local:N``; SourceError when the scheduler cannot be reached.
    """
    distributed = _import_distributed()
    if scheduler.startswith("local"):
        _, _, count = scheduler.partition(":")
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--scheduler {scheduler!r}: write local:N with N >= 1 worker "
                              "processes, or give a scheduler address such as "
                              "tcp://host:8786.")
        n = int(count)
        threads = threads_per_worker or max(1, (os.cpu_count() or 1) // n)
        local = distributed.LocalCluster(
            n_workers=n, threads_per_worker=threads, processes=True,
            memory_limit=memory_limit if memory_limit is not None else "auto",
            dashboard_address=":0", silence_logs=40)
        return Cluster(distributed.Client(local), local)
    try:
        client = distributed.Client(scheduler, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise SourceError(f"--scheduler {scheduler!r}: cannot reach the Dask scheduler "
                          f"({exc}). Check the address and that the scheduler runs.") from None
    return Cluster(client)


# ----------------------------------------------------------------- worker tasks
def _read_partition(project_file: str, part: int, n_parts: int, seed: int, strict: bool):
    """Histories of one partition (None when no customer hashes to it)."""
    from basketguard.engine.config.project import load_project
    from basketguard.engine.histories.build import build_histories, check_duplicates
    from basketguard.engine.histories.ingest import stream_lines

    project = load_project(project_file)
    policy = project.validation.strict() if strict else project.validation
    state, chunks = stream_lines(project.lines, policy, partition=(part, n_parts, seed))
    state.chunks = list(chunks)
    facts = {"rows_read": state.rows_read, "dropped": dict(state.dropped)}
    if not state.chunks:
        return None, facts
    hist = build_histories(state, drop_duplicates=policy.duplicate == "drop")
    check_duplicates(policy, hist, state.source.where)
    return hist, facts


def _facts(read) -> dict[str, Any]:
    hist, facts = read
    out = dict(facts)
    if hist is None:
        out.update(lines=0, customers=0, duplicates_found=0, item_ids=None, days=None,
                   quantity=False)
        return out
    out.update(lines=hist.n_lines, customers=hist.n_customers,
               duplicates_found=hist.info["duplicates_found"], item_ids=hist.item_ids,
               days=(int(hist.day.min()), int(hist.day.max())) if hist.n_lines else None,
               quantity=hist.quantity is not None)
    out["dropped"]["duplicate"] = hist.info["dropped"]["duplicate"]
    return out


def _adopt_items(read, item_ids: pa.Array):
    """The partition's histories renumbered onto the whole source's item dictionary."""
    hist, _ = read
    if hist is None:
        return None
    # In place, so that the read's result (kept for Dask to recompute from if a worker
    # is lost) costs no second copy; idempotent, as a task may run again.
    if hist.info.get("items_adopted") is not item_ids:
        remap = pc.index_in(hist.item_ids, value_set=item_ids).to_numpy().astype(np.int32)
        np.take(remap, hist.item, out=hist.item)
        hist.item_ids = item_ids
        hist.info["items_adopted"] = item_ids
    return hist


# ----------------------------------------------------------------- the client
@dataclass
class Partitions:
    """Histories of customer-hash partitions living on the workers.

    ``futures`` hold each partition's histories (``None`` for an empty one), on
    the whole source's item dictionary ``item_ids``; ``info`` the whole
    source's facts (``rows_read``, ``dropped``, ``lines``, ``customers``,
    ``first_day`` / ``last_day``, ``n_partitions``).
    """

    cluster: Cluster
    futures: list
    item_ids: pa.Array
    has_quantity: bool
    info: dict[str, Any]
    _reads: list = field(default_factory=list, repr=False)

    @property
    def n_lines(self) -> int:
        return int(self.info["lines"])

    @property
    def last_day(self) -> int:
        return int(self.info["last_day"])

    def map(self, fn: Callable, *args: Any,
            progress: Callable[[int, int], None] | None = None) -> list:
        """``fn(histories, *args)`` on every non-empty partition, where it lives;
        the results in partition order. ``args`` go to the workers once each."""
        client = self.cluster.client
        token = uuid.uuid4().hex[:8]
        with warnings.catch_warnings():
            # a large argument (merged itemset counts, known points) goes once, in the task
            # that holds it, so that it is recomputed if its worker is lost; Dask's warning
            # about a large graph is expected here
            warnings.filterwarnings("ignore", message="Sending large graph")
            shared = [_put(client, a, f"basketguard-arg-{token}-{k}") if _is_large(a) else a
                      for k, a in enumerate(args)]
        futs = [client.submit(fn, f, *shared, key=f"basketguard-{fn.__name__}-{token}-{i}")
                for i, f in enumerate(self.futures) if f is not None]
        return _gather(client, futs, progress)

    def release(self) -> None:
        """Let the workers drop the partitions' histories."""
        for f in [*self.futures, *self._reads]:
            if f is not None:
                f.release()
        self.futures, self._reads = [], []


def _value(x: Any) -> Any:
    return x


def _put(client, value: Any, key: str):
    """``value`` on the cluster once, as a task rather than scattered data: a task's
    result lost with its worker is recomputed, scattered data would be gone."""
    return client.submit(_value, value, key=key, pure=False)


def _is_large(value: Any) -> bool:
    return not isinstance(value, (int, float, str, bool, type(None)))


def _gather(client, futs: list, progress: Callable[[int, int], None] | None) -> list:
    distributed = _import_distributed()
    if progress is not None:
        done = 0
        for _ in distributed.as_completed(futs):
            done += 1
            progress(done, len(futs))
    return client.gather(futs)


def read_partitions(cluster: Cluster, project_file: str | Path, n_parts: int | None = None, *,
                    strict: bool = False, seed: int = 0,
                    progress: Callable[[int, int], None] | None = None) -> Partitions:
    """Read a project's lines as ``n_parts`` customer-hash partitions on the workers.

    Parameters
    ----------
    cluster : Cluster
        From :func:`connect`.
    project_file : str or Path
        The project TOML, readable by the workers at this path.
    n_parts : int, optional
        Partitions (default: one per worker). Each partition's histories must
        fit in one worker's memory; every task reads the whole source and keeps
        its customers, so more partitions mean more reading.
    strict, seed
        As for :func:`~basketguard.engine.runner.shards.build_shards`.
    progress : callable, optional
        ``progress(done, total)`` as partitions finish.

    Raises
    ------
    DataError
        Raised on a worker (bad rows under an ``error`` policy), or no line left.
    """
    client = cluster.client
    n_parts = n_parts or PARTS_PER_WORKER * cluster.n_workers
    if n_parts < 1:
        raise ConfigError(f"--partitions must be at least 1, not {n_parts}.")
    path = str(Path(project_file).resolve())
    token = uuid.uuid4().hex[:8]
    reads = [client.submit(_read_partition, path, p, n_parts, seed, strict,
                           key=f"basketguard-read-{token}-{p}") for p in range(n_parts)]
    facts = _gather(client, [client.submit(_facts, r, key=f"basketguard-facts-{token}-{p}")
                             for p, r in enumerate(reads)], progress)
    dropped: dict[str, int] = {}
    for f in facts:
        for k, v in f["dropped"].items():
            dropped[k] = dropped.get(k, 0) + int(v)
    lines = sum(f["lines"] for f in facts)
    days = [f["days"] for f in facts if f["days"] is not None]
    info = {"n_partitions": n_parts, "seed": seed, "rows_read": sum(f["rows_read"] for f in facts),
            "dropped": dropped, "lines": lines, "customers": sum(f["customers"] for f in facts),
            "duplicates_found": sum(f["duplicates_found"] for f in facts),
            "first_day": min(d[0] for d in days) if days else 0,
            "last_day": max(d[1] for d in days) if days else 0,
            "partition_lines": [f["lines"] for f in facts]}
    if not lines:
        raise DataError(f"{path}: no basket line is left to analyse in any partition: "
                        f"{info['rows_read']} row(s) read, dropped by validation: "
                        f"{ {k: v for k, v in dropped.items() if v} or 'none'}. Check the "
                        "filter, the column mapping and the source.")
    items = [f["item_ids"] for f in facts if f["item_ids"] is not None]
    union = pc.unique(pa.chunked_array(items).combine_chunks())
    item_ids = union.take(pc.sort_indices(union))
    shared = _put(client, item_ids, f"basketguard-itemids-{token}")
    adopted = [client.submit(_adopt_items, r, shared, key=f"basketguard-items-{token}-{p}")
               if f["lines"] else None for p, (r, f) in enumerate(zip(reads, facts, strict=True))]
    # The reads stay referenced: a partition lost with its worker is recomputed from them.
    return Partitions(cluster, adopted, item_ids, any(f["quantity"] for f in facts), info,
                      reads)
