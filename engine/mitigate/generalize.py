"""Generalization of exported attributes until every member's class holds k.

Ladders
-------
A :class:`Ladder` labels each value of an attribute per level: level 0 is the
value, the top (``height``) maps all, null included, to ``"*"``; a null stays
null below the top. Levels nest: values merged at level j stay merged above.
A hierarchy file (:func:`load_ladders`) gives per value a coarser value or a
list of successively coarser ones (``"*"`` key: unlisted values; a last ``"*"``
level is implied, short lists are padded with it).

Otherwise :func:`infer_ladder` applies the first rule that fits the distinct
non-null values of the column among all customers:

1. **bands**: text values all numeric bands ``lo-hi``, ``lo+`` or ``<hi``:
   decimals with an optional currency sign (``£ $ €``) and unit (``k`` = 1e3,
   ``m`` = 1e6; in ``lo-hi`` a low bound without unit takes the high bound's,
   as in ``20-40k``). Sorted by (low, high), each level merges adjacent groups
   pairwise (1st+2nd, 3rd+4th, ...; an odd last one stays alone), labelled by
   their range in the common unit: ``18-24`` + ``25-34`` -> ``18-34``,
   ``55-64`` + ``65+`` -> ``55+``, ``<20k`` + ``20-40k`` -> ``<40k``.
2. **integers**: an integer column, or text values all ``0``-``99`` without
   leading zeros: sorted values merge pairwise per level the same way, labelled
   ``lo-hi`` (``lo`` for one value, ``lo..hi`` when negative).
3. **codes**: text values all of 1 to 10 ASCII letters and digits, with a digit
   (postcode districts ``EX2``, ``W1``; zips ``94110``): level j drops j
   trailing characters but keeps the first (``EX2`` -> ``EX`` -> ``E``, ``W1``
   -> ``W`` -> ``W``); values with the same label form a group.
4. anything else (marital status, gender, booleans, floats): level 0, then ``"*"``.

An inferred level leaving one group is replaced by the top; one merging nothing
new is dropped.

Loss
----
Iyengar's loss metric (LM): a non-null value generalized to a group covering
``g`` of the attribute's ``|A|`` distinct non-null values among all customers
loses ``(g - 1) / (|A| - 1)`` (0 when ``|A| <= 1``); ``"*"`` loses 1; a null
loses 0 below the top. The loss is the mean over members and attributes.

Search
------
:func:`generalize_to_k` starts at levels 0; each step raises by one the level of
the attribute whose step removes the most members-below-k per unit of added
loss (a free step ranks above all costly ones, by its gain; ties: smaller added
loss, then attribute order), among steps keeping the loss within ``max_loss``;
it stops when no member is below k, no step is allowed, or not even all levels
at the top would lower the count. A step only merges classes, so the search
rolls up distinct tuples (with customer and member counts), not customers.
Classes are never larger in the segment than among all customers, so scope
``"both"`` holds exactly when ``"segment"`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.toml import read_toml
from basketguard.engine.errors import ConfigError, DataError, SchemaError
from basketguard.engine.io import columns as colconv
from basketguard.engine.reid.attributes import encode_attributes, member_rows
from basketguard.kernels.classes import classify

TOP = "*"
SCOPES = ("segment", "population", "both")


def _key(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


# ------------------------------------------------------------------ ladders
@dataclass(frozen=True)
class Ladder:
    """Generalization levels of one attribute.

    ``chains`` maps a value (text form) to its labels at levels 1 .. ``height``,
    ending in ``"*"``; ``default`` is the chain of unlisted values (a file's
    ``"*"`` key); ``rule`` is ``hierarchy`` (a file) or the inference rule
    (``bands``, ``integers``, ``codes``, ``other``); ``origin`` names the file in
    messages. Construction raises :class:`ConfigError` (naming origin, attribute
    and values) for chains of different lengths, a label after ``"*"``, or
    levels that do not nest.
    """

    attribute: str
    chains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default: tuple[str, ...] | None = None
    rule: str = "hierarchy"
    origin: str = "hierarchies"

    def __post_init__(self) -> None:
        where = f"{self.origin}: hierarchy {self.attribute!r}"
        items = list(self.chains.items()) + ([(TOP, self.default)] if self.default else [])
        for value, chain in items:
            if len(chain) != self.height or set(chain[chain.index(TOP):] if TOP in chain
                                                else "") != {TOP}:
                raise ConfigError(f"{where}: value {value!r} has levels {list(chain)}; every "
                                  f"value needs {self.height} level(s), all \"*\" from the "
                                  f"first \"*\" (the top).")
        for j in range(self.height - 1):
            up: dict[str, tuple[str, str]] = {}
            for value, chain in items:
                first, above = up.setdefault(chain[j], (value, chain[j + 1]))
                if above != chain[j + 1]:
                    raise ConfigError(
                        f"{where}: values {first!r} and {value!r} are merged at level {j + 1} "
                        f"({chain[j]!r}) but split at level {j + 2} ({above!r} vs "
                        f"{chain[j + 1]!r}); a group may only grow at higher levels: give "
                        f"them the same value at level {j + 2}.")

    @property
    def height(self) -> int:
        """The top level (every value ``"*"``); levels are ``0 .. height``."""
        return len(next(iter(self.chains.values()), self.default or (TOP,)))

    def label(self, value: Any, level: int) -> Any:
        """Exported ``value`` at ``level``: itself at 0, a label above (null stays None), "*"."""
        if not 0 <= level <= self.height:
            raise ValueError(f"level {level} outside 0..{self.height}")
        if level == self.height:
            return TOP
        if level == 0 or value is None:
            return value
        chain = self.chains.get(_key(value), self.default)
        if chain is None:
            self.check_covers([value])
        return chain[level - 1]

    def check_covers(self, values: Sequence[Any]) -> None:
        """Raise :class:`ConfigError` naming the values the ladder does not cover."""
        missing = [] if self.default else [
            _key(v) for v in values if v is not None and _key(v) not in self.chains]
        if missing:
            raise ConfigError(
                f"{self.origin}: hierarchy {self.attribute!r} does not cover value "
                f"{missing[0]!r} ({len(missing)} value(s) uncovered: "
                f"{', '.join(repr(v) for v in missing[:5])}); add them to "
                f"[hierarchies.{self.attribute}] or a \"*\" entry.")


def _chain(spec: Any, where: str, attr: str, value: str) -> tuple[str, ...]:
    scalar = str | int | float | bool
    spec = [spec] if isinstance(spec, scalar) else spec
    if not isinstance(spec, list) or not spec or not all(isinstance(s, scalar) for s in spec):
        raise ConfigError(f"{where}: hierarchy {attr!r}, value {value!r}: give a coarser value "
                          f"or a non-empty list of successively coarser values, not {spec!r}.")
    chain = tuple(str(s) for s in spec)
    return chain if chain[-1] == TOP else (*chain, TOP)


def load_ladders(source: str | Path | Mapping[str, Any]) -> dict[str, Ladder]:
    """Read generalization ladders from a TOML hierarchy file or a mapping.

    Parameters
    ----------
    source : path or mapping
        ``{attribute: {value: coarser value or [level 1, level 2, ...]}}``,
        maybe under a top-level ``hierarchies`` table; in TOML::

            [hierarchies.age_band]
            "18-24" = ["18-34", "18-54", "*"]
            "25-34" = ["18-34", "18-54"]
            "*" = ["35+", "35+"]

    Returns
    -------
    dict
        Attribute -> :class:`Ladder`.

    Raises
    ------
    ConfigError
        Unreadable file, a hierarchy not a table, a bad entry, levels that do not nest.
    """
    where, data = "hierarchies", source
    if isinstance(source, str | Path):
        where, data = str(source), read_toml(source, "hierarchies file")
    if isinstance(data.get("hierarchies"), Mapping):
        data = data["hierarchies"]
    out: dict[str, Ladder] = {}
    for attr, table in data.items():
        if not isinstance(table, Mapping) or not table:
            raise ConfigError(
                f"{where}: hierarchy {attr!r} must be a non-empty table of value = \"coarser "
                f"value\" or value = [\"level 1\", \"level 2\", ...] entries under "
                f"[hierarchies.{attr}], not {table!r}.")
        chains = {str(v): _chain(s, where, str(attr), str(v)) for v, s in table.items()}
        height = max(len(c) for c in chains.values())
        chains = {v: c + (TOP,) * (height - len(c)) for v, c in chains.items()}
        out[str(attr)] = Ladder(str(attr), chains, chains.pop(TOP, None), "hierarchy", where)
    return out


_NUM, _CUR, _UNIT = r"(\d+(?:\.\d+)?)", r"([£$€]?)", r"([kKmM]?)"
_CLOSED = re.compile(rf"{_CUR}{_NUM}{_UNIT}\s*[-–]\s*[£$€]?{_NUM}{_UNIT}")
_ABOVE = re.compile(rf"{_CUR}{_NUM}{_UNIT}\s*\+")
_BELOW = re.compile(rf"<\s*{_CUR}{_NUM}{_UNIT}")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6}
_CODE = re.compile(r"(?=.*[0-9])[A-Za-z0-9]{1,10}")
_SMALL_INT = re.compile(r"0|[1-9][0-9]?")


def _band(text: str) -> tuple[float, float, str, str] | None:
    """``(lo, hi, currency, unit)`` of a band (lo = -inf for ``<hi``, hi = inf for ``lo+``)."""
    x = lambda num, unit: float(num) * _SCALE[unit.lower()]  # noqa: E731
    if m := _CLOSED.fullmatch(text):
        return x(m[2], m[3] or m[5]), x(m[4], m[5]), m[1], m[5]
    if m := _ABOVE.fullmatch(text):
        return x(m[2], m[3]), np.inf, m[1], m[3]
    if m := _BELOW.fullmatch(text):
        return -np.inf, x(m[2], m[3]), m[1], m[3]
    return None


def _pairwise(keys: list[str], label: Any) -> list[dict[str, str]]:
    """Levels merging adjacent groups of the ordered ``keys`` pairwise, ``label(group)``."""
    groups, levels = [[k] for k in keys], []
    while len(groups) > 2:
        groups = [sum(groups[i:i + 2], []) for i in range(0, len(groups), 2)]
        levels.append({k: label(g) for g in groups for k in g})
    return levels


def _band_levels(keys: list[str], bands: list) -> list[dict[str, str]]:
    of = dict(zip(keys, bands, strict=True))
    cur = bands[0][2] if len({b[2] for b in bands}) == 1 else ""
    unit = bands[0][3] if len({b[3].lower() for b in bands}) == 1 else ""
    num = lambda x: colconv.plain_number(x / _SCALE[unit.lower()])  # noqa: E731

    def label(group: list[str]) -> str:
        lo, hi = of[group[0]][0], max(of[k][1] for k in group)
        if lo == -np.inf:
            return f"<{cur}{num(hi)}{unit}"
        return f"{cur}{num(lo)}{unit}+" if hi == np.inf else f"{cur}{num(lo)}-{num(hi)}{unit}"

    return _pairwise(sorted(keys, key=lambda k: of[k][:2]), label)


def _int_label(group: list[str]) -> str:
    lo, hi = int(group[0]), int(group[-1])
    return str(lo) if lo == hi else f"{lo}{'..' if lo < 0 or hi < 0 else '-'}{hi}"


def _infer(name: str, dtype: pa.DataType, values: Sequence[Any]) -> Ladder:
    keys = list(dict.fromkeys(_key(v) for v in values if v is not None))
    text = pa.types.is_string(dtype) or pa.types.is_large_string(dtype)
    bands = [_band(k) for k in keys] if text else [None]
    rule, levels = "other", []
    if keys and all(b is not None for b in bands):
        rule, levels = "bands", _band_levels(keys, bands)
    elif keys and (pa.types.is_integer(dtype)
                   or (text and all(_SMALL_INT.fullmatch(k) for k in keys))):
        rule, levels = "integers", _pairwise(sorted(keys, key=int), _int_label)
    elif keys and text and all(_CODE.fullmatch(k) for k in keys):
        rule = "codes"
        levels = [{k: k[:max(len(k) - j, 1)] for k in keys}
                  for j in range(1, max(map(len, keys)))]
    kept, groups = [], len(keys)  # drop levels that merge nothing; stop before one group
    for level in levels:
        if (n := len(set(level.values()))) < groups:
            kept, groups = kept + [level] * (n > 1), n
    chains = {k: (*(level[k] for level in kept), TOP) for k in keys}
    return Ladder(name, chains, None, rule, "inferred")


def infer_ladder(column: pa.Array | pa.ChunkedArray, name: str) -> Ladder:
    """Infer a ladder from a column's values (rules in the module docstring).

    Parameters
    ----------
    column : pyarrow.Array or ChunkedArray
        The attribute over all customers.
    name : str

    Returns
    -------
    Ladder
    """
    arr = colconv.as_array(column)
    return _infer(name, arr.type, pc.unique(arr).to_pylist())


# ----------------------------------------------------------------- encoding
class _Attr(NamedTuple):
    """Levels as code maps: ``maps[l][c]`` is the level-l group of level-0 code ``c``."""

    ladder: Ladder
    values: tuple  # level-0 value of each code (None for null)
    maps: tuple[np.ndarray, ...]
    cards: tuple[int, ...]
    loss: tuple[np.ndarray, ...]  # LM numerator of each group, over ``den``
    den: int


def _bind(ladder: Ladder, values: tuple) -> _Attr:
    ladder.check_covers(values)
    den = max(sum(v is not None for v in values) - 1, 1)
    valid = np.array([v is not None for v in values], bool)
    maps, cards, loss = [np.arange(len(values), dtype=np.int32)], [len(values)], [np.zeros(
        len(values), np.int64)]
    for level in range(1, ladder.height):
        index: dict[Any, int] = {}
        codes = np.array([index.setdefault(ladder.label(v, level), len(index)) for v in values],
                         np.int32)
        g, labels = np.bincount(codes[valid], minlength=len(index)), list(index)
        num = np.where([lab == TOP for lab in labels], den, np.maximum(g - 1, 0))
        maps.append(codes)
        cards.append(len(index))
        loss.append(np.where([lab is None for lab in labels], 0, num).astype(np.int64))
    maps.append(np.zeros(len(values), np.int32))
    return _Attr(ladder, values, tuple(maps), (*cards, 1),
                 (*loss, np.array([den], np.int64)), den)


class _Work(NamedTuple):
    """Classes: level-0 codes of one tuple in each, customers and members in each."""

    codes: tuple[np.ndarray, ...]
    pop: np.ndarray
    mem: np.ndarray


def _roll_up(work: _Work, attrs: Sequence[_Attr], levels: Sequence[int]) -> _Work:
    """Merge the classes of ``work`` into those of ``levels`` (nesting above them)."""
    cols = [a.maps[lv][c] for a, lv, c in zip(attrs, levels, work.codes, strict=True)]
    cl = classify(cols, [a.cards[lv] for a, lv in zip(attrs, levels, strict=True)],
                  n=len(work.pop))
    rep = np.empty(cl.n_classes, np.int64)
    rep[cl.class_of] = np.arange(cl.class_of.shape[0])  # any tuple of a class stands for it
    pop = np.bincount(cl.class_of, work.pop, cl.n_classes).round().astype(np.int64)
    mem = np.bincount(cl.class_of, work.mem, cl.n_classes).round().astype(np.int64)  # < 2**53
    return _Work(tuple(c[rep] for c in work.codes), pop, mem)


def _below(work: _Work, k: int, scope: str) -> int:
    small = {"segment": work.mem < k, "population": work.pop < k,
             "both": (work.mem < k) | (work.pop < k)}[scope]
    return int(work.mem[small].sum())


class _Problem(NamedTuple):
    attrs: tuple[_Attr, ...]
    base: _Work  # distinct level-0 tuples of all customers
    members: int
    customers: int
    loss_num: tuple[tuple[int, ...], ...]  # per attribute and level: sum over members

    def attr_loss(self, levels: Sequence[int]) -> list[Fraction]:
        return [Fraction(self.loss_num[j][lv], self.members * a.den)
                for j, (a, lv) in enumerate(zip(self.attrs, levels, strict=True))]

    def loss(self, levels: Sequence[int]) -> Fraction:
        return sum(self.attr_loss(levels), Fraction(0)) / len(self.attrs)


def _rows(customers: pa.Table, members: Any) -> np.ndarray:
    if isinstance(members, np.ndarray) and members.dtype.kind in "iu":
        rows = np.unique(members.astype(np.int64).ravel())
        if rows.size and (rows[0] < 0 or rows[-1] >= customers.num_rows):
            raise DataError(f"member rows must lie in 0..{customers.num_rows - 1} (rows of the "
                            f"customers table); got {rows[0]}..{rows[-1]}.")
        return rows
    for t in (members, customers):
        if isinstance(t, pa.Table) and "customer" not in t.column_names:
            raise SchemaError(f"the {'segment' if t is members else 'customers'} table has no "
                              "`customer` column to match members by id (or give member rows "
                              "as an integer numpy array).")
    members = members.column("customer") if isinstance(members, pa.Table) else members
    ids = members if isinstance(members, pa.Array | pa.ChunkedArray) else pa.array(list(members))
    return member_rows(customers.column("customer"), ids) if len(ids) else np.empty(0, np.int64)


def _prepare(customers: pa.Table, members: Any, attributes: Sequence[str] | None, k: int,
             scope: str, ladders: Any, max_loss: float | None) -> _Problem:
    for bad, msg in ((int(k) != k or k < 1, f"k must be an integer >= 1, got {k!r}"),
                     (scope not in SCOPES, f"scope must be one of {SCOPES}, got {scope!r}"),
                     (max_loss is not None and not 0 <= float(max_loss) <= 1,
                      f"max_loss must lie in [0, 1], got {max_loss!r}")):
        if bad:
            raise ConfigError(msg + ".")
    rows = _rows(customers, members)
    if rows.size == 0:
        raise DataError("the segment is empty: there is nobody to export. Check the segment "
                        "source and its filter.")
    codes = encode_attributes(customers, attributes)
    if not codes.names:
        raise ConfigError("no exported attributes to generalize; name at least one.")
    if isinstance(ladders, str | Path) or (ladders and not all(
            isinstance(v, Ladder) for v in ladders.values())):
        ladders = load_ladders(ladders)
    ladders = dict(ladders or {})
    if extra := [a for a in ladders if a not in codes.names]:
        raise ConfigError(f"hierarchy given for {extra[0]!r}, which is not an exported "
                          f"attribute; exported: {', '.join(codes.names)}.")
    attrs = []
    for name, labels in zip(codes.names, codes.labels, strict=True):
        dtype = customers.schema.field(name).type
        dtype = dtype.value_type if pa.types.is_dictionary(dtype) else dtype
        attrs.append(_bind(ladders.get(name) or _infer(name, dtype, labels), labels))
    n = customers.num_rows
    base = _roll_up(_Work(codes.codes, np.ones(n, np.int64), np.bincount(rows, minlength=n)),
                    attrs, [0] * len(attrs))
    loss_num = []
    for a, c in zip(attrs, codes.codes, strict=True):
        counts = np.bincount(c[rows], minlength=a.cards[0])
        loss_num.append(tuple(int(counts @ a.loss[lv][a.maps[lv]])
                              for lv in range(a.ladder.height + 1)))
    return _Problem(tuple(attrs), base, int(rows.size), n, tuple(loss_num))


# ------------------------------------------------------------------ results
class Step(NamedTuple):
    """One greedy step: ``attribute`` raised to ``level``; members below k and loss after."""

    attribute: str
    level: int
    below_k: int
    loss: float


@dataclass(frozen=True)
class GeneralizationResult:
    """Generalization levels of the exported attributes, and what they achieve.

    Per attribute: ``levels``, top level ``heights``, ladder ``rules``, ``mappings``
    (value as text -> exported value, every non-null value among all customers).
    ``below_k``: members still in a class below k in ``scope`` (to suppress);
    ``min_segment`` / ``min_population``: smallest class of a member within the
    segment / among all customers; ``loss`` (LM) and ``attribute_loss``;
    ``stopped``: ``k_reached``, ``max_loss`` (no step within it) or
    ``unreachable`` (all levels at the top would not lower ``below_k``).
    """

    attributes: tuple[str, ...]
    levels: tuple[int, ...]
    heights: tuple[int, ...]
    rules: tuple[str, ...]
    mappings: dict[str, dict[str, str]]
    k: int
    scope: str
    members: int
    customers: int
    below_k: int
    min_segment: int
    min_population: int
    loss: float
    attribute_loss: tuple[float, ...]
    steps: tuple[Step, ...]
    stopped: str
    max_loss: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe aggregates (no customer ids, no NaN)."""
        by = lambda xs: dict(zip(self.attributes, xs, strict=True))  # noqa: E731
        return {"attributes": list(self.attributes), "k": self.k, "scope": self.scope,
                "members": self.members, "customers": self.customers, "levels": by(self.levels),
                "heights": by(self.heights), "rules": by(self.rules),
                "mappings": {a: dict(m) for a, m in self.mappings.items()},
                "below_k": self.below_k, "min_class_size": {
                    "segment": self.min_segment, "population": self.min_population},
                "loss": self.loss, "attribute_loss": by(self.attribute_loss),
                "max_loss": self.max_loss, "stopped": self.stopped,
                "steps": [s._asdict() for s in self.steps]}


def generalize_to_k(customers: pa.Table, members: Any, attributes: Sequence[str] | None,
                    k: int, scope: str = "both", ladders: Any = None,
                    max_loss: float | None = None) -> GeneralizationResult:
    """Greedily generalize exported attributes until no member is in a class below k.

    Parameters
    ----------
    customers : pyarrow.Table
        Every customer's attributes (and ``customer`` ids if members are ids).
    members : numpy.ndarray of int, or ids
        An integer numpy array is rows of ``customers``; anything else (pyarrow
        array, table with ``customer``, sequence) customer ids; repeats count once.
    attributes : sequence of str or None
        The exported attributes (None: every column but ``customer``).
    k : int
        Smallest acceptable class size.
    scope : {"both", "segment", "population"}
        Classes within the segment (k-anonymity), among all customers (k-map), both.
    ladders : mapping or path, optional
        Attribute -> :class:`Ladder`, or hierarchies for :func:`load_ladders`;
        other attributes get :func:`infer_ladder`.
    max_loss : float, optional
        Largest acceptable LM loss.

    Returns
    -------
    GeneralizationResult

    Raises
    ------
    ConfigError, DataError
        Bad k, scope, max_loss, attributes or hierarchies; an empty segment,
        member rows out of range, unknown member ids.
    """
    prob = _prepare(customers, members, attributes, k, scope, ladders, max_loss)
    k, work, search = int(k), prob.base, scope
    if scope != "population":  # within the segment only the members' tuples count
        keep, search = work.mem > 0, "segment"
        work = _Work(tuple(c[keep] for c in work.codes), work.pop[keep], work.mem[keep])
    # all levels at the top: each member's class is the segment / all customers
    top_below = prob.members if (prob.customers, prob.members)[search == "segment"] < k else 0
    levels, loss, below, steps = [0] * len(prob.attrs), Fraction(0), _below(work, k, search), []
    stopped = "k_reached"
    while below > 0:
        if below <= top_below:
            stopped = "unreachable"
            break
        best = None
        for j, a in enumerate(prob.attrs):
            if levels[j] == a.ladder.height:
                continue
            nxt = levels[:j] + [levels[j] + 1] + levels[j + 1:]
            added = prob.loss(nxt) - loss
            if max_loss is not None and loss + added > max_loss:
                continue
            cand = _roll_up(work, prob.attrs, nxt)
            gain = below - _below(cand, k, search)
            score = ((1, Fraction(gain)) if gain else (0, Fraction(0))) if added == 0 else (
                0, gain / added)
            if best is None or (*score, -added, -j) > best[0]:
                best = ((*score, -added, -j), j, nxt, cand, below - gain, loss + added)
        if best is None:  # every step left would pass max_loss
            stopped = "max_loss"
            break
        _, j, levels, work, below, loss = best
        steps.append(Step(prob.attrs[j].ladder.attribute, levels[j], below, float(loss)))
    work = work if search == scope == "population" else _roll_up(prob.base, prob.attrs, levels)
    present, attrs = work.mem > 0, prob.attrs
    return GeneralizationResult(
        tuple(a.ladder.attribute for a in attrs), tuple(levels),
        tuple(a.ladder.height for a in attrs), tuple(a.ladder.rule for a in attrs),
        {a.ladder.attribute: {_key(v): _key(a.ladder.label(v, lv)) for v in a.values
                              if v is not None} for a, lv in zip(attrs, levels, strict=True)},
        k, scope, prob.members, prob.customers, _below(work, k, scope),
        int(work.mem[present].min()), int(work.pop[present].min()), float(loss),
        tuple(float(x) for x in prob.attr_loss(levels)), tuple(steps), stopped,
        None if max_loss is None else float(max_loss))


def apply_generalization(customers: pa.Table, result: GeneralizationResult,
                         rows: np.ndarray | None = None) -> pa.Table:
    """The exported (generalized) attribute columns of some customers.

    Parameters
    ----------
    customers : pyarrow.Table
        The generalized customers table.
    result : GeneralizationResult
    rows : numpy.ndarray of int64, optional
        Rows to export, in this order (default: all).

    Returns
    -------
    pyarrow.Table
        One column per attribute: unchanged at level 0, text labels above
        (nulls stay null), ``"*"`` at the top.

    Raises
    ------
    SchemaError, DataError
        A missing attribute column; a value the mapping does not know.
    """
    table = customers if rows is None else customers.take(pa.array(np.asarray(rows, np.int64)))
    cols = {}
    for name, level, height in zip(result.attributes, result.levels, result.heights,
                                   strict=True):
        if name not in table.column_names:
            raise SchemaError(f"the customers table has no column {name!r} to export.")
        col = colconv.as_array(table.column(name))
        if level == 0:
            cols[name] = col
            continue
        enc, mapping = pc.dictionary_encode(col), result.mappings[name]
        values = [_key(v) for v in enc.dictionary.to_pylist()]
        if level < height and (missing := [v for v in values if v not in mapping]):
            raise DataError(f"attribute {name!r}: value {missing[0]!r} is not in the "
                            "generalization's mapping; export rows of the customers table "
                            "that was generalized.")
        labels = [TOP if level == height else mapping[v] for v in values]
        out = pa.array(labels, pa.string()).take(enc.indices)
        cols[name] = out.fill_null(TOP) if level == height else out
    return pa.table(cols)
