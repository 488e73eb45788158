"""Machine facts recorded with every benchmark (CPU, memory, load, library versions)."""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path

_LIBRARIES = ("numpy", "numba", "pyarrow", "duckdb", "polars")


def machine_facts(*extra: str) -> dict:
    """CPU model and count, memory, load averages and the versions of the peers.

    Parameters
    ----------
    *extra : str
        Further modules whose ``__version__`` to record (missing ones give None).
    """
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts = {"cpus": os.cpu_count(), "cpu": cpu,
             "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                 / 2**30, 1),
             "load_avg": [round(x, 2) for x in os.getloadavg()],
             "python": platform.python_version()}
    for name in (*_LIBRARIES, *extra):
        try:
            facts[name] = getattr(importlib.import_module(name), "__version__", None)
        except ImportError:
            facts[name] = None
    import numba

    facts["numba_threads"] = numba.get_num_threads()
    return facts
