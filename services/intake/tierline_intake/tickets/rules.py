"""Keyword and pattern matching shared by the categorizer and the priority rules."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


@lru_cache(maxsize=4096)
def _phrase(phrase: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])")


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def phrase_hits(phrases: list[str], text: str) -> list[str]:
    """The phrases that occur in ``text`` as whole words, case-insensitively."""
    lowered = text.lower()
    return [p for p in phrases if _phrase(p).search(lowered)]


_RUN = re.compile(r"[\w-]+")


class PhraseIndex:
    """The phrases of ``phrase_hits`` found by lookup: one pass over the text's runs of word
    characters and hyphens instead of one regex per phrase.

    A phrase that starts and ends with a word character or hyphen matches, under the
    regex's look-arounds, exactly a stretch of whole runs whose text equals it (its own runs
    and what lies between them must match character for character), so a phrase of one run
    is a set lookup and a longer one is checked where its first run occurs. Any other
    phrase (empty, or edged with punctuation) keeps its regex."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self._single: set[str] = set()
        self._multi: dict[str, list[tuple[int, str]]] = {}
        self._other: list[str] = []
        for phrase in {p.lower() for p in phrases}:
            runs = _RUN.findall(phrase)
            if not runs or not phrase.startswith(runs[0]) or not phrase.endswith(runs[-1]):
                self._other.append(phrase)
            elif len(runs) == 1:
                self._single.add(phrase)
            else:
                self._multi.setdefault(runs[0], []).append((len(runs), phrase))

    def found(self, text: str) -> frozenset[str]:
        """The lower-cased phrases that occur in ``text`` as ``phrase_hits`` finds them."""
        lowered = text.lower()
        runs = _RUN.findall(lowered)
        found = self._single.intersection(runs)
        if self._multi and not self._multi.keys().isdisjoint(runs):
            spans = [m.span() for m in _RUN.finditer(lowered)]
            for i, run in enumerate(runs):
                for count, phrase in self._multi.get(run, ()):
                    last = i + count - 1
                    if last < len(spans) and lowered[spans[i][0]:spans[last][1]] == phrase:
                        found.add(phrase)
        found.update(p for p in self._other if _phrase(p).search(lowered))
        return frozenset(found)


def pattern_hits(patterns: list[str], text: str) -> list[str]:
    return [p for p in patterns if _pattern(p).search(text)]


def exclusive_hits(groups: dict[str, list[str]], text: str) -> dict[str, list[str]]:
    """Phrase hits per group, longest phrases first, each stretch of text used once: so
    "not urgent" counts as calm and its "urgent" does not count again as urgent."""
    remaining = text.lower()
    hits: dict[str, list[str]] = {group: [] for group in groups}
    ordered = sorted(((p, g) for g, phrases in groups.items() for p in phrases),
                     key=lambda item: -len(item[0]))
    for phrase, group in ordered:
        if phrase.lower() not in remaining:  # the pattern is this text, bounded: no match
            continue
        pattern = _phrase(phrase)
        if pattern.search(remaining):
            hits[group].append(phrase)
            remaining = pattern.sub(lambda m: " " * len(m.group(0)), remaining)
    return hits
