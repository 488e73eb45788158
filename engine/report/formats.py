"""The report formats: a name, the renderer of a document in it, and its file suffix.

:data:`FORMATS` maps each format's name to a :class:`Format`:

| name | renders | suffix | reports |
|---|---|---|---|
| ``json`` | :func:`~basketguard.engine.report.json.dumps` | ``.json`` | every report |
| ``junit`` | :func:`~basketguard.engine.report.junit.render_junit` | ``.xml`` | gate |
| ``markdown`` | :func:`~basketguard.engine.report.markdown.render_markdown` | ``.md`` | gate |
| ``html`` | ``basketguard.engine.report.html.render_html`` | ``.html`` | gate, plan (it checks) |

Renderers are imported when a document is rendered, so the registry is usable
(and lists every format) before a renderer's module exists or while its
imports are heavy. :func:`parse_report_option` reads the ``--report`` option
of the commands that write reports: ``FORMAT:PATH``, or a bare path whose
suffix implies the format.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import PurePath
from typing import Any, NamedTuple

from basketguard.engine.errors import ConfigError


class ReportOptionError(ConfigError, ValueError):
    """A report format or ``--report`` option that names no known format."""


class Format(NamedTuple):
    """One report format: ``render, suffix = FORMATS[name]``.

    Attributes
    ----------
    render : callable
        ``render(doc) -> str``: the document's text in this format.
    suffix : str
        The file suffix a path in this format takes (``".xml"``).
    """

    render: Callable[[dict[str, Any]], str]
    suffix: str


def _lazy(module: str, function: str) -> Callable[[dict[str, Any]], str]:
    """A renderer that imports ``module.function`` when it is first called."""

    def render(doc: dict[str, Any]) -> str:
        return getattr(importlib.import_module(module), function)(doc)

    render.__name__ = function
    render.__qualname__ = function
    render.__doc__ = f"``{module}.{function}(doc)``, imported when called."
    return render


_REPORT = "basketguard.engine.report"

#: Format name -> :class:`Format`, in the order messages list them.
FORMATS: dict[str, Format] = {
    "json": Format(_lazy(f"{_REPORT}.json", "dumps"), ".json"),
    "junit": Format(_lazy(f"{_REPORT}.junit", "render_junit"), ".xml"),
    "markdown": Format(_lazy(f"{_REPORT}.markdown", "render_markdown"), ".md"),
    "html": Format(_lazy(f"{_REPORT}.html", "render_html"), ".html"),
}

#: Formats that render some report kinds only (a document's ``kind``); the others render all.
RENDERS_ONLY: dict[str, tuple[str, ...]] = {"junit": ("gate",), "markdown": ("gate",)}

#: File suffix (lower case) -> the format a bare ``--report PATH`` is written in.
SUFFIXES: dict[str, str] = {
    **{f.suffix: name for name, f in FORMATS.items()},
    ".markdown": "markdown", ".htm": "html",
}


def _known() -> str:
    return ", ".join(FORMATS)


def format_of(name: str) -> Format:
    """The :class:`Format` of a name (case-insensitive).

    Parameters
    ----------
    name : str
        A format name (:data:`FORMATS`).

    Returns
    -------
    Format

    Raises
    ------
    ReportOptionError
        No format has that name; the message lists the formats.
    """
    fmt = FORMATS.get(name.strip().lower())
    if fmt is None:
        raise ReportOptionError(f"unknown report format {name!r}; the formats are {_known()}.")
    return fmt


def render(fmt: str, doc: dict[str, Any]) -> str:
    """A document's text in a format.

    Parameters
    ----------
    fmt : str
        A format name (:data:`FORMATS`).
    doc : dict
        A report document.

    Returns
    -------
    str

    Raises
    ------
    ReportOptionError
        The format is unknown, or does not render this kind of report (JUnit and
        Markdown render gate reports).
    """
    spec = format_of(fmt)
    name = fmt.strip().lower()
    kind = doc.get("kind") if isinstance(doc, dict) else None
    only = RENDERS_ONLY.get(name)
    if only is not None and kind not in only:
        what = f"{kind!r} report" if kind else "report without a kind"
        raise ReportOptionError(f"the {name} format renders {' and '.join(only)} reports, "
                                f"not a {what}; write it as json instead.")
    return spec.render(doc)


def parse_report_option(text: str) -> tuple[str, str]:
    """The format and path of a ``--report`` option.

    Parameters
    ----------
    text : str
        ``FORMAT:PATH`` (``junit:reports/gate.xml``), or a bare ``PATH`` whose
        suffix implies the format: ``.json`` json, ``.xml`` junit, ``.md`` /
        ``.markdown`` markdown, ``.html`` / ``.htm`` html. A Windows drive
        (``C:\\reports\\gate.xml``) is a path, not a format.

    Returns
    -------
    (str, str)
        The format name (a key of :data:`FORMATS`) and the path, as given.

    Raises
    ------
    ReportOptionError
        An unknown format, an empty path, or a bare path whose suffix implies no
        format; the message lists the formats.
    """
    head, sep, rest = text.partition(":")
    names_a_format = (sep and len(head) > 1 and head.strip().isidentifier())
    if names_a_format:
        name = head.strip().lower()
        format_of(name)
        if not rest.strip():
            raise ReportOptionError(f"--report {text!r} names no file; give FORMAT:PATH "
                                    f"(FORMAT one of {_known()}).")
        return name, rest
    if not text.strip():
        raise ReportOptionError(f"--report needs a file; give FORMAT:PATH (FORMAT one of "
                                f"{_known()}) or a path ending in "
                                f"{', '.join(SUFFIXES)}.")
    suffix = PurePath(text).suffix.lower()
    name = SUFFIXES.get(suffix)
    if name is None:
        raise ReportOptionError(
            f"--report {text!r}: the suffix {suffix or '(none)'!s} implies no report format; "
            f"name one as FORMAT:PATH (FORMAT one of {_known()}) or end the path in "
            f"{', '.join(SUFFIXES)}.")
    return name, text
