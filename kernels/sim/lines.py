"""Numba kernels of the shopper simulator (``basketguard.models.simulator.run``).

Randomness is counter-based: every draw is ``splitmix64`` of a per-customer key
(itself a hash of the seed and the customer id) plus a stream number and a
counter that names the draw (the day, the line position in the basket, the
retry). A customer's draws therefore never depend on which other customers are
generated with it, on the chunking, or on how threads are scheduled: the output
is a pure function of (seed, customer id, tables).

Input contract (every public function validates it):

* ``seed`` is an int in ``[0, 2**63)``; customer ids are ``first_customer + i``
  with ``first_customer >= 0``.
* Cumulative tables (``*_cdf``) are float64, non-decreasing along their last
  axis, and end at 1.0 (the last entry is the catch-all).
* ``onset`` is int32 ``(n_customers, n_programs)``, days relative to the first
  simulated day; :data:`NO_EVENT` where the customer has no such program.
* Stages are sorted by program: program ``p`` owns stages
  ``prog_stage_off[p]:prog_stage_off[p + 1]``; at most 255 stages in all.
* Product groups are CSR: group ``g`` owns ``group_items[group_off[g]:group_off[g+1]]``
  (item codes, int32) with ``group_cum`` its cumulative popularity (float64,
  ending at 1.0 within each group); at most 64 groups; a group may be empty
  only if no buying stage uses it (``item_mask`` is a
  uint64 bit set of the groups an item belongs to).
* Item codes are ``0 .. n_items - 1``; ``alias_thr`` / ``alias_idx`` is a
  Vose alias table over them (:func:`~basketguard.kernels.sim.sampling.build_alias`).

The compiled passes take their inputs as four bundles: :class:`LineTables`
(catalog, calendar and stage arrays), :class:`LineParams` (scalar options),
:class:`~basketguard.kernels.sim.customers.CustomerArrays` (the customers) and
:class:`LineArrays` (the outputs, written in place).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from basketguard.kernels.jit import helper
from basketguard.kernels.rng import derive_key, draw, uniform
from basketguard.kernels.sim.customers import MAX_BASKET, NO_EVENT, CustomerArrays
from basketguard.kernels.sim.sampling import (
    S_BRAND,
    S_FAV,
    S_ITEM,
    S_ITEM_ANY,
    S_LINE,
    S_PL,
    S_STAGE,
    S_STAGE_ITEM,
    S_STAGE_LINE,
    S_VISIT,
    S_VISIT_ACCEPT,
    S_VISIT_GAP,
    alias_pick,
    alias_thresholds,
    cdf_pick,
    check_cdf,
    check_customers,
    poisson,
)
from basketguard.kernels.threads import run_ranges

_BASKET_CAP_MEAN = 200.0
_PARTS = 16  # pieces of the customer range on the threads (customers' lines differ)


class LineTables(NamedTuple):
    """Catalog, calendar and program-stage tables of :func:`simulate_lines`, as one
    kernel argument (``n_items`` items, ``S`` stages, ``R`` programs; see the
    module docstring and :func:`simulate_lines` for their meaning)."""

    dow_weight: np.ndarray  #: float64 (7,)
    hour_cdf: np.ndarray  #: float64 (24,)
    alias_thr: np.ndarray  #: int64 (n_items,), :func:`alias_thresholds` of the table
    alias_idx: np.ndarray  #: int32 (n_items,)
    item_price: np.ndarray  #: float64 (n_items,)
    item_by_weight: np.ndarray  #: int8 (n_items,)
    item_twin: np.ndarray  #: int32 (n_items,)
    item_mask: np.ndarray  #: uint64 (n_items,)
    group_off: np.ndarray  #: int32 (n_groups + 1,)
    group_items: np.ndarray  #: int32
    group_cum: np.ndarray  #: float64, like group_items
    prog_stage_off: np.ndarray  #: int32 (R + 1,)
    stage_start: np.ndarray  #: int32 (S,)
    stage_end: np.ndarray  #: int32 (S,)
    stage_period: np.ndarray  #: int32 (S,)
    stage_group: np.ndarray  #: int32 (S,)
    stage_prob: np.ndarray  #: float64 (S,)
    stage_qty: np.ndarray  #: float64 (S,)
    stage_suppress: np.ndarray  #: int8 (S,)


class LineParams(NamedTuple):
    """Scalar options of :func:`simulate_lines`, as one kernel argument."""

    n_days: int
    start_day: int
    start_weekday: int  #: in 0..6
    fav_share: float
    brand_loyalty: float
    promo_rate: float
    promo_discount: float
    other_store_rate: float
    n_stores: int
    max_basket: int


class LineArrays(NamedTuple):
    """Basket lines of a chunk of customers, in customer order then by time."""

    offsets: np.ndarray  #: int64 (n_customers + 1,): lines of customer i are offsets[i]:offsets[i+1]
    customer: np.ndarray  #: int64 customer id
    item: np.ndarray  #: int32 item code
    basket: np.ndarray  #: int64 basket id = customer * n_days + day
    ts: np.ndarray  #: int64 seconds since the Unix epoch (UTC)
    quantity: np.ndarray  #: float32 (> 0)
    price: np.ndarray  #: float32 unit price
    store: np.ndarray  #: int32


def simulate_lines(
    seed: int,
    first_customer: int,
    customers: CustomerArrays,
    *,
    n_days: int,
    start_day: int,
    start_weekday: int,
    dow_weight: np.ndarray,
    hour_cdf: np.ndarray,
    alias_thr: np.ndarray,
    alias_idx: np.ndarray,
    item_price: np.ndarray,
    item_by_weight: np.ndarray,
    item_twin: np.ndarray,
    item_mask: np.ndarray,
    group_off: np.ndarray,
    group_items: np.ndarray,
    group_cum: np.ndarray,
    prog_stage_off: np.ndarray,
    stage_start: np.ndarray,
    stage_end: np.ndarray,
    stage_period: np.ndarray,
    stage_group: np.ndarray,
    stage_prob: np.ndarray,
    stage_qty: np.ndarray,
    stage_suppress: np.ndarray,
    fav_share: float,
    brand_loyalty: float,
    promo_rate: float,
    promo_discount: float,
    other_store_rate: float,
    n_stores: int,
    max_basket: int,
) -> LineArrays:
    """Generate the basket lines of a chunk of customers.

    Visits follow a thinned geometric process (daily rate times a weekday
    weight), each visit is one basket at one store and time of day. A basket
    holds ``1 + Poisson(mean * Gamma(2)/2 - 1)`` base lines drawn from the
    customer's favourites or the Zipf catalog popularity (alias table), with
    private-label substitution, plus one line for each active program stage
    that fires on that visit (probability ``stage_prob * loyalty``). Suppress
    stages keep their group out of the base lines while active.

    The visit process of a customer with daily rate ``r`` (``visit_rate``), in
    days ``d`` relative to day 0: let ``w_max`` be the largest ``dow_weight``
    and ``p = min(1, r * w_max)``. Candidate days start from
    ``d = active_from - 1``; step ``j = 0, 1, ...`` advances ``d`` by a
    geometric gap ``G_j >= 1`` with success probability ``p``, drawn by
    inversion of ``u_j = uniform(draw(key, S_VISIT_GAP, j))``: ``G_j`` is the
    smallest ``g >= 1`` with ``(1 - p)**g < 1 - u_j``, computed as
    ``1 + floor(log(1 - u_j) / log(1 - p))`` (with ``p = 1`` every day is a
    candidate and no gap is drawn). The process ends when a gap exceeds
    ``n_days`` or ``d >= active_to``. Candidate day ``d`` is a visit when
    ``uniform(draw(key, S_VISIT_ACCEPT, d)) * w_max < dow_weight[(start_weekday
    + d) % 7]`` (thinning to the weekday's rate).

    Runs in two passes over the customers (count, then fill at the computed
    offsets), both parallel over customers; the same routine serves both so
    the counts always match.

    Parameters
    ----------
    seed, first_customer : int
        As in :func:`draw_customers` (must be the same values).
    customers : CustomerArrays
        Output of :func:`draw_customers` for the same chunk.
    n_days : int
        Number of simulated days.
    start_day : int
        Day 0 as days since 1970-01-01.
    start_weekday : int
        Weekday of day 0 (0 = Monday).
    dow_weight : numpy.ndarray
        ``(7,)`` visit-rate multipliers by weekday (Monday first), positive.
    hour_cdf : numpy.ndarray
        ``(24,)`` cumulative distribution of the hour of a visit.
    alias_thr, alias_idx : numpy.ndarray
        Alias table of base item popularity (:func:`build_alias`).
    item_price : numpy.ndarray
        ``(n_items,)`` float64 shelf prices.
    item_by_weight : numpy.ndarray
        ``(n_items,)`` bool/int8: sold by weight (fractional quantity).
    item_twin : numpy.ndarray
        ``(n_items,)`` int32 private-label twin or -1.
    item_mask : numpy.ndarray
        ``(n_items,)`` uint64 bit set of groups containing the item.
    group_off, group_items, group_cum : numpy.ndarray
        Product groups (CSR, see the module docstring).
    prog_stage_off : numpy.ndarray
        ``(R + 1,)`` int32 stage ranges per program.
    stage_start, stage_end, stage_period : numpy.ndarray
        ``(S,)`` int32 stage window relative to onset ``[start, end)``;
        with ``period > 0`` the window repeats every ``period`` days from ``start``.
    stage_group : numpy.ndarray
        ``(S,)`` int32 product group of the stage.
    stage_prob : numpy.ndarray
        ``(S,)`` float64 chance per visit of buying from the group, in [0, 1].
    stage_qty : numpy.ndarray
        ``(S,)`` float64 quantity multiplier (>= 1 for larger amounts).
    stage_suppress : numpy.ndarray
        ``(S,)`` int8: 1 where the stage removes its group from base lines.
    fav_share : float
        Chance that a base line comes from the customer's favourites.
    brand_loyalty : float
        Chance that a stage purchase is the customer's usual product of the group.
    promo_rate, promo_discount : float
        Share of lines on promotion and the fraction taken off.
    other_store_rate : float
        Share of visits made at a store other than the home store.
    n_stores : int
        Number of stores.
    max_basket : int
        Cap on base lines per basket (``1 .. 255 - S``).

    Returns
    -------
    LineArrays
    """
    check_customers(seed, first_customer, customers.age.shape[0])
    n_items = alias_thr.shape[0]
    n_stage = stage_start.shape[0]
    n_groups = group_off.shape[0] - 1
    if n_days < 1:
        raise ValueError(f"n_days must be >= 1, got {n_days}")
    if n_items < 1 or alias_idx.shape != (n_items,):
        raise ValueError("alias_thr and alias_idx must be non-empty and of equal length")
    for name, arr in (("item_price", item_price), ("item_by_weight", item_by_weight),
                      ("item_twin", item_twin), ("item_mask", item_mask)):
        if arr.shape != (n_items,):
            raise ValueError(f"{name} must have shape ({n_items},), got {arr.shape}")
    if not 0 <= n_groups <= 64 or group_off[-1] != group_items.shape[0]:
        raise ValueError("group_off must be a CSR offset array over group_items (<= 64 groups)")
    if group_cum.shape != group_items.shape:
        raise ValueError("group_cum must have the same shape as group_items")
    if np.any(np.diff(group_off) < 0):
        raise ValueError("group_off must be non-decreasing")
    if n_stage > MAX_BASKET:
        raise ValueError(f"at most {MAX_BASKET} stages, got {n_stage}")
    n_prog = customers.onset.shape[1]
    if prog_stage_off.shape != (n_prog + 1,) or prog_stage_off[-1] != n_stage:
        raise ValueError("prog_stage_off must have n_programs + 1 entries ending at n_stages")
    for name, arr in (("stage_end", stage_end), ("stage_period", stage_period),
                      ("stage_group", stage_group), ("stage_prob", stage_prob),
                      ("stage_qty", stage_qty), ("stage_suppress", stage_suppress)):
        if arr.shape != (n_stage,):
            raise ValueError(f"{name} must have shape ({n_stage},), got {arr.shape}")
    if n_stage and (np.any(stage_group < 0) or np.any(stage_group >= n_groups)):
        raise ValueError("stage_group must index a product group")
    sizes = np.diff(group_off)
    if n_stage and np.any((sizes[stage_group] == 0) & (stage_suppress == 0)):
        raise ValueError("a buying stage (stage_suppress == 0) needs a non-empty product group")
    if np.any((stage_prob < 0) | (stage_prob > 1)):
        raise ValueError("stage_prob must lie in [0, 1]")
    if not 1 <= max_basket <= MAX_BASKET - n_stage:
        raise ValueError(f"max_basket must lie in [1, {MAX_BASKET - n_stage}], got {max_basket}")
    if dow_weight.shape != (7,) or np.any(dow_weight <= 0):
        raise ValueError("dow_weight must be 7 positive weights")
    check_cdf("hour_cdf", hour_cdf, (24,))
    if n_stores < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")

    tables = LineTables(
        np.ascontiguousarray(dow_weight, np.float64), np.ascontiguousarray(hour_cdf, np.float64),
        alias_thresholds(alias_thr), np.ascontiguousarray(alias_idx, np.int32),
        np.ascontiguousarray(item_price, np.float64), np.ascontiguousarray(item_by_weight, np.int8),
        np.ascontiguousarray(item_twin, np.int32), np.ascontiguousarray(item_mask, np.uint64),
        np.ascontiguousarray(group_off, np.int32), np.ascontiguousarray(group_items, np.int32),
        np.ascontiguousarray(group_cum, np.float64),
        np.ascontiguousarray(prog_stage_off, np.int32),
        np.ascontiguousarray(stage_start, np.int32), np.ascontiguousarray(stage_end, np.int32),
        np.ascontiguousarray(stage_period, np.int32), np.ascontiguousarray(stage_group, np.int32),
        np.ascontiguousarray(stage_prob, np.float64), np.ascontiguousarray(stage_qty, np.float64),
        np.ascontiguousarray(stage_suppress, np.int8),
    )
    params = LineParams(
        int(n_days), int(start_day), int(start_weekday) % 7, float(fav_share),
        float(brand_loyalty), float(promo_rate), float(promo_discount), float(other_store_rate),
        int(n_stores), int(max_basket),
    )
    n = customers.age.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    e64, e32, ef = np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.float32)
    nowhere = LineArrays(e64, e64, e32, e64, e64, ef, ef, e32)  # pass 1 writes no line
    with np.errstate(over="ignore"):  # uint64 wrap-around is the hash (plain-Python mode)
        run_ranges(_pass, n, False, seed, first_customer, params, tables, customers, nowhere,
                   counts, parts=_PARTS)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        total = int(offsets[-1])
        out = LineArrays(
            offsets=offsets,
            customer=np.empty(total, np.int64),
            item=np.empty(total, np.int32),
            basket=np.empty(total, np.int64),
            ts=np.empty(total, np.int64),
            quantity=np.empty(total, np.float32),
            price=np.empty(total, np.float32),
            store=np.empty(total, np.int32),
        )
        run_ranges(_pass, n, True, seed, first_customer, params, tables, customers, out,
                   counts, parts=_PARTS)
    return out


@helper
def _stage_active(rel, start, end, period):
    """Is day ``rel`` (relative to onset) inside the stage window?"""
    if rel < start:
        return False
    if period <= 0:
        return rel < end
    return (rel - start) % period < end - start


@njit(cache=True, nogil=True, inline="always")
def _in_basket(o_item, lo, hi, item):
    for k in range(lo, hi):
        if o_item[k] == item:
            return True
    return False


@njit(cache=True, nogil=True, inline="always")
def _group_pick(group_off, group_items, group_cum, g, u):
    """Item of group ``g`` by its cumulative popularity (:func:`cdf_pick` on the group)."""
    lo = group_off[g]
    return group_items[lo + cdf_pick(group_cum[lo:group_off[g + 1]], u)]


@helper
def _base_quantity(by_weight, u):
    if by_weight:
        return (20.0 + math.floor(u * 180.0)) / 100.0
    if u < 0.80:
        return 1.0
    if u < 0.94:
        return 2.0
    if u < 0.98:
        return 3.0
    return 4.0 + math.floor((u - 0.98) * 200.0)


@helper
def _customer_lines(i, fill, pos, seed, first, params, tables, customers, out):
    """Lines of customer ``i``; writes them into ``out`` from ``pos`` when ``fill``.

    Returns the number of lines (the same whether or not ``fill``).
    """
    # one field per statement (see _draw_customers in basketguard.kernels.sim.customers)
    n_days = params.n_days
    start_day = params.start_day
    start_wd = params.start_weekday
    fav_share = params.fav_share
    brand_loyalty = params.brand_loyalty
    promo_rate = params.promo_rate
    promo_discount = params.promo_discount
    other_store_rate = params.other_store_rate
    n_stores = params.n_stores
    max_basket = params.max_basket
    dow_weight = tables.dow_weight
    hour_cdf = tables.hour_cdf
    alias_thr = tables.alias_thr
    alias_idx = tables.alias_idx
    item_price = tables.item_price
    item_by_weight = tables.item_by_weight
    item_twin = tables.item_twin
    item_mask = tables.item_mask
    group_off = tables.group_off
    group_items = tables.group_items
    group_cum = tables.group_cum
    prog_stage_off = tables.prog_stage_off
    stage_group = tables.stage_group
    stage_start = tables.stage_start
    stage_end = tables.stage_end
    stage_period = tables.stage_period
    stage_prob = tables.stage_prob
    stage_qty = tables.stage_qty
    stage_suppress = tables.stage_suppress
    c_visit = customers.visit_rate
    c_basket = customers.basket_mean
    c_from = customers.active_from
    c_to = customers.active_to
    c_store = customers.home_store
    c_loyalty = customers.loyalty
    c_pl = customers.pl_share
    c_nfav = customers.n_fav
    c_onset = customers.onset
    o_item = out.item
    cust = first + i
    key = derive_key(seed, cust)
    n_prog = c_onset.shape[1]
    wmax = 0.0
    for d in range(7):
        wmax = max(wmax, dow_weight[d])
    p_max = min(1.0, c_visit[i] * wmax)
    log_q = math.log(1.0 - p_max) if p_max < 1.0 else 0.0
    loyalty = c_loyalty[i]
    n_fav = c_nfav[i]
    pl_share = c_pl[i]
    n = 0
    day = c_from[i] - 1
    step = 0
    while True:
        # next candidate day: geometric gap at the peak weekday rate, then thinning
        if p_max < 1.0:
            u = uniform(draw(key, S_VISIT_GAP, step))
            gap = 1.0 + math.floor(math.log(1.0 - u) / log_q)
            if gap > n_days:
                break
            day += int(gap)
        else:
            day += 1
        step += 1
        if day >= c_to[i]:
            break
        wd = (start_wd + day) % 7
        if uniform(draw(key, S_VISIT_ACCEPT, day)) * wmax >= dow_weight[wd]:
            continue
        # one visit: basket size first (needed by both passes)
        g2 = -0.5 * math.log((1.0 - uniform(draw(key, S_VISIT, 4 * day)))
                             * (1.0 - uniform(draw(key, S_VISIT, 4 * day + 1))))
        lam = min(c_basket[i] * g2, _BASKET_CAP_MEAN) - 1.0
        nb = 1 + poisson(max(lam, 0.0), uniform(draw(key, S_VISIT, 4 * day + 2)))
        nb = min(nb, max_basket)
        start = pos + n
        ts = np.int64(0)
        bid = np.int64(0)
        store = 0
        if fill:
            h = draw(key, S_VISIT, 4 * day + 3)
            hour = cdf_pick(hour_cdf, uniform(h))
            second = int(np.int64(h & np.uint64(0xFFF)) * 3600 // 4096)
            ts = (np.int64(start_day) + day) * 86400 + hour * 3600 + second
            store = c_store[i]
            if n_stores > 1 and uniform(draw(key, S_VISIT, 4 * n_days + day)) < other_store_rate:
                other = int(uniform(draw(key, S_VISIT, 5 * n_days + day)) * (n_stores - 1))
                store = (store + 1 + min(other, n_stores - 2)) % n_stores
            bid = np.int64(cust) * n_days + day
        # program stages active on this day
        suppress = np.uint64(0)
        for r in range(n_prog):
            onset = c_onset[i, r]
            if onset == NO_EVENT:
                continue
            rel = day - onset
            for s in range(prog_stage_off[r], prog_stage_off[r + 1]):
                if not _stage_active(rel, stage_start[s], stage_end[s], stage_period[s]):
                    continue
                g = stage_group[s]
                if stage_suppress[s] != 0:
                    suppress |= np.uint64(1) << np.uint64(g)
                    continue
                if uniform(draw(key, S_STAGE, (day << 8) | s)) >= stage_prob[s] * loyalty:
                    continue
                if fill:
                    k = pos + n
                    ctr = (day << 12) | (s << 4)
                    loyal = uniform(draw(key, S_STAGE_ITEM, ctr | 15)) < brand_loyalty
                    it = -1
                    for t in range(15):
                        if t == 0 and loyal:
                            u_pick = uniform(draw(key, S_BRAND, g))
                        else:
                            u_pick = uniform(draw(key, S_STAGE_ITEM, ctr | t))
                        it = _group_pick(group_off, group_items, group_cum, g, u_pick)
                        if not _in_basket(o_item, start, k, it):
                            break
                    hq = uniform(draw(key, S_STAGE_LINE, 2 * ((day << 8) | s)))
                    q = _base_quantity(item_by_weight[it] != 0, hq) * stage_qty[s]
                    if item_by_weight[it] == 0:
                        q = math.ceil(q)
                    u_promo = uniform(draw(key, S_STAGE_LINE, 2 * ((day << 8) | s) + 1))
                    _write_line(k, cust, it, bid, ts, q, item_price[it], store, promo_rate,
                                promo_discount, u_promo, out)
                n += 1
        # base lines
        if fill:
            for j in range(nb):
                k = pos + n + j
                it = -1
                for t in range(16):
                    # favourites first; from the third try on only the whole catalog,
                    # so a small repertoire cannot force a duplicate line
                    ctr = (day << 12) | (j << 4) | t
                    u = uniform(draw(key, S_ITEM, ctr))
                    if t < 2 and u < fav_share:
                        f = min(int(u / fav_share * n_fav), n_fav - 1)
                        it = alias_pick(alias_thr, alias_idx, draw(key, S_FAV, f))
                    else:
                        it = alias_pick(alias_thr, alias_idx, draw(key, S_ITEM_ANY, ctr))
                    tw = item_twin[it]
                    if tw >= 0 and uniform(draw(key, S_PL, it)) < pl_share:
                        it = tw
                    if (item_mask[it] & suppress) != np.uint64(0):
                        continue
                    if _in_basket(o_item, start, k, it):
                        continue
                    break
                hq = uniform(draw(key, S_LINE, 2 * ((day << 8) | j)))
                q = _base_quantity(item_by_weight[it] != 0, hq)
                u_promo = uniform(draw(key, S_LINE, 2 * ((day << 8) | j) + 1))
                _write_line(k, cust, it, bid, ts, q, item_price[it], store, promo_rate,
                            promo_discount, u_promo, out)
        n += nb
    return n


@njit(cache=True, nogil=True, inline="always")
def _write_line(k, cust, it, bid, ts, q, price, store, promo_rate, promo_discount, u_promo,
                out):
    """Line ``k`` of ``out``; the price after promotion is rounded to cents."""
    if u_promo < promo_rate:
        price = price * (1.0 - promo_discount)
    out.customer[k] = cust
    out.item[k] = it
    out.basket[k] = bid
    out.ts[k] = ts
    out.quantity[k] = q
    out.price[k] = math.floor(price * 100.0 + 0.5) / 100.0
    out.store[k] = store


@njit(cache=True, nogil=True)
def _pass(start, stop, fill, seed, first, params, tables, customers, out, counts):
    """Pass 1 (``fill`` false): the number of lines of each customer into ``counts``
    (``out``: empty outputs, never written). Pass 2 (``fill`` true): each customer
    writes its own slice ``out.offsets[i]:out.offsets[i+1]`` (and stores its count
    again, the same number).

    One kernel for both passes, ``fill`` a run-time flag: a constant ``fill`` in two
    kernels would compile ``_customer_lines`` twice (numba specializes a callee on
    literal arguments), 2.6 s more of cold JIT with no measurable difference in speed.
    """
    offsets = out.offsets
    for i in range(start, stop):
        pos = offsets[i] if fill else 0
        counts[i] = _customer_lines(i, fill, pos, seed, first, params, tables, customers, out)
