"""Id encoding (kernels.encode, engine.encoding) against tests/reference/histories.py."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.errors import SchemaError
from basketguard.engine.io.columns import IdColumn
from basketguard.engine.io.encoding import IdEncoder
from basketguard.kernels.encode import (
    build_direct,
    build_hash,
    encode_ascending,
    encode_direct,
    encode_hash,
    first_seen_ints,
    first_seen_strings,
    grow_hash,
    hash_shift,
    rank_remap,
)
from tests.reference import histories as naive

I64_MIN, I64_MAX = naive.INT64_MIN, naive.INT64_MAX

small_ids = st.integers(-6, 6)
wide_ids = st.one_of(st.sampled_from([I64_MIN, I64_MIN + 1, -1, 0, 1, 2**40, I64_MAX - 1,
                                      I64_MAX]),
                     st.integers(I64_MIN, I64_MAX))


def batches_of(ids, max_batches=5, max_size=6):
    return st.lists(st.lists(ids, max_size=max_size), max_size=max_batches)


def _arr(batch) -> np.ndarray:
    return np.array(batch, dtype=np.int64).reshape(-1)


def _direct_run(batches):
    flat = [v for b in batches for v in b]
    base = min(flat, default=0)
    span = max(flat, default=0) - base + 1
    table = np.full(span, -1, np.int32)
    keys = np.empty(len(flat) + 1, np.int64)
    n = 0
    got = []
    for b in batches:
        codes, n = encode_direct(_arr(b), base, table, keys, n)
        assert codes.dtype == np.int32
        got.append(codes.tolist())
    return got, keys[:n].tolist()


def _hash_run(batches):
    flat = [v for b in batches for v in b]
    keys = np.empty(len(flat) + 1, np.int64)
    cap = 1 << (2 * len(flat) + 1).bit_length()
    hkeys, hcodes = build_hash(keys, 0, cap)
    n = 0
    got = []
    for b in batches:
        codes, n = encode_hash(_arr(b), hkeys, hcodes, keys, n)
        assert codes.dtype == np.int32
        got.append(codes.tolist())
    return got, keys[:n].tolist()


# ------------------------------------------------------------------ encode_direct


@given(batches_of(small_ids))
def test_encode_direct_matches_first_seen(batches):
    assert _direct_run(batches) == naive.encode_first_seen(batches)


DIRECT_CASES = {
    "empty": [],
    "empty_batches": [[], [], []],
    "one_id": [[5]],
    "all_same": [[3, 3, 3], [3], [3, 3]],
    "negative": [[-3, -1, -3], [-2]],
    "int64_max_only": [[I64_MAX, I64_MAX]],
    "int64_min_only": [[I64_MIN], [I64_MIN]],
    "int64_max_edge": [[I64_MAX - 2, I64_MAX], [I64_MAX - 1, I64_MAX - 2]],
    "int64_min_edge": [[I64_MIN + 2, I64_MIN], [I64_MIN + 1]],
    "batches_of_one": [[4], [2], [4], [3], [2]],
    "many_batches": [[i % 7] for i in range(60)],
}


@pytest.mark.parametrize("batches", DIRECT_CASES.values(), ids=DIRECT_CASES.keys())
def test_encode_direct_cases(batches):
    assert _direct_run(batches) == naive.encode_first_seen(batches)


def test_encode_direct_rejects_values_outside_table():
    table = np.full(4, -1, np.int32)
    keys = np.empty(8, np.int64)
    with pytest.raises(ValueError, match="outside"):
        encode_direct(np.array([4], np.int64), 0, table, keys, 0)
    with pytest.raises(ValueError, match="outside"):
        encode_direct(np.array([-1], np.int64), 0, table, keys, 0)


def test_encode_direct_range_check_does_not_overflow():
    table = np.full(10, -1, np.int32)
    keys = np.empty(4, np.int64)
    with pytest.raises(ValueError, match="outside"):
        encode_direct(np.array([I64_MAX], np.int64), -1, table, keys, 0)


@pytest.mark.parametrize("values, keys, err", [
    (np.array([1], np.int32), np.empty(4, np.int64), TypeError),
    (np.array([[1]], np.int64), np.empty(4, np.int64), TypeError),
    (np.array([1, 2], np.int64), np.empty(1, np.int64), ValueError),
    (np.array([1], np.int64), np.empty(4, np.int32), ValueError),
], ids=["int32_values", "2d_values", "keys_too_short", "keys_wrong_dtype"])
def test_encode_direct_checks_arguments(values, keys, err):
    with pytest.raises(err):
        encode_direct(values, 0, np.full(4, -1, np.int32), keys, 0)


# ------------------------------------------------------ runs (a basket's lines)
def _runs(ids):
    """Batches of ids in runs of repeats, as logs list a basket's lines together."""
    run = st.tuples(ids, st.integers(1, 4))
    return st.lists(st.lists(run, max_size=4).map(lambda rs: [v for v, k in rs for _ in range(k)]),
                    max_size=4)


@given(_runs(small_ids))
def test_encode_direct_runs_match_first_seen(batches):
    assert _direct_run(batches) == naive.encode_first_seen(batches)


@given(_runs(wide_ids))
def test_encode_hash_runs_match_first_seen(batches):
    assert _hash_run(batches) == naive.encode_first_seen(batches)


# -------------------------------------------------------------------- encode_hash


@given(batches_of(wide_ids))
def test_encode_hash_matches_first_seen(batches):
    assert _hash_run(batches) == naive.encode_first_seen(batches)


HASH_CASES = {
    "empty": [],
    "empty_batches": [[], []],
    "one_id": [[7]],
    "extremes": [[I64_MIN, I64_MAX, 0, -1], [I64_MAX, I64_MIN]],
    "span_over_2_40": [[0, 2**40 + 1, 2**41], [2**40 + 1, -(2**45)]],
    "same_slot_multiples": [[i << 58 for i in range(8)], [3 << 58]],  # high bits only
    "all_same": [[9] * 5, [9]],
    "batches_of_one": [[1], [2**50], [1], [-(2**50)]],
    "runs": [[5, 5, 5, -1, -1, 5], [5, 5, 2**60, 2**60], [2**60]],
}


@pytest.mark.parametrize("batches", HASH_CASES.values(), ids=HASH_CASES.keys())
def test_encode_hash_cases(batches):
    assert _hash_run(batches) == naive.encode_first_seen(batches)


def test_encode_hash_rejects_bad_tables():
    keys = np.empty(8, np.int64)
    with pytest.raises(ValueError, match="power-of-two"):
        encode_hash(np.array([1], np.int64), np.zeros(6, np.int64), np.full(6, -1, np.int32),
                    keys, 0)
    with pytest.raises(ValueError, match="too small"):
        encode_hash(np.array([1, 2, 3, 4], np.int64), np.zeros(4, np.int64),
                    np.full(4, -1, np.int32), keys, 0)


# ---------------------------------------------------------- build_direct / _hash


@given(st.lists(small_ids, max_size=10), st.lists(small_ids, max_size=10))
def test_build_direct_continues_encoding(first, second):
    _, keys = naive.encode_first_seen([first])
    base = min(first + second, default=0)
    span = max(first + second, default=0) - base + 1
    karr = np.empty(len(first) + len(second) + 1, np.int64)
    karr[: len(keys)] = keys
    table = build_direct(karr, len(keys), base, span)
    assert [table[k - base] for k in keys] == list(range(len(keys)))
    assert int((table >= 0).sum()) == len(keys)
    codes, n = encode_direct(_arr(second), base, table, karr, len(keys))
    (want,), want_keys = naive.encode_first_seen([second], list(keys))
    assert codes.tolist() == want and karr[:n].tolist() == want_keys


@given(st.lists(wide_ids, max_size=10), st.lists(wide_ids, max_size=10))
def test_build_hash_continues_encoding(first, second):
    _, keys = naive.encode_first_seen([first])
    karr = np.empty(len(first) + len(second) + 1, np.int64)
    karr[: len(keys)] = keys
    cap = 1 << (2 * (len(first) + len(second)) + 1).bit_length()
    hkeys, hcodes = build_hash(karr, len(keys), cap)
    assert sorted(hcodes[hcodes >= 0].tolist()) == list(range(len(keys)))
    assert {int(hkeys[s]): int(hcodes[s]) for s in np.flatnonzero(hcodes >= 0)} == {
        k: c for c, k in enumerate(keys)}
    codes, n = encode_hash(_arr(second), hkeys, hcodes, karr, len(keys))
    (want,), want_keys = naive.encode_first_seen([second], list(keys))
    assert codes.tolist() == want and karr[:n].tolist() == want_keys


@given(st.lists(wide_ids, max_size=12), st.lists(wide_ids, max_size=12),
       st.integers(0, 3))
def test_grow_hash_continues_encoding(first, second, doublings):
    """A table grown in slot order holds the entries of the smaller one and encodes on."""
    _, keys = naive.encode_first_seen([first])
    karr = np.empty(len(first) + len(second) + 1, np.int64)
    karr[: len(keys)] = keys
    cap = 1 << (2 * len(keys) + 1).bit_length()
    hkeys, hcodes = build_hash(karr, len(keys), cap)
    big = 1 << (2 * (len(first) + len(second)) + 1).bit_length() + doublings
    gkeys, gcodes = grow_hash(hkeys, hcodes, big)
    assert gcodes.shape[0] == big
    assert {int(gkeys[s]): int(gcodes[s]) for s in np.flatnonzero(gcodes >= 0)} == {
        k: c for c, k in enumerate(keys)}
    codes, n = encode_hash(_arr(second), gkeys, gcodes, karr, len(keys))
    (want,), want_keys = naive.encode_first_seen([second], list(keys))
    assert codes.tolist() == want and karr[:n].tolist() == want_keys


def test_grow_hash_rejects_capacity():
    hkeys, hcodes = build_hash(np.arange(8, dtype=np.int64), 3, 8)
    for cap in (12, 4, 2):
        with pytest.raises(ValueError, match="capacity"):
            grow_hash(hkeys, hcodes, cap)


@pytest.mark.parametrize("capacity, n_codes", [(6, 2), (4, 4), (2, 3)],
                         ids=["not_power_of_two", "full", "too_small"])
def test_build_hash_rejects_capacity(capacity, n_codes):
    with pytest.raises(ValueError, match="capacity"):
        build_hash(np.arange(8, dtype=np.int64), n_codes, capacity)


@pytest.mark.parametrize("capacity, shift", [(1, 64), (2, 63), (8, 61), (1 << 20, 44),
                                             (1 << 31, 33)],
                         ids=["1", "2", "8", "2^20", "2^31"])
def test_hash_shift(capacity, shift):
    assert hash_shift(capacity) == shift


# ------------------------------------------------------------------- rank_remap


@given(st.integers(0, 12).flatmap(lambda n: st.permutations(range(n))))
def test_rank_remap_is_inverse_permutation(order):
    remap = rank_remap(np.array(order, np.int64))
    assert remap.dtype == np.int32
    assert remap.tolist() == naive.inverse_permutation(order)


@pytest.mark.parametrize("order", [[], [0], [2, 0, 1], [4, 3, 2, 1, 0]],
                         ids=["empty", "one", "rotation", "reversed"])
def test_rank_remap_cases(order):
    assert rank_remap(np.array(order, np.int64)).tolist() == naive.inverse_permutation(order)


# -------------------------------------------------------------------- IdEncoder


def _int_col(batch) -> IdColumn:
    return IdColumn(_arr(batch), None, None)


def _str_col(batch) -> IdColumn:
    return IdColumn(None, pa.array(batch, pa.string()), None)


def _run_encoder(batches, make):
    enc = IdEncoder("customer", "c")
    got = [enc.encode(make(b), "src").tolist() for b in batches]
    dictionary, remap = enc.finish()
    return enc, got, dictionary.to_pylist(), remap.tolist()


def _check_encoder(batches, make):
    enc, got, dictionary, remap = _run_encoder(batches, make)
    want, keys = naive.encode_first_seen(batches)
    assert got == want
    assert enc.n_codes == len(keys)
    assert (dictionary, remap) == naive.sorted_dictionary(keys)
    return enc


@given(batches_of(small_ids))
def test_id_encoder_ints_direct(batches):
    _check_encoder(batches, _int_col)


@pytest.mark.parametrize("step", [1, -1])
def test_id_encoder_rebuilds_its_direct_table_rarely(monkeypatch, step):
    """Ids that rise (or fall) batch by batch, as surrogate keys do, grow the direct
    table by doubling: a logarithmic number of rebuilds, not one per batch."""
    import basketguard.engine.io.encoding as encoding

    calls = []
    real = encoding.build_direct

    def counting(*a):
        calls.append(a[-1])
        return real(*a)

    monkeypatch.setattr(encoding, "build_direct", counting)
    # each batch in falling order, so that the ascending mode ends on the first batch
    batches = [[step * (1000 * i + j) for j in range(1000)][::-step] for i in range(256)]
    enc = _check_encoder(batches, _int_col)
    assert enc._table.mode == "direct"
    assert len(calls) <= 10


@st.composite
def ascending_batches(draw):
    """Ids that ascend across batches (runs, a batch going on with the last id of the
    one before, empty batches), then maybe a batch that breaks the order."""
    ids = sorted(draw(st.lists(st.one_of(small_ids, wide_ids), max_size=30)))
    cuts = sorted(draw(st.lists(st.integers(0, len(ids)), max_size=5)))
    bounds = [0, *cuts, len(ids)]
    batches = [ids[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    if draw(st.booleans()):
        batches.append(draw(st.lists(st.one_of(small_ids, wide_ids), max_size=6)))
    return batches


@given(ascending_batches())
def test_id_encoder_ascending_ids_match_reference(batches):
    enc = _check_encoder(batches, _int_col)
    flat = [v for b in batches for v in b]
    if all(x <= y for x, y in zip(flat, flat[1:], strict=False)):
        assert enc._table.mode == "ascending"  # white box: no table was built


@given(ascending_batches())
def test_encode_ascending_matches_first_seen(batches):
    flat = [v for b in batches for v in b]
    keys = np.empty(len(flat) + 1, np.int64)
    n, got, ok = 0, [], True
    for b in batches:
        done = encode_ascending(_arr(b), keys, n)
        if done is None:
            ok = False
            before = keys[:n].tolist()
            break
        codes, n = done
        assert codes.dtype == np.int32
        got.append(codes.tolist())
    seen = [v for b in batches[:len(got)] for v in b]
    want, want_keys = naive.encode_first_seen(batches[:len(got)])
    assert got == want and keys[:n].tolist() == want_keys
    if not ok:  # refused exactly when an id falls below the one before it
        seq = seen[-1:] + batches[len(got)]
        assert any(y < x for x, y in zip(seq, seq[1:], strict=False))
        assert keys[:n].tolist() == before == want_keys
    else:
        assert all(x <= y for x, y in zip(flat, flat[1:], strict=False))


@given(batches_of(wide_ids))
def test_id_encoder_ints_any_span(batches):
    _check_encoder(batches, _int_col)


@given(batches_of(st.text("ab\u00e9\u20ac\U0001f600", max_size=3)))
def test_id_encoder_text(batches):
    _check_encoder(batches, _str_col)


ENCODER_INT_CASES = {
    "no_batches": [],
    "empty_batches": [[], []],
    "one_id": [[42]],
    "negative": [[-5, -1, -5], [-3]],
    "int64_extremes_direct": [[I64_MAX], [I64_MAX - 3, I64_MAX]],
    "int64_min_direct": [[I64_MIN + 1, I64_MIN], [I64_MIN + 5]],
    "batches_of_one": [[3], [1], [3], [2]],
    "many_batches": [[(7 * i) % 11 - 5] for i in range(40)],
    "grow_range_both_sides": [[10], [5, 11], [0], [20, 10]],
    "rising_batches": [list(range(100 * i, 100 * i + 100)) for i in range(30)],
    "falling_batches": [list(range(-100 * i, -100 * i + 7)) for i in range(30)],
    "near_int64_max_rising": [[I64_MAX - 40 + i] for i in range(41)],
    "near_int64_min_falling": [[I64_MIN + 40 - i] for i in range(41)],
}
ENCODER_HASH_CASES = {
    "int64_min_and_max": [[I64_MIN, I64_MAX], [0, I64_MIN]],
    "span_over_2_40": [[1, 2**40 + 7], [1, 2**41]],
    "switch_mid_stream": [[1, 2, 3], [2, 2**41], [3, 4, 2**41, -(2**42)]],
    "hash_then_grow": [[0, 2**50]] + [[2**40 + i, i] for i in range(30)],
    "switch_after_empty": [[], [5], [], [5 + 2**23, 5]],
    "ascending_then_sparse": [[1, 1, 2], [2, 2**40], [7]],
}


@pytest.mark.parametrize("batches", ENCODER_INT_CASES.values(), ids=ENCODER_INT_CASES.keys())
def test_id_encoder_int_cases(batches):
    _check_encoder(batches, _int_col)


@pytest.mark.parametrize("batches", ENCODER_HASH_CASES.values(), ids=ENCODER_HASH_CASES.keys())
def test_id_encoder_hash_cases(batches):
    enc = _check_encoder(batches, _int_col)
    # White box: these spans are too sparse for a direct table.
    assert enc._table.mode == "hash"


ENCODER_TEXT_CASES = {
    "empty_batches": [[], []],
    "empty_string": [["", "a", ""]],
    "unicode_order": [["\u00e9", "z", "\U0001f600", "e"], ["\u20ac"]],
    "batches_of_one": [["b"], ["a"], ["b"]],
    "many_batches": [[str(i % 13)] for i in range(40)],
}


@pytest.mark.parametrize("batches", ENCODER_TEXT_CASES.values(), ids=ENCODER_TEXT_CASES.keys())
def test_id_encoder_text_cases(batches):
    _check_encoder(batches, _str_col)


def test_id_encoder_text_accepts_sliced_and_large_strings():
    enc = IdEncoder("item", "i")
    sliced = pa.array(["x", "b", "a", "b", "y"]).slice(1, 3)
    assert enc.encode(IdColumn(None, sliced, None), "src").tolist() == [0, 1, 0]
    big = pa.array(["c", "a"], pa.large_string())
    assert enc.encode(IdColumn(None, big, None), "src").tolist() == [2, 1]
    dictionary, remap = enc.finish()
    assert dictionary.to_pylist() == ["a", "b", "c"] and remap.tolist() == [1, 0, 2]


def test_id_encoder_finish_without_batches_is_empty():
    dictionary, remap = IdEncoder("store", "s").finish()
    assert len(dictionary) == 0 and remap.shape == (0,) and remap.dtype == np.int32


def test_id_encoder_rejects_kind_change():
    enc = IdEncoder("customer", "cust")
    enc.encode(_int_col([1, 2]), "file.parquet")
    with pytest.raises(SchemaError, match=r"file\.parquet.*'cust'.*str.*int"):
        enc.encode(_str_col(["a"]), "file.parquet")


def test_int_table_hands_the_kernels_read_only_ids(monkeypatch):
    """Computed (writable) ids reach the kernels as a read-only view, like Arrow's
    buffers, so each kernel compiles for one array type; the caller's array is left
    as it was, and the codes are those of the ids."""
    import basketguard.engine.io.encoding as encoding

    seen = []
    real = {name: getattr(encoding, name) for name in ("encode_ascending", "encode_direct")}

    def spy(name):
        def call(values, *args):
            seen.append((name, values.flags.writeable))
            return real[name](values, *args)
        return call

    for name in real:
        monkeypatch.setattr(encoding, name, spy(name))
    table = encoding._IntTable()
    rising = np.array([3, 5, 9], np.int64)
    assert table.encode(rising).tolist() == [0, 1, 2]
    falling = np.array([9, 4, 3], np.int64)  # leaves the ascending mode
    assert table.encode(falling).tolist() == [2, 3, 0]
    assert rising.flags.writeable and falling.flags.writeable
    assert [n for n, _ in seen] == ["encode_ascending", "encode_ascending", "encode_direct"]
    assert not any(writeable for _, writeable in seen)


@pytest.mark.jit
def test_id_encoder_many_batches_against_reference(rng):
    # Dense ids first (direct table, grown several times), then sparse ones (hash).
    batches = [rng.integers(-50, 50 + 40 * i, size=rng.integers(0, 200)).tolist()
               for i in range(40)]
    batches += [rng.integers(-(2**60), 2**60, size=300).tolist() for _ in range(5)]
    batches += [rng.choice(batches[-1], size=100).tolist()]
    _check_encoder(batches, _int_col)


# ---------------------------------------------------- attribute columns (Arrow)

def _first_seen_ref(values):
    """Codes in order of first appearance (None a value) and each code's first row."""
    index, first, codes = {}, [], []
    for i, v in enumerate(values):
        if v not in index:
            index[v] = len(first)
            first.append(i)
        codes.append(index[v])
    return codes, first


def _string_buffers(arr):
    bufs = arr.buffers()
    width = np.int32 if pa.types.is_string(arr.type) else np.int64
    offsets = np.frombuffer(bufs[1], width, count=arr.offset + len(arr) + 1)[arr.offset:]
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    bits = np.frombuffer(bufs[0], np.uint8) if arr.null_count else None
    return offsets, data, bits


TEXTS = ["", "a", "ab", "abcdefg", "abcdefgh", "abcdefghi", "abcdefghijklmnop",
         "abcdefghijklmnopq", "x" * 40, "é", "\x00", "\x00\x00", None]


@given(st.lists(st.sampled_from(TEXTS), max_size=60), st.integers(0, 5),
       st.sampled_from([pa.string(), pa.large_string()]))
def test_first_seen_strings_matches_reference(values, cut, typ):
    arr = pa.array(values, typ).slice(min(cut, len(values)))
    codes, first = first_seen_strings(*_string_buffers(arr), arr.offset)
    ref_codes, ref_first = _first_seen_ref(arr.to_pylist())
    assert codes.dtype == np.int32 and first.dtype == np.int64
    assert codes.tolist() == ref_codes and first.tolist() == ref_first


def test_first_seen_strings_many_values_and_unaligned_data(rng):
    values = [None if i % 97 == 0 else f"v{int(j)}" + "z" * (int(j) % 23)
              for i, j in enumerate(rng.integers(0, 20000, 60000))]
    arr = pa.array(values)
    offsets, data, bits = _string_buffers(arr)
    ref = _first_seen_ref(values)
    codes, first = first_seen_strings(offsets, data, bits)
    assert (codes.tolist(), first.tolist()) == ref
    # the same bytes one byte off 8-byte alignment (read byte-wise, same codes)
    shifted = np.empty(data.shape[0] + 1, np.uint8)[1:]
    shifted[:] = data
    codes, first = first_seen_strings(offsets, shifted, bits)
    assert (codes.tolist(), first.tolist()) == ref


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                   np.uint32, np.int64, np.uint64])
def test_first_seen_ints_extremes_and_nulls(dtype, rng):
    info = np.iinfo(dtype)
    pool = np.array([info.min, info.max, 0, 1, info.max - 1], dtype)
    values = pool[rng.integers(0, pool.size, 500)]
    valid = rng.random(500) > 0.2
    arr = pa.array(values, mask=~valid)
    bits = np.frombuffer(arr.buffers()[0], np.uint8)
    codes, first = first_seen_ints(values, bits)
    ref = _first_seen_ref([int(v) if ok else None for v, ok in zip(values, valid, strict=True)])
    assert (codes.tolist(), first.tolist()) == ref


def test_first_seen_ints_many_values(rng):
    values = rng.integers(-(2**62), 2**62, 5000)[rng.integers(0, 3000, 20000)]
    codes, first = first_seen_ints(values)
    assert (codes.tolist(), first.tolist()) == _first_seen_ref(values.tolist())


def test_first_seen_rejects_bad_arguments():
    with pytest.raises(TypeError):
        first_seen_ints(np.zeros(3, np.float64))
    with pytest.raises(TypeError):
        first_seen_strings(np.zeros(0, np.int32), np.zeros(0, np.uint8))
    with pytest.raises(TypeError):
        first_seen_strings(np.zeros(2, np.int32), np.zeros(1, np.int8))
