"""``basketguard scan PROJECT``: which sensitive inferences the purchases support.

Prints a readable summary (or ``--json``); ``--out`` writes the JSON report
(aggregates only). Per-customer scores are sensitive and are written only to
``--scores PATH`` (Parquet) when asked.
"""

from __future__ import annotations

import argparse
import sys

from basketguard.engine.cli.common import (
    add_data_options,
    add_scale_options,
    add_table_options,
    connect_with_progress,
    load_with_progress,
    number_in,
    prepare_project,
    write_atomic,
    write_tables,
)
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.detect.scan import scan, scan_distributed, scan_shards
from basketguard.engine.findings import findings_table
from basketguard.engine.histories.cache import default_cache_dir
from basketguard.engine.report.json import dumps
from basketguard.engine.report.text import scan_text
from basketguard.engine.runner.shards import ShardSet
from basketguard.models.signatures.schema import load_library

NAME = "scan"
HELP = "Scan basket lines for sensitive life-event and special-category inferences."


def add_signature_options(parser: argparse.ArgumentParser) -> None:
    """Options choosing the signature library (shared with ``signatures``)."""
    parser.add_argument("--signatures", metavar="PATH", action="append", default=[],
                        help="a signature file or folder of *.toml files (repeatable); a user "
                             "signature replaces a built-in one of the same name")
    parser.add_argument("--no-builtin", action="store_true",
                        help="do not load the built-in signature library")
    parser.add_argument("--only", metavar="NAMES",
                        help="comma-separated signature names to use (default: all)")


def library_from_args(args: argparse.Namespace):
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    return load_library(args.signatures, builtin=not args.no_builtin, only=only)


def signature_inputs(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The ``--signatures`` files and folders, as inputs outputs must not touch."""
    return [("the --signatures input", path) for path in args.signatures]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    add_scale_options(parser)
    add_signature_options(parser)
    parser.add_argument("--detectors", metavar="DIR", action="append", default=[],
                        help="learned detector folder (from `basketguard learn --out`), or a "
                             "folder of them (repeatable); they run beside the signatures")
    parser.add_argument("--as-of", metavar="DATE",
                        help="reference date (YYYY-MM-DD) for the stage of estimated events "
                             "(default: the last day in the data)")
    parser.add_argument("--scores", metavar="FILE",
                        help="write per-customer scores (sensitive: original customer ids) "
                             "to this Parquet file")
    parser.add_argument("--min-probability", type=number_in(float, 0.0, 1.0), default=0.0,
                        metavar="P",
                        help="with --scores, keep only rows with probability >= P (0..1)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE")
    add_table_options(parser, [
        ("--findings-table", "write the findings (aggregates) to this table"),
        ("--scores-table", "write per-customer scores (sensitive: original customer ids; "
                           "--min-probability applies) to this table"),
    ])


def run(args: argparse.Namespace) -> int:
    library = library_from_args(args)
    detectors = None
    if args.detectors:
        from basketguard.engine.detect.learn import load_detectors

        detectors = load_detectors(args.detectors)
    outputs = [("--scores", args.scores), ("--out", args.out)]
    inputs = [*signature_inputs(args), *(("the --detectors input", p) for p in args.detectors)]
    tables = [("--findings-table", args.findings_table), ("--scores-table", args.scores_table)]
    progress = (lambda m: sys.stderr.write(m + "\n")) if sys.stderr.isatty() else None
    if args.scheduler:
        project, targets = prepare_project(args, outputs, inputs, tables)
        cluster, parts = connect_with_progress(args)
        try:
            cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
            result = scan_distributed(project, parts, library, as_of=args.as_of,
                                      progress=progress, detectors=detectors, cache_dir=cache)
        finally:
            parts.release()
            cluster.close()
        return _report(args, result, targets)
    project, hist, targets = load_with_progress(args, outputs, inputs, tables, shardable=True,
                                                lazy=True)
    if isinstance(hist, ShardSet):
        try:
            result = scan_shards(project, hist, library, as_of=args.as_of, progress=progress,
                                 detectors=detectors)
        finally:
            hist.close()
    else:
        result = scan(project, hist, library, as_of=args.as_of, progress=progress,
                      detectors=detectors)
    return _report(args, result, targets)


def _report(args: argparse.Namespace, result, targets) -> int:
    summary = result.summary(timings=args.timings)
    # tables first: a failed write-back must not leave files that look like a finished run
    write_tables(targets, {"--findings-table": lambda: findings_table(result.findings()),
                           "--scores-table": lambda: result.scores_table(args.min_probability)},
                 args.replace)
    if args.scores:
        result.write_scores(args.scores, args.min_probability)
    if args.out:
        write_atomic(args.out, dumps(summary))
    sys.stdout.write(dumps(summary) if args.json else scan_text(summary) + "\n")
    return ExitCode.OK
