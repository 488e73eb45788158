"""``assess``: re-identification risk of a segment, as findings.

Who in a targeted segment could be singled out by someone holding what travels
with the segment? Three measures, each optional, judged against thresholds:

- **attribute classes** of the exported quasi-identifiers (k-anonymity within
  the segment, k-map against the customer base, l-diversity of an inferred
  sensitive attribute, population uniqueness when the base is a sample):
  :mod:`basketguard.engine.reid.classes`;
- **purchase unicity**: the share of members singled out by p of their own
  purchases (items, item-day, item-week, item-month or store-day points):
  :mod:`basketguard.engine.reid.unicity`;
- **k^m-anonymity** of exported item lists: :mod:`basketguard.engine.reid.kmanonymity`.

The segment comes from the project's ``[segment]`` table, a file of customer
ids, or the customers a signature flags (the audience of a targeted mailing).
Findings carry aggregates only; the result's severity is the worst finding's (the CLI
turns it into the exit status).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.project import Project, SourceSpec, infer_format
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Finding, Severity, worst
from basketguard.engine.histories.build import Histories
from basketguard.engine.io.tables import read_role


@dataclass(frozen=True)
class AssessOptions:
    """What to measure and the thresholds (see ``basketguard assess --help``).

    Parameters
    ----------
    attributes : tuple of str or None
        Exported quasi-identifiers (default: every customers attribute); empty
        tuple: skip attribute classes.
    hierarchies : str or None
        TOML file of generalization hierarchies.
    k : int
        Smallest acceptable class size.
    small_share_max : float
        Largest acceptable share of members in classes below k.
    sampling_fraction : float or None
        Share of the real population the customer base covers.
    sensitive_signature : str or None
        Signature whose flag is the sensitive attribute for l-diversity.
    l : int
        Smallest acceptable distinct l-diversity.
    points : tuple of str
        Unicity point kinds (empty: skip unicity).
    p_max, draws, seed : int
        Unicity: known points 1..p_max, draws per member, seed.
    unicity_warn, unicity_fail : float or None
        Thresholds on the unicity share at ``p_max``.
    item_lists : bool
        The export carries item lists: check k^m-anonymity.
    km_k, km_m : int
        k^m parameters.
    km_unit : str
        ``members`` (each member's distinct items) or ``baskets``.
    km_warn, km_fail : float or None
        Thresholds on the share of transactions with a violating itemset.
    signature_paths : tuple of str
        User signature files or folders (for ``sensitive_signature``).
    """

    attributes: tuple[str, ...] | None = None
    hierarchies: str | None = None
    k: int = 5
    small_share_max: float = 0.0
    sampling_fraction: float | None = None
    sensitive_signature: str | None = None
    l: int = 2  # noqa: E741 (the measure's name)
    points: tuple[str, ...] = ("item-day",)
    p_max: int = 4
    draws: int = 10
    seed: int = 0
    unicity_warn: float | None = 0.05
    unicity_fail: float | None = 0.5
    item_lists: bool = False
    km_k: int = 5
    km_m: int = 2
    km_unit: str = "members"
    km_warn: float | None = 0.0
    km_fail: float | None = None
    signature_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from basketguard.engine.reid.unicity import POINT_KINDS

        for kind in self.points:
            if kind not in POINT_KINDS:
                raise ConfigError(f"unknown point kind {kind!r}; use one of "
                                  f"{', '.join(sorted(POINT_KINDS))} (or none).")
        for name, value, low, high in (("k", self.k, 1, None), ("l", self.l, 1, None),
                                       ("p", self.p_max, 1, 64), ("draws", self.draws, 1, None),
                                       ("km_k", self.km_k, 1, None), ("km_m", self.km_m, 1, 4)):
            if value < low or (high is not None and value > high):
                bound = f"{low}..{high}" if high is not None else f">= {low}"
                raise ConfigError(f"assess option {name} must be {bound}, not {value}.")
        if self.sampling_fraction is not None and not 0 < self.sampling_fraction <= 1:
            raise ConfigError("the sampling fraction must lie in (0, 1], not "
                              f"{self.sampling_fraction}.")
        if self.km_unit not in ("members", "baskets"):
            raise ConfigError(f"km_unit must be 'members' or 'baskets', not {self.km_unit!r}.")


@dataclass
class AssessResult:
    """Findings of one assessment plus what was assessed."""

    segment: dict[str, Any]
    findings: list[Finding]
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    @property
    def severity(self) -> Severity:
        """The worst finding's severity (PASS when nothing was judged)."""
        return worst(f.severity for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "severity": self.severity.value,
                "findings": [f.to_dict() for f in self.findings], "skipped": self.skipped,
                "seconds": {k: round(v, 4) for k, v in self.seconds.items()}}


def _read_ids(path: str) -> pa.Array:
    """Customer ids from a segment file (Parquet, CSV or IPC with a ``customer`` column)."""
    from basketguard.engine.io.sources import open_source

    fmt = infer_format(path)
    if fmt is None or fmt == "duckdb":
        raise ConfigError(f"segment file {path!r}: use a .parquet, .csv or .arrow file with a "
                          "`customer` column.")
    spec = SourceSpec(role="segment", location=str(Path(path).expanduser().resolve()),
                      base_dir=Path.cwd(), format=fmt, columns={"customer": "customer"},
                      origin=f"segment file {path}")
    source = open_source(spec)
    source.check_columns(["customer"], {"customer": "the segment's customer ids"})
    return source.read_table(["customer"]).column("customer").combine_chunks()


def segment_members(project: Project, hist: Histories, *, segment_file: str | None = None,
                    signature: str | None = None,
                    signature_paths: tuple[str, ...] = ()) -> tuple[np.ndarray, dict]:
    """Customer codes of the segment (distinct, ascending) and a description of its source.

    Exactly one source is used: ``segment_file``, else ``signature`` (the
    customers it flags; a built-in signature or one from ``signature_paths``),
    else the project's ``[segment]`` table.

    Raises
    ------
    ConfigError
        No segment source is given.
    DataError
        The segment is empty or names customers with no purchases.
    """
    from basketguard.engine.reid.unicity import resolve_members

    if segment_file is not None:
        ids, source = _read_ids(segment_file), f"file {segment_file}"
    elif signature is not None:
        from basketguard.engine.detect.scan import scan
        from basketguard.models.signatures.schema import load_library

        lib = load_library(signature_paths, only=[signature])
        result = scan(project, hist, lib)
        e = result.entries
        sel = e["score"] >= lib[0].score_threshold
        codes = np.unique(e["customer"][sel])
        if codes.size == 0:
            raise DataError(f"signature {signature!r} flags no customer: the segment is empty.")
        return codes, {"source": f"customers flagged by signature {signature!r}",
                       "members": int(codes.size)}
    elif project.source("segment") is not None:
        ids, source = read_role(project, "segment").column("customer").combine_chunks(), \
            f"[segment] {project.source('segment').origin}"
    else:
        raise ConfigError(
            "no segment to assess: add a [segment] table to the project, or pass --segment "
            "FILE or --segment-signature NAME."
        )
    if len(ids) == 0:
        raise DataError(f"the segment ({source}) is empty: there is nobody to assess.")
    codes = resolve_members(hist, member_ids=pc.unique(ids))
    return np.unique(codes), {"source": source, "members": int(np.unique(codes).size)}


def assess(project: Project, hist: Histories, members: np.ndarray, options: AssessOptions,
           segment_info: dict | None = None, progress=None) -> AssessResult:
    """Measure a segment's re-identification risks.

    Parameters
    ----------
    project : Project
        For the customers table (attribute classes).
    hist : Histories
        The whole customer base's histories.
    members : numpy.ndarray
        Customer codes of the segment (from :func:`segment_members`).
    options : AssessOptions
    segment_info : dict, optional
        Description of the segment for the report.
    progress : callable, optional
        Called with a message before each measure.

    Returns
    -------
    AssessResult
    """
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    skipped: list[str] = []
    member_ids = hist.customer_ids.take(pa.array(members, pa.int64()))
    say = progress or (lambda _m: None)

    if options.attributes == ():
        skipped.append("attribute classes (no attributes exported)")
    elif project.source("customers") is None:
        skipped.append("attribute classes (the project has no [customers] table)")
    else:
        from basketguard.engine.reid.classes import ClassPolicy, assess_classes

        say("attribute classes")
        t0 = time.perf_counter()
        customers = read_role(project, "customers")
        sensitive = None
        if options.sensitive_signature:
            from basketguard.engine.detect.scan import scan
            from basketguard.models.signatures.schema import load_library

            lib = load_library(options.signature_paths, only=[options.sensitive_signature])
            res = scan(project, hist, lib)
            e = res.entries
            flagged_codes = np.unique(e["customer"][e["score"] >= lib[0].score_threshold])
            flag = np.isin(members, flagged_codes)
            sensitive = pa.array(np.where(flag, "flagged", "not flagged"))
            # members missing from the customers table are reported by assess_classes
        policy = ClassPolicy(k=options.k, small_share_max=options.small_share_max, l=options.l,
                             sampling_fraction=options.sampling_fraction)
        hier = None
        if options.hierarchies:
            from basketguard.engine.reid.attributes import load_hierarchies

            hier = load_hierarchies(options.hierarchies)
        result = assess_classes(customers, member_ids,
                                attributes=list(options.attributes) if options.attributes
                                else None, hierarchies=hier, sensitive=sensitive, policy=policy)
        findings.extend(result.findings())
        seconds["attribute_classes"] = time.perf_counter() - t0

    if options.points:
        from basketguard.engine.reid.unicity import unicity

        for kind in options.points:
            say(f"purchase unicity ({kind} points)")
            t0 = time.perf_counter()
            u = unicity(hist, members, points=kind, p_max=options.p_max, draws=options.draws,
                        seed=options.seed)
            fs = u.findings(options.unicity_warn, options.unicity_fail)
            # only the largest p is judged; smaller p are informational context
            for f in fs[:-1]:
                findings.append(Finding(f.check, f.metric, f.estimate, None, Severity.INFO,
                                        f.explanation, f.details))
            findings.extend(fs[-1:])
            seconds[f"unicity_{kind}"] = time.perf_counter() - t0
    else:
        skipped.append("purchase unicity (no point kinds)")

    if options.item_lists:
        from basketguard.engine.histories.transactions import transactions_from_histories
        from basketguard.engine.reid.kmanonymity import km_anonymity

        say("k^m-anonymity of the exported item lists")
        t0 = time.perf_counter()
        sub = hist.subset(members)
        tx = transactions_from_histories(sub, unit=options.km_unit)
        names = _catalog_names(project, hist)
        if names is not None:
            tx = type(tx).from_csr(tx.offsets, tx.items, names, tx.unit, tx.source)
        km = km_anonymity(tx, k=options.km_k, m=options.km_m)
        findings.extend(km.findings(options.km_warn, options.km_fail))
        seconds["km_anonymity"] = time.perf_counter() - t0
    else:
        skipped.append("k^m-anonymity (the export carries no item lists; --item-lists)")
    info = dict(segment_info or {"members": int(members.size)})
    info["customer_base"] = hist.n_customers
    return AssessResult(info, findings, seconds, skipped)


def _catalog_names(project: Project, hist: Histories) -> np.ndarray | None:
    """Item names by code from the project's catalog ("name (id)"), or None without one."""
    spec = project.source("catalog")
    if spec is None or "name" not in spec.columns:
        return None
    from basketguard.engine.detect.compile import catalog_view

    view = catalog_view(read_role(project, "catalog"), hist.item_ids, [], spec.origin)
    ids = hist.item_ids.to_pylist()
    names = np.asarray([str(i) for i in ids], dtype=object)
    rows = view.first_rows(len(ids))
    have = np.flatnonzero(rows >= 0)
    for code, n in zip(have, view.raw_names.take(pa.array(rows[have])).to_pylist(),
                       strict=True):
        if n is not None:
            names[code] = f"{n.strip()} ({ids[code]})"
    return names
