"""Out-of-core histories: customer-hash shards spilled to disk and used one at a time.

When the histories of a source would not fit the memory budget, the lines are
read once, validated and encoded as for an in-memory build
(:func:`~basketguard.engine.histories.ingest.stream_lines`), and each record
batch is split by a hash of its customers' codes
(:func:`basketguard.kernels.shards.shard_of`) into one Arrow IPC spill file
per shard. The id dictionaries are then finished over the whole source, and
each shard is built into histories with them (its customers and baskets
renumbered in the same order as in the whole build), stored as a cache entry
and its spill file deleted. A :class:`ShardSet` hands the shards out one at a
time; every measure with a partial (:mod:`basketguard.engine.runner.partial`)
reduces each to a partial and merges them exactly, so the result is the
in-memory one.

Peak memory is the id dictionaries plus one shard's build; disk holds the spill
(about 32 bytes a line at most) and then the shards (about 16 bytes a line).
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
from basketguard.kernels.shards import group_by_shard, shard_of
from basketguard.kernels.windows import day_range

#: Peak bytes per basket line of an in-memory build and scan from Parquet, all
#: columns mapped (measured: 7.45 GiB peak RSS for 104M simulated lines, 77 B a
#: line; docs/benchmarks.md, "Scale").
PEAK_BYTES_PER_LINE = 80
#: Peak bytes per line of one shard while it is built and scored: its spill
#: (memory-mapped) beside its build (measured at 313M lines: 17.6 GiB peak RSS
#: with 2 shards, 9.3 GiB with 4, so 110 B per shard line over a 1 GiB base).
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

    def load(self, i: int) -> Histories:
        """Shard ``i``'s histories, verified (see :func:`basketguard.engine.histories.cache.lookup`).

        Raises
        ------
        DataError
            The shard is missing or damaged on disk; the message names it. A
            stored set with a damaged shard is forgotten, so the next run
            rebuilds it from the source.
        """
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

    def __iter__(self) -> Iterator[Histories]:
        for i in range(len(self)):
            yield self.load(i)

    def close(self) -> None:
        """Delete a temporary set (one built with the cache off)."""
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


_SPILL_COLUMNS = ("cust", "item", "t", "qty", "basket", "price", "store")


def _spill_schema(first: Chunk) -> pa.Schema:
    fields = []
    for name in _SPILL_COLUMNS:
        a = getattr(first, name)
        if name in ("cust", "item", "t") or a.shape[0]:
            fields.append(pa.field(name, pa.from_numpy_dtype(a.dtype), nullable=False))
    return pa.schema(fields)


def build_shards(project: Project, n_shards: int, folder: Path, key: str, *,
                 strict: bool = False, seed: int = 0, temporary: bool = False,
                 source: Source | None = None,
                 progress: Callable[[int, int | None], None] | None = None,
                 stage: Callable[[str], None] | None = None) -> ShardSet:
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
    spill = Path(tempfile.mkdtemp(prefix=f".{key}-spill-", dir=folder))
    done: list[str] = []
    try:
        state, chunks = stream_lines(project.lines, policy, progress=progress, source=source)
        writers: list[pa.ipc.RecordBatchFileWriter] = []
        schema = None
        n_lines = 0
        for chunk in chunks:
            if schema is None:
                schema = _spill_schema(chunk)
                writers = [pa.ipc.new_file(str(spill / f"{i}.arrow"), schema)
                           for i in range(n_shards)]
            n_lines += len(chunk)
            order, bounds = group_by_shard(shard_of(chunk.cust, n_shards, seed), n_shards)
            cols = [getattr(chunk, name) for name in schema.names]
            for i in range(n_shards):
                sel = order[bounds[i]:bounds[i + 1]]
                if sel.size:
                    writers[i].write_batch(pa.record_batch([pa.array(c[sel]) for c in cols],
                                                           schema=schema))
        for w in writers:
            w.close()
        if schema is None:
            raise nothing_left(state)
        t_read = time.perf_counter() - t0
        mapped = {r for r in ("quantity", "price", "store") if project.lines.column(r)}
        dicts = Dictionaries.finish(state.encoders)
        state.encoders.clear()
        n_fs = dicts.cust_remap.shape[0]
        cust_shard = shard_of(np.arange(n_fs, dtype=np.int64), n_shards, seed)
        local_cust = np.empty(n_fs, np.int32)
        has_basket = dicts.basket_ids is not None
        n_bfs = dicts.basket_remap.shape[0]
        mark = np.zeros(n_bfs if has_basket else 0, bool)
        local_basket = np.empty(n_bfs if has_basket else 0, np.int32)
        duplicates = 0
        first_day, last_day = None, None
        shard_lines = []
        for i in range(n_shards):
            if stage:
                stage(f"building shard {i + 1}/{n_shards}")
            path = spill / f"{i}.arrow"
            with pa.memory_map(str(path)) as src:
                reader = pa.ipc.open_file(src)
                chunk_list = [_chunk_of(reader.get_batch(b))
                              for b in range(reader.num_record_batches)]
            fs = np.flatnonzero(cust_shard == i)
            if not fs.size:  # no customer hashed here (fewer customers than shards)
                del chunk_list
                path.unlink()
                continue
            final = dicts.cust_remap[fs]
            o = np.argsort(final, kind="stable")
            local_cust[fs[o]] = np.arange(fs.size, dtype=np.int32)
            shard_dicts = Dictionaries(
                dicts.customer_ids.take(pa.array(final[o], pa.int64())), local_cust,
                dicts.item_ids, dicts.item_remap, None, dicts.basket_remap,
                dicts.store_ids, dicts.store_remap)
            if has_basket:
                mark[:] = False
                for ch in chunk_list:
                    mark[ch.basket] = True
                bfs = np.flatnonzero(mark)
                bfinal = dicts.basket_remap[bfs]
                bo = np.argsort(bfinal, kind="stable")
                local_basket[bfs[bo]] = np.arange(bfs.size, dtype=np.int32)
                shard_dicts.basket_ids = dicts.basket_ids.take(pa.array(bfinal[bo], pa.int64()))
                shard_dicts.basket_remap = local_basket
            lines_i = sum(len(c) for c in chunk_list)
            hist = build_from_chunks(chunk_list, shard_dicts, policy.duplicate == "drop",
                                     rows_read=lines_i, dropped={}, mapped=mapped)
            path.unlink()
            check_duplicates(policy, hist, state.source.where)
            duplicates += hist.info["duplicates_found"]
            shard_lines.append(hist.n_lines)
            if hist.n_lines:
                lo, hi = (int(d) for d in day_range(hist.day))
                first_day = lo if first_day is None else min(first_day, lo)
                last_day = hi if last_day is None else max(last_day, hi)
            name = f"{key}.shard-{n_shards}-{i}"
            cache.save(hist, folder, name)
            done.append(name)
            del hist, chunk_list
        dropped = dict(state.dropped)
        dropped["duplicate"] = duplicates if policy.duplicate == "drop" else 0
        info = {
            "key": key, "n_shards": n_shards, "seed": seed, "source": state.source.where,
            "rows_read": state.rows_read, "dropped": dropped, "lines": sum(shard_lines),
            "lines_read": n_lines, "customers": len(dicts.customer_ids),
            "items": len(dicts.item_ids), "first_day": first_day or 0,
            "last_day": last_day or 0, "duplicates_found": duplicates,
            "shard_lines": shard_lines, "read_seconds": round(t_read, 4),
            "build_seconds": round(time.perf_counter() - t0, 4),
        }
        out = ShardSet(folder, done, info, temporary=temporary)
        if not temporary:
            write_text_atomic(_manifest_path(folder, key),
                              json.dumps({"format": MANIFEST_FORMAT, "keys": done, "info": info},
                                         indent=1))
        return out
    except BaseException:
        if not temporary:
            for name in done:
                shutil.rmtree(folder / name, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _chunk_of(batch: pa.RecordBatch) -> Chunk:
    """A spilled record batch as a chunk of writable copies (not views of the mapped
    file: the build rewrites customer codes in place, and the kernels are compiled
    for writable arrays)."""
    names = batch.schema.names

    def col(name: str) -> np.ndarray | None:
        return (np.array(batch.column(names.index(name)).to_numpy(), copy=True)
                if name in names else None)

    ch = Chunk(cust=col("cust"), item=col("item"), t=col("t"))
    for name in ("qty", "basket", "price", "store"):
        a = col(name)
        if a is not None:
            setattr(ch, name, a)
    return ch


def shard_histories(project: Project, *, n_shards: int | None = None,
                    memory_limit: int | None = None, strict: bool = False,
                    use_cache: bool = True, cache_dir: str | Path | None = None, seed: int = 0,
                    progress: Callable[[int, int | None], None] | None = None,
                    stage: Callable[[str], None] | None = None) -> ShardSet | None:
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
                           source=source, progress=progress, stage=stage)
        out.info["cache"] = "stored"
        return out
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".shards-", dir=folder))
    try:
        out = build_shards(project, n_shards, tmp, "run", strict=strict, seed=seed,
                           temporary=True, source=source, progress=progress, stage=stage)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    out.info["cache"] = "off" if not use_cache else f"off: {source.uncached_reason}"
    return out
