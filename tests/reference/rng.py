"""Plain reference of the counter-based generator (kernels/rng), from its docstring.

Python integers masked to 64 bits instead of wrapping uint64 arithmetic.
"""

from __future__ import annotations

import math

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix(z: int) -> int:
    """splitmix64 finaliser."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def customer_key(seed: int, ident: int) -> int:
    """``mix(mix(seed ^ 0x6A09E667F3BCC909) + ident * G)``."""
    return mix((mix(seed ^ 0x6A09E667F3BCC909) + ident * GOLDEN) & M64)


def draw(key: int, stream: int, counter: int) -> int:
    """splitmix64 at index ``(stream << 40) | counter`` of the stream started at ``key``."""
    return mix((key + ((stream << 40) | counter) * GOLDEN) & M64)


def unif(h: int) -> float:
    """The top 53 bits as a fraction of ``2**53``."""
    return (h >> 11) / 2.0**53


def normal(key: int, stream: int, counter: int) -> float:
    """Box-Muller from draws ``2 counter`` and ``2 counter + 1``."""
    u1 = unif(draw(key, stream, 2 * counter))
    u2 = unif(draw(key, stream, 2 * counter + 1))
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)
