"""basketguard assess: segment sources, measures, exit codes and privacy of the report."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.cli.exitcodes import exit_code
from basketguard.engine.cli.main import main
from basketguard.engine.config.project import load_project
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Severity
from basketguard.engine.reid.assess import AssessOptions, assess, segment_members
from basketguard.models.simulator.run import SimConfig, simulate

pytestmark = pytest.mark.jit  # simulates and scans a population (the option checks below too)


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    out = tmp_path_factory.mktemp("assess")
    res = simulate(SimConfig(customers=3000, seed=11), out / "data")
    project = load_project(res.paths["project"])
    hist = load_histories(project, cache_dir=out / "cache")
    return out, res, project, hist


def _segment_file(out, hist, n, name="segment.parquet"):
    ids = hist.customer_ids.to_numpy()[: n]
    path = out / name
    pq.write_table(pa.table({"customer": np.concatenate([ids, ids[:3]])}), path)  # duplicates
    return path, ids


def test_segment_file_members_are_distinct_codes(population):
    out, _, project, hist = population
    path, ids = _segment_file(out, hist, 40)
    codes, info = segment_members(project, hist, segment_file=str(path))
    assert codes.tolist() == list(range(40))
    assert info["members"] == 40


def test_segment_from_signature_is_the_flagged_customers(population):
    _, _, project, hist = population
    codes, info = segment_members(project, hist, signature="halal_diet")
    assert codes.size > 0 and np.all(np.diff(codes) > 0)
    assert "halal_diet" in info["source"]


def test_no_segment_source_is_a_config_error(population):
    _, _, project, hist = population
    with pytest.raises(ConfigError, match="no segment to assess"):
        segment_members(project, hist)


def test_unknown_member_is_a_data_error(population):
    out, _, project, hist = population
    path = out / "bad.parquet"
    pq.write_table(pa.table({"customer": pa.array([10**12], pa.int64())}), path)
    with pytest.raises(DataError, match="not customers of the base"):
        segment_members(project, hist, segment_file=str(path))


def test_all_measures_and_worst_severity(population):
    _, _, project, hist = population
    members = np.arange(0, hist.n_customers, 7)
    result = assess(project, hist, members,
                    AssessOptions(points=("items",), p_max=2, item_lists=True,
                                  sensitive_signature="pregnancy"))
    checks = {f.check for f in result.findings}
    assert {"reid.k_anonymity.prosecutor", "reid.k_map.prosecutor", "reid.l_diversity",
            "reid.unicity", "reid.km_anonymity"} <= checks
    worst = max((f.severity for f in result.findings),
                key=lambda s: {Severity.INFO: 0, Severity.PASS: 0, Severity.WARN: 1,
                               Severity.FAIL: 2}[s])
    assert result.severity == worst or (worst == Severity.INFO
                                        and result.severity == Severity.PASS)
    assert int(exit_code(result.severity)) == {Severity.FAIL: 1, Severity.WARN: 2}.get(
        result.severity, 0)


def test_skipped_measures_are_listed(population):
    _, _, project, hist = population
    result = assess(project, hist, np.arange(50), AssessOptions(attributes=(), points=()))
    assert result.findings == []
    assert result.severity == Severity.PASS and exit_code(result.severity) == 0
    assert len(result.skipped) == 3


def test_subset_keeps_each_members_lines(population):
    _, _, _, hist = population
    members = np.array([2, 5, 9])
    sub = hist.subset(members)
    for j, c in enumerate(members):
        a, b = hist.offsets[c], hist.offsets[c + 1]
        assert np.array_equal(sub.item[sub.offsets[j]:sub.offsets[j + 1]], hist.item[a:b])
        assert np.array_equal(sub.day[sub.offsets[j]:sub.offsets[j + 1]], hist.day[a:b])


def test_cli_exit_code_and_report_without_ids(population, capsys):
    out, res, _, hist = population
    path, ids = _segment_file(out, hist, 60, "seg2.parquet")
    report = out / "report.json"
    code = main(["assess", str(res.paths["project"]), "--cache-dir", str(out / "cache"),
                 "--segment", str(path), "--points", "items", "--p", "2", "--json",
                 "--out", str(report)])
    doc = json.loads(report.read_text())
    assert code == {"fail": 1, "warn": 2}.get(doc["severity"], 0)
    assert json.loads(capsys.readouterr().out) == doc
    text = report.read_text()
    # aggregates only: no list of member ids anywhere in the report
    assert "customer_id" not in text
    assert not any(isinstance(v, list) and len(v) >= 60 for v in _walk(doc))


def _walk(obj):
    yield obj
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def test_cli_errors_exit_3(population, capsys):
    _, res, _, _ = population
    assert main(["assess", str(res.paths["project"]), "--no-cache"]) == 3
    assert "no segment to assess" in capsys.readouterr().err
    assert main(["assess", str(res.paths["project"]), "--no-cache", "--segment", "x.parquet",
                 "--segment-signature", "pregnancy"]) == 3
    assert main(["assess", str(res.paths["project"]), "--unicity-warn", "2"]) == 3


def test_python_api_mirrors_the_cli(population):
    from basketguard.engine import api

    out, res, _, _ = population
    scanned = api.scan(res.paths["project"], cache_dir=out / "cache")
    assert len(scanned.summary()["signatures"]) >= 10
    result = api.assess(res.paths["project"], segment_signature="pregnancy",
                        options=AssessOptions(points=("items",), p_max=2),
                        cache_dir=out / "cache")
    assert result.findings and result.segment["members"] > 0


@pytest.mark.parametrize("kwargs, message", [
    ({"points": ("item-year",)}, "unknown point kind"),
    ({"p_max": 0}, "p must be 1..64"),
    ({"k": 0}, "k must be >= 1"),
    ({"km_m": 9}, "km_m must be 1..4"),
    ({"sampling_fraction": 1.5}, "sampling fraction"),
])
def test_bad_options_fail_before_any_work(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        AssessOptions(**kwargs)
