"""Purchase unicity of a segment: how many members do p known purchases single out?

After de Montjoye, Radaelli, Singh, Pentland, "Unique in the shopping mall: On
the reidentifiability of credit card metadata", Science 347 (2015).

Definitions
-----------
*Points.* A customer's points are the distinct values of one of

- ``"items"``: the item;
- ``"item-day"``: (item, day);
- ``"item-week"``: (item, week), weeks running Monday to Sunday (the ISO 8601
  partition of days; the week number is ``(day + 3) // 7``);
- ``"item-month"``: (item, calendar month);
- ``"store-day"``: (store, day), where the lines have a store;

over their whole history (days are the histories' UTC day numbers).

*Unicity at p.* For a member with at least ``p`` points, draw ``d`` orders the
member's points at random (counter-based: a pure function of ``seed``, the
member's customer code and ``d``); the adversary knows the first ``p``. The
member is *unique* in that draw when no other customer of the whole base holds
all ``p`` points. Unicity at ``p`` is the share of (eligible member, draw)
pairs that are unique. Members with fewer than ``p`` points are left out of the
share at ``p`` and counted as ``excluded`` (de Montjoye's convention: a
trace of ``p`` points cannot be drawn from them). Prefixes are nested, so a
member unique at ``p`` is unique at every larger ``p``.

*Per member.* ``risk[m, p - 1]`` is the share of member ``m``'s draws unique at
``p`` (NaN when ``m`` has fewer than ``p`` points); ``p_unique[m]`` is the
smallest ``p`` at which the member is unique in at least half of the draws (0:
not within ``min(points, p_max)``). These are returned to the Python caller
only; findings hold aggregates.

*Interval.* The draws of one member are correlated (same point set), so the
interval is over members: a Wilson score interval whose sample size is the
Kish effective size ``p(1-p) / var``, with ``var`` the between-member variance
of the per-member unique share divided by the number of members, clipped to
``[members, members x draws]``. It reduces to Wilson over members when a
member's draws always agree and to Wilson over all draws when they are
independent; it covers both the draw noise and, when the segment is a sample
of a larger group, the sampling of members.

*Shards.* The base (the index) is always the whole population; members can be
split into shards. :func:`unicity_counts` gives a shard's :class:`UnicityCounts`
(integer sums per ``p``), ``a.merge(b)`` adds two shards exactly and
``counts.finalize()`` turns the total into a :class:`UnicityResult`; the
result equals the single run's because draws depend only on the member code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Estimate, Finding, Threshold
from basketguard.engine.histories.build import Histories
from basketguard.engine.stats import cluster_wilson
from basketguard.kernels import invindex as ix
from basketguard.kernels import unicity as uk

#: Point kinds: name -> (column that names the point, time unit).
POINT_KINDS: dict[str, tuple[str, int]] = {
    "items": ("item", ix.UNIT_NONE),
    "item-day": ("item", ix.UNIT_DAY),
    "item-week": ("item", ix.UNIT_WEEK),
    "item-month": ("item", ix.UNIT_MONTH),
    "store-day": ("store", ix.UNIT_DAY),
}


@dataclass(frozen=True)
class PointIndex:
    """The point -> customers index of a population, for one point kind.

    Build it once with :func:`build_point_index` and pass it to
    :func:`unicity` for several segments of the same histories.
    """

    points: str
    arrays: ix.PointIndex

    @property
    def n_points(self) -> int:
        return self.arrays.n_points


def build_point_index(hist: Histories, points: str = "item-day", *,
                      dense_ratio: float = 32.0) -> PointIndex:
    """Inverted index of every customer's points.

    Parameters
    ----------
    hist : Histories
        The whole customer base.
    points : str
        One of :data:`POINT_KINDS`.
    dense_ratio : float
        Points held by at least ``customers / dense_ratio`` customers also get a
        bitmap; 0 disables bitmaps.

    Returns
    -------
    PointIndex
    """
    col, unit = _kind(points, hist)
    hi, n_hi = _hi(hist, col)
    return PointIndex(points, ix.build_index(hist.offsets, hi, hist.day, unit, n_hi,
                                             dense_ratio=dense_ratio))


# ----------------------------------------------------------------------- partials


@dataclass
class UnicityCounts:
    """Mergeable partial result of a shard of members (all fields are sums).

    Attributes
    ----------
    points : str
    p_max, draws, seed : int
    members : int
        Members in the shard.
    no_points : int
        Members without any point (no history, or no store for ``store-day``).
    eligible, unique, unique_sq : numpy.ndarray
        int64 per ``p`` (index ``p - 1``): members with at least ``p`` points,
        their unique draws, and the sum of squared unique-draw counts per member.
    p_unique : numpy.ndarray
        int64, length ``p_max + 1``: members (with points) by their median
        smallest unique p; index 0: not unique within ``min(points, p_max)``.
    """

    points: str
    p_max: int
    draws: int
    seed: int
    members: int = 0
    no_points: int = 0
    eligible: np.ndarray = field(default=None)  # type: ignore[assignment]
    unique: np.ndarray = field(default=None)  # type: ignore[assignment]
    unique_sq: np.ndarray = field(default=None)  # type: ignore[assignment]
    p_unique: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for name, n in (("eligible", self.p_max), ("unique", self.p_max),
                        ("unique_sq", self.p_max), ("p_unique", self.p_max + 1)):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n, np.int64))

    @property
    def merge_key(self) -> tuple:
        """Counts merge under the same point kind, p_max, draws and seed."""
        return (self.points, self.p_max, self.draws, self.seed)

    def merge(self, other: UnicityCounts) -> UnicityCounts:
        """Exact sum of two disjoint shards' counts (same kind, p_max, draws, seed)."""
        mine, theirs = self.merge_key, other.merge_key
        if mine != theirs:
            raise ConfigError(f"cannot merge unicity counts of {theirs} into {mine} "
                              "(points, p_max, draws and seed must agree)")
        return UnicityCounts(*mine, self.members + other.members,
                             self.no_points + other.no_points,
                             self.eligible + other.eligible, self.unique + other.unique,
                             self.unique_sq + other.unique_sq, self.p_unique + other.p_unique)

    def finalize(self, confidence: float = 0.95) -> UnicityResult:
        """Estimates with intervals (per-member arrays are not part of a merge)."""
        est = [cluster_wilson(int(self.unique[p]), int(self.unique_sq[p]),
                              int(self.eligible[p]), self.draws, confidence)
               for p in range(self.p_max)]
        return UnicityResult(counts=self, unicity=est, confidence=confidence)


# ------------------------------------------------------------------------ result


@dataclass
class UnicityResult:
    """Unicity of a segment at p = 1..p_max.

    Attributes
    ----------
    counts : UnicityCounts
        The aggregate counts (mergeable).
    unicity : list of Estimate
        ``unicity[p - 1]``: share of eligible (member, draw) pairs unique at p.
    confidence : float
    members, n_points, smallest, risk, p_unique : numpy.ndarray or None
        Per-member arrays (Python API only, never put into findings): customer
        codes, distinct points, smallest unique p per draw (``(members, draws)``,
        0 = not unique), share of draws unique per p (``(members, p_max)``, NaN
        where the member has fewer than p points), median smallest p (0 = none).
    """

    counts: UnicityCounts
    unicity: list[Estimate]
    confidence: float = 0.95
    members: np.ndarray | None = None
    n_points: np.ndarray | None = None
    smallest: np.ndarray | None = None
    risk: np.ndarray | None = None
    p_unique: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def points(self) -> str:
        return self.counts.points

    def excluded(self, p: int) -> int:
        """Members left out of the share at ``p`` (fewer than ``p`` points)."""
        return self.counts.members - int(self.counts.eligible[p - 1])

    def table(self) -> list[dict[str, Any]]:
        """One row per p: estimate, interval, eligible and excluded members."""
        return [{"p": p, **self.unicity[p - 1].to_dict(),
                 "eligible": int(self.counts.eligible[p - 1]), "excluded": self.excluded(p)}
                for p in range(1, self.counts.p_max + 1)]

    def findings(self, warn: float | None = None, fail: float | None = None,
                 ps: list[int] | None = None) -> list[Finding]:
        """One ``reid.unicity`` finding per p (aggregates only).

        Parameters
        ----------
        warn, fail : float, optional
            Thresholds on the unicity share (larger is worse).
        ps : list of int, optional
            Which p to report; all ``1..p_max`` by default.

        Returns
        -------
        list of Finding
        """
        c = self.counts
        out = []
        for p in ps or range(1, c.p_max + 1):
            if not 1 <= p <= c.p_max:
                raise ConfigError(f"p = {p} is outside 1..{c.p_max} (raise p_max)")
            est = self.unicity[p - 1]
            kind = c.points.replace("-", ", ") if c.points != "items" else "item"
            share = "nan" if math.isnan(est.value) else f"{est.value:.1%}"
            out.append(Finding.judged(
                check="reid.unicity",
                metric=f"share of members unique from {p} known ({kind}) points",
                estimate=est,
                threshold=Threshold(warn, fail),
                explanation=(f"{share} of {int(c.eligible[p - 1])} members with at least {p} "
                             f"({kind}) points are the only customer of the base holding {p} "
                             f"points drawn from their own history ({c.draws} draws each); "
                             f"{self.excluded(p)} member(s) with fewer points are excluded."),
                details={"points": c.points, "p": p, "draws": c.draws, "seed": c.seed,
                         "members": c.members, "eligible": int(c.eligible[p - 1]),
                         "excluded": self.excluded(p), "no_points": c.no_points,
                         "unique_draws": int(c.unique[p - 1]),
                         "members_by_p_unique": {("none" if i == 0 else str(i)): int(v)
                                                 for i, v in enumerate(c.p_unique)}},
            ))
        return out


# ---------------------------------------------------------------------------- API


def unicity_counts(hist: Histories, members: np.ndarray, index: PointIndex, *, p_max: int = 5,
                   draws: int = 10, seed: int = 0,
                   ) -> tuple[UnicityCounts, dict[str, np.ndarray]]:
    """Counts of one shard of members against the whole base (the *update* step).

    Parameters
    ----------
    hist : Histories
        The whole customer base (the index must be built from it).
    members : numpy.ndarray
        Customer codes of the shard's members (distinct).
    index : PointIndex
        From :func:`build_point_index` on ``hist``.
    p_max, draws, seed : int
        Largest p (1..64), draws per member, random seed.

    Returns
    -------
    (UnicityCounts, dict)
        The counts and the per-member arrays ``n_points`` and ``smallest``.
    """
    col, _ = _kind(index.points, hist)
    hi, _ = _hi(hist, col)
    members = _codes(members, hist.n_customers)
    mp_off, mp_code = uk.member_points(hist.offsets, hi, hist.day, members, index.arrays)
    smallest = uk.unicity_draws(members, mp_off, mp_code, index.arrays, p_max, draws, seed)
    n_points = np.diff(mp_off)
    parts = uk.count_unique(n_points, smallest, p_max)
    counts = UnicityCounts(index.points, p_max, draws, int(seed), int(members.shape[0]),
                           int(np.count_nonzero(n_points == 0)), **parts)
    return counts, {"members": members, "n_points": n_points, "smallest": smallest}


def unicity(hist: Histories, members: np.ndarray | None = None, *,
            member_ids: Any = None, points: str = "item-day", p_max: int = 5,
            draws: int = 10, seed: int = 0, confidence: float = 0.95,
            index: PointIndex | None = None, dense_ratio: float = 32.0) -> UnicityResult:
    """Purchase unicity of a segment against the whole customer base.

    Parameters
    ----------
    hist : Histories
        The whole customer base.
    members : numpy.ndarray, optional
        Customer codes of the segment's members.
    member_ids : sequence or pyarrow.Array, optional
        Original customer ids of the members instead of codes. With neither,
        the segment is the whole base.
    points : str
        Point kind, one of :data:`POINT_KINDS`.
    p_max : int
        Report p = 1..p_max (at most 64).
    draws : int
        Random draws of known points per member.
    seed : int
        Seed of the draws (``0 <= seed < 2**63``); results depend only on the
        seed, never on threads or shards.
    confidence : float
        Coverage of the intervals.
    index : PointIndex, optional
        A prebuilt index of ``hist`` for this point kind (built if omitted).
    dense_ratio : float
        Bitmap threshold when the index is built here.

    Returns
    -------
    UnicityResult

    Raises
    ------
    ConfigError
        Unknown point kind, ``store-day`` without stores, bad ``p_max``,
        ``draws`` or ``seed``, both ``members`` and ``member_ids``.
    DataError
        Member ids not in the base, or listed twice.
    """
    _check_options(p_max, draws, seed)
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must lie in (0, 1), got {confidence}")
    codes = resolve_members(hist, members, member_ids)
    if index is None:
        index = build_point_index(hist, points, dense_ratio=dense_ratio)
    elif index.points != points:
        raise ConfigError(f"the index is for {index.points!r} points, not {points!r}")
    counts, arrays = unicity_counts(hist, codes, index, p_max=p_max, draws=draws, seed=seed)
    result = counts.finalize(confidence)
    result.members = arrays["members"]
    result.n_points = arrays["n_points"]
    result.smallest = arrays["smallest"]
    result.risk, result.p_unique = member_risk(arrays["n_points"], arrays["smallest"], p_max)
    result.info = {"index_points": index.n_points, "index_pairs": int(index.arrays.holders.size),
                   "dense_points": int(index.arrays.bitmaps.shape[0])}
    return result


def member_risk(n_points: np.ndarray, smallest: np.ndarray,
                p_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-member share of unique draws per p, and median smallest unique p.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``risk`` float64 ``(members, p_max)`` (NaN where fewer than p points)
        and ``p_unique`` int8 (0: not unique in half the draws within reach).
    """
    draws = smallest.shape[1]
    ps = np.arange(1, p_max + 1)
    s = smallest.astype(np.int16)
    hit = (s[:, :, None] != 0) & (s[:, :, None] <= ps[None, None, :])
    risk = hit.sum(axis=1) / draws if draws else np.zeros((s.shape[0], p_max))
    risk = np.where(np.asarray(n_points)[:, None] >= ps[None, :], risk, np.nan)
    with np.errstate(invalid="ignore"):
        half = (2 * hit.sum(axis=1) >= draws) & (draws > 0) & ~np.isnan(risk)
    p_unique = np.where(half.any(axis=1), half.argmax(axis=1) + 1, 0).astype(np.int8)
    return risk, p_unique


def resolve_members(hist: Histories, members: np.ndarray | None = None,
                    member_ids: Any = None) -> np.ndarray:
    """Customer codes of a segment given as codes, as original ids, or as None (everyone).

    Raises
    ------
    ConfigError
        Both forms given.
    DataError
        Codes out of range, ids not in the base, or a member listed twice.
    """
    if members is not None and member_ids is not None:
        raise ConfigError("give the segment as customer codes or as ids, not both")
    if member_ids is not None:
        ids = member_ids if isinstance(member_ids, pa.Array | pa.ChunkedArray) \
            else pa.array(list(member_ids))
        ids = ids.cast(hist.customer_ids.type) if ids.type != hist.customer_ids.type else ids
        found = pc.index_in(ids, value_set=hist.customer_ids)
        if found.null_count:
            bad = ids.filter(pc.is_null(found))[0].as_py()
            raise DataError(f"segment: {found.null_count} member id(s) are not customers of "
                            f"the base (first: {bad!r}); unicity is measured against the "
                            "whole base, so every member must be in it")
        codes = np.asarray(found.to_numpy(zero_copy_only=False), np.int64)
    elif members is not None:
        codes = np.asarray(members)
        if codes.dtype.kind not in "iu":
            raise DataError(f"segment: member codes must be integers, got {codes.dtype}")
        codes = codes.astype(np.int64).ravel()
    else:
        return np.arange(hist.n_customers, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= hist.n_customers):
        raise DataError(f"segment: member codes must lie in [0, {hist.n_customers})")
    if np.unique(codes).shape[0] != codes.shape[0]:
        raise DataError("segment: a member is listed more than once")
    return codes


def _check_options(p_max: int, draws: int, seed: int) -> None:
    if not 1 <= p_max <= uk.MAX_P:
        raise ConfigError(f"p_max must lie in 1..{uk.MAX_P}, got {p_max}")
    if not 0 <= draws < 2**24:
        raise ConfigError(f"draws must lie in 0..2**24, got {draws}")
    if not 0 <= int(seed) < 2**63:
        raise ConfigError(f"seed must lie in [0, 2**63), got {seed}")


def _kind(points: str, hist: Histories) -> tuple[str, int]:
    if points not in POINT_KINDS:
        raise ConfigError(f"unknown point kind {points!r}; use one of {sorted(POINT_KINDS)}")
    col, unit = POINT_KINDS[points]
    if col == "store" and hist.store is None:
        raise ConfigError(f"{points!r} points need a store column: map the `store` role")
    return col, unit


def _hi(hist: Histories, col: str) -> tuple[np.ndarray, int]:
    if col == "item":
        return hist.item, hist.n_items
    return hist.store, len(hist.store_ids) if hist.store_ids is not None else (
        int(hist.store.max()) + 1 if hist.store.size else 0)


def _codes(members: np.ndarray, n: int) -> np.ndarray:
    codes = np.ascontiguousarray(members, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= n):
        raise DataError(f"segment: member codes must lie in [0, {n})")
    return codes


# -------------------------------------------------------------- a sharded base


def _span(points: str, first_day: int, last_day: int) -> tuple[int, int]:
    """The whole base's bucket span for a point kind (that of its in-memory index)."""
    _, unit = POINT_KINDS[points]
    return ix.bucket_range(np.array([first_day, last_day], np.int32), unit)


def part_member_keys(hist: Histories, member_ids: pa.Array, points: str,
                     span: tuple[int, int]) -> dict[str, Any]:
    """Phase 1 on one shard: its members' distinct point keys (a pure function of the shard).

    Returns the shard's ``customer_ids`` (to rank the members in the whole
    base), the members' local codes ``local``, and ``mp_off`` / ``keys`` from
    :func:`basketguard.kernels.unicity.member_keys`.
    """
    col, unit = _kind(points, hist)
    hi, _ = _hi(hist, col)
    mask = pc.is_in(hist.customer_ids, value_set=member_ids)
    local = np.flatnonzero(mask.to_numpy(zero_copy_only=False)).astype(np.int64)
    mp_off, keys = uk.member_keys(hist.offsets, hi, hist.day, local, unit, *span)
    return {"customer_ids": hist.customer_ids, "local": local, "mp_off": mp_off, "keys": keys}


def part_longest(hist: Histories, points: str, span: tuple[int, int], known: np.ndarray,
                 n_points: np.ndarray, member_ids: pa.Array, p_max: int,
                 longest: np.ndarray | None = None, dense_ratio: float = 32.0) -> np.ndarray:
    """Phase 2 on one shard: the largest number of leading known points a customer of the
    shard (other than the member) holds, per (member, draw), from ``longest`` upwards.

    ``known`` holds every member's known keys (:func:`basketguard.kernels.unicity.known_keys`)
    and ``member_ids`` their ids in the same order. Returns a new int8 array.
    """
    col, unit = _kind(points, hist)
    hi, n_hi = _hi(hist, col)
    index = ix.build_index(hist.offsets, hi, hist.day, unit, n_hi, dense_ratio=dense_ratio,
                           buckets=span)
    codes = uk.codes_of_keys(known, index)
    me = pc.index_in(member_ids, value_set=hist.customer_ids)
    me = np.asarray(pc.fill_null(me, -1).to_numpy(zero_copy_only=False), np.int64)
    own = me >= 0
    if own.any():  # a member's own points are all in its shard's index
        reach = np.arange(p_max)[None, None, :] < np.minimum(n_points[own], p_max)[:, None, None]
        if ((codes[own] < 0) & reach).any():
            raise DataError("a member's points are missing from its own shard's index: the "
                            "shards do not come from one build; rebuild them (run again with "
                            "--no-cache)")
    out = np.zeros(codes.shape[:2], np.int8) if longest is None else longest.copy()
    uk.shard_longest(codes, n_points, me, p_max, index, out)
    return out


def unicity_sharded(run_parts: Callable[..., list], member_ids: pa.Array, *, first_day: int,
                    last_day: int, points: str = "item-day", p_max: int = 5, draws: int = 10,
                    seed: int = 0, confidence: float = 0.95, sequential: bool = True,
                    progress: Callable[[str], None] | None = None) -> UnicityResult:
    """Purchase unicity of a segment against a customer base held in shards.

    The result equals :func:`unicity` on the whole base (same counts, same
    per-member arrays): points are keyed over the whole base's span, each
    member is drawn from its own shard with its code in the whole base (the
    rank of its id), and every shard's index gives the longest known prefix
    one of its customers holds; the maximum over shards decides.

    Parameters
    ----------
    run_parts : callable
        ``run_parts(fn, *args, state=None)`` calls ``fn(histories, *args)`` on
        every shard and returns the results in shard order; with ``state`` given
        (sequential runners), it calls ``fn(histories, *args, state)`` shard
        after shard, passing each result on, and returns the last. See
        :func:`shard_runner` (out-of-core shards) and
        :func:`basketguard.engine.runner.dask.Partitions.map`.
    member_ids : pyarrow.Array
        The members' ids, in the base's id type (distinct).
    first_day, last_day : int
        The whole base's day range.
    points, p_max, draws, seed, confidence
        As :func:`unicity`.
    sequential : bool
        ``run_parts`` accepts ``state`` (each shard starts from the best of the
        shards before it, which prunes the search).
    progress : callable, optional
        Called with a message per phase.

    Raises
    ------
    DataError
        A member id that is no customer of the base.
    """
    _check_options(p_max, draws, seed)
    if points not in POINT_KINDS:
        raise ConfigError(f"unknown point kind {points!r}; use one of {sorted(POINT_KINDS)}")
    member_ids = pc.unique(member_ids)
    span = _span(points, first_day, last_day)
    if progress:
        progress(f"{points} points of {len(member_ids):,} members")
    parts = run_parts(part_member_keys, member_ids, points, span)
    found = sum(len(p["local"]) for p in parts)
    if found != len(member_ids):
        raise DataError(f"segment: {len(member_ids) - found} member id(s) are not customers of "
                        "the base; unicity is measured against the whole base, so every "
                        "member must be in it")
    # each member's code in the whole base: the rank of its id among all ids
    all_ids = pa.chunked_array([p["customer_ids"] for p in parts]).combine_chunks()
    rank = np.empty(len(all_ids), np.int64)
    rank[pc.sort_indices(all_ids).to_numpy()] = np.arange(len(all_ids), dtype=np.int64)
    base = np.cumsum([0] + [len(p["customer_ids"]) for p in parts])
    codes = np.concatenate([rank[base[i] + p["local"]] for i, p in enumerate(parts)]
                           or [np.empty(0, np.int64)])
    ids = pa.concat_arrays([p["customer_ids"].take(pa.array(p["local"])) for p in parts])
    n_points = np.concatenate([np.diff(p["mp_off"]) for p in parts] or [np.empty(0, np.int64)])
    mp_off = np.zeros(codes.shape[0] + 1, np.int64)
    np.cumsum(n_points, out=mp_off[1:])
    keys = np.concatenate([p["keys"] for p in parts] or [np.empty(0, np.int64)])
    del parts, all_ids, rank
    known = uk.known_keys(codes, mp_off, keys, p_max, draws, seed)
    del keys
    if progress:
        progress("longest known prefixes held by other customers, shard by shard")
    if sequential:
        longest = run_parts(part_longest, points, span, known, n_points, ids, p_max,
                            state=np.zeros(known.shape[:2], np.int8))
    else:
        longest = np.zeros(known.shape[:2], np.int8)
        for part in run_parts(part_longest, points, span, known, n_points, ids, p_max):
            np.maximum(longest, part, out=longest)
    smallest = uk.smallest_of_longest(longest, n_points, p_max)
    order = np.argsort(codes, kind="stable")
    codes, n_points, smallest = codes[order], n_points[order], smallest[order]
    parts_ = uk.count_unique(n_points, smallest, p_max)
    counts = UnicityCounts(points, p_max, draws, int(seed), int(codes.shape[0]),
                           int(np.count_nonzero(n_points == 0)), **parts_)
    result = counts.finalize(confidence)
    result.members, result.n_points, result.smallest = codes, n_points, smallest
    result.risk, result.p_unique = member_risk(n_points, smallest, p_max)
    return result


def shard_runner(shards: Any, progress: Callable[[int, int], None] | None = None
                 ) -> Callable[..., Any]:
    """A ``run_parts`` over out-of-core shards (:class:`~basketguard.engine.runner.shards.ShardSet`):
    one shard in memory at a time."""

    def run(fn: Callable, *args: Any, state: Any = None) -> Any:
        out = []
        for i in range(len(shards)):
            hist = shards.load(i)
            if state is None:
                out.append(fn(hist, *args))
            else:
                state = fn(hist, *args, state)
            del hist
            if progress:
                progress(i + 1, len(shards))
        return out if state is None else state

    return run
