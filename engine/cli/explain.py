"""``basketguard explain PROJECT --customer ID``: the access report of one customer.

What the purchase data supports about one customer (GDPR Art. 15): each
inference with its probability, whether it is flagged, its event estimate and
the products behind it; the segments the customer is in (each ``--segment``
file and the project's ``[segment]``); whether they are on the opt-out list.

It is individual-level output, made only on this explicit request: written to
``--out`` readable by its owner only (mode 0o600 from the first byte, then
renamed into place), or printed on stdout when no ``--out`` is given. Nothing
of it goes to stderr, and no message repeats the customer id nor the
``--out`` path (which may carry it).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.cli.common import add_data_options, load_with_progress
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.cli.scan import add_signature_options, library_from_args, signature_inputs
from basketguard.engine.detect.scan import compile_for, date_to_day
from basketguard.engine.errors import BasketguardError, DataError, OutputError
from basketguard.engine.histories.build import Histories
from basketguard.engine.io.tables import conform_ids
from basketguard.engine.report.json import dumps
from basketguard.engine.report.notice import access_markdown, access_report

UNKNOWN_CUSTOMER = ("the customer id given with --customer is not a customer of the base (the "
                    "customer ids of the basket lines); check the id, its spelling and the project.")

NAME = "explain"
HELP = ("Access report for one customer (GDPR Art. 15): the inferences their purchases "
        "support and the products behind them, their segments and opt-out.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    add_signature_options(parser)
    parser.add_argument("--customer", metavar="ID", required=True,
                        help="the customer's id, as in the basket lines")
    parser.add_argument("--segment", metavar="FILE", action="append", default=[],
                        help="a segment file (Parquet / CSV / Arrow of customer ids) to check "
                             "membership of (repeatable); the project's [segment] is checked too")
    parser.add_argument("--segment-column", metavar="NAME", default="customer",
                        help="the --segment files' id column (default `customer`)")
    parser.add_argument("--opt-out", metavar="FILE",
                        help="opt-out list (default: the project's [opt_out] table)")
    parser.add_argument("--opt-out-column", metavar="NAME", default="customer",
                        help="the --opt-out file's id column (default `customer`)")
    parser.add_argument("--as-of", metavar="DATE",
                        help="reference date (YYYY-MM-DD) for the stage of estimated events "
                             "(default: the last day in the data)")
    parser.add_argument("--json", action="store_true", help="JSON instead of Markdown")
    parser.add_argument("--out", metavar="FILE",
                        help="write the report to FILE, readable by its owner only "
                             "(default: print it on stdout)")


def write_private_text(path: str | Path, text: str, option: str = "--out") -> None:
    """Write ``text`` (UTF-8) readable by its owner only (mode 0o600), atomically.

    The temporary file beside ``path`` is created with mode 0o600 before any
    byte is written, then renamed onto ``path``. Messages name the option, not
    the path (a path may carry the customer's id).

    Parameters
    ----------
    path : str or Path
    text : str
    option : str
        The option that named the path, for messages.

    Raises
    ------
    OutputError
        The file cannot be written; an existing file is left as it was.
    """
    target = Path(path)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)

    def fail(exc: OSError) -> OutputError:
        return OutputError(f"cannot write the {option} file: {exc.strerror or exc}. Choose "
                           "another output path.")

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise fail(exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise fail(exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def customer_code(hist: Histories, text: str) -> int:
    """Code of the customer whose original id is ``text`` (a ``--customer`` value).

    The text is read as the basket lines' ids are (``"17850"`` and ``"17850.0"``
    name the integer id 17850).

    Parameters
    ----------
    hist : Histories
        The customer base.
    text : str
        The id as given.

    Returns
    -------
    int
        The customer's index in ``hist.customer_ids``.

    Raises
    ------
    DataError
        No customer has this id; the message never repeats it.
    """
    try:
        ids = conform_ids(pa.array([str(text).strip()]), hist.customer_ids.type,
                          "--customer", "--customer")
    except BasketguardError:
        raise DataError(UNKNOWN_CUSTOMER) from None
    found = pc.index_in(ids, value_set=hist.customer_ids)[0].as_py()
    if found is None:
        raise DataError(UNKNOWN_CUSTOMER)
    return int(found)


def _member(codes: np.ndarray | None, code: int) -> bool:
    return codes is not None and bool(np.isin(code, codes))


def run(args: argparse.Namespace) -> int:
    from basketguard.engine.mitigate.inputs import opt_out_codes
    from basketguard.engine.reid.assess import read_id_list, segment_members

    library = library_from_args(args)
    as_of = date_to_day(args.as_of) if args.as_of else None
    project, hist = load_with_progress(
        args, outputs=[("--out", args.out)],
        inputs=[*(("a --segment file", p) for p in args.segment),
                ("the --opt-out file", args.opt_out), *signature_inputs(args)])
    code = customer_code(hist, args.customer)
    segments = [(f"segment file {p}", _member(read_id_list(p, args.segment_column, hist), code))
                for p in args.segment]
    spec = project.source("segment")
    if spec is not None:
        codes, info = segment_members(project, hist)
        segments.append((info["source"], _member(codes, code)))
    opt = opt_out_codes(project, hist, args.opt_out, args.opt_out_column)
    opt_out = None
    if opt is not None:
        where = (f"file {args.opt_out}" if args.opt_out
                 else f"[opt_out] {project.source('opt_out').origin}")
        opt_out = (where, _member(opt, code))
    compiled, view = compile_for(project, hist, library)
    doc = access_report(hist, code, compiled, view, as_of=as_of, segments=segments,
                        opt_out=opt_out)
    text = dumps(doc) if args.json else access_markdown(doc)
    if args.out:
        write_private_text(args.out, text)
    else:
        sys.stdout.write(text)
    return ExitCode.OK
