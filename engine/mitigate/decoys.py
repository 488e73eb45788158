"""Decoy recipients: customers added to a mailing so that receiving it says less.

Decoys are *recipient cover*: an observer who knows the targeting can no longer
tell a target from a decoy, so the posterior of the sensitive event falls to
``(S_t + S_d) / (n_t + d)``; with decoys of probability near 0 the bound of
DESIGN.md follows, ``d >= n_s (1 - rho) / rho``. That only holds when decoys look
like targets to the observer, so they are drawn by strata:

- level 0: the attribute class over the exported attributes, the visit-frequency
  quintile (distinct purchase days, quintiles over the whole base) and the main
  department (the top catalog level with most lines);
- level 1: attribute class and frequency quintile;
- then the class over the exported attributes but the last, with the frequency
  quintile, and so on down to the frequency quintile alone, and last one
  stratum for everyone.

Each level merges strata of the one before, so a target stratum short of
candidates borrows from its parent (:func:`basketguard.kernels.decoys.select_stratified`),
and the report says how many decoys matched at each level. Candidates are never
targets, never opted out, and never hold a probability of a constrained event
at or above ``decoy_max_probability``. Within a stratum they are taken in the
order of a counter-based hash of (seed, customer code): a seed fixes the choice.

The chosen decoys form a *sequence*: interleaved across their strata in
proportion (the ``j``-th decoy of a stratum with ``c`` decoys sits at rank
``(j + 0.5) / c``), so that every prefix keeps the strata mix. The optimizer
then takes the shortest prefix that meets every limit; that is exact, not an
estimate from the pool's mean.

Balance is reported as in matching studies (Austin 2009): the standardized mean
difference of visits, lines and each department's share of lines between targets
and decoys (|SMD| < 0.1 is the usual rule for balance), and the total variation
distance between their attribute-class mixes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.detect.compile import CatalogView
from basketguard.engine.histories.build import Histories
from basketguard.engine.reid.attributes import encode_attributes
from basketguard.kernels.classes import classify
from basketguard.kernels.decoys import select_stratified
from basketguard.kernels.profiles import customer_profiles
from basketguard.kernels.rng import derive_keys

#: Quantile bins of visit frequency.
FREQUENCY_BINS = 5


def item_groups(view: CatalogView, n_items: int) -> tuple[np.ndarray, list[str]]:
    """Top catalog level of each item code (-1 when unknown) and the level's values."""
    groups = np.full(n_items, -1, np.int32)
    if not view.levels or not view.codes.size:
        return groups, []
    top = next(iter(view.raw_levels))
    enc = pc.dictionary_encode(view.raw_levels[top])
    idx = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int32)
    ok = view.codes >= 0
    groups[view.codes[ok]] = idx[ok]
    return groups, [str(v) for v in enc.dictionary.to_pylist()]


@dataclass(frozen=True)
class Population:
    """What an observer could compare: every customer's attribute codes and purchase profile.

    Attributes
    ----------
    attributes : tuple of str
        Exported attributes used for the strata (may be empty).
    attr_codes : numpy.ndarray
        int64 ``(attributes, customers)``; customers without a row in the
        customers table get a code of their own per attribute.
    visits, lines : numpy.ndarray
        Distinct purchase days and lines per customer.
    group_share : numpy.ndarray
        float64 ``(customers, groups)``: share of each customer's lines per department.
    groups : list of str
        Department names.
    keys : numpy.ndarray
        int64 ``(levels, customers)``: nested stratum keys (module docstring).
    level_names : tuple of str
    """

    attributes: tuple[str, ...]
    attr_codes: np.ndarray
    visits: np.ndarray
    lines: np.ndarray
    group_share: np.ndarray
    groups: list[str]
    keys: np.ndarray
    level_names: tuple[str, ...]


def _dense(*cols: np.ndarray) -> np.ndarray:
    """Dense int64 key of the tuples of some equal-length non-negative integer columns
    (the class of each record, :func:`basketguard.kernels.classes.classify`)."""
    n = cols[0].size if cols else 0
    if not cols or n == 0:
        return np.zeros(n, np.int64)
    codes = [np.ascontiguousarray(c, np.int32) for c in cols]
    cards = [int(c.max()) + 1 for c in codes]
    return classify(codes, cards).class_of.astype(np.int64)


def population(hist: Histories, view: CatalogView, customers: pa.Table | None,
               attributes: Sequence[str] | None) -> Population:
    """Attribute codes, purchase profiles and stratum keys of every customer of the base.

    Parameters
    ----------
    hist : Histories
    view : CatalogView
        For departments (the top taxonomy level); may be empty.
    customers : pyarrow.Table or None
        ``customer`` plus attribute columns (``read_role``); None: no attributes.
    attributes : sequence of str or None
        Exported attributes (None: every attribute column; empty: none).
    """
    n = hist.n_customers
    names: tuple[str, ...] = ()
    attr = np.zeros((0, n), np.int64)
    if customers is not None and (attributes is None or len(attributes)):
        codes = encode_attributes(customers, attributes)
        names = codes.names
        ids = customers.column("customer")
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        if ids.type != hist.customer_ids.type:
            ids = ids.cast(hist.customer_ids.type)
        row = pc.index_in(hist.customer_ids, value_set=ids)
        rows = np.asarray(pc.fill_null(row, -1).to_numpy(zero_copy_only=False), np.int64)
        attr = np.empty((len(names), n), np.int64)
        for j, (c, card) in enumerate(zip(codes.codes, codes.cards, strict=True)):
            attr[j] = np.where(rows >= 0, c[np.maximum(rows, 0)] if c.size else 0, card)
    groups, group_names = item_groups(view, hist.n_items)
    prof = customer_profiles(hist.offsets, hist.item, hist.day, groups, len(group_names))
    visits = prof.visits.astype(np.int64)
    lines = prof.lines.astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(lines[:, None] > 0, prof.group_lines / np.maximum(lines, 1)[:, None],
                         0.0)
    if n:
        edges = np.quantile(visits, np.linspace(0, 1, FREQUENCY_BINS + 1)[1:-1])
        freq = np.searchsorted(edges, visits, side="right").astype(np.int64)
    else:
        freq = np.zeros(0, np.int64)
    if len(group_names):
        has = prof.group_lines.sum(axis=1) > 0
        main = np.where(has, prof.group_lines.argmax(axis=1), -1).astype(np.int64)
    else:
        main = np.full(n, -1, np.int64)
    cls = _dense(*attr) if len(names) else np.zeros(n, np.int64)
    levels = [_dense(cls, freq, main + 1), _dense(cls, freq)]
    what = "attribute class + " if names else ""  # no exported attribute: no class
    level_names = [f"{what}visit frequency + main department", f"{what}visit frequency"]
    for drop in range(1, len(names) + 1):
        kept = names[: len(names) - drop]
        levels.append(_dense(*attr[: len(kept)], freq))
        level_names.append(f"{', '.join(kept)} + visit frequency" if kept
                           else "visit frequency")
    levels.append(np.zeros(n, np.int64))
    level_names.append("anyone")
    keys = np.stack(levels) if n else np.zeros((len(levels), 0), np.int64)
    return Population(names, attr, visits, lines, share, group_names, keys, tuple(level_names))


def priorities(n: int, seed: int) -> np.ndarray:
    """Counter-based hash of (seed, code) for every customer code (uint64)."""
    return derive_keys(seed, n)


@dataclass(frozen=True)
class DecoySequence:
    """Candidate decoys in the order the optimizer takes them (every prefix balanced).

    ``codes`` int64 in sequence order; ``level`` the stratum level each matched at.
    """

    codes: np.ndarray
    level: np.ndarray
    level_names: tuple[str, ...]
    requested: int
    shortfall: int
    eligible: int


def decoy_sequence(pop: Population, targets: np.ndarray, eligible: np.ndarray, total: int,
                   seed: int) -> DecoySequence:
    """Up to ``total`` decoys for ``targets``, stratified, as a balanced sequence.

    Parameters
    ----------
    pop : Population
    targets : numpy.ndarray
        Codes of the targeted customers.
    eligible : numpy.ndarray
        bool per customer: may be a decoy (targets are never chosen anyway).
    total : int
        Decoys wanted (the sequence may be shorter: ``shortfall``).
    seed : int
    """
    targets = np.asarray(targets, np.int64)
    eligible = np.asarray(eligible, bool).copy()
    eligible[targets] = False
    prio = priorities(pop.keys.shape[1], seed)
    sel = select_stratified(pop.keys, eligible, prio, targets, int(total))
    chosen = np.asarray(sel.chosen, np.int64)
    # the level each decoy matched at: the finest level where its key equals a target's
    level = np.full(chosen.size, pop.keys.shape[0] - 1, np.int64)
    for lv in range(pop.keys.shape[0] - 1, -1, -1):
        tkeys = np.unique(pop.keys[lv, targets]) if targets.size else np.empty(0, np.int64)
        level[np.isin(pop.keys[lv, chosen], tkeys)] = lv
    # proportional interleaving over the decoys' own level-0 strata
    k0 = pop.keys[0, chosen]
    order = np.lexsort((prio[chosen], k0))
    ks = k0[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ks)) + 1] if ks.size else np.empty(0, np.int64)
    counts = np.diff(np.r_[starts, ks.size])
    j = np.arange(ks.size) - np.repeat(starts, counts)
    rank = (j + 0.5) / np.repeat(counts, counts)
    seq = order[np.lexsort((prio[chosen][order], rank))]
    return DecoySequence(chosen[seq], level[seq], pop.level_names, int(total),
                         int(sel.shortfall), int(eligible.sum()))


def _smd(a: np.ndarray, b: np.ndarray) -> float:
    """Standardized mean difference ``(mean_a - mean_b) / sqrt((var_a + var_b) / 2)``."""
    if a.size == 0 or b.size == 0:
        return float("nan")
    va, vb = float(a.var()), float(b.var())
    diff = float(a.mean() - b.mean())
    pooled = math.sqrt((va + vb) / 2)
    if pooled == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / pooled


def balance(pop: Population, targets: np.ndarray, decoys: np.ndarray) -> dict[str, Any]:
    """How alike targets and decoys look (aggregates only).

    Returns
    -------
    dict
        ``smd`` (visits, lines and per-department share), ``max_abs_smd``,
        ``attribute_class_tvd`` (total variation distance of the class mixes),
        ``balanced`` (max |SMD| < 0.1).
    """
    t = np.asarray(targets, np.int64)
    d = np.asarray(decoys, np.int64)
    smd = {"visits": _smd(pop.visits[t], pop.visits[d]),
           "lines": _smd(pop.lines[t], pop.lines[d])}
    for g, name in enumerate(pop.groups):
        smd[f"share of {name}"] = _smd(pop.group_share[t, g], pop.group_share[d, g])
    finite = [abs(v) for v in smd.values() if not math.isnan(v)]
    worst = max(finite) if finite else float("nan")
    tvd = float("nan")
    if t.size and d.size:
        cls = _dense(*pop.attr_codes) if pop.attributes else np.zeros(pop.keys.shape[1], np.int64)
        allc = np.unique(np.r_[cls[t], cls[d]])
        pt = np.zeros(allc.size)
        pd_ = np.zeros(allc.size)
        np.add.at(pt, np.searchsorted(allc, cls[t]), 1.0)
        np.add.at(pd_, np.searchsorted(allc, cls[d]), 1.0)
        tvd = 0.5 * float(np.abs(pt / pt.sum() - pd_ / pd_.sum()).sum())
    return {"smd": {k: (None if not math.isfinite(v) else round(v, 6)) for k, v in smd.items()},
            "max_abs_smd": None if not math.isfinite(worst) else round(worst, 6),
            "attribute_class_tvd": None if not math.isfinite(tvd) else round(tvd, 6),
            "balanced": bool(math.isfinite(worst) and worst < 0.1)}
