"""Duplicate grouping and the deterministic, grouped train/evaluation split."""

from __future__ import annotations

import numpy as np
import pytest

from worker.classify.split import (
    LeakError,
    check_no_leak,
    duplicate_groups,
    evaluation_mask,
    fold_numbers,
    near_duplicate_pairs,
)

MAIL = (
    "Workbenchで検出されたファイル invoice_2026.xlsm について、なぜ検出されたのか理由を教えてください。"
    "過検知の可能性があれば除外設定の方法もお願いします。"
)
OTHERS = [
    "APIでアラートを取得すると500エラーが返ります。スクリプトには問題がないと考えています。",
    "Please write a Python script that exports all Workbench alerts to CSV every night.",
    "Endpoint Sensor cannot connect since yesterday; the agent shows Disconnected on 40 hosts.",
    "MITRE ATT&CKのT1059について一般的な解説をお願いできますか。",
    "ZTSAのSecure Access Rulesで特定のクラウドアプリをブロックする設定手順を教えてください。",
]


def test_it_pairs_a_mail_with_its_augmented_twin() -> None:
    twin = MAIL + "よろしくお願いします。"
    texts = [MAIL, *OTHERS, twin]

    pairs = near_duplicate_pairs(texts)

    assert [(p.first, p.second) for p in pairs] == [(0, len(texts) - 1)]
    assert 0.8 <= pairs[0].jaccard < 1.0


def test_it_pairs_exact_duplicates_with_jaccard_one() -> None:
    pairs = near_duplicate_pairs([MAIL, *OTHERS, "  " + MAIL])

    assert [(p.first, p.second, p.jaccard) for p in pairs] == [(0, 6, 1.0)]


def test_it_keeps_different_mails_apart() -> None:
    assert near_duplicate_pairs([MAIL, *OTHERS]) == []


def test_it_names_each_group_by_its_smallest_id() -> None:
    groups = duplicate_groups(["m-9", "o-1", "m-2"], [MAIL, OTHERS[0], MAIL + "!"])

    assert groups == ["m-2", "o-1", "m-2"]


def test_it_splits_by_group_the_same_way_every_time() -> None:
    groups = [f"g-{i // 2}" for i in range(400)]

    mask = evaluation_mask(groups, 15)
    folds = fold_numbers(groups, 5)

    assert np.array_equal(mask, evaluation_mask(groups, 15))
    assert all(mask[i] == mask[i + 1] and folds[i] == folds[i + 1] for i in range(0, 400, 2))
    assert 0.08 < mask.mean() < 0.22
    assert set(folds) == {0, 1, 2, 3, 4}


def test_it_refuses_a_split_with_a_duplicate_on_both_sides() -> None:
    texts = [MAIL, *OTHERS, MAIL + "よろしくお願いします。"]
    in_evaluation = np.array([True] + [False] * (len(texts) - 1))

    with pytest.raises(LeakError, match="near .*duplicate across the train/evaluation split: a and g"):
        check_no_leak(texts, ["a", "b", "c", "d", "e", "f", "g"], in_evaluation)
