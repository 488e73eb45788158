"""Plain implementations of kernels/shards.py, written from its docstrings."""

from __future__ import annotations

M64 = (1 << 64) - 1


def shard_of(codes, n_shards, seed=0):
    """SplitMix64's golden multiply and two xor-shift-multiply rounds, modulo n."""
    out = []
    for c in codes:
        z = ((int(c) + (seed & M64)) * 0x9E3779B97F4A7C15) & M64
        z ^= z >> 31
        z = (z * 0xBF58476D1CE4E5B9) & M64
        z ^= z >> 29
        out.append(z % n_shards)
    return out


def group_by_shard(shard, n_shards):
    """Positions of shard 0 in order, then of shard 1, ...; and the bounds."""
    order, bounds = [], [0]
    for s in range(n_shards):
        order.extend(i for i, x in enumerate(shard) if x == s)
        bounds.append(len(order))
    return order, bounds


def _mix_mod(x, seed, n):
    z = ((x + (seed & M64)) * 0x9E3779B97F4A7C15) & M64
    z ^= z >> 31
    z = (z * 0xBF58476D1CE4E5B9) & M64
    z ^= z >> 29
    return z % n


def int_id_shards(ids, n_shards, seed=0):
    """The mix of each id's 64 bits (two's complement)."""
    return [_mix_mod(int(v) & M64, seed, n_shards) for v in ids]


def text_id_shards(texts, n_shards, seed=0):
    """FNV-1a (64-bit) of each text's UTF-8 bytes, then the mix."""
    out = []
    for t in texts:
        h = 0xCBF29CE484222325
        for b in t.encode("utf-8"):
            h ^= b
            h = (h * 0x100000001B3) & M64
        out.append(_mix_mod(h, seed, n_shards))
    return out
