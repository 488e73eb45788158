"""The optimizer: the cheapest mix of suppression, decoys and generalization that meets a policy.

Given a segment (the targeted members), the policy's limits and its cost
weights (:class:`~basketguard.engine.config.policy.Costs`), :func:`recommend`:

1. honours the opt-out list: opted-out members are dropped (and counted); no
   opted-out customer is ever a decoy;
2. draws a balanced sequence of decoy candidates
   (:func:`~basketguard.engine.mitigate.decoys.decoy_sequence`), never customers
   whose probability of a constrained event reaches ``decoy_max_probability``;
3. trades suppression against decoys for the posterior, epsilon and audience
   limits: for ``x`` targets suppressed (highest ``p / rho`` first) the fewest
   decoys ``d(x)`` is exact (first prefix of the sequence meeting every
   limit, from cumulative sums), and the plan takes the ``x`` of least cost
   ``lost_target * x + decoy * d(x)`` over a grid of ``x`` (every value up to
   64, then geometric steps);
4. generalizes the exported attributes until ``min_k`` holds
   (:func:`~basketguard.engine.mitigate.generalize.generalize_to_k`), then
   suppresses the recipients still in classes below k, and the recipients that
   purchase unicity singles out beyond ``max_unicity``, and goes back to 3
   (at most :data:`ROUNDS` rounds);
5. removes offer items that signal a ``no_signal`` class and proposes filler
   items (content cover, reported, never counted as lowering the posterior);
6. verifies: :func:`~basketguard.engine.mitigate.verify.measure` recomputes every
   measure on the amended mailing. A plan that fails verification is never
   reported as passing; the failing checks are named as binding, with the best
   values reached.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Severity, Threshold
from basketguard.engine.mitigate.decoys import (
    balance,
    decoy_sequence,
    population,
    priorities,
)
from basketguard.engine.mitigate.inference import COVER_NOTE, DecoySchedule
from basketguard.engine.mitigate.verify import MailingContext, Measurement, measure

#: Rounds of (decoys, generalization, suppression) before verification.
ROUNDS = 4


@dataclass(frozen=True)
class RecommendOptions:
    """Which mitigations the optimizer may use.

    Parameters
    ----------
    decoys, suppress, generalize, offer : bool
        Allow decoy recipients, suppression of members, generalization of the
        exported attributes, changes to the offer.
    aim : {"fail", "warn"}
        Meet the policy's failure levels (default) or also its warning levels.
    hierarchies : str, optional
        A TOML file of generalization hierarchies (one or several levels per value,
        :func:`~basketguard.engine.mitigate.generalize.load_ladders`); attributes
        without one get a hierarchy inferred from their values.
    """

    decoys: bool = True
    suppress: bool = True
    generalize: bool = True
    offer: bool = True
    aim: str = "fail"
    hierarchies: str | None = None

    def __post_init__(self) -> None:
        if self.aim not in ("fail", "warn"):
            raise ConfigError(f"aim must be 'fail' or 'warn', not {self.aim!r}.")


@dataclass
class Plan:
    """A recommended, verified change to a mailing (aggregates only in :meth:`to_dict`)."""

    segment: dict[str, Any]
    before: Measurement
    after: Measurement
    actions: dict[str, Any]
    cost: dict[str, float]
    binding: list[dict[str, Any]]
    recipients: np.ndarray = field(repr=False)       # codes of the amended mailing
    decoys: np.ndarray = field(repr=False)
    hierarchies: dict[str, dict[str, str]] | None = None
    offer: np.ndarray | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        """The amended mailing, measured again, fails no check."""
        return self.after.passes

    @property
    def severity(self) -> Severity:
        return self.after.severity

    def to_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "verified": self.verified,
                "severity": self.severity.value, "actions": self.actions, "cost": self.cost,
                "binding": self.binding, "before": self.before.to_dict(),
                "verification": self.after.to_dict(), "notes": self.notes,
                "content_vs_recipient_cover": COVER_NOTE}


def _level(t: Threshold | None, aim: str) -> float | None:
    if t is None:
        return None
    if aim == "warn" and t.warn is not None:
        return t.warn
    return t.limit


@dataclass
class _Limits:
    """The linear limits of step 3, per event: posterior rho and epsilon."""

    rows: list[int]           # event rows constrained by a posterior limit
    rho: list[float]
    eps_rows: list[int]
    eps: float | None
    audience: float | None


def _limits(ctx: MailingContext, aim: str) -> _Limits:
    rows, rho, eps_rows = [], [], []
    pol = ctx.policy
    for e, cls in enumerate(ctx.probs.sensitivity):
        lv = _level(pol.posterior_limit(cls), aim)
        if lv is not None:
            rows.append(e)
            rho.append(float(lv))
    eps = _level(pol.max_epsilon, aim)
    if eps is not None:
        eps_rows = list(range(len(ctx.probs.names)))
    return _Limits(rows, rho, eps_rows, eps, _level(pol.min_audience, aim))


def _first_reaching(gain: np.ndarray, need: float) -> int:
    """First prefix length d with ``gain[d] >= need`` (gain[0] = 0), or len(gain) if none."""
    if need <= 0:
        return 0
    best = np.maximum.accumulate(gain)
    return int(np.searchsorted(best, need - 1e-12 * max(1.0, abs(need)), side="left"))


def _decoys_needed(ctx: MailingContext, lim: _Limits, targets: np.ndarray,
                   order: np.ndarray, seq: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Fewest decoys (prefix of ``seq``) for each ``x`` in ``xs`` suppressed targets;
    ``len(seq) + 1`` where no prefix suffices."""
    p = ctx.probs.prob
    n_all = float(ctx.probs.n_customers)
    n = targets.size
    big = seq.size + 1
    need = np.zeros(xs.size, np.int64)
    ar = np.arange(seq.size + 1, dtype=np.float64)
    for e, rho in zip(lim.rows, lim.rho, strict=True):
        pe = p[e]
        c = np.r_[0.0, np.cumsum(pe[seq])]
        gain = rho * ar - c
        top = np.r_[0.0, np.cumsum(pe[targets[order]])]
        a = pe[targets].sum() - top[xs]
        b = n - xs
        for i in range(xs.size):
            d = _first_reaching(gain, a[i] - rho * b[i])
            need[i] = max(need[i], d if d <= seq.size else big)
    if lim.eps is not None:
        big_e = math.exp(lim.eps)
        for e in lim.eps_rows:
            pe = p[e]
            s = float(pe.sum())
            if s <= 0:
                continue
            k = n_all - s + big_e * s
            c = np.r_[0.0, np.cumsum(pe[seq])]
            gain = big_e * s * ar - k * c
            top = np.r_[0.0, np.cumsum(pe[targets[order]])]
            a = pe[targets].sum() - top[xs]
            b = n - xs
            for i in range(xs.size):
                d = _first_reaching(gain, k * a[i] - big_e * s * b[i])
                need[i] = max(need[i], d if d <= seq.size else big)
    if lim.audience is not None:
        aud = np.maximum(0, np.ceil(lim.audience - (n - xs))).astype(np.int64)
        need = np.maximum(need, np.where(aud <= seq.size, aud, big))
    return need


def _decoy_ok(ctx: MailingContext, lim: _Limits, before: Measurement) -> np.ndarray:
    """Customers whose probabilities let them be decoys.

    For the event the mailing gives away (of the events the segment exceeds a
    limit on, the one of largest lift), a decoy's probability stays below
    ``decoy_max_probability`` (and half the event's posterior limit), or below
    the event's base rate where that is higher (a floor every customer without evidence may sit on); for every other
    posterior-limited event it stays below the event's limit, so that diluting
    one event never pushes another over.
    """
    probs = ctx.probs.prob
    ok = np.ones(probs.shape[1], bool)
    failing = {f.check for f in before.findings if f.severity == Severity.FAIL}
    over = [r for r in before.risks
            if {f"inference.posterior.{r.event}", f"inference.epsilon.{r.event}"} & failing]
    primary = max(over, key=lambda r: (r.lift if math.isfinite(r.lift) else math.inf, r.event),
                  default=None)
    rho = dict(zip(lim.rows, lim.rho, strict=True))
    for e, name in enumerate(ctx.probs.names):
        if primary is not None and name == primary.event:
            cap = ctx.policy.decoy_max_probability
            if e in rho:  # a decoy must sit well below the limit to lower the posterior
                cap = min(cap, rho[e] / 2)
            ok &= probs[e] < max(cap, float(probs[e].mean()))
        elif e in rho:
            ok &= probs[e] < rho[e]
    return ok


def _estimate_decoys(ctx: MailingContext, lim: _Limits, targets: np.ndarray,
                     eligible: np.ndarray) -> int:
    """Decoys the limits need with no suppression, from the pool's mean probabilities
    (the sequence is drawn a quarter longer, and grown when that is short)."""
    p = ctx.probs.prob
    n = float(targets.size)
    if not eligible.any():
        return 0
    est = 0.0
    for e, rho in zip(lim.rows, lim.rho, strict=True):
        pbar = float(p[e, eligible].mean())
        excess = float(p[e, targets].sum()) - rho * n
        if excess > 0:
            est = max(est, excess / (rho - pbar) if rho > pbar else math.inf)
    if lim.eps is not None:
        big_e = math.exp(lim.eps)
        for e in lim.eps_rows:
            s = float(p[e].sum())
            k = p.shape[1] - s + big_e * s
            pbar = float(p[e, eligible].mean())
            excess = k * float(p[e, targets].sum()) - big_e * s * n
            if excess > 0:
                den = big_e * s - k * pbar
                est = max(est, excess / den if den > 0 else math.inf)
    if lim.audience is not None:
        est = max(est, lim.audience - n)
    if not math.isfinite(est):
        return int(eligible.sum())
    return int(math.ceil(1.25 * est)) + 16


def _least_exposed(ctx: MailingContext, lim: _Limits, targets: np.ndarray,
                   order: np.ndarray, seq: np.ndarray, xs: np.ndarray) -> int:
    """Index in ``xs`` of the suppression that, with every decoy candidate, leaves the
    smallest worst ratio of posterior to limit (the first such; no limit: 0)."""
    if not lim.rows:
        return 0
    p = ctx.probs.prob
    worst = np.zeros(xs.size)
    for e, rho in zip(lim.rows, lim.rho, strict=True):
        pe = p[e]
        top = np.r_[0.0, np.cumsum(pe[targets[order]])]
        post = (pe[targets].sum() - top[xs] + pe[seq].sum()) / np.maximum(
            targets.size - xs + seq.size, 1)
        worst = np.maximum(worst, post / rho)
    return int(np.argmin(worst))


def _grid(n: int) -> np.ndarray:
    """Suppression counts tried: 0..64, then geometric steps up to n - 1."""
    if n <= 1:
        return np.zeros(1, np.int64)
    top = n - 1
    small = np.arange(min(top, 64) + 1)
    geo = np.unique(np.round(np.geomspace(65, max(top, 65), 48)).astype(np.int64))
    return np.unique(np.r_[small, geo[geo <= top]]).astype(np.int64)


def _classes(ctx: MailingContext, recipients: np.ndarray,
             hierarchies: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """Attribute class of each recipient (over the exported attributes, generalized)
    and the size of every class among all customers."""
    import pyarrow.compute as pc

    from basketguard.engine.reid.attributes import encode_attributes
    from basketguard.kernels.classes import classify

    attrs = list(ctx.policy.attributes) if ctx.policy.attributes is not None else None
    codes = encode_attributes(ctx.customers, attrs, hierarchies)
    ids = ctx.customers.column("customer")
    ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    want = ctx.hist.customer_ids.take(pa.array(np.asarray(recipients, np.int64)))
    if want.type != ids.type:
        want = want.cast(ids.type)
    rows = np.asarray(pc.fill_null(pc.index_in(want, value_set=ids), -1)
                      .to_numpy(zero_copy_only=False), np.int64)
    if (rows < 0).any():
        raise ConfigError(f"{int((rows < 0).sum())} recipient(s) have no row in the customers "
                          "table, so their attribute class is unknown; add them or drop min_k.")
    cl = classify(list(codes.codes), list(codes.cards), n=ctx.customers.num_rows)
    return cl.class_of[rows].astype(np.int64), cl.sizes


def _small_class_members(ctx: MailingContext, recipients: np.ndarray,
                         hierarchies: dict | None) -> np.ndarray:
    """Recipients in attribute classes below ``min_k`` (in the policy's scope)."""
    pol = ctx.policy
    if pol.min_k is None or ctx.customers is None or recipients.size == 0:
        return np.empty(0, np.int64)
    k = float(pol.min_k.limit)
    cls, sizes = _classes(ctx, recipients, hierarchies)
    small = np.zeros(recipients.size, bool)
    if pol.k_scope in ("segment", "both"):
        seg = np.bincount(cls, minlength=sizes.size)
        small |= seg[cls] < k
    if pol.k_scope in ("population", "both"):
        small |= sizes[cls] < k
    return recipients[small]


def _member_unicity(ctx: MailingContext, codes: np.ndarray) -> np.ndarray:
    """Each customer's share of unique draws at ``unicity_p`` (NaN: fewer points).

    A member's draws depend only on the seed and the member, so shares are
    cached across the optimizer's rounds and only new recipients are drawn.
    (Verification does not use this cache: it measures the mailing afresh.)
    """
    from basketguard.engine.reid.unicity import unicity

    pol = ctx.policy
    n = ctx.hist.n_customers
    if not ctx.unicity_cache:
        ctx.unicity_cache.update(done=np.zeros(n, bool), risk=np.full(n, np.nan))
    done, risk = ctx.unicity_cache["done"], ctx.unicity_cache["risk"]
    codes = np.asarray(codes, np.int64)
    new = codes[~done[codes]]
    if new.size:
        u = unicity(ctx.hist, new, points=pol.unicity_points, p_max=pol.unicity_p,
                    draws=ctx.draws, seed=ctx.seed, index=ctx.unicity_index())
        risk[u.members] = u.risk[:, pol.unicity_p - 1]
        done[u.members] = True
    return risk[codes]


def _no_worse(ctx: MailingContext, before: np.ndarray, after: np.ndarray,
              hierarchies: dict | None) -> np.ndarray:
    """Recipients of ``after`` to drop too so that no measure ends worse than for
    ``before``: no event's posterior (so no epsilon: the likelihood ratio is the
    posterior's odds over the base rate's), no unicity share above, and no class
    within the mailing smaller than its smallest class (a shrunk class goes whole)."""
    # (score, counts): a measure is the mean of score over the recipients it counts
    ones = np.ones(ctx.hist.n_customers)
    scores = [(ctx.probs.prob[e], ones) for e in range(len(ctx.probs.names))]
    if ctx.policy.max_unicity is not None:  # members with fewer than p points do not count
        both = np.union1d(before, after)
        u = _member_unicity(ctx, both)
        risk, counted = np.zeros(ctx.hist.n_customers), np.zeros(ctx.hist.n_customers)
        risk[both], counted[both] = np.nan_to_num(u), ~np.isnan(u)
        scores.append((risk, counted))
    by_class = None
    if (ctx.policy.min_k is not None and ctx.customers is not None
            and ctx.policy.k_scope in ("segment", "both") and before.size):
        cls, sizes = _classes(ctx, before, hierarchies)
        by_class = dict(zip(before.tolist(), cls.tolist(), strict=True))
        ref_min = int(np.bincount(cls, minlength=sizes.size)[cls].min())
    extra = np.empty(0, np.int64)
    for _ in range(16):  # each pass can only drop more; it settles in a few
        grew = False
        for score, w in scores:
            old = float(score[before].sum() / max(w[before].sum(), 1.0))
            keep = np.setdiff1d(after, extra)
            if keep.size == 0 or (float(score[keep].sum() / max(w[keep].sum(), 1.0))
                                  <= old * (1 + 1e-12)):
                continue
            order = keep[np.argsort(-score[keep], kind="stable")]
            tail_sum = np.cumsum(score[order][::-1])[::-1]
            tail_n = np.maximum(np.cumsum(w[order][::-1])[::-1], 1.0)
            ok = np.flatnonzero(tail_sum / tail_n <= old * (1 + 1e-12))
            j = int(ok[0]) if ok.size else order.size
            extra = np.union1d(extra, order[:j])
            grew = True
        if by_class is not None:
            keep = np.setdiff1d(after, extra)
            if keep.size:
                kc = np.array([by_class[c] for c in keep.tolist()], np.int64)
                _, inv, cnt = np.unique(kc, return_inverse=True, return_counts=True)
                shrunk = keep[cnt[inv] < ref_min]
                if shrunk.size:
                    extra = np.union1d(extra, shrunk)
                    grew = True
        if not grew:
            break
    return extra


def _unique_members(ctx: MailingContext, recipients: np.ndarray, aim: str) -> np.ndarray:
    """Recipients to drop so the unicity share meets ``max_unicity`` (highest risk first)."""
    pol = ctx.policy
    limit = _level(pol.max_unicity, aim)
    if limit is None or recipients.size == 0:
        return np.empty(0, np.int64)
    risk = _member_unicity(ctx, recipients)
    with np.errstate(invalid="ignore"):
        share = np.nansum(risk) / max(int(np.count_nonzero(~np.isnan(risk))), 1)
    if not (share > limit):
        return np.empty(0, np.int64)
    members = recipients
    ok = ~np.isnan(risk)
    order = np.argsort(-np.where(ok, risk, -1.0), kind="stable")
    r_sorted = np.where(ok, risk, 0.0)[order]
    w_sorted = ok[order].astype(np.float64)
    # share after dropping the first j: sum(r[j:]) / sum(w[j:])
    tail_r = np.cumsum(r_sorted[::-1])[::-1]
    tail_w = np.cumsum(w_sorted[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tail_w > 0, tail_r / np.maximum(tail_w, 1), 0.0)
    meets = np.flatnonzero(share[:-1] <= limit + 1e-12) if share.size else share
    if meets.size == 0:
        # only an empty mailing would meet it: suppress nobody, verification names it
        return np.empty(0, np.int64)
    return np.sort(members[order[:int(meets[0])]])


def recommend(ctx: MailingContext, members: np.ndarray, *, offer: np.ndarray | None = None,
              options: RecommendOptions | None = None,
              segment_info: dict[str, Any] | None = None, progress=None) -> Plan:
    """Recommend and verify the cheapest plan that brings a mailing under the policy.

    Parameters
    ----------
    ctx : MailingContext
        Histories, probabilities, policy, customers, opt-outs.
    members : numpy.ndarray
        Customer codes of the segment as targeted.
    offer : numpy.ndarray, optional
        Item codes the mailing promotes.
    options : RecommendOptions, optional
    segment_info : dict, optional
        Description of the segment for the report.
    progress : callable, optional
        Called with a short message before each stage.

    Returns
    -------
    Plan

    Raises
    ------
    ConfigError
        The policy sets no check, requires an opt-out list that is missing, or
        needs customers' attributes the project does not have.
    """
    opts = options or RecommendOptions()
    pol = ctx.policy
    say = progress or (lambda _m: None)
    if pol.n_checks == 0:
        raise ConfigError(f"{pol.origin}: the policy sets no check, so there is nothing to "
                          "meet; set at least one of max_posterior, max_epsilon, min_k, "
                          "max_unicity, min_audience, require_opt_out, no_signal.")
    if pol.require_opt_out and ctx.opt_out is None:
        raise ConfigError(f"{pol.origin}: policy.require_opt_out is set but no opt-out list "
                          "was given; pass --opt-out FILE or add an [opt_out] table.")
    members = np.unique(np.asarray(members, np.int64))
    n_cust = ctx.probs.n_customers
    say("measuring the segment as targeted")
    before = measure(ctx, members, members=members, offer=offer)
    opted = np.isin(members, ctx.opt_out) if ctx.opt_out is not None \
        else np.zeros(members.size, bool)
    targets = members[~opted]
    lim = _limits(ctx, opts.aim)
    probs = ctx.probs.prob
    prio = priorities(n_cust, ctx.seed)
    say("building decoy strata")
    pop = population(ctx.hist, ctx.view, ctx.customers, pol.attributes)
    eligible = np.ones(n_cust, bool)
    if ctx.opt_out is not None:
        eligible[ctx.opt_out] = False
    eligible &= _decoy_ok(ctx, lim, before)
    eligible[members] = False
    removed_targets = np.empty(0, np.int64)   # suppressed for k or unicity
    banned = np.zeros(n_cust, bool)           # decoys dropped for k or unicity
    hierarchies = None
    gen = None
    x_best, d_best = 0, 0
    seq_codes = np.empty(0, np.int64)
    seq = None
    recipients = decoys = drop = np.empty(0, np.int64)
    for _round in range(ROUNDS if targets.size else 0):  # nobody targeted: nothing to cover
        live = np.setdiff1d(targets, removed_targets)
        elig = eligible & ~banned
        # 3. suppression against decoys
        say("choosing decoys and suppression")
        risk = np.zeros(live.size)
        for e, rho in zip(lim.rows, lim.rho, strict=True):
            risk = np.maximum(risk, probs[e, live] / rho)
        for e in lim.eps_rows:
            risk = np.maximum(risk, probs[e, live])
        order = np.lexsort((prio[live], -risk)) if opts.suppress else np.arange(live.size)
        xs = _grid(live.size) if opts.suppress else np.zeros(1, np.int64)
        pool = int(elig.sum()) if opts.decoys and live.size else 0
        want = min(pool, _estimate_decoys(ctx, lim, live, elig))
        while True:  # a sequence long enough for the cheapest plan (or the whole pool)
            seq = decoy_sequence(pop, live, elig, want, ctx.seed) if want else None
            seq_codes = seq.codes if seq is not None else np.empty(0, np.int64)
            need = _decoys_needed(ctx, lim, live, order, seq_codes, xs)
            if want >= pool or (need[0] <= seq_codes.size and need[0] < 0.9 * want):
                break
            want = min(pool, 2 * want + 16)
        cost = pol.costs.lost_target * xs + pol.costs.decoy * need.astype(np.float64)
        cost = np.where(need <= seq_codes.size, cost, np.inf)
        if np.isfinite(cost).any():
            i = int(np.argmin(cost))
        else:  # nothing meets every limit: the best reachable posteriors, every candidate
            need[:] = seq_codes.size
            i = _least_exposed(ctx, lim, live, order, seq_codes, xs)
        x_best, d_best = int(xs[i]), int(min(need[i], seq_codes.size))
        kept = np.sort(live[order[x_best:]])
        decoys = np.sort(seq_codes[:d_best])
        recipients = np.union1d(kept, decoys)
        # 4. generalization, then suppression of what is still small or unique
        # the last round only places decoys: what it leaves exposed, verification names
        final = _round == ROUNDS - 1
        drop = np.empty(0, np.int64)
        if pol.min_k is not None and ctx.customers is not None and recipients.size:
            if opts.generalize:
                from basketguard.engine.mitigate.generalize import generalize_to_k

                say("generalizing the exported attributes")
                gen = generalize_to_k(ctx.customers, ctx.hist.customer_ids.take(
                    pa.array(recipients)), attributes=pol.attributes, k=int(pol.min_k.limit),
                    scope=pol.k_scope, ladders=opts.hierarchies)
                hierarchies = {a: gen.mappings[a] for a, lv in
                               zip(gen.attributes, gen.levels, strict=True) if lv > 0} or None
            if not final:
                drop = _small_class_members(ctx, recipients, hierarchies)
        if pol.max_unicity is not None and not final:
            say("measuring purchase unicity")
            drop = np.union1d(drop, _unique_members(ctx, np.setdiff1d(recipients, drop),
                                                    opts.aim))
        if drop.size and np.setdiff1d(recipients, drop).size == 0:
            drop = np.empty(0, np.int64)  # only an empty mailing would meet it: binding
        if opts.suppress and not opts.decoys:
            # without decoys to make up for it, suppression must leave no measure worse
            # than the segment's own: drop the riskiest members too until none is
            drop = np.union1d(drop, _no_worse(ctx, targets, np.setdiff1d(recipients, drop),
                                              hierarchies))
        if final and drop.size and opts.suppress:  # only the no-worse drops of step 4
            recipients = np.setdiff1d(recipients, drop)
            decoys = np.setdiff1d(decoys, drop)
        if drop.size == 0 or not opts.suppress or final:
            break
        removed_targets = np.union1d(removed_targets, np.intersect1d(drop, targets))
        banned[np.setdiff1d(drop, targets)] = True
    # 5. the offer
    offer_out = offer
    offer_actions: dict[str, Any] | None = None
    if offer is not None and ctx.library is not None and opts.offer:
        offer_out, offer_actions = _amend_offer(ctx, offer)
    # 6. verification: measure again, from the amended mailing only
    say("verifying: measuring the amended mailing again")
    schedule = DecoySchedule(int(decoys.size), int(seq.eligible) if seq is not None else 0,
                             probs[:, eligible & ~banned].sum(axis=1))
    after = measure(ctx, recipients, members=members, hierarchies=hierarchies,
                    offer=offer_out, schedule=schedule)
    suppressed = int(members.size - opted.sum() - np.intersect1d(recipients, targets).size)
    gen_loss = float(gen.loss) if gen is not None else 0.0
    cost_total = {"lost_targets": float(pol.costs.lost_target * suppressed),
                  "decoys": float(pol.costs.decoy * decoys.size),
                  "generalization": float(pol.costs.generalization * gen_loss * recipients.size)}
    cost_total["total"] = float(sum(cost_total.values()))
    levels: dict[str, int] = {}
    if seq is not None and decoys.size:
        pos = np.isin(seq.codes, decoys)
        for lv, cnt in zip(*np.unique(seq.level[pos], return_counts=True), strict=True):
            levels[seq.level_names[int(lv)]] = int(cnt)
    actions = {
        "opted_out_members_removed": int(opted.sum()),
        "targets_suppressed": suppressed,
        "targets_kept": int(np.intersect1d(recipients, targets).size),
        "decoys_added": int(decoys.size),
        "decoys_matched_at": levels,
        "decoy_candidates": int((eligible & ~banned).sum()),
        "decoy_shortfall": int(seq.shortfall) if seq is not None else 0,
        "balance": balance(pop, np.intersect1d(recipients, targets), decoys),
        "generalization": gen.to_dict() if gen is not None else None,
        "offer": offer_actions,
        "recipients": int(recipients.size),
        "reach_lost": (suppressed / members.size) if members.size else 0.0,
    }
    binding = [{"check": f.check, "value": f.estimate.to_dict()["value"],
                "threshold": None if f.threshold is None else f.threshold.limit,
                "why": f.explanation} for f in after.findings if f.severity == Severity.FAIL]
    notes = [COVER_NOTE]
    if targets.size == 0:
        notes.append("The segment targets nobody (it is empty, or every member opted out), so "
                     "there is no mailing to make safe.")
    if any(b["check"] == "reid.unicity" for b in binding):
        notes.append("Purchase unicity binds: a few known purchases single out almost every "
                     "shopper, decoys included, so no suppression short of an empty mailing "
                     "meets it. The remedy is to keep purchase histories out of the export (if "
                     "the export carries none, the policy's max_unicity does not apply to it).")
    if binding:
        notes.append("No plan met every limit with the mitigations allowed; the binding checks "
                     "are listed with the best values this plan reaches.")
    info = dict(segment_info or {})
    info.update(members=int(members.size), customer_base=int(n_cust))
    return Plan(info, before, after, actions, cost_total, binding, recipients, decoys,
                hierarchies, offer_out, notes)


def _amend_offer(ctx: MailingContext, offer: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """Drop offer items of ``no_signal`` classes; propose filler items (content cover)."""
    from basketguard.engine.mitigate.content import decoy_offers, suppress_offer_items

    pol = ctx.policy
    out: dict[str, Any] = {}
    amended = np.asarray(offer, np.int32)
    if pol.no_signal:
        sup = suppress_offer_items(amended, ctx.library, sensitivities=list(pol.no_signal))
        amended = np.asarray(sup.codes, np.int32)
        out["suppressed"] = sup.to_dict()
    if amended.size:
        filler = decoy_offers(amended, ctx.hist, ctx.view, ctx.library, seed=ctx.seed)
        out["content_cover"] = filler.to_dict()
        amended = filler.codes
    return amended, out
