"""The one TOML reader, and the hints every configuration error shares.

Project files, signature files, policies and generalization hierarchies are
all read here, so a bad file gives the same kind of message everywhere: the
file, what is wrong, and what to do. This module imports nothing of the
engine but its errors, so that the detector models may use it too.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from basketguard.engine.errors import ConfigError


def closest_match(word: str, options: Iterable[str], cutoff: float = 0.5) -> str | None:
    """The option most like ``word`` (difflib ratio >= ``cutoff``), or None."""
    match = difflib.get_close_matches(word, list(options), n=1, cutoff=cutoff)
    return match[0] if match else None


def did_you_mean(word: str, options: Iterable[str], cutoff: float = 0.5) -> str:
    """``" Did you mean 'x'?"`` for the closest option, or an empty string."""
    match = closest_match(word, options, cutoff)
    return f" Did you mean {match!r}?" if match else ""


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], where: str,
               origin: str) -> None:
    """Raise :class:`ConfigError` for the first key of ``table`` not in ``allowed``.

    Parameters
    ----------
    table : mapping
        A TOML table.
    allowed : iterable of str
        Its known keys.
    where : str
        Dotted prefix of the table in the file (``"lines."``, ``""`` at the top).
    origin : str
        The file (or other source) named in the message.
    """
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise ConfigError(
                f"{origin}: unknown key {where}{key!r}.{did_you_mean(key, allowed)} "
                f"Allowed keys here: {', '.join(sorted(allowed))}."
            )


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """Read a TOML file into a dict.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str
        What the file is, for messages (``"project file"``, ``"signature file"``).

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        The file cannot be read, is not UTF-8 text or is not valid TOML; the
        message names the file.
    """
    p = Path(path).expanduser()
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: cannot read {what}: the file does not exist.") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read {what}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file; a {what} is TOML text.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}. Fix the file's syntax.") from None
