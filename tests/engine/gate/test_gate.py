"""The gate (engine/gate): checks, verdicts, ``fail_on``, counts, fail-closed errors, the
report document and its determinism, on small synthetic bases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.cli.exitcodes import exit_code
from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.detect.compile import catalog_view
from basketguard.engine.errors import BasketguardError, ConfigError, DataError
from basketguard.engine.findings import Estimate, Finding, Severity, Threshold
from basketguard.engine.gate import CheckNotMeasured, GateResult, evaluate, gate_checks
from basketguard.engine.gate.exported import carried_hierarchies
from basketguard.engine.histories.build import Histories
from basketguard.engine.mitigate.inference import EventProbabilities
from basketguard.engine.mitigate.verify import MailingContext, Measurement
from basketguard.engine.report.json import dumps

#: The keys of the gate report, in order (docs/gate.md; renderers are written against it).
KEYS = ["report_version", "kind", "project", "verdict", "exit_code", "fail_on", "policy",
        "segment", "checks", "counts", "mailing", "plan", "notes", "seconds"]
CHECK_KEYS = ["name", "policy_key", "status", "value", "threshold", "direction", "message",
              "finding"]


def _base(n: int = 120, seed: int = 3, *, lines_per: int | None = None):
    """Histories of ``n`` customers (ids 500..), two events, customers with two attributes."""
    rng = np.random.default_rng(seed)
    lines = np.full(n, lines_per) if lines_per else rng.integers(3, 9, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lines, out=offsets[1:])
    total = int(offsets[-1])
    item = rng.integers(0, 15, total).astype(np.int32)
    day = np.concatenate([np.sort(rng.integers(19_000, 19_090, c)) for c in lines]
                         ).astype(np.int32)
    hist = Histories(offsets=offsets, item=item, day=day, basket=np.zeros(total, np.int32),
                     customer_ids=pa.array(np.arange(n, dtype=np.int64) + 500),
                     item_ids=pa.array(np.arange(15, dtype=np.int64)))
    preg = np.where(np.arange(n) < 10, 0.9, 0.01)
    diab = np.full(n, 0.02)
    probs = EventProbabilities(("pregnancy", "diabetes"), ("reproductive", "health"),
                               np.vstack([preg, diab]), (0.5, 0.5), "test")
    customers = pa.table({"customer": pa.array(np.arange(n, dtype=np.int64) + 500),
                          "age_band": pa.array(np.array(["18-24", "25-34", "35-44"])[
                              np.arange(n) % 3]),
                          "region": pa.array(np.array(["north", "south"])[np.arange(n) % 2])})
    return hist, probs, customers


def _ctx(policy: dict, *, customers=True, opt_out=None, n=120, lines_per=None,
         probs=None) -> MailingContext:
    hist, p, cust = _base(n, lines_per=lines_per)
    pol = policy_from_dict(policy, "test-policy")
    view = catalog_view(None, hist.item_ids, [])
    return MailingContext(hist, probs or p, pol, cust if customers else None, view, None,
                          None if opt_out is None else np.asarray(opt_out, np.int64), 3, 0, 4)


def _gate(ctx, members, **kw) -> GateResult:
    return evaluate(ctx, np.asarray(members, np.int64), exit_code_of=exit_code,
                    project="unit", segment_info={"source": "unit test"}, **kw)


#: Members with few pregnancy cases (0.9 for codes < 10): posterior ~ 0.1 over 0..99.
WIDE = np.arange(0, 100)
#: Only the likely cases: posterior 0.9.
TARGETED = np.arange(0, 10)


# ------------------------------------------------------------------------ verdicts


@pytest.mark.parametrize(("policy", "members", "verdict", "code"), [
    pytest.param({"max_posterior": 0.5, "min_audience": 10}, WIDE, "pass", 0, id="pass"),
    pytest.param({"max_posterior": 0.5}, TARGETED, "fail", 1, id="posterior_fails"),
    pytest.param({"max_posterior": {"warn": 0.05, "fail": 0.5}}, WIDE, "warn", 2,
                 id="warn_only"),
    pytest.param({"min_audience": 200}, WIDE, "fail", 1, id="audience_fails"),
    pytest.param({"min_audience": {"warn": 200, "fail": 50}}, WIDE, "warn", 2,
                 id="audience_warns"),
    pytest.param({"min_k": 100, "k_scope": "segment", "attributes": ["age_band"]}, WIDE,
                 "fail", 1, id="min_k_fails"),
    pytest.param({"min_k": 5, "k_scope": "both", "attributes": ["age_band"]}, WIDE, "pass",
                 0, id="min_k_passes"),
])
def test_verdicts_and_exit_codes(policy, members, verdict, code):
    res = _gate(_ctx(policy), members)
    assert res.verdict.value == verdict and res.exit_code == code
    doc = res.to_dict()
    assert doc["verdict"] == verdict and doc["exit_code"] == code


def test_fail_on_warn_turns_warnings_into_failures_and_keeps_check_statuses():
    pol = {"max_posterior": {"warn": 0.05, "fail": 0.5}}
    warn = _gate(_ctx(pol), WIDE)
    fail = _gate(_ctx(pol), WIDE, fail_on="warn")
    assert (warn.exit_code, fail.exit_code) == (2, 1)
    assert fail.verdict == Severity.FAIL and fail.severity == Severity.WARN
    assert [c.status for c in fail.checks] == [c.status for c in warn.checks]
    doc = fail.to_dict()
    assert doc["fail_on"] == "warn" and doc["counts"]["warn"] >= 1
    assert any("--fail-on warn" in n for n in doc["notes"])
    # a pass stays a pass under --fail-on warn
    assert _gate(_ctx({"max_posterior": 0.5}), WIDE, fail_on="warn").exit_code == 0


def test_checks_come_in_a_fixed_order_with_names_keys_and_messages():
    pol = {"max_posterior": 0.5, "max_posterior_by": {"reproductive": 0.3},
           "max_epsilon": 9.0, "min_k": 2, "k_scope": "both", "attributes": ["age_band"],
           "max_unicity": 1.0, "unicity_p": 1, "unicity_points": "items",
           "min_audience": 10, "require_opt_out": True}
    res = _gate(_ctx(pol, opt_out=[110]), WIDE)
    names = [c.name for c in res.checks]
    assert names == ["max_posterior:pregnancy", "max_posterior:diabetes",
                     "max_epsilon:pregnancy", "max_epsilon:diabetes", "min_k:segment",
                     "min_k:population", "max_unicity", "min_audience", "require_opt_out"]
    keys = {c.name: c.policy_key for c in res.checks}
    assert keys["max_posterior:pregnancy"] == "policy.max_posterior_by.reproductive"
    assert keys["max_posterior:diabetes"] == "policy.max_posterior"
    assert keys["min_k:population"] == "policy.min_k"
    doc = res.to_dict()
    for c in doc["checks"]:
        assert list(c) == CHECK_KEYS
        assert c["status"] in ("pass", "warn", "fail")
        assert c["direction"] in ("max", "min")
        assert c["policy_key"] in c["message"]
        assert c["finding"]["check"]  # the Finding.to_dict it came from
    post = doc["checks"][0]
    assert post["value"] == pytest.approx((10 * 0.9 + 90 * 0.01) / 100)
    assert post["threshold"] == 0.3 and f"{post['value']:.4g}" in post["message"]
    assert doc["counts"] == {"checks": 9, "pass": sum(c.status == Severity.PASS
                                                      for c in res.checks),
                             "warn": 0, "fail": sum(c.status == Severity.FAIL
                                                    for c in res.checks)}
    assert sum(doc["counts"][k] for k in ("pass", "warn", "fail")) == doc["counts"]["checks"]


def test_an_opt_out_list_is_honoured_even_when_not_required():
    res = _gate(_ctx({"max_posterior": 0.5}, opt_out=[5]), WIDE)
    opt = [c for c in res.checks if c.name == "opt_out"]
    assert opt and opt[0].status == Severity.FAIL and opt[0].value == 1.0
    assert res.exit_code == 1
    assert _gate(_ctx({"max_posterior": 0.5}, opt_out=[110]), WIDE).exit_code == 0


def test_an_infinite_epsilon_fails_with_a_null_value():
    hist, _, _ = _base()
    n = hist.n_customers
    p = np.where(np.arange(n) < 10, 1.0, 0.0)  # only the targets can have it
    probs = EventProbabilities(("pregnancy",), ("reproductive",), p.reshape(1, -1), (0.5,), "t")
    res = _gate(_ctx({"max_epsilon": 2.0}, probs=probs), TARGETED)
    (eps,) = res.checks
    assert eps.status == Severity.FAIL and eps.value is None and "infinite" in eps.message
    assert json.loads(dumps(res.to_dict()))["checks"][0]["value"] is None


# ------------------------------------------------------------------- fail closed


@pytest.mark.parametrize(("policy", "kw", "members", "names", "fragment"), [
    pytest.param({"max_posterior": 0.5}, {}, [], ["max_posterior:pregnancy",
                                                  "max_posterior:diabetes"],
                 "0 / 0", id="empty_segment_posterior"),
    pytest.param({"max_epsilon": 1.0}, {}, [], ["max_epsilon:pregnancy"], "epsilon",
                 id="empty_segment_epsilon"),
    pytest.param({"min_k": 2, "attributes": ["age_band"]}, {}, [], ["min_k:segment",
                                                                    "min_k:population"],
                 "no member", id="empty_segment_min_k"),
    pytest.param({"max_unicity": 0.5}, {}, [], ["max_unicity"], "no purchases to draw",
                 id="empty_segment_unicity"),
    pytest.param({"min_k": 2}, {"customers": False}, WIDE, ["min_k:population"],
                 "[customers] table", id="min_k_without_customers"),
    pytest.param({"max_unicity": 0.5, "unicity_p": 6, "unicity_points": "items"},
                 {"lines_per": 2}, WIDE, ["max_unicity"], "points to draw",
                 id="unicity_without_enough_points"),
    pytest.param({"max_unicity": 0.5, "unicity_points": "store-day"}, {}, WIDE,
                 ["max_unicity"], "store column", id="unicity_store_day_without_stores"),
    pytest.param({"require_opt_out": True}, {}, WIDE, ["require_opt_out"], "--opt-out",
                 id="opt_out_required_but_missing"),
    pytest.param({"no_signal": ["health"]}, {}, WIDE, ["no_signal"], "no offer was given",
                 id="no_signal_without_an_offer"),
    pytest.param({"max_posterior_by": {"sex_life": 0.1}}, {}, WIDE,
                 ["max_posterior:sex_life"], "no detector of the class",
                 id="posterior_class_without_a_detector"),
])
def test_a_check_that_could_not_run_is_an_error(policy, kw, members, names, fragment):
    with pytest.raises(CheckNotMeasured) as err:
        _gate(_ctx(policy, **kw), members)
    got = [name for name, _key, _why in err.value.reasons]
    for name in names:
        assert name in got and name in str(err.value)
    assert fragment in str(err.value)
    assert isinstance(err.value, BasketguardError)  # the CLI maps it to exit 3


def test_a_policy_with_no_check_is_an_error():
    with pytest.raises(ConfigError, match="sets no check"):
        _gate(_ctx({}), WIDE)


def test_an_unknown_fail_on_is_an_error():
    with pytest.raises(ConfigError, match="--fail-on"):
        _gate(_ctx({"max_posterior": 0.5}), WIDE, fail_on="info")


def test_gate_checks_refuse_missing_and_nan_findings():
    pol = policy_from_dict({"min_audience": 5, "no_signal": ["health"]})
    audience = Finding.judged("mailing.audience", "recipients", Estimate(10.0),
                              pol.min_audience)
    nan = Finding.judged("content.no_signal", "items", Estimate(float("nan")),
                         Threshold(None, 0.0))
    with pytest.raises(CheckNotMeasured, match="no_signal"):
        gate_checks(Measurement(10, 0, [audience, nan], []), pol)
    with pytest.raises(CheckNotMeasured, match="no_signal"):
        gate_checks(Measurement(10, 0, [audience], []), pol)
    ok = Finding.judged("content.no_signal", "items", Estimate(2.0), Threshold(None, 0.0))
    checks = gate_checks(Measurement(10, 0, [audience, ok], []), pol)
    assert [(c.name, c.status) for c in checks] == [("min_audience", Severity.PASS),
                                                    ("no_signal", Severity.FAIL)]


# --------------------------------------------------------------------- the report


def test_the_report_document_has_the_agreed_shape():
    res = _gate(_ctx({"max_posterior": 0.5, "min_audience": 10}), WIDE)
    doc = json.loads(dumps(res.to_dict()))
    assert list(doc) == KEYS
    assert doc["report_version"] == "1.0" and doc["kind"] == "gate"
    assert doc["project"] == "unit" and doc["fail_on"] == "fail"
    assert doc["policy"]["origin"] == "test-policy"
    assert doc["policy"]["max_posterior"] == {"warn": None, "fail": 0.5, "direction": "max"}
    assert doc["segment"] == {"source": "unit test", "members": 100, "customer_base": 120}
    assert doc["mailing"]["recipients"] == 100 and doc["mailing"]["findings"]
    assert doc["plan"] is None and doc["seconds"] == {}
    assert isinstance(doc["notes"], list)
    assert "members_ids" not in doc
    assert set(res.to_dict(timings=True)["seconds"]) == {"measure"}


def test_ids_only_when_asked_for():
    ctx = _ctx({"max_posterior": 0.5})
    plain = dumps(_gate(ctx, [3, 7]).to_dict())
    assert "members_ids" not in plain and "503" not in plain and "507" not in plain
    doc = _gate(ctx, [7, 3], include_ids=True).to_dict()
    assert doc["members_ids"] == [503, 507]


def test_the_report_is_deterministic():
    pol = {"max_posterior": 0.5, "max_unicity": 0.9, "unicity_p": 2, "unicity_points": "items",
           "min_k": 2, "attributes": ["age_band"]}
    a = dumps(_gate(_ctx(pol), WIDE).to_dict())
    b = dumps(_gate(_ctx(pol), WIDE[::-1]).to_dict())
    assert a == b


def test_recommend_attaches_a_plan_only_when_the_gate_fails():
    pol = {"max_posterior": 0.5, "min_audience": 5}
    failing = _gate(_ctx(pol), TARGETED, recommend=True)
    assert failing.exit_code == 1 and failing.plan is not None
    plan = failing.to_dict()["plan"]
    assert plan["verified"] is True and plan["actions"]["decoys_added"] > 0
    assert failing.verdict == Severity.FAIL  # the verdict is about the segment as given
    assert _gate(_ctx(pol), WIDE, recommend=True).plan is None


# ------------------------------------------------ exported attributes of a segment file


def _segment_file(tmp_path: Path, ages: list[str | None]) -> str:
    ids = list(range(500, 500 + len(ages)))
    pq.write_table(pa.table({"customer": ids, "age_band": ages}), tmp_path / "seg.parquet")
    return str(tmp_path / "seg.parquet")


def test_a_segment_files_generalized_attributes_are_what_classes_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pol = {"min_k": 30, "k_scope": "segment", "attributes": ["age_band"]}
    ctx = _ctx(pol)
    raw = ["18-24", "25-34", "35-44"]
    # unchanged values: no hierarchy, classes of 20 fail k = 30
    path = _segment_file(tmp_path, [raw[i % 3] for i in range(60)])
    assert carried_hierarchies(path, "customer", ctx) == (None, [])
    assert _gate(ctx, np.arange(60)).exit_code == 1
    # widened to one band: one class of 60
    path = _segment_file(tmp_path, ["18-44"] * 60)
    hier, notes = carried_hierarchies(path, "customer", ctx)
    assert hier == {"age_band": {"18-24": "18-44", "25-34": "18-44", "35-44": "18-44"}}
    assert "age_band" in notes[0]
    res = _gate(ctx, np.arange(60), hierarchies=hier, notes=notes)
    assert res.exit_code == 0 and res.checks[0].value == 60
    assert res.notes[0] == notes[0]


def test_a_segment_file_that_is_no_generalization_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = _ctx({"min_k": 2, "attributes": ["age_band"]})
    # customers 500 and 503 share "18-24" but are exported differently
    path = _segment_file(tmp_path, ["a", "b", "c", "d"])
    with pytest.raises(DataError, match="not a generalization"):
        carried_hierarchies(path, "customer", ctx)
