"""The streaming DAVIS measures (J, F, T) of ``v2v.metrics.davis`` against the whole-video functions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from v2v.metrics import MaskScorer, region_similarity, sequence_statistics, temporal_stability, temporal_stability_pairs


def test_mask_scorer_streams_what_the_whole_video_functions_compute():
    yy, xx = np.mgrid[0:40, 0:50]
    masks = [((yy - 20) ** 2 / (40 + 6 * t) + (xx - 25) ** 2 / 90 < 1) for t in range(5)]
    truth = [((yy - 20) ** 2 + (xx - 24) ** 2 < 64) for _ in range(5)]
    scorer = MaskScorer()
    for mask, target in zip(masks, truth):
        scorer.update(mask, target)
    summary = scorer.summary()
    expected_j = sequence_statistics(region_similarity(np.stack(masks), np.stack(truth)))
    assert summary["J"] == expected_j.mean and summary["J_decay"] == expected_j.decay  # the same code, the same bits
    assert summary["T"] == temporal_stability(np.stack(masks))
    assert scorer.pair_costs() == list(temporal_stability_pairs(np.stack(masks)))
    again = scorer.summary()  # a summary changes nothing: more frames may follow
    assert again == summary


def test_mask_scorer_with_an_executor_computes_the_same_pairs_in_runs():
    yy, xx = np.mgrid[0:30, 0:36]
    masks = [((yy - 15) ** 2 + (xx - 10 - t) ** 2 < 40 + 2 * t) for t in range(23)]  # runs of 8 pairs and a tail
    serial, pooled = MaskScorer(), MaskScorer(executor=ThreadPoolExecutor(2))
    for mask in masks:
        serial.update(mask, masks[0])
        pooled.update(mask, masks[0])
    assert pooled.pair_costs() == serial.pair_costs() and pooled.summary() == serial.summary()
    pooled.executor.shutdown()


def test_mask_scorer_davis_protocol_scores_the_first_pair_against_the_truth():
    yy, xx = np.mgrid[0:30, 0:36]
    masks = [((yy - 15) ** 2 + (xx - 10 - t) ** 2 < 40) for t in range(6)]
    truth0 = (yy - 15) ** 2 + (xx - 5) ** 2 < 60
    scorer = MaskScorer(t_protocol="davis")
    for t, mask in enumerate(masks):
        scorer.update(mask, truth0 if t == 0 else mask)
    assert scorer.summary()["T"] == temporal_stability(np.stack(masks), first_target=truth0)
    with pytest.raises(ValueError, match="t_protocol"):
        MaskScorer(t_protocol="official")
