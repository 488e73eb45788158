"""Plain-Python references of the simulator kernels (``basketguard.kernels.sim.lines``).

Written for clarity, not speed: Python integers masked to 64 bits for the hash,
linear scans instead of binary searches, lists instead of preallocated arrays.
They follow the same specification (the same random-number counters and the
same order of floating-point operations), so the kernels must match them
exactly, with two parts written independently from the kernel docstrings: the
Poisson inversion (CDF terms from ``lgamma`` summed with ``fsum``, not the
kernel's recurrence) and the geometric visit gaps (a search over ``(1 - p)**g``,
not the kernel's closed-form logarithm). Those two can legitimately round the
other way when a uniform falls within rounding of a CDF step; the reference
then raises :class:`NearBoundary` instead of guessing, and the tests discard
that example (the kernel's CDF is within ``2e-13`` of the independent one;
``TOL`` leaves a wide margin).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from tests.reference.rng import customer_key, draw, normal, unif

NO_EVENT = -(2**31)
S_DEMO, S_BEHAVIOUR, S_PROGRAM = 1, 2, 3
S_VISIT_GAP, S_VISIT_ACCEPT, S_VISIT = 4, 5, 6
S_STAGE, S_STAGE_ITEM, S_ITEM, S_FAV, S_PL, S_LINE, S_BRAND, S_STAGE_LINE, S_ITEM_ANY = (
    7, 8, 9, 10, 11, 12, 13, 14, 15)


def cdf_pick(cdf, u: float) -> int:
    for i, c in enumerate(cdf):
        if c > u:
            return i
    return len(cdf) - 1


TOL = 1e-9
POISSON_MAX = 1000


class NearBoundary(Exception):
    """A uniform within a relative ``TOL`` of a CDF step: independent float computations may
    legitimately disagree there, so the example says nothing about the kernel."""


def poisson(lam: float, u: float) -> int:
    """Smallest ``k`` with ``P(X <= k) >= u`` for ``X ~ Poisson(lam)`` (at most 1000)."""
    if lam == 0.0:
        return 0  # all mass at 0
    terms: list[float] = []
    for k in range(POISSON_MAX + 1):
        terms.append(math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)))
        cdf = math.fsum(terms)
        if abs(cdf - u) <= TOL * max(cdf, u):  # relative: float sums are, near 0 too
            raise NearBoundary(f"Poisson({lam}) CDF at {k} is {cdf}, u = {u}")
        if cdf >= u:
            return k
    return POISSON_MAX


def geometric_gap(p: float, u: float, limit: int) -> int | None:
    """Smallest ``g >= 1`` with ``(1 - p)**g < 1 - u``; ``None`` if it exceeds ``limit``."""
    target = 1.0 - u
    for g in range(1, limit + 1):
        survive = (1.0 - p) ** g
        if abs(survive - target) <= TOL * target:
            raise NearBoundary(f"geometric gap: (1 - {p})**{g} = {survive}, 1 - u = {target}")
        if survive < target:
            return g
    return None


def candidate_days(u, p: float, active_from: int, active_to: int, n_days: int):
    """Candidate visit days: geometric gaps from ``active_from - 1`` (every day if p = 1)."""
    day = active_from - 1
    for step in itertools.count():
        gap = 1 if p >= 1.0 else geometric_gap(p, u(S_VISIT_GAP, step), n_days)
        if gap is None:
            return
        day += gap
        if day >= active_to:
            return
        yield day


def build_alias(weights) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias method with list stacks (popped from the end)."""
    w = [float(x) for x in weights]
    n = len(w)
    total = 0.0
    for x in w:
        total += x
    scaled = [x * n / total for x in w]
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    thr = [0.0] * n
    alias = [0] * n
    while small and large:
        s = small.pop()
        g = large.pop()
        thr[s] = scaled[s]
        alias[s] = g
        scaled[g] = (scaled[g] + scaled[s]) - 1.0
        (small if scaled[g] < 1.0 else large).append(g)
    for i in large + small:
        thr[i] = 1.0
        alias[i] = i
    return np.array(thr), np.array(alias, dtype=np.int32)


def alias_pick(thr, alias, h: int) -> int:
    n = len(thr)
    col = ((h >> 32) * n) >> 32
    if (h & 0xFFFFFFFF) < math.floor(thr[col] * 4294967296.0):
        return col
    return int(alias[col])


def draw_customers(seed, first, n, *, n_days, age_cdf, gender_cdf, marital_cdf, partnered,
                   children_cdf, extra_adults_cdf, income_cdf, postcode_cdf, pl_by_income,
                   visit_median, visit_sigma, basket_median, basket_sigma, join_rate,
                   churn_rate, leakage, n_stores, stray_store_rate, prog_prob,
                   prog_income_mult, prog_children_mult, prog_onset_lo, prog_onset_hi,
                   prog_exclusive) -> dict[str, list]:
    """One dict of per-customer lists, keyed like the fields of ``CustomerArrays``."""
    out: dict[str, list] = {k: [] for k in (
        "age", "gender", "marital", "children", "household", "income", "postcode",
        "visit_rate", "basket_mean", "active_from", "active_to", "home_store", "loyalty",
        "pl_share", "n_fav", "onset")}
    n_post = postcode_cdf.shape[1]
    for i in range(n):
        key = customer_key(seed, first + i)

        def u(stream, counter, key=key):
            return unif(draw(key, stream, counter))

        age = cdf_pick(age_cdf, u(S_DEMO, 0))
        gender = cdf_pick(gender_cdf[age], u(S_DEMO, 1))
        marital = cdf_pick(marital_cdf[age], u(S_DEMO, 2))
        children = cdf_pick(children_cdf[age, marital], u(S_DEMO, 3))
        extra = cdf_pick(extra_adults_cdf[age], u(S_DEMO, 4))
        part = 1 if partnered[marital] else 0
        income = cdf_pick(income_cdf[age, part], u(S_DEMO, 5))
        postcode = cdf_pick(postcode_cdf[income], u(S_DEMO, 6))
        weekly = visit_median * math.exp(visit_sigma * normal(key, S_BEHAVIOUR, 0))
        weekly = min(max(weekly, 0.01), 7.0)
        basket = basket_median * math.exp(basket_sigma * normal(key, S_BEHAVIOUR, 1))
        basket = min(max(basket, 1.0), 60.0)
        start = int(u(S_BEHAVIOUR, 5) * n_days) if u(S_BEHAVIOUR, 4) < join_rate else 0
        stop = n_days
        if u(S_BEHAVIOUR, 6) < churn_rate:
            stop = min(n_days, start + 1 + int(u(S_BEHAVIOUR, 7) * (n_days - start)))
        store = (postcode * n_stores) // n_post
        if u(S_BEHAVIOUR, 8) < stray_store_rate:
            store = int(u(S_BEHAVIOUR, 9) * n_stores)
        onsets = []
        for r in range(prog_prob.shape[0]):
            ex = prog_exclusive[r]
            if ex >= 0 and onsets[ex] != NO_EVENT:
                onsets.append(NO_EVENT)
                continue
            p = prog_prob[r, age, gender] * prog_income_mult[r, income]
            p = p * prog_children_mult[r, 1 if children > 0 else 0]
            if u(S_PROGRAM, 2 * r) < p:
                span = int(prog_onset_hi[r]) - int(prog_onset_lo[r])
                off = int(u(S_PROGRAM, 2 * r + 1) * span)
                onsets.append(int(prog_onset_lo[r]) + min(off, span - 1))
            else:
                onsets.append(NO_EVENT)
        for name, value in (
            ("age", age), ("gender", gender), ("marital", marital), ("children", children),
            ("household", 1 + part + children + extra), ("income", income),
            ("postcode", postcode), ("visit_rate", weekly / 7.0), ("basket_mean", basket),
            ("active_from", start), ("active_to", stop),
            ("home_store", min(store, n_stores - 1)),
            ("loyalty", 1.0 - min(1.0, 2.0 * leakage * u(S_BEHAVIOUR, 10))),
            ("pl_share", min(1.0, pl_by_income[income] * (0.25 + 1.5 * u(S_BEHAVIOUR, 11)))),
            ("n_fav", max(3, int(basket * (1.5 + 3.0 * u(S_BEHAVIOUR, 12))))),
            ("onset", onsets),
        ):
            out[name].append(value)
    return out


def stage_active(rel: int, start: int, end: int, period: int) -> bool:
    if rel < start:
        return False
    if period <= 0:
        return rel < end
    return (rel - start) % period < end - start


def base_quantity(by_weight: bool, u: float) -> float:
    if by_weight:
        return (20.0 + math.floor(u * 180.0)) / 100.0
    for limit, q in ((0.80, 1.0), (0.94, 2.0), (0.98, 3.0)):
        if u < limit:
            return q
    return 4.0 + math.floor((u - 0.98) * 200.0)


def group_pick(group_off, group_items, group_cum, g: int, u: float) -> int:
    lo, hi = int(group_off[g]), int(group_off[g + 1])
    for k in range(lo, hi):
        if group_cum[k] > u:
            return int(group_items[k])
    return int(group_items[hi - 1])


def simulate_lines(seed, first, customers, *, n_days, start_day, start_weekday, dow_weight,
                   hour_cdf, alias_thr, alias_idx, item_price, item_by_weight, item_twin,
                   item_mask, group_off, group_items, group_cum, prog_stage_off, stage_start,
                   stage_end, stage_period, stage_group, stage_prob, stage_qty,
                   stage_suppress, fav_share, brand_loyalty, promo_rate, promo_discount,
                   other_store_rate, n_stores, max_basket) -> list[tuple]:
    """All lines as tuples (customer, item, basket, ts, quantity, price, store), float64."""
    c = customers
    rows: list[tuple] = []
    wmax = max(float(w) for w in dow_weight)
    for i in range(len(c.visit_rate)):
        cust = first + i
        key = customer_key(seed, cust)

        def u(stream, counter, key=key):
            return unif(draw(key, stream, counter))

        p_max = min(1.0, float(c.visit_rate[i]) * wmax)
        for day in candidate_days(u, p_max, int(c.active_from[i]), int(c.active_to[i]),
                                  n_days):
            if u(S_VISIT_ACCEPT, day) * wmax >= dow_weight[(start_weekday + day) % 7]:
                continue
            g2 = -0.5 * math.log((1.0 - u(S_VISIT, 4 * day)) * (1.0 - u(S_VISIT, 4 * day + 1)))
            lam = min(float(c.basket_mean[i]) * g2, 200.0) - 1.0
            nb = min(1 + poisson(max(lam, 0.0), u(S_VISIT, 4 * day + 2)), max_basket)
            h = draw(key, S_VISIT, 4 * day + 3)
            ts = ((start_day + day) * 86400 + cdf_pick(hour_cdf, unif(h)) * 3600
                  + (h & 0xFFF) * 3600 // 4096)
            store = int(c.home_store[i])
            if n_stores > 1 and u(S_VISIT, 4 * n_days + day) < other_store_rate:
                other = int(u(S_VISIT, 5 * n_days + day) * (n_stores - 1))
                store = (store + 1 + min(other, n_stores - 2)) % n_stores
            basket_id = cust * n_days + day
            items: list[int] = []

            def line(it, q, u_promo, items=items, ts=ts, store=store, basket_id=basket_id,
                     cust=cust):
                price = float(item_price[it])
                if u_promo < promo_rate:
                    price = price * (1.0 - promo_discount)
                items.append(it)
                rows.append((cust, it, basket_id, ts, q,
                             math.floor(price * 100.0 + 0.5) / 100.0, store))

            suppressed = 0
            for r in range(c.onset.shape[1]):
                onset = int(c.onset[i, r])
                if onset == NO_EVENT:
                    continue
                for s in range(prog_stage_off[r], prog_stage_off[r + 1]):
                    if not stage_active(day - onset, stage_start[s], stage_end[s],
                                        stage_period[s]):
                        continue
                    g = int(stage_group[s])
                    if stage_suppress[s]:
                        suppressed |= 1 << g
                        continue
                    if u(S_STAGE, (day << 8) | s) >= stage_prob[s] * c.loyalty[i]:
                        continue
                    ctr = (day << 12) | (s << 4)
                    loyal = u(S_STAGE_ITEM, ctr | 15) < brand_loyalty
                    for t in range(15):
                        pick = u(S_BRAND, g) if t == 0 and loyal else u(S_STAGE_ITEM, ctr | t)
                        it = group_pick(group_off, group_items, group_cum, g, pick)
                        if it not in items:
                            break
                    q = base_quantity(bool(item_by_weight[it]),
                                      u(S_STAGE_LINE, 2 * ((day << 8) | s))) * stage_qty[s]
                    if not item_by_weight[it]:
                        q = float(math.ceil(q))
                    line(it, q, u(S_STAGE_LINE, 2 * ((day << 8) | s) + 1))
            for j in range(nb):
                for t in range(16):
                    ctr = (day << 12) | (j << 4) | t
                    v = u(S_ITEM, ctr)
                    if t < 2 and v < fav_share:
                        f = min(int(v / fav_share * c.n_fav[i]), int(c.n_fav[i]) - 1)
                        it = alias_pick(alias_thr, alias_idx, draw(key, S_FAV, f))
                    else:
                        it = alias_pick(alias_thr, alias_idx, draw(key, S_ITEM_ANY, ctr))
                    if item_twin[it] >= 0 and u(S_PL, it) < c.pl_share[i]:
                        it = int(item_twin[it])
                    if int(item_mask[it]) & suppressed or it in items:
                        continue
                    break
                q = base_quantity(bool(item_by_weight[it]), u(S_LINE, 2 * ((day << 8) | j)))
                line(it, q, u(S_LINE, 2 * ((day << 8) | j) + 1))
    return rows
