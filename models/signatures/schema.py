"""Signatures: declarative detectors of sensitive inferences, shipped as TOML files.

A signature says which products, bought together within a time window,
reveal a sensitive life event or special category, and how strongly. Its file
holds (``models/signatures/library/pregnancy.toml`` is the annotated example)::

    name = "pregnancy"                  # unique in a library; [a-z0-9_]
    title = "Pregnancy and due date"
    sensitivity = "reproductive"        # see SENSITIVITIES
    gdpr_art9 = "health"                # see GDPR_ART9 ("none" when Art. 9 does not apply)
    window_days = 280                   # features count when bought within this many days
    threshold = 0.5                     # probability from which a customer is "flagged"
    event = "due date"                  # optional: what stage offsets estimate
    min_stage_features = 2              # stage features needed for an event-date estimate
    rationale = "..."                   # why these products reveal the inference
    sources = ["Duhigg (2012) ..."]     # where the rationale comes from

    [link]                              # P = 1 / (1 + exp(-(intercept + slope * score)))
    intercept = -6.0                    # within [-50, 50]
    slope = 1.5                         # within [0.001, 100]
    calibrated_on = "..."               # optional: what the link was fitted on

    [[feature]]
    name = "prenatal_vitamins"
    weight = 2.0                        # |weight| in [0.001, 100]; negative: counter-evidence
    concepts = ["prenatal_vitamins"]    # product concepts (models/vocabulary): member of any
    with = ["kosher"]                   # ... and of every one of these (optional)
    fallback = false                    # true: only items no other feature of the signature matches
    levels = { type = ["Prenatal Vitamins"] }   # taxonomy level -> values (case-insensitive)
    names = ["prenatal"]                # case-insensitive regular expressions on the name text
    exclude = ["cat food"]              # names matching any of these never match
    items = [1234]                      # explicit item ids (always match)
    absent_days = 90                    # optional: an absence feature (bought in the window,
                                        #   none in the last 90 days); positive weight, < window
    stage_day = -238                    # optional: typical first purchase, days from the event
    stage_spread = 14                   # optional: its typical error in days
    larger_than_usual = 1.5             # optional, in (1, 1000]: only lines with quantity >= 1.5 x the
    baseline_level = "type"             #   customer's usual quantity in this level's value

    [[stage]]                           # optional: named phases around the event date
    name = "second trimester"
    start = -189                        # days from the event date, [start, end)
    end = -98

An item matches a feature when it is listed in ``items``, or when it matches
every given criterion: ``concepts`` (a member of one), ``with`` (a member of
each), each taxonomy level in ``levels`` (its value is one of the listed
values) and ``names`` (one pattern matches the name text), and no ``exclude``
pattern. The score at a day sums the weights of the features present then: a
presence feature when bought in the window, an absence feature when its last
purchase lies in the window but not in its last ``absent_days`` days
(:mod:`basketguard.kernels.windows`). Matching against a catalog happens in
:mod:`basketguard.engine.detect.compile`; this module only loads and validates.

Every mistake raises :class:`~basketguard.engine.errors.ConfigError` naming the
file and the key.

Numbers are bounded (:data:`INTERCEPT_MAX`, :data:`SLOPE_RANGE`,
:data:`WEIGHT_RANGE`, :data:`RATIO_MAX`) so that every score, probability and
score threshold a valid signature gives is a finite number: a score is at most
``MAX_FEATURES * WEIGHT_RANGE[1]``, the exponent of the link at most
``INTERCEPT_MAX`` (no overflow), and the score threshold at most
``(logit(threshold) + INTERCEPT_MAX) / SLOPE_RANGE[0]``. The ranges are far
wider than any fitted link or hand-set weight needs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from basketguard.engine.config.toml import did_you_mean, read_toml
from basketguard.engine.errors import ConfigError
from basketguard.models.detector import GDPR_ART9, NAME_PATTERN, SENSITIVITIES
from basketguard.models.tomlfields import Reader as _Reader
from basketguard.models.tomlfields import patterns as _patterns
from basketguard.models.tomlfields import toml_files

#: Largest number of features in one signature (the kernel keeps them in a 64-bit mask).
MAX_FEATURES = 64
#: Longest window the kernel accepts (ten years).
MAX_WINDOW = 3650
#: Largest ``|link.intercept|``: the probability at score 0 lies in [2e-22, 1 - 2e-22].
INTERCEPT_MAX = 50.0
#: Smallest and largest ``link.slope``.
SLOPE_RANGE = (1e-3, 100.0)
#: Smallest and largest feature ``weight``.
WEIGHT_RANGE = (1e-3, 100.0)
#: Largest ``larger_than_usual`` ratio (it must exceed 1).
RATIO_MAX = 1000.0

_TOP_KEYS = ("name", "title", "sensitivity", "gdpr_art9", "window_days", "threshold", "event",
             "min_stage_features", "rationale", "sources", "link", "feature", "stage")
_LINK_KEYS = ("intercept", "slope", "calibrated_on")
_FEATURE_KEYS = ("name", "weight", "concepts", "with", "fallback", "levels", "names", "exclude",
                 "items", "absent_days", "stage_day", "stage_spread", "larger_than_usual",
                 "baseline_level")
_STAGE_KEYS = ("name", "start", "end")

#: Folder of the built-in library.
BUILTIN_DIR = Path(__file__).resolve().parent / "library"


@dataclass(frozen=True)
class Feature:
    """One product group of a signature (see the module docstring)."""

    name: str
    weight: float
    levels: tuple[tuple[str, tuple[str, ...]], ...] = ()
    names: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    items: tuple[int | str, ...] = ()
    stage_day: int | None = None
    stage_spread: int = 14
    larger_than_usual: float | None = None
    baseline_level: str | None = None
    concepts: tuple[str, ...] = ()
    with_concepts: tuple[str, ...] = ()
    fallback: bool = False
    absent_days: int = 0

    @property
    def is_absence(self) -> bool:
        """An absence feature: evidence when purchases stop (see the module docstring)."""
        return self.absent_days > 0

    @property
    def uses_concepts(self) -> bool:
        return bool(self.concepts or self.with_concepts)


@dataclass(frozen=True)
class Stage:
    """A named phase ``[start, end)`` in days relative to the event date."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Link:
    """Logistic link from score to probability."""

    intercept: float
    slope: float
    calibrated_on: str = ""

    def probability(self, score):
        """``1 / (1 + exp(-(intercept + slope * score)))`` (works on arrays)."""
        import numpy as np

        return 1.0 / (1.0 + np.exp(-(self.intercept + self.slope * np.asarray(score, float))))

    def score_for(self, probability: float) -> float:
        """Smallest score whose probability is at least ``probability``."""
        logit = math.log(probability / (1.0 - probability))
        return (logit - self.intercept) / self.slope


@dataclass(frozen=True)
class Signature:
    """A loaded, validated signature: a :class:`~basketguard.models.detector.Detector`."""

    kind: ClassVar[str] = "signature"

    name: str
    title: str
    sensitivity: str
    gdpr_art9: str
    window_days: int
    threshold: float
    link: Link
    features: tuple[Feature, ...]
    stages: tuple[Stage, ...] = ()
    event: str | None = None
    min_stage_features: int = 2
    rationale: str = ""
    sources: tuple[str, ...] = ()
    path: Path | None = None
    builtin: bool = False  # from the built-in library: its level names are not the user's

    @property
    def has_stages(self) -> bool:
        """Whether the signature can estimate an event date."""
        return any(f.stage_day is not None for f in self.features)

    @property
    def score_threshold(self) -> float:
        """The score from which the probability reaches :attr:`threshold`."""
        return self.link.score_for(self.threshold)

    def probability(self, score):
        """Probability of a score (array or number) through the signature's link."""
        return self.link.probability(score)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description (for ``basketguard signatures``)."""
        return {
            "name": self.name, "title": self.title, "sensitivity": self.sensitivity,
            "gdpr_art9": self.gdpr_art9, "window_days": self.window_days,
            "threshold": self.threshold, "features": [f.name for f in self.features],
            "event": self.event, "stages": [s.name for s in self.stages],
            "source_file": str(self.path) if self.path else None,
        }


def _feature(origin: str, table: Any, index: int, window: int | None) -> Feature:
    r = _Reader(origin, table, f"feature[{index}].", _FEATURE_KEYS)
    name = r.text("name", required=True)
    if not NAME_PATTERN.match(name):
        r.fail("name", f"must be lower-case letters, digits and '_', not {name!r}")
    r.where = f"feature {name!r} "
    weight = r.number("weight", required=True, low=-WEIGHT_RANGE[1], high=WEIGHT_RANGE[1])
    if abs(weight) < WEIGHT_RANGE[0]:
        r.fail("weight", f"must be at least {WEIGHT_RANGE[0]:g} away from 0 (positive: "
                         f"evidence for, negative: evidence against), not {weight:g}")
    concepts = r.strings("concepts")
    with_concepts = r.strings("with")
    for key, vals in (("concepts", concepts), ("with", with_concepts)):
        for i, v in enumerate(vals):
            if not NAME_PATTERN.match(v):
                r.fail(f"{key}[{i}]", f"must be a concept name (lower-case letters, digits "
                                      f"and '_'), not {v!r}")
    if with_concepts and not (concepts or r.has("levels") or r.has("names")):
        r.fail("with", "qualifies other criteria: give concepts (or levels or names) too")
    fallback = False
    if r.has("fallback"):
        fallback = r.table["fallback"]
        if not isinstance(fallback, bool):
            r.fail("fallback", f"must be true or false, not {fallback!r}")
    levels: list[tuple[str, tuple[str, ...]]] = []
    if r.has("levels"):
        lv = r.table["levels"]
        if not isinstance(lv, Mapping) or not lv:
            r.fail("levels", "must be a non-empty table of level = [values]")
        sub = _Reader(origin, lv, f"feature {name!r} levels.", tuple(lv))
        for level in lv:
            if not level.strip():
                sub.fail(repr(level), "is an empty level name")
            values = sub.strings(level)
            if not values:
                sub.fail(level, "has no values")
            levels.append((level, tuple(v.strip() for v in values)))
    names = _patterns(r, "names")
    exclude = _patterns(r, "exclude")
    items: tuple[int | str, ...] = ()
    if r.has("items"):
        raw = r.table["items"]
        if not isinstance(raw, list) or not all(
                isinstance(v, int | str) and not isinstance(v, bool) for v in raw):
            r.fail("items", f"must be a list of item ids (integers or strings), not {raw!r}")
        if len({isinstance(v, int) for v in raw}) > 1:
            r.fail("items", f"mixes integer and text ids ({raw!r}); item ids of one data set "
                            "are all integers or all text")
        items = tuple(raw)
    if not (levels or names or items or concepts):
        r.fail("", "matches nothing: give concepts, levels, names or items")
    stage_day = r.integer("stage_day", low=-MAX_WINDOW, high=MAX_WINDOW)
    spread = r.integer("stage_spread", 14, low=1, high=MAX_WINDOW)
    if r.has("stage_spread") and stage_day is None:
        r.fail("stage_spread", "needs stage_day")
    ratio = r.number("larger_than_usual", low=1.0, low_open=True, high=RATIO_MAX)
    baseline = r.text("baseline_level")
    if baseline is not None and ratio is None:
        r.fail("baseline_level", "needs larger_than_usual")
    absent = r.integer("absent_days", 0, low=1, high=MAX_WINDOW) if r.has("absent_days") else 0
    if absent:
        if window is not None and absent >= window:
            r.fail("absent_days", f"must be shorter than the window ({window} days), not "
                                  f"{absent}: the earlier purchase must still be in the window")
        if weight < 0:
            r.fail("weight", "of an absence feature must be positive (stopping is evidence "
                             "for the inference; use a negative presence feature for evidence "
                             "against)")
        if stage_day is not None:
            r.fail("stage_day", "cannot date an absence feature (no purchase marks the day)")
        if ratio is not None:
            r.fail("larger_than_usual", "does not apply to an absence feature")
    if weight < 0 and stage_day is not None:
        r.fail("stage_day", "needs a positive weight (a counter-evidence feature cannot date "
                            "the event)")
    return Feature(name, weight, tuple(levels), names, exclude, items, stage_day, spread,
                   ratio, baseline, concepts, with_concepts, fallback, absent)


def _stage(origin: str, table: Any, index: int) -> Stage:
    r = _Reader(origin, table, f"stage[{index}].", _STAGE_KEYS)
    name = r.text("name", required=True)
    start = r.integer("start", required=True, low=-MAX_WINDOW, high=MAX_WINDOW)
    end = r.integer("end", required=True, low=-MAX_WINDOW, high=MAX_WINDOW)
    if end <= start:
        r.fail("end", f"must be after start ({start}), not {end}")
    return Stage(name, start, end)


def signature_from_dict(data: Mapping[str, Any], origin: str = "<signature>",
                        path: Path | None = None) -> Signature:
    """Validate a parsed signature table.

    Parameters
    ----------
    data : mapping
        The TOML document as a dict.
    origin : str
        Where it came from (for error messages), usually the file name.
    path : Path, optional
        The file, recorded on the signature.

    Returns
    -------
    Signature

    Raises
    ------
    ConfigError
        A missing, unknown or invalid key; the message names ``origin`` and the key.
    """
    r = _Reader(origin, data, "", _TOP_KEYS)
    name = r.text("name", required=True)
    if not NAME_PATTERN.match(name):
        r.fail("name", f"must be lower-case letters, digits and '_', not {name!r}")
    sensitivity = r.text("sensitivity", required=True)
    if sensitivity not in SENSITIVITIES:
        r.fail("sensitivity", f"is {sensitivity!r}, not one of {', '.join(SENSITIVITIES)}."
                              f"{did_you_mean(sensitivity, SENSITIVITIES)}")
    art9 = r.text("gdpr_art9", "none")
    if art9 not in GDPR_ART9:
        r.fail("gdpr_art9", f"is {art9!r}, not one of {', '.join(GDPR_ART9)}."
                            f"{did_you_mean(art9, GDPR_ART9)}")
    window = r.integer("window_days", required=True, low=1, high=MAX_WINDOW)
    threshold = r.number("threshold", 0.5, low=0.0, high=1.0, low_open=True, high_open=True)
    if not r.has("link"):
        r.fail("link", "is missing; give [link] intercept and slope")
    lr = _Reader(origin, data["link"], "link.", _LINK_KEYS)
    link = Link(lr.number("intercept", required=True, low=-INTERCEPT_MAX, high=INTERCEPT_MAX),
                lr.number("slope", required=True, low=SLOPE_RANGE[0], high=SLOPE_RANGE[1]),
                lr.text("calibrated_on", "") or "")
    raw_features = data.get("feature")
    if not isinstance(raw_features, list) or not raw_features:
        r.fail("feature", "is missing; give at least one [[feature]]")
    if len(raw_features) > MAX_FEATURES:
        r.fail("feature", f"has {len(raw_features)} entries; at most {MAX_FEATURES} are allowed")
    features = tuple(_feature(origin, f, i, window) for i, f in enumerate(raw_features))
    if not any(f.weight > 0 for f in features):
        r.fail("feature", "has no feature with a positive weight, so no customer could ever "
                          "score above 0")
    seen: set[str] = set()
    for f in features:
        if f.name in seen:
            r.fail("feature", f"names {f.name!r} twice; feature names must be unique")
        seen.add(f.name)
    raw_stages = data.get("stage", [])
    if not isinstance(raw_stages, list):
        r.fail("stage", "must be an array of tables ([[stage]])")
    stages = tuple(_stage(origin, s, i) for i, s in enumerate(raw_stages))
    event = r.text("event")
    has_stage = any(f.stage_day is not None for f in features)
    if stages and not has_stage:
        r.fail("stage", "needs features with stage_day to estimate the event date")
    if has_stage and event is None:
        event = "event date"
    min_stage = r.integer("min_stage_features", 2, low=1, high=MAX_FEATURES)
    sources = r.strings("sources")
    title = r.text("title", name) or name
    return Signature(name, title, sensitivity, art9, window, threshold, link, features,
                     stages, event, min_stage, r.text("rationale", "") or "", sources, path)


def load_signature(path: str | Path) -> Signature:
    """Load and validate one signature file.

    Raises
    ------
    ConfigError
        Unreadable file, invalid TOML or an invalid key (the message names the file).
    """
    p = Path(path)
    data = read_toml(p, "signature file")
    return signature_from_dict(data, str(p), p)


def signature_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders to their ``*.toml`` files (sorted); files are kept as given."""
    return toml_files(paths, "signature")


def load_library(paths: Iterable[str | Path] = (), *, builtin: bool = True,
                 only: Iterable[str] | None = None) -> tuple[Signature, ...]:
    """Load the built-in library and/or user signature files.

    Parameters
    ----------
    paths : iterable of str or Path
        User signature files or folders of them. A user signature with the
        same name as a built-in one replaces it.
    builtin : bool
        Include the built-in library (``models/signatures/library``).
    only : iterable of str, optional
        Keep only these signature names (an unknown name is an error).

    Returns
    -------
    tuple of Signature
        Sorted by name.

    Raises
    ------
    ConfigError
        An invalid file, two user files with the same signature name, an
        unknown name in ``only``, or an empty library.
    """
    by_name: dict[str, Signature] = {}
    wanted_names = None if only is None else set(only)
    if builtin:
        for p in sorted(BUILTIN_DIR.glob("*.toml")):
            if wanted_names is not None and p.stem not in wanted_names:
                continue  # built-in files are named after their signature
            sig = replace(load_signature(p), builtin=True)
            if sig.name != p.stem:
                raise ConfigError(f"{p}: built-in signature {sig.name!r} must be in a file "
                                  f"named {sig.name}.toml.")
            by_name[sig.name] = sig
    user: dict[str, Path] = {}
    for p in signature_files(paths):
        sig = load_signature(p)
        if sig.name in user:
            raise ConfigError(f"{p}: signature name {sig.name!r} is also used by "
                              f"{user[sig.name]}; names must be unique.")
        user[sig.name] = p
        by_name[sig.name] = sig
    if only is not None:
        wanted = list(dict.fromkeys(only))
        known = set(by_name) | ({p.stem for p in BUILTIN_DIR.glob("*.toml")} if builtin else set())
        for name in wanted:
            if name not in by_name:
                raise ConfigError(f"unknown signature {name!r}.{did_you_mean(name, known)} "
                                  f"Known: {', '.join(sorted(known)) or '(none)'}.")
        by_name = {n: by_name[n] for n in wanted}
    if not by_name:
        raise ConfigError("no signatures to scan with: give signature files or keep the "
                          "built-in library.")
    return tuple(by_name[n] for n in sorted(by_name))
