"""The mailing policy (engine/config/policy.py): keys, limits, errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from basketguard.engine.config.policy import Policy, load_policy, policy_from_dict
from basketguard.engine.config.project import load_project
from basketguard.engine.errors import ConfigError
from basketguard.engine.findings import Threshold


def test_full_policy():
    pol = policy_from_dict({
        "max_posterior": {"warn": 0.05, "fail": 0.1},
        "max_posterior_by": {"reproductive": 0.02}, "max_epsilon": 1.5, "min_k": 5,
        "k_scope": "segment", "attributes": ["age_band"], "max_unicity": 0.5, "unicity_p": 3,
        "unicity_points": "items", "min_audience": 100, "require_opt_out": True,
        "no_signal": ["health"], "decoy_max_probability": 0.01,
        "costs": {"lost_target": 5, "decoy": 1, "generalization": 0}}, "p.toml")
    assert pol.max_posterior == Threshold(0.05, 0.1, "max")
    assert pol.posterior_limit("reproductive") == Threshold(None, 0.02, "max")
    assert pol.posterior_limit("health") == pol.max_posterior
    assert pol.min_k == Threshold(None, 5, "min") and pol.min_audience.direction == "min"
    assert pol.n_checks == 8
    assert pol.to_dict()["costs"] == {"lost_target": 5.0, "decoy": 1.0, "generalization": 0.0}


def test_empty_policy_has_no_checks():
    assert policy_from_dict({}).n_checks == 0
    assert Policy().costs.lost_target == 10.0


@pytest.mark.parametrize(("data", "message"), [
    ({"max_posterior": 1.5}, r"policy.max_posterior must lie in \(0, 1\), not 1.5"),
    ({"max_posterior": 0}, r"must lie in \(0, 1\)"),
    ({"max_posterior": -0.1}, r"must lie in \(0, 1\)"),
    ({"max_posterior": "high"}, "must be a finite number"),
    ({"max_posterior": True}, "must be a finite number"),
    ({"max_posterior": {}}, "empty table"),
    ({"max_posterior": {"warn": 0.3, "fail": 0.1}}, "warning band is empty"),
    ({"max_posterior": {"fial": 0.1}}, "Did you mean 'fail'"),
    ({"min_k": 0}, "must be >= 1"),
    ({"min_k": {"warn": 3, "fail": 5}}, "warning band is empty"),
    ({"max_posteror": 0.1}, "Did you mean 'max_posterior'"),
    ({"max_posterior_by": {"reproduction": 0.1}}, "Did you mean 'reproductive'"),
    ({"max_posterior_by": 0.1}, "must be a table"),
    ({"k_scope": "all"}, "k_scope"),
    ({"unicity_points": "item-days"}, "Did you mean 'item-day'"),
    ({"unicity_p": 0}, "1..64"),
    ({"no_signal": ["heath"]}, "Did you mean 'health'"),
    ({"decoy_max_probability": 0}, r"\(0, 1\]"),
    ({"max_posterior": 0.1, "decoy_max_probability": 0.1}, "not below the smallest posterior"),
    ({"costs": {"decoy": -1}}, "policy.costs.decoy must be a number >= 0"),
    ({"costs": {"decoys": 1}}, "Did you mean 'decoy'"),
    ({"costs": {"lost_target": 0, "decoy": 0, "generalization": 0}}, "all 0"),
    ({"require_opt_out": "yes"}, "true or false"),
    ({"attributes": "age_band"}, "list of column names"),
])
def test_bad_policies_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message) as info:
        policy_from_dict(data, "mine.toml")
    assert "mine.toml" in str(info.value)


def test_policy_file_and_project_table(tmp_path: Path):
    f = tmp_path / "policy.toml"
    f.write_text('[policy]\nmax_posterior = 0.1\nmin_audience = 50\n')
    assert load_policy(f).min_audience.limit == 50
    g = tmp_path / "flat.toml"
    g.write_text('max_epsilon = 2.0\n')
    assert load_policy(g).max_epsilon.limit == 2.0
    bad = tmp_path / "bad.toml"
    bad.write_text('[policy]\nmax_posterior = 2\n')
    with pytest.raises(ConfigError, match="bad.toml"):
        load_policy(bad)
    (tmp_path / "lines.csv").write_text("c,i,t\n1,2,2024-01-01\n")
    proj = tmp_path / "p.toml"
    proj.write_text('[lines]\nsource = "lines.csv"\n[lines.columns]\ncustomer = "c"\n'
                    'item = "i"\ntime = "t"\n[policy]\nmax_posterior = 0.2\n'
                    '[opt_out]\nsource = "lines.csv"\n[opt_out.columns]\ncustomer = "c"\n')
    project = load_project(proj)
    assert project.policy.max_posterior.limit == 0.2
    assert project.source("opt_out") is not None
    proj.write_text('[lines]\nsource = "lines.csv"\n[lines.columns]\ncustomer = "c"\n'
                    'item = "i"\ntime = "t"\n[policy]\nmin_k = -3\n')
    with pytest.raises(ConfigError, match="p.toml: policy.min_k must be >= 1"):
        load_project(proj)
