"""The HTML report: one self-contained, deterministic, accessible page, rendered by a browser.

The documents are the demo's own (``basketguard demo`` run in-process on 2,000
customers); the gate report is built from the plan the way the gate shapes it
(verdict from the mailing as given, one check per judged finding). The page is
checked as text (sections, charts, escaping, no external resource) and rendered
in headless Chromium (:mod:`tests.engine.report.chromium`): a screenshot of the
expected size that is not blank, and a DOM that still holds the sections.

``python -m tests.engine.report.test_html [PNG]`` writes the screenshot of the
demo report that the documentation shows (``docs/img/report.png``).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import sys
import tempfile
from pathlib import Path

import pytest

from basketguard.engine.cli.demo import DEMO_POLICY
from basketguard.engine.cli.main import main
from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.errors import ConfigError
from basketguard.engine.report import charts
from basketguard.engine.report.charts import pct
from basketguard.engine.report.html import EVENT_WORDS, render_html
from tests.engine.report import chromium

REPO = Path(__file__).resolve().parents[3]
EXIT = {"pass": 0, "fail": 1, "warn": 2}
POSTERIOR = "inference.posterior."


def run_demo(out: Path, customers: int) -> dict[str, dict]:
    """The demo's documents (profile, scan, assess, plan), generated into ``out``."""
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--out", str(out), "--customers", str(customers)]) == 0
    return {k: json.loads((out / f"{k}.json").read_text()) for k in
            ("profile", "scan", "assess", "plan")}


#: Finding check prefix -> the policy key the gate names its check after.
GATE_KEYS = (("inference.posterior.", "max_posterior"), ("inference.epsilon.", "max_epsilon"),
             ("reid.min_k.", "min_k"), ("mailing.audience", "min_audience"),
             ("reid.unicity", "max_unicity"), ("mailing.opt_out", "require_opt_out"),
             ("content.no_signal", "no_signal"))


def gate_name(check: str) -> tuple[str, str]:
    """(check name, policy key) as the gate gives them (``max_posterior:pregnancy``)."""
    key, rest = next((k, check[len(p):]) for p, k in GATE_KEYS if check.startswith(p))
    return (f"{key}:{rest}" if rest else key), f"policy.{key}"


def gate_from_plan(plan: dict, project: str = "synthetic") -> dict:
    """A gate report shaped like the gate's, for the mailing the plan starts from."""
    before = plan["before"]
    checks = [{"name": gate_name(f["check"])[0], "policy_key": gate_name(f["check"])[1],
               "status": f["severity"], "value": f["value"], "threshold": f["threshold"],
               "direction": (f["levels"] or {}).get("direction", "max"),
               "message": f["explanation"], "finding": f}
              for f in before["findings"]
              if f["severity"] != "info" and not f["check"].startswith("coverage.")]
    verdict = before["severity"]
    return {"report_version": "1.0", "kind": "gate", "project": project, "verdict": verdict,
            "exit_code": EXIT[verdict], "fail_on": "fail",
            "policy": policy_from_dict(DEMO_POLICY, "demo policy").to_dict()
            | {"origin": "demo policy"},
            "segment": plan["segment"], "checks": checks,
            "counts": {"checks": len(checks)} | {s: sum(c["status"] == s for c in checks)
                                                 for s in ("pass", "warn", "fail")},
            "mailing": before, "plan": plan, "notes": list(plan["notes"]), "seconds": {}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    docs = run_demo(out, 2000)
    docs["gate"], docs["dir"] = gate_from_plan(docs["plan"]), out
    return docs


@pytest.fixture(scope="module")
def page(demo):
    return render_html(demo["gate"], scan=demo["scan"], assess=demo["assess"])


def svg_titles(html: str) -> list[str]:
    return re.findall(r'<svg [^>]*>\s*<title id="[^"]+">([^<]*)</title>', html)


def failing_posteriors(doc: dict) -> list[dict]:
    return [c for c in doc["checks"] if c["finding"]["check"].startswith(POSTERIOR)
            and c["status"] in ("fail", "warn")]


def test_the_verdict_comes_first_in_plain_words(demo, page):
    gate = demo["gate"]
    assert gate["verdict"] == "fail"  # the demo's pregnancy mailing as given
    top = max(failing_posteriors(gate), key=lambda c: c["value"] / c["threshold"])
    event = top["finding"]["check"][len(POSTERIOR):]
    n = gate["mailing"]["recipients"]
    headline = (f"This mailing fails the policy: {n:,} recipients, {pct(top['value'])} would "
                f"be read as {EVENT_WORDS[event][0]}")
    assert page.index('id="verdict"') < page.index('id="findings"') < page.index('id="plan"')
    assert f"<h2>{headline}</h2>" in page
    assert f"Gate exit code {gate['exit_code']}" in page
    assert "The recommended plan (add " in page


def test_sections_tables_and_charts(demo, page):
    gate, scan = demo["gate"], demo["scan"]
    for section in ("verdict", "findings", "singled-out", "evidence", "products", "scores",
                    "coverage", "plan", "repeated", "verification", "policy", "cover"):
        assert f'id="{section}"' in page, section
    for check in gate["checks"]:
        assert f"<code>{check['name']}</code> <code>{check['finding']['check']}</code>" in page
    ids = re.findall(r' id="([^"]+)"', page)
    assert len(ids) == len(set(ids)), "element ids repeat"
    assert page.count("<table") == page.count("<caption>") > 0
    assert '<th scope="col">' in page and '<th scope="row">' in page
    titles = svg_titles(page)
    assert len(titles) == page.count("<svg ") == page.count("</svg>")
    assert page.count('role="img"') == len(titles)
    failing = failing_posteriors(gate)
    read = [EVENT_WORDS[c["finding"]["check"][len(POSTERIOR):]][0] for c in failing]
    expected = ([f"Share read as {r} against decoy recipients added" for r in read]
                + ["Smallest group of look-alike recipients",
                   "Recipients singled out by known purchases",
                   "Detector coverage of this catalog"]
                + [f"{e['title']}: customers per probability band" for e in scan["signatures"]])
    for title in expected:
        assert title in titles, title
    products = [t for t in titles if t.startswith("Products behind: ")]
    repeated = [t for t in titles if t.endswith("after repeated mailings")]
    assert len(products) >= 1 and len(repeated) == 1
    assert len(titles) == len(expected) + len(products) + len(repeated)


def test_the_decoy_curve_passes_through_the_verified_plan(demo):
    """posterior(d) = (S + d pbar)/(n + d) drawn from the documents meets the plan's point."""
    plan = demo["plan"]
    after = {e["event"]: e for e in plan["verification"]["events"]}
    assert plan["actions"]["targets_suppressed"] == 0 and plan["actions"]["decoys_added"] > 0
    for before in plan["before"]["events"]:
        (curve,) = charts.decoy_curve(before, after[before["event"]], plan["actions"])
        assert curve.source == "plan"
        assert curve.posterior(0) == pytest.approx(before["posterior"]["value"], rel=1e-9)
        assert curve.posterior(curve.plan_decoys) == pytest.approx(
            after[before["event"]]["posterior"]["value"], rel=1e-9, abs=1e-12)


def test_without_a_plan_the_curves_bound_the_decoys(demo):
    """Plan left out (or targets suppressed): best-case and average-customer decoys."""
    gate = copy.deepcopy(demo["gate"]) | {"plan": None}
    html = render_html(gate)
    assert 'id="plan"' not in html and "decoys carrying no signal (best case)" in html
    assert "decoys like an average customer" in html
    before = gate["mailing"]["events"][0]
    actions = dict(demo["plan"]["actions"], targets_suppressed=1)
    zero, base = charts.decoy_curve(before, before, actions)
    assert (zero.source, zero.pbar, base.source) == ("zero", 0.0, "base")
    assert base.pbar == pytest.approx(before["base_rate"])
    if zero.posterior(0) > 0.1:
        d = zero.needed(0.1)
        assert zero.posterior(d) == pytest.approx(0.1)


def test_a_gate_report_from_the_gate_renders(demo, tmp_path):
    """The gate's own report (``basketguard gate --recommend``) renders like the one built here."""
    pytest.importorskip("basketguard.engine.cli.gate")
    out = tmp_path / "gate.json"
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["gate", str(demo["dir"] / "data" / "project.toml"), "--no-cache",
                     "--segment-signature", "pregnancy", "--policy",
                     str(REPO / "examples" / "policies" / "demo.toml"), "--recommend",
                     "--report", str(out)])
    gate = json.loads(out.read_text())
    assert code == EXIT[gate["verdict"]] == gate["exit_code"]
    html = render_html(gate, scan=demo["scan"])
    built = render_html(demo["gate"], scan=demo["scan"])
    assert _verdict_of(html) == _verdict_of(built)
    assert svg_titles(html) == svg_titles(built)
    for check in gate["checks"]:
        assert f"<code>{check['name']}</code>" in html


def _verdict_of(html: str) -> str:
    return re.search(r'<section id="verdict".*?</section>', html, re.S).group(0)


def test_a_plan_document_alone_renders(demo):
    plan = demo["plan"]
    html = render_html(plan, title="demo plan")
    assert "<title>demo plan</title>" in html and 'id="plan"' in html
    assert 'id="policy"' not in html and "Gate exit code" not in html
    assert f"This mailing {'fails' if plan['before']['severity'] == 'fail' else 'passes'}" in html
    assert len(svg_titles(html)) == html.count("<svg ")


def test_a_passing_gate_says_so():
    finding = {"check": "mailing.audience", "metric": "recipients of the mailing",
               "value": 150.0, "threshold": 100,
               "levels": {"warn": None, "fail": 100, "direction": "min"}, "severity": "pass",
               "explanation": "The mailing goes to 150 customers.", "details": {}}
    doc = {"kind": "gate", "verdict": "pass", "exit_code": 0, "fail_on": "fail",
           "checks": [{"name": finding["check"], "status": "pass", "value": 150.0,
                       "threshold": 100, "direction": "min", "message": "",
                       "finding": finding}],
           "mailing": {"recipients": 150, "findings": [finding], "events": []}, "plan": None,
           "segment": {"members": 150}, "notes": []}
    html = render_html(doc)
    assert "<h2>This mailing passes the policy: 150 recipients</h2>" in html
    assert "No check fails or warns." in html and 'id="passing"' in html


def test_same_documents_same_bytes(demo, page):
    again = json.loads(json.dumps(demo["gate"]))
    assert render_html(again, scan=demo["scan"], assess=demo["assess"]) == page
    assert render_html(demo["plan"]) == render_html(copy.deepcopy(demo["plan"]))


def test_no_external_resource(page):
    low = page.lower()
    for needle in ("http://", "https://", "<script", "src=", "<link", "@import", "url(",
                   "<img", "<iframe"):
        assert needle not in low, needle


def test_every_text_is_escaped(demo):
    gate = copy.deepcopy(demo["gate"])
    evil = '<script>alert("x")</script> & <b>'
    gate["segment"]["source"] = evil
    gate["notes"].append(evil)
    gate["checks"][0]["message"] = evil
    gate["checks"][0]["finding"]["explanation"] = evil
    scan = copy.deepcopy(demo["scan"])
    scan["signatures"][0]["title"] = scan["signatures"][0]["signature"] = evil
    html = render_html(gate, scan=scan, title=evil)
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in html


@pytest.mark.parametrize("doc", [{}, {"kind": "scan"}, {"kind": None, "before": {}}],
                         ids=["empty", "another-kind", "half-a-plan"])
def test_other_documents_are_refused(doc):
    with pytest.raises(ConfigError, match="gate report"):
        render_html(doc)


@pytest.mark.parametrize("lo, hi, ticks", [
    (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
    (0.0, 162.5, [0.0, 50.0, 100.0, 150.0, 200.0]),
    (1.0, 6.0, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
    (0.0, 0.0, [0.0, 0.2]),
], ids=["unit", "decoys", "mailings", "empty-range"])
def test_nice_ticks(lo, hi, ticks):
    assert charts.nice_ticks(lo, hi) == pytest.approx(ticks)


def test_rendered_by_headless_chromium(demo, page, tmp_path):
    binary = chromium.require_chromium()
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    png = tmp_path / "report.png"
    chromium.screenshot(binary, html, png, width=1280, height=2400)
    shot = chromium.read_png(png)
    assert (shot.width, shot.height) == (1280, 2400)
    assert shot.distinct_rows > 200, "the screenshot is (nearly) blank"
    dom = chromium.dump_dom(binary, html)
    for section in ("verdict", "findings", "evidence", "plan", "verification"):
        assert f'id="{section}"' in dom, section
    assert dom.count("<svg ") == page.count("<svg ")
    assert "would be read as" in dom


def save_demo_screenshot(png: Path, customers: int = 20_000, height: int = 1800) -> int:
    """Render the demo's gate report in headless Chromium into ``png`` (the top ``height``
    pixels at 1280 wide: the verdict and the first findings, under 400 KB); returns its bytes."""
    binary = chromium.find_chromium()
    if binary is None:
        raise SystemExit(f"headless Chromium not found ({chromium.INSTALL})")
    with tempfile.TemporaryDirectory(prefix="basketguard-report-") as tmp:
        docs = run_demo(Path(tmp) / "demo", customers)
        html = Path(tmp) / "report.html"
        html.write_text(render_html(gate_from_plan(docs["plan"]), scan=docs["scan"],
                                    assess=docs["assess"]), encoding="utf-8")
        png.parent.mkdir(parents=True, exist_ok=True)
        chromium.screenshot(binary, html, png, height=height)
    return chromium.recompress_png(png)


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "img" / "report.png"
    print(f"wrote {target} ({save_demo_screenshot(target):,} bytes)")
