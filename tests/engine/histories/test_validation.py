"""Row validation: each reason is dropped and counted by default, an error under
``--strict``; a row counts under one reason only; times end up in UTC."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.api import load_histories, profile
from basketguard.engine.cli.main import main
from basketguard.engine.config.project import load_project
from basketguard.engine.errors import BasketguardError, DataError

HEADER = "basket,customer,item,time,qty,price,store"
GOOD = [
    "b1,c1,i1,2024-03-01 10:00:00,1,1.5,s1",
    "b1,c1,i2,2024-03-01 10:00:00,2,1.5,s1",
    "b2,c2,i1,2024-03-02 10:00:00,1,1.5,s2",
    "b3,c2,i3,2024-03-03 10:00:00,1,1.5,s2",
]

PROJECT = """
[lines]
source = "lines.csv"
{extra}
[lines.columns]
basket = "basket"
customer = "customer"
item = "item"
time = "time"
quantity = "qty"
price = "price"
store = "store"
{validation}
"""


def _write(base: Path, rows: list[str], validation: str = "", extra: str = "") -> Path:
    (base / "lines.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    path = base / "project.toml"
    section = f"[validation]\n{validation}" if validation else ""
    path.write_text(PROJECT.format(extra=extra, validation=section))
    return path


#: (reason, the failing row). Each is added to GOOD, so 4 lines must survive.
REASON_ROWS = [
    ("null_customer", "b4,,i1,2024-03-04 10:00:00,1,1.5,s1"),
    ("null_item", "b4,c1,,2024-03-04 10:00:00,1,1.5,s1"),
    ("null_basket", ",c1,i1,2024-03-04 10:00:00,1,1.5,s1"),
    ("null_store", "b4,c1,i1,2024-03-04 10:00:00,1,1.5,"),
    ("null_time", "b4,c1,i1,,1,1.5,s1"),
    ("bad_time", "b4,c1,i1,not a date,1,1.5,s1"),
    ("null_quantity", "b4,c1,i1,2024-03-04 10:00:00,,1.5,s1"),
    ("non_positive_quantity", "b4,c1,i1,2024-03-04 10:00:00,-2,1.5,s1"),
    ("duplicate", GOOD[1]),
]
#: Same reasons, other spellings of the problem.
MORE_ROWS = [
    ("zero_quantity", "non_positive_quantity", "b4,c1,i1,2024-03-04 10:00:00,0,1.5,s1"),
    ("nan_quantity", "null_quantity", "b4,c1,i1,2024-03-04 10:00:00,nan,1.5,s1"),
    ("bad_month", "bad_time", "b4,c1,i1,2024-13-04 10:00:00,1,1.5,s1"),
    ("duplicate_other_position", "duplicate", GOOD[3]),
]
_ALL = [pytest.param(reason, row, id=reason) for reason, row in REASON_ROWS] + [
    pytest.param(reason, row, id=name) for name, reason, row in MORE_ROWS]


@pytest.mark.parametrize(("reason", "row"), _ALL)
def test_reason_is_dropped_and_counted_by_default(tmp_path, reason, row):
    prof = profile(_write(tmp_path, [*GOOD[:2], row, *GOOD[2:]]), use_cache=False)
    assert prof["lines"] == 4
    assert prof["rows_read"] == 5
    assert prof["dropped"] == {reason: 1}
    assert prof["dropped_total"] == 1


@pytest.mark.parametrize(("reason", "row"), _ALL)
def test_reason_is_an_error_under_strict(tmp_path, reason, row):
    project = _write(tmp_path, [*GOOD[:2], row, *GOOD[2:]])
    with pytest.raises(DataError) as info:
        load_histories(project, strict=True, use_cache=False)
    message = str(info.value)
    assert str(tmp_path / "lines.csv") in message
    policy_key = {"null_time": "bad_time", "bad_time": "bad_time",
                  "non_positive_quantity": "non_positive_quantity",
                  "duplicate": "duplicate"}.get(reason, "null_id")
    assert f"validation.{policy_key} = \"drop\"" in message


@pytest.mark.parametrize(("reason", "row"), [pytest.param(*r, id=r[0]) for r in REASON_ROWS])
def test_strict_via_the_cli_exits_3_with_a_message(tmp_path, capsys, reason, row):
    project = _write(tmp_path, [*GOOD, row])
    assert main(["profile", str(project), "--no-cache"]) == 0
    capsys.readouterr()
    assert main(["profile", str(project), "--strict", "--no-cache"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("basketguard: error: ")
    assert "Traceback" not in captured.err
    assert captured.err.count("\n") == 1  # one paragraph


def test_bad_time_error_names_row_column_and_value_but_no_id(tmp_path):
    project = _write(tmp_path, [*GOOD, "b9,c9,i9,yesterday at noon,3,1.5,s9"],
                     validation='bad_time = "error"')
    with pytest.raises(DataError) as info:
        load_histories(project, use_cache=False)
    message = str(info.value)
    assert "1 row(s) in this batch have a time that cannot be parsed (column 'time')" in message
    assert "the first is row 5 read (counting from 1)" in message
    assert "(value 'yesterday at noon')" in message
    # the rest of the row (customer id included) is never shown
    for other in ("c9", "b9", "i9", "s9"):
        assert other not in message


@pytest.mark.parametrize(("row", "shown"), [
    pytest.param("b9,c9,i9,2024-03-04 10:00:00,-2,1.5,s9", "(value -2.0)", id="quantity"),
    pytest.param("b9,,i9,2024-03-04 10:00:00,1,1.5,s9", "", id="null_customer"),
])
def test_strict_errors_show_no_id(tmp_path, row, shown):
    project = _write(tmp_path, [*GOOD, row], extra='filter = "qty < 100"')
    with pytest.raises(DataError) as info:
        load_histories(project, strict=True, use_cache=False)
    message = str(info.value)
    assert "row 5 read (counting from 1, after the filter)" in message
    assert shown in message
    assert "(value" in message if shown else "(value" not in message
    for other in ("c9", "b9", "i9", "s9"):
        assert other not in message


@pytest.mark.parametrize(
    ("validation", "errors_on"),
    [
        pytest.param('null_id = "error"', {"null_customer", "null_item", "null_basket",
                                            "null_store", "null_quantity"}, id="null_id"),
        pytest.param('bad_time = "error"', {"null_time", "bad_time"}, id="bad_time"),
        pytest.param('non_positive_quantity = "error"', {"non_positive_quantity"},
                     id="non_positive_quantity"),
        pytest.param('duplicate = "error"', {"duplicate"}, id="duplicate"),
        pytest.param('duplicate = "keep"', set(), id="keep_never_errors"),
    ],
)
def test_each_policy_key_governs_its_reasons_only(tmp_path, validation, errors_on):
    for reason, row in REASON_ROWS:
        project = _write(tmp_path, [*GOOD, row], validation=validation)
        if reason in errors_on:
            with pytest.raises(DataError):
                load_histories(project, use_cache=False)
        else:
            load_histories(project, use_cache=False)  # must NOT fail


def test_duplicate_keep_keeps_and_counts(tmp_path):
    rows = [*GOOD, GOOD[1], GOOD[1]]
    kept = profile(_write(tmp_path, rows, validation='duplicate = "keep"'), use_cache=False)
    assert kept["lines"] == 6
    assert kept["duplicates"] == {"found": 2, "kept": 2}
    assert kept["dropped"] == {}
    dropped = profile(_write(tmp_path, rows), use_cache=False)
    assert dropped["lines"] == 4
    assert dropped["duplicates"] == {"found": 2, "kept": 0}
    assert dropped["dropped"] == {"duplicate": 2}


def test_strict_does_not_override_duplicate_keep(tmp_path):
    project = _write(tmp_path, [*GOOD, GOOD[0]], validation='duplicate = "keep"')
    hist = load_histories(project, strict=True, use_cache=False)
    assert hist.n_lines == 5
    assert hist.info["duplicates_kept"] == 1


def test_duplicate_error_message(tmp_path):
    project = _write(tmp_path, [*GOOD, GOOD[0]], validation='duplicate = "error"')
    with pytest.raises(DataError, match=r"1 exact duplicate line\(s\)"):
        load_histories(project, use_cache=False)


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param("b4,,,not a date,,1.5,", "null_customer", id="everything_wrong"),
        pytest.param("b4,c1,,not a date,-1,1.5,s1", "null_item", id="item_time_quantity"),
        pytest.param(",c1,i1,not a date,-1,1.5,s1", "null_basket", id="basket_time_qty"),
        pytest.param("b4,c1,i1,not a date,-1,1.5,", "null_store", id="store_time_qty"),
        pytest.param("b4,c1,i1,,-1,1.5,s1", "null_time", id="null_time_negative_qty"),
        pytest.param("b4,c1,i1,not a date,-1,1.5,s1", "bad_time", id="bad_time_negative_qty"),
        pytest.param("b4,c1,i1,not a date,,1.5,s1", "bad_time", id="bad_time_null_qty"),
    ],
)
def test_a_row_counts_under_one_reason_only(tmp_path, row, reason):
    prof = profile(_write(tmp_path, [*GOOD, row]), use_cache=False)
    assert prof["dropped"] == {reason: 1}
    assert prof["lines"] == 4


@pytest.mark.parametrize(
    "row",
    [
        pytest.param("b4,c1,i1,2024-03-04 10:00:00,0.5,1.5,s1", id="fractional_quantity"),
        pytest.param("b4,c1,i1,2024-03-04 10:00:00,1e9,1.5,s1", id="huge_quantity"),
        pytest.param("b4,c1,i1,2024-03-04 10:00:00,1,-3,s1", id="negative_price"),
        pytest.param("b4,c1,i1,2024-03-04 10:00:00,1,,s1", id="null_price"),
        pytest.param("b4,c1,i1,1970-01-01 00:00:00,1,1.5,s1", id="epoch"),
        pytest.param("b4,c1,i1,1969-12-31 23:59:59,1,1.5,s1", id="before_epoch"),
        pytest.param("b4,c1,i1,2024-03-04,1,1.5,s1", id="date_only"),
        pytest.param("b4,c1,i1,2024-03-04T10:00:00Z,1,1.5,s1", id="iso_with_z"),
        pytest.param("b4, c1 ,i1,2024-03-04 10:00:00,1,1.5,s1", id="id_with_spaces"),
        pytest.param("b1,c1,i1,2024-03-01 10:00:00,2,1.5,s1", id="same_line_other_qty"),
        pytest.param("b1,c1,i1,2024-03-01 10:00:01,1,1.5,s1", id="same_line_other_second"),
    ],
)
def test_rows_that_must_not_be_dropped(tmp_path, row):
    prof = profile(_write(tmp_path, [*GOOD, row]), use_cache=False)
    assert prof["dropped"] == {}
    assert prof["lines"] == 5


def test_nothing_left_after_the_filter_is_an_error(tmp_path):
    project = _write(tmp_path, GOOD, extra='filter = "customer == \'nobody\'"')
    with pytest.raises(DataError) as info:
        profile(project, use_cache=False)
    message = str(info.value)
    assert "no basket line is left" in message
    assert "0 row(s) read with filter \"customer == 'nobody'\"" in message


def test_nothing_left_after_validation_is_an_error(tmp_path, capsys):
    rows = ["b4,,i1,2024-03-04 10:00:00,1,1.5,s1", "b5,c1,i1,2024-03-04 10:00:00,-1,1.5,s1"]
    project = _write(tmp_path, rows)
    with pytest.raises(DataError, match="null_customer: 1, non_positive_quantity: 1"):
        profile(project, use_cache=False)
    assert main(["profile", str(project), "--no-cache"]) == 3
    assert "no basket line is left" in capsys.readouterr().err


def test_tiny_example_counts_each_problem():
    from tests.conftest import REPO

    prof = profile(REPO / "examples" / "tiny.toml", use_cache=False)
    assert prof["dropped"] == {"null_customer": 1, "bad_time": 1, "non_positive_quantity": 1,
                               "duplicate": 1}
    assert prof["lines"] == 14


# --- time zones ---------------------------------------------------------------------

FEB29 = (dt.date(2024, 2, 29) - dt.date(1970, 1, 1)).days
MAR1 = FEB29 + 1


def _parquet_project(base: Path, times: pa.Array, extra: str = "") -> Path:
    n = len(times)
    pq.write_table(pa.table({"customer": ["c1"] * n, "item": [f"i{k}" for k in range(n)],
                             "time": times}), base / "lines.parquet")
    path = base / "p.toml"
    path.write_text(f'[lines]\nsource = "lines.parquet"\n{extra}\n'
                    '[lines.columns]\ncustomer = "customer"\nitem = "item"\ntime = "time"\n')
    return path


def _csv_project(base: Path, text: str, extra: str = "") -> Path:
    (base / "lines.csv").write_text(f"customer,item,time\nc1,i1,{text}\n")
    path = base / "p.toml"
    path.write_text(f'[lines]\nsource = "lines.csv"\n{extra}\n'
                    '[lines.columns]\ncustomer = "customer"\nitem = "item"\ntime = "time"\n')
    return path


_PARIS = 'time_zone = "Europe/Paris"'
_NEW_YORK = 'time_zone = "America/New_York"'
_HALF_PAST_MIDNIGHT = dt.datetime(2024, 3, 1, 0, 30)
_PARIS_HALF_PAST_MIDNIGHT = _HALF_PAST_MIDNIGHT.replace(tzinfo=ZoneInfo("Europe/Paris"))


@pytest.mark.parametrize(
    ("times", "extra", "day"),
    [
        pytest.param(pa.array([_PARIS_HALF_PAST_MIDNIGHT], pa.timestamp("us", "Europe/Paris")), "",
                     FEB29, id="aware_paris_to_utc"),
        pytest.param(pa.array([_PARIS_HALF_PAST_MIDNIGHT], pa.timestamp("ms", "Europe/Paris")),
                     _NEW_YORK, FEB29, id="aware_ignores_time_zone_key"),
        pytest.param(pa.array([_HALF_PAST_MIDNIGHT], pa.timestamp("s")), _PARIS, FEB29,
                     id="naive_read_in_time_zone"),
        pytest.param(pa.array([_HALF_PAST_MIDNIGHT], pa.timestamp("ns")), "", MAR1,
                     id="naive_default_utc"),
        pytest.param(pa.array([dt.datetime(2024, 2, 29, 20, 0)], pa.timestamp("s")), _NEW_YORK,
                     MAR1, id="naive_new_york_evening_is_next_utc_day"),
        pytest.param(pa.array([dt.date(2024, 3, 1)], pa.date32()), _PARIS, MAR1,
                     id="date32"),
        pytest.param(pa.array([dt.datetime(1969, 12, 31, 23, 59, 59, 500000)],
                              pa.timestamp("us")), "", -1, id="before_epoch_floors"),
    ],
)
def test_parquet_times_end_up_in_utc(tmp_path, times, extra, day):
    hist = load_histories(_parquet_project(tmp_path, times, extra), use_cache=False)
    assert hist.day.tolist() == [day]


@pytest.mark.parametrize(
    ("text", "extra", "day"),
    [
        pytest.param("2024-03-01 00:30:00", "", MAR1, id="naive_text_utc"),
        pytest.param("2024-03-01 00:30:00", _PARIS, FEB29, id="naive_text_paris"),
        pytest.param("2024-03-01T00:30:00+01:00", "", FEB29, id="offset_text"),
        pytest.param("2024-03-01T00:30:00+01:00", _NEW_YORK, FEB29, id="offset_wins"),
        pytest.param("01/03/2024 00:30", 'time_format = "%d/%m/%Y %H:%M"', MAR1,
                     id="time_format_utc"),
        pytest.param("01/03/2024 00:30", f'time_format = "%d/%m/%Y %H:%M"\n{_PARIS}', FEB29,
                     id="time_format_paris"),
    ],
)
def test_text_times_end_up_in_utc(tmp_path, text, extra, day):
    hist = load_histories(_csv_project(tmp_path, text, extra), use_cache=False)
    assert hist.day.tolist() == [day]


def test_time_format_mismatch_is_bad_time(tmp_path):
    (tmp_path / "lines.csv").write_text(
        "customer,item,time\nc1,i1,01/03/2024 00:30\nc1,i2,2024-03-01 00:30\n")
    path = tmp_path / "p.toml"
    path.write_text('[lines]\nsource = "lines.csv"\ntime_format = "%d/%m/%Y %H:%M"\n'
                    '[lines.columns]\ncustomer = "customer"\nitem = "item"\ntime = "time"\n')
    prof = profile(load_project(path), use_cache=False)
    assert prof["dropped"] == {"bad_time": 1}
    assert prof["lines"] == 1


def test_unknown_time_zone_is_a_user_error(tmp_path):
    path = _csv_project(tmp_path, "2024-03-01 00:30:00", 'time_zone = "Mars/Olympus"')
    with pytest.raises(BasketguardError, match="time_zone"):
        load_histories(load_project(path), use_cache=False)


# --- many small batches ----------------------------------------------------------------


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1 << 20])
def test_counts_and_example_rows_do_not_depend_on_batching(tmp_path, batch_rows):
    from basketguard.engine.histories.ingest import ingest_lines

    rows = [*GOOD, REASON_ROWS[0][1], GOOD[1], REASON_ROWS[5][1], REASON_ROWS[7][1]]
    project = load_project(_write(tmp_path, rows))
    ingested = ingest_lines(project.lines, project.validation, batch_rows=batch_rows)
    assert ingested.rows_read == 8
    assert ingested.lines == 5  # the duplicate is dropped later, by the histories build
    assert {k: v for k, v in ingested.dropped.items() if v} == {
        "null_customer": 1, "bad_time": 1, "non_positive_quantity": 1}
    with pytest.raises(DataError, match=r"the first is row 5 read \(counting from 1\)"):
        ingest_lines(project.lines, project.validation.strict(), batch_rows=batch_rows)
