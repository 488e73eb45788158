"""Measuring a mailing against a policy: the same function before a plan and after it.

:func:`measure` computes every risk measure the policy names from the mailing
itself (its recipients, the generalization of its exported attributes, its
offer) and judges each against the policy. The optimizer calls it on the
segment as given ("before") and on the amended segment ("verification"), so a
plan is verified by measuring again, never by copying what the optimizer
predicted. Decoys are recomputed as the recipients that are not members of
the original segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from basketguard.engine.config.policy import Policy
from basketguard.engine.detect.compile import CatalogView, CompiledLibrary
from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Estimate, Finding, Severity, Threshold, worst
from basketguard.engine.histories.build import Histories
from basketguard.engine.mitigate.inference import (
    COVER_NOTE,
    DecoySchedule,
    EventProbabilities,
    EventRisk,
    audience_finding,
    inference_findings,
    mailing_risk,
)


@dataclass
class MailingContext:
    """Everything a mailing is measured against (loaded once, shared by every measure).

    Attributes
    ----------
    hist : Histories
        The whole customer base.
    probs : EventProbabilities
        Per-customer probabilities of the sensitive events.
    policy : Policy
    customers : pyarrow.Table or None
        ``customer`` plus attribute columns (for classes and decoy strata).
    view : CatalogView
    library : CompiledLibrary or None
        The detectors resolved against the catalog (for the offer's content).
    opt_out : numpy.ndarray or None
        Codes of customers who opted out; None when no list was given.
    mailings : int
        Repeated mailings to tabulate.
    seed, draws : int
        Unicity draws (and decoy order in the optimizer).
    coverage : tuple of Finding
        When the probabilities come from the signature scan: the signatures this
        catalog does not let see their evidence (``coverage.*`` findings). Their
        posteriors look safe because nothing can be detected, so every measure
        of the mailing carries them.
    """

    hist: Histories
    probs: EventProbabilities
    policy: Policy
    customers: pa.Table | None
    view: CatalogView
    library: CompiledLibrary | None = None
    opt_out: np.ndarray | None = None
    mailings: int = 6
    seed: int = 0
    draws: int = 10
    coverage: tuple[Finding, ...] = ()
    _unicity_index: Any = field(default=None, repr=False)
    #: per-customer shares of unique draws already drawn (``done``, ``risk``): the
    #: optimizer's cache across its rounds, never used by verification
    unicity_cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def unicity_index(self):
        from basketguard.engine.reid.unicity import build_point_index

        if self._unicity_index is None:
            self._unicity_index = build_point_index(self.hist, self.policy.unicity_points)
        return self._unicity_index


@dataclass
class Measurement:
    """A mailing's measured risks, judged against the policy."""

    recipients: int
    decoys: int
    findings: list[Finding]
    risks: list[EventRisk]

    @property
    def severity(self) -> Severity:
        """The worst finding about the mailing itself. Coverage findings (what the
        catalog lets the detectors see) are context that no mitigation can change, so
        they are reported with the measure but do not judge it."""
        return worst(f.severity for f in self.findings if not f.check.startswith("coverage."))

    @property
    def passes(self) -> bool:
        """No finding about the mailing fails (warnings allowed)."""
        return self.severity != Severity.FAIL

    def value(self, check: str) -> float | None:
        for f in self.findings:
            if f.check == check:
                return f.estimate.value
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"recipients": self.recipients, "decoys": self.decoys,
                "severity": self.severity.value, "passes": self.passes,
                "findings": [f.to_dict() for f in self.findings],
                "events": [r.to_dict() for r in self.risks],
                "content_vs_recipient_cover": COVER_NOTE}


def class_sizes(ctx: MailingContext, recipients: np.ndarray,
                hierarchies: dict[str, dict[str, str]] | None) -> Any:
    """Attribute-class risks of the recipients (``reid.classes.assess_classes``)."""
    from basketguard.engine.reid.classes import ClassPolicy, assess_classes

    k = int(ctx.policy.min_k.limit) if ctx.policy.min_k is not None else 2
    ids = ctx.hist.customer_ids.take(pa.array(np.asarray(recipients, np.int64)))
    attrs = list(ctx.policy.attributes) if ctx.policy.attributes is not None else None
    return assess_classes(ctx.customers, ids, attributes=attrs, hierarchies=hierarchies,
                          policy=ClassPolicy(k=max(k, 1)))


def measure(ctx: MailingContext, recipients: np.ndarray, *, members: np.ndarray,
            hierarchies: dict[str, dict[str, str]] | None = None,
            offer: np.ndarray | None = None, schedule: DecoySchedule | None = None,
            ) -> Measurement:
    """Every policy measure of a mailing, recomputed from the mailing itself.

    Parameters
    ----------
    ctx : MailingContext
    recipients : numpy.ndarray
        Customer codes receiving the mailing (distinct).
    members : numpy.ndarray
        Codes of the original segment; recipients outside it count as decoys.
    hierarchies : dict, optional
        Generalization of the exported attributes (attribute -> value -> exported value).
    offer : numpy.ndarray, optional
        Item codes of the offer (for the content checks).
    schedule : DecoySchedule, optional
        The pool fresh decoys would come from (repeated-mailing table).

    Returns
    -------
    Measurement
    """
    pol = ctx.policy
    r = np.unique(np.asarray(recipients, np.int64))
    decoys = np.setdiff1d(r, np.asarray(members, np.int64))
    findings: list[Finding] = [audience_finding(int(r.size), pol)]
    if ctx.opt_out is not None:
        bad = int(np.isin(r, ctx.opt_out).sum())
        findings.append(Finding.judged(
            "mailing.opt_out", "opted-out customers among the recipients", Estimate(float(bad)),
            Threshold(None, 0.0),
            f"{bad:,} of {r.size:,} recipients opted out of personalized mailings.",
            {"opted_out_recipients": bad, "opt_out_list": int(ctx.opt_out.size)}))
    elif pol.require_opt_out:
        findings.append(Finding(
            "mailing.opt_out", "opted-out customers among the recipients", Estimate(float("nan")),
            Threshold(None, 0.0), Severity.FAIL,
            "The policy requires an opt-out list and none was given (--opt-out FILE or an "
            "[opt_out] table).", {"opt_out_list": None}))
    risks = mailing_risk(ctx.probs, r, decoys=decoys, schedule=schedule, mailings=ctx.mailings)
    findings.extend(inference_findings(risks, pol))
    if pol.min_k is not None and ctx.customers is None:
        raise ConfigError("the policy sets min_k but the project has no [customers] table "
                          "with the exported attributes; add one or drop min_k.")
    if ctx.customers is not None and (pol.min_k is not None or pol.attributes is None
                                      or len(pol.attributes)):
        # decoys and suppression change the classes: measured even when the policy
        # sets no min_k (informational then)
        if r.size:
            res = class_sizes(ctx, r, hierarchies)
            scopes = {"segment": res.segment, "population": res.population}
            for scope in (("segment", "population") if pol.k_scope == "both"
                          or pol.min_k is None else (pol.k_scope,)):
                s = scopes[scope]
                where = "within the mailing" if scope == "segment" else "among all customers"
                findings.append(Finding.judged(
                    f"reid.min_k.{scope}", f"smallest attribute class {where}",
                    Estimate(float(s.min_k)), pol.min_k,
                    f"On {', '.join(res.attributes)}, the smallest class {where} holds "
                    f"{s.min_k} customer(s); {s.small_records} recipient(s) sit in classes "
                    f"below k = {s.k}.",
                    {"small_members": int(s.small_records),
                     "generalized": sorted(hierarchies or {})}))
    if pol.max_unicity is not None:
        from basketguard.engine.reid.unicity import unicity

        p = pol.unicity_p
        if r.size:
            u = unicity(ctx.hist, r, points=pol.unicity_points, p_max=p, draws=ctx.draws,
                        seed=ctx.seed, index=ctx.unicity_index())
            est = u.unicity[p - 1]
        else:  # nobody to single out: nothing measured
            est = Estimate(float("nan"))
        findings.append(Finding.judged(
            "reid.unicity", f"share of recipients unique from {p} known "
                            f"({pol.unicity_points}) points", est, pol.max_unicity,
            f"Drawing {p} of a recipient's own ({pol.unicity_points}) points, "
            f"{_pct(est.value)} of draws single them out among all customers.",
            {"p": p, "points": pol.unicity_points, "draws": ctx.draws}))
    if offer is not None and ctx.library is not None:
        findings.extend(content_findings(ctx, offer))
    findings.extend(ctx.coverage)
    return Measurement(int(r.size), int(decoys.size), findings, risks)


def content_findings(ctx: MailingContext, offer: np.ndarray) -> list[Finding]:
    """What the offer's content says: ``content.signals.<detector>`` per detector its
    items belong to (judged only for the policy's ``no_signal`` classes; otherwise
    informational, with the signal level in ``details["signal"]``), and
    ``content.no_signal`` when the policy names classes."""
    from basketguard.engine.mitigate.content import offer_signals, suppress_offer_items

    signals = offer_signals(np.asarray(offer, np.int32), ctx.library)
    out = []
    banned = set(ctx.policy.no_signal)
    if banned:
        hits = sorted({s.signature for s in signals.signatures
                       if s.verdict == "announces" and s.sensitivity in banned})
        items = suppress_offer_items(np.asarray(offer, np.int32), ctx.library,
                                     sensitivities=sorted(banned)).removed
        out.append(Finding.judged(
            "content.no_signal", "offer items that signal a forbidden sensitivity class",
            Estimate(float(len(items))), Threshold(None, 0.0),
            (f"{len(items)} offer item(s) belong to features of {', '.join(hits)}; the policy "
             f"forbids offers that signal {', '.join(sorted(banned))}." if len(items) else
             f"No offer item signals {', '.join(sorted(banned))}."),
            {"classes": sorted(banned), "signatures": hits}))
    for f in signals.findings():
        # what the content says is a policy check only for the classes in no_signal
        # (content.no_signal above); otherwise it is reported, not judged
        cls = f.details.get("sensitivity")
        if cls in banned and f.severity in (Severity.WARN, Severity.FAIL):
            f = Finding(f.check, f.metric, f.estimate, f.threshold, Severity.FAIL,
                        f.explanation + f" The policy forbids offers that signal {cls}.",
                        f.details)
        elif cls not in banned:
            f = Finding(f.check, f.metric, f.estimate, None, Severity.INFO, f.explanation,
                        {**f.details, "signal": f.severity.value})
        out.append(f)
    return out


def _pct(x: float) -> str:
    return "n/a" if x != x else f"{100 * x:.3g}%"
