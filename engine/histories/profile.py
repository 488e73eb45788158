"""``basketguard profile``: what is in the basket lines, in aggregates only.

Customers, items, baskets, lines, the time span, lines-per-customer and
basket-size percentiles, and rows dropped by validation, by reason. No
customer id or individual history appears in a profile.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from basketguard.engine.histories.build import Histories

PERCENTILES = (5, 25, 50, 75, 95, 99)


def _distribution(values: np.ndarray) -> dict[str, float]:
    if values.shape[0] == 0:
        return {"mean": 0.0, "min": 0, "max": 0, **{f"p{p}": 0.0 for p in PERCENTILES}}
    pct = np.percentile(values, PERCENTILES)
    out: dict[str, float] = {
        "mean": round(float(values.mean()), 4),
        "min": int(values.min()),
        "max": int(values.max()),
    }
    out.update({f"p{p}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)})
    return out


def _date(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=int(day))).isoformat()


#: What ``build`` always holds: facts of the data, the same on every run.
BUILD_FACTS = ("input_sorted", "customers_reordered")
#: What ``build`` adds with ``timings``: how this run went (cache state, seconds).
BUILD_RUN = ("cache", "read_seconds", "build_seconds")


def profile_histories(hist: Histories, project_name: str = "", *,
                      timings: bool = False) -> dict[str, Any]:
    """Aggregate profile of built histories.

    Parameters
    ----------
    hist : Histories
    project_name : str
        Shown in the report.
    timings : bool
        Add how this run went to ``build``: the cache state (hit, stored, ...)
        and the read and build seconds. Without it the profile depends on the
        data alone, so the same input gives the same bytes on every run.

    Returns
    -------
    dict
        JSON-able: ``customers``, ``items``, ``items_bought``, ``baskets``,
        ``lines``, ``time_span``, ``lines_per_customer``, ``basket_size``,
        ``dropped`` (reason -> rows), ``duplicates``, ``build``.
    """
    lines_per_customer = np.diff(hist.offsets)
    basket_sizes = np.bincount(hist.basket) if hist.n_lines else np.empty(0, np.int64)
    basket_sizes = basket_sizes[basket_sizes > 0]
    items_bought = int(np.count_nonzero(np.bincount(hist.item, minlength=hist.n_items))) \
        if hist.n_lines else 0
    info = hist.info
    dropped = {k: int(v) for k, v in info.get("dropped", {}).items() if v}
    span: dict[str, Any] = {}
    if hist.n_lines:
        first, last = int(hist.day.min()), int(hist.day.max())
        span = {"first_day": _date(first), "last_day": _date(last), "days": last - first + 1}
    return {
        "project": project_name,
        "source": info.get("source", ""),
        "customers": hist.n_customers,
        "items": hist.n_items,
        "items_bought": items_bought,
        "baskets": int(basket_sizes.shape[0]),
        "lines": hist.n_lines,
        "rows_read": int(info.get("rows_read", hist.n_lines)),
        "time_span": span,
        "lines_per_customer": _distribution(lines_per_customer),
        "basket_size": _distribution(basket_sizes),
        "dropped": dropped,
        "dropped_total": int(sum(dropped.values())),
        "duplicates": {"found": int(info.get("duplicates_found", 0)),
                       "kept": int(info.get("duplicates_kept", 0))},
        "baskets_derived": bool(info.get("baskets_derived", False)),
        "build": {k: info[k] for k in BUILD_FACTS + (BUILD_RUN if timings else ())
                  if k in info},
    }
