"""``check_outputs``: the one check that no output resolves to an input, the cache or
another output (spellings: relative, ``..``, symlinks, hard links, globs, folders)."""

from __future__ import annotations

import os

import pytest

from basketguard.engine.errors import OutputError
from basketguard.engine.io.output import check_outputs


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "data" / "year=2024").mkdir(parents=True)
    (tmp_path / "data" / "year=2024" / "a.parquet").write_bytes(b"x")
    (tmp_path / "lines.csv").write_text("x")
    (tmp_path / "cache").mkdir()
    return tmp_path


@pytest.mark.parametrize("location, output", [
    pytest.param("lines.csv", "lines.csv", id="same_file"),
    pytest.param("lines.csv", "data/../lines.csv", id="dotdot"),
    pytest.param("lines.csv", "link.csv", id="symlink"),
    pytest.param("lines.csv", "hard.csv", id="hard_link"),
    pytest.param("data", "data/year=2024/a.parquet", id="file_of_folder"),
    pytest.param("data", "data/new/report.json", id="into_folder"),
    pytest.param("data/**/*.parquet", "data/year=2024/a.parquet", id="glob_match"),
    pytest.param("data/**/*.parquet", "data/b.parquet", id="glob_would_match"),
    pytest.param("elsewhere/*.csv", "link.csv", id="glob_matches_a_link_to_it"),
])
def test_an_output_that_is_an_input_is_refused(tree, monkeypatch, location, output):
    monkeypatch.chdir(tree)
    os.symlink(tree / "lines.csv", tree / "link.csv")
    os.link(tree / "lines.csv", tree / "hard.csv")
    (tree / "elsewhere").mkdir()
    os.symlink(tree / "lines.csv", tree / "elsewhere" / "l.csv")
    if location.startswith("elsewhere"):
        output = "lines.csv"
    with pytest.raises(OutputError) as info:
        check_outputs([("the [lines] source", location)], [("--out", output)])
    assert f"--out {output!r}" in str(info.value) and location in str(info.value)


def test_outputs_must_differ_and_stay_out_of_the_cache(tree, monkeypatch):
    monkeypatch.chdir(tree)
    with pytest.raises(OutputError, match="--out 'r.json' and --scores './r.json'"):
        check_outputs([], [("--scores", "./r.json"), ("--out", "r.json")])
    with pytest.raises(OutputError, match="the cache folder"):
        check_outputs([], [("--out", "cache/sub/r.json")], [("the cache folder", "cache")])


def test_other_paths_pass(tree, monkeypatch):
    monkeypatch.chdir(tree)
    check_outputs([("the [lines] source", "lines.csv"), ("the [x] source", "data/*.parquet"),
                   ("the --segment file", None)],
                  [("--scores", "lines.csv.parquet"), ("--out", "report.json"), ("--x", None)],
                  [("the cache folder", "cache")])
