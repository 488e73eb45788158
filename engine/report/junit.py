"""JUnit XML rendering of a gate report, for CI systems that show test results.

One ``<testcase>`` per policy check of the gate report (its ``checks``), in the
report's order: ``name`` is the check's name, ``classname`` is
``basketguard.gate.<project>.<kind>``, the kind being the check's name up to
its first ``:`` or ``.`` (``max_posterior`` of ``max_posterior:pregnancy``), so
that CI views group the checks by the policy limit they test. Everything sits in one
``<testsuite name="basketguard.gate.<project>">`` inside ``<testsuites>``, with
the ``tests`` / ``failures`` / ``errors`` / ``skipped`` counts on both, and the
verdict, exit code, ``fail_on``, policy and segment as ``<properties>``.

What each status becomes:

* ``fail``: ``<failure type="fail" message="...">``; the message gives the
  measured value and the limit it is beyond, the body the check's message and
  its finding's explanation.
* ``warn`` with ``fail_on = "warn"``: ``<failure type="warning">``, because the
  gate fails on it (verdict ``fail``, exit code 1), so CI must show it as failed.
* ``warn`` with ``fail_on = "fail"``: a passing testcase whose ``<system-out>``
  says ``warning: ...``. The gate passes (exit code 2), so a failure would make
  CI disagree with the exit status; ``<skipped>`` is wrong too: the check ran.
* ``pass``: an empty testcase.

``errors`` and ``skipped`` are always 0: a check that could not be measured is
judged (a warning or a failure, never a silent pass), and an error stops a gate
before it writes a report (exit code 3).

Text from the document is escaped by the XML writer; line ends become newlines
and the characters XML 1.0 cannot hold (C0 controls but tab and newline)
become U+FFFD. The text declares UTF-8: write it encoded so. The bytes
depend on the document alone: no timestamp nor host; ``time`` is
``seconds["total"]`` (else the sum of ``seconds``) when the report has timings,
else 0, and a testcase has a ``time`` only when ``seconds`` times that check.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from basketguard.engine.errors import InternalError

#: Characters XML 1.0 cannot hold, even escaped (C0 controls but tab, newline, return).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: What a classname part may hold (Java-like, as CI tools split classnames on dots).
_NOT_NAME = re.compile(r"[^A-Za-z0-9_\-]+")


def _text(s: Any) -> str:
    """``s`` as XML can hold it: line ends as newlines (what XML readers make of them),
    characters XML 1.0 cannot hold as U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(s).replace("\r\n", "\n").replace("\r", "\n"))


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _levels(check: dict[str, Any]) -> tuple[float | None, float | None]:
    """(warning level, failure level) of a check, from its finding's levels."""
    levels = (check.get("finding") or {}).get("levels") or {}
    warn, fail = levels.get("warn"), levels.get("fail")
    if warn is None and fail is None:
        fail = check.get("threshold")
    return warn, fail


def outcome(check: dict[str, Any]) -> str:
    """One line: the check's measured value against the level it is judged by.

    Parameters
    ----------
    check : dict
        One entry of a gate report's ``checks``.

    Returns
    -------
    str
        E.g. ``"0.7096 is above the limit 0.1 (policy.max_posterior)"`` for a
        failure, ``"... above the warning level 0.05 (fails above 0.1; ...)"``
        for a warning, ``"19 meets the minimum 10 (...)"`` for a pass.
    """
    value, status = check.get("value"), check["status"]
    high = check.get("direction", "max") == "max"
    side, limit_word = ("above", "limit") if high else ("below", "minimum")
    warn, fail = _levels(check)
    key = check["policy_key"]
    if status == "warn" and warn is not None:
        level, what = warn, "the warning level"
        key = (f"fails {side} {_num(fail)}; " if fail is not None else "") + key
    else:
        level = fail if fail is not None else warn
        what = f"the {limit_word}"
    if value is None:
        return f"could not be measured ({what} is {_num(level)}; {key})"
    if status == "pass":
        return f"{_num(value)} meets {what} {_num(level)} ({key})"
    return f"{_num(value)} is {side} {what} {_num(level)} ({key})"


def _family(name: str) -> str:
    """The check's kind: ``max_posterior`` of ``max_posterior:pregnancy``."""
    return _NOT_NAME.sub("_", re.split(r"[:.]", name, maxsplit=1)[0]) or "check"


def _total_time(seconds: dict[str, Any]) -> float:
    if "total" in seconds:
        return float(seconds["total"])
    return float(sum(v for v in seconds.values() if isinstance(v, int | float)))


def _body(check: dict[str, Any]) -> str:
    explanation = (check.get("finding") or {}).get("explanation", "")
    parts = [check.get("message", "")]
    if explanation and explanation != parts[0]:
        parts.append(explanation)
    return _text("\n".join(p for p in parts if p))


def render_junit(doc: dict[str, Any]) -> str:
    """The JUnit XML text of a gate report (see the module docstring for the mapping).

    Parameters
    ----------
    doc : dict
        A gate report (``kind = "gate"``), as the gate writes it.

    Returns
    -------
    str
        An XML document (UTF-8 declaration, two-space indent, final newline),
        the same text for the same document.

    Raises
    ------
    InternalError
        ``doc`` is not a gate report.
    """
    if doc.get("kind") != "gate":
        raise InternalError(f"render_junit renders gate reports (kind 'gate'), not a "
                            f"{doc.get('kind', 'document without a kind')!r}")
    project = _NOT_NAME.sub("_", doc["project"]) or "project"
    suite_name = f"basketguard.gate.{project}"
    fail_on_warn = doc["fail_on"] == "warn"
    seconds = doc.get("seconds") or {}
    checks = doc["checks"]
    failures = sum(c["status"] == "fail" or (fail_on_warn and c["status"] == "warn")
                   for c in checks)
    counts = {"tests": str(len(checks)), "failures": str(failures), "errors": "0",
              "skipped": "0", "time": f"{_total_time(seconds):.3f}"}
    root = ET.Element("testsuites", {"name": "basketguard gate", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": suite_name, **counts})
    props = ET.SubElement(suite, "properties")
    seg = doc["segment"]
    for name, value in (("report_version", doc["report_version"]), ("verdict", doc["verdict"]),
                        ("exit_code", doc["exit_code"]), ("fail_on", doc["fail_on"]),
                        ("policy", doc["policy"].get("origin", "")),
                        ("segment", seg.get("source", "")), ("members", seg["members"]),
                        ("customer_base", seg["customer_base"])):
        ET.SubElement(props, "property", {"name": name, "value": _text(value)})
    for check in checks:
        attrs = {"name": _text(check["name"]),
                 "classname": f"{suite_name}.{_family(check['name'])}"}
        if isinstance(seconds.get(check["name"]), int | float):
            attrs["time"] = f"{seconds[check['name']]:.3f}"
        case = ET.SubElement(suite, "testcase", attrs)
        status = check["status"]
        if status == "fail" or (status == "warn" and fail_on_warn):
            kind = "fail" if status == "fail" else "warning"
            failure = ET.SubElement(case, "failure", {"type": kind,
                                                      "message": _text(outcome(check))})
            failure.text = _body(check)
        elif status == "warn":
            out = ET.SubElement(case, "system-out")
            out.text = _text(f"warning: {outcome(check)}\n{_body(check)}".rstrip())
    if doc.get("notes"):
        out = ET.SubElement(suite, "system-out")
        out.text = _text("\n".join(doc["notes"]))
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode") + "\n")
