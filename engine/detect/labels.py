"""What a learned detector learns from: labels, anchor purchases, or a signature's flags.

A :class:`Target` says, per customer, whether it is a positive (1), a negative
(0) or left out (-1), its *reference day* (no purchase after it enters the
features) and which items are taken out of the features. Three ways to make one:

- :func:`target_from_labels`: a label column, in the project's ``[customers]``
  source (listed under ``[customers.columns] labels``) or in a separate file
  with a customer id, a label (boolean, 0/1, or true/false/yes/no text) and an
  optional event date. With event dates a positive's reference day is its
  event date (clipped to the data's last day; a positive whose event precedes
  all purchases is left out, counted), and each negative's is drawn, with the
  seed, from the positives' reference days, so both classes are seen over the
  same calendar; without dates every reference day is the as-of day.
- :func:`target_from_anchors` (weak supervision, as Target learned from its
  baby registry): customers who bought every concept of one *anchor rule*
  (``pregnancy_test+prenatal_vitamins``; several rules: any of them) are the
  positives, everyone else the negatives; every anchor item is dropped from the
  features, so the model learns who *looks like* the anchor buyers without them.
- :func:`target_from_flags`: a signature's flagged customers are the positives
  and its matched items are dropped, to learn what *else* predicts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.project import Project, SourceSpec, infer_format
from basketguard.engine.config.toml import did_you_mean
from basketguard.engine.detect.features import FeatureGroups
from basketguard.engine.errors import ConfigError, DataError, SchemaError, SourceError
from basketguard.engine.histories.build import Histories
from basketguard.engine.io.tables import conform_ids
from basketguard.kernels.features import first_days
from basketguard.kernels.windows import NO_DAY

_EPOCH_DAY = np.datetime64("1970-01-01", "D")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


@dataclass
class Target:
    """Labels of a training run (see the module docstring).

    Attributes
    ----------
    mode : str
        ``"labels"``, ``"anchors"`` or ``"flags"``.
    label : int8 array (n_customers,)
        1 positive, 0 negative, -1 left out.
    ref : int32 array (n_customers,)
        Reference day of each customer.
    drop : uint8 array (n_items,)
        Items taken out of every feature.
    drop_keys : set of str
        Feature-group keys left out (the anchor concepts themselves).
    source : str
        What the labels are, for reports ("labels.csv column 'pregnant'").
    counts : dict
        Rows read, ids not among the customers, nulls, clipped dates, positives, negatives.
    warnings : list of str
    anchors : list of list of str
        The anchor rules (anchors mode).
    event_day : int32 array or None
        The positives' event days (labels with dates), NO_DAY elsewhere.
    """

    mode: str
    label: np.ndarray
    ref: np.ndarray
    drop: np.ndarray
    source: str
    drop_keys: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    anchors: list[list[str]] = field(default_factory=list)
    event_day: np.ndarray | None = None

    @property
    def n_pos(self) -> int:
        return int((self.label == 1).sum())

    @property
    def n_neg(self) -> int:
        return int((self.label == 0).sum())

    def check(self) -> None:
        """Raise :class:`DataError` when one class is missing."""
        if self.n_pos == 0:
            raise DataError(f"{self.source}: no positive customers to learn from; a detector "
                            "needs customers with the label (or the anchor purchases).")
        if self.n_neg == 0:
            raise DataError(f"{self.source}: every labelled customer is positive (a single "
                            "class); list negatives too, or treat the customers not listed as "
                            "negatives (--unlisted-negative).")

    def summary(self) -> dict[str, Any]:
        return {"mode": self.mode, "source": self.source, "positives": self.n_pos,
                "negatives": self.n_neg, "left_out": int((self.label < 0).sum()),
                "dropped_items": int(self.drop.sum()), "anchors": self.anchors,
                "counts": dict(self.counts), "warnings": list(self.warnings)}


def data_span(hist: Histories) -> tuple[int, int]:
    if hist.n_lines == 0:
        raise DataError("the histories hold no basket lines to learn from.")
    return int(hist.day.min()), int(hist.day.max())


def _label_values(col: pa.ChunkedArray | pa.Array, where: str, column: str) -> np.ndarray:
    """int8 per row: 1, 0, or -1 for null; SchemaError for anything not a label."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    out = np.full(len(arr), -1, np.int8)
    t = arr.type
    if pa.types.is_boolean(t):
        vals = np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), bool)
        out[valid] = vals[valid]
        return out
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        vals = np.asarray(pc.fill_null(arr, 0).to_numpy(zero_copy_only=False), np.float64)
        bad = valid & ~np.isin(vals, (0.0, 1.0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise SchemaError(f"{where}: label column {column!r} holds {vals[row]:g} at row "
                              f"{row + 1}; a label is 0 or 1 (or true/false). Scores or "
                              "probabilities are not labels: threshold them first.")
        out[valid] = vals[valid].astype(np.int8)
        return out
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        text = [None if v is None else str(v).strip().lower() for v in arr.to_pylist()]
        for i, v in enumerate(text):
            if v is None or v == "":
                continue
            if v in _TRUE:
                out[i] = 1
            elif v in _FALSE:
                out[i] = 0
            else:
                raise SchemaError(f"{where}: label column {column!r} holds {v!r} at row "
                                  f"{i + 1}; labels are true/false, yes/no or 1/0.")
        return out
    raise SchemaError(f"{where}: label column {column!r} is of type {t}; a label column is "
                      "boolean, 0/1 integers or true/false text.")


def _date_values(col: pa.ChunkedArray | pa.Array, where: str, column: str) -> np.ndarray:
    """Day numbers (int64) of a date column; NO_DAY for nulls."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = arr.type
    try:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            arr = pc.cast(pc.utf8_slice_codeunits(arr, 0, 10), pa.date32())
        elif pa.types.is_timestamp(t):
            arr = pc.cast(arr, pa.date32())
        elif not pa.types.is_date(t):
            raise pa.ArrowInvalid(str(t))
        arr = arr.cast(pa.date32())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise SchemaError(f"{where}: event-date column {column!r} ({t}) cannot be read as "
                          "dates; use a date, timestamp or YYYY-MM-DD text column.") from None
    days = np.asarray(pc.fill_null(arr.cast(pa.int32()), NO_DAY).to_numpy(zero_copy_only=False),
                      np.int64)
    return days


def _codes_of(ids: pa.Array, hist: Histories) -> np.ndarray:
    """Customer code of each id, -1 when not among the histories' customers."""
    base = hist.customer_ids
    idx = pc.index_in(ids.cast(base.type), value_set=base)
    return np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), np.int64)


def _target_from_columns(hist: Histories, ids: pa.Array, labels: np.ndarray,
                         dates: np.ndarray | None, where: str, column: str, *,
                         unlisted_negative: bool, as_of: int, seed: int) -> Target:
    first, last = data_span(hist)
    counts = {"rows": int(labels.size), "null_labels": int((labels < 0).sum())}
    warnings = []
    codes = _codes_of(ids, hist)
    unknown = codes < 0
    counts["ids_not_in_histories"] = int(unknown.sum())
    if unknown.all() and labels.size:
        raise DataError(f"{where}: none of the {labels.size:,} ids of the label file is a "
                        "customer of the basket lines; check that the id column holds the same "
                        "customer ids as the lines (same kind: integers or text).")
    if counts["ids_not_in_histories"]:
        warnings.append(f"{where}: {counts['ids_not_in_histories']:,} ids are not customers of "
                        "the basket lines (left out).")
    if counts["null_labels"]:
        warnings.append(f"{where}: column {column!r} is empty in {counts['null_labels']:,} "
                        "rows (left out).")
    label = np.full(hist.n_customers, 0 if unlisted_negative else -1, np.int8)
    keep = ~unknown & (labels >= 0)
    dup = np.bincount(codes[keep], minlength=hist.n_customers) > 1
    if dup.any():
        # a customer listed twice must not be both a positive and a negative
        pos_seen = np.bincount(codes[keep & (labels == 1)], minlength=hist.n_customers) > 0
        neg_seen = np.bincount(codes[keep & (labels == 0)], minlength=hist.n_customers) > 0
        conflict = pos_seen & neg_seen
        if conflict.any():
            raise DataError(f"{where}: {int(conflict.sum()):,} customers are listed both as "
                            "positive and as negative; give each customer one label.")
        counts["duplicate_ids"] = int(dup.sum())
    label[codes[keep]] = labels[keep]
    ref = np.full(hist.n_customers, as_of, np.int32)
    event_day = None
    if dates is not None:
        event_day = np.full(hist.n_customers, NO_DAY, np.int32)
        pos_rows = keep & (labels == 1)
        d = dates[pos_rows]
        c = codes[pos_rows]
        undated = d == NO_DAY
        before = ~undated & (d < first)
        after = ~undated & (d > last)
        counts["positives_without_date"] = int(undated.sum())
        counts["event_dates_before_data"] = int(before.sum())
        counts["event_dates_after_data"] = int(after.sum())
        if before.any():
            warnings.append(f"{where}: {int(before.sum()):,} positives have an event date before "
                            "the first basket line (no purchase precedes the event: left out).")
            label[c[before]] = -1
        if after.any():
            warnings.append(f"{where}: {int(after.sum()):,} event dates lie after the last "
                            "basket line; their reference day is the last day of the data.")
        if undated.any():
            warnings.append(f"{where}: {int(undated.sum()):,} positives have no event date; "
                            "their reference day is the as-of day.")
        ok = ~undated & ~before
        day = np.minimum(d[ok], last)
        ref[c[ok]] = day
        event_day[c[ok]] = d[ok]
        pool = ref[label == 1]
        neg = np.flatnonzero(label == 0)
        if pool.size and neg.size:
            rng = np.random.default_rng(seed)
            ref[neg] = pool[rng.integers(0, pool.size, neg.size)]
    target = Target("labels", label, ref, np.zeros(hist.n_items, np.uint8),
                    f"{where} column {column!r}", counts=counts, warnings=warnings,
                    event_day=event_day)
    target.counts |= {"positives": target.n_pos, "negatives": target.n_neg}
    target.check()
    return target


def target_from_labels(hist: Histories, *, path: str | None = None,
                       project: Project | None = None, id_column: str = "customer_id",
                       label_column: str = "label", date_column: str | None = None,
                       unlisted_negative: bool = False, as_of: int | None = None,
                       seed: int = 0) -> Target:
    """Labels from a file (``path``) or from the project's ``[customers]`` source.

    Parameters
    ----------
    hist : Histories
        The customer base (label ids are matched against its customers).
    path : str, optional
        A Parquet, CSV or Arrow file (relative to the working directory).
    project : Project, optional
        Used when ``path`` is None: the label column is one of
        ``[customers.columns] labels``.
    id_column, label_column, date_column : str
        Columns of the file (``id_column`` is ignored for the project's customers).
    unlisted_negative : bool
        Customers the labels do not list are negatives (default: left out).
    as_of : int, optional
        Reference day without event dates (default: the data's last day).
    seed : int
        Draws the negatives' reference days when there are event dates.

    Raises
    ------
    SourceError, SchemaError, DataError, ConfigError
        Missing file or column, a column of the wrong type, no positives, a
        single class, ids that are not customers.
    """
    _, last = data_span(hist)
    as_of = last if as_of is None else int(as_of)
    if path is not None:
        from basketguard.engine.io.sources import open_source

        resolved = Path(path).expanduser().resolve()
        if not resolved.is_file():
            raise SourceError(f"label file {path!r} (resolved to {str(resolved)!r}) does not "
                              "exist; paths are relative to the working directory.")
        fmt = infer_format(path)
        if fmt is None or fmt == "duckdb":
            raise ConfigError(f"label file {path!r}: use a .parquet, .csv or .arrow file.")
        spec = SourceSpec(role="segment", location=str(resolved), base_dir=Path.cwd(),
                          format=fmt, columns={"customer": id_column},
                          origin=f"label file {path}")
        source = open_source(spec)
        names = source.schema.names
        wanted = [id_column, label_column] + ([date_column] if date_column else [])
        for col, opt in zip(wanted, ("--id-column", "--label-column", "--date-column"),
                            strict=False):
            if col not in names:
                raise SchemaError(f"{source.where}: no column {col!r}.{did_you_mean(col, names)} "
                                  f"Columns: {', '.join(names)}. Name it with {opt}.")
        table = source.read_table(wanted)
        where = source.where
        ids = conform_ids(table.column(id_column), hist.customer_ids.type, where, id_column)
    else:
        if project is None or project.source("customers") is None:
            raise ConfigError("no label file given and the project has no [customers] table; "
                              "pass --labels FILE or map a label column under "
                              "[customers.columns] labels.")
        from basketguard.engine.io.tables import read_role

        spec = project.source("customers")
        listed = list(spec.lists.get("labels", ()))
        if label_column not in listed:
            raise ConfigError(
                f"{spec.origin}: {label_column!r} is not a label column of [customers]; list it "
                f"under [customers.columns] labels (now: {listed or 'none'})."
                f"{did_you_mean(label_column, listed)}")
        if date_column and date_column not in listed:
            raise ConfigError(f"{spec.origin}: list the event-date column {date_column!r} under "
                              "[customers.columns] labels as well.")
        table = read_role(project, "customers", {"customer": hist.customer_ids.type})
        where = spec.origin
        ids = table.column("customer").combine_chunks()
    labels = _label_values(table.column(label_column), where, label_column)
    dates = _date_values(table.column(date_column), where, date_column) if date_column else None
    return _target_from_columns(hist, ids, labels, dates, where, label_column,
                                unlisted_negative=unlisted_negative, as_of=as_of, seed=seed)


def parse_anchor_rules(rules: list[str]) -> list[list[str]]:
    """``["a+b", "c"]`` -> ``[["a", "b"], ["c"]]`` (blank parts are errors)."""
    out = []
    for rule in rules:
        parts = [p.strip() for p in rule.split("+")]
        if not rule.strip() or any(not p for p in parts):
            raise ConfigError(f"anchor {rule!r}: write concepts joined by '+' "
                              "(pregnancy_test+prenatal_vitamins).")
        out.append(parts)
    return out


def target_from_anchors(hist: Histories, groups: FeatureGroups, rules: list[list[str]],
                        vocabulary_names: tuple[str, ...], as_of: int | None = None) -> Target:
    """Anchor buyers as positives (see the module docstring).

    Parameters
    ----------
    hist : Histories
    groups : FeatureGroups
        Candidate groups holding the catalog's concepts (``concept:<name>`` keys).
    rules : list of list of str
        Anchor rules: a customer is positive when it bought every concept of one rule.
    vocabulary_names : tuple of str
        Every known concept (for messages).
    as_of : int, optional
        Reference day of every customer (default: the data's last day).

    Raises
    ------
    ConfigError
        An unknown concept, or one with no item in this catalog.
    DataError
        No customer bought the anchors, or every customer did.
    """
    _, last = data_span(hist)
    as_of = last if as_of is None else int(as_of)
    where = {k: i for i, k in enumerate(groups.keys)}
    names = sorted({c for r in rules for c in r})
    for c in names:
        if c not in vocabulary_names:
            raise ConfigError(f"anchor concept {c!r} is not a concept.{did_you_mean(c, vocabulary_names)} "
                              "`basketguard catalog concepts` lists them.")
        if f"concept:{c}" not in where:
            raise ConfigError(f"anchor concept {c!r} matches no item bought in this catalog; "
                              "`basketguard catalog map` shows what each concept matches here. "
                              "Choose anchors the catalog has, or add an override.")
    members = groups.members()
    sub = groups.take(np.array([where[f"concept:{c}"] for c in names]))
    first = first_days(hist.offsets, hist.item, hist.day, sub.item_offsets, sub.item_groups,
                       len(names))
    bought = (first != NO_DAY) & (first <= as_of)
    col = {c: i for i, c in enumerate(names)}
    positive = np.zeros(hist.n_customers, bool)
    per_rule = []
    for r in rules:
        hit = np.all(bought[:, [col[c] for c in r]], axis=1)
        per_rule.append(int(hit.sum()))
        positive |= hit
    drop = np.zeros(hist.n_items, np.uint8)
    for c in names:
        drop[members[where[f"concept:{c}"]]] = 1
    label = positive.astype(np.int8)
    text = " or ".join("+".join(r) for r in rules)
    target = Target("anchors", label, np.full(hist.n_customers, as_of, np.int32), drop,
                    f"anchors {text}", drop_keys={f"concept:{c}" for c in names},
                    anchors=[list(r) for r in rules])
    target.counts = {"positives": target.n_pos, "negatives": target.n_neg,
                     "anchor_items": int(drop.sum()),
                     **{f"rule_{i + 1}_customers": n for i, n in enumerate(per_rule)}}
    if target.n_pos == 0:
        raise DataError(f"{target.source}: no customer bought the anchors on or before the "
                        "reference day; choose anchors that customers buy.")
    target.check()
    return target


def target_from_flags(hist: Histories, flagged: np.ndarray, matched_items: np.ndarray,
                      signature: str, as_of: int | None = None) -> Target:
    """A signature's flagged customers as positives, its matched items dropped."""
    _, last = data_span(hist)
    as_of = last if as_of is None else int(as_of)
    drop = np.zeros(hist.n_items, np.uint8)
    drop[np.asarray(matched_items, np.int64)] = 1
    target = Target("flags", np.asarray(flagged, bool).astype(np.int8),
                    np.full(hist.n_customers, as_of, np.int32), drop,
                    f"customers flagged by signature {signature!r}")
    target.counts = {"positives": target.n_pos, "negatives": target.n_neg,
                     "signature_items": int(drop.sum())}
    if target.n_pos == 0:
        raise DataError(f"signature {signature!r} flags no customer here, so there is nothing "
                        "to learn from; use labels or anchors instead.")
    target.check()
    return target
