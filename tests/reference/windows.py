"""Plain reference for the signature scan (kernels.windows), from its docstrings.

The definitions are the kernel module's; the input and output structures
(``ScanTables``, ``ScanEntries``, ``ScanAggregates``, ``ScanOutput``) are the
kernel's own NamedTuples, read and built by field name; the output dtypes are
spelled here from the field documentation, so that the tests check the kernel's.

Per customer and signature: the counting lines (the usual quantity recomputed
from the customer's other lines each time), every candidate day of the
definition (each counting day, ``d + W`` of every counting day of a
negative-weight feature, ``d + D`` of every counting day of an absence feature,
up to the horizon), at each the Python set of the features present (searched
in all the hits), the weighted median and MAD of the event-date estimates by
sorting lists. No numba, no CSR tricks, no counting sorts, no masks kept
incrementally, no pruning of candidates.

Sums of weights are taken in the signature's feature order (and the weighted
median's running sums in the sorted order) so that floating-point results match
the kernel's bit for bit; the order is not part of the definition.
"""

from __future__ import annotations

import math

import numpy as np

from basketguard.kernels.scan_arrays import ScanAggregates, ScanEntries, ScanOutput, ScanTables

NO_DAY = int(np.iinfo(np.int32).min)


def _library(tables: ScanTables) -> dict:
    """The compiled tables as plain Python structures keyed by item code."""
    item_slot = [int(v) for v in tables.item_slot]
    sf_off = [int(v) for v in tables.slot_feat_off]
    sg_off = [int(v) for v in tables.slot_grp_off]
    slot_feats = []  # slot -> [(feature, group)]
    slot_groups = []  # slot -> set of groups
    for sl in range(len(sf_off) - 1):
        slot_feats.append([(int(tables.slot_feat[j]), int(tables.slot_feat_group[j]))
                           for j in range(sf_off[sl], sf_off[sl + 1])])
        slot_groups.append({int(tables.slot_grp[j]) for j in range(sg_off[sl], sg_off[sl + 1])})
    sig_off = [int(v) for v in tables.sig_feat_off]
    sigs = []
    for s in range(len(sig_off) - 1):
        feats = list(range(sig_off[s], sig_off[s + 1]))
        sigs.append({
            "features": feats,
            "window": int(tables.sig_window[s]),
            "min_stage": int(tables.sig_min_stage[s]),
            "thr": float(tables.sig_score_thr[s]),
        })
    feat = {
        "weight": [float(v) for v in tables.feat_weight],
        "ratio": [float(v) for v in tables.feat_ratio],
        "stage": [int(v) for v in tables.feat_stage],
        "has_stage": [bool(v) for v in tables.feat_has_stage],
        "spread": [int(v) for v in tables.feat_spread],
        "sig": [int(v) for v in tables.feat_sig],
        "absent": [int(v) for v in tables.feat_absent],
    }
    return {"item_slot": item_slot, "slot_feats": slot_feats, "slot_groups": slot_groups,
            "sigs": sigs, "feat": feat, "n_slots": len(sf_off) - 1}


def counting_lines(lines: list[tuple[int, int, float]], lib: dict) -> list[tuple[int, int, int]]:
    """``(day, feature, slot)`` of every (line, feature) pair that counts."""
    out = []
    for i, (it, d, q) in enumerate(lines):
        sl = lib["item_slot"][it]
        if sl < 0:
            continue
        for f, g in lib["slot_feats"][sl]:
            if g >= 0:
                others = [q2 for j, (it2, _, q2) in enumerate(lines)
                          if j != i and lib["item_slot"][it2] >= 0
                          and g in lib["slot_groups"][lib["item_slot"][it2]]]
                usual = sum(others) / len(others) if others else 1.0
                if not q >= lib["feat"]["ratio"][f] * usual:
                    continue
            out.append((d, f, sl))
    return out


def weighted_median(values: list[int], weights: list[float]) -> int:
    """Smallest value whose cumulative weight (values ascending) reaches half the total."""
    pairs = sorted(zip(values, weights, strict=True), key=lambda p: p[0])
    total = 0.0
    for _, w in pairs:
        total += w
    cum = 0.0
    for v, w in pairs:
        cum += w
        if cum >= total / 2:
            return v
    return pairs[-1][0]


def present_at(f: int, t: int, hits: list[tuple[int, int, int]], w: int, feat: dict) -> bool:
    """Whether feature ``f`` is present at day ``t`` (presence or absence feature)."""
    days = [d for d, g, _ in hits if g == f]
    absent = feat["absent"][f]
    if absent == 0:
        return any(t - w < d <= t for d in days)
    before = [d for d in days if d <= t]
    if not before:
        return False
    last = max(before)
    return t - w < last <= t - absent


def candidate_days(hits: list[tuple[int, int, int]], w: int, feat: dict, horizon: int) -> list[int]:
    """The candidate days of one (customer, signature), ascending, up to the horizon."""
    days = set()
    for d, f, _ in hits:
        days.add(d)
        if feat["weight"][f] < 0:
            days.add(d + w)
        if feat["absent"][f] > 0:
            days.add(d + feat["absent"][f])
    return sorted(t for t in days if t <= horizon)


def score_signature(hits: list[tuple[int, int, int]], sig: dict, feat: dict,
                    horizon: int) -> dict | None:
    """Score, peak, mask and event estimate of one signature from its counting lines;
    None when it is no entry (no candidate day, or a best score <= 0)."""
    w = sig["window"]
    local = {f: pos for pos, f in enumerate(sig["features"])}

    def present(t):
        return {f for f in sig["features"] if present_at(f, t, hits, w, feat)}

    best, peak = None, None
    for t in candidate_days(hits, w, feat, horizon):
        fs = present(t)
        score = 0.0
        for f in sig["features"]:  # summed in feature order (see the module docstring)
            if f in fs:
                score += feat["weight"][f]
        if best is None or score > best:
            best, peak = score, t
    if best is None or not best > 0:
        return None
    at_peak = present(peak)
    mask = sum(1 << local[f] for f in at_peak)
    event = low = high = NO_DAY
    if any(feat["has_stage"][f] for f in sig["features"]):
        est, wts, spreads = [], [], []
        for f in sig["features"]:
            if f in at_peak and feat["has_stage"][f]:
                first = min(d for d, g, _ in hits if g == f and peak - w < d <= peak)
                est.append(first - feat["stage"][f])
                wts.append(feat["weight"][f])
                spreads.append(feat["spread"][f])
        if est and len(est) >= sig["min_stage"]:
            event = weighted_median(est, wts)
            dev = sorted(abs(e - event) for e in est)
            mad = dev[(len(dev) - 1) // 2]
            half = max(min(spreads), math.ceil(1.4826 * mad))
            low, high = event - half, event + half
    slots = {sl for d, _, sl in hits if peak - w < d <= peak}
    return {"score": best, "peak": peak, "mask": mask, "event": event, "low": low,
            "high": high, "present": at_peak, "slots": slots}


def scan(offsets, item, day, quantity, tables: ScanTables,
         horizon: int | None = None) -> ScanOutput:
    """Same outputs as ``kernels.windows.scan_histories`` (quantity may be None;
    ``horizon`` defaults to the largest day)."""
    if horizon is None:
        horizon = max((int(d) for d in day), default=0)
    lib = _library(tables)
    sigs, feat = lib["sigs"], lib["feat"]
    n_feat, n_sig = len(feat["weight"]), len(sigs)
    rows: list[ScanEntries] = []  # one entry of scalars per (customer, signature) scoring > 0
    agg = ScanAggregates(
        feature_lines=np.zeros(n_feat, np.int64), feature_customers=np.zeros(n_feat, np.int64),
        feature_flagged=np.zeros(n_feat, np.int64),
        signature_customers=np.zeros(n_sig, np.int64),
        signature_flagged=np.zeros(n_sig, np.int64),
        slot_flagged=np.zeros((lib["n_slots"], n_sig), np.int64),
    )
    offsets = [int(v) for v in offsets]
    for c in range(len(offsets) - 1):
        lines = [(int(item[i]), int(day[i]),
                  float(quantity[i]) if quantity is not None and len(quantity) else 1.0)
                 for i in range(offsets[c], offsets[c + 1])]
        hits = counting_lines(lines, lib)
        for f in range(n_feat):
            k = sum(1 for _, g, _ in hits if g == f)
            agg.feature_lines[f] += k
            agg.feature_customers[f] += k > 0
        for s, sig in enumerate(sigs):
            res = score_signature([h for h in hits if feat["sig"][h[1]] == s], sig, feat,
                                  horizon)
            if res is None:
                continue
            rows.append(ScanEntries(customer=c, signature=s, score=res["score"],
                                    peak_day=res["peak"], mask=res["mask"],
                                    event_day=res["event"], event_low=res["low"],
                                    event_high=res["high"]))
            agg.signature_customers[s] += 1
            if res["score"] >= sig["thr"]:
                agg.signature_flagged[s] += 1
                for f in res["present"]:
                    agg.feature_flagged[f] += 1
                for sl in res["slots"]:
                    agg.slot_flagged[sl, s] += 1
    col = ScanEntries(*([getattr(r, name) for r in rows] for name in ScanEntries._fields))
    entries = ScanEntries(
        customer=np.asarray(col.customer, np.int64), signature=np.asarray(col.signature, np.int32),
        score=np.asarray(col.score, np.float64), peak_day=np.asarray(col.peak_day, np.int32),
        mask=np.asarray(col.mask, np.uint64), event_day=np.asarray(col.event_day, np.int32),
        event_low=np.asarray(col.event_low, np.int32),
        event_high=np.asarray(col.event_high, np.int32),
    )
    return ScanOutput(entries, agg)
