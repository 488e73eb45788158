"""Headless Chromium for the HTML report tests: find it, render a page, read the PNG.

Chromium comes from the Debian packages ``chromium`` and ``chromium-driver``
(``/usr/bin/chromium``). :func:`require_chromium` skips a test when it is
missing, except under CI (``CI`` set), where a missing browser fails the test:
``.ci/run`` must install it. Every run gets a fresh profile directory and no
network features, so a render depends on the page alone.

A screenshot is checked with the standard library only (:func:`read_png`):
valid chunks and checksums, the expected size, and not blank. A page whose
pixels are all equal has at most 10 distinct filtered scanlines (5 PNG filter
types, each giving one pattern for the first row and one for the others), so
many distinct scanlines mean the page drew something.
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import NamedTuple

import pytest

#: What .ci/run must run for these tests (Debian, as root).
INSTALL = "apt-get update && apt-get install -y chromium chromium-driver"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str | None:
    """Path of a Chromium binary (``BASKETGUARD_CHROMIUM`` first, then the PATH), or None."""
    given = os.environ.get("BASKETGUARD_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """The Chromium binary; skips the test without one, fails it under CI."""
    path = find_chromium()
    if path is not None:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"headless Chromium is not installed: .ci/run must install it ({INSTALL})",
                    pytrace=False)
    pytest.skip(f"headless Chromium not found (install it: {INSTALL})")


def run(binary: str, html: Path, *args: str, timeout: float = 120.0) -> tuple[str, float]:
    """Run headless Chromium on a local page; returns (stdout, seconds).

    Parameters
    ----------
    binary : str
    html : Path
        The page (opened as a ``file://`` URL).
    *args : str
        What to do (``--screenshot=PATH``, ``--dump-dom``, ``--window-size=W,H``).
    timeout : float
        Seconds before the browser (and only the process group it started) is killed.

    Returns
    -------
    (str, float)
        Standard output and wall time.
    """
    with tempfile.TemporaryDirectory(prefix="basketguard-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args,
               Path(html).resolve().as_uri()]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the group of the browser started here
            proc.communicate()
            raise AssertionError(f"Chromium did not finish within {timeout:g} s: {cmd}") from None
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise AssertionError(f"Chromium exited with {proc.returncode}: {cmd}\n{err[-2000:]}")
    return out, seconds


def screenshot(binary: str, html: Path, png: Path, *, width: int = 1280,
               height: int = 2400) -> float:
    """Render ``html`` into ``png`` (``width`` x ``height`` CSS pixels); returns seconds."""
    _, seconds = run(binary, html, f"--window-size={width},{height}", f"--screenshot={png}")
    if not png.is_file():
        raise AssertionError(f"Chromium wrote no screenshot at {png}")
    return seconds


def dump_dom(binary: str, html: Path) -> str:
    """The document after Chromium parsed and laid it out (``--dump-dom``)."""
    out, _ = run(binary, html, "--dump-dom")
    return out


class Png(NamedTuple):
    width: int
    height: int
    bit_depth: int
    color_type: int
    distinct_rows: int  #: distinct filtered scanlines (at most 10 for a uniform image)


def _chunks(data: bytes):
    if data[:8] != PNG_MAGIC:
        raise AssertionError("not a PNG file (bad signature)")
    pos = 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise AssertionError(f"PNG chunk {kind!r} at byte {pos} fails its CRC")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise AssertionError("PNG ends without IEND")


def read_png(path: Path) -> Png:
    """Size, format and distinct scanlines of a non-interlaced PNG (standard library only)."""
    header, idat = None, []
    for kind, body in _chunks(Path(path).read_bytes()):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    if header is None or not idat:
        raise AssertionError("PNG without IHDR or IDAT")
    width, height, depth, ctype, _, _, interlace = header
    if interlace:
        raise AssertionError("interlaced PNG: not expected from Chromium")
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    stride = 1 + (width * channels * depth + 7) // 8
    raw = zlib.decompress(b"".join(idat))
    if len(raw) != stride * height:
        raise AssertionError(f"PNG pixel data holds {len(raw)} bytes, not {stride * height}")
    rows = {raw[i * stride:(i + 1) * stride] for i in range(height)}
    return Png(width, height, depth, ctype, len(rows))


def recompress_png(path: Path) -> int:
    """Rewrite a PNG with its pixel data in one IDAT at zlib level 9 when that is smaller;
    returns the file's size."""
    before = Path(path).read_bytes()
    chunks = list(_chunks(before))
    pixels = zlib.compress(zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT")), 9)
    out = [PNG_MAGIC]
    for kind, body in chunks:
        if kind == b"IDAT":
            if pixels is None:
                continue
            body, pixels = pixels, None
        out.append(struct.pack(">I", len(body)) + kind + body
                   + struct.pack(">I", zlib.crc32(kind + body)))
    data = b"".join(out)
    if len(data) < len(before):
        Path(path).write_bytes(data)
    return min(len(data), len(before))
