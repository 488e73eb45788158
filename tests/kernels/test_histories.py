"""The histories kernels (count, scatter, sort, scan, finalize) against tests/reference/histories.py.

Inputs are small lists of lines in first-seen codes plus rank remaps, split in
chunks; each kernel is checked on its own and the whole chain end to end.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from basketguard.kernels import histories as hk
from tests.reference import histories as naive

OPTIONAL = ("basket", "quantity", "price", "store")
I64_MIN = naive.INT64_MIN
#: Times with ties, both sides of the epoch and of day boundaries, far future
#: (day numbers must still fit int32: |t| < 2^31 * 86400).
TIMES = st.one_of(
    st.sampled_from([-86401, -86400, -1, 0, 1, 86399, 86400, 1_300_000_000, 10**13]),
    st.integers(-(2**40), 2**40),
)
FLOATS = st.sampled_from([0.5, 1.0, 1.1, 2.0, 3.25, 1e6])


@st.composite
def kernel_inputs(draw, max_lines=14):
    """Lines in first-seen codes, rank remaps, and a split into chunks."""
    n_cust = draw(st.integers(1, 4))
    n_item = draw(st.integers(1, 4))
    present = {k: draw(st.booleans()) for k in OPTIONAL}
    sizes = {"customer": n_cust, "item": n_item, "basket": draw(st.integers(1, 4)),
             "store": draw(st.integers(1, 3))}
    remaps = {k: draw(st.permutations(range(n))) for k, n in sizes.items()
              if k in ("customer", "item") or present[k]}
    line = {
        "customer": st.integers(0, n_cust - 1),
        "item": st.integers(0, n_item - 1),
        "t": TIMES if draw(st.booleans()) else st.sampled_from([0, 5, 86400]),
    }
    if present["basket"]:
        line["basket"] = st.integers(0, sizes["basket"] - 1)
    if present["quantity"]:
        line["quantity"] = FLOATS.map(naive.f32)
    if present["price"]:
        line["price"] = FLOATS.map(naive.f32)
    if present["store"]:
        line["store"] = st.integers(0, sizes["store"] - 1)
    lines = draw(st.lists(st.fixed_dictionaries(line), max_size=max_lines))
    if lines and draw(st.booleans()):  # repeat some lines: exact duplicates
        lines += draw(st.lists(st.sampled_from(lines), max_size=4))
        lines = draw(st.permutations(lines))
    cuts = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=4)))
    bounds = [0, *cuts, len(lines)]
    chunks = [lines[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return {"remaps": remaps, "chunks": chunks, "present": present}


def _final(case) -> list[dict]:
    """The case's lines in final codes (what the reference works on)."""
    remaps = case["remaps"]
    out = []
    for chunk in case["chunks"]:
        for line in chunk:
            f = dict(line)
            for role in ("customer", "item", "basket", "store"):
                if role in f:
                    f[role] = remaps[role][f[role]]
            out.append(f)
    return out


def _n_cust(case) -> int:
    return len(case["remaps"]["customer"])


def _remap(case, role) -> np.ndarray:
    return np.array(case["remaps"].get(role, []), np.int32)


def _col(chunk, role, dtype, present=True) -> np.ndarray:
    if not present:
        return np.empty(0, dtype)
    return np.array([line[role] for line in chunk], dtype)


def _arrays(case, chunk) -> dict:
    p = case["present"]
    return {
        "cust": _col(chunk, "customer", np.int32),
        "item": _col(chunk, "item", np.int32),
        "t": _col(chunk, "t", np.int64),
        "qty": _col(chunk, "quantity", np.float32, p["quantity"]),
        "basket": _col(chunk, "basket", np.int32, p["basket"]),
        "price": _col(chunk, "price", np.float32, p["price"]),
        "store": _col(chunk, "store", np.int32, p["store"]),
    }


def _n_part(case, shift) -> int:
    return max(1, -(-_n_cust(case) // (1 << shift)))


def _count(case, shift=0):
    """count_partitions over the chunks: per-chunk (pcounts, edges)."""
    out = []
    for chunk in case["chunks"]:
        a = _arrays(case, chunk)
        out.append(hk.count_partitions(a["cust"], _remap(case, "customer"), a["t"], shift,
                                       _n_part(case, shift)))
    return out


def _partition(case, shift=0, ranked=False):
    """count + scatter, as the engine chains them: pstart and partitioned columns.

    ``ranked``: the count turns each chunk's customer codes into final codes in
    place and the scatter gets ``cust_remap=None`` (what the engine does).
    """
    counted = _count(case, shift)
    n_part = _n_part(case, shift)
    pcounts = (np.stack([c[0] for c in counted]) if counted
               else np.zeros((0, n_part), np.int64))
    pstart = np.zeros(n_part + 1, np.int64)
    np.cumsum(pcounts.sum(axis=0), out=pstart[1:])
    cursors = pstart[:-1][None, :] + np.cumsum(pcounts, axis=0) - pcounts
    n = int(pstart[-1])
    p = case["present"]
    parts = {
        "cust": np.empty(n, np.int32),
        "item": np.empty(n, np.int32),
        "t": np.empty(n, np.int64),
        "qty": np.empty(n if p["quantity"] else 0, np.float32),
        "basket": np.empty(n if p["basket"] else 0, np.int32),
        "price": np.empty(n if p["price"] else 0, np.float32),
        "store": np.empty(n if p["store"] else 0, np.int32),
    }
    for i, chunk in enumerate(case["chunks"]):
        a = _arrays(case, chunk)
        cursor = cursors[i].copy()
        cust_remap = _remap(case, "customer")
        if ranked:
            hk.count_partitions(a["cust"], cust_remap, a["t"], shift, n_part,
                                ranks_out=a["cust"])
            cust_remap = None
        # ranked: also a write-position scratch longer than the chunk, reused
        dest = np.full(len(chunk) + 3, -7, np.int64) if ranked else None
        hk.scatter_lines(a["cust"], cust_remap, a["item"], _remap(case, "item"),
                         a["t"], a["qty"], a["basket"], _remap(case, "basket"), a["price"],
                         a["store"], _remap(case, "store"), shift, cursor, parts, dest=dest)
        assert cursor.tolist() == (cursors[i] + pcounts[i]).tolist()
    return pstart, parts, hk.chunks_sorted([c[1] for c in counted])


def _scatter(case, shift=0, fast_path=None, ranked=False):
    """count + scatter + place: offsets and the CSR columns (before sorting)."""
    pstart, parts, is_sorted = _partition(case, shift, ranked)
    already = is_sorted if fast_path is None else fast_path
    offsets, lines = hk.place_partitions(pstart, shift, _n_cust(case), parts, already)
    return offsets, lines


def _csr_lines(offsets, cols, present) -> list[list[dict]]:
    """CSR columns back to per-customer lists of line dicts (for comparison)."""
    names = {"item": "item", "t": "t", "basket": "basket", "qty": "quantity",
             "price": "price", "store": "store"}
    groups = []
    for c in range(offsets.shape[0] - 1):
        group = []
        for i in range(int(offsets[c]), int(offsets[c + 1])):
            line = {"customer": c}
            for k, role in names.items():
                if role in ("item", "t") or present[role]:
                    line[role] = cols[k][i].item()
            group.append(line)
        groups.append(group)
    return groups


def _sorted(case, shift=0, ranked=False):
    offsets, cols = _scatter(case, shift, ranked=ranked)
    resorted = hk.sort_segments(offsets, cols["t"], cols["basket"], cols["item"], cols["qty"],
                                cols["price"], cols["store"])
    return offsets, cols, resorted


def _pipeline(case, drop_duplicates, shift=0, engine=False):
    """The kernels chained; ``engine``: as build_histories chains them (ranked
    count and scatter, sort and scan fused), else one kernel at a time."""
    if engine:
        offsets, cols = _scatter(case, shift, ranked=True)
        args = (offsets, cols["t"], cols["basket"], cols["item"], cols["qty"], cols["price"],
                cols["store"])
        _, n_times, n_dups = hk.sort_and_scan(*args)
    else:
        offsets, cols, _ = _sorted(case, shift)
        args = (offsets, cols["t"], cols["basket"], cols["item"], cols["qty"], cols["price"],
                cols["store"])
        n_times, n_dups = hk.scan_customers(*args)
    out = hk.finalize_lines(*args, n_times, n_dups, derive_basket=not case["present"]["basket"],
                            drop_duplicates=drop_duplicates)
    return out, n_times, n_dups


def _expected(case, drop_duplicates):
    return naive.histories_from_codes(_final(case), _n_cust(case), drop_duplicates)


def _check_pipeline(case, drop_duplicates, shift=0, engine=False):
    out, n_times, n_dups = _pipeline(case, drop_duplicates, shift, engine)
    want = _expected(case, drop_duplicates)
    assert out["offsets"].dtype == np.int64
    for name in ("day", "basket", "item"):
        assert out[name].dtype == np.int32, name
    for name in ("offsets", "item", "day", "basket", "quantity", "price", "store"):
        assert out[name].tolist() == want[name], name
    assert n_times.tolist() == want["n_times"]
    assert n_dups.tolist() == want["n_dups"]


# ------------------------------------------------------------------ per kernel


SHIFTS = st.integers(0, 3)


def _by_customer(lines, n_cust) -> list[list[dict]]:
    groups: list[list[dict]] = [[] for _ in range(n_cust)]
    for line in lines:  # input order kept within a customer
        groups[line["customer"]].append(line)
    return groups


@given(kernel_inputs(), SHIFTS)
def test_count_partitions_matches_reference(case, shift):
    counted = _count(case, shift)
    n_part = _n_part(case, shift)
    remap = case["remaps"]["customer"]
    for chunk, (pcounts, edges) in zip(case["chunks"], counted, strict=True):
        want = [0] * n_part
        for line in chunk:
            want[remap[line["customer"]] >> shift] += 1
        assert pcounts.tolist() == want
        final = [(remap[ln["customer"]], ln["t"]) for ln in chunk]
        assert bool(edges[4]) == all(final[i - 1] <= final[i] for i in range(1, len(final)))
        if final:
            assert edges[:4].tolist() == [*final[0], *final[-1]]
        else:
            assert edges[0] < 0  # marks an empty chunk for chunks_sorted


@given(kernel_inputs(), SHIFTS)
def test_count_partitions_writes_ranks_in_place(case, shift):
    remap = _remap(case, "customer")
    for chunk in case["chunks"]:
        a = _arrays(case, chunk)
        want = hk.count_partitions(a["cust"], remap, a["t"], shift, _n_part(case, shift))
        first_seen = a["cust"].copy()
        got = hk.count_partitions(a["cust"], remap, a["t"], shift, _n_part(case, shift),
                                  ranks_out=a["cust"])
        assert got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()
        assert a["cust"].tolist() == [int(remap[c]) for c in first_seen]


def test_count_partitions_rejects_bad_ranks_out():
    cust = np.zeros(3, np.int32)
    with pytest.raises(ValueError, match="ranks_out"):
        hk.count_partitions(cust, np.zeros(1, np.int32), np.zeros(3, np.int64), 0, 1,
                            ranks_out=np.zeros(3, np.int64))


@given(kernel_inputs(), SHIFTS)
def test_ranked_scatter_matches_remapped_scatter(case, shift):
    pstart, parts, is_sorted = _partition(case, shift)
    pstart_r, parts_r, is_sorted_r = _partition(case, shift, ranked=True)
    assert pstart.tolist() == pstart_r.tolist() and is_sorted == is_sorted_r
    for k, v in parts.items():
        assert v.dtype == parts_r[k].dtype
        assert v.tobytes() == parts_r[k].tobytes(), k


@given(kernel_inputs(), SHIFTS)
def test_sort_and_scan_matches_separate_kernels(case, shift):
    offsets, cols = _scatter(case, shift)
    copy = {k: v.copy() for k, v in cols.items()}
    keys = ("t", "basket", "item", "qty", "price", "store")
    resorted = hk.sort_segments(offsets, *(cols[k] for k in keys))
    n_times, n_dups = hk.scan_customers(offsets, *(cols[k] for k in keys))
    got = hk.sort_and_scan(offsets, *(copy[k] for k in keys))
    assert got[0] == resorted
    assert got[1].tolist() == n_times.tolist() and got[2].tolist() == n_dups.tolist()
    for k in keys:
        assert copy[k].tobytes() == cols[k].tobytes(), k


@given(kernel_inputs(), st.booleans(), SHIFTS)
def test_engine_chain_matches_reference(case, drop_duplicates, shift):
    _check_pipeline(case, drop_duplicates, shift, engine=True)


@given(kernel_inputs(), SHIFTS)
def test_chunks_sorted_matches_reference(case, shift):
    _, _, is_sorted = _partition(case, shift)
    assert is_sorted == naive.input_sorted(_final(case))


@given(kernel_inputs(), SHIFTS)
def test_scatter_lines_partitions_stably(case, shift):
    pstart, parts, _ = _partition(case, shift)
    final = _final(case)
    want = sorted(final, key=lambda ln: ln["customer"] >> shift)  # stable
    got = _csr_lines(np.array([0, pstart[-1]]), parts, case["present"])[0]
    assert [ln["customer"] for ln in want] == parts["cust"].tolist()
    assert [{k: v for k, v in ln.items() if k != "customer"} for ln in got] == [
        {k: v for k, v in ln.items() if k != "customer"} for ln in want]
    for p in range(pstart.shape[0] - 1):  # partition bounds hold their customers only
        assert all(c >> shift == p for c in parts["cust"][pstart[p]:pstart[p + 1]].tolist())


@given(kernel_inputs(), SHIFTS)
def test_place_partitions_groups_stably(case, shift):
    offsets, lines = _scatter(case, shift, fast_path=False)
    want = _by_customer(_final(case), _n_cust(case))
    assert _csr_lines(offsets, lines, case["present"]) == want


@given(kernel_inputs(), SHIFTS)
def test_place_partitions_fast_path_when_sorted(case, shift):
    final = _final(case)
    order = sorted(range(len(final)), key=lambda j: (final[j]["customer"], final[j]["t"]))
    flat = [ln for ch in case["chunks"] for ln in ch]
    cut = len(flat) // 2
    ordered = [flat[j] for j in order]
    case = {**case, "chunks": [ordered[:cut], [], ordered[cut:]]}
    pstart, parts, is_sorted = _partition(case, shift)
    assert is_sorted
    offsets, lines = hk.place_partitions(pstart, shift, _n_cust(case), parts, True)
    assert _csr_lines(offsets, lines, case["present"]) == _by_customer(_final(case),
                                                                       _n_cust(case))


@given(st.integers(0, 10**7), st.integers(0, 10**9), st.integers(1, 1 << 16),
       st.integers(1, 1024))
def test_partition_shift_matches_reference(n_cust, n_lines, target, max_parts):
    shift = hk.partition_shift(n_cust, n_lines, target, max_parts)
    want = min(max_parts, max(1, n_lines // target))
    per = -(-max(n_cust, 1) // want)
    assert shift == min(s for s in range(64) if (1 << s) >= per)
    assert max(1, -(-n_cust // (1 << shift))) <= max_parts


@given(kernel_inputs(), SHIFTS)
def test_sort_segments_matches_reference(case, shift):
    offsets, cols = _scatter(case, shift)
    before = _csr_lines(offsets, cols, case["present"])
    resorted = hk.sort_segments(offsets, cols["t"], cols["basket"], cols["item"], cols["qty"],
                                cols["price"], cols["store"])
    want = naive.sorted_groups(_final(case), _n_cust(case))
    assert _csr_lines(offsets, cols, case["present"]) == want
    assert resorted == sum(g != w for g, w in zip(before, want, strict=True))


@st.composite
def long_runs(draw):
    """Few customers with many lines on few times: long runs of one basket (past the
    packed sort's insertion limit of 48), runs across baskets, ties on item, and
    segments longer than 32 lines out of time order."""
    n_item = draw(st.integers(1, 300))
    present = {k: draw(st.booleans()) for k in OPTIONAL}
    times = draw(st.lists(TIMES, min_size=1, max_size=3))
    line = {"customer": st.integers(0, 1), "item": st.integers(0, n_item - 1),
            "t": st.sampled_from(times)}
    if present["basket"]:
        line["basket"] = st.integers(0, draw(st.integers(0, 2)))
    for role in ("quantity", "price"):
        if present[role]:
            line[role] = st.sampled_from([1.0, 2.0]).map(naive.f32)
    if present["store"]:
        line["store"] = st.integers(0, 1)
    lines = draw(st.lists(st.fixed_dictionaries(line), min_size=40, max_size=160))
    sizes = {"customer": 2, "item": n_item, "basket": 3, "store": 2}
    remaps = {k: list(range(n)) for k, n in sizes.items()
              if k in ("customer", "item") or present[k]}
    return {"remaps": remaps, "chunks": [lines], "present": present}


@settings(max_examples=40)
@given(long_runs())
def test_sort_and_scan_long_runs_match_reference(case):
    offsets, cols = _scatter(case)
    before = _csr_lines(offsets, cols, case["present"])
    keys = ("t", "basket", "item", "qty", "price", "store")
    resorted, n_times, n_dups = hk.sort_and_scan(offsets, *(cols[k] for k in keys))
    want = naive.sorted_groups(_final(case), _n_cust(case))
    assert _csr_lines(offsets, cols, case["present"]) == want
    assert resorted == sum(g != w for g, w in zip(before, want, strict=True))
    expected = _expected(case, drop_duplicates=False)
    assert n_times.tolist() == expected["n_times"] and n_dups.tolist() == expected["n_dups"]


@given(kernel_inputs())
def test_scan_customers_matches_reference(case):
    offsets, cols, _ = _sorted(case)
    n_times, n_dups = hk.scan_customers(offsets, cols["t"], cols["basket"], cols["item"],
                                        cols["qty"], cols["price"], cols["store"])
    want = _expected(case, drop_duplicates=False)
    assert n_times.dtype == np.int64 and n_dups.dtype == np.int64
    assert n_times.tolist() == want["n_times"] and n_dups.tolist() == want["n_dups"]


@given(kernel_inputs(), st.booleans(), SHIFTS)
def test_finalize_lines_matches_reference(case, drop_duplicates, shift):
    _check_pipeline(case, drop_duplicates, shift)


@given(st.lists(TIMES, max_size=20))
def test_days_from_seconds_floors(ts):
    got = hk.days_from_seconds(np.array(ts, np.int64))
    assert got.dtype == np.int32 and got.tolist() == [naive.day_of(t) for t in ts]


# ------------------------------------------------------------ named edge cases


def _case(chunks, n_cust=None, n_item=None, present=(), **sizes):
    """A hand-written case with identity remaps unless the ids say otherwise."""
    lines = [line for ch in chunks for line in ch]
    n_cust = n_cust or max((ln["customer"] for ln in lines), default=0) + 1
    n_item = n_item or max((ln["item"] for ln in lines), default=0) + 1
    remaps = {"customer": list(range(n_cust))[::-1], "item": list(range(n_item))}
    for role in ("basket", "store"):
        if role in present:
            remaps[role] = list(range(max((ln[role] for ln in lines), default=0) + 1))[::-1]
    return {"remaps": remaps, "chunks": chunks,
            "present": {k: k in present for k in OPTIONAL}}


def L(c, i, t, **kw):  # noqa: N802 (a line, short for tables)
    return {"customer": c, "item": i, "t": t, **kw}


ALL = ("basket", "quantity", "price", "store")
EDGE_CASES = {
    "empty_no_customers": _case([], n_cust=0, n_item=0),
    "empty_chunks_only": _case([[], [], []], n_cust=2),
    "customer_without_lines": _case([[L(2, 0, 5)]], n_cust=4),
    "one_line": _case([[L(0, 0, 7)]]),
    "one_customer_unsorted": _case([[L(0, 1, 9), L(0, 0, 3), L(0, 2, 3), L(0, 0, -4)]]),
    "all_duplicates_keep_order": _case([[L(0, 0, 1, quantity=1.0)] * 5], present=("quantity",)),
    "all_duplicates_over_chunks": _case([[L(1, 1, 0)], [L(1, 1, 0)], [], [L(1, 1, 0)]]),
    "ties_on_time_by_item": _case([[L(0, 3, 10), L(0, 1, 10), L(0, 2, 10), L(0, 1, 10)]]),
    "ties_on_time_by_basket_first": _case(
        [[L(0, 0, 10, basket=2), L(0, 1, 10, basket=1), L(0, 0, 10, basket=1)]],
        present=("basket",)),
    "ties_broken_by_qty_price_store": _case(
        [[L(0, 0, 1, basket=0, quantity=2.0, price=1.0, store=0),
          L(0, 0, 1, basket=0, quantity=1.0, price=3.0, store=1),
          L(0, 0, 1, basket=0, quantity=1.0, price=2.0, store=1),
          L(0, 0, 1, basket=0, quantity=1.0, price=2.0, store=0),
          L(0, 0, 1, basket=0, quantity=1.0, price=2.0, store=0)]], present=ALL),
    "not_duplicates_when_store_differs": _case(
        [[L(0, 0, 1, store=0), L(0, 0, 1, store=1)]], present=("store",)),
    "times_before_1970": _case([[L(0, 0, -1), L(0, 0, -86400), L(0, 0, -86401),
                                 L(0, 0, -(10**12))]]),
    "far_future": _case([[L(0, 0, 10**13), L(0, 0, 2**31 * 86400 - 1)]]),
    "earliest_int32_day": _case([[L(0, 0, 0), L(0, 0, -(2**31) * 86400)]]),
    "chunks_of_one": _case([[L(1, 0, 3)], [L(0, 1, 2)], [L(1, 1, 1)], [L(0, 0, 2)]]),
    "chunks_of_zero_between": _case([[], [L(0, 0, 3)], [], [], [L(0, 0, 1)], []]),
    "many_chunks": _case([[L(i % 3, i % 2, (7 * i) % 5)] for i in range(40)]),
    "sorted_input_fast_path": _case([[L(0, 0, 1), L(0, 1, 2)], [L(1, 0, 0), L(1, 0, 9)]],
                                    n_cust=2),
    "derived_baskets_per_time": _case([[L(0, 0, 5), L(0, 1, 5), L(1, 0, 5), L(0, 0, 6)]]),
}


@pytest.mark.parametrize("drop_duplicates, shift", [(False, 0), (True, 1)],
                         ids=["keep", "drop_shift1"])
@pytest.mark.parametrize("case", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_pipeline_edge_cases(case, drop_duplicates, shift):
    _check_pipeline(case, drop_duplicates, shift)


SORTEDNESS_CASES = {
    # Final codes reverse the first-seen codes (see _case): first-seen 1 is final 0.
    "sorted_over_chunks": ([[L(1, 0, 1)], [L(1, 0, 2), L(0, 0, 0)]], True),
    "time_goes_back_at_chunk_edge": ([[L(1, 0, 2)], [L(1, 0, 1)]], False),
    "customer_goes_back_at_chunk_edge": ([[L(0, 0, 2)], [L(1, 0, 5)]], False),
    "empty_chunks_between": ([[L(1, 0, 1)], [], [], [L(1, 0, 1), L(0, 0, -5)]], True),
    "back_across_empty_chunk": ([[L(0, 0, 1)], [], [L(1, 0, 1)]], False),
    "equal_times": ([[L(1, 0, 3), L(1, 1, 3)], [L(1, 0, 3)]], True),
    "only_empty_chunks": ([[], []], True),
}


@pytest.mark.parametrize("chunks, is_sorted", SORTEDNESS_CASES.values(),
                         ids=SORTEDNESS_CASES.keys())
def test_sortedness_flag_across_chunks(chunks, is_sorted):
    case = _case(chunks, n_cust=2)
    assert naive.input_sorted(_final(case)) == is_sorted
    assert _partition(case)[2] == is_sorted


def test_scatter_rejects_ragged_chunks():
    e32, ef = np.empty(0, np.int32), np.empty(0, np.float32)
    one = np.zeros(1, np.int32)
    out = {"cust": one.copy(), "item": one.copy(), "t": np.zeros(1, np.int64), "qty": ef,
           "basket": e32, "price": ef, "store": e32}
    with pytest.raises(ValueError, match="differ in length"):
        hk.scatter_lines(one, one, np.zeros(2, np.int32), one, np.zeros(1, np.int64), ef, e32,
                         e32, ef, e32, e32, 0, np.zeros(1, np.int64), out)
    with pytest.raises(ValueError, match="optional"):
        hk.scatter_lines(one, one, one, one, np.zeros(1, np.int64), np.zeros(2, np.float32),
                         e32, e32, ef, e32, e32, 0, np.zeros(1, np.int64), out)


def test_scatter_rejects_short_dest():
    one = np.zeros(2, np.int32)
    e32, ef = np.empty(0, np.int32), np.empty(0, np.float32)
    out = {"cust": np.empty(2, np.int32), "item": np.empty(2, np.int32),
           "t": np.empty(2, np.int64), "qty": ef, "basket": e32, "price": ef, "store": e32}
    for dest in (np.zeros(1, np.int64), np.zeros(2, np.int32)):
        with pytest.raises(ValueError, match="dest"):
            hk.scatter_lines(one, None, one, np.zeros(1, np.int32), np.zeros(2, np.int64), ef,
                             e32, e32, ef, e32, e32, 0, np.zeros(1, np.int64), out, dest=dest)


def test_count_partitions_rejects_mismatched_columns():
    with pytest.raises(ValueError, match="equal length"):
        hk.count_partitions(np.zeros(2, np.int32), np.zeros(1, np.int32),
                            np.zeros(1, np.int64), 0, 1)


# ------------------------------------------------------------------ known bugs


def test_day_out_of_int32_range_is_rejected():
    # The engine marks such times bad_time; the kernel refuses them outright.
    case = _case([[L(0, 0, 2**62)]])
    with pytest.raises(ValueError, match="int32"):
        _pipeline(case, drop_duplicates=False)


@pytest.mark.parametrize("basket", [False, True])
@pytest.mark.parametrize("drop", [False, True])
@pytest.mark.parametrize("t", [hk.MIN_SECONDS - 1, hk.MAX_SECONDS + 1])
def test_day_out_of_range_rejected_on_both_paths(basket, drop, t):
    # Fused path (offsets cover the lines): one bad time among good ones, a duplicate.
    present = ("basket",) if basket else ()
    lines = [L(0, 0, 5, basket=0), L(0, 0, 5, basket=0), L(1, 0, t, basket=0)]
    if not basket:
        lines = [{k: v for k, v in ln.items() if k != "basket"} for ln in lines]
    with pytest.raises(ValueError, match="int32"):
        _pipeline(_case([lines], present=present), drop_duplicates=drop)
    # The range edges themselves are accepted, with floored day numbers.
    ok = [{**ln, "t": edge} for ln, edge in zip(lines, (hk.MIN_SECONDS, hk.MAX_SECONDS, 0),
                                                strict=True)]
    _check_pipeline(_case([ok], present=present), drop)
    # Offsets that do not cover the lines (no customer): the range is still checked.
    e32, ef = np.empty(0, np.int32), np.empty(0, np.float32)
    with pytest.raises(ValueError, match="int32"):
        hk.finalize_lines(np.zeros(1, np.int64), np.array([t], np.int64), e32, e32, ef, ef,
                          e32, np.zeros(0, np.int64), np.zeros(0, np.int64),
                          derive_basket=not basket, drop_duplicates=drop)


NAN = float("nan")


def test_nan_price_order_does_not_depend_on_input_order():
    lines = [L(0, 0, 1, price=NAN), L(0, 0, 1, price=1.0)]
    a = _pipeline(_case([lines], present=("price",)), False)[0]["price"]
    b = _pipeline(_case([lines[::-1]], present=("price",)), False)[0]["price"]
    assert np.array_equal(a, b, equal_nan=True)


def test_nan_price_duplicates_are_found():
    case = _case([[L(0, 0, 1, price=NAN), L(0, 0, 1, price=NAN)]], present=("price",))
    _, _, n_dups = _pipeline(case, False)
    assert n_dups.tolist() == [1]


# ------------------------------------------------------------------------ jit


@pytest.mark.jit
def test_pipeline_larger_random_against_reference(rng):
    n_cust, n_item, n = 300, 50, 20_000
    chunks = []
    lines = [L(int(c), int(i), int(t), basket=int(b), quantity=naive.f32(float(q)))
             for c, i, t, b, q in zip(rng.integers(0, n_cust, n), rng.integers(0, n_item, n),
                                      rng.integers(-(10**9), 10**9, n) // 3600 * 3600,
                                      rng.integers(0, 400, n), rng.integers(1, 4, n),
                                      strict=True)]
    lines += lines[:2000]  # duplicates
    cuts = np.sort(rng.integers(0, len(lines), 30)).tolist()
    for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True):
        chunks.append(lines[a:b])
    case = {"remaps": {"customer": rng.permutation(n_cust).tolist(),
                       "item": rng.permutation(n_item).tolist(),
                       "basket": rng.permutation(400).tolist()},
            "chunks": chunks,
            "present": {"basket": True, "quantity": True, "price": False, "store": False}}
    for drop, shift in ((False, 0), (True, 3)):
        _check_pipeline(case, drop, shift)
        _check_pipeline(case, drop, shift, engine=True)


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([33, 300, 20_000]))
def test_time_sort_of_long_wide_segments_matches_lexsort(seed, m):
    """A segment of ``m`` lines out of time order with times over the kernels' whole
    range: the packed time keys leave too few bits at 20,000 lines (15 bits of
    position, a span of 2^48.4 s), so the ranks of the times are packed instead; both
    give the stable order by the whole line key, as np.lexsort does."""
    rng = np.random.default_rng(seed)
    pool = np.array([hk.MIN_SECONDS, hk.MIN_SECONDS + 1, -1, 0, 1, hk.MAX_SECONDS - 1,
                     hk.MAX_SECONDS], np.int64)
    t = np.where(rng.random(m) < 0.5, rng.choice(pool, m),
                 rng.integers(hk.MIN_SECONDS, hk.MAX_SECONDS, m, endpoint=True))
    item = rng.integers(0, 5, m).astype(np.int32)
    basket = rng.integers(0, 3, m).astype(np.int32)
    qty = rng.choice(np.array([1.0, 2.0], np.float32), m)
    empty_f, empty_i = np.zeros(0, np.float32), np.zeros(0, np.int32)
    want = np.lexsort((qty, item, basket, t))
    expect = (t[want], basket[want], item[want], qty[want])
    offsets = np.array([0, m], np.int64)
    resorted, n_times, n_dups = hk.sort_and_scan(offsets, t, basket, item, qty, empty_f,
                                                 empty_i)
    assert resorted == 1
    for got, exp in zip((t, basket, item, qty), expect, strict=True):
        np.testing.assert_array_equal(got, exp)
    assert n_times[0] == np.unique(t).shape[0]
    rows = np.stack([t, basket, item, qty.astype(np.int64)])
    assert n_dups[0] == m - np.unique(rows, axis=1).shape[1]
