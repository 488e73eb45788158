"""The ``basketguard`` command line.

The one place where results and errors become exit codes: user errors
(:class:`BasketguardError`) print a one-paragraph message and exit 3; internal
errors do the same with a note to report it. ``--debug`` shows tracebacks.
Progress goes to stderr, and only on a terminal; the library never prints.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

# OpenMP threads (LightGBM's, and Numba's `omp` layer) busy-wait between parallel
# regions by default; when another process holds a core, the spinning threads starve
# the working ones (LightGBM training measured 5-7x slower on a 2-core machine with one
# core busy). Wait passively unless the user chose otherwise; libgomp reads this once,
# when it loads, so it is set before anything imports numba or lightgbm.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from basketguard.engine import __version__
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.errors import BasketguardError

#: Verb modules, in the order ``--help`` lists them.
COMMANDS = (
    "basketguard.engine.cli.assess",
    "basketguard.engine.cli.bench",
    "basketguard.engine.cli.catalog",
    "basketguard.engine.cli.demo",
    "basketguard.engine.cli.explain",
    "basketguard.engine.cli.gate",
    "basketguard.engine.cli.learn",
    "basketguard.engine.cli.notice",
    "basketguard.engine.cli.profile",
    "basketguard.engine.cli.recommend",
    "basketguard.engine.cli.scan",
    "basketguard.engine.cli.signatures",
    "basketguard.engine.cli.synth",
)


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with 3 (ERROR): argparse's 2 would read as WARN.

    The message comes first, as for every other error (the first stderr line
    is the one-paragraph message), then the usage.
    """

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"basketguard: error: {message}\n")
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.ERROR))


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per verb."""
    parser = _Parser(
        prog="basketguard",
        description="Inference-risk detection engine for shopper data.",
    )
    parser.add_argument("--version", action="version", version=f"basketguard {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks on errors")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (3)
        return int(exc.code or 0)
    debug = getattr(args, "debug", False)
    if getattr(args, "_run", None) is None:
        parser.print_help(sys.stderr)
        return int(ExitCode.ERROR)
    try:
        return int(args._run(args))
    except BasketguardError as exc:
        if debug:
            traceback.print_exc()
        print(f"basketguard: error: {exc}", file=sys.stderr)
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        print("basketguard: interrupted", file=sys.stderr)
        return int(ExitCode.ERROR)
    except Exception as exc:  # noqa: BLE001 - the CLI is the one place that maps everything
        if debug:
            traceback.print_exc()
        print(
            f"basketguard: internal error: {type(exc).__name__}: {exc}. "
            "This is a bug in basketguard; rerun with --debug and report the traceback.",
            file=sys.stderr,
        )
        return int(ExitCode.ERROR)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
