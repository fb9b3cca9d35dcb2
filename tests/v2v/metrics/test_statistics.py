"""Mean, recall and decay against the official ``db_statistics``."""

from __future__ import annotations

import numpy as np
import pytest

from v2v.metrics import decay, mean, recall, sequence_statistics

from ._fixtures import as_float, expected


@pytest.mark.parametrize("length", ["1", "2", "5", "7", "13", "50", "101"])
def test_matches_the_official_statistics(length):
    case = expected()["statistics"][length]
    stats = sequence_statistics(as_float(case["values"]))
    np.testing.assert_allclose([stats.mean, stats.recall, stats.decay], case["stats"], rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("size", ["60x80", "120x160", "240x427"])
def test_matches_the_official_statistics_of_j_and_f(size):
    case = expected()["jf"][size]
    for key in ("J", "F"):
        stats = sequence_statistics(np.array(case[key]))
        np.testing.assert_allclose([stats.mean, stats.recall, stats.decay], case[f"{key}_stats"], rtol=0, atol=1e-12)


def test_by_hand():
    values = [1.0, 0.8, 0.6, 0.4, 0.2]  # bins [0:2], [1:3], [2:4], [3:5] (1-based edges 1, 2, 3, 4, 5)
    assert mean(values) == pytest.approx(0.6)
    assert recall(values) == pytest.approx(3 / 5)
    assert decay(values) == pytest.approx(0.9 - 0.3)


def test_nan_frames():
    values = [np.nan, 1.0, 0.0]
    assert mean(values) == pytest.approx(0.5)
    assert recall(values) == pytest.approx(1 / 3)  # NaN counts as a miss
    assert np.isnan(mean([np.nan, np.nan]))


def test_long_sequences_do_not_wrap():
    values = np.linspace(1.0, 0.0, 400)
    assert decay(values) == pytest.approx(np.mean(values[:101]) - np.mean(values[299:]), abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        mean([])
    with pytest.raises(ValueError, match="1-D"):
        decay(np.zeros((2, 2)))
