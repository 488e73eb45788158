"""The gate report as JUnit XML, read back by a real JUnit consumer (junitparser):
one testcase per check, failures with the measured value and the limit, warnings
as failures only when the gate fails on them, the same bytes for the same report."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st
from junitparser import Error as JUnitError
from junitparser import Failure, JUnitXml, Skipped, TestSuite

from basketguard.engine.errors import InternalError
from basketguard.engine.report.formats import render
from basketguard.engine.report.junit import outcome, render_junit
from tests.engine.report.test_schema import demo_reports, gate_samples


@pytest.fixture(scope="module")
def gates(tmp_path_factory):
    return gate_samples(tmp_path_factory)


def _suite(text: str) -> TestSuite:
    xml = JUnitXml.fromstring(text)
    assert isinstance(xml, JUnitXml)  # <testsuites> around one <testsuite>
    suites = list(xml)
    assert len(suites) == 1
    return suites[0]


def _num(x: float) -> str:
    return f"{x:.4g}"


def test_one_testcase_per_check_with_the_counts(gates):
    doc = gates["fail"]
    text = render_junit(doc)
    xml = JUnitXml.fromstring(text)
    suite = _suite(text)
    for node in (xml, suite):
        assert node.tests == doc["counts"]["checks"]
        assert node.failures == doc["counts"]["fail"]
        assert node.errors == 0 and node.skipped == 0
    assert suite.name == "basketguard.gate.synthetic"
    cases = list(suite)
    assert [c.name for c in cases] == [c["name"] for c in doc["checks"]]
    for case, check in zip(cases, doc["checks"], strict=True):
        kind = check["name"].split(":")[0]
        assert case.classname == f"basketguard.gate.synthetic.{kind}"
    assert {c.classname for c in cases} >= {"basketguard.gate.synthetic.max_posterior",
                                            "basketguard.gate.synthetic.min_audience"}
    props = {p.name: p.value for p in suite.properties()}
    assert props["verdict"] == "fail" and props["exit_code"] == "1"
    assert props["members"] == str(doc["segment"]["members"])


def test_failures_give_the_measured_value_and_the_threshold(gates):
    doc = gates["fail"]
    cases = {c.name: c for c in _suite(render_junit(doc))}
    failed = [c for c in doc["checks"] if c["status"] == "fail"]
    assert failed
    for check in failed:
        (result,) = cases[check["name"]].result
        assert isinstance(result, Failure) and result.type == "fail"
        side = "above" if check["direction"] == "max" else "below"
        assert result.message.startswith(f"{_num(check['value'])} is {side} the ")
        assert _num(check["threshold"]) in result.message
        assert f"({check['policy_key']})" in result.message
        assert check["finding"]["explanation"] in result.text
    for check in doc["checks"]:
        if check["status"] == "pass":
            assert cases[check["name"]].is_passed


def test_warnings_pass_with_a_note_unless_the_gate_fails_on_them(gates):
    doc, strict = gates["warn"], gates["warn_fails"]
    warned = [c["name"] for c in doc["checks"] if c["status"] == "warn"]
    assert warned and doc["exit_code"] == 2 and strict["exit_code"] == 1
    assert doc["verdict"] == "warn" and strict["verdict"] == "fail"
    suite = _suite(render_junit(doc))
    assert suite.failures == 0
    cases = {c.name: c for c in suite}
    for name in warned:
        case = cases[name]
        assert case.is_passed and not case.is_skipped
        assert case.system_out.startswith("warning: ")
        assert ("above the warning level" in case.system_out
                or "below the warning level" in case.system_out)
    suite = _suite(render_junit(strict))
    assert suite.failures == len(warned)
    for case in suite:
        if case.name in warned:
            (result,) = case.result
            assert isinstance(result, Failure) and result.type == "warning"
            assert "warning level" in result.message
        else:
            assert case.is_passed


def test_warning_message_names_both_levels(gates):
    check = next(c for c in gates["warn"]["checks"]
                 if c["status"] == "warn" and c["direction"] == "max")
    levels = check["finding"]["levels"]
    msg = outcome(check)
    assert msg == (f"{_num(check['value'])} is above the warning level {_num(levels['warn'])} "
                   f"(fails above {_num(levels['fail'])}; {check['policy_key']})")


@pytest.mark.parametrize("status, value, direction, expected", [
    ("fail", 19.0, "min", "19 is below the minimum 100 (policy.min_audience)"),
    ("pass", 149.0, "min", "149 meets the minimum 100 (policy.min_audience)"),
    ("fail", None, "max", "could not be measured (the limit is 100; policy.min_audience)"),
])
def test_outcome_table(status, value, direction, expected):
    check = {"name": "min_audience", "policy_key": "policy.min_audience", "status": status,
             "value": value, "threshold": 100.0, "direction": direction,
             "finding": {"levels": {"warn": None, "fail": 100.0, "direction": direction}}}
    assert outcome(check) == expected


def test_passing_gate_with_its_notes(gates, tmp_path):
    doc = gates["pass"]
    path = tmp_path / "gate.xml"
    path.write_text(render("junit", doc), encoding="utf-8")
    xml = JUnitXml.fromfile(str(path))
    assert xml.tests == doc["counts"]["checks"] and xml.failures == 0
    (suite,) = list(xml)
    assert all(case.is_passed for case in suite)
    # junitparser reads no suite-level output: the notes, read as XML
    out = ET.parse(path).getroot().find("testsuite/system-out")
    assert out.text == "\n".join(doc["notes"])


def test_same_bytes_for_the_same_report(gates):
    doc = gates["fail"]
    text = render_junit(doc)
    assert render_junit(json.loads(json.dumps(doc))) == text
    assert render_junit(copy.deepcopy(doc)) == text
    assert "timestamp" not in text and "hostname" not in text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n') and text.endswith("\n")
    assert re.findall(r' time="([^"]*)"', text) == ["0.000", "0.000"]


def test_times_only_from_the_reports_timings(gates):
    doc = copy.deepcopy(gates["fail"])
    doc["seconds"] = {"total": 1.25, "min_audience": 0.5}
    suite = _suite(render_junit(doc))
    assert suite.time == pytest.approx(1.25)
    times = {c.name: c.time for c in suite}
    assert times["min_audience"] == pytest.approx(0.5)
    doc["seconds"] = {"load": 1.0, "measure": 0.5}
    assert _suite(render_junit(doc)).time == pytest.approx(1.5)


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _as_xml_holds(s: str) -> str:
    """What an XML reader gets back: newlines for line ends, U+FFFD for what XML 1.0
    cannot hold (written from the module docstring)."""
    return _NOT_XML.sub("\ufffd", s.replace("\r\n", "\n").replace("\r", "\n"))


@given(project=st.text(max_size=20), name=st.text(min_size=1, max_size=40),
       message=st.text(max_size=80), note=st.text(max_size=40))
def test_any_text_is_escaped(tmp_path_factory, project, name, message, note):
    doc = copy.deepcopy(gate_samples(tmp_path_factory)["fail"])
    doc["project"] = project
    doc["notes"] = [note]
    at = next(i for i, c in enumerate(doc["checks"]) if c["status"] == "fail")
    check = doc["checks"][at]
    check["name"], check["message"], check["policy_key"] = name, message, message or "k"
    check["finding"]["explanation"] = ""
    suite = _suite(render_junit(doc))
    case = list(suite)[at]
    assert case.name == _as_xml_holds(name)
    (result,) = case.result
    assert _as_xml_holds(message or "k") in result.message
    assert (result.text or "") == _as_xml_holds(message)


def test_only_gate_reports(tmp_path_factory):
    plan = demo_reports(tmp_path_factory)["plan"]
    with pytest.raises(InternalError, match="renders gate reports"):
        render_junit(plan)


def test_no_errors_nor_skipped_elements(gates):
    for doc in gates.values():
        for case in _suite(render_junit(doc)):
            assert not any(isinstance(r, Skipped | JUnitError) for r in case.result)
