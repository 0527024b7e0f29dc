"""Knowledge-base retrieval and staleness: pure.

Suggestions rank published articles by TF-IDF cosine similarity (scikit-learn) to the
ticket's or chat's words: word unigrams and bigrams after stemming and folding common
synonyms onto one term (log in, login and sign in; forgot and reset; wifi and wireless),
blended with character n-grams, which catch spelling variants the word model misses.
An article's title counts twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from tierline_intake.interactions.domain import STOP_WORDS, stem

TOP_K = 3
MIN_SCORE = 0.05
STALE_AFTER = timedelta(days=90)
WORD_WEIGHT = 0.75

# Phrases folded onto one term before tokenizing, so a paraphrase meets the article.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "signin": ("log in", "logging in", "login", "logon", "log on", "sign in", "signing in",
               "signin", "sign on", "authenticate"),
    "password": ("password", "passwords", "passcode", "passphrase", "credentials", "pwd"),
    "reset": ("reset", "forgot", "forgotten", "forget", "recover", "change my"),
    "lockout": ("locked out", "lockout", "locked", "lock out"),
    "mfa": ("mfa", "2fa", "two factor", "two-factor", "authenticator", "one-time code",
            "otp", "verification code"),
    "vpn": ("vpn", "remote access", "tunnel", "globalprotect", "anyconnect"),
    "disconnect": ("disconnect", "disconnects", "disconnecting", "drops", "dropping",
                   "dropped", "cuts out", "keeps dropping", "connection lost"),
    "wifi": ("wifi", "wi-fi", "wireless", "wlan"),
    "email": ("email", "e-mail", "mail", "outlook", "inbox", "mailbox"),
    "printer": ("printer", "printing", "print"),
    "slow": ("slow", "sluggish", "laggy", "lag", "takes forever", "very long"),
    "laptop": ("laptop", "notebook", "computer", "pc"),
    "install": ("install", "installation", "set up", "setup"),
    "invoice": ("invoice", "bill", "billing", "receipt"),
}
_PHRASES = sorted(((p, term) for term, ps in SYNONYMS.items() for p in ps),
                  key=lambda item: -len(item[0]))
_PATTERN = re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in _PHRASES) + r")\b")
_LOOKUP = dict(_PHRASES)


def normalize(text: str) -> str:
    """Lower case, synonyms folded, stop words dropped, words stemmed."""
    text = _PATTERN.sub(lambda m: f" {_LOOKUP[m.group(1)]} ", text.lower())
    words = re.findall(r"[a-z0-9]+", text.replace("'", ""))
    return " ".join(stem(w) for w in words if w not in STOP_WORDS and len(w) > 1)


@dataclass(frozen=True)
class Article:
    id: UUID
    title: str
    body: str
    category: str | None = None


@dataclass(frozen=True)
class Suggestion:
    article_id: UUID
    title: str
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"article_id": str(self.article_id), "title": self.title, "score": self.score}


class KbIndex:
    """The published articles, vectorized once; ask it for the best matches."""

    def __init__(self, articles: list[Article]) -> None:
        self.articles = articles
        self._words: TfidfVectorizer | None = None
        self._chars: TfidfVectorizer | None = None
        self._word_matrix: Any = None
        self._char_matrix: Any = None
        if not articles:
            return
        docs = [f"{a.title}. {a.title}. {a.body}" for a in articles]
        self._words, self._word_matrix = _fitted(
            TfidfVectorizer(preprocessor=normalize, ngram_range=(1, 2), sublinear_tf=True),
            docs)
        self._chars, self._char_matrix = _fitted(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                            lowercase=True), docs)

    def scores(self, text: str) -> np.ndarray:
        if not self.articles:
            return np.zeros(0)
        total = np.zeros(len(self.articles))
        for vectorizer, matrix, weight in ((self._words, self._word_matrix, WORD_WEIGHT),
                                           (self._chars, self._char_matrix, 1 - WORD_WEIGHT)):
            if vectorizer is not None:
                total += weight * (matrix @ vectorizer.transform([text]).T).toarray().ravel()
        return total

    def search(self, text: str, k: int = TOP_K, min_score: float = MIN_SCORE) -> list[Suggestion]:
        scores = self.scores(text)
        order = np.argsort(-scores, kind="stable")[:k]
        return [Suggestion(self.articles[i].id, self.articles[i].title,
                           round(float(scores[i]), 4))
                for i in order if scores[i] >= min_score]


def _fitted(vectorizer: TfidfVectorizer, docs: list[str]) -> tuple[Any, Any]:
    """The fitted vectorizer and its matrix, or (None, None) when no article has a term it
    keeps (articles of a single character, say "0": nothing to match on that way)."""
    try:
        return vectorizer, vectorizer.fit_transform(docs)
    except ValueError:  # scikit-learn: "empty vocabulary"
        return None, None


def is_stale(last_reviewed: datetime, now: datetime, after: timedelta = STALE_AFTER) -> bool:
    return now - last_reviewed > after
