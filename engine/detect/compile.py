"""Resolve a signature library against a catalog into the scan kernel's tables.

Each feature's criteria are evaluated once per catalog, vectorized with
``pyarrow.compute``, giving the item codes it matches. The kernel then needs
one lookup per basket line (``item_slot``); see :mod:`basketguard.kernels.windows`.

Built-in features name product concepts (``concepts``, ``with``): the catalog
is resolved to concepts first (:mod:`basketguard.engine.detect.concepts`, the
rule in :mod:`basketguard.models.vocabulary.schema`), whatever its levels are
called. User features may also give taxonomy ``levels`` (case-insensitive
value sets), ``names`` (RE2 patterns on the name text: the name, or the most
specific taxonomy value when there is none) and explicit ``items``; a
taxonomy level a user signature names must exist when the catalog has a
taxonomy (a typo is an error naming the signature file and key). A
``fallback`` feature keeps only the items no other feature of its signature
matches.

What each signature can see here is its :class:`SignatureCoverage`: matched
and unmatched features, the share of evidence features matched and the best
reachable probability. The scan reports it first (never a silent zero).

Quantity conditions (``larger_than_usual``) compare a line with the customer's
usual quantity in a *baseline group*: the items sharing the feature's value of
``baseline_level`` (default: the most specific taxonomy level; the item itself
when the catalog has no taxonomy). Without a quantity column the condition
cannot be evaluated and is dropped, with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.toml import did_you_mean
from basketguard.engine.detect.concepts import ConceptTable
from basketguard.engine.errors import ConfigError, SchemaError
from basketguard.kernels.scan_arrays import ScanTables
from basketguard.models.signatures.schema import Feature, Signature
from basketguard.models.vocabulary.schema import Vocabulary


@dataclass
class FeatureMatch:
    """How one feature resolved against the catalog."""

    signature: str
    feature: str
    items: np.ndarray  # int32 item codes (sorted)
    how: str  # e.g. "levels+names", "names (catalog has no taxonomy)", "items"
    quantity_condition: bool


@dataclass(frozen=True)
class SignatureCoverage:
    """What one signature can see in one catalog.

    Attributes
    ----------
    signature, title : str
    features : int
        Features of the signature.
    matched : tuple of str
        Features that match at least one item.
    unmatched : tuple of str
        Features that match nothing here.
    share : float
        Matched share of the evidence features (positive weights; counter-evidence
        features do not raise a score, so they are left out); 1.0 when the
        signature has none.
    reachable_score : float
        The highest score any customer could reach here: the sum of the matched
        positive weights.
    best_probability : float
        Its probability through the signature's link.
    threshold : float
        The probability from which a customer is flagged.
    """

    signature: str
    title: str
    features: int
    matched: tuple[str, ...]
    unmatched: tuple[str, ...]
    share: float
    reachable_score: float
    best_probability: float
    threshold: float

    @property
    def reachable(self) -> bool:
        """Whether any customer could be flagged on this catalog."""
        return self.best_probability >= self.threshold

    def sentence(self) -> str:
        """``"cannot detect pregnancy on this catalog: 3 of 10 features match ..."``."""
        tail = (f"the best reachable probability is {self.best_probability:.2f} (flagged from "
                f"{self.threshold:g})")
        title = self.title.lower()
        if not self.reachable and not self.unmatched:
            return (f"{title} cannot reach its threshold even with every feature, all "
                    f"{self.features} of which match here: {tail}")
        head = (f"cannot detect {title} on this catalog" if not self.reachable
                else f"{title} is only partly visible in this catalog")
        return f"{head}: {len(self.matched)} of {self.features} features match anything; {tail}"

    def to_dict(self) -> dict[str, Any]:
        return {"signature": self.signature, "features": self.features,
                "matched": len(self.matched), "unmatched_features": list(self.unmatched),
                "share": round(self.share, 6), "reachable_score": round(self.reachable_score, 6),
                "best_probability": round(self.best_probability, 6),
                "threshold": self.threshold, "reachable": self.reachable}


def signature_coverage(sig: Signature, item_counts: list[int]) -> SignatureCoverage:
    """Coverage of ``sig`` given how many items each of its features matches."""
    matched = tuple(f.name for f, n in zip(sig.features, item_counts, strict=True) if n)
    unmatched = tuple(f.name for f, n in zip(sig.features, item_counts, strict=True) if not n)
    pos = [(f, n) for f, n in zip(sig.features, item_counts, strict=True) if f.weight > 0]
    share = sum(1 for _, n in pos if n) / len(pos) if pos else 1.0
    reach = 0.0
    for f, n in pos:
        if n:
            reach += f.weight
    return SignatureCoverage(sig.name, sig.title, len(sig.features), matched, unmatched, share,
                             reach, float(sig.probability(reach)), sig.threshold)


@dataclass
class CompiledLibrary:
    """A library resolved against one catalog: kernel tables plus what was matched.

    Attributes
    ----------
    signatures : tuple of Signature
    tables : ScanTables
        The kernel's tables (see :class:`basketguard.kernels.windows.ScanTables`).
    n_groups : int
        Number of quantity baseline groups.
    slot_item : int32 array
        Item code of each slot.
    features : list of FeatureMatch
        One per feature, in global feature order (signatures in order).
    warnings : list of str
        Dropped criteria and conditions (features that match nothing are in
        ``coverage``, not here).
    coverage : list of SignatureCoverage
        One per signature: what this catalog lets it see.
    """

    signatures: tuple[Signature, ...]
    tables: ScanTables
    n_groups: int
    slot_item: np.ndarray
    features: list[FeatureMatch]
    warnings: list[str] = field(default_factory=list)
    coverage: list[SignatureCoverage] = field(default_factory=list)

    def feature_slice(self, s: int) -> slice:
        off = self.tables.sig_feat_off
        return slice(int(off[s]), int(off[s + 1]))


@dataclass
class CatalogView:
    """The parts of a catalog that matching needs, aligned to item codes.

    Parameters
    ----------
    codes : int32 array
        Item code (in the histories' item dictionary) of each catalog row; -1
        for catalog items never bought.
    names : pyarrow.Array or None
        Lower-cased item names (None when the catalog maps no name).
    levels : dict of str -> pyarrow.Array
        Lower-cased values of each taxonomy level, in the project's order.
    raw_levels : dict of str -> pyarrow.Array
        The same values as written (for reports).
    raw_names : pyarrow.Array or None
        Names as written.
    where : str
        The catalog's origin for messages.
    """

    codes: np.ndarray
    names: pa.Array | None
    levels: dict[str, pa.Array]
    raw_levels: dict[str, pa.Array]
    raw_names: pa.Array | None
    where: str
    item_keys: pa.Array | None = None

    @property
    def n_rows(self) -> int:
        return int(self.codes.shape[0])

    @property
    def text(self) -> pa.Array:
        """Each row's name text: its name, else its most specific taxonomy value."""
        cached = self.__dict__.get("_text")
        if cached is None:
            from basketguard.engine.detect.concepts import name_text

            cached = name_text(self.names, self.levels, self.n_rows)
            if isinstance(cached, pa.ChunkedArray):
                cached = cached.combine_chunks()
            self.__dict__["_text"] = cached
        return cached

    def first_rows(self, n_items: int) -> np.ndarray:
        """Catalog row of each item code (its first row), -1 for items not in the catalog."""
        rows = np.full(n_items, -1, np.int64)
        valid = np.flatnonzero(self.codes >= 0)[::-1]  # reversed: the first row wins
        rows[self.codes[valid]] = valid
        return rows


def catalog_view(catalog: pa.Table | None, item_ids: pa.Array, level_names: list[str],
                 where: str = "catalog", name_columns: tuple[str, ...] = ()) -> CatalogView:
    """Align a catalog table (from ``engine.tables.read_role``) with the item codes.

    The item name is the ``name`` column, or the ``name_columns`` joined by
    spaces (brand + description + size; null parts are left out).

    Raises
    ------
    SchemaError
        Catalog and basket-line item ids are of different kinds, or a level
        column is not text-like.
    """
    if catalog is None:
        return CatalogView(np.zeros(0, np.int32), None, {}, {}, None, where)
    cat_items = catalog.column("item").combine_chunks()
    if pa.types.is_integer(cat_items.type) != pa.types.is_integer(item_ids.type):
        raise SchemaError(
            f"{where}: catalog item ids are {cat_items.type} but basket-line item ids are "
            f"{item_ids.type}; map columns of the same kind (both integers or both text)."
        )
    if pa.types.is_integer(cat_items.type):
        cat_items = cat_items.cast(pa.int64())
        ids = item_ids.cast(pa.int64())
    else:
        cat_items = cat_items.cast(pa.string())
        ids = item_ids.cast(pa.string())
    codes = pc.fill_null(pc.index_in(cat_items, value_set=ids), -1)
    codes = np.asarray(codes.to_numpy(zero_copy_only=False), np.int32)

    def lower(col) -> pa.Array:
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            try:
                arr = arr.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise SchemaError(f"{where}: column of type {arr.type} cannot be read as "
                                  "text for matching; map a text column.") from None
        return arr.cast(pa.string())

    names = raw_names = None
    if name_columns:
        parts = [pc.fill_null(lower(catalog.column(c)), "") for c in name_columns]
        joined = pc.binary_join_element_wise(*parts, " ") if len(parts) > 1 else parts[0]
        raw_names = pc.utf8_trim_whitespace(
            pc.replace_substring_regex(joined, r"\s+", " "))
        names = pc.utf8_lower(raw_names)
    elif "name" in catalog.column_names:
        raw_names = lower(catalog.column("name"))
        names = pc.utf8_lower(raw_names)
    raw_levels = {lv: lower(catalog.column(lv)) for lv in level_names}
    levels = {lv: pc.utf8_lower(a) for lv, a in raw_levels.items()}
    return CatalogView(codes, names, levels, raw_levels, raw_names, where,
                       cat_items.cast(pa.string()))


def _bool(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)


def _regex_mask(arr: pa.Array, patterns: tuple[str, ...], sig: Signature, feat: Feature,
                key: str) -> np.ndarray:
    """Rows whose text matches any pattern (RE2, case-insensitive)."""
    joined = "|".join(f"(?:{p})" for p in patterns)
    try:
        return _bool(pc.match_substring_regex(arr, joined, ignore_case=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ConfigError(
            f"{sig.path or sig.name}: feature {feat.name!r} {key}: a pattern is not supported "
            f"by the matcher (RE2 syntax: no look-arounds or back-references): {exc}"
        ) from None


def _narrow(mask: np.ndarray, names: pa.Array, patterns: tuple[str, ...], sig: Signature,
            feat: Feature, key: str, keep: bool) -> np.ndarray:
    """``mask`` AND (a pattern matches, or none matches when ``keep`` is False)."""
    rows = np.flatnonzero(mask)
    if rows.size == 0:
        return mask
    subset = names if rows.size == mask.size else names.take(pa.array(rows))
    hit = _regex_mask(subset, patterns, sig, feat, key)
    out = np.zeros_like(mask)
    out[rows[hit == keep]] = True
    return out


def _explicit_items(feat: Feature, sig: Signature, item_ids: pa.Array) -> np.ndarray:
    if not feat.items:
        return np.zeros(0, np.int32)
    want_int = pa.types.is_integer(item_ids.type)
    wrong = str if want_int else int
    if any(isinstance(v, wrong) for v in feat.items):
        kind = "integers" if want_int else "strings"
        raise ConfigError(f"{sig.path or sig.name}: feature {feat.name!r} items: the data's item "
                          f"ids are {item_ids.type}; list them as {kind}.")
    ids = item_ids.cast(pa.int64() if want_int else pa.string())
    values = pa.array(list(feat.items), type=ids.type)
    codes = pc.index_in(values, value_set=ids).to_numpy(zero_copy_only=False)
    codes = np.asarray([c for c in codes if c is not None and c == c], np.int64)
    return codes.astype(np.int32)


def _match_feature(feat: Feature, sig: Signature, view: CatalogView, item_ids: pa.Array,
                   notes: list[str], concepts: ConceptTable | None) -> tuple[np.ndarray, str]:
    """Item codes a feature matches: its ``items``, or the catalog rows meeting every
    given criterion (concepts, with, levels, names) and no ``exclude`` pattern."""
    parts: list[str] = []
    rows = None
    usable_levels = []
    for level, values in feat.levels:
        if level in view.levels:
            usable_levels.append((level, values))
        elif view.levels and not sig.builtin:
            raise ConfigError(
                f"{sig.path or sig.name}: feature {feat.name!r} levels.{level}: the catalog "
                f"({view.where}) has no taxonomy level {level!r}.{did_you_mean(level, view.levels)} "
                f"Its levels are: {', '.join(view.levels)}."
            )
    has_criteria = bool(feat.levels or feat.names or feat.concepts)
    dropped_levels = bool(feat.levels) and not usable_levels
    if has_criteria and view.codes.size:
        if dropped_levels and not (feat.names or feat.concepts):
            rows = None
        else:
            mask = np.ones(view.n_rows, bool)
            if feat.uses_concepts:
                assert concepts is not None
                for group in ([feat.concepts] if feat.concepts else []) + \
                        [[w] for w in feat.with_concepts]:
                    keep = np.zeros(view.n_rows, bool)
                    keep[concepts.members(group)] = True
                    mask &= keep
                parts.append("concepts" + ("+with" if feat.with_concepts else ""))
            for level, values in usable_levels:
                vs = pa.array([v.lower() for v in values], pa.string())
                mask &= _bool(pc.is_in(view.levels[level], value_set=vs))
            if usable_levels:
                parts.append("levels")
            # patterns run only on the rows the other criteria kept (usually a few)
            if feat.names and view.names is None and usable_levels:
                notes.append("levels-only")  # no names to narrow the taxonomy values with
            elif feat.names:
                mask = _narrow(mask, view.text, feat.names, sig, feat, "names", keep=True)
                parts.append("names")
            if feat.exclude:
                mask = _narrow(mask, view.text, feat.exclude, sig, feat, "exclude", keep=False)
            rows = mask
        if dropped_levels and (feat.names or feat.concepts):
            notes.append("names-only")
    codes = np.zeros(0, np.int32)
    if rows is not None:
        codes = view.codes[rows]
        codes = codes[codes >= 0]
    explicit = _explicit_items(feat, sig, item_ids)
    if explicit.size:
        parts.append("items")
    return np.unique(np.concatenate([codes, explicit])).astype(np.int32), "+".join(parts)


def _group_keys(view: CatalogView, level: str | None, n_items: int) -> np.ndarray:
    """Baseline group key per item code: the code of its level value, or -1."""
    keys = np.full(n_items, -1, np.int64)
    if level is None or level not in view.levels or not view.codes.size:
        return keys
    enc = pc.dictionary_encode(view.levels[level])
    idx = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), np.int64)
    ok = view.codes >= 0
    keys[view.codes[ok]] = idx[ok]
    return keys


def check_concepts(signatures: tuple[Signature, ...], vocab: Vocabulary) -> None:
    """Every concept a feature names exists in the vocabulary.

    Raises
    ------
    ConfigError
        Naming the signature file, the feature and the unknown concept.
    """
    for sig in signatures:
        for f in sig.features:
            for key, vals in (("concepts", f.concepts), ("with", f.with_concepts)):
                for v in vals:
                    if v not in vocab:
                        raise ConfigError(
                            f"{sig.path or sig.name}: feature {f.name!r} {key}: unknown concept "
                            f"{v!r}.{did_you_mean(v, vocab.names)} `basketguard catalog concepts` lists "
                            "the known ones; a concept file can add your own.")


def match_features(signatures: tuple[Signature, ...], view: CatalogView, item_ids: pa.Array,
                   concepts: ConceptTable | None = None,
                   notes: list[str] | None = None) -> list[list[tuple[np.ndarray, str]]]:
    """Item codes and how-matched of every feature, per signature.

    A ``fallback`` feature keeps only the items no other (non-fallback) feature of
    its signature matches, so one purchase never counts twice.
    """
    notes = [] if notes is None else notes
    if concepts is None and any(f.uses_concepts for s in signatures for f in s.features):
        from basketguard.engine.detect.concepts import resolve_concepts
        from basketguard.models.vocabulary.schema import load_vocabulary

        vocab = load_vocabulary()
        check_concepts(signatures, vocab)
        concepts = resolve_concepts(vocab, view.names, view.levels, view.n_rows,
                                    item_keys=view.item_keys)
    elif concepts is not None:
        check_concepts(signatures, concepts.vocabulary)
    out = []
    for sig in signatures:
        got = [_match_feature(f, sig, view, item_ids, notes, concepts) for f in sig.features]
        taken = [codes for (codes, _), f in zip(got, sig.features, strict=True)
                 if not f.fallback]
        if any(f.fallback for f in sig.features) and taken:
            used = np.unique(np.concatenate(taken))
            got = [(np.setdiff1d(codes, used).astype(np.int32), how + "+fallback")
                   if f.fallback else (codes, how)
                   for (codes, how), f in zip(got, sig.features, strict=True)]
        out.append(got)
    return out


def resolve(signatures: tuple[Signature, ...], view: CatalogView, item_ids: pa.Array,
            has_quantity: bool, concepts: ConceptTable | None = None) -> CompiledLibrary:
    """Compile signatures against a catalog into the scan kernel's tables.

    Parameters
    ----------
    signatures : tuple of Signature
        The library (from :func:`basketguard.models.signatures.schema.load_library`).
    view : CatalogView
        From :func:`catalog_view` (an empty view when the project has no catalog:
        only explicit ``items`` can match then).
    item_ids : pyarrow.Array
        The histories' item dictionary (code -> original id).
    has_quantity : bool
        Whether the histories carry quantities.
    concepts : ConceptTable, optional
        The catalog resolved to concepts (:func:`basketguard.engine.detect.concepts.resolve_cached`);
        resolved here with the built-in vocabulary when features name concepts and
        none is given.

    Returns
    -------
    CompiledLibrary

    Raises
    ------
    ConfigError
        An unknown taxonomy level, a pattern RE2 cannot run, item ids of the
        wrong kind, or a link whose probability reaches the threshold at score 0.
    """
    n_items = len(item_ids)
    warnings: list[str] = []
    notes: list[str] = []
    matched = match_features(signatures, view, item_ids, concepts, notes)
    coverage: list[SignatureCoverage] = []
    matches: list[FeatureMatch] = []
    groups: dict[tuple[str, int], int] = {}
    group_members: list[np.ndarray] = []
    pair_slot_item, pair_feat, pair_group = [], [], []
    feat_rows: dict[str, list] = {k: [] for k in ("sig", "local", "weight", "ratio", "stage",
                                                  "has_stage", "spread", "absent")}
    sig_feat_off = [0]
    key_cache: dict[str, np.ndarray] = {}
    default_level = list(view.levels)[-1] if view.levels else None
    sig_thr = []
    for s, sig in enumerate(signatures):
        thr = sig.score_threshold
        if thr <= 0:
            raise ConfigError(
                f"{sig.path or sig.name}: [link] gives probability "
                f"{float(sig.probability(0.0)):.3f} >= threshold {sig.threshold} at score 0, "
                "so every customer would be flagged; lower the intercept or raise the threshold."
            )
        sig_thr.append(thr)
        coverage.append(signature_coverage(sig, [c.size for c, _ in matched[s]]))
        for local, feat in enumerate(sig.features):
            g_feat = len(matches)
            codes, how = matched[s][local]
            qty = feat.larger_than_usual is not None
            if qty and not has_quantity:
                notes.append(f"{sig.name}.{feat.name}: the lines have no quantity column; its "
                             "larger-than-usual condition is ignored")
                qty = False
            matches.append(FeatureMatch(sig.name, feat.name, codes, how, qty))
            group = np.full(codes.shape[0], -1, np.int64)
            if qty and codes.size:
                level = feat.baseline_level or default_level
                if sig.builtin and level not in view.levels:
                    level = default_level  # the library's level names are not the user's
                if level is not None and level not in view.levels:
                    raise ConfigError(
                        f"{sig.path or sig.name}: feature {feat.name!r} baseline_level: the "
                        f"catalog has no taxonomy level {level!r}.{did_you_mean(level, view.levels)}"
                        f" Its levels are: {', '.join(view.levels) or '(none)'}."
                    )
                lk = level or ""
                if lk not in key_cache:
                    key_cache[lk] = _group_keys(view, level, n_items)
                keys = key_cache[lk]
                for j, code in enumerate(codes):
                    k = int(keys[code])
                    gkey = (lk, k) if k >= 0 else ("#item", int(code))
                    if gkey not in groups:
                        groups[gkey] = len(groups)
                        members = (np.flatnonzero(keys == k).astype(np.int32) if k >= 0
                                   else np.asarray([code], np.int32))
                        group_members.append(members)
                    group[j] = groups[gkey]
            pair_slot_item.append(codes.astype(np.int64))
            pair_feat.append(np.full(codes.shape[0], g_feat, np.int64))
            pair_group.append(group)
            feat_rows["sig"].append(s)
            feat_rows["local"].append(local)
            feat_rows["weight"].append(feat.weight)
            feat_rows["ratio"].append(feat.larger_than_usual if qty else 0.0)
            feat_rows["stage"].append(feat.stage_day if feat.stage_day is not None else 0)
            feat_rows["has_stage"].append(feat.stage_day is not None)
            feat_rows["spread"].append(feat.stage_spread)
            feat_rows["absent"].append(feat.absent_days)
        sig_feat_off.append(len(matches))
    if "names-only" in notes:
        warnings.append(f"{notes.count('names-only')} features were matched on item names "
                        "only: the catalog lacks the taxonomy levels they name")
    if "levels-only" in notes:
        warnings.append(f"the catalog maps no item names: {notes.count('levels-only')} "
                        "features were matched on taxonomy levels only")
    if view.names is None and view.levels and any(
            f.names or f.uses_concepts for sig in signatures for f in sig.features):
        warnings.append("the catalog maps no item names: name patterns were matched on each "
                        "item's most specific taxonomy value")
    warnings.extend(n for n in notes if n not in ("names-only", "levels-only"))

    fi = np.concatenate(pair_slot_item) if pair_slot_item else np.zeros(0, np.int64)
    ff = np.concatenate(pair_feat) if pair_feat else np.zeros(0, np.int64)
    fg = np.concatenate(pair_group) if pair_group else np.zeros(0, np.int64)
    gm_items = (np.concatenate(group_members).astype(np.int64) if group_members
                else np.zeros(0, np.int64))
    gm_group = (np.concatenate([np.full(m.shape[0], g, np.int64)
                                for g, m in enumerate(group_members)])
                if group_members else np.zeros(0, np.int64))
    slot_item = np.unique(np.concatenate([fi, gm_items])).astype(np.int32)
    item_slot = np.full(n_items, -1, np.int32)
    item_slot[slot_item] = np.arange(slot_item.shape[0], dtype=np.int32)
    n_slots = slot_item.shape[0]

    order = np.lexsort((ff, item_slot[fi])) if fi.size else np.zeros(0, np.int64)
    ps = item_slot[fi][order] if fi.size else np.zeros(0, np.int32)
    slot_feat_off = np.zeros(n_slots + 1, np.int64)
    np.cumsum(np.bincount(ps, minlength=n_slots), out=slot_feat_off[1:])
    gs_pairs = np.unique(np.stack([item_slot[gm_items].astype(np.int64), gm_group], axis=1),
                         axis=0) if gm_items.size else np.zeros((0, 2), np.int64)
    slot_grp_off = np.zeros(n_slots + 1, np.int64)
    np.cumsum(np.bincount(gs_pairs[:, 0], minlength=n_slots), out=slot_grp_off[1:])
    tables = ScanTables(
        item_slot=item_slot,
        slot_feat_off=slot_feat_off,
        slot_feat=ff[order].astype(np.int32),
        slot_feat_group=fg[order].astype(np.int32),
        slot_grp_off=slot_grp_off,
        slot_grp=gs_pairs[:, 1].astype(np.int32),
        feat_sig=np.asarray(feat_rows["sig"], np.int32),
        feat_local=np.asarray(feat_rows["local"], np.int32),
        feat_weight=np.asarray(feat_rows["weight"], np.float64),
        feat_ratio=np.asarray(feat_rows["ratio"], np.float64),
        feat_stage=np.asarray(feat_rows["stage"], np.int64),
        feat_has_stage=np.asarray(feat_rows["has_stage"], np.bool_),
        feat_spread=np.asarray(feat_rows["spread"], np.int64),
        sig_feat_off=np.asarray(sig_feat_off, np.int64),
        sig_window=np.asarray([s.window_days for s in signatures], np.int64),
        sig_min_stage=np.asarray([s.min_stage_features for s in signatures], np.int64),
        sig_score_thr=np.asarray(sig_thr, np.float64),
        feat_absent=np.asarray(feat_rows["absent"], np.int64),
    )
    return CompiledLibrary(tuple(signatures), tables, len(groups), slot_item, matches, warnings,
                           coverage)


def describe(compiled: CompiledLibrary, view: CatalogView, examples: int = 3) -> list[dict[str, Any]]:
    """Per-feature matching report: item counts, how matched, example names."""
    names_by_code: dict[int, str] = {}
    if view.raw_names is not None and view.codes.size:
        ok = view.codes >= 0
        want = set()
        for m in compiled.features:
            want.update(int(c) for c in m.items[:examples])
        rows = np.flatnonzero(ok & np.isin(view.codes, np.fromiter(want, np.int64, len(want))))
        if rows.size:
            taken = view.raw_names.take(pa.array(rows))
            for r, n in zip(rows, taken.to_pylist(), strict=True):
                names_by_code.setdefault(int(view.codes[r]), n)
    out = []
    for m in compiled.features:
        out.append({"signature": m.signature, "feature": m.feature, "items": int(m.items.size),
                    "matched_by": m.how or "nothing", "quantity_condition": m.quantity_condition,
                    "examples": [names_by_code[int(c)] for c in m.items[:examples]
                                 if int(c) in names_by_code]})
    return out
