"""On-disk cache of built histories (Arrow IPC), keyed by a source fingerprint.

The fingerprint hashes everything that shapes the histories: the lines
source's mapping, filter, types, time handling and validation policy, and
the path, size and modification time of every file read. A changed source
or mapping gives a new key, so stale entries are never reused.

Layout: ``<cache_dir>/<key>/`` holding ``lines.arrow``, ``customers.arrow``,
``items.arrow``, optionally ``baskets.arrow`` / ``stores.arrow``, and
``meta.json``. An entry is written into a temporary folder and renamed into
place, so a reader never sees a half-written entry.

Nothing read back is trusted: ``meta.json`` records the size and an XXH3-128
digest of every Arrow file, and a digest of its own content. :func:`lookup`
verifies all of them before parsing (about 25 GB/s warm, some 1 ms per
million lines; ``docs/reliability.md``), so flipped bits, a truncated or
overwritten file, or an entry that cannot be read is never used: it is
reported as a note naming the file, and the caller rebuilds the histories
and replaces the entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import xxhash

from basketguard.engine.config.project import SourceSpec, ValidationPolicy
from basketguard.engine.histories.build import Histories
from basketguard.engine.io.sources import Source

#: Bump when the on-disk layout or the build semantics change.
#: 2: every file's size and digest, and a digest of ``meta.json`` itself.
CACHE_FORMAT = 2
#: Name of the digest in ``meta.json`` (XXH3, 128 bits, of the file's bytes).
DIGEST = "xxh3_128"


def default_cache_dir() -> Path:
    """``$BASKETGUARD_CACHE``, else ``$XDG_CACHE_HOME/basketguard``, else ``~/.cache/basketguard``."""
    env = os.environ.get("BASKETGUARD_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "basketguard"


def fingerprint(spec: SourceSpec, source: Source, policy: ValidationPolicy) -> str | None:
    """Cache key of the histories built from ``spec`` under ``policy``.

    None when the source cannot tell a change of its data (a PostgreSQL
    query without ``change_column``): such a source is read every time.
    """
    facts = source.fingerprint()
    if facts is None:
        return None
    doc = {
        "cache_format": CACHE_FORMAT,
        "spec": spec.describe(),
        "policy": asdict(policy),
        "files": facts,
    }
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _write_table(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


class _Damaged(Exception):
    """An entry that fails a check; the message names the file and what is wrong."""


def _digest(data) -> str:
    """XXH3-128 of a buffer (anything with the buffer protocol), as hex."""
    return xxhash.xxh3_128_hexdigest(data)


def _mapped(path: Path) -> pa.Buffer:
    """The whole file, memory-mapped (zero copy: the tables read from it share the map)."""
    return pa.memory_map(str(path), "r").read_buffer()


def _record(path: Path) -> dict[str, Any]:
    """What ``meta.json`` keeps of a written file: its size and digest."""
    buf = _mapped(path)
    return {"bytes": buf.size, DIGEST: _digest(buf)}


def _meta_digest(meta: dict[str, Any]) -> str:
    """Digest of ``meta.json``'s content (all but its own ``checksum``)."""
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return _digest(json.dumps(body, sort_keys=True).encode())


def _verify(path: Path, buf: pa.Buffer, want: dict[str, Any]) -> None:
    """Raise :class:`_Damaged` unless ``buf`` is exactly what was written to ``path``."""
    if buf.size != want["bytes"]:
        raise _Damaged(f"{path} holds {buf.size:,} bytes where {want['bytes']:,} were written "
                       "(truncated or overwritten)")
    if _digest(buf) != want[DIGEST]:
        raise _Damaged(f"{path} does not match its checksum (changed on disk after it was "
                       "written)")


#: Files this process has verified, by path and recorded digest -> the file's (size,
#: inode, mtime, ctime) then. A file read again unchanged (a shard set passed over
#: several times) is not hashed again; any write to it (or ``utime``) moves its
#: ctime, so it is verified afresh. Only files last changed more than
#: ``_SETTLED_NS`` before the check are remembered: a file system's clock may be
#: coarse, and a write within the same tick as the one before would keep the ctime.
_VERIFIED: dict[tuple[str, str], tuple[int, int, int, int]] = {}
_SETTLED_NS = 2_000_000_000


def _stamp(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns


def _read_table(entry: Path, meta: dict[str, Any], name: str) -> pa.Table:
    """Table ``name`` of an entry, after checking its size and digest against ``meta``
    (the digest once per process while the file is unchanged)."""
    path = entry / name
    want = meta["files"][name]
    memo = (str(path), str(want.get(DIGEST)))
    stamp = _stamp(path)
    buf = _mapped(path)
    if _VERIFIED.get(memo) != stamp or _stamp(path) != stamp or buf.size != want["bytes"]:
        _VERIFIED.pop(memo, None)
        _verify(path, buf, want)
        if time.time_ns() - stamp[3] > _SETTLED_NS:
            _VERIFIED[memo] = stamp
    return pa.ipc.open_file(buf).read_all()


def _np(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return arr.to_numpy(zero_copy_only=True)


def save(hist: Histories, cache_dir: Path, key: str) -> Path:
    """Store histories under ``key`` atomically; returns the entry's folder.

    Every file is written into a temporary folder, its size and digest go
    into ``meta.json`` (written last, with a digest of its own), and the
    folder is renamed into place. An entry already under ``key`` is kept when
    it is valid (another process stored the same histories first) and
    replaced when it is damaged.

    Raises
    ------
    OSError
        The cache folder cannot be written; nothing is left behind.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / key
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        files: dict[str, dict[str, Any]] = {}

        def put(name: str, table: pa.Table) -> None:
            _write_table(tmp / name, table)
            files[name] = _record(tmp / name)

        cols = {"item": hist.item, "day": hist.day, "basket": hist.basket}
        for name in ("quantity", "price", "store"):
            value = getattr(hist, name)
            if value is not None:
                cols[name] = value
        put("lines.arrow", pa.table(cols))
        put("customers.arrow", pa.table({"id": hist.customer_ids, "start": hist.offsets[:-1]}))
        put("items.arrow", pa.table({"id": hist.item_ids}))
        if hist.basket_ids is not None:
            put("baskets.arrow", pa.table({"id": hist.basket_ids}))
        if hist.store_ids is not None:
            put("stores.arrow", pa.table({"id": hist.store_ids}))
        meta: dict[str, Any] = {
            "cache_format": CACHE_FORMAT, "n_lines": hist.n_lines,
            # as read back, so that the digest covers exactly what a reader parses
            "info": json.loads(json.dumps(hist.info, default=str)), "files": files,
        }
        meta["checksum"] = _meta_digest(meta)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(tmp, final)
        except OSError:
            _replace(tmp, final, cache_dir, key)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _replace(tmp: Path, final: Path, cache_dir: Path, key: str) -> None:
    """Put the new entry ``tmp`` in place of an existing ``final``, unless that one is valid."""
    if load(cache_dir, key) is not None:
        # Another process stored the same key first: theirs is equivalent.
        shutil.rmtree(tmp, ignore_errors=True)
        return
    # A damaged entry: moved aside in one step (a reader sees it whole or not at all).
    aside = Path(tempfile.mkdtemp(prefix=f".{key}-damaged-", dir=cache_dir))
    try:
        os.rename(final, aside)
    except OSError:
        pass  # gone meanwhile: another process replaced it
    try:
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if load(cache_dir, key) is None:  # neither ours nor a valid one from another process
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def lookup(cache_dir: Path, key: str) -> tuple[Histories | None, str | None]:
    """Histories stored under ``key``, verified, or why there are none.

    Parameters
    ----------
    cache_dir : Path
    key : str
        From :func:`fingerprint`.

    Returns
    -------
    (Histories, None)
        A valid entry: every file has the size and digest ``meta.json``
        recorded, and the histories pass :meth:`Histories.validate`.
    (None, None)
        No entry under ``key``.
    (None, str)
        A damaged, truncated or unreadable entry, never used; the note names
        the file and what is wrong (the caller rebuilds and replaces it).
    """
    entry = cache_dir / key
    if not os.path.lexists(entry):
        return None, None
    try:
        return _read_entry(entry), None
    except _Damaged as exc:
        return None, f"cache entry {exc}"
    except Exception as exc:  # everything in an entry is untrusted: never a crash
        return None, f"cache entry {entry} cannot be read ({type(exc).__name__}: {exc})"


def load(cache_dir: Path, key: str) -> Histories | None:
    """Histories stored under ``key``, or ``None`` if absent, damaged or unreadable."""
    return lookup(cache_dir, key)[0]


def _read_entry(entry: Path) -> Histories:
    """Verify and parse an entry (raises on anything wrong; see :func:`lookup`)."""
    meta_path = entry / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise _Damaged(f"{meta_path} cannot be read ({exc})") from None
    if not isinstance(meta, dict) or meta.get("checksum") != _meta_digest(meta):
        raise _Damaged(f"{meta_path} does not match its checksum (changed on disk after it "
                       "was written)")
    if meta["cache_format"] != CACHE_FORMAT:
        raise _Damaged(f"{meta_path} is of cache format {meta['cache_format']!r}, not "
                       f"{CACHE_FORMAT}")
    files = meta["files"]
    lines = _read_table(entry, meta, "lines.arrow")
    customers = _read_table(entry, meta, "customers.arrow")
    items = _read_table(entry, meta, "items.arrow")

    def ids(name: str) -> pa.Array | None:
        return _read_table(entry, meta, name).column("id").combine_chunks() \
            if name in files else None

    offsets = np.empty(customers.num_rows + 1, np.int64)
    offsets[:-1] = _np(customers, "start") if customers.num_rows else 0
    offsets[-1] = meta["n_lines"]
    names = lines.schema.names
    hist = Histories(
        offsets=offsets,
        item=_np(lines, "item"),
        day=_np(lines, "day"),
        basket=_np(lines, "basket"),
        quantity=_np(lines, "quantity") if "quantity" in names else None,
        price=_np(lines, "price") if "price" in names else None,
        store=_np(lines, "store") if "store" in names else None,
        customer_ids=customers.column("id").combine_chunks(),
        item_ids=items.column("id").combine_chunks(),
        basket_ids=ids("baskets.arrow"),
        store_ids=ids("stores.arrow"),
        info=dict(meta["info"]),
    )
    hist.validate()
    return hist
