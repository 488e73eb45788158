"""The literal prefilter: its candidates always hold every row a pattern matches.

The truth is RE2 itself (``pc.match_substring_regex(..., ignore_case=True)``), on
hypothesis patterns and texts built from one small vocabulary, on named edge cases,
and on every name pattern of the built-in vocabulary against two real catalogs.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from basketguard.engine.detect.prefilter import (
    WILD_CHARS,
    AllOf,
    Atom,
    TokenIndex,
    required_atoms,
    required_literals,
    requirement,
)
from basketguard.engine.errors import InternalError
from basketguard.models.vocabulary.schema import load_vocabulary
from tests.conftest import DATASETS

KELVIN, LONG_S = "\u212a", "\u017f"


def truth(text: pa.Array | pa.ChunkedArray, pattern: str) -> np.ndarray:
    """The rows RE2 matches (case-insensitively): what the candidates must cover."""
    hit = pc.fill_null(pc.match_substring_regex(text, pattern, ignore_case=True), False)
    return np.flatnonzero(np.asarray(hit.to_numpy(zero_copy_only=False), bool))


def holding(text, literals: list[str]) -> np.ndarray:
    """Rows holding one of the literals, under RE2's case folding."""
    hit = np.zeros(len(text), bool)
    for lit in literals:
        m = pc.fill_null(pc.match_substring(text, lit, ignore_case=True), False)
        hit |= np.asarray(m.to_numpy(zero_copy_only=False), bool)
    return np.flatnonzero(hit)


def assert_covers(index: TokenIndex, text, pattern: str) -> np.ndarray | None:
    """The candidates of ``pattern``, checked to be sorted, distinct and to cover RE2."""
    cand = index.rows_for(pattern)
    want = truth(text, pattern)
    if cand is not None:
        assert cand.dtype == np.int64 and np.all(np.diff(cand) > 0), pattern
        assert cand.size == 0 or (cand[0] >= 0 and cand[-1] < len(text)), pattern
        missed = np.setdiff1d(want, cand)
        assert not missed.size, (pattern, [text[int(i)].as_py() for i in missed[:5]])
    lits = required_literals(pattern)
    if lits is not None:
        missed = np.setdiff1d(want, holding(text, lits))
        assert not missed.size, (pattern, lits, [text[int(i)].as_py() for i in missed[:5]])
    return cand


# --------------------------------------------------------------------------- named cases

#: (name, pattern, texts, the candidates expected, or None for every row)
CASES = [
    ("word start", r"\bnicorette", ["Nicorette gum", "xnicorette", "nicorettes", "nico rette"],
     [0, 2]),
    ("mid-word literal", r"nicorette", ["Nicorette gum", "xnicorette", "nicorettes", "nico"],
     [0, 1, 2]),
    ("uppercase literal", r"NICORETTE\b", ["nicorette", "NicoRette 2mg", "nicotine"], [0, 1]),
    ("no literal", r"\d+ct", ["12ct", "x"], None),
    ("branch without a literal", r"(nicotine|\d+)", ["nicotine", "4"], None),
    ("a short literal at a word start", r"\bmg\b", ["4 mg", "4mg", "mg", "omega"], [0, 2]),
    ("digits at a word start", r"\b\d+ ?pk\b", ["6 pk", "6pk", "pk", "x6pk"], [0, 1]),
    ("a short literal inside a word", r"\d+ct", ["12ct", "ct"], None),
    ("optional everything", r"(?:gum)?", ["gum", ""], None),
    ("escaped dot and dash", r"\be\.g\. foo\-bar", ["E.G. Foo-Bar", "eg foo bar", "foobar"],
     [0, 1]),
    ("separator before a run", r"baby (wipes|wash)", ["Baby Wipes", "babywipes", "baby-wash"],
     [0, 2]),
    ("tokens stop at the row's end", r"abcd", ["ab", "cd", "abcd"], [2]),
    ("start of text", r"^gum", [" gum", "gum", "xgum"], [0, 1]),
    ("non-ASCII letters end tokens", r"\bfoo", ["éfoo", "İfoo", "_foo", "xfoo"], [0, 1, 2]),
    ("accented class", "cr[eè]me", ["Crème", "creme", "cream"], [0, 1]),
    ("accented text", r"\bfra[iî]che\b", ["FRAÎCHE", "fraiche", "fresh"], [0, 1]),
    ("small class expanded", r"\bsaniti[sz]er", ["sanitizer", "SANITISER", "sanitiser"],
     [0, 1, 2]),
    ("kelvin sign folds to k", r"kit", [f"{KELVIN}it", "kit", "cat"], [0, 1]),
    ("long s folds to s", r"\bsun", [f"{LONG_S}un", "Sun", "fun"], [0, 1]),
    ("{,n} is text for RE2", r"ab{,2}c", ["ab{,2}c", "abbc"], None),
    ("posix class", r"[[:alpha:]]foo", ["xfoo", "foo"], None),
    ("any character joins a word", r".kit", ["akit", "kit", "a kit"], [0, 1, 2]),
    ("no word boundary", r"\Bkit", ["akit", "kit"], [0, 1]),
    ("a word character", r"\wkit", ["akit", "_kit", " kit"], [0, 1, 2]),
    ("an optional separator", r"a(?:-)?kit", ["akit", "a-kit", "kit", "skit"], [0, 1, 2]),
    ("a separator either way", r"a(?:-| )kit", ["a kit", "a-kit", "akit", "skit"], [0, 1]),
    ("all of two words", r"\bincontinence\b.*\bpants\b",
     ["incontinence pants", "pants", "incontinence"], [0]),
]


@pytest.mark.parametrize("name,pattern,texts,expected", CASES, ids=[c[0] for c in CASES])
def test_named_case(name, pattern, texts, expected):
    text = pa.array(texts)
    cand = assert_covers(TokenIndex(text), text, pattern)
    assert (None if cand is None else cand.tolist()) == expected


@pytest.mark.parametrize("pattern,literals", [
    (r"\bpregnancy tests?\b", ["pregnancy"]),
    (r"NICORETTE", ["nicorette"]),
    (r"\b(nappy|nappies)\b", ["nappy", "nappies"]),
    (r"colou?r", ["color", "colour"]),
    (r"\d+ct", None),
    (r"(nicotine|\d+)", None),
    (r"e\.? ?(&|and) ?j\.? gallo", ["gallo"]),
])
def test_required_literals(pattern, literals):
    got = required_literals(pattern)
    assert (None if got is None else sorted(got)) == (None if literals is None
                                                      else sorted(literals))


def test_word_starts_are_recorded():
    assert required_atoms(r"\bnicorette") == [Atom("nicorette", True)]
    assert required_atoms(r"xnicorette") == [Atom("xnicorette", False)]
    assert required_atoms(r"baby wipes$") == [Atom("wipes", True)]
    both = requirement(r"\bbaby\b.*\bwipes\b")
    assert isinstance(both, AllOf) and set(both.parts) == {Atom("baby", True),
                                                           Atom("wipes", True)}


def test_empty_array():
    index = TokenIndex(pa.array([], pa.string()))
    assert index.n_rows == 0 and len(index.tokens) == 0
    assert index.rows_for("gum").tolist() == []
    assert index.rows_for(r"\d") is None
    assert index.rows_for_any([]).tolist() == []


def test_nulls_and_junk_in_null_slots():
    text = pa.array([None, "Nicorette", None, "gum"])
    assert TokenIndex(text).rows_for("nicorette").tolist() == [1]
    # a null slot's bytes are undefined: here they spell a token
    offsets = np.array([0, 3, 12, 15], np.int32)
    junk = pa.StringArray.from_buffers(
        3, pa.py_buffer(offsets), pa.py_buffer(b"gumnicorettegum"),
        pa.py_buffer(np.packbits([1, 0, 1], bitorder="little")))
    assert TokenIndex(junk).rows_for("nicorette").tolist() == []
    assert TokenIndex(pa.array([None, None], pa.string())).rows_for("gum").tolist() == []


def test_chunks_slices_and_types():
    texts = ["x", "Nicorette gum", "", None, "nicorette", "gum", "y"]
    sliced = pa.array(texts).slice(1, 5)
    chunked = pa.chunked_array([sliced.slice(0, 0), sliced.slice(0, 2), sliced.slice(2, 0),
                                sliced.slice(2)])
    for text in (sliced, chunked, sliced.cast(pa.large_string()), sliced.cast(pa.string_view()),
                 pa.array(texts[1:6]).dictionary_encode()):
        index = TokenIndex(text)
        assert index.rows_for(r"\bnicorette\b").tolist() == [0, 3], text.type
        assert index.rows_for_any([r"\bgum", r"nicorette"]).tolist() == [0, 3, 4]
    with pytest.raises(InternalError, match="string array"):
        TokenIndex(pa.array([1, 2]))


def test_rows_for_any():
    text = pa.array(["nicotine gum", "nicorette", "4 mg", "tea"])
    index = TokenIndex(text)
    assert index.rows_for_any([r"\bnicorette", r"\bgum\b"]).tolist() == [0, 1]
    assert index.rows_for_any([r"\bnicorette", r"\d+"]) is None
    cand = index.rows_for_any((r"\bnicorette",))
    with pytest.raises(ValueError):
        cand[0] = 3  # the candidates are cached and shared: read-only


def test_wild_chars_are_what_re2_folds_onto_ascii():
    codes = [c for c in range(0x80, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    chars = pa.array([chr(c) for c in codes])
    hit = truth(chars, "[a-z0-9]")
    assert sorted(chr(codes[i]) for i in hit) == sorted(WILD_CHARS)


# --------------------------------------------------------------------------- hypothesis

WORDS = ["kit", "sun", "ask", "tusk", "sunk", "abc", "cab", "nappy", "ab", "2x", "10pk"]
SEPARATORS = [" ", "  ", "-", ".", "_", "é", "İ", "3", "\n", "/"]


def _variants(c: str) -> list[str]:
    """What RE2 matches for ``c`` case-insensitively (KELVIN SIGN for k, LONG S for s)."""
    return [c, c.upper()] + ([KELVIN] if c == "k" else []) + ([LONG_S] if c == "s" else [])


def _cased(word: str) -> st.SearchStrategy[str]:
    return st.tuples(*[st.sampled_from(_variants(c)) for c in word]).map("".join)


#: Leaves of the pattern grammar: a pattern and a strategy for a text it matches (in
#: the right context: a ``\b`` or ``^`` holds or not depending on what is around).
_ONE = st.sampled_from
LEAVES = [
    (r"\b", st.just("")), (r"\B", st.just("")), ("^", st.just("")), ("$", st.just("")),
    (r"\s+", _ONE([" ", "  ", "\n", "\t"])), (r"\s", _ONE([" ", "\t"])),
    (r".", _ONE(["a", "-", "_", "é", "1", KELVIN])), (r"\d", _ONE(["0", "7"])),
    (r"\d+", _ONE(["1", "42"])), ("[ab]", _ONE(["a", "B"])), ("[a-c]", _ONE(["b", "C"])),
    ("[^a]", _ONE(["b", "-", "é"])), ("[- ]", _ONE(["-", " "])),
    (r"\W", _ONE(["-", " ", "é", "İ", LONG_S])), (r"\w", _ONE(["a", "Z", "3", "_", KELVIN])),
    (r"\.", st.just(".")), (r"\-", st.just("-")), ("é", _ONE(["é", "É"])), (" ", st.just(" ")),
    ("-", st.just("-")), ("_", st.just("_")), ("[sz]", _ONE(["s", "Z", LONG_S])),
    ("[kx]", _ONE(["k", "X", KELVIN])), ("K", _ONE(["k", KELVIN])), ("ſ", _ONE(["s", "S"])),
]
texts = st.lists(st.one_of(st.sampled_from(WORDS).flatmap(_cased), _ONE(SEPARATORS)),
                 max_size=6).map("".join)


#: Node kinds, weighted: 0 a word, 1 a leaf, 2 a sequence, 3 a choice, 4-8 repeats.
_KINDS = (0, 0, 1, 2, 2, 2, 2, 3, 3, 4, 5, 6, 7, 8)


@st.composite
def pattern_and_text(draw, depth: int = 3) -> tuple[str, str]:
    """A random pattern of the grammar, and a text built to (nearly) match it."""
    kind = draw(st.sampled_from(_KINDS if depth else (0, 0, 1)))
    if kind == 0:  # a word, or part of one, in any case
        word = draw(st.sampled_from(WORDS))
        if draw(st.integers(0, 3)) == 0:
            lo = draw(st.integers(0, len(word) - 1))
            word = word[lo:draw(st.integers(lo + 1, len(word)))]
        return draw(_cased(word).filter(lambda w: KELVIN not in w and LONG_S not in w)), \
            draw(_cased(word))
    if kind == 1:
        pattern, text = draw(st.sampled_from(LEAVES))
        return pattern, draw(text)
    inner = pattern_and_text(depth - 1)
    if kind == 2:  # leaves between the parts: what a word start depends on
        parts = []
        for part in draw(st.lists(inner, min_size=1, max_size=3)):
            if draw(st.booleans()):
                pattern, text = draw(st.sampled_from(LEAVES))
                parts.append((pattern, draw(text)))
            parts.append(part)
        return "".join(p for p, _ in parts), "".join(t for _, t in parts)
    if kind == 3:
        parts = draw(st.lists(inner, min_size=2, max_size=3))
        group = draw(st.sampled_from(["(", "(?:"]))
        return group + "|".join(p for p, _ in parts) + ")", draw(st.sampled_from(parts))[1]
    pattern, text = draw(inner)
    lo, hi, suffix = {4: (0, 1, "?"), 5: (1, 2, "+"), 6: (0, 2, "*"), 7: (1, 2, "+?"),
                      8: (0, 0, None)}[kind]
    if suffix is None:
        lo = draw(st.integers(0, 2))
        hi = draw(st.integers(lo, 2))
        suffix = f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"
    return f"(?:{pattern}){suffix}", text * draw(st.integers(lo, hi))


@st.composite
def cases(draw) -> tuple[pa.Array | pa.ChunkedArray, list[str]]:
    """Patterns, and texts around what they match plus random ones, with nulls, as a
    slice of a longer array, in chunks (some empty)."""
    made = draw(st.lists(pattern_and_text(), min_size=1, max_size=6))
    values = [draw(texts) + t + draw(texts) for _, t in made]
    values += draw(st.lists(st.one_of(st.none(), texts), max_size=10))
    values = draw(st.permutations(values))
    arr = pa.array(["pad"] + values + ["pad"], pa.string()).slice(1, len(values))
    if draw(st.booleans()):
        cuts = sorted(draw(st.lists(st.integers(0, len(values)), max_size=4)))
        bounds = [0] + cuts + [len(values)]
        arr = pa.chunked_array([arr.slice(a, b - a) for a, b in zip(bounds, bounds[1:], strict=False)],
                               pa.string())
    return arr, [p for p, _ in made]


def _valid(pattern: str) -> bool:
    try:
        re.compile(pattern)
        pc.match_substring_regex(pa.array([""]), pattern, ignore_case=True)
    except (re.error, pa.ArrowInvalid):
        return False
    return True


@given(cases())
def test_candidates_cover_re2(case):
    text, pats = case
    pats = [p for p in pats if _valid(p)]
    assume(pats)
    index = TokenIndex(text)
    cands = [assert_covers(index, text, p) for p in pats]
    union = index.rows_for_any(pats)
    if any(c is None for c in cands):
        assert union is None
    else:
        assert union.tolist() == sorted(set().union(*(c.tolist() for c in cands)))


# --------------------------------------------------------------------------- real catalogs


def _read(name: str, column: str) -> pa.Array:
    path = DATASETS / name
    if not path.is_file():
        pytest.skip(f"real dataset not found at {path}")
    table = pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(include_columns=[column]))
    return table[column].combine_chunks()


@pytest.fixture(scope="module")
def vocabulary_patterns() -> list[str]:
    return [p for c in load_vocabulary().concepts for p in c.names]


@pytest.mark.parametrize("name,column,unique", [
    ("instacart_products.csv.gz", "product_name", False),
    ("online_retail.csv.gz", "Description", True),
])
def test_vocabulary_on_real_catalogs(vocabulary_patterns, name, column, unique):
    text = _read(name, column)
    text = pc.unique(text) if unique else pc.utf8_lower(text)
    index = TokenIndex(text)
    # the rows any pattern matches, in a few combined expressions; each pattern on those
    hit = np.zeros(len(text), bool)
    for i in range(0, len(vocabulary_patterns), 40):
        joined = "|".join(f"(?:{p})" for p in vocabulary_patterns[i:i + 40])
        hit[truth(text, joined)] = True
    some = np.flatnonzero(hit)
    some_text = text.take(pa.array(some))
    shares, missing = [], {}
    for p in vocabulary_patterns:
        cand = index.rows_for(p)
        if cand is None:
            shares.append(1.0)
            continue
        want = some[truth(some_text, p)]
        lost = np.setdiff1d(want, cand)
        if lost.size:
            missing[p] = [text[int(i)].as_py() for i in lost[:3]]
        shares.append(cand.size / len(text))
    assert not missing, missing
    # the prefilter keeps filtering (a regression guard, not a correctness rule)
    unfiltered = [p for p in vocabulary_patterns if requirement(p) is None]
    assert len(unfiltered) <= 0.05 * len(vocabulary_patterns), unfiltered
    assert np.mean(shares) < 0.05
