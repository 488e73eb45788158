"""Typed access to TOML tables for the model files (signatures, concepts).

Every error names the file, the table and the key, and says what to do:
:class:`Reader` wraps one table; :func:`patterns` reads a list of regular
expressions that both Python and RE2 (the engine's Arrow matcher) accept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from basketguard.engine.config.toml import did_you_mean
from basketguard.engine.errors import ConfigError


class Reader:
    """Typed access to one TOML table with errors naming the file and key."""

    def __init__(self, origin: str, table: Mapping[str, Any], where: str, allowed) -> None:
        self.origin, self.table, self.where = origin, table, where
        if not isinstance(table, Mapping):
            self.fail("", f"must be a table, not {type(table).__name__}")
        for key in table:
            if key not in allowed:
                self.fail(key, f"is not a known key.{did_you_mean(key, allowed)} "
                               f"Allowed here: {', '.join(allowed)}")

    def fail(self, key: str, message: str):
        raise ConfigError(f"{self.origin}: {self.where}{key} {message}.")

    def has(self, key: str) -> bool:
        return key in self.table

    def text(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        if key not in self.table:
            if required:
                self.fail(key, "is missing; it is required")
            return default
        value = self.table[key]
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, not {value!r}")
        return value.strip()

    def number(self, key: str, default: float | None = None, *, required: bool = False,
               low: float | None = None, high: float | None = None, low_open: bool = False,
               high_open: bool = False) -> float | None:
        if key not in self.table:
            if required:
                self.fail(key, "is missing; it is required")
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self.fail(key, f"must be a finite number, not {value!r}")
        value = float(value)
        if low is not None and (value < low or (low_open and value == low)):
            self.fail(key, f"must be {'>' if low_open else '>='} {low:g}, not {value:g}")
        if high is not None and (value > high or (high_open and value == high)):
            self.fail(key, f"must be {'<' if high_open else '<='} {high:g}, not {value:g}")
        return value

    def integer(self, key: str, default: int | None = None, *, required: bool = False,
                low: int | None = None, high: int | None = None) -> int | None:
        if key not in self.table:
            if required:
                self.fail(key, "is missing; it is required")
            return default
        value = self.table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number of days, not {value!r}")
        if low is not None and value < low:
            self.fail(key, f"must be >= {low}, not {value}")
        if high is not None and value > high:
            self.fail(key, f"must be <= {high}, not {value}")
        return int(value)

    def strings(self, key: str) -> tuple[str, ...]:
        if key not in self.table:
            return ()
        value = self.table[key]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"must be a list of strings, not {value!r}")
        for i, v in enumerate(value):
            if not v.strip():
                self.fail(f"{key}[{i}]", "is empty; remove it or give a value")
        return tuple(value)


def patterns(r: Reader, key: str, check: bool = True) -> tuple[str, ...]:
    """Patterns that both Python and RE2 (the engine's matcher) accept.

    ``check=False`` reads them without compiling (files the test suite checks, such
    as the built-in concepts: compiling hundreds of patterns costs a start-up).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    pats = r.strings(key)
    if not check:
        return pats
    probe = pa.array([""], pa.string())
    for i, p in enumerate(pats):
        try:
            re.compile(p, re.IGNORECASE)
            pc.match_substring_regex(probe, p, ignore_case=True)
        except (re.error, pa.ArrowInvalid) as exc:
            r.fail(f"{key}[{i}]", f"is not a supported regular expression ({exc}); use RE2 "
                                  f"syntax (no look-arounds or back-references): {p!r}")
    return pats


def toml_files(paths: Iterable[str | Path], what: str) -> list[Path]:
    """Expand folders to their ``*.toml`` files (sorted); files are kept as given.

    Raises
    ------
    ConfigError
        A folder without TOML files, or a path that does not exist (``what``
        names the kind of file: "signature", "concept").
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw).expanduser()
        if p.is_dir():
            found = sorted(p.glob("*.toml"))
            if not found:
                raise ConfigError(f"{p}: folder holds no {what} files (*.toml).")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise ConfigError(f"{p}: no such {what} file or folder.")
    return out
