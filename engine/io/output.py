"""Atomic outputs: write to a temporary file beside the target, then rename.

A reader never sees a half-written report or scores file, and an existing
file is left as it was when writing fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
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
