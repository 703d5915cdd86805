"""Group exact and near-duplicate mails, then split deterministically by group.

A mail and its augmented twin (another signature, a quoted thread, full-width letters) read the same
once the model text is built; if one landed in training and the other in evaluation, the evaluation
would measure memory, not generalisation. So duplicates form one group, every split keeps a group
together, and `check_no_leak` refuses any split where the two sides still share a (near) duplicate.
Assignment hashes the group's smallest id, so adding records does not reshuffle the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

# Two texts sharing at least this share of their character 5-gram shingles are near duplicates.
NEAR_DUPLICATE_JACCARD = 0.8
# Shingles in more than this share of the texts (greetings, product names) say nothing about identity.
_COMMON_SHINGLE_SHARE = 0.05


class LeakError(ValueError):
    """The training and evaluation sides share an exact or near duplicate."""


@dataclass(frozen=True)
class DuplicatePair:
    first: int
    second: int
    jaccard: float


def shingle_matrix(texts: Sequence[str]) -> sp.csr_matrix:
    hasher = HashingVectorizer(
        analyzer="char", ngram_range=(5, 5), n_features=2**20, binary=True, norm=None, alternate_sign=False
    )
    matrix = hasher.transform([" ".join(t.split()) for t in texts]).tocsc()
    df = np.diff(matrix.indptr)
    limit = max(2, int(_COMMON_SHINGLE_SHARE * len(texts)))
    keep = np.flatnonzero((df > 0) & (df <= limit))
    return matrix[:, keep].tocsr().astype(np.float32)


def near_duplicate_pairs(
    texts: Sequence[str], threshold: float = NEAR_DUPLICATE_JACCARD
) -> list[DuplicatePair]:
    """Pairs (i < j) of exact or near-duplicate texts, by Jaccard similarity of rare shingles."""
    pairs: list[DuplicatePair] = []
    exact: dict[str, int] = {}
    for index, text in enumerate(texts):
        key = " ".join(text.split())
        if key in exact:
            pairs.append(DuplicatePair(exact[key], index, 1.0))
        else:
            exact[key] = index
    matrix = shingle_matrix(texts)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    overlap = sp.triu(matrix @ matrix.T, k=1).tocoo()
    seen = {(p.first, p.second) for p in pairs}
    for i, j, shared in zip(overlap.row, overlap.col, overlap.data, strict=True):
        union = sizes[i] + sizes[j] - shared
        jaccard = float(shared / union) if union else 0.0
        if jaccard >= threshold and (int(i), int(j)) not in seen:
            pairs.append(DuplicatePair(int(i), int(j), jaccard))
    return sorted(pairs, key=lambda p: (p.first, p.second))


def duplicate_groups(ids: Sequence[str], texts: Sequence[str]) -> list[str]:
    """For each record, the key of its duplicate group: the smallest id among its (near) duplicates."""
    parent = list(range(len(ids)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for pair in near_duplicate_pairs(texts):
        a, b = root(pair.first), root(pair.second)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[int, list[str]] = {}
    for index, record_id in enumerate(ids):
        members.setdefault(root(index), []).append(record_id)
    smallest = {r: min(group) for r, group in members.items()}
    return [smallest[root(i)] for i in range(len(ids))]


def bucket(group: str, buckets: int, salt: str) -> int:
    """A stable bucket for a group key: the same key always lands in the same bucket."""
    digest = hashlib.sha256(f"{salt}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % buckets


def evaluation_mask(groups: Sequence[str], percent: int) -> np.ndarray:
    """True for records in the fixed evaluation split (about `percent`% of the groups)."""
    return np.array([bucket(g, 100, "evaluation") < percent for g in groups], dtype=bool)


def fold_numbers(groups: Sequence[str], folds: int) -> np.ndarray:
    """Cross-validation fold of each record; a group never straddles two folds."""
    return np.array([bucket(g, folds, "folds") for g in groups], dtype=int)


def check_no_leak(texts: Sequence[str], ids: Sequence[str], in_evaluation: np.ndarray) -> None:
    """Raise LeakError naming the first pair that straddles training and evaluation."""
    for pair in near_duplicate_pairs(texts):
        if in_evaluation[pair.first] != in_evaluation[pair.second]:
            kind = "exact" if pair.jaccard >= 1.0 else f"near (Jaccard {pair.jaccard:.2f})"
            raise LeakError(
                f"{kind} duplicate across the train/evaluation split: {ids[pair.first]} and {ids[pair.second]}"
            )
