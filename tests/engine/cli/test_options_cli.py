"""Numeric options: out of range, NaN, not a number, or contradicting another option.

Every one is a usage error (exit 3) whose first stderr line names the option;
none reads data or writes a file.
"""

from __future__ import annotations

import os

import pytest

from basketguard.engine.cli.main import main
from tests.faults.conftest import IDS, LINES, SHOP

SCAN = ["scan", "shop.toml", "--scores", "scores.parquet"]
ASSESS = ["assess", "shop.toml"]

@pytest.fixture
def shop(tmp_path, monkeypatch):
    (tmp_path / "lines.csv").write_text(LINES)
    (tmp_path / "shop.toml").write_text(SHOP)
    (tmp_path / "seg.csv").write_text(f"customer\n{IDS[0]}\n{IDS[1]}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BASKETGUARD_CACHE", str(tmp_path / ".cache"))
    return tmp_path


@pytest.mark.parametrize("args, fragments", [
    pytest.param([*SCAN, "--min-probability", "1.5"], ["--min-probability", "[0.0, 1.0]"],
                 id="min_probability_above_1"),
    pytest.param([*SCAN, "--min-probability", "-0.1"], ["--min-probability", "'-0.1'"],
                 id="min_probability_negative"),
    pytest.param([*SCAN, "--min-probability", "inf"], ["--min-probability", "'inf'"],
                 id="min_probability_inf"),
    pytest.param([*SCAN, "--min-probability", "often"], ["--min-probability",
                                                          "'often' is not a number"],
                 id="min_probability_text"),
    pytest.param([*ASSESS, "--unicity-warn", "0.6", "--unicity-fail", "0.5"],
                 ["--unicity-warn 0.6", "--unicity-fail 0.5"], id="unicity_warn_above_fail"),
    pytest.param([*ASSESS, "--unicity-warn", "nan"], ["--unicity-warn", "'nan'"],
                 id="unicity_warn_nan"),
    pytest.param([*ASSESS, "--p", "0"], ["--p", "[1, 64]"], id="p_zero"),
    pytest.param([*ASSESS, "--p", "65"], ["--p", "[1, 64]"], id="p_above_64"),
    pytest.param([*ASSESS, "--draws", "0"], ["--draws", "'0'"], id="draws_zero"),
    pytest.param([*ASSESS, "--draws", str(2**24 + 1)], ["--draws"], id="draws_above_2_24"),
    pytest.param([*ASSESS, "--seed", "-1"], ["--seed", "'-1'"], id="seed_negative"),
    pytest.param([*ASSESS, "--seed", str(2**63)], ["--seed"], id="seed_beyond_int64"),
    pytest.param([*ASSESS, "--k", "0"], ["--k", "'0'"], id="k_zero"),
    pytest.param([*ASSESS, "--k", "2.5"], ["--k", "'2.5' is not an integer"],
                 id="k_not_integer"),
    pytest.param([*ASSESS, "--l", "0"], ["--l", "'0'"], id="l_zero"),
    pytest.param([*ASSESS, "--km-k", str(2**64)], ["--km-k"], id="km_k_beyond_int64"),
    pytest.param([*ASSESS, "--km-m", "5"], ["--km-m", "[1, 4]"], id="km_m_above_4"),
    pytest.param([*ASSESS, "--sampling-fraction", "nan"], ["sampling fraction", "nan"],
                 id="sampling_fraction_nan"),
    pytest.param(["synth", "--customers", "-5", "--out", "s"], ["customers: -5"],
                 id="synth_customers_negative"),
    pytest.param(["synth", "--leakage", "1.5", "--out", "s"], ["leakage: 1.5"],
                 id="synth_leakage_above_1"),
    pytest.param(["demo", "--customers", "-1", "--out", "d"], ["customers: -1"],
                 id="demo_customers_negative"),
])
def test_bad_option_is_a_usage_error_naming_it(shop, capsys, args, fragments):
    before = sorted(os.listdir(shop))
    assert main(args) == 3
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert first.startswith("basketguard: error: "), err
    for fragment in fragments:
        assert fragment in first, err
    assert "Traceback" not in err and "internal error" not in err
    assert sorted(os.listdir(shop)) == before


def test_unicity_warn_equal_to_fail_is_a_valid_policy(shop, capsys):
    """A level is a limit still allowed: warn == fail only removes the warning band."""
    code = main([*ASSESS, "--segment", "seg.csv", "--unicity-warn", "0.5",
                 "--unicity-fail", "0.5", "--attributes", "none", "--p", "1", "--json"])
    assert code in (0, 1, 2), capsys.readouterr().err


def test_min_probability_bounds_are_allowed(shop, capsys):
    for value in ("0", "1"):
        assert main([*SCAN, "--min-probability", value]) == 0, capsys.readouterr().err
        assert (shop / "scores.parquet").is_file()
