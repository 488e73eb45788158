"""The offer: the items a mailing promotes, read from a file or a list.

An entry is an item id (normalized to the basket lines' id kind as
:func:`~basketguard.engine.io.tables.conform_ids` does), ``category:<value>``
(every catalog item whose value at some taxonomy level equals it,
case-insensitive) or ``feature:<signature>.<feature>`` (the items a signature
feature matches). Unknown entries are errors naming the file and row, with
close matches suggested.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.project import SourceSpec, infer_format
from basketguard.engine.config.toml import closest_match, did_you_mean
from basketguard.engine.detect.compile import CatalogView, CompiledLibrary
from basketguard.engine.errors import ConfigError, DataError, SchemaError, SourceError
from basketguard.engine.histories.build import Histories
from basketguard.engine.io.columns import as_array
from basketguard.engine.io.sources import open_source
from basketguard.engine.io.tables import conform_ids, row_words

_FORMS = "an item id, category:<value> or feature:<signature>.<feature>"


def _bools(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)


# ------------------------------------------------------------------------ the offer
@dataclass(frozen=True)
class Offer:
    """The items a mailing promotes: sorted unique int32 item ``codes`` and their origin.

    ``groups`` describes each ``category:`` / ``feature:`` entry: ``entry``,
    ``kind``, ``levels`` (the taxonomy levels whose value matched),
    ``catalog_items`` (rows or items it names) and ``items`` (of which bought).
    """

    codes: np.ndarray
    source: str  # the file's description, or the list's name
    entries: int  # rows or list elements read
    item_entries: int  # of which item ids
    groups: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "items": int(self.codes.size), "entries": self.entries,
                "item_entries": self.item_entries, "groups": [dict(g) for g in self.groups]}


def _at(row: int, is_file: bool) -> str:
    return row_words(row, False) if is_file else f"entry {row + 1} (counting from 1)"


def _item_hint(value: str, view: CatalogView, item_ids: pa.Array) -> str:
    """A suggestion for an unknown item entry: a category, an item of that name, a close id."""
    low = value.strip().lower()
    for lv, arr in view.levels.items():
        if (hit := pc.index(arr, low).as_py()) >= 0:
            return f" Did you mean 'category:{view.raw_levels[lv][hit].as_py()}' (a {lv})?"
    if view.names is not None and (hit := pc.index(view.names, low).as_py()) >= 0 \
            and view.codes[hit] >= 0:
        return f" It is the name of item {item_ids[int(view.codes[hit])].as_py()!r}."
    return did_you_mean(value.strip(), pc.cast(item_ids, pa.string()).to_pylist(), cutoff=0.6)


def _resolve_items(arr: pa.Array, rows: np.ndarray, item_ids: pa.Array, view: CatalogView,
                   where: str, column: str, is_file: bool) -> np.ndarray:
    """Item codes of the plain item-id entries (``rows``: their entry numbers)."""
    if arr.null_count:
        r = int(rows[np.flatnonzero(~_bools(arr.is_valid()))[0]])
        raise DataError(f"{where}: column {column!r} is empty at {_at(r, is_file)}; give "
                        f"{_FORMS}, or remove the row.")
    want_int = pa.types.is_integer(item_ids.type)
    if want_int and pa.types.is_string(arr.type):
        ok = _bools(pc.match_substring_regex(arr, r"^\s*-?[0-9]+(\.0*)?\s*$"))
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise SchemaError(
                f"{where}: column {column!r} holds text that is not an integer item id at "
                f"{_at(int(rows[i]), is_file)} ({arr[i].as_py()!r}; {int((~ok).sum())} such "
                f"entries), but the basket lines' item ids are integers; give {_FORMS}."
                f"{_item_hint(arr[i].as_py(), view, item_ids)}")
    ids = conform_ids(arr, item_ids.type, where, column, role="item")
    base = item_ids.cast(pa.int64() if want_int else pa.string())
    found = pc.index_in(ids, value_set=base)
    if found.null_count:
        miss = np.flatnonzero(~_bools(found.is_valid()))
        value = ids[int(miss[0])].as_py()
        raise DataError(
            f"{where}: {miss.size} offer item id(s) are not items of the basket lines (whose "
            f"ids are {'integers' if want_int else 'text'}), the first {value!r} at "
            f"{_at(int(rows[miss[0]]), is_file)}.{_item_hint(str(value), view, base)} Offer "
            "items must have been bought at least once; check the ids, or use category: or "
            "feature: entries.")
    return np.asarray(found.to_numpy(zero_copy_only=False), np.int64)


def _resolve_category(text: str, view: CatalogView, where: str) -> tuple[np.ndarray, dict]:
    value = text.strip()
    if not view.levels:
        raise ConfigError(f"{where}: entry 'category:{value}' needs a catalog with taxonomy "
                          "levels; map them in the project file, or list item ids.")
    hits = {lv: _bools(pc.equal(arr, value.lower())) for lv, arr in view.levels.items()}
    matched = [lv for lv, h in hits.items() if h.any()]
    if not matched:
        low = {v.lower(): v for a in view.raw_levels.values()
               for v in pc.unique(a).to_pylist() if v is not None}
        close = closest_match(value.lower(), sorted(low))
        hint = f" Did you mean 'category:{low[close]}'?" if close else ""
        raise DataError(f"{where}: no catalog item has the taxonomy value {value!r} (levels "
                        f"searched: {', '.join(view.levels)}).{hint}")
    mask = np.logical_or.reduce([hits[lv] for lv in matched])
    codes = np.unique(view.codes[mask][view.codes[mask] >= 0]).astype(np.int64)
    return codes, {"entry": f"category:{value}", "kind": "category", "levels": matched,
                   "catalog_items": int(mask.sum()), "items": int(codes.size)}


def _resolve_feature(text: str, compiled: CompiledLibrary | None,
                     where: str) -> tuple[np.ndarray, dict]:
    if compiled is None:
        raise ConfigError(f"{where}: entry 'feature:{text}' needs the signature library; "
                          "pass read_offer the compiled library (compile_for).")
    sig, _, feat = text.strip().partition(".")
    names = [s.name for s in compiled.signatures]
    if sig not in names:
        raise ConfigError(f"{where}: entry 'feature:{text}': no signature {sig!r}."
                          f"{did_you_mean(sig, names)} Write feature:<signature>.<feature>; "
                          f"signatures: {', '.join(names)}.")
    known = {m.feature: m for m in compiled.features if m.signature == sig}
    if feat not in known:
        raise ConfigError(f"{where}: entry 'feature:{text}': signature {sig!r} has no feature "
                          f"{feat!r}.{did_you_mean(feat, known)} Its features: "
                          f"{', '.join(known)}.")
    codes = known[feat].items.astype(np.int64)
    return codes, {"entry": f"feature:{sig}.{feat}", "kind": "feature", "levels": [],
                   "catalog_items": int(codes.size), "items": int(codes.size)}


def _read_column(path: str | Path, column: str) -> tuple[pa.Array, str]:
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise SourceError(f"offer file {str(path)!r} (resolved to {str(resolved)!r}) "
                          f"{'is a folder' if resolved.is_dir() else 'does not exist'}; paths "
                          f"are relative to the working directory ({Path.cwd()}).")
    fmt = infer_format(str(path))
    if fmt in (None, "duckdb"):
        raise ConfigError(f"offer file {str(path)!r}: use a .parquet, .csv or .arrow file with "
                          "an `item` column (or name the column).")
    source = open_source(SourceSpec(role="offer", location=str(resolved), base_dir=Path.cwd(),
                                    format=fmt, columns={"item": column},
                                    origin=f"offer file {path}"))
    names = source.schema.names
    if column not in names:
        raise SchemaError(f"{source.where}: no column {column!r} holds the offer's entries."
                          f"{did_you_mean(column, names, cutoff=0.4)} Columns: "
                          f"{', '.join(names) or '(none)'}. Call it `item` or name it.")
    return as_array(source.read_table([column]).column(column)), source.where


def read_offer(source: str | Path | Sequence[int | str], hist: Histories, view: CatalogView,
               compiled: CompiledLibrary | None = None, *, column: str = "item",
               where: str = "offer") -> Offer:
    """Read an offer: the items a mailing promotes.

    An entry is an item id (normalized to the lines' id kind as
    :func:`~basketguard.engine.io.tables.conform_ids` does), ``category:<value>``
    (every catalog item whose value at some taxonomy level equals it,
    case-insensitive; the group's ``levels`` say which) or
    ``feature:<signature>.<feature>`` (the items it matches). Catalog items
    nobody bought have no item code and are left out.

    Parameters
    ----------
    source : str, Path or sequence of int or str
        A Parquet, CSV or Arrow IPC file (relative to the working directory),
        one entry per row in ``column``, or a list of entries.
    hist : Histories
        The histories (their item dictionary).
    view : CatalogView
        The catalog (:func:`~basketguard.engine.detect.compile.catalog_view`).
    compiled : CompiledLibrary, optional
        The signature library, needed for ``feature:`` entries.
    column : str
        The file's entry column.
    where : str
        The list's name in messages (a file is named by its path).

    Returns
    -------
    Offer

    Raises
    ------
    DataError, ConfigError, SchemaError, SourceError
        An unknown item or category (DataError), signature or feature
        (ConfigError), text against integer ids (SchemaError), an empty offer,
        an unreadable file: the message names the file and row (or entry) and
        suggests close matches.
    """
    is_file = isinstance(source, str | Path)
    if is_file:
        arr, where = _read_column(source, column)
    else:
        values = list(source)
        if any(isinstance(v, bool) or not isinstance(v, int | str) for v in values):
            raise ConfigError(f"{where}: every entry must be {_FORMS}.")
        all_int = all(isinstance(v, int) for v in values)
        arr = pa.array(values if all_int else [str(v) for v in values],
                       pa.int64() if all_int else pa.string())
    if pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    special = (_bools(pc.match_substring_regex(arr, r"^\s*(category|feature):", ignore_case=True))
               if pa.types.is_string(arr.type) else np.zeros(len(arr), bool))
    parts, groups = [], []
    for r in np.flatnonzero(special).tolist():
        prefix, _, rest = arr[r].as_py().strip().partition(":")
        at = f"{where} ({_at(r, is_file)})"
        codes, group = (_resolve_category(rest, view, at) if prefix.lower() == "category"
                        else _resolve_feature(rest, compiled, at))
        parts.append(codes)
        groups.append(group)
    plain = np.flatnonzero(~special)
    if plain.size:
        parts.append(_resolve_items(arr.take(pa.array(plain)), plain, hist.item_ids, view,
                                    where, column, is_file))
    codes = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
    if codes.size == 0:
        why = ("has no entries" if len(arr) == 0 else "names no item bought in the basket "
               "lines (its categories or features match only items nobody bought)")
        raise DataError(f"{where}: the offer is empty: it {why}. Give at least one entry: "
                        f"{_FORMS}.")
    return Offer(codes.astype(np.int32), where, len(arr), int(plain.size), tuple(groups))


