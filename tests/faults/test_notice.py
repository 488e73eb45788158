"""Fault and end-to-end cases: ``basketguard notice`` and ``basketguard explain``.

The notice holds no customer data, is written atomically and is the same bytes
on every run. The access report is individual-level output: written only to
``--out`` with owner-only permissions (or printed on stdout when asked without
``--out``), never to stderr, and no message, not even an unknown id's, repeats
the customer id.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.faults.conftest import IDS
from tests.faults.harness import check, run_cli

POLICY = """[policy]
max_posterior = 0.10
min_audience = 100
no_signal = ["health", "religion", "sex_life"]
[policy.max_posterior_by]
reproductive = 0.05
"""
UNKNOWN = "cust-zz999"


# -------------------------------------------------------------------------------- notice
def test_notice_on_stdout_with_notes_on_stderr(synth: Path):
    run = run_cli(["notice", "synth/project.toml"], synth)
    check(run, code=0)
    assert run.stdout.startswith("# What your shopping can tell us\n")
    assert "can reveal a pregnancy" in run.stdout
    assert "To opt out, contact: \\[add your contact\\]" in run.stdout
    assert "opt-out contact is a placeholder" in run.stderr and "no policy" in run.stderr


@pytest.mark.slow
def test_notice_html_is_written_atomically_and_reproducibly(synth: Path):
    (synth / "policy.toml").write_text(POLICY)
    args = ["notice", "synth/project.toml", "--policy", "policy.toml", "--format", "html",
            "--opt-out-contact", "privacy@shop.example or 0800 123 456"]
    first = run_cli([*args, "--out", "out/notice.html"], synth)
    check(first, code=0, outputs=["out/notice.html"])
    second = run_cli([*args, "--out", "notice2.html"], synth)
    check(second, code=0, outputs=["notice2.html"])
    page = (synth / "out" / "notice.html").read_bytes()
    assert page == (synth / "notice2.html").read_bytes()
    text = page.decode()
    assert text.startswith("<!DOCTYPE html>") and "We do not target offers on it." in text
    assert "privacy@shop.example or 0800 123 456" in text and "<mark>" not in text
    assert first.stdout == "" and "placeholder" not in first.stderr


def test_notice_without_a_catalog_says_nothing_can_be_found(shop: Path):
    run = run_cli(["notice", "shop.toml"], shop)
    check(run, code=0, absent=IDS)
    assert "None of the hints we look for can be found in our data." in run.stdout
    assert "## What our data cannot reveal" in run.stdout
    assert "We look for 10 kinds of private fact. 0 of them can be found" in run.stdout


@pytest.mark.parametrize(("extra", "fragments"), [
    (["--policy", "nope.toml"], ["nope.toml"]),
    (["--policy", "bad.toml"], ["bad.toml", "max_posteror", "Did you mean 'max_posterior'"]),
    (["--out", "synth/lines.parquet"], ["--out", "would overwrite"]),
    (["--out", "synth/project.toml"], ["--out", "would overwrite", "project file"]),
    (["--format", "pdf"], ["--format", "invalid choice"]),
    (["--opt-out-contact", "  "], ["--opt-out-contact is empty"]),
    (["--only", "pregnancyy"], ["Did you mean 'pregnancy'"]),
])
def test_notice_errors_write_nothing(synth: Path, extra, fragments):
    (synth / "bad.toml").write_text("[policy]\nmax_posteror = 0.1\n")
    check(run_cli(["notice", "synth/project.toml", *extra], synth), code=3,
          first_line=fragments)


# ------------------------------------------------------------------------------- explain
def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_explain_to_out_is_owner_only_and_silent(shop: Path):
    run = run_cli(["explain", "shop.toml", "--customer", IDS[0], "--out", "report.md"], shop)
    check(run, code=0, outputs=["report.md"], absent=IDS)
    assert run.stdout == "" and run.stderr == ""
    assert _mode(shop / "report.md") == 0o600
    text = (shop / "report.md").read_text()
    assert f"Customer: {IDS[0]}" in text and "No opt-out list was given" in text


def test_explain_replaces_a_readable_file_with_an_owner_only_one(shop: Path):
    (shop / "report.json").write_text("{}")
    (shop / "report.json").chmod(0o644)
    run = run_cli(["explain", "shop.toml", "--customer", IDS[1], "--json", "--out",
                   "report.json"], shop)
    check(run, code=0, outputs=["report.json"], absent=IDS)
    assert _mode(shop / "report.json") == 0o600
    assert json.loads((shop / "report.json").read_text())["customer"] == IDS[1]


def test_explain_without_out_prints_on_stdout_only(shop: Path):
    run = run_cli(["explain", "shop.toml", "--customer", IDS[2]], shop)
    check(run, code=0)
    assert f"Customer: {IDS[2]}" in run.stdout
    assert not any(i in run.stderr for i in IDS)


def test_explain_segments_and_opt_out(shop: Path):
    (shop / "seg_a.csv").write_text(f"customer\n{IDS[0]}\n{IDS[1]}\n")
    (shop / "seg_b.csv").write_text(f"customer\n{IDS[2]}\n")
    (shop / "optout.csv").write_text(f"customer\n{IDS[0]}\n")
    run = run_cli(["explain", "shop.toml", "--customer", IDS[0], "--json", "--segment",
                   "seg_a.csv", "--segment", "seg_b.csv", "--opt-out", "optout.csv"], shop)
    check(run, code=0)
    doc = json.loads(run.stdout)
    assert doc["segments"] == [{"segment": "segment file seg_a.csv", "member": True},
                               {"segment": "segment file seg_b.csv", "member": False}]
    assert doc["opt_out"] == {"list": "file optout.csv", "listed": True}


@pytest.mark.parametrize("extra", [[], ["--out", "report.md"], ["--json"]])
def test_an_unknown_customer_is_exit_3_and_never_echoed(shop: Path, extra):
    run = run_cli(["explain", "shop.toml", "--customer", UNKNOWN, *extra], shop)
    check(run, code=3, first_line=["the customer id given with --customer is not a customer "
                                   "of the base"], absent=[UNKNOWN, *IDS])


def test_an_unknown_customer_is_not_echoed_by_the_debug_traceback_either(shop: Path):
    run = run_cli(["explain", "shop.toml", "--customer", UNKNOWN, "--debug"], shop)
    assert run.code == 3 and "Traceback" in run.stderr
    assert all(c.startswith(".cache/") for c in run.changed)
    assert UNKNOWN not in run.stderr and UNKNOWN not in run.stdout


@pytest.mark.parametrize(("args", "fragments"), [
    ([], ["--customer"]),
    (["--customer", IDS[0], "--segment", "nope.csv"], ["nope.csv", "does not exist"]),
    (["--customer", IDS[0], "--segment", "strangers.csv"], ["strangers.csv",
                                                             "not customers of the base"]),
    (["--customer", IDS[0], "--opt-out", "nope.csv"], ["nope.csv", "--opt-out"]),
    (["--customer", IDS[0], "--out", "lines.csv"], ["--out", "would overwrite"]),
    (["--customer", IDS[0], "--as-of", "June"], ["not an ISO date"]),
])
def test_explain_errors_write_nothing_and_name_no_customer(shop: Path, args, fragments):
    (shop / "strangers.csv").write_text("customer\ncust-00000\n")
    check(run_cli(["explain", "shop.toml", *args], shop), code=3, first_line=fragments,
          absent=IDS)


@pytest.mark.slow
def test_explain_a_customer_the_pregnancy_signature_flags(synth: Path):
    run = run_cli(["scan", "synth/project.toml", "--only", "pregnancy", "--scores",
                   "scores.parquet"], synth)
    check(run, code=0, outputs=["scores.parquet"])
    t = pq.read_table(synth / "scores.parquet")
    flagged = t.filter(t["flagged"]).column("customer_id")
    assert len(flagged) > 0
    customer = str(flagged[0].as_py())
    run = run_cli(["explain", "synth/project.toml", "--customer", customer, "--out",
                   "access/report.md"], synth)
    check(run, code=0, outputs=["access/report.md"])
    assert run.stdout == "" and run.stderr == ""
    report = synth / "access" / "report.md"
    assert _mode(report) == 0o600
    text = report.read_text()
    assert "### Pregnancy and due date: flagged" in text and "estimated due date" in text
    assert "| product | evidence | times bought | first | last |" in text
    row = t.filter(pc.equal(t["customer_id"], flagged[0])).to_pylist()[0]
    assert f"probability {row['probability']:.3f}" in text
