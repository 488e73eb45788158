"""Ceiling of event detection: the simulator's own posterior, per customer.

``posterior_scores(project_dir, config, hist)`` returns, for every planted event,
the log likelihood ratio

    log P(purchases | event planted) - log P(purchases | event not planted)

of each customer's history under the simulator's generative model
(:mod:`basketguard.models.simulator`). By Neyman-Pearson a ranking by this ratio
is the best ranking any detector that sees only the purchases can reach, so its
ROC AUC is the ceiling for the learned and rule detectors of bench/accuracy.py.

The model (what the simulator does, read from ``kernels/sim/lines.py``)
-----------------------------------------------------------------------
A visit is one basket (one day). Its lines are ``nb`` base lines plus one line per
program stage that fires on that visit:

* a buying stage fires with probability ``stage_prob * loyalty`` (``stage_prob`` is
  the program table's, signal strength and cap included; ``loyalty`` is the
  customer's, uniform on ``[1 - 2 leakage, 1]``) and adds one line of its group,
  the item picked by the group's pick weights, with quantity
  ``ceil(base_quantity * qty)`` (unrounded for items sold by weight);
* a suppress stage keeps every item of its group out of the base lines;
* a base line is one of the customer's ``n_fav = max(3, int(basket_mean (1.5 + 3U)))``
  favourites (alias draws, fixed per customer) with probability ``fav_share``,
  otherwise a fresh catalog draw by base weight, then possibly swapped for its
  private-label twin (a per customer and item coin at ``pl_share``).

So for an *atomic class* ``c`` of items (items with the same membership in every
group the model looks at), a base line falls in ``c`` with probability
``r_c = fav_share k_c / n_fav + (1 - fav_share) W_c`` where ``W_c`` is the class's
base weight and ``k_c ~ Binomial(n_fav, W_c)`` the number of favourite slots in the
class: a latent, per-customer rate. The likelihood of a visit with ``nb`` lines of
which the lines ``y_1..y_m`` (with quantities) fall in ``c``, given the active
stages ``s`` (per-visit chances ``a_s = stage_prob loyalty D_s(c)``, ``D_s(c)`` the
share of the stage's pick weight in ``c``), is

    (1 - r_c)^nb  prod_s (1 - a_s)  sum over matchings M of lines to stages
        prod_(s,j) in M  [a_s / (1 - a_s)] Q_s(q_j) / Q_0(q_j)
        * nb (nb - 1) ... (nb - m_b + 1) (r_c / (1 - r_c))^m_b

(``m_b`` lines left to the base process, ``Q_s`` / ``Q_0`` the stage and base
quantity distributions, exact), with ``r_c = 0`` on visits where ``c`` is suppressed.

Hypotheses. For the event ``E`` (a mixture of its variants, weighted by their
prevalences), H1 marginalizes the onset over the program's onset window (uniform
over days, on a grid of ``onset_step`` days; onsets that give identical stage windows
inside the simulated period are merged exactly) and H0 is "no variant of E". Both
marginalize, exactly as the simulator draws them:

* the loyalty (``n_loyalty`` grid points, shared by every stage of the customer);
* the latent base rates ``r_c`` of every class (mixture over ``k_c``, over ``U`` on a
  3-point grid and, for private-label / premium classes, over ``pl_share`` on a
  quantile grid of its population distribution; at most ``kcap`` components);
* *confounders*: every other program (events included) that buys or suppresses an
  item of E's groups, with the items of all their groups. Programs are grouped into
  clusters of classes they connect; within a cluster every combination of its
  programs that the simulator draws (frequencies from a Monte Carlo of
  ``draw_customers`` with another seed: demographic correlations and
  ``exclusive_with`` included, given E's status) is a mixture component, each with
  its own onset marginalized on a grid of ``conf_step`` days.

Approximations that remain (all small; see also the report of ``__main__``)
---------------------------------------------------------------------------
1. Clusters are independent given E's status (programs in different clusters are
   correlated in the simulator only through demographics).
2. A stage's one line is spread over the classes of its group as independent
   Bernoulli emissions ``a_s D_s(c)`` (exact for single-class stages, which are most);
   brand loyalty (the same item 70 % of the time) and item identities are not used.
3. ``nb`` (base lines of a visit) is taken as the basket's line count; the basket
   mean behind ``n_fav`` is the customer's mean basket size (a point estimate);
   within-basket de-duplication and the basket cap are ignored.
4. Latent-rate components are binned to ``kcap`` per class, ``pl_share`` and ``U`` are
   on small grids, the rate components of different classes are independent.
5. Onsets on grids (``onset_step``, ``conf_step`` days; the midpoint of each bin).
6. Programs that touch only the confounders' extra groups (second-level
   confounders), stage lines of unrelated programs that happen to pick an item of
   a class (private-label picks of ``value_lines`` stages; any stage for the
   private-label and premium classes of financial distress) are not modelled:
   such lines are left to the base process, with a floor rate of
   ``1e-7`` odds per line so nothing is impossible.
7. Confounder combinations seen fewer than ``min_pattern`` times in the Monte
   Carlo are dropped (their prior mass is below ~1e-6).
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit, prange

from basketguard.kernels.sim.customers import NO_EVENT, draw_customers
from basketguard.models.simulator.catalog import GROUPS
from basketguard.models.simulator.profiles import base_weights, get_profile
from basketguard.models.simulator.run import SimConfig, SimModel, prepare

__all__ = ["CeilingOptions", "posterior_scores"]

# constants of kernels/sim/customers.py (n_fav) and kernels/sim/lines.py (quantities)
_NFAV_MIN, _NFAV_LO, _NFAV_SPAN = 3, 1.5, 3.0
_EACH_Q = {1: 0.80, 2: 0.14, 3: 0.04, 4: 0.005, 5: 0.005, 6: 0.005, 7: 0.005}
_WEIGHT_Q = [(20 + j) / 100.0 for j in range(180)]  # sold by weight, each 1/180
_IGNORED = ("value_lines", "premium")  # span every type; only financial distress uses them
_O_FLOOR = 1e-7
_Q_EPS = 1e-6
_MAXM = 6  # lines of one class in one visit handled exactly (more: left to the base)
_MAXA = 8  # active emitting stages of one class in one visit
_N_CHUNKS = 256  # customer chunks of the parallel loop


@dataclass(frozen=True)
class CeilingOptions:
    """Resolution of the posterior (defaults: about a minute for 100k customers)."""

    onset_step: int = 3
    conf_step: int = 7
    conf_step_h1: int = 35
    n_loyalty: int = 3
    n_pl: int = 5
    kcap: int = 12
    mc_customers: int = 2_000_000
    min_pattern: int = 3
    max_combos: int = 300
    overlap: float = 0.05
    closure: float = 0.75


# --------------------------------------------------------------------------
# model building (Python)


def _stage_intervals(t: int, start: int, end: int, period: int, n_days: int) -> list:
    """Active days ``[lo, hi)`` inside ``[0, n_days)`` of a stage with onset ``t``
    (``_stage_active`` of kernels/sim/lines.py)."""
    a = t + start
    if period <= 0:
        lo, hi = max(0, a), min(n_days, t + end)
        return [(lo, hi)] if lo < hi else []
    width = end - start
    if width <= 0:
        return []
    if width >= period:
        lo = max(0, a)
        return [(lo, n_days)] if lo < n_days else []
    out = []
    k = max(0, (-a - width) // period)
    while a + k * period < n_days:
        lo, hi = max(0, a + k * period), min(n_days, a + k * period + width)
        if lo < hi:
            out.append((lo, hi))
        k += 1
    return out


def _onset_grid(stages: list, lo: int, hi: int, n_days: int, step: int) -> list:
    """Onset grid of a program: ``[(weight, [intervals of each stage], onset), ...]``.

    Onsets giving identical windows inside the period are merged exactly; runs of
    differing onsets are binned to ``step`` days, represented by the bin's middle.
    """
    span = hi - lo
    runs: list = []  # [first t, length, signature]
    for t in range(lo, hi):
        sig = tuple(tuple(_stage_intervals(t, a, b, p, n_days)) for a, b, p in stages)
        if runs and runs[-1][2] == sig:
            runs[-1][1] += 1
        else:
            runs.append([t, 1, sig])
    points = []
    pending: list = []

    def flush():
        if not pending:
            return
        total = sum(r[1] for r in pending)
        mid, acc = total // 2, 0
        for r in pending:
            if acc + r[1] > mid:
                points.append((total / span, r[2], r[0]))
                break
            acc += r[1]
        pending.clear()

    for r in runs:
        if r[1] >= step:
            flush()
            points.append((r[1] / span, r[2], r[0]))
        else:
            pending.append(r)
            if sum(x[1] for x in pending) >= step:
                flush()
    flush()
    return points


def _quantity_tables(mults: list) -> tuple[dict, dict]:
    """Exact quantity distributions: base and per stage multiplier, keyed by
    ``(by_weight, round(q * 1000))``."""
    base: dict = {}
    for x, p in _EACH_Q.items():
        base[(0, x * 1000)] = base.get((0, x * 1000), 0.0) + p
    for x in _WEIGHT_Q:
        k = (1, int(round(float(np.float32(x)) * 1000)))
        base[k] = base.get(k, 0.0) + 1 / 180
    stage = {}
    for m in mults:
        d: dict = {}
        for x, p in _EACH_Q.items():
            k = (0, int(math.ceil(x * m)) * 1000)
            d[k] = d.get(k, 0.0) + p
        for x in _WEIGHT_Q:
            k = (1, int(round(float(np.float32(x * m)) * 1000)))
            d[k] = d.get(k, 0.0) + 1 / 180
        stage[m] = d
    return base, stage


@dataclass
class _EventModel:
    name: str
    n_var: int
    item_class: np.ndarray  # catalog item code -> class (-1: not modelled)
    arrays: dict
    n_classes: int
    info: dict


def _mc_population(sim: SimModel, n: int, seed: int, chunk: int = 500_000):
    """Program membership (bool, n x R) and pl_share of a Monte Carlo population."""
    members, pl = [], []
    for first in range(0, n, chunk):
        m = min(chunk, n - first)
        c = draw_customers(seed, first, m, **sim.customer_kwargs)
        members.append(c.onset != NO_EVENT)
        pl.append(c.pl_share)
    return np.concatenate(members), np.concatenate(pl)


def _build_event(sim: SimModel, event: str, mc_members: np.ndarray, mc_pl: np.ndarray,
                 opts: CeilingOptions) -> _EventModel | None:
    cfg = sim.config
    progs = sim.programs
    lk, ck = sim.line_kwargs, sim.customer_kwargs
    n_prog = len(progs)
    enabled = ck["prog_prob"].reshape(n_prog, -1).max(axis=1) > 0
    st_off = lk["prog_stage_off"]
    gname = {g: i for i, g in enumerate(GROUPS)}
    cat = sim.catalog
    gitems = {i: np.asarray(cat.group_items[g], np.int64) for i, g in enumerate(GROUPS)}
    goff, gits, gcum = lk["group_off"], lk["group_items"], lk["group_cum"]
    pick = {}
    for g in range(len(GROUPS)):
        its = gits[goff[g]:goff[g + 1]].astype(np.int64)
        cum = gcum[goff[g]:goff[g + 1]]
        pick[g] = (its, np.diff(np.concatenate([[0.0], cum])))
    fd = event == "financial_distress"
    allowed = {gname[g] for g in _IGNORED} if fd else \
        set(range(len(GROUPS))) - {gname[g] for g in _IGNORED}

    def stages_of(r):
        return [s for s in range(st_off[r], st_off[r + 1]) if lk["stage_group"][s] in allowed]

    variants = [r for r, p in enumerate(progs) if p.kind == "event" and p.name == event
                and enabled[r]]
    if not variants:
        return None
    prof = get_profile(cfg.profile)
    w = base_weights(cat, prof.base_shares)

    def weight_of(s):
        """Item weights of a stage: pick weights (buying) or base weights (suppress)."""
        g = int(lk["stage_group"][s])
        v = np.zeros(cat.n_items)
        if lk["stage_suppress"][s]:
            v[gitems[g]] = w[gitems[g]]
        else:
            its, pw = pick[g]
            v[its] = pw
        return v / v.sum() if v.sum() > 0 else v

    e_stages = [s for r in variants for s in stages_of(r)]
    e_w = {s: weight_of(s) for s in e_stages}
    confs = []
    conf_stages = {}
    conf_step = {}
    for r in range(n_prog):
        if r in variants or not enabled[r]:
            continue
        mine, covered, buys = [], set(), False
        for s in stages_of(r):
            ws_ = weight_of(s)
            for t in e_stages:
                wt_ = e_w[t]
                in_t = ws_[wt_ > 0].sum() if lk["stage_suppress"][t] == 0 else \
                    ws_[gitems[int(lk["stage_group"][t])]].sum()
                in_s = wt_[ws_ > 0].sum() if lk["stage_suppress"][s] == 0 else \
                    wt_[gitems[int(lk["stage_group"][s])]].sum()
                sup_s, sup_t = lk["stage_suppress"][s], lk["stage_suppress"][t]
                if not sup_s and not sup_t:
                    ov = max(in_t, in_s)  # both buy: shared purchases
                elif not sup_s and sup_t:
                    ov = in_t  # its purchases break E's absence
                elif sup_s and sup_t:
                    ov = max(in_t, in_s)  # both explain an absence
                else:
                    ov = 0.0  # it suppresses what E buys: E's lines are unaffected
                if ov >= opts.overlap:
                    if s not in mine:
                        mine.append(s)
                    covered.add(t)
                    buys = buys or not sup_s
        if mine:
            confs.append(r)
            # all its stages when it mimics most of E (pregnancy for new_baby), else only
            # the overlapping ones (the marginal of the program on those classes)
            share = len(covered) / len(e_stages)
            conf_stages[r] = stages_of(r) if share >= opts.closure else mine
            # onset precision matters where its purchases must be explained; where it
            # only explains an absence, a coarse grid blurs the window a little
            conf_step[r] = opts.conf_step if buys else opts.conf_step_h1
    model_progs = variants + confs

    def model_stages(r):
        return conf_stages[r] if r in conf_stages else stages_of(r)

    groups = sorted({int(lk["stage_group"][s]) for r in model_progs for s in model_stages(r)})
    n_items = cat.n_items
    memb = np.zeros((n_items, len(groups)), bool)
    for j, g in enumerate(groups):
        memb[gitems[g], j] = True
    used = memb.any(axis=1)
    keys, inv = np.unique(memb[used], axis=0, return_inverse=True)
    item_class = np.full(n_items, -1, np.int32)
    item_class[np.flatnonzero(used)] = inv.ravel()
    n_cls = keys.shape[0]

    # base rate parameters of every class
    cls_kind = np.zeros(n_cls, np.int64)
    cls_w = np.zeros(n_cls)
    cls_wtw = np.zeros(n_cls)
    branded_tw = (cat.twin >= 0)
    for c in range(n_cls):
        its = np.flatnonzero(item_class == c)
        if fd and cat.private_label[its].all():
            cls_kind[c] = 1
            cls_w[c] = w[its].sum()
            cls_wtw[c] = w[branded_tw].sum()
        elif fd and cat.premium[its].all():
            cls_kind[c] = 2
            cls_w[c] = w[its].sum()
        else:
            cls_w[c] = w[its].sum()

    # stages of the model programs
    ms_D, ms_supp, ms_a, ms_mult_val, ms_win = [], [], [], [], []
    pr_stage_off = [0]
    grids = []

    def add_program(r, step):
        ss = model_stages(r)
        for s in ss:
            g = int(lk["stage_group"][s])
            D = np.zeros(n_cls)
            sup = np.zeros(n_cls, bool)
            if lk["stage_suppress"][s]:
                sup[np.unique(item_class[gitems[g]])] = True
            else:
                its, pw = pick[g]
                np.add.at(D, item_class[its], pw)
            ms_D.append(D)
            ms_supp.append(sup)
            ms_a.append(float(lk["stage_prob"][s]))
            ms_mult_val.append(float(lk["stage_qty"][s]))
            ms_win.append((int(lk["stage_start"][s]), int(lk["stage_end"][s]),
                           int(lk["stage_period"][s])))
        pr_stage_off.append(pr_stage_off[-1] + len(ss))
        stg = [(int(lk["stage_start"][s]), int(lk["stage_end"][s]), int(lk["stage_period"][s]))
               for s in ss]
        lo, hi = int(ck["prog_onset_lo"][r]), int(ck["prog_onset_hi"][r])
        grids.append(_onset_grid(stg, lo, hi, cfg.days, step))

    for r in model_progs:
        add_program(r, opts.onset_step if r in variants else conf_step[r])
    # coarser onset grids of the confounders for the event's onset loop (H1 with a
    # co-occurring time-varying confounder: small prior mass, large cost)
    coarse_of = list(range(len(model_progs)))
    for j in range(len(variants), len(model_progs)):
        if len(grids[j]) > 1 and opts.conf_step_h1 > conf_step[model_progs[j]]:
            add_program(model_progs[j], opts.conf_step_h1)
            if len(grids[-1]) < len(grids[j]):
                coarse_of[j] = len(grids) - 1
            else:
                grids.pop()
                pr_stage_off.pop()
                k = pr_stage_off[-1]
                del ms_D[k:], ms_supp[k:], ms_a[k:], ms_mult_val[k:], ms_win[k:]
    # suppressing a class that has no base weight changes nothing (only base lines are
    # suppressed; stage lines of other programs are not)
    no_base = (cls_w <= 0) & (cls_wtw <= 0)
    for sup in ms_supp:
        sup &= ~no_base
    mults = sorted(set(ms_mult_val))
    ms_mult = np.array([mults.index(m) for m in ms_mult_val], np.int64)
    ms_D = np.array(ms_D).reshape(-1, n_cls)
    ms_supp = np.array(ms_supp).reshape(-1, n_cls)
    ms_a = np.array(ms_a)

    pr_gp_off = [0]
    gp_logw, gp_slot_off, slot_iv_off, iv_lo, iv_hi, gp_t = [], [], [0], [], [], []
    for p, grid in enumerate(grids):  # noqa: B007
        for wgt, sig, t_rep in grid:
            gp_t.append(t_rep)
            gp_logw.append(math.log(wgt))
            gp_slot_off.append(len(slot_iv_off) - 1)
            for ivs in sig:
                for a, b in ivs:
                    iv_lo.append(a)
                    iv_hi.append(b)
                slot_iv_off.append(len(iv_lo))
        pr_gp_off.append(len(gp_logw))

    # clusters: classes connected by a confounder
    parent = list(range(n_cls))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    n_var = len(variants)
    touch = (ms_D > 0) | ms_supp
    for j in range(n_var, len(model_progs)):
        cl = np.flatnonzero(touch[pr_stage_off[j]:pr_stage_off[j + 1]].any(axis=0))
        for c in cl[1:]:
            parent[find(c)] = find(cl[0])
    roots = sorted({find(c) for c in range(n_cls)})
    cluster_of = np.array([roots.index(find(c)) for c in range(n_cls)], np.int64)
    n_cl = len(roots)

    # Monte Carlo priors of the confounder combinations, given E's status
    h = np.zeros(mc_members.shape[0], np.int64)
    for v, r in enumerate(variants):
        h[(h == 0) & mc_members[:, r]] = v + 1
    n_h = np.bincount(h, minlength=n_var + 1).astype(np.float64)
    var_logprior = np.log(np.maximum(n_h[1:], 1) / max(n_h[1:].sum(), 1))
    cl_cls_off, cl_cls = [0], []
    cl_cfg_off, cfg_mem_off, cfg_mem, cfg_mem1, cfg_lprior = [0], [0], [], [], []
    cl_touch = np.zeros((n_cl, n_var), bool)
    cl_prog_off, cl_prog = [0], []
    n_combos = []
    dropped: list = []
    cl_ncombo = []
    for k in range(n_cl):
        cls = np.flatnonzero(cluster_of == k)
        cl_cls.extend(cls.tolist())
        cl_cls_off.append(len(cl_cls))
        for v in range(n_var):
            cl_touch[k, v] = touch[pr_stage_off[v]:pr_stage_off[v + 1]][:, cls].any()
        mem = [j for j in range(n_var, len(model_progs))
               if touch[pr_stage_off[j]:pr_stage_off[j + 1]][:, cls].any()]
        cl_prog.extend(sorted(set(mem) | {coarse_of[j] for j in mem}))
        cl_prog_off.append(len(cl_prog))
        code = np.zeros(mc_members.shape[0], np.int64)
        for b, j in enumerate(mem):
            code |= mc_members[:, model_progs[j]].astype(np.int64) << b
        key = code * (n_var + 1) + h
        uk, cnt = np.unique(key, return_counts=True)
        table: dict = {}
        for kk, nn in zip(uk, cnt, strict=True):
            table.setdefault(int(kk // (n_var + 1)), np.zeros(n_var + 1))[int(kk % (n_var + 1))] \
                += nn
        tot = {}
        for cd, row in table.items():
            if row.sum() >= opts.min_pattern or cd == 0:
                tot[cd] = row
        norm = np.sum(list(tot.values()), axis=0)
        for cd, row in sorted(tot.items()):
            members = [mem[b] for b in range(len(mem)) if cd >> b & 1]
            size = int(np.prod([pr_gp_off[j + 1] - pr_gp_off[j] for j in members])) \
                if members else 1
            if size > opts.max_combos:
                dropped.append(([progs[model_progs[j]].key for j in members],
                                (row / np.maximum(norm, 1)).max()))
                continue
            n_combos.append(size)
            cfg_mem.extend(members)
            cfg_mem1.extend(coarse_of[j] for j in members)
            cfg_mem_off.append(len(cfg_mem))
            with np.errstate(divide="ignore"):
                cfg_lprior.append(np.log(row / np.maximum(norm, 1)))
        cl_cfg_off.append(len(cfg_lprior))
        cl_ncombo.append(sum(n_combos[cl_cfg_off[-2]:cl_cfg_off[-1]]))

    # loyalty grid: loyalty = 1 - min(1, 2 leakage U)
    nl = opts.n_loyalty if cfg.leakage > 0 else 1
    L_val = np.array([1.0 - min(1.0, 2 * cfg.leakage * (j + 0.5) / nl) for j in range(nl)])
    L_logw = np.full(nl, -math.log(nl))
    aL = np.minimum(ms_a[None, :] * L_val[:, None], 1 - 1e-9)  # (nL, S)
    eL = aL[:, :, None] * ms_D[None, :, :]  # per-class emission chance
    st_bL = eL / (1 - eL)
    st_coefL = np.log1p(-eL).sum(axis=2)
    qs = np.quantile(mc_pl, (np.arange(opts.n_pl) + 0.5) / opts.n_pl)
    arrays = dict(
        cls_kind=cls_kind, cls_w=cls_w, cls_wtw=cls_wtw,
        pl_val=qs.astype(np.float64), pl_logw=np.full(opts.n_pl, -math.log(opts.n_pl)),
        L_logw=L_logw, st_bL=np.ascontiguousarray(st_bL), st_coefL=st_coefL,
        ms_D=ms_D, ms_supp=ms_supp, ms_mult=ms_mult,
        var_logprior=var_logprior,
        pr_stage_off=np.array(pr_stage_off, np.int64), pr_gp_off=np.array(pr_gp_off, np.int64),
        gp_logw=np.array(gp_logw), gp_slot_off=np.array(gp_slot_off, np.int64),
        slot_iv_off=np.array(slot_iv_off, np.int64), iv_lo=np.array(iv_lo, np.int64),
        iv_hi=np.array(iv_hi, np.int64),
        cl_cls_off=np.array(cl_cls_off, np.int64), cl_cls=np.array(cl_cls, np.int64),
        cl_cfg_off=np.array(cl_cfg_off, np.int64), cfg_mem_off=np.array(cfg_mem_off, np.int64),
        cfg_mem=np.array(cfg_mem, np.int64), cfg_mem1=np.array(cfg_mem1, np.int64),
        cfg_lprior=np.array(cfg_lprior).reshape(-1, n_var + 1),
        cl_touch=cl_touch, cl_ncombo=np.array(cl_ncombo, np.int64),
        cl_prog_off=np.array(cl_prog_off, np.int64), cl_prog=np.array(cl_prog, np.int64),
        ms_lo=np.array([w_[0] for w_ in ms_win], np.int64),
        ms_hi=np.array([w_[1] for w_ in ms_win], np.int64),
        gp_t=np.array(gp_t, np.int64),
        # event-driven sweeps: no periodic stage, at most one suppression per class
        var_ev=np.array([all(ms_win[s_][2] <= 0 for s_ in range(pr_stage_off[v],
                                                                 pr_stage_off[v + 1]))
                         and ms_supp[pr_stage_off[v]:pr_stage_off[v + 1]].sum(axis=0).max() <= 1
                         for v in range(n_var)]),
    )
    info = dict(variants=[progs[r].key for r in variants],
                confounders=[progs[r].key for r in confs], classes=n_cls, clusters=n_cl,
                configs=len(cfg_lprior), combos=int(np.sum(n_combos)),
                grid=[pr_gp_off[v + 1] - pr_gp_off[v] for v in range(n_var)], mults=mults,
                dropped=dropped)
    return _EventModel(event, n_var, item_class, arrays, n_cls, info)


# --------------------------------------------------------------------------
# kernels


@njit(cache=False, nogil=True, parallel=True)
def _visits(offsets, basket, day, start_day):
    """Visits (distinct baskets) per customer: CSR offsets, day, line count; line -> visit."""
    n = offsets.shape[0] - 1
    nv = np.zeros(n + 1, np.int64)
    for c in prange(n):
        k = 0
        for l in range(offsets[c], offsets[c + 1]):  # noqa: E741
            if l == offsets[c] or basket[l] != basket[l - 1]:
                k += 1
        nv[c + 1] = k
    vis_off = np.cumsum(nv)
    vis_day = np.empty(vis_off[-1], np.int64)
    vis_nb = np.zeros(vis_off[-1], np.int64)
    line_vis = np.empty(offsets[-1], np.int64)
    for c in prange(n):
        v = vis_off[c] - 1
        for l in range(offsets[c], offsets[c + 1]):  # noqa: E741
            if l == offsets[c] or basket[l] != basket[l - 1]:
                v += 1
                vis_day[v] = day[l] - start_day
            vis_nb[v] += 1
            line_vis[l] = v
    return vis_off, vis_day, vis_nb, line_vis


@njit(cache=False, nogil=True)
def _logaddexp(a, b):
    if a > b:
        d = b - a
        return a if d < -40.0 else a + math.log1p(math.exp(d))  # exp(-40): 4e-18
    d = a - b
    return b if d < -40.0 or b == -np.inf else b + math.log1p(math.exp(d))


@njit(cache=False, nogil=True)
def _comps(kind, w, wtw, bm, pl_val, pl_logw, fav, kcap, lp_out, r_out):
    """Mixture components (log prior, per-line rate) of a class's latent base rate."""
    nu = 3
    nraw_max = 4096
    raw_lp = np.empty(nraw_max)
    raw_r = np.empty(nraw_max)
    n = 0
    npl = 1 if kind == 0 else pl_val.shape[0]
    for a in range(npl):
        if kind == 0:
            wl = w
            lpw = 0.0
        elif kind == 1:
            wl = min(1.0, w + pl_val[a] * wtw)
            lpw = pl_logw[a]
        else:
            wl = w * (1.0 - pl_val[a])
            lpw = pl_logw[a]
        for j in range(nu):
            u = (j + 0.5) / nu
            nf = max(_NFAV_MIN, int(bm * (_NFAV_LO + _NFAV_SPAN * u)))
            base = lpw - math.log(nu)
            if wl <= 0.0:
                if n < nraw_max:
                    raw_lp[n] = base
                    raw_r[n] = 0.0
                    n += 1
                continue
            if wl >= 1.0:
                if n < nraw_max:
                    raw_lp[n] = base
                    raw_r[n] = 1.0 - 1e-9
                    n += 1
                continue
            lpk = nf * math.log1p(-wl)
            cum = 0.0
            for k in range(nf + 1):
                if k > 0:
                    lpk += math.log((nf - k + 1) / k) + math.log(wl / (1.0 - wl))
                if n < nraw_max:
                    raw_lp[n] = base + lpk
                    raw_r[n] = min(fav * k / nf + (1.0 - fav) * wl, 1.0 - 1e-9)
                    n += 1
                cum += math.exp(lpk)
                if cum > 1.0 - 1e-7:
                    break
    # bin by rate (log scale) into at most kcap components
    rmin = 1e300
    rmax = 0.0
    for i in range(n):
        rmin = min(rmin, raw_r[i])
        rmax = max(rmax, raw_r[i])
    if rmax <= rmin * (1.0 + 1e-9) or rmax == 0.0:
        tot = -np.inf
        for i in range(n):
            tot = _logaddexp(tot, raw_lp[i])
        lp_out[0] = tot
        r_out[0] = rmax
        return 1
    lmin = math.log(max(rmin, 1e-12))
    lmax = math.log(rmax)
    wsum = np.zeros(kcap)
    rsum = np.zeros(kcap)
    for i in range(n):
        x = math.log(max(raw_r[i], 1e-12))
        b = min(kcap - 1, int((x - lmin) / (lmax - lmin + 1e-12) * kcap))
        p = math.exp(raw_lp[i])
        wsum[b] += p
        rsum[b] += p * raw_r[i]
    m = 0
    for b in range(kcap):
        if wsum[b] > 0:
            lp_out[m] = math.log(wsum[b])
            r_out[m] = rsum[b] / wsum[b]
            m += 1
    return m


@njit(cache=False, nogil=True)
def _in_slot(d, slot, slot_iv_off, iv_lo, iv_hi):
    for q in range(slot_iv_off[slot], slot_iv_off[slot + 1]):
        if iv_lo[q] <= d < iv_hi[q]:
            return True
    return False


@njit(cache=False, nogil=True)
def _slot_sum(pre, slot, slot_iv_off, iv_lo, iv_hi):
    s = 0.0
    for q in range(slot_iv_off[slot], slot_iv_off[slot + 1]):
        s += pre[iv_hi[q]] - pre[iv_lo[q]]
    return s


@njit(cache=False, nogil=True)
def _union_nb(lo, hi, n, nb_pre, merge):
    """Basket lines of the visits inside the union of intervals ``[lo, hi)[:n]``
    (sorted and merged in place when ``merge``; returns (lines, merged count))."""
    for i in range(1, n):
        x, y = lo[i], hi[i]
        k = i - 1
        while k >= 0 and lo[k] > x:
            lo[k + 1] = lo[k]
            hi[k + 1] = hi[k]
            k -= 1
        lo[k + 1] = x
        hi[k + 1] = y
    nb_s = 0.0
    cur_lo, cur_hi = -1, -1
    m_iv = 0
    for i in range(n):
        if lo[i] > cur_hi:
            if cur_hi > cur_lo:
                nb_s += nb_pre[cur_hi] - nb_pre[cur_lo]
                if merge:
                    lo[m_iv] = cur_lo
                    hi[m_iv] = cur_hi
                m_iv += 1
            cur_lo, cur_hi = lo[i], hi[i]
        else:
            cur_hi = max(cur_hi, hi[i])
    if cur_hi > cur_lo:
        nb_s += nb_pre[cur_hi] - nb_pre[cur_lo]
        if merge:
            lo[m_iv] = cur_lo
            hi[m_iv] = cur_hi
        m_iv += 1
    return nb_s, m_iv


@njit(cache=False, nogil=True)
def _lv_contrib(c, lv, na, a_s, supp, ws, cust, out):
    """log of one line visit's matching sum per (component, loyalty): ``out[k, L]``
    (the visit's lines of class c, the active buying stages ``a_s[:na]``)."""
    (ms_D, ms_supp, ms_mult, st_bL, rho, slot_iv_off, iv_lo, iv_hi) = ws
    (vis_day, vis_nb, nb_pre, nb_tot, lv_off, lv_vis, lv_ln_off, ln_q, comp_lp, comp_lz,
     comp_lo, comp_n, sup_lo, sup_hi, a_s_, a_m, Y, poly, dp, ndp) = cust
    nL = out.shape[1]
    nk = comp_n[c]
    nb = vis_nb[lv_vis[lv]]
    l0 = lv_ln_off[lv]
    m_all = lv_ln_off[lv + 1] - l0
    m = min(m_all, _MAXM)
    extra = m_all - m
    if na == 0:
        lfall = 0.0
        for y in range(m_all):
            lfall += math.log(max(nb - y, 1))
        for k in range(nk):
            lo = math.log(_O_FLOOR) if supp else comp_lo[c, k]
            t = lfall + m_all * lo
            for L in range(nL):
                out[k, L] = t
        return
    for L in range(nL):
        if m == 1:
            q = ln_q[l0]
            s1 = 0.0
            for a in range(na):
                s1 += st_bL[L, a_s[a], c] * rho[q, ms_mult[a_s[a]]]
            poly[0] = s1
            poly[1] = 1.0
        else:
            nmask = 1 << na
            for x in range(nmask):
                for y in range(m + 1):
                    dp[x, y] = 0.0
            dp[0, 0] = 1.0
            for jl in range(m):
                q = ln_q[l0 + jl]
                for x in range(nmask):
                    for y in range(m + 1):
                        ndp[x, y] = 0.0
                for x in range(nmask):
                    for y in range(jl + 1):
                        val = dp[x, y]
                        if val == 0.0:
                            continue
                        ndp[x, y + 1] += val
                        for a in range(na):
                            if not (x >> a) & 1:
                                ndp[x | (1 << a), y] += val * st_bL[L, a_s[a], c] * \
                                    rho[q, ms_mult[a_s[a]]]
                for x in range(nmask):
                    for y in range(m + 1):
                        dp[x, y] = ndp[x, y]
            for y in range(m + 1):
                t = 0.0
                for x in range(nmask):
                    t += dp[x, y]
                poly[y] = t
        for k in range(nk):
            o = _O_FLOOR if supp else math.exp(comp_lo[c, k])
            tot = 0.0
            fall = 1.0
            opow = 1.0
            for y in range(m + 1):
                tot += poly[y] * fall * opow
                fall *= max(nb - y, 1)
                opow *= o
            if extra > 0:
                tot *= (o * nb) ** extra
            out[k, L] = math.log(max(tot, 1e-300))


@njit(cache=False, nogil=True)
def _lv_term(c, lv, na, a_s, supp, ws, cust, lvc):
    """:func:`_lv_contrib` of line visit ``lv`` (global index), cached per visit by its
    state (the set of active buying stages, suppression); returns the cached
    ``[k, L]`` block."""
    (lvc_key, lvc_n, lvc_val, tmp) = lvc
    # order-independent key: sort the stages (the matching sum does not depend on it)
    for x in range(1, na):
        y = a_s[x]
        z = x - 1
        while z >= 0 and a_s[z] > y:
            a_s[z + 1] = a_s[z]
            z -= 1
        a_s[z + 1] = y
    h = _mix(_FNV, 2 if supp else 1)
    for x in range(na):
        h = _mix(h, a_s[x] + 3)
    for e in range(lvc_n[lv]):
        if lvc_key[lv, e] == h:
            return lvc_val[lv, e]
    if lvc_n[lv] < lvc_key.shape[1]:
        e = lvc_n[lv]
        lvc_n[lv] += 1
        lvc_key[lv, e] = h
        _lv_contrib(c, lv, na, a_s, supp, ws, cust, lvc_val[lv, e])
        return lvc_val[lv, e]
    _lv_contrib(c, lv, na, a_s, supp, ws, cust, tmp)
    return tmp


@njit(cache=False, nogil=True)
def _mix_lse(c, nb_u, Ysum, comp_lp, comp_lz, nk, logG0, out):
    """out[L] = log sum_k exp(lp_k + nb_u lz_k + Ysum[k, L]) - logG0[c, L]."""
    nL = out.shape[0]
    for L in range(nL):
        best = -np.inf
        for k in range(nk):
            x = comp_lp[c, k] + nb_u * comp_lz[c, k] + Ysum[k, L]
            if x > best:
                best = x
        tot = 0.0
        for k in range(nk):
            x = comp_lp[c, k] + nb_u * comp_lz[c, k] + Ysum[k, L] - best
            if x > -40.0:
                tot += math.exp(x)
        out[L] = best + math.log(tot) - logG0[c, L]


@njit(cache=False, nogil=True)
def _log_g(c, n_src, src_s, src_slot, ws, cust, out, lvc, zero_g):
    """log G_c - logG0_c per loyalty grid point (``out``): the class's likelihood over
    all the customer's visits, its latent base rate marginalized, given the active
    sources ``(stage, slot)``; ``zero_g`` is logG0 (zeros to compute logG0 itself)."""
    (ms_D, ms_supp, ms_mult, st_bL, rho, slot_iv_off, iv_lo, iv_hi) = ws
    (vis_day, vis_nb, nb_pre, nb_tot, lv_off, lv_vis, lv_ln_off, ln_q, comp_lp, comp_lz,
     comp_lo, comp_n, sup_lo, sup_hi, a_s, a_m, Y, poly, dp, ndp) = cust
    nL = out.shape[0]
    ns = 0
    for j in range(n_src):
        s = src_s[j]
        if ms_supp[s, c]:
            sl = src_slot[j]
            for q in range(slot_iv_off[sl], slot_iv_off[sl + 1]):
                sup_lo[ns] = iv_lo[q]
                sup_hi[ns] = iv_hi[q]
                ns += 1
    nb_s, m_iv = _union_nb(sup_lo, sup_hi, ns, nb_pre, True)
    nk = comp_n[c]
    for k in range(nk):
        for L in range(nL):
            Y[k, L] = 0.0
    for lv in range(lv_off[c], lv_off[c + 1]):
        d = vis_day[lv_vis[lv]]
        supp = False
        for i in range(m_iv):
            if sup_lo[i] <= d < sup_hi[i]:
                supp = True
                break
        na = 0
        for j in range(n_src):
            s = src_s[j]
            if ms_D[s, c] > 0.0 and na < _MAXA and _in_slot(d, src_slot[j], slot_iv_off,
                                                             iv_lo, iv_hi):
                a_m[na] = s
                na += 1
        blk = _lv_term(c, lv, na, a_m, supp, ws, cust, lvc)
        for k in range(nk):
            for L in range(nL):
                Y[k, L] += blk[k, L]
    _mix_lse(c, nb_tot - nb_s, Y, comp_lp, comp_lz, nk, zero_g, out)


@njit(cache=False, nogil=True)
def _sweep(c, v, ng, n_src, src_s, src_slot, ws, cust, prog, logG0, sw, S, stats, lvc):
    """Add, for every grid point i of variant v's onset, log G_c - logG0_c with the
    sources ``src[:n_src]`` (a combination of confounders) and the variant's stages
    into ``S[i, L]``; line visits are recomputed only when their stage state changes,
    the mixture only when a line visit or the suppressed basket lines change."""
    (ms_D, ms_supp, ms_mult, st_bL, rho, slot_iv_off, iv_lo, iv_hi) = ws
    (vis_day, vis_nb, nb_pre, nb_tot, lv_off, lv_vis, lv_ln_off, ln_q, comp_lp, comp_lz,
     comp_lo, comp_n, sup_lo, sup_hi, a_s, a_m, Y, poly, dp, ndp) = cust
    (pr_stage_off, pr_gp_off, gp_logw, gp_slot_off) = prog
    (lv_state, lv_csupp, lv_emit, contrib, tmp, vals, es, fmemo) = sw[:8]
    fm_gen, cgen = sw[12], sw[13][0]
    nL = S.shape[1]
    nk = comp_n[c]
    lv0, lv1 = lv_off[c], lv_off[c + 1]
    for lv in range(lv0, lv1):
        lv_state[lv - lv0] = -1
        lv_emit[lv - lv0] = False
        d = vis_day[lv_vis[lv]]
        cs = False
        for j in range(n_src):
            s = src_s[j]
            if ms_supp[s, c] and _in_slot(d, src_slot[j], slot_iv_off, iv_lo, iv_hi):
                cs = True
                break
        lv_csupp[lv - lv0] = cs
    # E's stages touching c
    ne = 0
    for s in range(pr_stage_off[v], pr_stage_off[v + 1]):
        if ms_supp[s, c] or ms_D[s, c] > 0.0:
            es[ne] = s - pr_stage_off[v]
            ne += 1
    for k in range(nk):
        for L in range(nL):
            Y[k, L] = 0.0
    n_emit = 0
    last_nb = -1.0
    use_memo = lv1 == lv0 and fmemo.shape[1] > nb_tot + 1
    for i in range(ng):
        g = pr_gp_off[v] + i
        changed = False
        for lv in range(lv0, lv1):
            d = vis_day[lv_vis[lv]]
            st = 0
            for e in range(ne):
                if _in_slot(d, gp_slot_off[g] + es[e], slot_iv_off, iv_lo, iv_hi):
                    st |= 1 << e
            if st == lv_state[lv - lv0]:
                continue
            changed = True
            supp = lv_csupp[lv - lv0]
            na = 0
            for j in range(n_src):
                s = src_s[j]
                if ms_D[s, c] > 0.0 and na < _MAXA and _in_slot(d, src_slot[j], slot_iv_off,
                                                                 iv_lo, iv_hi):
                    a_s[na] = s
                    na += 1
            for e in range(ne):
                if (st >> e) & 1:
                    s = pr_stage_off[v] + es[e]
                    if ms_supp[s, c]:
                        supp = True
                    elif na < _MAXA:
                        a_s[na] = s
                        na += 1
            blk = _lv_term(c, lv, na, a_s, supp, ws, cust, lvc)
            stats[6] += 1
            if lv_state[lv - lv0] >= 0:
                for k in range(nk):
                    for L in range(nL):
                        Y[k, L] -= contrib[lv - lv0, k, L]
            for k in range(nk):
                for L in range(nL):
                    contrib[lv - lv0, k, L] = blk[k, L]
                    Y[k, L] += blk[k, L]
            if lv_emit[lv - lv0]:
                n_emit -= 1
            lv_emit[lv - lv0] = na > 0
            if na > 0:
                n_emit += 1
            lv_state[lv - lv0] = st
        # suppressed basket lines: union of the combination's and E's windows
        ns = 0
        for j in range(n_src):
            s = src_s[j]
            if ms_supp[s, c]:
                sl = src_slot[j]
                for q in range(slot_iv_off[sl], slot_iv_off[sl + 1]):
                    sup_lo[ns] = iv_lo[q]
                    sup_hi[ns] = iv_hi[q]
                    ns += 1
        for e in range(ne):
            s = pr_stage_off[v] + es[e]
            if ms_supp[s, c]:
                sl = gp_slot_off[g] + es[e]
                for q in range(slot_iv_off[sl], slot_iv_off[sl + 1]):
                    sup_lo[ns] = iv_lo[q]
                    sup_hi[ns] = iv_hi[q]
                    ns += 1
        nb_s, _ = _union_nb(sup_lo, sup_hi, ns, nb_pre, False)
        if changed or nb_s != last_nb:
            last_nb = nb_s
            if use_memo:
                nbu = int(nb_tot - nb_s + 0.5)
                x = fmemo[c, nbu]
                if fm_gen[c, nbu] != cgen:
                    fm_gen[c, nbu] = cgen
                    stats[7] += 1
                    _mix_lse(c, nb_tot - nb_s, Y, comp_lp, comp_lz, nk, logG0, vals[:1])
                    fmemo[c, nbu] = vals[0]
                    x = vals[0]
                for L in range(nL):
                    vals[L] = x
            elif n_emit == 0:
                # no buying stage at any line visit: the same for every loyalty
                stats[7] += 1
                _mix_lse(c, nb_tot - nb_s, Y, comp_lp, comp_lz, nk, logG0, vals[:1])
                for L in range(1, nL):
                    vals[L] = vals[0]
            else:
                stats[7] += 1
                _mix_lse(c, nb_tot - nb_s, Y, comp_lp, comp_lz, nk, logG0, vals)
        for L in range(nL):
            S[i, L] += vals[L]


_FNV = np.uint64(0xCBF29CE484222325)
_FNV_P = np.uint64(0x100000001B3)


@njit(cache=False, nogil=True, inline="always")
def _mix(h, x):
    return (h ^ np.uint64(x)) * _FNV_P


@njit(cache=False, nogil=True)
def _count_before(arr, lo, hi, x):
    """Number of entries of the sorted ``arr[lo:hi]`` that are < x."""
    a, b = lo, hi
    while a < b:
        m = (a + b) // 2
        if arr[m] < x:
            a = m + 1
        else:
            b = m
    return a - lo


@njit(cache=False, nogil=True)
def _first_above(arr, lo, hi, x):
    """Index (from lo) of the first entry of the sorted ``arr[lo:hi]`` that is > x."""
    a, b = lo, hi
    while a < b:
        m = (a + b) // 2
        if arr[m] <= x:
            a = m + 1
        else:
            b = m
    return a - lo


@njit(cache=False, nogil=True)
def _effect_hash(p, g, c, pr_stage_off, gp_slot_off, ms_D, ms_supp, cnt_pre, lv_day, lv_off,
                 slot_iv_off, iv_lo, iv_hi):
    """Hash of the exact effect of program p at grid point g on class c: which visits
    fall in its suppression windows, which of the class's line visits in its buying
    windows (0: no effect)."""
    h = _FNV
    any_ = False
    c_lines = lv_off[c + 1] > lv_off[c]
    for j in range(pr_stage_off[p + 1] - pr_stage_off[p]):
        s = pr_stage_off[p] + j
        supp = ms_supp[s, c]
        if not supp and not (c_lines and ms_D[s, c] > 0.0):
            continue
        any_ = True
        h = _mix(h, s + 1)
        slot = gp_slot_off[g] + j
        for q in range(slot_iv_off[slot], slot_iv_off[slot + 1]):
            if supp:
                h = _mix(h, np.int64(cnt_pre[iv_lo[q]]) * 65536 + np.int64(cnt_pre[iv_hi[q]]))
            else:
                h = _mix(h, _count_before(lv_day, lv_off[c], lv_off[c + 1], iv_lo[q]) * 65536
                         + _count_before(lv_day, lv_off[c], lv_off[c + 1], iv_hi[q]))
    return h if any_ else np.uint64(0)


@njit(cache=False, nogil=True)
def _class_value(c, ci, nmem, mem_g, ph, n_src, src_s, src_slot, ws, cust, logG0, cc, gen,
                 gv, lvc, stats):
    """_log_g of class c under a combination of programs (grid points ``mem_g``), cached
    by the combination's exact effect on c (``ph``: per grid point and class)."""
    (cc_hash, cc_gen, cc_idx, cc_val, cc_n) = cc
    h = _mix(_FNV, c + 1)
    for b in range(nmem):
        h = _mix(h, ph[mem_g[b], ci])
    size = cc_hash.shape[0]
    pos = np.int64(h & np.uint64(size - 1))
    while cc_gen[pos] == gen and cc_hash[pos] != h:
        pos = (pos + 1) & (size - 1)
    nL = gv.shape[0]
    if cc_gen[pos] == gen:
        k = cc_idx[pos]
        for L in range(nL):
            gv[L] = cc_val[k, L]
        return
    stats[2] += 1
    _log_g(c, n_src, src_s, src_slot, ws, cust, gv, lvc, logG0)
    if cc_n[0] < cc_val.shape[0] and cc_n[0] < size // 2:
        k = cc_n[0]
        cc_n[0] += 1
        cc_gen[pos] = gen
        cc_hash[pos] = h
        cc_idx[pos] = k
        for L in range(nL):
            cc_val[k, L] = gv[L]


@njit(cache=False, nogil=True)
def _sweep_ev(c, v, ng, n_src, src_s, src_slot, ws, cust, prog, logG0, sw, S, stats,
              gp_t, ms_lo, ms_hi, lvc):
    """As :func:`_sweep` for a variant without periodic stages, event driven: a line
    visit's state changes only where a stage window boundary crosses it."""
    (ms_D, ms_supp, ms_mult, st_bL, rho, slot_iv_off, iv_lo, iv_hi) = ws
    (vis_day, vis_nb, nb_pre, nb_tot, lv_off, lv_vis, lv_ln_off, ln_q, comp_lp, comp_lz,
     comp_lo, comp_n, sup_lo, sup_hi, a_s, a_m, Y, poly, dp, ndp) = cust
    (pr_stage_off, pr_gp_off, gp_logw, gp_slot_off) = prog
    (lv_state, lv_csupp, lv_emit, contrib, tmp, vals, es, fmemo, ev_i, ev_lv, on_i, off_i,
     fm_gen, cgen_a) = sw
    cgen = cgen_a[0]
    nL = S.shape[1]
    nk = comp_n[c]
    lv0, lv1 = lv_off[c], lv_off[c + 1]
    nlv = lv1 - lv0
    g0 = pr_gp_off[v]
    ne = 0
    e_supp = False
    for s in range(pr_stage_off[v], pr_stage_off[v + 1]):
        if ms_supp[s, c] or ms_D[s, c] > 0.0:
            es[ne] = s
            ne += 1
            if ms_supp[s, c]:
                e_supp = True
    # combination's effect: suppression at each line visit, suppression windows
    c_supp = False
    for j in range(n_src):
        if ms_supp[src_s[j], c]:
            c_supp = True
    nev = 0
    for j in range(nlv):
        lv = lv0 + j
        d = vis_day[lv_vis[lv]]
        cs = False
        if c_supp:
            for jj in range(n_src):
                s = src_s[jj]
                if ms_supp[s, c] and _in_slot(d, src_slot[jj], slot_iv_off, iv_lo, iv_hi):
                    cs = True
                    break
        lv_csupp[j] = cs
        lv_state[j] = -1
        lv_emit[j] = False
        # active for onsets t with d - hi < t <= d - lo: grid points [on, off)
        for e in range(ne):
            s = es[e]
            a = _first_above(gp_t, g0, g0 + ng, d - ms_hi[s])
            b = _first_above(gp_t, g0, g0 + ng, d - ms_lo[s])
            on_i[j * ne + e] = a
            off_i[j * ne + e] = b
            if a < b:
                if a > 0:
                    ev_i[nev] = a
                    ev_lv[nev] = j
                    nev += 1
                if b < ng:
                    ev_i[nev] = b
                    ev_lv[nev] = j
                    nev += 1
    # sort events by grid point (insertion sort: few)
    for x in range(1, nev):
        ki, kl = ev_i[x], ev_lv[x]
        y = x - 1
        while y >= 0 and ev_i[y] > ki:
            ev_i[y + 1] = ev_i[y]
            ev_lv[y + 1] = ev_lv[y]
            y -= 1
        ev_i[y + 1] = ki
        ev_lv[y + 1] = kl
    for k in range(nk):
        for L in range(nL):
            Y[k, L] = 0.0
    n_emit = 0
    last_nb = -1.0
    use_memo = nlv == 0 and fmemo.shape[1] > nb_tot + 1
    pe = 0
    # the combination's suppression windows (fixed along the sweep), merged
    nsc = 0
    if c_supp:
        for j in range(n_src):
            s = src_s[j]
            if ms_supp[s, c]:
                sl = src_slot[j]
                for q in range(slot_iv_off[sl], slot_iv_off[sl + 1]):
                    sup_lo[nsc] = iv_lo[q]
                    sup_hi[nsc] = iv_hi[q]
                    nsc += 1
    nb_c, nsc = _union_nb(sup_lo, sup_hi, nsc, nb_pre, True)
    e_sl = 0
    for e in range(ne):
        if ms_supp[es[e], c]:
            e_sl = es[e] - pr_stage_off[v]
    for i in range(ng):
        changed = False
        # line visits whose state changes at i (all of them at i = 0)
        jlo = 0
        jhi = nlv if i == 0 else 0
        while True:
            if i == 0:
                if jlo >= jhi:
                    break
                j = jlo
                jlo += 1
            else:
                if pe >= nev or ev_i[pe] != i:
                    break
                j = ev_lv[pe]
                pe += 1
            st = 0
            for e in range(ne):
                if on_i[j * ne + e] <= i < off_i[j * ne + e]:
                    st |= 1 << e
            if st == lv_state[j]:
                continue
            changed = True
            lv = lv0 + j
            d = vis_day[lv_vis[lv]]
            supp = lv_csupp[j]
            na = 0
            for jj in range(n_src):
                s = src_s[jj]
                if ms_D[s, c] > 0.0 and na < _MAXA and _in_slot(d, src_slot[jj], slot_iv_off,
                                                                 iv_lo, iv_hi):
                    a_s[na] = s
                    na += 1
            for e in range(ne):
                if (st >> e) & 1:
                    s = es[e]
                    if ms_supp[s, c]:
                        supp = True
                    elif na < _MAXA:
                        a_s[na] = s
                        na += 1
            blk = _lv_term(c, lv, na, a_s, supp, ws, cust, lvc)
            stats[6] += 1
            if lv_state[j] >= 0:
                for k in range(nk):
                    for L in range(nL):
                        Y[k, L] -= contrib[j, k, L]
            for k in range(nk):
                for L in range(nL):
                    contrib[j, k, L] = blk[k, L]
                    Y[k, L] += blk[k, L]
            if lv_emit[j]:
                n_emit -= 1
            lv_emit[j] = na > 0
            if na > 0:
                n_emit += 1
            lv_state[j] = st
        # suppressed basket lines: the combination's windows and E's (one stage)
        if e_supp:
            sl = gp_slot_off[g0 + i] + e_sl
            nb_s = nb_c
            for q in range(slot_iv_off[sl], slot_iv_off[sl + 1]):
                lo_e, hi_e = iv_lo[q], iv_hi[q]
                nb_s += nb_pre[hi_e] - nb_pre[lo_e]
                for r in range(nsc):  # minus the overlap with the combination's
                    lo_x = max(lo_e, sup_lo[r])
                    hi_x = min(hi_e, sup_hi[r])
                    if hi_x > lo_x:
                        nb_s -= nb_pre[hi_x] - nb_pre[lo_x]
        else:
            nb_s = nb_c
        if changed or nb_s != last_nb:
            last_nb = nb_s
            stats[7] += 1
            if use_memo:
                nbu = int(nb_tot - nb_s + 0.5)
                x = fmemo[c, nbu]
                if fm_gen[c, nbu] != cgen:
                    fm_gen[c, nbu] = cgen
                    _mix_lse(c, nb_tot - nb_s, Y, comp_lp, comp_lz, nk, logG0, vals[:1])
                    fmemo[c, nbu] = vals[0]
                    x = vals[0]
                for L in range(nL):
                    vals[L] = x
            elif n_emit == 0:
                _mix_lse(c, nb_tot - nb_s, Y, comp_lp, comp_lz, nk, logG0, vals[:1])
                for L in range(1, nL):
                    vals[L] = vals[0]
            else:
                _mix_lse(c, nb_tot - nb_s, Y, comp_lp, comp_lz, nk, logG0, vals)
        for L in range(nL):
            S[i, L] += vals[L]


@njit(cache=False, nogil=True)
def _touches(c, n_src, src_s, ms_D, ms_supp, has_lines):
    for j in range(n_src):
        s = src_s[j]
        if ms_supp[s, c] or (has_lines and ms_D[s, c] > 0.0):
            return True
    return False


@njit(cache=False, nogil=True)
def _lse_rows(X, n, ng, nL, F):
    """F[i, L] = log sum_j exp(X[j, i, L]) over j < n, added (log) to F."""
    for i in range(ng):
        for L in range(nL):
            best = F[i, L]
            for j in range(n):
                if X[j, i, L] > best:
                    best = X[j, i, L]
            if best == -np.inf:
                continue
            tot = 0.0
            cut = best - 40.0
            if F[i, L] > cut:
                tot = math.exp(F[i, L] - best)
            for j in range(n):
                if X[j, i, L] > cut:
                    tot += math.exp(X[j, i, L] - best)
            F[i, L] = best + math.log(tot)


@njit(cache=False, nogil=True)
def _sources(cfg, combo_gp, mem, cfg_mem_off, pr_stage_off, gp_slot_off, src_s, src_slot,
             mem_g):
    """Stages and slots of a combination (members ``mem[cfg_mem_off[cfg]:]`` at grid
    points ``combo_gp``); returns (number of sources, number of members)."""
    m0 = cfg_mem_off[cfg]
    nm = cfg_mem_off[cfg + 1] - m0
    n_src = 0
    for b in range(nm):
        p = mem[m0 + b]
        g = combo_gp[b]
        mem_g[b] = g
        for jj in range(pr_stage_off[p + 1] - pr_stage_off[p]):
            src_s[n_src] = pr_stage_off[p] + jj
            src_slot[n_src] = gp_slot_off[g] + jj
            n_src += 1
    return n_src, nm


@njit(cache=False, nogil=True)
def _score_kernel(vis_off, vis_day, vis_nb, line_off, line_vis, line_cls, line_q, n_days,
                  n_cls, cls_kind, cls_w, cls_wtw, pl_val, pl_logw, fav, kcap,
                  L_logw, st_bL, st_coefL, ms_D, ms_supp, ms_mult, ms_lo, ms_hi, rho,
                  n_var, var_logprior, var_ev, pr_stage_off, pr_gp_off, gp_logw, gp_slot_off,
                  gp_t, slot_iv_off, iv_lo, iv_hi,
                  cl_cls_off, cl_cls, cl_prog_off, cl_prog, cl_cfg_off, cfg_mem_off, cfg_mem,
                  cfg_mem1, cfg_lprior, cl_ncombo, first, last, out, stats):
    n_cl = cl_cls_off.shape[0] - 1
    n_gp = gp_logw.shape[0]
    nL = L_logw.shape[0]
    max_g = 1
    for v in range(n_var):
        max_g = max(max_g, pr_gp_off[v + 1] - pr_gp_off[v])
    max_src = ms_D.shape[0] + 1
    max_mem = 1
    for f in range(cfg_mem_off.shape[0] - 1):
        max_mem = max(max_mem, cfg_mem_off[f + 1] - cfg_mem_off[f])
    max_cmb = 1
    max_ccls = 1
    for K in range(n_cl):
        max_cmb = max(max_cmb, cl_ncombo[K])
        max_ccls = max(max_ccls, cl_cls_off[K + 1] - cl_cls_off[K])
    tsize = 1
    while tsize < 2 * max_cmb:
        tsize *= 2
    max_iv = iv_lo.shape[0] + 1
    ws = (ms_D, ms_supp, ms_mult, st_bL, rho, slot_iv_off, iv_lo, iv_hi)
    prog = (pr_stage_off, pr_gp_off, gp_logw, gp_slot_off)
    XCAP = 32
    # work arrays (reused across customers)
    cnt_pre = np.zeros(n_days + 1)
    nb_pre = np.zeros(n_days + 1)
    comp_lp = np.empty((n_cls, kcap))
    comp_r = np.empty((n_cls, kcap))
    comp_lz = np.empty((n_cls, kcap))
    comp_lo = np.empty((n_cls, kcap))
    comp_n = np.empty(n_cls, np.int64)
    sup_lo = np.empty(max_iv, np.int64)
    sup_hi = np.empty(max_iv, np.int64)
    a_s = np.empty(_MAXA, np.int64)
    a_m = np.empty(_MAXA, np.int64)
    Y = np.empty((kcap, nL))
    poly = np.empty(_MAXM + 1)
    dp = np.empty((1 << _MAXA, _MAXM + 1))
    ndp = np.empty((1 << _MAXA, _MAXM + 1))
    src_s = np.empty(max_src, np.int64)
    src_slot = np.empty(max_src, np.int64)
    logG0 = np.zeros((n_cls, nL))
    zero2 = np.zeros((n_cls, nL))
    combo = np.zeros(max_mem, np.int64)
    combo_gp = np.zeros(max_mem, np.int64)
    mem_g = np.empty(max_mem, np.int64)
    gp_nl = np.empty((n_gp, nL))
    ph = np.zeros((n_gp, max_ccls), np.uint64)
    tot1 = np.empty((n_var, max_g, nL))
    F = np.empty((max_g, nL))
    X = np.empty((XCAP, max_g, nL))
    acc = np.empty((n_var + 1, nL))
    edep = np.zeros(n_cls, np.bool_)
    tot0 = np.empty(nL)
    gv = np.empty(nL)
    val = np.empty(nL)
    t_hash = np.zeros(tsize, np.uint64)
    t_idx = np.full(tsize, -1, np.int64)
    cmb_cfg = np.empty(max_cmb, np.int64)
    cmb_gp = np.empty((max_cmb, max_mem), np.int64)
    sig_first = np.empty(max_cmb, np.int64)
    sig_w = np.empty((max_cmb, n_var + 1, nL))
    w2 = np.empty((max_cmb, nL))
    c2_cfg = np.empty(max_cmb, np.int64)
    c2_gp = np.empty((max_cmb, max_mem), np.int64)
    tmp = np.empty((kcap, nL))
    pool = np.empty((64, max_g, nL))
    p_hash = np.zeros(256, np.uint64)
    p_idx = np.full(256, -1, np.int64)
    cc = (np.zeros(16384, np.uint64), np.zeros(16384, np.int64), np.zeros(16384, np.int64),
          np.empty((8192, nL)), np.zeros(1, np.int64))
    gen = 0
    vals = np.empty(nL)
    es = np.empty(max_src, np.int64)
    ccount = np.zeros(n_cls + 1, np.int64)
    fill = np.zeros(n_cls, np.int64)
    lv_off = np.zeros(n_cls + 1, np.int64)
    # variable-size buffers (grown on demand; fresh pages per customer are slow)
    cap_l = 256
    ln_vis = np.empty(cap_l, np.int64)
    ln_q = np.empty(cap_l, np.int64)
    lv_vis = np.empty(cap_l, np.int64)
    lv_day = np.empty(cap_l, np.int64)
    lv_ln_off = np.empty(cap_l, np.int64)
    lv_state = np.empty(cap_l, np.int64)
    lv_csupp = np.empty(cap_l, np.bool_)
    lv_emit = np.empty(cap_l, np.bool_)
    contrib = np.empty((cap_l, kcap, nL))
    lvc_key = np.empty((cap_l, 6), np.uint64)
    lvc_n = np.zeros(cap_l, np.int64)
    lvc_val = np.empty((cap_l, 6, kcap, nL))
    ev_i = np.empty(2 * cap_l * max_src, np.int64)
    ev_lv = np.empty(2 * cap_l * max_src, np.int64)
    on_i = np.empty(cap_l * max_src, np.int64)
    off_i = np.empty(cap_l * max_src, np.int64)
    cap_nb = 4096
    fmemo = np.empty((n_cls, cap_nb))
    fm_gen = np.zeros((n_cls, cap_nb), np.int64)
    cgen = np.zeros(1, np.int64)
    for ci in range(first, last):
        v0, v1 = vis_off[ci], vis_off[ci + 1]
        nv = v1 - v0
        if nv == 0:
            out[ci] = 0.0
            continue
        cnt_pre[:] = 0.0
        nb_pre[:] = 0.0
        for v in range(v0, v1):
            cnt_pre[vis_day[v] + 1] += 1.0
            nb_pre[vis_day[v] + 1] += vis_nb[v]
        for d in range(n_days):
            cnt_pre[d + 1] += cnt_pre[d]
            nb_pre[d + 1] += nb_pre[d]
        nb_tot = nb_pre[n_days]
        bm = min(60.0, max(1.0, nb_tot / nv))
        # relevant lines grouped by class, then visit
        l0, l1 = line_off[ci], line_off[ci + 1]
        ccount[:] = 0
        for l in range(l0, l1):  # noqa: E741
            k = line_cls[l]
            if k >= 0:
                ccount[k + 1] += 1
        for k in range(n_cls):
            ccount[k + 1] += ccount[k]
        nl = ccount[n_cls]
        if nl + 1 > cap_l:
            cap_l = 2 * (nl + 1)
            ln_vis = np.empty(cap_l, np.int64)
            ln_q = np.empty(cap_l, np.int64)
            lv_vis = np.empty(cap_l, np.int64)
            lv_day = np.empty(cap_l, np.int64)
            lv_ln_off = np.empty(cap_l, np.int64)
            lv_state = np.empty(cap_l, np.int64)
            lv_csupp = np.empty(cap_l, np.bool_)
            lv_emit = np.empty(cap_l, np.bool_)
            contrib = np.empty((cap_l, kcap, nL))
            lvc_key = np.empty((cap_l, 6), np.uint64)
            lvc_n = np.zeros(cap_l, np.int64)
            lvc_val = np.empty((cap_l, 6, kcap, nL))
            ev_i = np.empty(2 * cap_l * max_src, np.int64)
            ev_lv = np.empty(2 * cap_l * max_src, np.int64)
            on_i = np.empty(cap_l * max_src, np.int64)
            off_i = np.empty(cap_l * max_src, np.int64)
        nbt = int(nb_tot + 0.5)
        if nbt + 2 > cap_nb and nbt < 50_000:
            cap_nb = 2 * (nbt + 2)
            fmemo = np.empty((n_cls, cap_nb))
            fm_gen = np.zeros((n_cls, cap_nb), np.int64)
        cgen[0] += 1
        fill[:] = ccount[:n_cls]
        for l in range(l0, l1):  # noqa: E741
            k = line_cls[l]
            if k >= 0:
                ln_vis[fill[k]] = line_vis[l]
                ln_q[fill[k]] = line_q[l]
                fill[k] += 1
        nlv = 0
        lv_off[0] = 0
        for k in range(n_cls):
            for j in range(ccount[k], ccount[k + 1]):
                if j == ccount[k] or ln_vis[j] != ln_vis[j - 1]:
                    lv_vis[nlv] = ln_vis[j]
                    lv_day[nlv] = vis_day[ln_vis[j]]
                    lv_ln_off[nlv] = j
                    nlv += 1
            lv_off[k + 1] = nlv
        lv_ln_off[nlv] = nl
        lvc_n[:nlv] = 0
        lvc = (lvc_key, lvc_n, lvc_val, tmp)
        sw = (lv_state, lv_csupp, lv_emit, contrib, tmp, vals, es, fmemo, ev_i, ev_lv, on_i,
              off_i, fm_gen, cgen)
        for k in range(n_cls):
            comp_n[k] = _comps(cls_kind[k], cls_w[k], cls_wtw[k], bm, pl_val, pl_logw, fav,
                               kcap, comp_lp[k], comp_r[k])
            for j in range(comp_n[k]):
                r = comp_r[k, j]
                comp_lz[k, j] = math.log1p(-r)
                comp_lo[k, j] = math.log(max(r / (1.0 - r), _O_FLOOR))
        cust = (vis_day, vis_nb, nb_pre, nb_tot, lv_off, lv_vis, lv_ln_off, ln_q, comp_lp,
                comp_lz, comp_lo, comp_n, sup_lo, sup_hi, a_s, a_m, Y, poly, dp, ndp)
        for k in range(n_cls):
            _log_g(k, 0, src_s, src_slot, ws, cust, logG0[k], lvc, zero2)
        # no-line terms of every grid point of every program
        for p in range(pr_gp_off.shape[0] - 1):
            for g in range(pr_gp_off[p], pr_gp_off[p + 1]):
                for L in range(nL):
                    gp_nl[g, L] = 0.0
                for j in range(pr_stage_off[p + 1] - pr_stage_off[p]):
                    cnt = _slot_sum(cnt_pre, gp_slot_off[g] + j, slot_iv_off, iv_lo, iv_hi)
                    if cnt > 0:
                        for L in range(nL):
                            gp_nl[g, L] += st_coefL[L, pr_stage_off[p] + j] * cnt
        for v in range(n_var):
            for i in range(max_g):
                for L in range(nL):
                    tot1[v, i, L] = -np.inf
            for i in range(pr_gp_off[v + 1] - pr_gp_off[v]):
                g = pr_gp_off[v] + i
                for L in range(nL):
                    tot1[v, i, L] = var_logprior[v] + gp_logw[g] + gp_nl[g, L]
        for L in range(nL):
            tot0[L] = 0.0
        for K in range(n_cl):
            c0, c1 = cl_cls_off[K], cl_cls_off[K + 1]
            gen += 1  # class-value cache: valid within a cluster of one customer
            cc[4][0] = 0
            # 0. effect hash of every grid point of the cluster's programs on its classes
            for pi in range(cl_prog_off[K], cl_prog_off[K + 1]):
                p = cl_prog[pi]
                for g in range(pr_gp_off[p], pr_gp_off[p + 1]):
                    for ci2 in range(c0, c1):
                        ph[g, ci2 - c0] = _effect_hash(p, g, cl_cls[ci2], pr_stage_off,
                                                       gp_slot_off, ms_D, ms_supp, cnt_pre,
                                                       lv_day, lv_off, slot_iv_off, iv_lo,
                                                       iv_hi)
            # 1. combinations of the cluster's programs, grouped by their exact effect
            t_idx[:] = -1
            n_sig = 0
            n_cmb = 0
            for cfg in range(cl_cfg_off[K], cl_cfg_off[K + 1]):
                m0 = cfg_mem_off[cfg]
                nm = cfg_mem_off[cfg + 1] - m0
                for b in range(nm):
                    combo[b] = 0
                while True:
                    h = _mix(_FNV, cfg + 1)
                    for b in range(nm):
                        p = cfg_mem[m0 + b]
                        g = pr_gp_off[p] + combo[b]
                        cmb_gp[n_cmb, b] = g
                        for ci2 in range(c1 - c0):
                            h = _mix(h, ph[g, ci2])
                    pos = np.int64(h & np.uint64(tsize - 1))
                    while t_idx[pos] >= 0 and t_hash[pos] != h:
                        pos = (pos + 1) & (tsize - 1)
                    if t_idx[pos] < 0:
                        t_idx[pos] = n_sig
                        t_hash[pos] = h
                        sig_first[n_sig] = n_cmb
                        for hh in range(n_var + 1):
                            for L in range(nL):
                                sig_w[n_sig, hh, L] = -np.inf
                        n_sig += 1
                    j = t_idx[pos]
                    cmb_cfg[n_cmb] = cfg
                    for L in range(nL):
                        gv[L] = 0.0
                    for b in range(nm):
                        g = cmb_gp[n_cmb, b]
                        for L in range(nL):
                            gv[L] += gp_logw[g] + gp_nl[g, L]
                    for hh in range(n_var + 1):
                        lp = cfg_lprior[cfg, hh]
                        if lp == -np.inf:
                            continue
                        for L in range(nL):
                            sig_w[j, hh, L] = _logaddexp(sig_w[j, hh, L], lp + gv[L])
                    n_cmb += 1
                    stats[0] += 1
                    b = 0
                    while b < nm:
                        p = cfg_mem[m0 + b]
                        combo[b] += 1
                        if combo[b] < pr_gp_off[p + 1] - pr_gp_off[p]:
                            break
                        combo[b] = 0
                        b += 1
                    if b == nm:
                        break
            stats[1] += n_sig
            # 2. per effect signature: the value without E (H0, untouched variants)
            for hh in range(n_var + 1):
                for L in range(nL):
                    acc[hh, L] = -np.inf
            for j in range(n_sig):
                q = sig_first[j]
                n_src, nmem = _sources(cmb_cfg[q], cmb_gp[q], cfg_mem, cfg_mem_off,
                                       pr_stage_off, gp_slot_off, src_s, src_slot, mem_g)
                for L in range(nL):
                    val[L] = 0.0
                for ci2 in range(c0, c1):
                    c = cl_cls[ci2]
                    if _touches(c, n_src, src_s, ms_D, ms_supp, lv_off[c + 1] > lv_off[c]):
                        _class_value(c, ci2 - c0, nmem, mem_g, ph, n_src, src_s, src_slot, ws,
                                     cust, logG0, cc, gen, gv, lvc, stats)
                        for L in range(nL):
                            val[L] += gv[L]
                for hh in range(n_var + 1):
                    for L in range(nL):
                        acc[hh, L] = _logaddexp(acc[hh, L], sig_w[j, hh, L] + val[L])
            for L in range(nL):
                tot0[L] += acc[0, L]
            # 3. variants whose stages touch the cluster's evidence: per onset
            for v in range(n_var):
                ng = pr_gp_off[v + 1] - pr_gp_off[v]
                ne = pr_stage_off[v + 1] - pr_stage_off[v]
                any_dep = False
                for jj in range(ne):
                    src_s[jj] = pr_stage_off[v] + jj
                for ci2 in range(c0, c1):
                    c = cl_cls[ci2]
                    edep[c] = _touches(c, ne, src_s, ms_D, ms_supp, lv_off[c + 1] > lv_off[c])
                    any_dep = any_dep or edep[c]
                if not any_dep:
                    for i in range(ng):
                        for L in range(nL):
                            tot1[v, i, L] += acc[v + 1, L]
                    continue
                # combinations (coarse confounder grids) grouped by their effect on the
                # E-dependent classes
                t_idx[:] = -1
                n2 = 0
                for cfg in range(cl_cfg_off[K], cl_cfg_off[K + 1]):
                    lpr = cfg_lprior[cfg, v + 1]
                    if lpr == -np.inf:
                        continue
                    m0 = cfg_mem_off[cfg]
                    nm = cfg_mem_off[cfg + 1] - m0
                    for b in range(nm):
                        combo[b] = 0
                    while True:
                        h = _FNV
                        for L in range(nL):
                            val[L] = lpr
                        for b in range(nm):
                            p = cfg_mem1[m0 + b]
                            g = pr_gp_off[p] + combo[b]
                            combo_gp[b] = g
                            for L in range(nL):
                                val[L] += gp_logw[g] + gp_nl[g, L]
                            for ci2 in range(c0, c1):
                                if edep[cl_cls[ci2]]:
                                    h = _mix(h, ph[g, ci2 - c0])
                        n_src, nmem = _sources(cfg, combo_gp, cfg_mem1, cfg_mem_off,
                                               pr_stage_off, gp_slot_off, src_s, src_slot, mem_g)
                        # classes that do not depend on E: once per combination
                        for ci2 in range(c0, c1):
                            c = cl_cls[ci2]
                            if edep[c]:
                                continue
                            if _touches(c, n_src, src_s, ms_D, ms_supp,
                                        lv_off[c + 1] > lv_off[c]):
                                _class_value(c, ci2 - c0, nmem, mem_g, ph, n_src, src_s,
                                             src_slot, ws, cust, logG0, cc, gen, gv, lvc,
                                             stats)
                                for L in range(nL):
                                    val[L] += gv[L]
                        pos = np.int64(h & np.uint64(tsize - 1))
                        while t_idx[pos] >= 0 and t_hash[pos] != h:
                            pos = (pos + 1) & (tsize - 1)
                        if t_idx[pos] < 0:
                            t_idx[pos] = n2
                            t_hash[pos] = h
                            c2_cfg[n2] = cfg
                            for b in range(nm):
                                c2_gp[n2, b] = combo_gp[b]
                            for L in range(nL):
                                w2[n2, L] = -np.inf
                            n2 += 1
                        j2 = t_idx[pos]
                        for L in range(nL):
                            w2[j2, L] = _logaddexp(w2[j2, L], val[L])
                        b = 0
                        while b < nm:
                            p = cfg_mem1[m0 + b]
                            combo[b] += 1
                            if combo[b] < pr_gp_off[p + 1] - pr_gp_off[p]:
                                break
                            combo[b] = 0
                            b += 1
                        if b == nm:
                            break
                stats[3] += n2
                for i in range(ng):
                    for L in range(nL):
                        F[i, L] = -np.inf
                p_idx[:] = -1
                n_pool = 0
                nx = 0
                for j2 in range(n2):
                    n_src, nmem = _sources(c2_cfg[j2], c2_gp[j2], cfg_mem1, cfg_mem_off,
                                           pr_stage_off, gp_slot_off, src_s, src_slot, mem_g)
                    for i in range(ng):
                        for L in range(nL):
                            X[nx, i, L] = w2[j2, L]
                    for ci2 in range(c0, c1):
                        c = cl_cls[ci2]
                        if not edep[c]:
                            continue
                        # the sweep of class c depends only on the combination's effect on c
                        h = _mix(_FNV, c + 1)
                        for b in range(nmem):
                            h = _mix(h, ph[mem_g[b], ci2 - c0])
                        pos = np.int64(h & np.uint64(255))
                        while p_idx[pos] >= 0 and p_hash[pos] != h:
                            pos = (pos + 1) & 255
                        if p_idx[pos] < 0 and n_pool < pool.shape[0]:
                            p_idx[pos] = n_pool
                            p_hash[pos] = h
                            for i in range(ng):
                                for L in range(nL):
                                    pool[n_pool, i, L] = 0.0
                            stats[4] += 1
                            stats[5] += ng
                            if var_ev[v]:
                                _sweep_ev(c, v, ng, n_src, src_s, src_slot, ws, cust, prog,
                                          logG0, sw, pool[n_pool], stats, gp_t, ms_lo, ms_hi, lvc)
                            else:
                                _sweep(c, v, ng, n_src, src_s, src_slot, ws, cust, prog,
                                       logG0, sw, pool[n_pool], stats, lvc)
                            n_pool += 1
                        if p_idx[pos] >= 0:
                            ip = p_idx[pos]
                            for i in range(ng):
                                for L in range(nL):
                                    X[nx, i, L] += pool[ip, i, L]
                        else:  # pool full: no caching
                            stats[4] += 1
                            if var_ev[v]:
                                _sweep_ev(c, v, ng, n_src, src_s, src_slot, ws, cust, prog,
                                          logG0, sw, X[nx], stats, gp_t, ms_lo, ms_hi, lvc)
                            else:
                                _sweep(c, v, ng, n_src, src_s, src_slot, ws, cust, prog,
                                       logG0, sw, X[nx], stats, lvc)
                    nx += 1
                    if nx == XCAP:
                        _lse_rows(X, nx, ng, nL, F)
                        nx = 0
                if nx > 0:
                    _lse_rows(X, nx, ng, nL, F)
                for i in range(ng):
                    for L in range(nL):
                        tot1[v, i, L] += F[i, L]
        a1 = -np.inf
        a0 = -np.inf
        for L in range(nL):
            m1 = -np.inf
            for v in range(n_var):
                for i in range(pr_gp_off[v + 1] - pr_gp_off[v]):
                    m1 = _logaddexp(m1, tot1[v, i, L])
            a1 = _logaddexp(a1, m1 + L_logw[L])
            a0 = _logaddexp(a0, tot0[L] + L_logw[L])
        out[ci] = a1 - a0


@njit(cache=False, parallel=True)
def _score_parallel(n_chunks, out, stats, args):
    """Customers in chunks (work arrays are per chunk); ``args``: the kernel's inputs."""
    n = args[0].shape[0] - 1
    size = (n + n_chunks - 1) // n_chunks
    for k in prange(n_chunks):
        a = k * size
        b = min(n, a + size)
        if a < b:
            _score_kernel(*args, a, b, out, stats[k])


# --------------------------------------------------------------------------
# driver


def _line_quantity_codes(hist, catalog, mults):
    """Dense codes of (sold by weight, quantity) per line and the ratio table
    rho[code, mult] = Q_mult(q) / max(Q_0(q), eps)."""
    item_ids = np.asarray(hist.item_ids.to_numpy(zero_copy_only=False), np.int64)
    bw = catalog.by_weight.astype(np.int64)[item_ids][hist.item]
    q = np.round(hist.quantity.astype(np.float64) * 1000).astype(np.int64)
    key = bw * 10_000_000 + q
    uniq, code = np.unique(key, return_inverse=True)
    base, stage = _quantity_tables(mults)
    rho = np.zeros((uniq.size, len(mults)))
    for i, k in enumerate(uniq):
        kk = (int(k // 10_000_000), int(k % 10_000_000))
        p0 = max(base.get(kk, 0.0), _Q_EPS)
        for j, m in enumerate(mults):
            rho[i, j] = stage[m].get(kk, 0.0) / p0
    return code.astype(np.int64).ravel(), rho, item_ids


def posterior_scores(project_dir: Path, config: SimConfig, hist,
                     options: CeilingOptions | None = None, events: tuple | None = None,
                     timings: dict | None = None) -> dict[str, np.ndarray]:
    """Log likelihood ratio of every planted event per customer (``hist`` order).

    Parameters
    ----------
    project_dir : pathlib.Path
        Folder of the simulated population (only used to name it in errors; the
        model is rebuilt from ``config``, exactly as :func:`simulate` built it).
    config : SimConfig
        The configuration the population was generated with.
    hist : Histories
        The population's histories (``load_histories``).
    options : CeilingOptions, optional
    events : tuple of str, optional
        Score only these events (default: every event of ``config``).
    timings : dict, optional
        Filled with seconds per event (and ``"prepare"``).

    Returns
    -------
    dict[str, numpy.ndarray]
        float64 log likelihood ratio per customer code, for each enabled event.
    """
    opts = options or CeilingOptions()
    t0 = time.perf_counter()
    sim = prepare(config)
    start_day = sim.start_day
    mc_members, mc_pl = _mc_population(sim, opts.mc_customers,
                                       (config.seed * 1_000_003 + 0x5EED) % 2**63)
    vis_off, vis_day, vis_nb, line_vis = _visits(hist.offsets, hist.basket, hist.day,
                                                 start_day)
    if vis_day.size and (vis_day.min() < 0 or vis_day.max() >= config.days):
        raise ValueError(f"{project_dir}: visit days outside the simulated period")
    fav = float(sim.line_kwargs["fav_share"])
    if timings is not None:
        timings["prepare"] = time.perf_counter() - t0
    out = {}
    for event in (config.events if events is None else events):
        t1 = time.perf_counter()
        m = _build_event(sim, event, mc_members, mc_pl, opts)
        if m is None:
            continue
        line_q, rho, item_ids = _line_quantity_codes(hist, sim.catalog, m.info["mults"])
        t_build = time.perf_counter() - t1
        line_cls = m.item_class[item_ids][hist.item].astype(np.int64)
        a = m.arrays
        scores = np.zeros(hist.n_customers)
        stats = np.zeros((_N_CHUNKS, 8), np.int64)
        args = (vis_off, vis_day, vis_nb, hist.offsets, line_vis, line_cls, line_q,
                config.days, m.n_classes, a["cls_kind"], a["cls_w"], a["cls_wtw"],
                a["pl_val"], a["pl_logw"], fav, opts.kcap, a["L_logw"], a["st_bL"],
                a["st_coefL"], a["ms_D"], a["ms_supp"], a["ms_mult"], a["ms_lo"], a["ms_hi"],
                rho, m.n_var, a["var_logprior"], a["var_ev"], a["pr_stage_off"],
                a["pr_gp_off"], a["gp_logw"], a["gp_slot_off"], a["gp_t"], a["slot_iv_off"],
                a["iv_lo"], a["iv_hi"], a["cl_cls_off"], a["cl_cls"], a["cl_prog_off"],
                a["cl_prog"], a["cl_cfg_off"], a["cfg_mem_off"], a["cfg_mem"], a["cfg_mem1"],
                a["cfg_lprior"], a["cl_ncombo"])
        _score_parallel(_N_CHUNKS, scores, stats, args)
        out[event] = scores
        if timings is not None:
            timings[event] = time.perf_counter() - t1
            timings[event + ":info"] = m.info | {"build_seconds": round(t_build, 2)} | dict(
                zip(("combos", "signatures", "log_g", "signatures_e", "sweeps", "sweep_steps",  # noqa: B905
                     "lv_updates", "mix"), stats.sum(axis=0).tolist()))
    return out


def _labels(project: Path, hist, event: str) -> np.ndarray:
    import pyarrow.parquet as pq

    truth = pq.read_table(project / "truth.parquet").to_pydict()
    ids = np.asarray(hist.customer_ids.to_numpy(zero_copy_only=False), np.int64)
    who = np.asarray([c for c, e in zip(truth["customer_id"], truth["event"], strict=True)
                      if e == event], np.int64)
    pos = np.searchsorted(ids, who)
    ok = (pos < ids.size) & (ids[np.minimum(pos, ids.size - 1)] == who)
    labels = np.zeros(ids.size, bool)
    labels[pos[ok]] = True
    return labels


def _main(argv=None) -> int:
    import argparse

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from accuracy import EVENT_OF, auc, evaluate, population

    from basketguard.engine.api import load_histories
    from basketguard.engine.config.project import load_project
    from basketguard.models.signatures.schema import load_library

    ap = argparse.ArgumentParser(description="ceiling AUC vs the built-in signatures")
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", choices=("hard", "realistic", "both"), default="both")
    ap.add_argument("--data", type=Path, default=Path("/tmp/basketguard-ceiling"))
    ap.add_argument("--events", nargs="*")
    args = ap.parse_args(argv)
    profiles = ("hard", "realistic") if args.profile == "both" else (args.profile,)
    cache = args.data / "cache"
    sigs = load_library()
    sig_of = {e: s for s, e in EVENT_OF.items() if e}
    failed = []
    for profile in profiles:
        events = tuple(args.events) if args.events else SimConfig().events
        config = SimConfig(customers=args.customers, seed=args.seed, profile=profile,
                           events=SimConfig().events)
        proj = population(args.seed, args.customers, args.data, profile)
        hist = load_histories(load_project(proj), cache_dir=cache)
        metrics, _ = evaluate(proj, cache, sigs)
        timings: dict = {}
        t0 = time.perf_counter()
        scores = posterior_scores(proj.parent, config, hist, timings=timings)
        total = time.perf_counter() - t0
        print(f"\nprofile {profile}: {hist.n_customers} customers, posterior in {total:.1f} s "
              f"(prepare {timings['prepare']:.1f} s)")
        print(f"{'event':20s} {'pos':>6s} {'ceiling':>8s} {'rule':>7s} {'gap':>7s} "
              f"{'E[post]/pos':>11s} {'secs':>6s}")
        for event in events:
            if event not in scores:
                continue
            y = _labels(proj.parent, hist, event)
            s = scores[event]
            a = auc(s, y)
            rule = metrics[sig_of[event]]["auc"]
            prior = y.mean()
            post = 1 / (1 + np.exp(-(s + math.log(prior / (1 - prior)))))
            print(f"{event:20s} {int(y.sum()):6d} {a:8.3f} {rule:7.3f} {a - rule:+7.3f} "
                  f"{post.sum() / max(y.sum(), 1):11.3f} {timings[event]:6.1f}")
            if not a >= rule:
                failed.append((profile, event))
    if failed:
        print(f"\nceiling below the rule for: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
