"""The item -> concept map of one catalog, with the reason for every match.

``basketguard catalog map PROJECT`` writes it so that a governance team can
review what the signatures will see before trusting a scan: every (item,
concept) pair, how it matched (which name pattern, which taxonomy value, which
included concept, which override line), the concepts that matched nothing
with the catalog entries closest to them as candidates, and the notes of the
overrides file. The catalog alone is read (no basket lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from basketguard.engine.config.project import Project
from basketguard.engine.detect.compile import CatalogView, catalog_view
from basketguard.engine.detect.concepts import (
    BY_CONTEXT,
    BY_INCLUDE,
    BY_LEVEL,
    BY_NAME,
    BY_OVERRIDE,
    ConceptTable,
    read_overrides,
    resolve_concepts,
    unused_concepts,
)
from basketguard.engine.errors import ConfigError
from basketguard.models.signatures.schema import Signature
from basketguard.models.vocabulary.schema import (
    Vocabulary,
    load_vocabulary,
    normalize_value,
)

#: Candidates listed for a concept that matched nothing.
CANDIDATES = 3


@dataclass
class CatalogMap:
    """What :func:`catalog_map` found.

    Attributes
    ----------
    table : pyarrow.Table
        One row per (item, concept): ``item``, ``name``, every taxonomy level,
        ``concept``, ``matched_by``.
    counts : dict of str -> int
        Members per concept (every concept of the vocabulary).
    unmatched : dict of str -> list of str
        Concepts with no member -> the closest catalog entries (names or
        taxonomy values), as candidates for an override.
    notes : list of str
        Override lines that changed nothing, concepts no signature uses.
    """

    table: pa.Table
    counts: dict[str, int]
    unmatched: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    n_items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.n_items, "pairs": self.table.num_rows,
                "concepts": self.counts, "unmatched": self.unmatched, "notes": self.notes}


def _reasons(ct: ConceptTable, view: CatalogView, concept: str) -> list[str]:
    """How each member of ``concept`` matched, in the order of ``ct.rows[concept]``."""
    c = ct.vocabulary[concept]
    rows, how = ct.rows[concept], ct.how[concept]
    out = [""] * rows.shape[0]
    parts: list[list[str]] = [[] for _ in range(rows.shape[0])]
    if rows.size == 0:
        return out
    text = view.text.take(pa.array(rows)).to_pylist()
    compiled = [re.compile(p, re.IGNORECASE) for p in c.names]
    lpats = [re.compile(p, re.IGNORECASE) for p in c.level_patterns]
    cpats = [re.compile(p, re.IGNORECASE) for p in c.context]
    cnames = [re.compile(p, re.IGNORECASE) for p in c.context_names]
    want = {normalize_value(v): v for v in c.levels}
    level_vals = {lv: arr.take(pa.array(rows)).to_pylist() for lv, arr in view.levels.items()}
    for i in range(rows.shape[0]):
        h = int(how[i])
        if h & BY_NAME:
            t = text[i] or ""
            pat = next((p for p, rx in zip(c.names, compiled, strict=True) if rx.search(t)),
                       None)
            parts[i].append(f"name pattern {pat!r}" if pat else "name pattern")
        if h & BY_LEVEL:
            for lv, vals in level_vals.items():
                v = vals[i]
                if v is None:
                    continue
                if normalize_value(v) in want:
                    parts[i].append(f"{lv} = {want[normalize_value(v)]!r}")
                    break
                pat = next((p for p, rx in zip(c.level_patterns, lpats, strict=True)
                            if rx.search(v)), None)
                if pat:
                    parts[i].append(f"{lv} {v!r} matches {pat!r}")
                    break
        if h & BY_CONTEXT:
            t = text[i] or ""
            pat = next((p for p, rx in zip(c.context_names, cnames, strict=True)
                        if rx.search(t)), None)
            where = next((f"{lv} {vals[i]!r}" for lv, vals in level_vals.items()
                          if vals[i] is not None and any(rx.search(vals[i]) for rx in cpats)),
                         "its taxonomy")
            parts[i].append(f"name pattern {pat!r} in {where}")
        if h & BY_INCLUDE:
            r = int(rows[i])
            via = next((inc for inc in c.includes
                        if np.searchsorted(ct.rows[inc], r) < ct.rows[inc].shape[0]
                        and ct.rows[inc][np.searchsorted(ct.rows[inc], r)] == r), None)
            parts[i].append(f"included concept {via}" if via else "an included concept")
        if h & BY_OVERRIDE:
            line = ct.override_lines.get((concept, int(rows[i])))
            parts[i].append(f"override line {line}" if line else "override")
        out[i] = "; ".join(parts[i])
    return out


_WORD = re.compile(r"[a-z0-9]+")
_STOP = {"and", "the", "for", "with", "not", "any", "all", "from", "other", "products"}


def _keywords(vocab: Vocabulary, concept: str) -> list[str]:
    c = vocab[concept]
    words = _WORD.findall(f"{c.name.replace('_', ' ')} {c.title}".lower())
    return sorted({w for w in words if len(w) >= 3 and w not in _STOP})


def _candidates(vocab: Vocabulary, concept: str, view: CatalogView) -> list[str]:
    """The catalog entries sharing most words (or word stems) with the concept."""
    keys = _keywords(vocab, concept)
    if not keys:
        return []
    stems = [k[:max(4, len(k) - 2)] for k in keys]
    pool: list[str] = []
    for arr in [*view.raw_levels.values(), *([view.raw_names] if view.raw_names is not None
                                              else [])]:
        pool.extend(v for v in pc.unique(arr).to_pylist() if v)
    scored = []
    for v in dict.fromkeys(pool):
        toks = _WORD.findall(v.lower())
        score = sum(1 for s in stems if any(t.startswith(s) for t in toks))
        if score:
            scored.append((-score, len(v), v))
    scored.sort()
    return [v for _, _, v in scored[:CANDIDATES]]


def catalog_map(project: Project, signatures: tuple[Signature, ...] = ()) -> CatalogMap:
    """Resolve the project's catalog to concepts and explain every match.

    Parameters
    ----------
    project : Project
        Its ``[catalog]`` is read; ``[detection]`` names extra concept files and
        the overrides file.
    signatures : tuple of Signature
        The library in use: concepts of the project's own vocabulary files that
        none of them names are reported in ``notes``.

    Raises
    ------
    ConfigError
        The project has no catalog, or a concept or override file is invalid.
    """
    from basketguard.engine.io.tables import read_role

    spec = project.source("catalog")
    if spec is None:
        raise ConfigError(f"{project.path or 'project'}: no [catalog] table; `catalog map` "
                          "needs the catalog (item, name and/or taxonomy levels).")
    det = project.detection
    vocab = load_vocabulary(det.vocabulary)
    overrides = read_overrides(det.overrides) if det.overrides is not None else None
    table = read_role(project, "catalog")
    items = table.column("item").combine_chunks()
    levels = list(spec.lists.get("levels", ()))
    view = catalog_view(table, items, levels, spec.origin, spec.lists.get("name", ()))
    ct = resolve_concepts(vocab, view.names, view.levels, view.n_rows, overrides,
                          view.item_keys)
    cols: dict[str, list] = {"row": [], "concept": [], "matched_by": []}
    for name in vocab.names:
        rows = ct.rows[name]
        cols["row"].extend(rows.tolist())
        cols["concept"].extend([name] * rows.shape[0])
        cols["matched_by"].extend(_reasons(ct, view, name))
    take = pa.array(np.asarray(cols["row"], np.int64))
    out = {"item": items.take(take)}
    out["name"] = (view.raw_names.take(take) if view.raw_names is not None
                   else pa.nulls(len(take), pa.string()))
    for lv in levels:
        out[lv] = view.raw_levels[lv].take(take)
    out["concept"] = pa.array(cols["concept"], pa.string())
    out["matched_by"] = pa.array(cols["matched_by"], pa.string())
    counts = {n: int(ct.rows[n].shape[0]) for n in vocab.names}
    unmatched = {n: _candidates(vocab, n, view) for n in vocab.names if counts[n] == 0}
    notes = list(ct.notes)
    if signatures:
        notes.extend(unused_concepts(vocab, signatures))
    return CatalogMap(pa.table(out), counts, unmatched, notes, len(items))
