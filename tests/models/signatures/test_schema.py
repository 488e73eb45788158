"""Signature files (models.signatures): named bad cases and the built-in library."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from basketguard.engine.errors import ConfigError
from basketguard.models.signatures import schema as ms

BUILTIN_NAMES = ("pregnancy", "new_baby", "diabetes", "smoking_cessation", "incontinence",
                 "contraception_sexual_health", "kosher_diet", "halal_diet",
                 "alcohol_dependence", "financial_distress")


# ------------------------------------------------------------------ a small TOML writer
def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string for what the tests use
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(doc: dict) -> str:
    """TOML text of a signature dict: scalars, [tables] and [[arrays of tables]]."""
    head, tail = [], []
    for k, v in doc.items():
        if isinstance(v, dict):
            tail.append(f"\n[{k}]")
            tail.extend(f"{kk} = {_value(vv)}" for kk, vv in v.items())
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for x in v:
                tail.append(f"\n[[{k}]]")
                tail.extend(f"{kk} = {_value(vv)}" for kk, vv in x.items())
        else:
            head.append(f"{k} = {_value(v)}")
    return "\n".join(head + tail) + "\n"


BASE = {
    "name": "test_sig",
    "title": "A test signature",
    "sensitivity": "health",
    "gdpr_art9": "health",
    "window_days": 30,
    "threshold": 0.5,
    "event": "onset",
    "min_stage_features": 1,
    "rationale": "why",
    "sources": ["a source"],
    "link": {"intercept": -4.0, "slope": 1.0},
    "feature": [
        {"name": "alpha", "weight": 2.0, "levels": {"type": ["Alpha"]}, "names": ["alpha"],
         "stage_day": -10, "stage_spread": 5},
        {"name": "beta", "weight": 1.0, "names": ["beta"], "exclude": ["not beta"],
         "larger_than_usual": 1.5, "baseline_level": "type"},
        {"name": "gamma", "weight": 0.5, "items": [1, 2, 3]},
    ],
    "stage": [{"name": "early", "start": -30, "end": 0}, {"name": "late", "start": 0, "end": 30}],
}


def write(tmp_path: Path, doc: dict, name: str = "test_sig.toml") -> Path:
    p = tmp_path / name
    p.write_text(to_toml(doc), encoding="utf-8")
    return p


def test_base_document_loads(tmp_path):
    p = write(tmp_path, BASE)
    sig = ms.load_signature(p)
    assert sig.name == "test_sig" and sig.path == p and sig.window_days == 30
    assert [f.name for f in sig.features] == ["alpha", "beta", "gamma"]
    assert sig.features[0].levels == (("type", ("Alpha",)),)
    assert sig.features[1].larger_than_usual == 1.5 and sig.features[1].baseline_level == "type"
    assert sig.features[2].items == (1, 2, 3)
    assert sig.has_stages and [s.name for s in sig.stages] == ["early", "late"]
    assert sig.score_threshold == pytest.approx(4.0)
    assert sig.link.probability(sig.score_threshold) == pytest.approx(0.5)
    assert ms.signature_from_dict(copy.deepcopy(BASE)) == ms.signature_from_dict(
        copy.deepcopy(BASE))


# ------------------------------------------------------------------ bad cases
def _set(path, value):
    def edit(doc):
        *head, last = path
        node = doc
        for k in head:
            node = node[k]
        node[last] = value
    return edit


def _drop(path):
    def edit(doc):
        *head, last = path
        node = doc
        for k in head:
            node = node[k]
        del node[last]
    return edit


def _features(n):
    return _set(("feature",), [{"name": f"f{i}", "weight": 1.0, "items": [i]} for i in range(n)])


def _dup(doc):
    doc["feature"][1]["name"] = "alpha"


def _no_stage_features(doc):
    for f in doc["feature"]:
        f.pop("stage_day", None)
        f.pop("stage_spread", None)


def _all_negative(doc):
    for f in doc["feature"]:
        f["weight"] = -1.0
        f.pop("stage_day", None)
        f.pop("stage_spread", None)


def _absence_negative(doc):
    doc["feature"][2]["absent_days"] = 5
    doc["feature"][2]["weight"] = -1.0


def _with_alone(doc):
    doc["feature"][2] = {"name": "gamma", "weight": 0.5, "with": ["kosher"]}


def _baseline_only(doc):
    del doc["feature"][1]["larger_than_usual"]


BAD = [
    # (id, edit, key named in the message, text expected in it[, marks])
    ("unknown-top-key", _set(("windows_days",), 3), "windows_days", "Did you mean 'window_days'"),
    ("unknown-feature-key", _set(("feature", 0, "wieght"), 1.0), "wieght", "Did you mean 'weight'"),
    ("unknown-link-key", _set(("link", "slop"), 1.0), "slop", "Did you mean 'slope'"),
    ("missing-name", _drop(("name",)), "name", "missing"),
    ("missing-window", _drop(("window_days",)), "window_days", "missing"),
    ("missing-link", _drop(("link",)), "link", "missing"),
    ("missing-link-slope", _drop(("link", "slope")), "slope", "missing"),
    ("missing-feature", _drop(("feature",)), "feature", "missing"),
    ("missing-feature-name", _drop(("feature", 0, "name")), "name", "missing"),
    ("missing-feature-weight", _drop(("feature", 0, "weight")), "weight", "missing"),
    ("bad-name", _set(("name",), "Test Sig"), "name", "lower-case"),
    ("zero-window", _set(("window_days",), 0), "window_days", ">= 1"),
    ("negative-window", _set(("window_days",), -5), "window_days", ">= 1"),
    ("float-window", _set(("window_days",), 30.5), "window_days", "whole number"),
    ("huge-window", _set(("window_days",), 100_000), "window_days", "<="),
    ("weight-string", _set(("feature", 0, "weight"), "2"), "weight", "finite number"),
    ("weight-nan", _set(("feature", 0, "weight"), float("nan")), "weight", "finite number"),
    ("weight-zero", _set(("feature", 0, "weight"), 0.0), "weight", "at least 0.001 away"),
    ("weight-tiny", _set(("feature", 0, "weight"), 1e-320), "weight", "at least 0.001 away"),
    ("weight-tiny-negative", _set(("feature", 2, "weight"), -1e-4), "weight",
     "at least 0.001 away"),
    ("weight-huge", _set(("feature", 0, "weight"), 1e308), "weight", "<= 100"),
    ("weight-huge-negative", _set(("feature", 0, "weight"), -1e308), "weight", ">= -100"),
    ("negative-weight-staged", _set(("feature", 0, "weight"), -1.0), "stage_day",
     "needs a positive weight"),
    ("all-weights-negative", _all_negative, "feature", "no feature with a positive weight"),
    ("absence-too-long", _set(("feature", 2, "absent_days"), 30), "absent_days",
     "shorter than the window"),
    ("absence-zero", _set(("feature", 2, "absent_days"), 0), "absent_days", ">= 1"),
    ("absence-negative-weight", _absence_negative, "weight", "must be positive"),
    ("absence-staged", _set(("feature", 0, "absent_days"), 5), "stage_day",
     "cannot date an absence feature"),
    ("absence-quantity", _set(("feature", 1, "absent_days"), 5), "larger_than_usual",
     "does not apply to an absence feature"),
    ("concept-bad-name", _set(("feature", 2, "concepts"), ["Beer"]), "concepts[0]",
     "concept name"),
    ("with-alone", _with_alone, "with", "give concepts"),
    ("fallback-not-bool", _set(("feature", 2, "fallback"), "yes"), "fallback", "true or false"),
    ("weight-bool", _set(("feature", 0, "weight"), True), "weight", "finite number"),
    ("threshold-one", _set(("threshold",), 1.0), "threshold", "< 1"),
    ("slope-zero", _set(("link", "slope"), 0.0), "slope", ">= 0.001"),
    ("slope-subnormal", _set(("link", "slope"), 1e-320), "slope", ">= 0.001"),
    ("slope-huge", _set(("link", "slope"), 1e300), "slope", "<= 100"),
    ("intercept-huge", _set(("link", "intercept"), 1e308), "intercept", "<= 50"),
    ("intercept-very-negative", _set(("link", "intercept"), -800.0), "intercept", ">= -50"),
    ("intercept-inf", _set(("link", "intercept"), float("inf")), "intercept", "finite number"),
    ("empty-pattern", _set(("feature", 0, "names"), ["alpha", ""]), "names[1]", "empty"),
    ("empty-exclude", _set(("feature", 1, "exclude"), [" "]), "exclude[0]", "empty"),
    ("invalid-regex", _set(("feature", 0, "names"), ["(unclosed"]), "names[0]", "regular expr"),
    ("look-ahead", _set(("feature", 0, "names"), ["foo(?=bar)"]), "names[0]", "RE2"),
    ("back-reference", _set(("feature", 1, "exclude"), [r"(a)\1"]), "exclude[0]", "RE2"),
    ("names-not-strings", _set(("feature", 0, "names"), [1, 2]), "names", "list of strings"),
    ("unknown-sensitivity", _set(("sensitivity",), "healht"), "sensitivity",
     "Did you mean 'health'"),
    ("unknown-gdpr", _set(("gdpr_art9",), "religion"), "gdpr_art9", "not one of"),
    ("stage-end-before-start", _set(("stage", 0, "end"), -40), "end", "after start"),
    ("stage-end-equals-start", _set(("stage", 1, "end"), 0), "end", "after start"),
    ("stage-missing-start", _drop(("stage", 0, "start")), "start", "missing"),
    ("stages-without-stage-features", _no_stage_features, "stage", "stage_day"),
    ("spread-without-stage-day", _drop(("feature", 0, "stage_day")), "stage_spread",
     "needs stage_day"),
    ("duplicate-feature-names", _dup, "feature", "'alpha' twice"),
    ("65-features", _features(65), "feature", "at most 64"),
    ("baseline-without-ratio", _baseline_only, "baseline_level", "needs larger_than_usual"),
    ("ratio-one", _set(("feature", 1, "larger_than_usual"), 1.0), "larger_than_usual", "> 1"),
    ("ratio-below-one", _set(("feature", 1, "larger_than_usual"), 0.5), "larger_than_usual",
     "> 1"),
    ("ratio-huge", _set(("feature", 1, "larger_than_usual"), 1e308), "larger_than_usual",
     "<= 1000"),
    ("feature-matches-nothing", _drop(("feature", 2, "items")), "feature 'gamma'",
     "matches nothing"),
    ("empty-levels", _set(("feature", 0, "levels"), {}), "levels", "non-empty"),
    ("level-without-values", _set(("feature", 0, "levels"), {"type": []}), "type", "no values"),
    ("items-bools", _set(("feature", 2, "items"), [True]), "items", "item ids"),
    ("items-floats", _set(("feature", 2, "items"), [1.5]), "items", "item ids"),
    ("items-mixed-kinds", _set(("feature", 2, "items"), [1, "2"]), "items", "mixes"),
    ("feature-not-table", _set(("feature",), [1]), "feature[0]", "table"),
    ("link-not-table", _set(("link",), 3), "link", "table"),
    ("stage-not-array", _set(("stage",), {"name": "x", "start": 0, "end": 1}), "stage", ""),
]


@pytest.mark.parametrize("edit, key, text", [
    pytest.param(*c[1:4], id=c[0], marks=c[4:]) for c in BAD])
def test_bad_signature_names_file_and_key(tmp_path, edit, key, text):
    doc = copy.deepcopy(BASE)
    edit(doc)
    p = write(tmp_path, doc)
    with pytest.raises(ConfigError) as err:
        ms.load_signature(p)
    msg = str(err.value)
    assert str(p) in msg, msg
    assert key in msg, msg
    assert text in msg, msg


def test_invalid_toml_names_file(tmp_path):
    p = tmp_path / "broken.toml"
    p.write_text('name = "x"\nwindow_days = = 3\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as err:
        ms.load_signature(p)
    assert str(p) in str(err.value)


def test_not_utf8_names_file(tmp_path):
    p = tmp_path / "latin.toml"
    p.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(ConfigError) as err:
        ms.load_signature(p)
    assert str(p) in str(err.value)


def test_missing_file_names_file(tmp_path):
    p = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="cannot read") as err:
        ms.load_signature(p)
    assert str(p) in str(err.value)


def test_signature_from_dict_names_origin():
    doc = copy.deepcopy(BASE)
    doc["feature"][0]["weight"] = 0
    with pytest.raises(ConfigError, match=r"^mine\.toml: feature 'alpha' weight"):
        ms.signature_from_dict(doc, "mine.toml")


def test_counter_evidence_and_concepts_load():
    doc = copy.deepcopy(BASE)
    doc["feature"].append({"name": "stopped", "weight": 1.0, "concepts": ["alcohol"],
                           "absent_days": 10})
    doc["feature"].append({"name": "against", "weight": -1.5, "concepts": ["pork"]})
    doc["feature"].append({"name": "other", "weight": 1.0, "concepts": ["beef"],
                           "with": ["halal"], "fallback": True})
    sig = ms.signature_from_dict(doc, "mine.toml")
    by = {f.name: f for f in sig.features}
    assert by["stopped"].is_absence and by["stopped"].absent_days == 10
    assert by["against"].weight == -1.5 and not by["against"].is_absence
    assert by["other"].fallback and by["other"].with_concepts == ("halal",)
    assert by["other"].uses_concepts and not by["alpha"].uses_concepts


def test_defaults():
    doc = copy.deepcopy(BASE)
    for k in ("title", "gdpr_art9", "threshold", "event", "min_stage_features", "rationale",
              "sources"):
        del doc[k]
    sig = ms.signature_from_dict(doc)
    assert (sig.title, sig.gdpr_art9, sig.threshold, sig.event, sig.min_stage_features,
            sig.rationale, sig.sources) == ("test_sig", "none", 0.5, "event date", 2, "", ())
    assert sig.features[0].stage_spread == 5 and sig.features[1].stage_spread == 14


def test_sixty_four_features_load():
    doc = copy.deepcopy(BASE)
    _features(64)(doc)
    del doc["stage"]
    assert len(ms.signature_from_dict(doc).features) == 64


@pytest.mark.parametrize("intercept", [-ms.INTERCEPT_MAX, 0.0, ms.INTERCEPT_MAX])
@pytest.mark.parametrize("slope", list(ms.SLOPE_RANGE))
@pytest.mark.parametrize("weight", list(ms.WEIGHT_RANGE))
@pytest.mark.parametrize("threshold", [5e-324, 1e-300, 0.5, 1 - 2**-53])
def test_numbers_at_the_bounds_keep_scores_and_probabilities_finite(intercept, slope, weight,
                                                                    threshold):
    doc = copy.deepcopy(BASE)
    _features(ms.MAX_FEATURES)(doc)
    del doc["stage"]
    for f in doc["feature"]:
        f["weight"] = weight
    doc["link"] = {"intercept": intercept, "slope": slope}
    doc["threshold"] = threshold
    sig = ms.signature_from_dict(doc)
    top = sum(f.weight for f in sig.features)  # the largest score the signature can give
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        probs = sig.probability(np.array([0.0, top]))
        assert math.isfinite(sig.score_threshold)
    assert np.all(np.isfinite(probs)) and np.all((probs >= 0) & (probs <= 1))
    assert probs[0] <= probs[1]


# ------------------------------------------------------------------ library
@pytest.mark.parametrize("only", [["pregnancyy"], ["pregnancy", "pregnancyy"]])
def test_load_library_unknown_only_name(only):
    with pytest.raises(ConfigError, match=r"unknown signature 'pregnancyy'"):
        ms.load_library(only=only)


def test_load_library_unknown_only_name_lists_known_names():
    with pytest.raises(ConfigError) as err:
        ms.load_library(only=["pregnancyy"])
    assert "Did you mean 'pregnancy'" in str(err.value)
    assert all(n in str(err.value) for n in BUILTIN_NAMES)


def test_load_library_only_keeps_the_given_names():
    lib = ms.load_library(only=["pregnancy", "diabetes"])
    assert [s.name for s in lib] == ["diabetes", "pregnancy"]


def test_two_user_files_with_the_same_name(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = write(tmp_path / "a", BASE)
    b = write(tmp_path / "b", BASE, "other.toml")
    with pytest.raises(ConfigError, match="'test_sig' is also used by") as err:
        ms.load_library([a, b])
    assert str(b) in str(err.value) and str(a) in str(err.value)


def test_user_file_overrides_builtin(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["name"] = "pregnancy"
    p = write(tmp_path, doc, "my_pregnancy.toml")
    lib = ms.load_library([tmp_path])
    by_name = {s.name: s for s in lib}
    assert by_name["pregnancy"].path == p
    assert len(lib) == len(ms.load_library())
    only = ms.load_library([p], only=["pregnancy"])
    assert len(only) == 1 and only[0].path == p


def test_user_folder_without_files(tmp_path):
    with pytest.raises(ConfigError, match="holds no signature files"):
        ms.load_library([tmp_path])


def test_user_path_missing(tmp_path):
    with pytest.raises(ConfigError, match="no such signature file"):
        ms.load_library([tmp_path / "nope"])


def test_empty_library():
    with pytest.raises(ConfigError, match="no signatures"):
        ms.load_library(builtin=False)


def test_user_only_library(tmp_path):
    p = write(tmp_path, BASE)
    lib = ms.load_library([p], builtin=False)
    assert [s.name for s in lib] == ["test_sig"]


# ------------------------------------------------------------------ built-ins
BUILTIN_FILES = sorted(ms.BUILTIN_DIR.glob("*.toml"))


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=[p.stem for p in BUILTIN_FILES])
def test_builtin_file_loads(path):
    sig = ms.load_signature(path)
    assert sig.name == path.stem
    assert sig.rationale.strip() and len(sig.sources) >= 1
    assert sig.sensitivity in ms.SENSITIVITIES and sig.gdpr_art9 in ms.GDPR_ART9
    assert 1 <= len(sig.features) <= ms.MAX_FEATURES
    assert sig.score_threshold > 0  # a customer without evidence is never flagged


def test_builtin_library():
    lib = ms.load_library()
    names = [s.name for s in lib]
    assert len(names) >= 8 and names == sorted(names)
    assert set(BUILTIN_NAMES) <= set(names)
    preg = {s.name: s for s in lib}["pregnancy"]
    assert preg.stages and preg.event and preg.has_stages
    assert all(a.end <= b.start for a, b in zip(preg.stages, preg.stages[1:], strict=False))
