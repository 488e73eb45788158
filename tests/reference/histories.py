"""Plain-Python references for the kernels and the engine's data contracts.

Each function here is the slow, obviously-correct twin of a kernel or of an
engine step (loops, dicts and ``sorted``; no numba, no vectorized tricks), so
that tests can compare the fast code with it exactly. Floats that the engine
stores as float32 are rounded the same way with :func:`f32`.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

SECONDS_PER_DAY = 86400
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}

#: Drop reasons in the order a row is charged to them (a row counts once), as the
#: README and docs/project-file.md list them.
REASONS = ("null_customer", "null_item", "null_basket", "null_store", "null_time", "bad_time",
           "null_quantity", "non_positive_quantity")

#: Marker for a time that is present but cannot be parsed.
BAD = "<bad time>"


# --------------------------------------------------------------------------- ids


def encode_first_seen(batches: Iterable[Sequence], keys: list | None = None):
    """Codes in order of first appearance, incrementally across batches.

    Returns ``(codes per batch, keys)`` where ``keys[code]`` is the id.
    """
    keys = [] if keys is None else keys
    index = {k: c for c, k in enumerate(keys)}
    out = []
    for batch in batches:
        codes = []
        for v in batch:
            if v not in index:
                index[v] = len(keys)
                keys.append(v)
            codes.append(index[v])
        out.append(codes)
    return out, keys


def sorted_dictionary(keys: Sequence) -> tuple[list, list[int]]:
    """Sorted distinct ids and ``remap[first_seen_code] = rank``."""
    dictionary = sorted(keys)
    rank = {k: r for r, k in enumerate(dictionary)}
    return dictionary, [rank[k] for k in keys]


def ranks(values: Iterable) -> dict:
    """Id -> final code (rank among the sorted distinct ids)."""
    return {v: r for r, v in enumerate(sorted(set(values)))}


def inverse_permutation(order: Sequence[int]) -> list[int]:
    remap = [0] * len(order)
    for r, o in enumerate(order):
        remap[o] = r
    return remap


# ------------------------------------------------------------------------- times


def floor_div(a: int, b: int) -> int:
    return a // b  # Python floors, as the engine promises


def day_of(t: int) -> int:
    """Days since the epoch (floored)."""
    return t // SECONDS_PER_DAY


def seconds_from_unit(raw: int, unit: str) -> int:
    """A timestamp of ``unit`` (epoch based) as floored seconds."""
    return raw // UNIT_PER_SECOND[unit]


def _zone(name: str):
    return dt.UTC if name in ("UTC", "Etc/UTC", "Z") else ZoneInfo(name)


def _seconds_of(parsed: dt.datetime, time_zone: str) -> int:
    if parsed.tzinfo is None:
        # fold=0: the earlier of two ambiguous wall times.
        parsed = parsed.replace(tzinfo=_zone(time_zone))
    # Integer arithmetic on timedelta (never a float timestamp): exact floor.
    return (parsed - EPOCH) // dt.timedelta(seconds=1)


def iso_seconds(text: str, time_zone: str = "UTC") -> int | str:
    """ISO 8601 text as floored UTC seconds, or :data:`BAD`.

    Naive text is read in ``time_zone``. (Wall times inside a DST gap have no
    agreed meaning; tests keep away from them except to check consistency.)
    """
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return BAD
    return _seconds_of(parsed, time_zone)


def strptime_seconds(text: str, time_format: str, time_zone: str = "UTC") -> int | str:
    """Text in a strptime format as floored UTC seconds, or :data:`BAD`."""
    try:
        parsed = dt.datetime.strptime(text.strip(), time_format)
    except ValueError:
        return BAD
    return _seconds_of(parsed, time_zone)


def iso_text(seconds: int, micros: int = 0, sep: str = "T", suffix: str = "") -> str:
    """The ISO 8601 text of a UTC instant (``suffix`` e.g. ``"Z"`` or ``"+00:00"``)."""
    value = EPOCH + dt.timedelta(seconds=seconds, microseconds=micros)
    text = value.replace(tzinfo=None).isoformat(sep=sep)
    return text + suffix


# ------------------------------------------------------------------------ floats


def f32(x: float) -> float:
    """``x`` rounded to float32 (as ``numpy.float32(x)`` does, for finite x)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# ---------------------------------------------------------------------- validate


#: Times the engine keeps: 0001-01-01 .. 9999-12-31 UTC (days fit int32).
MIN_SECONDS = int((dt.datetime(1, 1, 1, tzinfo=dt.UTC) - EPOCH).total_seconds())
MAX_SECONDS = int((dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
                   - EPOCH).total_seconds())


def checked(t):
    """A parsed time as the engine keeps it: out-of-range instants are :data:`BAD`."""
    if isinstance(t, int) and not MIN_SECONDS <= t <= MAX_SECONDS:
        return BAD
    return t


def validate(rows: Sequence[dict], mapped: Iterable[str]) -> tuple[list[dict], dict[str, int]]:
    """Drop rows that fail validation, charging each to its first reason.

    ``rows`` hold original values per role; a time is an int (seconds), None
    (null) or :data:`BAD`. Only ``mapped`` roles are checked.
    """
    mapped = set(mapped)
    dropped = dict.fromkeys(REASONS, 0)
    kept = []
    for row in rows:
        q = row.get("quantity")
        checks = {
            "null_customer": row["customer"] is None,
            "null_item": row["item"] is None,
            "null_basket": "basket" in mapped and row["basket"] is None,
            "null_store": "store" in mapped and row["store"] is None,
            "null_time": row["time"] is None,
            "bad_time": checked(row["time"]) is BAD,
            "null_quantity": "quantity" in mapped and (q is None or not math.isfinite(q)),
            "non_positive_quantity": "quantity" in mapped and q is not None and q <= 0,
        }
        for reason in REASONS:
            if checks[reason]:
                dropped[reason] += 1
                break
        else:
            kept.append(row)
    return kept, dropped


# --------------------------------------------------------------------- histories


def line_key(line: dict) -> tuple:
    """(t, basket, item, quantity, price, store), absent columns left out."""
    return tuple(line[k] for k in ("t", "basket", "item", "quantity", "price", "store")
                 if k in line)


def histories_from_codes(lines: Sequence[dict], n_customers: int,
                         drop_duplicates: bool) -> dict:
    """Histories from lines already in final codes.

    ``lines``: dicts with ``customer``, ``item``, ``t`` and optionally
    ``basket``, ``quantity``, ``price``, ``store`` (codes / float32 values).
    Baskets are derived from distinct (customer, t) when ``basket`` is absent.
    """
    per: list[list[dict]] = [[] for _ in range(n_customers)]
    for line in lines:
        per[line["customer"]].append(line)
    has = {k: bool(lines) and k in lines[0] for k in ("basket", "quantity", "price", "store")}
    out = {"offsets": [0], "item": [], "day": [], "basket": [], "quantity": [], "price": [],
           "store": []}
    n_times: list[int] = []
    n_dups: list[int] = []
    next_basket = 0
    for group in per:
        group = sorted(group, key=line_key)
        times = 0
        dups = 0
        prev = None
        for line in group:
            first_t = prev is None or line["t"] != prev["t"]
            if first_t:
                times += 1
                next_basket += 1
            elif line_key(line) == line_key(prev):
                dups += 1
                if drop_duplicates:
                    continue  # prev stays an equal line
            prev = line
            out["item"].append(line["item"])
            out["day"].append(day_of(line["t"]))
            out["basket"].append(line["basket"] if has["basket"] else next_basket - 1)
            for k in ("quantity", "price", "store"):
                if has[k]:
                    out[k].append(line[k])
        n_times.append(times)
        n_dups.append(dups)
        out["offsets"].append(len(out["item"]))
    out["n_times"] = n_times
    out["n_dups"] = n_dups
    out["duplicates"] = sum(n_dups)
    return out


def sorted_groups(lines: Sequence[dict], n_customers: int) -> list[list[dict]]:
    """Each customer's lines sorted by :func:`line_key` (no dropping)."""
    per: list[list[dict]] = [[] for _ in range(n_customers)]
    for line in lines:
        per[line["customer"]].append(line)
    return [sorted(g, key=line_key) for g in per]


def input_sorted(lines: Sequence[dict]) -> bool:
    """Whether lines arrive ordered by (final customer, t)."""
    keys = [(line["customer"], line["t"]) for line in lines]
    return all(keys[i - 1] <= keys[i] for i in range(1, len(keys)))


def build_histories(rows: Sequence[dict], mapped: Iterable[str],
                    drop_duplicates: bool) -> dict:
    """The engine's whole build on original values: validate, encode, group, sort.

    ``rows``: dicts of original values per role (ids as int or str, ``time``
    as seconds / None / :data:`BAD`, ``quantity`` and ``price`` as floats or
    None). Returns offsets, line columns, the sorted dictionaries, dropped
    counts by reason (plus ``duplicate``) and the number of duplicates found.
    """
    mapped = set(mapped)
    kept, dropped = validate(rows, mapped)
    dicts = {}
    for role in ("customer", "item", "basket", "store"):
        if role in mapped:
            dicts[role] = sorted({r[role] for r in kept})
    code = {role: {v: i for i, v in enumerate(d)} for role, d in dicts.items()}
    lines = []
    for r in kept:
        line = {"customer": code["customer"][r["customer"]], "item": code["item"][r["item"]],
                "t": r["time"]}
        if "basket" in mapped:
            line["basket"] = code["basket"][r["basket"]]
        if "quantity" in mapped:
            line["quantity"] = f32(r["quantity"])
        if "price" in mapped:
            line["price"] = f32(0.0 if r["price"] is None else r["price"])
        if "store" in mapped:
            line["store"] = code["store"][r["store"]]
        lines.append(line)
    out = histories_from_codes(lines, len(dicts["customer"]), drop_duplicates)
    dropped["duplicate"] = out["duplicates"] if drop_duplicates else 0
    return {
        "offsets": out["offsets"],
        "item": out["item"],
        "day": out["day"],
        "basket": out["basket"],
        "quantity": out["quantity"] if "quantity" in mapped else None,
        "price": out["price"] if "price" in mapped else None,
        "store": out["store"] if "store" in mapped else None,
        "customer_ids": dicts["customer"],
        "item_ids": dicts["item"],
        "basket_ids": dicts.get("basket"),
        "store_ids": dicts.get("store"),
        "dropped": dropped,
        "duplicates_found": out["duplicates"],
        "rows_read": len(rows),
    }
