"""``basketguard demo``: the main job on the embedded default data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from basketguard.engine.api import load_histories, profile_project
from basketguard.engine.commands.common import dump_json, write_atomic
from basketguard.engine.errors import ExitCode
from basketguard.engine.profile import format_profile
from basketguard.engine.project import load_project

NAME = "demo"
HELP = "Generate a synthetic shopper population and profile it (the embedded default)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-out", metavar="DIR",
                        help="folder for the generated data and reports (default: demo-out)")
    parser.add_argument("--customers", type=int, default=20_000,
                        help="customers to simulate (default: 20000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")


def run(args: argparse.Namespace) -> int:
    from basketguard.models.simulator import SimConfig, simulate

    out = Path(args.out)
    data = out / "data"
    config = SimConfig(customers=args.customers, seed=args.seed)
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
    write_atomic(out / "profile.json", dump_json(prof))
    sys.stdout.write(format_profile(prof) + "\n")
    sys.stdout.write(f"\nwrote {out / 'profile.json'}; profile your own data with "
                     f"`basketguard profile {result.paths['project']}` or see README.\n")
    return ExitCode.OK
