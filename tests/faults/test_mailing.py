"""Fault and end-to-end cases: ``basketguard recommend`` and the mailing options of ``assess``.

Every bad input is exit 3 with a first line naming the file, column or key and
nothing written; a plan that meets the policy is exit 0, one that cannot is
exit 1 with the binding check named; the amended segment and the plan are
written atomically and hold no target/decoy marker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from basketguard.engine.report.schemas import validate
from tests.faults.harness import check, run_cli

POLICY = """[policy]
max_posterior = 0.10
max_epsilon = 2.5
min_k = 3
k_scope = "segment"
attributes = ["age_band", "income_band"]
min_audience = 40
"""


def _id_lists(node, ids: set, path: str = "$") -> list[str]:
    """Paths of lists in a document whose integers are mostly customer ids."""
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            found += _id_lists(v, ids, f"{path}.{k}")
    elif isinstance(node, list):
        ints = [v for v in node if isinstance(v, int) and not isinstance(v, bool)]
        if len(ints) >= 5 and sum(v in ids for v in ints) > len(ints) / 2:
            found.append(path)
        for i, v in enumerate(node):
            found += _id_lists(v, ids, f"{path}[{i}]")
    return found


def _files(folder: Path, policy: str = POLICY) -> None:
    (folder / "policy.toml").write_text(policy)


def _recommend(folder: Path, *extra: str, seg: str = "--segment-signature=pregnancy"):
    return run_cli(["recommend", "synth/project.toml", seg, "--policy", "policy.toml",
                    *extra], folder, timeout=300)


@pytest.mark.slow
def test_a_plan_that_meets_the_policy(synth: Path):
    _files(synth)
    run = _recommend(synth, "--out", "amended.parquet", "--plan", "plan.json")
    check(run, code=0, outputs=["amended.parquet", "plan.json"])
    doc = json.loads((synth / "plan.json").read_text())
    validate(doc, "plan")
    assert doc["verified"] is True and doc["actions"]["decoys_added"] > 0
    t = pq.read_table(synth / "amended.parquet")
    assert t.column_names == ["customer", "age_band", "income_band"]
    assert t.num_rows == doc["actions"]["recipients"]
    ids = t.column("customer").to_pylist()
    assert ids == sorted(ids)
    # the report holds aggregates only: no list in it holds the recipients' ids
    assert not _id_lists(doc, set(ids))
    # same seed, same bytes
    again = _recommend(synth, "--plan", "plan2.json")
    check(again, code=0, outputs=["plan2.json"])
    assert (synth / "plan2.json").read_bytes() == (synth / "plan.json").read_bytes()


@pytest.mark.slow
def test_a_plan_that_cannot_meet_the_policy_exits_1_and_names_the_binding_check(synth: Path):
    _files(synth, POLICY + "max_unicity = 0.5\nunicity_p = 4\n")
    run = _recommend(synth, "--plan", "plan.json")
    check(run, code=1, outputs=["plan.json"])
    doc = json.loads((synth / "plan.json").read_text())
    assert doc["verified"] is False
    assert "reid.unicity" in [b["check"] for b in doc["binding"]]
    assert "Binding" in run.stdout


@pytest.mark.parametrize(("policy", "fragments"), [
    ("[policy]\nmax_posterior = 1.5\n", ["policy.toml", "policy.max_posterior", "(0, 1)"]),
    ("[policy]\nmax_posterior = 0\n", ["policy.max_posterior", "(0, 1)"]),
    ("[policy]\nmax_posterior = {warn = 0.2, fail = 0.1}\n", ["policy.max_posterior",
                                                               "warning band is empty"]),
    ("[policy]\nmax_posteror = 0.1\n", ["policy.toml", "Did you mean 'max_posterior'"]),
    ("[policy]\nmax_posterior = 0.1\ndecoy_max_probability = 0.2\n",
     ["decoy_max_probability", "smallest posterior limit"]),
    ("[policy]\n", ["sets no check"]),
    ("[policy]\nrequire_opt_out = true\n", ["require_opt_out", "--opt-out"]),
    ("[policy]\nmin_k = 5\nattributes = [\"age\"]\n", ["policy.attributes", "'age'"]),
    ("[policy\n", ["policy.toml"]),
])
def test_bad_policies(synth: Path, policy: str, fragments: list[str]):
    _files(synth, policy)
    run = _recommend(synth, "--out", "amended.parquet", "--plan", "plan.json")
    check(run, code=3, first_line=fragments)


def test_missing_policy(synth: Path):
    run = run_cli(["recommend", "synth/project.toml", "--segment-signature", "pregnancy"], synth)
    check(run, code=3, first_line=["no policy", "--policy FILE"])


@pytest.mark.parametrize(("name", "text", "extra", "fragments"), [
    ("opt.csv", "customer\n999999\n", [], ["opt-out list", "not customers of the base"]),
    ("opt.csv", "client\n1\n", [], ["opt-out list", "no column 'customer'",
                                    "--opt-out-column"]),
    ("opt.csv", "client\n1\n", ["--opt-out-column", "client"], []),
])
def test_opt_out_files(synth: Path, name, text, extra, fragments):
    _files(synth)
    (synth / name).write_text(text)
    run = _recommend(synth, "--opt-out", name, *extra)
    if fragments:
        check(run, code=3, first_line=fragments)
    else:
        check(run, code=0)
        assert "opted-out members removed" in run.stdout


@pytest.mark.parametrize(("text", "fragments"), [
    ("customer\n999999\n", ["segment", "not customers of the base"]),
    ("client\n1\n", ["no column 'customer'", "--segment-column"]),
])
def test_segment_files(synth: Path, text, fragments):
    _files(synth)
    (synth / "seg.csv").write_text(text)
    run = _recommend(synth, seg="--segment=seg.csv")
    check(run, code=3, first_line=fragments)


@pytest.mark.parametrize(("text", "fragments"), [
    ("item\n987654\n", ["offer", "row 1"]),
    ("item\ncategory:Nonexistent Aisle\n", ["offer", "category"]),
    ("item\nfeature:pregnancy.nope\n", ["offer", "feature"]),
    ("item\n", ["offer", "empty"]),
])
def test_bad_offers(synth: Path, text, fragments):
    _files(synth)
    (synth / "offer.csv").write_text(text)
    run = _recommend(synth, "--offer", "offer.csv", "--plan", "plan.json")
    check(run, code=3, first_line=fragments)


@pytest.mark.slow
def test_a_baby_coupon_offer_is_content_and_no_signal_removes_it(synth: Path):
    _files(synth, POLICY + 'no_signal = ["family", "reproductive"]\n')
    (synth / "offer.csv").write_text("item\ncategory:Nappies\ncategory:Fruit\n")
    run = _recommend(synth, "--offer", "offer.csv", "--plan", "plan.json")
    check(run, code=0, outputs=["plan.json"])
    doc = json.loads((synth / "plan.json").read_text())
    before = {f["check"]: f for f in doc["before"]["findings"]}
    assert before["content.signals.new_baby"]["severity"] == "fail"
    offer = doc["actions"]["offer"]
    assert offer["suppressed"]["removed_items"] > 0
    assert "content cover" in offer["content_cover"]["note"]
    after = {f["check"]: f for f in doc["verification"]["findings"]}
    assert before["content.no_signal"]["severity"] == "fail"
    assert before["content.no_signal"]["value"] > 0
    assert after["content.no_signal"]["severity"] == "pass"
    assert after["content.no_signal"]["value"] == 0
    assert "content.signals.new_baby" not in after


def test_assess_reports_the_mailing_inference(synth: Path):
    _files(synth)
    run = run_cli(["assess", "synth/project.toml", "--segment-signature", "pregnancy",
                   "--points", "none", "--attributes", "none", "--policy", "policy.toml",
                   "--json"], synth)
    assert run.code == 1, run.stderr
    doc = json.loads(run.stdout)
    validate(doc, "assess")
    checks = {f["check"]: f for f in doc["findings"]}
    assert checks["inference.posterior.pregnancy"]["severity"] == "fail"
    assert "only decoy recipients" in doc["inference"]["content_vs_recipient_cover"]
    preg = [e for e in doc["inference"]["events"] if e["event"] == "pregnancy"][0]
    assert len(preg["repeated"]) == 6 and preg["lift"] > 1


def test_bad_probability_files(synth: Path):
    _files(synth)
    (synth / "scores.csv").write_text("customer_id,signature,probability\n1,pregnancy,1.5\n")
    run = _recommend(synth, "--probabilities", "scores.csv")
    check(run, code=3, first_line=["scores.csv", "outside [0, 1]"])
    (synth / "labels.csv").write_text("customer_id,signature\n1,lottery_win\n")
    run = _recommend(synth, "--labels", "labels.csv")
    check(run, code=3, first_line=["labels.csv", "lottery_win"])
