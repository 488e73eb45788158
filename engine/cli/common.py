"""Options and helpers shared by the CLI verbs."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from basketguard.engine.io.output import check_outputs, write_text_atomic


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Options of every verb that reads a project's data."""
    parser.add_argument("project", help="project file (TOML) mapping your sources")
    parser.add_argument("--strict", action="store_true",
                        help="any row failing validation is an error instead of being dropped")
    parser.add_argument("--no-cache", action="store_true",
                        help="rebuild histories from the source; do not read or write the cache")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="cache folder (default: $BASKETGUARD_CACHE or ~/.cache/basketguard)")
    parser.add_argument("--timings", action="store_true",
                        help="add how this run went to the report: stage timings in seconds "
                             "(and, in profile, the cache state); without it the report "
                             "depends on the input alone, byte for byte")


def add_segment_options(parser: argparse.ArgumentParser,
                        segment_help: str = "Parquet / CSV / Arrow file of customer ids "
                                            "(relative to the working directory)") -> None:
    """The segment options of ``assess``, ``recommend`` and ``gate``."""
    seg = parser.add_argument_group("segment (default: the project's [segment] table)")
    seg.add_argument("--segment", metavar="FILE", help=segment_help)
    seg.add_argument("--segment-column", metavar="NAME",
                     help="the --segment file's id column (default `customer`)")
    seg.add_argument("--segment-signature", metavar="NAME",
                     help="the customers a signature flags (a targeted mailing's audience)")
    seg.add_argument("--signatures", metavar="PATH", action="append", default=[],
                     help="user signature file or folder (repeatable)")


def check_segment_options(args: argparse.Namespace) -> None:
    """One segment source, and ``--segment-column`` only with a ``--segment`` file."""
    from basketguard.engine.errors import ConfigError

    if args.segment and args.segment_signature:
        raise ConfigError("give either --segment or --segment-signature, not both.")
    if args.segment_column is not None and not args.segment:
        raise ConfigError("--segment-column names the id column of a --segment FILE; give the "
                          "file too (the [segment] table maps its column in the project file).")


def add_mailing_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``assess`` and ``recommend``: the mailing and its policy."""
    g = parser.add_argument_group("the mailing")
    g.add_argument("--policy", metavar="FILE",
                   help="policy TOML (default: the project's [policy] table)")
    g.add_argument("--opt-out", metavar="FILE",
                   help="customers who opted out (Parquet / CSV / Arrow; default: the "
                        "project's [opt_out] table); never targeted, never decoys")
    g.add_argument("--opt-out-column", metavar="NAME", default="customer",
                   help="the --opt-out file's id column (default `customer`)")
    g.add_argument("--offer", metavar="FILE",
                   help="the items the mailing promotes (an `item` column: item ids, "
                        "category:<value> or feature:<signature>.<feature>)")
    g.add_argument("--probabilities", metavar="FILE",
                   help="per-customer probabilities from `basketguard scan --scores` "
                        "(default: scan now)")
    g.add_argument("--labels", metavar="FILE",
                   help="known events instead (customer_id, signature[, label])")
    g.add_argument("--mailings", type=number_in(int, 1, 1000), default=6,
                   help="repeated mailings to tabulate, fixed vs fresh decoys (6)")


def mailing_of(args: argparse.Namespace, project, hist, policy, progress=None):
    """The mailing context and offer codes named by the options of
    :func:`add_mailing_options` (shared by ``assess`` and ``recommend``)."""
    from basketguard.engine.mitigate.inputs import mailing_context, offer_codes

    ctx = mailing_context(project, hist, policy, opt_out_file=args.opt_out,
                          opt_out_column=args.opt_out_column,
                          probabilities_file=args.probabilities, labels_file=args.labels,
                          signature_paths=tuple(args.signatures), mailings=args.mailings,
                          seed=args.seed, draws=args.draws, progress=progress)
    return ctx, offer_codes(project, hist, ctx.view, ctx.library, args.offer)


def number_in(kind: type, low: float, high: float | None = None):
    """An argparse ``type``: a finite ``int`` or ``float`` within ``[low, high]``.

    Parameters
    ----------
    kind : {int, float}
    low : number
        Smallest allowed value.
    high : number, optional
        Largest allowed value (no upper bound when omitted).

    Returns
    -------
    callable
        Parses the option's text; a value that is not a number, NaN,
        infinite or out of range is a usage error naming the option.
    """
    allowed = f"[{low}, {high}]" if high is not None else f">= {low}"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}; "
                f"give one in {allowed}") from None
        if not math.isfinite(value) or not low <= value <= (high if high is not None else value):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; allowed: {allowed}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


class Progress:
    """Rows-read progress on stderr, only when stderr is a terminal."""

    def __init__(self, label: str, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.t0 = time.perf_counter()
        self.shown = False

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        pct = f" {100 * done / total:5.1f}%" if total else ""
        self.stream.write(f"\r{self.label}: {done:,} rows{pct}  ({rate / 1e6:.1f}M rows/s)")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and a rename.

    Raises
    ------
    OutputError
        The file cannot be written (the message names it); an existing file
        is left as it was.
    """
    write_text_atomic(path, text)


def guard_outputs(outputs, inputs=(), cache_dir: str | Path | None = None) -> None:
    """Refuse, before any work, outputs that would overwrite an input or the cache.

    Parameters
    ----------
    outputs : iterable of (str, path or None)
        Option name and path of each output (``None``: not asked for).
    inputs : iterable of (str, path)
        What the run reads (see :meth:`Project.input_paths`).
    cache_dir : str or Path, optional
        The ``--cache-dir`` option; the default cache folder otherwise.

    Raises
    ------
    OutputError
        See :func:`basketguard.engine.io.output.check_outputs`.
    """
    from basketguard.engine.histories.cache import default_cache_dir

    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    check_outputs(inputs, outputs, folders=[("the cache folder", cache)])


def prepare_project(args: argparse.Namespace, outputs=(), inputs=(), tables=()):
    """The project of ``args.project``, its outputs checked against its inputs, and the
    write-back targets (see :func:`load_with_progress`), before anything is read."""
    from basketguard.engine.config.project import load_project

    project = load_project(args.project)
    guard_outputs(outputs, [*project.input_paths(), *inputs], args.cache_dir)
    return project, table_targets(project, tables, getattr(args, "replace", False))


def connect_with_progress(args: argparse.Namespace):
    """The Dask cluster of ``--scheduler`` and the partitions of the project's lines on it.

    Returns
    -------
    (Cluster, Partitions)
        The caller releases the partitions and closes the cluster.
    """
    from basketguard.engine.runner.dask import connect, read_partitions
    from basketguard.engine.runner.shards import parse_memory

    stage = stage_printer()
    limit = None if args.memory_limit is None else parse_memory(args.memory_limit)
    cluster = connect(args.scheduler, memory_limit=limit)
    try:
        if stage:
            stage(f"Dask: {cluster.n_workers} worker(s) at {args.scheduler}")

        def progress(done: int, total: int) -> None:
            if stage:
                stage(f"read partition {done}/{total}")

        parts = read_partitions(cluster, args.project, args.partitions, strict=args.strict,
                                progress=progress)
    except BaseException:
        cluster.close()
        raise
    return cluster, parts


def load_with_progress(args: argparse.Namespace, outputs=(), inputs=(), tables=(),
                       shardable: bool = False, lazy: bool = False):
    """The project named by ``args.project`` and its histories (progress on a terminal).

    ``outputs`` and extra ``inputs`` (option name, path) are checked with
    :func:`guard_outputs` against the project's inputs before anything is read.
    ``tables`` (option name, table name or None) are write-back targets in the
    project's database, checked before anything is read too (one that exists
    without ``--replace`` is refused).

    With ``shardable`` (a verb with :func:`add_scale_options`), the histories
    are a :class:`~basketguard.engine.runner.shards.ShardSet` when they would
    not fit ``--memory-limit`` or ``--shards`` is given (the caller closes it);
    with ``lazy`` too, a new set builds each shard when it is first used
    (:func:`~basketguard.engine.runner.shards.shard_histories`).

    Returns
    -------
    (Project, Histories) or (Project, Histories, dict)
        With ``tables`` or ``shardable``, also option name ->
        :class:`~basketguard.engine.io.writeback.TableTarget` for each table that
        was given.
    """
    from basketguard.engine.api import load_histories

    project, targets = prepare_project(args, outputs, inputs, tables)
    progress = Progress("reading lines")
    try:
        hist = None
        if shardable:
            from basketguard.engine.runner.shards import parse_memory, shard_histories

            limit = None if args.memory_limit is None else parse_memory(args.memory_limit)
            hist = shard_histories(project, n_shards=args.shards, memory_limit=limit,
                                   strict=args.strict, use_cache=not args.no_cache,
                                   cache_dir=args.cache_dir, progress=progress,
                                   stage=stage_printer(), lazy=lazy)
        if hist is None:
            hist = load_histories(project, strict=args.strict, use_cache=not args.no_cache,
                                  cache_dir=args.cache_dir, progress=progress)
    finally:
        progress.close()
    show_notes(hist)
    return (project, hist, targets) if tables or shardable else (project, hist)


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """Out-of-core options of the verbs that run over customer shards."""
    g = parser.add_argument_group("scale (histories larger than memory)")
    g.add_argument("--memory-limit", metavar="SIZE",
                   help="memory budget of the histories, such as 16G; above it the lines are "
                        "split into customer-hash shards on disk and processed one at a time, "
                        "with the same results (default: $BASKETGUARD_MEMORY_LIMIT, else 60%% "
                        "of this machine's memory)")
    g.add_argument("--shards", type=number_in(int, 1), metavar="N",
                   help="always use N customer-hash shards (stored in the cache folder; a "
                        "stored set of any count is reused)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on Dask: a scheduler address (tcp://host:8786) or local:N to "
                        "start N local worker processes; workers read customer-hash "
                        "partitions of the source and send back only partial results "
                        "(docs/scale.md)")
    g.add_argument("--partitions", type=number_in(int, 1), metavar="N",
                   help="with --scheduler: customer-hash partitions (default: one per "
                        "worker); each must fit one worker's memory")


def stage_printer(stream=None):
    """A ``stage(message)`` callback writing on stderr when it is a terminal, else None."""
    stream = stream or sys.stderr
    if not stream.isatty():
        return None
    t0 = time.perf_counter()

    def stage(message: str) -> None:
        stream.write(f"basketguard: [{time.perf_counter() - t0:6.1f} s] {message}\n")
        stream.flush()

    return stage


def add_table_options(parser: argparse.ArgumentParser, options: list[tuple[str, str]]) -> None:
    """Write-back options (``--findings-table NAME`` ...) and ``--replace``."""
    g = parser.add_argument_group(
        "write-back (to the database of the [lines] source: PostgreSQL or DuckDB)")
    for flag, text in options:
        g.add_argument(flag, metavar="TABLE", help=text + " (`table` or `schema.table`)")
    g.add_argument("--replace", action="store_true",
                   help="replace tables that exist (atomically: a new table is filled, then "
                        "swapped in one transaction); without it an existing table is an error")


def table_targets(project, tables, replace: bool) -> dict:
    """Resolve and check write-back targets (see :func:`load_with_progress`)."""
    from basketguard.engine.errors import ConfigError
    from basketguard.engine.io.writeback import check_target, table_target

    given = [(opt, name) for opt, name in tables if name]
    names = [name for _, name in given]
    for name in names:
        if names.count(name) > 1:
            clash = [opt for opt, n in given if n == name]
            raise ConfigError(f"{' and '.join(clash)} name the same table {name!r}; give each "
                              "result its own table.")
    targets = {opt: table_target(project, name, opt) for opt, name in given}
    for target in targets.values():
        check_target(target, replace)
    return targets


def write_tables(targets: dict, tables: dict, replace: bool) -> None:
    """Write each result table to its target; a line on stderr for each."""
    from basketguard.engine.io.writeback import write_table

    for opt, target in targets.items():
        n = write_table(target, tables[opt](), replace)
        sys.stderr.write(f"basketguard: wrote {n:,} rows to {target.where}\n")


def show_notes(hist) -> None:
    """Tell on stderr what the user should know about how the histories were loaded.

    Parameters
    ----------
    hist : Histories or ShardSet
        Today its ``info["cache_note"]``: a damaged cache entry was rebuilt (the
        note names the file). A note never changes the exit status.
    """
    note = hist.info.get("cache_note")
    if note:
        sys.stderr.write(f"basketguard: note: {note}\n")
    state = str(hist.info.get("cache", ""))
    if state.startswith("off: "):
        sys.stderr.write(f"basketguard: note: the lines are read from the source on every "
                         f"run (not cached): {state[5:]}\n")
