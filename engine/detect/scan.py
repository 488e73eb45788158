"""The inference scan: what do these purchases reveal, about how many customers, through what.

:func:`scan` resolves a signature library against the project's catalog,
scores every customer with :func:`basketguard.kernels.windows.scan_histories`
and returns a :class:`ScanResult`. Its :meth:`~ScanResult.summary` holds
aggregates only (counts, shares, distributions, the features and products that
carry each signal); per-customer scores are sensitive and only leave through
:meth:`~ScanResult.scores_table` / :meth:`~ScanResult.write_scores`, which the
CLI calls only for ``--scores PATH``.

Partial scans merge exactly: every aggregate is a sum over customers, so
scanning customer shards and adding their aggregates (``ScanResult.merge``)
gives the same summary as one scan of the whole.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from basketguard.engine.config.project import Project
from basketguard.engine.detect.compile import CatalogView, CompiledLibrary, catalog_view, resolve
from basketguard.engine.detect.concepts import (
    ConceptTable,
    read_overrides,
    resolve_cached,
    unused_concepts,
)
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Estimate, Finding, Severity, Threshold
from basketguard.engine.histories.build import Histories
from basketguard.engine.histories.cache import default_cache_dir
from basketguard.engine.io.output import atomic_path
from basketguard.engine.stats import wilson
from basketguard.kernels.scan_arrays import ScanAggregates, ScanEntries
from basketguard.kernels.windows import NO_DAY, day_range, scan_histories
from basketguard.models.signatures.schema import Signature, load_library
from basketguard.models.vocabulary.schema import load_vocabulary

_EPOCH = datetime.date(1970, 1, 1)
#: Probability bins of the score distribution in the summary.
PROB_BINS = 10
#: Products and categories listed per signature.
TOP = 10


def day_to_date(day: int) -> datetime.date:
    return _EPOCH + datetime.timedelta(days=int(day))


def date_to_day(value: datetime.date | str) -> int:
    """Day number of a date or an ISO ``YYYY-MM-DD`` string."""
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            raise ConfigError(f"as-of date {value!r} is not an ISO date (YYYY-MM-DD).") from None
    return (value - _EPOCH).days


_AGGREGATES = ScanAggregates._fields
_ENTRIES = ScanEntries._fields


@dataclass
class ScanResult:
    """Scores and aggregates of one scan.

    Attributes
    ----------
    library : CompiledLibrary
        The signatures as resolved against the catalog (matches, warnings).
    view : CatalogView
        The catalog (for names in reports).
    customer_ids, item_ids : pyarrow.Array
        Dictionaries of the histories (code -> original id).
    n_customers, n_lines : int
    first_day, last_day : int
        Span of the data (day numbers).
    as_of : int
        Reference day for stages (default: the last day of the data).
    entries : dict of numpy.ndarray
        Sparse per-(customer, signature) results with a positive score.
    aggregates : dict of numpy.ndarray
        Sums over customers (see ``scan_histories``).
    seconds : dict
        Timings of the stages.
    horizon : int or None
        The last day scored (see :func:`scan_histories_with`).
    min_coverage, coverage_severity
        From the project's ``[detection]`` table: below this share of matched
        evidence features, or when its threshold is out of reach, a signature
        gets a coverage finding of this severity.
    """

    library: CompiledLibrary
    view: CatalogView
    customer_ids: pa.Array
    item_ids: pa.Array
    n_customers: int
    n_lines: int
    first_day: int
    last_day: int
    as_of: int
    entries: dict[str, np.ndarray]
    aggregates: dict[str, np.ndarray]
    seconds: dict[str, float] = field(default_factory=dict)
    as_of_given: bool = False
    min_coverage: float = 0.5
    coverage_severity: str = "warn"
    horizon: int | None = None
    learned: list = field(default_factory=list)  # LearnedScores (engine.detect.learn)
    _rows: np.ndarray | None = field(default=None, repr=False)  # catalog row per item code

    @property
    def signatures(self) -> tuple[Signature, ...]:
        return self.library.signatures

    def probability(self) -> np.ndarray:
        """Probability of each entry (through its signature's link)."""
        out = np.empty(self.entries["score"].shape[0])
        for s, sig in enumerate(self.signatures):
            sel = self.entries["signature"] == s
            out[sel] = sig.probability(self.entries["score"][sel])
        return out

    def dense_scores(self, signature: str) -> np.ndarray:
        """Score of every customer (code order) for one signature; 0 without evidence."""
        s = self._index(signature)
        out = np.zeros(self.n_customers)
        sel = self.entries["signature"] == s
        out[self.entries["customer"][sel]] = self.entries["score"][sel]
        return out

    def _index(self, signature: str) -> int:
        for s, sig in enumerate(self.signatures):
            if sig.name == signature:
                return s
        raise ConfigError(f"no signature {signature!r} in this scan "
                          f"({', '.join(s.name for s in self.signatures)}).")

    # ------------------------------------------- partial protocol (engine.runner)
    @property
    def merge_key(self) -> tuple:
        """Scans merge when they share the compiled library (by identity) and the as-of."""
        return (id(self.library), self.as_of_given, self.as_of if self.as_of_given else None)

    def finalize(self) -> ScanResult:
        """A scan is its own result: its summary and scores are computed from the sums."""
        return self

    def merge(self, other: ScanResult) -> ScanResult:
        """Combine the scans of two disjoint customer shards of the same data.

        Aggregates add; entries are concatenated with the other shard's customer
        codes shifted past this one's (``customer_ids`` follow, so every entry
        keeps its original id). Both must come from the same compiled library
        and item dictionary.
        """
        if other.library is not self.library:
            raise ConfigError("scans to merge must share one compiled library")
        entries = {}
        for k in _ENTRIES:
            b = other.entries[k]
            if k == "customer":
                b = b + self.n_customers
            entries[k] = np.concatenate([self.entries[k], b])
        aggs = {k: self.aggregates[k] + other.aggregates[k] for k in _AGGREGATES}
        spans = [(r.first_day, r.last_day) for r in (self, other) if r.n_lines]
        first = min(f for f, _ in spans) if spans else 0
        last = max(la for _, la in spans) if spans else 0
        if self.as_of_given != other.as_of_given or (
                self.as_of_given and self.as_of != other.as_of):
            raise ConfigError("scans to merge must use the same as-of date")
        timed = any(f.weight < 0 or f.is_absence for s in self.signatures for f in s.features)
        if timed and self.n_lines and other.n_lines and self.horizon != other.horizon:
            raise ConfigError(
                "scans to merge must share one horizon (the last day scored): the library has "
                "counter-evidence or absence features, whose scores depend on it; scan every "
                "shard with horizon = the whole data's last day")
        as_of = self.as_of if self.as_of_given else last
        if [x.detector for x in self.learned] != [x.detector for x in other.learned]:
            raise ConfigError("scans to merge must run the same learned detectors")
        learned = [_merge_learned(a, b) for a, b in zip(self.learned, other.learned,
                                                         strict=True)]
        return ScanResult(self.library, self.view,
                          pa.concat_arrays([self.customer_ids, other.customer_ids]),
                          self.item_ids, self.n_customers + other.n_customers,
                          self.n_lines + other.n_lines, first, last, as_of, entries, aggs,
                          dict(self.seconds), self.as_of_given, self.min_coverage,
                          self.coverage_severity,
                          max(h for h in (self.horizon, other.horizon) if h is not None)
                          if (self.horizon, other.horizon) != (None, None) else None,
                          learned)

    def in_id_order(self) -> ScanResult:
        """The same scan with customers in ascending id order (codes renumbered).

        A build numbers customers by ascending id; a merge of shards lists each
        shard's customers after the previous shard's. This puts a merged scan back
        in the order of one scan of the whole: entries by customer, then
        signature, and learned scores by customer.
        """
        import pyarrow.compute as pc

        perm = pc.sort_indices(self.customer_ids).to_numpy()
        rank = np.empty(perm.size, np.int64)
        rank[perm] = np.arange(perm.size)
        cust = rank[self.entries["customer"]]
        order = np.lexsort((self.entries["signature"], cust))
        entries = {k: (cust if k == "customer" else v)[order] for k, v in self.entries.items()}
        entries["customer"] = entries["customer"].astype(self.entries["customer"].dtype)
        learned = [type(x)(x.detector, x.scores[perm], x.coverage, x.empty_groups, x.notes,
                           x.top_features) for x in self.learned]
        return ScanResult(self.library, self.view, self.customer_ids.take(pa.array(perm)),
                          self.item_ids, self.n_customers, self.n_lines, self.first_day,
                          self.last_day, self.as_of, entries, dict(self.aggregates),
                          dict(self.seconds), self.as_of_given, self.min_coverage,
                          self.coverage_severity, self.horizon, learned)

    # ------------------------------------------------------------------ reports
    def _stage_names(self, sig: Signature, event: np.ndarray) -> np.ndarray:
        rel = self.as_of - event.astype(np.int64)
        names = np.full(event.shape[0], None, dtype=object)
        if not sig.stages:
            return names
        ok = event != NO_DAY
        before = ok & (rel < min(st.start for st in sig.stages))
        after = ok & (rel >= max(st.end for st in sig.stages))
        names[before] = f"before {sig.stages[0].name}"
        names[after] = f"after {sig.stages[-1].name}"
        for st in sig.stages:
            names[ok & (rel >= st.start) & (rel < st.end)] = st.name
        return names

    def _item_labels(self, codes: np.ndarray) -> tuple[list[str], list[str | None]]:
        """Names (or ids) and the category (second-to-last level) of item codes."""
        view = self.view
        names = [str(v) for v in self.item_ids.take(pa.array(codes, pa.int64())).to_pylist()]
        cats: list[str | None] = [None] * len(codes)
        if view.codes.size:
            if self._rows is None:
                self._rows = view.first_rows(len(self.item_ids))
            rows = self._rows[np.asarray(codes, np.int64)]
            have = np.flatnonzero(rows >= 0).tolist()
            if have:
                take = pa.array(rows[have], pa.int64())
                if view.raw_names is not None:
                    for i, n in zip(have, view.raw_names.take(take).to_pylist(), strict=True):
                        if n is not None:
                            names[i] = n
                levels = list(view.raw_levels)
                if levels:
                    level = levels[-2] if len(levels) >= 2 else levels[-1]
                    for i, c in zip(have, view.raw_levels[level].take(take).to_pylist(),
                                    strict=True):
                        cats[i] = c
        return names, cats

    def summary(self, timings: bool = False) -> dict[str, Any]:
        """The scan's report: aggregates only, JSON-serializable.

        Parameters
        ----------
        timings : bool
            Fill ``seconds`` with the stage timings of this run. Without it
            ``seconds`` is empty, so the same input gives the same report bytes.
        """
        out_sigs = []
        ag = self.aggregates
        for s, sig in enumerate(self.signatures):
            sel = self.entries["signature"] == s
            scores = self.entries["score"][sel]
            probs = sig.probability(scores)
            n_ev = int(ag["signature_customers"][s])
            n_flag = int(ag["signature_flagged"][s])
            p0 = float(sig.probability(0.0))
            hist_counts = np.histogram(probs, bins=PROB_BINS, range=(0.0, 1.0))[0]
            zero_bin = min(int(p0 * PROB_BINS), PROB_BINS - 1)
            hist_counts[zero_bin] += self.n_customers - n_ev
            quant = ({q: float(np.quantile(scores, q / 100, method="lower"))
                      for q in (50, 90, 99)} | {"max": float(scores.max())}) if n_ev else {}
            fs = self.library.feature_slice(s)
            feats = []
            for g in range(fs.start, fs.stop):
                m = self.library.features[g]
                fl = int(ag["feature_flagged"][g])
                feats.append({
                    "feature": m.feature,
                    "weight": sig.features[g - fs.start].weight,
                    "catalog_items": int(m.items.size),
                    "matched_by": m.how or "nothing",
                    "lines": int(ag["feature_lines"][g]),
                    "customers": int(ag["feature_customers"][g]),
                    "flagged_with_feature": fl,
                    "share_of_flagged": fl / n_flag if n_flag else None,
                })
            slot_counts = ag["slot_flagged"][:, s]
            top_slots = np.argsort(-slot_counts, kind="stable")[:TOP]
            top_slots = top_slots[slot_counts[top_slots] > 0]
            names, cats = self._item_labels(self.library.slot_item[top_slots])
            products = [{"product": n, "category": c, "flagged_customers": int(slot_counts[t])}
                        for n, c, t in zip(names, cats, top_slots, strict=True)]
            all_slots = np.flatnonzero(slot_counts)
            _, all_cats = self._item_labels(self.library.slot_item[all_slots])
            by_cat: dict[str, int] = {}
            for c, t in zip(all_cats, all_slots, strict=True):
                if c is not None:
                    by_cat[c] = by_cat.get(c, 0) + int(slot_counts[t])
            categories = [{"category": c, "flagged_product_matches": v}
                          for c, v in sorted(by_cat.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]
            entry: dict[str, Any] = {
                "signature": sig.name, "title": sig.title, "sensitivity": sig.sensitivity,
                "gdpr_art9": sig.gdpr_art9, "window_days": sig.window_days,
                "threshold": sig.threshold, "score_threshold": round(sig.score_threshold, 6),
                "customers_with_evidence": n_ev, "customers_flagged": n_flag,
                "prevalence": n_flag / self.n_customers if self.n_customers else None,
                "probability_histogram": {"bins": PROB_BINS, "counts": hist_counts.tolist()},
                "score_quantiles_with_evidence": quant,
                "features": feats, "top_products": products, "top_categories": categories,
            }
            if sig.has_stages:
                ev = self.entries["event_day"][sel]
                flagged = scores >= sig.score_threshold
                dated = flagged & (ev != NO_DAY)
                stages = self._stage_names(sig, ev[dated])
                counts: dict[str, int] = {}
                for name in stages:
                    if name is not None:
                        counts[name] = counts.get(name, 0) + 1
                entry["event"] = {"name": sig.event, "flagged_with_estimate": int(dated.sum()),
                                  "stage_at_as_of": counts}
            out_sigs.append(entry)
        return {
            "coverage": self.coverage_report(),
            "customers": self.n_customers, "lines": self.n_lines,
            "first_day": day_to_date(self.first_day).isoformat() if self.n_lines else None,
            "last_day": day_to_date(self.last_day).isoformat() if self.n_lines else None,
            "as_of": day_to_date(self.as_of).isoformat(),
            "signatures": out_sigs, "learned": self.learned_report(),
            "warnings": list(self.library.warnings)
            + [n for x in self.learned for n in x.notes],
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()} if timings else {},
        }

    def learned_report(self) -> list[dict[str, Any]]:
        """Per learned detector: flagged customers, probability histogram, training
        metrics and the share of its model this catalog lets it see."""
        out = []
        for x in self.learned:
            det = x.detector
            probs = x.probability()
            n_flag = int(x.flagged().sum())
            m = det.metrics_
            out.append({
                "detector": det.name, "title": det.title, "kind": det.kind,
                "sensitivity": det.sensitivity, "gdpr_art9": det.gdpr_art9,
                "threshold": det.threshold, "score_threshold": round(det.score_threshold, 6),
                "customers_flagged": n_flag,
                "prevalence": n_flag / self.n_customers if self.n_customers else None,
                "probability_histogram": {
                    "bins": PROB_BINS,
                    "counts": np.histogram(probs, bins=PROB_BINS, range=(0.0, 1.0))[0].tolist()},
                "coverage": round(x.coverage, 6), "empty_groups": x.empty_groups,
                "training": {k: m.get(k) for k in ("customers", "positives", "roc_auc",
                                                   "pr_auc")},
                "labels": det.feature_spec_.get("labels"),
                "top_features": x.top_features,
            })
        return out

    def coverage_problems(self) -> list:
        """Coverage of the signatures that cannot reach their threshold here, or match
        less than :attr:`min_coverage` of their evidence features."""
        return [c for c in self.library.coverage
                if not c.reachable or c.share < self.min_coverage]

    def coverage_report(self) -> dict[str, Any]:
        """What each signature can see in this catalog, problems first in ``findings``."""
        problems = self.coverage_problems()
        return {
            "min_coverage": self.min_coverage, "severity": self.coverage_severity,
            "findings": [{"signature": c.signature, "severity": self.coverage_severity,
                          "reachable": c.reachable, "message": c.sentence()}
                         for c in problems],
            "signatures": [c.to_dict() for c in self.library.coverage],
        }

    def findings(self) -> list[Finding]:
        """Coverage findings (what the catalog lets each signature see), then one
        informational finding per signature (share of customers flagged)."""
        ag = self.aggregates
        out = []
        out.extend(coverage_findings(self.library, self.min_coverage, self.coverage_severity))
        for s, sig in enumerate(self.signatures):
            n_flag = int(ag["signature_flagged"][s])
            est = (wilson(n_flag, self.n_customers)
                   if self.n_customers else Estimate(float("nan")))
            fs = self.library.feature_slice(s)
            flagged = ag["feature_flagged"][fs.start:fs.stop]
            order = np.argsort(-flagged, kind="stable")[:3]
            top = ", ".join(self.library.features[fs.start + int(i)].feature
                            for i in order if flagged[i])
            out.append(Finding(
                check=f"inference.{sig.name}",
                metric=f"share of customers whose purchases imply {sig.title.lower()} "
                       f"(probability >= {sig.threshold})",
                estimate=est, severity=Severity.INFO,
                explanation=(f"{n_flag} of {self.n_customers} customers; driven by {top}."
                             if top else "no customer reaches the threshold."),
                details={"customers_flagged": n_flag, "sensitivity": sig.sensitivity,
                         "gdpr_art9": sig.gdpr_art9},
            ))
        for x in self.learned:
            det = x.detector
            n_flag = int(x.flagged().sum())
            est = (wilson(n_flag, self.n_customers)
                   if self.n_customers else Estimate(float("nan")))
            top = ", ".join(t["title"] for t in x.top_features[:3])
            out.append(Finding(
                check=f"inference.{det.name}",
                metric=f"share of customers whose purchases imply {det.title.lower()} "
                       f"(learned detector, probability >= {det.threshold})",
                estimate=est, severity=Severity.INFO,
                explanation=(f"{n_flag} of {self.n_customers} customers; the model leans on "
                             f"{top or 'no feature'}."),
                details={"customers_flagged": n_flag, "sensitivity": det.sensitivity,
                         "gdpr_art9": det.gdpr_art9, "kind": det.kind,
                         "coverage": round(x.coverage, 6)},
            ))
        return out

    def scores_table(self, min_probability: float = 0.0) -> pa.Table:
        """Per-customer scores (sensitive): one row per customer and signature with evidence.

        Parameters
        ----------
        min_probability : float
            Keep only rows with at least this probability.

        Returns
        -------
        pyarrow.Table
            ``customer_id`` (original ids), ``signature``, ``score``,
            ``probability``, ``flagged``, ``peak_date``, ``event_date``,
            ``event_date_low``, ``event_date_high``, ``stage`` (at :attr:`as_of`),
            ``top_features`` (features present at the peak, heaviest first).
        """
        e = self.entries
        prob = self.probability()
        keep = np.flatnonzero(prob >= min_probability)
        sig_names = np.array([s.name for s in self.signatures], dtype=object)
        thresholds = np.array([s.score_threshold for s in self.signatures])
        flagged = e["score"][keep] >= thresholds[e["signature"][keep]]
        stage = np.full(keep.shape[0], None, dtype=object)
        feats = [[(f.weight, f.name) for f in s.features] for s in self.signatures]
        names_of: dict[tuple[int, int], list[str]] = {}  # few distinct (signature, mask)

        def top_features(s: int, mask: int) -> list[str]:
            got = names_of.get((s, mask))
            if got is None:
                present = [feats[s][b] for b in range(len(feats[s])) if mask >> b & 1]
                got = [n for _, n in sorted(present, key=lambda wn: (-wn[0], wn[1]))]
                names_of[(s, mask)] = got
            return got

        tops = [top_features(int(s), int(m))
                for s, m in zip(e["signature"][keep], e["mask"][keep], strict=True)]
        for s, sig in enumerate(self.signatures):
            sel = e["signature"][keep] == s
            if sig.stages and sel.any():
                stage[sel] = self._stage_names(sig, e["event_day"][keep][sel])

        def dates(a: np.ndarray) -> pa.Array:
            a = a[keep].astype(np.int32)
            return pa.array(a, pa.int32(), mask=a == NO_DAY).cast(pa.date32())

        table = pa.table({
            "customer_id": self.customer_ids.take(pa.array(e["customer"][keep])),
            "signature": pa.array(sig_names[e["signature"][keep]].tolist(), pa.string()),
            "score": pa.array(e["score"][keep]),
            "probability": pa.array(prob[keep]),
            "flagged": pa.array(flagged),
            "peak_date": dates(e["peak_day"]),
            "event_date": dates(e["event_day"]),
            "event_date_low": dates(e["event_low"]),
            "event_date_high": dates(e["event_high"]),
            "stage": pa.array(stage.tolist(), pa.string()),
            "top_features": pa.array(tops, pa.list_(pa.string())),
        })
        parts = [table]
        for x in self.learned:
            prob_l = x.probability()
            rows = np.flatnonzero(prob_l >= min_probability)
            n = rows.size
            null_dates = pa.nulls(n, pa.date32())
            parts.append(pa.table({
                "customer_id": self.customer_ids.take(pa.array(rows)),
                "signature": pa.array([x.detector.name] * n, pa.string()),
                "score": pa.array(x.scores[rows]),
                "probability": pa.array(prob_l[rows]),
                "flagged": pa.array(x.scores[rows] >= x.detector.score_threshold),
                "peak_date": null_dates, "event_date": null_dates,
                "event_date_low": null_dates, "event_date_high": null_dates,
                "stage": pa.nulls(n, pa.string()),
                "top_features": pa.array([[]] * n, pa.list_(pa.string())),
            }, schema=table.schema))
        return pa.concat_tables(parts) if len(parts) > 1 else table

    def write_scores(self, path: str | Path, min_probability: float = 0.0) -> Path:
        """Write :meth:`scores_table` to Parquet atomically (temp file, then rename)."""
        target = Path(path)
        table = self.scores_table(min_probability)
        with atomic_path(target) as tmp:
            pq.write_table(table, tmp)
        return target


def _merge_learned(a, b):
    """Learned scores of two customer shards, concatenated (b's customers after a's)."""
    from basketguard.engine.detect.learn import LearnedScores

    return LearnedScores(a.detector, np.concatenate([a.scores, b.scores]),
                         min(a.coverage, b.coverage), max(a.empty_groups, b.empty_groups),
                         list(dict.fromkeys(a.notes + b.notes)), a.top_features)


def coverage_findings(library: CompiledLibrary, min_coverage: float = 0.5,
                      severity: str = "warn", problems_only: bool = False) -> list[Finding]:
    """One ``coverage.<signature>`` finding per signature: what this catalog lets it see.

    A signature that cannot reach its threshold here, or matches less than
    ``min_coverage`` of its evidence features, gets ``severity``; the others pass
    (``problems_only`` leaves them out).
    """
    out = []
    for c in library.coverage:
        bad = not c.reachable or c.share < min_coverage
        if problems_only and not bad:
            continue
        out.append(Finding(
            check=f"coverage.{c.signature}",
            metric="share of the signature's evidence features that match items in this "
                   "catalog",
            estimate=Estimate(c.share),
            threshold=Threshold(fail=min_coverage, direction="min") if severity == "fail"
            else Threshold(warn=min_coverage, direction="min"),
            severity=Severity(severity) if bad else Severity.PASS,
            explanation=(c.sentence() + "." if bad else
                         f"{len(c.matched)} of {c.features} features match; the best "
                         f"reachable probability is {c.best_probability:.2f}."),
            details=c.to_dict(),
        ))
    return out


def scan_histories_with(hist: Histories, library: CompiledLibrary, view: CatalogView,
                        as_of: int | None = None, n_blocks: int | None = None,
                        horizon: int | None = None) -> ScanResult:
    """Score already-loaded histories with a compiled library.

    ``horizon`` is the last day scored (default: the last day of these
    histories). Counter-evidence and absence features change scores on days
    without purchases, so shards of one dataset must share the whole data's
    horizon to merge exactly.
    """
    t0 = time.perf_counter()
    quantity = hist.quantity if library.n_groups > 0 else None
    if hist.n_lines:
        first, last = (int(d) for d in day_range(hist.day))
    else:
        first = last = 0
    h = last if horizon is None else int(horizon)
    raw = scan_histories(hist.offsets, hist.item, hist.day, quantity, library.tables,
                         library.n_groups, n_blocks, horizon=h)
    seconds = {"score": time.perf_counter() - t0}
    return ScanResult(library, view, hist.customer_ids, hist.item_ids, hist.n_customers,
                      hist.n_lines, first, last, last if as_of is None else as_of,
                      raw.entries._asdict(), raw.aggregates._asdict(), seconds,
                      as_of is not None, horizon=h)


def catalog_for(project: Project, hist: Histories) -> CatalogView:
    """The project's catalog aligned with the histories' item codes (empty without one)."""
    from basketguard.engine.io.tables import read_role

    spec = project.source("catalog")
    if spec is None:
        return catalog_view(None, hist.item_ids, [])
    table = read_role(project, "catalog")
    return catalog_view(table, hist.item_ids, list(spec.lists.get("levels", ())), spec.origin,
                        spec.lists.get("name", ()))


def concepts_for(project: Project, view: CatalogView, cache_dir: str | Path | None = None,
                 use_cache: bool = True) -> tuple[ConceptTable, str]:
    """The catalog resolved to concepts with the project's vocabulary and overrides.

    Returns the table and the cache outcome (``"hit"``, ``"stored"``, ``"off"``).
    """
    det = project.detection
    vocab = load_vocabulary(det.vocabulary)
    overrides = read_overrides(det.overrides) if det.overrides is not None else None
    folder = None
    if use_cache:
        folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return resolve_cached(vocab, view.names, view.levels, view.n_rows, overrides,
                          view.item_keys, folder)


def compile_for(project: Project, hist: Histories,
                signatures: tuple[Signature, ...] | None = None,
                concepts: ConceptTable | None = None) -> tuple[CompiledLibrary, CatalogView]:
    """Resolve a library (default: the built-in one) against a project's catalog.

    The concepts come from the cache when the histories were cached (the same
    cache folder), else they are resolved here.
    """
    sigs = signatures if signatures is not None else load_library()
    view = catalog_for(project, hist)
    if concepts is None and any(f.uses_concepts for s in sigs for f in s.features):
        cache = hist.info.get("cache_dir")
        concepts, _ = concepts_for(project, view, cache, use_cache=cache is not None)
    library = resolve(sigs, view, hist.item_ids, hist.quantity is not None, concepts)
    if concepts is not None:
        library.warnings.extend(concepts.notes)
        library.warnings.extend(unused_concepts(concepts.vocabulary, sigs))
    return library, view


def scan(project: Project, hist: Histories, signatures: tuple[Signature, ...] | None = None,
         *, as_of: datetime.date | str | None = None,
         progress: Callable[[str], None] | None = None,
         detectors: list | None = None) -> ScanResult:
    """Scan a project's histories with a signature library.

    Parameters
    ----------
    project : Project
        The loaded project (its catalog is used for matching).
    hist : Histories
        The project's histories (``engine.api.load_histories``).
    signatures : tuple of Signature, optional
        The library; the built-in one when omitted.
    as_of : date or ISO string, optional
        Reference date for the stage of estimated events (default: the last
        day in the data).
    progress : callable, optional
        Called with a short message before each stage.
    detectors : list of LearnedDetector, optional
        Learned detectors to run beside the signatures
        (:func:`basketguard.engine.detect.learn.load_detectors`).

    Returns
    -------
    ScanResult

    Raises
    ------
    DataError
        The histories hold no lines.
    ConfigError
        A signature cannot be resolved against the catalog.
    """
    if hist.n_lines == 0:
        raise DataError(f"{project.lines.origin}: no basket lines to scan.")
    t0 = time.perf_counter()
    if progress:
        progress("matching signatures against the catalog")
    library, view = compile_for(project, hist, signatures)
    t1 = time.perf_counter()
    if progress:
        progress(f"scoring {hist.n_lines:,} lines of {hist.n_customers:,} customers")
    _check_names(library, detectors)
    result = _score(project, hist, library, view,
                    None if as_of is None else date_to_day(as_of), None, detectors, progress)
    result.seconds = {"resolve": t1 - t0, **result.seconds}
    return result


def _check_names(library: CompiledLibrary, detectors: list | None) -> None:
    clash = sorted({d.name for d in detectors or ()} & {s.name for s in library.signatures})
    if clash:
        raise ConfigError(f"learned detector {clash[0]!r} has the name of a signature in "
                          "this scan; train it under another --name, or leave the "
                          "signature out (--only).")


def _score(project: Project, hist: Histories, library: CompiledLibrary, view: CatalogView,
           as_of: int | None, last_day: int | None, detectors: list | None,
           progress: Callable[[str], None] | None) -> ScanResult:
    """Signatures (and learned detectors) over one set of histories.

    ``last_day`` is the whole data's last day when ``hist`` is one shard of it:
    the horizon of the signatures and the reference day of learned detectors.
    """
    result = scan_histories_with(hist, library, view, as_of, horizon=last_day)
    if detectors:
        from basketguard.engine.detect.learn import score_learned

        t2 = time.perf_counter()
        concepts = None
        if any(d.feature_spec_["spec"].get("concepts", True) or d.feature_spec_.get("drop_concepts")
               for d in detectors):
            cache = hist.info.get("cache_dir")
            concepts, _ = concepts_for(project, view, cache, use_cache=cache is not None)
        ref = as_of if as_of is not None else last_day
        for det in detectors:
            if progress:
                progress(f"scoring with learned detector {det.name}")
            result.learned.append(score_learned(det, hist, view, concepts, ref))
        result.seconds["learned"] = time.perf_counter() - t2
    result.min_coverage = project.detection.min_coverage
    result.coverage_severity = project.detection.coverage_severity
    return result


def scan_shards(project: Project, shards, signatures: tuple[Signature, ...] | None = None,
                *, as_of: datetime.date | str | None = None,
                progress: Callable[[str], None] | None = None,
                detectors: list | None = None) -> ScanResult:
    """:func:`scan` over out-of-core shards, merged into the in-memory result.

    Each shard (:class:`basketguard.engine.runner.shards.ShardSet`) is loaded
    (or, in a lazily built set, built and scored straight from its build),
    scored with the whole data's horizon and released before the next; the
    partials merge exactly and the customers are put back in the order of the
    in-memory build (ascending id), so the result, its summary and its scores
    table are those of :func:`scan` on the whole histories.

    Raises
    ------
    DataError
        The shards hold no lines, or a shard is damaged on disk.
    """
    from basketguard.engine.runner.partial import merge_all

    if shards.n_lines == 0:
        raise DataError(f"{project.lines.origin}: no basket lines to scan.")
    t0 = time.perf_counter()
    as_day = None if as_of is None else date_to_day(as_of)
    parts: list[ScanResult] = []
    library = view = None
    for i in range(len(shards)):
        hist = shards.take(i)  # a shard of a lazily built set: straight from its build
        if library is None:
            if progress:
                progress("matching signatures against the catalog")
            library, view = compile_for(project, hist, signatures)
            _check_names(library, detectors)
        if progress:
            progress(f"scoring shard {i + 1}/{len(shards)}: {hist.n_lines:,} lines of "
                     f"{hist.n_customers:,} customers")
        part = _score(project, hist, library, view, as_day, shards.last_day, detectors, None)
        parts.append(part)
        del hist
    merged = merge_all(parts)
    out = merged.in_id_order()
    out.seconds = {"shards": time.perf_counter() - t0}
    return out


def _scan_partition(hist: Histories, library: CompiledLibrary, view: CatalogView,
                    as_of: int | None, horizon: int, detectors: list | None,
                    concepts: ConceptTable | None) -> dict[str, Any]:
    """A Dask task: the partial of one partition's histories (aggregates, entries and
    learned scores of its customers; never its lines)."""
    res = scan_histories_with(hist, library, view, as_of, horizon=horizon)
    learned = []
    if detectors:
        from basketguard.engine.detect.learn import score_learned

        for det in detectors:
            x = score_learned(det, hist, view, concepts, as_of if as_of is not None else horizon)
            learned.append((x.scores, x.coverage, x.empty_groups, x.notes, x.top_features))
    return {"customer_ids": res.customer_ids, "n_customers": res.n_customers,
            "n_lines": res.n_lines, "first_day": res.first_day, "last_day": res.last_day,
            "entries": res.entries, "aggregates": res.aggregates, "learned": learned}


def scan_distributed(project: Project, parts, signatures: tuple[Signature, ...] | None = None,
                     *, as_of: datetime.date | str | None = None,
                     progress: Callable[[str], None] | None = None,
                     detectors: list | None = None,
                     cache_dir: str | Path | None = None) -> ScanResult:
    """:func:`scan` over customer-hash partitions on Dask workers, merged on the client.

    ``parts`` is a :class:`basketguard.engine.runner.dask.Partitions`. The
    library is compiled here against the whole source's item dictionary and
    sent to the workers once; each partition is scored where it lives with
    the whole data's horizon; the partials come back and merge exactly, in
    the customer order of one in-memory scan. ``cache_dir`` is where the
    catalog's concept resolution is cached (None: not cached).
    """
    from basketguard.engine.detect.learn import LearnedScores
    from basketguard.engine.runner.partial import merge_all

    if parts.n_lines == 0:
        raise DataError(f"{project.lines.origin}: no basket lines to scan.")
    t0 = time.perf_counter()
    if progress:
        progress("matching signatures against the catalog")
    stand_in = Histories(
        offsets=np.zeros(1, np.int64), item=np.empty(0, np.int32), day=np.empty(0, np.int32),
        basket=np.empty(0, np.int32), customer_ids=pa.array([], pa.int64()),
        item_ids=parts.item_ids,
        quantity=np.empty(0, np.float32) if parts.has_quantity else None)
    if cache_dir is not None:
        stand_in.info["cache_dir"] = str(cache_dir)
    library, view = compile_for(project, stand_in, signatures)
    _check_names(library, detectors)
    concepts = None
    if detectors and any(d.feature_spec_["spec"].get("concepts", True)
                         or d.feature_spec_.get("drop_concepts") for d in detectors):
        concepts, _ = concepts_for(project, view, cache_dir, use_cache=cache_dir is not None)
    as_day = None if as_of is None else date_to_day(as_of)

    def done(k: int, n: int) -> None:
        if progress:
            progress(f"scored partition {k}/{n}")

    raw = parts.map(_scan_partition, library, view, as_day, parts.last_day, detectors,
                    concepts, progress=done)
    partials = []
    for r in raw:
        learned = [LearnedScores(det, *x) for det, x in zip(detectors or (), r["learned"],
                                                             strict=True)]
        partials.append(ScanResult(
            library, view, r["customer_ids"], parts.item_ids, r["n_customers"], r["n_lines"],
            r["first_day"], r["last_day"], r["last_day"] if as_day is None else as_day,
            r["entries"], r["aggregates"], {}, as_day is not None, horizon=parts.last_day,
            learned=learned))
    out = merge_all(partials).in_id_order()
    out.seconds = {"distributed": time.perf_counter() - t0}
    out.min_coverage = project.detection.min_coverage
    out.coverage_severity = project.detection.coverage_severity
    return out
