"""Intervals of estimated shares: Wilson score intervals, plain and clustered.

Every share the engine reports as an estimate carries an interval built here,
so that two checks never compute "the same" interval two ways.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from basketguard.engine.findings import Estimate


def z_of(confidence: float) -> float:
    """Two-sided normal quantile of a coverage (``0.95`` -> 1.96)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), not {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_bounds(p: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score bounds of a share ``p`` observed on an effective size ``n > 0``.

    Bounds are clamped to ``[0, p]`` and ``[p, 1]``: they always contain ``p``
    (without the clamp, rounding gives bounds like 1e-17 at ``p = 0``).
    """
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Estimate:
    """Share ``successes / trials`` with a Wilson score interval.

    Parameters
    ----------
    successes, trials : int
        Counts, ``0 <= successes <= trials``.
    confidence : float
        Two-sided coverage.

    Returns
    -------
    Estimate
        NaN value with no interval when ``trials == 0``.
    """
    if trials < 0 or not (0 <= successes <= max(trials, 0)):
        raise ValueError(f"bad counts: {successes} of {trials}")
    if trials == 0:
        return Estimate(float("nan"))
    p = successes / trials
    low, high = wilson_bounds(p, trials, z_of(confidence))
    return Estimate(p, low, high, confidence, "wilson")


def cluster_wilson(unique: int, unique_sq: int, members: int, draws: int,
                   confidence: float = 0.95) -> Estimate:
    """Share of successful draws, ``draws`` per member, with a Wilson interval over members.

    Draws of one member are correlated, so the interval uses an effective
    sample size from the between-member variance of each member's success
    rate (a design effect): ``n_eff = p (1 - p) / var(mean)``, kept within
    ``[members, members * draws]``.

    Parameters
    ----------
    unique, unique_sq : int
        Sum over members of their successful draws, and of its square.
    members, draws : int
        Members and draws per member.
    confidence : float
        Two-sided coverage.

    Returns
    -------
    Estimate
        NaN without members or draws.
    """
    trials = members * draws
    if trials == 0:
        return Estimate(float("nan"))
    p = unique / trials
    if members > 1:
        mean_r = unique / members / draws
        var_r = (unique_sq / draws**2 - members * mean_r**2) / (members - 1)
        var = max(var_r, 0.0) / members
    else:
        var = 0.0
    n_eff = p * (1 - p) / var if var > 0 else float(members)
    n_eff = min(max(n_eff, float(members)), float(trials))
    low, high = wilson_bounds(p, n_eff, z_of(confidence))
    return Estimate(p, low, high, confidence, "wilson over members (effective size)")
