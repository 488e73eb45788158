"""engine.runner.memory: glibc keeps freed memory for the next shard, unless told not to."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import subprocess
import sys

import pytest

CODE = ("from basketguard.engine.runner.memory import keep_freed_memory as k; "
        "print(k(), k())")
glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")


def _run(**env) -> str:
    clean = {k: v for k, v in os.environ.items()
             if not (k.startswith("MALLOC_") or k == "BASKETGUARD_KEEP_FREED_MEMORY")}
    out = subprocess.run([sys.executable, "-c", CODE], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@glibc
def test_settings_take_effect_once_per_process():
    assert _run() == "True True"


@pytest.mark.parametrize("env", [{"BASKETGUARD_KEEP_FREED_MEMORY": "0"},
                                 {"MALLOC_ARENA_MAX_": "2"},
                                 {"MALLOC_TRIM_THRESHOLD_": "1000"}])
def test_opt_out_and_the_users_own_settings_win(env):
    assert _run(**env) == "False False"


KEPT = """
import ctypes, ctypes.util, sys
from basketguard.engine.runner.memory import keep_freed_memory
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = (ctypes.c_void_p,)
keep_freed_memory()
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = MallInfo2
block = libc.malloc(256 << 20)
libc.free(block)
print(libc.mallinfo2().fordblks >= 256 << 20)
"""


@glibc
@pytest.mark.parametrize(("env", "kept"), [({}, "True"),
                                           ({"BASKETGUARD_KEEP_FREED_MEMORY": "0"}, "False")])
def test_a_freed_large_block_stays_in_the_heap(env, kept):
    # Without the settings glibc maps a 256 MiB block on its own and unmaps it when
    # it is freed; with them it comes from the heap and stays there, free for reuse.
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("mallinfo2 needs glibc 2.33")
    clean = {k: v for k, v in os.environ.items()
             if not (k.startswith("MALLOC_") or k == "BASKETGUARD_KEEP_FREED_MEMORY")}
    out = subprocess.run([sys.executable, "-c", KEPT], env={**clean, **env},
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == kept
