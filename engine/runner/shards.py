"""Out-of-core histories: customer-hash shards spilled to disk and used one at a time.

When the histories of a source would not fit the memory budget, the lines are
read once, validated and encoded as for an in-memory build
(:func:`~basketguard.engine.histories.ingest.stream_lines`), and each record
batch is split by a hash of its customers' codes
(:func:`basketguard.kernels.shards.shard_of`) into raw column spill files,
one per shard and column. The id dictionaries are then finished over the whole
source, and each shard is built into histories with them (its customers and
baskets renumbered in the same order as in the whole build), stored as a cache
entry and its spill files deleted. A lazy set builds each shard when it is first
used, so a scan scores a shard straight from its build (and, with the cache off,
never writes it to disk). A :class:`ShardSet` hands the shards out one at a
time; every measure with a partial (:mod:`basketguard.engine.runner.partial`)
reduces each to a partial and merges them exactly, so the result is the
in-memory one.

Peak memory is the id dictionaries plus one shard's build; disk holds the spill
(at most 32 bytes a line, about 11 with its LZ4 blocks on simulated lines) and,
with the cache, the shards (about 16 bytes a line).
With a cache folder the shard set is kept under the source's fingerprint, so a
second run reads the shards back without parsing the source.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from basketguard.engine.config.project import Project
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.histories import cache
from basketguard.engine.histories.build import (
    Dictionaries,
    Histories,
    build_from_chunks,
    check_duplicates,
)
from basketguard.engine.histories.ingest import Chunk, nothing_left, stream_lines
from basketguard.engine.io.output import write_text_atomic
from basketguard.engine.io.sources import Source, open_source
from basketguard.engine.runner.memory import keep_freed_memory
from basketguard.kernels.histories import SECONDS_PER_DAY
from basketguard.kernels.shards import group_by_shard, shard_of

#: Peak bytes per basket line of an in-memory build and scan from Parquet, all
#: columns mapped (measured: 7.45 GiB peak RSS for 104M simulated lines, 77 B a
#: line; docs/benchmarks.md, "Scale").
PEAK_BYTES_PER_LINE = 80
#: Peak bytes per line of one shard while it is built and scored: its spill
#: beside its build (measured at 313M lines with a memory-mapped spill: 17.6 GiB
#: peak RSS with 2 shards, 9.3 GiB with 4, so 110 B per shard line over a 1 GiB
#: base; built from compressed blocks, 1B lines in 9 shards peak at 11.1 GiB,
#: about 85 B a shard line, so this is conservative now).
SHARD_BYTES_PER_LINE = 112
#: Bytes per customer and per basket of the id dictionaries and encoders.
BYTES_PER_ID = 24
#: Share of the machine's memory used when no budget is given.
DEFAULT_SHARE = 0.6
#: Manifest format of a stored shard set.
MANIFEST_FORMAT = 1

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory(text: str, where: str = "--memory-limit") -> int:
    """Bytes of a size such as ``16G``, ``800MiB``, ``1.5g`` or ``123456``.

    Raises
    ------
    ConfigError
        Not a positive size (the message names ``where``).
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ConfigError(f"{where}: {text!r} is not a memory size; give bytes or a number "
                          "with a unit, such as 16G or 800M.")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def size_text(n: int) -> str:
    """``n`` bytes for a message: ``1.5 GiB``, ``800 MiB``, ``12 KiB``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.3g} {unit}"
    return f"{n} bytes"


def machine_memory() -> int:
    """Physical memory of this machine in bytes (0 when it cannot be told)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def default_memory_limit() -> int:
    """``$BASKETGUARD_MEMORY_LIMIT``, else 60 % of the machine's memory (4 GiB if unknown)."""
    env = os.environ.get("BASKETGUARD_MEMORY_LIMIT")
    if env:
        return parse_memory(env, "BASKETGUARD_MEMORY_LIMIT")
    total = machine_memory()
    return int(DEFAULT_SHARE * total) if total else 4 << 30


def estimated_lines(source: Source) -> int | None:
    """Lines of a source before reading it: exact for Parquet, estimated for other files
    (about 40 bytes a CSV row), unknown (None) for a database query."""
    hint = source.row_count_hint()
    if hint is not None:
        return int(hint)
    files = getattr(source, "files", None)
    if files:
        try:
            return sum(os.path.getsize(f) for f in files) // 40
        except OSError:
            return None
    return None


def shards_needed(n_lines: int | None, memory_limit: int) -> int:
    """How many shards keep one shard's build within ``memory_limit`` (1: in memory).

    The id dictionaries (about one customer per 100 lines and one basket per 10
    lines, as in retail logs) stay in memory beside every shard; a budget they
    alone exceed is refused.
    """
    if n_lines is None or n_lines <= 0:
        return 1
    need = n_lines * PEAK_BYTES_PER_LINE
    if need <= memory_limit:
        return 1
    fixed = (n_lines // 10 + n_lines // 100) * BYTES_PER_ID
    room = memory_limit - fixed
    if room < memory_limit // 4:
        raise ConfigError(
            f"a memory limit of {size_text(memory_limit)} is too small for {n_lines:,} "
            f"lines: their id dictionaries alone take about {size_text(fixed)}. Raise "
            "--memory-limit.")
    return max(2, -(-(n_lines * SHARD_BYTES_PER_LINE) // room))


@dataclass
class ShardSet:
    """Histories of one source as customer-hash shards stored as cache entries.

    ``info`` holds the facts of the whole source (``rows_read``, ``dropped``,
    ``lines``, ``customers``, ``first_day`` / ``last_day``, ``n_shards``,
    ``seed``, ``shard_lines``); each shard's histories carry their own. A
    shard no customer hashes to (fewer customers than shards) is not stored,
    so ``len()`` may be below ``info["n_shards"]``.
    """

    folder: Path
    keys: list[str]
    info: dict[str, Any]
    temporary: bool = False

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def n_lines(self) -> int:
        return int(self.info["lines"])

    @property
    def n_customers(self) -> int:
        return int(self.info["customers"])

    @property
    def first_day(self) -> int:
        return int(self.info["first_day"])

    @property
    def last_day(self) -> int:
        return int(self.info["last_day"])

    #: Set by a lazy :func:`build_shards` until every shard is built.
    _pending: Any = field(default=None, repr=False)
    #: Positions built by :meth:`take` in a temporary set and not stored.
    _gone: set = field(default_factory=set, repr=False)

    def load(self, i: int) -> Histories:
        """Shard ``i``'s histories, verified (see :func:`basketguard.engine.histories.cache.lookup`).

        In a lazily built set, a shard not built yet is built from its spill now
        and stored.

        Raises
        ------
        DataError
            The shard is missing or damaged on disk; the message names it. A
            stored set with a damaged shard is forgotten, so the next run
            rebuilds it from the source.
        """
        if self._pending is not None and i not in self._pending.built:
            return self._build(i, store=True)
        if i in self._gone:
            raise RuntimeError(f"shard {i + 1} of this temporary set was taken once "
                               "(ShardSet.take) and is not stored; load it instead.")
        hist, note = cache.lookup(self.folder, self.keys[i])
        if hist is None:
            if not self.temporary:
                _manifest_path(self.folder, self.info["key"]).unlink(missing_ok=True)
            raise DataError(
                f"shard {i + 1} of {len(self)} ({self.folder / self.keys[i]}) "
                f"{'is missing' if note is None else note.removeprefix('cache entry ')}. "
                "Run again: the shards will be rebuilt from the source.")
        hist.info["cache_dir"] = str(self.folder)
        return hist

    def take(self, i: int) -> Histories:
        """Shard ``i`` for a pass that visits each shard once (a scan).

        As :meth:`load`, except that in a temporary set a shard not built yet is
        handed over straight from its build without being written to disk; it
        cannot be loaded again. A cached set stores it as :meth:`load` does.
        """
        if self._pending is not None and i not in self._pending.built:
            return self._build(i, store=not self.temporary)
        return self.load(i)

    def _build(self, i: int, store: bool) -> Histories:
        p = self._pending
        if p.stage:
            p.stage(f"building shard {i + 1}/{len(self)}")
        hist = p.spill.build(p.spill.numbers[i])
        if store:
            cache.save(hist, self.folder, self.keys[i])
        else:
            self._gone.add(i)
        p.built[i] = hist.n_lines
        p.duplicates += hist.info["duplicates_found"]
        if len(p.built) == len(self.keys):
            self._complete()
        hist.info["cache_dir"] = str(self.folder)
        return hist

    def _complete(self) -> None:
        """Every shard is built: the whole source's facts, then the manifest."""
        p, info = self._pending, self.info
        info["shard_lines"] = [p.built[i] for i in range(len(self.keys))]
        info["lines"] = sum(info["shard_lines"])
        info["duplicates_found"] = p.duplicates
        info["dropped"]["duplicate"] = p.duplicates if p.spill.policy.duplicate == "drop" else 0
        info["build_seconds"] = round(time.perf_counter() - p.t0, 4)
        if not self.temporary:
            write_text_atomic(_manifest_path(self.folder, info["key"]),
                              json.dumps({"format": MANIFEST_FORMAT, "keys": self.keys,
                                          "info": info}, indent=1))
        self._pending = None
        p.spill.close()

    def __iter__(self) -> Iterator[Histories]:
        for i in range(len(self)):
            yield self.load(i)

    def close(self) -> None:
        """Delete a temporary set (one built with the cache off), and the spill and
        stored shards of a lazily built set left incomplete (no manifest names them)."""
        p, self._pending = self._pending, None
        if p is not None:
            p.spill.close()
            if not self.temporary:
                for i in p.built:
                    shutil.rmtree(self.folder / self.keys[i], ignore_errors=True)
        if self.temporary:
            shutil.rmtree(self.folder, ignore_errors=True)


def _manifest_path(folder: Path, key: str) -> Path:
    return folder / f"{key}.shards.json"


def open_stored(folder: Path, key: str) -> ShardSet | None:
    """The shard set stored under ``key`` in ``folder``, if a complete one is there."""
    path = _manifest_path(folder, key)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        return None
    keys = doc.get("keys")
    if not isinstance(keys, list) or not all((folder / k / "meta.json").exists() for k in keys):
        return None
    return ShardSet(folder, keys, doc["info"])


#: Columns of a spilled line, in spill order, with their dtypes.
_SPILL_DTYPES = {"cust": np.int32, "item": np.int32, "t": np.int64, "qty": np.float32,
                 "basket": np.int32, "price": np.float32, "store": np.int32}
#: Spilled LZ4-compressed: runs within a customer's lines make them small (measured on
#: simulated lines: customer codes to 1.5 % of their bytes, store 5 %, time 11 %,
#: basket 12 %, quantity 27 %) at 0.8-4.8 GB/s. Items (63 %) and prices (52 %)
#: compress little and slowly (0.35-0.4 GB/s), so they are written raw.
_COMPRESSED = frozenset({"cust", "t", "qty", "basket", "store"})
_CODEC = pa.Codec("lz4_raw")


class _Spill:
    """The read phase of a sharded build: every shard's validated, encoded lines in
    column files (``<shard>.<column>``, one block per record batch), the id
    dictionaries finished over the whole source, and what building one shard from
    them needs.

    A block is a header (values, payload bytes; two int64) and its payload: LZ4
    for the columns in ``_COMPRESSED``, raw values for the others. Plain files
    rather than Arrow IPC: a batch is split with one gather per column, and a
    shard's blocks are read (or decompressed) straight into writable arrays, no
    memory map and no copy. Compression cuts the spill of simulated lines from
    32 to about 11 bytes a line, which the page cache mostly holds.
    """

    def __init__(self, project: Project, n_shards: int, folder: Path, key: str,
                 policy, seed: int, source: Source | None,
                 progress: Callable[[int, int | None], None] | None) -> None:
        self.n_shards, self.seed, self.policy = n_shards, seed, policy
        self.dir = Path(tempfile.mkdtemp(prefix=f".{key}-spill-", dir=folder))
        # the spill goes with this object even when a caller never closes its set
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.dir), True)
        try:
            self._read(project, source, progress)
        except BaseException:
            self.close()
            raise

    def _read(self, project: Project, source: Source | None, progress) -> None:
        n_shards, seed = self.n_shards, self.seed
        state, chunks = stream_lines(project.lines, self.policy, progress=progress,
                                     source=source)
        files: dict[tuple[int, str], Any] = {}
        names: list[str] = []
        n_lines = 0
        t_lo, t_hi = None, None

        def write(chunk: Chunk, order: np.ndarray, bounds: np.ndarray) -> None:
            for name in names:
                grouped = getattr(chunk, name)[order]
                for i in range(n_shards):
                    if bounds[i + 1] > bounds[i]:
                        _write_block(files[i, name], grouped[bounds[i]:bounds[i + 1]],
                                     name in _COMPRESSED)

        # One writer thread splits, compresses and writes a batch while the next one
        # is decoded and encoded (NumPy's gather, LZ4 and the writes release the GIL).
        # One batch in flight at most: memory stays bounded, the blocks keep their
        # order, and a failed write is raised at the next batch.
        try:
            with ThreadPoolExecutor(max_workers=1) as writer:
                in_flight = None
                for chunk in chunks:
                    if not names:
                        names = [n for n in _SPILL_DTYPES
                                 if n in ("cust", "item", "t") or getattr(chunk, n).shape[0]]
                        for i in range(n_shards):
                            for name in names:
                                files[i, name] = open(self.dir / f"{i}.{name}", "wb")  # noqa: SIM115
                    n_lines += len(chunk)
                    lo, hi = int(chunk.t.min()), int(chunk.t.max())
                    t_lo = lo if t_lo is None else min(t_lo, lo)
                    t_hi = hi if t_hi is None else max(t_hi, hi)
                    order, bounds = group_by_shard(shard_of(chunk.cust, n_shards, seed),
                                                   n_shards)
                    if in_flight is not None:
                        in_flight.result()
                    in_flight = writer.submit(write, chunk, order, bounds)
                if in_flight is not None:
                    in_flight.result()
        finally:
            for f in files.values():
                f.close()
        if not names:
            raise nothing_left(state)
        self.state, self.names, self.n_lines = state, names, n_lines
        self.where = state.source.where
        self.first_day = t_lo // SECONDS_PER_DAY
        self.last_day = t_hi // SECONDS_PER_DAY
        self.mapped = {r for r in ("quantity", "price", "store") if project.lines.column(r)}
        self.dicts = Dictionaries.finish(state.encoders)
        state.encoders.clear()
        n_fs = self.dicts.cust_remap.shape[0]
        self.cust_shard = shard_of(np.arange(n_fs, dtype=np.int64), n_shards, seed)
        #: shards some customer hashes to (fewer customers than shards leave some empty)
        self.numbers = [int(i) for i in
                        np.flatnonzero(np.bincount(self.cust_shard, minlength=n_shards))]
        for i in sorted(set(range(n_shards)) - set(self.numbers)):
            self.remove(i)
        self._local_cust = np.empty(n_fs, np.int32)
        n_bfs = self.dicts.basket_remap.shape[0] if self.dicts.basket_ids is not None else 0
        self._mark = np.zeros(n_bfs, bool)
        self._local_basket = np.empty(n_bfs, np.int32)

    def _pieces(self, i: int) -> list[Chunk]:
        """Shard ``i``'s lines as one chunk per spilled block (each its own writable
        array, released as the build consumes it)."""
        handles = {name: open(self.dir / f"{i}.{name}", "rb") for name in self.names}  # noqa: SIM115
        try:
            pieces = []
            while True:
                cols = {name: _read_block(f, _SPILL_DTYPES[name], name in _COMPRESSED)
                        for name, f in handles.items()}
                sizes = {-1 if a is None else a.shape[0] for a in cols.values()}
                if sizes == {-1}:
                    return pieces
                if len(sizes) != 1:
                    raise DataError(
                        f"the spill of shard {i + 1} in {self.dir} is damaged (its column "
                        "files disagree); it was changed while this run read it. Run again.")
                pieces.append(Chunk(**cols))
        finally:
            for f in handles.values():
                f.close()

    def build(self, i: int) -> Histories:
        """Shard ``i``'s histories (its customers and baskets numbered in the order of the
        whole build); its spill files are deleted.

        Raises
        ------
        DataError
            Exact duplicates under ``validation.duplicate = "error"``.
        """
        dicts = self.dicts
        chunk_list = self._pieces(i)
        fs = np.flatnonzero(self.cust_shard == i)
        final = dicts.cust_remap[fs]
        o = np.argsort(final, kind="stable")
        local_cust = self._local_cust
        local_cust[fs[o]] = np.arange(fs.size, dtype=np.int32)
        shard_dicts = Dictionaries(
            dicts.customer_ids.take(pa.array(final[o], pa.int64())), local_cust,
            dicts.item_ids, dicts.item_remap, None, dicts.basket_remap,
            dicts.store_ids, dicts.store_remap)
        if dicts.basket_ids is not None:
            mark = self._mark
            mark[:] = False
            for ch in chunk_list:
                mark[ch.basket] = True
            bfs = np.flatnonzero(mark)
            bfinal = dicts.basket_remap[bfs]
            bo = np.argsort(bfinal, kind="stable")
            self._local_basket[bfs[bo]] = np.arange(bfs.size, dtype=np.int32)
            shard_dicts.basket_ids = dicts.basket_ids.take(pa.array(bfinal[bo], pa.int64()))
            shard_dicts.basket_remap = self._local_basket
        lines_i = sum(len(c) for c in chunk_list)
        hist = build_from_chunks(chunk_list, shard_dicts, self.policy.duplicate == "drop",
                                 rows_read=lines_i, dropped={}, mapped=self.mapped)
        self.remove(i)
        check_duplicates(self.policy, hist, self.where)
        return hist

    def remove(self, i: int) -> None:
        for name in self.names:
            (self.dir / f"{i}.{name}").unlink(missing_ok=True)

    def close(self) -> None:
        self._cleanup()


def _write_block(f, values: np.ndarray, compressed: bool) -> None:
    payload = _CODEC.compress(values) if compressed else values
    np.array([values.shape[0], payload.size if compressed else values.nbytes],
             np.int64).tofile(f)
    if compressed:
        f.write(payload)
    else:
        values.tofile(f)


def _read_block(f, dtype, compressed: bool) -> np.ndarray | None:
    """The next block of a spill file as a writable array; None at the end."""
    head = np.fromfile(f, np.int64, count=2)
    if head.shape[0] < 2:
        return None
    n, size = int(head[0]), int(head[1])
    if not compressed:
        return np.fromfile(f, dtype, count=n)
    payload = f.read(size)
    if len(payload) != size:  # a truncated file: the caller sees columns disagree
        return np.empty(0, dtype)
    # the system allocator, as NumPy's: the build reuses the memory these blocks free
    out = _CODEC.decompress(payload, decompressed_size=n * np.dtype(dtype).itemsize,
                            memory_pool=pa.system_memory_pool())
    return np.frombuffer(out, dtype)


def build_shards(project: Project, n_shards: int, folder: Path, key: str, *,
                 strict: bool = False, seed: int = 0, temporary: bool = False,
                 source: Source | None = None,
                 progress: Callable[[int, int | None], None] | None = None,
                 stage: Callable[[str], None] | None = None,
                 lazy: bool = False) -> ShardSet:
    """Read a project's lines once and store their histories as ``n_shards`` shards.

    Parameters
    ----------
    project : Project
    n_shards : int
        At least 1 (one shard is the whole histories, stored like a shard).
    folder : Path
        Where the spill files and the shard entries go (the cache folder, or a
        temporary folder with ``temporary``).
    key : str
        Names the entries (the source's fingerprint for the cache).
    strict : bool
        Every ``drop`` of the validation policy becomes ``error``.
    seed : int
        Customer-hash seed; any seed gives the same results.
    temporary : bool
        The set is deleted by :meth:`ShardSet.close` and has no manifest.
    progress : callable, optional
        ``progress(rows_read, total_or_None)`` while reading.
    stage : callable, optional
        Called with a short message as each shard is built.
    lazy : bool
        Return once the lines are read and spilled: each shard is built when it
        is first loaded (:meth:`ShardSet.load`, :meth:`ShardSet.take`), so a
        pass that visits each shard once scores it straight from its build. The
        set's ``info`` is complete (and a cached set's manifest written) once
        every shard is built; until then ``info["lines"]`` counts the lines
        read, before exact duplicates are dropped.

    Raises
    ------
    DataError
        As :func:`~basketguard.engine.histories.build.histories_from_project`.
    OSError
        The folder cannot be written; no spill file is left behind.
    """
    if n_shards < 1:
        raise ConfigError(f"the number of shards must be at least 1, not {n_shards}.")
    policy = project.validation.strict() if strict else project.validation
    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    keep_freed_memory()  # every shard reuses the pages of the one before
    spill = _Spill(project, n_shards, folder, key, policy, seed, source, progress)
    state = spill.state
    info = {
        "key": key, "n_shards": n_shards, "seed": seed, "source": spill.where,
        "rows_read": state.rows_read, "dropped": dict(state.dropped), "lines": spill.n_lines,
        "lines_read": spill.n_lines, "customers": len(spill.dicts.customer_ids),
        "items": len(spill.dicts.item_ids), "first_day": spill.first_day,
        "last_day": spill.last_day, "duplicates_found": 0, "shard_lines": [],
        "read_seconds": round(time.perf_counter() - t0, 4),
    }
    out = ShardSet(folder, [f"{key}.shard-{n_shards}-{i}" for i in spill.numbers], info,
                   temporary=temporary)
    out._pending = _Pending(spill, t0, stage)
    if not lazy:
        try:
            for i in range(len(out)):
                out._build(i, store=True)
        except BaseException:
            out.close()
            raise
    return out


@dataclass
class _Pending:
    """The state of a lazily built :class:`ShardSet` until every shard is built."""

    spill: _Spill
    t0: float
    stage: Callable[[str], None] | None
    built: dict[int, int] = field(default_factory=dict)  # set position -> lines
    duplicates: int = 0


def shard_histories(project: Project, *, n_shards: int | None = None,
                    memory_limit: int | None = None, strict: bool = False,
                    use_cache: bool = True, cache_dir: str | Path | None = None, seed: int = 0,
                    progress: Callable[[int, int | None], None] | None = None,
                    stage: Callable[[str], None] | None = None,
                    lazy: bool = False) -> ShardSet | None:
    """The project's histories as shards when they would not fit ``memory_limit``.

    Parameters
    ----------
    project : Project
    n_shards : int, optional
        Force this many shards (1 and up); otherwise :func:`shards_needed` of the
        source's (estimated) lines and the budget decides, and ``None`` is
        returned when the histories fit in memory.
    memory_limit : int, optional
        Bytes; :func:`default_memory_limit` when omitted.
    strict, use_cache, cache_dir, progress
        As :func:`basketguard.engine.api.load_histories`. With the cache on, a
        stored shard set of this source (of any shard count: the results do not
        depend on it) is used without reading the source; a new one is stored.
        With it off (or for a source without a fingerprint), the shards go to a
        temporary folder in the cache folder, deleted by :meth:`ShardSet.close`.
    seed : int
        Customer-hash seed of a new shard set.
    stage : callable, optional
        Called with a short message per shard built.
    lazy : bool
        A new set is returned once the lines are spilled, each shard built when
        it is first loaded (see :func:`build_shards`); a scan takes each shard
        straight from its build (:meth:`ShardSet.take`).

    Returns
    -------
    ShardSet or None
        ``info["cache"]`` is ``"hit"``, ``"stored"`` or ``"off"``.
    """
    source = open_source(project.lines)
    if n_shards is None:
        limit = default_memory_limit() if memory_limit is None else int(memory_limit)
        n_shards = shards_needed(estimated_lines(source), limit)
        if n_shards == 1:
            return None
    elif n_shards < 1:
        raise ConfigError(f"--shards must be at least 1, not {n_shards}.")
    folder = Path(cache_dir).expanduser() if cache_dir else cache.default_cache_dir()
    policy = project.validation.strict() if strict else project.validation
    key = cache.fingerprint(project.lines, source, policy) if use_cache else None
    if key is not None:
        stored = open_stored(folder, key)
        if stored is not None:
            stored.info["cache"] = "hit"
            return stored
        out = build_shards(project, n_shards, folder, key, strict=strict, seed=seed,
                           source=source, progress=progress, stage=stage, lazy=lazy)
        out.info["cache"] = "stored"
        return out
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".shards-", dir=folder))
    try:
        out = build_shards(project, n_shards, tmp, "run", strict=strict, seed=seed,
                           temporary=True, source=source, progress=progress, stage=stage,
                           lazy=lazy)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    out.info["cache"] = "off" if not use_cache else f"off: {source.uncached_reason}"
    return out
