"""``basketguard demo``: the main job, end to end, on the embedded default data.

Simulates a population, scans it, builds a Target-style baby-coupon mailing to
the customers the pregnancy signature flags, assesses it, gates it (it fails),
recommends a plan, gates the amended segment (it passes, or the summary says
why not) and writes the reports: HTML (the one to open), Markdown, JUnit and
JSON. Progress goes to stderr on a terminal only; stdout gets a short summary
with the paths.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from basketguard.engine.api import load_histories, profile_project
from basketguard.engine.cli.common import guard_outputs, write_atomic
from basketguard.engine.cli.exitcodes import ExitCode, exit_code
from basketguard.engine.config.policy import policy_from_dict
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan
from basketguard.engine.report.json import dumps

NAME = "demo"
HELP = ("Simulate shoppers, scan them, gate a baby-coupon mailing to the customers flagged "
        "as pregnant (it fails), recommend and verify a plan, gate the amended mailing and "
        "write the HTML, Markdown, JUnit and JSON reports.")

#: The policy of examples/policies/demo.toml (a test keeps the two equal).
DEMO_POLICY = {"max_posterior": 0.10, "max_epsilon": 2.5, "min_k": 5, "k_scope": "segment",
               "attributes": ["age_band", "income_band"], "min_audience": 100,
               "costs": {"lost_target": 10.0, "decoy": 1.0, "generalization": 5.0}}

#: Members of the mailing when the signature flags nobody: the top pregnancy scores.
TOP_SCORES = 10

#: The mailing's offer: baby coupons (categories of the simulator's catalog).
BABY_COUPONS = ("category:Nappies", "category:Feeding")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-out", metavar="DIR",
                        help="folder for the generated data and reports (default: demo-out)")
    parser.add_argument("--customers", type=int, default=20_000,
                        help="customers to simulate (default: 20000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")


class _Steps:
    """Progress on stderr (a terminal only) and the timings of each step."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.tty:
            sys.stderr.write(f"[{time.perf_counter() - self.t0:5.1f} s] {message} ...\n")
            sys.stderr.flush()


def _worst_checks(doc: dict[str, Any], n: int = 3) -> str:
    failed = [c for c in doc["checks"] if c["status"] == "fail"]
    failed.sort(key=lambda c: -abs((c["value"] or 0) - (c["threshold"] or 0))
                / max(abs(c["threshold"] or 1), 1e-9))
    shown = [f"{c['name']} {c['value']:.3g} (limit {c['threshold']:g})" for c in failed[:n]
             if c["value"] is not None and c["threshold"] is not None]
    return "; ".join(shown)


def run(args: argparse.Namespace) -> int:
    from basketguard.engine.gate.gate import evaluate
    from basketguard.engine.mitigate.export import write_amended_segment
    from basketguard.engine.mitigate.inputs import mailing_context
    from basketguard.engine.mitigate.offer import read_offer
    from basketguard.engine.mitigate.verify import measure
    from basketguard.engine.reid.assess import AssessOptions, assess, segment_members
    from basketguard.engine.report.formats import render
    from basketguard.engine.report.html import render_html
    from basketguard.models.simulator.run import SimConfig, simulate

    out = Path(args.out)
    data = out / "data"
    config = SimConfig(customers=args.customers, seed=args.seed)
    guard_outputs([("--out", out)])
    say = _Steps()
    say(f"simulating {args.customers:,} customers")
    result = simulate(config, data)
    project = load_project(result.paths["project"])
    say("building purchase histories")
    hist = load_histories(project, use_cache=False)
    write_atomic(out / "profile.json", dumps(profile_project(project, hist)))
    say("scanning for sensitive inferences")
    scanned = scan(project, hist)
    summary = scanned.summary()
    write_atomic(out / "scan.json", dumps(summary))

    say("assessing the baby-coupon mailing")
    members, info = segment_members(project, hist, signature="pregnancy")
    info["source"] = "customers flagged by signature 'pregnancy' (a baby-coupon mailing)"
    if members.size == 0:  # a small population may flag nobody: the top scores, then
        scores = scanned.dense_scores("pregnancy")
        top = np.argsort(-scores, kind="stable")[:TOP_SCORES]
        members = np.sort(top[scores[top] > 0]).astype(np.int64)
        info = {"source": f"the {members.size} top pregnancy scores (a baby-coupon mailing)",
                "members": int(members.size)}
    if members.size == 0:
        sys.stdout.write(f"basketguard demo: no simulated customer shows any pregnancy "
                         f"evidence, so there is no mailing to gate; try more customers "
                         f"(--customers). Data in {data}.\n")
        return ExitCode.OK
    policy = policy_from_dict(DEMO_POLICY, "examples/policies/demo.toml")
    ctx = mailing_context(project, hist, policy, scan_result=scanned)
    offer = read_offer(list(BABY_COUPONS), hist, ctx.view, ctx.library, where="baby coupons")
    assessed = assess(project, hist, members, AssessOptions(points=("item-day",)), info)
    assess_doc = assessed.to_dict()
    assess_doc["inference"] = measure(ctx, members, members=members,
                                      offer=offer.codes).to_dict()
    write_atomic(out / "assess.json", dumps(assess_doc))

    say("gating the mailing as targeted, and recommending a plan")
    before = evaluate(ctx, members, exit_code_of=exit_code, offer=offer.codes,
                      project=project.name, segment_info=info, recommend=True,
                      progress=say)
    before_doc = before.to_dict()
    plan = before.plan
    if plan is not None:
        write_atomic(out / "plan.json", dumps(plan.to_dict()))
        write_amended_segment(plan, ctx, out / "amended_segment.parquet")
    say("gating the amended mailing")
    after_doc = None
    if plan is not None:
        after = evaluate(ctx, plan.recipients, exit_code_of=exit_code, offer=plan.offer,
                         hierarchies=plan.hierarchies, project=project.name,
                         segment_info={"source": "the amended segment (the plan's recipients)"})
        after_doc = after.to_dict()
        write_atomic(out / "gate_amended.json", dumps(after_doc))
    write_atomic(out / "gate.json", dumps(before_doc))
    say("writing the reports")
    write_atomic(out / "report.html", render_html(before_doc, scan=summary, assess=assess_doc))
    write_atomic(out / "report.md", render("markdown", before_doc))
    write_atomic(out / "gate.xml", render("junit", before_doc))

    flagged = {s["signature"]: s["customers_flagged"] for s in summary["signatures"]}
    lines = [
        f"basketguard demo: {result.lines:,} basket lines of {args.customers:,} simulated "
        f"customers (seed {args.seed}) in {data}",
        "scan: flagged " + ", ".join(f"{k} {v:,}" for k, v in flagged.items() if v),
        f"mailing: baby coupons ({', '.join(BABY_COUPONS)}) to {members.size:,} customers: "
        f"{info['source']}",
        f"  gate as targeted:     {before_doc['verdict'].upper()} "
        f"({before_doc['counts']['fail']} of {before_doc['counts']['checks']} checks fail: "
        f"{_worst_checks(before_doc)})",
    ]
    if plan is not None:
        act = plan.to_dict()["actions"]
        lines.append(f"  plan:                 {act['decoys_added']:,} decoy recipients, "
                     f"{act['targets_suppressed']:,} targets suppressed, "
                     f"{act['recipients']:,} recipients; verified "
                     f"{'PASS' if plan.verified else 'FAIL'} by measuring again")
    if after_doc is not None:
        why = "" if after_doc["verdict"] == "pass" else f" ({_worst_checks(after_doc)})"
        lines.append(f"  gate of the amended:  {after_doc['verdict'].upper()} "
                     f"({after_doc['counts']['pass']} of {after_doc['counts']['checks']} "
                     f"checks pass){why}")
    lines += [
        f"reports: {out / 'report.html'} (open it in a browser), {out / 'report.md'}, "
        f"{out / 'gate.xml'} (JUnit)",
        f"data:    {out / 'gate.json'}, {out / 'gate_amended.json'}, {out / 'plan.json'}, "
        f"{out / 'amended_segment.parquet'}, {out / 'assess.json'}, {out / 'scan.json'}, "
        f"{out / 'profile.json'}",
        "Run the same on your own data: basketguard gate|recommend PROJECT.toml --policy "
        "FILE (see README).",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    return ExitCode.OK
