"""The signature scan's arrays by name: the compiled library's tables and the scan's outputs.

Each key is written once, here: :class:`ScanTables` (built by
:func:`basketguard.engine.detect.compile.resolve`), :class:`ScanEntries` and
:class:`ScanAggregates` (filled by :func:`basketguard.kernels.windows.scan_histories`),
each field with its dtype as an ``NDArray[...]`` annotation and its meaning in
the class docstring. The jitted scan takes and fills these NamedTuples directly.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple, get_args, get_type_hints

import numpy as np
from numpy.typing import NDArray


class ScanTables(NamedTuple):
    """The compiled signature library: the tables the scan kernel reads.

    Built by :func:`basketguard.engine.detect.compile.resolve`. A *slot* numbers
    an item that matters to some signature (a feature matches it or it belongs
    to a baseline group); features have global ids, those of signature ``s``
    being ``sig_feat_off[s] .. sig_feat_off[s + 1] - 1``. All fields are 1-D,
    C-contiguous arrays of the dtype given (checked by :func:`scan_histories`).

    Attributes
    ----------
    item_slot : int32 (n_items)
        Slot of each item code, -1 for an item no signature needs.
    slot_feat_off : int64 (n_slots + 1)
        Offsets of each slot's pairs in ``slot_feat`` / ``slot_feat_group``.
    slot_feat : int32 (slot_feat_off[-1])
        The features the slot's item matches.
    slot_feat_group : int32 (slot_feat_off[-1])
        For the same pairs: the baseline group the feature's quantity condition
        compares against, or -1 for none.
    slot_grp_off : int64 (n_slots + 1)
        Offsets of each slot's groups in ``slot_grp``.
    slot_grp : int32 (slot_grp_off[-1])
        The baseline groups the slot's lines count toward.
    feat_sig : int32 (n_features)
        Signature of each feature.
    feat_local : int32 (n_features)
        Position of the feature in its signature (its bit in the peak mask, < 64).
    feat_weight : float64 (n_features)
        Weight: > 0 for evidence, < 0 for counter-evidence (a presence feature
        that argues against the signature); always > 0 for an absence feature.
    feat_ratio : float64 (n_features)
        A line counts when its quantity reaches ``ratio`` times the customer's
        usual; ignored when the group is -1.
    feat_stage : int64 (n_features)
        ``stage_day``: the feature's first counting day minus the event day.
    feat_has_stage : bool (n_features)
        The feature dates the event (``feat_stage`` is meaningful).
    feat_spread : int64 (n_features)
        ``stage_spread``: the smallest half-width of the event interval.
    sig_feat_off : int64 (n_signatures + 1)
        Offsets of each signature's features (``sig_feat_off[-1]`` = n_features).
    sig_window : int64 (n_signatures)
        Window ``W`` in days.
    sig_min_stage : int64 (n_signatures)
        Stage features needed at the peak for an event-date estimate.
    sig_score_thr : float64 (n_signatures)
        Flagging score.
    feat_absent : int64 (n_features)
        0 for a presence feature; ``D > 0`` for an *absence feature* of ``D`` days
        (bought in the window but not in its last ``D`` days, ``1 <= D < W``;
        never a stage feature).
    """

    item_slot: NDArray[np.int32]
    slot_feat_off: NDArray[np.int64]
    slot_feat: NDArray[np.int32]
    slot_feat_group: NDArray[np.int32]
    slot_grp_off: NDArray[np.int64]
    slot_grp: NDArray[np.int32]
    feat_sig: NDArray[np.int32]
    feat_local: NDArray[np.int32]
    feat_weight: NDArray[np.float64]
    feat_ratio: NDArray[np.float64]
    feat_stage: NDArray[np.int64]
    feat_has_stage: NDArray[np.bool_]
    feat_spread: NDArray[np.int64]
    sig_feat_off: NDArray[np.int64]
    sig_window: NDArray[np.int64]
    sig_min_stage: NDArray[np.int64]
    sig_score_thr: NDArray[np.float64]
    feat_absent: NDArray[np.int64]


class ScanEntries(NamedTuple):
    """Per-(customer, signature) results, one entry per pair with a positive score.

    Customer-major, signatures ascending; every field has one value per entry.

    Attributes
    ----------
    customer : int64
        Customer code.
    signature : int32
        Signature index.
    score : float64
        Maximum score over time (> 0).
    peak_day : int32
        Peak day: the earliest candidate day reaching the maximum (not always a
        purchase day when the signature has counter-evidence or absence features).
    mask : uint64
        Peak mask: bit ``l`` for the signature's ``l``-th feature present at the peak
        (absence features included).
    event_day : int32
        Event-date estimate, :data:`NO_DAY` when there is none.
    event_low : int32
        Its interval's first day (:data:`NO_DAY` when there is no estimate).
    event_high : int32
        Its interval's last day (:data:`NO_DAY` when there is no estimate).
    """

    customer: NDArray[np.int64]
    signature: NDArray[np.int32]
    score: NDArray[np.float64]
    peak_day: NDArray[np.int32]
    mask: NDArray[np.uint64]
    event_day: NDArray[np.int32]
    event_low: NDArray[np.int32]
    event_high: NDArray[np.int32]


class ScanAggregates(NamedTuple):
    """Sums over customers (so the scans of customer shards add up exactly).

    A customer is *flagged* for a signature when its score reaches the
    signature's flagging score (``sig_score_thr``).

    Attributes
    ----------
    feature_lines : int64 (n_features)
        Counting lines of each feature.
    feature_customers : int64 (n_features)
        Customers with a counting line of the feature.
    feature_flagged : int64 (n_features)
        Flagged customers with the feature in their peak mask.
    signature_customers : int64 (n_signatures)
        Customers with a positive score (the entries of the signature).
    signature_flagged : int64 (n_signatures)
        Flagged customers.
    slot_flagged : int64 (n_slots, n_signatures)
        Flagged customers with a counting line of the slot's item in their peak
        window.
    """

    feature_lines: NDArray[np.int64]
    feature_customers: NDArray[np.int64]
    feature_flagged: NDArray[np.int64]
    signature_customers: NDArray[np.int64]
    signature_flagged: NDArray[np.int64]
    slot_flagged: NDArray[np.int64]


class ScanOutput(NamedTuple):
    """What :func:`scan_histories` returns.

    Attributes
    ----------
    entries : ScanEntries
    aggregates : ScanAggregates
    """

    entries: ScanEntries
    aggregates: ScanAggregates


@cache
def field_dtypes(cls: type) -> tuple[np.dtype, ...]:
    """The dtype of each field of :class:`ScanTables`, :class:`ScanEntries` or
    :class:`ScanAggregates` (from the ``NDArray[...]`` annotations), in field order."""
    hints = get_type_hints(cls)
    return tuple(np.dtype(get_args(get_args(hints[name])[1])[0]) for name in cls._fields)


def checked_tables(tables: ScanTables) -> ScanTables:
    """``tables`` with every field checked (dtype, 1-D, consistent lengths), C-contiguous.

    Raises
    ------
    TypeError
        ``tables`` is not a :class:`ScanTables`.
    ValueError
        A field has the wrong dtype, dimension or length (the message names it).
    """
    if not isinstance(tables, ScanTables):
        raise TypeError(f"tables must be a ScanTables, not {type(tables).__name__}")
    for name, arr, dtype in zip(ScanTables._fields, tables, field_dtypes(ScanTables),
                                strict=True):
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.ndim != 1:
            got = (f"a {arr.ndim}-D {arr.dtype} array" if isinstance(arr, np.ndarray)
                   else type(arr).__name__)
            raise ValueError(f"tables.{name}: expected a 1-D {dtype} array, got {got}")

    def last(off: np.ndarray) -> int:
        return int(off[-1]) if off.shape[0] else 0

    t = tables
    n_slots1 = max(t.slot_feat_off.shape[0], 1)  # n_slots + 1
    n_pairs, n_grp_pairs = last(t.slot_feat_off), last(t.slot_grp_off)
    n_feat, n_sig = last(t.sig_feat_off), t.sig_window.shape[0]
    by_feat = (n_feat, "sig_feat_off[-1]")
    by_sig = (n_sig, "the length of sig_window")
    lengths = ScanTables(  # (expected length, why) of each field
        item_slot=(t.item_slot.shape[0], "any"), slot_feat_off=(n_slots1, "n_slots + 1 >= 1"),
        slot_feat=(n_pairs, "slot_feat_off[-1]"), slot_feat_group=(n_pairs, "slot_feat_off[-1]"),
        slot_grp_off=(n_slots1, "the length of slot_feat_off"),
        slot_grp=(n_grp_pairs, "slot_grp_off[-1]"), feat_sig=by_feat, feat_local=by_feat,
        feat_weight=by_feat, feat_ratio=by_feat, feat_stage=by_feat, feat_has_stage=by_feat,
        feat_spread=by_feat, sig_feat_off=(n_sig + 1, "the length of sig_window + 1"),
        sig_window=by_sig, sig_min_stage=by_sig, sig_score_thr=by_sig, feat_absent=by_feat)
    for name, arr, (n, why) in zip(ScanTables._fields, tables, lengths, strict=True):
        if arr.shape[0] != n:
            raise ValueError(f"tables.{name}: length {arr.shape[0]}, expected {n} ({why})")
    return ScanTables(*(np.ascontiguousarray(arr) for arr in tables))
