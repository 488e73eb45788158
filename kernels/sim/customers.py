"""Simulator kernels: customers' quasi-identifiers, behaviour and life events.

Part of the shopper simulator (``basketguard.models.simulator.run``); the lines
themselves are drawn by :mod:`basketguard.kernels.sim.lines`. Randomness is
counter-based (:mod:`basketguard.kernels.rng`, streams of
:mod:`basketguard.kernels.sim.sampling`): a customer's draws depend
only on (seed, customer id, tables).

Input contract: see :func:`draw_customers` (cumulative tables float64 ending
at 1.0; customer ids ``first_customer + i``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from basketguard.kernels.rng import derive_key, draw, normal, uniform
from basketguard.kernels.sim.sampling import (
    S_BEHAVIOUR,
    S_DEMO,
    S_PROGRAM,
    cdf_pick,
    check_cdf,
    check_customers,
)
from basketguard.kernels.threads import run_ranges

#: ``onset`` value of a customer without the program.
NO_EVENT = -(2**31)

#: Largest number of lines in one basket (base lines plus stage purchases);
#: the counter layout gives a basket 8 bits of line positions.
MAX_BASKET = 255


class CustomerTables(NamedTuple):
    """Conditional tables of :func:`draw_customers`, as one kernel argument.

    Shapes use ``A`` age bands, ``G`` genders, ``M`` marital statuses, ``C``
    children counts, ``E`` extra-adult counts, ``I`` income bands, ``P``
    postcode prefixes and ``R`` programs; ``*_cdf`` are cumulative along their
    last axis.
    """

    age_cdf: np.ndarray  #: float64 (A,)
    gender_cdf: np.ndarray  #: float64 (A, G), given age
    marital_cdf: np.ndarray  #: float64 (A, M), given age
    partnered: np.ndarray  #: int8 (M,), 1 where the status means a partner at home
    children_cdf: np.ndarray  #: float64 (A, M, C), given age and marital status
    extra_adults_cdf: np.ndarray  #: float64 (A, E), given age
    income_cdf: np.ndarray  #: float64 (A, 2, I), given age and partnership
    postcode_cdf: np.ndarray  #: float64 (I, P), given income
    pl_by_income: np.ndarray  #: float64 (I,), mean private-label chance
    prog_prob: np.ndarray  #: float64 (R, A, G), program chance by age and gender
    prog_income_mult: np.ndarray  #: float64 (R, I)
    prog_children_mult: np.ndarray  #: float64 (R, 2), no children / some
    prog_onset_lo: np.ndarray  #: int32 (R,), onset window [lo, hi) from day 0
    prog_onset_hi: np.ndarray  #: int32 (R,)
    prog_exclusive: np.ndarray  #: int32 (R,), earlier program that excludes this one, or -1


class CustomerParams(NamedTuple):
    """Scalar options of :func:`draw_customers`, as one kernel argument."""

    n_days: int
    visit_median: float
    visit_sigma: float
    basket_median: float
    basket_sigma: float
    join_rate: float
    churn_rate: float
    leakage: float
    n_stores: int
    stray_store_rate: float


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
    check_customers(seed, first_customer, n_customers)
    if n_days < 1:
        raise ValueError(f"n_days must be >= 1, got {n_days}")
    if n_stores < 1:
        raise ValueError(f"n_stores must be >= 1, got {n_stores}")
    a = age_cdf.shape[0]
    n_inc = income_cdf.shape[2]
    n_prog = prog_prob.shape[0]
    check_cdf("age_cdf", age_cdf, (a,))
    check_cdf("gender_cdf", gender_cdf, (a, gender_cdf.shape[1]))
    check_cdf("marital_cdf", marital_cdf, (a, marital_cdf.shape[1]))
    check_cdf("children_cdf", children_cdf, (a, marital_cdf.shape[1], children_cdf.shape[2]))
    check_cdf("extra_adults_cdf", extra_adults_cdf, (a, extra_adults_cdf.shape[1]))
    check_cdf("income_cdf", income_cdf, (a, 2, n_inc))
    check_cdf("postcode_cdf", postcode_cdf, (n_inc, postcode_cdf.shape[1]))
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

    tables = CustomerTables(
        age_cdf=np.ascontiguousarray(age_cdf, np.float64),
        gender_cdf=np.ascontiguousarray(gender_cdf, np.float64),
        marital_cdf=np.ascontiguousarray(marital_cdf, np.float64),
        partnered=np.ascontiguousarray(partnered, np.int8),
        children_cdf=np.ascontiguousarray(children_cdf, np.float64),
        extra_adults_cdf=np.ascontiguousarray(extra_adults_cdf, np.float64),
        income_cdf=np.ascontiguousarray(income_cdf, np.float64),
        postcode_cdf=np.ascontiguousarray(postcode_cdf, np.float64),
        pl_by_income=np.ascontiguousarray(pl_by_income, np.float64),
        prog_prob=np.ascontiguousarray(prog_prob, np.float64),
        prog_income_mult=np.ascontiguousarray(prog_income_mult, np.float64),
        prog_children_mult=np.ascontiguousarray(prog_children_mult, np.float64),
        prog_onset_lo=np.ascontiguousarray(prog_onset_lo, np.int32),
        prog_onset_hi=np.ascontiguousarray(prog_onset_hi, np.int32),
        prog_exclusive=np.ascontiguousarray(prog_exclusive, np.int32),
    )
    params = CustomerParams(
        int(n_days), float(visit_median), float(visit_sigma), float(basket_median),
        float(basket_sigma), float(join_rate), float(churn_rate), float(leakage),
        int(n_stores), float(stray_store_rate),
    )
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
        run_ranges(_draw_customers, n, seed, first_customer, params, tables, out)
    return out


@njit(cache=True, nogil=True)
def _draw_customers(start, stop, seed, first, params, tables, out):
    """Customers ``start:stop``; every draw is keyed by the customer id."""
    # One field per statement: with Numba 0.68, unpacking four or more NamedTuple
    # fields in one tuple assignment before a prange loop silently lost the loop's
    # writes to them (the loop is a plain range now, on threads: kernels.threads).
    n_days = params.n_days
    visit_median = params.visit_median
    visit_sigma = params.visit_sigma
    basket_median = params.basket_median
    basket_sigma = params.basket_sigma
    join_rate = params.join_rate
    churn_rate = params.churn_rate
    leakage = params.leakage
    n_stores = params.n_stores
    stray_rate = params.stray_store_rate
    age_cdf = tables.age_cdf
    gender_cdf = tables.gender_cdf
    marital_cdf = tables.marital_cdf
    partnered = tables.partnered
    children_cdf = tables.children_cdf
    extra_cdf = tables.extra_adults_cdf
    income_cdf = tables.income_cdf
    postcode_cdf = tables.postcode_cdf
    pl_by_income = tables.pl_by_income
    prog_prob = tables.prog_prob
    prog_income_mult = tables.prog_income_mult
    prog_children_mult = tables.prog_children_mult
    prog_excl = tables.prog_exclusive
    prog_lo = tables.prog_onset_lo
    prog_hi = tables.prog_onset_hi
    o_age = out.age
    o_gender = out.gender
    o_marital = out.marital
    o_children = out.children
    o_household = out.household
    o_income = out.income
    o_postcode = out.postcode
    o_visit = out.visit_rate
    o_basket = out.basket_mean
    o_from = out.active_from
    o_to = out.active_to
    o_store = out.home_store
    o_loyalty = out.loyalty
    o_pl = out.pl_share
    o_nfav = out.n_fav
    o_onset = out.onset
    n_post = postcode_cdf.shape[1]
    for i in range(start, stop):
        key = derive_key(seed, first + i)
        age = cdf_pick(age_cdf, uniform(draw(key, S_DEMO, 0)))
        gender = cdf_pick(gender_cdf[age], uniform(draw(key, S_DEMO, 1)))
        marital = cdf_pick(marital_cdf[age], uniform(draw(key, S_DEMO, 2)))
        children = cdf_pick(children_cdf[age, marital], uniform(draw(key, S_DEMO, 3)))
        extra = cdf_pick(extra_cdf[age], uniform(draw(key, S_DEMO, 4)))
        part = 1 if partnered[marital] != 0 else 0
        income = cdf_pick(income_cdf[age, part], uniform(draw(key, S_DEMO, 5)))
        postcode = cdf_pick(postcode_cdf[income], uniform(draw(key, S_DEMO, 6)))
        o_age[i] = age
        o_gender[i] = gender
        o_marital[i] = marital
        o_children[i] = children
        o_household[i] = 1 + part + children + extra
        o_income[i] = income
        o_postcode[i] = postcode

        # counters as int64, not literals: numba compiles a callee once per literal value
        weekly = visit_median * math.exp(visit_sigma * normal(key, S_BEHAVIOUR, np.int64(0)))
        weekly = min(max(weekly, 0.01), 7.0)
        o_visit[i] = weekly / 7.0
        bm = basket_median * math.exp(basket_sigma * normal(key, S_BEHAVIOUR, np.int64(1)))
        o_basket[i] = min(max(bm, 1.0), 60.0)
        start = 0
        if uniform(draw(key, S_BEHAVIOUR, 4)) < join_rate:
            start = int(uniform(draw(key, S_BEHAVIOUR, 5)) * n_days)
        stop = n_days
        if uniform(draw(key, S_BEHAVIOUR, 6)) < churn_rate:
            stop = start + 1 + int(uniform(draw(key, S_BEHAVIOUR, 7)) * (n_days - start))
            stop = min(stop, n_days)
        o_from[i] = start
        o_to[i] = stop
        store = (postcode * n_stores) // n_post
        if uniform(draw(key, S_BEHAVIOUR, 8)) < stray_rate:
            store = int(uniform(draw(key, S_BEHAVIOUR, 9)) * n_stores)
        o_store[i] = min(store, n_stores - 1)
        o_loyalty[i] = 1.0 - min(1.0, 2.0 * leakage * uniform(draw(key, S_BEHAVIOUR, 10)))
        o_pl[i] = min(1.0, pl_by_income[income] * (0.25 + 1.5 * uniform(draw(key, S_BEHAVIOUR, 11))))
        nf = o_basket[i] * (1.5 + 3.0 * uniform(draw(key, S_BEHAVIOUR, 12)))
        o_nfav[i] = max(3, int(nf))

        has_kids = 1 if children > 0 else 0
        for r in range(prog_prob.shape[0]):
            o_onset[i, r] = NO_EVENT
            ex = prog_excl[r]
            if ex >= 0 and o_onset[i, ex] != NO_EVENT:
                continue
            p = prog_prob[r, age, gender] * prog_income_mult[r, income]
            p = p * prog_children_mult[r, has_kids]
            if uniform(draw(key, S_PROGRAM, 2 * r)) < p:
                span = prog_hi[r] - prog_lo[r]
                off = int(uniform(draw(key, S_PROGRAM, 2 * r + 1)) * span)
                o_onset[i, r] = prog_lo[r] + min(off, span - 1)
