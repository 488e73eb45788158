"""Counter-based generator (kernels/rng) against tests/reference/rng.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basketguard.kernels import rng
from tests.reference import rng as naive

seeds = st.integers(0, 2**63 - 1)
idents = st.integers(0, 2**40 - 1)
streams = st.integers(0, 2**24 - 1)
counters = st.integers(0, 2**39 - 1)


@given(seeds, idents, streams, counters)
def test_draws_match_reference(seed, ident, stream, counter):
    with np.errstate(over="ignore"):  # the wrap-around is the hash (plain-Python mode)
        # np.uint64: a compiled kernel returns a Python int, and a Python int key
        # would be typed int64 (int64 + uint64 promotes to float in Numba)
        key = np.uint64(rng.derive_key(seed, ident))
        h = np.uint64(rng.draw(key, stream, counter))
        u = rng.uniform(h)
        z = rng.normal(key, stream, counter)
    want_key = naive.customer_key(seed, ident)
    assert int(key) == want_key
    assert int(h) == naive.draw(want_key, stream, counter)
    assert u == naive.unif(int(h)) and 0.0 <= u < 1.0
    assert z == naive.normal(want_key, stream, counter)


@given(st.integers(0, 2**64 - 1))
def test_mix_matches_reference(z):
    with np.errstate(over="ignore"):
        assert int(rng.mix(np.uint64(z))) == naive.mix(z)


def test_known_values():
    # splitmix64's first output from state 0 is 0xE220A8397B1DCDAF
    with np.errstate(over="ignore"):
        assert int(rng.mix(np.uint64(0x9E3779B97F4A7C15))) == 0xE220A8397B1DCDAF
        assert rng.uniform(np.uint64(2**64 - 1)) == 1.0 - 2.0**-53


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_check_seed_rejects(seed):
    with pytest.raises(ValueError, match="seed"):
        rng.check_seed(seed)


@given(seeds, st.integers(0, 300))
def test_derive_keys_matches_reference(seed, n):
    keys = rng.derive_keys(seed, n)
    assert keys.dtype == np.uint64 and keys.shape == (n,)
    assert [int(k) for k in keys] == [naive.customer_key(seed, i) for i in range(n)]


def test_derive_keys_rejects_bad_input():
    with pytest.raises(ValueError, match="seed"):
        rng.derive_keys(-1, 3)
    with pytest.raises(ValueError, match="n must"):
        rng.derive_keys(0, -1)
