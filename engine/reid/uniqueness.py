"""Population uniqueness when the customer base is a sample of the real population.

The engine knows ``n`` customers; the user says they are a fraction ``f`` of the
people an attacker could be looking at (population size ``N = n / f``, kept as a
real number). From the sample's *frequencies of frequencies* ``f_j`` (how many
equivalence classes have exactly ``j`` records; ``u = sum f_j`` classes,
``n = sum j f_j``) the models below estimate the number of population uniques
(classes of size 1 in the population); the reported share is that number over
``N``. These follow ARX's ``RiskModelPopulationUniqueness`` (the reference
behaviour), with the differences stated below.

Models
------
**Pitman** (Hoshino, "Applying Pitman's sampling formula to microdata
disclosure risk assessment", J. Official Statistics 17(4), 2001). The sample is
a draw from Pitman's two-parameter partition (theta > 0, 0 < alpha < 1) with
log-likelihood::

    L = sum_{i=1}^{u-1} log(theta + i alpha) - sum_{i=1}^{n-1} log(theta + i)
        + sum_j f_j sum_{k=1}^{j-1} log(k - alpha)

(theta, alpha) are its maximum (Newton-Raphson on the score equations, sums in
closed form with digamma / trigamma; ARX's moment start values, then fixed
fall-back starts), and the number of population uniques is Hoshino's
``Gamma(theta + 1) / Gamma(theta + alpha) * N ** alpha``. No maximum with
0 < alpha < 1 (e.g. very few sample uniques): no estimate (NaN), as ARX.

**Zayatz** (Zayatz, "Estimation of the number of unique population elements
using a sample", Proc. Survey Research Methods Section, ASA, 1991). The share
of population classes of size ``i`` is taken to be the sample's ``f_i / u``;
with ``h(i) = P(X = 1)`` for ``X ~ Hypergeometric(N, i, n)`` (a class of ``i``
population members leaves exactly one in a sample of ``n`` without
replacement), the chance that a sample unique is a population unique is::

    P = f_1 h(1) / sum_i f_i h(i)        and   uniques = f_1 P / f.

``h`` uses log-gamma with the real ``N`` (ARX truncates N and n to int).

**SNB**, slide negative binomial (Chen & McNulty, "Estimation of the number of
sample and population uniques", J. Official Statistics 14(2), 1998). ``K``
non-empty population classes whose sizes are ``1 + G``, ``G ~ NegBin(alpha, beta)``
(``P(G = g) = Gamma(alpha+g) / (Gamma(alpha) g!) beta^alpha (1-beta)^g``);
Bernoulli sampling with fraction f. With ``d = (1 - f)(1 - beta)``, the
expected numbers of sample classes of size 1 and 2 are::

    E f_1 = K f (beta / (1-d))^alpha (1 + alpha d / (1-d))
    E f_2 = K alpha beta^alpha f^2 (1-beta) (2 - (1-alpha) d) / (2 (1-d)^(alpha+2))

(alpha, beta) solve ``E f_1 = f_1, E f_2 = f_2`` and the number of population
uniques is ``K beta^alpha``. ``K`` is Shlosser's estimator in the form of Haas,
Naughton, Seshadri & Stokes (VLDB 1995, ``D_Sh3``) with ``q = f``::

    K = u + f_1 * [sum_i i q^2 (1-q^2)^(i-1) f_i] / [sum_i (1-q)^i ((1+q)^i - 1) f_i]
              * ([sum_i (1-q)^i f_i] / [sum_i i q (1-q)^(i-1) f_i])^2

*The questioned equation.* ARX's ``ModelSNB`` multiplies by
``(1-d)^(alpha+2)`` in the second equation where the model gives a division
(its own Jacobian, derived for the division, disagrees with its objective),
and its ``K`` subtracts 1 once per histogram entry (``(1-q)^i f_i (1+q)^i - 1``)
instead of inside the bracket. Deriving ``E f_1`` and ``E f_2`` from the
model above (the probability generating function of the thinned negative
binomial; the test suite checks both by direct summation) gives the division,
and ``E f_1`` agrees with ARX. We use the derived equations and ``D_Sh3`` as
published by default; ``snb(..., variant="arx")`` reproduces ARX's two
expressions for comparison. ``f_2 = 0`` leaves the equations without a
solution: no estimate (NaN).

**Dankar's decision rule** (Dankar, El Emam, Neisa & Roffey, "Estimating the
re-identification risk of clinical data sets", BMC Medical Informatics and
Decision Making 12:66, 2012), as ARX implements it: for ``f <= 0.1`` Pitman
(Zayatz when Pitman gives no estimate); otherwise the smaller of Zayatz and SNB
(Zayatz when SNB gives no estimate). "No estimate" is NaN or 0.

Edge cases: no sample uniques gives 0 for every model (as ARX); ``f = 1`` (the
customer base is the population) gives exactly ``f_1`` for every model; an empty
sample gives 0 uniques and a NaN share.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Estimate, Finding, Threshold

MODELS = ("pitman", "zayatz", "snb", "dankar")
#: Dankar et al.'s switch between Pitman and Zayatz / SNB.
DANKAR_SWITCH = 0.1


# ------------------------------------------------------------ special functions
def digamma(x: float) -> float:
    """psi(x) for x > 0: recurrence up to 10, then the asymptotic series."""
    r = 0.0
    while x < 10.0:
        r -= 1.0 / x
        x += 1.0
    x2 = 1.0 / (x * x)
    series = x2 * (1 / 12 - x2 * (1 / 120 - x2 * (1 / 252 - x2 * (1 / 240 - x2 * (1 / 132)))))
    return r + math.log(x) - 0.5 / x - series


def trigamma(x: float) -> float:
    """psi'(x) for x > 0: recurrence up to 10, then the asymptotic series."""
    r = 0.0
    while x < 10.0:
        r += 1.0 / (x * x)
        x += 1.0
    x2 = 1.0 / (x * x)
    series = 1 / 6 - x2 * (1 / 30 - x2 * (1 / 42 - x2 * (1 / 30 - x2 * (5 / 66))))
    return r + 1.0 / x + 0.5 * x2 + series * x2 / x


# ------------------------------------------------------------------ histogram
@dataclass(frozen=True)
class Histogram:
    """Frequencies of frequencies of a sample.

    Parameters
    ----------
    sizes : tuple of int
        Distinct class sizes ``j`` (ascending, positive).
    counts : tuple of int
        ``f_j``: how many classes have size ``j``.
    """

    sizes: tuple[int, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.counts):
            raise ValueError("sizes and counts differ in length")
        if any(s <= 0 for s in self.sizes) or any(c < 0 for c in self.counts):
            raise ValueError("class sizes must be positive and counts non-negative")
        if list(self.sizes) != sorted(set(self.sizes)):
            raise ValueError("class sizes must be distinct and ascending")

    @classmethod
    def of(cls, sizes, counts) -> Histogram:
        pairs = [(int(s), int(c)) for s, c in zip(sizes, counts, strict=True) if int(c) > 0]
        return cls(tuple(s for s, _ in pairs), tuple(c for _, c in pairs))

    def f(self, j: int) -> int:
        """Number of classes of size ``j``."""
        return dict(zip(self.sizes, self.counts, strict=True)).get(j, 0)

    @property
    def classes(self) -> int:
        return sum(self.counts)

    @property
    def records(self) -> int:
        return sum(s * c for s, c in zip(self.sizes, self.counts, strict=True))


def _check_fraction(f: float) -> float:
    f = float(f)
    if not (0.0 < f <= 1.0) or math.isnan(f):
        raise ConfigError(
            f"sampling fraction {f!r} is outside (0, 1]; give the share of the real "
            "population that the customer base covers (e.g. 0.05 for 1 in 20)."
        )
    return f


# -------------------------------------------------------------------- Zayatz
def _log_choose(a: float, b: float) -> float:
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)


def hypergeom_one(population: float, successes: int, draws: int) -> float:
    """P(X = 1) for X ~ Hypergeometric(population, successes, draws), real population."""
    if successes < 1 or draws < 1 or draws - 1 > population - successes:
        return 0.0
    return math.exp(math.log(successes) + _log_choose(population - successes, draws - 1)
                    - _log_choose(population, draws))


def zayatz(hist: Histogram, f: float) -> float:
    """Zayatz (1991) estimate of the number of population uniques.

    Parameters
    ----------
    hist : Histogram
        The sample's frequencies of frequencies.
    f : float
        Sampling fraction in (0, 1].

    Returns
    -------
    float
        Estimated number of population uniques.
    """
    f = _check_fraction(f)
    f1, n = hist.f(1), hist.records
    if f1 == 0 or n == 0:
        return 0.0
    if f == 1.0:
        return float(f1)
    big_n = n / f
    den = sum(c * hypergeom_one(big_n, s, n) for s, c in zip(hist.sizes, hist.counts,
                                                             strict=True))
    p = f1 * hypergeom_one(big_n, 1, n) / den
    return f1 * p / f


# --------------------------------------------------------------------- Pitman
@dataclass(frozen=True)
class PitmanFit:
    """Maximum-likelihood Pitman parameters and the resulting estimate."""

    theta: float
    alpha: float
    uniques: float
    converged: bool


def _pitman_sums(theta: float, alpha: float, hist: Histogram):
    """Score vector and Hessian of the Pitman log-likelihood at (theta, alpha)."""
    u, n = hist.classes, hist.records
    if u - 1 <= 100_000:
        i = np.arange(1, u, dtype=np.float64)
        v = 1.0 / (theta + i * alpha)
        s0, s1 = v.sum(), (i * v).sum()
        t0, t1, t2 = (v * v).sum(), (i * v * v).sum(), (i * i * v * v).sum()
    else:  # closed forms (theta/alpha + i shifts); alpha > 0 in the search domain
        x = theta / alpha
        s0 = (digamma(x + u) - digamma(x + 1)) / alpha
        s1 = ((u - 1) - theta * s0) / alpha
        t0 = (trigamma(x + 1) - trigamma(x + u)) / (alpha * alpha)
        t1 = (s0 - theta * t0) / alpha
        t2 = (s1 - theta * t1) / alpha
    r0 = digamma(theta + n) - digamma(theta + 1)
    r1 = trigamma(theta + 1) - trigamma(theta + n)
    q0 = q1 = 0.0
    p0, p1 = digamma(1 - alpha), trigamma(1 - alpha)
    for j, c in zip(hist.sizes, hist.counts, strict=True):
        if j > 1:
            q0 += c * (digamma(j - alpha) - p0)
            q1 += c * (p1 - trigamma(j - alpha))
    grad = np.array([s0 - r0, s1 - q0])
    hess = np.array([[r1 - t0, -t1], [-t1, -t2 - q1]])
    scale = np.array([max(s0, r0, 1e-300), max(s1, q0, 1e-300)])
    return grad, hess, scale


def _pitman_newton(hist: Histogram, theta: float, alpha: float, max_iter: int = 200):
    for _ in range(max_iter):
        grad, hess, scale = _pitman_sums(theta, alpha, hist)
        if np.all(np.abs(grad) <= 1e-10 * scale):
            return theta, alpha, True
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            return theta, alpha, False
        if not np.all(np.isfinite(step)):
            return theta, alpha, False
        lam = 1.0
        while lam > 1e-12:  # halve the step until it stays in the domain
            t, a = theta - lam * step[0], alpha - lam * step[1]
            if t > 0 and 0 < a < 1:
                break
            lam *= 0.5
        else:
            return theta, alpha, False
        theta, alpha = t, a
    grad, _, scale = _pitman_sums(theta, alpha, hist)
    return theta, alpha, bool(np.all(np.abs(grad) <= 1e-8 * scale))


def pitman_fit(hist: Histogram, f: float) -> PitmanFit:
    """Pitman (Hoshino 2001) maximum-likelihood fit and number of population uniques.

    Parameters
    ----------
    hist : Histogram
        The sample's frequencies of frequencies.
    f : float
        Sampling fraction in (0, 1].

    Returns
    -------
    PitmanFit
        ``uniques`` is NaN when no maximum with ``0 < alpha < 1`` was found or
        the estimate falls outside ``[0, N]``.
    """
    f = _check_fraction(f)
    f1, f2, u, n = hist.f(1), hist.f(2), hist.classes, hist.records
    if f1 == 0 or n == 0:
        return PitmanFit(math.nan, math.nan, 0.0, True)
    if f == 1.0:
        return PitmanFit(math.nan, math.nan, float(f1), True)
    if u < 2 or n < 2:
        return PitmanFit(math.nan, math.nan, math.nan, False)
    # ARX's start values (ModelPitman), then fixed fall-backs.
    c2 = f2 if f2 else 1
    c = f1 * (f1 - 1) / c2
    den = 2 * f1 * u + f1 * c - n * c
    starts = []
    if den:
        t = (n * u * c - f1 * (n - 1) * (2 * u + c)) / den
        starts.append((t, (t * (f1 - n) + (n - 1) * f1) / (n * u)))
    starts += [(1.0, 0.5), (u / 10, 0.2), (10.0, 0.8), (u, 0.05)]
    for t0, a0 in starts:
        if not (math.isfinite(t0) and math.isfinite(a0) and t0 > 0 and 0 < a0 < 1):
            continue
        theta, alpha, ok = _pitman_newton(hist, t0, a0)
        if ok:
            big_n = n / f
            val = math.exp(math.lgamma(theta + 1) - math.lgamma(theta + alpha)
                           + alpha * math.log(big_n))
            if not (0.0 <= val <= big_n):
                val = math.nan
            return PitmanFit(theta, alpha, val, True)
    return PitmanFit(math.nan, math.nan, math.nan, False)


def pitman(hist: Histogram, f: float) -> float:
    """Pitman estimate of the number of population uniques (NaN: no estimate)."""
    return pitman_fit(hist, f).uniques


# ------------------------------------------------------------------------ SNB
def shlosser_classes(hist: Histogram, f: float, variant: str = "paper") -> float:
    """Estimated number of non-empty population classes, ``D_Sh3`` of Haas et al. (1995).

    ``variant="arx"`` reproduces ARX's expression (``- 1`` once per histogram
    entry in the second sum).
    """
    q = _check_fraction(f)
    a = b = c = d = 0.0
    for i, fi in zip(hist.sizes, hist.counts, strict=True):
        a += i * q * q * (1 - q * q) ** (i - 1) * fi
        if variant == "arx":
            b += (1 - q) ** i * fi * (1 + q) ** i - 1
        else:
            b += (1 - q) ** i * ((1 + q) ** i - 1) * fi
        c += (1 - q) ** i * fi
        d += i * q * (1 - q) ** (i - 1) * fi
    return hist.classes + hist.f(1) * (a / b) * (c / d) ** 2


def snb_moments(alpha: float, beta: float, k: float, f: float,
                variant: str = "paper") -> tuple[float, float]:
    """Expected numbers of sample classes of size 1 and 2 under the SNB model."""
    d = (1 - f) * (1 - beta)
    e1 = k * f * (beta / (1 - d)) ** alpha * (alpha * d / (1 - d) + 1)
    common = k * alpha * beta**alpha * f * f * (1 - beta) / 2 * (2 - (1 - alpha) * d)
    e2 = common * (1 - d) ** (alpha + 2) if variant == "arx" else common / (1 - d) ** (alpha + 2)
    return e1, e2


def _softplus(x: float) -> float:
    """log(1 + e^x) without overflow."""
    return x + math.log1p(math.exp(-x)) if x > 0 else math.log1p(math.exp(x))


def _snb_solve(c1: float, c2: float, k: float, f: float, variant: str):
    """Solve E f_1 = c1, E f_2 = c2 for (alpha, beta): Newton on the log equations in
    (log alpha, logit beta) with a finite-difference Jacobian and backtracking."""

    def resid(z):
        # log E f_1 - log c1, log E f_2 - log c2 in log space (alpha = e^z0,
        # beta = logistic(z1)), so that extreme trial points neither overflow nor divide by 0
        try:
            alpha = math.exp(z[0])
            log_b = -_softplus(-z[1])
            log_1mb = -_softplus(z[1])
            d = (1 - f) * math.exp(log_1mb)
            log_1md = math.log1p(-d)
            l1 = (math.log(k * f) + alpha * (log_b - log_1md)
                  + math.log1p(alpha * d / (1 - d)))
            l2 = (math.log(k * alpha * f * f / 2) + alpha * log_b + log_1mb
                  + math.log(2 - (1 - alpha) * d))
            l2 += (alpha + 2) * log_1md if variant == "arx" else -(alpha + 2) * log_1md
        except (ValueError, OverflowError, ZeroDivisionError):
            return None
        if not (math.isfinite(l1) and math.isfinite(l2)):
            return None
        return np.array([l1 - math.log(c1), l2 - math.log(c2)])

    for start in ((0.0, 0.0), (1.0, -1.0), (-1.0, 1.0), (2.0, -2.0), (-2.0, -2.0), (0.0, 2.0)):
        z = np.array(start, dtype=np.float64)
        r = resid(z)
        if r is None:
            continue
        for _ in range(200):
            norm = float(np.abs(r).max())
            if norm < 1e-12:
                break
            jac = np.empty((2, 2))
            ok = True
            for j in range(2):
                h = 1e-6 * max(1.0, abs(z[j]))
                zp, zm = z.copy(), z.copy()
                zp[j] += h
                zm[j] -= h
                rp, rm = resid(zp), resid(zm)
                if rp is None or rm is None:
                    ok = False
                    break
                jac[:, j] = (rp - rm) / (2 * h)
            if not ok:
                break
            try:
                step = np.linalg.solve(jac, r)
            except np.linalg.LinAlgError:
                break
            lam = 1.0
            while lam > 1e-10:
                zn = z - lam * step
                rn = resid(zn) if np.all(np.abs(zn) < 50) else None
                if rn is not None and float(np.abs(rn).max()) < norm:
                    z, r = zn, rn
                    break
                lam *= 0.5
            else:
                break
        if float(np.abs(r).max()) < 1e-9:
            return math.exp(z[0]), 1 / (1 + math.exp(-z[1]))
    return None


def snb(hist: Histogram, f: float, variant: str = "paper") -> float:
    """SNB (Chen & McNulty 1998) estimate of the number of population uniques.

    Parameters
    ----------
    hist : Histogram
        The sample's frequencies of frequencies.
    f : float
        Sampling fraction in (0, 1].
    variant : {"paper", "arx"}
        ``paper``: the equations derived from the model and ``D_Sh3``;
        ``arx``: ARX's second equation and ``K`` (see the module docstring).

    Returns
    -------
    float
        Estimated number of population uniques; NaN when the equations have no
        solution (always when there are no classes of size 2).
    """
    if variant not in ("paper", "arx"):
        raise ValueError(f"unknown SNB variant {variant!r}")
    f = _check_fraction(f)
    c1, c2 = hist.f(1), hist.f(2)
    if c1 == 0 or hist.records == 0:
        return 0.0
    if f == 1.0:
        return float(c1)
    if c2 == 0:
        return math.nan
    k = shlosser_classes(hist, f, variant)
    if not (math.isfinite(k) and k > 0):
        return math.nan
    sol = _snb_solve(c1, c2, k, f, variant)
    if sol is None:
        return math.nan
    alpha, beta = sol
    return k * beta**alpha


# ---------------------------------------------------------------------- Dankar
def _valid(x: float) -> bool:
    return not math.isnan(x) and x != 0.0


@dataclass(frozen=True)
class PopulationUniqueness:
    """Population-uniqueness estimates for one sample.

    Parameters
    ----------
    sampling_fraction : float
        ``f``.
    records : int
        Sample size ``n``.
    population : float
        ``N = n / f``.
    sample_uniques : int
        ``f_1``.
    uniques : dict
        Model name (``pitman``, ``zayatz``, ``snb``, ``dankar``) -> estimated
        number of population uniques (NaN where a model gives no estimate).
    dankar_model : str
        The model Dankar's rule chose (``none`` when no sample uniques).
    snb_variant : str
        Which SNB equations were used.
    """

    sampling_fraction: float
    records: int
    population: float
    sample_uniques: int
    uniques: dict[str, float] = field(default_factory=dict)
    dankar_model: str = "none"
    snb_variant: str = "paper"

    def share(self, model: str = "dankar") -> float:
        """Estimated share of the population that is unique (uniques / N)."""
        if self.population == 0:
            return math.nan
        return self.uniques[model] / self.population

    def finding(self, warn: float | None = None, fail: float | None = None) -> Finding:
        """The Dankar estimate as a :class:`Finding` (share of population uniques).

        Parameters
        ----------
        warn, fail : float, optional
            Thresholds on the share (larger is worse; see :class:`Threshold`).
        """
        value = self.share("dankar")
        return Finding.judged(
            check="reid.population_uniqueness",
            metric="estimated share of the population unique on the exported attributes",
            estimate=Estimate(value),
            threshold=Threshold(warn, fail),
            explanation=(
                f"The {self.records} customers known are taken as {self.sampling_fraction:g} "
                f"of a population of about {self.population:,.0f}; {self.sample_uniques} are "
                f"unique in the customer base, and Dankar's rule ({self.dankar_model}) "
                f"estimates {self.uniques['dankar']:,.1f} population uniques."
            ),
            details={
                "sampling_fraction": self.sampling_fraction,
                "population": self.population,
                "sample_uniques": self.sample_uniques,
                "uniques": {m: (v if math.isfinite(v) else None)
                            for m, v in self.uniques.items()},
                "dankar_model": self.dankar_model,
                "snb_variant": self.snb_variant,
            },
        )


def population_uniqueness(hist: Histogram, f: float,
                          snb_variant: str = "paper") -> PopulationUniqueness:
    """All estimators and Dankar's decision rule for one sample.

    Parameters
    ----------
    hist : Histogram
        The sample's frequencies of frequencies (e.g. from
        :func:`basketguard.kernels.classes.size_histogram` of the customer
        base's class sizes).
    f : float
        Sampling fraction in (0, 1].
    snb_variant : {"paper", "arx"}
        Equations of the SNB model (see :func:`snb`).

    Returns
    -------
    PopulationUniqueness
    """
    f = _check_fraction(f)
    n, f1 = hist.records, hist.f(1)
    base = dict(sampling_fraction=f, records=n, population=n / f, sample_uniques=f1,
                snb_variant=snb_variant)
    if f1 == 0:
        return PopulationUniqueness(**base, uniques=dict.fromkeys(MODELS, 0.0),
                                    dankar_model="none")
    est = {"pitman": pitman(hist, f), "zayatz": zayatz(hist, f),
           "snb": snb(hist, f, snb_variant)}
    if f <= DANKAR_SWITCH:
        model = "pitman" if _valid(est["pitman"]) else "zayatz"
    elif _valid(est["snb"]) and est["snb"] <= est["zayatz"]:
        model = "snb"
    else:
        model = "zayatz"
    est["dankar"] = est[model]
    return PopulationUniqueness(**base, uniques=est, dankar_model=model)
