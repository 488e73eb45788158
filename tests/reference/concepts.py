"""Plain reference of the concept matching rule (models/vocabulary/schema.py), with
Python's ``re``, one item at a time: no Arrow, no first pass, no dictionaries."""

from __future__ import annotations

import re

from basketguard.models.vocabulary.schema import Vocabulary, normalize_value


def _any(patterns, text) -> bool:
    return text is not None and any(re.search(p, text, re.IGNORECASE) for p in patterns)


def name_text(name: str | None, levels: list[str | None]) -> str | None:
    """The name, else the most specific non-empty taxonomy value."""
    if name is not None and name.strip():
        return name
    for v in reversed(levels):
        if v is not None and v.strip():
            return v
    return None


def members(vocab: Vocabulary, name: str | None, levels: list[str | None]) -> set[str]:
    """The concepts one item belongs to (levels from the most general to the most specific)."""
    text = name_text(name, levels)
    values = [v for v in levels if v is not None]
    memo: dict[str, bool] = {}

    def member(c_name: str) -> bool:
        if c_name in memo:
            return memo[c_name]
        c = vocab[c_name]
        direct = (_any(c.names, text)
                  or any(normalize_value(v) in {normalize_value(h) for h in c.levels}
                         for v in values)
                  or any(_any(c.level_patterns, v) for v in values)
                  or (_any(c.context_names, text) and any(_any(c.context, v) for v in values)))
        got = direct or any(member(i) for i in c.includes)
        if got and (_any(c.exclude, name) or any(_any(c.exclude, v) for v in values)
                    or _any(c.exclude_names, text)
                    or any(_any(c.exclude_levels, v) for v in values)):
            got = False
        memo[c_name] = got
        return got

    return {c for c in vocab.names if member(c)}
