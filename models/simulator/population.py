"""Joint distribution of the simulated customers' quasi-identifiers.

The tables are a chain of conditionals in the spirit of census cross-tabulations
(UK/EU-like shares, rounded): age band; gender and marital status given age;
number of children given age and partnership; other adults in the household
given age; income band given age and partnership; postcode prefix given income
(prefixes differ in population and affluence). The attributes are therefore
correlated as in real customer files: young singles with low incomes and large
shared households, partnered 35-44s with children and higher incomes, widowed
65+ living alone, affluent postcodes concentrating the top income band.

The tables are constants (the same "country" for every seed); only the draws
depend on the seed.
"""

from __future__ import annotations

import numpy as np

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
GENDERS = ("female", "male", "unknown")
MARITAL = ("single", "married", "cohabiting", "divorced", "widowed")
INCOME_BANDS = ("<20k", "20-40k", "40-60k", "60-100k", "100k+")
#: Marital statuses with a partner in the household.
PARTNERED = np.array([0, 1, 1, 0, 0], dtype=np.int8)

_AGE = [0.11, 0.18, 0.17, 0.17, 0.16, 0.21]
_FEMALE = [0.50, 0.51, 0.52, 0.52, 0.53, 0.56]
_UNKNOWN_GENDER = 0.03
_MARITAL_BY_AGE = [
    [0.85, 0.04, 0.10, 0.01, 0.00],
    [0.45, 0.33, 0.19, 0.03, 0.00],
    [0.25, 0.52, 0.13, 0.09, 0.01],
    [0.18, 0.56, 0.09, 0.15, 0.02],
    [0.14, 0.58, 0.06, 0.16, 0.06],
    [0.08, 0.52, 0.03, 0.12, 0.25],
]
# children 0, 1, 2, 3, 4+ given age, for partnered / not partnered
_CHILDREN_PARTNERED = [
    [0.60, 0.25, 0.12, 0.03, 0.00],
    [0.35, 0.28, 0.27, 0.08, 0.02],
    [0.20, 0.25, 0.35, 0.15, 0.05],
    [0.40, 0.25, 0.25, 0.08, 0.02],
    [0.80, 0.12, 0.06, 0.02, 0.00],
    [0.97, 0.02, 0.01, 0.00, 0.00],
]
_CHILDREN_SINGLE = [
    [0.90, 0.08, 0.02, 0.00, 0.00],
    [0.75, 0.15, 0.08, 0.02, 0.00],
    [0.60, 0.20, 0.15, 0.04, 0.01],
    [0.70, 0.17, 0.10, 0.03, 0.00],
    [0.92, 0.06, 0.02, 0.00, 0.00],
    [0.99, 0.01, 0.00, 0.00, 0.00],
]
# other adults (0, 1, 2) in the household given age
_EXTRA_ADULTS = [
    [0.40, 0.35, 0.25],
    [0.80, 0.15, 0.05],
    [0.90, 0.08, 0.02],
    [0.80, 0.15, 0.05],
    [0.85, 0.12, 0.03],
    [0.92, 0.07, 0.01],
]
_INCOME_SINGLE = [
    [0.45, 0.35, 0.13, 0.06, 0.01],
    [0.20, 0.38, 0.25, 0.13, 0.04],
    [0.17, 0.33, 0.26, 0.17, 0.07],
    [0.17, 0.31, 0.26, 0.18, 0.08],
    [0.22, 0.33, 0.23, 0.15, 0.07],
    [0.38, 0.37, 0.15, 0.07, 0.03],
]
_INCOME_PARTNERED = [
    [0.30, 0.35, 0.20, 0.12, 0.03],
    [0.10, 0.25, 0.28, 0.25, 0.12],
    [0.07, 0.20, 0.27, 0.29, 0.17],
    [0.07, 0.18, 0.26, 0.30, 0.19],
    [0.10, 0.23, 0.27, 0.25, 0.15],
    [0.22, 0.35, 0.23, 0.13, 0.07],
]
#: Mean chance of choosing the private-label twin of an item, by income band.
PL_BY_INCOME = np.array([0.55, 0.40, 0.28, 0.18, 0.10])

_AREAS = ("AB", "AL", "B", "BA", "BD", "BH", "BL", "BN", "BR", "BS", "CB", "CF", "CH", "CM",
          "CO", "CR", "CT", "CV", "DA", "DE", "DN", "E", "EC", "EH", "EN", "EX", "G", "GL",
          "GU", "HA", "HP", "HU", "IG", "IP", "KT", "L", "LE", "LS", "M", "ME", "MK", "N",
          "NE", "NG", "NN", "NR", "NW", "OX", "PE", "PL", "PO", "RG", "RM", "S", "SE", "SG",
          "SK", "SL", "SM", "SN", "SO", "SS", "ST", "SW", "TN", "TW", "UB", "W", "WD", "WF",
          "WR", "YO")
#: Postcode prefixes (outward-code style), three districts per area.
POSTCODES = tuple(f"{a}{d}" for a in _AREAS for d in (1, 2, 3))


def _cdf(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    c = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    c[..., -1] = 1.0
    return c


def demographic_tables() -> dict[str, np.ndarray]:
    """Cumulative tables for :func:`basketguard.kernels.sim.customers.draw_customers`.

    Returns
    -------
    dict
        ``age_cdf`` (A,), ``gender_cdf`` (A, G), ``marital_cdf`` (A, M),
        ``partnered`` (M,), ``children_cdf`` (A, M, 5), ``extra_adults_cdf`` (A, 3),
        ``income_cdf`` (A, 2, I), ``postcode_cdf`` (I, P), ``pl_by_income`` (I,).
    """
    gender = [[f * (1 - _UNKNOWN_GENDER), (1 - f) * (1 - _UNKNOWN_GENDER), _UNKNOWN_GENDER]
              for f in _FEMALE]
    children = np.empty((len(AGE_BANDS), len(MARITAL), 5))
    for m in range(len(MARITAL)):
        children[:, m, :] = _CHILDREN_PARTNERED if PARTNERED[m] else _CHILDREN_SINGLE
    income = np.stack([np.asarray(_INCOME_SINGLE), np.asarray(_INCOME_PARTNERED)], axis=1)
    # fixed geography: population and affluence of each prefix (seed-independent)
    geo = np.random.default_rng(20240101)
    population = geo.lognormal(0.0, 0.8, len(POSTCODES))
    affluence = geo.normal(0.0, 1.0, len(POSTCODES))
    tilt = np.arange(len(INCOME_BANDS)) - (len(INCOME_BANDS) - 1) / 2
    postcode = population[None, :] * np.exp(0.6 * tilt[:, None] * affluence[None, :])
    return {
        "age_cdf": _cdf(_AGE),
        "gender_cdf": _cdf(gender),
        "marital_cdf": _cdf(_MARITAL_BY_AGE),
        "partnered": PARTNERED,
        "children_cdf": _cdf(children),
        "extra_adults_cdf": _cdf(_EXTRA_ADULTS),
        "income_cdf": _cdf(income),
        "postcode_cdf": _cdf(postcode),
        "pl_by_income": PL_BY_INCOME,
    }
