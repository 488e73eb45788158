"""LightGBM's text model (``Booster.model_to_string()``) as a :class:`Forest`.

The forest is what :func:`basketguard.kernels.trees.predict_raw` evaluates, in
parallel and directly on the CSR feature matrix, to the same raw scores as
``booster.predict(X, raw_score=True)``.

The text model (LightGBM ``GBDT::SaveModelToString`` and ``Tree::ToString``)
is a header of ``key=value`` lines, then one block per tree that starts with
``Tree=k`` (k = 0, 1, ...) and holds ``key=value`` lines whose values are
space-separated lists, then ``end of trees``. Read here:

- header: ``num_class`` and ``num_tree_per_iteration`` (both must be 1: one
  binary or regression score), ``max_feature_idx`` (the forest has
  ``max_feature_idx + 1`` features); a bare ``average_output`` line (random
  forest mode, whose scores are averages, not sums) is refused;
- each tree: ``num_leaves``, and for ``num_leaves > 1`` the ``num_leaves - 1``
  entries of ``split_feature``, ``threshold``, ``decision_type``,
  ``left_child`` and ``right_child``; ``leaf_value`` (``num_leaves`` entries).
  ``num_cat > 0`` or a categorical ``decision_type`` bit, and ``is_linear=1``
  (linear trees), are refused.

Thresholds and leaf values are read as Python floats (correctly rounded
float64); LightGBM writes them with 17 significant digits, so they are the
doubles the booster holds. Other keys (gains, counts, weights, shrinkage,
feature names, parameters) do not change a raw score and are ignored. Every
error is a ``ValueError`` that names the tree and key.
"""

from __future__ import annotations

import numpy as np

from basketguard.kernels.trees import Forest, check_forest

__all__ = ["Forest", "forest_from_model_text"]

_NODE_KEYS = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
_END = "end of trees"


def _ints(values: list[str], where: str) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise ValueError(f"{where} must be a list of integers") from None


def _floats(values: list[str], where: str) -> list[float]:
    try:
        return [float(v) for v in values]
    except ValueError:
        raise ValueError(f"{where} must be a list of numbers") from None


def _header_int(header: dict[str, str | None], key: str) -> int:
    value = header.get(key)
    if value is None:
        raise ValueError(f"LightGBM model text: the header has no {key}= line")
    return _ints([value.strip()], f"LightGBM model text: header {key}")[0]


def _split(lines: list[str]) -> tuple[dict[str, str | None], list[tuple[int, dict[str, str]]]]:
    """The header (``key -> value``, ``None`` for a bare line) and each tree's
    ``(line number, key -> value)``, up to ``end of trees``."""
    header: dict[str, str | None] = {}
    trees: list[tuple[int, dict[str, str]]] = []
    block: dict[str, str] | None = None
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line:
            continue
        if line == _END:
            return header, trees
        key, eq, value = line.partition("=")
        if key == "Tree":
            k = _ints([value], f"LightGBM model text, line {number}: Tree=")[0]
            if k != len(trees):
                raise ValueError(f"LightGBM model text, line {number}: Tree={k} where "
                                 f"Tree={len(trees)} was expected (trees are numbered from 0)")
            block = {}
            trees.append((number, block))
            continue
        target = header if block is None else block
        if key in target:
            where = "the header" if block is None else f"Tree={len(trees) - 1}"
            raise ValueError(f"LightGBM model text, line {number}: {key} appears twice in {where}")
        target[key] = value if eq else None
    raise ValueError(f"LightGBM model text: no '{_END}' line (is the text cut short?)")


def forest_from_model_text(text: str) -> Forest:
    """Read a LightGBM text model into a :class:`Forest`.

    Parameters
    ----------
    text : str
        The model, as ``Booster.model_to_string()`` or ``Booster.save_model()``
        writes it (the module docstring lists what is read).

    Returns
    -------
    Forest
        The trees in booster order, flattened (checked by
        :func:`basketguard.kernels.trees.check_forest`); ``n_features`` is
        ``max_feature_idx + 1``.

    Raises
    ------
    ValueError
        Not a LightGBM text model, or one that is not a single sum of numerical
        trees: several classes or trees per iteration, averaged output (random
        forest), categorical splits, linear trees; a missing or malformed key,
        lists of the wrong length, or trees that break the forest's contract.
        The message names the tree and the key.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    lines = text.splitlines()
    if not lines or lines[0].strip() != "tree":
        raise ValueError("not a LightGBM text model: its first line must be 'tree'")
    header, trees = _split(lines)
    for key in ("num_class", "num_tree_per_iteration"):
        if _header_int(header, key) != 1:
            raise ValueError(f"LightGBM model text: {key}={header[key]}; only models with one "
                             "score (binary or regression, not multiclass) are supported")
    if "average_output" in header:
        raise ValueError("LightGBM model text: average_output (random forest mode) is not "
                         "supported; its score is the mean of the trees, not their sum")
    n_features = _header_int(header, "max_feature_idx") + 1
    if n_features < 0:
        raise ValueError(f"LightGBM model text: max_feature_idx={n_features - 1} must be >= -1")
    sizes = header.get("tree_sizes")
    if sizes is not None and len(sizes.split()) != len(trees):
        raise ValueError(f"LightGBM model text: tree_sizes lists {len(sizes.split())} trees "
                         f"but the text holds {len(trees)}")

    columns: dict[str, list] = {key: [] for key in _NODE_KEYS + ("leaf_value",)}
    n_nodes, n_leaves = [0], [0]
    for t, (_, block) in enumerate(trees):
        where = f"LightGBM model text, Tree={t}"
        if "num_leaves" not in block:
            raise ValueError(f"{where}: no num_leaves= line")
        m = _ints([block["num_leaves"] or ""], f"{where}: num_leaves")[0]
        if m < 1:
            raise ValueError(f"{where}: num_leaves={m} must be >= 1")
        if _ints([block.get("num_cat") or "0"], f"{where}: num_cat")[0] != 0:
            raise ValueError(f"{where}: categorical splits are not supported (num_cat > 0); "
                             "train with numerical features only")
        if (block.get("is_linear") or "0").strip() != "0":
            raise ValueError(f"{where}: linear trees (is_linear=1) are not supported")
        keys = (_NODE_KEYS if m > 1 else ()) + ("leaf_value",)
        for key in keys:
            if block.get(key) is None:
                raise ValueError(f"{where}: no {key}= line")
            values = block[key].split()
            want = m if key == "leaf_value" else m - 1
            if len(values) != want:
                raise ValueError(f"{where}: {key} has {len(values)} entries, expected {want} "
                                 f"(num_leaves={m})")
            parse = _floats if key in ("threshold", "leaf_value") else _ints
            columns[key].extend(parse(values, f"{where}: {key}"))
        n_nodes.append(n_nodes[-1] + m - 1)
        n_leaves.append(n_leaves[-1] + m)

    decision_type = np.array(columns["decision_type"], np.int64).reshape(-1)
    if decision_type.size and (decision_type & 1).any():
        k = int(np.flatnonzero(decision_type & 1)[0])
        t = int(np.searchsorted(n_nodes, k, side="right")) - 1
        raise ValueError(f"LightGBM model text, Tree={t}: categorical splits are not supported "
                         "(decision_type bit 0); train with numerical features only")
    if decision_type.size and ((decision_type < 0) | (decision_type > 127)).any():
        raise ValueError("LightGBM model text: decision_type values must lie in [0, 127]")
    forest = Forest(
        n_features=n_features,
        node_offsets=np.array(n_nodes, np.int64),
        leaf_offsets=np.array(n_leaves, np.int64),
        split_feature=_int32(columns["split_feature"], "split_feature"),
        threshold=np.array(columns["threshold"], np.float64).reshape(-1),
        decision_type=decision_type.astype(np.int8),
        left_child=_int32(columns["left_child"], "left_child"),
        right_child=_int32(columns["right_child"], "right_child"),
        leaf_value=np.array(columns["leaf_value"], np.float64).reshape(-1),
    )
    try:
        return check_forest(forest)
    except ValueError as e:
        raise ValueError(f"LightGBM model text: {e}") from None


def _int32(values: list[int], key: str) -> np.ndarray:
    a = np.array(values, np.int64).reshape(-1)
    if a.size and (a.min() < -(2**31) or a.max() >= 2**31):
        raise ValueError(f"LightGBM model text: {key} values must fit in int32")
    return a.astype(np.int32)
