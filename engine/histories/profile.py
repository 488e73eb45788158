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


def profile_histories(hist: Histories, project_name: str = "") -> dict[str, Any]:
    """Aggregate profile of built histories.

    Parameters
    ----------
    hist : Histories
    project_name : str
        Shown in the report.

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
        "build": {k: info[k] for k in ("cache", "input_sorted", "customers_reordered",
                                        "read_seconds", "build_seconds") if k in info},
    }


def format_profile(p: dict[str, Any]) -> str:
    """Readable text of a profile (for a terminal)."""

    def n(x) -> str:
        return f"{x:,}" if isinstance(x, int) else f"{x:,.2f}"

    rows = [
        f"basketguard profile: {p['project']}",
        f"  source            {p['source']}",
        f"  lines             {n(p['lines'])}  (of {n(p['rows_read'])} rows read)",
        f"  customers         {n(p['customers'])}",
        f"  items             {n(p['items'])}",
        f"  baskets           {n(p['baskets'])}"
        + ("  (derived from customer + timestamp)" if p["baskets_derived"] else ""),
    ]
    span = p["time_span"]
    if span:
        rows.append(f"  time span         {span['first_day']} .. {span['last_day']}"
                    f"  ({n(span['days'])} days)")
    for title, key in (("lines / customer", "lines_per_customer"), ("basket size", "basket_size")):
        d = p[key]
        rows.append(
            f"  {title:<17} mean {d['mean']:.2f}  p5 {d['p5']:g}  p25 {d['p25']:g}  "
            f"median {d['p50']:g}  p75 {d['p75']:g}  p95 {d['p95']:g}  p99 {d['p99']:g}  "
            f"max {n(d['max'])}"
        )
    if p["dropped"]:
        rows.append(f"  dropped rows      {n(p['dropped_total'])}")
        for reason, count in sorted(p["dropped"].items(), key=lambda kv: -kv[1]):
            rows.append(f"    {reason:<24} {n(count)}")
    else:
        rows.append("  dropped rows      none")
    dup = p["duplicates"]
    if dup["found"]:
        state = "kept" if dup["kept"] else "dropped"
        rows.append(f"  exact duplicates  {n(dup['found'])} ({state})")
    cat = p.get("catalog")
    if cat:
        rows.append(f"  catalog           {n(cat['catalog_items'])} items; "
                    f"{n(cat['items_in_catalog'])} of the {n(p['items'])} items in the lines "
                    f"are listed ({n(cat['items_missing'])} missing)")
    b = p["build"]
    if b:
        rows.append("  build             " + ", ".join(f"{k}={v}" for k, v in b.items()))
    return "\n".join(rows)
