"""Equivalence classes of records over attribute codes (k-anonymity, k-map, l-diversity).

A record's *class* is the tuple of its attribute values; two records are in the
same class when every attribute agrees. Everything here works on dense codes.

Input contract
--------------
- ``columns``: a sequence of ``k >= 0`` one-dimensional ``int32`` arrays of equal
  length ``n``, column ``j`` holding codes in ``[0, cards[j])`` (the engine
  dictionary-encodes each attribute, a null being a value of its own).
- ``cards``: the cardinality of each column, ``>= 1``.

Algorithm
---------
1. **Composite key** (:func:`composite_key`): the mixed-radix number
   ``((c_0 * card_1 + c_1) * card_2 + c_2) ...``, built one column at a time.
   When the next multiplication would pass ``2**62``, the key so far is first
   replaced by its dense rank (step 2), which is below ``n``; so the key always
   fits in ``int64`` whatever the cardinalities. Key order is the lexicographic
   order of the code tuples, and densifying keeps that order.
2. **Grouping** (:func:`group_keys`): when the key range is small (at most
   ``4 n + 4096`` slots) a counting pass over a direct-address table; otherwise
   a stable LSD radix sort of the keys (16-bit digits, only as many passes as
   the largest key needs). Either way class ids are assigned in ascending key
   order, so class ``j`` is the ``j``-th smallest code tuple present.
3. **Sizes within a subset** (:func:`subset_sizes`): how many of the chosen
   records (a segment) fall in each class of the whole population: with the
   population's own sizes this is k-anonymity within the segment and k-map
   against the population.
4. **l-diversity** (:func:`diversity`): the (class, sensitive value) pairs are
   grouped the same way; a class's distinct l is the number of its pairs and
   its entropy l is ``exp(-sum p log p)`` over them (Machanavajjhala et al.,
   "l-Diversity: Privacy Beyond k-Anonymity", ICDE 2006).

Exact merge across shards
-------------------------
:func:`class_counts` reduces a shard to :class:`ClassCounts`: the distinct code
tuples (one row each, in lexicographic order) and their record counts.
:func:`merge_class_counts` concatenates partials and groups again, summing the
counts. The result does not depend on how records were split into shards nor
on the order of the partials (it is the same as :func:`class_counts` of all
records at once), as long as every shard uses the same dictionaries. Adding
the sensitive code as one more column gives mergeable partials for
l-diversity (:func:`diversity_from_pairs`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

from basketguard.kernels.checks import check_1d

#: Keys are kept below this bound so that ``key * card + code`` never overflows.
KEY_LIMIT = 1 << 62
_DIGIT_BITS = 16
_DIGITS = 1 << _DIGIT_BITS


class Classes(NamedTuple):
    """Grouping of records into classes.

    ``class_of`` (int32, one per record) is the class id; ``sizes`` (int64, one
    per class) the number of records; ``keys`` (int64, one per class) the
    grouping key of each class, ascending.
    """

    class_of: np.ndarray
    sizes: np.ndarray
    keys: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.sizes.shape[0])


class ClassCounts(NamedTuple):
    """Mergeable partial: distinct code tuples ``codes`` (int32, shape
    ``(m, k)``, lexicographic order) and their record ``counts`` (int64)."""

    codes: np.ndarray
    counts: np.ndarray


# ----------------------------------------------------------------------- kernels
@njit(cache=True, nogil=True)
def _radix_step(key, col, card, out):
    """out = key * card + col; returns the number of codes outside [0, card)."""
    bad = 0
    for i in range(col.shape[0]):
        c = col[i]
        if c < 0 or c >= card:
            bad += 1
        out[i] = key[i] * card + c
    return bad


@njit(cache=True, nogil=True)
def _first_step(col, card, out):
    """out = col (as int64); returns the number of codes outside [0, card)."""
    bad = 0
    for i in range(col.shape[0]):
        c = col[i]
        if c < 0 or c >= card:
            bad += 1
        out[i] = c
    return bad


@njit(cache=True, nogil=True)
def _fused_key(columns, cards, out):
    """out = mixed-radix key of all columns in one pass (the product of ``cards``
    must stay below 2**62); returns the number of codes outside [0, card)."""
    bad = 0
    k = len(columns)
    for i in range(out.shape[0]):
        key = np.int64(0)
        for j in range(k):
            c = columns[j][i]
            card = cards[j]
            if c < 0 or c >= card:
                bad += 1
            key = key * card + c
        out[i] = key
    return bad


@njit(cache=True, nogil=True)
def _group_direct(key, table, class_of, sizes, class_keys):
    """Counting pass over a direct-address table, then ids in key order; returns m."""
    for i in range(key.shape[0]):
        table[key[i]] += 1
    m = 0
    for s in range(table.shape[0]):
        c = table[s]
        if c > 0:
            sizes[m] = c
            class_keys[m] = s
            table[s] = m
            m += 1
    for i in range(key.shape[0]):
        class_of[i] = table[key[i]]
    return m


@njit(cache=True, nogil=True)
def _radix_argsort(key, n_passes, perm, scratch, counts):
    """Stable LSD radix sort (16-bit digits) of non-negative keys into ``perm``."""
    n = key.shape[0]
    for i in range(n):
        perm[i] = i
    src, dst = perm, scratch
    for p in range(n_passes):
        shift = p * 16
        counts[:] = 0
        for i in range(n):
            counts[((key[src[i]] >> shift) & 0xFFFF) + 1] += 1
        for d in range(65536):
            counts[d + 1] += counts[d]
        for i in range(n):
            j = src[i]
            d = (key[j] >> shift) & 0xFFFF
            dst[counts[d]] = j
            counts[d] += 1
        src, dst = dst, src
    if n_passes % 2 == 1:
        for i in range(n):
            perm[i] = src[i]


@njit(cache=True, nogil=True)
def _group_sorted(key, perm, class_of, sizes, class_keys):
    """Runs of equal keys in sorted order become classes; returns m."""
    m = -1
    prev = np.int64(-1)
    for r in range(perm.shape[0]):
        i = perm[r]
        k = key[i]
        if m < 0 or k != prev:
            m += 1
            sizes[m] = 0
            class_keys[m] = k
            prev = k
        sizes[m] += 1
        class_of[i] = m
    return m + 1


@njit(cache=True, nogil=True)
def _subset_sizes(class_of, rows, out):
    """out[c] = number of ``rows`` whose record is in class c."""
    for r in range(rows.shape[0]):
        out[class_of[rows[r]]] += 1


@njit(cache=True, nogil=True)
def _first_of(class_of, first):
    """Index of the first record of each class (first preset to -1)."""
    for i in range(class_of.shape[0]):
        c = class_of[i]
        if first[c] < 0:
            first[c] = i


@njit(cache=True, nogil=True)
def _scatter_add(class_of, weights, out):
    for i in range(class_of.shape[0]):
        out[class_of[i]] += weights[i]


@njit(cache=True, nogil=True)
def _diversity(pair_keys, pair_sizes, n_values, class_sizes, distinct, entropy):
    """Distinct and entropy l per class from (class, value) pair counts sorted by key."""
    for j in range(pair_keys.shape[0]):
        c = pair_keys[j] // n_values
        distinct[c] += 1
        p = pair_sizes[j] / class_sizes[c]
        entropy[c] -= p * np.log(p)
    for c in range(entropy.shape[0]):
        entropy[c] = np.exp(entropy[c]) if class_sizes[c] > 0 else 0.0


# ---------------------------------------------------------------------- wrappers
def _check_columns(columns: Sequence[np.ndarray], cards: Sequence[int]) -> int:
    if len(columns) != len(cards):
        raise ValueError(f"{len(columns)} columns but {len(cards)} cardinalities")
    n = -1
    for j, (col, card) in enumerate(zip(columns, cards, strict=True)):
        check_1d(col, np.int32, f"column {j}")
        if n >= 0 and col.shape[0] != n:
            raise ValueError(f"column {j} has {col.shape[0]} rows, expected {n}")
        n = col.shape[0]
        if int(card) < 1:
            raise ValueError(f"cardinality of column {j} must be >= 1, got {card}")
    return max(n, 0)


def _contiguous(col: np.ndarray) -> np.ndarray:
    return col if col.flags.c_contiguous else np.ascontiguousarray(col)


def composite_key(columns: Sequence[np.ndarray], cards: Sequence[int],
                  n: int | None = None) -> tuple[np.ndarray, int]:
    """Mixed-radix key of each record's code tuple.

    Parameters
    ----------
    columns : sequence of numpy.ndarray of int32
        ``k`` code columns of equal length.
    cards : sequence of int
        Cardinality of each column; codes must lie in ``[0, card)``.
    n : int, optional
        Number of records; required only when ``columns`` is empty (every
        record is then in the one class of the empty tuple).

    Returns
    -------
    key : numpy.ndarray of int64
        Non-negative keys; equal keys <=> equal tuples, and key order is the
        lexicographic order of the tuples.
    bound : int
        Every key is below ``bound`` (``<= 2**62``).

    Raises
    ------
    TypeError, ValueError
        Wrong dtype or shape, or a code outside ``[0, card)``.
    """
    m = _check_columns(columns, cards)
    if not columns:
        if n is None:
            raise ValueError("n is required when there are no columns")
        return np.zeros(int(n), np.int64), 1
    key = np.empty(m, np.int64)
    total = math.prod(int(c) for c in cards)
    if total <= KEY_LIMIT:
        # No densifying needed: every column in one pass (no key round trips).
        cols = tuple(_contiguous(c) for c in columns)
        bad = _fused_key(cols, np.array([int(c) for c in cards], np.int64), key)
        if bad:
            for j, (col, card) in enumerate(zip(cols, cards, strict=True)):
                n_bad = int(np.count_nonzero((col < 0) | (col >= int(card))))
                if n_bad:
                    raise ValueError(f"column {j}: {n_bad} code(s) outside [0, {int(card)})")
        return key, total
    bound = 1
    for j, (col, card) in enumerate(zip(columns, cards, strict=True)):
        card = int(card)
        col = _contiguous(col)
        if j == 0:
            bad = _first_step(col, card, key)
        else:
            if bound * card > KEY_LIMIT:
                # Densify: the rank of the key so far is < n, so the product fits.
                g = group_keys(key, bound)
                key = g.class_of.astype(np.int64)
                bound = max(g.n_classes, 1)
            bad = _radix_step(key, col, card, key)
        if bad:
            raise ValueError(f"column {j}: {bad} code(s) outside [0, {card})")
        bound *= card
    return key, bound


def radix_argsort(key: np.ndarray, bound: int) -> np.ndarray:
    """Stable argsort of non-negative int64 keys below ``bound`` (LSD radix, 16-bit digits).

    Parameters
    ----------
    key : numpy.ndarray of int64
        Keys in ``[0, bound)``.
    bound : int
        Exclusive upper bound; sets the number of passes.

    Returns
    -------
    numpy.ndarray of int64
        Permutation that sorts ``key`` (ties keep their input order).
    """
    if key.dtype != np.int64 or key.ndim != 1:
        raise TypeError("key must be a 1-D int64 array")
    n_passes = max(1, -(-max(int(bound) - 1, 1).bit_length() // _DIGIT_BITS))
    perm = np.empty(key.shape[0], np.int64)
    scratch = np.empty_like(perm)
    counts = np.empty(_DIGITS + 1, np.int64)
    _radix_argsort(_contiguous(key), n_passes, perm, scratch, counts)
    return perm


def group_keys(key: np.ndarray, bound: int, method: str = "auto") -> Classes:
    """Group records by an int64 key.

    Parameters
    ----------
    key : numpy.ndarray of int64
        Keys in ``[0, bound)``.
    bound : int
        Exclusive upper bound of the keys.
    method : {"auto", "direct", "radix"}
        ``direct`` counts into a table of ``bound`` slots, ``radix`` sorts;
        ``auto`` takes ``direct`` when ``bound <= 4 n + 4096``.

    Returns
    -------
    Classes
        Class ids in ascending key order.
    """
    if key.dtype != np.int64 or key.ndim != 1:
        raise TypeError("key must be a 1-D int64 array")
    if method not in ("auto", "direct", "radix"):
        raise ValueError(f"unknown method {method!r}")
    key = _contiguous(key)
    n = key.shape[0]
    cap = min(n, int(bound))
    class_of = np.empty(n, np.int32)
    sizes = np.empty(cap, np.int64)
    class_keys = np.empty(cap, np.int64)
    if method == "direct" or (method == "auto" and bound <= 4 * n + 4096):
        # int32 counts (n < 2**31, as class ids are int32): half the table's memory.
        table = np.zeros(int(bound), np.int32)
        m = _group_direct(key, table, class_of, sizes, class_keys)
    else:
        perm = radix_argsort(key, bound)
        m = _group_sorted(key, perm, class_of, sizes, class_keys)
    return Classes(class_of, sizes[:m].copy(), class_keys[:m].copy())


def classify(columns: Sequence[np.ndarray], cards: Sequence[int], n: int | None = None,
             method: str = "auto") -> Classes:
    """Equivalence classes of records over ``k`` code columns.

    Parameters
    ----------
    columns : sequence of numpy.ndarray of int32
        Attribute codes, one array per attribute (see the module contract).
    cards : sequence of int
        Cardinality of each attribute.
    n : int, optional
        Number of records, needed only when ``columns`` is empty.
    method : {"auto", "direct", "radix"}
        Grouping method (see :func:`group_keys`).

    Returns
    -------
    Classes
        ``class_of`` per record, ``sizes`` and ``keys`` per class; class ``j``
        is the ``j``-th code tuple in lexicographic order.
    """
    key, bound = composite_key(columns, cards, n)
    return group_keys(key, bound, method)


def subset_sizes(class_of: np.ndarray, rows: np.ndarray, n_classes: int) -> np.ndarray:
    """Number of the chosen records in each class.

    Parameters
    ----------
    class_of : numpy.ndarray of int32
        Class id of every record (from :func:`classify`).
    rows : numpy.ndarray of int64
        Indices of the chosen records (a segment); duplicates count twice.
    n_classes : int
        Number of classes.

    Returns
    -------
    numpy.ndarray of int64
        ``n_classes`` counts.
    """
    if rows.dtype != np.int64 or rows.ndim != 1:
        raise TypeError("rows must be a 1-D int64 array")
    if class_of.dtype != np.int32 or class_of.ndim != 1:
        raise TypeError("class_of must be a 1-D int32 array")
    if rows.size and (rows.min() < 0 or rows.max() >= class_of.shape[0]):
        raise ValueError("rows out of range")
    out = np.zeros(int(n_classes), np.int64)
    _subset_sizes(_contiguous(class_of), _contiguous(rows), out)
    return out


def size_histogram(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies of frequencies: how many classes have each size.

    Parameters
    ----------
    sizes : numpy.ndarray of int64
        Class sizes (zeros are ignored: empty classes of a subset).

    Returns
    -------
    values, counts : numpy.ndarray of int64
        Distinct positive sizes ascending, and the number of classes of each.
    """
    sizes = np.asarray(sizes, np.int64)
    if sizes.size and sizes.min() < 0:
        raise ValueError("negative class size")
    freq = np.bincount(sizes) if sizes.size else np.zeros(1, np.int64)
    freq[0] = 0
    values = np.flatnonzero(freq).astype(np.int64)
    return values, freq[values].astype(np.int64)


def diversity(class_of: np.ndarray, n_classes: int, sensitive: np.ndarray,
              n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct and entropy l-diversity of a sensitive code within each class.

    Parameters
    ----------
    class_of : numpy.ndarray of int32
        Class id of each record.
    n_classes : int
        Number of classes.
    sensitive : numpy.ndarray of int32
        Sensitive value code of each record, in ``[0, n_values)``.
    n_values : int
        Cardinality of the sensitive attribute.

    Returns
    -------
    distinct : numpy.ndarray of int64
        Number of distinct sensitive values per class (0 for an empty class).
    entropy : numpy.ndarray of float64
        ``exp`` of the Shannon entropy (natural log) of the values per class.
    """
    if class_of.shape != sensitive.shape:
        raise ValueError("class_of and sensitive differ in length")
    pair = classify([np.ascontiguousarray(class_of, np.int32), sensitive],
                    [max(int(n_classes), 1), int(n_values)])
    sizes = np.zeros(int(n_classes), np.int64)
    if class_of.size:
        _scatter_add(pair.keys // int(n_values), pair.sizes, sizes)
    return diversity_from_pairs(pair.keys, pair.sizes, n_values, sizes)


def diversity_from_pairs(pair_keys: np.ndarray, pair_sizes: np.ndarray, n_values: int,
                         class_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """l-diversity from (class, value) pair counts; pair key = class * n_values + value.

    Parameters
    ----------
    pair_keys, pair_sizes : numpy.ndarray of int64
        Distinct pair keys and their counts.
    n_values : int
        Cardinality of the sensitive attribute.
    class_sizes : numpy.ndarray of int64
        Size of each class (the sum of its pair counts).

    Returns
    -------
    distinct, entropy : numpy.ndarray
        As in :func:`diversity`.
    """
    distinct = np.zeros(class_sizes.shape[0], np.int64)
    entropy = np.zeros(class_sizes.shape[0], np.float64)
    _diversity(np.asarray(pair_keys, np.int64), np.asarray(pair_sizes, np.int64),
               int(n_values), np.asarray(class_sizes, np.int64), distinct, entropy)
    return distinct, entropy


def class_counts(columns: Sequence[np.ndarray], cards: Sequence[int],
                 weights: np.ndarray | None = None, n: int | None = None) -> ClassCounts:
    """Reduce records (one shard) to their distinct code tuples and counts.

    Parameters
    ----------
    columns, cards
        As in :func:`classify`.
    weights : numpy.ndarray of int64, optional
        Count carried by each record (1 when omitted); used by the merge.
    n : int, optional
        Number of records when ``columns`` is empty.

    Returns
    -------
    ClassCounts
        Tuples in lexicographic order and their counts.
    """
    cl = classify(columns, cards, n)
    first = np.full(cl.n_classes, -1, np.int64)
    _first_of(cl.class_of, first)
    codes = np.empty((cl.n_classes, len(columns)), np.int32)
    for j, col in enumerate(columns):
        codes[:, j] = col[first]
    if weights is None:
        return ClassCounts(codes, cl.sizes)
    counts = np.zeros(cl.n_classes, np.int64)
    _scatter_add(cl.class_of, np.asarray(weights, np.int64), counts)
    return ClassCounts(codes, counts)


def merge_class_counts(parts: Sequence[ClassCounts], cards: Sequence[int]) -> ClassCounts:
    """Exact merge of partial class counts from shards.

    Parameters
    ----------
    parts : sequence of ClassCounts
        Partials built with the same dictionaries (same ``cards``).
    cards : sequence of int
        Cardinality of each column.

    Returns
    -------
    ClassCounts
        Equal to :func:`class_counts` over all the shards' records at once.
    """
    k = len(cards)
    if not parts:
        return ClassCounts(np.empty((0, k), np.int32), np.empty(0, np.int64))
    for p in parts:
        if p.codes.ndim != 2 or p.codes.shape[1] != k:
            raise ValueError(f"partial has {p.codes.shape[1]} columns, expected {k}")
    codes = np.concatenate([p.codes for p in parts]).astype(np.int32, copy=False)
    counts = np.concatenate([p.counts for p in parts]).astype(np.int64, copy=False)
    columns = [np.ascontiguousarray(codes[:, j]) for j in range(k)]
    return class_counts(columns, cards, weights=counts, n=codes.shape[0])
