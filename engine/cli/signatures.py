"""``basketguard signatures``: list and validate signature files.

Without a project it loads (and so validates) the library and lists it; with
``--project`` it also resolves every feature against the project's catalog and
reports how many items each matches, with examples and warnings.
"""

from __future__ import annotations

import argparse
import sys

from basketguard.engine.api import load_histories
from basketguard.engine.cli.common import show_notes
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.cli.scan import add_signature_options, library_from_args
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.compile import check_concepts, describe
from basketguard.engine.detect.scan import compile_for
from basketguard.engine.report.json import dumps
from basketguard.models.vocabulary.schema import load_vocabulary

NAME = "signatures"
HELP = "List and validate signature files; with --project, show what each feature matches."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_signature_options(parser)
    parser.add_argument("--project", metavar="FILE",
                        help="resolve the signatures against this project's catalog")
    parser.add_argument("--no-cache", action="store_true", help="do not use the histories cache")
    parser.add_argument("--cache-dir", metavar="DIR", help="cache folder")
    parser.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> int:
    library = library_from_args(args)
    if not args.project:  # with a project, its own vocabulary is checked when resolving
        check_concepts(library, load_vocabulary())
    doc: dict = {"signatures": [s.summary() for s in library]}
    if args.project:
        project = load_project(args.project)
        hist = load_histories(project, use_cache=not args.no_cache, cache_dir=args.cache_dir)
        show_notes(hist)
        compiled, view = compile_for(project, hist, library)
        doc["matches"] = describe(compiled, view)
        doc["warnings"] = compiled.warnings
    if args.json:
        sys.stdout.write(dumps(doc))
        return ExitCode.OK
    out = [f"{len(library)} signatures, all valid:"]
    for s in library:
        out.append(f"  {s.name:<30} {s.sensitivity:<13} art9={s.gdpr_art9:<18} "
                   f"window={s.window_days:>4}d  features={len(s.features):>2}"
                   f"{'  event=' + s.event if s.event else ''}")
    if "matches" in doc:
        out.append("\nMatches in the project's catalog:")
        for m in doc["matches"]:
            ex = "; ".join(m["examples"])
            out.append(f"  {m['signature']}.{m['feature']:<28} {m['items']:>6} items "
                       f"({m['matched_by']}){'  e.g. ' + ex if ex else ''}")
        if doc["warnings"]:
            out.append("\nWarnings:")
            out.extend(f"  - {w}" for w in doc["warnings"])
    sys.stdout.write("\n".join(out) + "\n")
    return ExitCode.OK
