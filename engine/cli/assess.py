"""``basketguard assess PROJECT``: re-identification risk of a segment.

Exit status: 0 when every finding passes (or is informational), 2 when the
worst is a warning, 1 when a finding fails, 3 on any error, so a pipeline can
gate a segment export on it; an assessment whose options skipped every measure
is an error too (it never reads as a pass). The report holds aggregates only.
"""

from __future__ import annotations

import argparse
import sys

from basketguard.engine.cli.common import (
    add_data_options,
    add_mailing_options,
    add_scale_options,
    check_segment_options,
    connect_with_progress,
    load_with_progress,
    mailing_of,
    number_in,
    prepare_project,
    stage_printer,
    write_atomic,
)
from basketguard.engine.cli.exitcodes import exit_code
from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Threshold
from basketguard.engine.reid.assess import (
    AssessOptions,
    ShardBase,
    assess,
    assess_sharded,
    segment_members,
)
from basketguard.engine.report.json import dumps
from basketguard.engine.report.text import assess_text
from basketguard.engine.runner.shards import ShardSet

NAME = "assess"
HELP = "Assess how well a segment's members could be re-identified (classes, unicity, k^m)."


#: Class sizes and diversities: at least 1, and within the kernels' integers.
_COUNT = number_in(int, 1, 2**31 - 1)


def _share(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'none'") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share in [0, 1]")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    seg = parser.add_argument_group("segment (default: the project's [segment] table)")
    seg.add_argument("--segment", metavar="FILE",
                     help="Parquet / CSV / Arrow file of customer ids (relative to the "
                          "working directory); an empty file is an empty segment")
    seg.add_argument("--segment-column", metavar="NAME",
                     help="the --segment file's id column (default `customer`)")
    seg.add_argument("--segment-signature", metavar="NAME",
                     help="the customers a signature flags (a targeted mailing's audience)")
    seg.add_argument("--signatures", metavar="PATH", action="append", default=[],
                     help="user signature file or folder for --segment-signature / "
                          "--sensitive-signature (repeatable)")
    cls = parser.add_argument_group("attribute classes")
    cls.add_argument("--attributes", metavar="A,B,...",
                     help="exported quasi-identifiers (default: all customers attributes; "
                          "'none' to skip)")
    cls.add_argument("--hierarchies", metavar="FILE", help="generalization hierarchies (TOML)")
    cls.add_argument("--k", type=_COUNT, default=5, help="smallest acceptable class size (5)")
    cls.add_argument("--sampling-fraction", type=float, metavar="F",
                     help="share of the real population the customer base covers: enables "
                          "population-uniqueness estimates")
    cls.add_argument("--sensitive-signature", metavar="NAME",
                     help="l-diversity of this signature's flag within classes")
    cls.add_argument("--l", type=_COUNT, default=2, help="smallest acceptable l-diversity (2)")
    uni = parser.add_argument_group("purchase unicity")
    uni.add_argument("--points", default="item-day",
                     help="comma-separated point kinds: items, item-day, item-week, "
                          "item-month, store-day; 'none' to skip (default item-day)")
    uni.add_argument("--p", type=number_in(int, 1, 64), default=4, dest="p_max",
                     help="known points 1..P; the finding at P is judged (default 4)")
    uni.add_argument("--draws", type=number_in(int, 1, 2**24), default=10,
                     help="draws per member (10)")
    uni.add_argument("--seed", type=number_in(int, 0, 2**63 - 1), default=0,
                     help="seed of the draws (0)")
    uni.add_argument("--unicity-warn", type=_share, default=0.05, metavar="SHARE")
    uni.add_argument("--unicity-fail", type=_share, default=0.5, metavar="SHARE")
    km = parser.add_argument_group("k^m-anonymity of exported item lists")
    km.add_argument("--item-lists", action="store_true",
                    help="the export carries the members' item lists: check k^m-anonymity")
    km.add_argument("--km-k", type=_COUNT, default=5)
    km.add_argument("--km-m", type=number_in(int, 1, 4), default=2)
    km.add_argument("--km-unit", choices=("members", "baskets"), default="members")
    add_mailing_options(parser)
    parser.add_argument("--no-inference", action="store_true",
                        help="skip the inference risk of the mailing (what receiving it says)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON report to FILE")
    add_scale_options(parser)


def options_from_args(args: argparse.Namespace) -> AssessOptions:
    check_segment_options(args)
    try:  # the rule is Threshold's; here it only gets the options' names
        Threshold(args.unicity_warn, args.unicity_fail)
    except ValueError:
        raise ConfigError(f"--unicity-warn {args.unicity_warn:g} is above --unicity-fail "
                          f"{args.unicity_fail:g}: a share would fail before it warns. Give "
                          "--unicity-warn <= --unicity-fail.") from None
    attrs = None
    if args.attributes is not None:
        attrs = () if args.attributes.lower() == "none" else tuple(
            a.strip() for a in args.attributes.split(",") if a.strip())
    points = () if args.points.lower() == "none" else tuple(
        p.strip() for p in args.points.split(",") if p.strip())
    return AssessOptions(attributes=attrs, hierarchies=args.hierarchies, k=args.k,
                         sampling_fraction=args.sampling_fraction,
                         sensitive_signature=args.sensitive_signature, l=args.l, points=points,
                         p_max=args.p_max, draws=args.draws, seed=args.seed,
                         unicity_warn=args.unicity_warn, unicity_fail=args.unicity_fail,
                         item_lists=args.item_lists, km_k=args.km_k, km_m=args.km_m,
                         km_unit=args.km_unit, signature_paths=tuple(args.signatures))


def run(args: argparse.Namespace) -> int:
    options = options_from_args(args)
    outputs = [("--out", args.out)]
    inputs = [("the --segment file", args.segment), ("the --hierarchies file", args.hierarchies),
              ("the --policy file", args.policy), ("the --opt-out file", args.opt_out),
              ("the --offer file", args.offer), ("the --probabilities file", args.probabilities),
              ("the --labels file", args.labels),
              *(("the --signatures input", p) for p in args.signatures)]
    say = (lambda m: sys.stderr.write(f"measuring {m}\n")) if sys.stderr.isatty() else None
    if args.scheduler:
        project, _ = prepare_project(args, outputs, inputs, ())
        _sharded_only(args)
        cluster, parts = connect_with_progress(args)
        try:
            result = _assess_sharded(args, project, ShardBase.of_partitions(project, parts),
                                     options, say)
        finally:
            parts.release()
            cluster.close()
        return _report(args, result, None)
    project, hist, _ = load_with_progress(args, outputs, inputs, shardable=True)
    if isinstance(hist, ShardSet):
        try:
            _sharded_only(args)
            stage = stage_printer()
            shard_done = (lambda d, n: stage(f"shard {d}/{n} done")) if stage else None
            result = _assess_sharded(args, project,
                                     ShardBase.of_shards(project, hist, shard_done), options, say)
        finally:
            hist.close()
        return _report(args, result, None)
    members, info = segment_members(project, hist, segment_file=args.segment,
                                    signature=args.segment_signature,
                                    signature_paths=options.signature_paths,
                                    segment_column=args.segment_column or "customer")
    result = assess(project, hist, members, options, info, progress=say)
    inference = None
    if not args.no_inference and members.size:
        inference = _inference(args, project, hist, members, say)
        # coverage findings are context (what the detectors can see here), not a
        # measure of the segment: reported beside the findings, never in the verdict
        result.findings[:0] = [f for f in inference.findings
                               if _shown(f) and not f.check.startswith("coverage.")]
    return _report(args, result, inference)


def _sharded_only(args: argparse.Namespace) -> None:
    """Refuse, over shards, what only runs on histories in memory (before any measure)."""
    if not args.no_inference:
        raise ConfigError(
            "the mailing's inference risk (what receiving it says) needs the histories in "
            "memory, and these are split into shards (--memory-limit, --shards or "
            "--scheduler): pass --no-inference to measure the re-identification risks over "
            "the shards, or raise --memory-limit so the histories fit.")


def _assess_sharded(args, project, base, options, say):
    return assess_sharded(project, base, options, segment_file=args.segment,
                          signature=args.segment_signature,
                          segment_column=args.segment_column or "customer", progress=say)


def _report(args: argparse.Namespace, result, inference) -> int:
    if inference is None and not result.findings:
        raise ConfigError(_nothing_measured(args, result.skipped))
    doc = result.to_dict(timings=args.timings)
    if inference is not None:
        doc["inference"] = inference.to_dict()
        doc["coverage"] = [f.to_dict() for f in inference.findings
                           if f.check.startswith("coverage.")]
    if args.out:
        write_atomic(args.out, dumps(doc))
    sys.stdout.write(dumps(doc) if args.json else assess_text(doc) + "\n")
    return exit_code(result.severity)


def _nothing_measured(args, skipped) -> str:
    """Why an assessment that measured nothing is an error, naming what skipped each
    measure (an assessment that measured nothing must never read as a pass)."""
    why = {"attribute classes (no attributes exported)": "attribute classes (--attributes none)",
           "purchase unicity (no point kinds)": "purchase unicity (--points none)"}
    parts = [why.get(s, s) for s in skipped]
    if args.no_inference:
        parts.append("the mailing's inference risk (--no-inference)")
    return ("nothing was measured, so there is no result that could pass: "
            f"{'; '.join(parts)}. Let at least one measure run: name exported attributes "
            "(--attributes), point kinds (--points), --item-lists, or drop --no-inference.")


def _inference(args, project, hist, members, say):
    """What receiving the mailing says (posterior, lift, epsilon per event) and what its
    offer says, judged against the policy when there is one."""
    from basketguard.engine.config.policy import Policy
    from basketguard.engine.mitigate.inputs import resolve_policy
    from basketguard.engine.mitigate.verify import measure

    policy = Policy(origin="(no policy)")
    if args.policy is not None or project.policy is not None:
        policy = resolve_policy(project, args.policy)
    ctx, offer = mailing_of(args, project, hist, policy, say)
    return measure(ctx, members, members=members, offer=offer)


def _shown(finding) -> bool:
    """Inference findings in the report's list: judged ones, and informational ones whose
    lift is at least 2 (the rest stay in the report's ``inference`` section)."""
    if finding.severity.value != "info":
        return True
    lift = finding.details.get("lift")
    return finding.check.startswith("inference.posterior.") and lift is not None and lift >= 2
