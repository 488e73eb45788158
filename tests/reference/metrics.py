"""Plain references for the ranking metrics (models.learned.metrics), from its docstrings.

- ROC AUC: the share of (positive, negative) pairs in which the positive scores
  higher, a tie counting one half, by a loop over every pair. DeLong's variance
  from the *placement values* (for each positive, the share of negatives it
  beats; for each negative, the share of positives that beat it; ties one
  half), ``S10 / m + S01 / n`` with sample variances, and the 95 % interval
  ``expit(logit(AUC) +- z * se / (AUC (1 - AUC)))`` (the delta method on the
  logit scale).
- Average precision: for each positive, the precision at the threshold of its
  own score with every tied score included (customers scoring at least as high),
  averaged over the positives; the interval of Boyd, Eng & Page (2013):
  ``expit(logit(AP) +- z / sqrt(m AP (1 - AP)))``.
- Precision at recall ``r``: over the distinct scores from the highest down, the
  first threshold whose recall (positives at or above it over all positives)
  reaches ``r``; its precision.

No sorting tricks, no ranks, no cumulative sums: counts by comparison, in
Python floats and exact :class:`~fractions.Fraction` where a comparison decides.
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist, variance

Z = NormalDist().inv_cdf(0.975)


def _split(scores, labels) -> tuple[list[float], list[float]]:
    pos = [float(s) for s, y in zip(scores, labels, strict=True) if y]
    neg = [float(s) for s, y in zip(scores, labels, strict=True) if not y]
    return pos, neg


def _psi(x: float, y: float) -> float:
    """1 when the positive ``x`` beats the negative ``y``, 1/2 on a tie, else 0."""
    return 1.0 if x > y else 0.5 if x == y else 0.0


def auc(scores, labels) -> float:
    """Share of (positive, negative) pairs ranked correctly, ties one half (NaN without a pair)."""
    pos, neg = _split(scores, labels)
    if not pos or not neg:
        return math.nan
    wins = Fraction(0)
    for x in pos:
        for y in neg:
            wins += Fraction(_psi(x, y))
    return float(wins / (len(pos) * len(neg)))


def delong_se(scores, labels) -> float:
    """DeLong's standard error of the AUC (needs two or more of each class)."""
    pos, neg = _split(scores, labels)
    v10 = [sum(_psi(x, y) for y in neg) / len(neg) for x in pos]
    v01 = [sum(_psi(x, y) for x in pos) / len(pos) for y in neg]
    return math.sqrt(variance(v10) / len(pos) + variance(v01) / len(neg))


def _expit(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def logit_interval(p: float, se_logit: float) -> tuple[float, float]:
    """``expit(logit(p) -+ z se_logit)``."""
    eta = math.log(p / (1.0 - p))
    return _expit(eta - Z * se_logit), _expit(eta + Z * se_logit)


def auc_interval(scores, labels) -> tuple[float, float]:
    """DeLong's 95 % interval on the logit scale (needs 0 < AUC < 1, two of each class)."""
    a = auc(scores, labels)
    return logit_interval(a, delong_se(scores, labels) / (a * (1.0 - a)))


def average_precision(scores, labels) -> float:
    """Mean over positives of the precision among customers scoring at least as high."""
    scores = [float(s) for s in scores]
    labels = [bool(y) for y in labels]
    m = sum(labels)
    if m == 0:
        return math.nan
    total = Fraction(0)
    for s, y in zip(scores, labels, strict=True):
        if not y:
            continue
        above = [yy for ss, yy in zip(scores, labels, strict=True) if ss >= s]
        total += Fraction(sum(above), len(above))
    return float(total / m)


def ap_interval(scores, labels) -> tuple[float, float]:
    """Boyd, Eng & Page's logit interval (needs 0 < AP < 1)."""
    ap = average_precision(scores, labels)
    m = sum(bool(y) for y in labels)
    return logit_interval(ap, 1.0 / math.sqrt(m * ap * (1.0 - ap)))


def precision_at_recall(scores, labels, recall: float) -> float:
    """Precision at the highest threshold whose recall reaches ``recall`` (NaN without positives)."""
    scores = [float(s) for s in scores]
    labels = [bool(y) for y in labels]
    m = sum(labels)
    if m == 0:
        return math.nan
    for t in sorted(set(scores), reverse=True):
        hits = sum(1 for s, y in zip(scores, labels, strict=True) if y and s >= t)
        flagged = sum(1 for s in scores if s >= t)
        if hits / m >= recall:
            return hits / flagged
    raise ValueError(f"recall {recall} is never reached")
