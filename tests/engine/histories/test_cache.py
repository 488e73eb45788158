"""The histories cache: hits are identical, anything that shapes the histories
misses, damaged entries are never trusted (every file is checked against the
size and digest recorded when it was written) and are rebuilt with a note
naming the file, and a cache problem never fails a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import xxhash

from basketguard.engine.api import load_histories
from basketguard.engine.cli.main import main
from basketguard.engine.config.project import load_project
from basketguard.engine.histories import cache
from basketguard.engine.io.sources import open_source

ROWS = """basket,customer,item,time,qty,price,country
b1,c1,i1,2024-03-01 10:00:00,1,1.5,FR
b1,c1,i2,2024-03-01 10:00:00,2,0.5,FR
b1,c1,i2,2024-03-01 10:00:00,2,0.5,FR
b2,c2,i1,2024-03-02 11:00:00,1,1.5,DE
b3,c2,i3,2024-03-05 09:00:00,-1,3.0,DE
b4,,i3,2024-03-06 09:00:00,1,3.0,DE
b5,c3,i2,2024-02-28 23:00:00,4,0.5,UK
"""

PROJECT = """# a comment
[project]
name = "{name}"

[lines]
source = "data/lines.csv"
{extra}
[lines.columns]
basket = "basket"
customer = "customer"
item = "item"
time = "time"
quantity = "{quantity}"
price = "price"
{validation}
"""


def _write(base: Path, name: str = "shop", extra: str = "", quantity: str = "qty",
           validation: str = "", rows: str | None = None) -> Path:
    (base / "data").mkdir(exist_ok=True)
    if rows is not None or not (base / "data" / "lines.csv").exists():
        (base / "data" / "lines.csv").write_text(rows or ROWS)
    path = base / "project.toml"
    section = f"[validation]\n{validation}" if validation else ""
    path.write_text(PROJECT.format(name=name, extra=extra, quantity=quantity,
                                   validation=section))
    return path


def _entries(cache_dir: Path) -> list[str]:
    return sorted(p.name for p in cache_dir.iterdir()) if cache_dir.exists() else []


def _assert_same(a, b) -> None:
    for name in ("offsets", "item", "day", "basket", "quantity", "price"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert a.store is None and b.store is None
    assert a.customer_ids.equals(b.customer_ids)
    assert a.item_ids.equals(b.item_ids)
    assert a.basket_ids.equals(b.basket_ids)
    assert a.info["dropped"] == b.info["dropped"]
    assert a.info["duplicates_found"] == b.info["duplicates_found"]


def test_second_load_is_a_hit_and_identical(tmp_path, cache_dir):
    project = _write(tmp_path)
    first = load_histories(project, cache_dir=cache_dir)
    second = load_histories(project, cache_dir=cache_dir)
    assert first.info["cache"] == "stored"
    assert second.info["cache"] == "hit"
    _assert_same(first, second)
    fresh = load_histories(project, use_cache=False)
    _assert_same(fresh, second)
    assert fresh.info["cache"] == "off"
    (entry,) = _entries(cache_dir)
    assert sorted(p.name for p in (cache_dir / entry).iterdir()) == [
        "baskets.arrow", "customers.arrow", "items.arrow", "lines.arrow", "meta.json"]


def test_the_cache_holds_no_partial_or_temporary_entries(tmp_path, cache_dir):
    load_histories(_write(tmp_path), cache_dir=cache_dir)
    assert [n for n in _entries(cache_dir) if n.startswith(".")] == []


def _touch(base: Path) -> None:
    path = base / "data" / "lines.csv"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def _append(base: Path) -> None:
    with open(base / "data" / "lines.csv", "a") as fh:
        fh.write("b6,c3,i1,2024-03-07 10:00:00,1,1.5,UK\n")


def _same_size_edit(base: Path) -> None:
    path = base / "data" / "lines.csv"
    st = path.stat()
    path.write_text(ROWS.replace("c3,i2", "c4,i2"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime...
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # ...but for one ns


#: (id, change made between two loads, whether the second load may reuse the entry).
CHANGES = [
    ("touch_source", lambda b: _touch(b), False),
    ("append_to_source", lambda b: _append(b), False),
    ("same_size_edit", lambda b: _same_size_edit(b), False),
    ("change_mapping", lambda b: _write(b, quantity="price"), False),
    ("add_filter", lambda b: _write(b, extra='filter = "country != \'UK\'"'), False),
    ("change_filter", None, False),
    ("change_types", lambda b: _write(b, extra='types = { qty = "int64" }'), False),
    ("change_time_zone", lambda b: _write(b, extra='time_zone = "Europe/Paris"'), False),
    ("change_validation", lambda b: _write(b, validation='duplicate = "keep"'), False),
    ("rename_project", lambda b: _write(b, name="other name"), True),
    ("add_catalog_role", lambda b: (b / "project.toml").write_text(
        (b / "project.toml").read_text()
        + '\n[catalog]\nsource = "c.csv"\n[catalog.columns]\nitem = "i"\n'), True),
    ("rewrite_project_file_unchanged", lambda b: _write(b), True),
    ("nothing", lambda b: None, True),
]


@pytest.mark.parametrize(("change", "reused"), [pytest.param(c, r, id=i) for i, c, r in CHANGES])
def test_what_invalidates_the_cache(tmp_path, cache_dir, change, reused):
    if change is None:  # change_filter: from one filter to another
        _write(tmp_path, extra='filter = "country != \'UK\'"')
        load_histories(tmp_path / "project.toml", cache_dir=cache_dir)

        def change(b):
            return _write(b, extra='filter = "country != \'DE\'"')
    else:
        load_histories(_write(tmp_path), cache_dir=cache_dir)
    before = _entries(cache_dir)
    change(tmp_path)
    again = load_histories(tmp_path / "project.toml", cache_dir=cache_dir)
    assert again.info["cache"] == ("hit" if reused else "stored")
    assert (_entries(cache_dir) == before) is reused
    _assert_same(again, load_histories(tmp_path / "project.toml", use_cache=False))


def test_strict_has_its_own_entry(tmp_path, cache_dir):
    project = _write(tmp_path, rows="basket,customer,item,time,qty,price,country\n"
                                    "b1,c1,i1,2024-03-01 10:00:00,1,1.5,FR\n")
    assert load_histories(project, cache_dir=cache_dir).info["cache"] == "stored"
    assert load_histories(project, cache_dir=cache_dir, strict=True).info["cache"] == "stored"
    assert len(_entries(cache_dir)) == 2


def test_fingerprint_is_stable_and_sensitive(tmp_path):
    spec = load_project(_write(tmp_path)).lines
    policy = load_project(tmp_path / "project.toml").validation
    key = cache.fingerprint(spec, open_source(spec), policy)
    assert key == cache.fingerprint(spec, open_source(spec), policy)
    assert key != cache.fingerprint(spec, open_source(spec), policy.strict())
    assert len(key) == 32 and int(key, 16) >= 0


@pytest.mark.parametrize("how", ["api", "cli"])
def test_no_cache_writes_nothing(tmp_path, cache_dir, monkeypatch, how):
    monkeypatch.setenv("BASKETGUARD_CACHE", str(tmp_path / "env-cache"))
    project = _write(tmp_path)
    if how == "api":
        assert load_histories(project, use_cache=False, cache_dir=cache_dir).info["cache"] == "off"
    else:
        assert main(["profile", str(project), "--no-cache", "--cache-dir", str(cache_dir)]) == 0
    assert not cache_dir.exists()
    assert not (tmp_path / "env-cache").exists()


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BASKETGUARD_CACHE", str(tmp_path / "env-cache"))
    assert cache.default_cache_dir() == tmp_path / "env-cache"
    load_histories(_write(tmp_path))
    assert len(_entries(tmp_path / "env-cache")) == 1
    monkeypatch.delenv("BASKETGUARD_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_cache_dir() == tmp_path / "xdg" / "basketguard"


def _corrupt(entry: Path, how: str) -> None:
    if how == "garbage_lines":
        (entry / "lines.arrow").write_bytes(b"garbage")
    elif how == "truncated_customers":
        data = (entry / "customers.arrow").read_bytes()
        (entry / "customers.arrow").write_bytes(data[: len(data) // 2])
    elif how == "missing_items":
        (entry / "items.arrow").unlink()
    elif how == "bad_json":
        (entry / "meta.json").write_text("{not json")
    elif how == "missing_meta":
        (entry / "meta.json").unlink()
    elif how == "other_format":
        meta = json.loads((entry / "meta.json").read_text())
        meta["cache_format"] = -1
        (entry / "meta.json").write_text(json.dumps(meta))
    elif how == "wrong_line_count":
        meta = json.loads((entry / "meta.json").read_text())
        meta["n_lines"] += 3
        (entry / "meta.json").write_text(json.dumps(meta))
    elif how == "meta_without_info":
        meta = json.loads((entry / "meta.json").read_text())
        del meta["info"]
        (entry / "meta.json").write_text(json.dumps(meta))
    elif how == "flipped_bit_in_lines":
        _flip(entry / "lines.arrow", (entry / "lines.arrow").stat().st_size // 2)
    elif how == "flipped_bit_in_baskets":
        _flip(entry / "baskets.arrow", (entry / "baskets.arrow").stat().st_size - 1)
    elif how == "items_swapped_for_baskets":
        (entry / "items.arrow").write_bytes((entry / "baskets.arrow").read_bytes())
    elif how == "lines_is_a_folder":
        (entry / "lines.arrow").unlink()
        (entry / "lines.arrow").mkdir()
    elif how == "meta_is_a_list":
        (entry / "meta.json").write_text("[1, 2]")
    else:
        raise AssertionError(how)


def _flip(path: Path, at: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1 << bit
    path.write_bytes(bytes(data))


#: (damage, the file the note names)
NAMED = {"garbage_lines": "lines.arrow", "truncated_customers": "customers.arrow",
         "missing_items": "items.arrow", "bad_json": "meta.json", "missing_meta": "meta.json",
         "other_format": "meta.json", "wrong_line_count": "meta.json",
         "meta_without_info": "meta.json", "flipped_bit_in_lines": "lines.arrow",
         "flipped_bit_in_baskets": "baskets.arrow", "items_swapped_for_baskets": "items.arrow",
         "lines_is_a_folder": "lines.arrow", "meta_is_a_list": "meta.json"}
CORRUPTIONS = list(NAMED)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupted_entry_is_never_trusted(tmp_path, cache_dir, how):
    project = _write(tmp_path)
    first = load_histories(project, cache_dir=cache_dir)
    (entry,) = _entries(cache_dir)
    _corrupt(cache_dir / entry, how)
    assert cache.load(cache_dir, entry) is None
    hist, note = cache.lookup(cache_dir, entry)
    assert hist is None and str(cache_dir / entry / NAMED[how]) in note
    rebuilt = load_histories(project, cache_dir=cache_dir)
    assert rebuilt.info["cache"] == "stored"
    assert rebuilt.info["cache_note"] == f"{note}; rebuilt the histories from the source"
    _assert_same(first, rebuilt)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_corrupted_entry_is_replaced(tmp_path, cache_dir, how):
    project = _write(tmp_path)
    load_histories(project, cache_dir=cache_dir)
    (entry,) = _entries(cache_dir)
    _corrupt(cache_dir / entry, how)
    load_histories(project, cache_dir=cache_dir)
    again = load_histories(project, cache_dir=cache_dir)
    assert again.info["cache"] == "hit"
    assert "cache_note" not in again.info  # the note was this run's, not stored in the entry
    assert _entries(cache_dir) == [entry]  # no temporary or damaged folder left behind


def test_absent_entry_is_a_silent_miss(tmp_path, cache_dir):
    assert cache.lookup(cache_dir, "0123abcd") == (None, None)
    hist = load_histories(_write(tmp_path), cache_dir=cache_dir)
    assert hist.info["cache"] == "stored" and "cache_note" not in hist.info


def test_meta_records_size_and_digest_of_every_file(tmp_path, cache_dir):
    load_histories(_write(tmp_path), cache_dir=cache_dir)
    (entry,) = _entries(cache_dir)
    meta = json.loads((cache_dir / entry / "meta.json").read_text())
    files = sorted(p.name for p in (cache_dir / entry).iterdir() if p.suffix == ".arrow")
    assert sorted(meta["files"]) == files
    for name, rec in meta["files"].items():
        data = (cache_dir / entry / name).read_bytes()
        assert rec == {"bytes": len(data), cache.DIGEST: xxhash.xxh3_128_hexdigest(data)}
    assert meta["checksum"] == cache._meta_digest(meta)


def test_every_flipped_bit_is_caught(tmp_path, cache_dir):
    """One flipped bit anywhere in any file of an entry (here every 5th byte, rotating
    bits) makes the entry untrusted, with a note naming that file."""
    load_histories(_write(tmp_path), cache_dir=cache_dir)
    (key,) = _entries(cache_dir)
    entry = cache_dir / key
    for path in sorted(entry.iterdir()):
        pristine = path.read_bytes()
        for at in range(0, len(pristine), 5):
            _flip(path, at, at % 8)
            hist, note = cache.lookup(cache_dir, key)
            assert hist is None and note is not None and str(path) in note, (path.name, at)
            path.write_bytes(pristine)
    assert cache.lookup(cache_dir, key)[0] is not None


def test_cli_shows_the_note_on_stderr(tmp_path, cache_dir, capsys):
    project = _write(tmp_path)
    assert main(["profile", str(project), "--json", "--cache-dir", str(cache_dir)]) == 0
    expected = capsys.readouterr().out
    (entry,) = _entries(cache_dir)
    _corrupt(cache_dir / entry, "flipped_bit_in_lines")
    assert main(["profile", str(project), "--json", "--cache-dir", str(cache_dir)]) == 0
    out, err = capsys.readouterr()
    assert out == expected
    assert err.startswith("basketguard: note: cache entry ")
    assert str(cache_dir / entry / "lines.arrow") in err and err.count("\n") == 1
    assert main(["profile", str(project), "--json", "--cache-dir", str(cache_dir)]) == 0
    assert capsys.readouterr() == (expected, "")


def test_read_only_cache_dir_does_not_fail_the_run(tmp_path, cache_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.tempfile, "mkdtemp", refuse)
    hist = load_histories(_write(tmp_path), cache_dir=cache_dir)
    assert hist.info["cache"] == "not stored: Permission denied"
    assert _entries(cache_dir) == []
    assert hist.n_lines == 4


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permission bits do not bind root")
def test_read_only_cache_dir_by_permissions(tmp_path, cache_dir):
    cache_dir.mkdir()
    cache_dir.chmod(0o500)
    try:
        hist = load_histories(_write(tmp_path), cache_dir=cache_dir)
    finally:
        cache_dir.chmod(0o700)
    assert hist.info["cache"].startswith("not stored")


def test_cache_dir_that_is_a_file_does_not_fail_the_run(tmp_path):
    blocker = tmp_path / "cache-file"
    blocker.write_text("not a folder")
    hist = load_histories(_write(tmp_path), cache_dir=blocker)
    assert hist.info["cache"].startswith("not stored")
    assert blocker.read_text() == "not a folder"


def test_read_only_cache_still_serves_hits(tmp_path, cache_dir, monkeypatch):
    project = _write(tmp_path)
    load_histories(project, cache_dir=cache_dir)
    monkeypatch.setattr(cache.tempfile, "mkdtemp",
                        lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "denied")))
    assert load_histories(project, cache_dir=cache_dir).info["cache"] == "hit"


def _failing_writer(monkeypatch, fail_on: int, error: BaseException) -> None:
    real = cache._write_table
    calls = {"n": 0}

    def writer(path, table):
        calls["n"] += 1
        if calls["n"] == fail_on:
            real(path, table.slice(0, 1))  # a partial file is on disk when it fails
            raise error
        real(path, table)

    monkeypatch.setattr(cache, "_write_table", writer)


@pytest.mark.parametrize("fail_on", [1, 2, 4], ids=["lines", "customers", "baskets"])
def test_failed_write_leaves_no_entry_and_the_run_goes_on(tmp_path, cache_dir, monkeypatch,
                                                          fail_on):
    _failing_writer(monkeypatch, fail_on, OSError(28, "No space left on device"))
    project = _write(tmp_path)
    hist = load_histories(project, cache_dir=cache_dir)
    assert hist.info["cache"] == "not stored: No space left on device"
    assert _entries(cache_dir) == []  # neither the entry nor its temporary folder
    monkeypatch.undo()
    assert load_histories(project, cache_dir=cache_dir).info["cache"] == "stored"


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()],
                         ids=["exception", "interrupt"])
def test_save_is_atomic_when_interrupted(tmp_path, cache_dir, monkeypatch, error):
    hist = load_histories(_write(tmp_path), use_cache=False)
    _failing_writer(monkeypatch, 3, error)
    with pytest.raises(type(error)):
        cache.save(hist, cache_dir, "0123abcd")
    assert _entries(cache_dir) == []
    assert cache.load(cache_dir, "0123abcd") is None


def test_meta_write_failure_leaves_no_entry(tmp_path, cache_dir, monkeypatch):
    hist = load_histories(_write(tmp_path), use_cache=False)
    real = Path.write_text

    def failing(self, *args, **kwargs):
        if self.name == "meta.json":
            raise OSError(5, "Input/output error")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError):
        cache.save(hist, cache_dir, "0123abcd")
    assert _entries(cache_dir) == []


def test_concurrent_store_of_the_same_key_keeps_the_first(tmp_path, cache_dir):
    project = _write(tmp_path)
    hist = load_histories(project, use_cache=False)
    first = cache.save(hist, cache_dir, "k")
    marker = first / "meta.json"
    before = marker.read_text()
    assert cache.save(hist, cache_dir, "k") == first
    assert marker.read_text() == before
    assert _entries(cache_dir) == ["k"]


def test_an_unchanged_file_is_hashed_once_per_process(tmp_path, cache_dir, monkeypatch):
    """A settled entry read again unchanged is not hashed again; a write to one of its
    files (same size, mtime put back) is caught on the next read."""
    load_histories(_write(tmp_path), cache_dir=cache_dir)
    (key,) = _entries(cache_dir)
    monkeypatch.setattr(cache, "_VERIFIED", {})
    monkeypatch.setattr(cache, "_SETTLED_NS", 0)  # the entry was just written
    hashed = []
    real = cache._digest
    monkeypatch.setattr(cache, "_digest", lambda data: hashed.append(1) or real(data))
    assert cache.lookup(cache_dir, key)[0] is not None
    first = len(hashed)
    assert first > 1  # meta.json and every table
    assert cache.lookup(cache_dir, key)[0] is not None
    assert len(hashed) == first + 1  # only meta.json's own checksum again

    path = cache_dir / key / "lines.arrow"
    st = os.stat(path)
    _flip(path, st.st_size // 2, 3)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    hist, note = cache.lookup(cache_dir, key)
    assert hist is None and str(path) in note


def test_a_file_changed_just_now_is_not_remembered(tmp_path, cache_dir, monkeypatch):
    """Within the settling time a file is verified on every read (a coarse file-system
    clock could keep the ctime of a write in the same tick)."""
    load_histories(_write(tmp_path), cache_dir=cache_dir)
    (key,) = _entries(cache_dir)
    monkeypatch.setattr(cache, "_VERIFIED", {})
    monkeypatch.setattr(cache, "_SETTLED_NS", 3600 * 10**9)
    assert cache.lookup(cache_dir, key)[0] is not None
    assert cache._VERIFIED == {}
