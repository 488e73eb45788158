"""Findings: the common, typed form of every risk result the engine reports.

A :class:`Finding` is one measured fact about a dataset or segment: a metric,
its value (an :class:`Estimate` with an interval where the value is estimated),
the threshold it was judged against, a severity and an explanation that names
products, categories or attributes, never raw customer ids. ``details`` holds
further aggregates (tables of counts, per-attribute breakdowns); it must stay
free of individual-level data unless the user asked for it.

Findings are plain frozen dataclasses so that the CLI, the reports and the
Python API share one shape; :meth:`Finding.to_dict` is the JSON form.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    """How a finding is judged against its threshold."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"  # measured, no threshold applies


@dataclass(frozen=True)
class Estimate:
    """A number with its uncertainty.

    Parameters
    ----------
    value : float
        Point estimate (or the exact value, when ``low`` / ``high`` are None).
    low, high : float or None
        Interval bounds, where the value is estimated.
    confidence : float or None
        Coverage of the interval (e.g. 0.95).
    method : str
        How the interval was computed (e.g. ``"wilson"``, ``"bootstrap"``).
    """

    value: float
    low: float | None = None
    high: float | None = None
    confidence: float | None = None
    method: str = ""

    def __post_init__(self) -> None:
        if (self.low is None) != (self.high is None):
            raise ValueError("an interval needs both bounds")
        if self.low is not None and not (self.low <= self.high):
            raise ValueError(f"interval bounds out of order: {self.low} > {self.high}")

    @property
    def exact(self) -> bool:
        return self.low is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _num(self.value)}
        if self.low is not None:
            out["interval"] = [_num(self.low), _num(self.high)]
            out["confidence"] = self.confidence
            out["method"] = self.method
        return out


def _num(x: float) -> float | None:
    """JSON-safe number (NaN and infinities become null)."""
    x = float(x)
    return x if math.isfinite(x) else None


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Estimate:
    """Share ``successes / trials`` with a Wilson score interval.

    Parameters
    ----------
    successes, trials : int
        Counts, ``0 <= successes <= trials``.
    confidence : float
        Two-sided coverage; 0.90, 0.95 and 0.99 use exact normal quantiles,
        others are computed with :func:`statistics.NormalDist`.

    Returns
    -------
    Estimate
        NaN value with no interval when ``trials == 0``.
    """
    if trials < 0 or not (0 <= successes <= max(trials, 0)):
        raise ValueError(f"bad counts: {successes} of {trials}")
    if trials == 0:
        return Estimate(float("nan"))
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    # the bounds contain p by construction; clamp away rounding (k = 0 gives ~1e-17)
    low = 0.0 if successes == 0 else min(p, max(0.0, centre - half))
    high = 1.0 if successes == trials else max(p, min(1.0, centre + half))
    return Estimate(p, low, high, confidence, "wilson")


@dataclass(frozen=True)
class Finding:
    """One judged risk result.

    Parameters
    ----------
    check : str
        Dotted name of the check (``"inference.pregnancy"``, ``"reid.unicity"``).
    metric : str
        What was measured, in words (``"share of members unique from 4 items"``).
    estimate : Estimate
        The value, with an interval where estimated.
    threshold : float or None
        The policy threshold it was judged against: the fail level, or the
        warning level when there is no fail level.
    severity : Severity
        ``pass`` / ``warn`` / ``fail``, or ``info`` when no threshold applies.
    explanation : str
        One or two sentences naming the products, categories or attributes involved.
    details : dict
        Further aggregates (JSON-serializable), never raw ids by default.
    """

    check: str
    metric: str
    estimate: Estimate
    threshold: float | None = None
    severity: Severity = Severity.INFO
    explanation: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "metric": self.metric,
            **self.estimate.to_dict(),
            "threshold": self.threshold,
            "severity": self.severity.value,
            "explanation": self.explanation,
            "details": self.details,
        }


def judge(value: float, warn: float | None, fail: float | None) -> Severity:
    """Severity of a risk value where larger is worse.

    ``value >= fail`` fails, ``value >= warn`` warns, otherwise passes; with no
    thresholds the finding is informational. NaN (nothing measured) warns, so
    that a gate never passes on a value it could not compute.
    """
    if warn is None and fail is None:
        return Severity.INFO
    if math.isnan(value):
        return Severity.WARN
    if fail is not None and value >= fail:
        return Severity.FAIL
    if warn is not None and value >= warn:
        return Severity.WARN
    return Severity.PASS
