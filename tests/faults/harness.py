"""Run the CLI on a faulty input in a subprocess and check the promises.

Each fault case runs ``basketguard ARGS`` in a fresh process (as a pipeline
would: no shared state, real exit codes, real signals) inside a scratch
folder, and asserts:

- the exit code (3 for every error; 0/1/2 for results);
- the first line of stderr (the one-paragraph message) contains what names
  the file, column or key and what to do;
- no traceback without ``--debug``;
- no file changed outside the outputs the case declares (every file under
  the scratch folder is hashed before and after; the cache folder is
  the case's own, and declared by default).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

#: The CLI of this checkout, run as a module so the venv's interpreter is used.
CLI = [sys.executable, "-m", "basketguard.engine.cli.main"]


@dataclass
class Run:
    """What one CLI process did."""

    code: int
    stdout: str
    stderr: str
    changed: set[str]  # paths (relative to the folder) created, modified or deleted

    @property
    def first_line(self) -> str:
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        return lines[0] if lines else ""


def snapshot(folder: Path) -> dict[str, str]:
    """Digest of every file below ``folder`` (relative path -> sha256); links not followed."""
    out = {}
    for root, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            p = Path(root) / name
            if p.is_symlink():
                out[str(p.relative_to(folder))] = "link:" + os.readlink(p)
                continue
            try:
                out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError:
                out[str(p.relative_to(folder))] = "unreadable"
    return out


def run_cli(args: Sequence[str], folder: Path, *, timeout: float = 120,
            env: dict[str, str] | None = None) -> Run:
    """Run ``basketguard *args`` with ``folder`` as working directory."""
    before = snapshot(folder)
    full_env = {**os.environ, "BASKETGUARD_CACHE": str(folder / ".cache"), **(env or {})}
    proc = subprocess.run([*CLI, *map(str, args)], cwd=folder, capture_output=True, text=True,
                          timeout=timeout, env=full_env)
    after = snapshot(folder)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    return Run(proc.returncode, proc.stdout, proc.stderr, changed)


def check(run: Run, *, code: int, first_line: Iterable[str] = (),
          outputs: Iterable[str] = (), absent: Iterable[str] = ()) -> None:
    """Assert the promises of one fault case (see the module docstring).

    Parameters
    ----------
    run : Run
    code : int
        Expected exit code.
    first_line : iterable of str
        Fragments the first stderr line must contain (case-sensitive).
    outputs : iterable of str
        Relative paths (or prefixes ending in ``/``) the run may create or change;
        the cache folder ``.cache/`` always may.
    absent : iterable of str
        Fragments that must appear in neither stdout nor stderr (ids, secrets).
    """
    where = f"exit {run.code}\nstderr: {run.stderr[-2000:]}\nstdout: {run.stdout[-500:]}"
    assert run.code == code, where
    if code == 3:
        assert run.first_line.startswith("basketguard: error: ") or \
            run.first_line.startswith("basketguard: internal error"), where
        assert "internal error" not in run.stderr, "a user mistake reported as a bug:\n" + where
    assert "Traceback" not in run.stderr, where
    for frag in first_line:
        assert frag in run.first_line, f"{frag!r} not in the first line\n{where}"
    allowed = [".cache/", *outputs]
    stray = {c for c in run.changed
             if not any(c == a or (a.endswith("/") and c.startswith(a)) for a in allowed)}
    assert not stray, f"files changed outside the declared outputs: {sorted(stray)}\n{where}"
    for frag in absent:
        assert frag not in run.stdout and frag not in run.stderr, f"{frag!r} leaked\n{where}"
