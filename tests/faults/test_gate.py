"""End-to-end and fault cases of ``basketguard gate``, run as a pipeline would.

Exit 0 on a segment amended by ``basketguard recommend --out``, 1 on the
pregnancy-targeted segment, 2 with warnings only (1 with ``--fail-on warn``),
3 for every error and for every policy check that could not be measured; the
JSON report is written atomically, byte-identical across runs, and holds no
customer id unless ``--include-ids`` asks for them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from basketguard.engine.report.schemas import validate
from tests.faults.conftest import IDS
from tests.faults.harness import check, run_cli

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies"

POLICY = """[policy]
max_posterior = 0.10
max_epsilon = 2.5
min_k = 3
k_scope = "segment"
attributes = ["age_band", "income_band"]
min_audience = 40
"""

#: Warnings only for the pregnancy segment: its posterior and epsilon are above the
#: warning levels, below the failure levels.
WARN_ONLY = """[policy]
max_posterior = { warn = 0.10, fail = 0.95 }
max_epsilon = { warn = 1.0, fail = 50.0 }
"""


def _gate(folder: Path, *extra: str, policy: str | None = POLICY,
          seg: str = "--segment-signature=pregnancy", project: str = "synth/project.toml"):
    args = ["gate", project, seg]
    if policy is not None:
        (folder / "policy.toml").write_text(policy)
        args += ["--policy", "policy.toml"]
    return run_cli([*args, *extra], folder, timeout=300)


def _light_customers(folder: Path, how_many: int = 3) -> tuple[list[int], int]:
    """Customers with the fewest distinct items, and one more than the most they have."""
    t = pq.read_table(folder / "synth" / "lines.parquet", columns=["customer_id", "item_id"])
    pairs = t.group_by(["customer_id", "item_id"]).aggregate([])
    n = pairs.group_by("customer_id").aggregate([("item_id", "count")])
    order = pc.sort_indices(n, sort_keys=[("item_id_count", "ascending"),
                                          ("customer_id", "ascending")])
    n = n.take(order).slice(0, how_many)
    return n.column("customer_id").to_pylist(), max(n.column("item_id_count").to_pylist()) + 1


# ------------------------------------------------------------------------ verdicts


@pytest.mark.slow
def test_an_amended_segment_passes_and_the_report_is_atomic_and_reproducible(synth: Path):
    (synth / "policy.toml").write_text(POLICY)
    rec = run_cli(["recommend", "synth/project.toml", "--segment-signature", "pregnancy",
                   "--policy", "policy.toml", "--out", "amended.parquet"], synth, timeout=300)
    check(rec, code=0, outputs=["amended.parquet"])
    run = _gate(synth, "--report", "gate.json", seg="--segment=amended.parquet")
    check(run, code=0, outputs=["gate.json"])
    assert "Verdict: PASS" in run.stdout and "min_k:segment" in run.stdout
    doc = _valid(json.loads((synth / "gate.json").read_text()))
    assert doc["verdict"] == "pass" and doc["exit_code"] == 0
    assert doc["counts"]["fail"] == 0 and doc["counts"]["checks"] == len(doc["checks"])
    assert any("exported values of age_band, income_band" in n for n in doc["notes"])
    # atomic: nothing but the report itself was written (no temporary file left over)
    assert not [p for p in synth.iterdir() if p.name.startswith(".gate.json")]
    again = _gate(synth, "--report", "json:gate2.json", seg="--segment=amended.parquet")
    check(again, code=0, outputs=["gate2.json"])
    assert (synth / "gate2.json").read_bytes() == (synth / "gate.json").read_bytes()
    # aggregates only: no recipient id in the report nor on the terminal
    ids = pq.read_table(synth / "amended.parquet").column("customer").to_pylist()
    text = (synth / "gate.json").read_text()
    assert "members_ids" not in text
    assert not any(f'"{i}"' in text or f" {i}," in text or f" {i}\n" in text
                   for i in ids if i > 999)


def test_the_pregnancy_segment_fails(synth: Path):
    run = _gate(synth, "--json")
    check(run, code=1)
    doc = _valid(json.loads(run.stdout))
    status = {c["name"]: c["status"] for c in doc["checks"]}
    assert status["max_posterior:pregnancy"] == "fail"
    assert status["min_audience"] == "fail"
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1 and doc["plan"] is None


def test_warnings_only_exit_2_and_fail_on_warn_exits_1(synth: Path):
    run = _gate(synth, "--json", policy=WARN_ONLY)
    check(run, code=2)
    doc = _valid(json.loads(run.stdout))
    assert doc["verdict"] == "warn" and doc["counts"]["fail"] == 0 and doc["counts"]["warn"]
    run = _gate(synth, "--json", "--fail-on", "warn", policy=WARN_ONLY)
    check(run, code=1)
    doc = _valid(json.loads(run.stdout))
    assert doc["verdict"] == "fail" and doc["fail_on"] == "warn" and doc["exit_code"] == 1
    assert doc["counts"]["warn"] and not doc["counts"]["fail"]


@pytest.mark.slow
def test_recommend_adds_a_plan_when_the_gate_fails(synth: Path):
    run = _gate(synth, "--recommend", "--report", "gate.json")
    check(run, code=1, outputs=["gate.json"])
    doc = _valid(json.loads((synth / "gate.json").read_text()))
    assert doc["plan"]["verified"] is True and doc["plan"]["actions"]["decoys_added"] > 0
    assert "Plan: verified" in run.stdout


@pytest.mark.parametrize("name", ["strict", "ad_platform"])
def test_the_example_policies(synth: Path, name: str):
    (synth / "opt.csv").write_text("customer\n")
    (synth / "offer.csv").write_text("item\ncategory:Fruit\n")
    run = _gate(synth, "--policy", str(POLICIES / f"{name}.toml"), "--opt-out", "opt.csv",
                "--offer", "offer.csv", "--json", policy=None)
    check(run, code=1)
    doc = _valid(json.loads(run.stdout))
    names = [c["name"] for c in doc["checks"]]
    assert {"require_opt_out", "no_signal", "min_audience"} <= set(names)
    assert any(n.startswith("min_k:") for n in names)
    status = {c["name"]: c["status"] for c in doc["checks"]}
    assert status["max_posterior:pregnancy"] == "fail" and status["no_signal"] == "pass"
    assert doc["policy"]["origin"].endswith(f"{name}.toml")


def test_help_lists_the_exit_codes(synth: Path):
    run = run_cli(["gate", "--help"], synth)
    check(run, code=0)
    for line in ("0  every policy check passes", "1  at least one check fails",
                 "2  warnings only", "3  error"):
        assert line in run.stdout


# ------------------------------------------------------------------ fail closed: 3


def test_an_empty_segment_cannot_be_measured(synth: Path):
    (synth / "seg.csv").write_text("customer\n")
    run = _gate(synth, seg="--segment=seg.csv", policy="[policy]\nmax_posterior = 0.1\n")
    check(run, code=3, first_line=["could not be measured", "max_posterior:pregnancy",
                                   "0 / 0", "seg.csv has no rows"])
    for policy, frag in [("max_epsilon = 1.0", "max_epsilon:pregnancy"),
                         ("min_k = 2", "min_k:"), ("max_unicity = 0.5", "max_unicity")]:
        run = _gate(synth, seg="--segment=seg.csv", policy=f"[policy]\n{policy}\n")
        check(run, code=3, first_line=["could not be measured", frag])


def test_min_k_without_a_customers_table(synth: Path):
    text = (synth / "synth" / "project.toml").read_text()
    cut = text[:text.index("[customers]")] + text[text.index("[truth]"):]
    (synth / "synth" / "nocust.toml").write_text(cut)
    run = _gate(synth, project="synth/nocust.toml", policy="[policy]\nmin_k = 5\n")
    check(run, code=3, first_line=["min_k:segment", "min_k:population",
                                   "no [customers] table"])


def test_unicity_when_no_member_has_purchases_enough_to_draw(synth: Path):
    ids, p = _light_customers(synth)
    (synth / "seg.csv").write_text("customer\n" + "".join(f"{i}\n" for i in ids))
    policy = f'[policy]\nmax_unicity = 0.5\nunicity_p = {p}\nunicity_points = "items"\n'
    run = _gate(synth, seg="--segment=seg.csv", policy=policy)
    check(run, code=3, first_line=["max_unicity", f"no recipient has {p} (items) points"])


def test_no_signal_without_an_offer(synth: Path):
    run = _gate(synth, policy='[policy]\nno_signal = ["health"]\n')
    check(run, code=3, first_line=["no_signal", "no offer was given", "--offer FILE"])


def test_an_opt_out_list_required_but_missing(synth: Path):
    run = _gate(synth, policy="[policy]\nmax_posterior = 0.5\nrequire_opt_out = true\n")
    check(run, code=3, first_line=["require_opt_out", "--opt-out FILE"])


def test_a_posterior_limit_no_detector_measures(synth: Path):
    (synth / "scores.csv").write_text("customer_id,signature,probability\n1,pregnancy,0.5\n")
    run = _gate(synth, "--probabilities", "scores.csv",
                policy="[policy]\n[policy.max_posterior_by]\nhealth = 0.1\n")
    check(run, code=3, first_line=["max_posterior:health", "no detector of the class"])


@pytest.mark.parametrize(("policy", "extra", "fragments"), [
    pytest.param("[policy]\n", [], ["policy.toml", "sets no check"], id="no_check"),
    pytest.param("[policy]\nmax_posterior = 1.5\n", [], ["policy.max_posterior", "(0, 1)"],
                 id="bad_policy"),
    pytest.param(None, [], ["no policy", "--policy FILE"], id="no_policy"),
    pytest.param(POLICY, ["--segment", "x.csv"], ["--segment", "--segment-signature"],
                 id="two_segments"),
    pytest.param(POLICY, ["--report", "xml:out.xml"], ["unknown report format 'xml'"],
                 id="unknown_report_format"),
    pytest.param(POLICY, ["--report", "out.txt"], ["FORMAT:PATH"], id="report_suffix"),
    pytest.param(POLICY, ["--fail-on", "info"], ["--fail-on"], id="bad_fail_on"),
    pytest.param(POLICY, ["--report", "a.json", "--report", "json:a.json"], ["--report"],
                 id="report_twice"),
    pytest.param(POLICY, ["--report", "json:policy.toml"], ["--report", "policy.toml",
                                                            "an input of this run"],
                 id="report_over_an_input"),
])
def test_errors_exit_3_and_write_nothing(synth: Path, policy, extra, fragments):
    run = _gate(synth, *extra, policy=policy)
    check(run, code=3, first_line=fragments)


def test_assess_that_measures_nothing_is_an_error(synth: Path):
    (synth / "seg.csv").write_text("customer\n1\n2\n")
    run = run_cli(["assess", "synth/project.toml", "--segment", "seg.csv", "--attributes",
                   "none", "--points", "none", "--no-inference"], synth)
    check(run, code=3, first_line=["nothing was measured", "--attributes none",
                                   "--points none", "--no-inference"])
    assert "PASS" not in run.stdout


# -------------------------------------------------------------------------- ids


def test_no_customer_id_leaves_without_include_ids(shop: Path):
    (shop / "seg.csv").write_text("customer\n" + "".join(f"{i}\n" for i in IDS))
    (shop / "policy.toml").write_text("[policy]\nmax_posterior = 0.5\nmin_audience = 1\n")
    args = ["gate", "shop.toml", "--segment", "seg.csv", "--policy", "policy.toml"]
    run = run_cli([*args, "--report", "r.json"], shop)
    check(run, code=0, outputs=["r.json"], absent=IDS)
    assert not any(i in (shop / "r.json").read_text() for i in IDS)
    run = run_cli([*args, "--json"], shop)
    check(run, code=0, absent=IDS)
    run = run_cli([*args, "--report", "ids.json", "--include-ids"], shop)
    check(run, code=0, outputs=["ids.json"], absent=IDS)  # the terminal never shows them
    doc = _valid(json.loads((shop / "ids.json").read_text()))
    assert sorted(doc["members_ids"]) == sorted(IDS)


def _valid(doc: dict) -> dict:
    """Every gate report the CLI writes matches the report schema."""
    validate(doc, "gate", include_ids="members_ids" in doc)
    return doc


def test_coverage_gaps_are_noted_in_the_gate_report(synth: Path):
    run = _gate(synth, "--json", policy=WARN_ONLY)
    doc = _valid(json.loads(run.stdout))
    noted = [n for n in doc["notes"] if "coverage." in n]
    # on the simulator's catalog some signatures cannot reach their threshold at all
    assert noted and all("cannot be seen" in n for n in noted), doc["notes"]
    assert doc["verdict"] == "warn"  # context, not a policy check
    text = (synth / "synth" / "project.toml").read_text()
    (synth / "synth" / "strict.toml").write_text(
        text + '\n[detection]\nmin_coverage = 1.0\ncoverage_severity = "fail"\n')
    run = _gate(synth, "--json", policy=WARN_ONLY, project="synth/strict.toml")
    doc = _valid(json.loads(run.stdout))
    strict = [n for n in doc["notes"] if "coverage." in n]
    assert len(strict) > len(noted) and any("(fail)" in n for n in strict)
