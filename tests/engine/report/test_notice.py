"""The shoppers' notice and the one-customer access report (engine.report.notice, the
``notice`` and ``explain`` verbs called in-process)."""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import stat
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.cli import explain as explain_cli
from basketguard.engine.cli import notice as notice_cli
from basketguard.engine.cli.explain import UNKNOWN_CUSTOMER, customer_code, write_private_text
from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import compile_for, scan
from basketguard.engine.errors import DataError, OutputError
from basketguard.engine.report.json import dumps
from basketguard.engine.report.notice import (
    CONTACT_PLACEHOLDER,
    access_markdown,
    access_report,
    count_syllables,
    coverage,
    flesch_reading_ease,
    humanize,
    notice_document,
    notice_html,
    notice_markdown,
)
from basketguard.models.signatures.schema import load_library
from basketguard.models.simulator.run import SimConfig, simulate

POLICY = {"max_posterior": 0.10, "max_epsilon": 2.5, "min_k": 5, "min_audience": 100,
          "require_opt_out": True, "no_signal": ["health", "religion", "sex_life"],
          "max_posterior_by": {"reproductive": 0.05}}

UNOBTAINIUM = """
name = "unobtainium"
title = "Unobtainium <b>habit</b> & co"
sensitivity = "health"
gdpr_art9 = "health"
window_days = 30
[link]
intercept = -3.0
slope = 1.0
[[feature]]
name = "unobtainium_bars"
weight = 2.0
names = ["unobtainium"]
"""

#: Matches prenatal vitamins, but a score of 1 can never reach its threshold (score 20).
OUT_OF_REACH = """
name = "out_of_reach"
title = "Out of reach"
sensitivity = "reproductive"
window_days = 30
[link]
intercept = -10.0
slope = 0.5
[[feature]]
name = "prenatal_vitamins"
weight = 1.0
names = ["prenatal"]
"""


# ------------------------------------------------------------------------- readability
@pytest.mark.parametrize(("word", "syllables"), [
    ("cat", 1), ("the", 1), ("you", 1), ("cake", 1), ("whole", 1), ("free", 1),
    ("makes", 1), ("stores", 1), ("asked", 1), ("used", 1), ("table", 2), ("people", 2),
    ("agree", 2), ("boxes", 2), ("reveal", 2), ("mailing", 2), ("record", 2),
    ("beautiful", 3), ("pregnancy", 3), ("vitamins", 3), ("purchases", 3), ("limited", 3),
    ("privacy", 3), ("prenatal", 3), ("information", 4), ("contraception", 4),
    ("incontinence", 4), ("2024", 1), ("Pregnancy.", 3), ("**Diabetes.**", 2),
])
def test_syllable_heuristic(word, syllables):
    assert count_syllables(word) == syllables


@pytest.mark.parametrize(("word", "heuristic", "dictionary"), [
    ("created", 2, 3),   # "ea" read apart
    ("diabetes", 2, 4),  # "ia" read apart, "-es" after t dropped
    ("maybe", 1, 2),     # a final "e" that is read
])
def test_syllable_heuristic_documented_undercounts(word, heuristic, dictionary):
    assert count_syllables(word) == heuristic < dictionary


@pytest.mark.parametrize(("text", "expected"), [
    # 6 words, 6 syllables, 1 sentence
    ("The cat sat on the mat.", 206.835 - 1.015 * 6 - 84.6 * 6 / 6),
    # 15 words, 17 syllables, 2 sentences
    ("We keep a record of what you buy. Some goods can hint at private facts.",
     206.835 - 1.015 * 15 / 2 - 84.6 * 17 / 15),
    # 8 words, 17 syllables, 1 sentence
    ("Purchases of prenatal vitamins can reveal a pregnancy.",
     206.835 - 1.015 * 8 - 84.6 * 17 / 8),
    # a heading is a sentence of its own; markup is not a word; 2.5 does not end one
    ("# Cat\n\n- **The** cat sat on 2.5 mats.", 206.835 - 1.015 * 7 / 2 - 84.6 * 7 / 7),
    ("Yes! No? Sure.", 206.835 - 1.015 * 1 - 84.6 * 3 / 3),
])
def test_flesch_known_values(text, expected):
    assert flesch_reading_ease(text) == pytest.approx(expected)


def test_flesch_of_no_words_is_nan():
    assert math.isnan(flesch_reading_ease("  -- ** \n"))


def test_longer_sentences_and_words_read_harder():
    easy = flesch_reading_ease("We sell food. You buy it.")
    assert flesch_reading_ease("We sell food and you buy it.") < easy
    assert flesch_reading_ease("We distribute nourishment. Customers purchase it.") < easy


class _Visible(HTMLParser):
    """The text a browser shows: head left out, one line per block element."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.head = False

    def handle_starttag(self, tag, attrs):
        self.head = self.head or tag == "head"
        if tag in ("h1", "h2", "p", "li"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "head":
            self.head = False

    def handle_data(self, data):
        if not self.head:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return "".join(parser.parts)


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("notice")
    res = simulate(SimConfig(customers=1500, seed=3), out / "data")
    project = load_project(res.paths["project"])
    hist = load_histories(project, cache_dir=out / "cache")
    library, view = compile_for(project, hist)
    full = scan(project, hist).scores_table()
    return {"out": out, "project": project, "hist": hist, "library": library, "view": view,
            "scores": full, "path": res.paths["project"]}


@pytest.fixture(scope="module")
def pregnant(sim):
    """The original id of a customer the pregnancy signature flags."""
    t = sim["scores"]
    flagged = t.filter(pc.and_(pc.equal(t["signature"], "pregnancy"), t["flagged"]))
    assert flagged.num_rows > 0
    return flagged.column("customer_id")[0].as_py()


def _policy(**extra):
    return policy_from_dict({**POLICY, **extra}, "test policy")


def _items(markdown: str) -> dict[str, str]:
    """List items of a notice by their bold lead (without the full stop)."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^- \*\*(.+?)\.\*\* (.*)$", markdown,
                                                        re.M)}


def _call(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args([str(a) for a in argv]))


# -------------------------------------------------------------------------------- notice
def test_notice_names_what_purchases_reveal_and_how_the_policy_limits_it(sim):
    doc = notice_document(sim["library"], sim["view"], _policy())
    md = notice_markdown(doc)
    items = _items(md)
    preg = items["Pregnancy and due date"]
    assert "can reveal a pregnancy" in preg and "due date" in preg
    assert "prenatal vitamins" in preg and "pregnancy tests" in preg
    assert "We sell all 11 kinds of goods" in preg
    # its own posterior limit: not targeted, and the number in plain words
    assert "We do not target offers on it." in preg and "at most 5 in 100" in preg
    for title in ("Diabetes", "Incontinence", "Halal diet", "Sexual activity and contraception"):
        assert "Our offers never hint at it." in items[title]
        assert "We do not target offers on it." not in items[title]
    # a class under the default limit only: may be used, within the number
    alcohol = items["Possible alcohol dependence"]
    assert "could be used to choose offers" in alcohol and "at most 10 in 100" in alcohol
    assert "We do not target" not in alcohol
    assert "12 times as likely" in md and "at least 4 others" in md
    assert "fewer than 100 people" in md and "opt-out list before every mailing" in md
    assert "To opt out, contact: \\[add your contact\\]" in md


def test_notice_reads_easily_in_both_formats(sim):
    for policy in (None, _policy()):
        doc = notice_document(sim["library"], sim["view"], policy)
        md, page = notice_markdown(doc), notice_html(doc)
        assert flesch_reading_ease(md) >= 60
        assert flesch_reading_ease(visible_text(page)) >= 60


def test_readability_agrees_with_dictionary_hyphenation(sim):
    pyphen = pytest.importorskip("pyphen")
    dic = pyphen.Pyphen(lang="en_US")
    text = notice_markdown(notice_document(sim["library"], sim["view"], _policy()))
    words = [w for w in text.split() if re.search(r"[A-Za-z0-9]", w)]
    sentences = [s for s in re.split(r"[.!?]+(?=[\s)\]\"'*_<]|$)|\n", text)
                 if re.search(r"[A-Za-z0-9]", s)]
    syl = sum(max(1, len(dic.inserted(p).split("-"))) for w in words
              for p in re.split(r"[-/]", re.sub(r"[^A-Za-z/-]", "", w)) if p)
    theirs = 206.835 - 1.015 * len(words) / len(sentences) - 84.6 * syl / len(words)
    assert theirs >= 60
    assert abs(theirs - flesch_reading_ease(text)) < 10


def test_notice_is_a_deterministic_view_of_its_document(sim):
    a = notice_document(sim["library"], sim["view"], _policy())
    b = notice_document(sim["library"], sim["view"], _policy())
    assert dumps(a) == dumps(b)
    again = json.loads(dumps(a))
    assert notice_markdown(again) == notice_markdown(a)
    assert notice_html(again) == notice_html(a)


def test_notice_without_policy_says_nothing_limits_it(sim):
    md = notice_markdown(notice_document(sim["library"], sim["view"], None))
    assert "We have set no rules for this yet." in md
    assert "No rule of ours limits this yet." in _items(md)["Pregnancy and due date"]
    assert "We do not target" not in md


def test_policy_use_by_sensitivity_class(sim):
    only_default = policy_from_dict({"max_posterior": 0.2}, "p")
    doc = notice_document(sim["library"], sim["view"], only_default)
    uses = {s["signature"]: s["use"] for s in doc["signatures"]}
    assert set(uses.values()) == {"limited"}
    doc = notice_document(sim["library"], sim["view"], _policy())
    by = {s["signature"]: (s["use"], s["no_signal"], s["max_posterior"])
          for s in doc["signatures"]}
    assert by["pregnancy"] == ("not_targeted", False, 0.05)
    # no_signal limits what offers show, not who gets them: still only "limited"
    assert by["diabetes"] == ("limited", True, 0.10)
    assert by["new_baby"] == ("limited", False, 0.10)
    no_limit = policy_from_dict({"min_k": 3}, "p")
    doc = notice_document(sim["library"], sim["view"], no_limit)
    assert {s["use"] for s in doc["signatures"]} == {"unlimited"}
    assert "at least 2 others" in notice_markdown(doc)


def test_a_signature_matching_nothing_is_not_detectable(sim, tmp_path):
    (tmp_path / "u.toml").write_text(UNOBTAINIUM)
    (tmp_path / "r.toml").write_text(OUT_OF_REACH)
    lib = load_library([tmp_path], only=["pregnancy", "unobtainium", "out_of_reach"])
    library, view = compile_for(sim["project"], sim["hist"], lib)
    cov = {c.signature: c for c in coverage(library, view)}
    assert cov["unobtainium"].status == "not_detectable"
    assert (cov["unobtainium"].features_matched, cov["unobtainium"].features_total) == (0, 1)
    assert cov["out_of_reach"].status == "weak"
    assert cov["pregnancy"].status == "detectable"
    doc = notice_document(library, view, _policy(), opt_out_contact="<script>x</script> & co")
    md, page = notice_markdown(doc), notice_html(doc)
    absent = md.split("## What our data cannot reveal")[1].split("## ")[0]
    assert "Unobtainium \\<b\\>habit\\</b\\> & co." in absent
    assert "We sell none of the goods that would show" in absent
    assert "It cannot be found in our data." in absent
    assert "could hint at" in _items(md)["Out of reach"]
    assert "too weak to show it for sure" in _items(md)["Out of reach"]
    assert "1 of them can be found in our data, and 1 only weakly." in md
    # values from the data and the contact are escaped in HTML; no script, no outside files
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt; &amp; co" in page
    assert "Unobtainium &lt;b&gt;habit&lt;/b&gt; &amp; co" in page
    assert "http" not in page and "<mark>" not in page
    assert "\\<script\\>x\\</script\\> & co" in md


def test_placeholder_is_marked_in_html(sim):
    page = notice_html(notice_document(sim["library"], sim["view"], None))
    assert f"<mark>{CONTACT_PLACEHOLDER}</mark>" in page


def test_product_kinds_prefer_a_specific_category_else_the_feature_name(sim):
    cov = {c.signature: c for c in coverage(sim["library"], sim["view"])}
    assert cov["pregnancy"].examples == ("prenatal vitamins", "pregnancy tests",
                                         "unscented lotion")
    # halal chicken is a small share of the catalog's chicken: the feature's name, not "chicken"
    assert cov["halal_diet"].examples[0] == "halal chicken"
    assert humanize("spirits_larger") == "spirits" and humanize("large") == "large"


def test_notice_verb_writes_the_same_bytes_atomically(sim, tmp_path, capsys):
    cache = sim["out"] / "cache"
    outs = []
    for i in range(2):
        out = tmp_path / f"n{i}.html"
        assert _call(notice_cli, [sim["path"], "--cache-dir", cache, "--format", "html",
                                  "--out", out, "--opt-out-contact", "privacy@shop.example"]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and b"privacy@shop.example" in outs[0]
    captured = capsys.readouterr()
    assert captured.out == "" and "no policy" in captured.err and "placeholder" not in captured.err
    assert _call(notice_cli, [sim["path"], "--cache-dir", cache]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# What your shopping can tell us")
    assert "placeholder" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n0.html", "n1.html"]


# -------------------------------------------------------------------------- access report
def test_explain_lists_the_inference_and_the_products_behind_it(sim, pregnant):
    hist = sim["hist"]
    code = customer_code(hist, str(pregnant))
    doc = access_report(hist, code, sim["library"], sim["view"])
    assert doc["customer"] == pregnant
    inf = {e["signature"]: e for e in doc["inferences"]}
    preg = inf["pregnancy"]
    assert preg["flagged"] and preg["probability"] >= 0.5
    assert preg["event"]["name"] == "due date" and preg["event"]["date"]
    assert preg["products"] and {p["feature"] for p in preg["products"]} <= set(preg["features"])
    assert any(re.search("prenatal|pregnancy", p["product"], re.I) for p in preg["products"])
    for p in preg["products"]:
        assert preg["evidence_date"] >= p["last"] >= p["first"]
    flags = [e["flagged"] for e in doc["inferences"]]
    assert flags == sorted(flags, reverse=True)
    md = access_markdown(doc)
    assert "### Pregnancy and due date: flagged" in md and "estimated due date" in md
    assert "| product | evidence | times bought | first | last |" in md


def test_explain_rows_equal_the_full_scan_rows(sim, pregnant):
    hist = sim["hist"]
    doc = access_report(hist, customer_code(hist, str(pregnant)), sim["library"], sim["view"])
    t = sim["scores"]
    rows = t.filter(pc.equal(t["customer_id"], pregnant)).to_pylist()
    assert len(rows) == len(doc["inferences"])
    mine = {e["signature"]: e for e in doc["inferences"]}
    for r in rows:
        e = mine[r["signature"]]
        assert e["probability"] == pytest.approx(r["probability"], abs=1e-6)
        assert e["flagged"] == r["flagged"] and e["features"] == r["top_features"]
        assert e["evidence_date"] == r["peak_date"].isoformat()
        assert (e["event"] or {}).get("date") == (
            r["event_date"].isoformat() if r["event_date"] else None)
    assert {s["signature"] for s in doc["no_evidence"]} == (
        {s.name for s in sim["library"].signatures} - set(mine))


def test_customer_ids_read_like_the_lines_and_unknown_ones_are_never_echoed(sim, pregnant):
    hist = sim["hist"]
    code = customer_code(hist, str(pregnant))
    assert customer_code(hist, f" {pregnant}.0 ") == code
    for bad in ("99999999", "cust-zz9"):
        with pytest.raises(DataError) as info:
            customer_code(hist, bad)
        assert str(info.value) == UNKNOWN_CUSTOMER and bad not in str(info.value)


def test_explain_verb_writes_owner_only_and_prints_nothing(sim, pregnant, tmp_path, capsys):
    out = tmp_path / "report.md"
    out.write_text("old")
    os.chmod(out, 0o644)
    assert _call(explain_cli, [sim["path"], "--cache-dir", sim["out"] / "cache", "--customer",
                               pregnant, "--out", out]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert "### Pregnancy and due date: flagged" in out.read_text()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]
    new = tmp_path / "sub" / "new.json"
    assert _call(explain_cli, [sim["path"], "--cache-dir", sim["out"] / "cache", "--customer",
                               pregnant, "--out", new, "--json"]) == 0
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    assert json.loads(new.read_text())["customer"] == pregnant


def test_explain_verb_prints_to_stdout_without_out(sim, pregnant, capsys):
    assert _call(explain_cli, [sim["path"], "--cache-dir", sim["out"] / "cache", "--customer",
                               pregnant]) == 0
    captured = capsys.readouterr()
    assert f"Customer: {pregnant}" in captured.out and captured.err == ""


def test_explain_segments_and_opt_out(sim, pregnant, tmp_path, capsys):
    other = next(i for i in sim["hist"].customer_ids.to_pylist() if i != pregnant)
    pa_csv = "customer\n{}\n"
    (tmp_path / "in.csv").write_text(pa_csv.format(f"{other}\n{pregnant}"))
    (tmp_path / "out.csv").write_text(pa_csv.format(other))
    (tmp_path / "optout.csv").write_text(pa_csv.format(pregnant))
    data = Path(sim["path"]).parent
    proj = tmp_path / "data" / "with_segment.toml"
    shutil.copytree(data, tmp_path / "data", ignore=shutil.ignore_patterns("*.toml"))
    pq.write_table(pa.table({"customer_id": [pregnant]}), tmp_path / "data" / "segment.parquet")
    proj.write_text(Path(sim["path"]).read_text() + '\n[segment]\nsource = "segment.parquet"\n'
                    '[segment.columns]\ncustomer = "customer_id"\n')
    assert _call(explain_cli, [proj, "--cache-dir", sim["out"] / "cache", "--customer", pregnant,
                               "--segment", tmp_path / "in.csv", "--segment", tmp_path / "out.csv",
                               "--opt-out", tmp_path / "optout.csv", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["member"] for s in doc["segments"]] == [True, False, True]
    assert doc["segments"][2]["segment"].startswith("[segment]")
    assert doc["opt_out"]["listed"] is True
    md = access_markdown(doc)
    assert "On the opt-out list" in md and ": not a member" in md


def test_private_write_failure_names_the_option_not_the_path(tmp_path):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "cust-7f3a9.md"
    with pytest.raises(OutputError) as info:
        write_private_text(target, "secret")
    assert "--out" in str(info.value) and "cust-7f3a9" not in str(info.value)
