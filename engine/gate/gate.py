"""Policy checks of a mailing, and the verdict that decides whether it ships.

:func:`evaluate` measures a segment (and its offer) with
:func:`basketguard.engine.mitigate.verify.measure`, the function ``recommend``
verifies its plans with, and turns every limit of the policy into one
:class:`GateCheck`, in a fixed order:

- ``max_posterior:<event>`` (``policy.max_posterior_by.<class>``, else
  ``policy.max_posterior``; max), one per event whose class has a limit;
- ``max_epsilon:<event>`` (``policy.max_epsilon``; max), one per event;
- ``min_k:segment`` / ``min_k:population`` (``policy.min_k``, scopes from
  ``k_scope``; min);
- ``max_unicity`` (``policy.max_unicity``; max);
- ``min_audience`` (``policy.min_audience``; min);
- ``require_opt_out`` (``policy.require_opt_out``; opted-out recipients, at most 0),
  or ``opt_out`` (key ``opt_out``) when a list is given and not required;
- ``no_signal`` (``policy.no_signal``; offer items of forbidden classes, at most 0).

**Fail closed.** A gate never passes on something it did not measure. A
check whose measure could not run raises :class:`CheckNotMeasured`, naming
every such check and why: ``min_k`` without a customers table, any
recipient-level measure of an empty segment (a posterior of 0 / 0, an epsilon,
a class size, purchases to draw), ``max_unicity`` when no recipient has
``unicity_p`` points, ``require_opt_out`` without a list, ``no_signal``
without an offer, a ``max_posterior_by`` class no detector measures, any
measure that came out NaN. A policy with no check is a
:class:`~basketguard.engine.errors.ConfigError`. The CLI maps both to exit 3.

The verdict is the worst check status, with ``fail_on="warn"`` turning a
warning verdict into a failure; checks keep the status they were measured
with. Findings of the mailing that are no policy check (what the offer's
content announces, judged against the built-in signal levels) never decide
the verdict; the notes name the ones that warn or fail.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from basketguard.engine.config.policy import Policy
from basketguard.engine.errors import BasketguardError, ConfigError, InternalError
from basketguard.engine.findings import Finding, Severity, worst
from basketguard.engine.mitigate.verify import MailingContext, Measurement, measure

#: Version of the report document :meth:`GateResult.to_dict` writes.
REPORT_VERSION = "1.0"

#: Check kinds, in the order a gate lists its checks.
CHECK_KINDS = ("max_posterior", "max_epsilon", "min_k", "max_unicity", "min_audience",
               "require_opt_out", "opt_out", "no_signal")

#: ``--fail-on`` levels: failures only, or warnings too.
FAIL_ON = ("fail", "warn")


class CheckNotMeasured(BasketguardError):
    """Policy checks whose measure could not run (a gate never passes on them).

    Parameters
    ----------
    reasons : sequence of (str, str, str)
        Check name, policy key and why it could not be measured, per check.
    """

    def __init__(self, reasons: Sequence[tuple[str, str, str]]) -> None:
        self.reasons = list(reasons)
        grouped: dict[tuple[str, str], list[str]] = {}
        for name, key, why in self.reasons:  # checks that share a reason are named together
            grouped.setdefault((key, why), []).append(name)
        listed = "; ".join(f"{', '.join(names)} ({key}): {why}"
                           for (key, why), names in grouped.items())
        super().__init__(
            f"{len(self.reasons)} policy check(s) could not be measured, and a gate never "
            f"passes on a check it could not run: {listed}.")


@dataclass(frozen=True)
class GateCheck:
    """One policy check of a mailing, judged.

    Attributes
    ----------
    name : str
        ``max_posterior:pregnancy``, ``min_k:segment``, ``max_unicity`` ...
    policy_key : str
        The policy key that sets the limit (``policy.max_posterior_by.reproductive``).
    status : Severity
        PASS, WARN or FAIL (never INFO: a check has a limit).
    value : float or None
        The measured value (None when infinite).
    threshold : float or None
        The level reported (the failure level, else the warning level).
    direction : {"max", "min"}
    message : str
        One sentence with the measured value and the limit.
    finding : Finding
        The finding of :func:`~basketguard.engine.mitigate.verify.measure` it judges.
    """

    name: str
    policy_key: str
    status: Severity
    value: float | None
    threshold: float | None
    direction: str
    message: str
    finding: Finding

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "policy_key": self.policy_key, "status": self.status.value,
                "value": self.value, "threshold": self.threshold, "direction": self.direction,
                "message": self.message, "finding": self.finding.to_dict()}


@dataclass
class GateResult:
    """The gate's verdict on one mailing (aggregates only unless ids were asked for).

    Attributes
    ----------
    project : str
        Project name.
    policy : Policy
    segment : dict
        ``source``, ``members``, ``customer_base``.
    checks : list of GateCheck
        One per policy check, in :data:`CHECK_KINDS` order.
    mailing : Measurement
        Every measure of the segment as given.
    fail_on : {"fail", "warn"}
    exit_code : int
        What the CLI returns for :attr:`verdict` (0 pass, 1 fail, 2 warn).
    plan : Plan or None
        The recommended plan, when asked for and the gate failed.
    notes : list of str
    seconds : dict
        Stage timings (in the report only with ``timings=True``).
    member_ids : list or None
        The segment's customer ids (individual-level data), only when asked for.
    """

    project: str
    policy: Policy
    segment: dict[str, Any]
    checks: list[GateCheck]
    mailing: Measurement
    fail_on: str
    exit_code: int
    plan: Any = None
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    member_ids: list[Any] | None = field(default=None, repr=False)

    @property
    def severity(self) -> Severity:
        """The worst check status, before ``fail_on``."""
        return worst(c.status for c in self.checks)

    @property
    def verdict(self) -> Severity:
        """PASS, WARN or FAIL after ``fail_on`` (a warning fails with ``fail_on="warn"``)."""
        return verdict_of(self.severity, self.fail_on)

    @property
    def counts(self) -> dict[str, int]:
        status = [c.status for c in self.checks]
        return {"checks": len(status), "pass": status.count(Severity.PASS),
                "warn": status.count(Severity.WARN), "fail": status.count(Severity.FAIL)}

    def to_dict(self, timings: bool = False) -> dict[str, Any]:
        """The gate report (docs/gate.md describes every field).

        Parameters
        ----------
        timings : bool
            Fill ``seconds`` with the stage timings; without it the report
            depends on the input alone, byte for byte.

        Returns
        -------
        dict
            A strict JSON document; ``members_ids`` only when ids were asked for.
        """
        doc: dict[str, Any] = {
            "report_version": REPORT_VERSION,
            "kind": "gate",
            "project": self.project,
            "verdict": self.verdict.value,
            "exit_code": int(self.exit_code),
            "fail_on": self.fail_on,
            "policy": {**self.policy.to_dict(), "origin": self.policy.origin},
            "segment": {"source": str(self.segment.get("source", "")),
                        "members": int(self.segment.get("members", 0)),
                        "customer_base": int(self.segment.get("customer_base", 0))},
            "checks": [c.to_dict() for c in self.checks],
            "counts": self.counts,
            "mailing": self.mailing.to_dict(),
            "plan": None if self.plan is None else self.plan.to_dict(),
            "notes": list(self.notes),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()} if timings else {},
        }
        if self.member_ids is not None:
            doc["members_ids"] = list(self.member_ids)
        return doc


def verdict_of(severity: Severity, fail_on: str) -> Severity:
    """The verdict of a worst check status under ``fail_on`` ("fail" or "warn")."""
    if fail_on not in FAIL_ON:
        raise ConfigError(f"--fail-on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}.")
    if severity == Severity.INFO:
        return Severity.PASS
    return Severity.FAIL if fail_on == "warn" and severity == Severity.WARN else severity


def evaluate(ctx: MailingContext, members: np.ndarray, *,
             exit_code_of: Callable[[Severity], int], offer: np.ndarray | None = None,
             hierarchies: dict[str, dict[str, str]] | None = None, fail_on: str = "fail",
             project: str = "", segment_info: dict[str, Any] | None = None,
             recommend: bool = False, recommend_options: Any = None,
             include_ids: bool = False, notes: Sequence[str] = (),
             progress: Callable[[str], None] | None = None) -> GateResult:
    """Judge a mailing against its policy: every check measured, or an error.

    Parameters
    ----------
    ctx : MailingContext
        Histories, probabilities, policy, customers, opt-outs
        (:func:`basketguard.engine.mitigate.inputs.mailing_context`).
    members : numpy.ndarray
        Customer codes of the segment (the recipients as given).
    exit_code_of : callable
        Severity -> process exit code (the CLI's one map,
        ``basketguard.engine.cli.exitcodes.exit_code``), applied to the verdict.
    offer : numpy.ndarray, optional
        Item codes the mailing promotes (needed when the policy sets ``no_signal``).
    hierarchies : dict, optional
        The generalization the exported attributes carry (attribute -> value ->
        exported value), e.g. read from an amended segment file.
    fail_on : {"fail", "warn"}
        ``"warn"``: a verdict of warnings only fails.
    project : str
        Project name for the report.
    segment_info : dict, optional
        ``source`` (and ``empty``: why a segment has no member) for the report.
    recommend : bool
        When the verdict fails, also run
        :func:`basketguard.engine.mitigate.plan.recommend` and attach its plan.
    recommend_options : RecommendOptions, optional
        Its options (default: aim at the ``fail_on`` level).
    include_ids : bool
        Put the segment's customer ids into the result (individual-level data).
    notes : sequence of str
        Notes of the caller (how the inputs were read) to report first.
    progress : callable, optional
        Called with a short message before each stage.

    Returns
    -------
    GateResult

    Raises
    ------
    ConfigError
        The policy sets no check, or ``fail_on`` is unknown.
    CheckNotMeasured
        A policy check could not be measured (see the module docstring).
    """
    say = progress or (lambda _m: None)
    verdict_of(Severity.PASS, fail_on)  # validates fail_on before any work
    pol = ctx.policy
    if pol.n_checks == 0:
        raise ConfigError(f"{pol.origin}: the policy sets no check, so a gate would measure "
                          "nothing and pass it; set at least one of max_posterior, "
                          "max_posterior_by, max_epsilon, min_k, max_unicity, min_audience, "
                          "require_opt_out, no_signal.")
    members = np.unique(np.asarray(members, np.int64))
    info = dict(segment_info or {})
    reasons = _unmeasurable(ctx, members, offer, info.get("empty"))
    if reasons:
        raise CheckNotMeasured(reasons)
    seconds: dict[str, float] = {}
    say("measuring the mailing against the policy")
    t0 = time.perf_counter()
    mailing = measure(ctx, members, members=members, hierarchies=hierarchies, offer=offer)
    seconds["measure"] = time.perf_counter() - t0
    checks = gate_checks(mailing, pol, opt_out_given=ctx.opt_out is not None)
    severity = worst(c.status for c in checks)
    verdict = verdict_of(severity, fail_on)
    out_notes = [*notes, *_notes(checks, mailing, severity, fail_on)]
    plan = None
    if recommend and verdict == Severity.FAIL:
        from basketguard.engine.mitigate.plan import RecommendOptions
        from basketguard.engine.mitigate.plan import recommend as make_plan

        t0 = time.perf_counter()
        plan = make_plan(ctx, members, offer=offer,
                         options=recommend_options or RecommendOptions(aim=fail_on),
                         segment_info={"source": info.get("source", "")}, progress=say)
        seconds["recommend"] = time.perf_counter() - t0
        out_notes.append("A verified plan meets the policy (see `plan`); the gate's verdict is "
                         "about the segment as given." if plan.verified else
                         "No plan met the policy with the mitigations allowed (see "
                         "`plan.binding`).")
    elif verdict == Severity.FAIL:
        out_notes.append("`basketguard recommend` (or `gate --recommend`) finds the cheapest "
                         "mix of decoys, suppression and generalization that meets the policy.")
    ids = None
    if include_ids:
        col = ctx.hist.customer_ids.take(pa.array(members, pa.int64())).to_pylist()
        ids = sorted(col)
    segment = {"source": info.get("source", ""), "members": int(members.size),
               "customer_base": int(ctx.hist.n_customers)}
    return GateResult(project, pol, segment, checks, mailing, fail_on,
                      int(exit_code_of(verdict)), plan, out_notes, seconds, ids)


def gate_checks(mailing: Measurement, policy: Policy, *,
                opt_out_given: bool = False) -> list[GateCheck]:
    """The policy's checks, in :data:`CHECK_KINDS` order, from a mailing's findings.

    Parameters
    ----------
    mailing : Measurement
        From :func:`~basketguard.engine.mitigate.verify.measure` under ``policy``.
    policy : Policy
    opt_out_given : bool
        An opt-out list was given (its ``opt_out`` check applies even when the
        policy does not require one).

    Returns
    -------
    list of GateCheck

    Raises
    ------
    CheckNotMeasured
        A check's finding is missing or its value is NaN.
    ConfigError
        The policy sets no check.
    """
    found = {f.check: f for f in mailing.findings}
    wanted: list[tuple[str, str, str, str]] = []  # name, policy key, finding, why if missing
    empty = "the mailing has no recipient"
    for r in mailing.risks:
        key = (f"policy.max_posterior_by.{r.sensitivity}"
               if r.sensitivity in policy.max_posterior_by else "policy.max_posterior")
        if policy.posterior_limit(r.sensitivity) is not None:
            wanted.append((f"max_posterior:{r.event}", key, f"inference.posterior.{r.event}",
                           empty))
    if policy.max_epsilon is not None:
        wanted += [(f"max_epsilon:{r.event}", "policy.max_epsilon",
                    f"inference.epsilon.{r.event}", empty) for r in mailing.risks]
    if policy.min_k is not None:
        scopes = ("segment", "population") if policy.k_scope == "both" else (policy.k_scope,)
        wanted += [(f"min_k:{s}", "policy.min_k", f"reid.min_k.{s}",
                    "no attribute class was counted (no recipient, or no customers table)")
                   for s in scopes]
    if policy.max_unicity is not None:
        wanted.append(("max_unicity", "policy.max_unicity", "reid.unicity",
                       f"no recipient has {policy.unicity_p} ({policy.unicity_points}) points "
                       "to draw, so no draw could single anyone out or not"))
    if policy.min_audience is not None:
        wanted.append(("min_audience", "policy.min_audience", "mailing.audience", empty))
    if policy.require_opt_out:
        wanted.append(("require_opt_out", "policy.require_opt_out", "mailing.opt_out",
                       "the policy requires an opt-out list and none was given"))
    elif opt_out_given:
        wanted.append(("opt_out", "opt_out", "mailing.opt_out", "the opt-out list was not read"))
    if policy.no_signal:
        wanted.append(("no_signal", "policy.no_signal", "content.no_signal",
                       "no offer was given, so the offer's content could not be checked"))
    if not wanted:
        raise ConfigError(f"{policy.origin}: the policy sets no check that applies to this "
                          "mailing, so a gate would measure nothing; set at least one limit.")
    checks, missing = [], []
    for name, key, check, why in wanted:
        f = found.get(check)
        if f is None or f.threshold is None:
            missing.append((name, key, why))
        elif math.isnan(f.estimate.value):
            missing.append((name, key, why))
        else:
            checks.append(_check(name, key, f))
    if missing:
        raise CheckNotMeasured(missing)
    return checks


def _check(name: str, key: str, f: Finding) -> GateCheck:
    t = f.threshold
    if t is None or f.severity == Severity.INFO:  # pragma: no cover - gate_checks filters them
        raise InternalError(f"gate check {name} has no limit")
    v = float(f.estimate.value)
    bound = "at most" if t.direction == "max" else "at least"
    what = f"{f.metric[:1].upper()}{f.metric[1:]}: {_fmt(v)}"
    if f.severity == Severity.FAIL:
        msg = f"{what}, beyond the failure level ({key}: {bound} {t.fail:g})."
    elif f.severity == Severity.WARN:
        also = f"; it fails beyond {t.fail:g}" if t.fail is not None else ""
        msg = f"{what}, beyond the warning level ({key}: {bound} {t.warn:g}{also})."
    else:
        level = t.warn if t.warn is not None else t.fail
        msg = f"{what}, within the limit ({key}: {bound} {level:g})."
    return GateCheck(name, key, f.severity, v if math.isfinite(v) else None, t.limit,
                     t.direction, msg, f)


def _fmt(v: float) -> str:
    if math.isinf(v):
        return "infinite" if v > 0 else "minus infinity"
    return f"{v:.4g}"


def _unmeasurable(ctx: MailingContext, members: np.ndarray, offer: np.ndarray | None,
                  empty_why: str | None) -> list[tuple[str, str, str]]:
    """Checks that cannot be measured, known before measuring: (name, key, why)."""
    pol = ctx.policy
    out: list[tuple[str, str, str]] = []
    events = list(zip(ctx.probs.names, ctx.probs.sensitivity, strict=True))
    classes = {s for _, s in events}
    measured = ", ".join(ctx.probs.names) or "none"
    for cls in sorted(pol.max_posterior_by):
        if cls not in classes:
            out.append((f"max_posterior:{cls}", f"policy.max_posterior_by.{cls}",
                        f"no detector of the class {cls!r} is among the events measured "
                        f"({measured}), so nothing measured P(event | received) for it; add a "
                        "signature of that class (--signatures) or drop the key"))
    if not events:
        for key, name in (("max_posterior", pol.max_posterior), ("max_epsilon", pol.max_epsilon)):
            if name is not None:
                out.append((key, f"policy.{key}", "no sensitive event was measured (the "
                            "probabilities name no detector)"))
    if members.size == 0:
        why = (f"the segment has no member ({empty_why})" if empty_why
               else "the segment has no member")
        for event, cls in events:
            if pol.posterior_limit(cls) is not None:
                key = (f"policy.max_posterior_by.{cls}" if cls in pol.max_posterior_by
                       else "policy.max_posterior")
                out.append((f"max_posterior:{event}", key,
                            f"{why}, so P(event | received) is 0 / 0, undefined"))
        if pol.max_epsilon is not None:
            out += [(f"max_epsilon:{event}", "policy.max_epsilon",
                     f"{why}, so receiving the mailing distinguishes nobody and its epsilon "
                     "is undefined") for event, _ in events]
    if pol.min_k is not None:
        scopes = ("segment", "population") if pol.k_scope == "both" else (pol.k_scope,)
        if ctx.customers is None:
            why_k = ("the project has no [customers] table with the exported attributes, so "
                     "no attribute class can be counted; add a [customers] table or drop min_k")
        elif members.size == 0:
            why_k = "the segment has no member, so there is no attribute class to count"
        else:
            why_k = None
        if why_k:
            out += [(f"min_k:{s}", "policy.min_k", why_k) for s in scopes]
    if pol.max_unicity is not None:
        if pol.unicity_points == "store-day" and ctx.hist.store is None:
            out.append(("max_unicity", "policy.unicity_points",
                        "store-day points need a store column and the lines map none; map the "
                        "`store` role or use another unicity_points"))
        elif members.size == 0:
            out.append(("max_unicity", "policy.max_unicity",
                        "the segment has no member, so there are no purchases to draw"))
    if pol.require_opt_out and ctx.opt_out is None:
        out.append(("require_opt_out", "policy.require_opt_out",
                    "the policy requires an opt-out list and none was given; pass --opt-out "
                    "FILE or add an [opt_out] table"))
    if pol.no_signal:
        banned = ", ".join(pol.no_signal)
        if offer is None:
            out.append(("no_signal", "policy.no_signal",
                        f"the policy forbids offers that signal {banned}, but no offer was "
                        "given (--offer FILE or an [offer] table), so the offer's content "
                        "could not be checked"))
        elif ctx.library is None:
            out.append(("no_signal", "policy.no_signal",
                        "no detector library was resolved against the catalog, so the offer's "
                        "content could not be checked"))
    return out


def _notes(checks: list[GateCheck], mailing: Measurement, severity: Severity,
           fail_on: str) -> list[str]:
    """What the verdict does not show by itself."""
    out = []
    warned = sum(c.status == Severity.WARN for c in checks)
    if fail_on == "warn" and warned:
        out.append(f"--fail-on warn: {warned} warning(s) count as failures.")
    judged = {c.finding.check for c in checks}
    others = [f for f in mailing.findings if f.check not in judged
              and f.severity in (Severity.WARN, Severity.FAIL)]
    for f in others:
        if f.check.startswith("coverage."):
            out.append(f"Not a policy check, so not part of the verdict, but every check "
                       f"of this inference passes only because it cannot be seen: {f.check} "
                       f"({f.severity.value}): {f.explanation}")
        else:
            out.append(f"Not a policy check, so not part of the verdict: {f.check} "
                       f"({f.severity.value}): {f.explanation}")
    if severity == Severity.PASS and not others:
        out.append("Every policy check was measured and passes.")
    return out
