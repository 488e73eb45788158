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
    if segment_file is None and signature is not None:
        codes = _flagged_codes(project, hist, signature, signature_paths)
        source = f"customers flagged by signature {signature!r}"
        if codes.size == 0:
            return _empty(source, f"signature {signature!r} flags no customer")
        return codes, {"source": source, "members": int(codes.size)}
    ids, info, where = segment_ids(project, hist.customer_ids, segment_file=segment_file,
                                   segment_column=segment_column)
    if ids is None:
        return np.empty(0, np.int64), info
    codes = _member_codes(ids, hist, where)
    return codes, {"source": info["source"], "members": int(codes.size)}


def _flagged_codes(project: Project, hist: Histories, signature: str,
                   signature_paths: tuple[str, ...]) -> np.ndarray:
    """Codes (distinct, ascending) of the customers ``signature`` flags in ``hist``."""
    from basketguard.engine.detect.scan import scan
    from basketguard.models.signatures.schema import load_library

    lib = load_library(signature_paths, only=[signature])
    e = scan(project, hist, lib).entries
    return np.unique(e["customer"][e["score"] >= lib[0].score_threshold])


def segment_ids(project: Project, base_ids: pa.Array, *, segment_file: str | None = None,
                segment_column: str = "customer") -> tuple[pa.Array | None, dict, str]:
    """The ids of a segment file or of the project's ``[segment]`` table, in the base's id
    kind (``base_ids``: some or all of the base's ids, for their type and for messages).

    Returns ``(ids, description, where)``; ``ids`` is None for an empty segment
    (the description says why). Raises as :func:`segment_members`.
    """
    if segment_file is not None:
        ids, where = _read_ids(segment_file, segment_column, base_ids)
        source = f"file {segment_file}"
        if len(ids) == 0:
            return None, _empty(source, f"the segment file {segment_file} has no rows")[1], where
    elif project.source("segment") is not None:
        spec = project.source("segment")
        ids = read_role(project, "segment",
                        id_types={"customer": base_ids.type}).column("customer")
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        source = where = f"[segment] {spec.origin}"
        if len(ids) == 0:
            filt = " after its filter" if spec.filter is not None else ""
            return None, _empty(source, f"the [segment] table has no rows{filt}")[1], where
    else:
        raise ConfigError(
            "no segment to assess: add a [segment] table to the project, or pass --segment "
            "FILE or --segment-signature NAME."
        )
    return ids, {"source": source}, where


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
        return _empty_result(hist.n_customers, segment_info or {"members": 0})
    return _assess(project, _MemoryBase(project, hist, members), options,
                   dict(segment_info or {"members": int(members.size)}), progress)


class _MemoryBase:
    """The measures of :func:`_assess` on histories in memory."""

    def __init__(self, project: Project, hist: Histories, members: np.ndarray) -> None:
        self.project, self.hist, self.members = project, hist, members
        self.n_customers = hist.n_customers
        self.id_type = hist.customer_ids.type
        self.member_ids = hist.customer_ids.take(pa.array(members, pa.int64()))

    def flagged(self, signature: str, paths: tuple[str, ...]) -> np.ndarray:
        """Which members (in ``member_ids`` order) the signature flags."""
        return np.isin(self.members, _flagged_codes(self.project, self.hist, signature, paths))

    def unicity(self, kind: str, options: AssessOptions):
        from basketguard.engine.reid.unicity import unicity

        return unicity(self.hist, self.members, points=kind, p_max=options.p_max,
                       draws=options.draws, seed=options.seed)

    def km(self, options: AssessOptions):
        from basketguard.engine.histories.transactions import transactions_from_histories
        from basketguard.engine.reid.kmanonymity import km_anonymity

        tx = _named(transactions_from_histories(self.hist.subset(self.members),
                                                unit=options.km_unit),
                    _catalog_names(self.project, self.hist))
        return km_anonymity(tx, k=options.km_k, m=options.km_m)


def _named(tx, names: np.ndarray | None):
    return tx if names is None else type(tx).from_csr(tx.offsets, tx.items, names, tx.unit,
                                                      tx.source)


def _assess(project: Project, base: Any, options: AssessOptions, info: dict,
            progress=None) -> AssessResult:
    """The measures over a customer base in memory or in shards (``base``: its members'
    ids in ascending order, and each measure)."""
    findings: list[Finding] = []
    seconds: dict[str, float] = {}
    skipped: list[str] = []
    say = progress or (lambda _m: None)

    if options.attributes == ():
        skipped.append("attribute classes (no attributes exported)")
    elif project.source("customers") is None:
        skipped.append("attribute classes (the project has no [customers] table)")
    else:
        from basketguard.engine.reid.classes import ClassPolicy, assess_classes

        say("attribute classes")
        t0 = time.perf_counter()
        customers = read_role(project, "customers", id_types={"customer": base.id_type})
        sensitive = None
        if options.sensitive_signature:
            flag = base.flagged(options.sensitive_signature, options.signature_paths)
            sensitive = pa.array(np.where(flag, "flagged", "not flagged"))
            # members missing from the customers table are reported by assess_classes
        policy = ClassPolicy(k=options.k, small_share_max=options.small_share_max, l=options.l,
                             sampling_fraction=options.sampling_fraction)
        hier = None
        if options.hierarchies:
            from basketguard.engine.reid.attributes import load_hierarchies

            hier = load_hierarchies(options.hierarchies)
        result = assess_classes(customers, base.member_ids,
                                attributes=list(options.attributes) if options.attributes
                                else None, hierarchies=hier, sensitive=sensitive, policy=policy)
        findings.extend(result.findings())
        seconds["attribute_classes"] = time.perf_counter() - t0

    if options.points:
        for kind in options.points:
            say(f"purchase unicity ({kind} points)")
            t0 = time.perf_counter()
            u = base.unicity(kind, options)
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
        say("k^m-anonymity of the exported item lists")
        t0 = time.perf_counter()
        km = base.km(options)
        findings.extend(km.findings(options.km_warn, options.km_fail))
        seconds["km_anonymity"] = time.perf_counter() - t0
    else:
        skipped.append("k^m-anonymity (the export carries no item lists; --item-lists)")
    info["customer_base"] = base.n_customers
    return AssessResult(info, findings, seconds, skipped)


# ------------------------------------------------------------- a sharded base


class ShardBase:
    """A customer base held in out-of-core shards (or Dask partitions), for :func:`assess_sharded`.

    Parameters
    ----------
    project : Project
    run_parts : callable
        ``run_parts(fn, *args, state=None)``: ``fn(histories, *args)`` on every
        shard (see :func:`basketguard.engine.reid.unicity.unicity_sharded`).
    info : dict
        The whole base's ``customers``, ``first_day`` and ``last_day``.
    sample_ids : pyarrow.Array
        Some of the base's ids (their type is the base's; messages use them).
    sequential : bool
        ``run_parts`` takes ``state`` (shards one after the other).
    scan : callable, optional
        ``scan(library) -> ScanResult`` over the shards, for signature segments
        and l-diversity (:func:`basketguard.engine.detect.scan.scan_shards`).
    """

    def __init__(self, project: Project, run_parts, info: dict, sample_ids: pa.Array, *,
                 sequential: bool = True, scan=None) -> None:
        self.project, self.run_parts, self.scan = project, run_parts, scan
        self.sequential = sequential
        self.n_customers = int(info["customers"])
        self.first_day, self.last_day = int(info["first_day"]), int(info["last_day"])
        self.id_type = sample_ids.type
        self.sample_ids = sample_ids
        self.member_ids = pa.array([], self.id_type)

    @classmethod
    def of_shards(cls, project: Project, shards: Any, progress=None) -> ShardBase:
        """The base of an out-of-core :class:`~basketguard.engine.runner.shards.ShardSet`
        (``progress(done, total)`` after each shard of every pass)."""
        from basketguard.engine.detect.scan import scan_shards
        from basketguard.engine.reid.unicity import shard_runner

        if len(shards) == 0:
            raise DataError(f"{project.lines.origin}: no basket lines in any shard.")
        sample = shards.load(0).customer_ids.slice(0, 1000)
        return cls(project, shard_runner(shards, progress), shards.info, sample,
                   scan=lambda lib: scan_shards(project, shards, lib))

    @classmethod
    def of_partitions(cls, project: Project, parts: Any) -> ShardBase:
        """The base of Dask partitions (:class:`~basketguard.engine.runner.dask.Partitions`):
        every measure runs where a partition lives; only aggregates, the members'
        point keys and per-draw counts travel."""
        from basketguard.engine.detect.scan import scan_distributed

        if parts.n_lines == 0:
            raise DataError(f"{project.lines.origin}: no basket lines in any partition.")

        def run(fn, *args, state=None):
            return parts.map(fn, *args)

        sample = parts.map(_sample_ids)[0]
        out = cls(project, run, parts.info, sample, sequential=False,
                  scan=lambda lib: scan_distributed(project, parts, lib))
        out.local_stores = True
        return out

    #: Store codes are per partition (Dask): store-day points cannot be keyed.
    local_stores = False
    #: Called with a message per phase of a measure (set by :func:`assess_sharded`).
    say = None

    def flagged_ids(self, signature: str, paths: tuple[str, ...]) -> pa.Array:
        """Ids (ascending) of the customers ``signature`` flags, over every shard."""
        from basketguard.models.signatures.schema import load_library

        if self.scan is None:
            raise ConfigError("this customer base cannot be scanned for signatures")
        lib = load_library(paths, only=[signature])
        res = self.scan(lib)
        e = res.entries
        codes = np.unique(e["customer"][e["score"] >= lib[0].score_threshold])
        return res.customer_ids.take(pa.array(codes, pa.int64()))

    def set_members(self, ids: pa.Array, where: str) -> None:
        """Use these ids (any order, repeats allowed) as the segment; every one must be a
        customer of some shard (the message names ``where``)."""
        ids = pc.unique(ids)
        found = sum(self.run_parts(_count_found, ids))
        if found != len(ids):
            base_kind = "integers" if pa.types.is_integer(self.id_type) else "text"
            raise DataError(
                f"{where}: {len(ids) - found} of {len(ids)} segment member id(s) are not "
                f"customers of the base (the customer ids of the basket lines, which are "
                f"{base_kind}); every listed customer must have purchases in the lines: check "
                "that the list and the lines use the same ids, or drop those customers.")
        self.member_ids = ids.take(pc.sort_indices(ids))

    def flagged(self, signature: str, paths: tuple[str, ...]) -> np.ndarray:
        return pc.is_in(self.member_ids, value_set=self.flagged_ids(signature, paths)
                        ).to_numpy(zero_copy_only=False)

    def unicity(self, kind: str, options: AssessOptions):
        from basketguard.engine.reid.unicity import POINT_KINDS, unicity_sharded

        if self.local_stores and POINT_KINDS[kind][0] == "store":
            raise ConfigError(f"{kind!r} points are not measured on Dask (each partition codes "
                              "stores on its own): use item points there, or run without "
                              "--scheduler (out-of-core shards share one store coding).")

        return unicity_sharded(self.run_parts, self.member_ids, first_day=self.first_day,
                               last_day=self.last_day, points=kind, p_max=options.p_max,
                               draws=options.draws, seed=options.seed,
                               sequential=self.sequential, progress=self.say)

    def km(self, options: AssessOptions):
        from basketguard.engine.reid.kmanonymity import km_anonymity_from_counts
        from basketguard.engine.runner.partial import merge_all

        names = None
        if self.project.source("catalog") is not None:
            names = self.run_parts(_names_of, self.project)[0]
        parts = self.run_parts(_km_counts, self.member_ids, options.km_unit, options.km_m,
                               names)
        merged = merge_all(parts)
        affected = sum(self.run_parts(_km_affected, self.member_ids, options.km_unit, merged,
                                      options.km_k, names))
        return km_anonymity_from_counts(merged, options.km_k, n_affected=affected)


def _sample_ids(hist: Histories) -> pa.Array:
    return hist.customer_ids.slice(0, 1000)


def _count_found(hist: Histories, ids: pa.Array) -> int:
    return int(pc.sum(pc.is_in(ids, value_set=hist.customer_ids)).as_py() or 0)


def _shard_members(hist: Histories, ids: pa.Array) -> np.ndarray:
    return np.flatnonzero(pc.is_in(hist.customer_ids, value_set=ids)
                          .to_numpy(zero_copy_only=False)).astype(np.int64)


def _shard_transactions(hist: Histories, ids: pa.Array, unit: str, names):
    from basketguard.engine.histories.transactions import transactions_from_histories

    return _named(transactions_from_histories(hist.subset(_shard_members(hist, ids)), unit=unit),
                  names)


def _names_of(hist: Histories, project: Project) -> np.ndarray | None:
    return _catalog_names(project, hist)


def _km_counts(hist: Histories, ids: pa.Array, unit: str, m: int, names):
    from basketguard.engine.reid.kmanonymity import count_itemsets

    return count_itemsets(_shard_transactions(hist, ids, unit, names), m)


def _km_affected(hist: Histories, ids: pa.Array, unit: str, merged, k: int, names) -> int:
    from basketguard.engine.reid.kmanonymity import affected_transactions

    return affected_transactions(_shard_transactions(hist, ids, unit, names), merged, k)


def assess_sharded(project: Project, base: ShardBase, options: AssessOptions, *,
                   segment_file: str | None = None, signature: str | None = None,
                   segment_column: str = "customer",
                   progress=None) -> AssessResult:
    """:func:`assess` of a segment over a customer base in shards, with the same findings.

    The segment comes from the same sources as :func:`segment_members`. The
    attribute classes read the customers table (one row per customer, not the
    lines); purchase unicity runs shard by shard
    (:func:`basketguard.engine.reid.unicity.unicity_sharded`); k^m-anonymity
    merges itemset supports over the shards
    (:mod:`basketguard.engine.reid.kmanonymity`).
    """
    if segment_file is None and signature is not None:
        ids = base.flagged_ids(signature, options.signature_paths)
        info = {"source": f"customers flagged by signature {signature!r}"}
        if len(ids) == 0:
            info["empty"] = f"signature {signature!r} flags no customer"
            return _empty_result(base.n_customers, info)
        where = info["source"]
    else:
        ids, info, where = segment_ids(project, base.sample_ids, segment_file=segment_file,
                                       segment_column=segment_column)
        if ids is None:
            return _empty_result(base.n_customers, info)
    base.say = progress
    if progress:
        progress(f"membership of the segment's {len(ids):,} ids in the shards")
    base.set_members(ids, where)
    info["members"] = len(base.member_ids)
    return _assess(project, base, options, info, progress)


def _empty_result(n_customers: int, segment_info: dict) -> AssessResult:
    """The assessment of a segment with no member: one informational finding.

    An empty mailing or export targets nobody, so nobody in it can be singled
    out: a measured fact, not an error (an unreadable segment is an error).
    """
    info = dict(segment_info)
    why = info.pop("empty", "the segment has no member")
    info["members"] = 0
    info["customer_base"] = n_customers
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
