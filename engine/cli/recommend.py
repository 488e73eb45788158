"""``basketguard recommend PROJECT``: make a mailing safe, and prove it by measuring again.

Exit status: 0 when the amended mailing passes every check of the policy, 2
when it passes with warnings, 1 when no plan met the policy (the binding
checks are named), 3 on any error. The plan report holds aggregates only; the
amended segment (``--out``) holds the recipients' ids, sorted, with nothing
that tells a decoy from a target.
"""

from __future__ import annotations

import argparse
import sys

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
from basketguard.engine.cli.exitcodes import ExitCode, exit_code
from basketguard.engine.errors import ConfigError
from basketguard.engine.report.json import dumps
from basketguard.engine.report.text import plan_text

NAME = "recommend"
HELP = ("Recommend decoy recipients, suppression, generalization and offer changes that bring "
        "a mailing under the policy, and verify the plan by measuring again.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    add_segment_options(parser)
    add_mailing_options(parser)
    m = parser.add_argument_group("mitigations")
    m.add_argument("--no-decoys", action="store_true", help="do not add decoy recipients")
    m.add_argument("--no-suppress", action="store_true", help="do not drop members")
    m.add_argument("--no-generalize", action="store_true",
                   help="do not generalize exported attributes")
    m.add_argument("--keep-offer", action="store_true", help="do not change the offer")
    m.add_argument("--hierarchies", metavar="FILE",
                   help="generalization hierarchies (TOML; a value maps to one coarser value "
                        "or a list of them); default: inferred from the values")
    m.add_argument("--aim", choices=("fail", "warn"), default="fail",
                   help="meet the policy's failure levels (default) or its warning levels too")
    m.add_argument("--seed", type=number_in(int, 0, 2**63 - 1), default=0,
                   help="seed of the decoy choice and unicity draws (0)")
    m.add_argument("--draws", type=number_in(int, 1, 2**24), default=10,
                   help="unicity draws per member (10)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--out", metavar="FILE", help="write the amended segment (Parquet)")
    out.add_argument("--plan", metavar="FILE", help="write the plan report (JSON)")
    out.add_argument("--json", action="store_true", help="print the plan as JSON")
    add_table_options(parser, [("--segment-table", "write the amended segment (as --out) to "
                                                   "this table")])


def run(args: argparse.Namespace) -> int:
    from basketguard.engine.mitigate.export import amended_table, write_amended_segment
    from basketguard.engine.mitigate.inputs import resolve_policy
    from basketguard.engine.mitigate.plan import RecommendOptions, recommend
    from basketguard.engine.reid.assess import segment_members

    check_segment_options(args)
    if args.out and not str(args.out).endswith((".parquet", ".pq")):
        raise ConfigError(f"--out {args.out!r}: the amended segment is written as Parquet; "
                          "name a .parquet file.")
    project, hist, targets = load_with_progress(
        args, outputs=[("--out", args.out), ("--plan", args.plan)],
        tables=[("--segment-table", args.segment_table)],
        inputs=[("the --segment file", args.segment), ("the --policy file", args.policy),
                ("the --opt-out file", args.opt_out), ("the --offer file", args.offer),
                ("the --probabilities file", args.probabilities),
                ("the --labels file", args.labels), ("the --hierarchies file", args.hierarchies),
                *(("the --signatures input", p) for p in args.signatures)])
    policy = resolve_policy(project, args.policy)
    say = (lambda m: sys.stderr.write(f"{m} ...\n")) if sys.stderr.isatty() else None
    members, info = segment_members(project, hist, segment_file=args.segment,
                                    signature=args.segment_signature,
                                    signature_paths=tuple(args.signatures),
                                    segment_column=args.segment_column or "customer")
    ctx, offer = mailing_of(args, project, hist, policy, say)
    options = RecommendOptions(decoys=not args.no_decoys, suppress=not args.no_suppress,
                               generalize=not args.no_generalize, offer=not args.keep_offer,
                               aim=args.aim, hierarchies=args.hierarchies)
    plan = recommend(ctx, members, offer=offer, options=options, segment_info=info,
                     progress=say)
    doc = plan.to_dict()
    # tables first: a failed write-back must not leave files that look like a finished run
    write_tables(targets, {"--segment-table": lambda: amended_table(plan, ctx)}, args.replace)
    if args.plan:
        write_atomic(args.plan, dumps(doc))
    if args.out:
        write_amended_segment(plan, ctx, args.out)
    sys.stdout.write(dumps(doc) if args.json else plan_text(doc) + "\n")
    if not plan.verified:
        return ExitCode.FAIL
    return exit_code(plan.severity)
