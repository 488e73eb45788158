"""Dense int32 codes for int64 ids, assigned in order of first appearance.

Two interchangeable tables, both incremental across batches, and a mode before
either of them:

- **ascending**: while every id is at least the one before it (across batches
  too), codes are counted, not looked up: a new id is the next code and the
  keys stay sorted. Surrogate keys read in the order they were issued (basket
  ids of a time-ordered log, customer ids of a customer-sorted extract) never
  touch a table. The first id below its predecessor ends the mode: the caller
  builds a table from the keys and goes on with it.

- **direct**: ``table[value - base]`` holds the code (or -1), for ids that fall
  in a compact range (the common case: surrogate keys). One random access to
  a small array per row.
- **hash**: open addressing with linear probing on a power-of-two table of
  ``(key, code)`` pairs, Fibonacci hashing, load factor <= 1/2.

Both take a row equal to the one before it from the row before (no table
access): logs list a basket's lines, and a customer's, together, so most rows
of those columns are runs (90 % of basket rows, 99 % of customer rows in the
simulated logs).

Input contract: ``values`` is a 1-D ``int64`` array without nulls (the engine
drops null ids before encoding). ``keys`` (int64) stores the id of each code
and must have room for ``n_codes + len(values)`` entries; the caller grows it.
Outputs are caller-allocated ``int32`` codes.
"""

from __future__ import annotations

import numpy as np
from numba import config, njit

from basketguard.kernels.checks import check_1d
from basketguard.kernels.jit import helper

_EMPTY = -1


@njit(cache=True, nogil=True)
def _encode_ascending(values, keys, n_codes, out):
    """Codes of ascending ids: the new number of codes, or -1 at the first id below
    its predecessor (then ``out`` and ``keys`` past ``n_codes`` are garbage)."""
    m = values.shape[0]
    n = n_codes
    start = 0
    if n == 0 and m > 0:
        keys[0] = values[0]
        out[0] = 0
        n = 1
        start = 1
    if n == 0:
        return 0
    last = keys[n - 1]
    for i in range(start, m):
        v = values[i]
        if v == last:  # a run, or the batch going on with the last id
            out[i] = n - 1
        elif v > last:
            keys[n] = v
            out[i] = n
            n += 1
            last = v
        else:
            return -1
    return n


@njit(cache=True, nogil=True)
def _encode_direct(values, base, table, keys, n_codes, out):
    """Direct-address table lookup/insert; returns the new number of codes."""
    n = n_codes
    for i in range(values.shape[0]):
        v = values[i]
        if i > 0 and v == values[i - 1]:  # a run (a basket's lines): no table access
            out[i] = out[i - 1]
            continue
        slot = v - base
        c = table[slot]
        if c < 0:
            c = n
            table[slot] = c
            keys[n] = v
            n += 1
        out[i] = c
    return n


if config.DISABLE_JIT:
    # Plain-Python twin for the NUMBA_DISABLE_JIT pass: NumPy scalars warn on
    # the (intended) wrap-around of the 64-bit multiply, Python ints do not.
    def _hash_slot(v, mask, shift):
        return ((int(v) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF) >> int(shift) & int(mask)
else:
    @njit(cache=True, nogil=True, inline="always")
    def _hash_slot(v, mask, shift):
        """Fibonacci hashing: the top bits of v * 2^64/phi (Knuth, TAOCP 6.4)."""
        h = np.uint64(v) * np.uint64(0x9E3779B97F4A7C15)
        return np.int64(h >> np.uint64(shift)) & mask


@njit(cache=True, nogil=True)
def _encode_hash(values, hkeys, hcodes, shift, keys, n_codes, out):
    """Linear-probing hash lookup/insert; returns the new number of codes."""
    mask = hkeys.shape[0] - 1
    n = n_codes
    for i in range(values.shape[0]):
        v = values[i]
        if i > 0 and v == values[i - 1]:  # a run: no probe of the (out-of-cache) table
            out[i] = out[i - 1]
            continue
        s = _hash_slot(v, mask, shift)
        while True:
            c = hcodes[s]
            if c < 0:
                c = n
                hcodes[s] = c
                hkeys[s] = v
                keys[n] = v
                n += 1
                break
            if hkeys[s] == v:
                break
            s = (s + 1) & mask
        out[i] = c
    return n


@njit(cache=True, nogil=True)
def _place(v, c, hkeys, hcodes, mask, shift):
    """Put key ``v`` (not in the table) with code ``c`` in its first free slot."""
    s = _hash_slot(v, mask, shift)
    while hcodes[s] >= 0:
        s = (s + 1) & mask
    hcodes[s] = c
    hkeys[s] = v


@njit(cache=True, nogil=True)
def _rehash(keys, n_codes, hkeys, hcodes, shift):
    """Insert codes 0..n_codes-1 (keys known distinct) into an empty hash table."""
    mask = hkeys.shape[0] - 1
    for c in range(n_codes):
        _place(keys[c], c, hkeys, hcodes, mask, shift)


@njit(cache=True, nogil=True)
def _grow_in_slot_order(old_keys, old_codes, hkeys, hcodes, shift):
    """Move every entry of a hash table into an empty larger one, in slot order.

    Fibonacci hashing takes a key's slot from the top bits of its product, so a
    table twice the size puts each key at about twice its old slot: read in slot
    order, the writes move forward through the new table (streaming, not one
    random access per key as inserting in code order does).
    """
    mask = hkeys.shape[0] - 1
    for j in range(old_codes.shape[0]):
        c = old_codes[j]
        if c >= 0:
            _place(old_keys[j], c, hkeys, hcodes, mask, shift)


@njit(cache=True, nogil=True)
def _fill_direct(keys, n_codes, base, table):
    for c in range(n_codes):
        table[keys[c] - base] = c


def _check(values: np.ndarray, keys: np.ndarray, n_codes: int) -> None:
    check_1d(values, np.int64, "values")
    if keys.dtype != np.int64 or keys.shape[0] < n_codes + values.shape[0]:
        raise ValueError("keys must be int64 with room for n_codes + len(values) entries")


def encode_direct(values: np.ndarray, base: int, table: np.ndarray, keys: np.ndarray,
                  n_codes: int) -> tuple[np.ndarray, int]:
    """Encode ids through a direct-address table.

    Parameters
    ----------
    values : numpy.ndarray of int64
        Ids; every ``value - base`` must lie in ``[0, len(table))``.
    base : int
        Smallest id the table covers.
    table : numpy.ndarray of int32
        ``table[value - base]`` = code or -1; updated in place.
    keys : numpy.ndarray of int64
        ``keys[code]`` = id; appended to in place.
    n_codes : int
        Codes assigned so far.

    Returns
    -------
    codes : numpy.ndarray of int32
    n_codes : int
        Codes assigned after this call.
    """
    _check(values, keys, n_codes)
    if table.dtype != np.int32:
        raise TypeError("table must be int32")
    # Python ints: the span check must not wrap around for ids near the int64 limits.
    if values.shape[0] and (int(values.min()) < base
                            or int(values.max()) - base >= table.shape[0]):
        raise ValueError("values outside the direct table's range")
    out = np.empty(values.shape[0], np.int32)
    n = _encode_direct(values, np.int64(base), table, keys, np.int64(n_codes), out)
    return out, int(n)


def encode_ascending(values: np.ndarray, keys: np.ndarray,
                     n_codes: int) -> tuple[np.ndarray, int] | None:
    """Encode ids that go on ascending from ``keys[n_codes - 1]``.

    Parameters
    ----------
    values : numpy.ndarray of int64
        Ids.
    keys : numpy.ndarray of int64
        ``keys[code]`` = id, ascending for the first ``n_codes`` entries;
        appended to in place.
    n_codes : int
        Codes assigned so far.

    Returns
    -------
    (codes, n_codes) or None
        None when some id is below the one before it (the last key for the
        first id): nothing was assigned, and the first ``n_codes`` keys are
        unchanged.
    """
    _check(values, keys, n_codes)
    out = np.empty(values.shape[0], np.int32)
    n = _encode_ascending(values, keys, np.int64(n_codes), out)
    return None if n < 0 else (out, int(n))


def hash_shift(capacity: int) -> int:
    """Right shift that turns a 64-bit Fibonacci hash into a slot of ``capacity``."""
    return 64 - (int(capacity).bit_length() - 1)


def encode_hash(values: np.ndarray, hkeys: np.ndarray, hcodes: np.ndarray, keys: np.ndarray,
                n_codes: int) -> tuple[np.ndarray, int]:
    """Encode ids through an open-addressing hash table.

    Parameters
    ----------
    values : numpy.ndarray of int64
        Ids.
    hkeys, hcodes : numpy.ndarray (int64, int32)
        The table (power-of-two length, ``hcodes`` -1 where empty), updated in
        place; must keep a load factor below 1 after inserting ``values``.
    keys : numpy.ndarray of int64
        ``keys[code]`` = id; appended to in place.
    n_codes : int
        Codes assigned so far.

    Returns
    -------
    codes : numpy.ndarray of int32
    n_codes : int
    """
    _check(values, keys, n_codes)
    cap = hkeys.shape[0]
    if cap & (cap - 1) or hcodes.shape[0] != cap or hcodes.dtype != np.int32:
        raise ValueError("hash table must be power-of-two sized, int64 keys / int32 codes")
    if n_codes + values.shape[0] >= cap:
        raise ValueError("hash table too small for the values")
    out = np.empty(values.shape[0], np.int32)
    n = _encode_hash(values, hkeys, hcodes, hash_shift(cap), keys, np.int64(n_codes), out)
    return out, int(n)


def build_hash(keys: np.ndarray, n_codes: int, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """A hash table of ``capacity`` slots holding codes ``0..n_codes-1`` of ``keys``."""
    if capacity & (capacity - 1) or capacity <= n_codes:
        raise ValueError("capacity must be a power of two above n_codes")
    hkeys = np.empty(capacity, np.int64)  # read only where a code is set
    hcodes = np.full(capacity, _EMPTY, np.int32)
    _rehash(keys, np.int64(n_codes), hkeys, hcodes, hash_shift(capacity))
    return hkeys, hcodes


def grow_hash(hkeys: np.ndarray, hcodes: np.ndarray,
              capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """The entries of the hash table ``(hkeys, hcodes)`` in a new one of ``capacity``
    slots (a larger power of two): the same codes as :func:`build_hash` of its keys,
    built in slot order."""
    n_codes = int((hcodes >= 0).sum())
    if capacity & (capacity - 1) or capacity <= n_codes or capacity < hcodes.shape[0]:
        raise ValueError("capacity must be a power of two above n_codes and the old size")
    new_keys = np.empty(capacity, np.int64)  # read only where a code is set
    new_codes = np.full(capacity, _EMPTY, np.int32)
    _grow_in_slot_order(hkeys, hcodes, new_keys, new_codes, hash_shift(capacity))
    return new_keys, new_codes


def build_direct(keys: np.ndarray, n_codes: int, base: int, span: int) -> np.ndarray:
    """A direct table covering ``[base, base + span)`` holding codes of ``keys``."""
    table = np.full(span, _EMPTY, np.int32)
    _fill_direct(keys, np.int64(n_codes), np.int64(base), table)
    return table


def rank_remap(order: np.ndarray) -> np.ndarray:
    """Inverse permutation: ``remap[order[r]] = r`` (int32).

    With ``order`` the argsort of the ids of codes 0..n-1, ``remap[code]`` is the
    code's rank among the sorted ids.
    """
    remap = np.empty(order.shape[0], np.int32)
    remap[order] = np.arange(order.shape[0], dtype=np.int32)
    return remap


# ------------------------------------------------------------ attribute columns
# Arrow columns (strings or integers, possibly with nulls) straight from their
# buffers to first-seen codes, one pass per column; the caller reads the value
# of each code back from the column at ``first_row[code]``.
#
# Input contract: ``bits`` is the Arrow validity bitmap (read only when
# ``has_nulls``), row ``i`` being bit ``bit_offset + i``; a null is a value of
# its own, coded where it first appears (as ``pyarrow.compute.dictionary_encode``
# with ``null_encoding="encode"``). Strings: ``offsets`` (int32 or int64, one
# more than the rows) into the ``data`` bytes; ``words`` is the same buffer
# read as little-endian uint64 when it is 8-byte aligned (else empty), used to
# load short strings a word at a time. ``out`` (int32) and ``first_row``
# (int64, room for one code per row) are caller-allocated.

_MUL1 = 0x9E3779B97F4A7C15
_MUL2 = 0xC2B2AE3D27D4EB4F
_FNV_BASIS = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_U64 = 0xFFFFFFFFFFFFFFFF
#: Strings up to this many bytes are compared as two words, longer ones byte-wise.
_SHORT = 16

if config.DISABLE_JIT:
    # Plain-Python twins (see _hash_slot): 64-bit wrap-around without warnings.
    def _mix_short(w0, w1, length):
        h = ((int(w0) * _MUL1) ^ ((int(w1) ^ int(length)) * _MUL2)) & _U64
        return np.uint64(((h ^ (h >> 29)) * _MUL1) & _U64)

    def _hash_bytes(data, a, length):
        h = _FNV_BASIS
        for p in range(a, a + length):
            h = ((h ^ int(data[p])) * _FNV_PRIME) & _U64
        return np.uint64(((h ^ (h >> 29)) * _MUL1) & _U64)

    def _hash_int(v):
        return np.uint64((int(v) * _MUL1) & _U64)
else:
    @njit(cache=True, nogil=True, inline="always")
    def _mix_short(w0, w1, length):
        """Hash of a string of at most 16 bytes given as two zero-padded words."""
        h = (w0 * np.uint64(_MUL1)) ^ ((w1 ^ np.uint64(length)) * np.uint64(_MUL2))
        return (h ^ (h >> np.uint64(29))) * np.uint64(_MUL1)

    @njit(cache=True, nogil=True, inline="always")
    def _hash_bytes(data, a, length):
        """FNV-1a of ``data[a:a + length]``, then a multiplicative finish."""
        h = np.uint64(_FNV_BASIS)
        for p in range(a, a + length):
            h = (h ^ np.uint64(data[p])) * np.uint64(_FNV_PRIME)
        return (h ^ (h >> np.uint64(29))) * np.uint64(_MUL1)

    @njit(cache=True, nogil=True, inline="always")
    def _hash_int(v):
        """Fibonacci hash of an integer (as its 64-bit pattern)."""
        return np.uint64(v) * np.uint64(_MUL1)


@njit(cache=True, nogil=True, inline="always")
def _is_null(bits, bit_offset, i):
    b = bit_offset + i
    return ((bits[b >> 3] >> (b & 7)) & 1) == 0


@njit(cache=True, nogil=True, inline="always")
def _slot(h, mask):
    """Slot of hash ``h`` in a table of ``mask + 1`` (a power of two) slots."""
    return np.int64(h >> np.uint64(32)) & mask


@helper
def _regrow(hash_of, m, capacity):
    """A fresh code table of ``capacity`` slots holding codes 0..m-1 by their hashes."""
    table = np.full(capacity, _EMPTY, np.int32)
    mask = capacity - 1
    for c in range(m):
        s = _slot(hash_of[c], mask)
        while table[s] >= 0:
            s = (s + 1) & mask
        table[s] = c
    return table


@helper
def _grown(a):
    """``a`` copied into an array twice as long."""
    b = np.empty(2 * a.shape[0], a.dtype)
    for i in range(a.shape[0]):  # a loop: slice assignment costs ~0.8 s of compile per dtype
        b[i] = a[i]
    return b


@njit(cache=True, nogil=True, inline="always")
def _word(words, a, length):
    """Bytes ``a .. a + length - 1`` (``length <= 8``) as a zero-padded word, from
    two aligned loads (``words[a // 8 + 1]`` must exist)."""
    q = a >> 3
    r = np.uint64((a & 7) * 8)
    w = (words[q] >> r) | ((words[q + 1] << (np.uint64(56) - r)) << np.uint64(8))
    if length < 8:
        w &= (np.uint64(1) << np.uint64(length * 8)) - np.uint64(1)
    return w


@njit(cache=True, nogil=True, inline="always")
def _bytes_word(data, a, length):
    """As :func:`_word`, byte by byte (near the end of the buffer)."""
    w = np.uint64(0)
    for p in range(length):
        w |= np.uint64(data[a + p]) << np.uint64(8 * p)
    return w


@njit(cache=True, nogil=True)
def _encode_strings(offsets, data, words, bits, bit_offset, has_nulls, out, first_row):
    """First-seen codes of Arrow strings; returns the number of codes.

    A string of at most 16 bytes is keyed by its two zero-padded words and its
    length (exact, compared without touching the data again); a longer one by
    a hash of its bytes, confirmed byte by byte against the code's first row.
    """
    n = out.shape[0]
    nwords = words.shape[0]
    cap = 64
    table = np.full(cap, _EMPTY, np.int32)
    mask = cap - 1
    hash_of = np.empty(cap, np.uint64)
    key0 = np.empty(cap, np.uint64)
    key1 = np.empty(cap, np.uint64)
    key_len = np.empty(cap, np.int64)
    m = 0
    null_code = -1
    for i in range(n):
        if has_nulls and _is_null(bits, bit_offset, i):
            if null_code < 0:
                null_code = m
                if m >= hash_of.shape[0]:
                    hash_of = _grown(hash_of)
                    key0 = _grown(key0)
                    key1 = _grown(key1)
                    key_len = _grown(key_len)
                first_row[m] = i
                hash_of[m] = 0
                key_len[m] = -1
                m += 1
            out[i] = null_code
            continue
        a = np.int64(offsets[i])
        length = np.int64(offsets[i + 1]) - a
        short = length <= _SHORT
        w0 = np.uint64(0)
        w1 = np.uint64(0)
        if short:
            head = length if length < 8 else 8
            if (a >> 3) + 3 <= nwords:
                w0 = _word(words, a, head)
                if length > 8:
                    w1 = _word(words, a + 8, length - 8)
            else:
                w0 = _bytes_word(data, a, head)
                if length > 8:
                    w1 = _bytes_word(data, a + 8, length - 8)
            h = _mix_short(w0, w1, length)
        else:
            h = _hash_bytes(data, a, length)
        s = _slot(h, mask)
        while True:
            c = table[s]
            if c < 0:
                c = m
                if c >= hash_of.shape[0]:
                    hash_of = _grown(hash_of)
                    key0 = _grown(key0)
                    key1 = _grown(key1)
                    key_len = _grown(key_len)
                table[s] = c
                first_row[c] = i
                hash_of[c] = h
                key0[c] = w0
                key1[c] = w1
                key_len[c] = length
                m += 1
                if 2 * m > cap:
                    cap *= 2
                    table = _regrow(hash_of, m, cap)
                    mask = cap - 1
                break
            if c != null_code and key_len[c] == length and hash_of[c] == h:
                if short:
                    if key0[c] == w0 and key1[c] == w1:
                        break
                else:
                    b = np.int64(offsets[first_row[c]])
                    same = True
                    for q in range(length):
                        if data[b + q] != data[a + q]:
                            same = False
                            break
                    if same:
                        break
            s = (s + 1) & mask
        out[i] = c
    return m


@njit(cache=True, nogil=True)
def _encode_small_ints(values, base, bits, bit_offset, has_nulls, table, out, first_row):
    """First-seen codes of 8/16-bit integers through ``table[value - base]``
    (preset to -1); returns the number of codes."""
    m = 0
    null_code = -1
    for i in range(out.shape[0]):
        if has_nulls and _is_null(bits, bit_offset, i):
            if null_code < 0:
                null_code = m
                first_row[m] = i
                m += 1
            out[i] = null_code
            continue
        s = np.int64(values[i]) - base
        c = table[s]
        if c < 0:
            c = m
            table[s] = c
            first_row[c] = i
            m += 1
        out[i] = c
    return m


@njit(cache=True, nogil=True)
def _encode_wide_ints(values, bits, bit_offset, has_nulls, out, first_row):
    """First-seen codes of 32/64-bit integers through a growing linear-probing
    table; returns the number of codes."""
    cap = 64
    table = np.full(cap, _EMPTY, np.int32)
    mask = cap - 1
    hash_of = np.empty(cap, np.uint64)
    m = 0
    null_code = -1
    for i in range(out.shape[0]):
        if has_nulls and _is_null(bits, bit_offset, i):
            if null_code < 0:
                null_code = m
                if m >= hash_of.shape[0]:
                    hash_of = _grown(hash_of)
                first_row[m] = i
                hash_of[m] = 0
                m += 1
            out[i] = null_code
            continue
        v = values[i]
        h = _hash_int(v)
        s = _slot(h, mask)
        while True:
            c = table[s]
            if c < 0:
                c = m
                if c >= hash_of.shape[0]:
                    hash_of = _grown(hash_of)
                table[s] = c
                first_row[c] = i
                hash_of[c] = h
                m += 1
                if 2 * m > cap:
                    cap *= 2
                    table = _regrow(hash_of, m, cap)
                    mask = cap - 1
                break
            if c != null_code and values[first_row[c]] == v:
                break
            s = (s + 1) & mask
        out[i] = c
    return m


def _bitmap(bits: np.ndarray | None) -> tuple[np.ndarray, bool]:
    if bits is None:
        return np.zeros(1, np.uint8), False
    check_1d(bits, np.uint8, "bits")
    return bits, True


def first_seen_strings(offsets: np.ndarray, data: np.ndarray, bits: np.ndarray | None = None,
                       bit_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """First-seen codes of a string column given as Arrow buffers.

    Parameters
    ----------
    offsets : numpy.ndarray of int32 or int64
        ``n + 1`` offsets: row ``i`` is ``data[offsets[i]:offsets[i + 1]]``.
    data : numpy.ndarray of uint8
        The character bytes (UTF-8; compared as bytes).
    bits : numpy.ndarray of uint8, optional
        Validity bitmap (LSB first); None when no row is null.
    bit_offset : int
        Bit of row 0 in ``bits`` (the Arrow array's offset).

    Returns
    -------
    codes : numpy.ndarray of int32
        Code of each row, in order of first appearance (a null is one value).
    first_row : numpy.ndarray of int64
        The first row of each code.
    """
    if offsets.ndim != 1 or offsets.dtype not in (np.int32, np.int64) or offsets.shape[0] < 1:
        raise TypeError("offsets must be a non-empty 1-D int32 or int64 array")
    check_1d(data, np.uint8, "data")
    bits, has_nulls = _bitmap(bits)
    n = offsets.shape[0] - 1
    offsets = np.ascontiguousarray(offsets)
    data = np.ascontiguousarray(data)
    # Word loads need an 8-byte aligned view; without one, strings are read byte-wise.
    if data.ctypes.data % 8 == 0 and data.shape[0] >= 8:
        words = data[: data.shape[0] // 8 * 8].view(np.uint64)
    else:
        words = np.empty(0, np.uint64)
    out = np.empty(n, np.int32)
    first_row = np.empty(n, np.int64)
    m = _encode_strings(offsets, data, words, bits, np.int64(bit_offset), has_nulls, out,
                        first_row)
    return out, first_row[:m].copy()


def first_seen_ints(values: np.ndarray, bits: np.ndarray | None = None,
                    bit_offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """First-seen codes of an integer column (any width, signed or not).

    Parameters
    ----------
    values : numpy.ndarray of integers
        One value per row (values under a null are ignored).
    bits, bit_offset
        Validity bitmap, as in :func:`first_seen_strings`.

    Returns
    -------
    codes : numpy.ndarray of int32
    first_row : numpy.ndarray of int64
        As in :func:`first_seen_strings`.
    """
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError("values must be a 1-D integer array")
    bits, has_nulls = _bitmap(bits)
    values = np.ascontiguousarray(values)
    n = values.shape[0]
    out = np.empty(n, np.int32)
    first_row = np.empty(n, np.int64)
    if values.dtype.itemsize <= 2:
        info = np.iinfo(values.dtype)
        table = np.full(int(info.max) - int(info.min) + 1, _EMPTY, np.int32)
        m = _encode_small_ints(values, np.int64(info.min), bits, np.int64(bit_offset),
                               has_nulls, table, out, first_row)
    else:
        m = _encode_wide_ints(values, bits, np.int64(bit_offset), has_nulls, out, first_row)
    return out, first_row[:m].copy()
