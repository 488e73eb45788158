"""``basketguard learn``: train a learned detector, discover proxies, score with saved models.

:func:`learning_context` resolves the catalog once (concepts, taxonomy nodes,
items: the candidate groups); a :class:`~basketguard.engine.detect.labels.Target`
says who the positives are; :func:`learn` then

1. counts, in one kernel pass, the positive and negative customers holding
   every candidate group (the proxy statistics and the choice of frequent items
   come from the same counts);
2. builds the feature matrix of the chosen groups (``engine.detect.features``);
3. cross-validates, calibrates and trains a
   :class:`~basketguard.models.learned.detector.LearnedDetector`;
4. ranks every candidate group as a proxy (``engine.detect.proxies``), with the
   model's SHAP contributions, and writes the top ones as a signature.

A saved detector is a folder: ``model.txt`` (LightGBM's text model),
``detector.json`` (metadata), ``proxies.parquet`` (the ranked table) and
``signature.toml`` (the generated signature). :func:`load_detectors` reads
folders back; :func:`score_learned` scores any project's histories with one,
rebuilding its feature groups on that project's catalog.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from basketguard.engine.config.project import Project
from basketguard.engine.detect.compile import CatalogView, resolve
from basketguard.engine.detect.concepts import ConceptTable
from basketguard.engine.detect.features import (
    FeatureGroups,
    FeatureSpec,
    candidate_groups,
    feature_matrix,
    feature_names,
    groups_from_keys,
    select_groups,
    support,
)
from basketguard.engine.detect.labels import Target
from basketguard.engine.detect.proxies import (
    REPORT_TOP,
    choose_proxies,
    proxy_signature,
    proxy_table,
    report_rows,
    stage_days_of,
)
from basketguard.engine.errors import ConfigError, DataError, InternalError, OutputError
from basketguard.engine.histories.build import Histories
from basketguard.kernels.features import first_days
from basketguard.kernels.windows import NO_DAY
from basketguard.models.learned.detector import (
    META_FILE,
    MODEL_FILE,
    LearnedDetector,
    fit_logistic,
)

PROXIES_FILE = "proxies.parquet"
SIGNATURE_FILE = "signature.toml"
#: Positives whose SHAP contributions are averaged for the proxy table.
CONTRIBUTION_SAMPLE = 5000
#: Probability an anchor buyer scores at least (anchors are unambiguous by choice).
ANCHOR_PROBABILITY = 0.99


@dataclass(frozen=True)
class LearnOptions:
    """What to train (see :class:`LearnedDetector` for the model parameters).

    ``top`` groups go into the generated signature; ``alpha`` is the false
    discovery rate of the proxy table.
    """

    name: str
    title: str
    sensitivity: str
    gdpr_art9: str = "none"
    threshold: float = 0.5
    spec: FeatureSpec = field(default_factory=FeatureSpec)
    rounds: int = 200
    folds: int = 5
    seed: int = 0
    threads: int = 2
    top: int = 25
    alpha: float = 0.05


@dataclass
class LearningContext:
    """A project's catalog resolved for learning: concepts and candidate groups."""

    view: CatalogView
    concepts: ConceptTable | None
    candidates: FeatureGroups

    @property
    def vocabulary_names(self) -> tuple[str, ...]:
        return self.concepts.vocabulary.names if self.concepts is not None else ()


def learning_context(project: Project, hist: Histories, use_cache: bool = True) -> LearningContext:
    """Resolve the project's catalog to concepts and build every candidate group."""
    from basketguard.engine.detect.scan import catalog_for, concepts_for

    view = catalog_for(project, hist)
    cache = hist.info.get("cache_dir")
    concepts, _ = concepts_for(project, view, cache, use_cache=use_cache and cache is not None)
    return LearningContext(view, concepts, candidate_groups(view, hist.item_ids, concepts))


@dataclass
class LearnResult:
    """A trained detector with its proxies and generated signature."""

    detector: LearnedDetector
    target: Target
    groups: FeatureGroups
    proxies: pa.Table
    signature_text: str
    seconds: dict[str, float] = field(default_factory=dict)
    group_gain: dict[str, float] = field(default_factory=dict)

    def summary(self, top: int = REPORT_TOP, timings: bool = False) -> dict[str, Any]:
        """The training report: aggregates only (no customer id, no individual score)."""
        kinds: dict[str, int] = {}
        for k in self.groups.kinds:
            kinds[k] = kinds.get(k, 0) + 1
        gain = sorted(self.group_gain.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        total = sum(self.group_gain.values()) or 1.0
        titles = dict(zip(self.groups.keys, self.groups.titles, strict=True))
        sig = self.proxies.column("significant").to_pylist()
        return {
            "detector": self.detector.summary(),
            "target": self.target.summary(),
            "features": {"groups": self.groups.n_groups, "groups_by_kind": kinds,
                         "columns": len(self.detector.feature_names_),
                         "windows": list(self.detector.feature_spec_["spec"]["windows"])},
            "top_features": [{"group": k, "title": titles.get(k, k),
                              "share_of_gain": round(v / total, 6)} for k, v in gain],
            "proxies": {"tested": self.proxies.num_rows, "significant": int(sum(sig)),
                        "top": report_rows(self.proxies, top)},
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()} if timings else {},
        }

    def save(self, folder: str | Path, replace: bool = False) -> Path:
        """Write the detector folder atomically (a temporary folder, then a rename).

        Raises
        ------
        OutputError
            The folder exists and ``replace`` is False, or it cannot be written.
        """
        files = dict(self.detector.to_files())
        files[SIGNATURE_FILE] = self.signature_text.encode()
        sink = pa.BufferOutputStream()
        pq.write_table(self.proxies, sink)
        files[PROXIES_FILE] = sink.getvalue().to_pybytes()
        return write_folder(Path(folder), files, replace)


def write_folder(target: Path, files: dict[str, bytes], replace: bool) -> Path:
    """Write ``files`` as the folder ``target`` in one rename; never leaves half a folder."""
    target = target.expanduser()
    if target.exists() and not replace:
        raise OutputError(f"{target} already exists; pass --replace to overwrite it, or "
                          "choose another --out folder.")
    if target.exists() and not (target / META_FILE).is_file():
        raise OutputError(f"{target} exists and is not a learned detector's folder; it is left "
                          "alone: choose another --out folder.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        for name, data in files.items():
            with open(tmp / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
            os.rename(target, old / "x")
            os.rename(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except OSError as exc:
        shutil.rmtree(locals().get("tmp", target.parent / ".none"), ignore_errors=True)
        raise OutputError(f"cannot write the detector folder {target}: {exc.strerror or exc}; "
                          "check the path and its permissions.") from None
    return target


def fingerprint(hist: Histories, target: Target) -> str:
    """XXH3-128 of the histories' lines and the target (labels and reference days)."""
    h = xxhash.xxh3_128()
    for a in (hist.offsets, hist.item, hist.day, target.label, target.ref, target.drop):
        h.update(np.ascontiguousarray(a).view(np.uint8))
    return h.hexdigest()


def _group_sums(values: np.ndarray, n_global: int, n_stats: int, keys: list[str]) -> dict:
    per = values[n_global:n_global + len(keys) * n_stats].reshape(len(keys), n_stats).sum(axis=1)
    return {k: float(v) for k, v in zip(keys, per, strict=True)}


def learn(hist: Histories, ctx: LearningContext, target: Target, options: LearnOptions,
          progress: Callable[[str], None] | None = None) -> LearnResult:
    """Train a learned detector for ``target`` (see the module docstring).

    Parameters
    ----------
    hist : Histories
    ctx : LearningContext
        From :func:`learning_context`.
    target : Target
        Who the positives are (``engine.detect.labels``).
    options : LearnOptions
    progress : callable, optional
        Called with a short message before each stage.

    Returns
    -------
    LearnResult
    """
    from basketguard.kernels import features as fk

    target.check()
    t0 = time.perf_counter()
    spec = options.spec
    if progress:
        progress(f"counting {ctx.candidates.n_groups:,} item groups among "
                 f"{target.n_pos:,} positive and {target.n_neg:,} negative customers")
    counts = support(hist, ctx.candidates, target.label, target.ref, target.drop)
    t1 = time.perf_counter()
    rows = np.flatnonzero(target.label >= 0)
    y = target.label[rows]
    drop_ids = hist.item_ids.take(pa.array(np.flatnonzero(target.drop))).cast(pa.string())
    final: dict[str, Any] = {}

    def features(train: np.ndarray | None):
        # columns chosen from the labels of `train` only (None: every labelled customer)
        if train is None:
            c, n_pos, n_neg = counts, target.n_pos, target.n_neg
        else:
            label = np.full(hist.n_customers, -1, np.int8)
            label[rows[train]] = y[train]
            c = support(hist, ctx.candidates, label, target.ref, target.drop)
            n_pos, n_neg = int((y[train] == 1).sum()), int((y[train] == 0).sum())
        groups = select_groups(ctx.candidates, c, spec, n_pos, n_neg, target.drop_keys)
        X = feature_matrix(hist, groups, target.ref, target.drop, spec.windows)[rows]
        meta = {
            "spec": spec.to_dict(), "groups": list(groups.keys), "mode": target.mode,
            "anchors": target.anchors,
            "drop_concepts": sorted(k.split(":", 1)[1] for k in target.drop_keys
                                    if k.startswith("concept:")),
            "drop_items": drop_ids.to_pylist() if target.mode == "flags" else [],
            "labels": target.source,
        }
        if train is None:
            final.update(X=X, groups=groups)
        return X, feature_names(groups, spec.windows), meta

    det = LearnedDetector(options.name, options.title, options.sensitivity, options.gdpr_art9,
                          threshold=options.threshold, rounds=options.rounds,
                          n_folds=options.folds, num_threads=options.threads,
                          random_state=options.seed)
    det.fit(features, y, fingerprint(hist, target), progress)
    t2 = time.perf_counter()
    groups, Xl = final["groups"], final["X"]
    n_global = fk.n_global(len(spec.windows))
    n_stats = fk.n_stats(len(spec.windows))
    gain = _group_sums(det.importance(), n_global, n_stats, groups.keys)
    pos_rows = np.flatnonzero(y == 1)
    if pos_rows.size > CONTRIBUTION_SAMPLE:
        rng = np.random.default_rng(options.seed)
        pos_rows = np.sort(rng.choice(pos_rows, CONTRIBUTION_SAMPLE, replace=False))
    contrib = det.contributions(Xl[pos_rows]).mean(axis=0)
    contribution = _group_sums(contrib, n_global, n_stats, groups.keys)
    if progress:
        progress("ranking proxies")
    table = proxy_table(ctx.candidates, counts, target.n_pos, target.n_neg, contribution,
                        options.alpha)
    result = LearnResult(det, target, groups, table, "", group_gain=gain)
    result.signature_text = _generated_signature(hist, ctx, target, table, options)
    t3 = time.perf_counter()
    result.seconds = {"support": t1 - t0, "train": t2 - t1, "proxies": t3 - t2}
    return result


def _until(hist: Histories, ref: np.ndarray) -> Histories:
    """The histories without any line after its customer's reference day."""
    if hist.n_lines == 0 or int(ref.min()) >= int(hist.day.max()):
        return hist
    cust = np.repeat(np.arange(hist.n_customers, dtype=np.int32), np.diff(hist.offsets))
    keep = hist.day <= np.asarray(ref, np.int32)[cust]
    offsets = np.zeros(hist.n_customers + 1, np.int64)
    np.cumsum(np.bincount(cust[keep], minlength=hist.n_customers), out=offsets[1:])

    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[keep]

    return Histories(offsets=offsets, item=hist.item[keep], day=hist.day[keep],
                     basket=hist.basket[keep], customer_ids=hist.customer_ids,
                     item_ids=hist.item_ids, quantity=take(hist.quantity),
                     price=take(hist.price), store=take(hist.store),
                     basket_ids=hist.basket_ids, store_ids=hist.store_ids, info=hist.info)


def _generated_signature(hist: Histories, ctx: LearningContext, target: Target,
                         table: pa.Table, options: LearnOptions) -> str:
    """The top proxies as a signature, its link fitted by scanning the training customers."""
    from basketguard.engine.detect.scan import scan_histories_with
    from basketguard.models.signatures.schema import INTERCEPT_MAX, signature_from_dict

    rows = choose_proxies(table, ctx.candidates, options.top)
    window = max(options.spec.windows)
    keys = [table.column("group")[r].as_py() for r in rows]
    stages = (stage_days_of(hist, ctx.candidates, keys, target.event_day, window)
              if target.event_day is not None else None)
    item_ints = pa.types.is_integer(hist.item_ids.type)
    kw = dict(name=f"{options.name}_proxies", title=f"{options.title} (learned proxies)",
              sensitivity=options.sensitivity, gdpr_art9=options.gdpr_art9,
              window_days=window, threshold=options.threshold, source=target.source,
              item_ints=item_ints, stage_days=stages)
    if not rows:
        return "# No group is significantly enriched among the positives: no signature.\n"
    text = proxy_signature(table, rows, intercept=-5.0, slope=1.0, **kw)
    sig = signature_from_dict(tomllib.loads(text), "<generated signature>")
    lib = resolve((sig,), ctx.view, hist.item_ids, hist.quantity is not None, ctx.concepts)
    res = scan_histories_with(_until(hist, target.ref), lib, ctx.view)
    scores = res.dense_scores(sig.name)
    keep = target.label >= 0
    a, b = fit_logistic(scores[keep], target.label[keep])
    logit = math.log(options.threshold / (1 - options.threshold))
    if not b > 0:
        b = 1e-3
    if a >= logit:  # the link must not flag a customer without evidence
        a = logit - 1.0
    a = max(a, -INTERCEPT_MAX + 1.0)
    text = proxy_signature(table, rows, intercept=a, slope=b,
                           calibrated_on=f"{target.source}, {int(keep.sum()):,} customers",
                           **kw)
    try:  # what we write must load: the scan reads it back
        signature_from_dict(tomllib.loads(text), "<generated signature>")
    except ConfigError as exc:
        raise InternalError(f"the generated signature does not load: {exc}") from None
    return text


# ---------------------------------------------------------------- saved detectors
def load_detector(folder: str | Path) -> LearnedDetector:
    """Read a detector folder written by :meth:`LearnResult.save`.

    Raises
    ------
    ConfigError
        The folder lacks ``model.txt`` or ``detector.json``, or they are damaged.
    """
    folder = Path(folder).expanduser()
    meta_path, model_path = folder / META_FILE, folder / MODEL_FILE
    if not meta_path.is_file() or not model_path.is_file():
        raise ConfigError(f"{folder}: not a learned detector's folder (it needs {MODEL_FILE} "
                          f"and {META_FILE}, as `basketguard learn --out` writes them).")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{meta_path}: cannot be read as JSON ({exc}); train the detector "
                          "again with `basketguard learn`.") from None
    return LearnedDetector.from_files(model_path.read_text(), meta, str(folder))


def load_detectors(paths: list[str | Path]) -> list[LearnedDetector]:
    """Detectors of each path: a detector folder, or a folder of detector folders."""
    out: list[LearnedDetector] = []
    for p in paths:
        p = Path(p).expanduser()
        if (p / META_FILE).is_file():
            out.append(load_detector(p))
            continue
        if not p.is_dir():
            raise ConfigError(f"--detectors {p}: no such folder.")
        subs = sorted(d for d in p.iterdir() if (d / META_FILE).is_file())
        if not subs:
            raise ConfigError(f"--detectors {p}: holds no learned detector (folders with "
                              f"{META_FILE}); train one with `basketguard learn --out`.")
        out.extend(load_detector(d) for d in subs)
    names = [d.name for d in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"--detectors: two detectors are named {dup[0]!r}; names must be "
                          "unique in one scan.")
    return out


@dataclass
class LearnedScores:
    """One learned detector's scores of a project's customers.

    ``coverage`` is the share of the model's total gain carried by feature
    groups that exist in this catalog (1.0 on the training catalog).
    """

    detector: LearnedDetector
    scores: np.ndarray
    coverage: float
    empty_groups: int
    notes: list[str] = field(default_factory=list)
    top_features: list[dict[str, Any]] = field(default_factory=list)

    def probability(self) -> np.ndarray:
        return self.detector.probability(self.scores)

    def flagged(self) -> np.ndarray:
        return self.scores >= self.detector.score_threshold


def score_learned(det: LearnedDetector, hist: Histories, view: CatalogView,
                  concepts: ConceptTable | None, as_of: int | None = None) -> LearnedScores:
    """Margins of every customer (code order) with a saved detector.

    The detector's groups are rebuilt on this catalog (by key), its anchor items
    dropped as in training, every reference day is ``as_of`` (default: the last
    day of the data); anchor buyers score at least the margin of probability
    :data:`ANCHOR_PROBABILITY`.
    """
    from basketguard.kernels import features as fk

    meta = det.feature_spec_
    spec = FeatureSpec.from_dict(meta["spec"])
    groups, empty = groups_from_keys(list(meta["groups"]), view, hist.item_ids, concepts)
    if hist.n_lines == 0:
        raise DataError("no basket lines to score.")
    last = int(hist.day.max())
    ref = np.full(hist.n_customers, last if as_of is None else int(as_of), np.int32)
    drop = np.zeros(hist.n_items, np.uint8)
    notes = []
    drop_keys = [f"concept:{c}" for c in meta.get("drop_concepts", [])]
    anchor_groups, anchor_empty = groups_from_keys(drop_keys, view, hist.item_ids, concepts)
    for m in anchor_groups.members():
        drop[m] = 1
    if meta.get("drop_items"):
        ids = pa.array(meta["drop_items"], pa.string())
        idx = pc.index_in(hist.item_ids.cast(pa.string()), value_set=ids)
        drop[np.asarray(idx.is_valid().to_numpy(zero_copy_only=False), bool)] = 1
    X = feature_matrix(hist, groups, ref, drop, spec.windows)
    scores = det.score(X)
    if meta.get("anchors"):
        names = [c for c in meta.get("drop_concepts", [])]
        first = first_days(hist.offsets, hist.item, hist.day, anchor_groups.item_offsets,
                           anchor_groups.item_groups, len(names))
        bought = (first != NO_DAY) & (first <= ref[:, None])
        col = {c: i for i, c in enumerate(names)}
        hit = np.zeros(hist.n_customers, bool)
        for r in meta["anchors"]:
            hit |= np.all(bought[:, [col[c] for c in r]], axis=1)
        floor = (math.log(ANCHOR_PROBABILITY / (1 - ANCHOR_PROBABILITY)) - det.intercept_) \
            / det.slope_
        scores[hit] = np.maximum(scores[hit], floor)
        if anchor_empty:
            notes.append(f"learned detector {det.name!r}: {anchor_empty} anchor concept(s) match "
                         "nothing in this catalog.")
    n_global, n_stats = fk.n_global(len(spec.windows)), fk.n_stats(len(spec.windows))
    gain = _group_sums(det.importance(), n_global, n_stats, groups.keys)
    total = sum(gain.values())
    members = groups.members()
    seen = sum(v for k, v, m in zip(groups.keys, gain.values(), members, strict=True)
               if m.size) if total else 0.0
    coverage = seen / total if total else 1.0
    if empty:
        notes.append(f"learned detector {det.name!r}: {empty} of {groups.n_groups} feature "
                     f"groups match nothing in this catalog ({coverage:.0%} of the model's gain "
                     "is on groups that do).")
    order = sorted(range(groups.n_groups), key=lambda g: (-gain[groups.keys[g]], g))[:5]
    top = [{"group": groups.keys[g], "title": groups.titles[g],
            "share_of_gain": round(gain[groups.keys[g]] / total, 6) if total else 0.0}
           for g in order if gain[groups.keys[g]] > 0]
    return LearnedScores(det, scores, coverage, empty, notes, top)
