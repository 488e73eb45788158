"""Synthetic shopper population with planted life events (``basketguard synth``).

Generates a catalog, customers with correlated quasi-identifiers, basket lines
and the ground truth of planted events, written as Parquet plus a project file
that maps them::

    from basketguard.models.simulator.run import SimConfig, simulate
    result = simulate(SimConfig(customers=10_000, seed=7), "out/")
    realistic = simulate(SimConfig(customers=10_000, seed=7, profile="realistic"), "r/")

The behaviour comes from a named profile (:mod:`basketguard.models.simulator.profiles`):
``hard`` (the default) or ``realistic`` (sourced background rates and prevalences).

The heavy lifting is in :mod:`basketguard.kernels.sim.lines` and :mod:`basketguard.kernels.sim.customers` (Numba, parallel
over customers, counter-based random numbers). Customers are generated in
chunks and written as they go, so memory is bounded by one chunk; a writer
thread encodes Parquet while the next chunk is generated.

Determinism: the files are a pure function of the configuration fields that
describe the population and the file layout (``row_group_size``,
``compression``). ``chunk_customers`` and the number of threads only change
speed and memory, never a byte of output.
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from basketguard.engine.errors import ConfigError, OutputError
from basketguard.kernels.sim.customers import (
    MAX_BASKET,
    NO_EVENT,
    CustomerArrays,
    draw_customers,
)
from basketguard.kernels.sim.lines import LineArrays, simulate_lines
from basketguard.kernels.sim.sampling import build_alias
from basketguard.models.simulator.catalog import (
    GROUPS,
    MAX_ITEMS,
    MIN_ITEMS,
    Catalog,
    build_catalog,
)
from basketguard.models.simulator.events import EVENTS, Program, program_tables
from basketguard.models.simulator.folder import MARK, commit_set, discard_set, open_set
from basketguard.models.simulator.population import (
    AGE_BANDS,
    GENDERS,
    INCOME_BANDS,
    MARITAL,
    POSTCODES,
    demographic_tables,
)
from basketguard.models.simulator.profiles import (
    CONFOUNDERS,
    PROFILES,
    base_weights,
    get_profile,
)
from basketguard.models.simulator.writer import RowGroupFile, WriterThread

__all__ = ["CONFOUNDERS", "EVENTS", "PROFILES", "SimConfig", "SimModel", "SimResult", "prepare",
           "simulate"]

_COMPRESSIONS = ("snappy", "zstd", "lz4", "gzip", "none")
_EPOCH = datetime.date(1970, 1, 1)
# visit-rate multipliers Monday..Sunday (mean 1): Friday and Saturday peaks
_DOW_WEIGHT = np.array([0.85, 0.8, 0.85, 0.95, 1.2, 1.35, 1.0])
# hour-of-day profile of visits (08:00-21:59)
_HOURS = np.array([0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 6, 7, 8, 7, 6, 6, 7, 9, 9, 7, 4, 2, 0, 0],
                  dtype=np.float64)
_VISIT_SIGMA = 1.0
_BASKET_SIGMA = 0.35


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """Parameters of a synthetic population (validated on construction).

    Parameters
    ----------
    customers : int
        Number of customers (``>= 0``).
    seed : int
        Random seed, ``0 <= seed < 2**63``; the same seed and parameters give
        byte-identical files.
    days : int
        Length of the simulated period in days (1 .. 3650).
    start : datetime.date
        First simulated day.
    items : int
        Catalog size (``MIN_ITEMS .. MAX_ITEMS``).
    stores : int
        Number of stores (1 .. 100000).
    events : tuple of str
        Life events to plant (names from :data:`EVENTS`; empty for none).
    event_rate : float
        Multiplier of every event's prevalence (``>= 0``).
    signal_strength : float
        Multiplier of the per-visit chance that an event's stage products are
        bought (``>= 0``, capped at 1 per stage; 0 plants events that leave no trace).
    confounders : bool
        Whether to plant confounders (other reasons to buy the same products).
    confounder_strength : float
        As ``signal_strength``, for confounders.
    leakage : float
        Mean share of stage purchases a customer makes at other retailers and
        that are therefore missing from the data, in [0, 1].
    visits_per_week : float or None
        Mean visit rate (heavy-tailed across customers), in (0, 7]; ``None``
        (the default) takes the profile's (0.2 for ``hard``; 1.04 for ``realistic``,
        which measures one visit a week once the cap of one visit a day trims the tail).
    basket_mean : float
        Mean base lines per basket, in [1, 60].
    zipf_exponent : float
        Exponent of the item popularity ``rank ** -s``, in [0, 3].
    fav_share : float
        Share of base lines drawn from the customer's repertoire of favourites, in [0, 1].
    row_group_size : int
        Rows per Parquet row group (``>= 1``); part of the file layout.
    compression : str
        Parquet codec: one of ``snappy``, ``zstd``, ``lz4``, ``gzip``, ``none``.
    chunk_customers : int
        Customers generated per chunk (``>= 1``); bounds memory, never changes output.
    profile : str
        Behaviour of the population: ``hard`` (the default: sensitive products in
        everyone's random purchases, about ten visits a year) or ``realistic``
        (sourced background rates and prevalences, about weekly visits); see
        :mod:`basketguard.models.simulator.profiles`.
    """

    customers: int = 10_000
    seed: int = 0
    days: int = 365
    start: datetime.date = datetime.date(2024, 1, 1)
    items: int = 5_000
    stores: int = 40
    events: tuple[str, ...] = EVENTS
    event_rate: float = 1.0
    signal_strength: float = 1.0
    confounders: bool = True
    confounder_strength: float = 1.0
    leakage: float = 0.2
    visits_per_week: float | None = None
    basket_mean: float = 10.0
    zipf_exponent: float = 1.0
    fav_share: float = 0.55
    row_group_size: int = 1_000_000
    compression: str = "snappy"
    chunk_customers: int = 20_000
    profile: str = "hard"

    def __post_init__(self) -> None:
        get_profile(self.profile)
        _int_in("customers", self.customers, 0, 2**40 - 1)
        _int_in("seed", self.seed, 0, 2**63 - 1)
        _int_in("days", self.days, 1, 3650)
        if not isinstance(self.start, datetime.date) or isinstance(self.start, datetime.datetime):
            raise ConfigError(f"start: {self.start!r} is not a date; give a datetime.date "
                              "(on the command line: YYYY-MM-DD)")
        _int_in("items", self.items, MIN_ITEMS, MAX_ITEMS)
        _int_in("stores", self.stores, 1, 100_000)
        events = self.events
        if isinstance(events, str):
            events = tuple(e for e in events.split(",") if e)
        events = tuple(events)
        unknown = [e for e in events if e not in EVENTS]
        if unknown:
            raise ConfigError(f"events: unknown event name(s) {', '.join(map(repr, unknown))}; "
                              f"allowed: {', '.join(EVENTS)}")
        object.__setattr__(self, "events", tuple(e for e in EVENTS if e in events))
        if not isinstance(self.confounders, bool):
            raise ConfigError(f"confounders: {self.confounders!r} is not a bool")
        _float_in("event_rate", self.event_rate, 0.0, 1e6)
        _float_in("signal_strength", self.signal_strength, 0.0, 1e6)
        _float_in("confounder_strength", self.confounder_strength, 0.0, 1e6)
        _float_in("leakage", self.leakage, 0.0, 1.0)
        if self.visits_per_week is not None:
            _float_in("visits_per_week", self.visits_per_week, 0.0, 7.0, low_open=True)
        _float_in("basket_mean", self.basket_mean, 1.0, 60.0)
        _float_in("zipf_exponent", self.zipf_exponent, 0.0, 3.0)
        _float_in("fav_share", self.fav_share, 0.0, 1.0)
        _int_in("row_group_size", self.row_group_size, 1, 2**31 - 1)
        _int_in("chunk_customers", self.chunk_customers, 1, 2**31 - 1)
        if self.compression not in _COMPRESSIONS:
            raise ConfigError(f"compression: {self.compression!r} is not supported; "
                              f"allowed: {', '.join(_COMPRESSIONS)}")

    @property
    def weekly_visits(self) -> float:
        """The mean visit rate in use: ``visits_per_week`` or the profile's."""
        if self.visits_per_week is not None:
            return float(self.visits_per_week)
        return get_profile(self.profile).visits_per_week


def _int_in(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name}: {value!r} is not an integer; give an integer in "
                          f"[{low}, {high}]")
    if not low <= value <= high:
        raise ConfigError(f"{name}: {value} is out of range; allowed: [{low}, {high}]")


def _float_in(name: str, value: object, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConfigError(f"{name}: {value!r} is not a number")
    ok = (low < value if low_open else low <= value) and value <= high
    if not ok or value != value:
        bracket = "(" if low_open else "["
        raise ConfigError(f"{name}: {value} is out of range; allowed: {bracket}{low}, {high}]")


@dataclasses.dataclass(frozen=True)
class SimResult:
    """What :func:`simulate` wrote.

    Attributes
    ----------
    out_dir : pathlib.Path
    paths : dict[str, pathlib.Path]
        ``lines``, ``catalog``, ``customers``, ``truth``, ``project``.
    lines, customers, items, truth_rows : int
        Row counts of the files.
    seconds : float
        Wall time of the whole generation.
    """

    out_dir: Path
    paths: dict[str, Path]
    lines: int
    customers: int
    items: int
    truth_rows: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class SimModel:
    """Everything the kernels need for one configuration (see :func:`prepare`).

    Attributes
    ----------
    config : SimConfig
    catalog : Catalog
    programs : tuple of Program
        The profile's programs, in the order of the customers' ``onset`` columns.
    customer_kwargs : dict
        Keyword arguments of :func:`basketguard.kernels.sim.customers.draw_customers`.
    line_kwargs : dict
        Keyword arguments of :func:`basketguard.kernels.sim.lines.simulate_lines`.
    start_day : int
        Day 0 as days since 1970-01-01.
    """

    config: SimConfig
    catalog: Catalog
    programs: tuple[Program, ...]
    customer_kwargs: dict
    line_kwargs: dict
    start_day: int

    def customers(self, first: int, n: int) -> CustomerArrays:
        """Draw customers ``first .. first + n - 1``."""
        return draw_customers(self.config.seed, first, n, **self.customer_kwargs)

    def lines(self, first: int, customers: CustomerArrays) -> LineArrays:
        """Basket lines of customers drawn by :meth:`customers` from ``first``."""
        return simulate_lines(self.config.seed, first, customers, **self.line_kwargs)


def prepare(config: SimConfig) -> SimModel:
    """Build the catalog and the kernel tables of a configuration.

    Parameters
    ----------
    config : SimConfig

    Returns
    -------
    SimModel
    """
    profile = get_profile(config.profile)
    catalog = build_catalog(config.items, config.seed, config.zipf_exponent)
    weights = base_weights(catalog, profile.base_shares)
    group_off, group_items, group_cum = catalog.group_tables(
        {g: weights for g in profile.pick_by_base})
    progs = program_tables(
        n_days=config.days, start=config.start, groups=GROUPS,
        group_sizes=np.diff(group_off), events=config.events, confounders=config.confounders,
        event_rate=config.event_rate, signal_strength=config.signal_strength,
        confounder_strength=config.confounder_strength, programs=profile.programs,
    )
    mean_sigma = np.exp(_VISIT_SIGMA**2 / 2)
    customer_kwargs = dict(
        n_days=config.days,
        **demographic_tables(),
        visit_median=config.weekly_visits / mean_sigma,
        visit_sigma=_VISIT_SIGMA,
        basket_median=config.basket_mean / np.exp(_BASKET_SIGMA**2 / 2),
        basket_sigma=_BASKET_SIGMA,
        join_rate=0.15,
        churn_rate=0.15,
        leakage=config.leakage,
        n_stores=config.stores,
        stray_store_rate=0.2,
        **{k: v for k, v in progs.items() if k.startswith("prog_") and k != "prog_stage_off"},
    )
    alias = build_alias(weights)
    n_stages = int(progs["stage_start"].shape[0])
    start_day = (config.start - _EPOCH).days
    hour_cdf = np.cumsum(_HOURS / _HOURS.sum())
    hour_cdf[-1] = 1.0
    line_kwargs = dict(
        n_days=config.days,
        start_day=start_day,
        start_weekday=config.start.weekday(),
        dow_weight=_DOW_WEIGHT,
        hour_cdf=hour_cdf,
        alias_thr=alias.threshold,
        alias_idx=alias.alias,
        item_price=catalog.price,
        item_by_weight=catalog.by_weight.astype(np.int8),
        item_twin=catalog.twin,
        item_mask=catalog.item_mask(),
        group_off=group_off,
        group_items=group_items,
        group_cum=group_cum,
        fav_share=config.fav_share,
        brand_loyalty=0.7,
        promo_rate=0.12,
        promo_discount=0.25,
        other_store_rate=0.15,
        n_stores=config.stores,
        max_basket=min(120, MAX_BASKET - n_stages),
        **{k: v for k, v in progs.items() if k.startswith("stage_") or k == "prog_stage_off"},
    )
    return SimModel(config, catalog, profile.programs, customer_kwargs, line_kwargs, start_day)


# --------------------------------------------------------------------------
# output

LINES_SCHEMA = pa.schema([
    ("customer_id", pa.int64()),
    ("item_id", pa.int32()),
    ("basket_id", pa.int64()),
    ("ts", pa.timestamp("s", tz="UTC")),
    ("quantity", pa.float32()),
    ("price", pa.float32()),
    ("store_id", pa.int32()),
])
CUSTOMERS_SCHEMA = pa.schema([
    ("customer_id", pa.int64()),
    ("age_band", pa.string()),
    ("income_band", pa.string()),
    ("postcode_prefix", pa.string()),
    ("household_size", pa.int8()),
    ("children", pa.int8()),
    ("marital_status", pa.string()),
    ("gender", pa.string()),
])
TRUTH_SCHEMA = pa.schema([
    ("customer_id", pa.int64()),
    ("event", pa.string()),
    ("kind", pa.string()),
    ("onset_date", pa.date32()),
    ("event_date", pa.date32()),
])
_SORTED_INTS = ("customer_id", "basket_id", "ts")

PROJECT_TOML = """\
{mark} ({description}).
[project]
name = "synthetic"

[lines]
source = "lines.parquet"
[lines.columns]
customer = "customer_id"
item = "item_id"
time = "ts"
basket = "basket_id"
quantity = "quantity"
price = "price"
store = "store_id"

[catalog]
source = "catalog.parquet"
[catalog.columns]
item = "item_id"
name = "name"
levels = ["department", "category", "type"]

[customers]
source = "customers.parquet"
[customers.columns]
customer = "customer_id"
attributes = ["age_band", "income_band", "postcode_prefix", "household_size", "children", "marital_status", "gender"]

[truth]
source = "truth.parquet"
"""


def _lines_table(lines: LineArrays) -> pa.Table:
    ts = pa.array(lines.ts, pa.int64()).view(pa.timestamp("s", tz="UTC"))
    return pa.Table.from_arrays(
        [pa.array(lines.customer), pa.array(lines.item), pa.array(lines.basket), ts,
         pa.array(lines.quantity), pa.array(lines.price), pa.array(lines.store)],
        schema=LINES_SCHEMA)


def _labels(codes: np.ndarray, labels: tuple[str, ...]) -> pa.Array:
    return pa.array(np.asarray(labels, dtype=object)).take(pa.array(codes.astype(np.int32)))


def _customers_table(first: int, c: CustomerArrays) -> pa.Table:
    ids = np.arange(first, first + c.age.shape[0], dtype=np.int64)
    return pa.Table.from_arrays(
        [pa.array(ids), _labels(c.age, AGE_BANDS), _labels(c.income, INCOME_BANDS),
         _labels(c.postcode, POSTCODES), pa.array(c.household), pa.array(c.children),
         _labels(c.marital, MARITAL), _labels(c.gender, GENDERS)],
        schema=CUSTOMERS_SCHEMA)


def _truth_table(first: int, c: CustomerArrays, start_day: int,
                 programs: tuple[Program, ...]) -> pa.Table:
    rows, progs = np.nonzero(c.onset != NO_EVENT)
    onset = c.onset[rows, progs].astype(np.int64) + start_day
    offsets = np.array([-1 if p.event_offset is None else p.event_offset for p in programs])
    off = offsets[progs]
    names = np.array([p.name for p in programs], dtype=object)  # variants share the name
    kinds = np.array([p.kind for p in programs], dtype=object)
    return pa.Table.from_arrays(
        [pa.array(rows.astype(np.int64) + first),
         pa.array(names[progs], pa.string()),
         pa.array(kinds[progs], pa.string()),
         pa.array(onset.astype(np.int32), pa.int32()).view(pa.date32()),
         pa.array((onset + off).astype(np.int32), pa.int32(), mask=off < 0).view(pa.date32())],
        schema=TRUTH_SCHEMA)


def simulate(
    config: SimConfig,
    out_dir: str | Path,
    progress: Callable[[int, int], None] | None = None,
) -> SimResult:
    """Generate a population and write it to ``out_dir``.

    Writes ``lines.parquet``, ``catalog.parquet``, ``customers.parquet``,
    ``truth.parquet`` and ``project.toml`` as one set: into a temporary folder
    beside ``out_dir``, renamed into place when complete (see
    :mod:`basketguard.models.simulator.folder`). A failure or Ctrl-C leaves
    ``out_dir`` as it was and no temporary files.

    Parameters
    ----------
    config : SimConfig
        The population to generate.
    out_dir : str or pathlib.Path
        Output folder: missing, empty, or a previous synth output, which is
        replaced as a whole. A folder holding other files is refused.
    progress : callable, optional
        Called as ``progress(done_customers, total_customers)`` after each chunk.

    Returns
    -------
    SimResult

    Raises
    ------
    OutputError
        ``out_dir`` holds other files, or cannot be written (full disk,
        permissions, a file in the way); ``out_dir`` is left as it was.
    """
    t0 = time.perf_counter()
    model = prepare(config)
    target, tmp = open_set(out_dir)
    try:
        n_lines, n_truth = _write_set(config, model, tmp, progress)
    except OSError as exc:
        discard_set(tmp)
        raise OutputError(f"cannot write the synth output folder {str(target)!r}: "
                          f"{exc.strerror or exc}. Free space, fix the permissions or choose "
                          "another --out folder; nothing was changed there.") from None
    except BaseException:
        discard_set(tmp)
        raise
    try:
        commit_set(tmp, target)
    except BaseException:
        discard_set(tmp)
        raise
    out = Path(out_dir)
    paths = {name: out / f"{name}.parquet" for name in ("lines", "catalog", "customers", "truth")}
    paths["project"] = out / "project.toml"
    if progress is not None and config.customers == 0:
        progress(0, 0)
    return SimResult(out, paths, n_lines, config.customers, model.catalog.n_items, n_truth,
                     time.perf_counter() - t0)


def _write_set(config: SimConfig, model: SimModel, folder: Path,
               progress: Callable[[int, int], None] | None) -> tuple[int, int]:
    """Write the set's files into ``folder``; returns the line and truth row counts.

    On any failure or interruption the writer thread is stopped before the
    files are closed (the caller then removes the folder).
    """
    pq.write_table(model.catalog.to_arrow(), folder / "catalog.parquet",
                   compression=config.compression, row_group_size=config.row_group_size)
    small_groups = min(config.row_group_size, 65_536)
    files = {
        "lines": RowGroupFile(folder / "lines.parquet", LINES_SCHEMA, config.row_group_size,
                              config.compression, _SORTED_INTS),
        # smaller row groups for the per-customer files: their buffer must not grow to
        # a million customers (their layout still depends on row_group_size only)
        "customers": RowGroupFile(folder / "customers.parquet", CUSTOMERS_SCHEMA,
                                  small_groups, config.compression),
        "truth": RowGroupFile(folder / "truth.parquet", TRUTH_SCHEMA, small_groups,
                              config.compression),
    }
    writer = WriterThread()
    n_lines = 0
    n_truth = 0
    try:
        for first in range(0, config.customers, config.chunk_customers):
            n = min(config.chunk_customers, config.customers - first)
            cust = model.customers(first, n)
            lines = model.lines(first, cust)
            truth = _truth_table(first, cust, model.start_day, model.programs)
            n_lines += int(lines.item.shape[0])
            n_truth += truth.num_rows
            writer.submit([(files["lines"], _lines_table(lines)),
                           (files["customers"], _customers_table(first, cust)),
                           (files["truth"], truth)])
            if progress is not None:
                progress(first + n, config.customers)
        writer.finish()
        for f in files.values():
            f.close()
    except BaseException:
        writer.cancel()
        for f in files.values():
            f.abort()
        raise
    description = (f"customers={config.customers} seed={config.seed} days={config.days} "
                   f"start={config.start.isoformat()}")
    if config.profile != "hard":  # the hard profile's files predate profiles: unchanged
        description += f" profile={config.profile}"
    (folder / "project.toml").write_text(PROJECT_TOML.format(mark=MARK, description=description),
                                         encoding="utf-8")
    return n_lines, n_truth
