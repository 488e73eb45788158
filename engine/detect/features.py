"""Learning features: the feature groups of a catalog and the per-customer feature matrix.

A *feature group* is a set of items a learned detector looks at as one:

- ``concept:<name>``: the members of a product concept (:mod:`engine.detect.concepts`);
- ``level:<level>=<value>``: a taxonomy node, at every level the project maps
  (value lower-cased, so a saved detector finds the node in another copy of the
  catalog whatever its case);
- ``item:<id>``: one item (original id), for the frequent items.

Keys are portable: a saved detector stores its groups' keys, and scoring
rebuilds the item membership on the scoring project's own catalog
(:func:`groups_from_keys`); a key with no items there gives empty columns.

:func:`feature_matrix` computes, per customer and group, windowed counts,
totals, quantities and recencies relative to a reference day per customer,
with the Numba kernel :func:`basketguard.kernels.features.customer_features`
(its docstring defines every column); no purchase after the reference day ever
enters a feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.detect.compile import CatalogView
from basketguard.engine.detect.concepts import ConceptTable
from basketguard.engine.errors import ConfigError
from basketguard.engine.histories.build import Histories
from basketguard.kernels import features as fk

KINDS = ("concept", "level", "item")


@dataclass(frozen=True)
class FeatureSpec:
    """Which groups become features, and the windows of their counts.

    Parameters
    ----------
    windows : tuple of int
        Days before the reference day over which lines are counted (ascending).
    max_groups : int
        Groups kept: those with the most mutual information with the label
        (among the labelled customers the choice may see).
    min_customers : int
        Groups bought by fewer labelled customers are never features.
    concepts, levels, items : bool
        Whether concepts, taxonomy nodes and single items may be features.
    """

    windows: tuple[int, ...] = (28, 91, 182, 365)
    max_groups: int = 100
    min_customers: int = 5
    concepts: bool = True
    levels: bool = True
    items: bool = True

    def __post_init__(self) -> None:
        w = self.windows
        if not w or any(int(x) < 1 for x in w) or list(w) != sorted(set(w)):
            raise ConfigError(f"feature windows {list(w)} must be ascending whole days >= 1")
        if self.max_groups < 1 or self.min_customers < 1:
            raise ConfigError("max_groups and min_customers must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return {"windows": list(self.windows), "max_groups": self.max_groups,
                "min_customers": self.min_customers, "concepts": self.concepts,
                "levels": self.levels, "items": self.items}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(tuple(int(x) for x in d["windows"]), int(d["max_groups"]),
                   int(d["min_customers"]), bool(d["concepts"]), bool(d["levels"]),
                   bool(d["items"]))


@dataclass
class FeatureGroups:
    """Feature groups and their item membership (a CSR over item codes).

    Attributes
    ----------
    keys : list of str
        Portable key of each group (see the module docstring).
    titles : list of str
        Readable name of each group (concept title, level and value as written,
        item name).
    item_offsets : int64 array (n_items + 1), item_groups : int32 array
        The groups of item code ``i`` are ``item_groups[item_offsets[i]:item_offsets[i+1]]``.
    """

    keys: list[str]
    titles: list[str]
    item_offsets: np.ndarray
    item_groups: np.ndarray
    _members: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_groups(self) -> int:
        return len(self.keys)

    @property
    def kinds(self) -> list[str]:
        return [k.split(":", 1)[0] for k in self.keys]

    def members(self) -> list[np.ndarray]:
        """Item codes of each group (sorted)."""
        if self._members is None:
            n_items = self.item_offsets.size - 1
            items = np.repeat(np.arange(n_items, dtype=np.int32), np.diff(self.item_offsets))
            order = np.argsort(self.item_groups, kind="stable")
            bounds = np.searchsorted(self.item_groups[order], np.arange(self.n_groups + 1))
            self._members = [items[order[bounds[g]:bounds[g + 1]]] for g in range(self.n_groups)]
        return self._members

    def take(self, index: np.ndarray) -> FeatureGroups:
        """The groups at ``index`` (in that order), renumbered 0..len-1."""
        index = np.asarray(index, np.int64)
        members = self.members()
        return _from_members([self.keys[i] for i in index], [self.titles[i] for i in index],
                             [members[i] for i in index], self.item_offsets.size - 1)


def _from_members(keys: list[str], titles: list[str], members: list[np.ndarray],
                  n_items: int) -> FeatureGroups:
    """Build the CSR from each group's item codes (duplicates removed)."""
    if members:
        items = np.concatenate([np.asarray(m, np.int64) for m in members])
        groups = np.repeat(np.arange(len(members), dtype=np.int64), [len(m) for m in members])
    else:
        items = groups = np.zeros(0, np.int64)
    pair = np.unique(items * max(len(members), 1) + groups)
    items, groups = pair // max(len(members), 1), pair % max(len(members), 1)
    offsets = np.zeros(n_items + 1, np.int64)
    np.cumsum(np.bincount(items, minlength=n_items), out=offsets[1:])
    return FeatureGroups(keys, titles, offsets, groups.astype(np.int32),
                         [np.asarray(m, np.int32) for m in members])


def _item_titles(view: CatalogView, item_ids: pa.Array) -> list[str]:
    names = [str(v) for v in item_ids.to_pylist()]
    if view.raw_names is not None and view.codes.size:
        rows = view.first_rows(len(item_ids))
        have = np.flatnonzero(rows >= 0)
        for i, n in zip(have.tolist(), view.raw_names.take(pa.array(rows[have])).to_pylist(),
                        strict=True):
            if n is not None:
                names[i] = n
    return names


def candidate_groups(view: CatalogView, item_ids: pa.Array, concepts: ConceptTable | None,
                     *, items: bool = True, levels: bool = True,
                     use_concepts: bool = True) -> FeatureGroups:
    """Every concept with members, every taxonomy node and (``items``) every item.

    Parameters
    ----------
    view : CatalogView
        The catalog aligned with the histories' item codes.
    item_ids : pyarrow.Array
        The histories' item dictionary.
    concepts : ConceptTable or None
        The catalog resolved to concepts (None: no concept groups).

    Returns
    -------
    FeatureGroups
        Concepts first (vocabulary order), then taxonomy nodes by level and value,
        then items by code.
    """
    n_items = len(item_ids)
    keys: list[str] = []
    titles: list[str] = []
    members: list[np.ndarray] = []
    if use_concepts and concepts is not None:
        for c in concepts.vocabulary.concepts:
            rows = concepts.rows.get(c.name)
            if rows is None or rows.size == 0:
                continue
            codes = view.codes[rows]
            codes = np.unique(codes[codes >= 0])
            if codes.size:
                keys.append(f"concept:{c.name}")
                titles.append(c.title)
                members.append(codes)
    if levels and view.codes.size:
        ok = view.codes >= 0
        for lv, values in view.levels.items():
            enc = pc.dictionary_encode(values).combine_chunks() \
                if isinstance(values, pa.ChunkedArray) else pc.dictionary_encode(values)
            idx = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False),
                             np.int64)
            raw = view.raw_levels[lv]
            sel = ok & (idx >= 0)
            if not sel.any():
                continue
            rows = np.flatnonzero(sel)
            order = np.argsort(idx[rows], kind="stable")
            rows = rows[order]
            vals = idx[rows]
            bounds = np.r_[0, np.flatnonzero(np.diff(vals)) + 1, vals.size]
            dictionary = enc.dictionary.to_pylist()
            for s, e in zip(bounds[:-1], bounds[1:], strict=True):
                value = dictionary[int(vals[s])]
                if not str(value).strip():
                    continue
                keys.append(f"level:{lv}={value}")
                titles.append(f"{lv} = {raw[int(rows[s])].as_py()}")
                members.append(np.unique(view.codes[rows[s:e]]))
    if items:
        keys.extend(f"item:{v}" for v in item_ids.cast(pa.string()).to_pylist())
        titles.extend(_item_titles(view, item_ids))
        members.extend(np.array([i], np.int32) for i in range(n_items))
    return _from_members(keys, titles, members, n_items)


def support(hist: Histories, groups: FeatureGroups, label: np.ndarray, ref: np.ndarray,
            drop: np.ndarray) -> np.ndarray:
    """``(2, n_groups)`` customers with each group among negatives (row 0) and positives (1).

    ``label`` is int8 per customer (1, 0, or -1 to leave a customer out); a
    purchase counts only on or before the customer's ``ref`` day and when its
    item is not dropped.
    """
    return fk.group_support(hist.offsets, hist.item, hist.day, np.asarray(ref, np.int32),
                            groups.item_offsets, groups.item_groups, groups.n_groups,
                            np.asarray(label, np.int8), np.asarray(drop, np.uint8))


def select_groups(candidates: FeatureGroups, counts: np.ndarray, spec: FeatureSpec,
                  n_pos: int, n_neg: int,
                  exclude_keys: set[str] | frozenset[str] = frozenset()) -> FeatureGroups:
    """The ``spec.max_groups`` candidates with the most mutual information with the label.

    ``counts`` is :func:`support`'s output over the labelled customers the
    choice may see (``n_pos`` and ``n_neg`` of them). Only kinds the spec
    allows, groups bought by ``spec.min_customers`` or more, and keys not in
    ``exclude_keys`` are eligible; ties go to the earlier candidate. The result
    keeps the candidates' order.
    """
    from basketguard.engine.detect.proxystats import mutual_information

    total = counts.sum(axis=0)
    kinds = np.array(candidates.kinds)
    allowed = {"concept": spec.concepts, "level": spec.levels, "item": spec.items}
    ok = np.isin(kinds, [k for k, v in allowed.items() if v]) & (total >= spec.min_customers)
    ok &= np.array([k not in exclude_keys for k in candidates.keys], bool)
    index = np.flatnonzero(ok)
    mi = mutual_information(counts[1, index], counts[0, index], n_pos, n_neg)
    best = index[np.argsort(-mi, kind="stable")][:spec.max_groups]
    return candidates.take(np.sort(best))


def groups_from_keys(keys: list[str], view: CatalogView, item_ids: pa.Array,
                     concepts: ConceptTable | None) -> tuple[FeatureGroups, int]:
    """Rebuild saved groups on another catalog; returns them and how many are empty here."""
    need_items = any(k.startswith("item:") for k in keys)
    cand = candidate_groups(view, item_ids, concepts, items=need_items)
    where = {k: i for i, k in enumerate(cand.keys)}
    members = cand.members()
    got, titles, empty = [], [], 0
    for k in keys:
        i = where.get(k)
        if i is None:
            got.append(np.zeros(0, np.int32))
            titles.append(k)
            empty += 1
        else:
            got.append(members[i])
            titles.append(cand.titles[i])
    return _from_members(list(keys), titles, got, len(item_ids)), empty


def feature_names(groups: FeatureGroups, windows: tuple[int, ...]) -> list[str]:
    """Column names of :func:`feature_matrix`: ``all:<stat>``, then ``<group key>:<stat>``."""
    glob, per = fk.feature_columns(np.asarray(windows, np.int32))
    return [f"all:{s}" for s in glob] + [f"{k}:{s}" for k in groups.keys for s in per]


def feature_matrix(hist: Histories, groups: FeatureGroups, ref: np.ndarray, drop: np.ndarray,
                   windows: tuple[int, ...]):
    """The customers' features as a ``scipy.sparse.csr_matrix`` (float32).

    Parameters
    ----------
    hist : Histories
    groups : FeatureGroups
    ref : int32 array (n_customers,)
        Reference day of each customer: no later purchase enters its features.
    drop : uint8 array (n_items,)
        Items left out of every feature (anchors).
    windows : tuple of int
        Count windows in days.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(n_customers, len(feature_names(groups, windows)))``.
    """
    import scipy.sparse as sp

    w = np.asarray(windows, np.int32)
    quantity = hist.quantity if hist.quantity is not None else np.zeros(0, np.float32)
    indptr, indices, data = fk.customer_features(
        hist.offsets, hist.item, hist.day, quantity, np.asarray(ref, np.int32),
        groups.item_offsets, groups.item_groups, groups.n_groups,
        np.asarray(drop, np.uint8), w)
    n_cols = fk.n_global(len(w)) + groups.n_groups * fk.n_stats(len(w))
    return sp.csr_matrix((data, indices, indptr), shape=(hist.n_customers, n_cols))
