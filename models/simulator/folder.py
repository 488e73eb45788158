"""The simulator's output folder, written as one set.

:func:`open_set` creates a temporary folder beside the target
(``.NAME.synth-tmp-PID-TOKEN``); the simulator writes every file into it and
:func:`commit_set` renames it into place. A reader sees the whole previous
set, or the whole new one, never lines of one run beside the truth of
another. :func:`discard_set` removes the temporary folder on any failure or
interruption.

The target folder may be missing, empty, or a previous synth output (its
``project.toml`` starts with :data:`MARK` and it holds nothing but the set's
files): that set is replaced as a whole (renamed aside, the new one renamed
in, the old one removed). A folder holding anything else is refused, so no
user file is ever deleted. Leftovers of a killed run (temporary or set-aside
folders whose process is gone) are removed by the next run into the same
target; a set-aside previous set is first renamed back if the target is
missing.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from basketguard.engine.errors import OutputError

#: First line of every project file the simulator writes.
MARK = "# Written by `basketguard synth`"

#: The files of one set.
SET_FILES = frozenset({"lines.parquet", "catalog.parquet", "customers.parquet",
                       "truth.parquet", "project.toml"})

# per-file temporary names of earlier versions (".lines.parquet.tmp-123")
_OLD_TEMP = re.compile(r"^\..+\.tmp-\d+$")


def _fail(target: Path, exc: OSError, what: str = "write") -> OutputError:
    return OutputError(f"cannot {what} the synth output folder {str(target)!r}: "
                       f"{exc.strerror or exc}. Free space, fix the permissions or choose "
                       "another --out folder.")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, not ours: leave its folders alone
        return True
    return True


def is_previous_set(folder: Path) -> bool:
    """True when ``folder`` holds a synth output and nothing else."""
    project = folder / "project.toml"
    try:
        with project.open(encoding="utf-8") as fh:
            if not fh.readline().startswith(MARK):
                return False
        names = os.listdir(folder)
    except (OSError, UnicodeDecodeError):
        return False
    return all(n in SET_FILES or _OLD_TEMP.match(n) for n in names)


def _clean_stale(target: Path) -> None:
    """Remove (or restore) what killed runs into ``target`` left beside it."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.synth-(tmp|old)-(\d+)-[0-9a-f]+$")
    stale = []
    for name in sorted(os.listdir(target.parent)):
        m = pattern.match(name)
        if m and not _alive(int(m.group(2))):
            stale.append((m.group(1), target.parent / name))
    for kind, path in stale:
        if kind == "old" and not os.path.lexists(target):
            os.rename(path, target)  # killed between "aside" and "in": put the old set back
    for _kind, path in stale:
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)


def open_set(out_dir: str | Path) -> tuple[Path, Path]:
    """Check the target folder and create the temporary folder beside it.

    Parameters
    ----------
    out_dir : str or Path
        The output folder.

    Returns
    -------
    (Path, Path)
        The absolute target and the new, empty temporary folder.

    Raises
    ------
    OutputError
        The target is a file, holds files that are not a previous synth
        output, contains the working directory, or cannot be written.
    """
    target = Path(os.path.abspath(out_dir))
    if target.parent == target:
        raise OutputError(f"--out {str(out_dir)!r} is a filesystem root; give a folder below it.")
    try:
        cwd = os.path.realpath(os.getcwd())
    except OSError:
        cwd = ""
    real = os.path.realpath(target)
    if cwd and os.path.commonpath([cwd, real]) == real:
        raise OutputError(f"--out {str(out_dir)!r} is (or contains) the working directory; the "
                          "folder is replaced as a whole. Run from outside it or choose "
                          "another --out folder.")
    blocker = next((p for p in target.parents if os.path.lexists(p)), None)
    if blocker is not None and not blocker.is_dir():
        raise OutputError(f"--out {str(out_dir)!r}: {str(blocker)!r} is a file, not a folder, "
                          "so nothing can be written below it. Choose another --out folder.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale(target)
    except OSError as exc:
        raise _fail(target, exc) from None
    if os.path.lexists(target):
        if not target.is_dir():
            raise OutputError(f"--out {str(out_dir)!r} is a file, not a folder; synth writes a "
                              "folder of files. Choose another --out folder.")
        if os.listdir(target) and not is_previous_set(target):
            others = sorted(n for n in os.listdir(target) if n not in SET_FILES)
            shown = ", ".join(repr(n) for n in others[:3]) + (", ..." if len(others) > 3 else "")
            raise OutputError(
                f"--out {str(out_dir)!r} holds files that are not a previous synth output "
                f"({shown}); synth replaces its folder as a whole and will not delete them. "
                "Choose a new or empty folder, or move those files.")
    tmp = target.parent / f".{target.name}.synth-tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.mkdir(tmp)
    except OSError as exc:
        raise _fail(target, exc) from None
    return target, tmp


def commit_set(tmp: Path, target: Path) -> None:
    """Rename the finished temporary folder ``tmp`` into place as ``target``.

    A previous set is renamed aside first and removed once the new one is in;
    if the new one cannot be renamed in, the previous one is put back.

    Raises
    ------
    OutputError
        A rename failed (the target then holds what it held before).
    """
    old = None
    try:
        if os.path.lexists(target):
            old = target.parent / f".{target.name}.synth-old-{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(target, old)
        try:
            os.rename(tmp, target)
        except BaseException:
            if old is not None:
                os.rename(old, target)
                old = None
            raise
    except OSError as exc:
        raise _fail(target, exc, "replace") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def discard_set(tmp: Path) -> None:
    """Remove the temporary folder and everything written into it."""
    shutil.rmtree(tmp, ignore_errors=True)
