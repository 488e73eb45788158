"""Keep freed memory in the process for the shard after shard builds of a sharded run.

A sharded build allocates about the same large arrays for every shard (its lines,
its sort, its histories) and frees them before the next. glibc serves each such
array with its own ``mmap`` and returns it with ``munmap`` when it is freed, so
every shard writes to fresh pages again, and fresh pages are expensive: the
kernel zeroes each one at its first write, and on the virtual machines measured
here that costs about a second per GiB (``clear_page_erms`` was 22 % of a
profile of a sharded scan). With ``mmap`` off for the process's allocations
and trimming off, freed arrays stay in the heap and the
next shard reuses them already mapped (docs/benchmarks.md, "Scale": the
313M-line scan in 3 shards took 47.4 and 51.8 s with 22.0 and 20.8 s of system
time, against 54.8 and 59.4 s with 26.9 and 29.9 s without; the 1B-line scan,
with the same settings given through glibc's environment variables, 242 -> 181
s, system time 145 -> 66 s). An in-memory build frees little
before it ends, and there the settings measured slower (104M lines: 17.7-18.1
s against 15.2-15.5 s), so only sharded builds ask for them.

:func:`keep_freed_memory` sets that through ``mallopt`` once per process. It does
nothing when the C library is not glibc, when ``BASKETGUARD_KEEP_FREED_MEMORY=0``,
or when the user tunes glibc's allocator through its own ``MALLOC_*`` environment
variables (theirs win). Peak memory is unchanged in kind: freed memory is
reused, not added to (the 313M-line scan peaked at 8.19 GiB without and 8.38-8.42
GiB with them; the 1B-line scan at 12.3 and 12.0 GiB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4
#: Extra heap grown at each extension (fewer, larger brk calls).
TOP_PAD = 256 << 20
_ENV = "BASKETGUARD_KEEP_FREED_MEMORY"

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse; True when the settings took effect.

    Idempotent and safe to call anywhere: returns False (changing nothing) when
    the C library is not glibc, when ``$BASKETGUARD_KEEP_FREED_MEMORY`` is ``0``,
    or when any ``MALLOC_*`` variable of glibc is set.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if os.environ.get(_ENV, "1").strip() == "0":
        return False
    if any(k.startswith("MALLOC_") and k.endswith("_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 (only glibc has it)
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # a trim threshold of -1 turns trimming off (mallopt(3))
    ok = (mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, -1) == 1
          and mallopt(_M_TOP_PAD, TOP_PAD) == 1)
    _done = bool(ok)
    return _done
