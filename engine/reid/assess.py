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
Its ids are normalized as the basket lines' ids are. An empty segment is no
error: it targets nobody, and the result holds one informational finding
saying so (``reid.segment``); the severity is then PASS.
Findings carry aggregates only; the result's severity is the worst finding's (the CLI
turns it into the exit status).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.project import Project, SourceSpec, infer_format
from basketguard.engine.errors import ConfigError, DataError, SchemaError, SourceError
from basketguard.engine.findings import Estimate, Finding, Severity, Threshold, worst
from basketguard.engine.histories.build import Histories
from basketguard.engine.io.tables import conform_ids, read_role


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
        for name, warn, fail in (("unicity", self.unicity_warn, self.unicity_fail),
                                 ("km", self.km_warn, self.km_fail)):
            try:
                Threshold(warn, fail)
            except ValueError as exc:
                raise ConfigError(f"assess options {name}_warn / {name}_fail: {exc}.") from None


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

    def to_dict(self, timings: bool = False) -> dict[str, Any]:
        """The assessment's report: aggregates only, every number finite or ``None``.

        Parameters
        ----------
        timings : bool
            Fill ``seconds`` with the timings of the measures. Without it
            ``seconds`` is empty, so the same input gives the same report bytes.

        Returns
        -------
        dict
            ``segment``, ``severity``, ``findings``, ``skipped``, ``seconds``. A
            value that could not be measured (NaN) or is infinite is ``None``
            (JSON ``null``).
        """
        return _finite({
            "segment": self.segment, "severity": self.severity.value,
            "findings": [f.to_dict() for f in self.findings], "skipped": self.skipped,
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()} if timings else {}})


def _finite(node: Any) -> Any:
    """``node`` with every NaN or infinite float (in dicts and lists) as ``None``."""
    if isinstance(node, float):
        return node if math.isfinite(node) else None
    if isinstance(node, dict):
        return {k: _finite(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_finite(v) for v in node]
    return node


def _read_ids(path: str, column: str, base_ids: pa.Array, what: str = "segment",
              option: str = "--segment") -> tuple[pa.Array, str]:
    """Customer ids of an id file (Parquet, CSV or IPC), in the base's id kind.

    ``path`` is relative to the working directory; ``what`` and ``option`` name
    the list in messages (the segment, an opt-out list). Returns the ids and the
    source's description (for messages).
    """
    from basketguard.engine.io.sources import open_source

    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        where = "is a folder" if resolved.is_dir() else "does not exist"
        raise SourceError(
            f"{what} file {path!r} (resolved to {str(resolved)!r}) {where}; {option} paths "
            f"are relative to the working directory ({Path.cwd()}), not to the project file."
        )
    fmt = infer_format(path)
    if fmt is None or fmt == "duckdb":
        raise ConfigError(f"{what} file {path!r}: use a .parquet, .csv or .arrow file with a "
                          f"`customer` column (or name the id column with {option}-column).")
    spec = SourceSpec(role="segment", location=str(resolved), base_dir=Path.cwd(), format=fmt,
                      columns={"customer": column}, origin=f"{what} file {path}")
    source = open_source(spec)
    names = source.schema.names
    if column not in names:
        shown = _masked_names(names, base_ids)
        close = [n for n in shown if n.lower() == column.lower()]
        hint = f" The closest name is {close[0]!r}." if close else ""
        headless = ("; its first row looks like data, not a header: write a header row"
                    if "<a customer id>" in shown else "")
        raise SchemaError(
            f"{source.where}: no column {column!r} holds the {what}'s customer ids.{hint} "
            f"Columns: {', '.join(shown) or '(none)'}{headless}. Name the id column with "
            f"{option}-column NAME (or call it `customer`)."
        )
    col = source.read_table([column]).column(column)
    return conform_ids(col, base_ids.type, source.where, column), source.where


def read_id_list(path: str, column: str, hist: Histories, *, what: str = "segment",
                 option: str = "--segment") -> np.ndarray:
    """Customer codes (distinct, ascending) of an id file; every id must be a customer.

    Parameters
    ----------
    path : str
        Parquet / CSV / Arrow file, relative to the working directory.
    column : str
        Its id column.
    hist : Histories
        The customer base.
    what, option : str
        How messages name the list and its option (``"opt-out list"``, ``"--opt-out"``).

    Raises
    ------
    SourceError, SchemaError, DataError
        Missing or unreadable file, missing column, ids of another kind, nulls,
        or ids that are not customers of the base.
    """
    ids, where = _read_ids(path, column, hist.customer_ids, what, option)
    if len(ids) == 0:
        return np.empty(0, np.int64)
    return _member_codes(ids, hist, where, "segment member" if what == "segment" else what)


def _masked_names(names: list[str], base_ids: pa.Array) -> list[str]:
    """Column names, with those that could be customer ids masked: a file without
    a header row has its first ids as column names (a known id, or any integer
    when the base's ids are integers)."""
    out = []
    for name in names:
        try:
            as_id = conform_ids(pa.array([name]), base_ids.type, "", "", "customer")
            known = pa.types.is_integer(base_ids.type) or bool(
                pc.is_in(as_id, value_set=base_ids)[0].as_py())
        except (SchemaError, DataError):
            known = False
        out.append("<a customer id>" if known else name)
    return out


def _member_codes(ids: pa.Array, hist: Histories, source: str,
                  what: str = "segment member") -> np.ndarray:
    """Codes (distinct, ascending) of a list's ids already in the base's id kind."""
    ids = pc.unique(ids)
    found = pc.index_in(ids, value_set=hist.customer_ids)
    if found.null_count:
        base_kind = "integers" if pa.types.is_integer(hist.customer_ids.type) else "text"
        raise DataError(
            f"{source}: {found.null_count} of {len(ids)} {what} id(s) are not customers "
            f"of the base (the customer ids of the basket lines, which are {base_kind}); "
            "every listed customer must have purchases in the lines: check that the list "
            "and the lines use the same ids, or drop those customers."
        )
    return np.unique(found.to_numpy(zero_copy_only=False).astype(np.int64))


def _empty(source: str, why: str) -> tuple[np.ndarray, dict]:
    return np.empty(0, np.int64), {"source": source, "members": 0, "empty": why}


def segment_members(project: Project, hist: Histories, *, segment_file: str | None = None,
                    signature: str | None = None, signature_paths: tuple[str, ...] = (),
                    segment_column: str = "customer") -> tuple[np.ndarray, dict]:
    """Customer codes of the segment (distinct, ascending) and a description of its source.

    Exactly one source is used: ``segment_file`` (relative to the working
    directory; its ids in column ``segment_column``), else ``signature`` (the
    customers it flags; a built-in signature or one from ``signature_paths``),
    else the project's ``[segment]`` table. Segment ids are normalized as the
    basket lines' ids are (:func:`basketguard.engine.io.tables.conform_ids`).

    An empty segment (a signature that flags nobody, a segment file or table
    with no rows) is no error: the codes are empty and the description says why
    (:func:`assess` reports it as a finding).

    Raises
    ------
    ConfigError
        No segment source is given.
    SourceError, SchemaError
        The segment file is missing or unreadable, or its id column is missing
        or holds ids of another kind.
    DataError
        A null id, or members with no purchases in the basket lines.
    """
    if segment_file is not None:
        ids, where = _read_ids(segment_file, segment_column, hist.customer_ids)
        source = f"file {segment_file}"
        if len(ids) == 0:
            return _empty(source, f"the segment file {segment_file} has no rows")
    elif signature is not None:
        from basketguard.engine.detect.scan import scan
        from basketguard.models.signatures.schema import load_library

        lib = load_library(signature_paths, only=[signature])
        result = scan(project, hist, lib)
        e = result.entries
        sel = e["score"] >= lib[0].score_threshold
        codes = np.unique(e["customer"][sel])
        source = f"customers flagged by signature {signature!r}"
        if codes.size == 0:
            return _empty(source, f"signature {signature!r} flags no customer")
        return codes, {"source": source, "members": int(codes.size)}
    elif project.source("segment") is not None:
        spec = project.source("segment")
        ids = read_role(project, "segment",
                        id_types={"customer": hist.customer_ids.type}).column("customer")
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        source = where = f"[segment] {spec.origin}"
        if len(ids) == 0:
            filt = " after its filter" if spec.filter is not None else ""
            return _empty(source, f"the [segment] table has no rows{filt}")
    else:
        raise ConfigError(
            "no segment to assess: add a [segment] table to the project, or pass --segment "
            "FILE or --segment-signature NAME."
        )
    codes = _member_codes(ids, hist, where)
    return codes, {"source": source, "members": int(codes.size)}


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
    if members.size == 0:
        return _empty_result(hist, segment_info or {"members": 0})
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
        customers = read_role(project, "customers",
                              id_types={"customer": hist.customer_ids.type})
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


def _empty_result(hist: Histories, segment_info: dict) -> AssessResult:
    """The assessment of a segment with no member: one informational finding.

    An empty mailing or export targets nobody, so nobody in it can be singled
    out: a measured fact, not an error (an unreadable segment is an error).
    """
    info = dict(segment_info)
    why = info.pop("empty", "the segment has no member")
    info["members"] = 0
    info["customer_base"] = hist.n_customers
    finding = Finding.judged(
        "reid.segment", "members of the segment", Estimate(0.0), None,
        f"The segment is empty: nobody is targeted ({why}), so no member can be singled out "
        "and no measure applies. If members were expected, check the segment source.",
        {"members": 0})
    skipped = [f"{m} (the segment is empty)"
               for m in ("attribute classes", "purchase unicity", "k^m-anonymity")]
    return AssessResult(info, [finding], {}, skipped)


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
