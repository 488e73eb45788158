"""``basketguard learn PROJECT --name NAME --out DIR``: train a learned detector.

Labels come one of three ways (docs/learning.md): ``--labels FILE`` (or
``--label-column`` of the project's ``[customers]`` table), ``--anchor``
concepts (weak supervision), or ``--from-signature NAME`` (its flagged
customers). The folder ``--out`` receives the model, its metadata, the ranked
proxy table and a generated signature; the report (aggregates only) goes to
stdout and ``--report``.
"""

from __future__ import annotations

import argparse
import os
import sys

from basketguard.engine.cli.common import add_data_options, load_with_progress, number_in
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.errors import ConfigError

NAME = "learn"
HELP = ("Train a learned (LightGBM) detector from labels, anchor purchases or a signature's "
        "flags, and discover the products that give the label away.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    parser.add_argument("--name", required=True,
                        help="detector name ([a-z][a-z0-9_]*), as it appears in scans")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write the detector to (model.txt, detector.json, "
                             "proxies.parquet, signature.toml)")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite an existing detector folder")
    g = parser.add_argument_group("labels (one of)")
    g.add_argument("--labels", metavar="FILE",
                   help="Parquet / CSV / Arrow file: customer id, label[, event date]")
    g.add_argument("--label-column", metavar="NAME",
                   help="label column of --labels (default `label`), or of the project's "
                        "[customers] table without --labels")
    g.add_argument("--id-column", metavar="NAME", default="customer_id",
                   help="customer id column of --labels (default customer_id)")
    g.add_argument("--date-column", metavar="NAME",
                   help="event-date column: positives are seen up to their event date")
    g.add_argument("--unlisted-negative", action="store_true",
                   help="customers the labels do not list are negatives (default: left out)")
    g.add_argument("--anchor", metavar="CONCEPTS", action="append", default=[],
                   help="anchor rule: concepts joined by '+' that mark a positive "
                        "(repeatable: any rule); the anchors are removed from the features")
    g.add_argument("--from-signature", metavar="NAME",
                   help="learn from the customers this signature flags (its items removed)")
    g.add_argument("--signatures", metavar="PATH", action="append", default=[],
                   help="user signature file or folder for --from-signature (repeatable)")
    d = parser.add_argument_group("the detector")
    d.add_argument("--title", help="readable title (default: the name)")
    d.add_argument("--sensitivity", default="health",
                   help="sensitivity class (health, reproductive, religion, sex_life, "
                        "addiction, financial, family; default health)")
    d.add_argument("--gdpr-art9", default="none",
                   help="GDPR Art. 9 category (health, religious_beliefs, sex_life, none)")
    d.add_argument("--threshold", type=number_in(float, 0.0, 1.0), default=0.5,
                   help="probability from which a customer is flagged (0.5)")
    m = parser.add_argument_group("model")
    m.add_argument("--rounds", type=number_in(int, 1, 100_000), default=200,
                   help="boosting rounds (200)")
    m.add_argument("--folds", type=number_in(int, 2, 20), default=5,
                   help="cross-validation folds (5)")
    m.add_argument("--seed", type=int, default=0, help="random seed (0)")
    m.add_argument("--threads", type=number_in(int, 1, 1024), default=None,
                   help="LightGBM threads (default: the CPUs; the same count gives the same "
                        "model, byte for byte)")
    m.add_argument("--windows", default="28,91,182,365",
                   help="count windows in days before the reference day (28,91,182,365)")
    m.add_argument("--max-groups", type=number_in(int, 1, 100_000), default=100,
                   help="feature groups (concepts, taxonomy nodes, items) kept: those with the "
                        "most mutual information with the label (100)")
    m.add_argument("--top", type=number_in(int, 1, 1000), default=25,
                   help="proxies in the generated signature (25)")
    m.add_argument("--alpha", type=number_in(float, 0.0, 1.0), default=0.05,
                   help="false-discovery rate of the proxy table (0.05)")
    parser.add_argument("--as-of", metavar="DATE",
                        help="reference date without event dates (default: the last day)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--report", metavar="FILE", help="also write the JSON report to FILE")


def run(args: argparse.Namespace) -> int:
    from basketguard.engine.detect.features import FeatureSpec
    from basketguard.engine.detect.labels import (
        parse_anchor_rules,
        target_from_anchors,
        target_from_flags,
        target_from_labels,
    )
    from basketguard.engine.detect.learn import LearnOptions, learn, learning_context
    from basketguard.engine.detect.scan import date_to_day
    from basketguard.engine.report.json import dumps
    from basketguard.engine.report.text import learn_text

    ways = [bool(args.labels or args.label_column), bool(args.anchor), bool(args.from_signature)]
    if sum(ways) != 1:
        raise ConfigError("give the labels one way: --labels FILE (or --label-column of the "
                          "[customers] table), --anchor CONCEPTS, or --from-signature NAME.")
    try:
        windows = tuple(int(w) for w in args.windows.split(",") if w.strip())
    except ValueError:
        raise ConfigError(f"--windows {args.windows!r}: give whole days separated by commas "
                          "(28,91,182,365).") from None
    spec = FeatureSpec(windows=windows, max_groups=args.max_groups)
    options = LearnOptions(name=args.name, title=args.title or args.name.replace("_", " "),
                           sensitivity=args.sensitivity, gdpr_art9=args.gdpr_art9,
                           threshold=args.threshold, spec=spec, rounds=args.rounds,
                           folds=args.folds, seed=args.seed,
                           threads=args.threads or os.cpu_count() or 1, top=args.top,
                           alpha=args.alpha)
    inputs = [("the --labels file", args.labels)] if args.labels else []
    inputs += [("the --signatures input", p) for p in args.signatures]
    project, hist = load_with_progress(args, outputs=[("--out", args.out),
                                                      ("--report", args.report)],
                                       inputs=inputs)
    tty = sys.stderr.isatty()

    def progress(msg: str) -> None:
        if tty:
            sys.stderr.write(msg + "\n")

    as_of = date_to_day(args.as_of) if args.as_of else None
    progress("resolving the catalog to concepts")
    ctx = learning_context(project, hist, use_cache=not args.no_cache)
    if args.anchor:
        target = target_from_anchors(hist, ctx.candidates, parse_anchor_rules(args.anchor),
                                     ctx.vocabulary_names, as_of)
    elif args.from_signature:
        import numpy as np

        from basketguard.engine.detect.scan import scan
        from basketguard.models.signatures.schema import load_library

        result = scan(project, hist, load_library(args.signatures, only=[args.from_signature]),
                      as_of=args.as_of)
        sig = result.signatures[0]
        flagged = result.dense_scores(sig.name) >= sig.score_threshold
        items = np.unique(np.concatenate([f.items for f in result.library.features]))
        target = target_from_flags(hist, flagged, items, sig.name, as_of)
    else:
        target = target_from_labels(
            hist, path=args.labels, project=None if args.labels else project,
            id_column=args.id_column, label_column=args.label_column or "label",
            date_column=args.date_column, unlisted_negative=args.unlisted_negative,
            as_of=as_of, seed=args.seed)
    for w in target.warnings:
        sys.stderr.write(f"basketguard: warning: {w}\n")
    result = learn(hist, ctx, target, options, progress)
    result.save(args.out, replace=args.replace)
    summary = result.summary(timings=args.timings)
    summary["out"] = str(args.out)
    if args.report:
        from basketguard.engine.cli.common import write_atomic

        write_atomic(args.report, dumps(summary))
    sys.stdout.write(dumps(summary) if args.json else learn_text(summary) + "\n")
    return ExitCode.OK
