"""Resolving a catalog to concepts: the documented rule, overrides, the cache, errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from basketguard.engine.detect.concepts import (
    BY_CONTEXT,
    BY_INCLUDE,
    BY_LEVEL,
    BY_NAME,
    BY_OVERRIDE,
    read_overrides,
    resolve_cached,
    resolve_concepts,
)
from basketguard.engine.errors import ConfigError
from basketguard.models.vocabulary.schema import load_vocabulary, normalize_value

VOCAB = r"""
[[concept]]
name = "beer"
names = ['\bbeers?\b', '\blager\b']
exclude = ['\bginger beer\b', 'non[- ]?alc', '\bjuices?\b']
levels = ["Beer & Ale"]

[[concept]]
name = "wine"
names = ['\bwines?\b']
exclude = ['\bcooking\b']

[[concept]]
name = "alcohol"
names = ['hard seltzer']
includes = ["beer", "wine"]
exclude = ['\bfree\b']

[[concept]]
name = "diapers"
names = ['\bdiapers?\b', '\bnappies\b']
exclude = ['\bwipes\b']
levels = ["Baby Diapers"]
"""


@pytest.fixture
def vocab(tmp_path):
    p = tmp_path / "v.toml"
    p.write_text(VOCAB)
    return load_vocabulary([p], builtin=False)


def resolve(vocab, names, levels=None, **kw):
    arr = None if names is None else pa.array(names, pa.string())
    lv = {k: pa.array(v, pa.string()) for k, v in (levels or {}).items()}
    return resolve_concepts(vocab, arr, lv, **kw)


def test_names_levels_includes_and_exclusions(vocab):
    names = ["Lager 4pk", "Ginger Beer", "Red Wine", "Cooking Wine", "Hard Seltzer",
             "Alcohol Free Beer", "Apple", None]
    levels = {"dept": ["Drinks"] * 7 + ["Drinks"],
              "type": ["Beer", "Soft", "Wine", "Pantry", "Seltzer", "Beer", "Fruit",
                       "beer  &  ale"]}
    t = resolve(vocab, names, levels)
    assert t.rows["beer"].tolist() == [0, 5, 7]  # row 7: no name, taxonomy value "Beer & Ale"
    assert t.rows["wine"].tolist() == [2]
    # includes, then alcohol's own exclusion ("free") removes the alcohol-free beer
    assert t.rows["alcohol"].tolist() == [0, 2, 4, 7]
    how = dict(zip(t.rows["alcohol"].tolist(), t.how["alcohol"].tolist(), strict=True))
    assert how[4] == BY_NAME and how[0] == BY_INCLUDE
    bhow = dict(zip(t.rows["beer"].tolist(), t.how["beer"].tolist(), strict=True))
    assert bhow[7] == BY_LEVEL | BY_NAME  # "beer  &  ale" is its name text too


def test_exclusion_applies_to_taxonomy_values(vocab):
    t = resolve(vocab, ["Apple Cider Beer Style"], {"aisle": ["Juices & Nectars"]})
    assert t.rows["beer"].size == 0


def test_names_less_catalog_matches_the_most_specific_value(vocab):
    t = resolve(vocab, None, {"dept": ["DRUG GM", "DRUG GM"],
                              "sub": ["BABY DIAPERS", "BABY WIPES"]})
    assert t.rows["diapers"].tolist() == [0]


def test_level_names_do_not_matter(vocab):
    names = ["x", "y", "z"]
    a = resolve(vocab, names, {"department": ["a", "b", "c"], "type": ["Beer & Ale", "q", "r"]})
    b = resolve(vocab, names, {"dept": ["a", "b", "c"], "subclass": ["Beer & Ale", "q", "r"]})
    for c in vocab.names:
        assert a.rows[c].tolist() == b.rows[c].tolist()


def test_empty_catalog(vocab):
    t = resolve(vocab, [], {"type": []})
    assert all(t.rows[c].size == 0 for c in vocab.names)
    t = resolve_concepts(vocab, None, {}, n_rows=3)
    assert all(t.rows[c].size == 0 for c in vocab.names)


def test_normalize_value():
    assert normalize_value("  Beer & Cider ") == "beer cider"
    assert normalize_value("NON-ALCOHOLIC  WINES") == "non alcoholic wines"


def test_overrides_apply_in_order_and_name_lines(vocab, tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("item,pattern,concept,action,note\n"
                 "2,,beer,include,a stout\n"
                 ",\\bapple\\b,wine,include,\n"
                 "9,,beer,include,\n"
                 ",zzz,beer,exclude,\n"
                 "2,,beer,exclude,changed my mind\n")
    ov = read_overrides(p)
    t = resolve(vocab, ["Lager", "Apple", "Stout"], {"type": ["a", "b", "c"]},
                overrides=ov, item_keys=pa.array(["1", "2", "3"]))
    assert t.rows["beer"].tolist() == [0]  # row 1 (item 2) included, then excluded
    assert t.rows["wine"].tolist() == [1]
    assert t.how["wine"].tolist() == [BY_OVERRIDE]
    assert t.override_lines[("wine", 1)] == 3
    assert any(f"{p}:4" in n and "'9'" in n for n in t.notes)
    assert any(f"{p}:5" in n and "matches no item" in n for n in t.notes)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("item,concept\n", "'action'"),
    ("concept,action\n", "'item' or a 'pattern'"),
    ("item,pattern,concept,action,colour\n", "unknown column 'colour'"),
    ("item,pattern,concept,action\n1,x,beer,include\n", ":2: give exactly one"),
    ("item,pattern,concept,action\n,,beer,include\n", ":2: give exactly one"),
    ("item,concept,action\n1,beer,keep\n", ":2: action must be"),
    ("pattern,concept,action\n(,beer,include\n", r":2: pattern '\('"),
    ("pattern,concept,action\n(?=x),beer,include\n", ":2: pattern"),
    ("item,concept,action\n1,,include\n", ":2: the concept is empty"),
    ("item,concept,action\n1,beer,include,extra\n", ":2: 4 fields"),
])
def test_override_file_errors(tmp_path, text, message):
    p = tmp_path / "o.csv"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        read_overrides(p)
    assert str(p) in str(err.value)


def test_override_unknown_concept_names_line(vocab, tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("item,concept,action\n1,bear,include\n")
    with pytest.raises(ConfigError, match=r"o\.csv:2: unknown concept 'bear'.*'beer'"):
        resolve(vocab, ["x"], {"t": ["a"]}, overrides=read_overrides(p),
                item_keys=pa.array(["1"]))


def test_missing_override_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the overrides file"):
        read_overrides(tmp_path / "nope.csv")


def test_cache_round_trip_and_key(vocab, tmp_path):
    names = pa.array(["Lager", "Red Wine", "Apple"])
    levels = {"type": pa.array(["Beer", "Wine", "Fruit"])}
    t1, s1 = resolve_cached(vocab, names, levels, 3, cache_dir=tmp_path)
    t2, s2 = resolve_cached(vocab, names, levels, 3, cache_dir=tmp_path)
    assert (s1, s2) == ("stored", "hit")
    for c in vocab.names:
        assert np.array_equal(t1.rows[c], t2.rows[c])
        assert np.array_equal(t1.how[c], t2.how[c])
    # another catalog content: another key
    t3, s3 = resolve_cached(vocab, pa.array(["Lager", "Red Wine", "Stout"]), levels, 3,
                            cache_dir=tmp_path)
    assert s3 == "stored"
    # a damaged entry is rebuilt, never used
    for f in (tmp_path / "concepts").glob("*.arrow"):
        f.write_bytes(b"garbage")
    t4, s4 = resolve_cached(vocab, names, levels, 3, cache_dir=tmp_path)
    assert s4 == "stored" and t4.rows["beer"].tolist() == t1.rows["beer"].tolist()
    _, off = resolve_cached(vocab, names, levels, 3, cache_dir=None)
    assert off == "off"


def test_unwritable_cache_does_not_fail(vocab, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    t, state = resolve_cached(vocab, pa.array(["Lager"]), {}, 1, cache_dir=blocker)
    assert state == "not stored" and t.rows["beer"].tolist() == [0]


@pytest.mark.parametrize("body, message", [
    ("[[concept]]\nname = 'a'\nnames = ['(']\n", r"names\[0\]"),
    ("[[concept]]\nname = 'a'\nincludes = ['b']\n", "unknown concept 'b'"),
    ("[[concept]]\nname = 'a'\nincludes = ['b']\n[[concept]]\nname = 'b'\nincludes = ['a']\n",
     "cycle"),
    ("[[concept]]\nname = 'a'\nnames = ['x']\n[[concept]]\nname = 'a'\nnames = ['y']\n",
     "also defined"),
    ("[[concept]]\nname = 'a'\nnames = ['x']\ncolour = 'red'\n", "colour"),
    ("[[concept]]\nname = 'a'\n", "matches nothing"),
    ("[[concept]]\nname = 'A b'\nnames = ['x']\n", "lower-case"),
    ("[[concept]]\nname = 'a'\nlevels = ['&&']\n", "no letters"),
    ("title = 'x'\n", "title"),
])
def test_concept_file_errors(tmp_path, body, message):
    p = tmp_path / "bad.toml"
    p.write_text(body)
    with pytest.raises(ConfigError, match=message) as err:
        load_vocabulary([p], builtin=False)
    assert str(p) in str(err.value)


def test_level_patterns_and_context(tmp_path):
    p = tmp_path / "v.toml"
    p.write_text(r"""
[[concept]]
name = "baby_food"
level_patterns = ['\bbaby food\b']
exclude_names = ['\bformula\b']

[[concept]]
name = "baby_wipes"
names = ['\bbaby wipes?\b']
context = ['\bbab(y|ies)\b', '\bdiapers?\b']
context_names = ['\bwipes?\b']
""")
    vocab = load_vocabulary([p], builtin=False)
    names = ["Pumpkin Apple", "Infant Formula Powder", "Sensitive Wipes", "Kitchen Wipes",
             "Baby Wipes 80ct"]
    levels = {"dept": ["Babies", "Babies", "Babies", "Household", "Household"],
              "aisle": ["Baby Food & Formula", "Baby Food & Formula", "Diapers & Wipes",
                        "Cleaning", "Cleaning"]}
    t = resolve(vocab, names, levels)
    assert t.rows["baby_food"].tolist() == [0]
    assert t.how["baby_food"].tolist() == [BY_LEVEL]
    assert t.rows["baby_wipes"].tolist() == [2, 4]
    how = dict(zip(t.rows["baby_wipes"].tolist(), t.how["baby_wipes"].tolist(), strict=True))
    assert how == {2: BY_CONTEXT, 4: BY_NAME}


def test_context_needs_context_names(tmp_path):
    p = tmp_path / "v.toml"
    p.write_text("[[concept]]\nname = 'a'\ncontext = ['x']\n")
    with pytest.raises(ConfigError, match="context_names is missing"):
        load_vocabulary([p], builtin=False)


def test_exclusions_by_field(tmp_path):
    p = tmp_path / "v.toml"
    p.write_text(r"""
[[concept]]
name = "bacon"
names = ['\bbacon\b']
exclude_levels = ['\bpets?\b']
exclude_names = ['\bturkey\b']
""")
    vocab = load_vocabulary([p], builtin=False)
    names = ["Smoked Bacon", "Bacon Dog Treats", "Turkey Bacon", "Bacon Bits"]
    levels = {"aisle": ["hot dogs bacon sausage", "pet care", "hot dogs bacon sausage",
                        "turkey aisle"]}
    t = resolve(vocab, names, levels)
    # "dogs" in the aisle does not exclude (exclude_levels names pets only); "turkey" in an
    # aisle does not exclude (exclude_names looks at names only)
    assert t.rows["bacon"].tolist() == [0, 3]


def test_builtin_patterns_compile_and_load_the_same_unchecked():
    checked = load_vocabulary(check_builtin=True)
    fast = load_vocabulary()
    assert checked.concepts == fast.concepts and checked.digest == fast.digest


def test_prefilter_analysis_is_cached_beside_the_concepts(vocab, tmp_path):
    from basketguard.engine.detect import prefilter

    names = pa.array(["Lager", "Red Wine", "Apple"])
    t1, _ = resolve_cached(vocab, names, {}, 3, cache_dir=tmp_path)
    saved = tmp_path / "concepts" / f"prefilter-{vocab.digest}.json"
    assert saved.is_file()
    pats = [p for c in vocab.concepts for p in c.names]
    want = {p: prefilter.analyse(p) for p in pats}
    for p in pats:
        prefilter._KNOWN.pop(p, None)
    assert prefilter.load_requirements(saved)
    assert {p: prefilter._KNOWN[p] for p in pats} == want
    # a damaged file is ignored, never trusted
    saved.write_text("{not json")
    assert not prefilter.load_requirements(saved)
    t2, state = resolve_cached(vocab, pa.array(["Lager", "Stout", "Apple"]), {}, 3,
                               cache_dir=tmp_path)
    assert state == "stored" and t2.rows["beer"].tolist() == [0]
