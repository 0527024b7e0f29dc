"""The categorizer's three classifiers scored in one pass: the fitted scikit-learn pipeline
(word and character TF-IDF, three logistic regressions) compiled into lookup tables and one
weight matrix, so a prediction is two n-gram counts and one small matrix product, without
scikit-learn's per-call validation and sparse-matrix building.

It gives scikit-learn's probabilities (tested within 1e-9 on the whole corpus); the fitted
estimators stay the definition, this is how they are evaluated."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

WORD_TOKEN = r"(?u)\b\w\w+\b"
# Distinct words whose character n-grams are kept (a few MB at most).
WORD_CACHE = 20_000


def _word_grams(token: re.Pattern[str]) -> Callable[[str], list[str]]:
    def grams(doc: str) -> list[str]:
        tokens = token.findall(doc)
        return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    return grams


def _char_wb_grams(doc: str) -> list[str]:
    """scikit-learn's ``char_wb`` n-grams of 3 to 5 characters, space-padded words."""
    grams: list[str] = []
    for word in doc.split():
        padded = f" {word} "
        size = len(padded)
        for n in (3, 4, 5):
            if size <= n:  # a short word counts once, whole
                grams.append(padded)
                break
            grams.extend([padded[i:i + n] for i in range(size - n + 1)])
    return grams


def _analyzer(vectorizer: TfidfVectorizer) -> Callable[[str], list[str]]:
    """The n-gram function for the vectorizers the categorizer builds; any other
    configuration is refused rather than scored differently."""
    common = (vectorizer.sublinear_tf and vectorizer.use_idf and vectorizer.norm == "l2"
              and vectorizer.lowercase and vectorizer.stop_words is None
              and vectorizer.preprocessor is None and vectorizer.tokenizer is None
              and not vectorizer.binary and vectorizer.input == "content")
    if common and vectorizer.analyzer == "word" and vectorizer.ngram_range == (1, 2):
        return _word_grams(re.compile(vectorizer.token_pattern))
    if common and vectorizer.analyzer == "char_wb" and vectorizer.ngram_range == (3, 5):
        return _char_wb_grams
    raise ValueError(f"no fast scorer for {vectorizer!r}")


def _expit(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class _Block:
    """One vectorizer's share: its vocabulary, idf and the weight rows of its features.

    Character n-grams never cross a word (``char_wb``), so a document's counts are the sum
    of its words': each word's known features are found once and kept (a bounded cache;
    tickets reuse a small working vocabulary), and a document is an array concatenation
    and one count instead of hundreds of slices and look-ups per ticket."""

    def __init__(self, vectorizer: TfidfVectorizer, weights: np.ndarray) -> None:
        self.grams = _analyzer(vectorizer)
        self.vocabulary: dict[str, int] = dict(vectorizer.vocabulary_)
        self.idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self.weights = np.ascontiguousarray(weights)
        self._by_word = self.grams is _char_wb_grams
        self._word_features = lru_cache(maxsize=WORD_CACHE)(self._known_in_word)

    def _known_in_word(self, word: str) -> np.ndarray:
        """The vocabulary indices of ``word``'s n-grams, once per occurrence."""
        found = [i for i in map(self.vocabulary.get, _char_wb_grams(word)) if i is not None]
        return np.array(found, dtype=np.intp)

    def _counts(self, doc: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The known features of ``doc`` and how often each occurs."""
        if self._by_word:
            words = doc.split()
            if not words:
                return None
            found = np.concatenate([self._word_features(word) for word in words])
            if not len(found):
                return None
            index, counts = np.unique(found, return_counts=True)
            return index, counts.astype(np.float64)
        grams = Counter(self.grams(doc))
        known = grams.keys() & self.vocabulary.keys()
        if not known:
            return None
        index = np.fromiter(map(self.vocabulary.__getitem__, known), dtype=np.intp,
                            count=len(known))
        tf = np.fromiter(map(grams.__getitem__, known), dtype=np.float64, count=len(known))
        return index, tf

    def logits(self, doc: str) -> np.ndarray | None:
        counted = self._counts(doc)
        if counted is None:
            return None
        index, tf = counted
        np.log(tf, out=tf)
        tf += 1.0
        values = tf * self.idf[index]
        norm = math.sqrt(float(values @ values))
        if norm == 0.0:
            return None
        return (values / norm) @ self.weights[index]


class LinearScorer:
    """The probabilities of several logistic regressions fitted on one feature union."""

    def __init__(self, features: FeatureUnion,
                 classifiers: Sequence[LogisticRegression]) -> None:
        vectorizers = [v for _, v in features.transformer_list]
        if len({(v.lowercase, v.strip_accents) for v in vectorizers}) != 1:
            raise ValueError("the vectorizers must lower-case and strip accents alike")
        self._preprocess = vectorizers[0].build_preprocessor()
        # each classifier's columns in one matrix: a binary one has a single decision column
        weights = np.vstack([c.coef_ for c in classifiers]).T.astype(np.float64)
        self._intercept = np.concatenate([c.intercept_ for c in classifiers]).astype(
            np.float64)
        self._slices: list[tuple[int, int]] = []
        start = 0
        for classifier in classifiers:
            self._slices.append((start, start + classifier.coef_.shape[0]))
            start += classifier.coef_.shape[0]
        self._blocks: list[_Block] = []
        offset = 0
        for _, vectorizer in features.transformer_list:
            width = len(vectorizer.vocabulary_)
            self._blocks.append(_Block(vectorizer, weights[offset:offset + width]))
            offset += width
        if offset != weights.shape[0]:
            raise ValueError(f"features give {offset} columns, the classifiers weigh "
                             f"{weights.shape[0]}")

    def probabilities(self, text: str) -> list[np.ndarray]:
        doc = self._preprocess(text)
        logits = self._intercept.copy()
        for block in self._blocks:
            part = block.logits(doc)
            if part is not None:
                logits += part
        out = []
        for start, end in self._slices:
            if end - start == 1:  # binary: scikit-learn's expit, [1 - p, p]
                p = _expit(float(logits[start]))
                out.append(np.array([1.0 - p, p]))
            else:
                z = logits[start:end] - logits[start:end].max()
                e = np.exp(z)
                out.append(e / e.sum())
        return out
