"""The project file: TOML -> frozen, validated dataclasses, or a ConfigError that
names the file and the key."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from basketguard.engine.config.project import (
    Project,
    SourceSpec,
    ValidationPolicy,
    infer_format,
    load_project,
    project_from_dict,
)
from basketguard.engine.errors import ConfigError
from tests.conftest import REPO

LINES = """
[lines]
source = "data/lines.csv"
[lines.columns]
customer = "c"
item = "i"
time = "t"
"""


def _write(tmp_path: Path, text: str, name: str = "project.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _lines(**extra) -> dict:
    table = {"source": "lines.csv", "columns": {"customer": "c", "item": "i", "time": "t"}}
    table.update(extra)
    return table


# --- what loads ----------------------------------------------------------------


def test_minimal_project_loads_with_defaults(tmp_path):
    project = load_project(_write(tmp_path, LINES))
    assert project.name == "project"  # the file's stem
    assert project.lines.format == "csv"
    assert project.lines.columns == {"customer": "c", "item": "i", "time": "t"}
    assert project.lines.filter is None
    assert project.lines.time_zone == "UTC"
    assert project.lines.delimiter == ","
    assert project.validation == ValidationPolicy()
    assert project.source("catalog") is None
    assert project.lines.origin == f"{tmp_path / 'project.toml'} [lines]"


def test_full_project_loads(tmp_path):
    text = """
[project]
name = "shop"
description = "all roles"

[lines]
source = "lines.parquet"
filter = "qty > 0 and not starts_with(basket, 'C')"
time_format = "%d/%m/%Y %H:%M"
time_zone = "Europe/Paris"
types = { c = "string" }
[lines.columns]
customer = "c"
item = "i"
time = "t"
basket = "basket"
quantity = "qty"
price = "p"
store = "st"

[catalog]
source = "catalog.csv"
delimiter = ";"
[catalog.columns]
item = "i"
name = "label"
levels = ["dept", "aisle"]

[customers]
source = "shop.duckdb"
table = "customers"
[customers.columns]
customer = "c"
attributes = ["age", "region"]
labels = ["pregnant"]

[segment]
source = "segment.parquet"
[segment.columns]
customer = "c"

[truth]
source = "truth.csv"

[validation]
null_id = "error"
bad_time = "drop"
non_positive_quantity = "error"
duplicate = "keep"
"""
    project = load_project(_write(tmp_path, text))
    assert project.name == "shop"
    assert set(project.sources) == {"lines", "catalog", "customers", "segment", "truth"}
    assert project.lines.filter.columns == ("basket", "qty")
    assert project.lines.time_zone == "Europe/Paris"
    assert project.lines.types == {"c": "string"}
    assert project.source("catalog").lists == {"levels": ("dept", "aisle")}
    assert project.source("catalog").delimiter == ";"
    assert project.source("customers").format == "duckdb"
    assert project.source("customers").table == "customers"
    assert project.source("customers").lists == {"attributes": ("age", "region"),
                                                 "labels": ("pregnant",)}
    assert project.validation == ValidationPolicy("error", "drop", "error", "keep")


@pytest.mark.parametrize("example", ["tiny.toml", "online_retail.toml"])
def test_examples_load(example):
    project = load_project(REPO / "examples" / example)
    assert project.lines.format == "csv"
    assert {"customer", "item", "time"} <= set(project.lines.columns)


def test_loaded_project_is_frozen(tmp_path):
    project = load_project(_write(tmp_path, LINES))
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.lines.location = "elsewhere.csv"
    with pytest.raises(dataclasses.FrozenInstanceError):
        project.validation.duplicate = "keep"


def test_describe_is_json_able_and_has_the_resolved_path(tmp_path):
    import json

    spec = load_project(_write(tmp_path, LINES)).lines
    doc = json.loads(json.dumps(spec.describe()))
    assert doc["location"] == str(tmp_path / "data" / "lines.csv")
    assert doc["columns"] == {"customer": "c", "item": "i", "time": "t"}


# --- relative paths ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("data/lines.csv", "proj/data/lines.csv", id="relative"),
        pytest.param("./lines.csv", "proj/lines.csv", id="dot"),
        pytest.param("../shared/lines.csv", "shared/lines.csv", id="parent_normalized"),
        pytest.param("data/*.csv", "proj/data/*.csv", id="glob_unexpanded"),
    ],
)
def test_relative_paths_resolve_against_the_project_folder(tmp_path, monkeypatch, source,
                                                          expected):
    folder = tmp_path / "proj"
    folder.mkdir()
    path = _write(folder, LINES.replace('"data/lines.csv"', f'"{source}"'))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    # Loaded through a path relative to the working folder, too.
    spec = load_project(Path("..") / "proj" / "project.toml").lines
    assert spec.path == tmp_path / expected
    assert spec.base_dir == folder.resolve()
    assert load_project(path).lines.path == tmp_path / expected


def test_absolute_and_home_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    absolute = load_project(_write(tmp_path, LINES.replace('"data/lines.csv"',
                                                           f'"{tmp_path}/x/l.csv"')))
    assert absolute.lines.path == tmp_path / "x" / "l.csv"
    home = load_project(_write(tmp_path, LINES.replace('"data/lines.csv"', '"~/l.csv"'),
                               name="home.toml"))
    assert home.lines.path == tmp_path / "home" / "l.csv"


# --- formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        pytest.param("a.parquet", "parquet", id="parquet"),
        pytest.param("a.pq", "parquet", id="pq"),
        pytest.param("A.PARQUET", "parquet", id="upper_case"),
        pytest.param("a.csv", "csv", id="csv"),
        pytest.param("a.csv.gz", "csv", id="csv_gz"),
        pytest.param("a.tsv.bz2", "csv", id="tsv_bz2"),
        pytest.param("a.arrow", "ipc", id="arrow"),
        pytest.param("a.feather", "ipc", id="feather"),
        pytest.param("shop.duckdb", "duckdb", id="duckdb"),
        pytest.param("data/*.parquet", "parquet", id="glob"),
        pytest.param("a.xlsx", None, id="unknown_must_not_guess"),
        pytest.param("a.gz", None, id="bare_gz_must_not_guess"),
        pytest.param("folder", None, id="no_suffix"),
    ],
)
def test_infer_format(location, expected):
    assert infer_format(location) == expected


def test_format_of_a_folder_comes_from_its_files(tmp_path):
    (tmp_path / "lines" / "year=2024").mkdir(parents=True)
    (tmp_path / "lines" / "_SUCCESS").write_text("")
    (tmp_path / "lines" / "year=2024" / "part-0.parquet").write_bytes(b"x")
    project = project_from_dict({"lines": _lines(source="lines", partitioning="hive")},
                                base_dir=tmp_path)
    assert project.lines.format == "parquet"
    assert project.lines.partitioning == "hive"


def test_explicit_format_wins_over_the_extension(tmp_path):
    project = project_from_dict({"lines": _lines(source="dump.txt", format="csv",
                                                 delimiter="|")}, base_dir=tmp_path)
    assert project.lines.format == "csv" and project.lines.delimiter == "|"


# --- mistakes --------------------------------------------------------------------------

#: (id, parsed TOML document, parts the message must contain). Each must raise.
BAD_DOCS = [
    ("unknown_top_key", {"line": _lines()}, ["unknown key 'line'", "Did you mean 'lines'?"]),
    ("unknown_source_key", {"lines": _lines(filtr="x > 0")},
     ["unknown key lines.'filtr'", "Did you mean 'filter'?", "Allowed keys here:"]),
    ("unknown_column_role", {"lines": _lines(columns={"customer": "c", "item": "i",
                                                      "time": "t", "quantty": "q"})},
     ["lines.columns.'quantty'", "Did you mean 'quantity'?"]),
    ("unknown_validation_key", {"lines": _lines(), "validation": {"duplicates": "keep"}},
     ["validation.'duplicates'", "Did you mean 'duplicate'?"]),
    ("unknown_project_key", {"project": {"nme": "x"}, "lines": _lines()},
     ["project.'nme'", "Did you mean 'name'?"]),
    ("missing_lines", {"project": {"name": "x"}}, ["no [lines] table"]),
    ("missing_lines_with_other_roles", {"catalog": {"source": "c.csv",
                                                    "columns": {"item": "i"}}},
     ["no [lines] table"]),
    ("missing_time_role", {"lines": _lines(columns={"customer": "c", "item": "i"})},
     ["'time' role is not mapped", "[lines.columns]"]),
    ("missing_catalog_item", {"lines": _lines(), "catalog": {"source": "c.csv",
                                                             "columns": {"name": "n"}}},
     ["[catalog]", "'item' role is not mapped"]),
    ("no_columns_at_all", {"lines": {"source": "l.csv"}}, ["'customer' role is not mapped"]),
    ("lines_not_a_table", {"lines": "l.csv"}, ["[lines]", "expected a table"]),
    ("project_not_a_table", {"project": "x", "lines": _lines()}, ["[project] must be a table"]),
    ("validation_not_a_table", {"lines": _lines(), "validation": "strict"},
     ["[validation] must be a table"]),
    ("source_missing", {"lines": {"columns": {"customer": "c"}}}, ["no `source`"]),
    ("source_empty", {"lines": _lines(source="  ")}, ["`source` is empty"]),
    ("source_number", {"lines": _lines(source=3)}, ["`source` must be a string", "int 3"]),
    # A list is not "missing": it is named, and a glob is proposed instead.
    ("source_list", {"lines": _lines(source=["a.csv", "b.csv"])},
     ["`source` is a list ('a.csv', 'b.csv')", "a glob such as 'data/*.csv'"]),
    ("source_without_extension_missing", {"lines": _lines(source="nowhere")},
     ["nowhere' does not exist"]),
    ("time_format_unknown_directive", {"lines": _lines(time_format="%Y-%m-%d %Q")},
     ["time_format '%Y-%m-%d %Q'", "%Q, which is not a strptime directive"]),
    ("time_format_without_directive", {"lines": _lines(time_format="YYYY-MM-DD")},
     ["time_format 'YYYY-MM-DD'", "has no % directive"]),
    ("time_format_trailing_percent", {"lines": _lines(time_format="%Y-%m-%")},
     ["time_format '%Y-%m-%'", "at its end"]),
    ("time_format_iso_week_alone", {"lines": _lines(time_format="%G-%m")},
     ["time_format '%G-%m'", "cannot read back"]),
    ("columns_not_table", {"lines": _lines(columns=["c", "i", "t"])},
     ["`columns` must be a table"]),
    ("column_number", {"lines": _lines(columns={"customer": 5, "item": "i", "time": "t"})},
     ["`columns.customer` must be a column name"]),
    ("column_empty", {"lines": _lines(columns={"customer": "", "item": "i", "time": "t"})},
     ["`columns.customer` must be a column name"]),
    ("list_role_as_string", {"lines": _lines(), "catalog": {
        "source": "c.csv", "columns": {"item": "i", "levels": "dept"}}},
     ["`columns.levels` must be a list"]),
    ("list_role_with_number", {"lines": _lines(), "customers": {
        "source": "c.csv", "columns": {"customer": "c", "labels": ["a", 1]}}},
     ["`columns.labels` must be a list"]),
    ("list_key_in_wrong_role", {"lines": _lines(columns={
        "customer": "c", "item": "i", "time": "t", "levels": ["a"]})},
     ["unknown key lines.columns.'levels'"]),
    ("types_not_text", {"lines": _lines(types={"c": 1})}, ["`types` must be a table"]),
    ("filter_not_text", {"lines": _lines(filter=1)}, ["`filter` must be a string"]),
    ("filter_malformed", {"lines": _lines(filter="x >")}, ["[lines] filter", "cannot parse"]),
    ("time_zone_not_text", {"lines": _lines(time_zone=1)}, ["`time_zone` must be a string"]),
    ("table_not_text", {"lines": _lines(source="s.duckdb", table=["a"])},
     ["`table` must be a string"]),
    ("unknown_extension", {"lines": _lines(source="lines.xlsx")},
     ["cannot tell the format of 'lines.xlsx'", "set `format`"]),
    ("unknown_format", {"lines": _lines(format="excel")},
     ["format 'excel' is not one of parquet, csv, ipc, duckdb"]),
    ("duckdb_without_table_or_query", {"lines": _lines(source="shop.duckdb")},
     ["exactly one of `table` or `query`"]),
    ("duckdb_with_table_and_query", {"lines": _lines(source="shop.duckdb", table="t",
                                                     query="SELECT 1")},
     ["exactly one of `table` or `query`"]),
    ("table_on_a_file_source", {"lines": _lines(table="t")},
     ["only apply to database sources", "not 'csv'"]),
    ("partitioning_unknown", {"lines": _lines(partitioning="directory")},
     ["partitioning 'directory' is not supported"]),
    ("delimiter_two_chars", {"lines": _lines(delimiter=";;")}, ["delimiter must be one"]),
    ("duplicate_out_of_range", {"lines": _lines(), "validation": {"duplicate": "ignore"}},
     ["validation.duplicate = 'ignore' is not one of drop, keep, error"]),
    ("null_id_keep_not_allowed", {"lines": _lines(), "validation": {"null_id": "keep"}},
     ["validation.null_id = 'keep' is not one of drop, error"]),
    ("bad_time_bool", {"lines": _lines(), "validation": {"bad_time": True}},
     ["validation.bad_time = True"]),
    ("quantity_upper_case", {"lines": _lines(), "validation": {
        "non_positive_quantity": "DROP"}}, ["validation.non_positive_quantity = 'DROP'"]),
]


@pytest.mark.parametrize(("doc", "parts"), [pytest.param(d, p, id=i) for i, d, p in BAD_DOCS])
def test_bad_project_raises_config_error_naming_the_key(tmp_path, doc, parts):
    with pytest.raises(ConfigError) as info:
        project_from_dict(doc, base_dir=tmp_path, origin="shop.toml")
    message = str(info.value)
    assert message.startswith("shop.toml")
    for part in parts:
        assert part in message


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({"lines": _lines(), "zzzz": 1}, id="top"),
        pytest.param({"lines": _lines(xyzzy=1)}, id="source"),
        pytest.param({"lines": _lines(), "validation": {"xyzzy": "drop"}}, id="validation"),
    ],
)
def test_unknown_key_without_a_close_match_suggests_nothing(tmp_path, doc):
    with pytest.raises(ConfigError) as info:
        project_from_dict(doc, base_dir=tmp_path)
    assert "Did you mean" not in str(info.value)
    assert "Allowed keys here:" in str(info.value)


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        pytest.param(b"[lines\nsource = 1", ["not valid TOML"], id="not_toml"),
        pytest.param(b"lines = {source = }", ["not valid TOML"], id="bad_value"),
        pytest.param(b"source,customer\na,b\n", ["not valid TOML"], id="csv_given"),
        pytest.param(b"PAR1\xff\xfe\x00", ["not a UTF-8 text file"], id="binary"),
        pytest.param(b"", ["no [lines] table"], id="empty"),
    ],
)
def test_file_that_is_not_a_project(tmp_path, content, parts):
    path = tmp_path / "project.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert str(path) in str(info.value)
    for part in parts:
        assert part in str(info.value)


@pytest.mark.parametrize("kind, says", [
    pytest.param("missing", "does not exist", id="missing"),
    # A folder exists: saying it "does not exist" would send the user looking
    # for a typo (issue 14); it is named as a folder instead.
    pytest.param("folder", "is a folder, not a file", id="folder"),
    pytest.param("broken_link", "does not exist (a broken symbolic link)", id="broken_link"),
    pytest.param("fifo", "is not a regular file", id="fifo"),  # reading it would hang
])
def test_missing_project_file(tmp_path, kind, says):
    path = tmp_path / "nope.toml"
    if kind == "folder":
        path.mkdir()
    elif kind == "broken_link":
        path.symlink_to(tmp_path / "gone.toml")
    elif kind == "fifo":
        os.mkfifo(path)
    with pytest.raises(ConfigError, match=re.escape(says)) as info:
        load_project(path)
    assert str(path) in str(info.value)


def test_a_folder_given_as_project_file_lists_its_toml_files(tmp_path):
    (tmp_path / "shop.toml").write_text("")
    with pytest.raises(ConfigError, match="It holds shop.toml"):
        load_project(tmp_path)


@pytest.mark.parametrize("error", [
    pytest.param(PermissionError(13, "Permission denied"), id="permission_denied"),
    pytest.param(IsADirectoryError(21, "Is a directory"), id="is_a_directory"),
    pytest.param(OSError(5, "Input/output error"), id="io_error"),
])
def test_unreadable_project_file_is_a_config_error(tmp_path, monkeypatch, error):
    # Tests run as root, where chmod 000 does not bind: the read itself fails.
    path = tmp_path / "shop.toml"
    path.write_text('[lines]\nsource = "l.csv"\n')

    def refuse(self):
        raise error

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert str(path) in str(info.value)
    assert f"cannot read project file: {error.strerror}" in str(info.value)


# --- dataclasses validate on construction ---------------------------------------------


def test_validation_policy_strict_turns_drop_into_error_only():
    policy = ValidationPolicy(null_id="drop", bad_time="error", duplicate="keep")
    strict = policy.strict()
    assert strict == ValidationPolicy(null_id="error", bad_time="error",
                                      non_positive_quantity="error", duplicate="keep")
    assert ValidationPolicy(duplicate="drop").strict().duplicate == "error"
    assert policy.null_id == "drop"  # the original is unchanged


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"format": "xlsx"}, id="format"),
        pytest.param({"format": "duckdb"}, id="duckdb_without_table"),
        pytest.param({"delimiter": ""}, id="empty_delimiter"),
        pytest.param({"partitioning": "flat"}, id="partitioning"),
    ],
)
def test_source_spec_validates_on_construction(tmp_path, kwargs):
    args = {"role": "lines", "location": "x", "base_dir": tmp_path, "format": "csv"}
    args.update(kwargs)
    with pytest.raises(ConfigError):
        SourceSpec(**args)


def test_project_from_dict_takes_the_name_from_the_path(tmp_path):
    project = project_from_dict({"lines": _lines()}, base_dir=tmp_path,
                                path=tmp_path / "my-shop.toml")
    assert isinstance(project, Project)
    assert project.name == "my-shop"
    assert project_from_dict({"lines": _lines()}, base_dir=tmp_path).name == "project"
