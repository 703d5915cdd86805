"""Evidence: which of the customer's sentences carry a predicted label."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from worker.classify.attribution import attribute, candidates, sentences
from worker.classify.features import model_text


def test_it_cuts_japanese_and_english_sentences_and_drops_fragments() -> None:
    text = "お世話になっております。\nAPIが500を返します。スクリプトを書いてください！\nThanks. Please check it. Hi"

    assert sentences(text) == [
        "お世話になっております。",
        "APIが500を返します。",
        "スクリプトを書いてください！",
        "Thanks.",
        "Please check it.",
    ]


def keyword_scorer(keywords: Sequence[str]) -> Callable[[Sequence[str]], np.ndarray]:
    """Scores a sentence 0.9 for label k when it contains keywords[k], else 0.05 (a stand-in for the model)."""

    def score(candidates: Sequence[str]) -> np.ndarray:
        return np.array([[0.9 if word in c else 0.05 for word in keywords] for c in candidates])

    return score


def test_it_names_the_sentence_that_carries_each_label() -> None:
    body = "いつもお世話になっております。\nAPIで500エラーが返ります。\nまた、アラートをCSVに出すスクリプトを作成してください。"
    score = keyword_scorer(["500", "スクリプト"])

    evidence = attribute("APIについて", body, [1], np.array([0.5, 0.5]), score)

    assert evidence == {1: ("また、アラートをCSVに出すスクリプトを作成してください。",)}


def test_it_names_two_sentences_in_the_customers_order_when_both_carry_the_label() -> None:
    body = "First, write a script for the export please.\nThe API is fine.\nAlso a script to isolate hosts."
    score = keyword_scorer(["script"])

    evidence = attribute("", body, [0], np.array([0.5]), score)

    assert evidence == {0: ("First, write a script for the export please.", "Also a script to isolate hosts.")}


def test_it_uses_the_subject_when_the_question_is_only_there() -> None:
    score = keyword_scorer(["MITRE"])

    evidence = attribute("MITRE ATT&CKの解説希望", "よろしくお願いします。", [0], np.array([0.5]), score)

    assert evidence == {0: ("MITRE ATT&CKの解説希望",)}


def test_it_offers_each_sentence_once_when_the_body_repeats_the_subject() -> None:
    subject = "ログを全部見て侵害されていないか確認してください"
    text = model_text(subject, "件名の通りです。")

    assert candidates(text.subject, text.body) == [subject, "件名の通りです。"]
    assert candidates("", "スクリプトを書いてください。\nスクリプトを書いてください。") == ["スクリプトを書いてください。"]
