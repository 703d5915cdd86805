"""Per-category thresholds: out-of-scope at a precision target, in-scope at best F1."""

from __future__ import annotations

import numpy as np

from worker.classify.thresholds import (
    NEVER,
    ThresholdSettings,
    best_f1_threshold,
    choose_thresholds,
    precision_safe_threshold,
)


def test_it_picks_the_lowest_threshold_that_keeps_precision() -> None:
    scores = np.array([0.99, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6])
    truth = np.array([1, 1, 1, 1, 0, 1, 0])

    # At 0.85 precision is 4/4; at 0.8 it would be 4/5, at 0.7 5/6: both below 0.9.
    assert precision_safe_threshold(scores, truth, precision=0.9, floor=0.5) == 0.85


def test_it_never_goes_below_the_floor() -> None:
    scores = np.array([0.9, 0.4, 0.3])
    truth = np.array([1, 1, 1])

    assert precision_safe_threshold(scores, truth, precision=0.98, floor=0.5) == 0.9


def test_it_gives_up_on_a_category_that_never_reaches_the_precision() -> None:
    scores = np.array([0.99, 0.9, 0.8])
    truth = np.array([0, 1, 0])

    assert precision_safe_threshold(scores, truth, precision=0.98, floor=0.5) == NEVER


def test_it_does_not_split_tied_scores() -> None:
    scores = np.array([0.9, 0.8, 0.8])
    truth = np.array([1, 1, 0])

    # 0.8 would predict both tied mails, one of them wrongly.
    assert precision_safe_threshold(scores, truth, precision=0.98, floor=0.5) == 0.9


def test_it_maximises_f1_for_in_scope_categories() -> None:
    scores = np.array([0.9, 0.6, 0.45, 0.3, 0.1])
    truth = np.array([1, 1, 1, 0, 0])

    assert best_f1_threshold(scores, truth, 0.2, 0.7) == 0.31


def test_it_applies_the_rule_that_fits_each_scope() -> None:
    scores = np.array([[0.9, 0.9], [0.6, 0.6], [0.4, 0.4]])
    truth = np.array([[1, 1], [1, 0], [0, 0]])

    thresholds = choose_thresholds(scores, truth, np.array([False, True]), ThresholdSettings())

    assert thresholds[0] <= 0.6
    assert thresholds[1] == 0.9
