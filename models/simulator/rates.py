"""Rates a simulated population measures, to compare with a profile's targets.

A :class:`Target` names one measurable rate of a population (the share of
non-pregnant customers who buy a pregnancy test in the period, the mean visits
per week, ...) and the value the profile documents for it; :func:`measure`
computes every target's rate from the arrays the kernels return, with a
binomial (or delta-method) standard error, so a test can check that a
generated population matches the documented table.

Kinds of target (``kind``):

``visits``
    Mean visits per customer and week while active (visits over active weeks,
    customers with at least one visit).
``prevalence``
    Share of the customers in ``who`` (``all``, ``women_18_44``, ``men_18_44``)
    who have event ``subject``; with ``when = "onset"`` only onsets inside the
    period count, with ``when = "event_date"`` only event dates (the due date)
    inside it, with ``when = "any"`` any planted program of the event.
``background``
    Share of customers with at least one visit and no planted event that buys
    group ``subject`` (every variant of every event with a buying stage on the
    group) who buy an item of the group in the period.
``pregnancy_alcohol``
    Share of pregnant customers buying alcohol in the 30 days from week 16,
    divided by the share of other women 18-44 buying alcohol in the 30 days
    from the period's day 150 (both among customers visiting in their window).
``pregnancy_tobacco``
    Of pregnant customers who bought tobacco in the 180 days before week 4 (at
    least 30 of them inside the period), the share buying none from week 8 to
    the birth (at least 60 days of it inside the period).

The period is the simulated one; targets are written for one year.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from basketguard.kernels.sim.customers import NO_EVENT, CustomerArrays
from basketguard.kernels.sim.lines import LineArrays

_KINDS = ("visits", "prevalence", "background", "pregnancy_alcohol", "pregnancy_tobacco")


@dataclass(frozen=True)
class Target:
    """One documented rate of a profile (a row of the table in docs/simulator.md).

    Attributes
    ----------
    name : str
        Row key.
    kind : str
        One of ``visits``, ``prevalence``, ``background``, ``pregnancy_alcohol``,
        ``pregnancy_tobacco`` (see the module docstring).
    value : float
        The documented rate.
    subject : str
        Event (``prevalence``) or product group (``background``).
    who : str
        Population of a ``prevalence``: ``all``, ``women_18_44`` or ``men_18_44``.
    when : str
        ``any``, ``onset`` or ``event_date`` (``prevalence`` only).
    """

    name: str
    kind: str
    value: float
    subject: str = ""
    who: str = "all"
    when: str = "any"

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"{self.name}: unknown target kind {self.kind!r}")


@dataclass(frozen=True)
class Measured:
    """A measured rate: ``value`` with its standard error over ``n`` units."""

    value: float
    se: float
    n: int


def _share(hits: np.ndarray) -> Measured:
    n = int(hits.size)
    if n == 0:
        return Measured(float("nan"), float("nan"), 0)
    p = float(hits.mean())
    return Measured(p, math.sqrt(max(p * (1 - p), 1.0 / n) / n), n)


def measure(targets, *, programs, catalog, customers: CustomerArrays, lines: LineArrays,
            first: int, n_days: int) -> dict[str, Measured]:
    """Measure every target on one generated chunk of customers.

    Parameters
    ----------
    targets : iterable of Target
    programs : tuple of Program
        The profile's programs, in the order of ``customers.onset``'s columns.
    catalog : Catalog
        The population's catalog (its signal groups).
    customers : CustomerArrays
    lines : LineArrays
        Lines of ``customers`` (from the same model).
    first : int
        Id of the chunk's first customer.
    n_days : int
        Length of the simulated period.

    Returns
    -------
    dict[str, Measured]
        By target name.
    """
    n = customers.age.shape[0]
    counts = np.diff(lines.offsets)
    cust = np.repeat(np.arange(n), counts)
    day = lines.basket - lines.customer * n_days
    active = counts > 0
    onset = customers.onset
    female = customers.gender == 0
    male = customers.gender == 1
    fertile = customers.age <= 2  # 18-24, 25-34, 35-44
    groups = catalog.group_items
    out = {}

    def has(event: str) -> np.ndarray:
        cols = [r for r, p in enumerate(programs) if p.name == event]
        return (onset[:, cols] != NO_EVENT).any(axis=1) if cols else np.zeros(n, bool)

    def bought(group: str, lo=None, hi=None) -> np.ndarray:
        sel = np.isin(lines.item, groups[group])
        if lo is not None:
            sel &= (day >= lo[cust]) & (day < hi[cust])
        out_ = np.zeros(n, bool)
        out_[cust[sel]] = True
        return out_

    def visited(lo, hi) -> np.ndarray:
        sel = (day >= lo[cust]) & (day < hi[cust])
        out_ = np.zeros(n, bool)
        out_[cust[sel]] = True
        return out_

    pregnancy_cols = [r for r, p in enumerate(programs) if p.name == "pregnancy"]
    preg_onset = np.full(n, NO_EVENT, np.int64)
    for r in pregnancy_cols:
        o = onset[:, r].astype(np.int64)
        preg_onset = np.where(o != NO_EVENT, o, preg_onset)
    pregnant = preg_onset != NO_EVENT

    for t in targets:
        if t.kind == "visits":
            # one basket per customer and day: visits are the distinct baskets
            visits = np.bincount(np.unique(lines.basket) // n_days - first, minlength=n)[active]
            weeks = (customers.active_to - customers.active_from)[active] / 7.0
            mean = visits.sum() / max(weeks.sum(), 1e-9)
            per = visits / np.maximum(weeks, 1 / 7.0)
            out[t.name] = Measured(float(mean), float(per.std() / math.sqrt(max(per.size, 1))),
                                   int(per.size))
        elif t.kind == "prevalence":
            who = {"all": np.ones(n, bool), "women_18_44": female & fertile,
                   "men_18_44": male & fertile}[t.who]
            cols = [r for r, p in enumerate(programs) if p.name == t.subject]
            hit = np.zeros(n, bool)
            for r in cols:
                o = onset[:, r].astype(np.int64)
                present = o != NO_EVENT
                if t.when == "onset":
                    present &= (o >= 0) & (o < n_days)
                elif t.when == "event_date":
                    off = programs[r].event_offset or 0
                    present &= (o + off >= 0) & (o + off < n_days)
                hit |= present
            out[t.name] = _share(hit[who])
        elif t.kind == "background":
            excluded = np.zeros(n, bool)
            for r, p in enumerate(programs):
                if p.kind == "event" and any(
                        not s.suppress and s.group == t.subject for s in p.stages):
                    excluded |= onset[:, r] != NO_EVENT
            out[t.name] = _share(bought(t.subject)[active & ~excluded])
        elif t.kind == "pregnancy_alcohol":
            lo = np.where(pregnant, preg_onset + 112, 150)
            hi = lo + 30
            inside = (lo >= 0) & (hi <= n_days)
            seen = visited(lo, hi) & inside
            alc = bought("alcohol", lo, hi)
            a = _share(alc[pregnant & seen])
            b = _share(alc[~pregnant & female & fertile & seen])
            ratio = a.value / b.value if b.value else float("nan")
            se = ratio * math.sqrt((a.se / a.value) ** 2 + (b.se / b.value) ** 2) \
                if a.value and b.value else float("nan")
            out[t.name] = Measured(ratio, se, a.n)
        elif t.kind == "pregnancy_tobacco":
            before_lo = np.maximum(preg_onset - 180, 0)
            before_hi = np.minimum(preg_onset + 28, n_days)
            during_lo = np.maximum(preg_onset + 56, 0)
            during_hi = np.minimum(preg_onset + 280, n_days)
            ok = pregnant & (before_hi - before_lo >= 30) & (during_hi - during_lo >= 60)
            smoked = bought("tobacco", before_lo, before_hi) & ok
            still = bought("tobacco", during_lo, during_hi)
            out[t.name] = _share(~still[smoked & visited(during_lo, during_hi)])
    return out
