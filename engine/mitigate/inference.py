"""What receiving a mailing says: the inference risk of a targeted segment.

An observer who knows how a mailing was targeted (the retailer's policy, a
leaked list, a household that recognizes a baby-coupon mailer) learns something
about every recipient. For a sensitive event *s* with per-customer probability
``p_i`` (from a detector: a signature's calibrated link, a learned model, or 0/1
labels) over a customer base of ``N`` customers and a mailing received by the
set ``R`` of ``n`` customers:

- **posterior** ``P(s | received) = sum_{i in R} p_i / n``: what the observer
  believes of any one recipient. Its interval is the Wilson interval of that
  share on ``n`` trials: the realized number of recipients with the event is a
  Poisson-binomial count whose variance is at most the binomial one, so the
  interval is conservative.
- **base rate** ``pi = sum_i p_i / N`` and **lift** = posterior / base rate.
- **likelihood ratio** ``q1 / q0`` with ``q1 = P(received | s) = S_R / S`` and
  ``q0 = P(received | not s) = (n - S_R) / (N - S)``, ``S_R`` and ``S`` the
  sums of ``p_i`` over recipients and over the base. Seen as a randomized
  response, the targeting is ``epsilon``-private for the event with
  ``epsilon = ln(q1 / q0)`` (0: receiving it says nothing; undefined, NaN,
  when nobody receives it).
- **repeated mailings**: with a *fixed* decoy set every mailing goes to the
  same recipients, so after ``T`` mailings the observer knows no more than
  after one. With *fresh* decoys (``d`` drawn anew each time from a pool of
  ``M`` customers with probability sum ``S_P``) while the targets ``t`` (sum
  ``S_t``) receive every mailing, a customer who received all ``T`` is a target
  or a pool member drawn ``T`` times (chance ``r^T``, ``r = d / M``)::

      posterior_T = (S_t + r^T S_P) / (n_t + r^T M)

  and ``epsilon_T`` follows the same way: fresh decoys wear off, a fixed set
  does not.

**Content cover vs recipient cover.** Mixing unrelated offers into the mailer
(Target's lawn mower next to the diapers) changes what the recipient perceives,
not what an observer can infer: none of the numbers above move. Only decoy
recipients, randomized targeting or suppression lower the posterior.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.policy import Policy
from basketguard.engine.errors import ConfigError, DataError
from basketguard.engine.findings import Estimate, Finding, Threshold
from basketguard.engine.stats import wilson_bounds, z_of

#: The sentence every report carries about content cover.
COVER_NOTE = ("Content cover (unrelated offers mixed into the mailer) changes what the "
              "recipient perceives, not what an observer can infer; only decoy recipients, "
              "randomized targeting or suppression lower the posterior.")


@dataclass(frozen=True)
class EventProbabilities:
    """Probability of each sensitive event for every customer of the base.

    Attributes
    ----------
    names : tuple of str
        Event (detector) names, e.g. ``"pregnancy"``.
    sensitivity : tuple of str
        Sensitivity class of each event (``models.detector.SENSITIVITIES``).
    prob : numpy.ndarray
        float64 ``(events, customers)`` in customer-code order, in [0, 1].
    flag_at : tuple of float
        Probability from which a customer counts as flagged, per event.
    source : str
        Where the probabilities come from (for the report).
    """

    names: tuple[str, ...]
    sensitivity: tuple[str, ...]
    prob: np.ndarray
    flag_at: tuple[float, ...]
    source: str

    def __post_init__(self) -> None:
        p = self.prob
        if p.ndim != 2 or p.shape[0] != len(self.names):
            raise ValueError("prob must be (events, customers)")
        if p.size and (not np.isfinite(p).all() or p.min() < 0 or p.max() > 1):
            raise ValueError("probabilities must lie in [0, 1]")

    @property
    def n_customers(self) -> int:
        return int(self.prob.shape[1])

    def index(self, name: str) -> int:
        """Row of an event, or a ConfigError listing the events."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ConfigError(f"no event {name!r} among the detectors "
                              f"({', '.join(self.names)}).") from None

    def select(self, names: Sequence[str]) -> EventProbabilities:
        """The same probabilities for some events only."""
        rows = [self.index(n) for n in names]
        return EventProbabilities(tuple(self.names[r] for r in rows),
                                  tuple(self.sensitivity[r] for r in rows), self.prob[rows],
                                  tuple(self.flag_at[r] for r in rows), self.source)


def probabilities_from_scan(result: Any) -> EventProbabilities:
    """Per-customer probabilities of every signature of a scan.

    Customers without evidence get the probability of score 0 (the link's floor).

    Parameters
    ----------
    result : basketguard.engine.detect.scan.ScanResult
    """
    sigs = result.signatures
    prob = np.empty((len(sigs), result.n_customers))
    for s, sig in enumerate(sigs):
        prob[s] = sig.probability(result.dense_scores(sig.name))
    return EventProbabilities(tuple(s.name for s in sigs), tuple(s.sensitivity for s in sigs),
                              np.clip(prob, 0.0, 1.0), tuple(float(s.threshold) for s in sigs),
                              "signature scan")


def probabilities_from_table(table: pa.Table, customer_ids: pa.Array, where: str, *,
                             signatures: Sequence[Any] = (),
                             kind: str = "scores") -> EventProbabilities:
    """Probabilities from a scores file (``scan --scores``) or a labels file.

    Parameters
    ----------
    table : pyarrow.Table
        ``customer_id`` (ids of the base's kind), ``signature`` (event name) and,
        for scores, ``probability``; for labels, an optional ``label`` column
        (true/1: has the event; rows without it count as having it).
    customer_ids : pyarrow.Array
        The base's customer ids (code order).
    where : str
        The file, for messages.
    signatures : sequence of Signature
        Known detectors: their sensitivity class, flag threshold and, for scores,
        the probability at score 0 given to customers the file does not list.
    kind : {"scores", "labels"}

    Raises
    ------
    SchemaError, DataError
        A missing column, a probability outside [0, 1], an unknown customer id,
        an event no detector knows (its sensitivity class is needed).
    """
    from basketguard.engine.errors import SchemaError

    need = ["customer_id", "signature"] + (["probability"] if kind == "scores" else [])
    for col in need:
        if col not in table.column_names:
            raise SchemaError(f"{where}: no column {col!r}; a {kind} file has columns "
                              f"{', '.join(need)}{' (and optionally label)' if kind == 'labels' else ''}"
                              f" (as `basketguard scan --scores` writes them). Columns: "
                              f"{', '.join(table.column_names) or '(none)'}.")
    if table.column("customer_id").null_count or table.column("signature").null_count:
        raise DataError(f"{where}: null customer_id or signature values; every row needs both.")
    known = {s.name: s for s in signatures}
    events = sorted(set(table.column("signature").to_pylist()))
    unknown = [e for e in events if e not in known]
    if unknown:
        raise DataError(f"{where}: event(s) {', '.join(map(repr, unknown[:5]))} are not "
                        f"detectors of this project ({', '.join(sorted(known)) or 'none'}); "
                        "their sensitivity class is unknown. Add a signature file for them "
                        "(--signatures) or drop those rows.")
    from basketguard.engine.io.tables import conform_ids

    ids = conform_ids(table.column("customer_id"), customer_ids.type, where, "customer_id")
    codes = pc.index_in(ids, value_set=customer_ids)
    if codes.null_count:
        raise DataError(f"{where}: {codes.null_count} row(s) name customers that are not in "
                        "the base (the customer ids of the basket lines); check that the file "
                        "belongs to this project.")
    codes_np = codes.to_numpy(zero_copy_only=False).astype(np.int64)
    sig_col = np.asarray(table.column("signature").to_pylist(), dtype=object)
    n = len(customer_ids)
    prob = np.zeros((len(events), n))
    if kind == "scores":
        values = table.column("probability")
        if values.null_count:
            raise DataError(f"{where}: {values.null_count} null probabilities.")
        vals = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        if vals.size and (not np.isfinite(vals).all() or vals.min() < 0 or vals.max() > 1):
            raise DataError(f"{where}: column 'probability' holds values outside [0, 1].")
    else:
        if "label" in table.column_names:
            lab = table.column("label")
            if lab.null_count:
                raise DataError(f"{where}: {lab.null_count} null labels; use true/false or 1/0.")
            vals = np.asarray(lab.to_numpy(zero_copy_only=False)).astype(np.float64)
            if vals.size and not np.isin(vals, (0.0, 1.0)).all():
                raise DataError(f"{where}: column 'label' must hold true/false or 1/0.")
        else:
            vals = np.ones(table.num_rows)
    for e, name in enumerate(events):
        sel = sig_col == name
        if kind == "scores":
            prob[e] = float(known[name].probability(0.0))
        rows = codes_np[sel]
        if np.unique(rows).size != rows.size:
            raise DataError(f"{where}: a customer appears twice for event {name!r}; give one "
                            "row per customer and event.")
        prob[e, rows] = vals[sel]
    return EventProbabilities(tuple(events), tuple(known[e].sensitivity for e in events),
                              prob, tuple(float(known[e].threshold) for e in events),
                              f"{kind} file {where}")


@dataclass(frozen=True)
class Composition:
    """Posterior and epsilon after ``mailings`` repeated mailings."""

    mailings: int
    fixed_posterior: float
    fixed_epsilon: float
    fresh_posterior: float
    fresh_epsilon: float

    def to_dict(self) -> dict[str, Any]:
        return {"mailings": self.mailings,
                "fixed_decoys": {"posterior": _num(self.fixed_posterior),
                                 "epsilon": _num(self.fixed_epsilon)},
                "fresh_decoys": {"posterior": _num(self.fresh_posterior),
                                 "epsilon": _num(self.fresh_epsilon)}}


@dataclass(frozen=True)
class EventRisk:
    """Inference risk of one sensitive event for one mailing."""

    event: str
    sensitivity: str
    recipients: int
    expected: float          # sum of p over recipients
    posterior: Estimate
    base_rate: float
    lift: float
    q1: float
    q0: float
    epsilon: float
    flagged: int             # recipients at or above the detector's flag threshold
    composition: tuple[Composition, ...] = ()

    @property
    def likelihood_ratio(self) -> float:
        return self.q1 / self.q0 if self.q0 > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event, "sensitivity": self.sensitivity,
                "recipients": self.recipients, "expected": _num(self.expected),
                "posterior": self.posterior.to_dict(), "base_rate": _num(self.base_rate),
                "lift": _num(self.lift), "q1": _num(self.q1), "q0": _num(self.q0),
                "likelihood_ratio": _num(self.likelihood_ratio), "epsilon": _num(self.epsilon),
                "flagged_recipients": self.flagged,
                "repeated": [c.to_dict() for c in self.composition]}


def _num(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _epsilon(s_r: float, n_r: float, s_all: float, n_all: float) -> tuple[float, float, float]:
    """(q1, q0, epsilon) of receiving: ``ln(q1/q0)``; 0 when nothing distinguishes."""
    q1 = s_r / s_all if s_all > 0 else 0.0
    q0 = (n_r - s_r) / (n_all - s_all) if n_all - s_all > 0 else 0.0
    q0 = max(q0, 0.0)
    if q1 <= 0 and q0 <= 0:
        return q1, q0, 0.0
    if q0 <= 0:
        return q1, q0, math.inf
    if q1 <= 0:
        return q1, q0, -math.inf
    return q1, q0, math.log(q1 / q0)


@dataclass(frozen=True)
class DecoySchedule:
    """How decoys are drawn across repeated mailings (for the composition table).

    ``pool_size`` and ``pool_expected`` describe the pool fresh decoys are drawn
    from; ``decoys`` how many are drawn each time.
    """

    decoys: int
    pool_size: int
    pool_expected: np.ndarray  # (events,) sum of p over the pool


def mailing_risk(probs: EventProbabilities, recipients: np.ndarray, *,
                 decoys: np.ndarray | None = None, schedule: DecoySchedule | None = None,
                 mailings: int = 6, confidence: float = 0.95) -> list[EventRisk]:
    """Inference risk of a mailing for every event (see the module docstring).

    Parameters
    ----------
    probs : EventProbabilities
    recipients : numpy.ndarray
        Customer codes receiving the mailing (distinct), decoys included.
    decoys : numpy.ndarray, optional
        The codes among ``recipients`` that are decoys (for the repeated-mailing
        table; the single-mailing numbers never depend on it).
    schedule : DecoySchedule, optional
        The pool fresh decoys would be drawn from (default: the decoys themselves,
        so fresh and fixed agree).
    mailings : int
        Repeated mailings to tabulate (1 .. mailings).
    confidence : float
        Coverage of the posterior interval.

    Returns
    -------
    list of EventRisk
        One per event, in ``probs`` order.
    """
    r = np.asarray(recipients, dtype=np.int64)
    if r.size and (r.min() < 0 or r.max() >= probs.n_customers):
        raise DataError(f"recipient codes must lie in [0, {probs.n_customers})")
    if np.unique(r).size != r.size:
        raise DataError("a recipient is listed twice")
    if mailings < 1:
        raise ConfigError(f"mailings must be >= 1, not {mailings}")
    d = np.empty(0, np.int64) if decoys is None else np.asarray(decoys, np.int64)
    if d.size and not np.isin(d, r).all():
        raise DataError("every decoy must be a recipient")
    z = z_of(confidence)
    n_all = float(probs.n_customers)
    targets = np.setdiff1d(r, d, assume_unique=True)
    out = []
    for e, name in enumerate(probs.names):
        p = probs.prob[e]
        s_all = float(p.sum())
        s_r = float(p[r].sum()) if r.size else 0.0
        n = int(r.size)
        if n:
            share = min(max(s_r / n, 0.0), 1.0)
            low, high = wilson_bounds(share, n, z)
            post = Estimate(share, low, high, confidence, "wilson (Poisson-binomial count)")
        else:
            post = Estimate(float("nan"))
        base = s_all / n_all if n_all else float("nan")
        lift = post.value / base if base > 0 else float("nan")
        q1, q0, eps = _epsilon(s_r, n, s_all, n_all)
        if n == 0:  # nobody receives it: nothing to measure (not "says nothing")
            eps = float("nan")
        flagged = int(np.count_nonzero(p[r] >= probs.flag_at[e])) if n else 0
        comp = []
        s_t, n_t = float(p[targets].sum()), float(targets.size)
        if schedule is not None and schedule.pool_size > 0 and schedule.decoys > 0:
            m, s_p = float(schedule.pool_size), float(schedule.pool_expected[e])
            rate = min(schedule.decoys / m, 1.0)
        else:
            m, s_p, rate = float(d.size), float(p[d].sum()) if d.size else 0.0, 1.0
        for t in range(1, mailings + 1):
            w = rate ** t
            n_t_all = n_t + w * m
            fresh_post = (s_t + w * s_p) / n_t_all if n_t_all > 0 else float("nan")
            _, _, fresh_eps = _epsilon(s_t + w * s_p, n_t_all, s_all, n_all)
            comp.append(Composition(t, post.value, eps, fresh_post, fresh_eps))
        out.append(EventRisk(name, probs.sensitivity[e], n, s_r, post, base, lift, q1, q0, eps,
                             flagged, tuple(comp)))
    return out


def inference_findings(risks: Sequence[EventRisk], policy: Policy | None) -> list[Finding]:
    """Findings of a mailing's inference risk, judged against the policy.

    One ``inference.posterior.<event>`` and one ``inference.epsilon.<event>``
    finding per event (informational where the policy sets no limit).
    """
    out = []
    for risk in risks:
        limit = policy.posterior_limit(risk.sensitivity) if policy else None
        post = risk.posterior
        out.append(Finding.judged(
            f"inference.posterior.{risk.event}",
            f"P({risk.event} | received the mailing)", post, limit,
            f"An observer who knows the targeting believes {_pct(post.value)} of recipients "
            f"have {risk.event.replace('_', ' ')} ({risk.sensitivity}), against a base rate of "
            f"{_pct(risk.base_rate)} (lift {_fmt(risk.lift)}); {risk.flagged} of "
            f"{risk.recipients} recipients are flagged by the detector.",
            {"sensitivity": risk.sensitivity, "base_rate": _num(risk.base_rate),
             "lift": _num(risk.lift), "expected": _num(risk.expected),
             "flagged_recipients": risk.flagged}))
        eps_limit = policy.max_epsilon if policy else None
        out.append(Finding.judged(
            f"inference.epsilon.{risk.event}",
            f"epsilon of the targeting for {risk.event} (log likelihood ratio)",
            Estimate(risk.epsilon), eps_limit,
            f"Receiving the mailing is {_fmt(risk.likelihood_ratio)} times as likely for a "
            f"customer with {risk.event.replace('_', ' ')} as without (q1 = {_fmt(risk.q1)}, "
            f"q0 = {_fmt(risk.q0)}).",
            {"q1": _num(risk.q1), "q0": _num(risk.q0),
             "likelihood_ratio": _num(risk.likelihood_ratio),
             "repeated": [c.to_dict() for c in risk.composition]}))
    return out


def audience_finding(size: int, policy: Policy | None) -> Finding:
    """``mailing.audience``: recipients of the mailing against the minimum audience."""
    return Finding.judged("mailing.audience", "recipients of the mailing", Estimate(float(size)),
                          policy.min_audience if policy else None,
                          f"The mailing goes to {size:,} customers.", {"recipients": size})


def opt_out_finding(opted_out_members: int, members: int, given: bool) -> Finding:
    """``mailing.opt_out``: segment members who opted out (must be none)."""
    if not given:
        return Finding.judged("mailing.opt_out", "opted-out members of the segment",
                              Estimate(float("nan")), None,
                              "No opt-out list was given, so opted-out customers could not be "
                              "excluded; name one with --opt-out or an [opt_out] table.",
                              {"given": False})
    return Finding.judged("mailing.opt_out", "opted-out members of the segment",
                          Estimate(float(opted_out_members)), Threshold(None, 0.0),
                          f"{opted_out_members:,} of {members:,} segment members opted out of "
                          "personalized mailings; they are never targeted nor used as decoys.",
                          {"given": True, "opted_out_members": opted_out_members})


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:.3g}%"


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.4g}"


@dataclass
class MailingAssessment:
    """Inference side of an assessment: risks, findings and what was used."""

    risks: list[EventRisk]
    findings: list[Finding]
    source: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"probabilities": self.source, "events": [r.to_dict() for r in self.risks],
                "content_vs_recipient_cover": COVER_NOTE, "notes": list(self.notes)}
