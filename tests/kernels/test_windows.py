"""Signature scan kernel (kernels.windows) against tests/reference/windows.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels import windows as kw
from tests.reference import windows as naive

NO_DAY = kw.NO_DAY
BLOCKS = (1, 2, 7)


# ------------------------------------------------------------------ compact tables
@dataclass
class F:
    """A feature: its items; ``ratio`` with ``level`` makes a quantity condition;
    ``absent=D > 0`` makes it an absence feature of ``D`` days."""

    weight: float
    items: tuple[int, ...]
    ratio: float | None = None
    level: int = 0  # baseline level (index into the levels given to make_tables)
    stage: int | None = None
    spread: int = 14
    absent: int = 0


@dataclass
class S:
    window: int
    features: list[F]
    min_stage: int = 1
    thr: float = 1e9


@dataclass
class Lib:
    tables: kw.ScanTables
    n_groups: int
    slot_item: list[int] = field(default_factory=list)
    spec: tuple = ()  # the arguments of make_tables


def make_tables(sigs: list[S], n_items: int, levels: tuple[dict[int, int], ...] = ({},),
                slot_order: str = "ascending") -> Lib:
    """The kernel's tables from a compact description (the job of engine.signatures.resolve).

    ``levels[k]`` maps item -> value of baseline level ``k``; the baseline group of
    a quantity feature's item is the items sharing its value (the item alone when
    it has none). ``slot_order`` numbers slots by ascending or descending item.
    """
    groups: dict[tuple, int] = {}
    members: list[list[int]] = []
    pairs = []  # (item, feature, group)
    feats = []
    sig_feat_off = [0]
    for s, sig in enumerate(sigs):
        for local, f in enumerate(sig.features):
            g_feat = len(feats)
            feats.append((s, local, f))
            for it in sorted(set(f.items)):
                g = -1
                if f.ratio is not None:
                    lv = levels[f.level]
                    key = (f.level, lv[it]) if it in lv else ("item", it)
                    if key not in groups:
                        groups[key] = len(groups)
                        members.append([i for i in range(n_items) if lv.get(i) == key[1]]
                                       if key[0] != "item" else [it])
                    g = groups[key]
                pairs.append((it, g_feat, g))
        sig_feat_off.append(len(feats))
    slot_item = sorted({p[0] for p in pairs} | {i for m in members for i in m},
                       reverse=slot_order == "descending")
    item_slot = np.full(n_items, -1, np.int32)
    for sl, it in enumerate(slot_item):
        item_slot[it] = sl
    n_slots = len(slot_item)
    by_slot = sorted((int(item_slot[it]), f, g) for it, f, g in pairs)
    grp_pairs = sorted({(int(item_slot[i]), g) for g, m in enumerate(members) for i in m})
    sf_off = np.zeros(n_slots + 1, np.int64)
    np.cumsum(np.bincount([p[0] for p in by_slot], minlength=n_slots), out=sf_off[1:])
    sg_off = np.zeros(n_slots + 1, np.int64)
    np.cumsum(np.bincount([p[0] for p in grp_pairs], minlength=n_slots), out=sg_off[1:])
    tables = kw.ScanTables(
        item_slot=item_slot,
        slot_feat_off=sf_off,
        slot_feat=np.array([p[1] for p in by_slot], np.int32),
        slot_feat_group=np.array([p[2] for p in by_slot], np.int32),
        slot_grp_off=sg_off,
        slot_grp=np.array([p[1] for p in grp_pairs], np.int32),
        feat_sig=np.array([s for s, _, _ in feats], np.int32),
        feat_local=np.array([loc for _, loc, _ in feats], np.int32),
        feat_weight=np.array([f.weight for _, _, f in feats], np.float64),
        feat_ratio=np.array([f.ratio or 0.0 for _, _, f in feats], np.float64),
        feat_stage=np.array([f.stage or 0 for _, _, f in feats], np.int64),
        feat_has_stage=np.array([f.stage is not None for _, _, f in feats], np.bool_),
        feat_spread=np.array([f.spread for _, _, f in feats], np.int64),
        sig_feat_off=np.array(sig_feat_off, np.int64),
        sig_window=np.array([s.window for s in sigs], np.int64),
        sig_min_stage=np.array([s.min_stage for s in sigs], np.int64),
        sig_score_thr=np.array([s.thr for s in sigs], np.float64),
        feat_absent=np.array([f.absent for _, _, f in feats], np.int64),
    )
    return Lib(tables, len(groups), slot_item, (sigs, n_items, levels, slot_order))


def histories(customers: list[list[tuple]]):
    """CSR from per-customer lists of ``(item, day)`` or ``(item, day, quantity)``;
    each customer's lines are sorted by day (stable: same-day order is kept)."""
    offsets = np.zeros(len(customers) + 1, np.int64)
    np.cumsum([len(c) for c in customers], out=offsets[1:])
    rows = [ln for c in customers for ln in sorted(c, key=lambda ln: ln[1])]
    item = np.array([r[0] for r in rows], np.int32).reshape(-1)
    day = np.array([r[1] for r in rows], np.int32).reshape(-1)
    qty = np.array([r[2] if len(r) > 2 else 1.0 for r in rows], np.float32).reshape(-1)
    return offsets, item, day, qty


def run(lib: Lib, hist, n_blocks=1, horizon=None):
    offsets, item, day, qty = hist
    return kw.scan_histories(offsets, item, day, qty if lib.n_groups else None, lib.tables,
                             lib.n_groups, n_blocks, horizon=horizon)


def assert_same_output(got: kw.ScanOutput, want: kw.ScanOutput, where: str = "") -> None:
    """Every field of both parts: same type, dtype, shape and values, bit for bit (the
    scores too: both sum the weights in feature order)."""
    assert type(got) is kw.ScanOutput
    assert type(got.entries) is kw.ScanEntries and type(got.aggregates) is kw.ScanAggregates
    for g_part, w_part in zip(got, want, strict=True):
        for name, g, w in zip(w_part._fields, g_part, w_part, strict=True):
            assert g.dtype == w.dtype, (where, name)
            assert g.shape == w.shape, (where, name, g, w)
            if name == "score":
                g, w = g.view(np.int64), w.view(np.int64)
            np.testing.assert_array_equal(g, w, err_msg=f"{name} {where}")


def check_against_naive(lib: Lib, hist, blocks=BLOCKS, horizon=None) -> kw.ScanOutput:
    offsets, item, day, qty = hist
    want = naive.scan(offsets, item, day, qty if lib.n_groups else None, lib.tables, horizon)
    for nb in blocks:
        assert_same_output(run(lib, hist, nb, horizon), want, f"n_blocks={nb}")
    return want


# -------------------------------------------------------------------- strategies
WEIGHTS = st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 0.1, 0.7])
NEGATIVE_WEIGHTS = st.sampled_from([-0.25, -0.5, -1.0, -1.5, -2.0, -3.0, -0.1, -0.7])
QUANTITIES = st.sampled_from([1.0, 2.0, 0.5, 1.0, 3.0, 1.5, 4.0])


@st.composite
def libraries(draw, counter: bool = False):
    """Compact libraries; with ``counter``, features may be counter-evidence (negative
    weight, possibly staged) or absence features (``1 <= D < W``, positive, unstaged)."""
    n_items = draw(st.integers(1, 10))
    item = st.integers(0, n_items - 1)
    levels = tuple(
        draw(st.dictionaries(item, st.integers(0, 2), max_size=n_items)) for _ in range(2))
    sigs = []
    for _ in range(draw(st.integers(1, 3))):
        window = draw(st.sampled_from([1, 2, 3, 7, 30]) | st.integers(1, 30))
        feats = []
        for _ in range(draw(st.integers(1, 5))):
            kind = "presence"
            if counter:
                kind = draw(st.sampled_from(["presence", "presence", "negative", "absence"]))
                if kind == "absence" and window < 2:
                    kind = "negative"
            qty = draw(st.booleans())
            stage = draw(st.none() | st.integers(-12, 12))
            feats.append(F(
                weight=draw(NEGATIVE_WEIGHTS if kind == "negative" else WEIGHTS),
                items=tuple(draw(st.lists(item, min_size=draw(st.sampled_from([0, 1, 1])),
                                          max_size=3))),
                ratio=draw(st.sampled_from([1.5, 2.0, 1.25])) if qty else None,
                level=draw(st.integers(0, 1)),
                stage=None if kind == "absence" else stage,
                spread=draw(st.integers(1, 3)),
                absent=draw(st.integers(1, window - 1)) if kind == "absence" else 0,
            ))
        # thresholds equal to some subset's score hit the ">=" boundary
        subset = draw(st.lists(st.booleans(), min_size=len(feats), max_size=len(feats)))
        thr = 0.0
        for f, take in zip(feats, subset, strict=True):
            if take:
                thr += f.weight
        thr = draw(st.sampled_from([thr, thr + 0.25, 0.5])) if thr > 0 else 0.5
        sigs.append(S(window=window, features=feats, min_stage=draw(st.integers(1, 3)),
                      thr=thr))
    order = draw(st.sampled_from(["ascending", "descending"]))
    return make_tables(sigs, n_items, levels, order), n_items


@st.composite
def cases(draw, counter: bool = False):
    """``(lib, hist, horizon)``; the horizon is None (the largest day) unless ``counter``,
    then also a day before, inside or after the data's range."""
    lib, n_items = draw(libraries(counter))
    base = draw(st.sampled_from([0, 19_000, -40]))
    span = draw(st.sampled_from([1, 5, 25, 60]))
    line = st.tuples(st.integers(0, n_items - 1), st.integers(base, base + span), QUANTITIES)
    customers = draw(st.lists(st.lists(line, max_size=30), max_size=6))
    for c in customers:  # repeat some lines: the same item again, often the same day
        if c and draw(st.booleans()):
            c.extend(draw(st.lists(st.sampled_from(list(c)), max_size=5)))
    horizon = None
    if counter:
        horizon = draw(st.none() | st.integers(base - 2, base + span)
                       | st.integers(base + span, base + span + 35))
    return lib, histories(customers), horizon


def _check_invariants(lib: Lib, got: kw.ScanOutput, horizon: int | None) -> None:
    """Customer-major, signatures ascending, scores positive, one entry per counted
    customer, peaks at most the horizon, masks within the signature's features."""
    e = got.entries
    key = e.customer * 1000 + e.signature
    assert np.all(np.diff(key) > 0)
    assert np.all(e.score > 0)
    n_sig = lib.tables.sig_window.shape[0]
    assert np.array_equal(np.bincount(e.signature, minlength=n_sig),
                          got.aggregates.signature_customers)
    if horizon is not None:
        assert np.all(e.peak_day <= horizon)
    n_feat = np.diff(lib.tables.sig_feat_off)[e.signature]
    assert np.all(e.mask >> n_feat.astype(np.uint64) == 0)


@given(cases())
def test_scan_matches_naive(case):
    lib, hist, _ = case
    check_against_naive(lib, hist)


@given(cases(counter=True))
def test_counter_evidence_matches_naive(case):
    lib, hist, horizon = case
    check_against_naive(lib, hist, horizon=horizon)


@given(cases())
def test_default_blocks_and_entries_invariants(case):
    lib, hist, _ = case
    got = run(lib, hist, None)
    want = naive.scan(hist[0], hist[1], hist[2], hist[3] if lib.n_groups else None, lib.tables)
    assert_same_output(got, want)
    _check_invariants(lib, got, None)
    # all weights positive: the peaks are purchase days
    assert np.all(np.isin(got.entries.peak_day, hist[2]))


@given(cases(counter=True))
def test_counter_evidence_default_blocks_and_invariants(case):
    lib, hist, horizon = case
    got = run(lib, hist, None, horizon)
    offsets, item, day, qty = hist
    want = naive.scan(offsets, item, day, qty if lib.n_groups else None, lib.tables, horizon)
    assert_same_output(got, want)
    _check_invariants(lib, got, int(day.max()) if horizon is None and day.size else horizon)


@given(cases(), st.data())
def test_counter_evidence_never_bought_changes_nothing(case, data):
    """Appending a never-bought negative feature (and an absence feature) to every
    signature moves it to the general sweep; the results are the fast path's."""
    lib, hist, _ = case
    sigs, n_items, levels, order = lib.spec
    longer = []
    for sg in sigs:
        extra = [F(-1.0, ())]
        if sg.window > 1:
            extra.append(F(1.0, (), absent=data.draw(st.integers(1, sg.window - 1))))
        longer.append(S(sg.window, sg.features + extra, sg.min_stage, sg.thr))
    general = make_tables(longer, n_items, levels, order)
    assert general.slot_item == lib.slot_item and general.n_groups == lib.n_groups
    old = np.concatenate([np.arange(len(sg.features)) + general.tables.sig_feat_off[s]
                          for s, sg in enumerate(sigs)]).astype(np.int64)
    horizon = data.draw(st.none() | st.integers(-50, 19_100))
    fast = run(lib, hist, 3, horizon)
    swept = run(general, hist, 3, horizon)
    assert_same_output(kw.ScanOutput(swept.entries, fast.aggregates), fast)
    for name in ("feature_lines", "feature_customers", "feature_flagged"):
        got = getattr(swept.aggregates, name)
        assert np.array_equal(got[old], getattr(fast.aggregates, name)), name
        assert not np.delete(got, old).any(), name
    for name in ("signature_customers", "signature_flagged", "slot_flagged"):
        assert np.array_equal(getattr(swept.aggregates, name),
                              getattr(fast.aggregates, name)), name


# ------------------------------------------------------------------ named edge cases
def _lib(*sigs, n_items=8, levels=({},)):
    return make_tables(list(sigs), n_items, levels)


ONE_SIG = S(window=10, features=[F(1.0, (1,)), F(2.0, (2,)), F(0.5, (3,))], thr=3.0)
STAGED = S(window=30, min_stage=2, thr=2.0, features=[
    F(1.0, (1,), stage=-20, spread=3), F(2.0, (2,), stage=-10, spread=5),
    F(1.0, (3,), stage=-5, spread=2), F(1.0, (4,))])

EDGE = [
    pytest.param(_lib(ONE_SIG), [], id="no-customers"),
    pytest.param(_lib(ONE_SIG), [[], [], []], id="customers-without-lines"),
    pytest.param(_lib(ONE_SIG), [[], [(1, 5)], []], id="empty-around-one"),
    pytest.param(_lib(ONE_SIG), [[(1, 5)]], id="one-customer-one-line"),
    pytest.param(_lib(ONE_SIG), [[(0, 5), (7, 6)]], id="only-unmatched-items"),
    pytest.param(_lib(S(window=1, features=[F(1.0, (1,)), F(2.0, (2,))], thr=3.0)),
                 [[(1, 5), (2, 6), (1, 6), (2, 8), (1, 8)]], id="window-of-one-day"),
    pytest.param(_lib(ONE_SIG), [[(3, 9), (1, 9), (2, 9), (1, 9), (5, 9)]],
                 id="all-lines-on-one-day"),
    pytest.param(_lib(ONE_SIG), [[(1, d) for d in range(0, 40, 3)]], id="feature-bought-repeatedly"),
    pytest.param(_lib(ONE_SIG), [[(1, 0), (2, 9)], [(1, 0), (2, 10)], [(2, 0), (3, 9), (1, 9)]],
                 id="window-edges"),
    pytest.param(_lib(ONE_SIG, S(window=3, features=[F(1.0, (2, 5)), F(1.0, (1,))], thr=2.0)),
                 [[(1, 0), (2, 2), (5, 3)], [(2, 0)]], id="item-shared-by-two-signatures"),
    pytest.param(_lib(STAGED), [[(1, 0), (4, 1)], [(2, 3), (4, 3)]], id="min-stage-not-reached"),
    pytest.param(_lib(STAGED), [[(1, 0), (2, 12), (3, 16), (4, 20)]], id="event-estimate"),
    pytest.param(_lib(STAGED), [[(1, 0), (2, 40), (3, 41), (1, 41)]], id="event-in-later-window"),
    pytest.param(_lib(S(window=5, features=[F(1.0, (1,), ratio=1.5)], thr=1.0)),
                 [[(1, 3, 1.0)], [(1, 3, 2.0)], [(1, 3, 1.5)]],
                 id="quantity-single-line-usual-1"),
    pytest.param(_lib(S(window=5, features=[F(1.0, (1,), ratio=2.0), F(1.0, (2,))], thr=2.0),
                      levels=({1: 0, 2: 0, 3: 0},)),
                 [[(3, 0, 1.0), (3, 1, 1.0), (1, 2, 2.0), (2, 2, 1.0)],
                  [(3, 0, 1.0), (1, 2, 1.5)]], id="quantity-vs-group-usual"),
]


@pytest.mark.parametrize("lib, customers", EDGE)
def test_edge_cases_match_naive(lib, customers):
    check_against_naive(lib, histories(customers))


def test_empty_histories_shapes():
    lib = _lib(ONE_SIG, S(window=2, features=[F(1.0, (4,))]))
    for customers in ([], [[], []]):
        ent, agg = run(lib, histories(customers), 3)
        for name, arr in ent._asdict().items():
            assert arr.shape == (0,), name
        assert agg.feature_lines.shape == (4,) and not agg.feature_lines.any()
        assert agg.signature_flagged.shape == (2,)
        assert agg.slot_flagged.shape == (len(lib.slot_item), 2)


def test_one_line_by_hand():
    ent, agg = run(_lib(ONE_SIG), histories([[(2, 100)]]))
    assert ent.customer.tolist() == [0] and ent.score.tolist() == [2.0]
    assert ent.peak_day.tolist() == [100] and ent.mask.tolist() == [0b10]
    assert ent.event_day.tolist() == [NO_DAY]
    assert agg.feature_lines.tolist() == [0, 1, 0]
    assert agg.signature_flagged.tolist() == [0]


def test_window_of_one_day_by_hand():
    lib = _lib(S(window=1, features=[F(1.0, (1,)), F(2.0, (2,))], thr=3.0))
    ent, agg = run(lib, histories([[(1, 5), (2, 6)], [(1, 5), (2, 6), (1, 6)]]))
    assert ent.score.tolist() == [2.0, 3.0]
    assert ent.peak_day.tolist() == [6, 6]
    assert agg.signature_flagged.tolist() == [1]


def test_peak_is_earliest_day_reaching_max():
    lib = _lib(S(window=3, features=[F(1.0, (1,)), F(1.0, (2,))], thr=2.0))
    ent, _ = run(lib, histories([[(1, 0), (2, 1), (1, 10), (2, 11), (1, 12)]]))
    assert ent.score.tolist() == [2.0] and ent.peak_day.tolist() == [1]


def test_event_estimate_by_hand():
    # e = first day - stage: f0 0+20 = 20, f1 12+10 = 22, f2 16+5 = 21 (weights 1, 2, 1)
    # sorted (20:1, 21:1, 22:2), total 4: the median is 21; |e - 21| = 1, 0, 1 -> MAD 1,
    # ceil(1.4826) = 2 < min spread 2 of the stage features -> 21 +- 2.
    ent, _ = run(_lib(STAGED), histories([[(1, 0), (2, 12), (3, 16), (4, 20)]]))
    assert ent.score.tolist() == [5.0] and ent.peak_day.tolist() == [20]
    assert (ent.event_day.tolist(), ent.event_low.tolist(),
            ent.event_high.tolist()) == ([21], [19], [23])
    assert ent.mask.tolist() == [0b1111]


def test_event_interval_widens_with_mad():
    # e = 0, 10, 20 (equal weights): median 10, deviations 0, 10, 10 -> MAD 10,
    # ceil(1.4826 * 10) = 15 > spread 1 -> 10 +- 15.
    lib = _lib(S(window=30, features=[F(1.0, (i,), stage=0, spread=1) for i in (1, 2, 3)]))
    ent, _ = run(lib, histories([[(1, 0), (2, 10), (3, 20)]]))
    assert (ent.event_day.tolist(), ent.event_low.tolist(),
            ent.event_high.tolist()) == ([10], [-5], [25])


def test_min_stage_not_reached_gives_no_estimate():
    ent, _ = run(_lib(STAGED), histories([[(1, 0), (4, 1)]]))
    assert ent.score.tolist() == [2.0]
    assert ent.event_day.tolist() == ent.event_low.tolist() == [NO_DAY]


@pytest.mark.parametrize("qty, counts", [(1.0, False), (1.5, True), (2.0, True), (0.5, False)])
def test_quantity_condition_single_line_in_group_usual_is_one(qty, counts):
    lib = _lib(S(window=5, features=[F(1.0, (1,), ratio=1.5)], thr=1.0))
    assert lib.n_groups == 1
    ent, agg = run(lib, histories([[(1, 3, qty)]]))
    assert agg.feature_lines.tolist() == [int(counts)]
    assert ent.customer.shape == ((1,) if counts else (0,))


def test_quantity_condition_leaves_the_line_out():
    # group {1, 3}: lines 1,1 of item 3 and one of item 1 at 2.0: usual 1.0 -> counts;
    # the same item-1 line among two item-1 lines at 2.0 (usual (1+1+2)/3) does not.
    lib = _lib(S(window=5, features=[F(1.0, (1,), ratio=2.0)], thr=1.0),
               levels=({1: 0, 3: 0},))
    ent, agg = run(lib, histories([[(3, 0, 1.0), (3, 0, 1.0), (1, 1, 2.0)],
                                   [(3, 0, 1.0), (3, 0, 1.0), (1, 1, 2.0), (1, 1, 2.0)]]))
    assert ent.customer.tolist() == [0]
    assert agg.feature_lines.tolist() == [1]


def test_every_group_touched_then_more_lines():
    """Lines of every baseline group and of none (the kernel's spare group), then more:
    the list of touched groups must not overflow (found by the NUMBA_DISABLE_JIT pass,
    where an out-of-bounds write raises)."""
    lib = _lib(S(window=3, features=[F(0.25, (1,), ratio=1.5), F(0.25, (2,))], thr=0.5))
    for cust in ([(1, 0), (2, 0), (1, 0)], [(2, 0), (1, 1, 2.0), (2, 1), (1, 2, 4.0)],
                 [(1, 0), (1, 1), (2, 2), (2, 3), (1, 3, 9.0)]):
        check_against_naive(lib, histories([cust]))


def test_slot_in_two_baseline_groups():
    """An item in a group of each of two baseline levels (the kernel's path for slots in
    several groups), beside items of one group and of none."""
    levels = ({1: 0, 2: 0, 3: 0}, {1: 5, 4: 5})
    lib = _lib(S(window=4, thr=1.0, features=[F(1.0, (1,), ratio=1.5, level=0),
                                              F(0.5, (1,), ratio=1.2, level=1),
                                              F(0.25, (2, 4), ratio=1.0, level=1),
                                              F(0.75, (5,))]), levels=levels)
    assert (np.diff(lib.tables.slot_grp_off) > 1).any()
    check_against_naive(lib, histories([
        [(1, 0, 2.0), (2, 0, 1.0), (3, 1, 1.0), (4, 1, 3.0), (1, 2, 5.0), (5, 2)],
        [(3, 0, 1.0)], [(1, 0, 1.0)], [(4, 3, 1.0), (1, 3, 1.0), (2, 4, 9.0)]]))


def test_feature_shared_by_two_signatures_counts_in_both():
    lib = _lib(S(window=5, features=[F(1.0, (1,))], thr=1.0),
               S(window=5, features=[F(2.0, (1,)), F(1.0, (2,))], thr=3.0))
    ent, agg = run(lib, histories([[(1, 0), (2, 1)]]))
    assert ent.signature.tolist() == [0, 1]
    assert ent.score.tolist() == [1.0, 3.0]
    assert agg.feature_lines.tolist() == [1, 1, 1]
    assert agg.signature_flagged.tolist() == [1, 1]
    slot1, slot2 = lib.slot_item.index(1), lib.slot_item.index(2)
    assert agg.slot_flagged[slot1].tolist() == [1, 1]
    assert agg.slot_flagged[slot2].tolist() == [0, 1]


def test_sixty_four_features_use_mask_bit_63():
    feats = [F(1.0, (i,)) for i in range(64)]
    lib = _lib(S(window=3, features=feats, thr=2.0), n_items=64)
    ent, _ = run(lib, histories([[(63, 0), (0, 1)], [(63, 5)], [(i, 2) for i in range(64)]]))
    assert ent.mask.dtype == np.uint64
    assert [int(m) for m in ent.mask] == [(1 << 63) | 1, 1 << 63, (1 << 64) - 1]
    assert ent.score.tolist() == [2.0, 1.0, 64.0]
    check_against_naive(lib, histories([[(63, 0), (0, 1)], [(63, 5)],
                                        [(i, 2) for i in range(64)]]))


def test_results_do_not_depend_on_blocks_with_many_customers(rng):
    lib = _lib(ONE_SIG, STAGED, S(window=4, features=[F(1.0, (5,), ratio=1.5)], thr=1.0),
               levels=({5: 0, 6: 0},))
    customers = [[(int(rng.integers(0, 8)), int(rng.integers(0, 50)),
                   float(rng.choice([0.5, 1.0, 2.0]))) for _ in range(int(rng.integers(0, 25)))]
                 for _ in range(60)]
    check_against_naive(lib, histories(customers), blocks=(1, 2, 3, 7, 64, 1000))


# ------------------------------------------ counter-evidence and absence features
# item 1: halal meat (evidence), item 2: pork (counter-evidence)
HALAL = S(window=10, features=[F(2.0, (1,)), F(-1.0, (2,))], thr=2.0)
CANCEL = S(window=10, features=[F(1.0, (1,)), F(-1.0, (2,))], thr=1.0)
# item 1 bought in the window but not in its last 3 days; item 2 in the window
STOPPED = S(window=10, features=[F(2.0, (1,), absent=3), F(1.0, (2,))], thr=3.0)
WIDE = S(window=3650, thr=200.0,
         features=[F(100.0, (1,)), F(-100.0, (2,)), F(100.0, (3,), absent=3649)])
NARROW = S(window=1, features=[F(100.0, (4,)), F(-100.0, (5,))], thr=100.0)

#: (signature, customers, horizon, expected entries as (customer, score, peak, mask))
COUNTER = [
    pytest.param(HALAL, [[(2, 0), (2, 5)]], None, [], id="only-counter-evidence-no-entry"),
    pytest.param(HALAL, [[(2, 0)], [(1, 3)], [(2, 4), (2, 9)]], None, [(1, 2.0, 3, 0b01)],
                 id="counter-evidence-customers-among-others"),
    pytest.param(CANCEL, [[(1, 0), (2, 0)]], 30, [], id="score-zero-no-entry"),
    pytest.param(HALAL, [[(1, 0), (2, 3)]], None, [(0, 2.0, 0, 0b01)],
                 id="counter-evidence-after-the-peak"),
    pytest.param(HALAL, [[(2, 0), (1, 5)]], None, [(0, 1.0, 5, 0b11)],
                 id="counter-evidence-leaves-after-default-horizon"),
    pytest.param(HALAL, [[(2, 0), (1, 5)]], 9, [(0, 1.0, 5, 0b11)],
                 id="counter-evidence-leaves-after-horizon"),
    pytest.param(HALAL, [[(2, 0), (1, 5)]], 10, [(0, 2.0, 10, 0b01)],
                 id="counter-evidence-leaves-on-horizon"),
    pytest.param(HALAL, [[(2, 0), (1, 5)]], 10**15, [(0, 2.0, 10, 0b01)],
                 id="horizon-far-away"),
    pytest.param(HALAL, [[(2, 0), (2, 4), (1, 5)]], 20, [(0, 2.0, 14, 0b01)],
                 id="counter-evidence-bought-again"),
    pytest.param(HALAL, [[(1, 0), (1, 0), (2, 0), (2, 0), (1, 0)]], None, [(0, 1.0, 0, 0b11)],
                 id="duplicate-lines"),
    pytest.param(STOPPED, [[(1, 0)]], 20, [(0, 2.0, 3, 0b01)], id="absence-from-L-plus-D"),
    pytest.param(STOPPED, [[(1, 0), (2, 2)]], 20, [(0, 3.0, 3, 0b11)],
                 id="absence-not-before-L-plus-D"),
    pytest.param(STOPPED, [[(1, 0), (2, 9)]], 20, [(0, 3.0, 9, 0b11)],
                 id="absence-on-L-equals-t-minus-W-plus-1"),
    pytest.param(STOPPED, [[(1, 0), (2, 10)]], 20, [(0, 2.0, 3, 0b01)],
                 id="absence-gone-on-L-equals-t-minus-W"),
    pytest.param(STOPPED, [[(1, 0), (1, 2)]], 20, [(0, 2.0, 5, 0b01)],
                 id="absence-bought-again"),
    pytest.param(STOPPED, [[(1, 0), (2, 0), (1, 0)]], 20, [(0, 3.0, 3, 0b11)],
                 id="absence-duplicate-lines"),
    pytest.param(STOPPED, [[(1, 0)]], 2, [], id="absence-stop-after-horizon"),
    pytest.param(STOPPED, [[(1, 0)]], 3, [(0, 2.0, 3, 0b01)], id="absence-stop-on-horizon"),
    pytest.param(STOPPED, [[(1, 10)], [(7, 11)]], None, [],
                 id="absence-stop-after-default-horizon"),
    pytest.param(STOPPED, [[(2, 5)]], 4, [], id="horizon-before-the-data"),
    pytest.param(WIDE, [[(3, 0), (1, 3649)]], None, [(0, 200.0, 3649, 0b101)],
                 id="window-3650-absence-last-day"),
    pytest.param(WIDE, [[(3, 0), (1, 3650)]], None, [(0, 100.0, 3649, 0b100)],
                 id="window-3650-absence-gone"),
    pytest.param(WIDE, [[(2, 0), (1, 10)]], 3650, [(0, 100.0, 3650, 0b001)],
                 id="window-3650-counter-evidence-leaves"),
    pytest.param(WIDE, [[(2, 0), (1, 10), (3, 10)]], 3649, [],
                 id="window-3650-weights-cancel"),
    pytest.param(NARROW, [[(4, 5), (5, 5)]], 10, [], id="window-1-same-day-cancels"),
    pytest.param(NARROW, [[(5, 5), (4, 6)]], 10, [(0, 100.0, 6, 0b01)],
                 id="window-1-counter-evidence-left"),
    pytest.param(NARROW, [[(5, 5), (4, 5), (4, 6)]], None, [(0, 100.0, 6, 0b01)],
                 id="window-1-next-day"),
]


@pytest.mark.parametrize("sig, customers, horizon, expected", COUNTER)
def test_counter_evidence_by_hand(sig, customers, horizon, expected):
    lib = _lib(sig)
    hist = histories(customers)
    want = check_against_naive(lib, hist, horizon=horizon)
    e = want.entries
    got = [(int(c), float(sc), int(p), int(m))
           for c, sc, p, m in zip(e.customer, e.score, e.peak_day, e.mask, strict=True)]
    assert got == expected


def test_counter_evidence_only_is_counted_but_no_entry():
    _, agg = run(_lib(HALAL), histories([[(2, 0), (2, 5)], [(2, 1)]]))
    assert agg.feature_lines.tolist() == [0, 3]
    assert agg.feature_customers.tolist() == [0, 2]
    assert agg.signature_customers.tolist() == [0]
    assert agg.signature_flagged.tolist() == [0] and not agg.feature_flagged.any()


def test_absence_feature_flagged_and_peak_window_slots():
    lib = _lib(STOPPED)
    slot1, slot2 = lib.slot_item.index(1), lib.slot_item.index(2)
    # flagged at 9 (3.0): both items bought in (-1, 9]; not flagged: 2.0 < 3.0
    ent, agg = run(lib, histories([[(1, 0), (2, 9)], [(1, 0), (2, 10)]]), horizon=20)
    assert ent.score.tolist() == [3.0, 2.0] and ent.peak_day.tolist() == [9, 3]
    assert agg.signature_flagged.tolist() == [1]
    assert agg.feature_flagged.tolist() == [1, 1]
    assert agg.slot_flagged[slot1].tolist() == [1] and agg.slot_flagged[slot2].tolist() == [1]


def test_counter_evidence_mixed_signatures_and_staged():
    """Fast-path and general signatures side by side, items shared, stage features with
    negative weights, many customers; against the reference for several block counts."""
    staged_neg = S(window=30, min_stage=1, thr=1.0, features=[
        F(2.0, (1,), stage=-10, spread=2), F(-1.0, (2,), stage=-5, spread=3),
        F(1.0, (3,), absent=4), F(1.0, (4,), stage=0, spread=1)])
    lib = _lib(ONE_SIG, HALAL, STOPPED, staged_neg, NARROW, STAGED, n_items=8)
    rng = np.random.default_rng(7)
    customers = [[(int(rng.integers(0, 8)), int(rng.integers(0, 60)))
                  for _ in range(int(rng.integers(0, 30)))] for _ in range(80)]
    for horizon in (None, 30, 59, 100):
        check_against_naive(lib, histories(customers), blocks=(1, 2, 3, 7, 64), horizon=horizon)


def test_shards_with_a_global_horizon_add_up(rng):
    lib = _lib(HALAL, STOPPED, WIDE, ONE_SIG)
    customers = [[(int(rng.integers(0, 8)), int(rng.integers(0, 40))) for _ in
                  range(int(rng.integers(0, 12)))] for _ in range(40)]
    customers[-1].append((7, 90))  # the last shard reaches further than the others
    full = run(lib, histories(customers), 4)
    horizon = 90
    for cut in (0, 1, 17, 39, 40):
        a = run(lib, histories(customers[:cut]), 2, horizon)
        b = run(lib, histories(customers[cut:]), 3, horizon)
        b_entries = b.entries._replace(customer=b.entries.customer + cut)
        merged = kw.ScanOutput(
            kw.ScanEntries(*(np.concatenate(x) for x in zip(a.entries, b_entries,
                                                            strict=True))),
            kw.ScanAggregates(*(x + y for x, y in zip(a.aggregates, b.aggregates,
                                                      strict=True))))
        assert_same_output(merged, full, f"cut={cut}")


def test_a_shard_alone_has_its_own_default_horizon():
    lib = _lib(STOPPED)
    both = run(lib, histories([[(1, 0)], [(7, 20)]]))
    alone = run(lib, histories([[(1, 0)]]))
    assert both.entries.score.tolist() == [2.0] and both.entries.peak_day.tolist() == [3]
    assert alone.entries.customer.shape == (0,)
    assert_same_output(run(lib, histories([[(1, 0)]]), horizon=20), kw.ScanOutput(
        both.entries, both.aggregates))


def test_sixty_four_features_absence_on_bit_63():
    feats = [F(1.0, (i,)) for i in range(63)] + [F(1.0, (63,), absent=2)]
    lib = _lib(S(window=3, features=feats, thr=2.0), n_items=64)
    hist = histories([[(63, 0), (0, 2)], [(63, 0), (63, 1)]])
    ent, _ = run(lib, hist)
    assert [int(m) for m in ent.mask] == [(1 << 63) | 1]
    assert ent.score.tolist() == [2.0] and ent.peak_day.tolist() == [2]
    check_against_naive(lib, hist, horizon=5)


@pytest.mark.parametrize("sig", [HALAL, STOPPED], ids=["counter", "absence"])
def test_counter_evidence_empty_histories(sig):
    lib = _lib(sig)
    for customers in ([], [[]], [[], [], []]):
        for horizon in (None, 0, 100):
            out = check_against_naive(lib, histories(customers), horizon=horizon)
            assert out.entries.customer.shape == (0,)
            assert not out.aggregates.feature_lines.any()


def test_horizon_must_be_an_integer():
    lib = _lib(HALAL)
    hist = histories([[(1, 0), (2, 1)]])
    with pytest.raises(TypeError):
        run(lib, hist, horizon=1.5)
    assert_same_output(run(lib, hist, horizon=np.int32(1)), run(lib, hist, horizon=1))


# ------------------------------------------------------------------ wrapper checks
def test_block_bounds():
    offsets = np.array([0, 0, 5, 5, 6, 20, 20], np.int64)
    for nb in (1, 2, 3, 7, 50):
        b = kw.block_bounds(offsets, nb)
        assert b[0] == 0 and b[-1] == 6 and np.all(np.diff(b) > 0) and len(b) <= nb + 1
    assert kw.block_bounds(np.zeros(1, np.int64), 4).tolist() == [0]
    assert kw.block_bounds(np.zeros(4, np.int64), 4).tolist() == [0, 3]


def test_bad_inputs_raise_value_error():
    lib = _lib(S(window=5, features=[F(1.0, (1,), ratio=1.5)]))
    offsets, item, day, qty = histories([[(1, 0), (2, 1)]])
    with pytest.raises(ValueError, match="CSR"):
        kw.scan_histories(offsets, item, day[:1], qty, lib.tables, lib.n_groups, 1)
    with pytest.raises(ValueError, match="quantity"):
        kw.scan_histories(offsets, item, day, None, lib.tables, lib.n_groups, 1)
    with pytest.raises(ValueError, match="slot table"):
        kw.scan_histories(offsets, item + 100, day, qty, lib.tables, lib.n_groups, 1)



@pytest.mark.parametrize("code", [-1, 8, 1 << 30, np.iinfo(np.int32).min])
@pytest.mark.parametrize("where", [0, 3, 7])
def test_item_codes_outside_the_table_raise_wherever_they_are(code, where):
    """The kernel checks the codes as it reads them: one bad code in any line of any
    block (a customer without features too) raises, as the pass before the kernel did."""
    lib = _lib(ONE_SIG, S(window=5, features=[F(1.0, (1,), ratio=1.5)], thr=1.0))
    offsets, item, day, qty = histories([[(1, 0), (2, 1)], [(0, 2)], [(5, 3)],
                                         [(3, 4), (1, 5), (7, 6), (2, 7)]])
    item = item.copy()
    item[where] = code
    for nb in BLOCKS:
        with pytest.raises(ValueError, match="slot table"):
            kw.scan_histories(offsets, item, day, qty, lib.tables, lib.n_groups, nb)
    with pytest.raises(ValueError, match="slot table"):  # checked before the horizon
        kw.scan_histories(offsets, item, day, qty, lib.tables, lib.n_groups, 1, horizon=1.5)


def test_item_codes_outside_the_table_raise_where_the_kernel_reads_nothing():
    """Lines before ``offsets[0]``, customers without signatures, no customers at all:
    the codes are still checked."""
    lib = _lib(ONE_SIG)
    bad = np.array([1, 99, 2], np.int32)
    day = np.array([0, 1, 2], np.int32)
    cases = [(np.array([1, 3], np.int64), lib.tables),  # line 0 belongs to no customer
             (np.array([3], np.int64), lib.tables)]  # no customers
    no_sig = lib.tables._replace(sig_feat_off=np.zeros(1, np.int64),
                                 sig_window=np.zeros(0, np.int64),
                                 sig_min_stage=np.zeros(0, np.int64),
                                 sig_score_thr=np.zeros(0, np.float64))
    no_feat = no_sig._replace(**{name: getattr(no_sig, name)[:0] for name in (
        "feat_sig", "feat_local", "feat_weight", "feat_ratio", "feat_stage",
        "feat_has_stage", "feat_spread", "feat_absent")})
    no_feat = no_feat._replace(slot_feat_off=np.zeros_like(no_feat.slot_feat_off),
                               slot_feat=no_feat.slot_feat[:0],
                               slot_feat_group=no_feat.slot_feat_group[:0])
    cases.append((np.array([0, 3], np.int64), no_feat))  # no signatures
    for offsets, tables in cases:
        with pytest.raises(ValueError, match="slot table"):
            kw.scan_histories(offsets, bad, day, None, tables, 0, 1)
        kw.scan_histories(offsets, bad % 8, day, None, tables, 0, 1)  # in range: runs
    empty_table = lib.tables._replace(item_slot=np.zeros(0, np.int32))
    with pytest.raises(ValueError, match="slot table"):
        kw.scan_histories(np.array([0, 3], np.int64), bad % 8, day, None, empty_table, 0, 1)


def test_tables_are_checked_field_by_field():
    lib = _lib(S(window=5, features=[F(1.0, (1,), ratio=1.5)]))
    offsets, item, day, qty = histories([[(1, 0), (2, 1)]])

    def scan(tables):
        return kw.scan_histories(offsets, item, day, qty, tables, lib.n_groups, 1)

    with pytest.raises(TypeError, match="ScanTables"):
        scan(lib.tables._asdict())
    dtypes = kw.field_dtypes(kw.ScanTables)
    for name, arr, dtype in zip(kw.ScanTables._fields, lib.tables, dtypes, strict=True):
        assert arr.dtype == dtype, name
        other = np.float32 if dtype != np.float32 else np.int32
        with pytest.raises(ValueError, match=rf"^tables\.{name}: expected a 1-D {dtype} array"):
            scan(lib.tables._replace(**{name: arr.astype(other)}))
        with pytest.raises(ValueError, match=rf"^tables\.{name}: expected a 1-D"):
            scan(lib.tables._replace(**{name: arr.reshape(1, -1)}))
        with pytest.raises(ValueError, match=rf"^tables\.{name}: expected a 1-D"):
            scan(lib.tables._replace(**{name: arr.tolist()}))
    t = lib.tables
    for name, why in (("slot_feat", "slot_feat_off"), ("slot_grp_off", "slot_feat_off"),
                      ("slot_grp", "slot_grp_off"), ("feat_ratio", "sig_feat_off"),
                      ("sig_feat_off", "sig_window"), ("sig_score_thr", "sig_window"),
                      ("feat_absent", "sig_feat_off")):
        longer = np.concatenate([getattr(t, name), getattr(t, name)[-1:]])
        with pytest.raises(ValueError, match=rf"^tables\.{name}: length .*\(.*{why}"):
            scan(t._replace(**{name: longer}))
    strided = t._replace(item_slot=np.repeat(t.item_slot, 2)[::2])  # not contiguous
    assert not strided.item_slot.flags.c_contiguous
    assert_same_output(scan(strided), scan(t))


def test_field_dtypes_are_the_annotations():
    lib = _lib(ONE_SIG)
    out = run(lib, histories([[(2, 100)], [(1, 3), (3, 4)]]))
    assert kw.field_dtypes(kw.ScanEntries) == tuple(a.dtype for a in out.entries)
    assert kw.field_dtypes(kw.ScanAggregates) == tuple(a.dtype for a in out.aggregates)


@pytest.mark.jit
def test_block_kernel_takes_int64_bounds():
    """``_scan`` (a Python loop over blocks, on threads) passes the customer bounds, the
    entry base and the block index as int64, so ``_scan_block`` is compiled once for
    them, never again for a uint64 or a literal argument.

    Other tests of this process may have compiled it for read-only inputs too; what
    matters is the type of the scalar arguments in every signature.
    """
    assert not isinstance(kw._scan, numba.core.dispatcher.Dispatcher)  # no njit wrapper
    lib = _lib(ONE_SIG, S(window=5, features=[F(1.0, (1,), ratio=1.5)], thr=1.0))
    hist = histories([[(1, 0, 2.0), (2, 1, 1.0)], [(3, 4, 1.0)]])
    check_against_naive(lib, hist, blocks=(1, 2))
    assert kw._scan_block.signatures
    for sig in kw._scan_block.signatures:
        scalars = (sig[0], sig[1], sig[7], sig[8], sig[9], sig[12])
        assert scalars == (numba.types.int64,) * 6, sig
