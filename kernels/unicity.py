"""Purchase unicity: is a member singled out by p of their own points?

After de Montjoye et al., "Unique in the shopping mall: On the reidentifiability
of credit card metadata", Science 347 (2015). For a member with ``n`` distinct
points (see :mod:`basketguard.kernels.invindex`), draw ``d`` is a random
ordering of the member's points, sorted by key first: a partial Fisher-Yates
shuffle whose swap ``j`` takes position ``j + ((h >> 32) * (n - j)) >> 32``
with ``h = draw(derive_key(seed, member), stream d, counter j)``
(splitmix64, :mod:`basketguard.kernels.rng`), so draws are a pure function of the
seed, the member's customer code and ``d`` (never of threads or shards). The
adversary knows the first ``p`` points; the member is *unique at p* when no
other customer's point set contains all of them. Prefixes are nested, so
uniqueness is monotone in ``p`` and each draw is summarised by the smallest
``p`` (``1..min(n, p_max)``) at which the member is unique, ``0`` if not unique
at ``min(n, p_max)``.

Intersections start from the rarest known point's holders and test each other
customer against the other points (bitmap bit for dense points, otherwise a
galloping search with a forward-only cursor in the ascending holder list),
stopping at the first customer other than the member who holds them all.

Input contract: ``members`` int64 customer codes; member points as CSR
``mp_off`` (int64, members + 1) over ``mp_code`` (int32 point codes, each
member's points in ascending key order, distinct); the index arrays as built by
:func:`basketguard.kernels.invindex.build_index`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from basketguard.kernels.checks import as_1d, check_codes
from basketguard.kernels.invindex import PointIndex, time_bucket
from basketguard.kernels.jit import helper
from basketguard.kernels.rng import check_seed, derive_key, draw
from basketguard.kernels.sorting import sort_keys
from basketguard.kernels.threads import run_ranges

MAX_P = 64
_MAX_RANK_BITS = 1 << 31  # key bitmap for code lookups (256 MiB at most); else binary search
_BLOCK = 256  # members per block of the draws (scratch arrays are per block)
_PARTS = 16  # pieces of the member range on the threads (members' work is uneven)


# --------------------------------------------------------------- member points


def member_points(offsets: np.ndarray, hi: np.ndarray, day: np.ndarray, members: np.ndarray,
                  index: PointIndex) -> tuple[np.ndarray, np.ndarray]:
    """Distinct points of each member, as point codes of ``index``.

    Parameters
    ----------
    offsets, hi, day : numpy.ndarray
        The population's lines, as given to
        :func:`~basketguard.kernels.invindex.build_index`.
    members : numpy.ndarray
        int64 customer codes (any order, repeats allowed).
    index : PointIndex
        Index of the same lines.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``mp_off`` (int64, members + 1) and ``mp_code`` (int32): each member's
        distinct points in ascending key order.
    """
    members = as_1d(members, np.int64, "members")
    tmp_off, tmp, mp_off = _member_key_runs(offsets, hi, day, members, index.unit,
                                            index.bucket_min, index.n_buckets)
    mp_code = np.empty(int(mp_off[-1]), np.int32)
    space = (index.hi_off.shape[0] - 1) * index.n_buckets
    if space <= min(_MAX_RANK_BITS, 64 * index.n_points + (1 << 16)):  # <= point_key's size
        kbits = np.zeros((space + 63) // 64, np.uint64)
        krank = np.empty(kbits.shape[0], np.int64)
        _rank_keys(index.point_key, kbits, krank)
        missing = sum(run_ranges(_rank_codes, members.shape[0], tmp, tmp_off, mp_off, kbits,
                                 krank, mp_code))
    else:
        missing = sum(run_ranges(_lookup_codes, members.shape[0], tmp, tmp_off, mp_off,
                                 index.point_key, index.hi_off, np.int64(index.n_buckets),
                                 mp_code))
    if missing:
        raise ValueError(f"{missing} member point(s) are not in the index: "
                         "the index must be built over the whole population")
    return mp_off, mp_code


def _member_key_runs(offsets, hi, day, members, unit, bucket_min, n_buckets):
    """Each member's keys sorted (``tmp`` in runs ``tmp_off``, repeats kept) and the
    offsets ``mp_off`` of its distinct keys."""
    check_codes(members, offsets.shape[0] - 1, "members (customer codes)")
    lens = offsets[members + 1] - offsets[members]
    tmp_off = np.zeros(members.shape[0] + 1, np.int64)
    np.cumsum(lens, out=tmp_off[1:])
    tmp = np.empty(int(tmp_off[-1]), np.int64)
    distinct = np.zeros(members.shape[0], np.int64)
    run_ranges(_sorted_member_keys, members.shape[0], offsets, hi, day, unit,
               np.int64(bucket_min), np.int64(n_buckets), members, tmp_off, tmp, distinct,
               parts=_PARTS)
    mp_off = np.zeros(members.shape[0] + 1, np.int64)
    np.cumsum(distinct, out=mp_off[1:])
    return tmp_off, tmp, mp_off


@njit(cache=True, nogil=True)
def _sorted_member_keys(start, stop, offsets, hi, day, unit, bmin, nb, members, tmp_off, tmp,
                        distinct):
    """Each member's keys sorted in place in ``tmp``; count of distinct keys."""
    longest = 0
    for m in range(start, stop):
        longest = max(longest, tmp_off[m + 1] - tmp_off[m])
    scratch = np.empty(longest, np.int64)
    for m in range(start, stop):
        c = members[m]
        a = tmp_off[m]
        for j in range(offsets[c + 1] - offsets[c]):
            i = offsets[c] + j
            tmp[a + j] = np.int64(hi[i]) * nb + (time_bucket(day[i], unit) - bmin)
        seg = tmp[a:tmp_off[m + 1]]
        sort_keys(seg, scratch)  # insertion-sorts short segments itself
        n = 0
        for j in range(seg.shape[0]):
            if j == 0 or seg[j] != seg[j - 1]:
                n += 1
        distinct[m] = n


@njit(cache=True, nogil=True)
def _rank_keys(point_key, kbits, krank):
    """Bitmap of the index's keys over the key space, and set bits before each word.

    A key's point code is then its rank: one word and a popcount instead of a
    binary search in ``point_key`` (a cache miss per step on large indexes).
    """
    for i in range(point_key.shape[0]):
        k = point_key[i]
        kbits[k >> 6] |= np.uint64(1) << np.uint64(k & 63)
    total = np.int64(0)
    for w in range(kbits.shape[0]):
        krank[w] = total
        total += _popcount(kbits[w])


@njit(cache=True, nogil=True, inline="always")
def _popcount(x):
    """Set bits of a uint64 (SWAR; no step can overflow)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    x = x + (x >> np.uint64(8))
    x = x + (x >> np.uint64(16))
    x = x + (x >> np.uint64(32))
    return np.int64(x & np.uint64(0x7F))


@njit(cache=True, nogil=True)
def _rank_codes(start, stop, tmp, tmp_off, mp_off, kbits, krank, mp_code):
    """Point code of every distinct member key, as its rank in the key bitmap (-1: absent)."""
    missing = 0
    for m in range(start, stop):
        out = mp_off[m]
        for j in range(tmp_off[m], tmp_off[m + 1]):
            key = tmp[j]
            if j > tmp_off[m] and key == tmp[j - 1]:
                continue
            w = kbits[key >> 6] if 0 <= key and (key >> 6) < kbits.shape[0] else np.uint64(0)
            bit = np.uint64(key & 63)
            if (w >> bit) & np.uint64(1):
                mp_code[out] = krank[key >> 6] + _popcount(w & ((np.uint64(1) << bit)
                                                                - np.uint64(1)))
            else:
                mp_code[out] = -1
                missing += 1
            out += 1
    return missing


@njit(cache=True, nogil=True)
def _lookup_codes(start, stop, tmp, tmp_off, mp_off, point_key, hi_off, nb, mp_code):
    """Point code of every distinct member key (binary search within its ``hi``)."""
    missing = 0
    for m in range(start, stop):
        out = mp_off[m]
        for j in range(tmp_off[m], tmp_off[m + 1]):
            key = tmp[j]
            if j > tmp_off[m] and key == tmp[j - 1]:
                continue
            h = key // nb
            lo = hi_off[h] if h < hi_off.shape[0] - 1 else point_key.shape[0]
            hi = hi_off[h + 1] if h < hi_off.shape[0] - 1 else point_key.shape[0]
            while lo < hi:
                mid = (lo + hi) // 2
                if point_key[mid] < key:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < point_key.shape[0] and point_key[lo] == key:
                mp_code[out] = lo
            else:
                mp_code[out] = -1
                missing += 1
            out += 1
    return missing


# ---------------------------------------------------------------------- unicity


def unicity_draws(members: np.ndarray, mp_off: np.ndarray, mp_code: np.ndarray,
                  index: PointIndex, p_max: int, draws: int, seed: int) -> np.ndarray:
    """Smallest p at which each member is unique, per draw.

    Parameters
    ----------
    members : numpy.ndarray
        int64 customer codes of the members (they seed the draws).
    mp_off, mp_code : numpy.ndarray
        The members' points, from :func:`member_points`.
    index : PointIndex
        Index over the whole population.
    p_max : int
        Largest number of known points, ``1 <= p_max <= 64``.
    draws : int
        Draws per member, ``0 <= draws < 2**24``.
    seed : int
        ``0 <= seed < 2**63``.

    Returns
    -------
    numpy.ndarray
        int8, shape ``(members, draws)``: the smallest ``p`` in
        ``1..min(n_points, p_max)`` at which the member is unique in that draw,
        ``0`` if not unique at ``min(n_points, p_max)`` (or no points).
    """
    members = np.ascontiguousarray(members, dtype=np.int64)
    if not 1 <= p_max <= MAX_P:
        raise ValueError(f"p_max must lie in [1, {MAX_P}], got {p_max}")
    if not 0 <= draws < 2**24:
        raise ValueError(f"draws must lie in [0, 2**24), got {draws}")
    check_seed(seed)
    if mp_off.shape[0] != members.shape[0] + 1:
        raise ValueError("mp_off must have one more element than members")
    out = np.zeros((members.shape[0], draws), np.int8)
    with np.errstate(over="ignore"):  # uint64 wrap-around is the hash (plain-Python mode)
        run_ranges(_unicity_draws, (members.shape[0] + _BLOCK - 1) // _BLOCK, members, mp_off,
                   mp_code, index.point_off, index.holders, index.dense_row, index.bitmaps,
                   np.int64(p_max), np.int64(draws), np.uint64(seed), out, parts=_PARTS)
    return out


@njit(cache=True, nogil=True)
def _unicity_draws(start, stop, members, mp_off, mp_code, point_off, holders, dense_row,
                   bitmaps, p_max, draws, seed, out):
    """Per member: partial Fisher-Yates per draw, then the smallest unique prefix.

    Members go in blocks of ``_BLOCK`` that share scratch arrays (one allocation
    per block, not five per member); a member's answer does not depend on its block.
    """
    n_members = members.shape[0]
    for b in range(start, stop):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, n_members)
        n_max = 0
        for m in range(lo, hi):
            n_max = max(n_max, mp_off[m + 1] - mp_off[m])
        perm = np.empty(n_max, np.int64)
        lens = np.empty(n_max, np.int64)
        q = np.empty(p_max, np.int64)
        qlen = np.empty(p_max, np.int64)
        cur = np.empty(p_max, np.int64)
        for m in range(lo, hi):
            a = mp_off[m]
            n = mp_off[m + 1] - a
            big_p = min(n, p_max)
            if big_p == 0:
                continue
            key = derive_key(seed, members[m])
            # holder counts (a cache miss each): of every point once when the draws
            # know more points than the member has, else of the drawn points only
            gather = draws * big_p > n
            if gather:
                for j in range(n):
                    qj = mp_code[a + j]
                    lens[j] = point_off[qj + 1] - point_off[qj]
            for d in range(draws):
                _draw_prefix(key, d, n, big_p, perm)
                for j in range(big_p):
                    qj = mp_code[a + perm[j]]
                    q[j] = qj
                    qlen[j] = lens[perm[j]] if gather else point_off[qj + 1] - point_off[qj]
                out[m, d] = _smallest(q, qlen, big_p, members[m], point_off, holders,
                                      dense_row, bitmaps, cur, 1, 0)


@njit(cache=True, nogil=True, inline="always")
def _draw_prefix(key, d, n, big_p, perm):
    """First ``big_p`` entries of draw ``d``'s random order of ``0..n-1`` (partial Fisher-Yates)."""
    for j in range(n):
        perm[j] = j
    for j in range(big_p):
        h = draw(key, d, j)
        r = j + np.int64(((h >> np.uint64(32)) * np.uint64(n - j)) >> np.uint64(32))
        t = perm[j]
        perm[j] = perm[r]
        perm[r] = t


def known_points(members: np.ndarray, mp_off: np.ndarray, mp_code: np.ndarray, p: int,
                 draws: int, seed: int) -> np.ndarray:
    """The points the adversary knows in each draw (the draws of :func:`unicity_draws`).

    Parameters
    ----------
    members, mp_off, mp_code : numpy.ndarray
        As for :func:`unicity_draws`.
    p : int
        Number of known points, ``1 <= p <= 64``.
    draws, seed : int
        As for :func:`unicity_draws`.

    Returns
    -------
    numpy.ndarray
        int32 ``(members, draws, p)`` point codes in draw order; ``-1`` beyond
        a member's number of points.
    """
    members = np.ascontiguousarray(members, dtype=np.int64)
    if not 1 <= p <= MAX_P or not 0 <= draws < 2**24 or not 0 <= int(seed) < 2**63:
        raise ValueError("p, draws or seed out of range (see unicity_draws)")
    out = np.full((members.shape[0], draws, p), -1, np.int32)
    with np.errstate(over="ignore"):
        run_ranges(_known_points, members.shape[0], members, mp_off, mp_code, np.int64(p),
                   np.int64(draws), np.uint64(seed), out, parts=_PARTS)
    return out


@njit(cache=True, nogil=True)
def _known_points(start, stop, members, mp_off, mp_code, p, draws, seed, out):
    """Same draws as ``_unicity_draws``, written out (``mp_code`` may hold point codes or
    point keys; ``out`` has its dtype)."""
    for m in range(start, stop):
        a = mp_off[m]
        n = mp_off[m + 1] - a
        big_p = min(n, p)
        if big_p == 0:
            continue
        key = derive_key(seed, members[m])
        perm = np.empty(n, np.int64)
        for d in range(draws):
            _draw_prefix(key, d, n, big_p, perm)
            for j in range(big_p):
                out[m, d, j] = mp_code[a + perm[j]]


@helper
def _smallest(q, qlen, big_p, me, point_off, holders, dense_row, bitmaps, cur, floor, best0):
    """Smallest p at which ``me`` alone holds ``q[:p]``, 0 if none up to ``big_p``.

    With ``L(c)`` the number of leading known points customer ``c`` holds, the
    answer is ``1 + max L(c)`` over ``c != me``. Scanning the holders of the
    rarest point ``q[r]`` of the prefix ``q[:k]`` gives ``min(L(c), k)`` for
    every ``c`` holding ``q[r]``; every other customer has ``L(c) <= r``, so the
    search continues on the prefix ``q[:r]`` while that can still raise the
    maximum. The scan stops as soon as a customer holds the whole prefix.

    ``floor`` is the number of holders that are not others: 1 when ``me`` is
    in the index (a point only ``me`` holds needs no scan), 0 for an index of
    other customers only (a shard ``me`` is not in, ``me = -1``; its absent
    points have ``qlen = 0``). ``best0`` is a maximum of ``L`` already known
    from other shards (0 for a whole base): the result is over both.
    """
    k = big_p
    best = best0
    while k > best:
        r = 0
        for j in range(1, k):
            if qlen[j] < qlen[r]:
                r = j
        if qlen[r] > floor:
            for j in range(k):
                cur[j] = point_off[q[j]]
            qr = q[r]
            for i in range(point_off[qr], point_off[qr + 1]):
                c = holders[i]
                if c == me:
                    continue
                held = k
                for j in range(k):
                    if j == r:
                        continue
                    qj = q[j]
                    row = dense_row[qj]
                    if row >= 0:
                        if (bitmaps[row, c >> 6] >> np.uint64(c & 63)) & np.uint64(1) == 0:
                            held = j
                            break
                    else:
                        end = point_off[qj + 1]
                        g = _gallop(holders, cur[j], end, c)
                        cur[j] = g
                        if g == end or holders[g] != c:
                            held = j
                            break
                if held > best:
                    best = held
                    if best >= k:
                        break
            if best >= big_p:
                return 0
        k = r
    return best + 1


@njit(cache=True, nogil=True, inline="always")
def _gallop(arr, lo, hi, x):
    """First index in ``[lo, hi)`` with ``arr[i] >= x`` (exponential then binary search)."""
    if lo >= hi or arr[lo] >= x:
        return lo
    step = 1
    while lo + step < hi and arr[lo + step] < x:
        lo += step
        step *= 2
    top = min(lo + step, hi)
    lo += 1
    while lo < top:
        mid = (lo + top) // 2
        if arr[mid] < x:
            lo = mid + 1
        else:
            top = mid
    return lo


# ------------------------------------------------------------ a sharded base
#
# When the customer base is split into shards (out of core, or Dask
# partitions), no single index holds every customer. A member's points are then
# named by their *key* (``hi * n_buckets + bucket - bucket_min`` over the whole
# base's bucket span, the key of the in-memory index), its draws are taken from
# its own shard by key with its code in the whole base, and every shard's
# index, built over the same span, gives the largest ``L(c)`` among its
# customers. The base's ``L`` is the maximum over shards, so the smallest unique
# p equals that of the in-memory run.


def member_keys(offsets: np.ndarray, hi: np.ndarray, day: np.ndarray, members: np.ndarray,
                unit: int, bucket_min: int, n_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct point keys of each member, ascending (the order of the in-memory codes).

    Parameters
    ----------
    offsets, hi, day : numpy.ndarray
        A shard's lines (as for :func:`~basketguard.kernels.invindex.build_index`).
    members : numpy.ndarray
        int64 customer codes of the shard.
    unit, bucket_min, n_buckets : int
        Time unit and the whole base's bucket span (``(0, 1)`` without time).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``mp_off`` (int64, members + 1) and ``keys`` (int64).
    """
    members = as_1d(members, np.int64, "members")
    tmp_off, tmp, mp_off = _member_key_runs(offsets, hi, day, members, unit, bucket_min,
                                            n_buckets)
    keys = np.empty(int(mp_off[-1]), np.int64)
    run_ranges(_distinct_keys, members.shape[0], tmp, tmp_off, mp_off, keys)
    return mp_off, keys


@njit(cache=True, nogil=True)
def _distinct_keys(start, stop, tmp, tmp_off, mp_off, keys):
    """Each member's sorted keys without repeats."""
    for m in range(start, stop):
        out = mp_off[m]
        for j in range(tmp_off[m], tmp_off[m + 1]):
            if j == tmp_off[m] or tmp[j] != tmp[j - 1]:
                keys[out] = tmp[j]
                out += 1


def known_keys(members: np.ndarray, mp_off: np.ndarray, keys: np.ndarray, p: int, draws: int,
               seed: int) -> np.ndarray:
    """The keys the adversary knows in each draw, for members given by key.

    ``members`` are codes in the whole base (they seed the draws); ``mp_off``
    and ``keys`` come from :func:`member_keys`. Returns int64 ``(members,
    draws, p)`` keys in draw order, ``-1`` beyond a member's points: the draws
    of :func:`unicity_draws` and :func:`known_points`.
    """
    members = np.ascontiguousarray(members, dtype=np.int64)
    if not 1 <= p <= MAX_P or not 0 <= draws < 2**24:
        raise ValueError("p or draws out of range (see unicity_draws)")
    check_seed(seed)
    if mp_off.shape[0] != members.shape[0] + 1:
        raise ValueError("mp_off must have one more element than members")
    out = np.full((members.shape[0], draws, p), -1, np.int64)
    with np.errstate(over="ignore"):
        run_ranges(_known_points, members.shape[0], members, mp_off,
                   np.ascontiguousarray(keys, dtype=np.int64), np.int64(p), np.int64(draws),
                   np.uint64(seed), out, parts=_PARTS)
    return out


def codes_of_keys(keys: np.ndarray, index: PointIndex) -> np.ndarray:
    """Point codes of ``index`` for keys of the same span (``-1``: absent or a ``-1`` key).

    The index must be built with the whole base's span
    (``build_index(..., buckets=...)``) so that keys mean the same points.
    """
    flat = np.ascontiguousarray(keys, dtype=np.int64).reshape(-1)
    out = np.empty(flat.shape[0], np.int64)
    run_ranges(_codes_of_keys, flat.shape[0], flat, index.point_key, index.hi_off,
               np.int64(index.n_buckets), out)
    return out.reshape(np.shape(keys))


@njit(cache=True, nogil=True)
def _codes_of_keys(start, stop, keys, point_key, hi_off, nb, out):
    """Binary search of each key within its ``hi``'s run of ``point_key``."""
    n_hi = hi_off.shape[0] - 1
    for i in range(start, stop):
        key = keys[i]
        out[i] = -1
        if key < 0:
            continue
        h = key // nb
        if h >= n_hi:
            continue
        lo = hi_off[h]
        up = hi_off[h + 1]
        while lo < up:
            mid = (lo + up) // 2
            if point_key[mid] < key:
                lo = mid + 1
            else:
                up = mid
        if lo < hi_off[h + 1] and point_key[lo] == key:
            out[i] = lo


def shard_longest(codes: np.ndarray, n_points: np.ndarray, me: np.ndarray, p_max: int,
                  index: PointIndex, longest: np.ndarray) -> None:
    """Raise ``longest`` to the largest ``L`` among one shard's customers, in place.

    Parameters
    ----------
    codes : numpy.ndarray
        int64 ``(members, draws, p_max)``: the known points as codes of this
        shard's ``index`` (:func:`codes_of_keys`; ``-1`` absent here).
    n_points : numpy.ndarray
        int64 distinct points per member (over the whole base).
    me : numpy.ndarray
        int64 customer code of each member in this shard, ``-1`` for members of
        other shards.
    p_max : int
    index : PointIndex
        This shard's index.
    longest : numpy.ndarray
        int8 ``(members, draws)``, zero before the first shard: the largest
        number of leading known points one other customer holds, ``min(n,
        p_max)`` when one holds them all. After the last shard,
        :func:`smallest_of_longest` turns it into :func:`unicity_draws`' output.
    """
    codes = np.ascontiguousarray(codes, dtype=np.int64)
    n_points = np.ascontiguousarray(n_points, dtype=np.int64)
    me = np.ascontiguousarray(me, dtype=np.int64)
    m = n_points.shape[0]
    if codes.shape[:1] != (m,) or codes.ndim != 3 or codes.shape[2] < min(p_max, MAX_P) \
            or me.shape != (m,) or longest.shape != codes.shape[:2]:
        raise ValueError("codes, n_points, me and longest must describe the same members")
    run_ranges(_shard_longest, (m + _BLOCK - 1) // _BLOCK, codes, n_points, me, np.int64(p_max),
               index.point_off, index.holders, index.dense_row, index.bitmaps, longest,
               parts=_PARTS)


@njit(cache=True, nogil=True)
def _shard_longest(start, stop, codes, n_points, me, p_max, point_off, holders, dense_row,
                   bitmaps, longest):
    """Per (member, draw): ``_smallest`` over this shard's index from the best so far."""
    n_members = n_points.shape[0]
    draws = codes.shape[1]
    q = np.empty(p_max, np.int64)
    qlen = np.empty(p_max, np.int64)
    cur = np.empty(p_max, np.int64)
    for b in range(start, stop):
        for m in range(b * _BLOCK, min((b + 1) * _BLOCK, n_members)):
            big_p = min(n_points[m], p_max)
            if big_p == 0:
                continue
            floor = 1 if me[m] >= 0 else 0
            for d in range(draws):
                best = np.int64(longest[m, d])
                if best >= big_p:
                    continue
                for j in range(big_p):
                    qj = codes[m, d, j]
                    q[j] = qj
                    qlen[j] = point_off[qj + 1] - point_off[qj] if qj >= 0 else 0
                s = _smallest(q, qlen, big_p, me[m], point_off, holders, dense_row, bitmaps,
                              cur, floor, best)
                longest[m, d] = big_p if s == 0 else s - 1


def smallest_of_longest(longest: np.ndarray, n_points: np.ndarray, p_max: int) -> np.ndarray:
    """:func:`unicity_draws`' output from the merged ``longest`` of every shard."""
    big_p = np.minimum(np.asarray(n_points, np.int64), p_max)[:, None]
    lg = longest.astype(np.int64)
    return np.where((big_p == 0) | (lg >= big_p), 0, lg + 1).astype(np.int8)


# ---------------------------------------------------------------------- partials


def count_unique(n_points: np.ndarray, smallest: np.ndarray, p_max: int) -> dict[str, np.ndarray]:
    """Additive per-p counts of a batch of members (they merge across shards by ``+``).

    Parameters
    ----------
    n_points : numpy.ndarray
        int64 distinct points per member.
    smallest : numpy.ndarray
        int8 ``(members, draws)`` from :func:`unicity_draws`.
    p_max : int
        As given to :func:`unicity_draws`.

    Returns
    -------
    dict
        int64 arrays indexed by ``p - 1``: ``eligible`` (members with at least
        ``p`` points), ``unique`` (their unique draws, summed) and ``unique_sq``
        (sum over members of the squared unique-draw count, for the interval),
        plus ``p_unique`` (length ``p_max + 1``: members whose median-draw
        smallest p is ``p``; index 0 counts members never unique in at least half
        their draws within ``min(n, p_max)``).
    """
    n_points = np.ascontiguousarray(n_points, dtype=np.int64)
    smallest = np.ascontiguousarray(smallest, dtype=np.int8)
    if smallest.ndim != 2 or smallest.shape[0] != n_points.shape[0]:
        raise ValueError("smallest must have shape (members, draws)")
    out = {k: np.zeros(p_max, np.int64) for k in ("eligible", "unique", "unique_sq")}
    out["p_unique"] = np.zeros(p_max + 1, np.int64)
    _count_unique(n_points, smallest, p_max, out["eligible"], out["unique"], out["unique_sq"],
                  out["p_unique"])
    return out


@njit(cache=True, nogil=True)
def _count_unique(n_points, smallest, p_max, eligible, unique, unique_sq, p_unique):
    """Serial accumulation per member (cheap next to the draws)."""
    draws = smallest.shape[1]
    for m in range(n_points.shape[0]):
        big_p = min(n_points[m], p_max)
        if big_p == 0:
            continue
        at = 0
        for p in range(1, big_p + 1):
            u = 0
            for d in range(draws):
                s = smallest[m, d]
                if s != 0 and s <= p:
                    u += 1
            eligible[p - 1] += 1
            unique[p - 1] += u
            unique_sq[p - 1] += u * u
            if at == 0 and draws > 0 and 2 * u >= draws:
                at = p
        p_unique[at] += 1
