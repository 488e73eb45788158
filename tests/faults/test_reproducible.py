"""Byte-for-byte reproducibility: the same input and seed give the same bytes, every verb.

Each verb runs twice in the same folder with the same arguments. Every file
it writes (``--out`` reports, generated data) and what it prints with
``--json`` must be identical, byte for byte. The second run of a data verb
reads the histories from the cache the first one stored, so a cache hit must
also report exactly what a fresh build reported. Reports hold no wall-clock
value unless ``--timings`` asks for one.
"""

from __future__ import annotations

import json

import pytest

from tests.faults.harness import check, run_cli, snapshot

pytestmark = pytest.mark.jit  # whole CLI runs in subprocesses

P = "synth/project.toml"

#: (id, arguments, what the run writes: files or folders ending in /, stdout compared)
VERBS = [
    ("profile", ["profile", P, "--json", "--out", "r/profile.json"], ["r/"], True),
    ("scan", ["scan", P, "--json", "--out", "r/scan.json", "--scores", "r/scores.parquet"],
     ["r/"], True),
    ("signatures", ["signatures", "--project", P, "--json"], [], True),
    ("assess", ["assess", P, "--segment-signature", "pregnancy", "--points", "item-day,items",
                "--item-lists", "--json", "--out", "r/assess.json"], ["r/"], True),
    # synth and demo print a summary line with the seconds taken: their files are compared
    ("synth", ["synth", "--customers", "300", "--seed", "5", "--out", "gen"], ["gen/"], False),
    ("demo", ["demo", "--customers", "300", "--seed", "5", "--out", "d"], ["d/"], False),
]


@pytest.mark.parametrize("args, outputs, compare_stdout",
                         [pytest.param(a, o, s, id=i) for i, a, o, s in VERBS])
def test_same_input_and_seed_give_the_same_bytes(synth, args, outputs, compare_stdout):
    first = run_cli(args, synth)
    assert first.code in (0, 1, 2), first.stderr
    check(first, code=first.code, outputs=outputs)
    written = snapshot(synth)
    second = run_cli(args, synth)
    check(second, code=first.code, outputs=outputs)
    made = sorted(p for p in first.changed if not p.startswith(".cache/"))
    assert made or not outputs, "the run wrote none of its outputs"
    assert not {p for p in second.changed if not p.startswith(".cache/")}, \
        f"the second run wrote other bytes: {sorted(second.changed)}"
    assert snapshot(synth) == written
    if compare_stdout:
        assert second.stdout == first.stdout
        _assert_no_seconds(json.loads(first.stdout))


def _assert_no_seconds(doc, where="$") -> None:
    """No timing in a report: every ``*seconds`` entry is absent or empty."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            assert "seconds" not in key or value in ({}, None), f"{where}.{key} = {value!r}"
            _assert_no_seconds(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            _assert_no_seconds(value, f"{where}[{i}]")


def test_cache_off_gives_the_same_report(synth):
    cached = run_cli(["scan", P, "--json"], synth)
    fresh = run_cli(["scan", P, "--json", "--no-cache"], synth)
    check(cached, code=0)
    check(fresh, code=0)
    assert fresh.stdout == cached.stdout


def test_timings_are_given_on_request(synth):
    run = run_cli(["scan", P, "--json", "--only", "pregnancy", "--timings"], synth)
    check(run, code=0)
    seconds = json.loads(run.stdout)["seconds"]
    assert set(seconds) == {"resolve", "score"}
    assert all(isinstance(v, float) and v >= 0 for v in seconds.values())
    run = run_cli(["profile", P, "--json", "--timings"], synth)
    check(run, code=0)
    build = json.loads(run.stdout)["build"]
    assert build["cache"] == "hit" and build["read_seconds"] >= 0 and "build_seconds" in build
