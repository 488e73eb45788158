"""The mailing policy: which risks a segment may carry, and what fixing them costs.

A policy is a ``[policy]`` table in the project file, or a TOML file of its own
(``--policy FILE``, holding a ``[policy]`` table or the keys at its top level).
Every check is optional; a limit is a number (the failure level) or a table
``{warn = ..., fail = ...}`` (:class:`~basketguard.engine.findings.Threshold`)::

    [policy]
    max_posterior = 0.10            # P(event | received) for every sensitive event
    max_epsilon = 2.0               # log likelihood ratio of receiving it (randomized response)
    min_k = 5                       # smallest class over the exported attributes
    k_scope = "both"                # "segment", "population" (k-map) or "both"
    attributes = ["age_band", "postcode_prefix"]   # exported; default: every attribute
    max_unicity = 0.5               # share of members unique from `unicity_p` known points
    unicity_p = 4
    unicity_points = "item-day"
    min_audience = 100              # members of the mailing, decoys included
    require_opt_out = true          # an opt-out list must be given
    no_signal = ["health", "religion", "sex_life"]   # the offer may not signal these
    decoy_max_probability = 0.05    # a decoy's own probability of the event stays below

    [policy.max_posterior_by]       # per sensitivity class; overrides max_posterior
    reproductive = 0.05

    [policy.costs]                  # what the optimizer minimizes
    lost_target = 10.0              # per targeted member dropped (suppression)
    decoy = 1.0                     # per decoy recipient added
    generalization = 5.0            # per member and unit of generalization loss (LM, 0..1)

Sensitivity classes are those of :data:`basketguard.models.detector.SENSITIVITIES`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from basketguard.engine.config.toml import check_keys, did_you_mean, read_toml
from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Threshold
from basketguard.models.detector import SENSITIVITIES

#: Unicity point kinds a policy may name (as ``basketguard assess --points``).
_POINTS = ("items", "item-day", "item-week", "item-month", "store-day")
_K_SCOPES = ("segment", "population", "both")

_KEYS = ("max_posterior", "max_posterior_by", "max_epsilon", "min_k", "k_scope", "attributes",
         "max_unicity", "unicity_p", "unicity_points", "min_audience", "require_opt_out",
         "no_signal", "decoy_max_probability", "costs")
_COST_KEYS = ("lost_target", "decoy", "generalization")


@dataclass(frozen=True)
class Costs:
    """What each change to a mailing costs the optimizer (all >= 0, at least one > 0)."""

    lost_target: float = 10.0
    decoy: float = 1.0
    generalization: float = 5.0

    def __post_init__(self) -> None:
        for name in _COST_KEYS:
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"policy.costs.{name} must be a number >= 0, not {v!r}.")

    def to_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in _COST_KEYS}


@dataclass(frozen=True)
class Policy:
    """A validated mailing policy (see the module docstring for the keys).

    Attributes
    ----------
    max_posterior : Threshold or None
        Default limit on P(event | received) for every sensitive event.
    max_posterior_by : dict
        Sensitivity class -> Threshold, overriding ``max_posterior``.
    max_epsilon, max_unicity : Threshold or None
        Limits (direction max).
    min_k, min_audience : Threshold or None
        Limits (direction min).
    k_scope : str
        Where class sizes are counted for ``min_k``.
    attributes : tuple of str or None
        Exported attributes (None: every customers attribute).
    unicity_p : int
    unicity_points : str
    require_opt_out : bool
    no_signal : tuple of str
        Sensitivity classes the offer's content may not signal.
    decoy_max_probability : float
        Largest probability of an event a decoy recipient may have.
    costs : Costs
    origin : str
        Where the policy was read (for messages).
    """

    max_posterior: Threshold | None = None
    max_posterior_by: dict[str, Threshold] = field(default_factory=dict)
    max_epsilon: Threshold | None = None
    min_k: Threshold | None = None
    k_scope: str = "both"
    attributes: tuple[str, ...] | None = None
    max_unicity: Threshold | None = None
    unicity_p: int = 4
    unicity_points: str = "item-day"
    min_audience: Threshold | None = None
    require_opt_out: bool = False
    no_signal: tuple[str, ...] = ()
    decoy_max_probability: float = 0.05
    costs: Costs = Costs()
    origin: str = "<policy>"

    def posterior_limit(self, sensitivity: str) -> Threshold | None:
        """The posterior limit of a sensitivity class (its own, else the default)."""
        return self.max_posterior_by.get(sensitivity, self.max_posterior)

    @property
    def n_checks(self) -> int:
        """How many checks the policy sets (a gate with none is an error)."""
        limits = (self.max_posterior, self.max_epsilon, self.min_k, self.max_unicity,
                  self.min_audience)
        return (sum(t is not None for t in limits) + len(self.max_posterior_by)
                + int(self.require_opt_out) + int(bool(self.no_signal)))

    def to_dict(self) -> dict[str, Any]:
        def t(x: Threshold | None) -> dict | None:
            return None if x is None else x.to_dict()

        return {
            "max_posterior": t(self.max_posterior),
            "max_posterior_by": {k: t(v) for k, v in sorted(self.max_posterior_by.items())},
            "max_epsilon": t(self.max_epsilon), "min_k": t(self.min_k), "k_scope": self.k_scope,
            "attributes": None if self.attributes is None else list(self.attributes),
            "max_unicity": t(self.max_unicity), "unicity_p": self.unicity_p,
            "unicity_points": self.unicity_points, "min_audience": t(self.min_audience),
            "require_opt_out": self.require_opt_out, "no_signal": list(self.no_signal),
            "decoy_max_probability": self.decoy_max_probability, "costs": self.costs.to_dict(),
        }


def _inside(v: float, low: float | None, high: float | None, open_ends: bool) -> bool:
    """``v`` within the bounds (exclusive when ``open_ends``)."""
    if low is not None and (v < low or (open_ends and v == low)):
        return False
    return high is None or (v < high if open_ends else v <= high)


def _limit(value: Any, key: str, origin: str, direction: str, *, low: float | None = None,
           high: float | None = None, open_low: bool = False) -> Threshold:
    """A Threshold from a number (the failure level) or ``{warn, fail}``."""
    where = f"{origin}: policy.{key}"
    if isinstance(value, Mapping):
        check_keys(value, ("warn", "fail"), f"policy.{key}.", origin)
        if not value:
            raise ConfigError(f"{where} is an empty table; give `fail = ...` and/or `warn = ...`.")
        levels = {k: value.get(k) for k in ("warn", "fail")}
    else:
        levels = {"warn": None, "fail": value}
    for name, v in levels.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(f"{where}{'.' + name if isinstance(value, Mapping) else ''} must "
                              f"be a finite number, not {v!r}.")
        if not _inside(v, low, high, open_low):
            shown = (f"lie in ({low:g}, {high:g})" if open_low and high is not None
                     else f"be >= {low:g}" if high is None else f"lie in [{low:g}, {high:g}]")
            raise ConfigError(f"{where} must {shown}, not {v!r}.")
    try:
        return Threshold(levels["warn"], levels["fail"], direction)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}.") from None


def _names(data: Mapping[str, Any], key: str, origin: str, what: str) -> tuple[str, ...]:
    """A list of strings under ``key``, or a ConfigError naming it."""
    v = data[key]
    if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
        raise ConfigError(f"{origin}: policy.{key} must be a list of {what}.")
    return tuple(v)


def policy_from_dict(data: Mapping[str, Any], origin: str = "<policy>") -> Policy:
    """Validate a ``[policy]`` table.

    Parameters
    ----------
    data : mapping
        The table's keys (see the module docstring).
    origin : str
        The file named in messages.

    Returns
    -------
    Policy

    Raises
    ------
    ConfigError
        An unknown key, a value of the wrong type or range (a posterior limit
        outside (0, 1), a negative k), an unknown sensitivity class or point kind.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"{origin}: [policy] must be a table.")
    check_keys(data, _KEYS, "policy.", origin)
    kw: dict[str, Any] = {"origin": origin}
    if "max_posterior" in data:
        kw["max_posterior"] = _limit(data["max_posterior"], "max_posterior", origin, "max",
                                     low=0.0, high=1.0, open_low=True)
    by = data.get("max_posterior_by", {})
    if not isinstance(by, Mapping):
        raise ConfigError(f"{origin}: policy.max_posterior_by must be a table of "
                          "sensitivity class = limit.")
    out_by = {}
    for cls, v in by.items():
        if cls not in SENSITIVITIES:
            raise ConfigError(f"{origin}: policy.max_posterior_by.{cls}: unknown sensitivity "
                              f"class.{did_you_mean(cls, SENSITIVITIES)} Classes: "
                              f"{', '.join(SENSITIVITIES)}.")
        out_by[cls] = _limit(v, f"max_posterior_by.{cls}", origin, "max", low=0.0, high=1.0,
                             open_low=True)
    kw["max_posterior_by"] = out_by
    if "max_epsilon" in data:
        kw["max_epsilon"] = _limit(data["max_epsilon"], "max_epsilon", origin, "max", low=0.0)
    if "min_k" in data:
        kw["min_k"] = _limit(data["min_k"], "min_k", origin, "min", low=1.0)
    if "max_unicity" in data:
        kw["max_unicity"] = _limit(data["max_unicity"], "max_unicity", origin, "max",
                                   low=0.0, high=1.0)
    if "min_audience" in data:
        kw["min_audience"] = _limit(data["min_audience"], "min_audience", origin, "min", low=0.0)
    if "k_scope" in data:
        v = data["k_scope"]
        if v not in _K_SCOPES:
            raise ConfigError(f"{origin}: policy.k_scope = {v!r}; use one of "
                              f"{', '.join(_K_SCOPES)}.")
        kw["k_scope"] = v
    if "attributes" in data:
        kw["attributes"] = _names(data, "attributes", origin, "column names")
    if "unicity_p" in data:
        v = data["unicity_p"]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 64:
            raise ConfigError(f"{origin}: policy.unicity_p must be an integer in 1..64, "
                              f"not {v!r}.")
        kw["unicity_p"] = v
    if "unicity_points" in data:
        v = data["unicity_points"]
        if v not in _POINTS:
            raise ConfigError(f"{origin}: policy.unicity_points = {v!r}; use one of "
                              f"{', '.join(_POINTS)}.{did_you_mean(str(v), _POINTS)}")
        kw["unicity_points"] = v
    if "require_opt_out" in data:
        v = data["require_opt_out"]
        if not isinstance(v, bool):
            raise ConfigError(f"{origin}: policy.require_opt_out must be true or false.")
        kw["require_opt_out"] = v
    if "no_signal" in data:
        v = _names(data, "no_signal", origin, "sensitivity classes")
        for cls in v:
            if cls not in SENSITIVITIES:
                raise ConfigError(f"{origin}: policy.no_signal: unknown sensitivity class "
                                  f"{cls!r}.{did_you_mean(cls, SENSITIVITIES)} Classes: "
                                  f"{', '.join(SENSITIVITIES)}.")
        kw["no_signal"] = tuple(v)
    if "decoy_max_probability" in data:
        v = data["decoy_max_probability"]
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v <= 1:
            raise ConfigError(f"{origin}: policy.decoy_max_probability must lie in (0, 1], "
                              f"not {v!r}.")
        kw["decoy_max_probability"] = float(v)
    limits = [t.limit for t in [kw.get("max_posterior"), *out_by.values()] if t is not None]
    if "decoy_max_probability" in kw and limits and kw["decoy_max_probability"] >= min(limits):
        raise ConfigError(f"{origin}: policy.decoy_max_probability = "
                          f"{kw['decoy_max_probability']:g} is not below the smallest posterior "
                          f"limit ({min(limits):g}): decoys that likely have the event cannot "
                          "lower its posterior. Give a smaller decoy_max_probability.")
    costs = data.get("costs", {})
    if not isinstance(costs, Mapping):
        raise ConfigError(f"{origin}: policy.costs must be a table.")
    check_keys(costs, _COST_KEYS, "policy.costs.", origin)
    try:
        kw["costs"] = Costs(**costs)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    if not any(v > 0 for v in kw["costs"].to_dict().values()):
        raise ConfigError(f"{origin}: policy.costs are all 0; give at least one a positive "
                          "weight.")
    return Policy(**kw)


def load_policy(path: str | Path) -> Policy:
    """Read a policy from a TOML file (a ``[policy]`` table or the keys at the top).

    Raises
    ------
    ConfigError
        The file is missing, is not TOML, or the policy is invalid.
    """
    data = read_toml(path, "policy file")
    if "policy" in data:
        check_keys(data, ("policy", "project"), "", str(path))
        data = data["policy"]
    return policy_from_dict(data, str(path))
