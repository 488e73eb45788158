"""The learn verb and ``scan --detectors``: folders written, exit codes, one-paragraph errors.

Errors and the ``[customers]`` labels run on the small hand-made shop of
tests/engine/detect/test_labels.py (both passes); training from a label file
and from anchors, then scanning with the saved detectors, on the simulated
population of tests/engine/detect/test_learn.py (``jit``).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.cli.main import main
from basketguard.models.learned.detector import META_FILE, MODEL_FILE
from tests.engine.detect.test_labels import write_shop
from tests.engine.detect.test_learn import assert_aggregates_only, simulated

FAST = ["--rounds", "20", "--folds", "2", "--threads", "1", "--max-groups", "15"]
FILES = sorted([MODEL_FILE, META_FILE, "proxies.parquet", "signature.toml"])


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli_shop")
    path, _ = write_shop(base)
    ids = pq.read_table(base / "customers.parquet").column("customer_id")
    pq.write_table(pa.table({"customer_id": ids.slice(0, 3), "label": [1.0, 0.3, 0.0]}),
                   base / "scores_not_labels.parquet")
    return base, str(path)


def _learn(proj: str, cache, out, *args: str) -> list[str]:
    return ["learn", proj, "--cache-dir", str(cache), "--name", "shop_pregnancy",
            "--out", str(out), *FAST, *args]


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("basketguard: error: "), err
    return err


# ------------------------------------------------------------------ errors (both passes)
def test_wrong_label_type_exits_3_naming_file_and_column(shop, tmp_path, capsys):
    base, proj = shop
    out = tmp_path / "det"
    code = main(_learn(proj, base / "cache", out, "--labels",
                       str(base / "scores_not_labels.parquet")))
    assert code == ExitCode.ERROR == 3
    err = _error(capsys)
    assert "scores_not_labels.parquet" in err and "label column 'label' holds 0.3" in err
    assert not out.exists()


def test_unknown_anchor_exits_3_with_a_suggestion(shop, tmp_path, capsys):
    base, proj = shop
    out = tmp_path / "det"
    assert main(_learn(proj, base / "cache", out, "--anchor", "pregnancy_tset")) == 3
    err = _error(capsys)
    assert "anchor concept 'pregnancy_tset'" in err and "Did you mean 'pregnancy_test'?" in err
    assert not out.exists()


@pytest.mark.parametrize("args", [
    ["--labels", "labels.parquet", "--anchor", "pregnancy_test"],
    ["--label-column", "pregnant", "--anchor", "pregnancy_test"],
    ["--anchor", "pregnancy_test", "--from-signature", "pregnancy"],
    [],
], ids=["labels and anchor", "label column and anchor", "anchor and signature", "none"])
def test_labels_one_way_only(shop, tmp_path, capsys, args):
    base, proj = shop
    assert main(_learn(proj, base / "cache", tmp_path / "det", *args)) == 3
    assert "give the labels one way" in _error(capsys)


@pytest.mark.parametrize("args, fragments", [
    (["--label-column", "pregnnt"], ["'pregnnt' is not a label column", "Did you mean"]),
    (["--label-column", "score"], ["[customers]", "label column 'score' holds"]),
    (["--labels", "no_such.parquet"], ["no_such.parquet"]),
    (["--anchor", "a++b"], ["anchor 'a++b'"]),
    (["--anchor", "pregnancy_test", "--windows", "28,x"], ["--windows '28,x'"]),
    (["--anchor", "pregnancy_test", "--windows", "91,28"], ["feature windows [91, 28]"]),
    (["--anchor", "pregnancy_test", "--sensitivity", "gossip"], ["sensitivity 'gossip'"]),
], ids=["unlisted label column", "probabilities as labels", "missing file", "blank anchor",
        "windows not numbers", "windows descending", "unknown sensitivity"])
def test_bad_input_exits_3(shop, tmp_path, capsys, args, fragments):
    base, proj = shop
    out = tmp_path / "det"
    assert main(_learn(proj, base / "cache", out, *args)) == 3
    err = _error(capsys)
    for f in fragments:
        assert f in err, err
    assert not out.exists()


def test_learn_from_the_customers_table(shop, tmp_path, capsys):
    base, proj = shop
    out = tmp_path / "det"
    code = main(_learn(proj, base / "cache", out, "--label-column", "pregnant",
                       "--date-column", "due", "--json", "--report", str(tmp_path / "r.json")))
    assert code == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc == json.loads((tmp_path / "r.json").read_text())
    assert doc["target"]["positives"] == 60 and doc["out"] == str(out)
    assert "2 event dates lie after the last basket line" in captured.err  # the warning
    assert sorted(p.name for p in out.iterdir()) == FILES
    # an existing folder is refused without --replace, replaced with it
    assert main(_learn(proj, base / "cache", out, "--label-column", "pregnant")) == 3
    assert "already exists; pass --replace" in _error(capsys)
    assert main(_learn(proj, base / "cache", out, "--label-column", "pregnant",
                       "--replace")) == 0
    assert sorted(p.name for p in out.iterdir()) == FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det", "r.json"]


def test_the_same_run_writes_the_same_model_bytes(shop, tmp_path, capsys):
    base, proj = shop
    for out in ("one", "two"):
        assert main(_learn(proj, base / "cache", tmp_path / out, "--anchor",
                           "pregnancy_test+prenatal_vitamins", "--seed", "4")) == 0
    capsys.readouterr()
    for name in (MODEL_FILE, META_FILE, "proxies.parquet"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


# ------------------------------------------------------------------ the simulated population
@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulated(tmp_path_factory)


@pytest.fixture(scope="module")
def trained(sim, tmp_path_factory):
    """Two detectors trained through the CLI into one folder: (folder, outputs)."""
    root = tmp_path_factory.mktemp("cli_detectors")
    proj, cache = str(sim["res"].paths["project"]), str(sim["cache"])
    runs = {
        "labels": ["learn", proj, "--cache-dir", cache, "--name", "pregnancy_labels",
                   "--labels", str(sim["labels"]), "--date-column", "due",
                   "--unlisted-negative", "--out", str(root / "labels"), "--json", "--replace",
                   "--sensitivity", "reproductive", "--rounds", "30", "--folds", "3",
                   "--threads", "1", "--max-groups", "40"],
        "anchors": ["learn", proj, "--cache-dir", cache, "--name", "pregnancy_anchors",
                    "--anchor", "pregnancy_test+prenatal_vitamins", "--out",
                    str(root / "anchors"), "--replace", "--sensitivity", "reproductive",
                    "--rounds", "30", "--folds", "3", "--threads", "1", "--max-groups", "40"],
    }
    return root, runs


@pytest.mark.jit
def test_learn_with_labels_writes_the_folder(trained, sim, capsys):
    root, runs = trained
    assert main(runs["labels"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["detector"]["name"] == "pregnancy_labels"
    assert doc["detector"]["metrics"]["roc_auc"]["value"] > 0.7
    assert doc["target"]["mode"] == "labels"
    assert_aggregates_only(doc, sim["hist"].n_customers)
    assert sorted(p.name for p in (root / "labels").iterdir()) == FILES


@pytest.mark.jit
def test_learn_with_anchors_writes_the_folder(trained, capsys):
    root, runs = trained
    assert main(runs["anchors"]) == 0
    out = capsys.readouterr().out
    assert "pregnancy_anchors" in out and "anchors pregnancy_test+prenatal_vitamins" in out
    meta = json.loads((root / "anchors" / META_FILE).read_text())
    assert meta["feature_spec"]["drop_concepts"] == ["pregnancy_test", "prenatal_vitamins"]
    assert sorted(p.name for p in (root / "anchors").iterdir()) == FILES


@pytest.mark.jit
def test_scan_with_detectors_json_and_scores(trained, sim, tmp_path, capsys):
    root, runs = trained
    for name in ("labels", "anchors"):
        if not (root / name).exists():
            assert main(runs[name]) == 0
    capsys.readouterr()
    scores = tmp_path / "scores.parquet"
    code = main(["scan", str(sim["res"].paths["project"]), "--cache-dir", str(sim["cache"]),
                 "--detectors", str(root), "--scores", str(scores), "--json",
                 "--only", "pregnancy"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert [e["detector"] for e in doc["learned"]] == ["pregnancy_anchors", "pregnancy_labels"]
    assert all(e["kind"] == "learned" and e["coverage"] == 1.0 for e in doc["learned"])
    assert "customer_id" not in json.dumps(doc)
    table = pq.read_table(scores)
    counts = dict(zip(*(c.to_pylist() for c in pc.value_counts(table["signature"]).flatten()),
                      strict=True))
    n = sim["hist"].n_customers
    assert counts["pregnancy_labels"] == n and counts["pregnancy_anchors"] == n
    assert counts["pregnancy"] > 0


@pytest.mark.jit
def test_learn_from_a_signature_drops_its_items(sim, tmp_path, capsys):
    proj, cache = str(sim["res"].paths["project"]), str(sim["cache"])
    out = tmp_path / "pregnancy_more"
    assert main(["learn", proj, "--cache-dir", cache, "--name", "pregnancy_more",
                 "--from-signature", "pregnancy", "--out", str(out), *FAST, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["target"]["mode"] == "flags" and doc["target"]["dropped_items"] > 0
    spec = json.loads((out / META_FILE).read_text())["feature_spec"]
    assert spec["mode"] == "flags" and len(spec["drop_items"]) == doc["target"]["dropped_items"]
    dropped = set(spec["drop_items"])
    assert not {g for g in spec["groups"] if g.startswith("item:")} & {
        f"item:{i}" for i in dropped}


@pytest.mark.jit
def test_scan_with_a_detector_named_like_a_signature_exits_3(sim, tmp_path, capsys):
    proj, cache = str(sim["res"].paths["project"]), str(sim["cache"])
    out = tmp_path / "pregnancy"
    assert main(["learn", proj, "--cache-dir", cache, "--name", "pregnancy", "--anchor",
                 "pregnancy_test", "--out", str(out), *FAST]) == 0
    capsys.readouterr()
    assert main(["scan", proj, "--cache-dir", cache, "--detectors", str(out),
                 "--only", "pregnancy"]) == 3
    assert "learned detector 'pregnancy' has the name of a signature" in _error(capsys)


@pytest.mark.jit
def test_scan_with_a_missing_detectors_folder_exits_3(sim, tmp_path, capsys):
    assert main(["scan", str(sim["res"].paths["project"]), "--cache-dir", str(sim["cache"]),
                 "--detectors", str(tmp_path / "nowhere")]) == 3
    assert "nowhere" in _error(capsys)
