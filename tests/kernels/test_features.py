"""Learning features, group support and first days (kernels.features) against
tests/reference/features.py."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numba
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.histories.build import histories_from_project
from basketguard.kernels import features as kf
from basketguard.kernels.windows import NO_DAY
from tests.engine.histories.test_build import project as lines_project
from tests.engine.histories.test_build import write_source
from tests.engine.io.test_columns import chunked
from tests.reference import features as naive

I32_MIN, I32_MAX = -(2**31), 2**31 - 1
BLOCKS = (1, 2, 7, None)


# ------------------------------------------------------------------------ cases
@dataclass
class Case:
    """Histories and catalog in plain Python; ``arrays()`` gives the kernels' inputs.

    ``customers[c]``: lines ``(item, day)`` or ``(item, day, quantity)``, sorted by day
    (stably) when turned into arrays; ``groups[i]``: the groups of item ``i`` in the
    order given; ``drop[i]``: 1 to drop item ``i``.
    """

    customers: list[list[tuple]]
    ref: list[int]
    groups: list[list[int]]
    n_groups: int
    windows: list[int] = field(default_factory=lambda: [7, 28])
    drop: list[int] | None = None
    with_quantity: bool = True
    label: list[int] | None = None

    def arrays(self) -> dict:
        n = len(self.customers)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum([len(c) for c in self.customers], out=offsets[1:])
        rows = [ln for c in self.customers for ln in sorted(c, key=lambda ln: ln[1])]
        item_offsets = np.zeros(len(self.groups) + 1, np.int64)
        np.cumsum([len(g) for g in self.groups], out=item_offsets[1:])
        drop = self.drop if self.drop is not None else [0] * len(self.groups)
        qty = (np.array([r[2] if len(r) > 2 else 1.0 for r in rows], np.float32)
               if self.with_quantity else np.empty(0, np.float32))
        return {
            "offsets": offsets,
            "item": np.array([r[0] for r in rows], np.int32).reshape(-1),
            "day": np.array([r[1] for r in rows], np.int32).reshape(-1),
            "quantity": qty.reshape(-1),
            "ref": np.array(self.ref, np.int32).reshape(-1),
            "item_offsets": item_offsets,
            "item_groups": np.array([g for gs in self.groups for g in gs], np.int32).reshape(-1),
            "n_groups": self.n_groups,
            "drop": np.array(drop, np.uint8).reshape(-1),
            "windows": list(self.windows),
        }

    def labels(self) -> np.ndarray:
        label = self.label if self.label is not None else [0] * len(self.customers)
        return np.array(label, np.int8).reshape(-1)


def features(a: dict, n_blocks=None) -> kf.FeatureMatrix:
    return kf.customer_features(a["offsets"], a["item"], a["day"], a["quantity"], a["ref"],
                                a["item_offsets"], a["item_groups"], a["n_groups"], a["drop"],
                                a["windows"], n_blocks=n_blocks)


def support(a: dict, label: np.ndarray, n_blocks=None) -> np.ndarray:
    return kf.group_support(a["offsets"], a["item"], a["day"], a["ref"], a["item_offsets"],
                            a["item_groups"], a["n_groups"], label, a["drop"],
                            n_blocks=n_blocks)


def firsts(a: dict) -> np.ndarray:
    return kf.first_days(a["offsets"], a["item"], a["day"], a["item_offsets"],
                         a["item_groups"], a["n_groups"])


def as_rows(m: kf.FeatureMatrix, a: dict) -> list[dict[int, float]]:
    """The CSR as one dict per row, after checking dtypes, shapes and canonical rows."""
    n = a["offsets"].shape[0] - 1
    assert isinstance(m, kf.FeatureMatrix)
    indptr, indices, data = m
    assert indptr.dtype == np.int64 and indices.dtype == np.int32 and data.dtype == np.float32
    assert indptr.shape == (n + 1,) and indptr[0] == 0 and np.all(np.diff(indptr) >= 0)
    assert indices.shape == data.shape == (indptr[-1],)
    w = len(a["windows"])
    n_cols = kf.n_global(w) + a["n_groups"] * kf.n_stats(w)
    rows = []
    for c in range(n):
        idx = indices[indptr[c]:indptr[c + 1]]
        assert np.all(np.diff(idx) > 0), f"row {c} is not canonical: {idx}"
        assert np.all((idx >= 0) & (idx < n_cols))
        rows.append({int(i): float(v) for i, v in zip(idx, data[indptr[c]:indptr[c + 1]],
                                                      strict=True)})
    return rows


def reference_features(a: dict) -> list[dict[int, float]]:
    return naive.customer_features(a["offsets"], a["item"], a["day"], a["quantity"], a["ref"],
                                   a["item_offsets"], a["item_groups"], a["n_groups"],
                                   a["drop"], a["windows"])


def check_features(a: dict, blocks=BLOCKS) -> kf.FeatureMatrix:
    """Same rows as the reference, and the same three arrays for every block count."""
    want = reference_features(a)
    first = None
    for nb in blocks:
        got = features(a, nb)
        assert as_rows(got, a) == want, f"n_blocks={nb}"
        if first is None:
            first = got
        for x, y in zip(got, first, strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"n_blocks={nb}")
    return first


def check_support(a: dict, label: np.ndarray, blocks=BLOCKS) -> np.ndarray:
    want = naive.group_support(a["offsets"], a["item"], a["day"], a["ref"], a["item_offsets"],
                               a["item_groups"], a["n_groups"], label, a["drop"])
    for nb in blocks:
        got = support(a, label, nb)
        assert got.dtype == np.int64 and got.shape == (2, a["n_groups"])
        assert got.tolist() == want, f"n_blocks={nb}"
    return got


def check_first_days(a: dict) -> np.ndarray:
    got = firsts(a)
    assert got.dtype == np.int32 and got.shape == (a["offsets"].shape[0] - 1, a["n_groups"])
    assert got.tolist() == naive.first_days(a["offsets"], a["item"], a["day"],
                                            a["item_offsets"], a["item_groups"],
                                            a["n_groups"])
    return got


# ------------------------------------------------------------------- strategies
WINDOWS = st.lists(st.sampled_from([1, 2, 3, 7, 28, 91, 365, I32_MAX]) | st.integers(1, 60),
                   unique=True, max_size=4).map(sorted)
QUANTITIES = st.sampled_from([1.0, 0.5, 2.0, 0.1, 3.3, 1e7, 7.25])
EXTREME_DAYS = [I32_MIN, I32_MIN + 1, I32_MIN + 2, -1, 0, 1, I32_MAX - 2, I32_MAX - 1, I32_MAX]


@st.composite
def catalogs(draw, max_items: int = 7, max_groups: int = 6):
    """``(groups, n_groups, drop)``: items in no group, in several (any order), in all."""
    n_items = draw(st.integers(1, max_items))
    n_groups = draw(st.integers(0, max_groups))
    member = (st.lists(st.integers(0, n_groups - 1), unique=True, max_size=n_groups)
              if n_groups else st.just([]))
    groups = [draw(member) for _ in range(n_items)]
    drop = draw(st.lists(st.sampled_from([0, 0, 0, 1]), min_size=n_items, max_size=n_items))
    return groups, n_groups, drop


@st.composite
def cases(draw, extreme: bool | None = None, max_customers: int = 6, max_lines: int = 12):
    """Random cases; days either around a base (refs before, inside and after the lines)
    or at the int32 limits (``extreme``; None: either)."""
    groups, n_groups, drop = draw(catalogs())
    if extreme is None:
        extreme = draw(st.booleans())
    if extreme:
        days = refs = st.sampled_from(EXTREME_DAYS)
    else:
        base = draw(st.sampled_from([0, 19_000, -40]))
        span = draw(st.sampled_from([1, 5, 40, 400]))
        days = st.integers(base, base + span)
        refs = st.integers(base - 3, base + span + 3) | st.sampled_from([I32_MIN, I32_MAX])
    line = st.tuples(st.integers(0, len(groups) - 1), days, QUANTITIES)
    customers = draw(st.lists(st.lists(line, max_size=max_lines), max_size=max_customers))
    for c in customers:  # repeats: the same item again, often the same day
        if c and draw(st.booleans()):
            c.extend(draw(st.lists(st.sampled_from(list(c)), max_size=4)))
    return Case(customers=customers, ref=[draw(refs) for _ in customers], groups=groups,
                n_groups=n_groups, windows=draw(WINDOWS), drop=drop,
                with_quantity=draw(st.booleans()),
                label=[draw(st.sampled_from([-1, 0, 1])) for _ in customers])


# --------------------------------------------------------------- property tests
@given(cases())
def test_features_match_reference(case):
    check_features(case.arrays())


@given(cases(extreme=True))
def test_features_at_int32_day_limits_match_reference(case):
    m = check_features(case.arrays(), blocks=(1, 3))
    assert np.all(m.data >= 0)


@given(cases())
def test_support_matches_reference(case):
    a = case.arrays()
    check_support(a, case.labels())
    counts = check_support(a, np.zeros(len(case.customers), np.int8), blocks=(2,))
    assert not counts[1].any()


@given(cases())
def test_first_days_match_reference(case):
    check_first_days(case.arrays())


@given(cases(), st.data())
def test_no_leakage_lines_after_ref_change_nothing(case, data):
    """Planting lines after each customer's reference day (any items, dropped ones too,
    any quantities) changes no output of customer_features or group_support."""
    before = case.arrays()
    n_items = len(case.groups)
    planted = []
    for lines, r in zip(case.customers, case.ref, strict=True):
        extra = []
        if r < I32_MAX:
            late = st.integers(r + 1, min(r + 400, I32_MAX)) | st.just(I32_MAX)
            extra = data.draw(st.lists(st.tuples(st.integers(0, n_items - 1), late, QUANTITIES),
                                       min_size=1, max_size=5))
        planted.append(lines + extra)
    after = replace(case, customers=planted).arrays()
    check_features(after, blocks=(2,))
    for nb in (1, 3):
        for x, y in zip(features(after, nb), features(before, nb), strict=True):
            np.testing.assert_array_equal(x, y)
        label = case.labels()
        np.testing.assert_array_equal(support(after, label, nb), support(before, label, nb))


def test_results_do_not_depend_on_blocks_with_many_customers(rng):
    groups = [[int(g) for g in rng.choice(9, int(rng.integers(0, 4)), replace=False)]
              for _ in range(12)]
    customers = [[(int(rng.integers(0, 12)), int(rng.integers(0, 90)),
                   float(rng.choice([0.5, 1.0, 2.0, 0.1]))) for _ in range(int(rng.integers(0, 20)))]
                 for _ in range(60)]
    case = Case(customers, ref=[int(r) for r in rng.integers(-5, 100, 60)], groups=groups,
                n_groups=9, windows=[1, 7, 28], drop=[1] + [0] * 11,
                label=[int(x) for x in rng.integers(-1, 2, 60)])
    blocks = (1, 2, 3, 7, 64, 1000, None)
    a = case.arrays()
    check_features(a, blocks)
    check_support(a, case.labels(), blocks)
    check_first_days(a)


@pytest.mark.jit
def test_results_do_not_depend_on_thread_count(rng):
    """With the default blocks (8 per thread), one thread and all threads agree; only
    meaningful when compiled (without JIT ``prange`` is ``range``)."""
    groups = [[int(g) for g in rng.choice(40, int(rng.integers(0, 5)), replace=False)]
              for _ in range(100)]
    customers = [[(int(rng.integers(0, 100)), int(rng.integers(0, 400)),
                   float(rng.choice([0.5, 1.0, 0.1]))) for _ in range(int(rng.integers(0, 60)))]
                 for _ in range(3000)]
    case = Case(customers, ref=[int(r) for r in rng.integers(0, 420, 3000)], groups=groups,
                n_groups=40, windows=[7, 28, 91],
                label=[int(x) for x in rng.integers(-1, 2, 3000)])
    a = case.arrays()
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = features(a), support(a, case.labels()), firsts(a)
    finally:
        numba.set_num_threads(threads)
    many = features(a), support(a, case.labels()), firsts(a)
    for x, y in zip(one[0], many[0], strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(one[1], many[1])
    np.testing.assert_array_equal(one[2], many[2])
    assert as_rows(many[0], a) == reference_features(a)


# ------------------------------------------------------------------- Arrow input
@given(cases(), st.data())
def test_histories_from_chunked_arrow_columns(case, data):
    """Line columns handed over as chunked Arrow arrays (empty chunks, slices with an
    offset), taken with ``to_numpy``: read-only, possibly zero-copy inputs."""
    a = case.arrays()
    n = a["item"].shape[0]
    layout = st.lists(st.integers(0, n), max_size=4)
    pad = data.draw(st.integers(0, 2))

    def column(values, type_):
        return chunked(values.tolist(), type_, data.draw(layout), pad).to_numpy()

    cust = np.repeat(np.arange(len(case.customers)), np.diff(a["offsets"]))
    codes = column(cust, pa.int64())
    arrow = dict(a)
    arrow["offsets"] = np.searchsorted(codes, np.arange(len(case.customers) + 1)).astype(np.int64)
    arrow["item"] = column(a["item"], pa.int32())
    arrow["day"] = column(a["day"], pa.int32())
    if a["quantity"].size:
        arrow["quantity"] = column(a["quantity"], pa.float32())
    for name in ("item", "day", "quantity"):
        np.testing.assert_array_equal(arrow[name], a[name])
    assert as_rows(features(arrow, 2), arrow) == reference_features(a)
    np.testing.assert_array_equal(support(arrow, case.labels(), 2),
                                  support(a, case.labels(), 1))
    np.testing.assert_array_equal(firsts(arrow), firsts(a))


@given(cases(extreme=False, max_customers=5, max_lines=6).filter(lambda c: any(c.customers)),
       st.data())
def test_histories_built_by_the_engine_from_chunked_arrow(tmp_path_factory, case, data):
    """End to end: the lines written as chunked Arrow (uneven batches, empty ones, sliced
    arrays) with text ids, built into histories by the engine's ingestion, then the
    features over the engine's codes equal the reference over the original rows.
    Quantities are dyadic here so that the sum does not depend on how the engine
    orders lines of the same day."""
    dyadic = [0.5, 1.0, 2.0, 0.25, 3.0]
    cust_ids = [f"c{c:02d}" for c in range(len(case.customers))]
    item_ids = [f"sku-{i}" for i in range(len(case.groups))]
    rows, lines_of = [], {}
    for c, lines in enumerate(case.customers):
        for k, ln in enumerate(lines):
            q = dyadic[k % len(dyadic)]
            seconds = ln[1] * 86400 + data.draw(st.integers(0, 86399))
            rows.append({"customer": cust_ids[c], "item": item_ids[ln[0]], "time_raw": seconds,
                         "quantity": q})
            lines_of.setdefault(c, []).append((ln[0], ln[1], q))
    cfg = {"mapped": {"customer", "item", "time", "quantity"},
           "id_types": {"customer": pa.string(), "item": pa.string(), "basket": pa.int64(),
                        "store": pa.int64()},
           "dictionary": {"item"} if data.draw(st.booleans()) else set(), "time_kind": "s",
           "format": data.draw(st.sampled_from(["parquet", "ipc"])),
           "cuts": data.draw(st.lists(st.integers(0, len(rows)), max_size=4)),
           "pad": data.draw(st.integers(0, 2)), "file_split": data.draw(st.integers(1, 3))}
    tmp = tmp_path_factory.mktemp("lines")
    write_source(tmp, rows, cfg)
    hist = histories_from_project(lines_project(tmp, cfg, duplicate="keep"))

    # The catalog over the engine's item codes, the reference days over its customers.
    code_items = [int(s.split("-")[1]) for s in hist.item_ids.to_pylist()]
    code_custs = [int(s[1:]) for s in hist.customer_ids.to_pylist()]
    groups = [case.groups[i] for i in code_items]
    drop = [case.drop[i] for i in code_items]
    item_offsets = np.zeros(len(groups) + 1, np.int64)
    np.cumsum([len(g) for g in groups], out=item_offsets[1:])
    a = {"offsets": hist.offsets, "item": hist.item, "day": hist.day,
         "quantity": hist.quantity, "ref": np.array([case.ref[c] for c in code_custs], np.int32),
         "item_offsets": item_offsets,
         "item_groups": np.array([g for gs in groups for g in gs], np.int32).reshape(-1),
         "n_groups": case.n_groups, "drop": np.array(drop, np.uint8), "windows": case.windows}
    original = replace(case, customers=[lines_of[c] for c in code_custs],
                       ref=[case.ref[c] for c in code_custs],
                       label=[case.label[c] for c in code_custs], with_quantity=True)
    b = original.arrays()
    assert as_rows(features(a, 2), a) == reference_features(b)
    assert support(a, original.labels(), 2).tolist() == naive.group_support(
        b["offsets"], b["item"], b["day"], b["ref"], b["item_offsets"], b["item_groups"],
        b["n_groups"], original.labels(), b["drop"])


# ------------------------------------------------------------ named edge cases
W2 = [1, 7]
#: item 0 in group 0; item 1 in 0 and 1; item 2 in none; item 3 in all three (listed 2, 1, 0)
GROUPS = [[0], [0, 1], [], [2, 1, 0]]
F32_MAX_DAY = float(np.float32(I32_MAX))  # 2**31 - 1 rounds to 2**31 in float32


def _names(windows) -> tuple[list[str], list[str]]:
    """Column names as the module docstring lists them (written here, not imported)."""
    win = [f"lines_{w}d" for w in windows]
    return (["lines", "active_days", "since_first", "since_last", *win],
            [*win, "lines", "quantity", "since_first", "since_last"])


def named(row: dict[int, float], windows) -> dict:
    """A row's column indices as names: ``"lines"`` (global) or ``(group, "lines")``."""
    glob_names, stat_names = _names(windows)
    n_glob, n_st = 4 + len(windows), len(windows) + 4
    out = {}
    for col, v in row.items():
        if col < n_glob:
            out[glob_names[col]] = v
        else:
            g, k = divmod(col - n_glob, n_st)
            out[(g, stat_names[k])] = v
    return out


def E(customers, ref, rows, windows=W2, groups=GROUPS, n_groups=3, drop=None,  # noqa: N802
      with_quantity=True):
    """``(case, expected)``: each expected row is ``None`` (nothing stored) or
    ``(global values, {group: its values})`` in column order."""
    expected = []
    for r in rows:
        out = {}
        if r is not None:
            glob_names, stat_names = _names(windows)
            out.update(zip(glob_names, r[0], strict=True))
            for g, values in r[1].items():
                out.update({(g, k): v for k, v in zip(stat_names, values, strict=True)})
        expected.append(out)
    return Case(customers, ref, groups, n_groups, list(windows), drop, with_quantity), expected


_Q = float(np.float32(float(np.float32(0.1)) + float(np.float32(0.2)) + float(np.float32(0.7))))

EDGE = [
    pytest.param(*E([], [], []), id="no-customers"),
    pytest.param(*E([[], [], []], [0, 5, I32_MIN], [None, None, None]),
                 id="customers-without-lines"),
    pytest.param(*E([[(0, 10, 2.0)]], [10], [((1, 1, 1, 1, 1, 1), {0: (1, 1, 1, 2.0, 1, 1)})]),
                 id="one-customer-one-line"),
    pytest.param(*E([[(0, 10), (1, 12)]], [9], [None]), id="ref-before-all-lines"),
    pytest.param(*E([[(0, 10), (1, 11)]], [10],
                    [((1, 1, 1, 1, 1, 1), {0: (1, 1, 1, 1.0, 1, 1)})]),
                 id="line-on-ref-counts-day-after-not"),
    pytest.param(*E([[(0, 3), (0, 4), (0, 9)]], [10],
                    [((3, 3, 8, 2, 0, 2), {0: (0, 2, 3, 3.0, 8, 2)})]),
                 id="window-edges-ref-minus-w-excluded"),
    pytest.param(*E([[(2, 5, 3.0)]], [5], [((1, 1, 1, 1, 1, 1), {})]),
                 id="item-in-no-group-global-only"),
    pytest.param(*E([[(3, 5, 0.5)]], [6], [((1, 1, 2, 2, 0, 1), {
        0: (0, 1, 1, 0.5, 2, 2), 1: (0, 1, 1, 0.5, 2, 2), 2: (0, 1, 1, 0.5, 2, 2)})]),
        id="item-in-every-group-ascending"),
    pytest.param(*E([[(0, 5)], [(1, 5)]], [5, 5], [None, ((1, 1, 1, 1, 1, 1), {
        0: (1, 1, 1, 1.0, 1, 1), 1: (1, 1, 1, 1.0, 1, 1)})], drop=[1, 0, 0, 0]),
        id="dropped-item-only-no-row"),
    pytest.param(*E([[(0, 1), (2, 2), (1, 5)]], [5], [((2, 2, 4, 1, 1, 2), {
        0: (1, 1, 1, 1.0, 1, 1), 1: (1, 1, 1, 1.0, 1, 1)})], drop=[1, 0, 0, 0]),
        id="dropped-item-out-of-global-stats"),
    pytest.param(*E([[(1, 5, 1.0), (1, 5, 1.0), (1, 5, 0.5), (0, 5, 1.0)]], [5], [(
        (4, 1, 1, 1, 4, 4), {0: (4, 4, 4, 3.5, 1, 1), 1: (3, 3, 3, 2.5, 1, 1)})]),
        id="duplicate-lines-one-day"),
    pytest.param(*E([[(1, 5, 9.0), (1, 6, 9.0)]], [6], [((2, 2, 2, 1, 1, 2), {
        0: (1, 2, 2, 2.0, 2, 1), 1: (1, 2, 2, 2.0, 2, 1)})], with_quantity=False),
        id="empty-quantity-counts-one"),
    pytest.param(*E([[(0, I32_MIN)]], [I32_MAX], [((1, 1, 2.0**32, 2.0**32, 0), {
        0: (0, 1, 1.0, 2.0**32, 2.0**32)})], windows=[I32_MAX]),
        id="extreme-days-ref-max-day-min"),
    pytest.param(*E([[(0, 0), (0, I32_MAX - 1)]], [I32_MAX - 1], [((2, 2, F32_MAX_DAY, 1, 2), {
        0: (2, 2, 2.0, F32_MAX_DAY, 1)})], windows=[I32_MAX]),
        id="extreme-window-holds-day-0"),
    pytest.param(*E([[(0, I32_MIN), (0, I32_MIN)]], [I32_MIN], [((2, 1, 1, 1, 2), {
        0: (2, 2, 2.0, 1, 1)})], windows=[1]), id="extreme-days-ref-min"),
    pytest.param(*E([[(1, 2, 2.0), (0, 4)]], [4], [((2, 2, 3, 1), {
        0: (2, 3.0, 3, 1), 1: (1, 2.0, 3, 3)})], windows=[]), id="no-windows"),
    pytest.param(*E([[(0, 1), (0, 3)]], [3], [((2, 2, 3, 1, 1, 2), {})], groups=[[]],
                    n_groups=0), id="zero-groups"),
    pytest.param(*E([[(0, 0)]], [100], [((1, 1, 101, 101, 0, 0), {
        0: (0, 0, 1, 1.0, 101, 101)})], windows=[7, 28]), id="explicit-zeros-for-empty-windows"),
    pytest.param(*E([[(0, 1), (1, 9)], [(0, 1), (1, 9)]], [9, 5], [
        ((2, 2, 9, 1, 1, 1), {0: (1, 1, 2, 2.0, 9, 1), 1: (1, 1, 1, 1.0, 1, 1)}),
        ((1, 1, 5, 5, 0, 1), {0: (0, 1, 1, 1.0, 5, 5)})]), id="each-customer-its-own-ref"),
    pytest.param(*E([[(0, 1, 0.1), (1, 1, 0.2), (0, 2, 0.7)]], [2], [((3, 2, 2, 1, 1, 3), {
        0: (1, 3, 3, _Q, 2, 1), 1: (0, 1, 1, float(np.float32(0.2)), 2, 2)})]),
        id="quantity-summed-in-float64"),
]


@pytest.mark.parametrize("case, expected", EDGE)
def test_edge_cases(case, expected):
    a = case.arrays()
    m = check_features(a)
    got = [named(r, case.windows) for r in as_rows(m, a)]
    assert got == expected
    check_support(a, case.labels())
    check_first_days(a)


# ----------------------------------------------------------- layout and support
def test_column_layout_and_names():
    assert kf.n_global(3) == 7 and kf.n_stats(3) == 7 and kf.n_global(0) == kf.n_stats(0) == 4
    glob_names, stat_names = kf.feature_columns((28, 91, 365))
    assert glob_names == ("lines", "active_days", "since_first", "since_last",
                          "lines_28d", "lines_91d", "lines_365d")
    assert stat_names == ("lines_28d", "lines_91d", "lines_365d", "lines", "quantity",
                          "since_first", "since_last")
    assert glob_names[:4] == kf.GLOBAL_STATS and stat_names[3:] == kf.GROUP_STATS
    assert kf.feature_columns(np.array([7], np.int32)) == (
        ("lines", "active_days", "since_first", "since_last", "lines_7d"),
        ("lines_7d", "lines", "quantity", "since_first", "since_last"))


def test_stored_columns_are_the_documented_ones():
    case = Case([[(3, 8, 2.0)]], [10], GROUPS, 3, windows=[2, 3, 30])
    m = features(case.arrays())
    n_glob, n_st = kf.n_global(3), kf.n_stats(3)
    assert m.indices.tolist() == list(range(n_glob + 3 * n_st))
    assert m.data.tolist() == [1, 1, 3, 3, 0, 1, 1] + [0, 1, 1, 1, 2.0, 3, 3] * 3


SUPPORT = [
    pytest.param([[(0, 1), (0, 2), (1, 3)], [(1, 1)], [(0, 5)]], [9, 9, 9], [1, 0, -1],
                 [[1, 1, 0], [1, 1, 0]], id="distinct-customers-not-lines"),
    pytest.param([[(0, 1)], [(0, 1)], [(0, 1)]], [0, 1, 2], [0, 0, 1],
                 [[1, 0, 0], [1, 0, 0]], id="ref-decides-per-customer"),
    pytest.param([[(2, 1)], [(3, 1)]], [5, 5], [1, 1], [[0, 0, 0], [1, 1, 1]],
                 id="item-without-group-and-in-all"),
    pytest.param([[(0, 1)], [(1, 1)]], [5, 5], [-1, -1], [[0, 0, 0], [0, 0, 0]],
                 id="all-ignored"),
    pytest.param([[(0, 1), (1, 2)], [(1, 1)], []], [5, 5, 5], [0, 0, 0],
                 [[2, 2, 0], [0, 0, 0]], id="all-negative-frequent-groups"),
]


@pytest.mark.parametrize("customers, ref, label, expected", SUPPORT)
def test_support_by_hand(customers, ref, label, expected):
    case = Case(customers, ref, GROUPS, 3, label=label)
    assert check_support(case.arrays(), case.labels()).tolist() == expected


def test_support_ignores_dropped_items():
    case = Case([[(1, 1)], [(0, 1), (1, 1)]], [5, 5], GROUPS, 3, drop=[0, 1, 0, 0],
                label=[1, 1])
    assert check_support(case.arrays(), case.labels()).tolist() == [[0, 0, 0], [1, 0, 0]]


def test_support_with_no_groups_or_no_customers():
    for case in (Case([[(0, 1)]], [5], [[]], 0, label=[1]), Case([], [], GROUPS, 3, label=[])):
        out = check_support(case.arrays(), case.labels())
        assert out.shape == (2, case.n_groups) and not out.any()


def test_first_days_ignore_ref_and_drop():
    case = Case([[(0, 9), (1, 3), (3, 20)], [], [(2, 4)]], [0, 0, 0], GROUPS, 3,
                drop=[1, 1, 1, 1])
    got = check_first_days(case.arrays())
    assert got.tolist() == [[3, 3, 20], [NO_DAY] * 3, [NO_DAY] * 3]


def test_first_days_take_the_smallest_day_in_any_line_order():
    a = Case([[(0, 9), (1, 5), (0, 3)]], [0], GROUPS, 3).arrays()
    a["item"] = np.array([0, 1, 0], np.int32)  # days 9, 5, 3: decreasing
    a["day"] = np.array([9, 5, 3], np.int32)
    assert firsts(a).tolist() == [[3, 5, NO_DAY]]


def test_first_days_at_int32_limits():
    case = Case([[(1, I32_MIN + 1), (0, I32_MAX)], [(3, I32_MAX)]], [0, 0], GROUPS, 3)
    assert check_first_days(case.arrays()).tolist() == [
        [I32_MIN + 1, I32_MIN + 1, NO_DAY], [I32_MAX, I32_MAX, I32_MAX]]


# ---------------------------------------------------------------- wrapper checks
def _good() -> dict:
    return Case([[(0, 1, 1.0), (1, 2, 2.0)], [(3, 4, 1.0)]], [5, 5], GROUPS, 3).arrays()


def _with(**changes):
    def make():
        a = _good()
        for k, v in changes.items():
            a[k] = v(a) if callable(v) else v
        return a
    return make


BAD = [
    pytest.param(_with(item=lambda a: a["item"].astype(np.int64)), "item must be a 1-d int32",
                 id="item-int64"),
    pytest.param(_with(day=lambda a: a["day"].astype(np.float64)), "day must be a 1-d int32",
                 id="day-float"),
    pytest.param(_with(day=lambda a: a["day"][:2]), "day must have 3 entries", id="day-length"),
    pytest.param(_with(item=lambda a: a["item"].reshape(1, -1)), "item must be a 1-d",
                 id="item-2d"),
    pytest.param(_with(offsets=np.array([0, 2, 4], np.int64)), "offsets must start at 0 and end",
                 id="offsets-not-csr"),
    pytest.param(_with(offsets=np.array([0, 3, 1, 3], np.int64), ref=np.zeros(3, np.int32)),
                 "offsets must be non-decreasing", id="offsets-decrease"),
    pytest.param(_with(quantity=lambda a: a["quantity"][:1]), "quantity must have 3 entries",
                 id="quantity-length"),
    pytest.param(_with(quantity=lambda a: a["quantity"].astype(np.float64)),
                 "quantity must be a 1-d float32", id="quantity-float64"),
    pytest.param(_with(ref=np.array([5], np.int32)), "ref must have 2 entries", id="ref-length"),
    pytest.param(_with(ref=np.array([5, 5], np.int64)), "ref must be a 1-d int32",
                 id="ref-int64"),
    pytest.param(_with(drop=np.zeros(3, np.uint8)), "item_offsets must have 4 entries",
                 id="drop-length"),
    pytest.param(_with(drop=np.zeros(4, np.int64)), "drop must be a 1-d uint8",
                 id="drop-int64"),
    pytest.param(_with(item_offsets=lambda a: a["item_offsets"][:-1]),
                 "item_offsets must have 5 entries", id="item-offsets-length"),
    pytest.param(_with(item_offsets=np.array([0, 1, 3, 3, 5], np.int64)),
                 "item_offsets must start at 0 and end at 6", id="item-offsets-not-csr"),
    pytest.param(_with(n_groups=2), r"item_groups\[3\] = 2 \(item 3\)", id="group-out-of-range"),
    pytest.param(_with(item_groups=np.array([0, 0, -1, 2, 1, 0], np.int32)),
                 r"item_groups\[2\] = -1 \(item 1\)", id="negative-group"),
    pytest.param(_with(item_groups=np.array([0, 1, 1, 2, 1, 0], np.int32)),
                 "item 1 lists group 1 twice", id="group-twice-for-an-item"),
    pytest.param(_with(n_groups=-1), "n_groups must be >= 0", id="n-groups-negative"),
    pytest.param(_with(item=lambda a: a["item"] + 2), r"item\[2\] = 5 is not an item code",
                 id="item-code-out-of-range"),
    pytest.param(_with(item=np.array([0, -1, 3], np.int32)), r"item\[1\] = -1",
                 id="item-code-negative"),
    pytest.param(_with(windows=[7, 7]), "strictly ascending", id="windows-repeated"),
    pytest.param(_with(windows=[28, 7]), "strictly ascending", id="windows-descending"),
    pytest.param(_with(windows=[0, 7]), "windows must lie in", id="window-zero"),
    pytest.param(_with(windows=[2**31]), "windows must lie in", id="window-too-long"),
    pytest.param(_with(windows=[1.5]), "sequence of integers", id="window-float"),
    pytest.param(_with(windows=[[7]]), "sequence of integers", id="windows-2d"),
]


#: Arguments that group_support does not take (it is checked on the others too).
FEATURES_ONLY = ("quantity", "window")


@pytest.mark.parametrize("make, message", BAD)
def test_bad_inputs_raise_value_error(make, message, request):
    a = make()
    with pytest.raises(ValueError, match=message):
        features(a)
    if not any(k in request.node.callspec.id for k in FEATURES_ONLY):
        with pytest.raises(ValueError, match=message):
            support(a, np.zeros(a["ref"].shape[0], np.int8))


def test_decreasing_days_name_the_customer():
    a = Case([[(0, 1)], [(0, 5), (1, 3)], [(0, 9), (0, 2)]], [9, 9, 9], GROUPS, 3).arrays()
    a["day"] = np.array([1, 5, 3, 9, 2], np.int32)
    for nb in (1, 3):
        with pytest.raises(ValueError, match="the days of customer 1 decrease"):
            features(a, nb)
    # support and first days do not rely on the order
    check_support(a, np.array([1, 1, 0], np.int8))
    check_first_days(a)


def test_bad_labels_and_blocks():
    a = _good()
    with pytest.raises(ValueError, match=r"label\[1\] = 2"):
        support(a, np.array([0, 2], np.int8))
    with pytest.raises(ValueError, match="label must have 2 entries"):
        support(a, np.array([0], np.int8))
    with pytest.raises(ValueError, match="label must be a 1-d int8"):
        support(a, np.array([0, 1], np.int64))
    with pytest.raises(ValueError, match="n_blocks must be >= 1"):
        features(a, 0)
    with pytest.raises(ValueError, match="n_blocks must be >= 1"):
        support(a, np.zeros(2, np.int8), 0)


def test_first_days_checks():
    a = _good()
    with pytest.raises(ValueError, match="group ids must lie in"):
        kf.first_days(a["offsets"], a["item"], a["day"], a["item_offsets"], a["item_groups"], 1)
    with pytest.raises(ValueError, match="is not an item code"):
        kf.first_days(a["offsets"], a["item"] + 3, a["day"], a["item_offsets"],
                      a["item_groups"], 3)
    with pytest.raises(ValueError, match="day must have 3 entries"):
        kf.first_days(a["offsets"], a["item"], a["day"][:1], a["item_offsets"],
                      a["item_groups"], 3)


def test_lossless_conversions_are_accepted():
    """int32 offsets, a bool drop, windows as a tuple or int64 array, None quantities."""
    a = _good()
    want = features(a)
    b = dict(a, offsets=a["offsets"].astype(np.int32), drop=a["drop"].astype(bool),
             windows=np.array(a["windows"], np.int64), quantity=None)
    got = features(b)
    np.testing.assert_array_equal(got.indices, want.indices)
    a_one = dict(a, quantity=np.empty(0, np.float32))
    np.testing.assert_array_equal(got.data, features(a_one).data)
    strided = dict(a, item=np.repeat(a["item"], 2)[::2])
    assert not strided["item"].flags.c_contiguous
    for x, y in zip(features(strided), want, strict=True):
        np.testing.assert_array_equal(x, y)
