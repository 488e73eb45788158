"""End to end: Arrow files -> ingest -> histories, compared with tests/reference/histories.py exactly.

Rows are written the way real exports arrive: record batches of uneven size
(empty ones included), sliced arrays, nulls in ids / time / quantity,
dictionary-encoded text ids, every time type (timestamps in s/ms/us/ns with
and without zone, date32, ISO text), Parquet or Arrow IPC, one or two files.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.config.project import project_from_dict
from basketguard.engine.errors import DataError
from basketguard.engine.histories.build import build_histories, histories_from_project
from basketguard.engine.histories.ingest import ingest_lines
from tests.engine.io.test_columns import chunked
from tests.reference import histories as naive

I64_MIN, I64_MAX = naive.INT64_MIN, naive.INT64_MAX
COLUMN = {"customer": "cust", "item": "sku", "time": "at", "basket": "order",
          "quantity": "qty", "price": "unit_price", "store": "shop"}
OPTIONAL = ("basket", "quantity", "price", "store")
TIME_TYPES = {
    "s": pa.timestamp("s"),
    "ms": pa.timestamp("ms"),
    "us_utc": pa.timestamp("us", tz="UTC"),
    "ns": pa.timestamp("ns"),
    "ms_kolkata": pa.timestamp("ms", tz="Asia/Kolkata"),
    "date32": pa.date32(),
    "iso": pa.string(),
}


# ------------------------------------------------------------------- writing


def _time_value(kind: str, seconds: int, frac: int):
    """Arrow storage value and expected seconds for an instant of ``kind``."""
    if kind == "date32":
        days = naive.day_of(seconds)
        return days, days * 86400
    if kind == "iso":
        micros = frac % 1_000_000 if abs(seconds) < 2**31 else 0  # see test_columns xfail
        text = naive.iso_text(seconds, micros, "T" if frac % 2 else " ", "Z" if frac % 3 else "")
        return text, naive.iso_seconds(text)
    unit = TIME_TYPES[kind].unit
    per = naive.UNIT_PER_SECOND[unit]
    raw = seconds * per + frac % per
    return raw, naive.seconds_from_unit(raw, unit)


def _time_column(kind: str, values: list, cuts, pad) -> pa.ChunkedArray:
    type_ = TIME_TYPES[kind]
    if kind == "iso":
        return chunked(values, type_, cuts, pad)
    storage = chunked(values, pa.int32() if kind == "date32" else pa.int64(), cuts, pad)
    return pa.chunked_array([c.cast(type_) for c in storage.chunks], type_)


def _id_type(values) -> pa.DataType:
    return pa.string() if any(isinstance(v, str) for v in values) else pa.int64()


def write_source(tmp_path, rows, cfg) -> None:
    """Write ``rows`` (dicts of Arrow-side values) as cfg says, under tmp_path/lines."""
    cuts, pad = cfg["cuts"], cfg["pad"]
    arrays, names = [], []
    for role in ("customer", "item", "time", *OPTIONAL):
        if role not in cfg["mapped"]:
            continue
        values = [r["time_raw"] if role == "time" else r[role] for r in rows]
        if role == "time":
            col = _time_column(cfg["time_kind"], values, cuts, pad)
        elif role in ("quantity", "price"):
            col = chunked(values, pa.float64(), cuts, pad)
        else:
            dictionary = role in cfg["dictionary"]
            col = chunked(values, cfg["id_types"][role], cuts, pad, dictionary=dictionary)
        arrays.append(col)
        names.append(COLUMN[role])
    table = pa.Table.from_arrays(arrays, names=names)
    folder = tmp_path / "lines"
    folder.mkdir(exist_ok=True)
    batches = table.to_batches() if table.num_rows or table.column(0).num_chunks else []
    split = cfg["file_split"] if len(batches) > 1 else len(batches)
    parts = [batches[:split], batches[split:]] if split < len(batches) else [batches]
    for i, part in enumerate(parts):
        path = folder / f"part-{i}.{cfg['format']}"
        if cfg["format"] == "parquet":
            with pq.ParquetWriter(path, table.schema) as writer:
                for batch in part:
                    writer.write_batch(batch)
        else:
            # The IPC file format cannot replace dictionaries between batches.
            unified = pa.Table.from_batches(part, table.schema).unify_dictionaries()
            with pa.ipc.new_file(path, unified.schema) as writer:
                for batch in (unified.to_batches() if part else []):
                    writer.write_batch(batch)
                if not part:
                    writer.write_table(unified)


def project(tmp_path, cfg, duplicate="drop"):
    columns = {role: COLUMN[role] for role in cfg["mapped"]}
    return project_from_dict({
        "project": {"name": "oracle"},
        "lines": {"source": "lines", "format": cfg["format"], "columns": columns},
        "validation": {"duplicate": duplicate},
    }, base_dir=tmp_path)


def observed(h) -> dict:
    """Histories as plain Python, comparable with naive.build_histories."""
    def lst(a):
        return None if a is None else a.tolist()

    return {
        "offsets": h.offsets.tolist(), "item": h.item.tolist(), "day": h.day.tolist(),
        "basket": h.basket.tolist(), "quantity": lst(h.quantity), "price": lst(h.price),
        "store": lst(h.store), "customer_ids": h.customer_ids.to_pylist(),
        "item_ids": h.item_ids.to_pylist(),
        "basket_ids": None if h.basket_ids is None else h.basket_ids.to_pylist(),
        "store_ids": None if h.store_ids is None else h.store_ids.to_pylist(),
        "dropped": h.info["dropped"], "duplicates_found": h.info["duplicates_found"],
        "rows_read": h.info["rows_read"],
    }


def expected(rows, cfg, duplicate="drop") -> dict:
    ref_rows = [{**r, "time": r["time"]} for r in rows]
    return naive.build_histories(ref_rows, cfg["mapped"], drop_duplicates=duplicate == "drop")


def build(tmp_path, rows, cfg, duplicate="drop"):
    write_source(tmp_path, rows, cfg)
    return histories_from_project(project(tmp_path, cfg, duplicate))


def check(tmp_path, rows, cfg, duplicate="drop"):
    want = expected(rows, cfg, duplicate)
    if not want["customer_ids"]:
        with pytest.raises(DataError, match="no basket line is left"):
            build(tmp_path, rows, cfg, duplicate)
        return None
    got = observed(build(tmp_path, rows, cfg, duplicate))
    assert got == want
    return got


# ------------------------------------------------------------------ strategy

INT_IDS = st.one_of(st.sampled_from([I64_MIN, -1, 0, 7, 2**40 + 1, I64_MAX]),
                    st.integers(I64_MIN, I64_MAX))
TEXT_IDS = st.text("ab\u00e9\U0001f600", max_size=2)
SECONDS = st.one_of(st.sampled_from([-86401, -1, 0, 86399, 86400, 1_293_840_000,
                                     4_000_000_000]),
                    st.integers(-(2**33), 2**33))
QUANTITIES = st.sampled_from([1.0, 2.0, 0.5, 0.1, 0.0, -1.0, float("nan"), float("inf"), None])


@st.composite
def sources(draw, max_rows=12):
    mapped = {"customer", "item", "time"} | {r for r in OPTIONAL if draw(st.booleans())}
    id_types, pools, dictionary = {}, {}, set()
    for role in ("customer", "item", "basket", "store"):
        text = draw(st.booleans())
        id_types[role] = pa.string() if text else pa.int64()
        pools[role] = draw(st.lists(TEXT_IDS if text else INT_IDS, min_size=1, max_size=4,
                                    unique=True))
        if text and draw(st.booleans()):
            dictionary.add(role)
    time_kind = draw(st.sampled_from(sorted(TIME_TYPES)))
    times = draw(st.lists(SECONDS, min_size=1, max_size=4, unique=True))
    rows = []
    for _ in range(draw(st.integers(0, max_rows))):
        row = {role: draw(st.one_of(st.sampled_from(pools[role]), st.none())
                          if draw(st.integers(0, 7)) == 0 else st.sampled_from(pools[role]))
               for role in ("customer", "item", "basket", "store")}
        pick = draw(st.integers(0, 9))
        if pick == 0:
            row["time_raw"], row["time"] = None, None
        elif pick == 1 and time_kind == "iso":
            row["time_raw"], row["time"] = "not a time", naive.BAD
        else:
            row["time_raw"], row["time"] = _time_value(time_kind, draw(st.sampled_from(times)),
                                                       draw(st.integers(0, 10**9)))
        row["quantity"] = draw(QUANTITIES)
        row["price"] = draw(st.sampled_from([1.0, 2.5, 0.1, None]))
        rows.append(row)
    if rows and draw(st.booleans()):  # exact duplicates, not necessarily adjacent
        rows += draw(st.lists(st.sampled_from(rows), max_size=4))
        rows = draw(st.permutations(rows))
    cfg = {
        "mapped": mapped, "id_types": id_types, "dictionary": dictionary,
        "time_kind": time_kind, "format": draw(st.sampled_from(["parquet", "ipc"])),
        "cuts": draw(st.lists(st.integers(0, len(rows)), max_size=4)),
        "pad": draw(st.integers(0, 2)), "file_split": draw(st.integers(1, 3)),
    }
    return rows, cfg


# ------------------------------------------------------------ property tests


@pytest.mark.jit
@given(sources(), st.sampled_from(["drop", "keep"]))
def test_histories_match_reference(tmp_path_factory, case, duplicate):
    rows, cfg = case
    check(tmp_path_factory.mktemp("src"), rows, cfg, duplicate)


@pytest.mark.jit
@given(sources(), st.randoms(use_true_random=False), st.data())
def test_histories_do_not_depend_on_row_order(tmp_path_factory, case, random, data):
    rows, cfg = case
    want = expected(rows, cfg)
    if not want["customer_ids"]:
        return
    shuffled = list(rows)
    random.shuffle(shuffled)
    cfg2 = {**cfg, "cuts": data.draw(st.lists(st.integers(0, len(rows)), max_size=4)),
            "format": data.draw(st.sampled_from(["parquet", "ipc"]))}
    first = observed(build(tmp_path_factory.mktemp("a"), rows, cfg))
    second = observed(build(tmp_path_factory.mktemp("b"), shuffled, cfg2))
    assert first == second == want


@pytest.mark.jit
@given(sources())
def test_histories_are_deterministic(tmp_path_factory, case):
    rows, cfg = case
    if not expected(rows, cfg)["customer_ids"]:
        return
    tmp = tmp_path_factory.mktemp("src")
    write_source(tmp, rows, cfg)
    proj = project(tmp, cfg)
    first, second = histories_from_project(proj), histories_from_project(proj)
    assert observed(first) == observed(second)
    assert first.info["input_sorted"] == second.info["input_sorted"]


# ---------------------------------------------------------- named edge cases


def R(c, i, t, **kw):  # noqa: N802 (a row, short for tables)
    """A row with integer seconds ``t`` (None = null, naive.BAD = unparseable)."""
    return {"customer": c, "item": i, "time": t, "basket": kw.get("basket", 1),
            "store": kw.get("store", 1), "quantity": kw.get("quantity", 1.0),
            "price": kw.get("price", 1.0)}


def _cfg(rows, mapped=(), time_kind="s", fmt="parquet", cuts=(), pad=0, dictionary=(),
         file_split=1):
    id_types = {role: _id_type([r[role] for r in rows]) for role in
                ("customer", "item", "basket", "store")}
    for r in rows:
        t = r["time"]
        if t is None:
            r["time_raw"] = None
        elif t is naive.BAD:
            r["time_raw"] = "not a time"
        elif time_kind == "iso":
            r["time_raw"] = naive.iso_text(t)
        elif time_kind == "date32":
            r["time_raw"] = naive.day_of(t)
            r["time"] = naive.day_of(t) * 86400
        else:
            r["time_raw"] = t * naive.UNIT_PER_SECOND[TIME_TYPES[time_kind].unit]
    return {"mapped": {"customer", "item", "time", *mapped}, "id_types": id_types,
            "dictionary": set(dictionary), "time_kind": time_kind, "format": fmt,
            "cuts": list(cuts), "pad": pad, "file_split": file_split}


ALL = ("basket", "quantity", "price", "store")
NULLS = [R(None, 1, 0), R(1, None, 0, basket=None), R(1, 1, 0, basket=None),
         R(1, 1, 0, store=None), R(1, 1, None, quantity=None), R(1, 1, 0, quantity=None),
         R(1, 1, 0, quantity=float("nan")), R(1, 1, 0, quantity=0.0),
         R(1, 1, 0, quantity=-2.0), R(2, 3, 86400)]
EDGE_CASES = {
    "empty_file": ([], {}),
    "everything_dropped": ([R(None, 1, 0), R(1, None, 0), R(1, 1, None)], {}),
    "one_line": ([R(5, 6, 100)], {}),
    "one_customer": ([R(3, i % 3, 86400 * (i % 2)) for i in range(7)], {"mapped": ALL}),
    "all_duplicates": ([R(1, 1, 7)] * 6, {"mapped": ALL}),
    "all_duplicates_derived_baskets": ([R(1, 1, 7)] * 6, {"mapped": ("quantity",)}),
    "negative_ids": ([R(-5, -1, 0), R(-1, -5, 1), R(-5, -5, 2)], {"mapped": ("basket",)}),
    "int64_extremes_direct": ([R(I64_MAX, I64_MIN, 0), R(I64_MAX - 1, I64_MIN + 1, 0)], {}),
    "ties_on_timestamp": ([R(1, 3, 50, basket=2), R(1, 1, 50, basket=2), R(1, 2, 50, basket=1),
                           R(1, 1, 50, basket=2, price=0.5)], {"mapped": ALL}),
    "ties_derived_basket": ([R(1, 2, 50), R(2, 1, 50), R(1, 1, 50), R(1, 1, 51)], {}),
    "before_1970": ([R(1, 1, -1), R(1, 1, -86400), R(1, 1, -86401)], {"time_kind": "ns"}),
    "far_future": ([R(1, 1, 10**13), R(1, 2, 0)], {}),
    "far_future_iso": ([R(1, 1, 253402300799), R(1, 1, -62135596800)], {"time_kind": "iso"}),
    "bad_and_null_times_iso": ([R(1, 1, naive.BAD), R(1, 1, None), R(1, 1, 3)],
                               {"time_kind": "iso"}),
    "date32": ([R(1, 1, -1), R(1, 2, 86400 * 3 + 5)], {"time_kind": "date32"}),
    "text_ids_dictionary": ([R("b", "x", 1), R("a", "y", 2), R("b", "", 3), R(None, "x", 1)],
                            {"dictionary": ("customer", "item")}),
    "drop_reasons_in_order": (NULLS, {"mapped": ALL}),
    "chunks_of_size_0_and_1": ([R(2, 1, 3), R(1, 1, 2), R(2, 2, 1)],
                               {"cuts": (0, 0, 1, 2, 3, 3), "pad": 1, "fmt": "ipc"}),
    "many_chunks": ([R(i % 4, i % 3, i % 5) for i in range(40)],
                    {"cuts": tuple(range(0, 40, 2)), "mapped": ("quantity",)}),
    "two_files": ([R(2, 1, 3), R(1, 1, 2), R(2, 2, 1), R(1, 1, 2)],
                  {"cuts": (2,), "file_split": 1, "fmt": "ipc"}),
    # Sparse ids: the encoders switch to their hash tables.
    "int64_min_and_max": ([R(I64_MIN, I64_MAX, 0), R(I64_MAX, I64_MIN, 1), R(0, 0, 0)], {}),
    "span_over_2_40": ([R(1, 2**40, 0), R(2**41, 1, 0), R(1, 1, 0)],
                       {"mapped": ("basket", "store")}),
}


@pytest.mark.parametrize("duplicate", ["drop", "keep"])
@pytest.mark.parametrize("rows, kw", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_histories_edge_cases(tmp_path, rows, kw, duplicate):
    rows = [dict(r) for r in rows]
    check(tmp_path, rows, _cfg(rows, **kw), duplicate)


def test_drop_reasons_are_charged_once_in_order(tmp_path):
    rows = [dict(r) for r in NULLS]
    got = check(tmp_path, rows, _cfg(rows, mapped=ALL))
    assert got["dropped"] == {
        "null_customer": 1, "null_item": 1, "null_basket": 1, "null_store": 1,
        "null_time": 1, "bad_time": 0, "null_quantity": 2, "non_positive_quantity": 2,
        "duplicate": 0,
    }


def test_duplicate_error_policy(tmp_path):
    rows = [dict(r) for r in [R(1, 1, 7)] * 2]
    cfg = _cfg(rows)
    with pytest.raises(DataError, match="1 exact duplicate"):
        build(tmp_path, rows, cfg, duplicate="error")


def test_build_from_small_batches_matches_reference(tmp_path):
    # batch_rows forces the scanner to cut batches inside row groups.
    rows = [dict(r) for r in [R(i % 3, i % 4, (i * 7) % 5, quantity=float(i % 3))
                              for i in range(23)]]
    cfg = _cfg(rows, mapped=("quantity",))
    write_source(tmp_path, rows, cfg)
    proj = project(tmp_path, cfg)
    ingested = ingest_lines(proj.lines, proj.validation, batch_rows=4)
    assert len(ingested.chunks) >= 5
    got = observed(build_histories(ingested, drop_duplicates=True))
    got["rows_read"] = len(rows)
    assert got == expected(rows, cfg)


@pytest.mark.jit
def test_histories_larger_random_against_reference(tmp_path, rng):
    n = 3000
    cust = rng.integers(0, 200, n).tolist()
    item = rng.integers(-50, 50, n).tolist()
    t = (rng.integers(-(10**9), 2 * 10**9, n) // 600 * 600).tolist()
    qty = rng.choice([1.0, 2.0, -1.0, 0.5], n).tolist()
    rows = [R(f"c{c}", i, s, quantity=q) for c, i, s, q in zip(cust, item, t, qty, strict=True)]
    rows += [dict(r) for r in rows[:300]]
    cuts = sorted(rng.integers(0, len(rows), 12).tolist())
    cfg = _cfg(rows, mapped=("quantity", "price"), time_kind="ms", cuts=cuts,
               dictionary=("customer",), file_split=5)
    got = check(tmp_path, rows, cfg, "keep")
    assert got is not None and got["duplicates_found"] > 0
