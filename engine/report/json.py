"""JSON rendering of result documents (what ``--json`` prints and ``--out`` writes)."""

from __future__ import annotations

import json
from typing import Any


def dumps(doc: Any) -> str:
    """The document as indented JSON text with a final newline (keys in result order)."""
    return json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n"
