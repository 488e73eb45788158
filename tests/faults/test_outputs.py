"""Fault cases: an output that would overwrite an input, another output or the cache.

Every case must stop before any work with exit 3, a first line naming both
paths, and no file changed (the harness hashes the whole folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.faults.harness import check, run_cli

EXAMPLE_SIGNATURE = Path(__file__).parents[2] / "examples" / "signatures" / "baby_gifts.toml"


@pytest.mark.parametrize("args, fragments", [
    pytest.param(["scan", "synth/project.toml", "--scores", "synth/lines.parquet"],
                 ["--scores 'synth/lines.parquet'", "[lines] source", "lines.parquet'"],
                 id="scores_over_lines"),
    pytest.param(["profile", "synth/project.toml", "--out", "synth/project.toml"],
                 ["--out 'synth/project.toml'", "the project file"], id="out_over_project"),
    pytest.param(["scan", "synth/project.toml", "--scores", "x.parquet", "--out", "x.parquet"],
                 ["--out 'x.parquet'", "--scores 'x.parquet'", "different paths"],
                 id="scores_and_out_same"),
    pytest.param(["scan", "synth/project.toml", "--out", "synth/../synth/catalog.parquet"],
                 ["[catalog] source", "catalog.parquet"], id="dotdot_to_catalog"),
    pytest.param(["scan", "synth/project.toml", "--scores", "link.parquet"],
                 ["--scores 'link.parquet'", "[truth] source"], id="symlink_to_truth"),
    pytest.param(["assess", "synth/project.toml", "--segment", "synth/customers.parquet",
                  "--out", "synth/customers.parquet"],
                 ["--out", "customers.parquet"], id="out_over_segment_file"),
    pytest.param(["scan", "synth/project.toml", "--signatures", "sig.toml", "--out", "sig.toml"],
                 ["--out 'sig.toml'", "--signatures"], id="out_over_signatures"),
])
def test_output_over_an_input_is_refused(synth, args, fragments):
    os.symlink("synth/truth.parquet", synth / "link.parquet")
    shutil.copy(EXAMPLE_SIGNATURE, synth / "sig.toml")
    check(run_cli(args, synth), code=3, first_line=fragments)


@pytest.mark.parametrize("source, out, fragments", [
    pytest.param("data/*.csv", "data/report.csv", ["data/report.csv", "data/*.csv"],
                 id="glob_source_would_read_it"),
    pytest.param("data", "data/sub/report.json", ["data/sub/report.json", "[lines] source"],
                 id="into_folder_source"),
    pytest.param("lines.csv", ".cache/report.json", ["--out '.cache/report.json'",
                                                     "the cache folder"], id="into_cache"),
])
def test_output_into_a_source_or_the_cache_is_refused(shop, source, out, fragments):
    (shop / "data").mkdir()
    (shop / "data" / "lines.csv").write_text((shop / "lines.csv").read_text())
    toml = shop / "shop.toml"
    toml.write_text(toml.read_text().replace('source = "lines.csv"', f'source = "{source}"'))
    (shop / ".cache").mkdir()
    check(run_cli(["profile", "shop.toml", "--out", out], shop), code=3, first_line=fragments)


def test_output_below_a_file_is_a_clear_error(shop):
    check(run_cli(["profile", "shop.toml", "--out", "lines.csv/report.json"], shop), code=3,
          first_line=["lines.csv/report.json", "is a file, not a folder"])


def test_distinct_outputs_beside_the_inputs_are_written(synth):
    run = run_cli(["scan", "synth/project.toml", "--scores", "synth/scores.parquet",
                   "--out", "scan.json"], synth)
    check(run, code=0, outputs=["synth/scores.parquet", "scan.json"])
    assert {"synth/scores.parquet", "scan.json"} <= run.changed
