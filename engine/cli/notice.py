"""``basketguard notice PROJECT``: the shoppers' notice.

A plain-language page (Markdown or self-contained HTML) saying what this
retailer's purchase data can reveal, how the policy limits its use, and how to
opt out; generated from the signatures, their coverage on the project's
catalog and the policy (:mod:`basketguard.engine.report.notice`). It holds no
customer data. Printed on stdout, or written atomically to ``--out``.
"""

from __future__ import annotations

import argparse
import sys

from basketguard.engine.cli.common import add_data_options, load_with_progress, write_atomic
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.cli.scan import add_signature_options, library_from_args, signature_inputs
from basketguard.engine.config.policy import load_policy
from basketguard.engine.detect.scan import compile_for
from basketguard.engine.errors import ConfigError
from basketguard.engine.report.notice import notice_document, notice_html, notice_markdown

NAME = "notice"
HELP = ("Write a plain-language notice for shoppers: what the purchase data can reveal, how "
        "the policy limits its use, and how to opt out.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    add_signature_options(parser)
    parser.add_argument("--policy", metavar="FILE",
                        help="policy TOML (default: the project's [policy] table; without "
                             "either the notice says no rule limits the use yet)")
    parser.add_argument("--format", choices=("markdown", "html"), default="markdown",
                        help="Markdown (default) or one self-contained HTML page")
    parser.add_argument("--out", metavar="FILE", help="write the notice to FILE (atomically)")
    parser.add_argument("--opt-out-contact", metavar="TEXT",
                        help="how shoppers opt out (an email address, a phone number or a web "
                             "page); without it the notice holds a placeholder to fill in")


def run(args: argparse.Namespace) -> int:
    if args.opt_out_contact is not None and not args.opt_out_contact.strip():
        raise ConfigError("--opt-out-contact is empty; give how shoppers opt out (an email "
                          "address, a phone number or a web page), or leave the option out.")
    library = library_from_args(args)
    project, hist = load_with_progress(
        args, outputs=[("--out", args.out)],
        inputs=[*signature_inputs(args), ("the --policy file", args.policy)])
    policy = load_policy(args.policy) if args.policy else project.policy
    compiled, view = compile_for(project, hist, library)
    doc = notice_document(compiled, view, policy, opt_out_contact=args.opt_out_contact)
    text = notice_html(doc) if args.format == "html" else notice_markdown(doc)
    if policy is None:
        sys.stderr.write("basketguard: note: no policy (--policy FILE or a [policy] table); the "
                         "notice says that no rule limits the use of the data yet.\n")
    if doc["contact_is_placeholder"]:
        sys.stderr.write("basketguard: note: the notice's opt-out contact is a placeholder "
                         f"({doc['opt_out_contact']}); give --opt-out-contact TEXT.\n")
    if args.out:
        write_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    return ExitCode.OK
