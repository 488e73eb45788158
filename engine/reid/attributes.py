"""Exported attributes as dense codes: generalization hierarchies, encoding, member rows.

Values: each attribute is dictionary-encoded in order of first appearance,
exactly as ``pyarrow.compute.dictionary_encode`` does (string, integer and
dictionary columns in one Numba pass over their Arrow buffers, other types by
Arrow itself; large tables encode their columns in threads); a null is a value
of its own (as in ARX, where a missing value is just another value). A hierarchy
maps each value to its generalized value (``{"18-24": "18-34", ...}``); the key
``"*"`` maps every value not listed. Non-text values are looked up by their
text form (``str(value)``), nulls are not generalized.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.toml import read_toml
from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.io import columns as colconv
from basketguard.kernels.encode import first_seen_ints, first_seen_strings

Hierarchies = Mapping[str, Mapping[str, Any]]

#: Tables with at least this many attribute cells encode their columns in threads.
_THREADED_CELLS = 1 << 18


def load_hierarchies(source: str | Path | Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Read generalization hierarchies from a TOML file or a mapping.

    Parameters
    ----------
    source : path or mapping
        ``{attribute: {value: generalized value}}``, either directly or under a
        top-level ``hierarchies`` table; in TOML::

            [hierarchies.age_band]
            "18-24" = "18-34"
            "25-34" = "18-34"
            "*" = "35+"

    Returns
    -------
    dict
        Attribute -> value -> generalized value (all text).

    Raises
    ------
    ConfigError
        The file cannot be read or a table is not ``value = "generalized"``.
    """
    where = "hierarchies"
    if isinstance(source, str | Path):
        where = str(source)
        data: Mapping[str, Any] = read_toml(source, "hierarchies file")
    else:
        data = source
    if "hierarchies" in data and isinstance(data["hierarchies"], Mapping):
        data = data["hierarchies"]
    out: dict[str, dict[str, str]] = {}
    for attr, table in data.items():
        if not isinstance(table, Mapping) or not all(
            isinstance(v, str | int | float | bool) for v in table.values()
        ):
            raise ConfigError(
                f"{where}: hierarchy {attr!r} must be a table of value = \"generalized value\"."
            )
        out[str(attr)] = {str(k): str(v) for k, v in table.items()}
    return out


@dataclass(frozen=True)
class AttributeCodes:
    """Attributes of every customer as dense codes.

    ``codes[j]`` (int32, one per customer) lies in ``[0, cards[j])``;
    ``labels[j][c]`` is the (generalized) value of code ``c`` (None for null).
    """

    names: tuple[str, ...]
    codes: tuple[np.ndarray, ...]
    cards: tuple[int, ...]
    labels: tuple[tuple[Any, ...], ...]


def _key(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _plain(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One Arrow array; a single-chunk dictionary column keeps its dictionary."""
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:
            return col.chunk(0)
        return colconv.as_array(col)
    return col


def _first_seen(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """First-seen codes and first rows straight from the buffers (Numba), or None
    for types without a fast path (booleans, floats, times, ...).

    Strings compare as bytes and integers as numbers, which is exactly Arrow's
    equality for those types; a dictionary column is coded by its indices (a
    code per dictionary entry used, merged later when entries are equal).
    """
    t = arr.type
    if pa.types.is_dictionary(t):
        return _first_seen(arr.indices) if arr.indices.offset == arr.offset else None
    n = len(arr)
    bufs = arr.buffers()
    bits = None
    if arr.null_count:
        bits = np.frombuffer(bufs[0], np.uint8)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        width = np.int32 if pa.types.is_string(t) else np.int64
        offsets = np.frombuffer(bufs[1], width, count=arr.offset + n + 1)[arr.offset:]
        data = (np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None and bufs[2].size
                else np.zeros(0, np.uint8))
        return first_seen_strings(offsets, data, bits, arr.offset)
    if pa.types.is_integer(t):
        values = np.frombuffer(bufs[1], t.to_pandas_dtype(), count=arr.offset + n)[arr.offset:]
        return first_seen_ints(values, bits, arr.offset)
    return None


def dictionary_codes(col: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, list]:
    """Dense codes of a column in order of first appearance, nulls a value of their own.

    The same codes and values as ``pyarrow.compute.dictionary_encode(...,
    null_encoding="encode")`` of the decoded column, in one Numba pass over
    the Arrow buffers for strings (``string``, ``large_string``), integers and
    dictionary columns of those; other types go through Arrow.

    Returns
    -------
    codes : numpy.ndarray of int32
    values : list
        Value of each code (None for null), as Python objects.
    """
    arr = _plain(col)
    fast = _first_seen(arr) if len(arr) else None
    if fast is None:
        enc = pc.dictionary_encode(colconv.as_array(arr), null_encoding="encode")
        codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        return codes, enc.dictionary.to_pylist()
    codes, first_row = fast
    # The value of each code, encoded once more by Arrow (a handful of rows): this
    # merges codes of equal values (repeated dictionary entries) and keeps the
    # first-seen order, since codes are numbered in order of first appearance.
    reps = colconv.as_array(arr.take(pa.array(first_row)))
    enc = pc.dictionary_encode(reps, null_encoding="encode")
    remap = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    if not np.array_equal(remap, np.arange(remap.shape[0], dtype=np.int32)):
        codes = remap[codes]
    return codes, enc.dictionary.to_pylist()


def encode_column(col: pa.Array | pa.ChunkedArray, name: str,
                  hierarchy: Mapping[str, str] | None = None) -> tuple[np.ndarray, tuple]:
    """Dense codes of one attribute column (nulls are a value), optionally generalized.

    Returns
    -------
    codes : numpy.ndarray of int32
    labels : tuple
        Value of each code.
    """
    indices, values = dictionary_codes(col)
    if hierarchy is None:
        return indices, tuple(values)
    default = hierarchy.get("*")
    general: list[Any] = []
    missing = []
    for v in values:
        if v is None:
            general.append(None)
        elif _key(v) in hierarchy:
            general.append(hierarchy[_key(v)])
        elif default is not None:
            general.append(default)
        else:
            missing.append(v)
    if missing:
        raise ConfigError(
            f"hierarchy for attribute {name!r} does not cover {len(missing)} value(s), e.g. "
            f"{', '.join(repr(_key(v)) for v in missing[:5])}; add them or a \"*\" entry."
        )
    uniq = list(dict.fromkeys(general))
    index = {g: i for i, g in enumerate(uniq)}
    remap = np.array([index[g] for g in general], dtype=np.int32)
    return remap[indices] if indices.size else indices, tuple(uniq)


def encode_attributes(customers: pa.Table, attributes: Sequence[str] | None = None,
                      hierarchies: Hierarchies | None = None) -> AttributeCodes:
    """Pick the exported attributes and encode them.

    Parameters
    ----------
    customers : pyarrow.Table
        Column ``customer`` plus attribute columns (from ``read_role``).
    attributes : sequence of str, optional
        The attributes exported with the segment (default: every column but
        ``customer``).
    hierarchies : mapping, optional
        Attribute -> value -> generalized value (see :func:`load_hierarchies`).

    Returns
    -------
    AttributeCodes

    Raises
    ------
    ConfigError
        An unknown attribute, a hierarchy for an attribute not exported, or a
        hierarchy that does not cover a value.
    """
    available = [c for c in customers.column_names if c != "customer"]
    names = list(available if attributes is None else attributes)
    for name in names:
        if name not in available:
            raise ConfigError(
                f"attribute {name!r} is not a column of the customers table; available: "
                f"{', '.join(available) or '(none)'}."
            )
    if len(set(names)) != len(names):
        raise ConfigError(f"attributes listed twice: {names}.")
    hierarchies = hierarchies or {}
    for name in hierarchies:
        if name not in names:
            raise ConfigError(
                f"hierarchy given for {name!r}, which is not an exported attribute; "
                f"exported: {', '.join(names) or '(none)'}."
            )
    def encode(name: str) -> tuple[np.ndarray, tuple]:
        return encode_column(customers.column(name), name, hierarchies.get(name))

    workers = min(len(names), os.cpu_count() or 1)
    if workers > 1 and customers.num_rows * len(names) >= _THREADED_CELLS:
        # The kernels and Arrow release the GIL: columns encode side by side.
        # Results (and the first error, in column order) are as if sequential.
        with ThreadPoolExecutor(workers) as pool:
            encoded = list(pool.map(encode, names))
    else:
        encoded = [encode(name) for name in names]
    codes, cards, labels = [], [], []
    for c, lab in encoded:
        codes.append(c)
        cards.append(max(len(lab), 1))
        labels.append(lab)
    return AttributeCodes(tuple(names), tuple(codes), tuple(cards), tuple(labels))


def member_rows(customer_ids: pa.Array | pa.ChunkedArray,
                segment_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Row of each (distinct) segment member in the customers table.

    Parameters
    ----------
    customer_ids, segment_ids : pyarrow.Array
        Customer ids of the customers table and of the segment (no nulls).

    Returns
    -------
    numpy.ndarray of int64
        Rows, in order of first appearance in the segment (repeats dropped).

    Raises
    ------
    SchemaError
        Integer ids on one side and text on the other.
    DataError
        A customer listed twice in the customers table, or segment members that
        are not in it.
    """
    cust = colconv.as_array(customer_ids)
    seg = pc.unique(colconv.as_array(segment_ids))
    if pa.types.is_integer(cust.type) != pa.types.is_integer(seg.type):
        raise SchemaError(
            f"segment customer ids are {seg.type} but the customers table's are {cust.type}; "
            "map columns of the same kind (both integers or both text)."
        )
    if len(pc.unique(cust)) != len(cust):
        # the first row whose id was seen before, and that id's first row (ids not shown)
        code = pc.index_in(cust, value_set=pc.unique(cust)).to_numpy(zero_copy_only=False)
        repeat = np.ones(len(code), bool)
        repeat[np.unique(code, return_index=True)[1]] = False
        row = int(np.flatnonzero(repeat)[0])
        same = np.flatnonzero(code == code[row])
        times, earlier = int(same.size), int(same[0])
        raise DataError(
            f"a customer id appears {times} times in the customers table (rows {earlier + 1} "
            f"and {row + 1}, counting data rows from 1); each customer needs exactly one row "
            "of attributes."
        )
    idx = pc.index_in(seg, value_set=cust)
    if idx.null_count:
        raise DataError(
            f"{idx.null_count} of {len(seg)} segment member(s) are not in the customers table; "
            "the k-map needs every member's attributes: add them to the customers table or "
            "drop them from the segment."
        )
    return idx.to_numpy(zero_copy_only=False).astype(np.int64)
