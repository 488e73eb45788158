"""The HTML report: one self-contained page for readers who are not statisticians.

:func:`render_html` renders a gate report document (``kind = "gate"``) or a plan
document alone (:meth:`~basketguard.engine.mitigate.plan.Plan.to_dict`, no
``kind``) as one HTML file: inline CSS, inline SVG charts
(:mod:`basketguard.engine.report.charts`), no script and no external resource,
so it opens offline and can be attached to a ticket. The page says the verdict
first in plain words, then each finding with a chart where a picture says it
better, what the purchases reveal (given a scan summary), and the recommended
plan with its verification. Every text is escaped; the same documents always
give the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from basketguard.engine.errors import ConfigError
from basketguard.engine.report import charts
from basketguard.engine.report.charts import POINT_WORDS, pct

#: How an observer would read a recipient ("read as ...") and who has the event
#: ("customers who ..."), for the shipped signature library; others fall back to
#: the signature's title or name.
EVENT_WORDS = {
    "pregnancy": ("pregnant", "are pregnant"),
    "new_baby": ("having a new baby", "have a new baby"),
    "alcohol_dependence": ("possibly alcohol-dependent", "may be alcohol-dependent"),
    "contraception_sexual_health": ("sexually active (buying contraception)", "buy contraception"),
    "diabetes": ("diabetic", "are diabetic"),
    "financial_distress": ("in financial distress", "are in financial distress"),
    "halal_diet": ("Muslim (keeping a halal diet)", "keep a halal diet"),
    "kosher_diet": ("Jewish (keeping a kosher diet)", "keep a kosher diet"),
    "incontinence": ("living with incontinence", "live with incontinence"),
    "smoking_cessation": ("trying to quit smoking", "are trying to quit smoking"),
}
STATUS_WORDS = {"fail": "FAILS", "warn": "WARNING", "pass": "PASSES", "info": "FOR INFORMATION"}
_RANK = {"fail": 0, "warn": 1, "pass": 2, "info": 3}

CSS = """
body{font-family:DejaVu Sans,Liberation Sans,Helvetica,Arial,sans-serif;color:#1f2933;margin:0;
background:#f4f5f7;line-height:1.45}h1{font-size:26px;margin:8px 0 2px}
main{max-width:1200px;margin:0 auto;padding:20px 28px 40px;background:#fff}
h2{font-size:21px;margin:34px 0 10px;border-bottom:2px solid #e5e7eb;padding-bottom:4px}
h3{font-size:16px;margin:18px 0 6px}.meta{color:#44546a;margin:0 0 14px}
.verdict{border-left:10px solid;padding:14px 22px;border-radius:4px;margin:14px 0}
.verdict.fail{border-color:#b42318;background:#fdecea}
.verdict.warn{border-color:#9a5b00;background:#fff4e0}
.verdict.pass{border-color:#1a7f37;background:#e9f6ec}
.verdict .word{font-size:15px;font-weight:bold;letter-spacing:.08em;margin:0}
.verdict h2{font-size:29px;border:0;margin:6px 0 8px;padding:0}
.verdict p{margin:4px 0;font-size:16px}.cards{columns:2 520px;column-gap:16px}
.cards>*{break-inside:avoid;margin:0 0 16px}
.card{border:1px solid #d9dde3;border-radius:6px;padding:12px 16px;background:#fff}
.card h3{margin:4px 0 6px;font-size:17px}.card p{margin:4px 0}
.badge{display:inline-block;font-size:11px;font-weight:bold;letter-spacing:.06em;
padding:2px 7px;border-radius:3px;color:#fff;vertical-align:middle}
.b-fail{background:#b42318}.b-warn{background:#9a5b00}.b-pass{background:#1a7f37}
.b-info{background:#44546a}code{font-size:12px;color:#44546a}
table{border-collapse:collapse;margin:8px 0 14px;font-size:14px}
caption{text-align:left;font-weight:bold;padding:4px 0}
th,td{border-bottom:1px solid #e5e7eb;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f4f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{max-width:100%;height:auto;display:block;margin:8px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(370px,1fr));gap:8px 16px;
align-items:start}figcaption{font-size:13px;color:#44546a}figure{margin:6px 0}
.note{border-left:4px solid #1f5fbf;background:#eef4fc;padding:8px 14px;margin:12px 0}
"""


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{round(x):,}" if abs(x - round(x)) < 1e-9 and abs(x) < 1e15 else f"{x:.4g}"


@dataclass
class _Doc:
    """A gate report or a plan document, read into one shape."""

    verdict: str
    checks: list[dict[str, Any]]
    mailing: dict[str, Any] | None
    plan: dict[str, Any] | None
    segment: dict[str, Any]
    notes: list[str]
    gate: dict[str, Any]  #: the gate report itself ({} for a plan alone)


def _check_of(f: dict[str, Any]) -> dict[str, Any]:
    levels = f.get("levels") or {}
    return {"name": f["check"], "gate_name": f["check"], "status": f["severity"],
            "value": f.get("value"), "threshold": f.get("threshold"),
            "direction": levels.get("direction", "max"), "message": f.get("explanation", ""),
            "finding": f}


def _gate_check(c: dict[str, Any]) -> dict[str, Any]:
    """A gate check keyed by its finding's check (``inference.posterior.pregnancy``)."""
    return c | {"name": (c.get("finding") or {}).get("check") or c["name"],
                "gate_name": c["name"]}


def _read(doc: dict[str, Any]) -> _Doc:
    """A gate report, or a plan alone (its ``before`` gives the checks and the verdict)."""
    kind = doc.get("kind")
    if kind == "gate":
        return _Doc(doc["verdict"], [_gate_check(c) for c in doc.get("checks") or []],
                    doc.get("mailing"),
                    doc.get("plan"), doc.get("segment") or {}, list(doc.get("notes") or []), doc)
    if kind is None and {"before", "verification", "actions"} <= set(doc):
        before = doc["before"]
        checks = [_check_of(f) for f in before["findings"] if f["severity"] != "info"]
        return _Doc(before["severity"], checks, before, doc, doc.get("segment") or {},
                    list(doc.get("notes") or []), {})
    raise ConfigError(f"render_html takes a gate report (kind 'gate') or a plan document "
                      f"(keys before, verification, actions); this document has kind "
                      f"{kind!r} and keys {', '.join(sorted(map(str, doc))[:8])}.")


class _Page:
    """The page being written: lookups shared by the sections, and chart ids."""

    def __init__(self, d: _Doc, scan: dict[str, Any] | None, assess: dict[str, Any] | None):
        self.d, self.scan, self.assess = d, scan, assess
        self.actions = d.plan["actions"] if d.plan else None
        self.events = {e["event"]: e for e in (d.mailing or {}).get("events", [])}
        after = d.plan["verification"] if d.plan else {}
        self.after = {e["event"]: e for e in after.get("events", [])}
        self.after_findings = {f["check"]: f for f in after.get("findings", [])}
        before = d.plan["before"] if d.plan else d.mailing or {}
        self.before_findings = {f["check"]: f for f in before.get("findings", [])}
        self.titles = {s["signature"]: s["title"] for s in (scan or {}).get("signatures", [])}
        self.recipients = (d.mailing or {}).get("recipients", d.segment.get("members", 0))
        self.unicity_shown = False
        self._ids = 0

    def cid(self, stem: str) -> str:
        self._ids += 1
        return f"chart-{self._ids}-" + "".join(ch if ch.isalnum() else "-" for ch in stem)

    def words(self, event: str) -> tuple[str, str]:
        what = self.titles.get(event, event.replace("_", " ")).lower()
        return EVENT_WORDS.get(event, (f"having {what}", f"have {what}"))


def _event_of(name: str) -> str | None:
    for prefix in ("inference.posterior.", "inference.epsilon."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return None


def _label(page: _Page, name: str) -> str:
    """Plain name of a check (``inference.posterior.pregnancy`` -> ``Read as pregnant``)."""
    ev = _event_of(name)
    if ev is not None:
        read_as, who = page.words(ev)
        return (f"Read as {read_as}" if name.startswith("inference.posterior.")
                else f"How much likelier the mailing is for customers who {who}")
    if name.startswith("reid.min_k"):
        return "Smallest group of look-alike recipients"
    return {"mailing.audience": "Number of recipients", "reid.unicity":
            "Recipients singled out by known purchases", "mailing.opt_out":
            "Opted-out customers", "content.no_signal":
            "Offer items that signal a forbidden class"}.get(name, name)


def _value_text(name: str, v: float | None) -> str:
    """A check's value as the page shows it (shares in percent)."""
    if v is None:
        return "-"
    if name.startswith(("inference.posterior.", "reid.unicity")):
        return pct(v)
    if name.startswith("inference.epsilon."):
        return f"{v:.2f}"
    return _num(v)


def _code(c: dict[str, Any]) -> str:
    """The check's names as the gate and the finding give them."""
    names = dict.fromkeys((c.get("gate_name") or c["name"], c["name"]))
    return " ".join(f"<code>{escape(n)}</code>" for n in names)


def _badge(status: str) -> str:
    word = STATUS_WORDS.get(status, status.upper())
    return f'<span class="badge b-{escape(status)}">{escape(word)}</span>'


def _sentence(page: _Page, c: dict[str, Any]) -> tuple[str, str]:
    """(headline, detail) of one check, in plain words."""
    name, v, thr = c["name"], c.get("value"), c.get("threshold")
    f = c.get("finding") or {}
    det = f.get("details") or {}
    ev = _event_of(name)
    if name.startswith("inference.posterior.") and v is not None:
        read_as, _ = page.words(ev)
        lo, hi = f.get("interval") or (None, None)
        base = det.get("base_rate")
        detail = ("Anyone who knows how this mailing was targeted would believe that of each "
                  "recipient" + (f"; among all customers it is {pct(base)}." if base is not None
                                 else ".")
                  + (f" The policy allows at most {pct(thr)}." if thr is not None else "")
                  + (f" The estimate lies between {pct(lo)} and {pct(hi)} (95% interval)."
                     if lo is not None and hi is not None else ""))
        return f"{pct(v)} of the {page.recipients:,} recipients would be read as {read_as}.", detail
    if name.startswith("inference.epsilon.") and v is not None:
        _, who = page.words(ev)
        lr = det.get("likelihood_ratio") or math.exp(v)
        times = f"{lr:,.0f}" if lr >= 10 else f"{lr:.1f}"
        head = f"Customers who {who} are {times} times as likely to get this mailing as others."
        detail = (f"The policy allows {math.exp(thr):,.1f} times (epsilon {thr:g}; this "
                  f"mailing's epsilon is {v:.2f})." if thr is not None else "")
        return head, detail
    if name == "mailing.audience" and v is not None:
        need = f"; the policy needs at least {_num(thr)}" if thr is not None else ""
        return (f"The mailing goes to {_num(v)} customers{need}.",
                "A small mailing stands out from a generic one, and so does each recipient.")
    if name.startswith("reid.min_k") and v is not None:
        need = f"; the policy needs at least {_num(thr)}" if thr is not None else ""
        return (f"The smallest group of recipients who look alike on the exported attributes "
                f"has {_num(v)} customer(s){need}.", f.get("explanation") or c.get("message", ""))
    if name == "reid.unicity" and v is not None:
        pts = POINT_WORDS.get(det.get("points"), "known points")
        limit = f" The policy allows {pct(thr)}." if thr is not None else ""
        return (f"{pct(v)} of the recipients could be singled out by someone who knows "
                f"{det.get('p', '?')} of their {pts}.",
                (f.get("explanation") or c.get("message") or "") + limit)
    head = c.get("message") or f.get("metric") or name
    limit = f" (limit {_num(thr)})" if thr is not None else ""
    return head, f"{f.get('metric', name)}: {_value_text(name, v)}{limit}."


def _decoy_figure(page: _Page, event: str, limit: float | None) -> str:
    before = page.events.get(event)
    if before is None or not before.get("recipients"):
        return ""
    curves = charts.decoy_curve(before, page.after.get(event), page.actions)
    read_as, _ = page.words(event)
    svg = charts.decoy_chart(page.cid(f"decoys-{event}"), event, read_as, curves, limit)
    said = "" if limit is None else "; " + "; ".join(
        f"{charts.CURVE_NAMES[c.source]}: " + ("the limit is never reached" if (
            n := c.needed(limit)) is None else f"about {math.ceil(n):,} decoys reach it")
        for c in curves)
    c0 = curves[0]
    plan = "" if c0.plan_decoys is None else f" The plan adds {c0.plan_decoys:,}." + (
        "" if c0.source == "plan" else " It also leaves out members, so its point lies off "
        "these curves, which start from the mailing as given.")
    return (f"<figure>{svg}<figcaption>Decoy recipients (customers outside the segment, "
            f"chosen to look like it) dilute what receiving the mailing says. Curve computed "
            f"from this report's numbers: posterior(d) = (S + d\u00b7p\u0304)/(n + d) with "
            f"S = {c0.S:.2f} expected recipients with the event among n = {c0.n:,}"
            f"{escape(said)}.{escape(plan)}</figcaption></figure>")


def _unicity_figure(page: _Page) -> str:
    if page.unicity_shown:
        return ""
    sources = [[c.get("finding") or {} for c in page.d.checks], (page.d.mailing or {}).get(
        "findings", []), (page.assess or {}).get("findings", [])]
    sources = [[f for f in fs if f.get("check") == "reid.unicity"] for fs in sources]
    svg = charts.unicity_chart(page.cid("unicity"), max(sources, key=len))
    if not svg:
        return ""
    page.unicity_shown = True
    return (f"<figure>{svg}<figcaption>The more of a customer's purchases someone knows (a "
            "receipt, a shared loyalty card), the more recipients they can pick out of the "
            "whole customer base.</figcaption></figure>")


def _figure_for(page: _Page, c: dict[str, Any]) -> str:
    name = c["name"]
    if name.startswith("inference.posterior."):
        return _decoy_figure(page, name[len("inference.posterior."):], c.get("threshold"))
    b, a = (page.before_findings.get(name, {}).get("value"),
            page.after_findings.get(name, {}).get("value"))
    if name.startswith("reid.min_k") and (a is not None or b is not None):
        svg = charts.classes_chart(page.cid("classes"), b, a, c.get("threshold"))
        return f"<figure>{svg}</figure>"
    if name == "reid.unicity":
        return _unicity_figure(page)
    return ""


def _excess(c: dict[str, Any]) -> float:
    """How far a check's value is beyond its limit (a ratio; 0 when either is missing)."""
    v, t = c.get("value"), c.get("threshold")
    if v is None or t is None:
        return 0.0
    if c.get("direction", "max") == "min":
        return t / v if v > 0 else math.inf
    return v / t if t > 0 else (math.inf if v > 0 else 0.0)


def _ordered(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checks worst first: by status, then by how far beyond the limit."""
    return sorted(checks, key=lambda c: (_RANK.get(c["status"], 9), -_excess(c)))


def _verdict(page: _Page) -> str:
    d = page.d
    word = {"fail": "fails the policy", "warn": "passes the policy with warnings",
            "pass": "passes the policy"}.get(d.verdict, d.verdict)
    order = _ordered(d.checks)
    post = [c for c in order if c["name"].startswith("inference.posterior.")
            and c.get("value") is not None]
    if post and (d.verdict == "pass" or post[0]["status"] == d.verdict):
        read_as, _ = page.words(post[0]["name"][len("inference.posterior."):])
        head = (f"This mailing {word}: {page.recipients:,} recipients, "
                f"{pct(post[0]['value'])} would be read as {read_as}")
    elif order and order[0]["status"] in ("fail", "warn"):
        head = f"This mailing {word}: {_sentence(page, order[0])[0].rstrip('.')}"
    else:
        head = f"This mailing {word}: {page.recipients:,} recipients"
    n = {s: sum(c["status"] == s for c in d.checks) for s in ("fail", "warn", "pass")}
    lines = [f"{n['fail']} of {len(d.checks)} checks fail, {n['warn']} warn, {n['pass']} pass."]
    if d.gate.get("exit_code") is not None:
        lines.append(f"Gate exit code {d.gate['exit_code']} (the gate fails on: "
                     f"{d.gate.get('fail_on')}).")
    plan = d.plan
    if plan:
        act = plan["actions"]
        did = [act["decoys_added"] and f"add {act['decoys_added']:,} decoy recipients",
               act["targets_suppressed"] and f"leave out {act['targets_suppressed']:,} targets",
               (act.get("generalization") or {}).get("loss") and "generalize attributes"]
        steps = ", ".join(s for s in did if s) or "no change"
        lines.append(f"The recommended plan ({steps}) passes when the amended mailing is "
                     f"measured again: {plan['verification']['severity'].upper()}."
                     if plan["verified"] and plan["severity"] != "fail" else
                     f"No plan met the policy ({steps} is the best found); see the binding "
                     "checks below.")
    body = "".join(f"<p>{escape(s)}</p>" for s in lines)
    status = escape(d.verdict)
    return (f'<section id="verdict" class="verdict {status}" aria-label="verdict">'
            f'<p class="word">{STATUS_WORDS.get(d.verdict, status.upper())}</p>'
            f"<h2>{escape(head)}</h2>{body}</section>")


def _findings(page: _Page) -> str:
    d = page.d
    bad = [c for c in _ordered(d.checks) if c["status"] in ("fail", "warn")]
    out = ['<section id="findings"><h2>What the checks found</h2>']
    if bad:
        out.append('<div class="cards">')
        for i, c in enumerate(bad):
            head, detail = _sentence(page, c)
            out.append(f'<article class="card" id="finding-{i + 1}"><h3>{_badge(c["status"])} '
                       f'{escape(head)}</h3><p>{escape(detail)}</p>'
                       f'<p>{_code(c)}</p>{_figure_for(page, c)}'
                       "</article>")
        out.append("</div>")
    else:
        out.append("<p>No check fails or warns.</p>")
    good = [[f'{escape(_label(page, c["name"]))}<br>{_code(c)}',
             escape(_value_text(c["name"], c.get("value"))),
             escape(_value_text(c["name"], c.get("threshold"))), _badge(c["status"])]
            for c in d.checks if c["status"] not in ("fail", "warn")]
    if good:
        out.append(_table("passing", "Checks that pass", ["check", "measured", "limit",
                                                          "status"], good))
    unicity = _unicity_figure(page)
    if unicity:
        out.append(f'<h3 id="singled-out">Who could be singled out</h3>{unicity}')
    out.append("</section>")
    return "".join(out)


def _table(tid: str, caption: str, head: list[str], rows: list[list[str]]) -> str:
    """A table of HTML cells (escaped by the caller); each row's first cell is its header."""
    out = [f'<table id="{tid}"><caption>{escape(caption)}</caption><thead><tr>']
    out += [f'<th scope="col">{escape(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append(f'<tr><th scope="row">{r[0]}</th>'
                   + "".join(f'<td class="num">{c}</td>' for c in r[1:]) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _evidence(page: _Page) -> str:
    scan = page.scan
    if not scan:
        return ""
    sigs = scan["signatures"]
    named = [_event_of(c["name"]) for c in page.d.checks if c["status"] in ("fail", "warn")]
    order = {e: i for i, e in reversed(list(enumerate(named))) if e}
    driving = sorted((e for e in sigs if e["signature"] in order and e["top_products"]),
                     key=lambda e: order[e["signature"]]) or [
                         e for e in sigs if e["top_products"]][:4]
    out = ['<section id="evidence"><h2>What the purchases reveal</h2>',
           f'<p>Scanned {scan["customers"]:,} customers and {scan["lines"]:,} purchase lines '
           f'({escape(str(scan["first_day"]))} to {escape(str(scan["last_day"]))}).</p>',
           '<h3 id="products">The products driving each inference</h3>']
    out.append('<div class="cards">' + "".join(
        f'<figure><figcaption>{escape(e["title"])}: products bought by the '
        f'{e["customers_flagged"]:,} flagged customers</figcaption>'
        f'{charts.products_chart(page.cid("products-" + e["signature"]), e)}</figure>'
        for e in driving) + "</div>" if driving else "<p>No flagged customer bought any "
        "product of a signature.</p>")
    out.append('<h3 id="scores">How many customers each inference touches</h3><p>Customers per '
               "probability band; the red bands are flagged (a logarithmic scale: each line "
               "is ten times the one below).</p>")
    out.append('<div class="grid">' + "".join(
        f'<figure><figcaption>{escape(e["title"])}</figcaption>'
        f'{charts.score_chart(page.cid("scores-" + e["signature"]), e)}</figure>'
        for e in sigs) + "</div>")
    cover = [(e["title"], sum(1 for f in e["features"] if f["catalog_items"]) / len(e["features"]),
              f'{sum(1 for f in e["features"] if f["catalog_items"])} of {len(e["features"])} '
              "features") for e in sigs if e["features"]]
    svg = charts.bar_chart(page.cid("coverage"), "Detector coverage of this catalog", "For "
                           "each signature, the share of its features that match at least one "
                           "catalog item (scan summary, features).", cover, max_value=1.0,
                           color=charts.COLORS["grey"], label_width=330)
    out.append(f'<h3 id="coverage">What the detectors can see in this catalog</h3>{svg}')
    rows = [[escape(e["title"]), f'{e["customers_with_evidence"]:,}', f'{e["customers_flagged"]:,}',
             escape(pct(e["prevalence"])),
             escape(", ".join(f["feature"] for f in e["features"] if not f["catalog_items"])
                    or "none")] for e in sigs]
    out.append(_table("coverage-table", "Signatures on this data", ["signature", "customers "
                      "with evidence", "flagged", "share flagged", "features matching nothing"],
                      rows))
    if scan.get("warnings"):
        out.append("<ul>" + "".join(f"<li>{escape(w)}</li>" for w in scan["warnings"]) + "</ul>")
    out.append("</section>")
    return "".join(out)


def _repeated(page: _Page) -> str:
    fails = [c for c in page.d.checks if c["name"].startswith("inference.posterior.")
             and c["status"] in ("fail", "warn")]
    events = [(_event_of(c["name"]), c.get("threshold")) for c in fails]
    events = [(e, t) for e, t in events if page.after.get(e, {}).get("repeated")]
    if not events:
        return ""
    # the event read most strongly as given (the verdict's)
    top, limit = max(events, key=lambda et: (page.events.get(et[0], {}).get("posterior")
                                             or {}).get("value") or 0.0)
    rep = page.after[top]["repeated"]
    read_as, _ = page.words(top)
    last = rep[-1]
    out = ['<h3 id="repeated">Keep the same decoys for every mailing</h3>',
           f"<p>With new decoys drawn for each mailing while the targets get every one, a "
           f"customer who received all {last['mailings']} mailings is almost surely a target: "
           f"{pct(last['fresh_decoys']['posterior'])} would be read as {escape(read_as)}, "
           f"against {pct(last['fixed_decoys']['posterior'])} with the same decoys each "
           "time.</p>",
           f"<figure>{charts.repeated_chart(page.cid('repeated-' + top), read_as, rep, limit)}"
           "</figure>"]
    rows = [[escape(_label(page, f"inference.posterior.{e}"))] + [escape(pct(x)) for x in (
        r[0]["fixed_decoys"]["posterior"], r[-1]["fixed_decoys"]["posterior"],
        r[-1]["fresh_decoys"]["posterior"])] for e, _ in events if (r := page.after[e]["repeated"])]
    out.append(_table("repeated-table", f"After {last['mailings']} mailings",
                      ["share", "one mailing", "same decoys", "new decoys each time"], rows))
    return "".join(out)


def _plan(page: _Page) -> str:
    plan, act = page.d.plan, page.actions
    if not plan:
        return ""
    cost, bal = plan["cost"], act.get("balance") or {}
    gen = act.get("generalization") or {}
    steps = ", ".join(f"{a} to level {lv}" for a, lv in (gen.get("levels") or {}).items() if lv)
    matched = "; ".join(f"{k} ({v:,})" for k, v in act["decoys_matched_at"].items())
    rows = [["Decoy recipients added", f"{act['decoys_added']:,} of {act['decoy_candidates']:,}"
             " eligible customers"],
            ["Targets left out", f"{act['targets_suppressed']:,} ({escape(pct(act['reach_lost']))}"
             " of the reach lost)"],
            ["Opted-out members removed", f"{act['opted_out_members_removed']:,}"],
            ["Exported attributes generalized", escape(steps or "none needed")],
            ["Recipients of the amended mailing", f"{act['recipients']:,}"]]
    offer = act.get("offer") or {}
    for key, what, n in (("suppressed", "Offer items removed", "removed_items"),
                         ("content_cover", "Filler offers proposed (content cover)", "fillers")):
        rows += [[what, f"{offer[key].get(n, 0):,}"]] if offer.get(key) else []
    ok = plan["verified"] and plan["severity"] != "fail"
    out = ['<section id="plan"><h2>The recommended plan</h2>',
           f"<p>{_badge(plan['verification']['severity'] if ok else 'fail')} "
           + escape("Measured again on the amended mailing, the plan passes the policy."
                    if ok else "No plan met the policy with the mitigations allowed.") + "</p>",
           _table("actions", "What the plan does", ["action", "how many"], rows)]
    smd = bal.get("smd") or {}
    if smd:
        worst = max(smd, key=lambda k: abs(smd[k]))
        out.append(f"<p>Decoys were matched to the targets on: {escape(matched or '-')}. "
                   f"Largest difference between targets and decoys: {escape(worst)} "
                   f"(|SMD| {abs(smd[worst]):.2f}; below 0.1 is the usual rule, so they are "
                   f"{'' if bal.get('balanced') else 'not '}balanced).</p>")
    out.append(_table("cost", "Cost", ["part", "cost"],
                      [[k.replace("_", " "), f"{cost[k] or 0:,.1f}"] for k in
                       ("lost_targets", "decoys", "generalization", "total")]))
    out.append(_repeated(page))
    before = page.before_findings
    rows = []
    for f in plan["verification"]["findings"]:
        if f["severity"] == "info":
            continue
        b = before.get(f["check"], {})
        rows.append([escape(_label(page, f["check"])),
                     escape(_value_text(f["check"], b.get("value"))),
                     escape(_value_text(f["check"], f.get("value"))),
                     escape(_value_text(f["check"], f.get("threshold"))),
                     _badge(b["severity"]) if b else "-", _badge(f["severity"])])
    out.append(_table("verification", "Verification: every check measured again",
                      ["check", "as given", "after the plan", "limit", "status as given",
                       "status after"], rows))
    if plan["binding"]:
        out.append('<h3 id="binding">Binding checks</h3><ul>' + "".join(
            f"<li><code>{escape(b['check'])}</code>: {escape(b['why'])}</li>"
            for b in plan["binding"]) + "</ul>")
    note = plan.get("content_vs_recipient_cover")
    if note:
        out.append(f'<p class="note" id="cover">{escape(note)}</p>')
    out.append("</section>")
    return "".join(out)


def _levels(t: Any) -> str:
    if isinstance(t, dict) and "direction" in t:
        word = "above" if t["direction"] == "max" else "below"
        parts = [f"{k} {word} {t[k]:g}" for k in ("fail", "warn") if t.get(k) is not None]
        return ", ".join(parts) or "-"
    if isinstance(t, list):
        return ", ".join(map(str, t)) or "none"
    return "-" if t is None else str(t)


def _policy(page: _Page) -> str:
    pol = page.d.gate.get("policy")
    if not pol:
        return ""
    rows = []
    for k, v in pol.items():
        if k == "max_posterior_by" and isinstance(v, dict):
            rows += [[escape(f"max_posterior ({c})"), escape(_levels(t))] for c, t in v.items()]
        elif isinstance(v, dict) and "direction" not in v:
            rows.append([escape(k), escape(", ".join(f"{a} = {b}" for a, b in v.items()))])
        else:
            rows.append([escape(k), escape(_levels(v))])
    table = _table("policy-table", "Policy", ["key", "value"], rows)
    return f'<section id="policy"><h2>The policy</h2>{table}</section>'


def render_html(doc: dict[str, Any], *, scan: dict[str, Any] | None = None,
                assess: dict[str, Any] | None = None, title: str | None = None) -> str:
    """One self-contained HTML page of a gate report or a plan.

    Parameters
    ----------
    doc : dict
        A gate report document (``kind = "gate"``), or a plan document alone
        (:meth:`~basketguard.engine.mitigate.plan.Plan.to_dict`: the mailing as
        given is its ``before``, the plan the document itself).
    scan : dict, optional
        :meth:`~basketguard.engine.detect.scan.ScanResult.summary` of the same
        data: adds the products driving each inference, the score distributions
        and the detectors' coverage of the catalog.
    assess : dict, optional
        :meth:`~basketguard.engine.reid.assess.AssessResult.to_dict` of the
        segment: adds unicity against the number of known purchases when the
        report itself does not hold it.
    title : str, optional
        Page title (default: names the project).

    Returns
    -------
    str
        The HTML text (UTF-8, no external resource, no script); the same inputs
        give the same text.

    Raises
    ------
    ConfigError
        ``doc`` is neither a gate report nor a plan document.
    """
    d = _read(doc)
    page = _Page(d, scan, assess)
    name = title or f"basketguard report: {d.gate.get('project') or 'mailing risk'}"
    seg = d.segment
    meta = (f"Segment: {seg.get('members', 0):,} members ({seg.get('source', 'given')}) "
            f"against {seg.get('customer_base', 0):,} customers.")
    parts = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(name)}</title><style>{CSS}</style></head><body><main>",
             f'<header><h1>{escape(name)}</h1><p class="meta">{escape(meta)}</p></header>',
             _verdict(page), _findings(page), _evidence(page), _plan(page), _policy(page)]
    notes = [n for n in d.notes if n != (d.plan or {}).get("content_vs_recipient_cover")]
    if notes:
        parts.append('<section id="notes"><h2>Notes</h2><ul>'
                     + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul></section>")
    parts.append("</main></body></html>\n")
    return "\n".join(p for p in parts if p)
