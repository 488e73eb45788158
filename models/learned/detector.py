"""A learned detector: LightGBM on per-customer features, calibrated on out-of-fold scores.

:class:`LearnedDetector` is a :class:`~basketguard.models.detector.Detector`
like a signature: its *score* is the booster's raw margin and its
:meth:`~LearnedDetector.probability` a logistic link (Platt scaling) fitted on
the out-of-fold margins of a stratified k-fold cross-validation, so the
probabilities are calibrated on customers the scoring model was not trained on.

Training (:meth:`LearnedDetector.fit`), following scikit-learn's conventions:
``__init__`` stores parameters, ``fit`` returns ``self``, learned attributes end
in ``_``, randomness goes through ``random_state``.

1. Folds: positives and negatives are each permuted with
   ``numpy.random.default_rng(random_state)`` and dealt round-robin to
   ``n_folds`` folds.
2. For each fold, the columns are chosen and a booster trained on the other
   folds (``rounds`` boosting rounds, no early stopping, so no fold sees its
   own labels); it predicts the fold's raw margins: the out-of-fold (OOF) scores.
3. Metrics come from the OOF scores: ROC AUC and PR AUC (average precision)
   with 95 % intervals (:mod:`basketguard.models.learned.metrics`), per-fold
   AUCs, precision at recall 0.5.
4. The link ``P = 1 / (1 + exp(-(intercept + slope * margin)))`` is fitted by
   maximum likelihood on the OOF margins.
5. The final booster is trained on every customer with the same parameters.

Class imbalance: each booster sees every positive and at most ``neg_ratio``
negatives per positive (a seeded sample), and positives are weighted by the
remaining ``n_neg / n_pos`` (capped at ``max_pos_weight``), so small positive
classes still shape the trees; the link refit in step 4 undoes the shift this
gives the margins. Columns may be chosen from the labels (``fit``'s
``features`` callback): that choice is made inside each fold.

Determinism: LightGBM runs with ``deterministic = true``, ``force_col_wise``,
a fixed ``num_threads`` and seeds derived from ``random_state``, so the same
data, parameters and thread count give the same model text, byte for byte.

Serialization: :meth:`LearnedDetector.to_files` gives LightGBM's own text model
(``model.txt``) and a JSON metadata file (``detector.json``: name, title,
sensitivity, threshold, link, feature names and the feature specification,
parameters, metrics, training-data fingerprint, package versions);
:meth:`LearnedDetector.from_files` reads them back to identical predictions.
"""

from __future__ import annotations

import json
import math
import platform
from typing import Any, ClassVar

import numpy as np

from basketguard.engine.errors import ConfigError, DataError
from basketguard.models.detector import GDPR_ART9, NAME_PATTERN, SENSITIVITIES
from basketguard.models.learned.metrics import average_precision, precision_at_recall, roc_auc

#: Version of the metadata layout written by :meth:`LearnedDetector.to_files`.
FORMAT = 1
MODEL_FILE = "model.txt"
META_FILE = "detector.json"


def _lgb():
    import lightgbm  # imported on use: keeps `basketguard --help` and scans fast

    return lightgbm


def fit_logistic(x: np.ndarray, y: np.ndarray, iters: int = 100) -> tuple[float, float]:
    """Maximum-likelihood ``(intercept, slope)`` of ``P(y) = logistic(a + b x)``.

    Newton's method on the standardized score with step halving (every step
    raises the log-likelihood), and a small ridge on the slope so that scores
    that separate the classes still give a finite fit.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    mu = float(x.mean()) if x.size else 0.0
    sd = float(x.std()) if x.size else 1.0
    sd = sd if sd > 0 else 1.0
    z = (x - mu) / sd
    rate = min(max(float(y.mean()) if y.size else 0.5, 1e-6), 1 - 1e-6)
    beta = np.array([math.log(rate / (1 - rate)), 0.0])
    design = np.stack([np.ones_like(z), z], axis=1)
    ridge = np.array([0.0, 1e-4 * max(y.size, 1)])

    def loglik(b: np.ndarray) -> float:
        eta = design @ b
        return float((y * eta - np.logaddexp(0.0, eta)).sum() - 0.5 * (ridge * b * b).sum())

    current = loglik(beta)
    for _ in range(iters):
        eta = design @ beta
        p = 0.5 * (1.0 + np.tanh(0.5 * eta))  # the logistic, without overflow
        w = p * (1.0 - p)
        grad = design.T @ (y - p) - ridge * beta
        hess = (design * w[:, None]).T @ design + np.diag(ridge) + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-8:
            trial = beta + t * step
            value = loglik(trial)
            if value >= current - 1e-12:
                break
            t *= 0.5
        else:
            break
        beta, moved = trial, float(np.abs(t * step).max())
        current = value
        if moved < 1e-10:
            break
    slope = beta[1] / sd
    return float(beta[0] - slope * mu), float(slope)


def folds_of(labels: np.ndarray, n_folds: int, random_state: int) -> np.ndarray:
    """Stratified fold number (0..n_folds-1) of each row (see the module docstring)."""
    labels = np.asarray(labels).astype(bool)
    out = np.empty(labels.size, np.int32)
    rng = np.random.default_rng(random_state)
    for cls in (True, False):
        rows = np.flatnonzero(labels == cls)
        rows = rows[rng.permutation(rows.size)]
        out[rows] = np.arange(rows.size) % n_folds
    return out


class LearnedDetector:
    """A LightGBM detector of one sensitive inference (see the module docstring).

    Parameters
    ----------
    name, title, sensitivity, gdpr_art9 : str
        As for a signature (:mod:`basketguard.models.detector`).
    threshold : float
        Probability from which a customer counts as flagged.
    rounds : int
        Boosting rounds.
    learning_rate, num_leaves, min_child_samples, feature_fraction, lambda_l2, max_bin
        LightGBM parameters.
    n_folds : int
        Cross-validation folds for the metrics and the calibration (>= 2).
    num_threads : int
        LightGBM threads (part of the determinism contract: the same count gives
        the same model).
    random_state : int
        Seed of the folds and of LightGBM.
    max_pos_weight : float
        Cap of the positive-class weight ``n_neg / n_pos``.
    neg_ratio : float
        Each booster trains on every positive and at most this many negatives
        per positive (a seeded sample): most negatives of a rare event add
        time, not information.
    """

    kind: ClassVar[str] = "learned"

    def __init__(self, name: str, title: str, sensitivity: str, gdpr_art9: str = "none", *,
                 threshold: float = 0.5, rounds: int = 200, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 20,
                 feature_fraction: float = 0.8, lambda_l2: float = 1.0, max_bin: int = 63,
                 n_folds: int = 5, num_threads: int = 2, random_state: int = 0,
                 max_pos_weight: float = 50.0, neg_ratio: float = 20.0) -> None:
        self.name = name
        self.title = title
        self.sensitivity = sensitivity
        self.gdpr_art9 = gdpr_art9
        self.threshold = threshold
        self.rounds = rounds
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.feature_fraction = feature_fraction
        self.lambda_l2 = lambda_l2
        self.max_bin = max_bin
        self.n_folds = n_folds
        self.num_threads = num_threads
        self.random_state = random_state
        self.max_pos_weight = max_pos_weight
        self.neg_ratio = neg_ratio

    # ------------------------------------------------------------ parameters
    def check(self) -> None:
        """Raise :class:`ConfigError` for a parameter out of its range."""
        if not NAME_PATTERN.match(self.name):
            raise ConfigError(f"detector name {self.name!r} must be of the form [a-z][a-z0-9_]*")
        if self.sensitivity not in SENSITIVITIES:
            raise ConfigError(f"sensitivity {self.sensitivity!r} is not one of "
                              f"{', '.join(SENSITIVITIES)}")
        if self.gdpr_art9 not in GDPR_ART9:
            raise ConfigError(f"gdpr_art9 {self.gdpr_art9!r} is not one of {', '.join(GDPR_ART9)}")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"threshold {self.threshold} must be a probability in (0, 1)")
        if self.rounds < 1 or self.n_folds < 2 or self.num_threads < 1:
            raise ConfigError("rounds and num_threads must be >= 1 and n_folds >= 2")

    def lgb_params(self, pos_weight: float) -> dict[str, Any]:
        """The LightGBM parameters of one training (deterministic settings included)."""
        seed = int(self.random_state)
        return {
            "objective": "binary", "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves, "min_data_in_leaf": self.min_child_samples,
            "feature_fraction": self.feature_fraction, "feature_fraction_seed": seed + 1,
            "lambda_l2": self.lambda_l2, "max_bin": self.max_bin,
            "scale_pos_weight": float(pos_weight), "zero_as_missing": True,
            "deterministic": True, "force_col_wise": True, "num_threads": self.num_threads,
            "seed": seed, "data_random_seed": seed + 2, "verbosity": -1,
        }

    # -------------------------------------------------------------- training
    def _train(self, X, y: np.ndarray, seed: int):
        """One booster on all positives and at most ``neg_ratio`` negatives per positive."""
        lgb = _lgb()
        pos = np.flatnonzero(y == 1)
        neg = np.flatnonzero(y == 0)
        cap = int(self.neg_ratio * pos.size)
        if neg.size > cap:
            rng = np.random.default_rng(seed)
            neg = np.sort(rng.choice(neg, cap, replace=False))
        rows = np.sort(np.concatenate([pos, neg]))
        pos_weight = min(neg.size / max(pos.size, 1), self.max_pos_weight)
        params = self.lgb_params(pos_weight)
        data = lgb.Dataset(X[rows], label=y[rows], params=params, free_raw_data=True)
        return lgb.train(params, data, num_boost_round=self.rounds)

    def fit(self, features, y: np.ndarray, fingerprint: str = "",
            progress=None) -> LearnedDetector:
        """Cross-validate, calibrate and train on all rows (see the module docstring).

        Parameters
        ----------
        features : callable
            ``features(train)`` returns ``(X, feature_names, feature_spec)``: a
            ``scipy.sparse.csr_matrix`` (or 2-d float array) with one row per
            element of ``y`` (0 means "no such purchase": LightGBM runs with
            ``zero_as_missing``), a readable name per column and a dict of how the
            columns were built (kept so scoring rebuilds them). ``train`` is a
            boolean mask over ``y`` of the rows whose labels the features may use
            (to choose columns), or None for all: column choice happens inside each
            fold, so the cross-validated metrics are honest.
        y : array of 0/1, shape (n,)
        fingerprint : str
            Digest of the training data (kept in the metadata).
        progress : callable, optional
            Called with a short message before each training.

        Returns
        -------
        self

        Raises
        ------
        DataError
            Fewer than ``n_folds`` positives or negatives.
        """
        self.check()
        y = np.asarray(y).astype(np.int8)
        n_pos = int(y.sum())
        n_neg = int(y.size - n_pos)
        if n_pos < self.n_folds or n_neg < self.n_folds:
            raise DataError(f"{n_pos} positive and {n_neg} negative customers: training needs "
                            f"at least {self.n_folds} of each ({self.n_folds}-fold "
                            "cross-validation); give more labels or fewer folds.")
        folds = folds_of(y, self.n_folds, self.random_state)
        oof = np.empty(y.size, np.float64)
        fold_auc = []
        for k in range(self.n_folds):
            if progress:
                progress(f"cross-validation fold {k + 1} of {self.n_folds}")
            train = folds != k
            X, names, _ = features(train)
            if X.shape[0] != y.size or X.shape[1] != len(names):
                raise ValueError("features() returned a matrix that disagrees with y or its names")
            tr, te = np.flatnonzero(train), np.flatnonzero(~train)
            booster = self._train(X[tr], y[tr], self.random_state + 1 + k)
            oof[te] = booster.predict(X[te], raw_score=True, num_threads=self.num_threads)
            fold_auc.append(roc_auc(oof[te], y[te]).value)
        a, b = fit_logistic(oof, y)
        if not b > 0.0:  # the scores carry no signal: keep the link monotone
            b = 1e-6
        if progress:
            progress(f"training on all {y.size:,} customers")
        X, names, spec = features(None)
        self.booster_ = self._train(X, y, self.random_state)
        self.__dict__.pop("_forest", None)  # score() evaluates the new booster
        self.intercept_, self.slope_ = a, b
        self.feature_names_ = list(names)
        self.feature_spec_ = dict(spec or {})
        self.fingerprint_ = fingerprint
        auc = roc_auc(oof, y)
        ap = average_precision(oof, y)
        self.metrics_ = {
            "customers": int(y.size), "positives": n_pos, "negatives": n_neg,
            "base_rate": n_pos / y.size, "folds": self.n_folds,
            "roc_auc": auc.to_dict(), "pr_auc": ap.to_dict(),
            "roc_auc_per_fold": [round(v, 6) for v in fold_auc],
            "precision_at_recall_0.5": round(precision_at_recall(oof, y, 0.5), 6),
            "flagged_out_of_fold": int((self.probability(oof) >= self.threshold).sum()),
        }
        self.oof_ = oof
        return self

    # -------------------------------------------------------------- scoring
    @property
    def score_threshold(self) -> float:
        """The margin at which the probability reaches :attr:`threshold`."""
        logit = math.log(self.threshold / (1.0 - self.threshold))
        return (logit - self.intercept_) / self.slope_

    def probability(self, score):
        """Calibrated probability of a margin (array or number)."""
        eta = np.clip(self.intercept_ + self.slope_ * np.asarray(score, np.float64), -700, 700)
        return 1.0 / (1.0 + np.exp(-eta))

    def score(self, X) -> np.ndarray:
        """Raw margins of the final booster for feature rows ``X``."""
        if X.shape[1] != len(self.feature_names_):
            raise DataError(f"detector {self.name!r} expects {len(self.feature_names_)} "
                            f"feature columns, got {X.shape[1]}")
        if X.shape[0] == 0:
            return np.zeros(0)
        if not hasattr(X, "indptr"):
            return np.asarray(self.booster_.predict(X, raw_score=True,
                                                    num_threads=self.num_threads), np.float64)
        # LightGBM's own CSR predict takes ~15 s for 1M customers here and does not use a
        # second thread; the forest evaluated by a Numba kernel gives the same margins,
        # bit for bit (tests/models/learned/test_trees.py), in ~3 s
        from basketguard.kernels.trees import predict_raw

        forest = self.__dict__.get("_forest")
        if forest is None:
            from basketguard.models.learned.trees import forest_from_model_text

            forest = forest_from_model_text(self.booster_.model_to_string(num_iteration=-1))
            self.__dict__["_forest"] = forest
        data = X.data if X.data.dtype == np.float32 else X.data.astype(np.float32)
        return predict_raw(X.indptr, X.indices, data, X.shape[1], forest)

    def contributions(self, X) -> np.ndarray:
        """Per-feature SHAP contributions (LightGBM ``pred_contrib``), dense (n, n_features + 1)."""
        out = self.booster_.predict(X, pred_contrib=True, num_threads=self.num_threads)
        if hasattr(out, "toarray"):
            out = out.toarray()
        return np.asarray(out, np.float64)

    def importance(self) -> np.ndarray:
        """Total gain of each feature in the final booster."""
        return np.asarray(self.booster_.feature_importance("gain"), np.float64)

    # -------------------------------------------------------- serialization
    def metadata(self) -> dict[str, Any]:
        """The JSON metadata written beside the model text."""
        lgb = _lgb()
        return {
            "format": FORMAT, "kind": self.kind, "name": self.name, "title": self.title,
            "sensitivity": self.sensitivity, "gdpr_art9": self.gdpr_art9,
            "threshold": self.threshold,
            "link": {"intercept": self.intercept_, "slope": self.slope_,
                     "calibrated_on": "out-of-fold margins of the training customers"},
            "parameters": {k: getattr(self, k) for k in (
                "rounds", "learning_rate", "num_leaves", "min_child_samples",
                "feature_fraction", "lambda_l2", "max_bin", "n_folds", "num_threads",
                "random_state", "max_pos_weight", "neg_ratio")},
            "features": self.feature_names_, "feature_spec": self.feature_spec_,
            "training_fingerprint": self.fingerprint_, "metrics": self.metrics_,
            "versions": {"lightgbm": lgb.__version__, "numpy": np.__version__,
                         "python": platform.python_version()},
        }

    def to_files(self) -> dict[str, bytes]:
        """``{file name: bytes}`` of the saved form (model text and metadata)."""
        text = self.booster_.model_to_string(num_iteration=-1)
        meta = json.dumps(self.metadata(), indent=2, sort_keys=True) + "\n"
        return {MODEL_FILE: text.encode(), META_FILE: meta.encode()}

    @classmethod
    def from_files(cls, model_text: str, meta: dict[str, Any], origin: str) -> LearnedDetector:
        """Rebuild a detector from :meth:`to_files` output (``origin`` names it in errors)."""
        if not isinstance(meta, dict):
            raise ConfigError(f"{origin}: {META_FILE} does not hold a JSON object; train the "
                              "detector again with `basketguard learn`.")
        try:
            if meta.get("format") != FORMAT or meta.get("kind") != cls.kind:
                raise KeyError("format")
            params = meta["parameters"]
            det = cls(meta["name"], meta["title"], meta["sensitivity"], meta["gdpr_art9"],
                      threshold=float(meta["threshold"]), **params)
            det.intercept_ = float(meta["link"]["intercept"])
            det.slope_ = float(meta["link"]["slope"])
            det.feature_names_ = list(meta["features"])
            det.feature_spec_ = dict(meta["feature_spec"])
            det.fingerprint_ = str(meta.get("training_fingerprint", ""))
            det.metrics_ = dict(meta.get("metrics", {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: not a basketguard learned detector of format {FORMAT} "
                              f"(missing or bad {exc}); train it again with "
                              "`basketguard learn`.") from None
        try:
            det.check()
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc} Train the detector again with "
                              "`basketguard learn`.") from None
        try:
            det.booster_ = _lgb().Booster(model_str=model_text)
        except Exception as exc:  # LightGBM raises its own LightGBMError
            raise ConfigError(f"{origin}: the model text cannot be read by LightGBM ({exc}); "
                              "train it again with `basketguard learn`.") from None
        if det.booster_.num_feature() != len(det.feature_names_):
            raise ConfigError(f"{origin}: the model has {det.booster_.num_feature()} features "
                              f"but the metadata names {len(det.feature_names_)}.")
        return det

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description (like :meth:`Signature.summary`)."""
        return {"name": self.name, "title": self.title, "kind": self.kind,
                "sensitivity": self.sensitivity, "gdpr_art9": self.gdpr_art9,
                "threshold": self.threshold, "features": len(self.feature_names_),
                "metrics": self.metrics_}
