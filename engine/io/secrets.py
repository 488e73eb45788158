"""Keeping database credentials out of every message, report and log line.

A PostgreSQL ``source`` may carry a password (``postgresql://user:pw@host/db``
or ``?password=pw``), and libpq may take one from ``PGPASSWORD``. None of it
may reach the terminal, a report, an error or the cache key: every text that
names a database source goes through :func:`redact_uri`, and every message
that a driver wrote goes through :func:`scrub` with :func:`secrets_of`.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

#: What stands in for a removed secret.
MASK = "***"

_SECRET_PARAMS = ("password", "sslpassword")


def redact_uri(uri: str) -> str:
    """``uri`` with its password (in the user part or the query) replaced by ``***``.

    Parameters
    ----------
    uri : str
        A libpq connection URI.

    Returns
    -------
    str
        The same URI, safe to print. A URI that cannot be parsed is shown as
        its scheme only.
    """
    try:
        parts = urlsplit(uri)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            if ":" in user:
                user = user.split(":", 1)[0] + ":" + MASK
            netloc = f"{user}@{host}"
        query = parts.query
        if query:
            pairs = [(k, MASK if k in _SECRET_PARAMS else v)
                     for k, v in parse_qsl(query, keep_blank_values=True)]
            query = urlencode(pairs, safe="*/~:")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        scheme = uri.split(":", 1)[0] if ":" in uri else "postgresql"
        return f"{scheme}://{MASK}"


def secrets_of(uri: str) -> list[str]:
    """Every secret that a message about ``uri`` could carry, longest first.

    The password of the URI (as written and percent-decoded), a ``password``
    query parameter, and ``PGPASSWORD``.
    """
    found: list[str] = []
    try:
        parts = urlsplit(uri)
        if "@" in parts.netloc:
            user = parts.netloc.rsplit("@", 1)[0]
            if ":" in user:
                raw = user.split(":", 1)[1]
                found += [raw, unquote(raw)]
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _SECRET_PARAMS:
                found += [value, quote(value, safe="")]
    except ValueError:
        pass
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
