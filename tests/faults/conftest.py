"""Fixtures of the fault suite: small projects copied into each case's scratch folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from basketguard.models.simulator.run import SimConfig, simulate

#: Distinctive customer ids: any leak into an output or a message shows.
IDS = ("cust-7f3a9", "cust-b81e0", "cust-004c2")

LINES = "\n".join([
    "order,shopper,sku,at,qty",
    f"o1,{IDS[0]},milk,2024-03-01 09:00:00,1",
    f"o1,{IDS[0]},bread,2024-03-01 09:00:00,2",
    f"o2,{IDS[1]},milk,2024-03-02 10:00:00,1",
    f"o3,{IDS[2]},beer,2024-03-03 11:00:00,6",
    f"o4,{IDS[2]},beer,2024-03-09 11:00:00,3",
]) + "\n"

SHOP = """[project]
name = "shop"
[lines]
source = "lines.csv"
[lines.columns]
customer = "shopper"
item = "sku"
time = "at"
basket = "order"
quantity = "qty"
"""


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A tiny CSV project (``shop.toml`` + ``lines.csv``) in the case's folder."""
    (tmp_path / "lines.csv").write_text(LINES)
    (tmp_path / "shop.toml").write_text(SHOP)
    return tmp_path


@pytest.fixture(scope="session")
def _synth_master(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults-synth")
    simulate(SimConfig(customers=600, seed=21), out / "synth")
    return out / "synth"


@pytest.fixture
def synth(tmp_path: Path, _synth_master: Path) -> Path:
    """A copy of a small simulated project (``synth/project.toml``, lines, catalog,
    customers, truth) in the case's folder; returns the case folder."""
    shutil.copytree(_synth_master, tmp_path / "synth")
    return tmp_path
