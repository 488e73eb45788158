"""k^m-anonymity of exported item lists: violations, affected share, items involved.

Definitions (Terrovitis, Mamoulis, Kalnis 2008, "Privacy-preserving
anonymization of set-valued data", PVLDB 1(1)):

- A *transaction* is a set of items: a member's distinct items over their
  history, or one basket (:class:`~basketguard.engine.histories.transactions.Transactions`).
  Repeated items within a transaction count once.
- The *support* of an itemset ``I`` is the number of transactions containing
  every item of ``I``.
- ``I`` with ``1 <= |I| <= m`` *violates* k^m-anonymity when
  ``0 < support(I) < k``: someone who knows ``|I|`` items of a member's list
  narrows the member down to fewer than ``k`` transactions. Itemsets that
  never occur disclose nothing and are not counted. Supersets of a violating
  itemset that occur are violations too and are counted as well.

The analysis reports the number of violating itemsets per size, the number
and share of transactions holding at least one violating itemset, and the
items most involved (ranked by the number of violating itemsets they belong
to, ties by item code). Only aggregates and item names leave this module.

Exact merge across shards. Support counts keyed by itemset add up across
shards of transactions (shards share one item coding and, for members, hold
whole members), so :class:`ItemsetCounts` merges exactly. Violations do *not*
add up: an itemset rare in every shard may be common overall, so
``support < k`` is judged on the merged counts only. The affected
transactions are then counted shard by shard against the merged counts and
summed::

    parts = [count_itemsets(shard, m) for shard in shards]           # phase 1
    merged = merge_all(parts)                                        # engine.runner.partial
    n_aff = sum(affected_transactions(s, merged, k) for s in shards)  # phase 2
    result = km_anonymity_from_counts(merged, k, n_affected=n_aff)

which equals :func:`km_anonymity` on all transactions at once. For ``m <= 2``
:func:`km_anonymity` takes the fast path (per-item pair counting that stores
nothing per pair); larger ``m`` stores the violating itemsets (16 bytes each)
and needs ``n_items ** m < 2**63``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Estimate, Finding, Threshold
from basketguard.engine.histories.transactions import Transactions
from basketguard.kernels import csr
from basketguard.kernels import itemsets as ik

CHECK = "reid.km_anonymity"


def _check_km(k: int, m: int, n_items: int = 0) -> None:
    if int(k) != k or k < 1:
        raise ConfigError(f"k^m-anonymity: k must be an integer >= 1, got {k}")
    if int(m) != m or m < 1:
        raise ConfigError(f"k^m-anonymity: m must be an integer >= 1, got {m}")
    if m > 2 and n_items ** m >= 2**63:
        raise ConfigError(f"k^m-anonymity: m = {m} is too large for {n_items:,} items "
                          f"(itemset keys need n_items ** m < 2**63); use a smaller m")


@dataclass(frozen=True, eq=False)
class ItemsetCounts:
    """Support of every occurring itemset of size 1..m: a partial that merges exactly.

    Attributes
    ----------
    m : int
        Largest itemset size counted.
    n_transactions : int
        Transactions counted (all shards, once merged).
    item_names : numpy.ndarray
        Name of each item code; shards merge only under the same coding.
    unit : str
        ``"baskets"`` or ``"members"``.
    keys : tuple of numpy.ndarray of int64
        ``keys[s - 1]``: ascending keys of the occurring itemsets of size ``s``
        (see :mod:`basketguard.kernels.itemsets`).
    counts : tuple of numpy.ndarray of int64
        Their supports.
    """

    m: int
    n_transactions: int
    item_names: np.ndarray
    unit: str
    keys: tuple[np.ndarray, ...]
    counts: tuple[np.ndarray, ...]

    @property
    def n_items(self) -> int:
        return len(self.item_names)

    def itemsets(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """Itemsets of one size as rows of item codes, and their supports."""
        return ik.decode_keys(self.keys[size - 1], self.n_items, size), self.counts[size - 1]

    @property
    def merge_key(self) -> tuple:
        """Counts merge under the same m, unit and number of items (the coding itself
        is compared by :meth:`merge`)."""
        return (self.m, self.unit, self.n_items)

    def finalize(self, k: int = 5, n_affected: int | None = None) -> KmAnonymity:
        """:func:`km_anonymity_from_counts` of the merged counts."""
        return km_anonymity_from_counts(self, k, n_affected)

    def merge(self, other: ItemsetCounts) -> ItemsetCounts:
        """Sum of two partials (same m, unit and item coding).

        Parameters
        ----------
        other : ItemsetCounts

        Returns
        -------
        ItemsetCounts
        """
        if self.m != other.m or self.unit != other.unit:
            raise DataError(f"cannot merge itemset counts of m={self.m} ({self.unit}) with "
                            f"m={other.m} ({other.unit})")
        if not np.array_equal(self.item_names, other.item_names):
            raise DataError("cannot merge itemset counts over different item codings; build "
                            "every shard with the same item dictionary")
        keys, counts = [], []
        for ka, ca, kb, cb in zip(self.keys, self.counts, other.keys, other.counts, strict=True):
            both = np.concatenate([ka, kb])
            uniq, inverse = np.unique(both, return_inverse=True)
            keys.append(uniq)
            counts.append(np.bincount(inverse.reshape(-1), weights=np.concatenate([ca, cb]),
                                      minlength=uniq.shape[0]).astype(np.int64))
        return ItemsetCounts(self.m, self.n_transactions + other.n_transactions,
                             self.item_names, self.unit, tuple(keys), tuple(counts))


def count_itemsets(tx: Transactions, m: int) -> ItemsetCounts:
    """Support of every occurring itemset of size 1..m (phase 1 of a sharded run).

    Parameters
    ----------
    tx : Transactions
        One shard (or all) of the transactions.
    m : int
        Largest itemset size; ``n_items ** m`` must be < 2**63.

    Returns
    -------
    ItemsetCounts
        Memory: 16 bytes per distinct occurring itemset.
    """
    _check_km(1, m, tx.n_items)
    index = csr.invert(tx.offsets, tx.items, tx.n_items)
    keys, counts = [], []
    for s in range(1, m + 1):
        kk, cc = ik.itemset_supports(tx.offsets, tx.items, tx.n_items, s, index=index)
        keys.append(kk)
        counts.append(cc)
    return ItemsetCounts(m, tx.n_transactions, tx.item_names, tx.unit, tuple(keys),
                         tuple(counts))


def affected_transactions(tx: Transactions, counts: ItemsetCounts, k: int) -> int:
    """Transactions of a shard holding an itemset that violates on the merged counts.

    Parameters
    ----------
    tx : Transactions
        One shard, coded like ``counts``.
    counts : ItemsetCounts
        Counts merged over all shards.
    k : int
        Anonymity threshold.

    Returns
    -------
    int
        Count for this shard; counts of disjoint shards add up.
    """
    _check_km(k, counts.m)
    if not np.array_equal(tx.item_names, counts.item_names):
        raise DataError("transactions and itemset counts use different item codings")
    flags = np.zeros(tx.n_transactions, np.bool_)
    for s in range(1, counts.m + 1):
        bad = counts.keys[s - 1][counts.counts[s - 1] < k]
        flags |= ik.mark_transactions(tx.offsets, tx.items, tx.n_items, s, bad)
    return int(flags.sum())


@dataclass(frozen=True, eq=False)
class KmAnonymity:
    """k^m-anonymity of a set of transactions (aggregates only).

    Attributes
    ----------
    k, m : int
        Threshold and largest itemset size.
    unit : str
        ``"baskets"`` or ``"members"``.
    n_transactions : int
    n_violating : tuple of int
        ``n_violating[s - 1]``: violating itemsets of size ``s``.
    n_affected : int or None
        Transactions holding at least one violating itemset (None when it
        was not computed, e.g. counts merged without phase 2).
    involvement : numpy.ndarray of int64, shape (n_items,)
        Violating itemsets each item belongs to.
    item_names : numpy.ndarray
        Name of each item code.
    """

    k: int
    m: int
    unit: str
    n_transactions: int
    n_violating: tuple[int, ...]
    n_affected: int | None
    involvement: np.ndarray
    item_names: np.ndarray

    @property
    def total_violating(self) -> int:
        return int(sum(self.n_violating))

    @property
    def share_affected(self) -> Estimate:
        """Share of transactions holding a violating itemset (exact: all are counted)."""
        if self.n_affected is None or self.n_transactions == 0:
            return Estimate(float("nan"))
        return Estimate(self.n_affected / self.n_transactions)

    def top_items(self, n: int = 10) -> list[tuple[Any, int]]:
        """The ``n`` items in most violating itemsets, as (name, count), most first."""
        inv = self.involvement
        order = np.lexsort((np.arange(inv.shape[0]), -inv))[:n]
        return [(_py(self.item_names[c]), int(inv[c])) for c in order if inv[c] > 0]

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        return {
            "k": self.k,
            "m": self.m,
            "unit": self.unit,
            "transactions": self.n_transactions,
            "violating_itemsets": self.total_violating,
            "violating_by_size": {str(s + 1): n for s, n in enumerate(self.n_violating)},
            "affected": self.n_affected,
            "affected_share": self.share_affected.to_dict()["value"],
            "top_items": [{"item": name, "itemsets": c} for name, c in self.top_items(top)],
        }

    def findings(self, warn: float | None = None, fail: float | None = None,
                 top: int = 10) -> list[Finding]:
        """The result as a finding judged on the share of affected transactions.

        Parameters
        ----------
        warn, fail : float, optional
            Thresholds on the share (larger is worse); none makes it informational.
        top : int
            Items listed in the explanation's details.

        Returns
        -------
        list of Finding
        """
        share = self.share_affected
        sizes = ", ".join(f"size {s + 1}: {n:,}" for s, n in enumerate(self.n_violating))
        items = self.top_items(3)
        named = "; items most involved: " + ", ".join(f"{name} ({c:,})" for name, c in items) \
            if items else ""
        affected = "an unknown number" if self.n_affected is None else f"{self.n_affected:,}"
        explanation = (
            f"{affected} of {self.n_transactions:,} {self.unit} hold a combination of at most "
            f"{self.m} items that fewer than {self.k} {self.unit} share; "
            f"{self.total_violating:,} such itemsets ({sizes}){named}."
        )
        return [Finding.judged(
            check=CHECK,
            metric=f"share of {self.unit} holding an itemset of <= {self.m} items with "
                   f"support < {self.k}",
            estimate=share,
            threshold=Threshold(warn, fail),
            explanation=explanation,
            details=self.to_dict(top),
        )]


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def km_anonymity(tx: Transactions, k: int = 5, m: int = 2) -> KmAnonymity:
    """k^m-anonymity violations of the transactions (all in memory).

    Parameters
    ----------
    tx : Transactions
        The exported item lists (members or baskets).
    k : int
        Smallest acceptable support (>= 1; ``k = 1`` admits no violation).
    m : int
        Largest itemset size an observer is assumed to know (>= 1).

    Returns
    -------
    KmAnonymity
    """
    _check_km(k, m, tx.n_items)
    o, it, n = tx.offsets, tx.items, tx.n_items
    index = csr.invert(o, it, n)
    n_bad, involvement, affected = ik.item_violations(o, it, n, k)
    by_size = [n_bad]
    for s in range(2, m + 1):
        if s == 2:
            nv, inv, aff = ik.pair_violations(o, it, n, k, index=index)
        else:
            nv, inv, aff = ik.itemset_violations(o, it, n, k, s, index=index)
        by_size.append(nv)
        involvement = involvement + inv
        affected |= aff
    return KmAnonymity(k, m, tx.unit, tx.n_transactions, tuple(by_size),
                       int(affected.sum()), involvement, tx.item_names)


def km_anonymity_from_counts(counts: ItemsetCounts, k: int,
                             n_affected: int | None = None) -> KmAnonymity:
    """k^m-anonymity from (merged) support counts.

    Parameters
    ----------
    counts : ItemsetCounts
        Merged over all shards.
    k : int
        Anonymity threshold.
    n_affected : int, optional
        Sum of :func:`affected_transactions` over the shards (phase 2).

    Returns
    -------
    KmAnonymity
    """
    _check_km(k, counts.m)
    involvement = np.zeros(counts.n_items, np.int64)
    by_size = []
    for s in range(1, counts.m + 1):
        bad = counts.keys[s - 1][counts.counts[s - 1] < k]
        by_size.append(int(bad.shape[0]))
        rows = ik.decode_keys(bad, counts.n_items, s)
        involvement += np.bincount(rows.ravel(), minlength=counts.n_items)
    return KmAnonymity(k, counts.m, counts.unit, counts.n_transactions, tuple(by_size),
                       n_affected, involvement, counts.item_names)
