"""Facts pinned on the real UCI Online Retail data (../shared/datasets)."""

from __future__ import annotations

import pytest

from basketguard.engine.api import load_histories, profile
from basketguard.engine.cli.main import main
from tests.conftest import REPO

PROJECT = REPO / "examples" / "online_retail.toml"

# Real-data facts, not kernel coverage: 400k lines are too slow for the
# NUMBA_DISABLE_JIT pass.
pytestmark = pytest.mark.jit


def test_profile_pins_published_counts(datasets, cache_dir):
    prof = profile(PROJECT, cache_dir=cache_dir)
    assert prof["lines"] == 397_924
    assert prof["baskets"] == 18_536
    assert prof["customers"] == 4_339
    assert prof["items"] == 3_665
    assert prof["time_span"]["first_day"] == "2010-12-01"
    assert prof["time_span"]["last_day"] == "2011-12-09"
    assert prof["dropped"] == {"null_customer": 134_697}
    assert prof["duplicates"] == {"found": 5_194, "kept": 5_194}


def test_cache_is_reused_and_identical(datasets, cache_dir):
    first = load_histories(PROJECT, cache_dir=cache_dir)
    second = load_histories(PROJECT, cache_dir=cache_dir)
    assert first.info["cache"] == "stored" and second.info["cache"] == "hit"
    for name in ("offsets", "item", "day", "basket", "quantity", "price"):
        assert (getattr(first, name) == getattr(second, name)).all(), name
    assert first.customer_ids.equals(second.customer_ids)
    assert first.item_ids.equals(second.item_ids)
    # Original ids come back in their original form: CustomerID 17850.0 -> 17850.
    assert 17850 in second.customer_ids.to_pylist()
    assert "85123A" in second.item_ids.to_pylist()


def test_cli_profile_json(datasets, cache_dir, capsys):
    import json

    rc = main(["profile", str(PROJECT), "--json", "--cache-dir", str(cache_dir)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["lines"] == 397_924
