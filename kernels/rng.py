"""Counter-based random numbers: every draw is a pure function of its name.

A draw is named by ``(seed, ident, stream, counter)`` and computed without any
state, so it never depends on chunking, shards or thread scheduling. All
arithmetic is on uint64 and wraps modulo ``2**64``; with ``G = 0x9E3779B97F4A7C15``
(``2**64 / phi``, the splitmix64 increment):

- :func:`mix` is the splitmix64 finaliser (Steele, Lea, Flood 2014)::

      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
      z = (z ^ (z >> 27)) * 0x94D049BB133111EB
      return z ^ (z >> 31)

- :func:`derive_key`: ``s = mix(seed ^ 0x6A09E667F3BCC909)``, then
  ``key = mix(s + ident * G)`` (``ident`` a customer id or code);
- :func:`draw`: 64 bits ``mix(key + ((stream << 40) | counter) * G)``, i.e.
  splitmix64 at index ``(stream << 40) | counter`` of the stream started at
  ``key`` (``0 <= counter < 2**40``, ``0 <= stream < 2**24``);
- :func:`uniform`: ``(h >> 11) * 2**-53``, a float64 in ``[0, 1)`` from the top
  53 bits of ``h`` (exact: every value is a multiple of ``2**-53``);
- :func:`normal`: Box-Muller from draws ``2 c`` and ``2 c + 1`` of a stream,
  ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)``.

Input contract: ``seed`` in ``[0, 2**63)`` (:func:`check_seed`); idents,
streams and counters are non-negative integers within the ranges above; keys
are uint64 (as :func:`derive_key` returns them inside compiled code: a Python
int key would be typed int64, and Numba promotes ``int64 + uint64`` to float). The
functions are ``@njit`` device functions for other kernels; in plain-Python
mode (``NUMBA_DISABLE_JIT``) the caller suppresses NumPy's overflow warning
(``np.errstate(over="ignore")``), since the wrap-around is the hash.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def check_seed(seed: int) -> None:
    """Raise ``ValueError`` unless ``0 <= seed < 2**63``.

    Parameters
    ----------
    seed : int
        A population or draw seed.
    """
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must lie in [0, 2**63), got {seed}")


@njit(cache=True, nogil=True)
def mix(z):
    """splitmix64 finaliser of a uint64 (see the module docstring).

    Parameters
    ----------
    z : numpy.uint64

    Returns
    -------
    numpy.uint64
    """
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True)
def derive_key(seed, ident):
    """Key of one ident (a customer) under a seed (see the module docstring).

    Parameters
    ----------
    seed, ident : int
        Non-negative; converted to uint64.

    Returns
    -------
    numpy.uint64
    """
    s = mix(np.uint64(seed) ^ np.uint64(0x6A09E667F3BCC909))
    return mix(s + np.uint64(ident) * np.uint64(0x9E3779B97F4A7C15))


# One explicit signature: callers pass streams as module constants, which Numba
# types as distinct literals, and counters as int32 or int64; without it ``draw``
# compiled once per (stream, counter type), 31 times in the demo (2.6 s cold).
@njit("uint64(uint64, int64, int64)", cache=True, nogil=True)
def draw(key, stream, counter):
    """64 random bits of draw ``counter`` of ``stream`` (splitmix64 at that index).

    ``mix(key + ((stream << 40) | counter) * G)``, see the module docstring.

    Parameters
    ----------
    key : numpy.uint64
        From :func:`derive_key`.
    stream : int
        Kind of draw, ``0 <= stream < 2**24``.
    counter : int
        Name of the draw within the stream, ``0 <= counter < 2**40``.

    Returns
    -------
    numpy.uint64
    """
    idx = (np.uint64(stream) << np.uint64(40)) | np.uint64(counter)
    return mix(key + idx * np.uint64(0x9E3779B97F4A7C15))


@njit(cache=True, nogil=True)
def uniform(h):
    """Float64 in ``[0, 1)`` from the top 53 bits of ``h``: ``(h >> 11) * 2**-53``.

    Parameters
    ----------
    h : numpy.uint64
        From :func:`draw`.

    Returns
    -------
    float
    """
    # via int64: a signed conversion is one instruction, an unsigned one is not
    return float(np.int64(h >> np.uint64(11))) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def normal(key, stream, counter):
    """Standard normal by Box-Muller from draws ``2 counter`` and ``2 counter + 1``.

    ``sqrt(-2 log(1 - u1)) * cos(2 pi u2)`` with ``u1``, ``u2`` the
    :func:`uniform` values of those two draws of ``stream``.

    Parameters
    ----------
    key : numpy.uint64
    stream, counter : int
        As for :func:`draw` (``2 counter + 1 < 2**40``).

    Returns
    -------
    float
    """
    u1 = uniform(draw(key, stream, 2 * counter))
    u2 = uniform(draw(key, stream, 2 * counter + 1))
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


def derive_keys(seed: int, n: int) -> np.ndarray:
    """:func:`derive_key` of the idents ``0 .. n-1`` under ``seed`` (uint64, one per ident).

    Parameters
    ----------
    seed : int
        In ``[0, 2**63)``.
    n : int
        Number of idents (customer codes), ``>= 0``.

    Returns
    -------
    numpy.ndarray of uint64
    """
    check_seed(seed)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    out = np.empty(int(n), np.uint64)
    with np.errstate(over="ignore"):
        _derive_keys(np.uint64(seed), out)
    return out


@njit(cache=True, nogil=True)
def _derive_keys(seed, out):
    """out[i] = derive_key(seed, i)."""
    for i in range(out.shape[0]):
        out[i] = derive_key(seed, i)
