"""The local runner: a measure over customer shards in this process, merged exactly.

Customers are split by a hash of their code (or in contiguous ranges), each
shard is reduced to a partial by the caller's function, and the partials are
merged with :func:`~basketguard.engine.runner.partial.merge_all`. Because every
measure's merge is exact, the result does not depend on the number of shards
nor on how customers fall into them; it is the in-memory result. This is the
reference the out-of-core and distributed runners are checked against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from basketguard.engine.errors import ConfigError
from basketguard.engine.histories.build import Histories
from basketguard.engine.runner.partial import P, merge_all
from basketguard.kernels.shards import group_by_shard, shard_of


def customer_shards(customers: int | np.ndarray, n_shards: int, *, by: str = "hash",
                    seed: int = 0) -> list[np.ndarray]:
    """Split customer codes into shards.

    Parameters
    ----------
    customers : int or int64 array
        The number of customers (codes ``0..n-1``) or the codes to split.
    n_shards : int
        Number of shards (>= 1); some may be empty when there are fewer customers.
    by : {"hash", "range"}
        ``hash``: shard = a 64-bit mix of (code, seed) modulo ``n_shards``
        (:func:`basketguard.kernels.shards.shard_of`, as the out-of-core spill),
        the way a warehouse partitions by customer; ``range``: contiguous runs of similar size.
    seed : int
        Varies the hash partition.

    Returns
    -------
    list of int64 arrays
        Ascending codes per shard; together, every code exactly once.
    """
    if n_shards < 1:
        raise ConfigError(f"the number of shards must be at least 1, not {n_shards}.")
    codes = (np.arange(customers, dtype=np.int64) if np.isscalar(customers)
             else np.asarray(customers, np.int64))
    if by == "range":
        return [np.ascontiguousarray(a) for a in np.array_split(codes, n_shards)]
    if by != "hash":
        raise ConfigError(f"unknown shard partition {by!r}; use 'hash' or 'range'.")
    order, bounds = group_by_shard(shard_of(codes, n_shards, seed), n_shards)
    return [codes[order[bounds[i]:bounds[i + 1]]] for i in range(n_shards)]


def run_shards(compute: Callable[[np.ndarray], P], shards: Sequence[np.ndarray], *,
               progress: Callable[[int, int], None] | None = None) -> P:
    """Reduce each shard with ``compute`` and merge the partials exactly.

    Parameters
    ----------
    compute : callable
        ``compute(codes) -> Partial`` for one shard's customer codes.
    shards : sequence of int64 arrays
        From :func:`customer_shards`; empty shards are skipped (unless all are).
    progress : callable, optional
        Called as ``progress(done, total)`` after each shard.

    Returns
    -------
    Partial
        The merged partial; ``finalize`` it for the result.
    """
    work = [s for s in shards if len(s)] or list(shards[:1])
    if not work:
        raise ConfigError("no shards to run: give at least one shard of customers.")
    parts = []
    for i, codes in enumerate(work):
        parts.append(compute(np.asarray(codes, np.int64)))
        if progress:
            progress(i + 1, len(work))
    return merge_all(parts)


def run_histories(compute: Callable[[Histories], P], hist: Histories, n_shards: int, *,
                  by: str = "hash", seed: int = 0,
                  progress: Callable[[int, int], None] | None = None) -> P:
    """A measure of whole histories, run over customer shards of them.

    ``compute`` receives each shard's :meth:`Histories.subset` (its customers'
    lines, the original ids kept); the partials merge as in :func:`run_shards`.
    """
    return run_shards(lambda codes: compute(hist.subset(codes)),
                      customer_shards(hist.n_customers, n_shards, by=by, seed=seed),
                      progress=progress)
