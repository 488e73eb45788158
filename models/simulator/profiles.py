"""Named profiles of the shopper simulator: ``hard`` and ``realistic``.

A profile fixes the *behaviour* of the population: which programs (events,
confounders, background buyers) exist with what prevalences, how often
customers visit by default, and how often the base process picks the
sensitive products. The other :class:`~basketguard.models.simulator.run.SimConfig`
fields (size, period, strengths, leakage, ...) apply on top of either profile.

``hard``
    The simulator as it was first built (and the default): sensitive products
    are part of everyone's random base purchases at rates well above reality
    and customers visit about ten times a year, so detection is harder than on
    real data. Same seed, same bytes as before profiles existed.
``realistic``
    Background rates, prevalences and the visit frequency taken from published
    figures, each documented in ``docs/simulator.md`` ("Profiles and where their
    rates come from") and measured against the table by the tests
    (:mod:`basketguard.models.simulator.realistic`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from basketguard.engine.errors import ConfigError
from basketguard.models.simulator import realistic
from basketguard.models.simulator.catalog import Catalog
from basketguard.models.simulator.events import PROGRAMS, Program
from basketguard.models.simulator.rates import Target


@dataclass(frozen=True)
class Profile:
    """The behaviour of a simulated population (see the module docstring).

    Attributes
    ----------
    name : str
    programs : tuple of Program
        Events, confounders and background buyers, in kernel order.
    visits_per_week : float
        Default mean visit rate (``SimConfig.visits_per_week = None``).
    base_shares : tuple of (str, float) or None
        Fixed shares of base lines per class of items (see :func:`base_weights`);
        ``None`` keeps the catalog's popularity for every item.
    pick_by_base : tuple of str
        Groups whose stage purchases pick items by their base weight rather than
        the catalog's popularity (``value_lines`` spans every type: picked by
        popularity, a bargain hunter's private-label purchases would include
        pregnancy tests at the rate of the seed's random ranking).
    targets : tuple of Target
        The documented rates of the profile (empty for ``hard``).
    """

    name: str
    programs: tuple[Program, ...]
    visits_per_week: float
    base_shares: tuple[tuple[str, float], ...] | None = None
    pick_by_base: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()


HARD = Profile("hard", PROGRAMS, 0.2)
REALISTIC = Profile("realistic", realistic.PROGRAMS_REALISTIC, realistic.VISITS_PER_WEEK,
                    realistic.BASE_SHARES, realistic.PICK_BY_BASE, realistic.TARGETS)
#: The profiles by name; ``hard`` is the default.
PROFILES: dict[str, Profile] = {p.name: p for p in (HARD, REALISTIC)}

#: Names of every confounder and background program of any profile.
CONFOUNDERS: tuple[str, ...] = tuple(dict.fromkeys(
    p.name for prof in PROFILES.values() for p in prof.programs if p.kind == "confounder"))


def get_profile(name: object) -> Profile:
    """The profile called ``name``.

    Raises
    ------
    ConfigError
        ``name`` is not a known profile.
    """
    if not isinstance(name, str) or name not in PROFILES:
        raise ConfigError(f"profile: {name!r} is not a known profile; known profiles: "
                          f"{', '.join(PROFILES)}")
    return PROFILES[name]


def base_weights(catalog: Catalog, shares: tuple[tuple[str, float], ...] | None) -> np.ndarray:
    """Base-process weight of every item.

    Without ``shares`` the catalog's popularity. Otherwise each listed group
    (in order; an item counts for the first group that holds it) takes exactly
    its share of the weight, spread over its items by their popularity, and the
    items of no listed group share the rest by popularity. Fixing a class's
    share keeps its purchase rate independent of where the seed's random
    popularity ranking happened to put its items.

    Parameters
    ----------
    catalog : Catalog
    shares : tuple of (str, float) or None
        ``(group, share)`` pairs, shares summing to less than 1.

    Returns
    -------
    numpy.ndarray
        float64 weights, one per item (summing to 1 with ``shares``).
    """
    pop = catalog.popularity
    if shares is None:
        return pop
    w = np.zeros_like(pop)
    claimed = np.zeros(pop.shape[0], bool)
    total = 0.0
    for group, share in shares:
        items = catalog.group_items[group]
        items = items[~claimed[items]]
        claimed[items] = True
        total += share
        if items.size and share > 0:
            w[items] = pop[items] / pop[items].sum() * share
    rest = ~claimed
    w[rest] = pop[rest] / pop[rest].sum() * (1.0 - total)
    return w
