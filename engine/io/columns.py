"""The one place where Arrow columns become NumPy arrays.

Chunked arrays, slices (non-zero offsets), nulls, dictionary columns and time
zones are all handled here, so the kernels only ever see plain contiguous
NumPy arrays plus a validity mask.

Contracts
---------
- ids: integers of any width, integral floats (CSV ``17850.0``) or text;
  dictionary-encoded columns are decoded. Returned as ``int64`` values or an
  Arrow string array, with a boolean validity mask.
- times: timestamps of any unit, with or without zone (naive values are read
  in the source's ``time_zone``, default UTC), ``date32`` / ``date64``, or text
  in ISO 8601 (or the source's ``time_format``). Returned as ``int64`` seconds
  since the Unix epoch, UTC (floored), with a status per row: 0 ok, 1 null,
  2 unparseable.
- numbers: any numeric type, returned as ``float64`` (``float32`` columns stay
  ``float32``) with a validity mask.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.errors import SchemaError

TIME_OK, TIME_NULL, TIME_BAD = 0, 1, 2

_UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SECOND = dt.timedelta(seconds=1)

#: Times are kept between 0001-01-01 and 9999-12-31 (UTC); outside that range a
#: value is most likely a unit mistake, and its day would not fit in int32.
MIN_SECONDS = -62_135_596_800
MAX_SECONDS = 253_402_300_799


def plain_number(value: float | int) -> str:
    """A number as a person writes it (``0.5``, ``17850``, ``NaN``), never a NumPy repr."""
    value = float(value)
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "infinity" if value > 0 else "-infinity"
    if value == round(value) and abs(value) < 2.0**63:
        return str(int(value))
    return repr(value)


def as_array(col: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous Arrow array (chunks combined, dictionaries decoded)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col


def validity(arr: pa.Array) -> np.ndarray | None:
    """Boolean mask of non-null rows, or ``None`` when there are no nulls."""
    if arr.null_count == 0:
        return None
    return arr.is_valid().to_numpy(zero_copy_only=False)


@dataclass
class IdColumn:
    """An id column in NumPy / Arrow form.

    Exactly one of ``ints`` (int64) and ``strings`` (Arrow string array) is set.
    ``valid`` is ``None`` when no row is null.
    """

    ints: np.ndarray | None
    strings: pa.Array | None
    valid: np.ndarray | None

    @property
    def kind(self) -> str:
        return "int" if self.ints is not None else "str"

    def __len__(self) -> int:
        return len(self.ints) if self.ints is not None else len(self.strings)


def _int64_values(arr: pa.Array) -> np.ndarray:
    if arr.null_count:
        arr = arr.fill_null(0)
    values = arr.to_numpy(zero_copy_only=False)
    return values.astype(np.int64, copy=False)


def id_column(col: pa.Array | pa.ChunkedArray, where: str, column: str, role: str) -> IdColumn:
    """Convert an id column.

    Parameters
    ----------
    col : pyarrow.Array or ChunkedArray
        The source column.
    where : str
        The source's description, for messages.
    column, role : str
        Source column name and canonical role, for messages.

    Returns
    -------
    IdColumn

    Raises
    ------
    SchemaError
        The type cannot serve as an id (booleans, times, non-integral numbers).
    """
    arr = as_array(col)
    t = arr.type
    valid = validity(arr)
    if pa.types.is_null(t):
        return IdColumn(np.zeros(len(arr), np.int64), None, np.zeros(len(arr), bool))
    if pa.types.is_integer(t):
        if t == pa.uint64() and len(arr) and pc.max(arr).as_py() is not None \
                and pc.max(arr).as_py() > np.iinfo(np.int64).max:
            raise SchemaError(
                f"{where}: column {column!r} ({role} id) has uint64 values above 2^63; "
                "map it as text (types) or re-encode the ids."
            )
        return IdColumn(_int64_values(arr), None, valid)
    if pa.types.is_floating(t):
        values = arr.fill_null(0).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        ok = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2.0**62)
        if valid is not None:
            ok |= ~valid
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            value = float(values[bad])
            what = ("numbers too large to be exact ids" if np.isfinite(value)
                    and value == round(value) else "non-integral numbers")
            # a customer's id is personal data: never echoed, even when malformed
            shown = "" if role == "customer" else f" such as {plain_number(value)}"
            raise SchemaError(
                f"{where}: column {column!r} ({role} id) holds {what}{shown} "
                f"({int((~ok).sum())} value(s)); ids must be integers or text. Map another "
                f"column or read it as text with types.{column} = \"string\"."
            )
        return IdColumn(values.astype(np.int64), None, valid)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or (
        hasattr(pa.types, "is_string_view") and pa.types.is_string_view(t)
    ):
        if not pa.types.is_string(t):
            arr = arr.cast(pa.string()) if not pa.types.is_large_string(t) else arr
        return IdColumn(None, arr, valid)
    raise SchemaError(
        f"{where}: column {column!r} has type {t}, which cannot serve as the {role} id; "
        "ids must be integers or text. Map another column or convert it."
    )


def _timestamp_seconds(arr: pa.Array, time_zone: str) -> np.ndarray:
    t = arr.type
    if t.tz is None and time_zone not in ("UTC", "Etc/UTC", "Z"):
        arr = pc.assume_timezone(arr, time_zone, ambiguous="earliest", nonexistent="earliest")
    raw = arr.cast(pa.int64())
    if raw.null_count:
        raw = raw.fill_null(0)
    values = raw.to_numpy(zero_copy_only=False)
    factor = _UNIT_PER_SECOND[t.unit]
    return values if factor == 1 else np.floor_divide(values, factor)


def _parse_text_slow(arr: pa.Array, time_format: str | None, time_zone: str):
    """Row-by-row parse (only for values the vectorized path rejects).

    Zoned values are converted exactly with integer arithmetic; naive ones go
    through the same Arrow ``assume_timezone`` as the fast path, so a value's
    time never depends on the other rows of its batch.
    """
    n = len(arr)
    seconds = np.zeros(n, np.int64)
    status = np.zeros(n, np.uint8)
    naive_rows: list[int] = []
    naive_values: list[dt.datetime] = []
    cache: dict[str, dt.datetime | None] = {}
    for i, value in enumerate(arr.to_pylist()):
        if value is None:
            status[i] = TIME_NULL
            continue
        if value not in cache:
            try:
                if time_format is not None:
                    cache[value] = dt.datetime.strptime(value.strip(), time_format)
                else:
                    cache[value] = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                cache[value] = None
        parsed = cache[value]
        if parsed is None:
            status[i] = TIME_BAD
        elif parsed.tzinfo is None:
            naive_rows.append(i)
            naive_values.append(parsed)
        else:
            seconds[i] = (parsed - _EPOCH) // _SECOND
    if naive_rows:
        naive = pa.array(naive_values, pa.timestamp("us"))
        seconds[np.array(naive_rows)] = _timestamp_seconds(naive, time_zone)
    return seconds, status


def _check_formatted(arr: pa.Array, parsed: pa.Array, status: np.ndarray, time_format: str,
                     time_zone: str, seconds: np.ndarray) -> None:
    """Re-check values whose parse does not print back the same (e.g. 31/02).

    ``pc.strptime`` normalizes impossible dates instead of rejecting them; a
    value that round-trips through ``strftime`` is genuine, and the others are
    parsed again, strictly, by Python.
    """
    ok = status == TIME_OK
    if not ok.any():
        return
    try:
        printed = pc.strftime(parsed, format=time_format)
        same = pc.equal(printed, pc.utf8_trim_whitespace(arr)).fill_null(False)
        suspect = ok & ~same.to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        suspect = ok
    if suspect.any():
        rows = np.flatnonzero(suspect)
        sec, st = _parse_text_slow(arr.take(pa.array(rows)), time_format, time_zone)
        seconds[rows] = sec
        status[rows] = st


def time_seconds(col: pa.Array | pa.ChunkedArray, where: str, column: str,
                 time_format: str | None = None, time_zone: str = "UTC"):
    """Convert a time column to int64 UTC seconds since the epoch.

    Parameters
    ----------
    col : pyarrow.Array or ChunkedArray
        Timestamp, date or text column.
    where, column : str
        For messages.
    time_format : str, optional
        strptime format for text; ISO 8601 when ``None``.
    time_zone : str
        Zone of naive values.

    Returns
    -------
    seconds : numpy.ndarray of int64
    status : numpy.ndarray of uint8
        0 ok, 1 null, 2 unparseable text or outside 0001-01-01 .. 9999-12-31.

    Raises
    ------
    SchemaError
        The column's type cannot serve as a time.
    """
    seconds, status = _time_seconds(col, where, column, time_format, time_zone)
    out_of_range = (seconds < MIN_SECONDS) | (seconds > MAX_SECONDS)
    if out_of_range.any():
        status = np.where(out_of_range & (status == TIME_OK), np.uint8(TIME_BAD), status)
    return seconds, status


def _time_seconds(col, where, column, time_format, time_zone):
    arr = as_array(col)
    t = arr.type
    n = len(arr)
    null_status = np.zeros(n, np.uint8)
    valid = validity(arr)
    if valid is not None:
        null_status[~valid] = TIME_NULL
    if pa.types.is_timestamp(t):
        return _timestamp_seconds(arr, time_zone), null_status
    if pa.types.is_date32(t):
        days = arr.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        return days.astype(np.int64) * 86400, null_status
    if pa.types.is_date64(t):
        ms = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        return np.floor_divide(ms, 1000), null_status
    if pa.types.is_null(t):
        return np.zeros(n, np.int64), np.full(n, TIME_NULL, np.uint8)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if time_format is not None:
            try:
                parsed = pc.strptime(arr, format=time_format, unit="s", error_is_null=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return _parse_text_slow(arr, time_format, time_zone)
            status = null_status.copy()
            bad = parsed.is_null().to_numpy(zero_copy_only=False) & (status == TIME_OK)
            status[bad] = TIME_BAD
            seconds = np.array(_timestamp_seconds(parsed, time_zone))
            _check_formatted(arr, parsed, status, time_format, time_zone, seconds)
            return seconds, status
        for target in (pa.timestamp("us"), pa.timestamp("us", tz="UTC")):
            try:
                parsed = pc.cast(arr, target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            return _timestamp_seconds(parsed, time_zone), null_status
        return _parse_text_slow(arr, None, time_zone)
    raise SchemaError(
        f"{where}: column {column!r} has type {t}, which cannot serve as the time; "
        "use a timestamp, a date or ISO 8601 text (or text with `time_format`)."
    )


def numbers(col: pa.Array | pa.ChunkedArray, where: str, column: str, role: str):
    """Convert a numeric column (quantity, price) to float64 (or float32) plus validity.

    Raises
    ------
    SchemaError
        The column is not numeric.
    """
    arr = as_array(col)
    t = arr.type
    if pa.types.is_null(t):
        return np.zeros(len(arr)), np.zeros(len(arr), bool)
    if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise SchemaError(
            f"{where}: column {column!r} has type {t}, which cannot serve as the {role}; "
            f"it must be numeric (for CSV, set types.{column} = \"float64\")."
        )
    valid = validity(arr)
    if not pa.types.is_float32(t):
        arr = arr.cast(pa.float64())
    if arr.null_count:
        arr = arr.fill_null(0)
    return arr.to_numpy(zero_copy_only=False), valid


def text_offsets(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Zero-copy UTF-8 bytes of a (large_)string array and its int64 offsets into them.

    Value ``i`` is ``data[offsets[i]:offsets[i + 1]]`` (a null is whatever its
    slot holds, usually empty); a sliced array is read at its offset.
    """
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise TypeError(f"text_offsets needs a string array, not {arr.type}")
    bufs = arr.buffers()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    if bufs[1] is None:
        offsets = np.zeros(len(arr) + 1, np.int64)
    else:
        offsets = np.frombuffer(bufs[1], width)[arr.offset:arr.offset + len(arr) + 1]
        offsets = offsets.astype(np.int64, copy=False)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    return offsets, data
