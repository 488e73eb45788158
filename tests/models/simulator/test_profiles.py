"""Simulator profiles: ``hard`` unchanged, ``realistic`` deterministic and as documented.

The realistic profile's rates are measured on a generated population and
compared with the targets in ``basketguard.models.simulator.realistic``, and
the targets with the table in docs/simulator.md, so neither the code nor the
table can drift from the other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from basketguard.engine.cli.exitcodes import ExitCode
from basketguard.engine.errors import ConfigError
from basketguard.models.simulator import profiles
from basketguard.models.simulator.catalog import MIN_ITEMS
from basketguard.models.simulator.profiles import PROFILES, REALISTIC
from basketguard.models.simulator.rates import measure
from basketguard.models.simulator.run import CONFOUNDERS, EVENTS, SimConfig, prepare, simulate

DOC = Path(__file__).resolve().parents[3] / "docs" / "simulator.md"
SMALL = dict(customers=24, days=60, items=MIN_ITEMS, visits_per_week=1.5, event_rate=20.0,
             chunk_customers=10, row_group_size=500)
#: Content of the files the simulator wrote before profiles existed (seed 7, SMALL;
#: seed 3, 2,000 customers, defaults): the hard profile must keep writing exactly these.
HARD_PINS = {
    "small": {"lines": "963200818698013f", "catalog": "b0fcedc9521dfd44",
              "customers": "d4e983d5d4c4fb3e", "truth": "410bedfb432c1790"},
    "default2k": {"lines": "ecf5a32ba6f9a5ea", "catalog": "d9152305ae23f224",
                  "customers": "9414cd501ed1ee8c", "truth": "862e4da616283f67"},
}
#: Population of the rate checks: large enough that a 1 % rate has a standard error of 7 %.
RATE_CUSTOMERS = 20_000


def _content(path: Path) -> str:
    """Digest of a Parquet file's columns (independent of the writer's version)."""
    table = pq.read_table(path)
    h = hashlib.sha256()
    for name in table.column_names:
        col = table[name].combine_chunks()
        h.update(name.encode())
        if pa.types.is_string(col.type):
            h.update("\x1f".join("\x00" if v is None else v for v in col.to_pylist()).encode())
            continue
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        elif pa.types.is_date32(col.type):
            col = col.view(pa.int32())
        if col.null_count:
            col = col.fill_null(-1)
        h.update(col.to_numpy(zero_copy_only=False).tobytes())
    return h.hexdigest()[:16]


def _contents(result) -> dict[str, str]:
    return {k: _content(result.paths[k]) for k in ("lines", "catalog", "customers", "truth")}


def _bytes(result) -> dict[str, str]:
    return {k: hashlib.sha256(p.read_bytes()).hexdigest() for k, p in result.paths.items()}


# ------------------------------------------------------------------ config


def test_hard_is_the_default():
    assert SimConfig().profile == "hard"
    assert SimConfig().weekly_visits == 0.2
    assert SimConfig(profile="realistic").weekly_visits == REALISTIC.visits_per_week
    assert SimConfig(profile="realistic", visits_per_week=0.5).weekly_visits == 0.5
    # replace() keeps "the profile's rate", it does not freeze the old profile's
    assert dataclasses.replace(SimConfig(), profile="realistic").weekly_visits == \
        REALISTIC.visits_per_week


@pytest.mark.parametrize("bad", ["easy", "", "Realistic", 3, None])
def test_unknown_profile_names_the_option_and_the_known_ones(bad):
    with pytest.raises(ConfigError, match=r"profile: .* is not a known profile; known "
                                          r"profiles: hard, realistic"):
        SimConfig(profile=bad)


def test_profiles_plant_the_same_events():
    for prof in PROFILES.values():
        assert tuple(dict.fromkeys(p.name for p in prof.programs if p.kind == "event")) == EVENTS
        assert {p.name for p in prof.programs if p.kind == "confounder"} <= set(CONFOUNDERS)
        keys = [p.key for p in prof.programs]
        assert len(keys) == len(set(keys))


# ------------------------------------------------------------- determinism


def test_hard_writes_what_the_simulator_wrote_before_profiles(tmp_path):
    res = simulate(SimConfig(seed=7, **SMALL), tmp_path / "a")
    assert _contents(res) == HARD_PINS["small"]
    again = simulate(SimConfig(seed=7, profile="hard", **SMALL), tmp_path / "b")
    assert _bytes(again) == _bytes(res)
    assert "profile=" not in res.paths["project"].read_text()


@pytest.mark.jit
def test_hard_default_population_is_unchanged(tmp_path):
    assert _contents(simulate(SimConfig(customers=2000, seed=3), tmp_path)) == \
        HARD_PINS["default2k"]


def test_realistic_is_deterministic_and_differs_from_hard(tmp_path):
    cfg = SimConfig(seed=7, profile="realistic", **SMALL)
    one = simulate(cfg, tmp_path / "one")
    two = simulate(dataclasses.replace(cfg, chunk_customers=7), tmp_path / "two")
    assert _bytes(one) == _bytes(two)
    hard = simulate(SimConfig(seed=7, **SMALL), tmp_path / "hard")
    assert _contents(one)["lines"] != _contents(hard)["lines"]
    assert _contents(one)["catalog"] == _contents(hard)["catalog"]  # same items, other habits
    assert _contents(one)["customers"] == _contents(hard)["customers"]
    assert "profile=realistic" in one.paths["project"].read_text()
    truth = pq.read_table(one.paths["truth"])
    assert set(truth["event"].to_pylist()) <= set(EVENTS) | set(CONFOUNDERS)


def test_cli_profile(tmp_path, capsys):
    from basketguard.engine.cli.main import main

    out = tmp_path / "r"
    rc = main(["synth", "--customers", "12", "--days", "30", "--items", str(MIN_ITEMS),
               "--seed", "4", "--profile", "realistic", "--out", str(out)])
    assert rc == ExitCode.OK
    assert "profile=realistic" in (out / "project.toml").read_text()
    rc = main(["synth", "--profile", "gentle", "--out", str(tmp_path / "x")])
    assert rc == ExitCode.ERROR
    err = capsys.readouterr().err
    assert "profile: 'gentle' is not a known profile" in err and "hard, realistic" in err


# ------------------------------------------------------- documented rates


def _measured(profile_name: str, seed: int, targets, **config) -> dict:
    cfg = SimConfig(customers=RATE_CUSTOMERS, seed=seed, profile=profile_name, **config)
    model = prepare(cfg)
    customers = model.customers(0, cfg.customers)
    lines = model.lines(0, customers)
    return measure(targets, programs=model.programs, catalog=model.catalog,
                   customers=customers, lines=lines, first=0, n_days=cfg.days)


def _behaviour(name: str) -> bool:
    return name.startswith("pregnancy_")


@pytest.fixture(scope="module")
def realistic_rates():
    return _measured("realistic", 11, REALISTIC.targets)


def _within(target, m, seed_share: float) -> bool:
    """Within 3.5 standard errors, plus ``seed_share`` of the target for what the
    seed's catalog moves (which items the random ranking made popular)."""
    return abs(m.value - target.value) <= 3.5 * m.se + seed_share * target.value


@pytest.mark.jit
def test_realistic_rates_match_the_documented_targets(realistic_rates):
    bad = []
    for t in REALISTIC.targets:
        if _behaviour(t.name):
            continue
        m = realistic_rates[t.name]
        if not _within(t, m, 0.12):
            bad.append(f"{t.name}: measured {m.value:.4f} (se {m.se:.4f}, n {m.n}), "
                       f"documented {t.value}")
    assert not bad, "\n".join(bad)


@pytest.mark.jit
def test_realistic_background_is_far_below_hard():
    """The motivating figures: at the same weekly visits, hard customers buy
    pregnancy tests and prenatal vitamins several times more often than the
    realistic (documented) ones."""
    targets = [t for t in REALISTIC.targets if t.name in ("bg_pregnancy_test",
                                                          "bg_prenatal_vitamins")]
    hard = _measured("hard", 11, targets, visits_per_week=REALISTIC.visits_per_week)
    for t in targets:
        assert hard[t.name].value > 3 * t.value


@pytest.mark.jit
def test_pregnant_customers_stop_alcohol_and_tobacco(monkeypatch):
    """Pregnancy behaviour, on the realistic profile with six times as many
    pregnancies (everything else unchanged) for a usable sample."""
    boosted = tuple(dataclasses.replace(p, rate=6 * p.rate) if p.name == "pregnancy" else p
                    for p in REALISTIC.programs)
    monkeypatch.setitem(profiles.PROFILES, "realistic_x6",
                        dataclasses.replace(REALISTIC, name="realistic_x6", programs=boosted))
    targets = [t for t in REALISTIC.targets if _behaviour(t.name)]
    rates = _measured("realistic_x6", 11, targets)
    for t in targets:
        m = rates[t.name]
        assert m.n > 150, (t.name, m.n)
        assert _within(t, m, 0.0), (t.name, m, t.value)


def test_documented_table_matches_the_targets():
    rows = {}
    section = DOC.read_text(encoding="utf-8").split("## Profiles and where their rates come from")
    assert len(section) == 2, "docs/simulator.md lacks the profiles section"
    for line in section[1].splitlines():
        m = re.match(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", line)
        if m:
            assert m.group(1) not in rows, f"{m.group(1)} documented twice"
            rows[m.group(1)] = float(m.group(2).strip())
    targets = {t.name: t.value for t in REALISTIC.targets}
    assert rows == targets
