"""``basketguard profile PROJECT``: what the basket lines hold, in aggregates."""

from __future__ import annotations

import argparse
import sys

from basketguard.engine.api import profile_project
from basketguard.engine.cli.common import (
    add_data_options,
    load_with_progress,
    write_atomic,
)
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.report.json import dumps
from basketguard.engine.report.text import profile_text

NAME = "profile"
HELP = "Profile the basket lines of a project: counts, time span, distributions, dropped rows."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    parser.add_argument("--json", action="store_true", help="print the profile as JSON")
    parser.add_argument("--out", metavar="FILE", help="also write the JSON profile to FILE")


def run(args: argparse.Namespace) -> int:
    project, hist = load_with_progress(args, outputs=[("--out", args.out)])
    prof = profile_project(project, hist, timings=args.timings)
    if args.out:
        write_atomic(args.out, dumps(prof))
    sys.stdout.write(dumps(prof) if args.json else profile_text(prof) + "\n")
    return ExitCode.OK
