"""``basketguard bench``: the benchmark suite, every workload beside its peers.

The suite is ``bench/suite.py`` of a source checkout (its workloads generate
data, start peers and a PostgreSQL server; they are not installed with the
package). This command finds it beside the installed ``engine`` folder, runs
it with this interpreter and passes its options on; see ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.errors import ConfigError

NAME = "bench"
HELP = "Run the benchmark suite against DuckDB, Polars and other peers (source checkout)"
PROFILES = ("smoke", "default", "large")


def suite_path() -> Path:
    """``bench/suite.py`` of the checkout this package is installed from."""
    import basketguard.engine

    return Path(basketguard.engine.__file__).resolve().parent.parent / "bench" / "suite.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``bench`` to its sub-parser."""
    parser.add_argument("--profile", choices=PROFILES, default="default",
                        help="data sizes: smoke (a few minutes), default (the documented "
                             "figures, ~20M lines), large")
    parser.add_argument("--only", nargs="+", metavar="WORKLOAD",
                        help="run only these workloads (histories, scan, unicity, classes, "
                             "kmanonymity, learn, synth, recommend, postgres, startup)")
    parser.add_argument("--readme", action="store_true",
                        help="replace README.md's performance section with the table")
    parser.add_argument("--render", metavar="JSON",
                        help="write the Markdown and SVG of an earlier run's JSON, run nothing")
    parser.add_argument("--reference", metavar="JSON",
                        help="compare with basketguard's times in an earlier run's JSON "
                             "(default: bench/baseline.json)")
    parser.add_argument("--out", metavar="STEM",
                        help="write STEM.json, .md and .svg (default: bench/out/suite-PROFILE)")


def run(args: argparse.Namespace) -> int:
    """Run the suite; 0 when every workload ran and every contender agreed, else 3."""
    suite = suite_path()
    if not suite.is_file():
        raise ConfigError(f"basketguard bench runs the suite of a source checkout, and "
                          f"{suite} does not exist (this is an installed wheel). Clone the "
                          "repository and run `make bench` there.")
    argv = [sys.executable, str(suite), "--profile", args.profile]
    if args.only:
        argv += ["--only", *args.only]
    if args.readme:
        argv.append("--readme")
    for option in ("render", "reference", "out"):
        if getattr(args, option):
            argv += [f"--{option}", str(Path(getattr(args, option)).resolve())]
    code = subprocess.run(argv, cwd=suite.parent.parent, check=False).returncode
    return ExitCode.OK if code == 0 else ExitCode.ERROR
