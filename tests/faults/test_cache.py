"""Fault cases: a damaged histories cache is never trusted and never fails a run.

Each case stores an entry, damages it on disk the way a bad disk, a full
disk, a crash or a stray command would, and runs the CLI: the run must print
exactly what a run on intact data prints (the histories were rebuilt, not
read from the damaged entry), exit 0, and say on stderr which cache file was
damaged; the next load finds the replaced entry valid. More kinds of damage
are checked in process in ``tests/engine/histories/test_cache.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from basketguard.engine.api import load_histories, profile_project
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan
from basketguard.engine.report.json import dumps
from basketguard.models.signatures.schema import load_library
from tests.faults.harness import check, run_cli

pytestmark = pytest.mark.jit  # whole CLI runs in subprocesses


def _entry(folder: Path) -> Path:
    (entry,) = [p for p in (folder / ".cache").iterdir() if not p.name.startswith(".")]
    return entry


def _flip_bits(path: Path, count: int = 3) -> None:
    """Flip one bit in each of ``count`` bytes spread over the file's body."""
    data = bytearray(path.read_bytes())
    for i in range(1, count + 1):
        data[len(data) * i // (count + 1)] ^= 0x10
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_meta_value(entry: Path) -> None:
    """A valid ``meta.json`` whose line count is off by one (one digit changed)."""
    meta = json.loads((entry / "meta.json").read_text())
    meta["n_lines"] -= 1
    (entry / "meta.json").write_text(json.dumps(meta, indent=1))


def _folder_instead_of_file(path: Path) -> None:
    path.unlink()
    path.mkdir()


#: (id, damage done to the entry, the file the note must name)
DAMAGE = [
    ("flipped_bits_in_lines", lambda e: _flip_bits(e / "lines.arrow"), "lines.arrow"),
    ("one_flipped_bit_in_items", lambda e: _flip_bits(e / "items.arrow", 1), "items.arrow"),
    ("truncated_lines", lambda e: _truncate(e / "lines.arrow"), "lines.arrow"),
    ("empty_baskets", lambda e: (e / "baskets.arrow").write_bytes(b""), "baskets.arrow"),
    ("missing_stores", lambda e: (e / "stores.arrow").unlink(), "stores.arrow"),
    ("other_valid_arrow_file", lambda e: shutil.copy(e / "items.arrow", e / "stores.arrow"),
     "stores.arrow"),
    ("meta_value_changed", _edit_meta_value, "meta.json"),
    ("meta_not_json", lambda e: (e / "meta.json").write_text("{\"cache_format\": 2,"),
     "meta.json"),
    ("lines_is_a_folder", lambda e: _folder_instead_of_file(e / "lines.arrow"), "lines.arrow"),
]


@pytest.fixture
def stored(synth, monkeypatch):
    """The synth project with its histories in the case's cache, and the profile a run prints.

    The entry is stored in this process (as the CLI would, from the same folder),
    so that each case needs a single CLI run: the one on the damaged entry.
    """
    monkeypatch.chdir(synth)
    project = load_project("synth/project.toml")
    hist = load_histories(project, cache_dir=synth / ".cache")
    assert hist.info["cache"] == "stored"
    return project, hist


@pytest.mark.parametrize("damage, named", [pytest.param(d, n, id=i) for i, d, n in DAMAGE])
def test_damaged_entry_is_rebuilt_with_a_note(synth, stored, damage, named):
    project, hist = stored
    entry = _entry(synth)
    damage(entry)
    run = run_cli(["profile", "synth/project.toml", "--json"], synth)
    check(run, code=0)
    assert run.stdout == dumps(profile_project(project, hist))  # rebuilt, not the damaged
    assert run.first_line.startswith("basketguard: note: cache entry "), run.stderr
    assert str(entry / named) in run.first_line, run.stderr
    assert "rebuilt the histories from the source" in run.first_line
    again = load_histories(project, cache_dir=synth / ".cache")  # the entry was replaced
    assert again.info["cache"] == "hit" and "cache_note" not in again.info


def test_flipped_bits_do_not_change_scan_results(synth, stored):
    """The issue's case: a few flipped bits in a cached column changed the evidence counts."""
    project, hist = stored
    only = ["pregnancy", "diabetes"]
    _flip_bits(_entry(synth) / "lines.arrow", 5)
    run = run_cli(["scan", "synth/project.toml", "--json", "--only", ",".join(only)], synth)
    check(run, code=0, first_line=["lines.arrow", "does not match its checksum"])
    assert run.stdout == dumps(scan(project, hist, load_library(only=only)).summary())
