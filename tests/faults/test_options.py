"""Fault cases: numeric options out of range, NaN, or contradicting each other.

Each is refused before any data is read, with exit 3 and a first line that
names the option, and nothing is written. More options are checked in
process in ``tests/engine/cli/test_options_cli.py``.
"""

from __future__ import annotations

import pytest

from tests.faults.harness import check, run_cli

SCAN = ["scan", "shop.toml", "--scores", "scores.parquet"]
ASSESS = ["assess", "shop.toml"]


@pytest.mark.parametrize("args, fragments", [
    pytest.param([*SCAN, "--min-probability", "2"], ["--min-probability", "'2'", "[0.0, 1.0]"],
                 id="min_probability_above_1"),
    pytest.param([*SCAN, "--min-probability", "nan"], ["--min-probability", "'nan'"],
                 id="min_probability_nan"),
    pytest.param([*ASSESS, "--unicity-warn", "0.6", "--unicity-fail", "0.5"],
                 ["--unicity-warn 0.6", "--unicity-fail 0.5", "<="], id="unicity_warn_above_fail"),
    pytest.param([*ASSESS, "--draws", "100000000000"], ["--draws", "out of range"],
                 id="draws_huge"),
    pytest.param([*ASSESS, "--item-lists", "--km-k", "99999999999999999999"], ["--km-k"],
                 id="km_k_beyond_int64"),
    pytest.param(["synth", "--event-rate", "nan", "--out", "s"], ["event_rate: nan"],
                 id="synth_event_rate_nan"),
])
def test_bad_numeric_option_is_refused(shop, args, fragments):
    check(run_cli(args, shop), code=3, first_line=fragments)

