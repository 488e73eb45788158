"""Input checks shared by the kernel wrappers (plain Python, no Numba).

Each check names the argument in its message and either returns the array
ready for a kernel (:func:`as_1d`) or raises:

- ``TypeError`` when an array has the wrong kind (:func:`check_1d`: callers
  that require the exact dtype and never convert);
- ``ValueError`` when the values break the contract (:func:`check_offsets`,
  :func:`check_codes`, and :func:`as_1d` for a dtype it cannot convert).

A CSR here is ``offsets`` (int64, ``n_rows + 1``) over a values array: row
``r`` owns ``values[offsets[r]:offsets[r + 1]]``.
"""

from __future__ import annotations

import numpy as np


def as_1d(a: np.ndarray, dtype, name: str) -> np.ndarray:
    """``a`` as a contiguous 1-d array of ``dtype``, converting within a kind.

    Parameters
    ----------
    a : array_like
        1-d.
    dtype : numpy dtype
        Target dtype; a conversion must be ``same_kind`` (e.g. int64 to int32,
        never float to int) unless ``a`` is empty.
    name : str
        Argument name, for the message.

    Returns
    -------
    numpy.ndarray
        ``a`` itself when it already is contiguous of ``dtype``.

    Raises
    ------
    ValueError
        ``a`` is not 1-d or its dtype does not convert.
    """
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-d, got shape {a.shape}")
    if a.dtype != dtype:
        if a.size and not np.can_cast(a.dtype, dtype, "same_kind"):
            raise ValueError(f"{name} must be {np.dtype(dtype).name}, got {a.dtype}")
        a = a.astype(dtype)
    return np.ascontiguousarray(a)


def check_1d(a: np.ndarray, dtype, name: str) -> None:
    """Raise ``TypeError`` unless ``a`` is a 1-d NumPy array of exactly ``dtype``.

    Parameters
    ----------
    a : numpy.ndarray
    dtype : numpy dtype
    name : str
        Argument name, for the message.
    """
    if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype != dtype:
        raise TypeError(f"{name} must be a 1-D {np.dtype(dtype).name} array")


def check_offsets(offsets: np.ndarray, n_values: int, name: str = "offsets") -> None:
    """Raise ``ValueError`` unless ``offsets`` are CSR offsets over ``n_values`` values.

    Parameters
    ----------
    offsets : numpy.ndarray
        1-d integer array with at least one entry.
    n_values : int
        Length of the values array.
    name : str
        Argument name, for the message.

    Notes
    -----
    Offsets must start at 0, be non-decreasing and end at ``n_values``.
    """
    if offsets.ndim != 1 or offsets.shape[0] < 1:
        raise ValueError(f"{name} must be 1-d with n_rows + 1 >= 1 entries")
    if offsets[0] != 0 or offsets[-1] != n_values:
        raise ValueError(f"{name} must start at 0 and end at {n_values} (the number of values)")
    if offsets.shape[0] > 1 and np.any(offsets[1:] < offsets[:-1]):
        raise ValueError(f"{name} must be non-decreasing")


def check_codes(codes: np.ndarray, n: int | None, name: str) -> None:
    """Raise ``ValueError`` unless every code lies in ``[0, n)`` (``n = None``: ``>= 0``).

    Parameters
    ----------
    codes : numpy.ndarray
        Integer codes.
    n : int or None
        Number of codes; ``None`` checks only that codes are non-negative.
    name : str
        What the codes are, for the message.
    """
    if n is not None and n < 0:
        raise ValueError(f"the number of {name} must be >= 0, got {n}")
    if codes.size == 0:
        return
    if codes.min() < 0:
        raise ValueError(f"{name} must be >= 0" if n is None else f"{name} must lie in [0, {n})")
    if n is not None and codes.max() >= n:
        raise ValueError(f"{name} must lie in [0, {n})")
