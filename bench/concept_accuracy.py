"""Precision and recall of the built-in concepts on the labelled Instacart sample.

The sample (``tests/fixtures/instacart_labelled.csv``, 993 real products drawn
by stratum and labelled by hand, blind to the matcher; ``docs/labelling.md``)
is resolved with the built-in vocabulary exactly as a catalog would be
(product name, levels department > aisle). For every labelled concept:
labelled positives, predicted positives, true positives, precision and recall,
and the rows the matcher got wrong (so that a reader can judge each one).
Rows marked ``unsure`` are left out.

Usage::

    python bench/concept_accuracy.py            # print the table
    python bench/concept_accuracy.py --write    # and regenerate its section of docs/concepts.md
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "instacart_labelled.csv"
DOC = ROOT / "docs" / "concepts.md"
BEGIN, END = "<!-- concept-accuracy:begin -->", "<!-- concept-accuracy:end -->"


def measure(fixture: Path = FIXTURE) -> dict:
    """Per-concept counts, precision and recall, and the mistakes."""
    from basketguard.engine.detect.concepts import resolve_concepts
    from basketguard.models.vocabulary.schema import load_vocabulary

    with fixture.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not r["unsure"]]
    vocab = load_vocabulary()
    table = resolve_concepts(
        vocab, pa.array([r["product_name"] for r in rows]),
        {"department": pa.array([r["department"] for r in rows]),
         "aisle": pa.array([r["aisle"] for r in rows])})
    truth = [set(filter(None, r["concepts"].split(";"))) for r in rows]
    labelled = sorted(set().union(*truth))
    out = {}
    for c in labelled:
        if c not in vocab:
            out[c] = {"missing": True}
            continue
        pred = set(table.rows[c].tolist())
        pos = {i for i, t in enumerate(truth) if c in t}
        tp = len(pred & pos)
        out[c] = {
            "labelled": len(pos), "predicted": len(pred), "true_positives": tp,
            "precision": tp / len(pred) if pred else None,
            "recall": tp / len(pos) if pos else None,
            "false_positives": sorted(rows[i]["product_name"] for i in pred - pos),
            "false_negatives": sorted(rows[i]["product_name"] for i in pos - pred),
        }
    return {"rows": len(rows), "concepts": out}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def markdown(result: dict) -> str:
    lines = [f"Measured on {result['rows']} labelled products (unsure rows left out) by "
             "`python bench/concept_accuracy.py --write`.", "",
             "| concept | labelled | matched | correct | precision | recall |",
             "|---|---:|---:|---:|---:|---:|"]
    wrong = []
    for c, m in result["concepts"].items():
        if m.get("missing"):
            lines.append(f"| {c} | - | - | - | not in the vocabulary | |")
            continue
        lines.append(f"| {c} | {m['labelled']} | {m['predicted']} | {m['true_positives']} | "
                     f"{_fmt(m['precision'])} | {_fmt(m['recall'])} |")
        for kind, names in (("matched, labelled otherwise", m["false_positives"]),
                            ("labelled, not matched", m["false_negatives"])):
            for n in names:
                wrong.append(f"- {c}, {kind}: {n}")
    if wrong:
        lines += ["", "Every disagreement with the labels:", "", *wrong]
    else:
        lines += ["", "The matcher agrees with every label."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help=f"regenerate the section of {DOC}")
    args = ap.parse_args(argv)
    result = measure()
    text = markdown(result)
    print(text)
    if args.write:
        doc = DOC.read_text()
        if BEGIN not in doc or END not in doc:
            sys.exit(f"{DOC}: markers {BEGIN} ... {END} not found")
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
