"""Options and helpers shared by the CLI verbs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from basketguard.engine.io.output import write_text_atomic


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Options of every verb that reads a project's data."""
    parser.add_argument("project", help="project file (TOML) mapping your sources")
    parser.add_argument("--strict", action="store_true",
                        help="any row failing validation is an error instead of being dropped")
    parser.add_argument("--no-cache", action="store_true",
                        help="rebuild histories from the source; do not read or write the cache")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="cache folder (default: $BASKETGUARD_CACHE or ~/.cache/basketguard)")


class Progress:
    """Rows-read progress on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.t0 = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        pct = f" {100 * done / total:5.1f}%" if total else ""
        self.stream.write(f"\r{self.label}: {done:,} rows{pct}  ({rate / 1e6:.1f}M rows/s)")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename.

    Raises
    ------
    OutputError
        The file cannot be written (the message names it); an existing file
        is left as it was.
    """
    write_text_atomic(path, text)


def load_with_progress(args: argparse.Namespace):
    """The project named by ``args.project`` and its histories (progress on a terminal)."""
    from basketguard.engine.api import load_histories
    from basketguard.engine.config.project import load_project

    project = load_project(args.project)
    progress = Progress("reading lines")
    try:
        hist = load_histories(project, strict=args.strict, use_cache=not args.no_cache,
                              cache_dir=args.cache_dir, progress=progress)
    finally:
        progress.close()
    return project, hist
