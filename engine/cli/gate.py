"""``basketguard gate PROJECT``: does a mailing meet the policy? The exit status says.

Measures the segment (and its offer) with the measures ``recommend``
verifies with, judges one check per policy limit and exits 0 when every
check passes, 2 with warnings only, 1 when a check fails (``--fail-on warn``:
warnings too), 3 on any error, including a check that could not be measured.
The report holds aggregates only unless ``--include-ids`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time

from basketguard.engine.cli.common import (
    add_data_options,
    add_mailing_options,
    add_segment_options,
    add_table_options,
    check_segment_options,
    load_with_progress,
    mailing_of,
    number_in,
    write_atomic,
    write_tables,
)
from basketguard.engine.cli.exitcodes import exit_code
from basketguard.engine.report.formats import FORMATS, render
from basketguard.engine.report.json import dumps
from basketguard.engine.report.text import gate_text

NAME = "gate"
HELP = ("Gate a segment export: judge the mailing against every policy check and exit 0 "
        "pass, 1 fail, 2 warnings only, 3 error.")

EPILOG = """\
exit status:
  0  every policy check passes
  1  at least one check fails (with --fail-on warn: or warns)
  2  warnings only
  3  error: bad input or configuration, a policy with no check, or a check that
     could not be measured (never a pass)

The report (--json, --report) holds aggregates only; --include-ids adds the
segment's customer ids (individual-level data). See docs/gate.md."""

def report_target(text: str) -> tuple[str, str]:
    """Parse ``--report [FORMAT:]PATH`` into (format, path) for argparse
    (:func:`basketguard.engine.report.formats.parse_report_option`)."""
    from basketguard.engine.report.formats import ReportOptionError, parse_report_option

    try:
        return parse_report_option(text)
    except ReportOptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


report_target.__name__ = "report"  # argparse names the type in its messages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add_data_options(parser)
    add_segment_options(parser, "Parquet / CSV / Arrow file of customer ids (e.g. written by "
                                "`basketguard recommend --out`; exported attribute columns in "
                                "it are what the classes are counted on)")
    add_mailing_options(parser)
    g = parser.add_argument_group("the gate")
    g.add_argument("--fail-on", choices=("fail", "warn"), default="fail",
                   help="fail on failures only (default) or on warnings too (exit 1)")
    g.add_argument("--recommend", action="store_true",
                   help="when the gate fails, also recommend a plan (in the report's `plan`)")
    g.add_argument("--seed", type=number_in(int, 0, 2**63 - 1), default=0,
                   help="seed of the unicity draws (and of the plan's decoys) (0)")
    g.add_argument("--draws", type=number_in(int, 1, 2**24), default=10,
                   help="unicity draws per member (10)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--json", action="store_true", help="print the report as JSON")
    out.add_argument("--report", metavar="[FORMAT:]PATH", type=report_target, action="append",
                     default=[], help="write the report, atomically (repeatable; formats: "
                                      f"{', '.join(FORMATS)}; a bare PATH's suffix "
                                      "names it)")
    out.add_argument("--include-ids", action="store_true",
                     help="add the segment's customer ids to the report (`members_ids`): "
                          "individual-level data, keep it where the ids may be")
    add_table_options(parser, [("--findings-table", "write the gate's checks (aggregates) to "
                                                    "this table")])


def run(args: argparse.Namespace) -> int:
    from basketguard.engine.findings import findings_table
    from basketguard.engine.gate.exported import carried_hierarchies
    from basketguard.engine.gate.gate import evaluate
    from basketguard.engine.mitigate.inputs import resolve_policy
    from basketguard.engine.reid.assess import segment_members

    check_segment_options(args)
    t0 = time.perf_counter()
    project, hist, targets = load_with_progress(
        args, outputs=[("--report", path) for _, path in args.report],
        tables=[("--findings-table", args.findings_table)],
        inputs=[("the --segment file", args.segment), ("the --policy file", args.policy),
                ("the --opt-out file", args.opt_out), ("the --offer file", args.offer),
                ("the --probabilities file", args.probabilities),
                ("the --labels file", args.labels),
                *(("the --signatures input", p) for p in args.signatures)])
    policy = resolve_policy(project, args.policy)
    say = (lambda m: sys.stderr.write(f"{m} ...\n")) if sys.stderr.isatty() else None
    column = args.segment_column or "customer"
    members, info = segment_members(project, hist, segment_file=args.segment,
                                    signature=args.segment_signature,
                                    signature_paths=tuple(args.signatures),
                                    segment_column=column)
    ctx, offer = mailing_of(args, project, hist, policy, say)
    hierarchies, notes = (carried_hierarchies(args.segment, column, ctx) if args.segment
                          else (None, []))
    loaded = time.perf_counter() - t0
    result = evaluate(ctx, members, exit_code_of=exit_code, offer=offer,
                      hierarchies=hierarchies, fail_on=args.fail_on, project=project.name,
                      segment_info=info, recommend=args.recommend, include_ids=args.include_ids,
                      notes=notes, progress=say)
    result.seconds = {"load": loaded, **result.seconds}
    doc = result.to_dict(timings=args.timings)
    # tables first: a failed write-back (exit 3) must not leave a report saying "pass"
    write_tables(targets, {"--findings-table": lambda: findings_table(
        [c.finding for c in result.checks])}, args.replace)
    for fmt, path in args.report:
        write_atomic(path, render(fmt, doc))
    sys.stdout.write(dumps(doc) if args.json else gate_text(doc) + "\n")
    return result.exit_code
