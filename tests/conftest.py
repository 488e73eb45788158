"""Shared fixtures and hypothesis profiles.

``pg_server`` is one real PostgreSQL server for the session
(:class:`tests.pgserver.PgServer`): skipped where the server binaries are
missing, failed under CI (``CI`` true), where ``.ci/run`` installs them.

Profiles (``HYPOTHESIS_PROFILE``): ``dev`` (default, 50 examples), ``ci``
(200 examples), ``nojit`` (the NUMBA_DISABLE_JIT pass: 25 examples) and a
derandomized ``repro``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from tests.pgserver import PgServer

_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, **_COMMON)
settings.register_profile("ci", max_examples=200, **_COMMON)
settings.register_profile("nojit", max_examples=25, **_COMMON)
settings.register_profile("repro", max_examples=200, derandomize=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") == "1"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261129)


@pytest.fixture
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"real datasets not found at {DATASETS} (../shared is absent)")
    return DATASETS


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> PgServer:
    """One PostgreSQL server for the session, stopped (and its folder removed) at its end.

    Tests share it: name their tables uniquely and drop them. A test that stops,
    kills or reconfigures a server starts its own ``PgServer``.
    """
    reason = PgServer.missing_reason()
    if reason:
        if _ci():
            pytest.fail(f"{reason} (.ci/run must install it)", pytrace=False)
        pytest.skip(reason)
    server = PgServer()
    request.addfinalizer(server.stop)
    return server.start()
