"""Turn a mail into the numbers the model reads: one text recipe for training and prediction alike.

The model sees the subject and the customer's new text (quotes, signatures and disclaimers stripped by
`worker.mail.text.new_text`, NFKC by `normalise`). Character n-grams work for Japanese, which has no
spaces, and for the mixed-width product names customers type; word n-grams add the Latin vocabulary
of English mail. The subject gets its own block with its own weight, because a one-line body often
leaves the question in the subject alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from worker.domain import Inquiry
from worker.mail.text import new_text, normalise


@dataclass(frozen=True)
class ModelText:
    """What the model reads of one mail, in the customer's own case (the vectorizers lower-case it)."""

    subject: str
    body: str


# A body with fewer characters than this (whitespace aside) cannot hold a question of its own.
SHORT_BODY_CHARS = 20


@dataclass(frozen=True)
class FeatureSettings:
    char_ngrams: tuple[int, int] = (1, 3)
    word_ngrams: tuple[int, int] = (1, 2)
    min_df: int = 2
    subject_weight: float = 0.4
    word_weight: float = 0.8


def model_text(subject: str, body: str) -> ModelText:
    """The one recipe: training builds it from JSONL subject+body, prediction from an Inquiry."""
    return _model_text(subject, new_text(body))


def inquiry_text(inquiry: Inquiry) -> ModelText:
    """The same recipe on a parsed mail: parse already computed `new_text(normalise(body))`."""
    return _model_text(inquiry.subject, inquiry.new_text)


def _model_text(subject: str, own_text: str) -> ModelText:
    subject = normalise(_strip_reply_prefix(subject))
    body = normalise(own_text)
    if len("".join(body.split())) < SHORT_BODY_CHARS:
        # "件名の通りです。", "Sent from my iPhone" or nothing: the question is the subject, so the body
        # features read it too, at full weight, as they would had the customer written it in the body.
        body = (subject + "\n" + body).strip()
    return ModelText(subject=subject, body=body)


def _strip_reply_prefix(subject: str) -> str:
    # "Re:"/"Fwd:"/"RE:" and the Japanese mailers' "返信:"/"転送:" say nothing about the question.
    text = subject.strip()
    lowered = text.lower()
    changed = True
    while changed:
        changed = False
        for prefix in ("re:", "re：", "fw:", "fwd:", "fw：", "返信:", "転送:", "aw:", "[ext]", "【外部】"):
            if lowered.startswith(prefix):
                text = text[len(prefix) :].strip()
                lowered = text.lower()
                changed = True
    return text


# float32 halves the bundle and the memory of a batch; the linear models do not need more precision.
_DTYPE = np.float32
# Latin words, plus runs of two or more kanji or katakana: Japanese has no spaces, but such a run is
# nearly always one content word (調査, 解析, 隔離, スクリプト), and pairs of neighbouring runs
# ("ログ 解析", "リモート アクセス") carry the request better than the character n-grams alone
# (cross-validated macro-F1 +0.006 over Latin words only, 2026-11-26). Hiragana is grammar and is skipped.
_WORD_TOKEN = r"(?u)\b[a-z][a-z0-9_.\-]*[a-z0-9]\b|[\u4e00-\u9fff]{2,}|[\u30a0-\u30ff]{2,}"


def new_vectorizers(settings: FeatureSettings) -> dict[str, TfidfVectorizer]:
    char = {"analyzer": "char", "ngram_range": settings.char_ngrams, "min_df": settings.min_df}
    return {
        "subject_char": TfidfVectorizer(**char, sublinear_tf=True, lowercase=True, dtype=_DTYPE),
        "body_char": TfidfVectorizer(**char, sublinear_tf=True, lowercase=True, dtype=_DTYPE),
        "body_word": TfidfVectorizer(
            analyzer="word",
            token_pattern=_WORD_TOKEN,
            ngram_range=settings.word_ngrams,
            min_df=settings.min_df,
            sublinear_tf=True,
            lowercase=True,
            dtype=_DTYPE,
        ),
    }


@dataclass(frozen=True)
class FeatureSpace:
    """Fitted vectorizers and the block weights, applied the same way at training and prediction."""

    vectorizers: dict[str, TfidfVectorizer]
    subject_weight: float
    word_weight: float

    def transform(self, texts: Sequence[ModelText]) -> sp.csr_matrix:
        """The scikit-learn transforms of the three blocks, side by side and weighted."""
        subjects = [t.subject for t in texts]
        bodies = [t.body for t in texts]
        blocks = [
            self.vectorizers["subject_char"].transform(subjects) * self.subject_weight,
            self.vectorizers["body_char"].transform(bodies),
            self.vectorizers["body_word"].transform(bodies) * self.word_weight,
        ]
        return sp.hstack(blocks, format="csr")

    @cached_property
    def _blocks(self) -> list[_Block]:
        blocks, offset = [], 0
        for name, source, weight in (
            ("subject_char", "subject", self.subject_weight),
            ("body_char", "body", 1.0),
            ("body_word", "body", self.word_weight),
        ):
            vectorizer = self.vectorizers[name]
            blocks.append(_Block(vectorizer.build_analyzer(), vectorizer.vocabulary_, vectorizer.idf_,
                                 bool(vectorizer.sublinear_tf), weight, offset, source))
            offset += len(vectorizer.vocabulary_)
        return blocks

    @cached_property
    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per output column: idf, block weight, and whether its block uses sublinear tf."""
        blocks = self._blocks
        idf = np.concatenate([block.idf for block in blocks])
        weight = np.concatenate([np.full(len(block.vocabulary), block.weight) for block in blocks])
        sublinear = np.concatenate([np.full(len(block.vocabulary), block.sublinear) for block in blocks])
        return idf, weight, sublinear

    def fast_transform(self, texts: Sequence[ModelText]) -> sp.csr_matrix:
        """Equal to `transform` (a test holds it to that), without scikit-learn's per-call input checks,
        which cost more than the arithmetic for the one mail at a time the worker classifies.

        Python only counts terms; the tf-idf arithmetic runs once over the whole batch, each
        (mail, block) pair L2-normalised as its own group, as TfidfVectorizer does per block."""
        blocks = self._blocks
        indices: list[int] = []  # index within the block's vocabulary, -1 for an unknown term
        counts: list[int] = []
        groups: list[int] = []  # one group per (mail, block): mail * len(blocks) + block
        group = 0
        for text in texts:
            for block in blocks:
                # Counter counts in C, and map() looks the distinct terms up in C: no Python loop per term.
                counted = Counter(block.analyzer(text.subject if block.source == "subject" else text.body))
                indices.extend(map(block.vocabulary.get, counted, repeat(-1)))
                counts.extend(counted.values())
                groups.extend(repeat(group, len(counted)))
                group += 1
        index_array = np.array(indices, dtype=np.int64)
        known = index_array >= 0
        group_array = np.array(groups, dtype=np.int64)[known]
        offsets = np.array([block.offset for block in blocks], dtype=np.int64)
        column_array = index_array[known] + offsets[group_array % len(blocks)]
        tf = np.array(counts, dtype=np.float64)[known]
        idf, weight, sublinear = self._columns
        values = np.where(sublinear[column_array], np.log(tf) + 1.0, tf) * idf[column_array]
        norms = np.sqrt(np.bincount(group_array, weights=values * values, minlength=group))
        values *= weight[column_array] / norms[group_array]
        rows = group_array // len(blocks)
        indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=len(texts)))))
        width = blocks[-1].offset + len(blocks[-1].vocabulary)
        matrix = sp.csr_matrix(
            (values.astype(_DTYPE), column_array.astype(np.int32), indptr.astype(np.int32)),
            shape=(len(texts), width),
        )
        matrix.sort_indices()
        return matrix

    def transform_sentences(self, sentences: Sequence[str]) -> sp.csr_matrix:
        """Sentences read as bodies without a subject: what one sentence alone says."""
        return self.fast_transform([ModelText(subject="", body=s) for s in sentences])


@dataclass(frozen=True)
class _Block:
    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: np.ndarray
    sublinear: bool
    weight: float
    offset: int
    source: str  # "subject" or "body"


def fit_features(texts: Sequence[ModelText], settings: FeatureSettings) -> FeatureSpace:
    vectorizers = new_vectorizers(settings)
    subjects = [t.subject for t in texts]
    bodies = [t.body for t in texts]
    fitted = {
        "subject_char": _fit_or_empty(vectorizers["subject_char"], subjects),
        "body_char": _fit_or_empty(vectorizers["body_char"], bodies),
        "body_word": _fit_or_empty(vectorizers["body_word"], bodies),
    }
    return FeatureSpace(fitted, settings.subject_weight, settings.word_weight)


def _fit_or_empty(vectorizer: TfidfVectorizer, texts: list[str]) -> TfidfVectorizer:
    """Fit, or, when a corpus has no term in this block (a set without any word),
    a one-term vectorizer on a character no mail contains, so the block is present and always zero."""
    try:
        return vectorizer.fit(texts)
    except ValueError:
        return TfidfVectorizer(analyzer="char", ngram_range=(1, 1), lowercase=False, dtype=_DTYPE).fit(["\x00"])
