"""Attribute classes of a segment: k-anonymity, k-map and l-diversity.

The attributes exported with a segment (quasi-identifiers from the customers
table, optionally generalized by user hierarchies) split the members into
equivalence classes. For each member we measure the size of its class

- within the segment (``scope="segment"``: k-anonymity of what is released), and
- within the whole customer base (``scope="population"``: the k-map, i.e. how
  many customers an attacker who knows the attributes cannot tell apart).

From the class size ``k_i`` of every member ``i`` (ARX semantics):

- prosecutor risk ``max_i 1 / k_i``;
- average risk per record ``mean_i 1 / k_i`` (over records, not over classes;
  within the segment this equals classes / records);
- share of records in classes smaller than the policy's ``k``.

l-diversity of a sensitive attribute inferred for each member (e.g. a detector's
predicted life event) is measured within the segment's classes: distinct l
(number of sensitive values in a class) and entropy l (``exp`` of the entropy).
When the customer base is itself a sample of the real population (sampling
fraction ``f``), :mod:`basketguard.engine.reid.uniqueness` estimates how many people
in the population are unique on the same attributes.

Values are encoded by :mod:`basketguard.engine.reid.attributes` (dictionaries,
nulls as a value of their own, generalization hierarchies).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.findings import Estimate, Finding, Threshold
from basketguard.engine.io import columns as colconv
from basketguard.engine.reid.attributes import (
    AttributeCodes,
    Hierarchies,
    encode_attributes,
    encode_column,
    load_hierarchies,
    member_rows,
)
from basketguard.engine.reid.uniqueness import (
    Histogram,
    PopulationUniqueness,
    population_uniqueness,
)
from basketguard.kernels.classes import (
    ClassCounts,
    class_counts,
    classify,
    diversity,
    merge_class_counts,
    size_histogram,
    subset_sizes,
)


# ------------------------------------------------------------------- policy
@dataclass(frozen=True)
class ClassPolicy:
    """Thresholds for attribute-class findings.

    Parameters
    ----------
    k : int
        Smallest acceptable class size (k-anonymity within the segment, k-map
        against the customer base).
    small_share_max : float
        Largest acceptable share of members in classes smaller than ``k``.
    average_risk_max : float or None
        Largest acceptable average risk per record (None: reported only).
    l : int
        Smallest acceptable distinct l-diversity of the sensitive attribute.
    l_share_max : float
        Largest acceptable share of the segment's classes below ``l``.
    sampling_fraction : float or None
        Share of the real population that the customer base covers; enables
        the population-uniqueness estimates.
    uniqueness_max : float or None
        Largest acceptable estimated share of population uniques.
    """

    k: int = 5
    small_share_max: float = 0.0
    average_risk_max: float | None = None
    l: int = 2  # noqa: E741 (the measure's name)
    l_share_max: float = 0.0
    sampling_fraction: float | None = None
    uniqueness_max: float | None = None

    def __post_init__(self) -> None:
        if int(self.k) < 1 or int(self.l) < 1:
            raise ConfigError(f"k and l must be >= 1 (got k={self.k}, l={self.l}).")
        for name in ("small_share_max", "average_risk_max", "l_share_max", "uniqueness_max"):
            v = getattr(self, name)
            if v is not None and not (0.0 <= float(v) <= 1.0):
                raise ConfigError(f"{name} must lie in [0, 1], got {v!r}.")
        f = self.sampling_fraction
        if f is not None and not (0.0 < float(f) <= 1.0):
            raise ConfigError(
                f"sampling_fraction {f!r} is outside (0, 1]; give the share of the real "
                "population that the customer base covers (e.g. 0.05)."
            )


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class RiskSummary:
    """Risk measures from the class size of every member, in one scope.

    Parameters
    ----------
    scope : str
        ``segment`` (classes within the segment) or ``population`` (k-map).
    k : int
        The policy's smallest acceptable class size.
    records, classes : int
        Members, and distinct classes among them.
    min_k : int
        Smallest class size of any member (0 when there are none).
    prosecutor : float
        ``max 1/k_i``.
    average : float
        ``mean 1/k_i`` over members.
    small_records, unique_records : int
        Members in classes smaller than ``k``, and alone in their class.
    by_size : dict
        Members by class size, ``"1" .. "k-1"`` and ``">=k"`` (aggregates).
    """

    scope: str
    k: int
    records: int
    classes: int
    min_k: int
    prosecutor: float
    average: float
    small_records: int
    unique_records: int
    by_size: dict[str, int] = field(default_factory=dict)

    @property
    def small_share(self) -> float:
        return self.small_records / self.records if self.records else math.nan

    @classmethod
    def of(cls, scope: str, member_sizes: np.ndarray, classes: int, k: int) -> RiskSummary:
        """Measures from the class size ``k_i`` of each member."""
        sizes = np.asarray(member_sizes, np.int64)
        n = int(sizes.size)
        if n == 0:
            return cls(scope, k, 0, 0, 0, math.nan, math.nan, 0, 0, {})
        if sizes.min() < 1:
            raise ValueError("a member's class size is below 1")
        inv = 1.0 / sizes
        small = sizes < k
        by_size = {str(s): int(c) for s, c in zip(*np.unique(sizes[small], return_counts=True),
                                                   strict=True)}
        by_size[f">={k}"] = int(n - small.sum())
        return cls(scope, k, n, int(classes), int(sizes.min()), float(inv.max()),
                   float(inv.mean()), int(small.sum()), int((sizes == 1).sum()), by_size)

    def details(self) -> dict[str, Any]:
        return {"records": self.records, "classes": self.classes, "min_k": self.min_k,
                "prosecutor_risk": self.prosecutor, "average_risk": self.average,
                "records_below_k": self.small_records, "unique_records": self.unique_records,
                "records_by_class_size": self.by_size}


@dataclass(frozen=True)
class DiversitySummary:
    """l-diversity of the sensitive attribute within the segment's classes.

    ``min_distinct`` / ``min_entropy``: smallest distinct and entropy l over
    classes; ``classes_below`` / ``records_below``: classes with distinct l
    below the policy's ``l`` and their members.
    """

    l: int  # noqa: E741
    classes: int
    min_distinct: int
    min_entropy: float
    classes_below: int
    records_below: int

    @property
    def share_below(self) -> float:
        return self.classes_below / self.classes if self.classes else math.nan


@dataclass(frozen=True)
class ClassesResult:
    """Attribute-class risks of one segment.

    Parameters
    ----------
    attributes : tuple of str
        Attributes the classes are built on (after generalization).
    generalized : tuple of str
        Attributes that a hierarchy generalized.
    policy : ClassPolicy
    segment : RiskSummary
        k-anonymity within the segment.
    population : RiskSummary
        k-map against the customer base.
    diversity : DiversitySummary or None
        When a sensitive attribute was given.
    uniqueness : PopulationUniqueness or None
        When the policy gives a sampling fraction.
    customers : int
        Size of the customer base.
    """

    attributes: tuple[str, ...]
    generalized: tuple[str, ...]
    policy: ClassPolicy
    segment: RiskSummary
    population: RiskSummary
    diversity: DiversitySummary | None
    uniqueness: PopulationUniqueness | None
    customers: int

    def findings(self) -> list[Finding]:
        """Findings (aggregates only): prosecutor, average and small-class share in
        both scopes, then l-diversity and population uniqueness when measured."""
        out: list[Finding] = []
        attrs = ", ".join(self.attributes) or "no attributes"
        p = self.policy
        for s in (self.segment, self.population):
            where = ("within the segment" if s.scope == "segment"
                     else f"among all {self.customers} customers (k-map)")
            check = "reid.k_anonymity" if s.scope == "segment" else "reid.k_map"
            out.append(Finding.judged(
                check=f"{check}.prosecutor",
                metric=f"prosecutor risk (max 1/k) {where}",
                estimate=Estimate(s.prosecutor), threshold=Threshold(fail=1.0 / p.k),
                explanation=(f"On {attrs}, the smallest class {where} holds {s.min_k} "
                             f"customer(s); policy k = {p.k}."),
                details=s.details()))
            out.append(Finding.judged(
                check=f"{check}.average",
                metric=f"average re-identification risk per member {where}",
                estimate=Estimate(s.average), threshold=Threshold(fail=p.average_risk_max),
                explanation=(f"Mean over members of 1/(class size) on {attrs}, {where}."),
                details={"records": s.records, "classes": s.classes}))
            out.append(Finding.judged(
                check=f"{check}.small_classes",
                metric=f"share of members in classes smaller than k={p.k} {where}",
                estimate=Estimate(s.small_share), threshold=Threshold(fail=p.small_share_max),
                explanation=(f"{s.small_records} of {s.records} members share their values of "
                             f"{attrs} with fewer than {p.k} customer(s) {where} "
                             f"({s.unique_records} are unique)."),
                details={"records_below_k": s.small_records,
                         "records_by_class_size": s.by_size}))
        d = self.diversity
        if d is not None:
            out.append(Finding.judged(
                check="reid.l_diversity",
                metric=f"share of segment classes with fewer than l={d.l} sensitive values",
                estimate=Estimate(d.share_below), threshold=Threshold(fail=p.l_share_max),
                explanation=(f"{d.classes_below} of {d.classes} classes on {attrs} "
                             f"({d.records_below} members) show fewer than {d.l} distinct "
                             f"values of the sensitive attribute; smallest distinct l = "
                             f"{d.min_distinct}, entropy l = {d.min_entropy:.3g}."),
                details={"classes": d.classes, "classes_below_l": d.classes_below,
                         "records_below_l": d.records_below, "min_distinct_l": d.min_distinct,
                         "min_entropy_l": d.min_entropy}))
        if self.uniqueness is not None:
            out.append(self.uniqueness.finding(fail=p.uniqueness_max))
        return out


# --------------------------------------------------- partial (engine.runner)
@dataclass(frozen=True, eq=False)
class AttributeClassCounts:
    """The distinct attribute tuples of a shard of customers and their counts.

    A partial of the runner protocol: shards encoded with one set of dictionaries
    (one :class:`~basketguard.engine.reid.attributes.AttributeCodes` of the whole
    customer base) merge exactly, whatever the split; :meth:`finalize` gives the
    frequencies of class sizes over all shards (what population-uniqueness
    estimators and a base-wide k-anonymity need).

    Attributes
    ----------
    attributes : tuple of str
    cards : tuple of int
        Dictionary size of each attribute.
    counts : basketguard.kernels.classes.ClassCounts
        Distinct code tuples (lexicographic) and their customer counts.
    """

    attributes: tuple[str, ...]
    cards: tuple[int, ...]
    counts: ClassCounts

    @classmethod
    def of(cls, codes: AttributeCodes, rows: np.ndarray | None = None) -> AttributeClassCounts:
        """Count the classes of some customers (rows of ``codes``; all when None)."""
        cols = [np.ascontiguousarray(c if rows is None else c[rows]) for c in codes.codes]
        n = len(codes.codes[0]) if rows is None and codes.codes else (
            0 if rows is None else len(rows))
        return cls(codes.names, codes.cards, class_counts(cols, list(codes.cards), n=n))

    @property
    def records(self) -> int:
        return int(self.counts.counts.sum())

    @property
    def merge_key(self) -> tuple:
        return (self.attributes, self.cards)

    def merge(self, other: AttributeClassCounts) -> AttributeClassCounts:
        """Exact sum of two shards' class counts (same attributes and dictionaries)."""
        if other.merge_key != self.merge_key:
            raise ConfigError("cannot merge attribute classes over different attributes or "
                              "dictionaries; encode the whole customer base once, then shard")
        return AttributeClassCounts(self.attributes, self.cards,
                                    merge_class_counts([self.counts, other.counts], self.cards))

    def finalize(self) -> Histogram:
        """Frequencies of class sizes (how many classes hold 1, 2, ... customers)."""
        values, counts = size_histogram(self.counts.counts)
        return Histogram.of(values, counts)


# ---------------------------------------------------------------- assessment
def _segment_ids(segment: pa.Table | pa.Array | pa.ChunkedArray | Sequence) -> pa.Array:
    if isinstance(segment, pa.Table):
        if "customer" not in segment.column_names:
            raise SchemaError("the segment table has no `customer` column.")
        return colconv.as_array(segment.column("customer"))
    if isinstance(segment, pa.Array | pa.ChunkedArray):
        return colconv.as_array(segment)
    return pa.array(list(segment))


def _sensitive_codes(sensitive: Any, segment: Any, customers: pa.Table, rows: np.ndarray,
                     seg_ids: pa.Array) -> tuple[np.ndarray, int]:
    """Codes of the sensitive attribute, one per member row (in ``rows`` order)."""
    if isinstance(sensitive, str):
        if isinstance(segment, pa.Table) and sensitive in segment.column_names:
            # one value per segment row; keep the first row of each member
            first = pc.index_in(pc.unique(seg_ids), value_set=seg_ids)
            col = colconv.as_array(segment.column(sensitive)).take(first)
        elif sensitive in customers.column_names:
            col = colconv.as_array(customers.column(sensitive)).take(pa.array(rows))
        else:
            raise ConfigError(
                f"sensitive attribute {sensitive!r} is neither a segment nor a customers column."
            )
    else:
        col = pa.array(np.asarray(sensitive)) if not isinstance(
            sensitive, pa.Array | pa.ChunkedArray) else sensitive
        if len(col) != len(rows):
            raise DataError(
                f"the sensitive attribute has {len(col)} values but the segment has "
                f"{len(rows)} distinct members; give one value per member, in segment order."
            )
    codes, labels = encode_column(col, "sensitive")
    return codes, max(len(labels), 1)


def assess_classes(customers: pa.Table, segment: pa.Table | pa.Array | Sequence, *,
                   attributes: Sequence[str] | None = None,
                   hierarchies: Hierarchies | None = None,
                   sensitive: str | np.ndarray | pa.Array | None = None,
                   policy: ClassPolicy | None = None) -> ClassesResult:
    """Attribute-class risks of a segment against the customer base.

    Parameters
    ----------
    customers : pyarrow.Table
        Column ``customer`` (unique ids) plus attribute columns.
    segment : pyarrow.Table, pyarrow.Array or sequence
        The segment (a table with a ``customer`` column) or its customer ids;
        repeated ids count once.
    attributes : sequence of str, optional
        Exported attributes (default: all attribute columns).
    hierarchies : mapping, optional
        Generalization per attribute (see :func:`load_hierarchies`).
    sensitive : str or array, optional
        The sensitive attribute for l-diversity: a column of the segment table
        (first value per member) or of the customers table, or one value per
        distinct member in segment order.
    policy : ClassPolicy, optional
        Thresholds (defaults: k = 5, l = 2).

    Returns
    -------
    ClassesResult

    Raises
    ------
    ConfigError
        Unknown attributes, bad hierarchies or policy.
    DataError
        Empty segment, members missing from the customers table, duplicate
        customers.
    """
    policy = policy or ClassPolicy()
    if "customer" not in customers.column_names:
        raise SchemaError("the customers table has no `customer` column.")
    seg_ids = _segment_ids(segment)
    if len(seg_ids) == 0:
        raise DataError("the segment is empty: there is nobody to assess. Check the segment "
                        "source and its filter.")
    codes = encode_attributes(customers, attributes, hierarchies)
    rows = member_rows(customers.column("customer"), seg_ids)
    cl = classify(list(codes.codes), list(codes.cards), n=customers.num_rows)
    seg_sizes = subset_sizes(cl.class_of, rows, cl.n_classes)
    member_class = cl.class_of[rows]
    n_seg_classes = int(np.count_nonzero(seg_sizes))
    k = int(policy.k)
    seg = RiskSummary.of("segment", seg_sizes[member_class], n_seg_classes, k)
    pop = RiskSummary.of("population", cl.sizes[member_class], n_seg_classes, k)
    div = None
    if sensitive is not None:
        scodes, n_values = _sensitive_codes(sensitive, segment, customers, rows, seg_ids)
        distinct, entropy = diversity(member_class, cl.n_classes, scodes, n_values)
        present = seg_sizes > 0
        below = present & (distinct < policy.l)
        div = DiversitySummary(int(policy.l), n_seg_classes, int(distinct[present].min()),
                               float(entropy[present].min()), int(below.sum()),
                               int(seg_sizes[below].sum()))
    uniq = None
    if policy.sampling_fraction is not None:
        values, counts = size_histogram(cl.sizes)
        uniq = population_uniqueness(Histogram.of(values, counts), policy.sampling_fraction)
    return ClassesResult(codes.names, tuple(sorted(hierarchies or {})), policy, seg, pop, div,
                         uniq, customers.num_rows)


def classes_from_project(project, *, attributes: Sequence[str] | None = None,
                         hierarchies: Hierarchies | str | Path | None = None,
                         sensitive: str | np.ndarray | pa.Array | None = None,
                         policy: ClassPolicy | None = None) -> ClassesResult:
    """:func:`assess_classes` on a project's ``customers`` and ``segment`` roles.

    Parameters
    ----------
    project : Project
        A loaded project with ``[customers]`` and ``[segment]`` tables.
    hierarchies : mapping or path, optional
        A mapping, or a TOML file read with :func:`load_hierarchies`.
    attributes, sensitive, policy
        As in :func:`assess_classes`.

    Returns
    -------
    ClassesResult
    """
    from basketguard.engine.io.tables import read_role

    if isinstance(hierarchies, str | Path):
        hierarchies = load_hierarchies(hierarchies)
    customers = read_role(project, "customers")
    # segment ids take the kind of the customers table's (CSV text "17850" -> 17850)
    segment = read_role(project, "segment",
                        id_types={"customer": customers.schema.field("customer").type})
    return assess_classes(customers, segment, attributes=attributes, hierarchies=hierarchies,
                          sensitive=sensitive, policy=policy)
