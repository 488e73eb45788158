"""Findings: the common, typed form of every risk result the engine reports.

A :class:`Finding` is one measured fact about a dataset or segment: a metric,
its value (an :class:`Estimate` with an interval where the value is estimated),
the threshold it was judged against, a severity and an explanation that names
products, categories or attributes, never raw customer ids. ``details`` holds
further aggregates (tables of counts, per-attribute breakdowns); it must stay
free of individual-level data unless the user asked for it.

Every severity is decided in one place: a :class:`Threshold` (warning and
failure levels, a direction) and :func:`judge`; :func:`worst` combines
severities. How severities become process exit codes is the CLI's business
(``basketguard.engine.cli.exitcodes``), not the library's.

Findings are plain frozen dataclasses so that the CLI, the reports and the
Python API share one shape; :meth:`Finding.to_dict` is the JSON form.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.StrEnum):
    """How a finding is judged against its threshold."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    INFO = "info"  # measured, no threshold applies


#: Order of severities from best to worst (INFO ranks with PASS: nothing to act on).
_RANK = {Severity.INFO: 0, Severity.PASS: 0, Severity.WARN: 1, Severity.FAIL: 2}

#: Values within this relative distance of a level count as at the level (rounding
#: in ``1 / k`` or in a mean must not fail a policy the data meets exactly).
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Threshold:
    """Warning and failure levels of a measure, and which way is worse.

    A level is a limit the policy still allows: a value *at* the level passes,
    a value strictly beyond it (above for ``direction="max"``, below for
    ``direction="min"``) warns or fails. Values within a relative ``1e-12`` of a
    level count as at it.

    Parameters
    ----------
    warn, fail : float or None
        The levels; with neither, findings are informational.
    direction : {"max", "min"}
        ``"max"``: larger is worse (a share of unique members, a risk);
        ``"min"``: smaller is worse (a class size, an audience size).
    """

    warn: float | None = None
    fail: float | None = None
    direction: str = "max"

    def __post_init__(self) -> None:
        if self.direction not in ("max", "min"):
            raise ValueError(f"threshold direction must be 'max' or 'min', not {self.direction!r}")
        for name in ("warn", "fail"):
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"threshold {name} level must be a finite number, not {v}")
        w, f = self.warn, self.fail
        if w is not None and f is not None and (w > f if self.direction == "max" else w < f):
            side = "above" if self.direction == "max" else "below"
            raise ValueError(f"the warning level {w:g} lies {side} the failure level {f:g}, so "
                             "the warning band is empty; give a warning level on the safe side "
                             "of the failure level")

    @property
    def limit(self) -> float | None:
        """The level reported with a finding: the failure level, else the warning level."""
        return self.fail if self.fail is not None else self.warn

    def beyond(self, value: float, level: float) -> bool:
        """True when ``value`` is strictly on the worse side of ``level``."""
        slack = _TOLERANCE * max(1.0, abs(level))
        if self.direction == "max":
            return value > level + slack
        return value < level - slack

    def to_dict(self) -> dict[str, Any]:
        return {"warn": self.warn, "fail": self.fail, "direction": self.direction}


def judge(value: float, threshold: Threshold | None) -> Severity:
    """Severity of a measured value against a threshold.

    Strictly beyond ``fail``: FAIL; else strictly beyond ``warn``: WARN; else
    PASS. No threshold (or one without levels): INFO. NaN (nothing could be
    measured) warns, so that a gate never passes on a value it could not compute.
    """
    if threshold is None or (threshold.warn is None and threshold.fail is None):
        return Severity.INFO
    if math.isnan(value):
        return Severity.WARN
    if threshold.fail is not None and threshold.beyond(value, threshold.fail):
        return Severity.FAIL
    if threshold.warn is not None and threshold.beyond(value, threshold.warn):
        return Severity.WARN
    return Severity.PASS


def worst(severities: Iterable[Severity]) -> Severity:
    """The worst of some severities (PASS when there are none or all are INFO)."""
    out = Severity.PASS
    for s in severities:
        if _RANK[s] > _RANK[out]:
            out = s
    return out


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
    threshold : Threshold or None
        The levels it was judged against (None: informational).
    severity : Severity
        ``pass`` / ``warn`` / ``fail``, or ``info`` when no threshold applies;
        :meth:`judged` computes it from the threshold.
    explanation : str
        One or two sentences naming the products, categories or attributes involved.
    details : dict
        Further aggregates (JSON-serializable), never raw ids by default.
    """

    check: str
    metric: str
    estimate: Estimate
    threshold: Threshold | None = None
    severity: Severity = Severity.INFO
    explanation: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def judged(cls, check: str, metric: str, estimate: Estimate, threshold: Threshold | None,
               explanation: str = "", details: dict[str, Any] | None = None) -> Finding:
        """A finding whose severity is :func:`judge` of its value against ``threshold``."""
        return cls(check, metric, estimate, threshold, judge(estimate.value, threshold),
                   explanation, details or {})

    def to_dict(self) -> dict[str, Any]:
        t = self.threshold
        return {
            "check": self.check,
            "metric": self.metric,
            **self.estimate.to_dict(),
            "threshold": None if t is None else t.limit,
            "levels": None if t is None else t.to_dict(),
            "severity": self.severity.value,
            "explanation": self.explanation,
            "details": self.details,
        }


def findings_table(findings: Iterable[Finding]):
    """Findings as an Arrow table, one row each (``--findings-table``).

    Columns: ``check``, ``metric``, ``value``, ``interval_low``,
    ``interval_high``, ``threshold``, ``severity``, ``explanation`` and
    ``details`` (the JSON aggregates). Aggregates only, as in the reports.
    """
    import json

    import pyarrow as pa

    rows = [f.to_dict() for f in findings]

    def num(x):
        return None if x is None else float(x)

    return pa.table({
        "check": pa.array([r["check"] for r in rows], pa.string()),
        "metric": pa.array([r["metric"] for r in rows], pa.string()),
        "value": pa.array([num(r["value"]) for r in rows], pa.float64()),
        "interval_low": pa.array([num((r.get("interval") or [None, None])[0]) for r in rows],
                                 pa.float64()),
        "interval_high": pa.array([num((r.get("interval") or [None, None])[1]) for r in rows],
                                  pa.float64()),
        "threshold": pa.array([num(r["threshold"]) for r in rows], pa.float64()),
        "severity": pa.array([r["severity"] for r in rows], pa.string()),
        "explanation": pa.array([r["explanation"] for r in rows], pa.string()),
        "details": pa.array([json.dumps(r.get("details", {}), sort_keys=True, default=str)
                             for r in rows], pa.string()),
    })
