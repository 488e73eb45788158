"""``basketguard demo``: the main job on the embedded default data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from basketguard.engine.api import load_histories, profile_project
from basketguard.engine.cli.common import guard_outputs, write_atomic
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan
from basketguard.engine.mitigate.export import write_amended_segment
from basketguard.engine.mitigate.inputs import mailing_context
from basketguard.engine.mitigate.plan import recommend
from basketguard.engine.reid.assess import AssessOptions, assess, segment_members
from basketguard.engine.report.json import dumps
from basketguard.engine.report.text import assess_text, plan_text, profile_text, scan_text

NAME = "demo"
HELP = ("Generate a synthetic shopper population, profile it, scan it for sensitive "
        "inferences, assess a pregnancy-targeted mailing and recommend a verified plan that "
        "makes it safe.")

#: The policy of examples/policies/demo.toml (a test keeps the two equal).
DEMO_POLICY = {"max_posterior": 0.10, "max_epsilon": 2.5, "min_k": 5, "k_scope": "segment",
               "attributes": ["age_band", "income_band"], "min_audience": 100,
               "costs": {"lost_target": 10.0, "decoy": 1.0, "generalization": 5.0}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-out", metavar="DIR",
                        help="folder for the generated data and reports (default: demo-out)")
    parser.add_argument("--customers", type=int, default=20_000,
                        help="customers to simulate (default: 20000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")


def run(args: argparse.Namespace) -> int:
    from basketguard.models.simulator.run import SimConfig, simulate

    out = Path(args.out)
    data = out / "data"
    config = SimConfig(customers=args.customers, seed=args.seed)
    guard_outputs([("--out", out)])
    sys.stdout.write(f"simulating {args.customers:,} customers (seed {args.seed}) "
                     f"into {data} ...\n")
    sys.stdout.flush()
    result = simulate(config, data)
    sys.stdout.write(f"  {result.lines:,} lines, {result.items:,} items, "
                     f"{result.truth_rows:,} planted events and confounders "
                     f"in {result.seconds:.1f} s\n\n")
    project = load_project(result.paths["project"])
    hist = load_histories(project, use_cache=False)
    prof = profile_project(project, hist)
    write_atomic(out / "profile.json", dumps(prof))
    sys.stdout.write(profile_text(prof) + "\n")
    sys.stdout.write("\n== scan: what do these purchases reveal? ==\n")
    scanned = scan(project, hist)
    summary = scanned.summary()
    write_atomic(out / "scan.json", dumps(summary))
    sys.stdout.write(scan_text(summary) + "\n")
    sys.stdout.write("\n== assess: could the customers a pregnancy mailing targets be "
                     "singled out? ==\n")
    members, info = segment_members(project, hist, signature="pregnancy")
    assessed = assess(project, hist, members, AssessOptions(points=("item-day", "items"),
                                                            item_lists=True), info)
    doc = assessed.to_dict()
    write_atomic(out / "assess.json", dumps(doc))
    sys.stdout.write(assess_text(doc) + "\n")
    sys.stdout.write("\n== recommend: what makes this mailing safe? (policy "
                     "examples/policies/demo.toml) ==\n")
    ctx = mailing_context(project, hist, policy_from_dict(DEMO_POLICY, "demo policy"),
                          scan_result=scanned)
    plan = recommend(ctx, members, segment_info=info)
    plan_doc = plan.to_dict()
    write_atomic(out / "plan.json", dumps(plan_doc))
    write_amended_segment(plan, ctx, out / "amended_segment.parquet")
    sys.stdout.write(plan_text(plan_doc) + "\n")
    sys.stdout.write(f"\nwrote {out / 'profile.json'}, {out / 'scan.json'}, "
                     f"{out / 'assess.json'}, {out / 'plan.json'} and "
                     f"{out / 'amended_segment.parquet'}. Run the same jobs on your own data "
                     "with `basketguard profile|scan|assess|recommend PROJECT.toml` "
                     "(see README).\n")
    return ExitCode.OK
