"""Per-entity roles (catalog, customers, ...) read as tables."""

from __future__ import annotations

import pyarrow as pa
import pytest

from basketguard.engine.api import load_histories, profile
from basketguard.engine.config.project import load_project, project_from_dict
from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.io.tables import catalog_coverage, read_role
from tests.conftest import REPO

TINY = REPO / "examples" / "tiny.toml"


def test_catalog_is_read_with_canonical_names():
    table = read_role(load_project(TINY), "catalog")
    assert table.column_names == ["item", "name", "department", "category"]
    assert table.num_rows == 11
    assert "unscented lotion" in table.column("item").to_pylist()


def test_profile_reports_catalog_coverage(cache_dir):
    prof = profile(TINY, cache_dir=cache_dir)
    # "sugar-free cola" is bought but not listed.
    assert prof["catalog"] == {"catalog_items": 11, "items_in_catalog": 11, "items_missing": 1}


def test_missing_role_is_a_config_error():
    with pytest.raises(ConfigError, match=r"\[customers\]"):
        read_role(load_project(TINY), "customers")


def _csv_project(tmp_path, catalog_text: str):
    (tmp_path / "lines.csv").write_text("c,i,t\n1,10,2024-01-01\n2,11,2024-01-02\n")
    (tmp_path / "catalog.csv").write_text(catalog_text)
    return project_from_dict({
        "lines": {"source": "lines.csv", "columns": {"customer": "c", "item": "i", "time": "t"}},
        "catalog": {"source": "catalog.csv", "types": {"item_id": "int64"},
                    "columns": {"item": "item_id", "name": "label"}},
    }, base_dir=tmp_path)


def test_null_catalog_id_names_the_column(tmp_path):
    project = _csv_project(tmp_path, "item_id,label\n10,ten\n,nothing\n")
    with pytest.raises(DataError, match="item_id"):
        read_role(project, "catalog")


def test_integral_float_ids_become_integers(tmp_path):
    project = _csv_project(tmp_path, "item_id,label\n10,ten\n11,eleven\n")
    table = read_role(project, "catalog")
    assert table.column("item").type == pa.int64()


def test_coverage_needs_ids_of_the_same_kind(tmp_path, cache_dir):
    project = _csv_project(tmp_path, "item_id,label\n10,ten\n")
    hist = load_histories(project, cache_dir=cache_dir)  # CSV ids are text by default
    with pytest.raises(SchemaError, match="same kind"):
        catalog_coverage(read_role(project, "catalog"), hist.item_ids)


def test_coverage_counts_matches():
    catalog = pa.table({"item": pa.array([1, 2, 2, 5])})
    got = catalog_coverage(catalog, pa.array([1, 3, 5, 7]))
    assert got == {"catalog_items": 3, "items_in_catalog": 2, "items_missing": 2}


@pytest.mark.jit
def test_simulator_roles_read_back(tmp_path):
    from basketguard.models.simulator.run import SimConfig, simulate

    result = simulate(SimConfig(customers=200, seed=3), tmp_path / "sim")
    project = load_project(result.paths["project"])
    customers = read_role(project, "customers")
    assert customers.column_names[0] == "customer"
    assert "age_band" in customers.column_names and customers.num_rows == 200
    catalog = read_role(project, "catalog")
    hist = load_histories(project, use_cache=False)
    cov = catalog_coverage(catalog, hist.item_ids)
    assert cov["items_missing"] == 0 and cov["items_in_catalog"] == hist.n_items
