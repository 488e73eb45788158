"""Time-windowed signature scoring over customer histories (one pass, all signatures).

Input contract
--------------
- ``offsets`` int64 (customers + 1), ``item`` int32, ``day`` int32 (days since
  the epoch), each customer's lines sorted by day; ``quantity`` float32 of the
  same length, or empty when no baseline groups are given.
- ``tables``: the compiled library, a :class:`ScanTables` (whose docstring
  documents every table), built by :func:`basketguard.engine.detect.compile.resolve`;
  ``n_groups``: the number of baseline groups; ``horizon``: a day number (an
  int64 in the kernel).

Definitions
-----------
- A line *counts* for feature ``f`` when its item matches ``f`` and, if ``f`` has
  a quantity condition, ``quantity >= ratio * usual`` where ``usual`` is the
  mean quantity of the customer's *other* lines in the baseline group (1.0 when
  there are none). Every counting line is counted in ``feature_lines`` and
  ``feature_customers``, whatever its day.
- Features: a *presence feature* (``feat_absent[f] == 0``) is *present at day t*
  when it has a counting line on a day in ``(t - W, t]``; its weight is positive
  (evidence) or negative (counter-evidence). An *absence feature* of ``D`` days
  (``D = feat_absent[f]``, ``1 <= D < W``, positive weight, no stage day) is
  present at ``t`` when ``L``, the customer's last counting day of ``f`` on or
  before ``t``, satisfies ``t - W < L <= t - D``: bought in the window, but not in
  its last ``D`` days ("stopped buying").
- ``score_s(t)`` = sum of the weights of the features of ``s`` present at ``t``,
  summed in the signature's feature order.
- *Horizon* ``H`` (``scan_histories(horizon=...)``, default the largest day in
  ``day``): no day after ``H`` is evaluated.
- *Candidate days* of (customer, signature): every counting day ``d`` of a
  feature of ``s``, plus ``d + W`` for each such ``d`` of a negative-weight
  feature (the day it leaves the window, raising the score), plus ``d + D`` for
  each such ``d`` of an absence feature (the day it becomes present); only those
  ``<= H``. The score is the maximum of ``score_s`` over the candidate days, the
  *peak day* the earliest candidate day reaching it, and the *peak mask* has bit
  ``l`` set for the signature's ``l``-th feature present at the peak (absence
  features included). The score can only fall between candidate days, so this
  is the maximum over all days from the first counting day to ``H``.
- Entries: a (customer, signature) pair is an entry only when its score is
  ``> 0``; a customer whose evidence scores ``<= 0`` (say, only counter-evidence)
  is not an entry, like a customer without evidence. It is *flagged* when the
  score reaches ``sig_score_thr``; ``slot_flagged`` counts, per signature, the
  flagged customers with a counting line of the slot's item in the *peak window*
  ``(peak - W, peak]``.
- Event date (signatures with stage features): for each stage feature present
  at the peak, ``e_f = first counting day of f in the peak window - stage_day_f``;
  the estimate is the weighted median of ``e_f`` (weights = feature weights; the
  smallest ``e`` whose cumulative weight reaches half the total), the interval
  ``estimate +- max(min stage_spread, ceil(1.4826 * MAD))`` with the MAD the
  lower median of ``|e_f - estimate|``. Fewer than ``min_stage`` stage features:
  no estimate (:data:`NO_DAY`).

Algorithm
---------
Signatures whose features are all positive-weight presence features take an
incremental path over the counting days (the set present changes only when a
feature enters or expires, and the score only rises on counting days).
Signatures with a negative or absence feature take a general sweep over the
candidate days in order, keeping the last counting day of each feature:
O(candidates x features), evaluating, of the ``d + W`` and ``d + D``
candidates, only those of each feature's last counting day so far (the others
change no feature's state, so they cannot raise the score nor be the earliest
day reaching it).

Outputs
-------
:func:`scan_histories` returns a :class:`ScanOutput`: :class:`ScanEntries`, only
the (customer, signature) pairs with a positive score (a sparse list,
customer-major, signatures ascending: every other customer scores 0), and
:class:`ScanAggregates`, sums over customers. The kernel fills one
:class:`ScanAggregates` row per block (arrays with a leading block axis) and
the wrapper sums them; blocks are contiguous customer ranges, so results do not
depend on the number of threads.
"""

from __future__ import annotations

import operator

import numba
import numpy as np
from numba import njit

from basketguard.kernels.scan_arrays import (
    ScanAggregates,
    ScanEntries,
    ScanOutput,
    ScanTables,
    checked_tables,
    field_dtypes,
)
from basketguard.kernels.threads import run_ranges

#: Day sentinel: no peak / no estimate.
NO_DAY = np.iinfo(np.int32).min
# The general sweep's sentinels: a feature never bought, no candidate left (both far
# from any day, so that ``day +- W`` cannot overflow or reach them).
_NEVER = -(1 << 62)
_AFTER = 1 << 62


def block_bounds(offsets: np.ndarray, n_blocks: int) -> np.ndarray:
    """Customer boundaries of about ``n_blocks`` blocks with similar line counts.

    Parameters
    ----------
    offsets : int64 array
        History offsets.
    n_blocks : int
        Wanted number of blocks (>= 1).

    Returns
    -------
    int64 array
        Increasing customer indices from 0 to n_customers (duplicates removed).
    """
    n_cust = offsets.shape[0] - 1
    if n_cust <= 0:
        return np.zeros(1, np.int64)
    targets = np.linspace(0, offsets[-1], max(1, n_blocks) + 1)
    cuts = np.searchsorted(offsets, targets, side="left").astype(np.int64)
    cuts[0], cuts[-1] = 0, n_cust
    return np.unique(np.minimum(cuts, n_cust))


@njit(cache=True, nogil=True)
def day_range(day):
    """The smallest and the largest value of ``day`` (not empty), in one pass."""
    lo = day[0]
    hi = day[0]
    for i in range(1, day.shape[0]):
        d = day[i]
        lo = min(lo, d)
        hi = max(hi, d)
    return lo, hi


def _outside(item: np.ndarray, n_items: int) -> bool:
    """Whether some item code is outside ``0 .. n_items - 1`` (``item`` not empty)."""
    return bool(item.min() < 0 or item.max() >= n_items)


@njit(cache=True, nogil=True, inline="always")
def _weighted_median(est, wt, n):
    """Sort ``est[:n]`` (with ``wt``) and return the lower weighted median."""
    for i in range(1, n):
        e, w = est[i], wt[i]
        j = i - 1
        while j >= 0 and est[j] > e:
            est[j + 1] = est[j]
            wt[j + 1] = wt[j]
            j -= 1
        est[j + 1] = e
        wt[j + 1] = w
    total = 0.0
    for i in range(n):
        total += wt[i]
    cum = 0.0
    for i in range(n):
        cum += wt[i]
        if 2.0 * cum >= total:
            return est[i]
    return est[n - 1]


@njit(cache=True, nogil=True)
def _scan_block(c_lo, c_hi, offsets, item, day, quantity, tables, n_groups, horizon, base,
                entries, blocks, blk):
    """Score customers ``c_lo .. c_hi - 1`` up to day ``horizon``: entries from ``base`` on,
    aggregates into row ``blk`` of ``blocks``; returns the number of entries written, or
    -1 when an item code is outside ``item_slot`` (read as item 0, the results are void).

    ``item_slot`` must not be empty."""
    item_slot = tables.item_slot
    slot_feat_off = tables.slot_feat_off
    slot_feat = tables.slot_feat
    slot_feat_group = tables.slot_feat_group
    slot_grp_off = tables.slot_grp_off
    slot_grp = tables.slot_grp
    feat_sig = tables.feat_sig
    feat_local = tables.feat_local
    feat_weight = tables.feat_weight
    feat_ratio = tables.feat_ratio
    feat_stage = tables.feat_stage
    feat_has_stage = tables.feat_has_stage
    feat_spread = tables.feat_spread
    feat_absent = tables.feat_absent
    sig_feat_off = tables.sig_feat_off
    sig_window = tables.sig_window
    sig_min_stage = tables.sig_min_stage
    sig_score_thr = tables.sig_score_thr
    a_feat_lines = blocks.feature_lines[blk]
    a_feat_cust = blocks.feature_customers[blk]
    a_feat_flag = blocks.feature_flagged[blk]
    a_sig_cust = blocks.signature_customers[blk]
    a_sig_flag = blocks.signature_flagged[blk]
    a_slot_flag = blocks.slot_flagged[blk]
    n_sig = sig_window.shape[0]
    n_feat = feat_weight.shape[0]
    n_slots = slot_feat_off.shape[0] - 1
    max_len = 0
    for c in range(c_lo, c_hi):
        ln = offsets[c + 1] - offsets[c]
        if ln > max_len:
            max_len = ln
    max_sf = 1
    for s in range(n_slots):
        k = slot_feat_off[s + 1] - slot_feat_off[s]
        if k > max_sf:
            max_sf = k
    buf = np.empty(max_len + 1, np.int64)
    bslot = np.empty(max_len + 1, np.int32)
    h_day = np.empty(max_len * max_sf, np.int64)
    h_feat = np.empty(max_len * max_sf, np.int32)
    h_slot = np.empty(max_len * max_sf, np.int32)
    s_day = np.empty(max_len * max_sf, np.int64)
    s_feat = np.empty(max_len * max_sf, np.int32)
    s_slot = np.empty(max_len * max_sf, np.int32)
    sig_cnt = np.zeros(n_sig + 1, np.int64)
    fline = np.empty(max_len + 1, np.int64)  # positions in ``buf`` of the feature lines
    # Group sums with one spare group (index n_groups) for the lines of no group, and
    # each slot's group when it has at most one (the branch-free accumulation below).
    gsum = np.zeros(n_groups + 1, np.float64)
    gcnt = np.zeros(n_groups + 1, np.int64)
    # written before it is known whether the group is new: room for one more than the
    # n_groups + 1 groups it can list
    touched = np.empty(n_groups + 2, np.int64)
    slot_one_grp = np.full(max(n_slots, 1), n_groups, np.int64)
    one_grp = True
    slot_has_feat = np.zeros(max(n_slots, 1), np.int64)
    for sl in range(n_slots):
        slot_has_feat[sl] = slot_feat_off[sl + 1] > slot_feat_off[sl]
        ng = slot_grp_off[sl + 1] - slot_grp_off[sl]
        if ng == 1:
            slot_one_grp[sl] = slot_grp[slot_grp_off[sl]]
        elif ng > 1:
            one_grp = False
    has_q = n_groups > 0
    last = np.empty(64, np.int64)
    first = np.empty(64, np.int64)
    est = np.empty(64, np.int64)
    wt = np.empty(64, np.float64)
    dev = np.empty(64, np.int64)
    feat_mark = np.full(n_feat, -1, np.int64)
    sig_staged = np.zeros(n_sig, np.bool_)  # the signature has stage features
    sig_general = np.zeros(n_sig, np.bool_)  # ... a negative-weight or an absence feature
    for f in range(n_feat):
        if feat_has_stage[f]:
            sig_staged[feat_sig[f]] = True
        if feat_weight[f] < 0 or feat_absent[f] > 0:
            sig_general[feat_sig[f]] = True
    slot_mark = np.full(max(n_slots, 1), -1, np.int64)
    n_items = item_slot.shape[0]
    outside = False
    out = base
    for c in range(c_lo, c_hi):
        lo = offsets[c]
        hi = offsets[c + 1]
        n = 0
        for i in range(lo, hi):  # the hot loop: one lookup per line, branch-free compaction
            it = item[i]
            inside = (it >= 0) & (it < n_items)  # the range check, without a pass of its own
            outside |= not inside
            sl = item_slot[it if inside else 0]
            buf[n] = i
            bslot[n] = sl
            n += sl >= 0
        if n == 0:
            continue
        # Baseline-group sums (in line order) and the list of the feature lines, both
        # branch-free: a line of no group counts toward the spare group n_groups, and
        # ``touched`` lists each group once (its first line) for the reset below.
        nt = 0
        nfl = 0
        if has_q and one_grp:
            for k in range(n):
                sl = bslot[k]
                gg = slot_one_grp[sl]
                touched[nt] = gg
                nt += gcnt[gg] == 0
                gsum[gg] += np.float64(quantity[buf[k]])
                gcnt[gg] += 1
                fline[nfl] = k
                nfl += slot_has_feat[sl]
        else:
            for k in range(n):
                sl = bslot[k]
                fline[nfl] = k
                nfl += slot_has_feat[sl]
                if has_q:  # a slot in several groups
                    q = np.float64(quantity[buf[k]])
                    for g in range(slot_grp_off[sl], slot_grp_off[sl + 1]):
                        gg = slot_grp[g]
                        if gcnt[gg] == 0:
                            touched[nt] = gg
                            nt += 1
                        gsum[gg] += q
                        gcnt[gg] += 1
        # The hits, one per (feature line, feature it counts for), with the quantity
        # condition evaluated without a branch (computed for every pair, kept when the
        # pair has a group); most feature lines match a single feature.
        nh = 0
        for s in range(n_sig + 1):
            sig_cnt[s] = 0
        for x in range(nfl):
            k = fline[x]
            sl = bslot[k]
            i = buf[k]
            d = day[i]
            q = np.float64(quantity[i]) if has_q else 1.0
            for j in range(slot_feat_off[sl], slot_feat_off[sl + 1]):
                f = slot_feat[j]
                g = slot_feat_group[j]
                gq = max(g, 0)
                cnt = gcnt[gq]
                usual = (gsum[gq] - q) / max(cnt - 1, 1)
                ok = (g < 0) | (q >= feat_ratio[f] * (usual if cnt > 1 else 1.0))
                # written unconditionally and kept when ``ok``: no unpredictable branch
                h_day[nh] = d
                h_feat[nh] = f
                h_slot[nh] = sl
                nh += ok
                sig_cnt[feat_sig[f] + 1] += ok
                a_feat_lines[f] += ok
                mark = feat_mark[f]
                a_feat_cust[f] += ok & (mark != c)
                feat_mark[f] = c if ok else mark
        for x in range(nt):
            gsum[touched[x]] = 0.0
            gcnt[touched[x]] = 0
        if nh == 0:
            continue
        # stable counting sort of the hits by signature (days stay ascending; the
        # counts were taken with the hits)
        for s in range(n_sig):
            sig_cnt[s + 1] += sig_cnt[s]
        for k in range(nh):
            s = feat_sig[h_feat[k]]
            p = sig_cnt[s]
            s_day[p] = h_day[k]
            s_feat[p] = h_feat[k]
            s_slot[p] = h_slot[k]
            sig_cnt[s] = p + 1
        a = 0
        for s in range(n_sig):
            b = sig_cnt[s]
            if b == a:
                continue
            f0 = sig_feat_off[s]
            nf = sig_feat_off[s + 1] - f0
            w = np.int64(sig_window[s])
            best = -np.inf
            peak = np.int64(NO_DAY)
            best_mask = np.uint64(0)
            if not sig_general[s]:
                bh = b  # the hits up to the horizon (days ascending)
                while bh > a and s_day[bh - 1] > horizon:
                    bh -= 1
                for lf in range(nf):
                    last[lf] = NO_DAY
                # The set of features in the window changes only when a feature enters
                # (a hit) or expires (its last day leaves the window); ``oldest`` is a
                # lower bound of the last days present, so expiry is checked only when it
                # can happen. The score is re-summed in feature order when the set changes,
                # which keeps it bit-identical to a direct sum.
                mask = np.uint64(0)
                sc = 0.0
                oldest = np.int64(1) << np.int64(62)
                k = a
                while k < bh:
                    t = s_day[k]
                    changed = False
                    if oldest <= t - w:
                        oldest = np.int64(1) << np.int64(62)
                        for lf in range(nf):
                            bit = np.uint64(1) << np.uint64(lf)
                            if mask & bit:
                                if last[lf] <= t - w:
                                    mask &= ~bit
                                    changed = True
                                elif last[lf] < oldest:
                                    oldest = last[lf]
                    while k < bh and s_day[k] == t:
                        lf = feat_local[s_feat[k]]
                        bit = np.uint64(1) << np.uint64(lf)
                        if not (mask & bit):
                            mask |= bit
                            changed = True
                            if t < oldest:
                                oldest = t
                        last[lf] = t
                        k += 1
                    if changed:
                        # Adding 0.0 for an absent feature leaves the sum as it is (it is
                        # never -0.0), so this select is the same sum without a branch.
                        sc = 0.0
                        for lf in range(nf):
                            on = (mask >> np.uint64(lf)) & np.uint64(1)
                            sc += feat_weight[f0 + lf] if on else 0.0
                        if sc > best:
                            best = sc
                            peak = t
                            best_mask = mask
            else:
                # Sweep over the candidate days in order: the next one is the next hit day
                # or the earliest pending ``L + D`` (absence) / ``L + W`` (negative weight)
                # of a feature's last counting day ``L`` (see the module docstring).
                for lf in range(nf):
                    last[lf] = _NEVER
                k = a
                t = s_day[a]
                while t <= horizon and t < _AFTER:
                    while k < b and s_day[k] <= t:
                        last[feat_local[s_feat[k]]] = s_day[k]
                        k += 1
                    nxt = s_day[k] if k < b else _AFTER
                    mask = np.uint64(0)
                    sc = 0.0
                    for lf in range(nf):
                        f = f0 + lf
                        ll = last[lf]
                        dd = feat_absent[f]  # 0 for a presence feature: ll <= t - 0 holds
                        if ll > t - w and ll <= t - dd:
                            sc += feat_weight[f]
                            mask |= np.uint64(1) << np.uint64(lf)
                        if dd > 0 and t < ll + dd < nxt:
                            nxt = ll + dd
                        if feat_weight[f] < 0 and t < ll + w < nxt:
                            nxt = ll + w
                    if sc > best:
                        best = sc
                        peak = t
                        best_mask = mask
                    t = nxt
            if not best > 0:
                a = b
                continue  # no evidence up to the horizon, or only counter-evidence
            ev = np.int64(NO_DAY)
            ev_lo = np.int64(NO_DAY)
            ev_hi = np.int64(NO_DAY)
            if sig_staged[s]:
                for lf in range(nf):
                    first[lf] = NO_DAY
                for k in range(a, b):  # days ascending: none in the window after peak
                    dk = s_day[k]
                    if dk > peak:
                        break
                    lf = feat_local[s_feat[k]]
                    fl = first[lf]
                    first[lf] = dk if (dk > peak - w) & (fl == NO_DAY) else fl
                m = 0
                spread = np.int64(1 << 40)
                for lf in range(nf):
                    f = f0 + lf
                    if (feat_has_stage[f] and first[lf] != NO_DAY
                            and (best_mask >> np.uint64(lf)) & np.uint64(1)):
                        est[m] = first[lf] - feat_stage[f]
                        wt[m] = feat_weight[f]
                        if feat_spread[f] < spread:
                            spread = feat_spread[f]
                        m += 1
                if m >= sig_min_stage[s] and m > 0:
                    ev = _weighted_median(est, wt, m)
                    for x in range(m):
                        dev[x] = abs(est[x] - ev)
                    for x in range(1, m):
                        d = dev[x]
                        y = x - 1
                        while y >= 0 and dev[y] > d:
                            dev[y + 1] = dev[y]
                            y -= 1
                        dev[y + 1] = d
                    mad = dev[(m - 1) // 2]
                    h = np.int64(np.ceil(1.4826 * mad))
                    if h < spread:
                        h = spread
                    ev_lo = ev - h
                    ev_hi = ev + h
            entries.customer[out] = c
            entries.signature[out] = s
            entries.score[out] = best
            entries.peak_day[out] = peak
            entries.mask[out] = best_mask
            entries.event_day[out] = ev
            entries.event_low[out] = ev_lo
            entries.event_high[out] = ev_hi
            out += 1
            a_sig_cust[s] += 1
            if best >= sig_score_thr[s]:
                a_sig_flag[s] += 1
                for lf in range(nf):
                    if (best_mask >> np.uint64(lf)) & np.uint64(1):
                        a_feat_flag[f0 + lf] += 1
                stamp = c * n_sig + s
                for k in range(a, b):  # days ascending: none in the window after peak
                    if s_day[k] > peak:
                        break
                    if s_day[k] > peak - w:
                        sl = s_slot[k]
                        if slot_mark[sl] != stamp:
                            slot_mark[sl] = stamp
                            a_slot_flag[sl, s] += 1
            a = b
    return -1 if outside else out - base


def _scan(start, stop, bounds, offsets, item, day, quantity, tables, n_groups, horizon,
          entries, counts, blocks):
    """Blocks ``start:stop`` (on threads, :mod:`basketguard.kernels.threads`); block ``b``
    writes entries from ``bounds[b] * n_sig`` on and its aggregates into row ``b`` of
    ``blocks``.

    A Python loop of one kernel call per block (a few dozen calls a scan), not an
    ``@njit`` wrapper: Numba links a callee's code into its caller and optimizes and
    generates machine code for it again, which cost 1.3 s of cold JIT here.
    """
    n_sig = tables.sig_window.shape[0]
    for b in range(int(start), int(stop)):
        counts[b] = _scan_block(bounds[b], bounds[b + 1], offsets, item, day, quantity, tables,
                                n_groups, horizon, bounds[b] * np.int64(n_sig), entries, blocks,
                                np.int64(b))


def scan_histories(offsets: np.ndarray, item: np.ndarray, day: np.ndarray,
                   quantity: np.ndarray | None, tables: ScanTables, n_groups: int,
                   n_blocks: int | None = None, horizon: int | None = None) -> ScanOutput:
    """Score every signature of a compiled library over every customer.

    Parameters
    ----------
    offsets, item, day : numpy.ndarray
        Histories (see the module docstring).
    quantity : numpy.ndarray or None
        float32 quantities; required when ``n_groups > 0``.
    tables : ScanTables
        The compiled library.
    n_groups : int
        Number of baseline groups (0: no quantity conditions).
    n_blocks : int, optional
        Number of customer blocks (default: 8 per Numba thread).
    horizon : int, optional
        Last day evaluated (a day number; default: the largest day in ``day``).
        Scans of customer shards pass one global value, so that a shard's results
        do not depend on the days of the others.

    Returns
    -------
    ScanOutput
        The sparse :class:`ScanEntries` and the :class:`ScanAggregates`.

    Raises
    ------
    TypeError
        ``tables`` is not a :class:`ScanTables`; ``horizon`` is not an integer.
    ValueError
        A table of the wrong dtype, dimension or length (named), histories that
        are not one CSR, missing quantities, item codes outside ``item_slot``.
    """
    t = checked_tables(tables)
    offsets = np.ascontiguousarray(offsets, np.int64)
    item = np.ascontiguousarray(item, np.int32)
    day = np.ascontiguousarray(day, np.int32)
    if item.shape != day.shape or offsets.shape[0] < 1 or offsets[-1] != item.shape[0]:
        raise ValueError("offsets, item and day do not describe one CSR")
    if n_groups > 0:
        if quantity is None or quantity.shape != item.shape:
            raise ValueError("quantity conditions need a quantity per line")
        quantity = np.ascontiguousarray(quantity, np.float32)
    else:
        quantity = np.empty(0, np.float32)
    n_sig = t.sig_window.shape[0]
    n_cust = offsets.shape[0] - 1
    # The kernel checks the item codes as it reads them (saving two passes over
    # ``item``); it reads every line when ``offsets`` starts at 0 and it runs at all.
    kernel_checks = (n_cust > 0 and n_sig > 0 and offsets[0] == 0
                     and t.item_slot.shape[0] > 0)
    if item.size and not kernel_checks and _outside(item, t.item_slot.shape[0]):
        raise ValueError("item codes outside the slot table")
    if horizon is not None:
        try:
            horizon = operator.index(horizon)
        except TypeError:
            if item.size and _outside(item, t.item_slot.shape[0]):
                raise ValueError("item codes outside the slot table") from None
            raise
    elif day.size and ((t.feat_weight < 0) | (t.feat_absent > 0)).any():
        horizon = int(day.max())
    else:
        # Without negative or absence features only counting days are evaluated, all
        # of them <= the largest day: no limit is the same and saves a pass over ``day``.
        horizon = _AFTER
    n_feat = t.feat_weight.shape[0]
    n_slots = t.slot_feat_off.shape[0] - 1
    if n_blocks is None:
        n_blocks = 8 * numba.get_num_threads()
    bounds = block_bounds(offsets, n_blocks)
    nb = bounds.shape[0] - 1
    cap = n_cust * n_sig
    entries = ScanEntries(*(np.empty(cap, dtype) for dtype in field_dtypes(ScanEntries)))
    counts = np.zeros(max(nb, 0), np.int64)
    shapes = ScanAggregates(
        feature_lines=(nb, n_feat), feature_customers=(nb, n_feat),
        feature_flagged=(nb, n_feat), signature_customers=(nb, n_sig),
        signature_flagged=(nb, n_sig), slot_flagged=(nb, n_slots, n_sig))
    blocks = ScanAggregates(*(np.zeros(shape, dtype) for shape, dtype
                              in zip(shapes, field_dtypes(ScanAggregates), strict=True)))
    if nb > 0 and n_sig > 0:
        run_ranges(_scan, nb, bounds, offsets, item, day, quantity, t, np.int64(n_groups),
                   np.int64(min(max(horizon, -_AFTER), _AFTER)), entries, counts, blocks,
                   parts=nb)
        if (counts < 0).any():
            raise ValueError("item codes outside the slot table")
    keep = np.concatenate([np.arange(bounds[b] * n_sig, bounds[b] * n_sig + counts[b])
                           for b in range(nb)]) if nb else np.zeros(0, np.int64)
    return ScanOutput(ScanEntries(*(a[keep] for a in entries)),
                      ScanAggregates(*(a.sum(axis=0) for a in blocks)))
