"""Inline SVG charts for the HTML report (:mod:`basketguard.engine.report.html`).

Three drawing primitives (:func:`line_chart`, :func:`bar_chart`,
:func:`column_chart`) and the numbers one chart needs that a document does not
hold directly (:func:`decoy_curve`: the posterior against the number of decoy
recipients). Every chart is a self-contained ``<svg role="img">`` with a
``<title>`` and a ``<desc>`` (what a screen reader announces), drawn with
system fonts only: no script, no external resource. Numbers are written with
fixed precision, so the same document always gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any, NamedTuple

FONT = "DejaVu Sans, Liberation Sans, Helvetica, Arial, sans-serif"
#: Status and series colours (WCAG AA contrast on white for text of these colours).
COLORS = {"fail": "#b42318", "warn": "#9a5b00", "pass": "#1a7f37", "info": "#44546a",
          "blue": "#1f5fbf", "orange": "#c2540a", "grey": "#6b7280", "light": "#e5e7eb"}
#: What the points of a unicity measure are, for readers.
POINT_WORDS = {"item-day": "purchases (product and day)", "items": "products they bought",
               "store-day": "store visits (store and day)"}


def pct(x: float | None) -> str:
    """A share as a percentage for readers (``0.7096`` -> ``"71%"``); None -> ``"-"``."""
    if x is None:
        return "-"
    a = 100 * x
    if a == 0 or a >= 10:
        return f"{a:.0f}%"
    return f"{a:.1f}%" if a >= 1 else f"{a:.2f}%"


@dataclass(frozen=True)
class Series:
    """One line of a line chart: legend ``name``, ``points`` (x, y), ``dash`` (an SVG
    ``stroke-dasharray``, "" for solid), ``whiskers`` (x, low, high) interval bars, and
    ``markers`` (a dot at every point)."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str = COLORS["blue"]
    dash: str = ""
    whiskers: Sequence[tuple[float, float, float]] = ()
    markers: bool = False


@dataclass(frozen=True)
class Mark:
    """A labelled point (``x``, ``y``) on a line chart."""

    x: float
    y: float
    label: str
    color: str = COLORS["info"]
    below: bool = False


@dataclass(frozen=True)
class Rule:
    """A labelled reference line: horizontal at ``value`` (axis "y") or vertical (axis "x")."""

    value: float
    label: str
    color: str = COLORS["fail"]
    axis: str = "y"


def _n(x: float) -> str:
    """Coordinate text (one decimal, no negative zero)."""
    s = f"{x:.1f}"
    return "0.0" if s == "-0.0" else s


def tick_text(v: float, percent: bool = False) -> str:
    """Axis label of a tick value (``percent``: a share shown as a percentage)."""
    if percent:
        p = 100 * v
        return f"{p:.0f}%" if abs(p - round(p)) < 1e-9 else f"{p:.1f}%"
    if abs(v) >= 10_000:
        return f"{v / 1000:,.0f}k"
    if abs(v - round(v)) < 1e-9:
        return f"{round(v):,}"
    return f"{v:.2g}" if abs(v) < 1 else f"{v:,.1f}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten).

    Parameters
    ----------
    lo, hi : float
        The range to cover, in about ``count`` intervals.
    count : int

    Returns
    -------
    list of float
        Ticks from ``<= lo`` to ``>= hi``.
    """
    span = hi - lo if hi > lo else 1.0
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw - 1e-12)
    first = math.floor(lo / step + 1e-9) * step
    ticks, t = [], first
    while t < hi - 1e-9 * step or not ticks:
        ticks.append(round(t, 12))
        t += step
    ticks.append(round(t, 12))
    return ticks


def _open(cid: str, title: str, desc: str, width: int, height: int) -> list[str]:
    return [f'<svg class="chart" id="{cid}" role="img" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'aria-labelledby="{cid}-t {cid}-d" font-family="{FONT}" font-size="12">',
            f'<title id="{cid}-t">{escape(title)}</title>',
            f'<desc id="{cid}-d">{escape(desc)}</desc>']


def _text(x: float, y: float, s: str, *, anchor: str = "start", size: int = 12,
          color: str = "#1f2933", weight: str = "normal", halo: bool = False) -> str:
    bold = ' font-weight="bold"' if weight == "bold" else ""
    if halo:  # a white outline keeps a label readable where it crosses a line
        bold += ' stroke="#ffffff" stroke-width="3" paint-order="stroke" stroke-linejoin="round"'
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{color}"{bold}>{escape(s)}</text>')


def _rule(r: Rule, left: float, top: float, pw: float, ph: float, at: float) -> list[str]:
    """A dashed reference line across the plot at pixel ``at`` (y or x), with its label."""
    x1, y1, x2, y2 = (left, at, left + pw, at) if r.axis == "y" else (at, top, at, top + ph)
    label = (_text(left + pw - 4, at - 5, r.label, anchor="end", size=11, color=r.color,
                   halo=True) if r.axis == "y" else
             _text(at + 4, top + 12, r.label, size=11, color=r.color, halo=True))
    return [f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{r.color}" '
            'stroke-width="1.5" stroke-dasharray="6 4"/>', label]


def line_chart(cid: str, title: str, desc: str, series: Sequence[Series], *,
               x_label: str, y_label: str, x_range: tuple[float, float],
               y_range: tuple[float, float], y_percent: bool = False,
               rules: Sequence[Rule] = (), marks: Sequence[Mark] = (),
               width: int = 560, height: int = 300) -> str:
    """An SVG line chart.

    Parameters
    ----------
    cid : str
        Element id (unique in the page); the title and description ids derive from it.
    title, desc : str
        Accessible name and description (what the chart shows, in words, and where
        its numbers come from).
    series : sequence of Series
    x_label, y_label : str
        Axis titles.
    x_range, y_range : (float, float)
        Data ranges drawn (ticks are rounded outward).
    y_percent : bool
        Label the y axis in percent (values are shares).
    rules, marks : sequence of Rule, sequence of Mark
        Reference lines (a policy limit) and labelled points.
    width, height : int
        Size in CSS pixels.

    Returns
    -------
    str
        The ``<svg>`` element.
    """
    left, right, top, bottom = 58, 18, 34 if len(series) > 1 else 16, 44
    xt, yt = nice_ticks(*x_range), nice_ticks(*y_range)
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        return top + ph - (min(max(y, y0), y1) - y0) / (y1 - y0) * ph

    out = _open(cid, title, desc, width, height)
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fbfbfc" '
               f'stroke="{COLORS["light"]}"/>')
    for v in yt:
        out.append(f'<line x1="{left}" y1="{_n(py(v))}" x2="{left + pw}" y2="{_n(py(v))}" '
                   f'stroke="{COLORS["light"]}"/>')
        out.append(_text(left - 6, py(v) + 4, tick_text(v, y_percent), anchor="end", size=11))
    for v in xt:
        out.append(_text(px(v), top + ph + 16, tick_text(v), anchor="middle", size=11))
    out.append(_text(left + pw / 2, height - 8, x_label, anchor="middle"))
    out.append(f'<text transform="translate(14 {_n(top + ph / 2)}) rotate(-90)" '
               f'text-anchor="middle" font-size="12" fill="#1f2933">{escape(y_label)}</text>')
    for r in rules:
        out.extend(_rule(r, left, top, pw, ph, py(r.value) if r.axis == "y" else px(r.value)))
    for s in series:
        d = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        pts = " ".join(f"{_n(px(x))},{_n(py(y))}" for x, y in s.points)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{s.color}" '
                   f'stroke-width="2.5"{d}/>')
        for x, lo, hi in s.whiskers:
            out.append(f'<line x1="{_n(px(x))}" y1="{_n(py(lo))}" x2="{_n(px(x))}" '
                       f'y2="{_n(py(hi))}" stroke="{s.color}" stroke-width="1.5"/>')
        if s.markers:
            out.extend(f'<circle cx="{_n(px(x))}" cy="{_n(py(y))}" r="3.5" fill="{s.color}"/>'
                       for x, y in s.points)
    for m in marks:
        cx, cy = px(m.x), py(m.y)
        out.append(f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="6" fill="{m.color}" '
                   f'stroke="#ffffff" stroke-width="2"/>')
        far = cx > left + pw * 0.6
        ty = min(cy + 20, top + ph - 4) if m.below else cy - 8
        out.append(_text(cx - 10 if far else cx + 10, ty, m.label,
                         anchor="end" if far else "start", size=12, color=m.color,
                         weight="bold", halo=True))
    x = float(left)
    for s in series if len(series) > 1 else ():  # the legend: swatches in one row
        d = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        out.append(f'<line x1="{_n(x)}" y1="14" x2="{_n(x + 22)}" y2="14" stroke="{s.color}" '
                   f'stroke-width="3"{d}/>{_text(x + 27, 18, s.name, size=11)}')
        x += 40 + 6.4 * len(s.name)
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(cid: str, title: str, desc: str, rows: Sequence[tuple[str, float, str]], *,
              color: str = COLORS["blue"], width: int = 560, max_value: float | None = None,
              label_width: int = 250) -> str:
    """Horizontal bars, one per row, labelled on the left, value text at the bar's end.

    Parameters
    ----------
    cid, title, desc : str
        As for :func:`line_chart`.
    rows : sequence of (label, value, value text)
    color : str
    width, label_width : int
        Size, and room for the labels (longer ones are shortened with an ellipsis).
    max_value : float, optional
        Value of a full-length bar (default: the largest value).

    Returns
    -------
    str
    """
    bar_h, gap, top = 18, 8, 8
    height = top + len(rows) * (bar_h + gap) + 4
    full = max_value or max((v for _, v, _ in rows), default=1.0) or 1.0
    room = width - label_width - 120
    out = _open(cid, title, desc, width, height)
    chars = int(label_width / 7.3)  # about the width of a 12 px DejaVu Sans character
    for i, (label, value, text) in enumerate(rows):
        y = top + i * (bar_h + gap)
        short = label if len(label) <= chars else label[:chars - 1] + "\u2026"
        out.append(_text(label_width - 8, y + 13, short, anchor="end", size=12))
        w = max(room * value / full, 1.0 if value > 0 else 0.0)
        out.append(f'<rect x="{label_width}" y="{y}" width="{_n(w)}" height="{bar_h}" '
                   f'fill="{color}" rx="2"/>')
        out.append(_text(label_width + w + 6, y + 13, text, size=12))
    out.append("</svg>")
    return "\n".join(out)


def column_chart(cid: str, title: str, desc: str,
                 columns: Sequence[tuple[str, float, str, str]], *, y_label: str,
                 log: bool = False, rules: Sequence[Rule] = (), width: int = 360,
                 height: int = 220) -> str:
    """Vertical columns (a histogram, a before/after comparison).

    Parameters
    ----------
    cid, title, desc : str
        As for :func:`line_chart`.
    columns : sequence of (label, value, value text, colour)
        Values are counts or sizes (>= 0).
    y_label : str
    log : bool
        Logarithmic y axis (counts that span orders of magnitude); 0 draws no column.
    rules : sequence of Rule
        Levels (``axis="y"``) or a boundary (``axis="x"``, in column widths: 5.0 is
        between the fifth and the sixth column).
    width, height : int

    Returns
    -------
    str
    """
    left, right, top, bottom = 52, 10, 18, 40
    pw, ph = width - left - right, height - top - bottom
    vmax = max([v for _, v, _, _ in columns] + [r.value for r in rules if r.axis == "y"] + [1.0])
    top_exp = max(1, math.ceil(math.log10(vmax) - 1e-9))
    yt = [10.0 ** e for e in range(top_exp + 1)] if log else nice_ticks(0.0, vmax, 4)

    def frac(v: float) -> float:
        if log:
            return math.log10(v) / top_exp if v >= 1 else 0.0
        return v / yt[-1]
    out = _open(cid, title, desc, width, height)
    base = top + ph
    for v in yt:
        y = base - frac(v) * ph
        out.append(f'<line x1="{left}" y1="{_n(y)}" x2="{left + pw}" y2="{_n(y)}" '
                   f'stroke="{COLORS["light"]}"/>')
        out.append(_text(left - 5, y + 4, tick_text(v), anchor="end", size=10))
    slot = pw / max(len(columns), 1)
    for i, (label, value, text, color) in enumerate(columns):
        x = left + i * slot
        h = frac(value) * ph if value > 0 else 0.0
        out.append(f'<rect x="{_n(x + slot * 0.12)}" y="{_n(base - h)}" width="{_n(slot * 0.76)}" '
                   f'height="{_n(h)}" fill="{color}"/>')
        if text:
            out.append(_text(x + slot / 2, base - h - 4, text, anchor="middle", size=10))
        out.append(_text(x + slot / 2, base + 14, label, anchor="middle", size=10))
    for r in rules:
        out.extend(_rule(r, left, top, pw, ph, base - frac(r.value) * ph if r.axis == "y"
                         else left + r.value * slot))
    out.append(f'<line x1="{left}" y1="{base}" x2="{left + pw}" y2="{base}" stroke="#1f2933"/>')
    out.append(_text(left + pw / 2, height - 6, y_label, anchor="middle", size=11))
    out.append("</svg>")
    return "\n".join(out)


class DecoyCurve(NamedTuple):
    """The posterior of one event against the number of decoy recipients added.

    ``posterior(d) = (S + d * pbar) / (n + d)`` for ``d`` decoys whose mean
    probability of the event is ``pbar``, added to ``n`` targets whose
    probabilities sum to ``S`` (the ``expected`` of the mailing's event).
    """

    S: float
    n: int
    pbar: float
    source: str  #: where pbar comes from: a key of :data:`CURVE_NAMES`
    plan_decoys: int | None  #: decoys the plan added (None without a plan)
    plan_posterior: float | None

    def posterior(self, d: float) -> float:
        return (self.S + d * self.pbar) / (self.n + d) if self.n + d > 0 else 0.0

    def needed(self, limit: float) -> float | None:
        """Fewest decoys that bring the posterior to ``limit`` (None: unreachable)."""
        if self.posterior(0) <= limit:
            return 0.0
        if self.pbar >= limit:
            return None
        return (self.S - limit * self.n) / (limit - self.pbar)


def decoy_curve(before: dict[str, Any], after: dict[str, Any] | None,
                actions: dict[str, Any] | None) -> list[DecoyCurve]:
    """The decoy curves of one event, from its mailing event documents.

    Parameters
    ----------
    before : dict
        The event of the mailing as given (``Measurement.to_dict()["events"][i]``).
    after : dict, optional
        The same event measured on the amended mailing (the plan's verification).
    actions : dict, optional
        The plan's ``actions``.

    Returns
    -------
    list of DecoyCurve
        The plan's own curve when the plan only added decoys (``pbar = (S_after - S) /
        decoys``, exact); else two: decoys carrying no signal, decoys like the average.
    """
    S, n = float(before["expected"] or 0.0), int(before["recipients"])
    d_plan = post_plan = None
    if after is not None and actions is not None:
        d_plan = int(actions.get("decoys_added", 0))
        post_plan = (after.get("posterior") or {}).get("value")
        only_decoys = (not actions.get("targets_suppressed")
                       and not actions.get("opted_out_members_removed")
                       and int(after["recipients"]) == n + d_plan)
        if only_decoys and d_plan > 0 and after.get("expected") is not None:
            pbar = max((float(after["expected"]) - S) / d_plan, 0.0)
            return [DecoyCurve(S, n, pbar, "plan", d_plan, post_plan)]
    base = float(before.get("base_rate") or 0.0)
    return [DecoyCurve(S, n, 0.0, "zero", d_plan, post_plan),
            DecoyCurve(S, n, base, "base", d_plan, post_plan)]


#: Legend text of a decoy curve by its ``source`` (what its pbar stands for).
CURVE_NAMES = {"plan": "with the plan's decoys", "zero": "decoys carrying no signal (best case)",
               "base": "decoys like an average customer"}
_CURVE_STYLE = {"plan": (COLORS["blue"], ""), "zero": (COLORS["blue"], ""),
                "base": (COLORS["orange"], "7 4")}


def decoy_chart(cid: str, event: str, read_as: str, curves: Sequence[DecoyCurve],
                limit: float | None) -> str:
    """Posterior against decoy recipients added (:func:`decoy_curve`), with the policy limit.

    Parameters
    ----------
    cid, event, read_as : str
        Element id, event name, how a recipient would be read ("pregnant").
    curves : sequence of DecoyCurve
        From :func:`decoy_curve` (the first carries the plan's point).
    limit : float or None
        The policy's posterior limit.

    Returns
    -------
    str
    """
    c0 = curves[0]
    need = [c.needed(limit) for c in curves] if limit is not None else []
    x_hi = nice_ticks(0.0, max([10.0, 2.0 * c0.n, 1.25 * (c0.plan_decoys or 0)]
                               + [1.25 * x for x in need if x is not None]))[-1]
    y_hi = max(c0.posterior(0), limit or 0.0, 0.05)
    series = [Series(CURVE_NAMES[c.source], [(x_hi * i / 80, c.posterior(x_hi * i / 80))
                                             for i in range(81)], *_CURVE_STYLE[c.source])
              for c in curves]
    marks = [Mark(0, c0.posterior(0), f"as given: {pct(c0.posterior(0))}", COLORS["fail"])]
    if c0.plan_decoys is not None and c0.plan_posterior is not None:
        marks.append(Mark(c0.plan_decoys, c0.plan_posterior,
                          f"the plan: {c0.plan_decoys:,} decoys, {pct(c0.plan_posterior)}",
                          COLORS["pass"], below=True))
    rules = [Rule(limit, f"policy limit {pct(limit)}")] if limit is not None else []
    how = "; ".join(f"pbar = {c.pbar:.4f} ({CURVE_NAMES[c.source]})" for c in curves)
    desc = (f"Posterior P({event} | received) against the number of decoy recipients d, "
            f"computed from the report's numbers as posterior(d) = (S + d pbar) / (n + d) "
            f"with S = {c0.S:.2f} (expected recipients with the event), n = {c0.n:,} "
            f"recipients as given and {how}.")
    return line_chart(cid, f"Share read as {read_as} against decoy recipients added", desc,
                      series, x_label="decoy recipients added", y_label="share of recipients",
                      x_range=(0.0, x_hi), y_range=(0.0, min(1.0, 1.1 * y_hi)),
                      y_percent=True, rules=rules, marks=marks)


def repeated_chart(cid: str, read_as: str, repeated: Sequence[dict[str, Any]],
                   limit: float | None) -> str:
    """Posterior over repeated mailings: the same decoys every time against fresh ones.

    Parameters
    ----------
    cid, read_as : str
    repeated : sequence of dict
        The event's ``repeated`` table (``mailings``, ``fixed_decoys``, ``fresh_decoys``).
    limit : float or None

    Returns
    -------
    str
    """
    rows = [r for r in repeated if r["fixed_decoys"]["posterior"] is not None
            and r["fresh_decoys"]["posterior"] is not None]
    fixed = [(r["mailings"], r["fixed_decoys"]["posterior"]) for r in rows]
    fresh = [(r["mailings"], r["fresh_decoys"]["posterior"]) for r in rows]
    top = max([y for _, y in fixed + fresh] + [limit or 0.0, 0.05])
    rules = [Rule(limit, f"policy limit {pct(limit)}")] if limit is not None else []
    return line_chart(
        cid, f"Share read as {read_as} after repeated mailings",
        "Posterior of a customer who received every one of T mailings, with the same decoy "
        "recipients every time (fixed) and with decoys drawn anew for each mailing (fresh), "
        "from the verification's repeated-mailings table.",
        [Series("same decoys every time", fixed, COLORS["blue"], markers=True),
         Series("new decoys each time", fresh, COLORS["fail"], "7 4", markers=True)],
        x_label="mailings received (T)", y_label="share of recipients",
        x_range=(1.0, float(max(2, rows[-1]["mailings"] if rows else 2))),
        y_range=(0.0, min(1.0, 1.1 * top)), y_percent=True, rules=rules)


def classes_chart(cid: str, before: float | None, after: float | None,
                  limit: float | None) -> str:
    """Smallest attribute class as given and after the plan, against the policy's k.

    Parameters
    ----------
    cid : str
    before, after, limit : float or None
        The ``reid.min_k`` values as given and after the plan, and the policy's k.

    Returns
    -------
    str
    """
    cols = [(text, v, f"{v:,.0f}", COLORS["pass"] if limit is None or v >= limit
             else COLORS["fail"]) for text, v in (("as given", before), ("after the plan", after))
            if v is not None]
    rules = [Rule(limit, f"needed: {limit:,.0f}")] if limit is not None else []
    return column_chart(cid, "Smallest group of look-alike recipients",
                        "Customers in the smallest group of recipients sharing the same "
                        "exported attribute values, as given and after the plan, against the "
                        "size the policy needs.", cols, y_label="customers in the smallest group",
                        rules=rules)


def unicity_chart(cid: str, findings: Sequence[dict[str, Any]]) -> str:
    """Share singled out against the number of known points, one line per kind of point.

    Parameters
    ----------
    cid : str
    findings : sequence of dict
        ``reid.unicity`` findings (``details.points``, ``details.p``, ``value``,
        ``interval``, ``threshold``).

    Returns
    -------
    str
        "" when no finding has a value.
    """
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        if f.get("value") is not None:
            by_kind.setdefault(f["details"]["points"], []).append(f)
    palette = [COLORS["blue"], COLORS["orange"], COLORS["grey"]]
    series, rules, p_max = [], [], 2
    for i, (kind, fs) in enumerate(by_kind.items()):
        fs = sorted(fs, key=lambda f: f["details"]["p"])
        p_max = max(p_max, fs[-1]["details"]["p"])
        whiskers = [(f["details"]["p"], *f["interval"]) for f in fs
                    if f.get("interval") and None not in f["interval"]]
        series.append(Series(POINT_WORDS.get(kind, kind),
                             [(f["details"]["p"], f["value"]) for f in fs],
                             palette[i % 3], whiskers=whiskers, markers=True))
        rules += [Rule(f["threshold"], f"policy limit {pct(f['threshold'])} at "
                       f"{f['details']['p']} known") for f in fs if f.get("threshold") is not None]
    if not series:
        return ""
    return line_chart(cid, "Recipients singled out by known purchases",
                      "Share of segment members who are the only customer of the whole base "
                      "holding p points drawn from their own history, against p (bars: 95% "
                      "intervals).", series, x_label="known points (p)",
                      y_label="share singled out", x_range=(1.0, float(p_max)),
                      y_range=(0.0, 1.0), y_percent=True, rules=rules[:1])


def products_chart(cid: str, entry: dict[str, Any], top: int = 8) -> str:
    """Products most bought by a signature's flagged customers.

    Parameters
    ----------
    cid : str
    entry : dict
        One signature of a scan summary (``top_products``, ``customers_flagged``).
    top : int
        Products shown.

    Returns
    -------
    str
    """
    flagged = entry["customers_flagged"]
    rows = [(f"{p['product']}" + (f" ({p['category']})" if p.get("category") else ""),
             float(p["flagged_customers"]), f"{p['flagged_customers']:,} of {flagged:,}")
            for p in entry["top_products"][:top]]
    return bar_chart(cid, f"Products behind: {entry['title']}",
                     f"Of the {flagged:,} customers flagged for {entry['title']}, how many "
                     "bought each product (scan summary, top products).", rows,
                     max_value=float(flagged or 1), width=540, label_width=290)


def score_chart(cid: str, entry: dict[str, Any]) -> str:
    """Customers per probability band of one signature (log scale), flagged bands in red.

    Parameters
    ----------
    cid : str
    entry : dict
        One signature of a scan summary (``probability_histogram``, ``threshold``).

    Returns
    -------
    str
    """
    hist = entry["probability_histogram"]
    bins, counts = hist["bins"], hist["counts"]
    thr = float(entry["threshold"])
    cols = [(f"{100 * i // bins}", float(c), tick_text(float(c)) if c else "",
             COLORS["fail"] if (i + 1) / bins > thr + 1e-12 else COLORS["blue"])
            for i, c in enumerate(counts)]
    return column_chart(cid, f"{entry['title']}: customers per probability band",
                        f"Number of customers whose probability of {entry['title'].lower()} "
                        f"falls in each {100 // bins}-point band (logarithmic scale); red bands "
                        f"are at or above the flag threshold {pct(thr)}.", cols,
                        y_label="probability band (%, from)", log=True,
                        rules=[Rule(thr * bins, "flagged \u2192", COLORS["fail"], axis="x")])
