"""A simulated project shared by the out-of-core and Dask tests, and a detector trained on it."""

from __future__ import annotations

import os

import pytest

from basketguard.engine.api import load_histories
from basketguard.engine.cli.main import main
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.learn import load_detectors
from basketguard.models.simulator.run import SimConfig, simulate


@pytest.fixture(scope="session")
def population(tmp_path_factory):
    """(project, in-memory histories, a work folder); smaller without the JIT."""
    out = tmp_path_factory.mktemp("scale")
    customers = 150 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 1200
    # Seed 13: at 150 customers seed 11 leaves the pregnancy signature with no flag
    # to learn from (4 flagged here; 1200 customers have many more).
    res = simulate(SimConfig(customers=customers, seed=13), out / "data")
    project = load_project(res.paths["project"])
    return project, load_histories(project, use_cache=False), out


@pytest.fixture(scope="session")
def detectors(population):
    """A learned detector (LightGBM, from the pregnancy signature's flags), loaded."""
    project, _, out = population
    folder = out / "detector"
    assert main(["learn", str(project.path), "--no-cache", "--from-signature", "pregnancy",
                 "--name", "pregnancy_learned", "--out", str(folder), "--rounds", "20",
                 "--folds", "2"]) == 0
    return load_detectors([str(folder)])
