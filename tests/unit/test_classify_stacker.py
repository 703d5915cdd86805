"""The stacker: level one's whole-mail and strongest-sentence readings in, final probabilities out."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from worker.classify.scorer import EstimatorSettings, fit_stacker

SETTINGS = EstimatorSettings()


def readings_where_the_sentence_knows_better(count: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Two categories. For category 0 the whole mail is a weak reading (the request is diluted by
    pleasantries) and the strongest sentence a clear one; category 1 is noise throughout."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((count, 2), dtype=int)
    truth[: count // 2, 0] = 1
    truth[::3, 1] = 1
    whole = np.column_stack([truth[:, 0] * 1.0 - 1.5 + rng.normal(0, 1.5, count), rng.normal(-2, 1, count)])
    sentence = np.column_stack([truth[:, 0] * 6.0 - 3.0 + rng.normal(0, 1, count), rng.normal(-2, 1, count)])
    return np.hstack([whole, sentence]), truth


def test_it_learns_to_trust_the_sentence_that_carries_a_diluted_request() -> None:
    readings, truth = readings_where_the_sentence_knows_better(400)

    stacker = fit_stacker(readings, truth, SETTINGS)
    new_readings, new_truth = readings_where_the_sentence_knows_better(400, seed=8)
    stacked = stacker.probabilities(new_readings)[:, 0] >= 0.5
    whole_only = expit(new_readings[:, 0]) >= 0.5

    assert stacker.weights[2, 0] > 0.5  # category 0's strongest sentence
    assert np.mean(stacked == new_truth[:, 0]) > 0.95
    assert np.mean(whole_only == new_truth[:, 0]) < 0.8


def test_it_keeps_level_ones_probability_for_a_category_with_too_few_examples() -> None:
    readings, truth = readings_where_the_sentence_knows_better(400)
    truth[:, 0] = 0
    truth[: SETTINGS.stack_min_examples - 1, 0] = 1

    stacker = fit_stacker(readings, truth, SETTINGS)

    assert np.allclose(stacker.probabilities(readings)[:, 0], expit(readings[:, 0]))


def test_it_fits_the_same_stacker_from_the_same_readings() -> None:
    readings, truth = readings_where_the_sentence_knows_better(300)

    first, second = fit_stacker(readings, truth, SETTINGS), fit_stacker(readings, truth, SETTINGS)

    assert np.array_equal(first.weights, second.weights)
    assert np.array_equal(first.intercepts, second.intercepts)
