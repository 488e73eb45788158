"""Customer-hash shards: which shard a code or an id falls in, and lines grouped by shard.

The hash is a 64-bit mix of ``(code + seed)`` (the golden-ratio multiply and
two xor-shift-multiply rounds of SplitMix64), taken modulo the shard count.
It spreads consecutive codes evenly, so shards hold similar numbers of
customers whatever order the source lists them in.

Codes are per process (first-seen order); partitions read apart (on Dask
workers) hash the original ids instead: an int64 id by its 64 bits
(:func:`int_id_shards`), a text id by the FNV-1a hash of its UTF-8 bytes
(:func:`text_id_shards`), then the same mix.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _shard_of(codes, n_shards, seed, out):
    golden = np.uint64(0x9E3779B97F4A7C15)
    mix = np.uint64(0xBF58476D1CE4E5B9)
    s = np.uint64(seed)
    n = np.uint64(n_shards)
    for i in range(codes.shape[0]):
        z = (np.uint64(codes[i]) + s) * golden
        z ^= z >> np.uint64(31)
        z *= mix
        z ^= z >> np.uint64(29)
        out[i] = np.int32(z % n)


def shard_of(codes: np.ndarray, n_shards: int, seed: int = 0) -> np.ndarray:
    """Shard of each code (int32 in ``0..n_shards-1``).

    Parameters
    ----------
    codes : int32 or int64 array
        Non-negative customer codes.
    n_shards : int
        At least 1.
    seed : int
        Any integer; taken modulo 2**64. Another seed gives another partition.
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, not {n_shards}")
    codes = np.ascontiguousarray(codes)
    if codes.dtype not in (np.int32, np.int64):
        raise ValueError(f"codes must be int32 or int64, not {codes.dtype}")
    out = np.empty(codes.shape[0], np.int32)
    with np.errstate(over="ignore"):  # the mix wraps modulo 2**64 (uncompiled runs warn)
        _shard_of(codes, n_shards, np.uint64(seed & (2**64 - 1)), out)
    return out


@njit(cache=True, nogil=True)
def _group(shard, n_shards, order, bounds):
    for i in range(shard.shape[0]):
        bounds[shard[i] + 1] += 1
    for s in range(n_shards):
        bounds[s + 1] += bounds[s]
    cursor = bounds[:-1].copy()
    for i in range(shard.shape[0]):
        s = shard[i]
        order[cursor[s]] = i
        cursor[s] += 1


def group_by_shard(shard: np.ndarray, n_shards: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions grouped by shard, stable (a counting sort).

    Parameters
    ----------
    shard : int32 array
        Shard of each position, each in ``0..n_shards-1``.
    n_shards : int

    Returns
    -------
    order : int64 array
        Positions of shard 0 (ascending), then of shard 1, ...
    bounds : int64 array of n_shards + 1
        Shard ``s`` is ``order[bounds[s]:bounds[s + 1]]``.
    """
    shard = np.ascontiguousarray(shard, np.int32)
    if shard.size and (int(shard.min()) < 0 or int(shard.max()) >= n_shards):
        raise ValueError(f"every shard must be in 0..{n_shards - 1}")
    order = np.empty(shard.shape[0], np.int64)
    bounds = np.zeros(n_shards + 1, np.int64)
    _group(shard, n_shards, order, bounds)
    return order, bounds


@njit(cache=True, nogil=True)
def _mix_mod(x, seed, n):
    z = (x + seed) * np.uint64(0x9E3779B97F4A7C15)
    z ^= z >> np.uint64(31)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(29)
    return np.int32(z % n)


@njit(cache=True, nogil=True)
def _int_id_shards(ids, n_shards, seed, out):
    n = np.uint64(n_shards)
    for i in range(ids.shape[0]):
        out[i] = _mix_mod(ids[i], seed, n)


@njit(cache=True, nogil=True)
def _text_id_shards(offsets, data, n_shards, seed, out):
    n = np.uint64(n_shards)
    for i in range(offsets.shape[0] - 1):
        h = np.uint64(0xCBF29CE484222325)
        for k in range(offsets[i], offsets[i + 1]):
            h ^= np.uint64(data[k])
            h *= np.uint64(0x100000001B3)
        out[i] = _mix_mod(h, seed, n)


def int_id_shards(ids: np.ndarray, n_shards: int, seed: int = 0) -> np.ndarray:
    """Shard (int32) of each int64 id, from its two's-complement bits."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, not {n_shards}")
    ids = np.ascontiguousarray(ids, np.int64).view(np.uint64)
    out = np.empty(ids.shape[0], np.int32)
    with np.errstate(over="ignore"):
        _int_id_shards(ids, n_shards, np.uint64(seed & (2**64 - 1)), out)
    return out


def text_id_shards(offsets: np.ndarray, data: np.ndarray, n_shards: int,
                   seed: int = 0) -> np.ndarray:
    """Shard (int32) of each text id given as Arrow-style ``offsets`` (n + 1, int64)
    into UTF-8 ``data`` (uint8)."""
    if n_shards < 1:
        raise ValueError(f"n_shards must be at least 1, not {n_shards}")
    offsets = np.ascontiguousarray(offsets, np.int64)
    data = np.ascontiguousarray(data, np.uint8)
    out = np.empty(max(offsets.shape[0] - 1, 0), np.int32)
    with np.errstate(over="ignore"):
        _text_id_shards(offsets, data, n_shards, np.uint64(seed & (2**64 - 1)), out)
    return out
