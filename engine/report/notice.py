"""Transparency and choice: the shoppers' notice and the one-customer access report.

Two documents, each computed here and rendered here (this is the report layer):

- :func:`notice_document`: what the purchase data *can* reveal and how it is
  used, from the detectors, their coverage on this catalog
  (:class:`~basketguard.engine.detect.compile.CompiledLibrary`) and the policy.
  It holds no customer data. :func:`notice_markdown` and :func:`notice_html`
  render it in short sentences; :func:`flesch_reading_ease` measures them.
- :func:`access_report`: what the data supports about *one* customer (GDPR
  Art. 15), from a scan of that customer's history, the segments they are in
  and the opt-out list. It is individual-level: the ``explain`` verb writes it
  readable by its owner only, and never to a log.

A signature's coverage has three states: *not detectable* (no feature matches
an item of this catalog: it cannot reveal anything here), *weak* (some match,
but even all of them together stay below its threshold, so it never flags
anyone) and *detectable*. The policy decides the use sentence: a sensitivity
class with its own ``max_posterior_by`` limit is "not targeted" (a limit on
who receives a mailing; ``no_signal`` only says the offers never hint at it,
which the notice says separately); a class under only the default
``max_posterior`` is "limited" by
that number; with no posterior limit, nothing limits it.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from basketguard.engine.config.policy import Policy
from basketguard.engine.detect.compile import CatalogView, CompiledLibrary
from basketguard.engine.detect.scan import date_to_day, day_to_date, scan_histories_with
from basketguard.engine.histories.build import Histories

#: What the opt-out sentence says until the retailer gives ``--opt-out-contact``.
CONTACT_PLACEHOLDER = "[add your contact]"
#: Example product kinds named per inference.
EXAMPLES = 3
#: A taxonomy value names a feature's products when the feature matches at least
#: this share of the catalog items holding it (else the feature's own name).
SPECIFIC = 0.5
#: Tokens dropped from feature names: they qualify amounts or timing, not products.
_QUALIFIERS = {"large", "larger", "before", "after"}
#: Plain words for what the built-in signatures reveal; others use their title.
_REVEALS = {
    "alcohol_dependence": "a drinking problem", "diabetes": "diabetes",
    "contraception_sexual_health": "your sex life and birth control",
    "financial_distress": "money worries", "halal_diet": "a halal diet, and so your faith",
    "incontinence": "bladder problems", "kosher_diet": "a kosher diet, and so your faith",
    "new_baby": "a new baby at home", "pregnancy": "a pregnancy",
    "smoking_cessation": "that you are trying to quit smoking",
}
_ART9 = {"health": "health data", "religious_beliefs": "data about your faith",
         "sex_life": "data about your sex life"}


# ------------------------------------------------------------------------- readability
def count_syllables(word: str) -> int:
    """Syllables of one English word, by a vowel-group heuristic.

    The word is lower-cased and kept to its letters ``a-z`` (a word without
    letters, such as a number, counts 1). Words of up to three letters count 1.
    Otherwise a silent ending is dropped first: a final ``e`` (but not ``-le``
    after a consonant, as in *table*), a final ``es`` unless it follows ``c``,
    ``g``, ``s``, ``x``, ``z``, ``ch`` or ``sh`` (*makes* 1, *purchases* 3), a
    final ``ed`` unless it follows ``t`` or ``d`` (*asked* 1, *limited* 3). The
    count is then the number of runs of the vowels ``aeiouy``, at least 1. It
    undercounts vowel pairs read apart (*created*, *diabetes*).

    Parameters
    ----------
    word : str

    Returns
    -------
    int
    """
    w = re.sub(r"[^a-z]", "", word.lower())
    if len(w) <= 3:
        return 1
    if w.endswith("e") and not (w.endswith("le") and w[-3] not in "aeiouy"):
        w = w[:-1]
    elif w.endswith("es") and w[-3] not in "cgsxz" and not w.endswith(("ches", "shes")):
        w = w[:-2]
    elif w.endswith("ed") and w[-3] not in "td":
        w = w[:-2]
    return max(1, len(re.findall(r"[aeiouy]+", w)))


def _words(text: str) -> list[str]:
    return [t for t in text.split() if re.search(r"[A-Za-z0-9]", t)]


def flesch_reading_ease(text: str) -> float:
    """Flesch reading ease: ``206.835 - 1.015 words/sentences - 84.6 syllables/words``.

    Higher is easier; 60-70 is plain English. Words are whitespace-separated
    tokens holding a letter or a digit (markup such as ``**`` or ``-`` is not a
    word); a hyphenated word counts the syllables of its parts
    (:func:`count_syllables`). A sentence ends at ``.``, ``!`` or ``?`` followed by
    a space, closing markup or the end, and at every line end, so a heading or a
    list item without a full stop is a sentence of its own.

    Parameters
    ----------
    text : str

    Returns
    -------
    float
        NaN for a text without words.
    """
    sentences = [s for s in re.split(r"[.!?]+(?=[\s)\]\"'*_<]|$)|\n", text) if _words(s)]
    words = _words(text)
    if not words:
        return float("nan")
    syllables = sum(count_syllables(p) for w in words for p in re.split(r"[-/]", w)
                    if re.search(r"[A-Za-z0-9]", p))
    return 206.835 - 1.015 * len(words) / len(sentences) - 84.6 * syllables / len(words)


# ---------------------------------------------------------------------------- coverage
def humanize(feature: str) -> str:
    """A feature name as words: ``prenatal_vitamins`` -> ``prenatal vitamins``;
    qualifiers of amount or timing (``_large``, ``_before``) are dropped."""
    words = [w for w in feature.split("_") if w and w not in _QUALIFIERS]
    return " ".join(words or feature.split("_"))


def _kind_label(value: str) -> str:
    """A taxonomy value for a sentence: capitalized words lower-cased, acronyms kept."""
    return " ".join(w if (w.isupper() and len(w) > 1) else w.lower() for w in value.split())


@dataclass(frozen=True)
class Coverage:
    """What one signature can detect on one catalog.

    Attributes
    ----------
    signature, title, sensitivity, gdpr_art9 : str
    event : str or None
        What its stages estimate (``"due date"``), if anything.
    features_total, features_matched : int
        Evidence features (positive weights), and those matching at least one item.
    items_matched : int
        Distinct items matched by any feature.
    max_score, score_threshold : float
        The largest reachable score (sum of the matched features' weights) and
        the score at which the probability reaches the threshold.
    examples : tuple of str
        Up to :data:`EXAMPLES` product kinds, heaviest features first.
    more_than_usual : bool
        One of the features behind ``examples`` counts only larger amounts than usual.
    """

    signature: str
    title: str
    sensitivity: str
    gdpr_art9: str
    event: str | None
    features_total: int
    features_matched: int
    items_matched: int
    max_score: float
    score_threshold: float
    examples: tuple[str, ...]
    more_than_usual: bool = False

    @property
    def status(self) -> str:
        """``"not_detectable"``, ``"weak"`` (threshold out of reach) or ``"detectable"``."""
        if self.features_matched == 0:
            return "not_detectable"
        return "weak" if self.max_score < self.score_threshold * (1 - 1e-12) else "detectable"


def coverage(library: CompiledLibrary, view: CatalogView, examples: int = EXAMPLES
             ) -> list[Coverage]:
    """Coverage of every signature of a compiled library (see :class:`Coverage`).

    A feature's product kind is the most common value of the catalog's most
    specific taxonomy level among its items when the feature matches at least
    :data:`SPECIFIC` of that value's items (``Pregnancy Tests``), else its
    humanized name (``halal chicken``, not ``Chicken``).

    Parameters
    ----------
    library : CompiledLibrary
        From :func:`basketguard.engine.detect.scan.compile_for`.
    view : CatalogView
        The catalog it was compiled against.
    examples : int
        Product kinds named per signature.

    Returns
    -------
    list of Coverage
        In the library's order.
    """
    level = list(view.raw_levels)[-1] if view.raw_levels else None
    values = counts = rows = None
    if level is not None and view.codes.size:
        rows = view.first_rows(library.tables.item_slot.shape[0])
        values = view.raw_levels[level].to_pylist()
        counts = Counter(values[r] for r in np.flatnonzero(view.codes >= 0).tolist())
    out = []
    for s, sig in enumerate(library.signatures):
        fs = library.feature_slice(s)
        # evidence only: a counter-evidence feature (negative weight) points away from it
        evidence = [g for g in range(fs.start, fs.stop) if sig.features[g - fs.start].weight > 0]
        matched = [(sig.features[g - fs.start], library.features[g]) for g in evidence
                   if library.features[g].items.size]
        kinds: list[str] = []
        more = False
        for feat, m in sorted(matched, key=lambda fm: -fm[0].weight):
            label = humanize(feat.name)
            if values is not None:
                r = rows[m.items]
                vals = Counter(values[i] for i in r[r >= 0].tolist() if values[i] is not None)
                top = min(vals, key=lambda v: (-vals[v], v), default=None)
                if top is not None and vals[top] >= SPECIFIC * counts[top]:
                    label = _kind_label(top)
            if label.lower() not in (k.lower() for k in kinds) and len(kinds) < examples:
                kinds.append(label)
                more = more or m.quantity_condition
        items = (np.unique(np.concatenate([m.items for _, m in matched])).size
                 if matched else 0)
        out.append(Coverage(sig.name, sig.title, sig.sensitivity, sig.gdpr_art9, sig.event,
                            len(evidence), len(matched), int(items),
                            float(sum(f.weight for f, _ in matched)),
                            float(sig.score_threshold), tuple(kinds), more))
    return out


# ------------------------------------------------------------------------------ notice
def _use(policy: Policy | None, sensitivity: str) -> dict[str, Any]:
    """How the policy lets an inference of this class be used (module docstring)."""
    if policy is None:
        return {"use": "unlimited", "no_signal": False, "max_posterior": None}
    limit = policy.posterior_limit(sensitivity)
    no_signal = sensitivity in policy.no_signal
    own = sensitivity in policy.max_posterior_by
    # only a limit on who receives it keeps offers from being targeted on it: no_signal
    # checks what the offer shows, not who gets it
    use = "not_targeted" if own else "limited" if limit is not None else "unlimited"
    return {"use": use, "no_signal": no_signal,
            "max_posterior": None if limit is None else limit.limit}


def _limits(policy: Policy) -> dict[str, Any]:
    out: dict[str, Any] = {k: None if getattr(policy, k) is None else getattr(policy, k).limit
                           for k in ("max_epsilon", "min_k", "max_unicity", "min_audience")}
    return {**out, "unicity_p": policy.unicity_p, "require_opt_out": policy.require_opt_out,
            "decoys": policy.max_posterior is not None or bool(policy.max_posterior_by)}


def notice_document(library: CompiledLibrary, view: CatalogView, policy: Policy | None, *,
                    opt_out_contact: str | None = None) -> dict[str, Any]:
    """The notice as a JSON-able document (aggregates only: no customer data).

    Parameters
    ----------
    library, view
        The signatures compiled against the project's catalog.
    policy : Policy or None
        The mailing policy; None when the retailer has set none.
    opt_out_contact : str, optional
        How shoppers opt out; :data:`CONTACT_PLACEHOLDER` when omitted.

    Returns
    -------
    dict
        ``signatures`` (coverage, status and use of each), ``policy`` (its
        limits, or None) and ``opt_out_contact`` / ``contact_is_placeholder``.
    """
    contact = " ".join((opt_out_contact or "").split())
    sigs = [{**asdict(c), "examples": list(c.examples), "status": c.status,
             **_use(policy, c.sensitivity)} for c in coverage(library, view)]
    return {"signatures": sigs, "policy": None if policy is None else _limits(policy),
            "opt_out_contact": contact or CONTACT_PLACEHOLDER,
            "contact_is_placeholder": not contact}


def _num(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 1e-9 else f"{x:.2g}" if x < 10 else f"{x:.0f}"


def _listing(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _reveals(s: dict[str, Any]) -> str:
    if s["signature"] in _REVEALS:
        return _REVEALS[s["signature"]]
    title = re.sub(r"\s*\(.*?\)", "", s["title"]).strip()
    return title[:1].lower() + title[1:] if not title[:2].isupper() else title


def _in_100(p: float) -> str:
    return f"{_num(100 * p)} in 100"


def _signature_sentences(s: dict[str, Any]) -> list[str]:
    verb = "could hint at" if s["status"] == "weak" else "can reveal"
    out = [f"Purchases of {_listing(s['examples'])} {verb} {_reveals(s)}."]
    if s["more_than_usual"]:
        out.append("Buying more of some of them than usual is part of the hint.")
    if s["event"]:
        out.append(f"They can also hint at the {s['event']}.")
    n, total = s["features_matched"], s["features_total"]
    some = f"all {n}" if n == total else f"{n} of the {total}"
    out.append(f"We sell {some} kinds of goods that point to it.")
    if s["status"] == "weak":
        out.append("Even all of them together are too weak to show it for sure.")
    if s["gdpr_art9"] in _ART9:
        out.append(f"This is {_ART9[s['gdpr_art9']]}, which the law guards closely.")
    if s["use"] == "not_targeted":
        out.append("We do not target offers on it.")
    elif s["use"] == "limited":
        out.append("It could be used to choose offers for you.")
    else:
        out.append("It could be used to choose offers for you. No rule of ours limits this yet.")
    if s["max_posterior"] is not None:
        out.append(f"Of the people who get any one mailing, at most "
                   f"{_in_100(s['max_posterior'])} have it.")
    if s["no_signal"]:
        out.append("Our offers never hint at it.")
    return out


def notice_blocks(doc: dict[str, Any]) -> list[tuple[str, Any]]:
    """The notice as blocks: ``("title" | "heading" | "para", spans)`` or
    ``("items", [spans, ...])``; spans are ``(text, style)`` with style None,
    ``"strong"`` or ``"mark"`` (the placeholder to fill in). Both renderers use it."""
    sigs = doc["signatures"]
    found = [s for s in sigs if s["status"] != "not_detectable"]
    absent = [s for s in sigs if s["status"] == "not_detectable"]

    def p(text: str) -> tuple[str, Any]:
        return ("para", [(text, None)])

    def lead(title: str) -> tuple[str, str]:
        return (re.sub(r"\s*\(.*?\)", "", title).strip() + ".", "strong")

    blocks: list[tuple[str, Any]] = [
        ("title", [("What your shopping can tell us", None)]),
        p("We keep a record of what you buy. Some goods, bought together, can hint at private "
          "facts about you. We check our data for these hints. This notice says what they can "
          "show, and how we use them."),
        ("heading", [("What your purchases can reveal", None)]),
    ]
    if found:
        blocks.append(("items", [[lead(s["title"]), (" " + " ".join(_signature_sentences(s)),
                                                     None)] for s in found]))
    else:
        blocks.append(p("None of the hints we look for can be found in our data."))
    if absent:
        blocks.append(("heading", [("What our data cannot reveal", None)]))
        blocks.append(("items", [[lead(s["title"]), (
            f" We sell none of the goods that would show {_reveals(s)}. "
            "It cannot be found in our data.", None)] for s in absent]))
    blocks.append(("heading", [("How we limit the use of your data", None)]))
    pol = doc["policy"]
    if pol is None:
        blocks.append(p("We have set no rules for this yet."))
    else:
        eps, k, uni, aud = (pol[x] for x in ("max_epsilon", "min_k", "max_unicity",
                                             "min_audience"))
        rules = [text for given, text in (
            (eps is not None, f"People with a trait are at most {_num(float(np.exp(eps or 0)))} "
                              "times as likely to get a mailing as people without it."),
            ((k or 0) > 1, f"In any list we share, each person looks like at least "
                           f"{_num((k or 0) - 1)} others."),
            (uni is not None, f"At most {_in_100(uni or 0)} people on a list could be picked "
                              f"out from {pol['unicity_p']} things they bought."),
            (aud is not None, f"We send no mailing to fewer than {_num(aud or 0)} people."),
            (pol["require_opt_out"], "We check the opt-out list before every mailing."),
            (pol["decoys"], "To keep to these limits, we may add other shoppers to a mailing. "
                            "Then getting it says little about you."),
        ) if given] or ["Our rules for each kind of fact are given above."]
        blocks.append(("items", [[(r, None)] for r in rules]))
    blocks.append(("heading", [("How to opt out", None)]))
    blocks.append(p("You can ask us not to use your purchases to choose offers. Then we never "
                    "pick you for a mailing. We never add you to one to hide others either."))
    contact = (doc["opt_out_contact"], "mark" if doc["contact_is_placeholder"] else None)
    blocks.append(("para", [("To opt out, contact: ", None), contact]))
    weak = sum(s["status"] == "weak" for s in sigs)
    counts = f"{len(found) - weak} of them can be found in our data"
    counts += f", and {weak} only weakly." if weak else "."
    blocks.append(("heading", [("How this notice is made", None)]))
    blocks.append(p(f"We made this notice from the checks we run on our data. We look for "
                    f"{len(sigs)} kinds of private fact. {counts}"))
    return blocks


def _md(text: str) -> str:
    """Text escaped for Markdown: its markup characters and entity-like ``&`` are literal."""
    text = re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", re.sub(r"\s+", " ", str(text)))
    return re.sub(r"&(?=#?\w+;)", r"\\&", text)


def _md_spans(spans) -> str:
    return "".join(f"**{_md(t)}**" if style == "strong" else _md(t) for t, style in spans)


def notice_markdown(doc: dict[str, Any]) -> str:
    """The notice as Markdown (every value from the data escaped)."""
    lines = []
    for kind, body in notice_blocks(doc):
        if kind == "items":
            lines.extend(f"- {_md_spans(spans)}" for spans in body)
        else:
            prefix = {"title": "# ", "heading": "## ", "para": ""}[kind]
            lines.append(prefix + _md_spans(body))
        lines.append("")
    return "\n".join(lines)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:42em;margin:2em auto;padding:0 1em;"
        "line-height:1.5;color:#1d1d1d}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em}"
        "li{margin:.5em 0}mark{background:#ffe66d}")


def _html_spans(spans) -> str:
    tags = {None: ("", ""), "strong": ("<strong>", "</strong>"), "mark": ("<mark>", "</mark>")}
    return "".join(f"{tags[style][0]}{html.escape(text)}{tags[style][1]}"
                   for text, style in spans)


def notice_html(doc: dict[str, Any]) -> str:
    """The notice as one self-contained HTML page (no scripts, no external files)."""
    blocks = notice_blocks(doc)
    title = html.escape(blocks[0][1][0][0])
    body = []
    for kind, spans in blocks:
        if kind == "items":
            body.append("<ul>\n" + "\n".join(f"<li>{_html_spans(s)}</li>" for s in spans)
                        + "\n</ul>")
        else:
            tag = {"title": "h1", "heading": "h2", "para": "p"}[kind]
            body.append(f"<{tag}>{_html_spans(spans)}</{tag}>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{title}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# ----------------------------------------------------------------------- access report
def _names_of(view: CatalogView, item_ids: pa.Array, rows: np.ndarray, codes: np.ndarray
              ) -> list[str]:
    """Catalog names of item codes (``rows``: catalog row per code); ids where none."""
    names = [str(v) for v in item_ids.take(pa.array(codes, pa.int64())).to_pylist()]
    for i, r in enumerate(rows[codes].tolist()):
        if r >= 0 and view.raw_names is not None and view.raw_names[r].is_valid:
            names[i] = view.raw_names[r].as_py()
    return names


def access_report(hist: Histories, code: int, library: CompiledLibrary, view: CatalogView, *,
                  as_of: int | None = None, segments: Sequence[tuple[str, bool]] = (),
                  opt_out: tuple[str, bool] | None = None) -> dict[str, Any]:
    """What the data supports about one customer: the access report (individual-level).

    Only this customer's history is scored; each customer's score depends on
    their own lines alone, so the rows equal that customer's rows of a full
    ``scan --scores`` with the same as-of date.

    Parameters
    ----------
    hist : Histories
        The whole customer base.
    code : int
        The customer's code (its index in ``hist.customer_ids``).
    library, view
        The signatures compiled against the project's catalog.
    as_of : int, optional
        Day number of the reference date for stages; default the last day of
        the whole data (as ``scan``).
    segments : sequence of (str, bool)
        Each segment's description and whether the customer is in it.
    opt_out : (str, bool), optional
        The opt-out list's description and whether the customer is on it;
        None when no list is given.

    Returns
    -------
    dict
        ``customer`` (the original id), ``data`` (lines, baskets, dates),
        ``inferences`` (one per signature with evidence, flagged first, each
        with its probability, event estimate and the products of the peak window
        that carry it), ``no_evidence``, ``segments``, ``opt_out``.
    """
    one = hist.subset(np.asarray([code], np.int64))
    last = int(hist.day.max())
    ref = last if as_of is None else int(as_of)
    # scored up to the whole data's last day, as in the scan of everyone
    result = scan_histories_with(one, library, view, ref, horizon=last)
    index = {sig.name: s for s, sig in enumerate(library.signatures)}
    rows = (view.first_rows(hist.n_items) if view.codes.size
            else np.full(hist.n_items, -1, np.int64))
    inferences = []
    for row in result.scores_table().to_pylist():
        s = index[row["signature"]]
        sig = library.signatures[s]
        fs = library.feature_slice(s)
        match = {library.features[g].feature: library.features[g] for g in range(fs.start, fs.stop)}
        peak = date_to_day(row["peak_date"])
        window = (one.day > peak - sig.window_days) & (one.day <= peak)
        products = []
        for fname in row["top_features"]:
            sel = window & np.isin(one.item, match[fname].items)
            codes, days = one.item[sel], one.day[sel]
            uniq = np.unique(codes)
            for c, name in zip(uniq.tolist(), _names_of(view, hist.item_ids, rows, uniq), strict=True):
                d = days[codes == c]
                products.append({"product": name, "feature": fname, "purchases": int(d.size),
                                 "first": day_to_date(d.min()).isoformat(),
                                 "last": day_to_date(d.max()).isoformat()})
        event = None if row["event_date"] is None else {
            "name": sig.event, "date": row["event_date"].isoformat(), "stage": row["stage"],
            "low": row["event_date_low"].isoformat(), "high": row["event_date_high"].isoformat()}
        inferences.append({
            "signature": sig.name, "title": sig.title, "sensitivity": sig.sensitivity,
            "gdpr_art9": sig.gdpr_art9, "probability": round(float(row["probability"]), 6),
            "threshold": sig.threshold, "flagged": bool(row["flagged"]),
            "score": round(float(row["score"]), 6), "evidence_date": row["peak_date"].isoformat(),
            "window_days": sig.window_days, "event": event, "features": row["top_features"],
            "products": products})
    inferences.sort(key=lambda e: (not e["flagged"], -e["probability"], e["signature"]))
    seen = {e["signature"] for e in inferences}
    return {
        "customer": result.customer_ids[0].as_py(),
        "data": {"lines": one.n_lines, "baskets": int(np.unique(one.basket).size),
                 "first_purchase": day_to_date(one.day.min()).isoformat(),
                 "last_purchase": day_to_date(one.day.max()).isoformat(),
                 "as_of": day_to_date(ref).isoformat()},
        "inferences": inferences,
        "no_evidence": [{"signature": s.name, "title": s.title} for s in library.signatures
                        if s.name not in seen],
        "segments": [{"segment": label, "member": bool(m)} for label, m in segments],
        "opt_out": None if opt_out is None else {"list": opt_out[0], "listed": bool(opt_out[1])},
    }


def access_markdown(doc: dict[str, Any]) -> str:
    """The access report as Markdown (values from the data escaped)."""
    d = doc["data"]
    out = ["# Access report: what the purchase data supports about one customer", "",
           f"Customer: {_md(doc['customer'])}", "",
           f"Based on {d['lines']} purchased lines in {d['baskets']} baskets, "
           f"{d['first_purchase']} to {d['last_purchase']}; stages as of {d['as_of']}.", "",
           "## Inferences the data supports", ""]
    if not doc["inferences"]:
        out += ["None: no purchase of this customer matches a signature.", ""]
    for e in doc["inferences"]:
        state = "flagged" if e["flagged"] else "not flagged"
        out += [f"### {_md(e['title'])}: {state}", "",
                f"- probability {e['probability']:.3f} (flagged from {e['threshold']:g}); "
                f"sensitivity {_md(e['sensitivity'])}; GDPR Art. 9: {_md(e['gdpr_art9'])}",
                f"- strongest evidence on {e['evidence_date']}, from purchases in the "
                f"{e['window_days']} days up to it"]
        if e["event"]:
            ev = e["event"]
            stage = f"; stage on {d['as_of']}: {_md(ev['stage'])}" if ev["stage"] else ""
            out.append(f"- estimated {_md(ev['name'])}: {ev['date']} "
                       f"({ev['low']} to {ev['high']}){stage}")
        out.append(f"- from: {_md(', '.join(humanize(f) for f in e['features']))}")
        if e["products"]:
            out += ["", "| product | evidence | times bought | first | last |",
                    "|---|---|---:|---|---|"]
            out += [f"| {_md(p['product'])} | {_md(humanize(p['feature']))} | {p['purchases']} "
                    f"| {p['first']} | {p['last']} |" for p in e["products"]]
        out.append("")
    if doc["no_evidence"]:
        out += ["## No evidence", "", ", ".join(_md(s["title"]) for s in doc["no_evidence"]), ""]
    out += ["## Segments", ""]
    out += [f"- {_md(s['segment'])}: {'member' if s['member'] else 'not a member'}"
            for s in doc["segments"]] or ["No segment was given or set in the project."]
    out += ["", "## Opt-out", ""]
    oo = doc["opt_out"]
    out.append("No opt-out list was given or set in the project." if oo is None else
               f"{'On' if oo['listed'] else 'Not on'} the opt-out list ({_md(oo['list'])}).")
    return "\n".join(out) + "\n"

