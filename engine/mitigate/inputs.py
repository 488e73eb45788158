"""Loading what a mailing is measured against: probabilities, opt-outs, the offer, the policy.

One place turns the CLI's and the API's inputs into a
:class:`~basketguard.engine.mitigate.verify.MailingContext`, so ``assess`` and
``recommend`` read the same files the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from basketguard.engine.config.policy import Policy, load_policy
from basketguard.engine.config.project import Project, SourceSpec, infer_format
from basketguard.engine.errors import ConfigError, SourceError
from basketguard.engine.histories.build import Histories
from basketguard.engine.mitigate.inference import (
    EventProbabilities,
    probabilities_from_scan,
    probabilities_from_table,
)
from basketguard.engine.mitigate.verify import MailingContext


def resolve_policy(project: Project, policy_file: str | None) -> Policy:
    """The ``--policy`` file's policy, else the project's ``[policy]`` table.

    Raises
    ------
    ConfigError
        Neither is given, or the policy is invalid.
    """
    if policy_file is not None:
        return load_policy(policy_file)
    if project.policy is not None:
        return project.policy
    raise ConfigError("no policy: add a [policy] table to the project file or pass --policy FILE "
                      "(see docs/mitigation.md for the keys and the example policies in "
                      "examples/policies/).")


def opt_out_codes(project: Project, hist: Histories, path: str | None = None,
                  column: str = "customer") -> np.ndarray | None:
    """Codes of opted-out customers from ``--opt-out FILE`` or the ``[opt_out]`` table.

    Returns None when neither is given. Every listed id must be a customer of
    the base (a clear error otherwise).
    """
    from basketguard.engine.reid.assess import _member_codes, read_id_list

    if path is not None:
        return read_id_list(path, column, hist, what="opt-out list", option="--opt-out")
    spec = project.source("opt_out")
    if spec is None:
        return None
    from basketguard.engine.io.tables import read_role

    ids = read_role(project, "opt_out", id_types={"customer": hist.customer_ids.type})
    col = ids.column("customer")
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if len(col) == 0:
        return np.empty(0, np.int64)
    return _member_codes(col, hist, f"[opt_out] {spec.origin}", "opt-out list")


def event_probabilities(project: Project, hist: Histories, *, scan_result=None,
                        probabilities_file: str | None = None, labels_file: str | None = None,
                        signature_paths: Sequence[str] = (),
                        progress: Callable[[str], None] | None = None) -> EventProbabilities:
    """Per-customer event probabilities: a scores file, a labels file, or a fresh scan.

    Parameters
    ----------
    probabilities_file : str, optional
        A ``basketguard scan --scores`` file (``customer_id``, ``signature``, ``probability``).
    labels_file : str, optional
        ``customer_id``, ``signature`` (the event) and optionally ``label``.
    scan_result : ScanResult, optional
        Reuse a scan already made.
    """
    from basketguard.models.signatures.schema import load_library

    if probabilities_file and labels_file:
        raise ConfigError("give --probabilities or --labels, not both.")
    if probabilities_file or labels_file:
        path = probabilities_file or labels_file
        kind = "scores" if probabilities_file else "labels"
        table = _read_table(path, kind)
        return probabilities_from_table(table, hist.customer_ids, f"{kind} file {path}",
                                        signatures=load_library(signature_paths), kind=kind)
    if scan_result is None:
        from basketguard.engine.detect.scan import scan

        if progress:
            progress("scanning for sensitive inferences")
        scan_result = scan(project, hist, load_library(signature_paths))
    return probabilities_from_scan(scan_result)


def _read_table(path: str, what: str) -> pa.Table:
    from basketguard.engine.io.sources import open_source

    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise SourceError(f"{what} file {path!r} (resolved to {str(resolved)!r}) does not exist "
                          f"or is not a file; paths are relative to the working directory "
                          f"({Path.cwd()}).")
    fmt = infer_format(path)
    if fmt is None or fmt == "duckdb":
        raise ConfigError(f"{what} file {path!r}: use a .parquet, .csv or .arrow file.")
    spec = SourceSpec(role="segment", location=str(resolved), base_dir=Path.cwd(), format=fmt,
                      columns={"customer": "customer_id"}, origin=f"{what} file {path}")
    source = open_source(spec)
    return source.read_table(source.schema.names)


def offer_codes(project: Project, hist: Histories, view, library, path: str | None = None,
                column: str = "item") -> np.ndarray | None:
    """Item codes of the offer from ``--offer FILE`` or the ``[offer]`` table (None: no offer)."""
    from basketguard.engine.mitigate.offer import read_offer

    if path is not None:
        return read_offer(path, hist, view, library, column=column).codes
    spec = project.source("offer")
    if spec is None:
        return None
    from basketguard.engine.io.tables import read_role

    table = read_role(project, "offer")
    values = table.column("item").to_pylist()
    return read_offer(values, hist, view, library, where=f"[offer] {spec.origin}").codes


def mailing_context(project: Project, hist: Histories, policy: Policy, *,
                    opt_out_file: str | None = None, opt_out_column: str = "customer",
                    probabilities_file: str | None = None, labels_file: str | None = None,
                    signature_paths: Sequence[str] = (), mailings: int = 6, seed: int = 0,
                    draws: int = 10, scan_result=None,
                    progress: Callable[[str], None] | None = None) -> MailingContext:
    """Load everything a mailing is measured against (see :class:`MailingContext`)."""
    from basketguard.engine.detect.scan import compile_for
    from basketguard.engine.io.tables import read_role
    from basketguard.models.signatures.schema import load_library

    if mailings < 1:
        raise ConfigError(f"--mailings must be >= 1, not {mailings}.")
    from_scan = not (probabilities_file or labels_file)
    if from_scan and scan_result is None:
        from basketguard.engine.detect.scan import scan

        if progress:
            progress("scanning for sensitive inferences")
        scan_result = scan(project, hist, load_library(signature_paths))
    probs = event_probabilities(project, hist, scan_result=scan_result,
                                probabilities_file=probabilities_file, labels_file=labels_file,
                                signature_paths=signature_paths, progress=progress)
    if from_scan:  # the scan already resolved the library against the catalog
        library, view = scan_result.library, scan_result.view
    else:
        library, view = compile_for(project, hist, load_library(signature_paths))
    customers = None
    if project.source("customers") is not None:
        customers = read_role(project, "customers",
                              id_types={"customer": hist.customer_ids.type})
    if policy.attributes is not None and customers is not None:
        have = [c for c in customers.column_names if c != "customer"]
        for a in policy.attributes:
            if a not in have:
                raise ConfigError(f"{policy.origin}: policy.attributes names {a!r}, which is not "
                                  f"an attribute of the customers table ({', '.join(have)}).")
    opt = opt_out_codes(project, hist, opt_out_file, opt_out_column)
    coverage: tuple = ()
    if from_scan:
        from basketguard.engine.detect.scan import coverage_findings

        det = project.detection
        coverage = tuple(coverage_findings(library, det.min_coverage, det.coverage_severity,
                                           problems_only=True))
    return MailingContext(hist, probs, policy, customers, view, library, opt, mailings, seed,
                          draws, coverage)
