"""Resolve a catalog to product concepts, once per catalog (the rule is in
:mod:`basketguard.models.vocabulary.schema`).

Matching runs in Arrow: a token index of the name texts
(:mod:`basketguard.engine.detect.prefilter`) gives each concept the rows that
hold a literal its patterns require, and the concept's RE2 patterns run on those
rows only. Taxonomy values are compared on each level's dictionary of distinct
values, never per item. Exclusions run on the members only. Figures for a
100,000-item names-only catalog are in ``bench/bench_concepts.py`` and
docs/benchmarks.md; the result is cached under the catalog's fingerprint
(:func:`resolve_cached`).

Reviewed overrides are a CSV file (``[catalog] overrides`` in the project
file) with a header and one decision per line::

    item,pattern,concept,action,note
    12345,,infant_formula,exclude,kitten milk replacer
    ,\\bsoy formula\\b,infant_formula,include,

Each line gives an ``item`` id or a ``pattern`` (RE2, case-insensitive, on the
name text), a ``concept`` and an ``action`` (``include`` or ``exclude``); lines
apply in file order, a later line winning.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.toml import did_you_mean
from basketguard.engine.detect.prefilter import TokenIndex, load_requirements, save_requirements
from basketguard.engine.errors import ConfigError
from basketguard.models.vocabulary.schema import Vocabulary, normalize_value

#: How an item became a member (bits of :attr:`ConceptTable.how`).
BY_NAME, BY_LEVEL, BY_INCLUDE, BY_OVERRIDE, BY_CONTEXT = 1, 2, 4, 8, 16
#: Bump when the rule or the cached layout changes.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class Override:
    """One line of an overrides file."""

    line: int
    item: str | None
    pattern: str | None
    concept: str
    include: bool
    note: str = ""


@dataclass
class Overrides:
    """A parsed overrides file."""

    path: Path
    lines: tuple[Override, ...]
    digest: str


@dataclass
class ConceptTable:
    """The members of every concept in one catalog.

    Attributes
    ----------
    vocabulary : Vocabulary
    n_rows : int
        Catalog rows.
    rows : dict of str -> int64 array
        Sorted catalog rows of each concept's members.
    how : dict of str -> uint8 array
        Aligned with ``rows``: bits :data:`BY_NAME`, :data:`BY_LEVEL`,
        :data:`BY_INCLUDE`, :data:`BY_OVERRIDE`, :data:`BY_CONTEXT`.
    notes : list of str
        Override lines that matched no item and similar remarks (file and line named).
    override_lines : dict of (str, int) -> int
        (concept, row) -> the override line that included it (not kept in the cache).
    """

    vocabulary: Vocabulary
    n_rows: int
    rows: dict[str, np.ndarray]
    how: dict[str, np.ndarray]
    notes: list[str] = field(default_factory=list)
    override_lines: dict[tuple[str, int], int] = field(default_factory=dict)

    def members(self, concepts: Iterable[str]) -> np.ndarray:
        """Sorted catalog rows that belong to any of ``concepts``."""
        parts = [self.rows[c] for c in concepts]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


def _bool(mask) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)


def _nonempty(arr: pa.Array) -> pa.Array:
    """``arr`` with empty or blank strings as nulls."""
    blank = pc.equal(pc.utf8_trim_whitespace(arr), "")
    return pc.if_else(pc.fill_null(blank, True), pa.scalar(None, pa.string()), arr)


def name_text(names: pa.Array | None, levels: dict[str, pa.Array], n_rows: int) -> pa.Array:
    """Each row's name text: its name, else its most specific non-empty taxonomy value."""
    parts = ([_nonempty(names)] if names is not None else []) + \
        [_nonempty(levels[lv]) for lv in reversed(list(levels))]
    if not parts:
        return pa.nulls(n_rows, pa.string())
    return pc.coalesce(*parts) if len(parts) > 1 else parts[0]


def _regex(arr: pa.Array, pats: tuple[str, ...], where: str) -> np.ndarray:
    joined = "|".join(f"(?:{p})" for p in pats)
    try:
        return _bool(pc.match_substring_regex(arr, joined, ignore_case=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(f"{where}: a pattern is not supported by the matcher (RE2 syntax: "
                          f"no look-arounds or back-references): {exc}") from None


def _rows_matching(text: pa.Array, rows: np.ndarray, pats: tuple[str, ...],
                   where: str) -> np.ndarray:
    """The ``rows`` of ``text`` that one of ``pats`` matches."""
    if rows.size == 0 or not pats:
        return np.zeros(0, np.int64)
    sub = text if rows.size == len(text) else text.take(pa.array(rows))
    return rows[_regex(sub, pats, where)]


class _Level:
    """One taxonomy level as a dictionary of distinct values and each row's index."""

    def __init__(self, name: str, values: pa.Array) -> None:
        enc = pc.dictionary_encode(values)
        self.name = name
        self.dictionary = enc.dictionary
        self.index = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False),
                                np.int64)
        self.normalized = [normalize_value(v or "") for v in self.dictionary.to_pylist()]

    def rows_with(self, wanted: np.ndarray) -> np.ndarray:
        """Rows whose value index is in the boolean ``wanted`` (over the dictionary)."""
        if not wanted.any():
            return np.zeros(0, np.int64)
        ok = self.index >= 0
        hit = np.zeros(self.index.shape[0], bool)
        hit[ok] = wanted[self.index[ok]]
        return np.flatnonzero(hit)


def resolve_concepts(vocab: Vocabulary, names: pa.Array | None, levels: dict[str, pa.Array],
                     n_rows: int | None = None, overrides: Overrides | None = None,
                     item_keys: pa.Array | None = None) -> ConceptTable:
    """Members of every concept among the rows of a catalog.

    Parameters
    ----------
    vocab : Vocabulary
    names : pyarrow string array or None
        Item names (any case), one per catalog row; None when the catalog maps none.
    levels : dict of str -> pyarrow string array
        Taxonomy values per level, from the most general level to the most specific.
    n_rows : int, optional
        Number of rows (needed when there are neither names nor levels).
    overrides : Overrides, optional
        Reviewed decisions (:func:`read_overrides`).
    item_keys : pyarrow string array, optional
        Each row's item id as text (for overrides naming items).

    Returns
    -------
    ConceptTable
    """
    if n_rows is None:
        n_rows = len(names) if names is not None else (len(next(iter(levels.values())))
                                                        if levels else 0)
    text = name_text(names, levels, n_rows)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    lv = [_Level(k, v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v)
          for k, v in levels.items()]
    concepts = vocab.concepts
    # first pass: a token index gives each concept the few rows that hold a literal its
    # patterns require (engine/detect/prefilter.py); the patterns run on those only
    index = TokenIndex(text)
    everyone = np.arange(n_rows, dtype=np.int64)
    direct: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in concepts:
        by_name = np.zeros(0, np.int64)
        if c.names:
            cand = index.rows_for_any(c.names)
            by_name = _rows_matching(text, everyone if cand is None else cand, c.names,
                                     c.origin)
        by_level: list[np.ndarray] = []
        if c.levels:
            want = {normalize_value(v) for v in c.levels}
            for level in lv:
                hit = np.fromiter((v in want for v in level.normalized), bool,
                                  len(level.normalized))
                by_level.append(level.rows_with(hit))
        if c.level_patterns:
            for level in lv:
                if len(level.dictionary):
                    by_level.append(level.rows_with(
                        _regex(level.dictionary, c.level_patterns, c.origin)))
        lvl = np.unique(np.concatenate(by_level)) if by_level else np.zeros(0, np.int64)
        ctx = np.zeros(0, np.int64)
        if c.context:
            inside = [level.rows_with(_regex(level.dictionary, c.context, c.origin))
                      for level in lv if len(level.dictionary)]
            if inside:
                ctx = _rows_matching(text, np.unique(np.concatenate(inside)), c.context_names,
                                     c.origin)
        rows = np.union1d(np.union1d(by_name, lvl), ctx)
        how = (np.isin(rows, by_name) * BY_NAME | np.isin(rows, lvl) * BY_LEVEL
               | np.isin(rows, ctx) * BY_CONTEXT).astype(np.uint8)
        direct[c.name] = (rows, how)
    # includes, then exclusions, in an order where included concepts come first
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def finish(name: str) -> tuple[np.ndarray, np.ndarray]:
        if name in done:
            return done[name]
        c = vocab[name]
        rows, how = direct[name]
        if c.includes:
            inc_all = np.unique(np.concatenate([finish(inc)[0] for inc in c.includes]))
            merged = np.union1d(rows, inc_all)
            h = np.zeros(merged.shape[0], np.uint8)
            h[np.searchsorted(merged, rows)] = how
            h[np.isin(merged, inc_all)] |= BY_INCLUDE
            rows, how = merged, h
        if (c.exclude or c.exclude_names or c.exclude_levels) and rows.size:
            gone = np.zeros(rows.shape[0], bool)
            if names is not None and c.exclude:
                gone |= np.isin(rows, _rows_matching(names, rows, c.exclude, c.origin))
            if c.exclude_names:
                gone |= np.isin(rows, _rows_matching(text, rows, c.exclude_names, c.origin))
            on_levels = c.exclude + c.exclude_levels
            for level in lv:
                bad = _regex(level.dictionary, on_levels, c.origin) \
                    if len(level.dictionary) and on_levels else np.zeros(0, bool)
                if bad.any():
                    idx = level.index[rows]
                    gone |= (idx >= 0) & bad[np.maximum(idx, 0)]
            rows, how = rows[~gone], how[~gone]
        done[name] = (rows, how)
        return done[name]

    for c in concepts:
        finish(c.name)
    notes: list[str] = []
    lines: dict[tuple[str, int], int] = {}
    if overrides is not None:
        _apply_overrides(done, overrides, vocab, text, item_keys, notes, lines)
    return ConceptTable(vocab, n_rows, {k: done[k][0] for k in vocab.names},
                        {k: done[k][1] for k in vocab.names}, notes, lines)


def unused_concepts(vocab: Vocabulary, signatures) -> list[str]:
    """Notes for the concepts of user concept files that no signature names (directly or
    through ``includes``), naming the file: they cannot count toward any score."""
    from basketguard.models.vocabulary.schema import BUILTIN_DIR

    used: set[str] = set()
    for c in {c for s in signatures for f in s.features for c in (*f.concepts, *f.with_concepts)}:
        if c in vocab:
            used.update(vocab.closure(c))
    return [f"{c.path}: concept {c.name!r} is used by no signature (name it in a feature's "
            "`concepts` to make it count)"
            for c in vocab.concepts
            if c.path is not None and c.path.parent != BUILTIN_DIR and c.name not in used]


def _apply_overrides(done: dict[str, tuple[np.ndarray, np.ndarray]], ov: Overrides,
                     vocab: Vocabulary, text: pa.Array, item_keys: pa.Array | None,
                     notes: list[str], lines: dict[tuple[str, int], int]) -> None:
    key_index: dict[str, int] | None = None
    for o in ov.lines:
        where = f"{ov.path}:{o.line}"
        if o.concept not in vocab:
            raise ConfigError(f"{where}: unknown concept {o.concept!r}."
                              f"{did_you_mean(o.concept, vocab.names)} `basketguard catalog concepts` "
                              "lists the known ones.")
        if o.item is not None:
            if key_index is None:
                keys = item_keys.to_pylist() if item_keys is not None else []
                key_index = {}
                for r, k in enumerate(keys):
                    key_index.setdefault(str(k), r)
            r = key_index.get(o.item)
            hit = np.asarray([r], np.int64) if r is not None else np.zeros(0, np.int64)
            if r is None:
                notes.append(f"{where}: item {o.item!r} is not in the catalog; the line "
                             "changes nothing")
        else:
            hit = np.flatnonzero(_regex(text, (o.pattern,), where))
            if hit.size == 0:
                notes.append(f"{where}: pattern {o.pattern!r} matches no item in the catalog")
        rows, how = done[o.concept]
        if o.include:
            new = np.setdiff1d(hit, rows)
            rows = np.concatenate([rows, new])
            how = np.concatenate([how, np.zeros(new.shape[0], np.uint8)])
            how[np.isin(rows, hit)] |= BY_OVERRIDE
            for r in hit.tolist():
                lines[(o.concept, int(r))] = o.line
            order = np.argsort(rows, kind="stable")
            rows, how = rows[order], how[order]
        else:
            keep = ~np.isin(rows, hit)
            rows, how = rows[keep], how[keep]
            for r in hit.tolist():
                lines.pop((o.concept, int(r)), None)
        done[o.concept] = (rows, how)


def read_overrides(path: str | Path) -> Overrides:
    """Parse an overrides CSV (see the module docstring).

    Raises
    ------
    ConfigError
        Unreadable file, missing header columns, a line with neither or both of
        item and pattern, an unknown action, a bad pattern: naming the file and line.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the overrides file: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: the overrides file is not UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ConfigError(f"{p}: the overrides file is empty; it needs a header "
                          "`item,pattern,concept,action`.") from None
    for need in ("concept", "action"):
        if need not in header:
            raise ConfigError(f"{p}:1: the header has no {need!r} column; expected "
                              "`item,pattern,concept,action[,note]`.")
    if "item" not in header and "pattern" not in header:
        raise ConfigError(f"{p}:1: the header needs an 'item' or a 'pattern' column.")
    unknown = [h for h in header if h not in ("item", "pattern", "concept", "action", "note")]
    if unknown:
        raise ConfigError(f"{p}:1: unknown column {unknown[0]!r}; the columns are item, "
                          "pattern, concept, action and note.")
    col = {h: i for i, h in enumerate(header)}
    out: list[Override] = []
    for n, row in enumerate(reader, start=2):
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) > len(header):
            raise ConfigError(f"{p}:{n}: {len(row)} fields, but the header has {len(header)}; "
                              "quote fields that hold commas.")

        def get(k: str, row=row) -> str:
            i = col.get(k)
            return row[i].strip() if i is not None and i < len(row) else ""

        item, pattern, concept, action = get("item"), get("pattern"), get("concept"), get("action")
        if bool(item) == bool(pattern):
            raise ConfigError(f"{p}:{n}: give exactly one of item and pattern "
                              f"({'both' if item else 'neither'} given).")
        if not concept:
            raise ConfigError(f"{p}:{n}: the concept is empty.")
        if action.lower() not in ("include", "exclude"):
            raise ConfigError(f"{p}:{n}: action must be 'include' or 'exclude', not {action!r}.")
        if pattern:
            try:
                pc.match_substring_regex(pa.array([""]), pattern, ignore_case=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ConfigError(f"{p}:{n}: pattern {pattern!r} is not a supported regular "
                                  f"expression (RE2 syntax): {exc}") from None
        out.append(Override(n, item or None, pattern or None, concept,
                            action.lower() == "include", get("note")))
    return Overrides(p, tuple(out), hashlib.sha256(raw).hexdigest())


# --- the cache ------------------------------------------------------------------------

def catalog_fingerprint(vocab: Vocabulary, names: pa.Array | None, levels: dict[str, pa.Array],
                        item_keys: pa.Array | None, overrides: Overrides | None) -> str:
    """Key of a resolution: the concepts, the overrides and the catalog's contents."""
    import xxhash

    h = xxhash.xxh3_128()
    h.update(f"concepts-v{CACHE_FORMAT}\0{vocab.digest}\0".encode())
    h.update((overrides.digest if overrides else "-").encode())

    def add(tag: str, arr: pa.Array | None) -> None:
        h.update(f"\0{tag}\0".encode())
        if arr is None:
            return
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        h.update(f"{len(arr)}:{arr.offset}:{arr.type}".encode())  # slices share buffers
        for buf in arr.buffers():
            if buf is not None:
                h.update(memoryview(buf))

    add("names", names)
    for k, v in levels.items():
        add(f"level:{k}", v)
    add("items", item_keys)
    return h.hexdigest()


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "concepts" / f"{key}.arrow"


def _save(table: ConceptTable, path: Path) -> None:
    names = list(table.vocabulary.names)  # the order _load checks
    concept = np.concatenate([np.full(table.rows[n].shape[0], i, np.int32)
                              for i, n in enumerate(names)]) if names else np.zeros(0, np.int32)
    rows = np.concatenate([table.rows[n] for n in names]) if names else np.zeros(0, np.int64)
    how = np.concatenate([table.how[n] for n in names]) if names else np.zeros(0, np.uint8)
    meta = {b"n_rows": str(table.n_rows).encode(), b"concepts": "\n".join(names).encode(),
            b"notes": "\n".join(table.notes).encode()}
    t = pa.table({"concept": concept, "row": rows, "how": how}).replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".arrow")
    os.close(fd)
    try:
        with pa.OSFile(tmp, "wb") as f, pa.ipc.new_file(f, t.schema) as w:
            w.write_table(t)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load(path: Path, vocab: Vocabulary) -> ConceptTable | None:
    try:
        with pa.memory_map(str(path)) as f:
            t = pa.ipc.open_file(f).read_all()
        meta = t.schema.metadata or {}
        names = meta[b"concepts"].decode().split("\n") if meta.get(b"concepts") else []
        if names != list(vocab.names):
            return None
        concept = t.column("concept").to_numpy()
        rows = t.column("row").to_numpy()
        how = t.column("how").to_numpy()
        if not (np.all(np.diff(concept) >= 0) and concept.size == rows.size == how.size):
            return None
        cut = np.searchsorted(concept, np.arange(len(names) + 1))
        notes = meta.get(b"notes", b"").decode()
        return ConceptTable(vocab, int(meta[b"n_rows"]),
                            {n: rows[cut[i]:cut[i + 1]].astype(np.int64)
                             for i, n in enumerate(names)},
                            {n: how[cut[i]:cut[i + 1]].astype(np.uint8)
                             for i, n in enumerate(names)},
                            notes.split("\n") if notes else [])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


def resolve_cached(vocab: Vocabulary, names: pa.Array | None, levels: dict[str, pa.Array],
                   n_rows: int, overrides: Overrides | None = None,
                   item_keys: pa.Array | None = None,
                   cache_dir: Path | None = None) -> tuple[ConceptTable, str]:
    """:func:`resolve_concepts` through the cache; returns the table and ``"hit"``,
    ``"stored"`` or ``"off"``. A damaged or unreadable entry is rebuilt; a cache
    folder that cannot be written does not fail the run."""
    if cache_dir is None:
        return resolve_concepts(vocab, names, levels, n_rows, overrides, item_keys), "off"
    key = catalog_fingerprint(vocab, names, levels, item_keys, overrides)
    path = _cache_path(Path(cache_dir), key)
    if path.is_file():
        got = _load(path, vocab)
        if got is not None and got.n_rows == n_rows:
            return got, "hit"
    # the prefilter's analysis of the vocabulary's patterns, kept beside (a new catalog
    # with the same concepts skips it)
    analysed = Path(cache_dir) / "concepts" / f"prefilter-{vocab.digest}.json"
    had = load_requirements(analysed)
    table = resolve_concepts(vocab, names, levels, n_rows, overrides, item_keys)
    try:
        if not had:
            save_requirements(analysed, [p for c in vocab.concepts for p in c.names])
        _save(table, path)
    except OSError:
        return table, "not stored"
    return table, "stored"
