"""JSON rendering of result documents (what ``--json`` prints and ``--out`` writes).

Reports are strict JSON, always: a document holds only ``dict`` (string
keys, or integer keys, which JSON writes as their decimal text), ``list`` / ``tuple``, ``str``, ``int``, ``bool``, ``None`` and finite
``float``. A value that could not be measured is ``None`` (``null``), never
``NaN`` or ``Infinity``, which most JSON readers reject. Results produce such
documents (their ``to_dict`` / ``summary``); anything else reaching
:func:`dumps` is a bug in the result, reported as an
:class:`~basketguard.engine.errors.InternalError` that names where in the
document it sits, instead of being written or silently turned into text.

The text depends on the document alone (keys in result order, fixed
indentation, ASCII escapes), so the same document always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from typing import Any

from basketguard.engine.errors import InternalError

_SCALARS = (str, int, type(None))  # bool is an int


def check(doc: Any, where: str = "$") -> None:
    """Raise unless ``doc`` is a strict JSON document (see the module docstring).

    Parameters
    ----------
    doc : object
    where : str
        Path of ``doc`` in the report, for the message.

    Raises
    ------
    InternalError
        A NaN or infinite number, a key other than a string or an integer, or a
        value of another type;
        the message names its path (``$.signatures[2].score_threshold``).
    """
    if isinstance(doc, float):
        if not math.isfinite(doc):
            raise InternalError(f"report value {where} is {doc!r}: a result must give finite "
                                "numbers or None (JSON null) for what it could not measure")
    elif isinstance(doc, dict):
        for key, value in doc.items():
            if not isinstance(key, str) and type(key) is not int:
                raise InternalError(f"report key {key!r} in {where} is a "
                                    f"{type(key).__name__}, not a string")
            check(value, f"{where}.{key}")
    elif isinstance(doc, list | tuple):
        for i, value in enumerate(doc):
            check(value, f"{where}[{i}]")
    elif not isinstance(doc, _SCALARS):
        raise InternalError(f"report value {where} is a {type(doc).__name__} ({doc!r}), not a "
                            "JSON number, string, boolean, null, list or table")


def dumps(doc: Any) -> str:
    """The document as indented JSON text with a final newline (keys in result order).

    Raises
    ------
    InternalError
        ``doc`` is not a strict JSON document (see :func:`check`).
    """
    check(doc)
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False) + "\n"
