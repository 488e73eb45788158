"""A literal prefilter for the vocabulary's RE2 patterns, after RE2's FilteredRE2.

Running every name pattern over a whole catalog costs RE2's throughput once per
pattern. Most patterns cannot match without one of a few literal words, and a
catalog has far fewer distinct words than rows, so each pattern first reduces
to an AND/OR tree of required literals (:func:`requirement`), a
:class:`TokenIndex` of the catalog answers the tree with candidate rows, and
the pattern then runs on those rows only::

    index = TokenIndex(text)                  # once per catalog
    rows = index.rows_for_any(concept.names)  # None: every row
    sub = text if rows is None else text.take(pa.array(rows))

The candidates are always a superset of the rows that
``pc.match_substring_regex(text, pattern, ignore_case=True)`` matches.

Contract
--------
- Input: one Arrow string column (string, large_string, string_view,
  dictionary; chunked or sliced; nulls are never candidates), the same array
  the patterns then run on, in any case.
- *Tokens* are the maximal runs of ASCII letters and digits in a row's UTF-8
  bytes, lowered: ``"Crème Fraîche 2x"`` has ``cr``, ``me``, ``fra``, ``che``,
  ``2x``. Every other byte, so every non-ASCII character, ends a token. A
  required literal is a run of ASCII letters and digits of the pattern, cut the
  same way, of at least :data:`MIN_LENGTH` characters unless it starts a word.
- A literal may lie anywhere inside a token; a literal the pattern puts right
  after ``\\b``, ``^``, a space or any other character that cannot be a token
  character (*word_start*) must start one, which is a range of the sorted
  distinct tokens.
- Why that is sound: under RE2's case folding an ASCII letter or digit matches
  only itself, its other case, U+212A KELVIN SIGN (for ``k``) and U+017F LONG S
  (for ``s``) (:data:`WILD_CHARS`). Rows holding one of those two are
  candidates for every pattern. In every other row, what a literal run of the
  pattern matches is a run of token characters, and what a separator of the
  pattern matches is not a token character; a ``\\b`` before a letter or digit
  means that the character before is not one of ``[0-9A-Za-z_]``, so not a
  token character.
- Patterns are read with Python's parser (:mod:`re._parser`), which agrees
  with RE2 on the syntax both accept except ``{,n}`` (a repeat for Python,
  text for RE2) and POSIX classes (``[[:alpha:]]``): a pattern holding ``{,``
  or ``[:`` gets no requirement, nor does one that Python cannot parse.

On 100,000 product names the index builds in about 60 ms and answers the 308
name patterns of the built-in vocabulary in about 50 ms (plus about 130 ms,
once per process, to analyse them); the patterns then run on 1.4 % of the
rows per concept on average.
"""

from __future__ import annotations

import bisect
import functools
import re
import re._constants as sre
import re._parser as sre_parse
import string
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.errors import InternalError
from basketguard.engine.io.columns import as_array

#: Literals shorter than this are too common to filter with (FilteredRE2's min_atom_len),
#: unless at a word start and nothing longer is required.
MIN_LENGTH = 3

#: Characters outside ASCII that RE2's case folding matches with an ASCII letter:
#: KELVIN SIGN with ``k``, LONG S with ``s``. Rows holding one are always candidates.
WILD_CHARS = ("\u212a", "\u017f")

_TOKEN_CHARS = frozenset(string.ascii_letters + string.digits)
_TOKEN_CAPABLE = tuple(sorted(ord(c) for c in _TOKEN_CHARS | set(WILD_CHARS)))
#: In exact strings: a position the next token character cannot extend a token into.
_SEP = "\x00"
#: Exact string sets larger than this become OR trees (FilteredRE2's limit).
_EXACT_LIMIT = 16
#: Character classes of more members are not expanded (FilteredRE2's limit), except at
#: a word start, where each member is one cheap prefix lookup (a \b\d).
_CLASS_LIMIT = 4
_WORD_START_CLASS_LIMIT = 10
#: Ranges up to this width are read member by member.
_RANGE_SCAN = 256
#: Syntax that Python's parser reads otherwise than RE2 (see the module docstring).
_DIVERGENT = re.compile(r"\{,|\[:")
_WORD_START_AT = (sre.AT_BEGINNING, sre.AT_BEGINNING_STRING, sre.AT_BOUNDARY)
#: RE2's ``\s`` is ASCII white space and its ``\W`` excludes ``[0-9A-Za-z_]``.
_SEP_CATEGORIES = (sre.CATEGORY_SPACE, sre.CATEGORY_NOT_WORD)
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)


class Atom(NamedTuple):
    """A required literal: lowercase ASCII letters and digits, at a token's start or anywhere."""

    text: str
    word_start: bool


@dataclass(frozen=True)
class AllOf:
    """Every part is required; ``weight``: the longest literal it comes down to."""

    parts: tuple[Requirement, ...]
    weight: int


@dataclass(frozen=True)
class AnyOf:
    """One of the parts is required; ``weight``: the shortest literal it comes down to."""

    parts: tuple[Requirement, ...]
    weight: int


Requirement = Atom | AllOf | AnyOf


# --------------------------------------------------------------------------- patterns


class _Info(NamedTuple):
    """What one node of a parsed pattern requires.

    ``exact``: the set of strings the node matches (token characters and
    ``_SEP``), when small, else None; then ``match`` is its requirement (None:
    nothing). ``ends``: True when every match ends with a separator, False when
    not known, None when the node is transparent (the state before it holds after).
    """

    exact: frozenset[str] | None
    match: Requirement | None
    ends: bool | None


_BREAK = _Info(None, None, False)
_SEPARATOR = _Info(frozenset({_SEP}), None, True)
_EMPTY = _Info(frozenset({""}), None, None)
_ZERO_WIDTH = _Info(frozenset({""}), None, False)


def _implies(a: Atom, b: Atom) -> bool:
    """Whether a text holding ``a`` always holds ``b``."""
    if b.word_start:
        return a.word_start and a.text.startswith(b.text)
    return b.text in a.text


def _weight(req: Requirement) -> int:
    """The length of the literal a requirement comes down to: a rough selectivity."""
    if isinstance(req, Atom):
        return len(req.text)
    return req.weight


def _flat(parts: Iterable[Requirement], kind: type) -> tuple[dict, dict]:
    atoms: dict[Atom, None] = {}
    others: dict[Requirement, None] = {}
    for p in parts:
        for q in p.parts if isinstance(p, kind) else (p,):
            (atoms if isinstance(q, Atom) else others)[q] = None
    return atoms, others


def _all(parts: Iterable[Requirement | None]) -> Requirement | None:
    """AND, without the parts another part implies, and without weak parts when
    there are strong ones (weight below MIN_LENGTH); None parts require nothing."""
    atoms, others = _flat((p for p in parts if p is not None), AllOf)
    kept: list[Requirement] = []
    for a in sorted(atoms, key=lambda a: (-len(a.text), not a.word_start)):  # strongest first
        if not any(_implies(k, a) for k in kept):
            kept.append(a)
    kept += [o for o in others if not any(  # an OR of which a kept atom implies a part
        _implies(k, q) for q in o.parts if isinstance(q, Atom) for k in kept)]
    kept = [k for k in kept if _weight(k) >= MIN_LENGTH] or kept
    if len(kept) < 2:
        return kept[0] if kept else None
    return AllOf(tuple(kept), max(_weight(k) for k in kept))


def _any(parts: Iterable[Requirement | None]) -> Requirement | None:
    """OR, without the parts that imply another part; None when a part is None."""
    parts = list(parts)
    if not parts or any(p is None for p in parts):
        return None
    atoms, others = _flat(parts, AnyOf)
    inside: list[str] = []  # kept literals found anywhere, shortest first
    for t in sorted({a.text for a in atoms if not a.word_start}, key=len):
        if not any(k in t for k in inside):
            inside.append(t)
    starts: list[str] = []  # kept word starts; sorted, a word start's extensions follow it
    for t in sorted({a.text for a in atoms if a.word_start}):
        if not (starts and t.startswith(starts[-1])) and not any(k in t for k in inside):
            starts.append(t)
    kept_starts = set(starts)

    def implies_kept(q: Requirement) -> bool:
        return isinstance(q, Atom) and (any(k in q.text for k in inside) or q.word_start and any(
            q.text[:n] in kept_starts for n in range(1, len(q.text) + 1)))

    kept: list[Requirement] = [Atom(t, False) for t in inside] + [Atom(t, True) for t in starts]
    kept += [o for o in others if not any(implies_kept(q) for q in o.parts)]
    if len(kept) < 2:
        return kept[0]
    return AnyOf(tuple(kept), min(_weight(k) for k in kept))


def _exact_requirement(strings: frozenset[str]) -> Requirement | None:
    """One of the strings, each as the AND of its runs of at least MIN_LENGTH, or else
    of its shorter runs at a word start (a prefix lookup is selective even when short)."""
    alternatives: list[Requirement | None] = []
    for s in sorted(strings):  # sorted: the same tree in every process
        runs = [Atom(run, i > 0) for i, run in enumerate(s.split(_SEP)) if run]
        usable = [a for a in runs if len(a.text) >= MIN_LENGTH] or \
            [a for a in runs if a.word_start]
        if not usable:
            return None
        alternatives.append(usable[0] if len(usable) == 1 else _all(usable))
    return alternatives[0] if len(alternatives) == 1 else _any(alternatives)


def _requirement_of(info: _Info) -> Requirement | None:
    return info.match if info.exact is None else _exact_requirement(info.exact)


def _join(a: str, b: str) -> str:
    return a + b[1:] if a.endswith(_SEP) and b.startswith(_SEP) else a + b


def _symbol(code: int) -> str | None:
    """A character as a token character (lowered), _SEP, or None (may match either)."""
    ch = chr(code)
    if ch in _TOKEN_CHARS:
        return ch.lower()
    return None if ch in WILD_CHARS else _SEP


def _chars(symbols: set[str | None], before: bool) -> _Info:
    if None in symbols:
        return _BREAK
    tokens = symbols - {_SEP}
    if not tokens:
        return _SEPARATOR
    if len(symbols) > (_WORD_START_CLASS_LIMIT if before else _CLASS_LIMIT):
        return _BREAK
    lead = _SEP if before else ""
    exact = {lead + t for t in tokens} | (symbols & {_SEP})
    return _Info(frozenset(exact), None, False)


def _class(members, before: bool) -> _Info:
    symbols: set[str | None] = set()
    for op, av in members:
        if op is sre.LITERAL:
            symbols.add(_symbol(av))
        elif op is sre.RANGE:
            lo, hi = av
            if hi - lo < _RANGE_SCAN:
                symbols.update(_symbol(c) for c in range(lo, hi + 1))
            else:
                symbols.add(None if any(lo <= c <= hi for c in _TOKEN_CAPABLE) else _SEP)
        elif op is sre.CATEGORY and av is sre.CATEGORY_DIGIT:  # RE2's \d is [0-9]
            symbols.update(string.digits)
        elif op is sre.CATEGORY:
            symbols.add(_SEP if av in _SEP_CATEGORIES else None)
        else:  # NEGATE, and anything new
            return _BREAK
    return _chars(symbols, before)


def _ends_of_choice(ends: Iterable[bool | None]) -> bool | None:
    ends = list(ends)
    if False in ends:
        return False
    return True if all(e is True for e in ends) else None


def _branch(branches, before: bool) -> _Info:
    infos = [_sequence(b, before) for b in branches]
    ends = _ends_of_choice(i.ends for i in infos)
    if all(i.exact is not None for i in infos):
        exact = frozenset().union(*(i.exact for i in infos))
        if len(exact) <= _EXACT_LIMIT:
            return _Info(exact, None, ends)
    return _Info(None, _any(_requirement_of(i) for i in infos), ends)


def _repeat(lo: int, hi: int, item, before: bool) -> _Info:
    if hi == 0:
        return _EMPTY
    info = _sequence(item, before)
    if lo == 0:
        ends = _ends_of_choice([info.ends, None])
        if hi == 1 and info.exact is not None:
            return _Info(info.exact | {""}, None, ends)
        return _Info(None, None, ends)
    if lo == hi == 1:
        return info
    # the first repetition comes right after what precedes the repeat
    return _Info(None, _requirement_of(info), info.ends)


def _node(op, av, before: bool) -> _Info:
    if op is sre.LITERAL:
        return _chars({_symbol(av)}, before)
    if op is sre.IN:
        return _class(av, before)
    if op is sre.AT:
        return _SEPARATOR if av in _WORD_START_AT else _ZERO_WIDTH
    if op is sre.CATEGORY:
        return _class([(op, av)], before)
    if op is sre.SUBPATTERN:
        return _sequence(av[-1], before)
    if op is sre.BRANCH:
        return _branch(av[1], before)
    if op in _REPEATS:
        return _repeat(av[0], av[1], av[2], before)
    return _BREAK  # ANY, NOT_LITERAL, group references, look-arounds, ...


def _sequence(items, before: bool) -> _Info:
    """Concatenation: exact sets multiply while small, else the parts are ANDed."""
    state, ends = before, None
    acc: frozenset[str] = frozenset({""})
    tail = ""  # literal characters to append to every string of acc (the common case)
    parts: list[Requirement | None] = []
    whole = True
    for op, av in getattr(items, "data", items):  # a SubPattern iterates slowly
        sym = _symbol(av) if op is sre.LITERAL else None
        if sym == _SEP:
            tail += "" if tail.endswith(_SEP) else _SEP
            state = ends = True
            continue
        if sym is not None:
            tail += _SEP + sym if state and not tail.endswith(_SEP) else sym
            state = ends = False
            continue
        if tail:
            acc, tail = frozenset(_join(a, tail) for a in acc), ""
        info = _node(op, av, state)
        if info.ends is not None:
            state = ends = info.ends
        if info.exact is not None and len(acc) * len(info.exact) <= _EXACT_LIMIT:
            acc = frozenset(_join(a, b) for a in acc for b in info.exact)
            continue
        whole = False
        parts.append(_exact_requirement(acc))
        if info.exact is not None:
            acc = info.exact
        else:
            parts.append(info.match)
            acc = frozenset({""})
    if tail:
        acc = frozenset(_join(a, tail) for a in acc)
    if whole:
        return _Info(acc, None, ends)
    parts.append(_exact_requirement(acc))
    return _Info(None, _all(parts), ends)


#: Requirements known in this process (computed, or read back by :func:`load_requirements`).
_KNOWN: dict[str, Requirement | None] = {}


def requirement(pattern: str) -> Requirement | None:
    """:func:`analyse` through the process's cache of analysed patterns."""
    try:
        return _KNOWN[pattern]
    except KeyError:
        got = _KNOWN[pattern] = analyse(pattern)
        return got


def _encode(req: Requirement | None):
    if req is None:
        return None
    if isinstance(req, Atom):
        return ["atom", req.text, req.word_start]
    return ["all" if isinstance(req, AllOf) else "any", req.weight,
            [_encode(p) for p in req.parts]]


def _decode(doc) -> Requirement | None:
    if doc is None:
        return None
    kind = doc[0]
    if kind == "atom":
        return Atom(str(doc[1]), bool(doc[2]))
    parts = tuple(_decode(p) for p in doc[2])
    return (AllOf if kind == "all" else AnyOf)(parts, int(doc[1]))


def save_requirements(path, patterns: Iterable[str]) -> None:
    """Write the analysed requirements of ``patterns`` as JSON (temp file, then rename)."""
    import json
    import os
    import tempfile
    from pathlib import Path

    target = Path(path)
    doc = {"format": 1, "patterns": {p: _encode(requirement(p)) for p in patterns}}
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, target)


def load_requirements(path) -> bool:
    """Read requirements written by :func:`save_requirements` into the process's cache.

    Returns False (and changes nothing) when the file is missing or not what
    :func:`save_requirements` writes.
    """
    import json

    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("format") != 1:
            return False
        got = {str(p): _decode(v) for p, v in doc["patterns"].items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return False
    for p, v in got.items():
        _KNOWN.setdefault(p, v)
    return True


@functools.lru_cache(maxsize=4096)
def analyse(pattern: str) -> Requirement | None:
    """The literals any case-insensitive RE2 match of ``pattern`` must contain.

    Parameters
    ----------
    pattern : str
        An RE2 pattern (the vocabulary's syntax), matched case-insensitively.

    Returns
    -------
    Atom, AllOf, AnyOf or None
        A tree every match satisfies: each :class:`Atom` is a lowercase run of
        ASCII letters and digits that the matched text contains (at a token's
        start when ``word_start``), under RE2's case folding. None when the
        pattern requires no literal (``\\d+ct``, or a branch without one).
    """
    if _DIVERGENT.search(pattern):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set" and the like
            tree = sre_parse.parse(pattern)
        if tree.state.flags & re.VERBOSE:
            return None
        return _requirement_of(_sequence(tree, False))
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def _clause(req: Requirement | None) -> list[Atom] | None:
    """The best single OR of atoms the tree implies (longest shortest atom)."""
    if req is None:
        return None
    if isinstance(req, Atom):
        return [req]
    if isinstance(req, AnyOf):
        out: list[Atom] = []
        for p in req.parts:
            c = _clause(p)
            if c is None:
                return None
            out.extend(a for a in c if a not in out)
        return out
    best, best_score = None, None
    for p in req.parts:
        c = _clause(p)
        if c is not None:
            score = (min(len(a.text) for a in c), -len(c))
            if best_score is None or score > best_score:
                best, best_score = c, score
    return best


def required_atoms(pattern: str) -> list[Atom] | None:
    """Literals of which every match of ``pattern`` contains one, with their word starts.

    Parameters
    ----------
    pattern : str
        An RE2 pattern, matched case-insensitively.

    Returns
    -------
    list of Atom or None
        One OR clause of :func:`requirement` (the one whose shortest literal is
        longest); ``word_start`` marks a literal the pattern puts after ``\\b``,
        ``^`` or a separator. None when no literal is required.
    """
    return _clause(requirement(pattern))


def required_literals(pattern: str) -> list[str] | None:
    """Lowercase literals of which every case-insensitive match of ``pattern`` contains one.

    Parameters
    ----------
    pattern : str
        An RE2 pattern, matched case-insensitively.

    Returns
    -------
    list of str or None
        The texts of :func:`required_atoms`; None when no such set exists.
    """
    atoms = required_atoms(pattern)
    return None if atoms is None else [a.text for a in atoms]


# --------------------------------------------------------------------------- the index

_EMPTY_ROWS = np.zeros(0, np.int64)
_EMPTY_ROWS.setflags(write=False)


def _utf8(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of a string array and its row offsets into them (from 0)."""
    n = len(arr)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    _, off_buf, data_buf = arr.buffers()
    if off_buf is None or n == 0:
        return np.zeros(0, np.uint8), np.zeros(n + 1, np.int64)
    offsets = np.frombuffer(off_buf, width)[arr.offset:arr.offset + n + 1].astype(np.int64)
    data = (np.frombuffer(data_buf, np.uint8) if data_buf is not None
            else np.zeros(0, np.uint8))[offsets[0]:offsets[-1]]
    return data, offsets - offsets[0]


def _dedupe(sorted_rows: np.ndarray) -> np.ndarray:
    if sorted_rows.size < 2:
        return sorted_rows
    keep = np.empty(sorted_rows.size, bool)
    keep[0] = True
    np.not_equal(sorted_rows[1:], sorted_rows[:-1], out=keep[1:])
    return sorted_rows[keep]


def _union(parts: list[np.ndarray], n_rows: int) -> np.ndarray:
    """Sorted distinct rows of any of the sorted arrays."""
    parts = [p for p in parts if p.size]
    if len(parts) < 2:
        return parts[0] if parts else _EMPTY_ROWS
    total = sum(p.size for p in parts)
    if total * 16 < n_rows:
        return _dedupe(np.sort(np.concatenate(parts)))
    mask = np.zeros(n_rows, bool)
    for p in parts:
        mask[p] = True
    return np.flatnonzero(mask)


def _intersect(small: np.ndarray, large: np.ndarray) -> np.ndarray:
    """Rows of both sorted distinct arrays."""
    if not small.size or not large.size:
        return _EMPTY_ROWS
    at = np.minimum(np.searchsorted(large, small), large.size - 1)
    return small[large[at] == small]


def _tokens(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Array, np.ndarray]:
    """The bytes and row offsets of ``arr`` (nulls empty, every row ended by a space, so
    that no token runs on into the next row), its tokens (lowered) and each token's row."""
    space, empty = pa.scalar(" ", arr.type), pa.scalar("", arr.type)
    spaced = pc.binary_join_element_wise(pc.fill_null(arr, empty), space, empty)
    data, offsets = _utf8(spaced)
    folded = data | 0x20  # ASCII upper to lower; digits and other bytes stay out of a-z
    is_tok = np.zeros(data.size + 2, bool)
    np.logical_or((folded - 97) < 26, (data - 48) < 10, out=is_tok[1:-1])
    change = np.flatnonzero(is_tok[1:] != is_tok[:-1])
    starts = change[0::2]
    # the bytes cut at every token's start and end: the tokens are the odd pieces
    cuts = np.empty(change.size + 2, np.int64)
    cuts[0], cuts[-1] = 0, data.size
    cuts[1:-1] = change
    pieces = pa.LargeStringArray.from_buffers(
        cuts.size - 1, pa.py_buffer(cuts), pa.py_buffer(folded))
    tokens = pieces.take(pa.array(np.arange(1, cuts.size - 1, 2)))
    row = np.repeat(np.arange(offsets.size - 1, dtype=np.int64),
                    np.diff(np.searchsorted(starts, offsets)))
    return data, offsets, tokens, row


class TokenIndex:
    """The rows of a text column by the tokens they hold (see the module docstring).

    Parameters
    ----------
    text : pyarrow string array or chunked array
        The texts the patterns are matched against (any case; nulls, slices,
        chunks, dictionary and large strings allowed). Build the index from the
        same array the patterns then run on.

    Attributes
    ----------
    n_rows : int
    tokens : pyarrow.LargeStringArray
        The distinct tokens, sorted.
    indptr, postings : numpy.ndarray of int64
        Token ``t`` is in rows ``postings[indptr[t]:indptr[t + 1]]``, ascending.
    wild_rows : numpy.ndarray of int64
        Rows holding a :data:`WILD_CHARS` character: candidates for every pattern.
    """

    def __init__(self, text: pa.Array | pa.ChunkedArray) -> None:
        arr = as_array(text)
        if pa.types.is_string_view(arr.type):
            arr = arr.cast(pa.large_string())
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            raise InternalError(f"TokenIndex needs a string array, got {arr.type}")
        self.n_rows = n = len(arr)
        data, offsets, tokens, row = _tokens(arr)
        encoded = pc.dictionary_encode(tokens)
        order = np.asarray(pc.array_sort_indices(encoded.dictionary), np.int64)
        rank = np.empty(order.size, np.int64)
        rank[order] = np.arange(order.size)
        key = rank[np.asarray(encoded.indices, np.int64)] * max(n, 1) + row
        token_id, rows = np.divmod(_dedupe(np.sort(key)), max(n, 1))
        self.tokens = encoded.dictionary.take(pa.array(order))
        self.indptr = np.zeros(order.size + 1, np.int64)
        np.cumsum(np.bincount(token_id, minlength=order.size), out=self.indptr[1:])
        self.postings = rows
        self.postings.setflags(write=False)  # the candidate arrays handed out are views
        self.wild_rows = _rows_holding(data, offsets, WILD_CHARS)
        self._sorted: list[str] = self.tokens.to_pylist()  # bisect beats numpy on str
        self._atoms: dict[Atom, np.ndarray] = {}
        self._patterns: dict[str, np.ndarray | None] = {}

    def atom_rows(self, atom: Atom) -> np.ndarray:
        """Sorted rows with a token that holds ``atom`` (starts with it, if ``word_start``).

        Parameters
        ----------
        atom : Atom

        Returns
        -------
        numpy.ndarray of int64
        """
        rows = self._atoms.get(atom)
        if rows is not None:
            return rows
        if atom.word_start:  # a range of the sorted tokens, so of the postings
            upper = atom.text[:-1] + chr(ord(atom.text[-1]) + 1)
            lo = bisect.bisect_left(self._sorted, atom.text)
            hi = bisect.bisect_left(self._sorted, upper, lo)
            rows = self.postings[self.indptr[lo]:self.indptr[hi]]
            if hi - lo > 1:
                rows = _dedupe(np.sort(rows))
        else:
            ids = np.flatnonzero(np.asarray(
                pc.match_substring(self.tokens, atom.text).to_numpy(zero_copy_only=False), bool))
            first, count = self.indptr[ids], self.indptr[ids + 1] - self.indptr[ids]
            at = np.repeat(first - np.cumsum(count) + count, count) + np.arange(count.sum())
            rows = self.postings[at]
            if ids.size > 1:
                rows = _dedupe(np.sort(rows))
        rows.setflags(write=False)  # cached: shared by every caller
        self._atoms[atom] = rows
        return rows

    def _rows(self, req: Requirement) -> np.ndarray:
        if isinstance(req, Atom):
            return self.atom_rows(req)
        parts = [self._rows(p) for p in req.parts]
        if isinstance(req, AnyOf):
            return _union(parts, self.n_rows)
        parts.sort(key=len)
        out = parts[0]
        for p in parts[1:]:
            out = _intersect(out, p)
        return out

    def rows_for(self, pattern: str) -> np.ndarray | None:
        """Candidate rows for one pattern: a superset of the rows it matches.

        Parameters
        ----------
        pattern : str
            An RE2 pattern, matched case-insensitively.

        Returns
        -------
        numpy.ndarray of int64 or None
            Sorted distinct rows (read-only); None (every row) when the pattern
            requires no literal.
        """
        if pattern in self._patterns:
            return self._patterns[pattern]
        req = requirement(pattern)
        rows = None if req is None else _union([self._rows(req), self.wild_rows], self.n_rows)
        if rows is not None:
            rows.setflags(write=False)  # cached: shared by every caller
        self._patterns[pattern] = rows
        return rows

    def rows_for_any(self, patterns: Iterable[str]) -> np.ndarray | None:
        """Candidate rows for a set of patterns (one concept's ``names``).

        Parameters
        ----------
        patterns : iterable of str

        Returns
        -------
        numpy.ndarray of int64 or None
            Sorted distinct rows, a superset of the rows any pattern matches;
            None (every row) when one of the patterns requires no literal; empty
            for no patterns.
        """
        parts = []
        for p in patterns:
            rows = self.rows_for(p)
            if rows is None:
                return None
            parts.append(rows)
        return _union(parts, self.n_rows)


def _rows_holding(data: np.ndarray, offsets: np.ndarray, chars: Iterable[str]) -> np.ndarray:
    """Sorted rows whose bytes hold one of ``chars``."""
    found = []
    for ch in chars:
        seq = np.frombuffer(ch.encode(), np.uint8)
        at = np.flatnonzero(data[:max(data.size - seq.size + 1, 0)] == seq[0])
        for j in range(1, seq.size):
            at = at[data[at + j] == seq[j]]
        found.append(np.searchsorted(offsets, at, side="right") - 1)
    return _dedupe(np.sort(np.concatenate(found)))
