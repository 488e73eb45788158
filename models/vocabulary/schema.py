"""Product concepts: the vocabulary signatures are written in, defined once.

A concept is a kind of product that gives something away (a pregnancy test,
infant formula, nicotine gum, a kosher food, beer). Signatures name concepts
instead of repeating patterns (``concepts = ["pregnancy_test"]`` in a
feature); a catalog is resolved to concepts once
(:mod:`basketguard.engine.detect.concepts`). Concept files are TOML, one array
of tables per file::

    [[concept]]
    name = "pregnancy_test"                 # unique; [a-z][a-z0-9_]*
    title = "Home pregnancy test"
    definition = "A home test kit for pregnancy (hCG). Not ovulation tests, teas or vitamins."
    names = ['\\bpregnancy tests?\\b']       # RE2, case-insensitive, on the item's name text
    exclude = ['\\btea\\b']                  # on the name and every taxonomy value: never a member
    exclude_names = ['\\bbook\\b']           # on the name text only
    exclude_levels = ['\\bpets?\\b']          # on the taxonomy values only
    levels = ["Pregnancy Tests"]            # taxonomy values, at any level, that mean this concept
    level_patterns = ['\\bpregnancy tests?\\b']  # or RE2 patterns on the taxonomy values
    context = ['\\bbaby\\b']                 # RE2 on taxonomy values ...
    context_names = ['\\bwipes?\\b']          # ... and on the name text: members when both match
    includes = ["ovulation_test"]           # members of these concepts are members too
    must_match = ["Clearblue Digital Pregnancy Test", " | DRUG GM | PREGNANCY TESTS"]
    must_not_match = ["Pregnancy Tea | beverages | tea"]

``must_match`` and ``must_not_match`` are real or typical catalog entries that
document the concept and are checked by the test suite: ``"name"`` or
``"name | level | level ..."`` with the levels from the most general to the
most specific, and an empty name for catalogs without item names.

The matching rule (exactly; :mod:`basketguard.engine.detect.concepts`
implements it):

- An item's *name text* is its name (the catalog's name columns joined by
  spaces); when it has none, its most specific non-empty taxonomy value.
- An item is a *direct* member of concept C when a ``names`` pattern matches
  its name text; or one of its taxonomy values equals a ``levels`` value
  (compared case-insensitively with every run of characters other than letters
  and digits read as one space) or matches a ``level_patterns`` pattern,
  whatever the level is called; or a ``context_names`` pattern matches its name
  text while a ``context`` pattern matches one of its taxonomy values (a word
  that means the concept only in the right aisle: "wipes" among baby products).
- Members of C are its direct members and the members of every concept it
  ``includes``, minus the items where an ``exclude`` pattern of C matches the
  name or any taxonomy value, an ``exclude_names`` pattern matches the name
  text, or an ``exclude_levels`` pattern matches a taxonomy value: exclusions
  always apply.
- Reviewed overrides (a CSV named in the project file) then add or remove
  items, line by line in file order, a later line winning.

Every mistake raises :class:`~basketguard.engine.errors.ConfigError` naming the
file and the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from basketguard.engine.config.toml import did_you_mean, read_toml
from basketguard.engine.errors import ConfigError
from basketguard.models.detector import NAME_PATTERN
from basketguard.models.tomlfields import Reader, patterns, toml_files

#: Folder of the built-in concept files.
BUILTIN_DIR = Path(__file__).resolve().parent / "concepts"

_KEYS = ("name", "title", "definition", "names", "exclude", "exclude_names", "exclude_levels",
         "levels",
         "level_patterns",
         "context", "context_names", "includes", "must_match", "must_not_match")


def normalize_value(value: str) -> str:
    """A taxonomy value as compared with ``levels``: lower case, non-alphanumeric runs
    read as one space, trimmed (``"Beer & Cider"`` -> ``"beer cider"``)."""
    out = []
    space = False
    for ch in value.lower():
        if ch.isalnum():
            if space and out:
                out.append(" ")
            out.append(ch)
            space = False
        else:
            space = True
    return "".join(out)


@dataclass(frozen=True)
class Concept:
    """One product concept (see the module docstring)."""

    name: str
    title: str
    definition: str = ""
    names: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    includes: tuple[str, ...] = ()
    level_patterns: tuple[str, ...] = ()
    exclude_names: tuple[str, ...] = ()
    exclude_levels: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    context_names: tuple[str, ...] = ()
    must_match: tuple[str, ...] = ()
    must_not_match: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def origin(self) -> str:
        return f"{self.path or '<concepts>'}: concept {self.name!r}"


@dataclass(frozen=True)
class Vocabulary:
    """A validated set of concepts.

    Attributes
    ----------
    concepts : tuple of Concept
        In a fixed order (sorted by name); ``includes`` form no cycle.
    digest : str
        SHA-256 of the concept definitions (keys of the resolution cache).
    """

    concepts: tuple[Concept, ...]
    digest: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.concepts})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.concepts)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name  # type: ignore[attr-defined]

    def __getitem__(self, name: str) -> Concept:
        try:
            return self._by_name[name]  # type: ignore[attr-defined]
        except KeyError:
            raise ConfigError(f"unknown concept {name!r}.{did_you_mean(name, self.names)} "
                              "`basketguard catalog concepts` lists them.") from None

    def index(self, name: str) -> int:
        return self.names.index(self[name].name)

    def closure(self, name: str) -> tuple[str, ...]:
        """``name`` and every concept it includes, directly or not (sorted)."""
        seen: set[str] = set()
        todo = [name]
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(self[n].includes)
        return tuple(sorted(seen))


def concept_from_dict(data: Mapping[str, Any], origin: str, index: int,
                      path: Path | None = None, check_patterns: bool = True) -> Concept:
    """Validate one ``[[concept]]`` table (``check_patterns=False``: every key but the
    patterns' syntax, for the built-in files the test suite compiles)."""
    r = Reader(origin, data, f"concept[{index}].", _KEYS)
    name = r.text("name", required=True)
    if not NAME_PATTERN.match(name):
        r.fail("name", f"must be lower-case letters, digits and '_', not {name!r}")
    r.where = f"concept {name!r} "
    names = patterns(r, "names", check_patterns)
    levels = r.strings("levels")
    includes = r.strings("includes")
    level_patterns = patterns(r, "level_patterns", check_patterns)
    context = patterns(r, "context", check_patterns)
    context_names = patterns(r, "context_names", check_patterns)
    if bool(context) != bool(context_names):
        r.fail("context" if context_names else "context_names",
               "is missing: context and context_names work together (a name pattern that "
               "counts only where a taxonomy value matches a context pattern)")
    if not (names or levels or includes or level_patterns or context):
        r.fail("", "matches nothing: give names, levels, level_patterns, context or includes")
    for i, v in enumerate(levels):
        if not normalize_value(v):
            r.fail(f"levels[{i}]", f"has no letters or digits: {v!r}")
    return Concept(name=name, title=r.text("title", name) or name,
                   definition=r.text("definition", "") or "", names=names,
                   exclude=patterns(r, "exclude", check_patterns), levels=tuple(v.strip() for v in levels),
                   includes=includes, level_patterns=level_patterns,
                   exclude_names=patterns(r, "exclude_names", check_patterns),
                   exclude_levels=patterns(r, "exclude_levels", check_patterns), context=context,
                   context_names=context_names, must_match=r.strings("must_match"),
                   must_not_match=r.strings("must_not_match"), path=path)


def concept_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to their ``*.toml`` files (sorted); files are kept as given."""
    return toml_files(paths, "concept")


def _check_includes(by_name: dict[str, Concept]) -> None:
    for c in by_name.values():
        for i, inc in enumerate(c.includes):
            if inc not in by_name:
                raise ConfigError(f"{c.origin} includes[{i}]: unknown concept {inc!r}."
                                  f"{did_you_mean(inc, by_name)}")
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(n: str, trail: list[str]) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            cycle = " -> ".join(trail[trail.index(n):] + [n])
            raise ConfigError(f"{by_name[n].origin}: includes form a cycle ({cycle}); "
                              "a concept cannot include itself.")
        state[n] = 1
        for inc in by_name[n].includes:
            visit(inc, trail + [n])
        state[n] = 2

    for n in sorted(by_name):
        visit(n, [])


def load_vocabulary(paths: Iterable[str | Path] = (), *, builtin: bool = True,
                    check_builtin: bool = False) -> Vocabulary:
    """Load the built-in concepts and/or concept files.

    Parameters
    ----------
    paths : iterable of str or Path
        Concept files or folders of them; a concept with the name of a built-in
        one replaces it (two user files defining one name is an error).
    builtin : bool
        Include the built-in concepts (``models/vocabulary/concepts``).
    check_builtin : bool
        Also compile the built-in files' patterns (the test suite does; every
        user file's patterns are always compiled).

    Raises
    ------
    ConfigError
        An unreadable or invalid file (named, with the key), a duplicate name,
        an unknown or cyclic ``includes``.
    """
    by_name: dict[str, Concept] = {}
    origin_of: dict[str, Path] = {}
    h = hashlib.sha256()

    def read(p: Path, user: bool) -> None:
        data = read_toml(p, "concept file")
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
        r = Reader(str(p), data, "", ("concept",))
        raw = data.get("concept")
        if not isinstance(raw, list) or not raw:
            r.fail("concept", "is missing; give at least one [[concept]]")
        seen: dict[str, Path] = {}
        for i, table in enumerate(raw):
            c = concept_from_dict(table, str(p), i, p, check_patterns=user or check_builtin)
            if c.name in seen or (user and c.name in origin_of and origin_of[c.name] != p
                                  and origin_of[c.name].parent != BUILTIN_DIR):
                other = seen.get(c.name) or origin_of[c.name]
                raise ConfigError(f"{p}: concept {c.name!r} is also defined in {other}; "
                                  "concept names must be unique.")
            if not user and c.name in origin_of:
                raise ConfigError(f"{p}: built-in concept {c.name!r} is also defined in "
                                  f"{origin_of[c.name]}.")
            seen[c.name] = p
            by_name[c.name] = c
            origin_of[c.name] = p

    if builtin:
        for p in sorted(BUILTIN_DIR.glob("*.toml")):
            read(p, user=False)
    for p in concept_files(paths):
        read(p, user=True)
    if not by_name:
        raise ConfigError("no concepts: give concept files or keep the built-in vocabulary.")
    _check_includes(by_name)
    return Vocabulary(tuple(by_name[n] for n in sorted(by_name)), h.hexdigest())
