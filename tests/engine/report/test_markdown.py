"""The gate report as a pull-request comment: the verdict word, a table of checks,
the plan's headline and the content-vs-recipient-cover sentence, escaped and the
same text for the same report."""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import InternalError
from basketguard.engine.report.formats import render
from basketguard.engine.report.markdown import render_markdown
from tests.engine.report.test_schema import demo_reports, gate_samples


@pytest.fixture(scope="module")
def gates(tmp_path_factory):
    return gate_samples(tmp_path_factory)


def _rows(text: str) -> list[list[str]]:
    """The body rows of every table (cells stripped), header and rule left out."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| Status", "| ---")):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip() for c in cells])
    return rows


@pytest.mark.parametrize("name, word", [("fail", "FAIL"), ("warn", "WARN"),
                                        ("warn_fails", "FAIL"), ("pass", "PASS")])
def test_verdict_line_has_the_status_word(gates, name, word):
    doc = gates[name]
    text = render_markdown(doc)
    assert text.startswith(f"### basketguard gate: {word}\n")
    n = doc["counts"]
    assert (f"**Verdict: {word}**: {n['checks']} checks: {n['fail']} fail, {n['warn']} warn, "
            f"{n['pass']} pass (exit code {doc['exit_code']}") in text
    assert text.isascii() or not re.search("[\U0001F300-\U0001FAFF\u2600-\u27BF]", text)


def test_table_holds_every_check_worst_first(gates):
    doc = gates["fail"]
    rows = _rows(render_markdown(doc))
    assert len(rows) == len(doc["checks"])
    assert [r[0] for r in rows] == sorted((r[0] for r in rows),
                                         key=["FAIL", "WARN", "PASS"].index)
    by_name = {r[1].strip("`"): r for r in rows}
    for c in doc["checks"]:
        status, _, value, threshold = by_name[c["name"]]
        assert status == c["status"].upper()
        assert value == (f"{int(c['value']):,}" if float(c["value"]).is_integer()
                         else f"{c['value']:.4g}")
        word = "max" if c["direction"] == "max" else "min"
        assert threshold.startswith(f"{word} ")
        warn = c["finding"]["levels"]["warn"]
        if warn is not None:
            assert f"(warn {warn:g})" in threshold


def test_passing_checks_are_folded(gates):
    text = render_markdown(gates["pass"])
    n = gates["pass"]["counts"]["checks"]
    assert f"<details><summary>{n} passing checks</summary>\n\n| Status |" in text
    assert text.count("| Status | Check | Value | Threshold |") == 1  # nothing flagged
    assert "</details>" in text


def test_plan_headline_and_cover_sentence(gates):
    doc = gates["pass"]
    plan = doc["plan"]
    act = plan["actions"]
    text = render_markdown(doc)
    assert (f"**Plan** (verified by measuring the amended mailing again: PASS): "
            f"{act['decoys_added']:,} decoy recipients added, "
            f"{act['targets_suppressed']:,} targets suppressed, "
            f"{act['recipients']:,} recipients.") in text
    cover = plan["content_vs_recipient_cover"]
    assert text.rstrip("\n").endswith(f"> {cover}")
    assert text.count(cover) == 1  # the plan's notes repeat it; the summary does not


def test_a_plan_that_failed_names_its_binding_checks(gates):
    doc = copy.deepcopy(gates["pass"])
    doc["plan"]["verified"] = False
    doc["plan"]["binding"] = [{"check": "inference.posterior.pregnancy",
                               "why": "no decoy | suppression mix reached 0.1"}]
    text = render_markdown(doc)
    assert "**Plan** (not verified by measuring the amended mailing again: FAIL)" in text
    assert "- `inference.posterior.pregnancy`: no decoy \\| suppression mix reached 0.1" in text


def test_without_plan_nor_cover(gates):
    doc = copy.deepcopy(gates["fail"])
    doc["plan"] = None
    del doc["mailing"]["content_vs_recipient_cover"]
    text = render_markdown(doc)
    assert "**Plan**" not in text and "\n> " not in text
    assert "- The gate measured the mailing as given." in text


def test_same_text_for_the_same_report(gates):
    for doc in gates.values():
        text = render_markdown(doc)
        assert render_markdown(json.loads(json.dumps(doc))) == text
        assert render("markdown", doc) == text
        assert text.endswith("\n") and not text.endswith("\n\n")


@given(text=st.text(max_size=60))
def test_document_text_cannot_break_the_table(tmp_path_factory, text):
    doc = copy.deepcopy(gate_samples(tmp_path_factory)["fail"])
    doc["checks"][0]["name"] = text or "x"
    doc["segment"]["source"] = text
    out = render_markdown(doc)
    rows = _rows(out)
    assert len(rows) == len(doc["checks"])
    assert all(len(r) == 4 for r in rows)
    segment_line = next(line for line in out.splitlines() if line.startswith("Segment: "))
    assert "\n" not in segment_line and "<" not in segment_line.replace("\\<", "")


def test_only_gate_reports(tmp_path_factory):
    with pytest.raises(InternalError, match="renders gate reports"):
        render_markdown(demo_reports(tmp_path_factory)["assess"])


def test_notes_keep_their_code_spans(gates):
    doc = copy.deepcopy(gates["fail"])
    doc["notes"] = ["A verified plan meets the policy (see `plan`); <b>not</b> markup."]
    text = render_markdown(doc)
    assert "- A verified plan meets the policy (see `plan`); \\<b\\>not\\</b\\> markup." in text
