"""The figures `make train` reports and gates on: wrong out-of-scope replies, abstentions, per-category F1."""

from __future__ import annotations

import numpy as np

from worker.classify.evaluate import business_id_metrics, flag_metrics, label_metrics
from worker.classify.gate import GateSettings, judge

LABELS = ("product", "api", "api_scripting")
OUT = ("api_scripting",)
THRESHOLDS = np.array([0.5, 0.5, 0.8])


def test_it_counts_a_wrong_out_of_scope_reply_only_when_one_would_be_sent() -> None:
    truth = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0], [0, 1, 0]])
    scores = np.array(
        [
            [0.1, 0.9, 0.85],  # api, but told "scripting is out of scope": wrong
            [0.1, 0.9, 0.9],  # both right
            [0.3, 0.1, 0.7],  # nothing above threshold: abstains, no reply at all
            [0.1, 0.7, 0.1],  # right
        ]
    )

    metrics = label_metrics(truth, scores, THRESHOLDS, LABELS, OUT)

    assert metrics["wrong_oos_count"] == 1
    assert metrics["wrong_oos_rate"] == 0.25
    assert metrics["abstain_rate"] == 0.25
    assert metrics["per_label"]["api_scripting"]["precision"] == 0.5
    assert metrics["per_label"]["product"]["recall"] == 0.0
    assert metrics["exact_match"] == 0.5
    assert metrics["confusion"]["api"]["api_scripting"] == 1
    assert metrics["confusion"]["product"]["(none)"] == 1


def test_it_scores_the_best_guess_of_an_abstained_mail_separately() -> None:
    truth = np.array([[1, 0, 0], [0, 1, 0]])
    scores = np.array([[0.4, 0.1, 0.1], [0.1, 0.9, 0.1]])

    metrics = label_metrics(truth, scores, THRESHOLDS, LABELS, OUT)

    assert metrics["per_label"]["product"]["f1"] == 0.0
    assert metrics["best_guess_macro_f1"] > metrics["macro_f1"]


def test_it_measures_flags_and_business_ids() -> None:
    flags = flag_metrics([("preview",), (), ()], [("preview",), ("preview",), ()], ("preview",))
    ids = business_id_metrics(["123456-ab", None, "999999"], ["123456-ab", "777777", None])

    assert flags["preview"]["precision"] == 0.5
    assert flags["preview"]["recall"] == 1.0
    assert ids == {"with_id": 2, "extracted_exactly": 0.5, "false_extractions": 1, "without_id": 1}


def test_it_refuses_a_model_with_more_wrong_out_of_scope_replies() -> None:
    current = {"macro_f1": 0.90, "wrong_oos_rate": 0.004}
    new = {"macro_f1": 0.93, "wrong_oos_rate": 0.008}

    verdict = judge(new, current, GateSettings())

    assert not verdict.promote
    assert "wrong out-of-scope rate rises" in verdict.reasons[0]


def test_it_refuses_a_model_whose_macro_f1_drops_beyond_the_tolerance() -> None:
    current = {"macro_f1": 0.90, "wrong_oos_rate": 0.004}

    assert judge({"macro_f1": 0.897, "wrong_oos_rate": 0.004}, current, GateSettings()).promote
    assert not judge({"macro_f1": 0.89, "wrong_oos_rate": 0.004}, current, GateSettings()).promote


def test_it_promotes_the_first_model() -> None:
    assert judge({"macro_f1": 0.5, "wrong_oos_rate": 0.5}, None, GateSettings()).promote
