"""The simulator's files are one set: a failure at any step leaves the previous set whole."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading

import pytest

from basketguard.engine.errors import OutputError
from basketguard.models.simulator import folder, run
from basketguard.models.simulator.catalog import MIN_ITEMS
from basketguard.models.simulator.run import SimConfig, simulate

CFG = SimConfig(customers=30, days=20, items=MIN_ITEMS, chunk_customers=10, seed=3)


def _digests(path):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.iterdir())}


@pytest.fixture
def previous(tmp_path):
    """A previous set in ``tmp_path/out`` (seed 1) and its digests."""
    out = tmp_path / "out"
    simulate(SimConfig(customers=12, days=20, items=MIN_ITEMS, seed=1), out)
    return out, _digests(out)


def _only_the_set(tmp_path):
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_previous_set_is_replaced_as_a_whole(tmp_path, previous):
    out, before = previous
    simulate(CFG, out)
    after = _digests(out)
    assert set(after) == set(before) == folder.SET_FILES
    assert after["lines.parquet"] != before["lines.parquet"]
    _only_the_set(tmp_path)


def test_rename_failing_partway_keeps_the_previous_set(tmp_path, previous, monkeypatch):
    out, before = previous
    real_rename = os.rename

    def rename(src, dst):
        if "synth-tmp" in str(src):
            raise OSError(5, "Input/output error")
        real_rename(src, dst)

    monkeypatch.setattr(folder.os, "rename", rename)
    with pytest.raises(OutputError, match="cannot replace the synth output folder"):
        simulate(CFG, out)
    assert _digests(out) == before
    _only_the_set(tmp_path)


def test_interrupt_stops_the_writer_and_removes_the_temp(tmp_path, previous, monkeypatch):
    out, before = previous
    calls = []
    real_lines = run.SimModel.lines

    def lines(self, first, customers):
        calls.append(first)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_lines(self, first, customers)

    monkeypatch.setattr(run.SimModel, "lines", lines)
    with pytest.raises(KeyboardInterrupt):
        simulate(CFG, out)
    assert not any(t.name == "basketguard-synth-writer" for t in threading.enumerate())
    assert _digests(out) == before
    _only_the_set(tmp_path)


def test_full_disk_is_an_output_error(tmp_path, previous, monkeypatch):
    out, before = previous

    def append(self, table):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run.RowGroupFile, "append", append)
    with pytest.raises(OutputError, match="No space left on device"):
        simulate(CFG, out)
    assert _digests(out) == before
    _only_the_set(tmp_path)


def test_folder_with_other_files_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "lines.parquet").write_bytes(b"not ours")  # no synth project.toml
    with pytest.raises(OutputError, match="not a previous synth output"):
        simulate(CFG, tmp_path / "out")
    assert (tmp_path / "out" / "lines.parquet").read_bytes() == b"not ours"
    _only_the_set(tmp_path)


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_set_aside_by_a_killed_run_is_restored_then_replaced(tmp_path, previous):
    out, before = previous
    pid = _dead_pid()
    aside = tmp_path / f".out.synth-old-{pid}-0a1b"
    os.rename(out, aside)  # killed between "rename old aside" and "rename new in"
    (tmp_path / f".out.synth-tmp-{pid}-2c3d").mkdir()
    target, tmp = folder.open_set(out)
    assert _digests(target) == before  # the previous set is back before anything else
    folder.discard_set(tmp)
    _only_the_set(tmp_path)


def test_temp_folders_of_a_live_run_are_left_alone(tmp_path):
    live = tmp_path / f".out.synth-tmp-{os.getppid()}-4e5f"
    live.mkdir()
    simulate(CFG, tmp_path / "out")
    assert live.is_dir()
