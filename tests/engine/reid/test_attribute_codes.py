"""Attribute encoding (engine.reid.attributes.dictionary_codes) against Arrow's own.

The fast path reads string, integer and dictionary columns straight from their
buffers; its codes and values must be exactly those of
``pyarrow.compute.dictionary_encode(null_encoding="encode")`` of the decoded,
combined column, for every layout (slices, chunks, nulls, repeated or null
dictionary entries, large strings).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.reid.attributes import dictionary_codes, encode_attributes

TEXTS = ["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefghijklmnopq", "y" * 33, "é", None]


def _arrow(col):
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    enc = pc.dictionary_encode(col, null_encoding="encode")
    return enc.indices.to_numpy(zero_copy_only=False).tolist(), enc.dictionary.to_pylist()


def _same(col):
    codes, values = dictionary_codes(col)
    ref_codes, ref_values = _arrow(col)
    assert codes.dtype == np.int32
    assert codes.tolist() == ref_codes
    assert [repr(v) for v in values] == [repr(v) for v in ref_values]


def _layouts(arr, cut):
    cut = min(cut, len(arr))
    yield arr
    yield arr.slice(cut)
    yield pa.chunked_array([arr])
    yield pa.chunked_array([arr.slice(0, cut), arr.slice(cut)], arr.type)
    d = pc.dictionary_encode(arr)
    yield d
    yield d.slice(cut)
    yield pa.chunked_array([d.slice(0, cut), d.slice(cut)], d.type)


@given(st.lists(st.sampled_from(TEXTS), max_size=40), st.integers(0, 6),
       st.sampled_from([pa.string(), pa.large_string()]))
def test_strings_match_arrow(values, cut, typ):
    for col in _layouts(pa.array(values, typ), cut):
        _same(col)


INT_TYPES = [pa.int8(), pa.uint8(), pa.int16(), pa.uint16(), pa.int32(), pa.uint32(),
             pa.int64(), pa.uint64()]


@given(st.data(), st.sampled_from(INT_TYPES), st.integers(0, 6))
def test_integers_match_arrow(data, typ, cut):
    info = np.iinfo(typ.to_pandas_dtype())
    pool = [int(info.min), int(info.max), 0, 1, None]
    values = data.draw(st.lists(st.sampled_from(pool), max_size=40))
    for col in _layouts(pa.array(values, typ), cut):
        _same(col)


@given(st.lists(st.one_of(st.none(), st.integers(0, 5)), max_size=40))
def test_dictionary_with_repeated_and_null_entries(indices):
    # entries 0/3 and 1/4 are equal, entry 2 is a null value
    dictionary = pa.array(["p", "q", None, "p", "q", "r"])
    col = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), dictionary)
    _same(col)
    _same(col.slice(min(2, len(col))))


@pytest.mark.parametrize("values", [
    [0.0, -0.0, float("nan"), None, 0.0, float("nan")],
    [True, None, False, True],
    [],
], ids=["floats", "booleans", "empty"])
def test_other_types_go_through_arrow(values):
    _same(pa.array(values))


def test_empty_chunked_and_all_null():
    _same(pa.chunked_array([], pa.string()))
    _same(pa.array([None, None], pa.string()))
    _same(pa.array([None, None], pa.int16()))
    t = pa.table({"customer": pa.array([], pa.int64()), "a": pa.array([], pa.string())})
    enc = encode_attributes(t)
    assert enc.cards == (1,) and enc.codes[0].size == 0 and enc.labels == ((),)


def test_many_distinct_values(rng):
    words = [f"w{i}" + "q" * (i % 19) for i in range(5000)]
    pick = rng.integers(0, len(words), 40000)
    _same(pa.array([None if j % 101 == 0 else words[j] for j in pick]))
    _same(pa.array(rng.integers(-(2**40), 2**40, 3000)[pick % 3000]))


def test_threaded_encoding_is_the_sequential_one(rng):
    from basketguard.engine.errors import ConfigError
    from basketguard.engine.reid import attributes

    n = 40_000  # 7 columns: above the threading threshold
    assert n * 7 >= attributes._THREADED_CELLS
    words = np.array(["a", "bb", None, "ccccccccc", "d" * 20], dtype=object)
    cols = {f"s{j}": pa.array(words[rng.integers(0, 5, n)].tolist()) for j in range(4)}
    cols |= {f"i{j}": pa.array(rng.integers(-3, 4, n).astype(np.int16)) for j in range(3)}
    t = pa.table({"customer": pa.array(np.arange(n)), **cols})
    enc = encode_attributes(t)
    assert enc.names == tuple(cols)
    for name, codes, card, labels in zip(enc.names, enc.codes, enc.cards, enc.labels,
                                         strict=True):
        ref_codes, ref_values = _arrow(t.column(name))
        assert codes.tolist() == ref_codes and list(labels) == ref_values
        assert card == len(ref_values)
    # the first failing column (in attribute order) is the one reported
    with pytest.raises(ConfigError, match="'s1'"):
        encode_attributes(t, hierarchies={"s3": {"a": "x"}, "s1": {"a": "x"}})
