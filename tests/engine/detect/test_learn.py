"""Learning end to end (engine.detect.learn) with its feature groups (engine.detect.features)
and the scan of saved detectors (engine.detect.scan with ``detectors=``).

Two populations:

- the small hand-made shop of test_labels.py (300 customers): the feature groups,
  the no-leakage property of the feature matrix and a smoke run of ``learn`` ->
  save -> load -> score, in both passes (with and without the JIT);
- a simulated population (3,000 customers, profile ``realistic``, built once per
  session by :func:`simulated`) whose truth plants pregnancies with due dates:
  the accuracy, the planted proxies, the anchors mode, the generated signature,
  leakage through ``learn``, and scans with learned detectors. Those tests are
  marked ``jit`` (1.3 M lines through the kernels).

LightGBM runs with one thread, 30 rounds and 3 folds.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.features import (
    FeatureSpec,
    _from_members,
    candidate_groups,
    feature_matrix,
    feature_names,
    groups_from_keys,
    select_groups,
    support,
)
from basketguard.engine.detect.labels import (
    parse_anchor_rules,
    target_from_anchors,
    target_from_labels,
)
from basketguard.engine.detect.learn import (
    PROXIES_FILE,
    SIGNATURE_FILE,
    LearnOptions,
    learn,
    learning_context,
    load_detector,
    load_detectors,
    score_learned,
)
from basketguard.engine.detect.scan import scan
from basketguard.engine.errors import ConfigError, OutputError
from basketguard.engine.histories.build import Histories
from basketguard.engine.report.schemas import problems, validate
from basketguard.kernels import features as fk
from basketguard.kernels.windows import NO_DAY
from basketguard.models.detector import check_detector
from basketguard.models.learned.detector import META_FILE, MODEL_FILE
from basketguard.models.signatures.schema import load_library, load_signature
from basketguard.models.simulator.catalog import build_catalog
from basketguard.models.simulator.profiles import get_profile
from basketguard.models.simulator.run import SimConfig, simulate
from tests.engine.detect.test_labels import COCOA, TEST_KIT, VITAMINS, load_shop, write_shop
from tests.reference import proxystats as naive_stats

SIM = SimConfig(customers=3000, seed=11, profile="realistic")
EVENT = "pregnancy"
PROXY_COLUMNS = ["rank", "group", "kind", "title", "positives_with", "negatives_with",
                 "support", "support_pos", "support_neg", "confidence", "lift",
                 "mutual_information", "log_odds_ratio", "direction", "p_value", "q_value",
                 "significant", "model_contribution"]


def options(name: str = "pregnancy_learned", **kw) -> LearnOptions:
    base = dict(title="Pregnancy", sensitivity="reproductive", rounds=30, folds=3, seed=0,
                threads=1, spec=FeatureSpec(max_groups=40))
    return LearnOptions(name=name, **(base | kw))


# ------------------------------------------------------------------ populations
_CACHE: dict[str, object] = {}


def simulated(tmp_path_factory) -> dict:
    """The simulated population, its learning context and a label file, once per session.

    ``labels``: every planted pregnancy as a positive with its due date (``due``);
    customers not listed are negatives (``unlisted_negative``).
    """
    if "sim" in _CACHE:
        return _CACHE["sim"]  # type: ignore[return-value]
    out = tmp_path_factory.mktemp("learn_sim")
    res = simulate(SIM, out / "data")
    project = load_project(res.paths["project"])
    cache = out / "cache"
    hist = load_histories(project, cache_dir=cache)
    truth = pq.read_table(res.paths["truth"])
    preg = truth.filter(pc.equal(truth["event"], EVENT))
    labels = out / "pregnancy_labels.parquet"
    pq.write_table(pa.table({"customer_id": preg["customer_id"],
                             "label": pa.array([True] * preg.num_rows),
                             "due": preg["event_date"]}), labels)
    _CACHE["sim"] = {"out": out, "res": res, "project": project, "hist": hist, "cache": cache,
                     "ctx": learning_context(project, hist), "labels": labels}
    return _CACHE["sim"]  # type: ignore[return-value]


def planted_items(config: SimConfig, event: str) -> set[int]:
    """Item ids of the product groups the simulator's programs of ``event`` buy from."""
    catalog = build_catalog(config.items, config.seed, config.zipf_exponent)
    groups = {s.group for p in get_profile(config.profile).programs if p.name == event
              for s in p.stages if not s.suppress}
    return {int(i) for g in groups for i in catalog.group_items[g]}


def _labels_target(sim, hist=None, seed=0):
    return target_from_labels(hist or sim["hist"], path=str(sim["labels"]), date_column="due",
                              unlisted_negative=True, seed=seed)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    return simulated(tmp_path_factory)


@pytest.fixture(scope="module")
def learned(sim):
    target = _labels_target(sim)
    return target, learn(sim["hist"], sim["ctx"], target, options())


@pytest.fixture(scope="module")
def saved(learned, tmp_path_factory):
    _, res = learned
    return res.save(tmp_path_factory.mktemp("saved") / "pregnancy_learned")


@pytest.fixture(scope="module")
def anchored(sim):
    target = target_from_anchors(sim["hist"], sim["ctx"].candidates,
                                 parse_anchor_rules(["pregnancy_test+prenatal_vitamins"]),
                                 sim["ctx"].vocabulary_names)
    return target, learn(sim["hist"], sim["ctx"], target, options("pregnancy_anchored"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    base = tmp_path_factory.mktemp("learn_shop")
    project, hist, due = load_shop(base)
    return base, project, hist, learning_context(project, hist)


# ------------------------------------------------------------------ helpers
def append_lines(hist: Histories, customers, days, items) -> Histories:
    """``hist`` with extra lines (customer code, day, item code), each history kept sorted."""
    customers, days, items = (np.asarray(a, np.int64) for a in (customers, days, items))
    owner = np.repeat(np.arange(hist.n_customers), np.diff(hist.offsets))
    who = np.r_[owner, customers]
    when = np.r_[hist.day.astype(np.int64), days]
    order = np.lexsort((when, who))

    def grow(a, fill):
        return None if a is None else np.r_[a, np.full(customers.size, fill, a.dtype)][order]

    offsets = np.zeros(hist.n_customers + 1, np.int64)
    np.cumsum(np.bincount(who, minlength=hist.n_customers), out=offsets[1:])
    return dataclasses.replace(
        hist, offsets=offsets, item=np.r_[hist.item, items.astype(np.int32)][order],
        day=when.astype(np.int32)[order], basket=grow(hist.basket, 0),
        quantity=grow(hist.quantity, 1.0), price=grow(hist.price, 1.0),
        store=grow(hist.store, 0), info={})


def drop_lines(hist: Histories, drop: np.ndarray) -> Histories:
    """``hist`` without the lines of the items with ``drop[item] != 0``."""
    keep = drop[hist.item] == 0
    owner = np.repeat(np.arange(hist.n_customers), np.diff(hist.offsets))[keep]
    offsets = np.zeros(hist.n_customers + 1, np.int64)
    np.cumsum(np.bincount(owner, minlength=hist.n_customers), out=offsets[1:])

    def cut(a):
        return None if a is None else a[keep]

    return dataclasses.replace(hist, offsets=offsets, item=hist.item[keep], day=hist.day[keep],
                               basket=hist.basket[keep], quantity=cut(hist.quantity),
                               price=cut(hist.price), store=cut(hist.store), info={})


def same_csr(a, b) -> bool:
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))


def item_codes(hist: Histories, ids) -> np.ndarray:
    return np.flatnonzero(np.isin(hist.item_ids.to_numpy(), list(ids)))


def walk(node, path="$"):
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}[{i}]")


def assert_aggregates_only(summary: dict, n_customers: int) -> None:
    json.loads(json.dumps(summary, allow_nan=False))
    for path, node in walk(summary):
        if isinstance(node, dict):
            assert not {"customer_id", "customer_ids", "ids", "customer"} & set(node), path
        if isinstance(node, list):
            assert len(node) < n_customers, path


# ================================================================== features (both passes)
SPEC_ERRORS = [
    ("no windows", dict(windows=())),
    ("descending windows", dict(windows=(91, 28))),
    ("a repeated window", dict(windows=(28, 28, 91))),
    ("a zero window", dict(windows=(0, 28))),
    ("a negative window", dict(windows=(-7,))),
    ("no groups", dict(max_groups=0)),
    ("no customers", dict(min_customers=0)),
]


@pytest.mark.parametrize("case, kw", SPEC_ERRORS, ids=[c[0] for c in SPEC_ERRORS])
def test_feature_spec_validation(case, kw):
    with pytest.raises(ConfigError):
        FeatureSpec(**kw)


def test_feature_spec_round_trip():
    spec = FeatureSpec(windows=(7, 30), max_groups=12, min_customers=3, levels=False)
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def _catalog_rows(base: Path) -> list[dict]:
    return pq.read_table(base / "catalog.parquet").to_pylist()


def test_candidate_groups_kinds_keys_and_members(shop):
    base, _, hist, ctx = shop
    cand = ctx.candidates
    ids = hist.item_ids.to_numpy()
    members = {k: set(ids[m].tolist()) for k, m in zip(cand.keys, cand.members(), strict=True)}
    kinds = cand.kinds
    # concepts first (vocabulary order), then levels, then one item group per item code
    assert kinds == sorted(kinds, key=["concept", "level", "item"].index)
    concept_keys = [k for k in cand.keys if k.startswith("concept:")]
    order = {n: i for i, n in enumerate(ctx.vocabulary_names)}
    assert concept_keys == sorted(concept_keys, key=lambda k: order[k.split(":", 1)[1]])
    assert members["concept:pregnancy_test"] == {TEST_KIT}
    assert members["concept:prenatal_vitamins"] == {VITAMINS}
    assert members["concept:cocoa_butter_lotion"] == {COCOA}
    # levels: every (level, lower-cased value) of the items bought, titles as written
    want: dict[str, set] = {}
    for row in _catalog_rows(base):
        if row["item_id"] in set(ids.tolist()):
            for lv in ("department", "category", "type"):
                want.setdefault(f"level:{lv}={row[lv].lower()}", set()).add(row["item_id"])
    got = {k: v for k, v in members.items() if k.startswith("level:")}
    assert got == want
    titles = dict(zip(cand.keys, cand.titles, strict=True))
    assert titles["level:type=pregnancy tests"] == "type = Pregnancy Tests"
    # items: one group per item code, named after the catalog
    item_keys = [k for k in cand.keys if k.startswith("item:")]
    assert item_keys == [f"item:{i}" for i in ids.tolist()]
    assert all(members[f"item:{i}"] == {i} for i in ids.tolist())
    assert titles[f"item:{TEST_KIT}"] == "Clearblue Digital Pregnancy Test 2pk"


def test_candidate_groups_flags(shop):
    _, _, hist, ctx = shop
    only_items = candidate_groups(ctx.view, hist.item_ids, ctx.concepts, levels=False,
                                  use_concepts=False)
    assert set(only_items.kinds) == {"item"} and only_items.n_groups == hist.n_items
    no_items = candidate_groups(ctx.view, hist.item_ids, ctx.concepts, items=False)
    assert "item" not in no_items.kinds
    assert no_items.keys == [k for k in ctx.candidates.keys if not k.startswith("item:")]
    no_concepts = candidate_groups(ctx.view, hist.item_ids, None)
    assert "concept" not in no_concepts.kinds


def test_groups_from_keys_on_another_copy_of_the_catalog(tmp_path, shop):
    """Keys are portable: a copy with shuffled rows and upper-case levels maps them to the
    same items; keys it lacks give empty groups and are counted."""
    base, _, hist, ctx = shop
    path, _ = write_shop(tmp_path)
    rows = _catalog_rows(tmp_path)
    rng = np.random.default_rng(1)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    for r in rows:
        for lv in ("department", "category", "type"):
            r[lv] = r[lv].upper()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "catalog.parquet")
    project2 = load_project(path)
    hist2 = load_histories(project2, cache_dir=tmp_path / "cache")
    ctx2 = learning_context(project2, hist2)
    keys = list(ctx.candidates.keys) + ["concept:nicotine_replacement", "level:type=caviar",
                                        "item:999999"]
    groups, empty = groups_from_keys(keys, ctx2.view, hist2.item_ids, ctx2.concepts)
    assert empty == 3 and groups.keys == keys
    ids1, ids2 = hist.item_ids.to_numpy(), hist2.item_ids.to_numpy()
    for k, m1, m2 in zip(keys, ctx.candidates.members(), groups.members(), strict=False):
        assert set(ids1[m1].tolist()) == set(ids2[m2].tolist()), k
    assert all(m.size == 0 for m in groups.members()[-3:])
    assert groups.titles[-3:] == keys[-3:]


@st.composite
def group_counts(draw):
    """Groups of every kind with support counts among n_pos positives and n_neg negatives."""
    n_pos, n_neg = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    g = draw(st.integers(1, 14))
    kinds = draw(st.lists(st.sampled_from(["concept", "level", "item"]), min_size=g,
                          max_size=g))
    pos = draw(st.lists(st.integers(0, n_pos), min_size=g, max_size=g))
    neg = draw(st.lists(st.integers(0, n_neg), min_size=g, max_size=g))
    keys = [f"{k}:g{i}" for i, k in enumerate(kinds)]
    exclude = set(draw(st.lists(st.sampled_from(keys), max_size=3)))
    spec = FeatureSpec(windows=(28,), max_groups=draw(st.integers(1, 8)),
                       min_customers=draw(st.integers(1, 10)), concepts=draw(st.booleans()),
                       levels=draw(st.booleans()), items=draw(st.booleans()))
    return keys, np.array([neg, pos], np.int64), n_pos, n_neg, spec, exclude


@given(group_counts())
def test_select_groups_keeps_the_most_informative_eligible_groups(case):
    keys, counts, n_pos, n_neg, spec, exclude = case
    cand = _from_members(keys, keys, [np.array([i]) for i in range(len(keys))], len(keys))
    got = select_groups(cand, counts, spec, n_pos, n_neg, exclude)
    allowed = {"concept": spec.concepts, "level": spec.levels, "item": spec.items}
    eligible = [i for i, k in enumerate(keys)
                if allowed[k.split(":")[0]] and counts[:, i].sum() >= spec.min_customers
                and k not in exclude]
    mi = {i: naive_stats.mutual_information(int(counts[1, i]), int(counts[0, i]), n_pos, n_neg)
          for i in eligible}
    chosen = [keys.index(k) for k in got.keys]
    assert chosen == sorted(chosen)  # candidates' order
    assert set(chosen) <= set(eligible)
    assert len(chosen) == min(spec.max_groups, len(eligible))
    rest = [i for i in eligible if i not in chosen]
    if chosen and rest:
        assert min(mi[i] for i in chosen) >= max(mi[i] for i in rest) - 1e-12
    for i in chosen:  # an exact tie goes to the earlier candidate
        for j in rest:
            if (counts[:, i] == counts[:, j]).all():
                assert i < j
    assert [m.tolist() for m in got.members()] == [[i] for i in chosen]


def test_feature_names_match_the_matrix_width(shop):
    _, _, hist, ctx = shop
    for windows in ((28,), (7, 28, 91, 365)):
        groups = ctx.candidates.take(np.arange(0, ctx.candidates.n_groups, 3))
        names = feature_names(groups, windows)
        ref = np.full(hist.n_customers, int(hist.day.max()), np.int32)
        X = feature_matrix(hist, groups, ref, np.zeros(hist.n_items, np.uint8), windows)
        assert X.shape == (hist.n_customers, len(names))
        glob, per = fk.feature_columns(np.asarray(windows, np.int32))
        assert names[:len(glob)] == [f"all:{s}" for s in glob]
        assert names[len(glob):len(glob) + len(per)] == [f"{groups.keys[0]}:{s}" for s in per]
        assert len(set(names)) == len(names)


def test_lines_after_the_reference_day_never_reach_a_feature(shop):
    _, project, hist, ctx = shop
    target = target_from_labels(hist, project=project, label_column="pregnant",
                                date_column="due")
    last = int(hist.day.max())
    rng = np.random.default_rng(3)
    who, when, what = [], [], []
    for c in range(hist.n_customers):
        if target.ref[c] < last:
            for _ in range(3):
                who.append(c)
                when.append(int(rng.integers(target.ref[c] + 1, last + 1)))
                what.append(int(rng.integers(hist.n_items)))
    assert len(who) > 100
    later = append_lines(hist, who, when, what)
    windows = (28, 91, 365)
    before = feature_matrix(hist, ctx.candidates, target.ref, target.drop, windows)
    after = feature_matrix(later, ctx.candidates, target.ref, target.drop, windows)
    assert same_csr(before, after)
    np.testing.assert_array_equal(
        support(hist, ctx.candidates, target.label, target.ref, target.drop),
        support(later, ctx.candidates, target.label, target.ref, target.drop))
    # the same lines on the reference day itself do count
    on_ref = append_lines(hist, who, target.ref[who], what)
    assert not same_csr(before, feature_matrix(on_ref, ctx.candidates, target.ref,
                                               target.drop, windows))


# ================================================================== learn on the shop (both passes)
def test_learn_save_load_score_on_the_shop(shop, tmp_path):
    base, project, hist, ctx = shop
    target = target_from_labels(hist, project=project, label_column="pregnant",
                                date_column="due")
    opts = options(folds=2, rounds=20, spec=FeatureSpec(max_groups=15))
    res = learn(hist, ctx, target, opts)
    det = res.detector
    assert det.metrics_["positives"] == 60 and det.metrics_["customers"] == hist.n_customers
    assert check_detector(det) == []
    assert_aggregates_only(res.summary(), hist.n_customers)
    folder = res.save(tmp_path / "shop_detector")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [MODEL_FILE, META_FILE, PROXIES_FILE, SIGNATURE_FILE])
    back = load_detector(folder)
    got = score_learned(back, hist, ctx.view, ctx.concepts)
    ref = np.full(hist.n_customers, int(hist.day.max()), np.int32)
    X = feature_matrix(hist, res.groups, ref, np.zeros(hist.n_items, np.uint8),
                       opts.spec.windows)
    assert np.array_equal(got.scores, det.score(X))
    assert got.coverage == 1.0 and got.empty_groups == 0 and got.notes == []


def test_anchors_on_the_shop_leave_the_anchor_items_out(shop):
    _, _, hist, ctx = shop
    target = target_from_anchors(hist, ctx.candidates,
                                 parse_anchor_rules(["pregnancy_test+prenatal_vitamins"]),
                                 ctx.vocabulary_names)
    res = learn(hist, ctx, target, options("shop_anchored", folds=2, rounds=20,
                                           spec=FeatureSpec(max_groups=15)))
    anchor = set(np.flatnonzero(target.drop).tolist())
    assert anchor == set(item_codes(hist, [TEST_KIT, VITAMINS]).tolist())
    for k, m in zip(res.groups.keys, res.groups.members(), strict=True):
        assert not set(m.tolist()) <= anchor, k
    assert "concept:pregnancy_test" not in res.groups.keys
    assert res.detector.feature_spec_["drop_concepts"] == ["pregnancy_test",
                                                           "prenatal_vitamins"]


def test_scan_drops_the_anchors_of_a_detector_without_concept_features(shop, tmp_path):
    """Scoring removes the anchor concepts' items (and floors anchor buyers) whether or not
    the detector's own features use concepts: the scan must resolve the concepts for it."""
    _, project, hist, ctx = shop
    target = target_from_anchors(hist, ctx.candidates,
                                 parse_anchor_rules(["pregnancy_test+prenatal_vitamins"]),
                                 ctx.vocabulary_names)
    res = learn(hist, ctx, target, options("shop_anchored", folds=2, rounds=20,
                                           spec=FeatureSpec(max_groups=15, concepts=False)))
    det = load_detector(res.save(tmp_path / "anchored"))
    direct = score_learned(det, hist, ctx.view, ctx.concepts)
    assert direct.notes == []
    result = scan(project, hist, load_library(only=["pregnancy"]), detectors=[det])
    assert result.learned[0].notes == []
    assert np.array_equal(result.learned[0].scores, direct.scores)


# ================================================================== the simulated population
jit = pytest.mark.jit


@jit
def test_learned_detector_is_accurate(learned):
    target, res = learned
    m = res.detector.metrics_
    assert m["positives"] == target.n_pos > 30
    assert m["roc_auc"]["value"] > 0.7 and m["roc_auc"]["low"] > 0.6
    assert m["folds"] == 3 and len(m["roc_auc_per_fold"]) == 3
    assert res.detector.feature_spec_["mode"] == "labels"
    assert len(res.detector.feature_names_) == len(feature_names(res.groups, (28, 91, 182, 365)))
    assert res.groups.n_groups <= 40


@jit
def test_summary_is_json_and_holds_no_customer(learned, sim):
    _, res = learned
    s = res.summary(timings=True)
    assert set(s) == {"detector", "target", "features", "top_features", "proxies", "seconds"}
    assert_aggregates_only(s, sim["hist"].n_customers)
    assert s["features"]["groups"] == res.groups.n_groups
    assert s["proxies"]["tested"] == res.proxies.num_rows
    assert sum(s["features"]["groups_by_kind"].values()) == res.groups.n_groups
    assert res.summary()["seconds"] == {}


@jit
def test_saved_detector_scores_like_the_one_in_memory(learned, saved, sim):
    _, res = learned
    hist, ctx = sim["hist"], sim["ctx"]
    back = load_detector(saved)
    assert check_detector(back) == []
    got = score_learned(back, hist, ctx.view, ctx.concepts)
    ref = np.full(hist.n_customers, int(hist.day.max()), np.int32)
    X = feature_matrix(hist, res.groups, ref, np.zeros(hist.n_items, np.uint8),
                       (28, 91, 182, 365))
    assert np.array_equal(got.scores, res.detector.score(X))
    assert got.coverage == 1.0 and got.empty_groups == 0
    assert got.top_features and got.top_features[0]["share_of_gain"] > 0
    assert (saved / MODEL_FILE).read_bytes() == res.detector.to_files()[MODEL_FILE]


@jit
def test_scores_are_portable_to_another_copy_of_the_catalog(saved, sim, tmp_path):
    """The same lines with a shuffled, upper-cased catalog give the same scores."""
    data = sim["res"].paths
    rows = pq.read_table(data["catalog"]).to_pylist()
    rng = np.random.default_rng(2)
    rows = [rows[i] for i in rng.permutation(len(rows))]
    for r in rows:
        for lv in ("department", "category", "type"):
            r[lv] = r[lv].upper()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "catalog.parquet")
    text = data["project"].read_text()
    text = text.replace('source = "lines.parquet"', f'source = "{data["lines"]}"')
    (tmp_path / "project.toml").write_text(text.split("[customers]")[0])
    project2 = load_project(tmp_path / "project.toml")
    hist2 = load_histories(project2, cache_dir=sim["cache"])
    ctx2 = learning_context(project2, hist2)
    det = load_detector(saved)
    a = score_learned(det, sim["hist"], sim["ctx"].view, sim["ctx"].concepts)
    b = score_learned(det, hist2, ctx2.view, ctx2.concepts)
    assert b.coverage == 1.0 and b.empty_groups == 0
    assert np.array_equal(a.scores, b.scores)


@jit
def test_save_refuses_an_existing_folder_and_replaces_atomically(learned, sim, tmp_path):
    _, res = learned
    folder = res.save(tmp_path / "det")
    with pytest.raises(OutputError, match="already exists; pass --replace"):
        res.save(folder)
    other = learn(sim["hist"], sim["ctx"], _labels_target(sim),
                  options(seed=5, rounds=10, folds=2))
    assert other.save(folder, replace=True) == folder
    assert (folder / MODEL_FILE).read_bytes() == other.detector.to_files()[MODEL_FILE]
    assert load_detector(folder).random_state == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det"]  # no temporary left


@jit
def test_save_refuses_a_folder_that_is_not_a_detector(learned, tmp_path):
    _, res = learned
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    for replace in (False, True):
        with pytest.raises(OutputError):
            res.save(tmp_path / "notes", replace=replace)
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["keep.txt"]
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputError, match="not a learned detector's folder"):
        res.save(tmp_path / "a_file", replace=True)


@jit
def test_load_detectors_folders_of_folders_and_duplicates(learned, anchored, saved, tmp_path):
    _, res = learned
    _, ares = anchored
    root = tmp_path / "detectors"
    res.save(root / "a")
    ares.save(root / "b")
    (root / "not_a_detector").mkdir()
    dets = load_detectors([root])
    assert [d.name for d in dets] == ["pregnancy_learned", "pregnancy_anchored"]
    assert [d.name for d in load_detectors([saved])] == ["pregnancy_learned"]
    with pytest.raises(ConfigError, match="two detectors are named 'pregnancy_learned'"):
        load_detectors([root, saved])
    with pytest.raises(ConfigError, match="no such folder"):
        load_detectors([tmp_path / "missing"])
    with pytest.raises(ConfigError, match="holds no learned detector"):
        load_detectors([root / "not_a_detector"])


@jit
def test_load_detector_damaged_folders(saved, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(saved, broken)
    (broken / MODEL_FILE).unlink()
    with pytest.raises(ConfigError, match="not a learned detector's folder"):
        load_detector(broken)
    shutil.copy(saved / MODEL_FILE, broken / MODEL_FILE)
    (broken / META_FILE).write_text("{ not json")
    with pytest.raises(ConfigError, match=f"{META_FILE}: cannot be read as JSON"):
        load_detector(broken)
    (broken / META_FILE).write_text((saved / META_FILE).read_text())
    (broken / MODEL_FILE).write_text("tree\nversion=v4\n")
    with pytest.raises(ConfigError, match="model text cannot be read"):
        load_detector(broken)


@jit
def test_generated_signature_loads_and_scans(saved, sim):
    sig = load_signature(saved / SIGNATURE_FILE)
    assert sig.name == "pregnancy_learned_proxies" and sig.sensitivity == "reproductive"
    assert 0 < len(sig.features) <= 25
    result = scan(sim["project"], sim["hist"], (sig,))
    entry = result.summary()["signatures"][0]
    assert entry["signature"] == sig.name and entry["customers_flagged"] > 0
    assert all(f["catalog_items"] > 0 for f in entry["features"])


@jit
def test_proxy_table_columns_and_order(saved, learned):
    _, res = learned
    table = pq.read_table(saved / PROXIES_FILE)
    assert table.equals(res.proxies)
    assert table.column_names == PROXY_COLUMNS
    assert table.column("rank").to_pylist() == list(range(1, table.num_rows + 1))
    p, q = table.column("p_value").to_numpy(), table.column("q_value").to_numpy()
    assert (q >= p).all() and ((q >= 0) & (q <= 1)).all()
    assert (table.column("positives_with").to_numpy()
            + table.column("negatives_with").to_numpy() >= 1).all()
    sig = table.column("significant").to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(sig, q <= 0.05)
    used = set(res.groups.keys)
    contrib = dict(zip(table.column("group").to_pylist(),
                       table.column("model_contribution").to_pylist(), strict=True))
    assert all((contrib[k] is not None) == (k in used) for k in contrib)


@jit
def test_planted_proxies_are_found(learned, sim):
    """Most groups of the generated signature are the products the simulator plants."""
    _, res = learned
    planted = planted_items(SIM, EVENT)
    sig = load_signature_text(res.signature_text)
    keys = signature_keys(sig)
    cand = sim["ctx"].candidates
    where = {k: i for i, k in enumerate(cand.keys)}
    ids = sim["hist"].item_ids.to_numpy()
    hits = [k for k in keys
            if np.isin(ids[cand.members()[where[k]]], list(planted)).mean() >= 0.5]
    assert "concept:prenatal_vitamins" in keys
    assert len(hits) >= 0.6 * len(keys), (hits, keys)


def load_signature_text(text: str):
    import tomllib

    from basketguard.models.signatures.schema import signature_from_dict

    return signature_from_dict(tomllib.loads(text), "<generated>")


def signature_keys(sig) -> list[str]:
    """The group key each feature of a generated signature was made from."""
    keys = []
    for f in sig.features:
        if f.concepts:
            keys.append(f"concept:{f.concepts[0]}")
        elif f.levels:
            keys.append(f"level:{f.levels[0][0]}={f.levels[0][1][0]}")
        else:
            keys.append(f"item:{f.items[0]}")
    return keys


@jit
def test_anchor_items_never_reach_the_features(anchored, sim):
    target, res = anchored
    hist = sim["hist"]
    anchor = set(np.flatnonzero(target.drop).tolist())
    cand = sim["ctx"].candidates
    where = {k: i for i, k in enumerate(cand.keys)}
    for c in ("pregnancy_test", "prenatal_vitamins"):
        assert set(cand.members()[where[f"concept:{c}"]].tolist()) <= anchor
    keys = res.groups.keys
    assert "concept:pregnancy_test" not in keys and "concept:prenatal_vitamins" not in keys
    ids = hist.item_ids.to_numpy()
    assert not {f"item:{ids[i]}" for i in anchor} & set(keys)
    for k, m in zip(keys, res.groups.members(), strict=True):
        assert not set(m.tolist()) <= anchor, k
    # the features the model saw are those of histories without the anchor lines at all
    windows = (28, 91, 182, 365)
    with_anchors = feature_matrix(hist, res.groups, target.ref, target.drop, windows)
    without = feature_matrix(drop_lines(hist, target.drop), res.groups, target.ref,
                             np.zeros(hist.n_items, np.uint8), windows)
    assert same_csr(with_anchors, without)
    assert res.detector.metrics_["roc_auc"]["value"] > 0.6


@jit
def test_anchor_buyers_score_at_least_the_anchor_probability(anchored, sim, tmp_path):
    target, res = anchored
    det = load_detector(res.save(tmp_path / "anchored"))
    got = score_learned(det, sim["hist"], sim["ctx"].view, sim["ctx"].concepts)
    p = got.probability()
    assert (p[target.label == 1] >= 0.99 - 1e-9).all()
    X = feature_matrix(sim["hist"], res.groups, target.ref, target.drop, (28, 91, 182, 365))
    others = target.label == 0
    assert np.array_equal(got.scores[others], res.detector.score(X)[others])


def _with_lines_after_the_events(sim, target):
    """The histories plus, for each dated positive, purchases after its event date (prenatal
    vitamins and random items, up to the data's last day: the span does not change)."""
    hist = sim["hist"]
    last = int(hist.day.max())
    cand = sim["ctx"].candidates
    vitamins = cand.members()[cand.keys.index("concept:prenatal_vitamins")]
    rng = np.random.default_rng(17)
    who, when, what = [], [], []
    for c in np.flatnonzero((target.label == 1) & (target.event_day != NO_DAY)):
        e = int(target.event_day[c])
        if e >= last:
            continue
        for _ in range(8):
            who.append(int(c))
            when.append(int(rng.integers(e + 1, last + 1)))
            what.append(int(rng.choice(vitamins)) if rng.random() < 0.5
                        else int(rng.integers(hist.n_items)))
    assert len(set(who)) >= 20
    return append_lines(hist, who, when, what)


@jit
def test_no_leakage_features_ignore_lines_after_the_event_date(sim, learned):
    target, _ = learned
    later = _with_lines_after_the_events(sim, target)
    assert later.n_lines > sim["hist"].n_lines
    again = _labels_target(sim, later)
    np.testing.assert_array_equal(again.label, target.label)
    np.testing.assert_array_equal(again.ref, target.ref)
    windows = (28, 91, 182, 365)
    cand = sim["ctx"].candidates
    assert same_csr(feature_matrix(sim["hist"], cand, target.ref, target.drop, windows),
                    feature_matrix(later, cand, again.ref, again.drop, windows))


@jit
def test_no_leakage_learn_gives_the_same_model_text(sim, learned):
    target, res = learned
    later = _with_lines_after_the_events(sim, target)
    again = learn(later, sim["ctx"], _labels_target(sim, later), options())
    assert again.detector.to_files()[MODEL_FILE] == res.detector.to_files()[MODEL_FILE]
    assert again.groups.keys == res.groups.keys
    assert again.proxies.equals(res.proxies)


@jit
def test_no_leakage_generated_signature_ignores_lines_after_the_event_date(sim, learned):
    # The generated signature's link is fitted "by scanning the generated signature over the
    # training customers"; with event dates each positive must be seen up to its event date
    # only, as the model's features are: purchases after it must not move the link.
    target, res = learned
    later = _with_lines_after_the_events(sim, target)
    again = learn(later, sim["ctx"], _labels_target(sim, later), options())
    assert again.signature_text == res.signature_text


# ------------------------------------------------------------------ scan with detectors
@pytest.fixture(scope="module")
def scanned(sim, saved, anchored, tmp_path_factory):
    _, ares = anchored
    folder = ares.save(tmp_path_factory.mktemp("anch") / "pregnancy_anchored")
    dets = load_detectors([saved, folder])
    return dets, scan(sim["project"], sim["hist"], load_library(only=["pregnancy"]),
                      detectors=dets)


LEARNED_KEYS = {"detector", "title", "kind", "sensitivity", "gdpr_art9", "threshold",
                "score_threshold", "customers_flagged", "prevalence", "probability_histogram",
                "coverage", "empty_groups", "training", "labels", "top_features"}


@jit
def test_scan_reports_the_learned_detectors(scanned, sim):
    dets, result = scanned
    s = result.summary()
    assert [e["detector"] for e in s["learned"]] == ["pregnancy_learned", "pregnancy_anchored"]
    n = sim["hist"].n_customers
    for e, det, x in zip(s["learned"], dets, result.learned, strict=True):
        assert set(e) == LEARNED_KEYS and e["kind"] == "learned"
        assert sum(e["probability_histogram"]["counts"]) == n
        assert e["customers_flagged"] == int((x.scores >= det.score_threshold).sum())
        assert e["coverage"] == 1.0
        assert e["training"]["roc_auc"] == det.metrics_["roc_auc"]
    assert_aggregates_only(s, n)
    assert problems(s, "scan") == []
    validate(s, "scan")
    validate(json.dumps(s))


@jit
def test_scan_findings_and_scores_include_the_learned_detectors(scanned, sim):
    dets, result = scanned
    checks = [f.check for f in result.findings()]
    assert {"inference.pregnancy", "inference.pregnancy_learned",
            "inference.pregnancy_anchored"} <= set(checks)
    table = result.scores_table()
    n = sim["hist"].n_customers
    for det, x in zip(dets, result.learned, strict=True):
        rows = table.filter(pc.equal(table["signature"], det.name))
        assert rows.num_rows == n
        assert rows.column("customer_id").to_pylist() == sim["hist"].customer_ids.to_pylist()
        np.testing.assert_array_equal(rows.column("score").to_numpy(), x.scores)
        np.testing.assert_array_equal(rows.column("flagged").to_numpy(zero_copy_only=False),
                                      x.scores >= det.score_threshold)
    some = result.scores_table(min_probability=0.5)
    learned_rows = some.filter(pc.equal(some["signature"], "pregnancy_learned"))
    assert learned_rows.num_rows == int((result.learned[0].probability() >= 0.5).sum())


@jit
def test_a_detector_named_like_a_signature_is_refused(sim, saved):
    det = load_detector(saved)
    det.name = "pregnancy"
    with pytest.raises(ConfigError, match="learned detector 'pregnancy' has the name of a "
                                          "signature"):
        scan(sim["project"], sim["hist"], load_library(only=["pregnancy"]), detectors=[det])
    # without the signature of that name it runs
    result = scan(sim["project"], sim["hist"], load_library(only=["diabetes"]),
                  detectors=[det])
    assert [e["detector"] for e in result.summary()["learned"]] == ["pregnancy"]

