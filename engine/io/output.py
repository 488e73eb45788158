"""Atomic outputs, and the one check that an output never touches an input.

Each output is written to a temporary file beside the target, then renamed:
a reader never sees a half-written report or scores file, and an existing
file is left as it was when writing fails. :func:`check_outputs`, called by
every verb before any work, refuses an output that resolves to an input of
the run, into the cache folder, or to another output of the same run.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from basketguard.engine.errors import OutputError


def _fail(target: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {str(target)!r}: {exc.strerror or exc}. "
                       "Choose another output path.")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``.

    Raises
    ------
    OutputError
        The folder or the file cannot be written (the message names it).
    """
    target = Path(path)
    blocker = next((p for p in target.parents if os.path.lexists(p)), None)
    if blocker is not None and not blocker.is_dir():
        raise OutputError(f"cannot write {str(target)!r}: {str(blocker)!r} is a file, not a "
                          "folder. Choose another output path.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
    except OSError as exc:
        raise _fail(target, exc) from None
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _fail(target, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


_GLOB_CHARS = "*?["


def _real(path: str | Path) -> str:
    """The absolute path with symlinks and ``..`` resolved, in the filesystem's case rules."""
    return os.path.normcase(os.path.realpath(os.path.expanduser(str(path))))


def _same(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` (already :func:`_real`) name the same file or folder."""
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)  # hard links, case-insensitive filesystems
    except OSError:
        return False


def _inside(path: str, folder: str) -> bool:
    """True when ``path`` lies in ``folder`` or is it (both already :func:`_real`)."""
    try:
        if os.path.commonpath([path, folder]) == folder:
            return True
    except ValueError:  # different drives
        return False
    if not os.path.isdir(folder):
        return False
    here = path
    while True:  # an ancestor that is the folder under another spelling (case, hard link)
        if os.path.exists(here) and _same(here, folder):
            return True
        parent = os.path.dirname(here)
        if parent == here:
            return False
        here = parent


def _glob_match(path: str, pattern: str) -> bool:
    """True when ``path`` is, or would be, one of the files of a glob source."""
    parts = Path(pattern).parts
    fixed = next((i for i, p in enumerate(parts) if any(c in p for c in _GLOB_CHARS)),
                 len(parts))
    base = _real(Path(*parts[:fixed])) if fixed else ""
    rest = os.path.normcase(os.path.join(*parts[fixed:])) if fixed < len(parts) else ""
    if not rest:
        return False
    if os.path.commonpath([path, base]) != base:
        return False
    # fnmatch's "*" also crosses "/": never looser than glob; "**/" may match no folder
    rel = os.path.relpath(path, base)
    return any(fnmatch.fnmatchcase(rel, p) for p in {rest, rest.replace("**" + os.sep, "")})


def _conflict(path: str, location: str) -> bool:
    """True when writing ``path`` (real) would touch the input at ``location``."""
    if any(c in location for c in _GLOB_CHARS):
        if _glob_match(path, location):
            return True
        return any(_same(path, _real(f))
                   for f in glob.glob(os.path.expanduser(location), recursive=True))
    real = _real(location)
    if os.path.isdir(real):
        if _inside(path, real):
            return True
        return any(_same(path, _real(os.path.join(root, name)))
                   for root, _dirs, names in os.walk(real, followlinks=True) for name in names)
    return _same(path, real)


def check_outputs(inputs: Iterable[tuple[str, str | Path]],
                  outputs: Iterable[tuple[str, str | Path | None]],
                  folders: Iterable[tuple[str, str | Path]] = ()) -> None:
    """Refuse outputs that would overwrite an input, each other, or a reserved folder.

    Call it before any work is done: a run that would destroy its own input
    stops with nothing written. Paths are compared after resolving symlinks,
    ``..`` and (where the filesystem folds it) case.

    Parameters
    ----------
    inputs : iterable of (str, path)
        What each input is (``"the project file"``, ``"the [lines] source"``)
        and its location: a file, a folder (every file below it, and anything
        written into it, counts) or a glob (every file it matches or would match).
    outputs : iterable of (str, path or None)
        The option that names each output (``"--scores"``) and its path;
        ``None`` entries (options not given) are skipped.
    folders : iterable of (str, path)
        Folders no output may be written into (the histories cache).

    Raises
    ------
    OutputError
        An output resolves to an input, into a reserved folder, or to another
        output; the message names both paths and what to do.
    """
    inputs = [(what, str(loc)) for what, loc in inputs if loc is not None]
    folders = [(what, _real(loc)) for what, loc in folders]
    seen: list[tuple[str, str, str]] = []
    for option, path in outputs:
        if path is None:
            continue
        real = _real(path)
        for what, location in inputs:
            if _conflict(real, location):
                raise OutputError(
                    f"{option} {str(path)!r} would overwrite {what} {location!r}, an input "
                    f"of this run. Write {option} somewhere else.")
        for what, folder in folders:
            if _inside(real, folder):
                raise OutputError(
                    f"{option} {str(path)!r} lies in {what} {folder!r}, which basketguard "
                    f"manages itself. Write {option} somewhere else.")
        for other, other_path, other_real in seen:
            if _same(real, other_real) or _inside(real, other_real) \
                    or _inside(other_real, real):
                raise OutputError(
                    f"{option} {str(path)!r} and {other} {other_path!r} are the same path: "
                    f"one output would replace the other. Give {option} and {other} "
                    "different paths.")
        seen.append((option, str(path), real))
