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

#: Verb -> (module, one-line help), in the order ``--help`` lists them. The help is
#: repeated here so that ``basketguard --help`` imports no verb module (they load
#: NumPy, Numba and pyarrow); tests/engine/cli/test_cli.py checks it against each
#: module's ``HELP``. Only the verb being run is imported.
COMMANDS: dict[str, tuple[str, str]] = {
    "assess": ("basketguard.engine.cli.assess",
        "Assess how well a segment's members could be re-identified (classes, unicity, k^m)."),
    "bench": ("basketguard.engine.cli.bench",
        "Run the benchmark suite against DuckDB, Polars and other peers (source checkout)"),
    "catalog": ("basketguard.engine.cli.catalog",
        "Show how a catalog resolves to product concepts (catalog map), or list the concepts."),
    "demo": ("basketguard.engine.cli.demo",
        "Simulate shoppers, scan them, gate a baby-coupon mailing to the customers flagged as pregnant (it fails), recommend and verify a plan, gate the amended mailing and write the HTML, Markdown, JUnit and JSON reports."),
    "explain": ("basketguard.engine.cli.explain",
        "Access report for one customer (GDPR Art. 15): the inferences their purchases support and the products behind them, their segments and opt-out."),
    "gate": ("basketguard.engine.cli.gate",
        "Gate a segment export: judge the mailing against every policy check and exit 0 pass, 1 fail, 2 warnings only, 3 error."),
    "learn": ("basketguard.engine.cli.learn",
        "Train a learned (LightGBM) detector from labels, anchor purchases or a signature's flags, and discover the products that give the label away."),
    "notice": ("basketguard.engine.cli.notice",
        "Write a plain-language notice for shoppers: what the purchase data can reveal, how the policy limits its use, and how to opt out."),
    "profile": ("basketguard.engine.cli.profile",
        "Profile the basket lines of a project: counts, time span, distributions, dropped rows."),
    "recommend": ("basketguard.engine.cli.recommend",
        "Recommend decoy recipients, suppression, generalization and offer changes that bring a mailing under the policy, and verify the plan by measuring again."),
    "scan": ("basketguard.engine.cli.scan",
        "Scan basket lines for sensitive life-event and special-category inferences."),
    "signatures": ("basketguard.engine.cli.signatures",
        "List and validate signature files; with --project, show what each feature matches."),
    "synth": ("basketguard.engine.cli.synth",
        "Generate synthetic shoppers with planted life events (lines, catalog, customers, truth)"),
}


class _Parser(argparse.ArgumentParser):
    """Usage errors exit with 3 (ERROR): argparse's 2 would read as WARN.

    The message comes first, as for every other error (the first stderr line
    is the one-paragraph message), then the usage.
    """

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"basketguard: error: {message}\n")
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.ERROR))


def chosen_command(argv: list[str]) -> str | None:
    """The verb of a command line: its first word that names one (options come before)."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None  # a misspelt verb: argparse says so, listing the verbs
    return None


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per verb.

    Only ``command``'s module is imported and its options added (every verb's
    when ``command`` is ``"*"``); the others are listed with their help.
    """
    parser = _Parser(
        prog="basketguard",
        description="Inference-risk detection engine for shopper data.",
    )
    parser.add_argument("--version", action="version", version=f"basketguard {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command not in (name, "*"):
            continue
        module = importlib.import_module(module_name)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks on errors")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(chosen_command(argv))
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
