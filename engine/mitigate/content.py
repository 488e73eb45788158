"""Content cover: what a mailer's offer tells whoever reads it, and how to blur it.

Receiving a mailing tells an observer who knows the targeting something (the
posterior, measured elsewhere; only decoy recipients, randomized targeting or
suppression lower it). The *content* tells the recipient's household something
too: a baby-coupon mailer announces a pregnancy. Here (the offer itself is read
by :func:`basketguard.engine.mitigate.offer.read_offer`): :func:`offer_signals` (the signature features the offer's items belong to),
:func:`mix_divergence` of the offer's :func:`category_mix` from a
:func:`generic_mix`, and two remedies, :func:`decoy_offers` (unrelated fillers:
content cover) and :func:`suppress_offer_items`.

The score bound: the scan scores a customer with the sum of the weights of the
distinct features with a counting line in the window
(:mod:`basketguard.kernels.windows`), so a recipient who bought every offer item
in the window scores at most the sum of the positive weights of the features the
offer matches (quantity conditions taken as met): :attr:`SignatureSignal.matched_weight`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.toml import did_you_mean
from basketguard.engine.detect.compile import CatalogView, CompiledLibrary
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Estimate, Finding, Severity, Threshold, judge, worst
from basketguard.engine.histories.build import Histories
from basketguard.engine.mitigate.offer import Offer
from basketguard.models.detector import SENSITIVITIES

#: The statement every content-cover result carries.
CONTENT_COVER_NOTE = (
    "This is content cover: it changes what the recipient perceives, not what an observer "
    "who knows the targeting can infer; only decoy recipients, randomized targeting or "
    "suppression lower the posterior.")
#: What the content signals measure, and what they do not.
SIGNALS_NOTE = (
    "These signals are what the offer's content tells whoever reads the mailer (a "
    "recipient's household); what receiving it tells an observer who knows the targeting "
    "is the posterior, measured separately and not changed by the offer's content.")
#: Label of items without a value at the mix's level (or not in the catalog).
NONE_VALUE = "(none)"
#: Example item names per feature (filler examples: twice as many).
EXAMPLES = 5
#: Signal level of a signature (0 nothing, 1 announces, 2 reaches its threshold) -> severity.
SIGNAL_LEVELS = Threshold(warn=0.0, fail=1.0)


def _codes(codes: Any, n_items: int) -> np.ndarray:
    """Sorted unique int32 item codes of an :class:`Offer` or an array of codes."""
    a = np.unique(np.asarray(getattr(codes, "codes", codes), np.int64))
    if a.size and (a[0] < 0 or a[-1] >= n_items):
        raise ValueError(f"item codes must lie in [0, {n_items}); got {a[0]}..{a[-1]}")
    return a.astype(np.int32)


def _namer(view: CatalogView | None, item_ids: pa.Array | None, n_items: int):
    """Display names of item codes: the catalog's name, else the original id."""
    rows = view.first_rows(n_items) if view is not None and view.raw_names is not None else None

    def names(codes: np.ndarray) -> tuple[str, ...]:
        c = np.asarray(codes, np.int64)
        out = ([str(v) for v in item_ids.take(pa.array(c)).to_pylist()]
               if item_ids is not None else [f"item code {x}" for x in c])
        if rows is not None and c.size:
            have = np.flatnonzero(rows[c] >= 0)
            for i, n in zip(have.tolist(), view.raw_names.take(pa.array(rows[c][have])).to_pylist(),
                            strict=True):
                out[i] = out[i] if n is None else n
        return tuple(out)
    return names


# ------------------------------------------------------------------ content signals
@dataclass(frozen=True)
class FeatureItems:
    """The offer items one signature feature matches (``examples``: up to 5 names)."""

    signature: str
    feature: str
    sensitivity: str
    weight: float
    items: int
    examples: tuple[str, ...]
    quantity_condition: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"examples": list(self.examples)}


@dataclass(frozen=True)
class SignatureSignal:
    """What the offer's content announces about one signature's inference.

    ``verdict`` is ``"announces"`` when a feature matches (a recipient's
    household reading the mailer learns the event is suspected), else
    ``"silent"``; ``matched_weight`` is the score bound (module docstring);
    ``finding`` (``content.signals.<signature>``) is None when silent.
    """

    signature: str
    title: str
    sensitivity: str
    gdpr_art9: str
    features: tuple[FeatureItems, ...]  # the matched features, in signature order
    matched_weight: float
    score_threshold: float
    reaches_threshold: bool
    verdict: str
    finding: Finding | None

    def to_dict(self) -> dict[str, Any]:
        keys = ("signature", "title", "sensitivity", "gdpr_art9", "verdict", "matched_weight",
                "score_threshold", "reaches_threshold")
        return {k: getattr(self, k) for k in keys} | {
            "severity": (self.finding.severity if self.finding else Severity.PASS).value,
            "features": [f.to_dict() for f in self.features]}


@dataclass(frozen=True)
class ContentSignals:
    """Per signature of a library, what an offer's content announces."""

    offer_items: int
    signatures: tuple[SignatureSignal, ...]
    note: str = SIGNALS_NOTE

    @property
    def announces(self) -> tuple[str, ...]:
        return tuple(s.signature for s in self.signatures if s.verdict == "announces")

    def findings(self) -> list[Finding]:
        """One finding per signature with matches."""
        return [s.finding for s in self.signatures if s.finding is not None]

    @property
    def severity(self) -> Severity:
        return worst(f.severity for f in self.findings())

    def to_dict(self) -> dict[str, Any]:
        return {"offer_items": self.offer_items, "announces": list(self.announces),
                "severity": self.severity.value,
                "signatures": [s.to_dict() for s in self.signatures],
                "findings": [f.to_dict() for f in self.findings()], "note": self.note}


def _feature_items(codes: np.ndarray, compiled: CompiledLibrary, names,
                   classes: set[str] | None = None) -> list[tuple[int, FeatureItems]]:
    """(signature index, match) of each feature (of these classes) with offer items."""
    out = []
    for s, sig in enumerate(compiled.signatures):
        fs = compiled.feature_slice(s)
        for g in range(fs.start, fs.stop) if classes is None or sig.sensitivity in classes else ():
            m = compiled.features[g]
            hit = np.intersect1d(codes, m.items, assume_unique=True)
            if hit.size:
                out.append((s, FeatureItems(sig.name, m.feature, sig.sensitivity,
                                            float(sig.features[g - fs.start].weight),
                                            int(hit.size), names(hit[:EXAMPLES]),
                                            m.quantity_condition)))
    return out


def offer_signals(offer_codes: Offer | np.ndarray, compiled: CompiledLibrary,
                  view: CatalogView | None = None,
                  item_ids: pa.Array | None = None) -> ContentSignals:
    """What the offer's content says, per signature of a compiled library.

    A signature's finding fails when the matched features' weights alone reach
    its score threshold, warns when a positive-weight feature matches, passes
    otherwise (:func:`~basketguard.engine.findings.judge` of the signal level
    0 / 1 / 2 against :data:`SIGNAL_LEVELS`).

    Parameters
    ----------
    offer_codes : Offer or int array
        The offer.
    compiled : CompiledLibrary
        The library resolved against the catalog (``compile_for``).
    view, item_ids : CatalogView, pyarrow.Array, optional
        For example names (the ids of items without a name).

    Returns
    -------
    ContentSignals
    """
    n_items = compiled.tables.item_slot.shape[0]
    codes = _codes(offer_codes, n_items)
    hits = _feature_items(codes, compiled, _namer(view, item_ids, n_items))
    out = []
    for s, sig in enumerate(compiled.signatures):
        feats = tuple(f for i, f in hits if i == s)
        weight = float(sum(f.weight for f in feats if f.weight > 0))
        thr = float(compiled.tables.sig_score_thr[s])  # what the scan compares scores with
        finding = None
        if feats:
            level = 2.0 if weight >= thr else 1.0 if weight > 0 else 0.0
            reach = ("reach it: the offer alone describes a customer the scan flags"
                     if level == 2 else "do not reach it")
            finding = Finding(
                f"content.signals.{sig.name}",
                f"what the offer's content announces about {sig.title.lower()} (0 nothing, "
                "1 items of its features, 2 enough of them to reach its score threshold)",
                Estimate(level), SIGNAL_LEVELS, judge(level, SIGNAL_LEVELS),
                f"The offer holds {sum(f.items for f in feats)} item(s) of "
                f"{', '.join(f.feature for f in feats)}: a recipient's household reading the "
                f"mailer learns {sig.title.lower()} is suspected. Their weights sum to "
                f"{weight:.3g} of the {thr:.3g} its score threshold needs; they {reach}.",
                {"sensitivity": sig.sensitivity, "gdpr_art9": sig.gdpr_art9,
                 "matched_weight": weight, "score_threshold": thr,
                 "features": [f.to_dict() for f in feats]})
        out.append(SignatureSignal(sig.name, sig.title, sig.sensitivity, sig.gdpr_art9, feats,
                                   weight, thr, weight >= thr,
                                   "announces" if feats else "silent", finding))
    return ContentSignals(int(codes.size), tuple(out))


# ------------------------------------------------------------------- category mixes
@dataclass(frozen=True)
class CategoryMix:
    """Counts (float64) over a taxonomy level's values, sorted case-insensitively, then
    ``"(none)"``; mixes of one catalog and level share ``values``. ``level`` is None when
    the catalog has no taxonomy (one value, ``"(none)"``)."""

    level: str | None
    values: tuple[str, ...]
    counts: np.ndarray

    def shares(self) -> np.ndarray:
        t = float(self.counts.sum())
        return self.counts / t if t > 0 else np.zeros_like(self.counts)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "total": float(self.counts.sum()),
                "shares": [{"value": v, "count": float(c), "share": float(x)} for v, c, x
                           in zip(self.values, self.counts, self.shares(), strict=True) if c]}


def _level_keys(view: CatalogView, n_items: int,
                level: str | None) -> tuple[str | None, tuple[str, ...], np.ndarray]:
    """The level, its values and each item code's value index (the last: "(none)")."""
    if level is not None and level not in view.levels:
        raise ConfigError(f"{view.where}: no taxonomy level {level!r} for the offer mix."
                          f"{did_you_mean(level, view.levels)} Levels: "
                          f"{', '.join(view.levels) or '(none: the catalog has no taxonomy)'}.")
    if not view.levels:
        return None, (NONE_VALUE,), np.zeros(n_items, np.int32)
    level = level or next(iter(view.levels))
    enc = pc.dictionary_encode(view.levels[level])  # lower-cased: groups ignore case
    idx = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    lows = enc.dictionary.to_pylist()
    order = sorted(range(len(lows)), key=lows.__getitem__)
    rank = np.empty(len(lows) + 1, np.int64)  # dictionary index -> value index; -1: (none)
    rank[order] = np.arange(len(lows))
    rank[-1] = len(lows)
    uniq, first = np.unique(idx, return_index=True)
    raw = dict(zip(uniq.tolist(), view.raw_levels[level].take(pa.array(first)).to_pylist(),
                   strict=True))
    key = np.full(n_items, len(lows), np.int32)
    rows = view.first_rows(n_items)
    key[rows >= 0] = rank[idx[rows[rows >= 0]]]
    return level, tuple(raw[i] for i in order) + (NONE_VALUE,), key


def category_mix(item_codes: Offer | np.ndarray, view: CatalogView, n_items: int,
                 level: str | None = None, weights: np.ndarray | None = None) -> CategoryMix:
    """An item set's distribution over a taxonomy level's values.

    Parameters
    ----------
    item_codes : Offer or int array
        Item codes; each counts once, or ``weights[code]``.
    view, n_items : CatalogView, int
        The catalog and the size of the histories' item dictionary.
    level : str, optional
        A taxonomy level (default the top one, e.g. department). Items without
        a value there, or not in the catalog, count as ``"(none)"``.
    weights : float array of length n_items, optional
        Weight of each item code.

    Returns
    -------
    CategoryMix
    """
    level, values, key = _level_keys(view, n_items, level)
    codes = _codes(item_codes, n_items)
    w = None if weights is None else np.asarray(weights, np.float64)[codes]
    return CategoryMix(level, values, np.bincount(key[codes], weights=w,
                                                  minlength=len(values)).astype(np.float64))


def generic_mix(hist: Histories, view: CatalogView, level: str | None = None) -> CategoryMix:
    """A generic mailer's mix: the number of purchased lines per level value.

    Parameters
    ----------
    hist, view : Histories, CatalogView
        The basket lines and the catalog.
    level : str, optional
        As in :func:`category_mix`.

    Returns
    -------
    CategoryMix
    """
    lines = np.bincount(hist.item, minlength=hist.n_items).astype(np.float64)
    return category_mix(np.arange(hist.n_items), view, hist.n_items, level, lines)


def mix_divergence(p: CategoryMix | np.ndarray, q: CategoryMix | np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) of two distributions, in [0, 1].

    ``JS(P, Q) = (KL(P || M) + KL(Q || M)) / 2``, ``M = (P + Q) / 2``, base-2
    logarithms: symmetric, 0 exactly when the (normalized) distributions are
    equal, 1 when their supports are disjoint. ``KL(X || M)`` is summed as
    ``x log2(x / m) - (x - m) / ln 2`` (equal, as both sum to 1): its terms are
    all >= 0, so rounding cannot cancel a divergence below 0.

    Parameters
    ----------
    p, q : CategoryMix or 1-d float arrays of one length
        Non-negative counts or shares, with positive totals.

    Returns
    -------
    float
    """
    if isinstance(p, CategoryMix) and isinstance(q, CategoryMix) and p.values != q.values:
        raise ValueError("mixes over different level values cannot be compared")
    a = np.asarray(getattr(p, "counts", p), np.float64)
    b = np.asarray(getattr(q, "counts", q), np.float64)
    if a.shape != b.shape or a.ndim != 1 or (a < 0).any() or (b < 0).any() \
            or not (a.sum() > 0 and b.sum() > 0):
        raise ValueError("distributions must be 1-d, of one length, non-negative, with "
                         "positive totals")
    a, b = a / a.sum(), b / b.sum()
    m = (a + b) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        t = x[nz] * np.log2(x[nz] / m[nz]) - (x[nz] - m[nz]) / math.log(2)
        return float(np.maximum(t, 0.0).sum() + m[~nz].sum() / math.log(2))

    return min(max((kl(a) + kl(b)) / 2, 0.0), 1.0)


# ------------------------------------------------------------------------ remedies
@dataclass(frozen=True)
class DecoyOffers:
    """Filler items that bring the offer's mix close to a generic mailer's: content cover.

    ``fillers``: item codes in the order chosen (``filler_ids``: original ids);
    ``stop``: ``"target"``, ``"n_max"`` or ``"no filler left"`` (no eligible item
    in a level value below its generic share); ``excluded_sensitive``: bought
    catalog items some signature feature matches (never fillers); ``note``:
    what content cover does not do.
    """

    level: str | None
    offer: np.ndarray  # the offer's item codes
    fillers: np.ndarray
    filler_ids: tuple[Any, ...]
    examples: tuple[str, ...]
    divergence_before: float
    divergence_after: float
    target_divergence: float
    n_max: int
    stop: str
    fillers_by_value: dict[str, int]
    offer_mix: CategoryMix
    combined_mix: CategoryMix  # offer + fillers
    generic_mix: CategoryMix
    excluded_sensitive: int
    seed: int
    warnings: tuple[str, ...] = ()
    note: str = CONTENT_COVER_NOTE

    @property
    def codes(self) -> np.ndarray:
        """The combined offer (offer + fillers), sorted."""
        return np.unique(np.concatenate([self.offer, self.fillers])).astype(np.int32)

    def to_dict(self) -> dict[str, Any]:
        o, c, g = self.offer_mix.shares(), self.combined_mix.shares(), self.generic_mix.shares()
        keys = ("level", "divergence_before", "divergence_after", "target_divergence", "n_max",
                "stop", "seed", "note")
        return {k: getattr(self, k) for k in keys} | {
            "offer_items": int(self.offer.size), "fillers": int(self.fillers.size),
            "filler_items": list(self.filler_ids), "examples": list(self.examples),
            "fillers_by_value": dict(self.fillers_by_value),
            "mix": [{"value": v, "offer": float(o[i]), "combined": float(c[i]),
                     "generic": float(g[i]), "fillers": self.fillers_by_value.get(v, 0)}
                    for i, v in enumerate(self.generic_mix.values) if o[i] or c[i] or g[i]],
            "excluded_sensitive_items": self.excluded_sensitive,
            "warnings": list(self.warnings)}


def _sensitive_items(compiled: CompiledLibrary, n_items: int,
                     classes: set[str] | None = None) -> np.ndarray:
    """Mask of the item codes a feature (of signatures of these classes) matches."""
    keep = {s.name for s in compiled.signatures if classes is None or s.sensitivity in classes}
    mask = np.zeros(n_items, bool)
    for m in compiled.features:
        mask[m.items] |= m.signature in keep
    return mask


def decoy_offers(offer_codes: Offer | np.ndarray, hist: Histories, view: CatalogView,
                 compiled: CompiledLibrary, n_max: int | None = None,
                 target_divergence: float = 0.05, seed: int = 0, *,
                 level: str | None = None) -> DecoyOffers:
    """Filler items that make the offer's mix look like a generic mailer's.

    Eligible fillers: catalog items bought at least once, matched by no feature
    of any signature of ``compiled``, not in the offer (an item the catalog does
    not describe cannot be checked, so it is never a filler). Greedy: add one
    item at a time to the level value with the largest deficit (generic share
    minus current share) that has eligible items left, its most-purchased
    unused one (ties by item code; exact deficit ties between values by a
    permutation drawn from ``seed``), until the divergence is <=
    ``target_divergence``, ``n_max`` were added, or no value below its generic
    share has an eligible item. Same inputs, same output.

    Parameters
    ----------
    offer_codes : Offer or int array
        The offer.
    hist, view, compiled : Histories, CatalogView, CompiledLibrary
        The lines (generic mix, purchase counts), the catalog, the library.
    n_max : int, optional
        Most fillers to add (default four times the offer's size).
    target_divergence : float
        JS divergence to reach, in [0, 1].
    seed : int
        Breaks exact deficit ties between level values.
    level : str, optional
        The taxonomy level (default the top one).

    Returns
    -------
    DecoyOffers
        Content cover only: it changes what the recipient perceives, not what
        an observer who knows the targeting can infer (:attr:`DecoyOffers.note`).

    Raises
    ------
    DataError, ConfigError
        An empty offer or no lines; an unknown level, ``n_max < 0``, a target
        outside [0, 1].
    """
    n_items = hist.n_items
    codes = _codes(offer_codes, n_items)
    n_max = 4 * int(codes.size) if n_max is None else int(n_max)
    if codes.size == 0 or hist.n_lines == 0:
        raise DataError("decoy offers: " + ("the offer is empty; there is no mix to cover."
                        if codes.size == 0 else "no basket lines: no generic mix."))
    if not 0.0 <= target_divergence <= 1.0 or n_max < 0:
        raise ConfigError(f"decoy offers: the target divergence ({target_divergence}) must "
                          f"be in [0, 1] and n_max ({n_max}) must be >= 0.")
    level, values, key = _level_keys(view, n_items, level)
    n_val = len(values)
    lines = np.bincount(hist.item, minlength=n_items)
    generic = np.bincount(key, weights=lines.astype(np.float64), minlength=n_val)
    sensitive = _sensitive_items(compiled, n_items)
    in_catalog = view.first_rows(n_items) >= 0
    eligible = ~sensitive & (lines > 0) & in_catalog
    eligible[codes] = False
    cand = np.flatnonzero(eligible)
    order = cand[np.lexsort((cand, -lines[cand], key[cand]))]  # value, most bought, code
    bounds = np.searchsorted(key[order], np.arange(n_val + 1))
    ptr, end = bounds[:-1].copy(), bounds[1:]
    tie_rank = np.random.default_rng(seed).permutation(n_val)
    offer_counts = np.bincount(key[codes], minlength=n_val).astype(np.float64)
    cur = offer_counts.copy()
    before = js = mix_divergence(cur, generic)
    added: list[int] = []
    stop = "target"
    while js > target_divergence:
        deficit = generic / generic.sum() - cur / cur.sum()
        ok = (ptr < end) & (deficit > 0)
        if len(added) >= n_max or not ok.any():
            stop = "n_max" if len(added) >= n_max else "no filler left"
            break
        best = np.flatnonzero(ok & (deficit == deficit[ok].max()))
        v = int(best[np.argmin(tie_rank[best])])
        added.append(int(order[ptr[v]]))
        ptr[v] += 1
        cur[v] += 1
        js = mix_divergence(cur, generic)
    fillers = np.asarray(added, np.int32)
    per_value = np.bincount(key[fillers], minlength=n_val)
    warns = ["the catalog has no taxonomy levels: every item is '(none)', so the mix can "
             "neither show nor hide anything"] if level is None else []
    if js > target_divergence:
        warns.append(f"the target divergence {target_divergence:g} was not reached ({js:.3f} "
                     f"after {fillers.size} filler(s); stop: {stop})")
    return DecoyOffers(
        level, codes, fillers,
        tuple(hist.item_ids.take(pa.array(fillers.astype(np.int64))).to_pylist()),
        _namer(view, hist.item_ids, n_items)(fillers[:2 * EXAMPLES]), before, js,
        float(target_divergence), n_max, stop,
        {values[k]: int(per_value[k]) for k in np.flatnonzero(per_value).tolist()},
        CategoryMix(level, values, offer_counts), CategoryMix(level, values, cur),
        CategoryMix(level, values, generic), int((sensitive & in_catalog).sum()), int(seed),
        tuple(warns))


@dataclass(frozen=True)
class Suppression:
    """The offer without the items of sensitive features (:func:`suppress_offer_items`)."""

    codes: np.ndarray  # kept item codes (int32, sorted)
    removed: np.ndarray  # removed item codes (int32, sorted)
    sensitivities: tuple[str, ...]
    features: tuple[FeatureItems, ...]  # the features the removed items belong to

    def to_dict(self) -> dict[str, Any]:
        return {"sensitivities": list(self.sensitivities),
                "offer_items": int(self.codes.size + self.removed.size),
                "kept_items": int(self.codes.size), "removed_items": int(self.removed.size),
                "empty": bool(self.codes.size == 0),
                "features": [f.to_dict() for f in self.features]}


def suppress_offer_items(offer_codes: Offer | np.ndarray, compiled: CompiledLibrary,
                         sensitivities: Sequence[str] | None = None,
                         view: CatalogView | None = None,
                         item_ids: pa.Array | None = None) -> Suppression:
    """Remove from the offer every item a feature of the given sensitivity classes matches.

    Parameters
    ----------
    offer_codes : Offer or int array
        The offer.
    compiled : CompiledLibrary
        The signature library resolved against the catalog.
    sensitivities : sequence of str, optional
        Sensitivity classes (:data:`~basketguard.models.detector.SENSITIVITIES`);
        all when None.
    view, item_ids : CatalogView, pyarrow.Array, optional
        For example names (the ids of items without a name).

    Returns
    -------
    Suppression

    Raises
    ------
    ConfigError
        An unknown sensitivity class.
    """
    for s in sensitivities or ():
        if s not in SENSITIVITIES:
            raise ConfigError(f"unknown sensitivity class {s!r}.{did_you_mean(s, SENSITIVITIES)} "
                              f"Known: {', '.join(SENSITIVITIES)}.")
    n_items = compiled.tables.item_slot.shape[0]
    codes = _codes(offer_codes, n_items)
    classes = None if sensitivities is None else set(sensitivities)
    hits = _feature_items(codes, compiled, _namer(view, item_ids, n_items), classes)
    gone = _sensitive_items(compiled, n_items, classes)[codes]
    used = classes if classes is not None else {s.sensitivity for s in compiled.signatures}
    return Suppression(codes[~gone], codes[gone], tuple(sorted(used)),
                       tuple(f for _, f in hits))
