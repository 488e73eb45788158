"""Fault cases: ``synth`` writes its files as one set, or not at all.

Interrupted (SIGINT) or killed (SIGKILL) while writing, out of space, below a
file, or into a folder of other files: the target holds the whole previous
set (byte for byte) or nothing, no temporary file stays behind a clean exit,
and the next run succeeds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.faults.harness import CLI, check, run_cli, snapshot

#: Big enough to be still writing when the signal comes, never waited for to the end.
BIG = ["synth", "--customers", "1000000", "--items", "500", "--chunk-customers", "5000",
       "--row-group-size", "20000", "--out", "synth"]
TINY = ["synth", "--customers", "20", "--items", "500", "--days", "30", "--out", "synth"]


def _signal_while_writing(folder: Path, sig: int) -> subprocess.CompletedProcess:
    """Start a big synth into ``folder/synth``; send ``sig`` once rows are being written."""
    env = {**os.environ, "BASKETGUARD_CACHE": str(folder / ".cache")}
    proc = subprocess.Popen([*CLI, *BIG], cwd=folder, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            written = list(folder.glob(".synth.synth-tmp-*/lines.parquet"))
            if written and written[0].stat().st_size > 0:
                break
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before the signal: " + proc.stderr.read()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != ".cache")


def _previous_set(folder: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(folder).items() if k.startswith("synth/")}


def test_sigint_leaves_the_previous_set_and_no_temp(synth):
    before = _previous_set(synth)
    done = _signal_while_writing(synth, signal.SIGINT)
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines()[0] == "basketguard: interrupted", done.stderr
    assert "Traceback" not in done.stderr and "Column" not in done.stderr
    assert _previous_set(synth) == before
    assert _names(synth) == ["synth"]
    check(run_cli(TINY, synth), code=0, outputs=["synth/"])


def test_sigkill_leftover_is_removed_by_the_next_run(synth):
    before = _previous_set(synth)
    done = _signal_while_writing(synth, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    assert _previous_set(synth) == before  # killed mid-write: the old set is whole
    leftover = [p.name for p in synth.glob(".synth.synth-tmp-*")]
    assert leftover  # what a kill leaves behind
    check(run_cli(TINY, synth), code=0, outputs=["synth/", *(f"{n}/" for n in leftover)])
    assert _names(synth) == ["synth"]
    assert _previous_set(synth) != before


def test_folder_of_other_files_is_refused(synth):
    (synth / "mine").mkdir()
    (synth / "mine" / "notes.txt").write_text("keep me")
    check(run_cli([*TINY[:-1], "mine"], synth), code=3,
          first_line=["--out 'mine'", "'notes.txt'", "not a previous synth output"])


def test_below_a_regular_file_is_an_output_error(synth):
    check(run_cli([*TINY[:-1], "synth/lines.parquet/sub"], synth), code=3,
          first_line=["lines.parquet' is a file, not a folder"])


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (needs root and a kernel that allows the mount)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", f"bg-{uuid.uuid4().hex[:8]}",
                           str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here; the full-disk path is covered in "
                    "process by tests/models/simulator/test_folder.py")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_full_disk_is_an_output_error_and_leaves_nothing(small_disk):
    args = ["synth", "--customers", "3000", "--items", "500", "--out", "disk/data"]
    check(run_cli(args, small_disk.parent), code=3,
          first_line=["disk/data", "No space left on device"])
    assert os.listdir(small_disk) == []
