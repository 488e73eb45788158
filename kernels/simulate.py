"""Numba kernels of the shopper simulator (``basketguard.models.simulator``).

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
  ending at 1.0 within each group); at most 64 groups (``item_mask`` is a
  uint64 bit set of the groups an item belongs to).
* Item codes are ``0 .. n_items - 1``; ``alias_thr`` / ``alias_idx`` is a
  Vose alias table over them (:func:`build_alias`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

#: ``onset`` value of a customer without the program.
NO_EVENT = -(2**31)

#: Largest number of lines in one basket (base lines plus stage purchases);
#: the counter layout gives a basket 8 bits of line positions.
MAX_BASKET = 255

# Stream numbers: one per kind of draw, so that adding a draw of one kind never
# shifts the draws of another (a customer without events buys exactly the same
# lines whether or not events are enabled for the population).
_S_DEMO = 1
_S_BEHAVIOUR = 2
_S_PROGRAM = 3
_S_VISIT_GAP = 4
_S_VISIT_ACCEPT = 5
_S_VISIT = 6
_S_STAGE = 7
_S_STAGE_ITEM = 8
_S_ITEM = 9
_S_FAV = 10
_S_PL = 11
_S_LINE = 12
_S_BRAND = 13
_S_STAGE_LINE = 14

_BASKET_CAP_MEAN = 200.0


# --------------------------------------------------------------------------
# counter-based random numbers


@njit(cache=True, nogil=True)
def _mix(z):
    """splitmix64 finaliser (Steele, Lea, Flood 2014) on a uint64."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def _customer_key(seed, customer):
    """Per-customer key: hash of the seed and the customer id."""
    s = _mix(np.uint64(seed) ^ np.uint64(0x6A09E667F3BCC909))
    return _mix(s + np.uint64(customer) * np.uint64(0x9E3779B97F4A7C15))


@njit(cache=True, nogil=True)
def _draw(key, stream, counter):
    """64 random bits for draw ``counter`` of ``stream`` (splitmix64 at that index)."""
    idx = (np.uint64(stream) << np.uint64(40)) | np.uint64(counter)
    return _mix(key + idx * np.uint64(0x9E3779B97F4A7C15))


@njit(cache=True, nogil=True)
def _unif(h):
    """Uniform float64 in [0, 1) from the top 53 bits."""
    return float(h >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _normal(key, stream, counter):
    """Standard normal by Box-Muller from two draws ``2 counter`` and ``2 counter + 1``."""
    u1 = _unif(_draw(key, stream, 2 * counter))
    u2 = _unif(_draw(key, stream, 2 * counter + 1))
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True, nogil=True)
def _cdf_pick(cdf, u):
    """First index whose cumulative value exceeds ``u`` (binary search)."""
    lo = 0
    hi = cdf.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True, nogil=True)
def _alias_pick(alias_thr, alias_idx, h):
    """Item from a Vose alias table: high 32 bits pick the column, low 32 the side."""
    n = np.uint64(alias_thr.shape[0])
    col = np.int64(((h >> np.uint64(32)) * n) >> np.uint64(32))
    frac = float(h & np.uint64(0xFFFFFFFF)) * (1.0 / 4294967296.0)
    if frac < alias_thr[col]:
        return col
    return np.int64(alias_idx[col])


@njit(cache=True, nogil=True)
def _poisson(lam, u):
    """Poisson(lam) by inversion of one uniform (sequential search; lam <= 200)."""
    p = math.exp(-lam)
    s = p
    k = 0
    while u > s and k < 1000:
        k += 1
        p = p * lam / k
        s += p
    return k


# --------------------------------------------------------------------------
# alias table


class AliasTable(NamedTuple):
    """Vose alias table: draw column ``i`` uniformly, keep it if a uniform is
    below ``threshold[i]``, else take ``alias[i]``."""

    threshold: np.ndarray
    alias: np.ndarray


def build_alias(weights: np.ndarray) -> AliasTable:
    """Build a Vose alias table for sampling indices proportionally to ``weights``.

    Parameters
    ----------
    weights : numpy.ndarray
        float64, shape ``(n,)``, ``n >= 1``, finite, non-negative, positive sum.

    Returns
    -------
    AliasTable
        ``threshold`` (float64, ``(n,)``) and ``alias`` (int32, ``(n,)``).
        Deterministic: the same weights always give the same table.
    """
    w = np.ascontiguousarray(weights, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] == 0:
        raise ValueError(f"weights must be a non-empty 1-d array, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be finite, non-negative and sum to a positive value")
    thr = np.empty(w.shape[0], dtype=np.float64)
    alias = np.empty(w.shape[0], dtype=np.int32)
    _build_alias(w, thr, alias)
    return AliasTable(thr, alias)


@njit(cache=True, nogil=True)
def _build_alias(w, thr, alias):
    """Vose (1991) alias method; stacks are filled in index order for determinism."""
    n = w.shape[0]
    total = 0.0
    for i in range(n):
        total += w[i]
    scaled = np.empty(n, dtype=np.float64)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    for i in range(n):
        scaled[i] = w[i] * n / total
        if scaled[i] < 1.0:
            small[ns] = i
            ns += 1
        else:
            large[nl] = i
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s = small[ns]
        nl -= 1
        g = large[nl]
        thr[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        if scaled[g] < 1.0:
            small[ns] = g
            ns += 1
        else:
            large[nl] = g
            nl += 1
    for k in range(nl):
        thr[large[k]] = 1.0
        alias[large[k]] = large[k]
    for k in range(ns):
        thr[small[k]] = 1.0
        alias[small[k]] = small[k]


# --------------------------------------------------------------------------
# customers


class CustomerArrays(NamedTuple):
    """Per-customer draws of :func:`draw_customers` (all arrays of length n)."""

    age: np.ndarray  #: int8 code into the age bands
    gender: np.ndarray  #: int8
    marital: np.ndarray  #: int8
    children: np.ndarray  #: int8, number of children in the household
    household: np.ndarray  #: int8, household size
    income: np.ndarray  #: int8
    postcode: np.ndarray  #: int32 code into the postcode prefixes
    visit_rate: np.ndarray  #: float64, mean visits per day (before weekday weights)
    basket_mean: np.ndarray  #: float64, mean basket size
    active_from: np.ndarray  #: int32, first day the customer may visit
    active_to: np.ndarray  #: int32, one past the last such day
    home_store: np.ndarray  #: int32
    loyalty: np.ndarray  #: float64, share of stage purchases made at this retailer
    pl_share: np.ndarray  #: float64, chance of taking the private-label twin
    n_fav: np.ndarray  #: int32, size of the customer's repertoire of favourites
    onset: np.ndarray  #: int32 (n, n_programs), NO_EVENT where absent


def draw_customers(
    seed: int,
    first_customer: int,
    n_customers: int,
    *,
    n_days: int,
    age_cdf: np.ndarray,
    gender_cdf: np.ndarray,
    marital_cdf: np.ndarray,
    partnered: np.ndarray,
    children_cdf: np.ndarray,
    extra_adults_cdf: np.ndarray,
    income_cdf: np.ndarray,
    postcode_cdf: np.ndarray,
    pl_by_income: np.ndarray,
    visit_median: float,
    visit_sigma: float,
    basket_median: float,
    basket_sigma: float,
    join_rate: float,
    churn_rate: float,
    leakage: float,
    n_stores: int,
    stray_store_rate: float,
    prog_prob: np.ndarray,
    prog_income_mult: np.ndarray,
    prog_children_mult: np.ndarray,
    prog_onset_lo: np.ndarray,
    prog_onset_hi: np.ndarray,
    prog_exclusive: np.ndarray,
) -> CustomerArrays:
    """Draw quasi-identifiers, shopping behaviour and planted programs of customers.

    Demographics follow a chain of conditional tables (age, then gender and
    marital status given age, children given age and marital status, extra
    adults given age, income given age and partnership, postcode prefix given
    income), so they are correlated the way census tables are.

    Parameters
    ----------
    seed : int
        Population seed, ``0 <= seed < 2**63``.
    first_customer : int
        Id of the first customer of this chunk (ids are consecutive).
    n_customers : int
        Number of customers to draw (``>= 0``).
    n_days : int
        Length of the simulated period in days (``>= 1``).
    age_cdf : numpy.ndarray
        ``(A,)`` cumulative distribution of age bands.
    gender_cdf, marital_cdf : numpy.ndarray
        ``(A, G)`` and ``(A, M)`` conditional on age band.
    partnered : numpy.ndarray
        ``(M,)`` int8, 1 where the marital status means a partner in the household.
    children_cdf : numpy.ndarray
        ``(A, M, C)``: number of children ``0 .. C-1`` given age and marital status.
    extra_adults_cdf : numpy.ndarray
        ``(A, E)``: other adults in the household given age.
    income_cdf : numpy.ndarray
        ``(A, 2, I)``: income band given age and partnership.
    postcode_cdf : numpy.ndarray
        ``(I, P)``: postcode prefix given income band.
    pl_by_income : numpy.ndarray
        ``(I,)`` mean chance of choosing a private-label twin.
    visit_median, visit_sigma : float
        Log-normal weekly visit rate (median visits per week, log-sd).
    basket_median, basket_sigma : float
        Log-normal per-customer mean basket size.
    join_rate, churn_rate : float
        Shares of customers who start after day 0 / stop before the end.
    leakage : float
        Mean share of stage purchases the customer makes at other retailers.
    n_stores : int
        Number of stores (``>= 1``); the home store follows the postcode.
    stray_store_rate : float
        Share of customers whose home store is not the one nearest their postcode.
    prog_prob : numpy.ndarray
        ``(R, A, G)`` chance of each program given age band and gender.
    prog_income_mult, prog_children_mult : numpy.ndarray
        ``(R, I)`` and ``(R, 2)`` multipliers (children: none / some).
    prog_onset_lo, prog_onset_hi : numpy.ndarray
        ``(R,)`` int32: onset day drawn uniformly in ``[lo, hi)`` (relative to day 0).
    prog_exclusive : numpy.ndarray
        ``(R,)`` int32: index of a program that excludes this one, or -1.

    Returns
    -------
    CustomerArrays
    """
    _check_seed(seed, first_customer, n_customers)
    if n_days < 1:
        raise ValueError(f"n_days must be >= 1, got {n_days}")
    if n_stores < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")
    a = age_cdf.shape[0]
    n_inc = income_cdf.shape[2]
    n_prog = prog_prob.shape[0]
    _check_cdf("age_cdf", age_cdf, (a,))
    _check_cdf("gender_cdf", gender_cdf, (a, gender_cdf.shape[1]))
    _check_cdf("marital_cdf", marital_cdf, (a, marital_cdf.shape[1]))
    _check_cdf("children_cdf", children_cdf, (a, marital_cdf.shape[1], children_cdf.shape[2]))
    _check_cdf("extra_adults_cdf", extra_adults_cdf, (a, extra_adults_cdf.shape[1]))
    _check_cdf("income_cdf", income_cdf, (a, 2, n_inc))
    _check_cdf("postcode_cdf", postcode_cdf, (n_inc, postcode_cdf.shape[1]))
    if partnered.shape != (marital_cdf.shape[1],):
        raise ValueError("partnered must have one entry per marital status")
    if pl_by_income.shape != (n_inc,):
        raise ValueError("pl_by_income must have one entry per income band")
    if prog_prob.shape[1:] != (a, gender_cdf.shape[1]):
        raise ValueError(f"prog_prob must have shape (R, {a}, {gender_cdf.shape[1]})")
    for name, arr, shape in (
        ("prog_income_mult", prog_income_mult, (n_prog, n_inc)),
        ("prog_children_mult", prog_children_mult, (n_prog, 2)),
        ("prog_onset_lo", prog_onset_lo, (n_prog,)),
        ("prog_onset_hi", prog_onset_hi, (n_prog,)),
        ("prog_exclusive", prog_exclusive, (n_prog,)),
    ):
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if np.any(prog_onset_hi <= prog_onset_lo):
        raise ValueError("every program needs prog_onset_hi > prog_onset_lo")
    if np.any(prog_exclusive >= np.arange(n_prog)):
        raise ValueError("prog_exclusive must point to an earlier program or be -1")

    n = n_customers
    out = CustomerArrays(
        age=np.empty(n, np.int8),
        gender=np.empty(n, np.int8),
        marital=np.empty(n, np.int8),
        children=np.empty(n, np.int8),
        household=np.empty(n, np.int8),
        income=np.empty(n, np.int8),
        postcode=np.empty(n, np.int32),
        visit_rate=np.empty(n, np.float64),
        basket_mean=np.empty(n, np.float64),
        active_from=np.empty(n, np.int32),
        active_to=np.empty(n, np.int32),
        home_store=np.empty(n, np.int32),
        loyalty=np.empty(n, np.float64),
        pl_share=np.empty(n, np.float64),
        n_fav=np.empty(n, np.int32),
        onset=np.empty((n, n_prog), np.int32),
    )
    with np.errstate(over="ignore"):  # uint64 wrap-around is the hash (plain-Python mode)
        _draw_customers(
            seed, first_customer, n_days,
            np.ascontiguousarray(age_cdf, np.float64),
            np.ascontiguousarray(gender_cdf, np.float64),
            np.ascontiguousarray(marital_cdf, np.float64),
            np.ascontiguousarray(partnered, np.int8),
            np.ascontiguousarray(children_cdf, np.float64),
            np.ascontiguousarray(extra_adults_cdf, np.float64),
            np.ascontiguousarray(income_cdf, np.float64),
            np.ascontiguousarray(postcode_cdf, np.float64),
            np.ascontiguousarray(pl_by_income, np.float64),
            float(visit_median), float(visit_sigma), float(basket_median), float(basket_sigma),
            float(join_rate), float(churn_rate), float(leakage), int(n_stores),
            float(stray_store_rate),
            np.ascontiguousarray(prog_prob, np.float64),
            np.ascontiguousarray(prog_income_mult, np.float64),
            np.ascontiguousarray(prog_children_mult, np.float64),
            np.ascontiguousarray(prog_onset_lo, np.int32),
            np.ascontiguousarray(prog_onset_hi, np.int32),
            np.ascontiguousarray(prog_exclusive, np.int32),
            *out,
        )
    return out


@njit(cache=True, nogil=True, parallel=True)
def _draw_customers(
    seed, first, n_days, age_cdf, gender_cdf, marital_cdf, partnered, children_cdf,
    extra_cdf, income_cdf, postcode_cdf, pl_by_income, visit_median, visit_sigma,
    basket_median, basket_sigma, join_rate, churn_rate, leakage, n_stores, stray_rate,
    prog_prob, prog_income_mult, prog_children_mult, prog_lo, prog_hi, prog_excl,
    o_age, o_gender, o_marital, o_children, o_household, o_income, o_postcode,
    o_visit, o_basket, o_from, o_to, o_store, o_loyalty, o_pl, o_nfav, o_onset,
):
    """One customer per iteration; every draw is keyed by the customer id."""
    n = o_age.shape[0]
    n_post = postcode_cdf.shape[1]
    for i in prange(n):
        key = _customer_key(seed, first + i)
        age = _cdf_pick(age_cdf, _unif(_draw(key, _S_DEMO, 0)))
        gender = _cdf_pick(gender_cdf[age], _unif(_draw(key, _S_DEMO, 1)))
        marital = _cdf_pick(marital_cdf[age], _unif(_draw(key, _S_DEMO, 2)))
        children = _cdf_pick(children_cdf[age, marital], _unif(_draw(key, _S_DEMO, 3)))
        extra = _cdf_pick(extra_cdf[age], _unif(_draw(key, _S_DEMO, 4)))
        part = 1 if partnered[marital] != 0 else 0
        income = _cdf_pick(income_cdf[age, part], _unif(_draw(key, _S_DEMO, 5)))
        postcode = _cdf_pick(postcode_cdf[income], _unif(_draw(key, _S_DEMO, 6)))
        o_age[i] = age
        o_gender[i] = gender
        o_marital[i] = marital
        o_children[i] = children
        o_household[i] = 1 + part + children + extra
        o_income[i] = income
        o_postcode[i] = postcode

        weekly = visit_median * math.exp(visit_sigma * _normal(key, _S_BEHAVIOUR, 0))
        weekly = min(max(weekly, 0.01), 7.0)
        o_visit[i] = weekly / 7.0
        bm = basket_median * math.exp(basket_sigma * _normal(key, _S_BEHAVIOUR, 1))
        o_basket[i] = min(max(bm, 1.0), 60.0)
        start = 0
        if _unif(_draw(key, _S_BEHAVIOUR, 4)) < join_rate:
            start = int(_unif(_draw(key, _S_BEHAVIOUR, 5)) * n_days)
        stop = n_days
        if _unif(_draw(key, _S_BEHAVIOUR, 6)) < churn_rate:
            stop = start + 1 + int(_unif(_draw(key, _S_BEHAVIOUR, 7)) * (n_days - start))
            stop = min(stop, n_days)
        o_from[i] = start
        o_to[i] = stop
        store = (postcode * n_stores) // n_post
        if _unif(_draw(key, _S_BEHAVIOUR, 8)) < stray_rate:
            store = int(_unif(_draw(key, _S_BEHAVIOUR, 9)) * n_stores)
        o_store[i] = min(store, n_stores - 1)
        o_loyalty[i] = 1.0 - min(1.0, 2.0 * leakage * _unif(_draw(key, _S_BEHAVIOUR, 10)))
        o_pl[i] = min(1.0, pl_by_income[income] * (0.25 + 1.5 * _unif(_draw(key, _S_BEHAVIOUR, 11))))
        nf = o_basket[i] * (1.5 + 3.0 * _unif(_draw(key, _S_BEHAVIOUR, 12)))
        o_nfav[i] = max(3, int(nf))

        has_kids = 1 if children > 0 else 0
        for r in range(prog_prob.shape[0]):
            o_onset[i, r] = NO_EVENT
            ex = prog_excl[r]
            if ex >= 0 and o_onset[i, ex] != NO_EVENT:
                continue
            p = prog_prob[r, age, gender] * prog_income_mult[r, income]
            p = p * prog_children_mult[r, has_kids]
            if _unif(_draw(key, _S_PROGRAM, 2 * r)) < p:
                span = prog_hi[r] - prog_lo[r]
                off = int(_unif(_draw(key, _S_PROGRAM, 2 * r + 1)) * span)
                o_onset[i, r] = prog_lo[r] + min(off, span - 1)


# --------------------------------------------------------------------------
# basket lines


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
    _check_seed(seed, first_customer, customers.age.shape[0])
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
    if np.any(np.diff(group_off) <= 0):
        raise ValueError("every product group needs at least one item")
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
    if np.any((stage_prob < 0) | (stage_prob > 1)):
        raise ValueError("stage_prob must lie in [0, 1]")
    if not 1 <= max_basket <= MAX_BASKET - n_stage:
        raise ValueError(f"max_basket must lie in [1, {MAX_BASKET - n_stage}], got {max_basket}")
    if dow_weight.shape != (7,) or np.any(dow_weight <= 0):
        raise ValueError("dow_weight must be 7 positive weights")
    _check_cdf("hour_cdf", hour_cdf, (24,))
    if n_stores < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")

    args = (
        seed, first_customer, int(n_days), int(start_day), int(start_weekday) % 7,
        np.ascontiguousarray(dow_weight, np.float64), np.ascontiguousarray(hour_cdf, np.float64),
        np.ascontiguousarray(alias_thr, np.float64), np.ascontiguousarray(alias_idx, np.int32),
        np.ascontiguousarray(item_price, np.float64), np.ascontiguousarray(item_by_weight, np.int8),
        np.ascontiguousarray(item_twin, np.int32), np.ascontiguousarray(item_mask, np.uint64),
        np.ascontiguousarray(group_off, np.int32), np.ascontiguousarray(group_items, np.int32),
        np.ascontiguousarray(group_cum, np.float64),
        np.ascontiguousarray(prog_stage_off, np.int32),
        np.ascontiguousarray(stage_start, np.int32), np.ascontiguousarray(stage_end, np.int32),
        np.ascontiguousarray(stage_period, np.int32), np.ascontiguousarray(stage_group, np.int32),
        np.ascontiguousarray(stage_prob, np.float64), np.ascontiguousarray(stage_qty, np.float64),
        np.ascontiguousarray(stage_suppress, np.int8),
        float(fav_share), float(brand_loyalty), float(promo_rate), float(promo_discount),
        float(other_store_rate), int(n_stores), int(max_basket),
        customers.visit_rate, customers.basket_mean, customers.active_from,
        customers.active_to, customers.home_store, customers.loyalty, customers.pl_share,
        customers.n_fav, customers.onset,
    )
    n = customers.age.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    with np.errstate(over="ignore"):  # uint64 wrap-around is the hash (plain-Python mode)
        _count_lines(*args, counts)
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
        _fill_lines(*args, *out)
    return out


@njit(cache=True, nogil=True)
def _stage_active(rel, start, end, period):
    """Is day ``rel`` (relative to onset) inside the stage window?"""
    if rel < start:
        return False
    if period <= 0:
        return rel < end
    return (rel - start) % period < end - start


@njit(cache=True, nogil=True)
def _in_basket(o_item, lo, hi, item):
    for k in range(lo, hi):
        if o_item[k] == item:
            return True
    return False


@njit(cache=True, nogil=True)
def _group_pick(group_off, group_items, group_cum, g, u):
    """Item of group ``g`` by its cumulative popularity (binary search)."""
    lo = group_off[g]
    hi = group_off[g + 1] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if group_cum[mid] > u:
            hi = mid
        else:
            lo = mid + 1
    return group_items[lo]


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _customer_lines(
    i, fill, pos, seed, first, n_days, start_day, start_wd, dow_weight, hour_cdf,
    alias_thr, alias_idx, item_price, item_by_weight, item_twin, item_mask,
    group_off, group_items, group_cum, prog_stage_off, stage_start, stage_end,
    stage_period, stage_group, stage_prob, stage_qty, stage_suppress,
    fav_share, brand_loyalty, promo_rate, promo_discount, other_store_rate, n_stores,
    max_basket, c_visit, c_basket, c_from, c_to, c_store, c_loyalty, c_pl, c_nfav, c_onset,
    o_customer, o_item, o_basket, o_ts, o_qty, o_price, o_store,
):
    """Lines of customer ``i``; writes them from ``pos`` when ``fill``. Returns the count."""
    cust = first + i
    key = _customer_key(seed, cust)
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
            u = _unif(_draw(key, _S_VISIT_GAP, step))
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
        if _unif(_draw(key, _S_VISIT_ACCEPT, day)) * wmax >= dow_weight[wd]:
            continue
        # one visit: basket size first (needed by both passes)
        g2 = -0.5 * math.log((1.0 - _unif(_draw(key, _S_VISIT, 4 * day)))
                             * (1.0 - _unif(_draw(key, _S_VISIT, 4 * day + 1))))
        lam = min(c_basket[i] * g2, _BASKET_CAP_MEAN) - 1.0
        nb = 1 + _poisson(max(lam, 0.0), _unif(_draw(key, _S_VISIT, 4 * day + 2)))
        nb = min(nb, max_basket)
        start = pos + n
        ts = np.int64(0)
        bid = np.int64(0)
        store = 0
        if fill:
            h = _draw(key, _S_VISIT, 4 * day + 3)
            hour = _cdf_pick(hour_cdf, _unif(h))
            second = int(float(h & np.uint64(0xFFF)) * (3600.0 / 4096.0))
            ts = (np.int64(start_day) + day) * 86400 + hour * 3600 + second
            store = c_store[i]
            if n_stores > 1 and _unif(_draw(key, _S_VISIT, 4 * n_days + day)) < other_store_rate:
                other = int(_unif(_draw(key, _S_VISIT, 5 * n_days + day)) * (n_stores - 1))
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
                if _unif(_draw(key, _S_STAGE, (day << 8) | s)) >= stage_prob[s] * loyalty:
                    continue
                if fill:
                    k = pos + n
                    ctr = (day << 12) | (s << 4)
                    loyal = _unif(_draw(key, _S_STAGE_ITEM, ctr | 15)) < brand_loyalty
                    it = -1
                    for t in range(8):
                        if t == 0 and loyal:
                            u_pick = _unif(_draw(key, _S_BRAND, g))
                        else:
                            u_pick = _unif(_draw(key, _S_STAGE_ITEM, ctr | t))
                        it = _group_pick(group_off, group_items, group_cum, g, u_pick)
                        if not _in_basket(o_item, start, k, it):
                            break
                    hq = _unif(_draw(key, _S_STAGE_LINE, 2 * ((day << 8) | s)))
                    q = _base_quantity(item_by_weight[it] != 0, hq) * stage_qty[s]
                    if item_by_weight[it] == 0:
                        q = math.ceil(q)
                    u_promo = _unif(_draw(key, _S_STAGE_LINE, 2 * ((day << 8) | s) + 1))
                    _write_line(k, cust, it, bid, ts, q, item_price[it], store, promo_rate,
                                promo_discount, u_promo,
                                o_customer, o_item, o_basket, o_ts, o_qty, o_price, o_store)
                n += 1
        # base lines
        if fill:
            for j in range(nb):
                k = pos + n + j
                it = -1
                for t in range(8):
                    ctr = (day << 12) | (j << 4) | t
                    u = _unif(_draw(key, _S_ITEM, ctr))
                    if u < fav_share:
                        f = min(int(u / fav_share * n_fav), n_fav - 1)
                        it = _alias_pick(alias_thr, alias_idx, _draw(key, _S_FAV, f))
                    else:
                        it = _alias_pick(alias_thr, alias_idx, _draw(key, _S_ITEM, ctr | 8))
                    tw = item_twin[it]
                    if tw >= 0 and _unif(_draw(key, _S_PL, it)) < pl_share:
                        it = tw
                    if (item_mask[it] & suppress) != np.uint64(0):
                        continue
                    if _in_basket(o_item, start, k, it):
                        continue
                    break
                hq = _unif(_draw(key, _S_LINE, (day << 12) | (j << 4) | 8))
                q = _base_quantity(item_by_weight[it] != 0, hq)
                _write_line(k, cust, it, bid, ts, q, item_price[it], store, promo_rate,
                            promo_discount, _unif(_draw(key, _S_LINE, (day << 12) | (j << 4) | 9)),
                            o_customer, o_item, o_basket, o_ts, o_qty, o_price, o_store)
        n += nb
    return n


@njit(cache=True, nogil=True)
def _write_line(k, cust, it, bid, ts, q, price, store, promo_rate, promo_discount, u_promo,
                o_customer, o_item, o_basket, o_ts, o_qty, o_price, o_store):
    if u_promo < promo_rate:
        price = price * (1.0 - promo_discount)
    o_customer[k] = cust
    o_item[k] = it
    o_basket[k] = bid
    o_ts[k] = ts
    o_qty[k] = q
    o_price[k] = math.floor(price * 100.0 + 0.5) / 100.0
    o_store[k] = store


@njit(cache=True, nogil=True, parallel=True)
def _count_lines(
    seed, first, n_days, start_day, start_wd, dow_weight, hour_cdf, alias_thr, alias_idx,
    item_price, item_by_weight, item_twin, item_mask, group_off, group_items, group_cum,
    prog_stage_off, stage_start, stage_end, stage_period, stage_group, stage_prob, stage_qty,
    stage_suppress, fav_share, brand_loyalty, promo_rate, promo_discount, other_store_rate,
    n_stores, max_basket, c_visit, c_basket, c_from, c_to, c_store, c_loyalty, c_pl, c_nfav,
    c_onset, counts,
):
    """Pass 1: number of lines per customer."""
    e64 = np.empty(0, np.int64)
    e32 = np.empty(0, np.int32)
    ef = np.empty(0, np.float32)
    for i in prange(counts.shape[0]):
        counts[i] = _customer_lines(
            i, False, 0, seed, first, n_days, start_day, start_wd, dow_weight, hour_cdf,
            alias_thr, alias_idx, item_price, item_by_weight, item_twin, item_mask,
            group_off, group_items, group_cum, prog_stage_off, stage_start, stage_end,
            stage_period, stage_group, stage_prob, stage_qty, stage_suppress,
            fav_share, brand_loyalty, promo_rate, promo_discount, other_store_rate, n_stores,
            max_basket, c_visit, c_basket, c_from, c_to, c_store, c_loyalty, c_pl, c_nfav,
            c_onset, e64, e32, e64, e64, ef, ef, e32,
        )


@njit(cache=True, nogil=True, parallel=True)
def _fill_lines(
    seed, first, n_days, start_day, start_wd, dow_weight, hour_cdf, alias_thr, alias_idx,
    item_price, item_by_weight, item_twin, item_mask, group_off, group_items, group_cum,
    prog_stage_off, stage_start, stage_end, stage_period, stage_group, stage_prob, stage_qty,
    stage_suppress, fav_share, brand_loyalty, promo_rate, promo_discount, other_store_rate,
    n_stores, max_basket, c_visit, c_basket, c_from, c_to, c_store, c_loyalty, c_pl, c_nfav,
    c_onset, offsets, o_customer, o_item, o_basket, o_ts, o_qty, o_price, o_store,
):
    """Pass 2: each customer writes its own slice ``offsets[i]:offsets[i+1]``."""
    for i in prange(offsets.shape[0] - 1):
        _customer_lines(
            i, True, offsets[i], seed, first, n_days, start_day, start_wd, dow_weight,
            hour_cdf, alias_thr, alias_idx, item_price, item_by_weight, item_twin, item_mask,
            group_off, group_items, group_cum, prog_stage_off, stage_start, stage_end,
            stage_period, stage_group, stage_prob, stage_qty, stage_suppress,
            fav_share, brand_loyalty, promo_rate, promo_discount, other_store_rate, n_stores,
            max_basket, c_visit, c_basket, c_from, c_to, c_store, c_loyalty, c_pl, c_nfav,
            c_onset, o_customer, o_item, o_basket, o_ts, o_qty, o_price, o_store,
        )


# --------------------------------------------------------------------------
# validation helpers (plain Python)


def _check_seed(seed: int, first_customer: int, n_customers: int) -> None:
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must lie in [0, 2**63), got {seed}")
    if first_customer < 0 or n_customers < 0:
        raise ValueError("first_customer and n_customers must be >= 0")
    if first_customer + n_customers >= 2**40:
        raise ValueError("customer ids must stay below 2**40")


def _check_cdf(name: str, cdf: np.ndarray, shape: tuple[int, ...]) -> None:
    if cdf.shape != shape or cdf.shape[-1] == 0:
        raise ValueError(f"{name} must have shape {shape}, got {cdf.shape}")
    if np.any(np.diff(cdf, axis=-1) < 0) or np.any(np.abs(cdf[..., -1] - 1.0) > 1e-9):
        raise ValueError(f"{name} must be non-decreasing along its last axis and end at 1.0")
