"""The ingest's shortcut for batches whose quantities are all fine.

When every quantity of a batch is present, finite, within float32 and > 0,
the two quantity masks are skipped; any other batch takes the full check.
"""

from __future__ import annotations

import numpy as np
import pytest

from basketguard.engine.histories.ingest import _F32_MAX, _quantities_all_fine


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fine_quantities_take_the_shortcut(dtype):
    assert _quantities_all_fine(np.array([1, 0.5, 3e6], dtype), None)
    assert _quantities_all_fine(np.array([1, 2], dtype), np.array([True, True]))
    assert _quantities_all_fine(np.array([_F32_MAX], dtype), None)


@pytest.mark.parametrize("bad", [0.0, -0.0, -1.0, np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_any_doubtful_quantity_takes_the_full_check(bad, dtype):
    assert not _quantities_all_fine(np.array([1.0, bad, 2.0], dtype), None)


def test_float32_overflow_and_nulls_take_the_full_check():
    assert not _quantities_all_fine(np.array([1.0, 1e39]), None)
    assert not _quantities_all_fine(np.array([1.0, 2.0], np.float32), np.array([True, False]))
