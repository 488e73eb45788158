"""Population-uniqueness estimators (engine.population) on hand-checked cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Severity
from basketguard.engine.reid.uniqueness import (
    Histogram,
    _snb_solve,
    digamma,
    hypergeom_one,
    pitman,
    pitman_fit,
    population_uniqueness,
    shlosser_classes,
    snb,
    snb_moments,
    trigamma,
    zayatz,
)

scipy = pytest.importorskip("scipy")
from scipy import optimize, special, stats  # noqa: E402


def H(d: dict[int, int]) -> Histogram:
    return Histogram.of(sorted(d), [d[k] for k in sorted(d)])


# ------------------------------------------------------------ special functions
@pytest.mark.parametrize("x", [1e-3, 0.5, 1.0, 2.5, 9.99, 10.0, 123.4, 1e6, 3e9])
def test_digamma_trigamma_match_scipy(x):
    assert digamma(x) == pytest.approx(float(special.digamma(x)), rel=1e-12, abs=1e-12)
    assert trigamma(x) == pytest.approx(float(special.polygamma(1, x)), rel=1e-11)


@pytest.mark.parametrize("big_n, i, n", [(8, 1, 4), (8, 2, 4), (100, 5, 10), (1000, 30, 500),
                                         (50, 50, 50), (20, 3, 1)])
def test_hypergeom_one_matches_scipy(big_n, i, n):
    assert hypergeom_one(big_n, i, n) == pytest.approx(stats.hypergeom(big_n, i, n).pmf(1),
                                                       rel=1e-10, abs=1e-300)


# ---------------------------------------------------------------------- Zayatz
def test_zayatz_by_hand():
    # n = 4 records in classes {1, 1, 2}, f = 1/2 so N = 8.
    # h(1) = 4/8; h(2) = 2 C(6,3) / C(8,4) = 40/70 = 4/7.
    # P = 2 * 1/2 / (2 * 1/2 + 4/7) = 7/11; uniques = 2 * 7/11 / (1/2) = 28/11.
    assert zayatz(H({1: 2, 2: 1}), 0.5) == pytest.approx(28 / 11, rel=1e-12)


def test_zayatz_all_unique_sample():
    # Every sample class is a singleton: P = 1 and the estimate is f1 / f.
    assert zayatz(H({1: 10}), 0.1) == pytest.approx(100.0, rel=1e-12)


def test_zayatz_tends_to_sample_uniques_as_f_goes_to_1():
    h = H({1: 7, 2: 3, 5: 1})
    assert zayatz(h, 1.0) == 7.0
    assert zayatz(h, 1 - 1e-9) == pytest.approx(7.0, rel=1e-6)


# ---------------------------------------------------------------------- Pitman
def _pitman_loglik(theta, alpha, h: Histogram):
    """Log-likelihood of Pitman's sampling formula with plain sums (Hoshino 2001)."""
    u, n = h.classes, h.records
    val = sum(math.log(theta + i * alpha) for i in range(1, u))
    val -= sum(math.log(theta + i) for i in range(1, n))
    for j, c in zip(h.sizes, h.counts, strict=True):
        val += c * sum(math.log(k - alpha) for k in range(1, j))
    return val


# heavy-tailed samples (many uniques and a few large classes), as Pitman's model expects
PITMAN_HISTS = [
    {1: 60, 2: 12, 3: 5, 4: 3, 6: 2, 10: 1, 25: 1},
    {1: 30, 2: 6, 3: 2, 5: 1, 12: 1, 40: 1},
]


@pytest.mark.parametrize("d", PITMAN_HISTS)
def test_pitman_is_the_maximum_likelihood_fit(d):
    h = H(d)
    fit = pitman_fit(h, 0.05)
    assert fit.converged and fit.theta > 0 and 0 < fit.alpha < 1
    # an independent maximization of the plain log-likelihood agrees
    res = optimize.minimize(lambda p: -_pitman_loglik(p[0], p[1], h), [fit.theta * 1.3, 0.5],
                            method="Nelder-Mead", bounds=[(1e-6, None), (1e-6, 1 - 1e-6)],
                            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    assert _pitman_loglik(fit.theta, fit.alpha, h) >= -res.fun - 1e-7
    # Hoshino's estimate of population uniques, with N = n / f
    big_n = h.records / 0.05
    expect = math.gamma(fit.theta + 1) / math.gamma(fit.theta + fit.alpha) * big_n**fit.alpha
    assert fit.uniques == pytest.approx(expect, rel=1e-9)


def test_pitman_closed_forms_agree_with_plain_sums():
    # more than 100_000 classes switches to digamma/trigamma closed forms
    rng = np.random.default_rng(3)
    sizes = rng.zipf(2.5, 150_000)
    values, counts = np.unique(sizes, return_counts=True)
    h = Histogram.of(values, counts)
    fit = pitman_fit(h, 0.1)
    assert fit.converged
    from basketguard.engine.reid import uniqueness as population

    grad, _, _ = population._pitman_sums(fit.theta, fit.alpha, h)
    i = np.arange(1, h.classes, dtype=np.float64)
    s0 = np.sum(1.0 / (fit.theta + i * fit.alpha))
    r0 = np.sum(1.0 / (fit.theta + np.arange(1, h.records)))
    assert grad[0] == pytest.approx(s0 - r0, abs=1e-8 * s0)


def test_pitman_without_a_valid_maximum_gives_no_estimate():
    assert pitman(H({50: 2}), 0.1) == 0.0  # no sample uniques
    assert math.isnan(pitman(H({1: 1}), 0.1))  # one class: nothing to fit
    # light-tailed sample: the likelihood grows towards alpha <= 0 (Ewens), where
    # Hoshino's formula does not apply; Dankar's rule then falls back to Zayatz
    h = H({1: 30, 2: 10, 3: 5, 4: 2, 7: 1})
    assert math.isnan(pitman(h, 0.05))
    r = population_uniqueness(h, 0.05)
    assert r.dankar_model == "zayatz" and r.uniques["dankar"] == r.uniques["zayatz"]


# ------------------------------------------------------------------------- SNB
def _snb_moments_by_summation(alpha, beta, k, f, gmax=400):
    """E f_1, E f_2 by summing over population class sizes 1 + G, G ~ NB(alpha, beta),
    sample size ~ Binomial(1 + G, f): the model itself, no algebra."""
    g = np.arange(gmax)
    pg = stats.nbinom(alpha, beta).pmf(g)
    big = g + 1
    p1 = big * f * (1 - f) ** (big - 1)
    p2 = big * (big - 1) / 2 * f**2 * (1 - f) ** (big - 2)
    return k * float(np.sum(pg * p1)), k * float(np.sum(pg * p2))


@pytest.mark.parametrize("alpha, beta, f", [(2.0, 0.3, 0.2), (0.5, 0.6, 0.05), (5.0, 0.8, 0.5),
                                            (1.3, 0.15, 0.9)])
def test_snb_moments_follow_from_the_model(alpha, beta, f):
    e1, e2 = snb_moments(alpha, beta, 1000.0, f)
    s1, s2 = _snb_moments_by_summation(alpha, beta, 1000.0, f)
    assert e1 == pytest.approx(s1, rel=1e-9)
    assert e2 == pytest.approx(s2, rel=1e-9)  # the division by (1-d)^(alpha+2)
    # ARX's second equation multiplies instead: it does not match the model
    _, arx2 = snb_moments(alpha, beta, 1000.0, f, variant="arx")
    assert arx2 != pytest.approx(s2, rel=1e-3)


@pytest.mark.parametrize("alpha, beta, k, f", [(2.0, 0.3, 1000.0, 0.2), (0.7, 0.5, 5000.0, 0.3),
                                               (3.0, 0.6, 200.0, 0.6)])
def test_snb_solver_recovers_known_parameters(alpha, beta, k, f):
    c1, c2 = snb_moments(alpha, beta, k, f)
    got = _snb_solve(c1, c2, k, f, "paper")
    assert got is not None
    assert got[0] == pytest.approx(alpha, rel=1e-6)
    assert got[1] == pytest.approx(beta, rel=1e-6)


def test_shlosser_by_hand():
    # {1: 3, 2: 1}, q = 1/2:
    # a = 1 .25 1 3 + 2 .25 .75 1 = 1.125;  b = .5 (.5) 3 + .25 (1.25) 1 = 1.0625
    # c = .5 3 + .25 1 = 1.75;  d = 1 .5 3 + 2 .5 .5 1 = 2
    h = H({1: 3, 2: 1})
    expect = 4 + 3 * (1.125 / 1.0625) * (1.75 / 2) ** 2
    assert shlosser_classes(h, 0.5) == pytest.approx(expect, rel=1e-12)
    # ARX subtracts 1 per entry: b = (.5 * 3 * 1.5 - 1) + (.25 * 2.25 - 1) = .8125
    assert shlosser_classes(h, 0.5, "arx") == pytest.approx(
        4 + 3 * (1.125 / 0.8125) * (1.75 / 2) ** 2, rel=1e-12)


def test_snb_needs_classes_of_size_two():
    assert math.isnan(snb(H({1: 5, 3: 2}), 0.3))
    assert snb(H({2: 5}), 0.3) == 0.0
    assert snb(H({1: 4, 2: 2}), 1.0) == 4.0


def test_snb_estimate_is_k_beta_alpha():
    h = H({1: 40, 2: 12, 3: 6, 4: 2, 6: 1})
    est = snb(h, 0.3)
    k = shlosser_classes(h, 0.3)
    alpha, beta = _snb_solve(40, 12, k, 0.3, "paper")
    assert est == pytest.approx(k * beta**alpha, rel=1e-12)
    e1, e2 = snb_moments(alpha, beta, k, 0.3)
    assert (e1, e2) == (pytest.approx(40, rel=1e-8), pytest.approx(12, rel=1e-8))


# ---------------------------------------------------------------------- Dankar
def test_dankar_rule():
    h = H({1: 60, 2: 12, 3: 5, 4: 3, 6: 2, 10: 1, 25: 1})
    low = population_uniqueness(h, 0.05)
    assert low.dankar_model == "pitman"
    assert low.uniques["dankar"] == low.uniques["pitman"]
    high = population_uniqueness(h, 0.3)
    assert high.dankar_model in ("zayatz", "snb")
    assert high.uniques["dankar"] == min(high.uniques["zayatz"], high.uniques["snb"])
    no_snb = population_uniqueness(H({1: 4, 3: 2}), 0.5)  # no size-2 classes
    assert no_snb.dankar_model == "zayatz"
    assert no_snb.uniques["dankar"] == no_snb.uniques["zayatz"]


def test_no_sample_uniques_and_census():
    r = population_uniqueness(H({2: 3, 5: 1}), 0.01)
    assert r.uniques == {"pitman": 0.0, "zayatz": 0.0, "snb": 0.0, "dankar": 0.0}
    assert r.dankar_model == "none"
    census = population_uniqueness(H({1: 6, 2: 3, 4: 1}), 1.0)
    assert all(v == 6.0 for v in census.uniques.values())
    assert census.share() == pytest.approx(6 / 16)


@pytest.mark.parametrize("f", [0.0, -0.1, 1.5, math.nan])
def test_bad_sampling_fraction(f):
    with pytest.raises(ConfigError, match="sampling fraction"):
        population_uniqueness(H({1: 1, 2: 1}), f)


def test_finding_is_aggregate_and_judged():
    r = population_uniqueness(H({1: 60, 2: 12, 3: 5, 4: 3, 6: 2, 10: 1, 25: 1}), 0.05)
    f = r.finding(fail=1e-6)
    assert f.severity == Severity.FAIL
    assert f.details["dankar_model"] == "pitman"
    assert r.finding().severity == Severity.INFO
    f.to_dict()  # JSON-able


@given(st.dictionaries(st.integers(1, 12), st.integers(1, 40), min_size=1, max_size=6),
       st.floats(0.01, 1.0))
def test_estimates_stay_in_range(d, f):
    h = H(d)
    r = population_uniqueness(h, f)
    big_n = h.records / f
    for model, v in r.uniques.items():
        assert math.isnan(v) or 0.0 <= v <= big_n + 1e-6, model
    # Zayatz's P is a probability: at most every sample unique, scaled by 1/f
    assert r.uniques["zayatz"] <= h.f(1) / f * (1 + 1e-9)
    assert r.uniques["dankar"] in (r.uniques[m] for m in ("pitman", "zayatz", "snb")) or (
        h.f(1) == 0)
