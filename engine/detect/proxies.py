"""Proxy discovery: which items, concepts and taxonomy nodes give a label away.

:func:`proxy_table` ranks every candidate group (every item bought, every
concept with members, every taxonomy node) by its association with the label,
from the customer counts of one :func:`basketguard.engine.detect.features.support`
pass: support among positives and negatives, confidence, lift, mutual
information, a two-sided Fisher exact p-value and its Benjamini-Hochberg
q-value (:mod:`basketguard.engine.detect.proxystats`), plus the learned model's
mean SHAP contribution (LightGBM ``pred_contrib``) of the group's feature
columns over the positives. Proxies nobody planted are kept and shown with
their q-values: the point is to see what the data gives away.

:func:`proxy_signature` turns the top enriched, significant groups into a
signature file the scan loads: "the 25 products" the data reveals. Groups that
mostly repeat a group already chosen (half of the smaller one's items shared)
are skipped, so one purchase does not count several times; each weight is the
group's log odds ratio; with event dates each feature gets the median day of
its first purchase relative to the event (``stage_day``); the link is fitted
by scanning the generated signature over the training customers.
"""

from __future__ import annotations

import datetime
import math
from typing import Any

import numpy as np
import pyarrow as pa

from basketguard.engine.detect import proxystats
from basketguard.engine.detect.features import FeatureGroups
from basketguard.engine.histories.build import Histories
from basketguard.kernels.features import first_days
from basketguard.kernels.windows import NO_DAY

#: Groups listed in the JSON report (the Parquet table holds all of them).
REPORT_TOP = 50


def proxy_table(groups: FeatureGroups, counts: np.ndarray, n_pos: int, n_neg: int,
                contribution: dict[str, float] | None = None, alpha: float = 0.05,
                min_customers: int = 1) -> pa.Table:
    """The ranked proxy table of every group bought by ``min_customers`` or more.

    Parameters
    ----------
    groups : FeatureGroups
        The candidate groups.
    counts : int64 array (2, n_groups)
        Customers with each group among negatives (row 0) and positives (row 1).
    n_pos, n_neg : int
        Labelled customers of each class.
    contribution : dict, optional
        Group key -> mean SHAP contribution of its columns over the positives.
    alpha : float
        False-discovery rate: ``significant`` is ``q_value <= alpha``.
    min_customers : int
        Groups bought by fewer labelled customers are left out of the table.

    Returns
    -------
    pyarrow.Table
        One row per group, best first: ``rank``, ``group``, ``kind``, ``title``,
        ``positives_with``, ``negatives_with``, ``support``, ``support_pos``,
        ``support_neg``, ``confidence``, ``lift``, ``mutual_information``,
        ``log_odds_ratio``, ``direction``, ``p_value``, ``q_value``,
        ``significant``, ``model_contribution``.
    """
    pos = counts[1].astype(np.int64)
    neg = counts[0].astype(np.int64)
    stats = proxystats.association(pos, neg, n_pos, n_neg)
    keep = np.flatnonzero(pos + neg >= min_customers)
    # false discoveries are controlled over the groups the table shows (tested = its rows)
    q_all = np.full(pos.size, np.nan)
    q_all[keep] = proxystats.benjamini_hochberg(np.asarray(stats["p_value"])[keep])
    stats = dict(stats, q_value=q_all)
    order = keep[proxystats.rank({k: np.asarray(v)[keep] for k, v in stats.items()})]
    contribution = contribution or {}
    keys = [groups.keys[i] for i in order]
    lor = np.log((pos[order] + 0.5) * (n_neg - neg[order] + 0.5)
                 / ((neg[order] + 0.5) * (n_pos - pos[order] + 0.5)))
    q = q_all[order]

    def col(name: str) -> pa.Array:
        return pa.array(np.asarray(stats[name])[order])

    return pa.table({
        "rank": pa.array(np.arange(1, order.size + 1, dtype=np.int32)),
        "group": pa.array(keys, pa.string()),
        "kind": pa.array([k.split(":", 1)[0] for k in keys], pa.string()),
        "title": pa.array([groups.titles[i] for i in order], pa.string()),
        "positives_with": pa.array(pos[order]), "negatives_with": pa.array(neg[order]),
        "support": col("support"), "support_pos": col("support_pos"),
        "support_neg": col("support_neg"), "confidence": col("confidence"),
        "lift": col("lift"), "mutual_information": col("mutual_information"),
        "log_odds_ratio": pa.array(lor),
        "direction": pa.array(np.asarray(stats["direction"], np.int8)[order]),
        "p_value": col("p_value"), "q_value": pa.array(q),
        "significant": pa.array(q <= alpha),
        "model_contribution": pa.array([contribution.get(k) for k in keys], pa.float64()),
    })


def report_rows(table: pa.Table, top: int = REPORT_TOP) -> list[dict[str, Any]]:
    """The first ``top`` rows as JSON-friendly dicts (aggregates only: no customer appears)."""
    out = []
    for row in table.slice(0, top).to_pylist():
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                        round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
    return out


def _value_of(key: str) -> tuple[str, str]:
    kind, rest = key.split(":", 1)
    return kind, rest


def choose_proxies(table: pa.Table, groups: FeatureGroups, top: int = 25,
                   overlap: float = 0.5) -> list[int]:
    """Rows of the top enriched, significant groups that do not repeat a chosen one.

    A group is skipped when at least ``overlap`` of the smaller of it and a
    chosen group's items are shared.
    """
    where = {k: i for i, k in enumerate(groups.keys)}
    members = groups.members()
    chosen_sets: list[set[int]] = []
    rows = []
    sig = table.column("significant").to_pylist()
    direction = table.column("direction").to_pylist()
    for r, key in enumerate(table.column("group").to_pylist()):
        if len(rows) >= top:
            break
        if not sig[r] or direction[r] <= 0:
            continue
        items = set(members[where[key]].tolist())
        if not items:
            continue
        if any(len(items & c) >= overlap * min(len(items), len(c)) for c in chosen_sets):
            continue
        chosen_sets.append(items)
        rows.append(r)
    return rows


def _feature_name(key: str, used: set[str]) -> str:
    import re

    base = re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")[:48] or "proxy"
    if not base[0].isalpha():
        base = "f_" + base
    name, k = base, 2
    while name in used:
        name, k = f"{base}_{k}", k + 1
    used.add(name)
    return name


def _toml_str(s: str) -> str:
    """A TOML basic string of ``s`` (quotes, backslashes and control characters escaped)."""
    out = []
    for ch in str(s):
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _comment(s: str) -> str:
    """``s`` on one line, safe inside a ``#`` comment."""
    return "".join(" " if ord(ch) < 0x20 or ord(ch) == 0x7F else ch for ch in str(s))


def proxy_signature(table: pa.Table, rows: list[int], *, name: str, title: str,
                    sensitivity: str, gdpr_art9: str, window_days: int, threshold: float,
                    intercept: float, slope: float, source: str, item_ints: bool,
                    stage_days: dict[str, tuple[int, int]] | None = None,
                    calibrated_on: str = "") -> str:
    """The TOML text of a signature built from proxy rows (see the module docstring)."""
    keys = table.column("group").to_pylist()
    titles = table.column("title").to_pylist()
    lor = table.column("log_odds_ratio").to_pylist()
    q = table.column("q_value").to_pylist()
    lift = table.column("lift").to_pylist()
    stage_days = stage_days or {}
    today = datetime.date.today().isoformat()
    lines = [
        f"# Generated by `basketguard learn` on {today} from {_comment(source)}.",
        "# The groups most associated with the label (Fisher exact test, Benjamini-Hochberg",
        "# q-values), one per distinct set of items; weights are log odds ratios. Review it",
        "# before use: a proxy is a correlation in this data, not a cause.",
        f"name = {_toml_str(name)}",
        f"title = {_toml_str(title)}",
        f"sensitivity = {_toml_str(sensitivity)}",
        f"gdpr_art9 = {_toml_str(gdpr_art9)}",
        f"window_days = {int(window_days)}",
        f"threshold = {threshold}",
        "rationale = " + _toml_str(f"Learned proxies of {title.lower()}: the {len(rows)} item "
                                   "groups whose purchase is most associated with the label in "
                                   "the training data."),
        f"sources = [{_toml_str('basketguard learn: ' + source)}]",
        "",
        "[link]",
        f"intercept = {intercept:.4f}",
        f"slope = {slope:.4f}",
        f"calibrated_on = {_toml_str(calibrated_on or 'the training customers')}",
    ]
    used: set[str] = set()
    for r in rows:
        kind, rest = _value_of(keys[r])
        weight = round(min(max(float(lor[r]), 0.05), 20.0), 3)
        lines += ["", "[[feature]]", f"name = {_toml_str(_feature_name(keys[r], used))}",
                  f"# {_comment(titles[r])}: lift {lift[r]:.2f}, q-value {q[r]:.2e}",
                  f"weight = {weight}"]
        if kind == "concept":
            lines.append(f"concepts = [{_toml_str(rest)}]")
        elif kind == "level":
            level, value = rest.split("=", 1)
            lines.append(f"levels = {{ {_toml_str(level)} = [{_toml_str(value)}] }}")
        else:
            lines.append(f"items = [{rest if item_ints else _toml_str(rest)}]")
        if keys[r] in stage_days:
            day, spread = stage_days[keys[r]]
            lines += [f"stage_day = {day}", f"stage_spread = {spread}"]
    return "\n".join(lines) + "\n"


def stage_days_of(hist: Histories, groups: FeatureGroups, keys: list[str],
                  event_day: np.ndarray, window: int,
                  min_customers: int = 10) -> dict[str, tuple[int, int]]:
    """Median first-purchase day relative to the event (and its 1.4826 MAD spread) per group.

    Over positives with an event day whose first purchase of the group falls in
    ``[event - window, event]``; groups with fewer such customers get none.
    """
    where = {k: i for i, k in enumerate(groups.keys)}
    idx = [where[k] for k in keys]
    if not idx:
        return {}
    sub = groups.take(np.array(idx))
    first = first_days(hist.offsets, hist.item, hist.day, sub.item_offsets, sub.item_groups,
                       len(idx)).astype(np.int64)
    ev = event_day.astype(np.int64)
    out = {}
    for j, k in enumerate(keys):
        ok = (ev != NO_DAY) & (first[:, j] != NO_DAY)
        rel = first[ok, j] - ev[ok]
        rel = rel[(rel >= -window) & (rel <= 0)]
        if rel.size >= min_customers:
            med = float(np.median(rel))
            mad = float(np.median(np.abs(rel - med)))
            out[k] = (int(round(med)), max(7, int(round(1.4826 * mad))))
    return out
