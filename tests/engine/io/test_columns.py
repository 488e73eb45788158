"""Arrow -> NumPy conversion (engine.columns) against tests/reference/histories.py.

Columns are built the way files hand them over: chunked, with empty chunks,
slices with non-zero offsets, nulls and dictionary encoding.
"""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import SchemaError
from basketguard.engine.io.columns import (
    TIME_BAD,
    TIME_NULL,
    TIME_OK,
    id_column,
    numbers,
    plain_number,
    time_seconds,
)
from tests.reference import histories as naive

I64_MIN, I64_MAX = naive.INT64_MIN, naive.INT64_MAX


def chunked(values: list, type_: pa.DataType, cuts=(), pad=0, dictionary=False):
    """``values`` as a ChunkedArray split at ``cuts``; each chunk a slice of a
    padded array (offset ``pad``) and optionally dictionary-encoded."""
    bounds = [0, *sorted(cuts), len(values)]
    chunks = []
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        piece = values[a:b]
        filler = [piece[0] if piece else None] * pad
        arr = pa.array(filler + piece + filler, type_).slice(pad, len(piece))
        chunks.append(arr.dictionary_encode() if dictionary else arr)
    out_type = chunks[0].type if chunks else type_
    return pa.chunked_array(chunks, out_type)


@st.composite
def layouts(draw, n):
    """Chunk cuts (empty chunks allowed) and a slice offset."""
    return {"cuts": draw(st.lists(st.integers(0, n), max_size=4)),
            "pad": draw(st.integers(0, 2))}


def _valid_list(valid, n):
    return [True] * n if valid is None else valid.tolist()


# ------------------------------------------------------------------- id_column

INT_TYPES = {
    "int8": (pa.int8(), -(2**7), 2**7 - 1),
    "int16": (pa.int16(), -(2**15), 2**15 - 1),
    "int32": (pa.int32(), -(2**31), 2**31 - 1),
    "int64": (pa.int64(), I64_MIN, I64_MAX),
    "uint8": (pa.uint8(), 0, 2**8 - 1),
    "uint32": (pa.uint32(), 0, 2**32 - 1),
    "uint64": (pa.uint64(), 0, I64_MAX),
    "float64": (pa.float64(), -(2**53), 2**53),
}


@st.composite
def int_id_columns(draw):
    name = draw(st.sampled_from(sorted(INT_TYPES)))
    type_, lo, hi = INT_TYPES[name]
    ids = st.one_of(st.sampled_from([lo, hi, 0]), st.integers(lo, hi))
    values = draw(st.lists(st.one_of(st.none(), ids), max_size=12))
    lay = draw(layouts(len(values)))
    dictionary = name != "float64" and draw(st.booleans())
    return values, chunked(values, type_, dictionary=dictionary, **lay)


@given(int_id_columns())
def test_id_column_ints_match_reference(case):
    values, col = case
    got = id_column(col, "src", "c", "customer")
    assert got.kind == "int" and got.ints.dtype == np.int64 and len(got) == len(values)
    valid = _valid_list(got.valid, len(values))
    assert valid == [v is not None for v in values]
    assert [x for x, ok in zip(got.ints.tolist(), valid, strict=True) if ok] == [
        v for v in values if v is not None]


@given(st.lists(st.one_of(st.none(), st.text("ab\u00e9\U0001f600", max_size=3)), max_size=12),
       st.sampled_from(["string", "large_string", "dictionary"]), st.data())
def test_id_column_text_matches_reference(values, kind, data):
    type_ = pa.large_string() if kind == "large_string" else pa.string()
    col = chunked(values, type_, dictionary=kind == "dictionary", **data.draw(layouts(len(values))))
    got = id_column(col, "src", "c", "item")
    assert got.kind == "str" and len(got) == len(values)
    assert _valid_list(got.valid, len(values)) == [v is not None for v in values]
    assert got.strings.to_pylist() == values


ID_CASES = {
    "empty_chunked": (pa.chunked_array([], pa.int64()), []),
    "empty_chunks_only": (pa.chunked_array([pa.array([], pa.int32())] * 3), []),
    "all_null_typed": (pa.array([None, None], pa.int64()), [None, None]),
    "null_type": (pa.array([None, None]), [None, None]),
    "int64_extremes": (pa.array([I64_MIN, I64_MAX, -1]), [I64_MIN, I64_MAX, -1]),
    "uint64_at_int64_max": (pa.array([I64_MAX, 0], pa.uint64()), [I64_MAX, 0]),
    "integral_floats_csv": (pa.array([17850.0, -3.0, None]), [17850, -3, None]),
    "float_negative_zero": (pa.array([-0.0]), [0]),
    "float_just_below_2_62": (pa.array([2.0**62 - 1024]), [2**62 - 1024]),
    "one_row_slice": (pa.array([5, 6, 7], pa.int16()).slice(2), [7]),
    "many_chunks": (pa.chunked_array([pa.array([i]) for i in range(30)]), list(range(30))),
    "dictionary_ints": (pa.array([3, 1, 3, None]).dictionary_encode(), [3, 1, 3, None]),
}


@pytest.mark.parametrize("col, want", ID_CASES.values(), ids=ID_CASES.keys())
def test_id_column_cases(col, want):
    got = id_column(col, "src", "c", "customer")
    valid = _valid_list(got.valid, len(want))
    assert valid == [v is not None for v in want]
    assert [x for x, ok in zip(got.ints.tolist(), valid, strict=True) if ok] == [
        v for v in want if v is not None]


ID_ERRORS = {
    "bool": pa.array([True, False]),
    "non_integral_float": pa.array([1.0, 2.5]),
    "nan": pa.array([1.0, float("nan")]),
    "inf": pa.array([float("inf")]),
    "float_2_62": pa.array([2.0**62]),
    "uint64_above_int64": pa.array([2**63], pa.uint64()),
    "timestamp": pa.array([0], pa.timestamp("s")),
    "decimal": pa.array([decimal.Decimal("1.5")]),
}


@pytest.mark.parametrize("col", ID_ERRORS.values(), ids=ID_ERRORS.keys())
def test_id_column_rejects(col):
    with pytest.raises(SchemaError, match=r"src: column 'cid'"):
        id_column(col, "src", "cid", "customer")


@pytest.mark.parametrize("col, says", [
    pytest.param(pa.array([1.0, 2.5]), "non-integral numbers such as 2.5 ", id="fraction"),
    pytest.param(pa.array([float("nan")]), "non-integral numbers such as NaN ", id="nan"),
    pytest.param(pa.array([float("-inf")]), "such as -infinity ", id="minus_inf"),
    pytest.param(pa.array([2.0**62]), "too large to be exact ids such as 4611686018427387904 ",
                 id="too_large"),
])
def test_id_errors_write_numbers_plainly(col, says):
    # Never a NumPy repr such as np.float64(2.5) (issue 14); item ids are not personal.
    with pytest.raises(SchemaError) as info:
        id_column(col, "src", "sku", "item")
    assert says in str(info.value)
    assert "np." not in str(info.value)


def test_malformed_customer_ids_are_never_echoed():
    with pytest.raises(SchemaError) as info:
        id_column(pa.array([1.0, 17850.5]), "src", "cid", "customer")
    msg = str(info.value)
    assert "non-integral numbers (1 value(s))" in msg and "17850" not in msg


@pytest.mark.parametrize("value, text", [
    pytest.param(np.float64(0.5), "0.5", id="numpy_half"),
    pytest.param(np.float32(17850.0), "17850", id="integral_float32"),
    pytest.param(np.int64(-3), "-3", id="numpy_int"),
    pytest.param(1e300, "1e+300", id="huge"),
    pytest.param(float("inf"), "infinity", id="inf"),
])
def test_plain_number(value, text):
    assert plain_number(value) == text


def test_id_column_ignores_bad_floats_under_nulls():
    # A null slot's hidden value must not be checked (filled with 0 first).
    arr = pa.array([1.5, 2.0], mask=np.array([True, False]))
    got = id_column(arr, "src", "c", "customer")
    assert got.valid.tolist() == [False, True] and got.ints[1] == 2


# ----------------------------------------------------------------- time_seconds

#: Instants with a fraction kept to |t| < 2^31 s (see the slow-path xfail below).
SECONDS = st.one_of(
    st.sampled_from([-86401, -86400, -1, 0, 1, 86399, 86400, 1_293_840_000]),
    st.integers(-(2**33), 2**33),
)
TS_TYPES = {
    "s": pa.timestamp("s"),
    "ms": pa.timestamp("ms"),
    "us": pa.timestamp("us"),
    "ns": pa.timestamp("ns"),
    "s_utc": pa.timestamp("s", tz="UTC"),
    "ms_kolkata": pa.timestamp("ms", tz="Asia/Kolkata"),
    "us_new_york": pa.timestamp("us", tz="America/New_York"),
    "ns_plus_01": pa.timestamp("ns", tz="+01:00"),
}


@st.composite
def time_columns(draw):
    """(column, expected seconds or None/BAD per row) for every supported time type."""
    kind = draw(st.sampled_from([*TS_TYPES, "date32", "date64", "iso"]))
    n = draw(st.integers(0, 10))
    values, want = [], []
    for _ in range(n):
        if draw(st.integers(0, 5)) == 0:
            values.append(None)
            want.append(None)
            continue
        s = draw(SECONDS)
        if kind in TS_TYPES:
            unit = TS_TYPES[kind].unit
            per = naive.UNIT_PER_SECOND[unit]
            raw = s * per + draw(st.integers(0, per - 1))
            values.append(raw)
            want.append(naive.seconds_from_unit(raw, unit))
        elif kind == "date32":
            days = naive.day_of(s)
            values.append(days)
            want.append(days * 86400)
        elif kind == "date64":
            ms = s * 1000 + draw(st.integers(0, 999))
            values.append(ms)
            want.append(naive.floor_div(ms, 1000))
        else:
            if draw(st.integers(0, 6)) == 0:
                text = draw(st.sampled_from(["garbage", "2011-13-01T00:00:00", ""]))
            else:
                micros = draw(st.integers(0, 999_999)) if abs(s) < 2**31 else 0
                text = naive.iso_text(s, micros, draw(st.sampled_from(["T", " "])),
                                      draw(st.sampled_from(["", "Z", "+00:00"])))
            values.append(text)
            want.append(naive.iso_seconds(text))
    if kind in TS_TYPES:
        type_ = TS_TYPES[kind]
        arrow_values = values
    elif kind in ("date32", "date64"):
        type_ = pa.date32() if kind == "date32" else pa.date64()
        arrow_values = values
    else:
        type_ = pa.string()
        arrow_values = values
    lay = draw(layouts(n))
    if kind in TS_TYPES or kind in ("date32", "date64"):
        storage = pa.int32() if kind == "date32" else pa.int64()
        col = chunked(arrow_values, storage, **lay)
        col = pa.chunked_array([c.cast(type_) for c in col.chunks], type_)
    else:
        col = chunked(arrow_values, type_, dictionary=draw(st.booleans()), **lay)
    return col, want


def _check_times(col, want, **kw):
    seconds, status = time_seconds(col, "src", "t", **kw)
    want = [naive.checked(w) for w in want]
    assert seconds.dtype == np.int64 and status.dtype == np.uint8
    want_status = [TIME_NULL if w is None else TIME_BAD if w is naive.BAD else TIME_OK
                   for w in want]
    assert status.tolist() == want_status
    got = [s if st_ == TIME_OK else w for s, st_, w in
           zip(seconds.tolist(), status.tolist(), want, strict=True)]
    assert got == want


@given(time_columns())
def test_time_seconds_matches_reference(case):
    _check_times(*case)


def _ts(values, unit, tz=None):
    return pa.array(values, pa.int64()).cast(pa.timestamp(unit, tz=tz))


TIME_CASES = {
    "empty": (pa.chunked_array([], pa.timestamp("s")), [], {}),
    "null_type": (pa.array([None]), [None], {}),
    "before_1970_every_unit": (pa.chunked_array([_ts([-1], "s"), _ts([-1], "ms"),
                                                 _ts([-1], "us"), _ts([-1], "ns")]
                                                [:1]), [-1], {}),
    "ns_minus_one": (_ts([-1, -(10**9), -(10**9) - 1], "ns"), [-1, -1, -2], {}),
    "ms_minus_one": (_ts([-1, -1000, -1001], "ms"), [-1, -1, -2], {}),
    "year_1_iso": (pa.array(["0001-01-01T00:00:00"]), [-62135596800], {}),
    "year_9999_iso": (pa.array(["9999-12-31T23:59:59.999999"]), [253402300799], {}),
    "far_future_seconds": (_ts([10**13], "s"), [10**13], {}),
    "date32_before_1970": (pa.array([-1, None], pa.int32()).cast(pa.date32()),
                           [-86400, None], {}),
    "date64_before_1970": (pa.array([-1], pa.int64()).cast(pa.date64()), [-1], {}),
    "tz_aware_ignores_time_zone": (_ts([0], "s", "Asia/Tokyo"), [0],
                                   {"time_zone": "Europe/Paris"}),
    "naive_in_time_zone": (_ts([0], "s"), [-3600], {"time_zone": "Europe/Paris"}),
    "naive_iso_in_time_zone": (pa.array(["2011-07-01T12:00:00"]),
                               [naive.iso_seconds("2011-07-01T12:00:00", "Europe/Paris")],
                               {"time_zone": "Europe/Paris"}),
    "ambiguous_takes_earliest": (pa.array(["2021-10-31T02:30:00"]),
                                 [naive.iso_seconds("2021-10-31T02:30:00", "Europe/Paris")],
                                 {"time_zone": "Europe/Paris"}),
    "iso_offsets": (pa.array(["2011-01-01T01:00:00+01:00", "2011-01-01T00:00:00Z"]),
                    [1293840000, 1293840000], {}),
    "iso_mixed_naive_and_offset": (pa.array(["2011-01-01T01:00:00+01:00",
                                             "2011-01-01T00:00:00"]),
                                   [1293840000, 1293840000 - 3600],
                                   {"time_zone": "Europe/Paris"}),
    "iso_date_only": (pa.array(["2011-01-01"]), [1293840000], {}),
    "iso_whitespace": (pa.array([" 2011-01-01T00:00:00 "]), [1293840000], {}),
    "iso_bad_and_null": (pa.array(["nope", None, "2011-01-01"]),
                         [naive.BAD, None, 1293840000], {}),
    "iso_before_1970_fraction": (pa.array(["1969-12-31T23:59:59.5"]), [-1], {}),
    "iso_dictionary_sliced": (pa.array(["x", "1970-01-02", "1970-01-02", None])
                              .dictionary_encode().slice(1), [86400, 86400, None], {}),
    "large_string": (pa.array(["1970-01-01T00:00:01"], pa.large_string()), [1], {}),
    "time_format": (pa.array(["01/02/2011 08:00", "32/01/2011 08:00", None]),
                    [naive.strptime_seconds("01/02/2011 08:00", "%d/%m/%Y %H:%M"),
                     naive.BAD, None], {"time_format": "%d/%m/%Y %H:%M"}),
    "time_format_in_zone": (pa.array(["01/07/2011 08:00"]),
                            [naive.strptime_seconds("01/07/2011 08:00", "%d/%m/%Y %H:%M",
                                                    "America/New_York")],
                            {"time_format": "%d/%m/%Y %H:%M", "time_zone": "America/New_York"}),
    "many_chunks": (pa.chunked_array([_ts([i], "s") for i in range(25)]), list(range(25)), {}),
}


@pytest.mark.parametrize("col, want, kw", TIME_CASES.values(), ids=TIME_CASES.keys())
def test_time_seconds_cases(col, want, kw):
    _check_times(col, want, **kw)


@pytest.mark.parametrize("col", [pa.array([1, 2]), pa.array([1.5]), pa.array([True])],
                         ids=["int", "float", "bool"])
def test_time_seconds_rejects(col):
    with pytest.raises(SchemaError, match=r"src: column 't'.*cannot serve as the time"):
        time_seconds(col, "src", "t")


def test_time_format_rejects_impossible_dates():
    _check_times(pa.array(["31/02/2011 08:00"]), [naive.BAD], time_format="%d/%m/%Y %H:%M")


SLOW_PATH_BUGS = {
    "far_future_fraction": ("9999-12-31T23:59:59.999999", "UTC"),
    "dst_gap": ("2021-03-28T02:30:00", "Europe/Paris"),
}


@pytest.mark.parametrize("text, tz", SLOW_PATH_BUGS.values(), ids=SLOW_PATH_BUGS.keys())
def test_time_of_a_text_does_not_depend_on_its_batch(text, tz):
    alone, _ = time_seconds(pa.array([text]), "src", "t", time_zone=tz)
    beside_bad, status = time_seconds(pa.array([text, "garbage"]), "src", "t", time_zone=tz)
    assert status.tolist() == [TIME_OK, TIME_BAD]
    assert beside_bad[0] == alone[0]


@given(st.lists(st.tuples(SECONDS, st.integers(0, 999_999)), min_size=1, max_size=6))
def test_time_slow_path_agrees_with_fast_path(instants):
    # Within |t| < 2^33 s and in UTC both parsers must agree exactly.
    texts = [naive.iso_text(s, m if abs(s) < 2**31 else 0) for s, m in instants]
    fast, _ = time_seconds(pa.array(texts), "src", "t")
    slow, _ = time_seconds(pa.array([*texts, "garbage"]), "src", "t")
    assert slow[:-1].tolist() == fast.tolist() == [naive.iso_seconds(t) for t in texts]


# ---------------------------------------------------------------------- numbers

NUM_TYPES = {
    "int8": pa.int8(), "int64": pa.int64(), "uint16": pa.uint16(), "float32": pa.float32(),
    "float64": pa.float64(),
}


@given(st.sampled_from(sorted(NUM_TYPES)), st.data())
def test_numbers_match_reference(name, data):
    type_ = NUM_TYPES[name]
    if pa.types.is_integer(type_):
        lo, hi = (0, 2**16 - 1) if name == "uint16" else (-(2**7), 2**7 - 1)
        if name == "int64":
            lo, hi = -(2**53), 2**53
        elem = st.integers(lo, hi)
    else:
        elem = st.floats(allow_nan=False, width=32 if name == "float32" else 64)
    values = data.draw(st.lists(st.one_of(st.none(), elem), max_size=10))
    col = chunked(values, type_, dictionary=data.draw(st.booleans()),
                  **data.draw(layouts(len(values))))
    got, valid = numbers(col, "src", "q", "quantity")
    assert got.dtype == (np.float32 if name == "float32" else np.float64)  # float32 stays
    assert _valid_list(valid, len(values)) == [v is not None for v in values]
    assert got.tolist() == [0.0 if v is None else float(v) for v in values]


NUMBER_CASES = {
    "empty": (pa.chunked_array([], pa.float64()), []),
    "null_type": (pa.array([None, None]), [None, None]),
    "decimal": (pa.array([decimal.Decimal("1.25"), None]), [1.25, None]),
    "nan_is_a_value": (pa.array([float("nan")]), [float("nan")]),
    "negative_and_zero": (pa.array([-2, 0], pa.int32()), [-2.0, 0.0]),
    "sliced": (pa.array([9.0, 1.5, 2.5]).slice(1, 1), [1.5]),
}


@pytest.mark.parametrize("col, want", NUMBER_CASES.values(), ids=NUMBER_CASES.keys())
def test_numbers_cases(col, want):
    got, valid = numbers(col, "src", "q", "quantity")
    assert _valid_list(valid, len(want)) == [v is not None for v in want]
    for g, w in zip(got.tolist(), want, strict=True):
        if w is not None:
            assert g == w or (np.isnan(g) and np.isnan(w))


@pytest.mark.parametrize("col", [pa.array(["1"]), pa.array([True]),
                                 pa.array([dt.date(2011, 1, 1)])],
                         ids=["text", "bool", "date"])
def test_numbers_reject(col):
    with pytest.raises(SchemaError, match=r"src: column 'q'.*cannot serve as the quantity"):
        numbers(col, "src", "q", "quantity")
