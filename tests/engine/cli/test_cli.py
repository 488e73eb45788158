"""The command line: exit codes, one-paragraph errors, --debug, --json, --out,
and no raw customer id in any output."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from basketguard.engine import api
from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.cli.main import main
from basketguard.engine.io import output

#: Customer ids distinctive enough that any leak into the output shows.
CUSTOMERS = ("cust-7f3a9", "cust-b81e0", "cust-004c2")

ROWS = "\n".join([
    "order,shopper,sku,at,qty",
    f"o1,{CUSTOMERS[0]},milk,2024-03-01 09:00:00,1",
    f"o1,{CUSTOMERS[0]},bread,2024-03-01 09:00:00,2",
    f"o2,{CUSTOMERS[1]},milk,2024-03-02 10:00:00,1",
    f"o3,{CUSTOMERS[2]},beer,2024-03-03 11:00:00,6",
    f"o4,{CUSTOMERS[2]},beer,2024-03-09 11:00:00,-6",
    "o5,,milk,2024-03-04 12:00:00,1",
]) + "\n"

PROJECT = """[project]
name = "cli-shop"
[lines]
source = "lines.csv"
{extra}
[lines.columns]
customer = "shopper"
item = "sku"
time = "at"
basket = "order"
quantity = "qty"
"""


@pytest.fixture(autouse=True)
def _private_default_cache(tmp_path, monkeypatch):
    # A run without --cache-dir must never touch the user's real cache.
    monkeypatch.setenv("BASKETGUARD_CACHE", str(tmp_path / "default-cache"))


def _project(base: Path, extra: str = "", rows: str = ROWS) -> Path:
    (base / "lines.csv").write_text(rows)
    path = base / "shop.toml"
    path.write_text(PROJECT.format(extra=extra))
    return path


def test_profile_exits_0(tmp_path, capsys, cache_dir):
    rc = main(["profile", str(_project(tmp_path)), "--cache-dir", str(cache_dir)])
    assert rc == ExitCode.OK == 0
    out, err = capsys.readouterr()
    assert out.startswith("basketguard profile: cli-shop\n")
    assert "null_customer" in out and "non_positive_quantity" in out
    assert err == ""  # no progress output when stderr is not a terminal


def test_json_output_parses(tmp_path, capsys, cache_dir):
    project = _project(tmp_path)
    assert main(["profile", str(project), "--json", "--cache-dir", str(cache_dir)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["project"] == "cli-shop"
    assert doc["lines"] == 4
    assert doc["customers"] == 3
    assert doc["rows_read"] == 6
    assert doc["dropped"] == {"null_customer": 1, "non_positive_quantity": 1}
    assert "cache" not in doc["build"]  # how the run went: only with --timings
    assert main(["profile", str(project), "--json", "--timings",
                 "--cache-dir", str(cache_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["build"]["cache"] == "hit"


def test_default_cache_dir_is_used_without_cache_dir(tmp_path, capsys):
    assert main(["profile", str(_project(tmp_path)), "--json"]) == 0
    assert len(list((tmp_path / "default-cache").iterdir())) == 1


def test_out_writes_the_json_file(tmp_path, capsys):
    out = tmp_path / "reports" / "nested" / "profile.json"
    assert main(["profile", str(_project(tmp_path)), "--json", "--no-cache",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text() == printed
    assert json.loads(out.read_text())["lines"] == 4
    assert sorted(p.name for p in out.parent.iterdir()) == ["profile.json"]  # no temp file


def test_out_replaces_an_existing_file_atomically(tmp_path, capsys, monkeypatch):
    out = tmp_path / "profile.json"
    out.write_text("previous report")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(output.os, "replace", failing_replace)
    assert main(["profile", str(_project(tmp_path)), "--no-cache", "--out", str(out)]) == 3
    assert out.read_text() == "previous report"  # untouched, never half-written
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    monkeypatch.undo()
    assert main(["profile", str(_project(tmp_path)), "--no-cache", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["project"] == "cli-shop"


def test_out_is_not_written_when_the_run_fails(tmp_path, capsys):
    out = tmp_path / "profile.json"
    project = _project(tmp_path)
    assert main(["profile", str(project), "--strict", "--no-cache", "--out", str(out)]) == 3
    assert not out.exists()


def test_unwritable_out_is_a_user_error(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    rc = main(["profile", str(_project(tmp_path)), "--no-cache",
               "--out", str(tmp_path / "afile" / "p.json")])
    assert rc == 3
    err = capsys.readouterr().err
    assert err.startswith("basketguard: error: ")


# --- errors -----------------------------------------------------------------------------


def _case(base: Path, case: str, monkeypatch) -> list[str]:
    """Arguments of a run that must fail with exit code 3."""
    project = _project(base)
    if case == "missing_project":
        return ["profile", str(base / "nope.toml")]
    if case == "not_toml":
        project.write_text("[lines\nsource=")
        return ["profile", str(project)]
    if case == "unknown_key":
        project.write_text(project.read_text().replace("[lines]", "[lines]\nfiltr = 'x > 0'"))
        return ["profile", str(project)]
    if case == "missing_source":
        (base / "lines.csv").rename(base / "lines.tsv.bak")
        return ["profile", str(project)]
    if case == "missing_column":
        project.write_text(project.read_text().replace('"shopper"', '"shoper"'))
        return ["profile", str(project)]
    if case == "strict":
        return ["profile", str(project), "--strict"]
    if case == "nothing_left":
        _project(base, extra="filter = \"sku == 'caviar'\"")
        return ["profile", str(project)]
    if case == "internal":
        def broken(*args, **kwargs):
            raise RuntimeError("invariant broken")

        monkeypatch.setattr(api, "load_histories", broken)
        return ["profile", str(project)]
    raise AssertionError(case)


#: (id, start of the message, a part it must contain).
ERRORS = [
    ("missing_project", "basketguard: error: ", "does not exist"),
    ("not_toml", "basketguard: error: ", "not valid TOML"),
    ("unknown_key", "basketguard: error: ", "Did you mean 'filter'?"),
    ("missing_source", "basketguard: error: ", "lines.csv' does not exist"),
    ("missing_column", "basketguard: error: ", "The closest name is 'shopper'"),
    ("strict", "basketguard: error: ", "have no customer id"),
    ("nothing_left", "basketguard: error: ", "no basket line is left"),
    ("internal", "basketguard: internal error: RuntimeError: invariant broken",
     "report the traceback"),
]


@pytest.mark.parametrize(("case", "start", "part"), [pytest.param(*e, id=e[0]) for e in ERRORS])
def test_errors_exit_3_with_one_paragraph_and_no_traceback(tmp_path, capsys, monkeypatch,
                                                           case, start, part):
    argv = _case(tmp_path, case, monkeypatch)
    assert main([*argv, "--no-cache"]) == ExitCode.ERROR == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(start)
    assert part in err
    assert err.endswith("\n") and err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize(("case", "start", "part"), [pytest.param(*e, id=e[0]) for e in ERRORS])
@pytest.mark.parametrize("where", ["before_verb", "after_verb"])
def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch, case, start, part, where):
    argv = _case(tmp_path, case, monkeypatch)
    argv = ["--debug", *argv] if where == "before_verb" else [*argv, "--debug"]
    assert main([*argv, "--no-cache"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last)")
    assert start in err and part in err


def test_no_command_prints_help_and_exits_3(capsys):
    assert main([]) == 3
    assert "usage: basketguard" in capsys.readouterr().err


def test_every_verb_is_listed_with_its_own_help():
    """main.COMMANDS repeats each verb module's NAME and HELP (so --help imports none)."""
    import importlib

    from basketguard.engine.cli import main as cli_main

    for name, (module_name, help_text) in cli_main.COMMANDS.items():
        module = importlib.import_module(module_name)
        assert (module.NAME, module.HELP) == (name, help_text)
    modules = {p.stem for p in Path(cli_main.__file__).parent.glob("*.py")
               if "NAME = " in p.read_text()}
    assert modules == {m.rsplit(".", 1)[1] for m, _ in cli_main.COMMANDS.values()}


def test_help_imports_no_verb_module_and_no_numba():
    """`basketguard --help` stays lean: the verbs' modules (and Numba, pyarrow) load only
    for the verb that runs; `scan --help` loads scan's alone."""
    import subprocess
    import sys

    from basketguard.engine.cli.main import COMMANDS

    code = ("import sys; from basketguard.engine.cli.main import main; rc = main(ARGV); "
            "print(sorted(m for m in sys.modules if m.startswith('basketguard.engine.cli.')"
            " or m in ('numba', 'pyarrow')), file=sys.stderr)")

    def loaded(argv):
        out = subprocess.run([sys.executable, "-c", code.replace("ARGV", repr(argv))],
                             capture_output=True, text=True, check=True)
        return set(eval(out.stderr.strip().splitlines()[-1]))

    assert loaded(["--help"]) == {"basketguard.engine.cli.exitcodes",
                                  "basketguard.engine.cli.main"}
    scan = loaded(["scan", "--help"])
    assert {m for m in scan if m.rsplit(".", 1)[-1] in COMMANDS} == \
        {"basketguard.engine.cli.scan"}


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("basketguard ")


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["profile"], id="missing_project_argument"),
        pytest.param(["profile", "shop.toml", "--bogus"], id="unknown_option"),
        pytest.param(["frobnicate"], id="unknown_command"),
    ],
)
def test_usage_errors_exit_3(argv, capsys):
    assert main(argv) == 3


# --- privacy ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [[], ["--json"]], ids=["text", "json"])
def test_no_raw_customer_id_in_the_profile(tmp_path, capsys, cache_dir, fmt):
    out_file = tmp_path / "report.json"
    project = _project(tmp_path)
    args = ["profile", str(project), *fmt, "--cache-dir", str(cache_dir), "--out",
            str(out_file)]
    for _ in range(2):  # built, then from the cache
        assert main(args) == 0
        out, err = capsys.readouterr()
        for text in (out, err, out_file.read_text()):
            for customer in CUSTOMERS:
                assert customer not in text
    # The check above can see ids: the data and the cache really hold them.
    assert CUSTOMERS[0] in (tmp_path / "lines.csv").read_text()


def test_numeric_customer_ids_do_not_leak_either(tmp_path, capsys):
    rows = ("order,shopper,sku,at,qty\n"
            "o1,918273645,milk,2024-03-01 09:00:00,1\n"
            "o2,564738291,milk,2024-03-02 09:00:00,1\n")
    project = _project(tmp_path, rows=rows)
    assert main(["profile", str(project), "--json", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "918273645" not in out and "564738291" not in out


def test_console_script_entry_point_is_main():
    import tomllib

    from tests.conftest import REPO

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["basketguard"] == "basketguard.engine.cli.main:main"
    assert os.path.isfile(REPO / "engine" / "cli" / "main.py")
