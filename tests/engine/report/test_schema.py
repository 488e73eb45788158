"""Every report the engine writes matches the report schema, and a document that
breaks it (a wrong enum, a missing key, customer ids, NaN) fails with a message
that names where and what.

The demo's documents come from running ``basketguard demo`` (and ``assess`` with a
policy that has warning levels) in-process once per test session
(:func:`demo_reports`); the gate report samples (:func:`gate_report`) are built
from their measurements, so these tests do not depend on the gate's code. The
JUnit and Markdown tests use the same samples.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import sys
import tomllib
import types
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from basketguard.engine.cli.demo import DEMO_POLICY
from basketguard.engine.cli.main import main
from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.errors import BasketguardError
from basketguard.engine.report.formats import (
    FORMATS,
    ReportOptionError,
    parse_report_option,
    render,
)
from basketguard.engine.report.json import dumps
from basketguard.engine.report.schemas import (
    KINDS,
    SCHEMA_ID,
    SCHEMA_VERSION,
    ReportValidationError,
    kind_of,
    problems,
    schema,
    validate,
)

#: A policy with warning and failure levels, so that a gate holds all three statuses.
WARN_POLICY = """\
[policy]
max_posterior = {warn = 0.05, fail = 0.5}
max_epsilon = {warn = 1.0, fail = 4.0}
min_audience = {warn = 50, fail = 10}
"""

#: Finding check (prefix) -> the gate's check kind and the policy key that sets its levels
#: (docs/gate.md: ``max_posterior:<event>``, ``min_k:<scope>``, ``min_audience`` ...).
_CHECKS = (("mailing.audience", "min_audience", "policy.min_audience"),
           ("mailing.opt_out", "opt_out", "opt_out"),
           ("inference.posterior.", "max_posterior", "policy.max_posterior"),
           ("inference.epsilon.", "max_epsilon", "policy.max_epsilon"),
           ("reid.min_k.", "min_k", "policy.min_k"),
           ("reid.unicity", "max_unicity", "policy.max_unicity"),
           ("content.no_signal", "no_signal", "policy.no_signal"))

_CACHE: dict[str, Any] = {}


def demo_reports(tmp_path_factory) -> dict[str, Any]:
    """The documents of ``basketguard demo --customers 2000`` and of ``assess`` with the
    inference section, run once per session (the JUnit and Markdown tests share them)."""
    if "reports" in _CACHE:
        return _CACHE["reports"]
    out = tmp_path_factory.mktemp("demo")
    policy_file = out / "gate-policy.toml"
    policy_file.write_text(WARN_POLICY)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--out", str(out), "--customers", "2000"]) == 0
        # exit 1: the pregnancy mailing fails the policy; the report is written all the same
        assert main(["assess", str(out / "data" / "project.toml"), "--segment-signature",
                     "pregnancy", "--policy", str(policy_file), "--points", "items",
                     "--out", str(out / "assess-inference.json")]) == 1
    texts = {kind: (out / f"{kind}.json").read_text()
             for kind in ("profile", "scan", "assess", "plan", "assess-inference")}
    warn_policy = policy_from_dict(tomllib.loads(WARN_POLICY)["policy"], str(policy_file))
    demo_policy = policy_from_dict(DEMO_POLICY, "examples/policies/demo.toml")
    _CACHE["reports"] = {
        "texts": texts, **{kind: json.loads(text) for kind, text in texts.items()},
        "warn_policy": warn_policy.to_dict() | {"origin": warn_policy.origin},
        "demo_policy": demo_policy.to_dict() | {"origin": demo_policy.origin},
    }
    return _CACHE["reports"]


def _check_of(check: str) -> tuple[str, str]:
    """(gate check name, policy key) of a finding's check."""
    for prefix, kind, key in _CHECKS:
        if check.startswith(prefix):
            rest = check[len(prefix):]
            return (f"{kind}:{rest}" if rest else kind), key
    raise AssertionError(f"no gate check for {check}")


def gate_report(mailing: dict[str, Any], policy: dict[str, Any], *, segment: dict[str, Any],
                plan: dict[str, Any] | None = None, fail_on: str = "fail",
                keep: tuple[str, ...] = ("pass", "warn", "fail"),
                project: str = "synthetic") -> dict[str, Any]:
    """A gate report as docs/gate.md documents it: one check per judged finding of the
    mailing's measurement (``keep``: the statuses kept, for a warn-only sample)."""
    checks = []
    for f in mailing["findings"]:
        if f["severity"] not in keep or f["check"].startswith("coverage."):
            continue  # coverage is context of the measure, never a gate check
        name, key = _check_of(f["check"])
        checks.append({"name": name, "policy_key": key, "status": f["severity"],
                       "value": f["value"], "threshold": f["threshold"],
                       "direction": f["levels"]["direction"],
                       "message": f"{f['metric']}: {f['value']} against {f['threshold']}",
                       "finding": f})
    statuses = [c["status"] for c in checks]
    counts = {"checks": len(checks), **{s: statuses.count(s) for s in ("pass", "warn", "fail")}}
    worst = "fail" if counts["fail"] else "warn" if counts["warn"] else "pass"
    verdict = "fail" if worst == "warn" and fail_on == "warn" else worst
    exit_code = {"pass": 0, "fail": 1, "warn": 2}[verdict]
    return {"report_version": SCHEMA_VERSION, "kind": "gate", "project": project,
            "verdict": verdict, "exit_code": exit_code, "fail_on": fail_on, "policy": policy,
            "segment": {k: segment[k] for k in ("source", "members", "customer_base")},
            "checks": checks, "counts": counts, "mailing": mailing, "plan": plan,
            "notes": ["The gate measured the mailing as given."], "seconds": {}}


def gate_samples(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """Gate reports: failing (all statuses), warn-only, warn-only failing on warnings, and
    passing with the demo's verified plan attached."""
    r = demo_reports(tmp_path_factory)
    inf, seg = r["assess-inference"]["inference"], r["assess-inference"]["segment"]
    plan = r["plan"]
    return {
        "fail": gate_report(inf, r["warn_policy"], segment=seg),
        "warn": gate_report(inf, r["warn_policy"], segment=seg, keep=("pass", "warn")),
        "warn_fails": gate_report(inf, r["warn_policy"], segment=seg, keep=("pass", "warn"),
                                  fail_on="warn"),
        "pass": gate_report(plan["verification"], r["demo_policy"], segment=plan["segment"],
                            plan=plan),
    }


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    return demo_reports(tmp_path_factory)


@pytest.fixture(scope="module")
def gates(tmp_path_factory):
    return gate_samples(tmp_path_factory)


# --- the schema itself ---------------------------------------------------------------------

def test_schema_is_a_valid_draft_2020_12_schema_shipped_as_package_data():
    path = resources.files("basketguard.engine.report").joinpath("schema", "report.schema.json")
    assert path.is_file()
    doc = schema()
    Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == SCHEMA_ID and SCHEMA_ID.endswith(SCHEMA_VERSION)
    assert doc["$defs"]["gate_body"]["properties"]["report_version"]["const"] == SCHEMA_VERSION
    assert set(KINDS) | {"gate_with_ids"} <= set(doc["$defs"])


def test_the_schema_root_is_the_gate_report(gates):
    # what a generic validator (no basketguard code) sees: the file alone
    validator = Draft202012Validator(schema())
    assert not list(validator.iter_errors(gates["fail"]))
    with_ids = copy.deepcopy(gates["fail"]) | {"members_ids": ["c1"]}
    assert list(validator.iter_errors(with_ids))


# --- every report the engine writes ---------------------------------------------------------

@pytest.mark.parametrize("kind", ["profile", "scan", "assess", "plan"])
def test_demo_reports_match(reports, kind):
    assert kind_of(reports[kind]) == kind
    assert problems(reports[kind]) == []
    validate(reports[kind], kind)
    validate(reports["texts"][kind])  # the bytes written, read back


def test_assess_with_the_inference_section_matches(reports):
    doc = reports["assess-inference"]
    assert "inference" in doc and doc["inference"]["findings"]
    validate(doc, "assess")
    validate(doc["inference"], "measurement")
    validate(reports["plan"]["verification"])  # told from its keys: a measurement


@pytest.mark.parametrize("name", ["fail", "warn", "warn_fails", "pass"])
def test_gate_samples_match(gates, name):
    doc = gates[name]
    validate(doc)
    validate(json.dumps(doc))
    assert {c["status"] for c in doc["checks"]} >= ({"pass", "warn", "fail"} if name == "fail"
                                                    else {"pass"})


def test_gate_with_ids_matches_only_with_include_ids(gates):
    doc = copy.deepcopy(gates["fail"]) | {"members_ids": ["C-000017", "C-000042"]}
    validate(doc, include_ids=True)
    with pytest.raises(ReportValidationError) as err:
        validate(doc)
    msg = str(err.value)
    assert "$.members_ids" in msg and "--include-ids" in msg
    assert "C-000017" not in msg  # the message never repeats the ids it refuses
    validate(gates["fail"], include_ids=True)  # allowed, not required


# --- documents that must not match ----------------------------------------------------------

def _set(path: str, value: Any):
    def change(doc):
        *head, last = path.split("/")
        node = doc
        for part in head:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return change


_DELETE = object()

#: (case, sample, change, what the message must say)
BROKEN = [
    ("wrong check status", "fail", _set("checks/0/status", "ok"),
     ["$.checks[0].status", "'ok' is not one of", '"pass", "warn", "fail"']),
    ("wrong finding severity", "fail", _set("checks/1/finding/severity", "critical"),
     ["$.checks[1].finding.severity", "'critical'"]),
    ("wrong verdict", "fail", _set("verdict", "failed"), ["$.verdict", "'failed'"]),
    ("wrong fail_on", "fail", _set("fail_on", "error"), ["$.fail_on"]),
    ("wrong direction", "fail", _set("checks/0/direction", "up"), ["$.checks[0].direction"]),
    ("exit code 3 in a report", "fail", _set("exit_code", 3), ["$.exit_code"]),
    ("exit code of another verdict", "fail", _set("exit_code", 0),
     ["$.exit_code", "a failing gate exits 1"]),
    ("warning exit code with fail_on warn", "warn_fails", _set("exit_code", 2),
     ["$.exit_code", "a failing gate exits 1"]),
    ("warning verdict with fail_on warn", "warn_fails",
     lambda d: d.update(verdict="warn", exit_code=2),
     ["$.fail_on", "with fail_on = warn a warning fails the gate"]),
    ("fail_on warn verdict not fail", "warn", _set("fail_on", "warn"),
     ["$.fail_on", "its verdict is fail, not warn"]),
    ("missing key", "fail", _set("counts", _DELETE), ["$: missing key 'counts'"]),
    ("missing finding key", "fail", _set("checks/0/finding/explanation", _DELETE),
     ["$.checks[0].finding: missing key 'explanation'"]),
    ("missing plan key", "pass", _set("plan/verified", _DELETE),
     ["$.plan: missing key 'verified'"]),
    ("unexpected key", "fail", _set("extra", 1),
     ["$: unexpected keys are not allowed ('extra' was unexpected)"]),
    ("unexpected check key", "fail", _set("checks/0/customers", [1, 2]),
     ["$.checks[0]", "'customers'"]),
    ("customer ids", "fail", _set("members_ids", ["C-1"]), ["$.members_ids", "--include-ids"]),
    ("customer ids in a finding", "fail", _set("checks/0/finding/details/customer_ids", [3]),
     ["$.checks[0].finding.details", "'customer_ids'", "no customer ids"]),
    ("customer ids in the plan", "pass", _set("plan/actions/decoy_ids", [7]),
     ["$.plan.actions", "'decoy_ids'"]),
    ("NaN value", "fail", _set("checks/0/value", math.nan), ["$.checks[0].value", "nan"]),
    ("infinite threshold", "fail", _set("checks/2/threshold", math.inf),
     ["$.checks[2].threshold", "inf"]),
    ("a number as text", "fail", _set("checks/0/value", "0.5"),
     ["$.checks[0].value", "is a string", "not number or null"]),
    ("a boolean as a count", "fail", _set("segment/members", True),
     ["$.segment.members", "is a boolean"]),
    ("negative count", "fail", _set("counts/pass", -1), ["$.counts.pass", "minimum"]),
    ("other report version", "fail", _set("report_version", "2.0"),
     ["$.report_version", "report_version 1.0"]),
    ("counts not the tally", "fail", lambda d: d["counts"].update(fail=d["counts"]["fail"] + 1),
     ["$.counts.fail", "the checks hold"]),
    ("verdict not the worst status", "warn", lambda d: d.update(verdict="pass", exit_code=0),
     ["$.verdict", "worst check status is 'warn', so the verdict is 'warn'"]),
    ("fail_on warn not applied", "warn_fails", lambda d: d.update(verdict="pass", exit_code=0),
     ["$.verdict", "so the verdict is 'fail' (fail_on = warn)"]),
]


@pytest.mark.parametrize("case, sample, change, expected", BROKEN, ids=[c[0] for c in BROKEN])
def test_broken_gate_reports_fail_with_a_clear_message(gates, case, sample, change, expected):
    doc = copy.deepcopy(gates[sample])
    change(doc)
    with pytest.raises(ReportValidationError) as err:
        validate(doc)
    msg = str(err.value)
    assert msg.startswith("the gate report does not match the basketguard report schema 1.0")
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"
    assert isinstance(err.value, BasketguardError) and isinstance(err.value, ValueError)
    assert err.value.problems and err.value.kind == "gate"
    assert len(msg) < 2000  # never the whole document


#: (case, kind, change, what the message must say) on the demo's own documents
BROKEN_DEMO = [
    ("plan finding severity", "plan", _set("before/findings/0/severity", "bad"),
     ["$.before.findings[0].severity", "'bad'"]),
    ("plan without verification", "plan", _set("verification", _DELETE),
     ["missing key 'verification'"]),
    ("assess skipped not text", "assess", _set("skipped", [1]), ["$.skipped[0]"]),
    ("assess finding levels direction", "assess", _set("findings/0/levels/direction", "up"),
     ["$.findings[0].levels.direction"]),
    ("scan prevalence over 1", "scan", _set("signatures/0/prevalence", 1.5),
     ["$.signatures[0].prevalence"]),
    ("scan date", "scan", _set("as_of", "30/12/2024"), ["$.as_of"]),
    ("profile NaN mean", "profile", _set("basket_size/mean", math.nan),
     ["$.basket_size.mean", "nan"]),
    ("profile ids", "profile", _set("build/ids", [1]), ["$.build", "'ids'"]),
]


@pytest.mark.parametrize("case, kind, change, expected", BROKEN_DEMO,
                         ids=[c[0] for c in BROKEN_DEMO])
def test_broken_demo_reports_fail(reports, case, kind, change, expected):
    doc = copy.deepcopy(reports[kind])
    change(doc)
    with pytest.raises(ReportValidationError) as err:
        validate(doc, kind)
    for part in [f"the {kind} report does not match", *expected]:
        assert part in str(err.value), f"{part!r} not in {err.value}"


def test_many_problems_are_listed_briefly(gates):
    doc = copy.deepcopy(gates["fail"])
    for c in doc["checks"]:
        c["status"] = "?"
    with pytest.raises(ReportValidationError) as err:
        validate(doc)
    assert len(err.value.problems) == len(doc["checks"])
    assert f"and {len(doc['checks']) - 5} more problem(s)" in str(err.value)
    # in document order: [2] before [10]
    assert [p.split(":")[0] for p in err.value.problems[:3]] == [
        "$.checks[0].status", "$.checks[1].status", "$.checks[2].status"]


@pytest.mark.parametrize("doc, expected", [
    ({"hello": 1}, "cannot tell which report this is"),
    ('{"kind": "gate", "x": NaN}', "NaN is not JSON"),
    ("{not json", "not JSON"),
    ({"kind": "invoice"}, "'invoice' is not one of"),
])
def test_documents_of_no_known_kind(doc, expected):
    with pytest.raises(ReportValidationError, match=expected):
        validate(doc)


def test_written_files_are_read_as_json_not_as_python(tmp_path, reports):
    # integer keys, tuples: what the engine holds in memory becomes what the file says
    doc = copy.deepcopy(reports["assess"])
    doc["findings"][0]["details"]["by_size"] = {1: 19, 5: 0}
    doc["skipped"] = ("nothing",)
    validate(doc)
    path = Path(tmp_path) / "assess.json"
    path.write_text(json.dumps(doc))
    validate(path.read_bytes())


# --- the format registry (engine/report/formats.py) -----------------------------------------

def test_registry_holds_each_format_with_its_suffix():
    assert list(FORMATS) == ["json", "junit", "markdown", "html"]
    suffixes = {name: suffix for name, (_, suffix) in FORMATS.items()}
    assert suffixes == {"json": ".json", "junit": ".xml", "markdown": ".md", "html": ".html"}
    assert all(callable(renderer) for renderer, _ in FORMATS.values())


def test_render_by_name(gates, reports):
    assert render("json", reports["plan"]) == dumps(reports["plan"])
    assert render(" JUnit ", gates["fail"]).startswith("<?xml")
    for fmt in ("junit", "markdown"):
        with pytest.raises(ReportOptionError, match=f"the {fmt} format renders gate reports, "
                                                    "not a report without a kind"):
            render(fmt, reports["plan"])
    with pytest.raises(ValueError, match="unknown report format 'pdf'; the formats are json, "
                                         "junit, markdown, html"):
        render("pdf", gates["fail"])


def test_html_renderer_is_imported_when_used(monkeypatch, gates):
    seen = []
    fake = types.ModuleType("basketguard.engine.report.html")
    fake.render_html = lambda doc: seen.append(doc["kind"]) or "<html></html>"
    monkeypatch.setitem(sys.modules, "basketguard.engine.report.html", fake)
    assert render("html", gates["pass"]) == "<html></html>" and seen == ["gate"]


@pytest.mark.parametrize("text, expected", [
    ("junit:reports/gate.xml", ("junit", "reports/gate.xml")),
    ("markdown:comment.txt", ("markdown", "comment.txt")),  # the format named wins
    ("JSON:gate.json", ("json", "gate.json")),
    ("html:C:\\out\\gate.html", ("html", "C:\\out\\gate.html")),
    ("gate.json", ("json", "gate.json")),
    ("out/gate.xml", ("junit", "out/gate.xml")),
    ("GATE.XML", ("junit", "GATE.XML")),
    ("comment.md", ("markdown", "comment.md")),
    ("comment.markdown", ("markdown", "comment.markdown")),
    ("report.html", ("html", "report.html")),
    ("report.htm", ("html", "report.htm")),
    ("C:\\reports\\gate.xml", ("junit", "C:\\reports\\gate.xml")),  # a drive, not a format
    ("./a:b.md", ("markdown", "./a:b.md")),
])
def test_report_option(text, expected):
    assert parse_report_option(text) == expected


@pytest.mark.parametrize("text, message", [
    ("xml:gate.xml", "unknown report format 'xml'; the formats are json, junit, markdown, html"),
    ("pdf:gate.pdf", "unknown report format 'pdf'"),
    ("gate.txt", "the suffix .txt implies no report format; name one as FORMAT:PATH"),
    ("gate", "the suffix (none) implies no report format"),
    ("json:", "names no file"),
    ("", "--report needs a file"),
])
def test_report_option_errors(text, message):
    with pytest.raises(ReportOptionError) as err:
        parse_report_option(text)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, BasketguardError)
    assert "json, junit, markdown, html" in str(err.value)
