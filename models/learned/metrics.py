"""Ranking metrics of a detector's scores against labels, with intervals.

Every metric here is a pure function of ``(scores, labels)`` and deterministic:

- :func:`roc_auc`: the Mann-Whitney probability that a random positive scores
  above a random negative, ties counting one half; its interval is DeLong's
  (DeLong, DeLong & Clarke-Pearson 1988), from the placement values, on the
  logit scale so it stays inside (0, 1).
- :func:`average_precision`: the area under the precision-recall curve as the
  mean precision at the rank of each positive (all tied scores enter together);
  its interval is the logit interval of Boyd, Eng & Page (2013).
- :func:`precision_at_recall`: precision at the highest score threshold whose
  recall reaches the given value (ties included).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_Z = 1.959963984540054  # two-sided 95 %


@dataclass(frozen=True)
class Interval:
    """An estimate with a 95 % interval (``low`` <= ``value`` <= ``high``)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": _r(self.value), "low": _r(self.low), "high": _r(self.high)}


def _r(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels).astype(bool)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError("scores and labels must be 1-d arrays of one length")
    return scores, labels


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` with ties at their average rank."""
    order = np.argsort(x, kind="stable")
    s = x[order]
    start = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    ends = np.r_[start[1:], s.size]
    ranks = np.empty(x.size)
    ranks[order] = np.repeat((start + ends + 1) / 2.0, ends - start)
    return ranks


def _logit_interval(p: float, se_logit: float) -> tuple[float, float]:
    if not 0.0 < p < 1.0 or not math.isfinite(se_logit):
        return p, p
    eta = math.log(p / (1.0 - p))
    lo, hi = eta - _Z * se_logit, eta + _Z * se_logit
    return 1.0 / (1.0 + math.exp(-lo)), 1.0 / (1.0 + math.exp(-hi))


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> Interval:
    """ROC AUC with DeLong's 95 % interval (NaN without positives or negatives).

    Parameters
    ----------
    scores : float array
        Higher means more likely positive.
    labels : bool array
        True for positives.

    Returns
    -------
    Interval
    """
    scores, labels = _check(scores, labels)
    m, n = int(labels.sum()), int((~labels).sum())
    if m == 0 or n == 0:
        nan = float("nan")
        return Interval(nan, nan, nan)
    r_all = _midranks(scores)
    r_pos = _midranks(scores[labels])
    r_neg = _midranks(scores[~labels])
    auc = (r_all[labels].sum() - m * (m + 1) / 2.0) / (m * n)
    # placement values: share of the other class each case beats (ties one half)
    v10 = (r_all[labels] - r_pos) / n
    v01 = 1.0 - (r_all[~labels] - r_neg) / m
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    se = math.sqrt(var)
    lo, hi = _logit_interval(auc, se / (auc * (1.0 - auc)) if 0.0 < auc < 1.0 else float("nan"))
    return Interval(float(auc), float(lo), float(hi))


def average_precision(scores: np.ndarray, labels: np.ndarray) -> Interval:
    """Area under the precision-recall curve with the logit 95 % interval.

    Tied scores form one threshold: every positive in a tie group gets the
    precision at the end of the group.
    """
    scores, labels = _check(scores, labels)
    m = int(labels.sum())
    if m == 0:
        nan = float("nan")
        return Interval(nan, nan, nan)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each tie group
    tp_end = tp[ends]
    prec = tp_end / (ends + 1.0)
    new_pos = np.diff(np.r_[0, tp_end])
    ap = float((prec * new_pos).sum() / m)
    if 0.0 < ap < 1.0:
        lo, hi = _logit_interval(ap, 1.0 / math.sqrt(m * ap * (1.0 - ap)))
    else:
        lo = hi = ap
    return Interval(ap, float(lo), float(hi))


def precision_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float = 0.5) -> float:
    """Precision at the highest threshold whose recall reaches ``recall`` (ties included)."""
    scores, labels = _check(scores, labels)
    m = int(labels.sum())
    if m == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    ends = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    # recall as a ratio (7 / 100 >= 0.07 holds, 7 >= 0.07 * 100 does not in binary)
    hit = np.flatnonzero(tp[ends] / m >= recall)
    end = ends[hit[0]]
    return float(tp[end] / (end + 1.0))
