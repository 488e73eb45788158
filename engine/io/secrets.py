"""Keeping database credentials out of every message, report and log line.

A PostgreSQL ``source`` may carry a password (``postgresql://user:pw@host/db``
or ``?password=pw``), and libpq may take one from ``PGPASSWORD``. None of it
may reach the terminal, a report, an error or the cache key: every text that
names a database source goes through :func:`redact_uri`, and every message
that a driver wrote goes through :func:`scrub` with :func:`secrets_of`.

The URI is split the way libpq reads it, not the way :mod:`urllib` does: a
password may hold ``#``, ``?`` or ``+`` unencoded (libpq takes them as they
are), and to be safe the user part runs up to the *last* ``@`` (so a ``/`` or
an ``@`` in a password, which libpq would misread, is still masked). Nothing
else of the URI is changed: what is shown is what was written, password
aside.
"""

from __future__ import annotations

import os
import re

#: What stands in for a removed secret.
MASK = "***"

_SECRET_PARAMS = ("password", "sslpassword")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")


def _split(uri: str) -> tuple[str, str | None, str | None, str, list[tuple[str, str | None]]]:
    """(scheme://, user, password, host and path, query pairs) of a libpq URI.

    ``user`` and ``password`` are None when absent; a query pair's value is
    None for a key without ``=``. The text is kept verbatim (not decoded).
    """
    m = _SCHEME.match(uri)
    head = m.group(0) if m else ""
    rest = uri[len(head):]
    user = password = None
    at = rest.rfind("@")
    if at >= 0:
        userspec, rest = rest[:at], rest[at + 1:]
        user, colon, pw = userspec.partition(":")
        password = pw if colon else None
    where, q, query = rest.partition("?")
    pairs: list[tuple[str, str | None]] = []
    if q:
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            pairs.append((key, value if eq else None))
    return head, user, password, where + ("?" if q else ""), pairs


def redact_uri(uri: str) -> str:
    """``uri`` with its password (in the user part or the query) replaced by ``***``.

    Parameters
    ----------
    uri : str
        A libpq connection URI.

    Returns
    -------
    str
        The same text, character for character, but for the passwords.
    """
    head, user, password, where, pairs = _split(uri)
    out = head
    if user is not None:
        out += user + (":" + MASK if password is not None else "") + "@"
    out += where
    if pairs:
        out += "&".join(k if v is None else f"{k}={MASK if k in _SECRET_PARAMS else v}"
                        for k, v in pairs)
    return out


def _decoded(text: str) -> str:
    """libpq's percent-decoding (``%XX`` only; ``+`` stays a plus)."""
    try:
        return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), text).encode(
            "latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), text)


def secrets_of(uri: str) -> list[str]:
    """Every secret that a message about ``uri`` could carry, longest first.

    The password of the URI and every ``password`` query parameter (as written
    and percent-decoded), and ``PGPASSWORD``.
    """
    _, _, password, _, pairs = _split(uri)
    found = [password] if password else []
    found += [v for k, v in pairs if k in _SECRET_PARAMS and v]
    found += [_decoded(s) for s in found]
    env = os.environ.get("PGPASSWORD")
    if env:
        found.append(env)
    return sorted({s for s in found if s}, key=len, reverse=True)


def scrub(text: str, uri: str) -> str:
    """``text`` with ``uri`` shown redacted and every secret of it masked."""
    if uri:
        text = text.replace(uri, redact_uri(uri))
    for secret in secrets_of(uri):
        text = text.replace(secret, MASK)
    return text
