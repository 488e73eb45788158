"""The scan and signatures verbs: outputs, privacy and errors."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from basketguard.engine.cli.main import main
from basketguard.models.simulator.run import SimConfig, simulate

pytestmark = pytest.mark.jit


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp("scancli")
    res = simulate(SimConfig(customers=1500, seed=5), out / "data")
    return out, str(res.paths["project"])


def test_scan_json_report_and_scores_file(project, capsys):
    out, proj = project
    scores = out / "scores.parquet"
    report = out / "scan.json"
    code = main(["scan", proj, "--cache-dir", str(out / "c"), "--json", "--out", str(report),
                 "--scores", str(scores), "--only", "pregnancy,kosher_diet"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == json.loads(report.read_text())
    assert [s["signature"] for s in doc["signatures"]] == ["kosher_diet", "pregnancy"]
    assert "customer_id" not in report.read_text()
    table = pq.read_table(scores)
    assert table.num_rows > 0 and "customer_id" in table.column_names
    assert set(table.column("signature").to_pylist()) <= {"pregnancy", "kosher_diet"}


def test_scan_text_summary(project, capsys):
    out, proj = project
    assert main(["scan", proj, "--cache-dir", str(out / "c"), "--as-of", "2024-06-01"]) == 0
    text = capsys.readouterr().out
    assert "stages as of 2024-06-01" in text and "pregnancy" in text


@pytest.mark.parametrize("args, message", [
    (["--only", "pregnancyy"], "Did you mean 'pregnancy'"),
    (["--as-of", "June"], "not an ISO date"),
    (["--signatures", "no/such/file.toml"], "no such signature file"),
])
def test_scan_errors_exit_3(project, capsys, args, message):
    out, proj = project
    assert main(["scan", proj, "--cache-dir", str(out / "c"), *args]) == 3
    assert message in capsys.readouterr().err


def test_signatures_lists_and_resolves(project, capsys):
    out, proj = project
    assert main(["signatures"]) == 0
    assert "pregnancy" in capsys.readouterr().out
    assert main(["signatures", "--project", proj, "--cache-dir", str(out / "c"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    preg = [m for m in doc["matches"] if m["signature"] == "pregnancy"]
    assert preg and all(m["items"] > 0 for m in preg)


def test_signatures_invalid_user_file_exits_3(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nsensitivity = "health"\nwindow_days = -3\n')
    assert main(["signatures", "--signatures", str(bad)]) == 3
    err = capsys.readouterr().err
    assert str(bad) in err and "window_days" in err
