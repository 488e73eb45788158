"""``basketguard synth``: generate a synthetic population with planted life events."""

from __future__ import annotations

import argparse
import datetime
import sys

from basketguard.engine.cli.common import guard_outputs
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.errors import ConfigError
from basketguard.models.simulator.run import EVENTS, PROFILES, SimConfig, simulate

NAME = "synth"
HELP = "Generate synthetic shoppers with planted life events (lines, catalog, customers, truth)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``synth`` to its sub-parser."""
    d = SimConfig()
    parser.add_argument("--customers", type=int, default=d.customers, metavar="N",
                        help=f"number of customers (default {d.customers})")
    parser.add_argument("--seed", type=int, default=d.seed, metavar="S",
                        help="random seed; same seed and options give identical files")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--profile", default=d.profile, metavar="NAME",
                        help=f"behaviour of the population: {' or '.join(PROFILES)} (default "
                             f"{d.profile}: sensitive products in everyone's random purchases; "
                             "realistic: sourced background rates and prevalences, weekly "
                             "visits; docs/simulator.md)")
    parser.add_argument("--days", type=int, default=d.days,
                        help=f"length of the simulated period in days (default {d.days})")
    parser.add_argument("--start", default=d.start.isoformat(), metavar="YYYY-MM-DD",
                        help=f"first simulated day (default {d.start.isoformat()})")
    parser.add_argument("--items", type=int, default=d.items,
                        help=f"catalog size (default {d.items})")
    parser.add_argument("--stores", type=int, default=d.stores,
                        help=f"number of stores (default {d.stores})")
    parser.add_argument("--events", default="all", metavar="NAME,NAME",
                        help="events to plant, comma-separated, 'all' or 'none' "
                             f"(known: {', '.join(EVENTS)})")
    parser.add_argument("--event-rate", type=float, default=d.event_rate,
                        help="multiplier of event prevalence (default 1)")
    parser.add_argument("--signal-strength", type=float, default=d.signal_strength,
                        help="multiplier of the chance that event products are bought per "
                             "visit (default 1; 0 plants events without a trace)")
    parser.add_argument("--no-confounders", action="store_true",
                        help="do not plant confounders (other reasons to buy the same products)")
    parser.add_argument("--confounder-strength", type=float, default=d.confounder_strength,
                        help="as --signal-strength, for confounders")
    parser.add_argument("--leakage", type=float, default=d.leakage,
                        help=f"mean share of event purchases made at other retailers "
                             f"(default {d.leakage})")
    parser.add_argument("--visits-per-week", type=float, default=None,
                        help="mean visit rate (default: the profile's, "
                             + ", ".join(f"{p.visits_per_week:g} {n}" for n, p in PROFILES.items())
                             + ")")
    parser.add_argument("--basket-mean", type=float, default=d.basket_mean,
                        help=f"mean base items per basket (default {d.basket_mean})")
    parser.add_argument("--row-group-size", type=int, default=d.row_group_size,
                        help=f"rows per Parquet row group (default {d.row_group_size})")
    parser.add_argument("--compression", default=d.compression,
                        help=f"Parquet compression (default {d.compression})")
    parser.add_argument("--chunk-customers", type=int, default=d.chunk_customers,
                        help="customers generated per chunk: memory bound, output unchanged")


def _events(value: str) -> tuple[str, ...]:
    value = value.strip()
    if value == "all":
        return EVENTS
    if value in ("none", ""):
        return ()
    return tuple(e.strip() for e in value.split(",") if e.strip())


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build the :class:`SimConfig` of parsed ``synth`` options."""
    try:
        start = datetime.date.fromisoformat(args.start)
    except ValueError:
        raise ConfigError(f"--start: {args.start!r} is not a date; use YYYY-MM-DD") from None
    return SimConfig(
        customers=args.customers, seed=args.seed, days=args.days, start=start,
        items=args.items, stores=args.stores, events=_events(args.events),
        event_rate=args.event_rate, signal_strength=args.signal_strength,
        confounders=not args.no_confounders, confounder_strength=args.confounder_strength,
        leakage=args.leakage, visits_per_week=args.visits_per_week,
        basket_mean=args.basket_mean, row_group_size=args.row_group_size,
        compression=args.compression, chunk_customers=args.chunk_customers,
        profile=args.profile,
    )


def run(args: argparse.Namespace) -> int:
    """Generate the population; progress on stderr only on a terminal.

    The files are written as one set (see :func:`simulate`): on an error or
    Ctrl-C the ``--out`` folder is left as it was and no temporary files remain.
    """
    config = config_from_args(args)
    guard_outputs([("--out", args.out)])
    progress = None
    if sys.stderr.isatty():
        def progress(done: int, total: int) -> None:
            print(f"\rsynth: {done:,}/{total:,} customers", end="", file=sys.stderr, flush=True)
    result = simulate(config, args.out, progress=progress)
    if progress is not None:
        print(file=sys.stderr)
    print(f"wrote {result.lines:,} lines, {result.customers:,} customers, {result.items:,} "
          f"items, {result.truth_rows:,} truth rows to {result.out_dir} "
          f"in {result.seconds:.1f} s")
    return ExitCode.OK
