"""Dense int32 codes for int64 ids, assigned in order of first appearance.

Two interchangeable tables, both incremental across batches:

- **direct**: ``table[value - base]`` holds the code (or -1), for ids that fall
  in a compact range (the common case: surrogate keys). One random access to
  a small array per row.
- **hash**: open addressing with linear probing on a power-of-two table of
  ``(key, code)`` pairs, Fibonacci hashing, load factor <= 1/2.

Input contract: ``values`` is a 1-D ``int64`` array without nulls (the engine
drops null ids before encoding). ``keys`` (int64) stores the id of each code
and must have room for ``n_codes + len(values)`` entries; the caller grows it.
Outputs are caller-allocated ``int32`` codes.
"""

from __future__ import annotations

import numpy as np
from numba import config, njit

from basketguard.kernels.checks import check_1d

_EMPTY = -1


@njit(cache=True, nogil=True)
def _encode_direct(values, base, table, keys, n_codes, out):
    """Direct-address table lookup/insert; returns the new number of codes."""
    n = n_codes
    for i in range(values.shape[0]):
        v = values[i]
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
def _rehash(keys, n_codes, hkeys, hcodes, shift):
    """Insert codes 0..n_codes-1 (keys known distinct) into an empty hash table."""
    mask = hkeys.shape[0] - 1
    for c in range(n_codes):
        v = keys[c]
        s = _hash_slot(v, mask, shift)
        while hcodes[s] >= 0:
            s = (s + 1) & mask
        hcodes[s] = c
        hkeys[s] = v


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
    hkeys = np.zeros(capacity, np.int64)
    hcodes = np.full(capacity, _EMPTY, np.int32)
    _rehash(keys, np.int64(n_codes), hkeys, hcodes, hash_shift(capacity))
    return hkeys, hcodes


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
