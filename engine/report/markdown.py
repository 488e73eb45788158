"""Markdown rendering of a gate report: a short summary for a pull-request comment.

The summary holds, in this order: a heading and a verdict line with the
status word (``PASS`` / ``WARN`` / ``FAIL``; no emoji, so that it reads the
same in every client and in plain-text mail), the exit code, the segment and
the policy; a table of the checks that warn or fail (status, check, value,
threshold), worst first, then the passing ones in a collapsed
``<details>`` table (GitHub and GitLab both fold it); the plan's headline when
the report carries a plan (decoys added, targets suppressed, recipients,
verified); the report's notes; and the content-vs-recipient-cover sentence
when the document has one.

Text from the document is escaped (CommonMark backslash escapes, but for
backticks, which the engine's notes use for code; line breaks become spaces),
and the text depends on the document alone.
"""

from __future__ import annotations

import re
from typing import Any

from basketguard.engine.errors import InternalError

_RANK = {"fail": 0, "warn": 1, "pass": 2}
#: Escaped in document text; backticks are not: the engine's notes mark code with them,
#: and a code span cannot hold markup.
_SPECIAL = re.compile(r"([\\*_\[\]<>|&#])")


def _escape(text: Any) -> str:
    """``text`` as literal Markdown inline text (one line)."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _code(text: str) -> str:
    """``text`` as a code span (pipes escaped: GFM tables split on them even there)."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (max(len(run) for run in re.findall("`+", text)) + 1)
    return f"{fence} {text} {fence}"  # CommonMark strips one space each side


def _num(x: float | None) -> str:
    if x is None:
        return "n/a"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.4g}"


def _threshold(check: dict[str, Any]) -> str:
    levels = (check.get("finding") or {}).get("levels") or {}
    word = "max" if check.get("direction", "max") == "max" else "min"
    limit = check.get("threshold")
    warn = levels.get("warn")
    if limit is None and warn is None:
        return "-"
    if limit is None:
        return f"warn {word} {_num(warn)}"
    text = f"{word} {_num(limit)}"
    return text + (f" (warn {_num(warn)})" if warn is not None and warn != limit else "")


def _table(checks: list[dict[str, Any]]) -> list[str]:
    rows = ["| Status | Check | Value | Threshold |", "| --- | --- | ---: | ---: |"]
    rows += [f"| {c['status'].upper()} | {_code(c['name'])} | {_num(c.get('value'))} | "
             f"{_escape(_threshold(c))} |" for c in checks]
    return rows


def _counts(doc: dict[str, Any]) -> str:
    n = doc["counts"]
    if not n["checks"]:
        return "no check applies"
    return f"{n['checks']} checks: {n['fail']} fail, {n['warn']} warn, {n['pass']} pass"


def _plan_headline(plan: dict[str, Any]) -> list[str]:
    act = plan["actions"]
    state = "verified" if plan["verified"] else "not verified"
    line = (f"**Plan** ({state} by measuring the amended mailing again: "
            f"{plan['severity'].upper() if plan['verified'] else 'FAIL'}): "
            f"{act['decoys_added']:,} decoy recipients added, "
            f"{act['targets_suppressed']:,} targets suppressed, "
            f"{act['recipients']:,} recipients.")
    out = [line]
    if plan.get("binding"):
        out += ["", "Binding (no plan met these with the mitigations allowed):"]
        out += [f"- {_code(b['check'])}: {_escape(b['why'])}" for b in plan["binding"]]
    return out


def _cover(doc: dict[str, Any]) -> str | None:
    for part in (doc, doc.get("plan") or {}, doc.get("mailing") or {}):
        text = part.get("content_vs_recipient_cover")
        if text:
            return text
    return None


def render_markdown(doc: dict[str, Any]) -> str:
    """The Markdown summary of a gate report (see the module docstring for its parts).

    Parameters
    ----------
    doc : dict
        A gate report (``kind = "gate"``), as the gate writes it.

    Returns
    -------
    str
        GitHub-flavoured Markdown with a final newline; the same text for the same
        document.

    Raises
    ------
    InternalError
        ``doc`` is not a gate report.
    """
    if doc.get("kind") != "gate":
        raise InternalError(f"render_markdown renders gate reports (kind 'gate'), not a "
                            f"{doc.get('kind', 'document without a kind')!r}")
    verdict = doc["verdict"].upper()
    fails_on = "warnings too" if doc["fail_on"] == "warn" else "failures only"
    seg = doc["segment"]
    lines = [f"### basketguard gate: {verdict}", "",
             f"**Verdict: {verdict}**: {_counts(doc)} (exit code {doc['exit_code']}; the gate "
             f"fails on {fails_on}). Project {_code(doc['project'])}.", "",
             f"Segment: {seg['members']:,} members"
             + (f" ({_escape(seg['source'])})" if seg.get("source") else "")
             + f" against {seg['customer_base']:,} customers. Policy: "
             + f"{_escape(doc['policy'].get('origin') or 'given')}."]
    ranked = sorted(doc["checks"], key=lambda c: _RANK[c["status"]])  # stable: report order
    flagged = [c for c in ranked if c["status"] != "pass"]
    passing = [c for c in ranked if c["status"] == "pass"]
    if flagged:
        lines += ["", *_table(flagged)]
    if passing:
        lines += ["", f"<details><summary>{len(passing)} passing check"
                      f"{'s' if len(passing) != 1 else ''}</summary>", "", *_table(passing),
                  "", "</details>"]
    if doc.get("plan"):
        lines += ["", *_plan_headline(doc["plan"])]
    cover = _cover(doc)
    notes = [n for n in doc.get("notes", []) if n != cover]
    if notes:
        lines += ["", "Notes:", *(f"- {_escape(n)}" for n in notes)]
    if cover:
        lines += ["", f"> {_escape(cover)}"]
    return "\n".join(lines) + "\n"
