"""Name the customer's sentence(s) behind a predicted label, so an out-of-scope reply can quote them.

The mail is cut into sentences (Japanese 。！？, English .!?, line breaks) and each sentence is scored
alone by the same model; the best-scoring ones carry the label. The subject competes too, because some
customers put the whole question there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

# Shorter fragments ("よろしくお願いします", "Hi,") cannot carry a request.
MIN_SENTENCE_CHARS = 6
MAX_EVIDENCE = 2
# A second sentence is named only when it is nearly as clearly about the label as the best one.
SECOND_SENTENCE_SHARE = 0.8

_BOUNDARY = re.compile(r"(?<=[。！？!?])|(?<=[.;])\s+(?=[A-Z0-9\"'(])|\n+")


def sentences(text: str) -> list[str]:
    """Sentences of a text in order, stripped, without fragments too short to carry a request."""
    parts = (part.strip() for part in _BOUNDARY.split(text))
    return [part for part in parts if len(part) >= MIN_SENTENCE_CHARS]


def evidence_for(
    candidates: Sequence[str],
    scores: np.ndarray,
    labels: Sequence[int],
    thresholds: np.ndarray,
) -> dict[int, tuple[str, ...]]:
    """For each label index, the candidate sentences that carry it.

    `scores` is (n_candidates, n_labels): each candidate scored alone. The best candidate is always
    named (a label was predicted for the mail, so some part of it says so); a second one only when
    it clears the label's threshold alone and scores nearly as high as the best.
    """
    found: dict[int, tuple[str, ...]] = {}
    if not candidates:
        return found
    for label in labels:
        column = scores[:, label]
        order = np.argsort(-column, kind="stable")
        chosen = [int(order[0])]
        for index in order[1:MAX_EVIDENCE]:
            if column[index] >= thresholds[label] and column[index] >= SECOND_SENTENCE_SHARE * column[order[0]]:
                chosen.append(int(index))
        # Quote in the customer's order, not by score.
        found[label] = tuple(candidates[i] for i in sorted(chosen))
    return found


def candidates(subject: str, body: str) -> list[str]:
    """The parts of a mail that may carry a label: the subject, then the body's sentences."""
    found = sentences(body)
    if len(subject.strip()) >= MIN_SENTENCE_CHARS:
        found = [subject.strip(), *found]
    # Each once: a repeated sentence, or a subject the body repeats (features.model_text puts it there when
    # the body says nothing of its own), would be scored and quoted twice.
    return list(dict.fromkeys(found))


def attribute(
    subject: str,
    body: str,
    labels: Sequence[int],
    thresholds: np.ndarray,
    score_sentences: Callable[[Sequence[str]], np.ndarray],
) -> dict[int, tuple[str, ...]]:
    """Evidence for `labels` of one mail; `score_sentences` scores each candidate alone, as a body."""
    if not labels:
        return {}
    found = candidates(subject, body)
    if not found:
        return {}
    return evidence_for(found, score_sentences(found), labels, thresholds)
