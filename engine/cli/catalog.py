"""``basketguard catalog``: how the catalog resolves to product concepts.

- ``basketguard catalog map PROJECT [--out FILE]``: the item -> concept table
  with the reason for every match (CSV, or Parquet by extension), the concepts
  that matched nothing with the closest catalog entries as candidates, and the
  notes of the overrides file;
- ``basketguard catalog concepts [--vocabulary FILE]``: the concepts and their
  definitions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from basketguard.engine.cli.common import guard_outputs
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.cli.scan import add_signature_options, library_from_args
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.catalogmap import catalog_map
from basketguard.engine.io.output import atomic_path
from basketguard.engine.report.json import dumps
from basketguard.models.vocabulary.schema import load_vocabulary

NAME = "catalog"
HELP = "Show how a catalog resolves to product concepts (catalog map), or list the concepts."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    m = sub.add_parser("map", help="write the item -> concept table with the reason for "
                                   "every match", description=__doc__)
    m.add_argument("project", help="project file (TOML) mapping the [catalog]")
    m.add_argument("--out", metavar="FILE",
                   help="write the table here (CSV; .parquet for Parquet)")
    m.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_signature_options(m)
    c = sub.add_parser("concepts", help="list the product concepts and their definitions")
    c.add_argument("--vocabulary", metavar="PATH", action="append", default=[],
                   help="a concept file or folder added to the built-in ones (repeatable)")
    c.add_argument("--json", action="store_true", help="print as JSON")


def _write(table, path: str) -> None:
    target = Path(path)
    with atomic_path(target) as tmp:
        if target.suffix.lower() in (".parquet", ".pq"):
            pq.write_table(table, tmp)
        else:
            pacsv.write_csv(table, tmp)


def run(args: argparse.Namespace) -> int:
    if args.action == "concepts":
        vocab = load_vocabulary(args.vocabulary)
        if args.json:
            sys.stdout.write(dumps({"concepts": [
                {"name": c.name, "title": c.title, "definition": c.definition,
                 "includes": list(c.includes), "file": str(c.path)} for c in vocab.concepts]}))
            return ExitCode.OK
        out = [f"{len(vocab.concepts)} concepts:"]
        for c in vocab.concepts:
            inc = f" (includes {', '.join(c.includes)})" if c.includes else ""
            out.append(f"  {c.name:<26} {c.title}{inc}")
        sys.stdout.write("\n".join(out) + "\n")
        return ExitCode.OK
    project = load_project(args.project)
    guard_outputs([("--out", args.out)], project.input_paths())
    library = library_from_args(args)
    result = catalog_map(project, library)
    if args.out:
        _write(result.table, args.out)
    if args.json:
        sys.stdout.write(dumps(result.to_dict()))
        return ExitCode.OK
    matched = {k: v for k, v in result.counts.items() if v}
    out = [f"{result.n_items:,} catalog items; {result.table.num_rows:,} item-concept matches "
           f"for {len(matched)} of {len(result.counts)} concepts"
           + (f" (table in {args.out})" if args.out else " (--out FILE writes the table)") + "."]
    out.append("")
    width = max((len(k) for k in matched), default=10)
    for k, v in sorted(matched.items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"  {k:<{width}} {v:>7,}")
    if result.unmatched:
        out.append(f"\nConcepts that match nothing here ({len(result.unmatched)}); closest "
                   "catalog entries, for an override file:")
        for k, cands in result.unmatched.items():
            out.append(f"  {k:<{width}} " + ("; ".join(cands) if cands else "(no candidate)"))
    if result.notes:
        out.append("\nNotes:")
        out.extend(f"  - {n}" for n in result.notes)
    sys.stdout.write("\n".join(out) + "\n")
    return ExitCode.OK
