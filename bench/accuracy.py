"""Accuracy of the built-in signatures on simulator truth (regenerates docs/accuracy.md).

The simulator plants life events with known onset and event dates
(``truth.parquet``); each built-in signature is scored against the planted
event it detects, on populations of each simulator profile (``--profile``:
``hard``, ``realistic`` or ``both``; docs/simulator.md). Seeds are split:
``--tune-seed`` of the ``realistic`` profile is the population the links are
calibrated on (``--calibrate`` refits them and rewrites the ``[link]`` tables
of the built-in files); the reported figures come from the ``--eval-seeds``
populations, which the signatures were not tuned on.
Calibration fits, on the tuning seed only: each stage feature's typical first
purchase day relative to the true event date (``stage_day``, median over planted
customers whose window is not cut by the period's edges) and its spread
(1.4826 MAD), then the logistic link of every signature.

Metrics per signature and seed:

- AUC: probability that a random customer with the event scores above a
  random customer without it (ties count one half), over every customer with
  purchases (customers without evidence score 0).
- Precision at recall 0.5: precision at the highest score threshold that
  recovers half of the planted customers.
- Recall and precision at the signature's own threshold (its flagged customers).
- For signatures that estimate an event date (pregnancy: the due date): the
  median absolute error in days over flagged true positives with an estimate,
  and the share whose true date lies inside the reported interval.

Usage::

    python bench/accuracy.py                  # evaluate, print and write docs/accuracy.md
    python bench/accuracy.py --calibrate      # refit links on the tuning seed first
    python bench/accuracy.py --profile realistic --customers 20000 --out /tmp/acc.md
"""

from __future__ import annotations

import argparse
import datetime
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from basketguard.engine.api import load_histories
from basketguard.engine.config.project import load_project
from basketguard.engine.detect.scan import scan
from basketguard.kernels.windows import NO_DAY
from basketguard.models.signatures.schema import BUILTIN_DIR, load_library
from basketguard.models.simulator.run import SimConfig, simulate

ROOT = Path(__file__).resolve().parent.parent
#: Profile whose tuning seed the links are calibrated on.
CALIBRATION_PROFILE = "realistic"
#: Signature -> the simulator event it detects (None: not planted by the simulator).
EVENT_OF = {
    "pregnancy": "pregnancy",
    "new_baby": "new_baby",
    "diabetes": "diabetes_onset",
    "smoking_cessation": "smoking_cessation",
    "incontinence": "incontinence",
    "kosher_diet": "kosher_diet",
    "halal_diet": "halal_diet",
    "alcohol_dependence": "alcohol_dependence",
    "financial_distress": "financial_distress",
    "contraception_sexual_health": None,
}
#: Truth column holding the date a signature's event estimate targets (default event_date).
DATE_OF = {"new_baby": "onset_date"}  # the simulator's onset of new_baby is the birth
_EPOCH = datetime.date(1970, 1, 1)


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mann-Whitney AUC with average ranks for ties."""
    pos = labels.sum()
    neg = labels.size - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    ranks = np.empty(s.size)
    start = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    ends = np.r_[start[1:], s.size]
    avg = (start + ends + 1) / 2.0  # 1-based average rank of each tie group
    ranks[order] = np.repeat(avg, ends - start)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def precision_at_recall(scores: np.ndarray, labels: np.ndarray, recall: float) -> float:
    """Precision at the highest threshold whose recall reaches ``recall`` (ties included)."""
    pos = labels.sum()
    if pos == 0:
        return float("nan")
    uniq = np.unique(scores)[::-1]
    for thr in uniq:
        sel = scores >= thr
        tp = (sel & labels).sum()
        if tp >= recall * pos:
            return float(tp / sel.sum())
    return float(pos / labels.size)


def population(seed: int, customers: int, root: Path, profile: str = "hard") -> Path:
    """Project file of a population (generated once, then reused from ``root``)."""
    prefix = "" if profile == "hard" else f"{profile}-"  # hard keeps its older folder names
    out = root / f"{prefix}seed{seed}-{customers}"
    if not (out / "project.toml").exists():
        simulate(SimConfig(customers=customers, seed=seed, profile=profile), out)
    return out / "project.toml"


def evaluate(project_path: Path, cache: Path, sigs) -> tuple[dict, dict]:
    """Scores, labels and event-date errors per signature for one population."""
    project = load_project(project_path)
    hist = load_histories(project, cache_dir=cache)
    result = scan(project, hist, sigs)
    truth = pq.read_table(project_path.parent / "truth.parquet").to_pydict()
    ids = np.asarray(hist.customer_ids.to_numpy(zero_copy_only=False))
    metrics, raw = {}, {}
    for s, sig in enumerate(result.signatures):
        event = EVENT_OF.get(sig.name)
        scores = result.dense_scores(sig.name)
        row = {"evidence": int((scores > 0).sum()), "flagged": int(
            (scores >= sig.score_threshold).sum())}
        if event is None:
            metrics[sig.name] = row | {"event": None}
            continue
        who = np.asarray([c for c, e in zip(truth["customer_id"], truth["event"], strict=True)
                          if e == event], np.int64)
        pos = np.searchsorted(ids, who)
        ok = (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == who)
        labels = np.zeros(result.n_customers, bool)
        labels[pos[ok]] = True
        flagged = scores >= sig.score_threshold
        row |= {"event": event, "positives": int(labels.sum()),
                "auc": auc(scores, labels),
                "precision_at_recall_0.5": precision_at_recall(scores, labels, 0.5),
                "recall": float((flagged & labels).sum() / max(labels.sum(), 1)),
                "precision": float((flagged & labels).sum() / max(flagged.sum(), 1))}
        raw[sig.name] = (scores, labels)
        if sig.has_stages:
            dates = {c: d for c, e, d in zip(truth["customer_id"], truth["event"],
                                             truth[DATE_OF.get(event, "event_date")],
                                             strict=True)
                     if e == event and d is not None}
            e = result.entries
            sel = (e["signature"] == s) & (e["score"] >= sig.score_threshold) & \
                  (e["event_day"] != NO_DAY)
            errs, inside = [], []
            for c, ev, lo, hi in zip(e["customer"][sel], e["event_day"][sel],
                                     e["event_low"][sel], e["event_high"][sel], strict=True):
                true = dates.get(int(ids[c]))
                if true is None:
                    continue
                td = (true - _EPOCH).days
                errs.append(abs(int(ev) - td))
                inside.append(lo <= td <= hi)
            row |= {"dated_true_positives": len(errs),
                    "median_abs_date_error_days": float(np.median(errs)) if errs else None,
                    "interval_coverage": float(np.mean(inside)) if inside else None}
        metrics[sig.name] = row
    return metrics, raw


def fit_logistic(scores: np.ndarray, labels: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """Maximum-likelihood (intercept, slope) of P(label) = logistic(a + b * score), by Newton."""
    x = np.stack([np.ones_like(scores), scores], axis=1)
    beta = np.array([np.log(max(labels.mean(), 1e-6) / max(1 - labels.mean(), 1e-6)), 0.5])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        w = p * (1 - p) + 1e-9
        grad = x.T @ (labels - p)
        hess = (x * w[:, None]).T @ x + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def fit_stages(project_path: Path, cache: Path, sig, event: str, margin: int = 90,
               min_customers: int = 20) -> dict[str, tuple[int, int]]:
    """Typical first-purchase day of each stage feature relative to the true event date.

    For planted customers whose window ``stage_day +- margin`` around their event
    lies inside the data (so the first purchase is not censored by the period's
    edges), the first matching purchase in that window minus the event date;
    returns ``{feature: (median, max(7, round(1.4826 * MAD)))}`` for features
    with at least ``min_customers`` such customers.
    """
    from basketguard.engine.detect.scan import compile_for

    project = load_project(project_path)
    hist = load_histories(project, cache_dir=cache)
    compiled, _ = compile_for(project, hist, (sig,))
    truth = pq.read_table(project_path.parent / "truth.parquet").to_pydict()
    ids = np.asarray(hist.customer_ids.to_numpy(zero_copy_only=False))
    events = [(c, (d - _EPOCH).days) for c, e, d in zip(
        truth["customer_id"], truth["event"], truth[DATE_OF.get(event, "event_date")],
        strict=True)
        if e == event and d is not None]
    ev_day = np.full(hist.n_customers, np.iinfo(np.int32).min, np.int64)
    if events:
        who = np.asarray([c for c, _ in events], np.int64)
        pos = np.searchsorted(ids, who)
        ok = (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == who)
        ev_day[pos[ok]] = np.asarray([d for _, d in events], np.int64)[ok]
    d0, d1 = int(hist.day.min()), int(hist.day.max())
    cust = np.repeat(np.arange(hist.n_customers), np.diff(hist.offsets))
    out = {}
    for feat, match in zip(sig.features, compiled.features, strict=True):
        if feat.stage_day is None:
            continue
        s = feat.stage_day
        valid = (ev_day > np.iinfo(np.int32).min) & (ev_day + s - margin >= d0) & \
                (ev_day + s + margin <= d1)
        sel = np.isin(hist.item, match.items) & valid[cust]
        c = cust[sel]
        rel = hist.day[sel].astype(np.int64) - ev_day[c]
        inside = (rel >= s - margin) & (rel <= s + margin)
        c, rel = c[inside], rel[inside]
        first = rel[np.unique(c, return_index=True)[1]]  # lines are in day order
        if first.size >= min_customers:
            med = float(np.median(first))
            mad = float(np.median(np.abs(first - med)))
            out[feat.name] = (int(round(med)), max(7, int(round(1.4826 * mad))))
    return out


def rewrite_stages(path: Path, fitted: dict[str, tuple[int, int]]) -> None:
    """Replace stage_day / stage_spread of the named features in a signature file."""
    text = path.read_text()
    blocks = text.split("[[feature]]")
    for i in range(1, len(blocks)):
        m = re.search(r'^name = "([a-z0-9_]+)"', blocks[i], re.M)
        if m and m.group(1) in fitted:
            day, spread = fitted[m.group(1)]
            blocks[i] = re.sub(r"^stage_day = -?\d+$", f"stage_day = {day}", blocks[i],
                               flags=re.M)
            blocks[i] = re.sub(r"^stage_spread = \d+$", f"stage_spread = {spread}",
                               blocks[i], flags=re.M)
    path.write_text("[[feature]]".join(blocks))


def rewrite_link(path: Path, intercept: float, slope: float, note: str) -> None:
    """Replace the [link] table's values in a signature file, keeping everything else."""
    text = path.read_text()
    # the table header on a line of its own: "[link]" also occurs in comments
    header = re.search(r"^\[link\][ \t]*$", text, re.M)
    if header is None:
        raise SystemExit(f"{path}: no [link] table")
    head, rest = text[:header.end()], text[header.end():]
    nxt = re.search(r"^\[", rest, re.M)
    tail = "\n" + rest[nxt.start():] if nxt else ""
    new_body = (f"\nintercept = {intercept:.4f}\nslope = {slope:.4f}\n"
                f"calibrated_on = \"{note}\"\n")
    path.write_text(head + new_body + tail)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--tune-seed", type=int, default=101)
    ap.add_argument("--eval-seeds", type=int, nargs="+", default=[7, 8])
    ap.add_argument("--profile", choices=("hard", "realistic", "both"), default="both",
                    help="simulator profile(s) to evaluate on (default both)")
    ap.add_argument("--calibrate", action="store_true",
                    help="refit the stage offsets and links of the built-in signatures on the "
                         f"{CALIBRATION_PROFILE} profile's tuning seed and rewrite their files")
    ap.add_argument("--only", nargs="+", help="evaluate only these signatures")
    ap.add_argument("--data", type=Path, default=Path("/tmp/basketguard-accuracy"))
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "accuracy.md")
    args = ap.parse_args(argv)
    profiles = ("hard", "realistic") if args.profile == "both" else (args.profile,)
    cache = args.data / "cache"
    sigs = load_library(only=args.only)
    if args.calibrate:
        proj = population(args.tune_seed, args.customers, args.data, CALIBRATION_PROFILE)
        note = (f"simulator seed {args.tune_seed}, {CALIBRATION_PROFILE} profile, "
                f"{args.customers} customers (bench/accuracy.py --calibrate)")
        for sig in sigs:
            if sig.has_stages and EVENT_OF.get(sig.name):
                fitted = fit_stages(proj, cache, sig, EVENT_OF[sig.name])
                rewrite_stages(BUILTIN_DIR / f"{sig.name}.toml", fitted)
                print(f"{sig.name}: stage offsets {fitted}", file=sys.stderr)
        sigs = load_library(only=args.only)
        _, raw = evaluate(proj, cache, sigs)
        for sig in sigs:
            if sig.name in raw:
                a, b = fit_logistic(*raw[sig.name])
                rewrite_link(BUILTIN_DIR / f"{sig.name}.toml", a, b, note)
                print(f"{sig.name}: intercept {a:.4f} slope {b:.4f}", file=sys.stderr)
        sigs = load_library(only=args.only)
    t0 = time.perf_counter()
    results = {prof: {seed: evaluate(population(seed, args.customers, args.data, prof), cache,
                                     sigs)[0]
                      for seed in args.eval_seeds}
               for prof in profiles}
    calibrated = (f"links calibrated on seed {args.tune_seed} of the {CALIBRATION_PROFILE} "
                  "profile (`--calibrate`)" if args.calibrate else
                  "links as found in the signature files (their `calibrated_on` says where "
                  f"they were fitted; `--calibrate` refits them on seed {args.tune_seed} of the "
                  f"{CALIBRATION_PROFILE} profile)")
    lines = [
        "# Accuracy of the built-in signatures on simulator truth",
        "",
        f"Regenerate with `python bench/accuracy.py` (this file was written on "
        f"{datetime.date.today().isoformat()}, {platform.python_version()}, "
        f"{time.perf_counter() - t0:.0f} s). Populations of {args.customers:,} simulated "
        f"customers (one year, `SimConfig(profile=...)` otherwise default) of the "
        f"{' and '.join(f'`{p}`' for p in profiles)} profile"
        f"{'s' if len(profiles) > 1 else ''} ([simulator.md](simulator.md#profiles-and-where-"
        f"their-rates-come-from)); {calibrated}; figures below from seeds "
        f"{', '.join(map(str, args.eval_seeds))}, which the signatures were not tuned on. "
        "Customers with no purchases are not "
        "scored; every scored customer without the planted event is a negative, "
        "including those planted with a confounder (other reasons to buy the same products).",
    ]

    def f(x, fmt="{:.3f}"):
        return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else fmt.format(x)

    for prof in profiles:
        lines += [
            "",
            f"## Profile `{prof}`",
            "",
            "| signature | seed | positives | AUC | precision @ recall 0.5 | flagged | recall | "
            "precision | date error (median days) | interval coverage |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for sig in sigs:
            for seed in args.eval_seeds:
                m = results[prof][seed][sig.name]
                if m.get("event") is None:
                    lines.append(f"| {sig.name} | {seed} | not planted | - | - | "
                                 f"{m['flagged']:,} | - | - | - | - |")
                    continue
                lines.append(
                    f"| {sig.name} | {seed} | {m['positives']:,} | {f(m['auc'])} | "
                    f"{f(m['precision_at_recall_0.5'])} | {m['flagged']:,} | {f(m['recall'])} | "
                    f"{f(m['precision'])} | "
                    f"{f(m.get('median_abs_date_error_days'), '{:.1f}')} | "
                    f"{f(m.get('interval_coverage'))} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
