"""On-disk cache of built histories (Arrow IPC), keyed by a source fingerprint.

The fingerprint hashes everything that shapes the histories: the lines
source's mapping, filter, types, time handling and validation policy, and
the path, size and modification time of every file read. A changed source
or mapping gives a new key, so stale entries are never reused.

Layout: ``<cache_dir>/<key>/`` holding ``lines.arrow``, ``customers.arrow``,
``items.arrow``, optionally ``baskets.arrow`` / ``stores.arrow``, and
``meta.json``. An entry is written into a temporary folder and renamed into
place, so a reader never sees a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa

from basketguard.engine.config.project import SourceSpec, ValidationPolicy
from basketguard.engine.errors import BasketguardError, InternalError
from basketguard.engine.histories.build import Histories
from basketguard.engine.io.sources import Source

#: Bump when the on-disk layout or the build semantics change.
CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """``$BASKETGUARD_CACHE``, else ``$XDG_CACHE_HOME/basketguard``, else ``~/.cache/basketguard``."""
    env = os.environ.get("BASKETGUARD_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "basketguard"


def fingerprint(spec: SourceSpec, source: Source, policy: ValidationPolicy) -> str:
    """Cache key of the histories built from ``spec`` under ``policy``."""
    doc = {
        "cache_format": CACHE_FORMAT,
        "spec": spec.describe(),
        "policy": asdict(policy),
        "files": source.fingerprint(),
    }
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _write_table(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_table(path: Path) -> pa.Table:
    source = pa.memory_map(str(path), "r")
    return pa.ipc.open_file(source).read_all()


def _np(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    arr = col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return arr.to_numpy(zero_copy_only=True)


def save(hist: Histories, cache_dir: Path, key: str) -> Path:
    """Store histories under ``key`` atomically; returns the entry's folder."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / key
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        cols = {"item": hist.item, "day": hist.day, "basket": hist.basket}
        for name in ("quantity", "price", "store"):
            value = getattr(hist, name)
            if value is not None:
                cols[name] = value
        _write_table(tmp / "lines.arrow", pa.table(cols))
        _write_table(tmp / "customers.arrow", pa.table({
            "id": hist.customer_ids, "start": hist.offsets[:-1]}))
        _write_table(tmp / "items.arrow", pa.table({"id": hist.item_ids}))
        if hist.basket_ids is not None:
            _write_table(tmp / "baskets.arrow", pa.table({"id": hist.basket_ids}))
        if hist.store_ids is not None:
            _write_table(tmp / "stores.arrow", pa.table({"id": hist.store_ids}))
        meta = {"cache_format": CACHE_FORMAT, "n_lines": hist.n_lines, "info": hist.info}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=str))
        try:
            os.rename(tmp, final)
        except OSError:
            if load(cache_dir, key) is not None:
                # Another process stored the same key first: theirs is equivalent.
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                # A damaged entry: replace it.
                shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load(cache_dir: Path, key: str) -> Histories | None:
    """Histories stored under ``key``, or ``None`` if absent or unreadable."""
    entry = cache_dir / key
    meta_path = entry / "meta.json"
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("cache_format") != CACHE_FORMAT:
            return None
        lines = _read_table(entry / "lines.arrow")
        customers = _read_table(entry / "customers.arrow")
        items = _read_table(entry / "items.arrow")
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
            basket_ids=(_read_table(entry / "baskets.arrow").column("id").combine_chunks()
                        if (entry / "baskets.arrow").exists() else None),
            store_ids=(_read_table(entry / "stores.arrow").column("id").combine_chunks()
                       if (entry / "stores.arrow").exists() else None),
            info=dict(meta["info"]),
        )
        hist.validate()
    except (OSError, ValueError, KeyError, pa.ArrowException, BasketguardError,
            InternalError):
        return None  # a damaged entry is rebuilt, never trusted
    return hist
