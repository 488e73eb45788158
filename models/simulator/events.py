"""Planted life events and confounders of the shopper simulator.

A *program* is something that happens to a customer at an onset day and
changes what they buy in *stages*: windows relative to the onset (optionally
repeating with a period) during which each visit buys from a product group
with some probability, or during which a group is *suppressed* (left out of the
base basket, e.g. alcohol during pregnancy, tobacco after quitting).

*Events* are the sensitive inferences detection must find; they are written to
``truth.parquet`` with ``kind = "event"``. *Confounders* are ordinary reasons to
buy the same products (unscented lotion in winter, cotton balls for crafts,
grandparents buying nappies, dieters buying sugar-free lines); they are written
with ``kind = "confounder"`` so that false positives can be explained.

Prevalence is ``rate`` times multipliers for age band, gender, income band and
whether the household has children. ``annual`` rates are incidences, scaled by
the length of the onset window; ``prevalence`` rates are shares of customers.

:data:`PROGRAMS` are the programs of the ``hard`` profile; the ``realistic``
profile has its own list (:mod:`basketguard.models.simulator.realistic`), built
from the same :class:`Program` records. One event may be planted by several
*variants* (a pregnancy of a smoker who quits, of a non-smoker): programs with
the same ``name`` and different ``variant``, written to the truth under the
same name.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from basketguard.engine.errors import InternalError
from basketguard.kernels.sim.customers import MAX_BASKET

#: Stage end for "from the onset on" (larger than any simulated period).
OPEN = 1_000_000


@dataclass(frozen=True)
class Stage:
    """One behaviour of a program: buy from (or suppress) ``group`` in ``[start, end)``.

    ``start`` and ``end`` are days relative to the onset; with ``period > 0``
    the window ``[start, end)`` repeats every ``period`` days. ``prob`` is the
    chance per visit of buying (before signal strength and loyalty), ``qty`` a
    quantity multiplier ("larger amounts").
    """

    group: str
    start: int
    end: int
    prob: float = 0.0
    qty: float = 1.0
    period: int = 0
    suppress: bool = False


@dataclass(frozen=True)
class Program:
    """A planted event or a confounder (see the module docstring)."""

    name: str
    kind: str  # "event" or "confounder"
    rate: float
    rate_kind: str  # "annual" or "prevalence"
    onset_from: int  # onset window start, days relative to day 0
    onset_to: int  # onset window end (exclusive)
    onset_to_end: bool  # onset_to counts from the end of the period instead of day 0
    stages: tuple[Stage, ...]
    age: tuple[float, ...] = (1, 1, 1, 1, 1, 1)
    gender: tuple[float, float, float] = (1, 1, 1)  # female, male, unknown
    income: tuple[float, ...] = (1, 1, 1, 1, 1)
    children: tuple[float, float] = (1, 1)  # none, some
    event_offset: int | None = None  # event date = onset + offset (a due date)
    exclusive_with: str | None = None  # key of an earlier program that rules this one out
    anchor: tuple[int, int] | None = None  # (month, day): onset on its last occurrence
    description: str = ""
    variant: str = ""  # several programs may plant one event (see the module docstring)

    @property
    def key(self) -> str:
        """Unique name of the program: ``name``, or ``name/variant`` for a variant."""
        return f"{self.name}/{self.variant}" if self.variant else self.name


def _w(weeks: float) -> int:
    return int(round(weeks * 7))


PROGRAMS: tuple[Program, ...] = (
    Program(
        "pregnancy", "event", 0.05, "annual", -300, -30, True,
        description="Onset is the start of gestation (last menstrual period), the event date "
                    "the due date 280 days later. Supplements in the first 20 weeks, larger "
                    "amounts of unscented lotion around the start of the second trimester, "
                    "scent-free soap, big cotton-ball packs, hand sanitizer and washcloths "
                    "near the due date, no alcohol, then nappies, wipes and formula.",
        stages=(
            Stage("pregnancy_test", _w(4), _w(7), 0.5),
            Stage("minerals", _w(4), _w(20), 0.35),
            Stage("prenatal_vitamins", _w(5), _w(40), 0.3),
            Stage("lotion_unscented_large", _w(12), _w(21), 0.4, qty=2.0),
            Stage("lotion_cocoa_butter", _w(14), _w(40), 0.15),
            Stage("soap_scent_free", _w(28), _w(40), 0.3),
            Stage("cotton_balls_large", _w(30), _w(40), 0.3, qty=1.5),
            Stage("hand_sanitizer", _w(34), _w(41), 0.3),
            Stage("washcloths", _w(34), _w(41), 0.3),
            Stage("nappy_sacks", _w(36), _w(44), 0.25),
            Stage("alcohol", _w(4), _w(40), suppress=True),
            Stage("diapers", 280, 280 + 365, 0.55, qty=1.5),
            Stage("baby_wipes", 280, 280 + 365, 0.45),
            Stage("infant_formula", 280, 280 + 365, 0.35),
            Stage("baby_food", 280 + 120, 280 + 365, 0.3),
        ),
        age=(0.6, 1.0, 0.5, 0.04, 0, 0), gender=(1, 0, 0.5), children=(1.0, 0.8),
        event_offset=280,
    ),
    Program(
        "new_baby", "event", 0.025, "annual", -180, 0, True,
        description="A baby arrives in a household whose pregnancy left no trace here "
                    "(a partner's pregnancy, adoption, prenatal shopping elsewhere). "
                    "Onset is the birth.",
        stages=(
            Stage("diapers", 0, 365, 0.55, qty=1.5),
            Stage("baby_wipes", 0, 365, 0.45),
            Stage("infant_formula", 0, 365, 0.35),
            Stage("nappy_sacks", 0, 180, 0.2),
            Stage("baby_food", 120, 365, 0.3),
        ),
        age=(0.4, 1.0, 0.7, 0.1, 0, 0), exclusive_with="pregnancy",
    ),
    Program(
        "diabetes_onset", "event", 0.012, "annual", -60, 0, True,
        description="Diagnosis: a glucose meter, then test strips and lancets, sugar-free "
                    "lines instead of confectionery and regular soft drinks.",
        stages=(
            Stage("glucose_meter", 0, 30, 0.5),
            Stage("test_strips", 7, OPEN, 0.3),
            Stage("sugar_free", 0, OPEN, 0.45),
            Stage("sugary", 0, OPEN, suppress=True),
        ),
        age=(0.1, 0.2, 0.4, 0.8, 1.2, 1.2), income=(1.3, 1.1, 1.0, 0.9, 0.8),
    ),
    Program(
        "smoking_cessation", "event", 0.03, "annual", 0, 0, True,
        description="A smoker quits at the onset: tobacco before, nicotine replacement for "
                    "about three months after, no tobacco from the onset on.",
        stages=(
            Stage("tobacco", -400, 0, 0.5),
            Stage("nicotine_replacement", 0, 90, 0.45),
            Stage("tobacco", 0, OPEN, suppress=True),
        ),
        age=(1, 1, 1, 0.8, 0.6, 0.3), income=(1.5, 1.2, 1.0, 0.8, 0.6),
    ),
    Program(
        "incontinence", "event", 0.02, "annual", -365, 0, True,
        description="Incontinence products from the onset on.",
        stages=(Stage("incontinence", 0, OPEN, 0.4),),
        age=(0, 0.02, 0.05, 0.15, 0.4, 1.0), gender=(1.5, 0.7, 1),
    ),
    Program(
        "kosher_diet", "event", 0.012, "prevalence", -3650, -365, False,
        description="Persistent religious diet: kosher lines, no pork or shellfish.",
        stages=(
            Stage("kosher", 0, OPEN, 0.5),
            Stage("pork", 0, OPEN, suppress=True),
            Stage("shellfish", 0, OPEN, suppress=True),
        ),
        income=(0.8, 0.9, 1.0, 1.1, 1.2),
    ),
    Program(
        "halal_diet", "event", 0.03, "prevalence", -3650, -365, False,
        description="Persistent religious diet: halal lines, no pork or alcohol.",
        stages=(
            Stage("halal", 0, OPEN, 0.5),
            Stage("pork", 0, OPEN, suppress=True),
            Stage("alcohol", 0, OPEN, suppress=True),
        ),
        age=(1.3, 1.2, 1.0, 0.9, 0.7, 0.5), exclusive_with="kosher_diet",
    ),
    Program(
        "alcohol_dependence", "event", 0.02, "annual", -730, 0, True,
        description="Frequent, large purchases of spirits, beer and wine.",
        stages=(
            Stage("spirits", 0, OPEN, 0.55, qty=2.0),
            Stage("beer", 0, OPEN, 0.4, qty=2.0),
            Stage("wine", 0, OPEN, 0.3, qty=2.0),
        ),
        age=(0.8, 1, 1, 1, 0.8, 0.5), gender=(0.6, 1.4, 1), exclusive_with="halal_diet",
    ),
    Program(
        "financial_distress", "event", 0.05, "annual", -60, 0, True,
        description="About eight months of trading down: private-label value lines in "
                    "larger amounts, premium brands left out.",
        stages=(
            Stage("value_lines", 0, 240, 0.8, qty=2.0),
            Stage("premium", 0, 240, suppress=True),
        ),
        income=(2.0, 1.5, 0.8, 0.4, 0.2), children=(0.8, 1.4),
    ),
    # ------------------------------------------------------------- confounders
    Program(
        "winter_skin", "confounder", 0.08, "prevalence", 0, 1, False, anchor=(11, 1),
        description="Dry skin: unscented lotion and hand cream, more of it, November to "
                    "February every year.",
        stages=(Stage("lotion_unscented", 0, 120, 0.3, qty=1.5, period=365),),
        age=(0.8, 0.9, 1, 1.1, 1.2, 1.3), gender=(1.3, 0.7, 1),
    ),
    Program(
        "crafter", "confounder", 0.03, "prevalence", -45, 0, False,
        description="Crafts: big cotton-ball packs in bursts every six weeks or so.",
        stages=(Stage("cotton_balls_large", 0, 10, 0.5, qty=1.5, period=45),),
        gender=(1.4, 0.6, 1), children=(0.8, 1.5),
    ),
    Program(
        "grandparent", "confounder", 0.12, "prevalence", -60, 0, False,
        description="Grandparents buying nappies, wipes and baby food for visits.",
        stages=(Stage("baby_consumables", 0, 14, 0.4, period=60),),
        age=(0, 0, 0.05, 0.5, 1.0, 1.0),
    ),
    Program(
        "supplement_user", "confounder", 0.07, "prevalence", -3650, -365, False,
        description="Health-conscious: calcium, magnesium and zinc all year.",
        stages=(Stage("minerals", 0, OPEN, 0.15),),
        age=(0.5, 0.7, 0.9, 1.1, 1.3, 1.4), gender=(1.4, 0.6, 1), income=(0.6, 0.8, 1, 1.2, 1.4),
    ),
    Program(
        "flu_season", "confounder", 0.1, "prevalence", 0, 1, False, anchor=(12, 1),
        description="Hand sanitizer and washcloths in the winter flu season.",
        stages=(
            Stage("hand_sanitizer", 0, 100, 0.2, period=365),
            Stage("washcloths", 0, 100, 0.1, period=365),
        ),
        children=(0.8, 1.5),
    ),
    Program(
        "smoker", "confounder", 0.12, "prevalence", -3650, -365, False,
        description="A smoker who does not quit.",
        stages=(Stage("tobacco", 0, OPEN, 0.5),),
        age=(1.2, 1.2, 1.0, 0.9, 0.8, 0.5), income=(1.6, 1.2, 1.0, 0.7, 0.5),
        exclusive_with="smoking_cessation",
    ),
    Program(
        "dieter", "confounder", 0.08, "prevalence", -3650, -365, False,
        description="Weight-watcher buying sugar-free lines (no diabetes).",
        stages=(Stage("sugar_free", 0, OPEN, 0.3),),
        gender=(1.4, 0.6, 1), exclusive_with="diabetes_onset",
    ),
    Program(
        "social_drinker", "confounder", 0.12, "prevalence", -3650, -365, False,
        description="Regular but moderate beer and wine.",
        stages=(Stage("beer", 0, OPEN, 0.2), Stage("wine", 0, OPEN, 0.2)),
        exclusive_with="halal_diet",
    ),
    Program(
        "bargain_hunter", "confounder", 0.1, "prevalence", -3650, -365, False,
        description="Always buys private-label value lines (no distress).",
        stages=(Stage("value_lines", 0, OPEN, 0.5),),
        income=(1.3, 1.2, 1, 0.8, 0.6),
    ),
    Program(
        "caregiver", "confounder", 0.02, "prevalence", -3650, -365, False,
        description="Buys incontinence products for an elderly relative.",
        stages=(Stage("incontinence", 0, OPEN, 0.3),),
        age=(0, 0.3, 0.8, 1.2, 1.0, 0.4), gender=(1.5, 0.6, 1),
    ),
)

#: Names of the planted events (``SimConfig.events`` accepts these); every profile
#: plants the same events (the confounders of all profiles: ``profiles.CONFOUNDERS``).
EVENTS: tuple[str, ...] = tuple(p.name for p in PROGRAMS if p.kind == "event")


def _anchor_offset(start: datetime.date, month: int, day: int) -> int:
    """Days from ``start`` back to the last (month, day) on or before it (<= 0)."""
    anchor = datetime.date(start.year, month, day)
    if anchor > start:
        anchor = datetime.date(start.year - 1, month, day)
    return (anchor - start).days


#: Most stages of all programs together: base lines keep their cap of 120 lines
#: (``MAX_BASKET - stages >= 120``) and stage numbers fit the kernels' 8-bit fields.
MAX_STAGES = MAX_BASKET - 120


def program_tables(
    *, n_days: int, start: datetime.date, groups: tuple[str, ...], group_sizes: np.ndarray,
    events: tuple[str, ...], confounders: bool, event_rate: float, signal_strength: float,
    confounder_strength: float, programs: tuple[Program, ...] = PROGRAMS,
) -> dict[str, np.ndarray]:
    """Kernel tables of all programs for one configuration.

    Disabled programs keep their column (probability 0), so program indices and
    the customers' draws do not depend on which programs are enabled.

    Parameters
    ----------
    n_days : int
        Length of the simulated period.
    start : datetime.date
        First simulated day (anchors seasonal confounders).
    groups : tuple of str
        Names of the product groups, in the order of the kernel's group tables.
    group_sizes : numpy.ndarray
        Number of items in each group (stages over an empty group are dropped).
    events : tuple of str
        Enabled events.
    confounders : bool
        Whether confounders are enabled.
    event_rate : float
        Multiplier of every event's prevalence.
    signal_strength, confounder_strength : float
        Multipliers of the per-visit buying probabilities of event and
        confounder stages (capped at 1).
    programs : tuple of Program
        The profile's programs (default: the ``hard`` profile's :data:`PROGRAMS`).

    Returns
    -------
    dict
        Keyword arguments for ``draw_customers`` (``prog_*``) and
        ``simulate_lines`` (``prog_stage_off``, ``stage_*``).
    """
    n_prog = len(programs)
    index = {p.key: i for i, p in enumerate(programs)}
    if len(index) != n_prog:
        raise InternalError("two programs share one key (name/variant)")
    gidx = {g: i for i, g in enumerate(groups)}
    prob = np.zeros((n_prog, 6, 3))
    inc = np.ones((n_prog, 5))
    kids = np.ones((n_prog, 2))
    lo = np.zeros(n_prog, np.int32)
    hi = np.zeros(n_prog, np.int32)
    excl = np.full(n_prog, -1, np.int32)
    stage_off = [0]
    st: dict[str, list] = {k: [] for k in ("start", "end", "period", "group", "prob", "qty",
                                           "suppress")}
    for r, p in enumerate(programs):
        if p.anchor is not None:
            lo[r] = _anchor_offset(start, *p.anchor)
            hi[r] = lo[r] + 1
        else:
            lo[r] = p.onset_from
            hi[r] = p.onset_to + (n_days if p.onset_to_end else 0)
        enabled = p.name in events if p.kind == "event" else confounders
        if enabled:
            rate = p.rate * (event_rate if p.kind == "event" else 1.0)
            if p.rate_kind == "annual":
                rate *= (hi[r] - lo[r]) / 365.0
            prob[r] = rate * np.outer(p.age, p.gender)
        inc[r] = p.income
        kids[r] = p.children
        if p.exclusive_with is not None:
            excl[r] = index[p.exclusive_with]
            if excl[r] >= r:
                raise InternalError(f"{p.key}: exclusive_with must name an earlier program")
        strength = signal_strength if p.kind == "event" else confounder_strength
        for s in p.stages:
            g = gidx[s.group]
            if group_sizes[g] == 0:
                continue
            st["start"].append(s.start)
            st["end"].append(s.end)
            st["period"].append(s.period)
            st["group"].append(g)
            st["prob"].append(0.0 if s.suppress else min(1.0, s.prob * strength))
            st["qty"].append(s.qty)
            st["suppress"].append(1 if s.suppress else 0)
        stage_off.append(len(st["start"]))
    if stage_off[-1] > MAX_STAGES:
        raise InternalError("too many stages for the kernel's counter layout")
    return {
        "prog_prob": prob,
        "prog_income_mult": inc,
        "prog_children_mult": kids,
        "prog_onset_lo": lo,
        "prog_onset_hi": hi,
        "prog_exclusive": excl,
        "prog_stage_off": np.asarray(stage_off, np.int32),
        "stage_start": np.asarray(st["start"], np.int32),
        "stage_end": np.asarray(st["end"], np.int32),
        "stage_period": np.asarray(st["period"], np.int32),
        "stage_group": np.asarray(st["group"], np.int32),
        "stage_prob": np.asarray(st["prob"], np.float64),
        "stage_qty": np.asarray(st["qty"], np.float64),
        "stage_suppress": np.asarray(st["suppress"], np.int8),
    }
