"""Text renderings of results, for a terminal.

Each function takes the JSON document of one result (the same document
``--json`` prints and ``--out`` writes) and returns its readable text, so
that every format is a view of one document and computing modules never
format text.
"""

from __future__ import annotations

from typing import Any


def profile_text(p: dict[str, Any]) -> str:
    """Readable text of a profile document (:func:`~basketguard.engine.histories.profile.profile_histories`)."""

    def n(x) -> str:
        return f"{x:,}" if isinstance(x, int) else f"{x:,.2f}"

    rows = [
        f"basketguard profile: {p['project']}",
        f"  source            {p['source']}",
        f"  lines             {n(p['lines'])}  (of {n(p['rows_read'])} rows read)",
        f"  customers         {n(p['customers'])}",
        f"  items             {n(p['items'])}",
        f"  baskets           {n(p['baskets'])}"
        + ("  (derived from customer + timestamp)" if p["baskets_derived"] else ""),
    ]
    span = p["time_span"]
    if span:
        rows.append(f"  time span         {span['first_day']} .. {span['last_day']}"
                    f"  ({n(span['days'])} days)")
    for title, key in (("lines / customer", "lines_per_customer"), ("basket size", "basket_size")):
        d = p[key]
        rows.append(
            f"  {title:<17} mean {d['mean']:.2f}  p5 {d['p5']:g}  p25 {d['p25']:g}  "
            f"median {d['p50']:g}  p75 {d['p75']:g}  p95 {d['p95']:g}  p99 {d['p99']:g}  "
            f"max {n(d['max'])}"
        )
    if p["dropped"]:
        rows.append(f"  dropped rows      {n(p['dropped_total'])}")
        for reason, count in sorted(p["dropped"].items(), key=lambda kv: -kv[1]):
            rows.append(f"    {reason:<24} {n(count)}")
    else:
        rows.append("  dropped rows      none")
    dup = p["duplicates"]
    if dup["found"]:
        state = "kept" if dup["kept"] else "dropped"
        rows.append(f"  exact duplicates  {n(dup['found'])} ({state})")
    cat = p.get("catalog")
    if cat:
        rows.append(f"  catalog           {n(cat['catalog_items'])} items; "
                    f"{n(cat['items_in_catalog'])} of the {n(p['items'])} items in the lines "
                    f"are listed ({n(cat['items_missing'])} missing)")
    b = p["build"]
    if b:
        rows.append("  build             " + ", ".join(f"{k}={v}" for k, v in b.items()))
    return "\n".join(rows)


def scan_text(summary: dict[str, Any], max_warnings: int = 5) -> str:
    """Readable text of a scan summary (:meth:`~basketguard.engine.detect.scan.ScanResult.summary`).

    Coverage findings come first: a signature that cannot see its evidence in
    this catalog is never a silent zero. The text fits on one screen; the
    JSON report (``--json``) holds everything.
    """
    lines: list[str] = []
    cov = summary.get("coverage") or {}
    found = cov.get("findings", [])
    if found:
        lines.append(f"Coverage: {len(found)} of {len(cov.get('signatures', []))} signatures "
                     "cannot fully see their evidence in this catalog "
                     "(`basketguard catalog map` shows what matched):")
        lines.extend(f"  {f['severity'].upper():<4} {f['message']}" for f in found)
        lines.append("")
    lines.append(f"Scanned {summary['customers']:,} customers, {summary['lines']:,} lines "
                 f"({summary['first_day']} .. {summary['last_day']}); stages as of "
                 f"{summary['as_of']}.")
    lines.append("")
    seen = {c["signature"]: c for c in cov.get("signatures", [])}
    lines.append(f"{'signature':<28} {'class':<13} {'sees':>5} {'evidence':>9} {'flagged':>8} "
                 f"{'prevalence':>10}  top features at peak")
    for e in summary["signatures"]:
        top = sorted(e["features"], key=lambda f: -f["flagged_with_feature"])[:3]
        tops = ", ".join(f["feature"] for f in top if f["flagged_with_feature"]) or "-"
        prev = f"{100 * e['prevalence']:.2f}%" if e["prevalence"] is not None else "-"
        c = seen.get(e["signature"])
        sees = f"{c['matched']}/{c['features']}" if c else "-"
        lines.append(f"{e['signature']:<28} {e['sensitivity']:<13} {sees:>5} "
                     f"{e['customers_with_evidence']:>9,} {e['customers_flagged']:>8,} "
                     f"{prev:>10}  {tops}")
    learned = summary.get("learned") or []
    if learned:
        lines.append("")
        lines.append(f"{'learned detector':<28} {'class':<13} {'sees':>5} {'CV AUC':>9} "
                     f"{'flagged':>8} {'prevalence':>10}  top features")
        for e in learned:
            prev = f"{100 * e['prevalence']:.2f}%" if e["prevalence"] is not None else "-"
            auc = (e.get("training") or {}).get("roc_auc") or {}
            auc_s = f"{auc['value']:.3f}" if auc.get("value") is not None else "-"
            tops = ", ".join(t["title"] for t in e["top_features"][:3]) or "-"
            lines.append(f"{e['detector']:<28} {e['sensitivity']:<13} "
                         f"{round(100 * e['coverage']):>4}% {auc_s:>9} "
                         f"{e['customers_flagged']:>8,} {prev:>10}  {tops}")
    for e in summary["signatures"]:
        ev = e.get("event")
        if ev and ev["flagged_with_estimate"]:
            stages = ", ".join(f"{k}: {v}" for k, v in ev["stage_at_as_of"].items())
            lines.append(f"\n{e['signature']}: {ev['name']} estimated for "
                         f"{ev['flagged_with_estimate']:,} flagged customers; {stages}")
    prods = [e for e in summary["signatures"] if e["top_products"] and e["customers_flagged"]]
    if prods:
        lines.append("\nProducts most common in flagged customers' peak windows:")
        for e in prods:
            lines.append(f"  {e['signature']}: " + "; ".join(
                f"{p['product']} ({p['flagged_customers']})" for p in e["top_products"][:3]))
    warnings = summary["warnings"]
    if warnings:
        lines.append("\nWarnings:")
        lines.extend(f"  - {w}" for w in warnings[:max_warnings])
        if len(warnings) > max_warnings:
            lines.append(f"  ({len(warnings) - max_warnings} more in the JSON report, --json)")
    return "\n".join(lines)


def assess_text(doc: dict[str, Any]) -> str:
    """Readable text of an assessment (:meth:`~basketguard.engine.reid.assess.AssessResult.to_dict`)."""
    seg = doc["segment"]
    lines = [f"Segment: {seg.get('members', 0):,} members ({seg.get('source', 'given')}) "
             f"against {seg.get('customer_base', 0):,} customers.  Overall: "
             f"{doc['severity'].upper()}", ""]
    for f in doc.get("coverage") or []:
        lines.append(f"NOTE  {f['check']}: {f['explanation']}")
    if doc.get("coverage"):
        lines.append("      (coverage is context, not part of the verdict: the checks of these "
                     "inferences pass only because they cannot be seen)")
    for f in doc["findings"]:
        v = f.get("value")
        val = "-" if v is None else f"{v:.4g}"
        low, high = f.get("interval") or (None, None)
        if low is not None and high is not None:  # null: could not be measured
            val += f" [{low:.3g}, {high:.3g}]"
        thr = ""
        if f["threshold"] is not None:
            below = v is not None and v < f["threshold"]
            thr = (f" (over the warning level; fails at {f['threshold']:g})"
                   if f["severity"] == "warn" and below else f" (threshold {f['threshold']:g})")
        lines.append(f"{f['severity'].upper():<5} {f['check']:<34} {val}{thr}")
        lines.append(f"      {f['metric']}. {f['explanation']}")
    if doc["skipped"]:
        lines.append("")
        lines.extend(f"skipped: {s}" for s in doc["skipped"])
    return "\n".join(lines)


def _value(f: dict[str, Any]) -> str:
    v = f.get("value")
    return "-" if v is None else f"{v:.4g}"


def plan_text(doc: dict[str, Any]) -> str:
    """Readable text of a plan (:meth:`~basketguard.engine.mitigate.plan.Plan.to_dict`)."""
    seg, act, cost = doc["segment"], doc["actions"], doc["cost"]
    verdict = doc["severity"].upper() if doc["verified"] else "FAIL"
    lines = [f"Segment: {seg.get('members', 0):,} members ({seg.get('source', 'given')}) "
             f"against {seg.get('customer_base', 0):,} customers.",
             f"Plan verified by measuring the amended mailing again: {verdict}", "",
             "Actions"]
    lines.append(f"  opted-out members removed   {act['opted_out_members_removed']:,}")
    lines.append(f"  targets suppressed          {act['targets_suppressed']:,} "
                 f"(reach lost {100 * act['reach_lost']:.1f}%)")
    matched = ", ".join(f"{k}: {v:,}" for k, v in act["decoys_matched_at"].items()) or "-"
    bal = act["balance"]
    smd = bal.get("max_abs_smd")
    lines.append(f"  decoy recipients added      {act['decoys_added']:,} of "
                 f"{act['decoy_candidates']:,} candidates (matched on {matched}; max |SMD| "
                 f"{'-' if smd is None else f'{smd:.3f}'}"
                 f"{', balanced' if bal.get('balanced') else ''})")
    gen = act.get("generalization")
    if gen:
        steps = ", ".join(f"{a} -> level {lv}" for a, lv in gen.get("levels", {}).items() if lv)
        lines.append(f"  generalization              {steps or 'none needed'} "
                     f"(loss {gen.get('loss', 0):.3f})")
    offer = act.get("offer")
    if offer:
        sup = offer.get("suppressed")
        if sup:
            lines.append(f"  offer items removed         {sup.get('removed_items', 0)} of "
                         f"{sup.get('offer_items', 0)} (they signal "
                         f"{', '.join(sup.get('sensitivities', []))})")
        cover = offer.get("content_cover")
        if cover:
            before, after = cover.get("divergence_before"), cover.get("divergence_after")
            lines.append(f"  filler offers proposed      {cover.get('fillers', 0)} (content "
                         f"cover: divergence from a generic mailer {before:.3f} -> {after:.3f})"
                         if before is not None and after is not None else
                         f"  filler offers proposed      {cover.get('fillers', 0)}")
    lines.append(f"  recipients                  {act['recipients']:,}")
    lines.append(f"Cost {cost['total']:.1f} (lost targets {cost['lost_targets']:.1f}, decoys "
                 f"{cost['decoys']:.1f}, generalization {cost['generalization']:.1f})")
    lines += ["", f"{'check':<40} {'before':>10} {'after':>10}  limit"]
    before = {f["check"]: f for f in doc["before"]["findings"]}
    for f in doc["verification"]["findings"]:
        if f["severity"] == "info":
            continue
        b = before.get(f["check"])
        limit = "-" if f["threshold"] is None else f"{f['threshold']:g}"
        lines.append(f"{f['check']:<40} {(_value(b) if b else '-'):>10} {_value(f):>10}  "
                     f"{limit}  {f['severity'].upper()}")
    if doc["binding"]:
        lines += ["", "Binding (no plan met these with the mitigations allowed):"]
        lines += [f"  {b['check']}: {b['why']}" for b in doc["binding"]]
    lines += ["", *doc["notes"]]
    return "\n".join(lines)


def gate_text(doc: dict[str, Any]) -> str:
    """Readable text of a gate report (:meth:`~basketguard.engine.gate.gate.GateResult.to_dict`):
    the verdict and the checks table, no customer id ever."""
    seg = doc["segment"]
    lines = [f"Gate {doc['project']}: {seg['members']:,} members ({seg['source']}) against "
             f"{seg['customer_base']:,} customers; policy {doc['policy']['origin']}.", ""]
    rows = [(c["name"], c["status"].upper(), _check_value(c["value"]),
             "-" if c["threshold"] is None else
             f"{'<=' if c['direction'] == 'max' else '>='} {c['threshold']:g}")
            for c in doc["checks"]]
    head = ("check", "status", "value", "threshold")
    width = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for r in [head, *rows]:
        lines.append(f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:>{width[2]}}  {r[3]}")
    n = doc["counts"]
    lines += ["", f"Verdict: {doc['verdict'].upper()} ({n['pass']} pass, {n['warn']} warn, "
                  f"{n['fail']} fail of {n['checks']} checks; --fail-on {doc['fail_on']}; "
                  f"exit {doc['exit_code']})"]
    failing = [c for c in doc["checks"] if c["status"] != "pass"]
    if failing:
        lines += ["", *(f"  {c['name']}: {c['message']}" for c in failing)]
    plan = doc.get("plan")
    if plan is not None:
        met = "verified, meets the policy" if plan["verified"] else "no plan met the policy"
        lines += ["", f"Plan: {met}; {plan['actions']['decoys_added']:,} decoys, "
                      f"{plan['actions']['targets_suppressed']:,} targets suppressed, "
                      f"{plan['actions']['recipients']:,} recipients."]
    if doc["notes"]:
        lines += ["", *doc["notes"]]
    return "\n".join(lines)


def _check_value(v: float | None) -> str:
    return "not finite" if v is None else f"{v:.4g}"


def learn_text(doc: dict[str, Any], top: int = 15) -> str:
    """Readable text of a training report (:meth:`~basketguard.engine.detect.learn.LearnResult.summary`)."""
    det, tgt, m = doc["detector"], doc["target"], doc["detector"]["metrics"]
    auc, ap = m["roc_auc"], m["pr_auc"]

    def iv(x: dict[str, Any]) -> str:
        if x.get("value") is None:
            return "-"
        return f"{x['value']:.3f} [{x['low']:.3f}, {x['high']:.3f}]"

    lines = [f"Learned detector {det['name']!r} ({det['title']}) from {tgt['source']}:",
             f"  {tgt['positives']:,} positive and {tgt['negatives']:,} negative customers"
             + (f", {tgt['left_out']:,} left out" if tgt["left_out"] else "")
             + (f"; {tgt['dropped_items']:,} items removed from the features"
                if tgt["dropped_items"] else "") + ".",
             f"  {doc['features']['groups']:,} feature groups "
             f"({', '.join(f'{v} {k}' for k, v in doc['features']['groups_by_kind'].items())}), "
             f"{doc['features']['columns']:,} columns.",
             f"  {m['folds']}-fold cross-validation: ROC AUC {iv(auc)}, PR AUC {iv(ap)} "
             f"(base rate {m['base_rate']:.4f}), precision at recall 0.5 "
             f"{m['precision_at_recall_0.5']:.3f}.",
             "", "Features carrying the model (share of gain):"]
    lines.extend(f"  {t['share_of_gain']:>6.1%}  {t['title']}" for t in doc["top_features"][:10])
    px = doc["proxies"]
    lines += ["", f"Proxies: {px['significant']:,} of {px['tested']:,} item groups are "
                  "significantly associated with the label (Benjamini-Hochberg q <= alpha); "
                  "the strongest:",
              f"  {'group':<44} {'lift':>7} {'pos %':>6} {'neg %':>6} {'q-value':>9}"]
    for r in px["top"][:top]:
        lift = f"{r['lift']:.2f}" if r["lift"] is not None else "-"
        q = f"{r['q_value']:.1e}" if r["q_value"] is not None else "-"
        lines.append(f"  {r['title'][:44]:<44} {lift:>7} {100 * (r['support_pos'] or 0):>5.1f}% "
                     f"{100 * (r['support_neg'] or 0):>5.1f}% {q:>9}")
    for w in tgt["warnings"]:
        lines.append(f"\nwarning: {w}")
    if doc.get("out"):
        lines.append(f"\nWrote {doc['out']} (model.txt, detector.json, proxies.parquet, "
                     "signature.toml).")
    return "\n".join(lines)
